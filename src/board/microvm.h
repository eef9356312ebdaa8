/* microvm.h — kiln's x86-64 board (board.h), Firecracker-like: RAM from physical 0 with the
 * legacy hole below 1 MiB (arch/x86/layout.h), the interrupt controllers and the PIT in the
 * hypervisor (KVM's in-kernel PIC, IOAPIC, local APICs), and few devices:
 *
 *   port 0x3f8           8250 UART (the console, ttyS0), ISA IRQ 4
 *   ports 0x60, 0x64     i8042: its reset line (Linux's `reboot`) stops the VM; the API's
 *                        SendCtrlAltDel types Ctrl-Alt-Del on its keyboard, ISA IRQ 1; no
 *                        mouse port (the command line says i8042.noaux)
 *   ports 0x70, 0x71     CMOS RTC: the host's wall clock, no interrupts
 *   0xd000_0000 + n·4K   virtio-mmio slots 0-7, IOAPIC pin (GSI) 16 + n, announced on the kernel
 *                        command line (virtio_mmio.device=4K@0xd0000000:16)
 *   0xd010_0000          test finisher (sifive,test1 semantics): 0x5555 power off, 0x7777
 *                        reset, (code << 16) | 0x3333 fail; the guest's init uses it to power off
 *                        (x86 Linux without ACPI has no power-off of its own)
 *   0xd010_2000          boot timer (byte 123: "guest boot time")
 *   0xfec0_0000          IOAPIC, 0xfee0_0000 local APICs (KVM's)
 *
 * The finisher and boot timer sit at the RISC-V `virt` board's addresses + 0xd000_0000, inside
 * the 32-bit MMIO hole. SMP: an MP table (no ACPI). The kernel boots through PVH when its ELF has
 * the note, else through the 64-bit boot protocol (bzImage). */
#ifndef KILN_BOARD_MICROVM_H
#define KILN_BOARD_MICROVM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "board/board.h"
#include "dev/boot_timer.h"
#include "dev/bus.h"
#include "dev/cmos_rtc.h"
#include "dev/finisher.h"
#include "dev/i8042.h"
#include "dev/uart16550.h"

#define MICROVM_VIRTIO_BASE     0xd0000000ull
#define MICROVM_VIRTIO_SLOTS    8
#define MICROVM_VIRTIO_GSI0     16       /* slot n raises IOAPIC pin 16 + n */
#define MICROVM_FINISHER_BASE   0xd0100000ull
#define MICROVM_BOOT_TIMER_BASE 0xd0102000ull
#define MICROVM_UART_GSI        4
#define MICROVM_MAX_RAM         0xd0000000ull   /* RAM stops at the MMIO hole (for now) */

struct virtio_mmio;

struct microvm_board {
    struct board base;                  /* first: a struct board * is a struct microvm_board * */
    struct bus bus;                     /* MMIO */
    struct bus ports;                   /* port I/O */
    struct uart16550 uart;
    struct i8042 kbd;
    struct cmos_rtc rtc;
    struct finisher finisher;
    struct boot_timer boot_timer;
    unsigned ncpus;
    const struct board_boot *boot;
    struct virtio_mmio *virtio[MICROVM_VIRTIO_SLOTS];
    unsigned nvirtio;
};

extern const struct board_type microvm_board_type;

/* The kernel command line: `user`, then what the board tells every kernel: i8042.noaux (there is
 * no mouse port: saves the driver seconds of probing) and one virtio_mmio.device=4K@ADDR:GSI per
 * occupied slot (slots 0..nvirtio-1). Returns its length, or -1 when it does not fit in out. */
int microvm_cmdline(char *out, size_t len, const char *user, unsigned nvirtio);

/* Types Ctrl-Alt-Del on the guest's keyboard (the API's SendCtrlAltDel). false: its buffer is
 * full (the guest does not read its keyboard). */
bool microvm_ctrl_alt_del(struct board *b);

#endif
