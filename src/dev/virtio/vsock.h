/* vsock.h — virtio-vsock: socket device, host side as Firecracker's hybrid vsock: a Unix socket. */
#ifndef KILN_DEV_VIRTIO_VSOCK_H
#define KILN_DEV_VIRTIO_VSOCK_H
#include <stddef.h>
#include "dev/virtio/mmio.h"
#include "dev/virtio/options.h"

/* Creates the device and starts its I/O thread. Returns its transport (free it with
 * t->ops->destroy(t)), or NULL after writing a one-line reason into err. */
struct virtio_mmio *virtio_vsock_create(const struct vsock_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen);

#endif
