/* rng.h — virtio-rng: entropy device fed by the host's getrandom, with a rate limit. */
#ifndef KILN_DEV_VIRTIO_RNG_H
#define KILN_DEV_VIRTIO_RNG_H
#include <stddef.h>
#include "dev/virtio/mmio.h"
#include "dev/virtio/options.h"

/* Creates the device and starts its I/O thread. Returns its transport (free it with
 * t->ops->destroy(t)), or NULL after writing a one-line reason into err. */
struct virtio_mmio *virtio_rng_create(const struct rng_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen);

#endif
