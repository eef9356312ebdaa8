/* net.c — virtio-net (virtio 1.x §5.1): one rx/tx queue pair carrying Ethernet frames between
 * the guest and a network backend (libslirp user-mode NAT or a host TAP).
 *
 * Everything happens on the device's I/O thread; the vCPU only writes an eventfd on a kick.
 * The thread polls the kick and stop eventfds, one timerfd per direction for rate-limit waits,
 * and whatever descriptors the backend asks for (slirp's change every iteration).
 *
 * tx: chains are popped, the virtio-net header stripped, the frame handed to the backend.
 * rx: frames from the backend wait in a bounded backlog until the guest has posted buffers;
 * with VIRTIO_NET_F_MRG_RXBUF one frame may span several chains (num_buffers in the header).
 * When the backlog fills up the backend is asked to stop reading (backpressure), and only if
 * frames keep coming anyway (slirp's own ARP/TCP timers) the oldest is dropped, as a full
 * NIC queue would. Rate limits never drop anything: a limited direction pauses on its timerfd
 * with the chain (tx) or the buffers (rx) held until the tokens are there.
 *
 * Offloads: checksum (VIRTIO_NET_F_CSUM) and TCP segmentation (HOST_TSO4/6) on tx, so that a
 * guest sends 64 KiB TCP frames with a partial checksum instead of checksumming and cutting
 * its stream into MTU-sized frames itself (under an interpreting vCPU that guest work, not the
 * device, bounds throughput); the header goes to the backend, which passes it on (TAP) or
 * finishes the work (slirp). On rx, VIRTIO_NET_F_GUEST_CSUM lets us forward the backend's
 * "checksum already verified" flag, sparing the guest a pass over every received byte.
 *
 * Snapshots: pause parks the thread at the top of its loop (io_thread_pause_point), between
 * frames; the backend is not polled then, so what the host sends waits in slirp's host sockets
 * or the TAP's kernel queue and arrives after resume. save writes the rx backlog (frames
 * received but not yet in guest buffers), the rate limiters and the backend's state (slirp's,
 * see net_slirp.c); the chains the thread holds (rx buffers gathered for the head frame, a tx
 * chain waiting for tokens) are reported in flight so the transport rewinds its rings and the
 * restored device takes them again. */
#include <errno.h>
#include <sched.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "backend/net_backend.h"
#include "dev/virtio/io_thread.h"
#include "dev/virtio/net.h"
#include "vm/metrics.h"

#define RX_QUEUE 0
#define TX_QUEUE 1
#define NET_HDR_LEN sizeof(struct virtio_net_hdr_v1)  /* VERSION_1: always has num_buffers */
#define MAX_FRAME 65550            /* 64 KiB IP packet + Ethernet + VLAN headers */
#define RX_BACKLOG_MAX 256         /* frames waiting for guest buffers; beyond: drop the oldest */
#define RX_BACKLOG_READ 64         /* above this many waiting, the backend stops reading */
#define TX_BATCH 256               /* frames per loop iteration, so rx is never starved */

enum { RX_TIMER, TX_TIMER, NUM_TIMERS };

struct rx_frame {
    size_t len;
    uint8_t flags;                 /* VIRTIO_NET_HDR_F_DATA_VALID from the backend, or 0 */
    uint8_t data[];
};

struct net_dev {
    struct virtio_mmio t;
    struct metrics_dev *metrics;   /* the "net_<id>" group */
    struct net_backend *be;
    struct io_thread io;           /* timer_fd[RX_TIMER], timer_fd[TX_TIMER]: rate-limit waits */
    struct rate_limiter rx_rl, tx_rl;
    bool rx_limited, tx_limited;   /* waiting on the timerfd */
    bool more_work;                /* tx batch cut short: poll without sleeping */
    struct pollset ps;

    /* rx backlog: a ring of frames from the backend, oldest at rx_head */
    struct rx_frame *backlog[RX_BACKLOG_MAX];
    unsigned rx_head, rx_count;
    uint64_t rx_dropped;

    /* rx chains taken for the frame at the head of the backlog (kept across waits) */
    struct virtq_req *rx_reqs[VIRTQ_MAX_SIZE];
    unsigned rx_nreqs;
    uint64_t rx_gathered;          /* writable bytes in rx_reqs[0..rx_nreqs) */

    /* a tx chain waiting for rate-limit tokens */
    struct virtq_req tx_req;
    bool tx_held;
    bool warned_short_tx;
    uint8_t tx_buf[NET_HDR_LEN + MAX_FRAME];
};

static uint32_t current_epoch(struct net_dev *d)
{
    return __atomic_load_n(&d->t.epoch, __ATOMIC_RELAXED);
}

/* ---- rx */

/* Backend callback: queue a copy of the frame for the guest. */
static void backend_rx(void *opaque, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    struct net_dev *d = opaque;
    if (len == 0 || len > MAX_FRAME)
        return;
    struct rx_frame *f = malloc(sizeof(*f) + len);
    if (!f) {
        d->rx_dropped++;
        return;
    }
    f->len = len;
    /* only complete frames reach the guest (no GUEST_TSO, and a TAP is set up without
     * offloads), so of the backend's header just the "checksum verified" flag matters */
    f->flags = hdr ? hdr->flags & VIRTIO_NET_HDR_F_DATA_VALID : 0;
    memcpy(f->data, frame, len);
    if (d->rx_count == RX_BACKLOG_MAX) {   /* full: the oldest frame goes */
        free(d->backlog[d->rx_head]);
        d->rx_head = (d->rx_head + 1) % RX_BACKLOG_MAX;
        d->rx_count--;
        d->rx_dropped++;
    }
    d->backlog[(d->rx_head + d->rx_count) % RX_BACKLOG_MAX] = f;
    d->rx_count++;
}

static void drop_head_frame(struct net_dev *d)
{
    free(d->backlog[d->rx_head]);
    d->rx_head = (d->rx_head + 1) % RX_BACKLOG_MAX;
    d->rx_count--;
}

static uint16_t rx_ring_size(struct net_dev *d)
{
    pthread_mutex_lock(&d->t.lock);
    uint16_t n = d->t.vq[RX_QUEUE].num;
    pthread_mutex_unlock(&d->t.lock);
    return n;
}

/* Returns the chains of one frame to the driver, all at once: the driver reads num_buffers
 * from the first and then takes that many used entries. */
static void push_rx_chains(struct net_dev *d, unsigned n, const uint32_t *written)
{
    virtio_mmio_push_many(&d->t, RX_QUEUE, d->rx_reqs, written, n);
}

/* Takes rx chains until they hold `need` bytes (mergeable) or one chain (not). Returns true
 * when enough are held, false when the driver must post more first (we asked for a kick). */
static bool gather_rx_buffers(struct net_dev *d, bool mergeable, uint64_t need)
{
    while (mergeable ? d->rx_gathered < need : d->rx_nreqs == 0) {
        if (d->rx_nreqs == VIRTQ_MAX_SIZE)
            return true;   /* the caller sees it is not enough */
        if (!d->rx_reqs[d->rx_nreqs] && !(d->rx_reqs[d->rx_nreqs] = malloc(sizeof(struct virtq_req))))
            return false;
        struct virtq_req *req = d->rx_reqs[d->rx_nreqs];
        enum virtq_pop_result r = virtio_mmio_pop(&d->t, RX_QUEUE, req);
        if (r == VIRTQ_MALFORMED)
            return false;
        if (r == VIRTQ_EMPTY) {
            if (virtio_mmio_enable_notify(&d->t, RX_QUEUE))
                continue;   /* buffers arrived meanwhile */
            /* every chain of the ring is with us and still too small: the frame cannot fit */
            if (mergeable && d->rx_nreqs && d->rx_nreqs >= rx_ring_size(d))
                return true;
            return false;
        }
        if (req->in_len < NET_HDR_LEN) {
            /* the spec requires room for the header in every rx buffer: give it back unused */
            virtio_mmio_push(&d->t, RX_QUEUE, req, 0);
            continue;
        }
        d->rx_nreqs++;
        d->rx_gathered += req->in_len;
    }
    return true;
}

/* Copies the head frame into the held chains and returns them used. */
static void deliver_head_frame(struct net_dev *d)
{
    struct rx_frame *f = d->backlog[d->rx_head];
    unsigned n = d->rx_nreqs;
    struct virtio_net_hdr_v1 hdr = { .num_buffers = (uint16_t)n };   /* little-endian host */
    if (virtio_mmio_has_feature(&d->t, VIRTIO_NET_F_GUEST_CSUM))
        hdr.flags = f->flags;
    uint32_t written[VIRTQ_MAX_SIZE];
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        struct virtq_req *req = d->rx_reqs[i];
        size_t w = 0;
        if (i == 0)
            w = virtq_req_write(req, 0, &hdr, NET_HDR_LEN);
        w += virtq_req_write(req, w, f->data + off, f->len - off);
        off += w - (i == 0 ? NET_HDR_LEN : 0);
        written[i] = (uint32_t)w;
    }
    push_rx_chains(d, n, written);
    metrics_dev_inc(d->metrics, METRIC_NET_RX_PACKETS_COUNT);
    metrics_dev_add(d->metrics, METRIC_NET_RX_BYTES_COUNT, f->len);
    d->rx_nreqs = 0;
    d->rx_gathered = 0;
    drop_head_frame(d);
}

static void process_rx(struct net_dev *d)
{
    if (d->rx_nreqs && d->rx_reqs[0]->epoch != current_epoch(d)) {
        d->rx_nreqs = 0;   /* taken before a reset: they belong to nobody now */
        d->rx_gathered = 0;
    }
    bool mergeable = virtio_mmio_has_feature(&d->t, VIRTIO_NET_F_MRG_RXBUF);
    while (d->rx_count && !d->rx_limited && virtio_mmio_running(&d->t)) {
        struct rx_frame *f = d->backlog[d->rx_head];
        uint64_t need = NET_HDR_LEN + f->len;
        if (!gather_rx_buffers(d, mergeable, need))
            return;
        if (d->rx_gathered < need) {
            /* buffers too small for this frame (a guest that posts tiny buffers): drop it and
             * keep the buffers for the next one */
            d->rx_dropped++;
            drop_head_frame(d);
            continue;
        }
        uint64_t wait = rate_limiter_take(&d->rx_rl, f->len, rate_limiter_now_ns());
        if (wait) {
            d->rx_limited = true;
            io_timer_arm(d->io.timer_fd[RX_TIMER], wait);
            return;
        }
        deliver_head_frame(d);
    }
}

/* ---- tx */

static void finish_tx(struct net_dev *d)
{
    virtio_mmio_push(&d->t, TX_QUEUE, &d->tx_req, 0);
    d->tx_held = false;
}

static void process_tx(struct net_dev *d)
{
    for (unsigned done = 0; !d->tx_limited; ) {
        if (!d->tx_held) {
            if (done == TX_BATCH) {
                d->more_work = true;
                return;
            }
            enum virtq_pop_result r = virtio_mmio_pop(&d->t, TX_QUEUE, &d->tx_req);
            if (r == VIRTQ_MALFORMED)
                return;
            if (r == VIRTQ_EMPTY) {
                if (virtio_mmio_enable_notify(&d->t, TX_QUEUE))
                    continue;
                return;
            }
            d->tx_held = true;
        }
        struct virtq_req *req = &d->tx_req;
        if (req->epoch != current_epoch(d)) {
            d->tx_held = false;
            continue;
        }
        if (req->out_len < NET_HDR_LEN || req->out_len - NET_HDR_LEN > MAX_FRAME) {
            if (!d->warned_short_tx) {
                fprintf(stderr, "kiln: virtio-net: dropping a tx chain of %llu bytes (header %zu, frame at most %d)\n",
                        (unsigned long long)req->out_len, NET_HDR_LEN, MAX_FRAME);
                d->warned_short_tx = true;
            }
            finish_tx(d);
            continue;
        }
        size_t len = req->out_len - NET_HDR_LEN;
        uint64_t wait = rate_limiter_take(&d->tx_rl, len, rate_limiter_now_ns());
        if (wait) {
            d->tx_limited = true;
            io_timer_arm(d->io.timer_fd[TX_TIMER], wait);
            return;   /* the chain stays held until the timer fires */
        }
        virtq_req_read(req, 0, d->tx_buf, NET_HDR_LEN + len);
        struct virtio_net_hdr_v1 hdr;
        memcpy(&hdr, d->tx_buf, sizeof(hdr));
        /* a driver that did not take the offloads has no business setting them */
        bool offload = virtio_mmio_has_feature(&d->t, VIRTIO_NET_F_CSUM) &&
                       (hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM || hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE);
        if (len) {
            d->be->ops->send(d->be, offload ? &hdr : NULL, d->tx_buf + NET_HDR_LEN, len);
            metrics_dev_inc(d->metrics, METRIC_NET_TX_PACKETS_COUNT);
            metrics_dev_add(d->metrics, METRIC_NET_TX_BYTES_COUNT, len);
        }
        finish_tx(d);
        done++;
    }
}

/* ---- I/O thread */

enum { FD_STOP, FD_KICK, FD_RX_TIMER, FD_TX_TIMER, FD_OWN };

/* The backend kinds as saved (a snapshot of one restored into the other is refused). */
enum { SAVED_BE_USER = 0, SAVED_BE_TAP = 1 };

static void *io_thread(void *opaque)
{
    struct net_dev *d = opaque;
    /* No wake-up preemption: a kick must not push the kicking vCPU off its host CPU. On a
     * busy host each eventfd write used to let this thread preempt the vCPU for a scheduler
     * slice (perf sched_switch during a TCP pull: the vCPU switched out on return from write()
     * ~200 times a second, and 14% of guest time sat in the kick's MMIO write). SCHED_BATCH
     * keeps the thread's fair share, and it still runs at once on an idle CPU, e.g. while
     * the vCPU waits in WFI. The disk thread stays normal: a disk read is latency-bound. */
    struct sched_param sp = { 0 };
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    for (;;) {
        /* the pause point: between frames, nothing held half-done (held chains are reported
         * in flight by save); io_thread_pause's kick makes the first iteration after resume
         * look at the rings and the backend again */
        if (io_thread_pause_point(&d->io))
            break;
        d->ps.n = 0;
        pollset_add(&d->ps, d->io.stop_fd, POLLIN);
        pollset_add(&d->ps, d->io.kick_fd, POLLIN);
        pollset_add(&d->ps, d->io.timer_fd[RX_TIMER], POLLIN);
        pollset_add(&d->ps, d->io.timer_fd[TX_TIMER], POLLIN);
        if (d->ps.n < FD_OWN) {   /* out of memory for four pollfds: try again shortly */
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        int timeout = d->more_work ? 0 : -1;
        d->be->ops->poll_fill(d->be, &d->ps, &timeout, d->rx_count < RX_BACKLOG_READ);
        int n = poll(d->ps.fds, d->ps.n, timeout);
        bool poll_error = n < 0 && errno != EINTR;
        struct pollfd *fds = d->ps.fds;
        if (fds[FD_STOP].revents)
            break;
        if (fds[FD_KICK].revents)
            io_drain(d->io.kick_fd);
        if (fds[FD_RX_TIMER].revents) {
            io_drain(d->io.timer_fd[RX_TIMER]);
            d->rx_limited = false;
        }
        if (fds[FD_TX_TIMER].revents) {
            io_drain(d->io.timer_fd[TX_TIMER]);
            d->tx_limited = false;
        }
        d->be->ops->poll_dispatch(d->be, &d->ps, poll_error);
        d->more_work = false;
        process_tx(d);   /* first: slirp answers some frames synchronously, rx takes them */
        process_rx(d);
    }
    return NULL;
}

/* ---- transport callbacks */

static void net_queue_notify(struct virtio_mmio *t, unsigned q)
{
    (void)q;
    io_signal(((struct net_dev *)t->dev)->io.kick_fd);
}

/* Held chains and rate-limit state are reconciled by the I/O thread (epochs), so activation
 * and reset only need to wake it. */
static void net_wake(struct virtio_mmio *t)
{
    net_queue_notify(t, RX_QUEUE);
}

static void free_net_dev(struct net_dev *d)
{
    if (d->be)
        d->be->ops->destroy(d->be);
    while (d->rx_count)
        drop_head_frame(d);
    for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
        free(d->rx_reqs[i]);
    io_thread_destroy(&d->io);   /* closes the fds: the thread was stopped or never ran */
    free(d->ps.fds);
    virtio_mmio_destroy(&d->t);
    free(d);
}

static void net_destroy(struct virtio_mmio *t)
{
    struct net_dev *d = t->dev;
    io_thread_destroy(&d->io);   /* first: the thread uses everything below */
    free_net_dev(d);
}

/* ---- snapshots */

static void net_pause(struct virtio_mmio *t)
{
    io_thread_pause(&((struct net_dev *)t->dev)->io);
}

static void net_resume(struct virtio_mmio *t)
{
    io_thread_resume(&((struct net_dev *)t->dev)->io);
}

/* 1: without the rate limiters (a restored device kept its configured limits, full buckets);
 * 2: with them */
#define NET_STATE_VERSION 2

static uint8_t saved_backend_kind(const struct net_dev *d)
{
    return strcmp(d->be->ops->name, "tap") == 0 ? SAVED_BE_TAP : SAVED_BE_USER;
}

/* Called while paused: the thread is parked, so everything here is ours to read. */
static void net_save(struct virtio_mmio *t, struct persist_writer *w, unsigned in_flight[VIRTIO_MAX_QUEUES])
{
    struct net_dev *d = t->dev;
    uint32_t epoch = current_epoch(d);
    /* chains the thread holds: rx buffers gathered for the head frame (popped in order, the
     * last ones popped: a buffer too short for the header is returned at once, and a driver
     * that posts those between good ones breaks the spec anyway) and a rate-limited tx chain
     * (always the last popped). Chains of an earlier epoch belong to nobody. */
    in_flight[RX_QUEUE] = d->rx_nreqs && d->rx_reqs[0]->epoch == epoch ? d->rx_nreqs : 0;
    in_flight[TX_QUEUE] = d->tx_held && d->tx_req.epoch == epoch ? 1 : 0;

    persist_begin(w, "virtio-net", NET_STATE_VERSION);
    persist_u8(w, saved_backend_kind(d));
    persist_u64(w, d->rx_dropped);
    /* the limits as they are now (an API PATCH included) and the tokens left */
    rate_limiter_save(&d->rx_rl, w);
    rate_limiter_save(&d->tx_rl, w);
    /* frames from the network that wait for guest buffers */
    persist_u32(w, d->rx_count);
    for (unsigned i = 0; i < d->rx_count; i++) {
        const struct rx_frame *f = d->backlog[(d->rx_head + i) % RX_BACKLOG_MAX];
        persist_u8(w, f->flags);
        persist_blob(w, f->data, f->len);
    }
    if (d->be->ops->save)
        d->be->ops->save(d->be, w);
    persist_end(w);
}

static int net_restore_locked(struct net_dev *d, struct persist_reader *r)
{
    uint32_t version;
    if (persist_open_v(r, "virtio-net", NET_STATE_VERSION, &version) != 0)
        return -1;
    uint8_t kind = persist_get_u8(r);
    uint8_t want = saved_backend_kind(d);
    if (persist_ok(r) && kind != want)
        return persist_fail(r, "virtio-net: the state is of a %s network, the device has a %s one",
                            kind == SAVED_BE_TAP ? "tap" : kind == SAVED_BE_USER ? "user-mode" : "unknown",
                            want == SAVED_BE_TAP ? "tap" : "user-mode");
    uint64_t dropped = persist_get_u64(r);
    if (version >= 2 && (rate_limiter_restore(&d->rx_rl, r) != 0 || rate_limiter_restore(&d->tx_rl, r) != 0))
        return -1;
    uint32_t n = persist_get_u32(r);
    if (persist_ok(r) && n > RX_BACKLOG_MAX)
        return persist_fail(r, "virtio-net: %u backlogged frames (at most %d)", n, RX_BACKLOG_MAX);
    while (d->rx_count)   /* a fresh device: whatever arrived since creation is newer */
        drop_head_frame(d);
    for (uint32_t i = 0; i < n && persist_ok(r); i++) {
        uint8_t flags = persist_get_u8(r);
        size_t len;
        const uint8_t *p = persist_get_blob(r, MAX_FRAME, &len);
        if (!persist_ok(r))
            break;
        if (len == 0 || (flags & ~VIRTIO_NET_HDR_F_DATA_VALID))
            return persist_fail(r, "virtio-net: backlogged frame %u is corrupt", i);
        struct virtio_net_hdr_v1 h = { .flags = flags };
        backend_rx(d, &h, p, len);
    }
    if (!persist_ok(r))
        return -1;
    if (d->be->ops->restore && d->be->ops->restore(d->be, r) != 0)
        return -1;
    if (persist_close(r) != 0)
        return -1;
    d->rx_dropped = dropped;
    return 0;
}

/* On a freshly created device (not running yet). Its thread runs the backend, so it is
 * parked meanwhile unless the caller paused it already. */
static int net_restore(struct virtio_mmio *t, struct persist_reader *r)
{
    struct net_dev *d = t->dev;
    bool was_paused = io_thread_pause_pending(&d->io);
    io_thread_pause(&d->io);
    int ret = net_restore_locked(d, r);
    if (!was_paused)
        io_thread_resume(&d->io);
    return ret;
}

static const struct virtio_dev_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = 2,
    .queue_notify = net_queue_notify,
    .activate = net_wake,
    .reset = net_wake,
    .destroy = net_destroy,
    .pause = net_pause,
    .resume = net_resume,
    .save = net_save,
    .restore = net_restore,
};

struct virtio_mmio *virtio_net_create(const struct net_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen)
{
    struct net_dev *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "virtio-net: out of memory");
        return NULL;
    }
    uint64_t features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
                        (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
                        (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
    virtio_mmio_init(&d->t, &net_ops, d, mem, irq, features);
    char group[96];
    snprintf(group, sizeof(group), "net_%s", opts->id ? opts->id : "eth");
    d->metrics = metrics_dev_register(group, METRICS_NET_NAMES, METRICS_NET_N);
    if (io_thread_open(&d->io, NUM_TIMERS) < 0) {
        snprintf(err, errlen, "virtio-net: cannot create eventfd/timerfd: %s", strerror(errno));
        free_net_dev(d);
        return NULL;
    }

    struct virtio_net_config cfg = { .status = VIRTIO_NET_S_LINK_UP, .max_virtqueue_pairs = 1 };
    memcpy(cfg.mac, opts->mac, sizeof(cfg.mac));
    static const uint8_t zero_mac[6];
    if (!memcmp(cfg.mac, zero_mac, sizeof(zero_mac)))   /* no MAC given: QEMU's default */
        memcpy(cfg.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, sizeof(cfg.mac));
    d->t.config_len = offsetof(struct virtio_net_config, mtu);   /* mac, status, max_virtqueue_pairs */
    memcpy(d->t.config, &cfg, d->t.config_len);

    uint64_t now = rate_limiter_now_ns();
    rate_limiter_init(&d->rx_rl, &opts->rx_limit, now);
    rate_limiter_init(&d->tx_rl, &opts->tx_limit, now);

    char why[256] = "";
    if (opts->backend == NET_TAP)
        d->be = net_tap_create(opts->tap, backend_rx, d, why, sizeof(why));
    else
        d->be = net_slirp_create(opts, backend_rx, d, why, sizeof(why));
    if (!d->be) {
        snprintf(err, errlen, "virtio-net: %s", why);
        free_net_dev(d);
        return NULL;
    }
    int e = io_thread_start(&d->io, io_thread, d);
    if (e) {
        snprintf(err, errlen, "virtio-net: cannot start the I/O thread: %s", strerror(e));
        free_net_dev(d);
        return NULL;
    }
    return &d->t;
}

void virtio_net_update_limits(struct virtio_mmio *t, const struct rate_limiter_config *rx,
                              const struct rate_limiter_config *tx)
{
    struct net_dev *d = t->dev;
    if (rx)
        rate_limiter_update(&d->rx_rl, rx, rate_limiter_now_ns());
    if (tx)
        rate_limiter_update(&d->tx_rl, tx, rate_limiter_now_ns());
    io_signal(d->io.kick_fd);   /* traffic held by the old limits is re-evaluated now */
}
