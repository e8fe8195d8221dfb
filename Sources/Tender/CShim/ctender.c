/* ctender.c — thin wrappers over the kernel interfaces declared in ctender.h. */
#define _GNU_SOURCE
#include "ctender.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include "swiftlet_abi.h"
#include <poll.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <ucontext.h>
#include <limits.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <linux/futex.h>

extern char **environ;

/* ioctl(2) with the request as the kernel reads it, an unsigned 32-bit number. musl declares
 * the request an int, so one with bit 31 set (every _IOR, such as KVM_GET_REGS) would reach
 * the seccomp filter sign-extended, as 0xffffffff8090ae81, and not match the allow-list's
 * KVM_GET_REGS: the tender would die of SIGSYS on its first crash report or debugger stop. */
static int kernel_ioctl(int fd, unsigned long request, const void *argument) {
    return (int)syscall(SYS_ioctl, fd, (unsigned long)(uint32_t)request, argument);
}

int ctender_kvm_api_version(int kvm) { return kernel_ioctl(kvm, KVM_GET_API_VERSION, 0); }
int ctender_kvm_create_vm(int kvm) { return kernel_ioctl(kvm, KVM_CREATE_VM, 0); }
int ctender_kvm_vcpu_mmap_size(int kvm) { return kernel_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0); }
int ctender_kvm_create_vcpu(int vm, int index) { return kernel_ioctl(vm, KVM_CREATE_VCPU, (void *)(uintptr_t)index); }

int ctender_kvm_set_memory(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host) {
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .flags = 0,
        .guest_phys_addr = guest_physical,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    return kernel_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region);
}

/* The host has ~75 supported leaves; start big enough to avoid the E2BIG retry. */
int ctender_kvm_setup_cpuid(int kvm, int vcpu) {
    int entries = 128;
    for (int attempt = 0; attempt < 4; attempt++, entries *= 2) {
        size_t size = sizeof(struct kvm_cpuid2) + (size_t)entries * sizeof(struct kvm_cpuid_entry2);
        struct kvm_cpuid2 *cpuid = calloc(1, size);
        if (!cpuid) return -1;
        cpuid->nent = (uint32_t)entries;
        int r = kernel_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid);
        if (r == 0) r = kernel_ioctl(vcpu, KVM_SET_CPUID2, cpuid);
        int saved = errno;
        free(cpuid);
        if (r == 0 || saved != E2BIG) { errno = saved; return r; }
    }
    return -1;
}

int ctender_kvm_get_sregs(int vcpu, struct kvm_sregs *sregs) { return kernel_ioctl(vcpu, KVM_GET_SREGS, sregs); }
int ctender_kvm_set_sregs(int vcpu, const struct kvm_sregs *sregs) { return kernel_ioctl(vcpu, KVM_SET_SREGS, sregs); }
int ctender_kvm_get_regs(int vcpu, struct kvm_regs *regs) { return kernel_ioctl(vcpu, KVM_GET_REGS, regs); }
int ctender_kvm_set_regs(int vcpu, const struct kvm_regs *regs) { return kernel_ioctl(vcpu, KVM_SET_REGS, regs); }
int ctender_kvm_run(int vcpu) { return kernel_ioctl(vcpu, KVM_RUN, 0); }
int ctender_kvm_get_fpu(int vcpu, struct kvm_fpu *fpu) { return kernel_ioctl(vcpu, KVM_GET_FPU, fpu); }

int ctender_kvm_set_guest_debug(int vcpu, uint32_t control) {
    struct kvm_guest_debug debug;
    memset(&debug, 0, sizeof debug);
    debug.control = control;
    return kernel_ioctl(vcpu, KVM_SET_GUEST_DEBUG, &debug);
}
int ctender_kvm_tsc_khz(int vcpu) { return kernel_ioctl(vcpu, KVM_GET_TSC_KHZ, 0); }

uint64_t ctender_kvm_run_request(void) { return KVM_RUN; }
uint64_t ctender_kvm_get_regs_request(void) { return KVM_GET_REGS; }
uint64_t ctender_kvm_get_sregs_request(void) { return KVM_GET_SREGS; }
uint64_t ctender_kvm_set_regs_request(void) { return KVM_SET_REGS; }
uint64_t ctender_kvm_set_sregs_request(void) { return KVM_SET_SREGS; }
uint64_t ctender_kvm_get_fpu_request(void) { return KVM_GET_FPU; }
uint64_t ctender_kvm_set_guest_debug_request(void) { return KVM_SET_GUEST_DEBUG; }

/* --gdb: the debugger's bytes interrupt KVM_RUN. SIGIO (O_ASYNC) arrives when the client sends
 * anything; the handler sets immediate_exit, so a KVM_RUN in progress or the next one returns
 * EINTR at once and the tender looks for the client's Ctrl-C. No SA_RESTART: a read or ppoll
 * the signal interrupts returns EINTR, which the callers retry. */
static struct kvm_run *volatile kicked_run;

static void kick_vcpu(int signal) {
    (void)signal;
    if (kicked_run) kicked_run->immediate_exit = 1;
}

int ctender_kick_vcpu_on_input(int fd, struct kvm_run *run) {
    kicked_run = run;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = kick_vcpu;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGIO, &action, NULL) != 0) return -1;
    /* A launcher may have left SIGIO blocked (the test runner's children get it so): then no
     * Ctrl-C would ever reach the vCPU. */
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGIO);
    if (sigprocmask(SIG_UNBLOCK, &io, NULL) != 0) return -1;
    if (fcntl(fd, F_SETOWN, getpid()) != 0) return -1;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK) != 0) return -1;
    return 0;
}

long ctender_getrandom(void *buffer, unsigned long length) { return getrandom(buffer, length, 0); }

int ctender_open_tap(const char *name, bool vnet_headers) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_headers ? IFF_VNET_HDR : 0);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int size = CTENDER_VNET_HEADER_SIZE;
    /* A tap some earlier user left with offloads on would send this guest merged frames. */
    if (kernel_ioctl(fd, TUNSETIFF, &request) < 0 || kernel_ioctl(fd, TUNSETOFFLOAD, 0) < 0
        || (vnet_headers && kernel_ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

/* The ABI's offload metadata is virtio_net_hdr, field for field and value for value. */
_Static_assert(sizeof(struct virtio_net_hdr) == CTENDER_VNET_HEADER_SIZE, "virtio_net_hdr size");
_Static_assert(sizeof(struct swiftlet_net_offload) == sizeof(struct virtio_net_hdr), "offload metadata layout");
_Static_assert(offsetof(struct swiftlet_net_offload, csum_offset) == offsetof(struct virtio_net_hdr, csum_offset), "offload metadata layout");
_Static_assert(SWIFTLET_NET_OFFLOAD_NEEDS_CSUM == VIRTIO_NET_HDR_F_NEEDS_CSUM, "NEEDS_CSUM");
_Static_assert(SWIFTLET_NET_OFFLOAD_DATA_VALID == VIRTIO_NET_HDR_F_DATA_VALID, "DATA_VALID");
_Static_assert(SWIFTLET_NET_GSO_NONE == VIRTIO_NET_HDR_GSO_NONE, "GSO_NONE");
_Static_assert(SWIFTLET_NET_GSO_TCPV4 == VIRTIO_NET_HDR_GSO_TCPV4, "GSO_TCPV4");

uint64_t ctender_tap_offload_request(void) { return TUNSETOFFLOAD; }
/* The guest stack speaks IPv4 only: merged TCP/IPv4 segments and partial checksums. */
uint64_t ctender_tap_offload_flags(void) { return TUN_F_CSUM | TUN_F_TSO4; }

int ctender_tap_enable_offload(int fd) {
    return kernel_ioctl(fd, TUNSETOFFLOAD, (void *)(uintptr_t)ctender_tap_offload_flags()) < 0 ? -errno : 0;
}

int ctender_ppoll(void *fds, unsigned long count, int64_t timeout_ns) {
    struct timespec timeout = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
    return ppoll((struct pollfd *)fds, count, timeout_ns < 0 ? NULL : &timeout, NULL);
}

_Noreturn void ctender_spt_enter(uint64_t entry, uint64_t boot_info, uint64_t stack_top) {
    __asm__ __volatile__(
        "mov %2, %%rsp\n\t"
        "xor %%ebp, %%ebp\n\t"
        "push %%rbp\n\t"          /* fake return address: keeps the ABI's entry alignment */
        "jmp *%0\n\t"
        : : "r"(entry), "D"(boot_info), "r"(stack_top) : "memory");
    __builtin_unreachable();
}

_Noreturn void ctender_spt_enter_stopped(uint64_t entry, uint64_t boot_info, uint64_t stack_top) {
    __asm__ __volatile__(
        "mov %2, %%rsp\n\t"
        "xor %%ebp, %%ebp\n\t"
        "push %%rbp\n\t"
        "int3\n\t"              /* the tracer takes over here, one step before the guest */
        "jmp *%0\n\t"
        : : "r"(entry), "D"(boot_info), "r"(stack_top) : "memory");
    __builtin_unreachable();
}

volatile uint8_t ctender_spt_stop_requested;

void ctender_spt_stop_point(void) {
    if (ctender_spt_stop_requested) {
        ctender_spt_stop_requested = 0;
        __asm__ __volatile__("int3");
    }
}

uint64_t ctender_spt_stop_request_address(void) { return (uint64_t)(uintptr_t)&ctender_spt_stop_requested; }

long ctender_user_debug_register_offset(int index) { return (long)offsetof(struct user, u_debugreg[index]); }

long ctender_ptrace(long request, int pid, uint64_t address, uint64_t data) {
    return ptrace((int)request,   /* glibc declares an enum, musl an int */
                   pid, (void *)(uintptr_t)address, (void *)(uintptr_t)data);
}

int ctender_catch_signal(int signal, void (*handler)(int, void *, void *)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = (void (*)(int, siginfo_t *, void *))handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    return sigaction(signal, &action, NULL);
}

void ctender_fault_context_from(void *ucontext, const void *siginfo, int signal, struct ctender_fault_context *out) {
    const ucontext_t *context = ucontext;
    const siginfo_t *info = siginfo;
    out->rip = (uint64_t)context->uc_mcontext.gregs[REG_RIP];
    out->rsp = (uint64_t)context->uc_mcontext.gregs[REG_RSP];
    out->rbp = (uint64_t)context->uc_mcontext.gregs[REG_RBP];
    out->fault_address = (uint64_t)(uintptr_t)info->si_addr;
    out->signal = signal;
    out->code = info->si_code;
    /* user_regs_struct order; -1 marks orig_rax as "not in a system call"; fs_base unknown. */
    const greg_t *g = context->uc_mcontext.gregs;
    const int order[] = { REG_R15, REG_R14, REG_R13, REG_R12, REG_RBP, REG_RBX, REG_R11, REG_R10,
                          REG_R9, REG_R8, REG_RAX, REG_RCX, REG_RDX, REG_RSI, REG_RDI };
    for (int i = 0; i < 15; i++) out->user_regs[i] = (uint64_t)g[order[i]];
    out->user_regs[15] = UINT64_MAX;
    out->user_regs[16] = (uint64_t)g[REG_RIP];
    out->user_regs[17] = (uint64_t)g[REG_CSGSFS] & 0xffff;
    out->user_regs[18] = (uint64_t)g[REG_EFL];
    out->user_regs[19] = (uint64_t)g[REG_RSP];
    out->user_regs[20] = ((uint64_t)g[REG_CSGSFS] >> 48) & 0xffff;   /* ss (kernels with UC_SIGCONTEXT_SS) */
    for (int i = 21; i < 27; i++) out->user_regs[i] = 0;
}

void ctender_scrub_environment(void) {
    if (environ) {
        for (char **entry = environ; *entry; entry++) memset(*entry, 0, strlen(*entry));
        environ[0] = NULL;
    }
}

unsigned int ctender_personality(void) { return (unsigned int)personality(0xffffffff); }
unsigned int ctender_read_implies_exec(void) { return READ_IMPLIES_EXEC; }

static int close_range_or_loop(unsigned int first, unsigned int last) {
    if (first > last) return 0;
    if (syscall(SYS_close_range, first, last, 0) == 0) return 0;
    if (errno != ENOSYS) return -errno;
    struct rlimit limit;
    unsigned int end = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 1u << 20
        ? (unsigned int)limit.rlim_cur : 1u << 20;
    for (unsigned int fd = first; fd <= last && fd < end; fd++) close((int)fd);
    return 0;
}

int ctender_close_all_except(const int *keep, int count) {
    unsigned int next = 0;   /* lowest descriptor not yet dealt with */
    for (;;) {
        /* the smallest kept descriptor >= next */
        long kept = -1;
        for (int i = 0; i < count; i++) {
            if (keep[i] >= 0 && (unsigned int)keep[i] >= next && (kept < 0 || keep[i] < kept)) kept = keep[i];
        }
        if (kept < 0) return close_range_or_loop(next, UINT_MAX);
        if ((unsigned int)kept > next) {
            int r = close_range_or_loop(next, (unsigned int)kept - 1);
            if (r != 0) return r;
        }
        if ((unsigned int)kept == UINT_MAX) return 0;
        next = (unsigned int)kept + 1;
    }
}

/* The ABI version this tender speaks, as an ELF note the launcher reads without running us
 * (swiftlet_abi.h, SWIFTLET_NOTE_TENDER). */
#include "swiftlet_abi.h"
__attribute__((section(".note.swiftlet.tender"), used, aligned(4)))
static const struct {
    uint32_t namesz, descsz, type;
    char name[12];
    uint32_t abi_version;
} ctender_abi_note = {
    .namesz = sizeof(SWIFTLET_NOTE_NAME),
    .descsz = sizeof(uint32_t),
    .type = SWIFTLET_NOTE_TENDER,
    .name = SWIFTLET_NOTE_NAME,
    .abi_version = SWIFTLET_ABI_VERSION,
};

static ctender_spt_handler_t spt_handler;

void ctender_spt_set_handler(ctender_spt_handler_t handler) { spt_handler = handler; }

__attribute__((noinline)) void ctender_spt_hypercall(uint32_t number, uint64_t argument) {
    /* Above our saved frame pointer and return address: the caller's stack pointer before its
     * call instruction. */
    uint64_t guest_stack_pointer = (uint64_t)(uintptr_t)__builtin_frame_address(0) + 16;
    spt_handler(number, argument, guest_stack_pointer);
}

uint64_t ctender_boot_info_stack_guard_offset(void) { return offsetof(struct swiftlet_boot_info, stack_guard); }

/* ---- Exitless network rings (hvt) ---- */
int ctender_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd >= 0 ? fd : -errno;
}

int ctender_kvm_ioeventfd(int vm, uint64_t address, int fd) {
    struct kvm_ioeventfd request = { .addr = address, .len = 8, .fd = fd };
    return kernel_ioctl(vm, KVM_IOEVENTFD, &request);
}

struct thread_start {
    void (*body)(void *);
    void *context;
    int started;
};

static void *thread_trampoline(void *argument) {
    struct thread_start *start = argument;
    void (*body)(void *) = start->body;
    void *context = start->context;
    __atomic_store_n(&start->started, 1, __ATOMIC_RELEASE);  /* `start` is gone after this */
    body(context);
    return NULL;
}

int ctender_start_thread(void (*body)(void *), void *context) {
    pthread_attr_t attributes;
    if (pthread_attr_init(&attributes) != 0) return EINVAL;
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 256 * 1024);
    struct thread_start start = { body, context, 0 };
    pthread_t thread;
    int r = pthread_create(&thread, &attributes, thread_trampoline, &start);
    pthread_attr_destroy(&attributes);
    /* A new thread's own start-up system calls (rseq, its robust list) come when it first runs:
     * wait for them here, before the seccomp filter that would refuse them goes on. */
    while (r == 0 && !__atomic_load_n(&start.started, __ATOMIC_ACQUIRE)) sched_yield();
    return r;
}

int ctender_cpus_allowed(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

uint64_t ctender_futex_wait_private(void) { return FUTEX_WAIT | FUTEX_PRIVATE_FLAG; }
uint64_t ctender_futex_wake_private(void) { return FUTEX_WAKE | FUTEX_PRIVATE_FLAG; }
