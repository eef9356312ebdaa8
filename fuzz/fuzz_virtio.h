/* fuzz_virtio.h — shared by the virtio device harnesses (fuzz_blk, _net, _rng, _vsock,
 * _balloon): a guest whose RAM and rings are the input, driving one device the way
 * tests/unit/virtio_driver.h does, but synchronously. The device is created once; its I/O
 * thread is parked (virtio_mmio_pause) and the harness calls the device's own request handling
 * on the fuzzing thread, so each input runs to completion and crashes reproduce. Between inputs
 * the driver resets the device (status 0), as a guest may.
 *
 * Input: a 16-byte header, then guest RAM from its first byte (the rest of RAM is zero):
 *   0-7   the features the driver accepts (ANDed with the device's offer; VERSION_1 always)
 *   8     queue size: 1 << (byte % 5), so 1 to 16 entries
 *   9-15  the queues the device then services, in order (byte % queues; 0xff ends the list);
 *         the harness may read other bits of each byte (fuzz_net: a frame arrives)
 * Ring layout of queue q (guest physical, RAM at 0x8000_0000): descriptors at +q*0x100,
 * avail at +0x400+q*0x40, used at +0x800+q*0x100; buffers anywhere (the seeds use 0x1000+). */
#ifndef KILN_FUZZ_VIRTIO_H
#define KILN_FUZZ_VIRTIO_H
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include "dev/guest_mem.h"
#include "dev/virtio/mmio.h"
#include "fuzz_util.h"

#define FZ_RAM_BASE 0x80000000ull
#define FZ_RAM_SIZE 0x10000u
#define FZ_SLOT 0x10001000ull
#define FZ_HEADER 16

struct fz {
    struct guest_mem mem;
    struct virtio_mmio *t;
    struct mmio_region region;
};

static void fz_irq_set(void *opaque, unsigned n, bool level)
{
    (void)opaque, (void)n, (void)level;
}

static inline struct irq_line fz_irq(void)
{
    return (struct irq_line){ .set = fz_irq_set, .opaque = NULL, .n = 1 };
}

/* Guest RAM: a heap block of exactly its size (ASan sees a byte past it), page aligned. */
static inline void fz_ram(struct fz *f)
{
    f->mem = (struct guest_mem){ .host = aligned_alloc(4096, FZ_RAM_SIZE), .base = FZ_RAM_BASE, .size = FZ_RAM_SIZE };
    if (!f->mem.host)
        abort();
}

static inline void fz_w32(struct fz *f, uint64_t off, uint32_t v)
{
    f->region.write(f->region.opaque, off, v, 4);
}

static inline uint32_t fz_r32(struct fz *f, uint64_t off)
{
    return (uint32_t)f->region.read(f->region.opaque, off, 4);
}

/* The device just created on f->mem: its window, and its I/O thread parked for good. */
static inline void fz_attach(struct fz *f, struct virtio_mmio *t, const char *what, const char *err)
{
    FUZZ_CHECK(t, "cannot create %s: %s", what, err);
    f->t = t;
    f->region = virtio_mmio_region(t, FZ_SLOT);
    virtio_mmio_pause(t);
}

/* Resets the device, loads RAM from the input, negotiates and sets up every queue. Returns
 * false if the input is too short or the device refused the features. */
static inline bool fz_start(struct fz *f, const uint8_t *data, size_t size)
{
    if (size < FZ_HEADER)
        return false;
    fz_w32(f, VIRTIO_MMIO_STATUS, 0);
    memset(f->mem.host, 0, FZ_RAM_SIZE);
    size_t n = size - FZ_HEADER < FZ_RAM_SIZE ? size - FZ_HEADER : FZ_RAM_SIZE;
    memcpy(f->mem.host, data + FZ_HEADER, n);
    uint64_t want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)data[i] << (8 * i);
    fz_w32(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    fz_w32(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    fz_w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t offer = fz_r32(f, VIRTIO_MMIO_DEVICE_FEATURES);
    fz_w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offer |= (uint64_t)fz_r32(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    uint64_t feat = (offer & want) | (1ull << VIRTIO_F_VERSION_1);
    fz_w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    fz_w32(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    fz_w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    fz_w32(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    fz_w32(f, VIRTIO_MMIO_STATUS, s);
    if (!(fz_r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
        return false;
    uint32_t num = 1u << (data[8] % 5);
    for (unsigned q = 0; q < f->t->num_queues; q++) {
        uint64_t desc = FZ_RAM_BASE + q * 0x100, avail = FZ_RAM_BASE + 0x400 + q * 0x40,
                 used = FZ_RAM_BASE + 0x800 + q * 0x100;
        fz_w32(f, VIRTIO_MMIO_QUEUE_SEL, q);
        fz_w32(f, VIRTIO_MMIO_QUEUE_NUM, num);
        fz_w32(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
        fz_w32(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
        fz_w32(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
        fz_w32(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
        fz_w32(f, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
        fz_w32(f, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
        fz_w32(f, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    fz_w32(f, VIRTIO_MMIO_STATUS, s | VIRTIO_CONFIG_S_DRIVER_OK);
    /* the config space, as a driver reads it */
    for (unsigned off = 0; off < f->t->config_len; off += 4)
        f->region.read(f->region.opaque, VIRTIO_MMIO_CONFIG + off, 4);
    return true;
}

/* The queues to service, in the header's order: calls service(q, byte) for each. */
#define FZ_FOR_EACH_KICK(f, data, q, b)                                                   \
    for (unsigned fz_i_ = 9, b = 0, q = 0; fz_i_ < FZ_HEADER && (b = (data)[fz_i_]) != 0xff && \
         ((q = b % (f)->t->num_queues), 1); fz_i_++)

#endif
