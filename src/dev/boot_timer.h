/* boot_timer.h — Firecracker's boot-timer device: when the guest writes the byte 123, kiln
 * prints the time since the VMM process started ("guest boot time: N us"). */
#ifndef KILN_DEV_BOOT_TIMER_H
#define KILN_DEV_BOOT_TIMER_H
#include <stdio.h>
#include "dev/mmio.h"

#define BOOT_TIMER_MAGIC 123
/* kiln's own: the guest is ready to be snapshotted (a --rm sandbox's init waits for its command) */
#define BOOT_TIMER_READY 124

struct boot_timer {
    uint64_t start_ns;
    _Atomic uint64_t last_us;   /* 0 until the guest has signalled */
    FILE *out;
    void (*on_ready)(void *opaque);   /* BOOT_TIMER_READY written; NULL: ignored */
    void *ready_opaque;
};

void boot_timer_init(struct boot_timer *t, uint64_t start_ns, FILE *out);
struct mmio_region boot_timer_region(struct boot_timer *t, uint64_t base);
uint64_t boot_timer_last_us(struct boot_timer *t);

#endif
