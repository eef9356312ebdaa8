/* vsock.c — virtio-vsock (virtio 1.x §5.10) with Firecracker's hybrid host side: the device,
 * its config space (the guest's CID) and the I/O thread. The thread polls the kick eventfd,
 * the stop eventfd, the listening Unix socket and every connection's host socket; the protocol
 * itself lives in vsock_conn.c and the Unix-socket side in vsock_uds.c. The vCPU threads only
 * signal the kick eventfd (and set reset_requested). */
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

static void *io_thread(void *arg)
{
    struct vsock_dev *d = arg;
    for (;;) {
        if (__atomic_exchange_n(&d->reset_requested, 0, __ATOMIC_ACQ_REL)) {
            pthread_mutex_lock(&d->t.lock);
            uint32_t epoch = d->t.epoch;
            pthread_mutex_unlock(&d->t.lock);
            vsock_drop_stale(d, epoch);
        }
        vsock_process_tx(d);
        vsock_deliver_control(d);
        int timeout = expire_connects(d);
        vsock_deliver_control(d);
        vsock_sweep(d);
        /* before sleeping, ask for kicks on what we wait for, and recheck the rings */
        if (virtio_mmio_running(&d->t)) {
            if (d->nrst < VSOCK_RST_BACKLOG && virtio_mmio_enable_notify(&d->t, VSOCK_TXQ))
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

static const struct virtio_dev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .num_queues = VSOCK_NUM_QUEUES,
    .queue_notify = vsock_notify,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
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
