/* bus.h — the MMIO bus: maps guest physical addresses to device register windows. */
#ifndef KILN_DEV_BUS_H
#define KILN_DEV_BUS_H
#include <stdint.h>
#include "dev/mmio.h"

#define BUS_MAX_REGIONS 32

struct bus {
    struct mmio_region regions[BUS_MAX_REGIONS];
    int count;
};

/* Returns 0, or -1 when the bus is full or the window overlaps an existing one. */
int bus_add(struct bus *bus, const struct mmio_region *region);
/* The region containing [addr, addr+len), or NULL. */
const struct mmio_region *bus_find(const struct bus *bus, uint64_t addr, unsigned len);

#endif
