/* mmio.c — virtio-mmio version 2 register window (virtio 1.x §4.2.2). */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- snapshots and migration */

#define MMIO_STATE_VERSION 1
#define STATUS_KNOWN (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK | \
                      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)
#define INT_KNOWN (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)

void virtio_mmio_pause(struct virtio_mmio *t)
{
    if (t->ops->pause)
        t->ops->pause(t);
}

void virtio_mmio_resume(struct virtio_mmio *t)
{
    if (t->ops->resume)
        t->ops->resume(t);
}

/* last_avail is rewound by the chains the device holds, so the restored device takes them
 * again from the (separately saved) avail ring: they are taken in order, so they are the
 * last `in_flight` entries before last_avail. */
static void save_queue(const struct virtq *q, struct persist_writer *w, unsigned in_flight)
{
    persist_u16(w, q->num);
    persist_bool(w, q->ready);
    persist_u64(w, q->desc_gpa);
    persist_u64(w, q->avail_gpa);
    persist_u64(w, q->used_gpa);
    persist_u16(w, (uint16_t)(q->last_avail - in_flight));
    persist_u16(w, q->used_idx);
    persist_u16(w, q->signalled_used);
    persist_bool(w, q->signalled_valid);
    persist_bool(w, q->event_idx);
    persist_bool(w, q->indirect);
}

static void save_transport_locked(struct virtio_mmio *t, struct persist_writer *w,
                                  const unsigned in_flight[VIRTIO_MAX_QUEUES])
{
    persist_begin(w, "virtio-mmio", MMIO_STATE_VERSION);
    persist_u32(w, t->ops->device_id);
    persist_u64(w, t->device_features);
    persist_u64(w, t->driver_features);
    persist_u32(w, t->device_features_sel);
    persist_u32(w, t->driver_features_sel);
    persist_u32(w, t->queue_sel);
    persist_u32(w, t->status);
    persist_u32(w, t->interrupt_status);
    persist_u32(w, t->config_generation);
    persist_bool(w, t->broken);
    persist_blob(w, t->config, t->config_len);
    persist_u32(w, t->num_queues);
    for (unsigned i = 0; i < t->num_queues; i++)
        save_queue(&t->vq[i], w, in_flight[i]);
    persist_end(w);
}

void virtio_mmio_save(struct virtio_mmio *t, struct persist_writer *w)
{
    /* the device reports what it holds before the queues are written: its section goes to a
     * scratch writer first and follows the transport's */
    unsigned in_flight[VIRTIO_MAX_QUEUES] = { 0 };
    struct persist_writer dev;
    persist_writer_init(&dev);
    if (t->ops->save)
        t->ops->save(t, &dev, in_flight);
    pthread_mutex_lock(&t->lock);
    save_transport_locked(t, w, in_flight);
    pthread_mutex_unlock(&t->lock);
    if (!persist_writer_ok(&dev))
        w->oom = true;
    else if (dev.len)
        persist_bytes(w, dev.buf, dev.len);
    persist_writer_free(&dev);
}

/* The transport as read from a snapshot, applied only once all of it checked out. */
struct mmio_state {
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t status, interrupt_status, config_generation;
    bool broken;
    uint8_t config[VIRTIO_CONFIG_MAX];
    struct virtq vq[VIRTIO_MAX_QUEUES];
};

static int load_queue(struct virtio_mmio *t, struct persist_reader *r, unsigned i, struct virtq *q)
{
    virtq_reset(q);
    q->mem = t->mem;
    q->num = persist_get_u16(r);
    bool ready = persist_get_bool(r);
    q->desc_gpa = persist_get_u64(r);
    q->avail_gpa = persist_get_u64(r);
    q->used_gpa = persist_get_u64(r);
    uint16_t last_avail = persist_get_u16(r), used_idx = persist_get_u16(r);
    uint16_t signalled_used = persist_get_u16(r);
    bool signalled_valid = persist_get_bool(r);
    q->event_idx = persist_get_bool(r);
    q->indirect = persist_get_bool(r);
    if (!persist_ok(r))
        return -1;
    if (q->num > VIRTQ_MAX_SIZE || (q->num & (q->num - 1)))
        return persist_fail(r, "%s: queue %u has a bad size (%u)", t->ops->name, i, q->num);
    if (!ready)
        return 0;
    if (virtq_enable(q) != 0)   /* maps the rings, resets the indices */
        return persist_fail(r, "%s: queue %u: ring addresses are misaligned or outside guest RAM",
                            t->ops->name, i);
    if ((uint16_t)(last_avail - used_idx) > q->num)
        return persist_fail(r, "%s: queue %u: more chains outstanding than the ring holds", t->ops->name, i);
    q->last_avail = last_avail;
    q->used_idx = used_idx;
    q->signalled_used = signalled_used;
    q->signalled_valid = signalled_valid;
    return 0;
}

/* Checks what the fresh device cannot take: another device, other options, impossible values. */
static int check_state(struct virtio_mmio *t, struct persist_reader *r, const struct mmio_state *s)
{
    const char *name = t->ops->name;
    if (s->driver_features & ~t->device_features)
        return persist_fail(r, "%s: the driver's features were not offered (created with other options?)", name);
    if (s->status & ~(uint32_t)STATUS_KNOWN)
        return persist_fail(r, "%s: unknown device status bits 0x%x", name, s->status);
    if ((s->status & VIRTIO_CONFIG_S_FEATURES_OK) && !(s->driver_features & (1ull << VIRTIO_F_VERSION_1)))
        return persist_fail(r, "%s: FEATURES_OK without VERSION_1", name);
    if ((s->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(s->status & VIRTIO_CONFIG_S_FEATURES_OK))
        return persist_fail(r, "%s: DRIVER_OK without FEATURES_OK", name);
    if (s->interrupt_status & ~(uint32_t)INT_KNOWN)
        return persist_fail(r, "%s: unknown interrupt status bits 0x%x", name, s->interrupt_status);
    for (unsigned i = 0; i < t->num_queues; i++) {
        const struct virtq *q = &s->vq[i];
        if ((q->event_idx && !(s->driver_features & (1ull << VIRTIO_RING_F_EVENT_IDX))) ||
            (q->indirect && !(s->driver_features & (1ull << VIRTIO_RING_F_INDIRECT_DESC))))
            return persist_fail(r, "%s: queue %u uses ring features the driver did not accept", name, i);
    }
    return 0;
}

static int load_transport(struct virtio_mmio *t, struct persist_reader *r, struct mmio_state *s)
{
    if (persist_open(r, "virtio-mmio", MMIO_STATE_VERSION) != 0)
        return -1;
    uint32_t id = persist_get_u32(r);
    (void)persist_get_u64(r);   /* device features: what matters is the driver's subset, below */
    s->driver_features = persist_get_u64(r);
    s->device_features_sel = persist_get_u32(r);
    s->driver_features_sel = persist_get_u32(r);
    s->queue_sel = persist_get_u32(r);
    s->status = persist_get_u32(r);
    s->interrupt_status = persist_get_u32(r);
    s->config_generation = persist_get_u32(r);
    s->broken = persist_get_bool(r);
    size_t config_len = 0;
    const void *config = persist_get_blob(r, VIRTIO_CONFIG_MAX, &config_len);
    uint32_t nq = persist_get_u32(r);
    if (!persist_ok(r))
        return -1;
    if (id != t->ops->device_id)
        return persist_fail(r, "%s: the snapshot holds device id %u, not %u", t->ops->name, id, t->ops->device_id);
    if (config_len != t->config_len)
        return persist_fail(r, "%s: config space of %zu bytes, expected %u", t->ops->name, config_len, t->config_len);
    if (nq != t->num_queues)
        return persist_fail(r, "%s: %u queues, expected %u (created with other options?)", t->ops->name, nq, t->num_queues);
    memcpy(s->config, config, config_len);
    for (unsigned i = 0; i < nq; i++)
        if (load_queue(t, r, i, &s->vq[i]) != 0)
            return -1;
    if (persist_close(r) != 0)
        return -1;
    return check_state(t, r, s);
}

static void apply_state_locked(struct virtio_mmio *t, const struct mmio_state *s)
{
    t->driver_features = s->driver_features;
    t->device_features_sel = s->device_features_sel;
    t->driver_features_sel = s->driver_features_sel;
    t->queue_sel = s->queue_sel;
    t->status = s->status;
    t->interrupt_status = s->interrupt_status;
    t->config_generation = s->config_generation;
    t->broken = s->broken;
    memcpy(t->config, s->config, t->config_len);
    for (unsigned i = 0; i < t->num_queues; i++)
        t->vq[i] = s->vq[i];
    update_irq(t);
}

/* The device must look at its rings again: activate it as the driver's DRIVER_OK did, and
 * kick every ready queue (the kicks wait in the paused thread's eventfd until resume). */
static void wake_device(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    bool running = (t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !t->broken;
    if (running && t->ops->activate)
        t->ops->activate(t);
    pthread_mutex_unlock(&t->lock);
    for (unsigned i = 0; i < t->num_queues && running; i++)
        if (t->vq[i].ready)
            t->ops->queue_notify(t, i);
}

int virtio_mmio_restore(struct virtio_mmio *t, struct persist_reader *r)
{
    /* the fresh device's thread must not look at state while we replace it */
    virtio_mmio_pause(t);
    struct mmio_state *s = calloc(1, sizeof(*s));
    if (!s)
        return persist_fail(r, "%s: out of memory", t->ops->name);
    int rc = load_transport(t, r, s);
    if (rc == 0) {
        pthread_mutex_lock(&t->lock);
        apply_state_locked(t, s);
        pthread_mutex_unlock(&t->lock);
    }
    free(s);
    if (rc == 0 && t->ops->restore)
        rc = t->ops->restore(t, r);
    if (rc == 0)
        wake_device(t);
    return rc;
}
