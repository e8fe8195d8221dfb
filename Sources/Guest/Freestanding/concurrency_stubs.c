/* concurrency_stubs.c — what the Embedded Swift concurrency runtime (libswift_Concurrency.a)
 * needs from below when linked freestanding, for a single-threaded guest:
 *
 *   - the executor entry points (`swift_task_*Impl`), routed to the Swift event loop in
 *     Concurrency/EventLoop.swift, instead of linking libswift_ConcurrencyDefaultExecutor.a
 *     (which sleeps with nanosleep and reads std::chrono; ours idles in SWIFTLET_HC_POLL);
 *   - the few C library and libstdc++ symbols the runtime's objects reference.
 *
 * Only what a link actually pulls in ends up in an image (every function has its own section
 * and images link with --gc-sections): a program without async code pays nothing.
 * Built with the same flags as libc.c (-ffreestanding -fno-builtin). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWIFTCC __attribute__((swiftcall))

/* ---- Served by the Swift side (Concurrency/EventLoop.swift, Runtime/LibC.swift) ---------- */
void swiftlet_loop_enqueue(void *job);
void swiftlet_loop_enqueue_at(uint64_t deadline, void *job);
void swiftlet_loop_enqueue_after(uint64_t delay, void *job);
_Noreturn void swiftlet_loop_run_forever(void);
void swiftlet_loop_run_until(bool (*condition)(void *), void *context);
uint64_t swiftlet_uptime_nanoseconds(void);
int64_t swiftlet_wall_nanoseconds(void);
_Noreturn void swiftlet_process_exit(int32_t status);
_Noreturn void swiftlet_abort(const char *message, size_t length);
void swiftlet_console_putchar(uint8_t byte);

/* ---- Executor entry points (swift/ExecutorImpl.h), swiftcall like the runtime's ---------- */
typedef struct { void *identity; uintptr_t implementation; } SwiftExecutorRef;

/* The runtime's job runner; the executor {0, 0} is the generic executor. */
SWIFTCC void swift_job_run(void *job, SwiftExecutorRef executor);

/* Called by the event loop for each job it dequeues. */
void swiftlet_job_run(void *job) {
    SwiftExecutorRef generic = { 0, 0 };
    swift_job_run(job, generic);
}

SWIFTCC void swift_task_enqueueGlobalImpl(void *job) { swiftlet_loop_enqueue(job); }

/* One thread: the main executor is the global one. */
SWIFTCC void swift_task_enqueueMainExecutorImpl(void *job) { swiftlet_loop_enqueue(job); }

SWIFTCC void swift_task_enqueueGlobalWithDelayImpl(unsigned long long delay, void *job) {
    swiftlet_loop_enqueue_after(delay, job);
}

/* `sec`/`nsec` were read from `clock` (continuous or suspending); both read our uptime clock
 * (see clock_gettime below), so the deadline is already in the loop's time base. The
 * tolerance (`tsec`/`tnsec`) is ignored: timers fire as soon as they are due. */
SWIFTCC void swift_task_enqueueGlobalWithDeadlineImpl(long long sec, long long nsec,
                                                      long long tsec, long long tnsec,
                                                      int clock, void *job) {
    (void)tsec; (void)tnsec; (void)clock;
    uint64_t deadline = 0;
    if (sec > 0 || (sec == 0 && nsec > 0)) {
        if ((unsigned long long)sec >= UINT64_MAX / 1000000000ull) deadline = UINT64_MAX;
        else deadline = (uint64_t)sec * 1000000000ull + (uint64_t)(nsec > 0 ? nsec : 0);
    }
    swiftlet_loop_enqueue_at(deadline, job);
}

SWIFTCC SwiftExecutorRef swift_task_getMainExecutorImpl(void) {
    SwiftExecutorRef generic = { 0, 0 };
    return generic;
}

SWIFTCC bool swift_task_isMainExecutorImpl(SwiftExecutorRef executor) {
    return executor.identity == 0;
}

/* Single-threaded: whoever asks is isolated. */
SWIFTCC void swift_task_checkIsolatedImpl(SwiftExecutorRef executor) { (void)executor; }

SWIFTCC int8_t swift_task_isIsolatingCurrentContextImpl(SwiftExecutorRef executor) {
    (void)executor;
    return 1;
}

SWIFTCC void swift_task_donateThreadToGlobalExecutorUntilImpl(bool (*condition)(void *), void *context) {
    swiftlet_loop_run_until(condition, context);
}

/* The pump behind `static func main() async`: never returns; the main task calls exit(). */
SWIFTCC _Noreturn void swift_task_asyncMainDrainQueueImpl(void) { swiftlet_loop_run_forever(); }

/* ---- Process ---------------------------------------------------------------------------- */

/* Called by the code the compiler generates for an async main once main returns. Flushes
 * the console and halts with `status`. */
_Noreturn void exit(int status) { swiftlet_process_exit(status); }

/* The runtime's fatal errors print their reason (vprintf, puts) and then call abort(): the
 * last text printed that way becomes the crash message. */
static char fatal_message[256];
static size_t fatal_length;

_Noreturn void abort(void) {
    static const char fallback[] = "abort() called by the Swift concurrency runtime";
    size_t length = fatal_length;
    while (length > 0 && (fatal_message[length - 1] == '\n' || fatal_message[length - 1] == ' ')) length--;
    if (length == 0) swiftlet_abort(fallback, sizeof(fallback) - 1);
    swiftlet_abort(fatal_message, length);
}

/* libstdc++'s error paths, reachable only through a bug: std::vector growing past
 * max_size() (TaskGroup.cpp), a call through a pure virtual function. */
_Noreturn void _ZSt20__throw_length_errorPKc(const char *what) {
    static const char prefix[] = "Swift concurrency runtime: std::length_error: ";
    static char message[160];
    size_t length = 0;
    for (size_t i = 0; prefix[i]; i++) message[length++] = prefix[i];
    for (size_t i = 0; what && what[i] && length < sizeof(message); i++) message[length++] = what[i];
    swiftlet_abort(message, length);
}

_Noreturn void __cxa_pure_virtual(void) {
    static const char message[] = "Swift concurrency runtime: pure virtual function called";
    swiftlet_abort(message, sizeof(message) - 1);
}

/* The Embedded stdlib asks for a block's usable size (_swift_stdlib_malloc_size) to use an
 * array's slack. Not concurrency-specific: weak, so a definition in libc.c takes over. */
size_t swiftlet_heap_usable_size(void *pointer);
__attribute__((weak)) size_t malloc_usable_size(void *pointer) {
    return pointer ? swiftlet_heap_usable_size(pointer) : 0;
}

/* ---- Strings and formatting ------------------------------------------------------------- */

char *strncpy(char *restrict dst, const char *restrict src, size_t n) {
    size_t i = 0;
    for (; i < n && src[i]; i++) dst[i] = src[i];
    for (; i < n; i++) dst[i] = 0;
    return dst;
}

struct sink {
    char *buffer;
    size_t capacity;   /* bytes the buffer holds, the terminating NUL included */
    size_t length;     /* bytes produced so far (may exceed the capacity) */
};

static void sink_put(struct sink *out, char c) {
    if (out->length + 1 < out->capacity) out->buffer[out->length] = c;
    out->length++;
}

static void sink_pad(struct sink *out, int count) {
    while (count-- > 0) sink_put(out, ' ');
}

static void sink_number(struct sink *out, unsigned long long value, unsigned base, bool negative,
                        int width, char pad, bool left) {
    char digits[24];
    int count = 0;
    do {
        unsigned digit = (unsigned)(value % base);
        digits[count++] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
        value /= base;
    } while (value);
    int total = count + (negative ? 1 : 0);
    if (left) pad = ' ';
    if (!left && pad == ' ') sink_pad(out, width - total);
    if (negative) sink_put(out, '-');
    if (!left && pad == '0') for (int i = total; i < width; i++) sink_put(out, '0');
    while (count) sink_put(out, digits[--count]);
    if (left) sink_pad(out, width - total);
}

/* The subset the runtime's messages use: %s (with a precision, also .*), %c, %d, %i, %u, %x,
 * %p and %%, with the l, ll, z, j, t and h length modifiers, a field width (also *) and the
 * 0 and - flags. Anything else is copied verbatim. */
int vsnprintf(char *restrict buffer, size_t capacity, const char *restrict format, va_list args) {
    struct sink out = { buffer, capacity, 0 };
    for (const char *p = format; *p; p++) {
        if (*p != '%') { sink_put(&out, *p); continue; }
        const char *start = p++;
        char pad = ' ';
        bool left = false;
        int width = 0, precision = -1, longness = 0;
        while (*p == '0' || *p == '-' || *p == '+' || *p == ' ' || *p == '#') {
            if (*p == '0') pad = '0';
            if (*p == '-') left = true;
            p++;
        }
        if (*p == '*') { width = va_arg(args, int); p++; if (width < 0) { left = true; width = -width; } }
        else while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        if (*p == '.') {
            p++;
            precision = 0;
            if (*p == '*') { precision = va_arg(args, int); p++; }
            else while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
        }
        while (*p == 'l' || *p == 'z' || *p == 'h' || *p == 'j' || *p == 't') { if (*p != 'h') longness++; p++; }
        switch (*p) {
        case 's': {
            const char *s = va_arg(args, const char *);
            if (!s) s = "(null)";
            int length = 0;
            while (s[length] && (precision < 0 || length < precision)) length++;
            if (!left) sink_pad(&out, width - length);
            for (int i = 0; i < length; i++) sink_put(&out, s[i]);
            if (left) sink_pad(&out, width - length);
            break;
        }
        case 'c': sink_put(&out, (char)va_arg(args, int)); break;
        case 'd': case 'i': {
            long long v = longness ? va_arg(args, long long) : va_arg(args, int);
            sink_number(&out, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10, v < 0, width, pad, left);
            break;
        }
        case 'u': case 'x': case 'X': {
            unsigned long long v = longness ? va_arg(args, unsigned long long) : va_arg(args, unsigned);
            sink_number(&out, v, *p == 'u' ? 10 : 16, false, width, pad, left);
            break;
        }
        case 'p':
            sink_put(&out, '0'); sink_put(&out, 'x');
            sink_number(&out, (uintptr_t)va_arg(args, void *), 16, false, 0, ' ', false);
            break;
        case '%': sink_put(&out, '%'); break;
        default:
            for (const char *q = start; q <= p && *q; q++) sink_put(&out, *q);
            if (!*p) p--;
        }
    }
    if (capacity) buffer[out.length < capacity ? out.length : capacity - 1] = 0;
    return (int)out.length;
}

static void console_write(const char *text, size_t length) {
    for (size_t i = 0; i < length; i++) swiftlet_console_putchar((uint8_t)text[i]);
}

/* Only the runtime's error paths print with these. */
int vprintf(const char *restrict format, va_list args) {
    int length = vsnprintf(fatal_message, sizeof(fatal_message), format, args);
    fatal_length = (size_t)length < sizeof(fatal_message) ? (size_t)length : sizeof(fatal_message) - 1;
    console_write(fatal_message, fatal_length);
    return length;
}

int puts(const char *text) {
    size_t length = 0;
    while (text[length]) length++;
    fatal_length = length < sizeof(fatal_message) ? length : sizeof(fatal_message) - 1;
    for (size_t i = 0; i < fatal_length; i++) fatal_message[i] = text[i];
    console_write(text, length);
    swiftlet_console_putchar('\n');
    return 1;
}

/* ---- Clocks ----------------------------------------------------------------------------- */
struct swiftlet_timespec { long tv_sec; long tv_nsec; };

/* CLOCK_REALTIME (0) and CLOCK_REALTIME_COARSE (5) read the host's wall clock; every other
 * clock (MONOTONIC, MONOTONIC_RAW, BOOTTIME, ..., behind ContinuousClock and SuspendingClock)
 * reads SystemClock.uptimeNanoseconds, the event loop's time base. */
int clock_gettime(int clock, struct swiftlet_timespec *now) {
    if (clock == 0 || clock == 5) {
        int64_t ns = swiftlet_wall_nanoseconds();
        now->tv_sec = (long)(ns / 1000000000);
        now->tv_nsec = (long)(ns % 1000000000);
    } else {
        uint64_t ns = swiftlet_uptime_nanoseconds();
        now->tv_sec = (long)(ns / 1000000000u);
        now->tv_nsec = (long)(ns % 1000000000u);
    }
    return 0;
}

int clock_getres(int clock, struct swiftlet_timespec *resolution) {
    (void)clock;
    if (resolution) { resolution->tv_sec = 0; resolution->tv_nsec = 1; }
    return 0;
}

/* ---- libstdc++: the red-black tree under the std::set in TaskLocal.cpp -------------------
 * std::_Rb_tree_node_base is { color (red 0, black 1), parent, left, right }. A tree's header
 * node is red, with parent = root, left = leftmost node, right = rightmost node. */
struct rb_node {
    int color;
    struct rb_node *parent, *left, *right;
};
enum { RB_RED = 0, RB_BLACK = 1 };

/* std::_Rb_tree_decrement(node): the in-order predecessor; the header's is the rightmost
 * node (that is how --end() works). */
struct rb_node *_ZSt18_Rb_tree_decrementPSt18_Rb_tree_node_base(struct rb_node *x) {
    if (x->color == RB_RED && x->parent->parent == x) return x->right;   /* x is the header */
    if (x->left) {
        struct rb_node *y = x->left;
        while (y->right) y = y->right;
        return y;
    }
    struct rb_node *y = x->parent;
    while (x == y->left) { x = y; y = y->parent; }
    return y;
}

static void rb_rotate_left(struct rb_node *x, struct rb_node **root) {
    struct rb_node *y = x->right;
    x->right = y->left;
    if (y->left) y->left->parent = x;
    y->parent = x->parent;
    if (x == *root) *root = y;
    else if (x == x->parent->left) x->parent->left = y;
    else x->parent->right = y;
    y->left = x;
    x->parent = y;
}

static void rb_rotate_right(struct rb_node *x, struct rb_node **root) {
    struct rb_node *y = x->left;
    x->left = y->right;
    if (y->right) y->right->parent = x;
    y->parent = x->parent;
    if (x == *root) *root = y;
    else if (x == x->parent->right) x->parent->right = y;
    else x->parent->left = y;
    y->right = x;
    x->parent = y;
}

/* std::_Rb_tree_insert_and_rebalance(insert_left, x, p, header): links the new node x as p's
 * left (insert_left) or right child, keeps the header's root, leftmost and rightmost, and
 * restores the red-black invariants. */
void _ZSt29_Rb_tree_insert_and_rebalancebPSt18_Rb_tree_node_baseS0_RS_(
        bool insert_left, struct rb_node *x, struct rb_node *p, struct rb_node *header) {
    struct rb_node **root = &header->parent;
    x->parent = p;
    x->left = x->right = 0;
    x->color = RB_RED;
    if (insert_left) {
        p->left = x;                      /* when p is the header this sets leftmost */
        if (p == header) { header->parent = x; header->right = x; }
        else if (p == header->left) header->left = x;
    } else {
        p->right = x;
        if (p == header->right) header->right = x;
    }
    while (x != *root && x->parent->color == RB_RED) {
        struct rb_node *grandparent = x->parent->parent;
        if (x->parent == grandparent->left) {
            struct rb_node *uncle = grandparent->right;
            if (uncle && uncle->color == RB_RED) {
                x->parent->color = RB_BLACK;
                uncle->color = RB_BLACK;
                grandparent->color = RB_RED;
                x = grandparent;
            } else {
                if (x == x->parent->right) { x = x->parent; rb_rotate_left(x, root); }
                x->parent->color = RB_BLACK;
                grandparent->color = RB_RED;
                rb_rotate_right(grandparent, root);
            }
        } else {
            struct rb_node *uncle = grandparent->left;
            if (uncle && uncle->color == RB_RED) {
                x->parent->color = RB_BLACK;
                uncle->color = RB_BLACK;
                grandparent->color = RB_RED;
                x = grandparent;
            } else {
                if (x == x->parent->left) { x = x->parent; rb_rotate_right(x, root); }
                x->parent->color = RB_BLACK;
                grandparent->color = RB_RED;
                rb_rotate_left(grandparent, root);
            }
        }
    }
    (*root)->color = RB_BLACK;
}
