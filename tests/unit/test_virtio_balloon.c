/* test_virtio_balloon.c — virtio-balloon through its virtio-mmio window, with the fake driver of
 * virtio_driver.h playing the guest's balloon driver: the target in config space, inflated
 * pages handed back to the host (they read as zero afterwards, guest RAM being an anonymous
 * private mapping), the driver-written `actual`, target changes with their config interrupt,
 * and the statistics queue. */
#include <criterion/criterion.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dev/virtio/balloon.h"
#include "virtio_driver.h"

#define RAM (4u << 20)
#define RING_FEATURES ((1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX))
#define ALL_FEATURES (RING_FEATURES | (1ull << VIRTIO_BALLOON_F_STATS_VQ) | (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
#define NUM_PAGES_OFF offsetof(struct virtio_balloon_config, num_pages)
#define ACTUAL_OFF offsetof(struct virtio_balloon_config, actual)
#define PAGE 4096u

static void create(struct vdrv *d, const struct balloon_options *opts)
{
    vdrv_init(d, RAM);
    cr_assert_not_null(d->mem.host);
    char err[128];
    struct virtio_mmio *t = virtio_balloon_create(opts, &d->mem, vdrv_irq(d), err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    vdrv_attach(d, t);
}

static void start(struct vdrv *d, const struct balloon_options *opts)
{
    create(d, opts);
    cr_assert(vdrv_start(d, ALL_FEATURES, opts->stats_polling_s ? 3 : 2, 16));
}

/* Posts a driver-readable buffer holding `len` bytes copied from src on queue qi, kicks, and
 * waits for it to come back. */
static void post(struct vdrv *d, unsigned qi, const void *src, uint32_t len)
{
    uint64_t gpa = vdrv_alloc(d, len, 16);
    memcpy(vdrv_ptr(d, gpa), src, len);
    struct vdrv_buf b = { gpa, len, false };
    vdrv_add(d, qi, &b, 1);
    vdrv_kick(d, qi);
}

static void post_and_wait(struct vdrv *d, unsigned qi, const void *src, uint32_t len)
{
    post(d, qi, src, len);
    cr_assert(vdrv_wait_used(d, qi, NULL, NULL, 2000), "queue %u: buffer not returned", qi);
}

static bool page_is(const struct vdrv *d, uint64_t gpa, uint8_t v)
{
    const uint8_t *p = d->mem.host + (gpa - VDRV_RAM_BASE);
    for (unsigned i = 0; i < PAGE; i++)
        if (p[i] != v)
            return false;
    return true;
}

Test(virtio_balloon, identity_features_and_target)
{
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 16 };
    create(&d, &opts);
    cr_assert_eq(vdrv_read32(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
    uint64_t f = vdrv_device_features(&d);
    cr_assert_not(f & (1ull << VIRTIO_BALLOON_F_STATS_VQ));
    cr_assert_not(f & (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 16 * 256);
    cr_assert_eq(vdrv_config(&d, ACTUAL_OFF, 4), 0);
    /* without statistics there are two queues */
    vdrv_write32(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
    cr_assert_gt(vdrv_read32(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    vdrv_write32(&d, VIRTIO_MMIO_QUEUE_SEL, 2);
    cr_assert_eq(vdrv_read32(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    vdrv_fini(&d);

    struct balloon_options all = { .amount_mib = 0, .deflate_on_oom = true, .stats_polling_s = 1 };
    create(&d, &all);
    f = vdrv_device_features(&d);
    cr_assert(f & (1ull << VIRTIO_BALLOON_F_STATS_VQ));
    cr_assert(f & (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 0);
    vdrv_write32(&d, VIRTIO_MMIO_QUEUE_SEL, 2);
    cr_assert_gt(vdrv_read32(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    vdrv_fini(&d);
}

Test(virtio_balloon, inflate_gives_pages_back_to_the_host)
{
    if (sysconf(_SC_PAGESIZE) != PAGE)
        cr_skip_test("host pages are not 4 KiB: the balloon does not free them");
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 1 };
    start(&d, &opts);
    /* eight pages from 1 MiB into RAM, filled by the "guest" */
    uint64_t first = VDRV_RAM_BASE + (1u << 20);
    memset(vdrv_ptr(&d, first), 0xab, 8 * PAGE);
    /* inflate pages 0-2 and 4 and 6 (two runs and singles, out of order), plus frames outside
     * RAM that must be ignored */
    uint32_t base_pfn = (uint32_t)(first >> VIRTIO_BALLOON_PFN_SHIFT);
    uint32_t pfns[] = { base_pfn + 6, base_pfn, base_pfn + 1, base_pfn + 2, base_pfn + 4,
                        0, 0xffffffffu, (uint32_t)((VDRV_RAM_BASE + RAM) >> 12) };
    post_and_wait(&d, 0, pfns, sizeof(pfns));
    for (unsigned i = 0; i < 8; i++) {
        bool inflated = i == 0 || i == 1 || i == 2 || i == 4 || i == 6;
        cr_assert(page_is(&d, first + i * PAGE, inflated ? 0 : 0xab), "page %u should %s", i,
                  inflated ? "read zero" : "keep its contents");
    }
    /* deflating changes nothing: the page is simply usable again */
    memset(vdrv_ptr(&d, first), 0x11, PAGE);
    post_and_wait(&d, 1, pfns, 4 * sizeof(uint32_t));
    cr_assert(page_is(&d, first, 0x11));
    vdrv_fini(&d);
}

Test(virtio_balloon, odd_sized_page_lists_are_harmless)
{
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 1 };
    start(&d, &opts);
    uint64_t page = VDRV_RAM_BASE + (2u << 20);
    memset(vdrv_ptr(&d, page), 0xcd, PAGE);
    uint8_t partial[7] = { 0 };   /* one PFN and three stray bytes */
    uint32_t pfn = (uint32_t)(page >> 12);
    memcpy(partial, &pfn, 4);
    post_and_wait(&d, 0, partial, sizeof(partial));
    if (sysconf(_SC_PAGESIZE) == PAGE)
        cr_assert(page_is(&d, page, 0));
    post_and_wait(&d, 0, partial, 3);   /* not even one PFN */
    cr_assert_not(vdrv_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
    vdrv_fini(&d);
}

Test(virtio_balloon, driver_reports_actual_and_cannot_change_the_target)
{
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 8 };
    start(&d, &opts);
    vdrv_config_write(&d, ACTUAL_OFF, 1234, 4);
    cr_assert_eq(vdrv_config(&d, ACTUAL_OFF, 4), 1234);
    vdrv_config_write(&d, NUM_PAGES_OFF, 7, 4);
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 8 * 256, "the driver changed the target");
    struct balloon_stats s;
    virtio_balloon_get_stats(d.t, &s);
    cr_assert_eq(s.target_pages, 8 * 256);
    cr_assert_eq(s.actual_pages, 1234);
    /* a reset empties the balloon */
    vdrv_write32(&d, VIRTIO_MMIO_STATUS, 0);
    cr_assert_eq(vdrv_config(&d, ACTUAL_OFF, 4), 0);
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 8 * 256);
    vdrv_fini(&d);
}

Test(virtio_balloon, set_target_raises_a_config_interrupt)
{
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 8 };
    start(&d, &opts);
    uint32_t gen = vdrv_read32(&d, VIRTIO_MMIO_CONFIG_GENERATION);
    int raises = atomic_load(&d.irq_raises);
    virtio_balloon_set_target(d.t, 32);
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 32 * 256);
    cr_assert_neq(vdrv_read32(&d, VIRTIO_MMIO_CONFIG_GENERATION), gen);
    cr_assert_gt(atomic_load(&d.irq_raises), raises);
    cr_assert(atomic_load(&d.irq_level));
    cr_assert(vdrv_read32(&d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    struct balloon_stats s;
    virtio_balloon_get_stats(d.t, &s);
    cr_assert_eq(s.target_pages, 32 * 256);
    /* the driver acknowledges; deflating to 0 is a change too */
    vdrv_write32(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
    cr_assert_not(atomic_load(&d.irq_level));
    virtio_balloon_set_target(d.t, 0);
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 0);
    cr_assert(atomic_load(&d.irq_level));
    vdrv_fini(&d);
}

static void make_report(struct virtio_balloon_stat *out, uint64_t free_mem, uint64_t minflt)
{
    out[0] = (struct virtio_balloon_stat){ .tag = VIRTIO_BALLOON_S_MEMFREE, .val = free_mem };
    out[1] = (struct virtio_balloon_stat){ .tag = VIRTIO_BALLOON_S_MEMTOT, .val = RAM };
    out[2] = (struct virtio_balloon_stat){ .tag = VIRTIO_BALLOON_S_MINFLT, .val = minflt };
    out[3] = (struct virtio_balloon_stat){ .tag = 77, .val = 5 };   /* a tag from the future */
}

static bool wait_free_memory(struct vdrv *d, uint64_t want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        struct balloon_stats s;
        virtio_balloon_get_stats(d->t, &s);
        if (s.free_memory == want)
            return true;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

Test(virtio_balloon, statistics_are_polled, .timeout = 20)
{
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 0, .stats_polling_s = 1 };
    start(&d, &opts);
    struct balloon_stats s;
    virtio_balloon_get_stats(d.t, &s);
    cr_assert_eq(s.free_memory, UINT64_MAX, "nothing was reported yet");

    /* the driver's first report arrives at probe; the device keeps the buffer */
    struct virtio_balloon_stat report[4];
    make_report(report, 1000000, 42);
    post(&d, 2, report, sizeof(report));
    cr_assert(wait_free_memory(&d, 1000000, 2000));
    virtio_balloon_get_stats(d.t, &s);
    cr_assert_eq(s.total_memory, RAM);
    cr_assert_eq(s.minor_faults, 42);
    cr_assert_eq(s.swap_in, UINT64_MAX);
    cr_assert_eq(s.hugetlb_failures, UINT64_MAX);

    /* about a second later the buffer comes back: a request for fresh numbers */
    double t0 = vdrv_now_s();
    cr_assert(vdrv_wait_used(&d, 2, NULL, NULL, 3000), "the stats buffer was not returned");
    double took = vdrv_now_s() - t0;
    cr_assert_lt(took, 1.5, "returned after %.2f s", took);

    make_report(report, 777, 43);
    post(&d, 2, report, sizeof(report));
    cr_assert(wait_free_memory(&d, 777, 2000));
    virtio_balloon_get_stats(d.t, &s);
    cr_assert_eq(s.minor_faults, 43);
    cr_assert(vdrv_wait_used(&d, 2, NULL, NULL, 3000), "the stats buffer was not returned again");
    vdrv_fini(&d);
}

Test(virtio_balloon, malformed_inflate_ring_breaks_the_device)
{
    struct vdrv d;
    struct balloon_options opts = { .amount_mib = 1 };
    start(&d, &opts);
    struct vdrv_buf b = { VDRV_RAM_BASE + RAM - 2, 8, false };
    vdrv_add(&d, 0, &b, 1);
    vdrv_kick(&d, 0);
    bool broken = false;
    for (int i = 0; i < 2000 && !broken; i++) {
        broken = vdrv_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    cr_assert(broken);
    /* the host side keeps answering */
    virtio_balloon_set_target(d.t, 2);
    cr_assert_eq(vdrv_config(&d, NUM_PAGES_OFF, 4), 512);
    vdrv_fini(&d);
}
