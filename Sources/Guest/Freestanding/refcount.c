/* refcount.c — non-atomic retain and release for guest Swift, which ImageBuilder compiles with
 * -assume-single-threaded: a guest has one vCPU and a cooperative executor, so a refcount never
 * changes under another thread's feet, and the `lock`-prefixed updates the Embedded runtime
 * inlines everywhere are pure cost. The Embedded runtime has no swift_nonatomic_* entry points;
 * these are its swift_retain_n / swift_release_n (stdlib/public/core/EmbeddedRuntime.swift) with
 * plain loads and stores.
 *
 * The refcount word (the second word of every heap object), as that runtime defines it:
 *   bit 63         do-not-free: the object is not on the heap (a stack object); deinit still runs
 *   bits 62..0     the count; all ones (IMMORTAL) = not counted: statically initialized objects
 *                  (array literals carry -1, i.e. IMMORTAL with do-not-free) and objects in deinit
 * A retain or release of an immortal object does nothing; a plain increment would wrap -1 to 0.
 * A pointer with bit 63 set is not a heap object at all and is never touched. */
#include <stdint.h>

#define DO_NOT_FREE ((uintptr_t)1 << 63)
#define COUNT_MASK (~DO_NOT_FREE)
#define IMMORTAL COUNT_MASK
#define NOT_AN_OBJECT_BIT ((uintptr_t)1 << 63)
/* What the Embedded runtime masks off a bridge object (String's storage) to find the object. */
#define BRIDGE_OBJECT_MASK ((uintptr_t)0x8ffffffffffffff8)

struct heap_object {
    void *const *metadata;   /* [1] is the destroyer: deinit, then the deallocation */
    uintptr_t refcount;
};

typedef void __attribute__((swiftcall)) (*heap_object_destroyer)(__attribute__((swift_context)) void *object);

static inline struct heap_object *counted_object(void *pointer) {
    uintptr_t bits = (uintptr_t)pointer;
    return bits == 0 || (bits & NOT_AN_OBJECT_BIT) ? 0 : (struct heap_object *)pointer;
}

void *swift_nonatomic_retain_n(void *pointer, uint32_t n) {
    struct heap_object *object = counted_object(pointer);
    if (object && (object->refcount & COUNT_MASK) != IMMORTAL) object->refcount += n;
    return pointer;
}

void swift_nonatomic_release_n(void *pointer, uint32_t n) {
    struct heap_object *object = counted_object(pointer);
    if (!object) return;
    uintptr_t old = object->refcount;
    if ((old & COUNT_MASK) == IMMORTAL) return;
    /* More releases than references: only unsafe code (Unmanaged) gets here. The Embedded
     * runtime would wrap the count into IMMORTAL and leak silently; stop instead. */
    if ((old & COUNT_MASK) < n) __builtin_trap();
    uintptr_t now = old - n;
    if ((now & COUNT_MASK) != 0) {
        object->refcount = now;
        return;
    }
    /* The last reference: immortal while deinit runs, so retains and releases of `self` inside
     * it do nothing and it cannot run twice; the do-not-free bit stays for the deallocation. */
    object->refcount = IMMORTAL | (old & DO_NOT_FREE);
    ((heap_object_destroyer)object->metadata[1])(object);
}

void *swift_nonatomic_retain(void *pointer) { return swift_nonatomic_retain_n(pointer, 1); }
void swift_nonatomic_release(void *pointer) { swift_nonatomic_release_n(pointer, 1); }

/* A bridge object is a heap object pointer with tag bits (String's storage); the caller gets
 * back what it passed, as from the full runtime (the compiler marks the argument `returned`). */
void *swift_nonatomic_bridgeObjectRetain_n(void *pointer, uint32_t n) {
    swift_nonatomic_retain_n((void *)((uintptr_t)pointer & BRIDGE_OBJECT_MASK), n);
    return pointer;
}

void swift_nonatomic_bridgeObjectRelease_n(void *pointer, uint32_t n) {
    swift_nonatomic_release_n((void *)((uintptr_t)pointer & BRIDGE_OBJECT_MASK), n);
}

void *swift_nonatomic_bridgeObjectRetain(void *pointer) { return swift_nonatomic_bridgeObjectRetain_n(pointer, 1); }
void swift_nonatomic_bridgeObjectRelease(void *pointer) { swift_nonatomic_bridgeObjectRelease_n(pointer, 1); }
