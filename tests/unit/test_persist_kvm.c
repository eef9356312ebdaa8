/* test_persist_kvm.c — the x86-64 state format without /dev/kvm: the MSR list a save reads,
 * the KVM vCPU and VM sections (round trips and refusals of bad state), and the microvm board's
 * i8042 and CMOS RTC save and restore. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "common/persist.h"
#include "cpu/kvm/kvm_msrs.h"
#include "cpu/kvm/kvm_state.h"
#include "dev/cmos_rtc.h"
#include "dev/i8042.h"

/* ---- the MSR list ---- */

Test(persist_kvm, msr_allowlist)
{
    static const uint32_t kept[] = { 0x10, 0x1b, 0x174, 0x176, 0x1a0, 0x277, 0x2ff, 0x6e0,
                                     0x4b564d00, 0x4b564d01, 0xc0000080, 0xc0000082,
                                     0xc0000102, 0xc0000103 };
    static const uint32_t dropped[] = { 0x17b /* MCG_CTL */, 0x3a /* FEATURE_CONTROL */,
                                        0x480 /* VMX_BASIC */, 0x38d /* PMU */, 0xc1,
                                        0x40000000 /* Hyper-V */, 0x11, 0xffffffff, 0 };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        cr_assert(kvm_msr_should_save(kept[i]), "MSR %#x should be saved", kept[i]);
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        cr_assert(!kvm_msr_should_save(dropped[i]), "MSR %#x should not be saved", dropped[i]);
}

Test(persist_kvm, msrs_to_save_sorted_deadline_last)
{
    const uint32_t supported[] = { 0x6e0, 0xc0000082, 0x10, 0x480, 0x1b, 0x10, 0x17b, 0x4b564d01 };
    uint32_t out[16];
    unsigned n = kvm_msrs_to_save(supported, sizeof(supported) / sizeof(supported[0]), out, 16);
    const uint32_t want[] = { 0x10, 0x1b, 0x4b564d01, 0xc0000082, 0x6e0 };
    cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq(out[i], want[i], "out[%u] = %#x, want %#x", i, out[i], want[i]);
    /* a short buffer still ends with the deadline */
    n = kvm_msrs_to_save(supported, sizeof(supported) / sizeof(supported[0]), out, 2);
    cr_assert_eq(n, 2);
    cr_assert(kvm_msr_should_save(out[0]) && out[0] != 0x6e0);
    cr_assert_eq(out[1], 0x6e0);
}

Test(persist_kvm, zero_tsc_deadline_becomes_the_tsc)
{
    struct kvm_msr_entry e[] = { { .index = 0x10, .data = 0x12345678 }, { .index = 0x6e0 } };
    kvm_msrs_fix_tsc_deadline(e, 2);
    cr_assert_eq(e[1].data, 0x12345678);
    e[1].data = 0x99;
    kvm_msrs_fix_tsc_deadline(e, 2);
    cr_assert_eq(e[1].data, 0x99);
    struct kvm_msr_entry only = { .index = 0x6e0 };
    kvm_msrs_fix_tsc_deadline(&only, 1);
    cr_assert_eq(only.data, 0);
}

Test(persist_kvm, tsc_moves_on_with_the_host_time)
{
    struct kvm_msr_entry e[] = { { .index = 0x10, .data = 1000 }, { .index = 0x6e0, .data = 5 } };
    kvm_msrs_advance_tsc(e, 2, 2500000000ull, 3000000);   /* 2.5 s at 3 GHz */
    cr_assert_eq(e[0].data, 1000 + 7500000000ull);
    cr_assert_eq(e[1].data, 5, "the deadline is absolute: left alone");
    kvm_msrs_advance_tsc(e, 2, 1500, 1000);                /* 1.5 us at 1 MHz: 1 tick */
    cr_assert_eq(e[0].data, 1000 + 7500000000ull + 1);
    e[0].data = 0;
    kvm_msrs_advance_tsc(e, 1, 3600ull * 24 * 365 * 1000000000ull, 4000000);   /* a year, 4 GHz */
    cr_assert_eq(e[0].data, 3600ull * 24 * 365 * 4000000000ull);
    kvm_msrs_advance_tsc(e, 1, 1000000000ull, 0);          /* frequency unknown: nothing */
    cr_assert_eq(e[0].data, 3600ull * 24 * 365 * 4000000000ull);
}

/* ---- vCPU and VM sections ---- */

static struct kvm_vcpu_state *sample_vcpu(bool xsave)
{
    struct kvm_vcpu_state *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->mp.mp_state = KVM_MP_STATE_HALTED;
    s->regs.rip = 0xffffffff81000000ull;
    s->regs.rax = 42;
    s->sregs.cr3 = 0x1000;
    s->sregs.efer = 0xd01;
    s->xsave_valid = s->xcrs_valid = xsave;
    if (xsave) {
        s->xsave.region[7] = 0xabcdef;
        s->xcrs.nr_xcrs = 1;
        s->xcrs.xcrs[0].value = 7;
    } else {
        s->fpu.fcw = 0x37f;
    }
    s->debugregs.dr7 = 0x400;
    s->lapic.regs[0x20] = 0x11;
    s->events.nmi.pending = 1;
    s->nmsrs = 3;
    s->msrs[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 1000 };
    s->msrs[1] = (struct kvm_msr_entry){ .index = 0xc0000082, .data = 0xffffffff81800000ull };
    s->msrs[2] = (struct kvm_msr_entry){ .index = 0x6e0, .data = 2000 };
    return s;
}

static void round_trip(bool xsave)
{
    struct kvm_vcpu_state *s = sample_vcpu(xsave), *t = calloc(1, sizeof(*t));
    struct persist_writer w;
    persist_writer_init(&w);
    kvm_vcpu_state_write(&w, s, 3);
    cr_assert(persist_writer_ok(&w));
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(kvm_vcpu_state_read(&r, t, 3), 0, "%s", r.err);
    cr_assert_eq(r.pos, r.len);
    cr_assert_eq(memcmp(&s->regs, &t->regs, sizeof(s->regs)), 0);
    cr_assert_eq(memcmp(&s->sregs, &t->sregs, sizeof(s->sregs)), 0);
    cr_assert_eq(t->xsave_valid, xsave);
    if (xsave) {
        cr_assert_eq(memcmp(&s->xsave, &t->xsave, sizeof(s->xsave)), 0);
        cr_assert_eq(memcmp(&s->xcrs, &t->xcrs, sizeof(s->xcrs)), 0);
    } else {
        cr_assert_eq(memcmp(&s->fpu, &t->fpu, sizeof(s->fpu)), 0);
    }
    cr_assert_eq(memcmp(&s->debugregs, &t->debugregs, sizeof(s->debugregs)), 0);
    cr_assert_eq(memcmp(&s->lapic, &t->lapic, sizeof(s->lapic)), 0);
    cr_assert_eq(memcmp(&s->events, &t->events, sizeof(s->events)), 0);
    cr_assert_eq(t->mp.mp_state, KVM_MP_STATE_HALTED);
    cr_assert_eq(t->nmsrs, 3);
    cr_assert_eq(memcmp(s->msrs, t->msrs, 3 * sizeof(s->msrs[0])), 0);
    persist_writer_free(&w);
    free(s);
    free(t);
}

Test(persist_kvm, vcpu_round_trip_xsave) { round_trip(true); }
Test(persist_kvm, vcpu_round_trip_fpu) { round_trip(false); }

/* Writes s, lets edit change it, and expects the read to fail with `msg` in its error. */
static void refused(struct kvm_vcpu_state *s, unsigned read_id, const char *msg)
{
    struct kvm_vcpu_state *t = calloc(1, sizeof(*t));
    struct persist_writer w;
    persist_writer_init(&w);
    kvm_vcpu_state_write(&w, s, 0);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(kvm_vcpu_state_read(&r, t, read_id), -1);
    cr_assert(strstr(r.err, msg) != NULL, "error '%s' lacks '%s'", r.err, msg);
    persist_writer_free(&w);
    free(t);
    free(s);
}

Test(persist_kvm, vcpu_refuses_bad_state)
{
    refused(sample_vcpu(true), 1, "vCPU 0's state where vCPU 1's belongs");
    struct kvm_vcpu_state *s = sample_vcpu(true);
    s->mp.mp_state = 99;
    refused(s, 0, "invalid mp_state 99");
    s = sample_vcpu(true);
    s->msrs[1].index = 0x480;   /* VMX_BASIC: never saved by kiln */
    refused(s, 0, "MSR 0x480 is not one kiln saves");
    s = sample_vcpu(true);
    s->xcrs.nr_xcrs = KVM_MAX_XCRS + 1;
    refused(s, 0, "XCRs");
}

Test(persist_kvm, vcpu_refuses_truncated_and_oversized)
{
    struct kvm_vcpu_state *s = sample_vcpu(false), *t = calloc(1, sizeof(*t));
    struct persist_writer w;
    persist_writer_init(&w);
    kvm_vcpu_state_write(&w, s, 0);
    struct persist_reader r;
    for (size_t cut = 0; cut < w.len; cut += 97) {
        persist_reader_init(&r, w.buf, cut);
        cr_assert_eq(kvm_vcpu_state_read(&r, t, 0), -1, "a state cut at %zu was accepted", cut);
        cr_assert(r.err[0]);
    }
    /* an MSR count beyond the limit, at its place in the section: 4 + 4 header fields after
     * the section header, the blobs, then the count */
    struct persist_writer w2;
    persist_writer_init(&w2);
    s->nmsrs = 0;
    kvm_vcpu_state_write(&w2, s, 0);
    uint32_t big = KVM_STATE_MAX_MSRS + 1;
    memcpy(w2.buf + w2.len - 4, &big, 4);
    persist_reader_init(&r, w2.buf, w2.len);
    cr_assert_eq(kvm_vcpu_state_read(&r, t, 0), -1);
    cr_assert(strstr(r.err, "MSRs") != NULL, "%s", r.err);
    persist_writer_free(&w);
    persist_writer_free(&w2);
    free(s);
    free(t);
}

static void sample_vm(struct kvm_vm_state *s)
{
    memset(s, 0, sizeof(*s));
    s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s->pic_master.chip.pic.imr = 0xfb;
    s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    s->ioapic.chip.ioapic.redirtbl[4].bits = 0x31;
    s->pit.channels[0].count = 0x1234;
    s->clock_ns = 5000000000ull;
}

Test(persist_kvm, vm_round_trip_and_refusals)
{
    struct kvm_vm_state s, t;
    sample_vm(&s);
    struct persist_writer w;
    persist_writer_init(&w);
    kvm_vm_state_write(&w, &s, 2, 256ull << 20);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(kvm_vm_state_read(&r, &t, 2, 256ull << 20), 0, "%s", r.err);
    cr_assert_eq(memcmp(&s, &t, sizeof(s)), 0);

    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(kvm_vm_state_read(&r, &t, 1, 256ull << 20), -1);
    cr_assert(strstr(r.err, "2 vCPUs, this VM has 1") != NULL, "%s", r.err);
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(kvm_vm_state_read(&r, &t, 2, 128ull << 20), -1);
    cr_assert(strstr(r.err, "bytes of memory") != NULL, "%s", r.err);
    persist_writer_free(&w);

    s.ioapic.chip_id = KVM_IRQCHIP_PIC_MASTER;
    persist_writer_init(&w);
    kvm_vm_state_write(&w, &s, 2, 256ull << 20);
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(kvm_vm_state_read(&r, &t, 2, 256ull << 20), -1);
    cr_assert(strstr(r.err, "mislabelled") != NULL, "%s", r.err);
    persist_writer_free(&w);
}

Test(persist_kvm, rv64_section_is_not_kvm_state)
{
    /* a RISC-V machine section where the KVM one belongs: refused by name */
    struct persist_writer w;
    persist_writer_init(&w);
    persist_begin(&w, "rv64-machine", 1);
    persist_u32(&w, 1);
    persist_end(&w);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    struct kvm_vm_state t;
    cr_assert_eq(kvm_vm_state_read(&r, &t, 1, 0), -1);
    cr_assert(r.err[0]);
    persist_writer_free(&w);
}

/* ---- i8042 and CMOS RTC ---- */

static int irq_level = -1;
static void irq_rec(void *opaque, unsigned n, bool level)
{
    (void)opaque;
    (void)n;
    irq_level = level;
}

static uint8_t kbd_in(struct i8042 *k, unsigned off)
{
    struct mmio_region r = i8042_region(k);
    return (uint8_t)r.read(r.opaque, off, 1);
}

static void kbd_out(struct i8042 *k, unsigned off, uint8_t v)
{
    struct mmio_region r = i8042_region(k);
    r.write(r.opaque, off, v, 1);
}

Test(persist_kvm, i8042_round_trip)
{
    struct i8042 a, b;
    i8042_init(&a, (struct irq_line){ 0 }, NULL, NULL);
    kbd_out(&a, 4, 0x60);      /* write the configuration byte ... */
    kbd_out(&a, 0, 0x45);      /* ... interrupts on, translation on */
    kbd_out(&a, 0, 0xf2);      /* identify: ACK, 0xab, 0x83 queued */
    cr_assert_eq(kbd_in(&a, 0), 0xfa);
    kbd_out(&a, 0, 0xed);      /* set LEDs: waits for its argument */
    struct persist_writer w;
    persist_writer_init(&w);
    i8042_save(&a, &w);

    i8042_init(&b, (struct irq_line){ .set = irq_rec }, NULL, NULL);
    irq_level = -1;
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(i8042_restore(&b, &r), 0, "%s", r.err);
    cr_assert_eq(irq_level, 1, "IRQ 1 re-driven from the restored buffer");
    cr_assert_eq(kbd_in(&b, 4) & 1, 1);
    cr_assert_eq(kbd_in(&b, 0), 0xab);
    cr_assert_eq(kbd_in(&b, 0), 0x83);
    cr_assert_eq(kbd_in(&b, 0), 0xfa);   /* the LEDs command's ACK */
    kbd_out(&b, 0, 0x02);                /* its argument: acknowledged, not a new command */
    cr_assert_eq(kbd_in(&b, 0), 0xfa);
    cr_assert_eq(kbd_in(&b, 4) & 1, 0);
    kbd_out(&b, 4, 0x20);                /* the configuration byte came along */
    cr_assert_eq(kbd_in(&b, 0), 0x45);
    persist_writer_free(&w);
    i8042_destroy(&a);
    i8042_destroy(&b);
}

Test(persist_kvm, i8042_refuses_bad_state)
{
    struct i8042 k;
    i8042_init(&k, (struct irq_line){ 0 }, NULL, NULL);
    struct persist_writer w;
    persist_writer_init(&w);
    persist_begin(&w, "i8042", 1);
    uint8_t reg[5] = { 0x45, 0x15, 0, 0, 1 };
    persist_bytes(&w, reg, 5);
    persist_u8(&w, 200);        /* more bytes than the buffer holds */
    persist_end(&w);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(i8042_restore(&k, &r), -1);
    cr_assert(strstr(r.err, "16-byte buffer") != NULL, "%s", r.err);
    persist_writer_free(&w);

    persist_writer_init(&w);
    persist_begin(&w, "i8042", 1);
    persist_bytes(&w, reg, 5);  /* OBF set ... */
    persist_u8(&w, 0);          /* ... with nothing buffered */
    persist_end(&w);
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(i8042_restore(&k, &r), -1);
    cr_assert(strstr(r.err, "buffered") != NULL, "%s", r.err);
    persist_writer_free(&w);
    i8042_destroy(&k);
}

static void cmos_out(struct cmos_rtc *c, unsigned off, uint8_t v)
{
    struct mmio_region r = cmos_rtc_region(c);
    r.write(r.opaque, off, v, 1);
}

static uint8_t cmos_in(struct cmos_rtc *c, unsigned off)
{
    struct mmio_region r = cmos_rtc_region(c);
    return (uint8_t)r.read(r.opaque, off, 1);
}

Test(persist_kvm, cmos_round_trip_and_bad_index)
{
    struct cmos_rtc a, b;
    cmos_rtc_init(&a);
    cmos_out(&a, 0, 0x40);
    cmos_out(&a, 1, 0x5a);      /* a byte of CMOS RAM */
    cmos_out(&a, 0, 0x41);
    struct persist_writer w;
    persist_writer_init(&w);
    cmos_rtc_save(&a, &w);
    cmos_rtc_init(&b);
    struct persist_reader r;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(cmos_rtc_restore(&b, &r), 0, "%s", r.err);
    cmos_out(&b, 0, 0x40);
    cr_assert_eq(cmos_in(&b, 1), 0x5a);
    /* the index register at 0x80 would index past the RAM */
    w.buf[w.len - 129] = 0x80;
    persist_reader_init(&r, w.buf, w.len);
    cr_assert_eq(cmos_rtc_restore(&b, &r), -1);
    cr_assert(strstr(r.err, "index") != NULL, "%s", r.err);
    persist_writer_free(&w);
    cmos_rtc_destroy(&a);
    cmos_rtc_destroy(&b);
}
