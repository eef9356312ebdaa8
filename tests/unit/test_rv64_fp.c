/* test_rv64_fp.c — F/D through the executor: loads/stores, NaN-boxing, moves, rounding modes,
 * fflags accumulation and the mstatus.FS rules. The arithmetic itself is fpu.c's job; here a few
 * exactly known results (worked out by hand from the IEEE 754 encodings) check the plumbing. */
#include "rv64_test_util.h"

TestSuite(rv64_fp, .init = rv_setup, .fini = rv_teardown);

#define X(r) H->x[r]
#define F(r) H->f[r]

#define FS_INITIAL (1ull << 13)
#define FFLAG_NV 0x10
#define FFLAG_DZ 0x08
#define FFLAG_OF 0x04
#define FFLAG_UF 0x02
#define FFLAG_NX 0x01

/* doubles */
#define D_1_5 0x3ff8000000000000ull
#define D_2_25 0x4002000000000000ull
#define D_3_75 0x400e000000000000ull
#define D_2_5 0x4004000000000000ull
#define D_M2_5 0xc004000000000000ull
#define D_0_1 0x3fb999999999999aull
#define D_0_2 0x3fc999999999999aull
#define D_0_3_SUM 0x3fd3333333333334ull /* 0.1 + 0.2 rounded to nearest: 0.30000000000000004 */
#define D_1 0x3ff0000000000000ull
#define D_0 0x0000000000000000ull
#define D_PINF 0x7ff0000000000000ull
#define D_QNAN 0x7ff8000000000000ull
#define D_PI 0x400921fb54442d18ull
/* floats */
#define S_1 0x3f800000u
#define S_M1 0xbf800000u
#define BOX(s) (0xffffffff00000000ull | (s))

static void fp_on(void) { H->mstatus |= FS_INITIAL; }

Test(rv64_fp, fld_fsd_roundtrip)
{
    fp_on();
    put64(DATA, D_PI);
    X(10) = DATA;
    emit(i_fld(1, 10, 0));
    emit(i_fsd(1, 10, 8));
    emit(i_fsd(1, 10, -8));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(F(1), D_PI);
    cr_assert_eq(get64(DATA + 8), D_PI);
    cr_assert_eq(get64(DATA - 8), D_PI);
}

Test(rv64_fp, flw_nan_boxes_and_fsw_stores_low_word)
{
    fp_on();
    put32(DATA, S_1);
    put64(DATA + 8, 0xaaaaaaaaaaaaaaaaull);
    F(3) = 0x1234567800c0ffeeull;
    X(10) = DATA;
    emit(i_flw(2, 10, 0));
    emit(i_fsw(3, 10, 8));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(F(2), BOX(S_1), "f2 = %#lx", (unsigned long)F(2));
    cr_assert_eq(get64(DATA + 8), 0xaaaaaaaa00c0ffeeull);
}

Test(rv64_fp, fmv_x_w_sign_extends_and_fmv_w_x_boxes)
{
    fp_on();
    F(1) = BOX(S_M1);
    F(2) = BOX(S_1);
    F(3) = D_PI;
    X(11) = 0xdeadbeef00000000ull | S_M1;
    emit(i_fmv_x_w(5, 1));
    emit(i_fmv_x_w(6, 2));
    emit(i_fmv_x_d(7, 3));
    emit(i_fmv_w_x(4, 11));
    emit(i_fmv_d_x(5, 11));                 /* f5 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 0xffffffffbf800000ull);
    cr_assert_eq(X(6), 0x000000003f800000ull);
    cr_assert_eq(X(7), D_PI);
    cr_assert_eq(F(4), BOX(S_M1));
    cr_assert_eq(F(5), X(11));
}

Test(rv64_fp, fadd_d_exact)
{
    fp_on();
    F(1) = D_1_5;
    F(2) = D_2_25;
    emit(i_fadd_d(3, 1, 2, RM_DYN));
    emit(i_csrr(5, CSR_FFLAGS));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(F(3), D_3_75, "1.5 + 2.25 = %#lx", (unsigned long)F(3));
    cr_assert_eq(X(5), 0, "exact: no flags");
}

Test(rv64_fp, fadd_d_inexact_sets_nx)
{
    fp_on();
    F(1) = D_0_1;
    F(2) = D_0_2;
    emit(i_fadd_d(3, 1, 2, RM_RNE));
    emit(i_csrr(5, CSR_FFLAGS));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(F(3), D_0_3_SUM, "0.1 + 0.2 = %#lx", (unsigned long)F(3));
    cr_assert_eq(X(5), FFLAG_NX);
}

Test(rv64_fp, fcvt_uses_dynamic_rounding_mode_from_frm)
{
    fp_on();
    F(1) = D_2_5;
    F(2) = D_M2_5;
    static const struct { unsigned frm; int64_t pos, neg; } t[] = {
        { RM_RNE, 2, -2 }, { RM_RTZ, 2, -2 }, { RM_RDN, 2, -3 }, { RM_RUP, 3, -2 }, { RM_RMM, 3, -3 },
    };
    unsigned n = sizeof(t) / sizeof(t[0]);
    for (unsigned i = 0; i < n; i++) {
        X(20) = t[i].frm;
        emit(i_csrw(CSR_FRM, 20));
        emit(i_fcvt_w_d(5, 1, RM_DYN));
        emit(i_fcvt_l_d(6, 2, RM_DYN));
        emit(i_fcvt_w_d(7, 1, RM_RUP));     /* a static mode wins over frm */
        uint64_t end = emit_halt();
        RUN_OK(end);
        cr_assert_eq((int64_t)X(5), t[i].pos, "frm %u: fcvt.w.d(2.5) = %ld", t[i].frm, (long)X(5));
        cr_assert_eq((int64_t)X(6), t[i].neg, "frm %u: fcvt.l.d(-2.5) = %ld", t[i].frm, (long)X(6));
        cr_assert_eq(X(7), 3);
        cr_assert_eq(H->fflags & FFLAG_NX, FFLAG_NX);
        H->pc = CUR;                        /* continue with the next group */
    }
}

Test(rv64_fp, fcvt_w_d_result_is_sign_extended)
{
    fp_on();
    F(1) = D_M2_5;
    emit(i_fcvt_w_d(5, 1, RM_RTZ));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 0xfffffffffffffffeull);
}

Test(rv64_fp, invalid_frm_with_dynamic_rounding_is_illegal)
{
    fp_on();
    F(1) = D_1;
    X(20) = 5;
    emit(i_csrw(CSR_FRM, 20));
    uint64_t at = emit(i_fadd_d(3, 1, 1, RM_DYN));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, i_fadd_d(3, 1, 1, RM_DYN));
}

Test(rv64_fp, reserved_static_rounding_mode_is_illegal)
{
    fp_on();
    uint64_t at = emit(i_fadd_d(3, 1, 1, 5));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
}

Test(rv64_fp, fflags_accumulate)
{
    fp_on();
    F(1) = D_0_1;
    F(2) = D_0_2;
    F(3) = D_1;
    F(4) = D_0;
    F(5) = D_QNAN;
    emit(i_fadd_d(10, 1, 2, RM_RNE));       /* NX */
    emit(i_csrr(5, CSR_FFLAGS));
    emit(i_fdiv_d(11, 3, 4, RM_RNE));       /* 1/0: DZ, +inf */
    emit(i_csrr(6, CSR_FFLAGS));
    emit(i_fcvt_w_d(7, 5, RM_RTZ));         /* NaN → int: NV, 2^31 - 1 */
    emit(i_csrr(8, CSR_FFLAGS));
    emit(i_fadd_d(12, 3, 3, RM_RNE));       /* exact: flags stay */
    emit(i_csrr(9, CSR_FCSR));
    emit(i_csrrw(0, CSR_FFLAGS, 0));        /* clear */
    emit(i_fadd_d(13, 3, 3, RM_RNE));
    emit(i_csrr(28, CSR_FFLAGS));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), FFLAG_NX);
    cr_assert_eq(X(6), FFLAG_NX | FFLAG_DZ);
    cr_assert_eq(F(11), D_PINF);
    cr_assert_eq(X(8), FFLAG_NX | FFLAG_DZ | FFLAG_NV);
    cr_assert_eq(X(7), 0x7fffffff);
    cr_assert_eq(X(9), FFLAG_NX | FFLAG_DZ | FFLAG_NV, "fcsr with frm = 0");
    cr_assert_eq(X(28), 0);
    cr_assert_eq(F(13), 0x4000000000000000ull);
}

Test(rv64_fp, int_to_fp_and_compares)
{
    fp_on();
    X(11) = (uint64_t)-3;
    F(1) = D_1;
    F(2) = D_1_5;
    emit(i_fcvt_d_l(3, 11, RM_DYN));
    emit(i_fcvt_d_w(4, 0, RM_DYN));         /* 0.0 */
    emit(i_feq_d(5, 1, 1));
    emit(i_flt_d(6, 1, 2));
    emit(i_flt_d(7, 2, 1));
    emit(i_feq_d(0, 1, 1));                 /* rd = x0 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(F(3), 0xc008000000000000ull, "-3.0");
    cr_assert_eq(F(4), D_0);
    cr_assert_eq(X(5), 1);
    cr_assert_eq(X(6), 1);
    cr_assert_eq(X(7), 0);
    cr_assert_eq(X(0), 0);
}

Test(rv64_fp, fp_with_fs_off_is_illegal)
{
    /* reset leaves FS = Off */
    cr_assert_eq(H->mstatus & MSTATUS_FS, 0);
    uint32_t insns[] = { i_fadd_d(3, 1, 2, RM_RNE), i_fld(1, 10, 0), i_fsd(1, 10, 0),
                         i_fmv_x_w(5, 1), i_fmv_d_x(1, 5), 0x2588 /* c.fld fa0,8(a1) */ };
    for (unsigned i = 0; i < sizeof(insns) / sizeof(insns[0]); i++) {
        rv64_hart_reset(H, RAM_BASE, PRIV_M);
        H->mtvec = MTRAP_PC;
        X(10) = DATA;
        X(11) = DATA;
        org(RAM_BASE);
        uint64_t at = (insns[i] & 3) == 3 ? emit(insns[i]) : emit16((uint16_t)insns[i]);
        if ((insns[i] & 3) != 3)
            emit16(C_NOP);
        uint64_t end = emit_halt();
        RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
        cr_assert_eq(H->mepc, at, "insn %#x", insns[i]);
        cr_assert_eq(H->mtval, insns[i], "insn %#x: mtval %#lx", insns[i], (unsigned long)H->mtval);
    }
}

Test(rv64_fp, fs_becomes_dirty_after_fp_write)
{
    fp_on();
    F(1) = D_1;
    emit(i_csrr(5, CSR_MSTATUS));
    emit(i_fadd_d(2, 1, 1, RM_RNE));
    emit(i_csrr(6, CSR_MSTATUS));
    emit(i_csrr(7, CSR_SSTATUS));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq((X(5) >> 13) & 3, 1);
    cr_assert_eq(X(5) >> 63, 0);
    cr_assert_eq((X(6) >> 13) & 3, 3, "FS = dirty");
    cr_assert_eq(X(6) >> 63, 1, "SD set");
    cr_assert_eq(X(7) >> 63, 1, "SD visible in sstatus");
}

Test(rv64_fp, fld_dirties_fs)
{
    fp_on();
    put64(DATA, D_1);
    X(10) = DATA;
    emit(i_fld(1, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(H->mstatus & MSTATUS_FS, MSTATUS_FS_DIRTY);
    cr_assert(H->mstatus & MSTATUS_SD);
}

Test(rv64_fp, compressed_fp_loads_and_stores)
{
    fp_on();
    put64(DATA + 16, D_2_5);
    put64(DATA + 8, D_PI);
    X(A1) = DATA;
    X(SP) = DATA;
    emit16(0x2988);                         /* c.fld fa0,16(a1) */
    emit16(0x25a2);                         /* c.fldsp fa1,8(sp) */
    emit16(0xbbaa);                         /* c.fsdsp fa0,496(sp) */
    emit16(0xbd64);                         /* c.fsd fs1,248(a0): a0 = DATA + 0x100 */
    X(A0) = DATA + 0x100;
    F(9) = D_1;
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(F(10), D_2_5);
    cr_assert_eq(F(11), D_PI);
    cr_assert_eq(get64(DATA + 496), D_2_5);
    cr_assert_eq(get64(DATA + 0x100 + 248), D_1);
}
