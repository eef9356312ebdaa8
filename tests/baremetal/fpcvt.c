/* fpcvt.c — F and D extensions, part 2: NaN boxing of single values, canonical NaNs,
 * fmin/fmax/compare rules, fsgnj, fclass, fcvt saturation and flags, reserved rounding modes and
 * mstatus.FS (Off traps, writes make it Dirty). Part 1 is fp.c. */
#include "lib.h"
#include "fp.h"

int main(void)
{
    test_begin("fpcvt");
    set_frm(RNE);

    section("NaN boxing: flw/fmv.w.x box, fmv.x.w sign-extends, unboxed inputs are NaN");
    {
        static volatile uint32_t mem[2] = { 0xbf800000u, 0x3f800000u };
        uint64_t r, bits;
        asm volatile("flw ft0, 0(%2)\n fmv.x.w %0, ft0\n fmv.x.d %1, ft0"
                     : "=r"(r), "=r"(bits) : "r"(&mem[0]) : "ft0");
        CHECK_EQ(r, 0xffffffffbf800000ul);
        CHECK_EQ(bits, 0xffffffffbf800000ul);
        asm volatile("flw ft0, 0(%2)\n fmv.x.w %0, ft0\n fmv.x.d %1, ft0"
                     : "=r"(r), "=r"(bits) : "r"(&mem[1]) : "ft0");
        CHECK_EQ(r, 0x3f800000ul);
        CHECK_EQ(bits, 0xffffffff3f800000ul);
        asm volatile("fmv.w.x ft0, %1\n fmv.x.d %0, ft0" : "=r"(bits) : "r"(0xaaaa12345678ul) : "ft0");
        CHECK_EQ(bits, 0xffffffff12345678ul);
        asm volatile("fmv.d.x ft0, %1\n fcvt.s.d ft1, ft0\n fmv.x.d %0, ft1"
                     : "=r"(bits) : "r"(D_ONE) : "ft0", "ft1");
        CHECK_EQ(bits, 0xffffffff3f800000ul);
        /* 1.0f without the box of ones: single ops see the canonical NaN */
        asm volatile("fmv.d.x ft0, %1\n fadd.s ft1, ft0, ft0\n fmv.x.w %0, ft1"
                     : "=r"(r) : "r"(0x000000003f800000ul) : "ft0", "ft1");
        CHECK_EQ(r, S_QNAN);
        asm volatile("fmv.d.x ft0, %1\n fclass.s %0, ft0" : "=r"(r) : "r"(0x000000003f800000ul) : "ft0");
        CHECK_EQ(r, 1 << 9);
        asm volatile("fmv.d.x ft0, %1\n fmv.w.x ft1, %2\n fsgnj.s ft2, ft0, ft1\n fmv.x.w %0, ft2"
                     : "=r"(r) : "r"(0x00000000bf800000ul), "r"(0x3f800000ul) : "ft0", "ft1", "ft2");
        CHECK_EQ(r, S_QNAN);
        /* fmv.x.w and fsw take the low 32 bits as they are, boxed or not */
        asm volatile("fmv.d.x ft0, %1\n fmv.x.w %0, ft0" : "=r"(r) : "r"(0x00000000bf800000ul) : "ft0");
        CHECK_EQ(r, 0xffffffffbf800000ul);
        asm volatile("fmv.d.x ft0, %1\n fsw ft0, 0(%0)" :: "r"(&mem[1]), "r"(0x1234567887654321ul) : "ft0", "memory");
        CHECK_EQ(mem[1], 0x87654321u);
        CHECK_EQ(mem[0], 0xbf800000u);
    }

    section("canonical NaNs, fmin/fmax, comparisons, fsgnj, fclass");
    clear_flags();
    CHECK_EQ(F2D("fadd.d", D_SNAN, D_ONE, ""), D_QNAN);
    CHECK_EQ(flags(), NV);
    CHECK_EQ(F1D("fcvt.d.s", 0xffffffff00000000ul | S_SNAN, ""), D_QNAN);
    CHECK_EQ(F2D("fmin.d", D_M0, D_P0, ""), D_M0);
    CHECK_EQ(F2D("fmax.d", D_M0, D_P0, ""), D_P0);
    clear_flags();
    CHECK_EQ(F2D("fmin.d", D_QNAN, D_ONE, ""), D_ONE);
    CHECK_EQ(F2D("fmax.d", D_ONE, D_QNAN, ""), D_ONE);
    CHECK_EQ(flags(), 0);
    CHECK_EQ(F2D("fmin.d", D_SNAN, D_ONE, ""), D_ONE);
    CHECK_EQ(flags(), NV);
    CHECK_EQ(F2D("fmax.d", D_QNAN, 0xfff8000000000001ul, ""), D_QNAN);
    CHECK_EQ(F2S("fmin.s", 0x7fc00001u, 0xffc00000u, ""), S_QNAN);
    clear_flags();
    CHECK_EQ(FCMPD("feq.d", D_QNAN, D_QNAN), 0);
    CHECK_EQ(flags(), 0);
    CHECK_EQ(FCMPD("feq.d", D_SNAN, D_ONE), 0);
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(FCMPD("flt.d", D_QNAN, D_ONE), 0);
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(FCMPD("feq.d", D_M0, D_P0), 1);
    CHECK_EQ(FCMPD("flt.d", D_M1, D_ONE), 1);
    CHECK_EQ(FCMPD("fle.d", D_ONE, D_ONE), 1);
    CHECK_EQ(FCMPD("flt.d", D_MINF, D_M1), 1);
    CHECK_EQ(flags(), 0);
    CHECK_EQ(F2D("fsgnj.d", D_ONE, D_M0, ""), D_M1);
    CHECK_EQ(F2D("fsgnjn.d", D_M1, D_M1, ""), D_ONE);
    CHECK_EQ(F2D("fsgnjx.d", D_M1, D_M1, ""), D_ONE);
    CHECK_EQ(F2D("fsgnjx.d", D_ONE, D_M1, ""), D_M1);
    CHECK_EQ(F2D("fsgnj.d", D_QNAN, D_M1, ""), 0xfff8000000000000ul);   /* no canonicalising */
    {
        static const uint64_t v[10] = { D_MINF, D_M1, 0x8000000000000001ul, D_M0, D_P0, 1,
                                        D_ONE, D_INF, D_SNAN, D_QNAN };
        for (int i = 0; i < 10; i++) {
            uint64_t r;
            asm volatile("fmv.d.x ft0, %1\n fclass.d %0, ft0" : "=r"(r) : "r"(v[i]) : "ft0");
            CHECK_EQ(r, 1ul << i);
        }
    }

    section("fcvt saturation and invalid flags");
    clear_flags();
    CHECK_EQ(D2I("fcvt.w.d", 0x4202a05f20000000ul, ", rtz"), 0x7ffffffful);   /* 1e10 */
    CHECK_EQ(flags(), NV);
    CHECK_EQ(D2I("fcvt.w.d", 0xc202a05f20000000ul, ", rtz"), 0xffffffff80000000ul);
    CHECK_EQ(D2I("fcvt.w.d", D_QNAN, ", rtz"), 0x7ffffffful);
    CHECK_EQ(D2I("fcvt.w.d", D_MINF, ", rtz"), 0xffffffff80000000ul);
    CHECK_EQ(D2I("fcvt.w.d", 0xfff8000000000000ul, ", rtz"), 0x7ffffffful);  /* -NaN too */
    clear_flags();
    CHECK_EQ(D2I("fcvt.wu.d", D_M1, ", rtz"), 0);
    CHECK_EQ(flags(), NV);
    clear_flags();
    CHECK_EQ(D2I("fcvt.wu.d", 0xbfe0000000000000ul, ", rtz"), 0);   /* -0.5 -> 0 inexact only */
    CHECK_EQ(flags(), NX);
    clear_flags();
    CHECK_EQ(D2I("fcvt.wu.d", 0x41edcd6500000000ul, ", rtz"), 0xffffffffee6b2800ul); /* 4e9 */
    CHECK_EQ(flags(), 0);
    CHECK_EQ(D2I("fcvt.wu.d", 0x41f2a05f20000000ul, ", rtz"), 0xfffffffffffffffful); /* 5e9 */
    CHECK_EQ(flags(), NV);
    CHECK_EQ(D2I("fcvt.wu.d", D_QNAN, ", rtz"), 0xfffffffffffffffful);
    CHECK_EQ(D2I("fcvt.l.d", 0x43e158e460913d00ul, ", rtz"), 0x7ffffffffffffffful);  /* 1e19 */
    CHECK_EQ(D2I("fcvt.l.d", 0xc3e158e460913d00ul, ", rtz"), 0x8000000000000000ul);
    CHECK_EQ(D2I("fcvt.l.d", D_QNAN, ", rtz"), 0x7ffffffffffffffful);
    CHECK_EQ(D2I("fcvt.lu.d", D_INF, ", rtz"), 0xfffffffffffffffful);
    CHECK_EQ(D2I("fcvt.lu.d", D_M1, ", rtz"), 0);
    clear_flags();
    CHECK_EQ(D2I("fcvt.lu.d", 0x43ef399b1438a100ul, ", rtz"), 0xf9ccd8a1c5080000ul);  /* 1.8e19 */
    CHECK_EQ(flags(), 0);
    CHECK_EQ(S2I("fcvt.l.s", S_QNAN, ", rtz"), 0x7ffffffffffffffful);
    CHECK_EQ(S2I("fcvt.w.s", 0xcf000001u, ", rtz"), 0xffffffff80000000ul);  /* < INT32_MIN */
    clear_flags();
    CHECK_EQ(I2D("fcvt.d.l", 0x7ffffffffffffffful, ""), 0x43e0000000000000ul);
    CHECK_EQ(flags(), NX);
    CHECK_EQ(I2D("fcvt.d.lu", 0xfffffffffffffffful, ", rtz"), 0x43effffffffffffful);
    CHECK_EQ(I2D("fcvt.d.w", 0xffffffff80000000ul, ""), 0xc1e0000000000000ul);
    CHECK_EQ(I2D("fcvt.d.wu", 0xffffffff80000000ul, ""), 0x41e0000000000000ul);
    clear_flags();
    CHECK_EQ(F1D("fcvt.s.d", 0x483d6329f1c35ca5ul, "") & 0xfffffffful, 0x7f800000u);  /* 1e40 */
    CHECK_EQ(flags(), OF | NX);
    CHECK_EQ(F1D("fcvt.s.d", 0x483d6329f1c35ca5ul, ", rtz") & 0xfffffffful, 0x7f7fffffu);

    section("invalid rounding modes are illegal instructions");
    m_trap_hook = skip_trap;
    trap_count = 0;
    asm volatile("fsrm zero, %0\n .word 0x0220d053\n fsrm zero, zero" :: "r"(0ul)); /* rm=5 */
    CHECK_EQ(trap_count, 1);
    CHECK_EQ(trap_cause, EXC_ILLEGAL);
    trap_count = 0;
    asm volatile("fsrm zero, %0\n fadd.d ft0, ft1, ft2, dyn\n fsrm zero, zero" :: "r"(5ul) : "ft0");
    CHECK_EQ(trap_count, 1);
    CHECK_EQ(trap_cause, EXC_ILLEGAL);
    trap_count = 0;
    asm volatile("fsrm zero, %0\n fadd.d ft0, ft1, ft2, rne\n fsrm zero, zero" :: "r"(7ul) : "ft0");
    CHECK_EQ(trap_count, 0);                     /* static rm ignores the bad frm */

    section("mstatus.FS: Off traps, writes make it Dirty (and SD)");
    {
        uint64_t ms;
        csr_clear(mstatus, MSTATUS_FS);
        csr_set(mstatus, 2ul << 13);                 /* Clean */
        ms = csr_read(mstatus);
        CHECK_EQ(ms & MSTATUS_FS, 2ul << 13);
        F2D("fadd.d", D_ONE, D_ONE, "");
        ms = csr_read(mstatus);
        CHECK_EQ(ms & MSTATUS_FS, 3ul << 13);
        CHECK(ms & MSTATUS_SD);
        csr_clear(mstatus, MSTATUS_FS);              /* Off */
        ms = csr_read(mstatus);
        CHECK_EQ(ms & MSTATUS_SD, 0);
        trap_count = 0;
        uint32_t insn;
        asm volatile(".option push\n.option norvc\n"
                     "la %0, 1f\n lwu %0, 0(%0)\n"
                     "1: fadd.d ft0, ft1, ft2\n"
                     ".option pop" : "=&r"(insn) :: "ft0");
        CHECK_EQ(trap_count, 1);
        CHECK_EQ(trap_cause, EXC_ILLEGAL);
        CHECK_EQ(trap_tval, insn);
        trap_count = 0;
        uint64_t r = 0;
        asm volatile("frflags %0" : "+r"(r));
        CHECK_EQ(trap_count, 1);
        CHECK_EQ(trap_cause, EXC_ILLEGAL);
        csr_set(mstatus, 1ul << 13);                 /* Initial */
        m_trap_hook = 0;
    }
    return 0;
}
