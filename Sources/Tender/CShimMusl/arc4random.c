/* arc4random_buf, which Embedded Swift's runtime calls (hashing seeds, random numbers): glibc
 * has it, musl 1.2.3 does not. The kernel's generator, as glibc's does it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <sys/random.h>

void arc4random_buf(void *buffer, size_t count) {
    unsigned char *bytes = buffer;
    while (count > 0) {
        ssize_t got = getrandom(bytes, count, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            __builtin_trap();   /* no randomness: nothing safe to return */
        }
        bytes += got;
        count -= (size_t)got;
    }
}
