/* microvm.c — the x86-64 microVM board (see microvm.h): its devices on the MMIO and port buses,
 * interrupt lines to the hypervisor's irqchip, and the boot through arch/x86. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "board/microvm.h"
#include "common/errmsg.h"
#include "dev/pio.h"
#include "dev/virtio/mmio.h"
#include "vm/config.h"
#include "vm/loader.h"

/* An ISA IRQ or IOAPIC pin: the vCPU backend drives the irqchip input of that number. */
static void gsi_set(void *opaque, unsigned gsi, bool level)
{
    struct microvm_board *b = opaque;
    vcpus_set_irq(b->base.cpus, 0, gsi, level);
}

static struct irq_line gsi_line(struct microvm_board *b, unsigned gsi)
{
    return (struct irq_line){ .set = gsi_set, .opaque = b, .n = gsi };
}

static void finisher_event(void *opaque, enum finisher_event ev, int code)
{
    struct microvm_board *b = opaque;
    switch (ev) {
    case FINISHER_POWEROFF: vcpus_stop(b->base.cpus, VCPU_EXIT_POWEROFF, 0); break;
    case FINISHER_RESET: vcpus_stop(b->base.cpus, VCPU_EXIT_RESET, 0); break;
    case FINISHER_FAIL: vcpus_stop(b->base.cpus, VCPU_EXIT_FAIL, code); break;
    }
}

/* the i8042's CPU reset line: Linux's `reboot` (reboot=k, its default after ACPI) */
static void kbd_reset(void *opaque)
{
    struct microvm_board *b = opaque;
    vcpus_stop(b->base.cpus, VCPU_EXIT_RESET, 0);
}

static void ram_written(void *opaque, uint64_t gpa, uint64_t len)
{
    vcpus_ram_written(opaque, gpa, len);
}

int microvm_cmdline(char *out, size_t len, const char *user, unsigned nvirtio)
{
    int n = snprintf(out, len, "%s%si8042.noaux", user ? user : "", user && *user ? " " : "");
    for (unsigned i = 0; n >= 0 && (size_t)n < len && i < nvirtio; i++)
        n += snprintf(out + n, len - (size_t)n, " virtio_mmio.device=4K@0x%llx:%u",
                      (unsigned long long)(MICROVM_VIRTIO_BASE + i * VIRTIO_MMIO_SLOT_SIZE),
                      MICROVM_VIRTIO_GSI0 + i);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

static void destroy_devices(struct microvm_board *b)
{
    for (unsigned i = 0; i < b->nvirtio; i++)
        b->virtio[i]->ops->destroy(b->virtio[i]);
    b->nvirtio = 0;
    uart16550_destroy(&b->uart);
    i8042_destroy(&b->kbd);
    cmos_rtc_destroy(&b->rtc);
}

static int create(const struct board_params *p, struct board **out)
{
    if (p->ram_size > MICROVM_MAX_RAM) {
        errmsg(p->err, p->errlen, "the x86-64 board takes at most %llu MiB of RAM (--mem)",
               MICROVM_MAX_RAM >> 20);
        return KILN_EXIT_USAGE;
    }
    if (p->cpus == 0 || p->cpus > p->backend->max_cpus || p->cpus > x86_mptable_max_cpus()) {
        errmsg(p->err, p->errlen, "the x86-64 board takes 1 to %u vCPUs",
               p->backend->max_cpus < x86_mptable_max_cpus() ? p->backend->max_cpus
                                                              : x86_mptable_max_cpus());
        return KILN_EXIT_USAGE;
    }
    struct microvm_board *b = calloc(1, sizeof(*b));
    if (!b)
        return -1;
    b->base.type = &microvm_board_type;
    b->boot = p->boot;
    b->ncpus = p->cpus;
    struct vcpu_params cp = { .ram = p->ram, .ram_base = 0, .ram_size = p->ram_size,
                              .cpus = p->cpus, .bus = &b->bus, .ports = &b->ports,
                              .console_out = p->pv_console_tx,
                              .console_opaque = p->pv_console_opaque, .cpu_quota = p->cpu_quota,
                              .vcpu_priority = p->vcpu_priority, .err = p->err, .errlen = p->errlen };
    if (!(b->base.cpus = p->backend->create(&cp))) {
        free(b);
        /* the hypervisor said why (KVM refused something); without a reason it was memory */
        return p->err && *p->err ? KILN_EXIT_HOST : -1;
    }
    b->base.mem = (struct guest_mem){ .host = p->ram, .base = 0, .size = p->ram_size,
                                      .written = ram_written, .written_opaque = b->base.cpus };
    uart16550_init(&b->uart, gsi_line(b, MICROVM_UART_GSI), p->console_tx, p->console_opaque);
    i8042_init(&b->kbd, gsi_line(b, I8042_KBD_IRQ), kbd_reset, b);
    cmos_rtc_init(&b->rtc);
    finisher_init(&b->finisher, finisher_event, b);
    boot_timer_init(&b->boot_timer, p->start_ns, stderr);

    struct mmio_region uart = pio_region(uart16550_region(&b->uart, 0), PIO_COM1_BASE, PIO_UART_SIZE);
    struct mmio_region kbd = i8042_region(&b->kbd);
    struct mmio_region rtc = cmos_rtc_region(&b->rtc);
    struct mmio_region fin = finisher_region(&b->finisher, MICROVM_FINISHER_BASE);
    struct mmio_region timer = boot_timer_region(&b->boot_timer, MICROVM_BOOT_TIMER_BASE);
    if (bus_add(&b->ports, &uart) || bus_add(&b->ports, &kbd) || bus_add(&b->ports, &rtc) ||
        bus_add(&b->bus, &fin) ||
        bus_add(&b->bus, &timer)) {
        fprintf(stderr, "kiln: internal error: overlapping devices on the x86-64 board\n");
        destroy_devices(b);
        vcpus_destroy(b->base.cpus);
        free(b);
        return -1;
    }
    *out = &b->base;
    return 0;
}

static void destroy(struct board *base)
{
    struct microvm_board *b = (struct microvm_board *)base;
    destroy_devices(b);
    vcpus_destroy(b->base.cpus);
    free(b);
}

static int load(struct board *base, struct vcpu_boot *out, char *err, size_t errlen)
{
    struct microvm_board *b = (struct microvm_board *)base;
    const struct board_boot *boot = b->boot;
    if (boot->firmware) {
        errmsg(err, errlen, "the x86-64 board boots a Linux kernel directly: --firmware is not "
               "supported on it");
        return KILN_EXIT_USAGE;
    }
    if (!boot->kernel) {
        errmsg(err, errlen, "the x86-64 board needs a --kernel");
        return KILN_EXIT_USAGE;
    }
    if (boot->dtb_out) {
        errmsg(err, errlen, "--dtb-out: the x86-64 board has no device tree");
        return KILN_EXIT_USAGE;
    }
    /* a `kiln run --rm` sandbox: its guest side (kiln-run, the stderr console hvc0) is RISC-V's
     * so far; refused rather than left to hang */
    if (boot->cmdline && strstr(boot->cmdline, "kiln.run=")) {
        errmsg(err, errlen, "kiln run --rm: sandboxes need a RISC-V guest for now (the x86-64 "
               "guest has no sandbox console)");
        return KILN_EXIT_USAGE;
    }
    char cmdline[X86_CMDLINE_MAX];
    if (microvm_cmdline(cmdline, sizeof(cmdline), boot->cmdline, b->nvirtio) < 0) {
        errmsg(err, errlen, "the kernel command line with the virtio devices exceeds %llu bytes",
               X86_CMDLINE_MAX - 1);
        return KILN_EXIT_USAGE;
    }
    uint8_t *kernel = NULL, *initrd = NULL;
    size_t klen = 0, ilen = 0;
    int rc = loader_read_file(boot->kernel, &kernel, &klen, b->base.mem.size, err, errlen);
    if (!rc && boot->initrd)
        rc = loader_read_file(boot->initrd, &initrd, &ilen, b->base.mem.size, err, errlen);
    if (!rc) {
        struct x86_boot_request rq = { .kernel = kernel, .kernel_len = klen, .initrd = initrd,
                                       .initrd_len = ilen, .cmdline = cmdline,
                                       .ram_size = b->base.mem.size, .cpus = b->ncpus };
        struct x86_boot_plan plan;
        char why[400];
        if (x86_boot_prepare(&b->base.mem, &rq, &plan, why, sizeof(why))) {
            errmsg(err, errlen, "'%s': %s", boot->kernel, why);
            rc = KILN_EXIT_BAD_IMAGE;
        } else {
            *out = (struct vcpu_boot){
                .entry = plan.entry, .mode = plan.mode,
                .table = plan.mode == X86_BOOT_MODE_PVH32 ? X86_PVH_INFO_ADDR : X86_ZERO_PAGE_ADDR,
            };
        }
    }
    free(kernel);
    free(initrd);
    return rc;
}

static bool next_virtio(struct board *base, struct irq_line *irq)
{
    struct microvm_board *b = (struct microvm_board *)base;
    if (b->nvirtio == MICROVM_VIRTIO_SLOTS)
        return false;
    *irq = gsi_line(b, MICROVM_VIRTIO_GSI0 + b->nvirtio);
    return true;
}

static void attach_virtio(struct board *base, struct virtio_mmio *t)
{
    struct microvm_board *b = (struct microvm_board *)base;
    struct mmio_region r = virtio_mmio_region(t, MICROVM_VIRTIO_BASE + b->nvirtio * VIRTIO_MMIO_SLOT_SIZE);
    b->virtio[b->nvirtio++] = t;
    bus_add(&b->bus, &r);   /* slots are fixed and disjoint: cannot fail */
}

/* The board's own devices; the PIC, IOAPIC, local APICs and PIT are KVM's and go with the
 * vCPUs' state (restored first: the devices then re-drive their lines into the restored
 * irqchip). The finisher and the boot timer have no state the guest can observe. */
static void save(struct board *base, struct persist_writer *w)
{
    struct microvm_board *b = (struct microvm_board *)base;
    uart16550_save(&b->uart, w);
    i8042_save(&b->kbd, w);
    cmos_rtc_save(&b->rtc, w);
}

static int restore(struct board *base, struct persist_reader *r)
{
    struct microvm_board *b = (struct microvm_board *)base;
    if (uart16550_restore(&b->uart, r) != 0 || i8042_restore(&b->kbd, r) != 0 ||
        cmos_rtc_restore(&b->rtc, r) != 0)
        return -1;
    return 0;
}

static struct uart16550 *console(struct board *b)
{
    return &((struct microvm_board *)b)->uart;
}

static struct boot_timer *boot_timer(struct board *b)
{
    return &((struct microvm_board *)b)->boot_timer;
}

bool microvm_ctrl_alt_del(struct board *b)
{
    return i8042_send_ctrl_alt_del(&((struct microvm_board *)b)->kbd);
}

const struct board_type microvm_board_type = {
    .name = "microvm",
    .arch = "x86_64",
    .ram_base = 0,
    .probe = x86_kernel_probe,
    .create = create,
    .destroy = destroy,
    .load = load,
    .next_virtio = next_virtio,
    .attach_virtio = attach_virtio,
    .save = save,
    .restore = restore,
    .console = console,
    .boot_timer = boot_timer,
    .ctrl_alt_del = microvm_ctrl_alt_del,
};
