/* ctender.h — the few kernel interfaces Swift cannot import directly (ioctl macros, inline asm). */
#ifndef CTENDER_H
#define CTENDER_H
#include <stdint.h>
#endif
