/* i8042.h — the PS/2 keyboard controller, as much of it as a microVM needs (Firecracker's
 * model): the guest's `reboot` pulses the CPU reset line through it (command 0xfe on port 0x64,
 * Linux's reboot=k), and the host's "Ctrl-Alt-Del" arrives as keystrokes through it (the API's
 * SendCtrlAltDel: Linux's keyboard driver turns them into an orderly reboot). No mouse port.
 *
 * Ports: 0x60 data, 0x64 status (read) / command (write). Register the region on the port bus
 * (dev/pio.h) at I8042_PORT_BASE; offsets 1-3 (0x61-0x63) are not claimed by this device:
 * 0x61 is the PIT's speaker port, which KVM's in-kernel PIT answers. */
#ifndef KILN_DEV_I8042_H
#define KILN_DEV_I8042_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "dev/irq.h"
#include "dev/mmio.h"

#define I8042_PORT_BASE 0x60
#define I8042_PORT_SIZE 5       /* 0x60..0x64; the device ignores 0x61-0x63 */
#define I8042_KBD_IRQ   1
#define I8042_BUF       16

struct i8042 {
    pthread_mutex_t lock;
    struct irq_line kbd_irq;     /* ISA IRQ 1 */
    void (*reset)(void *opaque); /* the guest asked for a CPU reset */
    void *reset_opaque;
    uint8_t ctr;                 /* controller configuration ("command byte") */
    uint8_t status;
    uint8_t pending_cmd;         /* a controller command waiting for its data byte, or 0 */
    uint8_t pending_kbd;         /* a keyboard command waiting for its argument, or 0 */
    uint8_t outport;
    uint8_t buf[I8042_BUF];      /* output buffer: bytes for the guest to read from 0x60 */
    unsigned head, count;
};

/* The reset callback runs on the vCPU thread that wrote the command, without the device lock:
 * it should only ask the VM to stop or reset (Firecracker ends the VM; kiln's README says a
 * guest reboot stops the VM with status 0). */
void i8042_init(struct i8042 *k, struct irq_line kbd_irq, void (*reset)(void *opaque),
                void *reset_opaque);
void i8042_destroy(struct i8042 *k);
/* The port window at I8042_PORT_BASE (offsets 0 = data, 4 = status/command). */
struct mmio_region i8042_region(struct i8042 *k);
/* Queues Ctrl, Alt, Del presses and releases (scan code set 2) and raises IRQ 1. Returns false
 * when the output buffer has no room (the guest is not reading its keyboard). */
bool i8042_send_ctrl_alt_del(struct i8042 *k);

/* State save and restore (common/persist.h): registers, pending commands and the bytes waiting
 * in the output buffer. restore refuses bad values and re-drives IRQ 1 from the restored state. */
struct persist_reader;
struct persist_writer;
void i8042_save(struct i8042 *k, struct persist_writer *w);
int i8042_restore(struct i8042 *k, struct persist_reader *r);

#endif
