/* csr.c — control and status registers: access rules (privilege, read-only, counter enables),
 * WARL write masks and the side effects that keep the translation caches coherent. */
#include "cpu/rv64/hart.h"

#define MISA_RV64 (2ull << 62)
#define MISA_EXT(c) (1ull << ((c) - 'A'))
#define MISA_VALUE (MISA_RV64 | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') | \
                    MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U'))

#define MSTATUS_WRITABLE (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | \
                          MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | \
                          MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_WRITABLE (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | \
                          MSTATUS_MXR)
#define MEDELEG_WRITABLE 0xb3ffull   /* every exception except M-mode ecall and reserved causes */
#define MIE_WRITABLE MIP_ALL

uint64_t rv64_misa_value(void) { return MISA_VALUE; }

static uint64_t status_with_sd(uint64_t s)
{
    if ((s & MSTATUS_FS) == MSTATUS_FS_DIRTY)
        s |= MSTATUS_SD;
    else
        s &= ~MSTATUS_SD;
    return s;
}

/* Counters visible below M-mode only where mcounteren (and for U, scounteren) allow. */
static bool counter_allowed(const struct rv64_hart *h, unsigned csr)
{
    unsigned bit = csr & 31;
    if (h->priv == PRIV_M)
        return true;
    if (!((h->mcounteren >> bit) & 1))
        return false;
    if (h->priv == PRIV_U && !((h->scounteren >> bit) & 1))
        return false;
    return true;
}

static bool fp_enabled(const struct rv64_hart *h)
{
    return (h->mstatus & MSTATUS_FS) != 0;
}

static bool accessible(const struct rv64_hart *h, unsigned csr)
{
    return (unsigned)h->priv >= ((csr >> 8) & 3);
}

static bool stimecmp_allowed(const struct rv64_hart *h)
{
    return h->priv == PRIV_M || (h->menvcfg & MENVCFG_STCE);
}

bool rv64_csr_read(struct rv64_hart *h, unsigned csr, uint64_t *val)
{
    if (!accessible(h, csr))
        return false;
    switch (csr) {
    case CSR_FFLAGS: if (!fp_enabled(h)) return false; *val = h->fflags; return true;
    case CSR_FRM: if (!fp_enabled(h)) return false; *val = h->frm; return true;
    case CSR_FCSR: if (!fp_enabled(h)) return false; *val = (h->frm << 5) | h->fflags; return true;
    case CSR_CYCLE: case CSR_INSTRET:
        if (!counter_allowed(h, csr)) return false;
        *val = h->instret + (csr == CSR_CYCLE ? h->cycle_offset : h->instret_offset);
        return true;
    case CSR_TIME:
        if (!counter_allowed(h, csr)) return false;
        *val = rv64_time(h->m);
        return true;
    case CSR_SSTATUS: *val = status_with_sd(h->mstatus) & SSTATUS_MASK; return true;
    case CSR_SIE: *val = h->mie & h->mideleg; return true;
    case CSR_STVEC: *val = h->stvec; return true;
    case CSR_SCOUNTEREN: *val = h->scounteren; return true;
    case CSR_SENVCFG: *val = h->senvcfg; return true;
    case CSR_SSCRATCH: *val = h->sscratch; return true;
    case CSR_SEPC: *val = h->sepc; return true;
    case CSR_SCAUSE: *val = h->scause; return true;
    case CSR_STVAL: *val = h->stval; return true;
    case CSR_SIP: *val = atomic_load(&h->mip) & h->mideleg; return true;
    case CSR_STIMECMP: if (!stimecmp_allowed(h)) return false; *val = h->stimecmp; return true;
    case CSR_SATP:
        if (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM)) return false;
        *val = h->satp;
        return true;
    case CSR_MVENDORID: case CSR_MARCHID: case CSR_MIMPID: case CSR_MCONFIGPTR:
        *val = 0;
        return true;
    case CSR_MHARTID: *val = h->hartid; return true;
    case CSR_MSTATUS: *val = status_with_sd(h->mstatus); return true;
    case CSR_MISA: *val = MISA_VALUE; return true;
    case CSR_MEDELEG: *val = h->medeleg; return true;
    case CSR_MIDELEG: *val = h->mideleg; return true;
    case CSR_MIE: *val = h->mie; return true;
    case CSR_MTVEC: *val = h->mtvec; return true;
    case CSR_MCOUNTEREN: *val = h->mcounteren; return true;
    case CSR_MENVCFG: *val = h->menvcfg; return true;
    case CSR_MCOUNTINHIBIT: *val = h->mcountinhibit; return true;
    case CSR_MSCRATCH: *val = h->mscratch; return true;
    case CSR_MEPC: *val = h->mepc; return true;
    case CSR_MCAUSE: *val = h->mcause; return true;
    case CSR_MTVAL: *val = h->mtval; return true;
    case CSR_MIP: *val = atomic_load(&h->mip); return true;
    case CSR_PMPCFG0: *val = h->pmpcfg[0]; return true;
    case CSR_PMPCFG0 + 2: *val = h->pmpcfg[1]; return true;
    case CSR_MCYCLE: *val = h->instret + h->cycle_offset; return true;
    case CSR_MINSTRET: *val = h->instret + h->instret_offset; return true;
    }
    if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + 16) {
        *val = h->pmpaddr[csr - CSR_PMPADDR0];
        return true;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= 0xb1f) || (csr >= CSR_MHPMEVENT3 && csr <= 0x33f)) {
        *val = 0; /* no hardware performance monitor events: counters read zero */
        return true;
    }
    if (csr >= CSR_HPMCOUNTER3 && csr <= 0xc1f) {
        if (!counter_allowed(h, csr)) return false;
        *val = 0;
        return true;
    }
    return false;
}

static void write_mstatus(struct rv64_hart *h, uint64_t val, uint64_t writable)
{
    uint64_t old = h->mstatus;
    uint64_t s = (old & ~writable) | (val & writable);
    if (((s & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT) == 2)  /* reserved encoding: keep the old mode */
        s = (s & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
    h->mstatus = status_with_sd(s);
    if ((old ^ s) & MSTATUS_MXR)
        rv64_tlb_flush(h);
    if ((old ^ s) & (MSTATUS_MPRV | MSTATUS_MPP | MSTATUS_SUM))
        rv64_update_views(h);
}

static void write_mip(struct rv64_hart *h, uint64_t val, uint64_t writable)
{
    uint64_t old = atomic_load(&h->mip);
    uint64_t want;
    do {
        want = (old & ~writable) | (val & writable);
    } while (!atomic_compare_exchange_weak(&h->mip, &old, want));
}

static void write_satp(struct rv64_hart *h, uint64_t val)
{
    unsigned mode = (unsigned)(val >> SATP_MODE_SHIFT);
    if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 && mode != SATP_MODE_SV48)
        return; /* WARL: unsupported modes leave satp unchanged */
    /* 16 ASID bits: each address space keeps its own TLB context (rv64_tlb_switch) */
    h->satp = val & ((0xfull << SATP_MODE_SHIFT) | SATP_ASID_MASK | SATP_PPN_MASK);
    rv64_tlb_switch(h);
}

bool rv64_csr_write(struct rv64_hart *h, unsigned csr, uint64_t val)
{
    if (!accessible(h, csr) || (csr >> 10) == 3)
        return false;
    switch (csr) {
    case CSR_FFLAGS: case CSR_FRM: case CSR_FCSR:
        if (!fp_enabled(h)) return false;
        if (csr == CSR_FFLAGS) h->fflags = val & 0x1f;
        else if (csr == CSR_FRM) h->frm = val & 7;
        else { h->fflags = val & 0x1f; h->frm = (val >> 5) & 7; }
        h->mstatus |= MSTATUS_FS_DIRTY | MSTATUS_SD;
        return true;
    case CSR_SSTATUS: write_mstatus(h, val, SSTATUS_WRITABLE); return true;
    case CSR_SIE: h->mie = (h->mie & ~h->mideleg) | (val & h->mideleg); return true;
    case CSR_STVEC: h->stvec = (val & 3) >= 2 ? (val & ~3ull) : val; return true;
    case CSR_SCOUNTEREN: h->scounteren = val & 0xffffffff; return true;
    case CSR_SENVCFG: h->senvcfg = val & MENVCFG_FIOM; return true;
    case CSR_SSCRATCH: h->sscratch = val; return true;
    case CSR_SEPC: h->sepc = val & ~1ull; return true;
    case CSR_SCAUSE: h->scause = val; return true;
    case CSR_STVAL: h->stval = val; return true;
    case CSR_SIP: write_mip(h, val, MIP_SSIP & h->mideleg); return true;
    case CSR_STIMECMP:
        if (!stimecmp_allowed(h)) return false;
        h->stimecmp = val;
        rv64_hart_update_timers(h, rv64_time(h->m));
        return true;
    case CSR_SATP:
        if (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM)) return false;
        write_satp(h, val);
        return true;
    case CSR_MSTATUS: write_mstatus(h, val, MSTATUS_WRITABLE); return true;
    case CSR_MISA: return true; /* WARL: the extensions cannot be turned off */
    case CSR_MEDELEG: h->medeleg = val & MEDELEG_WRITABLE; return true;
    case CSR_MIDELEG: h->mideleg = val & MIP_S_MASK; return true;
    case CSR_MIE: h->mie = val & MIE_WRITABLE; return true;
    case CSR_MTVEC: h->mtvec = (val & 3) >= 2 ? (val & ~3ull) : val; return true;
    case CSR_MCOUNTEREN: h->mcounteren = val & 0xffffffff; return true;
    case CSR_MENVCFG:
        h->menvcfg = val & (MENVCFG_STCE | MENVCFG_FIOM);
        rv64_hart_update_timers(h, rv64_time(h->m));
        return true;
    case CSR_MCOUNTINHIBIT: h->mcountinhibit = val & 0xfffffffd; return true;
    case CSR_MSCRATCH: h->mscratch = val; return true;
    case CSR_MEPC: h->mepc = val & ~1ull; return true;
    case CSR_MCAUSE: h->mcause = val; return true;
    case CSR_MTVAL: h->mtval = val; return true;
    case CSR_MIP: {
        uint64_t writable = MIP_SSIP | MIP_SEIP;
        if (!(h->menvcfg & MENVCFG_STCE))
            writable |= MIP_STIP; /* with Sstc, STIP follows stimecmp instead */
        write_mip(h, val, writable);
        return true;
    }
    case CSR_PMPCFG0: h->pmpcfg[0] = val; return true;
    case CSR_PMPCFG0 + 2: h->pmpcfg[1] = val; return true;
    /* the writing instruction retires after this (exec.c counts it when its block ends); the
     * write wins over that increment, so the next instruction reads exactly val */
    case CSR_MCYCLE: h->cycle_offset = val - h->instret - 1; return true;
    case CSR_MINSTRET: h->instret_offset = val - h->instret - 1; return true;
    }
    if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + 16) {
        h->pmpaddr[csr - CSR_PMPADDR0] = val & ((1ull << 54) - 1);
        return true;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= 0xb1f) || (csr >= CSR_MHPMEVENT3 && csr <= 0x33f))
        return true;
    return false;
}
