/* test_i8042.c — the x86 board's port devices: the i8042 controller (reset line, keyboard
 * protocol Linux probes, Ctrl-Alt-Del keystrokes and IRQ 1), and port I/O dispatch through a
 * `struct bus` of ports, with the 8250 UART at COM1 (0x3f8, byte-wide registers). */
#include <criterion/criterion.h>
#include <string.h>
#include "dev/bus.h"
#include "dev/i8042.h"
#include "dev/pio.h"
#include "dev/uart16550.h"

static int resets;
static bool irq_level;
static int irq_rises;
static unsigned irq_n;

static void on_reset(void *opaque)
{
    (*(int *)opaque)++;
}

static void on_irq(void *opaque, unsigned n, bool level)
{
    (void)opaque;
    irq_n = n;
    if (level && !irq_level)
        irq_rises++;
    irq_level = level;
}

static struct i8042 kbd;
static struct bus ports;

static void setup(void)
{
    resets = 0;
    irq_level = false;
    irq_rises = 0;
    i8042_init(&kbd, (struct irq_line){ .set = on_irq, .n = I8042_KBD_IRQ }, on_reset, &resets);
    memset(&ports, 0, sizeof(ports));
    struct mmio_region r = i8042_region(&kbd);
    cr_assert_eq(bus_add(&ports, &r), 0);
}

static void teardown(void)
{
    i8042_destroy(&kbd);
}

static void outb(uint16_t port, uint8_t v)
{
    pio_dispatch(&ports, port, &v, 1, 1, true);
}

static uint8_t inb(uint16_t port)
{
    uint8_t v = 0;
    pio_dispatch(&ports, port, &v, 1, 1, false);
    return v;
}

/* ================================================================ i8042 */

Test(i8042, reset_command_raises_the_callback, .init = setup, .fini = teardown)
{
    outb(0x64, 0xfe);
    cr_expect_eq(resets, 1);
    outb(0x64, 0xfe);
    cr_expect_eq(resets, 2);
}

Test(i8042, reset_through_the_output_port, .init = setup, .fini = teardown)
{
    outb(0x64, 0xd1);                 /* write output port */
    outb(0x60, 0x03);                 /* reset line high (released): nothing happens */
    cr_expect_eq(resets, 0);
    outb(0x64, 0xd1);
    outb(0x60, 0x02);                 /* bit 0 low: reset */
    cr_expect_eq(resets, 1);
}

Test(i8042, other_commands_do_not_reset, .init = setup, .fini = teardown)
{
    for (unsigned c = 0; c < 0x100; c++)
        if (c != 0xfe && c != 0xd1) {
            outb(0x64, (uint8_t)c);
            outb(0x60, 0x00);         /* data byte for commands that take one */
        }
    cr_expect_eq(resets, 0);
}

Test(i8042, linux_probe_sequence, .init = setup, .fini = teardown)
{
    cr_expect(inb(0x64) & 0x04, "system flag");
    cr_expect_eq(inb(0x64) & 0x01, 0, "nothing to read yet");
    outb(0x64, 0xaa);                 /* controller self test */
    cr_expect(inb(0x64) & 0x01);
    cr_expect_eq(inb(0x60), 0x55);
    cr_expect_eq(inb(0x64) & 0x01, 0);
    outb(0x64, 0x20);                 /* read configuration */
    uint8_t ctr = inb(0x60);
    cr_expect(ctr & 0x01, "keyboard interrupt on");
    cr_expect_eq(ctr & 0x40, 0, "no translation: scan code set 2");
    outb(0x64, 0x60);                 /* write configuration */
    outb(0x60, 0x00);
    outb(0x64, 0x20);
    cr_expect_eq(inb(0x60), 0x00);
    outb(0x64, 0xab);                 /* keyboard interface test */
    cr_expect_eq(inb(0x60), 0x00);
    outb(0x60, 0xff);                 /* keyboard reset */
    cr_expect_eq(inb(0x60), 0xfa);
    cr_expect_eq(inb(0x60), 0xaa);
    outb(0x60, 0xf2);                 /* identify */
    cr_expect_eq(inb(0x60), 0xfa);
    cr_expect_eq(inb(0x60), 0xab);
    cr_expect_eq(inb(0x60), 0x83);
    outb(0x60, 0xed);                 /* LEDs + argument: two acks */
    outb(0x60, 0x07);
    cr_expect_eq(inb(0x60), 0xfa);
    cr_expect_eq(inb(0x60), 0xfa);
    outb(0x64, 0xd2);                 /* loop a byte back */
    outb(0x60, 0x5a);
    cr_expect_eq(inb(0x60), 0x5a);
    outb(0x64, 0xa9);                 /* aux test: no mouse port */
    cr_expect_eq(inb(0x60), 0xff);
}

Test(i8042, ctrl_alt_del_keystrokes_and_irq1, .init = setup, .fini = teardown)
{
    cr_assert(i8042_send_ctrl_alt_del(&kbd));
    cr_expect(irq_level);
    cr_expect_eq(irq_n, 1);
    static const uint8_t want[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11,
                                    0xf0, 0x14 };
    for (size_t i = 0; i < sizeof(want); i++) {
        cr_expect(inb(0x64) & 0x01);
        cr_expect_eq(inb(0x60), want[i], "byte %zu", i);
    }
    cr_expect_eq(inb(0x64) & 0x01, 0);
    cr_expect_not(irq_level, "line drops when the buffer is empty");
    cr_expect_eq(irq_rises, (int)sizeof(want), "one edge per byte (IRQ 1 is edge triggered)");
}

Test(i8042, no_irq_when_disabled_and_full_buffer_refuses, .init = setup, .fini = teardown)
{
    outb(0x64, 0x60);
    outb(0x60, 0x00);                 /* keyboard interrupt off */
    cr_assert(i8042_send_ctrl_alt_del(&kbd));
    cr_expect_not(irq_level);
    cr_expect_not(i8042_send_ctrl_alt_del(&kbd), "no room for a second sequence");
}

/* ================================================================ port I/O */

Test(pio, unclaimed_ports_float_high, .init = setup, .fini = teardown)
{
    uint8_t b[8];
    memset(b, 0, sizeof(b));
    cr_expect_not(pio_dispatch(&ports, 0x80, b, 1, 1, true));     /* POST code port */
    cr_expect_not(pio_dispatch(&ports, 0x2f8, b, 2, 4, false));   /* rep insw, no COM2 */
    for (int i = 0; i < 8; i++)
        cr_expect_eq(b[i], 0xff);
    cr_expect_eq(inb(0x61), 0xff, "0x61 is not the i8042's");
    cr_expect_not(pio_dispatch(&ports, 0x60, b, 16, 1, false), "absurd width refused");
}

static uint8_t tx_buf[64];
static size_t tx_len;

static void on_tx(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    memcpy(tx_buf + tx_len, buf, len);
    tx_len += len;
}

Test(pio, uart_at_com1, .init = setup, .fini = teardown)
{
    static struct uart16550 u;
    tx_len = 0;
    uart16550_init(&u, (struct irq_line){ .set = on_irq, .n = PIO_COM1_IRQ }, on_tx, NULL);
    struct mmio_region r = pio_region(uart16550_region(&u, 0), PIO_COM1_BASE, PIO_UART_SIZE);
    cr_assert_eq(bus_add(&ports, &r), 0);
    cr_expect_eq(inb(0x3fd) & 0x60, 0x60, "LSR: transmitter empty");
    outb(0x3fb, 0x80);                /* DLAB: divisor latch */
    outb(0x3f8, 0x01);
    outb(0x3fb, 0x03);                /* 8N1 */
    cr_expect_eq(inb(0x3fb), 0x03);
    uint8_t msg[] = "hi";
    cr_expect(pio_dispatch(&ports, 0x3f8, msg, 1, 2, true), "rep outsb");
    cr_expect_eq(tx_len, 2);
    cr_expect_eq(memcmp(tx_buf, "hi", 2), 0);
    outb(0x3f9, 0x01);                /* receive interrupt on */
    cr_expect_eq(uart16550_receive(&u, (const uint8_t *)"x", 1), 1);
    cr_expect(irq_level);
    cr_expect_eq(irq_n, 4);
    cr_expect(inb(0x3fd) & 0x01, "data ready");
    cr_expect_eq(inb(0x3f8), 'x');
    cr_expect_not(irq_level);
    cr_expect_eq(inb(0x400), 0xff, "just past the UART's 8 ports");
    uart16550_destroy(&u);
}
