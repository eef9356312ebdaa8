/* mptable.c — the MP tables (layout in mptable.h). */
#include <string.h>
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

#define CPU_SIGNATURE 0x600           /* family 6: what the entry reports; Linux uses CPUID */
#define CPU_FEATURES  ((1u << 9) | 1) /* APIC and FPU */

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    return (uint8_t)-sum;
}

static size_t table_size(unsigned ncpus)
{
    return sizeof(struct mpc_table) + ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
           sizeof(struct mpc_ioapic) + (X86_MP_IRQS + 2) * sizeof(struct mpc_intsrc);
}

size_t x86_mptable_size(unsigned ncpus)
{
    return sizeof(struct mpf_intel) + table_size(ncpus);
}

unsigned x86_mptable_max_cpus(void)
{
    return (unsigned)((X86_MPTABLE_MAX - x86_mptable_size(0)) / sizeof(struct mpc_cpu));
}

int x86_mptable_write(const struct guest_mem *ram, unsigned ncpus)
{
    if (ncpus == 0 || ncpus > x86_mptable_max_cpus())
        return -1;
    size_t total = x86_mptable_size(ncpus);
    uint8_t *base = guest_mem_ptr(ram, X86_MPTABLE_ADDR, total);
    if (!base)
        return -1;
    memset(base, 0, total);

    struct mpf_intel *mpf = (struct mpf_intel *)base;
    uint8_t *p = base + sizeof(*mpf);
    struct mpc_table *mpc = (struct mpc_table *)p;
    p += sizeof(*mpc);
    uint16_t count = 0;

    for (unsigned i = 0; i < ncpus; i++, count++, p += sizeof(struct mpc_cpu)) {
        struct mpc_cpu c = {
            .type = MP_PROCESSOR, .apicid = (uint8_t)i, .apicver = X86_MP_APIC_VER,
            .cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
            .cpufeature = CPU_SIGNATURE, .featureflag = CPU_FEATURES,
        };
        memcpy(p, &c, sizeof(c));
    }
    struct mpc_bus bus = { .type = MP_BUS, .busid = 0 };
    memcpy(bus.bustype, "ISA   ", sizeof(bus.bustype));   /* space padded, no NUL */
    memcpy(p, &bus, sizeof(bus));
    p += sizeof(bus), count++;
    uint8_t ioapic_id = (uint8_t)ncpus;   /* the first APIC id after the vCPUs' */
    struct mpc_ioapic io = { .type = MP_IOAPIC, .apicid = ioapic_id, .apicver = X86_MP_APIC_VER,
                             .flags = MP_APIC_USABLE, .apicaddr = (uint32_t)X86_IOAPIC_ADDR };
    memcpy(p, &io, sizeof(io));
    p += sizeof(io), count++;
    for (unsigned irq = 0; irq < X86_MP_IRQS; irq++, count++, p += sizeof(struct mpc_intsrc)) {
        struct mpc_intsrc s = { .type = MP_INTSRC, .irqtype = MP_INT, .srcbus = 0,
                                .srcbusirq = (uint8_t)irq, .dstapic = ioapic_id,
                                .dstirq = (uint8_t)irq };
        memcpy(p, &s, sizeof(s));
    }
    /* the local APICs' LINT0 takes the 8259's ExtINT, LINT1 the NMI, on every CPU (0xff) */
    struct mpc_intsrc lint0 = { .type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff,
                                .dstirq = 0 };
    struct mpc_intsrc lint1 = { .type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff,
                                .dstirq = 1 };
    memcpy(p, &lint0, sizeof(lint0));
    p += sizeof(lint0), count++;
    memcpy(p, &lint1, sizeof(lint1));
    p += sizeof(lint1), count++;

    memcpy(mpc->signature, "PCMP", 4);
    mpc->length = (uint16_t)table_size(ncpus);
    mpc->spec = 4;
    memcpy(mpc->oem, "KILN    ", 8);
    memcpy(mpc->productid, "MICROVM     ", 12);
    mpc->oemcount = count;
    mpc->lapic = (uint32_t)X86_LAPIC_ADDR;
    mpc->checksum = checksum((const uint8_t *)mpc, mpc->length);

    memcpy(mpf->signature, "_MP_", 4);
    mpf->physptr = (uint32_t)(X86_MPTABLE_ADDR + sizeof(*mpf));
    mpf->length = 1;
    mpf->specification = 4;
    mpf->checksum = checksum(base, sizeof(*mpf));
    guest_mem_written(ram, base, total);
    return 0;
}
