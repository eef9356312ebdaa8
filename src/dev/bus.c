/* bus.c — MMIO bus lookup. Few regions, so a linear scan beats anything clever. */
#include "dev/bus.h"

int bus_add(struct bus *bus, const struct mmio_region *region)
{
    if (bus->count >= BUS_MAX_REGIONS || region->size == 0)
        return -1;
    for (int i = 0; i < bus->count; i++) {
        const struct mmio_region *r = &bus->regions[i];
        if (region->base < r->base + r->size && r->base < region->base + region->size)
            return -1;
    }
    bus->regions[bus->count++] = *region;
    return 0;
}

const struct mmio_region *bus_find(const struct bus *bus, uint64_t addr, unsigned len)
{
    for (int i = 0; i < bus->count; i++) {
        const struct mmio_region *r = &bus->regions[i];
        if (addr >= r->base && addr - r->base + len <= r->size)
            return r;
    }
    return 0;
}
