/* test_fpu_ieee.c — the IEEE-754 unit (src/cpu/rv64/fpu.c) against results worked out by hand
 * from the binary encodings and the RISC-V F/D rules: rounding in all five modes (including
 * RMM ties), exception flags, the canonical NaN, NaN boxing, saturating conversions, min/max,
 * comparisons, sign injection and classification. */
#include <criterion/criterion.h>
#include "cpu/rv64/fpu.h"

#define B(v) fpu_box_s(v)
#define RNE FPU_RNE
#define RTZ FPU_RTZ
#define RDN FPU_RDN
#define RUP FPU_RUP
#define RMM FPU_RMM

/* single */
#define S_ONE 0x3f800000u
#define S_MONE 0xbf800000u
#define S_TWO 0x40000000u
#define S_THREE 0x40400000u
#define S_HALF 0x3f000000u
#define S_2M24 0x33800000u   /* 2^-24: half an ulp of 1.0 */
#define S_M2M24 0xb3800000u
#define S_MAX 0x7f7fffffu
#define S_INF 0x7f800000u
#define S_NINF 0xff800000u
#define S_QNAN 0x7fc00000u
#define S_SNAN 0x7f800001u
/* double */
#define D_ONE 0x3ff0000000000000ull
#define D_TWO 0x4000000000000000ull
#define D_THREE 0x4008000000000000ull
#define D_2M53 0x3ca0000000000000ull /* half an ulp of 1.0 */
#define D_SNAN 0x7ff0000000000001ull
#define D_QNAN FPU_CANON_D

#define EXPECT(got, want, fl, wantfl)                                                        \
    do {                                                                                     \
        uint64_t g_ = (got);                                                                 \
        cr_expect_eq(g_, (uint64_t)(want), "%s = %#llx, want %#llx", #got,                   \
                     (unsigned long long)g_, (unsigned long long)(want));                    \
        cr_expect_eq(fl, (unsigned)(wantfl), "%s flags %#x, want %#x", #got, fl, (unsigned)(wantfl)); \
        fl = 0;                                                                              \
    } while (0)

Test(fpu, add_tie_rounds_per_mode_single)
{
    unsigned fl = 0;
    /* 1 + 2^-24 lies exactly halfway between 1.0 and 1 + 2^-23 */
    EXPECT(fpu_add_s(B(S_ONE), B(S_2M24), RNE, &fl), B(S_ONE), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_ONE), B(S_2M24), RTZ, &fl), B(S_ONE), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_ONE), B(S_2M24), RDN, &fl), B(S_ONE), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_ONE), B(S_2M24), RUP, &fl), B(0x3f800001u), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_ONE), B(S_2M24), RMM, &fl), B(0x3f800001u), fl, FPU_NX);
    /* the same below zero: RDN and RMM move away from zero, RUP toward it */
    EXPECT(fpu_add_s(B(S_MONE), B(S_M2M24), RDN, &fl), B(0xbf800001u), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_MONE), B(S_M2M24), RUP, &fl), B(S_MONE), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_MONE), B(S_M2M24), RMM, &fl), B(0xbf800001u), fl, FPU_NX);
    /* 1 + 1.5·2^-24 is above the midpoint: nearest modes round up */
    EXPECT(fpu_add_s(B(S_ONE), B(0x33c00000u), RNE, &fl), B(0x3f800001u), fl, FPU_NX);
    EXPECT(fpu_add_s(B(S_ONE), B(0x33c00000u), RTZ, &fl), B(S_ONE), fl, FPU_NX);
}

Test(fpu, add_tie_rounds_per_mode_double)
{
    unsigned fl = 0;
    EXPECT(fpu_add_d(D_ONE, D_2M53, RNE, &fl), D_ONE, fl, FPU_NX);
    EXPECT(fpu_add_d(D_ONE, D_2M53, RMM, &fl), 0x3ff0000000000001ull, fl, FPU_NX);
    EXPECT(fpu_add_d(D_ONE, D_2M53, RUP, &fl), 0x3ff0000000000001ull, fl, FPU_NX);
    EXPECT(fpu_add_d(D_ONE, D_2M53, RDN, &fl), D_ONE, fl, FPU_NX);
    EXPECT(fpu_sub_d(D_THREE, D_ONE, RNE, &fl), D_TWO, fl, 0);
}

Test(fpu, mul_tie_rmm_goes_away_from_zero)
{
    unsigned fl = 0;
    /* 3 · (1 + 3·2^-23) = 3 + 4.5 ulp: RNE picks the even 3 + 4 ulp, RMM 3 + 5 ulp */
    EXPECT(fpu_mul_s(B(S_THREE), B(0x3f800003u), RNE, &fl), B(0x40400004u), fl, FPU_NX);
    EXPECT(fpu_mul_s(B(S_THREE), B(0x3f800003u), RMM, &fl), B(0x40400005u), fl, FPU_NX);
    EXPECT(fpu_mul_d(D_THREE, 0x3ff0000000000003ull, RNE, &fl), 0x4008000000000004ull, fl, FPU_NX);
    EXPECT(fpu_mul_d(D_THREE, 0x3ff0000000000003ull, RMM, &fl), 0x4008000000000005ull, fl, FPU_NX);
    EXPECT(fpu_mul_d(D_TWO, D_THREE, RMM, &fl), 0x4018000000000000ull, fl, 0);
}

Test(fpu, overflow_and_underflow)
{
    unsigned fl = 0;
    EXPECT(fpu_mul_s(B(S_MAX), B(S_TWO), RNE, &fl), B(S_INF), fl, FPU_OF | FPU_NX);
    EXPECT(fpu_mul_s(B(S_MAX), B(S_TWO), RTZ, &fl), B(S_MAX), fl, FPU_OF | FPU_NX);
    EXPECT(fpu_mul_s(B(S_MAX), B(S_TWO), RDN, &fl), B(S_MAX), fl, FPU_OF | FPU_NX);
    EXPECT(fpu_mul_s(B(S_MAX), B(S_TWO), RUP, &fl), B(S_INF), fl, FPU_OF | FPU_NX);
    /* 2^-126 · 0.5 = 2^-127: tiny but exact, so no underflow flag */
    EXPECT(fpu_mul_s(B(0x00800000u), B(S_HALF), RNE, &fl), B(0x00400000u), fl, 0);
    /* (1 + 2^-23)·2^-127 needs half a subnormal ulp: tiny and inexact */
    EXPECT(fpu_mul_s(B(0x00800001u), B(S_HALF), RNE, &fl), B(0x00400000u), fl, FPU_UF | FPU_NX);
}

Test(fpu, divide_by_zero_and_invalid)
{
    unsigned fl = 0;
    EXPECT(fpu_div_s(B(S_ONE), B(0), RNE, &fl), B(S_INF), fl, FPU_DZ);
    EXPECT(fpu_div_s(B(S_MONE), B(0), RNE, &fl), B(S_NINF), fl, FPU_DZ);
    EXPECT(fpu_div_s(B(0), B(0), RNE, &fl), B(S_QNAN), fl, FPU_NV);
    EXPECT(fpu_sub_s(B(S_INF), B(S_INF), RNE, &fl), B(S_QNAN), fl, FPU_NV);
    EXPECT(fpu_sqrt_s(B(S_MONE), RNE, &fl), B(S_QNAN), fl, FPU_NV);
    EXPECT(fpu_sqrt_s(B(0x80000000u), RNE, &fl), B(0x80000000u), fl, 0); /* sqrt(-0) = -0 */
    EXPECT(fpu_sqrt_d(0x4010000000000000ull, RNE, &fl), D_TWO, fl, 0);
    EXPECT(fpu_div_d(D_ONE, D_THREE, RTZ, &fl), 0x3fd5555555555555ull, fl, FPU_NX);
    EXPECT(fpu_div_d(D_ONE, D_THREE, RUP, &fl), 0x3fd5555555555556ull, fl, FPU_NX);
}

Test(fpu, nan_results_are_canonical_and_snan_signals)
{
    unsigned fl = 0;
    EXPECT(fpu_add_s(B(S_SNAN), B(S_ONE), RNE, &fl), B(S_QNAN), fl, FPU_NV);
    EXPECT(fpu_add_s(B(0x7fc00001u), B(S_ONE), RNE, &fl), B(S_QNAN), fl, 0); /* payload dropped */
    EXPECT(fpu_add_s(B(0xffc00000u), B(S_ONE), RNE, &fl), B(S_QNAN), fl, 0); /* sign dropped */
    EXPECT(fpu_add_d(D_SNAN, D_ONE, RNE, &fl), D_QNAN, fl, FPU_NV);
    EXPECT(fpu_mul_d(0xfff8000000000123ull, D_ONE, RNE, &fl), D_QNAN, fl, 0);
}

Test(fpu, nan_boxing)
{
    unsigned fl = 0;
    /* results carry all-ones in the upper half */
    EXPECT(fpu_add_s(B(S_ONE), B(S_ONE), RNE, &fl), 0xffffffff40000000ull, fl, 0);
    /* an operand without the all-ones upper half reads as the canonical (quiet) NaN */
    EXPECT(fpu_add_s(0x000000003f800000ull, B(S_ONE), RNE, &fl), B(S_QNAN), fl, 0);
    EXPECT(fpu_class_s(0x7fffffff3f800000ull), 1u << 9, fl, 0);
    EXPECT(fpu_sgnj_s(0x000000003f800000ull, B(S_ONE)), B(S_QNAN), fl, 0);
    EXPECT(fpu_cvt_d_s(0x00000000bf800000ull, RNE, &fl), D_QNAN, fl, 0);
}

Test(fpu, fused_multiply_add)
{
    unsigned fl = 0;
    EXPECT(fpu_madd_d(D_TWO, D_THREE, D_ONE, RNE, &fl), 0x401c000000000000ull, fl, 0);  /* 7 */
    EXPECT(fpu_msub_d(D_TWO, D_THREE, D_ONE, RNE, &fl), 0x4014000000000000ull, fl, 0);  /* 5 */
    EXPECT(fpu_nmsub_d(D_TWO, D_THREE, D_ONE, RNE, &fl), 0xc014000000000000ull, fl, 0); /* -5 */
    EXPECT(fpu_nmadd_d(D_TWO, D_THREE, D_ONE, RNE, &fl), 0xc01c000000000000ull, fl, 0); /* -7 */
    /* one rounding only: (1+u)(1+u) - (1+2u) = u² = 2^-104 exactly (unfused would give 0) */
    EXPECT(fpu_madd_d(0x3ff0000000000001ull, 0x3ff0000000000001ull, 0xbff0000000000002ull, RNE, &fl),
           0x3970000000000000ull, fl, 0);
    EXPECT(fpu_madd_s(B(S_TWO), B(S_THREE), B(S_ONE), RNE, &fl), B(0x40e00000u), fl, 0);
    /* ∞ · 0 is invalid even when the addend is a quiet NaN */
    EXPECT(fpu_madd_s(B(S_INF), B(0), B(S_QNAN), RNE, &fl), B(S_QNAN), fl, FPU_NV);
    EXPECT(fpu_madd_d(0x7ff0000000000000ull, 0, D_QNAN, RNE, &fl), D_QNAN, fl, FPU_NV);
}

Test(fpu, float_to_int_rounding)
{
    unsigned fl = 0;
    const uint64_t p25 = B(0x40200000u), m25 = B(0xc0200000u); /* ±2.5 */
    EXPECT(fpu_cvt_w_s(p25, RNE, &fl), 2, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(p25, RTZ, &fl), 2, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(p25, RDN, &fl), 2, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(p25, RUP, &fl), 3, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(p25, RMM, &fl), 3, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(m25, RNE, &fl), (uint64_t)-2, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(m25, RDN, &fl), (uint64_t)-3, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(m25, RUP, &fl), (uint64_t)-2, fl, FPU_NX);
    EXPECT(fpu_cvt_w_s(m25, RMM, &fl), (uint64_t)-3, fl, FPU_NX);
    EXPECT(fpu_cvt_l_d(D_THREE, RNE, &fl), 3, fl, 0);
}

Test(fpu, float_to_int_saturates)
{
    unsigned fl = 0;
    EXPECT(fpu_cvt_w_s(B(S_QNAN), RNE, &fl), 0x7fffffffull, fl, FPU_NV);
    EXPECT(fpu_cvt_w_s(B(S_NINF), RNE, &fl), 0xffffffff80000000ull, fl, FPU_NV);
    EXPECT(fpu_cvt_w_s(B(0x4f32d05eu), RNE, &fl), 0x7fffffffull, fl, FPU_NV); /* 3e9 */
    EXPECT(fpu_cvt_wu_s(B(S_MONE), RNE, &fl), 0, fl, FPU_NV);
    EXPECT(fpu_cvt_wu_s(B(0xbe99999au), RTZ, &fl), 0, fl, FPU_NX); /* -0.3 truncates to 0 */
    /* 4e9 fits in 32 unsigned bits; the result is sign-extended from bit 31 */
    EXPECT(fpu_cvt_wu_s(B(0x4f6e6b28u), RNE, &fl), 0xffffffffee6b2800ull, fl, 0);
    EXPECT(fpu_cvt_wu_s(B(S_QNAN), RNE, &fl), 0xffffffffffffffffull, fl, FPU_NV);
    EXPECT(fpu_cvt_l_d(0x43e0000000000000ull, RNE, &fl), 0x7fffffffffffffffull, fl, FPU_NV); /* 2^63 */
    EXPECT(fpu_cvt_l_d(0xc3e0000000000000ull, RNE, &fl), 0x8000000000000000ull, fl, 0);     /* -2^63 */
    EXPECT(fpu_cvt_lu_d(0x43e0000000000000ull, RNE, &fl), 0x8000000000000000ull, fl, 0);
    EXPECT(fpu_cvt_lu_d(0x43f0000000000000ull, RNE, &fl), 0xffffffffffffffffull, fl, FPU_NV); /* 2^64 */
    EXPECT(fpu_cvt_lu_s(B(S_MONE), RNE, &fl), 0, fl, FPU_NV);
}

Test(fpu, int_to_float)
{
    unsigned fl = 0;
    /* 2^24 + 1 is halfway between 2^24 and 2^24 + 2 */
    EXPECT(fpu_cvt_s_w(16777217, RNE, &fl), B(0x4b800000u), fl, FPU_NX);
    EXPECT(fpu_cvt_s_w(16777217, RMM, &fl), B(0x4b800001u), fl, FPU_NX);
    EXPECT(fpu_cvt_s_w(16777217, RUP, &fl), B(0x4b800001u), fl, FPU_NX);
    /* only the low 32 bits count for the w forms */
    EXPECT(fpu_cvt_d_w(0x12345678ffffffffull, RNE, &fl), 0xbff0000000000000ull, fl, 0);
    EXPECT(fpu_cvt_d_wu(0x12345678ffffffffull, RNE, &fl), 0x41efffffffe00000ull, fl, 0);
    EXPECT(fpu_cvt_s_l(0x7fffffffffffffffull, RNE, &fl), B(0x5f000000u), fl, FPU_NX);
    EXPECT(fpu_cvt_s_l(0x7fffffffffffffffull, RTZ, &fl), B(0x5effffffu), fl, FPU_NX);
    EXPECT(fpu_cvt_d_lu(0xffffffffffffffffull, RNE, &fl), 0x43f0000000000000ull, fl, FPU_NX);
    EXPECT(fpu_cvt_d_lu(0xffffffffffffffffull, RTZ, &fl), 0x43efffffffffffffull, fl, FPU_NX);
    EXPECT(fpu_cvt_d_l(0x8000000000000000ull, RNE, &fl), 0xc3e0000000000000ull, fl, 0);
}

Test(fpu, single_double_conversion)
{
    unsigned fl = 0;
    /* 1 + 2^-24 as a double: a tie for single precision */
    EXPECT(fpu_cvt_s_d(0x3ff0000010000000ull, RNE, &fl), B(S_ONE), fl, FPU_NX);
    EXPECT(fpu_cvt_s_d(0x3ff0000010000000ull, RMM, &fl), B(0x3f800001u), fl, FPU_NX);
    EXPECT(fpu_cvt_s_d(0x7e37e43c8800759cull, RNE, &fl), B(S_INF), fl, FPU_OF | FPU_NX); /* 1e300 */
    EXPECT(fpu_cvt_s_d(0x7ff8000000000001ull, RNE, &fl), B(S_QNAN), fl, 0);
    EXPECT(fpu_cvt_d_s(B(S_SNAN), RNE, &fl), D_QNAN, fl, FPU_NV);
    EXPECT(fpu_cvt_d_s(B(S_HALF), RNE, &fl), 0x3fe0000000000000ull, fl, 0);
}

Test(fpu, min_max)
{
    unsigned fl = 0;
    EXPECT(fpu_min_s(B(0), B(0x80000000u), &fl), B(0x80000000u), fl, 0); /* -0 < +0 */
    EXPECT(fpu_max_s(B(0x80000000u), B(0), &fl), B(0), fl, 0);
    EXPECT(fpu_min_s(B(S_QNAN), B(S_ONE), &fl), B(S_ONE), fl, 0);
    EXPECT(fpu_max_s(B(S_ONE), B(S_SNAN), &fl), B(S_ONE), fl, FPU_NV);
    EXPECT(fpu_min_s(B(S_QNAN), B(S_SNAN), &fl), B(S_QNAN), fl, FPU_NV);
    EXPECT(fpu_max_d(D_ONE, D_THREE, &fl), D_THREE, fl, 0);
    EXPECT(fpu_min_d(0x7ff8000000000005ull, D_QNAN, &fl), D_QNAN, fl, 0);
}

Test(fpu, comparisons)
{
    unsigned fl = 0;
    EXPECT(fpu_eq_s(B(S_QNAN), B(S_ONE), &fl), 0, fl, 0);      /* quiet */
    EXPECT(fpu_eq_s(B(S_SNAN), B(S_ONE), &fl), 0, fl, FPU_NV);
    EXPECT(fpu_lt_s(B(S_QNAN), B(S_ONE), &fl), 0, fl, FPU_NV); /* signalling */
    EXPECT(fpu_le_d(D_QNAN, D_ONE, &fl), 0, fl, FPU_NV);
    EXPECT(fpu_le_s(B(S_ONE), B(S_ONE), &fl), 1, fl, 0);
    EXPECT(fpu_lt_s(B(0x80000000u), B(0), &fl), 0, fl, 0);      /* -0 == +0 */
    EXPECT(fpu_eq_d(0x8000000000000000ull, 0, &fl), 1, fl, 0);
    EXPECT(fpu_lt_d(D_ONE, D_TWO, &fl), 1, fl, 0);
}

Test(fpu, sign_injection)
{
    unsigned fl = 0;
    EXPECT(fpu_sgnj_s(B(S_ONE), B(0xc0000000u)), B(S_MONE), fl, 0);
    EXPECT(fpu_sgnjn_s(B(S_ONE), B(0xc0000000u)), B(S_ONE), fl, 0);
    EXPECT(fpu_sgnjx_s(B(S_MONE), B(0xc0000000u)), B(S_ONE), fl, 0);
    EXPECT(fpu_sgnj_d(D_ONE, 0x8000000000000000ull), 0xbff0000000000000ull, fl, 0);
    EXPECT(fpu_sgnjn_d(D_ONE, D_ONE), 0xbff0000000000000ull, fl, 0);
    EXPECT(fpu_sgnjx_d(0xbff0000000000000ull, 0xbff0000000000000ull), D_ONE, fl, 0);
}

Test(fpu, classify_all_ten_classes)
{
    unsigned fl = 0;
    const uint32_t s[10] = { S_NINF, S_MONE, 0x80000001u, 0x80000000u, 0, 1, S_ONE, S_INF, S_SNAN, S_QNAN };
    const uint64_t d[10] = { 0xfff0000000000000ull, 0xbff0000000000000ull, 0x8000000000000001ull,
                             0x8000000000000000ull, 0, 1, D_ONE, 0x7ff0000000000000ull, D_SNAN, D_QNAN };
    for (unsigned i = 0; i < 10; i++) {
        EXPECT(fpu_class_s(B(s[i])), 1u << i, fl, 0);
        EXPECT(fpu_class_d(d[i]), 1u << i, fl, 0);
    }
}
