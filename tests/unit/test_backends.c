/* test_backends.c — picking the machine (vCPU backend + board): --accel names, the kernel's
 * architecture (the boards' probes), a snapshot's architecture. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "board/riscv_image.h"
#include "vm/backends.h"

static char path[64];

/* a file holding the first len bytes of head */
static const char *file_with(const void *head, size_t len)
{
    snprintf(path, sizeof(path), "/tmp/kiln-test-backends-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(head, 1, len, f), len);
    fclose(f);
    return path;
}

static void teardown(void) { unlink(path); }

TestSuite(backends, .fini = teardown);

static Elf64_Ehdr elf_header(uint16_t machine)
{
    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof(eh));
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_machine = machine;
    return eh;
}

/* the RISC-V Image header: magic2 "RSC\x05" at offset 56 */
static void image_header(uint8_t *buf, size_t len)
{
    memset(buf, 0, len);
    memcpy(buf + 56, "RSC\x05", 4);
}

Test(backends, accel_names)
{
    char err[256];
    cr_assert(vm_accel_known("auto", err, sizeof(err)));
    cr_assert(vm_accel_known("rv64", err, sizeof(err)));
    cr_assert_not(vm_accel_known("kvm", err, sizeof(err)));
    cr_assert(strstr(err, "not built") != NULL, "%s", err);
    cr_assert_not(vm_accel_known("tcg", err, sizeof(err)));
    cr_assert(strstr(err, "unknown accelerator 'tcg'") != NULL, "%s", err);
    char list[128];
    vm_accel_list(list, sizeof(list));
    cr_assert_str_eq(list, "auto, rv64");
}

Test(backends, riscv_probe)
{
    Elf64_Ehdr rv = elf_header(EM_RISCV), x86 = elf_header(EM_X86_64);
    uint8_t img[64];
    image_header(img, sizeof(img));
    cr_assert(riscv_image_probe((const uint8_t *)&rv, sizeof(rv)));
    cr_assert_not(riscv_image_probe((const uint8_t *)&x86, sizeof(x86)));
    cr_assert(riscv_image_probe(img, sizeof(img)));
    cr_assert_not(riscv_image_probe(img, 32), "too short for the header");
    cr_assert_not(riscv_image_probe((const uint8_t *)"garbage", 7));
}

Test(backends, machine_follows_the_kernel)
{
    char err[256];
    uint8_t img[64];
    image_header(img, sizeof(img));
    const struct vm_machine *m = vm_machine_for_boot(NULL, file_with(img, sizeof(img)), NULL, err, sizeof(err));
    cr_assert_not_null(m);
    cr_assert_str_eq(m->backend->name, "rv64");
    cr_assert_str_eq(m->board->name, "virt");
    cr_assert_str_eq(m->board->arch, m->backend->arch);
    /* without a kernel, the firmware decides */
    Elf64_Ehdr rv = elf_header(EM_RISCV);
    m = vm_machine_for_boot("auto", NULL, file_with(&rv, sizeof(rv)), err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
}

Test(backends, unrecognized_kernels_go_to_the_first_machine)
{
    /* its loader then says what is wrong with the file */
    char err[256];
    Elf64_Ehdr x86 = elf_header(EM_X86_64);
    const struct vm_machine *m = vm_machine_for_boot(NULL, file_with(&x86, sizeof(x86)), NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
    m = vm_machine_for_boot(NULL, "/nonexistent/kernel", NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
}

Test(backends, forced_accel)
{
    char err[256];
    cr_assert_null(vm_machine_for_boot("kvm", NULL, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "kvm") != NULL, "%s", err);
    const struct vm_machine *m = vm_machine_for_boot("rv64", "/nonexistent/kernel", NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
}

Test(backends, machine_by_arch)
{
    const struct vm_machine *m = vm_machine_for_arch("riscv64");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->backend->name, "rv64");
    cr_assert_null(vm_machine_for_arch("x86_64"));
    cr_assert_null(vm_machine_for_arch(""));
}
