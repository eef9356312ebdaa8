/* riscv_image.h — the RISC-V kernel formats: Linux's "Image" (its boot header) and 64-bit RISC-V
 * ELF programs. */
#ifndef KILN_BOARD_RISCV_IMAGE_H
#define KILN_BOARD_RISCV_IMAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vm/loader.h"

extern const struct elf_arch riscv_elf;

/* Do these first bytes of a file start a RISC-V program (Image header or RISC-V ELF)? */
bool riscv_image_probe(const uint8_t *head, size_t len);
/* A Linux kernel: an Image (loaded at load_addr) or an ELF (loaded at its physical addresses).
 * Returns 0 or a kiln exit status with a one-line reason in err. */
int riscv_load_kernel(const char *path, struct load_target *ram, uint64_t load_addr,
                      struct loaded_image *out, char *err, size_t errlen);

#endif
