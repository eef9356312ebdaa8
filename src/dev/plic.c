/* plic.c — register map: priorities at 0x0, pending bits at 0x1000, enables at 0x2000 + 0x80·ctx,
 * threshold and claim/complete at 0x200000 + 0x1000·ctx. */
#include <stdlib.h>
#include <string.h>
#include "common/persist.h"
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

void plic_save(struct plic *p, struct persist_writer *w)
{
    pthread_mutex_lock(&p->lock);
    persist_begin(w, "plic", 1);
    persist_u32(w, p->ncontexts);
    for (unsigned s = 0; s < PLIC_NUM_SOURCES; s++) {
        persist_u32(w, p->priority[s]);
        persist_bool(w, p->level[s]);
        persist_bool(w, p->pending[s]);
        persist_bool(w, p->claimed[s]);
    }
    for (unsigned c = 0; c < p->ncontexts; c++) {
        persist_u32(w, p->threshold[c]);
        for (unsigned i = 0; i < PLIC_WORDS; i++)
            persist_u32(w, p->enable[c][i]);
    }
    persist_end(w);
    pthread_mutex_unlock(&p->lock);
}

/* Source 0 does not exist and priorities/thresholds are 3 bits, as the registers enforce. */
static int check_plic(struct persist_reader *r, const struct plic *t)
{
    if (t->priority[0] || t->level[0] || t->pending[0] || t->claimed[0])
        return persist_fail(r, "plic state: source 0 is in use");
    for (unsigned s = 0; s < PLIC_NUM_SOURCES; s++)
        if (t->priority[s] > 7)
            return persist_fail(r, "plic state: source %u has priority %u", s, t->priority[s]);
    for (unsigned c = 0; c < t->ncontexts; c++)
        if (t->threshold[c] > 7 || (t->enable[c][0] & 1))
            return persist_fail(r, "plic state: context %u has a bad threshold or enable", c);
    return 0;
}

/* Reads the state into t (ncontexts already set); t's arrays are indexed only below it. */
static void read_plic(struct persist_reader *r, struct plic *t)
{
    for (unsigned s = 0; s < PLIC_NUM_SOURCES; s++) {
        t->priority[s] = persist_get_u32(r);
        t->level[s] = persist_get_bool(r);
        t->pending[s] = persist_get_bool(r);
        t->claimed[s] = persist_get_bool(r);
    }
    for (unsigned c = 0; c < t->ncontexts; c++) {
        t->threshold[c] = persist_get_u32(r);
        for (unsigned i = 0; i < PLIC_WORDS; i++)
            t->enable[c][i] = persist_get_u32(r);
    }
}

static void apply_plic(struct plic *p, const struct plic *t)
{
    pthread_mutex_lock(&p->lock);
    memcpy(p->priority, t->priority, sizeof(t->priority));
    memcpy(p->level, t->level, sizeof(t->level));
    memcpy(p->pending, t->pending, sizeof(t->pending));
    memcpy(p->claimed, t->claimed, sizeof(t->claimed));
    memcpy(p->threshold, t->threshold, sizeof(t->threshold));
    memcpy(p->enable, t->enable, sizeof(t->enable));
    /* drive every output, whatever the line held before: the harts' mip was restored too */
    for (unsigned c = 0; c < p->ncontexts; c++) {
        p->ctx_level[c] = best_source(p, c) != 0;
        irq_set(&p->ctx_line[c], p->ctx_level[c]);
    }
    pthread_mutex_unlock(&p->lock);
}

int plic_restore(struct plic *p, struct persist_reader *r)
{
    if (persist_open(r, "plic", 1) != 0)
        return -1;
    struct plic *t = calloc(1, sizeof(*t));  /* read into a copy: a refused state changes nothing */
    if (!t)
        return persist_fail(r, "out of memory");
    t->ncontexts = persist_get_u32(r);
    if (persist_ok(r) && t->ncontexts != p->ncontexts)
        persist_fail(r, "plic state has %u contexts, this PLIC has %u", t->ncontexts, p->ncontexts);
    else
        read_plic(r, t);
    if (persist_close(r) != 0 || check_plic(r, t) != 0) {
        free(t);
        return -1;
    }
    apply_plic(p, t);
    free(t);
    return 0;
}

