/* fd_io.c — whole-buffer writes (see fd_io.h). */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
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
