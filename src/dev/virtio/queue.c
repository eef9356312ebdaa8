/* queue.c — split virtqueue device side. The driver is another thread (a vCPU) writing the same
 * memory, so ring indices are read with acquire and published with release ordering, exactly
 * as the virtio memory model asks (§2.7.7, §2.7.13). Every guest-supplied index and address is
 * checked before use: a guest must not be able to make kiln read or write outside its RAM. */
#include <linux/virtio_ring.h>
#include <string.h>
#include "dev/virtio/queue.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio 1.x rings are little-endian");

static inline uint16_t load16(const uint16_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store16(uint16_t *p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

int virtq_enable(struct virtq *q)
{
    uint64_t n = q->num;
    if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
        return -1;
    if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
        return -1;
    q->desc = guest_mem_ptr(q->mem, q->desc_gpa, 16 * n);
    q->avail = guest_mem_ptr(q->mem, q->avail_gpa, 6 + 2 * n);
    q->used = guest_mem_ptr(q->mem, q->used_gpa, 6 + 8 * n);
    if (!q->desc || !q->avail || !q->used)
        return -1;
    /* the host addresses too: guest memory that is not itself aligned (a region at an odd host
     * address) must not make the rings' fields misaligned for the host */
    if (((uintptr_t)q->desc & 15) || ((uintptr_t)q->avail & 1) || ((uintptr_t)q->used & 3))
        return -1;
    q->last_avail = 0;
    q->used_idx = 0;
    q->signalled_valid = false;
    q->ready = true;
    return 0;
}

void virtq_reset(struct virtq *q)
{
    const struct guest_mem *mem = q->mem;
    memset(q, 0, sizeof(*q));
    q->mem = mem;
}

bool virtq_has_avail(struct virtq *q)
{
    return q->ready && load16(&q->avail->idx) != q->last_avail;
}

/* Adds one descriptor's buffer to req after checking it. */
static const char *add_buffer(struct virtq *q, struct virtq_req *req, const struct vring_desc *d)
{
    uint64_t addr = d->addr;
    uint32_t len = d->len;
    bool writable = d->flags & VRING_DESC_F_WRITE;
    if (!writable && req->nin)
        return "a device-readable buffer follows a device-writable one";
    if (len == 0)
        return NULL;
    void *host = guest_mem_ptr(q->mem, addr, len);
    if (!host)
        return "a buffer lies outside guest RAM";
    if (req->nout + req->nin >= VIRTQ_MAX_SIZE)
        return "a descriptor chain is longer than the queue";
    req->iov[req->nout + req->nin] = (struct iovec){ host, len };
    if (writable) {
        req->nin++;
        req->in_len += len;
    } else {
        req->nout++;
        req->out_len += len;
    }
    return NULL;
}

/* Walks an indirect descriptor table. */
static const char *walk_indirect(struct virtq *q, struct virtq_req *req, const struct vring_desc *d)
{
    if (!q->indirect)
        return "an indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
    if (d->flags & VRING_DESC_F_NEXT)
        return "an indirect descriptor with NEXT set";
    if (d->len == 0 || d->len % sizeof(struct vring_desc) || d->len / sizeof(struct vring_desc) > VIRTQ_MAX_SIZE)
        return "an indirect table of bad length";
    /* no alignment is required of an indirect table (Linux kmallocs it): copy entries out */
    const uint8_t *table = guest_mem_ptr(q->mem, d->addr, d->len);
    if (!table)
        return "an indirect table outside guest RAM";
    unsigned n = d->len / sizeof(struct vring_desc), i = 0, steps = 0;
    for (;;) {
        struct vring_desc e;
        memcpy(&e, table + i * sizeof(e), sizeof(e));   /* one snapshot: the guest may change it under us */
        if (e.flags & VRING_DESC_F_INDIRECT)
            return "an indirect descriptor inside an indirect table";
        const char *why = add_buffer(q, req, &e);
        if (why)
            return why;
        if (!(e.flags & VRING_DESC_F_NEXT))
            return NULL;
        if (e.next >= n)
            return "an indirect chain points past its table";
        if (++steps >= n)
            return "an indirect chain loops";
        i = e.next;
    }
}

enum virtq_pop_result virtq_pop(struct virtq *q, struct virtq_req *req, const char **why)
{
    *why = NULL;
    if (!q->ready)
        return VIRTQ_EMPTY;
    uint16_t avail_idx = load16(&q->avail->idx);
    if (avail_idx == q->last_avail)
        return VIRTQ_EMPTY;
    if ((uint16_t)(avail_idx - q->last_avail) > q->num) {
        *why = "the available index moved by more than the ring size";
        return VIRTQ_MALFORMED;
    }
    uint16_t head = __atomic_load_n(&q->avail->ring[q->last_avail & (q->num - 1)], __ATOMIC_RELAXED);
    if (head >= q->num) {
        *why = "an available entry names a descriptor past the ring";
        return VIRTQ_MALFORMED;
    }
    req->head = head;
    req->nout = req->nin = 0;
    req->out_len = req->in_len = 0;
    unsigned i = head, steps = 0;
    for (;;) {
        struct vring_desc d;
        memcpy(&d, &q->desc[i], sizeof(d));
        const char *err = (d.flags & VRING_DESC_F_INDIRECT) ? walk_indirect(q, req, &d) : add_buffer(q, req, &d);
        if (err) {
            *why = err;
            return VIRTQ_MALFORMED;
        }
        if (!(d.flags & VRING_DESC_F_NEXT) || (d.flags & VRING_DESC_F_INDIRECT))
            break;
        if (d.next >= q->num) {
            *why = "a chain points past the descriptor table";
            return VIRTQ_MALFORMED;
        }
        if (++steps >= q->num) {
            *why = "a descriptor chain loops";
            return VIRTQ_MALFORMED;
        }
        i = d.next;
    }
    q->last_avail++;
    return VIRTQ_GOT;
}

void virtq_fill(struct virtq *q, const struct virtq_req *req, uint32_t written, unsigned offset)
{
    if (!q->ready)
        return;
    /* tell the CPU backend about the DMA before the driver can see the buffer as used */
    uint64_t left = written;
    for (unsigned k = req->nout; k < req->nout + req->nin && left; k++) {
        uint64_t n = req->iov[k].iov_len < left ? req->iov[k].iov_len : left;
        guest_mem_written(q->mem, req->iov[k].iov_base, n);
        left -= n;
    }
    struct vring_used_elem *e = &q->used->ring[(uint16_t)(q->used_idx + offset) & (q->num - 1)];
    __atomic_store_n(&e->id, req->head, __ATOMIC_RELAXED);
    __atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
    /* the ring is guest RAM too: marked after the write, so a migration that harvests the dirty
     * log in between sends the page again */
    guest_mem_written(q->mem, e, sizeof(*e));
}

void virtq_flush(struct virtq *q, unsigned count)
{
    if (!q->ready)
        return;
    q->used_idx = (uint16_t)(q->used_idx + count);
    store16(&q->used->idx, q->used_idx);
    guest_mem_written(q->mem, &q->used->idx, sizeof(q->used->idx));
}

void virtq_push(struct virtq *q, const struct virtq_req *req, uint32_t written)
{
    virtq_fill(q, req, written, 0);
    virtq_flush(q, 1);
}

bool virtq_should_notify(struct virtq *q)
{
    if (!q->ready)
        return false;
    /* the used index must be visible before we read the driver's wishes (§2.7.10) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->event_idx)
        return !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
    uint16_t used_event = load16(&q->avail->ring[q->num]);
    uint16_t old = q->signalled_used;
    bool valid = q->signalled_valid;
    q->signalled_used = q->used_idx;
    q->signalled_valid = true;
    return !valid || vring_need_event(used_event, q->used_idx, old);
}

bool virtq_set_notification(struct virtq *q, bool enable)
{
    if (!q->ready)
        return false;
    if (q->event_idx) {
        if (enable) {
            store16((uint16_t *)&q->used->ring[q->num], q->last_avail);
            guest_mem_written(q->mem, &q->used->ring[q->num], sizeof(uint16_t));
        }
    } else {
        uint16_t flags = load16(&q->used->flags);
        store16(&q->used->flags, enable ? flags & ~VRING_USED_F_NO_NOTIFY : flags | VRING_USED_F_NO_NOTIFY);
        guest_mem_written(q->mem, &q->used->flags, sizeof(q->used->flags));
    }
    if (!enable)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load16(&q->avail->idx) != q->last_avail;
}

static size_t copy_iov(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len, bool to_iov)
{
    size_t done = 0;
    for (unsigned k = 0; k < n && done < len; k++) {
        if (offset >= iov[k].iov_len) {
            offset -= iov[k].iov_len;
            continue;
        }
        size_t chunk = iov[k].iov_len - offset;
        if (chunk > len - done)
            chunk = len - done;
        if (to_iov)
            memcpy((uint8_t *)iov[k].iov_base + offset, (const uint8_t *)buf + done, chunk);
        else
            memcpy((uint8_t *)buf + done, (const uint8_t *)iov[k].iov_base + offset, chunk);
        done += chunk;
        offset = 0;
    }
    return done;
}

size_t virtq_req_read(const struct virtq_req *req, size_t offset, void *dst, size_t len)
{
    return copy_iov(req->iov, req->nout, offset, dst, len, false);
}

size_t virtq_req_write(const struct virtq_req *req, size_t offset, const void *src, size_t len)
{
    return copy_iov(req->iov + req->nout, req->nin, offset, (void *)src, len, true);
}
