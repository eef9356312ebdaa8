/* net_slirp.c — user-mode networking through libslirp: a NAT that terminates the guest's TCP/UDP
 * in host sockets, plus slirp's own ARP, DHCP, DNS forwarding and IPv6 router advertisements.
 * Addresses are QEMU's -netdev user defaults so guest images configured for QEMU just work.
 *
 * libslirp is driven entirely from the device's I/O thread: its sockets are (re)collected every
 * loop iteration with slirp_pollfds_fill, its timers are kept here and run after poll().
 *
 * Offloads: the device offers checksum and TCP segmentation offload so that the guest (whose
 * every instruction kiln interprets) does not checksum and segment its own stream. slirp knows
 * nothing of virtio-net headers, so the work the guest left is finished here, in host code:
 * partial checksums are completed, and a TSO frame becomes either one large IPv4 TCP segment
 * (slirp's TCP takes a segment larger than its MSS like any receiver; it is bounded by the
 * window slirp advertised, and one large segment costs one send() to the host socket and one
 * ACK back to the guest instead of ~45) or, for IPv6 (slirp rejects IPv6 packets beyond its
 * MTU), MSS-sized segments. Frames slirp sends to the guest carry correct checksums, which is
 * what VIRTIO_NET_HDR_F_DATA_VALID tells a guest that negotiated VIRTIO_NET_F_GUEST_CSUM. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

#define ETH_HEADER 14
#define SLIRP_MAX_FRAME (ETH_HEADER + 65535 + 4)   /* a 64 KiB IP packet, Ethernet and VLAN headers */

struct net_slirp {
    struct net_backend be;      /* first: the device holds a struct net_backend * */
    Slirp *slirp;
    struct slirp_timer *timers;
    bool want_rx;               /* during poll_fill: mask out input events */
    uint8_t frame[SLIRP_MAX_FRAME];   /* a tx frame being finished (offloads) */
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
    /* slirp computes every checksum of what it sends: the guest need not check them again */
    static const struct virtio_net_hdr_v1 valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
    struct net_slirp *s = opaque;
    s->be.rx(s->be.rx_opaque, &valid, buf, len);
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

/* ---- offloads (see the top of the file) */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* One's complement sum (RFC 1071) of len bytes added to sum; byte-order independent, so the
 * words are added in host order and the folded result is stored back with memcpy. Only the
 * last piece of a checksummed range may have an odd length. */
static uint64_t csum_add(const uint8_t *p, size_t len, uint64_t sum)
{
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        sum += (uint32_t)w;
        sum += w >> 32;
    }
    for (; len >= 2; p += 2, len -= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
    }
    if (len) {   /* pad with a zero byte, in memory order */
        uint8_t last[2] = { *p, 0 };
        uint16_t w;
        memcpy(&w, last, 2);
        sum += w;
    }
    return sum;
}

static void csum_store(uint8_t *field, uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    memcpy(field, &c, 2);
}

/* A 16-bit value in network order, as csum_add would have read it from memory. */
static uint64_t csum_word(uint16_t v)
{
    uint8_t b[2];
    put16(b, v);
    uint16_t w;
    memcpy(&w, b, 2);
    return w;
}

static void input(struct net_slirp *s, const uint8_t *frame, size_t len)
{
    slirp_input(s->slirp, frame, (int)len);
}

/* VIRTIO_NET_HDR_F_NEEDS_CSUM without segmentation: the checksum of [csum_start, len) goes at
 * csum_start + csum_offset, whose field already holds the pseudo-header sum (virtio 1.x
 * §5.1.6.2). */
static int finish_checksum(struct net_slirp *s, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    size_t start = hdr->csum_start, field = start + hdr->csum_offset;
    if (start >= len || field + 2 > len)
        return -1;
    memcpy(s->frame, frame, len);
    csum_store(s->frame + field, csum_add(s->frame + start, len - start, 0));
    input(s, s->frame, len);
    return 0;
}

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

/* A TSO frame (Ethernet, IPv4 or IPv6 without extension headers, TCP): cut its payload into
 * pieces of at most `seg` bytes, each sent with its own IP length (and IPv4 id), sequence
 * number, flags (FIN and PSH only on the last, CWR only on the first) and checksums, which are
 * computed afresh rather than trusting the guest's partial sums. */
static int segment_tcp(struct net_slirp *s, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    unsigned gso = hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    const size_t l3 = ETH_HEADER;
    if (len < l3 + 40 || hdr->gso_size == 0)
        return -1;
    bool v4 = gso == VIRTIO_NET_HDR_GSO_TCPV4;
    size_t iphl;
    if (v4) {
        iphl = (size_t)(frame[l3] & 0xf) * 4;
        if (get16(frame + 12) != 0x0800 || frame[l3] >> 4 != 4 || iphl < 20 || frame[l3 + 9] != IPPROTO_TCP)
            return -1;
    } else {
        iphl = 40;
        if (get16(frame + 12) != 0x86dd || frame[l3] >> 4 != 6 || frame[l3 + 6] != IPPROTO_TCP)
            return -1;
    }
    size_t l4 = l3 + iphl;
    if (l4 + 20 > len)
        return -1;
    size_t thl = (size_t)(frame[l4 + 12] >> 4) * 4;
    if (thl < 20 || l4 + thl > len)
        return -1;
    size_t hdrs = l4 + thl, payload = len - hdrs;
    /* IPv4: one segment whenever the IP length field can hold it (see the top of the file) */
    size_t seg = v4 && len - l3 <= 0xffff ? payload : hdr->gso_size;
    uint32_t seq = get32(frame + l4 + 4);
    uint16_t id = v4 ? get16(frame + l3 + 4) : 0;
    uint8_t flags = frame[l4 + 13];
    size_t off = 0;
    do {
        size_t n = payload - off < seg ? payload - off : seg;
        bool first = off == 0, last = off + n == payload;
        uint8_t *b = s->frame;
        memcpy(b, frame, hdrs);
        memcpy(b + hdrs, frame + hdrs + off, n);
        size_t tcp_len = thl + n;
        uint64_t pseudo;
        if (v4) {
            put16(b + l3 + 2, (uint16_t)(iphl + tcp_len));
            put16(b + l3 + 4, id++);
            put16(b + l3 + 10, 0);
            csum_store(b + l3 + 10, csum_add(b + l3, iphl, 0));
            pseudo = csum_add(b + l3 + 12, 8, 0);
        } else {
            put16(b + l3 + 4, (uint16_t)tcp_len);
            pseudo = csum_add(b + l3 + 8, 32, 0);
        }
        pseudo += csum_word(IPPROTO_TCP) + csum_word((uint16_t)tcp_len);
        put32(b + l4 + 4, seq + (uint32_t)off);
        b[l4 + 13] = (uint8_t)(flags & ~(last ? 0 : TCP_FIN | TCP_PSH) & ~(first ? 0 : TCP_CWR));
        put16(b + l4 + 16, 0);
        csum_store(b + l4 + 16, csum_add(b + l4, tcp_len, pseudo));
        input(s, b, hdrs + n);
        off += n;
    } while (off < payload);
    return 0;
}

static int slirp_send(struct net_backend *be, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    struct net_slirp *s = (struct net_slirp *)be;
    if (len > SLIRP_MAX_FRAME)
        return -1;
    if (!hdr || (hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE && !(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))) {
        input(s, frame, len);
        return 0;
    }
    switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return finish_checksum(s, hdr, frame, len);
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
        return segment_tcp(s, hdr, frame, len);
    }
    return -1;   /* UDP fragmentation offload was not offered */
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

/* ---- snapshots
 *
 * libslirp serialises itself (slirp_state_save/load, versioned by slirp_state_version). What
 * its state holds, and so what survives a restore: the DHCP lease table (which MAC has which
 * address: a guest that renews keeps 10.0.2.15), the IP id counter, and guestfwd sockets
 * (kiln makes none). What does not: every NAT'ed TCP/UDP connection (they are host sockets of
 * the old process; the guest sees them time out or reset), slirp's ARP/NDP tables (relearnt
 * from the guest's next packet, or slirp asks), DNS queries in flight. Host port forwards are
 * not state: they are added again by device creation from the same options. */

/* The stream slirp writes, collected so it can go out as one length-prefixed blob. */
static ssize_t state_write_cb(const void *buf, size_t len, void *opaque)
{
    persist_bytes(opaque, buf, len);
    return (ssize_t)len;
}

static void slirp_save(struct net_backend *be, struct persist_writer *w)
{
    struct net_slirp *s = (struct net_slirp *)be;
    struct persist_writer blob;
    persist_writer_init(&blob);
    slirp_state_save(s->slirp, state_write_cb, &blob);
    persist_u32(w, (uint32_t)slirp_state_version());
    if (!persist_writer_ok(&blob))
        w->oom = true;   /* the save as a whole failed: say so instead of writing a short blob */
    persist_blob(w, blob.buf, blob.len);
    persist_writer_free(&blob);
}

struct state_reader {
    const uint8_t *p;
    size_t len, pos;
    bool overrun;                /* slirp asked for more than the blob holds */
};

/* libslirp ignores short reads (a field just reads as 0), so they are noted here instead. */
static ssize_t state_read_cb(void *buf, size_t len, void *opaque)
{
    struct state_reader *sr = opaque;
    size_t n = sr->len - sr->pos < len ? sr->len - sr->pos : len;
    if (n < len)
        sr->overrun = true;
    memcpy(buf, sr->p + sr->pos, n);
    memset((uint8_t *)buf + n, 0, len - n);
    sr->pos += n;
    return (ssize_t)n;
}

#define SLIRP_STATE_MAX (16u << 20)

static int slirp_restore(struct net_backend *be, struct persist_reader *r)
{
    struct net_slirp *s = (struct net_slirp *)be;
    uint32_t version = persist_get_u32(r);
    size_t len;
    const void *p = persist_get_blob(r, SLIRP_STATE_MAX, &len);
    if (!persist_ok(r))
        return -1;
    if (version == 0 || version > (uint32_t)slirp_state_version())
        return persist_fail(r, "user-mode network state version %u is not supported by libslirp %s (at most %d)",
                            version, slirp_version_string(), slirp_state_version());
    struct state_reader sr = { .p = p, .len = len };
    int ret = slirp_state_load(s->slirp, (int)version, state_read_cb, &sr);
    if (ret < 0 || sr.overrun || sr.pos != sr.len)
        return persist_fail(r, "user-mode network state is corrupt (libslirp %s: %s)", slirp_version_string(),
                            ret < 0 ? "rejected it" : sr.overrun ? "truncated" : "trailing bytes");
    return 0;
}

static const struct net_backend_ops slirp_ops = {
    .name = "user",
    .send = slirp_send,
    .poll_fill = slirp_poll_fill,
    .poll_dispatch = slirp_poll_dispatch,
    .save = slirp_save,
    .restore = slirp_restore,
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
        /* Without this, a guest connecting to 10.0.2.2 reaches whatever listens on the host's
         * 127.0.0.1 (databases, admin ports, other VMs' forwards): opt-in only. DNS through
         * 10.0.2.3 and the guest's outbound NAT are unaffected. */
        .disable_host_loopback = !opts->host_loopback,
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
