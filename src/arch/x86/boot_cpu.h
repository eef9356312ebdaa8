/* boot_cpu.h — the state vCPU 0 starts in, for each boot path, as KVM register structures:
 *
 *   Linux 64-bit boot protocol (boot.rst): long mode, paging on with an identity map covering
 *   the kernel, zero page and command line; CS = __BOOT_CS (0x10) a 64-bit code segment,
 *   DS/ES/SS = __BOOT_DS (0x18) flat data, interrupts off, %rsi = the zero page, %rip = entry.
 *
 *   PVH (xen/include/public/arch-x86/hvm/start_info.h): 32-bit protected mode, paging off,
 *   CS flat 32-bit code, DS/ES/SS flat 32-bit data, TR a 32-bit TSS, %ebx = the start info.
 *
 * The descriptor tables and page tables live in guest RAM (arch/x86/layout.h); the functions
 * that fill KVM structures are pure, so they are tested without /dev/kvm. Application
 * processors are not set up here: KVM starts them in the INIT/SIPI wait state and the kernel
 * wakes them through the local APIC, using the MP table. */
#ifndef KILN_ARCH_X86_BOOT_CPU_H
#define KILN_ARCH_X86_BOOT_CPU_H
#include <stdint.h>
#include <linux/kvm.h>
#include "dev/guest_mem.h"

#define X86_SEL_CODE 0x10   /* __BOOT_CS */
#define X86_SEL_DATA 0x18   /* __BOOT_DS */
#define X86_SEL_TSS  0x20
#define X86_GDT_ENTRIES 5   /* null, unused, code, data, TSS */

#define X86_CR0_PE  (1ULL << 0)
#define X86_CR0_ET  (1ULL << 4)
#define X86_CR0_PG  (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)

enum x86_boot_mode { X86_BOOT_MODE_LONG64, X86_BOOT_MODE_PVH32 };

/* A GDT descriptor: flags is the access byte in bits 0-7 and the G/DB/L/AVL nibble in 12-15,
 * the way the SDM draws the upper dword (e.g. 0xa09b: 64-bit code). */
uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* The kvm_segment a descriptor loads into the hidden part of a segment register. */
struct kvm_segment x86_segment_from_gdt(uint64_t desc, uint16_t selector);

/* Writes the GDT and the empty IDT, and for LONG64 the page tables identity-mapping the low
 * 4 GiB with 2 MiB pages. Returns 0, or -1 when RAM does not cover them. */
int x86_boot_tables_write(const struct guest_mem *ram, enum x86_boot_mode mode);

/* Sets the segment registers, descriptor tables, control registers and EFER of *s for the mode.
 * Fields not named here (apic_base, interrupt_bitmap) keep what KVM_GET_SREGS returned, so
 * callers get, modify and set. */
void x86_boot_sregs(struct kvm_sregs *s, enum x86_boot_mode mode);
/* The general registers: rflags 0x2, rip = entry, and rsi = the zero page (LONG64) or
 * rbx = the start info (PVH32), rsp/rbp = the boot stack. */
void x86_boot_regs(struct kvm_regs *r, enum x86_boot_mode mode, uint64_t entry);
/* The FPU as after FNINIT with SSE exceptions masked: fcw 0x37f, mxcsr 0x1f80. */
void x86_boot_fpu(struct kvm_fpu *f);

#endif
