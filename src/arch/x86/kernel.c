/* kernel.c — picks the kernel format, places the initrd and the command line. */
#include <elf.h>
#include <string.h>
#include "arch/x86/kernel.h"
#include "arch/x86/layout.h"
#include "common/errmsg.h"

#define PAGE 4096ULL

static bool is_elf(const uint8_t *img, size_t len)
{
    return len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

bool x86_kernel_probe(const uint8_t *img, size_t len)
{
    if (is_elf(img, len)) {
        Elf64_Ehdr eh;
        if (len < sizeof(eh))
            return false;
        memcpy(&eh, img, sizeof(eh));
        return eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_X86_64;
    }
    /* "HdrS" at 0x202 and the boot flag at 0x1fe */
    return len >= 0x206 && img[0x1fe] == 0x55 && img[0x1ff] == 0xaa &&
           memcmp(img + 0x202, "HdrS", 4) == 0;
}

int x86_load_kernel(const uint8_t *img, size_t len, const struct guest_mem *ram,
                    struct x86_kernel *out, char *err, size_t errlen)
{
    if (is_elf(img, len))
        return x86_load_elf(img, len, ram, out, err, errlen);
    return x86_load_bzimage(img, len, ram, out, err, errlen);
}

int x86_load_initrd(const uint8_t *img, size_t len, const struct guest_mem *ram,
                    const struct x86_kernel *k, uint64_t *addr, char *err, size_t errlen)
{
    uint64_t top = ram->base + ram->size;            /* exclusive */
    if (k->initrd_addr_max < top - 1)
        top = k->initrd_addr_max + 1;
    uint64_t floor = (k->end + PAGE - 1) & ~(PAGE - 1);
    if (len > top || ((top - len) & ~(PAGE - 1)) < floor)
        return errmsg(err, errlen, "initrd (%zu bytes) does not fit in guest RAM between the "
                      "kernel's end 0x%llx and 0x%llx", len, (unsigned long long)floor,
                      (unsigned long long)top);
    uint64_t at = (top - len) & ~(PAGE - 1);
    uint8_t *dst = guest_mem_ptr(ram, at, len);
    if (!dst)
        return errmsg(err, errlen, "initrd address 0x%llx is outside guest RAM",
                      (unsigned long long)at);
    memcpy(dst, img, len);
    guest_mem_written(ram, dst, len);
    *addr = at;
    return 0;
}

int x86_load_cmdline(const char *cmdline, const struct guest_mem *ram,
                     const struct x86_kernel *k, char *err, size_t errlen)
{
    size_t n = strlen(cmdline);
    if (n > k->cmdline_max)
        return errmsg(err, errlen, "kernel command line is %zu bytes, the kernel takes at most %u",
                      n, k->cmdline_max);
    uint8_t *dst = guest_mem_ptr(ram, X86_CMDLINE_ADDR, n + 1);
    if (!dst)
        return errmsg(err, errlen, "guest RAM is too small for the command line");
    memcpy(dst, cmdline, n + 1);
    guest_mem_written(ram, dst, n + 1);
    return 0;
}
