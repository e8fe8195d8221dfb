/* ctender_shutdown.h — SIGTERM and SIGINT as a shutdown request the guest can watch for
 * (SWIFTLET_HC_SHUTDOWN_WATCH), under the tenders' seccomp filter. See shutdown.c. */
#ifndef CTENDER_SHUTDOWN_H
#define CTENDER_SHUTDOWN_H
#include <stdint.h>

/* Installs the handlers for SIGTERM, SIGINT and SIGALRM (the grace period's deadline). Called
 * before confinement. Creates the wake-up pipe (non-blocking, close-on-exec) into `wake`:
 * the handler writes to wake[1], and the tender's poll watches wake[0], so a request wakes a
 * sleeping guest at once. Returns 0, or -errno. */
int ctender_shutdown_install(unsigned grace_seconds, int wake[2]);
/* The guest asked to watch for shutdown: from now on the first signal is a request. */
void ctender_shutdown_watch(void);
/* The signal that requested shutdown, or 0. */
int ctender_shutdown_requested(void);
/* This process's id, as the seccomp rule for kill(2) must name it. */
int ctender_shutdown_own_pid(void);
#endif
