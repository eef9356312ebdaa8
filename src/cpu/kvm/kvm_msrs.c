/* kvm_msrs.c — boot MSR values and LAPIC LINT wiring (see kvm_msrs.h). */
#include <stdint.h>
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
