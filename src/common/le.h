/* le.h — little-endian fields in byte buffers (state files, the migration stream), written and
 * read the same way everywhere whatever the host's byte order. */
#ifndef KILN_COMMON_LE_H
#define KILN_COMMON_LE_H
#include <stdint.h>

/* The low n bytes of v at p, least significant first. */
static inline void le_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
