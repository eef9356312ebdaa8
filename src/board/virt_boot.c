/* virt_boot.c — the `virt` board's boot: firmware at the start of RAM, the kernel 2 MiB in, the
 * initrd below the device tree at the top of RAM, and OpenSBI's fw_dynamic handoff when a
 * firmware runs first (like `qemu -bios`). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "board/riscv_image.h"
#include "board/virt.h"
#include "vm/config.h"
#include "vm/loader.h"

#define KERNEL_OFFSET    0x200000ull   /* RISC-V Linux wants a 2 MiB aligned load address */
#define FDT_MAX_SIZE     0x10000ull
#define FW_DYNAMIC_MAGIC 0x4942534full /* "OSBI" */
#define FW_NEXT_MODE_S   1

/* OpenSBI's fw_dynamic handoff (include/sbi/fw_dynamic.h), version 2 */
struct fw_dynamic_info {
    uint64_t magic, version, next_addr, next_mode, options, boot_hart;
};

static int write_dtb(const char *path, const void *fdt, int size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(fdt, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        if (f)
            fclose(f);
        return KILN_EXIT_NO_INPUT;
    }
    fclose(f);
    return 0;
}

int virt_load(struct virt_board *b, struct vcpu_boot *out, char *err, size_t errlen)
{
    const struct board_boot *boot = b->boot;
    struct load_target ram = { b->base.mem.host, VIRT_RAM_BASE, b->base.mem.size };
    int rc;
    uint64_t ram_end = VIRT_RAM_BASE + ram.size;
    uint64_t fdt_addr = (ram_end - FDT_MAX_SIZE) & ~(KERNEL_OFFSET - 1);
    uint64_t dyninfo_addr = fdt_addr + FDT_MAX_SIZE;
    uint64_t floor = VIRT_RAM_BASE;
    *out = (struct vcpu_boot){ .firmware = boot->firmware != NULL, .table = fdt_addr };

    if (boot->firmware) {
        struct loaded_image fw;
        if ((rc = load_firmware(boot->firmware, &riscv_elf, &ram, VIRT_RAM_BASE, &fw, err, errlen)))
            return rc;
        out->entry = fw.entry;
        out->firmware_info = dyninfo_addr;
        floor = fw.end;
    }
    struct loaded_image kernel = { 0, 0, 0 };
    if (boot->kernel) {
        if (floor > VIRT_RAM_BASE + KERNEL_OFFSET) {
            snprintf(err, errlen, "firmware '%s' overlaps the kernel load address 0x%llx",
                     boot->firmware, (unsigned long long)(VIRT_RAM_BASE + KERNEL_OFFSET));
            return KILN_EXIT_BAD_IMAGE;
        }
        if ((rc = riscv_load_kernel(boot->kernel, &ram, VIRT_RAM_BASE + KERNEL_OFFSET, &kernel, err, errlen)))
            return rc;
        if (kernel.end > fdt_addr) {
            snprintf(err, errlen, "kernel '%s' does not leave room for the device tree: "
                     "give the VM more --mem", boot->kernel);
            return KILN_EXIT_BAD_IMAGE;
        }
        if (!boot->firmware)
            out->entry = kernel.entry;
        floor = kernel.end;
    }
    struct virt_boot_info info = { .cmdline = boot->cmdline };
    if (boot->initrd) {
        struct loaded_image initrd;
        if ((rc = load_blob_below(boot->initrd, &ram, floor, fdt_addr, &initrd, err, errlen)))
            return rc;
        info.initrd_start = initrd.start;
        info.initrd_end = initrd.end;
    }
    void *fdt = guest_mem_ptr(&b->base.mem, fdt_addr, FDT_MAX_SIZE);
    int size = virt_build_fdt(b, &info, fdt, FDT_MAX_SIZE);
    if (size < 0) {
        snprintf(err, errlen, "device tree does not fit in %llu KiB (command line too long?)",
                 (unsigned long long)(FDT_MAX_SIZE >> 10));
        return KILN_EXIT_USAGE;
    }
    if (boot->dtb_out && (rc = write_dtb(boot->dtb_out, fdt, size, err, errlen)))
        return rc;
    if (boot->firmware) {
        struct fw_dynamic_info di = { FW_DYNAMIC_MAGIC, 2, kernel.entry, FW_NEXT_MODE_S, 0, 0 };
        memcpy(guest_mem_ptr(&b->base.mem, dyninfo_addr, sizeof(di)), &di, sizeof(di));
    }
    return 0;
}
