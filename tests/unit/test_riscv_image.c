/* test_riscv_image.c — the kernel loader's size checks on hostile RISC-V Image headers (board/riscv_image.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "board/riscv_image.h"
#include "vm/config.h"
#include "vm/loader.h"

#define RAM_BASE 0x80000000ull
#define LOAD     (RAM_BASE + 0x200000ull)

static char path[] = "/tmp/kiln-test-loader-XXXXXX";
static uint8_t *ram_buf;
static struct load_target ram;
static char err[512];

static void setup(void)
{
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    ram_buf = calloc(1, 4 << 20);
    cr_assert_not_null(ram_buf);
    ram = (struct load_target){ ram_buf, RAM_BASE, 4 << 20 };
    err[0] = 0;
}

static void teardown(void)
{
    unlink(path);
    free(ram_buf);
}

TestSuite(loader, .init = setup, .fini = teardown);

/* A 64 KiB Image whose header claims image_size (text + bss) bytes. */
static void write_image(uint64_t image_size)
{
    static uint8_t img[64 << 10];
    memset(img, 0, sizeof(img));
    memcpy(img + 16, &image_size, 8);          /* little-endian host, as the header */
    memcpy(img + 48, "RISCV\0\0\0", 8);
    memcpy(img + 56, "RSC\x05", 4);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(img, 1, sizeof(img), f), sizeof(img));
    fclose(f);
}

Test(loader, image_size_near_2_to_the_64_is_refused_with_its_real_size)
{
    write_image(UINT64_MAX);
    struct loaded_image out;
    cr_assert_eq(riscv_load_kernel(path, &ram, LOAD, &out, err, sizeof(err)), KILN_EXIT_BAD_IMAGE);
    /* 2^64 - 1 bytes, rounded up: 2^44 MiB (it once wrapped to "needs 0 MiB") */
    cr_assert(strstr(err, "needs 17592186044416 MiB at 0x80200000"), "%s", err);
}

Test(loader, image_size_larger_than_ram_names_rounded_mib)
{
    write_image((3ull << 20) + 1);   /* 2 MiB of RAM are left above the load address */
    struct loaded_image out;
    cr_assert_eq(riscv_load_kernel(path, &ram, LOAD, &out, err, sizeof(err)), KILN_EXIT_BAD_IMAGE);
    cr_assert(strstr(err, "needs 4 MiB at 0x80200000 but guest RAM ends at 0x80400000"), "%s", err);
}

Test(loader, image_that_fits_reserves_its_image_size)
{
    write_image(1 << 20);
    struct loaded_image out;
    cr_assert_eq(riscv_load_kernel(path, &ram, LOAD, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(out.entry, LOAD);
    cr_assert_eq(out.end, LOAD + (1 << 20), "the bss beyond the file is reserved");
}
