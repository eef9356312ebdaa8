/* test_persist_cpu.c — the rv64 backend's dirty-page log and its hart/machine save and restore. */
#include <stdlib.h>
#include "common/persist.h"
#include "rv64_test_util.h"

TestSuite(persist_cpu, .init = rv_setup, .fini = rv_teardown);

#define X(r) H->x[r]
#define PAGES (RAM_SIZE >> 12)
#define WORDS ((PAGES + 63) / 64)

static uint64_t page_of(uint64_t paddr) { return (paddr - RAM_BASE) >> 12; }
static bool bit(const uint64_t *log, uint64_t page) { return (log[page / 64] >> (page % 64)) & 1; }
static unsigned count(const uint64_t *log)
{
    unsigned n = 0;
    for (unsigned i = 0; i < WORDS; i++)
        n += (unsigned)__builtin_popcountll(log[i]);
    return n;
}

static uint64_t LOG[WORDS];

/* runs the program at RAM_BASE (again) to its end */
static void rerun(uint64_t end)
{
    H->pc = RAM_BASE;
    RUN_OK(end);
}

/* ---------------------------------------------------------------- dirty pages */

Test(persist_cpu, tracking_off_marks_nothing)
{
    X(10) = DATA;
    emit(i_sd(10, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert_eq(count(LOG), 0);
}

Test(persist_cpu, fast_path_store_marks_even_with_a_tlb_entry_from_before_enable)
{
    X(10) = DATA;
    emit(i_sd(10, 10, 0));
    emit(i_sd(10, 10, 8));      /* the second store hits the write TLB: fast path */
    uint64_t end = emit_halt();
    RUN_OK(end);                /* tracking off: the TLB now holds DATA's page */
    cr_assert_eq(rv64_machine_dirty_enable(&M, true), 0);
    rerun(end);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert(bit(LOG, page_of(DATA)));
    cr_assert_eq(count(LOG), 1, "only the stored page is dirty");
}

Test(persist_cpu, store_after_harvest_to_a_cached_page_is_marked_again)
{
    rv64_machine_dirty_enable(&M, true);
    X(10) = DATA + 0x3000;
    emit(i_sw(10, 10, 0));
    emit(i_sw(10, 10, 4));
    uint64_t end = emit_halt();
    RUN_OK(end);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert(bit(LOG, page_of(DATA + 0x3000)));
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert_eq(count(LOG), 0, "harvest clears the log");
    rerun(end);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert(bit(LOG, page_of(DATA + 0x3000)), "the TLB entry was flushed by the harvest");
}

Test(persist_cpu, slow_path_store_across_pages_marks_both)
{
    rv64_machine_dirty_enable(&M, true);
    X(10) = DATA + 0x1ffc;      /* an 8-byte store crossing into the next page */
    emit(i_sd(10, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert(bit(LOG, page_of(DATA + 0x1000)));
    cr_assert(bit(LOG, page_of(DATA + 0x2000)));
    cr_assert_eq(count(LOG), 2);
}

Test(persist_cpu, amo_and_sc_mark)
{
    rv64_machine_dirty_enable(&M, true);
    X(10) = DATA + 0x5000;
    X(11) = DATA + 0x7000;
    X(2) = 1;
    emit(i_amo(AMO_ADD, 3, 1, 10, 2));
    emit(i_lr_d(3, 11));
    emit(i_sc_d(4, 2, 11));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(4), 0, "sc succeeded");
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert(bit(LOG, page_of(DATA + 0x5000)));
    cr_assert(bit(LOG, page_of(DATA + 0x7000)));
    cr_assert_eq(count(LOG), 2);
}

Test(persist_cpu, page_walk_accessed_bit_update_marks_the_page_table)
{
    const uint64_t root = DATA + 0x10000, l1 = root + 0x1000, l0 = root + 0x2000;
    /* identity-map the first 2 MiB of RAM with 4 KiB pages, A and D clear */
    put64(pte_addr(root, vpn(RAM_BASE, 2)), pte_table(l1));
    put64(pte_addr(l1, vpn(RAM_BASE, 1)), pte_table(l0));
    for (unsigned i = 0; i < 512; i++)
        put64(pte_addr(l0, i), pte_leaf(RAM_BASE + i * 0x1000ull, PTE_RWX));
    X(10) = DATA;
    emit(i_ld(1, 10, 0));       /* a load: only A is set, only the page table changes */
    uint64_t end = emit_halt();
    enter_mode(PRIV_S, satp_of(SATP_MODE_SV39, root));
    rv64_machine_dirty_enable(&M, true);
    RUN_OK(end);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert(bit(LOG, page_of(l0)));
    cr_assert_eq(count(LOG), 1);
}

Test(persist_cpu, mark_dirty_ignores_outside_ram_and_clips)
{
    rv64_machine_dirty_enable(&M, true);
    rv64_mark_dirty(&M, 0x1000, 8);
    rv64_mark_dirty(&M, RAM_BASE + RAM_SIZE - 1, 100);
    rv64_machine_dirty_harvest(&M, LOG);
    cr_assert_eq(count(LOG), 1);
    cr_assert(bit(LOG, PAGES - 1));
}

/* ---------------------------------------------------------------- hart state */

#define HDR 44  /* section header: name 32, version 4, length 8 */
#define OFF_HARTID HDR
#define OFF_X (OFF_HARTID + 4)
#define OFF_PC (OFF_X + 32 * 8)
#define OFF_FFLAGS (OFF_PC + 8 + 32 * 8)
#define OFF_FRM (OFF_FFLAGS + 4)
#define OFF_PRIV (OFF_FRM + 4)
#define OFF_MSTATUS (OFF_PRIV + 1)
#define OFF_SATP (OFF_MSTATUS + 16)
#define OFF_STATE (OFF_SATP + 8 + 8 + 23 * 8 + 2 * 8 + 16 * 8)
#define MACHINE_LEN (HDR + 4 + 8 + 1 + 8)
#define OFF_MTIME (HDR + 4 + 8 + 1)

static struct guest_ram RAM2;
static struct rv64_machine M2;
static struct bus BUS2;

static struct rv64_machine *second_machine(unsigned nharts)
{
    cr_assert_eq(guest_ram_create(&RAM2, RAM_SIZE), 0);
    cr_assert_eq(rv64_machine_init(&M2, RAM2.host, RAM_SIZE, nharts, &BUS2), 0);
    return &M2;
}

static void set_odd_state(struct rv64_hart *h)
{
    for (unsigned i = 1; i < 32; i++)
        h->x[i] = 0x1111111111111111ull * i;
    for (unsigned i = 0; i < 32; i++)
        h->f[i] = ~0ull - i;
    h->pc = RAM_BASE + 0x444;
    h->fflags = 0x1f;
    h->frm = 3;
    h->priv = PRIV_S;
    h->mstatus |= MSTATUS_SUM | MSTATUS_FS | MSTATUS_SD | (1ull << MSTATUS_MPP_SHIFT);
    atomic_store(&h->mip, MIP_SSIP | MIP_STIP);
    h->satp = satp_of(SATP_MODE_SV39, DATA);
    h->mie = 0x222, h->medeleg = 0xb100, h->mideleg = 0x222, h->mtvec = 0x80000100;
    h->mscratch = 1, h->mepc = 2, h->mcause = 3, h->mtval = 4, h->stvec = 5, h->sscratch = 6;
    h->sepc = 7, h->scause = 8, h->stval = 9, h->mcounteren = 7, h->scounteren = 5;
    h->mcountinhibit = 4, h->menvcfg = MENVCFG_STCE, h->senvcfg = 1, h->stimecmp = 12345;
    atomic_store(&h->mtimecmp, 67890);
    h->pmpcfg[0] = 0x1f, h->pmpaddr[3] = 0xabc, h->instret = 999;
    h->cycle_offset = 10, h->instret_offset = 20;
    atomic_store(&h->state, HART_START_PENDING);
    h->start_addr = RAM_BASE + 0x2000, h->start_opaque = 0x77;
    h->lr_valid = true;
}

static void save_hart(const struct rv64_hart *h, struct persist_writer *w)
{
    persist_writer_init(w);
    rv64_hart_save(h, w);
    cr_assert(persist_writer_ok(w));
}

Test(persist_cpu, hart_round_trip_is_byte_identical)
{
    set_odd_state(H);
    struct persist_writer w1, w2;
    save_hart(H, &w1);
    struct rv64_machine *m2 = second_machine(1);
    struct persist_reader r;
    persist_reader_init(&r, w1.buf, w1.len);
    cr_assert_eq(rv64_hart_restore(m2->harts[0], &r), 0, "%s", r.err);
    save_hart(m2->harts[0], &w2);
    cr_assert_eq(w1.len, w2.len);
    cr_assert_arr_eq(w1.buf, w2.buf, w1.len);
    cr_assert_not(m2->harts[0]->lr_valid, "the reservation is dropped");
    cr_assert_eq(m2->harts[0]->dtlb, &m2->harts[0]->ctx->set[2], "views follow priv and SUM");
    persist_writer_free(&w1);
    persist_writer_free(&w2);
}

Test(persist_cpu, restored_hart_continues_to_the_same_result)
{
    /* sum of i*i for i = 1..300 into memory, one step per loop iteration */
    X(10) = DATA;
    X(5) = 300;
    emit(i_addi(1, 0, 0));
    uint64_t loop = emit(i_mul(2, 5, 5));
    emit(i_add(1, 1, 2));
    emit(i_sd(1, 10, 0));
    emit(i_addi(5, 5, -1));
    emit(i_bne(5, 0, (int32_t)(loop - (CUR))));
    uint64_t end = emit_halt();
    for (int i = 0; i < 200; i++)
        rv64_hart_run(H, 1);
    cr_assert_neq(H->pc, end);
    struct persist_writer w;
    save_hart(H, &w);
    struct rv64_machine *m2 = second_machine(1);
    memcpy(RAM2.host, RAM.host, RAM_SIZE);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_hart_restore(m2->harts[0], &r), 0, "%s", r.err);
    RUN_OK(end);
    struct rv64_hart *h2 = m2->harts[0];
    for (int i = 0; i < 10000 && h2->pc != end; i++)
        rv64_hart_run(h2, 1);
    cr_assert_eq(h2->pc, end);
    cr_assert_arr_eq(h2->x, H->x, sizeof(uint64_t) * 32);
    cr_assert_eq(get64(DATA), 9045050ull);
    cr_assert_eq(memcmp(RAM2.host + (DATA - RAM_BASE), RAM.host + (DATA - RAM_BASE), 8), 0);
    persist_writer_free(&w);
}

Test(persist_cpu, truncated_hart_state_is_refused)
{
    struct persist_writer w;
    save_hart(H, &w);
    for (size_t len = 0; len < w.len; len++) {
        struct persist_reader r;
        persist_reader_init(&r, w.buf, len);
        cr_assert_eq(rv64_hart_restore(H, &r), -1, "length %zu", len);
        cr_assert_str_not_empty(r.err);
    }
    persist_writer_free(&w);
}

/* Corrupts one field of a saved hart and expects the restore to refuse it, hart untouched. */
static void expect_refused(size_t off, const void *bytes, size_t n, const char *what)
{
    struct persist_writer w;
    save_hart(H, &w);
    memcpy(w.buf + off, bytes, n);
    uint64_t pc = H->pc;
    H->x[7] = 0x5a5a;
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_hart_restore(H, &r), -1, "%s accepted", what);
    cr_assert_str_not_empty(r.err);
    cr_assert_eq(H->pc, pc, "%s: refused state changed the hart", what);
    cr_assert_eq(H->x[7], 0x5a5a);
    persist_writer_free(&w);
}

Test(persist_cpu, corrupt_hart_fields_are_refused)
{
    uint8_t b;
    uint32_t u;
    uint64_t v;
    b = 2; expect_refused(OFF_PRIV, &b, 1, "priv 2");
    b = 7; expect_refused(OFF_PRIV, &b, 1, "priv 7");
    u = 8; expect_refused(OFF_FRM, &u, 4, "frm 8");
    u = 32; expect_refused(OFF_FFLAGS, &u, 4, "fflags 32");
    u = 5; expect_refused(OFF_HARTID, &u, 4, "another hart's id");
    v = H->mstatus | (2ull << MSTATUS_MPP_SHIFT);
    expect_refused(OFF_MSTATUS, &v, 8, "mstatus MPP 2");
    v = H->mstatus | (1ull << 40);
    expect_refused(OFF_MSTATUS, &v, 8, "mstatus reserved bit");
    v = 5ull << 60; expect_refused(OFF_SATP, &v, 8, "satp mode 5");
    b = 3; expect_refused(OFF_STATE, &b, 1, "HSM state 3");
}

Test(persist_cpu, layout_offsets_match)
{
    /* the corruption tests poke fixed offsets: make sure they hit the intended fields */
    H->priv = PRIV_S;
    H->frm = 3;
    atomic_store(&H->state, HART_START_PENDING);
    H->satp = satp_of(SATP_MODE_SV39, DATA);
    struct persist_writer w;
    save_hart(H, &w);
    cr_assert_eq(w.buf[OFF_PRIV], PRIV_S);
    cr_assert_eq(w.buf[OFF_FRM], 3);
    cr_assert_eq(w.buf[OFF_STATE], HART_START_PENDING);
    uint64_t satp;
    memcpy(&satp, w.buf + OFF_SATP, 8);
    cr_assert_eq(satp, H->satp);
    cr_assert_eq(w.len, (size_t)OFF_STATE + 17);
    persist_writer_free(&w);
}

/* ---------------------------------------------------------------- machine state */

static void save_machine(const struct rv64_machine *m, struct persist_writer *w)
{
    persist_writer_init(w);
    rv64_machine_save(m, w);
    cr_assert(persist_writer_ok(w));
}

Test(persist_cpu, machine_round_trip_is_identical_but_for_mtime)
{
    set_odd_state(H);
    M.sbi_mode = true;
    struct persist_writer w1, w2;
    save_machine(&M, &w1);
    struct rv64_machine *m2 = second_machine(1);
    struct persist_reader r;
    persist_reader_init(&r, w1.buf, w1.len);
    cr_assert_eq(rv64_machine_restore(m2, &r, 0), 0, "%s", r.err);
    cr_assert(m2->sbi_mode);
    save_machine(m2, &w2);
    cr_assert_eq(w1.len, w2.len);
    memset(w1.buf + OFF_MTIME, 0, 8);
    memset(w2.buf + OFF_MTIME, 0, 8);
    cr_assert_arr_eq(w1.buf, w2.buf, w1.len);
    persist_writer_free(&w1);
    persist_writer_free(&w2);
}

Test(persist_cpu, mtime_continues_from_the_saved_value)
{
    M.time_base_ns -= 5000000000ull;    /* the source machine has run for 5 s */
    struct persist_writer w;
    save_machine(&M, &w);
    uint64_t saved;
    memcpy(&saved, w.buf + OFF_MTIME, 8);
    struct rv64_machine *m2 = second_machine(1);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_machine_restore(m2, &r, 0), 0, "%s", r.err);
    uint64_t now = rv64_time(m2);
    cr_assert_geq(now, saved);
    cr_assert_lt(now - saved, RV64_TIMEBASE_HZ / 10, "within 100 ms");
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_machine_restore(m2, &r, 2000000000ull), 0, "%s", r.err);
    cr_assert_geq(rv64_time(m2), saved + 2 * RV64_TIMEBASE_HZ, "advance_ns moves the clock on");
    persist_writer_free(&w);
}

Test(persist_cpu, wrong_hart_count_is_refused)
{
    struct persist_writer w;
    save_machine(&M, &w);
    struct rv64_machine *m2 = second_machine(2);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_machine_restore(m2, &r, 0), -1);
    cr_assert(strstr(r.err, "vCPU") != NULL, "%s", r.err);
    persist_writer_free(&w);
}

Test(persist_cpu, truncated_machine_state_is_refused)
{
    struct persist_writer w;
    save_machine(&M, &w);
    for (size_t len = 0; len < w.len; len += 7) {
        struct persist_reader r;
        persist_reader_init(&r, w.buf, len);
        cr_assert_eq(rv64_machine_restore(&M, &r, 0), -1, "length %zu", len);
    }
    persist_writer_free(&w);
}

Test(persist_cpu, out_of_range_mtime_is_refused)
{
    struct persist_writer w;
    save_machine(&M, &w);
    uint64_t huge = UINT64_MAX / 50;
    memcpy(w.buf + OFF_MTIME, &huge, 8);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_machine_restore(&M, &r, 0), -1);
    cr_assert_str_not_empty(r.err);
    persist_writer_free(&w);
}

Test(persist_cpu, restore_drops_decoded_code)
{
    X(1) = 0;
    emit(i_addi(1, 1, 1));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(1), 1);
    struct persist_writer w;
    save_machine(&M, &w);
    put32(RAM_BASE, i_addi(1, 1, 5)); /* RAM replaced behind the decoder's back (no store) */
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(rv64_machine_restore(&M, &r, 0), 0, "%s", r.err);
    H->x[1] = 0;
    rerun(end);
    cr_assert_eq(X(1), 5, "the old decoded block ran");
    persist_writer_free(&w);
}
