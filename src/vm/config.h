/* config.h — a VM's configuration, built from the command line and validated once. */
#ifndef KILN_VM_CONFIG_H
#define KILN_VM_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dev/virtio/options.h"

/* vCPUs per VM, for every front end: Firecracker's limit, which its API clients size VMs
 * within (the rv64 machine itself could take RV64_MAX_HARTS) */
#define KILN_MAX_CPUS 32
#define KILN_MIN_MEM_MIB 16
#define KILN_DEFAULT_MEM_MIB 256
#define KILN_DEFAULT_CMDLINE "console=ttyS0"
#define KILN_MAX_VIRTIO 8        /* the virt board's virtio-mmio slots */

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
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    const char *firmware;
    const char *dtb_out;     /* write the generated device tree here (debugging) */
    bool sbi_console_to_stderr; /* the SBI console (guest /dev/hvc0) goes to stderr (run --rm) */
    /* virtio devices, in slot order: disks, network interfaces, rng, vsock, balloon */
    unsigned ndisks, nnets;
    struct disk_options disks[KILN_MAX_VIRTIO];
    struct net_options nets[KILN_MAX_VIRTIO];
    bool has_rng, has_vsock, has_balloon;
    struct rng_options rng;
    struct vsock_options vsock;
    struct balloon_options balloon;
    char default_kernel[4096];
    char default_initrd[4096];
    /* run --rm -- CMD ARGS...: a one-shot sandbox that runs CMD in the guest and exits with its
     * status; run_cmdline (riscv's COMMAND_LINE_SIZE) is the kernel command line carrying it */
    bool rm;
    int guest_argc;
    char **guest_argv;          /* points into main's argv */
    char run_cmdline[1024];
};

/* Parses `kiln run` options (argv[0] is "run"). Returns 0, or an exit status after printing
 * a one-line error (or the help text, status -1 meaning "exit 0"). */
int config_parse_run(struct vm_config *cfg, int argc, char **argv);
void config_print_run_help(void);

#endif
