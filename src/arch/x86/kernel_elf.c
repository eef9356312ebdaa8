/* kernel_elf.c — an x86-64 ELF vmlinux: PT_LOAD segments at their physical addresses, the entry
 * from e_entry (physical in vmlinux: the linker script's ENTRY is phys_startup_64) and the PVH
 * entry from the "Xen" note XEN_ELFNOTE_PHYS32_ENTRY. */
#include <elf.h>
#include <string.h>
#include "arch/x86/kernel.h"
#include "arch/x86/layout.h"
#include "common/errmsg.h"

/* [off, off+size) inside a len-byte image, without overflowing */
static bool in_image(uint64_t off, uint64_t size, size_t len)
{
    return off <= len && size <= len - off;
}

static uint64_t align4(uint64_t n)
{
    return (n + 3) & ~3ULL;
}

/* Looks through one PT_NOTE segment for the PVH entry. Returns 0 (*entry set or left alone) or
 * -1 for a malformed note. */
static int find_pvh_note(const uint8_t *img, uint64_t off, uint64_t size, uint64_t *entry,
                         char *err, size_t errlen)
{
    uint64_t pos = 0;
    while (size - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, img + off + pos, sizeof(nh));
        uint64_t name_off = pos + sizeof(nh);
        uint64_t desc_off = name_off + align4(nh.n_namesz);
        uint64_t next = desc_off + align4(nh.n_descsz);
        if (desc_off > size || next > size)
            return errmsg(err, errlen, "ELF note runs past its segment");
        if (nh.n_type == X86_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
            memcmp(img + off + name_off, "Xen", 4) == 0) {
            /* Linux emits it as a pointer-sized value: 8 bytes on x86-64, 4 elsewhere */
            uint64_t v = 0;
            if (nh.n_descsz == 4) {
                uint32_t v32;
                memcpy(&v32, img + off + desc_off, 4);
                v = v32;
            } else if (nh.n_descsz == 8) {
                memcpy(&v, img + off + desc_off, 8);
            } else {
                return errmsg(err, errlen, "PVH entry note has a %u-byte value", nh.n_descsz);
            }
            if (v == 0 || v >= X86_MMIO_HOLE_START)
                return errmsg(err, errlen, "PVH entry point 0x%llx is not in low RAM",
                              (unsigned long long)v);
            *entry = v;
        }
        pos = next;
    }
    return 0;
}

/* whether addr is inside a PT_LOAD segment (the program headers are already checked) */
static bool in_segments(const uint8_t *img, const Elf64_Ehdr *eh, uint64_t addr)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD && addr >= ph.p_paddr && addr - ph.p_paddr < ph.p_memsz)
            return true;
    }
    return false;
}

int x86_load_elf(const uint8_t *img, size_t len, const struct guest_mem *ram,
                 struct x86_kernel *out, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh))
        return errmsg(err, errlen, "kernel is truncated: %zu bytes, not even an ELF header", len);
    memcpy(&eh, img, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        return errmsg(err, errlen, "kernel is not an ELF file");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_X86_64)
        return errmsg(err, errlen, "kernel is not a 64-bit little-endian x86-64 ELF");
    if (eh.e_type != ET_EXEC)
        return errmsg(err, errlen, "kernel ELF is not an executable (e_type %u)", eh.e_type);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        !in_image(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
        return errmsg(err, errlen, "kernel ELF program headers are missing or truncated");

    /* First pass: check everything, so a bad image leaves RAM untouched. */
    uint64_t lo = UINT64_MAX, hi = 0, pvh = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_NOTE) {
            if (!in_image(ph.p_offset, ph.p_filesz, len))
                return errmsg(err, errlen, "kernel ELF is truncated (note segment %u)", i);
            if (find_pvh_note(img, ph.p_offset, ph.p_filesz, &pvh, err, errlen))
                return -1;
        }
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (!in_image(ph.p_offset, ph.p_filesz, len))
            return errmsg(err, errlen, "kernel ELF is truncated (segment %u)", i);
        if (ph.p_filesz > ph.p_memsz)
            return errmsg(err, errlen, "kernel ELF segment %u is larger in the file than in "
                          "memory", i);
        /* below 1 MiB are kiln's boot structures (GDT, zero page, page tables, MP table) */
        if (ph.p_paddr < X86_HIMEM_START || !guest_mem_ptr(ram, ph.p_paddr, ph.p_memsz))
            return errmsg(err, errlen, "kernel ELF segment %u [0x%llx, +0x%llx) is outside guest "
                          "RAM [1 MiB, 0x%llx)", i, (unsigned long long)ph.p_paddr,
                          (unsigned long long)ph.p_memsz,
                          (unsigned long long)(ram->base + ram->size));
        if (ph.p_paddr < lo)
            lo = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > hi)
            hi = ph.p_paddr + ph.p_memsz;
    }
    if (hi == 0)
        return errmsg(err, errlen, "kernel ELF has nothing to load");
    if (!in_segments(img, &eh, eh.e_entry))
        return errmsg(err, errlen, "kernel ELF entry point 0x%llx is outside its segments",
                      (unsigned long long)eh.e_entry);
    if (pvh && !in_segments(img, &eh, pvh))
        return errmsg(err, errlen, "kernel ELF PVH entry point 0x%llx is outside its segments",
                      (unsigned long long)pvh);

    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        uint8_t *dst = guest_mem_ptr(ram, ph.p_paddr, ph.p_memsz);
        memcpy(dst, img + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        guest_mem_written(ram, dst, ph.p_memsz);
    }
    memset(out, 0, sizeof(*out));
    out->format = X86_KERNEL_ELF;
    out->entry64 = eh.e_entry;
    out->pvh_entry = pvh;
    out->start = lo;
    out->end = hi;
    out->initrd_addr_max = X86_INITRD_ADDR_MAX_DEFAULT;
    out->cmdline_max = X86_CMDLINE_MAX - 1;
    return 0;
}
