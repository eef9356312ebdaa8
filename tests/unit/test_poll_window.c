/* test_poll_window.c — the adaptive busy-poll window of WFI halt polling (common/poll_window.h):
 * grows when a longer window would have caught the wake-up, stays when polling caught it,
 * shrinks to 0 when waits outlast the bound. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "common/poll_window.h"

#define MAX 200000ull

Test(poll_window, off_when_max_is_zero)
{
    cr_assert_eq(poll_window_next(0, 1000, 0), 0);
    cr_assert_eq(poll_window_next(50000, 1000, 0), 0);
}

Test(poll_window, grows_from_the_start_value_then_doubles_up_to_max)
{
    uint64_t w = poll_window_next(0, 30000, MAX);   /* a 30 us wait, no window yet */
    cr_assert_eq(w, POLL_WINDOW_START_NS);
    w = poll_window_next(w, 30000, MAX);
    cr_assert_eq(w, 2 * POLL_WINDOW_START_NS);
    for (int i = 0; i < 20; i++)
        w = poll_window_next(w, MAX, MAX);           /* waits right at the bound still count */
    cr_assert_eq(w, MAX);
}

Test(poll_window, stays_when_polling_caught_the_wake_up)
{
    cr_assert_eq(poll_window_next(40000, 39000, MAX), 40000);
    cr_assert_eq(poll_window_next(40000, 40000, MAX), 40000);
    cr_assert_eq(poll_window_next(40000, 0, MAX), 40000);
}

Test(poll_window, halves_on_waits_beyond_max_and_drops_to_zero)
{
    cr_assert_eq(poll_window_next(MAX, MAX + 1, MAX), MAX / 2);
    uint64_t w = MAX;
    int steps = 0;
    while (w && steps < 64) {
        w = poll_window_next(w, 4000000, MAX);       /* an idle guest's 4 ms ticks */
        steps++;
    }
    cr_assert_eq(w, 0, "window %llu after %d long waits", (unsigned long long)w, steps);
    cr_assert_leq(steps, 5);
    cr_assert_eq(poll_window_next(0, 4000000, MAX), 0);   /* and stays there */
}

Test(poll_window, never_beyond_a_lowered_or_small_max)
{
    cr_assert_eq(poll_window_next(MAX, 1000, 50000), 50000);   /* max lowered since */
    cr_assert_eq(poll_window_next(0, 3000, 5000), 5000);       /* max below the start value */
}

Test(poll_window, max_from_the_environment)
{
    unsetenv("KILN_TEST_POLL");
    cr_assert_eq(poll_window_max_from_env("KILN_TEST_POLL", 123), 123);
    setenv("KILN_TEST_POLL", "0", 1);
    cr_assert_eq(poll_window_max_from_env("KILN_TEST_POLL", 123), 0);
    setenv("KILN_TEST_POLL", "50000", 1);
    cr_assert_eq(poll_window_max_from_env("KILN_TEST_POLL", 123), 50000);
    setenv("KILN_TEST_POLL", "50us", 1);
    cr_assert_eq(poll_window_max_from_env("KILN_TEST_POLL", 123), 123);
    setenv("KILN_TEST_POLL", "-1", 1);
    cr_assert_eq(poll_window_max_from_env("KILN_TEST_POLL", 123), 123);
    setenv("KILN_TEST_POLL", "2000000000", 1);
    cr_assert_eq(poll_window_max_from_env("KILN_TEST_POLL", 123), 123);
}
