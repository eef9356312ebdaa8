/* irq.h — an interrupt output line. A device raises or lowers it; whoever wired it decides what
 * that means (a PLIC source, a hart's mip bit). Keeps device models independent of the CPU. */
#ifndef KILN_DEV_IRQ_H
#define KILN_DEV_IRQ_H
#include <stdbool.h>

struct irq_line {
    void (*set)(void *opaque, unsigned n, bool level);
    void *opaque;
    unsigned n;
};

static inline void irq_set(const struct irq_line *line, bool level)
{
    if (line && line->set)
        line->set(line->opaque, line->n, level);
}

#endif
