/* kvm_state.c — the persist.h format of KVM x86-64 VM and vCPU state (see kvm_state.h). */
#include <string.h>
#include "common/persist.h"
#include "cpu/kvm/kvm_state.h"

#define VM_SECTION "kvm-vm"
#define VM_VERSION 1
#define VCPU_SECTION "kvm-vcpu"
#define VCPU_VERSION 1

/* mp_state values an x86 vCPU can be in (RUNNABLE .. SIPI_RECEIVED) */
#define MP_STATE_MAX KVM_MP_STATE_SIPI_RECEIVED

/* A KVM structure as a blob whose length must match exactly on the way back. */
static void put(struct persist_writer *w, const void *p, size_t n)
{
    persist_blob(w, p, n);
}

static void get(struct persist_reader *r, void *p, size_t n, const char *what)
{
    size_t len = 0;
    const void *b = persist_get_blob(r, n, &len);
    if (!persist_ok(r))
        return;
    if (len != n) {
        persist_fail(r, "kvm state: %s is %zu bytes, expected %zu", what, len, n);
        return;
    }
    memcpy(p, b, n);
}

void kvm_vm_state_write(struct persist_writer *w, const struct kvm_vm_state *s, unsigned ncpus,
                        uint64_t ram_size)
{
    persist_begin(w, VM_SECTION, VM_VERSION);
    persist_u32(w, ncpus);
    persist_u64(w, ram_size);
    put(w, &s->pic_master, sizeof(s->pic_master));
    put(w, &s->pic_slave, sizeof(s->pic_slave));
    put(w, &s->ioapic, sizeof(s->ioapic));
    put(w, &s->pit, sizeof(s->pit));
    persist_u64(w, s->clock_ns);
    persist_end(w);
}

int kvm_vm_state_read(struct persist_reader *r, struct kvm_vm_state *s, unsigned ncpus,
                      uint64_t ram_size)
{
    if (persist_open(r, VM_SECTION, VM_VERSION) != 0)
        return -1;
    uint32_t n = persist_get_u32(r);
    uint64_t size = persist_get_u64(r);
    get(r, &s->pic_master, sizeof(s->pic_master), "the PIC (master)");
    get(r, &s->pic_slave, sizeof(s->pic_slave), "the PIC (slave)");
    get(r, &s->ioapic, sizeof(s->ioapic), "the IOAPIC");
    get(r, &s->pit, sizeof(s->pit), "the PIT");
    s->clock_ns = persist_get_u64(r);
    if (persist_close(r) != 0)
        return -1;
    if (n != ncpus)
        return persist_fail(r, "the state has %u vCPUs, this VM has %u", n, ncpus);
    if (size != ram_size)
        return persist_fail(r, "the state has %llu bytes of memory, this VM has %llu",
                            (unsigned long long)size, (unsigned long long)ram_size);
    if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
        s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE || s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
        return persist_fail(r, "kvm state: the interrupt controllers are mislabelled");
    return 0;
}

void kvm_vcpu_state_write(struct persist_writer *w, const struct kvm_vcpu_state *s, unsigned id)
{
    persist_begin(w, VCPU_SECTION, VCPU_VERSION);
    persist_u32(w, id);
    persist_u32(w, s->mp.mp_state);
    put(w, &s->regs, sizeof(s->regs));
    put(w, &s->sregs, sizeof(s->sregs));
    persist_bool(w, s->xsave_valid);
    if (s->xsave_valid)
        put(w, &s->xsave, sizeof(s->xsave));
    else
        put(w, &s->fpu, sizeof(s->fpu));
    persist_bool(w, s->xcrs_valid);
    if (s->xcrs_valid)
        put(w, &s->xcrs, sizeof(s->xcrs));
    put(w, &s->debugregs, sizeof(s->debugregs));
    put(w, &s->lapic, sizeof(s->lapic));
    put(w, &s->events, sizeof(s->events));
    persist_u32(w, s->nmsrs);
    for (unsigned i = 0; i < s->nmsrs; i++) {
        persist_u32(w, s->msrs[i].index);
        persist_u64(w, s->msrs[i].data);
    }
    persist_end(w);
}

int kvm_vcpu_state_read(struct persist_reader *r, struct kvm_vcpu_state *s, unsigned id)
{
    if (persist_open(r, VCPU_SECTION, VCPU_VERSION) != 0)
        return -1;
    memset(s, 0, sizeof(*s));
    uint32_t saved_id = persist_get_u32(r);
    if (persist_ok(r) && saved_id != id)
        return persist_fail(r, "kvm state: vCPU %u's state where vCPU %u's belongs", saved_id, id);
    s->mp.mp_state = persist_get_u32(r);
    get(r, &s->regs, sizeof(s->regs), "the registers");
    get(r, &s->sregs, sizeof(s->sregs), "the special registers");
    s->xsave_valid = persist_get_bool(r);
    if (s->xsave_valid)
        get(r, &s->xsave, sizeof(s->xsave), "the XSAVE area");
    else
        get(r, &s->fpu, sizeof(s->fpu), "the FPU state");
    s->xcrs_valid = persist_get_bool(r);
    if (s->xcrs_valid)
        get(r, &s->xcrs, sizeof(s->xcrs), "the XCRs");
    get(r, &s->debugregs, sizeof(s->debugregs), "the debug registers");
    get(r, &s->lapic, sizeof(s->lapic), "the local APIC");
    get(r, &s->events, sizeof(s->events), "the pending events");
    uint32_t n = persist_get_u32(r);
    if (persist_ok(r) && n > KVM_STATE_MAX_MSRS)
        return persist_fail(r, "kvm state: %u MSRs (at most %u)", n, KVM_STATE_MAX_MSRS);
    for (unsigned i = 0; i < n && persist_ok(r); i++) {
        s->msrs[i].index = persist_get_u32(r);
        s->msrs[i].data = persist_get_u64(r);
        if (persist_ok(r) && !kvm_msr_should_save(s->msrs[i].index))
            return persist_fail(r, "kvm state: MSR %#x is not one kiln saves", s->msrs[i].index);
    }
    s->nmsrs = n;
    if (persist_close(r) != 0)
        return -1;
    if (s->mp.mp_state > MP_STATE_MAX)
        return persist_fail(r, "kvm state: vCPU %u has an invalid mp_state %u", id, s->mp.mp_state);
    if (s->xcrs_valid && s->xcrs.nr_xcrs > KVM_MAX_XCRS)
        return persist_fail(r, "kvm state: vCPU %u has %u XCRs", id, s->xcrs.nr_xcrs);
    return 0;
}
