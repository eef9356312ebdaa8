/* balloon.h — virtio-balloon: memory balloon: inflated pages are returned to the host (madvise), statistics. */
#ifndef KILN_DEV_VIRTIO_BALLOON_H
#define KILN_DEV_VIRTIO_BALLOON_H
#include <stddef.h>
#include "dev/virtio/mmio.h"
#include "dev/virtio/options.h"

/* Creates the device and starts its I/O thread. Returns its transport (free it with
 * t->ops->destroy(t)), or NULL after writing a one-line reason into err. */
struct virtio_mmio *virtio_balloon_create(const struct balloon_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen);

struct balloon_stats {
    uint32_t target_pages, actual_pages;
    /* from the guest's stats queue (VIRTIO_BALLOON_S_*), UINT64_MAX when not reported */
    uint64_t swap_in, swap_out, major_faults, minor_faults, free_memory, total_memory,
             available_memory, disk_caches, hugetlb_allocations, hugetlb_failures;
};
/* Changes the target (the API's PATCH /balloon). */
void virtio_balloon_set_target(struct virtio_mmio *t, uint32_t amount_mib);
void virtio_balloon_get_stats(struct virtio_mmio *t, struct balloon_stats *out);

/* PATCH /balloon/statistics: a new polling interval (statistics must have been enabled). */
void virtio_balloon_set_stats_interval(struct virtio_mmio *t, uint32_t seconds);

#endif
