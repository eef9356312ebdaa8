/* jit_emit.h — a tiny x86-64 machine-code emitter: just the instruction forms the rv64 translator
 * uses, over a byte buffer. Memory operands are always [base + disp8/disp32]; the translator
 * never needs an index register, so no general SIB addressing beyond what rsp/r12 bases require.
 *
 * The buffer is the code cache itself (the read-write view); jit_translate.c checks the room
 * before each instruction, so emitting never fails halfway through an instruction. */
#ifndef KILN_CPU_RV64_JIT_EMIT_H
#define KILN_CPU_RV64_JIT_EMIT_H
#include <stdint.h>
#include <string.h>

enum x86_reg { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* condition codes (the low nibble of Jcc / SETcc) */
enum x86_cc {
    CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_A = 7, CC_P = 0xa, CC_NP = 0xb, CC_L = 0xc, CC_GE = 0xd,
    CC_LE = 0xe
};

/* /digit extensions of the 0x81 (ALU r/m, imm32) group and the shift group */
enum x86_alu { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };
enum x86_shift { SH_SHL = 4, SH_SHR = 5, SH_SAR = 7 };

struct x86_buf {
    uint8_t *p, *start, *end;
    void *user; /* the translator's context (its shared stubs) */
    /* the guest register whose value rax holds after the last instruction emitted, and after
     * the one before it (jit_translate.c: load_rax), or -1 */
    int rax_is, rax_prev;
    /* where the code being emitted stands (jit_fp_emit.c): MXCSR holds the flags of inline FP
     * instructions not yet moved to fflags (and nothing else); mstatus.FS is Dirty already */
    int fp_pending, fs_dirty;
    uint64_t blk; /* the block being translated (its exits say it was the last to run) */
};

static inline void x_byte(struct x86_buf *b, uint8_t v) { *b->p++ = v; }
static inline void x_u32(struct x86_buf *b, uint32_t v) { memcpy(b->p, &v, 4); b->p += 4; }
static inline void x_u64(struct x86_buf *b, uint64_t v) { memcpy(b->p, &v, 8); b->p += 8; }

/* REX prefix: w = 64-bit operand; reg/base extension bits; force = needed for byte access to
 * sil/dil (without a REX those encodings mean dh/bh) */
static inline void x_rex(struct x86_buf *b, int w, int reg, int base, int force)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((base & 8) ? 1 : 0));
    if (rex != 0x40 || force)
        x_byte(b, rex);
}

/* ModRM for [base + disp]: disp8 when it fits (most guest registers), else disp32 */
static inline void x_mem(struct x86_buf *b, int reg, int base, int32_t disp)
{
    int small = disp >= -128 && disp <= 127;
    x_byte(b, (uint8_t)((small ? 0x40 : 0x80) | ((reg & 7) << 3) | (base & 7)));
    if ((base & 7) == RSP)
        x_byte(b, 0x24); /* SIB: no index, base */
    if (small)
        x_byte(b, (uint8_t)(int8_t)disp);
    else
        x_u32(b, (uint32_t)disp);
}

/* ModRM for a register operand */
static inline void x_modrr(struct x86_buf *b, int reg, int rm)
{
    x_byte(b, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}

/* op reg, [base+disp] (or op [base+disp], reg): one-byte opcode */
static inline void x_op_mem(struct x86_buf *b, int w, uint8_t op, int reg, int base, int32_t disp)
{
    x_rex(b, w, reg, base, 0);
    x_byte(b, op);
    x_mem(b, reg, base, disp);
}

/* two-byte (0x0f-prefixed) opcode with a memory operand */
static inline void x_op0f_mem(struct x86_buf *b, int w, uint8_t op, int reg, int base, int32_t disp)
{
    x_rex(b, w, reg, base, 0);
    x_byte(b, 0x0f);
    x_byte(b, op);
    x_mem(b, reg, base, disp);
}

static inline void x_mov_load(struct x86_buf *b, int dst, int base, int32_t disp)
{
    x_op_mem(b, 1, 0x8b, dst, base, disp);
}

static inline void x_mov_store(struct x86_buf *b, int base, int32_t disp, int src)
{
    x_op_mem(b, 1, 0x89, src, base, disp);
}

/* mov qword [base+disp], sign-extended imm32 */
static inline void x_mov_store_imm(struct x86_buf *b, int base, int32_t disp, int32_t imm)
{
    x_op_mem(b, 1, 0xc7, 0, base, disp);
    x_u32(b, (uint32_t)imm);
}

/* lea dst, [base+disp] */
static inline void x_lea(struct x86_buf *b, int dst, int base, int32_t disp)
{
    x_op_mem(b, 1, 0x8d, dst, base, disp);
}

static inline void x_mov_rr(struct x86_buf *b, int dst, int src)
{
    x_rex(b, 1, src, dst, 0);
    x_byte(b, 0x89);
    x_modrr(b, src, dst);
}

static inline void x_mov_imm64(struct x86_buf *b, int dst, uint64_t imm)
{
    x_rex(b, 1, 0, dst, 0);
    x_byte(b, (uint8_t)(0xb8 | (dst & 7)));
    x_u64(b, imm);
}

static inline void x_mov_imm32(struct x86_buf *b, int dst, uint32_t imm) /* zero-extends */
{
    x_rex(b, 0, 0, dst, 0);
    x_byte(b, (uint8_t)(0xb8 | (dst & 7)));
    x_u32(b, imm);
}

/* ALU dst, src (add/or/and/sub/xor/cmp): opcode = ext*8 + 1, the "r/m, r" form */
static inline void x_alu_rr(struct x86_buf *b, int w, enum x86_alu ext, int dst, int src)
{
    x_rex(b, w, src, dst, 0);
    x_byte(b, (uint8_t)(ext * 8 + 1));
    x_modrr(b, src, dst);
}

/* ALU dst, sign-extended imm32 */
static inline void x_alu_ri(struct x86_buf *b, int w, enum x86_alu ext, int dst, int32_t imm)
{
    int small = imm >= -128 && imm <= 127;
    x_rex(b, w, 0, dst, 0);
    x_byte(b, small ? 0x83 : 0x81);
    x_modrr(b, ext, dst);
    if (small)
        x_byte(b, (uint8_t)(int8_t)imm);
    else
        x_u32(b, (uint32_t)imm);
}

/* ALU reg, [base+disp] (the "r, r/m" form: opcode ext*8 + 3) */
static inline void x_alu_rm(struct x86_buf *b, int w, enum x86_alu ext, int reg, int base, int32_t disp)
{
    x_op_mem(b, w, (uint8_t)(ext * 8 + 3), reg, base, disp);
}

/* ALU reg, [base + index + disp32] (64-bit; the "r, r/m" form, or opcode 0x8b for a mov) */
static inline void x_op_rm_idx(struct x86_buf *b, uint8_t op, int reg, int base, int index, int32_t disp)
{
    x_byte(b, (uint8_t)(0x48 | ((reg & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) | ((base & 8) ? 1 : 0)));
    x_byte(b, op);
    x_byte(b, (uint8_t)(0x84 | ((reg & 7) << 3)));          /* mod 10, rm 100: SIB, disp32 */
    x_byte(b, (uint8_t)(((index & 7) << 3) | (base & 7)));  /* scale 1 */
    x_u32(b, (uint32_t)disp);
}

/* ALU [base+disp], sign-extended imm32 (w = 0: a dword in memory) */
static inline void x_alu_mi(struct x86_buf *b, int w, enum x86_alu ext, int base, int32_t disp, int32_t imm)
{
    int small = imm >= -128 && imm <= 127;
    x_op_mem(b, w, small ? 0x83 : 0x81, ext, base, disp);
    if (small)
        x_byte(b, (uint8_t)(int8_t)imm);
    else
        x_u32(b, (uint32_t)imm);
}

/* mov dword [base+disp], imm32 */
static inline void x_mov_store_imm_d(struct x86_buf *b, int base, int32_t disp, int32_t imm)
{
    x_op_mem(b, 0, 0xc7, 0, base, disp);
    x_u32(b, (uint32_t)imm);
}

/* RIP-relative operands for the data cells kept after a block's code: the returned rel32 is
 * pointed at its cell with x_patch_to once the cell's place is known */
static inline uint8_t *x_mov_load_rip(struct x86_buf *b, int dst)
{
    x_rex(b, 1, dst, 0, 0);
    x_byte(b, 0x8b);
    x_byte(b, (uint8_t)(0x05 | ((dst & 7) << 3)));
    uint8_t *at = b->p;
    x_u32(b, 0);
    return at;
}

static inline uint8_t *x_jmp_rip(struct x86_buf *b)
{
    x_byte(b, 0xff);
    x_byte(b, 0x25);
    uint8_t *at = b->p;
    x_u32(b, 0);
    return at;
}

static inline void x_patch_to(uint8_t *at, const uint8_t *target)
{
    int32_t rel = (int32_t)(target - (at + 4));
    memcpy(at, &rel, 4);
}

static inline void x_shift_cl(struct x86_buf *b, int w, enum x86_shift ext, int r)
{
    x_rex(b, w, 0, r, 0);
    x_byte(b, 0xd3);
    x_modrr(b, ext, r);
}

static inline void x_shift_imm(struct x86_buf *b, int w, enum x86_shift ext, int r, uint8_t n)
{
    x_rex(b, w, 0, r, 0);
    x_byte(b, 0xc1);
    x_modrr(b, ext, r);
    x_byte(b, n);
}

/* movsxd dst, src32 */
static inline void x_movsxd(struct x86_buf *b, int dst, int src)
{
    x_rex(b, 1, dst, src, 0);
    x_byte(b, 0x63);
    x_modrr(b, dst, src);
}

/* imul dst, src (64 or 32 bits) */
static inline void x_imul_rr(struct x86_buf *b, int w, int dst, int src)
{
    x_rex(b, w, dst, src, 0);
    x_byte(b, 0x0f);
    x_byte(b, 0xaf);
    x_modrr(b, dst, src);
}

/* one-operand mul (ext 4) / imul (ext 5): rdx:rax = rax * r */
static inline void x_mul1(struct x86_buf *b, int ext, int r)
{
    x_rex(b, 1, 0, r, 0);
    x_byte(b, 0xf7);
    x_modrr(b, ext, r);
}

/* setcc r8; movzx r32, r8 (the result is a clean 0/1 in the full register) */
static inline void x_setcc(struct x86_buf *b, enum x86_cc cc, int r)
{
    x_rex(b, 0, 0, r, r >= 4);
    x_byte(b, 0x0f);
    x_byte(b, (uint8_t)(0x90 | cc));
    x_modrr(b, 0, r);
    x_rex(b, 0, r, r, r >= 4);
    x_byte(b, 0x0f);
    x_byte(b, 0xb6);
    x_modrr(b, r, r);
}

/* cmp byte [base+disp], imm8 */
static inline void x_cmp_byte_imm(struct x86_buf *b, int base, int32_t disp, uint8_t imm)
{
    x_rex(b, 0, 0, base, 0);
    x_byte(b, 0x80);
    x_mem(b, ALU_CMP, base, disp);
    x_byte(b, imm);
}

static inline void x_test32(struct x86_buf *b, int r1, int r2)
{
    x_rex(b, 0, r2, r1, 0);
    x_byte(b, 0x85);
    x_modrr(b, r2, r1);
}

static inline void x_test64(struct x86_buf *b, int r1, int r2)
{
    x_rex(b, 1, r2, r1, 0);
    x_byte(b, 0x85);
    x_modrr(b, r2, r1);
}

static inline void x_call_abs(struct x86_buf *b, const void *fn)
{
    x_mov_imm64(b, RAX, (uint64_t)(uintptr_t)fn);
    x_byte(b, 0xff);
    x_byte(b, 0xd0); /* call rax */
}

static inline void x_push(struct x86_buf *b, int r)
{
    x_rex(b, 0, 0, r, 0);
    x_byte(b, (uint8_t)(0x50 | (r & 7)));
}

static inline void x_pop(struct x86_buf *b, int r)
{
    x_rex(b, 0, 0, r, 0);
    x_byte(b, (uint8_t)(0x58 | (r & 7)));
}

static inline void x_ret(struct x86_buf *b) { x_byte(b, 0xc3); }

/* Forward jumps: the emitter returns where the rel32 lives; x_patch points it at the current
 * position once the target is known. */
static inline uint8_t *x_jcc_fwd(struct x86_buf *b, enum x86_cc cc)
{
    x_byte(b, 0x0f);
    x_byte(b, (uint8_t)(0x80 | cc));
    uint8_t *at = b->p;
    x_u32(b, 0);
    return at;
}

static inline uint8_t *x_jmp_fwd(struct x86_buf *b)
{
    x_byte(b, 0xe9);
    uint8_t *at = b->p;
    x_u32(b, 0);
    return at;
}

/* jumps and calls to code already in the cache (the shared stubs): rel32, since translations
 * are emitted in place, where they run */
static inline void x_rel_to(struct x86_buf *b, const uint8_t *target)
{
    int32_t rel = (int32_t)(target - (b->p + 4));
    x_u32(b, (uint32_t)rel);
}
static inline void x_jmp_to(struct x86_buf *b, const uint8_t *target) { x_byte(b, 0xe9); x_rel_to(b, target); }
static inline void x_call_to(struct x86_buf *b, const uint8_t *target) { x_byte(b, 0xe8); x_rel_to(b, target); }
static inline void x_jcc_to(struct x86_buf *b, enum x86_cc cc, const uint8_t *target)
{
    x_byte(b, 0x0f);
    x_byte(b, (uint8_t)(0x80 | cc));
    x_rel_to(b, target);
}
static inline void x_jmp_reg(struct x86_buf *b, int r)
{
    x_rex(b, 0, 0, r, 0);
    x_byte(b, 0xff);
    x_modrr(b, 4, r);
}

static inline void x_patch(struct x86_buf *b, uint8_t *at)
{
    int32_t rel = (int32_t)(b->p - (at + 4));
    memcpy(at, &rel, 4);
}

#endif
