/* test_rv64_backend.c — the rv64 machine through the vCPU backend interface (cpu/backend.h):
 * the boot state kiln sets up when it plays the firmware, interrupt lines, exits, and the virt
 * board's boot through the board interface. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "board/virt.h"
#include "common/cpu_priority.h"
#include "common/cpu_quota.h"
#include "cpu/rv64/backend.h"
#include "dev/bus.h"
#include "vm/guest_ram.h"

#define RAM_SIZE (32ull << 20)

static struct guest_ram RAM;
static struct bus BUS;
static struct vcpus *V;

static void setup(void)
{
    cr_assert_eq(guest_ram_create(&RAM, RAM_SIZE), 0);
    memset(&BUS, 0, sizeof(BUS));
    struct vcpu_params p = { .ram = RAM.host, .ram_base = VIRT_RAM_BASE, .ram_size = RAM_SIZE, .cpus = 2,
                             .bus = &BUS };
    V = rv64_backend.create(&p);
    cr_assert_not_null(V);
}

static void teardown(void)
{
    vcpus_destroy(V);
    guest_ram_destroy(&RAM);
}

TestSuite(rv64_backend, .init = setup, .fini = teardown);

Test(rv64_backend, refuses_another_ram_base)
{
    struct vcpu_params p = { .ram = RAM.host, .ram_base = 0, .ram_size = RAM_SIZE, .cpus = 1, .bus = &BUS };
    cr_assert_null(rv64_backend.create(&p));
}

Test(rv64_backend, kernel_boot_state)
{
    struct vcpu_boot b = { .entry = VIRT_RAM_BASE + 0x200000, .table = VIRT_RAM_BASE + 0x1e00000 };
    vcpus_reset(V, &b);
    struct rv64_machine *m = rv64_machine_of(V);
    cr_assert(m->sbi_mode, "kiln answers the kernel's SBI calls");
    cr_assert_eq(m->harts[0]->pc, b.entry);
    cr_assert_eq(m->harts[0]->priv, PRIV_S);
    cr_assert_eq(m->harts[0]->x[10], 0);
    cr_assert_eq(m->harts[1]->x[10], 1);
    cr_assert_eq(m->harts[1]->x[11], b.table);
    cr_assert_eq(atomic_load(&m->harts[0]->state), HART_STARTED);
    cr_assert_eq(atomic_load(&m->harts[1]->state), HART_STOPPED, "secondary harts wait for SBI HSM");
    cr_assert_eq(m->harts[0]->mideleg, MIP_S_MASK);
}

Test(rv64_backend, firmware_boot_state)
{
    struct vcpu_boot b = { .entry = VIRT_RAM_BASE, .firmware = true, .table = VIRT_RAM_BASE + 0x1e00000,
                           .firmware_info = VIRT_RAM_BASE + 0x1e10000 };
    vcpus_reset(V, &b);
    struct rv64_machine *m = rv64_machine_of(V);
    cr_assert_not(m->sbi_mode);
    for (unsigned i = 0; i < 2; i++) {
        cr_assert_eq(m->harts[i]->priv, PRIV_M);
        cr_assert_eq(m->harts[i]->x[12], b.firmware_info);
        cr_assert_eq(atomic_load(&m->harts[i]->state), HART_STARTED);
    }
}

Test(rv64_backend, irq_lines_are_mip_bits)
{
    struct rv64_machine *m = rv64_machine_of(V);
    vcpus_set_irq(V, 1, IRQ_S_EXT, true);
    cr_assert(atomic_load(&m->harts[1]->mip) & MIP_SEIP);
    cr_assert_not(atomic_load(&m->harts[0]->mip) & MIP_SEIP);
    vcpus_set_irq(V, 1, IRQ_S_EXT, false);
    cr_assert_not(atomic_load(&m->harts[1]->mip) & MIP_SEIP);
    vcpus_set_irq(V, 7, IRQ_S_EXT, true);   /* no such vCPU: ignored */
}

Test(rv64_backend, first_exit_wins)
{
    struct vcpu_exit e;
    vcpus_exit(V, &e);
    cr_assert_eq(e.reason, VCPU_EXIT_NONE);
    cr_assert_not(vcpus_stopped(V));
    vcpus_stop(V, VCPU_EXIT_FAIL, 3);
    vcpus_stop(V, VCPU_EXIT_HOST, 0);
    vcpus_exit(V, &e);
    cr_assert_eq(e.reason, VCPU_EXIT_FAIL);
    cr_assert_eq(e.code, 3);
    cr_assert_str_eq(e.msg, "");
}

Test(rv64_backend, runs_until_the_guest_crashes)
{
    /* a write to an address outside RAM and the bus is an access fault with no handler: a crash */
    static const uint32_t prog[] = {
        0x0010029b,   /* addiw t0, zero, 1 */
        0x0002b023,   /* sd zero, 0(t0): no device at 1 */
    };
    memcpy(RAM.host, prog, sizeof(prog));
    struct vcpu_boot b = { .entry = VIRT_RAM_BASE, .firmware = true };
    vcpus_reset(V, &b);
    cr_assert_eq(vcpus_start(V, false), 0);
    vcpus_wait(V);
    struct vcpu_exit e;
    vcpus_exit(V, &e);
    cr_assert_eq(e.reason, VCPU_EXIT_GUEST_CRASH);
    cr_assert(strstr(e.msg, "hart") != NULL, "%s", e.msg);
}

/* ---- the virt board through the board interface ---- */

Test(rv64_backend, virt_boots_an_image_through_the_board_interface)
{
    char kernel[64];
    snprintf(kernel, sizeof(kernel), "/tmp/kiln-test-image-%d", (int)getpid());
    uint8_t img[4096] = { 0 };
    memcpy(img + 56, "RSC\x05", 4);
    FILE *f = fopen(kernel, "wb");
    cr_assert_not_null(f);
    fwrite(img, 1, sizeof(img), f);
    fclose(f);
    struct board_boot boot = { .kernel = kernel, .cmdline = "console=ttyS0" };
    struct board_params p = { .backend = &rv64_backend, .cpus = 2, .ram = RAM.host, .ram_size = RAM_SIZE,
                              .boot = &boot };
    struct board *b;
    cr_assert_eq(virt_board_type.create(&p, &b), 0);
    struct vcpu_boot vb;
    char err[256];
    int rc = b->type->load(b, &vb, err, sizeof(err));
    unlink(kernel);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(vb.entry, VIRT_RAM_BASE + 0x200000);
    cr_assert_not(vb.firmware);
    cr_assert(vb.table > vb.entry && vb.table < VIRT_RAM_BASE + RAM_SIZE);
    cr_assert_eq(memcmp(guest_mem_ptr(&b->mem, vb.table, 4), "\xd0\x0d\xfe\xed", 4), 0, "a device tree");
    struct irq_line irq;
    cr_assert(b->type->next_virtio(b, &irq));
    b->type->destroy(b);
}

/* The VM's CPU limit and vCPU priority reach the machine through vcpu_params. */
Test(rv64_backend, cpu_limit_and_priority_come_in_the_params)
{
    struct cpu_quota q;
    cpu_quota_init(&q);
    struct vcpu_params p = { .ram = RAM.host, .ram_base = VIRT_RAM_BASE, .ram_size = RAM_SIZE, .cpus = 1,
                             .bus = &BUS, .cpu_quota = &q, .vcpu_priority = CPU_PRIORITY_IDLE };
    struct vcpus *v = rv64_backend.create(&p);
    cr_assert_not_null(v);
    struct rv64_machine *m = rv64_machine_of(v);
    cr_assert_eq(m->cpu_quota, &q);
    cr_assert_eq(m->vcpu_priority, CPU_PRIORITY_IDLE);
    vcpus_destroy(v);
    cr_assert_null(rv64_machine_of(V)->cpu_quota, "none unless given");
    cr_assert_eq(rv64_machine_of(V)->vcpu_priority, CPU_PRIORITY_NORMAL);
    cpu_quota_destroy(&q);
}
