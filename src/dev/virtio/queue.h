/* queue.h — split virtqueues (virtio 1.x §2.7) from the device side: take descriptor chains the
 * driver made available, validate every address against guest RAM, and return them used.
 * Indirect descriptors and event-index notification are supported. A malformed ring (loops,
 * addresses outside RAM, bad indices, readable-after-writable buffers) is reported, never
 * followed: the caller marks the device broken. Not thread-safe: the transport serialises. */
#ifndef KILN_DEV_VIRTIO_QUEUE_H
#define KILN_DEV_VIRTIO_QUEUE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "dev/guest_mem.h"

#define VIRTQ_MAX_SIZE 256   /* QueueNumMax offered to drivers; also the longest chain accepted */

struct virtq {
    uint16_t num;            /* ring size (power of two), 0 until configured */
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    const struct guest_mem *mem;
    /* host views of the rings, set by virtq_enable */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t last_avail;     /* next available entry the device will take */
    uint16_t used_idx;       /* device's copy of used->idx */
    uint16_t signalled_used; /* used_idx when the driver was last notified */
    bool signalled_valid;
};

/* One descriptor chain: iov[0..nout) are device-readable, iov[nout..nout+nin) device-writable. */
struct virtq_req {
    uint16_t head;
    uint32_t epoch;          /* transport reset generation when taken (see virtio_mmio_pop) */
    unsigned nout, nin;
    uint64_t out_len, in_len;
    struct iovec iov[VIRTQ_MAX_SIZE];
};

enum virtq_pop_result { VIRTQ_EMPTY = 0, VIRTQ_GOT = 1, VIRTQ_MALFORMED = -1 };

/* Checks the ring addresses (alignment, inside RAM) and maps them. Returns 0 or -1. */
int virtq_enable(struct virtq *q);
void virtq_reset(struct virtq *q);
/* Takes the next available chain. On VIRTQ_MALFORMED, *why says what was wrong. */
enum virtq_pop_result virtq_pop(struct virtq *q, struct virtq_req *req, const char **why);
/* Returns a chain to the driver with `written` bytes written into its writable buffers. */
void virtq_push(struct virtq *q, const struct virtq_req *req, uint32_t written);
/* The same in two steps, for several chains the driver must see at once (a network frame
 * spread over mergeable buffers): fill the used entry `offset` places past the used index,
 * then publish `count` entries. */
void virtq_fill(struct virtq *q, const struct virtq_req *req, uint32_t written, unsigned offset);
void virtq_flush(struct virtq *q, unsigned count);
/* After pushes: does the driver want an interrupt now (event index / NO_INTERRUPT)? */
bool virtq_should_notify(struct virtq *q);
/* Asks the driver to (not) kick us for new buffers. Returns true if buffers arrived meanwhile
 * (call with enable=true before sleeping and re-check the ring when it returns true). */
bool virtq_set_notification(struct virtq *q, bool enable);
bool virtq_has_avail(struct virtq *q);

/* Copy helpers over a request's buffers. Return bytes copied. */
size_t virtq_req_read(const struct virtq_req *req, size_t offset, void *dst, size_t len);
size_t virtq_req_write(const struct virtq_req *req, size_t offset, const void *src, size_t len);

#endif
