/* paging.c — Sv39 and Sv48 translation, with page tables built here and S-mode code running
 * under them: 4 KiB pages, a 2 MiB megapage, 1 GiB gigapages (and a 512 GiB page in Sv48),
 * page faults delegated to S-mode with the right scause/stval (12/13/15), hardware A/D
 * updates, sfence.vma after remapping and satp switches, SUM and MXR, U-mode access rules,
 * reserved encodings (W without R, misaligned superpage) and Sv39's canonical-address check. */
#include "lib.h"

#define PTE_V (1ul << 0)
#define PTE_R (1ul << 1)
#define PTE_W (1ul << 2)
#define PTE_X (1ul << 3)
#define PTE_U (1ul << 4)
#define PTE_A (1ul << 6)
#define PTE_D (1ul << 7)
#define SATP_SV39 (8ul << 60)
#define SATP_SV48 (9ul << 60)

#define NORVC(s) ".option push\n.option norvc\n" s "\n.option pop"

/* virtual layout (all below 2^38, so valid in Sv39 and Sv48) */
#define DEV_VA   0x0ul                 /* 1 GiB identity: UART, finisher */
#define RAM_VA   0x80000000ul          /* 1 GiB identity: this program (S-only) */
#define GIGA_VA  0x100000000ul         /* 1 GiB gigapage -> RAM, RW */
#define UALIAS   0x200000000ul         /* 1 GiB gigapage -> RAM, U RWX: code for U-mode */
#define MEGA_VA  0x140200000ul         /* 2 MiB megapage -> MEGA_PA */
#define MISAL_VA 0x140400000ul         /* "megapage" whose PPN is not 2 MiB aligned */
#define PAGE_VA  0x180000000ul         /* 4 KiB test pages, one per slot */
#define MEGA_PA  0x80800000ul          /* free RAM, 2 MiB aligned */
#define HIGH_VA  0x8000000000ul        /* 512 GiB: only Sv48 reaches it */
#define TERA_VA  0x10000000000ul       /* Sv48 level-3 leaf (512 GiB page) -> PA 0 */

enum { S_DATA, S_RO, S_NONE, S_NOX, S_XONLY, S_UDATA, S_UCODE, S_AD, S_REMAP, S_WONLY, S_ADX,
       S_NONLEAF, S_XEDGE, S_XEDGE2, S_ALIAS_X, S_ALIAS_W, S_XTAIL, S_HOLE, NSLOTS };
#define SLOT(s) (PAGE_VA + (uint64_t)(s) * 4096)

static uint64_t pt_pool[48][512] __attribute__((aligned(4096)));
static int pt_next;
static uint8_t pages[NSLOTS + 2][4096] __attribute__((aligned(4096)));
#define P_REMAP2 NSLOTS
#define P_HIGH   (NSLOTS + 1)
static uint8_t ustack[8192] __attribute__((aligned(4096)));
static int levels;

static uint64_t *pt_alloc(void)
{
    if (pt_next >= 48) {
        printf_("page table pool exhausted\n");
        exit_(CODE_NO_MEMORY);
    }
    uint64_t *t = pt_pool[pt_next++];
    memset(t, 0, 4096);
    return t;
}

/* the PTE for va at level lvl (0 = 4 KiB leaf), creating intermediate tables */
static uint64_t *pte_at(uint64_t *root, uint64_t va, int lvl)
{
    uint64_t *t = root;
    for (int l = levels - 1; l > lvl; l--) {
        uint64_t *e = &t[(va >> (12 + 9 * l)) & 511];
        if (!(*e & PTE_V))
            *e = ((uint64_t)pt_alloc() >> 12) << 10 | PTE_V;
        t = (uint64_t *)((*e >> 10) << 12);
    }
    return &t[(va >> (12 + 9 * lvl)) & 511];
}

static void map(uint64_t *root, uint64_t va, uint64_t pa, int lvl, uint64_t flags)
{
    *pte_at(root, va, lvl) = (pa >> 12) << 10 | flags;
}

static uint64_t *root, *root2;

static void build(void)
{
    pt_next = 0;
    root = pt_alloc();
    root2 = pt_alloc();
    for (int k = 0; k < 2; k++) {
        uint64_t *r = k ? root2 : root;
        map(r, DEV_VA, 0, 2, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
        map(r, RAM_VA, RAM_BASE, 2, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
        map(r, GIGA_VA, RAM_BASE, 2, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
        map(r, UALIAS, RAM_BASE, 2, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D);
        /* the second table differs only in where S_REMAP points */
        map(r, SLOT(S_REMAP), (uint64_t)pages[k ? P_REMAP2 : S_REMAP], 0,
            PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    }
    map(root, MEGA_VA, MEGA_PA, 1, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    map(root, MISAL_VA, MEGA_PA + 0x1000, 1, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    const uint64_t ad = PTE_A | PTE_D;
    map(root, SLOT(S_DATA), (uint64_t)pages[S_DATA], 0, PTE_V | PTE_R | PTE_W | ad);
    map(root, SLOT(S_RO), (uint64_t)pages[S_RO], 0, PTE_V | PTE_R | ad);
    map(root, SLOT(S_NONE), (uint64_t)pages[S_NONE], 0, PTE_R | PTE_W | ad);    /* V = 0 */
    map(root, SLOT(S_NOX), (uint64_t)pages[S_NOX], 0, PTE_V | PTE_R | PTE_W | ad);
    map(root, SLOT(S_XONLY), (uint64_t)pages[S_XONLY], 0, PTE_V | PTE_X | ad);
    map(root, SLOT(S_UDATA), (uint64_t)pages[S_UDATA], 0, PTE_V | PTE_R | PTE_W | PTE_U | ad);
    map(root, SLOT(S_UCODE), (uint64_t)pages[S_UCODE], 0, PTE_V | PTE_R | PTE_X | PTE_U | ad);
    map(root, SLOT(S_AD), (uint64_t)pages[S_AD], 0, PTE_V | PTE_R | PTE_W);      /* A = D = 0 */
    map(root, SLOT(S_WONLY), (uint64_t)pages[S_WONLY], 0, PTE_V | PTE_W | ad);  /* reserved */
    map(root, SLOT(S_ADX), (uint64_t)pages[S_ADX], 0, PTE_V | PTE_R | PTE_X);   /* A = 0 */
    map(root, SLOT(S_NONLEAF), (uint64_t)pages[S_NONLEAF], 0, PTE_V);           /* no leaf */
    /* two virtually adjacent code pages, physically the other way round; the second one is
     * mapped later */
    map(root, SLOT(S_XEDGE), (uint64_t)pages[S_XEDGE2], 0, PTE_V | PTE_R | PTE_X | ad);
    /* one physical code page, executable at one address and writable at another */
    map(root, SLOT(S_ALIAS_X), (uint64_t)pages[S_ALIAS_X], 0, PTE_V | PTE_R | PTE_X | ad);
    map(root, SLOT(S_ALIAS_W), (uint64_t)pages[S_ALIAS_X], 0, PTE_V | PTE_R | PTE_W | ad);
    /* code whose last instruction is a compressed one in the page's last 2 bytes; the next
     * page (S_HOLE) is not mapped */
    map(root, SLOT(S_XTAIL), (uint64_t)pages[S_XTAIL], 0, PTE_V | PTE_R | PTE_X | ad);
    if (levels == 4) {
        map(root, HIGH_VA, (uint64_t)pages[P_HIGH], 0, PTE_V | PTE_R | PTE_W | ad);
        map(root, TERA_VA, 0, 3, PTE_V | PTE_R | PTE_W | ad);
    }
}

/* ---- S-mode side ---- */

/* page faults come here (delegated); probes are 4-byte loads/stores or calls */
static int s_fault(struct trapframe *tf)
{
    if (tf->cause & CAUSE_INTR)
        return 0;
    strap.count++;
    strap.cause = tf->cause;
    strap.epc = tf->epc;
    strap.tval = tf->tval;
    strap.status = tf->status;
    if (tf->cause == EXC_INST_PAGE)
        tf->epc = tf->x[REG_RA];
    else
        tf->epc += 4;
    return 1;
}

/* each probe returns the trap cause, or -1 when the access worked */
__attribute__((noinline)) static long ld_probe(uint64_t va, uint64_t *val)
{
    uint64_t v = 0;
    strap.count = 0;
    asm volatile(NORVC("ld %0, 0(%1)") : "+r"(v) : "r"(va) : "memory");
    *val = v;
    return strap.count ? (long)strap.cause : -1;
}

__attribute__((noinline)) static long lw_probe(uint64_t va, uint64_t *val)
{
    uint64_t v = 0;
    strap.count = 0;
    asm volatile(NORVC("lwu %0, 0(%1)") : "+r"(v) : "r"(va) : "memory");
    *val = v;
    return strap.count ? (long)strap.cause : -1;
}

__attribute__((noinline)) static long sd_probe(uint64_t va, uint64_t val)
{
    strap.count = 0;
    asm volatile(NORVC("sd %1, 0(%0)") :: "r"(va), "r"(val) : "memory");
    return strap.count ? (long)strap.cause : -1;
}

__attribute__((noinline)) static long call_probe(uint64_t va, long *ret)
{
    strap.count = 0;
    long r = ((long (*)(long))va)(0);
    *ret = r;
    return strap.count ? (long)strap.cause : -1;
}

static inline void sfence_all(void) { asm volatile("sfence.vma zero, zero" ::: "memory"); }
static inline void sfence_va(uint64_t va) { asm volatile("sfence.vma %0, zero" :: "r"(va) : "memory"); }

#define CHECK_FAULT(expr, cause, va) CHECK_EQ2((expr), (cause), strap.tval, (va))

static volatile uint64_t marker = 0x6d61726b65720001ul;   /* found through the aliases */

static long s_tests(long lv)
{
    uint64_t v;
    long r;

    CHECK_EQ(current_mode(), PRV_S);

    section("  identity and 1 GiB gigapage alias of RAM");
    uint64_t off = (uint64_t)&marker - RAM_BASE;
    CHECK_EQ(ld_probe(GIGA_VA + off, &v), -1);
    CHECK_EQ(v, 0x6d61726b65720001ul);
    CHECK_EQ(sd_probe(GIGA_VA + off, 0x6d61726b65720002ul), -1);
    CHECK_EQ(marker, 0x6d61726b65720002ul);
    CHECK_EQ(call_probe(GIGA_VA + (uint64_t)pages[S_XONLY] - RAM_BASE, &r), EXC_INST_PAGE);

    section("  2 MiB megapage: both ends, and nothing past it");
    CHECK_EQ(ld_probe(MEGA_VA, &v), -1);
    CHECK_EQ(v, 0x4d45474130000000ul);
    CHECK_EQ(ld_probe(MEGA_VA + 0x1ffff8, &v), -1);
    CHECK_EQ(v, 0x4d45474131ffff8ul);
    CHECK_EQ(sd_probe(MEGA_VA + 0x100000, 77), -1);
    CHECK_EQ(*(volatile uint64_t *)(GIGA_VA + MEGA_PA - RAM_BASE + 0x100000), 77);
    CHECK_FAULT(ld_probe(MEGA_VA + 0x200000, &v), EXC_LOAD_PAGE, MEGA_VA + 0x200000);

    section("  4 KiB pages: read/write, read-only, invalid, no-execute, execute-only");
    CHECK_EQ(sd_probe(SLOT(S_DATA) + 8, 0x1234), -1);
    CHECK_EQ(((volatile uint64_t *)pages[S_DATA])[1], 0x1234);
    CHECK_EQ(ld_probe(SLOT(S_RO), &v), -1);
    CHECK_EQ(v, 0x524f524f524f524ful);
    CHECK_FAULT(sd_probe(SLOT(S_RO) + 16, 1), EXC_STORE_PAGE, SLOT(S_RO) + 16);
    CHECK_FAULT(ld_probe(SLOT(S_NONE) + 24, &v), EXC_LOAD_PAGE, SLOT(S_NONE) + 24);
    CHECK_FAULT(sd_probe(SLOT(S_NONE), 1), EXC_STORE_PAGE, SLOT(S_NONE));
    CHECK_FAULT(call_probe(SLOT(S_NONE), &r), EXC_INST_PAGE, SLOT(S_NONE));
    CHECK_FAULT(call_probe(SLOT(S_NOX), &r), EXC_INST_PAGE, SLOT(S_NOX));
    CHECK_EQ(call_probe(SLOT(S_XONLY), &r), -1);
    CHECK_EQ(r, 77);
    CHECK_FAULT(ld_probe(SLOT(S_XONLY), &v), EXC_LOAD_PAGE, SLOT(S_XONLY));
    CHECK_FAULT(ld_probe(SLOT(S_WONLY), &v), EXC_LOAD_PAGE, SLOT(S_WONLY));   /* W without R */
    CHECK_FAULT(sd_probe(SLOT(S_WONLY), 1), EXC_STORE_PAGE, SLOT(S_WONLY));
    CHECK_FAULT(ld_probe(MISAL_VA, &v), EXC_LOAD_PAGE, MISAL_VA);  /* misaligned superpage */
    CHECK_FAULT(ld_probe(SLOT(S_NONLEAF), &v), EXC_LOAD_PAGE, SLOT(S_NONLEAF));
    CHECK_EQ(strap.status & MSTATUS_SPP, MSTATUS_SPP);

    section("  an instruction across a page boundary: fetch fault on the second page");
    CHECK_EQ(call_probe(SLOT(S_XEDGE), &r), EXC_INST_PAGE);
    CHECK_EQ(strap.epc, SLOT(S_XEDGE) + 4094);
    CHECK_EQ(strap.tval, SLOT(S_XEDGE2));
    *pte_at(root, SLOT(S_XEDGE2), 0) =
        ((uint64_t)pages[S_XEDGE] >> 12) << 10 | PTE_V | PTE_R | PTE_X | PTE_A | PTE_D;
    sfence_va(SLOT(S_XEDGE2));
    CHECK_EQ(call_probe(SLOT(S_XEDGE), &r), -1);
    CHECK_EQ(r, 77);

    section("  misaligned access running into an unmapped page faults");
    {
        /* S_NOX is followed by S_XONLY (no R): an 8-byte load at 4 bytes before the boundary */
        uint64_t va = SLOT(S_NOX) + 4092;
        long c = ld_probe(va, &v);
        if (c == EXC_LOAD_MISALIGNED) {
            CHECK_EQ(strap.tval, va);
        } else {
            CHECK_EQ(c, EXC_LOAD_PAGE);
            CHECK(strap.tval >= va && strap.tval <= SLOT(S_XONLY));
        }
    }

    section("  a compressed instruction at the end of a page before an unmapped one runs");
    CHECK_EQ(call_probe(SLOT(S_XTAIL), &r), -1);
    CHECK_EQ(r, 12);

    section("  code rewritten through another virtual address (fence.i), or remapped (sfence.vma)");
    CHECK_EQ(call_probe(SLOT(S_ALIAS_X), &r), -1);
    CHECK_EQ(r, 80);
    for (int k = 81; k < 90; k++) {
        *(volatile uint32_t *)SLOT(S_ALIAS_W) = 0x513 | (uint32_t)k << 20;   /* li a0, k */
        asm volatile("fence.i" ::: "memory");
        call_probe(SLOT(S_ALIAS_X), &r);
        if (r != k)
            break;
    }
    CHECK_EQ(r, 89);
    {
        uint64_t *pte = pte_at(root, SLOT(S_ALIAS_X), 0);
        uint64_t saved = *pte;
        *pte = ((uint64_t)pages[S_XONLY] >> 12) << 10 | PTE_V | PTE_X | PTE_A | PTE_D;
        sfence_va(SLOT(S_ALIAS_X));
        CHECK_EQ(call_probe(SLOT(S_ALIAS_X), &r), -1);
        CHECK_EQ(r, 77);                                    /* the other page's code */
        *pte = saved;
        sfence_va(SLOT(S_ALIAS_X));
        call_probe(SLOT(S_ALIAS_X), &r);
        CHECK_EQ(r, 89);
    }

    section("  MXR makes execute-only pages readable");
    csr_set(sstatus, MSTATUS_MXR);
    CHECK_EQ(lw_probe(SLOT(S_XONLY), &v), -1);
    CHECK_EQ(v, 0x04d00513);                               /* li a0, 77 */
    CHECK_FAULT(sd_probe(SLOT(S_XONLY), 1), EXC_STORE_PAGE, SLOT(S_XONLY));
    csr_clear(sstatus, MSTATUS_MXR);
    CHECK_EQ(lw_probe(SLOT(S_XONLY), &v), EXC_LOAD_PAGE);

    section("  U pages from S: fault without SUM, usable with SUM, never executable");
    CHECK_FAULT(ld_probe(SLOT(S_UDATA), &v), EXC_LOAD_PAGE, SLOT(S_UDATA));
    CHECK_FAULT(sd_probe(SLOT(S_UDATA), 5), EXC_STORE_PAGE, SLOT(S_UDATA));
    csr_set(sstatus, MSTATUS_SUM);
    CHECK_EQ(ld_probe(SLOT(S_UDATA), &v), -1);
    CHECK_EQ(v, 0x5553455255534552ul);
    CHECK_EQ(sd_probe(SLOT(S_UDATA) + 8, 5), -1);
    CHECK_FAULT(call_probe(SLOT(S_UCODE), &r), EXC_INST_PAGE, SLOT(S_UCODE));
    csr_clear(sstatus, MSTATUS_SUM);

    section("  hardware A/D updates");
    uint64_t *pte_ad = pte_at(root, SLOT(S_AD), 0);
    CHECK_EQ(*pte_ad & (PTE_A | PTE_D), 0);
    CHECK_EQ(ld_probe(SLOT(S_AD), &v), -1);
    CHECK_EQ(*pte_ad & (PTE_A | PTE_D), PTE_A);
    CHECK_EQ(sd_probe(SLOT(S_AD) + 64, 9), -1);
    CHECK_EQ(*pte_ad & (PTE_A | PTE_D), PTE_A | PTE_D);
    CHECK_EQ(((volatile uint64_t *)pages[S_AD])[8], 9);
    uint64_t *pte_adx = pte_at(root, SLOT(S_ADX), 0);
    CHECK_EQ(*pte_adx & (PTE_A | PTE_D), 0);
    CHECK_EQ(call_probe(SLOT(S_ADX), &r), -1);
    CHECK_EQ(r, 78);
    CHECK_EQ(*pte_adx & (PTE_A | PTE_D), PTE_A);
    /* clearing A again: the next access must set it again (after sfence.vma) */
    *pte_ad &= ~(PTE_A | PTE_D);
    sfence_va(SLOT(S_AD));
    CHECK_EQ(sd_probe(SLOT(S_AD) + 64, 10), -1);
    CHECK_EQ(*pte_ad & (PTE_A | PTE_D), PTE_A | PTE_D);

    section("  sfence.vma makes remapping, unmapping and satp switches take effect");
    uint64_t *pte_rm = pte_at(root, SLOT(S_REMAP), 0);
    CHECK_EQ(ld_probe(SLOT(S_REMAP), &v), -1);
    CHECK_EQ(v, 0x1111111111111111ul);
    *pte_rm = ((uint64_t)pages[P_REMAP2] >> 12) << 10 | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
    sfence_va(SLOT(S_REMAP));
    CHECK_EQ(ld_probe(SLOT(S_REMAP), &v), -1);
    CHECK_EQ(v, 0x2222222222222222ul);
    *pte_rm = ((uint64_t)pages[S_REMAP] >> 12) << 10 | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
    sfence_all();
    CHECK_EQ(ld_probe(SLOT(S_REMAP), &v), -1);
    CHECK_EQ(v, 0x1111111111111111ul);
    *pte_rm &= ~PTE_V;
    sfence_all();
    CHECK_FAULT(ld_probe(SLOT(S_REMAP), &v), EXC_LOAD_PAGE, SLOT(S_REMAP));
    *pte_rm |= PTE_V;
    sfence_va(SLOT(S_REMAP));
    uint64_t satp1 = csr_read(satp);
    csr_write(satp, (satp1 & (0xful << 60)) | (uint64_t)root2 >> 12);
    sfence_all();
    CHECK_EQ(ld_probe(SLOT(S_REMAP), &v), -1);
    CHECK_EQ(v, 0x2222222222222222ul);
    CHECK_EQ(ld_probe(SLOT(S_DATA), &v), EXC_LOAD_PAGE);   /* not in the second table */
    csr_write(satp, satp1);
    sfence_all();
    CHECK_EQ(ld_probe(SLOT(S_REMAP), &v), -1);
    CHECK_EQ(v, 0x1111111111111111ul);

    if (lv == 3) {
        section("  Sv39: addresses that are not sign-extended from bit 38 fault");
        CHECK_FAULT(ld_probe(HIGH_VA, &v), EXC_LOAD_PAGE, HIGH_VA);
        CHECK_FAULT(sd_probe(0xffffff0000000000ul, 1), EXC_STORE_PAGE, 0xffffff0000000000ul);
    } else {
        section("  Sv48: a page above 512 GiB and a 512 GiB page");
        CHECK_EQ(ld_probe(HIGH_VA + 8, &v), -1);
        CHECK_EQ(v, 0x4849474848494748ul);
        CHECK_EQ(ld_probe(TERA_VA + off + RAM_BASE, &v), -1);
        CHECK_EQ(v, 0x6d61726b65720002ul);
        CHECK_FAULT(ld_probe(0x800000000000ul, &v), EXC_LOAD_PAGE, 0x800000000000ul);
    }
    return 0x600d;
}

/* ---- U-mode side: runs from the U alias of this program; no printing (the UART is S-only) */
static volatile long u_res[8];

static void u_tests(long arg)
{
    (void)arg;
    uint64_t v;
    u_res[0] = current_mode();
    u_res[1] = ld_probe(SLOT(S_UDATA), &v);
    u_res[2] = (long)v;
    u_res[3] = ld_probe(SLOT(S_DATA), &v);                /* S page: faults */
    u_res[4] = (long)strap.tval;
    u_res[5] = sd_probe(SLOT(S_UDATA) + 16, 0x75);
    u_res[6] = call_probe(SLOT(S_UCODE), (long *)&v);
    u_res[7] = (long)v;
    mode_exit(0x5555);
}

#define ALIAS(p) ((uint64_t)(p) - RAM_BASE + UALIAS)

static void run(int lv)
{
    levels = lv;
    build();
    ((volatile uint32_t *)pages[S_ALIAS_X])[0] = 0x05000513;   /* li a0, 80 (again) */
    asm volatile("fence.i" ::: "memory");
    uint64_t mode = lv == 3 ? SATP_SV39 : SATP_SV48;
    csr_write(satp, mode | (uint64_t)root >> 12);
    asm volatile("sfence.vma zero, zero");
    CHECK_EQ(csr_read(satp), mode | (uint64_t)root >> 12);
    CHECK_EQ(run_in_mode(PRV_S, s_tests, lv, 0), 0x600d);

    section("  M-mode loads with MPRV = 1 are translated with MPP's privilege");
    {
        uint64_t v = 0, off = (uint64_t)&marker - RAM_BASE;
        csr_clear(mstatus, MSTATUS_MPP);
        csr_set(mstatus, (uint64_t)PRV_S << MSTATUS_MPP_SHIFT);
        asm volatile(NORVC("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2")
                     : "+r"(v) : "r"(GIGA_VA + off), "r"(MSTATUS_MPRV) : "memory");
        CHECK_EQ(v, marker);
        m_trap_hook = m_record_skip;
        trap_reset(&mtrap);
        csr_clear(mstatus, MSTATUS_MPP);                    /* MPP = U: S pages fault */
        asm volatile(NORVC("csrs mstatus, %2\n ld %0, 0(%1)\n csrc mstatus, %2")
                     : "+r"(v) : "r"(SLOT(S_DATA)), "r"(MSTATUS_MPRV) : "memory");
        CHECK_EQ(mtrap.count, 1);
        CHECK_EQ(mtrap.cause, EXC_LOAD_PAGE);               /* M-mode traps stay in M */
        CHECK_EQ(mtrap.tval, SLOT(S_DATA));
        m_trap_hook = 0;
        CHECK_EQ(csr_read(mstatus) & MSTATUS_MPRV, 0);
    }

    section("  U-mode: own pages work, S pages fault (scause 13, SPP = U)");
    for (int i = 0; i < 8; i++)
        u_res[i] = -99;
    CHECK_EQ(run_in_mode(PRV_U, (long (*)(long))ALIAS(u_tests), 0, ALIAS(ustack + sizeof(ustack))),
             0x5555);
    CHECK_EQ(u_res[0], PRV_U);
    CHECK_EQ(u_res[1], -1);
    CHECK_EQ(u_res[2], 0x5553455255534552ul);
    CHECK_EQ(u_res[3], EXC_LOAD_PAGE);
    CHECK_EQ(u_res[4], SLOT(S_DATA));
    CHECK_EQ(strap.status & MSTATUS_SPP, 0);
    CHECK_EQ(u_res[5], -1);
    CHECK_EQ(((volatile uint64_t *)pages[S_UDATA])[2], 0x75);
    CHECK_EQ(u_res[6], -1);
    CHECK_EQ(u_res[7], 79);

    csr_write(satp, 0);
    asm volatile("sfence.vma zero, zero");
}

int main(void)
{
    test_begin("paging");
    CHECK((uint64_t)_end < MEGA_PA);

    /* page contents */
    for (int i = 0; i < 512; i++) {
        ((uint64_t *)pages[S_RO])[i] = 0x524f524f524f524ful;
        ((uint64_t *)pages[S_UDATA])[i] = 0x5553455255534552ul;
        ((uint64_t *)pages[S_REMAP])[i] = 0x1111111111111111ul;
        ((uint64_t *)pages[P_REMAP2])[i] = 0x2222222222222222ul;
        ((uint64_t *)pages[P_HIGH])[i] = 0x4849474848494748ul;
    }
    ((uint32_t *)pages[S_XONLY])[0] = 0x04d00513;     /* li a0, 77 */
    ((uint32_t *)pages[S_XONLY])[1] = 0x00008067;     /* ret */
    ((uint32_t *)pages[S_ADX])[0] = 0x04e00513;       /* li a0, 78 */
    ((uint32_t *)pages[S_ADX])[1] = 0x00008067;
    ((uint32_t *)pages[S_UCODE])[0] = 0x04f00513;     /* li a0, 79 */
    ((uint32_t *)pages[S_UCODE])[1] = 0x00008067;
    /* virtual SLOT(S_XEDGE) = pages[S_XEDGE2]: j +4094; li a0, 77 across the boundary, then
     * ret at the start of the next virtual page = pages[S_XEDGE] */
    ((uint32_t *)pages[S_XEDGE2])[0] = 0x7ff0006f;
    ((uint16_t *)pages[S_XEDGE2])[2047] = 0x0513;
    ((uint16_t *)pages[S_XEDGE])[0] = 0x04d0;
    ((uint16_t *)pages[S_XEDGE])[1] = 0x8082;          /* c.jr ra */
    ((uint32_t *)pages[S_ALIAS_X])[0] = 0x05000513;   /* li a0, 80 */
    ((uint32_t *)pages[S_ALIAS_X])[1] = 0x00008067;
    ((uint32_t *)pages[S_XTAIL])[0] = 0x7fd0006f;     /* j +4092 */
    ((uint16_t *)pages[S_XTAIL])[2046] = 0x4531;      /* c.li a0, 12 */
    ((uint16_t *)pages[S_XTAIL])[2047] = 0x8082;      /* c.jr ra */
    ((uint32_t *)pages[S_NOX])[0] = 0x06300513;       /* li a0, 99: must not run */
    ((uint32_t *)pages[S_NOX])[1] = 0x00008067;
    volatile uint64_t *mega = (volatile uint64_t *)MEGA_PA;
    mega[0] = 0x4d45474130000000ul;
    mega[0x1ffff8 / 8] = 0x4d45474131ffff8ul;
    mega[0x100000 / 8] = 0;
    asm volatile("fence.i");

    csr_write(medeleg, (1 << EXC_INST_PAGE) | (1 << EXC_LOAD_PAGE) | (1 << EXC_STORE_PAGE));
    s_trap_hook = s_fault;

    section("Sv39");
    run(3);
    section("Sv48");
    marker = 0x6d61726b65720001ul;
    run(4);

    csr_write(medeleg, 0);
    s_trap_hook = 0;
    return 0;
}
