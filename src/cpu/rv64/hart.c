/* hart.c — vCPU life cycle: reset, the run loop, WFI sleep, timers and cross-thread requests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include "common/cpu_priority.h"
#include "common/poll_window.h"
#include "cpu/rv64/hart.h"
#include "sandbox/seccomp_policy.h"
#include "cpu/rv64/jit.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ARENA_SIZE (16u << 20)
/* Blocks between timer comparisons: frequent enough for ~10 µs timer latency, rare enough
 * that reading the clock costs nothing measurable. Translated blocks run about four times
 * faster than interpreted ones (and chain to each other without returning here), so the JIT
 * counts four times as many for the same latency. */
#define TIMER_CHECK_BLOCKS 256
#define TIMER_CHECK_BLOCKS_JIT 1024
/* the CPU limit is charged every 16 timer checks: every few hundred microseconds of guest code,
 * so reading the thread's CPU clock (a syscall) costs well under 1 % */
#define QUOTA_CHECK_TIMER_CHECKS 16
#define QUOTA_SLEEP_SLICE_NS 2000000ull

int rv64_hart_init(struct rv64_hart *h, struct rv64_machine *m, unsigned hartid)
{
    memset(h, 0, sizeof(*h));
    h->m = m;
    h->hartid = hartid;
    h->page_gen = m->page_gen;
    h->code_epoch = &m->code_epoch;
    h->code_page_bias = (uintptr_t)m->code_page - ((uintptr_t)m->ram >> 12);
    h->arena_size = ARENA_SIZE;
    /* reserved lazily: untouched arena pages cost no host memory */
    h->arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h->arena == MAP_FAILED) {
        h->arena = NULL;
        return -1;
    }
    /* small pages only: a huge page would make a few decoded blocks cost 2 MiB. It also keeps
     * the kernel from merging the arena with the guest RAM mapping next to it, so the VMM's own
     * memory stays tellable apart from the guest's in /proc/PID/smaps. */
    madvise(h->arena, ARENA_SIZE, MADV_NOHUGEPAGE);
    h->scratch = malloc(sizeof(struct rv64_block) + 2 * sizeof(struct rv64_insn));
    h->block_hash = calloc(1u << BLOCK_HASH_BITS, sizeof(*h->block_hash));
    h->jc = calloc(JC_SIZE, sizeof(*h->jc));
    h->tlbs = calloc(TLB_CONTEXTS, sizeof(*h->tlbs));
    if (!h->scratch || !h->block_hash || !h->jc || !h->tlbs)
        return -1;
    for (unsigned i = 0; i < TLB_CONTEXTS; i++) {
        h->tlbs[i].filled = true; /* so that the reset's flush empties it */
        h->tlbs[i].satp = ~0ull;  /* no address space yet */
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wait_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&h->wait_lock, NULL);
    rv64_hart_reset(h, RV64_RAM_BASE, PRIV_M);
    return 0;
}

void rv64_hart_destroy(struct rv64_hart *h)
{
    if (h->arena)
        munmap(h->arena, h->arena_size);
    free(h->scratch);
    free(h->block_hash);
    free(h->jc);
    free(h->tlbs);
    h->tlbs = NULL;
    rv64_jit_destroy(h->jit);
    h->jit = NULL;
    h->block_hash = NULL;
    h->jc = NULL;
    pthread_mutex_destroy(&h->wait_lock);
    pthread_cond_destroy(&h->wait_cond);
}

void rv64_hart_reset(struct rv64_hart *h, uint64_t pc, int priv)
{
    memset(h->x, 0, sizeof(h->x));
    memset(h->f, 0, sizeof(h->f));
    h->fflags = h->frm = 0;
    h->pc = pc;
    h->mstatus = MSTATUS_UXL & (2ull << 32);
    h->mstatus |= MSTATUS_SXL & (2ull << 34);
    h->medeleg = h->mideleg = h->mie = 0;
    atomic_store(&h->mip, 0);
    h->mtvec = h->mscratch = h->mepc = h->mcause = h->mtval = 0;
    h->stvec = h->sscratch = h->sepc = h->scause = h->stval = h->satp = 0;
    h->mcounteren = h->scounteren = h->mcountinhibit = 0;
    h->menvcfg = h->senvcfg = 0;
    h->stimecmp = ~0ull;
    atomic_store(&h->mtimecmp, ~0ull);
    h->lr_valid = false;
    h->trap_streak = 0;
    h->timer_countdown = 0;
    rv64_tlb_flush(h);
    rv64_flush_blocks(h);
    rv64_set_priv(h, priv);
}

void rv64_hart_kick(struct rv64_hart *h, uint32_t request)
{
    atomic_fetch_or(&h->requests, request);
    pthread_mutex_lock(&h->wait_lock);
    pthread_cond_broadcast(&h->wait_cond);
    pthread_mutex_unlock(&h->wait_lock);
}

void rv64_hart_set_mip(struct rv64_hart *h, uint64_t bits, bool level)
{
    uint64_t old = level ? atomic_fetch_or(&h->mip, bits) : atomic_fetch_and(&h->mip, ~bits);
    if (level && (old & bits) != bits) {
        /* translated code checks only requests between blocks (jit.h): make it look at mip */
        atomic_fetch_or(&h->requests, REQ_RECHECK);
        /* wake a sleeping WFI; the lock orders this after the sleeper's last check */
        pthread_mutex_lock(&h->wait_lock);
        pthread_cond_broadcast(&h->wait_cond);
        pthread_mutex_unlock(&h->wait_lock);
    }
}

void rv64_hart_update_timers(struct rv64_hart *h, uint64_t now)
{
    uint64_t mip = atomic_load_explicit(&h->mip, memory_order_relaxed);
    bool mtip = now >= atomic_load_explicit(&h->mtimecmp, memory_order_relaxed);
    if (mtip != !!(mip & MIP_MTIP))
        rv64_hart_set_mip(h, MIP_MTIP, mtip);
    if (h->menvcfg & MENVCFG_STCE) {
        bool stip = now >= h->stimecmp;
        if (stip != !!(mip & MIP_STIP))
            rv64_hart_set_mip(h, MIP_STIP, stip);
    }
}

/* The next mtime at which one of this hart's enabled timers fires, or ~0. */
static uint64_t next_deadline(const struct rv64_hart *h)
{
    uint64_t d = ~0ull;
    if (h->mie & MIP_MTIP)
        d = atomic_load(&h->mtimecmp);
    if ((h->mie & MIP_STIP) && (h->menvcfg & MENVCFG_STCE) && h->stimecmp < d)
        d = h->stimecmp;
    return d;
}

static uint64_t deadline_ns(const struct rv64_machine *m, uint64_t mtime)
{
    return m->time_base_ns + mtime * (1000000000ull / RV64_TIMEBASE_HZ);
}

/* Timer advance, as KVM's adaptive lapic_timer_advance_ns: a thread sleeping until a deadline
 * wakes tens of microseconds after it on a busy host, and the guest would see every timer that
 * late. So a hart waiting for its timer sleeps until timer_advance_ns before the deadline and
 * spins the rest; the advance follows how late this host actually wakes the thread (a moving
 * average of 1/8 per wake-up, at most RV64_TIMER_ADVANCE_MAX_NS), so the spin stays short.
 * With kiln's threads at SCHED_FIFO (so only the wake-up path is measured) on a loaded 2-core
 * machine it took the guest's median timer lateness from 80-140 us to 45-90 us; a 100 us cap
 * gained nothing more. */
uint64_t rv64_timer_advance_learn(uint64_t advance_ns, uint64_t target_ns, uint64_t woke_ns)
{
    int64_t late = woke_ns > target_ns ? (int64_t)(woke_ns - target_ns) : 0;
    int64_t adv = (int64_t)advance_ns;
    adv += (late - adv) / 8;
    return adv < 0 ? 0 : (uint64_t)adv > RV64_TIMER_ADVANCE_MAX_NS ? RV64_TIMER_ADVANCE_MAX_NS : (uint64_t)adv;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Sleeps until an enabled interrupt is pending or a request comes. */
static void wfi_sleep(struct rv64_hart *h)
{
    struct rv64_machine *m = h->m;
    for (;;) {
        uint64_t now = rv64_time(m);
        rv64_hart_update_timers(h, now);
        if (atomic_load(&h->mip) & h->mie)
            return;
        if (atomic_load(&h->requests))
            return;
        uint64_t deadline = next_deadline(h);
        /* cap the sleep so a missed wakeup can never hang a hart for long */
        uint64_t cap = now + RV64_TIMEBASE_HZ / 10;
        bool timer = deadline <= cap;
        if (!timer)
            deadline = cap;
        uint64_t due_ns = deadline_ns(m, deadline), host_now = rv64_host_ns();
        uint64_t sleep_until = due_ns;
        if (timer)
            sleep_until = due_ns - h->timer_advance_ns > host_now ? due_ns - h->timer_advance_ns : host_now;
        struct timespec ts = { .tv_sec = (time_t)(sleep_until / 1000000000ull),
                               .tv_nsec = (long)(sleep_until % 1000000000ull) };
        int rc = 0;
        pthread_mutex_lock(&h->wait_lock);
        if (!(atomic_load(&h->mip) & h->mie) && !atomic_load(&h->requests))
            rc = pthread_cond_timedwait(&h->wait_cond, &h->wait_lock, &ts);
        pthread_mutex_unlock(&h->wait_lock);
        if (rc != ETIMEDOUT || !timer)
            continue;
        h->timer_advance_ns = rv64_timer_advance_learn(h->timer_advance_ns, sleep_until, rv64_host_ns());
        while (rv64_host_ns() < due_ns && !(atomic_load(&h->mip) & h->mie) && !atomic_load(&h->requests))
            cpu_relax();
    }
}

static bool wfi_wake_pending(struct rv64_hart *h)
{
    return (atomic_load(&h->mip) & h->mie) || atomic_load(&h->requests);
}

/* Halt polling (poll_window.h): spins for the hart's learned window, watching what wfi_sleep
 * watches, before sleeping. An interrupt from a device thread or another hart then needs no
 * host wake-up: at queue depth 1 the disk's completion arrives ~150 us after the vCPU halts,
 * and a sleeping vCPU thread is woken ~20 us late (plus a cold CPU) when its core went idle.
 * Not under a CPU limit: the spin would be charged to the guest's quota. Returns true if the
 * wake-up came while polling. */
static bool wfi_poll(struct rv64_hart *h, uint64_t start_ns)
{
    struct rv64_machine *m = h->m;
    if (!h->halt_poll_ns || cpu_quota_limited(m->cpu_quota))
        return false;
    uint64_t end = start_ns + h->halt_poll_ns;
    for (;;) {
        rv64_hart_update_timers(h, rv64_time(m));
        if (wfi_wake_pending(h))
            return true;
        if (rv64_host_ns() >= end)
            return false;
        poll_window_relax();
    }
}

void rv64_hart_wfi(struct rv64_hart *h)
{
    uint64_t max = h->m->halt_poll_max_ns;
    if (!max) {
        wfi_sleep(h);
        return;
    }
    uint64_t start = rv64_host_ns();
    if (!wfi_poll(h, start))
        wfi_sleep(h);
    h->halt_poll_ns = poll_window_next(h->halt_poll_ns, rv64_host_ns() - start, max);
}

/* Returns true if the run loop must return. */
static bool handle_requests(struct rv64_hart *h)
{
    uint32_t req = atomic_exchange(&h->requests, 0);
    if (req & REQ_TLB_FLUSH)
        rv64_tlb_flush(h);
    if (req & REQ_STOP) {
        atomic_fetch_or(&h->requests, REQ_STOP); /* sticky until the owner clears it */
        return true;
    }
    return false;
}

/* The VM has used its CPU quota for this period: wait for the next one, in slices so that a
 * pause, stop or remote fence is not held up. */
static void charge_cpu_quota(struct rv64_hart *h)
{
    uint64_t sleep = cpu_quota_charge(h->m->cpu_quota, &h->quota, cpu_quota_thread_ns(),
                                      cpu_quota_now_ns());
    while (sleep && !atomic_load_explicit(&h->requests, memory_order_relaxed)) {
        uint64_t slice = sleep < QUOTA_SLEEP_SLICE_NS ? sleep : QUOTA_SLEEP_SLICE_NS;
        struct timespec ts = {0, (long)slice};
        nanosleep(&ts, NULL);
        sleep -= slice;
    }
}

/* The block to run after prev, which ended at h->pc through link slot `link`: its linked
 * successor, or the lookup's answer (which then becomes the link). */
static struct rv64_block *next_block(struct rv64_hart *h, struct rv64_block *prev, uint64_t prev_pc,
                                     int link)
{
    if (link == RV64_LINK_NONE || !prev)
        return rv64_lookup_block(h);
    struct rv64_block *b = rv64_linked_block(h, prev, prev_pc, link);
    if (likely(b))
        return b;
    uint64_t epoch = h->block_epoch;
    b = rv64_lookup_block(h);
    if (b && b != h->scratch && prev != h->scratch && !((h->pc ^ prev_pc) & ~0xfffull) &&
        h->block_epoch == epoch)
        prev->link[link] = b;
    return b;
}

void rv64_hart_run(struct rv64_hart *h, uint64_t budget)
{
    struct rv64_block *prev = NULL;
    uint64_t prev_pc = 0, epoch = h->block_epoch;
    int link = RV64_LINK_NONE;
    while (budget--) {
        if (unlikely(atomic_load_explicit(&h->requests, memory_order_relaxed))) {
            link = RV64_LINK_NONE;
            if (handle_requests(h))
                return;
        }
        if (unlikely(--h->timer_countdown <= 0)) {
            h->timer_countdown = h->jit ? TIMER_CHECK_BLOCKS_JIT : TIMER_CHECK_BLOCKS;
            rv64_hart_update_timers(h, rv64_time(h->m));
            if (cpu_quota_limited(h->m->cpu_quota) && --h->quota_countdown <= 0) {
                h->quota_countdown = QUOTA_CHECK_TIMER_CHECKS;
                charge_cpu_quota(h);
            }
        }
        if (unlikely(atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie)) {
            link = RV64_LINK_NONE; /* an interrupt may be taken: pc and privilege change */
            rv64_check_interrupts(h);
        }
        struct rv64_block *b = next_block(h, prev, prev_pc, link);
        if (unlikely(b == NULL)) { /* fetch fault: a trap was raised */
            prev = NULL;
            link = RV64_LINK_NONE;
            continue;
        }
        link = h->jit ? rv64_jit_exec_block(h, b) : rv64_exec_block(h, b);
        prev = h->last_block;
        prev_pc = h->last_pc;
        if (unlikely(epoch != h->block_epoch)) { /* the cache was flushed: don't trust prev */
            epoch = h->block_epoch;
            prev = NULL;
        }
    }
}

/* SBI HSM: a stopped hart parks here until another hart starts it. Returns false on VM exit. */
static bool wait_until_started(struct rv64_hart *h)
{
    pthread_mutex_lock(&h->wait_lock);
    while (atomic_load(&h->state) == HART_STOPPED && !atomic_load(&h->m->exit_reason))
        pthread_cond_wait(&h->wait_cond, &h->wait_lock);
    pthread_mutex_unlock(&h->wait_lock);
    if (atomic_load(&h->m->exit_reason))
        return false;
    if (atomic_load(&h->state) == HART_START_PENDING) {
        rv64_hart_reset(h, h->start_addr, PRIV_S);
        h->x[10] = h->hartid;
        h->x[11] = h->start_opaque;
        h->menvcfg = MENVCFG_STCE;
        h->medeleg = h->m->harts[0]->medeleg;
        h->mideleg = h->m->harts[0]->mideleg;
        h->mcounteren = 0xffffffff;
        h->scounteren = 0x7;
        h->mstatus |= MSTATUS_FS & (1ull << 13);
        atomic_store(&h->state, HART_STARTED);
    }
    return true;
}

/* Waits while the machine is paused. parked stays set until the hart leaves the loop, so a
 * pause right after a resume that this hart has not woken up for yet still finds it parked.
 * A remote fence aimed at a parked hart does not wait for it (sbi.c): its REQ_TLB_FLUSH is
 * served by rv64_hart_run before any instruction runs. */
static void park(struct rv64_hart *h)
{
    struct rv64_machine *m = h->m;
    pthread_mutex_lock(&m->pause_lock);
    atomic_store(&h->parked, true);
    pthread_cond_broadcast(&m->pause_cond);
    while (atomic_load(&m->pause_requested) && !atomic_load(&m->exit_reason))
        pthread_cond_wait(&m->pause_cond, &m->pause_lock);
    atomic_store(&h->parked, false);
    pthread_mutex_unlock(&m->pause_lock);
}

void *rv64_hart_thread(void *arg)
{
    struct rv64_hart *h = arg;
    char name[16];
    snprintf(name, sizeof(name), "kiln-vcpu%u", h->hartid);
    pthread_setname_np(pthread_self(), name); /* for ps, top and the seccomp message */
    /* the host's default 50 us timer slack would make every guest timer that late (WFI sleeps
     * until the guest's next deadline) */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    /* before the vCPU's own filter: its list has neither setpriority nor sched_setscheduler */
    char why[160];
    if (cpu_priority_apply_self((enum cpu_priority)h->m->vcpu_priority, why, sizeof(why)))
        fprintf(stderr, "kiln: %s: %s\n", name, why);
    seccomp_policy_enter(KILN_THREAD_VCPU);
    while (!atomic_load(&h->m->exit_reason)) {
        if (atomic_load(&h->m->pause_requested)) {
            park(h);
            continue;
        }
        if (atomic_load(&h->state) != HART_STARTED && !wait_until_started(h))
            break;
        rv64_hart_run(h, UINT64_MAX);
        /* REQ_STOP: the VM is exiting or pausing, or this hart stopped itself (SBI HSM) */
        atomic_fetch_and(&h->requests, ~REQ_STOP);
    }
    return NULL;
}
