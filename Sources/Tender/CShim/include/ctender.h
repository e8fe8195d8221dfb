/* ctender.h — the few kernel interfaces Swift cannot import directly: KVM ioctl request
 * macros (they use sizeof), variadic calls, and the stack switch into an spt guest. */
#ifndef CTENDER_H
#define CTENDER_H
#include <stdint.h>
#include <linux/kvm.h>

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

/* ioctl request numbers, for the seccomp allow-list */
uint64_t ctender_kvm_run_request(void);
uint64_t ctender_kvm_get_regs_request(void);
uint64_t ctender_kvm_get_sregs_request(void);

/* getrandom(2); <sys/random.h> does not import into Swift's Glibc module. */
long ctender_getrandom(void *buffer, unsigned long length);

/* ---- Network devices ---- */
/* Opens tap interface `name` (IFF_TAP | IFF_NO_PI, non-blocking); fd or -errno. */
int ctender_open_tap(const char *name);
/* ppoll(2) with a relative timeout in nanoseconds (negative: wait forever). */
int ctender_ppoll(void *fds, unsigned long count, int64_t timeout_ns);

/* ---- spt ---- */
/* Switches to `stack_top` and calls entry(boot_info); never returns. */
_Noreturn void ctender_spt_enter(uint64_t entry, uint64_t boot_info, uint64_t stack_top);

/* Machine context of a signal, for crash reports (ucontext_t is awkward from Swift). */
struct ctender_fault_context {
    uint64_t rip, rsp, rbp, fault_address;
    int signal, code;
};
void ctender_fault_context_from(void *ucontext, const void *siginfo, int signal, struct ctender_fault_context *out);

#include "ctender_seccomp.h"
#endif
