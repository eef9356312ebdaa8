/* test_virtqueue_fuzz.c — a deterministic fuzzer for the split virtqueue: a small guest RAM
 * (a heap block of exactly its size, so ASan sees any access past it) is filled with random
 * descriptors, biased toward the values that break parsers (0, RAM's edges, 2^64-1, lengths
 * that wrap, NEXT/INDIRECT/WRITE mixes, next == num), and the avail ring with random indices.
 * virtq_pop/virtq_push then run against it, with the guest "changing" memory between calls.
 * Whatever comes back must lie inside RAM, chains must respect the size limit, and every call
 * must return (each outer loop is bounded; Criterion's timeout catches a hang). Fixed seeds:
 * a failure names its seed and iteration and reproduces. */
#include <criterion/criterion.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dev/guest_mem.h"
#include "dev/virtio/queue.h"
#include "../../fuzz/virtq_chain_check.h"

#define RAM_SIZE 0x4000ull
#define ITERATIONS 200000
#define POPS_PER_ITERATION 12

static uint64_t rng_state;

static uint64_t next_rand(void)   /* xorshift64*: deterministic and fast */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t below(uint64_t n) { return next_rand() % n; }

struct fuzz {
    struct guest_mem mem;
    struct virtq q;
    struct virtq_req req;
    unsigned seed, iteration;
};

/* A guest physical address a hostile driver might use for something of `len` bytes. */
static uint64_t edgy_addr(const struct fuzz *f, uint64_t len)
{
    uint64_t base = f->mem.base, end = base + f->mem.size;   /* end may wrap to 0 */
    switch (below(12)) {
    case 0: return 0;
    case 1: return UINT64_MAX - below(32);
    case 2: return base - 1 - below(32);
    case 3: return base;
    case 4: return end - len;
    case 5: return end - below(32);
    case 6: return end + below(32);
    case 7: return next_rand();
    case 8: return base + below(f->mem.size) - (len & 0xffffffff);   /* len-back, may wrap */
    default: return base + (below(f->mem.size) & ~15ull);            /* plainly inside RAM */
    }
}

static uint32_t edgy_len(const struct fuzz *f)
{
    switch (below(10)) {
    case 0: return 0;
    case 1: return UINT32_MAX - (uint32_t)below(16);
    case 2: return (uint32_t)f->mem.size;
    case 3: return (uint32_t)f->mem.size + 1;
    case 4: return 16 * (uint32_t)below(VIRTQ_MAX_SIZE + 2);   /* indirect table sizes */
    case 5: return (uint32_t)next_rand();
    default: return (uint32_t)below(512);
    }
}

static uint16_t edgy_flags(void)
{
    uint16_t f = (uint16_t)below(8);   /* NEXT | WRITE | INDIRECT */
    if (below(16) == 0)
        f |= (uint16_t)next_rand();    /* unknown bits too */
    return f;
}

static uint16_t edgy_next(uint16_t num)
{
    switch (below(8)) {
    case 0: return num;
    case 1: return (uint16_t)next_rand();
    case 2: return 0xffff;
    default: return (uint16_t)below(num);
    }
}

/* A descriptor a correct driver could have written: in RAM, sensible flags. */
static struct vring_desc sane_desc(const struct fuzz *f, uint16_t num)
{
    struct vring_desc v = { .flags = (uint16_t)(below(3) == 0 ? VRING_DESC_F_NEXT : 0) };
    if (below(2))
        v.flags |= VRING_DESC_F_WRITE;
    if (below(12) == 0) {
        v.flags = VRING_DESC_F_INDIRECT;
        v.len = 16 * (uint32_t)(1 + below(8));
        v.addr = f->mem.base + (below(f->mem.size - v.len) & ~15ull);
    } else {
        v.len = (uint32_t)below(512);
        v.addr = f->mem.base + below(f->mem.size - v.len);
    }
    v.next = (uint16_t)below(num);
    return v;
}

/* Mostly sane, sometimes hostile: chains get deep before something breaks them. */
static void random_desc(const struct fuzz *f, void *d, uint16_t num)
{
    struct vring_desc v;
    if (below(4)) {
        v = sane_desc(f, num);
    } else {
        uint32_t len = edgy_len(f);
        v = (struct vring_desc){ .addr = edgy_addr(f, len), .len = len, .flags = edgy_flags(), .next = edgy_next(num) };
    }
    memcpy(d, &v, sizeof(v));   /* RAM is byte memory: no alignment assumed */
}

/* Random 16-byte descriptors over [off, off+len) of RAM: what an indirect pointer may find. */
static void scribble_descs(struct fuzz *f, uint64_t off, uint64_t len, uint16_t num)
{
    for (uint64_t p = off & ~15ull; p + 16 <= off + len && p + 16 <= f->mem.size; p += 16)
        random_desc(f, f->mem.host + p, num);
}

/* Picks a ring geometry; returns false when virtq_enable (rightly) refused it. */
static bool random_queue(struct fuzz *f)
{
    struct virtq *q = &f->q;
    virtq_reset(q);
    q->num = below(8) == 0 ? (uint16_t)next_rand() : (uint16_t)(1u << below(9));
    q->indirect = below(4) != 0;
    q->event_idx = below(2);
    /* mostly sane placements inside RAM (they may overlap: a guest can do that), sometimes not */
    if (below(8) == 0) {
        q->desc_gpa = edgy_addr(f, 16);
        q->avail_gpa = edgy_addr(f, 6);
        q->used_gpa = edgy_addr(f, 6);
    } else {
        q->desc_gpa = f->mem.base + (below(f->mem.size) & ~15ull);
        q->avail_gpa = f->mem.base + (below(f->mem.size) & ~1ull);
        q->used_gpa = f->mem.base + (below(f->mem.size) & ~3ull);
    }
    bool ok = virtq_enable(q) == 0;
    uint64_t n = q->num;
    bool expect = n && n <= VIRTQ_MAX_SIZE && !(n & (n - 1)) && !(q->desc_gpa & 15) && !(q->avail_gpa & 1) &&
                  !(q->used_gpa & 3) && guest_mem_ptr(&f->mem, q->desc_gpa, 16 * n) &&
                  guest_mem_ptr(&f->mem, q->avail_gpa, 6 + 2 * n) && guest_mem_ptr(&f->mem, q->used_gpa, 6 + 8 * n);
    cr_assert_eq(ok, expect, "seed %u iteration %u: virtq_enable said %d", f->seed, f->iteration, ok);
    return ok;
}

/* The guest writes random things into the descriptor table and avail ring. */
static void scribble_rings(struct fuzz *f)
{
    struct virtq *q = &f->q;
    uint8_t *desc = f->mem.host + (q->desc_gpa - f->mem.base);
    for (unsigned i = 0; i < q->num; i++)
        random_desc(f, desc + 16 * i, q->num);
    /* a few plausible indirect tables somewhere in RAM */
    for (int k = 0; k < 2; k++)
        scribble_descs(f, below(f->mem.size), 16 * (1 + below(16)), (uint16_t)(1 + below(16)));
    uint8_t *avail = f->mem.host + (q->avail_gpa - f->mem.base);
    for (unsigned i = 0; i < q->num; i++) {
        uint16_t head = below(16) == 0 ? (uint16_t)next_rand() : (uint16_t)below(q->num);
        memcpy(avail + 4 + 2 * i, &head, 2);
    }
    uint16_t idx;
    switch (below(16)) {
    case 0: idx = (uint16_t)next_rand(); break;
    case 1: idx = (uint16_t)(q->last_avail + q->num + 1); break;
    case 2: idx = q->last_avail; break;
    default: idx = (uint16_t)(q->last_avail + below((uint64_t)q->num + 1)); break;
    }
    memcpy(avail + 2, &idx, 2);
    uint16_t used_event = (uint16_t)next_rand(), flags = (uint16_t)below(2);
    memcpy(avail + 4 + 2 * q->num, &used_event, 2);
    memcpy(avail, &flags, 2);
}

static void check_request(struct fuzz *f)
{
    char why[160];
    const char *problem = virtq_chain_problem(&f->mem, &f->q, &f->req, why, sizeof(why));
    cr_assert_null(problem, "seed %u iteration %u: %s", f->seed, f->iteration, problem);
}

static void run(uint64_t ram_base, unsigned seed)
{
    struct fuzz *f = calloc(1, sizeof(*f));
    cr_assert_not_null(f);
    f->mem = (struct guest_mem){ .host = malloc(RAM_SIZE), .base = ram_base, .size = RAM_SIZE };
    cr_assert_not_null(f->mem.host);
    f->q.mem = &f->mem;
    f->seed = seed;
    rng_state = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (uint64_t p = 0; p < RAM_SIZE; p += 8) {
        uint64_t v = next_rand();
        memcpy(f->mem.host + p, &v, 8);
    }
    unsigned got = 0, malformed = 0, enabled = 0;
    for (f->iteration = 0; f->iteration < ITERATIONS; f->iteration++) {
        if (!f->q.ready || below(16) == 0) {
            if (!random_queue(f))
                continue;
            enabled++;
        }
        scribble_rings(f);
        for (int n = 0; n < POPS_PER_ITERATION; n++) {
            const char *why = NULL;
            enum virtq_pop_result r = virtq_pop(&f->q, &f->req, &why);
            if (r == VIRTQ_EMPTY)
                break;
            if (r == VIRTQ_MALFORMED) {
                cr_assert_not_null(why);
                malformed++;
                f->q.ready = false;   /* what the transport does: a broken queue is not used */
                break;
            }
            got++;
            check_request(f);
            virtq_push(&f->q, &f->req, (uint32_t)below(f->req.in_len + 1));
            virtq_should_notify(&f->q);
            virtq_set_notification(&f->q, below(2));
            if (below(4) == 0) {   /* the guest rewrites a descriptor under us */
                struct virtq *q = &f->q;
                random_desc(f, f->mem.host + (q->desc_gpa - f->mem.base) + 16 * below(q->num), q->num);
            }
        }
    }
    cr_log_info("seed %u: %u queues, %u chains taken, %u rejected", seed, enabled, got, malformed);
    /* the biasing must actually exercise both outcomes, or the fuzzer tests nothing */
    cr_assert_gt(enabled, ITERATIONS / 32, "seed %u: only %u queues enabled", seed, enabled);
    cr_assert_gt(got, ITERATIONS / 4, "seed %u: only %u chains accepted", seed, got);
    cr_assert_gt(malformed, ITERATIONS / 4, "seed %u: only %u chains rejected", seed, malformed);
    free(f->mem.host);
    free(f);
}

Test(virtqueue_fuzz, ram_at_2gib_seed_1, .timeout = 120) { run(0x80000000ull, 1); }
Test(virtqueue_fuzz, ram_at_2gib_seed_2, .timeout = 120) { run(0x80000000ull, 2); }
/* RAM ending exactly at 2^64: every end-of-RAM computation is one step from wrapping */
Test(virtqueue_fuzz, ram_at_top_of_address_space, .timeout = 120) { run(0ull - RAM_SIZE, 3); }
/* RAM at 0: gpa 0 is valid and "below RAM" does not exist */
Test(virtqueue_fuzz, ram_at_zero, .timeout = 120) { run(0, 4); }
