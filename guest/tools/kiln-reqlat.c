/* kiln-reqlat — a latency-sensitive guest workload for the noisy-neighbour benchmark
 * (bench/noisy.sh): requests arrive at a fixed rate, each needs a fixed amount of computation,
 * and what counts is how long each one takes from its arrival to its answer.
 *
 * usage: kiln-reqlat [-i INTERVAL_US] [-n REQUESTS] [-w WORK]
 *        kiln-reqlat -c US      how much WORK takes US microseconds here (calibration)
 * Request k arrives at start + k * INTERVAL_US (default 20000; absolute deadlines, so a late
 * request does not move the next ones: a slow answer makes the next requests queue, as for a
 * server). Each runs WORK rounds of an integer hash (default 200000). Prints one line:
 *   reqlat: requests=N interval_us=I work=W p50_us=X p99_us=Y max_us=Z
 * the response times (arrival to answer, queueing included). With -c, prints
 *   reqlat: work=W for_us=US
 * the fastest of a few timed runs, scaled to US.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void work(long rounds)
{
    uint64_t x = (uint64_t)rounds;
    for (long i = 0; i < rounds; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        x ^= x >> 29;
    }
    sink = x;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int calibrate(long us)
{
    const long probe = 200000;
    long long best = -1;
    for (int i = 0; i < 5; i++) {
        long long t0 = now_ns();
        work(probe);
        long long d = now_ns() - t0;
        if (best < 0 || d < best)
            best = d;
    }
    long w = best > 0 ? (long)((double)probe * us * 1000.0 / (double)best) : probe;
    printf("reqlat: work=%ld for_us=%ld\n", w, us);
    return 0;
}

int main(int argc, char **argv)
{
    long interval_us = 20000, requests = 500, rounds = 200000, cal = 0;
    int opt;
    while ((opt = getopt(argc, argv, "i:n:w:c:")) != -1) {
        if (opt == 'i') interval_us = atol(optarg);
        else if (opt == 'n') requests = atol(optarg);
        else if (opt == 'w') rounds = atol(optarg);
        else if (opt == 'c') cal = atol(optarg);
        else {
            fprintf(stderr, "usage: kiln-reqlat [-i INTERVAL_US] [-n REQUESTS] [-w WORK] | -c US\n");
            return 2;
        }
    }
    if (cal > 0)
        return calibrate(cal);
    if (interval_us < 1 || requests < 1 || requests > 10000000 || rounds < 1) {
        fprintf(stderr, "kiln-reqlat: INTERVAL_US, REQUESTS and WORK must be positive\n");
        return 2;
    }
    long long *lat = malloc(sizeof(*lat) * (size_t)requests);
    if (!lat)
        return 1;
    work(rounds);   /* warm up: page in, caches, the emulator's translated blocks */
    long long start = now_ns();
    for (long k = 0; k < requests; k++) {
        long long arrival = start + (k + 1) * interval_us * 1000LL;
        struct timespec at = { (time_t)(arrival / 1000000000LL), (long)(arrival % 1000000000LL) };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL))
            ;
        work(rounds);
        lat[k] = now_ns() - arrival;
    }
    qsort(lat, (size_t)requests, sizeof(*lat), cmp);
    printf("reqlat: requests=%ld interval_us=%ld work=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f\n", requests,
           interval_us, rounds, lat[requests / 2] / 1000.0, lat[requests * 99 / 100] / 1000.0,
           lat[requests - 1] / 1000.0);
    free(lat);
    return 0;
}
