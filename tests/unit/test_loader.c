/* test_loader.c — the ELF loader on files a fuzzer found (fuzz/regressions/loader): a program
 * header table at an offset that is not 8-byte aligned is valid ELF and must load (the loader
 * used to read it through a misaligned Elf64_Phdr pointer: undefined behaviour, which
 * UBSan under `make test SANITIZE=1` reports). */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "board/riscv_image.h"
#include "vm/loader.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (1u << 20)

/* An RV64 ELF with one PT_LOAD segment of 4 bytes at RAM_BASE + 0x1000, its program header
 * table at file offset phoff. */
static size_t make_elf(uint8_t *buf, size_t phoff)
{
    memset(buf, 0, 512);
    Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_RISCV, .e_version = EV_CURRENT,
                      .e_entry = RAM_BASE + 0x1000, .e_phoff = phoff, .e_ehsize = sizeof(Elf64_Ehdr),
                      .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(buf, &eh, sizeof(eh));
    Elf64_Phdr ph = { .p_type = PT_LOAD, .p_offset = 300, .p_paddr = RAM_BASE + 0x1000, .p_vaddr = RAM_BASE + 0x1000,
                      .p_filesz = 4, .p_memsz = 8 };
    memcpy(buf + phoff, &ph, sizeof(ph));
    memcpy(buf + 300, "kiln", 4);
    return 304;
}

static void load(size_t phoff)
{
    uint8_t file[512];
    size_t len = make_elf(file, phoff);
    char path[] = "/tmp/kiln-loader-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, file, len), (ssize_t)len);
    close(fd);
    uint8_t *ram = calloc(1, RAM_SIZE);
    memset(ram + 0x1004, 0xee, 4);
    struct load_target t = { .host = ram, .base = RAM_BASE, .size = RAM_SIZE };
    struct loaded_image out;
    char err[256] = "";
    int rc = load_firmware(path, &riscv_elf, &t, RAM_BASE, &out, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, 0, "load failed: %s", err);
    cr_assert_eq(out.entry, RAM_BASE + 0x1000);
    cr_assert_eq(out.start, RAM_BASE + 0x1000);
    cr_assert_eq(out.end, RAM_BASE + 0x1008);
    cr_assert(!memcmp(ram + 0x1000, "kiln\0\0\0\0", 8), "segment data or bss wrong");
    free(ram);
}

Test(loader, elf_program_headers_aligned) { load(64); }
Test(loader, elf_program_headers_misaligned) { load(67); }
