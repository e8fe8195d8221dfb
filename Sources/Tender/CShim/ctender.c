#include "ctender.h"
