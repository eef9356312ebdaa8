/* rng.c — virtio-rng (virtio 1.x §5.4): the driver posts device-writable buffers on its one
 * queue and we fill them from the host's getrandom(). An optional rate limiter (bytes and
 * requests) throttles how fast a guest can drain host entropy; a request that has to wait is
 * held and finished when the limiter's timerfd fires, never dropped. All work runs on the
 * device's own I/O thread: the vCPU only writes the kick eventfd. */
#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_rng.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "backend/rate_limiter.h"
#include "dev/virtio/io_thread.h"
#include "dev/virtio/rng.h"
#include "vm/metrics.h"

#define RNG_QUEUE 0
/* Bytes one request gets at most: a huge guest buffer must not keep the thread busy for long. */
#define RNG_MAX_PER_REQUEST (1u << 20)

struct rng_dev {
    struct virtio_mmio t;
    struct metrics_dev *metrics;   /* the "entropy" group */
    struct io_thread io;           /* timer_fd[0]: the limiter's wait */
    struct rate_limiter limiter;
    /* a request the limiter held back, finished when timer_fd fires */
    bool have_pending;
    struct virtq_req pending;
};

/* Fills the first `len` writable bytes of req with host entropy. Returns bytes written. */
static size_t fill_random(const struct virtq_req *req, size_t len)
{
    size_t done = 0;
    for (unsigned k = req->nout; k < req->nout + req->nin && done < len; k++) {
        uint8_t *p = req->iov[k].iov_base;
        size_t want = req->iov[k].iov_len < len - done ? req->iov[k].iov_len : len - done;
        size_t got = 0;
        while (got < want) {
            ssize_t n = getrandom(p + got, want - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return done + got;   /* cannot happen once the pool is up; report what we have */
            }
            got += (size_t)n;
        }
        done += got;
    }
    return done;
}

/* Was req taken before the driver last reset the device? Its buffers may be reused by now. */
static bool request_stale(struct virtio_mmio *t, const struct virtq_req *req)
{
    pthread_mutex_lock(&t->lock);
    bool stale = req->epoch != t->epoch;
    pthread_mutex_unlock(&t->lock);
    return stale;
}

static size_t request_size(const struct virtq_req *req)
{
    return req->in_len < RNG_MAX_PER_REQUEST ? (size_t)req->in_len : RNG_MAX_PER_REQUEST;
}

/* Completes req unless the limiter says wait; then it is kept as pending. Returns false when
 * it had to wait. */
static bool serve(struct rng_dev *d, const struct virtq_req *req)
{
    size_t len = request_size(req);
    uint64_t wait = rate_limiter_take(&d->limiter, len, rate_limiter_now_ns());
    if (wait) {
        if (req != &d->pending)
            d->pending = *req;
        d->have_pending = true;
        io_timer_arm(d->io.timer_fd[0], wait);
        metrics_dev_inc(d->metrics, METRIC_RNG_ENTROPY_RATE_LIMITER_THROTTLED);
        return false;
    }
    if (request_stale(&d->t, req))
        return true;
    size_t written = fill_random(req, len);
    if (written < len)
        metrics_dev_inc(d->metrics, METRIC_RNG_HOST_RNG_FAILS);
    metrics_dev_inc(d->metrics, METRIC_RNG_ENTROPY_EVENT_COUNT);
    metrics_dev_add(d->metrics, METRIC_RNG_ENTROPY_BYTES, written);
    virtio_mmio_push(&d->t, RNG_QUEUE, req, (uint32_t)written);
    return true;
}

/* Serves everything the driver made available, until the ring is empty or the limiter says
 * wait. */
static void process_queue(struct rng_dev *d)
{
    if (d->have_pending) {
        d->have_pending = false;
        if (!serve(d, &d->pending))
            return;
    }
    struct virtq_req *req = malloc(sizeof(*req));   /* ~4 KiB: keep it off the thread stack */
    if (!req)
        return;
    for (;;) {
        virtio_mmio_disable_notify(&d->t, RNG_QUEUE);
        enum virtq_pop_result r;
        while ((r = virtio_mmio_pop(&d->t, RNG_QUEUE, req)) == VIRTQ_GOT) {
            if (!serve(d, req))
                goto out;
        }
        if (r == VIRTQ_MALFORMED || !virtio_mmio_enable_notify(&d->t, RNG_QUEUE))
            break;
    }
out:
    free(req);
}

static void *io_thread(void *arg)
{
    struct rng_dev *d = arg;
    for (;;) {
        int ev = io_thread_wait(&d->io);
        if (ev < 0)
            continue;
        if (ev & IO_STOP)
            break;
        /* a kick while a request waits for the limiter changes nothing: the timer comes first */
        if (ev && (!d->have_pending || (ev & IO_TIMER(0)))) {
            if (d->have_pending && request_stale(&d->t, &d->pending))
                d->have_pending = false;
            process_queue(d);
        }
    }
    return NULL;
}

static void rng_notify(struct virtio_mmio *t, unsigned q)
{
    (void)q;
    io_signal(((struct rng_dev *)t->dev)->io.kick_fd);
}

/* Buffers may already be waiting when the driver says DRIVER_OK: look once. */
static void rng_activate(struct virtio_mmio *t)
{
    rng_notify(t, RNG_QUEUE);
}

static void rng_destroy(struct virtio_mmio *t)
{
    struct rng_dev *d = t->dev;
    io_thread_destroy(&d->io);
    virtio_mmio_destroy(&d->t);
    free(d);
}

static void rng_pause(struct virtio_mmio *t)
{
    io_thread_pause(&((struct rng_dev *)t->dev)->io);
}

static void rng_resume(struct virtio_mmio *t)
{
    io_thread_resume(&((struct rng_dev *)t->dev)->io);
}

#define RNG_STATE_VERSION 1

/* The limiter; a request it holds back is in flight and is taken again after restore. */
static void rng_save(struct virtio_mmio *t, struct persist_writer *w, unsigned in_flight[VIRTIO_MAX_QUEUES])
{
    struct rng_dev *d = t->dev;
    in_flight[RNG_QUEUE] = d->have_pending ? 1 : 0;
    persist_begin(w, "virtio-rng", RNG_STATE_VERSION);
    rate_limiter_save(&d->limiter, w);
    persist_end(w);
}

static int rng_restore(struct virtio_mmio *t, struct persist_reader *r)
{
    struct rng_dev *d = t->dev;
    if (persist_open(r, "virtio-rng", RNG_STATE_VERSION) != 0 || rate_limiter_restore(&d->limiter, r) != 0)
        return -1;
    return persist_close(r);
}

static const struct virtio_dev_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_notify = rng_notify,
    .activate = rng_activate,
    .destroy = rng_destroy,
    .pause = rng_pause,
    .resume = rng_resume,
    .save = rng_save,
    .restore = rng_restore,
};

struct virtio_mmio *virtio_rng_create(const struct rng_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen)
{
    struct rng_dev *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "virtio-rng: out of memory");
        return NULL;
    }
    if (io_thread_open(&d->io, 1) < 0) {
        snprintf(err, errlen, "virtio-rng: cannot create event fds: %s", strerror(errno));
        free(d);
        return NULL;
    }
    rate_limiter_init(&d->limiter, &opts->limit, rate_limiter_now_ns());
    virtio_mmio_init(&d->t, &rng_ops, d, mem, irq, 0);
    d->metrics = metrics_dev_register("entropy", METRICS_ENTROPY_NAMES, METRICS_ENTROPY_N);
    int rc = io_thread_start(&d->io, io_thread, d);
    if (rc) {
        snprintf(err, errlen, "virtio-rng: cannot start its I/O thread: %s", strerror(rc));
        rng_destroy(&d->t);
        return NULL;
    }
    return &d->t;
}
