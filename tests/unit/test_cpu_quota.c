/* test_cpu_quota.c — the CPU bandwidth limit: its syntax and range rules, its accounting on a
 * made-up clock, and a real vCPU spinning under it using no more than its share of CPU time;
 * the vCPU priorities: their names, and a vCPU thread that really runs at the one asked for. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "common/cpu_priority.h"
#include "common/cpu_quota.h"
#include "common/cpu_quota_timer.h"
#include "rv64_test_util.h"

#define MS 1000000ull

static struct cpu_quota Q;
static char err[256];

static void quota(uint64_t quota_us, uint64_t period_us)
{
    cr_assert_eq(cpu_quota_set(&Q, quota_us, period_us, err, sizeof(err)), 0, "%s", err);
    Q.period_start_ns = 1000 * MS;   /* a made-up clock from here on */
}

Test(cpu_quota, limits_parse_from_the_command_line_forms)
{
    uint64_t q = 1, p = 1;
    cr_assert_eq(cpu_quota_parse("20000/100000", &q, &p, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(q, 20000);
    cr_assert_eq(p, 100000);
    cr_assert_eq(cpu_quota_parse("20%", &q, &p, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(q, 20000, "20%% of one CPU per 100 ms is 20 ms");
    cr_assert_eq(p, 100000);
    cr_assert_eq(cpu_quota_parse("150%", &q, &p, err, sizeof(err)), 0);
    cr_assert_eq(q, 150000, "150%% is one and a half CPUs");
    cr_assert_eq(cpu_quota_parse("none", &q, &p, err, sizeof(err)), 0);
    cr_assert_eq(q, 0);
    cr_assert_eq(p, 100000);
    q = 5;
    cr_assert_eq(cpu_quota_parse("0", &q, &p, err, sizeof(err)), 0);
    cr_assert_eq(q, 0);
    const char *bad[] = { "", "20", "-20%", "20%%", "20 %", "/100000", "20000/", "20000/100000/1",
                          "0x10/100", "20000/-5", "99999999999999999999/100000", "1.5%", "max" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        cr_assert_eq(cpu_quota_parse(bad[i], &q, &p, err, sizeof(err)), -1, "'%s' was taken", bad[i]);
        cr_assert(strstr(err, "is not a CPU limit: QUOTA_US/PERIOD_US"), "'%s': %s", bad[i], err);
    }
    /* the syntax is all it judges: the numbers are cpu_quota_check's */
    cr_assert_eq(cpu_quota_parse("5/100", &q, &p, err, sizeof(err)), 0);
    cr_assert_eq(cpu_quota_check(q, p, err, sizeof(err)), -1);
    cr_assert(strstr(err, "period must be 1000..1000000 us, not 100"), "%s", err);
    cr_assert_eq(cpu_quota_check(500, 100000, err, sizeof(err)), -1);
    cr_assert(strstr(err, "quota must be 0 (none) or 1000 us..1024 periods, not 500"), "%s", err);
    cr_assert_eq(cpu_quota_check(0, 100000, err, sizeof(err)), 0);
    cr_assert_eq(cpu_quota_check(1000, 1000, err, sizeof(err)), 0);
    cr_assert_eq(cpu_quota_check(1024000000, 1000000, err, sizeof(err)), 0);
}

Test(cpu_quota, stats_count_throttling)
{
    cpu_quota_init(&Q);
    quota(20000, 100000);
    uint64_t t0 = 1000 * MS;
    struct cpu_quota_vcpu v = {0};
    cpu_quota_charge(&Q, &v, 0, t0);
    cr_assert_eq(cpu_quota_charge(&Q, &v, 30 * MS, t0 + 30 * MS), 70 * MS);
    cpu_quota_charge(&Q, &v, 30 * MS, t0 + 250 * MS);   /* two periods later */
    struct cpu_quota_stats st;
    cpu_quota_get_stats(&Q, &st);
    cr_assert_eq(st.nr_throttled, 1);
    cr_assert_eq(st.throttled_us, 70000);
    cr_assert_eq(st.nr_periods, 2);
}

Test(cpu_priority, names)
{
    enum cpu_priority p;
    cr_assert_eq(cpu_priority_parse("normal", &p, err, sizeof(err)), 0);
    cr_assert_eq(p, CPU_PRIORITY_NORMAL);
    cr_assert_eq(cpu_priority_parse("low", &p, err, sizeof(err)), 0);
    cr_assert_eq(p, CPU_PRIORITY_LOW);
    cr_assert_eq(cpu_priority_parse("idle", &p, err, sizeof(err)), 0);
    cr_assert_eq(p, CPU_PRIORITY_IDLE);
    cr_assert_eq(cpu_priority_parse("high", &p, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "'high' is not a vCPU priority: normal, low or idle");
    cr_assert_eq(cpu_priority_parse("", &p, err, sizeof(err)), -1);
    cr_assert_eq(cpu_priority_parse("Idle", &p, err, sizeof(err)), -1);
    cr_assert_str_eq(cpu_priority_name(CPU_PRIORITY_IDLE), "idle");
    cr_assert_str_eq(cpu_priority_name(CPU_PRIORITY_LOW), "low");
    cr_assert_str_eq(cpu_priority_name(CPU_PRIORITY_NORMAL), "normal");
}

struct prio_probe {
    enum cpu_priority p;
    int rc, policy, nice, other_policy;
};

static void *apply_and_look(void *arg)
{
    struct prio_probe *pp = arg;
    pp->rc = cpu_priority_apply_self(pp->p, err, sizeof(err));
    pp->policy = sched_getscheduler(0);
    pp->nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    return NULL;
}

Test(cpu_priority, applies_to_the_calling_thread_only)
{
    int before = getpriority(PRIO_PROCESS, (id_t)gettid());
    struct prio_probe low = { .p = CPU_PRIORITY_LOW }, idle = { .p = CPU_PRIORITY_IDLE },
                      normal = { .p = CPU_PRIORITY_NORMAL };
    struct prio_probe *all[] = { &low, &idle, &normal };
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, apply_and_look, all[i]), 0);
        pthread_join(t, NULL);
        cr_assert_eq(all[i]->rc, 0, "%s: %s", cpu_priority_name(all[i]->p), err);
    }
    cr_assert_eq(low.policy, SCHED_OTHER);
    cr_assert_eq(low.nice, CPU_PRIORITY_LOW_NICE);
    cr_assert_eq(idle.policy, SCHED_IDLE);
    cr_assert_eq(normal.policy, SCHED_OTHER);
    cr_assert_eq(normal.nice, before, "normal changes nothing");
    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER, "the creating thread keeps its policy");
    cr_assert_eq(getpriority(PRIO_PROCESS, (id_t)gettid()), before, "and its nice value");
}

Test(cpu_quota, limits_are_range_checked)
{
    cpu_quota_init(&Q);
    cr_assert_eq(cpu_quota_set(&Q, 50000, 999, err, sizeof(err)), -1);
    cr_assert(strstr(err, "period"), "%s", err);
    cr_assert_eq(cpu_quota_set(&Q, 50000, 1000001, err, sizeof(err)), -1);
    cr_assert_eq(cpu_quota_set(&Q, 999, 100000, err, sizeof(err)), -1);
    cr_assert(strstr(err, "quota"), "%s", err);
    cr_assert_eq(cpu_quota_set(&Q, 100000ull * 1025, 100000, err, sizeof(err)), -1);
    cr_assert_eq(cpu_quota_set(&Q, 0, 100000, err, sizeof(err)), 0);
    cr_assert_not(cpu_quota_limited(&Q), "quota 0 means no limit");
    cr_assert_eq(cpu_quota_set(&Q, 200000, 100000, err, sizeof(err)), 0, "two vCPUs' worth is fine");
    cr_assert(cpu_quota_limited(&Q));
    uint64_t q, p;
    cpu_quota_get(&Q, &q, &p);
    cr_assert_eq(q, 200000);
    cr_assert_eq(p, 100000);
}

Test(cpu_quota, a_vcpu_sleeps_to_the_period_end_once_the_quota_is_used)
{
    cpu_quota_init(&Q);
    quota(20000, 100000);            /* 20 ms per 100 ms */
    struct cpu_quota_vcpu v = {0};
    uint64_t t0 = 1000 * MS;
    cr_assert_eq(cpu_quota_charge(&Q, &v, 500 * MS, t0), 0, "the first charge only starts the clock");
    cr_assert_eq(cpu_quota_charge(&Q, &v, 510 * MS, t0 + 10 * MS), 0, "10 of 20 ms used");
    cr_assert_eq(cpu_quota_charge(&Q, &v, 521 * MS, t0 + 21 * MS), 79 * MS,
                 "21 of 20 ms used at 21 ms: sleep to 100 ms");
    cr_assert_eq(atomic_load(&Q.nr_throttled), 1);
    /* next period: 1 ms of debt carried, so 19 ms more are allowed */
    cr_assert_eq(cpu_quota_charge(&Q, &v, 521 * MS, t0 + 100 * MS), 0);
    cr_assert_eq(cpu_quota_charge(&Q, &v, 539 * MS, t0 + 118 * MS), 0, "19 ms + 1 ms of debt < 20");
    cr_assert_eq(cpu_quota_charge(&Q, &v, 540 * MS, t0 + 119 * MS), 81 * MS);
}

Test(cpu_quota, vcpus_share_one_quota)
{
    cpu_quota_init(&Q);
    quota(30000, 100000);
    struct cpu_quota_vcpu a = {0}, b = {0};
    uint64_t t0 = 1000 * MS;
    cpu_quota_charge(&Q, &a, 0, t0);
    cpu_quota_charge(&Q, &b, 0, t0);
    cr_assert_eq(cpu_quota_charge(&Q, &a, 20 * MS, t0 + 20 * MS), 0);
    cr_assert_eq(cpu_quota_charge(&Q, &b, 20 * MS, t0 + 20 * MS), 80 * MS, "40 of 30 ms between the two");
}

Test(cpu_quota, idle_periods_pay_debt_but_save_no_credit)
{
    cpu_quota_init(&Q);
    quota(10000, 100000);
    struct cpu_quota_vcpu v = {0};
    uint64_t t0 = 1000 * MS;
    cpu_quota_charge(&Q, &v, 0, t0);
    cr_assert_neq(cpu_quota_charge(&Q, &v, 35 * MS, t0 + 40 * MS), 0, "35 ms against 10");
    /* two periods later: 2 × 10 ms paid off, 15 ms of debt left, still over the quota */
    cr_assert_neq(cpu_quota_charge(&Q, &v, 35 * MS, t0 + 200 * MS), 0);
    /* ten idle periods later the debt is gone, and no credit was saved: 11 ms is over again */
    cr_assert_eq(cpu_quota_charge(&Q, &v, 35 * MS, t0 + 1200 * MS), 0);
    cr_assert_neq(cpu_quota_charge(&Q, &v, 46 * MS, t0 + 1211 * MS), 0);
}

Test(cpu_quota, time_used_before_a_new_limit_is_not_charged_to_it)
{
    cpu_quota_init(&Q);
    quota(20000, 100000);
    struct cpu_quota_vcpu v = {0};
    uint64_t t0 = 1000 * MS;
    cpu_quota_charge(&Q, &v, 0, t0);
    quota(20000, 100000);            /* changed while running */
    cr_assert_eq(cpu_quota_charge(&Q, &v, 5000 * MS, t0 + 1 * MS), 0, "5 s used before the change");
    cr_assert_eq(cpu_quota_charge(&Q, &v, 5010 * MS, t0 + 11 * MS), 0);
}

/* A real hart spinning (`j .`) on its own thread under 20 ms per 100 ms. */
TestSuite(cpu_quota_hart, .init = rv_setup, .fini = rv_teardown);

/* Reads the vCPU thread's CPU clock (arg) after 600 ms, then stops the machine: read before
 * the stop, while the thread surely lives (a dead thread's clock cannot be read: the reading
 * failed, leaving garbage, when the vCPU thread exited first). */
static clockid_t vcpu_clock;
static struct timespec vcpu_used;
static int vcpu_clock_rc = -1;

static void *stop_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 600000000};
    nanosleep(&ts, NULL);
    vcpu_clock_rc = clock_gettime(vcpu_clock, &vcpu_used);
    rv64_machine_exit(&M, RV64_EXIT_HOST, 0);
    return NULL;
}

Test(cpu_quota_hart, a_spinning_vcpu_uses_no_more_than_its_share)
{
    cpu_quota_init(&Q);
    cr_assert_eq(cpu_quota_set(&Q, 20000, 100000, err, sizeof(err)), 0);
    M.cpu_quota = &Q;
    emit_halt();
    pthread_t vcpu, stopper;
    cr_assert_eq(pthread_create(&vcpu, NULL, rv64_hart_thread, H), 0);
    cr_assert_eq(pthread_getcpuclockid(vcpu, &vcpu_clock), 0);
    cr_assert_eq(pthread_create(&stopper, NULL, stop_later, NULL), 0);
    pthread_join(stopper, NULL);
    pthread_join(vcpu, NULL);
    cr_assert_eq(vcpu_clock_rc, 0, "the vCPU thread's CPU clock could not be read");
    double ms = vcpu_used.tv_sec * 1e3 + vcpu_used.tv_nsec / 1e6;
    /* 600 ms at 20 %: 120 ms, plus one check interval of overshoot per period; unlimited it
     * would be close to 600 ms */
    cr_assert_leq(ms, 170.0, "the vCPU used %.0f ms of CPU in 600 ms under a 20 %% limit", ms);
    cr_assert_geq(ms, 10.0, "the vCPU barely ran (%.0f ms)", ms);
    /* a busy host (these tests run two at a time, the KVM timer ones spinning too) may not
     * give the hart its quota: throttling is owed only when it got it */
    if (ms >= 100.0)
        cr_assert_geq(atomic_load(&Q.nr_throttled), 1, "%.0f ms used, never throttled", ms);
}

/* /proc/self/task/TID/stat of the thread named name: its nice value (field 19) and policy (41) */
static bool thread_sched(const char *name, int *nice, int *policy)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name))
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        char line[1024];
        cr_assert(f && fgets(line, sizeof(line), f));
        fclose(f);
        /* after the ")" closing comm: field 3 onwards */
        char *p = strrchr(line, ')') + 2;
        for (int field = 3; field <= 41; field++) {
            if (field == 19)
                *nice = atoi(p);
            if (field == 41)
                *policy = atoi(p);
            p = strchr(p, ' ') + 1;
        }
        found = true;
    }
    closedir(d);
    return found;
}

static void *stop_after_look(void *arg)
{
    int *out = arg;
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    cr_assert(thread_sched("kiln-vcpu0", &out[0], &out[1]), "no kiln-vcpu0 thread");
    rv64_machine_exit(&M, RV64_EXIT_HOST, 0);
    return NULL;
}

static void vcpu_runs_at(enum cpu_priority p, int want_nice, int want_policy)
{
    M.vcpu_priority = (int)p;
    emit_halt();
    int seen[2] = { -100, -100 };
    pthread_t vcpu, looker;
    cr_assert_eq(pthread_create(&vcpu, NULL, rv64_hart_thread, H), 0);
    cr_assert_eq(pthread_create(&looker, NULL, stop_after_look, seen), 0);
    pthread_join(looker, NULL);
    pthread_join(vcpu, NULL);
    cr_assert_eq(seen[0], want_nice, "%s: the vCPU thread's nice is %d", cpu_priority_name(p), seen[0]);
    cr_assert_eq(seen[1], want_policy, "%s: the vCPU thread's policy is %d", cpu_priority_name(p), seen[1]);
    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER, "only the vCPU thread changed");
}

Test(cpu_quota_hart, a_low_priority_vcpu_thread_runs_at_nice_19)
{
    vcpu_runs_at(CPU_PRIORITY_LOW, CPU_PRIORITY_LOW_NICE, SCHED_OTHER);
}

Test(cpu_quota_hart, an_idle_priority_vcpu_thread_runs_sched_idle)
{
    vcpu_runs_at(CPU_PRIORITY_IDLE, getpriority(PRIO_PROCESS, 0), SCHED_IDLE);
}

Test(cpu_quota_hart, a_normal_vcpu_thread_keeps_the_default)
{
    vcpu_runs_at(CPU_PRIORITY_NORMAL, getpriority(PRIO_PROCESS, 0), SCHED_OTHER);
}

Test(cpu_quota, a_vcpu_that_cannot_be_stopped_gets_a_slice_per_signal)
{
    cr_assert_eq(cpu_quota_slice_ns(20 * MS, 2), 2500000, "a quarter of 20 ms between 2 vCPUs");
    cr_assert_eq(cpu_quota_slice_ns(20 * MS, 0), 5 * MS, "0 vCPUs counts as one");
    cr_assert_eq(cpu_quota_slice_ns(1 * MS, 1), CPU_QUOTA_SLICE_MIN_NS, "never below 1 ms");
    cr_assert_eq(cpu_quota_slice_ns(1000 * MS, 4), CPU_QUOTA_SLICE_MAX_NS, "never above 10 ms");
}

/* A "vCPU" that runs guest code the way KVM_RUN does: a spin that ends only when a signal
 * arrives (SIGUSR2 here: its handler sets `interrupted`), under cpu_quota_timer. */
static volatile sig_atomic_t interrupted;
static _Atomic bool timer_vcpu_stop;
static pthread_t timer_vcpu;

static void on_timer_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool timer_vcpu_wake(void *opaque)
{
    (void)opaque;
    return atomic_load(&timer_vcpu_stop);
}

static void *timer_vcpu_thread(void *arg)
{
    (void)arg;
    struct cpu_quota_timer t;
    cr_assert_eq(cpu_quota_timer_init(&t, &Q, 1, SIGUSR2, err, sizeof(err)), 0, "%s", err);
    while (!atomic_load(&timer_vcpu_stop)) {
        uint64_t until = cpu_quota_timer_check(&t);
        if (until) {
            cpu_quota_timer_sleep(&t, until, timer_vcpu_wake, NULL);
            continue;
        }
        interrupted = 0;
        while (!interrupted && !atomic_load_explicit(&timer_vcpu_stop, memory_order_relaxed))
            ;
    }
    cpu_quota_timer_destroy(&t);
    return NULL;
}

static void timer_vcpu_start(void)
{
    struct sigaction sa = { .sa_handler = on_timer_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    atomic_store(&timer_vcpu_stop, false);
    cr_assert_eq(pthread_create(&timer_vcpu, NULL, timer_vcpu_thread, NULL), 0);
}

/* the thread's CPU time over ms of wall time */
static double timer_vcpu_cpu_ms(unsigned ms)
{
    clockid_t clk;
    struct timespec a, b, ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    cr_assert_eq(pthread_getcpuclockid(timer_vcpu, &clk), 0);
    cr_assert_eq(clock_gettime(clk, &a), 0);
    nanosleep(&ts, NULL);
    cr_assert_eq(clock_gettime(clk, &b), 0);
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static void timer_vcpu_end(void)
{
    atomic_store(&timer_vcpu_stop, true);
    pthread_kill(timer_vcpu, SIGUSR2);
    pthread_join(timer_vcpu, NULL);
}

Test(cpu_quota, a_vcpu_that_never_exits_is_held_to_its_share)
{
    cpu_quota_init(&Q);
    cr_assert_eq(cpu_quota_set(&Q, 20000, 100000, err, sizeof(err)), 0);
    timer_vcpu_start();
    double ms = timer_vcpu_cpu_ms(600);
    timer_vcpu_end();
    /* 120 ms at 20 %, plus a tick or two of overrun; unlimited it would be close to 600 ms */
    cr_assert_leq(ms, 170.0, "the vCPU used %.0f ms of CPU in 600 ms under a 20 %% limit", ms);
    cr_assert_geq(ms, 10.0, "the vCPU barely ran (%.0f ms)", ms);
    /* a spin that never returns by itself is throttled only when the timer forces it out; a
     * busy host may not give it its quota at all, and then there is nothing to throttle */
    if (ms >= 100.0)
        cr_assert_geq(atomic_load(&Q.nr_throttled), 1, "%.0f ms used, never throttled", ms);
}

Test(cpu_quota, a_limit_set_or_lifted_while_the_vcpu_runs_takes_effect)
{
    /* what the host gives the thread varies with its load, so this judges by the quota's own
     * counters: a spin that never returns by itself is throttled only if the timer forces it
     * out, and lifting the limit stops the throttling */
    cpu_quota_init(&Q);
    timer_vcpu_start();
    timer_vcpu_cpu_ms(200);
    /* what vm_set_cpu_limit does: set, then kick the vCPU out of guest code */
    cr_assert_eq(cpu_quota_set(&Q, 10000, 100000, err, sizeof(err)), 0);
    pthread_kill(timer_vcpu, SIGUSR2);
    double limited = timer_vcpu_cpu_ms(600);
    uint64_t throttled = atomic_load(&Q.nr_throttled);
    cr_assert_eq(cpu_quota_set(&Q, 0, 100000, err, sizeof(err)), 0);
    pthread_kill(timer_vcpu, SIGUSR2);
    timer_vcpu_cpu_ms(150);   /* a throttled sleep ends at the change */
    uint64_t lifted_at = atomic_load(&Q.nr_throttled);
    double after = timer_vcpu_cpu_ms(300);
    timer_vcpu_end();
    cr_assert_leq(limited, 110.0, "%.0f ms of CPU in 600 ms under a 10 %% limit", limited);
    if (limited >= 60.0)   /* it got its quota from the host: it must have been stopped */
        cr_assert_geq(throttled, 1, "%.0f ms used under a 10 %% limit, never throttled", limited);
    cr_assert_eq(atomic_load(&Q.nr_throttled), lifted_at, "throttled after the limit was lifted");
    cr_assert_gt(after, 0.0, "the vCPU did not run after the limit was lifted");
}
