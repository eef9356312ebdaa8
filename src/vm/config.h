/* config.h — what a VM is built from. Every front end fills the resource model (struct
 * vmm_config, vmm.h) and vm_config_build (vm_build.h) turns it into this; `kiln run` then layers
 * its own settings on top (the fields marked CLI below). */
#ifndef KILN_VM_CONFIG_H
#define KILN_VM_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dev/virtio/options.h"

/* vCPUs per VM, for every front end: Firecracker's limit, which its API clients size VMs
 * within (a backend may take more) */
#define KILN_MAX_CPUS 32
#define KILN_MIN_MEM_MIB 16
#define KILN_DEFAULT_MEM_MIB 256
#define KILN_DEFAULT_CMDLINE "console=ttyS0"
#define KILN_MAX_VIRTIO 8        /* virtio-mmio slots (the virt board has 8) */

/* Exit statuses for errors kiln detects (sysexits.h values). A guest's own finisher code is
 * passed through unchanged. */
enum kiln_status {
    KILN_OK = 0,
    KILN_EXIT_USAGE = 64,      /* bad command line */
    KILN_EXIT_BAD_IMAGE = 65,  /* kernel, firmware or initrd is corrupt or does not fit */
    KILN_EXIT_NO_INPUT = 66,   /* a file cannot be opened */
    KILN_EXIT_GUEST_CRASH = 70,/* the guest wedged itself (unrecoverable trap) */
    KILN_EXIT_HOST = 71,       /* the host refused a resource (memory, threads) */
};

struct vm_config {
    unsigned cpus;
    uint64_t mem_mib;
    const char *kernel;      /* the boot source; CLI: --kernel or the default guest */
    const char *initrd;
    const char *cmdline;     /* CLI: --cmdline, or the one carrying --rm's command */
    const char *firmware;    /* CLI only */
    const char *dtb_out;     /* CLI only: write the generated device tree here (debugging) */
    const char *accel;       /* CLI only: the vCPU backend by name (vm/backends.h); NULL: auto */
    /* CLI only: the rv64 translator (cpu/rv64/jit.h). jit: 0 = not given (then the environment's
     * KILN_JIT=on|off decides, so whole test suites can run either way; default on), 1 = off,
     * 2 = on. jit_cache_mb: the per-vCPU code cache bound, 0 = the default */
    int jit;
    unsigned jit_cache_mb;
    bool sbi_console_to_stderr; /* CLI only: the SBI console (guest /dev/hvc0) goes to stderr (run --rm) */
    /* virtio devices, in slot order: disks, network interfaces, rng, vsock, balloon */
    unsigned ndisks, nnets;
    struct disk_options disks[KILN_MAX_VIRTIO];
    struct net_options nets[KILN_MAX_VIRTIO];
    bool has_rng, has_vsock, has_balloon;
    struct rng_options rng;
    struct vsock_options vsock;
    struct balloon_options balloon;
    /* the VM's CPU limit (common/cpu_quota.h: at most quota per period for all vCPUs together;
     * quota 0: none) and its vCPU threads' priority (enum cpu_priority) */
    uint64_t cpu_quota_us, cpu_period_us;
    int vcpu_priority;
    char default_kernel[4096];  /* CLI only: the default guest */
    char default_initrd[4096];
    /* run --rm -- CMD ARGS...: a one-shot sandbox that runs CMD in the guest and exits with its
     * status; run_cmdline (riscv's COMMAND_LINE_SIZE) is the kernel command line carrying it */
    bool rm;
    int guest_argc;
    char **guest_argv;          /* points into main's argv */
    char run_cmdline[1024];
};

/* Parses `kiln run` options (argv[0] is "run") into the resource model, builds cfg from it
 * (run_model.h) and layers the CLI-only settings on top. Returns 0, or an exit status after
 * printing a one-line error (or the help text, status -1 meaning "exit 0"). */
int config_parse_run(struct vm_config *cfg, int argc, char **argv);
void config_print_run_help(void);

#endif
