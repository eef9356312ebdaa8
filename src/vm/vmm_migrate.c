/* vmm_migrate.c — pre-copy live migration (Cloud Hypervisor's vm.send-migration and
 * vm.receive-migration).
 *
 * Source: send the configuration; send every non-zero page of RAM while the guest runs; then,
 * round after round, the pages it dirtied meanwhile, until what is left would be sent within the
 * downtime budget; then pause, send the last pages and the device state, and hand over only
 * after the destination has built the VM (PREPARED → COMMIT → RUNNING). Until COMMIT the
 * source can always take the VM back: any failure (connection lost, destination refuses or
 * dies, the budget cannot be met before timeout_s) resumes it where it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "common/le.h"
#include "vm/guest_ram.h"
#include "vm/metrics.h"
#include "vm/migration.h"
#include "vm/migration_link.h"
#include "vm/snapshot.h"
#include "vm/vmm_priv.h"

#define PAGE SNAPSHOT_PAGE
#define PAGES_PER_MSG 256          /* 1 MiB per PAGES message */
#define SWITCHOVER_NS 1000000ull   /* fixed cost of pausing and the state, on top of the pages */
#define REPLY_TIMEOUT_MS 30000
#define ROUND_MIN_NS 5000000ull     /* a pre-copy round lasts at least this long */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Page runs that became all zero go as (first, count) pairs instead of 4 KiB each (a guest that
 * clears memory is common: freed pages, tmpfs being rewritten). */
struct zero_runs {
    uint8_t buf[16 * 4096];
    size_t len;
};

struct sender {
    int fd;
    bool paused, released;    /* what switch_over did, for undoing it */
    struct vm *vm;
    uint8_t *ram;
    uint64_t pages;
    uint64_t *dirty;          /* pages/64 words */
    struct zero_runs *zeros;
    uint64_t bytes_sent, send_ns, pages_sent;
    char *err;
    size_t errlen;
};

static bool bit(const uint64_t *map, uint64_t p)
{
    return (map[p / 64] >> (p % 64)) & 1;
}

static int flush_zero_runs(struct sender *s, struct zero_runs *z)
{
    if (!z->len)
        return 0;
    uint64_t t0 = now_ns();
    int rc = mig_send(s->fd, MIG_ZERO, z->buf, z->len, NULL, 0);
    s->send_ns += now_ns() - t0;
    s->bytes_sent += z->len;
    z->len = 0;
    if (rc)
        snprintf(s->err, s->errlen, "the connection to the destination was lost");
    return rc;
}

static int add_zero_run(struct sender *s, struct zero_runs *z, uint64_t first, uint64_t count)
{
    if (z->len == sizeof(z->buf) && flush_zero_runs(s, z))
        return -1;
    le_put(z->buf + z->len, first, 8);
    le_put(z->buf + z->len + 8, count, 8);
    z->len += 16;
    s->pages_sent += count;
    return 0;
}

static int send_run(struct sender *s, uint64_t first, uint64_t end)
{
    uint8_t hdr[8];
    le_put(hdr, first, 8);
    size_t n = (size_t)((end - first) * PAGE);
    uint64_t t0 = now_ns();
    if (mig_send(s->fd, MIG_PAGES, hdr, 8, s->ram + first * PAGE, n)) {
        snprintf(s->err, s->errlen, "the connection to the destination was lost");
        return -1;
    }
    s->send_ns += now_ns() - t0;
    s->bytes_sent += n + 8;
    s->pages_sent += end - first;
    return 0;
}

/* Sends the pages selected by map, or on the first pass (map NULL) every non-zero page. Only the
 * time spent sending counts for the bandwidth estimate, not the scan for zero pages. */
static int send_pages(struct sender *s, const uint64_t *map, const uint8_t *touched)
{
    struct zero_runs *zeros = s->zeros;
    zeros->len = 0;
    for (uint64_t p = 0; p < s->pages;) {
        bool want = map ? bit(map, p) : snapshot_page_has_data(s->ram, p, touched);
        if (!want) {
            p++;
            continue;
        }
        /* a dirty page that is zero now: the destination clears it (the first pass skips them:
         * the destination's RAM starts zero) */
        bool zero = map && snapshot_page_is_zero(s->ram + p * PAGE);
        uint64_t end = p + 1;
        while (end < s->pages && end - p < PAGES_PER_MSG &&
               (map ? bit(map, end) && snapshot_page_is_zero(s->ram + end * PAGE) == zero
                    : snapshot_page_has_data(s->ram, end, touched)))
            end++;
        if (zero ? add_zero_run(s, zeros, p, end - p) : send_run(s, p, end))
            return -1;
        p = end;
    }
    return flush_zero_runs(s, zeros);
}

static uint64_t count_bits(const uint64_t *map, uint64_t pages)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < (pages + 63) / 64; i++)
        n += (uint64_t)__builtin_popcountll(map[i]);
    return n;
}

/* Expects `want` from the destination; an ERROR's text or anything else fails. */
static int expect(struct sender *s, enum mig_msg want, void **buf, size_t *cap)
{
    size_t len;
    char msg[256];
    int t = mig_recv(s->fd, buf, cap, &len, REPLY_TIMEOUT_MS, msg, sizeof(msg));
    if (t == (int)want)
        return 0;
    if (t == MIG_ERROR)
        snprintf(s->err, s->errlen, "the destination refused the migration: %.400s", (char *)*buf);
    else if (t < 0)
        snprintf(s->err, s->errlen, "the destination did not answer: %s", msg);
    else
        snprintf(s->err, s->errlen, "the destination answered out of turn (message %d)", t);
    return -1;
}

static int send_hello(struct sender *s, const struct vmm *v, const char *config_json)
{
    struct persist_writer w;
    persist_writer_init(&w);
    struct snapshot_info info = { .mem_size = s->pages * PAGE, .vcpus = v->run.machine.vcpu_count,
                                  .type = SNAPSHOT_FULL };
    snprintf(info.arch, sizeof(info.arch), "%s", vm_arch(s->vm));
    snapshot_info_save(&info, &w);
    snapshot_config_save(config_json, &w);
    int rc = persist_writer_ok(&w) ? mig_send(s->fd, MIG_HELLO, w.buf, w.len, NULL, 0) : -1;
    persist_writer_free(&w);
    if (rc)
        snprintf(s->err, s->errlen, "cannot send the configuration to the destination");
    return rc;
}

static int send_state(struct sender *s, const struct vmm *v)
{
    struct persist_writer w;
    persist_writer_init(&w);
    struct snapshot_info info = { .mem_size = s->pages * PAGE, .vcpus = v->run.machine.vcpu_count,
                                  .type = SNAPSHOT_FULL, .saved_realtime_ns = snapshot_realtime_ns() };
    snprintf(info.arch, sizeof(info.arch), "%s", vm_arch(s->vm));
    snapshot_info_save(&info, &w);
    vm_save_state(s->vm, &w);
    int rc = persist_writer_ok(&w) ? mig_send(s->fd, MIG_STATE, w.buf, w.len, NULL, 0) : -1;
    persist_writer_free(&w);
    if (rc)
        snprintf(s->err, s->errlen, "cannot send the device state to the destination");
    return rc;
}

/* Pre-copy rounds while the guest runs. Returns 0 when what is dirty fits the budget. */
static int precopy(struct sender *s, const struct migration_params *p, struct migration_stats *st, uint64_t t_start)
{
    vm_dirty_harvest(s->vm, s->dirty);   /* from here every write is seen */
    fprintf(stderr, "kiln: migration: sending RAM (%llu MiB)\n", (unsigned long long)(s->pages * PAGE >> 20));
    uint8_t *touched = vm_ram_anonymous(s->vm) ? snapshot_touched_pages(s->ram, s->pages * PAGE) : NULL;
    int rc = send_pages(s, NULL, touched);
    free(touched);
    if (rc)
        return -1;
    for (;;) {
        if (vm_exited(s->vm)) {
            snprintf(s->err, s->errlen, "the guest stopped during the migration");
            return -1;
        }
        vm_dirty_harvest(s->vm, s->dirty);
        uint64_t n = count_bits(s->dirty, s->pages);
        st->rounds++;
        /* bytes per ns measured so far; the estimate includes the switch-over itself */
        double rate = s->send_ns ? (double)s->bytes_sent / (double)s->send_ns : 1.0;
        uint64_t est_ns = (uint64_t)((double)(n * PAGE) / rate) + SWITCHOVER_NS;
        fprintf(stderr, "kiln: migration: round %llu: %llu pages dirty, %.1f ms to send them\n",
                (unsigned long long)st->rounds, (unsigned long long)n, (double)est_ns / 1e6);
        if (est_ns <= (uint64_t)p->downtime_ms * 1000000ull)
            return 0;
        if (now_ns() - t_start > (uint64_t)p->timeout_s * 1000000000ull) {
            snprintf(s->err, s->errlen, "the guest dirties memory faster than the %u ms downtime budget allows; "
                     "gave up after %u s (raise downtime_ms or timeout_s)", p->downtime_ms, p->timeout_s);
            return -1;
        }
        uint64_t t_round = now_ns();
        if (send_pages(s, s->dirty, NULL))
            return -1;
        /* a round that was quick does not converge by going faster: let the guest run a
         * little, rather than pausing it for a harvest over and over */
        if (now_ns() - t_round < ROUND_MIN_NS)
            usleep((useconds_t)((ROUND_MIN_NS - (now_ns() - t_round)) / 1000));
    }
}

/* Pauses, sends the rest, and hands over. Returns 0 once the destination runs the VM; 1 if the
 * outcome is unknown (COMMIT sent, no answer); -1 if the source still owns the VM. */
static int switch_over(struct sender *s, struct vmm *v, struct migration_stats *st)
{
    void *buf = NULL;
    size_t cap = 0;
    int rc = -1;
    /* s->dirty holds the last round's pages, harvested but not sent yet: what the guest dirties
     * until the pause is added to them, never put in their place */
    uint64_t words = (s->pages + 63) / 64;
    uint64_t *more = calloc(words, sizeof(*more));
    if (!more) {
        snprintf(s->err, s->errlen, "out of host memory");
        return -1;
    }
    uint64_t t0 = now_ns();
    vm_pause(s->vm);
    s->paused = true;
    vm_dirty_harvest(s->vm, more);
    for (uint64_t i = 0; i < words; i++)
        s->dirty[i] |= more[i];
    free(more);
    if (send_pages(s, s->dirty, NULL))
        goto out;
    s->released = true;
    if (vm_release_images(s->vm)) {
        snprintf(s->err, s->errlen, "cannot flush the disk images");
        goto out;
    }
    if (send_state(s, v) || expect(s, MIG_PREPARED, &buf, &cap))
        goto out;
    rc = 1;
    if (mig_send(s->fd, MIG_COMMIT, NULL, 0, NULL, 0) || expect(s, MIG_RUNNING, &buf, &cap))
        goto out;
    st->downtime_us = (now_ns() - t0) / 1000;
    rc = 0;
out:
    free(buf);
    return rc;
}

int vmm_send_migration(struct vmm *v, const struct migration_params *p, const char *config_json,
                       struct migration_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&v->lock);
    if (v->state == VMM_NOT_STARTED || v->state == VMM_STOPPED || !v->vm) {
        pthread_mutex_unlock(&v->lock);
        return vmm_fail(err, errlen, "Cannot migrate: the microVM is not running.");
    }
    if (vm_no_save(v->vm)) {
        const char *why = vm_no_save(v->vm);
        pthread_mutex_unlock(&v->lock);
        return vmm_fail(err, errlen, "Cannot migrate: %s.", why);
    }
    uint64_t t_start = now_ns();
    bool was_paused = v->state == VMM_PAUSED, was_tracking = v->run.machine.track_dirty_pages;
    struct sender s = { .fd = -1, .vm = v->vm, .err = err, .errlen = errlen };
    uint64_t size;
    s.ram = vm_ram(v->vm, &size);
    s.pages = size / PAGE;
    s.dirty = calloc((s.pages + 63) / 64, sizeof(uint64_t));
    s.zeros = malloc(sizeof(*s.zeros));
    int rc = -1;
    if (!s.dirty || !s.zeros) {
        snprintf(err, errlen, "out of host memory");
        goto out;
    }
    void *buf = NULL;
    size_t cap = 0;
    s.fd = mig_connect(p->url, 10, err, errlen);
    rc = s.fd < 0 || send_hello(&s, v, config_json) || expect(&s, MIG_READY, &buf, &cap);
    free(buf);
    if (!rc && !was_tracking && vm_dirty_enable(v->vm, true)) {
        snprintf(err, errlen, "cannot track dirty pages: out of host memory");
        rc = -1;
    }
    if (!rc)
        rc = precopy(&s, p, st, t_start);
    if (!rc)
        rc = switch_over(&s, v, st);
    if (rc == 0) {
        /* the VM lives on at the destination: this kiln's guest ends, with status 0 */
        vm_request_stop(v->vm);
        fprintf(stderr, "kiln: migration: done, the VM runs at %s (downtime %.1f ms)\n", p->url,
                (double)st->downtime_us / 1000);
    } else if (rc == 1) {
        fprintf(stderr, "kiln: migration: %s; the VM stays paused here: resume it only if the "
                "destination does not run it\n", err);
        v->state = VMM_PAUSED;
        rc = -1;
    } else {
        char lock_err[256];
        if (s.released && vm_reacquire_images(v->vm, lock_err, sizeof(lock_err)))
            fprintf(stderr, "kiln: migration: %s\n", lock_err);
        if (!was_tracking)
            vm_dirty_enable(v->vm, false);
        else   /* the rounds consumed the log a Diff snapshot relies on: the next one takes all */
            vm_dirty_mark_all(v->vm);
        if (s.paused && !was_paused)
            vm_resume(v->vm);
        fprintf(stderr, "kiln: migration failed: %s; the VM goes on here\n", err);
        if (s.fd >= 0) {
            char line[600];
            snprintf(line, sizeof(line), "the source gave up: %s", err);
            mig_send(s.fd, MIG_ERROR, line, strlen(line), NULL, 0);
        }
    }
out:
    st->total_ms = (now_ns() - t_start) / 1000000;
    st->pages_sent = s.pages_sent;
    metric_store(&kiln_metrics.migration.total_ms, st->total_ms);
    metric_store(&kiln_metrics.migration.downtime_us, st->downtime_us);
    metric_store(&kiln_metrics.migration.rounds, st->rounds);
    metric_store(&kiln_metrics.migration.pages_sent, st->pages_sent);
    if (rc)
        metric_inc(&kiln_metrics.migration.failures);
    if (s.fd >= 0)
        close(s.fd);
    free(s.dirty);
    free(s.zeros);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* ---- destination ---- */

struct receiver {
    int fd;
    void *buf;
    size_t cap, len;
    struct guest_ram ram;
    uint64_t *written;        /* pages stored here so far: the others are still zero */
    char *err;
    size_t errlen;
};

static int recv_msg(struct receiver *r, unsigned timeout_ms)
{
    int t = mig_recv(r->fd, &r->buf, &r->cap, &r->len, timeout_ms, r->err, r->errlen);
    if (t == MIG_ERROR) {
        snprintf(r->err, r->errlen, "%.400s", (char *)r->buf);
        return -1;
    }
    return t;
}

static int store_zero_runs(struct receiver *r)
{
    const uint8_t *p = r->buf;
    uint64_t pages = r->ram.size / PAGE;
    if (r->len % 16) {
        snprintf(r->err, r->errlen, "the source sent a malformed zero-page message");
        return -1;
    }
    for (size_t off = 0; off < r->len; off += 16) {
        uint64_t first = le_get(p + off, 8), count = le_get(p + off + 8, 8);
        if (first >= pages || count > pages - first) {
            snprintf(r->err, r->errlen, "the source sent pages outside guest RAM");
            return -1;
        }
        /* a page never stored here is still fresh zero memory: clearing it would only make the
         * host back it (a page fault each) */
        for (uint64_t pg = first; pg < first + count; pg++)
            if (bit(r->written, pg))
                memset(r->ram.host + pg * PAGE, 0, PAGE);
    }
    return 0;
}

static int store_pages(struct receiver *r)
{
    const uint8_t *p = r->buf;
    if (r->len < 8 + PAGE || (r->len - 8) % PAGE) {
        snprintf(r->err, r->errlen, "the source sent a malformed page message");
        return -1;
    }
    uint64_t first = le_get(p, 8), n = (r->len - 8) / PAGE, pages = r->ram.size / PAGE;
    if (first >= pages || n > pages - first) {
        snprintf(r->err, r->errlen, "the source sent pages outside guest RAM");
        return -1;
    }
    /* fresh RAM: one call backs the whole run instead of a page fault per page (worth ~10 us
     * each under nested virtualization); an older kernel without it just faults as before */
    madvise(r->ram.host + first * PAGE, (size_t)(n * PAGE), MADV_POPULATE_WRITE);
    memcpy(r->ram.host + first * PAGE, p + 8, (size_t)(n * PAGE));
    for (uint64_t pg = first; pg < first + n; pg++)
        r->written[pg / 64] |= 1ull << (pg % 64);
    return 0;
}

/* HELLO: the configuration goes through the API's own handlers (apply), then the RAM is made. */
static int accept_hello(struct receiver *r, struct vmm *v, const struct migration_receive_hooks *h)
{
    if (recv_msg(r, REPLY_TIMEOUT_MS) != MIG_HELLO) {
        if (!*r->err)
            snprintf(r->err, r->errlen, "the source did not start with its configuration");
        return -1;
    }
    struct persist_reader pr;
    persist_reader_init(&pr, r->buf, r->len);
    struct snapshot_info info;
    size_t n = 0;
    const char *json = NULL;
    if (snapshot_info_restore(&info, &pr) == 0 && persist_open(&pr, "config", 1) == 0) {
        json = persist_get_blob(&pr, r->len, &n);
        persist_close(&pr);
    }
    if (!persist_ok(&pr)) {
        snprintf(r->err, r->errlen, "the source's configuration is invalid: %s", pr.err);
        return -1;
    }
    char *text = strndup(json, n);
    int rc = text ? h->apply_config(h->cls, text, r->err, r->errlen) : -1;
    free(text);
    if (rc)
        return -1;
    if (info.mem_size != v->cfg.machine.mem_size_mib << 20 || info.vcpus != v->cfg.machine.vcpu_count) {
        snprintf(r->err, r->errlen, "the source's machine does not match its configuration");
        return -1;
    }
    r->written = calloc((info.mem_size / PAGE + 63) / 64, sizeof(uint64_t));
    if (!r->written || guest_ram_create(&r->ram, info.mem_size)) {
        snprintf(r->err, r->errlen, "cannot allocate %llu MiB of guest RAM", (unsigned long long)(info.mem_size >> 20));
        return -1;
    }
    return mig_send(r->fd, MIG_READY, NULL, 0, NULL, 0);
}

/* STATE: build the VM paused, say PREPARED, run it on COMMIT. */
static int take_over(struct receiver *r, struct vmm *v)
{
    struct persist_reader pr;
    persist_reader_init(&pr, r->buf, r->len);
    struct snapshot_info info;
    if (snapshot_info_restore(&info, &pr)) {
        snprintf(r->err, r->errlen, "the source's state is invalid: %s", pr.err);
        return -1;
    }
    struct vm_restore rs = { .ram = &r->ram, .arch = info.arch, .state = &pr,
                             .advance_ns = snapshot_advance_ns(info.saved_realtime_ns) };
    pthread_mutex_lock(&v->lock);
    int rc = vmm_start_locked(v, &rs, true, false, r->err, r->errlen);
    pthread_mutex_unlock(&v->lock);
    if (rc)
        return -1;
    if (mig_send(r->fd, MIG_PREPARED, NULL, 0, NULL, 0) || recv_msg(r, REPLY_TIMEOUT_MS) != MIG_COMMIT) {
        if (!*r->err)
            snprintf(r->err, r->errlen, "the source did not commit the migration");
        pthread_mutex_lock(&v->lock);
        vmm_discard_locked(v);
        pthread_mutex_unlock(&v->lock);
        return -1;
    }
    pthread_mutex_lock(&v->lock);
    vm_resume(v->vm);
    vmm_publish_locked(v, VMM_RUNNING);
    pthread_mutex_unlock(&v->lock);
    mig_send(r->fd, MIG_RUNNING, NULL, 0, NULL, 0);
    return 0;
}

int vmm_receive_migration(struct vmm *v, const struct migration_params *p, const struct migration_receive_hooks *h,
                          char *err, size_t errlen)
{
    if (vmm_get_state(v) != VMM_NOT_STARTED)
        return vmm_fail(err, errlen, "The requested operation is not supported after starting the microVM.");
    struct receiver r = { .fd = -1, .ram = { .fd = -1 }, .err = err, .errlen = errlen };
    *err = 0;
    r.fd = mig_accept(p->url, p->timeout_s, err, errlen);
    int rc = r.fd < 0 ? -1 : accept_hello(&r, v, h);
    if (rc && r.fd >= 0 && *err)
        mig_send(r.fd, MIG_ERROR, err, strlen(err), NULL, 0);
    while (!rc) {
        /* pages may pause while the source's guest is idle: allow the whole timeout */
        int t = recv_msg(&r, p->timeout_s * 1000);
        if (t == MIG_PAGES) {
            rc = store_pages(&r);
        } else if (t == MIG_ZERO) {
            rc = store_zero_runs(&r);
        } else if (t == MIG_STATE) {
            rc = take_over(&r, v);
            break;
        } else {
            if (t >= 0)
                snprintf(err, errlen, "the source sent message %d out of turn", t);
            rc = -1;
        }
        if (rc && r.fd >= 0)
            mig_send(r.fd, MIG_ERROR, err, strlen(err), NULL, 0);
    }
    if (rc)
        fprintf(stderr, "kiln: incoming migration failed: %s\n", err);
    else
        fprintf(stderr, "kiln: incoming migration done: the VM runs here\n");
    guest_ram_destroy(&r.ram);   /* after a take-over the VM owns it and this is empty */
    free(r.written);
    free(r.buf);
    if (r.fd >= 0)
        close(r.fd);
    return rc ? -1 : 0;
}
