/* test_rv64_jit.c — the JIT's own cases beyond the differential test: self-modifying code (a
 * store into the block being executed), the code cache bound (flushes, and a block too big for
 * the cache running in the interpreter), precise state at a faulting access, W^X. Each test runs
 * the same program interpreted and translated and expects the same, exact, answer from both.
 * Also: hot-block translation, and an interrupt from another thread reaching chained code. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <sys/mman.h>
#include "cpu/rv64/fpu.h"
#include "cpu/rv64/jit.h"
#include "rv64_test_util.h"

TestSuite(rv64_jit, .init = rv_setup, .fini = rv_teardown);

#define FAR_HALT 0x80008000ull /* on its own page: blocks never chain into it */

static void use_jit(size_t cache_bytes)
{
    cr_assert_eq(rv64_jit_enable(&M, cache_bytes), 0);
    H->jit->hot = 1; /* translate every block on its first run */
    cr_assert_not_null(H->jit);
}

/* Runs in steps of 2 run-loop iterations, so blocks get linked (with 1, the run loop never
 * links a block to its successor). A step may spin a little at FAR_HALT (`j .`): the programs
 * read instret themselves before they jump there. */
static uint64_t run_to_far_halt(void)
{
    put32(FAR_HALT, I_J_SELF);
    for (unsigned i = 0; i < 10000 && H->pc != FAR_HALT && H->pc != MTRAP_PC; i++)
        rv64_hart_run(H, 2);
    return H->pc;
}

/* a store rewrites an instruction later in the same block: this pass still runs the old one (as
 * the interpreter does: decoded blocks run to their end), the next pass the new one */
static void smc_program(void)
{
    H->x[T0] = RAM_BASE;
    H->x[T1] = i_addi(A0, A0, 100);
    H->x[A3] = 2;
    emit(i_sw(T1, T0, 12));
    emit(i_addi(A0, A0, 1));
    emit(i_addi(A1, A1, 1));
    emit(i_addi(A0, A0, 1)); /* offset 12: becomes addi a0, a0, 100 */
    emit(i_addi(A2, A2, 1));
    emit(i_blt(A2, A3, -20));
    emit(i_csrr(S2, CSR_INSTRET)); /* what the guest sees: every instruction before this one */
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
}

Test(rv64_jit, interpreter_store_into_running_block)
{
    smc_program();
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 2 + 101);
    cr_assert_eq(H->x[S2], 12);
}

Test(rv64_jit, store_into_running_block)
{
    use_jit(1u << 20);
    smc_program();
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 2 + 101, "a0=%lu", (unsigned long)H->x[A0]);
    cr_assert_eq(H->x[S2], 12);
    cr_assert_geq(H->jit->blocks, 2, "the rewritten block is translated again");
}

/* the same 300 blocks run 3 times: the second and third times through chained exits */
static void many_blocks_program(void);
Test(rv64_jit, chained_blocks_count_exactly)
{
    use_jit(1u << 20);
    many_blocks_program();
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 900);
    cr_assert_eq(H->x[S2], 3 * 602);
    cr_assert_geq(H->jit->chains, 100, "chains: %llu", (unsigned long long)H->jit->chains);
}

/* 300 tiny blocks (addi; jal to the next), run 3 times over: far more code than 4 KiB */
static void many_blocks_program(void)
{
    H->x[A3] = 3;
    uint64_t top = CUR;
    for (int i = 0; i < 300; i++) {
        emit(i_addi(A0, A0, 1));
        emit(i_jal(0, 4));
    }
    emit(i_addi(A2, A2, 1));
    emit(i_blt(A2, A3, (int32_t)(top - CUR)));
    emit(i_csrr(S2, CSR_INSTRET));
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
}

/* a loop whose blocks jump to each other across pages (jal to a constant target on another
 * page): far exits, chained with their run-time fetch-TLB check; counts stay exact */
Test(rv64_jit, far_jumps_chain_and_count_exactly)
{
    use_jit(1u << 20);
    const uint64_t other = RAM_BASE + 0x3000;
    H->x[A3] = 50;
    uint64_t top = CUR;
    emit(i_addi(A0, A0, 1));
    emit(i_jal(0, (int32_t)(other - CUR)));            /* to the other page */
    uint64_t back = CUR;
    emit(i_addi(A2, A2, 1));
    emit(i_blt(A2, A3, (int32_t)(top - CUR)));
    emit(i_csrr(S2, CSR_INSTRET));
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
    org(other);
    emit(i_addi(A1, A1, 1));
    emit(i_jal(0, (int32_t)(back - CUR)));             /* and back */
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 50);
    cr_assert_eq(H->x[A1], 50);
    cr_assert_eq(H->x[S2], 50 * 6);
    cr_assert_geq(H->jit->chains, 2, "both far exits chain: %llu", (unsigned long long)H->jit->chains);
}

/* an indirect call (jalr, through the jump cache) into code on another page, which is then
 * rewritten: the next call runs the new code (the write empties the jump cache) */
Test(rv64_jit, indirect_call_into_rewritten_code_runs_the_new_code)
{
    use_jit(1u << 20);
    const uint64_t fn = RAM_BASE + 0x3000;
    H->x[T0] = fn;
    H->x[T1] = i_addi(A0, A0, 100);
    H->x[A3] = 5;
    uint64_t top = CUR;
    emit(i_jalr(RA, T0, 0));                           /* call fn: a0 += 1 */
    emit(i_addi(A2, A2, 1));
    emit(i_blt(A2, A3, (int32_t)(top - CUR)));
    emit(i_sw(T1, T0, 0));                             /* fn now adds 100 */
    emit(i_jalr(RA, T0, 0));
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
    org(fn);
    emit(i_addi(A0, A0, 1));
    emit(i_jalr(0, RA, 0));                            /* return: through the jump cache too */
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 5 + 100, "a0=%lu", (unsigned long)H->x[A0]);
}

Test(rv64_jit, tiny_cache_flushes_and_stays_correct)
{
    use_jit(RV64_JIT_MIN_CACHE_BYTES);
    many_blocks_program();
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 900);
    cr_assert_eq(H->x[S2], 3 * 602);
    cr_assert_gt(H->jit->flushes, 2);
    cr_assert_gt(H->jit->blocks, 300);
}

/* one block of 62 stores and a jump: more code than a 4 KiB cache holds, so it runs in the
 * interpreter every time, and still gives the right answer */
Test(rv64_jit, block_larger_than_the_cache_falls_back)
{
    use_jit(RV64_JIT_MIN_CACHE_BYTES);
    H->x[T0] = DATA;
    for (int i = 0; i < 62; i++) {
        H->x[7 + (i % 20)] = 1000 + (uint64_t)(i % 20);
        emit(i_sd(7 + (i % 20), T0, 8 * i));
    }
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    for (int i = 0; i < 62; i++)
        cr_assert_eq(get64(DATA + 8ull * i), 1000 + (uint64_t)(i % 20));
    cr_assert_gt(H->jit->fallbacks, 0);
}

/* a load from nowhere in the middle of a translated block: the trap names that instruction,
 * the ones before it are done (and counted), the ones after are not */
Test(rv64_jit, load_fault_mid_block_is_precise)
{
    use_jit(1u << 20);
    H->x[T0] = 0x40000000; /* nothing there: access fault */
    emit(i_addi(A0, 0, 1));
    emit(i_addi(A1, 0, 2));
    uint64_t at = emit(i_ld(A2, T0, 8));
    emit(i_addi(A3, 0, 3));
    emit_halt();
    RUN_MTRAP(CUR - 4, CAUSE_LOAD_ACCESS);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0x40000008);
    cr_assert_eq(H->x[A0], 1);
    cr_assert_eq(H->x[A1], 2);
    cr_assert_eq(H->x[A3], 0);
    cr_assert_eq(H->instret, 2);
}

/* Inline FP leaves its flags in MXCSR and moves them to fflags once per run of FP instructions
 * (jit_fp_emit.c): a fault later in the same block must still find the earlier instructions'
 * flags in fflags (1/3 is inexact: NX), and a compare that only raises a flag (flt with a NaN:
 * NV) must still mark the FP state dirty, as the interpreter does. */
Test(rv64_jit, inline_fp_flags_reach_fflags_before_a_fault)
{
    use_jit(1u << 20);
    H->mstatus |= 1ull << 13; /* FS = Initial */
    H->x[T0] = 0x40000000;    /* nothing there: access fault */
    H->x[A0] = 1;
    H->x[A1] = 3;
    H->x[A2] = 0x7ff8000000000000ull; /* a quiet NaN */
    emit(i_fcvt_d_l(1, A0, 0));
    emit(i_fcvt_d_l(2, A1, 0));
    emit(i_fmv_d_x(3, A2));
    emit(i_csrrw(0, CSR_MSTATUS, A4)); /* a4 = mstatus with FS Clean: set below */
    emit(i_fdiv_d(4, 1, 2, 0));        /* 1/3: inexact */
    emit(i_flt_d(A5, 3, 1));           /* NaN < 1: invalid, no f register written */
    uint64_t at = emit(i_ld(A3, T0, 0));
    emit_halt();
    H->x[A4] = (H->mstatus & ~(3ull << 13)) | (2ull << 13);
    RUN_MTRAP(CUR - 4, CAUSE_LOAD_ACCESS);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->fflags, FPU_NX | FPU_NV, "fflags=%#x", H->fflags);
    cr_assert_eq(H->x[A5], 0);
    cr_assert_eq((H->mstatus >> 13) & 3, 3, "FS is Dirty: mstatus=%#lx", (unsigned long)H->mstatus);
}

/* the same after the compare alone: the flag it raises dirties a Clean FP state */
Test(rv64_jit, inline_compare_flag_dirties_fp_state)
{
    use_jit(1u << 20);
    H->x[A2] = 0x7ff4000000000000ull; /* a signalling NaN: feq raises NV for it */
    H->x[A4] = 0;
    emit(i_fmv_d_x(3, A2));
    emit(i_csrrw(0, CSR_MSTATUS, A4)); /* FS Clean (set below) */
    emit(i_feq_d(A5, 3, 3));
    emit_halt();
    H->mstatus |= 1ull << 13;
    H->x[A4] = (H->mstatus & ~(3ull << 13)) | (2ull << 13);
    run_prog(CUR - 4);
    cr_assert_eq(H->x[A5], 0);
    cr_assert_eq(H->fflags, FPU_NV, "fflags=%#x", H->fflags);
    cr_assert_eq((H->mstatus >> 13) & 3, 3, "FS is Dirty: mstatus=%#lx", (unsigned long)H->mstatus);
}

/* stores from translated code reach the dirty log (snapshots, migration) through the slow path
 * that fills their write TLB entries, as in the interpreter */
Test(rv64_jit, store_marks_dirty_pages)
{
    use_jit(1u << 20);
    cr_assert_eq(rv64_machine_dirty_enable(&M, true), 0);
    H->x[T0] = DATA;
    H->x[T1] = 7;
    H->x[T2] = DATA + 0x1000;
    emit(i_sd(T1, T0, 0));
    emit(i_sd(T1, T2, 0));
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    uint64_t page = (DATA - RAM_BASE) >> 12;
    uint64_t words[(RAM_SIZE >> 12) / 64];
    rv64_machine_dirty_harvest(&M, words);
    cr_assert(words[page / 64] & (1ull << (page % 64)));
    cr_assert(words[(page + 1) / 64] & (1ull << ((page + 1) % 64)));
}

/* W^X: no mapping of the process is writable and executable at once while code runs */
Test(rv64_jit, code_cache_is_never_writable_and_executable)
{
    use_jit(1u << 20);
    many_blocks_program();
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    unsigned jit_maps = 0;
    while (fgets(line, sizeof(line), f)) {
        char perms[5] = "";
        sscanf(line, "%*s %4s", perms);
        cr_assert(!(perms[1] == 'w' && perms[2] == 'x'), "writable and executable: %s", line);
        jit_maps += strstr(line, "kiln-jit") != NULL;
    }
    fclose(f);
    cr_assert_eq(jit_maps, 2, "the cache is mapped twice (read-write and read-execute)");
}

/* By default a block is translated only once it is hot (RV64_JIT_HOT runs): code that runs a
 * few times (most of a boot) stays in the interpreter and costs no code cache. */
Test(rv64_jit, only_hot_blocks_are_translated)
{
    cr_assert_eq(rv64_jit_enable(&M, 1u << 20), 0);
    cr_assert_eq(H->jit->hot, RV64_JIT_HOT);
    H->x[A3] = 2000;
    emit(i_addi(A0, A0, 3)); /* run once: a block of its own, ended by the csrr */
    emit(i_csrr(S3, CSR_MSCRATCH));
    uint64_t top = CUR;
    emit(i_addi(A1, A1, 1));
    emit(i_addi(A2, A2, 1));
    emit(i_blt(A2, A3, (int32_t)(top - CUR)));
    emit(i_csrr(S2, CSR_INSTRET));
    emit(i_jal(0, (int32_t)(FAR_HALT - CUR)));
    cr_assert_eq(run_to_far_halt(), FAR_HALT);
    cr_assert_eq(H->x[A0], 3);
    cr_assert_eq(H->x[A1], 2000);
    cr_assert_eq(H->x[S2], 2 + 3 * 2000);
    /* the loop (and at most the `j .` it ends in), not the blocks that ran once */
    cr_assert_geq(H->jit->blocks, 1);
    cr_assert_leq(H->jit->blocks, 2, "blocks translated: %llu", (unsigned long long)H->jit->blocks);
}

/* Another thread raises an interrupt while the hart spins in a loop of chained translated
 * blocks (which never return to the run loop by themselves): the interrupt is taken, and so is
 * a stop request afterwards. */
static void *raise_msip_then_stop(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    rv64_hart_set_mip(H, MIP_MSIP, true);
    nanosleep(&ts, NULL);
    rv64_hart_kick(H, REQ_STOP);
    return NULL;
}

Test(rv64_jit, interrupt_reaches_a_chained_loop)
{
    use_jit(1u << 20);
    emit_li32(T0, (int32_t)MSTATUS_MIE);
    emit(i_csrrs(0, CSR_MSTATUS, T0));
    emit_li32(T0, (int32_t)MIP_MSIP);
    emit(i_csrw(CSR_MIE, T0));
    uint64_t loop = CUR;
    emit(i_addi(A1, A1, 1));
    emit(i_addi(A2, A2, 2));
    emit(i_jal(0, (int32_t)(loop - CUR)));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, raise_msip_then_stop, NULL), 0);
    rv64_hart_run(H, UINT64_MAX); /* returns on the stop request */
    pthread_join(t, NULL);
    cr_assert_eq(H->pc, MTRAP_PC, "pc=%#lx", (unsigned long)H->pc);
    cr_assert_eq(H->mcause, (1ull << 63) | IRQ_M_SOFT);
    cr_assert_eq(H->mepc, loop, "taken between two runs of the loop's one block");
    cr_assert_gt(H->x[A1], 1000, "the loop ran chained: a1=%lu", (unsigned long)H->x[A1]);
    cr_assert_eq(H->x[A2], 2 * H->x[A1], "precise: a2=%lu a1=%lu", (unsigned long)H->x[A2],
                 (unsigned long)H->x[A1]);
    cr_assert_gt(H->jit->chains, 0);
}
