/* blk.c — virtio-blk (virtio 1.x §5.2) over a raw image file.
 *
 * One I/O thread per disk takes requests from the single queue and does the file I/O, so a slow
 * disk never stalls a vCPU. The thread sleeps in poll() on three eventfds: kicks from the
 * driver, the stop request from destroy, and a timerfd armed when the rate limiter says wait.
 * A throttled request stays popped (never dropped or failed) until the timer fires.
 *
 * The image is flock()ed (exclusive, or shared for read-only drives) so two kilns cannot write
 * one image at once. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "common/fd_io.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/io_thread.h"
#include "vm/logger.h"
#include "vm/metrics.h"

#define SECTOR_SHIFT 9
#define SECTOR_SIZE (1u << SECTOR_SHIFT)
#define BLK_QUEUE 0
/* discard / write-zeroes: at most 1 GiB per request, 4 KiB granularity (typical fs block) */
#define MAX_DISCARD_SECTORS (1u << 21)
#define DISCARD_ALIGNMENT_SECTORS 8

_Static_assert(sizeof(struct virtio_blk_config) <= VIRTIO_CONFIG_MAX, "blk config fits the window");

struct virtio_blk {
    struct virtio_mmio t;
    struct metrics_dev *metrics;       /* the "block_<id>" group */
    int fd;
    uint64_t capacity;                 /* in 512-byte sectors */
    bool readonly;
    char serial[VIRTIO_BLK_ID_BYTES];  /* zero padded, not necessarily terminated */
    struct rate_limiter limiter;
    struct io_thread io;               /* timer_fd[0]: the limiter's wait */
    char *path;                        /* the image, for messages */
    _Atomic bool host_error_logged;    /* a failed host I/O was reported (once per image) */
    /* I/O-thread state */
    bool have_req;                     /* req was popped and is not completed yet */
    bool throttled;                    /* the timer is armed for req */
    struct virtq_req req;
};

/* The part [offset, offset+len) of an iovec list, as a new list in dst (same capacity). */
static unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t offset, uint64_t len,
                          struct iovec *dst)
{
    unsigned out = 0;
    for (unsigned k = 0; k < n && len; k++) {
        if (offset >= src[k].iov_len) {
            offset -= src[k].iov_len;
            continue;
        }
        uint64_t chunk = src[k].iov_len - offset;
        if (chunk > len)
            chunk = len;
        dst[out++] = (struct iovec){ (uint8_t *)src[k].iov_base + offset, chunk };
        len -= chunk;
        offset = 0;
    }
    return out;
}

/* Drops the first n bytes of an iovec list in place. */
static void iov_advance(struct iovec **iov, unsigned *cnt, size_t n)
{
    while (n && *cnt) {
        if (n < (*iov)->iov_len) {
            (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
            (*iov)->iov_len -= n;
            return;
        }
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
}

/* preadv/pwritev until done, retrying EINTR and short transfers. Returns bytes moved; stops
 * early on an error (errno set) or end of file (errno 0); the caller compares with what it
 * asked. */
static uint64_t file_io(int fd, bool write, struct iovec *iov, unsigned cnt, off_t off)
{
    uint64_t done = 0;
    while (cnt) {
        ssize_t r = write ? pwritev(fd, iov, (int)cnt, off) : preadv(fd, iov, (int)cnt, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = 0;
        if (r <= 0)
            break;
        done += (uint64_t)r;
        off += r;
        iov_advance(&iov, &cnt, (size_t)r);
    }
    return done;
}

/* The host refused the image's I/O (a full disk: ENOSPC, EIO, EFBIG...). The guest gets an I/O
 * error for the request, which is right, but the operator must hear of it too: once per image,
 * not once per request (a guest retrying would flood the log). */
static void host_io_failed(struct virtio_blk *b, const char *what, int err)
{
    if (!err || atomic_exchange(&b->host_error_logged, true))
        return;
    char path[256];
    pthread_mutex_lock(&b->t.lock);   /* PATCH /drives may swap the path meanwhile */
    snprintf(path, sizeof(path), "%s", b->path ? b->path : "?");
    pthread_mutex_unlock(&b->t.lock);
    LOG_ERROR("disk %s: %s the image failed: %s; the guest gets I/O errors (logged once per image)",
              path, what, strerror(err));
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t nsectors)
{
    return sector <= b->capacity && nsectors <= b->capacity - sector;
}

static int write_zero_bytes(int fd, off_t off, uint64_t len)
{
    static const uint8_t zeros[64 * 1024];
    while (len) {
        size_t chunk = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        struct iovec iov = { (void *)zeros, chunk };
        if (file_io(fd, true, &iov, 1, off) != chunk)
            return -1;
        off += (off_t)chunk;
        len -= chunk;
    }
    return 0;
}

static int fallocate_retry(int fd, int mode, off_t off, off_t len)
{
    int r;
    do
        r = fallocate(fd, mode, off, len);
    while (r < 0 && errno == EINTR);
    return r;
}

/* IN: read data into the writable buffers before the status byte. */
static uint8_t do_read(struct virtio_blk *b, uint64_t sector, struct iovec *data, unsigned ndata,
                       uint64_t len, uint64_t *written)
{
    if (len % SECTOR_SIZE || !range_ok(b, sector, len >> SECTOR_SHIFT))
        return VIRTIO_BLK_S_IOERR;
    uint64_t got = file_io(b->fd, false, data, ndata, (off_t)(sector << SECTOR_SHIFT));
    if (got != len)
        host_io_failed(b, "reading", errno);
    *written = got;
    metrics_dev_inc(b->metrics, METRIC_BLK_READ_COUNT);
    metrics_dev_add(b->metrics, METRIC_BLK_READ_BYTES, got);
    return got == len ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

/* OUT: write the readable buffers after the header. */
static uint8_t do_write(struct virtio_blk *b, uint64_t sector, struct iovec *data, unsigned ndata, uint64_t len)
{
    if (b->readonly || len % SECTOR_SIZE || !range_ok(b, sector, len >> SECTOR_SHIFT))
        return VIRTIO_BLK_S_IOERR;
    uint64_t put = file_io(b->fd, true, data, ndata, (off_t)(sector << SECTOR_SHIFT));
    if (put != len)
        host_io_failed(b, "writing", errno ? errno : ENOSPC);   /* 0 bytes written, no error: full */
    metrics_dev_inc(b->metrics, METRIC_BLK_WRITE_COUNT);
    metrics_dev_add(b->metrics, METRIC_BLK_WRITE_BYTES, put);
    return put == len ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

static uint8_t do_flush(struct virtio_blk *b)
{
    metrics_dev_inc(b->metrics, METRIC_BLK_FLUSH_COUNT);
    int r;
    do
        r = fdatasync(b->fd);
    while (r < 0 && errno == EINTR);
    if (r != 0)
        host_io_failed(b, "flushing", errno);
    return r == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

/* DISCARD and WRITE_ZEROES: one segment (max_*_seg = 1) after the header. */
static uint8_t do_discard_or_zeroes(struct virtio_blk *b, uint32_t type)
{
    struct virtio_blk_discard_write_zeroes seg;
    uint64_t hdr = sizeof(struct virtio_blk_outhdr);
    if (b->req.out_len != hdr + sizeof(seg))   /* missing, or more segments than we offered */
        return VIRTIO_BLK_S_UNSUPP;
    virtq_req_read(&b->req, hdr, &seg, sizeof(seg));
    bool unmap = seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
    if (seg.flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
        return VIRTIO_BLK_S_UNSUPP;
    if (type == VIRTIO_BLK_T_DISCARD && unmap)   /* the spec reserves the flag for discard */
        return VIRTIO_BLK_S_UNSUPP;
    if (b->readonly || seg.num_sectors > MAX_DISCARD_SECTORS || !range_ok(b, seg.sector, seg.num_sectors))
        return VIRTIO_BLK_S_IOERR;
    off_t off = (off_t)(seg.sector << SECTOR_SHIFT);
    off_t len = (off_t)seg.num_sectors << SECTOR_SHIFT;
    if (type == VIRTIO_BLK_T_DISCARD) {
        metrics_dev_inc(b->metrics, METRIC_BLK_DISCARD_COUNT);
        /* a hint: when the file system cannot punch holes, keeping the data is allowed */
        fallocate_retry(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
        return VIRTIO_BLK_S_OK;
    }
    metrics_dev_inc(b->metrics, METRIC_BLK_WRITE_ZEROES_COUNT);
    int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate_retry(b->fd, mode, off, len) == 0)
        return VIRTIO_BLK_S_OK;
    /* e.g. tmpfs has no ZERO_RANGE: the zeros must still be there */
    if (write_zero_bytes(b->fd, off, (uint64_t)len) == 0)
        return VIRTIO_BLK_S_OK;
    host_io_failed(b, "zeroing", errno ? errno : ENOSPC);
    return VIRTIO_BLK_S_IOERR;
}

static uint8_t do_get_id(struct virtio_blk *b, uint64_t avail, uint64_t *written)
{
    size_t n = avail < VIRTIO_BLK_ID_BYTES ? (size_t)avail : VIRTIO_BLK_ID_BYTES;
    *written = virtq_req_write(&b->req, 0, b->serial, n);
    return VIRTIO_BLK_S_OK;
}

/* Tokens a request costs: its data bytes (flush, get-id, discard, write-zeroes move none
 * through the guest's buffers) and one operation. */
static uint64_t request_bytes(const struct virtq_req *req, uint32_t type)
{
    uint64_t hdr = sizeof(struct virtio_blk_outhdr);
    if (type == VIRTIO_BLK_T_IN)
        return req->in_len ? req->in_len - 1 : 0;
    if (type == VIRTIO_BLK_T_OUT)
        return req->out_len > hdr ? req->out_len - hdr : 0;
    return 0;
}

static bool read_header(const struct virtq_req *req, struct virtio_blk_outhdr *hdr)
{
    return virtq_req_read(req, 0, hdr, sizeof(*hdr)) == sizeof(*hdr);
}

/* Runs b->req and completes it. A chain with no room for a status byte cannot be answered:
 * the device is marked broken instead. */
static void handle_request(struct virtio_blk *b)
{
    struct virtq_req *req = &b->req;
    if (req->nin == 0) {
        virtio_mmio_set_broken(&b->t, "a virtio-blk request without a status byte");
        return;
    }
    struct iovec *last = &req->iov[req->nout + req->nin - 1];
    uint8_t *status = (uint8_t *)last->iov_base + last->iov_len - 1;
    uint64_t data_in = req->in_len - 1;   /* writable bytes before the status byte */
    uint64_t written = 0;
    uint8_t st;
    struct virtio_blk_outhdr hdr;
    struct iovec data[VIRTQ_MAX_SIZE];
    unsigned ndata;

    if (!read_header(req, &hdr)) {
        st = VIRTIO_BLK_S_IOERR;
    } else {
        switch (hdr.type) {
        case VIRTIO_BLK_T_IN:
            ndata = iov_slice(req->iov + req->nout, req->nin, 0, data_in, data);
            st = do_read(b, hdr.sector, data, ndata, data_in, &written);
            break;
        case VIRTIO_BLK_T_OUT:
            ndata = iov_slice(req->iov, req->nout, sizeof(hdr), req->out_len - sizeof(hdr), data);
            st = do_write(b, hdr.sector, data, ndata, req->out_len - sizeof(hdr));
            break;
        case VIRTIO_BLK_T_FLUSH:
            st = do_flush(b);
            break;
        case VIRTIO_BLK_T_GET_ID:
            st = do_get_id(b, data_in, &written);
            break;
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES:
            st = do_discard_or_zeroes(b, hdr.type);
            break;
        default:
            st = VIRTIO_BLK_S_UNSUPP;
            break;
        }
    }
    if (st == VIRTIO_BLK_S_IOERR)
        metrics_dev_inc(b->metrics, METRIC_BLK_EXECUTE_FAILS);
    *status = st;
    /* the used length covers the bytes from the start of the writable area; tell the CPU
     * backend about the status byte itself in case it lies beyond them */
    guest_mem_written(b->t.mem, status, 1);
    virtio_mmio_push(&b->t, BLK_QUEUE, req, (uint32_t)(written + 1));
}

/* True if the driver reset the device since b->req was taken (its completion would be lost). */
static bool request_stale(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->t.lock);
    bool stale = b->req.epoch != b->t.epoch;
    pthread_mutex_unlock(&b->t.lock);
    return stale;
}

static void arm_timer(struct virtio_blk *b, uint64_t wait_ns)
{
    io_timer_arm(b->io.timer_fd[0], wait_ns);
    b->throttled = true;
    metrics_dev_inc(b->metrics, METRIC_BLK_RATE_LIMITER_THROTTLED_EVENTS);
}

static void disarm_timer(struct virtio_blk *b)
{
    io_timer_disarm(b->io.timer_fd[0]);
    b->throttled = false;
}

/* Takes and runs requests until the queue is empty or the rate limiter says wait. */
static void process_queue(struct virtio_blk *b)
{
    if (b->have_req && request_stale(b)) {
        b->have_req = false;
        disarm_timer(b);
    }
    if (b->throttled)
        return;   /* the timer brings us back; kicks meanwhile change nothing */
    virtio_mmio_disable_notify(&b->t, BLK_QUEUE);
    for (;;) {
        if (!b->have_req) {
            enum virtq_pop_result r = virtio_mmio_pop(&b->t, BLK_QUEUE, &b->req);
            if (r == VIRTQ_MALFORMED)
                return;
            if (r == VIRTQ_EMPTY) {
                if (virtio_mmio_enable_notify(&b->t, BLK_QUEUE)) {
                    virtio_mmio_disable_notify(&b->t, BLK_QUEUE);
                    continue;
                }
                return;
            }
            b->have_req = true;
        }
        if (rate_limiter_is_limited(&b->limiter)) {
            struct virtio_blk_outhdr hdr;
            uint32_t type = read_header(&b->req, &hdr) ? hdr.type : VIRTIO_BLK_T_FLUSH;
            uint64_t wait = rate_limiter_take(&b->limiter, request_bytes(&b->req, type), rate_limiter_now_ns());
            if (wait) {
                arm_timer(b, wait);   /* notifications stay off while we are throttled */
                return;
            }
        }
        b->have_req = false;
        handle_request(b);
    }
}

static void *io_thread(void *opaque)
{
    struct virtio_blk *b = opaque;
    for (;;) {
        int ev = io_thread_wait(&b->io);
        if (ev < 0) {
            perror("kiln: virtio-blk: poll");
            break;
        }
        if (ev & IO_STOP)
            break;
        if (ev & IO_TIMER(0))
            b->throttled = false;
        process_queue(b);
    }
    return NULL;
}

static void blk_queue_notify(struct virtio_mmio *t, unsigned q)
{
    (void)q;
    io_signal(((struct virtio_blk *)t->dev)->io.kick_fd);
}

static void blk_destroy(struct virtio_mmio *t)
{
    struct virtio_blk *b = t->dev;
    io_thread_destroy(&b->io);
    if (b->fd >= 0)
        close(b->fd);   /* also drops the flock */
    virtio_mmio_destroy(t);
    free(b->path);
    free(b);
}

static void blk_pause(struct virtio_mmio *t)
{
    io_thread_pause(&((struct virtio_blk *)t->dev)->io);
}

static void blk_resume(struct virtio_mmio *t)
{
    io_thread_resume(&((struct virtio_blk *)t->dev)->io);
}

#define BLK_STATE_VERSION 1

/* The limiter and the capacity (to catch an image that changed size). A held (throttled)
 * request is in flight: the restored device takes it again and asks the limiter anew. */
static void blk_save(struct virtio_mmio *t, struct persist_writer *w, unsigned in_flight[VIRTIO_MAX_QUEUES])
{
    struct virtio_blk *b = t->dev;
    in_flight[BLK_QUEUE] = b->have_req ? 1 : 0;
    persist_begin(w, "virtio-blk", BLK_STATE_VERSION);
    persist_u64(w, __atomic_load_n(&b->capacity, __ATOMIC_RELAXED));
    persist_bool(w, b->readonly);
    rate_limiter_save(&b->limiter, w);
    persist_end(w);
}

static int blk_restore(struct virtio_mmio *t, struct persist_reader *r)
{
    struct virtio_blk *b = t->dev;
    if (persist_open(r, "virtio-blk", BLK_STATE_VERSION) != 0)
        return -1;
    uint64_t capacity = persist_get_u64(r);
    bool readonly = persist_get_bool(r);
    if (!persist_ok(r))
        return -1;
    if (capacity != b->capacity)
        return persist_fail(r, "virtio-blk: the image has %llu sectors, the snapshot %llu",
                            (unsigned long long)b->capacity, (unsigned long long)capacity);
    if (readonly != b->readonly)
        return persist_fail(r, "virtio-blk: the drive was %s when saved", readonly ? "read-only" : "read-write");
    if (rate_limiter_restore(&b->limiter, r) != 0)
        return -1;
    return persist_close(r);
}

static const struct virtio_dev_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_notify = blk_queue_notify,
    .destroy = blk_destroy,
    .pause = blk_pause,
    .resume = blk_resume,
    .save = blk_save,
    .restore = blk_restore,
};

/* Opens, locks and sizes the image. Returns 0 or -1 with err filled. */
static int open_image(struct virtio_blk *b, const struct disk_options *opts, char *err, size_t errlen)
{
    char why[128];
    b->fd = fd_open_user(opts->path, opts->readonly ? O_RDONLY : O_RDWR, 0, FD_REGULAR, why, sizeof(why));
    if (b->fd < 0) {
        snprintf(err, errlen, "disk %s: cannot open%s: %s", opts->path, opts->readonly ? "" : " read-write", why);
        return -1;
    }
    if (flock(b->fd, (opts->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "disk %s: image is locked by another process (in use by another VM?)",
                     opts->path);
        else
            snprintf(err, errlen, "disk %s: cannot lock the image: %s", opts->path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(b->fd, &st) < 0) {
        snprintf(err, errlen, "disk %s: %s", opts->path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "disk %s: not a regular file (raw image files only)", opts->path);
        return -1;
    }
    b->capacity = (uint64_t)st.st_size >> SECTOR_SHIFT;
    if (b->capacity == 0) {
        snprintf(err, errlen, "disk %s: image is smaller than one 512-byte sector", opts->path);
        return -1;
    }
    if (st.st_size % SECTOR_SIZE)
        fprintf(stderr, "kiln: disk %s: size is not a multiple of 512 bytes; the last %lld bytes "
                "are not visible to the guest\n", opts->path, (long long)(st.st_size % SECTOR_SIZE));
    return 0;
}

static void fill_config(struct virtio_blk *b)
{
    struct virtio_blk_config c;
    memset(&c, 0, sizeof(c));
    c.capacity = b->capacity;
    c.seg_max = VIRTQ_MAX_SIZE - 2;   /* the chain also holds the header and the status byte */
    c.blk_size = SECTOR_SIZE;
    c.max_discard_sectors = MAX_DISCARD_SECTORS;
    c.max_discard_seg = 1;
    c.discard_sector_alignment = DISCARD_ALIGNMENT_SECTORS;
    c.max_write_zeroes_sectors = MAX_DISCARD_SECTORS;
    c.max_write_zeroes_seg = 1;
    c.write_zeroes_may_unmap = 1;
    memcpy(b->t.config, &c, sizeof(c));
    b->t.config_len = sizeof(c);
}

struct virtio_mmio *virtio_blk_create(const struct disk_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen)
{
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "virtio-blk: out of memory");
        return NULL;
    }
    b->fd = -1;
    io_thread_init(&b->io);
    uint64_t features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                        (1ull << VIRTIO_BLK_F_FLUSH);
    if (opts->readonly)
        features |= 1ull << VIRTIO_BLK_F_RO;
    else
        features |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
    virtio_mmio_init(&b->t, &blk_ops, b, mem, irq, features);
    char group[96];
    snprintf(group, sizeof(group), "block_%s", opts->id ? opts->id : "disk");
    b->metrics = metrics_dev_register(group, METRICS_BLOCK_NAMES, METRICS_BLOCK_N);
    b->readonly = opts->readonly;
    if (opts->serial)
        memcpy(b->serial, opts->serial, strnlen(opts->serial, VIRTIO_BLK_ID_BYTES));
    rate_limiter_init(&b->limiter, &opts->limit, rate_limiter_now_ns());

    if (!opts->path) {
        snprintf(err, errlen, "virtio-blk: no image path");
        goto fail;
    }
    if (!(b->path = strdup(opts->path))) {
        snprintf(err, errlen, "virtio-blk: out of memory");
        goto fail;
    }
    if (open_image(b, opts, err, errlen) < 0)
        goto fail;
    fill_config(b);
    if (io_thread_open(&b->io, 1) < 0) {
        snprintf(err, errlen, "virtio-blk: %s", strerror(errno));
        goto fail;
    }
    int e = io_thread_start(&b->io, io_thread, b);
    if (e) {
        snprintf(err, errlen, "virtio-blk: cannot start the I/O thread: %s", strerror(e));
        goto fail;
    }
    pthread_setname_np(b->io.thread, "kiln-blk");
    return &b->t;
fail:
    blk_destroy(&b->t);
    return NULL;
}

int virtio_blk_update(struct virtio_mmio *t, const char *path, const struct rate_limiter_config *limit,
                      char *err, size_t errlen)
{
    struct virtio_blk *b = t->dev;
    if (path) {
        struct virtio_blk *fresh = calloc(1, sizeof(*fresh));
        if (!fresh) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        fresh->fd = -1;
        struct disk_options o = { .path = path, .readonly = b->readonly };
        char *name = strdup(path);
        if (!name || open_image(fresh, &o, err, errlen) < 0) {
            if (!name)
                snprintf(err, errlen, "out of memory");
            free(name);
            if (fresh->fd >= 0)
                close(fresh->fd);
            free(fresh);
            return -1;
        }
        /* dup2 swaps the file under the same descriptor number atomically: a request in
         * flight finishes on the old file, the next one uses the new (and the old lock goes) */
        dup2(fresh->fd, b->fd);
        close(fresh->fd);
        pthread_mutex_lock(&t->lock);
        __atomic_store_n(&b->capacity, fresh->capacity, __ATOMIC_RELAXED);
        free(b->path);
        b->path = name;
        atomic_store(&b->host_error_logged, false);   /* a new image: its first failure is news */
        fill_config(b);
        virtio_mmio_config_changed_locked(t);   /* the driver rereads the capacity */
        pthread_mutex_unlock(&t->lock);
        free(fresh);
    }
    if (limit) {
        rate_limiter_update(&b->limiter, limit, rate_limiter_now_ns());
        blk_queue_notify(t, BLK_QUEUE);   /* re-evaluate a throttled request at once */
    }
    return 0;
}

int virtio_blk_release_image(struct virtio_mmio *t)
{
    struct virtio_blk *b = t->dev;
    int r;
    do
        r = fdatasync(b->fd);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EINVAL)   /* EINVAL: a file that cannot be synced has nothing to sync */
        return -1;
    return flock(b->fd, LOCK_UN);
}

int virtio_blk_reacquire_image(struct virtio_mmio *t, char *err, size_t errlen)
{
    struct virtio_blk *b = t->dev;
    if (flock(b->fd, (b->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        snprintf(err, errlen, "virtio-blk: the image is locked by another process (the migration's "
                 "destination?)");
    else
        snprintf(err, errlen, "virtio-blk: cannot lock the image again: %s", strerror(errno));
    return -1;
}
