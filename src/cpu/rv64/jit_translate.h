/* jit_translate.h — what the translator's two files share: jit_translate.c (blocks, exits,
 * integer, memory, CSR reads) and jit_fp_emit.c (F and D). Internal to the JIT; jit.h is its
 * interface to the rest of kiln. */
#ifndef KILN_CPU_RV64_JIT_TRANSLATE_H
#define KILN_CPU_RV64_JIT_TRANSLATE_H
#include <stddef.h>
#include <stdint.h>
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/jit_emit.h"

#define XO(r)   ((int32_t)(offsetof(struct rv64_hart, x) + 8u * (r)))
#define FO(r)   ((int32_t)(offsetof(struct rv64_hart, f) + 8u * (r)))
#define H_MSTATUS ((int32_t)offsetof(struct rv64_hart, mstatus))
#define H_FRM   ((int32_t)offsetof(struct rv64_hart, frm))
#define H_FFLAGS ((int32_t)offsetof(struct rv64_hart, fflags))
#define H_JIT_MXCSR ((int32_t)offsetof(struct rv64_hart, jit_mxcsr))

/* Where a block's chainable exits (by link: a jump or taken branch, the next instruction) have
 * their patch sites, as offsets in the code being emitted; see emit_chain_exit. */
struct chain_slots {
    const struct rv64_block *blk;
    const _Atomic uint32_t *gen_cell; /* its code page's generation (machine.page_gen) */
    uint8_t *start;
    uint32_t cells[2];
    uint32_t jmps[2];                 /* per link: its chain path's final jmp's rel32 (patched) */
    unsigned far;                     /* per link (bit): its site is a far one */
    /* slow paths, emitted after the block's last exit so that the fast paths fall straight
     * through: a load or store TLB miss, a store into a page holding decoded code, an FP
     * instruction the interpreter must run (FS=Off, reserved rounding mode: it traps) */
    struct cold {
        enum { COLD_LOAD, COLD_STORE, COLD_CODE, COLD_INTERP } kind;
        const struct rv64_insn *in;
        unsigned idx;
        uint8_t *site, *back; /* the jcc's rel32 to patch; where to go on */
        uint8_t *site2;       /* a second jcc to the same path, or NULL */
        /* x86_buf.fp_pending at the site and at back: the path moves pending flags to fflags
         * before it calls C, and clears MXCSR again before going back if back expects it */
        uint8_t fp_in, fp_out;
    } cold[3 * BLOCK_MAX_INSNS];
    unsigned ncold;
};

/* jit_translate.c: a slow path for the block's end; x[r] to a host register and back (guest
 * registers may live in host registers); an instruction through the interpreter's handler */
struct cold *rv64_jt_add_cold(const struct x86_buf *b, struct chain_slots *cs, int kind,
                              const struct rv64_insn *in, unsigned idx, uint8_t *site, uint8_t *back);
/* a slow path goes on here (the code emitted next) */
void rv64_jt_cold_back(const struct x86_buf *b, struct cold *c);
void rv64_jt_ld(struct x86_buf *b, int dst, unsigned r);
void rv64_jt_st(struct x86_buf *b, unsigned rd, int src);
void rv64_jt_interp(struct x86_buf *b, const struct rv64_insn *in, unsigned idx);
/* a call to C that keeps the guest registers living in caller-saved host registers */
void rv64_jt_call_c(struct x86_buf *b, const void *fn);

/* jit_fp_emit.c */
/* what an FP instruction's guard checks of frm (see rv64_jt_fp_guard) */
enum { FRM_ANY, FRM_VALID, FRM_RNE };
void rv64_jt_fs_dirty(struct x86_buf *b);
/* 1 if the instruction's code calls no C on its fast path (an inline FP one) */
int rv64_jt_fp_inline(const struct rv64_insn *in);
/* MXCSR's pending flags ORed into fflags (and FS Dirty if any); MXCSR cleared for inline FP (jit_mxcsr). Emit only:
 * the caller keeps x86_buf.fp_pending. Both clobber rax and rcx. */
void rv64_jt_emit_fflags(struct x86_buf *b);
void rv64_jt_emit_mxcsr_clear(struct x86_buf *b);
struct cold *rv64_jt_fp_guard(struct x86_buf *b, struct chain_slots *cs,
                              const struct rv64_insn *in, unsigned idx, int frm);
void rv64_jt_emit_fp(struct x86_buf *b, struct chain_slots *cs, const struct rv64_insn *in,
                     unsigned idx);

#endif
