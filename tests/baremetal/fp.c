/* fp.c — F and D extensions, part 1: arithmetic, fused multiply-add, rounding through frm and
 * static rm, and the accrued exception flags (fflags/frm/fcsr). Part 2 is fpcvt.c. */
#include "lib.h"
#include "fp.h"

int main(void)
{
    test_begin("fp");
    set_frm(RNE);

    section("basic arithmetic (double and single)");
    CHECK_EQ(F2D("fadd.d", 0x3ff8000000000000ul, 0x4002000000000000ul, ""), 0x400e000000000000ul);
    CHECK_EQ(F2D("fsub.d", D_ONE, D_THREE, ""), 0xc000000000000000ul);
    CHECK_EQ(F2D("fmul.d", D_THREE, 0xc004000000000000ul, ""), 0xc01e000000000000ul);
    CHECK_EQ(F2D("fdiv.d", 0x401c000000000000ul, D_TWO, ""), 0x400c000000000000ul);
    CHECK_EQ(F1D("fsqrt.d", D_TWO, ""), 0x3ff6a09e667f3bcdul);
    CHECK_EQ(F2S("fadd.s", S_ONE, 0x40000000u, ""), 0x40400000u);
    CHECK_EQ(F2S("fdiv.s", S_ONE, 0x40400000u, ""), 0x3eaaaaabu);
    {
        uint64_t r;
        asm volatile("fmv.w.x ft0, %1\n fsqrt.s ft1, ft0\n fmv.x.w %0, ft1"
                     : "=r"(r) : "r"(0x40000000ul) : "ft0", "ft1");
        CHECK_EQ((uint32_t)r, 0x3fb504f3u);
    }

    section("fused multiply-add keeps the unrounded product");
    CHECK_EQ(F3D("fmadd.d", 0x3ff0000000000001ul, 0x3ff0000000000001ul, 0xbff0000000000002ul),
             0x3970000000000000ul);                     /* exactly 2^-104 */
    CHECK_EQ(F3D("fmadd.d", D_TWO, D_THREE, D_ONE), 0x401c000000000000ul);   /*  7 */
    CHECK_EQ(F3D("fmsub.d", D_TWO, D_THREE, D_ONE), 0x4014000000000000ul);   /*  5 */
    CHECK_EQ(F3D("fnmsub.d", D_TWO, D_THREE, D_ONE), 0xc014000000000000ul);  /* -5 */
    CHECK_EQ(F3D("fnmadd.d", D_TWO, D_THREE, D_ONE), 0xc01c000000000000ul);  /* -7 */

    section("dynamic rounding through frm: 1/3 and -1/3");
    {
        static const uint64_t pos[5] = { 0x3fd5555555555555ul, 0x3fd5555555555555ul,
                                         0x3fd5555555555555ul, 0x3fd5555555555556ul,
                                         0x3fd5555555555555ul };
        static const uint64_t neg[5] = { 0xbfd5555555555555ul, 0xbfd5555555555555ul,
                                         0xbfd5555555555556ul, 0xbfd5555555555555ul,
                                         0xbfd5555555555555ul };
        for (int rm = 0; rm < 5; rm++) {
            set_frm(rm);
            uint64_t frm;
            asm volatile("frrm %0" : "=r"(frm));
            CHECK_EQ(frm, rm);
            CHECK_EQ(F2D("fdiv.d", D_ONE, D_THREE, ""), pos[rm]);
            CHECK_EQ(F2D("fdiv.d", D_M1, D_THREE, ""), neg[rm]);
        }
        /* 1 + 2^-24 in single is a tie: RNE keeps 1.0, RMM and RUP round away */
        static const uint32_t tie[5] = { 0x3f800000u, 0x3f800000u, 0x3f800000u, 0x3f800001u,
                                         0x3f800001u };
        for (int rm = 0; rm < 5; rm++) {
            set_frm(rm);
            CHECK_EQ(F2S("fadd.s", S_ONE, 0x33800000u, ""), tie[rm]);
        }
        set_frm(RNE);
    }

    section("static rounding modes override frm");
    set_frm(RUP);
    CHECK_EQ(F2D("fdiv.d", D_ONE, D_THREE, ", rtz"), 0x3fd5555555555555ul);
    CHECK_EQ(F2D("fdiv.d", D_ONE, D_THREE, ", dyn"), 0x3fd5555555555556ul);
    set_frm(RNE);
    CHECK_EQ(F2D("fdiv.d", D_ONE, D_THREE, ", rup"), 0x3fd5555555555556ul);
    CHECK_EQ(F2D("fdiv.d", D_M1, D_THREE, ", rdn"), 0xbfd5555555555556ul);
    CHECK_EQ(F2S("fadd.s", S_ONE, 0x33800000u, ", rmm"), 0x3f800001u);
    /* fcvt.w.d of +-2.5 in each mode */
    CHECK_EQ(D2I("fcvt.w.d", 0x4004000000000000ul, ", rne"), 2);
    CHECK_EQ(D2I("fcvt.w.d", 0x4004000000000000ul, ", rtz"), 2);
    CHECK_EQ(D2I("fcvt.w.d", 0x4004000000000000ul, ", rdn"), 2);
    CHECK_EQ(D2I("fcvt.w.d", 0x4004000000000000ul, ", rup"), 3);
    CHECK_EQ(D2I("fcvt.w.d", 0x4004000000000000ul, ", rmm"), 3);
    CHECK_EQ(D2I("fcvt.l.d", 0xc004000000000000ul, ", rne"), (uint64_t)-2l);
    CHECK_EQ(D2I("fcvt.l.d", 0xc004000000000000ul, ", rtz"), (uint64_t)-2l);
    CHECK_EQ(D2I("fcvt.l.d", 0xc004000000000000ul, ", rdn"), (uint64_t)-3l);
    CHECK_EQ(D2I("fcvt.l.d", 0xc004000000000000ul, ", rup"), (uint64_t)-2l);
    CHECK_EQ(D2I("fcvt.l.d", 0xc004000000000000ul, ", rmm"), (uint64_t)-3l);
    CHECK_EQ(I2S("fcvt.s.w", 16777217, ", rne"), 0x4b800000u);
    CHECK_EQ(I2S("fcvt.s.w", 16777217, ", rup"), 0x4b800001u);

    section("fflags: NX, DZ, NV, OF, UF; sticky; fcsr layout");
    clear_flags();
    F2D("fadd.d", D_ONE, D_ONE, "");
    CHECK_EQ(flags(), 0);
    F2D("fdiv.d", D_ONE, D_THREE, "");
    CHECK_EQ(flags(), NX);
    clear_flags();
    CHECK_EQ(F2D("fdiv.d", D_ONE, D_P0, ""), D_INF);
    CHECK_EQ(flags(), DZ);
    clear_flags();
    CHECK_EQ(F1D("fsqrt.d", D_M1, ""), D_QNAN);
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(F2D("fmul.d", D_P0, D_INF, ""), D_QNAN);
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(F2D("fmul.d", D_MAX, D_TWO, ""), D_INF);
    CHECK_EQ(flags(), OF | NX);
    clear_flags();
    CHECK_EQ(F2D("fmul.d", D_MAX, D_TWO, ", rtz"), D_MAX);
    CHECK_EQ(flags(), OF | NX);
    clear_flags();
    CHECK_EQ(F2D("fmul.d", D_MIN, D_MIN, ""), D_P0);
    CHECK_EQ(flags(), UF | NX);
    clear_flags();
    CHECK_EQ(F2D("fmul.d", 1, 0x3fe0000000000000ul, ""), D_P0);   /* 2^-1075: tie to even 0 */
    CHECK_EQ(flags(), UF | NX);
    CHECK_EQ(F2D("fmul.d", 1, 0x3fe0000000000000ul, ", rup"), 1);
    clear_flags();
    CHECK_EQ(F2D("fdiv.d", D_MIN, D_TWO, ""), 0x0008000000000000ul);  /* exact subnormal */
    CHECK_EQ(flags(), 0);
    F2D("fdiv.d", D_ONE, D_THREE, "");
    F2D("fdiv.d", D_ONE, D_P0, "");
    CHECK_EQ(flags(), NX | DZ);                          /* sticky */
    clear_flags();
    CHECK_EQ(F2D("fdiv.d", D_P0, D_P0, ""), D_QNAN);
    CHECK_EQ(F2D("fsub.d", D_INF, D_INF, ""), D_QNAN);
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(F3D("fmadd.d", D_INF, D_P0, D_QNAN), D_QNAN);  /* inf * 0 + qNaN is invalid */
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(F1D("fsqrt.d", D_M0, ""), D_M0);
    CHECK_EQ(flags(), 0);
    /* x - x is +0, except -0 when rounding down */
    CHECK_EQ(F2D("fsub.d", D_THREE, D_THREE, ""), D_P0);
    CHECK_EQ(F2D("fsub.d", D_THREE, D_THREE, ", rdn"), D_M0);
    CHECK_EQ(F2D("fadd.d", D_M0, D_M0, ""), D_M0);
    /* tininess is detected after rounding: DBL_MIN - 2^-1080 rounds to DBL_MIN, so only NX */
    clear_flags();
    CHECK_EQ(F3D("fnmsub.d", 0x1e30000000000000ul, 0x1e30000000000000ul, D_MIN), D_MIN);
    CHECK_EQ(flags(), NX);
    {
        uint64_t fcsr, old;
        asm volatile("csrw fcsr, %0" :: "r"((uint64_t)(RDN << 5) | NV | OF));
        CHECK_EQ(flags(), NV | OF);
        asm volatile("frrm %0" : "=r"(old));
        CHECK_EQ(old, RDN);
        asm volatile("fsflags %0, %1" : "=r"(old) : "r"((uint64_t)NX));
        CHECK_EQ(old, NV | OF);
        asm volatile("fsrm %0, %1" : "=r"(old) : "r"((uint64_t)RTZ));
        CHECK_EQ(old, RDN);
        asm volatile("frcsr %0" : "=r"(fcsr));
        CHECK_EQ(fcsr, (RTZ << 5) | NX);
        asm volatile("csrw fcsr, %0" :: "r"(0xffful));
        asm volatile("frcsr %0" : "=r"(fcsr));
        CHECK_EQ(fcsr, 0xff);                            /* fcsr is 8 bits */
        asm volatile("csrw fcsr, zero");
    }

    return 0;
}
