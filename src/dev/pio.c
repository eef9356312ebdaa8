/* pio.c — port I/O dispatch (see pio.h). */
#include <string.h>
#include "dev/pio.h"

struct mmio_region pio_region(struct mmio_region dev, uint16_t port, uint16_t len)
{
    dev.base = port;
    dev.size = len;
    return dev;
}

bool pio_dispatch(const struct bus *ports, uint16_t port, uint8_t *data, unsigned size,
                  unsigned count, bool is_write)
{
    if (size == 0 || size > sizeof(uint64_t))
        return false;
    const struct mmio_region *r = bus_find(ports, port, size);
    for (unsigned i = 0; i < count; i++, data += size) {
        if (!r) {
            if (!is_write)
                memset(data, 0xff, size);
            continue;
        }
        uint64_t v = 0;
        if (is_write) {
            memcpy(&v, data, size);     /* x86 and the host are both little-endian */
            r->write(r->opaque, port - r->base, v, size);
        } else {
            v = r->read(r->opaque, port - r->base, size);
            memcpy(data, &v, size);
        }
    }
    return r != NULL;
}
