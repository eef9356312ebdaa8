/* finisher.h — SiFive's test device (`sifive,test1`): the guest writes here to power off, reset,
 * or stop with a failure code (bare-metal test programs and Linux's syscon-poweroff use it). */
#ifndef KILN_DEV_FINISHER_H
#define KILN_DEV_FINISHER_H
#include "dev/mmio.h"

enum finisher_event { FINISHER_POWEROFF, FINISHER_RESET, FINISHER_FAIL };

struct finisher {
    void (*on_event)(void *opaque, enum finisher_event ev, int code);
    void *opaque;
};

void finisher_init(struct finisher *f, void (*on_event)(void *opaque, enum finisher_event ev, int code),
                   void *opaque);
struct mmio_region finisher_region(struct finisher *f, uint64_t base);

#endif
