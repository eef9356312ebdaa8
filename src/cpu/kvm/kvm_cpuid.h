/* kvm_cpuid.h — the CPUID a kiln vCPU shows its guest: KVM_GET_SUPPORTED_CPUID normalised to a
 * stable, documented set (Firecracker's normalisation is the model). Pure: a table in, a table
 * out, so the policy is unit-tested without /dev/kvm.
 *
 * The policy, for vCPU i of n (one socket, n cores, one thread per core, APIC id = i):
 *   0x0          passed through: the host's vendor and highest basic leaf
 *   0x1          EBX: APIC id i, n logical processors, CLFLUSH line 64 bytes
 *                ECX: hypervisor bit set; TSC-deadline timer set when KVM has it
 *                     (KVM_CAP_TSC_DEADLINE_TIMER); cleared: DTES64, MONITOR, DS-CPL, VMX, SMX,
 *                     EIST, TM2, PDCM (no debug store, mwait, nesting, power management,
 *                     perf capabilities)
 *                EDX: HTT set when n > 1; cleared: DS, ACPI thermal, TM, PBE
 *   0x4 (Intel)  EAX[31:26] n-1 cores per package; EAX[25:14] threads sharing: L1/L2 one, L3 n
 *   0x5          zero: no MONITOR/MWAIT
 *   0x6          only ARAT (the APIC timer runs in deep C-states) kept: no turbo, HWP, EPB
 *   0x7.0        cleared: SGX, SGX-LC, RDT monitoring/allocation, Intel PT, WAITPKG
 *   0xa          zero: no architectural performance counters
 *   0xb, 0x1f    rebuilt: SMT level (1 thread), core level (n cores, shift = bits for n),
 *                then an invalid level; EDX = APIC id i
 *   0x12, 0x14   removed (SGX, Intel PT)
 *   0x40000000   "KVMKVMKVM", highest hypervisor leaf 0x40000001 (added if missing)
 *   0x40000001   KVM paravirtual features, passed through
 *   0x80000001   ECX cleared: SVM, TOPOEXT, core/northbridge perf counters, MONITORX
 *   0x80000008   AMD: ECX NC = n-1 cores, ApicIdSize 0 (derived from NC)
 *   0x8000000a   removed (SVM), 0x8000001d/0x8000001e removed (TOPOEXT is off)
 *   everything else as KVM reports it. */
#ifndef KILN_CPU_KVM_KVM_CPUID_H
#define KILN_CPU_KVM_KVM_CPUID_H
#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>

#define KVM_CPUID_MAX_CPUS 255   /* 8-bit APIC ids in leaf 1 and the MP table */
#define KVM_CPUID_EXTRA 8        /* the most entries normalising adds to its input */

struct kvm_cpuid_policy {
    unsigned cpu_index;      /* this vCPU: its APIC id */
    unsigned cpu_count;
    bool tsc_deadline;       /* KVM_CHECK_EXTENSION(KVM_CAP_TSC_DEADLINE_TIMER) */
};

/* Normalises in[0..n) for one vCPU into out[0..cap) (cap >= n + KVM_CPUID_EXTRA always
 * suffices). Returns the number of entries written, or -1 with a reason in err (no leaf 0 or 1
 * in the input, a bad vCPU index or count, out too small). */
int kvm_cpuid_normalize(const struct kvm_cpuid_entry2 *in, unsigned n,
                        const struct kvm_cpuid_policy *p, struct kvm_cpuid_entry2 *out,
                        unsigned cap, char *err, size_t errlen);

/* The entry for function/index in a table, or NULL (lookup for callers and tests). */
const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_cpuid_entry2 *t, unsigned n,
                                              unsigned function, unsigned index);

#endif
