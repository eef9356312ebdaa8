/* fuzz_balloon.c — virtio-balloon's queues (src/dev/virtio/balloon.c: inflate and deflate page
 * lists, the statistics buffer) on chains the input writes into guest RAM (fuzz_virtio.h).
 * Inflated pages really are given back (madvise) inside the harness's RAM block. */
#include "dev/virtio/balloon.c"
#include "fuzz_virtio.h"

static struct fz f;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_ram(&f);
    struct balloon_options o = { .amount_mib = 1, .deflate_on_oom = true, .stats_polling_s = 1 };
    char err[512] = "";
    fz_attach(&f, virtio_balloon_create(&o, &f.mem, fz_irq(), err, sizeof(err)), "virtio-balloon", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_start(&f, data, size))
        return 0;
    struct balloon_dev *d = f.t->dev;
    FZ_FOR_EACH_KICK(&f, data, q, byte) {
        if (byte & 0x80) {
            poll_stats(d);   /* the statistics timer fired */
            struct balloon_stats s;
            virtio_balloon_get_stats(f.t, &s);
        } else if (q == STATS_Q) {
            drain_queue(d, STATS_Q, handle_stats);
        } else {
            drain_queue(d, q, handle_page_list);
        }
    }
    fz_w32(&f, VIRTIO_MMIO_STATUS, 0);
    return 0;
}
