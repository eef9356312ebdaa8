/* kiln-timerlat — how late do timers fire in this guest? (cyclictest's measure)
 *
 * usage: kiln-timerlat [-i INTERVAL_US] [-n SAMPLES]
 * Sleeps to absolute CLOCK_MONOTONIC deadlines INTERVAL_US apart (default 1000) SAMPLES times
 * (default 2000) and records how long after each deadline the sleep returned. Prints one line:
 *   timerlat: samples=N interval_us=I p50_us=X p99_us=Y max_us=Z
 * Absolute deadlines, as cyclictest -n uses, so one late wake-up does not shift the next.
 * Like cyclictest -p, the measuring thread runs SCHED_FIFO (priority 99) when it may, with 1 ns
 * of timer slack and its memory locked: a normal task's default 50 us timer slack lets the
 * kernel fire its timer up to 50 us late on purpose, which would measure the kernel's policy,
 * not the (virtual) machine. The line says whether that worked (fifo=0|1).
 * Built for the guest (guest/build.sh) and natively for the host baseline (bench/timer.sh).
 */
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long ns_of(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long interval_us = 1000, samples = 2000;
    int opt;
    while ((opt = getopt(argc, argv, "i:n:")) != -1) {
        if (opt == 'i') interval_us = atol(optarg);
        else if (opt == 'n') samples = atol(optarg);
        else {
            fprintf(stderr, "usage: kiln-timerlat [-i INTERVAL_US] [-n SAMPLES]\n");
            return 2;
        }
    }
    if (interval_us < 1 || samples < 1 || samples > 10000000) {
        fprintf(stderr, "kiln-timerlat: INTERVAL_US and SAMPLES must be positive\n");
        return 2;
    }
    long long *late = malloc(sizeof(*late) * (size_t)samples);
    if (!late)
        return 1;
    struct sched_param sp = { .sched_priority = 99 };
    int fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    mlockall(MCL_CURRENT | MCL_FUTURE);
    struct timespec now, next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long i = 0; i < samples; i++) {
        long long t = ns_of(&next) + interval_us * 1000LL;
        next.tv_sec = t / 1000000000LL;
        next.tv_nsec = t % 1000000000LL;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL))
            ;
        clock_gettime(CLOCK_MONOTONIC, &now);
        late[i] = ns_of(&now) - t;
    }
    qsort(late, (size_t)samples, sizeof(*late), cmp);
    printf("timerlat: samples=%ld interval_us=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f fifo=%d\n", samples,
           interval_us, late[samples / 2] / 1000.0, late[samples * 99 / 100] / 1000.0,
           late[samples - 1] / 1000.0, fifo);
    free(late);
    return 0;
}
