/* fd_io.c — whole-buffer writes and opening user-named paths (see fd_io.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fd_io.h"

enum how { WRITE, PWRITE, SEND };

static int put_all(enum how how, int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = how == WRITE ? write(fd, p, len) : how == PWRITE ? pwrite(fd, p, len, off)
                                                     : send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int fd_write_all(int fd, const void *buf, size_t len) { return put_all(WRITE, fd, buf, len, 0); }
int fd_pwrite_all(int fd, const void *buf, size_t len, off_t off) { return put_all(PWRITE, fd, buf, len, off); }
int fd_send_all(int fd, const void *buf, size_t len) { return put_all(SEND, fd, buf, len, 0); }

static const char *kind_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "a regular file";
}

static bool kind_allowed(mode_t m, unsigned allowed)
{
    return (S_ISREG(m) && (allowed & FD_REGULAR)) || (S_ISBLK(m) && (allowed & FD_BLOCKDEV)) ||
           (S_ISFIFO(m) && (allowed & FD_FIFO)) || (S_ISCHR(m) && (allowed & FD_CHARDEV));
}

int fd_open_user(const char *path, int flags, mode_t mode, unsigned allowed, char *why, size_t whylen)
{
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        /* ENXIO is what a write-only open of a FIFO without a reader says: name the cause */
        if (e == ENXIO && stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
            snprintf(why, whylen, "it is a FIFO with no reader");
        else
            snprintf(why, whylen, "%s", strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(why, whylen, "%s", strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    if (!kind_allowed(st.st_mode, allowed)) {
        snprintf(why, whylen, "it is %s, not a regular file%s", kind_name(st.st_mode),
                 (allowed & FD_FIFO) ? " or a FIFO" : "");
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (!S_ISFIFO(st.st_mode) && fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

void path_parent_dir(const char *path, char *dir, size_t size)
{
    snprintf(dir, size, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
}
