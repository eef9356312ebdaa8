/* csr.c — CSR rules: misa, mhartid on every hart, read-only and unknown CSRs, CSR instruction
 * forms (mscratch round trips), M-only and S-only CSRs accessed from lower modes (illegal
 * instruction with mtval = the instruction), the sstatus/sie/sip views, counters and
 * mcounteren/scounteren gating. Run with --cpus 2. */
#include "lib.h"

static volatile uint64_t hart1_mhartid = ~0ul, hart1_a0 = ~0ul, hart1_seen;

void secondary_main(uint64_t hart)
{
    if (hart == 1) {
        hart1_mhartid = csr_read(mhartid);
        hart1_a0 = hart;
        fence();
        hart1_seen = 1;
    }
    for (;;)
        asm volatile("wfi");
}

/* The probes: each runs one CSR instruction; the hook skips it if it traps. */
#define PROBE(name, insn) \
    static long name(long arg) \
    { uint64_t r = 0; asm volatile(".option push\n.option norvc\n" insn "\n.option pop" \
                                   : "+r"(r) : "r"(arg) : "memory"); return (long)r; }
PROBE(s_read_mstatus, "csrr %0, mstatus")
PROBE(s_read_mscratch, "csrr %0, mscratch")
PROBE(s_write_medeleg, "csrw medeleg, %1")
PROBE(s_read_mhartid, "csrr %0, mhartid")
PROBE(s_rw_sscratch, "csrw sscratch, %1\n csrr %0, sscratch")
PROBE(s_read_sstatus, "csrr %0, sstatus")
PROBE(u_read_sstatus, "csrr %0, sstatus")
PROBE(u_read_satp, "csrr %0, satp")
PROBE(u_read_mscratch, "csrr %0, mscratch")
PROBE(x_rdtime, "rdtime %0")
PROBE(x_rdcycle, "rdcycle %0")
PROBE(x_rdinstret, "rdinstret %0")
PROBE(m_write_mhartid, "csrw mhartid, %1")
PROBE(m_set_mhartid_x0, "csrrs %0, mhartid, zero")
PROBE(m_set_mhartid_imm0, "csrrsi %0, mhartid, 0")
PROBE(m_set_mvendorid_reg, "csrrs %0, mvendorid, %1")
PROBE(m_write_cycle, "csrw cycle, %1")
PROBE(m_write_time, "csrw time, %1")
PROBE(m_read_unknown, "csrr %0, 0x8c0")

/* ---- a minimal flattened device tree walk ---- */
static uint32_t be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static int str_prefix(const char *s, const char *p)
{
    while (*p && *s == *p)
        s++, p++;
    return *p == 0;
}

struct fdt_facts {
    int cpus;
    uint64_t timebase, mem_base, mem_size;
};

static int fdt_scan(const uint8_t *fdt, struct fdt_facts *f)
{
    if (be32(fdt) != 0xd00dfeed)
        return 0;
    const uint8_t *p = fdt + be32(fdt + 8);
    const char *strings = (const char *)fdt + be32(fdt + 12);
    const char *node[8] = { 0 };
    int depth = 0;
    for (int guard = 0; guard < 100000; guard++) {
        uint32_t tok = be32(p);
        p += 4;
        if (tok == 1) {                                   /* BEGIN_NODE */
            const char *name = (const char *)p;
            if (depth < 8)
                node[depth] = name;
            depth++;
            if (depth == 3 && str_eq(node[1], "cpus") && str_prefix(name, "cpu@"))
                f->cpus++;
            while (*p)
                p++;
            p = (const uint8_t *)(((uint64_t)p + 4) & ~3ul);
        } else if (tok == 2) {                            /* END_NODE */
            depth--;
        } else if (tok == 3) {                            /* PROP */
            uint32_t len = be32(p), nameoff = be32(p + 4);
            const uint8_t *val = p + 8;
            const char *pname = strings + nameoff;
            if (depth == 2 && str_eq(node[1], "cpus") && str_eq(pname, "timebase-frequency"))
                f->timebase = be32(val);
            if (depth == 2 && str_prefix(node[1], "memory@") && str_eq(pname, "reg") && len >= 16) {
                f->mem_base = (uint64_t)be32(val) << 32 | be32(val + 4);
                f->mem_size = (uint64_t)be32(val + 8) << 32 | be32(val + 12);
            }
            p = val + ((len + 3) & ~3u);
        } else if (tok == 4) {                            /* NOP */
        } else if (tok == 9) {                            /* END */
            return 1;
        } else {
            return 0;
        }
    }
    return 0;
}

static int probe_traps(long mode, long (*fn)(long), long arg, long *result)
{
    trap_reset(&mtrap);
    long r = mode == PRV_M ? fn(arg) : run_in_mode(mode, fn, arg, 0);
    if (result)
        *result = r;
    return (int)mtrap.count;
}

/* the probe must trap exactly once, as an illegal instruction whose mtval holds its bits */
static int traps_illegal(long mode, long (*fn)(long), long arg)
{
    int n = probe_traps(mode, fn, arg, 0);
    if (n == 1 && mtrap.cause == EXC_ILLEGAL && mtrap.tval == insn_at(mtrap.epc))
        return 1;
    printf_("   %d traps, last: cause %ld, tval 0x%lx, instruction 0x%x\n", n, mtrap.cause,
            mtrap.tval, n ? insn_at(mtrap.epc) : 0);
    return 0;
}
#define CHECK_ILLEGAL(mode, fn, arg) CHECK(traps_illegal(mode, fn, arg))

int main(uint64_t a0, uint64_t a1)
{
    test_begin("csr");
    m_trap_hook = m_record_skip;
    long r;

    section("boot: a0 = hart id, a1 = a device tree describing 2 harts, 10 MHz, 64 MiB at RAM");
    CHECK_EQ(a0, 0);
    CHECK(a1 >= RAM_BASE && a1 < RAM_BASE + (64ul << 20));
    {
        struct fdt_facts f = { 0 };
        CHECK(fdt_scan((const uint8_t *)a1, &f));
        printf_("   device tree: %d cpus, timebase %ld, memory 0x%lx + 0x%lx\n", f.cpus,
                f.timebase, f.mem_base, f.mem_size);
        CHECK_EQ(f.cpus, 2);
        CHECK_EQ(f.timebase, TIMEBASE_HZ);
        CHECK_EQ2(f.mem_base, RAM_BASE, f.mem_size, 64ul << 20);
    }

    section("misa: RV64 with I, M, A, F, D, C, S, U");
    {
        uint64_t misa = csr_read(misa);
        CHECK_EQ(misa >> 62, 2);
        const char *ext = "IMAFDCSU";
        for (const char *e = ext; *e; e++)
            if (!(misa & (1ul << (*e - 'A'))))
                printf_("   misa lacks %c\n", *e);
        uint64_t want = 0;
        for (const char *e = ext; *e; e++)
            want |= 1ul << (*e - 'A');
        CHECK_EQ(misa & want, want);
        CHECK_EQ((csr_read(mstatus) >> 32) & 0xf, 0xa);      /* SXL = UXL = 64-bit */
    }

    section("mhartid matches a0 on both harts");
    CHECK_EQ(csr_read(mhartid), 0);
    {
        uint64_t t0 = rdtime_mmio();
        while (!hart1_seen && rdtime_mmio() - t0 < 5 * TIMEBASE_HZ)
            ;
        CHECK(hart1_seen);
        CHECK_EQ(hart1_mhartid, 1);
        CHECK_EQ(hart1_a0, 1);
    }
    (void)csr_read(mvendorid);
    (void)csr_read(marchid);
    (void)csr_read(mimpid);

    section("CSR instruction forms on mscratch");
    {
        uint64_t old, saved = csr_read(mscratch);      /* the runtime's M trap stack */
        csr_write(mscratch, 0x123456789abcdef0ul);
        CHECK_EQ(csr_read(mscratch), 0x123456789abcdef0ul);
        old = csr_swap(mscratch, 0x0ful);
        CHECK_EQ(old, 0x123456789abcdef0ul);
        asm volatile("csrrs %0, mscratch, %1" : "=r"(old) : "r"(0xf0ul));
        CHECK_EQ(old, 0x0f);
        asm volatile("csrrc %0, mscratch, %1" : "=r"(old) : "r"(0x3cul));
        CHECK_EQ(old, 0xff);
        CHECK_EQ(csr_read(mscratch), 0xc3);
        asm volatile("csrrwi %0, mscratch, 31" : "=r"(old));
        CHECK_EQ(old, 0xc3);
        asm volatile("csrrsi %0, mscratch, 0x40 >> 2" : "=r"(old));   /* uimm 16 */
        asm volatile("csrrci %0, mscratch, 1" : "=r"(old));
        CHECK_EQ(old, 31);
        CHECK_EQ(csr_read(mscratch), 30);
        asm volatile("csrrw zero, mscratch, %0" :: "r"(~0ul));
        CHECK_EQ(csr_read(mscratch), ~0ul);
        csr_write(mscratch, saved);
    }

    section("read-only CSRs: writes trap, reads with rs1 = x0 / uimm = 0 do not");
    CHECK_ILLEGAL(PRV_M, m_write_mhartid, 5);
    CHECK_EQ(probe_traps(PRV_M, m_set_mhartid_x0, 5, &r), 0);
    CHECK_EQ(r, 0);
    CHECK_EQ(probe_traps(PRV_M, m_set_mhartid_imm0, 5, &r), 0);
    CHECK_ILLEGAL(PRV_M, m_set_mvendorid_reg, 1);     /* (QEMU 7.2 misses it for rs1 = 0) */
    CHECK_ILLEGAL(PRV_M, m_write_cycle, 5);
    CHECK_ILLEGAL(PRV_M, m_write_time, 5);
    CHECK_ILLEGAL(PRV_M, m_read_unknown, 0);
    CHECK_EQ(csr_read(mhartid), 0);

    section("M-mode CSRs from S-mode trap as illegal instructions (mtval = instruction)");
    CHECK_ILLEGAL(PRV_S, s_read_mstatus, 0);
    CHECK_EQ(mtrap.tval & 0xfffff07f, 0x30002073);    /* csrrs rd, mstatus, zero */
    CHECK_EQ((mtrap.status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, PRV_S);
    CHECK_ILLEGAL(PRV_S, s_read_mscratch, 0);
    CHECK_ILLEGAL(PRV_S, s_write_medeleg, 0xff);
    CHECK_EQ(csr_read(medeleg), 0);
    CHECK_ILLEGAL(PRV_S, s_read_mhartid, 0);
    {
        /* (leaving run_in_mode() resets sscratch to the runtime's S trap stack) */
        CHECK_EQ(probe_traps(PRV_S, s_rw_sscratch, 0x5a5a, &r), 0);
        CHECK_EQ(r, 0x5a5a);
    }
    CHECK_EQ(probe_traps(PRV_S, s_read_sstatus, 0, &r), 0);

    section("S-mode and M-mode CSRs from U-mode trap");
    CHECK_ILLEGAL(PRV_U, u_read_sstatus, 0);
    CHECK_EQ((mtrap.status & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, PRV_U);
    CHECK_ILLEGAL(PRV_U, u_read_satp, 0);
    CHECK_ILLEGAL(PRV_U, u_read_mscratch, 0);

    section("sstatus is a restricted view of mstatus");
    {
        csr_set(mstatus, MSTATUS_SIE | MSTATUS_MPIE);
        uint64_t ss = csr_read(sstatus);
        CHECK(ss & MSTATUS_SIE);
        CHECK_EQ(ss & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP), 0);
        csr_clear(sstatus, MSTATUS_SIE);
        CHECK_EQ(csr_read(mstatus) & MSTATUS_SIE, 0);
        CHECK(csr_read(mstatus) & MSTATUS_MPIE);
        csr_set(sstatus, MSTATUS_MIE | MSTATUS_MPP);      /* not writable through sstatus */
        CHECK_EQ(csr_read(mstatus) & MSTATUS_MIE, 0);
        csr_set(sstatus, MSTATUS_SUM | MSTATUS_MXR);
        CHECK_EQ(csr_read(mstatus) & (MSTATUS_SUM | MSTATUS_MXR), MSTATUS_SUM | MSTATUS_MXR);
        csr_clear(mstatus, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_MPIE);
    }

    section("sie/sip show only delegated interrupts");
    {
        csr_write(mideleg, (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI));
        /* (QEMU 7.2 also shows its hypervisor bits 0x1444 here, so only S/M bits count) */
        CHECK_EQ(csr_read(mideleg) & 0xaaa, (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI));
        csr_write(sie, ~0ul);
        CHECK_EQ(csr_read(mie) & ((1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI)),
                 (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI));
        CHECK_EQ(csr_read(mie) & ((1 << IRQ_MSI) | (1 << IRQ_MTI) | (1 << IRQ_MEI)), 0);
        csr_set(mie, 1 << IRQ_MTI);
        CHECK_EQ(csr_read(sie) & (1 << IRQ_MTI), 0);
        csr_write(mie, 0);
        csr_set(mip, 1 << IRQ_SSI);
        CHECK(csr_read(sip) & (1 << IRQ_SSI));
        csr_clear(sip, 1 << IRQ_SSI);
        CHECK_EQ(csr_read(mip) & (1 << IRQ_SSI), 0);
        csr_write(mideleg, 0);
        csr_set(mip, 1 << IRQ_SSI);
        CHECK_EQ(csr_read(sip) & (1 << IRQ_SSI), 0);       /* not delegated: invisible */
        csr_clear(mip, 1 << IRQ_SSI);
    }

    section("WARL: satp ignores an unsupported mode, mtvec keeps direct/vectored");
    {
        csr_write(satp, (1ul << 60) | 0x1234);
        CHECK_EQ(csr_read(satp), 0);
        uint64_t tv = csr_read(mtvec);
        csr_write(mtvec, tv | 1);
        CHECK_EQ(csr_read(mtvec), tv | 1);
        csr_write(mtvec, tv);
        CHECK_EQ(csr_read(mtvec), tv);
        csr_write(mepc, 0x80001236ul);
        CHECK_EQ(csr_read(mepc), 0x80001236ul);
    }

    section("counters: cycle, time, instret readable and counting; time = CLINT mtime");
    {
        uint64_t c0 = rdcycle(), i0 = rdinstret(), t0 = rdtime();
        uint64_t mc0 = csr_read(mcycle), mi0 = csr_read(minstret);
        for (volatile int i = 0; i < 2000; i++)
            ;
        delay_ticks(1000);
        uint64_t c1 = rdcycle(), i1 = rdinstret(), t1 = rdtime();
        CHECK(c1 > c0);
        CHECK(i1 > i0);
        CHECK(t1 > t0);
        CHECK(csr_read(mcycle) > mc0);
        CHECK(csr_read(minstret) > mi0);
        uint64_t m0 = rdtime_mmio(), t = rdtime(), m1 = rdtime_mmio();
        CHECK(m0 <= t && t <= m1);
    }

    section("mcounteren gates S-mode counter reads, scounteren U-mode ones");
    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);
    CHECK_ILLEGAL(PRV_S, x_rdtime, 0);
    CHECK_ILLEGAL(PRV_S, x_rdcycle, 0);
    CHECK_ILLEGAL(PRV_S, x_rdinstret, 0);
    csr_write(mcounteren, 2);                          /* TM only */
    CHECK_EQ(probe_traps(PRV_S, x_rdtime, 0, &r), 0);
    CHECK(r != 0);
    CHECK_ILLEGAL(PRV_S, x_rdcycle, 0);
    CHECK_ILLEGAL(PRV_U, x_rdtime, 0);                 /* scounteren.TM still 0 */
    csr_write(scounteren, 2);
    CHECK_EQ(probe_traps(PRV_U, x_rdtime, 0, &r), 0);
    csr_write(mcounteren, 0);
    CHECK_ILLEGAL(PRV_U, x_rdtime, 0);                 /* both are needed */
    csr_write(mcounteren, 7);
    csr_write(scounteren, 7);
    CHECK_EQ(probe_traps(PRV_U, x_rdcycle, 0, &r), 0);
    CHECK_EQ(probe_traps(PRV_U, x_rdinstret, 0, &r), 0);
    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);

    m_trap_hook = 0;
    return 0;
}
