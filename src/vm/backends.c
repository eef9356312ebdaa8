/* backends.c — the one table of machines kiln is built with: rv64 runs RISC-V guests on the
 * `virt` board, kvm x86-64 guests on the microvm board. A new backend is one row here plus its
 * cpu/ and board/ files. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "board/microvm.h"
#include "board/virt.h"
#include "common/fd_io.h"
#include "cpu/kvm/kvm_backend.h"
#include "cpu/rv64/backend.h"
#include "vm/backends.h"

static const struct vm_machine machines[] = {
    { &rv64_backend, &virt_board_type },
    { &kvm_backend, &microvm_board_type },
};
#define NMACHINES (sizeof(machines) / sizeof(machines[0]))

static const struct vm_machine *by_name(const char *name)
{
    for (size_t i = 0; i < NMACHINES; i++)
        if (!strcmp(machines[i].backend->name, name))
            return &machines[i];
    return NULL;
}

bool vm_accel_known(const char *name, char *err, size_t errlen)
{
    if (!strcmp(name, VM_ACCEL_AUTO) || by_name(name))
        return true;
    char list[128];
    vm_accel_list(list, sizeof(list));
    snprintf(err, errlen, "unknown accelerator '%s' (--accel %s)", name, list);
    return false;
}

/* The first bytes of path, for the boards' probes; 0 when it cannot be read (the loader will
 * say why). Opened as the loader does: a FIFO named as a kernel must not hang kiln here. */
static size_t read_head(const char *path, uint8_t *buf, size_t size)
{
    char why[128];
    int fd = fd_open_user(path, O_RDONLY, 0, FD_REGULAR, why, sizeof(why));
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size);
    close(fd);
    return n > 0 ? (size_t)n : 0;
}

const struct vm_machine *vm_machine_for_boot(const char *accel, const char *kernel, const char *firmware,
                                             char *err, size_t errlen)
{
    if (accel && strcmp(accel, VM_ACCEL_AUTO)) {
        if (!vm_accel_known(accel, err, errlen))
            return NULL;
        return by_name(accel);
    }
    const char *path = kernel ? kernel : firmware;
    uint8_t head[4096];
    size_t n = path ? read_head(path, head, sizeof(head)) : 0;
    for (size_t i = 0; n && i < NMACHINES; i++)
        if (machines[i].board->probe(head, n))
            return &machines[i];
    return &machines[0];
}

const struct vm_machine *vm_machine_for_arch(const char *arch)
{
    for (size_t i = 0; i < NMACHINES; i++)
        if (!strcmp(machines[i].backend->arch, arch))
            return &machines[i];
    return NULL;
}

void vm_accel_list(char *buf, size_t len)
{
    snprintf(buf, len, "%s", VM_ACCEL_AUTO);
    for (size_t i = 0; i < NMACHINES; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), ", %s", machines[i].backend->name);
}
