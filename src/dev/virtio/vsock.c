/* vsock.c — virtio-vsock (virtio 1.x §5.10) with Firecracker's hybrid host side: the device,
 * its config space (the guest's CID) and the I/O thread. The thread polls the kick eventfd,
 * the stop eventfd, the listening Unix socket and every connection's host socket; the protocol
 * itself lives in vsock_conn.c and the Unix-socket side in vsock_uds.c. The vCPU threads only
 * signal the kick eventfd (and set reset_requested).
 *
 * Snapshots, as Firecracker does them: connections do not survive. Their host ends are
 * sockets of the old process, and their guest ends cannot be resumed with the guest's buffers
 * and credit counters in a state we do not keep. pause parks the thread at the top of its
 * loop (host sockets and the listener are not read meanwhile, so host data waits in them).
 * save writes the guest CID (a restored device must have the same one) and reports an rx
 * buffer taken but not used yet as in flight. restore drops every connection (closing the host
 * sockets) and, once the guest runs, puts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in the event
 * queue: the guest driver then resets all its sockets (their users see ECONNRESET), re-reads
 * the CID, and new connections work both ways. Nothing else goes to the guest before it. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dev/virtio/vsock.h"
#include "dev/virtio/vsock_priv.h"

uint64_t vsock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Drops host-initiated connections the guest did not answer in time. Returns the poll timeout
 * (ms) until the next deadline, or -1. */
static int expire_connects(struct vsock_dev *d)
{
    uint64_t now = vsock_now_ns(), next = UINT64_MAX;
    for (unsigned i = 0; i < d->nconns; i++) {
        struct vsock_conn *c = d->conns[i];
        if (c->state != CONN_CONNECTING)
            continue;
        if (c->deadline_ns <= now)
            vsock_conn_kill(d, c, true);
        else if (c->deadline_ns < next)
            next = c->deadline_ns;
    }
    if (next == UINT64_MAX)
        return -1;
    return (int)((next - now + 999999) / 1000000);
}

/* Fills d->pfd: stop, kick, listener, then each connection that wants something. */
static unsigned build_pollset(struct vsock_dev *d)
{
    d->pfd[0] = (struct pollfd){ .fd = d->io.stop_fd, .events = POLLIN };
    d->pfd[1] = (struct pollfd){ .fd = d->io.kick_fd, .events = POLLIN };
    /* at the connection limit new clients wait in the listen backlog */
    d->pfd[2] = (struct pollfd){ .fd = d->nconns < VSOCK_MAX_CONNS ? d->listen_fd : -1, .events = POLLIN };
    unsigned n = 3;
    for (unsigned i = 0; i < d->nconns; i++) {
        struct vsock_conn *c = d->conns[i];
        if (c->fd < 0)
            continue;
        short ev = vsock_conn_poll_events(d, c);
        /* a hung-up socket we want nothing from would wake poll() forever */
        if (!ev && c->hup)
            continue;
        d->pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
        d->pfd_conn[n] = c;
        n++;
    }
    return n;
}

/* Puts the TRANSPORT_RESET event in a buffer of the event queue. False: none there yet. */
static bool deliver_reset_event(struct vsock_dev *d)
{
    struct virtq_req req;
    for (;;) {
        enum virtq_pop_result r = virtio_mmio_pop(&d->t, VSOCK_EVQ, &req);
        if (r != VIRTQ_GOT)
            return false;   /* empty, not running, or broken (then it waits for a reset) */
        struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
        if (req.nout || req.in_len < sizeof(ev)) {
            virtio_mmio_set_broken(&d->t, "an event buffer is not a device-writable buffer of 4 bytes or more");
            return false;
        }
        virtq_req_write(&req, 0, &ev, sizeof(ev));
        virtio_mmio_push(&d->t, VSOCK_EVQ, &req, sizeof(ev));
        return true;
    }
}

static void *io_thread(void *arg)
{
    struct vsock_dev *d = arg;
    for (;;) {
        /* the pause point: between packets; io_thread_pause's kick makes the first iteration
         * after resume look at everything again */
        if (io_thread_pause_point(&d->io))
            break;
        if (__atomic_exchange_n(&d->reset_requested, 0, __ATOMIC_ACQ_REL)) {
            pthread_mutex_lock(&d->t.lock);
            uint32_t epoch = d->t.epoch;
            pthread_mutex_unlock(&d->t.lock);
            vsock_drop_stale(d, epoch);
            d->reset_event_pending = false;   /* the driver's own reset dropped its sockets */
        }
        if (d->reset_event_pending && deliver_reset_event(d))
            d->reset_event_pending = false;
        int timeout = -1;
        if (!d->reset_event_pending) {
            vsock_process_tx(d);
            vsock_deliver_control(d);
            timeout = expire_connects(d);
            vsock_deliver_control(d);
        }
        vsock_sweep(d);
        /* before sleeping, ask for kicks on what we wait for, and recheck the rings */
        if (virtio_mmio_running(&d->t)) {
            if (d->reset_event_pending) {
                if (virtio_mmio_enable_notify(&d->t, VSOCK_EVQ))
                    continue;
            } else if (d->nrst < VSOCK_RST_BACKLOG && virtio_mmio_enable_notify(&d->t, VSOCK_TXQ))
                continue;
            if (d->rx_starved && virtio_mmio_enable_notify(&d->t, VSOCK_RXQ)) {
                d->rx_starved = false;
                continue;
            }
        }
        unsigned n = build_pollset(d);
        if (poll(d->pfd, n, timeout) < 0)
            continue;   /* EINTR */
        if (d->pfd[0].revents)
            break;
        if (d->pfd[1].revents) {
            io_drain(d->io.kick_fd);
            d->rx_starved = false;   /* the guest may have added rx buffers */
        }
        if (d->pfd[2].revents)
            vsock_uds_accept(d);
        for (unsigned i = 3; i < n; i++) {
            struct vsock_conn *c = d->pfd_conn[i];
            short ev = d->pfd[i].events, rev = d->pfd[i].revents;
            if (!rev || c->fd != d->pfd[i].fd)
                continue;
            if ((ev & POLLOUT) && (rev & (POLLOUT | POLLHUP | POLLERR)))
                vsock_conn_host_writable(d, c);
            if ((ev & POLLIN) && (rev & (POLLIN | POLLHUP | POLLERR)) && c->fd >= 0)
                vsock_conn_host_readable(d, c);
            if (!ev && (rev & (POLLHUP | POLLERR)))
                c->hup = true;
        }
    }
    return NULL;
}

static void vsock_notify(struct virtio_mmio *t, unsigned q)
{
    (void)q;
    io_signal(((struct vsock_dev *)t->dev)->io.kick_fd);
}

/* Buffers and pending host connections may be waiting when the driver says DRIVER_OK. */
static void vsock_activate(struct virtio_mmio *t)
{
    vsock_notify(t, VSOCK_TXQ);
}

/* The driver reset the device: every connection it knew is gone. The I/O thread owns them, so
 * it does the closing, possibly after the driver came back: connections are told apart by the
 * transport epoch they began in, and buffers taken before are dropped by the epoch check. */
static void vsock_reset(struct virtio_mmio *t)
{
    struct vsock_dev *d = t->dev;
    __atomic_store_n(&d->reset_requested, 1, __ATOMIC_RELEASE);
    io_signal(d->io.kick_fd);
}

static void free_dev(struct vsock_dev *d)
{
    vsock_drop_all(d);
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        unlink(d->uds_path);
    }
    io_thread_destroy(&d->io);   /* closes the fds: the thread was stopped or never ran */
    free(d->uds_path);
    free(d);
}

static void vsock_destroy(struct virtio_mmio *t)
{
    struct vsock_dev *d = t->dev;
    io_thread_destroy(&d->io);   /* first: the thread uses the transport and connections */
    virtio_mmio_destroy(&d->t);
    free_dev(d);
}

/* ---- snapshots (see the top of the file) */

static void vsock_pause(struct virtio_mmio *t)
{
    io_thread_pause(&((struct vsock_dev *)t->dev)->io);
}

static void vsock_resume(struct virtio_mmio *t)
{
    io_thread_resume(&((struct vsock_dev *)t->dev)->io);
}

#define VSOCK_STATE_VERSION 1

/* While paused: the thread is parked. */
static void vsock_save(struct virtio_mmio *t, struct persist_writer *w, unsigned in_flight[VIRTIO_MAX_QUEUES])
{
    struct vsock_dev *d = t->dev;
    uint32_t epoch = __atomic_load_n(&d->t.epoch, __ATOMIC_RELAXED);
    /* tx packets are handled and returned one by one, event buffers are used at once; an rx
     * buffer may be held (popped, no packet for it yet): it is the last one popped */
    in_flight[VSOCK_RXQ] = d->rx_held && d->rx_req.epoch == epoch ? 1 : 0;
    persist_begin(w, "virtio-vsock", VSOCK_STATE_VERSION);
    persist_u64(w, d->guest_cid);
    persist_end(w);
}

static int vsock_restore(struct virtio_mmio *t, struct persist_reader *r)
{
    struct vsock_dev *d = t->dev;
    if (persist_open(r, "virtio-vsock", VSOCK_STATE_VERSION) != 0)
        return -1;
    uint64_t cid = persist_get_u64(r);
    if (persist_close(r) != 0)
        return -1;
    if (cid != d->guest_cid)
        return persist_fail(r, "virtio-vsock: the state is of guest CID %llu, the device has CID %llu",
                            (unsigned long long)cid, (unsigned long long)d->guest_cid);
    /* the thread owns the connections: park it (unless the caller did) while they go */
    bool was_paused = io_thread_pause_pending(&d->io);
    io_thread_pause(&d->io);
    vsock_drop_all(d);   /* host clients that came since creation, too: they would be reset */
    __atomic_store_n(&d->reset_requested, 0, __ATOMIC_RELAXED);
    d->next_host_port = VSOCK_HOST_PORT_FIRST;
    d->reset_event_pending = true;
    if (!was_paused)
        io_thread_resume(&d->io);
    io_signal(d->io.kick_fd);
    return 0;
}

static const struct virtio_dev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .num_queues = VSOCK_NUM_QUEUES,
    .queue_notify = vsock_notify,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
    .pause = vsock_pause,
    .resume = vsock_resume,
    .save = vsock_save,
    .restore = vsock_restore,
};

struct virtio_mmio *virtio_vsock_create(const struct vsock_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen)
{
    if (!opts->uds_path || !*opts->uds_path) {
        snprintf(err, errlen, "vsock: no Unix socket path given");
        return NULL;
    }
    struct vsock_dev *d = calloc(1, sizeof(*d));
    if (!d || !(d->uds_path = strdup(opts->uds_path))) {
        snprintf(err, errlen, "vsock: out of memory");
        free(d);
        return NULL;
    }
    d->listen_fd = -1;
    io_thread_init(&d->io);
    d->guest_cid = opts->guest_cid;
    d->next_host_port = VSOCK_HOST_PORT_FIRST;
    d->listen_fd = vsock_uds_listen(d->uds_path, err, errlen);
    if (d->listen_fd < 0) {
        free_dev(d);
        return NULL;
    }
    if (io_thread_open(&d->io, 0) < 0) {
        snprintf(err, errlen, "vsock: eventfd: %s", strerror(errno));
        free_dev(d);
        return NULL;
    }
    virtio_mmio_init(&d->t, &vsock_ops, d, mem, irq, 0);
    d->metrics = metrics_dev_register("vsock", METRICS_VSOCK_NAMES, METRICS_VSOCK_N);
    struct virtio_vsock_config cfg = { .guest_cid = htole64(d->guest_cid) };
    memcpy(d->t.config, &cfg, sizeof(cfg));
    d->t.config_len = sizeof(cfg);
    int e = io_thread_start(&d->io, io_thread, d);
    if (e != 0) {
        snprintf(err, errlen, "vsock: cannot start its I/O thread: %s", strerror(e));
        virtio_mmio_destroy(&d->t);
        free_dev(d);
        return NULL;
    }
    return &d->t;
}
