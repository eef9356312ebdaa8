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

/* Where each kind's options sit in a vm_config: how many, the i-th, and the name a failure is
 * reported under. */
static unsigned n_drives(const struct vm_config *c) { return c->ndisks; }
static unsigned n_nets(const struct vm_config *c) { return c->nnets; }
static unsigned n_rng(const struct vm_config *c) { return c->has_rng; }
static unsigned n_vsock(const struct vm_config *c) { return c->has_vsock; }
static unsigned n_balloon(const struct vm_config *c) { return c->has_balloon; }
static const void *drive_opts(const struct vm_config *c, unsigned i) { return &c->disks[i]; }
static const void *net_opts(const struct vm_config *c, unsigned i) { return &c->nets[i]; }
static const void *rng_opts(const struct vm_config *c, unsigned i) { (void)i; return &c->rng; }
static const void *vsock_opts(const struct vm_config *c, unsigned i) { (void)i; return &c->vsock; }
static const void *balloon_opts(const struct vm_config *c, unsigned i) { (void)i; return &c->balloon; }
static const char *drive_id(const void *o) { return ((const struct disk_options *)o)->id; }
static const char *net_id(const void *o) { return ((const struct net_options *)o)->id; }
static const char *drive_what(const void *o) { return ((const struct disk_options *)o)->path; }

/* One row per kind, in the board's slot order. A bad image is the user's file (66); the other
 * kinds fail on host resources (71). The metrics groups are the names the devices register
 * (Firecracker's). */
static const struct vm_device_kind_info kinds[VM_DEV_KINDS] = {
    [VM_DEV_DRIVE] = { "drive", "block_", true, virtio_blk_create_row, KILN_EXIT_NO_INPUT,
                       n_drives, drive_opts, drive_id, drive_what },
    [VM_DEV_NET] = { "net", "net_", true, virtio_net_create_row, KILN_EXIT_HOST, n_nets, net_opts, net_id, NULL },
    [VM_DEV_RNG] = { "rng", "entropy", false, virtio_rng_create_row, KILN_EXIT_HOST, n_rng, rng_opts, NULL, NULL },
    [VM_DEV_VSOCK] = { "vsock", "vsock", false, virtio_vsock_create_row, KILN_EXIT_HOST, n_vsock, vsock_opts,
                       NULL, NULL },
    [VM_DEV_BALLOON] = { "balloon", "balloon", false, virtio_balloon_create_row, KILN_EXIT_HOST, n_balloon,
                         balloon_opts, NULL, NULL },
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

static int attach(struct board *b, struct vm_devices *out, enum vm_device_kind kind, const void *opts,
                  char *why, size_t whylen)
{
    const struct vm_device_kind_info *k = &kinds[kind];
    const char *id = k->id ? k->id(opts) : NULL;
    const char *what = k->what ? k->what(opts) : k->name;
    struct irq_line irq;
    char err[512] = "";
    if (!id)
        id = k->name;   /* one-per-VM kinds go by their kind's name */
    char msg[600];
    if (out->n == KILN_MAX_VIRTIO || !b->type->next_virtio(b, &irq)) {
        snprintf(msg, sizeof(msg), "no free virtio slot for %s", what);
        fprintf(stderr, "kiln: %s\n", msg);
        if (why && whylen)
            snprintf(why, whylen, "%s", msg);
        return KILN_EXIT_USAGE;
    }
    struct virtio_mmio *t = k->create(opts, &b->mem, irq, err, sizeof(err));
    if (!t) {
        /* the device's message may name its kind already ("vsock: ..."): not twice */
        size_t n = strlen(what);
        if (!strncmp(err, what, n) && err[n] == ':')
            snprintf(msg, sizeof(msg), "%s", err);
        else
            snprintf(msg, sizeof(msg), "%s: %s", what, err);
        fprintf(stderr, "kiln: %s\n", msg);
        if (why && whylen)
            snprintf(why, whylen, "%s", msg);
        return k->fail_status;
    }
    b->type->attach_virtio(b, t);
    struct vm_device *d = &out->dev[out->n++];
    d->kind = kind;
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->t = t;
    return 0;
}

/* The vm_config comes from vm_config_build, which gives every drive and NIC its id. */
int vm_create_devices(struct board *b, const struct vm_config *cfg, struct vm_devices *out, char *why,
                      size_t whylen)
{
    memset(out, 0, sizeof(*out));
    for (int kind = 0; kind < VM_DEV_KINDS; kind++)
        for (unsigned i = 0; i < kinds[kind].count(cfg); i++) {
            int rc = attach(b, out, (enum vm_device_kind)kind, kinds[kind].options(cfg, i), why, whylen);
            if (rc)
                return rc;
        }
    return 0;
}

struct virtio_mmio *vm_devices_find(const struct vm_devices *d, enum vm_device_kind kind, const char *id)
{
    for (unsigned i = 0; i < d->n; i++)
        if (d->dev[i].kind == kind && (!id || !strcmp(d->dev[i].id, id)))
            return d->dev[i].t;
    return NULL;
}
