/* kernel.h — loading an x86-64 Linux kernel, its initrd and its command line into guest RAM.
 *
 * Two kernel formats: an ELF vmlinux (PT_LOAD segments at their physical addresses; its PVH note
 * XEN_ELFNOTE_PHYS32_ENTRY, when present, gives a 32-bit PVH entry) and a bzImage (the
 * protected-mode part at 1 MiB, entered through the 64-bit boot protocol at +0x200).
 *
 * All functions work on images already in host memory and on `ram`, the view of the low RAM
 * range [0, x86_ram_layout(size).low) (arch/x86/layout.h): everything the boot needs goes below
 * the MMIO hole. They return 0, or -1 after writing a one-line reason into err; the caller exits
 * with KILN_EXIT_BAD_IMAGE (65) for those. They never read outside the image or write outside
 * the RAM view, whatever the image says. */
#ifndef KILN_ARCH_X86_KERNEL_H
#define KILN_ARCH_X86_KERNEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <asm/bootparam.h>   /* struct setup_header */
#include "dev/guest_mem.h"

#define X86_BZIMAGE_MIN_VERSION 0x020c  /* 2.12: the first with xloadflags (XLF_KERNEL_64) */
#define X86_ELFNOTE_PHYS32_ENTRY 18     /* Xen's XEN_ELFNOTE_PHYS32_ENTRY, in a "Xen" note */
#define X86_INITRD_ADDR_MAX_DEFAULT 0x37ffffffULL /* boot.rst: for kernels that do not say */

enum x86_kernel_format { X86_KERNEL_ELF = 1, X86_KERNEL_BZIMAGE };

struct x86_kernel {
    enum x86_kernel_format format;
    uint64_t entry64;      /* 64-bit boot protocol entry: ELF e_entry, bzImage load + 0x200 */
    uint64_t pvh_entry;    /* 32-bit PVH entry from the ELF note, 0 when there is none */
    uint64_t start;        /* lowest guest physical address loaded */
    uint64_t end;          /* end of everything the kernel owns (bss, bzImage init_size) */
    uint64_t initrd_addr_max;  /* highest address an initrd byte may have */
    uint32_t cmdline_max;      /* longest command line the kernel takes, without the NUL */
    bool has_setup_header;     /* bzImage: hdr is the kernel's, for the zero page */
    struct setup_header hdr;
};

/* true when the image looks like an x86-64 kernel kiln can load (an x86-64 ELF or a bzImage):
 * what picks the kvm backend. A true answer does not mean the load will succeed. */
bool x86_kernel_probe(const uint8_t *img, size_t len);

/* Loads an ELF vmlinux or a bzImage, whichever img is. */
int x86_load_kernel(const uint8_t *img, size_t len, const struct guest_mem *ram,
                    struct x86_kernel *out, char *err, size_t errlen);
int x86_load_elf(const uint8_t *img, size_t len, const struct guest_mem *ram,
                 struct x86_kernel *out, char *err, size_t errlen);
int x86_load_bzimage(const uint8_t *img, size_t len, const struct guest_mem *ram,
                     struct x86_kernel *out, char *err, size_t errlen);

/* Copies the initrd to the highest page-aligned address where it ends at or below the kernel's
 * initrd_addr_max and the end of `ram`, above the kernel's end. *addr gets its address. */
int x86_load_initrd(const uint8_t *img, size_t len, const struct guest_mem *ram,
                    const struct x86_kernel *k, uint64_t *addr, char *err, size_t errlen);

/* Writes the NUL-terminated command line at X86_CMDLINE_ADDR; refuses one longer than the
 * kernel's cmdline_max. */
int x86_load_cmdline(const char *cmdline, const struct guest_mem *ram,
                     const struct x86_kernel *k, char *err, size_t errlen);

#endif
