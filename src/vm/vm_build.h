/* vm_build.h — the one place a resource model (struct vmm_config: what the API, --config-file
 * and `kiln run`'s flags configure) becomes the vm_config a VM is built from: the board's device
 * order (root drive first, then the other drives, network interfaces, rng, vsock, balloon), the
 * kernel command line with its root= and the NICs' options. */
#ifndef KILN_VM_VM_BUILD_H
#define KILN_VM_VM_BUILD_H
#include "vm/config.h"
#include "vm/vmm.h"

/* The strings a built vm_config points into besides the model itself: both must outlive the VM. */
struct vm_build_bufs {
    char cmdline[sizeof(((struct vmm_boot_source *)0)->boot_args) + 128];
    char net_args[KILN_MAX_VIRTIO][sizeof(((struct vmm_net *)0)->host_dev_name)];
};

/* Fills out from model. Returns 0, or -1 with a one-line reason (two NICs with one MAC). */
int vm_config_build(const struct vmm_config *model, struct vm_config *out, struct vm_build_bufs *bufs,
                    char *err, size_t errlen);

/* "user" or "user,...": kiln's user-mode networking rather than a TAP name */
bool vm_is_user_net(const char *host_dev_name);
void vm_format_mac(const uint8_t mac[6], char out[18]);
/* The net_options a NIC gets at boot; index picks the default MAC (52:54:00:12:34:56 + index).
 * buf receives a private copy of a user-mode host_dev_name, which parse_net_arg cuts up in place
 * and the options then point into. */
int vm_net_options_of(const struct vmm_net *n, unsigned index, char *buf, size_t bufsize,
                      struct net_options *o, char *err, size_t errlen);

#endif
