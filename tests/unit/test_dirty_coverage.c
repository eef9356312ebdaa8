/* test_dirty_coverage.c — the dirty-page log misses no guest RAM write.
 *
 * Two (or four) vCPU threads run S-mode programs under Sv39 that store to pseudo-random
 * addresses with every kind of store the executor has: sb/sh/sw/sd (aligned, misaligned and
 * crossing a page), c.sw/c.sd/c.swsp/c.sdsp, fsw/fsd, c.fsd/c.fsdsp, AMOs, LR/SC, plus hardware
 * A/D updates, while hart 0 also sends SBI remote fences to the others. The test thread plays
 * the migration sender: it pauses the harts at random moments, harvests the log and copies the
 * harvested pages into a shadow of RAM, either while still paused or after resuming (as a
 * pre-copy round does). After a final pause and harvest, the shadow must equal RAM: any page
 * written without being marked would stay stale in the shadow, as it would at a migration's
 * destination. The criterion timeout also catches a pause that never completes. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "rv64_test_util.h"

#define PAGES (RAM_SIZE >> 12)
#define WORDS ((PAGES + 63) / 64)
/* The stores' targets, shared by all harts: each kind of store has its own 32 KiB slot (of
 * which it writes the first 16 KiB and a little beyond), so a page one kind fails to mark is
 * not rescued by another kind's store to the same page; and all of them fit in the TLB at
 * once, so a write TLB entry that outlived a harvest would not be evicted in time to hide. */
#define REGION 0x80100000ull
#define SLOT 0x8000ull
#define SLOT_MASK 0x3ff8ull
#define KINDS 20
#define ROOT_PT 0x80008000ull     /* Sv39 root: one 1 GiB identity leaf, A/D initially clear */
#define CODE(i) (RAM_BASE + 0x10000ull * (i) + 0x20000ull)
#define EXT_RFENCE 0x52464E43

static uint64_t LOG[WORDS];
static uint8_t *SHADOW;
static pthread_t THREADS[RV64_MAX_HARTS];
static unsigned NHARTS;

/* compressed stores: rs1' = x8 (s0), rs2' = x9 (s1) / f9, offset 0 */
#define C_SW_S1_S0   0xc004u  /* c.sw    s1, 0(s0) */
#define C_SD_S1_S0   0xe004u  /* c.sd    s1, 0(s0) */
#define C_FSD_F9_S0  0xa004u  /* c.fsd   f9, 0(s0) */
#define C_SWSP_S1    0xc026u  /* c.swsp  s1, 0(sp) */
#define C_SDSP_S1    0xe026u  /* c.sdsp  s1, 0(sp) */
#define C_FSDSP_F9   0xa026u  /* c.fsdsp f9, 0(sp) */

static unsigned KIND;

/* s0 = a fresh random 8-byte aligned address in the next kind's slot, s1 = a fresh value */
static void emit_next_addr(void)
{
    cr_assert_lt(KIND, KINDS);
    emit(i_mul(T0, T0, T3));
    emit(i_add(T0, T0, T4));
    emit(i_srli(S0, T0, 20));
    emit(i_and(S0, S0, T2));
    emit(i_add(S0, S0, T1));
    emit(i_lui(A4, (uint32_t)(KIND++ * SLOT)));
    emit(i_add(S0, S0, A4));
    emit(i_xori(S1, T0, 0x5a5));
}

static void emit_program(unsigned hart, bool fences)
{
    org(CODE(hart));
    KIND = 0;
    uint64_t loop = CUR;
    emit_next_addr(); emit(i_sb(S1, S0, 1));
    emit_next_addr(); emit(i_sh(S1, S0, 2));
    emit_next_addr(); emit(i_sw(S1, S0, 4));
    emit_next_addr(); emit(i_sd(S1, S0, 0));
    emit_next_addr(); emit(i_sd(S1, S0, 4));         /* misaligned: the slow path */
    emit_next_addr(); emit(i_sd(S1, S0, 2044));       /* crosses a page when s0 % 4096 == 2048 */
    emit_next_addr(); emit16(C_SW_S1_S0); emit16(C_NOP);
    emit_next_addr(); emit16(C_SD_S1_S0); emit16(C_NOP);
    emit_next_addr(); emit16(c_mv(SP, S0)); emit16(C_SWSP_S1);
    emit_next_addr(); emit16(c_mv(SP, S0)); emit16(C_SDSP_S1);
    emit_next_addr(); emit(i_fmv_d_x(9, S1)); emit(i_fsw(9, S0, 0));
    emit_next_addr(); emit(i_fmv_d_x(9, S1)); emit(i_fsd(9, S0, 0));
    emit_next_addr(); emit(i_fmv_d_x(9, S1)); emit16(C_FSD_F9_S0); emit16(C_NOP);
    emit_next_addr(); emit(i_fmv_d_x(9, S1)); emit16(c_mv(SP, S0)); emit16(C_FSDSP_F9);
    emit_next_addr(); emit(i_amo(AMO_ADD, 2, A0, S0, S1));
    emit_next_addr(); emit(i_amo(AMO_SWAP, 3, A0, S0, S1));
    emit_next_addr(); emit(i_amo(AMO_OR, 3, A0, S0, S1));
    emit_next_addr(); emit(i_amo(AMO_MAXU, 2, A0, S0, S1));
    emit_next_addr(); emit(i_lr_d(A0, S0)); emit(i_sc_d(A1, S1, S0));
    emit_next_addr(); emit(i_lr_w(A0, S0)); emit(i_sc_w(A1, S1, S0));
    cr_assert_eq(KIND, KINDS);
    /* fences flush TLBs, which would also hide a write TLB entry that outlived a harvest: only
     * when asked for */
    if (fences && hart == 0 && NHARTS > 1) {
        /* sbi_remote_sfence_vma(mask = every other hart, base 0, whole address space) */
        emit_li32(A7, EXT_RFENCE);
        emit(i_addi(A6, 0, 1));
        emit(i_addi(A0, 0, (int32_t)((1u << NHARTS) - 2)));
        emit(i_addi(A1, 0, 0));
        emit(i_addi(A2, 0, 0));
        emit(i_addi(A3, 0, -1));
        emit(I_ECALL);
    }
    if (fences)
        emit(i_sfence_vma(0, 0));
    emit(i_jal(0, (int32_t)(loop - CUR)));
}

static void start_harts(unsigned nharts, bool fences)
{
    NHARTS = nharts;
    memset(&BUS, 0, sizeof(BUS));
    cr_assert_eq(guest_ram_create(&RAM, RAM_SIZE), 0);
    cr_assert_eq(rv64_machine_init(&M, RAM.host, RAM_SIZE, nharts, &BUS), 0);
    M.sbi_mode = true;
    put64(pte_addr(ROOT_PT, 2), pte_leaf(RAM_BASE, PTE_RWX));   /* no A, no D yet */
    srand((unsigned)time(NULL));
    for (unsigned i = 0; i < nharts; i++) {
        struct rv64_hart *h = M.harts[i];
        emit_program(i, fences);
        rv64_hart_reset(h, CODE(i), PRIV_S);
        h->mstatus |= MSTATUS_FS & (1ull << 13);
        h->satp = satp_of(SATP_MODE_SV39, ROOT_PT);
        h->x[T0] = 0x9e3779b97f4a7c15ull * (i + 1) + (uint64_t)rand();
        h->x[T1] = REGION;
        h->x[T2] = SLOT_MASK;
        h->x[T3] = 6364136223846793005ull;
        h->x[T4] = 1442695040888963407ull;
        h->x[SP] = REGION;
        rv64_tlb_flush(h);
    }
    cr_assert_eq(rv64_machine_dirty_enable(&M, true), 0);
    SHADOW = malloc(RAM_SIZE);
    cr_assert(SHADOW);
    memcpy(SHADOW, RAM.host, RAM_SIZE);
    for (unsigned i = 0; i < nharts; i++)
        cr_assert_eq(pthread_create(&THREADS[i], NULL, rv64_hart_thread, M.harts[i]), 0);
}

static void stop_harts(void)
{
    rv64_machine_exit(&M, RV64_EXIT_HOST, 0);
    for (unsigned i = 0; i < NHARTS; i++)
        pthread_join(THREADS[i], NULL);
    free(SHADOW);
    rv64_machine_destroy(&M);
    guest_ram_destroy(&RAM);
}

static unsigned copy_harvested(void)
{
    unsigned n = 0;
    for (uint64_t p = 0; p < PAGES; p++) {
        if ((LOG[p / 64] >> (p % 64)) & 1) {
            memcpy(SHADOW + p * 4096, RAM.host + p * 4096, 4096);
            n++;
        }
    }
    return n;
}

static void check_coverage(unsigned nharts, unsigned rounds, bool fences)
{
    start_harts(nharts, fences);
    for (unsigned r = 0; r < rounds; r++) {
        usleep((useconds_t)(rand() % 3000));
        rv64_machine_pause(&M);
        cr_assert_eq(atomic_load(&M.exit_reason), 0, "the guest stopped: %s", M.crash_msg);
        rv64_machine_dirty_harvest(&M, LOG);
        if (rand() & 1) {              /* send while paused */
            copy_harvested();
            rv64_machine_resume(&M);
        } else {                       /* resume first, send while the guest runs (pre-copy) */
            rv64_machine_resume(&M);
            copy_harvested();
        }
    }
    rv64_machine_pause(&M);
    cr_assert_eq(atomic_load(&M.exit_reason), 0, "the guest stopped: %s", M.crash_msg);
    rv64_machine_dirty_harvest(&M, LOG);
    copy_harvested();
    unsigned stale = 0;
    uint64_t first = 0;
    for (uint64_t p = 0; p < PAGES; p++) {
        if (memcmp(SHADOW + p * 4096, RAM.host + p * 4096, 4096)) {
            if (!stale++)
                first = p;
        }
    }
    uint64_t pte = get64(pte_addr(ROOT_PT, 2));
    unsigned touched = 0;
    for (uint64_t a = REGION; a < REGION + KINDS * SLOT; a += 4096)
        for (uint64_t o = 0; o < 4096; o += 8)
            if (get64(a + o)) {
                touched++;
                break;
            }
    stop_harts();
    cr_assert_eq(stale, 0, "%u pages written without being marked dirty (first: %#llx)", stale,
                 (unsigned long long)(RAM_BASE + first * 4096));
    cr_assert((pte & (PTE_A | PTE_D)) == (PTE_A | PTE_D), "the harts did not update A/D");
    cr_assert_geq(touched, KINDS * 4, "the harts hardly stored anything (%u pages)", touched);
}

Test(dirty_coverage, every_store_kind_two_harts, .timeout = 30)
{
    check_coverage(2, 300, false);
}

Test(dirty_coverage, every_store_kind_four_harts, .timeout = 30)
{
    check_coverage(4, 300, false);
}

/* Hart 0 sends a remote fence to the others on every round: a pause that parks a fence's
 * target before it served the fence must still complete (the fencing hart must not wait for a
 * parked hart, or it never parks itself). */
Test(dirty_coverage, pause_during_remote_fences, .timeout = 30)
{
    check_coverage(2, 500, true);
}

Test(dirty_coverage, pause_during_remote_fences_four_harts, .timeout = 30)
{
    check_coverage(4, 500, true);
}
