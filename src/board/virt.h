/* virt.h — the rv64 `virt` board: QEMU's memory map, its devices and its device tree. */
#ifndef KILN_BOARD_VIRT_H
#define KILN_BOARD_VIRT_H
#include <stdbool.h>
#include <stddef.h>
#include "cpu/rv64/hart.h"
#include "dev/boot_timer.h"
#include "dev/bus.h"
#include "dev/clint.h"
#include "dev/finisher.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/uart16550.h"
#include "dev/virtio/mmio.h"

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
    struct rv64_machine m;
    struct bus bus;
    struct clint clint;
    struct plic plic;
    struct uart16550 uart;
    struct goldfish_rtc rtc;
    struct finisher finisher;
    struct boot_timer boot_timer;
    struct guest_mem mem;             /* RAM as the virtio devices see it */
    struct virtio_mmio *virtio[VIRT_VIRTIO_SLOTS];
    unsigned nvirtio;
    bool initialized;
};

struct virt_boot_info {
    const char *cmdline;
    uint64_t initrd_start, initrd_end;  /* 0, 0 when there is none */
};

/* Creates harts and devices on the caller's RAM (ram_bytes at ram, page aligned, outliving the
 * board). console_tx receives the guest's console output (UART and SBI). */
int virt_board_init(struct virt_board *b, unsigned cpus, uint8_t *ram, uint64_t ram_bytes,
                    uint64_t start_ns,
                    void (*console_tx)(void *opaque, const uint8_t *buf, size_t len), void *console_opaque);
/* Stops and frees the devices, then the machine. */
void virt_board_destroy(struct virt_board *b);
/* The interrupt line of the next free virtio slot, for the device about to be attached there;
 * false when all slots are taken. */
/* Board state: the machine (harts), PLIC, UART and RTC sections. Not the virtio slots (the VM
 * layer saves those) and not RAM. The harts must be paused. */
struct persist_writer;
struct persist_reader;
void virt_board_save(struct virt_board *b, struct persist_writer *w);
/* advance_ns: host time since the save, by which the guest's clock moves on. */
int virt_board_restore(struct virt_board *b, struct persist_reader *r, uint64_t advance_ns);
bool virt_next_virtio_irq(struct virt_board *b, struct irq_line *irq);
/* Puts a device created with virt_next_virtio_irq's line into that slot. The board owns it. */
void virt_attach_virtio(struct virt_board *b, struct virtio_mmio *t);
/* Writes the flattened device tree into buf. Returns its size, or -1 if buf is too small. */
int virt_build_fdt(struct virt_board *b, const struct virt_boot_info *info, void *buf, size_t bufsize);

#endif
