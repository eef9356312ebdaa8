/* balloon.c — virtio-balloon (virtio 1.x §5.5). The host sets a target (num_pages, in 4 KiB
 * pages); the guest driver gives that many pages to the balloon and lists their frame numbers
 * on the inflate queue, and we hand the host memory behind them back to the kernel with
 * MADV_DONTNEED (on the anonymous private mapping of guest RAM, a later touch finds a fresh
 * zero page). Deflating needs nothing from us: the page comes back on its first touch. With
 * statistics on, the driver keeps one buffer of (tag, value) pairs on the stats queue; we
 * remember the values and give the buffer back every stats_polling_s seconds, which asks the
 * driver for a fresh report. All queue work runs on the device's own I/O thread. */
#include <errno.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "dev/virtio/balloon.h"
#include "dev/virtio/io_thread.h"
#include "vm/metrics.h"

enum { INFLATE_Q = 0, DEFLATE_Q = 1, STATS_Q = 2 };

#define BALLOON_PAGE_SIZE (1ull << VIRTIO_BALLOON_PFN_SHIFT)
#define PAGES_PER_MIB (1024 * 1024 / BALLOON_PAGE_SIZE)

struct balloon_dev {
    struct virtio_mmio t;
    struct metrics_dev *metrics;      /* the "balloon" group */
    struct balloon_options opts;
    struct io_thread io;              /* timer_fd[0]: the statistics poll, every stats_polling_s */
    long host_page_size;
    uint32_t target_pages;            /* what num_pages must read; guarded by t.lock */
    uint64_t stats[VIRTIO_BALLOON_S_NR];   /* latest report, UINT64_MAX: never reported; t.lock */
    bool holding_stats;               /* I/O thread only: the driver's stats buffer is with us */
    struct virtq_req stats_req;
    struct virtq_req req;             /* scratch for the inflate/deflate queues */
};

static void put_le32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));   /* virtio config is little-endian, as is every host we build for */
}

/* Rewrites the parts of the config space the driver may not change (everything but actual). */
static void refresh_config_locked(struct balloon_dev *d)
{
    uint32_t actual;
    memcpy(&actual, d->t.config + offsetof(struct virtio_balloon_config, actual), sizeof(actual));
    memset(d->t.config, 0, d->t.config_len);
    put_le32(d->t.config + offsetof(struct virtio_balloon_config, num_pages), d->target_pages);
    put_le32(d->t.config + offsetof(struct virtio_balloon_config, actual), actual);
}

/* Gives the host pages behind guest frames [pfn, pfn+count) back to the kernel. Frames outside
 * RAM are skipped: a guest cannot make us drop memory that is not its own. */
static void release_pages(struct balloon_dev *d, uint64_t pfn, uint64_t count)
{
    uint64_t gpa = pfn << VIRTIO_BALLOON_PFN_SHIFT, len = count * BALLOON_PAGE_SIZE;
    uint8_t *host = guest_mem_ptr(d->t.mem, gpa, len);
    /* a host page bigger than the balloon's 4 KiB would also drop the guest's neighbours */
    if (!host || d->host_page_size != (long)BALLOON_PAGE_SIZE || ((uintptr_t)host & (BALLOON_PAGE_SIZE - 1)))
        return;
    if (madvise(host, len, MADV_DONTNEED) == 0)
        guest_mem_written(d->t.mem, host, len);   /* the contents changed: drop decoded code */
}

/* One inflate buffer: a list of little-endian u32 PFNs. Runs of consecutive frames are
 * released with one madvise. */
static void inflate(struct balloon_dev *d, const struct virtq_req *req)
{
    uint64_t run_start = 0, run_len = 0;
    uint32_t pfns[256];
    for (size_t off = 0;;) {
        size_t got = virtq_req_read(req, off, pfns, sizeof(pfns));
        size_t n = got / sizeof(uint32_t);
        for (size_t i = 0; i < n; i++) {
            uint64_t pfn = pfns[i];
            if (run_len && pfn == run_start + run_len) {
                run_len++;
                continue;
            }
            if (run_len)
                release_pages(d, run_start, run_len);
            run_start = pfn;
            run_len = 1;
        }
        off += n * sizeof(uint32_t);
        if (got < sizeof(pfns))
            break;
    }
    if (run_len)
        release_pages(d, run_start, run_len);
}

/* Records a statistics report (an array of packed {le16 tag, le64 value}). */
static void record_stats(struct balloon_dev *d, const struct virtq_req *req)
{
    struct virtio_balloon_stat s;
    pthread_mutex_lock(&d->t.lock);
    for (size_t off = 0; virtq_req_read(req, off, &s, sizeof(s)) == sizeof(s); off += sizeof(s)) {
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, &s.tag, sizeof(tag));
        memcpy(&val, &s.val, sizeof(val));
        if (tag < VIRTIO_BALLOON_S_NR)   /* tags from newer drivers are ignored */
            d->stats[tag] = val;
    }
    pthread_mutex_unlock(&d->t.lock);
}

/* Takes every available chain of queue q and hands it to `handle` (which pushes it or keeps
 * it), re-enabling kicks before stopping so none is missed. */
static void drain_queue(struct balloon_dev *d, unsigned q, void (*handle)(struct balloon_dev *, unsigned))
{
    for (;;) {
        virtio_mmio_disable_notify(&d->t, q);
        enum virtq_pop_result r;
        while ((r = virtio_mmio_pop(&d->t, q, &d->req)) == VIRTQ_GOT)
            handle(d, q);
        if (r == VIRTQ_MALFORMED || !virtio_mmio_enable_notify(&d->t, q))
            return;
    }
}

static void handle_page_list(struct balloon_dev *d, unsigned q)
{
    if (q == INFLATE_Q)
        inflate(d, &d->req);
    metrics_dev_inc(d->metrics, q == INFLATE_Q ? METRIC_BALLOON_INFLATE_COUNT : METRIC_BALLOON_DEFLATE_COUNT);
    virtio_mmio_push(&d->t, q, &d->req, 0);
}

static void handle_stats(struct balloon_dev *d, unsigned q)
{
    record_stats(d, &d->req);
    /* the driver keeps one buffer here; should it post another, return the old one */
    if (d->holding_stats)
        virtio_mmio_push(&d->t, q, &d->stats_req, 0);
    d->stats_req = d->req;
    d->holding_stats = true;
}

/* Asks the driver for a fresh report by giving its buffer back. */
static void poll_stats(struct balloon_dev *d)
{
    if (!d->holding_stats)
        return;
    d->holding_stats = false;
    virtio_mmio_push(&d->t, STATS_Q, &d->stats_req, 0);
}

static void *io_thread(void *arg)
{
    struct balloon_dev *d = arg;
    for (;;) {
        int ev = io_thread_wait(&d->io);
        if (ev < 0)
            continue;
        if (ev & IO_STOP)
            break;
        if (ev & IO_KICK) {
            drain_queue(d, INFLATE_Q, handle_page_list);
            drain_queue(d, DEFLATE_Q, handle_page_list);
            if (d->opts.stats_polling_s)
                drain_queue(d, STATS_Q, handle_stats);
        }
        if (ev & IO_TIMER(0))
            poll_stats(d);
    }
    return NULL;
}

static void balloon_notify(struct virtio_mmio *t, unsigned q)
{
    (void)q;
    io_signal(((struct balloon_dev *)t->dev)->io.kick_fd);
}

/* Buffers may already be waiting when the driver says DRIVER_OK: look once. */
static void balloon_activate(struct virtio_mmio *t)
{
    balloon_notify(t, INFLATE_Q);
}

static void balloon_config_write(struct virtio_mmio *t, unsigned offset, unsigned size)
{
    (void)offset;
    (void)size;
    refresh_config_locked(t->dev);
}

/* A new driver starts with an empty balloon (it reports actual again once it has inflated). */
static void balloon_reset(struct virtio_mmio *t)
{
    memset(t->config + offsetof(struct virtio_balloon_config, actual), 0, sizeof(uint32_t));
}

static void balloon_destroy(struct virtio_mmio *t)
{
    struct balloon_dev *d = t->dev;
    io_thread_destroy(&d->io);
    virtio_mmio_destroy(&d->t);
    free(d);
}

static void balloon_pause(struct virtio_mmio *t)
{
    io_thread_pause(&((struct balloon_dev *)t->dev)->io);
}

static void balloon_resume(struct virtio_mmio *t)
{
    io_thread_resume(&((struct balloon_dev *)t->dev)->io);
}

#define BALLOON_STATE_VERSION 1

/* Target, actual, the statistics and their polling interval. The driver's stats buffer that we
 * hold is in flight: the restored device takes it again (and rereads the same report). */
static void balloon_save(struct virtio_mmio *t, struct persist_writer *w, unsigned in_flight[VIRTIO_MAX_QUEUES])
{
    struct balloon_dev *d = t->dev;
    in_flight[STATS_Q] = d->holding_stats ? 1 : 0;
    persist_begin(w, "virtio-balloon", BALLOON_STATE_VERSION);
    pthread_mutex_lock(&t->lock);
    uint32_t actual;
    memcpy(&actual, t->config + offsetof(struct virtio_balloon_config, actual), sizeof(actual));
    persist_u32(w, d->target_pages);
    persist_u32(w, actual);
    persist_u32(w, VIRTIO_BALLOON_S_NR);
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        persist_u64(w, d->stats[i]);
    pthread_mutex_unlock(&t->lock);
    persist_u32(w, __atomic_load_n(&d->opts.stats_polling_s, __ATOMIC_RELAXED));
    persist_end(w);
}

static int balloon_restore(struct virtio_mmio *t, struct persist_reader *r)
{
    struct balloon_dev *d = t->dev;
    if (persist_open(r, "virtio-balloon", BALLOON_STATE_VERSION) != 0)
        return -1;
    uint32_t target = persist_get_u32(r), actual = persist_get_u32(r), nstats = persist_get_u32(r);
    if (persist_ok(r) && nstats > VIRTIO_BALLOON_S_NR)   /* a newer kernel header's tags: ours only */
        return persist_fail(r, "virtio-balloon: %u statistics, at most %u known", nstats, VIRTIO_BALLOON_S_NR);
    uint64_t stats[VIRTIO_BALLOON_S_NR];
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        stats[i] = i < nstats ? persist_get_u64(r) : UINT64_MAX;
    uint32_t polling = persist_get_u32(r);
    if (persist_close(r) != 0)
        return -1;
    if (!polling != !d->opts.stats_polling_s)
        return persist_fail(r, "virtio-balloon: statistics were %s when saved", polling ? "on" : "off");
    pthread_mutex_lock(&t->lock);
    d->target_pages = target;
    memcpy(d->stats, stats, sizeof(stats));
    put_le32(t->config + offsetof(struct virtio_balloon_config, actual), actual);
    refresh_config_locked(d);
    pthread_mutex_unlock(&t->lock);
    if (polling && polling != d->opts.stats_polling_s)
        virtio_balloon_set_stats_interval(t, polling);
    return 0;
}

static const struct virtio_dev_ops balloon_ops = {
    .name = "virtio-balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .num_queues = 3,   /* inflate, deflate, stats; without statistics the last one does not exist */
    .queue_notify = balloon_notify,
    .activate = balloon_activate,
    .reset = balloon_reset,
    .config_write = balloon_config_write,
    .destroy = balloon_destroy,
    .pause = balloon_pause,
    .resume = balloon_resume,
    .save = balloon_save,
    .restore = balloon_restore,
};

static uint32_t mib_to_pages(uint32_t mib)
{
    uint64_t pages = (uint64_t)mib * PAGES_PER_MIB;
    return pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages;
}

struct virtio_mmio *virtio_balloon_create(const struct balloon_options *opts, const struct guest_mem *mem,
                                           struct irq_line irq, char *err, size_t errlen)
{
    struct balloon_dev *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "virtio-balloon: out of memory");
        return NULL;
    }
    d->opts = *opts;
    d->host_page_size = sysconf(_SC_PAGESIZE);
    if (io_thread_open(&d->io, 1) < 0) {
        snprintf(err, errlen, "virtio-balloon: cannot create event fds: %s", strerror(errno));
        free(d);
        return NULL;
    }
    if (opts->stats_polling_s)
        io_timer_every(d->io.timer_fd[0], opts->stats_polling_s * 1000000000ull);
    uint64_t features = 0;
    if (opts->stats_polling_s)
        features |= 1ull << VIRTIO_BALLOON_F_STATS_VQ;
    if (opts->deflate_on_oom)
        features |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    virtio_mmio_init(&d->t, &balloon_ops, d, mem, irq, features);
    if (!opts->stats_polling_s)
        d->t.num_queues = 2;   /* no stats queue for the driver either */
    d->metrics = metrics_dev_register("balloon", METRICS_BALLOON_NAMES, METRICS_BALLOON_N);
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        d->stats[i] = UINT64_MAX;
    d->target_pages = mib_to_pages(opts->amount_mib);
    d->t.config_len = sizeof(struct virtio_balloon_config);
    refresh_config_locked(d);   /* nobody else can see the device yet */
    int rc = io_thread_start(&d->io, io_thread, d);
    if (rc) {
        snprintf(err, errlen, "virtio-balloon: cannot start its I/O thread: %s", strerror(rc));
        balloon_destroy(&d->t);
        return NULL;
    }
    return &d->t;
}

void virtio_balloon_set_target(struct virtio_mmio *t, uint32_t amount_mib)
{
    struct balloon_dev *d = t->dev;
    pthread_mutex_lock(&t->lock);
    d->target_pages = mib_to_pages(amount_mib);
    refresh_config_locked(d);
    virtio_mmio_config_changed_locked(t);
    pthread_mutex_unlock(&t->lock);
}

void virtio_balloon_get_stats(struct virtio_mmio *t, struct balloon_stats *out)
{
    struct balloon_dev *d = t->dev;
    pthread_mutex_lock(&t->lock);
    uint32_t actual;
    memcpy(&actual, t->config + offsetof(struct virtio_balloon_config, actual), sizeof(actual));
    *out = (struct balloon_stats){
        .target_pages = d->target_pages,
        .actual_pages = actual,
        .swap_in = d->stats[VIRTIO_BALLOON_S_SWAP_IN],
        .swap_out = d->stats[VIRTIO_BALLOON_S_SWAP_OUT],
        .major_faults = d->stats[VIRTIO_BALLOON_S_MAJFLT],
        .minor_faults = d->stats[VIRTIO_BALLOON_S_MINFLT],
        .free_memory = d->stats[VIRTIO_BALLOON_S_MEMFREE],
        .total_memory = d->stats[VIRTIO_BALLOON_S_MEMTOT],
        .available_memory = d->stats[VIRTIO_BALLOON_S_AVAIL],
        .disk_caches = d->stats[VIRTIO_BALLOON_S_CACHES],
        .hugetlb_allocations = d->stats[VIRTIO_BALLOON_S_HTLB_PGALLOC],
        .hugetlb_failures = d->stats[VIRTIO_BALLOON_S_HTLB_PGFAIL],
    };
    pthread_mutex_unlock(&t->lock);
}

void virtio_balloon_set_stats_interval(struct virtio_mmio *t, uint32_t seconds)
{
    struct balloon_dev *d = t->dev;
    /* the stats queue exists only when statistics were on at creation (the caller checks) */
    if (!d->opts.stats_polling_s || !seconds)
        return;
    __atomic_store_n(&d->opts.stats_polling_s, seconds, __ATOMIC_RELAXED);
    io_timer_every(d->io.timer_fd[0], seconds * 1000000000ull);
}
