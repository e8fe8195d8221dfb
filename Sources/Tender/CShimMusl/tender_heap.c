/* tender_heap.c — the tenders' malloc (they link musl statically; this replaces musl's).
 *
 * musl's malloc maps, unmaps and advises pages away as blocks come and go, and it cannot be
 * told not to, but the seccomp filter denies mmap, munmap, madvise and brk: a tender that
 * freed a large block under the filter would die of SIGSYS. This allocator asks the kernel for
 * memory only before confinement. ctender_reserve_heap maps the reserve every later
 * allocation comes from; after it, nothing is mapped or unmapped again, and an allocation the
 * reserve cannot serve fails (NULL, ENOMEM) instead of growing the process.
 *
 * Blocks are powers of two from 32 bytes up, each with a 16-byte header; freed blocks wait on
 * one list per size and are reused as they are (no splitting, no merging). The tender's own
 * allocations are few and repeat (frame descriptors, poll sets), so the lists settle after the
 * first exits. One mutex serves hvt's two threads (the vCPU and the rings' I/O thread); the
 * filter allows the futex calls that a contended musl mutex makes. */
#define _GNU_SOURCE
#include "ctender.h"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

enum {
    HEADER = 16,          /* also the alignment of every block malloc returns */
    SMALLEST_SHIFT = 5,   /* 32-byte blocks: a header and 16 bytes */
    CLASSES = 40,         /* up to 16 TiB: more than any mapping could give */
    CHUNK = 1 << 20,      /* what one mmap before confinement provides for smaller blocks */
};

/* In front of every block handed out: its size class, and how far the caller's pointer lies
 * from the block's start (16, or more for an alignment above 16). */
struct header {
    uint32_t size_class;
    uint32_t offset;
    uint64_t unused;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *free_blocks[CLASSES];   /* per class: a list linked through each block's first word */
static char *next_free, *end;        /* the part of the current chunk (or the reserve) not yet handed out */
static int confined;                 /* the reserve is in place: no more mmap or munmap */

static size_t block_size(unsigned size_class) { return (size_t)1 << (size_class + SMALLEST_SHIFT); }

/* The smallest class whose blocks hold `bytes`, or CLASSES if none does. */
static unsigned class_for(size_t bytes) {
    unsigned size_class = 0;
    while (size_class < CLASSES && block_size(size_class) < bytes) size_class++;
    return size_class;
}

static void *map(size_t bytes) {
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}

/* A block of `size_class`, with the lock held: a freed one, or a new one from the chunk (before
 * confinement, a block of a chunk's size or more is mapped by itself, and a chunk that is
 * too short is replaced, the rest of it left untouched). */
static char *take(unsigned size_class) {
    void *block = free_blocks[size_class];
    if (block) {
        free_blocks[size_class] = *(void **)block;
        return block;
    }
    size_t size = block_size(size_class);
    if ((size_t)(end - next_free) < size) {
        if (confined) return NULL;
        if (size >= CHUNK) return map(size);
        char *chunk = map(CHUNK);
        if (!chunk) return NULL;
        next_free = chunk;
        end = chunk + CHUNK;
    }
    char *fresh = next_free;
    next_free += size;
    return fresh;
}

/* `bytes` at a multiple of `alignment` (a power of two, at least 16). */
static void *allocate(size_t bytes, size_t alignment) {
    if (bytes > SIZE_MAX / 4 || alignment > SIZE_MAX / 4) { errno = ENOMEM; return NULL; }
    /* Blocks start 16-aligned: the caller's pointer is at most `alignment` bytes into one. */
    unsigned size_class = class_for(bytes + (alignment > HEADER ? alignment : HEADER));
    if (size_class == CLASSES) { errno = ENOMEM; return NULL; }
    pthread_mutex_lock(&lock);
    char *block = take(size_class);
    pthread_mutex_unlock(&lock);
    if (!block) { errno = ENOMEM; return NULL; }
    uintptr_t user = ((uintptr_t)block + HEADER + alignment - 1) & ~(uintptr_t)(alignment - 1);
    struct header *header = (struct header *)(user - HEADER);
    header->size_class = size_class;
    header->offset = (uint32_t)(user - (uintptr_t)block);
    return (void *)user;
}

static struct header *header_of(void *pointer) {
    struct header *header = (struct header *)((char *)pointer - HEADER);
    if (header->size_class >= CLASSES || header->offset < HEADER) __builtin_trap();   /* not ours, or overwritten */
    return header;
}

void *malloc(size_t bytes) { return allocate(bytes, HEADER); }

void free(void *pointer) {
    if (!pointer) return;
    struct header *header = header_of(pointer);
    unsigned size_class = header->size_class;
    char *block = (char *)pointer - header->offset;
    pthread_mutex_lock(&lock);
    if (!confined && block_size(size_class) >= CHUNK) {
        /* mapped by itself (boot's temporaries, such as an image's tables): given back */
        pthread_mutex_unlock(&lock);
        munmap(block, block_size(size_class));
        return;
    }
    *(void **)block = free_blocks[size_class];
    free_blocks[size_class] = block;
    pthread_mutex_unlock(&lock);
}

size_t malloc_usable_size(void *pointer) {
    if (!pointer) return 0;
    struct header *header = header_of(pointer);
    return block_size(header->size_class) - header->offset;
}

void *calloc(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) { errno = ENOMEM; return NULL; }
    void *memory = malloc(count * size);
    if (memory) memset(memory, 0, count * size);
    return memory;
}

void *realloc(void *pointer, size_t bytes) {
    if (!pointer) return malloc(bytes);
    size_t usable = malloc_usable_size(pointer);
    if (bytes <= usable) return pointer;
    void *moved = malloc(bytes);
    if (!moved) return NULL;
    memcpy(moved, pointer, usable);
    free(pointer);
    return moved;
}

void *aligned_alloc(size_t alignment, size_t bytes) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) { errno = EINVAL; return NULL; }
    return allocate(bytes, alignment < HEADER ? HEADER : alignment);
}

void *memalign(size_t alignment, size_t bytes) { return aligned_alloc(alignment, bytes); }

int posix_memalign(void **result, size_t alignment, size_t bytes) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *memory = aligned_alloc(alignment, bytes);
    if (!memory) return ENOMEM;
    *result = memory;
    return 0;
}

int ctender_heap_configure(void) { return 0; }

int ctender_reserve_heap(unsigned long bytes) {
    pthread_mutex_lock(&lock);
    char *reserve = confined ? NULL : map(bytes);
    if (reserve) {
        /* the rest of the current chunk is given up: its untouched pages cost nothing */
        next_free = reserve;
        end = reserve + bytes;
        confined = 1;
    }
    pthread_mutex_unlock(&lock);
    return reserve ? 0 : -1;
}
