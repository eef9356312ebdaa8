/* pio.h — x86 port I/O: a second `struct bus` (dev/bus.h) whose addresses are port numbers, so
 * port devices implement the same mmio_region interface as memory-mapped ones (the 8250 UART
 * works on either: its registers are byte-wide at offsets 0-7). */
#ifndef KILN_DEV_PIO_H
#define KILN_DEV_PIO_H
#include <stdbool.h>
#include <stdint.h>
#include "dev/bus.h"

#define PIO_COM1_BASE 0x3f8
#define PIO_COM1_IRQ  4
#define PIO_UART_SIZE 8

/* A device window moved to ports [port, port+len): for a device whose mmio_region has its own
 * base and a larger size (uart16550_region covers 0x100 bytes of MMIO). */
struct mmio_region pio_region(struct mmio_region dev, uint16_t port, uint16_t len);

/* Performs one KVM_EXIT_IO: `count` accesses of `size` bytes (1, 2 or 4) at `port`, data packed
 * back to back in `data` (kvm_run + io.data_offset; count > 1 for rep ins/outs). Reads of
 * unclaimed ports return all ones, as an ISA bus with nothing driving it does; writes to them are
 * dropped. Returns true when a device claimed the port (for exit metrics). */
bool pio_dispatch(const struct bus *ports, uint16_t port, uint8_t *data, unsigned size,
                  unsigned count, bool is_write);

#endif
