/* uart16550.c — register model of the 16550A as Linux's 8250 driver and OpenSBI use it. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "common/persist.h"
#include "dev/uart16550.h"

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define IER_RDI   0x01
#define IER_THRI  0x02
#define IIR_NONE  0x01
#define IIR_THRI  0x02
#define IIR_RDI   0x04
#define IIR_FIFO  0xc0
#define LCR_DLAB  0x80
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define MCR_LOOP  0x10

/* called with the lock held */
static bool can_receive(const struct uart16550 *u)
{
    return u->rx_count < UART_RX_FIFO && (!u->rx_needs_irq || (u->ier & IER_RDI));
}

/* called with the lock held */
static void update_irq(struct uart16550 *u)
{
    bool level = ((u->ier & IER_RDI) && u->rx_count) || ((u->ier & IER_THRI) && u->thre_pending);
    irq_set(&u->irq, level);
}

static uint64_t uart_read(void *opaque, uint64_t offset, unsigned size)
{
    struct uart16550 *u = opaque;
    uint8_t v = 0;
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (offset) {
    case RBR_THR:
        if (u->lcr & LCR_DLAB) {
            v = u->dll;
        } else if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
            u->rx_count--;
            pthread_cond_broadcast(&u->rx_space);
        }
        break;
    case IER: v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier; break;
    case IIR_FCR:
        if ((u->ier & IER_RDI) && u->rx_count) {
            v = IIR_RDI;
        } else if ((u->ier & IER_THRI) && u->thre_pending) {
            v = IIR_THRI;
            u->thre_pending = false; /* reading IIR acknowledges the THR-empty interrupt */
        } else {
            v = IIR_NONE;
        }
        v |= IIR_FIFO;
        break;
    case LCR: v = u->lcr; break;
    case MCR: v = u->mcr; break;
    case LSR: v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0); break;
    case MSR:
        if (u->mcr & MCR_LOOP) /* loopback: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD */
            v = (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
                          ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4));
        else
            v = 0xb0; /* DCD, DSR, CTS: a modem that is always there */
        break;
    case SCR: v = u->scr; break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return v;
}

static void uart_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct uart16550 *u = opaque;
    uint8_t v = (uint8_t)value, out;
    bool send = false;
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (offset) {
    case RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
        } else {
            out = v;
            send = !(u->mcr & MCR_LOOP);
            u->thre_pending = true; /* sent at once: the holding register is empty again */
        }
        break;
    case IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            if ((v & IER_THRI) && !(u->ier & IER_THRI))
                u->thre_pending = true; /* enabling THRI with an empty THR interrupts at once */
            u->ier = v & 0x0f;
            pthread_cond_broadcast(&u->rx_space);
        }
        break;
    case IIR_FCR:
        if (v & 0x02) { /* clear the receive FIFO */
            u->rx_count = 0;
            pthread_cond_broadcast(&u->rx_space);
        }
        break;
    case LCR: u->lcr = v; break;
    case MCR: u->mcr = v & 0x1f; break;
    case SCR: u->scr = v; break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    /* outside the lock: the host side may block on a full pipe without stalling readers */
    if (send && u->tx)
        u->tx(u->tx_opaque, &out, 1);
}

void uart16550_init(struct uart16550 *u, struct irq_line irq,
                    void (*tx)(void *opaque, const uint8_t *buf, size_t len), void *tx_opaque)
{
    *u = (struct uart16550){ .irq = irq, .tx = tx, .tx_opaque = tx_opaque, .rx_needs_irq = true };
    pthread_mutex_init(&u->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->rx_space, &ca);
    pthread_condattr_destroy(&ca);
}

struct mmio_region uart16550_region(struct uart16550 *u, uint64_t base)
{
    return (struct mmio_region){ .name = "uart16550", .base = base, .size = 0x100, .opaque = u,
                                 .read = uart_read, .write = uart_write };
}

size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    while (n < len && can_receive(u)) {
        u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = buf[n++];
        u->rx_count++;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

bool uart16550_wait_rx_space(struct uart16550 *u, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&u->lock);
    while (!can_receive(u))
        if (pthread_cond_timedwait(&u->rx_space, &u->lock, &until) == ETIMEDOUT)
            break;
    bool room = can_receive(u);
    pthread_mutex_unlock(&u->lock);
    return room;
}

void uart16550_destroy(struct uart16550 *u)
{
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->rx_space);
}

void uart16550_save(struct uart16550 *u, struct persist_writer *w)
{
    pthread_mutex_lock(&u->lock);
    persist_begin(w, "uart16550", 1);
    persist_u8(w, u->ier);
    persist_u8(w, u->lcr);
    persist_u8(w, u->mcr);
    persist_u8(w, u->scr);
    persist_u8(w, u->dll);
    persist_u8(w, u->dlm);
    persist_bool(w, u->thre_pending);
    persist_bool(w, u->rx_needs_irq);
    /* the FIFO's bytes in order, so the state does not depend on where the ring starts */
    persist_u16(w, (uint16_t)u->rx_count);
    for (unsigned i = 0; i < u->rx_count; i++)
        persist_u8(w, u->rx[(u->rx_head + i) % UART_RX_FIFO]);
    persist_end(w);
    pthread_mutex_unlock(&u->lock);
}

int uart16550_restore(struct uart16550 *u, struct persist_reader *r)
{
    if (persist_open(r, "uart16550", 1) != 0)
        return -1;
    uint8_t reg[6];
    persist_get_bytes(r, reg, sizeof(reg));
    bool thre = persist_get_bool(r), needs_irq = persist_get_bool(r);
    unsigned count = persist_get_u16(r);
    if (count > UART_RX_FIFO)
        return persist_fail(r, "uart state: %u bytes in a %u-byte receive FIFO", count, UART_RX_FIFO);
    uint8_t rx[UART_RX_FIFO];
    persist_get_bytes(r, rx, count);
    if (persist_close(r) != 0)
        return -1;
    if ((reg[0] & ~0x0f) || (reg[2] & ~0x1f))  /* IER and MCR hold 4 and 5 bits */
        return persist_fail(r, "uart state: invalid IER %#x or MCR %#x", reg[0], reg[2]);
    pthread_mutex_lock(&u->lock);
    u->ier = reg[0], u->lcr = reg[1], u->mcr = reg[2], u->scr = reg[3], u->dll = reg[4], u->dlm = reg[5];
    u->thre_pending = thre;
    u->rx_needs_irq = needs_irq;
    memcpy(u->rx, rx, count);
    u->rx_head = 0;
    u->rx_count = count;
    update_irq(u);
    pthread_cond_broadcast(&u->rx_space);
    pthread_mutex_unlock(&u->lock);
    return 0;
}
