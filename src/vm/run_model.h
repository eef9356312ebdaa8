/* run_model.h — `kiln run` as a thin front end over the resource model: the machine and device
 * flags become a struct vmm_config through the same vmm_put_* calls the API and --config-file
 * make (so the same validators, resources.c), and the vm_config comes out of the same build
 * (vm_config_build). What only the command line has (--kernel/--initrd/--cmdline checked by the
 * loader with its own exit statuses, --firmware, --dtb-out, --rm's command and SBI console,
 * finding the default guest) is layered on the built vm_config by config.c afterwards. */
#ifndef KILN_VM_RUN_MODEL_H
#define KILN_VM_RUN_MODEL_H
#include "vm/config.h"

#define RUN_NET_SPEC_MAX 1024   /* a --net value, kept whole for a user-mode host_dev_name */

/* flags: the parsed flags (cpus, mem_mib, the device options); net_spec[i]: the i-th --net value
 * as given. Fills out (memory it points into lives as long as the process: kiln run builds one
 * VM). Returns 0, or a kiln exit status after printing a one-line reason naming the flag. */
int run_model_build(const struct vm_config *flags, char net_spec[][RUN_NET_SPEC_MAX], struct vm_config *out);

#endif
