/* vsock_uds.c — the host side of virtio-vsock, as Firecracker's hybrid vsock defines it: host
 * processes reach the guest by connecting to one Unix socket (uds_path) and writing
 * "CONNECT <port>\n"; guest connections to the host's port P are forwarded to the Unix socket
 * "<uds_path>_P". All sockets are non-blocking: the I/O thread never waits on a host process. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "dev/virtio/vsock_priv.h"

static int make_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -1;
    strcpy(sa->sun_path, path);
    return 0;
}

int vsock_uds_listen(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (make_addr(&sa, path) != 0) {
        snprintf(err, errlen, "vsock: socket path %s is too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    /* a socket file left by an earlier run would make bind fail; anything else is not ours */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "vsock: %s exists and is not a socket", path);
            return -1;
        }
        if (unlink(path) != 0) {
            snprintf(err, errlen, "vsock: cannot remove stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "vsock: socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
        snprintf(err, errlen, "vsock: cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int vsock_uds_connect_port(const char *uds_path, uint32_t port)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
    snprintf(path, sizeof(path), "%s_%u", uds_path, port);
    struct sockaddr_un sa;
    if (make_addr(&sa, path) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* a Unix stream connect completes at once or fails (EAGAIN: the listener's backlog is
     * full; we treat that as a refusal rather than wait) */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void vsock_uds_accept(struct vsock_dev *d)
{
    for (unsigned i = 0; i < 64; i++) {   /* bounded: other work must not wait on a flood */
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (!vsock_conn_new(d, fd))
            close(fd);   /* too many connections: refuse this one, keep the others */
    }
}

/* Parses "CONNECT <decimal port>" (without the newline). */
static bool parse_connect(const char *line, unsigned len, uint32_t *port)
{
    static const char verb[] = "CONNECT ";
    unsigned vlen = sizeof(verb) - 1;
    if (len <= vlen || memcmp(line, verb, vlen) != 0 || len - vlen > 10)
        return false;
    uint64_t v = 0;
    for (unsigned i = vlen; i < len; i++) {
        if (line[i] < '0' || line[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(line[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *port = (uint32_t)v;
    return true;
}

/* Could `line` still grow into a CONNECT command? Lets us drop garbage before the newline. */
static bool plausible_prefix(const char *line, unsigned len)
{
    static const char verb[] = "CONNECT ";
    unsigned vlen = sizeof(verb) - 1;
    if (memcmp(line, verb, len < vlen ? len : vlen) != 0)
        return false;
    for (unsigned i = vlen; i < len; i++)
        if (line[i] < '0' || line[i] > '9')
            return false;
    return true;
}

void vsock_uds_read_command(struct vsock_dev *d, struct vsock_conn *c)
{
    /* Peek first and consume only up to the newline: bytes after it are the start of the
     * stream and must reach the guest. */
    char buf[VSOCK_CMD_MAX];
    unsigned room = VSOCK_CMD_MAX - c->cmd_len;
    ssize_t n = recv(c->fd, buf, room, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {   /* EOF or error before a full command */
        vsock_conn_kill(d, c, false);
        return;
    }
    char *nl = memchr(buf, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
    ssize_t got = recv(c->fd, c->cmd + c->cmd_len, take, 0);
    if (got != (ssize_t)take) {
        vsock_conn_kill(d, c, false);
        return;
    }
    c->cmd_len += (unsigned)take;
    uint32_t port;
    if (nl) {
        if (!parse_connect(c->cmd, c->cmd_len - 1, &port)) {
            vsock_conn_kill(d, c, false);
            return;
        }
        vsock_conn_host_connect(d, c, port);
    } else if (c->cmd_len >= VSOCK_CMD_MAX || !plausible_prefix(c->cmd, c->cmd_len)) {
        vsock_conn_kill(d, c, false);
    }
}
