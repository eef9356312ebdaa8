/* kiln-timerlat — how late do timers fire in this guest? (cyclictest's measure)
 *
 * usage: kiln-timerlat [-i INTERVAL_US] [-n SAMPLES]
 * Sleeps to absolute CLOCK_MONOTONIC deadlines INTERVAL_US apart (default 1000) SAMPLES times
 * (default 2000) and records how long after each deadline the sleep returned. Prints one line:
 *   timerlat: samples=N interval_us=I p50_us=X p99_us=Y max_us=Z
 * Absolute deadlines, as cyclictest -n uses, so one late wake-up does not shift the next.
 */
#include <stdio.h>
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
    printf("timerlat: samples=%ld interval_us=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f\n", samples,
           interval_us, late[samples / 2] / 1000.0, late[samples * 99 / 100] / 1000.0,
           late[samples - 1] / 1000.0);
    free(late);
    return 0;
}
