/* ctender_seccomp.h — what the Swift seccomp policy compiler needs from the kernel headers.
 *
 * Plain integer #defines (SYS_*, SECCOMP_RET_*, BPF_*, PR_*) import into Swift as they are;
 * the ones built from other macros with casts or `|` (AUDIT_ARCH_*) do not, so they are
 * wrapped in static inline functions here. The filter is built in Swift as an array of
 * 8-byte instructions laid out like `struct sock_filter` and handed to
 * ctender_install_seccomp().
 */
#ifndef CTENDER_SECCOMP_H
#define CTENDER_SECCOMP_H

#ifdef __linux__
#include <stdint.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

/* AUDIT_ARCH_X86_64 = EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE (does not import). */
static inline uint32_t ctender_audit_arch_x86_64(void) { return AUDIT_ARCH_X86_64; }

/* The AUDIT_ARCH_* value of the machine this was compiled for (what seccomp_data.arch holds
 * for a native system call), or 0 if unknown. */
static inline uint32_t ctender_audit_arch_native(void) {
#if defined(__x86_64__) && !defined(__ILP32__)
    return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    return AUDIT_ARCH_AARCH64;
#else
    return 0;
#endif
}

/* Set PR_SET_NO_NEW_PRIVS (required to install a filter without CAP_SYS_ADMIN).
 * Returns 0, or -errno. */
int ctender_set_no_new_privs(void);

/* Set no_new_privs, then install `filter` (count instructions) as a seccomp filter for the
 * whole process: seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC), falling back to
 * prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) on kernels without the seccomp(2) system call.
 * Returns 0, or -errno (-ESRCH if another thread could not be synchronised). */
int ctender_install_seccomp(const struct sock_filter *filter, unsigned short count);

#endif /* __linux__ */
#endif /* CTENDER_SECCOMP_H */
