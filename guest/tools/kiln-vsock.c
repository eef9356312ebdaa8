/* kiln-vsock — a tiny AF_VSOCK tool for the guest, to exercise kiln's virtio-vsock device.
 *
 *   kiln-vsock listen PORT        accept one connection on port PORT (any CID), echo everything
 *                                 it sends back until it closes, exit 0
 *   kiln-vsock connect CID PORT   connect to CID:PORT, copy stdin to the socket and the socket
 *                                 to stdout; on stdin EOF shut down writing; exit when the peer
 *                                 closes
 *
 * Built static for riscv64 by the guest build: no libraries beyond libc. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>   /* after sys/socket.h: it needs struct sockaddr */
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr, "usage: kiln-vsock listen PORT\n"
                    "       kiln-vsock connect CID PORT\n");
    exit(2);
}

static unsigned parse_u32(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > UINT_MAX || s[0] == '-') {
        fprintf(stderr, "kiln-vsock: bad %s '%s'\n", what, s);
        exit(2);
    }
    return (unsigned)v;
}

/* Writes all of buf; false on error. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 1;
}

static int vsock_socket(void)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("kiln-vsock: socket(AF_VSOCK)");
        exit(1);
    }
    return fd;
}

static int do_listen(unsigned port)
{
    int ls = vsock_socket();
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1) != 0) {
        fprintf(stderr, "kiln-vsock: cannot listen on port %u: %s\n", port, strerror(errno));
        return 1;
    }
    int fd;
    while ((fd = accept(ls, NULL, NULL)) < 0) {
        if (errno != EINTR) {
            perror("kiln-vsock: accept");
            return 1;
        }
    }
    close(ls);
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("kiln-vsock: read");
            return 1;
        }
        if (n == 0)
            break;
        if (!write_all(fd, buf, (size_t)n)) {
            perror("kiln-vsock: write");
            return 1;
        }
    }
    close(fd);
    return 0;
}

static int do_connect(unsigned cid, unsigned port)
{
    int fd = vsock_socket();
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "kiln-vsock: cannot connect to %u:%u: %s\n", cid, port, strerror(errno));
        return 1;
    }
    char buf[65536];
    int stdin_open = 1;
    for (;;) {
        struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = stdin_open ? 0 : -1, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("kiln-vsock: poll");
            return 1;
        }
        if (p[0].revents) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n < 0 && errno != EINTR) {
                perror("kiln-vsock: read from socket");
                return 1;
            }
            if (n == 0)
                break;   /* the peer closed its side: done */
            if (n > 0 && !write_all(1, buf, (size_t)n)) {
                perror("kiln-vsock: write to stdout");
                return 1;
            }
        }
        if (p[1].revents) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n < 0 && errno != EINTR) {
                perror("kiln-vsock: read from stdin");
                return 1;
            }
            if (n == 0) {
                stdin_open = 0;
                shutdown(fd, SHUT_WR);
            } else if (n > 0 && !write_all(fd, buf, (size_t)n)) {
                perror("kiln-vsock: write to socket");
                return 1;
            }
        }
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);   /* a vanished peer is an error to report, not a silent death */
    if (argc == 3 && strcmp(argv[1], "listen") == 0)
        return do_listen(parse_u32(argv[2], "port"));
    if (argc == 4 && strcmp(argv[1], "connect") == 0)
        return do_connect(parse_u32(argv[2], "CID"), parse_u32(argv[3], "port"));
    usage();
}
