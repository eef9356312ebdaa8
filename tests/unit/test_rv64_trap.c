/* test_rv64_trap.c — exceptions, delegation, xRET, interrupts and the trap-loop guard.
 * All with m.sbi_mode == false: M-mode traps go to mtvec like on real hardware. */
#include "rv64_test_util.h"

TestSuite(rv64_trap, .init = rv_setup, .fini = rv_teardown);

#define X(r) H->x[r]
#define IRQ(n) (CAUSE_INTERRUPT | (n))

static void start(int priv)
{
    rv64_hart_reset(H, RAM_BASE, priv);
    H->mtvec = MTRAP_PC;
    H->stvec = STRAP_PC;
    org(RAM_BASE);
}

static uint64_t mpp(void) { return (H->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT; }

Test(rv64_trap, sbi_mode_is_off_by_default)
{
    cr_assert(!M.sbi_mode);
}

Test(rv64_trap, ecall_from_m)
{
    emit(i_addi(5, 0, 1));
    uint64_t at = emit(I_ECALL);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_MACHINE_ECALL);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0);
    cr_assert_eq(mpp(), PRIV_M);
    cr_assert_eq(X(5), 1, "the instruction before the ecall retired");
}

Test(rv64_trap, ecall_from_s)
{
    start(PRIV_S);
    uint64_t at = emit(I_ECALL);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_SUPERVISOR_ECALL);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(mpp(), PRIV_S);
}

Test(rv64_trap, ecall_from_u)
{
    start(PRIV_U);
    emit(i_addi(5, 0, 1));
    emit(i_addi(6, 0, 1));
    uint64_t at = emit(I_ECALL);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_USER_ECALL);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(mpp(), PRIV_U);
}

Test(rv64_trap, trap_saves_and_clears_mie)
{
    H->mstatus |= MSTATUS_MIE;
    emit(I_ECALL);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_MACHINE_ECALL);
    cr_assert(H->mstatus & MSTATUS_MPIE);
    cr_assert_eq(H->mstatus & MSTATUS_MIE, 0);
}

Test(rv64_trap, delegated_u_ecall_goes_to_s)
{
    start(PRIV_U);
    H->medeleg = 1u << CAUSE_USER_ECALL;
    H->mstatus |= MSTATUS_SIE | MSTATUS_SPP;    /* SPP must be rewritten to U */
    uint64_t at = emit(I_ECALL);
    uint64_t end = emit_halt();
    uint64_t pc = run_prog(end);
    cr_assert_eq(pc, STRAP_PC, "pc %#lx", (unsigned long)pc);
    cr_assert_eq(H->priv, PRIV_S);
    cr_assert_eq(H->scause, CAUSE_USER_ECALL);
    cr_assert_eq(H->sepc, at);
    cr_assert_eq(H->stval, 0);
    cr_assert_eq(H->mstatus & MSTATUS_SPP, 0, "SPP = U");
    cr_assert(H->mstatus & MSTATUS_SPIE, "SPIE = old SIE");
    cr_assert_eq(H->mstatus & MSTATUS_SIE, 0, "SIE cleared");
    cr_assert_eq(H->mcause, 0, "M-mode trap state untouched");
    cr_assert_eq(H->mepc, 0);
}

Test(rv64_trap, delegated_s_ecall_sets_spp_and_spie_from_sie_zero)
{
    start(PRIV_S);
    H->medeleg = 1u << CAUSE_SUPERVISOR_ECALL;
    H->mstatus |= MSTATUS_SPIE;                 /* must become old SIE = 0 */
    uint64_t at = emit(I_ECALL);
    uint64_t end = emit_halt();
    cr_assert_eq(run_prog(end), STRAP_PC);
    cr_assert_eq(H->scause, CAUSE_SUPERVISOR_ECALL);
    cr_assert_eq(H->sepc, at);
    cr_assert(H->mstatus & MSTATUS_SPP);
    cr_assert_eq(H->mstatus & MSTATUS_SPIE, 0);
}

Test(rv64_trap, m_mode_exceptions_are_never_delegated)
{
    H->medeleg = 0xb3ff;
    emit(0xffffffff);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->scause, 0);
}

Test(rv64_trap, illegal_instruction_mtval_is_the_bits)
{
    emit(i_addi(5, 0, 1));
    uint64_t at = emit(0xffffffff);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0xffffffff);
    cr_assert_eq(X(5), 1);
}

Test(rv64_trap, illegal_compressed_instruction_mtval_is_16_bits)
{
    emit16(C_NOP);
    uint64_t at = emit16(0x6501);               /* c.lui a0,0: reserved */
    emit16(C_NOP);                              /* upper half of the fetched word */
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0x6501);
}

Test(rv64_trap, all_zero_instruction_is_illegal)
{
    uint64_t at = emit(0x00000000);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, 0);
}

Test(rv64_trap, ebreak_and_c_ebreak)
{
    uint64_t at = emit(I_EBREAK);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_BREAKPOINT);
    cr_assert_eq(H->mepc, at);

    start(PRIV_M);
    org(RAM_BASE + 0x100);
    H->pc = RAM_BASE + 0x100;
    at = emit16(0x9002);
    end = emit_halt();
    RUN_MTRAP(end, CAUSE_BREAKPOINT);
    cr_assert_eq(H->mepc, at);
}

Test(rv64_trap, mret_to_s_restores_priv_and_mie)
{
    uint64_t target = RAM_BASE + 0x400;
    H->mepc = target;
    H->mstatus = (H->mstatus & ~MSTATUS_MPP) | (1ull << MSTATUS_MPP_SHIFT) | MSTATUS_MPIE | MSTATUS_MPRV;
    emit(I_MRET);
    org(target);
    uint64_t at = emit(I_ECALL);
    uint64_t end = emit_halt();
    cr_assert_eq(run_until(target, 10), target);
    cr_assert_eq(H->priv, PRIV_S);
    cr_assert(H->mstatus & MSTATUS_MIE, "MIE = MPIE");
    cr_assert(H->mstatus & MSTATUS_MPIE, "MPIE = 1");
    cr_assert_eq(mpp(), PRIV_U, "MPP = least privileged mode");
    cr_assert_eq(H->mstatus & MSTATUS_MPRV, 0, "MPRV cleared when leaving M");
    RUN_MTRAP(end, CAUSE_SUPERVISOR_ECALL);     /* really running in S */
    cr_assert_eq(H->mepc, at);
}

Test(rv64_trap, mret_to_u_with_mpie_zero)
{
    uint64_t target = RAM_BASE + 0x400;
    H->mepc = target;
    H->mstatus = (H->mstatus & ~(MSTATUS_MPP | MSTATUS_MPIE)) | MSTATUS_MIE;
    emit(I_MRET);
    org(target);
    emit(I_ECALL);
    uint64_t end = emit_halt();
    cr_assert_eq(run_until(target, 10), target);
    cr_assert_eq(H->priv, PRIV_U);
    cr_assert_eq(H->mstatus & MSTATUS_MIE, 0, "MIE = MPIE = 0");
    cr_assert(H->mstatus & MSTATUS_MPIE);
    RUN_MTRAP(end, CAUSE_USER_ECALL);
}

Test(rv64_trap, mret_to_m_keeps_mprv)
{
    uint64_t target = RAM_BASE + 0x400;
    H->mepc = target;
    H->mstatus |= (3ull << MSTATUS_MPP_SHIFT) | MSTATUS_MPRV;
    emit(I_MRET);
    cr_assert_eq(run_until(target, 10), target);
    cr_assert_eq(H->priv, PRIV_M);
    cr_assert(H->mstatus & MSTATUS_MPRV);
}

Test(rv64_trap, mret_outside_m_is_illegal)
{
    start(PRIV_S);
    uint64_t at = emit(I_MRET);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
    cr_assert_eq(H->mepc, at);
    cr_assert_eq(H->mtval, I_MRET);
}

Test(rv64_trap, sret_to_u_restores_sie)
{
    start(PRIV_S);
    uint64_t target = RAM_BASE + 0x400;
    H->sepc = target;
    H->mstatus |= MSTATUS_SPIE;                 /* SPP = 0 (U) */
    emit(I_SRET);
    org(target);
    emit(I_ECALL);
    uint64_t end = emit_halt();
    cr_assert_eq(run_until(target, 10), target);
    cr_assert_eq(H->priv, PRIV_U);
    cr_assert(H->mstatus & MSTATUS_SIE, "SIE = SPIE");
    cr_assert(H->mstatus & MSTATUS_SPIE, "SPIE = 1");
    cr_assert_eq(H->mstatus & MSTATUS_SPP, 0);
    RUN_MTRAP(end, CAUSE_USER_ECALL);
}

Test(rv64_trap, sret_to_s_from_m)
{
    uint64_t target = RAM_BASE + 0x400;
    H->sepc = target;
    H->mstatus |= MSTATUS_SPP | MSTATUS_SIE;    /* SPIE = 0 */
    emit(I_SRET);
    cr_assert_eq(run_until(target, 10), target);
    cr_assert_eq(H->priv, PRIV_S);
    cr_assert_eq(H->mstatus & MSTATUS_SIE, 0);
    cr_assert_eq(H->mstatus & MSTATUS_SPP, 0, "SPP = U after sret");
}

Test(rv64_trap, sret_in_u_is_illegal)
{
    start(PRIV_U);
    emit(I_SRET);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
}

Test(rv64_trap, sret_in_s_with_tsr_is_illegal)
{
    start(PRIV_S);
    H->mstatus |= MSTATUS_TSR;
    emit(I_SRET);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
}

Test(rv64_trap, wfi_in_u_is_illegal)
{
    start(PRIV_U);
    emit(I_WFI);
    uint64_t end = emit_halt();
    RUN_MTRAP(end, CAUSE_ILLEGAL_INSN);
}

Test(rv64_trap, wfi_returns_when_an_interrupt_is_pending_even_if_globally_disabled)
{
    H->mie = MIP_MSIP;
    atomic_store(&H->mip, MIP_MSIP);            /* MIE = 0: pending but not taken */
    emit(I_WFI);
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 1);
}

Test(rv64_trap, timer_interrupt_taken_at_next_block_boundary)
{
    atomic_store(&H->mtimecmp, 0);              /* MTIP as soon as the timers are looked at */
    H->mie = MIP_MTIP;
    emit(i_addi(5, 0, 1));
    emit(i_csrrsi(0, CSR_MSTATUS, MSTATUS_MIE)); /* block ends here */
    uint64_t next = emit(i_addi(6, 0, 1));
    uint64_t end = emit_halt();
    uint64_t pc = run_prog(end);
    cr_assert_eq(pc, MTRAP_PC, "pc %#lx", (unsigned long)pc);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_TIMER), "mcause %#lx", (unsigned long)H->mcause);
    cr_assert_eq(H->mcause, 0x8000000000000007ull);
    cr_assert_eq(H->mepc, next, "the interrupted instruction is the one after the csrrsi");
    cr_assert_eq(X(5), 1);
    cr_assert_eq(X(6), 0);
    cr_assert(H->mstatus & MSTATUS_MPIE);
    cr_assert_eq(H->mstatus & MSTATUS_MIE, 0);
    cr_assert_eq(mpp(), PRIV_M);
}

Test(rv64_trap, software_interrupt_via_mip_bit)
{
    H->mie = MIP_MSIP;
    H->mstatus |= MSTATUS_MIE;
    atomic_store(&H->mip, MIP_MSIP);
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    uint64_t pc = run_prog(end);
    cr_assert_eq(pc, MTRAP_PC);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_SOFT));
    cr_assert_eq(H->mepc, RAM_BASE, "taken before the first instruction");
    cr_assert_eq(X(5), 0);
}

Test(rv64_trap, interrupt_not_taken_when_mie_bit_clear)
{
    H->mie = 0;
    H->mstatus |= MSTATUS_MIE;
    atomic_store(&H->mip, MIP_MSIP | MIP_MEIP);
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 1);
}

Test(rv64_trap, vectored_mtvec_for_interrupts)
{
    uint64_t base = RAM_BASE + 0x2000;
    for (unsigned i = 0; i < 16; i++)
        put32(base + 4 * i, I_J_SELF);
    H->mtvec = base | 1;
    H->mie = MIP_MSIP;
    H->mstatus |= MSTATUS_MIE;
    atomic_store(&H->mip, MIP_MSIP);
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->pc, base + 4 * IRQ_M_SOFT, "pc %#lx", (unsigned long)H->pc);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_SOFT));
}

Test(rv64_trap, vectored_mtvec_timer_and_exceptions_use_base)
{
    uint64_t base = RAM_BASE + 0x2000;
    for (unsigned i = 0; i < 16; i++)
        put32(base + 4 * i, I_J_SELF);
    H->mtvec = base | 1;
    atomic_store(&H->mtimecmp, 0);
    H->mie = MIP_MTIP;
    H->mstatus |= MSTATUS_MIE;
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->pc, base + 4 * 7);
    cr_assert_eq(H->mcause, 0x8000000000000007ull);

    /* synchronous exceptions ignore the vector */
    start(PRIV_M);
    H->mtvec = base | 1;
    emit(I_ECALL);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->pc, base);
    cr_assert_eq(H->mcause, CAUSE_MACHINE_ECALL);
}

Test(rv64_trap, vectored_stvec_for_delegated_interrupt)
{
    start(PRIV_S);
    uint64_t base = RAM_BASE + 0x3000;
    for (unsigned i = 0; i < 16; i++)
        put32(base + 4 * i, I_J_SELF);
    H->stvec = base | 1;
    H->mideleg = MIP_SSIP;
    H->mie = MIP_SSIP;
    H->mstatus |= MSTATUS_SIE;
    atomic_store(&H->mip, MIP_SSIP);
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->pc, base + 4 * IRQ_S_SOFT);
    cr_assert_eq(H->scause, IRQ(IRQ_S_SOFT));
    cr_assert_eq(H->sepc, RAM_BASE);
    cr_assert_eq(H->priv, PRIV_S);
}

Test(rv64_trap, priority_mei_before_msi_before_mti)
{
    atomic_store(&H->mtimecmp, 0);
    H->mie = MIP_MEIP | MIP_MTIP | MIP_MSIP;
    H->mstatus |= MSTATUS_MIE;
    atomic_store(&H->mip, MIP_MEIP | MIP_MSIP);
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_EXT), "mcause %#lx", (unsigned long)H->mcause);

    start(PRIV_M);
    atomic_store(&H->mtimecmp, 0);
    H->mie = MIP_MTIP | MIP_MSIP;
    H->mstatus |= MSTATUS_MIE;
    atomic_store(&H->mip, MIP_MSIP);
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_SOFT));

    start(PRIV_M);
    atomic_store(&H->mtimecmp, 0);
    H->mie = MIP_MTIP | MIP_SEIP;               /* SEIP not delegated: an M-level interrupt */
    H->mstatus |= MSTATUS_MIE;
    atomic_store(&H->mip, MIP_SEIP);
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_TIMER), "MTI outranks SEI");
}

Test(rv64_trap, m_interrupt_outranks_delegated_s_interrupt_in_s_mode)
{
    start(PRIV_S);
    H->mideleg = MIP_SEIP;
    H->mie = MIP_SEIP | MIP_MSIP;
    H->mstatus |= MSTATUS_SIE;                  /* MIE = 0, but S < M: M interrupts enabled */
    atomic_store(&H->mip, MIP_SEIP | MIP_MSIP);
    emit(I_NOP);
    emit_halt();
    rv64_hart_run(H, 1);
    cr_assert_eq(H->pc, MTRAP_PC);
    cr_assert_eq(H->mcause, IRQ(IRQ_M_SOFT));
    cr_assert_eq(H->priv, PRIV_M);
    cr_assert_eq(mpp(), PRIV_S);
}

Test(rv64_trap, s_interrupts_not_taken_in_m_mode)
{
    H->mideleg = MIP_SSIP | MIP_STIP | MIP_SEIP;
    H->mie = MIP_SSIP | MIP_SEIP;
    H->mstatus |= MSTATUS_MIE | MSTATUS_SIE;
    atomic_store(&H->mip, MIP_SSIP | MIP_SEIP);
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    RUN_OK(end);
    cr_assert_eq(X(5), 1);
    cr_assert_eq(H->priv, PRIV_M);
    cr_assert_eq(H->scause, 0);
}

Test(rv64_trap, s_interrupt_in_s_mode_needs_sie)
{
    start(PRIV_S);
    H->mideleg = MIP_SSIP;
    H->mie = MIP_SSIP;
    atomic_store(&H->mip, MIP_SSIP);            /* SIE = 0 */
    emit(i_addi(5, 0, 1));
    emit(i_csrrsi(0, CSR_SSTATUS, MSTATUS_SIE));
    uint64_t next = emit(i_addi(6, 0, 1));
    uint64_t end = emit_halt();
    cr_assert_eq(run_prog(end), STRAP_PC);
    cr_assert_eq(H->scause, IRQ(IRQ_S_SOFT));
    cr_assert_eq(H->sepc, next);
    cr_assert_eq(X(5), 1);
    cr_assert_eq(X(6), 0);
    cr_assert(H->mstatus & MSTATUS_SPP);
    cr_assert(H->mstatus & MSTATUS_SPIE);
    cr_assert_eq(H->mstatus & MSTATUS_SIE, 0);
}

Test(rv64_trap, s_interrupt_always_enabled_in_u_mode)
{
    start(PRIV_U);
    H->mideleg = MIP_STIP;
    H->mie = MIP_STIP;
    atomic_store(&H->mip, MIP_STIP);            /* SIE = 0 does not matter in U */
    emit(i_addi(5, 0, 1));
    uint64_t end = emit_halt();
    cr_assert_eq(run_prog(end), STRAP_PC);
    cr_assert_eq(H->scause, IRQ(IRQ_S_TIMER));
    cr_assert_eq(H->sepc, RAM_BASE);
    cr_assert_eq(H->mstatus & MSTATUS_SPP, 0);
    cr_assert_eq(H->priv, PRIV_S);
}

Test(rv64_trap, trap_loop_on_unmapped_vector_exits_with_guest_crash, .timeout = 10)
{
    H->mtvec = 0;                               /* nothing at physical 0 */
    emit(0xffffffff);
    emit_halt();
    rv64_hart_run(H, 100000);                   /* must return early, not spin */
    cr_assert_eq(atomic_load(&M.exit_reason), RV64_EXIT_GUEST_CRASH);
    cr_assert_neq(M.crash_msg[0], 0);
    cr_assert_eq(H->mcause, CAUSE_FETCH_ACCESS);
    /* and further runs return at once */
    uint64_t before = H->instret;
    rv64_hart_run(H, 1000);
    cr_assert_eq(H->instret, before);
}

Test(rv64_trap, faulting_handler_that_faults_on_its_first_instruction_is_a_crash, .timeout = 10)
{
    /* the handler exists but is itself an illegal instruction */
    put32(MTRAP_PC, 0x00000000);
    emit(I_ECALL);
    emit_halt();
    rv64_hart_run(H, 100000);
    cr_assert_eq(atomic_load(&M.exit_reason), RV64_EXIT_GUEST_CRASH);
}

Test(rv64_trap, repeated_traps_that_make_progress_are_not_a_crash)
{
    /* handler: mepc += 4; mret — a guest that ecalls in a loop is healthy */
    org(MTRAP_PC);
    emit(i_csrr(T2, CSR_MEPC));
    emit(i_addi(T2, T2, 4));
    emit(i_csrw(CSR_MEPC, T2));
    emit(I_MRET);
    org(RAM_BASE);
    uint64_t loop = emit(I_ECALL);
    emit(i_addi(5, 5, 1));
    emit(i_addi(6, 0, 200));
    emit(i_bne(5, 6, (int32_t)(loop - CUR)));
    uint64_t end = emit_halt();
    uint64_t pc = run_until(end, 100000);
    cr_assert_eq(pc, end, "pc %#lx x5 %lu exit %d mcause %lu: %s", (unsigned long)pc,
                 (unsigned long)X(5), atomic_load(&M.exit_reason), (unsigned long)H->mcause,
                 M.crash_msg);
    cr_assert_eq(X(5), 200);
    cr_assert_eq(atomic_load(&M.exit_reason), RV64_EXIT_NONE);
}
