/* boot.h — everything guest memory needs before vCPU 0 runs an x86-64 Linux kernel, in one call:
 * the kernel, initrd and command line loaded, the zero page or PVH start info, the MP table, and
 * the GDT/IDT/page tables for the chosen entry. What remains for the backend is per vCPU:
 *
 *   every vCPU:  KVM_SET_CPUID2 (kvm_cpuid_normalize), KVM_SET_MSRS (kvm_boot_msrs),
 *                KVM_SET_FPU (x86_boot_fpu), KVM_GET/SET_LAPIC (kvm_lapic_set_lint)
 *   vCPU 0 only: KVM_GET_SREGS, x86_boot_sregs(plan.mode), KVM_SET_SREGS;
 *                KVM_SET_REGS (x86_boot_regs(plan.mode, plan.entry))
 *   other vCPUs: nothing: with the in-kernel irqchip they wait for INIT/SIPI from vCPU 0. */
#ifndef KILN_ARCH_X86_BOOT_H
#define KILN_ARCH_X86_BOOT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86/boot_cpu.h"
#include "arch/x86/kernel.h"

struct x86_boot_request {
    const uint8_t *kernel;   /* the kernel file's bytes: ELF vmlinux or bzImage */
    size_t kernel_len;
    const uint8_t *initrd;   /* NULL: none */
    size_t initrd_len;
    const char *cmdline;
    uint64_t ram_size;       /* all guest RAM (ram covers its low part) */
    unsigned cpus;
    bool no_pvh;             /* use the 64-bit boot protocol even when the kernel has PVH */
};

struct x86_boot_plan {
    enum x86_boot_mode mode; /* PVH32 when the kernel has the PVH note (Firecracker's choice) */
    uint64_t entry;          /* for x86_boot_regs */
    struct x86_kernel kernel;
    uint64_t initrd_addr, initrd_size;
};

/* ram: guest RAM from physical 0 up to the MMIO hole (x86_ram_layout(ram_size).low bytes).
 * Returns 0, or -1 with a one-line reason (the caller exits with KILN_EXIT_BAD_IMAGE, 65). */
int x86_boot_prepare(const struct guest_mem *ram, const struct x86_boot_request *rq,
                     struct x86_boot_plan *plan, char *err, size_t errlen);

#endif
