/* test_x86_boot.c — the x86-64 boot-protocol structures kiln builds in guest memory: zero page
 * layout against boot.rst's offsets, the e820 map for several RAM sizes, the PVH start info, the
 * MP table, and the descriptor/page tables and registers for both entry modes. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/boot_cpu.h"
#include "arch/x86/boot_info.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct guest_mem ram;

static void ram_setup(void)
{
    ram.size = 64 * MiB;
    ram.base = 0;
    ram.host = calloc(1, ram.size);
    cr_assert(ram.host);
}

static void ram_teardown(void)
{
    free(ram.host);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s += *p++;
    return s;
}

/* ================================================================ zero page layout */

/* offsets from Documentation/arch/x86/zero-page.rst and boot.rst, written out here so that a
 * wrong header (or a hand-made struct replacing it) fails */
Test(x86_layout, boot_params_offsets)
{
    cr_expect_eq(sizeof(struct boot_params), 4096);
    cr_expect_eq(offsetof(struct boot_params, ext_ramdisk_image), 0x0c0);
    cr_expect_eq(offsetof(struct boot_params, ext_ramdisk_size), 0x0c4);
    cr_expect_eq(offsetof(struct boot_params, ext_cmd_line_ptr), 0x0c8);
    cr_expect_eq(offsetof(struct boot_params, e820_entries), 0x1e8);
    cr_expect_eq(offsetof(struct boot_params, hdr), 0x1f1);
    cr_expect_eq(offsetof(struct boot_params, e820_table), 0x2d0);
    cr_expect_eq(sizeof(struct boot_e820_entry), 20);
    cr_expect_eq(E820_MAX_ENTRIES_ZEROPAGE, 128);
}

#define HDR(field) (0x1f1 + offsetof(struct setup_header, field))
Test(x86_layout, setup_header_offsets)
{
    cr_expect_eq(HDR(setup_sects), 0x1f1);
    cr_expect_eq(HDR(syssize), 0x1f4);
    cr_expect_eq(HDR(boot_flag), 0x1fe);
    cr_expect_eq(HDR(header), 0x202);
    cr_expect_eq(HDR(version), 0x206);
    cr_expect_eq(HDR(type_of_loader), 0x210);
    cr_expect_eq(HDR(loadflags), 0x211);
    cr_expect_eq(HDR(code32_start), 0x214);
    cr_expect_eq(HDR(ramdisk_image), 0x218);
    cr_expect_eq(HDR(ramdisk_size), 0x21c);
    cr_expect_eq(HDR(heap_end_ptr), 0x224);
    cr_expect_eq(HDR(cmd_line_ptr), 0x228);
    cr_expect_eq(HDR(initrd_addr_max), 0x22c);
    cr_expect_eq(HDR(kernel_alignment), 0x230);
    cr_expect_eq(HDR(relocatable_kernel), 0x234);
    cr_expect_eq(HDR(xloadflags), 0x236);
    cr_expect_eq(HDR(cmdline_size), 0x238);
    cr_expect_eq(HDR(payload_offset), 0x248);
    cr_expect_eq(HDR(pref_address), 0x258);
    cr_expect_eq(HDR(init_size), 0x260);
}

Test(x86_layout, pvh_and_mp_structures)
{
    cr_expect_eq(sizeof(struct hvm_start_info), 56);
    cr_expect_eq(offsetof(struct hvm_start_info, memmap_paddr), 40);
    cr_expect_eq(sizeof(struct hvm_memmap_table_entry), 24);
    cr_expect_eq(sizeof(struct hvm_modlist_entry), 32);
    cr_expect_eq(sizeof(struct mpf_intel), 16);
    cr_expect_eq(sizeof(struct mpc_table), 44);
    cr_expect_eq(sizeof(struct mpc_cpu), 20);
    /* boot structures do not overlap each other or the PVH memmap's room */
    cr_expect_leq(X86_PVH_MEMMAP_ADDR + X86_PVH_MEMMAP_MAX * 24, X86_ZERO_PAGE_ADDR);
    cr_expect_leq(X86_ZERO_PAGE_ADDR + 4096, X86_BOOT_STACK);
    cr_expect_leq(X86_PD_ADDR + 4 * 4096, X86_CMDLINE_ADDR);
    cr_expect_leq(X86_CMDLINE_ADDR + X86_CMDLINE_MAX, X86_MPTABLE_ADDR);
}

/* ================================================================ e820 */

static int e820(uint64_t ram_size, struct boot_e820_entry *e)
{
    return x86_e820_build(ram_size, e, X86_E820_MAX);
}

Test(x86_e820, small_ram)
{
    struct boot_e820_entry e[X86_E820_MAX];
    cr_assert_eq(e820(256 * MiB, e), 3);
    cr_expect_eq(e[0].addr, 0);
    cr_expect_eq(e[0].size, 0x9fc00);
    cr_expect_eq(e[0].type, E820_RAM);
    cr_expect_eq(e[1].addr, 0x9fc00);
    cr_expect_eq(e[1].size, 0x400);
    cr_expect_eq(e[1].type, E820_RESERVED);
    cr_expect_eq(e[2].addr, 1 * MiB);
    cr_expect_eq(e[2].size, 255 * MiB);
    cr_expect_eq(e[2].type, E820_RAM);
}

Test(x86_e820, ram_just_below_the_hole)
{
    struct boot_e820_entry e[X86_E820_MAX];
    cr_assert_eq(e820(X86_MMIO_HOLE_START, e), 3);
    cr_expect_eq(e[2].addr + e[2].size, X86_MMIO_HOLE_START);
}

Test(x86_e820, ram_crossing_the_mmio_hole)
{
    struct boot_e820_entry e[X86_E820_MAX];
    uint64_t size = 4 * GiB;   /* 3.25 GiB below the hole, 0.75 GiB above 4 GiB */
    cr_assert_eq(e820(size, e), 4);
    cr_expect_eq(e[2].addr, 1 * MiB);
    cr_expect_eq(e[2].addr + e[2].size, 0xd0000000);
    cr_expect_eq(e[3].addr, 4 * GiB);
    cr_expect_eq(e[3].size, size - 0xd0000000);
    cr_expect_eq(e[3].type, E820_RAM);
    /* all RAM accounted for: conventional + from 1 MiB + high = size - (1 MiB - 0x9fc00) */
    uint64_t ram = 0;
    for (int i = 0; i < 4; i++)
        if (e[i].type == E820_RAM)
            ram += e[i].size;
    cr_expect_eq(ram, size - (1 * MiB - 0x9fc00));
    struct x86_ram_layout l = x86_ram_layout(size);
    cr_expect_eq(l.low, 0xd0000000);
    cr_expect_eq(l.high, size - 0xd0000000);
}

Test(x86_e820, too_small_or_no_room)
{
    struct boot_e820_entry e[X86_E820_MAX];
    cr_expect_eq(e820(1 * MiB, e), -1);
    cr_expect_eq(x86_e820_build(256 * MiB, e, 2), -1);
    cr_expect_eq(x86_e820_build(5 * GiB, e, 3), -1);
}

/* ================================================================ zero page */

Test(x86_zero_page, elf_kernel_fields, .init = ram_setup, .fini = ram_teardown)
{
    struct x86_kernel k = { .format = X86_KERNEL_ELF, .entry64 = 0x1000000 };
    struct x86_boot_args a = { .kernel = &k, .ram_size = 512 * MiB,
                               .cmdline_addr = X86_CMDLINE_ADDR, .cmdline_len = 13,
                               .initrd_addr = 0x3000000, .initrd_size = 0x123456 };
    cr_assert_eq(x86_zero_page_write(&ram, &a), 0);
    const uint8_t *zp = ram.host + X86_ZERO_PAGE_ADDR;
    uint32_t v32;
    uint16_t v16;
    memcpy(&v16, zp + 0x1fe, 2);
    cr_expect_eq(v16, 0xaa55);
    cr_expect_eq(memcmp(zp + 0x202, "HdrS", 4), 0);
    cr_expect_eq(zp[0x210], 0xff);                     /* type_of_loader */
    cr_expect(zp[0x211] & LOADED_HIGH);
    memcpy(&v32, zp + 0x228, 4);
    cr_expect_eq(v32, X86_CMDLINE_ADDR);
    memcpy(&v32, zp + 0x218, 4);
    cr_expect_eq(v32, 0x3000000);
    memcpy(&v32, zp + 0x21c, 4);
    cr_expect_eq(v32, 0x123456);
    cr_expect_eq(zp[0x1e8], 3);                        /* e820_entries */
    struct boot_e820_entry e;
    memcpy(&e, zp + 0x2d0 + 2 * 20, sizeof(e));
    cr_expect_eq(e.addr, 1 * MiB);
    cr_expect_eq(e.size, 511 * MiB);
}

Test(x86_zero_page, bzimage_header_is_kept)
{
    struct x86_kernel k = { .format = X86_KERNEL_BZIMAGE, .has_setup_header = true };
    k.hdr.version = 0x020f;
    k.hdr.cmdline_size = 0x7ff;
    k.hdr.kernel_alignment = 0x200000;
    k.hdr.type_of_loader = 0;
    struct x86_boot_args a = { .kernel = &k, .ram_size = 5 * GiB,
                               .cmdline_addr = X86_CMDLINE_ADDR };
    struct boot_params bp;
    memset(&bp, 0xa5, sizeof(bp));
    cr_assert_eq(x86_zero_page_build(&bp, &a), 0);
    cr_expect_eq(bp.hdr.version, 0x020f);
    cr_expect_eq(bp.hdr.cmdline_size, 0x7ff);
    cr_expect_eq(bp.hdr.kernel_alignment, 0x200000);
    cr_expect_eq(bp.hdr.type_of_loader, 0xff);
    cr_expect_eq(bp.hdr.ramdisk_image, 0);
    cr_expect_eq(bp.e820_entries, 4);
    cr_expect_eq(bp.e820_table[3].addr, 4 * GiB);
    cr_expect_eq(bp._pad9[0], 0);                      /* everything else zeroed */
}

/* ================================================================ PVH */

Test(x86_pvh, start_info, .init = ram_setup, .fini = ram_teardown)
{
    struct x86_kernel k = { .format = X86_KERNEL_ELF, .pvh_entry = 0x1000100 };
    struct x86_boot_args a = { .kernel = &k, .ram_size = 64 * MiB,
                               .cmdline_addr = X86_CMDLINE_ADDR,
                               .initrd_addr = 0x2000000, .initrd_size = 4096 };
    cr_assert_eq(x86_pvh_write(&ram, &a), 0);
    const uint8_t *p = ram.host + X86_PVH_INFO_ADDR;
    uint32_t v32;
    uint64_t v64;
    memcpy(&v32, p + 0, 4);
    cr_expect_eq(v32, 0x336ec578);
    memcpy(&v32, p + 4, 4);
    cr_expect_eq(v32, 1);
    memcpy(&v32, p + 12, 4);
    cr_expect_eq(v32, 1);                              /* nr_modules */
    memcpy(&v64, p + 16, 8);
    cr_expect_eq(v64, X86_PVH_MODLIST_ADDR);
    memcpy(&v64, p + 24, 8);
    cr_expect_eq(v64, X86_CMDLINE_ADDR);
    memcpy(&v64, p + 32, 8);
    cr_expect_eq(v64, 0);                              /* no ACPI RSDP */
    memcpy(&v64, p + 40, 8);
    cr_expect_eq(v64, X86_PVH_MEMMAP_ADDR);
    memcpy(&v32, p + 48, 4);
    cr_expect_eq(v32, 3);
    const uint8_t *mod = ram.host + X86_PVH_MODLIST_ADDR;
    memcpy(&v64, mod, 8);
    cr_expect_eq(v64, 0x2000000);
    memcpy(&v64, mod + 8, 8);
    cr_expect_eq(v64, 4096);
    const uint8_t *map = ram.host + X86_PVH_MEMMAP_ADDR + 2 * 24;
    memcpy(&v64, map, 8);
    cr_expect_eq(v64, 1 * MiB);
    memcpy(&v64, map + 8, 8);
    cr_expect_eq(v64, 63 * MiB);
    memcpy(&v32, map + 16, 4);
    cr_expect_eq(v32, E820_RAM);
}

Test(x86_pvh, no_initrd_no_module, .init = ram_setup, .fini = ram_teardown)
{
    struct x86_boot_args a = { .ram_size = 64 * MiB };
    cr_assert_eq(x86_pvh_write(&ram, &a), 0);
    const struct hvm_start_info *si = (const void *)(ram.host + X86_PVH_INFO_ADDR);
    cr_expect_eq(si->nr_modules, 0);
    cr_expect_eq(si->modlist_paddr, 0);
}

/* ================================================================ MP table */

static void check_mptable(unsigned ncpus)
{
    cr_assert_eq(x86_mptable_write(&ram, ncpus), 0, "%u cpus", ncpus);
    const uint8_t *mpf = ram.host + X86_MPTABLE_ADDR;
    cr_expect_eq(memcmp(mpf, "_MP_", 4), 0);
    cr_expect_eq(sum(mpf, 16), 0, "floating pointer checksum");
    cr_expect_eq(mpf[8], 1);
    cr_expect_eq(mpf[9], 4);
    uint32_t physptr;
    memcpy(&physptr, mpf + 4, 4);
    cr_assert_eq(physptr, X86_MPTABLE_ADDR + 16);
    const uint8_t *t = ram.host + physptr;
    cr_expect_eq(memcmp(t, "PCMP", 4), 0);
    uint16_t len, count;
    memcpy(&len, t + 4, 2);
    memcpy(&count, t + 34, 2);
    cr_expect_eq(len, 44 + ncpus * 20 + 8 + 8 + 24 * 8 + 2 * 8);
    cr_expect_eq(sum(t, len), 0, "table checksum");
    cr_expect_eq(count, ncpus + 1 + 1 + 24 + 2);
    cr_expect_leq(X86_MPTABLE_ADDR + 16 + len, X86_LOWMEM_END);
    uint32_t lapic;
    memcpy(&lapic, t + 36, 4);
    cr_expect_eq(lapic, 0xfee00000);

    /* walk the entries by their types' sizes */
    const uint8_t *p = t + 44;
    unsigned cpus = 0, bsp = 0, buses = 0, ioapics = 0, ints = 0, lints = 0;
    uint32_t irq_seen = 0;
    for (unsigned i = 0; i < count; i++) {
        switch (p[0]) {
        case MP_PROCESSOR:
            cr_expect_eq(p[1], cpus, "APIC ids in order");
            cr_expect(p[3] & MP_CPU_ENABLED);
            bsp += !!(p[3] & MP_CPU_BSP);
            cpus++;
            p += 20;
            break;
        case MP_BUS:
            cr_expect_eq(memcmp(p + 2, "ISA   ", 6), 0);
            buses++;
            p += 8;
            break;
        case MP_IOAPIC: {
            uint32_t addr;
            memcpy(&addr, p + 4, 4);
            cr_expect_eq(addr, 0xfec00000);
            cr_expect_eq(p[1], ncpus, "IOAPIC id after the CPUs'");
            ioapics++;
            p += 8;
            break;
        }
        case MP_INTSRC:
            cr_expect_eq(p[5], p[7], "ISA IRQ n on IOAPIC pin n");
            cr_expect_eq(p[6], ncpus);
            irq_seen |= 1u << p[7];
            ints++;
            p += 8;
            break;
        case MP_LINTSRC:
            lints++;
            p += 8;
            break;
        default:
            cr_assert_fail("unknown entry type %u", p[0]);
        }
    }
    cr_expect_eq(cpus, ncpus);
    cr_expect_eq(bsp, 1);
    cr_expect_eq(buses, 1);
    cr_expect_eq(ioapics, 1);
    cr_expect_eq(ints, 24);
    cr_expect_eq(irq_seen, 0xffffff);
    cr_expect_eq(lints, 2);
    cr_expect_eq((size_t)(p - mpf), x86_mptable_size(ncpus));
}

Test(x86_mptable, one_two_and_many_cpus, .init = ram_setup, .fini = ram_teardown)
{
    check_mptable(1);
    check_mptable(2);
    check_mptable(32);
    check_mptable(x86_mptable_max_cpus());
}

Test(x86_mptable, refuses_what_does_not_fit, .init = ram_setup, .fini = ram_teardown)
{
    cr_expect_eq(x86_mptable_max_cpus(), 37);
    cr_expect_eq(x86_mptable_write(&ram, 0), -1);
    cr_expect_eq(x86_mptable_write(&ram, x86_mptable_max_cpus() + 1), -1);
    struct guest_mem tiny = { .host = ram.host, .base = 0, .size = 0x9fc00 };
    cr_expect_eq(x86_mptable_write(&tiny, 1), -1);
}

/* ================================================================ entry state */

Test(x86_boot_cpu, gdt_entries)
{
    /* the well-known encodings of flat segments */
    cr_expect_eq(x86_gdt_entry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffULL);
    cr_expect_eq(x86_gdt_entry(0xc093, 0, 0xfffff), 0x00cf93000000ffffULL);
    cr_expect_eq(x86_gdt_entry(0xc09b, 0, 0xfffff), 0x00cf9b000000ffffULL);
    cr_expect_eq(x86_gdt_entry(0x008b, 0x12345678, 0x67), 0x12008b3456780067ULL);
    struct kvm_segment s = x86_segment_from_gdt(0x00af9b000000ffffULL, 0x10);
    cr_expect_eq(s.base, 0);
    cr_expect_eq(s.limit, 0xffffffff);
    cr_expect_eq(s.type, 0xb);
    cr_expect_eq(s.l, 1);
    cr_expect_eq(s.db, 0);
    cr_expect_eq(s.g, 1);
    cr_expect_eq(s.s, 1);
    cr_expect_eq(s.present, 1);
    cr_expect_eq(s.selector, 0x10);
    s = x86_segment_from_gdt(0x12008b3456780067ULL, 0x20);
    cr_expect_eq(s.base, 0x12345678);
    cr_expect_eq(s.limit, 0x67);
    cr_expect_eq(s.s, 0);
}

Test(x86_boot_cpu, long_mode_tables_and_registers, .init = ram_setup, .fini = ram_teardown)
{
    cr_assert_eq(x86_boot_tables_write(&ram, X86_BOOT_MODE_LONG64), 0);
    uint64_t q;
    memcpy(&q, ram.host + X86_GDT_ADDR + X86_SEL_CODE, 8);
    cr_expect_eq(q, 0x00af9b000000ffffULL);
    memcpy(&q, ram.host + X86_GDT_ADDR + X86_SEL_DATA, 8);
    cr_expect_eq(q, 0x00cf93000000ffffULL);
    /* walk the identity map for a few addresses, as the MMU would */
    uint64_t addrs[] = { 0, 0x100000, 0x1000000, 0x3fffffff, 0xcfe00000, 0xffffffff };
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        uint64_t va = addrs[i], pml4e, pdpte, pde;
        memcpy(&pml4e, ram.host + X86_PML4_ADDR + ((va >> 39) & 511) * 8, 8);
        cr_assert(pml4e & 1);
        memcpy(&pdpte, ram.host + (pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8, 8);
        cr_assert(pdpte & 1);
        memcpy(&pde, ram.host + (pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8, 8);
        cr_assert(pde & 1);
        cr_assert(pde & 0x80, "2 MiB page");
        cr_expect_eq((pde & ~0x1fffffULL) | (va & 0x1fffff), va, "identity at 0x%llx",
                     (unsigned long long)va);
    }
    struct kvm_sregs s;
    memset(&s, 0x5a, sizeof(s));
    s.apic_base = 0xfee00900;
    x86_boot_sregs(&s, X86_BOOT_MODE_LONG64);
    cr_expect_eq(s.cs.selector, 0x10);
    cr_expect_eq(s.cs.l, 1);
    cr_expect_eq(s.ds.selector, 0x18);
    cr_expect_eq(s.ss.selector, 0x18);
    cr_expect_eq(s.tr.selector, 0x20);
    cr_expect_eq(s.tr.type, 0xb);
    cr_expect_eq(s.gdt.base, X86_GDT_ADDR);
    cr_expect_eq(s.gdt.limit, X86_GDT_ENTRIES * 8 - 1);
    cr_expect_eq(s.cr0, X86_CR0_PE | X86_CR0_ET | X86_CR0_PG);
    cr_expect_eq(s.cr3, X86_PML4_ADDR);
    cr_expect_eq(s.cr4, X86_CR4_PAE);
    cr_expect_eq(s.efer, X86_EFER_LME | X86_EFER_LMA);
    cr_expect_eq(s.apic_base, 0xfee00900, "left as KVM reported it");
    struct kvm_regs r;
    x86_boot_regs(&r, X86_BOOT_MODE_LONG64, 0x1000200);
    cr_expect_eq(r.rip, 0x1000200);
    cr_expect_eq(r.rsi, X86_ZERO_PAGE_ADDR);
    cr_expect_eq(r.rflags, 2);
    struct kvm_fpu f;
    x86_boot_fpu(&f);
    cr_expect_eq(f.fcw, 0x37f);
    cr_expect_eq(f.mxcsr, 0x1f80);
}

Test(x86_boot_cpu, pvh_registers, .init = ram_setup, .fini = ram_teardown)
{
    memset(ram.host + X86_PML4_ADDR, 0xee, 8);
    cr_assert_eq(x86_boot_tables_write(&ram, X86_BOOT_MODE_PVH32), 0);
    uint64_t q;
    memcpy(&q, ram.host + X86_GDT_ADDR + X86_SEL_CODE, 8);
    cr_expect_eq(q, 0x00cf9b000000ffffULL);
    cr_expect_eq(ram.host[X86_PML4_ADDR], 0xee, "no page tables for PVH");
    struct kvm_sregs s;
    memset(&s, 0, sizeof(s));
    x86_boot_sregs(&s, X86_BOOT_MODE_PVH32);
    cr_expect_eq(s.cs.db, 1);
    cr_expect_eq(s.cs.l, 0);
    cr_expect_eq(s.cs.limit, 0xffffffff);
    cr_expect_eq(s.cr0 & X86_CR0_PG, 0);
    cr_expect(s.cr0 & X86_CR0_PE);
    cr_expect_eq(s.efer, 0);
    struct kvm_regs r;
    x86_boot_regs(&r, X86_BOOT_MODE_PVH32, 0x1000100);
    cr_expect_eq(r.rbx, X86_PVH_INFO_ADDR);
    cr_expect_eq(r.rip, 0x1000100);
}

Test(x86_boot_cpu, tables_need_ram)
{
    struct guest_mem tiny = { .host = (uint8_t[0x600]){ 0 }, .base = 0, .size = 0x600 };
    cr_expect_eq(x86_boot_tables_write(&tiny, X86_BOOT_MODE_PVH32), 0);
    cr_expect_eq(x86_boot_tables_write(&tiny, X86_BOOT_MODE_LONG64), -1);
}
