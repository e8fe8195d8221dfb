// Shutdown signals. SIGTERM and SIGINT end a guest at once, as they end any process, unless
// the guest asked to watch for them (SWIFTLET_HC_SHUTDOWN_WATCH): then the first one is a
// request the guest sees in its poll, and the guest has the grace period to finish. A second
// signal, or the grace period's end (SIGALRM), ends it at once.
//
// All of it works under the seccomp filter, which denies rt_sigreturn, rt_sigprocmask and
// rt_sigaction (on spt the guest runs in this process, and any of them would let it block
// or ignore SIGTERM):
//  - the handlers are installed before confinement with SA_RESETHAND: the kernel itself puts
//    back the default action when a signal is first delivered, so a second signal of the
//    same kind kills the process whatever a hostile spt guest did to this process's memory;
//  - SA_NODEFER and an empty sa_mask: delivery changes no signal mask, so there is nothing
//    to restore afterwards;
//  - a handler that lets the guest go on resumes the interrupted context itself (FPU state,
//    registers, flags and rip from the signal frame), without rt_sigreturn;
//  - a handler that ends the process re-raises its (now default) signal with kill(2), which
//    the filter allows only towards this process and only for SIGTERM and SIGINT, so the
//    process ends killed by that signal, as it would without any of this (status 143 or 130
//    in a shell or container runtime);
//  - the deadline is alarm(2) with the grace period, the only argument the filter allows
//    (alarm(0) would cancel it).
// As PID 1 of a PID namespace (a container's entrypoint) the kernel drops signals whose action
// is the default, its own re-raise included, and those from outside too: there the handlers
// stay installed (no SA_RESETHAND), count the second signal themselves, and exit with status
// 128 + N, which is what the container runtime would report for a process killed by signal N.
#define _GNU_SOURCE
#include "ctender_shutdown.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static unsigned grace_seconds;
static int wake_fd = -1;
static pid_t own_pid;
static volatile sig_atomic_t watched;
static volatile sig_atomic_t requested;

_Noreturn void ctender_resume_context(void *ucontext);

static _Noreturn void die_by(int signal) {
    if (own_pid != 1) syscall(SYS_kill, (long)own_pid, (long)signal);   // its handler was reset on delivery: fatal
    for (;;) syscall(SYS_exit_group, (long)(128 + signal));
}

static void on_shutdown_signal(int signal, siginfo_t *info, void *context) {
    (void)info;
    if (!watched || requested != 0 || grace_seconds == 0) die_by(signal);
    requested = signal;
    syscall(SYS_alarm, (long)grace_seconds);
    char byte = 1;
    ssize_t ignored = write(wake_fd, &byte, 1);   // a full pipe already wakes the poll
    (void)ignored;
    ctender_resume_context(context);
}

static void on_grace_deadline(int signal, siginfo_t *info, void *context) {
    (void)signal; (void)info; (void)context;
    die_by(requested == SIGINT ? SIGINT : SIGTERM);
}

int ctender_shutdown_install(unsigned grace, int wake[2]) {
    if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) return -errno;
    grace_seconds = grace;
    wake_fd = wake[1];
    own_pid = getpid();
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | (own_pid == 1 ? 0 : SA_RESETHAND);
    action.sa_sigaction = on_shutdown_signal;
    if (sigaction(SIGTERM, &action, NULL) != 0 || sigaction(SIGINT, &action, NULL) != 0) return -errno;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    action.sa_sigaction = on_grace_deadline;
    if (sigaction(SIGALRM, &action, NULL) != 0) return -errno;
    // A launcher may have left them blocked (threads of a test runner block most signals),
    // and after confinement nothing can unblock them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGALRM);
    if (sigprocmask(SIG_UNBLOCK, &set, NULL) != 0) return -errno;
    return 0;
}

void ctender_shutdown_watch(void) { watched = 1; }
int ctender_shutdown_requested(void) { return requested; }
int ctender_shutdown_own_pid(void) { return (int)own_pid; }

// The kernel's x86-64 signal frame, as glibc's ucontext_t describes it.
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) == 40, "gregs offset");
_Static_assert(offsetof(ucontext_t, uc_mcontext.fpregs) == 224, "fpregs offset");
_Static_assert(REG_R8 == 0 && REG_RCX == 14 && REG_RSP == 15 && REG_RIP == 16 && REG_EFL == 17, "gregs order");

// ctender_resume_context(ucontext): what rt_sigreturn would do, minus the signal mask (which
// delivery left alone). The FPU/SSE/AVX state comes back with xrstor (the components the
// kernel saved, per the frame's software-reserved bytes) or fxrstor. rflags and rip are
// stored below the interrupted stack's red zone, so the last three instructions switch to
// that stack, restore the flags and return there, popping the red zone's 128 bytes as well.
// The stores come after the FPU restore: without an alternate stack (hvt) they land in the
// top of the signal frame, which holds the FPU state.
__asm__(
    ".text\n"
    ".globl ctender_resume_context\n"
    ".type ctender_resume_context, @function\n"
    "ctender_resume_context:\n"
    "    mov 224(%rdi), %rsi\n"          // fpregs
    "    test %rsi, %rsi\n"
    "    jz 2f\n"
    "    cmpl $0x46505853, 464(%rsi)\n"  // FP_XSTATE_MAGIC1: an XSAVE area
    "    jne 1f\n"
    "    mov 472(%rsi), %eax\n"          // xfeatures the kernel saved
    "    mov 476(%rsi), %edx\n"
    "    xrstor64 (%rsi)\n"
    "    jmp 2f\n"
    "1:  fxrstor64 (%rsi)\n"
    "2:  lea 40(%rdi), %rsp\n"           // gregs: popped in order below
    "    mov 120(%rsp), %rax\n"          // interrupted rsp
    "    sub $144, %rax\n"
    "    mov 136(%rsp), %rcx\n"          // rflags
    "    mov %rcx, (%rax)\n"
    "    mov 128(%rsp), %rcx\n"          // rip
    "    mov %rcx, 8(%rax)\n"
    "    mov %rax, 120(%rsp)\n"
    "    pop %r8\n    pop %r9\n    pop %r10\n    pop %r11\n"
    "    pop %r12\n    pop %r13\n    pop %r14\n    pop %r15\n"
    "    pop %rdi\n    pop %rsi\n    pop %rbp\n    pop %rbx\n"
    "    pop %rdx\n    pop %rax\n    pop %rcx\n"
    "    pop %rsp\n"
    "    popfq\n"
    "    ret $128\n"
    ".size ctender_resume_context, .-ctender_resume_context\n");
