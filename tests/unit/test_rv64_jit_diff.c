/* test_rv64_jit_diff.c — differential test of the JIT against the interpreter (the reference).
 *
 * A generator writes random valid RV64 instruction sequences: integer ALU and M ops with values
 * biased to the edge cases, loads and stores (aligned, misaligned, page-straddling, to unmapped
 * and read-only pages, in M-mode bare and in S-mode under Sv39 with virtual != physical), forward
 * branches and jumps, and instructions the JIT leaves to the interpreter (CSRs including
 * instret/cycle, FP with every rounding mode, AMOs, LR/SC, fences, ecall/ebreak). Each sequence
 * runs on two fresh identical machines, one interpreted and one translated, and everything
 * architectural is compared afterwards: registers, pc, privilege, instret, trap CSRs, FP state
 * and memory. A trap handler skips faulting instructions, so a sequence goes on after a fault.
 *
 * Default: a few seconds' worth in `make test`. More: KILN_JIT_DIFF_N=<sequences>, and
 * KILN_JIT_DIFF_SEED=<seed> to start elsewhere (a failure prints the seed that reproduces it). */
#include <stdio.h>
#include <stdlib.h>
#include "cpu/rv64/jit.h"
#include "rv64_test_util.h"

#define CODE       0x80000000ull   /* the sequence: at most one page */
#define HALT       0x80008000ull   /* `j .` on another page, so no block chains into it */
#define HANDLER    0x80001000ull   /* M-mode: skip the faulting instruction */
#define PT_ROOT    0x80030000ull
#define VDATA      0x80020000ull   /* 4 RW pages, then a read-only one, then an unmapped one */
#define PDATA      0x80050000ull   /* where S-mode's VDATA pages really are */
#define CMP_END    0x80060000ull   /* memory compared: RAM_BASE .. CMP_END */
#define MAX_INSNS  160
#define DEFAULT_N  20000 /* ~5 million guest instructions, a second or two */

struct env {
    struct guest_ram ram;
    struct rv64_machine m;
    struct bus bus;
    struct rv64_hart *h;
};

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* xorshift64*: deterministic per seed, so a failure can be replayed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

static uint64_t interesting(void)
{
    static const uint64_t edge[] = { 0, 1, 2, ~0ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
                                     0x7fffffff, 0x80000000ull, 0xffffffff80000000ull, 0xffffffff,
                                     31, 32, 63, 64, 0xfff, 0x1000 };
    switch (rn(3)) {
    case 0: return edge[rn(sizeof(edge) / sizeof(edge[0]))];
    case 1: return (uint64_t)(int64_t)(int16_t)rnd();
    default: return rnd();
    }
}

/* registers: x2 the code's address (jalr's base), x3 data base (middle of an RW page), x4 near a page end (straddles), x5 an
 * unmapped address, x6 the read-only page, x29 instret at the end, x30 the loop counter, x31 the
 * handler's scratch: none of them written by the random instructions */
static unsigned rd_any(void)
{
    static const unsigned w[] = { 0, 1, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                  21, 22, 23, 24, 25, 26, 27, 28 };
    return w[rn(sizeof(w) / sizeof(w[0]))];
}
static unsigned rs_any(void) { return rn(31); }

static uint32_t gen_alu_rr(void)
{
    static uint32_t (*const f[])(unsigned, unsigned, unsigned) = {
        i_add, i_sub, i_sll, i_slt, i_sltu, i_xor, i_srl, i_sra, i_or, i_and, i_addw, i_subw,
        i_sllw, i_srlw, i_sraw, i_mul, i_mulh, i_mulhsu, i_mulhu, i_div, i_divu, i_rem, i_remu,
        i_mulw, i_divw, i_divuw, i_remw, i_remuw,
    };
    return f[rn(sizeof(f) / sizeof(f[0]))](rd_any(), rs_any(), rs_any());
}

static int32_t imm12(void) { return rn(4) ? (int32_t)rn(4096) - 2048 : (rn(2) ? 2047 : -2048); }

static uint32_t gen_alu_ri(void)
{
    unsigned rd = rd_any(), rs = rs_any();
    switch (rn(15)) {
    case 0: return i_addi(rd, rs, imm12());
    case 1: return i_slti(rd, rs, imm12());
    case 2: return i_sltiu(rd, rs, imm12());
    case 3: return i_xori(rd, rs, imm12());
    case 4: return i_ori(rd, rs, imm12());
    case 5: return i_andi(rd, rs, imm12());
    case 6: return i_slli(rd, rs, rn(64));
    case 7: return i_srli(rd, rs, rn(64));
    case 8: return i_srai(rd, rs, rn(64));
    case 9: return i_addiw(rd, rs, imm12());
    case 10: return i_slliw(rd, rs, rn(32));
    case 11: return i_srliw(rd, rs, rn(32));
    case 12: return i_sraiw(rd, rs, rn(32));
    case 13: return i_lui(rd, (uint32_t)rnd());
    default: return i_auipc(rd, (uint32_t)rnd());
    }
}

static uint32_t gen_mem(void)
{
    static const unsigned bases[] = { 3, 3, 3, 3, 3, 3, 4, 4, 5, 6 };
    unsigned base = rn(20) ? bases[rn(sizeof(bases) / sizeof(bases[0]))] : rs_any();
    if (base == 2) /* stores into the code would rewrite the sequence at random (smc has its own test) */
        base = 3;
    int32_t imm = rn(3) ? (int32_t)(rn(64) * 8) - 256 : imm12();
    if (base == 4 || base == 5 || base == 6)
        imm = (int32_t)rn(16) - 8;
    unsigned rd = rd_any(), rs2 = rs_any();
    switch (rn(11)) {
    case 0: return i_lb(rd, base, imm);
    case 1: return i_lh(rd, base, imm);
    case 2: return i_lw(rd, base, imm);
    case 3: return i_ld(rd, base, imm);
    case 4: return i_lbu(rd, base, imm);
    case 5: return i_lhu(rd, base, imm);
    case 6: return i_lwu(rd, base, imm);
    case 7: return i_sb(rs2, base, imm);
    case 8: return i_sh(rs2, base, imm);
    case 9: return i_sw(rs2, base, imm);
    default: return i_sd(rs2, base, imm);
    }
}

/* Floating point, single and double, every operation class with every rounding mode (0-4, the
 * dynamic 7 under a random frm, reserved ones included, and the reserved 5 and 6, which must trap
 * as illegal instructions) on operands biased to the IEEE edge cases (NaNs signalling and quiet,
 * infinities, zeros, subnormals, values that round); FP loads and stores to the same kinds of
 * address as integer ones (misaligned, straddling, unmapped, read-only); moves between x and f
 * registers. Sequences run with mstatus.FS Off (every FP instruction traps), Initial, Clean or
 * Dirty (see run_one). */
#define OPC_MADD 0x43
static uint32_t gen_fp(void)
{
    unsigned fmt = rn(2); /* 0 single, 1 double */
    unsigned rm = rn(8), fd = rn(32), fa = rn(32), fb = rn(32), fc = rn(32);
    unsigned rd = rd_any(), rs = rs_any();
    switch (rn(16)) {
    case 0: return i_opfp(0x00 | fmt, fd, fa, fb, rm);             /* fadd */
    case 1: return i_opfp(0x04 | fmt, fd, fa, fb, rm);             /* fsub */
    case 2: return i_opfp(0x08 | fmt, fd, fa, fb, rm);             /* fmul */
    case 3: return i_opfp(0x0c | fmt, fd, fa, fb, rm);             /* fdiv */
    case 4: return i_opfp(0x2c | fmt, fd, fa, 0, rm);              /* fsqrt */
    case 5: return enc_r4(fc, fmt, fb, fa, rm, fd, OPC_MADD + 4 * rn(4)); /* fmadd fmsub fnmsub fnmadd */
    case 6: return i_opfp(0x10 | fmt, fd, fa, fb, rn(3));          /* fsgnj fsgnjn fsgnjx */
    case 7: return i_opfp(0x14 | fmt, fd, fa, fb, rn(2));          /* fmin fmax */
    case 8: return i_opfp(0x50 | fmt, rd, fa, fb, rn(3));          /* fle flt feq */
    case 9: return i_opfp(0x60 | fmt, rd, fa, rn(4), rm);          /* fcvt.{w,wu,l,lu}.{s,d} */
    case 10: return i_opfp(0x68 | fmt, fd, rs, rn(4), rm);         /* fcvt.{s,d}.{w,wu,l,lu} */
    case 11: return i_opfp(0x20 | (fmt ^ 1), fd, fa, fmt, rm);     /* fcvt.s.d, fcvt.d.s */
    case 12: return i_opfp(0x70 | fmt, rd, fa, 0, 1);              /* fclass */
    case 13: return rn(2) ? i_opfp(0x78 | fmt, fd, rs, 0, 0)       /* fmv.{w,d}.x */
                          : i_opfp(0x70 | fmt, rd, fa, 0, 0);      /* fmv.x.{w,d} */
    default: {
        /* loads and stores: mostly aligned in the RW page, sometimes anywhere gen_mem goes */
        static const unsigned bases[] = { 3, 3, 3, 3, 3, 3, 4, 4, 5, 6 };
        unsigned base = bases[rn(sizeof(bases) / sizeof(bases[0]))];
        int32_t imm = base == 3 ? (int32_t)(rn(32) * (fmt ? 8 : 4)) - 128 : (int32_t)rn(16) - 8;
        if (base == 3 && !rn(8))
            imm += (int32_t)rn(8); /* misaligned */
        switch (rn(4)) {
        case 0: return fmt ? i_fld(fd, base, imm) : i_flw(fd, base, imm);
        default: return fmt ? i_fsd(fb, base, imm) : i_fsw(fb, base, imm);
        }
    }
    }
}

static uint64_t fp_interesting(void)
{
    static const uint64_t d[] = { 0, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
                                  0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
                                  0x7ff4000000000000ull, 0x0000000000000001ull, 0x000fffffffffffffull,
                                  0x7fefffffffffffffull, 0x43e0000000000000ull, 0xc3e0000000000000ull,
                                  0x41dfffffffc00000ull, 0x3fe0000000000000ull, 0x4004000000000000ull };
    static const uint32_t s[] = { 0, 0x80000000u, 0x3f800000u, 0xbf800000u, 0x7f800000u, 0xff800000u,
                                  0x7fc00000u, 0x7fa00000u, 0x00000001u, 0x007fffffu, 0x7f7fffffu,
                                  0x4f000000u, 0xcf000000u, 0x3f000000u, 0x40200000u, 0x3eaaaaabu };
    switch (rn(4)) {
    case 0: return d[rn(16)];
    case 1: return 0xffffffff00000000ull | s[rn(16)];  /* a NaN-boxed single */
    case 2: return 0xffffffff00000000ull | (uint32_t)rnd();
    default: return rn(2) ? rnd() : 0x3ff0000000000000ull + (rnd() & 0xfffffffffffffull);
    }
}

/* instructions the JIT hands to the interpreter */
static uint32_t gen_other(void)
{
    /* [2, 7) are also written; the status registers only read (mstatus traps in S-mode) */
    static const unsigned csrs[] = { CSR_INSTRET, CSR_CYCLE, CSR_SSCRATCH, CSR_MSCRATCH,
                                     CSR_FFLAGS, CSR_FRM, CSR_FCSR, CSR_MSTATUS, CSR_SSTATUS };
    unsigned rd = rd_any(), rs = rs_any(), rm = rn(8); /* rm 5 and 6 are illegal: both trap */
    unsigned fd = rn(32), fa = rn(32), fb = rn(32);
    switch (rn(16)) {
    case 0: return i_csrr(rd, csrs[rn(sizeof(csrs) / sizeof(csrs[0]))]);
    case 1: return i_csrrw(rd, csrs[2 + rn(5)], rs);
    case 2: return i_csrrsi(rd, CSR_FFLAGS, rn(32));
    case 3: return i_fmv_d_x(fd, rs);
    case 4: return i_fadd_d(fd, fa, fb, rm);
    case 5: return i_fmul_d(fd, fa, fb, rm);
    case 6: return i_fdiv_d(fd, fa, fb, rm);
    case 7: return i_fcvt_l_d(rd, fa, rm);
    case 8: return i_fmv_x_d(rd, fa);
    case 9: return i_amo(rn(2) ? AMO_ADD : AMO_SWAP, 2 + rn(2), rd, rn(4) ? 3 : 4, rs);
    case 10: return i_lr_d(rd, 3);
    case 11: return i_sc_d(rd, rs, 3);
    case 12: return I_FENCE;
    case 13: return I_FENCE_I;
    case 14: return rn(2) ? I_ECALL : I_EBREAK;
    default: return i_fld(fd, 3, (int32_t)(rn(32) * 8) - 128);
    }
}

/* Fills code[0..n): a random body run 3 times over by a loop on x30 (the second and third times
 * through chained blocks), then x29 = instret and a jump to HALT. */
static unsigned gen_sequence(uint32_t *code)
{
    unsigned n = 8 + rn(MAX_INSNS - 8);
    unsigned last = n - 4; /* the loop's tail: everything branches forward to at most here */
    for (unsigned i = 0; i < last; i++) {
        unsigned kind = rn(100);
        if (kind < 28) {
            code[i] = gen_alu_rr();
        } else if (kind < 51) {
            code[i] = gen_alu_ri();
        } else if (kind < 72) {
            code[i] = gen_mem();
        } else if (kind < 80) {
            code[i] = gen_other();
        } else if (kind < 92) {
            code[i] = gen_fp();
        } else {
            /* forward only, so every sequence ends: to a later instruction or the final jump */
            unsigned to = i + 1 + rn(6);
            if (to > last)
                to = last;
            int32_t off = (int32_t)(to - i) * 4;
            switch (rn(9)) {
            case 0: code[i] = i_beq(rs_any(), rs_any(), off); break;
            case 1: code[i] = i_bne(rs_any(), rs_any(), off); break;
            case 2: code[i] = i_blt(rs_any(), rs_any(), off); break;
            case 3: code[i] = i_bge(rs_any(), rs_any(), off); break;
            case 4: code[i] = i_bltu(rs_any(), rs_any(), off); break;
            case 5: code[i] = i_bgeu(rs_any(), rs_any(), off); break;
            case 6: code[i] = i_jal(rd_any(), off); break;
            default:
                code[i] = i_jalr(rd_any(), 2, (int32_t)to * 4);
            }
        }
    }
    code[last] = i_addi(30, 30, -1);
    code[last + 1] = i_bne(30, 0, -4 * (int32_t)(last + 1));
    /* instret as the guest sees it: h->instret itself also counts the spinning at HALT, which
     * depends on how the run loop's steps fell (a flushed code cache unlinks blocks) */
    code[last + 2] = i_csrr(29, CSR_INSTRET);
    code[last + 3] = i_jal(0, (int32_t)(HALT - (CODE + 4ull * (last + 3))));
    return n;
}

static void env_create(struct env *e, bool jit, size_t cache_bytes)
{
    memset(&e->bus, 0, sizeof(e->bus));
    cr_assert_eq(guest_ram_create(&e->ram, RAM_SIZE), 0);
    cr_assert_eq(rv64_machine_init(&e->m, e->ram.host, RAM_SIZE, 1, &e->bus), 0);
    e->h = e->m.harts[0];
    if (jit) {
        cr_assert_eq(rv64_jit_enable(&e->m, cache_bytes), 0);
        e->h->jit->hot = 1; /* translate every block on its first run */
    }
}

/* Puts a sequence and its initial state in e, as if the machine were new (but without the cost
 * of creating one per sequence). */
static void env_load(struct env *e, int smode, unsigned fs, unsigned frm, const uint32_t *code,
                     unsigned n, const uint64_t *regs, const uint64_t *fregs)
{
    struct rv64_hart *h = e->h;
    /* a sequence may have stopped the machine (a trap loop the crash detector ends): its
     * exit and the stop request it left sticky must not stop every later sequence */
    atomic_store(&e->m.exit_reason, RV64_EXIT_NONE);
    atomic_store(&h->requests, 0);
    memset(e->ram.host, 0, CMP_END - RAM_BASE);
    uint8_t *ram = e->ram.host;
#define AT(pa) (ram + ((pa) - RAM_BASE))
    memcpy(AT(CODE), code, 4ull * n);
    static const uint32_t handler[] = { 0x34102ff3u /* csrr t6, mepc */, 0x004f8f93u /* addi t6,t6,4 */,
                                        0x341f9073u /* csrw mepc, t6 */, I_MRET };
    memcpy(AT(HANDLER), handler, sizeof(handler));
    uint32_t j = I_J_SELF;
    memcpy(AT(HALT), &j, 4);
    /* data: a recognisable pattern, identical on both machines */
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (uint64_t a = VDATA; a < VDATA + 0x5000; a += 8, seed = seed * 6364136223846793005ull + 1)
        memcpy(AT(a), &seed, 8), memcpy(AT(a - VDATA + PDATA), &seed, 8);
    /* Sv39: root[2] -> L1, L1[0] -> L0 covering 0x80000000..0x801fffff */
    uint64_t l1 = PT_ROOT + 0x1000, l0 = PT_ROOT + 0x2000, pte;
    pte = pte_table(l1); memcpy(AT(pte_addr(PT_ROOT, 2)), &pte, 8);
    pte = pte_table(l0); memcpy(AT(pte_addr(l1, 0)), &pte, 8);
    uint64_t leaves[][3] = {
        { CODE, CODE, PTE_R | PTE_X | PTE_A }, { HALT, HALT, PTE_R | PTE_X | PTE_A },
        { VDATA, PDATA, PTE_R | PTE_W | PTE_A }, { VDATA + 0x1000, PDATA + 0x1000, PTE_R | PTE_W | PTE_A | PTE_D },
        { VDATA + 0x2000, PDATA + 0x2000, PTE_R | PTE_W }, { VDATA + 0x3000, PDATA + 0x3000, PTE_R | PTE_W | PTE_A },
        { VDATA + 0x4000, PDATA + 0x4000, PTE_R | PTE_A }, /* VDATA + 0x5000: unmapped */
    };
    for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        pte = pte_leaf(leaves[i][1], leaves[i][2]);
        memcpy(AT(pte_addr(l0, vpn(leaves[i][0], 0))), &pte, 8);
    }
#undef AT
    rv64_hart_reset(h, CODE, PRIV_M); /* flushes decoded blocks and translations too */
    h->instret = h->cycle_offset = h->instret_offset = 0;
    h->mtvec = HANDLER;
    h->mstatus = (h->mstatus & ~MSTATUS_FS) | (uint64_t)fs << 13;
    h->mcounteren = 7;
    memcpy(h->x, regs, 32 * sizeof(uint64_t));
    memcpy(h->f, fregs, 32 * sizeof(uint64_t));
    h->frm = frm;
    h->x[0] = 0;
    if (smode) {
        h->satp = satp_of(8, PT_ROOT);
        rv64_set_priv(h, PRIV_S);
        rv64_tlb_flush(h);
    }
}

static void env_destroy(struct env *e)
{
    rv64_machine_destroy(&e->m);
    guest_ram_destroy(&e->ram);
}

/* Runs in steps of a few run-loop iterations: within a step the run loop links blocks to their
 * successors, as when a vCPU runs freely, so the loops go through linked (and, translated,
 * chained) blocks. Both machines may then spin a little at HALT (`j .`), by the same rules.
 * KILN_JIT_DIFF_TRACE=1: print pc and instret after every step (for a replayed seed). */
static void env_run(struct env *e)
{
    bool trace = getenv("KILN_JIT_DIFF_TRACE");
    for (unsigned i = 0; i < 5000 && e->h->pc != HALT; i++) {
        rv64_hart_run(e->h, 4);
        if (trace)
            fprintf(stderr, "%s pc=%#llx instret=%llu\n", e->h->jit ? "jit   " : "interp",
                    (unsigned long long)e->h->pc, (unsigned long long)e->h->instret);
    }
}

/* Reports every difference; true if there is none. */
static bool compare(struct env *a, struct env *b, uint64_t seed)
{
    bool ok = true;
    for (unsigned r = 0; r < 32; r++) {
        if (a->h->x[r] != b->h->x[r]) {
            cr_log_error("seed %#llx: x%u: interp %#llx jit %#llx", (unsigned long long)seed, r,
                         (unsigned long long)a->h->x[r], (unsigned long long)b->h->x[r]);
            ok = false;
        }
        if (a->h->f[r] != b->h->f[r]) {
            cr_log_error("seed %#llx: f%u differs", (unsigned long long)seed, r);
            ok = false;
        }
    }
#define CHK(field)                                                                              \
    if (a->h->field != b->h->field) {                                                           \
        cr_log_error("seed %#llx: " #field ": interp %#llx jit %#llx", (unsigned long long)seed, \
                     (unsigned long long)a->h->field, (unsigned long long)b->h->field);         \
        ok = false;                                                                             \
    }
    CHK(pc) CHK(priv) CHK(mstatus) CHK(mcause) CHK(mepc) CHK(mtval) CHK(mscratch)
    CHK(sscratch) CHK(fflags) CHK(frm) CHK(lr_valid) CHK(trap_streak)
#undef CHK
    for (uint64_t pa = RAM_BASE; pa < CMP_END; pa += 4096) {
        if (memcmp(a->ram.host + (pa - RAM_BASE), b->ram.host + (pa - RAM_BASE), 4096)) {
            cr_log_error("seed %#llx: memory differs in page %#llx", (unsigned long long)seed,
                         (unsigned long long)pa);
            ok = false;
        }
    }
    return ok;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : def;
}

static uint64_t total_insns, unterminated;

/* One sequence from seed, run on a (the interpreter) and on each JIT machine in b[0..nb); the
 * seed decides everything, the privilege mode included. */
static bool run_one(uint64_t seed, struct env *a, struct env *b, unsigned nb)
{
    rng_state = seed * 0x9e3779b97f4a7c15ull | 1;
    static uint32_t code[MAX_INSNS];
    unsigned n = gen_sequence(code);
    uint64_t regs[32], fregs[32];
    int smode = (int)rn(2);
    /* mstatus.FS: mostly Dirty; Off (FP traps), Initial and Clean (the first FP write must make
     * it Dirty) in one sequence of 8 each. frm: a reserved value (5-7: dynamic-rm instructions
     * trap) in one of 8 */
    unsigned fs = rn(8), frm = rn(8) ? rn(5) : 5 + rn(3);
    fs = fs < 5 ? 3 : fs - 5;
    for (unsigned r = 0; r < 32; r++) {
        regs[r] = interesting();
        fregs[r] = fp_interesting();
    }
    regs[2] = CODE;
    regs[3] = VDATA + 0x1800;
    regs[4] = VDATA + 0x2ffc;
    regs[5] = smode ? VDATA + 0x5000 : 0x40000000ull;
    regs[6] = VDATA + 0x4100;
    regs[30] = 3;
    regs[31] = 0;
    env_load(a, smode, fs, frm, code, n, regs, fregs);
    env_run(a);
    /* A rare sequence never ends (a store through a register that happens to point at the
     * code rewrites it into a trap loop): where a bounded run stops in such a loop depends on
     * how the run loop's steps fell, so it is not compared. */
    if (a->h->pc != HALT) {
        unterminated++;
        return true;
    }
    if (a->h->x[29] < 1000000) /* not if random stores rewrote the final csrr */
        total_insns += a->h->x[29];
    bool ok = true;
    for (unsigned i = 0; i < nb; i++) {
        env_load(&b[i], smode, fs, frm, code, n, regs, fregs);
        env_run(&b[i]);
        ok &= compare(a, &b[i], seed);
    }
    return ok;
}

Test(rv64_jit_diff, random_sequences_match_the_interpreter, .timeout = 600)
{
    uint64_t n = env_u64("KILN_JIT_DIFF_N", DEFAULT_N);
    uint64_t seed0 = env_u64("KILN_JIT_DIFF_SEED", 1);
    struct env a, b;
    env_create(&a, false, 0);
    env_create(&b, true, 1u << 20);
    unsigned bad = 0;
    for (uint64_t s = seed0; s < seed0 + n && bad < 5; s++)
        bad += !run_one(s, &a, &b, 1);
    cr_log_info("%llu sequences, %llu guest instructions compared, %llu sequences never ended",
                (unsigned long long)n, (unsigned long long)total_insns, (unsigned long long)unterminated);
    cr_assert_lt(unterminated, n / 100 + 1, "the generator makes sequences that end");
    cr_assert_eq(bad, 0, "%u sequences differ (replay: KILN_JIT_DIFF_SEED=<seed> KILN_JIT_DIFF_N=1)", bad);
    cr_assert_eq(b.h->jit->fallbacks, 0, "every block fits a 1 MiB cache");
    cr_assert_gt(b.h->jit->chains, 0, "the loops ran through chained blocks");
    env_destroy(&a);
    env_destroy(&b);
}

/* Code caches too small for one sequence's blocks: flushed while running, and the results must
 * not change. */
Test(rv64_jit_diff, tiny_code_cache_matches_the_interpreter, .timeout = 600)
{
    uint64_t n = env_u64("KILN_JIT_DIFF_N", DEFAULT_N) / 4;
    struct env a, b[2];
    env_create(&a, false, 0);
    env_create(&b[0], true, RV64_JIT_MIN_CACHE_BYTES);
    env_create(&b[1], true, 4 * RV64_JIT_MIN_CACHE_BYTES);
    unsigned bad = 0;
    for (uint64_t s = 1000001; s < 1000001 + n && bad < 5; s++)
        bad += !run_one(s, &a, b, 2);
    cr_assert_eq(bad, 0, "%u sequences differ", bad);
    /* the bound was really hit: translations were thrown away while sequences ran */
    cr_assert_gt(b[0].h->jit->flushes, 0);
    cr_assert_gt(b[1].h->jit->flushes, 0);
    env_destroy(&a);
    env_destroy(&b[0]);
    env_destroy(&b[1]);
}
