/* libc.c — the C library under the regular (non-Embedded) static Swift runtime in a
 * Swiftlet guest: entry from the tender, console and halt hypercalls, a heap, the libc and
 * C++ runtime symbols libswiftCore.a imports, single-threaded. A prototype: what the runtime
 * needs only for crash backtraces, files, processes or locales fails politely (-1 / NULL),
 * and what a program may need but the prototype lacks halts with its name (fullrt_missing). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "swiftlet_abi.h"

__attribute__((noreturn)) void fullrt_missing(const char *name);

/* ---- Tender interface ------------------------------------------------------------------ */
static const struct swiftlet_boot_info *boot;

static void hypercall(uint32_t number, void *request) {
    if (boot->hypercall_entry) swiftlet_spt_hypercall(boot->hypercall_entry, number, (uint64_t)(uintptr_t)request);
    else swiftlet_hvt_hypercall(number, (uint64_t)(uintptr_t)request);
}

static void console(const void *data, size_t length) {
    while (length > 0) {
        size_t chunk = length < SWIFTLET_CONSOLE_MAX ? length : SWIFTLET_CONSOLE_MAX;
        struct swiftlet_hc_console request = { .data = (uint64_t)(uintptr_t)data, .length = chunk };
        hypercall(SWIFTLET_HC_CONSOLE, &request);
        data = (const char *)data + chunk;
        length -= chunk;
    }
}

__attribute__((noreturn)) static void halt(int status, const char *message) {
    struct swiftlet_crash_record crash = { 0 };
    struct swiftlet_hc_halt request = { .status = status };
    if (message) {
        size_t n = 0;
        while (message[n] && n < SWIFTLET_CRASH_MESSAGE_MAX) n++;
        crash.kind = SWIFTLET_CRASH_ABORT;
        crash.message = (uint64_t)(uintptr_t)message;
        crash.message_length = (uint32_t)n;
        crash.rip = (uint64_t)(uintptr_t)__builtin_return_address(0);
        crash.rbp = (uint64_t)(uintptr_t)__builtin_frame_address(0);
        request.crash = (uint64_t)(uintptr_t)&crash;
    }
    for (;;) hypercall(SWIFTLET_HC_HALT, &request);
}

#ifndef SWIFTLET_NOTE_TARGETS
#define SWIFTLET_NOTE_TARGETS (SWIFTLET_TARGET_HVT | SWIFTLET_TARGET_SPT)
#endif
struct note_section { uint32_t namesz, descsz, type; char name[12]; struct swiftlet_note_abi desc; };
__attribute__((section(".note.swiftlet"), used, aligned(4)))
static const struct note_section abi_note = {
    sizeof(SWIFTLET_NOTE_NAME), sizeof(struct swiftlet_note_abi), SWIFTLET_NOTE_ABI, SWIFTLET_NOTE_NAME,
    { SWIFTLET_ABI_VERSION, SWIFTLET_NOTE_TARGETS },
};

/* ---- Heap: a bump allocator with a size header (free only reuses the last block) ----------- */
static uintptr_t heap_next, heap_end;
struct block_header { size_t size; size_t pad; };

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);

static void *allocate(size_t size, size_t alignment) {
    if (alignment < 16) alignment = 16;
    uintptr_t start = (heap_next + sizeof(struct block_header) + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (size > heap_end || start > heap_end - size) halt(1, "fullrt: out of memory");
    ((struct block_header *)start)[-1].size = size;
    heap_next = start + size;
    return (void *)start;
}
void *malloc(size_t size) { return allocate(size, 16); }
void *calloc(size_t count, size_t size) { void *p = allocate(count * size, 16); memset(p, 0, count * size); return p; }
size_t malloc_usable_size(void *p) { return p ? ((struct block_header *)p)[-1].size : 0; }
void free(void *p) {
    if (p && (uintptr_t)p + malloc_usable_size(p) == heap_next) heap_next = (uintptr_t)p - sizeof(struct block_header);
}
void *realloc(void *old, size_t size) {
    if (!old) return malloc(size);
    size_t had = malloc_usable_size(old);
    if (size <= had) return old;
    void *p = malloc(size);
    memcpy(p, old, had);
    free(old);
    return p;
}
int posix_memalign(void **out, size_t alignment, size_t size) { *out = allocate(size, alignment); return 0; }
/* Bytes handed out so far (bench/full_runtime.py prints it from its hello). */
uint64_t fullrt_heap_used(void) { return heap_next - boot->heap_start; }

/* ---- C++ runtime: operator new/delete, guards, the throws the runtime never expects ---------- */
void *_Znwm(size_t n) { return malloc(n); }
void *_ZnwmSt11align_val_t(size_t n, size_t a) { return allocate(n, a); }
void *_Znam(size_t n) { return malloc(n); }
void _ZdlPv(void *p) { free(p); }
void _ZdlPvm(void *p, size_t n) { (void)n; free(p); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; free(p); }
void _ZdaPv(void *p) { free(p); }
int __cxa_guard_acquire(uint64_t *guard) { return *(uint8_t *)guard == 0; }
void __cxa_guard_release(uint64_t *guard) { *(uint8_t *)guard = 1; }
void __cxa_guard_abort(uint64_t *guard) { (void)guard; }
int __cxa_atexit(void (*f)(void *), void *a, void *d) { (void)f; (void)a; (void)d; return 0; }
void *__dso_handle = &__dso_handle;
char *__cxa_demangle(const char *m, char *b, size_t *l, int *status) { (void)m; (void)b; (void)l; if (status) *status = -2; return 0; }
__attribute__((noreturn)) void _ZSt17__throw_bad_allocv(void) { halt(1, "fullrt: std::bad_alloc"); }
__attribute__((noreturn)) void _ZSt20__throw_length_errorPKc(const char *s) { halt(1, s); }
__attribute__((noreturn)) void _ZSt25__throw_bad_function_callv(void) { halt(1, "fullrt: bad_function_call"); }
__attribute__((noreturn)) void _ZSt28__throw_bad_array_new_lengthv(void) { halt(1, "fullrt: bad_array_new_length"); }
__attribute__((noreturn)) void _ZSt19__throw_logic_errorPKc(const char *s) { halt(1, s); }
__attribute__((noreturn)) void _ZSt24__throw_out_of_range_fmtPKcz(const char *s, ...) { halt(1, s); }
__attribute__((noreturn)) void _ZSt20__throw_out_of_rangePKc(const char *s) { halt(1, s); }
__attribute__((noreturn)) void _ZSt24__throw_invalid_argumentPKc(const char *s) { halt(1, s); }
unsigned _ZNSt6thread20hardware_concurrencyEv(void) { return 1; }

/* ---- Swift runtime threading, single-threaded (replaces Linux.cpp.o and SwiftTLSContext.cpp.o,
 * whose thread_local variables would need an FS base the tenders do not give guests) ------- */
int _ZN5swift14threading_impl14thread_is_mainEv(void) { return 1; }
struct optional_stack_bounds { void *low, *high; _Bool engaged; };
struct optional_stack_bounds _ZN5swift14threading_impl31thread_get_current_stack_boundsEv(void) {
    struct optional_stack_bounds none = { 0, 0, 0 };
    return none;
}
void _ZN5swift14threading_impl9once_slowERNS0_6once_tEPFvPvES3_(intptr_t *flag, void (*fn)(void *), void *context) {
    if (*flag != 0) return;
    *flag = 1;
    fn(context);
    *flag = -1;
}
static _Alignas(64) unsigned char tls_context[512];
void *_ZN5swift7runtime15SwiftTLSContext3getEv(void) { return tls_context; }

/* ---- pthread: one thread ------------------------------------------------------------------- */
static void *keys[128];
static unsigned key_count = 1;
int pthread_key_create(unsigned *key, void (*destructor)(void *)) {
    (void)destructor;
    if (key_count >= 128) return 11;
    *key = key_count++;
    return 0;
}
void *pthread_getspecific(unsigned key) { return key < 128 ? keys[key] : 0; }
int pthread_setspecific(unsigned key, const void *value) { if (key >= 128) return 22; keys[key] = (void *)value; return 0; }
int pthread_mutex_lock(void *m) { (void)m; return 0; }
int pthread_mutex_unlock(void *m) { (void)m; return 0; }
int pthread_mutex_destroy(void *m) { (void)m; return 0; }
unsigned long pthread_self(void) { return 1; }
int pthread_getattr_np(unsigned long t, void *a) { (void)t; (void)a; return 38; }
int pthread_attr_getstack(const void *a, void **s, size_t *n) { (void)a; *s = 0; *n = 0; return 38; }
int pthread_attr_destroy(void *a) { (void)a; return 0; }

/* ---- Strings and memory ------------------------------------------------------------------- */
void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    unsigned char *d = dst; const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}
void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst; const unsigned char *s = src;
    if (d < s) while (n--) *d++ = *s++;
    else while (n--) d[n] = s[n];
    return dst;
}
void *memset(void *dst, int c, size_t n) { unsigned char *d = dst; while (n--) *d++ = (unsigned char)c; return dst; }
int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++) if (*x != *y) return *x - *y;
    return 0;
}
int bcmp(const void *a, const void *b, size_t n) { return memcmp(a, b, n); }
void *memchr(const void *s, int c, size_t n) {
    const unsigned char *p = s;
    for (; n; n--, p++) if (*p == (unsigned char)c) return (void *)p;
    return 0;
}
size_t strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
int strcmp(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return (unsigned char)*a - (unsigned char)*b; }
int strncmp(const char *a, const char *b, size_t n) {
    for (; n; n--, a++, b++) { if (*a != *b || !*a) return (unsigned char)*a - (unsigned char)*b; }
    return 0;
}
char *strchr(const char *s, int c) { for (;; s++) { if (*s == (char)c) return (char *)s; if (!*s) return 0; } }
char *strrchr(const char *s, int c) { const char *r = 0; for (;; s++) { if (*s == (char)c) r = s; if (!*s) return (char *)r; } }
char *strdup(const char *s) { size_t n = strlen(s) + 1; char *d = malloc(n); memcpy(d, s, n); return d; }
char *strcat(char *d, const char *s) { memcpy(d + strlen(d), s, strlen(s) + 1); return d; }
long strtol(const char *s, char **end, int base) {
    long v = 0; int neg = 0;
    while (*s == ' ') s++;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    if (base == 0) base = 10;
    for (;; s++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'z' ? *s - 'a' + 10 : *s >= 'A' && *s <= 'Z' ? *s - 'A' + 10 : 99;
        if (d >= base) break;
        v = v * base + d;
    }
    if (end) *end = (char *)s;
    return neg ? -v : v;
}
long long strtoll(const char *s, char **end, int base) { return strtol(s, end, base); }

/* ---- stdio to the console ------------------------------------------------------------------- */
typedef struct { int fd; } FILE;
static FILE files[3] = { { 0 }, { 1 }, { 2 } };
FILE *stdin = &files[0], *stdout = &files[1], *stderr = &files[2];
size_t fwrite(const void *p, size_t size, size_t count, FILE *f) { (void)f; console(p, size * count); return count; }
int fputs(const char *s, FILE *f) { fwrite(s, 1, strlen(s), f); return 0; }
int fputc(int c, FILE *f) { char b = (char)c; fwrite(&b, 1, 1, f); return c; }
int putc(int c, FILE *f) { return fputc(c, f); }
int putchar(int c) { return fputc(c, stdout); }
int fflush(FILE *f) { (void)f; return 0; }
void flockfile(FILE *f) { (void)f; }
void funlockfile(FILE *f) { (void)f; }
long write(int fd, const void *p, size_t n) { if (fd == 1 || fd == 2) { console(p, n); return (long)n; } return -1; }

/* A small vsnprintf: %s %c %d %i %u %x %p %%, with l/ll/z, width/precision for s (incl. *). */
int vsnprintf(char *out, size_t size, const char *format, va_list args) {
    size_t n = 0;
#define EMIT(ch) do { if (n + 1 < size) out[n] = (ch); n++; } while (0)
    for (const char *f = format; *f; f++) {
        if (*f != '%') { EMIT(*f); continue; }
        f++;
        int precision = -1, longs = 0;
        while (*f == '-' || *f == '0' || (*f >= '1' && *f <= '9')) f++;
        if (*f == '.') { f++; if (*f == '*') { precision = va_arg(args, int); f++; } else { precision = 0; while (*f >= '0' && *f <= '9') precision = precision * 10 + *f++ - '0'; } }
        while (*f == 'l' || *f == 'z' || *f == 'h') { if (*f != 'h') longs++; f++; }
        char digits[24]; int count = 0; unsigned long long u = 0; int base = 10, negative = 0;
        switch (*f) {
        case 's': { const char *s = va_arg(args, const char *); if (!s) s = "(null)";
                    for (int i = 0; s[i] && (precision < 0 || i < precision); i++) EMIT(s[i]); continue; }
        case 'c': EMIT((char)va_arg(args, int)); continue;
        case '%': EMIT('%'); continue;
        case 'd': case 'i': { long long v = longs ? va_arg(args, long long) : va_arg(args, int);
                              negative = v < 0; u = negative ? -(unsigned long long)v : (unsigned long long)v; break; }
        case 'u': u = longs ? va_arg(args, unsigned long long) : va_arg(args, unsigned); break;
        case 'x': case 'X': base = 16; u = longs ? va_arg(args, unsigned long long) : va_arg(args, unsigned); break;
        case 'p': base = 16; u = (uintptr_t)va_arg(args, void *); EMIT('0'); EMIT('x'); break;
        default: EMIT('%'); EMIT(*f); continue;
        }
        do { digits[count++] = "0123456789abcdef"[u % base]; u /= base; } while (u);
        if (negative) EMIT('-');
        while (count) { count--; EMIT(digits[count]); }
    }
    if (size) out[n < size ? n : size - 1] = 0;
#undef EMIT
    return (int)n;
}
int snprintf(char *out, size_t size, const char *format, ...) {
    va_list a; va_start(a, format); int n = vsnprintf(out, size, format, a); va_end(a); return n;
}
int vfprintf(FILE *f, const char *format, va_list args) {
    char buffer[1024];
    int n = vsnprintf(buffer, sizeof buffer, format, args);
    fwrite(buffer, 1, n < (int)sizeof buffer ? (size_t)n : sizeof buffer - 1, f);
    return n;
}
int fprintf(FILE *f, const char *format, ...) { va_list a; va_start(a, format); int n = vfprintf(f, format, a); va_end(a); return n; }

/* ---- Process, files, signals, dynamic loading: none in a unikernel ------------------------- */
static int errno_value;
int *__errno_location(void) { return &errno_value; }
char *__progname = "swiftlet";
static char *no_environment[] = { 0 };
char **environ = no_environment;
char *getenv(const char *name) { (void)name; return 0; }
__attribute__((noreturn)) void abort(void) { halt(134, "fullrt: abort() called (a Swift runtime error; message above)"); }
__attribute__((noreturn)) void __stack_chk_fail(void) { halt(134, "fullrt: stack smashing detected"); }
unsigned long getauxval(unsigned long type) { return type == 6 ? 4096 : 0; }
long sysconf(int name) { return name == 30 ? 4096 : name == 84 ? 1 : -1; }
int isatty(int fd) { (void)fd; return 0; }
int getpid(void) { return 1; }
/* getrandom (318) from the boot seed, stirred by splitmix64: a prototype's randomness (the
 * Embedded library OS uses ChaCha20 over the same seed); other system calls do not exist. */
static uint64_t random_state;
long syscall(long number, ...) {
    if (number != 318) { errno_value = 38; return -1; }
    va_list a;
    va_start(a, number);
    unsigned char *buffer = va_arg(a, unsigned char *);
    size_t length = va_arg(a, size_t);
    va_end(a);
    if (random_state == 0) memcpy(&random_state, boot->random_seed, 8);
    for (size_t i = 0; i < length; i++) {
        uint64_t z = (random_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        buffer[i] = (unsigned char)(z ^ (z >> 31));
    }
    return (long)length;
}
void *newlocale(int mask, const char *locale, void *base) { (void)mask; (void)locale; (void)base; return (void *)1; }
/* One image: every address is in "/swiftlet" (the runtime asks where it lives at start-up). */
struct dl_info { const char *fname; void *fbase; const char *sname; void *saddr; };
int dladdr(const void *a, struct dl_info *info) {
    (void)a;
    info->fname = "/swiftlet";
    info->fbase = (void *)(uintptr_t)(SWIFTLET_GUEST_BASE + SWIFTLET_IMAGE_OFFSET);
    info->sname = 0;
    info->saddr = 0;
    return 1;
}
void *dlopen(const char *f, int m) { (void)f; (void)m; return 0; }
void *dlsym(void *h, const char *s) { (void)h; (void)s; return 0; }
char *dlerror(void) { return "no dynamic loading in a Swiftlet"; }
#define FAIL(decl) decl { errno_value = 38; return -1; }
FAIL(int open(const char *p, int f, ...))
FAIL(int close(int fd))
FAIL(long read(int fd, void *b, size_t n))
FAIL(long lseek(int fd, long o, int w))
FAIL(int stat(const char *p, void *s))
FAIL(long readlink(const char *p, char *b, size_t n))
FAIL(int dup2(int a, int b))
FAIL(int socketpair(int d, int t, int p, int *sv))
FAIL(int waitpid(int p, int *s, int o))
FAIL(int execvpe(const char *f, char *const a[], char *const e[]))
FAIL(int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...))
FAIL(int mprotect(void *a, size_t n, int p))
FAIL(long __getdelim(char **l, size_t *n, int d, FILE *f))
FAIL(int __isoc99_sscanf(const char *s, const char *f, ...))
void *mmap(void *a, size_t n, int p, int f, int fd, long o) { (void)a; (void)n; (void)p; (void)f; (void)fd; (void)o; return (void *)-1; }
void *fopen(const char *p, const char *m) { (void)p; (void)m; return 0; }
int fclose(FILE *f) { (void)f; return 0; }
char *fgets(char *s, int n, FILE *f) { (void)s; (void)n; (void)f; return 0; }
int sigaction(int s, const void *a, void *o) { (void)s; (void)a; (void)o; return 0; }
int sigaltstack(const void *s, void *o) { (void)s; (void)o; return 0; }
int sigprocmask(int h, const void *s, void *o) { (void)h; (void)s; (void)o; return 0; }
int sigemptyset(void *s) { memset(s, 0, 128); return 0; }
int sigfillset(void *s) { memset(s, 0xff, 128); return 0; }
int sigdelset(void *s, int n) { (void)s; (void)n; return 0; }
int __sigsetjmp(void *env, int save) { (void)env; (void)save; return 0; }
__attribute__((noreturn)) void siglongjmp(void *env, int v) { (void)env; (void)v; halt(134, "fullrt: siglongjmp"); }
int _Unwind_Backtrace(void *fn, void *arg) { (void)fn; (void)arg; return 5; }
uintptr_t _Unwind_GetIP(void *context) { (void)context; return 0; }

/* ---- Entry ---------------------------------------------------------------------------------- */
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main(int argc, char **argv);

__attribute__((noreturn, section(".text.swiftlet_start"))) void swiftlet_start(const struct swiftlet_boot_info *info) {
    boot = info;
    /* hvt: the stack protector of the runtime's C++ reads its canary at %fs:40; give it a
     * thread control block (spt guests run on the tender's thread, whose FS stays as it is). */
    if (info->hypercall_entry == 0) {
        static uint64_t tcb[8];
        tcb[0] = (uint64_t)(uintptr_t)tcb;
        memcpy(&tcb[5], info->random_seed + 8, 8);
        __asm__ __volatile__("wrfsbase %0" : : "r"((uint64_t)(uintptr_t)tcb) : "memory");
    }
    heap_next = info->heap_start;
    heap_end = info->heap_end;
    char *argv[65];
    int argc = 0;
    const char *p = (const char *)(uintptr_t)info->argv_block;
    for (uint32_t i = 0; i < info->argc && argc < 64; i++) { argv[argc++] = (char *)p; p += strlen(p) + 1; }
    argv[argc] = 0;
    for (void (**init)(void) = __init_array_start; init < __init_array_end; init++) (*init)();
    int status = main(argc, argv);
    halt(status, 0);
}

__attribute__((noreturn)) void fullrt_missing(const char *name) {
    console("fullrt: not in the prototype: ", 30);
    console(name, strlen(name));
    console("\n", 1);
    halt(134, "fullrt: a libc function the prototype lacks was called");
}

