/* mmio.h — the virtio-mmio transport, version 2 (virtio 1.x §4.2): the register window a
 * virtio device shows in one of the board's slots. The transport owns feature negotiation,
 * device status, queue setup, interrupts and the config space; a device model (blk, net, ...)
 * fills in a struct virtio_dev_ops and does its work on its own I/O thread with
 * virtio_mmio_pop / virtio_mmio_push, which serialise with the vCPUs through the transport lock.
 *
 * A driver that breaks the rules (a malformed ring, bad queue addresses) does not stop kiln:
 * the device is marked broken (DEVICE_NEEDS_RESET, a config interrupt, one line on stderr) and
 * stops processing until the driver resets it. Other devices carry on. */
#ifndef KILN_DEV_VIRTIO_MMIO_H
#define KILN_DEV_VIRTIO_MMIO_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "dev/guest_mem.h"
#include "dev/irq.h"
#include "dev/mmio.h"
#include "common/persist.h"
#include "dev/virtio/queue.h"

#define VIRTIO_MMIO_SLOT_SIZE 0x1000
#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_CONFIG_MAX 256

struct virtio_mmio;

struct virtio_dev_ops {
    const char *name;              /* for messages: "virtio-blk" */
    uint32_t device_id;            /* VIRTIO_ID_* */
    unsigned num_queues;           /* the default; a device may lower t->num_queues after init */
    /* Called on a vCPU thread when the driver kicks queue q: wake the I/O thread, no I/O here. */
    void (*queue_notify)(struct virtio_mmio *t, unsigned q);
    /* Called with the transport lock held when the driver sets DRIVER_OK. Optional. */
    void (*activate)(struct virtio_mmio *t);
    /* Called with the transport lock held when the driver resets the device (status 0). The
     * queues are already reset; drop per-queue state. Optional. */
    void (*reset)(struct virtio_mmio *t);
    /* Called with the lock held after the driver wrote config[offset, offset+size). Optional:
     * without it the config space is read-only to the driver. */
    void (*config_write)(struct virtio_mmio *t, unsigned offset, unsigned size);
    /* Frees the device (the transport was already stopped). */
    void (*destroy)(struct virtio_mmio *t);
    /* Quiescing for snapshots and migration (see virtio_mmio_pause): park the device's I/O
     * thread at a point between requests, and let it go again. */
    void (*pause)(struct virtio_mmio *t);
    void (*resume)(struct virtio_mmio *t);
    /* The device model's own state (not the transport's), while paused. save must not change
     * the running device; restore runs on a freshly created device before the guest runs.
     * in_flight[q] receives how many chains the device popped from queue q and has not
     * returned yet (e.g. a throttled request): the saved ring rewinds by that many, so the
     * restored device takes them again. Optional (no state, nothing in flight). Both run with
     * the device paused and without the transport lock (take it for fields it guards); save
     * writes one section of its own, restore reads it (and runs after the transport's state
     * and rings are in place). */
    void (*save)(struct virtio_mmio *t, struct persist_writer *w, unsigned in_flight[VIRTIO_MAX_QUEUES]);
    int (*restore)(struct virtio_mmio *t, struct persist_reader *r);
};

struct virtio_mmio {
    pthread_mutex_t lock;
    const struct virtio_dev_ops *ops;
    void *dev;                     /* the device model */
    const struct guest_mem *mem;
    struct irq_line irq;
    unsigned num_queues;           /* queues the driver sees (ops->num_queues unless lowered) */
    uint64_t device_features;      /* device-specific bits; the transport adds the ring bits */
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t status;
    uint32_t interrupt_status;
    uint32_t config_generation;
    uint32_t epoch;                /* bumped on every reset: requests taken before are dropped */
    bool broken;
    struct virtq vq[VIRTIO_MAX_QUEUES];
    uint8_t config[VIRTIO_CONFIG_MAX];  /* device config space, little-endian */
    unsigned config_len;
};

void virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
                      const struct guest_mem *mem, struct irq_line irq, uint64_t device_features);
void virtio_mmio_destroy(struct virtio_mmio *t);
struct mmio_region virtio_mmio_region(struct virtio_mmio *t, uint64_t base);

/* True once the driver set DRIVER_OK and the device is not broken. Lock not needed (a hint). */
bool virtio_mmio_running(struct virtio_mmio *t);
bool virtio_mmio_has_feature(struct virtio_mmio *t, unsigned bit);

/* I/O-thread side. pop: VIRTQ_GOT, VIRTQ_EMPTY (also when the device is not running), or
 * VIRTQ_MALFORMED after marking the device broken. push returns a used chain and raises the
 * interrupt if the driver wants one; a request taken before a reset is silently dropped. */
enum virtq_pop_result virtio_mmio_pop(struct virtio_mmio *t, unsigned q, struct virtq_req *req);
void virtio_mmio_push(struct virtio_mmio *t, unsigned q, const struct virtq_req *req, uint32_t written);
/* Returns n chains that the driver sees all at once or not at all (all taken in one epoch). */
void virtio_mmio_push_many(struct virtio_mmio *t, unsigned q, struct virtq_req *const *reqs,
                           const uint32_t *written, unsigned n);
/* Re-enables driver kicks for queue q; returns true if buffers arrived meanwhile (pop again). */
bool virtio_mmio_enable_notify(struct virtio_mmio *t, unsigned q);
void virtio_mmio_disable_notify(struct virtio_mmio *t, unsigned q);

/* Snapshots and migration. pause parks the device's I/O thread between requests (nothing
 * touches guest memory or the rings until resume); call it after the vCPUs are paused. save
 * writes the transport (registers, queues: indices, not ring memory) and the device's state,
 * and leaves the device as it was; call it while paused. restore loads them into a device just
 * created with the same options (before the vCPUs run) and returns 0, or -1 with the reason in
 * r (then destroy the device: it may be half restored). restore pauses the device and leaves
 * it paused: virtio_mmio_resume lets it run, and it then takes up the rings where the saved
 * device left them (requests in flight at save are taken again). */
void virtio_mmio_pause(struct virtio_mmio *t);
void virtio_mmio_resume(struct virtio_mmio *t);
void virtio_mmio_save(struct virtio_mmio *t, struct persist_writer *w);
int virtio_mmio_restore(struct virtio_mmio *t, struct persist_reader *r);

/* Marks the device broken (lock held or not: use the _locked form inside ops callbacks). */
void virtio_mmio_set_broken(struct virtio_mmio *t, const char *why);
void virtio_mmio_set_broken_locked(struct virtio_mmio *t, const char *why);
/* After changing config[] (with the lock held): new generation and a config interrupt. */
void virtio_mmio_config_changed_locked(struct virtio_mmio *t);

#endif
