/* pvh.c — the PVH start info: Linux's 32-bit PVH entry (arch/x86/platform/pvh) reads it from
 * %ebx and builds its boot_params from it, so the same e820 map and command line reach the
 * kernel either way. */
#include <string.h>
#include "arch/x86/boot_info.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

int x86_pvh_write(const struct guest_mem *ram, const struct x86_boot_args *a)
{
    struct boot_e820_entry e820[X86_E820_MAX];
    int n = x86_e820_build(a->ram_size, e820, X86_E820_MAX);
    if (n < 0 || n > X86_PVH_MEMMAP_MAX)
        return -1;
    struct hvm_start_info *si = guest_mem_ptr(ram, X86_PVH_INFO_ADDR, sizeof(*si));
    struct hvm_modlist_entry *mod = guest_mem_ptr(ram, X86_PVH_MODLIST_ADDR, sizeof(*mod));
    struct hvm_memmap_table_entry *map =
        guest_mem_ptr(ram, X86_PVH_MEMMAP_ADDR, (uint64_t)n * sizeof(*map));
    if (!si || !mod || !map)
        return -1;

    memset(si, 0, sizeof(*si));
    si->magic = X86_HVM_START_MAGIC;
    si->version = 1;
    si->cmdline_paddr = a->cmdline_addr;
    si->memmap_paddr = X86_PVH_MEMMAP_ADDR;
    si->memmap_entries = (uint32_t)n;
    memset(mod, 0, sizeof(*mod));
    if (a->initrd_size) {
        mod->paddr = a->initrd_addr;
        mod->size = a->initrd_size;
        si->nr_modules = 1;
        si->modlist_paddr = X86_PVH_MODLIST_ADDR;
    }
    for (int i = 0; i < n; i++)
        map[i] = (struct hvm_memmap_table_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };
    guest_mem_written(ram, si, sizeof(*si));
    guest_mem_written(ram, mod, sizeof(*mod));
    guest_mem_written(ram, map, (uint64_t)n * sizeof(*map));
    return 0;
}
