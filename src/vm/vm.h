/* vm.h — one virtual machine's life: build the board and devices, load the guest, run the
 * vCPUs, pause and resume them, and turn the way the guest stopped into kiln's exit status.
 * `kiln run` does it all at once (vm_run); the API does it step by step. */
#ifndef KILN_VM_VM_H
#define KILN_VM_VM_H
#include <stdbool.h>
#include <stdint.h>
#include "vm/config.h"

struct vm;
struct virt_board;

/* Builds the VM described by cfg (which must outlive it): RAM, board, devices, guest loaded.
 * start_ns is the process start (CLOCK_MONOTONIC), the reference for the boot timer. Returns 0
 * or a kiln exit status after printing why. */
int vm_create(const struct vm_config *cfg, uint64_t start_ns, struct vm **out);
/* Connects the console and starts one thread per vCPU. Returns 0 or an exit status. */
int vm_start(struct vm *vm);
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_is_paused(const struct vm *vm);
/* Asks the VM to stop (as if it powered off); vm_wait then returns. Any thread. */
void vm_request_stop(struct vm *vm);
/* Blocks until the guest stops; returns kiln's exit status. */
int vm_wait(struct vm *vm);
/* Stops what still runs and frees everything. */
void vm_destroy(struct vm *vm);
/* The board, for post-boot device operations (balloon target, drive updates). */
struct virt_board *vm_board(struct vm *vm);

/* create + start + wait + destroy */
int vm_run(const struct vm_config *cfg, uint64_t start_ns);

#endif
