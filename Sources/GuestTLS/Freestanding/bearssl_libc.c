/* bearssl_libc.c — what Debian's libbearssl.a asks of a C library beyond string.c, for guests
 * that link it (images whose application imports SwiftletTLS). The archive is built with
 * -fstack-protector-strong and _FORTIFY_SOURCE: its canary sits at %fs:0x28 (hvt points FS at
 * boot_info.stack_guard; spt guests share the tender's thread and its canary), and its
 * memcpy/memset/memmove calls come checked. Its /dev/urandom seeder is replaced by one that
 * draws from the guest's ChaCha20 generator, which the tender seeds on every boot. */
#include <stddef.h>
#include <stdint.h>
#include "bearssl.h"

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void swiftlet_random_fill(void *buffer, size_t count);
_Noreturn void swiftlet_tls_fatal(const char *message);

_Noreturn void __stack_chk_fail(void) { swiftlet_tls_fatal("stack smashing detected in BearSSL"); }

_Noreturn static void overflow(void) { swiftlet_tls_fatal("buffer overflow detected in BearSSL (a _chk function)"); }

void *__memcpy_chk(void *restrict dst, const void *restrict src, size_t n, size_t room) {
    if (n > room) overflow();
    return memcpy(dst, src, n);
}

void *__memmove_chk(void *dst, const void *src, size_t n, size_t room) {
    if (n > room) overflow();
    return memmove(dst, src, n);
}

void *__memset_chk(void *dst, int c, size_t n, size_t room) {
    if (n > room) overflow();
    return memset(dst, c, n);
}

static int seed_from_guest(const br_prng_class **context) {
    unsigned char seed[32];
    swiftlet_random_fill(seed, sizeof seed);
    (*context)->update(context, seed, sizeof seed);
    memset(seed, 0, sizeof seed);
    return 1;
}

/* Defined here, so the archive's sysrng.o (open/read/close of /dev/urandom) is never linked. */
br_prng_seeder br_prng_seeder_system(const char **name) {
    if (name) *name = "swiftlet-chacha20";
    return seed_from_guest;
}
