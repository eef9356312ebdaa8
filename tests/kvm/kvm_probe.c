/*
 * kvm_probe: the nested-KVM harness's own test (tests/kvm/test_probe.sh). Checks that /dev/kvm
 * really runs guest code: opens it, checks KVM_GET_API_VERSION == 12, creates a VM with one
 * page of RAM and a vCPU in real mode, and runs
 *
 *     0x1000: mov $0x42, %al ; out %al, $0x10 ; hlt
 *     0x1005: out %al, $0x11 ; jmp 0x1005
 *
 * expecting a KVM_EXIT_IO (port 0x10, one byte 0x42 out), then KVM_EXIT_HLT; then it times
 * N round trips through the loop's port-0x11 exit (the cost of one VM exit to user space, which
 * is what a kvm backend's device emulation pays). Prints the capabilities a VMM needs.
 * Exit status 0 when everything held, 1 otherwise, 77 when there is no /dev/kvm (skip).
 *
 *   kvm_probe [N]     (N exits to time, default 2000)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok: ");                                                                        \
        } else {                                                                                   \
            printf("FAIL: ");                                                                      \
            failures++;                                                                            \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        putchar('\n');                                                                             \
    } while (0)

static void die(const char *what)
{
    printf("FAIL: %s: %s\n", what, strerror(errno));
    exit(1);
}

static const char *exit_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    default: return "another exit";
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    long loops = argc > 1 ? atol(argv[1]) : 2000;
    setvbuf(stdout, NULL, _IOLBF, 0);

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        printf("skip: /dev/kvm: %s\n", strerror(errno));
        return 77;
    }
    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    CHECK(api == 12, "KVM_GET_API_VERSION = %d (12 expected)", api);
    if (api != 12)
        return 1;

    static const struct { long cap; const char *name; } caps[] = {
        { KVM_CAP_USER_MEMORY, "USER_MEMORY" },
        { KVM_CAP_IRQCHIP, "IRQCHIP" },
        { KVM_CAP_PIT2, "PIT2" },
        { KVM_CAP_IRQFD, "IRQFD" },
        { KVM_CAP_IOEVENTFD, "IOEVENTFD" },
        { KVM_CAP_EXT_CPUID, "EXT_CPUID" },
        { KVM_CAP_TSC_DEADLINE_TIMER, "TSC_DEADLINE_TIMER" },
        { KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
        { KVM_CAP_NR_VCPUS, "NR_VCPUS" },
        { KVM_CAP_MAX_VCPUS, "MAX_VCPUS" },
    };
    printf("capabilities:");
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        printf(" %s=%d", caps[i].name, ioctl(kvm, KVM_CHECK_EXTENSION, caps[i].cap));
    printf("\n");
    CHECK(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) > 0, "KVM_CAP_USER_MEMORY");

    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");

    /* one page of guest RAM at guest physical 0x1000 holding the program */
    uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap guest memory");
    static const uint8_t code[] = {
        0xb0, 0x42,       /* 0x1000: mov $0x42, %al */
        0xe6, 0x10,       /* 0x1002: out %al, $0x10 */
        0xf4,             /* 0x1004: hlt */
        0xe6, 0x11,       /* 0x1005: out %al, $0x11 */
        0xeb, 0xfc,       /* 0x1007: jmp 0x1005 */
    };
    memcpy(mem, code, sizeof code);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000,
        .userspace_addr = (uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");

    /* real mode, CS = 0, IP = 0x1000 */
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");

    if (ioctl(vcpu, KVM_RUN, 0) < 0)
        die("KVM_RUN (1)");
    CHECK(run->exit_reason == KVM_EXIT_IO, "first exit: %s (KVM_EXIT_IO expected)",
          exit_name(run->exit_reason));
    if (run->exit_reason == KVM_EXIT_IO) {
        uint8_t data = *((uint8_t *)run + run->io.data_offset);
        CHECK(run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0x10 && run->io.size == 1 &&
                  run->io.count == 1 && data == 0x42,
              "out to port 0x%x, %u byte(s), value 0x%02x (out, port 0x10, 1 byte, 0x42 expected)",
              run->io.port, run->io.size, data);
    }

    if (ioctl(vcpu, KVM_RUN, 0) < 0)
        die("KVM_RUN (2)");
    CHECK(run->exit_reason == KVM_EXIT_HLT, "second exit: %s (KVM_EXIT_HLT expected)",
          exit_name(run->exit_reason));
    if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
        die("KVM_GET_REGS");
    CHECK(regs.rip == 0x1005 && (regs.rax & 0xff) == 0x42, "after hlt: rip 0x%llx, al 0x%02llx",
          (unsigned long long)regs.rip, (unsigned long long)(regs.rax & 0xff));

    /* time round trips through the port-0x11 loop */
    regs.rip = 0x1005;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS (loop)");
    long good = 0;
    double t0 = now_us();
    for (long i = 0; i < loops; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            die("KVM_RUN (loop)");
        good += run->exit_reason == KVM_EXIT_IO && run->io.port == 0x11;
    }
    double t1 = now_us();
    CHECK(good == loops, "%ld of %ld loop exits were port 0x11 KVM_EXIT_IO", good, loops);
    if (loops > 0)
        printf("exit round trip: %.1f us (%ld exits)\n", (t1 - t0) / loops, loops);

    close(vcpu);
    close(vm);
    close(kvm);
    printf("%s\n", failures ? "kvm_probe: FAILED" : "kvm_probe: all checks passed");
    return failures ? 1 : 0;
}
