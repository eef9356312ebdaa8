/* zero_page.c — struct boot_params for the Linux 64-bit boot protocol (boot.rst, "64-bit BOOT
 * PROTOCOL"): what a boot loader fills in after copying the kernel's setup header. */
#include <string.h>
#include "arch/x86/boot_info.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define LOADER_UNDEFINED 0xff   /* type_of_loader: a loader with no assigned id */

int x86_zero_page_build(struct boot_params *bp, const struct x86_boot_args *a)
{
    memset(bp, 0, sizeof(*bp));
    const struct x86_kernel *k = a->kernel;
    if (k && k->has_setup_header) {
        bp->hdr = k->hdr;
    } else {
        /* an ELF vmlinux has no header: give the fields the kernel checks their usual values */
        bp->hdr.boot_flag = 0xaa55;
        bp->hdr.header = 0x53726448;   /* "HdrS" */
        bp->hdr.kernel_alignment = 0x1000000;
    }
    bp->hdr.type_of_loader = LOADER_UNDEFINED;
    bp->hdr.loadflags |= LOADED_HIGH;
    bp->hdr.cmd_line_ptr = (uint32_t)a->cmdline_addr;
    bp->ext_cmd_line_ptr = (uint32_t)(a->cmdline_addr >> 32);
    bp->hdr.ramdisk_image = (uint32_t)a->initrd_addr;
    bp->hdr.ramdisk_size = (uint32_t)a->initrd_size;
    bp->ext_ramdisk_image = (uint32_t)(a->initrd_addr >> 32);
    bp->ext_ramdisk_size = (uint32_t)(a->initrd_size >> 32);
    int n = x86_e820_build(a->ram_size, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
    if (n < 0)
        return -1;
    bp->e820_entries = (uint8_t)n;
    return 0;
}

int x86_zero_page_write(const struct guest_mem *ram, const struct x86_boot_args *a)
{
    struct boot_params *bp = guest_mem_ptr(ram, X86_ZERO_PAGE_ADDR, sizeof(*bp));
    if (!bp || x86_zero_page_build(bp, a))
        return -1;
    guest_mem_written(ram, bp, sizeof(*bp));
    return 0;
}
