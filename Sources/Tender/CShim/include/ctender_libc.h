/* ctender_libc.h — the C library as the tenders' Swift sees it without Swift's Glibc overlay
 * (the tenders are Embedded Swift, which has none; the full-Swift TenderCore uses the same
 * view): the headers, and functions for what C has as macros or variadic calls. */
#ifndef CTENDER_LIBC_H
#define CTENDER_LIBC_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* errno (a macro over __errno_location()). */
int ctender_errno(void);
void ctender_set_errno(int value);
/* The process's arguments, as main received them (kept by a constructor). */
int ctender_argc(void);
char *const *ctender_argv(void);
/* open(2) and fcntl(2) with an int argument (both variadic in C). */
int ctender_open(const char *path, int flags, unsigned int mode);
int ctender_fcntl(int fd, int command, int argument);
/* Sets (on != 0) or clears O_NONBLOCK on `fd`; 0, or -1 with errno. */
int ctender_set_nonblocking(int fd, int on);
/* socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0): glibc's socket types are an enum, musl's
 * (the tenders') plain macros, so Swift could not spell them once for both. */
int ctender_tcp_socket(void);
/* signal(signal, SIG_DFL): SIG_DFL is a cast macro. */
void ctender_signal_default(int signal);

#endif
