/* cpu_quota.c — the CPU bandwidth limit's accounting (see cpu_quota.h). */
#include "common/cpu_quota.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t cpu_quota_thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cpu_quota_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cpu_quota_init(struct cpu_quota *q)
{
    *q = (struct cpu_quota){.period_ns = 100000000ull};
    pthread_mutex_init(&q->lock, NULL);
}

void cpu_quota_destroy(struct cpu_quota *q)
{
    pthread_mutex_destroy(&q->lock);
}

int cpu_quota_check(uint64_t quota_us, uint64_t period_us, char *err, size_t errlen)
{
    if (period_us < CPU_QUOTA_MIN_PERIOD_US || period_us > CPU_QUOTA_MAX_PERIOD_US) {
        snprintf(err, errlen, "the CPU limit's period must be %u..%u us, not %llu",
                 CPU_QUOTA_MIN_PERIOD_US, CPU_QUOTA_MAX_PERIOD_US, (unsigned long long)period_us);
        return -1;
    }
    if (quota_us && (quota_us < CPU_QUOTA_MIN_QUOTA_US || quota_us > period_us * 1024)) {
        snprintf(err, errlen, "the CPU limit's quota must be 0 (none) or %u us..1024 periods, not %llu",
                 CPU_QUOTA_MIN_QUOTA_US, (unsigned long long)quota_us);
        return -1;
    }
    return 0;
}

/* a decimal number without sign or spaces, at most max; end: where it stopped */
static bool parse_num(const char *s, uint64_t max, uint64_t *out, const char **end)
{
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            return false;
    }
    *out = v;
    *end = s;
    return true;
}

int cpu_quota_parse(const char *s, uint64_t *quota_us, uint64_t *period_us, char *err, size_t errlen)
{
    const char *end;
    uint64_t a, b;
    if (!strcmp(s, "none") || !strcmp(s, "0")) {
        *quota_us = 0;
        *period_us = CPU_QUOTA_DEFAULT_PERIOD_US;
        return 0;
    }
    /* numbers are bounded well above any valid limit, so that no product overflows */
    if (parse_num(s, 1ull << 40, &a, &end)) {
        if (!strcmp(end, "%")) {
            *quota_us = a * (CPU_QUOTA_DEFAULT_PERIOD_US / 100);
            *period_us = CPU_QUOTA_DEFAULT_PERIOD_US;
            return 0;
        }
        if (*end == '/' && parse_num(end + 1, 1ull << 40, &b, &end) && !*end) {
            *quota_us = a;
            *period_us = b;
            return 0;
        }
    }
    snprintf(err, errlen, "'%s' is not a CPU limit: QUOTA_US/PERIOD_US (e.g. 20000/100000), "
             "a percentage of one CPU (e.g. 20%%) or none", s);
    return -1;
}

int cpu_quota_set(struct cpu_quota *q, uint64_t quota_us, uint64_t period_us, char *err, size_t errlen)
{
    if (cpu_quota_check(quota_us, period_us, err, errlen))
        return -1;
    pthread_mutex_lock(&q->lock);
    q->quota_ns = quota_us * 1000;
    q->period_ns = period_us * 1000;
    q->period_start_ns = cpu_quota_now_ns();
    q->used_ns = 0;
    atomic_fetch_add(&q->epoch, 1);
    atomic_store(&q->limited, quota_us != 0);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void cpu_quota_get(struct cpu_quota *q, uint64_t *quota_us, uint64_t *period_us)
{
    pthread_mutex_lock(&q->lock);
    *quota_us = q->quota_ns / 1000;
    *period_us = q->period_ns / 1000;
    pthread_mutex_unlock(&q->lock);
}

void cpu_quota_get_stats(struct cpu_quota *q, struct cpu_quota_stats *out)
{
    out->nr_periods = atomic_load(&q->nr_periods);
    out->nr_throttled = atomic_load(&q->nr_throttled);
    out->throttled_us = atomic_load(&q->throttled_ns) / 1000;
}

uint64_t cpu_quota_charge(struct cpu_quota *q, struct cpu_quota_vcpu *v, uint64_t cpu_ns, uint64_t now_ns)
{
    /* the first charge under a new setting only starts the clock: the time used before it
     * (perhaps with no limit at all) is not this limit's */
    uint64_t epoch = atomic_load(&q->epoch);
    uint64_t used = v->epoch == epoch && cpu_ns > v->last_cpu_ns ? cpu_ns - v->last_cpu_ns : 0;
    v->last_cpu_ns = cpu_ns;
    v->epoch = epoch;
    uint64_t sleep = 0;
    pthread_mutex_lock(&q->lock);
    if (q->quota_ns) {
        if (now_ns >= q->period_start_ns + q->period_ns) {
            /* periods went by: each pays off one quota of debt */
            uint64_t periods = (now_ns - q->period_start_ns) / q->period_ns;
            q->period_start_ns += periods * q->period_ns;
            if (periods > q->used_ns / q->quota_ns)
                q->used_ns = 0;
            else
                q->used_ns -= periods * q->quota_ns;   /* <= used_ns: cannot overflow */
            atomic_fetch_add(&q->nr_periods, periods);
        }
        q->used_ns += used;
        if (q->used_ns >= q->quota_ns) {
            sleep = q->period_start_ns + q->period_ns - now_ns;
            atomic_fetch_add(&q->nr_throttled, 1);
            atomic_fetch_add(&q->throttled_ns, sleep);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return sleep;
}

uint64_t cpu_quota_slice_ns(uint64_t quota_ns, unsigned vcpus)
{
    uint64_t slice = quota_ns / 4 / (vcpus ? vcpus : 1);
    if (slice < CPU_QUOTA_SLICE_MIN_NS)
        return CPU_QUOTA_SLICE_MIN_NS;
    return slice > CPU_QUOTA_SLICE_MAX_NS ? CPU_QUOTA_SLICE_MAX_NS : slice;
}
