/* e820.h — the guest's physical memory map, as the BIOS E820 call would report it. Both boot
 * paths hand it to the kernel: the zero page's e820_table and the PVH memory map. */
#ifndef KILN_ARCH_X86_E820_H
#define KILN_ARCH_X86_E820_H
#include <stddef.h>
#include <stdint.h>
#include <asm/bootparam.h>   /* struct boot_e820_entry: the kernel's own layout */
#include <asm/e820.h>        /* E820_RAM, E820_RESERVED */

#define X86_E820_MAX 4        /* low RAM, EBDA, RAM from 1 MiB, RAM above 4 GiB */
#define X86_RAM_MIN  (2ULL << 20)

/* Fills out[0..cap) with the map for ram_size bytes of guest RAM laid out as x86_ram_layout()
 * says (arch/x86/layout.h):
 *   RAM      [0, 0x9fc00)                 conventional memory below the EBDA
 *   reserved [0x9fc00, 0xa0000)           EBDA, holds the MP table
 *   (0xa0000..1 MiB is the VGA/BIOS hole: not listed, Linux treats it as reserved anyway)
 *   RAM      [1 MiB, min(ram, 0xd0000000))
 *   RAM      [4 GiB, 4 GiB + ram - 0xd0000000)   only when RAM reaches the MMIO hole
 * Returns the number of entries, or -1 when ram_size is below X86_RAM_MIN or cap is too small. */
int x86_e820_build(uint64_t ram_size, struct boot_e820_entry *out, size_t cap);

#endif
