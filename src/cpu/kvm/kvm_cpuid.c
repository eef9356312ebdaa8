/* kvm_cpuid.c — CPUID normalisation (the policy is in kvm_cpuid.h). */
#include <string.h>
#include "common/errmsg.h"
#include "cpu/kvm/kvm_cpuid.h"

#define BIT(n) (1u << (n))

/* leaf 1 */
#define L1_ECX_CLEAR (BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | BIT(15))
#define L1_ECX_TSC_DEADLINE BIT(24)
#define L1_ECX_HYPERVISOR BIT(31)
#define L1_EDX_CLEAR (BIT(21) | BIT(22) | BIT(29) | BIT(31))
#define L1_EDX_HTT BIT(28)
#define CLFLUSH_LINE_QWORDS 8          /* in 8-byte units: 64 bytes */
/* leaf 6 */
#define L6_EAX_ARAT BIT(2)
/* leaf 7.0 */
#define L7_EBX_CLEAR (BIT(2) | BIT(12) | BIT(15) | BIT(25))      /* SGX, RDT-M, RDT-A, PT */
#define L7_ECX_CLEAR (BIT(5) | BIT(30))                          /* WAITPKG, SGX-LC */
/* 0x80000001 */
#define E1_ECX_CLEAR (BIT(2) | BIT(22) | BIT(23) | BIT(24) | BIT(29))
/* topology levels in 0xb / 0x1f ECX[15:8] */
#define TOPO_INVALID 0
#define TOPO_SMT 1
#define TOPO_CORE 2

#define KVM_SIGNATURE_LEAF 0x40000000u
#define KVM_FEATURES_LEAF  0x40000001u

enum vendor { VENDOR_OTHER, VENDOR_INTEL, VENDOR_AMD };

const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_cpuid_entry2 *t, unsigned n,
                                              unsigned function, unsigned index)
{
    for (unsigned i = 0; i < n; i++)
        if (t[i].function == function && t[i].index == index)
            return &t[i];
    return NULL;
}

static enum vendor vendor_of(const struct kvm_cpuid_entry2 *leaf0)
{
    char v[12];
    memcpy(v, &leaf0->ebx, 4);
    memcpy(v + 4, &leaf0->edx, 4);
    memcpy(v + 8, &leaf0->ecx, 4);
    if (memcmp(v, "GenuineIntel", 12) == 0)
        return VENDOR_INTEL;
    /* Hygon's Dhyana is a Zen: AMD's leaves */
    if (memcmp(v, "AuthenticAMD", 12) == 0 || memcmp(v, "HygonGenuine", 12) == 0)
        return VENDOR_AMD;
    return VENDOR_OTHER;
}

/* bits needed to number n cores (the core level's APIC id shift) */
static unsigned id_bits(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

/* 0xb or 0x1f subleaf `level`: SMT, core, then the terminating invalid level */
static struct kvm_cpuid_entry2 topology(unsigned function, unsigned level,
                                        const struct kvm_cpuid_policy *p)
{
    struct kvm_cpuid_entry2 e = {
        .function = function, .index = level, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
        .edx = p->cpu_index,
    };
    switch (level) {
    case 0:  /* one thread per core: no SMT bits in the APIC id */
        e.eax = 0;
        e.ebx = 1;
        e.ecx = (TOPO_SMT << 8) | level;
        break;
    case 1:
        e.eax = id_bits(p->cpu_count);
        e.ebx = p->cpu_count;
        e.ecx = (TOPO_CORE << 8) | level;
        break;
    default:
        e.ecx = (TOPO_INVALID << 8) | level;
        break;
    }
    return e;
}

/* Adjusts one entry; returns false to drop it. */
static bool normalize_entry(struct kvm_cpuid_entry2 *e, enum vendor v,
                            const struct kvm_cpuid_policy *p)
{
    switch (e->function) {
    case 0x1:
        e->ebx = (p->cpu_index << 24) | (p->cpu_count << 16) | (CLFLUSH_LINE_QWORDS << 8);
        e->ecx = (e->ecx & ~(L1_ECX_CLEAR | L1_ECX_TSC_DEADLINE)) | L1_ECX_HYPERVISOR |
                 (p->tsc_deadline ? L1_ECX_TSC_DEADLINE : 0);
        e->edx = (e->edx & ~(L1_EDX_CLEAR | L1_EDX_HTT)) | (p->cpu_count > 1 ? L1_EDX_HTT : 0);
        return true;
    case 0x4:
        if (v == VENDOR_INTEL) {
            unsigned level = (e->eax >> 5) & 7;
            unsigned sharing = level >= 3 ? p->cpu_count - 1 : 0;
            e->eax = (e->eax & 0x3fff) | (((p->cpu_count - 1) & 0x3f) << 26) |
                     ((sharing & 0xfff) << 14);
        }
        return true;
    case 0x5:
    case 0xa:
        e->eax = e->ebx = e->ecx = e->edx = 0;
        return true;
    case 0x6:
        e->eax &= L6_EAX_ARAT;
        e->ebx = e->ecx = e->edx = 0;
        return true;
    case 0x7:
        if (e->index == 0) {
            e->ebx &= ~L7_EBX_CLEAR;
            e->ecx &= ~L7_ECX_CLEAR;
        }
        return true;
    case 0xb:
    case 0x1f:           /* rebuilt after the copy */
    case 0x12:
    case 0x14:
    case KVM_SIGNATURE_LEAF:
    case 0x8000000a:
    case 0x8000001d:
    case 0x8000001e:
        return false;
    case 0x80000001:
        e->ecx &= ~E1_ECX_CLEAR;
        return true;
    case 0x80000008:
        if (v == VENDOR_AMD)
            e->ecx = (e->ecx & ~0xf0ffu) | ((p->cpu_count - 1) & 0xff);
        return true;
    default:
        return true;
    }
}

int kvm_cpuid_normalize(const struct kvm_cpuid_entry2 *in, unsigned n,
                        const struct kvm_cpuid_policy *p, struct kvm_cpuid_entry2 *out,
                        unsigned cap, char *err, size_t errlen)
{
    if (p->cpu_count == 0 || p->cpu_count > KVM_CPUID_MAX_CPUS || p->cpu_index >= p->cpu_count)
        return errmsg(err, errlen, "CPUID: vCPU %u of %u is not a valid topology", p->cpu_index,
                      p->cpu_count);
    const struct kvm_cpuid_entry2 *leaf0 = kvm_cpuid_find(in, n, 0, 0);
    if (!leaf0 || !kvm_cpuid_find(in, n, 1, 0))
        return errmsg(err, errlen, "CPUID: KVM reported no leaf 0 or 1");
    enum vendor v = vendor_of(leaf0);
    unsigned max_basic = leaf0->eax;

    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        struct kvm_cpuid_entry2 e = in[i];
        if (!normalize_entry(&e, v, p))
            continue;
        if (k >= cap)
            return errmsg(err, errlen, "CPUID: more than %u entries", cap);
        out[k++] = e;
    }
    /* generated leaves: topology for every level the highest basic leaf covers, and the
     * hypervisor signature */
    struct kvm_cpuid_entry2 gen[KVM_CPUID_EXTRA];
    unsigned g = 0;
    static const unsigned topo_leaves[] = { 0xb, 0x1f };
    for (unsigned t = 0; t < 2; t++)
        if (max_basic >= topo_leaves[t])
            for (unsigned level = 0; level < 3; level++)
                gen[g++] = topology(topo_leaves[t], level, p);
    struct kvm_cpuid_entry2 sig = { .function = KVM_SIGNATURE_LEAF, .eax = KVM_FEATURES_LEAF };
    memcpy(&sig.ebx, "KVMK", 4);
    memcpy(&sig.ecx, "VMKV", 4);
    memcpy(&sig.edx, "M\0\0\0", 4);
    gen[g++] = sig;
    if (k + g > cap)
        return errmsg(err, errlen, "CPUID: more than %u entries", cap);
    memcpy(out + k, gen, g * sizeof(gen[0]));
    return (int)(k + g);
}
