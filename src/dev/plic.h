/* plic.h — the RISC-V Platform-Level Interrupt Controller (SiFive PLIC layout, as on QEMU virt):
 * device sources 1..PLIC_NUM_SOURCES-1, two contexts per hart (M-mode, S-mode), priorities,
 * per-context enables and thresholds, level-triggered claim/complete. */
#ifndef KILN_DEV_PLIC_H
#define KILN_DEV_PLIC_H
#include <pthread.h>
#include <stdbool.h>
#include "dev/irq.h"
#include "dev/mmio.h"

#define PLIC_NUM_SOURCES 96
#define PLIC_MAX_CONTEXTS 128
#define PLIC_WORDS ((PLIC_NUM_SOURCES + 31) / 32)

struct plic {
    pthread_mutex_t lock;
    unsigned ncontexts;
    struct irq_line ctx_line[PLIC_MAX_CONTEXTS];  /* each context's interrupt output */
    bool ctx_level[PLIC_MAX_CONTEXTS];
    uint32_t priority[PLIC_NUM_SOURCES];
    uint32_t enable[PLIC_MAX_CONTEXTS][PLIC_WORDS];
    uint32_t threshold[PLIC_MAX_CONTEXTS];
    bool level[PLIC_NUM_SOURCES];     /* the device's line */
    bool pending[PLIC_NUM_SOURCES];
    bool claimed[PLIC_NUM_SOURCES];   /* claimed and not yet completed */
};

/* ctx_lines has 2 * nharts entries: context 2h is hart h's M-mode, 2h+1 its S-mode. */
int plic_init(struct plic *p, unsigned nharts, const struct irq_line *ctx_lines);
struct mmio_region plic_region(struct plic *p, uint64_t base);
void plic_set_source(struct plic *p, unsigned src, bool level);
/* an irq_line that drives source src, for a device to raise and lower */
struct irq_line plic_source_line(struct plic *p, unsigned src);
void plic_destroy(struct plic *p);
struct persist_writer;
struct persist_reader;
/* State save and restore (common/persist.h); restore refuses bad values and re-drives the
 * interrupt output. */
void plic_save(struct plic *p, struct persist_writer *w);
int plic_restore(struct plic *p, struct persist_reader *r);

#endif
