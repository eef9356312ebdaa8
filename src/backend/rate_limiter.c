/* rate_limiter.c — Firecracker-style token buckets (see rate_limiter.h).
 *
 * A bucket refills continuously at size / refill_time; what it can hold is capped at `size`.
 * The one-time burst is spent before the budget and never comes back. Unlike Firecracker, a
 * request that cannot go now takes nothing (not even the burst), so the caller can simply ask
 * again after the returned wait.
 *
 * Debt: a request bigger than the whole bucket goes through once the bucket is full, and the
 * excess is paid back by refilling nothing for the time those tokens would take. The header's
 * budget is unsigned, so the debt is kept as last_refill_ns pushed into the future: refill
 * only counts time after last_refill_ns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend/rate_limiter.h"
#include "common/persist.h"

#define NS_PER_MS 1000000ull

static bool bucket_unlimited(const struct token_bucket *b)
{
    return b->cfg.size == 0 || b->cfg.refill_time_ms == 0;
}

static unsigned __int128 refill_ns(const struct token_bucket *b)
{
    return (unsigned __int128)b->cfg.refill_time_ms * NS_PER_MS;
}

static void bucket_reset(struct token_bucket *b, const struct token_bucket_config *cfg, uint64_t now_ns)
{
    b->cfg = *cfg;
    b->budget = cfg->size;
    b->burst_left = cfg->one_time_burst;
    b->last_refill_ns = now_ns;
}

/* Adds the tokens earned since last_refill_ns. Only the time those whole tokens stand for is
 * consumed, so slow trickles (less than one token per call) are not lost. */
static void bucket_refill(struct token_bucket *b, uint64_t now_ns)
{
    if (now_ns <= b->last_refill_ns)
        return;  /* still paying off a debt, or no time passed */
    uint64_t elapsed = now_ns - b->last_refill_ns;
    unsigned __int128 earned = (unsigned __int128)elapsed * b->cfg.size / refill_ns(b);
    if (earned >= b->cfg.size - b->budget) {
        b->budget = b->cfg.size;
        b->last_refill_ns = now_ns;  /* a full bucket earns nothing more */
        return;
    }
    b->budget += (uint64_t)earned;
    b->last_refill_ns += (uint64_t)(earned * refill_ns(b) / b->cfg.size);
}

/* Nanoseconds from now until the bucket holds `want` tokens (want <= size). */
static uint64_t bucket_wait_for(const struct token_bucket *b, uint64_t want, uint64_t now_ns)
{
    uint64_t deficit = want - b->budget;
    unsigned __int128 size = b->cfg.size;
    unsigned __int128 t = ((unsigned __int128)deficit * refill_ns(b) + size - 1) / size;
    unsigned __int128 ready = (unsigned __int128)b->last_refill_ns + t;
    if (ready <= now_ns)
        return 1;  /* rounding: the token lands within the next nanosecond */
    unsigned __int128 wait = ready - now_ns;
    return wait > UINT64_MAX ? UINT64_MAX : (uint64_t)wait;
}

/* Can `tokens` be taken now? Returns 0 (yes) or the wait. Refills but takes nothing. */
static uint64_t bucket_check(struct token_bucket *b, uint64_t tokens, uint64_t now_ns)
{
    if (bucket_unlimited(b))
        return 0;
    bucket_refill(b, now_ns);
    uint64_t from_burst = tokens < b->burst_left ? tokens : b->burst_left;
    uint64_t need = tokens - from_burst;
    if (need <= b->budget)
        return 0;
    if (need > b->cfg.size)  /* oversized: goes once the bucket is full */
        return b->budget == b->cfg.size ? 0 : bucket_wait_for(b, b->cfg.size, now_ns);
    return bucket_wait_for(b, need, now_ns);
}

/* Takes tokens that bucket_check just allowed. */
static void bucket_take(struct token_bucket *b, uint64_t tokens)
{
    if (bucket_unlimited(b))
        return;
    uint64_t from_burst = tokens < b->burst_left ? tokens : b->burst_left;
    b->burst_left -= from_burst;
    uint64_t need = tokens - from_burst;
    if (need <= b->budget) {
        b->budget -= need;
        return;
    }
    /* Oversized: empty the bucket and refill nothing until the excess is paid for. */
    uint64_t debt = need - b->budget;
    b->budget = 0;
    unsigned __int128 debt_ns = ((unsigned __int128)debt * refill_ns(b) + b->cfg.size - 1) / b->cfg.size;
    unsigned __int128 until = (unsigned __int128)b->last_refill_ns + debt_ns;
    b->last_refill_ns = until > UINT64_MAX ? UINT64_MAX : (uint64_t)until;
}

uint64_t rate_limiter_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns)
{
    pthread_mutex_init(&rl->lock, NULL);
    bucket_reset(&rl->bandwidth, &cfg->bandwidth, now_ns);
    bucket_reset(&rl->ops, &cfg->ops, now_ns);
}

void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns)
{
    pthread_mutex_lock(&rl->lock);
    bucket_reset(&rl->bandwidth, &cfg->bandwidth, now_ns);
    bucket_reset(&rl->ops, &cfg->ops, now_ns);
    pthread_mutex_unlock(&rl->lock);
}

bool rate_limiter_is_limited(struct rate_limiter *rl)
{
    pthread_mutex_lock(&rl->lock);
    bool limited = !bucket_unlimited(&rl->bandwidth) || !bucket_unlimited(&rl->ops);
    pthread_mutex_unlock(&rl->lock);
    return limited;
}

uint64_t rate_limiter_take(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
    pthread_mutex_lock(&rl->lock);
    /* Check both before taking from either, so a refused request leaves no trace. */
    uint64_t wait_ops = bucket_check(&rl->ops, 1, now_ns);
    uint64_t wait_bw = bucket_check(&rl->bandwidth, bytes, now_ns);
    if (!wait_ops && !wait_bw) {
        bucket_take(&rl->ops, 1);
        bucket_take(&rl->bandwidth, bytes);
    }
    pthread_mutex_unlock(&rl->lock);
    return wait_ops > wait_bw ? wait_ops : wait_bw;
}

/* last_refill_ns is written as its signed distance from now: positive while paying a debt. */
static void bucket_save(const struct token_bucket *b, struct persist_writer *w, uint64_t now_ns)
{
    persist_u64(w, b->cfg.size);
    persist_u64(w, b->cfg.one_time_burst);
    persist_u64(w, b->cfg.refill_time_ms);
    persist_u64(w, b->budget);
    persist_u64(w, b->burst_left);
    persist_u64(w, b->last_refill_ns - now_ns);   /* two's complement: the reader undoes it */
}

static int bucket_load(struct token_bucket *b, struct persist_reader *r, uint64_t now_ns, const char *what)
{
    b->cfg.size = persist_get_u64(r);
    b->cfg.one_time_burst = persist_get_u64(r);
    b->cfg.refill_time_ms = persist_get_u64(r);
    b->budget = persist_get_u64(r);
    b->burst_left = persist_get_u64(r);
    int64_t offset = (int64_t)persist_get_u64(r);
    if (!persist_ok(r))
        return -1;
    if (!bucket_unlimited(b) && b->budget > b->cfg.size)
        return persist_fail(r, "rate limiter: %s bucket holds more tokens than its size", what);
    if (b->burst_left > b->cfg.one_time_burst)
        return persist_fail(r, "rate limiter: %s burst left exceeds the one-time burst", what);
    /* a refill point before this clock's zero is as good as zero: the bucket fills anyway */
    if (offset < 0)
        /* -(uint64_t): INT64_MIN has no positive int64 */
        b->last_refill_ns = -(uint64_t)offset > now_ns ? 0 : now_ns + (uint64_t)offset;
    else
        b->last_refill_ns = (uint64_t)offset > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + (uint64_t)offset;
    return 0;
}

void rate_limiter_save(const struct rate_limiter *rl, struct persist_writer *w)
{
    struct rate_limiter *l = (struct rate_limiter *)rl;   /* the lock only */
    uint64_t now = rate_limiter_now_ns();
    pthread_mutex_lock(&l->lock);
    bucket_save(&rl->bandwidth, w, now);
    bucket_save(&rl->ops, w, now);
    pthread_mutex_unlock(&l->lock);
}

int rate_limiter_restore(struct rate_limiter *rl, struct persist_reader *r)
{
    uint64_t now = rate_limiter_now_ns();
    struct token_bucket bw, ops;
    if (bucket_load(&bw, r, now, "bandwidth") != 0 || bucket_load(&ops, r, now, "ops") != 0)
        return -1;
    pthread_mutex_lock(&rl->lock);
    rl->bandwidth = bw;
    rl->ops = ops;
    pthread_mutex_unlock(&rl->lock);
    return 0;
}

/* One decimal field ending at '/' or the end of the string. */
static int parse_u64_field(const char **s, uint64_t *out)
{
    const char *p = *s;
    if (*p < '0' || *p > '9')  /* strtoull would accept spaces, signs and "0x" */
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno == ERANGE || (*end != '/' && *end != '\0'))
        return -1;
    *out = v;
    *s = end;
    return 0;
}

int token_bucket_parse(const char *s, struct token_bucket_config *out)
{
    struct token_bucket_config c = {0};
    if (!s || parse_u64_field(&s, &c.size) || *s++ != '/' || parse_u64_field(&s, &c.refill_time_ms))
        return -1;
    if (*s == '/') {
        s++;
        if (parse_u64_field(&s, &c.one_time_burst))
            return -1;
    }
    if (*s != '\0')
        return -1;
    if (c.size > 0 && c.refill_time_ms == 0)  /* a limit that never refills is a typo */
        return -1;
    *out = c;
    return 0;
}
