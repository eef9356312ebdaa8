/* fpu.c — RISC-V F and D arithmetic on the host's IEEE-754 unit. The host does the rounding and
 * raises the exception flags (we switch its rounding mode and collect its flags around each
 * operation); this file adds what RISC-V defines differently: the canonical NaN, NaN boxing,
 * saturating float→integer conversion, min/max/compare NaN rules and round-to-nearest-
 * ties-to-max-magnitude (RMM), which hosts lack (done here by detecting exact ties).
 * Built with -frounding-math; operands go through volatile so the compiler cannot move an
 * operation outside its rounding-mode window. */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "cpu/rv64/fpu.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
/* MXCSR: flags in bits 0..5 (IE DE ZE OE UE PE), rounding control in bits 13..14 */
static const unsigned mxcsr_rc[5] = { 0x0000, 0x6000, 0x2000, 0x4000, 0x0000 };

static inline unsigned env_enter(int rm)
{
    unsigned saved = _mm_getcsr();
    _mm_setcsr((saved & ~0x603fu) | mxcsr_rc[rm]);
    return saved;
}

static inline unsigned env_leave(unsigned saved)
{
    unsigned x = _mm_getcsr();
    _mm_setcsr(saved);
    return ((x & 0x01) ? FPU_NV : 0) | ((x & 0x04) ? FPU_DZ : 0) | ((x & 0x08) ? FPU_OF : 0) |
           ((x & 0x10) ? FPU_UF : 0) | ((x & 0x20) ? FPU_NX : 0);
}
#else
#include <fenv.h>
static const int fenv_rc[5] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD, FE_TONEAREST };

static inline unsigned env_enter(int rm)
{
    unsigned saved = (unsigned)fegetround();
    feclearexcept(FE_ALL_EXCEPT);
    fesetround(fenv_rc[rm]);
    return saved;
}

static inline unsigned env_leave(unsigned saved)
{
    int x = fetestexcept(FE_ALL_EXCEPT);
    fesetround((int)saved);
    return ((x & FE_INVALID) ? FPU_NV : 0) | ((x & FE_DIVBYZERO) ? FPU_DZ : 0) |
           ((x & FE_OVERFLOW) ? FPU_OF : 0) | ((x & FE_UNDERFLOW) ? FPU_UF : 0) |
           ((x & FE_INEXACT) ? FPU_NX : 0);
}
#endif

/* ---- register bits <-> host values ---- */

static inline float s_of(uint64_t v)
{
    /* a single not properly NaN-boxed in its 64-bit register reads as the canonical NaN */
    uint32_t u = (v >> 32) == 0xffffffffu ? (uint32_t)v : FPU_CANON_S;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t bits_s(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline uint64_t bits_d(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double d_of(uint64_t v) { double d; memcpy(&d, &v, 8); return d; }

static inline uint64_t of_s(float f) { return fpu_box_s(isnan(f) ? FPU_CANON_S : bits_s(f)); }
static inline uint64_t of_d(double d) { return isnan(d) ? FPU_CANON_D : bits_d(d); }

static inline bool snan_s(float f)
{
    uint32_t u = bits_s(f);
    return (u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) && !(u & 0x00400000u);
}

static inline bool snan_d(double d)
{
    uint64_t u = bits_d(d);
    return (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (u & 0x000fffffffffffffull) &&
           !(u & 0x0008000000000000ull);
}

/* ---- RMM: the host rounded to nearest-even; fix the exact ties that must go away from zero ---- */

/* exact is the exact result (representable in double for single-precision add/sub/mul) */
static float rmm_fix_s(float r, double exact)
{
    if (exact == (double)r || isinf(r))
        return r;
    float next = nextafterf(r, exact > (double)r ? INFINITY : -INFINITY);
    bool tie = fabs(exact - (double)r) * 2 == fabs((double)next - (double)r);
    return tie && fabs(exact) > fabs((double)r) ? next : r;
}

/* err = exact - r, computed exactly by the caller */
static double rmm_fix_d(double r, double err)
{
    if (err == 0 || isinf(r))
        return r;
    double next = nextafter(r, err > 0 ? INFINITY : -INFINITY);
    bool tie = fabs(err) * 2 == fabs(next - r);
    bool away = (err > 0) == (r > 0);
    return tie && away ? next : r;
}

/* ---- add, sub, mul, div, sqrt ---- */

#define ARITH_S(name, OP)                                                                  \
    uint64_t fpu_##name##_s(uint64_t a_, uint64_t b_, int rm, unsigned *fl)              \
    {                                                                                      \
        volatile float a = s_of(a_), b = s_of(b_);                                         \
        unsigned saved = env_enter(rm);                                                    \
        volatile float r = a OP b;                                                         \
        unsigned f = env_leave(saved);                                                     \
        float res = r;                                                                     \
        if (rm == FPU_RMM && (f & FPU_NX))                                                 \
            res = rmm_fix_s(res, (double)a OP(double) b);                                  \
        *fl |= f;                                                                          \
        return of_s(res);                                                                  \
    }
ARITH_S(add, +)
ARITH_S(sub, -)
ARITH_S(mul, *)

/* a quotient or square root is never exactly halfway between two floats, so RMM = RNE there */
uint64_t fpu_div_s(uint64_t a_, uint64_t b_, int rm, unsigned *fl)
{
    volatile float a = s_of(a_), b = s_of(b_);
    unsigned saved = env_enter(rm);
    volatile float r = a / b;
    *fl |= env_leave(saved);
    return of_s(r);
}

uint64_t fpu_sqrt_s(uint64_t a_, int rm, unsigned *fl)
{
    volatile float a = s_of(a_);
    unsigned saved = env_enter(rm);
    volatile float r = sqrtf(a);
    *fl |= env_leave(saved);
    return of_s(r);
}

static double two_sum_err(double a, double b, double s)
{
    double bb = s - a;
    return (a - (s - bb)) + (b - bb);
}

uint64_t fpu_add_d(uint64_t a_, uint64_t b_, int rm, unsigned *fl)
{
    volatile double a = d_of(a_), b = d_of(b_);
    unsigned saved = env_enter(rm);
    volatile double r = a + b;
    unsigned f = env_leave(saved);
    double res = r;
    if (rm == FPU_RMM && (f & FPU_NX))
        res = rmm_fix_d(res, two_sum_err(a, b, res));
    *fl |= f;
    return of_d(res);
}

uint64_t fpu_sub_d(uint64_t a_, uint64_t b_, int rm, unsigned *fl)
{
    return fpu_add_d(a_, b_ ^ 0x8000000000000000ull, rm, fl);
}

uint64_t fpu_mul_d(uint64_t a_, uint64_t b_, int rm, unsigned *fl)
{
    volatile double a = d_of(a_), b = d_of(b_);
    unsigned saved = env_enter(rm);
    volatile double r = a * b;
    unsigned f = env_leave(saved);
    double res = r;
    if (rm == FPU_RMM && (f & FPU_NX) && !(f & FPU_UF))
        res = rmm_fix_d(res, fma(a, b, -res));
    *fl |= f;
    return of_d(res);
}

uint64_t fpu_div_d(uint64_t a_, uint64_t b_, int rm, unsigned *fl)
{
    volatile double a = d_of(a_), b = d_of(b_);
    unsigned saved = env_enter(rm);
    volatile double r = a / b;
    *fl |= env_leave(saved);
    return of_d(r);
}

uint64_t fpu_sqrt_d(uint64_t a_, int rm, unsigned *fl)
{
    volatile double a = d_of(a_);
    unsigned saved = env_enter(rm);
    volatile double r = sqrt(a);
    *fl |= env_leave(saved);
    return of_d(r);
}

/* ---- fused multiply-add; RMM is rounded as RNE here (no exact tie detection for fma) ---- */

/* RISC-V: ∞ × 0 is invalid even when the addend is a quiet NaN */
#define INF_TIMES_ZERO(a, b) ((isinf(a) && (b) == 0) || ((a) == 0 && isinf(b)))

#define FMA_S(name, na, nc)                                                                \
    uint64_t fpu_##name##_s(uint64_t a_, uint64_t b_, uint64_t c_, int rm, unsigned *fl) \
    {                                                                                      \
        volatile float a = s_of(a_), b = s_of(b_), c = s_of(c_);                           \
        if (INF_TIMES_ZERO(a, b))                                                          \
            *fl |= FPU_NV;                                                                 \
        unsigned saved = env_enter(rm);                                                    \
        volatile float r = fmaf(na a, b, nc c);                                            \
        *fl |= env_leave(saved);                                                           \
        return of_s(r);                                                                    \
    }
#define FMA_D(name, na, nc)                                                                \
    uint64_t fpu_##name##_d(uint64_t a_, uint64_t b_, uint64_t c_, int rm, unsigned *fl) \
    {                                                                                      \
        volatile double a = d_of(a_), b = d_of(b_), c = d_of(c_);                          \
        if (INF_TIMES_ZERO(a, b))                                                          \
            *fl |= FPU_NV;                                                                 \
        unsigned saved = env_enter(rm);                                                    \
        volatile double r = fma(na a, b, nc c);                                            \
        *fl |= env_leave(saved);                                                           \
        return of_d(r);                                                                    \
    }
FMA_S(madd, +, +) FMA_S(msub, +, -) FMA_S(nmsub, -, +) FMA_S(nmadd, -, -)
FMA_D(madd, +, +) FMA_D(msub, +, -) FMA_D(nmsub, -, +) FMA_D(nmadd, -, -)

/* ---- float → integer: round in the requested mode, then saturate ---- */

static double round_integral(double x, int rm)
{
    if (rm == FPU_RMM)
        return round(x);
    volatile double v = x;
    unsigned saved = env_enter(rm);
    volatile double r = rint(v);
    env_leave(saved);
    return r;
}

static uint64_t to_int(double x, int rm, unsigned *fl, double lo, double hi_excl, uint64_t min_val,
                       uint64_t max_val)
{
    if (isnan(x)) {
        *fl |= FPU_NV;
        return max_val;
    }
    double r = round_integral(x, rm);
    if (r >= hi_excl) {
        *fl |= FPU_NV;
        return max_val;
    }
    if (r < lo) {
        *fl |= FPU_NV;
        return min_val;
    }
    if (r != x)
        *fl |= FPU_NX;
    if (lo < 0)
        return (uint64_t)(int64_t)r;
    return r >= 9223372036854775808.0 ? (uint64_t)(r - 9223372036854775808.0) + (1ull << 63)
                                      : (uint64_t)(int64_t)r;
}

#define SX32(v) ((uint64_t)(int64_t)(int32_t)(uint32_t)(v))
#define TO_INT(name, src_of)                                                               \
    uint64_t fpu_cvt_w_##name(uint64_t a, int rm, unsigned *fl)                           \
    {                                                                                      \
        return SX32(to_int(src_of(a), rm, fl, -2147483648.0, 2147483648.0, 0x80000000u,   \
                           0x7fffffffu));                                                  \
    }                                                                                      \
    uint64_t fpu_cvt_wu_##name(uint64_t a, int rm, unsigned *fl)                          \
    {                                                                                      \
        return SX32(to_int(src_of(a), rm, fl, 0, 4294967296.0, 0, 0xffffffffu));          \
    }                                                                                      \
    uint64_t fpu_cvt_l_##name(uint64_t a, int rm, unsigned *fl)                           \
    {                                                                                      \
        return to_int(src_of(a), rm, fl, -9223372036854775808.0, 9223372036854775808.0,  \
                      1ull << 63, INT64_MAX);                                              \
    }                                                                                      \
    uint64_t fpu_cvt_lu_##name(uint64_t a, int rm, unsigned *fl)                          \
    {                                                                                      \
        return to_int(src_of(a), rm, fl, 0, 18446744073709551616.0, 0, UINT64_MAX);       \
    }
TO_INT(s, (double)s_of)
TO_INT(d, d_of)

/* ---- integer → float ---- */

/* RMM for integer sources: exact tie test in 128-bit integer arithmetic */
static float rmm_int_s(float r, __int128 x)
{
    __int128 err = x - (__int128)r;
    if (err == 0)
        return r;
    float next = nextafterf(r, err > 0 ? INFINITY : -INFINITY);
    __int128 gap = (__int128)next - (__int128)r;
    bool away = (err > 0) == (r > 0);
    return 2 * err == gap && away ? next : r;
}

static double rmm_int_d(double r, __int128 x)
{
    __int128 err = x - (__int128)r;
    if (err == 0)
        return r;
    double next = nextafter(r, err > 0 ? INFINITY : -INFINITY);
    __int128 gap = (__int128)next - (__int128)r;
    bool away = (err > 0) == (r > 0);
    return 2 * err == gap && away ? next : r;
}

#define FROM_INT(suffix, T, I)                                                             \
    uint64_t fpu_cvt_s_##suffix(uint64_t x_, int rm, unsigned *fl)                        \
    {                                                                                      \
        volatile I x = (I)x_;                                                              \
        unsigned saved = env_enter(rm);                                                    \
        volatile float r = (float)x;                                                       \
        unsigned f = env_leave(saved);                                                     \
        float res = r;                                                                     \
        if (rm == FPU_RMM && (f & FPU_NX))                                                 \
            res = rmm_int_s(res, (__int128)x);                                             \
        *fl |= f;                                                                          \
        return of_s(res);                                                                  \
    }                                                                                      \
    uint64_t fpu_cvt_d_##suffix(uint64_t x_, int rm, unsigned *fl)                        \
    {                                                                                      \
        volatile I x = (I)x_;                                                              \
        unsigned saved = env_enter(rm);                                                    \
        volatile double r = (double)x;                                                     \
        unsigned f = env_leave(saved);                                                     \
        double res = r;                                                                    \
        if (rm == FPU_RMM && (f & FPU_NX))                                                 \
            res = rmm_int_d(res, (__int128)x);                                             \
        *fl |= f;                                                                          \
        return of_d(res);                                                                  \
    }
FROM_INT(w, float, int32_t)
FROM_INT(wu, float, uint32_t)
FROM_INT(l, float, int64_t)
FROM_INT(lu, float, uint64_t)

/* ---- single <-> double ---- */

uint64_t fpu_cvt_s_d(uint64_t a_, int rm, unsigned *fl)
{
    volatile double a = d_of(a_);
    unsigned saved = env_enter(rm);
    volatile float r = (float)a;
    unsigned f = env_leave(saved);
    float res = r;
    if (rm == FPU_RMM && (f & FPU_NX) && !(f & FPU_UF))
        res = rmm_fix_s(res, a);
    *fl |= f;
    return of_s(res);
}

uint64_t fpu_cvt_d_s(uint64_t a_, int rm, unsigned *fl)
{
    (void)rm; /* exact */
    float a = s_of(a_);
    if (snan_s(a))
        *fl |= FPU_NV;
    return of_d((double)a);
}

/* ---- min, max, compare ---- */

#define MINMAX(T, sfx, OF, TO, SNAN, CANON)                                               \
    static uint64_t minmax_##sfx(uint64_t a_, uint64_t b_, unsigned *fl, bool want_max)   \
    {                                                                                      \
        T a = OF(a_), b = OF(b_);                                                          \
        if (SNAN(a) || SNAN(b))                                                            \
            *fl |= FPU_NV;                                                                 \
        if (isnan(a) && isnan(b))                                                          \
            return CANON;                                                                  \
        if (isnan(a))                                                                      \
            return TO(b);                                                                  \
        if (isnan(b))                                                                      \
            return TO(a);                                                                  \
        if (a == b) /* -0 is below +0 */                                                   \
            return TO((signbit(a) != 0) != want_max ? a : b);                              \
        return TO((a < b) != want_max ? a : b);                                            \
    }                                                                                      \
    uint64_t fpu_min_##sfx(uint64_t a, uint64_t b, unsigned *fl) { return minmax_##sfx(a, b, fl, false); } \
    uint64_t fpu_max_##sfx(uint64_t a, uint64_t b, unsigned *fl) { return minmax_##sfx(a, b, fl, true); }  \
    uint64_t fpu_eq_##sfx(uint64_t a_, uint64_t b_, unsigned *fl)                          \
    {                                                                                      \
        T a = OF(a_), b = OF(b_);                                                          \
        if (SNAN(a) || SNAN(b))                                                            \
            *fl |= FPU_NV;                                                                 \
        return !isnan(a) && !isnan(b) && a == b;                                           \
    }                                                                                      \
    uint64_t fpu_lt_##sfx(uint64_t a_, uint64_t b_, unsigned *fl)                          \
    {                                                                                      \
        T a = OF(a_), b = OF(b_);                                                          \
        if (isnan(a) || isnan(b)) {                                                        \
            *fl |= FPU_NV;                                                                 \
            return 0;                                                                      \
        }                                                                                  \
        return a < b;                                                                      \
    }                                                                                      \
    uint64_t fpu_le_##sfx(uint64_t a_, uint64_t b_, unsigned *fl)                          \
    {                                                                                      \
        T a = OF(a_), b = OF(b_);                                                          \
        if (isnan(a) || isnan(b)) {                                                        \
            *fl |= FPU_NV;                                                                 \
            return 0;                                                                      \
        }                                                                                  \
        return a <= b;                                                                     \
    }

/* min/max keep the operand bits as they are (no canonicalisation of non-NaN values) */
static inline uint64_t keep_s(float f) { return fpu_box_s(bits_s(f)); }
MINMAX(float, s, s_of, keep_s, snan_s, fpu_box_s(FPU_CANON_S))
MINMAX(double, d, d_of, bits_d, snan_d, FPU_CANON_D)

/* ---- sign injection and classification: pure bit operations ---- */

static inline uint32_t unbox_bits(uint64_t v) { return bits_s(s_of(v)); }

uint64_t fpu_sgnj_s(uint64_t a, uint64_t b) { return fpu_box_s((unbox_bits(a) & 0x7fffffffu) | (unbox_bits(b) & 0x80000000u)); }
uint64_t fpu_sgnjn_s(uint64_t a, uint64_t b) { return fpu_box_s((unbox_bits(a) & 0x7fffffffu) | (~unbox_bits(b) & 0x80000000u)); }
uint64_t fpu_sgnjx_s(uint64_t a, uint64_t b) { return fpu_box_s(unbox_bits(a) ^ (unbox_bits(b) & 0x80000000u)); }
#define SIGN_D 0x8000000000000000ull
uint64_t fpu_sgnj_d(uint64_t a, uint64_t b) { return (a & ~SIGN_D) | (b & SIGN_D); }
uint64_t fpu_sgnjn_d(uint64_t a, uint64_t b) { return (a & ~SIGN_D) | (~b & SIGN_D); }
uint64_t fpu_sgnjx_d(uint64_t a, uint64_t b) { return a ^ (b & SIGN_D); }

static uint64_t classify(bool neg, bool exp_max, bool exp_zero, bool frac_zero, bool quiet)
{
    if (exp_max) {
        if (frac_zero)
            return neg ? 1u << 0 : 1u << 7;
        return quiet ? 1u << 9 : 1u << 8;
    }
    if (exp_zero) {
        if (frac_zero)
            return neg ? 1u << 3 : 1u << 4;
        return neg ? 1u << 2 : 1u << 5;
    }
    return neg ? 1u << 1 : 1u << 6;
}

uint64_t fpu_class_s(uint64_t a)
{
    uint32_t u = unbox_bits(a), e = (u >> 23) & 0xff, m = u & 0x7fffff;
    return classify(u >> 31, e == 0xff, e == 0, m == 0, (m >> 22) & 1);
}

uint64_t fpu_class_d(uint64_t a)
{
    uint64_t e = (a >> 52) & 0x7ff, m = a & 0xfffffffffffffull;
    return classify(a >> 63, e == 0x7ff, e == 0, m == 0, (m >> 51) & 1);
}
