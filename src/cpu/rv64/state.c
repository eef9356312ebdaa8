/* state.c — save and restore of a hart's and the machine's architectural state (persist.h).
 * Only what the guest can observe is state: TLBs, decoded blocks and the LR reservation are
 * dropped (an SC right after a restore fails, which the ISA always allows). */
#include <string.h>
#include "common/persist.h"
#include "cpu/rv64/hart.h"

#define HART_SECTION "rv64-hart"
#define HART_VERSION 1
#define MACHINE_SECTION "rv64-machine"
#define MACHINE_VERSION 1

/* The CSRs whose every value is acceptable (WARL-masked when the guest writes them, but any
 * value is harmless to the emulator), in their order in the state. */
#define PLAIN_CSRS(X) \
    X(misa) X(medeleg) X(mideleg) X(mie) X(mtvec) X(mscratch) X(mepc) X(mcause) X(mtval) \
    X(stvec) X(sscratch) X(sepc) X(scause) X(stval) X(mcounteren) X(scounteren) \
    X(mcountinhibit) X(menvcfg) X(senvcfg) X(stimecmp) X(instret) X(cycle_offset) X(instret_offset)

/* A hart's state as read, before it is checked (the whole struct rv64_hart is too big for a
 * stack). */
struct hart_arch {
    uint64_t x[32], pc, f[32];
    uint32_t fflags, frm;
    uint64_t mstatus, satp, pmpcfg[2], pmpaddr[16], start_addr, start_opaque;
#define DECL_CSR(f) uint64_t f;
    PLAIN_CSRS(DECL_CSR)
#undef DECL_CSR
};

/* mstatus bits the emulator can hold: everything else would be a corrupt or foreign state */
#define MSTATUS_VALID (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | \
                       MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | \
                       MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_UXL | MSTATUS_SXL | \
                       MSTATUS_SD)

void rv64_hart_save(const struct rv64_hart *h, struct persist_writer *w)
{
    persist_begin(w, HART_SECTION, HART_VERSION);
    persist_u32(w, h->hartid);
    for (unsigned i = 0; i < 32; i++)
        persist_u64(w, h->x[i]);
    persist_u64(w, h->pc);
    for (unsigned i = 0; i < 32; i++)
        persist_u64(w, h->f[i]);
    persist_u32(w, h->fflags);
    persist_u32(w, h->frm);
    persist_u8(w, (uint8_t)h->priv);
    persist_u64(w, h->mstatus);
    persist_u64(w, atomic_load(&h->mip));
    persist_u64(w, h->satp);
    persist_u64(w, atomic_load(&h->mtimecmp));
#define SAVE_CSR(f) persist_u64(w, h->f);
    PLAIN_CSRS(SAVE_CSR)
#undef SAVE_CSR
    for (unsigned i = 0; i < 2; i++)
        persist_u64(w, h->pmpcfg[i]);
    for (unsigned i = 0; i < 16; i++)
        persist_u64(w, h->pmpaddr[i]);
    persist_u8(w, (uint8_t)atomic_load(&h->state));
    persist_u64(w, h->start_addr);
    persist_u64(w, h->start_opaque);
    persist_end(w);
}

/* Values that would break the emulator's assumptions (indices, modes) are refused. */
static int check_hart(struct persist_reader *r, unsigned priv, uint32_t frm, uint32_t fflags,
                      uint64_t mstatus, uint64_t satp, unsigned state)
{
    unsigned mode = (unsigned)(satp >> SATP_MODE_SHIFT);
    if (priv != PRIV_U && priv != PRIV_S && priv != PRIV_M)
        return persist_fail(r, "hart state: invalid privilege mode %u", priv);
    if (frm >= 8 || fflags >= 32)
        return persist_fail(r, "hart state: invalid FP rounding mode %u or flags %#x", frm, fflags);
    if ((mstatus & ~MSTATUS_VALID) || ((mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2)
        return persist_fail(r, "hart state: invalid mstatus %#llx", (unsigned long long)mstatus);
    if ((mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 && mode != SATP_MODE_SV48) ||
        (satp & ~((0xfull << SATP_MODE_SHIFT) | SATP_ASID_MASK | SATP_PPN_MASK)))
        return persist_fail(r, "hart state: invalid satp %#llx", (unsigned long long)satp);
    if (state != HART_STARTED && state != HART_STOPPED && state != HART_START_PENDING)
        return persist_fail(r, "hart state: invalid HSM state %u", state);
    return 0;
}

/* Caches that depended on the old state are dropped; the views follow priv and mstatus. */
static void hart_forget_caches(struct rv64_hart *h)
{
    h->lr_valid = false;
    h->trap_streak = 0;
    h->timer_countdown = 0;
    h->last_block = NULL;
    rv64_tlb_flush(h);
    rv64_flush_blocks(h);
    rv64_update_views(h);
}

int rv64_hart_restore(struct rv64_hart *h, struct persist_reader *r)
{
    if (persist_open(r, HART_SECTION, HART_VERSION) != 0)
        return -1;
    uint32_t hartid = persist_get_u32(r);
    if (persist_ok(r) && hartid != h->hartid)
        return persist_fail(r, "hart state is for hart %u, not hart %u", hartid, h->hartid);
    /* read into a copy: a refused state leaves the hart as it was */
    struct hart_arch t;
    for (unsigned i = 0; i < 32; i++)
        t.x[i] = persist_get_u64(r);
    t.pc = persist_get_u64(r);
    for (unsigned i = 0; i < 32; i++)
        t.f[i] = persist_get_u64(r);
    t.fflags = persist_get_u32(r);
    t.frm = persist_get_u32(r);
    unsigned priv = persist_get_u8(r);
    t.mstatus = persist_get_u64(r);
    uint64_t mip = persist_get_u64(r);
    t.satp = persist_get_u64(r);
    uint64_t mtimecmp = persist_get_u64(r);
#define GET_CSR(f) t.f = persist_get_u64(r);
    PLAIN_CSRS(GET_CSR)
#undef GET_CSR
    for (unsigned i = 0; i < 2; i++)
        t.pmpcfg[i] = persist_get_u64(r);
    for (unsigned i = 0; i < 16; i++)
        t.pmpaddr[i] = persist_get_u64(r);
    unsigned state = persist_get_u8(r);
    t.start_addr = persist_get_u64(r);
    t.start_opaque = persist_get_u64(r);
    if (persist_close(r) != 0 || check_hart(r, priv, t.frm, t.fflags, t.mstatus, t.satp, state) != 0)
        return -1;

    memcpy(h->x, t.x, sizeof(t.x));
    h->x[0] = 0;
    h->pc = t.pc;
    memcpy(h->f, t.f, sizeof(t.f));
    h->fflags = t.fflags;
    h->frm = t.frm;
    h->priv = (int)priv;
    h->mstatus = t.mstatus;
    atomic_store(&h->mip, mip);
    h->satp = t.satp;
    atomic_store(&h->mtimecmp, mtimecmp);
#define SET_CSR(f) h->f = t.f;
    PLAIN_CSRS(SET_CSR)
#undef SET_CSR
    memcpy(h->pmpcfg, t.pmpcfg, sizeof(t.pmpcfg));
    memcpy(h->pmpaddr, t.pmpaddr, sizeof(t.pmpaddr));
    atomic_store(&h->state, (int)state);
    h->start_addr = t.start_addr;
    h->start_opaque = t.start_opaque;
    hart_forget_caches(h);
    return 0;
}

void rv64_machine_save(const struct rv64_machine *m, struct persist_writer *w)
{
    persist_begin(w, MACHINE_SECTION, MACHINE_VERSION);
    persist_u32(w, m->nharts);
    persist_u64(w, m->ram_size);
    persist_bool(w, m->sbi_mode);
    persist_u64(w, rv64_time(m));
    persist_end(w);
    for (unsigned i = 0; i < m->nharts; i++)
        rv64_hart_save(m->harts[i], w);
}

/* mtime = (host ns - time_base_ns) / 100: pick the base that makes it `mtime` now. Unsigned
 * wrap-around is fine (rv64_time subtracts modulo 2^64) as long as mtime * 100 fits. */
static int set_mtime(struct rv64_machine *m, struct persist_reader *r, uint64_t mtime,
                     uint64_t advance_ns)
{
    const uint64_t ns_per_tick = 1000000000ull / RV64_TIMEBASE_HZ;
    uint64_t target = mtime + advance_ns / ns_per_tick;
    if (target < mtime || target > UINT64_MAX / ns_per_tick - 1)
        return persist_fail(r, "machine state: mtime %llu is out of range", (unsigned long long)mtime);
    m->time_base_ns = rv64_host_ns() - target * ns_per_tick;
    return 0;
}

/* RAM changed under the decoded code: nothing decoded before may run. Every hart's blocks are
 * gone already (hart_forget_caches), so only the pages' "holds code" marks remain to reset. */
static void forget_code(struct rv64_machine *m)
{
    memset(m->code_page, 0, m->ram_size >> 12);
}

int rv64_machine_restore(struct rv64_machine *m, struct persist_reader *r, uint64_t advance_ns)
{
    if (persist_open(r, MACHINE_SECTION, MACHINE_VERSION) != 0)
        return -1;
    uint32_t nharts = persist_get_u32(r);
    uint64_t ram_size = persist_get_u64(r);
    bool sbi_mode = persist_get_bool(r);
    uint64_t mtime = persist_get_u64(r);
    if (persist_close(r) != 0)
        return -1;
    if (nharts != m->nharts)
        return persist_fail(r, "the state has %u vCPUs, this VM has %u", nharts, m->nharts);
    if (ram_size != m->ram_size)
        return persist_fail(r, "the state has %llu bytes of memory, this VM has %llu",
                            (unsigned long long)ram_size, (unsigned long long)m->ram_size);
    for (unsigned i = 0; i < m->nharts; i++)
        if (rv64_hart_restore(m->harts[i], r) != 0)
            return -1;
    if (set_mtime(m, r, mtime, advance_ns) != 0)
        return -1;
    m->sbi_mode = sbi_mode;
    forget_code(m);
    return 0;
}
