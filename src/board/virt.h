/* virt.h — the RISC-V `virt` board (board.h): QEMU's memory map, its devices and its device
 * tree. Its vCPUs come from whichever backend runs riscv64 guests. */
#ifndef KILN_BOARD_VIRT_H
#define KILN_BOARD_VIRT_H
#include <stdbool.h>
#include <stddef.h>
#include "board/board.h"
#include "dev/boot_timer.h"
#include "dev/bus.h"
#include "dev/finisher.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/uart16550.h"
#include "dev/virtio/mmio.h"

#define VIRT_RAM_BASE        0x80000000ull
#define VIRT_MAX_CPUS        64       /* two PLIC contexts (M and S) each */
#define VIRT_FINISHER_BASE   0x00100000ull
#define VIRT_RTC_BASE        0x00101000ull
#define VIRT_BOOT_TIMER_BASE 0x00102000ull
#define VIRT_CLINT_BASE      0x02000000ull
#define VIRT_PLIC_BASE       0x0c000000ull
#define VIRT_PLIC_SIZE       0x00600000ull
#define VIRT_UART_BASE       0x10000000ull
#define VIRT_UART_IRQ        10
#define VIRT_RTC_IRQ         11
#define VIRT_PLIC_NDEV       95
#define VIRT_VIRTIO_BASE     0x10001000ull
#define VIRT_VIRTIO_SLOTS    8
#define VIRT_VIRTIO_IRQ0     1        /* slot n raises PLIC source 1 + n */

struct virt_board {
    struct board base;                /* first: a struct board * is a struct virt_board * */
    struct bus bus;
    struct plic plic;
    struct uart16550 uart;
    struct goldfish_rtc rtc;
    struct finisher finisher;
    struct boot_timer boot_timer;
    unsigned ncpus;
    const struct board_boot *boot;
    struct virtio_mmio *virtio[VIRT_VIRTIO_SLOTS];
    unsigned nvirtio;
    bool initialized;
};

extern const struct board_type virt_board_type;

struct virt_boot_info {
    const char *cmdline;
    uint64_t initrd_start, initrd_end;  /* 0, 0 when there is none */
};

/* The board_type operations, for tests that build a board in place. */
int virt_board_init(struct virt_board *b, const struct board_params *p);
void virt_board_destroy(struct virt_board *b);
void virt_board_save(struct virt_board *b, struct persist_writer *w);
int virt_board_restore(struct virt_board *b, struct persist_reader *r);
bool virt_next_virtio_irq(struct virt_board *b, struct irq_line *irq);
void virt_attach_virtio(struct virt_board *b, struct virtio_mmio *t);
/* Writes the flattened device tree into buf. Returns its size, or -1 if buf is too small. */
int virt_build_fdt(struct virt_board *b, const struct virt_boot_info *info, void *buf, size_t bufsize);
/* virt_boot.c: loads firmware, kernel and initrd, writes the device tree (board_type.load). */
int virt_load(struct virt_board *b, struct vcpu_boot *out, char *err, size_t errlen);

#endif
