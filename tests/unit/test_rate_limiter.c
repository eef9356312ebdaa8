/* test_rate_limiter.c — token-bucket arithmetic with explicit clock values (no sleeping). */
#include <criterion/criterion.h>

#include "backend/rate_limiter.h"

#define MS 1000000ull
#define SEC 1000000000ull

static struct rate_limiter make(uint64_t bw_size, uint64_t bw_refill_ms, uint64_t bw_burst,
                                uint64_t ops_size, uint64_t ops_refill_ms)
{
    struct rate_limiter_config cfg = {
        .bandwidth = {.size = bw_size, .refill_time_ms = bw_refill_ms, .one_time_burst = bw_burst},
        .ops = {.size = ops_size, .refill_time_ms = ops_refill_ms},
    };
    struct rate_limiter rl;
    rate_limiter_init(&rl, &cfg, 0);
    return rl;
}

Test(rate_limiter, unlimited_never_waits)
{
    struct rate_limiter rl = make(0, 0, 0, 0, 0);
    cr_assert_not(rate_limiter_is_limited(&rl));
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(rate_limiter_take(&rl, UINT64_MAX / 2, 0), 0);
}

Test(rate_limiter, full_bucket_then_one_token_wait)
{
    /* 1000 bytes per second: one byte every 1 ms */
    struct rate_limiter rl = make(1000, 1000, 0, 0, 0);
    cr_assert(rate_limiter_is_limited(&rl));
    cr_assert_eq(rate_limiter_take(&rl, 1000, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 1, 0), 1 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 10, 0), 10 * MS);
}

Test(rate_limiter, half_refill_time_gives_half_the_tokens)
{
    struct rate_limiter rl = make(1000, 1000, 0, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 1000, 0), 0);
    /* 500 ms later: 500 tokens, so 501 must wait one more token's time */
    cr_assert_eq(rate_limiter_take(&rl, 501, 500 * MS), 1 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 500, 500 * MS), 0);
    cr_assert_eq(rate_limiter_take(&rl, 1, 500 * MS), 1 * MS);
}

Test(rate_limiter, refill_caps_at_size)
{
    struct rate_limiter rl = make(1000, 1000, 0, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 1000, 0), 0);
    /* ten seconds idle still only fills the bucket once */
    cr_assert_eq(rate_limiter_take(&rl, 1000, 10 * SEC), 0);
    cr_assert_eq(rate_limiter_take(&rl, 1, 10 * SEC), 1 * MS);
}

Test(rate_limiter, fractional_refill_is_not_lost)
{
    /* 3 tokens per second: one every 333.33 ms */
    struct rate_limiter rl = make(3, 1000, 0, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 3, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 1, 400 * MS), 0);
    /* the 66.7 ms left over from the first refill count towards the second token */
    cr_assert_eq(rate_limiter_take(&rl, 1, 700 * MS), 0);
    cr_assert_neq(rate_limiter_take(&rl, 1, 700 * MS), 0);
}

Test(rate_limiter, one_time_burst_is_spent_first)
{
    /* 100 bytes/s (10 ms per byte) plus a 50-byte one-time burst */
    struct rate_limiter rl = make(100, 1000, 50, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 30, 0), 0);
    cr_assert_eq(rl.bandwidth.burst_left, 20);
    cr_assert_eq(rl.bandwidth.budget, 100);
    cr_assert_eq(rate_limiter_take(&rl, 120, 0), 0);   /* 20 burst + 100 budget */
    cr_assert_eq(rl.bandwidth.burst_left, 0);
    cr_assert_eq(rl.bandwidth.budget, 0);
    cr_assert_eq(rate_limiter_take(&rl, 1, 0), 10 * MS);
    /* the burst never comes back */
    cr_assert_eq(rate_limiter_take(&rl, 100, 5 * SEC), 0);
    cr_assert_eq(rate_limiter_take(&rl, 1, 5 * SEC), 10 * MS);
}

Test(rate_limiter, refused_request_keeps_the_burst)
{
    struct rate_limiter rl = make(100, 1000, 50, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 150, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 50, 100 * MS), 400 * MS);
    cr_assert_eq(rl.bandwidth.budget, 10);
}

Test(rate_limiter, ops_bucket)
{
    /* 2 operations per second, bandwidth unlimited */
    struct rate_limiter rl = make(0, 0, 0, 2, 1000);
    cr_assert(rate_limiter_is_limited(&rl));
    cr_assert_eq(rate_limiter_take(&rl, 0, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 1 << 30, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 0, 0), 500 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 0, 200 * MS), 300 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 0, 500 * MS), 0);
}

Test(rate_limiter, refusal_by_one_bucket_takes_nothing_from_the_other)
{
    struct rate_limiter rl = make(100, 1000, 0, 1, 1000);
    cr_assert_eq(rate_limiter_take(&rl, 50, 0), 0);
    /* bandwidth would allow 10 more bytes, but the op is refused: bytes stay */
    cr_assert_eq(rate_limiter_take(&rl, 10, 0), 1 * SEC);
    cr_assert_eq(rl.bandwidth.budget, 50);
    cr_assert_eq(rate_limiter_take(&rl, 60, 1 * SEC), 0);
    rl = make(100, 1000, 0, 1, 1000);
    cr_assert_eq(rate_limiter_take(&rl, 100, 0), 0);
    /* both short: the longer wait wins (bandwidth 200 ms for 20 bytes vs ops 1 s) */
    cr_assert_eq(rate_limiter_take(&rl, 20, 0), 1 * SEC);
    /* bandwidth refuses while ops would allow: the op stays */
    rl = make(100, 1000, 0, 10, 1000);
    cr_assert_eq(rate_limiter_take(&rl, 100, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 20, 0), 200 * MS);
    cr_assert_eq(rl.ops.budget, 9);
}

Test(rate_limiter, oversized_request_goes_when_full_and_leaves_debt)
{
    struct rate_limiter rl = make(100, 1000, 0, 0, 0);
    /* 250 bytes in a 100-byte bucket: allowed now, 150 bytes of debt = 1.5 s with no refill */
    cr_assert_eq(rate_limiter_take(&rl, 250, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 0, 0), 0);        /* zero-byte ops still pass */
    cr_assert_eq(rate_limiter_take(&rl, 1, 1 * SEC), 510 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 1, 1500 * MS), 10 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 1, 1510 * MS), 0);
}

Test(rate_limiter, oversized_request_waits_for_a_full_bucket)
{
    struct rate_limiter rl = make(100, 1000, 0, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 10, 0), 0);
    cr_assert_eq(rate_limiter_take(&rl, 250, 0), 100 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 250, 100 * MS), 0);
}

Test(rate_limiter, update_refills_with_new_parameters)
{
    struct rate_limiter rl = make(100, 1000, 0, 0, 0);
    cr_assert_eq(rate_limiter_take(&rl, 100, 0), 0);
    struct rate_limiter_config cfg = {.bandwidth = {.size = 1000, .refill_time_ms = 100}};
    rate_limiter_update(&rl, &cfg, 5 * MS);
    cr_assert_eq(rate_limiter_take(&rl, 1000, 5 * MS), 0);
    cr_assert_eq(rate_limiter_take(&rl, 10, 5 * MS), 1 * MS);
    struct rate_limiter_config off = {0};
    rate_limiter_update(&rl, &off, 5 * MS);
    cr_assert_not(rate_limiter_is_limited(&rl));
    cr_assert_eq(rate_limiter_take(&rl, 1 << 20, 5 * MS), 0);
}

Test(rate_limiter, parse_accepts)
{
    struct token_bucket_config c;
    cr_assert_eq(token_bucket_parse("10485760/1000", &c), 0);
    cr_assert_eq(c.size, 10485760);
    cr_assert_eq(c.refill_time_ms, 1000);
    cr_assert_eq(c.one_time_burst, 0);
    cr_assert_eq(token_bucket_parse("100/250/4096", &c), 0);
    cr_assert_eq(c.size, 100);
    cr_assert_eq(c.refill_time_ms, 250);
    cr_assert_eq(c.one_time_burst, 4096);
    cr_assert_eq(token_bucket_parse("0/0", &c), 0);   /* explicitly unlimited */
    cr_assert_eq(c.size, 0);
}

Test(rate_limiter, parse_rejects)
{
    static const char *const bad[] = {
        "", "100", "100/", "/100", "a/b", "100/1000/", "100/1000/5/6", "-1/100", " 1/100",
        "1 /100", "100/0", "99999999999999999999/1", "0x10/100", "100/1000x", "100//1000",
    };
    struct token_bucket_config c = {.size = 7};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(token_bucket_parse(bad[i], &c), -1, "accepted \"%s\"", bad[i]);
        cr_assert_eq(c.size, 7, "\"%s\" changed the output", bad[i]);
    }
    cr_assert_eq(token_bucket_parse(NULL, &c), -1);
}

/* ---- snapshots (these use the real clock: save and restore read it) */

#include "common/persist.h"

static int restore_from(struct rate_limiter *rl, const struct persist_writer *w)
{
    struct persist_reader r;
    persist_reader_init(&r, w->buf, w->len);
    if (persist_open(&r, "limiter", 1) != 0 || rate_limiter_restore(rl, &r) != 0)
        return -1;
    return persist_close(&r);
}

Test(rate_limiter, save_and_restore_keep_config_and_tokens)
{
    struct rate_limiter_config cfg = {
        .bandwidth = {.size = 1000, .refill_time_ms = 1000, .one_time_burst = 500},
        .ops = {.size = 10, .refill_time_ms = 1000},
    };
    struct rate_limiter src, dst;
    uint64_t now = rate_limiter_now_ns();
    rate_limiter_init(&src, &cfg, now);
    for (int i = 0; i < 10; i++)   /* empties the ops bucket; 200 of the burst spent */
        cr_assert_eq(rate_limiter_take(&src, 20, now), 0);
    struct persist_writer w;
    persist_writer_init(&w);
    persist_begin(&w, "limiter", 1);
    rate_limiter_save(&src, &w);
    persist_end(&w);

    struct rate_limiter_config none = {0};
    rate_limiter_init(&dst, &none, 0);
    cr_assert_eq(restore_from(&dst, &w), 0);
    cr_assert(rate_limiter_is_limited(&dst));
    cr_assert_eq(dst.bandwidth.cfg.size, 1000);
    cr_assert_eq(dst.bandwidth.cfg.one_time_burst, 500);
    cr_assert_eq(dst.bandwidth.burst_left, 300);
    cr_assert_eq(dst.bandwidth.budget, 1000);
    cr_assert_eq(dst.ops.budget, 0);
    /* empty ops bucket: the next op waits about a tenth of a second, on the new clock too */
    uint64_t wait = rate_limiter_take(&dst, 1, rate_limiter_now_ns());
    cr_assert(wait > 50 * MS && wait <= 100 * MS, "wait %llu ns", (unsigned long long)wait);
    persist_writer_free(&w);
}

Test(rate_limiter, restore_refuses_more_tokens_than_the_bucket_holds)
{
    struct rate_limiter_config cfg = { .ops = {.size = 10, .refill_time_ms = 1000} };
    struct rate_limiter src, dst;
    rate_limiter_init(&src, &cfg, rate_limiter_now_ns());
    src.ops.budget = 11;
    struct persist_writer w;
    persist_writer_init(&w);
    persist_begin(&w, "limiter", 1);
    rate_limiter_save(&src, &w);
    persist_end(&w);
    rate_limiter_init(&dst, &cfg, 0);
    cr_assert_eq(restore_from(&dst, &w), -1);
    cr_assert_eq(dst.ops.budget, 10, "a refused restore changed the limiter");
    persist_writer_free(&w);
}
