/* fp.h — helpers shared by the F/D tests (fp.c, fpcvt.c): each macro moves bit patterns into
 * FP registers, runs one instruction (with an optional static rounding mode such as ", rtz") and
 * returns the result's bits, so the compiler folds nothing. */
#ifndef KILN_BAREMETAL_FP_H
#define KILN_BAREMETAL_FP_H
#include "lib.h"

#define RNE 0
#define RTZ 1
#define RDN 2
#define RUP 3
#define RMM 4

/* two-operand double / single op, result as bits; RM is "" or ", rtz" etc. */
#define F2D(insn, a, b, rm) ({ uint64_t r_; asm volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n " insn " ft2, ft0, ft1" rm "\n fmv.x.d %0, ft2" \
    : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b)) : "ft0", "ft1", "ft2"); r_; })
#define F2S(insn, a, b, rm) ({ uint64_t r_; asm volatile( \
    "fmv.w.x ft0, %1\n fmv.w.x ft1, %2\n " insn " ft2, ft0, ft1" rm "\n fmv.x.w %0, ft2" \
    : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b)) : "ft0", "ft1", "ft2"); (uint32_t)r_; })
#define F3D(insn, a, b, c) ({ uint64_t r_; asm volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n fmv.d.x ft2, %3\n " insn " ft3, ft0, ft1, ft2\n" \
    " fmv.x.d %0, ft3" : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b)), "r"((uint64_t)(c)) \
    : "ft0", "ft1", "ft2", "ft3"); r_; })
#define F1D(insn, a, rm) ({ uint64_t r_; asm volatile( \
    "fmv.d.x ft0, %1\n " insn " ft1, ft0" rm "\n fmv.x.d %0, ft1" \
    : "=r"(r_) : "r"((uint64_t)(a)) : "ft0", "ft1"); r_; })
/* compare: integer result */
#define FCMPD(insn, a, b) ({ uint64_t r_; asm volatile( \
    "fmv.d.x ft0, %1\n fmv.d.x ft1, %2\n " insn " %0, ft0, ft1" \
    : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b)) : "ft0", "ft1"); r_; })
/* double -> integer, single -> integer, integer -> double, integer -> single */
#define D2I(insn, a, rm) ({ uint64_t r_; asm volatile("fmv.d.x ft0, %1\n " insn " %0, ft0" rm \
    : "=r"(r_) : "r"((uint64_t)(a)) : "ft0"); r_; })
#define S2I(insn, a, rm) ({ uint64_t r_; asm volatile("fmv.w.x ft0, %1\n " insn " %0, ft0" rm \
    : "=r"(r_) : "r"((uint64_t)(a)) : "ft0"); r_; })
#define I2D(insn, a, rm) ({ uint64_t r_; asm volatile(insn " ft0, %1" rm "\n fmv.x.d %0, ft0" \
    : "=r"(r_) : "r"((uint64_t)(a)) : "ft0"); r_; })
#define I2S(insn, a, rm) ({ uint64_t r_; asm volatile(insn " ft0, %1" rm "\n fmv.x.w %0, ft0" \
    : "=r"(r_) : "r"((uint64_t)(a)) : "ft0"); (uint32_t)r_; })

#define NX 0x01
#define UF 0x02
#define OF 0x04
#define DZ 0x08
#define NV 0x10

static inline void clear_flags(void) { asm volatile("csrw fflags, zero"); }
static inline uint64_t flags(void) { uint64_t f; asm volatile("frflags %0" : "=r"(f)); return f; }
static inline void set_frm(uint64_t rm) { asm volatile("fsrm %0" :: "r"(rm)); }

#define D_ONE   0x3ff0000000000000ul
#define D_TWO   0x4000000000000000ul
#define D_THREE 0x4008000000000000ul
#define D_M1    0xbff0000000000000ul
#define D_P0    0x0000000000000000ul
#define D_M0    0x8000000000000000ul
#define D_INF   0x7ff0000000000000ul
#define D_MINF  0xfff0000000000000ul
#define D_QNAN  0x7ff8000000000000ul
#define D_SNAN  0x7ff0000000000001ul
#define D_MAX   0x7feffffffffffffful
#define D_MIN   0x0010000000000000ul
#define S_ONE   0x3f800000u
#define S_QNAN  0x7fc00000u
#define S_SNAN  0x7f800001u

static volatile uint64_t trap_cause, trap_tval, trap_count;

static inline int skip_trap(struct trapframe *tf)
{
    if (tf->cause & CAUSE_INTR)
        return 0;
    trap_cause = tf->cause;
    trap_tval = tf->tval;
    trap_count++;
    tf->epc += 4;
    return 1;
}

#endif
