/* mmu.c — Sv39/Sv48 page walks with hardware A/D updates, and the slow paths behind the
 * software TLB: misses, MMIO, accesses that cross a page, faults. */
#include <string.h>
#include "cpu/rv64/hart.h"
#include "vm/metrics.h"

#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_PPN_MASK ((1ull << 44) - 1)

static const uint64_t page_fault_cause[3] = { CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT,
                                              CAUSE_FETCH_PAGE_FAULT };
static const uint64_t access_fault_cause[3] = { CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS,
                                                CAUSE_FETCH_ACCESS };

_Static_assert(sizeof(((struct tlb_context *)0)->set) == TLB_VIEWS * 3 * TLB_SIZE * sizeof(struct tlb_entry),
               "set[] is one array of entries, numbered in memory order");

static void context_flush(struct tlb_context *c)
{
    if (!c->filled)
        return;
    memset(c->set, 0xff, sizeof(c->set));
    memset(c->super, 0, sizeof(c->super));
    c->filled = false;
}

void rv64_tlb_switch(struct rv64_hart *h)
{
    struct tlb_context *pick = NULL;
    for (unsigned i = 0; i < TLB_CONTEXTS && !pick; i++)
        if (h->tlbs[i].satp == h->satp)
            pick = &h->tlbs[i];
    if (!pick) {
        pick = &h->tlbs[0];
        for (unsigned i = 1; i < TLB_CONTEXTS; i++)
            if (h->tlbs[i].stamp < pick->stamp)
                pick = &h->tlbs[i];
        context_flush(pick);
        pick->satp = h->satp;
    }
    pick->stamp = ++h->tlb_clock;
    h->ctx = pick;
    rv64_update_views(h);
}

void rv64_tlb_flush(struct rv64_hart *h)
{
    for (unsigned i = 0; i < TLB_CONTEXTS; i++)
        context_flush(&h->tlbs[i]);
    rv64_tlb_switch(h);
}

void rv64_tlb_flush_asid(struct rv64_hart *h, uint64_t asid)
{
    for (unsigned i = 0; i < TLB_CONTEXTS; i++)
        if (((h->tlbs[i].satp & SATP_ASID_MASK) >> SATP_ASID_SHIFT) == (asid & 0xffff))
            context_flush(&h->tlbs[i]);
}

/* Linux issues sfence.vma with an address after changing one PTE (a page fault, mprotect,
 * munmap): flushing everything there made a boot refill the TLB through a few million page
 * walks. An address's 4 KiB entries sit at one index in each table; entries a superpage's leaf
 * filled are anywhere, so those are found by the super bitmap. */
static void context_flush_page(struct tlb_context *c, uint64_t vaddr)
{
    struct tlb_entry *all = (struct tlb_entry *)(void *)c->set;
    uint64_t vpage = vaddr & ~0xfffull;
    unsigned idx = (unsigned)(vaddr >> 12) & (TLB_SIZE - 1);
    for (unsigned t = 0; t < TLB_VIEWS * 3; t++)
        if (all[t * TLB_SIZE + idx].vpage == vpage)
            all[t * TLB_SIZE + idx].vpage = ~0ull;
    for (unsigned w = 0; w < sizeof(c->super) / sizeof(c->super[0]); w++) {
        for (uint64_t bits = c->super[w]; bits; bits &= bits - 1) {
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
            if (((all[i].vpage ^ vaddr) >> c->shift[i]) == 0) {
                all[i].vpage = ~0ull;
                c->super[w] &= ~(1ull << (i % 64));
            }
        }
    }
}

void rv64_tlb_flush_page(struct rv64_hart *h, uint64_t vaddr)
{
    for (unsigned i = 0; i < TLB_CONTEXTS; i++)
        if (h->tlbs[i].filled)
            context_flush_page(&h->tlbs[i], vaddr);
}

/* Privilege that data accesses are checked and translated with (MPRV makes M-mode borrow MPP). */
static int data_priv(const struct rv64_hart *h)
{
    if (h->priv == PRIV_M && (h->mstatus & MSTATUS_MPRV))
        return (int)((h->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
    return h->priv;
}

void rv64_update_views(struct rv64_hart *h)
{
    int dp = data_priv(h);
    h->dview = dp == PRIV_U ? 0 : dp == PRIV_S ? ((h->mstatus & MSTATUS_SUM) ? 2 : 1) : 3;
    h->iview = h->priv == PRIV_U ? 0 : h->priv == PRIV_S ? 1 : 3;
    h->dtlb = &h->ctx->set[h->dview];
    h->itlb = &h->ctx->set[h->iview];
}

static bool leaf_allows(const struct rv64_hart *h, uint64_t pte, enum access acc, int priv)
{
    if (priv == PRIV_U && !(pte & PTE_U))
        return false;
    if (priv == PRIV_S && (pte & PTE_U) && (acc == ACC_EXEC || !(h->mstatus & MSTATUS_SUM)))
        return false;
    switch (acc) {
    case ACC_READ:
        return (pte & PTE_R) || ((h->mstatus & MSTATUS_MXR) && (pte & PTE_X));
    case ACC_WRITE:
        return pte & PTE_W;
    case ACC_EXEC:
        return pte & PTE_X;
    }
    return false;
}

int rv64_translate(struct rv64_hart *h, uint64_t vaddr, enum access acc, uint64_t *paddr)
{
    int priv = acc == ACC_EXEC ? h->priv : data_priv(h);
    unsigned mode = (unsigned)(h->satp >> SATP_MODE_SHIFT);
    h->walk_shift = 12;
    if (priv == PRIV_M || mode == SATP_MODE_BARE) {
        *paddr = vaddr;
        return 0;
    }
    int levels = mode == SATP_MODE_SV48 ? 4 : 3;
    int va_bits = 12 + 9 * levels;
    if ((uint64_t)((int64_t)(vaddr << (64 - va_bits)) >> (64 - va_bits)) != vaddr)
        return (int)page_fault_cause[acc];

retry:;
    uint64_t table = (h->satp & SATP_PPN_MASK) << 12;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t pte_addr = table + ((vaddr >> (12 + 9 * level)) & 511) * 8;
        if (!rv64_is_ram(h->m, pte_addr, 8))
            return (int)access_fault_cause[acc];
        uint64_t *ptep = rv64_ram_ptr(h->m, pte_addr);
        uint64_t pte = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)))
            return (int)page_fault_cause[acc];
        uint64_t ppn = (pte >> 10) & PTE_PPN_MASK;
        if (!(pte & (PTE_R | PTE_X))) {
            /* non-leaf: D, A, U and bits 63:54 are reserved and must be zero */
            if ((pte & (PTE_D | PTE_A | PTE_U)) || (pte >> 54) != 0)
                return (int)page_fault_cause[acc];
            table = ppn << 12;
            continue;
        }
        /* leaf */
        if ((pte >> 54) != 0)  /* Svnapot/Svpbmt and reserved bits: not implemented */
            return (int)page_fault_cause[acc];
        if (!leaf_allows(h, pte, acc, priv))
            return (int)page_fault_cause[acc];
        uint64_t low_mask = (1ull << (9 * level)) - 1;
        if (ppn & low_mask)      /* misaligned superpage */
            return (int)page_fault_cause[acc];
        uint64_t want = PTE_A | (acc == ACC_WRITE ? PTE_D : 0);
        if ((pte & want) != want) {
            uint64_t expect = pte;
            if (!__atomic_compare_exchange_n(ptep, &expect, pte | want, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_RELAXED))
                goto retry;
            rv64_invalidate_code(h->m, pte_addr, 8);
            rv64_mark_dirty(h->m, pte_addr, 8);
        }
        uint64_t offset_mask = (1ull << (12 + 9 * level)) - 1;
        *paddr = ((ppn << 12) & ~offset_mask) | (vaddr & offset_mask);
        h->walk_shift = 12 + 9 * (unsigned)level;
        return 0;
    }
    return (int)page_fault_cause[acc];
}

static bool translate_or_raise(struct rv64_hart *h, uint64_t vaddr, enum access acc, uint64_t *paddr)
{
    int cause = rv64_translate(h, vaddr, acc, paddr);
    if (cause) {
        rv64_raise(h, (uint64_t)cause, vaddr);
        return false;
    }
    return true;
}

/* vaddr's entry in table (one of h's) after rv64_translate answered it */
static void tlb_fill(struct rv64_hart *h, struct tlb_entry *table, uint64_t vaddr, void *host)
{
    struct tlb_entry *e = &table[(vaddr >> 12) & (TLB_SIZE - 1)];
    /* guest RAM is page aligned on the host, so host & ~0xfff is the host page */
    e->vpage = vaddr & ~0xfffull;
    e->addend = ((uintptr_t)host & ~(uintptr_t)0xfff) - (uintptr_t)e->vpage;
    struct tlb_context *c = h->ctx;
    size_t i = ((uintptr_t)e - (uintptr_t)c->set) / sizeof(*e);
    c->filled = true;
    if (h->walk_shift > 12) {
        c->super[i / 64] |= 1ull << (i % 64);
        c->shift[i] = (uint8_t)h->walk_shift;
    } else {
        c->super[i / 64] &= ~(1ull << (i % 64));
    }
}

bool rv64_load_slow(struct rv64_hart *h, uint64_t vaddr, unsigned size, uint64_t *val)
{
    if ((vaddr & 0xfff) + size > 0x1000) {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++) {
            uint64_t byte;
            if (!rv64_load_slow(h, vaddr + i, 1, &byte))
                return false;
            v |= byte << (8 * i);
        }
        *val = v;
        return true;
    }
    uint64_t paddr;
    if (!translate_or_raise(h, vaddr, ACC_READ, &paddr))
        return false;
    if (rv64_is_ram(h->m, paddr, size)) {
        uint8_t *p = rv64_ram_ptr(h->m, paddr);
        tlb_fill(h, h->dtlb->r, vaddr, p);
        uint64_t v = 0;
        memcpy(&v, p, size);
        *val = v;
        return true;
    }
    const struct mmio_region *r = bus_find(h->m->bus, paddr, size);
    if (!r || (paddr & (size - 1))) {
        rv64_raise(h, CAUSE_LOAD_ACCESS, vaddr);
        return false;
    }
    *val = r->read(r->opaque, paddr - r->base, size);
    metric_inc(&kiln_metrics.vcpu.exit_mmio_read);
    return true;
}

bool rv64_store_slow(struct rv64_hart *h, uint64_t vaddr, unsigned size, uint64_t val)
{
    if ((vaddr & 0xfff) + size > 0x1000) {
        /* check both pages first so a fault leaves memory untouched */
        uint64_t pa;
        if (!translate_or_raise(h, vaddr, ACC_WRITE, &pa) ||
            !translate_or_raise(h, vaddr + size - 1, ACC_WRITE, &pa))
            return false;
        for (unsigned i = 0; i < size; i++)
            if (!rv64_store_slow(h, vaddr + i, 1, (val >> (8 * i)) & 0xff))
                return false;
        return true;
    }
    uint64_t paddr;
    if (!translate_or_raise(h, vaddr, ACC_WRITE, &paddr))
        return false;
    if (rv64_is_ram(h->m, paddr, size)) {
        uint8_t *p = rv64_ram_ptr(h->m, paddr);
        /* marked before the write TLB entry exists: fast-path stores through it need no mark */
        rv64_mark_dirty(h->m, paddr, size);
        tlb_fill(h, h->dtlb->w, vaddr, p);
        memcpy(p, &val, size);
        uint64_t page = (paddr - RV64_RAM_BASE) >> 12;
        if (h->m->code_page[page])
            rv64_code_written(h->m, page);
        return true;
    }
    const struct mmio_region *r = bus_find(h->m->bus, paddr, size);
    if (!r || (paddr & (size - 1))) {
        rv64_raise(h, CAUSE_STORE_ACCESS, vaddr);
        return false;
    }
    r->write(r->opaque, paddr - r->base, val, size);
    metric_inc(&kiln_metrics.vcpu.exit_mmio_write);
    return true;
}

void *rv64_amo_ptr(struct rv64_hart *h, uint64_t vaddr, unsigned size, enum access acc)
{
    if (vaddr & (size - 1)) {
        rv64_raise(h, acc == ACC_READ ? CAUSE_MISALIGNED_LOAD : CAUSE_MISALIGNED_STORE, vaddr);
        return NULL;
    }
    uint64_t paddr;
    if (!translate_or_raise(h, vaddr, acc, &paddr))
        return NULL;
    if (!rv64_is_ram(h->m, paddr, size)) {
        rv64_raise(h, acc == ACC_READ ? CAUSE_LOAD_ACCESS : CAUSE_STORE_ACCESS, vaddr);
        return NULL;
    }
    if (acc == ACC_WRITE)  /* an AMO or SC may write (a failing SC marks a page needlessly) */
        rv64_mark_dirty(h->m, paddr, size);
    return rv64_ram_ptr(h->m, paddr);
}

bool rv64_fetch_paddr(struct rv64_hart *h, uint64_t pc, uint64_t *paddr)
{
    /* the fetch TLB first: a jump-cache miss (lookup_block) would otherwise walk every time */
    const struct tlb_entry *e = &h->itlb->x[(pc >> 12) & (TLB_SIZE - 1)];
    if (e->vpage == (pc & ~0xfffull)) {
        *paddr = (uint64_t)(pc + e->addend - (uintptr_t)h->m->ram) + RV64_RAM_BASE;
        return true;
    }
    if (!translate_or_raise(h, pc, ACC_EXEC, paddr))
        return false;
    if (rv64_is_ram(h->m, *paddr, 2))
        tlb_fill(h, h->itlb->x, pc, rv64_ram_ptr(h->m, *paddr));
    return true;
}

void rv64_code_written(struct rv64_machine *m, uint64_t page)
{
    m->code_page[page] = 0;
    atomic_fetch_add_explicit(&m->page_gen[page], 1, memory_order_release);
    atomic_fetch_add_explicit(&m->code_epoch, 1, memory_order_release);
}

void rv64_invalidate_code(struct rv64_machine *m, uint64_t paddr, uint64_t len)
{
    if (!len || paddr < RV64_RAM_BASE || paddr - RV64_RAM_BASE >= m->ram_size)
        return;
    uint64_t first = (paddr - RV64_RAM_BASE) >> 12;
    uint64_t end = paddr - RV64_RAM_BASE + len;
    if (end > m->ram_size)
        end = m->ram_size;
    uint64_t last = (end - 1) >> 12;
    for (uint64_t p = first; p <= last; p++)
        if (m->code_page[p])
            rv64_code_written(m, p);
}
