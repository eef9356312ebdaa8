/* rate_limiter.h — Firecracker's I/O rate limiter: two token buckets, one counting bytes
 * (bandwidth) and one counting operations. Each bucket has a size (tokens it holds when full),
 * a refill time (ms to refill from empty to full) and a one-time burst (extra tokens available
 * once, at start). A bucket with size 0 is unlimited. Limited I/O waits; it is never dropped. */
#ifndef KILN_BACKEND_RATE_LIMITER_H
#define KILN_BACKEND_RATE_LIMITER_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct token_bucket_config {
    uint64_t size;            /* 0: unlimited */
    uint64_t one_time_burst;
    uint64_t refill_time_ms;
};

struct rate_limiter_config {
    struct token_bucket_config bandwidth;   /* bytes */
    struct token_bucket_config ops;         /* operations */
};

struct token_bucket {
    struct token_bucket_config cfg;
    uint64_t budget;          /* tokens available now (excluding the burst) */
    uint64_t burst_left;      /* what remains of the one-time burst */
    uint64_t last_refill_ns;
};

/* The device's I/O thread takes tokens while the API may change the limits: a mutex keeps the
 * two apart (uncontended, so it costs next to nothing per request). */
struct rate_limiter {
    pthread_mutex_t lock;
    struct token_bucket bandwidth, ops;
};

/* Once, before any other use (no destroy needed: the mutex holds no resources on Linux). */
void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns);
/* Replaces the buckets' parameters (API PATCH); buckets start full again, like Firecracker. */
void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns);
bool rate_limiter_is_limited(struct rate_limiter *rl);
/* One operation of `bytes` bytes. Returns 0 when it may go now (its tokens are taken), or the
 * nanoseconds to wait before asking again (nothing taken). An operation larger than the
 * bandwidth bucket is let through when the bucket is full and leaves it in debt, so it can
 * never wait forever. */
uint64_t rate_limiter_take(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
struct persist_writer;
struct persist_reader;
/* Snapshots: the configuration and the tokens left, as fields of the caller's open section.
 * Times are kept relative to now, so a limiter restored in another process (another monotonic
 * clock) goes on where it stopped; the time in between does not refill it. restore returns 0
 * or -1 (error recorded in r, the limiter unchanged). */
void rate_limiter_save(const struct rate_limiter *rl, struct persist_writer *w);
int rate_limiter_restore(struct rate_limiter *rl, struct persist_reader *r);
/* The clock rate limiters run on (CLOCK_MONOTONIC, ns): pass it as now_ns. */
uint64_t rate_limiter_now_ns(void);
/* Parses "SIZE/REFILL_MS[/ONE_TIME_BURST]" (e.g. "10485760/1000"). Returns 0 or -1. */
int token_bucket_parse(const char *s, struct token_bucket_config *out);

#endif
