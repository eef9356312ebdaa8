/* blk.h — virtio-blk: block device over a raw image file (read-only drives, flush, discard/write-zeroes, serial id, rate limit); requests run on the device's I/O thread. */
#ifndef KILN_DEV_VIRTIO_BLK_H
#define KILN_DEV_VIRTIO_BLK_H
#include <stddef.h>
#include "dev/virtio/mmio.h"
#include "dev/virtio/options.h"

/* Creates the device and starts its I/O thread. Returns its transport (free it with
 * t->ops->destroy(t)), or NULL after writing a one-line reason into err. */
struct virtio_mmio *virtio_blk_create(const struct disk_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen);

/* PATCH /drives: swaps the backing file (NULL: keep; the guest sees the new capacity through a
 * config-change interrupt) and/or the rate limiter (NULL: keep). Returns 0 or -1 with err. */
int virtio_blk_update(struct virtio_mmio *t, const char *path, const struct rate_limiter_config *limit,
                      char *err, size_t errlen);

/* Live migration, with the device paused: release_image flushes the image to disk and drops
 * the lock, so the destination can open and lock it; returns 0 or -1 with errno. If the
 * migration fails, reacquire_image locks it again before the guest goes on (returns 0, or -1
 * with err, e.g. when the destination still holds it). */
int virtio_blk_release_image(struct virtio_mmio *t);
int virtio_blk_reacquire_image(struct virtio_mmio *t, char *err, size_t errlen);

#endif
