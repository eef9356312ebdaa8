/* fd_io.h — whole-buffer writes that retry after EINTR and short writes, for the files and
 * sockets snapshots, migration and the command-line client write; and the one way kiln opens a
 * path a user gave it (and the directory a path to be created would go in). */
#ifndef KILN_COMMON_FD_IO_H
#define KILN_COMMON_FD_IO_H
#include <stddef.h>
#include <sys/types.h>

/* Each returns 0 once all len bytes are written, or -1 with errno set. */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* send() without SIGPIPE: a vanished peer is an error, not a signal */
int fd_send_all(int fd, const void *buf, size_t len);

/* What fd_open_user may open. */
enum fd_kind { FD_REGULAR = 1, FD_BLOCKDEV = 2, FD_FIFO = 4, FD_CHARDEV = 8 };
/* Opens a path a user named (flags as for open(2); O_CLOEXEC and O_NOCTTY are added) without
 * ever waiting: a plain open() of a FIFO sleeps until the other end shows up, which hung the API
 * thread and the command line. So it opens with O_NONBLOCK, checks the file type with fstat and
 * refuses any kind not in `allowed`; then clears O_NONBLOCK again, except on a FIFO (a reader
 * that stops reading must not stall kiln). Returns the fd, or -1 with errno set and `why` holding
 * the reason for a message like "cannot open 'x': <why>" (strerror, or e.g. "it is a FIFO, not
 * a regular file"). A write-only FIFO with no reader fails with ENXIO ("it is a FIFO with no
 * reader"). */
int fd_open_user(const char *path, int flags, mode_t mode, unsigned allowed, char *why, size_t whylen);

/* The directory a file at `path` is (or would be) created in, into dir[size]: "." for a bare
 * name, "/" for a file in the root. The caller has checked that path fits in size. */
void path_parent_dir(const char *path, char *dir, size_t size);

#endif
