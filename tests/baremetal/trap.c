/* trap.c — exceptions and privilege transitions: ecall causes from U/S/M, medeleg delegation
 * (ecall from U and illegal instruction from S handled in S-mode), M-mode traps never delegated,
 * misaligned loads/stores (handled, or trapped with the right cause and mtval), access faults,
 * illegal instruction mtval, ebreak, mstatus MIE/MPIE/MPP and SIE/SPIE/SPP across traps and
 * mret/sret, TSR and TVM. */
#include "lib.h"

#define NORVC(s) ".option push\n.option norvc\n" s "\n.option pop"

/* ecall with a7 = 0 (not one of the runtime's): the hook records it and skips it */
__attribute__((noinline)) static long do_ecall(long arg)
{
    register long a0 asm("a0") = arg;
    register long a7 asm("a7") = 0;
    asm volatile(NORVC("ecall") : "+r"(a0) : "r"(a7) : "memory");
    return a0;
}

static uint64_t ecall_addr(void)
{
    /* do_ecall is tiny: find its ecall */
    const uint16_t *p = (const uint16_t *)do_ecall;
    for (int i = 0; i < 32; i++, p++)
        if (p[0] == 0x0073 && p[1] == 0x0000)
            return (uint64_t)p;
    return 0;
}

__attribute__((noinline)) static long illegal_insn(long arg)
{
    (void)arg;
    asm volatile(NORVC(".word 0xfe000033"));    /* OP with funct7 = 0x7f: not defined */
    return 7;
}

static long do_mret(long arg) { (void)arg; asm volatile(NORVC("mret")); return 1; }
static long do_sret(long arg) { (void)arg; asm volatile(NORVC("sret")); return 1; }
static long do_satp(long arg) { uint64_t r = 0; (void)arg; asm volatile(NORVC("csrr %0, satp") : "+r"(r)); return (long)r; }
static long do_sfence(long arg) { (void)arg; asm volatile(NORVC("sfence.vma")); return 1; }
static long do_wfi_s(long arg) { (void)arg; asm volatile(NORVC("wfi")); return 1; }

static long mode_probe(long arg) { (void)arg; return current_mode(); }

/* S-mode: set sstatus.SIE, then execute an illegal instruction (delegated to S) */
static long s_illegal_with_sie(long arg)
{
    (void)arg;
    csr_set(sstatus, MSTATUS_SIE);
    asm volatile(NORVC(".word 0xfe000033"));
    long sie_after = (csr_read(sstatus) & MSTATUS_SIE) != 0;
    csr_clear(sstatus, MSTATUS_SIE);
    return sie_after;
}

/* S-mode: sret to U-mode at u_entry with SPIE = 1, SIE = 0 */
static void u_entry(void)
{
    register long a7 asm("a7") = 0;
    asm volatile("ecall" :: "r"(a7));
    for (;;)
        ;
}

static volatile uint64_t seen_status, seen_cause;
static int catch_and_leave(struct trapframe *tf)
{
    seen_status = tf->status;
    seen_cause = tf->cause;
    mode_return(1);
}

static long s_sret_to_u(long arg)
{
    (void)arg;
    csr_clear(sstatus, MSTATUS_SPP | MSTATUS_SIE);
    csr_set(sstatus, MSTATUS_SPIE);
    csr_write(sepc, (uint64_t)u_entry);
    asm volatile("sret");
    return -1;
}

/* S-mode: sret to S-mode (SPP = 1) and report the mode and sstatus afterwards */
static long s_sret_to_s(long arg)
{
    (void)arg;
    uint64_t st;
    csr_clear(sstatus, MSTATUS_SIE);
    csr_set(sstatus, MSTATUS_SPP | MSTATUS_SPIE);
    asm volatile("la t0, 1f\n csrw sepc, t0\n sret\n 1: csrr %0, sstatus" : "=r"(st) :: "t0");
    long mode = current_mode();
    csr_clear(sstatus, MSTATUS_SIE);
    return (long)(st & (MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE)) | mode << 32;
}

static uint64_t mret_to_self(uint64_t set, uint64_t clear)
{
    uint64_t st;
    csr_clear(mstatus, clear);
    csr_set(mstatus, set);
    asm volatile("la t0, 1f\n csrw mepc, t0\n mret\n 1: csrr %0, mstatus" : "=r"(st) :: "t0");
    csr_clear(mstatus, MSTATUS_MIE);
    return st;
}

static volatile uint8_t buf[64] __attribute__((aligned(64)));

/* reserved encodings: each must raise an illegal-instruction trap with mtval = its bits */
static const uint32_t reserved32[] = {
    0x00001067,   /* jalr with funct3 = 1 */
    0x0200101b,   /* slliw with shamt[5] = 1 */
    0x4200501b,   /* sraiw with shamt[5] = 1 */
    0x0000701b,   /* OP-IMM-32 funct3 = 7 */
    0x0000402f,   /* AMO with funct3 = 4 */
    0x1010202f,   /* lr.w with rs2 != 0 */
    0xfe000033,   /* OP with funct7 = 0x7f */
    0x0c00007b,   /* custom-3 opcode */
};
static const uint16_t reserved16[] = {
    0x0004,       /* c.addi4spn with imm = 0 */
    0x6081,       /* c.lui with imm = 0 */
    0x6101,       /* c.addi16sp with imm = 0 */
    0x8002,       /* c.jr x0 */
    0x4002,       /* c.lwsp x0 */
    0x6002,       /* c.ldsp x0 */
};
static uint32_t codebuf[4] __attribute__((aligned(16)));
static volatile uint8_t pagebuf[8192] __attribute__((aligned(4096)));

int main(void)
{
    test_begin("trap");
    m_trap_hook = m_record_skip;
    long r;
    uint64_t ea = ecall_addr();
    CHECK(ea != 0);

    section("ecall causes: U = 8, S = 9, M = 11; mepc = the ecall; MPP = the caller's mode");
    trap_reset(&mtrap);
    do_ecall(0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ECALL_M);
    CHECK_EQ(mtrap.epc, ea);
    CHECK_EQ(mtrap.tval, 0);
    CHECK_EQ(mtrap.status & MSTATUS_MPP, 3ul << MSTATUS_MPP_SHIFT);
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_ecall, 0, 0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ECALL_S);
    CHECK_EQ(mtrap.epc, ea);
    CHECK_EQ(mtrap.status & MSTATUS_MPP, 1ul << MSTATUS_MPP_SHIFT);
    trap_reset(&mtrap);
    run_in_mode(PRV_U, do_ecall, 0, 0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ECALL_U);
    CHECK_EQ(mtrap.epc, ea);
    CHECK_EQ(mtrap.status & MSTATUS_MPP, 0);
    CHECK_EQ(run_in_mode(PRV_S, mode_probe, 0, 0), PRV_S);
    CHECK_EQ(run_in_mode(PRV_U, mode_probe, 0, 0), PRV_U);
    CHECK_EQ(run_in_mode(PRV_M, mode_probe, 0, 0), PRV_M);

    section("trap entry: MPIE = old MIE, MIE = 0; mret restores MIE");
    csr_write(mie, 0);
    csr_set(mstatus, MSTATUS_MIE);
    trap_reset(&mtrap);
    do_ecall(0);
    CHECK_EQ(mtrap.count, 1);
    CHECK(mtrap.status & MSTATUS_MPIE);
    CHECK_EQ(mtrap.status & MSTATUS_MIE, 0);
    CHECK(csr_read(mstatus) & MSTATUS_MIE);
    csr_clear(mstatus, MSTATUS_MIE);
    trap_reset(&mtrap);
    do_ecall(0);
    CHECK_EQ(mtrap.status & (MSTATUS_MPIE | MSTATUS_MIE), 0);

    section("vectored mtvec: exceptions still go to the base");
    csr_write(mtvec, (uint64_t)m_trap_entry | 1);
    trap_reset(&mtrap);
    do_ecall(0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ECALL_M);
    csr_write(mtvec, (uint64_t)m_trap_entry);

    section("medeleg: ecall from U handled by the S-mode handler");
    s_trap_hook = s_record_skip;
    csr_write(medeleg, 1 << EXC_ECALL_U);
    CHECK_EQ(csr_read(medeleg) & (1 << EXC_ECALL_U), 1 << EXC_ECALL_U);
    trap_reset(&mtrap);
    trap_reset(&strap);
    CHECK_EQ(run_in_mode(PRV_U, do_ecall, 42, 0), 42);
    CHECK_EQ(strap.count, 1);
    CHECK_EQ(mtrap.count, 0);
    CHECK_EQ(strap.cause, EXC_ECALL_U);
    CHECK_EQ(strap.epc, ea);
    CHECK_EQ(strap.tval, 0);
    CHECK_EQ(strap.status & MSTATUS_SPP, 0);
    trap_reset(&mtrap);
    trap_reset(&strap);
    run_in_mode(PRV_S, do_ecall, 0, 0);                 /* ecall from S still goes to M */
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ECALL_S);
    CHECK_EQ(strap.count, 0);
    csr_write(medeleg, 0);
    trap_reset(&strap);
    trap_reset(&mtrap);
    run_in_mode(PRV_U, do_ecall, 0, 0);                 /* no longer delegated */
    CHECK_EQ(strap.count, 0);
    CHECK_EQ(mtrap.cause, EXC_ECALL_U);

    section("medeleg: illegal instruction in S handled in S (SPP = 1, SPIE = old SIE, stval)");
    csr_write(medeleg, 1 << EXC_ILLEGAL);
    trap_reset(&mtrap);
    trap_reset(&strap);
    CHECK_EQ(run_in_mode(PRV_S, s_illegal_with_sie, 0, 0), 1);  /* sret restored SIE */
    CHECK_EQ(strap.count, 1);
    CHECK_EQ(mtrap.count, 0);
    CHECK_EQ(strap.cause, EXC_ILLEGAL);
    CHECK_EQ(strap.tval, 0xfe000033);
    CHECK(strap.status & MSTATUS_SPP);
    CHECK(strap.status & MSTATUS_SPIE);
    CHECK_EQ(strap.status & MSTATUS_SIE, 0);
    trap_reset(&mtrap);
    trap_reset(&strap);
    illegal_insn(0);                                    /* M-mode traps are never delegated */
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(strap.count, 0);
    csr_write(medeleg, 0);
    s_trap_hook = 0;

    section("illegal instruction: mtval = the instruction bits");
    trap_reset(&mtrap);
    CHECK_EQ(illegal_insn(0), 7);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    CHECK_EQ(mtrap.tval, 0xfe000033);
    trap_reset(&mtrap);
    run_in_mode(PRV_U, do_mret, 0, 0);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    CHECK_EQ(mtrap.tval, 0x30200073);                   /* mret in U */
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_mret, 0, 0);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);                 /* mret in S */
    trap_reset(&mtrap);
    run_in_mode(PRV_U, do_sret, 0, 0);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    CHECK_EQ(mtrap.tval, 0x10200073);                   /* sret in U */

    section("reserved 32-bit and 16-bit encodings are illegal, mtval = their bits");
    for (unsigned i = 0; i < sizeof(reserved32) / sizeof(reserved32[0]); i++) {
        ((volatile uint32_t *)codebuf)[0] = reserved32[i];
        ((volatile uint32_t *)codebuf)[1] = 0x00008067;          /* ret */
        asm volatile("fence.i" ::: "memory");
        trap_reset(&mtrap);
        ((void (*)(void))codebuf)();
        if (mtrap.count != 1 || mtrap.tval != reserved32[i])
            printf_("   0x%08x: %ld traps, cause %ld, tval 0x%lx\n", reserved32[i], mtrap.count,
                    mtrap.cause, mtrap.tval);
        CHECK_EQ2(mtrap.cause, EXC_ILLEGAL, mtrap.tval, reserved32[i]);
    }
    for (unsigned i = 0; i < sizeof(reserved16) / sizeof(reserved16[0]); i++) {
        ((volatile uint16_t *)codebuf)[0] = reserved16[i];
        ((volatile uint16_t *)codebuf)[1] = 0x8082;              /* c.jr ra */
        asm volatile("fence.i" ::: "memory");
        trap_reset(&mtrap);
        ((void (*)(void))codebuf)();
        if (mtrap.count != 1 || mtrap.tval != reserved16[i])
            printf_("   0x%04x: %ld traps, cause %ld, tval 0x%lx\n", reserved16[i], mtrap.count,
                    mtrap.cause, mtrap.tval);
        CHECK_EQ2(mtrap.cause, EXC_ILLEGAL, mtrap.tval, reserved16[i]);
    }

    section("ebreak: cause 3, mepc = the ebreak");
    {
        uint64_t at;
        trap_reset(&mtrap);
        asm volatile(NORVC("la %0, 1f\n 1: ebreak") : "=&r"(at));
        CHECK_EQ(mtrap.count, 1);
        CHECK_EQ(mtrap.cause, EXC_BREAKPOINT);
        CHECK_EQ(mtrap.epc, at);
        CHECK(mtrap.tval == 0 || mtrap.tval == at);
    }

    section("misaligned loads/stores: correct result, or cause 4/6 with mtval = address");
    {
        for (int i = 0; i < 64; i++)
            buf[i] = (uint8_t)(i + 1);
        uint64_t v = 0, a = (uint64_t)&buf[1];
        trap_reset(&mtrap);
        asm volatile(NORVC("lw %0, 0(%1)") : "+r"(v) : "r"(a));
        if (mtrap.count) {
            printf_("   misaligned lw trapped (cause %ld)\n", mtrap.cause);
            CHECK_EQ(mtrap.cause, EXC_LOAD_MISALIGNED);
            CHECK_EQ(mtrap.tval, a);
        } else {
            printf_("   misaligned lw handled\n");
            CHECK_EQ(v, 0x05040302);
        }
        v = 0;
        a = (uint64_t)&buf[13];
        trap_reset(&mtrap);
        asm volatile(NORVC("ld %0, 0(%1)") : "+r"(v) : "r"(a));
        if (mtrap.count) {
            CHECK_EQ(mtrap.cause, EXC_LOAD_MISALIGNED);
            CHECK_EQ(mtrap.tval, a);
        } else {
            CHECK_EQ(v, 0x1514131211100f0eul);
        }
        a = (uint64_t)&buf[35];
        trap_reset(&mtrap);
        asm volatile(NORVC("sd %1, 0(%0)") :: "r"(a), "r"(0xa1a2a3a4a5a6a7a8ul) : "memory");
        if (mtrap.count) {
            CHECK_EQ(mtrap.cause, EXC_STORE_MISALIGNED);
            CHECK_EQ(mtrap.tval, a);
            CHECK_EQ(buf[35], 36);
        } else {
            CHECK_EQ(buf[34], 35);
            CHECK_EQ(buf[35], 0xa8);
            CHECK_EQ(buf[42], 0xa1);
            CHECK_EQ(buf[43], 44);
        }
        /* across a page boundary */
        for (int i = 4090; i < 4102; i++)
            pagebuf[i] = (uint8_t)i;
        v = 0;
        a = (uint64_t)&pagebuf[4093];
        trap_reset(&mtrap);
        asm volatile(NORVC("ld %0, 0(%1)") : "+r"(v) : "r"(a));
        if (mtrap.count) {
            CHECK_EQ(mtrap.cause, EXC_LOAD_MISALIGNED);
            CHECK_EQ(mtrap.tval, a);
        } else {
            CHECK_EQ(v, 0x0403020100fffefdul);
        }
    }

    section("access faults: load 5, store 7, fetch 1 with mtval = address");
    {
        uint64_t hole = 0x90000000ul, v = 0;           /* beyond 64 MiB of RAM: nothing there */
        trap_reset(&mtrap);
        asm volatile(NORVC("ld %0, 0(%1)") : "+r"(v) : "r"(hole));
        CHECK_EQ(mtrap.count, 1);
        CHECK_EQ(mtrap.cause, EXC_LOAD_ACCESS);
        CHECK_EQ(mtrap.tval, hole);
        trap_reset(&mtrap);
        asm volatile(NORVC("sd %1, 8(%0)") :: "r"(hole), "r"(v) : "memory");
        CHECK_EQ(mtrap.count, 1);
        CHECK_EQ(mtrap.cause, EXC_STORE_ACCESS);
        CHECK_EQ(mtrap.tval, hole + 8);
        trap_reset(&mtrap);
        ((void (*)(void))hole)();
        CHECK_EQ(mtrap.count, 1);
        CHECK_EQ(mtrap.cause, EXC_INST_ACCESS);
        CHECK_EQ(mtrap.tval, hole);
        CHECK_EQ(mtrap.epc, hole);
    }

    section("mret: MIE = MPIE, MPIE = 1, MPP = U");
    {
        uint64_t st = mret_to_self(MSTATUS_MPP | MSTATUS_MPIE, MSTATUS_MIE);
        CHECK(st & MSTATUS_MIE);
        CHECK(st & MSTATUS_MPIE);
        CHECK_EQ(st & MSTATUS_MPP, 0);
        st = mret_to_self(MSTATUS_MPP | MSTATUS_MIE, MSTATUS_MPIE);
        CHECK_EQ(st & MSTATUS_MIE, 0);
        CHECK(st & MSTATUS_MPIE);
    }

    section("sret to U: SIE = SPIE, SPIE = 1, SPP = U; sret to S stays in S");
    m_trap_hook = catch_and_leave;
    seen_cause = ~0ul;
    run_in_mode(PRV_S, s_sret_to_u, 0, 0);
    m_trap_hook = m_record_skip;
    CHECK_EQ(seen_cause, EXC_ECALL_U);
    CHECK(seen_status & MSTATUS_SIE);
    CHECK(seen_status & MSTATUS_SPIE);
    CHECK_EQ(seen_status & MSTATUS_SPP, 0);
    r = run_in_mode(PRV_S, s_sret_to_s, 0, 0);
    CHECK_EQ(r >> 32, PRV_S);
    CHECK_EQ(r & MSTATUS_SPP, 0);
    CHECK(r & MSTATUS_SPIE);
    CHECK(r & MSTATUS_SIE);

    section("mstatus.TSR traps sret in S; TVM traps satp and sfence.vma in S; TW traps wfi");
    csr_set(mstatus, MSTATUS_TSR);
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_sret, 0, 0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    csr_clear(mstatus, MSTATUS_TSR);
    csr_set(mstatus, MSTATUS_TVM);
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_satp, 0, 0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_sfence, 0, 0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    csr_clear(mstatus, MSTATUS_TVM);
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_satp, 0, 0);
    run_in_mode(PRV_S, do_sfence, 0, 0);
    CHECK_EQ(mtrap.count, 0);
    csr_set(mstatus, MSTATUS_TW);
    trap_reset(&mtrap);
    run_in_mode(PRV_S, do_wfi_s, 0, 0);
    CHECK_EQ(mtrap.count, 1);
    CHECK_EQ(mtrap.cause, EXC_ILLEGAL);
    csr_clear(mstatus, MSTATUS_TW);

    m_trap_hook = 0;
    return 0;
}
