/* mptable.h — the Intel MultiProcessor Specification 1.4 tables: how a kernel without ACPI finds
 * the other vCPUs, the IOAPIC and the ISA interrupt routing (Linux: arch/x86/kernel/mpparse.c).
 * Kiln's own definitions of the spec's layouts (the kernel keeps them out of its uapi), checked
 * against the spec's sizes below. */
#ifndef KILN_ARCH_X86_MPTABLE_H
#define KILN_ARCH_X86_MPTABLE_H
#include <stddef.h>
#include <stdint.h>
#include "dev/guest_mem.h"

#define X86_MP_IRQS     24     /* IOAPIC pins: ISA IRQs 0-15 and 16-23 for virtio-mmio */
#define X86_MP_APIC_VER 0x14   /* an integrated local APIC, what KVM's LAPIC reports */

struct mpf_intel {             /* MP floating pointer structure, 16 bytes */
    char signature[4];         /* "_MP_" */
    uint32_t physptr;          /* the configuration table */
    uint8_t length;            /* in 16-byte units: 1 */
    uint8_t specification;     /* 4: MP spec 1.4 */
    uint8_t checksum;          /* all 16 bytes sum to 0 */
    uint8_t feature1;          /* 0: a configuration table is present */
    uint8_t feature2;
    uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {             /* configuration table header, 44 bytes */
    char signature[4];         /* "PCMP" */
    uint16_t length;           /* header and entries */
    uint8_t spec;
    uint8_t checksum;          /* header and entries sum to 0 */
    char oem[8];
    char productid[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t oemcount;         /* number of entries */
    uint32_t lapic;            /* local APIC address */
    uint32_t reserved;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_SMI = 2, MP_EXTINT = 3 };
#define MP_CPU_ENABLED   1
#define MP_CPU_BSP       2
#define MP_APIC_USABLE   1

struct mpc_cpu {               /* 20 bytes */
    uint8_t type, apicid, apicver, cpuflag;
    uint32_t cpufeature;       /* CPUID 1 EAX signature */
    uint32_t featureflag;      /* CPUID 1 EDX */
    uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {               /* 8 bytes */
    uint8_t type, busid;
    char bustype[6];           /* "ISA   " */
} __attribute__((packed));

struct mpc_ioapic {            /* 8 bytes */
    uint8_t type, apicid, apicver, flags;
    uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {            /* I/O and local interrupt assignment, 8 bytes each */
    uint8_t type, irqtype;
    uint16_t irqflag;          /* 0: polarity and trigger conform to the bus */
    uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP configuration table header is 44 bytes");
_Static_assert(offsetof(struct mpc_table, oemcount) == 34, "MP table layout");
_Static_assert(offsetof(struct mpc_table, lapic) == 36, "MP table layout");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_bus) == 8 && sizeof(struct mpc_ioapic) == 8 &&
               sizeof(struct mpc_intsrc) == 8, "MP entries are 8 bytes");

/* Total bytes (floating pointer + table) for ncpus processors. */
size_t x86_mptable_size(unsigned ncpus);
/* The most vCPUs the table fits for in its KiB at X86_MPTABLE_ADDR (37). */
unsigned x86_mptable_max_cpus(void);

/* Writes the floating pointer at X86_MPTABLE_ADDR and the table right after it: ncpus processor
 * entries (APIC ids 0..ncpus-1, vCPU 0 the BSP), bus 0 ISA, the IOAPIC (id ncpus, at
 * X86_IOAPIC_ADDR), IOAPIC pins 0-23 from bus IRQs 0-23, ExtINT on LINT0 and NMI on LINT1.
 * Returns 0, or -1 when ncpus is 0 or too many, or RAM does not cover the EBDA. */
int x86_mptable_write(const struct guest_mem *ram, unsigned ncpus);

#endif
