/* test_backends.c — picking the machine (vCPU backend + board): --accel names, the kernel's
 * architecture (the boards' probes), a snapshot's architecture. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "arch/x86/kernel.h"
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
    cr_assert(vm_accel_known("kvm", err, sizeof(err)));
    cr_assert_not(vm_accel_known("tcg", err, sizeof(err)));
    cr_assert(strstr(err, "unknown accelerator 'tcg'") != NULL, "%s", err);
    cr_assert(strstr(err, "auto, rv64, kvm") != NULL, "%s", err);
    char list[128];
    vm_accel_list(list, sizeof(list));
    cr_assert_str_eq(list, "auto, rv64, kvm");
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

Test(backends, x86_kernels_go_to_kvm)
{
    char err[256];
    Elf64_Ehdr x86 = elf_header(EM_X86_64);
    const struct vm_machine *m = vm_machine_for_boot(NULL, file_with(&x86, sizeof(x86)), NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "kvm");
    cr_assert_str_eq(m->board->name, "microvm");
    cr_assert_str_eq(m->board->arch, m->backend->arch);
    /* a bzImage: the boot sector's 0x55aa and "HdrS" at 0x202 */
    uint8_t bz[0x300];
    memset(bz, 0, sizeof(bz));
    bz[0x1fe] = 0x55;
    bz[0x1ff] = 0xaa;
    memcpy(bz + 0x202, "HdrS", 4);
    cr_assert(x86_kernel_probe(bz, sizeof(bz)));
    m = vm_machine_for_boot("auto", file_with(bz, sizeof(bz)), NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "kvm");
}

Test(backends, unrecognized_kernels_go_to_the_first_machine)
{
    /* its loader then says what is wrong with the file */
    char err[256];
    Elf64_Ehdr arm = elf_header(EM_AARCH64);
    const struct vm_machine *m = vm_machine_for_boot(NULL, file_with(&arm, sizeof(arm)), NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
    m = vm_machine_for_boot(NULL, "/nonexistent/kernel", NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
}

Test(backends, forced_accel)
{
    char err[256];
    /* forced, whatever the kernel: its loader or the host check says what is wrong */
    const struct vm_machine *m = vm_machine_for_boot("kvm", NULL, NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "kvm");
    m = vm_machine_for_boot("rv64", "/nonexistent/kernel", NULL, err, sizeof(err));
    cr_assert_str_eq(m->backend->name, "rv64");
    cr_assert_null(vm_machine_for_boot("hvf", NULL, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "unknown accelerator 'hvf'") != NULL, "%s", err);
}

Test(backends, kvm_host_check)
{
    /* a device that is not there: one line naming it, and the documented status */
    char err[256] = "";
    setenv("KILN_KVM_DEVICE", "/nonexistent/kvm", 1);
    const struct vm_machine *m = vm_machine_for_arch("x86_64");
    cr_assert_not_null(m);
    cr_assert_eq(m->backend->host_check(err, sizeof(err)), 69);
    cr_assert(strstr(err, "/nonexistent/kvm does not exist") != NULL, "%s", err);
    cr_assert_null(strchr(err, '\n'));
    /* not a KVM device */
    cr_assert_eq(m->backend->host_check(err, sizeof(err)), 69);
    setenv("KILN_KVM_DEVICE", "/dev/null", 1);
    cr_assert_eq(m->backend->host_check(err, sizeof(err)), 69);
    cr_assert(strstr(err, "not a KVM device") != NULL, "%s", err);
    unsetenv("KILN_KVM_DEVICE");
    /* both backends save their vCPUs (snapshots, migration) */
    cr_assert_null(m->backend->no_save);
    cr_assert_null(vm_machine_for_arch("riscv64")->backend->no_save);
}

Test(backends, machine_by_arch)
{
    const struct vm_machine *m = vm_machine_for_arch("riscv64");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->backend->name, "rv64");
    m = vm_machine_for_arch("x86_64");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->backend->name, "kvm");
    cr_assert_null(vm_machine_for_arch(""));
}
