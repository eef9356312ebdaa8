/* kvm_state.h — what a snapshot or a migration holds of a KVM x86-64 VM: each vCPU's state
 * (registers, FPU/XSAVE, local APIC, pending events, MSRs) and the VM's (PIC, IOAPIC, PIT,
 * kvmclock), as KVM's own structures, and their persist.h sections.
 *
 * kvm_state.c is the format (pure: tested without /dev/kvm); kvm_vstate.c reads and writes the
 * state through KVM's ioctls, in the orders KVM needs (see there). The structures are KVM's uapi
 * ones, which are stable ABI, stored as length-checked blobs. */
#ifndef KILN_CPU_KVM_KVM_STATE_H
#define KILN_CPU_KVM_KVM_STATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "cpu/kvm/kvm_msrs.h"

struct persist_reader;
struct persist_writer;

struct kvm_vcpu_state {
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    bool xsave_valid;               /* the host has KVM_CAP_XSAVE: xsave (and xcrs) hold the
                                     * FPU/SSE/AVX state; else fpu does */
    bool xcrs_valid;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_fpu fpu;
    struct kvm_debugregs debugregs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    unsigned nmsrs;
    struct kvm_msr_entry msrs[KVM_STATE_MAX_MSRS];
};

struct kvm_vm_state {
    struct kvm_irqchip pic_master, pic_slave, ioapic;
    struct kvm_pit_state2 pit;
    uint64_t clock_ns;              /* kvmclock at the save */
};

/* Sections "kvm-vm" (vCPU count and RAM size, which restore checks, then the VM state) and
 * "kvm-vcpu" (one per vCPU, with its index). read validates what kiln can (sizes, the vCPU
 * index, mp_state, irqchip ids, that every MSR is one kvm_msr_should_save keeps); KVM checks
 * the rest when it is set. */
void kvm_vm_state_write(struct persist_writer *w, const struct kvm_vm_state *s, unsigned ncpus,
                        uint64_t ram_size);
int kvm_vm_state_read(struct persist_reader *r, struct kvm_vm_state *s, unsigned ncpus,
                      uint64_t ram_size);
void kvm_vcpu_state_write(struct persist_writer *w, const struct kvm_vcpu_state *s, unsigned id);
int kvm_vcpu_state_read(struct persist_reader *r, struct kvm_vcpu_state *s, unsigned id);

/* Through KVM (kvm_vstate.c); all want the vCPUs out of KVM_RUN. Return 0, or -1 with the
 * failing ioctl in err. vcpu_get reads the MSRs of msrs[0..nmsrs) that KVM can read (an MSR it
 * refuses is left out), with xsave when the host has it. */
int kvm_vcpu_state_get(int vcpu_fd, const uint32_t *msrs, unsigned nmsrs, bool xsave, bool xcrs,
                       struct kvm_vcpu_state *s, char *err, size_t errlen);
int kvm_vcpu_state_set(int vcpu_fd, const struct kvm_vcpu_state *s, char *err, size_t errlen);
int kvm_vm_state_get(int vm_fd, struct kvm_vm_state *s, char *err, size_t errlen);
/* the guest's clock moves on by advance_ns (host time since the save) */
int kvm_vm_state_set(int vm_fd, const struct kvm_vm_state *s, uint64_t advance_ns, char *err,
                     size_t errlen);

#endif
