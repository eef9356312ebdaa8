/* jit_fp_emit.c — the translator's F and D instructions (the rest is jit_translate.c).
 *
 * Loads and stores go through jit_translate.c's TLB fast path with the guard below; moves
 * between x and f registers and double sign injection are inline; so are double add, sub, mul,
 * div, sqrt, (host FMA3) the FMA family, compares and conversions between doubles and 32/64-bit
 * signed integers in the rounding modes the host has an instruction for, which run the very host
 * instruction fpu.c runs, so results and flags are the interpreter's by construction; every other
 * FP instruction calls its helper (jit_fp.c).
 *
 * Flags: inline instructions run with MXCSR = jit_mxcsr (the host's control bits, RNE, no
 * flags), loaded once before the first of a run of them, and leave their flags in it; the
 * translator moves what accumulated to fflags (rv64_jt_emit_fflags) before anything that calls
 * C or leaves the block (jit_translate.c: emit_insn, emit_cold), since C code may change
 * MXCSR's flags. So flags cost one MXCSR read per run of FP instructions, not one per
 * instruction (x86_buf.fp_pending tracks where the code being emitted stands). mstatus.FS is
 * set Dirty once per such run too (x86_buf.fs_dirty).
 * Conventions of the emitted code: jit_translate.c's (rbx = the hart, [rsp] a scratch slot in a
 * block's body, rax/rcx/rdx/rsi/rdi scratch). */
#include "cpu/rv64/fpu.h"
#include "cpu/rv64/jit_translate.h"
#include "cpu/rv64/ops.h"

_Static_assert(sizeof(((struct rv64_hart *)0)->frm) == 4, "frm is compared as a dword");

/* mstatus.FS = Dirty (and SD), as exec.c's FP_DIRTY, unless this run of code did it already
 * (nothing but the interpreter's handlers, which the translator does not run inline, clears
 * it); clobbers rax */
void rv64_jt_fs_dirty(struct x86_buf *b)
{
    if (b->fs_dirty)
        return;
    x_mov_imm64(b, RAX, MSTATUS_FS_DIRTY | MSTATUS_SD);
    x_op_mem(b, 1, 0x09, RAX, RBX, H_MSTATUS); /* or [rbx+mstatus], rax */
    b->fs_dirty = 1;
}

void rv64_jt_emit_fflags(struct x86_buf *b)
{
    x_op0f_mem(b, 0, 0xae, 3, RSP, 0);                   /* stmxcsr [rsp] */
    x_op0f_mem(b, 0, 0xb6, RAX, RSP, 0);                 /* movzx eax, byte [rsp] */
    x_alu_ri(b, 0, ALU_AND, RAX, 0x3d);                  /* the flags but DE (no RISC-V flag) */
    x_mov_imm64(b, RCX, (uint64_t)(uintptr_t)rv64_jit_mxcsr_fflags);
    x_byte(b, 0x0f); x_byte(b, 0xb6); x_byte(b, 0x04); x_byte(b, 0x01); /* movzx eax, byte [rcx+rax] */
    x_test32(b, RAX, RAX);
    uint8_t *none = x_jcc_fwd(b, CC_E);
    x_op_mem(b, 0, 0x09, RAX, RBX, H_FFLAGS);            /* or [rbx+fflags], eax */
    x_mov_imm64(b, RCX, MSTATUS_FS_DIRTY | MSTATUS_SD);  /* raising a flag dirties the state */
    x_op_mem(b, 1, 0x09, RCX, RBX, H_MSTATUS);           /* or [rbx+mstatus], rcx */
    x_patch(b, none);
}

void rv64_jt_emit_mxcsr_clear(struct x86_buf *b)
{
    x_op0f_mem(b, 0, 0xae, 2, RBX, H_JIT_MXCSR);         /* ldmxcsr [rbx+jit_mxcsr] */
}

/* before an inline instruction that reads MXCSR's rounding or raises flags */
static void fp_begin(struct x86_buf *b)
{
    if (b->fp_pending)
        return;
    rv64_jt_emit_mxcsr_clear(b);
    b->fp_pending = 1;
}

/* the helper's call from inside an inline instruction (a case the host's instruction gets
 * wrong), with pending flags moved to fflags first and MXCSR cleared again afterwards, so the
 * code after it stands where the inline path does */
static void call_helper_inline(struct x86_buf *b, const struct rv64_insn *in, unsigned rm,
                               const struct rv64_jit_fp *f)
{
    rv64_jt_emit_fflags(b);
    x_mov_rr(b, RDI, RBX);
    x_mov_imm32(b, RSI, (uint32_t)in->rd | (uint32_t)in->rs1 << 8 | (uint32_t)in->rs2 << 16 |
                            (uint32_t)in->rs3 << 24);
    x_mov_imm32(b, RDX, rm);
    rv64_jt_call_c(b, (const void *)f->fn);
    rv64_jt_emit_mxcsr_clear(b);
}

/* The checks exec.c makes before an FP instruction (FP_ON, and RM() for a dynamic rounding
 * mode): FS=Off, or frm > 4 when rm is dynamic (frm: FRM_VALID), go out of line to the
 * interpreter's handler, which raises the illegal instruction. Inline SSE code is only right
 * for round-to-nearest-even: with frm: FRM_RNE, any other frm takes that path too (the
 * interpreter then does the instruction, or traps). Returns the cold entry; the caller sets its
 * `back` to the instruction's end once emitted (rv64_jt_cold_back). (FS cannot change inside a block without leaving
 * it, but the test is one fused compare and keeps each translation self-contained.) */
struct cold *rv64_jt_fp_guard(struct x86_buf *b, struct chain_slots *cs,
                              const struct rv64_insn *in, unsigned idx, int frm)
{
    x_op_mem(b, 0, 0xf7, 0, RBX, H_MSTATUS); /* test dword [rbx+mstatus], FS */
    x_u32(b, (uint32_t)MSTATUS_FS);
    uint8_t *off = x_jcc_fwd(b, CC_E);
    struct cold *c = rv64_jt_add_cold(b, cs, COLD_INTERP, in, idx, off, NULL);
    if (frm == FRM_VALID) {
        x_alu_mi(b, 0, ALU_CMP, RBX, H_FRM, 5);
        c->site2 = x_jcc_fwd(b, CC_AE);
    } else if (frm == FRM_RNE) {
        x_alu_mi(b, 0, ALU_CMP, RBX, H_FRM, FPU_RNE);
        c->site2 = x_jcc_fwd(b, CC_NE);
    }
    return c;
}

/* f[rd] = f[rs1] with the sign of f[rs2] (op 0), its negation (1) or their xor (2): doubles
 * only; a single's operands must be checked for NaN boxing (jit_fp.c) */
static void emit_fsgnj_d(struct x86_buf *b, const struct rv64_insn *in, int how)
{
    x_mov_load(b, RAX, RBX, FO(in->rs1));
    x_mov_load(b, RCX, RBX, FO(in->rs2));
    if (how == 1) {
        x_byte(b, 0x48); x_byte(b, 0xf7); x_byte(b, 0xd1); /* not rcx */
    }
    x_mov_imm64(b, RDX, 0x8000000000000000ull);
    x_alu_rr(b, 1, ALU_AND, RCX, RDX);
    if (how != 2) {
        x_byte(b, 0x48); x_byte(b, 0xf7); x_byte(b, 0xd2); /* not rdx */
        x_alu_rr(b, 1, ALU_AND, RAX, RDX);
        x_alu_rr(b, 1, ALU_OR, RAX, RCX);
    } else {
        x_alu_rr(b, 1, ALU_XOR, RAX, RCX);
    }
    x_mov_store(b, RBX, FO(in->rd), RAX);
}

/* SSE2 opcode (after F2 0F) of a double-precision operation done inline, or 0 */
static uint8_t sse_op_d(unsigned op)
{
    switch (op) {
    case OP_FADD_D: return 0x58;
    case OP_FMUL_D: return 0x59;
    case OP_FSUB_D: return 0x5c;
    case OP_FDIV_D: return 0x5e;
    case OP_FSQRT_D: return 0x51;
    default: return 0;
    }
}

/* f[rd] = f[rs1] op f[rs2] (or sqrt f[rs1]) in round-to-nearest-even, on the host's SSE2 unit
 * exactly as fpu.c does it (the same instruction under the same MXCSR control bits), so results
 * and flags are the interpreter's by construction; a NaN result is replaced by the canonical
 * NaN (ucomisd of a quiet NaN raises nothing). */
static void emit_sse_d(struct x86_buf *b, const struct rv64_insn *in, uint8_t op)
{
    fp_begin(b);
    x_byte(b, 0xf2);
    if (op == 0x51) {
        x_op0f_mem(b, 0, 0x51, 0, RBX, FO(in->rs1));     /* sqrtsd xmm0, [f rs1] */
    } else {
        x_op0f_mem(b, 0, 0x10, 0, RBX, FO(in->rs1));     /* movsd xmm0, [f rs1] */
        x_byte(b, 0xf2);
        x_op0f_mem(b, 0, op, 0, RBX, FO(in->rs2));       /* op xmm0, [f rs2] */
    }
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x11, 0, RBX, FO(in->rd));          /* movsd [f rd], xmm0 */
    x_byte(b, 0x66); x_byte(b, 0x0f); x_byte(b, 0x2e); x_byte(b, 0xc0); /* ucomisd xmm0, xmm0 */
    uint8_t *num = x_jcc_fwd(b, CC_NP);
    x_mov_imm64(b, RAX, FPU_CANON_D);
    x_mov_store(b, RBX, FO(in->rd), RAX);
    x_patch(b, num);
    rv64_jt_fs_dirty(b);
}

/* The VEX opcode (0F38 map, 213 form: xmm0 = xmm1 * xmm0 + m64) of a double fused multiply-add
 * done inline, or 0. Only where the host has FMA3: fpu.c's fma() then runs that very instruction
 * (glibc picks it), so inline and interpreted results and flags agree. */
static uint8_t fma_op_d(unsigned op)
{
    static int host_fma = -1;
    if (host_fma < 0)
        host_fma = __builtin_cpu_supports("fma") != 0;
    if (!host_fma)
        return 0;
    switch (op) {
    case OP_FMADD_D: return 0xa9;  /* vfmadd213sd:   a*b + c */
    case OP_FMSUB_D: return 0xab;  /* vfmsub213sd:   a*b - c */
    case OP_FNMSUB_D: return 0xad; /* vfnmadd213sd: -(a*b) + c */
    case OP_FNMADD_D: return 0xaf; /* vfnmsub213sd: -(a*b) - c */
    default: return 0;
    }
}

/* f[rd] = ±f[rs1] * f[rs2] ± f[rs3] in RNE, inline like emit_sse_d. A NaN result goes to the
 * helper instead (it recomputes from the unchanged operands), since RISC-V raises NV for
 * ∞ × 0 even with a quiet NaN addend, which fpu.c adds by hand (the host's flags, a subset of
 * those, are moved to fflags first); a result that is not a NaN never involves ∞ × 0, so the
 * host's flags are the whole story there. */
static void emit_fma_d(struct x86_buf *b, const struct rv64_insn *in, uint8_t op,
                       const struct rv64_jit_fp *f)
{
    fp_begin(b);
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x10, 0, RBX, FO(in->rs1));         /* movsd xmm0, [f rs1] */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x10, 1, RBX, FO(in->rs2));         /* movsd xmm1, [f rs2] */
    x_byte(b, 0xc4); x_byte(b, 0xe2); x_byte(b, 0xf1);   /* VEX.LIG.66.0F38.W1, vvvv = xmm1 */
    x_byte(b, op);
    x_mem(b, 0, RBX, FO(in->rs3));                       /* op xmm0, xmm1, [f rs3] */
    x_byte(b, 0x66); x_byte(b, 0x0f); x_byte(b, 0x2e); x_byte(b, 0xc0); /* ucomisd xmm0, xmm0 */
    uint8_t *nan = x_jcc_fwd(b, CC_P);
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x11, 0, RBX, FO(in->rd));          /* movsd [f rd], xmm0 */
    rv64_jt_fs_dirty(b);
    uint8_t *done = x_jmp_fwd(b);
    x_patch(b, nan);
    call_helper_inline(b, in, FPU_RNE, f);               /* it sets FS Dirty too */
    x_patch(b, done);
}

/* x[rd] = f[rs1] == f[rs2], <, <= (doubles): ucomisd raises invalid for a signaling NaN only,
 * as feq does; comisd for any NaN, as flt and fle do. Unordered sets ZF, PF and CF. */
static void emit_cmp_d(struct x86_buf *b, const struct rv64_insn *in)
{
    fp_begin(b);
    int eq = in->op == OP_FEQ_D;
    /* feq compares rs1 with rs2; flt and fle compare rs2 with rs1 ("above": false when unordered) */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x10, 0, RBX, FO(eq ? in->rs1 : in->rs2)); /* movsd xmm0, [f a] */
    x_byte(b, 0x66);
    x_op0f_mem(b, 0, eq ? 0x2e : 0x2f, 0, RBX, FO(eq ? in->rs2 : in->rs1)); /* (u)comisd xmm0, [f b] */
    if (eq) {
        x_setcc(b, CC_E, RAX);
        x_setcc(b, CC_NP, RCX);
        x_alu_rr(b, 0, ALU_AND, RAX, RCX);
    } else {
        x_setcc(b, in->op == OP_FLT_D ? CC_A : CC_AE, RAX);
    }
    rv64_jt_st(b, in->rd, RAX);
}

/* f[rd] = (double)x[rs1]: a 32-bit integer (signed or not) converts exactly, so with no rounding
 * and no flags whatever the mode; a 64-bit one (signed) rounds, in RNE here */
static void emit_cvt_d_int(struct x86_buf *b, const struct rv64_insn *in)
{
    rv64_jt_ld(b, RAX, in->rs1);
    if (in->op == OP_FCVT_D_L)
        fp_begin(b);
    else if (in->op == OP_FCVT_D_WU) {
        x_byte(b, 0x89); x_byte(b, 0xc0);                /* mov eax, eax: zero-extended */
    }
    x_byte(b, 0xf2);
    x_rex(b, in->op != OP_FCVT_D_W, 0, RAX, 0);
    x_byte(b, 0x0f); x_byte(b, 0x2a); x_modrr(b, 0, RAX); /* cvtsi2sd xmm0, eax / rax */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x11, 0, RBX, FO(in->rd));          /* movsd [f rd], xmm0 */
    rv64_jt_fs_dirty(b);
}

/* x[rd] = f[rs1] converted to a signed 32/64-bit integer, truncating (rtz: cvttsd2si) or in
 * RNE (cvtsd2si). The host's answer for NaN and out-of-range inputs is the "integer indefinite"
 * (the most negative value), where RISC-V saturates: that value goes to the helper, which also
 * gives the right answer when it was the true result. */
static void emit_cvt_int_d(struct x86_buf *b, const struct rv64_insn *in, unsigned rm,
                           const struct rv64_jit_fp *f)
{
    int w64 = in->op == OP_FCVT_L_D;
    fp_begin(b);
    x_byte(b, 0xf2);
    x_op0f_mem(b, w64, rm == FPU_RTZ ? 0x2c : 0x2d, RAX, RBX, FO(in->rs1)); /* cvt(t)sd2si */
    if (w64) {
        x_mov_imm64(b, RCX, 0x8000000000000000ull);
        x_alu_rr(b, 1, ALU_CMP, RAX, RCX);
    } else {
        x_alu_ri(b, 0, ALU_CMP, RAX, INT32_MIN);
    }
    uint8_t *odd = x_jcc_fwd(b, CC_E);
    if (!w64)
        x_movsxd(b, RAX, RAX);
    uint8_t *done = x_jmp_fwd(b);
    x_patch(b, odd);
    call_helper_inline(b, in, rm, f);
    x_patch(b, done);
    rv64_jt_st(b, in->rd, RAX);
}

/* Which way an FP instruction (not a load or store) is emitted: inline (and with which kind of
 * code), or as a helper call. rm is its static rounding mode; 7 (dynamic) is inline only where
 * a guard that frm is RNE makes it RNE. */
enum fp_way { FP_HELPER, FP_MOVE, FP_SSE, FP_FMA, FP_CMP, FP_CVT_D_INT, FP_CVT_INT_D };
static enum fp_way fp_way(const struct rv64_insn *in, unsigned rm)
{
    int rne = rm == FPU_RNE || rm == 7;
    switch (in->op) {
    case OP_FMV_X_D: case OP_FMV_X_W: case OP_FMV_D_X: case OP_FMV_W_X:
    case OP_FSGNJ_D: case OP_FSGNJN_D: case OP_FSGNJX_D:
        return FP_MOVE;
    case OP_FEQ_D: case OP_FLT_D: case OP_FLE_D:
        return FP_CMP;
    case OP_FCVT_D_W: case OP_FCVT_D_WU:
        return FP_CVT_D_INT;
    case OP_FCVT_D_L:
        return rne ? FP_CVT_D_INT : FP_HELPER;
    case OP_FCVT_W_D: case OP_FCVT_L_D:
        return rne || rm == FPU_RTZ ? FP_CVT_INT_D : FP_HELPER;
    default:
        if (sse_op_d(in->op))
            return rne ? FP_SSE : FP_HELPER;
        if (fma_op_d(in->op))
            return rne ? FP_FMA : FP_HELPER;
        return FP_HELPER;
    }
}

static unsigned static_rm(const struct rv64_insn *in)
{
    const struct rv64_jit_fp *f = rv64_jit_fp_op(in->op);
    return f && (f->kind & JFP_RM) ? in->rm : 0;
}

int rv64_jt_fp_inline(const struct rv64_insn *in)
{
    unsigned rm = static_rm(in);
    return rm != 5 && rm != 6 && fp_way(in, rm) != FP_HELPER;
}

/* An F/D instruction other than a load or store: inline (fp_way) or a direct call to its helper
 * (jit_fp.c), after the FS and rounding-mode checks. */
void rv64_jt_emit_fp(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                     unsigned idx)
{
    const struct rv64_jit_fp *f = rv64_jit_fp_op(in->op);
    unsigned rm = static_rm(in);
    if (rm == 5 || rm == 6) { /* reserved: always an illegal instruction */
        rv64_jt_interp(b, in, idx);
        return;
    }
    enum fp_way way = fp_way(in, rm);
    /* a dynamic rm: inline arithmetic needs frm = RNE; anything else needs frm valid */
    int rounds = way == FP_SSE || way == FP_FMA || way == FP_CVT_INT_D ||
                 (way == FP_CVT_D_INT && in->op == OP_FCVT_D_L);
    struct cold *guard = rv64_jt_fp_guard(b, cs, in, idx,
                                          rm != 7 ? FRM_ANY : rounds ? FRM_RNE : FRM_VALID);
    if (rm == 7 && rounds)
        rm = FPU_RNE;
    switch (way) {
    case FP_SSE: emit_sse_d(b, in, sse_op_d(in->op)); break;
    case FP_FMA: emit_fma_d(b, in, fma_op_d(in->op), f); break;
    case FP_CMP: emit_cmp_d(b, in); break;
    case FP_CVT_D_INT: emit_cvt_d_int(b, in); break;
    case FP_CVT_INT_D: emit_cvt_int_d(b, in, rm, f); break;
    case FP_MOVE:
        switch (in->op) {
        case OP_FMV_X_D:
            x_mov_load(b, RAX, RBX, FO(in->rs1));
            rv64_jt_st(b, in->rd, RAX);
            break;
        case OP_FMV_X_W:
            x_op_mem(b, 1, 0x63, RAX, RBX, FO(in->rs1)); /* movsxd rax, dword */
            rv64_jt_st(b, in->rd, RAX);
            break;
        case OP_FMV_D_X:
            rv64_jt_ld(b, RAX, in->rs1);
            x_mov_store(b, RBX, FO(in->rd), RAX);
            rv64_jt_fs_dirty(b);
            break;
        case OP_FMV_W_X:
            rv64_jt_ld(b, RAX, in->rs1);
            x_byte(b, 0x89); x_byte(b, 0xc0); /* mov eax, eax: the low 32 bits */
            x_mov_imm64(b, RCX, 0xffffffff00000000ull);
            x_alu_rr(b, 1, ALU_OR, RAX, RCX);
            x_mov_store(b, RBX, FO(in->rd), RAX);
            rv64_jt_fs_dirty(b);
            break;
        case OP_FSGNJ_D: emit_fsgnj_d(b, in, 0); rv64_jt_fs_dirty(b); break;
        case OP_FSGNJN_D: emit_fsgnj_d(b, in, 1); rv64_jt_fs_dirty(b); break;
        default: emit_fsgnj_d(b, in, 2); rv64_jt_fs_dirty(b); break;
        }
        break;
    case FP_HELPER:
        if (f->kind & JFP_XRS)
            rv64_jt_ld(b, RCX, in->rs1);
        x_mov_rr(b, RDI, RBX);
        x_mov_imm32(b, RSI, (uint32_t)in->rd | (uint32_t)in->rs1 << 8 |
                                (uint32_t)in->rs2 << 16 | (uint32_t)in->rs3 << 24);
        if (rm == 7)
            x_op_mem(b, 0, 0x8b, RDX, RBX, H_FRM); /* mov edx, [rbx+frm] (checked: 0..4) */
        else
            x_mov_imm32(b, RDX, rm);
        rv64_jt_call_c(b, (const void *)f->fn);
        if (f->kind & JFP_XRD)
            rv64_jt_st(b, in->rd, RAX);
        break;
    }
    rv64_jt_cold_back(b, guard);
}
