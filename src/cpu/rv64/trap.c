/* trap.c — exceptions, interrupts, delegation and the xRET instructions (privileged spec ch. 3-4). */
#include <inttypes.h>
#include <stdio.h>
#include "cpu/rv64/hart.h"

/* A guest that faults again and again without retiring an instruction (e.g. its trap vector is
 * itself unmapped) can never make progress: report it instead of spinning forever. */
#define TRAP_STREAK_LIMIT 64

void rv64_set_priv(struct rv64_hart *h, int priv)
{
    h->priv = priv;
    rv64_update_views(h);
}

static const char *priv_name(int priv)
{
    return priv == PRIV_M ? "M" : priv == PRIV_S ? "S" : "U";
}

void rv64_crash(struct rv64_hart *h, const char *why)
{
    struct rv64_machine *m = h->m;
    char msg[sizeof(m->crash_msg)];
    snprintf(msg, sizeof(msg),
             "guest crashed on hart %u: %s (pc=0x%016" PRIx64 " priv=%s mcause=0x%" PRIx64
             " mtval=0x%" PRIx64 " mepc=0x%" PRIx64 " scause=0x%" PRIx64 " stval=0x%" PRIx64
             " sepc=0x%" PRIx64 " ra=0x%" PRIx64 " sp=0x%" PRIx64 ")",
             h->hartid, why, h->pc, priv_name(h->priv), h->mcause, h->mtval, h->mepc, h->scause,
             h->stval, h->sepc, h->x[1], h->x[2]);
    pthread_mutex_lock(&m->exit_lock);
    if (!atomic_load(&m->exit_reason))
        snprintf(m->crash_msg, sizeof(m->crash_msg), "%s", msg);
    pthread_mutex_unlock(&m->exit_lock);
    rv64_machine_exit(m, RV64_EXIT_GUEST_CRASH, 0);
}

static uint64_t vector_target(uint64_t tvec, uint64_t cause)
{
    uint64_t base = tvec & ~3ull;
    if ((tvec & 3) == 1 && (cause & CAUSE_INTERRUPT))
        return base + 4 * (cause & 63);
    return base;
}

void rv64_raise(struct rv64_hart *h, uint64_t cause, uint64_t tval)
{
    bool irq = cause & CAUSE_INTERRUPT;
    unsigned code = (unsigned)(cause & 63);
    if (!irq && ++h->trap_streak > TRAP_STREAK_LIMIT) {
        char why[96];
        snprintf(why, sizeof(why), "endless trap loop (cause %u at 0x%" PRIx64 ")", code, h->pc);
        rv64_crash(h, why);
        return;
    }
    bool deleg = h->priv <= PRIV_S && (((irq ? h->mideleg : h->medeleg) >> code) & 1);
    if (deleg) {
        h->scause = cause;
        h->sepc = h->pc;
        h->stval = tval;
        uint64_t s = h->mstatus & ~(MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SIE);
        if (h->mstatus & MSTATUS_SIE)
            s |= MSTATUS_SPIE;
        if (h->priv == PRIV_S)
            s |= MSTATUS_SPP;
        h->mstatus = s;
        h->pc = vector_target(h->stvec, cause);
        rv64_set_priv(h, PRIV_S);
        return;
    }
    if (h->m->sbi_mode) {
        /* kiln is the firmware: there is no M-mode handler to run */
        char why[96];
        snprintf(why, sizeof(why), "unhandled %s %u in %s-mode with no M-mode firmware",
                 irq ? "interrupt" : "exception", code, priv_name(h->priv));
        h->mcause = cause;
        h->mtval = tval;
        h->mepc = h->pc;
        rv64_crash(h, why);
        return;
    }
    h->mcause = cause;
    h->mepc = h->pc;
    h->mtval = tval;
    uint64_t s = h->mstatus & ~(MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE);
    if (h->mstatus & MSTATUS_MIE)
        s |= MSTATUS_MPIE;
    s |= (uint64_t)h->priv << MSTATUS_MPP_SHIFT;
    h->mstatus = s;
    h->pc = vector_target(h->mtvec, cause);
    rv64_set_priv(h, PRIV_M);
}

/* Interrupt priority order from the privileged spec. */
static const unsigned irq_order[] = { IRQ_M_EXT, IRQ_M_SOFT, IRQ_M_TIMER,
                                      IRQ_S_EXT, IRQ_S_SOFT, IRQ_S_TIMER };

bool rv64_check_interrupts(struct rv64_hart *h)
{
    uint64_t pending = atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie;
    if (!pending)
        return false;
    uint64_t m_en = 0, s_en = 0;
    if (h->priv < PRIV_M || (h->mstatus & MSTATUS_MIE))
        m_en = pending & ~h->mideleg;
    if (h->priv < PRIV_S || (h->priv == PRIV_S && (h->mstatus & MSTATUS_SIE)))
        s_en = pending & h->mideleg;
    uint64_t enabled = m_en ? m_en : s_en;
    if (!enabled)
        return false;
    for (unsigned i = 0; i < sizeof(irq_order) / sizeof(irq_order[0]); i++) {
        if (enabled & (1ull << irq_order[i])) {
            rv64_raise(h, CAUSE_INTERRUPT | irq_order[i], 0);
            return true;
        }
    }
    return false;
}

void rv64_mret(struct rv64_hart *h)
{
    int pp = (int)((h->mstatus & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT);
    uint64_t s = h->mstatus & ~(MSTATUS_MIE | MSTATUS_MPP);
    if (h->mstatus & MSTATUS_MPIE)
        s |= MSTATUS_MIE;
    s |= MSTATUS_MPIE;
    if (pp != PRIV_M)
        s &= ~MSTATUS_MPRV;
    h->mstatus = s;
    h->pc = h->mepc;
    rv64_set_priv(h, pp);
}

void rv64_sret(struct rv64_hart *h)
{
    int pp = (h->mstatus & MSTATUS_SPP) ? PRIV_S : PRIV_U;
    uint64_t s = h->mstatus & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV);
    if (h->mstatus & MSTATUS_SPIE)
        s |= MSTATUS_SIE;
    s |= MSTATUS_SPIE;
    h->mstatus = s;
    h->pc = h->sepc;
    rv64_set_priv(h, pp);
}
