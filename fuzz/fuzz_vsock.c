/* fuzz_vsock.c — virtio-vsock's packet handling (src/dev/virtio/vsock_conn.c: the tx queue's
 * packets — requests, responses, data, credit updates, shutdowns, resets — and the replies the
 * device puts on the rx queue) on chains the input writes into guest RAM (fuzz_virtio.h). The
 * host side is a Unix socket in a scratch directory; a guest connecting to a host port finds no
 * listener there and gets a reset. */
#include "dev/virtio/vsock.h"
#include "dev/virtio/vsock_priv.h"
#include "fuzz_virtio.h"

static struct fz f;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_ram(&f);
    static char uds[256];
    snprintf(uds, sizeof(uds), "%s/v.sock", fuzz_scratch_dir());
    struct vsock_options o = { .guest_cid = 3, .uds_path = uds };
    char err[512] = "";
    fz_attach(&f, virtio_vsock_create(&o, &f.mem, fz_irq(), err, sizeof(err)), "virtio-vsock", err);
    return 0;
}

/* What the I/O thread does after the driver reset the device. */
static void after_reset(struct vsock_dev *d)
{
    if (__atomic_exchange_n(&d->reset_requested, 0, __ATOMIC_ACQ_REL)) {
        pthread_mutex_lock(&d->t.lock);
        uint32_t epoch = d->t.epoch;
        pthread_mutex_unlock(&d->t.lock);
        vsock_drop_stale(d, epoch);
        d->reset_event_pending = false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vsock_dev *d = f.t->dev;
    bool ok = fz_start(&f, data, size);
    after_reset(d);
    if (!ok)
        return 0;
    FZ_FOR_EACH_KICK(&f, data, q, byte) {
        (void)q, (void)byte;
        vsock_process_tx(d);
        vsock_deliver_control(d);
        vsock_sweep(d);
    }
    fz_w32(&f, VIRTIO_MMIO_STATUS, 0);
    after_reset(d);
    vsock_sweep(d);
    return 0;
}
