/* plic.c — register map: priorities at 0x0, pending bits at 0x1000, enables at 0x2000 + 0x80·ctx,
 * threshold and claim/complete at 0x200000 + 0x1000·ctx. */
#include <string.h>
#include "dev/plic.h"

#define PENDING_BASE   0x1000
#define ENABLE_BASE    0x2000
#define ENABLE_STRIDE  0x80
#define CONTEXT_BASE   0x200000
#define CONTEXT_STRIDE 0x1000

static bool enabled(const struct plic *p, unsigned ctx, unsigned src)
{
    return (p->enable[ctx][src / 32] >> (src % 32)) & 1;
}

/* the highest-priority pending source context ctx may take, or 0 */
static unsigned best_source(const struct plic *p, unsigned ctx)
{
    unsigned best = 0;
    uint32_t best_prio = p->threshold[ctx];
    for (unsigned s = 1; s < PLIC_NUM_SOURCES; s++)
        if (p->pending[s] && !p->claimed[s] && p->priority[s] > best_prio && enabled(p, ctx, s)) {
            best = s;
            best_prio = p->priority[s];
        }
    return best;
}

/* called with the lock held: recompute every context's output line */
static void update(struct plic *p)
{
    for (unsigned c = 0; c < p->ncontexts; c++) {
        bool level = best_source(p, c) != 0;
        if (level != p->ctx_level[c]) {
            p->ctx_level[c] = level;
            irq_set(&p->ctx_line[c], level);
        }
    }
}

static uint64_t plic_read(void *opaque, uint64_t off, unsigned size)
{
    struct plic *p = opaque;
    uint32_t v = 0;
    if (size != 4)
        return 0;
    pthread_mutex_lock(&p->lock);
    if (off < PENDING_BASE) {
        if (off / 4 < PLIC_NUM_SOURCES)
            v = p->priority[off / 4];
    } else if (off < ENABLE_BASE) {
        unsigned w = (unsigned)(off - PENDING_BASE) / 4;
        for (unsigned b = 0; b < 32 && w < PLIC_WORDS && w * 32 + b < PLIC_NUM_SOURCES; b++)
            v |= (uint32_t)p->pending[w * 32 + b] << b;
    } else if (off < CONTEXT_BASE) {
        unsigned ctx = (unsigned)(off - ENABLE_BASE) / ENABLE_STRIDE;
        unsigned w = (unsigned)((off - ENABLE_BASE) % ENABLE_STRIDE) / 4;
        if (ctx < p->ncontexts && w < PLIC_WORDS)
            v = p->enable[ctx][w];
    } else {
        unsigned ctx = (unsigned)(off - CONTEXT_BASE) / CONTEXT_STRIDE;
        unsigned reg = (unsigned)(off - CONTEXT_BASE) % CONTEXT_STRIDE;
        if (ctx < p->ncontexts && reg == 0) {
            v = p->threshold[ctx];
        } else if (ctx < p->ncontexts && reg == 4) { /* claim */
            unsigned s = best_source(p, ctx);
            if (s) {
                p->pending[s] = false;
                p->claimed[s] = true;
            }
            v = s;
            update(p);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return v;
}

static void plic_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct plic *p = opaque;
    uint32_t v = (uint32_t)value;
    if (size != 4)
        return;
    pthread_mutex_lock(&p->lock);
    if (off < PENDING_BASE) {
        unsigned s = (unsigned)off / 4;
        if (s > 0 && s < PLIC_NUM_SOURCES)
            p->priority[s] = v & 7;
    } else if (off >= ENABLE_BASE && off < CONTEXT_BASE) {
        unsigned ctx = (unsigned)(off - ENABLE_BASE) / ENABLE_STRIDE;
        unsigned w = (unsigned)((off - ENABLE_BASE) % ENABLE_STRIDE) / 4;
        if (ctx < p->ncontexts && w < PLIC_WORDS)
            p->enable[ctx][w] = w == 0 ? v & ~1u : v; /* source 0 does not exist */
    } else if (off >= CONTEXT_BASE) {
        unsigned ctx = (unsigned)(off - CONTEXT_BASE) / CONTEXT_STRIDE;
        unsigned reg = (unsigned)(off - CONTEXT_BASE) % CONTEXT_STRIDE;
        if (ctx < p->ncontexts && reg == 0) {
            p->threshold[ctx] = v & 7;
        } else if (ctx < p->ncontexts && reg == 4) { /* complete */
            if (v > 0 && v < PLIC_NUM_SOURCES && p->claimed[v] && enabled(p, ctx, v)) {
                p->claimed[v] = false;
                p->pending[v] = p->level[v]; /* level-triggered: still high means pending again */
            }
        }
    }
    update(p);
    pthread_mutex_unlock(&p->lock);
}

int plic_init(struct plic *p, unsigned nharts, const struct irq_line *ctx_lines)
{
    if (2 * nharts > PLIC_MAX_CONTEXTS)
        return -1;
    memset(p, 0, sizeof(*p));
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        return -1;
    p->ncontexts = 2 * nharts;
    memcpy(p->ctx_line, ctx_lines, p->ncontexts * sizeof(*ctx_lines));
    return 0;
}

struct mmio_region plic_region(struct plic *p, uint64_t base)
{
    return (struct mmio_region){ .name = "plic", .base = base, .size = 0x600000, .opaque = p,
                                 .read = plic_read, .write = plic_write };
}

void plic_set_source(struct plic *p, unsigned src, bool level)
{
    if (src == 0 || src >= PLIC_NUM_SOURCES)
        return;
    pthread_mutex_lock(&p->lock);
    p->level[src] = level;
    if (!p->claimed[src])
        p->pending[src] = level;
    update(p);
    pthread_mutex_unlock(&p->lock);
}

static void source_line_set(void *opaque, unsigned n, bool level)
{
    plic_set_source(opaque, n, level);
}

struct irq_line plic_source_line(struct plic *p, unsigned src)
{
    return (struct irq_line){ .set = source_line_set, .opaque = p, .n = src };
}

void plic_destroy(struct plic *p)
{
    pthread_mutex_destroy(&p->lock);
}
