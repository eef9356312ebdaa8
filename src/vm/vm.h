/* vm.h — one virtual machine's life: build the board and devices, load the guest, run the
 * vCPUs, pause and resume them, and turn the way the guest stopped into kiln's exit status.
 * `kiln run` does it all at once (vm_run); the API does it step by step. */
#ifndef KILN_VM_VM_H
#define KILN_VM_VM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/cpu_quota.h"
#include "vm/config.h"
#include "vm/devices.h"

struct vm;
struct boot_timer;
struct guest_ram;
struct persist_reader;
struct persist_writer;

/* Where a restored VM's RAM and state come from (snapshot load, incoming migration). */
struct vm_restore {
    const char *mem_path;            /* snapshot: map this memory file as RAM (copy-on-write) */
    struct guest_ram *ram;           /* migration: take over this RAM (already filled) instead */
    const char *arch;                /* the saved VM's architecture (snapshot info): picks the backend */
    struct persist_reader *state;    /* the machine and device state (after info and config) */
    uint64_t advance_ns;             /* wall time since the save: guest clocks move on by it */
    char *err;                       /* if not NULL: why the restore failed (one line) */
    size_t errlen;
};

/* Builds the VM described by cfg (which must outlive it): RAM, board, devices, guest loaded.
 * start_ns is the process start (CLOCK_MONOTONIC), the reference for the boot timer. Returns 0
 * or a kiln exit status after printing why; err (if not NULL) receives the same one line, for an
 * API client that cannot read kiln's stderr. */
int vm_create(const struct vm_config *cfg, uint64_t start_ns, struct vm **out, char *err, size_t errlen);
/* The same VM in the state it was saved in: devices are created from cfg (which must match the
 * saved ones, in the same order), then RAM and state come from rs. No kernel is loaded. */
int vm_create_restored(const struct vm_config *cfg, uint64_t start_ns, const struct vm_restore *rs, struct vm **out);
/* Connects the console and starts one thread per vCPU. Returns 0 or an exit status. */
int vm_start(struct vm *vm);
/* The same, with options: VM_START_PAUSED: every vCPU and device waits for vm_resume;
 * VM_START_HOLD_INPUT: the host's console input waits for vm_release_input. */
#define VM_START_PAUSED 1u
#define VM_START_HOLD_INPUT 2u
int vm_start_opts(struct vm *vm, unsigned flags);
/* Sends prefix to the guest's console, then the host's input (after VM_START_HOLD_INPUT). */
void vm_release_input(struct vm *vm, const uint8_t *prefix, size_t len);
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
bool vm_is_paused(const struct vm *vm);
/* The guest stopped (or was asked to). */
bool vm_exited(struct vm *vm);
/* Asks the VM to stop (as if it powered off); vm_wait then returns. Any thread. */
void vm_request_stop(struct vm *vm);
/* Blocks until the guest stops; returns kiln's exit status. */
int vm_wait(struct vm *vm);
/* Stops what still runs and frees everything. */
void vm_destroy(struct vm *vm);
/* Presses Ctrl-Alt-Del on the guest's keyboard: 0; 1 when the keyboard's buffer is full (the
 * guest does not read it); -1 when the board has no keyboard (RISC-V). */
int vm_send_ctrl_alt_del(struct vm *vm);
/* Why this VM's state cannot be saved (its vCPU backend cannot), or NULL. */
const char *vm_no_save(const struct vm *vm);
/* Snapshots and migration. save: the VM must be paused (vm_pause). */
void vm_save_state(struct vm *vm, struct persist_writer *w);
uint8_t *vm_ram(struct vm *vm, uint64_t *size);
/* RAM is fresh anonymous memory (not a snapshot's file): untouched pages are zero. */
bool vm_ram_anonymous(struct vm *vm);
/* Dirty-page tracking (one bit per 4 KiB page): harvest copies and clears the bitmap; both
 * briefly park running vCPUs. */
int vm_dirty_enable(struct vm *vm, bool on);
void vm_dirty_harvest(struct vm *vm, uint64_t *bitmap);
/* Every page counts as dirty (the log was consumed by something other than a snapshot). */
void vm_dirty_mark_all(struct vm *vm);
/* Migration hands the disk images over: flush and unlock them, or lock them again. */
int vm_release_images(struct vm *vm);
int vm_reacquire_images(struct vm *vm, char *err, size_t errlen);
/* The board's boot timer (its ready hook). */
struct boot_timer *vm_boot_timer(struct vm *vm);
/* The guest architecture (the backend's), as snapshots record it: "riscv64". */
const char *vm_arch(const struct vm *vm);
/* A virtio device by kind and id (id NULL: the one of a one-per-VM kind), for post-boot
 * operations (drive updates, NIC rate limits, the balloon); NULL when the VM has none. */
struct virtio_mmio *vm_device(struct vm *vm, enum vm_device_kind kind, const char *id);

/* The VM's CPU limit (common/cpu_quota.h), which the VM owns and its vCPUs charge: a new one
 * takes effect at once (quota 0: none). Returns 0, or -1 with a reason in err. */
int vm_set_cpu_limit(struct vm *vm, uint64_t quota_us, uint64_t period_us, char *err, size_t errlen);
/* Its throttling counters (cgroup cpu.stat's) since the VM was created. */
void vm_get_cpu_limit_stats(struct vm *vm, struct cpu_quota_stats *out);

/* Waits for the guest to stop, closes the console and returns kiln's exit status (vm_start'ed
 * VMs; vm_destroy still frees it). */
int vm_finish(struct vm *vm);

/* create + start + wait + destroy (`kiln run`; --rm restores a pre-booted sandbox when it can) */
int vm_run(const struct vm_config *cfg, uint64_t start_ns);

#endif
