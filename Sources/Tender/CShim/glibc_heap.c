/* glibc_heap.c — the heap calls for glibc (TenderCore, the host-side library the CLI and the
 * tests use). The tenders link musl and their own allocator (CShimMusl/tender_heap.c). */
#include "ctender.h"
#include <errno.h>
#include <limits.h>
#include <malloc.h>

int ctender_heap_configure(void) {
    /* One arena: a second thread (hvt's I/O thread) would otherwise mmap an arena of its own. */
    return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1
        && mallopt(M_ARENA_MAX, 1) == 1 ? 0 : -1;
}

int ctender_reserve_heap(unsigned long bytes) {
    if (ctender_heap_configure() != 0) return -1;
    /* Boot's temporaries (the image's tables while the symbol table was built) were freed but
     * their pages stay resident in a heap that never trims: hand them back once, now. */
    malloc_trim(0);
    void *block = malloc(bytes);
    if (!block) return -1;
    /* An unused malloc/free pair is removed by the optimizer (release builds then reserved
     * nothing, and a busy tender died at its first brk under the filter): the block escapes. */
    __asm__ volatile("" : : "r"(block) : "memory");
    /* touch nothing: the pages cost nothing until used; free keeps them as the heap's top */
    free(block);
    /* The heap must now hold the block: if a build ever drops the pair again, the tender stops
     * here with a message instead of dying at a brk under the filter, and every test sees it. */
    if (mallinfo2().arena < bytes) { errno = ENOMEM; return -1; }
    return 0;
}
