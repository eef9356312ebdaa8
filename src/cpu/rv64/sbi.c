/* sbi.c — the paravirtual hypercall interface: kiln answers the RISC-V SBI (v2.0 subset) itself
 * when it boots a kernel directly in S-mode, so no M-mode firmware has to be emulated. */
#include <sched.h>
#include "cpu/rv64/hart.h"

#define SBI_SUCCESS 0
#define SBI_ERR_FAILED (-1)
#define SBI_ERR_NOT_SUPPORTED (-2)
#define SBI_ERR_INVALID_PARAM (-3)
#define SBI_ERR_INVALID_ADDRESS (-5)
#define SBI_ERR_ALREADY_AVAILABLE (-6)

#define EXT_BASE   0x10
#define EXT_TIME   0x54494D45
#define EXT_IPI    0x735049
#define EXT_RFENCE 0x52464E43
#define EXT_HSM    0x48534D
#define EXT_SRST   0x53525354
#define EXT_DBCN   0x4442434E

#define KILN_SBI_IMPL_ID 0x4b494c4e  /* "KILN" */

struct sbiret { int64_t error; uint64_t value; };

static void set_timer(struct rv64_hart *h, uint64_t when)
{
    h->stimecmp = when;
    rv64_hart_update_timers(h, rv64_time(h->m));
}

/* Calls fn for every hart selected by (mask, base); base == -1 means all harts. */
static int64_t for_each_hart(struct rv64_hart *h, uint64_t mask, uint64_t base,
                             void (*fn)(struct rv64_hart *self, struct rv64_hart *target))
{
    struct rv64_machine *m = h->m;
    if (base == ~0ull) {
        for (unsigned i = 0; i < m->nharts; i++)
            fn(h, m->harts[i]);
        return SBI_SUCCESS;
    }
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!((mask >> bit) & 1))
            continue;
        uint64_t id = base + bit;
        if (id >= m->nharts)
            return SBI_ERR_INVALID_PARAM;
    }
    for (unsigned bit = 0; bit < 64; bit++)
        if ((mask >> bit) & 1)
            fn(h, m->harts[base + bit]);
    return SBI_SUCCESS;
}

static void send_ipi(struct rv64_hart *self, struct rv64_hart *t)
{
    (void)self;
    rv64_hart_set_mip(t, MIP_SSIP, true);
}

/* Remote TLB flushes are synchronous: the caller waits until the target has flushed, or until
 * it is parked (machine paused): a parked hart serves the pending REQ_TLB_FLUSH before it runs
 * any instruction, and waiting for it would keep this hart from parking, so the pause (and a
 * dirty-page harvest) would never finish. */
static void remote_sfence(struct rv64_hart *self, struct rv64_hart *t)
{
    if (t == self) {
        rv64_tlb_flush(self);
        return;
    }
    if (atomic_load(&t->state) != HART_STARTED)
        return;
    rv64_hart_kick(t, REQ_TLB_FLUSH);
    while ((atomic_load(&t->requests) & REQ_TLB_FLUSH) && atomic_load(&t->state) == HART_STARTED &&
           !atomic_load(&t->parked) && !atomic_load(&self->m->exit_reason)) {
        /* serve flushes aimed at us meanwhile, or two harts flushing each other would deadlock */
        if (atomic_load(&self->requests) & REQ_TLB_FLUSH) {
            atomic_fetch_and(&self->requests, ~REQ_TLB_FLUSH);
            rv64_tlb_flush(self);
        }
        sched_yield();
    }
}

static void noop_fence_i(struct rv64_hart *self, struct rv64_hart *t)
{
    (void)self;
    (void)t; /* decoded code is kept coherent with stores; nothing to do */
}

/* Legacy calls pass a pointer to the hart mask in S-mode virtual memory. */
static bool read_legacy_mask(struct rv64_hart *h, uint64_t vaddr, uint64_t *mask)
{
    if (!vaddr) {
        *mask = ~0ull;
        return true;
    }
    uint64_t paddr;
    if (rv64_translate(h, vaddr, ACC_READ, &paddr) || !rv64_is_ram(h->m, paddr, 8))
        return false;
    __builtin_memcpy(mask, rv64_ram_ptr(h->m, paddr), 8);
    return true;
}

static struct sbiret hsm_call(struct rv64_hart *h, unsigned fid, uint64_t *a)
{
    struct rv64_machine *m = h->m;
    switch (fid) {
    case 0: { /* hart_start */
        if (a[0] >= m->nharts)
            return (struct sbiret){ SBI_ERR_INVALID_PARAM, 0 };
        struct rv64_hart *t = m->harts[a[0]];
        int stopped = HART_STOPPED;
        pthread_mutex_lock(&t->wait_lock);
        if (atomic_load(&t->state) != HART_STOPPED) {
            pthread_mutex_unlock(&t->wait_lock);
            return (struct sbiret){ SBI_ERR_ALREADY_AVAILABLE, 0 };
        }
        t->start_addr = a[1];
        t->start_opaque = a[2];
        atomic_compare_exchange_strong(&t->state, &stopped, HART_START_PENDING);
        pthread_cond_broadcast(&t->wait_cond);
        pthread_mutex_unlock(&t->wait_lock);
        return (struct sbiret){ SBI_SUCCESS, 0 };
    }
    case 1: /* hart_stop */
        atomic_store(&h->state, HART_STOPPED);
        rv64_hart_kick(h, REQ_STOP);
        return (struct sbiret){ SBI_SUCCESS, 0 };
    case 2: /* hart_get_status */
        if (a[0] >= m->nharts)
            return (struct sbiret){ SBI_ERR_INVALID_PARAM, 0 };
        return (struct sbiret){ SBI_SUCCESS, (uint64_t)atomic_load(&m->harts[a[0]]->state) };
    case 3: /* hart_suspend: only the retentive default suspend, which is a WFI */
        if ((uint32_t)a[0] != 0)
            return (struct sbiret){ SBI_ERR_NOT_SUPPORTED, 0 };
        rv64_hart_wfi(h);
        return (struct sbiret){ SBI_SUCCESS, 0 };
    }
    return (struct sbiret){ SBI_ERR_NOT_SUPPORTED, 0 };
}

static struct sbiret dbcn_call(struct rv64_hart *h, unsigned fid, uint64_t *a)
{
    struct rv64_machine *m = h->m;
    switch (fid) {
    case 0: { /* console_write(num_bytes, base_lo, base_hi): physical address */
        if (a[2] != 0 || !rv64_is_ram(m, a[1], a[0]))
            return (struct sbiret){ SBI_ERR_INVALID_PARAM, 0 };
        if (m->console_out)
            m->console_out(m->console_opaque, rv64_ram_ptr(m, a[1]), a[0]);
        return (struct sbiret){ SBI_SUCCESS, a[0] };
    }
    case 1: /* console_read: input goes to the UART */
        return (struct sbiret){ SBI_SUCCESS, 0 };
    case 2: {
        uint8_t c = (uint8_t)a[0];
        if (m->console_out)
            m->console_out(m->console_opaque, &c, 1);
        return (struct sbiret){ SBI_SUCCESS, 0 };
    }
    }
    return (struct sbiret){ SBI_ERR_NOT_SUPPORTED, 0 };
}

static bool extension_present(uint64_t eid)
{
    switch (eid) {
    case EXT_BASE: case EXT_TIME: case EXT_IPI: case EXT_RFENCE: case EXT_HSM: case EXT_SRST:
    case EXT_DBCN:
        return true;
    }
    return eid <= 8; /* legacy extensions */
}

static struct sbiret base_call(unsigned fid, uint64_t *a)
{
    switch (fid) {
    case 0: return (struct sbiret){ SBI_SUCCESS, 2u << 24 };     /* spec version 2.0 */
    case 1: return (struct sbiret){ SBI_SUCCESS, KILN_SBI_IMPL_ID };
    case 2: return (struct sbiret){ SBI_SUCCESS, 1 };
    case 3: return (struct sbiret){ SBI_SUCCESS, extension_present(a[0]) ? 1 : 0 };
    case 4: case 5: case 6: return (struct sbiret){ SBI_SUCCESS, 0 };
    }
    return (struct sbiret){ SBI_ERR_NOT_SUPPORTED, 0 };
}

/* Legacy (v0.1) calls return a single value in a0. */
static int64_t legacy_call(struct rv64_hart *h, uint64_t eid, uint64_t *a)
{
    struct rv64_machine *m = h->m;
    uint64_t mask;
    switch (eid) {
    case 0: set_timer(h, a[0]); return 0;
    case 1: {
        uint8_t c = (uint8_t)a[0];
        if (m->console_out)
            m->console_out(m->console_opaque, &c, 1);
        return 0;
    }
    case 2: return -1; /* no input through SBI: use the UART */
    case 3: rv64_hart_set_mip(h, MIP_SSIP, false); return 0;
    case 4:
        if (!read_legacy_mask(h, a[0], &mask)) return SBI_ERR_INVALID_ADDRESS;
        return for_each_hart(h, mask, 0, send_ipi);
    case 5:
        if (!read_legacy_mask(h, a[0], &mask)) return SBI_ERR_INVALID_ADDRESS;
        return for_each_hart(h, mask, 0, noop_fence_i);
    case 6: case 7:
        if (!read_legacy_mask(h, a[0], &mask)) return SBI_ERR_INVALID_ADDRESS;
        return for_each_hart(h, mask, 0, remote_sfence);
    case 8: rv64_machine_exit(m, RV64_EXIT_POWEROFF, 0); return 0;
    }
    return SBI_ERR_NOT_SUPPORTED;
}

bool rv64_sbi_call(struct rv64_hart *h)
{
    uint64_t eid = h->x[17], *a = &h->x[10];
    unsigned fid = (unsigned)h->x[16];
    struct sbiret r = { SBI_ERR_NOT_SUPPORTED, 0 };
    if (eid <= 8) {
        h->x[10] = (uint64_t)legacy_call(h, eid, a);
        return true;
    }
    switch (eid) {
    case EXT_BASE: r = base_call(fid, a); break;
    case EXT_TIME:
        if (fid == 0) { set_timer(h, a[0]); r.error = SBI_SUCCESS; }
        break;
    case EXT_IPI:
        if (fid == 0) r.error = for_each_hart(h, a[0], a[1], send_ipi);
        break;
    case EXT_RFENCE:
        if (fid == 0) r.error = for_each_hart(h, a[0], a[1], noop_fence_i);
        else if (fid <= 2) r.error = for_each_hart(h, a[0], a[1], remote_sfence);
        break;
    case EXT_HSM: r = hsm_call(h, fid, a); break;
    case EXT_SRST:
        if (fid == 0 && a[0] <= 2) {
            rv64_machine_exit(h->m, a[0] == 0 ? RV64_EXIT_POWEROFF : RV64_EXIT_RESET, 0);
            r.error = SBI_SUCCESS;
        } else {
            r.error = SBI_ERR_INVALID_PARAM;
        }
        break;
    case EXT_DBCN: r = dbcn_call(h, fid, a); break;
    default: (void)SBI_ERR_FAILED; break;
    }
    h->x[10] = (uint64_t)r.error;
    h->x[11] = r.value;
    return true;
}
