/* test_x86_loader.c — the x86-64 kernel loaders on crafted images: an ELF vmlinux with and
 * without the PVH note, a bzImage, and the ways either can be broken (truncated, wrong magic,
 * old protocol, segments outside RAM); then initrd and command-line placement. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/boot.h"
#include "arch/x86/boot_info.h"
#include "arch/x86/kernel.h"
#include "arch/x86/layout.h"

#define MiB (1ULL << 20)

static struct guest_mem ram;
static char err[256];

static void ram_setup(void)
{
    ram = (struct guest_mem){ .host = calloc(1, 64 * MiB), .base = 0, .size = 64 * MiB };
    cr_assert(ram.host);
    err[0] = 0;
}

static void ram_teardown(void)
{
    free(ram.host);
}

/* ================================================================ crafted ELF */

/* A vmlinux-like image: one text segment at 16 MiB with filesz < memsz (bss), a PT_NOTE with a
 * "Xen" PHYS32_ENTRY note (8-byte value, as x86-64 Linux emits), entry at the segment start. */
#define ELF_PADDR 0x1000000ULL
#define ELF_TEXT  0x200
#define ELF_NOTE  0x1200
#define ELF_SIZE  0x1300

static uint8_t *make_elf(size_t *len, bool pvh)
{
    uint8_t *img = calloc(1, ELF_SIZE);
    Elf64_Ehdr eh = {
        .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
        .e_entry = ELF_PADDR, .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2,
    };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(img, &eh, sizeof(eh));
    Elf64_Phdr ph[2] = {
        { .p_type = PT_LOAD, .p_offset = ELF_TEXT, .p_vaddr = 0xffffffff81000000ULL,
          .p_paddr = ELF_PADDR, .p_filesz = 0x1000, .p_memsz = 0x3000, .p_flags = PF_R | PF_X },
        { .p_type = PT_NOTE, .p_offset = ELF_NOTE, .p_filesz = 12 + 4 + 8 },
    };
    memcpy(img + eh.e_phoff, ph, sizeof(ph));
    memset(img + ELF_TEXT, 0x90, 0x1000);          /* "text": nops */
    Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 8,
                      .n_type = pvh ? X86_ELFNOTE_PHYS32_ENTRY : 1 };
    memcpy(img + ELF_NOTE, &nh, sizeof(nh));
    memcpy(img + ELF_NOTE + 12, "Xen", 4);
    uint64_t pvh_entry = ELF_PADDR + 0x40;
    memcpy(img + ELF_NOTE + 16, &pvh_entry, 8);
    *len = ELF_SIZE;
    return img;
}

static Elf64_Phdr *phdr(uint8_t *img, unsigned i)
{
    return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

Test(x86_elf, loads_segments_and_finds_pvh_note, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_elf(&len, true);
    memset(ram.host + ELF_PADDR + 0x1000, 0xcc, 0x2000);   /* bss must come out zeroed */
    struct x86_kernel k;
    cr_assert(x86_kernel_probe(img, len));
    cr_assert_eq(x86_load_kernel(img, len, &ram, &k, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(k.format, X86_KERNEL_ELF);
    cr_expect_eq(k.entry64, ELF_PADDR);
    cr_expect_eq(k.pvh_entry, ELF_PADDR + 0x40);
    cr_expect_eq(k.start, ELF_PADDR);
    cr_expect_eq(k.end, ELF_PADDR + 0x3000);
    cr_expect_eq(k.initrd_addr_max, 0x37ffffff);
    cr_expect_eq(k.cmdline_max, 2047);
    cr_expect_not(k.has_setup_header);
    cr_expect_eq(ram.host[ELF_PADDR], 0x90);
    cr_expect_eq(ram.host[ELF_PADDR + 0xfff], 0x90);
    cr_expect_eq(ram.host[ELF_PADDR + 0x1000], 0);
    cr_expect_eq(ram.host[ELF_PADDR + 0x2fff], 0);
    free(img);
}

Test(x86_elf, without_pvh_note, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_elf(&len, false);
    struct x86_kernel k;
    cr_assert_eq(x86_load_elf(img, len, &ram, &k, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(k.pvh_entry, 0);
    cr_expect_eq(k.entry64, ELF_PADDR);
    free(img);
}

/* Each broken image is refused with a message containing `why`, and RAM stays untouched. */
static void expect_elf_refused(uint8_t *img, size_t len, const char *why)
{
    struct x86_kernel k;
    err[0] = 0;
    cr_expect_eq(x86_load_kernel(img, len, &ram, &k, err, sizeof(err)), -1, "accepted: %s", why);
    cr_expect(strstr(err, why), "message \"%s\" lacks \"%s\"", err, why);
    cr_expect_eq(ram.host[ELF_PADDR], 0, "RAM written for a refused image");
}

Test(x86_elf, refuses_broken_images, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_elf(&len, true);
    expect_elf_refused(img, 40, "truncated");
    expect_elf_refused(img, sizeof(Elf64_Ehdr) + 10, "program headers");
    expect_elf_refused(img, ELF_TEXT + 0x800, "truncated (segment 0)");

    img[EI_CLASS] = ELFCLASS32;
    expect_elf_refused(img, len, "x86-64");
    img[EI_CLASS] = ELFCLASS64;
    ((Elf64_Ehdr *)img)->e_machine = EM_RISCV;
    cr_expect_not(x86_kernel_probe(img, len));
    expect_elf_refused(img, len, "x86-64");
    ((Elf64_Ehdr *)img)->e_machine = EM_X86_64;
    ((Elf64_Ehdr *)img)->e_type = ET_DYN;
    expect_elf_refused(img, len, "not an executable");
    ((Elf64_Ehdr *)img)->e_type = ET_EXEC;

    phdr(img, 0)->p_paddr = 64 * MiB - 0x1000;            /* ends past 64 MiB of RAM */
    expect_elf_refused(img, len, "outside guest RAM");
    phdr(img, 0)->p_paddr = 0x7000;                       /* over the boot structures */
    expect_elf_refused(img, len, "outside guest RAM");
    phdr(img, 0)->p_paddr = UINT64_MAX - 0x1000;          /* wraps around */
    expect_elf_refused(img, len, "outside guest RAM");
    phdr(img, 0)->p_paddr = ELF_PADDR;
    phdr(img, 0)->p_offset = UINT64_MAX - 10;
    expect_elf_refused(img, len, "truncated");
    phdr(img, 0)->p_offset = ELF_TEXT;
    phdr(img, 0)->p_memsz = 0x800;
    expect_elf_refused(img, len, "larger in the file");
    phdr(img, 0)->p_memsz = 0x3000;

    ((Elf64_Ehdr *)img)->e_entry = 0x5000000;
    expect_elf_refused(img, len, "entry point");
    ((Elf64_Ehdr *)img)->e_entry = ELF_PADDR;
    uint64_t bad = 0x4000000;
    memcpy(img + ELF_NOTE + 16, &bad, 8);
    expect_elf_refused(img, len, "PVH entry point");
    phdr(img, 1)->p_filesz = 20;                         /* note cut in the middle of desc */
    expect_elf_refused(img, len, "note");

    memcpy(img, "\177ELG", 4);
    cr_expect_not(x86_kernel_probe(img, len));
    expect_elf_refused(img, len, "bzImage");   /* neither ELF nor bzImage */
    free(img);
}

/* ================================================================ crafted bzImage */

#define BZ_SETUP_SECTS 4
#define BZ_SETUP_SIZE  ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD     0x3000

static uint8_t *make_bzimage(size_t *len)
{
    *len = BZ_SETUP_SIZE + BZ_PAYLOAD;
    uint8_t *img = calloc(1, *len);
    struct setup_header h = {
        .setup_sects = BZ_SETUP_SECTS, .syssize = BZ_PAYLOAD / 16, .boot_flag = 0xaa55,
        .jump = 0x66eb,                         /* header ends at 0x202 + 0x66 = 0x268 */
        .header = 0x53726448, .version = 0x020f, .loadflags = LOADED_HIGH,
        .initrd_addr_max = 0x7fffffff, .kernel_alignment = 0x200000, .relocatable_kernel = 1,
        .min_alignment = 21, .xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
        .cmdline_size = 0x7ff, .pref_address = 0x1000000, .init_size = 0x800000,
    };
    memcpy(img + 0x1f1, &h, sizeof(h));
    memset(img + BZ_SETUP_SIZE, 0xab, BZ_PAYLOAD);
    img[BZ_SETUP_SIZE + 0x200] = 0xe8;          /* something recognisable at startup_64 */
    return img;
}

static struct setup_header *hdr(uint8_t *img)
{
    return (struct setup_header *)(img + 0x1f1);
}

Test(x86_bzimage, loads_at_1mib, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_bzimage(&len);
    struct x86_kernel k;
    cr_assert(x86_kernel_probe(img, len));
    cr_assert_eq(x86_load_kernel(img, len, &ram, &k, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(k.format, X86_KERNEL_BZIMAGE);
    cr_expect_eq(k.entry64, 0x100200);
    cr_expect_eq(k.pvh_entry, 0);
    cr_expect_eq(k.start, 0x100000);
    /* decompressed at pref_address (16 MiB, above the 2 MiB-aligned load address) + init_size */
    cr_expect_eq(k.end, 0x1000000 + 0x800000);
    cr_expect_eq(k.initrd_addr_max, 0x7fffffff);
    cr_expect_eq(k.cmdline_max, 0x7ff);
    cr_expect(k.has_setup_header);
    cr_expect_eq(k.hdr.version, 0x020f);
    cr_expect_eq(k.hdr.init_size, 0x800000);
    cr_expect_eq(ram.host[0x100000], 0xab);
    cr_expect_eq(ram.host[0x100200], 0xe8);
    cr_expect_eq(ram.host[0x100000 + BZ_PAYLOAD - 1], 0xab);
    cr_expect_eq(ram.host[0x100000 + BZ_PAYLOAD], 0);
    free(img);
}

static void expect_bz_refused(uint8_t *img, size_t len, const char *why)
{
    struct x86_kernel k;
    err[0] = 0;
    cr_expect_eq(x86_load_bzimage(img, len, &ram, &k, err, sizeof(err)), -1, "accepted: %s", why);
    cr_expect(strstr(err, why), "message \"%s\" lacks \"%s\"", err, why);
    cr_expect_eq(ram.host[0x100000], 0, "RAM written for a refused image");
}

Test(x86_bzimage, refuses_broken_images, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_bzimage(&len);
    expect_bz_refused(img, 0x100, "truncated");
    expect_bz_refused(img, BZ_SETUP_SIZE, "truncated");
    expect_bz_refused(img, BZ_SETUP_SIZE + 0x100, "truncated");  /* syssize says 0x3000 */

    hdr(img)->header = 0x53726449;
    cr_expect_not(x86_kernel_probe(img, len));
    expect_bz_refused(img, len, "HdrS");
    hdr(img)->header = 0x53726448;
    hdr(img)->boot_flag = 0;
    expect_bz_refused(img, len, "HdrS");
    hdr(img)->boot_flag = 0xaa55;

    hdr(img)->version = 0x0206;
    expect_bz_refused(img, len, "too old");
    hdr(img)->version = 0x020b;
    expect_bz_refused(img, len, "2.11 is too old");
    hdr(img)->version = 0x020f;
    hdr(img)->xloadflags = 0;
    expect_bz_refused(img, len, "64-bit");
    hdr(img)->xloadflags = XLF_KERNEL_64;
    hdr(img)->loadflags = 0;
    expect_bz_refused(img, len, "zImage");
    hdr(img)->loadflags = LOADED_HIGH;
    hdr(img)->kernel_alignment = 0x300000;
    expect_bz_refused(img, len, "power of two");
    hdr(img)->kernel_alignment = 0x200000;
    hdr(img)->init_size = 60 * MiB;                   /* 16 MiB + 60 MiB > 64 MiB of RAM */
    expect_bz_refused(img, len, "needs guest RAM");
    hdr(img)->init_size = 0x800000;
    hdr(img)->setup_sects = 200;                      /* setup bigger than the file */
    expect_bz_refused(img, len, "setup code");
    free(img);
}

Test(x86_bzimage, setup_sects_zero_means_four, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_bzimage(&len);
    hdr(img)->setup_sects = 0;
    struct x86_kernel k;
    cr_assert_eq(x86_load_bzimage(img, len, &ram, &k, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(ram.host[0x100200], 0xe8);
    free(img);
}

/* ================================================================ initrd and command line */

Test(x86_initrd, highest_page_below_limits, .init = ram_setup, .fini = ram_teardown)
{
    struct x86_kernel k = { .end = 0x1003000, .initrd_addr_max = 0x37ffffff, .cmdline_max = 10 };
    uint8_t rd[5000];
    memset(rd, 0x42, sizeof(rd));
    uint64_t at = 0;
    cr_assert_eq(x86_load_initrd(rd, sizeof(rd), &ram, &k, &at, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(at, 64 * MiB - 8192, "page aligned, ends within RAM");
    cr_expect_eq(ram.host[at], 0x42);
    cr_expect_eq(ram.host[at + sizeof(rd) - 1], 0x42);

    k.initrd_addr_max = 32 * MiB - 1;                 /* the kernel's limit is lower than RAM */
    cr_assert_eq(x86_load_initrd(rd, sizeof(rd), &ram, &k, &at, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(at, 32 * MiB - 8192);
    cr_expect_leq(at + sizeof(rd) - 1, k.initrd_addr_max);

    k.end = 32 * MiB - 4096;                          /* no room between kernel and limit */
    cr_expect_eq(x86_load_initrd(rd, sizeof(rd), &ram, &k, &at, err, sizeof(err)), -1);
    cr_expect(strstr(err, "does not fit"), "%s", err);
}

Test(x86_cmdline, placed_and_bounded, .init = ram_setup, .fini = ram_teardown)
{
    struct x86_kernel k = { .cmdline_max = 16 };
    cr_assert_eq(x86_load_cmdline("console=ttyS0", &ram, &k, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq((const char *)ram.host + X86_CMDLINE_ADDR, "console=ttyS0");
    cr_expect_eq(x86_load_cmdline("0123456789abcdef", &ram, &k, err, sizeof(err)), 0);
    cr_expect_eq(x86_load_cmdline("0123456789abcdefg", &ram, &k, err, sizeof(err)), -1);
    cr_expect(strstr(err, "17 bytes"), "%s", err);
}

/* ================================================================ real kernels */

/* The default x86-64 guest's kernels (guest/build-x86_64.sh), when they have been built: the
 * vmlinux must carry the PVH note, the bzImage a 64-bit entry; both load into 512 MiB. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

Test(x86_real_kernel, default_guest_when_built)
{
    static const char *paths[] = { "build/guest-x86_64/vmlinux", "build/guest-x86_64/bzImage" };
    struct guest_mem big = { .host = calloc(1, 512 * MiB), .base = 0, .size = 512 * MiB };
    cr_assert(big.host);
    int found = 0;
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *img = read_file(paths[i], &len);
        if (!img)
            continue;
        found++;
        struct x86_kernel k;
        cr_expect(x86_kernel_probe(img, len), "%s", paths[i]);
        cr_expect_eq(x86_load_kernel(img, len, &big, &k, err, sizeof(err)), 0, "%s: %s",
                     paths[i], err);
        if (i == 0) {
            cr_expect_eq(k.format, X86_KERNEL_ELF);
            cr_expect_neq(k.pvh_entry, 0, "%s has no PVH entry", paths[i]);
        } else {
            cr_expect_eq(k.format, X86_KERNEL_BZIMAGE);
            cr_expect_eq(k.entry64, 0x100200);
        }
        free(img);
    }
    free(big.host);
    if (!found)
        cr_skip_test("build/guest-x86_64 not built");
}

/* ================================================================ the whole boot preparation */

Test(x86_boot_prepare, elf_with_pvh_note, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_elf(&len, true);
    uint8_t rd[100] = { 7 };
    struct x86_boot_request rq = { .kernel = img, .kernel_len = len, .initrd = rd,
                                   .initrd_len = sizeof(rd), .cmdline = "console=ttyS0",
                                   .ram_size = 64 * MiB, .cpus = 2 };
    struct x86_boot_plan plan;
    cr_assert_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(plan.mode, X86_BOOT_MODE_PVH32);
    cr_expect_eq(plan.entry, ELF_PADDR + 0x40);
    cr_expect_eq(plan.initrd_addr, 64 * MiB - 4096);
    cr_expect_eq(plan.initrd_size, 100);
    uint32_t magic;
    memcpy(&magic, ram.host + X86_PVH_INFO_ADDR, 4);
    cr_expect_eq(magic, 0x336ec578);
    cr_expect_eq(memcmp(ram.host + X86_MPTABLE_ADDR, "_MP_", 4), 0);
    cr_expect_str_eq((const char *)ram.host + X86_CMDLINE_ADDR, "console=ttyS0");
    cr_expect_eq(ram.host[plan.initrd_addr], 7);
    uint64_t code;
    memcpy(&code, ram.host + X86_GDT_ADDR + 0x10, 8);
    cr_expect_eq(code, 0x00cf9b000000ffffULL, "32-bit code segment for PVH");
    free(img);
}

Test(x86_boot_prepare, linux64_when_asked_or_bzimage, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_elf(&len, true);
    struct x86_boot_request rq = { .kernel = img, .kernel_len = len, .cmdline = "quiet",
                                   .ram_size = 64 * MiB, .cpus = 1, .no_pvh = true };
    struct x86_boot_plan plan;
    cr_assert_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(plan.mode, X86_BOOT_MODE_LONG64);
    cr_expect_eq(plan.entry, ELF_PADDR);
    const struct boot_params *bp = (const void *)(ram.host + X86_ZERO_PAGE_ADDR);
    cr_expect_eq(bp->hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
    cr_expect_eq(bp->hdr.ramdisk_image, 0);
    cr_expect_eq(bp->e820_entries, 3);
    free(img);

    memset(ram.host, 0, ram.size);
    img = make_bzimage(&len);
    rq = (struct x86_boot_request){ .kernel = img, .kernel_len = len, .cmdline = "quiet",
                                    .ram_size = 64 * MiB, .cpus = 4 };
    cr_assert_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(plan.mode, X86_BOOT_MODE_LONG64);
    cr_expect_eq(plan.entry, 0x100200);
    cr_expect_eq(bp->hdr.version, 0x020f, "the bzImage's header in the zero page");
    cr_expect_eq(bp->hdr.type_of_loader, 0xff);
    uint64_t pml4e;
    memcpy(&pml4e, ram.host + X86_PML4_ADDR, 8);
    cr_expect_eq(pml4e, X86_PDPT_ADDR | 3);
    free(img);
}

Test(x86_boot_prepare, refusals, .init = ram_setup, .fini = ram_teardown)
{
    size_t len;
    uint8_t *img = make_bzimage(&len);
    struct x86_boot_request rq = { .kernel = img, .kernel_len = len, .ram_size = 64 * MiB,
                                   .cpus = 0 };
    struct x86_boot_plan plan;
    cr_expect_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), -1);
    cr_expect(strstr(err, "vCPUs"), "%s", err);
    rq.cpus = 38;                         /* one more than the MP table's KiB holds */
    cr_expect_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), -1);
    cr_expect(strstr(err, "38 vCPUs"), "%s", err);
    rq.cpus = 1;
    rq.kernel_len = 100;
    cr_expect_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), -1);
    cr_expect(strstr(err, "truncated"), "%s", err);
    rq.kernel_len = len;
    char longline[3000];
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = 0;
    rq.cmdline = longline;
    cr_expect_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), -1);
    cr_expect(strstr(err, "command line"), "%s", err);
    rq.cmdline = NULL;
    rq.ram_size = 128 * MiB;              /* more RAM than the view covers */
    cr_expect_eq(x86_boot_prepare(&ram, &rq, &plan, err, sizeof(err)), -1);
    cr_expect(strstr(err, "too small"), "%s", err);
    free(img);
}

/* ================================================================ corruption */

/* Headers with random bytes flipped: every result is a load or a one-line refusal, never a read
 * outside the image or a write outside RAM (the sanitizer build turns either into a crash). */
Test(x86_loader_fuzz, corrupted_headers_never_crash, .init = ram_setup, .fini = ram_teardown)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t elf_len, bz_len;
    uint8_t *elf = make_elf(&elf_len, true), *bz = make_bzimage(&bz_len);
    uint8_t *work = malloc(bz_len > elf_len ? bz_len : elf_len);
    int loaded = 0, refused = 0;
    for (int iter = 0; iter < 3000; iter++) {
        bool use_elf = iter & 1;
        const uint8_t *src = use_elf ? elf : bz;
        size_t len = use_elf ? elf_len : bz_len;
        memcpy(work, src, len);
        /* flip bytes in the headers: the ELF header + program headers + note, or the setup
         * header */
        size_t lo = use_elf ? 0 : 0x1f1, span = use_elf ? 0xb0 : 0x80;
        for (int f = 0; f < 1 + iter % 4; f++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = lo + (seed >> 33) % span;
            if (use_elf && (seed & 1))
                at = ELF_NOTE + (seed >> 40) % 24;
            work[at] ^= (uint8_t)(seed >> 24) | 1;
        }
        size_t cut = (iter % 7 == 0) ? (seed >> 20) % len : len;
        struct x86_kernel k;
        err[0] = 0;
        int r = x86_load_kernel(work, cut, &ram, &k, err, sizeof(err));
        cr_assert(r == 0 || r == -1);
        if (r == 0) {
            loaded++;
            cr_assert_leq(k.end, ram.size);
        } else {
            refused++;
            cr_assert_neq(err[0], 0, "refusal without a reason");
            cr_assert_null(strchr(err, '\n'));
        }
    }
    cr_expect_gt(refused, 0);
    cr_expect_gt(loaded, 0, "some corruptions are harmless");
    free(work);
    free(elf);
    free(bz);
}
