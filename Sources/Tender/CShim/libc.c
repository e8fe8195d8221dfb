/* libc.c — the functions declared in ctender_libc.h. */
#include "ctender_libc.h"

static int saved_argc;
static char **saved_argv;

/* glibc passes main's arguments to constructors too. */
__attribute__((constructor)) static void ctender_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int ctender_errno(void) { return errno; }
void ctender_set_errno(int value) { errno = value; }
int ctender_argc(void) { return saved_argc; }
char *const *ctender_argv(void) { return saved_argv; }
int ctender_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }
int ctender_fcntl(int fd, int command, int argument) { return fcntl(fd, command, argument); }
void ctender_signal_default(int signal_number) { signal(signal_number, SIG_DFL); }

int ctender_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}
