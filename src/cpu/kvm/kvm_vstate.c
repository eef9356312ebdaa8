/* kvm_vstate.c — reading and writing a KVM x86-64 VM's and vCPUs' state through the ioctls
 * (see kvm_state.h). The orders are Firecracker's (and QEMU's), for KVM's reasons given below. */
#include <string.h>
#include "common/errmsg.h"
#include "cpu/kvm/kvm_state.h"
#include "cpu/kvm/kvm_sys.h"

/* Reads the MSRs KVM can read: KVM_GET_MSRS stops at the first one it refuses (e.g. a PMU MSR
 * on a host whose CPUID hides the PMU), so that one is dropped and the rest read again. */
static int get_msrs(int fd, const uint32_t *msrs, unsigned nmsrs, struct kvm_vcpu_state *s,
                    char *err, size_t errlen)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nmsrs && n < KVM_STATE_MAX_MSRS; i++)
        s->msrs[n++] = (struct kvm_msr_entry){ .index = msrs[i] };
    unsigned done = 0;
    while (done < n) {
        int r = kvm_get_msrs(fd, s->msrs + done, n - done, err, errlen);
        if (r < 0)
            return -1;
        done += (unsigned)r;
        if (done < n) {   /* s->msrs[done] was refused: leave it out */
            memmove(s->msrs + done, s->msrs + done + 1, (n - done - 1) * sizeof(s->msrs[0]));
            n--;
        }
    }
    s->nmsrs = n;
    kvm_msrs_fix_tsc_deadline(s->msrs, n);
    return 0;
}

/* KVM_GET_MP_STATE first: it makes the local APIC accept pending INIT/SIPI, which changes the
 * vCPU's and the APIC's state. KVM_GET_LAPIC may update the APIC too. The events last: the
 * other GETs can change what is pending. */
int kvm_vcpu_state_get(int fd, const uint32_t *msrs, unsigned nmsrs, bool xsave, bool xcrs,
                       struct kvm_vcpu_state *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->xsave_valid = xsave;
    s->xcrs_valid = xcrs;
    if (KVM_IOCTL(fd, KVM_GET_MP_STATE, &s->mp, err, errlen) ||
        kvm_get_regs(fd, &s->regs, err, errlen) || kvm_get_sregs(fd, &s->sregs, err, errlen) ||
        (xsave ? KVM_IOCTL(fd, KVM_GET_XSAVE, &s->xsave, err, errlen)
               : KVM_IOCTL(fd, KVM_GET_FPU, &s->fpu, err, errlen)) ||
        (xcrs && KVM_IOCTL(fd, KVM_GET_XCRS, &s->xcrs, err, errlen)) ||
        KVM_IOCTL(fd, KVM_GET_DEBUGREGS, &s->debugregs, err, errlen) ||
        kvm_get_lapic(fd, &s->lapic, err, errlen) ||
        get_msrs(fd, msrs, nmsrs, s, err, errlen) ||
        KVM_IOCTL(fd, KVM_GET_VCPU_EVENTS, &s->events, err, errlen))
        return -1;
    return 0;
}

/* mp_state before the registers (it may reset them for INIT); KVM_SET_REGS clears a pending
 * exception, so the events come after it (they restore it); the LAPIC after the sregs (which
 * carry the APIC base) and before the MSRs (a TSC deadline is only taken by a LAPIC in deadline
 * mode); the events last. */
int kvm_vcpu_state_set(int fd, const struct kvm_vcpu_state *s, char *err, size_t errlen)
{
    struct kvm_mp_state mp = s->mp;
    struct kvm_vcpu_events ev = s->events;
    if (KVM_IOCTL(fd, KVM_SET_MP_STATE, &mp, err, errlen) ||
        kvm_set_regs(fd, &s->regs, err, errlen) || kvm_set_sregs(fd, &s->sregs, err, errlen))
        return -1;
    if (s->xsave_valid) {
        struct kvm_xsave x = s->xsave;
        if (KVM_IOCTL(fd, KVM_SET_XSAVE, &x, err, errlen))
            return -1;
    } else if (kvm_set_fpu(fd, &s->fpu, err, errlen)) {
        return -1;
    }
    if (s->xcrs_valid) {
        struct kvm_xcrs x = s->xcrs;
        if (KVM_IOCTL(fd, KVM_SET_XCRS, &x, err, errlen))
            return -1;
    }
    struct kvm_debugregs dr = s->debugregs;
    if (KVM_IOCTL(fd, KVM_SET_DEBUGREGS, &dr, err, errlen) ||
        kvm_set_lapic(fd, &s->lapic, err, errlen) ||
        (s->nmsrs && kvm_set_msrs(fd, s->msrs, s->nmsrs, err, errlen)) ||
        KVM_IOCTL(fd, KVM_SET_VCPU_EVENTS, &ev, err, errlen))
        return -1;
    return 0;
}

int kvm_vm_state_get(int vm_fd, struct kvm_vm_state *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    struct kvm_clock_data clock = { 0 };
    if (KVM_IOCTL(vm_fd, KVM_GET_IRQCHIP, &s->pic_master, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_GET_IRQCHIP, &s->pic_slave, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_GET_IRQCHIP, &s->ioapic, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_GET_PIT2, &s->pit, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_GET_CLOCK, &clock, err, errlen))
        return -1;
    s->clock_ns = clock.clock;
    return 0;
}

/* The clock is set without flags: KVM's own KVM_CLOCK_REALTIME adjustment is not used, kiln
 * adds the host time that passed itself (advance_ns, as for the rv64 timer). Called after the
 * vCPUs are restored, so that the kvmclock value the guest sees first is this one. */
int kvm_vm_state_set(int vm_fd, const struct kvm_vm_state *s, uint64_t advance_ns, char *err,
                     size_t errlen)
{
    struct kvm_vm_state c = *s;
    struct kvm_clock_data clock = { .clock = s->clock_ns + advance_ns };
    if (clock.clock < s->clock_ns)
        return errmsg(err, errlen, "the saved guest clock is out of range");
    if (KVM_IOCTL(vm_fd, KVM_SET_PIT2, &c.pit, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_SET_IRQCHIP, &c.pic_master, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_SET_IRQCHIP, &c.pic_slave, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_SET_IRQCHIP, &c.ioapic, err, errlen) ||
        KVM_IOCTL(vm_fd, KVM_SET_CLOCK, &clock, err, errlen))
        return -1;
    return 0;
}
