/* vm_build.c — a resource model becomes a vm_config: the single build for every front end. */
#include <stdio.h>
#include <string.h>
#include "common/errmsg.h"
#include "vm/device_args.h"
#include "vm/vm_build.h"


bool vm_is_user_net(const char *host_dev_name)
{
    return !strncmp(host_dev_name, "user", 4) && (host_dev_name[4] == 0 || host_dev_name[4] == ',');
}

void vm_format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int vm_net_options_of(const struct vmm_net *n, unsigned index, char *buf, size_t bufsize,
                      struct net_options *o, char *err, size_t errlen)
{
    if (vm_is_user_net(n->host_dev_name)) {
        snprintf(buf, bufsize, "%s", n->host_dev_name);
        char perr[384];
        if (parse_net_arg(buf, index, o, perr, sizeof(perr)) != 0)
            return errmsg(err, errlen, "Invalid host_dev_name '%s': %s", n->host_dev_name, perr);
    } else {
        /* A TAP name is taken as is, not through parse_net_arg: "tap=" + a name with a comma
         * would split. index still picks the default MAC, as on the command line. */
        char tap[32];
        snprintf(tap, sizeof(tap), "tap=x");
        if (parse_net_arg(tap, index, o, err, errlen) != 0)
            return -1;
        o->backend = NET_TAP;
        o->tap = n->host_dev_name;
    }
    if (n->has_mac)
        memcpy(o->mac, n->guest_mac, 6);
    if (n->has_rx_rate_limiter)
        o->rx_limit = n->rx_rate_limiter;
    if (n->has_tx_rate_limiter)
        o->tx_limit = n->tx_rate_limiter;
    return 0;
}

int vm_config_build(const struct vmm_config *r, struct vm_config *c, struct vm_build_bufs *bufs,
                    char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->cpus = r->machine.vcpu_count;
    c->mem_mib = r->machine.mem_size_mib;
    c->cpu_quota_us = r->cpu_limit.quota_us;
    c->cpu_period_us = r->cpu_limit.period_us;
    c->vcpu_priority = (int)r->cpu_limit.vcpu_priority;
    c->kernel = r->boot.kernel_image_path;
    c->initrd = *r->boot.initrd_path ? r->boot.initrd_path : NULL;

    /* the root drive goes first so it is /dev/vda; the others keep the order they came in */
    int root = -1;
    for (unsigned i = 0; i < r->ndrives; i++)
        if (r->drives[i].is_root_device)
            root = (int)i;
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < r->ndrives; i++) {
            if ((pass == 0) != ((int)i == root))
                continue;
            const struct vmm_drive *d = &r->drives[i];
            struct disk_options *o = &c->disks[c->ndisks++];
            o->path = d->path_on_host;
            o->readonly = d->is_read_only;
            /* the serial is the drive's id unless one was given (kiln run's serial=); the device
             * keeps the first 20 bytes, as Firecracker */
            o->serial = *d->serial ? d->serial : d->drive_id;
            o->id = d->drive_id;
            if (d->has_rate_limiter)
                o->limit = d->rate_limiter;
        }

    const char *args = *r->boot.boot_args ? r->boot.boot_args : KILN_DEFAULT_CMDLINE;
    if (root < 0)
        snprintf(bufs->cmdline, sizeof(bufs->cmdline), "%s", args);
    else if (*r->drives[root].partuuid)
        snprintf(bufs->cmdline, sizeof(bufs->cmdline), "%s root=PARTUUID=%s %s", args, r->drives[root].partuuid,
                 r->drives[root].is_read_only ? "ro" : "rw");
    else
        snprintf(bufs->cmdline, sizeof(bufs->cmdline), "%s root=/dev/vda %s", args,
                 r->drives[root].is_read_only ? "ro" : "rw");
    c->cmdline = bufs->cmdline;

    for (unsigned i = 0; i < r->nnets; i++) {
        if (vm_net_options_of(&r->nets[i], i, bufs->net_args[i], sizeof(bufs->net_args[i]), &c->nets[i], err, errlen))
            return -1;
        c->nets[i].id = r->nets[i].iface_id;
        /* default MACs (52:54:00:12:34:56 + index) can meet an explicit one only here */
        for (unsigned j = 0; j < i; j++)
            if (!memcmp(c->nets[j].mac, c->nets[i].mac, 6)) {
                char mac[18];
                vm_format_mac(c->nets[i].mac, mac);
                return errmsg(err, errlen, "The guest MAC address %s is already in use (interfaces '%s' "
                            "and '%s').", mac, r->nets[j].iface_id, r->nets[i].iface_id);
            }
    }
    c->nnets = r->nnets;
    if (r->entropy.set) {
        c->has_rng = true;
        if (r->entropy.has_rate_limiter)
            c->rng.limit = r->entropy.rate_limiter;
    }
    if (r->vsock.set) {
        c->has_vsock = true;
        c->vsock.guest_cid = r->vsock.guest_cid;
        c->vsock.uds_path = r->vsock.uds_path;
    }
    if (r->balloon.set) {
        c->has_balloon = true;
        c->balloon.amount_mib = r->balloon.amount_mib;
        c->balloon.deflate_on_oom = r->balloon.deflate_on_oom;
        c->balloon.stats_polling_s = r->balloon.stats_polling_interval_s;
    }
    return 0;
}
