/* cpu_quota_timer.h — a CPU limit (cpu_quota.h) for vCPU threads that run guest code inside a
 * call that does not come back by itself (KVM_RUN), where nothing checks the quota at block
 * boundaries as rv64's interpreter does.
 *
 * While the VM is limited, a POSIX timer on the thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID,
 * which counts the guest's time in KVM_RUN) sends the thread a signal for every slice of CPU
 * time it uses (cpu_quota_slice_ns); the signal interrupts the call (EINTR), and before running
 * guest code again the thread charges what it used and sleeps out the period once the VM's
 * quota is gone. A halted vCPU uses no CPU time and so gets no signals: an idle VM under a
 * limit costs nothing. The CPU-time timers expire at the host's scheduler tick, so a slice can
 * run over by a tick; the overrun is charged as the next period's debt.
 *
 * One per vCPU thread, used only on that thread (init creates the timer for the calling
 * thread, so it must run on the vCPU thread, before its seccomp list, which has no
 * timer_create). */
#ifndef KILN_COMMON_CPU_QUOTA_TIMER_H
#define KILN_COMMON_CPU_QUOTA_TIMER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/cpu_quota.h"

struct cpu_quota_timer {
    struct cpu_quota *q;          /* NULL: no limit ever */
    struct cpu_quota_vcpu acct;
    unsigned vcpus;               /* how many share the quota (the slice's divisor) */
    timer_t timer;
    bool have_timer;
    uint64_t armed_epoch;         /* the quota setting the timer follows (cpu_quota.epoch) */
};

/* Creates the calling thread's timer, unarmed; it will send signo (whose handler must not be
 * SIG_DFL or SIG_IGN: an empty one, so that the interrupted call fails with EINTR) to this
 * thread. q may be NULL (nothing happens then). Returns 0, or -1 with a reason in err: the
 * thread can still charge, at its exits only. */
int cpu_quota_timer_init(struct cpu_quota_timer *t, struct cpu_quota *q, unsigned vcpus, int signo,
                         char *err, size_t errlen);
void cpu_quota_timer_destroy(struct cpu_quota_timer *t);

/* Before running guest code: follows a changed limit (arms, re-arms or disarms the timer) and,
 * while limited, charges the CPU time used since the last call. Returns 0 to run, or the host
 * CLOCK_MONOTONIC time (ns) the VM's quota is used up until: the end of the period, the same
 * value for every vCPU throttled in that period. */
uint64_t cpu_quota_timer_check(struct cpu_quota_timer *t);

/* Sleeps until `until` (CLOCK_MONOTONIC ns), in slices of at most 10 ms; returns early when
 * wake(opaque) says so (looked at after every slice and every signal) or the limit changed. */
void cpu_quota_timer_sleep(struct cpu_quota_timer *t, uint64_t until, bool (*wake)(void *),
                           void *opaque);

#endif
