/* jit_translate.c — one decoded block (struct rv64_block) → x86-64 code.
 *
 * Conventions of the emitted code (SysV ABI, so it can call C directly):
 *   rbx = the hart; guest x[i] lives at a fixed offset from it, but for the eight most used
 *         registers, which live in host registers (hreg)
 *   r12 = the guest pc at block entry: the block's pc is not a constant, since two virtual
 *         addresses can map the same physical block; every pc is r12 + the instruction's offset
 *   rax, rcx, rdx, rsi, rdi: scratch
 * The prologue pushes six registers and reserves 8 bytes, so rsp is 16-byte aligned in a
 * block's body and at every call to a helper.
 *
 * Translated inline: LUI AUIPC JAL JALR, branches, loads and stores (with the soft-TLB fast path;
 * misses, MMIO, misaligned and faulting accesses call the interpreter's slow paths), OP-IMM,
 * OP, OP-IMM-32, OP-32, MUL*, FENCE (a no-op here as in exec.c). DIV/REM call small C helpers.
 * F and D (emitted by jit_fp_emit.c, helpers in jit_fp.c): loads and stores (the same TLB fast
 * path), moves between x and f registers, double sign injection, and in the rounding modes the
 * host has an instruction for double add/sub/mul/div/sqrt, (host FMA3) the FMA family, double
 * compares and conversions between doubles and signed integers are inline; the rest (singles
 * but for loads, stores and moves; min/max, classify, other rounding modes) calls a small
 * helper per instruction (jit_fp.c). An FP instruction with FS=Off or a reserved rounding mode
 * (static, or frm at run time) takes an out-of-line path to the interpreter's handler, which
 * raises the illegal instruction; with a dynamic rounding mode, inline arithmetic runs under a
 * guard that frm is RNE (any other frm runs the interpreter's handler: guests rarely change it).
 * CSR reads (csrrs/csrrc with nothing to change: rdtime, rdcycle, frflags...) call a direct read.
 * Everything else (CSR writes, AMOs, LR/SC, system instructions, illegal) runs through
 * rv64_jit_interp_one: the interpreter's own handler for that one instruction. */
#include <assert.h>
#include <stddef.h>
#include <string.h>
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/jit_emit.h"
#include "cpu/rv64/jit_translate.h"
#include "cpu/rv64/ops.h"

_Static_assert(sizeof(struct tlb_entry) == 16, "the TLB index is scaled by a shift of 4");

#define H_PC    ((int32_t)offsetof(struct rv64_hart, pc))
#define H_INSTRET ((int32_t)offsetof(struct rv64_hart, instret))
#define H_STREAK ((int32_t)offsetof(struct rv64_hart, trap_streak))
#define H_TIMER ((int32_t)offsetof(struct rv64_hart, timer_countdown))
#define H_REQ   ((int32_t)offsetof(struct rv64_hart, requests))
#define H_LAST_BLOCK ((int32_t)offsetof(struct rv64_hart, last_block))
#define H_LAST_PC ((int32_t)offsetof(struct rv64_hart, last_pc))
#define M_PAGE_GEN ((int32_t)offsetof(struct rv64_machine, page_gen))
#define H_DTLB  ((int32_t)offsetof(struct rv64_hart, dtlb))
#define H_M     ((int32_t)offsetof(struct rv64_hart, m))
#define M_RAM   ((int32_t)offsetof(struct rv64_machine, ram))
#define H_JC    ((int32_t)offsetof(struct rv64_hart, jc))
#define H_ITLB  ((int32_t)offsetof(struct rv64_hart, itlb))
#define H_PAGE_GEN ((int32_t)offsetof(struct rv64_hart, page_gen))
#define H_CODE_BIAS ((int32_t)offsetof(struct rv64_hart, code_page_bias))
#define TLB_X   ((int32_t)offsetof(struct tlb_set, x))
#define JC_VPC  ((int32_t)offsetof(struct jc_entry, vpc))
#define JC_HOST ((int32_t)offsetof(struct jc_entry, host))
#define JC_CODE ((int32_t)offsetof(struct jc_entry, code))
#define H_JC_EPOCH ((int32_t)offsetof(struct rv64_hart, jc_epoch))
#define H_CODE_EPOCH ((int32_t)offsetof(struct rv64_hart, code_epoch))
#define B_HOST  ((int32_t)offsetof(struct rv64_block, host))
#define B_PAGE  ((int32_t)offsetof(struct rv64_block, page))
#define B_GEN   ((int32_t)offsetof(struct rv64_block, gen))
#define B_CODE  ((int32_t)offsetof(struct rv64_block, jit_code))
#define TLB_R   ((int32_t)offsetof(struct tlb_set, r))
#define TLB_W   ((int32_t)offsetof(struct tlb_set, w))
#define E_VPAGE ((int32_t)offsetof(struct tlb_entry, vpage))
#define E_ADD   ((int32_t)offsetof(struct tlb_entry, addend))

/* the largest code one instruction can produce, with margin (checked before each one): a branch
 * with two far exits is about 480 bytes */
#define MAX_INSN_CODE 640
_Static_assert((BLOCK_MAX_INSNS + 2) * MAX_INSN_CODE < 65536, "chaining sites are found by 16-bit offsets");

_Static_assert(sizeof(((struct rv64_hart *)0)->timer_countdown) == 4 &&
               sizeof(((struct rv64_hart *)0)->requests) == 4 &&
               sizeof(((struct rv64_hart *)0)->trap_streak) == 4, "dword operands in the chain checks");

_Static_assert(sizeof(struct jc_entry) == 32, "the jump cache index is scaled by a shift of 5");

/* the shared stubs, in the read-write view (rel32 distances are the same in both views) */
#define STUB(b, name) (((struct rv64_jit *)(b)->user)->rw + ((struct rv64_jit *)(b)->user)->name)

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

/* h->last_block = the block being translated: every way out of translated code to the run loop
 * says which block it left from (chained exits do not keep it up to date on the way) */
static void emit_note_block(struct x86_buf *b, int scratch)
{
    x_mov_imm64(b, scratch, b->blk);
    x_mov_store(b, RBX, H_LAST_BLOCK, scratch);
}

static void emit_exit(struct x86_buf *b, uint32_t code)
{
    emit_note_block(b, RAX);
    x_mov_imm32(b, RAX, code);
    x_jmp_to(b, STUB(b, st_epilogue));
}

/* Leave for pc = rsi: straight into the jump cache's translation for pc when the dispatch stub
 * finds one (its own indirect jump per exit, for the host's predictor), else (the stub stores
 * pc) return `code`. */
static void emit_dispatch(struct x86_buf *b, uint32_t code)
{
    emit_note_block(b, RCX); /* for the stub's way out */
    x_mov_imm32(b, RAX, code);
    x_call_to(b, STUB(b, st_dispatch));
    x_jmp_reg(b, RCX);
}

/* Guest registers kept in host registers while translated code runs: the most used ones in
 * RISC-V Linux code (a5, sp, a0, s0 in callee-saved registers; a1-a4 in r8-r11, which are
 * caller-saved, so every call from translated code to C saves them: call_c, the stubs). They are
 * loaded by the prologue, written back by the epilogue and around the interpreter's
 * one-instruction helper (the only C code that reads or writes x[] while a translation runs);
 * chained blocks keep them live. Every other register lives in x[] at a fixed offset from rbx. */
static int hreg(unsigned r)
{
    switch (r) {
    case 15: return R14;
    case 2: return RBP;
    case 10: return R15;
    case 8: return R13;
    case 14: return R8;
    case 13: return R9;
    case 11: return R10;
    case 12: return R11;
    default: return -1;
    }
}
static const unsigned mapped_regs[] = { 15, 2, 10, 8, 14, 13, 11, 12 };

/* call fn (SysV ABI) keeping the guest registers that live in caller-saved host registers;
 * rsp stays 16-byte aligned (four pushes) */
static void call_c(struct x86_buf *b, const void *fn)
{
    x_push(b, R8);
    x_push(b, R9);
    x_push(b, R10);
    x_push(b, R11);
    x_call_abs(b, fn);
    x_pop(b, R11);
    x_pop(b, R10);
    x_pop(b, R9);
    x_pop(b, R8);
}

/* dst = x[r] */
static void ld(struct x86_buf *b, int dst, unsigned r)
{
    int h = hreg(r);
    if (h < 0)
        x_mov_load(b, dst, RBX, XO(r));
    else if (h != dst)
        x_mov_rr(b, dst, h);
}

/* dst = dst OP x[r] */
static void alu_reg(struct x86_buf *b, int w, enum x86_alu op, int dst, unsigned r)
{
    int h = hreg(r);
    if (h < 0)
        x_alu_rm(b, w, op, dst, RBX, XO(r));
    else
        x_alu_rr(b, w, op, dst, h);
}

/* x[rd] = src */
static void st(struct x86_buf *b, unsigned rd, int src)
{
    int h = hreg(rd);
    if (h < 0)
        x_mov_store(b, RBX, XO(rd), src);
    else if (h != src)
        x_mov_rr(b, h, src);
}

/* x[rd] = sign-extended imm */
static void st_imm(struct x86_buf *b, unsigned rd, int32_t imm)
{
    int h = hreg(rd);
    if (h < 0) {
        x_mov_store_imm(b, RBX, XO(rd), imm);
    } else {
        x_rex(b, 1, 0, h, 0);
        x_byte(b, 0xc7);
        x_modrr(b, 0, h); /* mov r64, sign-extended imm32 */
        x_u32(b, (uint32_t)imm);
    }
}

/* the mapped registers to x[] (write back) or from it (load) */
static void sync_regs(struct x86_buf *b, int to_memory)
{
    for (unsigned i = 0; i < sizeof(mapped_regs) / sizeof(mapped_regs[0]); i++) {
        unsigned r = mapped_regs[i];
        if (to_memory)
            x_mov_store(b, RBX, XO(r), hreg(r));
        else
            x_mov_load(b, hreg(r), RBX, XO(r));
    }
}

static void emit_prologue(struct x86_buf *b)
{
    x_push(b, RBX);
    x_push(b, R12);
    x_push(b, R13);
    x_push(b, RBP);
    x_push(b, R14);
    x_push(b, R15);
    x_alu_ri(b, 1, ALU_SUB, RSP, 8); /* six pushes: rsp 16-byte aligned again */
    x_mov_rr(b, RBX, RDI); /* the block (rsi) is in h->last_block already: jit_exec.c */
    x_mov_load(b, R12, RBX, H_PC);
    sync_regs(b, 0);
}

/* rax = x[r]. The instruction before may have left x[r] in rax (store_rax): then nothing is
 * emitted, saving a load of the value just stored (and its store-forwarding latency). Only for
 * the first thing an instruction does: emit_insn forgets rax's contents on every instruction. */
static void load_rax(struct x86_buf *b, unsigned r)
{
    if (b->rax_prev != (int)r)
        ld(b, RAX, r);
}

static void store_rax(struct x86_buf *b, unsigned rd)
{
    st(b, rd, RAX);
    b->rax_is = (int)rd;
}

/* The slow-path stubs take their instruction's facts packed in edx: the access size, the
 * instruction's index in its block (instructions retired before it, for a fault's exit code)
 * and its offset from the block's start (its pc is r12 + that). */
static uint32_t slow_info(const struct rv64_insn *in, unsigned idx, unsigned size)
{
    return size | idx << 8 | (uint32_t)in->off << 16;
}

/* h->pc = rsi = entry pc + disp (the dispatch stub takes pc in rsi too) */
static void emit_set_pc(struct x86_buf *b, int64_t disp)
{
    x_lea(b, RSI, R12, (int32_t)disp);
    x_mov_store(b, RBX, H_PC, RSI);
}

/* rsi = x[rs1] + imm; rdx + rax = the data TLB entry in `table` (tlb_add adds its addend to
 * rsi); jumps to the returned patch site when the page (and alignment, folded into the compare
 * as exec.c does) does not match */
static uint8_t *emit_tlb_probe(struct x86_buf *b, const struct rv64_insn *in, int32_t table,
                               unsigned size)
{
    int base = b->rax_prev == (int)in->rs1 ? RAX : hreg(in->rs1);
    if (base >= 0) {
        x_lea(b, RSI, base, in->imm);
    } else {
        x_mov_load(b, RSI, RBX, XO(in->rs1));
        if (in->imm)
            x_lea(b, RSI, RSI, in->imm);
    }
    x_mov_rr(b, RAX, RSI);
    x_shift_imm(b, 0, SH_SHR, RAX, 8);                   /* ((a >> 12) % TLB_SIZE) * 16 */
    x_alu_ri(b, 0, ALU_AND, RAX, (TLB_SIZE - 1) << 4);
    x_mov_load(b, RDX, RBX, H_DTLB);
    x_mov_rr(b, RCX, RSI);
    x_alu_ri(b, 1, ALU_AND, RCX, (int32_t)(~0xfffu | (size - 1)));
    x_op_rm_idx(b, ALU_CMP * 8 + 3, RCX, RDX, RAX, table + E_VPAGE); /* cmp rcx, [rdx+rax+vpage] */
    return x_jcc_fwd(b, CC_NE);
}

/* rsi = the host address, after a probe of `table` that hit */
static void emit_tlb_add(struct x86_buf *b, int32_t table)
{
    x_op_rm_idx(b, ALU_ADD * 8 + 3, RSI, RDX, RAX, table + E_ADD); /* add rsi, [rdx+rax+addend] */
}

static int is_fp_mem(unsigned op) { return op == OP_FLW || op == OP_FLD || op == OP_FSW || op == OP_FSD; }

/* dst = value of `size` bytes at host [rsi], extended as the load op says */
static void emit_host_load(struct x86_buf *b, unsigned op, int dst)
{
    switch (op) {
    case OP_LB: x_op0f_mem(b, 1, 0xbe, dst, RSI, 0); break;  /* movsx r64, byte */
    case OP_LBU: x_op0f_mem(b, 0, 0xb6, dst, RSI, 0); break; /* movzx r32, byte */
    case OP_LH: x_op0f_mem(b, 1, 0xbf, dst, RSI, 0); break;
    case OP_LHU: x_op0f_mem(b, 0, 0xb7, dst, RSI, 0); break;
    case OP_LW: x_op_mem(b, 1, 0x63, dst, RSI, 0); break;    /* movsxd */
    case OP_LWU: case OP_FLW: x_op_mem(b, 0, 0x8b, dst, RSI, 0); break; /* mov r32: zero-extends */
    default: x_op_mem(b, 1, 0x8b, dst, RSI, 0); break;
    }
}

/* where a load's value goes straight from memory: the guest register's host register, or rax
 * (then stored to x[]); its slow path (emit_cold) leaves it there too */
static int load_dst(const struct rv64_insn *in)
{
    int h = is_fp_mem(in->op) ? -1 : hreg(in->rd);
    return h >= 0 ? h : RAX;
}

/* where a store's value is: the guest register's host register, or rdi */
static int store_src(const struct rv64_insn *in)
{
    int h = is_fp_mem(in->op) ? -1 : hreg(in->rs2);
    return h >= 0 ? h : RDI;
}

static unsigned load_size(unsigned op)
{
    switch (op) {
    case OP_LB: case OP_LBU: return 1;
    case OP_LH: case OP_LHU: return 2;
    case OP_LW: case OP_LWU: case OP_FLW: return 4;
    default: return 8;
    }
}

static unsigned store_size(unsigned op)
{
    switch (op) {
    case OP_SB: return 1;
    case OP_SH: return 2;
    case OP_SW: case OP_FSW: return 4;
    default: return 8;
    }
}

static struct cold *add_cold(const struct x86_buf *b, struct chain_slots *cs, int kind,
                             const struct rv64_insn *in, unsigned idx, uint8_t *site, uint8_t *back)
{
    uint8_t fp = (uint8_t)b->fp_pending;
    cs->cold[cs->ncold] = (struct cold){ kind, in, idx, site, back, NULL, fp, fp };
    return &cs->cold[cs->ncold++];
}

static void emit_load(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                      unsigned idx)
{
    unsigned size = load_size(in->op);
    struct cold *fp = is_fp_mem(in->op) ? rv64_jt_fp_guard(b, cs, in, idx, FRM_ANY) : NULL;
    uint8_t *miss = emit_tlb_probe(b, in, TLB_R, size);
    emit_tlb_add(b, TLB_R);
    emit_host_load(b, in->op, load_dst(in));
    add_cold(b, cs, COLD_LOAD, in, idx, miss, b->p);
    if (!fp) {
        if (load_dst(in) == RAX)
            store_rax(b, in->rd);
        return;
    }
    if (in->op == OP_FLW) { /* NaN-box the single */
        x_mov_imm64(b, RCX, 0xffffffff00000000ull);
        x_alu_rr(b, 1, ALU_OR, RAX, RCX);
    }
    x_mov_store(b, RBX, FO(in->rd), RAX);
    rv64_jt_fs_dirty(b);
    rv64_jt_cold_back(b, fp);
}

static void emit_store(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                       unsigned idx)
{
    unsigned size = store_size(in->op);
    struct cold *fp = is_fp_mem(in->op) ? rv64_jt_fp_guard(b, cs, in, idx, FRM_ANY) : NULL;
    /* the value in its host register, or in rdi, which the probe leaves alone */
    int val = store_src(in);
    if (fp)
        x_mov_load(b, RDI, RBX, FO(in->rs2));
    else if (val == RDI && b->rax_prev == (int)in->rs2)
        x_mov_rr(b, RDI, RAX);
    else if (val == RDI)
        ld(b, RDI, in->rs2);
    uint8_t *miss = emit_tlb_probe(b, in, TLB_W, size);
    emit_tlb_add(b, TLB_W);
    switch (size) {
    case 1: /* mov [rsi], r8: needs a REX prefix (without one, regs 5-7 are ch, dh, bh) */
        x_rex(b, 0, val, RSI, 1);
        x_byte(b, 0x88);
        x_mem(b, val, RSI, 0);
        break;
    case 2: x_byte(b, 0x66); x_op_mem(b, 0, 0x89, val, RSI, 0); break;
    case 4: x_op_mem(b, 0, 0x89, val, RSI, 0); break;
    default: x_op_mem(b, 1, 0x89, val, RSI, 0); break;
    }
    /* note_store (exec.c): a store to a page holding decoded code bumps its generation */
    x_mov_rr(b, RAX, RSI);
    x_shift_imm(b, 1, SH_SHR, RAX, 12);
    x_alu_rm(b, 1, ALU_ADD, RAX, RBX, H_CODE_BIAS);
    x_cmp_byte_imm(b, RAX, 0, 0);
    uint8_t *code = x_jcc_fwd(b, CC_NE);
    add_cold(b, cs, COLD_STORE, in, idx, miss, b->p);
    add_cold(b, cs, COLD_CODE, in, idx, code, b->p);
    if (fp)
        rv64_jt_cold_back(b, fp);
}

static void emit_interp(struct x86_buf *b, const struct rv64_insn *in, unsigned idx);

/* One slow path, out of line (see struct cold). */
static void emit_cold(struct x86_buf *b, const struct cold *c)
{
    const struct rv64_insn *in = c->in;
    x_patch(b, c->site);
    if (c->site2)
        x_patch(b, c->site2);
    if (c->fp_in) /* C code may change MXCSR's flags, or the path may leave the block */
        rv64_jt_emit_fflags(b);
    switch (c->kind) {
    case COLD_LOAD:
        /* the load stub: rv64_load_slow, leaving the block on a fault; rsi = the address. The
         * value comes back zero-extended, so signed loads extend it afterwards */
        emit_note_block(b, RAX);
        x_mov_imm32(b, RDX, slow_info(in, c->idx, load_size(in->op)));
        x_call_to(b, STUB(b, st_load));
        if (in->op == OP_LB) {
            x_byte(b, 0x48); x_byte(b, 0x0f); x_byte(b, 0xbe); x_byte(b, 0xc0); /* movsx rax, al */
        } else if (in->op == OP_LH) {
            x_byte(b, 0x48); x_byte(b, 0x0f); x_byte(b, 0xbf); x_byte(b, 0xc0); /* movsx rax, ax */
        } else if (in->op == OP_LW) {
            x_movsxd(b, RAX, RAX);
        }
        if (load_dst(in) != RAX)
            x_mov_rr(b, load_dst(in), RAX);
        break;
    case COLD_STORE:
        emit_note_block(b, RAX);
        x_mov_rr(b, RCX, store_src(in));
        x_mov_imm32(b, RDX, slow_info(in, c->idx, store_size(in->op)));
        x_call_to(b, STUB(b, st_store));
        break;
    case COLD_CODE:
        x_call_to(b, STUB(b, st_code));
        break;
    case COLD_INTERP:
        emit_interp(b, in, c->idx);
        break;
    }
    if (c->fp_out)
        rv64_jt_emit_mxcsr_clear(b);
    x_jmp_to(b, c->back);
}

/* Where an ALU instruction computes its result: rd's own host register when it has one (no
 * copy through rax) and rs1's value can be put there first without losing an operand that is
 * still to be read (rd = rs2 with rs1 another register); else rax, stored to x[rd] after. */
static int alu_dst(const struct rv64_insn *in, int reads_rs2)
{
    int h = hreg(in->rd);
    return h >= 0 && !(reads_rs2 && in->rd == in->rs2 && in->rs1 != in->rs2) ? h : RAX;
}

/* dst = x[rs1] (dst = rax: the value rax may hold already, see load_rax) */
static void alu_src(struct x86_buf *b, int dst, unsigned rs1)
{
    if (dst == RAX)
        load_rax(b, rs1);
    else
        ld(b, dst, rs1);
}

/* the result in dst: sign-extended (w32), then x[rd] if it was computed in rax */
static void alu_result(struct x86_buf *b, const struct rv64_insn *in, int dst, int w32)
{
    if (w32)
        x_movsxd(b, dst, dst);
    if (dst == RAX)
        store_rax(b, in->rd);
}

/* rd = rs1 OP rs2 for the two-operand ALU ops; w32: the RV64 *W form (sign-extend 32 bits) */
static void emit_alu_rr(struct x86_buf *b, const struct rv64_insn *in, enum x86_alu alu, int w32)
{
    int dst = alu_dst(in, 1);
    alu_src(b, dst, in->rs1);
    alu_reg(b, !w32, alu, dst, in->rs2);
    alu_result(b, in, dst, w32);
}

static void emit_alu_ri(struct x86_buf *b, const struct rv64_insn *in, enum x86_alu alu, int w32)
{
    if (in->rs1 == 0 && !w32 && alu != ALU_AND) { /* li: x0 OP imm is imm */
        st_imm(b, in->rd, in->imm);
        return;
    }
    int dst = alu_dst(in, 0);
    int h1 = b->rax_prev == (int)in->rs1 ? RAX : hreg(in->rs1);
    if (alu == ALU_ADD && !w32 && dst != RAX && h1 >= 0) {
        x_lea(b, dst, h1, in->imm); /* one instruction: mv, addi between host registers */
        return;
    }
    alu_src(b, dst, in->rs1);
    if (in->imm || alu == ALU_AND)
        x_alu_ri(b, !w32, alu, dst, in->imm);
    alu_result(b, in, dst, w32);
}

static void emit_shift_rr(struct x86_buf *b, const struct rv64_insn *in, enum x86_shift sh, int w32)
{
    ld(b, RCX, in->rs2); /* x86 masks the count to 5/6 bits, as RISC-V does */
    int dst = alu_dst(in, 0); /* rs2 is in rcx already */
    alu_src(b, dst, in->rs1);
    x_shift_cl(b, !w32, sh, dst);
    alu_result(b, in, dst, w32);
}

static void emit_shift_ri(struct x86_buf *b, const struct rv64_insn *in, enum x86_shift sh, int w32)
{
    int dst = alu_dst(in, 0);
    alu_src(b, dst, in->rs1);
    x_shift_imm(b, !w32, sh, dst, (uint8_t)in->imm);
    alu_result(b, in, dst, w32);
}

/* slt, sltu: the compare in rax, the 0/1 result straight into rd's host register if it has one */
static void emit_set_rr(struct x86_buf *b, const struct rv64_insn *in, enum x86_cc cc)
{
    load_rax(b, in->rs1);
    alu_reg(b, 1, ALU_CMP, RAX, in->rs2);
    int h = hreg(in->rd);
    x_setcc(b, cc, h >= 0 ? h : RAX);
    if (h < 0)
        store_rax(b, in->rd);
}

static void emit_set_ri(struct x86_buf *b, const struct rv64_insn *in, enum x86_cc cc)
{
    load_rax(b, in->rs1);
    x_alu_ri(b, 1, ALU_CMP, RAX, in->imm);
    int h = hreg(in->rd);
    x_setcc(b, cc, h >= 0 ? h : RAX);
    if (h < 0)
        store_rax(b, in->rd);
}

/* rd = high 64 bits of the product: ext 4 = mul (unsigned), 5 = imul (signed) */
static void emit_mulh(struct x86_buf *b, const struct rv64_insn *in, int ext, int su)
{
    load_rax(b, in->rs1);
    ld(b, RCX, in->rs2);
    x_mul1(b, ext, RCX);
    if (su) { /* signed × unsigned = unsigned product − (rs1 < 0 ? rs2 << 64 : 0) */
        ld(b, RAX, in->rs1);
        x_shift_imm(b, 1, SH_SAR, RAX, 63);
        x_alu_rr(b, 1, ALU_AND, RAX, RCX);
        x_alu_rr(b, 1, ALU_SUB, RDX, RAX);
    }
    st(b, in->rd, RDX);
}

static void emit_call2(struct x86_buf *b, const struct rv64_insn *in, uint64_t (*fn)(uint64_t, uint64_t))
{
    ld(b, RDI, in->rs1);
    ld(b, RSI, in->rs2);
    call_c(b, (const void *)fn);
    store_rax(b, in->rd);
}

/* The end of a chained exit's chain path, near and far: on a jump back (to a block entry at or
 * before this block's: every cycle of chained blocks has one) the checks the run loop makes
 * before going straight on to a linked block (the timer countdown; another thread raising an
 * interrupt posts a request), whose failing jumps are added to fail[*k]; then the count
 * (instret, and no trap streak since something retired), r12 for the successor and the jump
 * into its body (patched: its rel32, which is returned). Forward jumps skip the checks: they
 * cannot run for long without a jump back or through the dispatch stub, which checks too. */
static uint8_t *emit_chain_tail(struct x86_buf *b, int64_t disp, unsigned retired, uint8_t **fail,
                                int *k)
{
    if (disp <= 0) {
        x_byte(b, 0x83); x_byte(b, 0xab); x_u32(b, (uint32_t)H_TIMER); x_byte(b, 1); /* sub dword [rbx+timer], 1 */
        fail[(*k)++] = x_jcc_fwd(b, CC_LE);
        x_byte(b, 0x83); x_byte(b, 0xbb); x_u32(b, (uint32_t)H_REQ); x_byte(b, 0);   /* cmp dword [rbx+requests], 0 */
        fail[(*k)++] = x_jcc_fwd(b, CC_NE);
    }
    /* add qword [rbx+instret], retired; mov dword [rbx+trap_streak], 0 */
    x_byte(b, 0x48); x_byte(b, 0x81); x_byte(b, 0x83); x_u32(b, (uint32_t)H_INSTRET); x_u32(b, retired);
    x_byte(b, 0xc7); x_byte(b, 0x83); x_u32(b, (uint32_t)H_STREAK); x_u32(b, 0);
    x_lea(b, R12, R12, (int32_t)disp);
    x_byte(b, 0xe9); x_u32(b, 0);                                                  /* jmp its body */
    return b->p - 4;
}

/* A block end with a constant successor on another page (pc = entry + disp), on link `link`:
 * until chained it returns to the run loop, which chains it (jit_exec.c); once chained, its
 * chain path checks what the dispatch stub would (the fetch TLB maps the target to the
 * successor's host address, whose code page is unchanged) against constants patched in, then
 * goes on as a near chained exit does (emit_chain_tail). A failed check returns to the run loop
 * too. Fixed-size encodings up to the patched constants: jit_exec.c patches them by the
 * RV64_JIT_FAR_* offsets, the final jmp by its recorded offset (chain_slots.jmps). */
static void emit_far_exit(struct x86_buf *b, struct chain_slots *cs, int64_t disp, unsigned retired,
                          int link)
{
    uint8_t *site = x_jmp_fwd(b);
    uint8_t *fail[5];
    int k = 0;
    /* lea rsi, [r12 + disp32]: the target (fixed-size encodings up to the patched fields) */
    x_byte(b, 0x49); x_byte(b, 0x8d); x_byte(b, 0xb4); x_byte(b, 0x24); x_u32(b, (uint32_t)(int32_t)disp);
    /* rdx = its fetch TLB entry: ((rsi >> 12) % TLB_SIZE) * 16 + itlb */
    x_byte(b, 0x48); x_byte(b, 0x89); x_byte(b, 0xf2);                      /* mov rdx, rsi */
    x_byte(b, 0x48); x_byte(b, 0xc1); x_byte(b, 0xea); x_byte(b, 12);       /* shr rdx, 12 */
    x_byte(b, 0x81); x_byte(b, 0xe2); x_u32(b, TLB_SIZE - 1);               /* and edx, imm32 */
    x_byte(b, 0x48); x_byte(b, 0xc1); x_byte(b, 0xe2); x_byte(b, 4);        /* shl rdx, 4 */
    x_byte(b, 0x48); x_byte(b, 0x03); x_byte(b, 0x93); x_u32(b, (uint32_t)H_ITLB); /* add rdx, [rbx+itlb] */
    /* the entry maps the target's page ... */
    x_byte(b, 0x48); x_byte(b, 0x89); x_byte(b, 0xf1);                      /* mov rcx, rsi */
    x_byte(b, 0x48); x_byte(b, 0x81); x_byte(b, 0xe1); x_u32(b, 0xfffff000u); /* and rcx, -4096 */
    x_byte(b, 0x48); x_byte(b, 0x3b); x_byte(b, 0x8a); x_u32(b, (uint32_t)(TLB_X + E_VPAGE)); /* cmp rcx, [rdx+vpage] */
    fail[k++] = x_jcc_fwd(b, CC_NE);
    /* ... to the successor's host address (patched) */
    x_byte(b, 0x48); x_byte(b, 0x03); x_byte(b, 0xb2); x_u32(b, (uint32_t)(TLB_X + E_ADD)); /* add rsi, [rdx+addend] */
    x_byte(b, 0x48); x_byte(b, 0xb9); x_u64(b, 0);                          /* mov rcx, host */
    x_byte(b, 0x48); x_byte(b, 0x39); x_byte(b, 0xce);                      /* cmp rsi, rcx */
    fail[k++] = x_jcc_fwd(b, CC_NE);
    /* the successor's code page unchanged (cell and generation patched) */
    x_byte(b, 0x48); x_byte(b, 0xb9); x_u64(b, 0);                          /* mov rcx, cell */
    x_byte(b, 0x81); x_byte(b, 0x39); x_u32(b, 0);                          /* cmp dword [rcx], gen */
    fail[k++] = x_jcc_fwd(b, CC_NE);
    assert(site + RV64_JIT_FAR_HOST == b->p - 39 && site + RV64_JIT_FAR_GEN_CELL == b->p - 20 &&
           site + RV64_JIT_FAR_GEN == b->p - 10);
    cs->jmps[link] = (uint32_t)(emit_chain_tail(b, disp, retired, fail, &k) - cs->start);
    /* unchained, or a failed check: back to the run loop, which chains it (again: to the
     * block the target maps to now, so a remapped target costs one return, not a lookup in the
     * jump cache every time) */
    for (int i = 0; i < k; i++)
        x_patch(b, fail[i]);
    x_patch(b, site);
    emit_set_pc(b, disp);
    emit_exit(b, EXIT_CODE(retired, link));
    cs->cells[link] = (uint32_t)(site - cs->start);
    cs->far |= 1u << link;
}

/* A block end with a constant successor (pc = entry + disp) on link `link`. On another page it
 * is a far exit (emit_far_exit). On the same page it has a patch site (a jmp rel32): until the
 * dispatcher chains it (jit_exec.c), the jmp goes to the plain return; once chained (the jmp
 * made a nop), it falls into the chain path, which checks that this block's code page is
 * unchanged since translation (which vouches for the successor too: chained only at the same
 * generation), then does what emit_chain_tail does (on a jump back the timer and request
 * checks; the count; r12) and jumps into the successor's body. Any failed check takes the plain
 * return, with nothing counted. pc is stored only on the way out: chained code carries it in
 * r12. jit_exec.c patches the final jmp at its recorded offset (chain_slots.jmps). */
static void emit_chain_exit(struct x86_buf *b, struct chain_slots *cs, int64_t disp, unsigned retired,
                            int link)
{
    const struct rv64_block *blk = cs->blk;
    int64_t target = (int64_t)(blk->paddr % 4096) + disp;
    if (target < 0 || target >= 4096) { /* on another page whatever the alignment of pc */
        emit_far_exit(b, cs, disp, retired, link);
        return;
    }
    uint8_t *site = x_jmp_fwd(b);
    uint8_t *fail[3];
    int k = 0;
    /* mov rcx, &page_gen[page]; cmp dword [rcx], gen; jne out */
    x_byte(b, 0x48); x_byte(b, 0xb9); x_u64(b, (uint64_t)(uintptr_t)cs->gen_cell);
    x_byte(b, 0x81); x_byte(b, 0x39); x_u32(b, blk->gen);
    fail[k++] = x_jcc_fwd(b, CC_NE);
    cs->jmps[link] = (uint32_t)(emit_chain_tail(b, disp, retired, fail, &k) - cs->start);
    /* the plain return (and, until chained, the site's target) */
    x_patch(b, site);
    for (int i = 0; i < k; i++)
        x_patch(b, fail[i]);
    emit_set_pc(b, disp);
    emit_exit(b, EXIT_CODE(retired, link));
    cs->cells[link] = (uint32_t)(site - cs->start);
}

/* the block ends here with pc = entry + target (a jump or a taken branch) or the next one */
static void emit_branch(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                        unsigned idx, enum x86_cc cc)
{
    int h1 = b->rax_prev == (int)in->rs1 ? RAX : hreg(in->rs1);
    if (h1 < 0) {
        load_rax(b, in->rs1);
        h1 = RAX;
    }
    if (in->rs2 == 0) /* against x0: test sets the flags every condition here reads as cmp with 0 */
        x_test64(b, h1, h1);
    else
        alu_reg(b, 1, ALU_CMP, h1, in->rs2);
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
    sync_regs(b, 1); /* the interpreter's handler works on x[] */
    x_call_abs(b, (const void *)rv64_jit_interp_one);
    sync_regs(b, 0);
    x_test32(b, RAX, RAX);
    uint8_t *ok = x_jcc_fwd(b, CC_NE);
    emit_exit(b, EXIT_CODE(idx, RV64_LINK_NONE));
    x_patch(b, ok);
    if (rv64_op_ends_block(in->op)) {
        /* it set pc and its link; eax = link + 2 */
        x_alu_ri(b, 0, ALU_SUB, RAX, 1);
        x_alu_ri(b, 0, ALU_OR, RAX, (int32_t)EXIT_CODE(idx + 1, -1));
        emit_note_block(b, RCX);
        x_jmp_to(b, STUB(b, st_epilogue));
    }
}

/* the translator's pieces jit_fp_emit.c uses (jit_translate.h) */
struct cold *rv64_jt_add_cold(const struct x86_buf *b, struct chain_slots *cs, int kind,
                              const struct rv64_insn *in, unsigned idx, uint8_t *site, uint8_t *back)
{
    return add_cold(b, cs, kind, in, idx, site, back);
}
void rv64_jt_cold_back(const struct x86_buf *b, struct cold *c)
{
    c->back = b->p;
    c->fp_out = (uint8_t)b->fp_pending;
}
void rv64_jt_ld(struct x86_buf *b, int dst, unsigned r) { ld(b, dst, r); }
void rv64_jt_st(struct x86_buf *b, unsigned rd, int src) { st(b, rd, src); }
void rv64_jt_interp(struct x86_buf *b, const struct rv64_insn *in, unsigned idx) { emit_interp(b, in, idx); }
void rv64_jt_call_c(struct x86_buf *b, const void *fn) { call_c(b, fn); }

/* A CSR read (csrrs/csrrc rd, csr, x0 or 0: nothing written): a direct call that reads it, then
 * the block ends as the interpreter ends it after a CSR instruction, but linked to the next
 * instruction's block (a read changes nothing the run loop must look at, so a loop polling
 * time or cycle runs chained). An inaccessible CSR goes out of line to the interpreter's
 * handler, which raises the illegal instruction. [rsp] is the body's scratch slot. */
static void emit_csr_read(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                          unsigned idx)
{
    x_mov_rr(b, RDI, RBX);
    x_mov_imm32(b, RSI, (uint32_t)in->imm & 0xfff);
    x_mov_imm32(b, RDX, idx);
    x_lea(b, RCX, RSP, 0);
    call_c(b, (const void *)rv64_jit_csr_read);
    x_test32(b, RAX, RAX);
    uint8_t *bad = x_jcc_fwd(b, CC_E);
    add_cold(b, cs, COLD_INTERP, in, idx, bad, b->p);
    x_mov_load(b, RAX, RSP, 0);
    st(b, in->rd, RAX);
    emit_chain_exit(b, cs, (int64_t)in->off + in->len, idx + 1, RV64_LINK_NEXT);
}

/* 1 if the instruction's code neither calls C on its fast path nor leaves the block: inline FP
 * flags may stay pending in MXCSR across it, and mstatus.FS stays as it was */
static int stays_inline(const struct rv64_insn *in)
{
    switch (in->op) {
    case OP_LUI: case OP_AUIPC:
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
    case OP_SB: case OP_SH: case OP_SW: case OP_SD:
    case OP_ADDI: case OP_SLTI: case OP_SLTIU: case OP_XORI: case OP_ORI: case OP_ANDI:
    case OP_SLLI: case OP_SRLI: case OP_SRAI: case OP_ADD: case OP_SUB: case OP_SLL: case OP_SLT:
    case OP_SLTU: case OP_XOR: case OP_SRL: case OP_SRA: case OP_OR: case OP_AND:
    case OP_ADDIW: case OP_SLLIW: case OP_SRLIW: case OP_SRAIW: case OP_ADDW: case OP_SUBW:
    case OP_SLLW: case OP_SRLW: case OP_SRAW: case OP_MUL: case OP_MULW: case OP_MULH:
    case OP_MULHU: case OP_MULHSU: case OP_FENCE:
    case OP_FLW: case OP_FLD: case OP_FSW: case OP_FSD:
        return 1;
    default:
        return rv64_jt_fp_inline(in);
    }
}

/* Emits one instruction; returns 1 if it ended the block. */
static int emit_insn(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in, unsigned idx)
{
    if (!stays_inline(in)) {
        if (b->fp_pending) { /* before C runs or the block is left: see jit_fp_emit.c */
            rv64_jt_emit_fflags(b);
            b->fp_pending = 0;
            b->rax_is = -1;
        }
        b->fs_dirty = 0; /* the interpreter's handler may write mstatus */
    }
    b->rax_prev = b->rax_is;
    b->rax_is = -1;
    switch (in->op) {
    case OP_LUI: st_imm(b, in->rd, in->imm); return 0;
    case OP_AUIPC: /* imm is a 32-bit value with its low 12 bits clear: + off fits */
        x_lea(b, hreg(in->rd) >= 0 ? hreg(in->rd) : RAX, R12, (int32_t)((int64_t)in->imm + in->off));
        if (hreg(in->rd) < 0)
            store_rax(b, in->rd);
        return 0;
    case OP_JAL:
        x_lea(b, RAX, R12, (int32_t)(in->off + in->len));
        store_rax(b, in->rd);
        emit_chain_exit(b, cs, (int64_t)in->off + in->imm, idx + 1, RV64_LINK_JUMP);
        return 1;
    case OP_JALR: /* the target is read before rd is written: rd may be rs1 */
    {
        int h1 = b->rax_prev == (int)in->rs1 ? RAX : hreg(in->rs1);
        if (h1 >= 0) {
            x_lea(b, RSI, h1, in->imm);
        } else {
            x_mov_load(b, RSI, RBX, XO(in->rs1));
            x_alu_ri(b, 1, ALU_ADD, RSI, in->imm);
        }
        x_alu_ri(b, 1, ALU_AND, RSI, -2); /* the target: pc, stored by the stub if it leaves */
        x_lea(b, RCX, R12, (int32_t)(in->off + in->len));
        st(b, in->rd, RCX);
        /* indirect: the jump cache finds the target's translation (dispatch stub) */
        emit_dispatch(b, EXIT_CODE(idx + 1, RV64_LINK_JUMP));
        return 1;
    }
    case OP_BEQ: emit_branch(b, cs, in, idx, CC_E); return 1;
    case OP_BNE: emit_branch(b, cs, in, idx, CC_NE); return 1;
    case OP_BLT: emit_branch(b, cs, in, idx, CC_L); return 1;
    case OP_BGE: emit_branch(b, cs, in, idx, CC_GE); return 1;
    case OP_BLTU: emit_branch(b, cs, in, idx, CC_B); return 1;
    case OP_BGEU: emit_branch(b, cs, in, idx, CC_AE); return 1;
    case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
        emit_load(b, cs, in, idx);
        return 0;
    case OP_SB: case OP_SH: case OP_SW: case OP_SD: emit_store(b, cs, in, idx); return 0;
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
        load_rax(b, in->rs1);
        ld(b, RCX, in->rs2);
        x_imul_rr(b, !w32, RAX, RCX);
        if (w32)
            x_movsxd(b, RAX, RAX);
        store_rax(b, in->rd);
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
    case OP_CSRRS: case OP_CSRRC: case OP_CSRRSI: case OP_CSRRCI:
        if (in->rs1 != 0)
            break; /* writes: the interpreter's handler (below) */
        emit_csr_read(b, cs, in, idx);
        return 1;
    case OP_FLW: case OP_FLD: emit_load(b, cs, in, idx); return 0;
    case OP_FSW: case OP_FSD: emit_store(b, cs, in, idx); return 0;
    case OP_FMV_X_D: case OP_FMV_X_W: case OP_FMV_D_X: case OP_FMV_W_X: case OP_FSGNJ_D:
    case OP_FSGNJN_D: case OP_FSGNJX_D:
        rv64_jt_emit_fp(b, cs, in, idx);
        return 0;
    default:
        if (rv64_jit_fp_op(in->op)) {
            rv64_jt_emit_fp(b, cs, in, idx);
            return 0;
        }
        break;
    }
    emit_interp(b, in, idx);
    return rv64_op_ends_block(in->op);
}

int rv64_jit_translate(struct rv64_hart *h, struct rv64_block *blk)
{
    struct rv64_jit *j = h->jit;
    size_t at = (j->used + 15) & ~(size_t)15; /* aligned entries help the host's decoder */
    if (at + 2 * MAX_INSN_CODE > j->size)
        return 0;
    /* emitted in place: nothing is committed (used) unless the whole block fits */
    struct x86_buf buf = { j->rw + at, j->rw + at, j->rw + j->size, j, -1, -1, 0, 0, 0 };
    struct x86_buf *b = &buf;
    struct chain_slots cs = { .blk = blk, .start = buf.start, .gen_cell = &h->page_gen[blk->page] };
    b->blk = (uint64_t)(uintptr_t)blk;
    emit_prologue(b);
    unsigned i;
    for (i = 0; i < blk->count; i++) {
        if (b->p + MAX_INSN_CODE > b->end)
            return 0;
        if (emit_insn(b, &cs, &blk->insns[i], i))
            break;
    }
    if (i == blk->count) { /* fell off the end (instruction limit or page end) */
        if (b->p + MAX_INSN_CODE > b->end)
            return 0;
        if (b->fp_pending)
            rv64_jt_emit_fflags(b);
        emit_chain_exit(b, &cs, blk->insns[blk->count].off, blk->count, RV64_LINK_NEXT);
    }
    size_t cold_bytes = 16;
    for (unsigned k = 0; k < cs.ncold; k++)
        cold_bytes += (cs.cold[k].kind == COLD_INTERP ? 320 : 80) +
                      (cs.cold[k].fp_in || cs.cold[k].fp_out ? 80 : 0);
    if (b->p + cold_bytes > b->end)
        return 0;
    for (unsigned k = 0; k < cs.ncold; k++)
        emit_cold(b, &cs.cold[k]);
    size_t len = (size_t)(b->p - b->start);
    j->used = at + len;
    for (int l = 0; l < 2; l++) {
        blk->jit_cell[l] = (uint16_t)cs.cells[l];
        blk->jit_jmp[l] = (uint16_t)cs.jmps[l];
    }
    blk->jit_far = (uint8_t)cs.far;
    blk->jit_code = j->rx + at;
    j->blocks++;
    j->code_bytes += len;
    j->guest_insns += blk->count;
    return 1;
}

/* The shared stubs. Conventions as in translated code: rbx = the hart, r12 = the running
 * block's entry pc, rsp 16-byte aligned in a block's body (so 8 off inside a called stub). */
void rv64_jit_emit_stubs(struct rv64_jit *j)
{
    struct x86_buf buf = { j->rw, j->rw, j->rw + j->size, j, -1, -1, 0, 0, 0 };
    struct x86_buf *b = &buf;
    uint8_t scratch[64];
    struct x86_buf pro = { scratch, scratch, scratch + sizeof(scratch), j, -1, -1, 0, 0, 0 };
    emit_prologue(&pro);
    j->body_off = (uint32_t)(pro.p - pro.start);
#define HERE() ((uint32_t)(b->p - b->start))
#define ALIGN() do { while (HERE() % 16) x_byte(b, 0xcc); } while (0)

    /* epilogue: eax = the exit code. Which block ran last: every way here stored it in
     * h->last_block (emit_note_block); its entry pc is r12 (chaining changes it), stored here */
    j->st_epilogue = HERE();
    x_mov_store(b, RBX, H_LAST_PC, R12);
    sync_regs(b, 1);
    x_alu_ri(b, 1, ALU_ADD, RSP, 8);
    x_pop(b, R15);
    x_pop(b, R14);
    x_pop(b, RBP);
    x_pop(b, R13);
    x_pop(b, R12);
    x_pop(b, RBX);
    x_ret(b);

    /* dispatch (called from an exit): eax = the exit code, rsi = the new pc. If nothing needs
     * the run loop (the chained exits' timer and request checks) and the jump cache's entry for
     * pc is a translated block that is still good (rv64_lookup_block's own hit test: no code
     * written since the entry was made, the fetch TLB maps pc to the block's host address),
     * counts the instructions and returns rcx = where to go on (the block's body); else leaves
     * the block returning eax, with only h->pc set. Every load is from the hart, the entry or
     * the TLB entry: none waits for another but for the two entries' addresses. */
    ALIGN();
    j->st_dispatch = HERE();
    x_alu_mi(b, 0, ALU_CMP, RBX, H_TIMER, 1);
    uint8_t *d1 = x_jcc_fwd(b, CC_LE);
    x_alu_mi(b, 0, ALU_CMP, RBX, H_REQ, 0);
    uint8_t *d2 = x_jcc_fwd(b, CC_NE);
    x_mov_rr(b, RDX, RSI);                               /* rdx = the jump cache entry */
    x_shift_imm(b, 1, SH_SHR, RDX, 1);
    x_alu_ri(b, 0, ALU_AND, RDX, JC_SIZE - 1);
    x_shift_imm(b, 1, SH_SHL, RDX, 5);
    x_alu_rm(b, 1, ALU_ADD, RDX, RBX, H_JC);
    x_mov_rr(b, RDI, RSI);                               /* rdi = the fetch TLB entry */
    x_shift_imm(b, 1, SH_SHR, RDI, 12);
    x_alu_ri(b, 0, ALU_AND, RDI, TLB_SIZE - 1);
    x_shift_imm(b, 1, SH_SHL, RDI, 4);
    x_alu_rm(b, 1, ALU_ADD, RDI, RBX, H_ITLB);
    x_alu_rm(b, 1, ALU_CMP, RSI, RDX, JC_VPC);
    uint8_t *d3 = x_jcc_fwd(b, CC_NE);
    x_mov_load(b, RCX, RBX, H_CODE_EPOCH);
    x_op_mem(b, 0, 0x8b, RCX, RCX, 0);                   /* ecx = code_epoch */
    x_alu_rm(b, 0, ALU_CMP, RCX, RBX, H_JC_EPOCH);
    uint8_t *d4 = x_jcc_fwd(b, CC_NE);
    x_mov_rr(b, RCX, RSI);
    x_alu_ri(b, 1, ALU_AND, RCX, -4096);
    x_alu_rm(b, 1, ALU_CMP, RCX, RDI, TLB_X + E_VPAGE);
    uint8_t *d5 = x_jcc_fwd(b, CC_NE);
    x_mov_rr(b, RCX, RSI);
    x_alu_rm(b, 1, ALU_ADD, RCX, RDI, TLB_X + E_ADD);
    x_alu_rm(b, 1, ALU_CMP, RCX, RDX, JC_HOST);
    uint8_t *d6 = x_jcc_fwd(b, CC_NE);
    x_mov_load(b, RCX, RDX, JC_CODE);
    x_test64(b, RCX, RCX);
    uint8_t *d7 = x_jcc_fwd(b, CC_E);
    x_alu_mi(b, 0, ALU_SUB, RBX, H_TIMER, 1);
    x_mov_rr(b, RDX, RAX);
    x_shift_imm(b, 0, SH_SHR, RDX, 8);
    x_op_mem(b, 1, 0x01, RDX, RBX, H_INSTRET);           /* add [rbx+instret], rdx */
    x_mov_store_imm_d(b, RBX, H_STREAK, 0);
    x_mov_rr(b, R12, RSI);
    x_alu_ri(b, 1, ALU_ADD, RCX, (int32_t)j->body_off);
    x_ret(b);
    uint8_t *bails[] = { d1, d2, d3, d4, d5, d6, d7 };
    for (unsigned k = 0; k < sizeof(bails) / sizeof(bails[0]); k++)
        x_patch(b, bails[k]);
    x_mov_store(b, RBX, H_PC, RSI);
    x_alu_ri(b, 1, ALU_ADD, RSP, 8);
    x_jmp_to(b, b->start + j->st_epilogue);

    /* load slow path: rsi = the address, edx = slow_info. Returns the value (zero-extended)
     * in rax; on a fault leaves the block from here (the trap is taken, pc set). */
    ALIGN();
    j->st_load = HERE();
    for (int store = 0; store < 2; store++) {
        if (store) {
            /* store slow path: rsi = the address, rcx = the value, edx = slow_info */
            ALIGN();
            j->st_store = HERE();
        }
        /* r8-r11 hold guest registers (hreg): saved here, restored on both ways out (the
         * fault path leaves through the epilogue, which writes them back to x[]) */
        x_push(b, R8);
        x_push(b, R9);
        x_push(b, R10);
        x_push(b, R11);
        x_push(b, RDX);
        x_alu_ri(b, 1, ALU_SUB, RSP, 16);
        x_mov_rr(b, RAX, RDX);
        x_shift_imm(b, 0, SH_SHR, RAX, 16);
        x_alu_rr(b, 1, ALU_ADD, RAX, R12);
        x_mov_store(b, RBX, H_PC, RAX);
        x_mov_rr(b, RDI, RBX);
        x_alu_ri(b, 0, ALU_AND, RDX, 0xff);
        if (!store)
            x_mov_rr(b, RCX, RSP); /* rv64_load_slow(h, addr, size, &value on the stack) */
        x_call_abs(b, store ? (const void *)rv64_store_slow : (const void *)rv64_load_slow);
        x_byte(b, 0x84);
        x_byte(b, 0xc0); /* test al, al */
        uint8_t *fault = x_jcc_fwd(b, CC_E);
        if (!store)
            x_mov_load(b, RAX, RSP, 0);
        x_alu_ri(b, 1, ALU_ADD, RSP, 24);
        x_pop(b, R11);
        x_pop(b, R10);
        x_pop(b, R9);
        x_pop(b, R8);
        x_ret(b);
        x_patch(b, fault);
        x_op_mem(b, 0, 0x8b, RAX, RSP, 16);              /* eax = slow_info */
        x_alu_ri(b, 0, ALU_AND, RAX, 0xff00);            /* = EXIT_CODE(index, none) */
        x_alu_ri(b, 1, ALU_ADD, RSP, 24);
        x_pop(b, R11);
        x_pop(b, R10);
        x_pop(b, R9);
        x_pop(b, R8);
        x_alu_ri(b, 1, ALU_ADD, RSP, 8);                 /* and the return address */
        x_jmp_to(b, b->start + j->st_epilogue);
    }

    /* a fast-path store wrote a page holding decoded code (rsi = the host address):
     * rv64_code_written bumps its generation, as note_store (exec.c) does */
    ALIGN();
    j->st_code = HERE();
    x_mov_load(b, RCX, RBX, H_M);
    x_mov_rr(b, RDX, RSI);
    x_alu_rm(b, 1, ALU_SUB, RDX, RCX, M_RAM);
    x_shift_imm(b, 1, SH_SHR, RDX, 12);
    x_alu_ri(b, 1, ALU_SUB, RSP, 8);
    x_mov_rr(b, RDI, RCX);
    x_mov_rr(b, RSI, RDX);
    call_c(b, (const void *)rv64_code_written);
    x_alu_ri(b, 1, ALU_ADD, RSP, 8);
    x_ret(b);
#undef HERE
#undef ALIGN
    j->stubs_end = (uint32_t)(b->p - b->start);
    j->used = j->stubs_end;
}
