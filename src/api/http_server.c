/* http_server.c — libmicrohttpd glue for the API (see http_server.h). */
#include "api/http_server.h"
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "vm/logger.h"

struct http_server {
    struct MHD_Daemon *daemon;
    int listen_fd;
    size_t max_payload;
    http_handler_fn *fn;
    void *cls;
};

/* One request's body as it arrives. Past the limit the rest is read and dropped, only counted,
 * so the client (which is still sending) gets the 400 instead of a reset connection. */
struct request {
    char *buf;
    size_t len;
    uint64_t total;
    bool too_large;
};

static int seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int http_listen_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!*path)
        return seterr(err, errlen, "the API socket path is empty");
    if (strlen(path) >= sizeof(sa.sun_path))
        return seterr(err, errlen, "API socket path %s is too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return seterr(err, errlen, "cannot use %s as the API socket: it exists and is not a socket", path);
        /* a socket file nobody listens on is left over from a previous run: replace it; one
         * that answers belongs to a live process, which must keep it */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (probe >= 0)
            close(probe);
        if (live)
            return seterr(err, errlen, "cannot use %s as the API socket: another process is listening on it", path);
        if (unlink(path) && errno != ENOENT)
            return seterr(err, errlen, "cannot remove the stale API socket %s: %s", path, strerror(errno));
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return seterr(err, errlen, "cannot create the API socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, SOMAXCONN)) {
        int e = errno;
        close(fd);
        return seterr(err, errlen, "cannot bind the API socket %s: %s", path, strerror(e));
    }
    return fd;
}

static enum MHD_Result send_response(struct MHD_Connection *c, int status, char *body, size_t len)
{
    struct MHD_Response *resp = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
                                     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (body)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq) {
        /* first call: headers only; the body (if any) follows in later calls */
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        rq->total += n;
        if (!rq->too_large && rq->len + n <= s->max_payload) {
            if (!rq->buf && !(rq->buf = malloc(s->max_payload ? s->max_payload : 1)))
                return MHD_NO;
            memcpy(rq->buf + rq->len, upload, n);
            rq->len += n;
        } else {
            rq->too_large = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    int status = 400;
    char *body = NULL;
    size_t len = 0;
    if (rq->too_large) {
        /* Firecracker's micro_http message */
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "{\"fault_message\":\"Request payload with size %llu is larger than the limit of %zu allowed by "
                 "server.\"}", (unsigned long long)rq->total, s->max_payload);
        body = strdup(msg);
        len = body ? strlen(body) : 0;
    } else {
        s->fn(s->cls, method, url, rq->buf, rq->len, &status, &body, &len);
    }
    return send_response(c, status, body, len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct request *rq = *con_cls;
    if (rq) {
        free(rq->buf);
        free(rq);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's complaints (bad requests, dropped connections) are a client's doing: debug */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    LOG_DEBUG("http: %s", line);
}

struct http_server *http_server_start(int listen_fd, size_t max_payload, http_handler_fn *fn, void *cls, char *err,
                                      size_t errlen)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        seterr(err, errlen, "out of memory");
        close(listen_fd);
        return NULL;
    }
    s->listen_fd = listen_fd;
    s->max_payload = max_payload;
    s->fn = fn;
    s->cls = cls;
    /* one polling thread (epoll where available): requests are handled one at a time, so the
     * controller sees them in order, while slow or idle clients cost a slot, not the thread */
    s->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 on_request, s,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONNECTION_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTION_LIMIT,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        seterr(err, errlen, "cannot start the API's HTTP server");
        close(listen_fd);
        free(s);
        return NULL;
    }
    return s;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    /* MHD_stop_daemon closes the listen socket it was given */
    free(s);
}
