// zlib, for the gzip-compressed layers `swiftlet package` writes (Debian: zlib1g-dev).
#include <zlib.h>
