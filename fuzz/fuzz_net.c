/* fuzz_net.c — virtio-net's request handling (src/dev/virtio/net.c: tx chains with their
 * virtio-net header, rx buffers, mergeable buffers, frames from the network) on chains the input
 * writes into guest RAM (fuzz_virtio.h). The backend is replaced by one that drops what the
 * guest sends, so no frame leaves the process; frames "from the network" are cut from the
 * input: a service byte with bit 7 set on the rx queue first delivers the frame at RAM + 0x3000
 * of length ((byte >> 3) & 0xf) * 101 + 1 (up to past the largest frame). */
#include "dev/virtio/net.c"
#include "fuzz_virtio.h"

static struct fz f;

static int fake_send(struct net_backend *be, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    (void)be, (void)hdr;
    volatile uint8_t x = len ? frame[0] ^ frame[len - 1] : 0;   /* ASan checks the whole frame is there */
    (void)x;
    return 0;
}
static void fake_poll_fill(struct net_backend *be, struct pollset *ps, int *timeout_ms, bool want_rx)
{
    (void)be, (void)ps, (void)timeout_ms, (void)want_rx;
}
static void fake_poll_dispatch(struct net_backend *be, struct pollset *ps, bool poll_error)
{
    (void)be, (void)ps, (void)poll_error;
}
static void fake_destroy(struct net_backend *be)
{
    (void)be;
}
static const struct net_backend_ops fake_ops = {
    .name = "fuzz", .send = fake_send, .poll_fill = fake_poll_fill, .poll_dispatch = fake_poll_dispatch,
    .destroy = fake_destroy,
};
static struct net_backend fake = { .ops = &fake_ops };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_ram(&f);
    struct net_options o = { .id = "fuzz", .backend = NET_USER, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
    char err[512] = "";
    fz_attach(&f, virtio_net_create(&o, &f.mem, fz_irq(), err, sizeof(err)), "virtio-net", err);
    struct net_dev *d = f.t->dev;
    d->be->ops->destroy(d->be);   /* the thread is parked: nobody uses the backend now */
    fake.rx = backend_rx;
    fake.rx_opaque = d;
    d->be = &fake;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_start(&f, data, size))
        return 0;
    struct net_dev *d = f.t->dev;
    FZ_FOR_EACH_KICK(&f, data, q, byte) {
        if (q == TX_QUEUE) {
            process_tx(d);
            continue;
        }
        if (byte & 0x80)
            backend_rx(d, NULL, f.mem.host + 0x3000, (size_t)((byte >> 3) & 0xf) * 101 + 1);
        process_rx(d);
    }
    fz_w32(&f, VIRTIO_MMIO_STATUS, 0);
    /* what a reset leaves behind goes, as the I/O thread lets it go (stale epoch) */
    while (d->rx_count)
        drop_head_frame(d);
    process_rx(d);
    d->tx_held = false;
    d->more_work = false;
    return 0;
}
