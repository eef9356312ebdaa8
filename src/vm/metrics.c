/* metrics.c — serializes kiln_metrics and the device groups to one JSON line per flush, and the
 * thread that flushes every minute. Writers never lock: they add to atomics. The flusher takes
 * `lock` to read them, to walk the device list and to own prev/pending. */
#include "vm/metrics.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/threads.h"
#include "vm/logger.h"

struct kiln_metrics kiln_metrics;

#define METRICS_NAME_(idx, name) name,
const char *const metrics_block_names[] = { METRICS_BLOCK_LIST(METRICS_NAME_) };
const char *const metrics_net_names[] = { METRICS_NET_LIST(METRICS_NAME_) };
const char *const metrics_vsock_names[] = { METRICS_VSOCK_LIST(METRICS_NAME_) };
const char *const metrics_entropy_names[] = { METRICS_ENTROPY_LIST(METRICS_NAME_) };
const char *const metrics_balloon_names[] = { METRICS_BALLOON_LIST(METRICS_NAME_) };
#undef METRICS_NAME_

struct metrics_dev {
    struct metrics_dev *next;
    char *group;
    const char *const *names;
    unsigned n;
    struct metric m[];
};

/* Groups whose per-device counters are also summed into one group, as Firecracker does for
 * block_<id> → block and net_<id> → net. */
static const struct aggregate {
    const char *name, *prefix;
    const char *const *names;
    unsigned n;
} aggregates[] = {
    { "block", "block_", metrics_block_names, METRICS_BLOCK_N },
    { "net", "net_", metrics_net_names, METRICS_NET_N },
};

/* Single-device groups Firecracker always reports: written as zeros while no device has them. */
static const struct aggregate singles[] = {
    { "vsock", NULL, metrics_vsock_names, METRICS_VSOCK_N },
    { "entropy", NULL, metrics_entropy_names, METRICS_ENTROPY_N },
    { "balloon", NULL, metrics_balloon_names, METRICS_BALLOON_N },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_dev *devs, **devs_tail = &devs; /* registration order = output order */
static int out_fd = -1;

/* the periodic flusher: sleeps on `tick` until the period passes or shutdown sets stop */
static pthread_mutex_t tick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick;
static bool stop, flusher_running;
static pthread_t flusher;
static unsigned interval_ms = 60000;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool reserved_group(const char *g)
{
#define METRICS_IS_(gname, LIST) || !strcmp(g, #gname)
    if (false METRICS_GROUPS(METRICS_IS_))
        return true;
#undef METRICS_IS_
    for (size_t i = 0; i < sizeof(aggregates) / sizeof(aggregates[0]); i++)
        if (!strcmp(g, aggregates[i].name))
            return true;
    return !strcmp(g, "utc_timestamp_ms");
}

static struct metrics_dev *find_dev(const char *group)
{
    for (struct metrics_dev *d = devs; d; d = d->next)
        if (!strcmp(d->group, group))
            return d;
    return NULL;
}

struct metrics_dev *metrics_dev_register(const char *group, const char *const *names, unsigned n)
{
    if (!group || !*group || !names || !n || reserved_group(group))
        return NULL;
    pthread_mutex_lock(&lock);
    struct metrics_dev *d = find_dev(group);
    if (d) {
        /* a re-created device continues its counters; a different layout is a naming clash */
        if (d->names != names || d->n != n)
            d = NULL;
        pthread_mutex_unlock(&lock);
        return d;
    }
    d = calloc(1, sizeof(*d) + n * sizeof(d->m[0]));
    if (d && !(d->group = strdup(group))) {
        free(d);
        d = NULL;
    }
    if (d) {
        d->names = names;
        d->n = n;
        *devs_tail = d;
        devs_tail = &d->next;
    }
    pthread_mutex_unlock(&lock);
    return d;
}

void metrics_dev_add(struct metrics_dev *d, unsigned index, uint64_t v)
{
    if (!d)
        return;
    assert(index < d->n);
    if (index < d->n)
        metric_add(&d->m[index], v);
}

uint64_t metrics_dev_get(const struct metrics_dev *d, unsigned index)
{
    if (!d || index >= d->n)
        return 0;
    return atomic_load_explicit(&d->m[index].cur, memory_order_relaxed);
}

/* ---- serialization (caller holds lock) ---- */

/* A counter's change since the last committed flush; remembered in pending for commit(). */
static uint64_t take_delta(struct metric *m)
{
    m->pending = atomic_load_explicit(&m->cur, memory_order_relaxed);
    return m->pending - m->prev;
}

/* JSON has no unsigned 64-bit integers in jansson: clamp rather than go negative */
static json_t *jint(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

#define METRICS_KIND_INC 0
#define METRICS_KIND_STORE 1

static json_t *kiln_groups_json(json_t *root)
{
#define METRICS_EMIT_(kind, name)                                                              \
    json_object_set_new(g, #name,                                                              \
                        jint(METRICS_KIND_##kind ? metric_get(&grp->name) : take_delta(&grp->name)));
#define METRICS_GROUP_(gname, LIST)                                                            \
    {                                                                                          \
        __typeof__(kiln_metrics.gname) *grp = &kiln_metrics.gname;                             \
        json_t *g = json_object();                                                             \
        LIST(METRICS_EMIT_)                                                                    \
        json_object_set_new(root, #gname, g);                                                  \
    }
    METRICS_GROUPS(METRICS_GROUP_)
#undef METRICS_GROUP_
#undef METRICS_EMIT_
    return root;
}

static void commit_kiln_groups(void)
{
#define METRICS_COMMIT_(kind, name)                                                            \
    if (!METRICS_KIND_##kind)                                                                  \
        grp->name.prev = grp->name.pending;
#define METRICS_GROUP_(gname, LIST)                                                            \
    {                                                                                          \
        __typeof__(kiln_metrics.gname) *grp = &kiln_metrics.gname;                             \
        LIST(METRICS_COMMIT_)                                                                  \
    }
    METRICS_GROUPS(METRICS_GROUP_)
#undef METRICS_GROUP_
#undef METRICS_COMMIT_
}

static bool has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* Index of name in an aggregate's list, or -1: a device may carry counters the sum lacks. */
static int agg_index(const struct aggregate *a, const struct metrics_dev *d, unsigned i)
{
    if (d->names == a->names)
        return (int)i;
    for (unsigned j = 0; j < a->n; j++)
        if (!strcmp(a->names[j], d->names[i]))
            return (int)j;
    return -1;
}

static json_t *zero_group(const struct aggregate *a, const uint64_t *sums)
{
    json_t *g = json_object();
    for (unsigned j = 0; j < a->n; j++)
        json_object_set_new(g, a->names[j], jint(sums ? sums[j] : 0));
    return g;
}

static json_t *device_groups_json(json_t *root)
{
    enum { NAGG = sizeof(aggregates) / sizeof(aggregates[0]) };
    uint64_t *sums[NAGG];
    for (size_t a = 0; a < NAGG; a++)
        sums[a] = calloc(aggregates[a].n, sizeof(uint64_t));

    for (struct metrics_dev *d = devs; d; d = d->next) {
        json_t *g = json_object();
        for (unsigned i = 0; i < d->n; i++) {
            uint64_t delta = take_delta(&d->m[i]);
            json_object_set_new(g, d->names[i], jint(delta));
            for (size_t a = 0; a < NAGG; a++) {
                int j;
                if (sums[a] && has_prefix(d->group, aggregates[a].prefix) &&
                    (j = agg_index(&aggregates[a], d, i)) >= 0)
                    sums[a][j] += delta;
            }
        }
        json_object_set_new(root, d->group, g);
    }
    for (size_t s = 0; s < sizeof(singles) / sizeof(singles[0]); s++)
        if (!find_dev(singles[s].name))
            json_object_set_new(root, singles[s].name, zero_group(&singles[s], NULL));
    bool ok = true;
    for (size_t a = 0; a < NAGG; a++) {
        ok = ok && sums[a];
        json_object_set_new(root, aggregates[a].name, zero_group(&aggregates[a], sums[a]));
        free(sums[a]);
    }
    return ok ? root : NULL;
}

static void commit_device_groups(void)
{
    for (struct metrics_dev *d = devs; d; d = d->next)
        for (unsigned i = 0; i < d->n; i++)
            d->m[i].prev = d->m[i].pending;
}

/* The whole line, newline included, malloc'd; NULL out of memory. */
static char *render_line(size_t *len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* jansson keeps insertion order: the timestamp comes first, as in Firecracker */
    json_t *root = json_object();
    if (!root)
        return NULL;
    json_object_set_new(root, "utc_timestamp_ms",
                        json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
    char *s = NULL;
    if (device_groups_json(kiln_groups_json(root)))
        s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s)
        return NULL;
    *len = strlen(s);
    char *line = realloc(s, *len + 2);
    if (!line) {
        free(s);
        return NULL;
    }
    line[(*len)++] = '\n';
    line[*len] = '\0';
    return line;
}

static void (*sampler)(void *);
static void *sampler_opaque;

void metrics_set_sampler(void (*fn)(void *opaque), void *opaque)
{
    pthread_mutex_lock(&lock);
    sampler = fn;
    sampler_opaque = opaque;
    pthread_mutex_unlock(&lock);
}

void metrics_clear_sampler(void *opaque)
{
    pthread_mutex_lock(&lock);
    if (sampler_opaque == opaque) {
        sampler = NULL;
        sampler_opaque = NULL;
    }
    pthread_mutex_unlock(&lock);
}

int metrics_flush_err(char *err, size_t errlen)
{
    pthread_mutex_lock(&lock);
    if (sampler)
        sampler(sampler_opaque);
    if (out_fd < 0) {
        pthread_mutex_unlock(&lock);
        set_err(err, errlen, "metrics are not configured");
        errno = ENOTCONN;
        return -1;
    }
    size_t len = 0;
    char *line = render_line(&len);
    int rc = -1, saved = ENOMEM;
    if (!line) {
        metric_inc(&kiln_metrics.logger.metrics_fails);
        set_err(err, errlen, "cannot serialize the metrics: out of memory");
    } else if (log_sink_write(out_fd, line, len) < 0) {
        saved = errno;
        metric_inc(&kiln_metrics.logger.missed_metrics_count);
        set_err(err, errlen, "cannot write the metrics: %s",
                saved == EAGAIN ? "the FIFO is full (is anything reading it?)" : strerror(saved));
    } else {
        /* only now are the deltas delivered; a failed write reports them again next time */
        commit_kiln_groups();
        commit_device_groups();
        rc = 0;
    }
    free(line);
    pthread_mutex_unlock(&lock);
    if (rc < 0)
        errno = saved;
    return rc;
}

int metrics_flush(void)
{
    return metrics_flush_err(NULL, 0);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tick_lock);
    while (!stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += interval_ms / 1000;
        deadline.tv_nsec += (long)(interval_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&tick, &tick_lock, &deadline);
        if (stop)
            break;
        pthread_mutex_unlock(&tick_lock);
        metrics_flush();   /* a failure is counted in logger.missed_metrics_count */
        pthread_mutex_lock(&tick_lock);
    }
    pthread_mutex_unlock(&tick_lock);
    return NULL;
}

void metrics_set_flush_interval_ms(unsigned ms)
{
    pthread_mutex_lock(&tick_lock);
    interval_ms = ms ? ms : 1;
    pthread_mutex_unlock(&tick_lock);
}

int metrics_configure(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        set_err(err, errlen, "metrics_path is empty");
        return -1;
    }
    pthread_mutex_lock(&lock);
    if (out_fd >= 0) {
        pthread_mutex_unlock(&lock);
        set_err(err, errlen, "metrics already configured");
        return -1;
    }
    int fd = log_sink_open(path, err, errlen);
    if (fd < 0) {
        pthread_mutex_unlock(&lock);
        return -1;
    }

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* the period ignores wall-clock jumps */
    pthread_cond_init(&tick, &ca);
    pthread_condattr_destroy(&ca);
    stop = false;
    int rc = thread_create_unsignalled(&flusher, flusher_main, NULL);
    if (rc) {
        pthread_cond_destroy(&tick);
        close(fd);
        pthread_mutex_unlock(&lock);
        set_err(err, errlen, "cannot start the metrics flusher: %s", strerror(rc));
        return -1;
    }
    pthread_setname_np(flusher, "kiln-metrics");
    flusher_running = true;
    out_fd = fd;
    pthread_mutex_unlock(&lock);
    return 0;
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&lock);
    bool running = flusher_running;
    flusher_running = false;
    pthread_mutex_unlock(&lock);
    if (running) {
        pthread_mutex_lock(&tick_lock);
        stop = true;
        pthread_cond_signal(&tick);
        pthread_mutex_unlock(&tick_lock);
        pthread_join(flusher, NULL);
        pthread_cond_destroy(&tick);
    }
    metrics_flush();   /* the counts since the last period would be lost otherwise */

    pthread_mutex_lock(&lock);
    if (out_fd >= 0)
        close(out_fd);
    out_fd = -1;
    for (struct metrics_dev *d = devs, *next; d; d = next) {
        next = d->next;
        free(d->group);
        free(d);
    }
    devs = NULL;
    devs_tail = &devs;
    pthread_mutex_unlock(&lock);
}
