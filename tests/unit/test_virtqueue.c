/* test_virtqueue.c — the split virtqueue (src/dev/virtio/queue.c) on its own, no transport: a
 * struct virtq over a malloc'ed guest RAM, rings and descriptors written by hand as a driver
 * (or a hostile guest) would. Well-formed chains must come out exactly as built; every malformed
 * ring must give VIRTQ_MALFORMED with a reason, without touching memory outside RAM (the heap
 * block is exactly RAM-sized, so under ASan any stray access fails the test). */
#include <criterion/criterion.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dev/guest_mem.h"
#include "dev/virtio/queue.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x10000ull
#define DESC_OFF 0x0000ull
#define AVAIL_OFF 0x1000ull
#define USED_OFF 0x2000ull
#define TABLE_OFF 0x3000ull   /* indirect tables (up to 256 entries = 4 KiB) */
#define BUF_OFF 0x8000ull     /* data buffers */
#define NUM 8

static struct guest_mem mem;
static struct virtq q;
static struct virtq_req req;

static uint64_t gpa(uint64_t off) { return RAM_BASE + off; }
static void *host(uint64_t off) { return mem.host + off; }
static struct vring_desc *desc(void) { return host(DESC_OFF); }
static struct vring_avail *avail(void) { return host(AVAIL_OFF); }
static struct vring_used *used(void) { return host(USED_OFF); }
static struct vring_desc *table(void) { return host(TABLE_OFF); }

static void setup_ram(void)
{
    mem = (struct guest_mem){ .host = malloc(RAM_SIZE), .base = RAM_BASE, .size = RAM_SIZE };
    cr_assert_not_null(mem.host);
    memset(mem.host, 0, RAM_SIZE);
    memset(&q, 0, sizeof(q));
    q.mem = &mem;
}

/* A ready queue of NUM entries with indirect descriptors and event index negotiated. */
static void setup_queue(void)
{
    setup_ram();
    q.num = NUM;
    q.desc_gpa = gpa(DESC_OFF);
    q.avail_gpa = gpa(AVAIL_OFF);
    q.used_gpa = gpa(USED_OFF);
    q.indirect = true;
    q.event_idx = true;
    cr_assert_eq(virtq_enable(&q), 0);
}

static void teardown(void)
{
    free(mem.host);
}

static void set_desc(struct vring_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    t[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

static void publish(uint16_t head)
{
    struct vring_avail *a = avail();
    a->ring[a->idx % NUM] = head;
    a->idx++;
}

static enum virtq_pop_result pop(const char **why)
{
    return virtq_pop(&q, &req, why);
}

/* The chain must be rejected with a reason and leave the ring where it was. */
static void assert_malformed(const char *what)
{
    const char *why = NULL;
    uint16_t before = q.last_avail;
    cr_assert_eq(pop(&why), VIRTQ_MALFORMED, "%s: accepted", what);
    cr_assert_not_null(why, "%s: no reason given", what);
    cr_assert_eq(q.last_avail, before, "%s: the ring moved on", what);
}

static void assert_iov(unsigned k, uint64_t off, size_t len)
{
    cr_assert_eq(req.iov[k].iov_base, host(off), "iov[%u] base", k);
    cr_assert_eq(req.iov[k].iov_len, len, "iov[%u] len", k);
}

TestSuite(virtqueue, .init = setup_queue, .fini = teardown);

/* ------------------------------------------------------------------ well-formed chains */

Test(virtqueue, empty_ring_gives_nothing)
{
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_EMPTY);
    cr_assert_not(virtq_has_avail(&q));
}

Test(virtqueue, simple_chain)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 100, VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, gpa(BUF_OFF + 0x100), 200, VRING_DESC_F_NEXT, 2);
    set_desc(desc(), 2, gpa(BUF_OFF + 0x200), 300, 0, 0);
    publish(0);
    cr_assert(virtq_has_avail(&q));
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    cr_assert_eq(req.head, 0);
    cr_assert_eq(req.nout, 3);
    cr_assert_eq(req.nin, 0);
    cr_assert_eq(req.out_len, 600);
    assert_iov(0, BUF_OFF, 100);
    assert_iov(1, BUF_OFF + 0x100, 200);
    assert_iov(2, BUF_OFF + 0x200, 300);
    cr_assert_eq(pop(&why), VIRTQ_EMPTY);

    virtq_push(&q, &req, 0);
    cr_assert_eq(used()->idx, 1);
    cr_assert_eq(used()->ring[0].id, 0);
    cr_assert_eq(used()->ring[0].len, 0);
}

Test(virtqueue, chains_follow_next_in_any_order)
{
    set_desc(desc(), 5, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 2);
    set_desc(desc(), 2, gpa(BUF_OFF + 16), 16, VRING_DESC_F_NEXT, 7);
    set_desc(desc(), 7, gpa(BUF_OFF + 32), 16, VRING_DESC_F_WRITE, 0);
    publish(5);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    cr_assert_eq(req.head, 5);
    cr_assert_eq(req.nout, 2);
    cr_assert_eq(req.nin, 1);
    assert_iov(2, BUF_OFF + 32, 16);
}

Test(virtqueue, readable_then_writable_split_and_copy_helpers)
{
    memcpy(host(BUF_OFF), "hello ", 6);
    memcpy(host(BUF_OFF + 0x100), "world", 5);
    set_desc(desc(), 0, gpa(BUF_OFF), 6, VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, gpa(BUF_OFF + 0x100), 5, VRING_DESC_F_NEXT, 2);
    set_desc(desc(), 2, gpa(BUF_OFF + 0x200), 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
    set_desc(desc(), 3, gpa(BUF_OFF + 0x300), 8, VRING_DESC_F_WRITE, 0);
    publish(0);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    cr_assert_eq(req.nout, 2);
    cr_assert_eq(req.nin, 2);
    cr_assert_eq(req.out_len, 11);
    cr_assert_eq(req.in_len, 12);
    assert_iov(2, BUF_OFF + 0x200, 4);
    assert_iov(3, BUF_OFF + 0x300, 8);

    char text[16] = { 0 };
    cr_assert_eq(virtq_req_read(&req, 0, text, sizeof(text)), 11);   /* stops at the readable end */
    cr_assert_str_eq(text, "hello world");
    cr_assert_eq(virtq_req_read(&req, 4, text, 4), 4);
    cr_assert_eq(memcmp(text, "o wo", 4), 0);

    /* a write spanning both writable buffers, and one clipped at their end */
    cr_assert_eq(virtq_req_write(&req, 2, "ABCDEF", 6), 6);
    cr_assert_eq(memcmp(host(BUF_OFF + 0x202), "AB", 2), 0);
    cr_assert_eq(memcmp(host(BUF_OFF + 0x300), "CDEF", 4), 0);
    cr_assert_eq(virtq_req_write(&req, 10, "xyz", 3), 2);
    cr_assert_eq(memcmp(host(BUF_OFF + 0x306), "xy", 2), 0);
    cr_assert_eq(((uint8_t *)host(BUF_OFF + 0x308))[0], 0, "wrote past the buffer");
    /* readable buffers are never written */
    cr_assert_eq(memcmp(host(BUF_OFF), "hello ", 6), 0);

    virtq_push(&q, &req, 12);
    cr_assert_eq(used()->ring[0].len, 12);
}

Test(virtqueue, zero_length_buffers_are_skipped)
{
    set_desc(desc(), 0, 0, 0, VRING_DESC_F_NEXT, 1);   /* address irrelevant when empty */
    set_desc(desc(), 1, gpa(BUF_OFF), 8, VRING_DESC_F_WRITE, 0);
    publish(0);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    cr_assert_eq(req.nout, 0);
    cr_assert_eq(req.nin, 1);
}

Test(virtqueue, indirect_table)
{
    set_desc(table(), 0, gpa(BUF_OFF), 10, VRING_DESC_F_NEXT, 1);
    set_desc(table(), 1, gpa(BUF_OFF + 0x100), 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
    set_desc(table(), 2, gpa(BUF_OFF + 0x200), 30, VRING_DESC_F_WRITE, 0);
    set_desc(desc(), 3, gpa(TABLE_OFF), 3 * 16, VRING_DESC_F_INDIRECT, 0);
    publish(3);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    cr_assert_eq(req.head, 3);
    cr_assert_eq(req.nout, 1);
    cr_assert_eq(req.nin, 2);
    assert_iov(0, BUF_OFF, 10);
    assert_iov(1, BUF_OFF + 0x100, 20);
    assert_iov(2, BUF_OFF + 0x200, 30);
}

Test(virtqueue, indirect_table_after_direct_descriptors)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 10, VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0);
    set_desc(table(), 0, gpa(BUF_OFF + 0x100), 20, VRING_DESC_F_WRITE, 0);
    publish(0);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    cr_assert_eq(req.nout, 1);
    cr_assert_eq(req.nin, 1);
}

Test(virtqueue, indirect_table_may_hold_the_longest_chain)
{
    /* 6 direct buffers + a 250-entry table = VIRTQ_MAX_SIZE buffers: the most allowed */
    for (unsigned i = 0; i < 6; i++)
        set_desc(desc(), i, gpa(BUF_OFF + i), 1, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
    set_desc(desc(), 6, gpa(TABLE_OFF), 250 * 16, VRING_DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < 250; i++)
        set_desc(table(), i, gpa(BUF_OFF + 0x100 + i), 1, (uint16_t)(VRING_DESC_F_WRITE | (i < 249 ? VRING_DESC_F_NEXT : 0)), (uint16_t)(i + 1));
    publish(0);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT, "%s", why ? why : "");
    cr_assert_eq(req.nout + req.nin, VIRTQ_MAX_SIZE);
}

Test(virtqueue, ring_wraps_around_the_16_bit_index)
{
    /* start both sides just below the wrap of the free-running indices */
    q.last_avail = 0xfffe;
    q.used_idx = 0xfffe;
    avail()->idx = 0xfffe;
    for (unsigned n = 0; n < 4; n++) {
        set_desc(desc(), n, gpa(BUF_OFF + 16 * n), 16, VRING_DESC_F_WRITE, 0);
        publish((uint16_t)n);
    }
    for (unsigned n = 0; n < 4; n++) {
        const char *why;
        cr_assert_eq(pop(&why), VIRTQ_GOT);
        cr_assert_eq(req.head, n);
        virtq_push(&q, &req, 16);
    }
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_EMPTY);
    cr_assert_eq(used()->idx, 2);
    cr_assert_eq(used()->ring[(uint16_t)0xffff % NUM].id, 1);
}

/* ------------------------------------------------------------------ notifications */

Test(virtqueue, event_index_notify_decisions)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_WRITE, 0);
    uint16_t *used_event = &avail()->ring[NUM];
    const char *why;

    /* the very first push always notifies (nothing was signalled yet) */
    publish(0);
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    virtq_push(&q, &req, 0);
    *used_event = 5;
    cr_assert(virtq_should_notify(&q));

    /* the driver asks for an interrupt once used idx passes 0: already signalled for 1 → no */
    *used_event = 0;
    publish(0);
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    virtq_push(&q, &req, 0);   /* used idx 2 */
    cr_assert_not(virtq_should_notify(&q));

    /* used_event 2: crossing from 2 to 3 must notify */
    *used_event = 2;
    publish(0);
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    virtq_push(&q, &req, 0);   /* used idx 3 */
    cr_assert(virtq_should_notify(&q));

    /* used_event far ahead (10): pushes 4 and 5 do not notify */
    *used_event = 10;
    for (int i = 0; i < 2; i++) {
        publish(0);
        cr_assert_eq(pop(&why), VIRTQ_GOT);
        virtq_push(&q, &req, 0);
        cr_assert_not(virtq_should_notify(&q));
    }

    /* several pushes in one batch that cross used_event notify once */
    *used_event = 6;
    for (int i = 0; i < 3; i++) {
        publish(0);
        cr_assert_eq(pop(&why), VIRTQ_GOT);
        virtq_push(&q, &req, 0);   /* used idx 6, 7, 8 */
    }
    cr_assert(virtq_should_notify(&q));
    cr_assert_not(virtq_should_notify(&q), "nothing new since the last notification");
}

Test(virtqueue, no_interrupt_flag_without_event_index)
{
    q.event_idx = false;
    set_desc(desc(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_WRITE, 0);
    const char *why;
    publish(0);
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    virtq_push(&q, &req, 0);
    cr_assert(virtq_should_notify(&q));
    avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
    cr_assert_not(virtq_should_notify(&q));
}

Test(virtqueue, driver_kick_suppression)
{
    /* event index: enabling publishes avail_event = next entry we will take */
    q.last_avail = 3;
    avail()->idx = 3;
    cr_assert_not(virtq_set_notification(&q, true));
    uint16_t avail_event;
    memcpy(&avail_event, (uint8_t *)host(USED_OFF) + 4 + 8 * NUM, sizeof(avail_event));
    cr_assert_eq(avail_event, 3);
    avail()->idx = 4;   /* a buffer slipped in: the caller must look again */
    cr_assert(virtq_set_notification(&q, true));

    /* without event index: the NO_NOTIFY flag */
    q.event_idx = false;
    virtq_set_notification(&q, false);
    cr_assert(used()->flags & VRING_USED_F_NO_NOTIFY);
    virtq_set_notification(&q, true);
    cr_assert_not(used()->flags & VRING_USED_F_NO_NOTIFY);
}

/* ------------------------------------------------------------------ malicious rings */

Test(virtqueue, loop_of_two_descriptors)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 0);
    publish(0);
    assert_malformed("a->b->a");
}

Test(virtqueue, self_loop)
{
    set_desc(desc(), 4, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 4);
    publish(4);
    assert_malformed("a->a");
}

Test(virtqueue, loop_of_zero_length_descriptors)
{
    /* empty buffers add nothing to the request: only the step count can stop this */
    set_desc(desc(), 0, 0, 0, VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, 0, 0, VRING_DESC_F_NEXT, 0);
    publish(0);
    assert_malformed("empty loop");
}

Test(virtqueue, next_past_the_table)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, NUM);
    publish(0);
    assert_malformed("next == num");
    set_desc(desc(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 0xffff);
    assert_malformed("next == 0xffff");
}

Test(virtqueue, avail_index_jumps_by_more_than_num)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 16, 0, 0);
    avail()->idx = NUM + 1;
    assert_malformed("avail idx +num+1");
    avail()->idx = 0x8000;
    assert_malformed("avail idx +0x8000");
    avail()->idx = 0xffff;   /* "behind" us: also more than num ahead modulo 2^16 */
    assert_malformed("avail idx -1");
}

Test(virtqueue, avail_index_jump_of_exactly_num_is_fine)
{
    for (unsigned i = 0; i < NUM; i++) {
        set_desc(desc(), i, gpa(BUF_OFF), 16, 0, 0);
        publish((uint16_t)i);
    }
    for (unsigned i = 0; i < NUM; i++) {
        const char *why;
        cr_assert_eq(pop(&why), VIRTQ_GOT);
    }
}

Test(virtqueue, head_past_the_table)
{
    publish(NUM);
    assert_malformed("head == num");
    avail()->ring[0] = 0xffff;
    assert_malformed("head == 0xffff");
}

Test(virtqueue, buffer_outside_ram)
{
    static const struct { uint64_t addr; uint32_t len; const char *what; } bad[] = {
        { 0, 16, "at 0" },
        { RAM_BASE - 16, 16, "just below RAM" },
        { RAM_BASE - 8, 16, "straddling RAM's start" },
        { RAM_BASE + RAM_SIZE - 8, 16, "straddling RAM's end" },
        { RAM_BASE + RAM_SIZE, 1, "just past RAM" },
        { RAM_BASE + RAM_SIZE + 0x100000, 16, "far past RAM" },
    };
    publish(0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_desc(desc(), 0, bad[i].addr, bad[i].len, VRING_DESC_F_WRITE, 0);
        assert_malformed(bad[i].what);
    }
    /* the last byte of RAM is fine */
    set_desc(desc(), 0, RAM_BASE + RAM_SIZE - 1, 1, VRING_DESC_F_WRITE, 0);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT);
    assert_iov(0, RAM_SIZE - 1, 1);
}

Test(virtqueue, buffer_address_plus_length_wraps)
{
    publish(0);
    set_desc(desc(), 0, UINT64_MAX - 0xfff, 0x2000, 0, 0);
    assert_malformed("addr+len wraps 2^64");
    set_desc(desc(), 0, UINT64_MAX, 2, 0, 0);
    assert_malformed("addr 2^64-1");
    /* wraps to land inside RAM: RAM_BASE + 16 == addr + len mod 2^64 */
    set_desc(desc(), 0, RAM_BASE + 16 - 0x100000000ull, 0xffffffff, 0, 0);
    assert_malformed("wraps into RAM");
}

Test(virtqueue, huge_length)
{
    publish(0);
    set_desc(desc(), 0, gpa(BUF_OFF), 0xffffffff, VRING_DESC_F_WRITE, 0);
    assert_malformed("len 4 GiB - 1");
    set_desc(desc(), 0, gpa(0), RAM_SIZE + 1, VRING_DESC_F_WRITE, 0);
    assert_malformed("len RAM + 1");
}

Test(virtqueue, readable_after_writable)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, gpa(BUF_OFF + 16), 16, 0, 0);
    publish(0);
    assert_malformed("readable after writable");
}

Test(virtqueue, readable_after_writable_inside_indirect)
{
    set_desc(table(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(table(), 1, gpa(BUF_OFF + 16), 16, 0, 0);
    set_desc(desc(), 0, gpa(TABLE_OFF), 32, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    assert_malformed("readable after writable (indirect)");
}

Test(virtqueue, indirect_without_the_feature)
{
    q.indirect = false;
    set_desc(table(), 0, gpa(BUF_OFF), 16, 0, 0);
    set_desc(desc(), 0, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    assert_malformed("indirect not negotiated");
}

Test(virtqueue, indirect_inside_indirect)
{
    set_desc(table(), 0, gpa(TABLE_OFF + 0x100), 16, VRING_DESC_F_INDIRECT, 0);
    set_desc(table(), 16, gpa(BUF_OFF), 16, 0, 0);
    set_desc(desc(), 0, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    assert_malformed("nested indirect");
}

Test(virtqueue, indirect_with_next)
{
    set_desc(table(), 0, gpa(BUF_OFF), 16, 0, 0);
    set_desc(desc(), 0, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 1, gpa(BUF_OFF), 16, 0, 0);
    publish(0);
    assert_malformed("indirect | next");
}

Test(virtqueue, indirect_table_of_bad_length)
{
    set_desc(table(), 0, gpa(BUF_OFF), 16, 0, 0);
    publish(0);
    static const uint32_t bad[] = { 0, 1, 15, 17, 24, (VIRTQ_MAX_SIZE + 1) * 16, 0xfffffff0 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_desc(desc(), 0, gpa(TABLE_OFF), bad[i], VRING_DESC_F_INDIRECT, 0);
        assert_malformed("bad indirect length");
    }
}

Test(virtqueue, indirect_table_outside_ram)
{
    publish(0);
    set_desc(desc(), 0, RAM_BASE + RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
    assert_malformed("table straddles RAM's end");
    set_desc(desc(), 0, RAM_BASE - 32, 64, VRING_DESC_F_INDIRECT, 0);
    assert_malformed("table straddles RAM's start");
    set_desc(desc(), 0, UINT64_MAX - 15, 32, VRING_DESC_F_INDIRECT, 0);
    assert_malformed("table wraps 2^64");
}

Test(virtqueue, indirect_table_needs_no_alignment)
{
    /* the spec asks no alignment of indirect tables (Linux kmallocs them) */
    set_desc(table(), 0, 0, 0, 0, 0);
    uint8_t *odd = (uint8_t *)host(TABLE_OFF + 0x108);
    struct vring_desc e = { .addr = gpa(BUF_OFF), .len = 16, .flags = VRING_DESC_F_WRITE };
    memcpy(odd, &e, sizeof(e));
    set_desc(desc(), 0, gpa(TABLE_OFF + 0x108), 16, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_GOT, "%s", why ? why : "");
    cr_assert_eq(req.nin, 1);
    assert_iov(0, BUF_OFF, 16);
}

Test(virtqueue, indirect_table_entry_outside_ram)
{
    set_desc(table(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 1);
    set_desc(table(), 1, RAM_BASE + RAM_SIZE - 4, 16, VRING_DESC_F_WRITE, 0);
    set_desc(desc(), 0, gpa(TABLE_OFF), 32, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    assert_malformed("indirect entry outside RAM");
}

Test(virtqueue, loop_inside_indirect_table)
{
    set_desc(table(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 1);
    set_desc(table(), 1, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 2);
    set_desc(table(), 2, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 1);
    set_desc(desc(), 0, gpa(TABLE_OFF), 48, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    assert_malformed("loop in table");
    set_desc(table(), 2, 0, 0, VRING_DESC_F_NEXT, 2);
    assert_malformed("empty self-loop in table");
}

Test(virtqueue, indirect_next_past_its_table)
{
    set_desc(table(), 0, gpa(BUF_OFF), 16, VRING_DESC_F_NEXT, 2);   /* table has 2 entries */
    set_desc(desc(), 0, gpa(TABLE_OFF), 32, VRING_DESC_F_INDIRECT, 0);
    publish(0);
    assert_malformed("indirect next == table length");
}

Test(virtqueue, chain_longer_than_max_via_indirect)
{
    /* 7 direct buffers + a full 256-entry table: 263 buffers */
    for (unsigned i = 0; i < 7; i++)
        set_desc(desc(), i, gpa(BUF_OFF + i), 1, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
    set_desc(desc(), 7, gpa(TABLE_OFF), VIRTQ_MAX_SIZE * 16, VRING_DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
        set_desc(table(), i, gpa(BUF_OFF + 0x100 + i), 1,
                 (uint16_t)(i + 1 < VIRTQ_MAX_SIZE ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
    publish(0);
    assert_malformed("263 buffers");
}

Test(virtqueue, nothing_is_taken_from_a_queue_that_is_not_ready)
{
    set_desc(desc(), 0, gpa(BUF_OFF), 16, 0, 0);
    publish(0);
    virtq_reset(&q);
    const char *why;
    cr_assert_eq(pop(&why), VIRTQ_EMPTY);
    cr_assert_eq(q.mem, &mem, "reset keeps the memory view");
    cr_assert_not(virtq_should_notify(&q));
    cr_assert_not(virtq_set_notification(&q, true));
}

/* ------------------------------------------------------------------ virtq_enable */

TestSuite(virtq_enable, .init = setup_ram, .fini = teardown);

static int enable(uint16_t num, uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa)
{
    virtq_reset(&q);
    q.num = num;
    q.desc_gpa = desc_gpa;
    q.avail_gpa = avail_gpa;
    q.used_gpa = used_gpa;
    int rc = virtq_enable(&q);
    cr_assert_eq(q.ready, rc == 0);
    return rc;
}

Test(virtq_enable, good_rings)
{
    cr_assert_eq(enable(NUM, gpa(DESC_OFF), gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_eq((void *)q.desc, host(DESC_OFF));
    /* the tightest legal placement: 16/2/4-byte alignment, rings back to back at RAM's end */
    uint64_t end = RAM_BASE + RAM_SIZE;
    uint64_t used_gpa = end - (6 + 8 * 256), avail_gpa = (used_gpa - (6 + 2 * 256) - 4) & ~3ull;
    cr_assert_eq(enable(256, RAM_BASE, avail_gpa | 2, used_gpa & ~3ull), 0);
}

Test(virtq_enable, bad_sizes)
{
    cr_assert_neq(enable(0, gpa(DESC_OFF), gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(3, gpa(DESC_OFF), gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(VIRTQ_MAX_SIZE * 2, gpa(DESC_OFF), gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(0xffff, gpa(DESC_OFF), gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
}

Test(virtq_enable, misaligned_rings)
{
    cr_assert_neq(enable(NUM, gpa(DESC_OFF + 8), gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), gpa(AVAIL_OFF + 1), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), gpa(AVAIL_OFF), gpa(USED_OFF + 2)), 0);
}

Test(virtq_enable, rings_outside_ram)
{
    uint64_t end = RAM_BASE + RAM_SIZE;
    cr_assert_neq(enable(NUM, 0, gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(NUM, end - 16 * NUM + 16, gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), end - 4, gpa(USED_OFF)), 0);
    /* the avail ring's trailing used_event field must fit too */
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), end - (4 + 2 * NUM), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), gpa(AVAIL_OFF), end - (4 + 8 * NUM)), 0);
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), gpa(AVAIL_OFF), RAM_BASE - 0x1000), 0);
    cr_assert_neq(enable(NUM, UINT64_MAX - 15, gpa(AVAIL_OFF), gpa(USED_OFF)), 0);
    cr_assert_neq(enable(NUM, gpa(DESC_OFF), gpa(AVAIL_OFF), UINT64_MAX - 3), 0);
}
