/* virtio_driver.h — a tiny virtio driver for unit tests: guest RAM in an anonymous mapping, a
 * device's virtio-mmio window driven through its register callbacks, split rings the test fills
 * with chains, and polling for used entries. It plays the guest's part so device models can be
 * tested without booting a kernel. Header-only (static inline) so each test links what it uses. */
#ifndef KILN_TEST_VIRTIO_DRIVER_H
#define KILN_TEST_VIRTIO_DRIVER_H
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "dev/guest_mem.h"
#include "dev/virtio/mmio.h"

#define VDRV_RAM_BASE 0x80000000ull
#define VDRV_SLOT     0x10001000ull

struct vdrv_queue {
    uint16_t num;
    uint64_t desc, avail, used;   /* guest physical */
    uint16_t avail_idx, last_used, next_desc;
};

struct vdrv {
    struct guest_mem mem;
    uint64_t ram_size, alloc_next;
    struct virtio_mmio *t;
    struct mmio_region region;
    atomic_int irq_level, irq_raises;
    struct vdrv_queue q[VIRTIO_MAX_QUEUES];
    uint64_t features;            /* negotiated */
};

struct vdrv_buf {
    uint64_t gpa;
    uint32_t len;
    bool writable;
};

static void vdrv_irq_set(void *opaque, unsigned n, bool level)
{
    struct vdrv *d = opaque;
    (void)n;
    if (level && !atomic_exchange(&d->irq_level, 1))
        atomic_fetch_add(&d->irq_raises, 1);
    if (!level)
        atomic_store(&d->irq_level, 0);
}

/* Guest RAM of ram_size bytes at VDRV_RAM_BASE; the device is created afterwards with d->mem
 * and vdrv_irq(d), then attached. */
static inline void vdrv_init(struct vdrv *d, uint64_t ram_size)
{
    memset(d, 0, sizeof(*d));
    void *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    d->mem = (struct guest_mem){ .host = ram == MAP_FAILED ? NULL : ram, .base = VDRV_RAM_BASE, .size = ram_size };
    d->ram_size = ram_size;
    d->alloc_next = VDRV_RAM_BASE + 0x1000;   /* keep page 0 unused: a "null" gpa stays invalid-ish */
}

static inline struct irq_line vdrv_irq(struct vdrv *d)
{
    return (struct irq_line){ .set = vdrv_irq_set, .opaque = d, .n = 1 };
}

static inline void vdrv_attach(struct vdrv *d, struct virtio_mmio *t)
{
    d->t = t;
    d->region = virtio_mmio_region(t, VDRV_SLOT);
}

/* Destroys the attached device and frees guest RAM. */
static inline void vdrv_fini(struct vdrv *d)
{
    if (d->t)
        d->t->ops->destroy(d->t);
    d->t = NULL;
    if (d->mem.host)
        munmap(d->mem.host, d->ram_size);
}

static inline uint32_t vdrv_read32(struct vdrv *d, uint64_t off)
{
    return (uint32_t)d->region.read(d->region.opaque, off, 4);
}

static inline void vdrv_write32(struct vdrv *d, uint64_t off, uint32_t v)
{
    d->region.write(d->region.opaque, off, v, 4);
}

/* Config space read of size 1, 2, 4 (or 8 as two 32-bit reads). */
static inline uint64_t vdrv_config(struct vdrv *d, unsigned off, unsigned size)
{
    if (size == 8)
        return vdrv_config(d, off, 4) | (vdrv_config(d, off + 4, 4) << 32);
    return d->region.read(d->region.opaque, VIRTIO_MMIO_CONFIG + off, size);
}

static inline void vdrv_config_write(struct vdrv *d, unsigned off, uint64_t v, unsigned size)
{
    d->region.write(d->region.opaque, VIRTIO_MMIO_CONFIG + off, v, size);
}

static inline uint32_t vdrv_status(struct vdrv *d)
{
    return vdrv_read32(d, VIRTIO_MMIO_STATUS);
}

static inline uint64_t vdrv_alloc(struct vdrv *d, uint64_t size, uint64_t align)
{
    uint64_t gpa = (d->alloc_next + align - 1) & ~(align - 1);
    d->alloc_next = gpa + size;
    return gpa;
}

static inline void *vdrv_ptr(struct vdrv *d, uint64_t gpa)
{
    return d->mem.host + (gpa - VDRV_RAM_BASE);
}

static inline uint64_t vdrv_device_features(struct vdrv *d)
{
    vdrv_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t f = vdrv_read32(d, VIRTIO_MMIO_DEVICE_FEATURES);
    vdrv_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return f | (uint64_t)vdrv_read32(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static inline void vdrv_setup_queue(struct vdrv *d, unsigned qi, uint16_t num)
{
    struct vdrv_queue *q = &d->q[qi];
    memset(q, 0, sizeof(*q));
    q->num = num;
    q->desc = vdrv_alloc(d, 16ull * num, 4096);
    q->avail = vdrv_alloc(d, 6 + 2ull * num, 4096);
    q->used = vdrv_alloc(d, 6 + 8ull * num, 4096);
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_SEL, qi);
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_NUM, num);
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q->avail);
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(q->avail >> 32));
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q->used);
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(q->used >> 32));
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* The whole driver init sequence (§3.1.1): reset, ACKNOWLEDGE, DRIVER, features (wanted ∩
 * offered, plus VERSION_1), FEATURES_OK, nqueues queues of `num` entries, DRIVER_OK.
 * Returns false if the device refused FEATURES_OK. */
static inline bool vdrv_start(struct vdrv *d, uint64_t wanted, unsigned nqueues, uint16_t num)
{
    vdrv_write32(d, VIRTIO_MMIO_STATUS, 0);
    vdrv_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    vdrv_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    d->features = (vdrv_device_features(d) & wanted) | (1ull << VIRTIO_F_VERSION_1);
    vdrv_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    vdrv_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
    vdrv_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vdrv_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    vdrv_write32(d, VIRTIO_MMIO_STATUS, s);
    if (!(vdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK))
        return false;
    for (unsigned i = 0; i < nqueues; i++)
        vdrv_setup_queue(d, i, num);
    vdrv_write32(d, VIRTIO_MMIO_STATUS, s | VIRTIO_CONFIG_S_DRIVER_OK);
    return true;
}

static inline struct vring_desc *vdrv_desc(struct vdrv *d, unsigned qi)
{
    return vdrv_ptr(d, d->q[qi].desc);
}

static inline struct vring_avail *vdrv_avail(struct vdrv *d, unsigned qi)
{
    return vdrv_ptr(d, d->q[qi].avail);
}

static inline struct vring_used *vdrv_used(struct vdrv *d, unsigned qi)
{
    return vdrv_ptr(d, d->q[qi].used);
}

/* Makes descriptor `head` available (no kick). For hand-built (e.g. malicious) chains too. */
static inline void vdrv_publish(struct vdrv *d, unsigned qi, uint16_t head)
{
    struct vdrv_queue *q = &d->q[qi];
    struct vring_avail *a = vdrv_avail(d, qi);
    a->ring[q->avail_idx & (q->num - 1)] = head;
    q->avail_idx++;
    __atomic_store_n(&a->idx, q->avail_idx, __ATOMIC_RELEASE);
}

/* Writes bufs as one chain in consecutive descriptors and publishes it. Returns the head. */
static inline uint16_t vdrv_add(struct vdrv *d, unsigned qi, const struct vdrv_buf *bufs, unsigned n)
{
    struct vdrv_queue *q = &d->q[qi];
    struct vring_desc *desc = vdrv_desc(d, qi);
    uint16_t head = q->next_desc % q->num;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((q->next_desc + i) % q->num);
        desc[idx].addr = bufs[i].gpa;
        desc[idx].len = bufs[i].len;
        desc[idx].flags = (uint16_t)((bufs[i].writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        desc[idx].next = (uint16_t)((idx + 1) % q->num);
    }
    q->next_desc = (uint16_t)((q->next_desc + n) % q->num);
    vdrv_publish(d, qi, head);
    return head;
}

/* Same, through one indirect table placed in guest RAM. */
static inline uint16_t vdrv_add_indirect(struct vdrv *d, unsigned qi, const struct vdrv_buf *bufs, unsigned n)
{
    struct vdrv_queue *q = &d->q[qi];
    uint64_t table_gpa = vdrv_alloc(d, 16ull * n, 16);
    struct vring_desc *table = vdrv_ptr(d, table_gpa);
    for (unsigned i = 0; i < n; i++) {
        table[i].addr = bufs[i].gpa;
        table[i].len = bufs[i].len;
        table[i].flags = (uint16_t)((bufs[i].writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        table[i].next = (uint16_t)(i + 1);
    }
    uint16_t head = q->next_desc % q->num;
    struct vring_desc *desc = vdrv_desc(d, qi);
    desc[head] = (struct vring_desc){ .addr = table_gpa, .len = 16 * n, .flags = VRING_DESC_F_INDIRECT };
    q->next_desc = (uint16_t)((q->next_desc + 1) % q->num);
    vdrv_publish(d, qi, head);
    return head;
}

static inline void vdrv_kick(struct vdrv *d, unsigned qi)
{
    vdrv_write32(d, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/* Waits up to timeout_ms for the next used entry of queue qi. Returns true and its id/len. */
static inline bool vdrv_wait_used(struct vdrv *d, unsigned qi, uint16_t *id, uint32_t *len, int timeout_ms)
{
    struct vdrv_queue *q = &d->q[qi];
    struct vring_used *u = vdrv_used(d, qi);
    for (int waited = 0; waited <= timeout_ms * 10; waited++) {
        if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != q->last_used) {
            struct vring_used_elem e = u->ring[q->last_used & (q->num - 1)];
            q->last_used++;
            /* event index: ask for an interrupt at the next used entry, as Linux does */
            vdrv_avail(d, qi)->ring[q->num] = q->last_used;
            if (id)
                *id = (uint16_t)e.id;
            if (len)
                *len = e.len;
            return true;
        }
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Waits up to timeout_ms until more than `than` interrupts were raised; true if they were. A
 * device thread publishes a used entry before it raises the interrupt for it, so a driver that
 * has just seen the entry may be a moment ahead of the interrupt. */
static inline bool vdrv_wait_irq_raises(struct vdrv *d, int than, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms * 10; waited++) {
        if (atomic_load(&d->irq_raises) > than)
            return true;
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

static inline double vdrv_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
