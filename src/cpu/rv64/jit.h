/* jit.h — the rv64 → x86-64 translator (off by default; the interpreter in exec.c is the
 * reference and the fallback).
 *
 * A translation belongs to a decoded block (struct rv64_block.jit_code), so everything that
 * already keeps decoded blocks honest keeps translations honest too: the per-page generation
 * check (self-modifying code), the block-cache flush and the jump cache. Translations live in a
 * per-hart code cache with a fixed bound; when it is full the whole block cache is flushed
 * (decoding and translating again is cheap, and a flush needs no bookkeeping).
 *
 * The code cache is one memfd mapped twice: a read-write view the translator writes through and
 * a read-execute view the hart runs, so no page is ever writable and executable at once (W^X). */
#ifndef KILN_CPU_RV64_JIT_H
#define KILN_CPU_RV64_JIT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rv64_hart;
struct rv64_block;
struct rv64_machine;

/* 4 MiB per vCPU: a Linux boot's hot code fits (about 5.5 MB is translated in all, so the cache
 * is flushed about once), and with both views of it resident the VMM grows by at most 8 MiB */
#define RV64_JIT_DEFAULT_CACHE_MB 4
/* A block is translated on its RV64_JIT_HOT-th run (before that the interpreter runs it): most
 * of a boot's code runs a handful of times, and translating it all would cost more time and
 * code cache than it saves. */
#ifndef RV64_JIT_HOT
#define RV64_JIT_HOT 4
#endif
/* A block whose code does not fit even in an empty cache runs in the interpreter: any bound
 * works, a tiny one only for tests. */
#define RV64_JIT_MIN_CACHE_BYTES  4096u

/* x86-64 code a translated block starts at: returns (retired << 8) | (link + 1), see jit_exec.c */
typedef uint32_t (*rv64_jit_fn)(struct rv64_hart *h, struct rv64_block *b);

struct rv64_jit {
    int fd;
    uint8_t *rw, *rx;          /* the two views of the memfd */
    size_t size, used;
    uint32_t body_off;         /* a translation's code past its prologue: chained blocks enter there */
    /* Shared stubs at the start of the cache (emitted once, kept across flushes), as offsets:
     * the common epilogue, the jump-cache dispatch for indirect jumps
     * and jumps off the page, and the slow paths of loads and stores (jit_translate.c). */
    uint32_t stubs_end, st_epilogue, st_dispatch, st_load, st_store, st_code;
    struct rv64_block *one;    /* a one-instruction block: the interpreter's handler for a
                                * single untranslated instruction (jit_exec.c) */
    unsigned hot;              /* translate a block on this run (RV64_JIT_HOT; tests use 1) */
    FILE *perf_map;            /* KILN_JIT_PERFMAP=1: /tmp/perf-PID.map for `perf report` */
    /* statistics */
    uint64_t blocks, code_bytes, guest_insns, translate_ns, flushes, fallbacks, chains;
};

/* Turn the translator on for every hart of m, each with a code cache of cache_bytes (at least
 * RV64_JIT_MIN_CACHE_BYTES). Call before the harts run. Returns 0 or -1 (host refused memory). */
int rv64_jit_enable(struct rv64_machine *m, size_t cache_bytes);

/* jit_cache.c */
/* One line per hart on f: blocks translated, code size, translation time, flushes. */
void rv64_jit_report(const struct rv64_machine *m, FILE *f);
struct rv64_jit *rv64_jit_create(size_t cache_bytes);
void rv64_jit_destroy(struct rv64_jit *j);
/* Forget every translation (the block cache is being flushed: the blocks are gone too). */
void rv64_jit_reset(struct rv64_jit *j);
/* jit_translate.c: translate b into the cache (in place); false if it does not fit (cache full) */
int rv64_jit_translate(struct rv64_hart *h, struct rv64_block *b);
/* writes the shared stubs at the start of an empty cache and sets stubs_end */
void rv64_jit_emit_stubs(struct rv64_jit *j);
/* A chainable exit's patch site (struct rv64_block.jit_cell: the offset of its rel32) is a jmp
 * rel32 that goes to the plain return until chained; chaining turns it into a 5-byte nop, so the
 * exit falls into the chain path right after it, whose final `jmp rel32` into the successor's
 * body (at struct rv64_block.jit_jmp) is patched first. See emit_chain_exit. A far site (the successor on another virtual page:
 * struct rv64_block.jit_far) has its own chain path, which checks at run time that the fetch TLB
 * maps the target to the successor's host address (expected host: an imm64 at RV64_JIT_FAR_HOST
 * from the site), that the successor's code page is unchanged (its generation cell and value:
 * imm64 at RV64_JIT_FAR_GEN_CELL, imm32 at RV64_JIT_FAR_GEN), then goes on like a near one. A
 * failed check returns to the run loop, which chains the site again. See emit_far_exit. */
#define RV64_JIT_FAR_HOST 68
#define RV64_JIT_FAR_GEN_CELL 87
#define RV64_JIT_FAR_GEN 97


/* jit_fp.c: the helper translated code calls for an F/D instruction (see there), or NULL for the
 * ones translated inline (loads, stores, moves, double sign injection) or not at all */
enum {
    JFP_RM = 1,  /* takes a rounding mode: a reserved one (static or frm) is an illegal instruction */
    JFP_XRD = 2, /* its result (the helper's return value) goes to x[rd], not f[rd] */
    JFP_XRS = 4, /* its operand is x[rs1] (the helper's fourth argument) */
};
struct rv64_jit_fp {
    uint64_t (*fn)(struct rv64_hart *h, uint32_t regs, unsigned rm, uint64_t x);
    unsigned kind;
};
const struct rv64_jit_fp *rv64_jit_fp_op(unsigned op);
/* MXCSR for translated code's inline FP (struct rv64_hart.jit_mxcsr): this thread's control
 * bits (hart threads inherit them), rounding to nearest even, no flags */
uint32_t rv64_jit_host_mxcsr(void);
/* fflags bits for MXCSR's flag bits 0..5 (IE DE ZE OE UE PE; DE has no RISC-V flag) */
extern const uint8_t rv64_jit_mxcsr_fflags[64];

/* jit_exec.c: rv64_exec_block's twin (same contract, hart.h) running translated code; it also
 * chains translated blocks to each other (their exits then jump straight into the successor) */
int rv64_jit_exec_block(struct rv64_hart *h, struct rv64_block *b);
/* Helpers the emitted code calls (SysV ABI). */
uint32_t rv64_jit_interp_one(struct rv64_hart *h, const void *insn, uint64_t idx, uint64_t pc);
uint32_t rv64_jit_csr_read(struct rv64_hart *h, uint64_t csr, uint64_t idx, uint64_t *val);

#endif
