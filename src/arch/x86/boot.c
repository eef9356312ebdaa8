/* boot.c — the order the boot pieces go into guest memory (see boot.h). */
#include <string.h>
#include "arch/x86/boot.h"
#include "arch/x86/boot_info.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "common/errmsg.h"

int x86_boot_prepare(const struct guest_mem *ram, const struct x86_boot_request *rq,
                     struct x86_boot_plan *plan, char *err, size_t errlen)
{
    memset(plan, 0, sizeof(*plan));
    if (rq->ram_size < X86_RAM_MIN || ram->base != 0 ||
        ram->size < x86_ram_layout(rq->ram_size).low)
        return errmsg(err, errlen, "guest RAM of %llu bytes is too small for an x86 guest",
                      (unsigned long long)rq->ram_size);
    if (rq->cpus == 0 || rq->cpus > x86_mptable_max_cpus())
        return errmsg(err, errlen, "%u vCPUs: the MP table holds 1 to %u", rq->cpus,
                      x86_mptable_max_cpus());
    struct x86_kernel *k = &plan->kernel;
    if (x86_load_kernel(rq->kernel, rq->kernel_len, ram, k, err, errlen))
        return -1;
    const char *cmdline = rq->cmdline ? rq->cmdline : "";
    if (x86_load_cmdline(cmdline, ram, k, err, errlen))
        return -1;
    if (rq->initrd) {
        if (x86_load_initrd(rq->initrd, rq->initrd_len, ram, k, &plan->initrd_addr, err, errlen))
            return -1;
        plan->initrd_size = rq->initrd_len;
    }
    struct x86_boot_args args = {
        .kernel = k, .ram_size = rq->ram_size,
        .cmdline_addr = X86_CMDLINE_ADDR, .cmdline_len = (uint32_t)strlen(cmdline),
        .initrd_addr = plan->initrd_addr, .initrd_size = plan->initrd_size,
    };
    plan->mode = k->pvh_entry && !rq->no_pvh ? X86_BOOT_MODE_PVH32 : X86_BOOT_MODE_LONG64;
    plan->entry = plan->mode == X86_BOOT_MODE_PVH32 ? k->pvh_entry : k->entry64;
    int r = plan->mode == X86_BOOT_MODE_PVH32 ? x86_pvh_write(ram, &args)
                                              : x86_zero_page_write(ram, &args);
    if (r || x86_mptable_write(ram, rq->cpus) || x86_boot_tables_write(ram, plan->mode))
        return errmsg(err, errlen, "guest RAM does not hold the boot structures below 1 MiB");
    return 0;
}
