/* boot_timer.c — start_ns and now are CLOCK_MONOTONIC nanoseconds. */
#include <time.h>
#include "dev/boot_timer.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t boot_timer_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque, (void)offset, (void)size;
    return 0;
}

static void boot_timer_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct boot_timer *t = opaque;
    /* as Firecracker's: only a one-byte write of the magic value at offset 0 counts (a wider
     * write whose low byte happens to be 123 is some other value) */
    if (offset != 0 || size != 1)
        return;
    if ((value & 0xff) == BOOT_TIMER_READY && t->on_ready) {
        t->on_ready(t->ready_opaque);
        return;
    }
    if ((value & 0xff) != BOOT_TIMER_MAGIC)
        return;
    uint64_t now = now_ns();
    uint64_t us = now > t->start_ns ? (now - t->start_ns) / 1000 : 0;
    if (us == 0)
        us = 1; /* 0 means "not signalled yet": report and print the same value */
    t->last_us = us;
    if (t->out) {
        fprintf(t->out, "guest boot time: %llu us\n", (unsigned long long)us);
        fflush(t->out);
    }
}

void boot_timer_init(struct boot_timer *t, uint64_t start_ns, FILE *out)
{
    t->start_ns = start_ns;
    t->last_us = 0;
    t->out = out;
    t->on_ready = NULL;
    t->ready_opaque = NULL;
}

struct mmio_region boot_timer_region(struct boot_timer *t, uint64_t base)
{
    return (struct mmio_region){ .name = "boot-timer", .base = base, .size = 0x1000, .opaque = t,
                                 .read = boot_timer_read, .write = boot_timer_write };
}

uint64_t boot_timer_last_us(struct boot_timer *t)
{
    return t->last_us;
}
