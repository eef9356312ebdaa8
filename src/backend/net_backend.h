/* net_backend.h — where a virtio-net device's Ethernet frames go: libslirp's user-mode NAT
 * (net_slirp.c) or a host TAP interface (net_tap.c).
 *
 * A backend has no thread of its own: it lives inside the device's I/O thread loop. Each loop
 * iteration the device asks the backend for the descriptors it wants polled (poll_fill appends
 * them to a shared pollset and may shorten the poll timeout), sleeps in poll(), then hands the
 * results back (poll_dispatch). Received frames are delivered through the rx callback, from
 * inside poll_dispatch or send (slirp answers ARP/DHCP synchronously). Everything, including
 * create and destroy, happens on one thread at a time: backends are not thread-safe.
 *
 * Frames are plain Ethernet frames (no FCS). The virtio-net header travels next to the frame
 * so a backend that understands offloads (TAP with IFF_VNET_HDR) can pass them through; a NULL
 * header means "no offload information" (all zero). */
#ifndef KILN_BACKEND_NET_BACKEND_H
#define KILN_BACKEND_NET_BACKEND_H
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "common/persist.h"
#include "dev/virtio/options.h"

/* The descriptors one poll() call waits on: the device's own first, then the backend's. */
struct pollset {
    struct pollfd *fds;
    unsigned n, cap;
};

/* Appends fd; returns its index, or -1 when out of memory (the fd is then not polled). */
static inline int pollset_add(struct pollset *ps, int fd, short events)
{
    if (ps->n == ps->cap) {
        unsigned cap = ps->cap ? 2 * ps->cap : 16;
        struct pollfd *fds = realloc(ps->fds, cap * sizeof(*fds));
        if (!fds)
            return -1;
        ps->fds = fds;
        ps->cap = cap;
    }
    ps->fds[ps->n] = (struct pollfd){ .fd = fd, .events = events };
    return (int)ps->n++;
}

/* Called for every frame from the network to the guest. `hdr` may be NULL (no offload info).
 * The frame is only valid during the call: copy it. */
typedef void net_backend_rx_fn(void *opaque, const struct virtio_net_hdr_v1 *hdr,
                               const uint8_t *frame, size_t len);

struct net_backend;

struct net_backend_ops {
    const char *name;   /* for messages: "user", "tap" */
    /* Sends one frame to the network. Returns 0, or -1 if it was dropped (a full TAP queue,
     * a down interface): the network may drop frames, the device carries on. */
    int (*send)(struct net_backend *be, const struct virtio_net_hdr_v1 *hdr,
                const uint8_t *frame, size_t len);
    /* Appends the descriptors to poll to ps and lowers *timeout_ms (-1 = infinite) if the
     * backend has timers. want_rx false asks the backend not to read frames for the guest
     * (the device's backlog is full): it stops polling for input where it can. */
    void (*poll_fill)(struct net_backend *be, struct pollset *ps, int *timeout_ms, bool want_rx);
    /* After poll() (poll_error: it failed): handles the revents of what poll_fill added and
     * runs expired timers. */
    void (*poll_dispatch)(struct net_backend *be, struct pollset *ps, bool poll_error);
    /* Snapshots, while the device's thread is parked (so the backend is idle): save appends
     * the backend's state to the device's open section; restore reads it back into a backend
     * just created with the same options and returns 0, or -1 with the reason in r. Both
     * optional (NULL: nothing to save, as for a TAP, whose frames in the kernel's queues stay
     * there). */
    void (*save)(struct net_backend *be, struct persist_writer *w);
    int (*restore)(struct net_backend *be, struct persist_reader *r);
    void (*destroy)(struct net_backend *be);
};

struct net_backend {
    const struct net_backend_ops *ops;
    net_backend_rx_fn *rx;
    void *rx_opaque;
};

/* User-mode networking like QEMU's -netdev user: 10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3,
 * DHCP from 10.0.2.15, IPv6 fec0::/64; opts->hostfwd become listening host ports. The host's
 * loopback services are reachable through 10.0.2.2 only with opts->host_loopback. Returns NULL
 * with a one-line reason in err (e.g. a host port that cannot be bound). */
struct net_backend *net_slirp_create(const struct net_options *opts, net_backend_rx_fn *rx,
                                     void *rx_opaque, char *err, size_t errlen);

/* Attaches to the host TAP interface `ifname` (created if we may, else it must exist and be
 * ours). Returns NULL with a one-line reason in err. */
struct net_backend *net_tap_create(const char *ifname, net_backend_rx_fn *rx, void *rx_opaque,
                                   char *err, size_t errlen);

#endif
