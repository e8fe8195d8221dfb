/* seccomp.c — installing a classic-BPF seccomp filter (prctl and seccomp are variadic or
 * missing from Glibc's Swift overlay, so this small part lives in C). */
#ifdef __linux__
#include "ctender_seccomp.h"

#include <errno.h>
#include <unistd.h>

int ctender_set_no_new_privs(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    return 0;
}

int ctender_install_seccomp(const struct sock_filter *filter, unsigned short count) {
    if (filter == NULL || count == 0) return -EINVAL;
    int rc = ctender_set_no_new_privs();
    if (rc != 0) return rc;

    struct sock_fprog prog = {
        .len = count,
        .filter = (struct sock_filter *)filter, /* the kernel copies it; never written */
    };
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (r == 0) return 0;
    if (r > 0) return -ESRCH; /* TSYNC: r is the id of a thread that could not be synchronised */
    if (errno != ENOSYS) return -errno;

    /* Pre-3.17 kernels: no seccomp(2), no TSYNC; applies to the calling thread only. */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return -errno;
    return 0;
}
#endif /* __linux__ */
