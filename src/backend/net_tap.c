/* net_tap.c — a host TAP interface as the guest's wire. The kernel's tun driver speaks the
 * virtio-net header itself (IFF_VNET_HDR), so frames and their offload information pass
 * through unchanged; with no offloads enabled (TUNSETOFFLOAD 0) the header stays all zero.
 *
 * The fd is non-blocking and polled in the device's loop. A full TAP queue on write drops the
 * frame (the network may drop); on read, the device's want_rx leaves frames in the kernel's
 * queue until the guest has room, so the kernel applies its own queue limits. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include "backend/net_backend.h"

#define TAP_MAX_FRAME 65550          /* a 64 KiB IP packet plus Ethernet and VLAN headers */
#define TAP_READS_PER_POLL 32        /* bounded so the device can drain its backlog in between */

struct net_tap {
    struct net_backend be;           /* first: the device holds a struct net_backend * */
    int fd;
    int poll_idx;                    /* our entry in the pollset, -1 if not polled this round */
    uint64_t tx_dropped;
    uint8_t buf[sizeof(struct virtio_net_hdr_v1) + TAP_MAX_FRAME];
};

static int tap_send(struct net_backend *be, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)be;
    struct virtio_net_hdr_v1 zero = { 0 };
    struct iovec iov[2] = {
        { (void *)(hdr ? hdr : &zero), sizeof(zero) },
        { (void *)frame, len },
    };
    ssize_t n;
    do
        n = writev(t->fd, iov, 2);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        t->tx_dropped++;    /* EAGAIN: TAP queue full; EIO: interface down. Both are drops. */
        return -1;
    }
    return 0;
}

static void tap_poll_fill(struct net_backend *be, struct pollset *ps, int *timeout_ms, bool want_rx)
{
    struct net_tap *t = (struct net_tap *)be;
    (void)timeout_ms;
    t->poll_idx = want_rx ? pollset_add(ps, t->fd, POLLIN) : -1;
}

static void tap_poll_dispatch(struct net_backend *be, struct pollset *ps, bool poll_error)
{
    struct net_tap *t = (struct net_tap *)be;
    if (poll_error || t->poll_idx < 0 || (unsigned)t->poll_idx >= ps->n || !(ps->fds[t->poll_idx].revents & POLLIN))
        return;
    const size_t hdr_len = sizeof(struct virtio_net_hdr_v1);
    for (int i = 0; i < TAP_READS_PER_POLL; i++) {
        ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;          /* EAGAIN: drained */
        if ((size_t)n <= hdr_len)
            continue;
        struct virtio_net_hdr_v1 hdr;
        memcpy(&hdr, t->buf, hdr_len);
        be->rx(be->rx_opaque, &hdr, t->buf + hdr_len, (size_t)n - hdr_len);
    }
}

static void tap_destroy(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .name = "tap",
    .send = tap_send,
    .poll_fill = tap_poll_fill,
    .poll_dispatch = tap_poll_dispatch,
    /* no save/restore: a TAP has no state of ours; frames the host sent while the device was
     * paused wait in the kernel's queue (the fd is just not read) */
    .destroy = tap_destroy,
};

struct net_backend *net_tap_create(const char *ifname, net_backend_rx_fn *rx, void *rx_opaque,
                                   char *err, size_t errlen)
{
    if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ) {
        snprintf(err, errlen, "bad TAP interface name '%s' (1 to %d characters)", ifname ? ifname : "", IFNAMSIZ - 1);
        return NULL;
    }
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->be = (struct net_backend){ .ops = &tap_ops, .rx = rx, .rx_opaque = rx_opaque };
    t->poll_idx = -1;
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open TAP %s: /dev/net/tun: %s%s", ifname, strerror(e),
                 e == EACCES || e == EPERM ? " (kiln needs read/write access to /dev/net/tun)" :
                 e == ENOENT ? " (load the tun module: modprobe tun)" : "");
        tap_destroy(&t->be);
        return NULL;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        if (e == EPERM || e == EACCES)
            snprintf(err, errlen, "cannot open TAP %s: %s (create it with: ip tuntap add %s mode tap user $USER; "
                     "ip link set %s up)", ifname, strerror(e), ifname, ifname);
        else if (e == EBUSY)
            snprintf(err, errlen, "cannot open TAP %s: %s (another program holds it)", ifname, strerror(e));
        else
            snprintf(err, errlen, "cannot open TAP %s: %s", ifname, strerror(e));
        tap_destroy(&t->be);
        return NULL;
    }
    int hdr_size = (int)sizeof(struct virtio_net_hdr_v1);
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_size) < 0 || ioctl(t->fd, TUNSETOFFLOAD, 0UL) < 0) {
        snprintf(err, errlen, "cannot set up TAP %s for virtio-net headers: %s", ifname, strerror(errno));
        tap_destroy(&t->be);
        return NULL;
    }
    return &t->be;
}
