/* test_devices.c — the board's device models (ns16550a UART, PLIC, SiFive test finisher, goldfish
 * RTC, boot timer, MMIO bus), driven only through their public headers: the mmio_region read/write
 * callbacks a vCPU would call, and irq_lines whose set() callback records the level. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dev/boot_timer.h"
#include "dev/bus.h"
#include "dev/finisher.h"
#include "dev/goldfish_rtc.h"
#include "dev/irq.h"
#include "dev/mmio.h"
#include "dev/plic.h"
#include "dev/uart16550.h"

/* ================================================================ helpers */

static uint64_t rd(const struct mmio_region *r, uint64_t off, unsigned size)
{
    return r->read(r->opaque, off, size);
}

static void wr(const struct mmio_region *r, uint64_t off, uint64_t v, unsigned size)
{
    r->write(r->opaque, off, v, size);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A bank of interrupt lines (index = the line's n) recording the level each was last set to, how
 * many times set() was called and how many times it was raised. Atomic: the RTC's alarm thread
 * calls set() too. */
#define REC_LINES 8
struct irq_rec {
    atomic_bool level[REC_LINES];
    atomic_uint calls[REC_LINES];
    atomic_uint raises[REC_LINES];
};

static void rec_set(void *opaque, unsigned n, bool level)
{
    struct irq_rec *r = opaque;
    cr_assert_lt(n, REC_LINES, "irq line number %u out of range", n);
    atomic_store(&r->level[n], level);
    atomic_fetch_add(&r->calls[n], 1);
    if (level)
        atomic_fetch_add(&r->raises[n], 1);
}

static void rec_init(struct irq_rec *r)
{
    for (unsigned i = 0; i < REC_LINES; i++) {
        atomic_init(&r->level[i], false);
        atomic_init(&r->calls[i], 0);
        atomic_init(&r->raises[i], 0);
    }
}

static struct irq_line rec_line(struct irq_rec *r, unsigned n)
{
    return (struct irq_line){ .set = rec_set, .opaque = r, .n = n };
}

static bool level_of(struct irq_rec *r, unsigned n)
{
    return atomic_load(&r->level[n]);
}

/* ================================================================ ns16550a UART */

enum { U_RBR = 0, U_IER = 1, U_IIR = 2, U_FCR = 2, U_LCR = 3, U_MCR = 4, U_LSR = 5, U_MSR = 6, U_SCR = 7 };

static struct uart16550 uart;
static struct mmio_region ureg;
static struct irq_rec uirq;
static uint8_t tx_buf[1024];
static size_t tx_len;
static unsigned tx_calls;

static void uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
    cr_assert_eq(opaque, &tx_len, "tx callback got the wrong opaque pointer");
    cr_assert_leq(tx_len + len, sizeof(tx_buf));
    memcpy(tx_buf + tx_len, buf, len);
    tx_len += len;
    tx_calls++;
}

static void uart_setup(void)
{
    rec_init(&uirq);
    tx_len = 0;
    tx_calls = 0;
    uart16550_init(&uart, rec_line(&uirq, 3), uart_tx, &tx_len);
    ureg = uart16550_region(&uart, 0x10000000);
}

static void uart_teardown(void)
{
    uart16550_destroy(&uart);
}

TestSuite(uart, .init = uart_setup, .fini = uart_teardown);

static uint8_t urd(uint64_t off)
{
    return (uint8_t)rd(&ureg, off, 1);
}

static void uwr(uint64_t off, uint8_t v)
{
    wr(&ureg, off, v, 1);
}

/* the byte the tests queue at position i */
static uint8_t pattern(unsigned i)
{
    return (uint8_t)(i * 7 + 3);
}

Test(uart, region_layout)
{
    cr_assert_eq(ureg.base, 0x10000000);
    cr_assert_geq(ureg.size, 8);
    cr_assert_eq(ureg.opaque, &uart);
    cr_assert_not_null(ureg.read);
    cr_assert_not_null(ureg.write);
}

Test(uart, thr_writes_reach_tx_in_order)
{
    const char *msg = "Hello, kiln!\n";
    for (const char *c = msg; *c; c++)
        uwr(U_RBR, (uint8_t)*c);
    cr_assert_eq(tx_len, strlen(msg));
    cr_assert_eq(tx_calls, strlen(msg), "one tx call per THR write");
    cr_assert_arr_eq(tx_buf, msg, strlen(msg));
    /* bytes 0x00 and 0xff go through unchanged */
    uwr(U_RBR, 0x00);
    uwr(U_RBR, 0xff);
    cr_assert_eq(tx_len, strlen(msg) + 2);
    cr_assert_eq(tx_buf[tx_len - 2], 0x00);
    cr_assert_eq(tx_buf[tx_len - 1], 0xff);
    /* no interrupt enabled: the line never rose */
    cr_assert_eq(atomic_load(&uirq.raises[3]), 0);
}

Test(uart, lsr_thre_temt_always_set_dr_follows_fifo)
{
    cr_assert_eq(urd(U_LSR), 0x60, "idle LSR: THRE|TEMT");
    uwr(U_RBR, 'x');
    cr_assert_eq(urd(U_LSR), 0x60, "the transmitter is empty again at once");
    uwr(U_IER, 0x01);
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"ab", 2), 2);
    cr_assert_eq(urd(U_LSR), 0x61, "data ready");
    cr_assert_eq(urd(U_LSR), 0x61, "reading LSR does not consume data");
    cr_assert_eq(urd(U_RBR), 'a');
    cr_assert_eq(urd(U_LSR), 0x61);
    cr_assert_eq(urd(U_RBR), 'b');
    cr_assert_eq(urd(U_LSR), 0x60);
}

Test(uart, receive_fills_fifo_and_reports_what_fit)
{
    uint8_t in[UART_RX_FIFO + 44];
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = pattern(i);
    uwr(U_IER, 0x01);
    cr_assert_eq(uart16550_receive(&uart, in, 10), 10);
    cr_assert_eq(uart16550_receive(&uart, in + 10, sizeof(in) - 10), UART_RX_FIFO - 10,
                 "only the FIFO's free space is taken");
    cr_assert_eq(uart16550_receive(&uart, in, 1), 0, "a full FIFO takes nothing");
    /* one read frees one slot */
    cr_assert_eq(urd(U_RBR), pattern(0));
    cr_assert_eq(uart16550_receive(&uart, in + UART_RX_FIFO, 5), 1);
    for (unsigned i = 1; i <= UART_RX_FIFO; i++) {
        cr_assert_eq(urd(U_LSR) & 0x01, 0x01, "DR set before byte %u", i);
        cr_assert_eq(urd(U_RBR), pattern(i), "byte %u out of order", i);
    }
    cr_assert_eq(urd(U_LSR), 0x60);
    cr_assert_eq(urd(U_RBR), 0, "an empty FIFO reads 0");
    cr_assert_eq(urd(U_LSR), 0x60);
    cr_assert_eq(uart16550_receive(&uart, in, 0), 0);
}

Test(uart, receive_waits_for_rx_interrupt_when_needed)
{
    cr_assert(uart.rx_needs_irq, "Linux-friendly default: input waits for the driver");
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"q", 1), 0, "RDI off: nothing taken");
    cr_assert_eq(urd(U_LSR), 0x60);
    uwr(U_IER, 0x01);
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"q", 1), 1);
    cr_assert_eq(urd(U_RBR), 'q');
    /* a polling guest: no interrupt needed */
    uwr(U_IER, 0x00);
    uart.rx_needs_irq = false;
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"zz", 2), 2);
    cr_assert_eq(urd(U_LSR), 0x61);
    cr_assert_not(level_of(&uirq, 3), "no interrupt while RDI is off");
    cr_assert_eq(urd(U_RBR), 'z');
    cr_assert_eq(urd(U_RBR), 'z');
}

Test(uart, rdi_raises_line_while_data_queued)
{
    uwr(U_IER, 0x01);
    cr_assert_not(level_of(&uirq, 3), "enabling RDI with an empty FIFO does not interrupt");
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"xyz", 3), 3);
    cr_assert(level_of(&uirq, 3), "data queued with RDI on raises the line");
    cr_assert_eq(urd(U_IIR), 0xc4, "IIR: received data available (FIFO mode)");
    cr_assert_eq(urd(U_RBR), 'x');
    cr_assert(level_of(&uirq, 3));
    cr_assert_eq(urd(U_RBR), 'y');
    cr_assert(level_of(&uirq, 3));
    cr_assert_eq(urd(U_RBR), 'z');
    cr_assert_not(level_of(&uirq, 3), "drained: line lowered");
    cr_assert_eq(urd(U_IIR), 0xc1, "IIR: no interrupt pending");
    /* disabling RDI with data queued lowers the line; re-enabling raises it again */
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"w", 1), 1);
    cr_assert(level_of(&uirq, 3));
    uwr(U_IER, 0x00);
    cr_assert_not(level_of(&uirq, 3));
    cr_assert_eq(urd(U_IIR), 0xc1);
    uwr(U_IER, 0x01);
    cr_assert(level_of(&uirq, 3));
    cr_assert_eq(urd(U_RBR), 'w');
    cr_assert_not(level_of(&uirq, 3));
}

Test(uart, thri_raised_on_enable_and_acknowledged_by_iir_read)
{
    cr_assert_eq(urd(U_IIR), 0xc1);
    uwr(U_IER, 0x02);
    cr_assert(level_of(&uirq, 3), "enabling THRI with an empty THR interrupts at once");
    cr_assert_eq(urd(U_IER), 0x02);
    cr_assert_eq(urd(U_IIR), 0x02 | 0xc0, "IIR: THR empty");
    cr_assert_not(level_of(&uirq, 3), "reading IIR acknowledged the THRE interrupt");
    cr_assert_eq(urd(U_IIR), 0xc1, "acknowledged: nothing pending");
    /* writing THR: the byte goes out at once and THR is empty again, so THRE interrupts again */
    uwr(U_RBR, 'k');
    cr_assert_eq(tx_len, 1);
    cr_assert_eq(tx_buf[0], 'k');
    cr_assert(level_of(&uirq, 3));
    cr_assert_eq(urd(U_IIR), 0xc2);
    cr_assert_not(level_of(&uirq, 3));
    /* Linux's startup probe: IER=THRI, read IIR, IER=0, IER=THRI again must re-assert THRE */
    uwr(U_IER, 0x00);
    uwr(U_IER, 0x02);
    cr_assert(level_of(&uirq, 3));
    cr_assert_eq(urd(U_IIR), 0xc2);
    /* rewriting IER with THRI already on does not re-trigger */
    uwr(U_IER, 0x02);
    cr_assert_not(level_of(&uirq, 3));
    cr_assert_eq(urd(U_IIR), 0xc1);
}

Test(uart, iir_rx_data_has_priority_over_thre)
{
    uwr(U_IER, 0x03);
    cr_assert(level_of(&uirq, 3));
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"ab", 2), 2);
    cr_assert_eq(urd(U_IIR), 0xc4, "RX data outranks THRE");
    cr_assert_eq(urd(U_IIR), 0xc4, "and reading it does not acknowledge THRE");
    cr_assert_eq(urd(U_RBR), 'a');
    cr_assert_eq(urd(U_IIR), 0xc4);
    cr_assert_eq(urd(U_RBR), 'b');
    cr_assert(level_of(&uirq, 3), "THRE still pending after the FIFO drained");
    cr_assert_eq(urd(U_IIR), 0xc2);
    cr_assert_not(level_of(&uirq, 3));
    cr_assert_eq(urd(U_IIR), 0xc1);
}

Test(uart, dlab_maps_divisor_latches)
{
    uwr(U_IER, 0x05);
    uwr(U_LCR, 0x83); /* DLAB, 8N1 */
    cr_assert_eq(urd(U_LCR), 0x83);
    uwr(U_RBR, 0x0c);
    uwr(U_IER, 0x01);
    cr_assert_eq(tx_len, 0, "a divisor write is not transmitted");
    cr_assert_eq(urd(U_RBR), 0x0c, "DLL");
    cr_assert_eq(urd(U_IER), 0x01, "DLM");
    uwr(U_LCR, 0x03);
    cr_assert_eq(urd(U_LCR), 0x03);
    cr_assert_eq(urd(U_IER), 0x05, "IER untouched by the DLM write");
    /* with DLAB set, offset 0 reads DLL and leaves the receive FIFO alone */
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"r", 1), 1);
    uwr(U_LCR, 0x83);
    cr_assert_eq(urd(U_RBR), 0x0c);
    cr_assert_eq(urd(U_LSR), 0x61, "DR still set: nothing was consumed");
    uwr(U_LCR, 0x03);
    cr_assert_eq(urd(U_RBR), 'r');
    uwr(U_RBR, 't');
    cr_assert_eq(tx_len, 1);
    cr_assert_eq(tx_buf[0], 't');
    /* the latches keep their values */
    uwr(U_LCR, 0x80);
    cr_assert_eq(urd(U_RBR), 0x0c);
    cr_assert_eq(urd(U_IER), 0x01);
}

Test(uart, scratch_and_ier_readback)
{
    uwr(U_SCR, 0xa5);
    cr_assert_eq(urd(U_SCR), 0xa5);
    uwr(U_SCR, 0x5a);
    cr_assert_eq(urd(U_SCR), 0x5a);
    uwr(U_IER, 0xff);
    cr_assert_eq(urd(U_IER), 0x0f, "only the four 16550 interrupt enables exist");
}

Test(uart, loopback_suppresses_tx_and_msr_reflects_mcr)
{
    cr_assert_eq(urd(U_MSR), 0xb0, "not looped: DCD, DSR and CTS asserted");
    uwr(U_MCR, 0x10);
    cr_assert_eq(urd(U_MCR), 0x10);
    cr_assert_eq(urd(U_MSR), 0x00);
    uwr(U_MCR, 0x11); /* DTR → DSR */
    cr_assert_eq(urd(U_MSR), 0x20);
    uwr(U_MCR, 0x12); /* RTS → CTS */
    cr_assert_eq(urd(U_MSR), 0x10);
    uwr(U_MCR, 0x14); /* OUT1 → RI */
    cr_assert_eq(urd(U_MSR), 0x40);
    uwr(U_MCR, 0x18); /* OUT2 → DCD */
    cr_assert_eq(urd(U_MSR), 0x80);
    uwr(U_MCR, 0x1f);
    cr_assert_eq(urd(U_MSR), 0xf0);
    uwr(U_MCR, 0x1a); /* Linux's autoconfig probe: LOOP|OUT2|RTS must read DCD|CTS */
    cr_assert_eq(urd(U_MSR), 0x90);
    uwr(U_RBR, 'L');
    uwr(U_RBR, 'M');
    cr_assert_eq(tx_len, 0, "loopback: nothing reaches the host");
    cr_assert_eq(urd(U_LSR) & 0x60, 0x60);
    uwr(U_MCR, 0xff);
    cr_assert_eq(urd(U_MCR), 0x1f, "MCR has five bits");
    uwr(U_MCR, 0x03);
    cr_assert_eq(urd(U_MSR), 0xb0);
    uwr(U_RBR, 'N');
    cr_assert_eq(tx_len, 1);
    cr_assert_eq(tx_buf[0], 'N');
}

Test(uart, fcr_clears_rx_fifo)
{
    uwr(U_IER, 0x01);
    cr_assert_eq(uart16550_receive(&uart, (const uint8_t *)"abc", 3), 3);
    cr_assert(level_of(&uirq, 3));
    uwr(U_FCR, 0x01); /* FIFO enable only: nothing cleared */
    cr_assert_eq(urd(U_LSR), 0x61);
    uwr(U_FCR, 0x07); /* enable, clear RX, clear TX */
    cr_assert_eq(urd(U_LSR), 0x60, "RX FIFO emptied");
    cr_assert_not(level_of(&uirq, 3), "nothing left to interrupt for");
    cr_assert_eq(urd(U_IIR), 0xc1);
    cr_assert_eq(urd(U_RBR), 0);
    /* the whole FIFO is free again and keeps order */
    uint8_t in[UART_RX_FIFO];
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = pattern(i);
    cr_assert_eq(uart16550_receive(&uart, in, sizeof(in)), UART_RX_FIFO);
    for (unsigned i = 0; i < UART_RX_FIFO; i++)
        cr_assert_eq(urd(U_RBR), pattern(i));
    cr_assert_eq(urd(U_LSR), 0x60);
}

struct drain_arg {
    struct uart16550 *u;
    unsigned delay_ms;
    uint8_t got;
};

static void *drain_one(void *p)
{
    struct drain_arg *a = p;
    sleep_ms(a->delay_ms);
    struct mmio_region r = uart16550_region(a->u, 0);
    a->got = (uint8_t)r.read(r.opaque, U_RBR, 1);
    return NULL;
}

Test(uart, wait_rx_space_times_out_when_full_and_wakes_on_drain)
{
    uwr(U_IER, 0x01);
    uint64_t t0 = mono_ns();
    cr_assert(uart16550_wait_rx_space(&uart, 1000), "room available: true at once");
    cr_assert_lt(mono_ns() - t0, 100000000ull);

    uint8_t in[UART_RX_FIFO];
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = pattern(i);
    cr_assert_eq(uart16550_receive(&uart, in, sizeof(in)), UART_RX_FIFO);

    t0 = mono_ns();
    cr_assert_not(uart16550_wait_rx_space(&uart, 50), "full: false after the timeout");
    uint64_t waited = mono_ns() - t0;
    cr_assert_geq(waited, 45000000ull, "returned after %llu ns, before the timeout",
                  (unsigned long long)waited);
    cr_assert_lt(waited, 1000000000ull);

    struct drain_arg a = { .u = &uart, .delay_ms = 50 };
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, drain_one, &a), 0);
    t0 = mono_ns();
    bool room = uart16550_wait_rx_space(&uart, 5000);
    waited = mono_ns() - t0;
    pthread_join(th, NULL);
    cr_assert(room, "a reader drained a byte: true");
    cr_assert_lt(waited, 2000000000ull, "woken by the drain, not the timeout (%llu ns)",
                 (unsigned long long)waited);
    cr_assert_eq(a.got, pattern(0));
    cr_assert_eq(uart16550_receive(&uart, in, sizeof(in)), 1);
}

/* ================================================================ PLIC */

#define P_PENDING   0x1000
#define P_ENABLE(c) (0x2000 + 0x80 * (uint64_t)(c))
#define P_THRESH(c) (0x200000 + 0x1000 * (uint64_t)(c))
#define P_CLAIM(c)  (P_THRESH(c) + 4)
#define NHARTS      2
#define NCTX        (2 * NHARTS)

static struct plic plic;
static struct mmio_region preg;
static struct irq_rec pirq;

static void plic_setup(void)
{
    rec_init(&pirq);
    struct irq_line lines[NCTX];
    for (unsigned c = 0; c < NCTX; c++)
        lines[c] = rec_line(&pirq, c);
    cr_assert_eq(plic_init(&plic, NHARTS, lines), 0);
    preg = plic_region(&plic, 0x0c000000);
}

static void plic_teardown(void)
{
    plic_destroy(&plic);
}

TestSuite(plic, .init = plic_setup, .fini = plic_teardown);

static uint32_t prd(uint64_t off)
{
    return (uint32_t)rd(&preg, off, 4);
}

static void pwr(uint64_t off, uint32_t v)
{
    wr(&preg, off, v, 4);
}

static void set_prio(unsigned src, uint32_t prio)
{
    pwr(4 * (uint64_t)src, prio);
}

static void enable_src(unsigned ctx, unsigned src, bool on)
{
    uint64_t off = P_ENABLE(ctx) + 4 * (src / 32);
    uint32_t v = prd(off);
    v = on ? v | (1u << (src % 32)) : v & ~(1u << (src % 32));
    pwr(off, v);
}

static bool pending(unsigned src)
{
    return (prd(P_PENDING + 4 * (src / 32)) >> (src % 32)) & 1;
}

static void assert_lines(bool l0, bool l1, bool l2, bool l3)
{
    bool want[NCTX] = { l0, l1, l2, l3 };
    for (unsigned c = 0; c < NCTX; c++)
        cr_assert_eq(level_of(&pirq, c), want[c], "context %u line is %d, expected %d", c,
                     level_of(&pirq, c), want[c]);
}

Test(plic, region_layout)
{
    cr_assert_eq(preg.base, 0x0c000000);
    cr_assert_eq(preg.size, 0x600000);
    cr_assert_eq(preg.opaque, &plic);
}

Test(plic, reset_state)
{
    for (unsigned s = 0; s < PLIC_NUM_SOURCES; s++)
        cr_assert_eq(prd(4 * s), 0, "priority %u", s);
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        cr_assert_eq(prd(P_PENDING + 4 * w), 0);
        for (unsigned c = 0; c < NCTX; c++)
            cr_assert_eq(prd(P_ENABLE(c) + 4 * w), 0);
    }
    for (unsigned c = 0; c < NCTX; c++) {
        cr_assert_eq(prd(P_THRESH(c)), 0);
        cr_assert_eq(prd(P_CLAIM(c)), 0, "nothing to claim");
    }
    assert_lines(false, false, false, false);
}

Test(plic, priorities_are_three_bits_for_sources_1_to_95)
{
    set_prio(1, 5);
    cr_assert_eq(prd(4), 5);
    set_prio(1, 9);
    cr_assert_eq(prd(4), 1, "priority keeps 3 bits");
    set_prio(1, 0xffffffff);
    cr_assert_eq(prd(4), 7);
    set_prio(95, 3);
    cr_assert_eq(prd(4 * 95), 3);
    set_prio(47, 6);
    cr_assert_eq(prd(4 * 47), 6);
    cr_assert_eq(prd(4 * 46), 0, "neighbours untouched");
    cr_assert_eq(prd(4 * 48), 0);
    set_prio(0, 7);
    cr_assert_eq(prd(0), 0, "source 0 has no priority");
    set_prio(96, 7);
    cr_assert_eq(prd(4 * 96), 0, "no source 96");
    set_prio(1023, 7);
    cr_assert_eq(prd(4 * 1023), 0);
}

Test(plic, enables_are_per_context)
{
    pwr(P_ENABLE(0), 0x0000ff00);
    pwr(P_ENABLE(1) + 4, 0x12345678);
    pwr(P_ENABLE(3) + 8, 0x80000000); /* source 95 */
    cr_assert_eq(prd(P_ENABLE(0)), 0x0000ff00);
    cr_assert_eq(prd(P_ENABLE(0) + 4), 0);
    cr_assert_eq(prd(P_ENABLE(1)), 0);
    cr_assert_eq(prd(P_ENABLE(1) + 4), 0x12345678);
    cr_assert_eq(prd(P_ENABLE(2) + 4), 0);
    cr_assert_eq(prd(P_ENABLE(3) + 8), 0x80000000);

    /* source 5 routed to hart 0's S-mode context only */
    set_prio(5, 1);
    enable_src(1, 5, true);
    plic_set_source(&plic, 5, true);
    assert_lines(false, true, false, false);
    /* and now hart 1's M-mode context too */
    enable_src(2, 5, true);
    assert_lines(false, true, true, false);
    cr_assert_eq(prd(P_CLAIM(0)), 0, "context 0 does not have source 5 enabled");
    /* disabling lowers the line */
    enable_src(1, 5, false);
    assert_lines(false, false, true, false);
    cr_assert_eq(prd(P_CLAIM(2)), 5);
    assert_lines(false, false, false, false);
}

Test(plic, source_zero_cannot_be_enabled_or_raised)
{
    pwr(P_ENABLE(0), 0xffffffff);
    cr_assert_eq(prd(P_ENABLE(0)), 0xfffffffe, "bit 0 (source 0) is hardwired to 0");
    pwr(P_ENABLE(1), 1);
    cr_assert_eq(prd(P_ENABLE(1)), 0);
    pwr(P_ENABLE(0) + 4, 0xffffffff);
    cr_assert_eq(prd(P_ENABLE(0) + 4), 0xffffffff, "bit 0 of word 1 is source 32, a real one");
    plic_set_source(&plic, 0, true);
    plic_set_source(&plic, PLIC_NUM_SOURCES, true);
    plic_set_source(&plic, 1000, true);
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        cr_assert_eq(prd(P_PENDING + 4 * w), 0);
    cr_assert_eq(prd(P_CLAIM(0)), 0);
}

Test(plic, threshold_masks_priorities_at_or_below)
{
    pwr(P_THRESH(0), 5);
    cr_assert_eq(prd(P_THRESH(0)), 5);
    pwr(P_THRESH(0), 0xf);
    cr_assert_eq(prd(P_THRESH(0)), 7, "threshold keeps 3 bits");
    pwr(P_THRESH(0), 2);
    cr_assert_eq(prd(P_THRESH(1)), 0, "thresholds are per context");

    set_prio(3, 2);
    enable_src(0, 3, true);
    enable_src(1, 3, true);
    plic_set_source(&plic, 3, true);
    cr_assert(pending(3));
    assert_lines(false, true, false, false);   /* priority 2 is not above threshold 2 */
    cr_assert_eq(prd(P_CLAIM(0)), 0, "masked by the threshold: nothing to claim");
    cr_assert(pending(3), "a failed claim leaves it pending");
    pwr(P_THRESH(0), 1);
    assert_lines(true, true, false, false);
    pwr(P_THRESH(0), 7);
    assert_lines(false, true, false, false);
    set_prio(3, 7);
    cr_assert_not(level_of(&pirq, 0), "7 is not above 7");
    pwr(P_THRESH(0), 6);
    assert_lines(true, true, false, false);
    /* priority 0 never interrupts, even at threshold 0 */
    set_prio(3, 0);
    assert_lines(false, false, false, false);
    cr_assert_eq(prd(P_CLAIM(1)), 0);
}

Test(plic, claim_returns_highest_priority_ties_to_lowest_id)
{
    set_prio(2, 3);
    set_prio(7, 5);
    set_prio(9, 5);
    set_prio(4, 1);
    set_prio(40, 5);
    set_prio(90, 6);
    unsigned srcs[] = { 2, 4, 7, 9, 40, 90 };
    for (unsigned i = 0; i < 6; i++) {
        enable_src(0, srcs[i], true);
        plic_set_source(&plic, srcs[i], true);
    }
    cr_assert(level_of(&pirq, 0));
    unsigned order[] = { 90, 7, 9, 40, 2, 4 };
    for (unsigned i = 0; i < 6; i++) {
        cr_assert(level_of(&pirq, 0), "line high before claim %u", i);
        cr_assert(pending(order[i]));
        uint32_t got = prd(P_CLAIM(0));
        cr_assert_eq(got, order[i], "claim %u returned %u, expected %u", i, got, order[i]);
        cr_assert_not(pending(order[i]), "claim clears pending");
    }
    cr_assert_not(level_of(&pirq, 0), "everything claimed: line low");
    cr_assert_eq(prd(P_CLAIM(0)), 0);
    /* a claimed source is not offered to another context either */
    enable_src(1, 7, true);
    cr_assert_not(level_of(&pirq, 1));
    cr_assert_eq(prd(P_CLAIM(1)), 0);
}

Test(plic, claim_lowers_line_and_complete_repends_while_level_high)
{
    set_prio(10, 1);
    enable_src(1, 10, true);
    plic_set_source(&plic, 10, true);
    cr_assert(pending(10));
    cr_assert(level_of(&pirq, 1));
    cr_assert_eq(prd(P_CLAIM(1)), 10);
    cr_assert_not(pending(10));
    cr_assert_not(level_of(&pirq, 1), "claim lowered the context line");
    /* toggling the source while claimed does not make it pending */
    plic_set_source(&plic, 10, false);
    plic_set_source(&plic, 10, true);
    cr_assert_not(pending(10));
    cr_assert_not(level_of(&pirq, 1));
    /* complete with the line still high: pending again (level-triggered) */
    pwr(P_CLAIM(1), 10);
    cr_assert(pending(10));
    cr_assert(level_of(&pirq, 1));
    cr_assert_eq(prd(P_CLAIM(1)), 10);
    cr_assert_not(level_of(&pirq, 1));
    /* device lowers its line, then complete: stays idle */
    plic_set_source(&plic, 10, false);
    pwr(P_CLAIM(1), 10);
    cr_assert_not(pending(10));
    cr_assert_not(level_of(&pirq, 1));
    cr_assert_eq(prd(P_CLAIM(1)), 0);
    /* a second complete of the same id changes nothing */
    pwr(P_CLAIM(1), 10);
    cr_assert_not(pending(10));
    /* raising again works as new */
    plic_set_source(&plic, 10, true);
    cr_assert(level_of(&pirq, 1));
    /* lowering before any claim withdraws it (level-triggered) */
    plic_set_source(&plic, 10, false);
    cr_assert_not(pending(10));
    cr_assert_not(level_of(&pirq, 1));
}

Test(plic, complete_for_source_not_enabled_in_context_is_ignored)
{
    set_prio(6, 2);
    enable_src(0, 6, true);
    plic_set_source(&plic, 6, true);
    cr_assert_eq(prd(P_CLAIM(0)), 6);
    /* context 1 does not have source 6 enabled: its complete is ignored */
    pwr(P_CLAIM(1), 6);
    cr_assert_not(pending(6), "ignored complete: still claimed, not pending again");
    assert_lines(false, false, false, false);
    /* the claiming context disables it, then completes: also ignored */
    enable_src(0, 6, false);
    pwr(P_CLAIM(0), 6);
    cr_assert_not(pending(6));
    enable_src(0, 6, true);
    cr_assert_not(level_of(&pirq, 0));
    /* the proper complete */
    pwr(P_CLAIM(0), 6);
    cr_assert(pending(6));
    cr_assert(level_of(&pirq, 0));
    /* completes with ids that are not sources are ignored */
    pwr(P_CLAIM(0), 0);
    pwr(P_CLAIM(0), PLIC_NUM_SOURCES);
    pwr(P_CLAIM(0), 0xffffffff);
    cr_assert(pending(6));
    cr_assert_eq(prd(P_CLAIM(0)), 6);
}

Test(plic, pending_bits_at_0x1000)
{
    plic_set_source(&plic, 1, true);
    plic_set_source(&plic, 33, true);
    plic_set_source(&plic, 95, true);
    cr_assert_eq(prd(P_PENDING), 1u << 1);
    cr_assert_eq(prd(P_PENDING + 4), 1u << 1);
    cr_assert_eq(prd(P_PENDING + 8), 1u << 31);
    cr_assert_eq(prd(P_PENDING + 12), 0, "no fourth word");
    /* pending is read-only */
    pwr(P_PENDING, 0xffffffff);
    pwr(P_PENDING + 4, 0);
    cr_assert_eq(prd(P_PENDING), 1u << 1);
    cr_assert_eq(prd(P_PENDING + 4), 1u << 1);
    /* pending without being enabled anywhere raises no line */
    assert_lines(false, false, false, false);
    plic_set_source(&plic, 33, false);
    cr_assert_eq(prd(P_PENDING + 4), 0);
    /* plic_source_line drives the same thing */
    struct irq_line l = plic_source_line(&plic, 64);
    irq_set(&l, true);
    cr_assert_eq(prd(P_PENDING + 8), (1u << 31) | 1u);
    irq_set(&l, false);
    cr_assert_eq(prd(P_PENDING + 8), 1u << 31);
}

Test(plic, out_of_range_offsets_read_zero_and_ignore_writes)
{
    /* some real state, to check nothing out of range disturbs it */
    set_prio(1, 4);
    pwr(P_ENABLE(NCTX - 1), 0x2);
    pwr(P_THRESH(NCTX - 1), 3);
    uint64_t bad[] = {
        4 * PLIC_NUM_SOURCES,          /* priority of a source that does not exist */
        0xffc,                         /* last word before pending */
        P_PENDING + 4 * PLIC_WORDS,    /* pending word past the last source */
        0x1ffc,
        P_ENABLE(0) + 4 * PLIC_WORDS,  /* enable word past the last source */
        P_ENABLE(0) + 0x7c,
        P_ENABLE(NCTX),                /* enables of a context that does not exist */
        P_ENABLE(NCTX) + 4,
        0x1ffffc,                      /* last word before the contexts */
        P_THRESH(0) + 8,               /* context registers past claim/complete */
        P_THRESH(0) + 0xffc,
        P_THRESH(NCTX),                /* threshold/claim of a context that does not exist */
        P_CLAIM(NCTX),
        P_THRESH(PLIC_MAX_CONTEXTS - 1),
        0x5ffffc,                      /* last word of the window */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(prd(bad[i]), 0, "offset %#llx reads 0", (unsigned long long)bad[i]);
        pwr(bad[i], 0xffffffff);
        cr_assert_eq(prd(bad[i]), 0, "offset %#llx still reads 0 after a write",
                     (unsigned long long)bad[i]);
    }
    for (unsigned s = 0; s < PLIC_NUM_SOURCES; s++)
        cr_assert_eq(prd(4 * s), s == 1 ? 4u : 0u, "priority %u", s);
    for (unsigned c = 0; c < NCTX; c++) {
        for (unsigned w = 0; w < PLIC_WORDS; w++)
            cr_assert_eq(prd(P_ENABLE(c) + 4 * w), (c == NCTX - 1 && w == 0) ? 2u : 0u,
                         "enable ctx %u word %u", c, w);
        cr_assert_eq(prd(P_THRESH(c)), c == NCTX - 1 ? 3u : 0u, "threshold ctx %u", c);
    }
    for (unsigned w = 0; w < PLIC_WORDS; w++)
        cr_assert_eq(prd(P_PENDING + 4 * w), 0);
    assert_lines(false, false, false, false);
}

Test(plic, non_word_accesses_are_ignored)
{
    for (unsigned size = 1; size <= 8; size *= 2) {
        if (size == 4)
            continue;
        wr(&preg, 4, 5, size);
        wr(&preg, P_ENABLE(0), 0x2, size);
        wr(&preg, P_THRESH(0), 3, size);
    }
    cr_assert_eq(prd(4), 0);
    cr_assert_eq(prd(P_ENABLE(0)), 0);
    cr_assert_eq(prd(P_THRESH(0)), 0);

    set_prio(1, 5);
    enable_src(0, 1, true);
    pwr(P_THRESH(0), 2);
    plic_set_source(&plic, 1, true);
    cr_assert(level_of(&pirq, 0));
    for (unsigned size = 1; size <= 8; size *= 2) {
        if (size == 4)
            continue;
        cr_assert_eq(rd(&preg, 4, size), 0, "size %u priority read", size);
        cr_assert_eq(rd(&preg, P_PENDING, size), 0, "size %u pending read", size);
        cr_assert_eq(rd(&preg, P_ENABLE(0), size), 0, "size %u enable read", size);
        cr_assert_eq(rd(&preg, P_THRESH(0), size), 0, "size %u threshold read", size);
        cr_assert_eq(rd(&preg, P_CLAIM(0), size), 0, "size %u claim must not claim", size);
    }
    cr_assert(pending(1), "still pending: the odd-sized reads claimed nothing");
    cr_assert(level_of(&pirq, 0));
    cr_assert_eq(prd(P_CLAIM(0)), 1);
    wr(&preg, P_CLAIM(0), 1, 8);
    wr(&preg, P_CLAIM(0), 1, 1);
    cr_assert_not(pending(1), "odd-sized complete ignored");
    pwr(P_CLAIM(0), 1);
    cr_assert(pending(1));
}

Test(plic, init_rejects_too_many_harts)
{
    static struct plic big;
    static struct irq_line lines[PLIC_MAX_CONTEXTS];
    cr_assert_eq(plic_init(&big, PLIC_MAX_CONTEXTS / 2 + 1, lines), -1);
    cr_assert_eq(plic_init(&big, PLIC_MAX_CONTEXTS / 2, lines), 0);
    plic_destroy(&big);
}

/* ================================================================ SiFive test finisher */

static struct {
    int calls;
    enum finisher_event ev;
    int code;
    void *opaque;
} fin_log;

static void fin_event(void *opaque, enum finisher_event ev, int code)
{
    fin_log.calls++;
    fin_log.ev = ev;
    fin_log.code = code;
    fin_log.opaque = opaque;
}

static struct finisher fin;
static struct mmio_region freg;
static int fin_cookie;

static void fin_setup(void)
{
    memset(&fin_log, 0, sizeof(fin_log));
    finisher_init(&fin, fin_event, &fin_cookie);
    freg = finisher_region(&fin, 0x100000);
}

TestSuite(finisher, .init = fin_setup);

Test(finisher, poweroff)
{
    wr(&freg, 0, 0x5555, 4);
    cr_assert_eq(fin_log.calls, 1);
    cr_assert_eq(fin_log.ev, FINISHER_POWEROFF);
    cr_assert_eq(fin_log.code, 0);
    cr_assert_eq(fin_log.opaque, &fin_cookie);
}

Test(finisher, reset)
{
    wr(&freg, 0, 0x7777, 4);
    cr_assert_eq(fin_log.calls, 1);
    cr_assert_eq(fin_log.ev, FINISHER_RESET);
    cr_assert_eq(fin_log.code, 0);
}

Test(finisher, fail_with_code)
{
    wr(&freg, 0, (42u << 16) | 0x3333, 4);
    cr_assert_eq(fin_log.calls, 1);
    cr_assert_eq(fin_log.ev, FINISHER_FAIL);
    cr_assert_eq(fin_log.code, 42);
    wr(&freg, 0, (0xffffu << 16) | 0x3333, 4);
    cr_assert_eq(fin_log.calls, 2);
    cr_assert_eq(fin_log.ev, FINISHER_FAIL);
    cr_assert_eq(fin_log.code, 0xff, "an exit status keeps the low 8 bits");
    wr(&freg, 0, (7ull << 16) | 0x3333, 8);
    cr_assert_eq(fin_log.calls, 3);
    cr_assert_eq(fin_log.code, 7);
}

Test(finisher, fail_with_code_zero_reports_one)
{
    wr(&freg, 0, 0x3333, 4);
    cr_assert_eq(fin_log.calls, 1);
    cr_assert_eq(fin_log.ev, FINISHER_FAIL);
    cr_assert_eq(fin_log.code, 1);
}

/* 256 (devmem 0x100000 32 0x1003333) once exited 0, a clean power-off: the exit status keeps
 * only the low 8 bits, so every code whose low 8 bits are 0 must report 1 (issue 11) */
Test(finisher, fail_codes_never_read_as_success)
{
    unsigned codes[] = { 0x100, 0x200, 0xff00, 0x8000 };
    for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        wr(&freg, 0, ((uint64_t)codes[i] << 16) | 0x3333, 4);
        cr_assert_eq(fin_log.ev, FINISHER_FAIL);
        cr_assert_eq(fin_log.code, 1, "code %#x reports %d", codes[i], fin_log.code);
    }
    wr(&freg, 0, (0x101u << 16) | 0x3333, 4);
    cr_assert_eq(fin_log.code, 1, "0x101's low 8 bits");
    wr(&freg, 0, (0x1ffu << 16) | 0x3333, 4);
    cr_assert_eq(fin_log.code, 0xff);
}

Test(finisher, other_values_do_nothing)
{
    uint64_t vals[] = { 0, 1, 0x3334, 0x5554, 0x7778, 0x4444, 0xffff, 0x55550000, 0x77770000,
                        0x33330000, 0xdeadbeef };
    for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        wr(&freg, 0, vals[i], 4);
    /* the command register is at offset 0 only */
    wr(&freg, 4, 0x5555, 4);
    wr(&freg, 0x800, 0x3333, 4);
    cr_assert_eq(fin_log.calls, 0);
    cr_assert_eq(rd(&freg, 0, 4), 0);
}

/* ================================================================ goldfish RTC */

enum {
    R_TIME_LOW = 0x00, R_TIME_HIGH = 0x04, R_ALARM_LOW = 0x08, R_ALARM_HIGH = 0x0c,
    R_IRQ_ENABLED = 0x10, R_CLEAR_ALARM = 0x14, R_ALARM_STATUS = 0x18, R_CLEAR_INTERRUPT = 0x1c,
};

static struct goldfish_rtc rtc;
static struct mmio_region rreg;
static struct irq_rec rirq;

static void rtc_setup(void)
{
    rec_init(&rirq);
    goldfish_rtc_init(&rtc, rec_line(&rirq, 1));
    rreg = goldfish_rtc_region(&rtc, 0x101000);
}

static void rtc_teardown(void)
{
    goldfish_rtc_destroy(&rtc);
}

TestSuite(goldfish_rtc, .init = rtc_setup, .fini = rtc_teardown);

/* the way Linux's rtc-goldfish reads the time: low half first, it latches the high half */
static uint64_t rtc_time(void)
{
    uint64_t lo = rd(&rreg, R_TIME_LOW, 4);
    uint64_t hi = rd(&rreg, R_TIME_HIGH, 4);
    return hi << 32 | lo;
}

static void rtc_set_time(uint64_t t)
{
    wr(&rreg, R_TIME_HIGH, t >> 32, 4);
    wr(&rreg, R_TIME_LOW, (uint32_t)t, 4);
}

static void rtc_set_alarm(uint64_t t)
{
    wr(&rreg, R_ALARM_HIGH, t >> 32, 4);
    wr(&rreg, R_ALARM_LOW, (uint32_t)t, 4);
}

/* polls the RTC irq line for up to ms milliseconds */
static bool wait_rtc_irq(unsigned ms)
{
    for (unsigned i = 0; i < ms; i++) {
        if (level_of(&rirq, 1))
            return true;
        sleep_ms(1);
    }
    return level_of(&rirq, 1);
}

#define MS 1000000ll

Test(goldfish_rtc, time_reads_host_realtime)
{
    int64_t before = real_ns();
    uint64_t t = rtc_time();
    int64_t after = real_ns();
    cr_assert_geq((int64_t)t, before - 1 * MS, "RTC %llu behind host %lld", (unsigned long long)t,
                  (long long)before);
    cr_assert_leq((int64_t)t, after + 1 * MS, "RTC %llu ahead of host %lld", (unsigned long long)t,
                  (long long)after);
    cr_assert_gt(t >> 32, 0, "nanoseconds since 1970 need the high half");
    /* the high half is the one latched by the low read */
    sleep_ms(2);
    uint64_t t2 = rtc_time();
    cr_assert_gt(t2, t);
}

Test(goldfish_rtc, set_time_then_read_back)
{
    const uint64_t set = 1000000000ull * 1000000000ull; /* 2001-09-09 */
    rtc_set_time(set);
    uint64_t t = rtc_time();
    cr_assert_geq(t, set, "read back %llu, set %llu", (unsigned long long)t, (unsigned long long)set);
    cr_assert_lt(t, set + 50 * MS, "read back %llu, set %llu", (unsigned long long)t,
                 (unsigned long long)set);
    /* the guest clock keeps running from there */
    sleep_ms(10);
    uint64_t t2 = rtc_time();
    cr_assert_geq(t2, t + 9 * MS);
    cr_assert_lt(t2, set + 500 * MS);
    /* a time in the far future (high half above 31 bits) */
    const uint64_t future = 0x7a00000012345678ull;
    rtc_set_time(future);
    t = rtc_time();
    cr_assert_geq(t, future);
    cr_assert_lt(t, future + 50 * MS);
    /* TIME_HIGH alone does not change the time until TIME_LOW is written */
    wr(&rreg, R_TIME_HIGH, 0x10, 4);
    t = rtc_time();
    cr_assert_geq(t, future);
    cr_assert_lt(t, future + 50 * MS);
}

Test(goldfish_rtc, alarm_raises_irq_after_it_passes)
{
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 0);
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    cr_assert_eq(rd(&rreg, R_IRQ_ENABLED, 4), 1);
    cr_assert_not(level_of(&rirq, 1));
    uint64_t alarm = rtc_time() + 50 * MS;
    rtc_set_alarm(alarm);
    cr_assert_eq(rd(&rreg, R_ALARM_LOW, 4), (uint32_t)alarm);
    cr_assert_eq(rd(&rreg, R_ALARM_HIGH, 4), alarm >> 32);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 1, "armed");
    cr_assert_not(level_of(&rirq, 1), "not before its time");
    cr_assert(wait_rtc_irq(2000), "the alarm never fired");
    uint64_t fired = rtc_time();
    cr_assert_geq(fired, alarm, "fired at %llu, before the alarm time %llu",
                  (unsigned long long)fired, (unsigned long long)alarm);
    cr_assert_lt(fired, alarm + 1000 * MS, "fired far too late");
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 0, "one-shot: disarmed after firing");
    cr_assert_eq(atomic_load(&rirq.raises[1]), 1);
    wr(&rreg, R_CLEAR_INTERRUPT, 1, 4);
    cr_assert_not(level_of(&rirq, 1), "CLEAR_INTERRUPT lowers the line");
    sleep_ms(20);
    cr_assert_not(level_of(&rirq, 1), "and it stays low");
    cr_assert_eq(atomic_load(&rirq.raises[1]), 1);
}

Test(goldfish_rtc, alarm_follows_guest_time_offset)
{
    const uint64_t base = 1000000000ull * 1000000000ull;
    rtc_set_time(base);
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    uint64_t alarm = rtc_time() + 50 * MS;
    rtc_set_alarm(alarm);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 1);
    cr_assert(wait_rtc_irq(2000), "the alarm in guest time never fired");
    uint64_t fired = rtc_time();
    cr_assert_geq(fired, alarm);
    cr_assert_lt(fired, alarm + 1000 * MS);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 0);
}

Test(goldfish_rtc, alarm_in_the_past_fires_at_once)
{
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    rtc_set_alarm(rtc_time() - 1000 * MS);
    cr_assert(wait_rtc_irq(1000));
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 0);
}

/* the guest may set any 64-bit time and alarm: near the top of the range (the old host-deadline
 * arithmetic overflowed there, found by fuzz/regressions/state/goldfish-alarm-overflow) an
 * alarm just ahead still fires on time, and one far ahead stays armed */
Test(goldfish_rtc, extreme_times_and_alarms)
{
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    rtc_set_time(0xfffffffff0000000ull);
    rtc_set_alarm(rtc_time() + 30 * MS);
    cr_assert(wait_rtc_irq(2000), "an alarm near the end of time never fired");
    wr(&rreg, R_CLEAR_INTERRUPT, 1, 4);
    rtc_set_time(0x8000000000000000ull);
    rtc_set_alarm(0xffffffffffffff00ull); /* about 292 years ahead */
    sleep_ms(30);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 1, "a far alarm stays armed");
    cr_assert_not(level_of(&rirq, 1));
    rtc_set_alarm(0x7fffffffffffff00ull); /* in the past of that time */
    cr_assert(wait_rtc_irq(1000), "an alarm in the past did not fire");
}

Test(goldfish_rtc, irq_enabled_gates_the_line)
{
    rtc_set_alarm(rtc_time() + 20 * MS);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 1);
    for (int i = 0; i < 2000 && rd(&rreg, R_ALARM_STATUS, 4); i++)
        sleep_ms(1);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 0, "the alarm fired");
    cr_assert_not(level_of(&rirq, 1), "interrupts disabled: line stays low");
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    cr_assert(level_of(&rirq, 1), "enabling delivers the pending interrupt");
    wr(&rreg, R_IRQ_ENABLED, 0, 4);
    cr_assert_not(level_of(&rirq, 1));
    cr_assert_eq(rd(&rreg, R_IRQ_ENABLED, 4), 0);
    wr(&rreg, R_CLEAR_INTERRUPT, 1, 4);
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    cr_assert_not(level_of(&rirq, 1), "cleared: nothing left to deliver");
}

Test(goldfish_rtc, clear_alarm_disarms)
{
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    rtc_set_alarm(rtc_time() + 30 * MS);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 1);
    wr(&rreg, R_CLEAR_ALARM, 1, 4);
    cr_assert_eq(rd(&rreg, R_ALARM_STATUS, 4), 0);
    sleep_ms(100);
    cr_assert_not(level_of(&rirq, 1), "a cleared alarm does not fire");
    cr_assert_eq(atomic_load(&rirq.raises[1]), 0);
}

Test(goldfish_rtc, rearming_replaces_the_alarm)
{
    wr(&rreg, R_IRQ_ENABLED, 1, 4);
    rtc_set_alarm(rtc_time() + 3600000 * MS); /* an hour away */
    sleep_ms(5);
    uint64_t alarm = rtc_time() + 30 * MS;
    rtc_set_alarm(alarm);                     /* moved earlier: the thread must notice */
    cr_assert(wait_rtc_irq(2000));
    cr_assert_geq(rtc_time(), alarm);
}

Test(goldfish_rtc, destroy_joins_a_waiting_alarm_thread)
{
    static struct goldfish_rtc r2;
    static struct irq_rec rec2;
    rec_init(&rec2);
    goldfish_rtc_init(&r2, rec_line(&rec2, 0));
    struct mmio_region reg = goldfish_rtc_region(&r2, 0);
    reg.write(reg.opaque, R_IRQ_ENABLED, 1, 4);
    uint64_t far = (uint64_t)real_ns() + 3600000 * MS;
    reg.write(reg.opaque, R_ALARM_HIGH, far >> 32, 4);
    reg.write(reg.opaque, R_ALARM_LOW, (uint32_t)far, 4);
    cr_assert_eq(reg.read(reg.opaque, R_ALARM_STATUS, 4), 1);
    sleep_ms(5); /* let the alarm thread go to sleep on the far alarm */
    uint64_t t0 = mono_ns();
    goldfish_rtc_destroy(&r2);
    cr_assert_lt(mono_ns() - t0, 500000000ull, "destroy waited for the alarm instead of stopping");
    cr_assert_not(atomic_load(&rec2.level[0]));
}

Test(goldfish_rtc, destroy_without_alarm_thread)
{
    static struct goldfish_rtc r2;
    goldfish_rtc_init(&r2, (struct irq_line){ 0 });
    struct mmio_region reg = goldfish_rtc_region(&r2, 0);
    cr_assert_neq(reg.read(reg.opaque, R_TIME_LOW, 4) | reg.read(reg.opaque, R_TIME_HIGH, 4), 0);
    goldfish_rtc_destroy(&r2);
}

/* ================================================================ boot timer */

struct memout {
    FILE *f;
    char *buf;
    size_t len;
};

static void memout_open(struct memout *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    cr_assert_not_null(m->f);
}

static void memout_close(struct memout *m)
{
    fclose(m->f);
    free(m->buf);
}

Test(boot_timer, magic_byte_prints_one_line)
{
    struct memout m;
    memout_open(&m);
    struct boot_timer t;
    uint64_t start = mono_ns() - 5000000ull;
    boot_timer_init(&t, start, m.f);
    struct mmio_region r = boot_timer_region(&t, 0x102000);
    cr_assert_eq(boot_timer_last_us(&t), 0, "0 until the guest signals");
    r.write(r.opaque, 0, BOOT_TIMER_MAGIC, 1);
    uint64_t bound_us = (mono_ns() - start) / 1000;
    fflush(m.f);
    cr_assert_not_null(m.buf);
    unsigned long long n = 0;
    int used = -1;
    cr_assert_eq(sscanf(m.buf, "guest boot time: %llu us\n%n", &n, &used), 1, "output: '%s'", m.buf);
    cr_assert_eq((size_t)used, m.len, "exactly one line expected, got '%s'", m.buf);
    cr_assert_eq(m.buf[m.len - 1], '\n');
    char expect[64];
    snprintf(expect, sizeof(expect), "guest boot time: %llu us\n", n);
    cr_assert_str_eq(m.buf, expect);
    cr_assert_geq(n, 5000);
    cr_assert_lt(n, 5000 + 1000000);
    cr_assert_leq(n, bound_us);
    cr_assert_eq(boot_timer_last_us(&t), n);
    memout_close(&m);
}

static void count_ready(void *opaque)
{
    (*(int *)opaque)++;
}

Test(boot_timer, the_ready_byte_calls_the_hook_and_prints_nothing)
{
    struct memout m;
    memout_open(&m);
    struct boot_timer t;
    boot_timer_init(&t, mono_ns(), m.f);
    int calls = 0;
    t.on_ready = count_ready;
    t.ready_opaque = &calls;
    struct mmio_region r = boot_timer_region(&t, 0x102000);
    r.write(r.opaque, 0, BOOT_TIMER_READY, 1);
    r.write(r.opaque, 0, BOOT_TIMER_READY, 4);   /* byte writes only, as for the magic */
    r.write(r.opaque, 4, BOOT_TIMER_READY, 1);
    cr_assert_eq(calls, 1);
    cr_assert_eq(boot_timer_last_us(&t), 0, "the ready byte is not a boot time");
    fflush(m.f);
    cr_assert_eq(m.len, 0, "nothing printed");
    memout_close(&m);
}

Test(boot_timer, other_values_print_nothing)
{
    struct memout m;
    memout_open(&m);
    struct boot_timer t;
    boot_timer_init(&t, mono_ns(), m.f);
    struct mmio_region r = boot_timer_region(&t, 0x102000);
    r.write(r.opaque, 0, 0, 1);
    r.write(r.opaque, 0, 122, 1);
    r.write(r.opaque, 0, 124, 1);
    r.write(r.opaque, 0, 0xff, 1);
    r.write(r.opaque, 0, 0x17b, 2);     /* 379: not the byte 123 */
    r.write(r.opaque, 0, 0x7b00, 2);
    r.write(r.opaque, 0, BOOT_TIMER_MAGIC, 4);  /* as Firecracker: byte writes only */
    r.write(r.opaque, 0, BOOT_TIMER_MAGIC, 2);
    r.write(r.opaque, 1, BOOT_TIMER_MAGIC, 1);  /* right value, wrong offset */
    r.write(r.opaque, 4, BOOT_TIMER_MAGIC, 4);
    fflush(m.f);
    cr_assert_eq(m.len, 0, "unexpected output '%s'", m.buf ? m.buf : "");
    cr_assert_eq(boot_timer_last_us(&t), 0);
    cr_assert_eq(r.read(r.opaque, 0, 1), 0);
    memout_close(&m);
}

Test(boot_timer, each_signal_prints_its_own_line)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    struct boot_timer t;
    boot_timer_init(&t, mono_ns() - 1000000ull, f);
    struct mmio_region r = boot_timer_region(&t, 0);
    r.write(r.opaque, 0, BOOT_TIMER_MAGIC, 1);
    uint64_t first = boot_timer_last_us(&t);
    sleep_ms(2);
    r.write(r.opaque, 0, BOOT_TIMER_MAGIC, 1);
    uint64_t second = boot_timer_last_us(&t);
    cr_assert_geq(first, 1000);
    cr_assert_geq(second, first + 2000);
    rewind(f);
    unsigned long long a = 0, b = 0;
    cr_assert_eq(fscanf(f, "guest boot time: %llu us\n", &a), 1);
    cr_assert_eq(fscanf(f, "guest boot time: %llu us\n", &b), 1);
    cr_assert_eq(a, first);
    cr_assert_eq(b, second);
    cr_assert_eq(fgetc(f), EOF);
    fclose(f);
}

Test(boot_timer, null_output_still_records)
{
    struct boot_timer t;
    boot_timer_init(&t, mono_ns() - 3000000ull, NULL);
    struct mmio_region r = boot_timer_region(&t, 0);
    r.write(r.opaque, 0, BOOT_TIMER_MAGIC, 1);
    cr_assert_geq(boot_timer_last_us(&t), 3000);
    cr_assert_lt(boot_timer_last_us(&t), 3000 + 1000000);
}

/* ================================================================ MMIO bus */

static struct mmio_region region_at(const char *name, uint64_t base, uint64_t size)
{
    return (struct mmio_region){ .name = name, .base = base, .size = size };
}

Test(bus, add_and_find)
{
    struct bus b = { 0 };
    struct mmio_region a = region_at("a", 0x1000, 0x1000);
    struct mmio_region c = region_at("c", 0x3000, 0x100);
    cr_assert_eq(bus_add(&b, &a), 0);
    cr_assert_eq(bus_add(&b, &c), 0);
    cr_assert_eq(b.count, 2);

    const struct mmio_region *r = bus_find(&b, 0x1000, 4);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->name, "a");
    cr_assert_eq(r->base, 0x1000);
    cr_assert_eq(r->size, 0x1000);
    cr_assert_eq(bus_find(&b, 0x1800, 8), r);
    cr_assert_eq(bus_find(&b, 0x1ff8, 8), r, "the last 8 bytes");
    cr_assert_eq(bus_find(&b, 0x1fff, 1), r, "the last byte");
    cr_assert_null(bus_find(&b, 0x1ffc, 8), "straddles the end");
    cr_assert_null(bus_find(&b, 0x2000, 1), "just past the end");
    cr_assert_null(bus_find(&b, 0x0fff, 1), "just before the start");
    cr_assert_null(bus_find(&b, 0x0ffe, 4), "straddles the start");
    cr_assert_str_eq(bus_find(&b, 0x3000, 1)->name, "c");
    cr_assert_str_eq(bus_find(&b, 0x30fc, 4)->name, "c");
    cr_assert_null(bus_find(&b, 0x3100, 4));
    cr_assert_null(bus_find(&b, 0, 4));
    cr_assert_null(bus_find(&b, UINT64_MAX - 3, 4));
    /* the bus copies the region: changing the caller's copy changes nothing */
    a.base = 0x9000;
    cr_assert_eq(bus_find(&b, 0x1000, 4)->base, 0x1000);
    cr_assert_null(bus_find(&b, 0x9000, 4));
}

Test(bus, overlap_rejected)
{
    struct bus b = { 0 };
    struct mmio_region a = region_at("a", 0x10000, 0x1000);
    cr_assert_eq(bus_add(&b, &a), 0);
    struct mmio_region bad[] = {
        region_at("same", 0x10000, 0x1000),
        region_at("inside", 0x10800, 0x10),
        region_at("covers", 0xf000, 0x3000),
        region_at("tail", 0x10fff, 0x10),
        region_at("head", 0xf000, 0x1001),
        region_at("one byte", 0x10000, 1),
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(bus_add(&b, &bad[i]), -1, "%s should be rejected", bad[i].name);
    cr_assert_eq(b.count, 1);
    /* touching is not overlapping */
    struct mmio_region below = region_at("below", 0xf000, 0x1000);
    struct mmio_region above = region_at("above", 0x11000, 0x1000);
    cr_assert_eq(bus_add(&b, &below), 0);
    cr_assert_eq(bus_add(&b, &above), 0);
    cr_assert_eq(b.count, 3);
    cr_assert_str_eq(bus_find(&b, 0xfffc, 4)->name, "below");
    cr_assert_str_eq(bus_find(&b, 0x10000, 4)->name, "a");
    cr_assert_str_eq(bus_find(&b, 0x11000, 4)->name, "above");
    cr_assert_null(bus_find(&b, 0xfffe, 4), "an access across two regions belongs to neither");
}

Test(bus, empty_and_full)
{
    struct bus b = { 0 };
    cr_assert_null(bus_find(&b, 0x1000, 4));
    struct mmio_region zero = region_at("zero", 0x1000, 0);
    cr_assert_eq(bus_add(&b, &zero), -1, "an empty window is rejected");
    for (int i = 0; i < BUS_MAX_REGIONS; i++) {
        struct mmio_region r = region_at("r", 0x100000 + 0x1000 * (uint64_t)i, 0x1000);
        cr_assert_eq(bus_add(&b, &r), 0, "region %d", i);
    }
    cr_assert_eq(b.count, BUS_MAX_REGIONS);
    struct mmio_region extra = region_at("extra", 0x900000, 0x1000);
    cr_assert_eq(bus_add(&b, &extra), -1, "the bus is full");
    cr_assert_eq(b.count, BUS_MAX_REGIONS);
    cr_assert_null(bus_find(&b, 0x900000, 4));
    for (int i = 0; i < BUS_MAX_REGIONS; i++)
        cr_assert_eq(bus_find(&b, 0x100000 + 0x1000 * (uint64_t)i + 0x10, 4)->base,
                     0x100000 + 0x1000 * (uint64_t)i);
}

Test(bus, no_wraparound_at_the_top_of_the_address_space)
{
    struct bus b = { 0 };
    struct mmio_region low = region_at("low", 0, 0x1000);
    cr_assert_eq(bus_add(&b, &low), 0);
    cr_assert_str_eq(bus_find(&b, 0, 8)->name, "low");
    cr_assert_null(bus_find(&b, UINT64_MAX, 1));
    cr_assert_null(bus_find(&b, UINT64_MAX - 1, 4), "addr + len wraps past 2^64 into 'low'");
    cr_assert_null(bus_find(&b, UINT64_MAX - 5, 8));
    /* a window that would wrap past 2^64 is rejected */
    struct mmio_region wrap = region_at("wrap", UINT64_MAX - 0xfff, 0x2000);
    cr_assert_eq(bus_add(&b, &wrap), -1);
    /* one that ends exactly at 2^64 is fine, and is found */
    struct mmio_region top = region_at("top", UINT64_MAX - 0xfff, 0x1000);
    cr_assert_eq(bus_add(&b, &top), 0);
    cr_assert_str_eq(bus_find(&b, UINT64_MAX - 7, 8)->name, "top");
    cr_assert_str_eq(bus_find(&b, UINT64_MAX, 1)->name, "top");
    cr_assert_null(bus_find(&b, UINT64_MAX - 3, 8));
    struct mmio_region near_top = region_at("near", UINT64_MAX - 0x1fff, 0x1001);
    cr_assert_eq(bus_add(&b, &near_top), -1, "overlaps 'top'");
}
