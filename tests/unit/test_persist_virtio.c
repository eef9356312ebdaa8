/* test_persist_virtio.c — pausing, saving and restoring virtio devices (blk, rng, balloon)
 * through the fake driver: requests taken before a save complete exactly once, the rings'
 * indices continue in the restored device, a paused device leaves kicks alone until resume,
 * and snapshots of the transport that cannot be right are refused with a reason. Guest RAM
 * stays the fake driver's mapping across the swap, as a snapshot restores it separately. */
#include <criterion/criterion.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dev/virtio/balloon.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/rng.h"
#include "virtio_driver.h"

#define RAM (4u << 20)
#define RING_FEATURES ((1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX))

static uint16_t used_idx(struct vdrv *d, unsigned qi)
{
    return __atomic_load_n(&vdrv_used(d, qi)->idx, __ATOMIC_ACQUIRE);
}

/* Pauses t and saves it into w (initialised here). */
static void pause_and_save(struct virtio_mmio *t, struct persist_writer *w)
{
    virtio_mmio_pause(t);
    persist_writer_init(w);
    virtio_mmio_save(t, w);
    cr_assert(persist_writer_ok(w));
}

/* Restores w into the fresh device t; returns restore's result, the reason in err. */
static int restore_into(struct virtio_mmio *t, const struct persist_writer *w, size_t len, char err[256])
{
    struct persist_reader r;
    persist_reader_init(&r, w->buf, len);
    int rc = virtio_mmio_restore(t, &r);
    snprintf(err, 256, "%s", r.err);
    return rc;
}

/* The device behind d is replaced by `fresh` restored from w, then resumed. */
static void swap_in(struct vdrv *d, struct virtio_mmio *fresh, const struct persist_writer *w)
{
    char err[256];
    cr_assert_eq(restore_into(fresh, w, w->len, err), 0, "restore failed: %s", err);
    if (d->t)
        d->t->ops->destroy(d->t);
    vdrv_attach(d, fresh);
    virtio_mmio_resume(fresh);
}

/* ---- blk */

static void make_image(char *path)
{
    strcpy(path, "/tmp/kiln-persist-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 256 * 512), 0);
    close(fd);
}

static struct virtio_mmio *blk_new(struct vdrv *d, const struct disk_options *o)
{
    char err[256] = "";
    struct virtio_mmio *t = virtio_blk_create(o, &d->mem, vdrv_irq(d), err, sizeof(err));
    cr_assert_not_null(t, "create failed: %s", err);
    return t;
}

struct wreq { uint64_t hdr, data, status; };

/* Publishes a one-sector write of byte v to `sector` (no kick). */
static struct wreq blk_put_write(struct vdrv *d, uint64_t sector, uint8_t v)
{
    struct wreq r = { vdrv_alloc(d, 16, 16), vdrv_alloc(d, 512, 512), vdrv_alloc(d, 1, 1) };
    struct virtio_blk_outhdr *h = vdrv_ptr(d, r.hdr);
    *h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = sector };
    memset(vdrv_ptr(d, r.data), v, 512);
    *(uint8_t *)vdrv_ptr(d, r.status) = 0xee;
    struct vdrv_buf bufs[] = { { r.hdr, 16, false }, { r.data, 512, false }, { r.status, 1, true } };
    vdrv_add(d, 0, bufs, 3);
    return r;
}

static uint8_t status_of(struct vdrv *d, const struct wreq *r)
{
    return *(uint8_t *)vdrv_ptr(d, r->status);
}

static uint8_t image_byte(const char *path, uint64_t off)
{
    uint8_t b = 0;
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, (long)off, SEEK_SET);
    cr_assert_eq(fread(&b, 1, 1, f), 1u);
    fclose(f);
    return b;
}

/* Waits for n more used entries of queue 0, then checks that no others follow. */
static void expect_completions(struct vdrv *d, unsigned n, uint16_t total)
{
    for (unsigned i = 0; i < n; i++)
        cr_assert(vdrv_wait_used(d, 0, NULL, NULL, 5000), "completion %u of %u missing", i + 1, n);
    usleep(50 * 1000);
    cr_assert_eq(used_idx(d, 0), total, "used index %u, expected %u", used_idx(d, 0), total);
}

Test(persist_blk, requests_continue_exactly_once_after_restore, .timeout = 20)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    char path[64];
    make_image(path);
    struct disk_options o = { .path = path };
    vdrv_attach(&d, blk_new(&d, &o));
    cr_assert(vdrv_start(&d, ~0ull, 1, 16));
    for (int i = 0; i < 3; i++)
        blk_put_write(&d, (uint64_t)i, (uint8_t)(0x10 + i));
    vdrv_kick(&d, 0);
    expect_completions(&d, 3, 3);

    /* kicked while paused: nothing moves, and the save carries the requests along */
    virtio_mmio_pause(d.t);
    struct wreq a = blk_put_write(&d, 10, 0xa1), b = blk_put_write(&d, 11, 0xb2);
    vdrv_kick(&d, 0);
    usleep(100 * 1000);
    cr_assert_eq(used_idx(&d, 0), 3, "a paused device completed a request");
    cr_assert_eq(status_of(&d, &a), 0xee);
    struct persist_writer w;
    pause_and_save(d.t, &w);

    d.t->ops->destroy(d.t);   /* drops the image lock for the new device */
    d.t = NULL;
    swap_in(&d, blk_new(&d, &o), &w);
    expect_completions(&d, 2, 5);
    cr_assert_eq(status_of(&d, &a), VIRTIO_BLK_S_OK);
    cr_assert_eq(status_of(&d, &b), VIRTIO_BLK_S_OK);
    cr_assert_eq(image_byte(path, 10 * 512), 0xa1);
    cr_assert_eq(image_byte(path, 11 * 512 + 511), 0xb2);

    blk_put_write(&d, 12, 0xc3);
    vdrv_kick(&d, 0);
    expect_completions(&d, 1, 6);
    cr_assert_eq(image_byte(path, 12 * 512), 0xc3);
    persist_writer_free(&w);
    vdrv_fini(&d);
    unlink(path);
}

Test(persist_blk, throttled_request_completes_after_restore, .timeout = 20)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    char path[64];
    make_image(path);
    struct disk_options o = { .path = path, .limit.ops = { .size = 1, .refill_time_ms = 1000 } };
    vdrv_attach(&d, blk_new(&d, &o));
    cr_assert(vdrv_start(&d, ~0ull, 1, 16));
    blk_put_write(&d, 1, 0x11);
    vdrv_kick(&d, 0);
    expect_completions(&d, 1, 1);   /* took the only token */
    struct wreq held = blk_put_write(&d, 2, 0x22);
    vdrv_kick(&d, 0);
    usleep(100 * 1000);
    cr_assert_eq(used_idx(&d, 0), 1, "the second op should wait for its token");

    struct persist_writer w;
    pause_and_save(d.t, &w);
    cr_assert_eq(d.t->vq[0].last_avail, 2, "saving changed the live queue");

    /* migration: the source lets go of the image, the destination locks it */
    cr_assert_eq(virtio_blk_release_image(d.t), 0);
    struct virtio_mmio *fresh = blk_new(&d, &o);
    char err[256] = "";
    cr_assert_eq(virtio_blk_reacquire_image(d.t, err, sizeof(err)), -1, "two writers locked one image");
    cr_assert(strstr(err, "locked"), "%s", err);

    swap_in(&d, fresh, &w);
    expect_completions(&d, 1, 2);
    cr_assert_eq(status_of(&d, &held), VIRTIO_BLK_S_OK);
    cr_assert_eq(image_byte(path, 2 * 512), 0x22);
    persist_writer_free(&w);
    vdrv_fini(&d);
    unlink(path);
}

Test(persist_blk, reacquire_after_a_failed_migration)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    char path[64];
    make_image(path);
    struct disk_options o = { .path = path };
    vdrv_attach(&d, blk_new(&d, &o));
    virtio_mmio_pause(d.t);
    cr_assert_eq(virtio_blk_release_image(d.t), 0);
    char err[256] = "";
    cr_assert_eq(virtio_blk_reacquire_image(d.t, err, sizeof(err)), 0, "%s", err);
    struct virtio_mmio *other = virtio_blk_create(&o, &d.mem, vdrv_irq(&d), err, sizeof(err));
    cr_assert_null(other, "the image lock was not taken again");
    virtio_mmio_resume(d.t);
    vdrv_fini(&d);
    unlink(path);
}

/* ---- rng */

static struct virtio_mmio *rng_new(struct vdrv *d, const struct rng_options *o)
{
    char err[256] = "";
    struct virtio_mmio *t = virtio_rng_create(o, &d->mem, vdrv_irq(d), err, sizeof(err));
    cr_assert_not_null(t, "create failed: %s", err);
    return t;
}

static void rng_put(struct vdrv *d, uint32_t len)
{
    struct vdrv_buf b = { vdrv_alloc(d, len, 16), len, true };
    vdrv_add(d, 0, &b, 1);
}

Test(persist_rng, paused_device_leaves_kicks_until_resume)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    struct rng_options o = { 0 };
    vdrv_attach(&d, rng_new(&d, &o));
    cr_assert(vdrv_start(&d, RING_FEATURES, 1, 16));
    virtio_mmio_pause(d.t);
    virtio_mmio_pause(d.t);   /* twice is once */
    rng_put(&d, 64);
    vdrv_kick(&d, 0);
    usleep(100 * 1000);
    cr_assert_eq(used_idx(&d, 0), 0, "a paused device served a request");
    virtio_mmio_resume(d.t);
    expect_completions(&d, 1, 1);
    vdrv_fini(&d);
}

Test(persist_rng, destroy_ends_a_paused_device)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    struct rng_options o = { 0 };
    vdrv_attach(&d, rng_new(&d, &o));
    virtio_mmio_pause(d.t);
    vdrv_fini(&d);   /* must not hang */
}

Test(persist_rng, throttled_and_queued_requests_survive, .timeout = 20)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    struct rng_options o = { .limit.ops = { .size = 2, .refill_time_ms = 1000 } };
    vdrv_attach(&d, rng_new(&d, &o));
    cr_assert(vdrv_start(&d, RING_FEATURES, 1, 16));
    for (int i = 0; i < 4; i++)
        rng_put(&d, 32);
    vdrv_kick(&d, 0);
    expect_completions(&d, 2, 2);   /* two tokens; the third waits, the fourth is not taken */

    struct persist_writer w;
    pause_and_save(d.t, &w);
    swap_in(&d, rng_new(&d, &o), &w);
    /* the limiter came along empty: the two left need about a second, not an instant */
    double t0 = vdrv_now_s();
    expect_completions(&d, 2, 4);
    cr_assert_gt(vdrv_now_s() - t0, 0.2, "the restored limiter forgot it was empty");
    rng_put(&d, 32);
    vdrv_kick(&d, 0);
    expect_completions(&d, 1, 5);
    persist_writer_free(&w);
    vdrv_fini(&d);
}

/* ---- balloon */

static struct virtio_mmio *balloon_new(struct vdrv *d, const struct balloon_options *o)
{
    char err[256] = "";
    struct virtio_mmio *t = virtio_balloon_create(o, &d->mem, vdrv_irq(d), err, sizeof(err));
    cr_assert_not_null(t, "create failed: %s", err);
    return t;
}

static void balloon_post(struct vdrv *d, unsigned qi, const void *src, uint32_t len)
{
    uint64_t gpa = vdrv_alloc(d, len, 16);
    memcpy(vdrv_ptr(d, gpa), src, len);
    struct vdrv_buf b = { gpa, len, false };
    vdrv_add(d, qi, &b, 1);
    vdrv_kick(d, qi);
}

static bool wait_free_memory(struct vdrv *d, uint64_t want)
{
    for (int i = 0; i < 2000; i++) {
        struct balloon_stats s;
        virtio_balloon_get_stats(d->t, &s);
        if (s.free_memory == want)
            return true;
        usleep(1000);
    }
    return false;
}

Test(persist_balloon, target_stats_and_held_buffer_survive, .timeout = 20)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    struct balloon_options o = { .amount_mib = 0, .stats_polling_s = 1 };
    vdrv_attach(&d, balloon_new(&d, &o));
    cr_assert(vdrv_start(&d, ~0ull, 3, 16));
    uint32_t pfns[2] = { (uint32_t)((VDRV_RAM_BASE >> 12) + 0x300), (uint32_t)((VDRV_RAM_BASE >> 12) + 0x301) };
    balloon_post(&d, 0, pfns, sizeof(pfns));
    cr_assert(vdrv_wait_used(&d, 0, NULL, NULL, 2000));
    struct virtio_balloon_stat report[1];
    uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
    uint64_t val = 123456;
    memcpy(&report[0].tag, &tag, sizeof(tag));
    memcpy(&report[0].val, &val, sizeof(val));
    balloon_post(&d, 2, report, sizeof(report));
    cr_assert(wait_free_memory(&d, 123456));
    virtio_balloon_set_target(d.t, 2);
    vdrv_config_write(&d, offsetof(struct virtio_balloon_config, actual), 2, 4);

    struct persist_writer w;
    pause_and_save(d.t, &w);
    swap_in(&d, balloon_new(&d, &o), &w);
    struct balloon_stats s;
    virtio_balloon_get_stats(d.t, &s);
    cr_assert_eq(s.target_pages, 512);
    cr_assert_eq(s.actual_pages, 2);
    cr_assert_eq(s.free_memory, 123456);
    cr_assert_eq(vdrv_config(&d, offsetof(struct virtio_balloon_config, num_pages), 4), 512);
    /* the held stats buffer was taken again: the poll gives it back, once */
    cr_assert(vdrv_wait_used(&d, 2, NULL, NULL, 3000), "the stats buffer was lost");
    cr_assert_eq(used_idx(&d, 2), 1);
    balloon_post(&d, 1, pfns, sizeof(pfns));
    cr_assert(vdrv_wait_used(&d, 1, NULL, NULL, 2000));
    balloon_post(&d, 0, pfns, sizeof(pfns));
    cr_assert(vdrv_wait_used(&d, 0, NULL, NULL, 2000));
    cr_assert_eq(used_idx(&d, 0), 2, "inflate's used index did not continue");
    persist_writer_free(&w);
    vdrv_fini(&d);
}

/* ---- corrupt snapshots */

/* A running rng saved after `mangle` changed its (paused) transport; restoring it into a fresh
 * rng must fail with a reason containing `why`. */
static void expect_refused(void (*mangle)(struct virtio_mmio *), size_t cut, const char *why)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    struct rng_options o = { 0 };
    vdrv_attach(&d, rng_new(&d, &o));
    cr_assert(vdrv_start(&d, RING_FEATURES, 1, 16));
    virtio_mmio_pause(d.t);
    struct virtq saved = d.t->vq[0];
    uint32_t status = d.t->status;
    if (mangle)
        mangle(d.t);
    struct persist_writer w;
    pause_and_save(d.t, &w);
    d.t->vq[0] = saved;
    d.t->status = status;
    struct virtio_mmio *fresh = rng_new(&d, &o);
    char err[256];
    cr_assert_eq(restore_into(fresh, &w, w.len - cut, err), -1, "a bad snapshot was accepted");
    cr_assert(strstr(err, why), "reason \"%s\" does not mention \"%s\"", err, why);
    fresh->ops->destroy(fresh);
    persist_writer_free(&w);
    virtio_mmio_resume(d.t);
    vdrv_fini(&d);
}

static void bad_size(struct virtio_mmio *t) { t->vq[0].num = 3; }
static void huge_size(struct virtio_mmio *t) { t->vq[0].num = 2 * VIRTQ_MAX_SIZE; }
static void ring_outside_ram(struct virtio_mmio *t) { t->vq[0].used_gpa = VDRV_RAM_BASE + RAM; }
static void driver_ok_alone(struct virtio_mmio *t) { t->status = VIRTIO_CONFIG_S_DRIVER_OK; }

Test(persist_corrupt, bad_queue_size) { expect_refused(bad_size, 0, "bad size"); }
Test(persist_corrupt, queue_larger_than_allowed) { expect_refused(huge_size, 0, "bad size"); }
Test(persist_corrupt, ring_outside_ram) { expect_refused(ring_outside_ram, 0, "outside guest RAM"); }
Test(persist_corrupt, insane_status) { expect_refused(driver_ok_alone, 0, "DRIVER_OK"); }
Test(persist_corrupt, truncated) { expect_refused(NULL, 3, ""); }

Test(persist_corrupt, wrong_device)
{
    struct vdrv d;
    vdrv_init(&d, RAM);
    struct rng_options o = { 0 };
    vdrv_attach(&d, rng_new(&d, &o));
    struct persist_writer w;
    pause_and_save(d.t, &w);
    struct balloon_options bo = { 0 };
    struct virtio_mmio *balloon = balloon_new(&d, &bo);
    char err[256];
    cr_assert_eq(restore_into(balloon, &w, w.len, err), -1);
    cr_assert(strstr(err, "device id"), "%s", err);
    balloon->ops->destroy(balloon);
    /* and the id field itself flipped in an rng snapshot */
    uint32_t id;
    memcpy(&id, w.buf + 44, 4);   /* after the section header: name[32], version, length */
    cr_assert_eq(id, 4u, "the layout changed: adjust this test");
    w.buf[44] = 1;
    struct virtio_mmio *rng = rng_new(&d, &o);
    cr_assert_eq(restore_into(rng, &w, w.len, err), -1);
    cr_assert(strstr(err, "device id"), "%s", err);
    rng->ops->destroy(rng);
    persist_writer_free(&w);
    virtio_mmio_resume(d.t);
    vdrv_fini(&d);
}
