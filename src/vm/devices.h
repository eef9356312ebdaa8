/* devices.h — the registry of a VM's virtio devices. Each device attached to the board carries
 * its kind and id (a drive_id, an iface_id, or the kind's name for the one-per-VM kinds), so the
 * API reaches a device by (kind, id) instead of by slot arithmetic. One table row per kind says
 * how to create it from its options, its name and its metrics group: adding a device kind is its
 * own file under dev/virtio/ plus one row (and its options in vm_config and the model).
 * Devices go into the board's slots in the table's order (drives, network interfaces, rng,
 * vsock, balloon) so /dev/vda is the first drive. */
#ifndef KILN_VM_DEVICES_H
#define KILN_VM_DEVICES_H
#include "board/board.h"
#include "vm/config.h"

enum vm_device_kind { VM_DEV_DRIVE, VM_DEV_NET, VM_DEV_RNG, VM_DEV_VSOCK, VM_DEV_BALLOON, VM_DEV_KINDS };

#define VM_DEVICE_ID_MAX 64   /* Firecracker's id limit */

struct vm_device {
    enum vm_device_kind kind;
    char id[VM_DEVICE_ID_MAX + 1];
    struct virtio_mmio *t;            /* owned by the board */
};

struct vm_devices {
    unsigned n;
    struct vm_device dev[KILN_MAX_VIRTIO];   /* in slot order */
};

/* One row per device kind. */
struct vm_device_kind_info {
    const char *name;                 /* "drive", "net", "rng", "vsock", "balloon" */
    /* the metrics group is this prefix plus the id for the kinds that come in numbers
     * ("block_rootfs", "net_eth0"), the prefix alone for the others ("entropy") */
    const char *metrics_group;
    bool per_id;
    struct virtio_mmio *(*create)(const void *opts, const struct guest_mem *mem, struct irq_line irq,
                                  char *err, size_t errlen);
    int fail_status;                  /* the kiln exit status when creation fails */
    /* where a vm_config holds this kind's options: how many, the i-th, its id (NULL: the kind's
     * name) and what a failure is reported under (NULL: the kind's name) */
    unsigned (*count)(const struct vm_config *cfg);
    const void *(*options)(const struct vm_config *cfg, unsigned i);
    const char *(*id)(const void *opts);
    const char *(*what)(const void *opts);
};

const struct vm_device_kind_info *vm_device_kind_info(enum vm_device_kind kind);
/* "block_<id>" etc.: the group the device's counters appear under in the metrics */
void vm_device_metrics_group(const struct vm_device *d, char *buf, size_t size);

/* Creates the devices cfg asks for, attaches them to b and records them in out. Returns 0, or
 * a kiln exit status after printing a one-line reason. */
int vm_create_devices(struct board *b, const struct vm_config *cfg, struct vm_devices *out, char *why,
                      size_t whylen);
/* The device of that kind and id (id NULL: the first of the kind, for the one-per-VM kinds), or
 * NULL when there is none. */
struct virtio_mmio *vm_devices_find(const struct vm_devices *d, enum vm_device_kind kind, const char *id);

#endif
