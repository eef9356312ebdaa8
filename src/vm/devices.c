/* devices.c — virtio device creation from a vm_config. */
#include <stdio.h>
#include "dev/virtio/balloon.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/net.h"
#include "dev/virtio/rng.h"
#include "dev/virtio/vsock.h"
#include "vm/devices.h"

enum kind { DISK, NET, RNG, VSOCK, BALLOON };

static struct virtio_mmio *create(enum kind kind, const void *opts, const struct guest_mem *mem,
                                  struct irq_line irq, char *err, size_t errlen)
{
    switch (kind) {
    case DISK: return virtio_blk_create(opts, mem, irq, err, errlen);
    case NET: return virtio_net_create(opts, mem, irq, err, errlen);
    case RNG: return virtio_rng_create(opts, mem, irq, err, errlen);
    case VSOCK: return virtio_vsock_create(opts, mem, irq, err, errlen);
    case BALLOON: return virtio_balloon_create(opts, mem, irq, err, errlen);
    }
    return NULL;
}

static int attach(struct virt_board *b, const char *what, enum kind kind, const void *opts, int fail_status)
{
    struct irq_line irq;
    char err[512] = "";
    if (!virt_next_virtio_irq(b, &irq)) {
        fprintf(stderr, "kiln: no free virtio slot for %s\n", what);
        return KILN_EXIT_USAGE;
    }
    struct virtio_mmio *t = create(kind, opts, &b->mem, irq, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "kiln: %s: %s\n", what, err);
        return fail_status;
    }
    virt_attach_virtio(b, t);
    return 0;
}

int vm_create_devices(struct virt_board *b, const struct vm_config *cfg)
{
    int rc;
    char id[16];
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        struct disk_options o = cfg->disks[i];
        snprintf(id, sizeof(id), "vd%c", 'a' + i);   /* command-line disks have no id: name them */
        if (!o.id)
            o.id = id;
        if ((rc = attach(b, o.path, DISK, &o, KILN_EXIT_NO_INPUT)))
            return rc;
    }
    for (unsigned i = 0; i < cfg->nnets; i++) {
        struct net_options o = cfg->nets[i];
        snprintf(id, sizeof(id), "eth%u", i);
        if (!o.id)
            o.id = id;
        if ((rc = attach(b, "network", NET, &o, KILN_EXIT_HOST)))
            return rc;
    }
    if (cfg->has_rng && (rc = attach(b, "rng", RNG, &cfg->rng, KILN_EXIT_HOST)))
        return rc;
    if (cfg->has_vsock && (rc = attach(b, "vsock", VSOCK, &cfg->vsock, KILN_EXIT_HOST)))
        return rc;
    if (cfg->has_balloon && (rc = attach(b, "balloon", BALLOON, &cfg->balloon, KILN_EXIT_HOST)))
        return rc;
    return 0;
}
