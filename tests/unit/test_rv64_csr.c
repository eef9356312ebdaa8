/* test_rv64_csr.c — CSR access rules and WARL behaviour, through executed csr* instructions
 * (for the illegal-instruction paths) and through rv64_csr_read/write (for the value rules). */
#include "rv64_test_util.h"

TestSuite(rv64_csr, .init = rv_setup, .fini = rv_teardown);

#define X(r) H->x[r]

/* restart the hart at RAM_BASE in `priv` with bare translation and the usual trap vectors */
static void start(int priv)
{
    rv64_hart_reset(H, RAM_BASE, priv);
    H->mtvec = MTRAP_PC;
    H->stvec = STRAP_PC;
    org(RAM_BASE);
}

static uint64_t csr(unsigned num)
{
    uint64_t v = 0xdeadbeef;
    cr_assert(rv64_csr_read(H, num, &v), "csr %#x not readable", num);
    return v;
}

/* one CSR instruction at RAM_BASE that must raise an illegal-instruction trap */
static void expect_illegal(uint32_t insn)
{
    uint64_t at = emit(insn);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, insn, "mtval %#lx, expected the instruction %#x", (unsigned long)H->mtval, insn);
}

#define MISA_EXPECTED (2ull << 62 | 1ull << ('I' - 'A') | 1ull << ('M' - 'A') | 1ull << ('A' - 'A') | \
                       1ull << ('F' - 'A') | 1ull << ('D' - 'A') | 1ull << ('C' - 'A') |            \
                       1ull << ('S' - 'A') | 1ull << ('U' - 'A'))

Test(rv64_csr, misa_value)
{
    cr_assert_eq(MISA_EXPECTED, 0x800000000014112dull); /* worked out by hand: bits 0,2,3,5,8,12,18,20 */
    emit(i_csrr(1, CSR_MISA));
    emit(i_csrw(CSR_MISA, 0));          /* WARL: cannot turn extensions off */
    emit(i_csrr(2, CSR_MISA));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0x800000000014112dull, "misa %#lx", (unsigned long)X(1));
    cr_assert_eq(X(2), 0x800000000014112dull);
}

Test(rv64_csr, mhartid)
{
    X(1) = 55;
    emit(i_csrr(1, CSR_MHARTID));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0);

    struct rv64_machine m2;
    struct bus bus2 = { 0 };
    struct guest_ram ram2;
    cr_assert_eq(guest_ram_create(&ram2, 1 << 20), 0);
    cr_assert_eq(rv64_machine_init(&m2, ram2.host, 1 << 20, 3, &bus2), 0);
    uint64_t v = 0;
    cr_assert(rv64_csr_read(m2.harts[2], CSR_MHARTID, &v));
    cr_assert_eq(v, 2);
    rv64_machine_destroy(&m2);
    guest_ram_destroy(&ram2);
}

Test(rv64_csr, write_to_read_only_cycle_is_illegal)
{
    X(1) = 5;
    expect_illegal(i_csrw(CSR_CYCLE, 1));
}

Test(rv64_csr, write_to_read_only_mhartid_is_illegal)
{
    expect_illegal(i_csrrw(2, CSR_MHARTID, 1));
}

Test(rv64_csr, csrrs_with_rs1_register_x_nonzero_is_a_write_even_if_value_zero)
{
    X(2) = 0;                           /* the register holds 0, but rs1 is not x0 */
    expect_illegal(i_csrrs(1, CSR_MHARTID, 2));
}

Test(rv64_csr, csrrsi_with_nonzero_uimm_on_read_only_is_illegal)
{
    expect_illegal(i_csrrsi(1, CSR_MVENDORID, 1));
}

Test(rv64_csr, reads_of_read_only_csrs_are_fine)
{
    X(1) = 77;
    X(3) = 77;
    emit(i_csrrs(1, CSR_MHARTID, 0));   /* csrr a, mhartid */
    emit(i_csrrs(0, CSR_CYCLE, 0));     /* csrrs x0, cycle, x0 */
    emit(i_csrrc(0, CSR_INSTRET, 0));
    emit(i_csrrsi(3, CSR_MIMPID, 0));   /* uimm 0: no write */
    emit(i_csrrci(0, CSR_TIME, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0);
    cr_assert_eq(X(3), 0);
}

Test(rv64_csr, unknown_csr_is_illegal)
{
    expect_illegal(i_csrr(1, 0x5c0));
}

Test(rv64_csr, s_mode_access_to_m_csr_is_illegal)
{
    start(PRIV_S);
    expect_illegal(i_csrr(1, CSR_MSTATUS));
    cr_assert_eq((H->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, PRIV_S);
}

Test(rv64_csr, s_mode_csrw_x0_destination_still_checks_privilege)
{
    start(PRIV_S);
    X(1) = 0x1234;
    expect_illegal(i_csrw(CSR_MSCRATCH, 1));
    cr_assert_eq(H->mscratch, 0);
}

Test(rv64_csr, u_mode_access_to_s_csr_is_illegal)
{
    start(PRIV_U);
    expect_illegal(i_csrr(1, CSR_SSTATUS));
    cr_assert_eq((H->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, PRIV_U);
}

Test(rv64_csr, s_mode_can_use_s_csrs)
{
    start(PRIV_S);
    X(1) = 0xabcdef;
    emit(i_csrw(CSR_SSCRATCH, 1));
    emit(i_csrr(2, CSR_SSCRATCH));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(2), 0xabcdef);
}

Test(rv64_csr, csr_read_modify_write_forms)
{
    H->mscratch = 0xf0;
    X(2) = 0x0f;
    X(4) = 0x30;
    X(8) = 25;
    emit(i_csrrs(1, CSR_MSCRATCH, 2));      /* x1 = 0xf0, mscratch = 0xff */
    emit(i_csrrc(3, CSR_MSCRATCH, 4));      /* x3 = 0xff, mscratch = 0xcf */
    emit(i_csrrwi(5, CSR_MSCRATCH, 17));    /* x5 = 0xcf, mscratch = 17 */
    emit(i_csrrsi(6, CSR_MSCRATCH, 8));     /* x6 = 17,  mscratch = 25 */
    emit(i_csrrci(7, CSR_MSCRATCH, 1));     /* x7 = 25,  mscratch = 24 */
    emit(i_csrrw(8, CSR_MSCRATCH, 8));      /* rd == rs1: old value out, 25 in */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0xf0);
    cr_assert_eq(X(3), 0xff);
    cr_assert_eq(X(5), 0xcf);
    cr_assert_eq(X(6), 17);
    cr_assert_eq(X(7), 25);
    cr_assert_eq(X(8), 24);
    cr_assert_eq(H->mscratch, 25);
}

Test(rv64_csr, satp_unsupported_mode_is_ignored)
{
    X(1) = 10ull << 60 | 0x1234;            /* Sv57 */
    X(2) = 8ull << 60 | 0x80123;            /* Sv39 */
    X(3) = 9ull << 60 | 0x80456;            /* Sv48 */
    X(4) = 1ull << 60 | 0x80789;            /* reserved mode 1 */
    emit(i_csrw(CSR_SATP, 1));
    emit(i_csrr(10, CSR_SATP));
    emit(i_csrw(CSR_SATP, 2));
    emit(i_csrr(11, CSR_SATP));
    emit(i_csrw(CSR_SATP, 1));
    emit(i_csrr(12, CSR_SATP));
    emit(i_csrw(CSR_SATP, 3));
    emit(i_csrr(13, CSR_SATP));
    emit(i_csrw(CSR_SATP, 4));
    emit(i_csrr(14, CSR_SATP));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(10), 0);
    cr_assert_eq(X(11), 8ull << 60 | 0x80123);
    cr_assert_eq(X(12), 8ull << 60 | 0x80123, "Sv57 write must leave satp unchanged");
    cr_assert_eq(X(13), 9ull << 60 | 0x80456);
    cr_assert_eq(X(14), 9ull << 60 | 0x80456);
}

Test(rv64_csr, satp_in_s_mode_with_tvm_is_illegal)
{
    start(PRIV_S);
    H->mstatus |= MSTATUS_TVM;
    expect_illegal(i_csrr(1, CSR_SATP));
}

Test(rv64_csr, s_mode_rdtime_needs_mcounteren_tm)
{
    start(PRIV_S);
    H->mcounteren = 0;
    expect_illegal(i_csrr(1, CSR_TIME));
}

Test(rv64_csr, s_mode_rdtime_with_mcounteren_tm_works)
{
    start(PRIV_S);
    H->mcounteren = 1u << 1;                /* TM */
    X(1) = ~0ull;
    emit(i_csrr(1, CSR_TIME));
    uint64_t end = emit_halt();
    uint64_t t0 = rv64_time(&M);
    RUN_OK(end);
    uint64_t t1 = rv64_time(&M);
    cr_assert(X(1) >= t0 && X(1) <= t1, "time %lu not in [%lu, %lu]", (unsigned long)X(1),
              (unsigned long)t0, (unsigned long)t1);
}

Test(rv64_csr, s_mode_cycle_needs_cy_not_tm)
{
    start(PRIV_S);
    H->mcounteren = 1u << 1;                /* TM only */
    expect_illegal(i_csrr(1, CSR_CYCLE));
}

Test(rv64_csr, u_mode_rdtime_needs_scounteren_too)
{
    start(PRIV_U);
    H->mcounteren = 1u << 1;
    H->scounteren = 0;
    expect_illegal(i_csrr(1, CSR_TIME));
}

Test(rv64_csr, u_mode_rdtime_needs_mcounteren_even_with_scounteren)
{
    start(PRIV_U);
    H->mcounteren = 0;
    H->scounteren = 1u << 1;
    expect_illegal(i_csrr(1, CSR_TIME));
}

Test(rv64_csr, u_mode_counters_with_both_enables_work)
{
    start(PRIV_U);
    H->mcounteren = 7;
    H->scounteren = 7;
    emit(i_csrr(1, CSR_TIME));
    emit(i_csrr(2, CSR_INSTRET));
    emit(i_csrr(3, CSR_CYCLE));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(2), 1, "one instruction retired before the second csrr");
}

Test(rv64_csr, instret_read_counts_earlier_instructions_of_the_same_block)
{
    /* the counters must include everything retired before the reading instruction, even if
     * it sits in the same decoded block */
    emit(i_addi(5, 0, 1));
    emit(i_addi(5, 5, 1));
    emit(i_csrr(1, CSR_MINSTRET));          /* 2 retired before it */
    emit(i_csrr(2, CSR_MINSTRET));          /* 3 */
    emit(i_addi(5, 5, 1));
    emit(i_csrr(3, CSR_INSTRET));           /* 5 */
    emit(i_csrr(4, CSR_MCYCLE));            /* cycle = instret here (no offset written) */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 2, "minstret read %lu, expected 2", (unsigned long)X(1));
    cr_assert_eq(X(2), 3);
    cr_assert_eq(X(3), 5, "instret read %lu, expected 5", (unsigned long)X(3));
    cr_assert_eq(X(4), 6);
}

Test(rv64_csr, mstatus_mpp_reserved_value_keeps_legal_mode)
{
    X(1) = 3ull << MSTATUS_MPP_SHIFT;
    X(2) = 2ull << MSTATUS_MPP_SHIFT | MSTATUS_MIE;
    emit(i_csrw(CSR_MSTATUS, 1));
    emit(i_csrw(CSR_MSTATUS, 2));
    emit(i_csrr(3, CSR_MSTATUS));
    uint64_t end = emit_halt();
    RUN_OK(end);
    uint64_t mpp = (X(3) & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT;
    cr_assert_neq(mpp, 2, "MPP must never read back the reserved value 2");
    cr_assert_eq(mpp, 3, "the previous legal value (M) is kept");
    cr_assert(X(3) & MSTATUS_MIE, "the rest of the write still takes effect");
}

Test(rv64_csr, mstatus_read_only_fields)
{
    uint64_t before = csr(CSR_MSTATUS);
    cr_assert_eq(before & (MSTATUS_UXL | MSTATUS_SXL), 2ull << 32 | 2ull << 34, "UXL = SXL = 64 bit");
    cr_assert(rv64_csr_write(H, CSR_MSTATUS, 0));
    uint64_t after = csr(CSR_MSTATUS);
    cr_assert_eq(after & (MSTATUS_UXL | MSTATUS_SXL), 2ull << 32 | 2ull << 34, "UXL/SXL are not writable");
    cr_assert(rv64_csr_write(H, CSR_MSTATUS, MSTATUS_FS_DIRTY));
    cr_assert(csr(CSR_MSTATUS) & MSTATUS_SD, "SD follows FS = dirty");
    cr_assert(rv64_csr_write(H, CSR_MSTATUS, 1ull << 13));
    cr_assert_eq(csr(CSR_MSTATUS) & MSTATUS_SD, 0);
}

Test(rv64_csr, sstatus_is_a_restricted_view_of_mstatus)
{
    uint64_t all_m = MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP |
                     (3ull << MSTATUS_MPP_SHIFT) | (1ull << 13) | MSTATUS_MPRV | MSTATUS_SUM |
                     MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
    cr_assert(rv64_csr_write(H, CSR_MSTATUS, all_m));
    uint64_t s = csr(CSR_SSTATUS);
    uint64_t expect = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | (1ull << 13) | MSTATUS_SUM |
                      MSTATUS_MXR | (2ull << 32);
    cr_assert_eq(s, expect, "sstatus %#lx expected %#lx", (unsigned long)s, (unsigned long)expect);

    /* writes through sstatus only reach the S fields */
    cr_assert(rv64_csr_write(H, CSR_MSTATUS, 0));
    cr_assert(rv64_csr_write(H, CSR_SSTATUS, ~0ull));
    uint64_t m = csr(CSR_MSTATUS);
    cr_assert_eq(m & (MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM |
                      MSTATUS_TW | MSTATUS_TSR), 0, "mstatus %#lx", (unsigned long)m);
    cr_assert_eq(m & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR),
                 MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR);
    cr_assert_eq(m & MSTATUS_FS, MSTATUS_FS_DIRTY);
    cr_assert(m & MSTATUS_SD);
    cr_assert(csr(CSR_SSTATUS) & MSTATUS_SD);
    cr_assert_eq(m & (MSTATUS_UXL | MSTATUS_SXL), 2ull << 32 | 2ull << 34);
}

Test(rv64_csr, sip_sie_show_only_delegated_bits)
{
    cr_assert(rv64_csr_write(H, CSR_MIDELEG, MIP_SSIP | MIP_STIP));
    cr_assert(rv64_csr_write(H, CSR_MIE, MIP_ALL));
    atomic_store(&H->mip, MIP_SSIP | MIP_SEIP | MIP_MSIP | MIP_MEIP | MIP_STIP);
    cr_assert_eq(csr(CSR_SIE), MIP_SSIP | MIP_STIP);
    cr_assert_eq(csr(CSR_SIP), MIP_SSIP | MIP_STIP);
    cr_assert_eq(csr(CSR_MIDELEG), MIP_SSIP | MIP_STIP);

    /* sie writes only touch delegated bits */
    cr_assert(rv64_csr_write(H, CSR_SIE, 0));
    cr_assert_eq(csr(CSR_MIE), MIP_ALL & ~(MIP_SSIP | MIP_STIP));
    cr_assert(rv64_csr_write(H, CSR_SIE, ~0ull));
    cr_assert_eq(csr(CSR_MIE), MIP_ALL);

    /* sip: only SSIP is writable, and only when delegated */
    cr_assert(rv64_csr_write(H, CSR_SIP, 0));
    cr_assert_eq(atomic_load(&H->mip), MIP_SEIP | MIP_MSIP | MIP_MEIP | MIP_STIP);
    cr_assert(rv64_csr_write(H, CSR_MIDELEG, MIP_STIP));
    cr_assert(rv64_csr_write(H, CSR_SIP, ~0ull));
    cr_assert_eq(atomic_load(&H->mip), MIP_SEIP | MIP_MSIP | MIP_MEIP | MIP_STIP);
    cr_assert_eq(csr(CSR_SIP), MIP_STIP);
}

Test(rv64_csr, delegation_and_vector_warl_masks)
{
    cr_assert(rv64_csr_write(H, CSR_MEDELEG, ~0ull));
    cr_assert_eq(csr(CSR_MEDELEG) & (1ull << CAUSE_MACHINE_ECALL), 0, "M ecall cannot be delegated");
    cr_assert_eq(csr(CSR_MEDELEG) & 0xb1ff, 0xb1ff);
    cr_assert(rv64_csr_write(H, CSR_MIDELEG, ~0ull));
    cr_assert_eq(csr(CSR_MIDELEG), MIP_SSIP | MIP_STIP | MIP_SEIP);
    cr_assert(rv64_csr_write(H, CSR_MTVEC, 0x80002001));
    cr_assert_eq(csr(CSR_MTVEC), 0x80002001, "vectored mode is supported");
    cr_assert(rv64_csr_write(H, CSR_MTVEC, 0x80002002));
    cr_assert_neq(csr(CSR_MTVEC) & 3, 2, "mode 2 is reserved");
    cr_assert(rv64_csr_write(H, CSR_MEPC, 0x80000003));
    cr_assert_eq(csr(CSR_MEPC), 0x80000002, "mepc[0] is always 0");
    cr_assert(rv64_csr_write(H, CSR_SEPC, 0x80000005));
    cr_assert_eq(csr(CSR_SEPC), 0x80000004);
}

Test(rv64_csr, fcsr_is_frm_and_fflags)
{
    H->mstatus |= 1ull << 13;           /* FS = initial */
    X(1) = 3;                           /* RUP */
    X(2) = 0x1f;
    X(3) = 0x2a5;                       /* frm 5, fflags 5; bits above 7 ignored */
    emit(i_csrw(CSR_FRM, 1));
    emit(i_csrw(CSR_FFLAGS, 2));
    emit(i_csrr(10, CSR_FCSR));
    emit(i_csrw(CSR_FCSR, 3));
    emit(i_csrr(11, CSR_FRM));
    emit(i_csrr(12, CSR_FFLAGS));
    emit(i_csrr(13, CSR_FCSR));
    emit(i_csrrci(14, CSR_FFLAGS, 1));  /* clear NX */
    emit(i_csrr(15, CSR_FCSR));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(10), 3 << 5 | 0x1f);
    cr_assert_eq(X(11), 5);
    cr_assert_eq(X(12), 5);
    cr_assert_eq(X(13), 0xa5);
    cr_assert_eq(X(14), 5);
    cr_assert_eq(X(15), 0xa4);
    cr_assert_eq(H->mstatus & MSTATUS_FS, MSTATUS_FS_DIRTY, "writing fcsr dirties the FP state");
}

Test(rv64_csr, fcsr_with_fs_off_is_illegal)
{
    H->mstatus &= ~MSTATUS_FS;
    expect_illegal(i_csrr(1, CSR_FFLAGS));
}

Test(rv64_csr, stimecmp_needs_menvcfg_stce_in_s_mode)
{
    start(PRIV_S);
    expect_illegal(i_csrr(1, CSR_STIMECMP));
}

Test(rv64_csr, hpmcounters_read_zero_when_enabled)
{
    start(PRIV_S);
    H->mcounteren = 1u << 3;
    X(1) = 99;
    emit(i_csrr(1, CSR_HPMCOUNTER3));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0);
}

Test(rv64_csr, minstret_write_is_what_the_next_instruction_reads)
{
    /* a write to minstret suppresses the increment of the writing instruction itself */
    emit(i_addi(5, 0, 1));
    emit(i_csrrwi(1, CSR_MINSTRET, 3));     /* reads 1, writes 3 */
    emit(i_csrr(2, CSR_MINSTRET));          /* 3 */
    emit(i_addi(5, 0, 1));
    emit(i_csrr(3, CSR_MINSTRET));          /* 5 */
    emit(i_csrrwi(0, CSR_MCYCLE, 20));
    emit(i_csrr(4, CSR_MCYCLE));            /* 20 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 1);
    cr_assert_eq(X(2), 3, "minstret read %lu after writing 3", (unsigned long)X(2));
    cr_assert_eq(X(3), 5);
    cr_assert_eq(X(4), 20, "mcycle read %lu after writing 20", (unsigned long)X(4));
}
