/* test_x86_cpuid.c — the KVM CPU policy without /dev/kvm: CPUID normalisation of a crafted
 * KVM_GET_SUPPORTED_CPUID table (Intel and AMD), the boot MSR list, the LAPIC LINT wiring, and
 * kvm_open's one-line errors for a missing or wrong device. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu/kvm/kvm_cpuid.h"
#include "cpu/kvm/kvm_msrs.h"
#include "cpu/kvm/kvm_sys.h"

#define B(n) (1u << (n))
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static char err[256];

static struct kvm_cpuid_entry2 leaf(unsigned f, unsigned i, unsigned flags, unsigned a,
                                    unsigned b, unsigned c, unsigned d)
{
    return (struct kvm_cpuid_entry2){ .function = f, .index = i, .flags = flags,
                                      .eax = a, .ebx = b, .ecx = c, .edx = d };
}

static void vendor(struct kvm_cpuid_entry2 *e, const char *v)
{
    memcpy(&e->ebx, v, 4);
    memcpy(&e->edx, v + 4, 4);
    memcpy(&e->ecx, v + 8, 4);
}

/* What a host might report: every feature bit on in the leaves the policy touches, the host's
 * own APIC id and topology, leaves the policy removes. */
static unsigned host_table(struct kvm_cpuid_entry2 *t, const char *v, unsigned max_basic)
{
    unsigned n = 0;
    t[n] = leaf(0, 0, 0, max_basic, 0, 0, 0);
    vendor(&t[n++], v);
    t[n++] = leaf(1, 0, 0, 0x000906ea, 0x07100800 | (0x17u << 24), 0xffffffff & ~B(31), 0xffffffff);
    t[n++] = leaf(4, 0, SIG, (1 << 5) | 0x121 | (0x3fu << 26) | (1 << 14), 0, 0, 0);  /* L1d */
    t[n++] = leaf(4, 3, SIG, (3 << 5) | 0x163 | (0x3fu << 26) | (0xf << 14), 0, 0, 0); /* L3 */
    t[n++] = leaf(5, 0, 0, 0x40, 0x40, 3, 0x11142120);
    t[n++] = leaf(6, 0, 0, 0xffffffff, 1, 9, 0);
    t[n++] = leaf(7, 0, SIG, 0, 0xffffffff, 0xffffffff, 0xffffffff);
    t[n++] = leaf(0xa, 0, 0, 0x07300404, 0, 0, 0x603);
    t[n++] = leaf(0xb, 0, SIG, 1, 2, 0x100, 0x17);
    t[n++] = leaf(0xb, 1, SIG, 4, 12, 0x201, 0x17);
    t[n++] = leaf(0xd, 0, SIG, 0x7, 0x340, 0x340, 0);
    t[n++] = leaf(0x12, 0, SIG, 1, 0, 0, 0);
    t[n++] = leaf(0x14, 0, SIG, 1, 0, 0, 0);
    t[n++] = leaf(0x40000001, 0, 0, 0x01007afb, 0, 0, 0);
    t[n++] = leaf(0x80000000, 0, 0, 0x8000001f, 0, 0, 0);
    t[n++] = leaf(0x80000001, 0, 0, 0, 0, 0xffffffff, 0x2c100800);
    t[n++] = leaf(0x80000008, 0, 0, 0x3030, 0, 0x700f, 0);
    t[n++] = leaf(0x8000000a, 0, 0, 1, 0x8000, 0, 0x1ff);
    t[n++] = leaf(0x8000001e, 0, 0, 0x17, 0x100, 0, 0);
    return n;
}

static int normalize(const char *v, unsigned max_basic, unsigned idx, unsigned count,
                     bool tscd, struct kvm_cpuid_entry2 *out, unsigned cap)
{
    struct kvm_cpuid_entry2 in[32];
    unsigned n = host_table(in, v, max_basic);
    struct kvm_cpuid_policy p = { .cpu_index = idx, .cpu_count = count, .tsc_deadline = tscd };
    return kvm_cpuid_normalize(in, n, &p, out, cap, err, sizeof(err));
}

static const struct kvm_cpuid_entry2 *get(const struct kvm_cpuid_entry2 *t, int n, unsigned f,
                                          unsigned i)
{
    return kvm_cpuid_find(t, (unsigned)n, f, i);
}

Test(x86_cpuid, intel_leaf1_and_signature)
{
    struct kvm_cpuid_entry2 out[48];
    int n = normalize("GenuineIntel", 0x16, 2, 4, true, out, 48);
    cr_assert_gt(n, 0, "%s", err);
    const struct kvm_cpuid_entry2 *l0 = get(out, n, 0, 0);
    cr_assert(l0);
    cr_expect_eq(memcmp(&l0->ebx, "Genu", 4), 0, "vendor passed through");
    cr_expect_eq(l0->eax, 0x16);
    const struct kvm_cpuid_entry2 *l1 = get(out, n, 1, 0);
    cr_assert(l1);
    cr_expect_eq(l1->eax, 0x000906ea, "signature passed through");
    cr_expect_eq(l1->ebx >> 24, 2, "APIC id");
    cr_expect_eq((l1->ebx >> 16) & 0xff, 4, "logical processors");
    cr_expect_eq((l1->ebx >> 8) & 0xff, 8, "CLFLUSH 64 bytes");
    cr_expect(l1->ecx & B(31), "hypervisor");
    cr_expect(l1->ecx & B(24), "TSC deadline");
    cr_expect_eq(l1->ecx & (B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8) | B(15)), 0);
    cr_expect(l1->ecx & B(0), "SSE3 kept");
    cr_expect(l1->edx & B(28), "HTT with 4 vCPUs");
    cr_expect_eq(l1->edx & (B(21) | B(22) | B(29) | B(31)), 0);
    cr_expect(l1->edx & B(0), "FPU kept");
    const struct kvm_cpuid_entry2 *sig = get(out, n, 0x40000000, 0);
    cr_assert(sig, "KVM signature leaf added");
    cr_expect_eq(sig->eax, 0x40000001);
    char s[12];
    memcpy(s, &sig->ebx, 4);
    memcpy(s + 4, &sig->ecx, 4);
    memcpy(s + 8, &sig->edx, 4);
    cr_expect_eq(memcmp(s, "KVMKVMKVM\0\0\0", 12), 0);
    cr_expect(get(out, n, 0x40000001, 0), "KVM features kept");
}

Test(x86_cpuid, one_cpu_no_tsc_deadline)
{
    struct kvm_cpuid_entry2 out[48];
    int n = normalize("GenuineIntel", 0x16, 0, 1, false, out, 48);
    cr_assert_gt(n, 0, "%s", err);
    const struct kvm_cpuid_entry2 *l1 = get(out, n, 1, 0);
    cr_expect_eq(l1->ebx >> 24, 0);
    cr_expect_eq((l1->ebx >> 16) & 0xff, 1);
    cr_expect_eq(l1->edx & B(28), 0, "no HTT with one vCPU");
    cr_expect_eq(l1->ecx & B(24), 0, "no TSC deadline without the capability");
}

Test(x86_cpuid, power_perf_and_removed_leaves)
{
    struct kvm_cpuid_entry2 out[48];
    int n = normalize("GenuineIntel", 0x16, 0, 2, true, out, 48);
    cr_assert_gt(n, 0, "%s", err);
    const struct kvm_cpuid_entry2 *e = get(out, n, 5, 0);
    cr_expect(e && !e->eax && !e->ebx && !e->ecx && !e->edx, "no MONITOR/MWAIT leaf");
    e = get(out, n, 6, 0);
    cr_expect(e && e->eax == B(2) && !e->ebx && !e->ecx, "only ARAT");
    e = get(out, n, 0xa, 0);
    cr_expect(e && !e->eax && !e->edx, "no perf counters");
    e = get(out, n, 7, 0);
    cr_assert(e);
    cr_expect_eq(e->ebx & (B(2) | B(12) | B(15) | B(25)), 0);
    cr_expect_eq(e->ecx & (B(5) | B(30)), 0);
    cr_expect(e->ebx & B(0), "FSGSBASE kept");
    cr_expect_null(get(out, n, 0x12, 0));
    cr_expect_null(get(out, n, 0x14, 0));
    cr_expect_null(get(out, n, 0x8000000a, 0));
    cr_expect_null(get(out, n, 0x8000001e, 0));
    e = get(out, n, 0x80000001, 0);
    cr_expect_eq(e->ecx & (B(2) | B(22) | B(23) | B(24) | B(29)), 0);
    cr_expect(e->ecx & B(0), "LAHF kept");
    cr_expect(get(out, n, 0xd, 0), "XSAVE leaf passed through");
}

Test(x86_cpuid, topology_leaves)
{
    struct kvm_cpuid_entry2 out[48];
    int n = normalize("GenuineIntel", 0x1f, 5, 6, true, out, 48);
    cr_assert_gt(n, 0, "%s", err);
    unsigned leaves[] = { 0xb, 0x1f };
    for (unsigned t = 0; t < 2; t++) {
        const struct kvm_cpuid_entry2 *smt = get(out, n, leaves[t], 0);
        const struct kvm_cpuid_entry2 *core = get(out, n, leaves[t], 1);
        const struct kvm_cpuid_entry2 *end = get(out, n, leaves[t], 2);
        cr_assert(smt && core && end, "leaf 0x%x levels", leaves[t]);
        cr_expect_eq(smt->flags & SIG, SIG);
        cr_expect_eq(smt->eax, 0);
        cr_expect_eq(smt->ebx, 1);
        cr_expect_eq(smt->ecx, 0x100);
        cr_expect_eq(smt->edx, 5, "x2APIC id");
        cr_expect_eq(core->eax, 3, "6 cores need 3 APIC id bits");
        cr_expect_eq(core->ebx, 6);
        cr_expect_eq(core->ecx, 0x201);
        cr_expect_eq(core->edx, 5);
        cr_expect_eq(end->ecx, 2, "invalid level ends the list");
        cr_expect_eq(end->ebx, 0);
    }
    /* the host's own 0xb entries are gone: exactly three subleaves */
    int count = 0;
    for (int i = 0; i < n; i++)
        count += out[i].function == 0xb;
    cr_expect_eq(count, 3);
    /* Intel leaf 4: 6 cores per package; L1 private, L3 shared by all */
    const struct kvm_cpuid_entry2 *l1d = get(out, n, 4, 0);
    const struct kvm_cpuid_entry2 *l3 = get(out, n, 4, 3);
    cr_expect_eq(l1d->eax >> 26, 5);
    cr_expect_eq((l1d->eax >> 14) & 0xfff, 0);
    cr_expect_eq(l1d->eax & 0x3fff, (1 << 5) | 0x121, "cache type and level kept");
    cr_expect_eq(l3->eax >> 26, 5);
    cr_expect_eq((l3->eax >> 14) & 0xfff, 5);
}

Test(x86_cpuid, no_topology_leaf_when_max_basic_is_low)
{
    struct kvm_cpuid_entry2 out[48];
    int n = normalize("GenuineIntel", 0xa, 0, 2, true, out, 48);
    cr_assert_gt(n, 0, "%s", err);
    cr_expect_null(get(out, n, 0xb, 0));
    cr_expect_null(get(out, n, 0x1f, 0));
}

Test(x86_cpuid, amd_core_count)
{
    struct kvm_cpuid_entry2 out[48];
    int n = normalize("AuthenticAMD", 0x10, 1, 3, true, out, 48);
    cr_assert_gt(n, 0, "%s", err);
    const struct kvm_cpuid_entry2 *e = get(out, n, 0x80000008, 0);
    cr_assert(e);
    cr_expect_eq(e->ecx & 0xff, 2, "NC = cores - 1");
    cr_expect_eq((e->ecx >> 12) & 0xf, 0, "ApicIdSize from NC");
    cr_expect_eq(e->eax, 0x3030, "address sizes kept");
    /* leaf 4 is Intel's: left alone on AMD */
    e = get(out, n, 4, 0);
    cr_expect_eq(e->eax >> 26, 0x3f);
}

Test(x86_cpuid, refuses_bad_input)
{
    struct kvm_cpuid_entry2 out[48];
    cr_expect_eq(normalize("GenuineIntel", 0x16, 4, 4, true, out, 48), -1);
    cr_expect(strstr(err, "topology"), "%s", err);
    cr_expect_eq(normalize("GenuineIntel", 0x16, 0, 0, true, out, 48), -1);
    cr_expect_eq(normalize("GenuineIntel", 0x16, 0, 256, true, out, 48), -1);
    cr_expect_eq(normalize("GenuineIntel", 0x16, 0, 1, true, out, 10), -1);
    cr_expect(strstr(err, "entries"), "%s", err);
    struct kvm_cpuid_entry2 only0 = leaf(0, 0, 0, 1, 0, 0, 0);
    struct kvm_cpuid_policy p = { .cpu_index = 0, .cpu_count = 1 };
    cr_expect_eq(kvm_cpuid_normalize(&only0, 1, &p, out, 48, err, sizeof(err)), -1);
    cr_expect(strstr(err, "leaf 0 or 1"), "%s", err);
}

Test(x86_cpuid, input_size_plus_extra_always_fits)
{
    struct kvm_cpuid_entry2 in[32], out[32 + KVM_CPUID_EXTRA];
    unsigned n = host_table(in, "GenuineIntel", 0x1f);
    struct kvm_cpuid_policy p = { .cpu_index = 0, .cpu_count = 2 };
    cr_expect_gt(kvm_cpuid_normalize(in, n, &p, out, n + KVM_CPUID_EXTRA, err, sizeof(err)), 0,
                 "%s", err);
}

/* ================================================================ MSRs and LAPIC */

Test(x86_msrs, boot_list)
{
    struct kvm_msr_entry e[KVM_BOOT_MSRS];
    cr_assert_eq(kvm_boot_msrs(e), KVM_BOOT_MSRS);
    static const uint32_t want[] = { 0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083,
                                     0xc0000084, 0xc0000102, 0x10, 0x1a0, 0x2ff };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct kvm_msr_entry *m = NULL;
        for (unsigned j = 0; j < KVM_BOOT_MSRS; j++)
            if (e[j].index == want[i])
                m = &e[j];
        cr_assert(m, "MSR 0x%x missing", want[i]);
        uint64_t v = want[i] == 0x1a0 ? 1 : want[i] == 0x2ff ? 0x806 : 0;
        cr_expect_eq(m->data, v, "MSR 0x%x", want[i]);
    }
}

Test(x86_msrs, lapic_lint)
{
    struct kvm_lapic_state l;
    memset(&l, 0, sizeof(l));
    uint32_t masked = 1u << 16 | 0x700;
    memcpy(l.regs + 0x350, &masked, 4);
    kvm_lapic_set_lint(&l);
    uint32_t lint0, lint1;
    memcpy(&lint0, l.regs + 0x350, 4);
    memcpy(&lint1, l.regs + 0x360, 4);
    cr_expect_eq(lint0, (1u << 16) | (7u << 8), "ExtINT, other bits kept");
    cr_expect_eq(lint1, 4u << 8, "NMI");
}

/* ================================================================ /dev/kvm errors */

Test(x86_kvm_open, missing_device)
{
    errno = 0;
    cr_expect_eq(kvm_open("/nonexistent/kvm", err, sizeof(err)), -1);
    cr_expect(strstr(err, "/nonexistent/kvm does not exist"), "%s", err);
    cr_expect_null(strchr(err, '\n'), "one line");
    cr_expect_eq(KVM_EXIT_UNAVAILABLE, 69);
}

Test(x86_kvm_open, not_a_kvm_device)
{
    cr_expect_eq(kvm_open("/dev/null", err, sizeof(err)), -1);
    cr_expect(strstr(err, "not a KVM device"), "%s", err);
}

Test(x86_kvm_open, permission_denied)
{
    if (geteuid() == 0)
        cr_skip_test("root opens any file");
    char path[] = "/tmp/kiln-kvm-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    chmod(path, 0);
    cr_expect_eq(kvm_open(path, err, sizeof(err)), -1);
    unlink(path);
    cr_expect(strstr(err, "permission denied"), "%s", err);
}

Test(x86_kvm_open, real_device_when_present)
{
    if (access(KVM_DEVICE_PATH, F_OK) != 0) {
        cr_expect_eq(kvm_open(KVM_DEVICE_PATH, err, sizeof(err)), -1);
        cr_expect(strstr(err, "does not exist"), "%s", err);
        return;
    }
    int fd = kvm_open(KVM_DEVICE_PATH, err, sizeof(err));
    if (fd < 0)
        cr_skip_test("%s", err);
    struct kvm_cpuid2 *c = kvm_get_supported_cpuid(fd, err, sizeof(err));
    cr_assert(c, "%s", err);
    struct kvm_cpuid_entry2 *out = calloc(c->nent + KVM_CPUID_EXTRA, sizeof(*out));
    struct kvm_cpuid_policy p = { .cpu_index = 0, .cpu_count = 2 };
    cr_expect_gt(kvm_cpuid_normalize(c->entries, c->nent, &p, out, c->nent + KVM_CPUID_EXTRA,
                                     err, sizeof(err)), 0, "%s", err);
    free(out);
    free(c);
    close(fd);
}
