/* kvm_sys.c — /dev/kvm ioctl wrappers (see kvm_sys.h). */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common/errmsg.h"
#include "cpu/kvm/kvm_sys.h"

#define KVM_API 12   /* the only stable API version there has ever been */

/* the capabilities every part of kiln's x86 board needs */
static const struct { long cap; const char *name; } required[] = {
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
    { KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

/* ioctl, retried when a signal interrupts it */
static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

static int fail(char *err, size_t errlen, const char *what)
{
    int e = errno;
    errmsg(err, errlen, "%s: %s", what, strerror(e));
    errno = e;
    return -1;
}

#define CPUID_1_ECX_VMX        (1u << 5)
#define CPUID_80000001_ECX_SVM (1u << 2)

bool kvm_host_has_vtx_or_svm(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & CPUID_1_ECX_VMX))
        return true;
    return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & CPUID_80000001_ECX_SVM);
}

int kvm_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENODEV || e == ENXIO)
            errmsg(err, errlen, "%s does not exist: this host has no KVM (the rv64 backend needs "
                   "none)", path);
        else if (e == EACCES || e == EPERM)
            errmsg(err, errlen, "%s: permission denied (add your user to the group owning it, "
                   "usually kvm)", path);
        else
            errmsg(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API) {
        int e = errno;
        if (v < 0)
            errmsg(err, errlen, "%s is not a KVM device (%s)", path, strerror(e));
        else
            errmsg(err, errlen, "%s speaks KVM API %d, kiln needs %d", path, v, KVM_API);
        close(fd);
        errno = v < 0 ? e : EINVAL;
        return -1;
    }
    /* KVM without VT-x/AMD-V (kvm_pvm, "pagetable-based" KVM in cloud VMs without nested
     * virtualization) answers every ioctl above but runs only guests built for it: an
     * unmodified kernel dies early in boot with an emulation error (XRSTOR), so say why now */
    if (!kvm_host_has_vtx_or_svm()) {
        errmsg(err, errlen, "%s is KVM without hardware virtualization (this CPU shows neither "
               "VT-x nor AMD-V, e.g. kvm_pvm): the kvm backend needs VT-x or AMD-V", path);
        close(fd);
        errno = ENOTSUP;
        return -1;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (kvm_check_extension(fd, required[i].cap) <= 0) {
            errmsg(err, errlen, "%s lacks %s, which kiln needs", path, required[i].name);
            close(fd);
            errno = ENOSYS;
            return -1;
        }
    }
    return fd;
}

int kvm_check_extension(int fd, long cap)
{
    return ioctl(fd, KVM_CHECK_EXTENSION, cap);
}

int kvm_vcpu_mmap_size(int kvm_fd, char *err, size_t errlen)
{
    int n = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (n < (int)sizeof(struct kvm_run))
        return n < 0 ? fail(err, errlen, "KVM_GET_VCPU_MMAP_SIZE")
                     : errmsg(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %d bytes is too small", n);
    return n;
}

struct kvm_cpuid2 *kvm_get_supported_cpuid(int kvm_fd, char *err, size_t errlen)
{
    /* the kernel answers E2BIG until the buffer holds its whole table */
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c) {
            errmsg(err, errlen, "out of memory for the CPUID table");
            return NULL;
        }
        c->nent = n;
        if (xioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        free(c);
        if (e != E2BIG) {
            errno = e;
            fail(err, errlen, "KVM_GET_SUPPORTED_CPUID");
            return NULL;
        }
    }
    errmsg(err, errlen, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
    return NULL;
}

int kvm_create_vm(int kvm_fd, char *err, size_t errlen)
{
    int fd = xioctl(kvm_fd, KVM_CREATE_VM, 0);
    return fd < 0 ? fail(err, errlen, "KVM_CREATE_VM") : fd;
}

int kvm_set_tss_addr(int vm_fd, uint64_t addr, char *err, size_t errlen)
{
    /* takes the address by value, not by pointer */
    return ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)addr) < 0
               ? fail(err, errlen, "KVM_SET_TSS_ADDR") : 0;
}

int kvm_set_identity_map_addr(int vm_fd, uint64_t addr, char *err, size_t errlen)
{
    __u64 a = addr;
    return xioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a) < 0
               ? fail(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR") : 0;
}

int kvm_create_irqchip(int vm_fd, char *err, size_t errlen)
{
    return xioctl(vm_fd, KVM_CREATE_IRQCHIP, NULL) < 0 ? fail(err, errlen, "KVM_CREATE_IRQCHIP")
                                                       : 0;
}

int kvm_create_pit2(int vm_fd, char *err, size_t errlen)
{
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    return xioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0 ? fail(err, errlen, "KVM_CREATE_PIT2") : 0;
}

int kvm_set_user_memory_region(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size,
                               void *host, uint32_t flags, char *err, size_t errlen)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    return xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0
               ? fail(err, errlen, "KVM_SET_USER_MEMORY_REGION") : 0;
}

int kvm_irq_line(int vm_fd, uint32_t gsi, int level)
{
    struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
    return xioctl(vm_fd, KVM_IRQ_LINE, &l);
}

void kvm_irq_line_set(void *opaque, unsigned n, bool level)
{
    /* a failure here means the VM fd is gone: nothing a device could do about it */
    (void)kvm_irq_line(*(const int *)opaque, n, level);
}

int kvm_create_vcpu(int vm_fd, unsigned id, char *err, size_t errlen)
{
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    return fd < 0 ? fail(err, errlen, "KVM_CREATE_VCPU") : fd;
}

struct kvm_run *kvm_map_run(int vcpu_fd, size_t size, char *err, size_t errlen)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    if (p == MAP_FAILED) {
        fail(err, errlen, "mmap of kvm_run");
        return NULL;
    }
    return p;
}

int kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid_entry2 *e, unsigned n,
                   char *err, size_t errlen)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(*e));
    if (!c)
        return errmsg(err, errlen, "out of memory for the CPUID table");
    c->nent = n;
    memcpy(c->entries, e, n * sizeof(*e));
    int r = xioctl(vcpu_fd, KVM_SET_CPUID2, c);
    int saved = errno;
    free(c);
    errno = saved;
    return r < 0 ? fail(err, errlen, "KVM_SET_CPUID2") : 0;
}

#define SIMPLE(name, type, req, constness)                                                 \
    int name(int vcpu_fd, constness type *arg, char *err, size_t errlen)                   \
    {                                                                                      \
        return xioctl(vcpu_fd, req, (void *)arg) < 0 ? fail(err, errlen, #req) : 0;        \
    }
SIMPLE(kvm_get_regs, struct kvm_regs, KVM_GET_REGS, )
SIMPLE(kvm_set_regs, struct kvm_regs, KVM_SET_REGS, const)
SIMPLE(kvm_get_sregs, struct kvm_sregs, KVM_GET_SREGS, )
SIMPLE(kvm_set_sregs, struct kvm_sregs, KVM_SET_SREGS, const)
SIMPLE(kvm_set_fpu, struct kvm_fpu, KVM_SET_FPU, const)
SIMPLE(kvm_get_lapic, struct kvm_lapic_state, KVM_GET_LAPIC, )
SIMPLE(kvm_set_lapic, struct kvm_lapic_state, KVM_SET_LAPIC, const)

int kvm_set_msrs(int vcpu_fd, const struct kvm_msr_entry *e, unsigned n,
                 char *err, size_t errlen)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(*e));
    if (!m)
        return errmsg(err, errlen, "out of memory for the MSR list");
    m->nmsrs = n;
    memcpy(m->entries, e, n * sizeof(*e));
    int r = xioctl(vcpu_fd, KVM_SET_MSRS, m);
    int saved = errno;
    free(m);
    if (r < 0) {
        errno = saved;
        return fail(err, errlen, "KVM_SET_MSRS");
    }
    /* KVM stops at the first MSR it refuses and returns how many it set */
    if ((unsigned)r != n)
        return errmsg(err, errlen, "KVM_SET_MSRS: MSR 0x%x refused (%d of %u set)",
                      e[r].index, r, n);
    return 0;
}

int kvm_get_msrs(int vcpu_fd, struct kvm_msr_entry *e, unsigned n, char *err, size_t errlen)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(*e));
    if (!m)
        return errmsg(err, errlen, "out of memory for the MSR list");
    m->nmsrs = n;
    memcpy(m->entries, e, n * sizeof(*e));
    int r = xioctl(vcpu_fd, KVM_GET_MSRS, m);
    int saved = errno;
    if (r > 0)
        memcpy(e, m->entries, (size_t)r * sizeof(*e));
    free(m);
    errno = saved;
    return r < 0 ? fail(err, errlen, "KVM_GET_MSRS") : r;
}

int kvm_get_msr_index_list(int kvm_fd, uint32_t *out, unsigned cap, char *err, size_t errlen)
{
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + cap * sizeof(l->indices[0]));
    if (!l)
        return errmsg(err, errlen, "out of memory for the MSR list");
    l->nmsrs = cap;
    int r = xioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l);
    int saved = errno;
    unsigned n = l->nmsrs;
    if (r == 0)
        memcpy(out, l->indices, n * sizeof(out[0]));
    free(l);
    errno = saved;
    /* E2BIG: more than cap; nmsrs then says how many there are */
    return r < 0 ? fail(err, errlen, "KVM_GET_MSR_INDEX_LIST") : (int)n;
}

int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name, char *err,
                    size_t errlen)
{
    return xioctl(fd, req, arg) < 0 ? fail(err, errlen, name) : 0;
}
