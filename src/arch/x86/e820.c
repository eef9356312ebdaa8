/* e820.c — the guest memory map (see e820.h for the picture). */
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

static void put(struct boot_e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
    e->addr = addr;
    e->size = size;
    e->type = type;
}

int x86_e820_build(uint64_t ram_size, struct boot_e820_entry *out, size_t cap)
{
    if (ram_size < X86_RAM_MIN)
        return -1;
    struct x86_ram_layout l = x86_ram_layout(ram_size);
    if (cap < (l.high ? 4u : 3u))
        return -1;
    int n = 0;
    put(&out[n++], 0, X86_EBDA_START, E820_RAM);
    put(&out[n++], X86_EBDA_START, X86_LOWMEM_END - X86_EBDA_START, E820_RESERVED);
    put(&out[n++], X86_HIMEM_START, l.low - X86_HIMEM_START, E820_RAM);
    if (l.high)
        put(&out[n++], X86_MMIO_HOLE_END, l.high, E820_RAM);
    return n;
}
