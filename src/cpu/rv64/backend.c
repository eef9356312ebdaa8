/* backend.c — the rv64 machine behind the vCPU backend interface (cpu/backend.h): the boot state
 * (what kiln sets up when it plays the firmware), one thread per hart, exits, pause, state and
 * dirty pages. The machine itself (machine.c, hart.c) knows nothing of the interface. */
#include <pthread.h>
#include <stdlib.h>
#include "common/poll_window.h"
#include "cpu/rv64/backend.h"
#include "cpu/rv64/clint.h"
#include "cpu/rv64/jit.h"

struct rv64_vcpus {
    struct vcpus base;          /* first: a struct vcpus * is a struct rv64_vcpus * */
    struct rv64_machine m;
    struct clint clint;
    unsigned threads;           /* hart threads running (started, not joined yet) */
};

static struct rv64_vcpus *of(struct vcpus *v)
{
    return (struct rv64_vcpus *)v;
}

struct rv64_machine *rv64_machine_of(struct vcpus *v)
{
    return &of(v)->m;
}

static struct vcpus *create(const struct vcpu_params *p)
{
    /* the core's address checks use the virt board's RAM base as a constant (speed) */
    if (p->ram_base != RV64_RAM_BASE)
        return NULL;
    struct rv64_vcpus *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->base.be = &rv64_backend;
    if (rv64_machine_init(&r->m, p->ram, p->ram_size, p->cpus, p->bus) != 0) {
        free(r);
        return NULL;
    }
    r->m.console_out = p->console_out;
    r->m.console_opaque = p->console_opaque;
    r->m.cpu_quota = p->cpu_quota;
    r->m.vcpu_priority = p->vcpu_priority;
    r->m.halt_poll_max_ns = poll_window_max_from_env("KILN_HALT_POLL_NS", RV64_HALT_POLL_MAX_NS);
    size_t cache = p->jit_cache_bytes ? p->jit_cache_bytes : (size_t)RV64_JIT_DEFAULT_CACHE_MB << 20;
    if (p->jit && rv64_jit_enable(&r->m, cache) != 0) {
        rv64_machine_destroy(&r->m);
        free(r);
        return NULL;
    }
    clint_init(&r->clint, &r->m);
    return &r->base;
}

static void destroy(struct vcpus *v)
{
    if (getenv("KILN_JIT_STATS")) /* translation cost, per vCPU (jit.h) */
        rv64_jit_report(&of(v)->m, stderr);
    rv64_machine_destroy(&of(v)->m);
    free(of(v));
}

static void reset(struct vcpus *v, const struct vcpu_boot *b)
{
    struct rv64_machine *m = &of(v)->m;
    m->sbi_mode = !b->firmware;
    for (unsigned i = 0; i < m->nharts; i++) {
        struct rv64_hart *h = m->harts[i];
        if (m->sbi_mode) {
            /* kiln plays the firmware: S-mode gets every trap and interrupt it can take, and
             * only the boot hart runs until the kernel starts the others (SBI HSM) */
            rv64_hart_reset(h, b->entry, PRIV_S);
            h->medeleg = 0xb1ff;
            h->mideleg = MIP_S_MASK;
            h->mcounteren = 0xffffffff;
            h->scounteren = 0x7; /* as OpenSBI leaves it: U-mode rdtime (the vDSO) works */
            h->menvcfg = MENVCFG_STCE;
            atomic_store(&h->state, i == 0 ? HART_STARTED : HART_STOPPED);
        } else {
            /* OpenSBI's fw_dynamic convention: every hart enters the firmware */
            rv64_hart_reset(h, b->entry, PRIV_M);
            h->x[12] = b->firmware_info;
            atomic_store(&h->state, HART_STARTED);
        }
        h->x[10] = i;
        h->x[11] = b->table;
    }
}

static enum rv64_exit to_rv64(enum vcpu_exit_reason reason)
{
    switch (reason) {
    case VCPU_EXIT_NONE: return RV64_EXIT_NONE;
    case VCPU_EXIT_POWEROFF: return RV64_EXIT_POWEROFF;
    case VCPU_EXIT_RESET: return RV64_EXIT_RESET;
    case VCPU_EXIT_FAIL: return RV64_EXIT_FAIL;
    case VCPU_EXIT_GUEST_CRASH: return RV64_EXIT_GUEST_CRASH;
    case VCPU_EXIT_HOST: break;
    }
    return RV64_EXIT_HOST;
}

static enum vcpu_exit_reason from_rv64(int reason)
{
    switch (reason) {
    case RV64_EXIT_NONE: return VCPU_EXIT_NONE;
    case RV64_EXIT_POWEROFF: return VCPU_EXIT_POWEROFF;
    case RV64_EXIT_RESET: return VCPU_EXIT_RESET;
    case RV64_EXIT_FAIL: return VCPU_EXIT_FAIL;
    case RV64_EXIT_GUEST_CRASH: return VCPU_EXIT_GUEST_CRASH;
    }
    return VCPU_EXIT_HOST;
}

static void stop(struct vcpus *v, enum vcpu_exit_reason reason, int code)
{
    rv64_machine_exit(&of(v)->m, to_rv64(reason), code);
}

static void get_exit(struct vcpus *v, struct vcpu_exit *out)
{
    struct rv64_machine *m = &of(v)->m;
    out->reason = from_rv64(atomic_load(&m->exit_reason));
    out->code = m->exit_code;
    out->msg = out->reason == VCPU_EXIT_GUEST_CRASH ? m->crash_msg : "";
}

static int start(struct vcpus *v, bool paused)
{
    struct rv64_vcpus *r = of(v);
    struct rv64_machine *m = &r->m;
    if (paused)
        atomic_store(&m->pause_requested, true);   /* parked before the first instruction */
    for (unsigned i = 0; i < m->nharts; i++) {
        if (pthread_create(&m->harts[i]->thread, NULL, rv64_hart_thread, m->harts[i]) != 0) {
            rv64_machine_exit(m, RV64_EXIT_HOST, 0);
            for (unsigned j = 0; j < i; j++)
                pthread_join(m->harts[j]->thread, NULL);
            return -1;
        }
        r->threads++;
    }
    if (paused)
        rv64_machine_pause(m);
    return 0;
}

static void wait_stopped(struct vcpus *v)
{
    struct rv64_vcpus *r = of(v);
    struct rv64_machine *m = &r->m;
    pthread_mutex_lock(&m->exit_lock);
    while (!atomic_load(&m->exit_reason))
        pthread_cond_wait(&m->exit_cond, &m->exit_lock);
    pthread_mutex_unlock(&m->exit_lock);
    for (unsigned i = 0; i < r->threads; i++)
        pthread_join(m->harts[i]->thread, NULL);
    r->threads = 0;
}

static void kick(struct vcpus *v, unsigned cpu)
{
    struct rv64_machine *m = &of(v)->m;
    if (cpu < m->nharts)
        rv64_hart_kick(m->harts[cpu], REQ_RECHECK);
}

static void pause_all(struct vcpus *v)
{
    rv64_machine_pause(&of(v)->m);
}

static void resume_all(struct vcpus *v)
{
    rv64_machine_resume(&of(v)->m);
}

static bool paused(struct vcpus *v)
{
    return atomic_load(&of(v)->m.pause_requested);
}

static void save(struct vcpus *v, struct persist_writer *w)
{
    rv64_machine_save(&of(v)->m, w);
}

static int restore(struct vcpus *v, struct persist_reader *r, uint64_t advance_ns)
{
    return rv64_machine_restore(&of(v)->m, r, advance_ns);
}

static int dirty_enable(struct vcpus *v, bool on)
{
    return rv64_machine_dirty_enable(&of(v)->m, on);
}

static void dirty_harvest(struct vcpus *v, uint64_t *out)
{
    rv64_machine_dirty_harvest(&of(v)->m, out);
}

static void dirty_mark(struct vcpus *v, uint64_t gpa, uint64_t len)
{
    rv64_mark_dirty_range(&of(v)->m, gpa, len);
}

/* decoded code there is stale, and the pages are dirty */
static void ram_written(struct vcpus *v, uint64_t gpa, uint64_t len)
{
    rv64_invalidate_code(&of(v)->m, gpa, len);
    rv64_mark_dirty(&of(v)->m, gpa, len);
}

static void set_irq(struct vcpus *v, unsigned cpu, unsigned line, bool level)
{
    struct rv64_machine *m = &of(v)->m;
    if (cpu < m->nharts && line < 64)
        rv64_hart_set_mip(m->harts[cpu], 1ull << line, level);
}

static bool local_region(struct vcpus *v, uint64_t base, struct mmio_region *out)
{
    *out = clint_region(&of(v)->clint, base);
    return true;
}

const struct vcpu_backend rv64_backend = {
    .name = "rv64",
    .arch = "riscv64",
    .max_cpus = RV64_MAX_HARTS,
    .timebase_hz = RV64_TIMEBASE_HZ,
    .isa = "rv64imafdc_zicsr_zifencei_sstc",
    .create = create,
    .destroy = destroy,
    .reset = reset,
    .start = start,
    .wait = wait_stopped,
    .stop = stop,
    .exit = get_exit,
    .kick = kick,
    .pause = pause_all,
    .resume = resume_all,
    .paused = paused,
    .save = save,
    .restore = restore,
    .dirty_enable = dirty_enable,
    .dirty_harvest = dirty_harvest,
    .dirty_mark = dirty_mark,
    .ram_written = ram_written,
    .set_irq = set_irq,
    .local_region = local_region,
};
