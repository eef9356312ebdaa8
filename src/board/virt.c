/* virt.c — wires the `virt` board's devices to the bus and the vCPUs, and describes them in a
 * device tree (libfdt) the way QEMU's virt machine does, so the same kernels and firmware boot. */
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "board/riscv_image.h"
#include "board/virt.h"
#include "common/persist.h"

/* RISC-V interrupt numbers (privileged spec): the harts' inputs the board's lines drive, the
 * same whichever backend runs the harts */
#define IRQ_M_SOFT  3
#define IRQ_M_TIMER 7
#define IRQ_S_EXT   9
#define IRQ_M_EXT   11

/* PLIC context n → hart n/2's machine (even) or supervisor (odd) external interrupt input. */
static void plic_context_irq(void *opaque, unsigned ctx, bool level)
{
    struct virt_board *b = opaque;
    vcpus_set_irq(b->base.cpus, ctx / 2, (ctx & 1) ? IRQ_S_EXT : IRQ_M_EXT, level);
}

static void finisher_event(void *opaque, enum finisher_event ev, int code)
{
    struct virt_board *b = opaque;
    switch (ev) {
    case FINISHER_POWEROFF: vcpus_stop(b->base.cpus, VCPU_EXIT_POWEROFF, 0); break;
    case FINISHER_RESET: vcpus_stop(b->base.cpus, VCPU_EXIT_RESET, 0); break;
    case FINISHER_FAIL: vcpus_stop(b->base.cpus, VCPU_EXIT_FAIL, code); break;
    }
}

/* a device wrote guest RAM: the vCPUs' backend may hold decoded code or dirty bits for it */
static void ram_written(void *opaque, uint64_t gpa, uint64_t len)
{
    vcpus_ram_written(opaque, gpa, len);
}

bool virt_next_virtio_irq(struct virt_board *b, struct irq_line *irq)
{
    if (b->nvirtio == VIRT_VIRTIO_SLOTS)
        return false;
    *irq = plic_source_line(&b->plic, VIRT_VIRTIO_IRQ0 + b->nvirtio);
    return true;
}

void virt_attach_virtio(struct virt_board *b, struct virtio_mmio *t)
{
    struct mmio_region r = virtio_mmio_region(t, VIRT_VIRTIO_BASE + b->nvirtio * VIRTIO_MMIO_SLOT_SIZE);
    b->virtio[b->nvirtio++] = t;
    bus_add(&b->bus, &r);   /* slots are fixed and disjoint: cannot fail */
}

static struct vcpus *create_cpus(struct virt_board *b, const struct board_params *p)
{
    if (p->cpus == 0 || p->cpus > VIRT_MAX_CPUS || p->cpus > p->backend->max_cpus)
        return NULL;
    struct vcpu_params cp = { .ram = p->ram, .ram_base = VIRT_RAM_BASE, .ram_size = p->ram_size,
                              .cpus = p->cpus, .bus = &b->bus, .console_out = p->pv_console_tx,
                              .console_opaque = p->pv_console_opaque, .cpu_quota = p->cpu_quota,
                              .vcpu_priority = p->vcpu_priority, .jit = p->jit,
                              .jit_cache_bytes = p->jit_cache_bytes };
    return p->backend->create(&cp);
}

int virt_board_init(struct virt_board *b, const struct board_params *p)
{
    memset(b, 0, sizeof(*b));
    b->base.type = &virt_board_type;
    b->boot = p->boot;
    b->ncpus = p->cpus;
    if (!(b->base.cpus = create_cpus(b, p)))
        return -1;
    b->base.mem = (struct guest_mem){ .host = p->ram, .base = VIRT_RAM_BASE, .size = p->ram_size,
                                      .written = ram_written, .written_opaque = b->base.cpus };

    struct irq_line ctx_lines[PLIC_MAX_CONTEXTS];
    for (unsigned i = 0; i < 2 * p->cpus; i++)
        ctx_lines[i] = (struct irq_line){ .set = plic_context_irq, .opaque = b, .n = i };
    if (plic_init(&b->plic, p->cpus, ctx_lines) != 0) {
        vcpus_destroy(b->base.cpus);
        return -1;
    }
    uart16550_init(&b->uart, plic_source_line(&b->plic, VIRT_UART_IRQ), p->console_tx, p->console_opaque);
    /* a bare-metal program alone polls the UART; an OS takes input by interrupt once it listens */
    b->uart.rx_needs_irq = !(p->boot && p->boot->firmware && !p->boot->kernel);
    goldfish_rtc_init(&b->rtc, plic_source_line(&b->plic, VIRT_RTC_IRQ));
    finisher_init(&b->finisher, finisher_event, b);
    boot_timer_init(&b->boot_timer, p->start_ns, stderr);

    struct mmio_region regions[7] = {
        finisher_region(&b->finisher, VIRT_FINISHER_BASE),
        goldfish_rtc_region(&b->rtc, VIRT_RTC_BASE),
        boot_timer_region(&b->boot_timer, VIRT_BOOT_TIMER_BASE),
        plic_region(&b->plic, VIRT_PLIC_BASE),
        uart16550_region(&b->uart, VIRT_UART_BASE),
    };
    size_t n = 5;
    if (b->base.cpus->be->local_region(b->base.cpus, VIRT_CLINT_BASE, &regions[n]))
        n++;
    b->initialized = true;
    for (size_t i = 0; i < n; i++)
        if (bus_add(&b->bus, &regions[i]) != 0) {
            fprintf(stderr, "kiln: internal error: overlapping device %s\n", regions[i].name);
            virt_board_destroy(b);
            return -1;
        }
    return 0;
}

void virt_board_destroy(struct virt_board *b)
{
    if (!b->initialized)
        return;
    for (unsigned i = 0; i < b->nvirtio; i++)
        b->virtio[i]->ops->destroy(b->virtio[i]);
    b->nvirtio = 0;
    goldfish_rtc_destroy(&b->rtc);
    uart16550_destroy(&b->uart);
    plic_destroy(&b->plic);
    vcpus_destroy(b->base.cpus);
    b->base.cpus = NULL;
    b->initialized = false;
}

/* ---- state ---- */

void virt_board_save(struct virt_board *b, struct persist_writer *w)
{
    plic_save(&b->plic, w);
    uart16550_save(&b->uart, w);
    goldfish_rtc_save(&b->rtc, w);
}

/* After the vCPUs: the PLIC then drives the harts' external interrupt inputs from its own
 * restored state. The CLINT's state lives in the harts; the finisher and the boot timer have
 * none the guest can observe. */
int virt_board_restore(struct virt_board *b, struct persist_reader *r)
{
    if (plic_restore(&b->plic, r) != 0 || uart16550_restore(&b->uart, r) != 0 ||
        goldfish_rtc_restore(&b->rtc, r) != 0)
        return -1;
    return 0;
}

/* ---- device tree ---- */

#define CHECK(x) do { if ((x) < 0) return -1; } while (0)

static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
    fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
    return fdt_property(fdt, "reg", reg, sizeof(reg));
}

enum { PHANDLE_PLIC = 1, PHANDLE_TEST = 2, PHANDLE_INTC0 = 16 };

static int fdt_cpus(void *fdt, unsigned n, uint64_t timebase_hz, const char *isa)
{
    CHECK(fdt_begin_node(fdt, "cpus"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 1));
    CHECK(fdt_property_u32(fdt, "#size-cells", 0));
    CHECK(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)timebase_hz));
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cpu@%u", i);
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_string(fdt, "device_type", "cpu"));
        CHECK(fdt_property_u32(fdt, "reg", i));
        CHECK(fdt_property_string(fdt, "status", "okay"));
        CHECK(fdt_property_string(fdt, "compatible", "riscv"));
        CHECK(fdt_property_string(fdt, "riscv,isa", isa));
        CHECK(fdt_property_string(fdt, "mmu-type", "riscv,sv48"));
        CHECK(fdt_begin_node(fdt, "interrupt-controller"));
        CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
        CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
        CHECK(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
        CHECK(fdt_property_u32(fdt, "phandle", PHANDLE_INTC0 + i));
        CHECK(fdt_end_node(fdt));
        CHECK(fdt_end_node(fdt));
    }
    CHECK(fdt_end_node(fdt));
    return 0;
}

/* interrupts-extended = <&intc_i irq_a &intc_i irq_b ...> for every hart */
static int prop_per_hart_irqs(void *fdt, unsigned n, uint32_t irq_a, uint32_t irq_b)
{
    fdt32_t cells[4 * VIRT_MAX_CPUS];
    for (unsigned i = 0; i < n; i++) {
        cells[4 * i + 0] = cpu_to_fdt32(PHANDLE_INTC0 + i);
        cells[4 * i + 1] = cpu_to_fdt32(irq_a);
        cells[4 * i + 2] = cpu_to_fdt32(PHANDLE_INTC0 + i);
        cells[4 * i + 3] = cpu_to_fdt32(irq_b);
    }
    return fdt_property(fdt, "interrupts-extended", cells, 4 * n * sizeof(fdt32_t));
}

static int fdt_soc(void *fdt, unsigned n, unsigned nvirtio, uint64_t clint_size)
{
    CHECK(fdt_begin_node(fdt, "soc"));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_string(fdt, "compatible", "simple-bus"));
    CHECK(fdt_property(fdt, "ranges", NULL, 0));

    CHECK(fdt_begin_node(fdt, "clint@2000000"));
    static const char clint_compat[] = "sifive,clint0\0riscv,clint0";
    CHECK(fdt_property(fdt, "compatible", clint_compat, sizeof(clint_compat)));
    CHECK(prop_reg(fdt, VIRT_CLINT_BASE, clint_size));
    CHECK(prop_per_hart_irqs(fdt, n, IRQ_M_SOFT, IRQ_M_TIMER));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_begin_node(fdt, "plic@c000000"));
    static const char plic_compat[] = "sifive,plic-1.0.0\0riscv,plic0";
    CHECK(fdt_property(fdt, "compatible", plic_compat, sizeof(plic_compat)));
    CHECK(fdt_property_u32(fdt, "#address-cells", 0));
    CHECK(fdt_property_u32(fdt, "#interrupt-cells", 1));
    CHECK(fdt_property(fdt, "interrupt-controller", NULL, 0));
    CHECK(prop_reg(fdt, VIRT_PLIC_BASE, VIRT_PLIC_SIZE));
    CHECK(fdt_property_u32(fdt, "riscv,ndev", VIRT_PLIC_NDEV));
    CHECK(prop_per_hart_irqs(fdt, n, IRQ_M_EXT, IRQ_S_EXT));
    CHECK(fdt_property_u32(fdt, "phandle", PHANDLE_PLIC));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_begin_node(fdt, "serial@10000000"));
    CHECK(fdt_property_string(fdt, "compatible", "ns16550a"));
    CHECK(prop_reg(fdt, VIRT_UART_BASE, 0x100));
    CHECK(fdt_property_u32(fdt, "clock-frequency", 3686400));
    CHECK(fdt_property_u32(fdt, "interrupts", VIRT_UART_IRQ));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", PHANDLE_PLIC));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_begin_node(fdt, "rtc@101000"));
    CHECK(fdt_property_string(fdt, "compatible", "google,goldfish-rtc"));
    CHECK(prop_reg(fdt, VIRT_RTC_BASE, 0x1000));
    CHECK(fdt_property_u32(fdt, "interrupts", VIRT_RTC_IRQ));
    CHECK(fdt_property_u32(fdt, "interrupt-parent", PHANDLE_PLIC));
    CHECK(fdt_end_node(fdt));

    for (unsigned i = 0; i < nvirtio; i++) {
        char name[32];
        uint64_t base = VIRT_VIRTIO_BASE + i * VIRTIO_MMIO_SLOT_SIZE;
        snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)base);
        CHECK(fdt_begin_node(fdt, name));
        CHECK(fdt_property_string(fdt, "compatible", "virtio,mmio"));
        CHECK(prop_reg(fdt, base, VIRTIO_MMIO_SLOT_SIZE));
        CHECK(fdt_property_u32(fdt, "interrupts", VIRT_VIRTIO_IRQ0 + i));
        CHECK(fdt_property_u32(fdt, "interrupt-parent", PHANDLE_PLIC));
        CHECK(fdt_end_node(fdt));
    }

    CHECK(fdt_begin_node(fdt, "test@100000"));
    static const char test_compat[] = "sifive,test1\0sifive,test0\0syscon";
    CHECK(fdt_property(fdt, "compatible", test_compat, sizeof(test_compat)));
    CHECK(prop_reg(fdt, VIRT_FINISHER_BASE, 0x1000));
    CHECK(fdt_property_u32(fdt, "phandle", PHANDLE_TEST));
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_end_node(fdt));
    return 0;
}

static int fdt_syscon_action(void *fdt, const char *node, const char *compat, uint32_t value)
{
    CHECK(fdt_begin_node(fdt, node));
    CHECK(fdt_property_string(fdt, "compatible", compat));
    CHECK(fdt_property_u32(fdt, "regmap", PHANDLE_TEST));
    CHECK(fdt_property_u32(fdt, "offset", 0));
    CHECK(fdt_property_u32(fdt, "value", value));
    CHECK(fdt_end_node(fdt));
    return 0;
}

int virt_build_fdt(struct virt_board *b, const struct virt_boot_info *info, void *buf, size_t bufsize)
{
    void *fdt = buf;
    CHECK(fdt_create(fdt, (int)bufsize));
    CHECK(fdt_finish_reservemap(fdt));
    CHECK(fdt_begin_node(fdt, ""));
    CHECK(fdt_property_u32(fdt, "#address-cells", 2));
    CHECK(fdt_property_u32(fdt, "#size-cells", 2));
    CHECK(fdt_property_string(fdt, "compatible", "riscv-virtio"));
    CHECK(fdt_property_string(fdt, "model", "kiln,virt"));

    CHECK(fdt_begin_node(fdt, "chosen"));
    CHECK(fdt_property_string(fdt, "bootargs", info->cmdline ? info->cmdline : ""));
    CHECK(fdt_property_string(fdt, "stdout-path", "/soc/serial@10000000"));
    if (info->initrd_end > info->initrd_start) {
        CHECK(fdt_property_u64(fdt, "linux,initrd-start", info->initrd_start));
        CHECK(fdt_property_u64(fdt, "linux,initrd-end", info->initrd_end));
    }
    CHECK(fdt_end_node(fdt));

    CHECK(fdt_begin_node(fdt, "memory@80000000"));
    CHECK(fdt_property_string(fdt, "device_type", "memory"));
    CHECK(prop_reg(fdt, VIRT_RAM_BASE, b->base.mem.size));
    CHECK(fdt_end_node(fdt));

    const struct vcpu_backend *be = b->base.cpus->be;
    struct mmio_region clint;
    if (!be->local_region(b->base.cpus, VIRT_CLINT_BASE, &clint))
        return -1;   /* a backend without one would describe its own timer here */
    CHECK(fdt_cpus(fdt, b->ncpus, be->timebase_hz, be->isa));
    CHECK(fdt_soc(fdt, b->ncpus, b->nvirtio, clint.size));
    /* no syscon-poweroff node: the guest powers off through SBI SRST (kiln's or OpenSBI's), and
     * Linux complains when both claim pm_power_off */
    CHECK(fdt_syscon_action(fdt, "reboot", "syscon-reboot", 0x7777));

    CHECK(fdt_end_node(fdt));
    CHECK(fdt_finish(fdt));
    return (int)fdt_totalsize(fdt);
}

/* ---- the board_type ---- */

static int create(const struct board_params *p, struct board **out)
{
    struct virt_board *b = calloc(1, sizeof(*b));
    if (!b)
        return -1;
    if (virt_board_init(b, p) != 0) {
        free(b);
        return -1;
    }
    *out = &b->base;
    return 0;
}

static void destroy(struct board *base)
{
    virt_board_destroy((struct virt_board *)base);
    free(base);
}

static int load(struct board *b, struct vcpu_boot *out, char *err, size_t errlen)
{
    return virt_load((struct virt_board *)b, out, err, errlen);
}

static bool next_virtio(struct board *b, struct irq_line *irq)
{
    return virt_next_virtio_irq((struct virt_board *)b, irq);
}

static void attach_virtio(struct board *b, struct virtio_mmio *t)
{
    virt_attach_virtio((struct virt_board *)b, t);
}

static void save(struct board *b, struct persist_writer *w)
{
    virt_board_save((struct virt_board *)b, w);
}

static int restore(struct board *b, struct persist_reader *r)
{
    return virt_board_restore((struct virt_board *)b, r);
}

static struct uart16550 *console(struct board *b)
{
    return &((struct virt_board *)b)->uart;
}

static struct boot_timer *boot_timer(struct board *b)
{
    return &((struct virt_board *)b)->boot_timer;
}

static bool probe(const uint8_t *head, size_t len)
{
    return riscv_image_probe(head, len);
}

const struct board_type virt_board_type = {
    .name = "virt",
    .arch = "riscv64",
    .ram_base = VIRT_RAM_BASE,
    .probe = probe,
    .create = create,
    .destroy = destroy,
    .load = load,
    .next_virtio = next_virtio,
    .attach_virtio = attach_virtio,
    .save = save,
    .restore = restore,
    .console = console,
    .boot_timer = boot_timer,
};
