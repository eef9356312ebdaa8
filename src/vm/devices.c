/* devices.c — virtio device creation from a vm_config, and the registry that finds them again. */
#include <stdio.h>
#include <string.h>
#include "dev/virtio/balloon.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/net.h"
#include "dev/virtio/rng.h"
#include "dev/virtio/vsock.h"
#include "vm/devices.h"

/* The table's create takes any kind's options; each kind's create takes its own. */
#define CREATE_FROM(fn, opts_type)                                                                  \
    static struct virtio_mmio *fn##_row(const void *o, const struct guest_mem *mem, struct irq_line irq, \
                                        char *err, size_t errlen)                                   \
    {                                                                                               \
        return fn((const opts_type *)o, mem, irq, err, errlen);                                     \
    }
CREATE_FROM(virtio_blk_create, struct disk_options)
CREATE_FROM(virtio_net_create, struct net_options)
CREATE_FROM(virtio_rng_create, struct rng_options)
CREATE_FROM(virtio_vsock_create, struct vsock_options)
CREATE_FROM(virtio_balloon_create, struct balloon_options)

/* A bad image is the user's file (66); the other kinds fail on host resources (71). The
 * metrics groups are the names the devices register (Firecracker's). */
static const struct vm_device_kind_info kinds[VM_DEV_KINDS] = {
    [VM_DEV_DRIVE] = { "drive", "block_", true, virtio_blk_create_row, KILN_EXIT_NO_INPUT },
    [VM_DEV_NET] = { "net", "net_", true, virtio_net_create_row, KILN_EXIT_HOST },
    [VM_DEV_RNG] = { "rng", "entropy", false, virtio_rng_create_row, KILN_EXIT_HOST },
    [VM_DEV_VSOCK] = { "vsock", "vsock", false, virtio_vsock_create_row, KILN_EXIT_HOST },
    [VM_DEV_BALLOON] = { "balloon", "balloon", false, virtio_balloon_create_row, KILN_EXIT_HOST },
};

const struct vm_device_kind_info *vm_device_kind_info(enum vm_device_kind kind)
{
    return kind < VM_DEV_KINDS ? &kinds[kind] : NULL;
}

void vm_device_metrics_group(const struct vm_device *d, char *buf, size_t size)
{
    const struct vm_device_kind_info *k = &kinds[d->kind];
    snprintf(buf, size, "%s%s", k->metrics_group, k->per_id ? d->id : "");
}

/* what: the device as the user named it, for the error message */
static int attach(struct virt_board *b, struct vm_devices *out, enum vm_device_kind kind, const char *id,
                  const char *what, const void *opts)
{
    const struct vm_device_kind_info *k = &kinds[kind];
    struct irq_line irq;
    char err[512] = "";
    if (out->n == KILN_MAX_VIRTIO || !virt_next_virtio_irq(b, &irq)) {
        fprintf(stderr, "kiln: no free virtio slot for %s\n", what);
        return KILN_EXIT_USAGE;
    }
    struct virtio_mmio *t = k->create(opts, &b->mem, irq, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "kiln: %s: %s\n", what, err);
        return k->fail_status;
    }
    virt_attach_virtio(b, t);
    struct vm_device *d = &out->dev[out->n++];
    d->kind = kind;
    snprintf(d->id, sizeof(d->id), "%s", id ? id : k->name);
    d->t = t;
    return 0;
}

int vm_create_devices(struct virt_board *b, const struct vm_config *cfg, struct vm_devices *out)
{
    int rc;
    char id[16];
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        struct disk_options o = cfg->disks[i];
        snprintf(id, sizeof(id), "vd%c", 'a' + i);   /* command-line disks have no id: name them */
        if (!o.id)
            o.id = id;
        if ((rc = attach(b, out, VM_DEV_DRIVE, o.id, o.path, &o)))
            return rc;
    }
    for (unsigned i = 0; i < cfg->nnets; i++) {
        struct net_options o = cfg->nets[i];
        snprintf(id, sizeof(id), "eth%u", i);
        if (!o.id)
            o.id = id;
        if ((rc = attach(b, out, VM_DEV_NET, o.id, "network", &o)))
            return rc;
    }
    if (cfg->has_rng && (rc = attach(b, out, VM_DEV_RNG, NULL, "rng", &cfg->rng)))
        return rc;
    if (cfg->has_vsock && (rc = attach(b, out, VM_DEV_VSOCK, NULL, "vsock", &cfg->vsock)))
        return rc;
    if (cfg->has_balloon && (rc = attach(b, out, VM_DEV_BALLOON, NULL, "balloon", &cfg->balloon)))
        return rc;
    return 0;
}

struct virtio_mmio *vm_devices_find(const struct vm_devices *d, enum vm_device_kind kind, const char *id)
{
    for (unsigned i = 0; i < d->n; i++)
        if (d->dev[i].kind == kind && (!id || !strcmp(d->dev[i].id, id)))
            return d->dev[i].t;
    return NULL;
}
