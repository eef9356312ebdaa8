/* loader.h — puts programs (ELF or raw), firmware and initrds into guest RAM, checking that
 * they are what they claim to be and that they fit. Which kernel formats an architecture boots
 * (RISC-V's Image header, x86's bzImage) is its board's business; the board calls these. */
#ifndef KILN_VM_LOADER_H
#define KILN_VM_LOADER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct load_target {
    uint8_t *host;
    uint64_t base;   /* guest physical address of host[0] */
    uint64_t size;
};

struct loaded_image {
    uint64_t entry;  /* guest physical entry point */
    uint64_t start;  /* lowest guest physical address written */
    uint64_t end;    /* highest address used, including a kernel's bss (image_size) */
};

/* The ELF programs an architecture runs: 64-bit little-endian ones of this e_machine. */
struct elf_arch {
    uint16_t machine;        /* EM_RISCV, EM_X86_64 */
    const char *name;        /* for messages: "RISC-V" */
};

/* All return 0, or a kiln exit status after writing a one-line reason into err. */

/* Reads a whole regular, non-empty file of at most max bytes into *buf (malloc'ed). */
int loader_read_file(const char *path, uint8_t **buf, size_t *len, uint64_t max, char *err, size_t errlen);
bool loader_is_elf(const uint8_t *buf, size_t len);
/* The e_machine of a 64-bit little-endian ELF header; false when buf is not one. */
bool loader_elf_machine(const uint8_t *buf, size_t len, uint16_t *machine);
bool load_target_fits(const struct load_target *ram, uint64_t addr, uint64_t len);
/* An ELF program (buf, len: the whole file) loaded at its segments' physical addresses. */
int load_elf(const char *path, const uint8_t *buf, size_t len, const struct elf_arch *arch,
             struct load_target *ram, struct loaded_image *out, char *err, size_t errlen);
/* Firmware or a bare-metal program: an ELF, or a raw binary loaded at load_addr. */
int load_firmware(const char *path, const struct elf_arch *arch, struct load_target *ram, uint64_t load_addr,
                  struct loaded_image *out, char *err, size_t errlen);
/* A file copied as-is to the highest 4 KiB-aligned address that ends at or below `limit`
 * and starts at or above `floor`. */
int load_blob_below(const char *path, struct load_target *ram, uint64_t floor, uint64_t limit,
                    struct loaded_image *out, char *err, size_t errlen);

#endif
