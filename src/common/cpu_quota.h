/* cpu_quota.h — a VM's CPU bandwidth limit, enforced by kiln on its own vCPU threads: at most
 * `quota` of CPU time per `period`, summed over all vCPUs (cgroup v2's cpu.max, on any host and
 * without a cgroup). A vCPU thread charges the CPU time it used every so often; once the VM has
 * used its quota for the period, each vCPU sleeps until the next period begins.
 *
 * Overuse is carried into the next periods (the check runs every few hundred microseconds, so a
 * period can end slightly over quota): the long-run share is the quota's, not a bit more. Unused
 * quota is not carried over, so an idle VM cannot save up a burst. */
#ifndef KILN_COMMON_CPU_QUOTA_H
#define KILN_COMMON_CPU_QUOTA_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_QUOTA_MIN_PERIOD_US 1000u      /* as cgroup's cpu.max: 1 ms .. 1 s */
#define CPU_QUOTA_MAX_PERIOD_US 1000000u
#define CPU_QUOTA_MIN_QUOTA_US  1000u
#define CPU_QUOTA_DEFAULT_PERIOD_US 100000u   /* cgroup's default, and a percentage's period */

struct cpu_quota {
    pthread_mutex_t lock;
    uint64_t quota_ns;          /* per period, all vCPUs together; 0: no limit */
    uint64_t period_ns;
    uint64_t period_start_ns;   /* host CLOCK_MONOTONIC */
    uint64_t used_ns;           /* in the current period (may exceed quota: carried debt) */
    _Atomic bool limited;       /* quota_ns != 0: vCPUs charge only then */
    _Atomic uint64_t epoch;     /* bumped by every set: a vCPU's older reading is not charged */
    /* cgroup cpu.stat's names */
    _Atomic uint64_t nr_periods, nr_throttled, throttled_ns;
};

/* One vCPU thread's view: its CPU clock when it last charged. */
struct cpu_quota_vcpu {
    uint64_t last_cpu_ns;
    uint64_t epoch;
};

/* cgroup cpu.stat's counters, since the quota was created */
struct cpu_quota_stats {
    uint64_t nr_periods;        /* periods that went by while the VM was limited and running */
    uint64_t nr_throttled;      /* times a vCPU had to sleep out the rest of a period */
    uint64_t throttled_us;      /* the sleeps' total */
};

/* The one rule for a limit, whoever sets it (command line, config file, API, the jail): period
 * 1 ms .. 1 s; quota 0 (no limit) or 1 ms .. 1024 periods (1024 vCPUs' worth). Returns 0, or -1
 * with a one-line reason in err. */
int cpu_quota_check(uint64_t quota_us, uint64_t period_us, char *err, size_t errlen);
/* The command-line forms: "QUOTA_US/PERIOD_US" (cgroup's cpu.max numbers), "N%" (N percent of
 * one CPU, in periods of 100 ms: "150%" is 1.5 CPUs), "none" or "0" (no limit). Only the syntax:
 * cpu_quota_check judges the numbers. Returns 0, or -1 with a reason in err. */
int cpu_quota_parse(const char *s, uint64_t *quota_us, uint64_t *period_us, char *err, size_t errlen);

void cpu_quota_init(struct cpu_quota *q);
void cpu_quota_destroy(struct cpu_quota *q);
/* quota_us 0 removes the limit. Returns 0, or -1 with a reason in err when out of range
 * (period 1 ms .. 1 s; quota 0 or >= 1 ms, at most period × 1024 for 1024 vCPUs' worth). */
int cpu_quota_set(struct cpu_quota *q, uint64_t quota_us, uint64_t period_us, char *err, size_t errlen);
void cpu_quota_get(struct cpu_quota *q, uint64_t *quota_us, uint64_t *period_us);
void cpu_quota_get_stats(struct cpu_quota *q, struct cpu_quota_stats *out);
static inline bool cpu_quota_limited(struct cpu_quota *q)
{
    return q && atomic_load_explicit(&q->limited, memory_order_relaxed);
}

/* Adds the CPU time used since the last call (cpu_ns: the thread's CLOCK_THREAD_CPUTIME_ID) at
 * host time now_ns. Returns how long the caller must sleep (0: go on). */
uint64_t cpu_quota_charge(struct cpu_quota *q, struct cpu_quota_vcpu *v, uint64_t cpu_ns, uint64_t now_ns);
/* For a vCPU that cannot be stopped between charges (KVM: guest code runs until something forces
 * it out of KVM_RUN): how much CPU time it may use between two, so that n vCPUs together overrun
 * a period's quota by about a quarter of it at most (the overrun is carried as debt anyway).
 * quota/(4·vcpus), kept within 1..10 ms: below 1 ms the forced exits cost more than they save,
 * above 10 ms a small limit would let a burst through. */
#define CPU_QUOTA_SLICE_MIN_NS 1000000ull
#define CPU_QUOTA_SLICE_MAX_NS 10000000ull
uint64_t cpu_quota_slice_ns(uint64_t quota_ns, unsigned vcpus);
/* The calling thread's CPU time and the host's monotonic time, in ns. */
uint64_t cpu_quota_thread_ns(void);
uint64_t cpu_quota_now_ns(void);

#endif
