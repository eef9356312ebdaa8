/* loader.c — kernel, firmware and initrd loading with format and bounds checks. Files are read
 * whole into a host buffer first, so a truncated or hostile file can never make kiln read or
 * write outside it or outside guest RAM. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fd_io.h"
#include "vm/config.h"
#include "vm/loader.h"

/* The RISC-V Linux Image header (Documentation/riscv/boot-image-header.rst). */
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

static int read_file(const char *path, uint8_t **buf, size_t *len, uint64_t max, char *err, size_t errlen)
{
    char why[128];
    int fd = fd_open_user(path, O_RDONLY, 0, FD_REGULAR, why, sizeof(why));
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        if (fd >= 0) {
            snprintf(why, sizeof(why), "%s", strerror(errno));
            close(fd);
        }
        snprintf(err, errlen, "cannot open '%s': %s", path, why);
        return KILN_EXIT_NO_INPUT;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot examine '%s': %s", path, strerror(errno));
        fclose(f);
        return KILN_EXIT_NO_INPUT;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "'%s' is %llu MiB, larger than guest RAM (%llu MiB)", path,
                 (unsigned long long)(st.st_size >> 20), (unsigned long long)(max >> 20));
        fclose(f);
        return KILN_EXIT_BAD_IMAGE;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "'%s' is empty", path);
        fclose(f);
        return KILN_EXIT_BAD_IMAGE;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len);
    if (!*buf || fread(*buf, 1, *len, f) != *len) {
        snprintf(err, errlen, "cannot read '%s'", path);
        free(*buf);
        *buf = NULL;
        fclose(f);
        return KILN_EXIT_NO_INPUT;
    }
    fclose(f);
    return 0;
}

static bool fits(const struct load_target *ram, uint64_t addr, uint64_t len)
{
    return addr >= ram->base && addr - ram->base <= ram->size && len <= ram->size - (addr - ram->base);
}

static bool is_elf(const uint8_t *buf, size_t len)
{
    return len >= 4 && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

static int load_elf(const char *path, const uint8_t *buf, size_t len, struct load_target *ram,
                    struct loaded_image *out, char *err, size_t errlen)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_RISCV) {
        snprintf(err, errlen, "'%s' is an ELF file but not a 64-bit little-endian RISC-V one", path);
        return KILN_EXIT_BAD_IMAGE;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff) {
        snprintf(err, errlen, "'%s' has a corrupt ELF program header table", path);
        return KILN_EXIT_BAD_IMAGE;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        /* copied out: e_phoff need not be aligned, and a misaligned Elf64_Phdr access is UB */
        Elf64_Phdr ph;
        memcpy(&ph, buf + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
            snprintf(err, errlen, "'%s' has a corrupt ELF segment %u", path, i);
            return KILN_EXIT_BAD_IMAGE;
        }
        if (!fits(ram, ph.p_paddr, ph.p_memsz)) {
            snprintf(err, errlen, "'%s' segment %u (0x%llx, %llu bytes) is outside guest RAM "
                     "(0x%llx-0x%llx)", path, i, (unsigned long long)ph.p_paddr,
                     (unsigned long long)ph.p_memsz, (unsigned long long)ram->base,
                     (unsigned long long)(ram->base + ram->size));
            return KILN_EXIT_BAD_IMAGE;
        }
        uint8_t *dst = ram->host + (ph.p_paddr - ram->base);
        memcpy(dst, buf + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr < lo) lo = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > hi) hi = ph.p_paddr + ph.p_memsz;
    }
    if (hi == 0) {
        snprintf(err, errlen, "'%s' has no loadable segments", path);
        return KILN_EXIT_BAD_IMAGE;
    }
    out->entry = eh->e_entry;
    out->start = lo;
    out->end = hi;
    return 0;
}

int load_kernel(const char *path, struct load_target *ram, uint64_t load_addr,
                struct loaded_image *out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, ram->size, err, errlen);
    if (rc)
        return rc;
    if (is_elf(buf, len)) {
        rc = load_elf(path, buf, len, ram, out, err, errlen);
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
    if (hdr.magic2 != RISCV_IMAGE_MAGIC2 && hdr.magic != RISCV_IMAGE_MAGIC) {
        snprintf(err, errlen, "'%s' is neither a RISC-V Linux Image (no 'RSC\\x05' magic) nor an ELF file", path);
        free(buf);
        return KILN_EXIT_BAD_IMAGE;
    }
    uint64_t footprint = hdr.image_size > len ? hdr.image_size : len;
    if (!fits(ram, load_addr, footprint)) {
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

int load_firmware(const char *path, struct load_target *ram, uint64_t load_addr,
                  struct loaded_image *out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, ram->size, err, errlen);
    if (rc)
        return rc;
    if (is_elf(buf, len)) {
        rc = load_elf(path, buf, len, ram, out, err, errlen);
    } else if (!fits(ram, load_addr, len)) {
        snprintf(err, errlen, "firmware '%s' does not fit in guest RAM", path);
        rc = KILN_EXIT_BAD_IMAGE;
    } else {
        memcpy(ram->host + (load_addr - ram->base), buf, len);
        out->entry = out->start = load_addr;
        out->end = load_addr + len;
    }
    free(buf);
    return rc;
}

int load_blob_below(const char *path, struct load_target *ram, uint64_t floor, uint64_t limit,
                    struct loaded_image *out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, ram->size, err, errlen);
    if (rc)
        return rc;
    uint64_t start = (limit - len) & ~0xfffull;
    if (len > limit || start < floor || !fits(ram, start, len)) {
        snprintf(err, errlen, "'%s' (%zu KiB) does not fit in guest RAM next to the kernel: "
                 "give the VM more --mem", path, len >> 10);
        free(buf);
        return KILN_EXIT_BAD_IMAGE;
    }
    memcpy(ram->host + (start - ram->base), buf, len);
    free(buf);
    out->entry = out->start = start;
    out->end = start + len;
    return 0;
}
