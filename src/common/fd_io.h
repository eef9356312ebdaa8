/* fd_io.h — whole-buffer writes that retry after EINTR and short writes, for the files and
 * sockets snapshots, migration and the command-line client write. */
#ifndef KILN_COMMON_FD_IO_H
#define KILN_COMMON_FD_IO_H
#include <stddef.h>
#include <sys/types.h>

/* Each returns 0 once all len bytes are written, or -1 with errno set. */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* send() without SIGPIPE: a vanished peer is an error, not a signal */
int fd_send_all(int fd, const void *buf, size_t len);

#endif
