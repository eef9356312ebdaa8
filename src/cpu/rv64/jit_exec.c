/* jit_exec.c — runs translated blocks with exactly the interpreter's contract (rv64_exec_block in
 * exec.c): the same bookkeeping after each block (instret, trap streak, last block) and the same
 * rule for going straight on to a linked successor, so the run loop, timers and interrupts see
 * no difference. Blocks are translated the first time they run.
 *
 * Translated code returns (retired << 8) | (link + 1): how many of the block's instructions
 * retired and how it ended. pc is stored by the code itself at every exit (by the trap for a
 * faulting instruction), so nothing per instruction is kept while it runs. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/ops.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Run one instruction the translator does not handle through the interpreter's own handler, as
 * a one-instruction block. idx instructions of the block before it have retired: instret
 * includes them while it runs (CSR reads of instret/cycle see them, as in exec.c), and is left
 * as it was, since the translated code reports the block's retired count at its exit.
 * Returns 0 if it trapped (pc and the trap CSRs are set), else its link + 2 (never 0). */
uint32_t rv64_jit_interp_one(struct rv64_hart *h, const void *insn, uint64_t idx, uint64_t pc)
{
    const struct rv64_insn *in = insn;
    struct rv64_block *one = h->jit->one;
    one->insns[0] = *in;
    one->insns[0].off = 0;
    one->insns[1] = (struct rv64_insn){ .op = OP_BLOCK_END, .off = in->len };
    one->count = 1;
    one->bytes = in->len;
    one->link[0] = one->link[1] = NULL; /* never chained: the translated block goes on */
    h->pc = pc;
    h->instret += idx;
    uint64_t before = h->instret;
    /* the translated code's own record of which block runs (chaining sets it) */
    struct rv64_block *last_block = h->last_block;
    uint64_t last_pc = h->last_pc;
    int link = rv64_exec_block(h, one);
    h->last_block = last_block;
    h->last_pc = last_pc;
    bool retired = h->instret != before;
    h->instret = before - idx;
    return retired ? (uint32_t)(link + 2) : 0;
}

/* A CSR read (csrrs/csrrc with nothing to set or clear) from translated code, without the
 * one-instruction block: the CSR's value in *val, or false if the read traps (the caller then
 * runs the instruction through rv64_jit_interp_one, which raises the exception). Instructions
 * before it in the block (idx) count, as in exec.c, for instret and cycle reads. */
uint32_t rv64_jit_csr_read(struct rv64_hart *h, uint64_t csr, uint64_t idx, uint64_t *val)
{
    h->instret += idx;
    bool ok = rv64_csr_read(h, (unsigned)csr, val);
    h->instret -= idx;
    return ok;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Translate b, flushing the whole cache once if it is full. False: run b in the interpreter. */
static bool translate(struct rv64_hart *h, struct rv64_block *b)
{
    struct rv64_jit *j = h->jit;
    uint64_t t0 = now_ns();
    int ok = rv64_jit_translate(h, b);
    if (!ok && j->used) {
        /* Full: start over. b survives the flush (its arena memory is only reused by the next
         * decode, after it has run), but its links may point at blocks that are gone. */
        rv64_flush_blocks(h);
        b->link[0] = b->link[1] = NULL;
        ok = rv64_jit_translate(h, b);
    }
    j->translate_ns += now_ns() - t0;
    if (!ok) {
        j->fallbacks++;
        return false;
    }
    /* the jump cache's entry for it (the run loop looked it up at pc) takes the code */
    struct jc_entry *e = rv64_jc_entry(h, h->pc);
    if (e->vpc == h->pc && e->block == b)
        e->code = b->jit_code;
    if (j->perf_map)
        fprintf(j->perf_map, "%lx %lx rv64 block pa=%llx pc=%llx n=%u\n",
                (unsigned long)(uintptr_t)b->jit_code,
                (unsigned long)(j->used - (size_t)((uint8_t *)b->jit_code - j->rx)),
                (unsigned long long)b->paddr, (unsigned long long)h->pc, b->count);
    return true;
}

/* prev ended through `link` into b, both translated in the current cache: from now on prev's
 * exit jumps straight into b. A near site (b on prev's page, see emit_chain_exit) only while b
 * is as current as prev: its chained exit checks that prev's code page is unchanged, which
 * then vouches for b too. A far site (emit_far_exit) checks b's own page, and that the fetch
 * TLB still maps the target to b, with the constants patched in here; it comes back here when
 * a check fails, and is chained again to what the target is now. */
static void chain(struct rv64_hart *h, struct rv64_block *prev, int link, struct rv64_block *b)
{
    struct rv64_jit *j = h->jit;
    uint16_t site = prev->jit_cell[link];
    bool far = prev->jit_far & (1u << link);
    if (!site || !prev->jit_code || !b->jit_code || b == h->scratch ||
        (!far && (prev->gen != b->gen || prev->page != b->page)))
        return;
    /* written through the read-write view while no translated code of this hart runs (other
     * harts have caches of their own) */
    uint8_t *rw = j->rw + ((uint8_t *)prev->jit_code - j->rx);
    const uint8_t *rx = (const uint8_t *)prev->jit_code;
    const uint8_t *body = (const uint8_t *)b->jit_code + j->body_off;
    uint16_t at = prev->jit_jmp[link];
    static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
    int32_t jmp = (int32_t)(body - (rx + at + 4));
    if (far) {
        uint64_t host = b->host, cell = (uint64_t)(uintptr_t)&h->page_gen[b->page];
        memcpy(rw + site + RV64_JIT_FAR_HOST, &host, 8);
        memcpy(rw + site + RV64_JIT_FAR_GEN_CELL, &cell, 8);
        memcpy(rw + site + RV64_JIT_FAR_GEN, &b->gen, 4);
    }
    memcpy(rw + at, &jmp, 4);
    /* last: the site's jmp (its rel32 at site) becomes a 5-byte nop, so the exit falls into
     * the chain path (a jmp to the next instruction would work too, for a taken branch more) */
    memcpy(rw + site - 1, nop5, 5);
    j->chains++;
}

int rv64_jit_exec_block(struct rv64_hart *h, struct rv64_block *b)
{
    struct rv64_block *prev = NULL;
    int prev_link = RV64_LINK_NONE;
    uint64_t epoch = h->block_epoch;
    rv64_jc_sync(h);
    for (;;) {
        /* the straddling-instruction scratch block is rewritten for every use: not worth it */
        if (b == h->scratch ||
            (!b->jit_code && (++b->heat < h->jit->hot || !translate(h, b))))
            return rv64_exec_block(h, b);
        if (prev && epoch == h->block_epoch) /* no flush since prev ran: both are current */
            chain(h, prev, prev_link, b);
        h->last_block = b;
        h->last_pc = h->pc;
        uint32_t r = ((rv64_jit_fn)b->jit_code)(h, b);
        /* chained exits may have gone on through several blocks: the last one says */
        b = h->last_block;
        uint64_t start_pc = h->last_pc;
        int link = (int)(r & 0xff) - 1;
        uint64_t retired = r >> 8;
        h->instret += retired;
        if (retired)
            h->trap_streak = 0;
        if (link == RV64_LINK_NONE)
            return link;
        struct rv64_block *next = rv64_linked_block(h, b, start_pc, link);
        /* an unchained far exit: look its successor up here, so that it gets chained */
        bool far = !next && (b->jit_far & (1u << link));
        if (!((next || far) && likely(--h->timer_countdown > 0 &&
                                      !atomic_load_explicit(&h->requests, memory_order_relaxed) &&
                                      !(atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie))))
            return link;
        uint64_t ran = h->block_epoch; /* a decode by the lookup may flush b away */
        if (!next && !(next = rv64_lookup_block(h)))
            return RV64_LINK_NONE; /* a fetch fault was raised: pc is at its handler */
        prev = b;
        prev_link = link;
        epoch = ran;
        b = next;
    }
}
