#include "run_shim.h"

extern char **environ;

static int saved_argc;
static char **saved_argv;

// glibc passes main's arguments to constructors too.
__attribute__((constructor)) static void run_shim_capture(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int run_shim_argc(void) { return saved_argc; }
char *const *run_shim_argv(void) { return saved_argv; }
char *const *run_shim_environ(void) { return environ; }
int run_shim_errno(void) { return errno; }
void run_shim_set_errno(int value) { errno = value; }
int run_shim_open(const char *path, int flags, int mode) { return open(path, flags, mode); }

int run_shim_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}
