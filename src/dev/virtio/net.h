/* net.h — virtio-net: network device over a user-mode (libslirp NAT) or TAP backend, with rx/tx rate limits. */
#ifndef KILN_DEV_VIRTIO_NET_H
#define KILN_DEV_VIRTIO_NET_H
#include <stddef.h>
#include "dev/virtio/mmio.h"
#include "dev/virtio/options.h"

/* Creates the device and starts its I/O thread. Returns its transport (free it with
 * t->ops->destroy(t)), or NULL after writing a one-line reason into err. */
struct virtio_mmio *virtio_net_create(const struct net_options *opts, const struct guest_mem *mem,
                                       struct irq_line irq, char *err, size_t errlen);

/* PATCH /network-interfaces: new rx and/or tx rate limiters (NULL: keep). */
void virtio_net_update_limits(struct virtio_mmio *t, const struct rate_limiter_config *rx,
                              const struct rate_limiter_config *tx);

#endif
