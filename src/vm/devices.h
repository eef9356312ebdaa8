/* devices.h — creates the virtio devices a vm_config asks for and puts them in the board's
 * slots, in a fixed order (disks, network interfaces, rng, vsock, balloon) so /dev/vda is the
 * first --disk. */
#ifndef KILN_VM_DEVICES_H
#define KILN_VM_DEVICES_H
#include "board/virt.h"
#include "vm/config.h"

/* Returns 0, or a kiln exit status after printing a one-line reason. */
int vm_create_devices(struct virt_board *b, const struct vm_config *cfg);

#endif
