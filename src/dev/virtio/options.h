/* options.h — what the user asked for each virtio device (from the command line, and later the
 * API). Validated by the parser; the device models trust it. */
#ifndef KILN_DEV_VIRTIO_OPTIONS_H
#define KILN_DEV_VIRTIO_OPTIONS_H
#include <stdbool.h>
#include <stdint.h>
#include "backend/rate_limiter.h"

#define KILN_MAX_HOSTFWD 8

struct disk_options {
    const char *id;                     /* names its metrics group "block_<id>" */
    const char *path;
    bool readonly;
    const char *serial;                 /* VIRTIO_BLK_ID_BYTES (20) at most; NULL: none */
    struct rate_limiter_config limit;
};

enum net_backend_kind { NET_USER, NET_TAP };

struct hostfwd {
    bool udp;
    char host_addr[64];                 /* "" means 127.0.0.1 */
    uint16_t host_port;
    char guest_addr[64];                /* "" means the DHCP address slirp hands out */
    uint16_t guest_port;
};

struct net_options {
    const char *id;                     /* names its metrics group "net_<id>" */
    enum net_backend_kind backend;
    const char *tap;                    /* NET_TAP: interface name */
    uint8_t mac[6];
    unsigned nhostfwd;
    struct hostfwd hostfwd[KILN_MAX_HOSTFWD];
    /* NET_USER: 10.0.2.2 (fec0::2) reaches services bound to the host's loopback. Off by
     * default: those are often meant for the host's own users only (a sandbox escape). */
    bool host_loopback;
    struct rate_limiter_config rx_limit, tx_limit;
};

struct vsock_options {
    uint32_t guest_cid;                 /* >= 3 */
    const char *uds_path;               /* host side: Firecracker's hybrid vsock socket */
};

struct rng_options {
    struct rate_limiter_config limit;
};

struct balloon_options {
    uint32_t amount_mib;                /* initial target size of the balloon */
    bool deflate_on_oom;
    uint32_t stats_polling_s;           /* 0: statistics off */
};

#endif
