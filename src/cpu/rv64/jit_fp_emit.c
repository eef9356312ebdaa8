/* jit_fp_emit.c — the translator's F and D instructions (the rest is jit_translate.c).
 *
 * Loads and stores go through jit_translate.c's TLB fast path with the guard below; moves
 * between x and f registers and double sign injection are inline; double add, sub, mul, div,
 * sqrt and (host FMA3) the FMA family in round-to-nearest-even are inline SSE2/FMA3 that run
 * the very host instruction fpu.c runs under the same MXCSR, so results and flags are the
 * interpreter's by construction; every other FP instruction calls its helper (jit_fp.c).
 * Conventions of the emitted code: jit_translate.c's (rbx = the hart, [rsp] a scratch slot in a
 * block's body, rax/rcx/rdx/rsi/rdi scratch). */
#include "cpu/rv64/fpu.h"
#include "cpu/rv64/jit_translate.h"
#include "cpu/rv64/ops.h"

_Static_assert(sizeof(((struct rv64_hart *)0)->frm) == 4, "frm is compared as a dword");

/* mstatus.FS = Dirty (and SD), as exec.c's FP_DIRTY; clobbers rax */
void rv64_jt_fs_dirty(struct x86_buf *b)
{
    x_mov_imm64(b, RAX, MSTATUS_FS_DIRTY | MSTATUS_SD);
    x_op_mem(b, 1, 0x09, RAX, RBX, H_MSTATUS); /* or [rbx+mstatus], rax */
}

/* The checks exec.c makes before an FP instruction (FP_ON, and RM() for a dynamic rounding
 * mode): FS=Off, or frm > 4 when rm is dynamic (frm: FRM_VALID), go out of line to the
 * interpreter's handler, which raises the illegal instruction. Inline SSE code is only right
 * for round-to-nearest-even: with frm: FRM_RNE, any other frm takes that path too (the
 * interpreter then does the instruction, or traps). Returns the cold entry; the caller sets its
 * `back` to the instruction's end once emitted. (FS cannot change inside a block without leaving
 * it, but the test is one fused compare and keeps each translation self-contained.) */
struct cold *rv64_jt_fp_guard(struct x86_buf *b, struct chain_slots *cs,
                              const struct rv64_insn *in, unsigned idx, int frm)
{
    x_op_mem(b, 0, 0xf7, 0, RBX, H_MSTATUS); /* test dword [rbx+mstatus], FS */
    x_u32(b, (uint32_t)MSTATUS_FS);
    uint8_t *off = x_jcc_fwd(b, CC_E);
    struct cold *c = &cs->cold[cs->ncold];
    rv64_jt_add_cold(cs, COLD_INTERP, in, idx, off, NULL);
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
 * exactly as fpu.c does it (the same instruction under the same MXCSR: the host's own
 * control bits with rounding RNE and the flags cleared), so results and flags are the
 * interpreter's by construction: flags from MXCSR through a table (rv64_jit_mxcsr_fflags), a
 * NaN result replaced by the canonical NaN. [rsp] is the body's scratch slot (prologue). The
 * MXCSR flags are left set afterwards: host code never reads them (fpu.c saves and clears). */
static void emit_sse_d(struct x86_buf *b, const struct rv64_insn *in, uint8_t op)
{
    x_op0f_mem(b, 0, 0xae, 3, RSP, 0);                   /* stmxcsr [rsp] */
    x_alu_mi(b, 0, ALU_AND, RSP, 0, ~0x603f);            /* RNE, no flags */
    x_op0f_mem(b, 0, 0xae, 2, RSP, 0);                   /* ldmxcsr [rsp] */
    x_byte(b, 0xf2);
    if (op == 0x51) {
        x_op0f_mem(b, 0, 0x51, 0, RBX, FO(in->rs1));     /* sqrtsd xmm0, [f rs1] */
    } else {
        x_op0f_mem(b, 0, 0x10, 0, RBX, FO(in->rs1));     /* movsd xmm0, [f rs1] */
        x_byte(b, 0xf2);
        x_op0f_mem(b, 0, op, 0, RBX, FO(in->rs2));       /* op xmm0, [f rs2] */
    }
    x_op0f_mem(b, 0, 0xae, 3, RSP, 0);                   /* stmxcsr [rsp] */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x11, 0, RBX, FO(in->rd));          /* movsd [f rd], xmm0 */
    x_byte(b, 0x66); x_byte(b, 0x0f); x_byte(b, 0x2e); x_byte(b, 0xc0); /* ucomisd xmm0, xmm0 */
    uint8_t *num = x_jcc_fwd(b, (enum x86_cc)0xb);       /* jnp: not a NaN */
    x_mov_imm64(b, RAX, FPU_CANON_D);
    x_mov_store(b, RBX, FO(in->rd), RAX);
    x_patch(b, num);
    x_op0f_mem(b, 0, 0xb6, RAX, RSP, 0);                 /* movzx eax, byte [rsp] */
    x_alu_ri(b, 0, ALU_AND, RAX, 0x3d);                  /* the flags but DE (no RISC-V flag) */
    x_mov_imm64(b, RCX, (uint64_t)(uintptr_t)rv64_jit_mxcsr_fflags);
    x_byte(b, 0x0f); x_byte(b, 0xb6); x_byte(b, 0x04); x_byte(b, 0x01); /* movzx eax, byte [rcx+rax] */
    x_op_mem(b, 0, 0x09, RAX, RBX, H_FFLAGS);            /* or [rbx+fflags], eax */
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
 * ∞ × 0 even with a quiet NaN addend, which fpu.c adds by hand; a result that is not a NaN
 * never involves ∞ × 0, so the host's flags are the whole story there. */
static void emit_fma_d(struct x86_buf *b, const struct rv64_insn *in, uint8_t op,
                       const struct rv64_jit_fp *f)
{
    x_op0f_mem(b, 0, 0xae, 3, RSP, 0);                   /* stmxcsr [rsp] */
    x_alu_mi(b, 0, ALU_AND, RSP, 0, ~0x603f);            /* RNE, no flags */
    x_op0f_mem(b, 0, 0xae, 2, RSP, 0);                   /* ldmxcsr [rsp] */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x10, 0, RBX, FO(in->rs1));         /* movsd xmm0, [f rs1] */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x10, 1, RBX, FO(in->rs2));         /* movsd xmm1, [f rs2] */
    x_byte(b, 0xc4); x_byte(b, 0xe2); x_byte(b, 0xf1);   /* VEX.LIG.66.0F38.W1, vvvv = xmm1 */
    x_byte(b, op);
    x_mem(b, 0, RBX, FO(in->rs3));                       /* op xmm0, xmm1, [f rs3] */
    x_op0f_mem(b, 0, 0xae, 3, RSP, 0);                   /* stmxcsr [rsp] */
    x_byte(b, 0x66); x_byte(b, 0x0f); x_byte(b, 0x2e); x_byte(b, 0xc0); /* ucomisd xmm0, xmm0 */
    uint8_t *nan = x_jcc_fwd(b, (enum x86_cc)0xa);       /* jp */
    x_byte(b, 0xf2);
    x_op0f_mem(b, 0, 0x11, 0, RBX, FO(in->rd));          /* movsd [f rd], xmm0 */
    x_op0f_mem(b, 0, 0xb6, RAX, RSP, 0);                 /* movzx eax, byte [rsp] */
    x_alu_ri(b, 0, ALU_AND, RAX, 0x3d);
    x_mov_imm64(b, RCX, (uint64_t)(uintptr_t)rv64_jit_mxcsr_fflags);
    x_byte(b, 0x0f); x_byte(b, 0xb6); x_byte(b, 0x04); x_byte(b, 0x01); /* movzx eax, byte [rcx+rax] */
    x_op_mem(b, 0, 0x09, RAX, RBX, H_FFLAGS);            /* or [rbx+fflags], eax */
    rv64_jt_fs_dirty(b);
    uint8_t *done = x_jmp_fwd(b);
    x_patch(b, nan);
    x_mov_rr(b, RDI, RBX);
    x_mov_imm32(b, RSI, (uint32_t)in->rd | (uint32_t)in->rs1 << 8 | (uint32_t)in->rs2 << 16 |
                            (uint32_t)in->rs3 << 24);
    x_mov_imm32(b, RDX, FPU_RNE);
    rv64_jt_call_c(b, (const void *)f->fn);
    x_patch(b, done);
}

/* An F/D instruction other than a load or store: inline (moves, double sign injection, double
 * add/sub/mul/div/sqrt/fma in RNE) or a direct call to its helper (jit_fp.c), after the FS and
 * rounding-mode checks. */
void rv64_jt_emit_fp(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                     unsigned idx)
{
    const struct rv64_jit_fp *f = rv64_jit_fp_op(in->op);
    int rm = f && (f->kind & JFP_RM) ? in->rm : 0;
    if (rm == 5 || rm == 6) { /* reserved: always an illegal instruction */
        rv64_jt_interp(b, in, idx);
        return;
    }
    uint8_t sse = sse_op_d(in->op), fma = sse ? 0 : fma_op_d(in->op);
    if ((sse || fma) && (rm == FPU_RNE || rm == 7)) {
        struct cold *guard = rv64_jt_fp_guard(b, cs, in, idx, rm == 7 ? FRM_RNE : FRM_ANY);
        if (sse)
            emit_sse_d(b, in, sse);
        else
            emit_fma_d(b, in, fma, f);
        guard->back = b->p;
        return;
    }
    struct cold *guard = rv64_jt_fp_guard(b, cs, in, idx, rm == 7 ? FRM_VALID : FRM_ANY);
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
    case OP_FSGNJX_D: emit_fsgnj_d(b, in, 2); rv64_jt_fs_dirty(b); break;
    default:
        if (f->kind & JFP_XRS)
            rv64_jt_ld(b, RCX, in->rs1);
        x_mov_rr(b, RDI, RBX);
        x_mov_imm32(b, RSI, (uint32_t)in->rd | (uint32_t)in->rs1 << 8 |
                                (uint32_t)in->rs2 << 16 | (uint32_t)in->rs3 << 24);
        if (rm == 7)
            x_op_mem(b, 0, 0x8b, RDX, RBX, H_FRM); /* mov edx, [rbx+frm] (checked: 0..4) */
        else
            x_mov_imm32(b, RDX, (uint32_t)rm);
        rv64_jt_call_c(b, (const void *)f->fn);
        if (f->kind & JFP_XRD)
            rv64_jt_st(b, in->rd, RAX);
        break;
    }
    guard->back = b->p;
}
