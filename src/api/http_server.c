/* http_server.c — kiln's own HTTP/1.1 server for the API (see http_server.h).
 *
 * Why not a library: libmicrohttpd drags in GnuTLS, whose load-time initialisation alone costs
 * about 10 ms of CPU before main(), more than Firecracker's whole "API ready within 8 CPU ms"
 * budget. Firecracker has its own small server (micro_http) for the same reason; this one
 * follows its behaviour.
 *
 * One thread polls the listening socket, a wake-up eventfd and every connection (all
 * non-blocking), so the handler runs for one request at a time and a slow or stuck client only
 * ever costs its own slot. Each connection has an input buffer (the request being received, and
 * any pipelined ones after it) and an output buffer (responses the client has not read yet).
 *
 * Hostile clients (issue 11): every connection may buffer CONN_SMALL bytes of input on its own
 * (a head and a small body); a larger body must first reserve its whole size from one budget
 * shared by all connections (http_server_buffer_budget), else it is refused with 503 before it
 * arrives. At the connection limit a new client evicts the connection that has waited longest
 * without completing a request, instead of being refused: idle or trickling connections cannot
 * lock everyone else out. */
#include "api/http_server.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "api/http_parser.h"
#include "vm/logger.h"

/* Past this much unread output a connection gets no more requests parsed (backpressure: a
 * client that pipelines without reading stalls itself only); past OUT_MAX it is dropped. */
#define OUT_HIGH (64 * 1024)
#define OUT_MAX (1024 * 1024)
#define READ_CHUNK 65536
/* input any connection may hold without drawing on the shared budget: a full head and a body
 * of 8 KiB, so ordinary requests never wait for memory */
#define CONN_SMALL 16384
/* after accept() fails for lack of fds or memory: retrying at once would spin */
#define ACCEPT_BACKOFF_MS 100

struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    uint64_t discard;     /* body bytes of a refused (too large) request still to read and drop */
    bool continued;       /* "100 Continue" already sent for the request being received */
    bool eof;             /* the client will send nothing more */
    bool closing;         /* no more requests: close once the output is out (and discard done) */
    int64_t deadline;     /* CLOCK_MONOTONIC ms: dropped if still here with no progress by then */
    int64_t since;        /* accepted or last answered: the eviction order at the connection limit */
};

struct http_server {
    int listen_fd, wake_fd;
    size_t max_payload;
    size_t in_total, budget;   /* input buffer capacity of all connections, and its cap */
    http_handler_fn *fn;
    void *cls;
    pthread_t thread;
    size_t nconns;
    int64_t accept_resume;
    struct conn *conns[HTTP_CONNECTION_LIMIT];
    struct pollfd pfds[HTTP_CONNECTION_LIMIT + 2];
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

size_t http_server_buffer_budget(size_t max_payload)
{
    /* two of the largest requests at once (one being handled, one arriving), and never less
     * than a few ordinary bodies: with the default limit, 16 MiB */
    size_t two = 2 * (HTTP_MAX_HEAD + max_payload);
    return two > HTTP_MIN_BUFFER_BUDGET ? two : HTTP_MIN_BUFFER_BUDGET;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t out_pending(const struct conn *c)
{
    return c->out_len - c->out_off;
}

/* false when the connection must go: its client has left too much unread */
static bool out_append(struct conn *c, const void *p, size_t n)
{
    if (out_pending(c) + n > OUT_MAX)
        return false;
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        /* slide what is left to the front before growing */
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, out_pending(c));
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 1024;
            while (cap < c->out_len + n)
                cap *= 2;
            char *q = realloc(c->out, cap);
            if (!q)
                return false;
            c->out = q;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default:  return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

/* As Firecracker: no Content-Type/Length without a body, except that a bodiless non-204 answer
 * says "Content-Length: 0", which keep-alive clients need to find its end. */
static bool queue_response(struct conn *c, int minor, int status, const char *body, size_t len, bool keep_alive)
{
    if (status == 204)
        len = 0;
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.%d %d %s\r\nServer: kiln\r\nConnection: %s\r\n", minor, status,
                     reason(status), keep_alive ? "keep-alive" : "close");
    if (len)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: application/json\r\n");
    if (status != 204)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    return out_append(c, head, (size_t)n) && (!len || out_append(c, body, len));
}

/* msg is the parser's or a fixed text: printable ASCII without quotes, fit for JSON as is */
static bool queue_fault_status(struct conn *c, int minor, int status, const char *msg, bool keep_alive)
{
    char body[320];
    int n = snprintf(body, sizeof(body), "{\"fault_message\":\"%s\"}", msg);
    return queue_response(c, minor, status, body, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1,
                          keep_alive);
}

static bool queue_fault(struct conn *c, int minor, const char *msg, bool keep_alive)
{
    return queue_fault_status(c, minor, 400, msg, keep_alive);
}

/* Every change of an input buffer's capacity goes through here, to keep s->in_total true. */
static bool in_resize(struct http_server *s, struct conn *c, size_t cap)
{
    char *q = NULL;
    if (cap) {
        q = realloc(c->in, cap);
        if (!q)
            return false;
    } else {
        free(c->in);
    }
    s->in_total = s->in_total - c->in_cap + cap;
    c->in = q;
    c->in_cap = cap;
    return true;
}

static void consume(struct http_server *s, struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    /* a large body's reservation ends with it: the budget is for requests in progress */
    if (!c->in_len && c->in_cap > CONN_SMALL)
        in_resize(s, c, 0);
    else if (c->in_cap > CONN_SMALL && c->in_len <= CONN_SMALL)
        in_resize(s, c, CONN_SMALL);   /* shrinking: cannot fail in practice, harmless if it does */
}

/* Room for a whole request of total bytes in c's input buffer: free up to CONN_SMALL, from the
 * shared budget past that. false: the budget is spent (the caller refuses with 503). */
static bool reserve(struct http_server *s, struct conn *c, size_t total)
{
    if (total <= c->in_cap || total <= CONN_SMALL)
        return true;
    if (s->in_total - c->in_cap + total > s->budget)
        return false;
    /* one allocation of the known size: no doubling, no copies of a growing body */
    return in_resize(s, c, total);
}

/* Answers the request whose head h is at the start of c->in without running it, and reads its
 * body only to drop it: not leaving it unread, which would reset the connection under a client
 * still sending it and lose this answer, unless the client waits for 100 Continue (it then
 * sends none, and the connection closes). */
static bool refuse_body(struct http_server *s, struct conn *c, const struct http_head *h, int status, const char *msg)
{
    bool keep = h->keep_alive && !h->expect_continue;
    if (!queue_fault_status(c, h->minor, status, msg, keep))
        return false;
    size_t have = c->in_len - h->head_len;
    size_t take = h->content_length < have ? (size_t)h->content_length : have;
    consume(s, c, h->head_len + take);
    if (keep)
        c->discard = h->content_length - take;
    c->closing = !keep;
    c->continued = false;
    c->deadline = now_ms() + HTTP_CONNECTION_TIMEOUT_S * 1000;
    return true;
}

/* Parses and answers the complete requests in c->in, in order. false: drop the connection. */
static bool process(struct http_server *s, struct conn *c)
{
    while (!c->closing && !c->discard && out_pending(c) < OUT_HIGH && c->in_len) {
        struct http_head h;
        char err[160];
        enum http_parse_status st = http_parse_head(c->in, c->in_len, &h, err, sizeof(err));
        if (st == HTTP_PARSE_INCOMPLETE)
            break;
        if (st == HTTP_PARSE_ERROR) {
            /* what follows cannot be framed: answer and hang up */
            LOG_DEBUG("http: bad request: %s", err);
            c->closing = true;
            return queue_fault(c, 1, err, false);
        }
        if (h.content_length > s->max_payload) {
            /* Firecracker's micro_http message */
            snprintf(err, sizeof(err), "Request payload with size %llu is larger than the limit of %zu allowed by server.",
                     (unsigned long long)h.content_length, s->max_payload);
            if (!refuse_body(s, c, &h, 400, err))
                return false;
            continue;
        }
        size_t total = h.head_len + (size_t)h.content_length;
        if (!reserve(s, c, total)) {
            /* other connections' unfinished bodies hold the budget: this one would push kiln's
             * memory past it. Refused before its body arrives; a retry later can succeed. */
            LOG_DEBUG("http: %zu-byte request refused: %zu of %zu buffer bytes in use", total, s->in_total,
                      s->budget);
            snprintf(err, sizeof(err), "The API server is buffering other requests (%zu of %zu bytes): retry later.",
                     s->in_total, s->budget);
            if (!refuse_body(s, c, &h, 503, err))
                return false;
            continue;
        }
        if (c->in_len < total) {
            if (h.expect_continue && !c->continued) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                if (!out_append(c, cont, sizeof(cont) - 1))
                    return false;
                c->continued = true;
            }
            break;
        }
        /* the path is NUL-terminated in a copy: the request's bytes stay as they came */
        char *path = malloc(h.path_len + 1);
        if (!path)
            return false;
        memcpy(path, h.path, h.path_len);
        path[h.path_len] = '\0';
        int status = 500;
        char *resp = NULL;
        size_t resp_len = 0;
        s->fn(s->cls, h.method, path, h.content_length ? c->in + h.head_len : NULL, (size_t)h.content_length, &status,
              &resp, &resp_len);
        free(path);
        bool ok = queue_response(c, h.minor, status, resp, resp ? resp_len : 0, h.keep_alive);
        free(resp);
        if (!ok)
            return false;
        consume(s, c, total);
        c->continued = false;
        c->closing = !h.keep_alive;
        c->deadline = now_ms() + HTTP_CONNECTION_TIMEOUT_S * 1000;
        c->since = now_ms();
    }
    return true;
}

/* false: drop the connection (it is gone, or broken) */
static bool flush(struct conn *c)
{
    while (out_pending(c)) {
        ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->out_off += (size_t)n;
        /* a client reading its answers is making progress, however slowly */
        c->deadline = now_ms() + HTTP_CONNECTION_TIMEOUT_S * 1000;
    }
    c->out_off = c->out_len = 0;
    return true;
}

/* What c's input buffer may fill to now: CONN_SMALL, or a larger request's reservation. */
static size_t in_room(const struct conn *c)
{
    return c->in_cap > CONN_SMALL ? c->in_cap : CONN_SMALL;
}

static bool wants_read(const struct conn *c)
{
    if (c->eof)
        return false;
    if (c->discard)
        return true;
    return !c->closing && out_pending(c) < OUT_HIGH && c->in_len < in_room(c);
}

/* One read's worth. false: drop the connection. */
static bool readable(struct http_server *s, struct conn *c)
{
    if (!wants_read(c))
        return true;
    ssize_t n;
    if (c->discard) {
        char scratch[READ_CHUNK];
        n = read(c->fd, scratch, c->discard < sizeof(scratch) ? (size_t)c->discard : sizeof(scratch));
        if (n > 0)
            c->discard -= (uint64_t)n;
    } else {
        if (c->in_len == c->in_cap) {
            /* grows by itself only up to CONN_SMALL; past that, reserve() sized it already */
            size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
            if (cap > CONN_SMALL)
                cap = CONN_SMALL;
            if (!in_resize(s, c, cap))
                return false;
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0)
            c->in_len += (size_t)n;
    }
    if (n == 0)
        c->eof = true;
    else if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    return true;
}

/* Everything a poll result asks of one connection. false: drop it. */
static bool service(struct http_server *s, struct conn *c, short revents)
{
    if (revents & (POLLERR | POLLNVAL))
        return false;
    if ((revents & POLLOUT) && !flush(c))
        return false;
    if ((revents & (POLLIN | POLLHUP)) && !readable(s, c))
        return false;
    for (;;) {
        size_t before = c->in_len;
        uint64_t discard = c->discard;
        if (!process(s, c) || !flush(c))
            return false;
        /* sent output may have unblocked pipelined requests */
        if ((c->in_len == before && c->discard == discard) || c->closing || out_pending(c) >= OUT_HIGH)
            break;
    }
    if (c->eof && !c->closing) {
        if (c->in_len)
            LOG_DEBUG("http: client left mid-request");
        c->closing = true;
    }
    return !(c->closing && !out_pending(c) && (!c->discard || c->eof));
}

static void conn_free(struct http_server *s, struct conn *c)
{
    in_resize(s, c, 0);
    close(c->fd);
    free(c->out);
    free(c);
}

/* true when a should be evicted before b: one whose answer is still going out comes last (it
 * is about to finish, unless its client does not read), then the longest without an answer */
static bool staler(const struct conn *a, const struct conn *b)
{
    if (!out_pending(a) != !out_pending(b))
        return !out_pending(a);
    return a->since < b->since;
}

/* At the connection limit: the connection that has gone longest without a request answered
 * (idle since it connected or since its last answer, or trickling one request) makes room. A
 * client that connects and asks at once is then always served, however many connections
 * others hold open. */
static void evict_stalest(struct http_server *s)
{
    if (!s->nconns)
        return;
    size_t victim = 0;
    for (size_t i = 1; i < s->nconns; i++)
        if (staler(s->conns[i], s->conns[victim]))
            victim = i;
    LOG_DEBUG("http: %zu connections open: closing the one idle longest", s->nconns);
    conn_free(s, s->conns[victim]);
    s->conns[victim] = s->conns[--s->nconns];
}

static void accept_all(struct http_server *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                LOG_DEBUG("http: accept: %s", strerror(errno));
                s->accept_resume = now_ms() + ACCEPT_BACKOFF_MS;
            }
            return;
        }
        if (s->nconns == HTTP_CONNECTION_LIMIT)
            evict_stalest(s);
        struct conn *c = s->nconns < HTTP_CONNECTION_LIMIT ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            LOG_DEBUG("http: connection refused: %zu open", s->nconns);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->since = now_ms();
        c->deadline = c->since + HTTP_CONNECTION_TIMEOUT_S * 1000;
        s->conns[s->nconns++] = c;
    }
}

static void *server_main(void *arg)
{
    struct http_server *s = arg;
    for (;;) {
        int64_t now = now_ms(), next = -1;
        /* timed-out connections go first; the rest are compacted as they are listed */
        size_t keep = 0;
        for (size_t i = 0; i < s->nconns; i++) {
            struct conn *c = s->conns[i];
            if (now >= c->deadline) {
                LOG_DEBUG("http: connection timed out");
                conn_free(s, c);
                continue;
            }
            s->conns[keep++] = c;
            if (next < 0 || c->deadline < next)
                next = c->deadline;
        }
        s->nconns = keep;

        s->pfds[0] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
        bool listening = now >= s->accept_resume;
        s->pfds[1] = (struct pollfd){ .fd = listening ? s->listen_fd : -1, .events = POLLIN };
        if (!listening && (next < 0 || s->accept_resume < next))
            next = s->accept_resume;
        size_t npoll = s->nconns;
        for (size_t i = 0; i < npoll; i++) {
            struct conn *c = s->conns[i];
            s->pfds[i + 2] = (struct pollfd){ .fd = c->fd,
                                              .events = (short)((wants_read(c) ? POLLIN : 0) |
                                                                (out_pending(c) ? POLLOUT : 0)) };
        }
        int timeout = next < 0 ? -1 : (int)(next - now + 1);
        int n = poll(s->pfds, npoll + 2, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            LOG_ERROR("http: poll: %s", strerror(errno));
            break;
        }
        if (s->pfds[0].revents)
            break;                                  /* http_server_stop */
        for (size_t i = 0; i < npoll; i++) {
            short re = s->pfds[i + 2].revents;
            if (re && !service(s, s->conns[i], re)) {
                conn_free(s, s->conns[i]);
                s->conns[i] = NULL;
            }
        }
        keep = 0;
        for (size_t i = 0; i < s->nconns; i++)
            if (s->conns[i])
                s->conns[keep++] = s->conns[i];
        s->nconns = keep;
        /* after the others are served (an eviction reorders the list); new connections are
         * polled next round */
        if (s->pfds[1].revents)
            accept_all(s);
    }
    return NULL;
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
    s->budget = http_server_buffer_budget(max_payload);
    s->fn = fn;
    s->cls = cls;
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        seterr(err, errlen, "cannot start the API's HTTP server: eventfd: %s", strerror(errno));
        goto fail;
    }
    int e = pthread_create(&s->thread, NULL, server_main, s);
    if (e) {
        seterr(err, errlen, "cannot start the API's HTTP server thread: %s", strerror(e));
        close(s->wake_fd);
        goto fail;
    }
    pthread_setname_np(s->thread, "kiln-api");
    return s;
fail:
    close(listen_fd);
    free(s);
    return NULL;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    uint64_t one = 1;
    while (write(s->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->nconns; i++)
        conn_free(s, s->conns[i]);
    close(s->listen_fd);
    close(s->wake_fd);
    free(s);
}
