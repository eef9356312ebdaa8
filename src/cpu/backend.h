/* backend.h — the vCPU backend interface: what the VM and the board ask of "the CPUs", whatever
 * runs them (the rv64 software machine today, KVM later). A backend is a table of operations on
 * one VM's vCPUs; nothing outside cpu/ and board/ knows which table is in use.
 *
 * Lifecycle: create (on the VM's guest RAM and the board's MMIO bus) → reset (the boot state) or
 * restore → start (one host thread per vCPU) → pause/resume any number of times → stop (any
 * thread: the guest powered off, a signal, the console escape) → wait → destroy. */
#ifndef KILN_CPU_BACKEND_H
#define KILN_CPU_BACKEND_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dev/mmio.h"

struct bus;
struct cpu_quota;
struct persist_reader;
struct persist_writer;

/* Why the vCPUs stopped. The first reason recorded wins. */
enum vcpu_exit_reason {
    VCPU_EXIT_NONE = 0,
    VCPU_EXIT_POWEROFF,
    VCPU_EXIT_RESET,        /* the guest asked for a reboot */
    VCPU_EXIT_FAIL,         /* the guest reported failure with an exit code (test finisher) */
    VCPU_EXIT_GUEST_CRASH,  /* the guest wedged itself beyond recovery; msg says how */
    VCPU_EXIT_HOST,         /* the host asked (console escape, signal, API) */
};

struct vcpu_exit {
    enum vcpu_exit_reason reason;
    int code;               /* VCPU_EXIT_FAIL: the guest's exit code */
    const char *msg;        /* VCPU_EXIT_GUEST_CRASH: one line (and the vCPU's state); else "" */
};

struct vcpu_params {
    uint8_t *ram;           /* the VM's guest RAM (page aligned), which outlives the vCPUs */
    uint64_t ram_base;      /* its guest physical address (the board's memory map) */
    uint64_t ram_size;
    unsigned cpus;
    struct bus *bus;        /* everything that is not RAM: the board's devices */
    struct bus *ports;      /* x86 port I/O (dev/pio.h); NULL on architectures without it */
    /* the paravirtual console (RISC-V: the SBI debug console, the guest's hvc0); may be NULL */
    void (*console_out)(void *opaque, const uint8_t *buf, size_t len);
    void *console_opaque;
    /* the VM's CPU limit (common/cpu_quota.h), owned by the VM and outliving the vCPUs, which
     * charge the CPU time their threads use to it and sleep out a period once it is used; NULL
     * or a quota of 0: none. vcpu_priority (enum cpu_priority): what each vCPU thread lowers its
     * own host priority to when it starts. */
    struct cpu_quota *cpu_quota;
    int vcpu_priority;
    /* software backends: translate guest code to host code (a JIT) instead of interpreting it,
     * with a code cache of jit_cache_bytes per vCPU (0: the backend's default); a hardware
     * backend has nothing to translate and ignores both */
    bool jit;
    size_t jit_cache_bytes;
    char *err;              /* create failed: why, in one line (may be NULL) */
    size_t errlen;
};

/* The state the vCPUs boot in, prepared by the board from what it loaded. */
struct vcpu_boot {
    uint64_t entry;         /* where the boot vCPU starts */
    bool firmware;          /* entry is firmware (it owns the machine: RISC-V M-mode), not a
                             * kernel started directly with kiln answering its hypercalls */
    uint64_t table;         /* the boot-time table's address (RISC-V: the device tree) */
    uint64_t firmware_info; /* firmware boots: the handoff block (OpenSBI fw_dynamic info) */
    unsigned mode;          /* how the boot vCPU enters (x86: enum x86_boot_mode, PVH or 64-bit) */
};

struct vcpus;

struct vcpu_backend {
    const char *name;       /* the accelerator's name, as --accel takes it: "rv64" */
    const char *arch;       /* the guest architecture it runs, as snapshots record it */
    unsigned max_cpus;
    uint64_t timebase_hz;   /* the guest's timer frequency, for the boot tables */
    const char *isa;        /* the ISA the boot tables advertise (RISC-V "riscv,isa") */

    /* Can this host run the backend at all (KVM: /dev/kvm exists and may be opened)? 0, or a
     * kiln exit status with a one-line reason in err. NULL: always. */
    int (*host_check)(char *err, size_t errlen);
    /* NULL when the host refuses (memory, threads, the hypervisor) or the parameters are out of
     * range; p->err then says why when the backend knows */
    struct vcpus *(*create)(const struct vcpu_params *p);
    /* the vCPUs must not run (never started, or waited for) */
    void (*destroy)(struct vcpus *v);
    /* every vCPU to its boot state: the boot vCPU at b->entry, the others waiting to be started
     * by the guest (or all running the firmware) */
    void (*reset)(struct vcpus *v, const struct vcpu_boot *b);
    /* one host thread per vCPU; paused: they park before their first instruction and this
     * returns once they have. Returns 0, or -1 (nothing left running) */
    int (*start)(struct vcpus *v, bool paused);
    /* blocks until the vCPUs stopped (see stop), then joins their threads */
    void (*wait)(struct vcpus *v);
    /* records why the VM stops (first caller wins) and kicks every vCPU out; any thread */
    void (*stop)(struct vcpus *v, enum vcpu_exit_reason reason, int code);
    void (*exit)(struct vcpus *v, struct vcpu_exit *out);
    /* makes a vCPU leave guest code and re-evaluate its interrupts and timers */
    void (*kick)(struct vcpus *v, unsigned cpu);
    /* pause returns once every vCPU is parked at an instruction boundary (or they stopped);
     * guest time keeps running, so the guest's clocks are right after resume */
    void (*pause)(struct vcpus *v);
    void (*resume)(struct vcpus *v);
    bool (*paused)(struct vcpus *v);
    /* Why this backend does not enforce vcpu_params.cpu_quota (a CPU limit is refused with
     * it), or NULL when it does. */
    const char *no_cpu_limit;
    /* Why this backend cannot save its vCPUs (snapshots and migration are refused with it), or
     * NULL when it can. */
    const char *no_save;
    /* architectural state only (not caches, TLBs, threads), as persist sections; paused vCPUs.
     * advance_ns: host time since the save, by which the guest's clocks move on. restore
     * refuses another vCPU count or RAM size */
    void (*save)(struct vcpus *v, struct persist_writer *w);
    int (*restore)(struct vcpus *v, struct persist_reader *r, uint64_t advance_ns);
    /* Dirty-page log, one bit per 4 KiB page of RAM (from ram_base). enable and harvest want
     * paused vCPUs; harvest copies the log into out and clears it; mark sets pages by hand */
    int (*dirty_enable)(struct vcpus *v, bool on);
    void (*dirty_harvest)(struct vcpus *v, uint64_t *out);
    void (*dirty_mark)(struct vcpus *v, uint64_t gpa, uint64_t len);
    /* a device or loader wrote guest RAM behind the vCPUs' back (DMA) */
    void (*ram_written)(struct vcpus *v, uint64_t gpa, uint64_t len);
    /* drives interrupt input `line` of vCPU `cpu` (RISC-V: a mip bit number, e.g. 9 = supervisor
     * external); any thread */
    void (*set_irq)(struct vcpus *v, unsigned cpu, unsigned line, bool level);
    /* the per-vCPU timer and inter-processor interrupt registers, when the backend emulates
     * them (RISC-V: the CLINT, whose comparators live in the harts); false when it has none */
    bool (*local_region)(struct vcpus *v, uint64_t base, struct mmio_region *out);
};

/* Every backend's instance starts with this. */
struct vcpus {
    const struct vcpu_backend *be;
};

static inline void vcpus_destroy(struct vcpus *v) { if (v) v->be->destroy(v); }
static inline void vcpus_reset(struct vcpus *v, const struct vcpu_boot *b) { v->be->reset(v, b); }
static inline int vcpus_start(struct vcpus *v, bool paused) { return v->be->start(v, paused); }
static inline void vcpus_wait(struct vcpus *v) { v->be->wait(v); }
static inline void vcpus_stop(struct vcpus *v, enum vcpu_exit_reason reason, int code)
{
    v->be->stop(v, reason, code);
}
static inline void vcpus_exit(struct vcpus *v, struct vcpu_exit *out) { v->be->exit(v, out); }
static inline bool vcpus_stopped(struct vcpus *v)
{
    struct vcpu_exit e;
    v->be->exit(v, &e);
    return e.reason != VCPU_EXIT_NONE;
}
static inline void vcpus_kick(struct vcpus *v, unsigned cpu) { v->be->kick(v, cpu); }
static inline void vcpus_pause(struct vcpus *v) { v->be->pause(v); }
static inline void vcpus_resume(struct vcpus *v) { v->be->resume(v); }
static inline bool vcpus_paused(struct vcpus *v) { return v->be->paused(v); }
static inline void vcpus_save(struct vcpus *v, struct persist_writer *w) { v->be->save(v, w); }
static inline int vcpus_restore(struct vcpus *v, struct persist_reader *r, uint64_t advance_ns)
{
    return v->be->restore(v, r, advance_ns);
}
static inline int vcpus_dirty_enable(struct vcpus *v, bool on) { return v->be->dirty_enable(v, on); }
static inline void vcpus_dirty_harvest(struct vcpus *v, uint64_t *out) { v->be->dirty_harvest(v, out); }
static inline void vcpus_dirty_mark(struct vcpus *v, uint64_t gpa, uint64_t len)
{
    v->be->dirty_mark(v, gpa, len);
}
static inline void vcpus_ram_written(struct vcpus *v, uint64_t gpa, uint64_t len)
{
    v->be->ram_written(v, gpa, len);
}
static inline void vcpus_set_irq(struct vcpus *v, unsigned cpu, unsigned line, bool level)
{
    v->be->set_irq(v, cpu, line, level);
}

#endif
