/* jit_fp.c — the F and D instructions as direct helpers for translated code.
 *
 * Translated code calls one small function per FP instruction instead of the interpreter's
 * one-instruction block (rv64_jit_interp_one: copying the instruction, a block run, the register
 * write-back around it), which is where an FP-heavy guest spent its time. The arithmetic is
 * fpu.c's, the very functions the interpreter calls, so results, NaN rules, rounding modes and
 * flags are the interpreter's by construction; each helper does what exec.c's FP_* macro does
 * around that call (accrue fflags, mark mstatus.FS dirty when the interpreter does).
 *
 * What the helpers do not do, the emitted code does before the call (jit_translate.c): the
 * FS=Off and reserved-rounding-mode checks (both are illegal instructions, taken by the
 * interpreter's handler on an out-of-line path) and the resolution of the dynamic rounding mode
 * (rm = frm, already checked to be valid). Integer operands and results pass in registers, not
 * through x[], because translated code keeps some guest registers in host registers.
 *
 * One signature for all: h, the register fields packed as rd | rs1 << 8 | rs2 << 16 | rs3 << 24,
 * the rounding mode (0..4) and the integer operand x[rs1] (FROMINT only); returns the integer
 * result (CMP, TOINT, CLASS), otherwise 0. */
#include "cpu/rv64/csr_bits.h"
#include "cpu/rv64/fpu.h"
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/ops.h"

#define RD(r)  ((r) & 0xff)
#define RS1(r) (((r) >> 8) & 0xff)
#define RS2(r) (((r) >> 16) & 0xff)
#define RS3(r) ((r) >> 24)
#define DIRTY(h) ((h)->mstatus |= MSTATUS_FS_DIRTY | MSTATUS_SD)

#define H_OP2(fn)                                                                          \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x;                                                                           \
        unsigned fl = 0;                                                                   \
        h->f[RD(r)] = fn(h->f[RS1(r)], h->f[RS2(r)], (int)rm, &fl);                        \
        h->fflags |= fl;                                                                   \
        DIRTY(h);                                                                          \
        return 0;                                                                          \
    }
#define H_OP1(fn)                                                                          \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x;                                                                           \
        unsigned fl = 0;                                                                   \
        h->f[RD(r)] = fn(h->f[RS1(r)], (int)rm, &fl);                                      \
        h->fflags |= fl;                                                                   \
        DIRTY(h);                                                                          \
        return 0;                                                                          \
    }
#define H_OP3(fn)                                                                          \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x;                                                                           \
        unsigned fl = 0;                                                                   \
        h->f[RD(r)] = fn(h->f[RS1(r)], h->f[RS2(r)], h->f[RS3(r)], (int)rm, &fl);          \
        h->fflags |= fl;                                                                   \
        DIRTY(h);                                                                          \
        return 0;                                                                          \
    }
/* min/max: no rounding; always dirty (exec.c's FP_MINMAX) */
#define H_MINMAX(fn)                                                                       \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x, (void)rm;                                                                 \
        unsigned fl = 0;                                                                   \
        h->f[RD(r)] = fn(h->f[RS1(r)], h->f[RS2(r)], &fl);                                 \
        h->fflags |= fl;                                                                   \
        DIRTY(h);                                                                          \
        return 0;                                                                          \
    }
/* compares write an x register: dirty only if a flag was raised (exec.c's FP_CMP) */
#define H_CMP(fn)                                                                          \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x, (void)rm;                                                                 \
        unsigned fl = 0;                                                                   \
        uint64_t v = fn(h->f[RS1(r)], h->f[RS2(r)], &fl);                                  \
        h->fflags |= fl;                                                                   \
        if (fl)                                                                            \
            DIRTY(h);                                                                      \
        return v;                                                                          \
    }
#define H_TOINT(fn)                                                                        \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x;                                                                           \
        unsigned fl = 0;                                                                   \
        uint64_t v = fn(h->f[RS1(r)], (int)rm, &fl);                                       \
        h->fflags |= fl;                                                                   \
        if (fl)                                                                            \
            DIRTY(h);                                                                      \
        return v;                                                                          \
    }
#define H_FROMINT(fn)                                                                      \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        unsigned fl = 0;                                                                   \
        h->f[RD(r)] = fn(x, (int)rm, &fl);                                                 \
        h->fflags |= fl;                                                                   \
        DIRTY(h);                                                                          \
        return 0;                                                                          \
    }
/* single-precision sign injection: NaN-boxing checks on the operands, so not inline */
#define H_SGNJ(fn)                                                                         \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x, (void)rm;                                                                 \
        h->f[RD(r)] = fn(h->f[RS1(r)], h->f[RS2(r)]);                                      \
        DIRTY(h);                                                                          \
        return 0;                                                                          \
    }
#define H_CLASS(fn)                                                                        \
    static uint64_t j_##fn(struct rv64_hart *h, uint32_t r, unsigned rm, uint64_t x)     \
    {                                                                                      \
        (void)x, (void)rm;                                                                 \
        return fn(h->f[RS1(r)]);                                                           \
    }

H_OP2(fpu_add_s) H_OP2(fpu_sub_s) H_OP2(fpu_mul_s) H_OP2(fpu_div_s)
H_OP2(fpu_add_d) H_OP2(fpu_sub_d) H_OP2(fpu_mul_d) H_OP2(fpu_div_d)
H_OP1(fpu_sqrt_s) H_OP1(fpu_sqrt_d) H_OP1(fpu_cvt_s_d) H_OP1(fpu_cvt_d_s)
H_OP3(fpu_madd_s) H_OP3(fpu_msub_s) H_OP3(fpu_nmsub_s) H_OP3(fpu_nmadd_s)
H_OP3(fpu_madd_d) H_OP3(fpu_msub_d) H_OP3(fpu_nmsub_d) H_OP3(fpu_nmadd_d)
H_MINMAX(fpu_min_s) H_MINMAX(fpu_max_s) H_MINMAX(fpu_min_d) H_MINMAX(fpu_max_d)
H_CMP(fpu_eq_s) H_CMP(fpu_lt_s) H_CMP(fpu_le_s) H_CMP(fpu_eq_d) H_CMP(fpu_lt_d) H_CMP(fpu_le_d)
H_TOINT(fpu_cvt_w_s) H_TOINT(fpu_cvt_wu_s) H_TOINT(fpu_cvt_l_s) H_TOINT(fpu_cvt_lu_s)
H_TOINT(fpu_cvt_w_d) H_TOINT(fpu_cvt_wu_d) H_TOINT(fpu_cvt_l_d) H_TOINT(fpu_cvt_lu_d)
H_FROMINT(fpu_cvt_s_w) H_FROMINT(fpu_cvt_s_wu) H_FROMINT(fpu_cvt_s_l) H_FROMINT(fpu_cvt_s_lu)
H_FROMINT(fpu_cvt_d_w) H_FROMINT(fpu_cvt_d_wu) H_FROMINT(fpu_cvt_d_l) H_FROMINT(fpu_cvt_d_lu)
H_SGNJ(fpu_sgnj_s) H_SGNJ(fpu_sgnjn_s) H_SGNJ(fpu_sgnjx_s)
H_CLASS(fpu_class_s) H_CLASS(fpu_class_d)

/* Inline SSE code (jit_translate.c: emit_sse_d) maps the host's flags with this, as fpu.c's
 * env_leave does with branches */
#define MX(i) (uint8_t)((((i) & 0x01) ? FPU_NV : 0) | (((i) & 0x04) ? FPU_DZ : 0) |              \
                        (((i) & 0x08) ? FPU_OF : 0) | (((i) & 0x10) ? FPU_UF : 0) |              \
                        (((i) & 0x20) ? FPU_NX : 0))
#define MX4(i) MX(i), MX((i) + 1), MX((i) + 2), MX((i) + 3)
#define MX16(i) MX4(i), MX4((i) + 4), MX4((i) + 8), MX4((i) + 12)
const uint8_t rv64_jit_mxcsr_fflags[64] = { MX16(0), MX16(16), MX16(32), MX16(48) };

uint32_t rv64_jit_host_mxcsr(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_stmxcsr() & ~0x603fu;
#else
    return 0;
#endif
}

const struct rv64_jit_fp *rv64_jit_fp_op(unsigned op)
{
#define E(o, fn, k) [OP_##o] = { j_##fn, k },
    static const struct rv64_jit_fp t[OP_COUNT] = {
        E(FADD_S, fpu_add_s, JFP_RM) E(FSUB_S, fpu_sub_s, JFP_RM) E(FMUL_S, fpu_mul_s, JFP_RM)
        E(FDIV_S, fpu_div_s, JFP_RM) E(FADD_D, fpu_add_d, JFP_RM) E(FSUB_D, fpu_sub_d, JFP_RM)
        E(FMUL_D, fpu_mul_d, JFP_RM) E(FDIV_D, fpu_div_d, JFP_RM)
        E(FSQRT_S, fpu_sqrt_s, JFP_RM) E(FSQRT_D, fpu_sqrt_d, JFP_RM)
        E(FCVT_S_D, fpu_cvt_s_d, JFP_RM) E(FCVT_D_S, fpu_cvt_d_s, JFP_RM)
        E(FMADD_S, fpu_madd_s, JFP_RM) E(FMSUB_S, fpu_msub_s, JFP_RM)
        E(FNMSUB_S, fpu_nmsub_s, JFP_RM) E(FNMADD_S, fpu_nmadd_s, JFP_RM)
        E(FMADD_D, fpu_madd_d, JFP_RM) E(FMSUB_D, fpu_msub_d, JFP_RM)
        E(FNMSUB_D, fpu_nmsub_d, JFP_RM) E(FNMADD_D, fpu_nmadd_d, JFP_RM)
        E(FMIN_S, fpu_min_s, 0) E(FMAX_S, fpu_max_s, 0) E(FMIN_D, fpu_min_d, 0)
        E(FMAX_D, fpu_max_d, 0)
        E(FEQ_S, fpu_eq_s, JFP_XRD) E(FLT_S, fpu_lt_s, JFP_XRD) E(FLE_S, fpu_le_s, JFP_XRD)
        E(FEQ_D, fpu_eq_d, JFP_XRD) E(FLT_D, fpu_lt_d, JFP_XRD) E(FLE_D, fpu_le_d, JFP_XRD)
        E(FCVT_W_S, fpu_cvt_w_s, JFP_RM | JFP_XRD) E(FCVT_WU_S, fpu_cvt_wu_s, JFP_RM | JFP_XRD)
        E(FCVT_L_S, fpu_cvt_l_s, JFP_RM | JFP_XRD) E(FCVT_LU_S, fpu_cvt_lu_s, JFP_RM | JFP_XRD)
        E(FCVT_W_D, fpu_cvt_w_d, JFP_RM | JFP_XRD) E(FCVT_WU_D, fpu_cvt_wu_d, JFP_RM | JFP_XRD)
        E(FCVT_L_D, fpu_cvt_l_d, JFP_RM | JFP_XRD) E(FCVT_LU_D, fpu_cvt_lu_d, JFP_RM | JFP_XRD)
        E(FCVT_S_W, fpu_cvt_s_w, JFP_RM | JFP_XRS) E(FCVT_S_WU, fpu_cvt_s_wu, JFP_RM | JFP_XRS)
        E(FCVT_S_L, fpu_cvt_s_l, JFP_RM | JFP_XRS) E(FCVT_S_LU, fpu_cvt_s_lu, JFP_RM | JFP_XRS)
        E(FCVT_D_W, fpu_cvt_d_w, JFP_RM | JFP_XRS) E(FCVT_D_WU, fpu_cvt_d_wu, JFP_RM | JFP_XRS)
        E(FCVT_D_L, fpu_cvt_d_l, JFP_RM | JFP_XRS) E(FCVT_D_LU, fpu_cvt_d_lu, JFP_RM | JFP_XRS)
        E(FSGNJ_S, fpu_sgnj_s, 0) E(FSGNJN_S, fpu_sgnjn_s, 0) E(FSGNJX_S, fpu_sgnjx_s, 0)
        E(FCLASS_S, fpu_class_s, JFP_XRD) E(FCLASS_D, fpu_class_d, JFP_XRD)
    };
#undef E
    return op < OP_COUNT && t[op].fn ? &t[op] : NULL;
}
