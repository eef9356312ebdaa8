/* test_rv64_timer_advance.c — WFI's timer advance (hart.c): how early a hart waiting for its
 * timer wakes follows how late the host wakes it, within 0..RV64_TIMER_ADVANCE_MAX_NS. */
#include <criterion/criterion.h>
#include "cpu/rv64/hart.h"

#define T0 1000000000ull

Test(timer_advance, converges_to_the_hosts_wake_lateness)
{
    uint64_t adv = 0;
    for (int i = 0; i < 100; i++)
        adv = rv64_timer_advance_learn(adv, T0, T0 + 20000);   /* always 20 us late */
    cr_assert(adv >= 19900 && adv <= 20000, "advance %llu ns after 100 wake-ups 20 us late", (unsigned long long)adv);
}

Test(timer_advance, one_eighth_of_the_error_per_wake_up)
{
    cr_assert_eq(rv64_timer_advance_learn(0, T0, T0 + 8000), 1000);
    cr_assert_eq(rv64_timer_advance_learn(16000, T0, T0 + 8000), 15000);
}

Test(timer_advance, never_beyond_the_cap)
{
    uint64_t adv = 0;
    for (int i = 0; i < 200; i++)
        adv = rv64_timer_advance_learn(adv, T0, T0 + 10000000);   /* a host 10 ms late */
    cr_assert_eq(adv, RV64_TIMER_ADVANCE_MAX_NS);
}

Test(timer_advance, waking_on_time_or_early_shrinks_it_to_zero)
{
    uint64_t adv = RV64_TIMER_ADVANCE_MAX_NS;
    for (int i = 0; i < 200; i++)
        adv = rv64_timer_advance_learn(adv, T0, T0 - 5000);   /* woke before the target */
    cr_assert_lt(adv, 100, "advance %llu ns", (unsigned long long)adv);
    cr_assert_eq(rv64_timer_advance_learn(0, T0, T0), 0);
}
