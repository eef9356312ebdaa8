/* vm.h — one virtual machine's life: build the board, load the guest, run the vCPUs, report. */
#ifndef KILN_VM_VM_H
#define KILN_VM_VM_H
#include <stdint.h>
#include "vm/config.h"

/* Runs the VM described by cfg to completion. start_ns is the process start (CLOCK_MONOTONIC),
 * the reference for the boot timer. Returns kiln's exit status. */
int vm_run(const struct vm_config *cfg, uint64_t start_ns);

#endif
