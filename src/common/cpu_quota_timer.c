/* cpu_quota_timer.c — the CPU limit for vCPUs inside KVM_RUN (see cpu_quota_timer.h). */
#include "common/cpu_quota_timer.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* glibc before 2.35 names the target thread only by its union member */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* a kick that lands between the sleeper's check and its sleep is seen after this at most */
#define SLEEP_SLICE_NS 10000000ull

int cpu_quota_timer_init(struct cpu_quota_timer *t, struct cpu_quota *q, unsigned vcpus, int signo,
                         char *err, size_t errlen)
{
    *t = (struct cpu_quota_timer){ .q = q, .vcpus = vcpus };
    if (!q)
        return 0;
    struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = signo };
    ev.sigev_notify_thread_id = gettid();
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &t->timer)) {
        snprintf(err, errlen, "cannot create a CPU-time timer for the CPU limit (%s): a vCPU "
                 "running guest code without exits is not held to it", strerror(errno));
        return -1;
    }
    t->have_timer = true;
    return 0;
}

void cpu_quota_timer_destroy(struct cpu_quota_timer *t)
{
    if (t->have_timer)
        timer_delete(t->timer);
    t->have_timer = false;
}

/* The limit changed (or was set before the thread started): a slice of CPU time per signal
 * while limited, none without a limit. */
static void follow(struct cpu_quota_timer *t, uint64_t epoch)
{
    uint64_t quota_us, period_us;
    t->armed_epoch = epoch;          /* first: a change after this reading is seen next time */
    cpu_quota_get(t->q, &quota_us, &period_us);
    if (!t->have_timer)
        return;
    uint64_t slice = quota_us ? cpu_quota_slice_ns(quota_us * 1000, t->vcpus) : 0;
    struct itimerspec its = {
        .it_value = { (time_t)(slice / 1000000000ull), (long)(slice % 1000000000ull) },
    };
    its.it_interval = its.it_value;
    timer_settime(t->timer, 0, &its, NULL);
}

uint64_t cpu_quota_timer_check(struct cpu_quota_timer *t)
{
    if (!t->q)
        return 0;
    uint64_t epoch = atomic_load(&t->q->epoch);
    if (epoch != t->armed_epoch)
        follow(t, epoch);
    if (!cpu_quota_limited(t->q))
        return 0;
    uint64_t now = cpu_quota_now_ns();
    uint64_t sleep = cpu_quota_charge(t->q, &t->acct, cpu_quota_thread_ns(), now);
    return sleep ? now + sleep : 0;
}

void cpu_quota_timer_sleep(struct cpu_quota_timer *t, uint64_t until, bool (*wake)(void *),
                           void *opaque)
{
    for (;;) {
        if (wake(opaque) || atomic_load(&t->q->epoch) != t->armed_epoch)
            return;
        uint64_t now = cpu_quota_now_ns();
        if (now >= until)
            return;
        uint64_t to = until - now > SLEEP_SLICE_NS ? now + SLEEP_SLICE_NS : until;
        struct timespec ts = { (time_t)(to / 1000000000ull), (long)(to % 1000000000ull) };
        /* EINTR (a kick): look at wake again */
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}
