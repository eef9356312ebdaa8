/* riscv_image.c — RISC-V kernels: the Linux Image header (Documentation/riscv/boot-image-header.rst)
 * and RISC-V ELF files, on top of the generic loader. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "board/riscv_image.h"
#include "vm/config.h"

struct riscv_image_header {
    uint32_t code0, code1;
    uint64_t text_offset;
    uint64_t image_size;
    uint64_t flags;
    uint32_t version, res1;
    uint64_t res2;
    uint64_t magic;   /* "RISCV\0\0\0", deprecated but still written */
    uint32_t magic2;  /* "RSC\x05" */
    uint32_t res3;
};
#define RISCV_IMAGE_MAGIC  0x5643534952ull     /* "RISCV" little endian */
#define RISCV_IMAGE_MAGIC2 0x05435352u          /* "RSC\x05" */

const struct elf_arch riscv_elf = { EM_RISCV, "RISC-V" };

static bool has_image_magic(const uint8_t *buf, size_t len)
{
    struct riscv_image_header hdr;
    if (len < sizeof(hdr))
        return false;
    memcpy(&hdr, buf, sizeof(hdr));
    return hdr.magic2 == RISCV_IMAGE_MAGIC2 || hdr.magic == RISCV_IMAGE_MAGIC;
}

bool riscv_image_probe(const uint8_t *head, size_t len)
{
    uint16_t machine;
    if (loader_elf_machine(head, len, &machine))
        return machine == EM_RISCV;
    return has_image_magic(head, len);
}

int riscv_load_kernel(const char *path, struct load_target *ram, uint64_t load_addr,
                      struct loaded_image *out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = loader_read_file(path, &buf, &len, ram->size, err, errlen);
    if (rc)
        return rc;
    if (loader_is_elf(buf, len)) {
        rc = load_elf(path, buf, len, &riscv_elf, ram, out, err, errlen);
        free(buf);
        return rc;
    }
    struct riscv_image_header hdr;
    if (len < sizeof(hdr)) {
        snprintf(err, errlen, "'%s' is too small to be a kernel (%zu bytes)", path, len);
        free(buf);
        return KILN_EXIT_BAD_IMAGE;
    }
    memcpy(&hdr, buf, sizeof(hdr));
    if (!has_image_magic(buf, len)) {
        snprintf(err, errlen, "'%s' is neither a RISC-V Linux Image (no 'RSC\\x05' magic) nor an ELF file", path);
        free(buf);
        return KILN_EXIT_BAD_IMAGE;
    }
    uint64_t footprint = hdr.image_size > len ? hdr.image_size : len;
    if (!load_target_fits(ram, load_addr, footprint)) {
        snprintf(err, errlen, "kernel '%s' needs %llu MiB at 0x%llx but guest RAM ends at 0x%llx",
                 /* rounded up without adding first: an image_size near 2^64 wrapped to "0 MiB" */
                 path, (unsigned long long)((footprint >> 20) + ((footprint & ((1 << 20) - 1)) != 0)),
                 (unsigned long long)load_addr, (unsigned long long)(ram->base + ram->size));
        free(buf);
        return KILN_EXIT_BAD_IMAGE;
    }
    memcpy(ram->host + (load_addr - ram->base), buf, len);
    free(buf);
    out->entry = load_addr;
    out->start = load_addr;
    out->end = load_addr + footprint;
    return 0;
}
