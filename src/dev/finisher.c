/* finisher.c — register 0: low 16 bits are the command, high 16 bits the failure code. */
#include "dev/finisher.h"

#define CMD_FAIL  0x3333
#define CMD_PASS  0x5555
#define CMD_RESET 0x7777

static uint64_t finisher_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque, (void)offset, (void)size;
    return 0;
}

static void finisher_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct finisher *f = opaque;
    if (offset != 0 || size < 2) /* OpenSBI writes 16 bits (no code), others 32 */
        return;
    unsigned code = (unsigned)(value >> 16) & 0xffff;
    switch (value & 0xffff) {
    case CMD_PASS: f->on_event(f->opaque, FINISHER_POWEROFF, 0); break;
    case CMD_RESET: f->on_event(f->opaque, FINISHER_RESET, 0); break;
    /* The code becomes kiln's exit status, of which a process keeps only the low 8 bits: so
     * 256 would read as success. A failure always exits non-zero, whatever code the guest
     * chose: codes whose low 8 bits are 0 (0, 256, 512, ...) report 1. */
    case CMD_FAIL: f->on_event(f->opaque, FINISHER_FAIL, (code & 0xff) ? (int)(code & 0xff) : 1); break;
    }
}

void finisher_init(struct finisher *f, void (*on_event)(void *opaque, enum finisher_event ev, int code),
                   void *opaque)
{
    f->on_event = on_event;
    f->opaque = opaque;
}

struct mmio_region finisher_region(struct finisher *f, uint64_t base)
{
    return (struct mmio_region){ .name = "sifive-test", .base = base, .size = 0x1000, .opaque = f,
                                 .read = finisher_read, .write = finisher_write };
}
