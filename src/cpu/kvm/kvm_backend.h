/* kvm_backend.h — x86-64 vCPUs on Linux KVM as a vCPU backend (cpu/backend.h).
 *
 * One VM per instance: guest RAM registered as KVM memory slots (the VM owns the RAM; below the
 * MMIO hole at 0 and the rest at 4 GiB, arch/x86/layout.h), the in-kernel PIC, IOAPIC, local
 * APICs and PIT, and one host thread per vCPU running KVM_RUN. Exits to user space go to the
 * board's buses: port I/O (vcpu_params.ports) and MMIO (vcpu_params.bus). set_irq drives an
 * in-kernel irqchip input: `line` is the GSI (IOAPIC pin; below 16 also the PIC's IRQ), `cpu` is
 * ignored. save/restore carry each vCPU's and the VM's KVM state (cpu/kvm/kvm_state.h); the
 * dirty log is KVM's (KVM_MEM_LOG_DIRTY_PAGES) plus what devices wrote (ram_written). */
#ifndef KILN_CPU_KVM_KVM_BACKEND_H
#define KILN_CPU_KVM_KVM_BACKEND_H
#include "cpu/backend.h"

extern const struct vcpu_backend kvm_backend;

/* The device KVM is opened at: KVM_DEVICE_PATH, or $KILN_KVM_DEVICE (tests point it at a
 * missing or unusable file to see the refusal on a host that has KVM). */
const char *kvm_backend_device(void);

#endif
