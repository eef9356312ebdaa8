/* fuzz_state.c — restoring a machine from saved state: the persist reader (src/common/persist.c)
 * and the restore functions of the board (vcpus_restore: the harts; virt_board_restore: PLIC, UART, RTC) and of
 * every virtio device (virtio_mmio_restore: the transport, the rings, then blk, net, rng, vsock
 * and balloon's own sections), in the order a snapshot or an incoming migration holds them
 * after its info and configuration. The machine is built once, as vm.c builds it (1 vCPU,
 * 32 MiB, one device of each kind in slot order), and never started; each input is restored
 * into it. Seeds: the state sections of a real snapshot taken by kiln. */
#include "board/virt.h"
#include "cpu/rv64/backend.h"
#include "dev/virtio/balloon.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/net.h"
#include "dev/virtio/rng.h"
#include "dev/virtio/vsock.h"
#include "vm/guest_ram.h"
#include "fuzz_util.h"
#include <fcntl.h>

#define RAM_MIB 32

static struct guest_ram ram;
static struct virt_board board;

static void attach(struct virtio_mmio *t, const char *what, const char *err)
{
    FUZZ_CHECK(t, "cannot create %s: %s", what, err);
    virt_attach_virtio(&board, t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (guest_ram_create(&ram, RAM_MIB << 20))
        abort();
    struct board_params p = { .backend = &rv64_backend, .cpus = 1, .ram = ram.host, .ram_size = RAM_MIB << 20 };
    if (virt_board_init(&board, &p))
        abort();
    static char disk[256], uds[256];
    snprintf(disk, sizeof(disk), "%s/disk.img", fuzz_scratch_dir());
    snprintf(uds, sizeof(uds), "%s/v.sock", fuzz_scratch_dir());
    int fd = open(disk, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20))
        abort();
    close(fd);
    char err[512] = "";
    struct irq_line irq;
    struct disk_options d = { .id = "d0", .path = disk };
    virt_next_virtio_irq(&board, &irq);
    attach(virtio_blk_create(&d, &board.base.mem, irq, err, sizeof(err)), "virtio-blk", err);
    struct net_options n = { .id = "eth0", .backend = NET_USER, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
    virt_next_virtio_irq(&board, &irq);
    attach(virtio_net_create(&n, &board.base.mem, irq, err, sizeof(err)), "virtio-net", err);
    struct rng_options r = { 0 };
    virt_next_virtio_irq(&board, &irq);
    attach(virtio_rng_create(&r, &board.base.mem, irq, err, sizeof(err)), "virtio-rng", err);
    struct vsock_options v = { .guest_cid = 3, .uds_path = uds };
    virt_next_virtio_irq(&board, &irq);
    attach(virtio_vsock_create(&v, &board.base.mem, irq, err, sizeof(err)), "virtio-vsock", err);
    struct balloon_options b = { 0 };
    virt_next_virtio_irq(&board, &irq);
    attach(virtio_balloon_create(&b, &board.base.mem, irq, err, sizeof(err)), "virtio-balloon", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *copy = fuzz_dup(data, size);
    struct persist_reader r;
    persist_reader_init(&r, copy, size);
    /* what vm.c's restore_state does */
    if (vcpus_restore(board.base.cpus, &r, (uint64_t)size * 1000) == 0 && virt_board_restore(&board, &r) == 0)
        for (unsigned i = 0; i < board.nvirtio && persist_ok(&r); i++)
            virtio_mmio_restore(board.virtio[i], &r);
    FUZZ_CHECK(r.pos <= r.len, "reader past its end");
    if (!persist_ok(&r))
        FUZZ_CHECK(memchr(r.err, 0, sizeof(r.err)) && r.err[0], "failed without a reason");
    free(copy);
    return 0;
}
