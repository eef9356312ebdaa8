/* vsock_conn.c — virtio-vsock stream connections (virtio 1.x §5.10.6): packets from the guest's
 * tx queue, packets to its rx queue, and the flow control that keeps either side from
 * overrunning the other. Credit works per connection: every packet we send tells the guest our
 * buffer size (buf_alloc) and how many of its bytes we passed on (fwd_cnt), and we never send
 * it more payload than its own buf_alloc/fwd_cnt leave room for. Guest data is buffered (at
 * most VSOCK_CONN_BUF per connection) until the host socket takes it; host data is read only
 * when the guest has both credit and an rx buffer for it, so it waits in the host socket. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dev/virtio/vsock_priv.h"

#define HDR_LEN sizeof(struct virtio_vsock_hdr)

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Payload bytes the guest can still take on this connection. */
static uint32_t guest_credit(const struct vsock_conn *c)
{
    uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

struct vsock_conn *vsock_conn_new(struct vsock_dev *d, int fd)
{
    if (d->nconns >= VSOCK_MAX_CONNS)
        return NULL;
    struct vsock_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->state = CONN_AWAIT_CMD;
    d->conns[d->nconns++] = c;
    return c;
}

struct vsock_conn *vsock_conn_find(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port)
{
    for (unsigned i = 0; i < d->nconns; i++) {
        struct vsock_conn *c = d->conns[i];
        if ((c->state == CONN_CONNECTING || c->state == CONN_ESTABLISHED || c->state == CONN_DYING) &&
            c->host_port == host_port && c->guest_port == guest_port)
            return c;
    }
    return NULL;
}

void vsock_conn_kill(struct vsock_dev *d, struct vsock_conn *c, bool rst)
{
    (void)d;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->buf_len = 0;
    /* the guest only needs an RST for a connection it knows about */
    bool guest_knows = c->state == CONN_ESTABLISHED || (c->state == CONN_CONNECTING && !(c->pending & PEND_REQUEST));
    if (rst && guest_knows) {
        c->state = CONN_DYING;
        c->pending = PEND_RST;
    } else {
        c->state = CONN_GONE;
        c->pending = 0;
    }
}

void vsock_sweep(struct vsock_dev *d)
{
    unsigned j = 0;
    for (unsigned i = 0; i < d->nconns; i++) {
        if (d->conns[i]->state == CONN_GONE)
            free(d->conns[i]);
        else
            d->conns[j++] = d->conns[i];
    }
    d->nconns = j;
}

void vsock_drop_all(struct vsock_dev *d)
{
    for (unsigned i = 0; i < d->nconns; i++)
        vsock_conn_kill(d, d->conns[i], false);
    vsock_sweep(d);
    d->nrst = 0;
    d->rx_held = false;
    d->rx_starved = false;
}

void vsock_drop_stale(struct vsock_dev *d, uint32_t epoch)
{
    for (unsigned i = 0; i < d->nconns; i++) {
        struct vsock_conn *c = d->conns[i];
        bool guest_knows = c->state == CONN_ESTABLISHED || c->state == CONN_DYING ||
                           (c->state == CONN_CONNECTING && !(c->pending & PEND_REQUEST));
        if (guest_knows && c->epoch != epoch)
            vsock_conn_kill(d, c, false);
    }
    vsock_sweep(d);
    d->nrst = 0;
    if (d->rx_held && d->rx_req.epoch != epoch)
        d->rx_held = false;
    d->rx_starved = false;
}

/* The next rx buffer (one popped earlier and not used yet, or a new one), or NULL. */
static struct virtq_req *rx_buffer(struct vsock_dev *d)
{
    if (d->rx_held)
        return &d->rx_req;
    if (d->rx_starved)
        return NULL;
    if (virtio_mmio_pop(&d->t, VSOCK_RXQ, &d->rx_req) != VIRTQ_GOT) {
        d->rx_starved = true;
        return NULL;
    }
    if (d->rx_req.nout || d->rx_req.in_len < HDR_LEN) {
        virtio_mmio_set_broken(&d->t, "an rx buffer is not a device-writable buffer of a packet header or more");
        d->rx_starved = true;
        return NULL;
    }
    d->rx_held = true;
    return &d->rx_req;
}

/* Sends one packet from the host's end (host_port) to the guest's (guest_port). c, when given,
 * supplies our credit fields. Returns false when the guest has no rx buffer. */
static bool send_to_guest(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port, uint16_t op,
                          uint32_t flags, struct vsock_conn *c, const void *payload, uint32_t len)
{
    struct virtq_req *req = rx_buffer(d);
    if (!req)
        return false;
    struct virtio_vsock_hdr h = {
        .src_cid = htole64(VSOCK_HOST_CID),
        .dst_cid = htole64(d->guest_cid),
        .src_port = htole32(host_port),
        .dst_port = htole32(guest_port),
        .len = htole32(len),
        .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
        .op = htole16(op),
        .flags = htole32(flags),
        .buf_alloc = htole32(c ? VSOCK_CONN_BUF : 0),
        .fwd_cnt = htole32(c ? c->fwd_cnt : 0),
    };
    if (c)
        c->announced_fwd_cnt = c->fwd_cnt;
    if (c && op == VIRTIO_VSOCK_OP_REQUEST)
        c->epoch = req->epoch;
    virtq_req_write(req, 0, &h, HDR_LEN);
    if (len)
        virtq_req_write(req, HDR_LEN, payload, len);
    virtio_mmio_push(&d->t, VSOCK_RXQ, req, (uint32_t)HDR_LEN + len);
    d->rx_held = false;
    metrics_dev_inc(d->metrics, METRIC_VSOCK_RX_PACKETS_COUNT);
    metrics_dev_add(d->metrics, METRIC_VSOCK_RX_BYTES_COUNT, len);
    return true;
}

static void queue_rst(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port)
{
    if (d->nrst < VSOCK_RST_BACKLOG)
        d->rst[d->nrst++] = (struct vsock_rst){ host_port, guest_port };
}

/* May we read the host socket for this connection (credit and rx buffers aside)? */
static bool host_readable_allowed(const struct vsock_conn *c)
{
    return c->state == CONN_ESTABLISHED && c->fd >= 0 && !c->host_eof && !c->guest_shut_rcv &&
           !(c->pending & (PEND_REQUEST | PEND_RESPONSE | PEND_SHUTDOWN | PEND_RST));
}

/* Half-closes toward the host once the guest stopped sending and its data is out, and ends
 * the connection when nothing can flow either way any more. */
static void maybe_finish(struct vsock_dev *d, struct vsock_conn *c)
{
    if (c->state != CONN_ESTABLISHED || !c->guest_shut_send || c->buf_len || c->ack_off < c->ack_len)
        return;
    if (c->guest_shut_rcv || c->host_eof) {
        /* Linux waits for our RST after it shut down both ways */
        vsock_conn_kill(d, c, true);
        return;
    }
    if (!c->host_shut_wr) {
        shutdown(c->fd, SHUT_WR);
        c->host_shut_wr = true;
    }
}

short vsock_conn_poll_events(struct vsock_dev *d, struct vsock_conn *c)
{
    short ev = 0;
    if (c->state == CONN_AWAIT_CMD)
        ev = POLLIN;
    if (c->state == CONN_ESTABLISHED) {
        if (host_readable_allowed(c) && guest_credit(c) && !d->rx_starved)
            ev |= POLLIN;
        if (c->buf_len || c->ack_off < c->ack_len)
            ev |= POLLOUT;
    }
    return ev;
}

void vsock_conn_host_readable(struct vsock_dev *d, struct vsock_conn *c)
{
    if (c->state == CONN_AWAIT_CMD) {
        vsock_uds_read_command(d, c);
        return;
    }
    for (unsigned i = 0; i < VSOCK_BURST && host_readable_allowed(c); i++) {
        uint32_t credit = guest_credit(c);
        if (!credit)
            return;
        struct virtq_req *req = rx_buffer(d);
        if (!req)
            return;
        uint64_t room = req->in_len - HDR_LEN;
        if (room == 0) {   /* a header-only buffer carries no data: use it for a credit update */
            send_to_guest(d, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, c, NULL, 0);
            continue;
        }
        uint32_t want = min32(credit, room < VSOCK_MAX_PKT ? (uint32_t)room : VSOCK_MAX_PKT);
        ssize_t n = recv(c->fd, d->scratch, want, MSG_DONTWAIT);
        if (n > 0) {
            send_to_guest(d, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RW, 0, c, d->scratch, (uint32_t)n);
            c->rx_cnt += (uint32_t)n;
            continue;
        }
        if (n == 0) {
            c->host_eof = true;
            c->pending |= PEND_SHUTDOWN;
            maybe_finish(d, c);
            return;
        }
        if (errno != EAGAIN && errno != EINTR)
            vsock_conn_kill(d, c, true);
        return;
    }
}

void vsock_conn_host_writable(struct vsock_dev *d, struct vsock_conn *c)
{
    if (c->state != CONN_ESTABLISHED || c->fd < 0)
        return;
    while (c->ack_off < c->ack_len) {
        ssize_t n = send(c->fd, c->ack + c->ack_off, c->ack_len - c->ack_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                vsock_conn_kill(d, c, true);
            return;
        }
        c->ack_off += (unsigned)n;
    }
    while (c->buf_len) {
        uint32_t chunk = min32(c->buf_len, VSOCK_CONN_BUF - c->buf_head);
        ssize_t n = send(c->fd, c->buf + c->buf_head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                vsock_conn_kill(d, c, true);   /* the host end went away */
            break;
        }
        c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF;
        c->buf_len -= (uint32_t)n;
        c->fwd_cnt += (uint32_t)n;
    }
    if (c->state != CONN_ESTABLISHED)
        return;
    /* Announcing every freed byte would double the packets; a quarter of the buffer is
     * enough, because a guest that ran out of credit has a whole buffer unannounced. */
    if (c->fwd_cnt - c->announced_fwd_cnt >= VSOCK_CREDIT_THRESHOLD)
        c->pending |= PEND_CREDIT_UPDATE;
    maybe_finish(d, c);
}

void vsock_conn_host_connect(struct vsock_dev *d, struct vsock_conn *c, uint32_t port)
{
    uint32_t hp;
    do {
        hp = d->next_host_port++;
        if (d->next_host_port < VSOCK_HOST_PORT_FIRST)
            d->next_host_port = VSOCK_HOST_PORT_FIRST;
    } while (vsock_conn_find(d, hp, port));
    c->host_port = hp;
    c->guest_port = port;
    c->state = CONN_CONNECTING;
    c->pending |= PEND_REQUEST;
    c->deadline_ns = vsock_now_ns() + VSOCK_CONNECT_TIMEOUT_NS;
}

/* The guest connects to the host's port host_port: forward to "<uds_path>_<host_port>". */
static void guest_connect(struct vsock_dev *d, const struct virtq_req *req, const struct virtio_vsock_hdr *h,
                          uint32_t host_port, uint32_t guest_port)
{
    int fd = d->nconns < VSOCK_MAX_CONNS ? vsock_uds_connect_port(d->uds_path, host_port) : -1;
    struct vsock_conn *c = fd >= 0 ? vsock_conn_new(d, fd) : NULL;
    if (!c) {
        if (fd >= 0)
            close(fd);
        queue_rst(d, host_port, guest_port);
        return;
    }
    c->state = CONN_ESTABLISHED;
    c->epoch = req->epoch;
    c->host_port = host_port;
    c->guest_port = guest_port;
    c->peer_buf_alloc = le32toh(h->buf_alloc);
    c->peer_fwd_cnt = le32toh(h->fwd_cnt);
    c->pending |= PEND_RESPONSE;
}

/* An RW packet: append its payload to the connection's buffer toward the host. */
static void receive_data(struct vsock_dev *d, struct vsock_conn *c, const struct virtq_req *req, uint32_t len)
{
    if (c->guest_shut_send || len > VSOCK_CONN_BUF - c->buf_len) {
        /* data after its own SHUTDOWN, or more than the credit we gave: the guest broke the
         * protocol on this connection; end just this connection */
        vsock_conn_kill(d, c, true);
        return;
    }
    if (len == 0)
        return;
    metrics_dev_add(d->metrics, METRIC_VSOCK_TX_BYTES_COUNT, len);
    if (!c->buf && !(c->buf = malloc(VSOCK_CONN_BUF))) {
        vsock_conn_kill(d, c, true);
        return;
    }
    uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
    uint32_t first = min32(len, VSOCK_CONN_BUF - tail);
    virtq_req_read(req, HDR_LEN, c->buf + tail, first);
    virtq_req_read(req, HDR_LEN + first, c->buf, len - first);
    c->buf_len += len;
    vsock_conn_host_writable(d, c);
}

static void handle_packet(struct vsock_dev *d, const struct virtq_req *req)
{
    struct virtio_vsock_hdr h;
    if (virtq_req_read(req, 0, &h, HDR_LEN) != HDR_LEN)
        return;   /* too short to be a packet: nothing to answer */
    uint32_t len = le32toh(h.len);
    uint16_t op = le16toh(h.op);
    uint32_t host_port = le32toh(h.dst_port), guest_port = le32toh(h.src_port);
    /* only the host is reachable through us, and the guest may only speak as itself */
    if (le64toh(h.dst_cid) != VSOCK_HOST_CID || le64toh(h.src_cid) != d->guest_cid)
        return;
    if (len > req->out_len - HDR_LEN)
        return;   /* the header claims more payload than the buffers hold: drop it */
    struct vsock_conn *c = vsock_conn_find(d, host_port, guest_port);
    if (le16toh(h.type) != VIRTIO_VSOCK_TYPE_STREAM) {
        if (op != VIRTIO_VSOCK_OP_RST) {
            if (c)
                vsock_conn_kill(d, c, true);
            else
                queue_rst(d, host_port, guest_port);
        }
        return;
    }
    if (!c) {
        if (op == VIRTIO_VSOCK_OP_REQUEST)
            guest_connect(d, req, &h, host_port, guest_port);
        else if (op != VIRTIO_VSOCK_OP_RST)
            queue_rst(d, host_port, guest_port);
        return;
    }
    if (c->state == CONN_DYING) {
        if (op == VIRTIO_VSOCK_OP_RST)
            c->state = CONN_GONE;   /* both ends agree it is over: our RST is moot */
        return;
    }
    c->peer_buf_alloc = le32toh(h.buf_alloc);
    c->peer_fwd_cnt = le32toh(h.fwd_cnt);
    if (op == VIRTIO_VSOCK_OP_RST) {
        vsock_conn_kill(d, c, false);
        return;
    }
    if (c->state == CONN_CONNECTING) {
        if (op != VIRTIO_VSOCK_OP_RESPONSE || (c->pending & PEND_REQUEST)) {
            vsock_conn_kill(d, c, true);
            return;
        }
        c->state = CONN_ESTABLISHED;
        c->ack_len = (unsigned)snprintf(c->ack, sizeof(c->ack), "OK %u\n", c->host_port);
        c->ack_off = 0;
        vsock_conn_host_writable(d, c);
        return;
    }
    switch (op) {
    case VIRTIO_VSOCK_OP_RW:
        receive_data(d, c, req, len);
        break;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        break;   /* the credit fields were taken above */
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        c->pending |= PEND_CREDIT_UPDATE;
        break;
    case VIRTIO_VSOCK_OP_SHUTDOWN: {
        uint32_t flags = le32toh(h.flags);
        c->guest_shut_send |= (flags & VIRTIO_VSOCK_SHUTDOWN_SEND) != 0;
        c->guest_shut_rcv |= (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) != 0;
        maybe_finish(d, c);
        break;
    }
    default:   /* REQUEST or RESPONSE on a live connection, or an unknown op */
        vsock_conn_kill(d, c, true);
        break;
    }
}

void vsock_process_tx(struct vsock_dev *d)
{
    /* one packet queues at most one RST: stop while the backlog has no room for it */
    while (d->nrst < VSOCK_RST_BACKLOG) {
        if (virtio_mmio_pop(&d->t, VSOCK_TXQ, &d->tx_req) != VIRTQ_GOT)
            return;
        handle_packet(d, &d->tx_req);
        virtio_mmio_push(&d->t, VSOCK_TXQ, &d->tx_req, 0);
    }
}

/* Sends the control packets one connection owes, in protocol order. False: rx ran out. */
static bool deliver_conn(struct vsock_dev *d, struct vsock_conn *c)
{
    static const struct { unsigned bit; uint16_t op; } order[] = {
        { PEND_RST, VIRTIO_VSOCK_OP_RST },
        { PEND_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
        { PEND_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
        { PEND_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
        { PEND_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
    };
    for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(c->pending & order[i].bit))
            continue;
        uint32_t flags = order[i].op == VIRTIO_VSOCK_OP_SHUTDOWN ? VIRTIO_VSOCK_SHUTDOWN_SEND : 0;
        if (!send_to_guest(d, c->host_port, c->guest_port, order[i].op, flags, c, NULL, 0))
            return false;
        c->pending &= ~order[i].bit;
        if (order[i].bit == PEND_RST) {
            c->state = CONN_GONE;
            return true;
        }
    }
    return true;
}

void vsock_deliver_control(struct vsock_dev *d)
{
    while (d->nrst) {
        if (!send_to_guest(d, d->rst[0].host_port, d->rst[0].guest_port, VIRTIO_VSOCK_OP_RST, 0, NULL, NULL, 0))
            return;
        d->nrst--;
        memmove(&d->rst[0], &d->rst[1], d->nrst * sizeof(d->rst[0]));
    }
    for (unsigned i = 0; i < d->nconns; i++) {
        struct vsock_conn *c = d->conns[i];
        if (c->pending && c->state != CONN_GONE && !deliver_conn(d, c))
            return;
    }
}
