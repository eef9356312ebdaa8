/* clint.c — CLINT registers. The comparators live in the harts (struct rv64_hart.mtimecmp) so a
 * hart checks its own timer without touching the device. */
#include "cpu/rv64/clint.h"

#define MSIP_BASE     0x0000
#define MTIMECMP_BASE 0x4000
#define MTIME_OFFSET  0xbff8

static uint64_t read_part(uint64_t value, uint64_t offset, unsigned size)
{
    if (size == 8)
        return value;
    return (value >> (8 * (offset & 4))) & 0xffffffffull;
}

static uint64_t write_part(uint64_t old, uint64_t offset, uint64_t val, unsigned size)
{
    if (size == 8)
        return val;
    unsigned shift = 8 * (offset & 4);
    return (old & ~(0xffffffffull << shift)) | ((val & 0xffffffffull) << shift);
}

static uint64_t clint_read(void *opaque, uint64_t offset, unsigned size)
{
    struct clint *c = opaque;
    struct rv64_machine *m = c->m;
    if (size != 4 && size != 8)
        return 0;
    if (offset < MTIMECMP_BASE) {
        unsigned hart = (unsigned)(offset / 4);
        if (hart >= m->nharts || size != 4)
            return 0;
        return (atomic_load(&m->harts[hart]->mip) & MIP_MSIP) ? 1 : 0;
    }
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8ull * m->nharts) {
        unsigned hart = (unsigned)((offset - MTIMECMP_BASE) / 8);
        return read_part(atomic_load(&m->harts[hart]->mtimecmp), offset, size);
    }
    if (offset >= MTIME_OFFSET && offset < MTIME_OFFSET + 8)
        return read_part(rv64_time(m), offset, size);
    return 0;
}

static void clint_write(void *opaque, uint64_t offset, uint64_t val, unsigned size)
{
    struct clint *c = opaque;
    struct rv64_machine *m = c->m;
    if (size != 4 && size != 8)
        return;
    if (offset < MTIMECMP_BASE) {
        unsigned hart = (unsigned)(offset / 4);
        if (hart < m->nharts && size == 4)
            rv64_hart_set_mip(m->harts[hart], MIP_MSIP, val & 1);
        return;
    }
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8ull * m->nharts) {
        struct rv64_hart *h = m->harts[(offset - MTIMECMP_BASE) / 8];
        atomic_store(&h->mtimecmp, write_part(atomic_load(&h->mtimecmp), offset, val, size));
        rv64_hart_update_timers(h, rv64_time(m));
        rv64_hart_kick(h, REQ_RECHECK); /* a sleeping WFI must recompute its deadline */
        return;
    }
    /* mtime is read-only here: it follows the host clock */
}

void clint_init(struct clint *c, struct rv64_machine *m)
{
    c->m = m;
}

struct mmio_region clint_region(struct clint *c, uint64_t base)
{
    return (struct mmio_region){ .name = "clint", .base = base, .size = CLINT_SIZE, .opaque = c,
                                 .read = clint_read, .write = clint_write };
}
