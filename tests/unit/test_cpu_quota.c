/* test_cpu_quota.c — the CPU bandwidth limit: its accounting on a made-up clock, and a real
 * vCPU spinning under it using no more than its share of CPU time. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>
#include "common/cpu_quota.h"
#include "rv64_test_util.h"

#define MS 1000000ull

static struct cpu_quota Q;
static char err[256];

static void quota(uint64_t quota_us, uint64_t period_us)
{
    cr_assert_eq(cpu_quota_set(&Q, quota_us, period_us, err, sizeof(err)), 0, "%s", err);
    Q.period_start_ns = 1000 * MS;   /* a made-up clock from here on */
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

static void *stop_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 600000000};
    nanosleep(&ts, NULL);
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
    clockid_t clk;
    cr_assert_eq(pthread_getcpuclockid(vcpu, &clk), 0);
    cr_assert_eq(pthread_create(&stopper, NULL, stop_later, NULL), 0);
    pthread_join(stopper, NULL);
    struct timespec used;
    clock_gettime(clk, &used);       /* before the join: the thread's clock dies with it */
    pthread_join(vcpu, NULL);
    double ms = used.tv_sec * 1e3 + used.tv_nsec / 1e6;
    /* 600 ms at 20 %: 120 ms, plus one check interval of overshoot per period; unlimited it
     * would be close to 600 ms */
    cr_assert_leq(ms, 170.0, "the vCPU used %.0f ms of CPU in 600 ms under a 20 %% limit", ms);
    cr_assert_geq(ms, 10.0, "the vCPU barely ran (%.0f ms)", ms);
    cr_assert_geq(atomic_load(&Q.nr_throttled), 3);
}
