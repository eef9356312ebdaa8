/* test_rv64_mmu.c — Sv39/Sv48 translation (rv64_translate and executed loads/stores/fetches in
 * S and U mode), A/D updates, permission faults, TLB invalidation and the decoded-block
 * invalidation behind self-modifying code.
 *
 * Sv39 layout used by most tests (all page tables in guest RAM):
 *   ROOT[2]  gigapage VA 0x80000000 → PA 0x80000000 (identity: code, page tables, trap vectors)
 *   ROOT[3]  gigapage VA 0xC0000000 → PA 0x80000000 (an alias of RAM)
 *   ROOT[1]  → L1T;  L1T[0] → L0T (4 KiB pages at VA 0x40000000 + i * 4096)
 *   L1T[1]   megapage VA 0x40200000 → PA 0x80400000
 * Traps are not delegated: they land on MTRAP_PC in M-mode, which is never translated. */
#include "rv64_test_util.h"

TestSuite(rv64_mmu, .init = rv_setup, .fini = rv_teardown);

#define X(r) H->x[r]

#define ROOT 0x80100000ull
#define L1T 0x80101000ull
#define L0T 0x80102000ull
#define ROOT_B 0x80103000ull
#define L1T_B 0x80104000ull
#define L0T_B 0x80105000ull
#define PA_A 0x80200000ull
#define PA_B 0x80201000ull
#define PA_C 0x80202000ull
#define VA_4K 0x40000000ull
#define VA_MEGA 0x40200000ull
#define MEGA_PA 0x80400000ull
#define VA_GIGA 0xC0000000ull
#define SATP39 satp_of(SATP_MODE_SV39, ROOT)

#define RWXAD (PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

static void sv39_tables(uint64_t root, uint64_t l1, uint64_t l0, uint64_t code_flags)
{
    put64(pte_addr(root, 2), pte_leaf(0x80000000ull, code_flags));
    put64(pte_addr(root, 3), pte_leaf(0x80000000ull, PTE_R | PTE_W | PTE_A | PTE_D));
    put64(pte_addr(root, 1), pte_table(l1));
    put64(pte_addr(l1, 0), pte_table(l0));
    put64(pte_addr(l1, 1), pte_leaf(MEGA_PA, PTE_R | PTE_W | PTE_A | PTE_D));
}

static void map4k(unsigned idx, uint64_t pa, uint64_t flags)
{
    put64(pte_addr(L0T, idx), pte_leaf(pa, flags));
}

/* Sv39 tables with supervisor code, hart in `priv` at RAM_BASE (identity-mapped). */
static void start(int priv, uint64_t code_flags)
{
    sv39_tables(ROOT, L1T, L0T, code_flags);
    rv64_hart_reset(H, RAM_BASE, priv);
    H->mtvec = MTRAP_PC;
    H->stvec = STRAP_PC;
    enter_mode(priv, SATP39);
    org(RAM_BASE);
}

static void start_s(void) { start(PRIV_S, RWXAD); }
static void start_u(void) { start(PRIV_U, RWXAD | PTE_U); }

static int xlate(uint64_t va, enum access acc, uint64_t *pa)
{
    *pa = 0xdead;
    return rv64_translate(H, va, acc, pa);
}

/* ---------------------------------------------------------------- rv64_translate, Sv39 */

Test(rv64_mmu, sv39_4k_page)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    map4k(1, PA_B, PTE_R | PTE_A);
    uint64_t pa;
    cr_assert_eq(xlate(VA_4K + 0x123, ACC_READ, &pa), 0);
    cr_assert_eq(pa, PA_A + 0x123);
    cr_assert_eq(xlate(VA_4K + 0xfff, ACC_WRITE, &pa), 0);
    cr_assert_eq(pa, PA_A + 0xfff);
    cr_assert_eq(xlate(VA_4K + 0x1008, ACC_READ, &pa), 0);
    cr_assert_eq(pa, PA_B + 8);
    cr_assert_eq(xlate(VA_4K + 0x1008, ACC_WRITE, &pa), CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(xlate(VA_4K + 0x1008, ACC_EXEC, &pa), CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(xlate(VA_4K + 0x2000, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT, "unmapped");
}

Test(rv64_mmu, sv39_megapage_and_gigapage)
{
    start_s();
    uint64_t pa;
    cr_assert_eq(xlate(VA_MEGA + 0x12345, ACC_READ, &pa), 0);
    cr_assert_eq(pa, MEGA_PA + 0x12345);
    cr_assert_eq(xlate(VA_MEGA + 0x1fffff, ACC_WRITE, &pa), 0);
    cr_assert_eq(pa, MEGA_PA + 0x1fffff);
    cr_assert_eq(xlate(VA_GIGA + 0x123456, ACC_READ, &pa), 0);
    cr_assert_eq(pa, 0x80123456ull);
    cr_assert_eq(xlate(VA_GIGA + 0x3fffffff, ACC_READ, &pa), 0);
    cr_assert_eq(pa, 0xbfffffffull);
    cr_assert_eq(xlate(RAM_BASE + 0x44, ACC_EXEC, &pa), 0);
    cr_assert_eq(pa, RAM_BASE + 0x44);
    cr_assert_eq(xlate(VA_GIGA, ACC_EXEC, &pa), CAUSE_FETCH_PAGE_FAULT, "alias is not executable");
}

Test(rv64_mmu, sv39_misaligned_superpages_fault)
{
    start_s();
    put64(pte_addr(L1T, 2), pte_leaf(MEGA_PA + 0x1000, PTE_R | PTE_A));     /* VA 0x40400000 */
    put64(pte_addr(ROOT, 4), pte_leaf(0x80200000ull, PTE_R | PTE_A));       /* VA 0x100000000 */
    uint64_t pa;
    cr_assert_eq(xlate(0x40400000ull, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(0x40400000ull, ACC_WRITE, &pa), CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(xlate(0x100000000ull, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(0x100000000ull, ACC_EXEC, &pa), CAUSE_FETCH_PAGE_FAULT);
}

Test(rv64_mmu, sv39_non_canonical_addresses_fault)
{
    start_s();
    put64(pte_addr(ROOT, 511), pte_leaf(0x80000000ull, PTE_R | PTE_A));    /* VA 0xffffffffc0000000 */
    uint64_t pa;
    cr_assert_eq(xlate(0xffffffffc0000010ull, ACC_READ, &pa), 0);
    cr_assert_eq(pa, 0x80000010ull);
    cr_assert_eq(xlate(0x7fffffffc0000010ull, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(0x0000008000000000ull, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(0x0000004000000000ull | VA_4K, ACC_WRITE, &pa), CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(xlate(0x8000000080000000ull, ACC_EXEC, &pa), CAUSE_FETCH_PAGE_FAULT);
}

Test(rv64_mmu, reserved_pte_encodings_fault)
{
    start_s();
    map4k(0, PA_A, PTE_W | PTE_A | PTE_D);                  /* W without R */
    map4k(1, PA_A, PTE_W | PTE_X | PTE_A | PTE_D);          /* W+X without R */
    put64(pte_addr(L0T, 2), pte_table(PA_A));               /* pointer at the last level */
    map4k(3, PA_A, PTE_R | PTE_A | (1ull << 60));           /* reserved high bits */
    uint64_t pa;
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(VA_4K + 0x1000, ACC_EXEC, &pa), CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(xlate(VA_4K + 0x2000, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(VA_4K + 0x3000, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
}

Test(rv64_mmu, page_table_outside_ram_is_access_fault)
{
    rv64_hart_reset(H, RAM_BASE, PRIV_S);
    enter_mode(PRIV_S, satp_of(SATP_MODE_SV39, 0x1000));   /* root at PA 0x1000: not RAM */
    uint64_t pa;
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), CAUSE_LOAD_ACCESS);
    cr_assert_eq(xlate(VA_4K, ACC_WRITE, &pa), CAUSE_STORE_ACCESS);
    cr_assert_eq(xlate(VA_4K, ACC_EXEC, &pa), CAUSE_FETCH_ACCESS);
}

Test(rv64_mmu, bare_and_m_mode_are_untranslated)
{
    start_s();
    uint64_t pa;
    rv64_set_priv(H, PRIV_M);
    cr_assert_eq(xlate(VA_4K + 5, ACC_READ, &pa), 0);
    cr_assert_eq(pa, VA_4K + 5);
    rv64_set_priv(H, PRIV_S);
    H->satp = 0;
    cr_assert_eq(xlate(0x1234, ACC_EXEC, &pa), 0);
    cr_assert_eq(pa, 0x1234);
}

/* ---------------------------------------------------------------- rv64_translate, Sv48 */

#define R48 0x80110000ull
#define L2_48 0x80111000ull
#define L1_48 0x80112000ull
#define L0_48 0x80113000ull

static void start_sv48(void)
{
    put64(pte_addr(R48, 0), pte_table(L2_48));
    put64(pte_addr(L2_48, 2), pte_leaf(0x80000000ull, RWXAD));              /* gigapage identity */
    put64(pte_addr(L2_48, 1), pte_table(L1_48));
    put64(pte_addr(L1_48, 0), pte_table(L0_48));
    put64(pte_addr(L0_48, 0), pte_leaf(PA_A, PTE_R | PTE_W | PTE_A | PTE_D));
    put64(pte_addr(L1_48, 1), pte_leaf(MEGA_PA, PTE_R | PTE_A | PTE_D));    /* megapage */
    put64(pte_addr(R48, 1), pte_leaf(0, PTE_R | PTE_A));                    /* 512 GiB terapage */
    put64(pte_addr(R48, 2), pte_leaf(0x80000000ull, PTE_R | PTE_A));        /* misaligned terapage */
    put64(pte_addr(R48, 511), pte_table(L2_48));                            /* top of the space */
    rv64_hart_reset(H, RAM_BASE, PRIV_S);
    H->mtvec = MTRAP_PC;
    enter_mode(PRIV_S, satp_of(SATP_MODE_SV48, R48));
    org(RAM_BASE);
}

Test(rv64_mmu, sv48_walks)
{
    start_sv48();
    uint64_t pa;
    cr_assert_eq(xlate(VA_4K + 0x10, ACC_READ, &pa), 0);
    cr_assert_eq(pa, PA_A + 0x10);
    cr_assert_eq(xlate(VA_MEGA + 0xabcde, ACC_READ, &pa), 0);
    cr_assert_eq(pa, MEGA_PA + 0xabcde);
    cr_assert_eq(xlate(RAM_BASE + 0x100, ACC_EXEC, &pa), 0);
    cr_assert_eq(pa, RAM_BASE + 0x100);
    cr_assert_eq(xlate(0x8000000000ull + 0x12345678ull, ACC_READ, &pa), 0, "terapage");
    cr_assert_eq(pa, 0x12345678ull);
    cr_assert_eq(xlate(0x10000000000ull, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT, "misaligned terapage");
    /* VA 0x8000000000 is non-canonical in Sv39 but fine in Sv48; 1 << 47 is not */
    cr_assert_eq(xlate(0x0000800000000000ull, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(xlate(0xffffff8040000010ull, ACC_READ, &pa), 0, "sign-extended top half (ROOT[511])");
    cr_assert_eq(pa, PA_A + 0x10);
    cr_assert_eq(xlate(VA_4K + 0x1000, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
}

Test(rv64_mmu, sv48_executed_load_and_store)
{
    start_sv48();
    put64(PA_A + 8, 0x1122334455667788ull);
    X(10) = VA_4K;
    X(11) = 0xabcdef;
    emit(i_ld(5, 10, 8));
    emit(i_sd(11, 10, 16));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 0x1122334455667788ull);
    cr_assert_eq(get64(PA_A + 16), 0xabcdef);
}

/* ---------------------------------------------------------------- executed accesses */

Test(rv64_mmu, executed_loads_and_stores_through_all_page_sizes)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    put64(PA_A + 0x18, 0x0102030405060708ull);
    put64(MEGA_PA + 0x1000, 0xaaaa);
    put64(0x80000000ull + 0x30000, 0xbbbb);
    X(10) = VA_4K;
    X(11) = VA_MEGA + 0x1000;
    X(12) = VA_GIGA + 0x30000;
    X(13) = 0x5555;
    emit(i_ld(5, 10, 0x18));
    emit(i_lw(6, 11, 0));
    emit(i_ld(7, 12, 0));
    emit(i_sd(13, 10, 0x20));
    emit(i_sh(13, 11, 8));
    emit(i_sw(13, 12, 8));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 0x0102030405060708ull);
    cr_assert_eq(X(6), 0xaaaa);
    cr_assert_eq(X(7), 0xbbbb);
    cr_assert_eq(get64(PA_A + 0x20), 0x5555);
    cr_assert_eq(get16(MEGA_PA + 0x1008), 0x5555);
    cr_assert_eq(get32(0x80030008ull), 0x5555);
}

Test(rv64_mmu, accessed_and_dirty_bits)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W);          /* no A, no D */
    map4k(1, PA_B, PTE_R | PTE_W);
    put64(pte_addr(L1T, 3), pte_leaf(0x80600000ull, PTE_R | PTE_W)); /* megapage VA 0x40600000 */
    X(10) = VA_4K;
    X(11) = VA_4K + 0x1000;
    X(12) = 0x40600000ull;
    emit(i_ld(5, 10, 0));                   /* read: A only */
    emit(i_sd(5, 11, 0));                   /* write: A and D */
    emit(i_lbu(6, 12, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    uint64_t p0 = get64(pte_addr(L0T, 0)), p1 = get64(pte_addr(L0T, 1)), pm = get64(pte_addr(L1T, 3));
    cr_assert(p0 & PTE_A, "A set after a read (pte %#lx)", (unsigned long)p0);
    cr_assert_eq(p0 & PTE_D, 0, "D not set by a read");
    cr_assert(p1 & PTE_A);
    cr_assert(p1 & PTE_D, "D set after a write (pte %#lx)", (unsigned long)p1);
    cr_assert_eq(p0 & ~(PTE_A | PTE_D), pte_leaf(PA_A, PTE_R | PTE_W), "nothing else changes");
    cr_assert(pm & PTE_A, "A set on a megapage leaf");
    cr_assert_eq(pm & PTE_D, 0);
}

Test(rv64_mmu, dirty_bit_set_by_store_after_read_filled_the_tlb)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A);  /* A but no D */
    X(10) = VA_4K;
    emit(i_ld(5, 10, 0));
    emit(i_ld(6, 10, 8));                   /* TLB hit */
    emit(i_sd(6, 10, 16));                  /* must still set D */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert(get64(pte_addr(L0T, 0)) & PTE_D);
}

Test(rv64_mmu, store_to_read_only_page_faults_with_vaddr)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_A);
    put64(PA_A + 0x40, 77);
    X(10) = VA_4K + 0x40;
    X(11) = 99;
    emit(i_ld(5, 10, 0));                   /* fills the read TLB */
    uint64_t at = emit(i_sd(11, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(H->mtval, VA_4K + 0x40, "mtval %#lx", (unsigned long)H->mtval);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(get64(PA_A + 0x40), 77);
    cr_assert_eq(X(5), 77);
    cr_assert_eq(get64(pte_addr(L0T, 0)) & PTE_D, 0);
}

Test(rv64_mmu, store_fault_is_delegated_to_s_with_stval)
{
    start_s();
    H->medeleg = 1u << CAUSE_STORE_PAGE_FAULT;
    map4k(0, PA_A, PTE_R | PTE_A);
    X(10) = VA_4K + 0x48;
    uint64_t at = emit(i_sw(0, 10, 0));
    uint64_t end = emit_halt();
    cr_assert_eq(run_prog(end), STRAP_PC);
    cr_assert_eq(H->scause, CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(H->stval, VA_4K + 0x48);
    cr_assert_eq(H->sepc, at);
}

Test(rv64_mmu, unmapped_load_faults)
{
    start_s();
    X(10) = VA_4K + 0x5008;
    uint64_t at = emit(i_ld(5, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(H->mtval, VA_4K + 0x5008);
    cr_assert_eq(H->mepc, at);
}

Test(rv64_mmu, unmapped_root_entry_faults)
{
    start_s();
    X(10) = 0x1000;                         /* ROOT[0] is empty */
    emit(i_lw(5, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(H->mtval, 0x1000);
}

Test(rv64_mmu, non_canonical_executed_load_faults)
{
    start_s();
    X(10) = 0x0000008000000000ull;
    emit(i_ld(5, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(H->mtval, 0x0000008000000000ull);
}

Test(rv64_mmu, fetch_from_non_executable_page_faults)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    put32(PA_A, I_NOP);
    X(10) = VA_4K;
    emit(i_jalr(1, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(H->mepc, VA_4K);
    cr_assert_eq(H->mtval, VA_4K);
    cr_assert_eq(X(1), RAM_BASE + 4, "the jump itself completed");
}

Test(rv64_mmu, fetch_from_unmapped_page_faults)
{
    start_s();
    X(10) = VA_4K + 0x7000;
    emit(i_jalr(0, 10, 0x10));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(H->mepc, VA_4K + 0x7010);
    cr_assert_eq(H->mtval, VA_4K + 0x7010);
}

Test(rv64_mmu, executes_from_a_4k_page)
{
    start_s();
    map4k(0, PA_A, PTE_X | PTE_A);          /* execute-only */
    put32(PA_A, i_addi(5, 0, 42));
    put32(PA_A + 4, i_jalr(0, 1, 0));
    X(10) = VA_4K;
    emit(i_jalr(1, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 42);
}

Test(rv64_mmu, fetch_straddling_into_unmapped_page_faults_on_second_half)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_X | PTE_A);
    put16(PA_A + 0xffe, (uint16_t)(i_addi(5, 0, 1) & 0xffff));   /* low half of a 32-bit insn */
    X(10) = VA_4K + 0xffe;
    emit(i_jalr(0, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(H->mepc, VA_4K + 0xffe);
    cr_assert_eq(H->mtval, VA_4K + 0x1000, "mtval %#lx", (unsigned long)H->mtval);
}

Test(rv64_mmu, fetch_straddling_two_mapped_pages_works)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_X | PTE_A);
    map4k(1, PA_C, PTE_R | PTE_X | PTE_A);  /* not physically contiguous */
    uint32_t w = i_addi(5, 0, 33);
    put16(PA_A + 0xffe, (uint16_t)(w & 0xffff));
    put16(PA_C, (uint16_t)(w >> 16));
    put32(PA_C + 2, i_jalr(0, 1, 0));
    X(10) = VA_4K + 0xffe;
    emit(i_jalr(1, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 33);
}

Test(rv64_mmu, load_crossing_into_unmapped_page_faults)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    X(10) = VA_4K + 0xffc;
    emit(i_ld(5, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert(H->mtval >= VA_4K + 0xffc && H->mtval <= VA_4K + 0x1003,
              "mtval %#lx", (unsigned long)H->mtval);
}

Test(rv64_mmu, store_crossing_into_read_only_page_writes_nothing)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    map4k(1, PA_B, PTE_R | PTE_A);
    put64(PA_A + 0xff8, 0x1111111111111111ull);
    put64(PA_B, 0x2222222222222222ull);
    X(10) = VA_4K + 0xffc;
    X(11) = 0x3333333333333333ull;
    emit(i_sd(11, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(get64(PA_A + 0xff8), 0x1111111111111111ull);
    cr_assert_eq(get64(PA_B), 0x2222222222222222ull);
}

Test(rv64_mmu, store_crossing_two_writable_pages)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    map4k(1, PA_C, PTE_R | PTE_W | PTE_A | PTE_D);
    X(10) = VA_4K + 0xffd;
    X(11) = 0x8877665544332211ull;
    emit(i_sd(11, 10, 0));
    emit(i_ld(12, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(get8(PA_A + 0xffd), 0x11);
    cr_assert_eq(get8(PA_A + 0xfff), 0x33);
    cr_assert_eq(get8(PA_C), 0x44);
    cr_assert_eq(get8(PA_C + 4), 0x88);
    cr_assert_eq(X(12), 0x8877665544332211ull);
}

/* ---------------------------------------------------------------- U/S protection, SUM, MXR */

Test(rv64_mmu, s_mode_u_page_without_sum_faults)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D | PTE_U);
    X(10) = VA_4K;
    emit(i_ld(5, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);

    start_s();
    X(10) = VA_4K;
    emit(i_sd(5, 10, 0));
    end = emit_halt();
    RUN_MTRAP(end, CAUSE_STORE_PAGE_FAULT);
}

Test(rv64_mmu, s_mode_u_page_with_sum_works)
{
    start_s();
    H->mstatus |= MSTATUS_SUM;
    rv64_update_views(H);
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D | PTE_U);
    put64(PA_A, 1234);
    X(10) = VA_4K;
    X(11) = 4321;
    emit(i_ld(5, 10, 0));
    emit(i_sd(11, 10, 8));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 1234);
    cr_assert_eq(get64(PA_A + 8), 4321);
}

Test(rv64_mmu, clearing_sum_takes_effect_without_sfence)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D | PTE_U);
    put64(PA_A, 1234);
    X(10) = VA_4K;
    X(12) = MSTATUS_SUM;
    emit(i_csrrs(0, CSR_SSTATUS, 12));      /* set SUM */
    emit(i_ld(5, 10, 0));                   /* ok, fills a TLB */
    emit(i_csrrc(0, CSR_SSTATUS, 12));      /* clear SUM */
    uint64_t at = emit(i_ld(6, 10, 0));     /* must fault */
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(X(5), 1234);
    cr_assert_eq(H->mepc, at);
}

Test(rv64_mmu, s_mode_never_executes_u_pages_even_with_sum)
{
    start_s();
    H->mstatus |= MSTATUS_SUM;
    rv64_update_views(H);
    map4k(0, PA_A, PTE_R | PTE_X | PTE_A | PTE_U);
    put32(PA_A, I_NOP);
    X(10) = VA_4K;
    emit(i_jalr(0, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(H->mtval, VA_4K);
}

Test(rv64_mmu, u_mode_accesses_u_pages_only)
{
    start_u();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D | PTE_U);
    map4k(1, PA_B, PTE_R | PTE_W | PTE_A | PTE_D);     /* supervisor page */
    put64(PA_A, 5);
    X(10) = VA_4K;
    X(11) = VA_4K + 0x1000;
    emit(i_ld(5, 10, 0));
    emit(i_sd(5, 10, 8));
    uint64_t at = emit(i_ld(6, 11, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(X(5), 5);
    cr_assert_eq(get64(PA_A + 8), 5);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, VA_4K + 0x1000);
    cr_assert_eq((H->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, PRIV_U);
}

Test(rv64_mmu, u_mode_sum_does_not_help)
{
    start_u();
    H->mstatus |= MSTATUS_SUM;
    rv64_update_views(H);
    map4k(1, PA_B, PTE_R | PTE_W | PTE_A | PTE_D);
    X(11) = VA_4K + 0x1000;
    emit(i_ld(6, 11, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
}

Test(rv64_mmu, u_mode_cannot_fetch_supervisor_code)
{
    /* U code mapping exists but the jump target is an S page */
    start_u();
    map4k(0, PA_A, PTE_R | PTE_X | PTE_A);
    put32(PA_A, I_NOP);
    X(10) = VA_4K;
    emit(i_jalr(0, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_FETCH_PAGE_FAULT);
    cr_assert_eq(H->mepc, VA_4K);
}

Test(rv64_mmu, s_page_cached_in_s_view_is_not_visible_from_u)
{
    /* S loads from a supervisor page (filling the S TLB), sret to U, U loads the same VA */
    start(PRIV_S, RWXAD | PTE_U);           /* code is U: S may not execute it... */
    /* ...so run the S part from the RAM alias instead: VA 0xC0000000 is not executable.
     * Use an S-only executable 4K page for the S code. */
    map4k(2, 0x80002000ull, PTE_R | PTE_X | PTE_A);         /* S code at VA 0x40002000 */
    map4k(1, PA_B, PTE_R | PTE_W | PTE_A | PTE_D);           /* S data */
    put64(PA_B, 66);
    rv64_set_priv(H, PRIV_S);
    H->pc = VA_4K + 0x2000;
    H->sepc = RAM_BASE;                     /* U code (identity gigapage with U) */
    X(11) = VA_4K + 0x1000;
    org(0x80002000ull);
    emit(i_ld(5, 11, 0));                   /* S: ok */
    emit(I_SRET);                           /* SPP = 0 → U */
    org(RAM_BASE);
    uint64_t at = emit(i_ld(6, 11, 0));     /* U: must fault */
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(X(5), 66);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq((H->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT, PRIV_U);
}

Test(rv64_mmu, mxr_makes_execute_only_pages_readable)
{
    start_s();
    map4k(0, PA_A, PTE_X | PTE_A);
    put64(PA_A, 0x5a5a);
    X(10) = VA_4K;
    emit(i_ld(5, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);

    start_s();
    H->mstatus |= MSTATUS_MXR;
    X(10) = VA_4K;
    X(12) = MSTATUS_MXR;
    emit(i_ld(5, 10, 0));
    emit(i_csrrc(0, CSR_SSTATUS, 12));      /* clearing MXR takes effect immediately */
    uint64_t at = emit(i_ld(6, 10, 0));
    end = emit_halt();
    RUN_MTRAP(end, CAUSE_LOAD_PAGE_FAULT);
    cr_assert_eq(X(5), 0x5a5a);
    cr_assert_eq(H->mepc, at);
}

Test(rv64_mmu, mxr_does_not_make_stores_legal)
{
    start_s();
    H->mstatus |= MSTATUS_MXR;
    map4k(0, PA_A, PTE_X | PTE_A);
    X(10) = VA_4K;
    emit(i_sd(0, 10, 0));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_STORE_PAGE_FAULT);
}

Test(rv64_mmu, mprv_translates_m_mode_data_accesses)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    put64(PA_A, 0x77);
    rv64_set_priv(H, PRIV_M);
    H->mstatus = (H->mstatus & ~MSTATUS_MPP) | (1ull << MSTATUS_MPP_SHIFT) | MSTATUS_MPRV;
    rv64_update_views(H);
    X(10) = VA_4K;
    emit(i_ld(5, 10, 0));                   /* fetch is still physical, data goes through Sv39 */
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 0x77);
}

/* ---------------------------------------------------------------- TLB invalidation */

Test(rv64_mmu, sfence_vma_makes_pte_change_visible)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    put64(PA_A, 111);
    put64(PA_B, 222);
    X(10) = VA_4K;
    X(11) = pte_addr(L0T, 0);               /* identity-mapped: VA == PA */
    X(12) = pte_leaf(PA_B, PTE_R | PTE_W | PTE_A | PTE_D);
    emit(i_ld(5, 10, 0));                   /* fills the TLB with VA_4K → PA_A */
    emit(i_sd(12, 11, 0));                  /* remap VA_4K → PA_B */
    emit(i_ld(7, 10, 0));                   /* may still see 111: not asserted */
    emit(i_sfence_vma(0, 0));
    emit(i_ld(6, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 111);
    cr_assert_eq(X(6), 222, "after sfence.vma the new mapping must be used (got %lu)", (unsigned long)X(6));
    cr_assert(X(7) == 111 || X(7) == 222);
}

Test(rv64_mmu, sfence_vma_with_address_makes_pte_change_visible)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    put64(PA_A, 111);
    put64(PA_B, 222);
    X(10) = VA_4K;
    X(11) = pte_addr(L0T, 0);
    X(12) = pte_leaf(PA_B, PTE_R | PTE_W | PTE_A | PTE_D);
    emit(i_ld(5, 10, 0));
    emit(i_sd(12, 11, 0));
    emit(i_sfence_vma(10, 0));              /* sfence.vma a0, x0 */
    emit(i_ld(6, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(6), 222);
}

Test(rv64_mmu, sfence_vma_with_address_keeps_other_pages_cached)
{
    /* page-granular: the entry of another page survives (a stale translation the guest has not
     * fenced is allowed, and shows the fence dropped only what it names) */
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    map4k(1, PA_B, PTE_R | PTE_W | PTE_A | PTE_D);
    put64(PA_A, 111);
    put64(PA_B, 222);
    X(10) = VA_4K;
    X(11) = VA_4K + 4096;
    X(12) = pte_addr(L0T, 0);
    X(13) = pte_leaf(PA_B, PTE_R | PTE_W | PTE_A | PTE_D);
    X(14) = pte_leaf(PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    emit(i_ld(5, 10, 0));                   /* VA_4K → PA_A cached */
    emit(i_ld(6, 11, 0));                   /* VA_4K + 4 KiB → PA_B cached */
    emit(i_sd(13, 12, 0));                  /* swap both mappings */
    emit(i_sd(14, 12, 8));
    emit(i_sfence_vma(10, 0));              /* fence VA_4K only */
    emit(i_ld(7, 10, 0));
    emit(i_ld(8, 11, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 111);
    cr_assert_eq(X(6), 222);
    cr_assert_eq(X(7), 222, "the fenced page must use its new mapping");
    cr_assert_eq(X(8), 222, "the unfenced page keeps its cached translation (got %lu)", (unsigned long)X(8));
}

Test(rv64_mmu, sfence_vma_with_address_drops_the_whole_superpage)
{
    /* two 4 KiB pages of one megapage come from one leaf PTE: fencing either address drops both */
    start_s();
    const uint64_t new_pa = 0x80600000ull;
    put64(MEGA_PA + 0x1000, 111);
    put64(new_pa + 0x1000, 222);
    X(10) = VA_MEGA;
    X(11) = VA_MEGA + 0x1000;
    X(12) = pte_addr(L1T, 1);
    X(13) = pte_leaf(new_pa, PTE_R | PTE_W | PTE_A | PTE_D);
    emit(i_ld(5, 11, 0));                   /* the second 4 KiB page of the megapage cached */
    emit(i_sd(13, 12, 0));                  /* move the megapage */
    emit(i_sfence_vma(10, 0));              /* fence its first page's address */
    emit(i_ld(6, 11, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 111);
    cr_assert_eq(X(6), 222, "every page of the fenced megapage must use the new leaf (got %lu)",
                 (unsigned long)X(6));
}

Test(rv64_mmu, sfence_vma_revokes_write_permission)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_W | PTE_A | PTE_D);
    X(10) = VA_4K;
    X(11) = pte_addr(L0T, 0);
    X(12) = pte_leaf(PA_A, PTE_R | PTE_A | PTE_D);
    X(13) = 1;
    emit(i_sd(13, 10, 0));                  /* fills the write TLB */
    emit(i_sd(12, 11, 0));                  /* make the page read-only */
    emit(i_sfence_vma(0, 0));
    emit(i_ld(5, 10, 0));                   /* still readable */
    uint64_t at = emit(i_sd(13, 10, 8));
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_STORE_PAGE_FAULT);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(X(5), 1);
}

Test(rv64_mmu, satp_write_switches_address_space_for_code)
{
    /* two address spaces map VA_4K to different code; the jump cache must not mix them up */
    sv39_tables(ROOT, L1T, L0T, RWXAD);
    sv39_tables(ROOT_B, L1T_B, L0T_B, RWXAD);
    put64(pte_addr(L0T, 0), pte_leaf(PA_A, PTE_R | PTE_X | PTE_A));
    put64(pte_addr(L0T_B, 0), pte_leaf(PA_B, PTE_R | PTE_X | PTE_A));
    put32(PA_A, i_addi(5, 0, 1));
    put32(PA_A + 4, i_jalr(0, 1, 0));
    put32(PA_B, i_addi(5, 0, 2));
    put32(PA_B + 4, i_jalr(0, 1, 0));
    rv64_hart_reset(H, RAM_BASE, PRIV_S);
    H->mtvec = MTRAP_PC;
    enter_mode(PRIV_S, SATP39);
    X(10) = VA_4K;
    X(11) = satp_of(SATP_MODE_SV39, ROOT_B);
    X(12) = SATP39;
    org(RAM_BASE);
    emit(i_jalr(1, 10, 0));                 /* space A: x5 = 1 */
    emit(i_addi(6, 5, 0));
    emit(i_csrw(CSR_SATP, 11));
    emit(i_jalr(1, 10, 0));                 /* space B: x5 = 2 */
    emit(i_addi(7, 5, 0));
    emit(i_csrw(CSR_SATP, 12));
    emit(i_jalr(1, 10, 0));                 /* back to A: x5 = 1 */
    emit(i_addi(8, 5, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(6), 1);
    cr_assert_eq(X(7), 2);
    cr_assert_eq(X(8), 1);
}

Test(rv64_mmu, satp_keeps_16_asid_bits)
{
    start_s();
    X(10) = SATP39 | SATP_ASID_MASK;
    emit(i_csrw(CSR_SATP, 10));
    emit(i_csrr(11, CSR_SATP));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(11), SATP39 | SATP_ASID_MASK, "satp read back %#lx", (unsigned long)X(11));
}

/* With ASIDs, switching satp away and back keeps an address space's translations (a stale one
 * shows it), and sfence.vma x0, asid drops exactly that address space's. */
Test(rv64_mmu, asid_switch_keeps_translations_until_sfence_of_that_asid)
{
    sv39_tables(ROOT, L1T, L0T, RWXAD);
    sv39_tables(ROOT_B, L1T_B, L0T_B, RWXAD);
    put64(pte_addr(L0T, 0), pte_leaf(PA_A, PTE_R | PTE_W | PTE_A | PTE_D));
    put64(pte_addr(L0T_B, 0), pte_leaf(PA_C, PTE_R | PTE_W | PTE_A | PTE_D));
    put64(PA_A, 111);
    put64(PA_B, 222);
    put64(PA_C, 333);
    rv64_hart_reset(H, RAM_BASE, PRIV_S);
    H->mtvec = MTRAP_PC;
    const uint64_t asid1 = 1ull << SATP_ASID_SHIFT, asid2 = 2ull << SATP_ASID_SHIFT;
    enter_mode(PRIV_S, SATP39 | asid1);
    org(RAM_BASE);
    X(10) = VA_4K;
    X(11) = pte_addr(L0T, 0);
    X(12) = pte_leaf(PA_B, PTE_R | PTE_W | PTE_A | PTE_D);
    X(13) = satp_of(SATP_MODE_SV39, ROOT_B) | asid2;
    X(14) = SATP39 | asid1;
    X(15) = 2; /* asid 2 */
    X(16) = 1; /* asid 1 */
    emit(i_ld(5, 10, 0));                   /* space 1: VA_4K → PA_A cached */
    emit(i_sd(12, 11, 0));                  /* remap it to PA_B, no fence yet */
    emit(i_csrw(CSR_SATP, 13));
    emit(i_ld(6, 10, 0));                   /* space 2: its own mapping */
    emit(i_csrw(CSR_SATP, 14));
    emit(i_ld(7, 10, 0));                   /* back in space 1: still cached */
    emit(i_sfence_vma(0, 15));              /* fence asid 2: space 1 keeps its entry */
    emit(i_ld(8, 10, 0));
    emit(i_sfence_vma(0, 16));              /* fence asid 1 */
    emit(i_ld(9, 10, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 111);
    cr_assert_eq(X(6), 333, "the other address space must use its own page table");
    cr_assert_eq(X(7), 111, "switching back must find the address space's cached translation");
    cr_assert_eq(X(8), 111, "a fence of another ASID must leave this one's translations");
    cr_assert_eq(X(9), 222, "after sfence.vma x0, asid the new mapping must be used");
}

Test(rv64_mmu, code_remap_with_sfence_runs_new_code)
{
    start_s();
    map4k(0, PA_A, PTE_R | PTE_X | PTE_A);
    put32(PA_A, i_addi(5, 0, 1));
    put32(PA_A + 4, i_jalr(0, 1, 0));
    put32(PA_B, i_addi(5, 0, 2));
    put32(PA_B + 4, i_jalr(0, 1, 0));
    X(10) = VA_4K;
    X(11) = pte_addr(L0T, 0);
    X(12) = pte_leaf(PA_B, PTE_R | PTE_X | PTE_A);
    emit(i_jalr(1, 10, 0));
    emit(i_addi(6, 5, 0));
    emit(i_sd(12, 11, 0));
    emit(i_sfence_vma(0, 0));
    emit(i_jalr(1, 10, 0));
    emit(i_addi(7, 5, 0));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(6), 1);
    cr_assert_eq(X(7), 2);
}

/* A call to a constant address on another page, made often enough to be chained (a far exit
 * under the JIT), then the callee's page remapped: the next calls must run the new code. */
Test(rv64_mmu, chained_far_call_follows_a_remap)
{
    start_s();
    map4k(0, PA_C, PTE_R | PTE_X | PTE_A);              /* the caller's code */
    map4k(1, PA_A, PTE_R | PTE_X | PTE_A);              /* the callee */
    put32(PA_A, i_addi(10, 10, 1));
    put32(PA_A + 4, i_jalr(0, 1, 0));
    put32(PA_B, i_addi(10, 10, 100));
    put32(PA_B + 4, i_jalr(0, 1, 0));
    X(13) = 20;
    X(5) = VA_4K + 4096;
    X(6) = pte_addr(L0T, 1);
    X(7) = pte_leaf(PA_B, PTE_R | PTE_X | PTE_A);
    org(PA_C);
    emit(i_jal(1, 4096));                               /* VA_4K + 0: call VA_4K + 4096 */
    emit(i_addi(12, 12, 1));
    emit(i_blt(12, 13, -8));
    emit(i_bne(19, 0, 24));                             /* second round done: to the end */
    emit(i_sd(7, 6, 0));                                /* remap the callee's page */
    emit(i_sfence_vma(5, 0));
    emit(i_addi(19, 0, 1));
    emit(i_addi(12, 0, 0));
    emit(i_jal(0, -32));                                /* again from the top */
    uint64_t end = VA_4K + (emit_halt() - PA_C);
    H->pc = VA_4K;
    RUN_OK(end);
    cr_assert_eq(X(10), 20 + 20 * 100, "a0 = %lu", (unsigned long)X(10));
}

/* ---------------------------------------------------------------- self-modifying code */

/* T: addi x5,x0,1 ; bne x6,x0,done ; addi x6,x0,1 ; sw x7,0(x8) ; jal x0,T ; done: j . */
static uint64_t smc_program(uint64_t base_va, uint64_t store_va)
{
    (void)base_va;
    X(7) = i_addi(5, 0, 2);                 /* the replacement instruction */
    X(8) = store_va;
    emit(i_addi(5, 0, 1));                  /* T */
    emit(i_bne(6, 0, 16));
    emit(i_addi(6, 0, 1));
    emit(i_sw(7, 8, 0));
    emit(i_jal(0, -16));
    return emit_halt();
}

Test(rv64_mmu, self_modifying_code_m_mode)
{
    uint64_t end = smc_program(RAM_BASE, RAM_BASE);
    RUN_OK(end);
    cr_assert_eq(get32(RAM_BASE), i_addi(5, 0, 2));
    cr_assert_eq(X(5), 2, "the overwritten instruction must take effect (x5 = %lu)", (unsigned long)X(5));
}

Test(rv64_mmu, self_modifying_code_store_via_tlb_fast_path)
{
    /* an earlier store to the same page fills the write TLB, so the code store hits the fast path */
    X(9) = RAM_BASE + 0x800;
    emit(i_sw(0, 9, 0));                    /* 0x00 */
    emit(i_jal(0, 4));                      /* 0x04: end this block */
    uint64_t t = CUR;                       /* 0x08 */
    X(7) = i_addi(5, 0, 2);
    X(8) = t;
    emit(i_addi(5, 0, 1));                  /* T */
    emit(i_bne(6, 0, 16));
    emit(i_addi(6, 0, 1));
    emit(i_sw(7, 8, 0));
    emit(i_jal(0, -16));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 2);
}

Test(rv64_mmu, self_modifying_code_s_mode_through_alias)
{
    /* code runs at its identity VA; the store goes through the VA 0xC0000000 alias of RAM */
    start_s();
    uint64_t end = smc_program(RAM_BASE, VA_GIGA + (RAM_BASE - 0x80000000ull));
    RUN_OK(end);
    cr_assert_eq(X(5), 2);
}

Test(rv64_mmu, self_modifying_code_with_fence_i)
{
    /* the block at 0x00 (auipc + P + ...) is decoded and cached on the first pass; the second
     * pass jumps back to 0x00 after rewriting P and must run the new P */
    X(7) = i_addi(5, 0, 3);
    X(11) = 1;
    emit(i_auipc(8, 0));                    /* 0x00 */
    emit(i_addi(5, 0, 1));                  /* 0x04: P, becomes addi x5,x0,3 */
    emit(i_addi(9, 9, 1));                  /* 0x08 */
    emit(i_bne(9, 11, 16));                 /* 0x0c: second pass → 0x1c */
    emit(i_sw(7, 8, 4));                    /* 0x10 */
    emit(I_FENCE_I);                        /* 0x14 */
    emit(i_jal(0, -24));                    /* 0x18 → 0x00 */
    uint64_t end = emit_halt();             /* 0x1c */
    RUN_OK(end);
    cr_assert_eq(X(9), 2);
    cr_assert_eq(X(5), 3);
}

Test(rv64_mmu, amo_to_code_page_invalidates_blocks)
{
    /* amoswap.w replaces the instruction at T */
    X(7) = i_addi(5, 0, 2);
    uint64_t t = CUR;
    X(8) = t;
    emit(i_addi(5, 0, 1));                  /* T */
    emit(i_bne(6, 0, 16));
    emit(i_addi(6, 0, 1));
    emit(i_amo(AMO_SWAP, 2, 0, 8, 7));
    emit(i_jal(0, -16));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 2);
}

Test(rv64_mmu, host_side_invalidate_code)
{
    /* a DMA-like host write followed by rv64_invalidate_code is seen by the next execution */
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 1);
    put32(RAM_BASE, i_addi(5, 0, 9));
    rv64_invalidate_code(&M, RAM_BASE, 4);
    H->pc = RAM_BASE;
    rv64_hart_run(H, 1);
    cr_assert_eq(X(5), 9);
}

Test(rv64_mmu, non_leaf_pte_with_reserved_bits_faults)
{
    /* privileged spec 4.3.2 step 3 / 4.4.1: D, A and U are reserved in non-leaf PTEs, and a PTE
     * with reserved bits set raises a page fault */
    start_s();
    map4k(0, PA_A, PTE_R | PTE_A);
    uint64_t pa;
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), 0);
    put64(pte_addr(L1T, 0), pte_table(L0T) | PTE_A);
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    put64(pte_addr(L1T, 0), pte_table(L0T) | PTE_U);
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    put64(pte_addr(L1T, 0), pte_table(L0T) | PTE_D);
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), CAUSE_LOAD_PAGE_FAULT);
    put64(pte_addr(L1T, 0), pte_table(L0T) | PTE_G);   /* G is allowed on pointers */
    cr_assert_eq(xlate(VA_4K, ACC_READ, &pa), 0);
}
