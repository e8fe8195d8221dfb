/* string.c — the memory and string functions Embedded Swift code calls, for the freestanding
 * guest. Built with -fno-builtin so the compiler cannot turn these loops back into calls
 * to themselves. */
#include <stddef.h>
#include <stdint.h>

/* Unaligned loads and stores the compiler may not assume anything about. */
typedef uint64_t __attribute__((__may_alias__, __aligned__(1))) unaligned64;
typedef uint32_t __attribute__((__may_alias__, __aligned__(1))) unaligned32;

/* Up to 32 bytes with a few overlapping loads, all done before any store, so it is also a
 * correct memmove. Most copies Swift makes are this small (header lines, array growth, small
 * structs), and `rep movsb` spends tens of cycles starting up before it moves a byte. */
static inline __attribute__((always_inline)) void copy_small(unsigned char *d, const unsigned char *s, size_t n) {
    if (n >= 16) {
        uint64_t a = *(const unaligned64 *)s, b = *(const unaligned64 *)(s + 8);
        uint64_t c = *(const unaligned64 *)(s + n - 16), e = *(const unaligned64 *)(s + n - 8);
        *(unaligned64 *)d = a;
        *(unaligned64 *)(d + 8) = b;
        *(unaligned64 *)(d + n - 16) = c;
        *(unaligned64 *)(d + n - 8) = e;
    } else if (n >= 8) {
        uint64_t a = *(const unaligned64 *)s, b = *(const unaligned64 *)(s + n - 8);
        *(unaligned64 *)d = a;
        *(unaligned64 *)(d + n - 8) = b;
    } else if (n >= 4) {
        uint32_t a = *(const unaligned32 *)s, b = *(const unaligned32 *)(s + n - 4);
        *(unaligned32 *)d = a;
        *(unaligned32 *)(d + n - 4) = b;
    } else if (n > 0) {
        unsigned char a = s[0], b = s[n / 2], c = s[n - 1];
        d[0] = a;
        d[n / 2] = b;
        d[n - 1] = c;
    }
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    if (n <= 32) {
        copy_small(dst, src, n);
        return dst;
    }
    void *ret = dst;
    __asm__ __volatile__("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
    return ret;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n <= 32) {
        copy_small(d, s, n);
        return dst;
    }
    if (d == s) return dst;
    if (d < s || d >= s + n) return memcpy(dst, src, n);
    /* Overlapping, destination above the source: from the end down, eight bytes at a time;
     * the stores land above every byte still to be read. */
    while (n >= 8) {
        n -= 8;
        *(unaligned64 *)(d + n) = *(const unaligned64 *)(s + n);
    }
    copy_small(d, s, n);
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    void *ret = dst;
    __asm__ __volatile__("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
    return ret;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

