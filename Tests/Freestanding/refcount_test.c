/* refcount_test.c — checks the guest's non-atomic retain and release (Sources/Guest/Freestanding/
 * refcount.c) on hand-made heap objects, against the refcount word of the Embedded runtime.
 * Built and run on the host by FreestandingLibCTests. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

void *swift_nonatomic_retain(void *);
void swift_nonatomic_release(void *);
void *swift_nonatomic_retain_n(void *, uint32_t);
void swift_nonatomic_release_n(void *, uint32_t);
void *swift_nonatomic_bridgeObjectRetain(void *);
void swift_nonatomic_bridgeObjectRelease(void *);
void *swift_nonatomic_bridgeObjectRetain_n(void *, uint32_t);
void swift_nonatomic_bridgeObjectRelease_n(void *, uint32_t);

#define DO_NOT_FREE ((uintptr_t)1 << 63)
#define IMMORTAL (~DO_NOT_FREE)

struct object { void *const *metadata; uintptr_t refcount; };

static int failures;
static int destroyed;
static uintptr_t refcount_seen_by_destroyer;

#define CHECK(condition, ...) do { if (!(condition)) { printf(__VA_ARGS__); printf("\n"); failures++; } } while (0)

/* The class's destroyer, as the compiler emits it (swiftcc, the object in the context register):
 * retains and releases of the object inside must do nothing. */
static void __attribute__((swiftcall)) destroy(__attribute__((swift_context)) void *pointer) {
    struct object *object = pointer;
    destroyed++;
    refcount_seen_by_destroyer = object->refcount;
    swift_nonatomic_retain(object);
    swift_nonatomic_release(object);
    swift_nonatomic_release_n(object, 3);
}

static void *const metadata[3] = { 0, (void *)destroy, 0 };

static struct object make(uintptr_t refcount) { return (struct object){ metadata, refcount }; }

/* Runs `body` in a child and says whether it died of SIGILL or SIGTRAP (__builtin_trap). */
static int traps(void (*body)(void)) {
    pid_t child = fork();
    if (child == 0) { body(); _exit(0); }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGILL || WTERMSIG(status) == SIGTRAP);
}

static void over_release(void) {
    struct object object = make(2);
    swift_nonatomic_release_n(&object, 3);
}

int main(void) {
    /* A heap object: counted up and down, destroyed once at zero, immortal while destroyed. */
    struct object heap = make(1);
    CHECK(swift_nonatomic_retain(&heap) == &heap, "retain returns its argument");
    CHECK(heap.refcount == 2, "retain: %#lx", (unsigned long)heap.refcount);
    CHECK(swift_nonatomic_retain_n(&heap, 5) == &heap && heap.refcount == 7, "retain_n 5: %#lx", (unsigned long)heap.refcount);
    swift_nonatomic_release_n(&heap, 5);
    swift_nonatomic_release(&heap);
    CHECK(heap.refcount == 1 && destroyed == 0, "back to 1: %#lx, %d destroyed", (unsigned long)heap.refcount, destroyed);
    swift_nonatomic_release(&heap);
    CHECK(destroyed == 1, "the last release destroys once: %d", destroyed);
    CHECK(refcount_seen_by_destroyer == IMMORTAL, "immortal while destroyed: %#lx", (unsigned long)refcount_seen_by_destroyer);
    CHECK(heap.refcount == IMMORTAL, "immortal after the destroyer's own retains and releases: %#lx", (unsigned long)heap.refcount);

    /* A stack object (do-not-free): destroyed at zero, and the bit survives for the deallocation. */
    destroyed = 0;
    struct object stack = make(DO_NOT_FREE | 1);
    swift_nonatomic_retain(&stack);
    CHECK(stack.refcount == (DO_NOT_FREE | 2), "stack retain: %#lx", (unsigned long)stack.refcount);
    swift_nonatomic_release_n(&stack, 2);
    CHECK(destroyed == 1 && refcount_seen_by_destroyer == (DO_NOT_FREE | IMMORTAL),
          "stack object destroyed once, do-not-free kept: %d, %#lx", destroyed, (unsigned long)refcount_seen_by_destroyer);

    /* Static objects: -1 (immortal, do-not-free, as array literals are emitted) and immortal alone. */
    destroyed = 0;
    uintptr_t statics[] = { (uintptr_t)-1, IMMORTAL };
    for (unsigned i = 0; i < 2; i++) {
        struct object object = make(statics[i]);
        swift_nonatomic_retain(&object);
        swift_nonatomic_retain_n(&object, 1000);
        for (int k = 0; k < 3; k++) swift_nonatomic_release(&object);
        swift_nonatomic_release_n(&object, 1000);
        CHECK(object.refcount == statics[i] && destroyed == 0, "static %#lx changed to %#lx (%d destroyed)",
              (unsigned long)statics[i], (unsigned long)object.refcount, destroyed);
    }

    /* Null and pointers with bit 63 set are not objects: never dereferenced (these would fault). */
    void *not_objects[] = { 0, (void *)(DO_NOT_FREE | 0x1000) };
    for (unsigned i = 0; i < 2; i++) {
        CHECK(swift_nonatomic_retain(not_objects[i]) == not_objects[i], "retain of a non-object returns it");
        swift_nonatomic_retain_n(not_objects[i], 2);
        swift_nonatomic_release(not_objects[i]);
        swift_nonatomic_release_n(not_objects[i], 2);
    }

    /* Bridge objects: tag bits 60-62 and 0-2 masked off; the tagged value comes back. */
    destroyed = 0;
    struct object bridged = make(1);
    void *tagged = (void *)((uintptr_t)&bridged | ((uintptr_t)5 << 60) | 3);
    CHECK(swift_nonatomic_bridgeObjectRetain(tagged) == tagged, "bridge retain returns the tagged pointer");
    CHECK(swift_nonatomic_bridgeObjectRetain_n(tagged, 2) == tagged && bridged.refcount == 4,
          "bridge retains: %#lx", (unsigned long)bridged.refcount);
    swift_nonatomic_bridgeObjectRelease_n(tagged, 2);
    swift_nonatomic_bridgeObjectRelease(tagged);
    CHECK(bridged.refcount == 1 && destroyed == 0, "bridge releases: %#lx", (unsigned long)bridged.refcount);
    swift_nonatomic_bridgeObjectRelease(tagged);
    CHECK(destroyed == 1 && bridged.refcount == IMMORTAL, "bridge object destroyed once: %d", destroyed);
    swift_nonatomic_bridgeObjectRetain((void *)(DO_NOT_FREE | 0x1008));   /* an immortal bridge value */
    swift_nonatomic_bridgeObjectRelease((void *)(DO_NOT_FREE | 0x1008));

    CHECK(traps(over_release), "releasing more references than there are must trap");

    printf("%d failures\n", failures);
    return failures != 0;
}
