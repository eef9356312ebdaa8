/* migration_link.c — sockets and message framing for live migration (see the header). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "common/fd_io.h"
#include "common/le.h"
#include "vm/migration_link.h"

#define HEADER_LEN 16   /* "KMIG", u32 type, u64 length */

/* unix:PATH → AF_UNIX address; tcp:HOST:PORT → getaddrinfo. Returns 0 or -1 with err. */
static int resolve(const char *url, bool passive, struct sockaddr_storage *ss, socklen_t *sl, int *family,
                   char *err, size_t errlen)
{
    memset(ss, 0, sizeof(*ss));
    if (!strncmp(url, "unix:", 5)) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        const char *path = url + 5;
        if (!*path || strlen(path) >= sizeof(un->sun_path)) {
            snprintf(err, errlen, "'%s': the socket path is empty or too long", url);
            return -1;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        *sl = sizeof(*un);
        *family = AF_UNIX;
        return 0;
    }
    if (strncmp(url, "tcp:", 4)) {
        snprintf(err, errlen, "'%s' is not unix:PATH or tcp:HOST:PORT", url);
        return -1;
    }
    char host[256];
    snprintf(host, sizeof(host), "%s", url + 4);
    char *colon = strrchr(host, ':');
    if (!colon || !colon[1]) {
        snprintf(err, errlen, "'%s': expected tcp:HOST:PORT", url);
        return -1;
    }
    *colon = 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = passive ? AI_PASSIVE : 0 }, *res;
    int rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "'%s': %s", url, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    *family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r;
}

int mig_connect(const char *url, unsigned timeout_s, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int family;
    if (resolve(url, false, &ss, &sl, &family, err, errlen))
        return -1;
    /* the destination may still be setting up its listener: retry until the deadline */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
            return fd;
        int e = errno;
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((e != ENOENT && e != ECONNREFUSED) || t.tv_sec - t0.tv_sec >= (time_t)timeout_s) {
            snprintf(err, errlen, "cannot connect to %s: %s", url, strerror(e));
            return -1;
        }
        usleep(20000);
    }
}

int mig_accept(const char *url, unsigned timeout_s, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int family;
    if (resolve(url, true, &ss, &sl, &family, err, errlen))
        return -1;
    int lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_UNIX)
        unlink(url + 5);
    int fd = -1;
    if (bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 1)) {
        snprintf(err, errlen, "cannot listen on %s: %s", url, strerror(errno));
    } else if (wait_fd(lfd, POLLIN, (int)(timeout_s * 1000)) <= 0) {
        snprintf(err, errlen, "no migration arrived on %s within %u s", url, timeout_s);
    } else if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        snprintf(err, errlen, "accept on %s: %s", url, strerror(errno));
    }
    close(lfd);
    if (family == AF_UNIX)
        unlink(url + 5);
    return fd;
}

int mig_send(int fd, enum mig_msg type, const void *a, size_t alen, const void *b, size_t blen)
{
    uint8_t h[HEADER_LEN] = { 'K', 'M', 'I', 'G' };
    le_put(h + 4, (uint32_t)type, 4);
    le_put(h + 8, alen + blen, 8);
    if (fd_send_all(fd, h, HEADER_LEN))
        return -1;
    if (alen && fd_send_all(fd, a, alen))
        return -1;
    if (blen && fd_send_all(fd, b, blen))
        return -1;
    return 0;
}

static int recv_all(int fd, void *buf, size_t len, unsigned timeout_ms, char *err, size_t errlen)
{
    uint8_t *p = buf;
    while (len) {
        int r = wait_fd(fd, POLLIN, (int)timeout_ms);
        if (r == 0) {
            snprintf(err, errlen, "the peer sent nothing for %u ms", timeout_ms);
            return -1;
        }
        ssize_t n = r > 0 ? recv(fd, p, len, 0) : -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "the connection was %s", n == 0 ? "closed by the peer" : strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int mig_recv(int fd, void **buf, size_t *cap, size_t *len, unsigned timeout_ms, char *err, size_t errlen)
{
    uint8_t h[HEADER_LEN];
    if (recv_all(fd, h, HEADER_LEN, timeout_ms, err, errlen))
        return -1;
    uint32_t type = (uint32_t)le_get(h + 4, 4);
    uint64_t n = le_get(h + 8, 8);
    if (memcmp(h, "KMIG", 4) || type < MIG_HELLO || type > MIG_LAST) {
        snprintf(err, errlen, "the peer does not speak kiln's migration protocol");
        return -1;
    }
    if (n > MIG_MSG_MAX) {
        snprintf(err, errlen, "the peer sent a %llu-byte message (at most %u)", (unsigned long long)n, MIG_MSG_MAX);
        return -1;
    }
    if (n + 1 > *cap) {
        void *p = realloc(*buf, (size_t)n + 1);
        if (!p) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *buf = p;
        *cap = (size_t)n + 1;
    }
    if (recv_all(fd, *buf, (size_t)n, timeout_ms, err, errlen))
        return -1;
    ((uint8_t *)*buf)[n] = 0;   /* an ERROR's text can be printed as is */
    *len = (size_t)n;
    return (int)type;
}
