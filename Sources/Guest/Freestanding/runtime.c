/* runtime.c — the C library entry points the Swift runtime calls that our Swift runtime serves
 * (allocation, console, randomness), and the ABI note every image carries. */
#include <stddef.h>
#include <stdint.h>
#include "swiftlet_abi.h"

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);

/* ---- Allocation, console, randomness: forwarded to the Swift runtime (Runtime/LibC.swift) ---- */
void *swiftlet_heap_allocate(size_t size, size_t alignment);
void swiftlet_heap_free(void *pointer);
size_t swiftlet_heap_usable_size(void *pointer);
_Noreturn void swiftlet_heap_out_of_memory(size_t requested);
void swiftlet_console_putchar(uint8_t byte);
void swiftlet_random_fill(void *buffer, size_t count);

int posix_memalign(void **result, size_t alignment, size_t size) {
    *result = swiftlet_heap_allocate(size, alignment);
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) { return swiftlet_heap_allocate(size, alignment); }
void *malloc(size_t size) { return swiftlet_heap_allocate(size, 16); }

void *calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) swiftlet_heap_out_of_memory((size_t)-1);
    return memset(swiftlet_heap_allocate(total, 16), 0, total);
}

void *realloc(void *old, size_t size) {
    if (!old) return malloc(size);
    size_t available = swiftlet_heap_usable_size(old);
    if (size <= available) return old;
    void *fresh = swiftlet_heap_allocate(size, 16);
    memcpy(fresh, old, available);
    swiftlet_heap_free(old);
    return fresh;
}

void free(void *pointer) {
    if (pointer) swiftlet_heap_free(pointer);
}

int putchar(int c) {
    swiftlet_console_putchar((uint8_t)c);
    return c;
}

void arc4random_buf(void *buffer, size_t count) {
    swiftlet_random_fill(buffer, count);
}

/* ---- The application's entry (Runtime/Start.swift) ----
 * Start.swift calls `main` through here, from an object outside link-time optimization: called
 * straight from Swift, a `main` small enough (examples/web's, hello's) was inlined into
 * swiftlet_start, and images lost the symbol that debuggers, crash reports and
 * `swiftlet inspect --size` know the application's top-level code by. */
int main(int argc, char **argv);

int swiftlet_run_main(int argc, char **argv) { return main(argc, argv); }

/* ---- Embedded assets (HTTP/EmbeddedAssets.swift) ----
 * `swiftlet build` links a generated table named swiftlet_asset_table when the application has
 * assets (layout in Sources/CLI/Builder/AssetBundle.swift). Without one, this weak reference
 * resolves to 0 in the static non-PIE link, so the accessor returns NULL. */
extern const unsigned char swiftlet_asset_table[] __attribute__((weak));

const void *swiftlet_embedded_assets(void) { return swiftlet_asset_table; }

/* The ABI note every image carries: which ABI version and which targets it was built for.
 * SWIFTLET_NOTE_TARGETS is defined by the builder from `--target`. */
#ifndef SWIFTLET_NOTE_TARGETS
#define SWIFTLET_NOTE_TARGETS (SWIFTLET_TARGET_HVT | SWIFTLET_TARGET_SPT)
#endif

struct swiftlet_abi_note_section {
    uint32_t namesz, descsz, type;
    char name[12];
    struct swiftlet_note_abi desc;
};

__attribute__((section(".note.swiftlet"), used, aligned(4)))
static const struct swiftlet_abi_note_section swiftlet_abi_note = {
    .namesz = sizeof(SWIFTLET_NOTE_NAME),
    .descsz = sizeof(struct swiftlet_note_abi),
    .type = SWIFTLET_NOTE_ABI,
    .name = SWIFTLET_NOTE_NAME,
    .desc = { SWIFTLET_ABI_VERSION, SWIFTLET_NOTE_TARGETS },
};
