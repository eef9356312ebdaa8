/* virtio.c — a guest that programs virtio devices, correctly and maliciously (run with
 * --disk IMG --rng: slot 0 is virtio-blk, slot 1 virtio-rng). kiln must survive every bad
 * descriptor, mark only the offending device broken (DEVICE_NEEDS_RESET plus a config
 * interrupt), keep the other device working, and bring a broken device back on reset. */
#include "lib.h"

#define SLOT(n) (0x10001000ul + 0x1000ul * (n))
#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define BLK SLOT(0)
#define RNG SLOT(1)

/* virtio-mmio registers and status bits (virtio 1.x §4.2.2) */
#define MAGIC 0x000
#define VERSION 0x004
#define DEVICE_ID 0x008
#define DEV_FEATURES 0x010
#define DEV_FEATURES_SEL 0x014
#define DRV_FEATURES 0x020
#define DRV_FEATURES_SEL 0x024
#define QUEUE_SEL 0x030
#define QUEUE_NUM_MAX 0x034
#define QUEUE_NUM 0x038
#define QUEUE_READY 0x044
#define QUEUE_NOTIFY 0x050
#define INT_STATUS 0x060
#define INT_ACK 0x064
#define STATUS 0x070
#define DESC_LO 0x080
#define DESC_HI 0x084
#define AVAIL_LO 0x090
#define AVAIL_HI 0x094
#define USED_LO 0x0a0
#define USED_HI 0x0a4
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64
#define F_NEXT 1
#define F_WRITE 2
#define QN 8

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct ring {
    struct desc desc[QN];
    volatile uint16_t avail_flags, avail_idx, avail_ring[QN], used_event;
    uint8_t pad[4096 - 16 * QN - 2 * (QN + 3)];
    volatile uint16_t used_flags, used_idx;
    volatile struct { uint32_t id, len; } used_ring[QN];
} __attribute__((aligned(4096)));

static struct ring blk_ring, rng_ring;
static uint8_t buf[4][4096] __attribute__((aligned(4096)));

/* reset, negotiate VERSION_1 only, one queue of QN entries, DRIVER_OK */
static int start(uint64_t base, struct ring *r)
{
    REG(base, STATUS) = 0;
    memset(r, 0, sizeof(*r));
    REG(base, STATUS) = S_ACK | S_DRIVER;
    REG(base, DRV_FEATURES_SEL) = 0;
    REG(base, DRV_FEATURES) = 0;
    REG(base, DRV_FEATURES_SEL) = 1;
    REG(base, DRV_FEATURES) = 1;          /* bit 32: VIRTIO_F_VERSION_1 */
    REG(base, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    if (!(REG(base, STATUS) & S_FEATURES_OK))
        return 0;
    REG(base, QUEUE_SEL) = 0;
    REG(base, QUEUE_NUM) = QN;
    REG(base, DESC_LO) = (uint32_t)(uint64_t)r->desc;
    REG(base, DESC_HI) = 0;
    REG(base, AVAIL_LO) = (uint32_t)(uint64_t)&r->avail_flags;
    REG(base, AVAIL_HI) = 0;
    REG(base, USED_LO) = (uint32_t)(uint64_t)&r->used_flags;
    REG(base, USED_HI) = 0;
    REG(base, QUEUE_READY) = 1;
    REG(base, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK;
    return 1;
}

static void publish(uint64_t base, struct ring *r, uint16_t head)
{
    r->avail_ring[r->avail_idx % QN] = head;
    fence();
    r->avail_idx++;
    fence();
    REG(base, QUEUE_NOTIFY) = 0;
}

/* waits for used entry number n (1-based); returns its length or -1 on timeout */
static long wait_used(struct ring *r, uint16_t n)
{
    uint64_t end = rdtime_mmio() + 2 * TIMEBASE_HZ;
    while (rdtime_mmio() < end) {
        fence();
        if (r->used_idx == n)
            return r->used_ring[(n - 1) % QN].len;
    }
    return -1;
}

static int wait_broken(uint64_t base)
{
    uint64_t end = rdtime_mmio() + 2 * TIMEBASE_HZ;
    while (rdtime_mmio() < end)
        if (REG(base, STATUS) & S_NEEDS_RESET)
            return 1;
    return 0;
}

/* one virtio-blk request: type 0 read / 1 write of sector `sector` into/from buf[1] */
static long blk_request(struct ring *r, uint16_t n, uint32_t type, uint64_t sector)
{
    struct { uint32_t type, reserved; uint64_t sector; } *hdr = (void *)buf[0];
    hdr->type = type;
    hdr->reserved = 0;
    hdr->sector = sector;
    buf[2][0] = 0xff;
    r->desc[0] = (struct desc){ (uint64_t)buf[0], 16, F_NEXT, 1 };
    r->desc[1] = (struct desc){ (uint64_t)buf[1], 512, (uint16_t)(F_NEXT | (type == 0 ? F_WRITE : 0)), 2 };
    r->desc[2] = (struct desc){ (uint64_t)buf[2], 1, F_WRITE, 0 };
    publish(BLK, r, 0);
    if (wait_used(r, n) < 0)
        return -1;
    return buf[2][0];
}

static int rng_fill(struct ring *r, uint16_t n)
{
    memset(buf[3], 0, 64);
    r->desc[0] = (struct desc){ (uint64_t)buf[3], 64, F_WRITE, 0 };
    publish(RNG, r, 0);
    long len = wait_used(r, n);
    int nonzero = 0;
    for (int i = 0; i < 64; i++)
        nonzero += buf[3][i] != 0;
    return len == 64 && nonzero > 32;
}

int main(void)
{
    test_begin("virtio");
    section("probe");
    CHECK_EQ(REG(BLK, MAGIC), 0x74726976);
    CHECK_EQ(REG(BLK, VERSION), 2);
    CHECK_EQ(REG(BLK, DEVICE_ID), 2);
    CHECK_EQ(REG(RNG, DEVICE_ID), 4);

    section("a v2 device refuses a driver without VERSION_1");
    REG(RNG, STATUS) = 0;
    REG(RNG, STATUS) = S_ACK | S_DRIVER;
    REG(RNG, DRV_FEATURES_SEL) = 1;
    REG(RNG, DRV_FEATURES) = 0;
    REG(RNG, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    CHECK(!(REG(RNG, STATUS) & S_FEATURES_OK));

    section("rng works");
    CHECK(start(RNG, &rng_ring));
    CHECK(rng_fill(&rng_ring, 1));

    section("a descriptor loop breaks the rng only");
    rng_ring.desc[0] = (struct desc){ (uint64_t)buf[3], 16, F_WRITE | F_NEXT, 1 };
    rng_ring.desc[1] = (struct desc){ (uint64_t)buf[3] + 16, 16, F_WRITE | F_NEXT, 0 };
    publish(RNG, &rng_ring, 0);
    CHECK(wait_broken(RNG));
    CHECK(REG(RNG, INT_STATUS) & 2);        /* config change interrupt */
    REG(RNG, INT_ACK) = 2;
    CHECK_EQ(rng_ring.used_idx, 1);         /* nothing was used */

    section("blk keeps working: write, read back");
    CHECK(start(BLK, &blk_ring));
    for (int i = 0; i < 512; i++)
        buf[1][i] = (uint8_t)(i * 7 + 3);
    CHECK_EQ(blk_request(&blk_ring, 1, 1, 1), 0);
    memset(buf[1], 0, 512);
    CHECK_EQ(blk_request(&blk_ring, 2, 0, 1), 0);
    int same = 1;
    for (int i = 0; i < 512; i++)
        same &= buf[1][i] == (uint8_t)(i * 7 + 3);
    CHECK(same);

    section("a buffer outside RAM breaks blk; reset brings it back");
    blk_ring.desc[0] = (struct desc){ 0x4000000000ul, 16, F_NEXT, 1 };
    blk_ring.desc[1] = (struct desc){ (uint64_t)buf[2], 1, F_WRITE, 0 };
    publish(BLK, &blk_ring, 0);
    CHECK(wait_broken(BLK));
    CHECK(start(BLK, &blk_ring));
    CHECK_EQ(blk_request(&blk_ring, 1, 0, 1), 0);
    CHECK_EQ(buf[1][10], (uint8_t)(10 * 7 + 3));

    section("a huge length breaks blk");
    blk_ring.desc[0] = (struct desc){ RAM_BASE, 0xffffffffu, F_NEXT, 1 };
    blk_ring.desc[1] = (struct desc){ (uint64_t)buf[2], 1, F_WRITE, 0 };
    publish(BLK, &blk_ring, 0);
    CHECK(wait_broken(BLK));

    section("a bad queue address breaks blk at QUEUE_READY");
    REG(BLK, STATUS) = 0;
    REG(BLK, STATUS) = S_ACK | S_DRIVER;
    REG(BLK, DRV_FEATURES_SEL) = 1;
    REG(BLK, DRV_FEATURES) = 1;
    REG(BLK, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    REG(BLK, QUEUE_SEL) = 0;
    REG(BLK, QUEUE_NUM) = QN;
    REG(BLK, DESC_LO) = 0x1000;              /* not RAM */
    REG(BLK, QUEUE_READY) = 1;
    REG(BLK, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK;
    CHECK(wait_broken(BLK));

    section("rng after reset works again");
    CHECK(start(RNG, &rng_ring));
    CHECK(rng_fill(&rng_ring, 1));
    puts_("== all checks passed\n");
    return 0;
}
