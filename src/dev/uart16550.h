/* uart16550.h — an ns16550a UART: the guest console. Output bytes go to a callback at once (the
 * transmitter is always empty); input is queued in a receive FIFO the host side fills. */
#ifndef KILN_DEV_UART16550_H
#define KILN_DEV_UART16550_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "dev/irq.h"
#include "dev/mmio.h"

#define UART_RX_FIFO 256

struct uart16550 {
    pthread_mutex_t lock;
    pthread_cond_t rx_space;        /* signalled when the guest drains the receive FIFO */
    struct irq_line irq;
    void (*tx)(void *opaque, const uint8_t *buf, size_t len);
    void *tx_opaque;
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    uint8_t rx[UART_RX_FIFO];
    unsigned rx_head, rx_count;
    bool thre_pending;              /* "transmitter empty" interrupt not yet acknowledged */
    /* Host input waits (in the host's pipe or terminal) until the guest driver listens, i.e.
     * enables the receive interrupt: Linux clears the FIFO and reads RBR when it opens the port,
     * and typed-ahead input must survive that. Polling guests (firmware) turn this off. */
    bool rx_needs_irq;
};

void uart16550_init(struct uart16550 *u, struct irq_line irq,
                    void (*tx)(void *opaque, const uint8_t *buf, size_t len), void *tx_opaque);
struct mmio_region uart16550_region(struct uart16550 *u, uint64_t base);
/* Queues host input for the guest. Returns how many bytes fit (the rest must be retried): none
 * while rx_needs_irq is set and the guest has the receive interrupt disabled. */
size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len);
/* Waits up to timeout_ms until the guest can take input. Returns true if it can. */
bool uart16550_wait_rx_space(struct uart16550 *u, int timeout_ms);
void uart16550_destroy(struct uart16550 *u);
struct persist_writer;
struct persist_reader;
/* State save and restore (common/persist.h); restore refuses bad values and re-drives the
 * interrupt output. The tx callback is not state. */
void uart16550_save(struct uart16550 *u, struct persist_writer *w);
int uart16550_restore(struct uart16550 *u, struct persist_reader *r);

#endif
