/* fuzz_virtqueue.c — the split virtqueue (src/dev/virtio/queue.c) against guest RAM the input
 * writes: the descriptor table, the avail ring (indices, heads, used_event) and every indirect
 * table are the input's bytes. tests/unit/test_virtqueue_fuzz.c throws random rings at the
 * queue with hand-made biases; this one lets coverage feedback find the chains. The checks are
 * the same (virtq_chain_check.h): every chain taken lies inside RAM and respects the size
 * limit, and every call returns.
 *
 * Input: a 16-byte header, then RAM's contents (the rest of RAM is zero).
 *   0-1  ring size (any value: virtq_enable must refuse the bad ones)
 *   2    bit 0 indirect descriptors, bit 1 event index, bits 2-3 RAM base (2 GiB, 0, top of the
 *        address space, 2 GiB - 1: an unaligned RAM), bits 4-7 chains to pop (+1)
 *   3    what the guest does between pops: bit n set = rewrite descriptor byte n of the next
 *        chain's head (a driver changing memory under the device)
 *   4-5, 6-7, 8-9  desc, avail, used ring offsets in RAM (any: misaligned and out of range too)
 *   10-11 bytes the device says it wrote (modulo what the chain can hold)
 *   12-15 reserved */
#include <linux/virtio_ring.h>
#include "dev/guest_mem.h"
#include "dev/virtio/queue.h"
#include "fuzz_util.h"
#include "virtq_chain_check.h"

#define RAM_SIZE 0x4000u

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t bases[4] = { 0x80000000ull, 0, 0ull - RAM_SIZE, 0x7fffffffull };
    static struct virtq_req req;
    if (size < 16)
        return 0;
    struct guest_mem mem = { .host = calloc(1, RAM_SIZE), .base = bases[(data[2] >> 2) & 3], .size = RAM_SIZE };
    if (!mem.host)
        abort();
    memcpy(mem.host, data + 16, size - 16 < RAM_SIZE ? size - 16 : RAM_SIZE);
    struct virtq q;
    memset(&q, 0, sizeof(q));
    q.mem = &mem;
    virtq_reset(&q);
    q.num = le16(data);
    q.indirect = data[2] & 1;
    q.event_idx = data[2] & 2;
    q.desc_gpa = mem.base + le16(data + 4);
    q.avail_gpa = mem.base + le16(data + 6);
    q.used_gpa = mem.base + le16(data + 8);
    uint16_t extra = le16(data + 10);
    if (virtq_enable(&q) == 0) {
        uint64_t n = q.num;
        FUZZ_CHECK(n && n <= VIRTQ_MAX_SIZE && !(n & (n - 1)) && !(q.desc_gpa & 15) && !(q.avail_gpa & 1) &&
                   !(q.used_gpa & 3), "virtq_enable accepted a bad ring");
        unsigned pops = 1 + (data[2] >> 4);
        for (unsigned i = 0; i < pops; i++) {
            const char *why = NULL;
            enum virtq_pop_result r = virtq_pop(&q, &req, &why);
            if (r == VIRTQ_EMPTY)
                break;
            if (r == VIRTQ_MALFORMED) {
                FUZZ_CHECK(why && *why, "malformed without a reason");
                break;
            }
            char bad[160];
            const char *problem = virtq_chain_problem(&mem, &q, &req, bad, sizeof(bad));
            FUZZ_CHECK(!problem, "%s", problem);
            uint64_t written = extra % (req.in_len + 1);
            virtq_push(&q, &req, (uint32_t)written);
            virtq_should_notify(&q);
            virtq_set_notification(&q, i & 1);
            virtq_has_avail(&q);
            /* the guest rewrites a descriptor it already handed over */
            uint8_t *d = mem.host + (q.desc_gpa - mem.base) + 16 * ((req.head + 1) % q.num);
            for (int b = 0; b < 8; b++)
                if (data[3] & (1 << b))
                    d[b] ^= 0xff;
        }
    }
    free(mem.host);
    return 0;
}
