/* test_microvm.c — the x86-64 board's pure parts: its memory map (devices inside the MMIO hole,
 * clear of RAM, the IOAPIC/LAPIC pages and of each other; virtio GSIs on IOAPIC pins the MP table
 * routes), the kernel command line it hands every kernel, and its CMOS RTC (the host's UTC time
 * in BCD and binary, 12 and 24 hours, valid, never updating, CMOS RAM kept). Booting the board
 * needs /dev/kvm: tests/kvm/test_guest_kiln.sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "board/microvm.h"
#include "cpu/kvm/kvm_backend.h"
#include "dev/cmos_rtc.h"
#include "dev/pio.h"
#include "dev/virtio/mmio.h"

Test(microvm, memory_map)
{
    struct { uint64_t base, size; } dev[] = {
        { MICROVM_VIRTIO_BASE, MICROVM_VIRTIO_SLOTS * VIRTIO_MMIO_SLOT_SIZE },
        { MICROVM_FINISHER_BASE, 0x1000 },
        { MICROVM_BOOT_TIMER_BASE, 0x1000 },
        { X86_IOAPIC_ADDR, 0x1000 },
        { X86_LAPIC_ADDR, 0x1000 },
        { 0xfffbc000ULL, 0x4000 },       /* KVM's identity-map page and real-mode TSS */
    };
    size_t n = sizeof(dev) / sizeof(dev[0]);
    for (size_t i = 0; i < n; i++) {
        /* in the hole: above the most RAM the board takes, below 4 GiB */
        cr_assert_geq(dev[i].base, MICROVM_MAX_RAM, "device %zu", i);
        cr_assert_geq(dev[i].base, X86_MMIO_HOLE_START);
        cr_assert_leq(dev[i].base + dev[i].size, X86_MMIO_HOLE_END);
        for (size_t j = i + 1; j < n; j++)
            cr_assert(dev[i].base + dev[i].size <= dev[j].base ||
                      dev[j].base + dev[j].size <= dev[i].base, "devices %zu and %zu overlap", i, j);
    }
    /* the virtio GSIs are IOAPIC pins the MP table routes, above the ISA IRQs */
    cr_assert_geq(MICROVM_VIRTIO_GSI0, 16);
    cr_assert_leq(MICROVM_VIRTIO_GSI0 + MICROVM_VIRTIO_SLOTS, X86_MP_IRQS);
    cr_assert_eq(MICROVM_UART_GSI, PIO_COM1_IRQ);
    cr_assert_eq(x86_ram_layout(MICROVM_MAX_RAM).high, 0, "RAM never reaches 4 GiB");
}

Test(microvm, cmdline)
{
    char buf[2048];
    cr_assert_eq(microvm_cmdline(buf, sizeof(buf), "console=ttyS0", 0), (int)strlen(buf));
    cr_assert_str_eq(buf, "console=ttyS0 i8042.noaux");
    microvm_cmdline(buf, sizeof(buf), "console=ttyS0 root=/dev/vda", 2);
    cr_assert_str_eq(buf, "console=ttyS0 root=/dev/vda i8042.noaux "
                          "virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17");
    microvm_cmdline(buf, sizeof(buf), "", 1);
    cr_assert_str_eq(buf, "i8042.noaux virtio_mmio.device=4K@0xd0000000:16");
    microvm_cmdline(buf, sizeof(buf), NULL, 8);
    cr_assert(strstr(buf, " virtio_mmio.device=4K@0xd0007000:23") != NULL, "%s", buf);
    /* too long: refused, never cut */
    char tiny[40];
    cr_assert_eq(microvm_cmdline(tiny, sizeof(tiny), "console=ttyS0", 1), -1);
    cr_assert_eq(microvm_cmdline(tiny, 25, "console=ttyS0", 0), -1, "needs 26 bytes with the NUL");
    cr_assert_eq(microvm_cmdline(tiny, 26, "console=ttyS0", 0), 25);
}

static time_t fixed;
static time_t fixed_now(void) { return fixed; }

static uint8_t cmos_get(struct mmio_region *r, uint8_t reg)
{
    r->write(r->opaque, 0, reg, 1);
    return (uint8_t)r->read(r->opaque, 1, 1);
}

static void cmos_set(struct mmio_region *r, uint8_t reg, uint8_t v)
{
    r->write(r->opaque, 0, reg, 1);
    r->write(r->opaque, 1, v, 1);
}

Test(microvm, cmos_rtc)
{
    struct cmos_rtc c;
    cmos_rtc_init(&c);
    c.now = fixed_now;
    fixed = 1764945296;   /* 2025-12-05 14:34:56 UTC, a Friday */
    struct mmio_region r = cmos_rtc_region(&c);
    cr_assert_eq(r.base, 0x70);
    cr_assert_eq(r.size, 2);
    cr_assert_eq(cmos_get(&r, 0x0a) & 0x80, 0, "never mid-update");
    cr_assert_eq(cmos_get(&r, 0x0d), 0x80, "valid RAM and time");
    cr_assert_eq(cmos_get(&r, 0x0b), 0x02, "24 hours, BCD");
    cr_assert_eq(cmos_get(&r, 0x00), 0x56);
    cr_assert_eq(cmos_get(&r, 0x02), 0x34);
    cr_assert_eq(cmos_get(&r, 0x04), 0x14);
    cr_assert_eq(cmos_get(&r, 0x06), 6, "Friday is day 6");
    cr_assert_eq(cmos_get(&r, 0x07), 0x05);
    cr_assert_eq(cmos_get(&r, 0x08), 0x12);
    cr_assert_eq(cmos_get(&r, 0x09), 0x25);
    cr_assert_eq(cmos_get(&r, 0x32), 0x20);
    /* NMI mask bit in the index is ignored */
    cr_assert_eq(cmos_get(&r, 0x80 | 0x09), 0x25);
    /* binary, 12 hours: 14h is 2 PM */
    cmos_set(&r, 0x0b, 0x04);
    cr_assert_eq(cmos_get(&r, 0x04), 0x82);
    cr_assert_eq(cmos_get(&r, 0x09), 25);
    /* the clock is read-only; CMOS RAM keeps what it is given */
    cmos_set(&r, 0x00, 0x11);
    cr_assert_eq(cmos_get(&r, 0x00), 56);
    cmos_set(&r, 0x40, 0xa5);
    cr_assert_eq(cmos_get(&r, 0x40), 0xa5);
    cmos_set(&r, 0x0a, 0xff);
    cr_assert_eq(cmos_get(&r, 0x0a), 0x7f, "UIP stays clear");
    cr_assert_eq(cmos_get(&r, 0x0c), 0, "no interrupt flags");
    cmos_rtc_destroy(&c);
}

Test(microvm, civil_time_matches_gmtime)
{
    /* leap years, centuries, before 1970, far future */
    const time_t samples[] = { 0, 59, 86399, 86400, 951782400 /* 2000-02-29 */, 4107542400LL,
                               -1, -86401, 1709164800 /* 2024-02-29 */, 253402300799LL };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct tm want, got;
        gmtime_r(&samples[i], &want);
        cmos_rtc_civil(samples[i], &got);
        cr_assert(want.tm_year == got.tm_year && want.tm_mon == got.tm_mon &&
                  want.tm_mday == got.tm_mday && want.tm_wday == got.tm_wday &&
                  want.tm_hour == got.tm_hour && want.tm_min == got.tm_min &&
                  want.tm_sec == got.tm_sec, "t=%lld", (long long)samples[i]);
    }
    for (time_t t = -400LL * 86400 * 366; t < 400LL * 86400 * 366; t += 86400 * 7 + 3607) {
        struct tm want, got;
        gmtime_r(&t, &want);
        cmos_rtc_civil(t, &got);
        cr_assert(want.tm_year == got.tm_year && want.tm_mon == got.tm_mon &&
                  want.tm_mday == got.tm_mday && want.tm_wday == got.tm_wday &&
                  want.tm_hour == got.tm_hour, "t=%lld", (long long)t);
    }
}

/* The board refuses what it cannot build before asking KVM, and reports KVM's refusal in one
 * line when the device is unusable (here: missing), without leaking anything. */
Test(microvm, create_refusals)
{
    static uint8_t ram[1 << 21] __attribute__((aligned(4096)));
    char err[256] = "";
    struct board *b = NULL;
    struct board_boot boot = { 0 };
    struct board_params p = { .backend = &kvm_backend, .cpus = 1, .ram = ram,
                              .ram_size = sizeof(ram), .boot = &boot, .err = err,
                              .errlen = sizeof(err) };
    p.ram_size = MICROVM_MAX_RAM + 4096;
    cr_assert_eq(microvm_board_type.create(&p, &b), 64);
    cr_assert(strstr(err, "at most 3328 MiB") != NULL, "%s", err);
    p.ram_size = sizeof(ram);
    p.cpus = 33;
    cr_assert_eq(microvm_board_type.create(&p, &b), 64);
    cr_assert(strstr(err, "1 to 32 vCPUs") != NULL, "%s", err);
    p.cpus = 2;
    err[0] = 0;
    setenv("KILN_KVM_DEVICE", "/nonexistent/kvm", 1);
    cr_assert_eq(microvm_board_type.create(&p, &b), 71);
    unsetenv("KILN_KVM_DEVICE");
    cr_assert(strstr(err, "/nonexistent/kvm does not exist") != NULL, "%s", err);
    cr_assert_null(b);
}
