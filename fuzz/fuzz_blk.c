/* fuzz_blk.c — virtio-blk's request handling (src/dev/virtio/blk.c: header, sectors, data
 * buffers, status byte; read, write, flush, get-id, discard, write-zeroes) on requests the
 * input writes into guest RAM (fuzz_virtio.h). The image is a 1 MiB scratch file. */
#include "dev/virtio/blk.c"
#include "fuzz_virtio.h"

static struct fz f;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static char path[256];
    snprintf(path, sizeof(path), "%s/disk.img", fuzz_scratch_dir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20))
        abort();
    close(fd);
    fz_ram(&f);
    struct disk_options o = { .id = "fuzz", .path = path, .serial = "fuzz-serial" };
    char err[512] = "";
    fz_attach(&f, virtio_blk_create(&o, &f.mem, fz_irq(), err, sizeof(err)), "virtio-blk", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_start(&f, data, size))
        return 0;
    struct virtio_blk *b = f.t->dev;
    FZ_FOR_EACH_KICK(&f, data, q, byte) {
        (void)q, (void)byte;
        process_queue(b);
    }
    fz_w32(&f, VIRTIO_MMIO_STATUS, 0);
    b->have_req = false;   /* what the I/O thread does with a request from before a reset */
    return 0;
}
