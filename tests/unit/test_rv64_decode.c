/* test_rv64_decode.c — rv64_decode: instruction bits → op/rd/rs1/rs2/imm.
 * Encodings were produced with riscv64-linux-gnu-as at test-writing time (see the comment on
 * each line); the expected fields are worked out by hand from the ISA manual. */
#include "rv64_test_util.h"

static struct rv64_insn dec(uint32_t bits)
{
    struct rv64_insn in;
    memset(&in, 0xa5, sizeof(in)); /* garbage, so fields the decoder forgets show up */
    rv64_decode(bits, &in);
    return in;
}

#define CHECK(bits, OP, RD, RS1, RS2, IMM, LEN)                                                    \
    do {                                                                                           \
        struct rv64_insn in_ = dec(bits);                                                          \
        cr_expect_eq(in_.op, OP_##OP, "%#010x: op %s, expected %s", (unsigned)(bits),              \
                     rv64_op_name(in_.op), #OP);                                                   \
        cr_expect_eq(in_.rd, (RD), "%#010x (%s): rd %u, expected %u", (unsigned)(bits), #OP,       \
                     in_.rd, (unsigned)(RD));                                                      \
        cr_expect_eq(in_.rs1, (RS1), "%#010x (%s): rs1 %u, expected %u", (unsigned)(bits), #OP,    \
                     in_.rs1, (unsigned)(RS1));                                                    \
        cr_expect_eq(in_.rs2, (RS2), "%#010x (%s): rs2 %u, expected %u", (unsigned)(bits), #OP,    \
                     in_.rs2, (unsigned)(RS2));                                                    \
        cr_expect_eq(in_.imm, (int32_t)(IMM), "%#010x (%s): imm %d, expected %d",                  \
                     (unsigned)(bits), #OP, in_.imm, (int32_t)(IMM));                              \
        cr_expect_eq(in_.len, (LEN), "%#010x (%s): len %u", (unsigned)(bits), #OP, in_.len);       \
    } while (0)

/* op only (and that illegal instructions carry no registers) */
#define CHECK_OP(bits, OP)                                                                         \
    do {                                                                                           \
        struct rv64_insn in_ = dec(bits);                                                          \
        cr_expect_eq(in_.op, OP_##OP, "%#010x: op %s, expected %s", (unsigned)(bits),              \
                     rv64_op_name(in_.op), #OP);                                                   \
    } while (0)

/* CSR instructions: rs2 is part of the CSR number, so it is not checked */
#define CHECK_CSR(bits, OP, RD, RS1, CSRNUM)                                                       \
    do {                                                                                           \
        struct rv64_insn in_ = dec(bits);                                                          \
        cr_expect_eq(in_.op, OP_##OP, "%#010x: op %s, expected %s", (unsigned)(bits),              \
                     rv64_op_name(in_.op), #OP);                                                   \
        cr_expect_eq(in_.rd, (RD), "%#010x: rd %u", (unsigned)(bits), in_.rd);                     \
        cr_expect_eq(in_.rs1, (RS1), "%#010x: rs1 %u", (unsigned)(bits), in_.rs1);                 \
        cr_expect_eq(in_.imm & 0xfff, (CSRNUM), "%#010x: csr %#x", (unsigned)(bits),               \
                     (unsigned)in_.imm);                                                           \
        cr_expect_eq(in_.imm, (CSRNUM), "%#010x: imm %d is not the plain CSR number",              \
                     (unsigned)(bits), in_.imm);                                                   \
    } while (0)

#define CHECK_ILLEGAL(bits)                                                                        \
    do {                                                                                           \
        struct rv64_insn in_ = dec(bits);                                                          \
        cr_expect_eq(in_.op, OP_ILLEGAL, "%#010x: op %s, expected ILLEGAL", (unsigned)(bits),      \
                     rv64_op_name(in_.op));                                                        \
        cr_expect_eq(in_.rd, 0);                                                                   \
        cr_expect_eq(in_.rs1, 0);                                                                  \
        cr_expect_eq(in_.rs2, 0);                                                                  \
    } while (0)

TestSuite(rv64_decode);

/* My encoders in rv64_test_util.h against the assembler's words, so the execution tests can
 * trust them. */
Test(rv64_decode, test_encoders_match_assembler)
{
    cr_expect_eq(i_addi(A0, A1, -1), 0xfff58513u);
    cr_expect_eq(i_slti(T0, T1, -2048), 0x80032293u);
    cr_expect_eq(i_srai(A0, A1, 63), 0x43f5d513u);
    cr_expect_eq(i_sraiw(A0, A1, 31), 0x41f5d51bu);
    cr_expect_eq(i_lui(T0, 0x80000000u), 0x800002b7u);
    cr_expect_eq(i_auipc(S0, 0x1000), 0x00001417u);
    cr_expect_eq(i_jal(RA, -4), 0xffdff0efu);
    cr_expect_eq(i_jal(ZERO, 0xffffe), 0x7ffff06fu);
    cr_expect_eq(i_jal(ZERO, -0x100000), 0x8000006fu);
    cr_expect_eq(i_jalr(RA, T0, -1), 0xfff280e7u);
    cr_expect_eq(i_beq(A0, A1, -4096), 0x80b50063u);
    cr_expect_eq(i_bne(A0, A1, 4094), 0x7eb51fe3u);
    cr_expect_eq(i_blt(T0, T1, -2), 0xfe62cfe3u);
    cr_expect_eq(i_bgeu(S0, S1, 16), 0x00947863u);
    cr_expect_eq(i_sb(A0, A1, -1), 0xfea58fa3u);
    cr_expect_eq(i_sw(A0, SP, -2048), 0x80a12023u);
    cr_expect_eq(i_sd(RA, SP, 2040), 0x7e113c23u);
    cr_expect_eq(i_ld(A0, SP, 2047), 0x7ff13503u);
    cr_expect_eq(i_sub(A0, A1, A2), 0x40c58533u);
    cr_expect_eq(i_mulhsu(A0, A1, A2), 0x02c5a533u);
    cr_expect_eq(i_remuw(A0, A1, A2), 0x02c5f53bu);
    cr_expect_eq(i_sraw(A0, A1, A2), 0x40c5d53bu);
    cr_expect_eq(i_csrrw(A0, CSR_MSTATUS, A1), 0x30059573u);
    cr_expect_eq(i_csrrs(ZERO, CSR_MHARTID, ZERO), 0xf1402073u);
    cr_expect_eq(i_csrrwi(A0, CSR_SATP, 31), 0x180fd573u);
    cr_expect_eq(i_csrrci(A0, CSR_SSTATUS, 2), 0x10017573u);
    cr_expect_eq(i_sfence_vma(A0, A1), 0x12b50073u);
    cr_expect_eq(i_lr_w(A0, A1), 0x1005a52fu);
    cr_expect_eq(i_sc_w(A0, A2, A1), 0x18c5a52fu);
    cr_expect_eq(i_amo(AMO_SWAP, 2, A0, A1, A2), 0x08c5a52fu);
    cr_expect_eq(i_amo(AMO_MAXU, 3, A0, A1, A2), 0xe0c5b52fu);
    cr_expect_eq(i_sc_d(T0, T2, T1), 0x187332afu);
    cr_expect_eq(i_flw(10, A1, -4), 0xffc5a507u);
    cr_expect_eq(i_fsw(10, A1, -4), 0xfea5ae27u);
    cr_expect_eq(i_fadd_s(10, 11, 12, RM_DYN), 0x00c5f553u);
    cr_expect_eq(i_fadd_d(10, 11, 12, RM_RTZ), 0x02c59553u);
    cr_expect_eq(i_fcvt_w_d(A0, 11, RM_RTZ), 0xc2059553u);
    cr_expect_eq(i_fcvt_d_l(10, A1, RM_DYN), 0xd225f553u);
    cr_expect_eq(i_fmv_x_w(A0, 11), 0xe0058553u);
    cr_expect_eq(i_fmv_d_x(10, A1), 0xf2058553u);
    cr_expect_eq(i_feq_d(A0, 11, 12), 0xa2c5a553u);
    cr_expect_eq(c_li(T2, -1), 0x53fdu);
    cr_expect_eq(c_mv(A0, A1), 0x852eu);
}

Test(rv64_decode, op_imm)
{
    CHECK(0xfff58513, ADDI, 10, 11, 0, -1, 4);     /* addi a0,a1,-1 */
    CHECK(0x80032293, SLTI, 5, 6, 0, -2048, 4);    /* slti t0,t1,-2048 */
    CHECK(0x7ff33293, SLTIU, 5, 6, 0, 2047, 4);    /* sltiu t0,t1,2047 */
    CHECK(0xfff54513, XORI, 10, 10, 0, -1, 4);     /* xori a0,a0,-1 */
    CHECK(i_ori(A0, A1, -2), ORI, 10, 11, 0, -2, 4);
    CHECK(i_andi(A0, A1, 0x7f0), ANDI, 10, 11, 0, 0x7f0, 4);
    CHECK(0xfff5851b, ADDIW, 10, 11, 0, -1, 4);    /* addiw a0,a1,-1 */
}

Test(rv64_decode, shifts_shamt)
{
    CHECK(0x03f59513, SLLI, 10, 11, 0, 63, 4);     /* slli a0,a1,63 */
    CHECK(0x03f5d513, SRLI, 10, 11, 0, 63, 4);     /* srli a0,a1,63 */
    CHECK(0x43f5d513, SRAI, 10, 11, 0, 63, 4);     /* srai a0,a1,63: the 0x400 bit is not shamt */
    CHECK(0x01f5951b, SLLIW, 10, 11, 0, 31, 4);    /* slliw a0,a1,31 */
    CHECK(i_srliw(A0, A1, 31), SRLIW, 10, 11, 0, 31, 4);
    CHECK(0x41f5d51b, SRAIW, 10, 11, 0, 31, 4);    /* sraiw a0,a1,31 */
    /* slliw/srliw with shamt[5] set are reserved in RV64 */
    CHECK_ILLEGAL(0x0205951b);
    CHECK_ILLEGAL(0x0205d51b);
    /* slli with funct6 = 0x10 and srai with funct6 = 0x20 do not exist */
    CHECK_ILLEGAL(0x40559513);
    CHECK_ILLEGAL(0x8055d513);
}

Test(rv64_decode, lui_auipc_upper_bits)
{
    CHECK(0x800002b7, LUI, 5, 0, 0, INT32_MIN, 4);      /* lui t0,0x80000 */
    CHECK(0x12345337, LUI, 6, 0, 0, 0x12345000, 4);     /* lui t1,0x12345 */
    CHECK(0xfffff537, LUI, 10, 0, 0, -4096, 4);         /* lui a0,0xfffff */
    CHECK(0x00001417, AUIPC, 8, 0, 0, 0x1000, 4);       /* auipc s0,0x1 */
    CHECK(0x00000037, LUI, 32, 0, 0, 0, 4);             /* lui x0,0: rd 0 → sink */
}

Test(rv64_decode, jumps)
{
    CHECK(0xffdff0ef, JAL, 1, 0, 0, -4, 4);             /* jal ra,.-4 */
    CHECK(0x7ffff06f, JAL, 32, 0, 0, 0xffffe, 4);       /* j .+0xffffe */
    CHECK(0x8000006f, JAL, 32, 0, 0, -0x100000, 4);     /* j .-0x100000 */
    CHECK(0xfff280e7, JALR, 1, 5, 0, -1, 4);            /* jalr ra,-1(t0) */
    CHECK(0x00008067, JALR, 32, 1, 0, 0, 4);            /* ret */
    CHECK_ILLEGAL(0xfff290e7);                          /* jalr with funct3 = 1 */
}

Test(rv64_decode, branches)
{
    CHECK(0x80b50063, BEQ, 0, 10, 11, -4096, 4);        /* beq a0,a1,.-4096 */
    CHECK(0x7eb51fe3, BNE, 0, 10, 11, 4094, 4);         /* bne a0,a1,.+4094 */
    CHECK(0xfe62cfe3, BLT, 0, 5, 6, -2, 4);             /* blt t0,t1,.-2 */
    CHECK(0x0062d463, BGE, 0, 5, 6, 8, 4);              /* bge t0,t1,.+8 */
    CHECK(0xfe9468e3, BLTU, 0, 8, 9, -16, 4);           /* bltu s0,s1,.-16 */
    CHECK(0x00947863, BGEU, 0, 8, 9, 16, 4);            /* bgeu s0,s1,.+16 */
    CHECK_ILLEGAL(0x00b52063);                          /* funct3 = 2 */
    CHECK_ILLEGAL(0x00b53063);                          /* funct3 = 3 */
}

Test(rv64_decode, loads_stores)
{
    CHECK(0xfff58503, LB, 10, 11, 0, -1, 4);            /* lb a0,-1(a1) */
    CHECK(0x00259503, LH, 10, 11, 0, 2, 4);             /* lh a0,2(a1) */
    CHECK(0x80012503, LW, 10, 2, 0, -2048, 4);          /* lw a0,-2048(sp) */
    CHECK(0x7ff13503, LD, 10, 2, 0, 2047, 4);           /* ld a0,2047(sp) */
    CHECK(0x0005c503, LBU, 10, 11, 0, 0, 4);
    CHECK(0x0005d503, LHU, 10, 11, 0, 0, 4);
    CHECK(0x0005e503, LWU, 10, 11, 0, 0, 4);
    CHECK(0x00003003, LD, 32, 0, 0, 0, 4);              /* ld x0,0(x0): rd 0 → sink */
    CHECK_ILLEGAL(0x0005f503);                          /* load funct3 = 7 */
    CHECK(0xfea58fa3, SB, 0, 11, 10, -1, 4);            /* sb a0,-1(a1) */
    CHECK(0x00a59123, SH, 0, 11, 10, 2, 4);             /* sh a0,2(a1) */
    CHECK(0x80a12023, SW, 0, 2, 10, -2048, 4);          /* sw a0,-2048(sp) */
    CHECK(0x7e113c23, SD, 0, 2, 1, 2040, 4);            /* sd ra,2040(sp) */
    CHECK(i_sd(A0, A1, -8), SD, 0, 11, 10, -8, 4);
    CHECK_ILLEGAL(0x00a5c023);                          /* store funct3 = 4 */
}

Test(rv64_decode, op_and_op32_and_m)
{
    static const struct { uint32_t bits; unsigned op; } t[] = {
        { 0x00c58533, OP_ADD }, { 0x40c58533, OP_SUB }, { 0x00c59533, OP_SLL },
        { 0x00c5a533, OP_SLT }, { 0x00c5b533, OP_SLTU }, { 0x00c5c533, OP_XOR },
        { 0x00c5d533, OP_SRL }, { 0x40c5d533, OP_SRA }, { 0x00c5e533, OP_OR },
        { 0x00c5f533, OP_AND }, { 0x00c5853b, OP_ADDW }, { 0x40c5853b, OP_SUBW },
        { 0x00c5953b, OP_SLLW }, { 0x00c5d53b, OP_SRLW }, { 0x40c5d53b, OP_SRAW },
        { 0x02c58533, OP_MUL }, { 0x02c59533, OP_MULH }, { 0x02c5a533, OP_MULHSU },
        { 0x02c5b533, OP_MULHU }, { 0x02c5c533, OP_DIV }, { 0x02c5d533, OP_DIVU },
        { 0x02c5e533, OP_REM }, { 0x02c5f533, OP_REMU }, { 0x02c5853b, OP_MULW },
        { 0x02c5c53b, OP_DIVW }, { 0x02c5d53b, OP_DIVUW }, { 0x02c5e53b, OP_REMW },
        { 0x02c5f53b, OP_REMUW },
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct rv64_insn in = dec(t[i].bits);
        cr_expect_eq(in.op, t[i].op, "%#010x: %s, expected %s", t[i].bits, rv64_op_name(in.op),
                     rv64_op_name(t[i].op));
        cr_expect_eq(in.rd, 10);
        cr_expect_eq(in.rs1, 11);
        cr_expect_eq(in.rs2, 12);
        cr_expect_eq(in.len, 4);
    }
    CHECK(i_add(0, A1, A2), ADD, 32, 11, 12, 0, 4);
    CHECK_ILLEGAL(0x40c59533);   /* funct7 0x20 with sll */
    CHECK_ILLEGAL(0x02c5953b);   /* mulw-space funct3 1 */
    CHECK_ILLEGAL(0x40c5953b);   /* funct7 0x20 with sllw */
    CHECK_ILLEGAL(0x04c58533);   /* funct7 2 */
    CHECK_ILLEGAL(0x00c5a53b);   /* OP-32 funct3 2 */
}

Test(rv64_decode, system_and_csr)
{
    CHECK_OP(0x00000073, ECALL);
    CHECK_OP(0x00100073, EBREAK);
    CHECK_OP(0x30200073, MRET);
    CHECK_OP(0x10200073, SRET);
    CHECK_OP(0x10500073, WFI);
    CHECK_OP(0x12000073, SFENCE_VMA);                   /* sfence.vma */
    CHECK_OP(0x12b50073, SFENCE_VMA);                   /* sfence.vma a0,a1 */
    struct rv64_insn in = dec(0x12b50073);
    cr_expect_eq(in.rs1, 10);
    cr_expect_eq(in.rs2, 11);
    CHECK_CSR(0x30059573, CSRRW, 10, 11, 0x300);        /* csrrw a0,mstatus,a1 */
    CHECK_CSR(0xf1402073, CSRRS, 32, 0, 0xf14);         /* csrr x0,mhartid */
    CHECK_CSR(0xfff5b573, CSRRC, 10, 11, 0xfff);        /* csrrc a0,0xfff,a1: CSR number unsigned */
    CHECK_CSR(0x180fd573, CSRRWI, 10, 31, 0x180);       /* csrrwi a0,satp,31: uimm in rs1 */
    CHECK_CSR(0x0010e573, CSRRSI, 10, 1, 0x001);        /* csrrsi a0,fflags,1 */
    CHECK_CSR(0x10017573, CSRRCI, 10, 2, 0x100);        /* csrrci a0,sstatus,2 */
    CHECK_CSR(i_csrrw(0, CSR_SATP, A0), CSRRW, 32, 10, 0x180); /* csrw satp,a0: rd x0 → sink */
    CHECK_ILLEGAL(0x30054573);                          /* SYSTEM funct3 = 4 */
    CHECK_ILLEGAL(0x00200073);                          /* uret-like, not in this hart */
    CHECK_ILLEGAL(0x7b200073);                          /* dret */
    CHECK_OP(0x0ff0000f, FENCE);
    CHECK_OP(0x0000100f, FENCE_I);
    CHECK_ILLEGAL(0x0000200f);                          /* MISC-MEM funct3 = 2 */
}

Test(rv64_decode, atomics)
{
    CHECK(0x1005a52f, LR_W, 10, 11, 0, 0, 4);           /* lr.w a0,(a1) */
    CHECK(0x18c5a52f, SC_W, 10, 11, 12, 0, 4);          /* sc.w a0,a2,(a1) */
    CHECK(0x08c5a52f, AMOSWAP_W, 10, 11, 12, 0, 4);     /* amoswap.w a0,a2,(a1) */
    CHECK(0x06c5b52f, AMOADD_D, 10, 11, 12, 0, 4);      /* amoadd.d.aqrl a0,a2,(a1) */
    CHECK(0xe0c5b52f, AMOMAXU_D, 10, 11, 12, 0, 4);     /* amomaxu.d a0,a2,(a1) */
    CHECK(0xc0c5a52f, AMOMINU_W, 10, 11, 12, 0, 4);     /* amominu.w a0,a2,(a1) */
    CHECK(0x100332af, LR_D, 5, 6, 0, 0, 4);             /* lr.d t0,(t1) */
    CHECK(0x187332af, SC_D, 5, 6, 7, 0, 4);             /* sc.d t0,t2,(t1) */
    CHECK_OP(i_amo(AMO_XOR, 2, A0, A1, A2), AMOXOR_W);
    CHECK_OP(i_amo(AMO_AND, 3, A0, A1, A2), AMOAND_D);
    CHECK_OP(i_amo(AMO_OR, 2, A0, A1, A2), AMOOR_W);
    CHECK_OP(i_amo(AMO_MIN, 3, A0, A1, A2), AMOMIN_D);
    CHECK_OP(i_amo(AMO_MAX, 2, A0, A1, A2), AMOMAX_W);
    CHECK(i_amo(AMO_ADD, 2, 0, A1, A2), AMOADD_W, 32, 11, 12, 0, 4);
    CHECK_ILLEGAL(0x1025a52f);                          /* lr.w with rs2 != 0 */
    CHECK_ILLEGAL(0x08c5852f);                          /* AMO funct3 = 0 */
    CHECK_ILLEGAL(0x28c5a52f);                          /* funct5 = 0x05 */
}

Test(rv64_decode, floating_point)
{
    CHECK(0xffc5a507, FLW, 10, 11, 0, -4, 4);           /* flw fa0,-4(a1) */
    CHECK(i_fld(0, A1, 8), FLD, 0, 11, 0, 8, 4);        /* fld f0,8(a1): f0 is a real register */
    CHECK(0xfea5ae27, FSW, 0, 11, 10, -4, 4);           /* fsw fa0,-4(a1) */
    CHECK(i_fsd(11, SP, -16), FSD, 0, 2, 11, -16, 4);
    CHECK(0x00c5f553, FADD_S, 10, 11, 12, 0, 4);        /* fadd.s fa0,fa1,fa2 */
    cr_expect_eq(dec(0x00c5f553).rm, 7);                /* dynamic rounding */
    CHECK(0x02c59553, FADD_D, 10, 11, 12, 0, 4);        /* fadd.d fa0,fa1,fa2,rtz */
    cr_expect_eq(dec(0x02c59553).rm, 1);
    CHECK(0x6ac5f543, FMADD_D, 10, 11, 12, 0, 4);       /* fmadd.d fa0,fa1,fa2,fa3 */
    cr_expect_eq(dec(0x6ac5f543).rs3, 13);
    CHECK(0x1820804f, FNMADD_S, 0, 1, 2, 0, 4);         /* fnmadd.s ft0,ft1,ft2,ft3,rne: f0 stays 0 */
    cr_expect_eq(dec(0x1820804f).rs3, 3);
    cr_expect_eq(dec(0x1820804f).rm, 0);
    CHECK_OP(enc_r4(3, 0, 2, 1, 7, 0, 0x47), FMSUB_S);
    CHECK_OP(enc_r4(3, 1, 2, 1, 7, 0, 0x4b), FNMSUB_D);
    CHECK_ILLEGAL(enc_r4(3, 2, 2, 1, 7, 0, 0x43));      /* fmadd.h */
    CHECK_OP(0x5a05f553, FSQRT_D);                      /* fsqrt.d fa0,fa1 */
    CHECK_OP(0x22c5a553, FSGNJX_D);
    CHECK_OP(0x28c59553, FMAX_S);
    CHECK_OP(0x4015f553, FCVT_S_D);
    CHECK_OP(0x42058553, FCVT_D_S);
    CHECK(0xc2059553, FCVT_W_D, 10, 11, 0, 0, 4);       /* fcvt.w.d a0,fa1,rtz */
    CHECK_OP(0xc035f553, FCVT_LU_S);
    CHECK_OP(0xd225f553, FCVT_D_L);
    CHECK(0xe0058553, FMV_X_W, 10, 11, 0, 0, 4);        /* fmv.x.w a0,fa1 */
    CHECK_OP(0xe2058553, FMV_X_D);
    CHECK_OP(0xe2059553, FCLASS_D);
    CHECK(0xa2c5a553, FEQ_D, 10, 11, 12, 0, 4);
    CHECK_OP(0xa0c59553, FLT_S);
    CHECK_OP(0xa2c58553, FLE_D);
    CHECK(0xf0058553, FMV_W_X, 10, 11, 0, 0, 4);        /* fmv.w.x fa0,a1 */
    CHECK_OP(0xf2058553, FMV_D_X);
    /* integer destinations of FP ops get the x0 sink, FP destinations keep f0 */
    CHECK(0xe0058053, FMV_X_W, 32, 11, 0, 0, 4);        /* fmv.x.w x0,fa1 */
    CHECK(0xc2059053, FCVT_W_D, 32, 11, 0, 0, 4);       /* fcvt.w.d x0,fa1 */
    CHECK(0xa2c5a053, FEQ_D, 32, 11, 12, 0, 4);
    CHECK(0xf0058053, FMV_W_X, 0, 11, 0, 0, 4);         /* fmv.w.x f0,a1 */
    CHECK_ILLEGAL(0x04c5f553);                          /* fadd.h (Zfh) */
    CHECK_ILLEGAL(0x5a15f553);                          /* fsqrt.d with rs2 != 0 */
    CHECK_ILLEGAL(0x22c5b553);                          /* fsgnj funct3 = 3 */
    CHECK_ILLEGAL(0x00001507);                          /* LOAD-FP funct3 = 1 (flh, Zfh) */
    CHECK_ILLEGAL(0x00001527);                          /* STORE-FP funct3 = 1 (fsh, Zfh) */
}

Test(rv64_decode, unknown_opcodes_illegal)
{
    CHECK_ILLEGAL(0x00000000);
    cr_expect_eq(dec(0x00000000).len, 2);
    CHECK_ILLEGAL(0xffffffff);
    CHECK_ILLEGAL(0x0000000b);   /* custom-0 */
    CHECK_ILLEGAL(0x0000002b);   /* custom-1 */
    CHECK_ILLEGAL(0x00000057);   /* OP-V */
    CHECK_ILLEGAL(0x00000077);   /* reserved */
    CHECK_ILLEGAL(0x0000005b);   /* custom-2 */
    struct rv64_insn in = dec(0xffffffff);
    cr_expect_eq(in.raw, 0xffffffffu);
    cr_expect_eq(in.len, 4);
}

Test(rv64_decode, compressed_quadrant0)
{
    CHECK(0x0808, ADDI, 10, 2, 0, 16, 2);               /* c.addi4spn a0,sp,16 */
    CHECK(0x1fe4, ADDI, 9, 2, 0, 1020, 2);              /* c.addi4spn s1,sp,1020 */
    CHECK_ILLEGAL(0x0004);                              /* c.addi4spn s1,sp,0: reserved */
    CHECK(0x42d0, LW, 12, 13, 0, 4, 2);                 /* c.lw a2,4(a3) */
    CHECK(0x5c7c, LW, 15, 8, 0, 124, 2);                /* c.lw a5,124(s0) */
    CHECK(0x7ff8, LD, 14, 15, 0, 248, 2);               /* c.ld a4,248(a5) */
    CHECK(0xe488, SD, 0, 9, 10, 8, 2);                  /* c.sd a0,8(s1) */
    CHECK(0xc22c, SW, 0, 12, 11, 64, 2);                /* c.sw a1,64(a2) */
    CHECK(0x2988, FLD, 10, 11, 0, 16, 2);               /* c.fld fa0,16(a1) */
    CHECK(0xbd64, FSD, 0, 10, 9, 248, 2);               /* c.fsd fs1,248(a0) */
    CHECK_ILLEGAL(0x8000);                              /* quadrant 0 funct3 = 4: reserved */
}

Test(rv64_decode, compressed_quadrant1)
{
    CHECK(0x0001, ADDI, 32, 0, 0, 0, 2);                /* c.nop */
    CHECK(0x1501, ADDI, 10, 10, 0, -32, 2);             /* c.addi a0,-32 */
    CHECK(0x25fd, ADDIW, 11, 11, 0, 31, 2);             /* c.addiw a1,31 */
    CHECK_ILLEGAL(0x2001);                              /* c.addiw x0: reserved */
    CHECK(0x53fd, ADDI, 7, 0, 0, -1, 2);                /* c.li t2,-1 */
    CHECK(0x7139, ADDI, 2, 2, 0, -64, 2);               /* c.addi16sp sp,-64 */
    CHECK(0x617d, ADDI, 2, 2, 0, 496, 2);               /* c.addi16sp sp,496 */
    CHECK_ILLEGAL(0x6101);                              /* c.addi16sp sp,0: reserved */
    CHECK(0x657d, LUI, 10, 0, 0, 0x1f000, 2);           /* c.lui a0,0x1f */
    CHECK(0x7281, LUI, 5, 0, 0, (int32_t)0xfffe0000, 2); /* c.lui t0,0xfffe0 (negative) */
    CHECK(0x6485, LUI, 9, 0, 0, 0x1000, 2);             /* c.lui s1,1 */
    CHECK_ILLEGAL(0x6501);                              /* c.lui a0,0: reserved */
    CHECK(0x917d, SRLI, 10, 10, 0, 63, 2);              /* c.srli a0,63 */
    CHECK(0x8585, SRAI, 11, 11, 0, 1, 2);               /* c.srai a1,1 */
    CHECK(0x9a7d, ANDI, 12, 12, 0, -1, 2);              /* c.andi a2,-1 */
    CHECK(0x887d, ANDI, 8, 8, 0, 31, 2);                /* c.andi s0,31 */
    CHECK(0x8d0d, SUB, 10, 10, 11, 0, 2);               /* c.sub a0,a1 */
    CHECK(0x8c25, XOR, 8, 8, 9, 0, 2);                  /* c.xor s0,s1 */
    CHECK(0x8e55, OR, 12, 12, 13, 0, 2);                /* c.or a2,a3 */
    CHECK(0x8f7d, AND, 14, 14, 15, 0, 2);               /* c.and a4,a5 */
    CHECK(0x9d1d, SUBW, 10, 10, 15, 0, 2);              /* c.subw a0,a5 */
    CHECK(0x9cb1, ADDW, 9, 9, 12, 0, 2);                /* c.addw s1,a2 */
    CHECK_ILLEGAL(0x9d5d);                              /* funct 1/10: reserved */
    CHECK_ILLEGAL(0x9d7d);                              /* funct 1/11: reserved */
    CHECK(0xbffd, JAL, 32, 0, 0, -2, 2);                /* c.j .-2 */
    CHECK(0xaffd, JAL, 32, 0, 0, 2046, 2);              /* c.j .+2046 */
    CHECK(0xb001, JAL, 32, 0, 0, -2048, 2);             /* c.j .-2048 */
    CHECK(0xd101, BEQ, 0, 10, 0, -256, 2);              /* c.beqz a0,.-256 */
    CHECK(0xecfd, BNE, 0, 9, 0, 254, 2);                /* c.bnez s1,.+254 */
}

Test(rv64_decode, compressed_quadrant2)
{
    CHECK(0x137e, SLLI, 6, 6, 0, 63, 2);                /* c.slli t1,63 */
    CHECK(0x557e, LW, 10, 2, 0, 252, 2);                /* c.lwsp a0,252(sp) */
    CHECK(0x70fe, LD, 1, 2, 0, 504, 2);                 /* c.ldsp ra,504(sp) */
    CHECK_ILLEGAL(0x4002);                              /* c.lwsp x0: reserved */
    CHECK_ILLEGAL(0x6002);                              /* c.ldsp x0: reserved */
    CHECK(0xe422, SD, 0, 2, 8, 8, 2);                   /* c.sdsp s0,8(sp) */
    CHECK(0xc216, SW, 0, 2, 5, 4, 2);                   /* c.swsp t0,4(sp) */
    CHECK(0x8082, JALR, 32, 1, 0, 0, 2);                /* c.jr ra */
    CHECK_ILLEGAL(0x8002);                              /* c.jr x0: reserved */
    CHECK(0x9282, JALR, 1, 5, 0, 0, 2);                 /* c.jalr t0 */
    CHECK(0x852e, ADD, 10, 0, 11, 0, 2);                /* c.mv a0,a1 */
    CHECK(0x917e, ADD, 2, 2, 31, 0, 2);                 /* c.add sp,t6 */
    CHECK(0x9002, EBREAK, 0, 0, 0, 0, 2);               /* c.ebreak */
    CHECK(0x25a2, FLD, 11, 2, 0, 8, 2);                 /* c.fldsp fa1,8(sp) */
    CHECK(0xbb82, FSD, 0, 2, 0, 496, 2);                /* c.fsdsp ft0,496(sp) */
}

Test(rv64_decode, compressed_ignores_upper_half_and_keeps_raw)
{
    struct rv64_insn in = dec(0xdead0808);              /* c.addi4spn a0,sp,16 + junk */
    cr_expect_eq(in.op, OP_ADDI);
    cr_expect_eq(in.len, 2);
    cr_expect_eq(in.raw, 0x0808u);
    cr_expect_eq(in.imm, 16);
    in = dec(0x30059573);
    cr_expect_eq(in.raw, 0x30059573u);
}

Test(rv64_decode, block_enders)
{
    cr_expect(rv64_op_ends_block(OP_JAL));
    cr_expect(rv64_op_ends_block(OP_BEQ));
    cr_expect(rv64_op_ends_block(OP_CSRRS));
    cr_expect(rv64_op_ends_block(OP_ECALL));
    cr_expect(rv64_op_ends_block(OP_SFENCE_VMA));
    cr_expect(rv64_op_ends_block(OP_FENCE_I));
    cr_expect(!rv64_op_ends_block(OP_ADD));
    cr_expect(!rv64_op_ends_block(OP_SD));
    cr_expect(!rv64_op_ends_block(OP_FENCE));
    cr_expect_str_eq(rv64_op_name(OP_AMOMAXU_D), "AMOMAXU_D");
    cr_expect_str_eq(rv64_op_name(OP_COUNT + 5), "?");
}
