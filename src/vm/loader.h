/* loader.h — puts kernels, firmware and initrds into guest RAM, checking that they are what they
 * claim to be and that they fit. */
#ifndef KILN_VM_LOADER_H
#define KILN_VM_LOADER_H
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

/* All return 0, or a kiln exit status after writing a one-line reason into err. */

/* A Linux kernel: a RISC-V "Image" (loaded at load_addr) or a RISC-V 64-bit ELF (loaded at its
 * physical addresses). */
int load_kernel(const char *path, struct load_target *ram, uint64_t load_addr,
                struct loaded_image *out, char *err, size_t errlen);
/* Firmware or a bare-metal program: an ELF, or a raw binary loaded at load_addr. */
int load_firmware(const char *path, struct load_target *ram, uint64_t load_addr,
                  struct loaded_image *out, char *err, size_t errlen);
/* A file copied as-is to the highest 4 KiB-aligned address that ends at or below `limit`
 * and starts at or above `floor`. */
int load_blob_below(const char *path, struct load_target *ram, uint64_t floor, uint64_t limit,
                    struct loaded_image *out, char *err, size_t errlen);

#endif
