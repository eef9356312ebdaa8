/* clock.h — the host's monotonic clock in nanoseconds (process start, intervals). */
#ifndef KILN_COMMON_CLOCK_H
#define KILN_COMMON_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline uint64_t clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
