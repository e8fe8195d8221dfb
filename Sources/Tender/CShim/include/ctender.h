/* ctender.h — the few kernel interfaces Swift cannot import directly: KVM ioctl request
 * macros (they use sizeof), variadic calls, and the stack switch into an spt guest. */
#ifndef CTENDER_H
#define CTENDER_H
#include <stdint.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <sys/user.h>

/* ---- KVM (each returns the ioctl result; -1 with errno on failure) ---- */
int ctender_kvm_api_version(int kvm);
int ctender_kvm_create_vm(int kvm);
int ctender_kvm_vcpu_mmap_size(int kvm);
int ctender_kvm_create_vcpu(int vm, int index);
int ctender_kvm_set_memory(int vm, uint32_t slot, uint64_t guest_physical, uint64_t size, void *host);
int ctender_kvm_setup_cpuid(int kvm, int vcpu);
int ctender_kvm_get_sregs(int vcpu, struct kvm_sregs *sregs);
int ctender_kvm_set_sregs(int vcpu, const struct kvm_sregs *sregs);
int ctender_kvm_get_regs(int vcpu, struct kvm_regs *regs);
int ctender_kvm_set_regs(int vcpu, const struct kvm_regs *regs);
int ctender_kvm_run(int vcpu);
int ctender_kvm_tsc_khz(int vcpu);
int ctender_kvm_get_fpu(int vcpu, struct kvm_fpu *fpu);
/* KVM_SET_GUEST_DEBUG with `control` (KVM_GUESTDBG_* bits) and no hardware breakpoints. */
int ctender_kvm_set_guest_debug(int vcpu, uint32_t control);

/* ioctl request numbers, for the seccomp allow-list */
uint64_t ctender_kvm_run_request(void);
uint64_t ctender_kvm_get_regs_request(void);
uint64_t ctender_kvm_get_sregs_request(void);
uint64_t ctender_kvm_set_regs_request(void);
uint64_t ctender_kvm_set_sregs_request(void);
uint64_t ctender_kvm_get_fpu_request(void);
uint64_t ctender_kvm_set_guest_debug_request(void);

/* --gdb: makes `fd` non-blocking and signal-driven (SIGIO to this process); the SIGIO handler
 * sets run->immediate_exit, so KVM_RUN returns EINTR when the debugger sends a byte. 0 or -1. */
int ctender_kick_vcpu_on_input(int fd, struct kvm_run *run);

/* getrandom(2); <sys/random.h> does not import into Swift's Glibc module. */
long ctender_getrandom(void *buffer, unsigned long length);

/* ---- Network devices ---- */
/* Opens tap interface `name` (IFF_TAP | IFF_NO_PI, non-blocking). With `vnet_headers` also
 * IFF_VNET_HDR, offloads off until ctender_tap_enable_offload: every read and write then
 * starts with a virtio_net_hdr of CTENDER_VNET_HEADER_SIZE bytes. fd or -errno. */
int ctender_open_tap(const char *name, bool vnet_headers);
#define CTENDER_VNET_HEADER_SIZE 10
/* TUNSETOFFLOAD with ctender_tap_offload_flags(): the kernel may then hand the tap merged TCP
 * segments and partial checksums. 0 or -errno. */
int ctender_tap_enable_offload(int fd);
/* TUNSETOFFLOAD's request number and the one argument the tender passes (for seccomp). */
uint64_t ctender_tap_offload_request(void);
uint64_t ctender_tap_offload_flags(void);
/* ppoll(2) with a relative timeout in nanoseconds (negative: wait forever). */
int ctender_ppoll(void *fds, unsigned long count, int64_t timeout_ns);

/* ---- Exitless network rings (hvt; Core/Devices/NetworkRings.swift) ---- */
/* A non-blocking eventfd, or -errno. */
int ctender_eventfd(void);
/* KVM_IOEVENTFD: an 8-byte guest store to guest-physical `address` signals `fd` inside the
 * kernel, with no exit to the tender. 0 or -1. */
int ctender_kvm_ioeventfd(int vm, uint64_t address, int fd);
/* Starts a detached thread (256 KiB stack) running body(context), once it has made its own
 * start-up system calls. 0 or an errno. */
int ctender_start_thread(void (*body)(void *), void *context);
/* How many CPUs this process may run on (sched_getaffinity; 1 if it cannot say). */
int ctender_cpus_allowed(void);
/* futex(2) operations glibc's malloc lock uses (for the allow-list). */
uint64_t ctender_futex_wait_private(void);
uint64_t ctender_futex_wake_private(void);

/* ---- Process hygiene before confinement (see Core/Boot/Confinement.swift) ---- */
/* Overwrites every environment string with zeros and empties `environ`. */
void ctender_scrub_environment(void);
/* The calling process's personality flags (personality(0xffffffff)). */
unsigned int ctender_personality(void);
/* The READ_IMPLIES_EXEC personality flag. */
unsigned int ctender_read_implies_exec(void);
/* Closes every descriptor except `keep` (count entries, any order): close_range over the
 * gaps, or close() one by one on kernels without it. Returns 0, or -errno. */
int ctender_close_all_except(const int *keep, int count);
/* Before any allocation that may outlive confinement: freeing a block will never hand memory
 * back to the kernel (glibc: no mmap, no trim, one arena; the tenders' own allocator,
 * CShimMusl/tender_heap.c, needs nothing). Returns 0, or -1. */
int ctender_heap_configure(void);
/* Just before confinement: every later allocation is served without a system call, from a
 * reserve of `bytes` taken now and left untouched (glibc: the brk heap grown once, after
 * malloc_trim gave back boot's freed pages; tender_heap.c: one mapping, after which it never
 * maps or unmaps again). Returns 0, or -1. */
int ctender_reserve_heap(unsigned long bytes);

/* offsetof(struct swiftlet_boot_info, stack_guard) (hvt points %fs there; Embedded Swift has no key paths). */
uint64_t ctender_boot_info_stack_guard_offset(void);

/* ---- spt ---- */
/* Switches to `stack_top` and calls entry(boot_info); never returns. */
_Noreturn void ctender_spt_enter(uint64_t entry, uint64_t boot_info, uint64_t stack_top);

/* The same, under --gdb: an int3 just before the jump, so the tracing tender (the debugger's
 * agent) stops the guest one step before its first instruction. */
_Noreturn void ctender_spt_enter_stopped(uint64_t entry, uint64_t boot_info, uint64_t stack_top);
/* ptrace(2), which is variadic in glibc and so does not import. */
long ctender_ptrace(long request, int pid, uint64_t address, uint64_t data);
/* spt under --gdb: where a hypercall returns to the guest, traps (int3) to the tracing agent
 * if it asked for that by setting the byte at ctender_spt_stop_request_address() in this
 * process; clears the request. Without a debugger nothing sets it. */
void ctender_spt_stop_point(void);
/* spt: the function guests find as hypercall_entry. It calls `handler` (set once, before the
 * guest runs) with the guest's stack pointer at the call: the frames below it are the tender's. */
typedef void (*ctender_spt_handler_t)(uint32_t number, uint64_t argument, uint64_t guest_stack_pointer);
void ctender_spt_set_handler(ctender_spt_handler_t handler);
void ctender_spt_hypercall(uint32_t number, uint64_t argument);
uint64_t ctender_spt_stop_request_address(void);
/* offsetof(struct user, u_debugreg[index]): where PTRACE_PEEKUSER/POKEUSER reach debug register `index`. */
long ctender_user_debug_register_offset(int index);

/* Machine context of a signal, for crash reports (ucontext_t is awkward from Swift). */
struct ctender_fault_context {
    uint64_t rip, rsp, rbp, fault_address;
    int signal, code;
    /* Every general register, in the order of Linux's struct user_regs_struct (for --core). */
    uint64_t user_regs[27];
};
/* sigaction(signal) with `handler` as sa_sigaction, SA_SIGINFO | SA_ONSTACK and an empty mask
 * (glibc and musl name the handler union's member differently). Returns 0, or -1 with errno. */
int ctender_catch_signal(int signal, void (*handler)(int signal, void *info, void *context));
void ctender_fault_context_from(void *ucontext, const void *siginfo, int signal, struct ctender_fault_context *out);

#include "ctender_seccomp.h"
#include "ctender_shutdown.h"
#include "ctender_libc.h"
#endif
