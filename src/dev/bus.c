/* bus.c — MMIO bus lookup. Few regions, so a linear scan beats anything clever. */
#include "dev/bus.h"

int bus_add(struct bus *bus, const struct mmio_region *region)
{
    /* inclusive last addresses, so a window may end exactly at 2^64 but not wrap past it */
    if (bus->count >= BUS_MAX_REGIONS || region->size == 0 ||
        region->base + (region->size - 1) < region->base)
        return -1;
    uint64_t last = region->base + (region->size - 1);
    for (int i = 0; i < bus->count; i++) {
        const struct mmio_region *r = &bus->regions[i];
        if (region->base <= r->base + (r->size - 1) && r->base <= last)
            return -1;
    }
    bus->regions[bus->count++] = *region;
    return 0;
}

const struct mmio_region *bus_find(const struct bus *bus, uint64_t addr, unsigned len)
{
    for (int i = 0; i < bus->count; i++) {
        const struct mmio_region *r = &bus->regions[i];
        /* written so that addr + len cannot wrap around 2^64 */
        if (addr >= r->base && addr - r->base < r->size && len <= r->size - (addr - r->base))
            return r;
    }
    return 0;
}
