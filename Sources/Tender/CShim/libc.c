/* libc.c — the functions declared in ctender_libc.h. */
#include "ctender_libc.h"
#include <stdint.h>

static int saved_argc;
static char **saved_argv;

#ifdef __GLIBC__
/* glibc passes main's arguments to constructors too. */
__attribute__((constructor)) static void ctender_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}
#else
extern char **environ;

/* musl (the tenders) calls constructors without arguments. Before main, `environ` is where
 * the kernel put the environment: right after argv's NULL, which follows argc itself (the
 * x86-64 process start-up layout). Walking back from there, argc is the first word that
 * equals the number of pointers passed; no pointer to an argument string is that small. */
__attribute__((constructor)) static void ctender_capture_arguments(void) {
    char **terminator = environ - 1;   /* argv[argc] */
    for (long count = 0; count < 1 << 20; count++) {
        if ((long)(uintptr_t)terminator[-1 - count] == count) {
            saved_argc = (int)count;
            saved_argv = terminator - count;
            return;
        }
    }
}
#endif

int ctender_errno(void) { return errno; }
void ctender_set_errno(int value) { errno = value; }
int ctender_argc(void) { return saved_argc; }
char *const *ctender_argv(void) { return saved_argv; }
int ctender_open(const char *path, int flags, unsigned int mode) { return open(path, flags, mode); }
int ctender_fcntl(int fd, int command, int argument) { return fcntl(fd, command, argument); }
int ctender_tcp_socket(void) { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }
void ctender_signal_default(int signal_number) { signal(signal_number, SIG_DFL); }

int ctender_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}
