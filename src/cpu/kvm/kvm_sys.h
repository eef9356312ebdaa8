/* kvm_sys.h — thin wrappers over the /dev/kvm ioctls kiln's x86-64 board uses (the API is
 * Documentation/virt/kvm/api.rst; structures from <linux/kvm.h>). Each returns 0 (or a file
 * descriptor) on success and -1 after writing a one-line reason naming the ioctl into err; errno
 * is kept for callers that care. None keeps state: the fds belong to the caller. */
#ifndef KILN_CPU_KVM_KVM_SYS_H
#define KILN_CPU_KVM_KVM_SYS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define KVM_DEVICE_PATH "/dev/kvm"

/* Exit status when KVM cannot be used at all: /dev/kvm is missing, not permitted, not KVM, or
 * lacks a capability kiln needs. sysexits.h's EX_UNAVAILABLE ("a service is unavailable"), next
 * to kiln's other sysexits statuses (64 usage ... 71 host resources). */
#define KVM_EXIT_UNAVAILABLE 69

/* Opens path (KVM_DEVICE_PATH normally) and checks KVM_GET_API_VERSION is 12 and the
 * capabilities kiln relies on are there. Returns the fd, or -1 with a one-line message such as
 * "/dev/kvm does not exist: this host has no KVM (use the rv64 backend)". The caller exits with
 * KVM_EXIT_UNAVAILABLE. */
int kvm_open(const char *path, char *err, size_t errlen);
/* Does the host CPU offer VT-x or AMD-V (CPUID)? KVM needs one to run unmodified guests. */
bool kvm_host_has_vtx_or_svm(void);
/* KVM_CHECK_EXTENSION: the capability's value (0: absent), or -1. */
int kvm_check_extension(int fd, long cap);
/* KVM_GET_VCPU_MMAP_SIZE: the size to mmap a vCPU's kvm_run with, or -1. */
int kvm_vcpu_mmap_size(int kvm_fd, char *err, size_t errlen);
/* KVM_GET_SUPPORTED_CPUID into a malloc'd kvm_cpuid2 (caller frees), growing the buffer until
 * the kernel's table fits. */
struct kvm_cpuid2 *kvm_get_supported_cpuid(int kvm_fd, char *err, size_t errlen);

/* VM-level */
int kvm_create_vm(int kvm_fd, char *err, size_t errlen);
/* The three pages Intel VT-x needs for the real-mode TSS and the identity-map page table: put
 * them below 4 GiB in the MMIO hole where no RAM is (Firecracker: 0xfffbd000). */
int kvm_set_tss_addr(int vm_fd, uint64_t addr, char *err, size_t errlen);
int kvm_set_identity_map_addr(int vm_fd, uint64_t addr, char *err, size_t errlen);
/* In-kernel PIC, IOAPIC and local APICs (KVM_CREATE_IRQCHIP), then PIT (KVM_CREATE_PIT2 with
 * the speaker port dummy, so port 0x61 reads work without a device of kiln's). */
int kvm_create_irqchip(int vm_fd, char *err, size_t errlen);
int kvm_create_pit2(int vm_fd, char *err, size_t errlen);
int kvm_set_user_memory_region(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size,
                               void *host, uint32_t flags, char *err, size_t errlen);
/* KVM_IRQ_LINE: drives an in-kernel irqchip input (IOAPIC pin / PIC IRQ gsi). */
int kvm_irq_line(int vm_fd, uint32_t gsi, int level);
/* An irq_line (dev/irq.h) set function that calls kvm_irq_line: opaque points at the VM fd
 * (an int that outlives the device), n is the GSI. */
void kvm_irq_line_set(void *opaque, unsigned n, bool level);

/* vCPU-level */
int kvm_create_vcpu(int vm_fd, unsigned id, char *err, size_t errlen);
/* mmaps the vCPU's struct kvm_run (size from kvm_vcpu_mmap_size), or NULL. */
struct kvm_run *kvm_map_run(int vcpu_fd, size_t size, char *err, size_t errlen);
int kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid_entry2 *e, unsigned n,
                   char *err, size_t errlen);
int kvm_get_regs(int vcpu_fd, struct kvm_regs *r, char *err, size_t errlen);
int kvm_set_regs(int vcpu_fd, const struct kvm_regs *r, char *err, size_t errlen);
int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *s, char *err, size_t errlen);
int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *s, char *err, size_t errlen);
int kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *f, char *err, size_t errlen);
/* KVM_SET_MSRS: fails unless every one of the n MSRs was set (the ioctl returns a count). */
int kvm_set_msrs(int vcpu_fd, const struct kvm_msr_entry *e, unsigned n,
                 char *err, size_t errlen);
int kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *l, char *err, size_t errlen);
int kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l, char *err, size_t errlen);
/* KVM_GET_MSRS: reads the n MSRs named in e[].index; returns how many were read (KVM stops at
 * the first one it cannot read), or -1. */
int kvm_get_msrs(int vcpu_fd, struct kvm_msr_entry *e, unsigned n, char *err, size_t errlen);
/* KVM_GET_MSR_INDEX_LIST into out (at most cap indices); returns the count, or -1. */
int kvm_get_msr_index_list(int kvm_fd, uint32_t *out, unsigned cap, char *err, size_t errlen);

/* Any other ioctl whose argument is a pointer: 0, or -1 with "NAME: reason" in err (state
 * save and restore: KVM_GET/SET_XSAVE, _IRQCHIP, _PIT2, _CLOCK, ...). */
int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name, char *err,
                    size_t errlen);
#define KVM_IOCTL(fd, req, arg, err, errlen) kvm_ioctl_named(fd, req, arg, #req, err, errlen)

#endif
