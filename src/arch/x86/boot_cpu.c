/* boot_cpu.c — descriptor tables, page tables and the boot vCPU's registers (see boot_cpu.h). */
#include <stdbool.h>
#include <string.h>
#include "arch/x86/boot_cpu.h"
#include "arch/x86/layout.h"

#define PTE_PRESENT  (1ULL << 0)
#define PTE_WRITE    (1ULL << 1)
#define PTE_PS       (1ULL << 7)   /* a 2 MiB page in a page directory */
#define IDENTITY_GIB 4              /* one page directory per GiB */

/* the three descriptor shapes: access byte low, G/DB/L nibble high */
#define GDT_CODE64 0xa09b   /* present, code, read/execute, accessed; G, L */
#define GDT_CODE32 0xc09b   /* the same with G, D (32-bit) */
#define GDT_DATA   0xc093   /* present, data, read/write, accessed; G, B */
#define GDT_TSS    0x008b   /* present, system, busy 32/64-bit TSS; byte granular */
#define TSS_LIMIT  0x67     /* the smallest TSS */

uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
           ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
           (uint64_t)(limit & 0x0000ffff);
}

struct kvm_segment x86_segment_from_gdt(uint64_t d, uint16_t selector)
{
    uint32_t limit = (uint32_t)(((d >> 32) & 0x000f0000) | (d & 0xffff));
    bool g = (d >> 55) & 1;
    return (struct kvm_segment){
        .base = ((d >> 16) & 0x00ffffff) | ((d >> 32) & 0xff000000),
        /* the hidden limit is in bytes: page granular limits are scaled */
        .limit = g ? (limit << 12) | 0xfff : limit,
        .selector = selector,
        .type = (d >> 40) & 0xf,
        .present = (d >> 47) & 1,
        .dpl = (d >> 45) & 3,
        .db = (d >> 54) & 1,
        .s = (d >> 44) & 1,
        .l = (d >> 53) & 1,
        .g = g,
        .avl = (d >> 52) & 1,
        .unusable = !((d >> 47) & 1),
    };
}

static void gdt(uint64_t out[X86_GDT_ENTRIES], enum x86_boot_mode mode)
{
    out[0] = 0;
    out[1] = 0;
    out[X86_SEL_CODE >> 3] = x86_gdt_entry(mode == X86_BOOT_MODE_LONG64 ? GDT_CODE64 : GDT_CODE32,
                                           0, 0xfffff);
    out[X86_SEL_DATA >> 3] = x86_gdt_entry(GDT_DATA, 0, 0xfffff);
    out[X86_SEL_TSS >> 3] = x86_gdt_entry(GDT_TSS, 0, TSS_LIMIT);
}

int x86_boot_tables_write(const struct guest_mem *ram, enum x86_boot_mode mode)
{
    uint64_t table[X86_GDT_ENTRIES];
    gdt(table, mode);
    uint8_t *g = guest_mem_ptr(ram, X86_GDT_ADDR, sizeof(table));
    uint8_t *idt = guest_mem_ptr(ram, X86_IDT_ADDR, 8);
    if (!g || !idt)
        return -1;
    memcpy(g, table, sizeof(table));
    memset(idt, 0, 8);
    guest_mem_written(ram, g, sizeof(table));
    guest_mem_written(ram, idt, 8);
    if (mode != X86_BOOT_MODE_LONG64)
        return 0;

    uint64_t *pml4 = guest_mem_ptr(ram, X86_PML4_ADDR, 4096);
    uint64_t *pdpt = guest_mem_ptr(ram, X86_PDPT_ADDR, 4096);
    uint64_t *pd = guest_mem_ptr(ram, X86_PD_ADDR, 4096 * IDENTITY_GIB);
    if (!pml4 || !pdpt || !pd)
        return -1;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
    for (unsigned gib = 0; gib < IDENTITY_GIB; gib++)
        pdpt[gib] = (X86_PD_ADDR + gib * 4096ULL) | PTE_PRESENT | PTE_WRITE;
    for (uint64_t i = 0; i < 512ULL * IDENTITY_GIB; i++)
        pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_PS;
    guest_mem_written(ram, pml4, 4096);
    guest_mem_written(ram, pdpt, 4096);
    guest_mem_written(ram, pd, 4096 * IDENTITY_GIB);
    return 0;
}

void x86_boot_sregs(struct kvm_sregs *s, enum x86_boot_mode mode)
{
    uint64_t table[X86_GDT_ENTRIES];
    gdt(table, mode);
    struct kvm_segment code = x86_segment_from_gdt(table[X86_SEL_CODE >> 3], X86_SEL_CODE);
    struct kvm_segment data = x86_segment_from_gdt(table[X86_SEL_DATA >> 3], X86_SEL_DATA);
    s->cs = code;
    s->ds = s->es = s->fs = s->gs = s->ss = data;
    s->tr = x86_segment_from_gdt(table[X86_SEL_TSS >> 3], X86_SEL_TSS);
    /* no LDT: an unusable null selector */
    memset(&s->ldt, 0, sizeof(s->ldt));
    s->ldt.type = 2;
    s->ldt.unusable = 1;
    s->gdt.base = X86_GDT_ADDR;
    s->gdt.limit = sizeof(table) - 1;
    s->idt.base = X86_IDT_ADDR;
    s->idt.limit = 7;
    s->cr2 = 0;
    s->cr8 = 0;
    /* caching enabled (CD and NW clear), unlike the reset value KVM_GET_SREGS reports */
    if (mode == X86_BOOT_MODE_LONG64) {
        s->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
        s->cr3 = X86_PML4_ADDR;
        s->cr4 = X86_CR4_PAE;
        s->efer = X86_EFER_LME | X86_EFER_LMA;
    } else {
        s->cr0 = X86_CR0_PE | X86_CR0_ET;
        s->cr3 = 0;
        s->cr4 = 0;
        s->efer = 0;
    }
}

void x86_boot_regs(struct kvm_regs *r, enum x86_boot_mode mode, uint64_t entry)
{
    memset(r, 0, sizeof(*r));
    r->rflags = 0x2;     /* bit 1 is reserved and always set; IF clear */
    r->rip = entry;
    r->rsp = r->rbp = X86_BOOT_STACK;
    if (mode == X86_BOOT_MODE_LONG64)
        r->rsi = X86_ZERO_PAGE_ADDR;
    else
        r->rbx = X86_PVH_INFO_ADDR;
}

void x86_boot_fpu(struct kvm_fpu *f)
{
    memset(f, 0, sizeof(*f));
    f->fcw = 0x37f;
    f->mxcsr = 0x1f80;
}
