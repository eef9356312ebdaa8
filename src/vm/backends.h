/* backends.h — the machines this kiln can run: a vCPU backend (cpu/backend.h) with the board
 * for its architecture (board/board.h), picked by name (--accel) or by the kernel's
 * architecture, or by the architecture a snapshot records. */
#ifndef KILN_VM_BACKENDS_H
#define KILN_VM_BACKENDS_H
#include <stdbool.h>
#include <stddef.h>
#include "board/board.h"
#include "cpu/backend.h"

struct vm_machine {
    const struct vcpu_backend *backend;
    const struct board_type *board;
};

#define VM_ACCEL_AUTO "auto"

/* Is name an accelerator this kiln was built with (or "auto")? If not, err says why (unknown,
 * or known but not built) and the result is false. */
bool vm_accel_known(const char *name, char *err, size_t errlen);
/* The machine for a boot: the --accel one (NULL or "auto": the one whose board recognizes the
 * kernel, or the firmware when there is no kernel; the first one when none does, so that its
 * loader says what is wrong with the file). NULL with err when accel is not built. */
const struct vm_machine *vm_machine_for_boot(const char *accel, const char *kernel, const char *firmware,
                                             char *err, size_t errlen);
/* The machine that runs guests of arch (a snapshot's), or NULL. */
const struct vm_machine *vm_machine_for_arch(const char *arch);
/* "auto" and the accelerators built in, comma-separated, for messages. */
void vm_accel_list(char *buf, size_t len);

#endif
