/* kernel_bzimage.c — a bzImage through the 64-bit Linux boot protocol
 * (Documentation/arch/x86/boot.rst): the real-mode setup code is not run; the protected-mode
 * kernel goes to 1 MiB and is entered in long mode at +0x200 with the zero page in %rsi. */
#include <stddef.h>
#include <string.h>
#include "arch/x86/kernel.h"
#include "arch/x86/layout.h"
#include "common/errmsg.h"

#define HDR_OFFSET      0x1f1                 /* setup_header inside the image and zero page */
#define BOOT_FLAG       0xaa55
#define HDRS_MAGIC      0x53726448            /* "HdrS" */
#define ENTRY64_OFFSET  0x200

/* the header bytes present in the image: it ends at 0x202 + the byte at 0x201 (boot.rst) */
static size_t header_len(const uint8_t *img)
{
    size_t end = 0x202 + img[0x201];
    size_t n = end - HDR_OFFSET;
    return n < sizeof(struct setup_header) ? n : sizeof(struct setup_header);
}

int x86_load_bzimage(const uint8_t *img, size_t len, const struct guest_mem *ram,
                     struct x86_kernel *out, char *err, size_t errlen)
{
    struct setup_header h;
    if (len < HDR_OFFSET + sizeof(h))
        return errmsg(err, errlen, "bzImage is truncated: %zu bytes, not even a setup header", len);
    memcpy(&h, img + HDR_OFFSET, sizeof(h));
    if (h.boot_flag != BOOT_FLAG || h.header != HDRS_MAGIC)
        return errmsg(err, errlen, "kernel is not a bzImage (no \"HdrS\" setup header)");
    if (h.version < X86_BZIMAGE_MIN_VERSION)
        return errmsg(err, errlen, "bzImage boot protocol %u.%02u is too old: kiln needs %u.%02u "
                      "(Linux 3.8 or later) for the 64-bit entry point", h.version >> 8,
                      h.version & 0xff, X86_BZIMAGE_MIN_VERSION >> 8,
                      X86_BZIMAGE_MIN_VERSION & 0xff);
    if (!(h.xloadflags & XLF_KERNEL_64))
        return errmsg(err, errlen, "bzImage has no 64-bit entry point (not an x86-64 kernel?)");
    if (!(h.loadflags & LOADED_HIGH))
        return errmsg(err, errlen, "kernel is a zImage (loaded low), not a bzImage");

    uint64_t setup_size = ((uint64_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;
    if (setup_size >= len)
        return errmsg(err, errlen, "bzImage is truncated: %zu bytes, setup code alone needs %llu",
                      len, (unsigned long long)setup_size);
    uint64_t payload = len - setup_size;
    if (h.syssize && (uint64_t)h.syssize * 16 > payload)
        return errmsg(err, errlen, "bzImage is truncated: the kernel part has %llu of %llu bytes",
                      (unsigned long long)payload, (unsigned long long)h.syssize * 16);

    /* The kernel decompresses itself to its runtime address and needs init_size bytes there:
     * the load address rounded up to kernel_alignment, but never below pref_address (the
     * decompressor's LOAD_PHYSICAL_ADDR floor; non-relocatable kernels run exactly there). */
    uint64_t load = X86_KERNEL_LOAD_ADDR;
    uint64_t align = h.kernel_alignment;
    if (align == 0 || (align & (align - 1)) || align > (1ULL << 30))
        return errmsg(err, errlen, "bzImage kernel_alignment 0x%x is not a power of two",
                      h.kernel_alignment);
    uint64_t run = (load + align - 1) & ~(align - 1);
    if (!h.relocatable_kernel || h.pref_address > run)
        run = h.pref_address;
    uint64_t end = load + payload;
    if (run + h.init_size > end)
        end = run + h.init_size;
    if (!guest_mem_ptr(ram, load, payload) || end > ram->base + ram->size || end < load)
        return errmsg(err, errlen, "bzImage needs guest RAM up to 0x%llx, RAM below the MMIO hole "
                      "ends at 0x%llx", (unsigned long long)end,
                      (unsigned long long)(ram->base + ram->size));

    uint8_t *dst = guest_mem_ptr(ram, load, payload);
    memcpy(dst, img + setup_size, payload);
    guest_mem_written(ram, dst, payload);

    memset(out, 0, sizeof(*out));
    out->format = X86_KERNEL_BZIMAGE;
    out->entry64 = load + ENTRY64_OFFSET;
    out->start = load;
    out->end = end;
    out->initrd_addr_max = h.initrd_addr_max;
    out->cmdline_max = h.cmdline_size < X86_CMDLINE_MAX - 1 ? h.cmdline_size : X86_CMDLINE_MAX - 1;
    out->has_setup_header = true;
    memcpy(&out->hdr, img + HDR_OFFSET, header_len(img));
    return 0;
}
