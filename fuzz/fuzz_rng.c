/* fuzz_rng.c — virtio-rng's request handling (src/dev/virtio/rng.c) on chains the input writes
 * into guest RAM (fuzz_virtio.h). */
#include "dev/virtio/rng.c"
#include "fuzz_virtio.h"

static struct fz f;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_ram(&f);
    struct rng_options o = { 0 };
    char err[512] = "";
    fz_attach(&f, virtio_rng_create(&o, &f.mem, fz_irq(), err, sizeof(err)), "virtio-rng", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_start(&f, data, size))
        return 0;
    struct rng_dev *d = f.t->dev;
    FZ_FOR_EACH_KICK(&f, data, q, byte) {
        (void)q, (void)byte;
        if (d->have_pending && request_stale(&d->t, &d->pending))
            d->have_pending = false;
        process_queue(d);
    }
    fz_w32(&f, VIRTIO_MMIO_STATUS, 0);
    d->have_pending = false;
    return 0;
}
