/* net_slirp.c — user-mode networking through libslirp: a NAT that terminates the guest's TCP/UDP
 * in host sockets, plus slirp's own ARP, DHCP, DNS forwarding and IPv6 router advertisements.
 * Addresses are QEMU's -netdev user defaults so guest images configured for QEMU just work.
 *
 * libslirp is driven entirely from the device's I/O thread: its sockets are (re)collected every
 * loop iteration with slirp_pollfds_fill, its timers are kept here and run after poll(). */
#include <errno.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "backend/net_backend.h"

struct slirp_timer {
    struct slirp_timer *next;
    SlirpTimerId id;            /* timer_new_opaque timers: run with slirp_handle_timer */
    SlirpTimerCb cb;            /* timer_new timers: run the callback */
    void *cb_opaque;
    int64_t expire_ms;          /* -1: not armed */
};

struct net_slirp {
    struct net_backend be;      /* first: the device holds a struct net_backend * */
    Slirp *slirp;
    struct slirp_timer *timers;
    bool want_rx;               /* during poll_fill: mask out input events */
};

static int64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ---- libslirp callbacks */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    s->be.rx(s->be.rx_opaque, NULL, buf, len);
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "kiln: virtio-net (user): guest network error: %s\n", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return clock_ns();
}

static struct slirp_timer *timer_add(struct net_slirp *s, SlirpTimerId id, SlirpTimerCb cb, void *cb_opaque)
{
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    *t = (struct slirp_timer){ .next = s->timers, .id = id, .cb = cb, .cb_opaque = cb_opaque, .expire_ms = -1 };
    s->timers = t;
    return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    return timer_add(opaque, SLIRP_TIMER_NUM, cb, cb_opaque);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    return timer_add(opaque, id, NULL, cb_opaque);
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *s = opaque;
    for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = (*p)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    ((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

/* We collect slirp's descriptors afresh every iteration, so there is nothing to register, and
 * slirp only runs on our thread, so a notify needs no wake-up: the next fill sees the change. */
static void cb_register_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
static void cb_unregister_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
static void cb_notify(void *opaque) { (void)opaque; }

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- poll integration */

struct poll_ctx {
    struct net_slirp *s;
    struct pollset *ps;
};

static int cb_add_poll(int fd, int events, void *opaque)
{
    struct poll_ctx *c = opaque;
    if (!c->s->want_rx)
        events &= ~(SLIRP_POLL_IN | SLIRP_POLL_PRI);   /* host data waits in the socket buffers */
    short pe = (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) | ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
                       ((events & SLIRP_POLL_PRI) ? POLLPRI : 0) | ((events & SLIRP_POLL_ERR) ? POLLERR : 0) |
                       ((events & SLIRP_POLL_HUP) ? POLLHUP : 0));
    return pollset_add(c->ps, fd, pe);
}

static int cb_get_revents(int idx, void *opaque)
{
    struct poll_ctx *c = opaque;
    if (idx < 0 || (unsigned)idx >= c->ps->n)
        return 0;
    short r = c->ps->fds[idx].revents;
    return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
           ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & (POLLERR | POLLNVAL)) ? SLIRP_POLL_ERR : 0) |
           ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

static void slirp_poll_fill(struct net_backend *be, struct pollset *ps, int *timeout_ms, bool want_rx)
{
    struct net_slirp *s = (struct net_slirp *)be;
    int64_t now_ms = clock_ns() / 1000000;
    uint32_t timeout = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
    for (struct slirp_timer *t = s->timers; t; t = t->next) {
        if (t->expire_ms < 0)
            continue;
        int64_t left = t->expire_ms - now_ms;
        if (left < 0)
            left = 0;
        if ((uint64_t)left < timeout)
            timeout = (uint32_t)left;
    }
    s->want_rx = want_rx;
    struct poll_ctx c = { s, ps };
    slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, &c);
    *timeout_ms = timeout > (uint32_t)INT32_MAX ? -1 : (int)timeout;
}

static void run_expired_timers(struct net_slirp *s)
{
    int64_t now_ms = clock_ns() / 1000000;
    /* A timer callback may free or re-arm timers: restart the walk after each one. */
    for (bool ran = true; ran;) {
        ran = false;
        for (struct slirp_timer *t = s->timers; t; t = t->next) {
            if (t->expire_ms < 0 || t->expire_ms > now_ms)
                continue;
            t->expire_ms = -1;
            if (t->cb)
                t->cb(t->cb_opaque);
            else
                slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
            ran = true;
            break;
        }
    }
}

static void slirp_poll_dispatch(struct net_backend *be, struct pollset *ps, bool poll_error)
{
    struct net_slirp *s = (struct net_slirp *)be;
    struct poll_ctx c = { s, ps };
    slirp_pollfds_poll(s->slirp, poll_error, cb_get_revents, &c);
    run_expired_timers(s);
}

static int slirp_send(struct net_backend *be, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    struct net_slirp *s = (struct net_slirp *)be;
    (void)hdr;   /* slirp computes and checks checksums itself: no offloads */
    if (len > INT32_MAX)
        return -1;
    slirp_input(s->slirp, frame, (int)len);
    return 0;
}

static void slirp_destroy(struct net_backend *be)
{
    struct net_slirp *s = (struct net_slirp *)be;
    if (s->slirp)
        slirp_cleanup(s->slirp);
    while (s->timers) {   /* slirp_cleanup frees its timers; be safe about any left behind */
        struct slirp_timer *t = s->timers;
        s->timers = t->next;
        free(t);
    }
    free(s);
}

static const struct net_backend_ops slirp_ops = {
    .name = "user",
    .send = slirp_send,
    .poll_fill = slirp_poll_fill,
    .poll_dispatch = slirp_poll_dispatch,
    .destroy = slirp_destroy,
};

/* ---- creation */

static struct in_addr ip4(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static struct in6_addr ip6(const char *s)
{
    struct in6_addr a;
    inet_pton(AF_INET6, s, &a);
    return a;
}

static int add_hostfwd(struct net_slirp *s, const struct hostfwd *f, char *err, size_t errlen)
{
    const char *proto = f->udp ? "udp" : "tcp";
    const char *host = f->host_addr[0] ? f->host_addr : "127.0.0.1";
    const char *guest = f->guest_addr[0] ? f->guest_addr : "10.0.2.15";
    struct in_addr host_addr, guest_addr;
    if (inet_pton(AF_INET, host, &host_addr) != 1) {
        snprintf(err, errlen, "host forward %s:%s:%u: not an IPv4 address: %s", proto, host, f->host_port, host);
        return -1;
    }
    if (inet_pton(AF_INET, guest, &guest_addr) != 1) {
        snprintf(err, errlen, "host forward %s:%s:%u: not an IPv4 guest address: %s", proto, host, f->host_port, guest);
        return -1;
    }
    errno = 0;
    if (slirp_add_hostfwd(s->slirp, f->udp, host_addr, f->host_port, guest_addr, f->guest_port) < 0) {
        snprintf(err, errlen, "cannot forward host port %s:%s:%u to guest %s:%u: %s", proto, host, f->host_port,
                 guest, f->guest_port, errno ? strerror(errno) : "the port cannot be bound");
        return -1;
    }
    return 0;
}

struct net_backend *net_slirp_create(const struct net_options *opts, net_backend_rx_fn *rx, void *rx_opaque,
                                     char *err, size_t errlen)
{
    struct net_slirp *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->be = (struct net_backend){ .ops = &slirp_ops, .rx = rx, .rx_opaque = rx_opaque };
    s->want_rx = true;
    SlirpConfig cfg = {
        .version = 4,
        .restricted = 0,
        .in_enabled = true,
        .vnetwork = ip4("10.0.2.0"),
        .vnetmask = ip4("255.255.255.0"),
        .vhost = ip4("10.0.2.2"),
        .in6_enabled = true,
        .vprefix_addr6 = ip6("fec0::"),
        .vprefix_len = 64,
        .vhost6 = ip6("fec0::2"),
        .vdhcp_start = ip4("10.0.2.15"),
        .vnameserver = ip4("10.0.2.3"),
        .vnameserver6 = ip6("fec0::3"),
    };
    s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
    if (!s->slirp) {
        snprintf(err, errlen, "cannot start user-mode networking (libslirp %s)", slirp_version_string());
        slirp_destroy(&s->be);
        return NULL;
    }
    for (unsigned i = 0; i < opts->nhostfwd && i < KILN_MAX_HOSTFWD; i++) {
        if (add_hostfwd(s, &opts->hostfwd[i], err, errlen) != 0) {
            slirp_destroy(&s->be);
            return NULL;
        }
    }
    return &s->be;
}
