/* loader.c — file loading into guest RAM with bounds checks: ELF programs, raw firmware and
 * blobs (initrds). Architecture formats (a kernel's own header) are the board's. Files are read
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

int loader_read_file(const char *path, uint8_t **buf, size_t *len, uint64_t max, char *err, size_t errlen)
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

bool load_target_fits(const struct load_target *ram, uint64_t addr, uint64_t len)
{
    return addr >= ram->base && addr - ram->base <= ram->size && len <= ram->size - (addr - ram->base);
}

bool loader_is_elf(const uint8_t *buf, size_t len)
{
    return len >= 4 && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

bool loader_elf_machine(const uint8_t *buf, size_t len, uint16_t *machine)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    if (!loader_is_elf(buf, len) || len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return false;
    *machine = eh->e_machine;
    return true;
}

int load_elf(const char *path, const uint8_t *buf, size_t len, const struct elf_arch *arch,
             struct load_target *ram, struct loaded_image *out, char *err, size_t errlen)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    uint16_t machine;
    if (!loader_elf_machine(buf, len, &machine) || machine != arch->machine) {
        snprintf(err, errlen, "'%s' is an ELF file but not a 64-bit little-endian %s one", path, arch->name);
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
        if (!load_target_fits(ram, ph.p_paddr, ph.p_memsz)) {
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

int load_firmware(const char *path, const struct elf_arch *arch, struct load_target *ram, uint64_t load_addr,
                  struct loaded_image *out, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = loader_read_file(path, &buf, &len, ram->size, err, errlen);
    if (rc)
        return rc;
    if (loader_is_elf(buf, len)) {
        rc = load_elf(path, buf, len, arch, ram, out, err, errlen);
    } else if (!load_target_fits(ram, load_addr, len)) {
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
    int rc = loader_read_file(path, &buf, &len, ram->size, err, errlen);
    if (rc)
        return rc;
    uint64_t start = (limit - len) & ~0xfffull;
    if (len > limit || start < floor || !load_target_fits(ram, start, len)) {
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
