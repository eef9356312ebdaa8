/* jit_translate.c — one decoded block (struct rv64_block) → x86-64 code.
 *
 * Conventions of the emitted code (SysV ABI, so it can call C directly):
 *   rbx = the hart; guest x[i] lives at a fixed offset from it (no register allocation yet)
 *   r12 = the guest pc at block entry: the block's pc is not a constant, since two virtual
 *         addresses can map the same physical block; every pc is r12 + the instruction's offset
 *   rax, rcx, rdx, rsi, rdi: scratch
 * Prologue pushes three registers, so rsp is 16-byte aligned at every call to a helper.
 *
 * Translated inline: LUI AUIPC JAL JALR, branches, loads and stores (with the soft-TLB fast path;
 * misses, MMIO, misaligned and faulting accesses call the interpreter's slow paths), OP-IMM,
 * OP, OP-IMM-32, OP-32, MUL*, FENCE (a no-op here as in exec.c). DIV/REM call small C helpers.
 * Everything else (CSRs, FP, AMOs, LR/SC, system instructions, illegal) runs through
 * rv64_jit_interp_one: the interpreter's own handler for that one instruction. */
#include <stddef.h>
#include <string.h>
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/jit_emit.h"
#include "cpu/rv64/ops.h"

_Static_assert(sizeof(struct tlb_entry) == 16, "the TLB index is scaled by a shift of 4");
_Static_assert(RV64_JIT_BUF_SIZE <= 65536, "chaining cells are found by 16-bit offsets");

#define XO(r)   ((int32_t)(offsetof(struct rv64_hart, x) + 8u * (r)))
#define H_PC    ((int32_t)offsetof(struct rv64_hart, pc))
#define H_INSTRET ((int32_t)offsetof(struct rv64_hart, instret))
#define H_STREAK ((int32_t)offsetof(struct rv64_hart, trap_streak))
#define H_TIMER ((int32_t)offsetof(struct rv64_hart, timer_countdown))
#define H_REQ   ((int32_t)offsetof(struct rv64_hart, requests))
#define H_MIP   ((int32_t)offsetof(struct rv64_hart, mip))
#define H_MIE   ((int32_t)offsetof(struct rv64_hart, mie))
#define H_LAST_BLOCK ((int32_t)offsetof(struct rv64_hart, last_block))
#define H_LAST_PC ((int32_t)offsetof(struct rv64_hart, last_pc))
#define M_PAGE_GEN ((int32_t)offsetof(struct rv64_machine, page_gen))
#define H_DTLB  ((int32_t)offsetof(struct rv64_hart, dtlb))
#define H_M     ((int32_t)offsetof(struct rv64_hart, m))
#define M_RAM   ((int32_t)offsetof(struct rv64_machine, ram))
#define M_CODE  ((int32_t)offsetof(struct rv64_machine, code_page))
#define TLB_R   ((int32_t)offsetof(struct tlb_set, r))
#define TLB_W   ((int32_t)offsetof(struct tlb_set, w))
#define E_VPAGE ((int32_t)offsetof(struct tlb_entry, vpage))
#define E_ADD   ((int32_t)offsetof(struct tlb_entry, addend))

/* the largest code one instruction can produce, with margin (checked before each one) */
#define MAX_INSN_CODE 512

_Static_assert(sizeof(((struct rv64_hart *)0)->timer_countdown) == 4 &&
               sizeof(((struct rv64_hart *)0)->requests) == 4 &&
               sizeof(((struct rv64_hart *)0)->trap_streak) == 4, "dword operands in the chain checks");

/* Where a block's chainable exits (by link: a jump or taken branch, the next instruction) keep
 * their cells, as offsets in the code being emitted; see emit_chain_exit. */
struct chain_slots {
    const struct rv64_block *blk;
    uint8_t *start;
    uint32_t cells[2], unchained[2], chain[2];
};

#define EXIT_CODE(retired, link) ((uint32_t)(retired) << 8 | (uint32_t)((link) + 1))

static inline uint64_t sx32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)v; }

/* division helpers: the RISC-V results for division by zero and overflow (no host trap) */
static uint64_t h_div(uint64_t a, uint64_t b)
{
    if (b == 0) return ~0ull;
    if ((int64_t)a == INT64_MIN && (int64_t)b == -1) return a;
    return (uint64_t)((int64_t)a / (int64_t)b);
}
static uint64_t h_divu(uint64_t a, uint64_t b) { return b ? a / b : ~0ull; }
static uint64_t h_rem(uint64_t a, uint64_t b)
{
    if (b == 0) return a;
    if ((int64_t)a == INT64_MIN && (int64_t)b == -1) return 0;
    return (uint64_t)((int64_t)a % (int64_t)b);
}
static uint64_t h_remu(uint64_t a, uint64_t b) { return b ? a % b : a; }
static uint64_t h_divw(uint64_t a, uint64_t b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;
    if (y == 0) return ~0ull;
    if (x == INT32_MIN && y == -1) return sx32((uint32_t)x);
    return sx32((uint32_t)(x / y));
}
static uint64_t h_divuw(uint64_t a, uint64_t b)
{
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return y ? sx32(x / y) : ~0ull;
}
static uint64_t h_remw(uint64_t a, uint64_t b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;
    if (y == 0) return sx32((uint32_t)x);
    if (x == INT32_MIN && y == -1) return 0;
    return sx32((uint32_t)(x % y));
}
static uint64_t h_remuw(uint64_t a, uint64_t b)
{
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return sx32(y ? x % y : x);
}

static void emit_exit(struct x86_buf *b, uint32_t code)
{
    x_mov_imm32(b, RAX, code);
    x_pop(b, RBP);
    x_pop(b, R12);
    x_pop(b, RBX);
    x_ret(b);
}

/* h->pc = entry pc + disp */
static void emit_set_pc(struct x86_buf *b, int64_t disp)
{
    x_lea(b, RAX, R12, (int32_t)disp);
    x_mov_store(b, RBX, H_PC, RAX);
}

/* after a helper returning bool in al: leave the block if it trapped, idx instructions retired */
static void emit_fault_check(struct x86_buf *b, unsigned idx)
{
    x_byte(b, 0x84);
    x_byte(b, 0xc0); /* test al, al */
    uint8_t *ok = x_jcc_fwd(b, CC_NE);
    emit_exit(b, EXIT_CODE(idx, RV64_LINK_NONE));
    x_patch(b, ok);
}

/* rsi = x[rs1] + imm; rdx = the data TLB entry in `table`; jumps to the returned patch site
 * when the page (and alignment, folded into the compare as exec.c does) does not match */
static uint8_t *emit_tlb_probe(struct x86_buf *b, const struct rv64_insn *in, int32_t table,
                               unsigned size)
{
    x_mov_load(b, RSI, RBX, XO(in->rs1));
    if (in->imm)
        x_lea(b, RSI, RSI, in->imm);
    x_mov_rr(b, RAX, RSI);
    x_shift_imm(b, 1, SH_SHR, RAX, 12);
    x_alu_ri(b, 0, ALU_AND, RAX, TLB_SIZE - 1);
    x_shift_imm(b, 1, SH_SHL, RAX, 4);
    x_mov_load(b, RDX, RBX, H_DTLB);
    x_alu_rr(b, 1, ALU_ADD, RDX, RAX);
    x_mov_rr(b, RCX, RSI);
    x_alu_ri(b, 1, ALU_AND, RCX, (int32_t)(~0xfffu | (size - 1)));
    x_alu_rm(b, 1, ALU_CMP, RCX, RDX, table + E_VPAGE);
    return x_jcc_fwd(b, CC_NE);
}

/* rax = value of `size` bytes at host [rsi], extended as the load op says */
static void emit_host_load(struct x86_buf *b, unsigned op)
{
    switch (op) {
    case OP_LB: x_op0f_mem(b, 1, 0xbe, RAX, RSI, 0); break;  /* movsx rax, byte */
    case OP_LBU: x_op0f_mem(b, 0, 0xb6, RAX, RSI, 0); break; /* movzx eax, byte */
    case OP_LH: x_op0f_mem(b, 1, 0xbf, RAX, RSI, 0); break;
    case OP_LHU: x_op0f_mem(b, 0, 0xb7, RAX, RSI, 0); break;
    case OP_LW: x_op_mem(b, 1, 0x63, RAX, RSI, 0); break;    /* movsxd */
    case OP_LWU: x_op_mem(b, 0, 0x8b, RAX, RSI, 0); break;   /* mov eax: zero-extends */
    default: x_op_mem(b, 1, 0x8b, RAX, RSI, 0); break;
    }
}

static unsigned load_size(unsigned op)
{
    switch (op) {
    case OP_LB: case OP_LBU: return 1;
    case OP_LH: case OP_LHU: return 2;
    case OP_LW: case OP_LWU: return 4;
    default: return 8;
    }
}

static void emit_load(struct x86_buf *b, const struct rv64_insn *in, unsigned idx)
{
    unsigned size = load_size(in->op);
    uint8_t *miss = emit_tlb_probe(b, in, TLB_R, size);
    x_alu_rm(b, 1, ALU_ADD, RSI, RDX, TLB_R + E_ADD);
    emit_host_load(b, in->op);
    uint8_t *done = x_jmp_fwd(b);

    /* slow path: rv64_load_slow(h, addr, size, &x[rd]) writes rd only on success, so rd may
     * be rs1; its value is zero-extended, so signed loads extend it afterwards */
    x_patch(b, miss);
    emit_set_pc(b, in->off);
    x_mov_rr(b, RDI, RBX);
    x_mov_imm32(b, RDX, size);
    x_lea(b, RCX, RBX, XO(in->rd));
    x_call_abs(b, (const void *)rv64_load_slow);
    emit_fault_check(b, idx);
    x_mov_load(b, RAX, RBX, XO(in->rd));
    if (in->op == OP_LB) {
        x_byte(b, 0x48); x_byte(b, 0x0f); x_byte(b, 0xbe); x_byte(b, 0xc0); /* movsx rax, al */
    } else if (in->op == OP_LH) {
        x_byte(b, 0x48); x_byte(b, 0x0f); x_byte(b, 0xbf); x_byte(b, 0xc0); /* movsx rax, ax */
    } else if (in->op == OP_LW) {
        x_movsxd(b, RAX, RAX);
    }
    x_patch(b, done);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

static void emit_store(struct x86_buf *b, const struct rv64_insn *in, unsigned idx)
{
    unsigned size = in->op == OP_SB ? 1 : in->op == OP_SH ? 2 : in->op == OP_SW ? 4 : 8;
    uint8_t *miss = emit_tlb_probe(b, in, TLB_W, size);
    x_alu_rm(b, 1, ALU_ADD, RSI, RDX, TLB_W + E_ADD);
    x_mov_load(b, RAX, RBX, XO(in->rs2));
    switch (size) {
    case 1: x_op_mem(b, 0, 0x88, RAX, RSI, 0); break;
    case 2: x_byte(b, 0x66); x_op_mem(b, 0, 0x89, RAX, RSI, 0); break;
    case 4: x_op_mem(b, 0, 0x89, RAX, RSI, 0); break;
    default: x_op_mem(b, 1, 0x89, RAX, RSI, 0); break;
    }
    /* note_store (exec.c): a store to a page holding decoded code bumps its generation */
    x_mov_load(b, RCX, RBX, H_M);
    x_mov_rr(b, RDX, RSI);
    x_alu_rm(b, 1, ALU_SUB, RDX, RCX, M_RAM);
    x_shift_imm(b, 1, SH_SHR, RDX, 12);
    x_mov_load(b, RAX, RCX, M_CODE);
    x_alu_rr(b, 1, ALU_ADD, RAX, RDX);
    x_cmp_byte_imm(b, RAX, 0, 0);
    uint8_t *no_code = x_jcc_fwd(b, CC_E);
    x_mov_rr(b, RDI, RCX);
    x_mov_rr(b, RSI, RDX);
    x_call_abs(b, (const void *)rv64_code_written);
    uint8_t *done = x_jmp_fwd(b);

    x_patch(b, miss);
    emit_set_pc(b, in->off);
    x_mov_rr(b, RDI, RBX);
    x_mov_imm32(b, RDX, size);
    x_mov_load(b, RCX, RBX, XO(in->rs2));
    x_call_abs(b, (const void *)rv64_store_slow);
    emit_fault_check(b, idx);
    x_patch(b, done);
    x_patch(b, no_code);
}

/* rd = rs1 OP rs2 for the two-operand ALU ops; w32: the RV64 *W form (sign-extend 32 bits) */
static void emit_alu_rr(struct x86_buf *b, const struct rv64_insn *in, enum x86_alu alu, int w32)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_alu_rm(b, !w32, alu, RAX, RBX, XO(in->rs2));
    if (w32)
        x_movsxd(b, RAX, RAX);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

static void emit_alu_ri(struct x86_buf *b, const struct rv64_insn *in, enum x86_alu alu, int w32)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_alu_ri(b, !w32, alu, RAX, in->imm);
    if (w32)
        x_movsxd(b, RAX, RAX);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

static void emit_shift_rr(struct x86_buf *b, const struct rv64_insn *in, enum x86_shift sh, int w32)
{
    x_mov_load(b, RCX, RBX, XO(in->rs2)); /* x86 masks the count to 5/6 bits, as RISC-V does */
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_shift_cl(b, !w32, sh, RAX);
    if (w32)
        x_movsxd(b, RAX, RAX);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

static void emit_shift_ri(struct x86_buf *b, const struct rv64_insn *in, enum x86_shift sh, int w32)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_shift_imm(b, !w32, sh, RAX, (uint8_t)in->imm);
    if (w32)
        x_movsxd(b, RAX, RAX);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

static void emit_set_rr(struct x86_buf *b, const struct rv64_insn *in, enum x86_cc cc)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_alu_rm(b, 1, ALU_CMP, RAX, RBX, XO(in->rs2));
    x_setcc(b, cc, RAX);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

static void emit_set_ri(struct x86_buf *b, const struct rv64_insn *in, enum x86_cc cc)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_alu_ri(b, 1, ALU_CMP, RAX, in->imm);
    x_setcc(b, cc, RAX);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

/* rd = high 64 bits of the product: ext 4 = mul (unsigned), 5 = imul (signed) */
static void emit_mulh(struct x86_buf *b, const struct rv64_insn *in, int ext, int su)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_mov_load(b, RCX, RBX, XO(in->rs2));
    x_mul1(b, ext, RCX);
    if (su) { /* signed × unsigned = unsigned product − (rs1 < 0 ? rs2 << 64 : 0) */
        x_mov_load(b, RAX, RBX, XO(in->rs1));
        x_shift_imm(b, 1, SH_SAR, RAX, 63);
        x_alu_rr(b, 1, ALU_AND, RAX, RCX);
        x_alu_rr(b, 1, ALU_SUB, RDX, RAX);
    }
    x_mov_store(b, RBX, XO(in->rd), RDX);
}

static void emit_call2(struct x86_buf *b, const struct rv64_insn *in, uint64_t (*fn)(uint64_t, uint64_t))
{
    x_mov_load(b, RDI, RBX, XO(in->rs1));
    x_mov_load(b, RSI, RBX, XO(in->rs2));
    x_call_abs(b, (const void *)fn);
    x_mov_store(b, RBX, XO(in->rd), RAX);
}

/* A block end with a constant successor (pc = entry + disp) on link `link`. Until the
 * dispatcher chains it, it returns like any exit. Once chained (jit_exec.c patches cell 0 to the
 * chain path and fills cells 1 and 2), it does the dispatcher's work itself: counts the retired
 * instructions, checks exactly what the interpreter checks before going straight on to a linked
 * block (the code page unchanged since translation, the timer countdown, requests, pending
 * interrupts), records the new block as the last one run and jumps into its body. A failed check
 * returns with nothing more retired and no link: the run loop takes over.
 *   cell 0: where the exit goes (the plain return, or the chain path)
 *   cell 1: the successor's struct rv64_block      cell 2: its code past the prologue
 *   cell 3: the chain path's address (what cell 0 becomes when chained) */
static void emit_chain_exit(struct x86_buf *b, struct chain_slots *cs, int64_t disp, unsigned retired,
                            int link)
{
    const struct rv64_block *blk = cs->blk;
    emit_set_pc(b, disp);
    int64_t target = (int64_t)(blk->paddr % 4096) + disp;
    if (target < 0 || target >= 4096) {
        /* on another page whatever the alignment of pc: never linked (rv64_linked_block) */
        emit_exit(b, EXIT_CODE(retired, link));
        return;
    }
    uint8_t *to_cell0 = x_jmp_rip(b);
    cs->unchained[link] = (uint32_t)(b->p - cs->start);
    emit_exit(b, EXIT_CODE(retired, link));
    cs->chain[link] = (uint32_t)(b->p - cs->start);
    x_alu_mi(b, 1, ALU_ADD, RBX, H_INSTRET, (int32_t)retired);
    x_mov_store_imm_d(b, RBX, H_STREAK, 0);
    x_mov_load(b, RCX, RBX, H_M);
    x_mov_load(b, RCX, RCX, M_PAGE_GEN);
    x_alu_mi(b, 0, ALU_CMP, RCX, (int32_t)(blk->page * 4u), (int32_t)blk->gen);
    uint8_t *bail1 = x_jcc_fwd(b, CC_NE);
    x_alu_mi(b, 0, ALU_SUB, RBX, H_TIMER, 1);
    uint8_t *bail2 = x_jcc_fwd(b, CC_LE);
    x_alu_mi(b, 0, ALU_CMP, RBX, H_REQ, 0);
    uint8_t *bail3 = x_jcc_fwd(b, CC_NE);
    x_mov_load(b, RAX, RBX, H_MIP);
    x_alu_rm(b, 1, ALU_AND, RAX, RBX, H_MIE);
    uint8_t *bail4 = x_jcc_fwd(b, CC_NE);
    x_mov_load(b, R12, RBX, H_PC);
    x_mov_store(b, RBX, H_LAST_PC, R12);
    uint8_t *to_cell1 = x_mov_load_rip(b, RAX);
    x_mov_store(b, RBX, H_LAST_BLOCK, RAX);
    uint8_t *to_cell2 = x_jmp_rip(b);
    x_patch(b, bail1);
    x_patch(b, bail2);
    x_patch(b, bail3);
    x_patch(b, bail4);
    emit_exit(b, EXIT_CODE(0, RV64_LINK_NONE));
    while ((b->p - cs->start) % 8)
        x_byte(b, 0xcc);
    cs->cells[link] = (uint32_t)(b->p - cs->start);
    x_patch_to(to_cell0, b->p);
    x_patch_to(to_cell1, b->p + 8);
    x_patch_to(to_cell2, b->p + 16);
    for (int i = 0; i < 4; i++)
        x_u64(b, 0); /* filled in once the code's address is known (rv64_jit_translate) */
}

/* the block ends here with pc = entry + target (a jump or a taken branch) or the next one */
static void emit_branch(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                        unsigned idx, enum x86_cc cc)
{
    x_mov_load(b, RAX, RBX, XO(in->rs1));
    x_alu_rm(b, 1, ALU_CMP, RAX, RBX, XO(in->rs2));
    uint8_t *taken = x_jcc_fwd(b, cc);
    emit_chain_exit(b, cs, (int64_t)in->off + in->len, idx + 1, RV64_LINK_NEXT);
    x_patch(b, taken);
    emit_chain_exit(b, cs, (int64_t)in->off + in->imm, idx + 1, RV64_LINK_JUMP);
}

/* An instruction the translator leaves to the interpreter. */
static void emit_interp(struct x86_buf *b, const struct rv64_insn *in, unsigned idx)
{
    x_mov_rr(b, RDI, RBX);
    x_mov_imm64(b, RSI, (uint64_t)(uintptr_t)in);
    x_mov_imm32(b, RDX, idx);
    x_lea(b, RCX, R12, in->off);
    x_call_abs(b, (const void *)rv64_jit_interp_one);
    x_test32(b, RAX, RAX);
    uint8_t *ok = x_jcc_fwd(b, CC_NE);
    emit_exit(b, EXIT_CODE(idx, RV64_LINK_NONE));
    x_patch(b, ok);
    if (rv64_op_ends_block(in->op)) {
        /* it set pc and its link; eax = link + 2 */
        x_alu_ri(b, 0, ALU_SUB, RAX, 1);
        x_alu_ri(b, 0, ALU_OR, RAX, (int32_t)EXIT_CODE(idx + 1, -1));
        x_pop(b, RBP);
        x_pop(b, R12);
        x_pop(b, RBX);
        x_ret(b);
    }
}

/* Emits one instruction; returns 1 if it ended the block. */
static int emit_insn(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in, unsigned idx)
{
    switch (in->op) {
    case OP_LUI: x_mov_store_imm(b, RBX, XO(in->rd), in->imm); return 0;
    case OP_AUIPC:
        x_lea(b, RAX, R12, in->off);
        x_alu_ri(b, 1, ALU_ADD, RAX, in->imm);
        x_mov_store(b, RBX, XO(in->rd), RAX);
        return 0;
    case OP_JAL:
        x_lea(b, RAX, R12, (int32_t)(in->off + in->len));
        x_mov_store(b, RBX, XO(in->rd), RAX);
        emit_chain_exit(b, cs, (int64_t)in->off + in->imm, idx + 1, RV64_LINK_JUMP);
        return 1;
    case OP_JALR: /* the target is read before rd is written: rd may be rs1 */
        x_mov_load(b, RAX, RBX, XO(in->rs1));
        x_alu_ri(b, 1, ALU_ADD, RAX, in->imm);
        x_alu_ri(b, 1, ALU_AND, RAX, -2);
        x_mov_store(b, RBX, H_PC, RAX);
        x_lea(b, RCX, R12, (int32_t)(in->off + in->len));
        x_mov_store(b, RBX, XO(in->rd), RCX);
        emit_exit(b, EXIT_CODE(idx + 1, RV64_LINK_JUMP));
        return 1;
    case OP_BEQ: emit_branch(b, cs, in, idx, CC_E); return 1;
    case OP_BNE: emit_branch(b, cs, in, idx, CC_NE); return 1;
    case OP_BLT: emit_branch(b, cs, in, idx, CC_L); return 1;
    case OP_BGE: emit_branch(b, cs, in, idx, CC_GE); return 1;
    case OP_BLTU: emit_branch(b, cs, in, idx, CC_B); return 1;
    case OP_BGEU: emit_branch(b, cs, in, idx, CC_AE); return 1;
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
        emit_load(b, in, idx);
        return 0;
    case OP_SB: case OP_SH: case OP_SW: case OP_SD: emit_store(b, in, idx); return 0;
    case OP_ADDI: emit_alu_ri(b, in, ALU_ADD, 0); return 0;
    case OP_SLTI: emit_set_ri(b, in, CC_L); return 0;
    case OP_SLTIU: emit_set_ri(b, in, CC_B); return 0;
    case OP_XORI: emit_alu_ri(b, in, ALU_XOR, 0); return 0;
    case OP_ORI: emit_alu_ri(b, in, ALU_OR, 0); return 0;
    case OP_ANDI: emit_alu_ri(b, in, ALU_AND, 0); return 0;
    case OP_SLLI: emit_shift_ri(b, in, SH_SHL, 0); return 0;
    case OP_SRLI: emit_shift_ri(b, in, SH_SHR, 0); return 0;
    case OP_SRAI: emit_shift_ri(b, in, SH_SAR, 0); return 0;
    case OP_ADD: emit_alu_rr(b, in, ALU_ADD, 0); return 0;
    case OP_SUB: emit_alu_rr(b, in, ALU_SUB, 0); return 0;
    case OP_SLL: emit_shift_rr(b, in, SH_SHL, 0); return 0;
    case OP_SLT: emit_set_rr(b, in, CC_L); return 0;
    case OP_SLTU: emit_set_rr(b, in, CC_B); return 0;
    case OP_XOR: emit_alu_rr(b, in, ALU_XOR, 0); return 0;
    case OP_SRL: emit_shift_rr(b, in, SH_SHR, 0); return 0;
    case OP_SRA: emit_shift_rr(b, in, SH_SAR, 0); return 0;
    case OP_OR: emit_alu_rr(b, in, ALU_OR, 0); return 0;
    case OP_AND: emit_alu_rr(b, in, ALU_AND, 0); return 0;
    case OP_ADDIW: emit_alu_ri(b, in, ALU_ADD, 1); return 0;
    case OP_SLLIW: emit_shift_ri(b, in, SH_SHL, 1); return 0;
    case OP_SRLIW: emit_shift_ri(b, in, SH_SHR, 1); return 0;
    case OP_SRAIW: emit_shift_ri(b, in, SH_SAR, 1); return 0;
    case OP_ADDW: emit_alu_rr(b, in, ALU_ADD, 1); return 0;
    case OP_SUBW: emit_alu_rr(b, in, ALU_SUB, 1); return 0;
    case OP_SLLW: emit_shift_rr(b, in, SH_SHL, 1); return 0;
    case OP_SRLW: emit_shift_rr(b, in, SH_SHR, 1); return 0;
    case OP_SRAW: emit_shift_rr(b, in, SH_SAR, 1); return 0;
    case OP_MUL: case OP_MULW: {
        int w32 = in->op == OP_MULW;
        x_mov_load(b, RAX, RBX, XO(in->rs1));
        x_mov_load(b, RCX, RBX, XO(in->rs2));
        x_imul_rr(b, !w32, RAX, RCX);
        if (w32)
            x_movsxd(b, RAX, RAX);
        x_mov_store(b, RBX, XO(in->rd), RAX);
        return 0;
    }
    case OP_MULH: emit_mulh(b, in, 5, 0); return 0;
    case OP_MULHU: emit_mulh(b, in, 4, 0); return 0;
    case OP_MULHSU: emit_mulh(b, in, 4, 1); return 0;
    case OP_DIV: emit_call2(b, in, h_div); return 0;
    case OP_DIVU: emit_call2(b, in, h_divu); return 0;
    case OP_REM: emit_call2(b, in, h_rem); return 0;
    case OP_REMU: emit_call2(b, in, h_remu); return 0;
    case OP_DIVW: emit_call2(b, in, h_divw); return 0;
    case OP_DIVUW: emit_call2(b, in, h_divuw); return 0;
    case OP_REMW: emit_call2(b, in, h_remw); return 0;
    case OP_REMUW: emit_call2(b, in, h_remuw); return 0;
    case OP_FENCE: return 0; /* one hart's accesses are in order; host atomics order the rest */
    default:
        emit_interp(b, in, idx);
        return rv64_op_ends_block(in->op);
    }
}

int rv64_jit_translate(struct rv64_hart *h, struct rv64_block *blk)
{
    struct rv64_jit *j = h->jit;
    struct x86_buf buf = { j->buf, j->buf, j->buf + RV64_JIT_BUF_SIZE };
    struct x86_buf *b = &buf;
    struct chain_slots cs = { .blk = blk, .start = buf.start };
    x_push(b, RBX);
    x_push(b, R12);
    x_push(b, RBP);
    x_mov_rr(b, RBX, RDI);
    x_mov_load(b, R12, RBX, H_PC);
    j->body_off = (uint32_t)(b->p - b->start); /* where chained blocks enter */
    unsigned i;
    for (i = 0; i < blk->count; i++) {
        if (b->p + MAX_INSN_CODE > b->end)
            return 0;
        if (emit_insn(b, &cs, &blk->insns[i], i))
            break;
    }
    if (i == blk->count) /* fell off the end (instruction limit or page end) */
        emit_chain_exit(b, &cs, blk->insns[blk->count].off, blk->count, RV64_LINK_NEXT);
    size_t len = (size_t)(b->p - b->start);
    void *code = rv64_jit_commit(j, b->start, len);
    if (!code)
        return 0;
    uint8_t *rw = j->rw + ((uint8_t *)code - j->rx);
    for (int l = 0; l < 2; l++) {
        blk->jit_cell[l] = (uint16_t)cs.cells[l];
        if (!cs.cells[l])
            continue;
        uint64_t cell0 = (uint64_t)(uintptr_t)code + cs.unchained[l];
        uint64_t cell3 = (uint64_t)(uintptr_t)code + cs.chain[l];
        memcpy(rw + cs.cells[l], &cell0, 8);
        memcpy(rw + cs.cells[l] + 24, &cell3, 8);
    }
    blk->jit_code = code;
    j->blocks++;
    j->code_bytes += len;
    j->guest_insns += blk->count;
    return 1;
}
