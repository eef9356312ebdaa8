/* poll_window.h — the adaptive busy-poll window of WFI halt polling (cpu/rv64/hart.c), after
 * KVM's halt_poll_ns; kept apart so it can be tested as a pure function.
 *
 * Why: a thread that sleeps is woken tens of microseconds late when its CPU had gone idle (on
 * the 2-core development VM, per 1 MiB O_DIRECT read: ~20 us for the vCPU, ~60 us for the
 * I/O thread). Spinning a little before sleeping hides that when the wake-up comes soon, and
 * costs a core when it does not; so the window learns. After each wait, poll_window_next looks at how long
 * the wait really took:
 *   - within the window: polling caught it, the window stays;
 *   - longer than the window but within max: a longer window would have caught it, so it
 *     doubles (from POLL_WINDOW_START_NS when 0), up to max;
 *   - longer than max: polling cannot pay for waits like this one, so it halves, and drops to
 *     0 below POLL_WINDOW_START_NS, which is where an idle guest (timer ticks milliseconds
 *     apart) keeps it: no spinning at all.
 * max 0 turns polling off. */
#ifndef KILN_COMMON_POLL_WINDOW_H
#define KILN_COMMON_POLL_WINDOW_H
#include <sched.h>
#include <stdint.h>

#define POLL_WINDOW_START_NS 10000ull

uint64_t poll_window_next(uint64_t window_ns, uint64_t waited_ns, uint64_t max_ns);

/* The max from environment variable `name` (nanoseconds, decimal; 0 = off), else dflt. A value
 * that is not a number, or above one second, is ignored (dflt). */
uint64_t poll_window_max_from_env(const char *name, uint64_t dflt);

/* One step of a polling spin. It yields the core, as KVM's halt polling stops when another
 * task is runnable on its CPU: the thread a spinning vCPU waits for (the disk's I/O thread)
 * may have been put on the same core, and would otherwise wait for the spinner's time slice
 * to end. With the core free it costs ~1 us. */
static inline void poll_window_relax(void)
{
    sched_yield();
}

#endif
