/* clint.h — SiFive CLINT / RISC-V ACLINT (MSWI + MTIMER): per-hart software interrupt bits,
 * per-hart timer comparators and the shared mtime counter. Part of the rv64 backend, not a board
 * device: its registers are the harts' own state (a hart checks its timer without a device
 * call), so the board gets it through the backend's local_region and only places it. */
#ifndef KILN_CPU_RV64_CLINT_H
#define KILN_CPU_RV64_CLINT_H
#include "cpu/rv64/hart.h"
#include "dev/mmio.h"

#define CLINT_SIZE 0x10000

struct clint {
    struct rv64_machine *m;
};

void clint_init(struct clint *c, struct rv64_machine *m);
struct mmio_region clint_region(struct clint *c, uint64_t base);

#endif
