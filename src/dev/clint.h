/* clint.h — SiFive CLINT / RISC-V ACLINT (MSWI + MTIMER) at 0x0200_0000: per-hart software
 * interrupt bits, per-hart timer comparators and the shared mtime counter. */
#ifndef KILN_DEV_CLINT_H
#define KILN_DEV_CLINT_H
#include "cpu/rv64/hart.h"
#include "dev/mmio.h"

#define CLINT_SIZE 0x10000

struct clint {
    struct rv64_machine *m;
};

void clint_init(struct clint *c, struct rv64_machine *m);
struct mmio_region clint_region(struct clint *c, uint64_t base);

#endif
