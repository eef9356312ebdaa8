/* test_virtio_blk.c — virtio-blk through the test driver: data reaches the image file and comes
 * back, read-only and range errors, serial, flush, discard / write-zeroes, rate limiting in real
 * time, image locking, and guest mistakes that must not crash kiln. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dev/virtio/blk.h"
#include "virtio_driver.h"

#define IMAGE_SECTORS 256            /* 128 KiB */
#define RAM_SIZE (8u << 20)

struct disk {
    struct vdrv d;
    char path[64];
};

static uint8_t pattern(uint64_t offset)
{
    return (uint8_t)(offset * 7 + 3) | 1;   /* never zero, so zeroing shows */
}

static void make_image(char *path, uint64_t size)
{
    strcpy(path, "/tmp/kiln-blk-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    uint8_t *buf = malloc(size ? size : 1);
    for (uint64_t i = 0; i < size; i++)
        buf[i] = pattern(i);
    cr_assert_eq(write(fd, buf, size), (ssize_t)size);
    free(buf);
    close(fd);
}

static void image_read(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static bool image_is_pattern(const char *path, uint64_t off, size_t len)
{
    uint8_t *buf = malloc(len);
    image_read(path, off, buf, len);
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++)
        ok = buf[i] == pattern(off + i);
    free(buf);
    return ok;
}

static bool image_is_zero(const char *path, uint64_t off, size_t len)
{
    uint8_t *buf = malloc(len);
    image_read(path, off, buf, len);
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++)
        ok = buf[i] == 0;
    free(buf);
    return ok;
}

/* A fresh image of `sectors` sectors, a device on it with opts (path filled in), driver started. */
static void disk_open(struct disk *k, uint64_t sectors, struct disk_options opts)
{
    make_image(k->path, sectors * 512);
    vdrv_init(&k->d, RAM_SIZE);
    cr_assert_not_null(k->d.mem.host);
    opts.path = k->path;
    char err[256] = "";
    struct virtio_mmio *t = virtio_blk_create(&opts, &k->d.mem, vdrv_irq(&k->d), err, sizeof(err));
    cr_assert_not_null(t, "create failed: %s", err);
    vdrv_attach(&k->d, t);
    cr_assert(vdrv_start(&k->d, ~0ull, 1, 64));
}

static void disk_close(struct disk *k)
{
    vdrv_fini(&k->d);
    unlink(k->path);
}

/* Guest buffers for one request: header, optional data, status byte (initialised to 0xee). */
struct blk_req {
    uint64_t hdr, data, status;
    uint32_t data_len;
};

static struct blk_req req_alloc(struct vdrv *d, uint32_t type, uint64_t sector, uint32_t data_len)
{
    struct blk_req r = { .hdr = vdrv_alloc(d, 16, 16), .status = vdrv_alloc(d, 1, 1), .data_len = data_len };
    if (data_len)
        r.data = vdrv_alloc(d, data_len, 512);
    struct virtio_blk_outhdr *h = vdrv_ptr(d, r.hdr);
    h->type = type;
    h->ioprio = 0;
    h->sector = sector;
    *(uint8_t *)vdrv_ptr(d, r.status) = 0xee;
    return r;
}

/* Publishes bufs as one chain, kicks, waits. Returns the used length. */
static uint32_t submit(struct vdrv *d, const struct vdrv_buf *bufs, unsigned n)
{
    uint16_t head = vdrv_add(d, 0, bufs, n), id;
    uint32_t len;
    vdrv_kick(d, 0);
    cr_assert(vdrv_wait_used(d, 0, &id, &len, 5000), "no completion");
    cr_assert_eq(id, head);
    return len;
}

/* Header, data (device-readable for OUT-like requests, writable for IN-like), status. */
static uint8_t run(struct vdrv *d, const struct blk_req *r, bool data_writable, uint32_t *used)
{
    struct vdrv_buf bufs[3];
    unsigned n = 0;
    bufs[n++] = (struct vdrv_buf){ r->hdr, 16, false };
    if (r->data_len)
        bufs[n++] = (struct vdrv_buf){ r->data, r->data_len, data_writable };
    bufs[n++] = (struct vdrv_buf){ r->status, 1, true };
    uint32_t len = submit(d, bufs, n);
    if (used)
        *used = len;
    return *(uint8_t *)vdrv_ptr(d, r->status);
}

static uint8_t blk_write(struct vdrv *d, uint64_t sector, const void *src, uint32_t len)
{
    struct blk_req r = req_alloc(d, VIRTIO_BLK_T_OUT, sector, len);
    memcpy(vdrv_ptr(d, r.data), src, len);
    uint32_t used;
    uint8_t st = run(d, &r, false, &used);
    cr_assert_eq(used, 1);
    return st;
}

static uint8_t blk_read(struct vdrv *d, uint64_t sector, void *dst, uint32_t len, uint32_t *used)
{
    struct blk_req r = req_alloc(d, VIRTIO_BLK_T_IN, sector, len);
    uint8_t st = run(d, &r, true, used);
    memcpy(dst, vdrv_ptr(d, r.data), len);
    return st;
}

/* DISCARD or WRITE_ZEROES of one segment. */
static uint8_t blk_zero(struct vdrv *d, uint32_t type, uint64_t sector, uint32_t nsectors, uint32_t flags)
{
    struct blk_req r = req_alloc(d, type, 0, sizeof(struct virtio_blk_discard_write_zeroes));
    struct virtio_blk_discard_write_zeroes *seg = vdrv_ptr(d, r.data);
    seg->sector = sector;
    seg->num_sectors = nsectors;
    seg->flags = flags;
    return run(d, &r, false, NULL);
}

Test(virtio_blk, config_and_features)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    cr_assert_eq(vdrv_read32(&k.d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
    cr_assert_eq(vdrv_config(&k.d, offsetof(struct virtio_blk_config, capacity), 8), IMAGE_SECTORS);
    cr_assert_eq(vdrv_config(&k.d, offsetof(struct virtio_blk_config, blk_size), 4), 512);
    cr_assert_geq(vdrv_config(&k.d, offsetof(struct virtio_blk_config, seg_max), 4), 1);
    cr_assert_eq(vdrv_config(&k.d, offsetof(struct virtio_blk_config, max_discard_seg), 4), 1);
    cr_assert_eq(vdrv_config(&k.d, offsetof(struct virtio_blk_config, max_write_zeroes_seg), 4), 1);
    cr_assert_eq(vdrv_config(&k.d, offsetof(struct virtio_blk_config, write_zeroes_may_unmap), 1), 1);
    uint64_t f = k.d.features;
    cr_assert(f & (1ull << VIRTIO_BLK_F_FLUSH));
    cr_assert(f & (1ull << VIRTIO_BLK_F_DISCARD));
    cr_assert(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
    cr_assert(f & (1ull << VIRTIO_BLK_F_BLK_SIZE));
    cr_assert_not(f & (1ull << VIRTIO_BLK_F_RO));
    disk_close(&k);
}

Test(virtio_blk, write_reaches_the_file_and_reads_back)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    uint8_t out[2048], in[2048], host[2048];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i ^ 0x5a);
    cr_assert_eq(blk_write(&k.d, 10, out, sizeof(out)), VIRTIO_BLK_S_OK);
    image_read(k.path, 10 * 512, host, sizeof(host));
    cr_assert_arr_eq(host, out, sizeof(out));
    cr_assert(image_is_pattern(k.path, 0, 10 * 512));          /* neighbours untouched */
    cr_assert(image_is_pattern(k.path, 14 * 512, 512));
    uint32_t used;
    cr_assert_eq(blk_read(&k.d, 10, in, sizeof(in), &used), VIRTIO_BLK_S_OK);
    cr_assert_eq(used, sizeof(in) + 1);
    cr_assert_arr_eq(in, out, sizeof(out));
    /* the last sector of the disk is reachable; data the host wrote reads back */
    cr_assert_eq(blk_read(&k.d, IMAGE_SECTORS - 1, in, 512, NULL), VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < 512; i++)
        cr_assert_eq(in[i], pattern((IMAGE_SECTORS - 1) * 512ull + i));
    disk_close(&k);
}

Test(virtio_blk, any_buffer_layout)
{
    /* header and data in one readable buffer; data and status in one writable buffer; data
     * scattered over several descriptors */
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    struct vdrv *d = &k.d;
    uint64_t w = vdrv_alloc(d, 16 + 1024, 16), st = vdrv_alloc(d, 1, 1);
    struct virtio_blk_outhdr *h = vdrv_ptr(d, w);
    *h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 3 };
    memset((uint8_t *)vdrv_ptr(d, w) + 16, 0xab, 1024);
    struct vdrv_buf wb[] = { { w, 16 + 1024, false }, { st, 1, true } };
    cr_assert_eq(submit(d, wb, 2), 1);
    cr_assert_eq(*(uint8_t *)vdrv_ptr(d, st), VIRTIO_BLK_S_OK);

    uint64_t hdr = vdrv_alloc(d, 16, 16), a = vdrv_alloc(d, 512, 16), b = vdrv_alloc(d, 513, 16);
    *(struct virtio_blk_outhdr *)vdrv_ptr(d, hdr) = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 2 };
    struct vdrv_buf rb[] = { { hdr, 16, false }, { a, 512, true }, { b, 513, true } };
    cr_assert_eq(submit(d, rb, 3), 1025);
    uint8_t *pa = vdrv_ptr(d, a), *pb = vdrv_ptr(d, b);
    for (unsigned i = 0; i < 512; i++) {
        cr_assert_eq(pa[i], pattern(2 * 512 + i));
        cr_assert_eq(pb[i], 0xab);
    }
    cr_assert_eq(pb[512], VIRTIO_BLK_S_OK);
    disk_close(&k);
}

Test(virtio_blk, read_only_drive_refuses_writes)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){ .readonly = true });
    cr_assert(k.d.features & (1ull << VIRTIO_BLK_F_RO));
    cr_assert_not(k.d.features & (1ull << VIRTIO_BLK_F_DISCARD));
    uint8_t out[512];
    memset(out, 0, sizeof(out));
    cr_assert_eq(blk_write(&k.d, 0, out, sizeof(out)), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_IOERR);
    cr_assert(image_is_pattern(k.path, 0, IMAGE_SECTORS * 512));
    uint8_t in[512];
    cr_assert_eq(blk_read(&k.d, 0, in, sizeof(in), NULL), VIRTIO_BLK_S_OK);
    cr_assert_eq(in[5], pattern(5));
    disk_close(&k);
}

Test(virtio_blk, out_of_range_is_an_io_error)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    uint8_t buf[1024];
    cr_assert_eq(blk_read(&k.d, IMAGE_SECTORS - 1, buf, 1024, NULL), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(blk_read(&k.d, IMAGE_SECTORS, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(blk_read(&k.d, UINT64_MAX, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(blk_read(&k.d, 0, buf, 100, NULL), VIRTIO_BLK_S_IOERR);   /* not whole sectors */
    memset(buf, 0, sizeof(buf));
    cr_assert_eq(blk_write(&k.d, IMAGE_SECTORS - 1, buf, 1024), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(blk_write(&k.d, UINT64_MAX / 512, buf, 512), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_DISCARD, IMAGE_SECTORS - 4, 8, 0), VIRTIO_BLK_S_IOERR);
    cr_assert(image_is_pattern(k.path, 0, IMAGE_SECTORS * 512));
    disk_close(&k);
}

Test(virtio_blk, get_id_returns_the_serial)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){ .serial = "kiln-disk-7" });
    struct blk_req r = req_alloc(&k.d, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES);
    memset(vdrv_ptr(&k.d, r.data), 'x', VIRTIO_BLK_ID_BYTES);
    uint32_t used;
    cr_assert_eq(run(&k.d, &r, true, &used), VIRTIO_BLK_S_OK);
    cr_assert_eq(used, VIRTIO_BLK_ID_BYTES + 1);
    char id[VIRTIO_BLK_ID_BYTES] = "kiln-disk-7";   /* zero padded */
    cr_assert_arr_eq(vdrv_ptr(&k.d, r.data), id, VIRTIO_BLK_ID_BYTES);
    disk_close(&k);
}

Test(virtio_blk, get_id_of_a_full_length_serial_is_not_terminated)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){ .serial = "ABCDEFGHIJKLMNOPQRST" });
    struct blk_req r = req_alloc(&k.d, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES);
    cr_assert_eq(run(&k.d, &r, true, NULL), VIRTIO_BLK_S_OK);
    cr_assert_arr_eq(vdrv_ptr(&k.d, r.data), "ABCDEFGHIJKLMNOPQRST", VIRTIO_BLK_ID_BYTES);
    disk_close(&k);
}

Test(virtio_blk, flush_ok_and_unknown_type_unsupported)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    struct blk_req f = req_alloc(&k.d, VIRTIO_BLK_T_FLUSH, 0, 0);
    uint32_t used;
    cr_assert_eq(run(&k.d, &f, false, &used), VIRTIO_BLK_S_OK);
    cr_assert_eq(used, 1);
    struct blk_req u = req_alloc(&k.d, 0x1234, 0, 0);
    cr_assert_eq(run(&k.d, &u, false, NULL), VIRTIO_BLK_S_UNSUPP);
    struct blk_req s = req_alloc(&k.d, VIRTIO_BLK_T_SCSI_CMD, 0, 0);
    cr_assert_eq(run(&k.d, &s, false, NULL), VIRTIO_BLK_S_UNSUPP);
    disk_close(&k);
}

Test(virtio_blk, discard_and_write_zeroes_zero_the_range)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    /* discard 4 KiB-aligned sectors 8..15 (the file system punches a hole) */
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_DISCARD, 8, 8, 0), VIRTIO_BLK_S_OK);
    cr_assert(image_is_zero(k.path, 8 * 512, 8 * 512));
    cr_assert(image_is_pattern(k.path, 0, 8 * 512));
    cr_assert(image_is_pattern(k.path, 16 * 512, 512));
    /* write zeroes, unaligned, without and with unmap */
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_WRITE_ZEROES, 33, 3, 0), VIRTIO_BLK_S_OK);
    cr_assert(image_is_zero(k.path, 33 * 512, 3 * 512));
    cr_assert(image_is_pattern(k.path, 32 * 512, 512));
    cr_assert(image_is_pattern(k.path, 36 * 512, 512));
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_WRITE_ZEROES, 50, 20, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
                 VIRTIO_BLK_S_OK);
    cr_assert(image_is_zero(k.path, 50 * 512, 20 * 512));
    cr_assert(image_is_pattern(k.path, 49 * 512, 512));
    cr_assert(image_is_pattern(k.path, 70 * 512, 512));
    /* the file keeps its size */
    struct stat st;
    cr_assert_eq(stat(k.path, &st), 0);
    cr_assert_eq(st.st_size, IMAGE_SECTORS * 512);
    /* unknown flags and the unmap flag on discard are unsupported */
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_WRITE_ZEROES, 80, 1, 2), VIRTIO_BLK_S_UNSUPP);
    cr_assert_eq(blk_zero(&k.d, VIRTIO_BLK_T_DISCARD, 80, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
                 VIRTIO_BLK_S_UNSUPP);
    cr_assert(image_is_pattern(k.path, 80 * 512, 512));
    disk_close(&k);
}

Test(virtio_blk, rate_limit_paces_writes, .timeout = 20)
{
    /* 1 MiB/s: the full bucket lets the first MiB through at once; the next 512 KiB waits
     * half a second for its tokens */
    struct disk k;
    struct disk_options o = { .limit.bandwidth = { .size = 1 << 20, .refill_time_ms = 1000 } };
    disk_open(&k, 4096, o);   /* 2 MiB */
    uint8_t *buf = malloc(1 << 20);
    memset(buf, 0x77, 1 << 20);
    double t0 = vdrv_now_s();
    cr_assert_eq(blk_write(&k.d, 0, buf, 1 << 20), VIRTIO_BLK_S_OK);
    double t1 = vdrv_now_s();
    cr_assert_eq(blk_write(&k.d, 2048, buf, 512 << 10), VIRTIO_BLK_S_OK);
    double t2 = vdrv_now_s();
    cr_assert_lt(t1 - t0, 0.1, "the first MiB waited %.3f s", t1 - t0);
    cr_assert(t2 - t0 > 0.4 && t2 - t0 < 0.6, "512 KiB after 1 MiB took %.3f s, expected 0.5", t2 - t0);
    uint8_t host[512];
    image_read(k.path, (3u << 19) - 512, host, sizeof(host));
    cr_assert_eq(host[0], 0x77);
    cr_assert_eq(host[511], 0x77);
    free(buf);
    disk_close(&k);
}

Test(virtio_blk, ops_limit_queues_requests_without_dropping, .timeout = 20)
{
    /* 10 ops/s, 5 requests submitted at once after the 10-op bucket is spent: all complete, in
     * about half a second */
    struct disk k;
    struct disk_options o = { .limit.ops = { .size = 10, .refill_time_ms = 1000 } };
    disk_open(&k, IMAGE_SECTORS, o);
    for (int i = 0; i < 10; i++) {
        struct blk_req f = req_alloc(&k.d, VIRTIO_BLK_T_FLUSH, 0, 0);
        cr_assert_eq(run(&k.d, &f, false, NULL), VIRTIO_BLK_S_OK);
    }
    double t0 = vdrv_now_s();
    struct blk_req r[5];
    for (int i = 0; i < 5; i++) {
        r[i] = req_alloc(&k.d, VIRTIO_BLK_T_FLUSH, 0, 0);
        struct vdrv_buf bufs[] = { { r[i].hdr, 16, false }, { r[i].status, 1, true } };
        vdrv_add(&k.d, 0, bufs, 2);
    }
    vdrv_kick(&k.d, 0);
    for (int i = 0; i < 5; i++)
        cr_assert(vdrv_wait_used(&k.d, 0, NULL, NULL, 5000));
    double dt = vdrv_now_s() - t0;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(*(uint8_t *)vdrv_ptr(&k.d, r[i].status), VIRTIO_BLK_S_OK);
    cr_assert(dt > 0.4 && dt < 0.6, "5 ops at 10/s took %.3f s", dt);
    disk_close(&k);
}

Test(virtio_blk, reset_drops_a_throttled_request, .timeout = 20)
{
    /* one op per second: a write waits for its token, the driver resets meanwhile; the write
     * must never reach the disk and the re-initialised device must work */
    struct disk k;
    struct disk_options o = { .limit.ops = { .size = 1, .refill_time_ms = 1000 } };
    disk_open(&k, IMAGE_SECTORS, o);
    struct blk_req f = req_alloc(&k.d, VIRTIO_BLK_T_FLUSH, 0, 0);
    cr_assert_eq(run(&k.d, &f, false, NULL), VIRTIO_BLK_S_OK);
    struct blk_req w = req_alloc(&k.d, VIRTIO_BLK_T_OUT, 0, 512);
    memset(vdrv_ptr(&k.d, w.data), 0, 512);
    struct vdrv_buf bufs[] = { { w.hdr, 16, false }, { w.data, 512, false }, { w.status, 1, true } };
    vdrv_add(&k.d, 0, bufs, 3);
    vdrv_kick(&k.d, 0);
    usleep(100 * 1000);
    cr_assert(vdrv_start(&k.d, ~0ull, 1, 64));
    uint8_t buf[512];
    cr_assert_eq(blk_read(&k.d, 0, buf, 512, NULL), VIRTIO_BLK_S_OK);
    cr_assert_eq(buf[0], pattern(0));
    cr_assert(image_is_pattern(k.path, 0, 512));
    cr_assert_eq(*(uint8_t *)vdrv_ptr(&k.d, w.status), 0xee);
    disk_close(&k);
}

static bool wait_needs_reset(struct vdrv *d)
{
    for (int i = 0; i < 1000; i++) {
        if (vdrv_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET)
            return true;
        usleep(1000);
    }
    return false;
}

Test(virtio_blk, looping_chain_breaks_the_device_not_kiln)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    struct vring_desc *desc = vdrv_desc(&k.d, 0);
    struct blk_req r = req_alloc(&k.d, VIRTIO_BLK_T_IN, 0, 512);
    desc[0] = (struct vring_desc){ .addr = r.hdr, .len = 16, .flags = VRING_DESC_F_NEXT, .next = 1 };
    desc[1] = (struct vring_desc){ .addr = r.data, .len = 512, .flags = VRING_DESC_F_NEXT, .next = 0 };
    vdrv_publish(&k.d, 0, 0);
    vdrv_kick(&k.d, 0);
    cr_assert(wait_needs_reset(&k.d));
    /* the driver resets and starts over: the device works again */
    cr_assert(vdrv_start(&k.d, ~0ull, 1, 64));
    cr_assert_eq(vdrv_status(&k.d) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
    uint8_t buf[512];
    cr_assert_eq(blk_read(&k.d, 1, buf, 512, NULL), VIRTIO_BLK_S_OK);
    cr_assert_eq(buf[0], pattern(512));
    disk_close(&k);
}

Test(virtio_blk, request_without_status_byte_breaks_the_device)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    struct blk_req r = req_alloc(&k.d, VIRTIO_BLK_T_OUT, 0, 512);
    struct vdrv_buf bufs[] = { { r.hdr, 16, false }, { r.data, 512, false } };
    vdrv_add(&k.d, 0, bufs, 2);
    vdrv_kick(&k.d, 0);
    cr_assert(wait_needs_reset(&k.d));
    cr_assert(image_is_pattern(k.path, 0, 512));
    disk_close(&k);
}

Test(virtio_blk, short_header_is_an_io_error)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    struct blk_req r = req_alloc(&k.d, VIRTIO_BLK_T_OUT, 0, 0);
    struct vdrv_buf bufs[] = { { r.hdr, 8, false }, { r.status, 1, true } };
    cr_assert_eq(submit(&k.d, bufs, 2), 1);
    cr_assert_eq(*(uint8_t *)vdrv_ptr(&k.d, r.status), VIRTIO_BLK_S_IOERR);
    /* and a request with only a status byte */
    struct vdrv_buf only[] = { { r.status, 1, true } };
    cr_assert_eq(submit(&k.d, only, 1), 1);
    cr_assert_eq(*(uint8_t *)vdrv_ptr(&k.d, r.status), VIRTIO_BLK_S_IOERR);
    cr_assert_eq(vdrv_status(&k.d) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
    disk_close(&k);
}

static struct virtio_mmio *try_open(struct vdrv *d, const char *path, bool ro, char *err, size_t errlen)
{
    struct disk_options o = { .path = path, .readonly = ro };
    return virtio_blk_create(&o, &d->mem, vdrv_irq(d), err, errlen);
}

Test(virtio_blk, image_lock_keeps_a_second_writer_out)
{
    struct disk k;
    disk_open(&k, IMAGE_SECTORS, (struct disk_options){0});
    char err[256] = "";
    cr_assert_null(try_open(&k.d, k.path, false, err, sizeof(err)));
    cr_assert(strstr(err, "locked"), "err: %s", err);
    cr_assert_null(try_open(&k.d, k.path, true, err, sizeof(err)));
    disk_close(&k);
}

Test(virtio_blk, read_only_opens_share_the_image)
{
    char path[64];
    make_image(path, 4096);
    struct vdrv d;
    vdrv_init(&d, RAM_SIZE);
    char err[256] = "";
    struct virtio_mmio *a = try_open(&d, path, true, err, sizeof(err));
    struct virtio_mmio *b = try_open(&d, path, true, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    cr_assert_not_null(b, "%s", err);
    cr_assert_null(try_open(&d, path, false, err, sizeof(err)));
    a->ops->destroy(a);
    b->ops->destroy(b);
    struct virtio_mmio *c = try_open(&d, path, false, err, sizeof(err));
    cr_assert_not_null(c, "lock not released: %s", err);
    c->ops->destroy(c);
    vdrv_fini(&d);
    unlink(path);
}

Test(virtio_blk, bad_images_give_clear_errors)
{
    struct vdrv d;
    vdrv_init(&d, RAM_SIZE);
    char err[256] = "";
    cr_assert_null(try_open(&d, "/nonexistent/kiln.img", false, err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/kiln.img") && strstr(err, "No such file"), "err: %s", err);
    cr_assert_null(try_open(&d, "/tmp", true, err, sizeof(err)));
    cr_assert(strstr(err, "regular file"), "err: %s", err);
    char path[64];
    make_image(path, 100);   /* less than a sector */
    cr_assert_null(try_open(&d, path, false, err, sizeof(err)));
    cr_assert(strstr(err, "smaller than one"), "err: %s", err);
    unlink(path);
    /* a size that is not whole sectors is rounded down */
    make_image(path, 1000);
    struct virtio_mmio *t = try_open(&d, path, false, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    vdrv_attach(&d, t);
    cr_assert_eq(vdrv_config(&d, offsetof(struct virtio_blk_config, capacity), 8), 1);
    vdrv_fini(&d);
    unlink(path);
}
