/* decode.c — RV64GC instruction bits → struct rv64_insn. Runs once per instruction per decoded
 * block, so it favours clarity over speed. Field layouts follow the unprivileged ISA manual. */
#include "cpu/rv64/hart.h"
#include "cpu/rv64/ops.h"

#define RV64_OP_NAME(name) #name,
static const char *const op_names[] = { RV64_OPS(RV64_OP_NAME) };

const char *rv64_op_name(unsigned op)
{
    return op < OP_COUNT ? op_names[op] : "?";
}

static inline uint32_t bits(uint32_t v, int hi, int lo)
{
    return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static inline int32_t sext(uint32_t v, int width)
{
    return (int32_t)(v << (32 - width)) >> (32 - width);
}

static void set(struct rv64_insn *in, unsigned op, unsigned rd, unsigned rs1, unsigned rs2, int32_t imm)
{
    in->op = op;
    in->rd = rd;
    in->rs1 = rs1;
    in->rs2 = rs2;
    in->imm = imm;
}

/* Operations whose rd is an integer register. */
static bool writes_xreg(unsigned op)
{
    switch (op) {
    case OP_ILLEGAL: case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU:
    case OP_BGEU: case OP_SB: case OP_SH: case OP_SW: case OP_SD: case OP_FENCE: case OP_FENCE_I:
    case OP_ECALL: case OP_EBREAK: case OP_MRET: case OP_SRET: case OP_WFI: case OP_SFENCE_VMA:
    case OP_FLW: case OP_FLD: case OP_FSW: case OP_FSD:
        return false;
    case OP_FCVT_W_S: case OP_FCVT_WU_S: case OP_FCVT_L_S: case OP_FCVT_LU_S: case OP_FMV_X_W:
    case OP_FEQ_S: case OP_FLT_S: case OP_FLE_S: case OP_FCLASS_S:
    case OP_FCVT_W_D: case OP_FCVT_WU_D: case OP_FCVT_L_D: case OP_FCVT_LU_D: case OP_FMV_X_D:
    case OP_FEQ_D: case OP_FLT_D: case OP_FLE_D: case OP_FCLASS_D:
        return true;
    default:
        return op < OP_FMADD_S;
    }
}

static unsigned decode_system(uint32_t b)
{
    unsigned f3 = bits(b, 14, 12);
    if (f3 == 0) {
        switch (b) {
        case 0x00000073: return OP_ECALL;
        case 0x00100073: return OP_EBREAK;
        case 0x30200073: return OP_MRET;
        case 0x10200073: return OP_SRET;
        case 0x10500073: return OP_WFI;
        }
        if (bits(b, 31, 25) == 0x09 && bits(b, 11, 7) == 0)
            return OP_SFENCE_VMA;
        return OP_ILLEGAL;
    }
    static const unsigned csr_ops[8] = { OP_ILLEGAL, OP_CSRRW, OP_CSRRS, OP_CSRRC,
                                         OP_ILLEGAL, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI };
    return csr_ops[f3];
}

static unsigned decode_amo(uint32_t b)
{
    unsigned f3 = bits(b, 14, 12), f5 = bits(b, 31, 27);
    if (f3 != 2 && f3 != 3)
        return OP_ILLEGAL;
    unsigned d = (f3 == 3) ? (OP_LR_D - OP_LR_W) : 0;
    switch (f5) {
    case 0x02: return bits(b, 24, 20) ? OP_ILLEGAL : OP_LR_W + d;
    case 0x03: return OP_SC_W + d;
    case 0x01: return OP_AMOSWAP_W + d;
    case 0x00: return OP_AMOADD_W + d;
    case 0x04: return OP_AMOXOR_W + d;
    case 0x0c: return OP_AMOAND_W + d;
    case 0x08: return OP_AMOOR_W + d;
    case 0x10: return OP_AMOMIN_W + d;
    case 0x14: return OP_AMOMAX_W + d;
    case 0x18: return OP_AMOMINU_W + d;
    case 0x1c: return OP_AMOMAXU_W + d;
    }
    return OP_ILLEGAL;
}

static unsigned decode_op_fp(uint32_t b)
{
    unsigned f7 = bits(b, 31, 25), f3 = bits(b, 14, 12), rs2 = bits(b, 24, 20);
    bool d = f7 & 1;
    unsigned sd = d ? (OP_FADD_D - OP_FADD_S) : 0;
    switch (f7 >> 1) {
    case 0x00: return OP_FADD_S + sd;
    case 0x02: return OP_FSUB_S + sd;
    case 0x04: return OP_FMUL_S + sd;
    case 0x06: return OP_FDIV_S + sd;
    case 0x16: return rs2 ? OP_ILLEGAL : OP_FSQRT_S + sd;
    case 0x08: return f3 < 3 ? OP_FSGNJ_S + f3 + sd : OP_ILLEGAL;
    case 0x0a: return f3 < 2 ? OP_FMIN_S + f3 + sd : OP_ILLEGAL;
    case 0x10:
        if (!d && rs2 == 1) return OP_FCVT_S_D;
        if (d && rs2 == 0) return OP_FCVT_D_S;
        return OP_ILLEGAL;
    case 0x30: return rs2 < 4 ? OP_FCVT_W_S + rs2 + sd : OP_ILLEGAL;
    case 0x34: return rs2 < 4 ? OP_FCVT_S_W + rs2 + sd : OP_ILLEGAL;
    case 0x38:
        if (rs2) return OP_ILLEGAL;
        if (f3 == 0) return d ? OP_FMV_X_D : OP_FMV_X_W;
        if (f3 == 1) return OP_FCLASS_S + sd;
        return OP_ILLEGAL;
    case 0x28:
        if (f3 == 0) return OP_FLE_S + sd;
        if (f3 == 1) return OP_FLT_S + sd;
        if (f3 == 2) return OP_FEQ_S + sd;
        return OP_ILLEGAL;
    case 0x3c:
        if (rs2 || f3) return OP_ILLEGAL;
        return d ? OP_FMV_D_X : OP_FMV_W_X;
    }
    return OP_ILLEGAL;
}

static void decode32(uint32_t b, struct rv64_insn *in)
{
    unsigned rd = bits(b, 11, 7), rs1 = bits(b, 19, 15), rs2 = bits(b, 24, 20);
    unsigned f3 = bits(b, 14, 12), f7 = bits(b, 31, 25);
    int32_t imm_i = (int32_t)b >> 20;
    int32_t imm_s = sext((bits(b, 31, 25) << 5) | bits(b, 11, 7), 12);
    int32_t imm_b = sext((bits(b, 31, 31) << 12) | (bits(b, 7, 7) << 11) | (bits(b, 30, 25) << 5) |
                         (bits(b, 11, 8) << 1), 13);
    int32_t imm_j = sext((bits(b, 31, 31) << 20) | (bits(b, 19, 12) << 12) | (bits(b, 20, 20) << 11) |
                         (bits(b, 30, 21) << 1), 21);
    int32_t imm_u = (int32_t)(b & 0xfffff000u);
    unsigned op = OP_ILLEGAL;

    in->rm = f3;
    in->rs3 = bits(b, 31, 27);
    switch (b & 0x7f) {
    case 0x37: set(in, OP_LUI, rd, 0, 0, imm_u); return;
    case 0x17: set(in, OP_AUIPC, rd, 0, 0, imm_u); return;
    case 0x6f: set(in, OP_JAL, rd, 0, 0, imm_j); return;
    case 0x67: set(in, f3 ? OP_ILLEGAL : OP_JALR, rd, rs1, 0, imm_i); return;
    case 0x63: {
        static const unsigned br[8] = { OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL,
                                        OP_BLT, OP_BGE, OP_BLTU, OP_BGEU };
        set(in, br[f3], 0, rs1, rs2, imm_b);
        return;
    }
    case 0x03: {
        static const unsigned ld[8] = { OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL };
        set(in, ld[f3], rd, rs1, 0, imm_i);
        return;
    }
    case 0x23: {
        static const unsigned st[8] = { OP_SB, OP_SH, OP_SW, OP_SD,
                                        OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL };
        set(in, st[f3], 0, rs1, rs2, imm_s);
        return;
    }
    case 0x13:
        switch (f3) {
        case 0: op = OP_ADDI; break;
        case 2: op = OP_SLTI; break;
        case 3: op = OP_SLTIU; break;
        case 4: op = OP_XORI; break;
        case 6: op = OP_ORI; break;
        case 7: op = OP_ANDI; break;
        case 1: op = bits(b, 31, 26) == 0 ? OP_SLLI : OP_ILLEGAL; imm_i &= 63; break;
        case 5:
            op = bits(b, 31, 26) == 0 ? OP_SRLI : bits(b, 31, 26) == 0x10 ? OP_SRAI : OP_ILLEGAL;
            imm_i &= 63;
            break;
        }
        set(in, op, rd, rs1, 0, imm_i);
        return;
    case 0x1b:
        switch (f3) {
        case 0: op = OP_ADDIW; break;
        case 1: op = f7 == 0 ? OP_SLLIW : OP_ILLEGAL; imm_i &= 31; break;
        case 5: op = f7 == 0 ? OP_SRLIW : f7 == 0x20 ? OP_SRAIW : OP_ILLEGAL; imm_i &= 31; break;
        }
        set(in, op, rd, rs1, 0, imm_i);
        return;
    case 0x33:
        if (f7 == 0) {
            static const unsigned o[8] = { OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND };
            op = o[f3];
        } else if (f7 == 0x20) {
            op = f3 == 0 ? OP_SUB : f3 == 5 ? OP_SRA : OP_ILLEGAL;
        } else if (f7 == 1) {
            op = OP_MUL + f3;
        }
        set(in, op, rd, rs1, rs2, 0);
        return;
    case 0x3b:
        if (f7 == 0)
            op = f3 == 0 ? OP_ADDW : f3 == 1 ? OP_SLLW : f3 == 5 ? OP_SRLW : OP_ILLEGAL;
        else if (f7 == 0x20)
            op = f3 == 0 ? OP_SUBW : f3 == 5 ? OP_SRAW : OP_ILLEGAL;
        else if (f7 == 1) {
            static const unsigned o[8] = { OP_MULW, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL,
                                           OP_DIVW, OP_DIVUW, OP_REMW, OP_REMUW };
            op = o[f3];
        }
        set(in, op, rd, rs1, rs2, 0);
        return;
    case 0x0f:
        set(in, f3 == 0 ? OP_FENCE : f3 == 1 ? OP_FENCE_I : OP_ILLEGAL, 0, 0, 0, 0);
        return;
    case 0x73:
        op = decode_system(b);
        set(in, op, rd, rs1, rs2, (int32_t)bits(b, 31, 20));
        return;
    case 0x2f:
        set(in, decode_amo(b), rd, rs1, rs2, 0);
        return;
    case 0x07:
        set(in, f3 == 2 ? OP_FLW : f3 == 3 ? OP_FLD : OP_ILLEGAL, rd, rs1, 0, imm_i);
        return;
    case 0x27:
        set(in, f3 == 2 ? OP_FSW : f3 == 3 ? OP_FSD : OP_ILLEGAL, 0, rs1, rs2, imm_s);
        return;
    case 0x43: case 0x47: case 0x4b: case 0x4f: {
        unsigned fmt = bits(b, 26, 25);
        unsigned base = fmt == 0 ? OP_FMADD_S : fmt == 1 ? OP_FMADD_D : OP_ILLEGAL;
        op = base == OP_ILLEGAL ? OP_ILLEGAL : base + (((b & 0x7f) - 0x43) >> 2);
        set(in, op, rd, rs1, rs2, 0);
        return;
    }
    case 0x53:
        set(in, decode_op_fp(b), rd, rs1, rs2, 0);
        return;
    }
    set(in, OP_ILLEGAL, 0, 0, 0, 0);
}

static void decode_q0(uint32_t b, struct rv64_insn *in)
{
    unsigned rdp = 8 + bits(b, 4, 2), rs1p = 8 + bits(b, 9, 7);
    uint32_t off_w = (bits(b, 12, 10) << 3) | (bits(b, 6, 6) << 2) | (bits(b, 5, 5) << 6);
    uint32_t off_d = (bits(b, 12, 10) << 3) | (bits(b, 6, 5) << 6);
    switch (bits(b, 15, 13)) {
    case 0: {
        uint32_t imm = (bits(b, 6, 6) << 2) | (bits(b, 5, 5) << 3) | (bits(b, 12, 11) << 4) |
                       (bits(b, 10, 7) << 6);
        set(in, imm ? OP_ADDI : OP_ILLEGAL, rdp, 2, 0, (int32_t)imm);
        return;
    }
    case 1: set(in, OP_FLD, rdp, rs1p, 0, (int32_t)off_d); return;
    case 2: set(in, OP_LW, rdp, rs1p, 0, (int32_t)off_w); return;
    case 3: set(in, OP_LD, rdp, rs1p, 0, (int32_t)off_d); return;
    case 5: set(in, OP_FSD, 0, rs1p, rdp, (int32_t)off_d); return;
    case 6: set(in, OP_SW, 0, rs1p, rdp, (int32_t)off_w); return;
    case 7: set(in, OP_SD, 0, rs1p, rdp, (int32_t)off_d); return;
    }
    set(in, OP_ILLEGAL, 0, 0, 0, 0);
}

static void decode_q1(uint32_t b, struct rv64_insn *in)
{
    unsigned rd = bits(b, 11, 7), rdp = 8 + bits(b, 9, 7), rs2p = 8 + bits(b, 4, 2);
    int32_t imm6 = sext((bits(b, 12, 12) << 5) | bits(b, 6, 2), 6);
    switch (bits(b, 15, 13)) {
    case 0: set(in, OP_ADDI, rd, rd, 0, imm6); return;
    case 1: set(in, rd ? OP_ADDIW : OP_ILLEGAL, rd, rd, 0, imm6); return;
    case 2: set(in, OP_ADDI, rd, 0, 0, imm6); return;
    case 3:
        if (rd == 2) {
            int32_t imm = sext((bits(b, 12, 12) << 9) | (bits(b, 6, 6) << 4) | (bits(b, 5, 5) << 6) |
                               (bits(b, 4, 3) << 7) | (bits(b, 2, 2) << 5), 10);
            set(in, imm ? OP_ADDI : OP_ILLEGAL, 2, 2, 0, imm);
        } else {
            int32_t imm = sext((bits(b, 12, 12) << 17) | (bits(b, 6, 2) << 12), 18);
            set(in, imm ? OP_LUI : OP_ILLEGAL, rd, 0, 0, imm);
        }
        return;
    case 4: {
        unsigned shamt = (bits(b, 12, 12) << 5) | bits(b, 6, 2);
        switch (bits(b, 11, 10)) {
        case 0: set(in, OP_SRLI, rdp, rdp, 0, (int32_t)shamt); return;
        case 1: set(in, OP_SRAI, rdp, rdp, 0, (int32_t)shamt); return;
        case 2: set(in, OP_ANDI, rdp, rdp, 0, imm6); return;
        }
        static const unsigned ops[8] = { OP_SUB, OP_XOR, OP_OR, OP_AND,
                                         OP_SUBW, OP_ADDW, OP_ILLEGAL, OP_ILLEGAL };
        set(in, ops[(bits(b, 12, 12) << 2) | bits(b, 6, 5)], rdp, rdp, rs2p, 0);
        return;
    }
    case 5: {
        int32_t imm = sext((bits(b, 12, 12) << 11) | (bits(b, 11, 11) << 4) | (bits(b, 10, 9) << 8) |
                           (bits(b, 8, 8) << 10) | (bits(b, 7, 7) << 6) | (bits(b, 6, 6) << 7) |
                           (bits(b, 5, 3) << 1) | (bits(b, 2, 2) << 5), 12);
        set(in, OP_JAL, 0, 0, 0, imm);
        return;
    }
    case 6: case 7: {
        int32_t imm = sext((bits(b, 12, 12) << 8) | (bits(b, 11, 10) << 3) | (bits(b, 6, 5) << 6) |
                           (bits(b, 4, 3) << 1) | (bits(b, 2, 2) << 5), 9);
        set(in, bits(b, 15, 13) == 6 ? OP_BEQ : OP_BNE, 0, rdp, 0, imm);
        return;
    }
    }
}

static void decode_q2(uint32_t b, struct rv64_insn *in)
{
    unsigned rd = bits(b, 11, 7), rs2 = bits(b, 6, 2);
    uint32_t ldsp = (bits(b, 12, 12) << 5) | (bits(b, 6, 5) << 3) | (bits(b, 4, 2) << 6);
    uint32_t lwsp = (bits(b, 12, 12) << 5) | (bits(b, 6, 4) << 2) | (bits(b, 3, 2) << 6);
    uint32_t sdsp = (bits(b, 12, 10) << 3) | (bits(b, 9, 7) << 6);
    uint32_t swsp = (bits(b, 12, 9) << 2) | (bits(b, 8, 7) << 6);
    switch (bits(b, 15, 13)) {
    case 0: set(in, OP_SLLI, rd, rd, 0, (int32_t)((bits(b, 12, 12) << 5) | rs2)); return;
    case 1: set(in, OP_FLD, rd, 2, 0, (int32_t)ldsp); return;
    case 2: set(in, rd ? OP_LW : OP_ILLEGAL, rd, 2, 0, (int32_t)lwsp); return;
    case 3: set(in, rd ? OP_LD : OP_ILLEGAL, rd, 2, 0, (int32_t)ldsp); return;
    case 4:
        if (!bits(b, 12, 12)) {
            if (rs2 == 0)
                set(in, rd ? OP_JALR : OP_ILLEGAL, 0, rd, 0, 0);
            else
                set(in, OP_ADD, rd, 0, rs2, 0);
        } else {
            if (rd == 0 && rs2 == 0)
                set(in, OP_EBREAK, 0, 0, 0, 0);
            else if (rs2 == 0)
                set(in, OP_JALR, 1, rd, 0, 0);
            else
                set(in, OP_ADD, rd, rd, rs2, 0);
        }
        return;
    case 5: set(in, OP_FSD, 0, 2, rs2, (int32_t)sdsp); return;
    case 6: set(in, OP_SW, 0, 2, rs2, (int32_t)swsp); return;
    case 7: set(in, OP_SD, 0, 2, rs2, (int32_t)sdsp); return;
    }
}

void rv64_decode(uint32_t b, struct rv64_insn *in)
{
    in->raw = b;
    in->rs3 = 0;
    in->rm = 0;
    if ((b & 3) == 3) {
        in->len = 4;
        decode32(b, in);
    } else {
        b &= 0xffff;
        in->raw = b;
        in->len = 2;
        switch (b & 3) {
        case 0: decode_q0(b, in); break;
        case 1: decode_q1(b, in); break;
        case 2: decode_q2(b, in); break;
        }
        if (b == 0)
            set(in, OP_ILLEGAL, 0, 0, 0, 0);
        /* compressed FP loads/stores and ALU ops carry no rounding mode */
    }
    if (in->op == OP_ILLEGAL) {
        in->rd = in->rs1 = in->rs2 = 0;
    } else if (writes_xreg(in->op) && in->rd == 0) {
        in->rd = 32; /* write sink keeps x0 zero without a check per instruction */
    }
}
