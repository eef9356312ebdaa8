/* mmio.h — the interface every memory-mapped device model implements. */
#ifndef KILN_DEV_MMIO_H
#define KILN_DEV_MMIO_H
#include <stdint.h>

/* A device's register window on the MMIO bus. Offsets are relative to base; size is the access
 * width in bytes (1, 2, 4 or 8). Devices are called from any vCPU thread, so each device model
 * protects its own state (a mutex in the device struct). */
struct mmio_region {
    const char *name;
    uint64_t base;
    uint64_t size;
    void *opaque;
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

#endif
