/* exec.c — runs decoded basic blocks. The hot path: loads and stores hit the software TLB inline;
 * anything unusual (TLB miss, MMIO, misaligned, fault) leaves through a slow-path call. */
#include <string.h>
#include "cpu/rv64/fpu.h"
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/ops.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- decoded-block cache ---- */

void rv64_flush_blocks(struct rv64_hart *h)
{
    /* with nothing decoded since the last flush the tables are already empty (blocks only enter
     * them from the arena), and a new vCPU's untouched tables would cost page faults to clear */
    if (h->arena_used) {
        memset(h->block_hash, 0, sizeof(*h->block_hash) << BLOCK_HASH_BITS);
        memset(h->jc, 0, sizeof(*h->jc) * JC_SIZE);
    }
    h->arena_used = 0;
    h->block_epoch++; /* blocks (and the links between them) are gone */
    if (h->jit)
        rv64_jit_reset(h->jit); /* and so are their translations */
}

static struct rv64_block *alloc_block(struct rv64_hart *h)
{
    size_t need = sizeof(struct rv64_block) + (BLOCK_MAX_INSNS + 1) * sizeof(struct rv64_insn);
    if (h->arena_used + need > h->arena_size)
        rv64_flush_blocks(h); /* simplest eviction: start over; decoding is cheap */
    struct rv64_block *b = (struct rv64_block *)(h->arena + h->arena_used);
    return b;
}

static void commit_block(struct rv64_hart *h, struct rv64_block *b)
{
    h->arena_used += sizeof(struct rv64_block) + (b->count + 1u) * sizeof(struct rv64_insn);
    h->arena_used = (h->arena_used + 15) & ~(size_t)15;
    unsigned idx = (b->paddr >> 1) & ((1u << BLOCK_HASH_BITS) - 1);
    b->next = h->block_hash[idx];
    h->block_hash[idx] = b;
}

/* Decode one instruction that crosses a page boundary into the scratch block. */
static struct rv64_block *decode_straddling(struct rv64_hart *h, uint64_t paddr, uint16_t lo)
{
    uint64_t pa2;
    if (!rv64_fetch_paddr(h, h->pc + 2, &pa2))
        return NULL;
    if (!rv64_is_ram(h->m, pa2, 2)) {
        rv64_raise(h, CAUSE_FETCH_ACCESS, h->pc + 2);
        return NULL;
    }
    uint16_t hi;
    memcpy(&hi, rv64_ram_ptr(h->m, pa2), 2);
    struct rv64_block *b = h->scratch;
    b->paddr = paddr;
    b->host = 0;
    b->page = ~0u;
    b->link[0] = b->link[1] = NULL;
    b->jit_code = NULL;
    b->heat = 0;
    b->count = 1;
    b->bytes = 4;
    rv64_decode((uint32_t)lo | ((uint32_t)hi << 16), &b->insns[0]);
    b->insns[0].off = 0;
    b->insns[1] = (struct rv64_insn){ .op = OP_BLOCK_END, .off = 4 };
    return b;
}

static struct rv64_block *decode_block(struct rv64_hart *h, uint64_t paddr)
{
    struct rv64_machine *m = h->m;
    uint32_t page = (uint32_t)((paddr - RV64_RAM_BASE) >> 12);
    uint32_t gen = atomic_load_explicit(&m->page_gen[page], memory_order_acquire);
    m->code_page[page] = 1;
    struct rv64_block *b = alloc_block(h);
    const uint8_t *host = rv64_ram_ptr(m, paddr);
    uint64_t room = 4096 - (paddr & 4095);
    unsigned off = 0, n = 0;
    while (n < BLOCK_MAX_INSNS && off < room) {
        uint16_t lo;
        memcpy(&lo, host + off, 2);
        uint32_t bits = lo;
        if ((lo & 3) == 3) {
            if (off + 4 > room) {
                if (n == 0)
                    return decode_straddling(h, paddr, lo);
                break;
            }
            uint16_t hi;
            memcpy(&hi, host + off + 2, 2);
            bits |= (uint32_t)hi << 16;
        }
        struct rv64_insn *in = &b->insns[n++];
        rv64_decode(bits, in);
        in->off = (uint8_t)off;
        off += in->len;
        if (rv64_op_ends_block(in->op))
            break;
    }
    b->paddr = paddr;
    b->host = (uintptr_t)host;
    b->page = page;
    b->gen = gen;
    b->link[0] = b->link[1] = NULL;
    b->jit_code = NULL;
    b->heat = 0;
    b->count = n;
    b->bytes = off;
    b->insns[n] = (struct rv64_insn){ .op = OP_BLOCK_END, .off = (uint8_t)off };
    commit_block(h, b);
    return b;
}

struct rv64_block *rv64_lookup_block(struct rv64_hart *h)
{
    struct rv64_machine *m = h->m;
    uint64_t pc = h->pc;
    rv64_jc_sync(h); /* code was written: no entry can be trusted */
    struct jc_entry *j = rv64_jc_entry(h, pc);
    struct tlb_entry *e = &h->itlb->x[(pc >> 12) & (TLB_SIZE - 1)];
    if (likely(j->vpc == pc && j->block && e->vpage == (pc & ~0xfffull) && pc + e->addend == j->host))
        return j->block;

    uint64_t paddr;
    if (!rv64_fetch_paddr(h, pc, &paddr))
        return NULL;
    if (!rv64_is_ram(m, paddr, 2)) {
        rv64_raise(h, CAUSE_FETCH_ACCESS, pc);
        return NULL;
    }
    uint32_t page = (uint32_t)((paddr - RV64_RAM_BASE) >> 12);
    uint32_t gen = atomic_load_explicit(&m->page_gen[page], memory_order_acquire);
    /* walk the chain, unlinking blocks whose code page has been written since decoding */
    struct rv64_block **pp = &h->block_hash[(paddr >> 1) & ((1u << BLOCK_HASH_BITS) - 1)], *b;
    while ((b = *pp) != NULL) {
        if (b->paddr == paddr && b->gen == gen)
            break;
        if (b->gen != atomic_load_explicit(&m->page_gen[b->page], memory_order_relaxed))
            *pp = b->next;
        else
            pp = &b->next;
    }
    if (!b) {
        b = decode_block(h, paddr);
        if (!b || b == h->scratch)
            return b;
    }
    /* the fetch TLB holds the mapping now (it validates jc hits) */
    *j = (struct jc_entry){ pc, b->host, b->jit_code, b };
    return b;
}

/* ---- execution ---- */

static inline void note_store(struct rv64_machine *m, uintptr_t host)
{
    uint64_t page = (host - (uintptr_t)m->ram) >> 12;
    if (unlikely(m->code_page[page]))
        rv64_code_written(m, page);
}

#define X(r) x[r]
/* the guest pc of the instruction being executed */
#define PC (start_pc + in->off)

#define LOAD(type, size, dst)                                                               \
    do {                                                                                    \
        uint64_t a_ = X(in->rs1) + (int64_t)in->imm;                                        \
        struct tlb_entry *e_ = &h->dtlb->r[(a_ >> 12) & (TLB_SIZE - 1)];                    \
        if (likely((a_ & (~0xfffull | (size - 1))) == e_->vpage)) {                         \
            dst = *(type *)(uintptr_t)(a_ + e_->addend);                                    \
        } else {                                                                            \
            uint64_t v_;                                                                    \
            h->pc = PC;                                                                     \
            if (!rv64_load_slow(h, a_, size, &v_))                                          \
                goto fault;                                                                 \
            dst = (type)v_;                                                                 \
        }                                                                                   \
    } while (0)

#define STORE(type, size, val)                                                              \
    do {                                                                                    \
        uint64_t a_ = X(in->rs1) + (int64_t)in->imm;                                        \
        struct tlb_entry *e_ = &h->dtlb->w[(a_ >> 12) & (TLB_SIZE - 1)];                    \
        if (likely((a_ & (~0xfffull | (size - 1))) == e_->vpage)) {                         \
            uintptr_t p_ = (uintptr_t)(a_ + e_->addend);                                    \
            *(type *)p_ = (type)(val);                                                      \
            note_store(m, p_);                                                              \
        } else {                                                                            \
            h->pc = PC;                                                                     \
            if (!rv64_store_slow(h, a_, size, (uint64_t)(val)))                             \
                goto fault;                                                                 \
        }                                                                                   \
    } while (0)

#define BRANCH(cond)                                                                        \
    do {                                                                                    \
        if (cond) {                                                                         \
            h->pc = PC + (int64_t)in->imm;                                                  \
            link = RV64_LINK_JUMP;                                                          \
        } else {                                                                            \
            h->pc = PC + in->len;                                                           \
            link = RV64_LINK_NEXT;                                                          \
        }                                                                                   \
        goto done;                                                                          \
    } while (0)

#define FP_ON() do { if (unlikely(!(h->mstatus & MSTATUS_FS))) goto illegal; } while (0)
#define FP_DIRTY() (h->mstatus |= MSTATUS_FS_DIRTY | MSTATUS_SD)
#define RM() ({ unsigned rm_ = in->rm == 7 ? h->frm : in->rm; if (unlikely(rm_ > 4)) goto illegal; (int)rm_; })

/* f[rd] = fn(f[rs1], f[rs2], rm, &flags) */
#define FP_OP2(fn) do { FP_ON(); int rm = RM(); unsigned fl = 0;                            \
        h->f[in->rd] = fn(h->f[in->rs1], h->f[in->rs2], rm, &fl);                           \
        h->fflags |= fl; FP_DIRTY(); } while (0)
#define FP_OP1(fn) do { FP_ON(); int rm = RM(); unsigned fl = 0;                            \
        h->f[in->rd] = fn(h->f[in->rs1], rm, &fl);                                          \
        h->fflags |= fl; FP_DIRTY(); } while (0)
#define FP_OP3(fn) do { FP_ON(); int rm = RM(); unsigned fl = 0;                            \
        h->f[in->rd] = fn(h->f[in->rs1], h->f[in->rs2], h->f[in->rs3], rm, &fl);            \
        h->fflags |= fl; FP_DIRTY(); } while (0)
#define FP_CMP(fn) do { FP_ON(); unsigned fl = 0;                                           \
        X(in->rd) = fn(h->f[in->rs1], h->f[in->rs2], &fl);                                  \
        h->fflags |= fl; if (fl) FP_DIRTY(); } while (0)
#define FP_MINMAX(fn) do { FP_ON(); unsigned fl = 0;                                        \
        h->f[in->rd] = fn(h->f[in->rs1], h->f[in->rs2], &fl);                               \
        h->fflags |= fl; FP_DIRTY(); } while (0)
#define FP_TOINT(fn) do { FP_ON(); int rm = RM(); unsigned fl = 0;                          \
        X(in->rd) = fn(h->f[in->rs1], rm, &fl);                                             \
        h->fflags |= fl; if (fl) FP_DIRTY(); } while (0)
#define FP_FROMINT(fn) do { FP_ON(); int rm = RM(); unsigned fl = 0;                        \
        h->f[in->rd] = fn(X(in->rs1), rm, &fl);                                             \
        h->fflags |= fl; FP_DIRTY(); } while (0)

#define AMO_W(expr)                                                                         \
    do {                                                                                    \
        h->pc = PC;                                                                         \
        uint32_t *p_ = rv64_amo_ptr(h, X(in->rs1), 4, ACC_WRITE);                           \
        if (!p_) goto fault;                                                                \
        uint32_t s_ = (uint32_t)X(in->rs2), old_ = __atomic_load_n(p_, __ATOMIC_RELAXED);   \
        uint32_t new_;                                                                      \
        do { new_ = (expr); }                                   \
        while (!__atomic_compare_exchange_n(p_, &old_, new_, true, __ATOMIC_SEQ_CST,        \
                                            __ATOMIC_RELAXED));                             \
        note_store(m, (uintptr_t)p_);                                                       \
        X(in->rd) = (uint64_t)(int64_t)(int32_t)old_;                                       \
    } while (0)

#define AMO_D(expr)                                                                         \
    do {                                                                                    \
        h->pc = PC;                                                                         \
        uint64_t *p_ = rv64_amo_ptr(h, X(in->rs1), 8, ACC_WRITE);                           \
        if (!p_) goto fault;                                                                \
        uint64_t s_ = X(in->rs2), old_ = __atomic_load_n(p_, __ATOMIC_RELAXED);             \
        uint64_t new_;                                                                      \
        do { new_ = (expr); }                                                               \
        while (!__atomic_compare_exchange_n(p_, &old_, new_, true, __ATOMIC_SEQ_CST,        \
                                            __ATOMIC_RELAXED));                             \
        note_store(m, (uintptr_t)p_);                                                       \
        X(in->rd) = old_;                                                                   \
    } while (0)

static void exec_csr(struct rv64_hart *h, const struct rv64_insn *in, uint64_t pc, bool *ok)
{
    uint64_t *x = h->x;
    unsigned csr = (unsigned)in->imm & 0xfff;
    bool imm_form = in->op >= OP_CSRRWI;
    unsigned base = imm_form ? in->op - OP_CSRRWI : in->op - OP_CSRRW; /* 0 rw, 1 rs, 2 rc */
    uint64_t src = imm_form ? in->rs1 : X(in->rs1);
    bool do_read = !(base == 0 && in->rd == 32);
    bool do_write = base == 0 || in->rs1 != 0;
    uint64_t old = 0;
    h->pc = pc;
    *ok = false;
    if (do_read && !rv64_csr_read(h, csr, &old))
        return;
    if (do_write) {
        uint64_t val = base == 0 ? src : base == 1 ? (old | src) : (old & ~src);
        if (!do_read) {
            /* CSRRW with rd=x0 must still check that the CSR exists and is accessible */
            uint64_t dummy;
            if (!rv64_csr_read(h, csr, &dummy))
                return;
        }
        if (!rv64_csr_write(h, csr, val))
            return;
    }
    X(in->rd) = old;
    h->pc = pc + in->len;
    *ok = true;
}

static inline uint64_t sx32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)v; }

static uint64_t mulh(int64_t a, int64_t b) { return (uint64_t)(((__int128)a * b) >> 64); }
static uint64_t mulhu(uint64_t a, uint64_t b) { return (uint64_t)(((unsigned __int128)a * b) >> 64); }
static uint64_t mulhsu(int64_t a, uint64_t b) { return (uint64_t)(((__int128)a * (__int128)b) >> 64); }

static uint64_t div64(int64_t a, int64_t b)
{
    if (b == 0) return ~0ull;
    if (a == INT64_MIN && b == -1) return (uint64_t)a;
    return (uint64_t)(a / b);
}
static uint64_t rem64(int64_t a, int64_t b)
{
    if (b == 0) return (uint64_t)a;
    if (a == INT64_MIN && b == -1) return 0;
    return (uint64_t)(a % b);
}
static uint64_t div32(int32_t a, int32_t b)
{
    if (b == 0) return ~0ull;
    if (a == INT32_MIN && b == -1) return sx32((uint32_t)a);
    return sx32((uint32_t)(a / b));
}
static uint64_t rem32(int32_t a, int32_t b)
{
    if (b == 0) return sx32((uint32_t)a);
    if (a == INT32_MIN && b == -1) return 0;
    return sx32((uint32_t)(a % b));
}

int rv64_exec_block(struct rv64_hart *h, struct rv64_block *b)
{
    int link;
    struct rv64_machine *m = h->m;
    uint64_t *x = h->x;
    const struct rv64_insn *in;
    uint64_t start_pc;

    /* threaded dispatch: each handler jumps straight to the next one, so the host's branch
     * predictor sees one indirect jump per guest operation instead of a shared one */
#define RV64_OP_LABEL(name) [OP_##name] = &&L_##name,
    static const void *const dispatch[OP_COUNT] = { RV64_OPS(RV64_OP_LABEL) };
#undef RV64_OP_LABEL
/* every block ends with an OP_BLOCK_END sentinel, so moving on needs no bounds check */
#define NEXT do { in++; goto *dispatch[in->op]; } while (0)
enter:
    link = RV64_LINK_NONE; /* only jumps, branches and the block end set a link */
    in = b->insns;
    start_pc = h->pc;
    goto *dispatch[in->op];
    switch (in->op) { /* the switch only scopes the labels; dispatch never goes through it */
        case OP_LUI: L_LUI: X(in->rd) = (int64_t)in->imm; NEXT;
        case OP_AUIPC: L_AUIPC: X(in->rd) = PC + (int64_t)in->imm; NEXT;
        case OP_JAL: L_JAL:
            X(in->rd) = PC + in->len;
            h->pc = PC + (int64_t)in->imm;
            link = RV64_LINK_JUMP;
            goto done;
        case OP_JALR: L_JALR: {
            uint64_t target = (X(in->rs1) + (int64_t)in->imm) & ~1ull;
            X(in->rd) = PC + in->len;
            h->pc = target;
            link = RV64_LINK_JUMP;
            goto done;
        }
        case OP_BEQ: L_BEQ: BRANCH(X(in->rs1) == X(in->rs2));
        case OP_BNE: L_BNE: BRANCH(X(in->rs1) != X(in->rs2));
        case OP_BLT: L_BLT: BRANCH((int64_t)X(in->rs1) < (int64_t)X(in->rs2));
        case OP_BGE: L_BGE: BRANCH((int64_t)X(in->rs1) >= (int64_t)X(in->rs2));
        case OP_BLTU: L_BLTU: BRANCH(X(in->rs1) < X(in->rs2));
        case OP_BGEU: L_BGEU: BRANCH(X(in->rs1) >= X(in->rs2));

        case OP_LB: L_LB: { int8_t v; LOAD(int8_t, 1, v); X(in->rd) = (int64_t)v; NEXT; }
        case OP_LH: L_LH: { int16_t v; LOAD(int16_t, 2, v); X(in->rd) = (int64_t)v; NEXT; }
        case OP_LW: L_LW: { int32_t v; LOAD(int32_t, 4, v); X(in->rd) = (int64_t)v; NEXT; }
        case OP_LD: L_LD: { uint64_t v; LOAD(uint64_t, 8, v); X(in->rd) = v; NEXT; }
        case OP_LBU: L_LBU: { uint8_t v; LOAD(uint8_t, 1, v); X(in->rd) = v; NEXT; }
        case OP_LHU: L_LHU: { uint16_t v; LOAD(uint16_t, 2, v); X(in->rd) = v; NEXT; }
        case OP_LWU: L_LWU: { uint32_t v; LOAD(uint32_t, 4, v); X(in->rd) = v; NEXT; }
        case OP_SB: L_SB: STORE(uint8_t, 1, X(in->rs2)); NEXT;
        case OP_SH: L_SH: STORE(uint16_t, 2, X(in->rs2)); NEXT;
        case OP_SW: L_SW: STORE(uint32_t, 4, X(in->rs2)); NEXT;
        case OP_SD: L_SD: STORE(uint64_t, 8, X(in->rs2)); NEXT;

        case OP_ADDI: L_ADDI: X(in->rd) = X(in->rs1) + (int64_t)in->imm; NEXT;
        case OP_SLTI: L_SLTI: X(in->rd) = (int64_t)X(in->rs1) < (int64_t)in->imm; NEXT;
        case OP_SLTIU: L_SLTIU: X(in->rd) = X(in->rs1) < (uint64_t)(int64_t)in->imm; NEXT;
        case OP_XORI: L_XORI: X(in->rd) = X(in->rs1) ^ (uint64_t)(int64_t)in->imm; NEXT;
        case OP_ORI: L_ORI: X(in->rd) = X(in->rs1) | (uint64_t)(int64_t)in->imm; NEXT;
        case OP_ANDI: L_ANDI: X(in->rd) = X(in->rs1) & (uint64_t)(int64_t)in->imm; NEXT;
        case OP_SLLI: L_SLLI: X(in->rd) = X(in->rs1) << in->imm; NEXT;
        case OP_SRLI: L_SRLI: X(in->rd) = X(in->rs1) >> in->imm; NEXT;
        case OP_SRAI: L_SRAI: X(in->rd) = (uint64_t)((int64_t)X(in->rs1) >> in->imm); NEXT;
        case OP_ADD: L_ADD: X(in->rd) = X(in->rs1) + X(in->rs2); NEXT;
        case OP_SUB: L_SUB: X(in->rd) = X(in->rs1) - X(in->rs2); NEXT;
        case OP_SLL: L_SLL: X(in->rd) = X(in->rs1) << (X(in->rs2) & 63); NEXT;
        case OP_SLT: L_SLT: X(in->rd) = (int64_t)X(in->rs1) < (int64_t)X(in->rs2); NEXT;
        case OP_SLTU: L_SLTU: X(in->rd) = X(in->rs1) < X(in->rs2); NEXT;
        case OP_XOR: L_XOR: X(in->rd) = X(in->rs1) ^ X(in->rs2); NEXT;
        case OP_SRL: L_SRL: X(in->rd) = X(in->rs1) >> (X(in->rs2) & 63); NEXT;
        case OP_SRA: L_SRA: X(in->rd) = (uint64_t)((int64_t)X(in->rs1) >> (X(in->rs2) & 63)); NEXT;
        case OP_OR: L_OR: X(in->rd) = X(in->rs1) | X(in->rs2); NEXT;
        case OP_AND: L_AND: X(in->rd) = X(in->rs1) & X(in->rs2); NEXT;
        case OP_ADDIW: L_ADDIW: X(in->rd) = sx32(X(in->rs1) + (int64_t)in->imm); NEXT;
        case OP_SLLIW: L_SLLIW: X(in->rd) = sx32((uint32_t)X(in->rs1) << in->imm); NEXT;
        case OP_SRLIW: L_SRLIW: X(in->rd) = sx32((uint32_t)X(in->rs1) >> in->imm); NEXT;
        case OP_SRAIW: L_SRAIW: X(in->rd) = (uint64_t)(int64_t)((int32_t)X(in->rs1) >> in->imm); NEXT;
        case OP_ADDW: L_ADDW: X(in->rd) = sx32(X(in->rs1) + X(in->rs2)); NEXT;
        case OP_SUBW: L_SUBW: X(in->rd) = sx32(X(in->rs1) - X(in->rs2)); NEXT;
        case OP_SLLW: L_SLLW: X(in->rd) = sx32((uint32_t)X(in->rs1) << (X(in->rs2) & 31)); NEXT;
        case OP_SRLW: L_SRLW: X(in->rd) = sx32((uint32_t)X(in->rs1) >> (X(in->rs2) & 31)); NEXT;
        case OP_SRAW: L_SRAW: X(in->rd) = (uint64_t)(int64_t)((int32_t)X(in->rs1) >> (X(in->rs2) & 31)); NEXT;

        case OP_MUL: L_MUL: X(in->rd) = X(in->rs1) * X(in->rs2); NEXT;
        case OP_MULH: L_MULH: X(in->rd) = mulh((int64_t)X(in->rs1), (int64_t)X(in->rs2)); NEXT;
        case OP_MULHSU: L_MULHSU: X(in->rd) = mulhsu((int64_t)X(in->rs1), X(in->rs2)); NEXT;
        case OP_MULHU: L_MULHU: X(in->rd) = mulhu(X(in->rs1), X(in->rs2)); NEXT;
        case OP_DIV: L_DIV: X(in->rd) = div64((int64_t)X(in->rs1), (int64_t)X(in->rs2)); NEXT;
        case OP_DIVU: L_DIVU: X(in->rd) = X(in->rs2) ? X(in->rs1) / X(in->rs2) : ~0ull; NEXT;
        case OP_REM: L_REM: X(in->rd) = rem64((int64_t)X(in->rs1), (int64_t)X(in->rs2)); NEXT;
        case OP_REMU: L_REMU: X(in->rd) = X(in->rs2) ? X(in->rs1) % X(in->rs2) : X(in->rs1); NEXT;
        case OP_MULW: L_MULW: X(in->rd) = sx32((uint32_t)X(in->rs1) * (uint32_t)X(in->rs2)); NEXT;
        case OP_DIVW: L_DIVW: X(in->rd) = div32((int32_t)X(in->rs1), (int32_t)X(in->rs2)); NEXT;
        case OP_DIVUW: L_DIVUW: {
            uint32_t a = (uint32_t)X(in->rs1), d = (uint32_t)X(in->rs2);
            X(in->rd) = d ? sx32(a / d) : ~0ull;
            NEXT;
        }
        case OP_REMW: L_REMW: X(in->rd) = rem32((int32_t)X(in->rs1), (int32_t)X(in->rs2)); NEXT;
        case OP_REMUW: L_REMUW: {
            uint32_t a = (uint32_t)X(in->rs1), d = (uint32_t)X(in->rs2);
            X(in->rd) = sx32(d ? a % d : a);
            NEXT;
        }

        case OP_LR_W: L_LR_W: case OP_LR_D: L_LR_D: {
            unsigned size = in->op == OP_LR_W ? 4 : 8;
            h->pc = PC;
            void *p = rv64_amo_ptr(h, X(in->rs1), size, ACC_READ);
            if (!p) goto fault;
            uint64_t v = size == 4 ? sx32(__atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE))
                                   : __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
            h->lr_addr = X(in->rs1);
            h->lr_value = v;
            h->lr_valid = true;
            X(in->rd) = v;
            NEXT;
        }
        case OP_SC_W: L_SC_W: case OP_SC_D: L_SC_D: {
            unsigned size = in->op == OP_SC_W ? 4 : 8;
            uint64_t addr = X(in->rs1);
            h->pc = PC;
            void *p = rv64_amo_ptr(h, addr, size, ACC_WRITE);
            if (!p) goto fault;
            bool ok = false;
            if (h->lr_valid && h->lr_addr == addr) {
                if (size == 4) {
                    uint32_t expect = (uint32_t)h->lr_value;
                    ok = __atomic_compare_exchange_n((uint32_t *)p, &expect, (uint32_t)X(in->rs2),
                                                     false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
                } else {
                    uint64_t expect = h->lr_value;
                    ok = __atomic_compare_exchange_n((uint64_t *)p, &expect, X(in->rs2), false,
                                                     __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
                }
                if (ok)
                    note_store(m, (uintptr_t)p);
            }
            h->lr_valid = false;
            X(in->rd) = ok ? 0 : 1;
            NEXT;
        }
        case OP_AMOSWAP_W: L_AMOSWAP_W: AMO_W(s_); NEXT;
        case OP_AMOADD_W: L_AMOADD_W: AMO_W(old_ + s_); NEXT;
        case OP_AMOXOR_W: L_AMOXOR_W: AMO_W(old_ ^ s_); NEXT;
        case OP_AMOAND_W: L_AMOAND_W: AMO_W(old_ & s_); NEXT;
        case OP_AMOOR_W: L_AMOOR_W: AMO_W(old_ | s_); NEXT;
        case OP_AMOMIN_W: L_AMOMIN_W: AMO_W((int32_t)old_ < (int32_t)s_ ? old_ : s_); NEXT;
        case OP_AMOMAX_W: L_AMOMAX_W: AMO_W((int32_t)old_ > (int32_t)s_ ? old_ : s_); NEXT;
        case OP_AMOMINU_W: L_AMOMINU_W: AMO_W(old_ < s_ ? old_ : s_); NEXT;
        case OP_AMOMAXU_W: L_AMOMAXU_W: AMO_W(old_ > s_ ? old_ : s_); NEXT;
        case OP_AMOSWAP_D: L_AMOSWAP_D: AMO_D(s_); NEXT;
        case OP_AMOADD_D: L_AMOADD_D: AMO_D(old_ + s_); NEXT;
        case OP_AMOXOR_D: L_AMOXOR_D: AMO_D(old_ ^ s_); NEXT;
        case OP_AMOAND_D: L_AMOAND_D: AMO_D(old_ & s_); NEXT;
        case OP_AMOOR_D: L_AMOOR_D: AMO_D(old_ | s_); NEXT;
        case OP_AMOMIN_D: L_AMOMIN_D: AMO_D((int64_t)old_ < (int64_t)s_ ? old_ : s_); NEXT;
        case OP_AMOMAX_D: L_AMOMAX_D: AMO_D((int64_t)old_ > (int64_t)s_ ? old_ : s_); NEXT;
        case OP_AMOMINU_D: L_AMOMINU_D: AMO_D(old_ < s_ ? old_ : s_); NEXT;
        case OP_AMOMAXU_D: L_AMOMAXU_D: AMO_D(old_ > s_ ? old_ : s_); NEXT;

        case OP_FLW: L_FLW: { FP_ON(); uint32_t v; LOAD(uint32_t, 4, v); h->f[in->rd] = fpu_box_s(v); FP_DIRTY(); NEXT; }
        case OP_FLD: L_FLD: { FP_ON(); uint64_t v; LOAD(uint64_t, 8, v); h->f[in->rd] = v; FP_DIRTY(); NEXT; }
        case OP_FSW: L_FSW: FP_ON(); STORE(uint32_t, 4, h->f[in->rs2]); NEXT;
        case OP_FSD: L_FSD: FP_ON(); STORE(uint64_t, 8, h->f[in->rs2]); NEXT;

        case OP_FMADD_S: L_FMADD_S: FP_OP3(fpu_madd_s); NEXT;
        case OP_FMSUB_S: L_FMSUB_S: FP_OP3(fpu_msub_s); NEXT;
        case OP_FNMSUB_S: L_FNMSUB_S: FP_OP3(fpu_nmsub_s); NEXT;
        case OP_FNMADD_S: L_FNMADD_S: FP_OP3(fpu_nmadd_s); NEXT;
        case OP_FMADD_D: L_FMADD_D: FP_OP3(fpu_madd_d); NEXT;
        case OP_FMSUB_D: L_FMSUB_D: FP_OP3(fpu_msub_d); NEXT;
        case OP_FNMSUB_D: L_FNMSUB_D: FP_OP3(fpu_nmsub_d); NEXT;
        case OP_FNMADD_D: L_FNMADD_D: FP_OP3(fpu_nmadd_d); NEXT;
        case OP_FADD_S: L_FADD_S: FP_OP2(fpu_add_s); NEXT;
        case OP_FSUB_S: L_FSUB_S: FP_OP2(fpu_sub_s); NEXT;
        case OP_FMUL_S: L_FMUL_S: FP_OP2(fpu_mul_s); NEXT;
        case OP_FDIV_S: L_FDIV_S: FP_OP2(fpu_div_s); NEXT;
        case OP_FSQRT_S: L_FSQRT_S: FP_OP1(fpu_sqrt_s); NEXT;
        case OP_FADD_D: L_FADD_D: FP_OP2(fpu_add_d); NEXT;
        case OP_FSUB_D: L_FSUB_D: FP_OP2(fpu_sub_d); NEXT;
        case OP_FMUL_D: L_FMUL_D: FP_OP2(fpu_mul_d); NEXT;
        case OP_FDIV_D: L_FDIV_D: FP_OP2(fpu_div_d); NEXT;
        case OP_FSQRT_D: L_FSQRT_D: FP_OP1(fpu_sqrt_d); NEXT;
        case OP_FSGNJ_S: L_FSGNJ_S: FP_ON(); h->f[in->rd] = fpu_sgnj_s(h->f[in->rs1], h->f[in->rs2]); FP_DIRTY(); NEXT;
        case OP_FSGNJN_S: L_FSGNJN_S: FP_ON(); h->f[in->rd] = fpu_sgnjn_s(h->f[in->rs1], h->f[in->rs2]); FP_DIRTY(); NEXT;
        case OP_FSGNJX_S: L_FSGNJX_S: FP_ON(); h->f[in->rd] = fpu_sgnjx_s(h->f[in->rs1], h->f[in->rs2]); FP_DIRTY(); NEXT;
        case OP_FSGNJ_D: L_FSGNJ_D: FP_ON(); h->f[in->rd] = fpu_sgnj_d(h->f[in->rs1], h->f[in->rs2]); FP_DIRTY(); NEXT;
        case OP_FSGNJN_D: L_FSGNJN_D: FP_ON(); h->f[in->rd] = fpu_sgnjn_d(h->f[in->rs1], h->f[in->rs2]); FP_DIRTY(); NEXT;
        case OP_FSGNJX_D: L_FSGNJX_D: FP_ON(); h->f[in->rd] = fpu_sgnjx_d(h->f[in->rs1], h->f[in->rs2]); FP_DIRTY(); NEXT;
        case OP_FMIN_S: L_FMIN_S: FP_MINMAX(fpu_min_s); NEXT;
        case OP_FMAX_S: L_FMAX_S: FP_MINMAX(fpu_max_s); NEXT;
        case OP_FMIN_D: L_FMIN_D: FP_MINMAX(fpu_min_d); NEXT;
        case OP_FMAX_D: L_FMAX_D: FP_MINMAX(fpu_max_d); NEXT;
        case OP_FCVT_W_S: L_FCVT_W_S: FP_TOINT(fpu_cvt_w_s); NEXT;
        case OP_FCVT_WU_S: L_FCVT_WU_S: FP_TOINT(fpu_cvt_wu_s); NEXT;
        case OP_FCVT_L_S: L_FCVT_L_S: FP_TOINT(fpu_cvt_l_s); NEXT;
        case OP_FCVT_LU_S: L_FCVT_LU_S: FP_TOINT(fpu_cvt_lu_s); NEXT;
        case OP_FCVT_W_D: L_FCVT_W_D: FP_TOINT(fpu_cvt_w_d); NEXT;
        case OP_FCVT_WU_D: L_FCVT_WU_D: FP_TOINT(fpu_cvt_wu_d); NEXT;
        case OP_FCVT_L_D: L_FCVT_L_D: FP_TOINT(fpu_cvt_l_d); NEXT;
        case OP_FCVT_LU_D: L_FCVT_LU_D: FP_TOINT(fpu_cvt_lu_d); NEXT;
        case OP_FCVT_S_W: L_FCVT_S_W: FP_FROMINT(fpu_cvt_s_w); NEXT;
        case OP_FCVT_S_WU: L_FCVT_S_WU: FP_FROMINT(fpu_cvt_s_wu); NEXT;
        case OP_FCVT_S_L: L_FCVT_S_L: FP_FROMINT(fpu_cvt_s_l); NEXT;
        case OP_FCVT_S_LU: L_FCVT_S_LU: FP_FROMINT(fpu_cvt_s_lu); NEXT;
        case OP_FCVT_D_W: L_FCVT_D_W: FP_FROMINT(fpu_cvt_d_w); NEXT;
        case OP_FCVT_D_WU: L_FCVT_D_WU: FP_FROMINT(fpu_cvt_d_wu); NEXT;
        case OP_FCVT_D_L: L_FCVT_D_L: FP_FROMINT(fpu_cvt_d_l); NEXT;
        case OP_FCVT_D_LU: L_FCVT_D_LU: FP_FROMINT(fpu_cvt_d_lu); NEXT;
        case OP_FCVT_S_D: L_FCVT_S_D: FP_OP1(fpu_cvt_s_d); NEXT;
        case OP_FCVT_D_S: L_FCVT_D_S: FP_OP1(fpu_cvt_d_s); NEXT;
        case OP_FEQ_S: L_FEQ_S: FP_CMP(fpu_eq_s); NEXT;
        case OP_FLT_S: L_FLT_S: FP_CMP(fpu_lt_s); NEXT;
        case OP_FLE_S: L_FLE_S: FP_CMP(fpu_le_s); NEXT;
        case OP_FEQ_D: L_FEQ_D: FP_CMP(fpu_eq_d); NEXT;
        case OP_FLT_D: L_FLT_D: FP_CMP(fpu_lt_d); NEXT;
        case OP_FLE_D: L_FLE_D: FP_CMP(fpu_le_d); NEXT;
        case OP_FCLASS_S: L_FCLASS_S: FP_ON(); X(in->rd) = fpu_class_s(h->f[in->rs1]); NEXT;
        case OP_FCLASS_D: L_FCLASS_D: FP_ON(); X(in->rd) = fpu_class_d(h->f[in->rs1]); NEXT;
        case OP_FMV_X_W: L_FMV_X_W: FP_ON(); X(in->rd) = sx32(h->f[in->rs1]); NEXT;
        case OP_FMV_X_D: L_FMV_X_D: FP_ON(); X(in->rd) = h->f[in->rs1]; NEXT;
        case OP_FMV_W_X: L_FMV_W_X: FP_ON(); h->f[in->rd] = fpu_box_s((uint32_t)X(in->rs1)); FP_DIRTY(); NEXT;
        case OP_FMV_D_X: L_FMV_D_X: FP_ON(); h->f[in->rd] = X(in->rs1); FP_DIRTY(); NEXT;

        case OP_FENCE: L_FENCE:
            NEXT;
        case OP_FENCE_I: L_FENCE_I:
            /* stores already invalidate decoded code through the page generations */
            h->pc = PC + in->len;
            goto done;
        case OP_CSRRW: L_CSRRW: case OP_CSRRS: L_CSRRS: case OP_CSRRC: L_CSRRC:
        case OP_CSRRWI: L_CSRRWI: case OP_CSRRSI: L_CSRRSI: case OP_CSRRCI: L_CSRRCI: {
            bool ok;
            /* the instructions before this one in the block have retired: instret/cycle
             * reads (and minstret/mcycle writes) must see them */
            uint64_t retired = (uint64_t)(in - b->insns);
            h->instret += retired;
            exec_csr(h, in, PC, &ok);
            h->instret -= retired;
            if (!ok)
                goto illegal;
            goto done;
        }
        case OP_ECALL: L_ECALL:
            h->pc = PC;
            if (h->m->sbi_mode && h->priv == PRIV_S && rv64_sbi_call(h)) {
                h->pc = PC + 4;
                goto done;
            }
            rv64_raise(h, CAUSE_USER_ECALL + (h->priv == PRIV_M ? 3 : h->priv), 0);
            goto fault;
        case OP_EBREAK: L_EBREAK:
            h->pc = PC;
            rv64_raise(h, CAUSE_BREAKPOINT, PC);
            goto fault;
        case OP_MRET: L_MRET:
            if (h->priv != PRIV_M)
                goto illegal;
            rv64_mret(h);
            goto done;
        case OP_SRET: L_SRET:
            if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MSTATUS_TSR)))
                goto illegal;
            rv64_sret(h);
            goto done;
        case OP_WFI: L_WFI:
            if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MSTATUS_TW)))
                goto illegal;
            h->pc = PC + in->len;
            rv64_hart_wfi(h);
            goto done;
        case OP_SFENCE_VMA: L_SFENCE_VMA:
            if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM)))
                goto illegal;
            if (in->rs1) /* one address: in every address space (more than asked is allowed) */
                rv64_tlb_flush_page(h, X(in->rs1));
            else if (in->rs2) /* one ASID */
                rv64_tlb_flush_asid(h, X(in->rs2));
            else
                rv64_tlb_flush(h);
            h->pc = PC + in->len;
            goto done;
        case OP_ILLEGAL: L_ILLEGAL:
        default:
            goto illegal;
    }
#undef NEXT
L_BLOCK_END: /* fell off the end: block limit or page end */
    h->pc = PC;
    in--;
    link = RV64_LINK_NEXT;
done: /* `in` is the block-ending instruction, which completed */
    h->instret += (uint64_t)(in - b->insns) + 1;
    h->trap_streak = 0;
    h->last_block = b;
    h->last_pc = start_pc;
    if (link != RV64_LINK_NONE) {
        /* go straight on to a linked successor while nothing needs the run loop's attention */
        struct rv64_block *next = rv64_linked_block(h, b, start_pc, link);
        if (next && likely(--h->timer_countdown > 0 &&
                           !atomic_load_explicit(&h->requests, memory_order_relaxed) &&
                           !(atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie))) {
            b = next;
            goto enter;
        }
    }
    return link;
illegal:
    h->pc = PC;
    rv64_raise(h, CAUSE_ILLEGAL_INSN, in->raw);
fault:
    h->instret += (uint64_t)(in - b->insns);
    if (in != b->insns)
        h->trap_streak = 0;
    h->last_block = b;
    h->last_pc = start_pc;
    return RV64_LINK_NONE;
}
