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

/* The newest modification time (ns since the epoch) of `path` and, for a folder, of every
 * file below it (links not followed); 0 if none can be read. In C because every `swiftlet
 * run` in a checkout asks it of the tender sources: here it costs a stat per file, where
 * Embedded Swift spent as much again building the paths. */
static long long newest_below(int folder_fd, int depth) {
    long long newest = 0;
    DIR *folder = fdopendir(folder_fd);
    if (folder == NULL) { close(folder_fd); return 0; }
    struct dirent *entry;
    while ((entry = readdir(folder)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        struct stat status;
        if (fstatat(dirfd(folder), entry->d_name, &status, AT_SYMLINK_NOFOLLOW) != 0) continue;
        long long time = (long long)status.st_mtim.tv_sec * 1000000000LL + status.st_mtim.tv_nsec;
        if (S_ISREG(status.st_mode) && time > newest) newest = time;
        if (S_ISDIR(status.st_mode) && depth < 32) {
            int child = openat(dirfd(folder), entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (child >= 0) {
                long long below = newest_below(child, depth + 1);
                if (below > newest) newest = below;
            }
        }
    }
    closedir(folder);
    return newest;
}

long long run_shim_newest_modification(const char *path) {
    struct stat status;
    if (stat(path, &status) != 0) return 0;
    if (!S_ISDIR(status.st_mode)) return (long long)status.st_mtim.tv_sec * 1000000000LL + status.st_mtim.tv_nsec;
    int folder = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return folder < 0 ? 0 : newest_below(folder, 0);
}
