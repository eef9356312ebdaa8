/* test_rv64_int.c — RV64I and M executed through the block executor (M-mode, no translation). */
#include "rv64_test_util.h"

TestSuite(rv64_int, .init = rv_setup, .fini = rv_teardown);

#define X(r) H->x[r]

Test(rv64_int, addi_add_sub_wrap_and_sign)
{
    X(1) = 0x7fffffffffffffffull;
    emit(i_addi(2, 1, 1));
    emit(i_addi(3, 0, -1));
    emit(i_sub(4, 0, 1));
    emit(i_add(5, 1, 1));
    emit(i_addi(6, 0, -2048));
    emit(i_addi(7, 0, 2047));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(2), 0x8000000000000000ull);
    cr_assert_eq(X(3), 0xffffffffffffffffull);
    cr_assert_eq(X(4), 0x8000000000000001ull);
    cr_assert_eq(X(5), 0xfffffffffffffffeull);
    cr_assert_eq(X(6), (uint64_t)-2048);
    cr_assert_eq(X(7), 2047);
}

Test(rv64_int, x0_stays_zero)
{
    emit(i_addi(0, 0, 5));
    emit(i_lui(0, 0x12345000));
    emit(i_add(1, 0, 0));
    emit(i_addi(2, 0, 7));
    emit(i_jal(0, 4));          /* j .+4: link to x0 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(0), 0);
    cr_assert_eq(X(1), 0);
    cr_assert_eq(X(2), 7);
}

Test(rv64_int, w_forms_sign_extend)
{
    X(1) = 0x000000007fffffffull;
    X(5) = 0x1234567800000000ull;
    X(8) = 0x8000;
    X(9) = 0x10000;
    X(10) = 0xffffffff00000003ull;
    X(11) = 0x0000000100000004ull;
    emit(i_addiw(2, 1, 1));     /* 0x80000000 → negative */
    emit(i_addw(3, 1, 1));      /* 0xfffffffe → -2 */
    emit(i_subw(4, 0, 1));      /* -0x7fffffff */
    emit(i_addiw(6, 5, 0));     /* sext.w ignores the upper half */
    emit(i_addiw(7, 5, -1));
    emit(i_mulw(12, 8, 9));     /* 0x80000000 → negative */
    emit(i_mulw(13, 10, 11));   /* only the low 32 bits of both operands count: 3 * 4 */
    emit(i_addw(14, 10, 11));   /* 3 + 4 */
    emit(i_subw(15, 11, 10));   /* 4 - 3 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(2), 0xffffffff80000000ull);
    cr_assert_eq(X(3), 0xfffffffffffffffeull);
    cr_assert_eq(X(4), 0xffffffff80000001ull);
    cr_assert_eq(X(6), 0);
    cr_assert_eq(X(7), 0xffffffffffffffffull);
    cr_assert_eq(X(12), 0xffffffff80000000ull);
    cr_assert_eq(X(13), 12);
    cr_assert_eq(X(14), 7);
    cr_assert_eq(X(15), 1);
}

Test(rv64_int, shifts_64)
{
    X(1) = 0x8000000000000001ull;
    X(6) = 65;                  /* only the low 6 bits (1) count */
    X(20) = 63;
    emit(i_slli(2, 1, 63));
    emit(i_srli(3, 1, 63));
    emit(i_srai(4, 1, 63));
    emit(i_srai(5, 1, 1));
    emit(i_sll(7, 1, 6));
    emit(i_srl(8, 1, 6));
    emit(i_sra(9, 1, 6));
    emit(i_srl(21, 1, 20));
    emit(i_sra(22, 1, 20));
    emit(i_slli(23, 1, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(2), 0x8000000000000000ull);
    cr_assert_eq(X(3), 1);
    cr_assert_eq(X(4), 0xffffffffffffffffull);
    cr_assert_eq(X(5), 0xc000000000000000ull);
    cr_assert_eq(X(7), 0x0000000000000002ull);
    cr_assert_eq(X(8), 0x4000000000000000ull);
    cr_assert_eq(X(9), 0xc000000000000000ull);
    cr_assert_eq(X(21), 1);
    cr_assert_eq(X(22), 0xffffffffffffffffull);
    cr_assert_eq(X(23), 0x8000000000000001ull);
}

Test(rv64_int, shifts_32)
{
    X(10) = 0x0000000080000001ull;
    X(15) = 0x40000000;
    X(16) = 0xffffffff00000010ull;
    X(19) = 33;                 /* low 5 bits: 1 */
    emit(i_slliw(11, 10, 1));   /* bit 31 shifted out */
    emit(i_srliw(12, 10, 1));
    emit(i_sraiw(13, 10, 1));
    emit(i_slliw(14, 15, 1));   /* into bit 31 → negative */
    emit(i_srliw(17, 16, 4));   /* upper half ignored */
    emit(i_sllw(18, 10, 19));
    emit(i_srlw(20, 10, 19));
    emit(i_sraw(21, 10, 19));
    emit(i_srliw(22, 10, 0));   /* shift by 0 still sign-extends */
    emit(i_sraiw(23, 16, 31));  /* 0x00000010 >> 31 = 0 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(11), 2);
    cr_assert_eq(X(12), 0x40000000);
    cr_assert_eq(X(13), 0xffffffffc0000000ull);
    cr_assert_eq(X(14), 0xffffffff80000000ull);
    cr_assert_eq(X(17), 1);
    cr_assert_eq(X(18), 2);
    cr_assert_eq(X(20), 0x40000000);
    cr_assert_eq(X(21), 0xffffffffc0000000ull);
    cr_assert_eq(X(22), 0xffffffff80000001ull);
    cr_assert_eq(X(23), 0);
}

Test(rv64_int, slt_sltu_and_logic_immediates)
{
    X(1) = (uint64_t)-1;
    X(2) = 1;
    X(9) = 0x00ff00ff00ff00ffull;
    emit(i_slt(3, 1, 2));       /* -1 < 1 */
    emit(i_sltu(4, 1, 2));      /* 0xff..ff < 1: no */
    emit(i_slti(5, 1, 0));
    emit(i_sltiu(6, 2, -1));    /* 1 < 0xff..ff */
    emit(i_sltiu(7, 0, 1));     /* seqz */
    emit(i_sltiu(8, 1, -1));    /* equal: no */
    emit(i_xori(10, 9, -1));
    emit(i_andi(11, 9, -256));
    emit(i_ori(12, 0, -2048));
    emit(i_slt(13, 2, 1));
    emit(i_sltu(14, 0, 1));     /* snez */
    emit(i_xor(15, 9, 1));
    emit(i_or(16, 9, 2));
    emit(i_and(17, 9, 1));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(3), 1);
    cr_assert_eq(X(4), 0);
    cr_assert_eq(X(5), 1);
    cr_assert_eq(X(6), 1);
    cr_assert_eq(X(7), 1);
    cr_assert_eq(X(8), 0);
    cr_assert_eq(X(10), 0xff00ff00ff00ff00ull);
    cr_assert_eq(X(11), 0x00ff00ff00ff0000ull);
    cr_assert_eq(X(12), 0xfffffffffffff800ull);
    cr_assert_eq(X(13), 0);
    cr_assert_eq(X(14), 1);
    cr_assert_eq(X(15), 0xff00ff00ff00ff00ull);
    cr_assert_eq(X(16), 0x00ff00ff00ff00ffull);
    cr_assert_eq(X(17), 0x00ff00ff00ff00ffull);
}

Test(rv64_int, branches_taken_and_not)
{
    /* each case: x10 = x10 << 1; bxx +8; x10 |= 1 (only when not taken) */
    X(1) = (uint64_t)-1;
    X(2) = 1;
    X(3) = 1;
    struct { uint32_t (*fn)(unsigned, unsigned, int32_t); unsigned a, b; int taken; } c[] = {
        { i_beq, 2, 3, 1 },  { i_beq, 1, 2, 0 },
        { i_bne, 1, 2, 1 },  { i_bne, 2, 3, 0 },
        { i_blt, 1, 2, 1 },  { i_blt, 2, 1, 0 },  { i_blt, 2, 3, 0 },
        { i_bge, 2, 1, 1 },  { i_bge, 2, 3, 1 },  { i_bge, 1, 2, 0 },
        { i_bltu, 2, 1, 1 }, { i_bltu, 1, 2, 0 }, { i_bltu, 2, 3, 0 },
        { i_bgeu, 1, 2, 1 }, { i_bgeu, 2, 1, 0 }, { i_bgeu, 2, 3, 1 },
    };
    unsigned n = sizeof(c) / sizeof(c[0]);
    uint64_t expect = 0;
    for (unsigned i = 0; i < n; i++) {
        emit(i_slli(10, 10, 1));
        emit(c[i].fn(c[i].a, c[i].b, 8));
        emit(i_ori(10, 10, 1));
        expect = (expect << 1) | (c[i].taken ? 0 : 1);
    }
    /* backward branch: a 5-iteration loop */
    emit(i_addi(5, 0, 5));
    uint64_t loop = emit(i_addi(6, 6, 1));
    emit(i_addi(5, 5, -1));
    emit(i_bne(5, 0, (int32_t)(loop - CUR)));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(10), expect, "x10=%#lx expected %#lx", (unsigned long)X(10), (unsigned long)expect);
    cr_assert_eq(expect, 0x565a); /* 0101 1001 0011 0110, written out by hand from the table */
    cr_assert_eq(X(6), 5);
}

Test(rv64_int, jal_jalr_link_and_target)
{
    /* 0x00 jal ra,+12        → 0x0c, ra = 0x04
     * 0x04 addi t0,x0,1      (skipped)
     * 0x08 addi t0,x0,2      (skipped)
     * 0x0c addi t1,x0,1
     * 0x10 jalr t2,1(s0)     s0 = 0x...20: target (s0+1)&~1 = 0x20, t2 = 0x14
     * 0x14 addi t0,x0,3      (skipped)
     * 0x18 addi t0,x0,4      (skipped)
     * 0x1c addi t0,x0,5      (skipped)
     * 0x20 jalr s1,0(s1)     rd == rs1: the target uses the old s1 (0x..2c), s1 = 0x24
     * 0x24 addi t0,x0,6      (skipped)
     * 0x28 addi t0,x0,7      (skipped)
     * 0x2c jalr x0,-4(a2)    a2 = 0x..38 → 0x34
     * 0x30 addi t0,x0,8      (skipped)
     * 0x34 addi a3,x0,1
     * 0x38 j .
     */
    X(S0) = RAM_BASE + 0x20;
    X(S1) = RAM_BASE + 0x2c;
    X(A2) = RAM_BASE + 0x38;
    emit(i_jal(RA, 12));
    emit(i_addi(T0, 0, 1));
    emit(i_addi(T0, 0, 2));
    emit(i_addi(T1, 0, 1));
    emit(i_jalr(T2, S0, 1));
    emit(i_addi(T0, 0, 3));
    emit(i_addi(T0, 0, 4));
    emit(i_addi(T0, 0, 5));
    emit(i_jalr(S1, S1, 0));
    emit(i_addi(T0, 0, 6));
    emit(i_addi(T0, 0, 7));
    emit(i_jalr(0, A2, -4));
    emit(i_addi(T0, 0, 8));
    emit(i_addi(A3, 0, 1));
    uint64_t end = emit_halt();
    cr_assert_eq(end, RAM_BASE + 0x38);
    RUN_OK(end);
    cr_assert_eq(X(RA), RAM_BASE + 0x04);
    cr_assert_eq(X(T0), 0);
    cr_assert_eq(X(T1), 1);
    cr_assert_eq(X(T2), RAM_BASE + 0x14);
    cr_assert_eq(X(S1), RAM_BASE + 0x24);
    cr_assert_eq(X(A3), 1);
}

Test(rv64_int, jal_backward)
{
    /* 0x00 j +8; 0x04 j +8 (→0x0c); 0x08 jal ra,-4 (→0x04); 0x0c j . */
    emit(i_jal(0, 8));
    emit(i_jal(0, 8));
    emit(i_jal(RA, -4));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(RA), RAM_BASE + 0x0c);
}

Test(rv64_int, lui_auipc)
{
    emit(i_lui(1, 0x80000000u));        /* 0x00 */
    emit(i_lui(2, 0x7ffff000u));        /* 0x04 */
    emit(i_auipc(3, 0));                /* 0x08 */
    emit(i_auipc(4, 0xfffff000u));      /* 0x0c: pc - 4096 */
    emit(i_auipc(5, 0x80000000u));      /* 0x10: pc - 2 GiB wraps to 0x10 */
    emit(i_lui(6, 0xfffff000u));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0xffffffff80000000ull);
    cr_assert_eq(X(2), 0x7ffff000ull);
    cr_assert_eq(X(3), RAM_BASE + 0x08);
    cr_assert_eq(X(4), RAM_BASE + 0x0c - 4096);
    cr_assert_eq(X(5), 0x10);
    cr_assert_eq(X(6), 0xfffffffffffff000ull);
}

Test(rv64_int, loads_all_widths)
{
    /* memory bytes at DATA: 88 97 a6 b5 c4 d3 e2 f1 | 70 7f 06 05 04 03 02 01 */
    put64(DATA, 0xf1e2d3c4b5a69788ull);
    put64(DATA + 8, 0x0102030405067f70ull);
    X(10) = DATA;
    X(20) = DATA + 16;
    emit(i_lb(1, 10, 0));
    emit(i_lbu(2, 10, 0));
    emit(i_lh(3, 10, 0));
    emit(i_lhu(4, 10, 0));
    emit(i_lw(5, 10, 0));
    emit(i_lwu(6, 10, 0));
    emit(i_ld(7, 10, 0));
    emit(i_lb(8, 10, 7));
    emit(i_lh(9, 10, 6));
    emit(i_lw(11, 10, 4));
    emit(i_lb(12, 10, 8));
    emit(i_lh(13, 10, 8));
    emit(i_lw(14, 10, 8));
    emit(i_ld(15, 20, -8));     /* negative offset */
    emit(i_lhu(16, 20, -16));
    emit(i_ld(17, 10, 3));      /* misaligned, same page */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 0xffffffffffffff88ull);
    cr_assert_eq(X(2), 0x88);
    cr_assert_eq(X(3), 0xffffffffffff9788ull);
    cr_assert_eq(X(4), 0x9788);
    cr_assert_eq(X(5), 0xffffffffb5a69788ull);
    cr_assert_eq(X(6), 0xb5a69788ull);
    cr_assert_eq(X(7), 0xf1e2d3c4b5a69788ull);
    cr_assert_eq(X(8), 0xfffffffffffffff1ull);
    cr_assert_eq(X(9), 0xfffffffffffff1e2ull);
    cr_assert_eq(X(11), 0xfffffffff1e2d3c4ull);
    cr_assert_eq(X(12), 0x70);
    cr_assert_eq(X(13), 0x7f70);
    cr_assert_eq(X(14), 0x05067f70);
    cr_assert_eq(X(15), 0x0102030405067f70ull);
    cr_assert_eq(X(16), 0x9788);
    cr_assert_eq(X(17), 0x067f70f1e2d3c4b5ull);
}

Test(rv64_int, stores_all_widths)
{
    for (int i = 0; i < 8; i++)
        put64(DATA + 8 * i, 0xaaaaaaaaaaaaaaaaull);
    X(10) = DATA;
    X(13) = 0x1122334455667788ull;
    X(14) = DATA + 64;
    emit(i_sb(13, 10, 0));
    emit(i_sh(13, 10, 8));
    emit(i_sw(13, 10, 16));
    emit(i_sd(13, 10, 24));
    emit(i_sd(13, 14, -8));     /* DATA + 56 */
    emit(i_sb(13, 10, 35));     /* byte inside a doubleword */
    emit(i_sw(13, 10, 42));     /* misaligned, same page */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(get64(DATA), 0xaaaaaaaaaaaaaa88ull);
    cr_assert_eq(get64(DATA + 8), 0xaaaaaaaaaaaa7788ull);
    cr_assert_eq(get64(DATA + 16), 0xaaaaaaaa55667788ull);
    cr_assert_eq(get64(DATA + 24), 0x1122334455667788ull);
    cr_assert_eq(get64(DATA + 56), 0x1122334455667788ull);
    cr_assert_eq(get64(DATA + 32), 0xaaaaaaaa88aaaaaaull);
    cr_assert_eq(get64(DATA + 40), 0xaaaa55667788aaaaull);
}

Test(rv64_int, load_store_across_page_boundary)
{
    uint64_t a = DATA + 0x1000 - 4;     /* 4 bytes on each page */
    X(10) = a;
    X(13) = 0x0123456789abcdefull;
    put64(DATA + 0x2000 - 2, 0x8877665544332211ull);
    X(11) = DATA + 0x2000 - 2;
    emit(i_sd(13, 10, 0));
    emit(i_ld(14, 10, 0));
    emit(i_lw(15, 11, 0));              /* 2 + 2 bytes, sign-extended */
    emit(i_lwu(16, 11, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(get64(a), 0x0123456789abcdefull);
    cr_assert_eq(get32(a), 0x89abcdefu);
    cr_assert_eq(get32(a + 4), 0x01234567u);
    cr_assert_eq(X(14), 0x0123456789abcdefull);
    cr_assert_eq(X(15), 0x0000000044332211ull);
    cr_assert_eq(X(16), 0x44332211ull);
}

Test(rv64_int, load_to_unbacked_physical_address_faults)
{
    X(10) = 0x10;               /* nothing on the bus there */
    X(11) = 0x80000000ull + RAM_SIZE;   /* just past RAM */
    uint64_t at = emit(i_ld(1, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_ACCESS);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0x10);

    rv64_hart_reset(H, RAM_BASE + 0x100, PRIV_M);
    H->mtvec = MTRAP_PC;
    X(11) = 0x80000000ull + RAM_SIZE;
    org(RAM_BASE + 0x100);
    at = emit(i_sw(0, 11, 0));
    end = emit_halt();
    RUN_MTRAP(end, CAUSE_STORE_ACCESS);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, RAM_BASE + RAM_SIZE);
}

Test(rv64_int, div_rem_normal)
{
    X(1) = (uint64_t)-7;
    X(2) = 2;
    X(7) = 0x1234567800000064ull;   /* low word 100 */
    X(8) = 0xabcdef0000000007ull;   /* low word 7 */
    X(9) = 0xfffffffffffffff9ull;
    X(12) = 0xfffffffeull;
    X(13) = 1;
    emit(i_div(3, 1, 2));
    emit(i_rem(4, 1, 2));
    emit(i_divu(5, 1, 2));
    emit(i_remu(6, 1, 2));
    emit(i_divw(10, 7, 8));
    emit(i_remw(11, 7, 8));
    emit(i_divuw(14, 9, 2));        /* 0xfffffff9 / 2 = 0x7ffffffc */
    emit(i_divuw(15, 12, 13));      /* 0xfffffffe / 1 → sign-extended */
    emit(i_remuw(16, 9, 2));
    emit(i_divw(17, 1, 2));         /* -7 / 2 = -3 (truncates) */
    emit(i_remw(18, 1, 2));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(3), (uint64_t)-3);
    cr_assert_eq(X(4), (uint64_t)-1);
    cr_assert_eq(X(5), 0x7ffffffffffffffcull);
    cr_assert_eq(X(6), 1);
    cr_assert_eq(X(10), 14);
    cr_assert_eq(X(11), 2);
    cr_assert_eq(X(14), 0x7ffffffc);
    cr_assert_eq(X(15), 0xfffffffffffffffeull);
    cr_assert_eq(X(16), 1);
    cr_assert_eq(X(17), (uint64_t)-3);
    cr_assert_eq(X(18), (uint64_t)-1);
}

Test(rv64_int, div_rem_by_zero_and_overflow)
{
    X(1) = 7;
    X(2) = 0x8000000000000000ull;
    X(3) = (uint64_t)-1;
    X(4) = 0x0000000080000000ull;   /* INT32_MIN in the low word */
    X(5) = 0xffffffff00000000ull;   /* zero in the low word */
    emit(i_div(10, 1, 0));
    emit(i_divu(11, 1, 0));
    emit(i_rem(12, 1, 0));
    emit(i_remu(13, 1, 0));
    emit(i_div(14, 2, 3));          /* INT64_MIN / -1 */
    emit(i_rem(15, 2, 3));
    emit(i_divw(16, 1, 5));         /* divisor's low word is 0 */
    emit(i_divuw(17, 1, 0));
    emit(i_remw(18, 4, 0));
    emit(i_remuw(19, 4, 0));
    emit(i_divw(20, 4, 3));         /* INT32_MIN / -1 */
    emit(i_remw(21, 4, 3));
    emit(i_divu(22, 2, 3));
    emit(i_remu(23, 2, 3));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(10), 0xffffffffffffffffull);
    cr_assert_eq(X(11), 0xffffffffffffffffull);
    cr_assert_eq(X(12), 7);
    cr_assert_eq(X(13), 7);
    cr_assert_eq(X(14), 0x8000000000000000ull);
    cr_assert_eq(X(15), 0);
    cr_assert_eq(X(16), 0xffffffffffffffffull);
    cr_assert_eq(X(17), 0xffffffffffffffffull);
    cr_assert_eq(X(18), 0xffffffff80000000ull);
    cr_assert_eq(X(19), 0xffffffff80000000ull);
    cr_assert_eq(X(20), 0xffffffff80000000ull);
    cr_assert_eq(X(21), 0);
    cr_assert_eq(X(22), 0);
    cr_assert_eq(X(23), 0x8000000000000000ull);
}

Test(rv64_int, mul_high_halves)
{
    X(1) = (uint64_t)-1;
    X(3) = 0x8000000000000000ull;
    X(5) = 0x123456789abcdef0ull;
    X(6) = 0x0fedcba987654321ull;
    X(7) = 0xfedcba9876543210ull;
    X(8) = (uint64_t)-2;
    X(9) = 3;
    X(29) = 2;
    emit(i_mul(10, 1, 1));          /* 1 */
    emit(i_mulh(11, 1, 1));         /* (-1)(-1) = 1 → high 0 */
    emit(i_mulhu(12, 1, 1));        /* (2^64-1)^2 → high 2^64-2 */
    emit(i_mulhsu(13, 1, 1));       /* (-1)(2^64-1) → high -1 */
    emit(i_mulh(14, 3, 3));         /* 2^126 → 2^62 */
    emit(i_mulhu(15, 3, 3));        /* 2^126 → 2^62 */
    emit(i_mulhsu(16, 3, 3));       /* -2^63 * 2^63 = -2^126 → -2^62 */
    emit(i_mulhu(17, 5, 6));
    emit(i_mul(18, 5, 6));
    emit(i_mulh(19, 7, 6));
    emit(i_mulhsu(20, 7, 7));
    emit(i_mulhsu(21, 8, 9));       /* -6 → high -1 */
    emit(i_mulhsu(22, 29, 1));      /* 2 * (2^64-1) → high 1 */
    emit(i_mulh(23, 29, 1));        /* 2 * -1 → high -1 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(10), 1);
    cr_assert_eq(X(11), 0);
    cr_assert_eq(X(12), 0xfffffffffffffffeull);
    cr_assert_eq(X(13), 0xffffffffffffffffull);
    cr_assert_eq(X(14), 0x4000000000000000ull);
    cr_assert_eq(X(15), 0x4000000000000000ull);
    cr_assert_eq(X(16), 0xc000000000000000ull);
    cr_assert_eq(X(17), 0x0121fa00ad77d742ull);
    cr_assert_eq(X(18), 0x2236d88fe5618cf0ull);
    cr_assert_eq(X(19), 0xffede05ff528828bull);
    cr_assert_eq(X(20), 0xfede05ff528828bcull);
    cr_assert_eq(X(21), 0xffffffffffffffffull);
    cr_assert_eq(X(22), 1);
    cr_assert_eq(X(23), 0xffffffffffffffffull);
}

Test(rv64_int, compressed_mixed_with_32bit)
{
    emit16(c_li(A0, -1));               /* 0x00 */
    emit16(c_mv(A1, A0));               /* 0x02 */
    emit(i_addi(A2, A1, 2));            /* 0x04 (at a 2-byte aligned pc) */
    emit16(C_NOP);                      /* 0x08 */
    emit(i_auipc(A3, 0));               /* 0x0a */
    uint64_t end = emit16(C_J_SELF);    /* 0x0e: c.j . */
    RUN_OK(end);
    cr_assert_eq(X(A0), (uint64_t)-1);
    cr_assert_eq(X(A1), (uint64_t)-1);
    cr_assert_eq(X(A2), 1);
    cr_assert_eq(X(A3), RAM_BASE + 0x0a);
}

Test(rv64_int, instruction_straddling_a_page_boundary)
{
    uint64_t start = RAM_BASE + 0x3000 - 8;
    rv64_hart_reset(H, start, PRIV_M);
    org(start);
    emit(i_addi(5, 0, 1));              /* 0x..ff8 */
    emit16(C_NOP);                      /* 0x..ffc */
    emit(i_addi(6, 0, 42));             /* 0x..ffe: halves on two pages */
    uint64_t end = emit_halt();         /* 0x..002 */
    RUN_OK(end);
    cr_assert_eq(X(5), 1);
    cr_assert_eq(X(6), 42);
}

Test(rv64_int, instret_counts_retired_instructions)
{
    emit(i_addi(1, 0, 1));
    emit(i_addi(1, 1, 1));
    emit(i_addi(1, 1, 1));
    emit(i_beq(0, 0, 4));
    emit(i_addi(1, 1, 1));
    uint64_t end = emit_halt();
    uint64_t before = H->instret;
    RUN_OK(end);
    /* block 1: 3 addi + beq; block 2: addi + j . (run once to land on `end`) */
    cr_assert_eq(H->instret - before, 6);
    cr_assert_eq(X(1), 4);
}

/* ---- MMIO through the bus: a fake device that returns a pattern and records writes ---- */
static struct { uint64_t off, val; unsigned size, writes, reads; } dev;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    dev.reads++;
    dev.off = off;
    dev.size = size;
    /* the top `size` bytes of 0xf0e0d0c0b0a09080, shifted down */
    return size == 8 ? 0xf0e0d0c0b0a09080ull : 0xf0e0d0c0b0a09080ull >> (8 * (8 - size));
}

static void dev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)opaque;
    dev.writes++;
    dev.off = off;
    dev.val = val;
    dev.size = size;
}

Test(rv64_int, mmio_loads_and_stores_go_to_the_bus)
{
    struct mmio_region r = { .name = "fake", .base = 0x10000000, .size = 0x100,
                             .read = dev_read, .write = dev_write };
    cr_assert_eq(bus_add(&BUS, &r), 0);
    X(10) = 0x10000000;
    X(11) = 0x1122334455667788ull;
    emit(i_lb(1, 10, 0x10));                /* device returns 0xf0 for size 1 */
    emit(i_lhu(2, 10, 0x12));
    emit(i_lw(3, 10, 0x14));
    emit(i_sh(11, 10, 0x22));
    uint64_t end = emit_halt();
    RUN_OK(end);
    /* dev_read returns the top `size` bytes of 0xf0e0d0c0b0a09080 shifted down */
    cr_assert_eq(X(1), 0xfffffffffffffff0ull, "lb sign-extends the device's byte");
    cr_assert_eq(X(2), 0xf0e0);
    cr_assert_eq(X(3), 0xfffffffff0e0d0c0ull);
    cr_assert_eq(dev.reads, 3);
    cr_assert_eq(dev.writes, 1);
    cr_assert_eq(dev.off, 0x22);
    cr_assert_eq(dev.size, 2);
    cr_assert_eq(dev.val & 0xffff, 0x7788);
}

Test(rv64_int, misaligned_mmio_access_is_an_access_fault)
{
    struct mmio_region r = { .name = "fake", .base = 0x10000000, .size = 0x100,
                             .read = dev_read, .write = dev_write };
    cr_assert_eq(bus_add(&BUS, &r), 0);
    X(10) = 0x10000002;
    uint64_t at = emit(i_lw(1, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_ACCESS);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0x10000002);
    cr_assert_eq(dev.reads, 0);
}

Test(rv64_int, long_straight_line_code_spans_several_blocks)
{
    for (int i = 0; i < 150; i++)
        emit(i_addi(5, 5, 1));
    uint64_t end = emit_halt();
    uint64_t before = H->instret;
    RUN_OK(end);
    cr_assert_eq(X(5), 150);
    cr_assert_eq(H->instret - before, 151);
}

Test(rv64_int, many_blocks_survive_block_cache_flushes, .timeout = 60)
{
    /* 300k one-instruction blocks (`j .+4`) fill the 16 MiB block arena more than once */
    const unsigned n = 300000;
    uint64_t start = RAM_BASE + 0x100000;
    org(start);
    for (unsigned i = 0; i < n; i++)
        emit(i_jal(0, 4));
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    H->pc = start;
    uint64_t pc = run_until(end, n + 10);
    cr_assert_eq(pc, end);
    cr_assert_eq(X(5), 1);
    /* and once more, from the top, with whatever is cached now */
    H->pc = start;
    X(5) = 0;
    pc = run_until(end, n + 10);
    cr_assert_eq(pc, end);
    cr_assert_eq(X(5), 1);
}
