/* vm.c — builds a board and its vCPUs from a vm_config (whichever machine runs the guest's
 * architecture: vm/backends.h), loads the guest, runs the vCPUs and turns the way the guest
 * stopped into kiln's exit status. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/errmsg.h"
#include "common/persist.h"
#include "common/threads.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/mmio.h"
#include "vm/backends.h"
#include "vm/console.h"
#include "vm/devices.h"
#include "vm/guest_ram.h"
#include "vm/metrics.h"
#include "vm/run_template.h"
#include "vm/vm.h"

struct vm {
    const struct vm_config *cfg;
    const struct vm_machine *machine;
    struct board *board;          /* owns the vCPUs (board->cpus) and the devices */
    struct board_boot boot;       /* what the board loads (from cfg) */
    struct guest_ram ram;         /* the board's RAM: the VM owns it, the board borrows it */
    struct console console;
    bool console_open;
    pthread_t signal_thread;
    bool signal_thread_running;
    _Atomic int signal_number;
    bool started, joined;
    bool devices_paused;          /* the virtio devices' threads are parked (vm_pause) */
    struct vm_devices devices;    /* the board's virtio devices by kind and id */
    struct cpu_quota cpu_quota;   /* the CPU limit: the VM's, charged by its vCPUs */
};

/* --rm: the SBI console (the guest's /dev/hvc0) carries the command's stderr */
static void stderr_tx(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    while (len) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void on_console_quit(void *opaque)
{
    struct vm *vm = opaque;
    vcpus_stop(vm->board->cpus, VCPU_EXIT_HOST, 0);
}

/* The signals that stop the VM, and kiln's own SIGUSR2. */
static void stop_signal_set(sigset_t *set)
{
    stop_signals_fill(set);
    sigaddset(set, SIGUSR2);
}

/* Signals arrive here (they are blocked everywhere else) and stop the VM cleanly, so the
 * terminal is restored and files are closed. SIGUSR2 is kiln's own "stop listening". */
static void *signal_thread(void *arg)
{
    struct vm *vm = arg;
    sigset_t set;
    stop_signal_set(&set);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0 || sig == SIGUSR2)
            return NULL;
        atomic_store(&vm->signal_number, sig);
        vcpus_stop(vm->board->cpus, VCPU_EXIT_HOST, 0);
    }
}

/* A reason vm_create fails for: on stderr, as always, and to the caller's buffer if it gave one
 * (the API's fault message; an API client cannot read kiln's stderr). */
static void report(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(char *out, size_t outlen, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "kiln: %s\n", msg);
    if (out && outlen)
        snprintf(out, outlen, "%s", msg);
}

/* The board loads what cfg names and says how the vCPUs start. */
static int load_guest(struct vm *vm, char *why, size_t whylen)
{
    char err[512];
    struct vcpu_boot boot;
    int rc = vm->board->type->load(vm->board, &boot, err, sizeof(err));
    if (rc) {
        report(why, whylen, "%s", err);
        return rc;
    }
    vcpus_reset(vm->board->cpus, &boot);
    return 0;
}

static int exit_status(struct vm *vm)
{
    struct vcpu_exit e;
    vcpus_exit(vm->board->cpus, &e);
    switch (e.reason) {
    case VCPU_EXIT_NONE:
    case VCPU_EXIT_POWEROFF:
        return 0;
    case VCPU_EXIT_RESET:
        fprintf(stderr, "kiln: the guest asked for a reboot; kiln stops the VM instead\n");
        return 0;
    case VCPU_EXIT_FAIL:
        return e.code;
    case VCPU_EXIT_GUEST_CRASH:
        fprintf(stderr, "kiln: %s\n", e.msg);
        return KILN_EXIT_GUEST_CRASH;
    case VCPU_EXIT_HOST: {
        int sig = atomic_load(&vm->signal_number);
        if (sig) {
            fprintf(stderr, "kiln: stopped by signal %d (%s)\n", sig, strsignal(sig));
            return 128 + sig;
        }
        return 0;
    }
    }
    return 0;
}

static void block_stop_signals(void)
{
    sigset_t set;
    stop_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void pause_devices(struct vm *vm)
{
    if (vm->devices_paused)
        return;
    for (unsigned i = 0; i < vm->devices.n; i++)
        virtio_mmio_pause(vm->devices.dev[i].t);
    vm->devices_paused = true;
}

static void resume_devices(struct vm *vm)
{
    if (!vm->devices_paused)
        return;
    for (unsigned i = 0; i < vm->devices.n; i++)
        virtio_mmio_resume(vm->devices.dev[i].t);
    vm->devices_paused = false;
}

static int start_threads(struct vm *vm, bool paused)
{
    signal(SIGPIPE, SIG_IGN);   /* the stop signals were blocked by vm_start */
    if (pthread_create(&vm->signal_thread, NULL, signal_thread, vm) != 0)
        return -1;
    vm->signal_thread_running = true;
    return vcpus_start(vm->board->cpus, paused);
}

/* RAM for a new VM, a snapshot's memory file, or RAM a migration already filled. */
static int create_ram(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs, char *why,
                      size_t whylen)
{
    uint64_t size = cfg->mem_mib << 20;
    if (rs && rs->ram) {
        if (rs->ram->size != size) {
            report(why, whylen, "the received RAM has %llu bytes, the configuration %llu",
                   (unsigned long long)rs->ram->size, (unsigned long long)size);
            return KILN_EXIT_BAD_IMAGE;
        }
        vm->ram = *rs->ram;
        *rs->ram = (struct guest_ram){ .fd = -1 };
        return 0;
    }
    if (rs && rs->mem_path) {
        char err[512];
        if (guest_ram_map_file(&vm->ram, rs->mem_path, size, err, sizeof(err)) != 0) {
            report(why, whylen, "%s", err);
            return KILN_EXIT_BAD_IMAGE;
        }
        return 0;
    }
    if (guest_ram_create(&vm->ram, size) != 0) {
        report(why, whylen, "cannot create a VM with %llu MiB: out of host memory",
               (unsigned long long)cfg->mem_mib);
        return KILN_EXIT_HOST;
    }
    return 0;
}

/* Loads the saved machine and device state into a VM whose devices were just created. */
static int restore_state(struct vm *vm, const struct vm_restore *rs, char *why, size_t whylen)
{
    struct persist_reader *r = rs->state;
    /* the vCPUs first: the board's interrupt controller then drives their lines */
    if (vcpus_restore(vm->board->cpus, r, rs->advance_ns) == 0 && vm->board->type->restore(vm->board, r) == 0)
        for (unsigned i = 0; i < vm->devices.n && persist_ok(r); i++)
            virtio_mmio_restore(vm->devices.dev[i].t, r);
    if (persist_ok(r) && r->pos != r->len)
        persist_fail(r, "the state holds more devices than the configuration");
    if (!persist_ok(r)) {
        fprintf(stderr, "kiln: cannot restore the VM: %s\n", r->err);
        if (why && whylen)
            snprintf(why, whylen, "%s", r->err);
        return KILN_EXIT_BAD_IMAGE;
    }
    vm->devices_paused = true;   /* restored devices wait for the VM to start (or resume) */
    return 0;
}

/* Can this host run the machine's backend (KVM: /dev/kvm)? Asked before any RAM is taken. */
static int check_host(struct vm *vm, char *why, size_t whylen)
{
    char err[512] = "";
    const struct vcpu_backend *be = vm->machine->backend;
    int rc = be->host_check ? be->host_check(err, sizeof(err)) : 0;
    if (rc)
        report(why, whylen, "%s", err);
    return rc;
}

/* Which machine runs this VM: the kernel's (or the --accel one) for a new VM, the one of the
 * saved architecture for a restored one. */
static int pick_machine(struct vm *vm, const struct vm_config *cfg, const struct vm_restore *rs, char *why,
                        size_t whylen)
{
    char err[512];
    if (!rs) {
        vm->machine = vm_machine_for_boot(cfg->accel, cfg->kernel, cfg->firmware, err, sizeof(err));
        if (!vm->machine) {
            report(why, whylen, "%s", err);
            return KILN_EXIT_USAGE;
        }
        return check_host(vm, why, whylen);
    }
    const char *arch = rs->arch ? rs->arch : "";
    vm->machine = vm_machine_for_arch(arch);
    if (!vm->machine)
        snprintf(err, sizeof(err), "the saved VM is a %s one; this kiln has no backend for it", arch);
    else if (cfg->accel && strcmp(cfg->accel, VM_ACCEL_AUTO) && strcmp(cfg->accel, vm->machine->backend->name))
        snprintf(err, sizeof(err), "the saved VM ran on %s, not on the requested %s",
                 vm->machine->backend->name, cfg->accel);
    else
        return check_host(vm, why, whylen);
    report(why, whylen, "%s", err);
    return KILN_EXIT_BAD_IMAGE;
}

/* The CPU limit's counters into the metrics' cpu_limit group, at each flush. */
static void sample_cpu_limit(void *opaque)
{
    struct vm *vm = opaque;
    uint64_t quota_us, period_us;
    struct cpu_quota_stats st;
    cpu_quota_get(&vm->cpu_quota, &quota_us, &period_us);
    cpu_quota_get_stats(&vm->cpu_quota, &st);
    metric_store(&kiln_metrics.cpu_limit.quota_us, quota_us);
    metric_store(&kiln_metrics.cpu_limit.period_us, period_us);
    metric_store(&kiln_metrics.cpu_limit.nr_periods, st.nr_periods);
    metric_store(&kiln_metrics.cpu_limit.nr_throttled, st.nr_throttled);
    metric_store(&kiln_metrics.cpu_limit.throttled_us, st.throttled_us);
}

/* The VM's CPU limit, from cfg; the board hands it (and the vCPU priority) to the vCPUs, which
 * charge the limit and take the priority when their threads start. */
static int setup_cpu_limit(struct vm *vm, const struct vm_config *cfg, char *why, size_t whylen)
{
    char err[200];
    const char *no = vm->machine->backend->no_cpu_limit;
    if (cfg->cpu_quota_us && no) {
        report(why, whylen, "--cpu-limit: %s", no);
        return KILN_EXIT_USAGE;
    }
    if (cfg->cpu_quota_us && cpu_quota_set(&vm->cpu_quota, cfg->cpu_quota_us, cfg->cpu_period_us, err, sizeof(err))) {
        report(why, whylen, "%s", err);
        return KILN_EXIT_USAGE;
    }
    metrics_set_sampler(sample_cpu_limit, vm);
    return 0;
}

int vm_set_cpu_limit(struct vm *vm, uint64_t quota_us, uint64_t period_us, char *err, size_t errlen)
{
    if (quota_us && vm->machine->backend->no_cpu_limit)
        return errmsg(err, errlen, "%s", vm->machine->backend->no_cpu_limit);
    if (cpu_quota_set(&vm->cpu_quota, quota_us, period_us, err, errlen))
        return -1;
    /* a vCPU in guest code that never exits (KVM) would not see the new limit otherwise */
    for (unsigned i = 0; i < vm->cfg->cpus; i++)
        vcpus_kick(vm->board->cpus, i);
    return 0;
}

void vm_get_cpu_limit_stats(struct vm *vm, struct cpu_quota_stats *out)
{
    cpu_quota_get_stats(&vm->cpu_quota, out);
}

/* The translator: --jit, else KILN_JIT=on|off in the environment (whole test suites run either
 * way), else on. --jit off is the interpreter, the reference. */
static bool jit_wanted(const struct vm_config *cfg)
{
    if (cfg->jit)
        return cfg->jit == 2;
    const char *env = getenv("KILN_JIT");
    return !(env && !strcmp(env, "off"));
}

static int create_board(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns, char *why, size_t whylen)
{
    vm->boot = (struct board_boot){ .kernel = cfg->kernel, .initrd = cfg->initrd, .firmware = cfg->firmware,
                                     .cmdline = cfg->cmdline, .dtb_out = cfg->dtb_out };
    struct board_params p = { .backend = vm->machine->backend, .cpus = cfg->cpus, .ram = vm->ram.host,
                              .ram_size = vm->ram.size, .start_ns = start_ns, .boot = &vm->boot,
                              .console_tx = console_tx, .console_opaque = &vm->console,
                              .pv_console_tx = console_tx, .pv_console_opaque = &vm->console,
                              .cpu_quota = &vm->cpu_quota, .vcpu_priority = cfg->vcpu_priority,
                              .jit = jit_wanted(cfg), .jit_cache_bytes = (size_t)cfg->jit_cache_mb << 20 };
    if (cfg->sbi_console_to_stderr) {
        p.pv_console_tx = stderr_tx;
        p.pv_console_opaque = NULL;
    }
    char err[512] = "";
    p.err = err;
    p.errlen = sizeof(err);
    int rc = vm->machine->board->create(&p, &vm->board);
    if (rc > 0) {
        vm->board = NULL;
        report(why, whylen, "%s", err);
        return rc;
    }
    if (rc != 0) {
        vm->board = NULL;
        report(why, whylen, "cannot create a VM with %llu MiB and %u vCPUs: out of host memory",
               (unsigned long long)cfg->mem_mib, cfg->cpus);
        return KILN_EXIT_HOST;
    }
    return 0;
}

static int create(const struct vm_config *cfg, uint64_t start_ns, const struct vm_restore *rs, struct vm **out,
                  char *why, size_t whylen)
{
    if (why && whylen)
        *why = 0;
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        report(why, whylen, "out of host memory");
        return KILN_EXIT_HOST;
    }
    vm->cfg = cfg;
    vm->ram.fd = -1;
    cpu_quota_init(&vm->cpu_quota);
    int status = pick_machine(vm, cfg, rs, why, whylen);
    if (!status)
        status = setup_cpu_limit(vm, cfg, why, whylen);
    if (!status)
        status = create_ram(vm, cfg, rs, why, whylen);
    if (!status)
        status = create_board(vm, cfg, start_ns, why, whylen);
    if (!status)
        status = vm_create_devices(vm->board, cfg, &vm->devices, why, whylen);
    if (!status)
        status = rs ? restore_state(vm, rs, why, whylen) : load_guest(vm, why, whylen);
    if (status) {
        vm_destroy(vm);
        return status;
    }
    *out = vm;
    return 0;
}

int vm_create(const struct vm_config *cfg, uint64_t start_ns, struct vm **out, char *err, size_t errlen)
{
    return create(cfg, start_ns, NULL, out, err, errlen);
}

int vm_create_restored(const struct vm_config *cfg, uint64_t start_ns, const struct vm_restore *rs, struct vm **out)
{
    return create(cfg, start_ns, rs, out, rs->err, rs->errlen);
}

int vm_start(struct vm *vm)
{
    return vm_start_opts(vm, 0);
}

int vm_start_opts(struct vm *vm, unsigned flags)
{
    bool paused = flags & VM_START_PAUSED;
    /* block the stop signals before any thread exists, so every thread (console, vCPUs) inherits
     * the mask and only the signal thread ever takes them */
    block_stop_signals();
    /* --rm: the command's stdin ends when kiln's does (framed input, console.h) */
    unsigned console_flags = ((flags & VM_START_HOLD_INPUT) ? CONSOLE_HELD : 0) | (vm->cfg->rm ? CONSOLE_FRAMED : 0);
    if (console_open_opts(&vm->console, STDIN_FILENO, STDOUT_FILENO, vm->board->type->console(vm->board),
                          on_console_quit, vm, console_flags) != 0) {
        fprintf(stderr, "kiln: cannot set up the console\n");
        return KILN_EXIT_HOST;
    }
    vm->console_open = true;
    if (paused)
        pause_devices(vm);   /* the vCPUs park before their first instruction, the devices too */
    if (start_threads(vm, paused) != 0) {
        fprintf(stderr, "kiln: cannot start vCPU threads\n");
        return KILN_EXIT_HOST;
    }
    vm->started = true;
    if (!paused)
        resume_devices(vm);
    return 0;
}

/* Pausing stops the device threads too (after the vCPUs, so no new kick is missed and no device
 * touches guest memory): what a snapshot or a migration saves is then consistent. */
void vm_pause(struct vm *vm)
{
    if (vm->started)
        vcpus_pause(vm->board->cpus);
    pause_devices(vm);
}

void vm_resume(struct vm *vm)
{
    resume_devices(vm);
    vcpus_resume(vm->board->cpus);
}

bool vm_is_paused(const struct vm *vm)
{
    return vcpus_paused(vm->board->cpus);
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
    if (!vm->board->type->ctrl_alt_del)
        return -1;
    return vm->board->type->ctrl_alt_del(vm->board) ? 0 : 1;
}

const char *vm_no_save(const struct vm *vm)
{
    return vm->machine->backend->no_save;
}

void vm_save_state(struct vm *vm, struct persist_writer *w)
{
    vcpus_save(vm->board->cpus, w);
    vm->board->type->save(vm->board, w);
    for (unsigned i = 0; i < vm->devices.n; i++)
        virtio_mmio_save(vm->devices.dev[i].t, w);
}

uint8_t *vm_ram(struct vm *vm, uint64_t *size)
{
    *size = vm->ram.size;
    return vm->ram.host;
}

bool vm_ram_anonymous(struct vm *vm)
{
    return !vm->ram.file_backed;
}

int vm_dirty_enable(struct vm *vm, bool on)
{
    bool running = vm->started && !vm_is_paused(vm);
    if (running)
        vcpus_pause(vm->board->cpus);
    int rc = vcpus_dirty_enable(vm->board->cpus, on);
    if (running)
        vcpus_resume(vm->board->cpus);
    return rc;
}

void vm_dirty_mark_all(struct vm *vm)
{
    vcpus_dirty_mark(vm->board->cpus, vm->board->type->ram_base, vm->ram.size);
}

void vm_dirty_harvest(struct vm *vm, uint64_t *bitmap)
{
    /* a backend may need parked vCPUs to harvest (a software MMU flushes their TLBs) */
    bool running = vm->started && !vm_is_paused(vm);
    if (running)
        vcpus_pause(vm->board->cpus);
    vcpus_dirty_harvest(vm->board->cpus, bitmap);
    if (running)
        vcpus_resume(vm->board->cpus);
}

int vm_release_images(struct vm *vm)
{
    int rc = 0;
    for (unsigned i = 0; i < vm->devices.n; i++)
        if (vm->devices.dev[i].kind == VM_DEV_DRIVE && virtio_blk_release_image(vm->devices.dev[i].t) != 0)
            rc = -1;
    return rc;
}

int vm_reacquire_images(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->devices.n; i++)
        if (vm->devices.dev[i].kind == VM_DEV_DRIVE &&
            virtio_blk_reacquire_image(vm->devices.dev[i].t, err, errlen) != 0)
            return -1;
    return 0;
}

void vm_release_input(struct vm *vm, const uint8_t *prefix, size_t len)
{
    if (vm->console_open)
        console_release_input(&vm->console, prefix, len);
}

bool vm_exited(struct vm *vm)
{
    return vcpus_stopped(vm->board->cpus);
}

void vm_request_stop(struct vm *vm)
{
    vcpus_stop(vm->board->cpus, VCPU_EXIT_HOST, 0);
}

int vm_wait(struct vm *vm)
{
    if (vm->started) {
        vcpus_wait(vm->board->cpus);
        vm->started = false;
        vm->joined = true;
    }
    return exit_status(vm);
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->started) {
        vm_request_stop(vm);
        vm_wait(vm);
    }
    if (vm->console_open)
        console_close(&vm->console);
    if (vm->signal_thread_running) {
        pthread_kill(vm->signal_thread, SIGUSR2);
        pthread_join(vm->signal_thread, NULL);
    }
    metrics_clear_sampler(vm);
    if (vm->board)
        vm->board->type->destroy(vm->board);
    guest_ram_destroy(&vm->ram);
    cpu_quota_destroy(&vm->cpu_quota);   /* after the vCPUs that charged it */
    free(vm);
}

struct boot_timer *vm_boot_timer(struct vm *vm)
{
    return vm->board->type->boot_timer(vm->board);
}

const char *vm_arch(const struct vm *vm)
{
    return vm->machine->backend->arch;
}

struct virtio_mmio *vm_device(struct vm *vm, enum vm_device_kind kind, const char *id)
{
    return vm_devices_find(&vm->devices, kind, id);
}

int vm_finish(struct vm *vm)
{
    vcpus_wait(vm->board->cpus);
    vm->started = false;
    /* the console goes first so the terminal is restored before kiln's last words */
    console_close(&vm->console);
    vm->console_open = false;
    return exit_status(vm);
}

int vm_run(const struct vm_config *cfg, uint64_t start_ns)
{
    /* before vm_create: it starts the devices' I/O threads, which must never take a stop signal
     * (the process would die by it: no 128+N status, a raw terminal, a vsock socket left) */
    block_stop_signals();
    if (cfg->rm) {
        int status = run_rm_from_template(cfg, start_ns);
        if (status != RUN_TEMPLATE_UNUSABLE)
            return status;
    }
    struct vm *vm;
    int status = vm_create(cfg, start_ns, &vm, NULL, 0);
    if (status)
        return status;
    status = vm_start(vm);
    if (!status)
        status = vm_finish(vm);
    vm_destroy(vm);
    return status;
}
