/* boot_info.h — what the kernel is told at entry: the zero page (Linux 64-bit boot protocol) or
 * the PVH start info (32-bit PVH entry). Both carry the same facts, gathered here. */
#ifndef KILN_ARCH_X86_BOOT_INFO_H
#define KILN_ARCH_X86_BOOT_INFO_H
#include <stddef.h>
#include <stdint.h>
#include <asm/bootparam.h>
#include "arch/x86/kernel.h"
#include "dev/guest_mem.h"

struct x86_boot_args {
    const struct x86_kernel *kernel;
    uint64_t ram_size;       /* all guest RAM, both sides of the MMIO hole */
    uint64_t cmdline_addr;   /* X86_CMDLINE_ADDR after x86_load_cmdline, 0: none */
    uint32_t cmdline_len;    /* without the NUL */
    uint64_t initrd_addr;    /* 0: no initrd */
    uint64_t initrd_size;
};

/* Fills *bp (all 4096 bytes) for the Linux 64-bit boot protocol: a bzImage's own setup header,
 * type_of_loader 0xff ("undefined"), the command line, the initrd and the e820 map. Returns 0, or
 * -1 when ram_size is too small for a memory map. */
int x86_zero_page_build(struct boot_params *bp, const struct x86_boot_args *a);
/* x86_zero_page_build, written to X86_ZERO_PAGE_ADDR in guest RAM. */
int x86_zero_page_write(const struct guest_mem *ram, const struct x86_boot_args *a);

/* The PVH start-of-day structures (xen/include/public/arch-x86/hvm/start_info.h, version 1): a
 * pointer to this goes in %ebx at the PVH entry. Kiln's own definitions: the Xen headers are not
 * a build dependency; the layout is checked against the documented offsets below. */
#define X86_HVM_START_MAGIC 0x336ec578   /* "xEn3" with the 0x80 bit of the "E" set */

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;        /* 1: has the memory map */
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;     /* 0: no ACPI, the kernel finds the MP table instead */
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;           /* the e820 types */
    uint32_t reserved;
};

_Static_assert(offsetof(struct hvm_start_info, nr_modules) == 12, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, modlist_paddr) == 16, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == 24, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 32, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "start_info layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "start_info layout");
_Static_assert(sizeof(struct hvm_start_info) == 56, "start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "modlist layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap layout");

/* Writes the start info at X86_PVH_INFO_ADDR, the initrd as module 0 at X86_PVH_MODLIST_ADDR and
 * the e820 map at X86_PVH_MEMMAP_ADDR. Returns 0, or -1 when RAM is too small. */
int x86_pvh_write(const struct guest_mem *ram, const struct x86_boot_args *a);

#endif
