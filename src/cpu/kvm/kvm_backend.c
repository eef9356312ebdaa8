/* kvm_backend.c — the vCPU backend on Linux KVM (see kvm_backend.h).
 *
 * Threads: each vCPU thread loops on KVM_RUN and serves its exits itself (port I/O and MMIO go
 * straight to the board's device models, which lock for themselves). Any thread may stop, kick
 * or pause the vCPUs: it sets the request (exit reason, pause flag) first, then the vCPU's
 * kvm_run.immediate_exit, then sends it SIGUSR1 (an empty handler). A vCPU inside KVM_RUN leaves
 * it with EINTR on the signal; one about to enter finds immediate_exit set and leaves at once;
 * each thread clears immediate_exit *before* it looks at the requests, so no request is lost
 * between its check and its next KVM_RUN.
 *
 * A CPU limit (vcpu_params.cpu_quota): each vCPU thread charges its own CPU time (guest time in
 * KVM_RUN included) before it enters KVM_RUN, and a timer on that CPU clock forces it out of
 * KVM_RUN with the same signal every slice of CPU time (common/cpu_quota_timer.h). Once the VM's
 * quota for the period is gone, the vCPU that finds it so kicks the others, and each sleeps
 * until the period ends instead of entering KVM_RUN. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "arch/x86/boot_cpu.h"
#include "arch/x86/layout.h"
#include "common/cpu_priority.h"
#include "common/cpu_quota_timer.h"
#include "common/errmsg.h"
#include "common/persist.h"
#include "cpu/kvm/kvm_backend.h"
#include "cpu/kvm/kvm_cpuid.h"
#include "cpu/kvm/kvm_msrs.h"
#include "cpu/kvm/kvm_state.h"
#include "cpu/kvm/kvm_sys.h"
#include "dev/bus.h"
#include "dev/pio.h"
#include "sandbox/seccomp_policy.h"
#include "vm/metrics.h"

#define KICK_SIGNAL SIGUSR1
#define MAX_VCPUS 32                  /* kiln's --cpus limit; the MP table holds 37 */
/* Intel VT-x's real-mode TSS (3 pages) and identity-map page: in the MMIO hole, where no RAM and
 * no device is (Firecracker's TSS address; the identity page right below it) */
#define TSS_ADDR          0xfffbd000ULL
#define IDENTITY_MAP_ADDR 0xfffbc000ULL
#define PAGE_SHIFT 12

struct kvm_vcpus;

struct kvm_vcpu {
    struct kvm_vcpus *k;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    struct cpu_quota_timer quota;   /* the vCPU thread's own */
};

struct kvm_vcpus {
    struct vcpus base;            /* first: a struct vcpus * is a struct kvm_vcpus * */
    int kvm_fd, vm_fd;
    size_t run_size;
    uint8_t *ram;
    uint64_t ram_size;
    struct bus *bus, *ports;
    int vcpu_priority;            /* enum cpu_priority, taken by each vCPU thread */
    struct cpu_quota *cpu_quota;  /* the VM's CPU limit (may be NULL) */
    _Atomic uint64_t throttled_until;   /* the period end the others were last kicked for */
    unsigned n;
    struct kvm_vcpu *cpu;

    /* threads: started (not joined yet); kicks hold threads_lock so none signals a joined one */
    pthread_mutex_t threads_lock;
    unsigned threads;

    pthread_mutex_t exit_lock;
    pthread_cond_t exit_cond;
    _Atomic int exit_reason;      /* enum vcpu_exit_reason; the first one recorded wins */
    int exit_code;
    char crash_msg[512];

    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;    /* a thread parked or unparked; resume; stop */
    _Atomic bool pause_requested;
    unsigned parked;

    /* dirty pages: KVM logs what the vCPUs write, `extra` what devices and loaders wrote */
    bool dirty_on;
    uint64_t *extra;

    /* what a save reads: the MSRs (KVM_GET_MSR_INDEX_LIST filtered, kvm_msrs.h), and whether
     * the host has XSAVE and XCRs (else the legacy FPU state) */
    uint32_t save_msrs[KVM_STATE_MAX_MSRS];
    unsigned nsave_msrs;
    bool has_xsave, has_xcrs;
};

static struct kvm_vcpus *of(struct vcpus *v)
{
    return (struct kvm_vcpus *)v;
}

const char *kvm_backend_device(void)
{
    const char *p = getenv("KILN_KVM_DEVICE");
    return p && *p ? p : KVM_DEVICE_PATH;
}

static void on_kick(int sig)
{
    (void)sig;   /* its only job is to interrupt KVM_RUN */
}

static int host_check(char *err, size_t errlen)
{
    int fd = kvm_open(kvm_backend_device(), err, errlen);
    if (fd < 0)
        return KVM_EXIT_UNAVAILABLE;
    close(fd);
    return 0;
}

/* ---- creation ---- */

static int setup_vcpu(struct kvm_vcpus *k, struct kvm_vcpu *c, const struct kvm_cpuid2 *supported,
                      bool tsc_deadline, char *err, size_t errlen)
{
    if ((c->fd = kvm_create_vcpu(k->vm_fd, c->id, err, errlen)) < 0)
        return -1;
    if (!(c->run = kvm_map_run(c->fd, k->run_size, err, errlen)))
        return -1;
    unsigned cap = supported->nent + KVM_CPUID_EXTRA;
    struct kvm_cpuid_entry2 *cpuid = calloc(cap, sizeof(*cpuid));
    if (!cpuid)
        return errmsg(err, errlen, "out of memory for the CPUID table");
    struct kvm_cpuid_policy pol = { .cpu_index = c->id, .cpu_count = k->n,
                                    .tsc_deadline = tsc_deadline };
    int n = kvm_cpuid_normalize(supported->entries, supported->nent, &pol, cpuid, cap, err, errlen);
    int rc = n < 0 ? -1 : kvm_set_cpuid2(c->fd, cpuid, (unsigned)n, err, errlen);
    free(cpuid);
    if (rc)
        return -1;
    struct kvm_msr_entry msrs[KVM_BOOT_MSRS];
    struct kvm_fpu fpu;
    x86_boot_fpu(&fpu);
    struct kvm_lapic_state lapic;
    if (kvm_set_msrs(c->fd, msrs, kvm_boot_msrs(msrs), err, errlen) ||
        kvm_set_fpu(c->fd, &fpu, err, errlen) || kvm_get_lapic(c->fd, &lapic, err, errlen))
        return -1;
    kvm_lapic_set_lint(&lapic);
    return kvm_set_lapic(c->fd, &lapic, err, errlen);
}

static void destroy(struct vcpus *v)
{
    struct kvm_vcpus *k = of(v);
    for (unsigned i = 0; k->cpu && i < k->n; i++) {
        if (k->cpu[i].run)
            munmap(k->cpu[i].run, k->run_size);
        if (k->cpu[i].fd >= 0)
            close(k->cpu[i].fd);
    }
    free(k->cpu);
    free(k->extra);
    if (k->vm_fd >= 0)
        close(k->vm_fd);
    if (k->kvm_fd >= 0)
        close(k->kvm_fd);
    pthread_mutex_destroy(&k->threads_lock);
    pthread_mutex_destroy(&k->exit_lock);
    pthread_cond_destroy(&k->exit_cond);
    pthread_mutex_destroy(&k->pause_lock);
    pthread_cond_destroy(&k->pause_cond);
    free(k);
}

static int set_ram_slot(struct kvm_vcpus *k, uint32_t flags, char *err, size_t errlen)
{
    return kvm_set_user_memory_region(k->vm_fd, 0, 0, k->ram_size, k->ram, flags, err, errlen);
}

/* The MSRs a save reads: KVM's list, filtered (kvm_msrs.h). */
static int pick_save_msrs(struct kvm_vcpus *k, char *err, size_t errlen)
{
    enum { CAP = 1024 };
    uint32_t *all = calloc(CAP, sizeof(*all));
    if (!all)
        return errmsg(err, errlen, "out of host memory");
    int n = kvm_get_msr_index_list(k->kvm_fd, all, CAP, err, errlen);
    if (n >= 0)
        k->nsave_msrs = kvm_msrs_to_save(all, (unsigned)n, k->save_msrs, KVM_STATE_MAX_MSRS);
    free(all);
    return n < 0 ? -1 : 0;
}

static struct vcpus *create(const struct vcpu_params *p)
{
    char buf[256];
    char *err = p->err && p->errlen ? p->err : buf;
    size_t errlen = p->err && p->errlen ? p->errlen : sizeof(buf);
    if (p->ram_base != 0 || p->cpus == 0 || p->cpus > MAX_VCPUS || !p->ports ||
        p->ram_size > X86_MMIO_HOLE_START || (p->ram_size & 0xfff)) {
        errmsg(err, errlen, "kvm: unsupported VM shape (%u vCPUs, %llu bytes of RAM)", p->cpus,
               (unsigned long long)p->ram_size);
        return NULL;
    }
    struct kvm_vcpus *k = calloc(1, sizeof(*k));
    if (!k) {
        errmsg(err, errlen, "out of host memory");
        return NULL;
    }
    k->base.be = &kvm_backend;
    k->kvm_fd = k->vm_fd = -1;
    k->ram = p->ram;
    k->ram_size = p->ram_size;
    k->bus = p->bus;
    k->ports = p->ports;
    k->vcpu_priority = p->vcpu_priority;
    k->cpu_quota = p->cpu_quota;
    k->n = p->cpus;
    pthread_mutex_init(&k->threads_lock, NULL);
    pthread_mutex_init(&k->exit_lock, NULL);
    pthread_cond_init(&k->exit_cond, NULL);
    pthread_mutex_init(&k->pause_lock, NULL);
    pthread_cond_init(&k->pause_cond, NULL);
    k->cpu = calloc(k->n, sizeof(*k->cpu));
    if (!k->cpu) {
        errmsg(err, errlen, "out of host memory");
        destroy(&k->base);
        return NULL;
    }
    for (unsigned i = 0; i < k->n; i++)
        k->cpu[i] = (struct kvm_vcpu){ .k = k, .id = i, .fd = -1 };

    struct kvm_cpuid2 *supported = NULL;
    int size;
    /* the order KVM wants: VM-wide setup (the identity map before any vCPU), the irqchip before
     * the vCPUs so each gets its local APIC */
    if ((k->kvm_fd = kvm_open(kvm_backend_device(), err, errlen)) < 0 ||
        (k->vm_fd = kvm_create_vm(k->kvm_fd, err, errlen)) < 0 ||
        kvm_set_identity_map_addr(k->vm_fd, IDENTITY_MAP_ADDR, err, errlen) ||
        kvm_set_tss_addr(k->vm_fd, TSS_ADDR, err, errlen) ||
        kvm_create_irqchip(k->vm_fd, err, errlen) || kvm_create_pit2(k->vm_fd, err, errlen) ||
        set_ram_slot(k, 0, err, errlen) ||
        (size = kvm_vcpu_mmap_size(k->kvm_fd, err, errlen)) < 0 ||
        !(supported = kvm_get_supported_cpuid(k->kvm_fd, err, errlen)))
        goto fail;
    k->run_size = (size_t)size;
    if (pick_save_msrs(k, err, errlen))
        goto fail;
    k->has_xsave = kvm_check_extension(k->kvm_fd, KVM_CAP_XSAVE) > 0;
    k->has_xcrs = kvm_check_extension(k->kvm_fd, KVM_CAP_XCRS) > 0;
    bool tsc_deadline = kvm_check_extension(k->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    for (unsigned i = 0; i < k->n; i++)
        if (setup_vcpu(k, &k->cpu[i], supported, tsc_deadline, err, errlen))
            goto fail;
    free(supported);

    struct sigaction sa = { .sa_handler = on_kick, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(KICK_SIGNAL, &sa, NULL);
    return &k->base;
fail:
    free(supported);
    destroy(&k->base);
    return NULL;
}

/* ---- boot state ---- */

static void reset(struct vcpus *v, const struct vcpu_boot *b)
{
    struct kvm_vcpus *k = of(v);
    char err[256];
    struct kvm_sregs s;
    struct kvm_regs r;
    enum x86_boot_mode mode = b->mode == X86_BOOT_MODE_PVH32 ? X86_BOOT_MODE_PVH32
                                                             : X86_BOOT_MODE_LONG64;
    /* only the bootstrap processor: the others wait for INIT/SIPI in the in-kernel LAPIC */
    if (kvm_get_sregs(k->cpu[0].fd, &s, err, sizeof(err)) == 0) {
        x86_boot_sregs(&s, mode);
        x86_boot_regs(&r, mode, b->entry);
        if (kvm_set_sregs(k->cpu[0].fd, &s, err, sizeof(err)) == 0 &&
            kvm_set_regs(k->cpu[0].fd, &r, err, sizeof(err)) == 0)
            return;
    }
    /* the VM cannot start; report it as the guest's crash, before any instruction ran */
    atomic_store(&k->exit_reason, VCPU_EXIT_GUEST_CRASH);
    snprintf(k->crash_msg, sizeof(k->crash_msg), "kvm: the boot vCPU cannot be set up: %s", err);
}

/* ---- stopping and kicking ---- */

static void kick_locked(struct kvm_vcpus *k, unsigned i)
{
    if (i >= k->threads)
        return;
    __atomic_store_n(&k->cpu[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    pthread_kill(k->cpu[i].thread, KICK_SIGNAL);
}

static void kick(struct vcpus *v, unsigned cpu)
{
    struct kvm_vcpus *k = of(v);
    pthread_mutex_lock(&k->threads_lock);
    kick_locked(k, cpu);
    pthread_mutex_unlock(&k->threads_lock);
}

static void kick_all(struct kvm_vcpus *k)
{
    pthread_mutex_lock(&k->threads_lock);
    for (unsigned i = 0; i < k->threads; i++)
        kick_locked(k, i);
    pthread_mutex_unlock(&k->threads_lock);
}

/* Records the exit (the first one wins; msg only for a crash) and kicks every vCPU out. */
static void stop_with(struct kvm_vcpus *k, enum vcpu_exit_reason reason, int code, const char *msg)
{
    pthread_mutex_lock(&k->exit_lock);
    if (!atomic_load(&k->exit_reason)) {
        k->exit_code = code;
        if (msg)
            snprintf(k->crash_msg, sizeof(k->crash_msg), "%s", msg);
        atomic_store(&k->exit_reason, reason);
    }
    pthread_cond_broadcast(&k->exit_cond);
    pthread_mutex_unlock(&k->exit_lock);
    /* parked threads and a pause in progress look at the exit reason too */
    pthread_mutex_lock(&k->pause_lock);
    pthread_cond_broadcast(&k->pause_cond);
    pthread_mutex_unlock(&k->pause_lock);
    kick_all(k);
}

static void stop(struct vcpus *v, enum vcpu_exit_reason reason, int code)
{
    stop_with(of(v), reason, code, NULL);
}

static void get_exit(struct vcpus *v, struct vcpu_exit *out)
{
    struct kvm_vcpus *k = of(v);
    out->reason = atomic_load(&k->exit_reason);
    out->code = k->exit_code;
    out->msg = out->reason == VCPU_EXIT_GUEST_CRASH ? k->crash_msg : "";
}

/* The guest wedged the vCPU: one line with what happened and where. */
static void crash(struct kvm_vcpu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void crash(struct kvm_vcpu *c, const char *fmt, ...)
{
    char what[160], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    struct kvm_regs r;
    struct kvm_sregs s;
    char err[128];
    if (kvm_get_regs(c->fd, &r, err, sizeof(err)) == 0 &&
        kvm_get_sregs(c->fd, &s, err, sizeof(err)) == 0)
        snprintf(msg, sizeof(msg),
                 "vCPU %u: %s: rip=0x%llx rsp=0x%llx rflags=0x%llx cs=0x%x cr0=0x%llx cr2=0x%llx "
                 "cr3=0x%llx cr4=0x%llx efer=0x%llx", c->id, what, (unsigned long long)r.rip,
                 (unsigned long long)r.rsp, (unsigned long long)r.rflags, s.cs.selector,
                 (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
                 (unsigned long long)s.cr4, (unsigned long long)s.efer);
    else
        snprintf(msg, sizeof(msg), "vCPU %u: %s (its registers cannot be read: %s)", c->id, what,
                 err);
    stop_with(c->k, VCPU_EXIT_GUEST_CRASH, 0, msg);
}

/* ---- the vCPU threads ---- */

static void mmio(struct kvm_vcpu *c)
{
    struct kvm_run *run = c->run;
    unsigned len = run->mmio.len;
    if (len == 0 || len > sizeof(run->mmio.data))
        return;
    const struct mmio_region *r = bus_find(c->k->bus, run->mmio.phys_addr, len);
    uint64_t v = 0;
    if (run->mmio.is_write) {
        metric_inc(&kiln_metrics.vcpu.exit_mmio_write);
        memcpy(&v, run->mmio.data, len);
        if (r)
            r->write(r->opaque, run->mmio.phys_addr - r->base, v, len);
    } else {
        metric_inc(&kiln_metrics.vcpu.exit_mmio_read);
        /* nothing there reads as all ones, like a bus nobody drives */
        v = r ? r->read(r->opaque, run->mmio.phys_addr - r->base, len) : ~0ULL;
        memcpy(run->mmio.data, &v, len);
    }
}

static const char *event_name(uint32_t type)
{
    switch (type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN: return "shutdown";
    case KVM_SYSTEM_EVENT_RESET: return "reset";
    case KVM_SYSTEM_EVENT_CRASH: return "crash";
    default: return "unknown";
    }
}

/* Serves one exit. Returns false when the vCPU must stop running. */
static bool handle_exit(struct kvm_vcpu *c)
{
    struct kvm_run *run = c->run;
    struct kvm_vcpus *k = c->k;
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        bool out = run->io.direction == KVM_EXIT_IO_OUT;
        metric_inc(out ? &kiln_metrics.vcpu.exit_io_out : &kiln_metrics.vcpu.exit_io_in);
        pio_dispatch(k->ports, run->io.port, (uint8_t *)run + run->io.data_offset, run->io.size,
                     run->io.count, out);
        return true;
    }
    case KVM_EXIT_MMIO:
        mmio(c);
        return true;
    case KVM_EXIT_INTR:
    case KVM_EXIT_HLT:      /* only without the in-kernel irqchip, which kiln always has */
        return true;
    case KVM_EXIT_SHUTDOWN:
        /* on AMD, KVM has already reset the vCPU: the registers show its reset state */
        crash(c, "triple fault (KVM_EXIT_SHUTDOWN)");
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        crash(c, "VM entry failed (hardware reason 0x%llx)",
              (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        crash(c, "KVM internal error (suberror %u)", run->internal.suberror);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            stop_with(k, VCPU_EXIT_POWEROFF, 0, NULL);
        else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            stop_with(k, VCPU_EXIT_RESET, 0, NULL);
        else
            crash(c, "system event %s (%u)", event_name(run->system_event.type),
                  run->system_event.type);
        return false;
    default:
        metric_inc(&kiln_metrics.vcpu.failures);
        crash(c, "unexpected KVM exit reason %u", run->exit_reason);
        return false;
    }
}

/* An exit's I/O is finished by KVM only on the next KVM_RUN (the value an IN or MMIO read
 * returns goes into the register, the instruction is stepped over): until then the state KVM
 * hands out is mid-instruction, and a save would replay the access. Entering with
 * immediate_exit set completes it without running guest code (KVM's documented way); a string
 * I/O may need more exits, served here. Returns false when the vCPU must stop. */
static bool settle(struct kvm_vcpu *c)
{
    for (;;) {
        __atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        if (ioctl(c->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return true;
            metric_inc(&kiln_metrics.vcpu.failures);
            crash(c, "KVM_RUN (completing I/O before a pause): %s", strerror(errno));
            return false;
        }
        if (!handle_exit(c))
            return false;
    }
}

static void park(struct kvm_vcpu *c)
{
    struct kvm_vcpus *k = c->k;
    if (!settle(c))
        return;
    pthread_mutex_lock(&k->pause_lock);
    k->parked++;
    pthread_cond_broadcast(&k->pause_cond);
    while (atomic_load(&k->pause_requested) && !atomic_load(&k->exit_reason))
        pthread_cond_wait(&k->pause_cond, &k->pause_lock);
    k->parked--;
    pthread_mutex_unlock(&k->pause_lock);
}

/* The throttled sleep ends early for a stop or a pause (kicks interrupt it). */
static bool must_wake(void *opaque)
{
    struct kvm_vcpus *k = opaque;
    return atomic_load(&k->exit_reason) || atomic_load(&k->pause_requested);
}

/* The VM's quota is used up until `until`: the first vCPU to find that out in this period kicks
 * the others out of guest code, then every vCPU sleeps out the period. */
static void throttle(struct kvm_vcpu *c, uint64_t until)
{
    struct kvm_vcpus *k = c->k;
    if (atomic_exchange(&k->throttled_until, until) != until) {
        pthread_mutex_lock(&k->threads_lock);
        for (unsigned i = 0; i < k->threads; i++)
            if (i != c->id)
                kick_locked(k, i);
        pthread_mutex_unlock(&k->threads_lock);
    }
    cpu_quota_timer_sleep(&c->quota, until, must_wake, k);
}

static void *vcpu_thread(void *arg)
{
    struct kvm_vcpu *c = arg;
    struct kvm_vcpus *k = c->k;
    char name[16];
    snprintf(name, sizeof(name), "kiln-vcpu%u", c->id);
    pthread_setname_np(pthread_self(), name);
    sigset_t kick_set;
    sigemptyset(&kick_set);
    sigaddset(&kick_set, KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &kick_set, NULL);
    /* before the vCPU's own filter: its list has neither setpriority nor sched_setscheduler */
    char why[160];
    if (cpu_priority_apply_self((enum cpu_priority)k->vcpu_priority, why, sizeof(why)))
        fprintf(stderr, "kiln: %s: %s\n", name, why);
    /* before the filter too: the vCPU's list has no timer_create */
    if (cpu_quota_timer_init(&c->quota, k->cpu_quota, k->n, KICK_SIGNAL, why, sizeof(why)))
        fprintf(stderr, "kiln: %s: %s\n", name, why);
    seccomp_policy_enter(KILN_THREAD_VCPU);
    for (;;) {
        /* cleared before the checks: a request made after them has set it again (see top) */
        __atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (atomic_load(&k->exit_reason))
            break;
        if (atomic_load(&k->pause_requested)) {
            park(c);
            continue;
        }
        uint64_t until = cpu_quota_timer_check(&c->quota);
        if (until) {
            throttle(c, until);
            continue;
        }
        if (ioctl(c->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            metric_inc(&kiln_metrics.vcpu.failures);
            crash(c, "KVM_RUN: %s", strerror(errno));
            break;
        }
        if (!handle_exit(c))
            break;
    }
    cpu_quota_timer_destroy(&c->quota);
    return NULL;
}

/* Waits (pause_lock held) until every started thread parked, or the VM stopped. */
static void wait_parked_locked(struct kvm_vcpus *k)
{
    while (k->parked < k->threads && !atomic_load(&k->exit_reason))
        pthread_cond_wait(&k->pause_cond, &k->pause_lock);
}

static int start(struct vcpus *v, bool paused)
{
    struct kvm_vcpus *k = of(v);
    if (paused)
        atomic_store(&k->pause_requested, true);   /* parked before the first KVM_RUN */
    pthread_mutex_lock(&k->threads_lock);
    for (unsigned i = 0; i < k->n; i++) {
        if (pthread_create(&k->cpu[i].thread, NULL, vcpu_thread, &k->cpu[i]) != 0) {
            pthread_mutex_unlock(&k->threads_lock);
            stop_with(k, VCPU_EXIT_HOST, 0, NULL);
            pthread_mutex_lock(&k->threads_lock);
            unsigned n = k->threads;
            k->threads = 0;
            pthread_mutex_unlock(&k->threads_lock);
            for (unsigned j = 0; j < n; j++)
                pthread_join(k->cpu[j].thread, NULL);
            return -1;
        }
        k->threads++;
    }
    pthread_mutex_unlock(&k->threads_lock);
    if (paused) {
        pthread_mutex_lock(&k->pause_lock);
        wait_parked_locked(k);
        pthread_mutex_unlock(&k->pause_lock);
    }
    return 0;
}

static void wait_stopped(struct vcpus *v)
{
    struct kvm_vcpus *k = of(v);
    pthread_mutex_lock(&k->exit_lock);
    while (!atomic_load(&k->exit_reason))
        pthread_cond_wait(&k->exit_cond, &k->exit_lock);
    pthread_mutex_unlock(&k->exit_lock);
    kick_all(k);
    /* no kick may signal a thread once it is joined */
    pthread_mutex_lock(&k->threads_lock);
    unsigned n = k->threads;
    k->threads = 0;
    pthread_mutex_unlock(&k->threads_lock);
    for (unsigned i = 0; i < n; i++)
        pthread_join(k->cpu[i].thread, NULL);
}

static void pause_all(struct vcpus *v)
{
    struct kvm_vcpus *k = of(v);
    atomic_store(&k->pause_requested, true);
    kick_all(k);
    pthread_mutex_lock(&k->pause_lock);
    wait_parked_locked(k);
    pthread_mutex_unlock(&k->pause_lock);
}

static void resume_all(struct vcpus *v)
{
    struct kvm_vcpus *k = of(v);
    pthread_mutex_lock(&k->pause_lock);
    atomic_store(&k->pause_requested, false);
    pthread_cond_broadcast(&k->pause_cond);
    pthread_mutex_unlock(&k->pause_lock);
}

static bool paused(struct vcpus *v)
{
    return atomic_load(&of(v)->pause_requested);
}

/* ---- state (kvm_state.h): the VM's, then each vCPU's ---- */

static void save(struct vcpus *v, struct persist_writer *w)
{
    struct kvm_vcpus *k = of(v);
    char err[256];
    struct kvm_vm_state vm;
    struct kvm_vcpu_state *cs = malloc(sizeof(*cs));
    if (!cs || kvm_vm_state_get(k->vm_fd, &vm, err, sizeof(err))) {
        w->oom = true;   /* the caller reports a failed save */
        free(cs);
        return;
    }
    kvm_vm_state_write(w, &vm, k->n, k->ram_size);
    for (unsigned i = 0; i < k->n; i++) {
        if (kvm_vcpu_state_get(k->cpu[i].fd, k->save_msrs, k->nsave_msrs, k->has_xsave,
                               k->has_xcrs, cs, err, sizeof(err))) {
            fprintf(stderr, "kiln: cannot save vCPU %u: %s\n", i, err);
            w->oom = true;
            break;
        }
        kvm_vcpu_state_write(w, cs, i);
    }
    free(cs);
}

/* Everything is read and checked before KVM is touched, so a bad state leaves the fresh vCPUs
 * as they were. The VM-wide state (interrupt controllers, PIT, kvmclock) goes in after the
 * vCPUs, so that the kvmclock value the guest reads first is the saved one plus advance_ns. */
static int restore(struct vcpus *v, struct persist_reader *r, uint64_t advance_ns)
{
    struct kvm_vcpus *k = of(v);
    char err[256];
    struct kvm_vm_state vm;
    if (kvm_vm_state_read(r, &vm, k->n, k->ram_size) != 0)
        return -1;
    struct kvm_vcpu_state *cs = calloc(k->n, sizeof(*cs));
    if (!cs)
        return persist_fail(r, "out of host memory");
    int rc = 0;
    for (unsigned i = 0; i < k->n && !rc; i++)
        rc = kvm_vcpu_state_read(r, &cs[i], i);
    for (unsigned i = 0; i < k->n && !rc; i++) {
        /* the guest's TSC moves on with kvmclock (kvm_msrs.h); KVM_GET_TSC_KHZ answers the
         * frequency as the ioctl's value, or fails without KVM_CAP_GET_TSC_KHZ */
        int khz = ioctl(k->cpu[i].fd, KVM_GET_TSC_KHZ, 0);
        if (khz > 0)
            kvm_msrs_advance_tsc(cs[i].msrs, cs[i].nmsrs, advance_ns, (uint64_t)khz);
        if (cs[i].xsave_valid && !k->has_xsave)
            rc = persist_fail(r, "the saved vCPUs use XSAVE, which this host's KVM lacks");
        else if (kvm_vcpu_state_set(k->cpu[i].fd, &cs[i], err, sizeof(err)))
            rc = persist_fail(r, "KVM refused vCPU %u's saved state: %s", i, err);
    }
    if (!rc && kvm_vm_state_set(k->vm_fd, &vm, advance_ns, err, sizeof(err)))
        rc = persist_fail(r, "KVM refused the saved VM state: %s", err);
    free(cs);
    return rc;
}

/* ---- dirty pages ---- */

static size_t bitmap_words(const struct kvm_vcpus *k)
{
    return ((k->ram_size >> PAGE_SHIFT) + 63) / 64;
}

static int dirty_enable(struct vcpus *v, bool on)
{
    struct kvm_vcpus *k = of(v);
    char err[256];
    if (on && !k->extra && !(k->extra = calloc(bitmap_words(k), sizeof(uint64_t))))
        return -1;
    if (set_ram_slot(k, on ? KVM_MEM_LOG_DIRTY_PAGES : 0, err, sizeof(err))) {
        fprintf(stderr, "kiln: %s\n", err);
        return -1;
    }
    k->dirty_on = on;
    return 0;
}

static void dirty_harvest(struct vcpus *v, uint64_t *out)
{
    struct kvm_vcpus *k = of(v);
    size_t words = bitmap_words(k);
    memset(out, 0, words * sizeof(uint64_t));
    if (!k->dirty_on)
        return;
    struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = out };
    if (ioctl(k->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
        memset(out, 0xff, words * sizeof(uint64_t));   /* unknown: everything is dirty */
    for (size_t i = 0; i < words; i++)
        out[i] |= __atomic_exchange_n(&k->extra[i], 0, __ATOMIC_RELAXED);
}

static void dirty_mark(struct vcpus *v, uint64_t gpa, uint64_t len)
{
    struct kvm_vcpus *k = of(v);
    if (!k->extra || !len || gpa >= k->ram_size)
        return;
    uint64_t last = (gpa + len - 1 < k->ram_size ? gpa + len - 1 : k->ram_size - 1) >> PAGE_SHIFT;
    for (uint64_t p = gpa >> PAGE_SHIFT; p <= last; p++)
        __atomic_fetch_or(&k->extra[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

static void ram_written(struct vcpus *v, uint64_t gpa, uint64_t len)
{
    if (of(v)->dirty_on)
        dirty_mark(v, gpa, len);
}

/* ---- interrupts ---- */

static void set_irq(struct vcpus *v, unsigned cpu, unsigned line, bool level)
{
    (void)cpu;
    kvm_irq_line(of(v)->vm_fd, line, level);
}

static bool local_region(struct vcpus *v, uint64_t base, struct mmio_region *out)
{
    (void)v;
    (void)base;
    (void)out;
    return false;   /* the local APICs are KVM's */
}

const struct vcpu_backend kvm_backend = {
    .name = "kvm",
    .arch = "x86_64",
    .max_cpus = MAX_VCPUS,
    .host_check = host_check,
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
    .no_save = NULL,
    .save = save,
    .restore = restore,
    .dirty_enable = dirty_enable,
    .dirty_harvest = dirty_harvest,
    .dirty_mark = dirty_mark,
    .ram_written = ram_written,
    .set_irq = set_irq,
    .local_region = local_region,
};
