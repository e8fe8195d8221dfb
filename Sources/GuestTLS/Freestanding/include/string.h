/* The <string.h> BearSSL's headers include, for the freestanding guest (no C library headers
 * there): the functions Freestanding/string.c defines. Host builds use the system's. */
#ifndef SWIFTLET_FREESTANDING_STRING_H
#define SWIFTLET_FREESTANDING_STRING_H
#include <stddef.h>
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
#endif
