/* kvm_msrs.c — boot MSR values, the MSRs a snapshot saves, LAPIC LINT wiring (see kvm_msrs.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/kvm/kvm_msrs.h"

unsigned kvm_boot_msrs(struct kvm_msr_entry *out)
{
    static const struct { uint32_t index; uint64_t value; } boot[KVM_BOOT_MSRS] = {
        { MSR_IA32_SYSENTER_CS, 0 },
        { MSR_IA32_SYSENTER_ESP, 0 },
        { MSR_IA32_SYSENTER_EIP, 0 },
        { MSR_STAR, 0 },
        { MSR_CSTAR, 0 },
        { MSR_KERNEL_GS_BASE, 0 },
        { MSR_SYSCALL_MASK, 0 },
        { MSR_LSTAR, 0 },
        { MSR_IA32_TSC, 0 },
        { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
        { MSR_MTRR_DEF_TYPE, MTRR_DEF_ENABLE | MTRR_TYPE_WRBACK },
    };
    for (unsigned i = 0; i < KVM_BOOT_MSRS; i++)
        out[i] = (struct kvm_msr_entry){ .index = boot[i].index, .data = boot[i].value };
    return KVM_BOOT_MSRS;
}

/* LVT registers are 32-bit little-endian words in the 1 KiB register image; the delivery mode
 * is bits 8-10 */
static void set_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
    uint32_t v;
    memcpy(&v, l->regs + reg, 4);
    v = (v & ~(7u << 8)) | (mode << 8);
    memcpy(l->regs + reg, &v, 4);
}

void kvm_lapic_set_lint(struct kvm_lapic_state *l)
{
    set_mode(l, APIC_LVT_LINT0, APIC_MODE_EXTINT);
    set_mode(l, APIC_LVT_LINT1, APIC_MODE_NMI);
}

/* [first, last] ranges, kept sorted */
static const struct { uint32_t first, last; } saved_ranges[] = {
    { 0x00000010, 0x00000010 },   /* IA32_TSC */
    { 0x0000001b, 0x0000001b },   /* IA32_APIC_BASE */
    { 0x0000003b, 0x0000003b },   /* IA32_TSC_ADJUST */
    { 0x00000048, 0x00000048 },   /* IA32_SPEC_CTRL */
    { 0x00000122, 0x00000122 },   /* IA32_TSX_CTRL */
    { 0x00000140, 0x00000140 },   /* MISC_FEATURES_ENABLES */
    { 0x00000174, 0x00000176 },   /* SYSENTER_CS/ESP/EIP */
    { 0x0000017a, 0x0000017a },   /* IA32_MCG_STATUS */
    { 0x000001a0, 0x000001a0 },   /* IA32_MISC_ENABLE */
    { 0x000001d9, 0x000001d9 },   /* IA32_DEBUGCTL */
    { 0x00000200, 0x000002ff },   /* MTRRs, PAT (0x277), MTRR_DEF_TYPE */
    { 0x00000400, 0x0000047f },   /* machine-check banks */
    { 0x000006e0, 0x000006e0 },   /* IA32_TSC_DEADLINE */
    { 0x4b564d00, 0x4b564d06 },   /* kvmclock (new), async PF, steal time, PV EOI, poll, APF int */
    { 0xc0000080, 0xc0000084 },   /* EFER, STAR, LSTAR, CSTAR, SYSCALL_MASK */
    { 0xc0000100, 0xc0000103 },   /* FS_BASE, GS_BASE, KERNEL_GS_BASE, TSC_AUX */
    { 0xc0010015, 0xc0010015 },   /* AMD HWCR */
};

bool kvm_msr_should_save(uint32_t index)
{
    if (index == MSR_IA32_MCG_CTL)
        return false;
    for (size_t i = 0; i < sizeof(saved_ranges) / sizeof(saved_ranges[0]); i++)
        if (index >= saved_ranges[i].first && index <= saved_ranges[i].last)
            return true;
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

unsigned kvm_msrs_to_save(const uint32_t *supported, unsigned n, uint32_t *out, unsigned cap)
{
    unsigned k = 0;
    bool deadline = false;
    for (unsigned i = 0; i < n; i++) {
        if (!kvm_msr_should_save(supported[i]))
            continue;
        if (supported[i] == MSR_IA32_TSC_DEADLINE) {
            deadline = true;
            continue;
        }
        bool dup = false;
        for (unsigned j = 0; j < k && !dup; j++)
            dup = out[j] == supported[i];
        if (!dup && k + 1 < cap)   /* room kept for the deadline */
            out[k++] = supported[i];
    }
    qsort(out, k, sizeof(out[0]), cmp_u32);
    if (deadline && k < cap)
        out[k++] = MSR_IA32_TSC_DEADLINE;
    return k;
}

void kvm_msrs_fix_tsc_deadline(struct kvm_msr_entry *e, unsigned n)
{
    const struct kvm_msr_entry *tsc = NULL;
    for (unsigned i = 0; i < n; i++)
        if (e[i].index == MSR_IA32_TSC)
            tsc = &e[i];
    for (unsigned i = 0; tsc && i < n; i++)
        if (e[i].index == MSR_IA32_TSC_DEADLINE && e[i].data == 0)
            e[i].data = tsc->data;
}

void kvm_msrs_advance_tsc(struct kvm_msr_entry *e, unsigned n, uint64_t advance_ns,
                          uint64_t tsc_khz)
{
    /* in whole milliseconds and the rest, so that years at GHz rates do not overflow */
    uint64_t ticks = advance_ns / 1000000 * tsc_khz + advance_ns % 1000000 * tsc_khz / 1000000;
    for (unsigned i = 0; i < n; i++)
        if (e[i].index == MSR_IA32_TSC)
            e[i].data += ticks;
}
