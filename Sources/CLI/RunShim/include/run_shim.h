// What the launcher's Embedded Swift needs from libc that does not import as is: its
// arguments and environment (no CommandLine in Embedded Swift), errno (a macro) and the
// variadic open/fcntl. Also the version string, which the launcher and the full CLI share.
#ifndef SWIFTLET_RUN_SHIM_H
#define SWIFTLET_RUN_SHIM_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SWIFTLET_VERSION "0.9.0"

int run_shim_argc(void);
char *const *run_shim_argv(void);
char *const *run_shim_environ(void);
int run_shim_errno(void);
void run_shim_set_errno(int value);
int run_shim_open(const char *path, int flags, int mode);
int run_shim_set_cloexec(int fd, int on);
long long run_shim_newest_modification(const char *path);

#endif
