/* guest_mem.h — guest RAM as devices see it: bounds-checked translation of guest physical
 * addresses to host pointers, and a hook that tells the CPU backend what a device wrote (the rv64
 * backend drops decoded code there; dirty-page tracking for migration will hook in here too). */
#ifndef KILN_DEV_GUEST_MEM_H
#define KILN_DEV_GUEST_MEM_H
#include <stddef.h>
#include <stdint.h>

struct guest_mem {
    uint8_t *host;    /* host address of guest physical `base` */
    uint64_t base;
    uint64_t size;
    void (*written)(void *opaque, uint64_t gpa, uint64_t len);
    void *written_opaque;
};

/* Host pointer for guest physical [gpa, gpa+len), or NULL when any of it is outside RAM. */
static inline void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    if (gpa < m->base || gpa - m->base > m->size || len > m->size - (gpa - m->base))
        return NULL;
    return m->host + (gpa - m->base);
}

/* Guest physical address of a host pointer inside RAM. */
static inline uint64_t guest_mem_gpa(const struct guest_mem *m, const void *host)
{
    return m->base + (uint64_t)((const uint8_t *)host - m->host);
}

/* Call after a device wrote guest memory (DMA), before the guest can observe it. */
static inline void guest_mem_written(const struct guest_mem *m, const void *host, uint64_t len)
{
    if (m->written && len)
        m->written(m->written_opaque, guest_mem_gpa(m, host), len);
}

#endif
