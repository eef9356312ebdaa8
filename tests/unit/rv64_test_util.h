/* rv64_test_util.h — shared helpers for the rv64 CPU unit tests: instruction encoders, a
 * one-hart machine with RAM at 0x80000000 and an empty bus, and run-until-sentinel helpers.
 *
 * Every test suite that includes this uses the global machine below through
 * `TestSuite(name, .init = rv_setup, .fini = rv_teardown)`. Criterion runs each test in its own
 * process, so the globals are per test. */
#ifndef KILN_TESTS_RV64_TEST_UTIL_H
#define KILN_TESTS_RV64_TEST_UTIL_H
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/rv64/csr_bits.h"
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/ops.h"
#include "vm/guest_ram.h"

/* ---------------------------------------------------------------- register names */
enum {
    ZERO = 0, RA = 1, SP = 2, GP = 3, TP = 4, T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9,
    A0 = 10, A1 = 11, A2 = 12, A3 = 13, A4 = 14, A5 = 15, A6 = 16, A7 = 17,
    S2 = 18, S3 = 19, S4 = 20, S5 = 21, T3 = 28, T4 = 29, T5 = 30, T6 = 31,
};

/* ---------------------------------------------------------------- raw encoders */
static inline uint32_t enc_r(uint32_t funct7, uint32_t rs2, uint32_t rs1, uint32_t funct3, uint32_t rd,
                             uint32_t opcode)
{
    return (funct7 & 0x7f) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 | (funct3 & 7) << 12 |
           (rd & 31) << 7 | (opcode & 0x7f);
}

static inline uint32_t enc_r4(uint32_t rs3, uint32_t fmt, uint32_t rs2, uint32_t rs1, uint32_t rm,
                              uint32_t rd, uint32_t opcode)
{
    return (rs3 & 31) << 27 | (fmt & 3) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 | (rm & 7) << 12 |
           (rd & 31) << 7 | (opcode & 0x7f);
}

static inline uint32_t enc_i(int32_t imm, uint32_t rs1, uint32_t funct3, uint32_t rd, uint32_t opcode)
{
    return ((uint32_t)imm & 0xfff) << 20 | (rs1 & 31) << 15 | (funct3 & 7) << 12 | (rd & 31) << 7 |
           (opcode & 0x7f);
}

static inline uint32_t enc_s(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t funct3, uint32_t opcode)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5) & 0x7f) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 | (funct3 & 7) << 12 |
           (u & 31) << 7 | (opcode & 0x7f);
}

/* imm is the byte offset (even, -4096..4094) */
static inline uint32_t enc_b(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t funct3, uint32_t opcode)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 |
           (funct3 & 7) << 12 | ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | (opcode & 0x7f);
}

/* imm is the full 32-bit value whose upper 20 bits go into the instruction (e.g. 0x12345000) */
static inline uint32_t enc_u(uint32_t imm, uint32_t rd, uint32_t opcode)
{
    return (imm & 0xfffff000u) | (rd & 31) << 7 | (opcode & 0x7f);
}

/* imm is the byte offset (even, -1 MiB..1 MiB-2) */
static inline uint32_t enc_j(int32_t imm, uint32_t rd, uint32_t opcode)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | (rd & 31) << 7 | (opcode & 0x7f);
}

/* ---------------------------------------------------------------- instructions */
#define OPC_LOAD 0x03
#define OPC_LOAD_FP 0x07
#define OPC_MISC_MEM 0x0f
#define OPC_OP_IMM 0x13
#define OPC_AUIPC 0x17
#define OPC_OP_IMM_32 0x1b
#define OPC_STORE 0x23
#define OPC_STORE_FP 0x27
#define OPC_AMO 0x2f
#define OPC_OP 0x33
#define OPC_LUI 0x37
#define OPC_OP_32 0x3b
#define OPC_OP_FP 0x53
#define OPC_BRANCH 0x63
#define OPC_JALR 0x67
#define OPC_JAL 0x6f
#define OPC_SYSTEM 0x73

static inline uint32_t i_lui(unsigned rd, uint32_t imm) { return enc_u(imm, rd, OPC_LUI); }
static inline uint32_t i_auipc(unsigned rd, uint32_t imm) { return enc_u(imm, rd, OPC_AUIPC); }
static inline uint32_t i_jal(unsigned rd, int32_t off) { return enc_j(off, rd, OPC_JAL); }
static inline uint32_t i_jalr(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, OPC_JALR); }
static inline uint32_t i_beq(unsigned a, unsigned b, int32_t off) { return enc_b(off, b, a, 0, OPC_BRANCH); }
static inline uint32_t i_bne(unsigned a, unsigned b, int32_t off) { return enc_b(off, b, a, 1, OPC_BRANCH); }
static inline uint32_t i_blt(unsigned a, unsigned b, int32_t off) { return enc_b(off, b, a, 4, OPC_BRANCH); }
static inline uint32_t i_bge(unsigned a, unsigned b, int32_t off) { return enc_b(off, b, a, 5, OPC_BRANCH); }
static inline uint32_t i_bltu(unsigned a, unsigned b, int32_t off) { return enc_b(off, b, a, 6, OPC_BRANCH); }
static inline uint32_t i_bgeu(unsigned a, unsigned b, int32_t off) { return enc_b(off, b, a, 7, OPC_BRANCH); }

static inline uint32_t i_lb(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, OPC_LOAD); }
static inline uint32_t i_lh(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 1, rd, OPC_LOAD); }
static inline uint32_t i_lw(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 2, rd, OPC_LOAD); }
static inline uint32_t i_ld(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 3, rd, OPC_LOAD); }
static inline uint32_t i_lbu(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 4, rd, OPC_LOAD); }
static inline uint32_t i_lhu(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 5, rd, OPC_LOAD); }
static inline uint32_t i_lwu(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 6, rd, OPC_LOAD); }
static inline uint32_t i_sb(unsigned rs2, unsigned rs1, int32_t imm) { return enc_s(imm, rs2, rs1, 0, OPC_STORE); }
static inline uint32_t i_sh(unsigned rs2, unsigned rs1, int32_t imm) { return enc_s(imm, rs2, rs1, 1, OPC_STORE); }
static inline uint32_t i_sw(unsigned rs2, unsigned rs1, int32_t imm) { return enc_s(imm, rs2, rs1, 2, OPC_STORE); }
static inline uint32_t i_sd(unsigned rs2, unsigned rs1, int32_t imm) { return enc_s(imm, rs2, rs1, 3, OPC_STORE); }

static inline uint32_t i_addi(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, OPC_OP_IMM); }
static inline uint32_t i_slti(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 2, rd, OPC_OP_IMM); }
static inline uint32_t i_sltiu(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 3, rd, OPC_OP_IMM); }
static inline uint32_t i_xori(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 4, rd, OPC_OP_IMM); }
static inline uint32_t i_ori(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 6, rd, OPC_OP_IMM); }
static inline uint32_t i_andi(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 7, rd, OPC_OP_IMM); }
static inline uint32_t i_slli(unsigned rd, unsigned rs1, unsigned sh) { return enc_i((int32_t)(sh & 63), rs1, 1, rd, OPC_OP_IMM); }
static inline uint32_t i_srli(unsigned rd, unsigned rs1, unsigned sh) { return enc_i((int32_t)(sh & 63), rs1, 5, rd, OPC_OP_IMM); }
static inline uint32_t i_srai(unsigned rd, unsigned rs1, unsigned sh) { return enc_i((int32_t)(0x400 | (sh & 63)), rs1, 5, rd, OPC_OP_IMM); }
static inline uint32_t i_addiw(unsigned rd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 0, rd, OPC_OP_IMM_32); }
static inline uint32_t i_slliw(unsigned rd, unsigned rs1, unsigned sh) { return enc_i((int32_t)(sh & 31), rs1, 1, rd, OPC_OP_IMM_32); }
static inline uint32_t i_srliw(unsigned rd, unsigned rs1, unsigned sh) { return enc_i((int32_t)(sh & 31), rs1, 5, rd, OPC_OP_IMM_32); }
static inline uint32_t i_sraiw(unsigned rd, unsigned rs1, unsigned sh) { return enc_i((int32_t)(0x400 | (sh & 31)), rs1, 5, rd, OPC_OP_IMM_32); }

#define RTYPE(name, f7, f3, opc) \
    static inline uint32_t i_##name(unsigned rd, unsigned rs1, unsigned rs2) { return enc_r(f7, rs2, rs1, f3, rd, opc); }
RTYPE(add, 0x00, 0, OPC_OP) RTYPE(sub, 0x20, 0, OPC_OP) RTYPE(sll, 0x00, 1, OPC_OP)
RTYPE(slt, 0x00, 2, OPC_OP) RTYPE(sltu, 0x00, 3, OPC_OP) RTYPE(xor, 0x00, 4, OPC_OP)
RTYPE(srl, 0x00, 5, OPC_OP) RTYPE(sra, 0x20, 5, OPC_OP) RTYPE(or, 0x00, 6, OPC_OP)
RTYPE(and, 0x00, 7, OPC_OP)
RTYPE(addw, 0x00, 0, OPC_OP_32) RTYPE(subw, 0x20, 0, OPC_OP_32) RTYPE(sllw, 0x00, 1, OPC_OP_32)
RTYPE(srlw, 0x00, 5, OPC_OP_32) RTYPE(sraw, 0x20, 5, OPC_OP_32)
RTYPE(mul, 0x01, 0, OPC_OP) RTYPE(mulh, 0x01, 1, OPC_OP) RTYPE(mulhsu, 0x01, 2, OPC_OP)
RTYPE(mulhu, 0x01, 3, OPC_OP) RTYPE(div, 0x01, 4, OPC_OP) RTYPE(divu, 0x01, 5, OPC_OP)
RTYPE(rem, 0x01, 6, OPC_OP) RTYPE(remu, 0x01, 7, OPC_OP)
RTYPE(mulw, 0x01, 0, OPC_OP_32) RTYPE(divw, 0x01, 4, OPC_OP_32) RTYPE(divuw, 0x01, 5, OPC_OP_32)
RTYPE(remw, 0x01, 6, OPC_OP_32) RTYPE(remuw, 0x01, 7, OPC_OP_32)
#undef RTYPE

#define I_ECALL 0x00000073u
#define I_EBREAK 0x00100073u
#define I_MRET 0x30200073u
#define I_SRET 0x10200073u
#define I_WFI 0x10500073u
#define I_FENCE 0x0ff0000fu
#define I_FENCE_I 0x0000100fu
#define I_J_SELF 0x0000006fu /* j . */
#define I_NOP 0x00000013u
static inline uint32_t i_sfence_vma(unsigned rs1, unsigned rs2) { return enc_r(0x09, rs2, rs1, 0, 0, OPC_SYSTEM); }

static inline uint32_t i_csrrw(unsigned rd, unsigned csr, unsigned rs1) { return enc_i((int32_t)csr, rs1, 1, rd, OPC_SYSTEM); }
static inline uint32_t i_csrrs(unsigned rd, unsigned csr, unsigned rs1) { return enc_i((int32_t)csr, rs1, 2, rd, OPC_SYSTEM); }
static inline uint32_t i_csrrc(unsigned rd, unsigned csr, unsigned rs1) { return enc_i((int32_t)csr, rs1, 3, rd, OPC_SYSTEM); }
static inline uint32_t i_csrrwi(unsigned rd, unsigned csr, unsigned uimm) { return enc_i((int32_t)csr, uimm, 5, rd, OPC_SYSTEM); }
static inline uint32_t i_csrrsi(unsigned rd, unsigned csr, unsigned uimm) { return enc_i((int32_t)csr, uimm, 6, rd, OPC_SYSTEM); }
static inline uint32_t i_csrrci(unsigned rd, unsigned csr, unsigned uimm) { return enc_i((int32_t)csr, uimm, 7, rd, OPC_SYSTEM); }
static inline uint32_t i_csrr(unsigned rd, unsigned csr) { return i_csrrs(rd, csr, 0); }
static inline uint32_t i_csrw(unsigned csr, unsigned rs1) { return i_csrrw(0, csr, rs1); }

/* A extension: funct5 values */
#define AMO_ADD 0x00
#define AMO_SWAP 0x01
#define AMO_LR 0x02
#define AMO_SC 0x03
#define AMO_XOR 0x04
#define AMO_OR 0x08
#define AMO_AND 0x0c
#define AMO_MIN 0x10
#define AMO_MAX 0x14
#define AMO_MINU 0x18
#define AMO_MAXU 0x1c
/* width: 2 = .W, 3 = .D */
static inline uint32_t i_amo(unsigned funct5, unsigned width, unsigned rd, unsigned rs1, unsigned rs2)
{
    return enc_r(funct5 << 2, rs2, rs1, width, rd, OPC_AMO);
}
static inline uint32_t i_lr_w(unsigned rd, unsigned rs1) { return i_amo(AMO_LR, 2, rd, rs1, 0); }
static inline uint32_t i_lr_d(unsigned rd, unsigned rs1) { return i_amo(AMO_LR, 3, rd, rs1, 0); }
static inline uint32_t i_sc_w(unsigned rd, unsigned rs2, unsigned rs1) { return i_amo(AMO_SC, 2, rd, rs1, rs2); }
static inline uint32_t i_sc_d(unsigned rd, unsigned rs2, unsigned rs1) { return i_amo(AMO_SC, 3, rd, rs1, rs2); }

/* F/D */
#define RM_RNE 0
#define RM_RTZ 1
#define RM_RDN 2
#define RM_RUP 3
#define RM_RMM 4
#define RM_DYN 7
static inline uint32_t i_flw(unsigned frd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 2, frd, OPC_LOAD_FP); }
static inline uint32_t i_fld(unsigned frd, unsigned rs1, int32_t imm) { return enc_i(imm, rs1, 3, frd, OPC_LOAD_FP); }
static inline uint32_t i_fsw(unsigned frs2, unsigned rs1, int32_t imm) { return enc_s(imm, frs2, rs1, 2, OPC_STORE_FP); }
static inline uint32_t i_fsd(unsigned frs2, unsigned rs1, int32_t imm) { return enc_s(imm, frs2, rs1, 3, OPC_STORE_FP); }
/* OP-FP with funct7 and the rs2 field (used as a sub-opcode by conversions) */
static inline uint32_t i_opfp(unsigned funct7, unsigned rd, unsigned rs1, unsigned rs2, unsigned rm)
{
    return enc_r(funct7, rs2, rs1, rm, rd, OPC_OP_FP);
}
static inline uint32_t i_fadd_s(unsigned rd, unsigned a, unsigned b, unsigned rm) { return i_opfp(0x00, rd, a, b, rm); }
static inline uint32_t i_fadd_d(unsigned rd, unsigned a, unsigned b, unsigned rm) { return i_opfp(0x01, rd, a, b, rm); }
static inline uint32_t i_fmul_d(unsigned rd, unsigned a, unsigned b, unsigned rm) { return i_opfp(0x09, rd, a, b, rm); }
static inline uint32_t i_fdiv_d(unsigned rd, unsigned a, unsigned b, unsigned rm) { return i_opfp(0x0d, rd, a, b, rm); }
static inline uint32_t i_fmv_x_w(unsigned rd, unsigned frs1) { return i_opfp(0x70, rd, frs1, 0, 0); }
static inline uint32_t i_fmv_x_d(unsigned rd, unsigned frs1) { return i_opfp(0x71, rd, frs1, 0, 0); }
static inline uint32_t i_fmv_w_x(unsigned frd, unsigned rs1) { return i_opfp(0x78, frd, rs1, 0, 0); }
static inline uint32_t i_fmv_d_x(unsigned frd, unsigned rs1) { return i_opfp(0x79, frd, rs1, 0, 0); }
static inline uint32_t i_fcvt_w_d(unsigned rd, unsigned frs1, unsigned rm) { return i_opfp(0x61, rd, frs1, 0, rm); }
static inline uint32_t i_fcvt_l_d(unsigned rd, unsigned frs1, unsigned rm) { return i_opfp(0x61, rd, frs1, 2, rm); }
static inline uint32_t i_fcvt_w_s(unsigned rd, unsigned frs1, unsigned rm) { return i_opfp(0x60, rd, frs1, 0, rm); }
static inline uint32_t i_fcvt_d_l(unsigned frd, unsigned rs1, unsigned rm) { return i_opfp(0x69, frd, rs1, 2, rm); }
static inline uint32_t i_fcvt_d_w(unsigned frd, unsigned rs1, unsigned rm) { return i_opfp(0x69, frd, rs1, 0, rm); }
static inline uint32_t i_feq_d(unsigned rd, unsigned a, unsigned b) { return i_opfp(0x51, rd, a, b, 2); }
static inline uint32_t i_flt_d(unsigned rd, unsigned a, unsigned b) { return i_opfp(0x51, rd, a, b, 1); }

/* ---------------------------------------------------------------- compressed encoders */
/* Only the few the execution tests need; the decode tests use assembler-produced words. */
static inline uint16_t c_li(unsigned rd, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return (uint16_t)(0x4001 | ((u >> 5) & 1) << 12 | (rd & 31) << 7 | (u & 31) << 2);
}
static inline uint16_t c_mv(unsigned rd, unsigned rs2) { return (uint16_t)(0x8002 | (rd & 31) << 7 | (rs2 & 31) << 2); }
#define C_NOP 0x0001u
#define C_J_SELF 0xa001u /* c.j . */

/* ---------------------------------------------------------------- machine */
#define RAM_BASE 0x80000000ull
#define RAM_SIZE (16ull << 20)
#define MTRAP_PC 0x80001000ull /* M-mode trap handler: `j .` */
#define STRAP_PC 0x80001100ull /* S-mode trap handler: `j .` */
#define DATA 0x80010000ull     /* scratch data area */

__attribute__((unused)) static struct guest_ram RAM;
__attribute__((unused)) static struct rv64_machine M;
__attribute__((unused)) static struct bus BUS;
__attribute__((unused)) static struct rv64_hart *H;
__attribute__((unused)) static uint64_t CUR; /* where emit() puts the next instruction */

static inline void put32(uint64_t paddr, uint32_t w) { memcpy(rv64_ram_ptr(&M, paddr), &w, 4); }
static inline void put16(uint64_t paddr, uint16_t w) { memcpy(rv64_ram_ptr(&M, paddr), &w, 2); }
static inline void put64(uint64_t paddr, uint64_t v) { memcpy(rv64_ram_ptr(&M, paddr), &v, 8); }
static inline uint64_t get64(uint64_t paddr) { uint64_t v; memcpy(&v, rv64_ram_ptr(&M, paddr), 8); return v; }
static inline uint32_t get32(uint64_t paddr) { uint32_t v; memcpy(&v, rv64_ram_ptr(&M, paddr), 4); return v; }
static inline uint16_t get16(uint64_t paddr) { uint16_t v; memcpy(&v, rv64_ram_ptr(&M, paddr), 2); return v; }
static inline uint8_t get8(uint64_t paddr) { return *(uint8_t *)rv64_ram_ptr(&M, paddr); }

static inline void org(uint64_t paddr) { CUR = paddr; }
static inline uint64_t emit(uint32_t w) { uint64_t at = CUR; put32(CUR, w); CUR += 4; return at; }
static inline uint64_t emit16(uint16_t w) { uint64_t at = CUR; put16(CUR, w); CUR += 2; return at; }
/* `j .` at the cursor; returns its address */
static inline uint64_t emit_halt(void) { return emit(I_J_SELF); }

/* load a 64-bit constant into rd: lui/addi pairs would be fine too, but the tests just preset
 * registers; this is for the few places where the guest itself needs a constant. */
static inline void emit_li32(unsigned rd, int32_t v)
{
    int32_t lo = (int32_t)((uint32_t)v << 20) >> 20;
    uint32_t hi = (uint32_t)v - (uint32_t)lo;
    if (hi) {
        emit(i_lui(rd, hi));
        if (lo) emit(i_addiw(rd, rd, lo));
    } else {
        emit(i_addi(rd, 0, lo));
    }
}

static inline void rv_setup(void)
{
    memset(&BUS, 0, sizeof(BUS));
    cr_assert_eq(guest_ram_create(&RAM, RAM_SIZE), 0);
    cr_assert_eq(rv64_machine_init(&M, RAM.host, RAM_SIZE, 1, &BUS), 0);
    H = M.harts[0];
    rv64_hart_reset(H, RAM_BASE, PRIV_M);
    H->mtvec = MTRAP_PC;
    H->stvec = STRAP_PC;
    put32(MTRAP_PC, I_J_SELF);
    put32(STRAP_PC, I_J_SELF);
    CUR = RAM_BASE;
    /* KILN_JIT=on runs every ISA-level case through the translator too (make unit-test does) */
    const char *jit = getenv("KILN_JIT");
    if (jit && !strcmp(jit, "on")) {
        cr_assert_eq(rv64_jit_enable(&M, 1u << 20), 0);
        H->jit->hot = 1; /* every block translated on its first run */
    }
}

static inline void rv_teardown(void)
{
    rv64_machine_destroy(&M);
    guest_ram_destroy(&RAM);
}

/* Run block by block until pc == stop (or a trap handler is reached, or the machine exits, or
 * max blocks ran). Returns the final pc. */
static inline uint64_t run_until(uint64_t stop, unsigned max_blocks)
{
    for (unsigned i = 0; i < max_blocks; i++) {
        if (H->pc == stop || atomic_load(&M.exit_reason))
            break;
        rv64_hart_run(H, 1);
    }
    return H->pc;
}

/* Run until the program's `j .` at `end` or a trap handler (M or S) is reached. */
static inline uint64_t run_prog(uint64_t end)
{
    for (unsigned i = 0; i < 10000; i++) {
        if (H->pc == end || H->pc == MTRAP_PC || H->pc == STRAP_PC || atomic_load(&M.exit_reason))
            break;
        rv64_hart_run(H, 1);
    }
    return H->pc;
}

/* Run a program that must end at `end` without trapping. */
#define RUN_OK(end)                                                                             \
    do {                                                                                        \
        uint64_t pc_ = run_prog(end);                                                           \
        cr_assert_eq(pc_, (end), "stopped at pc=%#lx, mcause=%#lx mepc=%#lx mtval=%#lx "        \
                     "scause=%#lx sepc=%#lx", (unsigned long)pc_, (unsigned long)H->mcause,     \
                     (unsigned long)H->mepc, (unsigned long)H->mtval, (unsigned long)H->scause, \
                     (unsigned long)H->sepc);                                                   \
    } while (0)

/* Run a program that must trap into M mode with the given cause. */
#define RUN_MTRAP(end, cause)                                                                   \
    do {                                                                                        \
        uint64_t pc_ = run_prog(end);                                                           \
        cr_assert_eq(pc_, MTRAP_PC, "expected an M trap, stopped at pc=%#lx",                   \
                     (unsigned long)pc_);                                                       \
        cr_assert_eq(H->mcause, (uint64_t)(cause), "mcause=%#lx, expected %#lx",                \
                     (unsigned long)H->mcause, (unsigned long)(cause));                         \
        cr_assert_eq(H->priv, PRIV_M);                                                          \
    } while (0)

/* ---------------------------------------------------------------- page tables */
#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_G (1ull << 5)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_RWX (PTE_R | PTE_W | PTE_X)
static inline uint64_t pte_leaf(uint64_t paddr, uint64_t flags) { return ((paddr >> 12) << 10) | flags | PTE_V; }
static inline uint64_t pte_table(uint64_t paddr) { return ((paddr >> 12) << 10) | PTE_V; }
static inline uint64_t pte_addr(uint64_t table, unsigned idx) { return table + 8ull * idx; }
static inline unsigned vpn(uint64_t va, int level) { return (unsigned)((va >> (12 + 9 * level)) & 511); }
static inline uint64_t satp_of(unsigned mode, uint64_t root) { return (uint64_t)mode << 60 | (root >> 12); }

/* Put the hart in `priv` with a satp whose mode/root is given; flushes the TLB since the
 * tests poke satp directly. */
static inline void enter_mode(int priv, uint64_t satp)
{
    H->satp = satp;
    rv64_set_priv(H, priv);
    rv64_tlb_flush(H);
}

#endif
