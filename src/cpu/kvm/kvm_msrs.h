/* kvm_msrs.h — the MSR values a vCPU starts with (Firecracker's boot list), and the local APIC
 * LINT wiring; both pure, so they are tested without /dev/kvm. */
#ifndef KILN_CPU_KVM_KVM_MSRS_H
#define KILN_CPU_KVM_KVM_MSRS_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#define MSR_IA32_TSC             0x00000010
#define MSR_IA32_SYSENTER_CS     0x00000174
#define MSR_IA32_SYSENTER_ESP    0x00000175
#define MSR_IA32_SYSENTER_EIP    0x00000176
#define MSR_IA32_MISC_ENABLE     0x000001a0
#define MSR_MTRR_DEF_TYPE        0x000002ff
#define MSR_EFER                 0xc0000080
#define MSR_STAR                 0xc0000081
#define MSR_LSTAR                0xc0000082
#define MSR_CSTAR                0xc0000083
#define MSR_SYSCALL_MASK         0xc0000084
#define MSR_KERNEL_GS_BASE       0xc0000102

#define MSR_IA32_TSC_DEADLINE    0x000006e0
#define MSR_IA32_MCG_CTL         0x0000017b

#define MISC_ENABLE_FAST_STRING  (1ULL << 0)
#define MTRR_DEF_ENABLE          (1ULL << 11)
#define MTRR_TYPE_WRBACK         6ULL

#define KVM_BOOT_MSRS 11

/* Fills out[KVM_BOOT_MSRS] and returns KVM_BOOT_MSRS:
 *   SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, SYSCALL_MASK, KERNEL_GS_BASE = 0 (the kernel sets
 *       its own entry points; zero means no stale host values)
 *   TSC = 0 (every vCPU starts its clock together)
 *   MISC_ENABLE = fast strings (rep movs/stos fast path, which Linux expects on real CPUs)
 *   MTRR default type = enabled, write-back (all RAM cacheable with no variable MTRRs: without
 *       this the guest runs uncached)
 * EFER is not here: KVM_SET_SREGS sets it with the control registers. */
unsigned kvm_boot_msrs(struct kvm_msr_entry *out);

/* ---- the MSRs a snapshot holds ---- */

/* At most this many MSRs per vCPU in a snapshot (KVM takes fewer than 256 per KVM_GET_MSRS). */
#define KVM_STATE_MAX_MSRS 255

/* Is this MSR part of a vCPU's saved state? Firecracker's allowlist, trimmed to what a Linux
 * guest on kiln's CPUID can touch: the TSC and its deadline and adjust, APIC base, SYSENTER,
 * the syscall MSRs, FS/GS bases, TSC_AUX, EFER (also in sregs), MISC_ENABLE, PAT and the MTRRs
 * (0x200-0x2ff), machine-check status and banks (not IA32_MCG_CTL, which KVM only exposes with
 * MCE set up), SPEC_CTRL, debug control, and KVM's paravirtual MSRs (kvmclock, async page
 * faults, steal time, PV EOI, poll control). */
bool kvm_msr_should_save(uint32_t index);

/* The MSRs to save: those of `supported` (KVM_GET_MSR_INDEX_LIST) that kvm_msr_should_save
 * keeps, without duplicates, in ascending order except IA32_TSC_DEADLINE last: KVM takes a
 * deadline relative to the TSC, so it must be set after the TSC on restore. Returns the count
 * (at most cap). */
unsigned kvm_msrs_to_save(const uint32_t *supported, unsigned n, uint32_t *out, unsigned cap);

/* A TSC deadline timer that fired but whose interrupt the guest has not taken yet reads as 0
 * and would be lost on restore (the guest then waits forever for its tick): a saved deadline of
 * 0 becomes the saved TSC, which makes the restored timer fire at once (as Firecracker does; a
 * spurious tick is harmless, and KVM ignores the deadline unless the LVT is in deadline mode). */
void kvm_msrs_fix_tsc_deadline(struct kvm_msr_entry *e, unsigned n);

/* Restore after advance_ns of host time: the saved TSC moves on by that time at tsc_khz (0:
 * unknown, nothing moves), as kvmclock does, so that a guest whose clocksource is the TSC
 * (Linux prefers it to kvmclock when the TSC is invariant) sees the same time pass. A deadline
 * left behind fires at once. */
void kvm_msrs_advance_tsc(struct kvm_msr_entry *e, unsigned n, uint64_t advance_ns,
                          uint64_t tsc_khz);

/* In a KVM_GET_LAPIC image: LINT0 delivers ExtINT (the 8259 PIC's output, for the BSP's timer
 * before the IOAPIC is set up), LINT1 delivers NMI, as the MP table says. */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7
void kvm_lapic_set_lint(struct kvm_lapic_state *l);

#endif
