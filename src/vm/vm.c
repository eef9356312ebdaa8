/* vm.c — builds a `virt` board from a vm_config, loads the guest, runs one thread per vCPU and
 * turns the way the guest stopped into kiln's exit status. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "board/virt.h"
#include "common/persist.h"
#include "common/threads.h"
#include "dev/virtio/blk.h"
#include "vm/console.h"
#include "vm/devices.h"
#include "vm/guest_ram.h"
#include "vm/loader.h"
#include "vm/run_template.h"
#include "vm/vm.h"

#define KERNEL_OFFSET   0x200000ull   /* RISC-V Linux wants a 2 MiB aligned load address */
#define FDT_MAX_SIZE    0x10000ull
#define FW_DYNAMIC_MAGIC 0x4942534full /* "OSBI" */

/* OpenSBI's fw_dynamic handoff (include/sbi/fw_dynamic.h), version 2 */
struct fw_dynamic_info {
    uint64_t magic, version, next_addr, next_mode, options, boot_hart;
};

struct vm {
    const struct vm_config *cfg;
    struct virt_board *board;
    struct guest_ram ram;         /* the board's RAM: the VM owns it, the board borrows it */
    struct console console;
    bool console_open;
    uint64_t entry, fdt_addr, dyninfo_addr;
    pthread_t signal_thread;
    bool signal_thread_running;
    _Atomic int signal_number;
    bool started, joined;
    bool devices_paused;          /* the virtio devices' threads are parked (vm_pause) */
    struct vm_devices devices;    /* the board's virtio devices by kind and id */
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
    rv64_machine_exit(&vm->board->m, RV64_EXIT_HOST, 0);
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
        rv64_machine_exit(&vm->board->m, RV64_EXIT_HOST, 0);
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

static int load_guest(struct vm *vm, char *why, size_t whylen)
{
    const struct vm_config *cfg = vm->cfg;
    struct rv64_machine *m = &vm->board->m;
    struct load_target ram = { m->ram, RV64_RAM_BASE, m->ram_size };
    char err[512];
    int rc;
    uint64_t ram_end = RV64_RAM_BASE + m->ram_size;
    vm->fdt_addr = (ram_end - FDT_MAX_SIZE) & ~(KERNEL_OFFSET - 1);
    vm->dyninfo_addr = vm->fdt_addr + FDT_MAX_SIZE;
    uint64_t floor = RV64_RAM_BASE;

    if (cfg->firmware) {
        struct loaded_image fw;
        if ((rc = load_firmware(cfg->firmware, &ram, RV64_RAM_BASE, &fw, err, sizeof(err))))
            goto fail;
        vm->entry = fw.entry;
        floor = fw.end;
    }
    struct loaded_image kernel = { 0, 0, 0 };
    if (cfg->kernel) {
        if (floor > RV64_RAM_BASE + KERNEL_OFFSET) {
            snprintf(err, sizeof(err), "firmware '%s' overlaps the kernel load address 0x%llx",
                     cfg->firmware, (unsigned long long)(RV64_RAM_BASE + KERNEL_OFFSET));
            rc = KILN_EXIT_BAD_IMAGE;
            goto fail;
        }
        if ((rc = load_kernel(cfg->kernel, &ram, RV64_RAM_BASE + KERNEL_OFFSET, &kernel, err, sizeof(err))))
            goto fail;
        if (kernel.end > vm->fdt_addr) {
            snprintf(err, sizeof(err), "kernel '%s' does not leave room for the device tree: "
                     "give the VM more --mem", cfg->kernel);
            rc = KILN_EXIT_BAD_IMAGE;
            goto fail;
        }
        if (!cfg->firmware)
            vm->entry = kernel.entry;
        floor = kernel.end;
    }
    struct virt_boot_info info = { .cmdline = cfg->cmdline };
    if (cfg->initrd) {
        struct loaded_image initrd;
        if ((rc = load_blob_below(cfg->initrd, &ram, floor, vm->fdt_addr, &initrd, err, sizeof(err))))
            goto fail;
        info.initrd_start = initrd.start;
        info.initrd_end = initrd.end;
    }
    int size = virt_build_fdt(vm->board, &info, rv64_ram_ptr(m, vm->fdt_addr), FDT_MAX_SIZE);
    if (size < 0) {
        snprintf(err, sizeof(err), "device tree does not fit in %llu KiB (command line too long?)",
                 (unsigned long long)(FDT_MAX_SIZE >> 10));
        rc = KILN_EXIT_USAGE;
        goto fail;
    }
    if (cfg->dtb_out) {
        FILE *f = fopen(cfg->dtb_out, "wb");
        if (!f || fwrite(rv64_ram_ptr(m, vm->fdt_addr), 1, (size_t)size, f) != (size_t)size) {
            snprintf(err, sizeof(err), "cannot write '%s': %s", cfg->dtb_out, strerror(errno));
            if (f)
                fclose(f);
            rc = KILN_EXIT_NO_INPUT;
            goto fail;
        }
        fclose(f);
    }
    if (cfg->firmware) {
        struct fw_dynamic_info di = { FW_DYNAMIC_MAGIC, 2, kernel.entry, PRIV_S, 0, 0 };
        memcpy(rv64_ram_ptr(m, vm->dyninfo_addr), &di, sizeof(di));
    }
    return 0;
fail:
    report(why, whylen, "%s", err);
    return rc;
}

static void setup_harts(struct vm *vm)
{
    struct rv64_machine *m = &vm->board->m;
    m->sbi_mode = vm->cfg->firmware == NULL;
    /* a bare-metal program alone polls the UART; an OS takes input by interrupt once it listens */
    vm->board->uart.rx_needs_irq = !(vm->cfg->firmware && !vm->cfg->kernel);
    for (unsigned i = 0; i < m->nharts; i++) {
        struct rv64_hart *h = m->harts[i];
        if (m->sbi_mode) {
            /* kiln plays the firmware: S-mode gets every trap and interrupt it can take */
            rv64_hart_reset(h, vm->entry, PRIV_S);
            h->medeleg = 0xb1ff;
            h->mideleg = MIP_S_MASK;
            h->mcounteren = 0xffffffff;
            h->scounteren = 0x7; /* as OpenSBI leaves it: U-mode rdtime (the vDSO) works */
            h->menvcfg = MENVCFG_STCE;
            atomic_store(&h->state, i == 0 ? HART_STARTED : HART_STOPPED);
        } else {
            rv64_hart_reset(h, vm->entry, PRIV_M);
            h->x[12] = vm->dyninfo_addr;
            atomic_store(&h->state, HART_STARTED);
        }
        h->x[10] = i;
        h->x[11] = vm->fdt_addr;
    }
}

static int exit_status(struct vm *vm)
{
    struct rv64_machine *m = &vm->board->m;
    switch (atomic_load(&m->exit_reason)) {
    case RV64_EXIT_NONE:
        return 0;
    case RV64_EXIT_POWEROFF:
        return 0;
    case RV64_EXIT_RESET:
        fprintf(stderr, "kiln: the guest asked for a reboot; kiln stops the VM instead\n");
        return 0;
    case RV64_EXIT_FAIL:
        return m->exit_code;
    case RV64_EXIT_GUEST_CRASH:
        fprintf(stderr, "kiln: %s\n", m->crash_msg);
        return KILN_EXIT_GUEST_CRASH;
    case RV64_EXIT_HOST: {
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
    for (unsigned i = 0; i < vm->board->nvirtio; i++)
        virtio_mmio_pause(vm->board->virtio[i]);
    vm->devices_paused = true;
}

static void resume_devices(struct vm *vm)
{
    if (!vm->devices_paused)
        return;
    for (unsigned i = 0; i < vm->board->nvirtio; i++)
        virtio_mmio_resume(vm->board->virtio[i]);
    vm->devices_paused = false;
}

static int start_threads(struct vm *vm)
{
    struct rv64_machine *m = &vm->board->m;
    signal(SIGPIPE, SIG_IGN);   /* the stop signals were blocked by vm_start */
    if (pthread_create(&vm->signal_thread, NULL, signal_thread, vm) != 0)
        return -1;
    vm->signal_thread_running = true;
    for (unsigned i = 0; i < m->nharts; i++) {
        if (pthread_create(&m->harts[i]->thread, NULL, rv64_hart_thread, m->harts[i]) != 0) {
            rv64_machine_exit(m, RV64_EXIT_HOST, 0);
            for (unsigned j = 0; j < i; j++)
                pthread_join(m->harts[j]->thread, NULL);
            return -1;
        }
    }
    return 0;
}

static void wait_and_join(struct vm *vm)
{
    struct rv64_machine *m = &vm->board->m;
    pthread_mutex_lock(&m->exit_lock);
    while (!atomic_load(&m->exit_reason))
        pthread_cond_wait(&m->exit_cond, &m->exit_lock);
    pthread_mutex_unlock(&m->exit_lock);
    for (unsigned i = 0; i < m->nharts; i++)
        pthread_join(m->harts[i]->thread, NULL);
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
    struct virt_board *b = vm->board;
    if (virt_board_restore(b, r, rs->advance_ns) == 0)
        for (unsigned i = 0; i < b->nvirtio && persist_ok(r); i++)
            virtio_mmio_restore(b->virtio[i], r);
    if (persist_ok(r) && r->pos != r->len)
        persist_fail(r, "the state holds more devices than the configuration");
    if (!persist_ok(r)) {
        fprintf(stderr, "kiln: cannot restore the VM: %s\n", r->err);
        if (why && whylen)
            snprintf(why, whylen, "%s", r->err);
        return KILN_EXIT_BAD_IMAGE;
    }
    b->uart.rx_needs_irq = !(vm->cfg->firmware && !vm->cfg->kernel);
    vm->devices_paused = true;   /* restored devices wait for the VM to start (or resume) */
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
    vm->board = calloc(1, sizeof(*vm->board));
    int status = vm->board ? create_ram(vm, cfg, rs, why, whylen) : KILN_EXIT_HOST;
    if (!vm->board)
        report(why, whylen, "out of host memory");
    if (status) {
        free(vm->board);
        free(vm);
        return status;
    }
    if (virt_board_init(vm->board, cfg->cpus, vm->ram.host, vm->ram.size, start_ns,
                        console_tx, &vm->console) != 0) {
        report(why, whylen, "cannot create a VM with %llu MiB and %u vCPUs: out of host memory",
               (unsigned long long)cfg->mem_mib, cfg->cpus);
        guest_ram_destroy(&vm->ram);
        free(vm->board);
        free(vm);
        return KILN_EXIT_HOST;
    }
    if (cfg->sbi_console_to_stderr) {
        vm->board->m.console_out = stderr_tx;
        vm->board->m.console_opaque = NULL;
    }
    status = vm_create_devices(vm->board, cfg, &vm->devices, why, whylen);
    if (!status)
        status = rs ? restore_state(vm, rs, why, whylen) : load_guest(vm, why, whylen);
    if (status) {
        vm_destroy(vm);
        return status;
    }
    if (!rs)
        setup_harts(vm);
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
    int (*open)(struct console *, int, int, struct uart16550 *, void (*)(void *), void *) =
        (flags & VM_START_HOLD_INPUT) ? console_open_held : console_open;
    if (open(&vm->console, STDIN_FILENO, STDOUT_FILENO, &vm->board->uart, on_console_quit, vm) != 0) {
        fprintf(stderr, "kiln: cannot set up the console\n");
        return KILN_EXIT_HOST;
    }
    vm->console_open = true;
    if (paused) {
        /* the harts park before their first instruction; the devices wait for resume too */
        atomic_store(&vm->board->m.pause_requested, true);
        pause_devices(vm);
    }
    if (start_threads(vm) != 0) {
        fprintf(stderr, "kiln: cannot start vCPU threads\n");
        return KILN_EXIT_HOST;
    }
    vm->started = true;
    if (paused)
        rv64_machine_pause(&vm->board->m);
    else
        resume_devices(vm);
    return 0;
}

/* Pausing stops the device threads too (after the vCPUs, so no new kick is missed and no device
 * touches guest memory): what a snapshot or a migration saves is then consistent. */
void vm_pause(struct vm *vm)
{
    if (vm->started)
        rv64_machine_pause(&vm->board->m);
    pause_devices(vm);
}

void vm_resume(struct vm *vm)
{
    resume_devices(vm);
    rv64_machine_resume(&vm->board->m);
}

bool vm_is_paused(const struct vm *vm)
{
    return atomic_load(&vm->board->m.pause_requested);
}

void vm_save_state(struct vm *vm, struct persist_writer *w)
{
    virt_board_save(vm->board, w);
    for (unsigned i = 0; i < vm->board->nvirtio; i++)
        virtio_mmio_save(vm->board->virtio[i], w);
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
        rv64_machine_pause(&vm->board->m);
    int rc = rv64_machine_dirty_enable(&vm->board->m, on);
    if (running)
        rv64_machine_resume(&vm->board->m);
    return rc;
}

void vm_dirty_mark_all(struct vm *vm)
{
    rv64_mark_dirty_range(&vm->board->m, RV64_RAM_BASE, vm->ram.size);
}

void vm_dirty_harvest(struct vm *vm, uint64_t *bitmap)
{
    /* the harts' TLBs are flushed by the harvest: only parked harts may be touched */
    bool running = vm->started && !vm_is_paused(vm);
    if (running)
        rv64_machine_pause(&vm->board->m);
    rv64_machine_dirty_harvest(&vm->board->m, bitmap);
    if (running)
        rv64_machine_resume(&vm->board->m);
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
    return atomic_load(&vm->board->m.exit_reason) != RV64_EXIT_NONE;
}

void vm_request_stop(struct vm *vm)
{
    rv64_machine_exit(&vm->board->m, RV64_EXIT_HOST, 0);
}

int vm_wait(struct vm *vm)
{
    if (vm->started) {
        wait_and_join(vm);
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
    virt_board_destroy(vm->board);
    guest_ram_destroy(&vm->ram);
    free(vm->board);
    free(vm);
}

struct virt_board *vm_board(struct vm *vm)
{
    return vm->board;
}

struct virtio_mmio *vm_device(struct vm *vm, enum vm_device_kind kind, const char *id)
{
    return vm_devices_find(&vm->devices, kind, id);
}

int vm_finish(struct vm *vm)
{
    wait_and_join(vm);
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
