/* virtq_chain_check.h — what every chain the split virtqueue hands a device must satisfy, shared
 * by the libFuzzer harness (fuzz/fuzz_virtqueue.c) and the deterministic unit fuzzer
 * (tests/unit/test_virtqueue_fuzz.c): every buffer lies inside guest RAM, the chain respects the
 * size limit, the head is a ring slot, and the lengths add up. Then the chain's edges are read
 * and written, so AddressSanitizer sees any buffer that reaches past RAM. */
#ifndef KILN_FUZZ_VIRTQ_CHAIN_CHECK_H
#define KILN_FUZZ_VIRTQ_CHAIN_CHECK_H
#include <stdio.h>
#include <string.h>
#include "dev/guest_mem.h"
#include "dev/virtio/queue.h"

/* NULL when the chain is sound, else what is wrong with it (in buf). */
static inline const char *virtq_chain_problem(const struct guest_mem *mem, const struct virtq *q,
                                              const struct virtq_req *r, char *buf, size_t len)
{
    const uint8_t *lo = mem->host, *hi = mem->host + mem->size;
    if (r->nout + r->nin > VIRTQ_MAX_SIZE)
        return snprintf(buf, len, "a chain of %u buffers", r->nout + r->nin), buf;
    if (r->head >= q->num)
        return snprintf(buf, len, "head %u of a ring of %u", r->head, q->num), buf;
    uint64_t out = 0, in = 0;
    for (unsigned k = 0; k < r->nout + r->nin; k++) {
        const uint8_t *p = r->iov[k].iov_base;
        size_t n = r->iov[k].iov_len;
        if (!(n > 0 && p >= lo && p < hi && n <= (size_t)(hi - p)))
            return snprintf(buf, len, "buffer %u (%p, %zu) outside RAM", k, (const void *)p, n), buf;
        if (k < r->nout)
            out += n;
        else
            in += n;
    }
    if (out != r->out_len || in != r->in_len)
        return snprintf(buf, len, "lengths %llu/%llu, the request says %llu/%llu", (unsigned long long)out,
                        (unsigned long long)in, (unsigned long long)r->out_len, (unsigned long long)r->in_len), buf;
    uint8_t data[64];
    virtq_req_read(r, 0, data, sizeof(data));
    if (r->out_len > sizeof(data))
        virtq_req_read(r, r->out_len - sizeof(data), data, sizeof(data));
    memset(data, 0xa5, sizeof(data));
    virtq_req_write(r, 0, data, sizeof(data));
    if (r->in_len > sizeof(data))
        virtq_req_write(r, r->in_len - sizeof(data), data, sizeof(data));
    return NULL;
}

#endif
