/* layout.h — where kiln's x86-64 microVM board puts things in guest physical memory.
 *
 * Firecracker's layout, so kernels and tools that know that board find the same picture:
 *   0x0000_0500  GDT (5 descriptors)       0x0000_0520  IDT (empty: the kernel installs its own)
 *   0x0000_6000  PVH hvm_start_info, its module list and memory map (PVH boot only)
 *   0x0000_7000  zero page (struct boot_params; Linux 64-bit boot only)
 *   0x0000_8ff0  initial stack pointer
 *   0x0000_9000  PML4, 0xa000 PDPT, 0xb000..0xe000 four page directories (identity map of 4 GiB)
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA: the MP floating pointer and configuration table (last KiB below 640 KiB,
 *                one of the places Linux scans for "_MP_")
 *   0x000a_0000  legacy VGA/BIOS hole up to 1 MiB: not RAM
 *   0x0010_0000  the kernel (bzImage protected-mode part; an ELF vmlinux goes to its own
 *                physical addresses, 16 MiB for a default x86-64 build)
 *   0xd000_0000  32-bit MMIO hole (virtio-mmio, IOAPIC 0xfec0_0000, LAPIC 0xfee0_0000) up to 4 GiB
 *   RAM beyond 0xd000_0000 bytes continues at 4 GiB.
 */
#ifndef KILN_ARCH_X86_LAYOUT_H
#define KILN_ARCH_X86_LAYOUT_H

#define X86_GDT_ADDR          0x500ULL
#define X86_IDT_ADDR          0x520ULL
#define X86_PVH_INFO_ADDR     0x6000ULL
#define X86_PVH_MODLIST_ADDR  0x6040ULL
#define X86_PVH_MEMMAP_ADDR   0x6080ULL
#define X86_PVH_MEMMAP_MAX    128          /* entries of 24 bytes: ends at 0x6c80 < zero page */
#define X86_ZERO_PAGE_ADDR    0x7000ULL
#define X86_BOOT_STACK        0x8ff0ULL
#define X86_PML4_ADDR         0x9000ULL
#define X86_PDPT_ADDR         0xa000ULL
#define X86_PD_ADDR           0xb000ULL    /* four consecutive pages */
#define X86_CMDLINE_ADDR      0x20000ULL
#define X86_CMDLINE_MAX       2048ULL      /* x86's COMMAND_LINE_SIZE, terminating NUL included */
#define X86_EBDA_START        0x9fc00ULL
#define X86_MPTABLE_ADDR      X86_EBDA_START
#define X86_MPTABLE_MAX       0x400ULL     /* up to 640 KiB */
#define X86_LOWMEM_END        0xa0000ULL   /* 640 KiB */
#define X86_HIMEM_START       0x100000ULL  /* 1 MiB */
#define X86_KERNEL_LOAD_ADDR  X86_HIMEM_START
#define X86_MMIO_HOLE_START   0xd0000000ULL /* Firecracker's: 768 MiB below 4 GiB */
#define X86_MMIO_HOLE_END     0x100000000ULL
#define X86_IOAPIC_ADDR       0xfec00000ULL
#define X86_LAPIC_ADDR        0xfee00000ULL

/* The guest-physical ranges RAM of ram_size bytes occupies: [0, low) and, when RAM is larger
 * than the space below the MMIO hole, [4 GiB, 4 GiB + high). A KVM backend registers one memory
 * slot per non-empty range. */
struct x86_ram_layout {
    unsigned long long low;   /* bytes at guest physical 0 */
    unsigned long long high;  /* bytes at guest physical 4 GiB (0: none) */
};

static inline struct x86_ram_layout x86_ram_layout(unsigned long long ram_size)
{
    struct x86_ram_layout l = { ram_size, 0 };
    if (ram_size > X86_MMIO_HOLE_START) {
        l.low = X86_MMIO_HOLE_START;
        l.high = ram_size - X86_MMIO_HOLE_START;
    }
    return l;
}

#endif
