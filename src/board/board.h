/* board.h — the board interface: one machine type's memory map (where RAM starts, where its
 * devices and virtio slots sit, which interrupt line each slot raises), its console, and its
 * boot: loading the kernel, initrd and firmware in its architecture's formats and writing the
 * boot-time tables (the device tree on RISC-V). The board creates the vCPUs (cpu/backend.h) on
 * the VM's RAM and its own MMIO bus, and wires its interrupt controller to them; the VM layer
 * above sees only this interface. */
#ifndef KILN_BOARD_BOARD_H
#define KILN_BOARD_BOARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cpu/backend.h"
#include "dev/guest_mem.h"
#include "dev/irq.h"

struct persist_reader;
struct persist_writer;
struct uart16550;
struct boot_timer;
struct cpu_quota;
struct virtio_mmio;

/* What to boot (the VM's configuration): paths, NULL when not given. */
struct board_boot {
    const char *kernel, *initrd, *firmware;
    const char *cmdline;
    const char *dtb_out;        /* also write the boot-time table here (debugging) */
};

struct board_params {
    const struct vcpu_backend *backend;
    unsigned cpus;
    uint8_t *ram;               /* the VM's guest RAM, which outlives the board */
    uint64_t ram_size;
    uint64_t start_ns;          /* process start (CLOCK_MONOTONIC), for the boot timer */
    const struct board_boot *boot;  /* must outlive the board */
    /* the guest's console (the board's UART), and the paravirtual console (e.g. SBI's) */
    void (*console_tx)(void *opaque, const uint8_t *buf, size_t len);
    void *console_opaque;
    void (*pv_console_tx)(void *opaque, const uint8_t *buf, size_t len);
    void *pv_console_opaque;
    /* the VM's CPU limit and vCPU priority, for the vCPUs (vcpu_params) */
    struct cpu_quota *cpu_quota;
    int vcpu_priority;
    bool jit;                   /* passed on to the backend (struct vcpu_params) */
    size_t jit_cache_bytes;
    char *err;                  /* create failed: why, in one line */
    size_t errlen;
};

/* Every board's instance starts with this. */
struct board {
    const struct board_type *type;
    struct vcpus *cpus;         /* created and owned by the board */
    struct guest_mem mem;       /* RAM as the devices see it */
};

struct board_type {
    const char *name;           /* "virt" */
    const char *arch;           /* the guest architecture: a backend with the same arch runs it */
    uint64_t ram_base;          /* guest physical address of RAM */
    /* Is this (the first bytes of a kernel or firmware file) a program for this board's
     * architecture? Lets kiln pick the backend from the kernel. */
    bool (*probe)(const uint8_t *head, size_t len);
    /* 0; -1 when the host refuses (memory, threads); or a kiln exit status with a one-line
     * reason in p->err (the hypervisor refused) */
    int (*create)(const struct board_params *p, struct board **out);
    /* stops and frees the devices (the attached virtio ones too), then the vCPUs */
    void (*destroy)(struct board *b);
    /* Loads what p->boot names into RAM and writes the boot-time tables; out is the state the
     * vCPUs start in. Returns 0, or a kiln exit status with a one-line reason in err. */
    int (*load)(struct board *b, struct vcpu_boot *out, char *err, size_t errlen);
    /* The interrupt line of the next free virtio slot, for the device about to be attached
     * there; false when all slots are taken. */
    bool (*next_virtio)(struct board *b, struct irq_line *irq);
    /* Puts a device created with next_virtio's line into that slot. The board owns it. */
    void (*attach_virtio)(struct board *b, struct virtio_mmio *t);
    /* The board's own devices' state (interrupt controller, console, clock): not the vCPUs'
     * (restore them first: the interrupt controller drives their lines from its state), not the
     * virtio slots', not RAM. */
    void (*save)(struct board *b, struct persist_writer *w);
    int (*restore)(struct board *b, struct persist_reader *r);
    struct uart16550 *(*console)(struct board *b);
    struct boot_timer *(*boot_timer)(struct board *b);
    /* Presses Ctrl-Alt-Del on the guest's keyboard (the API's SendCtrlAltDel); false when the
     * key presses cannot be queued. NULL: the board has no keyboard. */
    bool (*ctrl_alt_del)(struct board *b);
};

#endif
