/* mmio.c — virtio-mmio version 2 register window (virtio 1.x §4.2.2). */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include "dev/virtio/mmio.h"

#define VIRTIO_MMIO_MAGIC   0x74726976u   /* "virt" */
#define VIRTIO_MMIO_VENDOR  0x4e4c494bu   /* "KILN" */
#define TRANSPORT_FEATURES  ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) | \
                             (1ull << VIRTIO_RING_F_EVENT_IDX))

static void update_irq(struct virtio_mmio *t)
{
    irq_set(&t->irq, t->interrupt_status != 0);
}

void virtio_mmio_set_broken_locked(struct virtio_mmio *t, const char *why)
{
    if (t->broken)
        return;
    t->broken = true;
    fprintf(stderr, "kiln: %s: the guest driver broke the device (%s); it is stopped until "
            "the driver resets it\n", t->ops->name, why);
    t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    if (t->status & VIRTIO_CONFIG_S_DRIVER_OK) {
        t->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
        update_irq(t);
    }
}

void virtio_mmio_set_broken(struct virtio_mmio *t, const char *why)
{
    pthread_mutex_lock(&t->lock);
    virtio_mmio_set_broken_locked(t, why);
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_config_changed_locked(struct virtio_mmio *t)
{
    t->config_generation++;
    if (t->status & VIRTIO_CONFIG_S_DRIVER_OK) {
        t->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
        update_irq(t);
    }
}

static void device_reset(struct virtio_mmio *t)
{
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        virtq_reset(&t->vq[i]);
    t->status = 0;
    t->driver_features = 0;
    t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
    t->interrupt_status = 0;
    t->broken = false;
    t->epoch++;
    update_irq(t);
    if (t->ops->reset)
        t->ops->reset(t);
}

void virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
                      const struct guest_mem *mem, struct irq_line irq, uint64_t device_features)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->ops = ops;
    t->dev = dev;
    t->mem = mem;
    t->irq = irq;
    t->device_features = device_features | TRANSPORT_FEATURES;
    t->num_queues = ops->num_queues;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        t->vq[i].mem = mem;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
    pthread_mutex_destroy(&t->lock);
}

bool virtio_mmio_running(struct virtio_mmio *t)
{
    return (__atomic_load_n(&t->status, __ATOMIC_ACQUIRE) & VIRTIO_CONFIG_S_DRIVER_OK) &&
           !__atomic_load_n(&t->broken, __ATOMIC_RELAXED);
}

bool virtio_mmio_has_feature(struct virtio_mmio *t, unsigned bit)
{
    return (t->driver_features >> bit) & 1;
}

static struct virtq *selected_queue(struct virtio_mmio *t)
{
    return t->queue_sel < t->num_queues ? &t->vq[t->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
    struct virtq *q = selected_queue(t);
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION: return 2;
    case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return t->device_features_sel < 2 ? (uint32_t)(t->device_features >> (32 * t->device_features_sel)) : 0;
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
    case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return t->interrupt_status;
    case VIRTIO_MMIO_STATUS: return t->status;
    case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH: return 0xffffffffu;   /* no shared memory regions */
    }
    return 0;
}

static void set_queue_addr(struct virtq *q, uint64_t *field, bool high, uint32_t v)
{
    if (!q || q->ready)     /* writes to a live queue are ignored, as the spec requires */
        return;
    *field = high ? (*field & 0xffffffffull) | ((uint64_t)v << 32) : (*field & ~0xffffffffull) | v;
}

static void write_status(struct virtio_mmio *t, uint32_t v)
{
    if (v == 0) {
        device_reset(t);
        return;
    }
    uint32_t added = v & ~t->status;
    if (added & VIRTIO_CONFIG_S_FEATURES_OK) {
        /* the driver may only accept what we offered, and a v2 transport needs VERSION_1 */
        if ((t->driver_features & ~t->device_features) || !(t->driver_features & (1ull << VIRTIO_F_VERSION_1)))
            v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
    }
    t->status = (v & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
    if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && (t->status & VIRTIO_CONFIG_S_FEATURES_OK) && t->ops->activate)
        t->ops->activate(t);
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    struct virtq *q = selected_queue(t);
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->device_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->driver_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (t->driver_features_sel < 2 && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
            unsigned shift = 32 * t->driver_features_sel;
            t->driver_features = (t->driver_features & ~(0xffffffffull << shift)) | ((uint64_t)v << shift);
        }
        break;
    case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = v; break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (q && !q->ready)
            q->num = v <= VIRTQ_MAX_SIZE ? (uint16_t)v : 0;
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (!q)
            break;
        if (!v) {
            virtq_reset(q);
        } else if (!q->ready) {
            q->event_idx = virtio_mmio_has_feature(t, VIRTIO_RING_F_EVENT_IDX);
            q->indirect = virtio_mmio_has_feature(t, VIRTIO_RING_F_INDIRECT_DESC);
            if (virtq_enable(q) != 0)
                virtio_mmio_set_broken_locked(t, "a queue's size or ring addresses are invalid");
        }
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: set_queue_addr(q, q ? &q->desc_gpa : NULL, false, v); break;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_queue_addr(q, q ? &q->desc_gpa : NULL, true, v); break;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_queue_addr(q, q ? &q->avail_gpa : NULL, false, v); break;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_queue_addr(q, q ? &q->avail_gpa : NULL, true, v); break;
    case VIRTIO_MMIO_QUEUE_USED_LOW: set_queue_addr(q, q ? &q->used_gpa : NULL, false, v); break;
    case VIRTIO_MMIO_QUEUE_USED_HIGH: set_queue_addr(q, q ? &q->used_gpa : NULL, true, v); break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        t->interrupt_status &= ~v;
        update_irq(t);
        break;
    case VIRTIO_MMIO_STATUS: write_status(t, v); break;
    }
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_mmio *t = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&t->lock);
    if (off >= VIRTIO_MMIO_CONFIG) {
        uint64_t c = off - VIRTIO_MMIO_CONFIG;
        if (c < t->config_len && size <= t->config_len - c)
            memcpy(&v, t->config + c, size);
    } else if (size == 4 && !(off & 3)) {
        v = read_reg(t, off);
    }
    pthread_mutex_unlock(&t->lock);
    return v;
}

static void mmio_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct virtio_mmio *t = opaque;
    pthread_mutex_lock(&t->lock);
    if (off >= VIRTIO_MMIO_CONFIG) {
        uint64_t c = off - VIRTIO_MMIO_CONFIG;
        if (t->ops->config_write && c < t->config_len && size <= t->config_len - c) {
            memcpy(t->config + c, &value, size);
            t->ops->config_write(t, (unsigned)c, size);
        }
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (size != 4 || (off & 3)) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (off == VIRTIO_MMIO_QUEUE_NOTIFY) {
        bool go = value < t->num_queues && t->vq[value].ready &&
                  (t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !t->broken;
        pthread_mutex_unlock(&t->lock);
        if (go)   /* outside the lock: the device's I/O thread may hold it while we wake it */
            t->ops->queue_notify(t, (unsigned)value);
        return;
    }
    write_reg(t, off, (uint32_t)value);
    pthread_mutex_unlock(&t->lock);
}

struct mmio_region virtio_mmio_region(struct virtio_mmio *t, uint64_t base)
{
    return (struct mmio_region){ .name = t->ops->name, .base = base, .size = VIRTIO_MMIO_SLOT_SIZE,
                                 .opaque = t, .read = mmio_read, .write = mmio_write };
}

enum virtq_pop_result virtio_mmio_pop(struct virtio_mmio *t, unsigned q, struct virtq_req *req)
{
    enum virtq_pop_result r = VIRTQ_EMPTY;
    pthread_mutex_lock(&t->lock);
    if ((t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !t->broken && q < t->num_queues) {
        const char *why;
        r = virtq_pop(&t->vq[q], req, &why);
        if (r == VIRTQ_MALFORMED)
            virtio_mmio_set_broken_locked(t, why);
        req->epoch = t->epoch;
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

void virtio_mmio_push_many(struct virtio_mmio *t, unsigned q, struct virtq_req *const *reqs,
                           const uint32_t *written, unsigned n)
{
    pthread_mutex_lock(&t->lock);
    if (n && reqs[0]->epoch == t->epoch && !t->broken && q < t->num_queues && t->vq[q].ready) {
        for (unsigned i = 0; i < n; i++)
            virtq_fill(&t->vq[q], reqs[i], written[i], i);
        virtq_flush(&t->vq[q], n);
        if (virtq_should_notify(&t->vq[q])) {
            t->interrupt_status |= VIRTIO_MMIO_INT_VRING;
            update_irq(t);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_push(struct virtio_mmio *t, unsigned q, const struct virtq_req *req, uint32_t written)
{
    struct virtq_req *one = (struct virtq_req *)req;
    virtio_mmio_push_many(t, q, &one, &written, 1);
}

bool virtio_mmio_enable_notify(struct virtio_mmio *t, unsigned q)
{
    pthread_mutex_lock(&t->lock);
    bool more = q < t->num_queues && !t->broken && virtq_set_notification(&t->vq[q], true);
    pthread_mutex_unlock(&t->lock);
    return more;
}

void virtio_mmio_disable_notify(struct virtio_mmio *t, unsigned q)
{
    pthread_mutex_lock(&t->lock);
    if (q < t->num_queues)
        virtq_set_notification(&t->vq[q], false);
    pthread_mutex_unlock(&t->lock);
}
