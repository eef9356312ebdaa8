/* test_virtio_rng.c — virtio-rng through its virtio-mmio window, with the fake driver of
 * virtio_driver.h playing the guest: buffers come back full of entropy, the rate limiter paces
 * them, and a guest that hands over a malformed ring breaks only its own device. */
#include <criterion/criterion.h>
#include <linux/virtio_ids.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dev/virtio/rng.h"
#include "virtio_driver.h"

#define RAM (1u << 20)
#define RING_FEATURES ((1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX))

static void start_rng(struct vdrv *d, const struct rng_options *opts, uint16_t qnum)
{
    vdrv_init(d, RAM);
    cr_assert_not_null(d->mem.host);
    char err[128];
    struct virtio_mmio *t = virtio_rng_create(opts, &d->mem, vdrv_irq(d), err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    vdrv_attach(d, t);
    cr_assert_eq(vdrv_read32(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    /* the ring features Linux negotiates */
    cr_assert(vdrv_start(d, RING_FEATURES, 1, qnum));
}

/* Posts one writable buffer of len bytes (zeroed), kicks, and waits for it. Returns used len. */
static uint32_t request(struct vdrv *d, uint64_t gpa, uint32_t len)
{
    memset(vdrv_ptr(d, gpa), 0, len);
    struct vdrv_buf b = { gpa, len, true };
    uint16_t head = vdrv_add(d, 0, &b, 1), id;
    vdrv_kick(d, 0);
    uint32_t used = 0;
    cr_assert(vdrv_wait_used(d, 0, &id, &used, 2000), "no answer from virtio-rng");
    cr_assert_eq(id, head);
    return used;
}

/* Random bytes: many distinct values, not one repeated. */
static void assert_random(const uint8_t *p, size_t len)
{
    bool seen[256] = { false };
    unsigned distinct = 0;
    for (size_t i = 0; i < len; i++)
        if (!seen[p[i]]) {
            seen[p[i]] = true;
            distinct++;
        }
    cr_assert_gt(distinct, len >= 4096 ? 200u : 8u, "only %u distinct byte values", distinct);
}

Test(virtio_rng, fills_a_buffer_with_random_bytes)
{
    struct vdrv d;
    struct rng_options opts = { 0 };
    start_rng(&d, &opts, 16);
    uint64_t buf = vdrv_alloc(&d, 4096, 4096);
    cr_assert_eq(request(&d, buf, 4096), 4096);
    assert_random(vdrv_ptr(&d, buf), 4096);
    cr_assert(vdrv_wait_irq_raises(&d, 0, 2000), "no used-buffer interrupt");

    /* again: different bytes, and a small odd-sized buffer is filled exactly */
    uint8_t first[64];
    memcpy(first, vdrv_ptr(&d, buf), sizeof(first));
    cr_assert_eq(request(&d, buf, 4096), 4096);
    cr_assert_neq(memcmp(first, vdrv_ptr(&d, buf), sizeof(first)), 0);
    uint8_t *small = vdrv_ptr(&d, buf);
    memset(small, 0, 64);
    struct vdrv_buf b = { buf, 37, true };
    vdrv_add(&d, 0, &b, 1);
    vdrv_kick(&d, 0);
    uint32_t len = 0;
    cr_assert(vdrv_wait_used(&d, 0, NULL, &len, 2000));
    cr_assert_eq(len, 37);
    for (int i = 37; i < 64; i++)
        cr_assert_eq(small[i], 0, "wrote past the buffer at %d", i);
    vdrv_fini(&d);
}

Test(virtio_rng, fills_every_buffer_of_a_chain)
{
    struct vdrv d;
    struct rng_options opts = { 0 };
    start_rng(&d, &opts, 16);
    uint64_t a = vdrv_alloc(&d, 4096, 4096), b = vdrv_alloc(&d, 4096, 4096);
    memset(vdrv_ptr(&d, a), 0, 4096);
    memset(vdrv_ptr(&d, b), 0, 4096);
    struct vdrv_buf bufs[2] = { { a, 1000, true }, { b, 3000, true } };
    vdrv_add_indirect(&d, 0, bufs, 2);
    vdrv_kick(&d, 0);
    uint32_t len = 0;
    cr_assert(vdrv_wait_used(&d, 0, NULL, &len, 2000));
    cr_assert_eq(len, 4000);
    assert_random(vdrv_ptr(&d, a), 1000);
    assert_random(vdrv_ptr(&d, b), 3000);
    vdrv_fini(&d);
}

Test(virtio_rng, many_buffers_in_flight)
{
    struct vdrv d;
    struct rng_options opts = { 0 };
    start_rng(&d, &opts, 64);
    uint64_t buf = vdrv_alloc(&d, 64 * 256, 4096);
    for (int i = 0; i < 64; i++) {
        struct vdrv_buf b = { buf + 256 * i, 256, true };
        vdrv_add(&d, 0, &b, 1);
    }
    vdrv_kick(&d, 0);
    for (int i = 0; i < 64; i++) {
        uint32_t len = 0;
        cr_assert(vdrv_wait_used(&d, 0, NULL, &len, 2000), "buffer %d not returned", i);
        cr_assert_eq(len, 256);
    }
    vdrv_fini(&d);
}

Test(virtio_rng, rate_limit_paces_the_guest, .timeout = 20)
{
    /* 16 KiB bucket refilled in 250 ms: 64 KiB/s after a free first 16 KiB */
    struct vdrv d;
    struct rng_options opts = { .limit.bandwidth = { .size = 16384, .refill_time_ms = 250 } };
    start_rng(&d, &opts, 32);
    uint64_t buf = vdrv_alloc(&d, 32 * 4096, 4096);
    double t0 = vdrv_now_s();
    for (int i = 0; i < 32; i++) {
        struct vdrv_buf b = { buf + 4096 * i, 4096, true };
        vdrv_add(&d, 0, &b, 1);
    }
    vdrv_kick(&d, 0);
    for (int i = 0; i < 32; i++) {
        uint32_t len = 0;
        cr_assert(vdrv_wait_used(&d, 0, NULL, &len, 5000), "buffer %d not returned", i);
        cr_assert_eq(len, 4096);
    }
    double took = vdrv_now_s() - t0, expected = (128.0 - 16.0) / 64.0;
    cr_assert(took > expected * 0.75 && took < expected * 1.25, "128 KiB took %.3f s, expected %.3f s", took, expected);
    assert_random(vdrv_ptr(&d, buf + 31 * 4096), 4096);
    vdrv_fini(&d);
}

Test(virtio_rng, ops_limit_paces_requests, .timeout = 20)
{
    /* 5 requests per 500 ms, first 5 free: 15 requests take about 1 s */
    struct vdrv d;
    struct rng_options opts = { .limit.ops = { .size = 5, .refill_time_ms = 500 } };
    start_rng(&d, &opts, 16);
    uint64_t buf = vdrv_alloc(&d, 16 * 64, 64);
    double t0 = vdrv_now_s();
    for (int i = 0; i < 15; i++) {
        struct vdrv_buf b = { buf + 64 * i, 64, true };
        vdrv_add(&d, 0, &b, 1);
    }
    vdrv_kick(&d, 0);
    for (int i = 0; i < 15; i++)
        cr_assert(vdrv_wait_used(&d, 0, NULL, NULL, 5000), "request %d not returned", i);
    double took = vdrv_now_s() - t0;
    cr_assert(took > 0.75 && took < 1.25, "15 requests took %.3f s, expected 1 s", took);
    vdrv_fini(&d);
}

static bool wait_status(struct vdrv *d, uint32_t bit, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        if (vdrv_status(d) & bit)
            return true;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

Test(virtio_rng, malformed_chain_breaks_only_that_device)
{
    struct vdrv bad, good;
    struct rng_options opts = { 0 };
    start_rng(&bad, &opts, 16);
    start_rng(&good, &opts, 16);

    /* a two-descriptor loop: 0 -> 1 -> 0 */
    uint64_t buf = vdrv_alloc(&bad, 4096, 4096);
    struct vring_desc *desc = vdrv_desc(&bad, 0);
    desc[0] = (struct vring_desc){ .addr = buf, .len = 16, .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, .next = 1 };
    desc[1] = (struct vring_desc){ .addr = buf, .len = 16, .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, .next = 0 };
    vdrv_publish(&bad, 0, 0);
    vdrv_kick(&bad, 0);
    cr_assert(wait_status(&bad, VIRTIO_CONFIG_S_NEEDS_RESET, 2000), "the device did not ask for a reset");
    cr_assert(vdrv_read32(&bad, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    cr_assert(!vdrv_wait_used(&bad, 0, NULL, NULL, 50), "a malformed chain was completed");

    /* the other instance does not care */
    uint64_t gbuf = vdrv_alloc(&good, 4096, 4096);
    cr_assert_eq(request(&good, gbuf, 4096), 4096);
    assert_random(vdrv_ptr(&good, gbuf), 4096);
    cr_assert_not(vdrv_status(&good) & VIRTIO_CONFIG_S_NEEDS_RESET);

    /* after a reset the broken one works again */
    cr_assert(vdrv_start(&bad, RING_FEATURES, 1, 16));
    cr_assert_not(vdrv_status(&bad) & VIRTIO_CONFIG_S_NEEDS_RESET);
    cr_assert_eq(request(&bad, buf, 4096), 4096);
    assert_random(vdrv_ptr(&bad, buf), 4096);

    vdrv_fini(&bad);
    vdrv_fini(&good);
}

Test(virtio_rng, buffer_outside_ram_breaks_the_device)
{
    struct vdrv d;
    struct rng_options opts = { 0 };
    start_rng(&d, &opts, 16);
    struct vdrv_buf b = { VDRV_RAM_BASE + RAM - 8, 64, true };
    vdrv_add(&d, 0, &b, 1);
    vdrv_kick(&d, 0);
    cr_assert(wait_status(&d, VIRTIO_CONFIG_S_NEEDS_RESET, 2000));
    vdrv_fini(&d);
}

Test(virtio_rng, reset_while_a_request_waits_for_the_limiter, .timeout = 20)
{
    /* the first request empties the bucket; the second waits ~1 s, then the driver resets */
    struct vdrv d;
    struct rng_options opts = { .limit.bandwidth = { .size = 4096, .refill_time_ms = 1000 } };
    start_rng(&d, &opts, 16);
    uint64_t buf = vdrv_alloc(&d, 8192, 4096);
    cr_assert_eq(request(&d, buf, 4096), 4096);
    memset(vdrv_ptr(&d, buf + 4096), 0, 4096);
    struct vdrv_buf b = { buf + 4096, 4096, true };
    vdrv_add(&d, 0, &b, 1);
    vdrv_kick(&d, 0);
    cr_assert(!vdrv_wait_used(&d, 0, NULL, NULL, 200), "the limiter did not hold the request");
    vdrv_write32(&d, VIRTIO_MMIO_STATUS, 0);
    /* the held request belongs to the old driver: its buffer must stay untouched */
    struct timespec ts = { 1, 200000000 };
    nanosleep(&ts, NULL);
    const uint8_t *p = vdrv_ptr(&d, buf + 4096);
    for (int i = 0; i < 4096; i++)
        cr_assert_eq(p[i], 0, "a request from before the reset was filled");
    /* and the new driver is served */
    cr_assert(vdrv_start(&d, RING_FEATURES, 1, 16));
    uint64_t nbuf = vdrv_alloc(&d, 4096, 4096);
    cr_assert_eq(request(&d, nbuf, 1024), 1024);
    vdrv_fini(&d);
}
