/* fuzz_loader.c — the kernel, firmware and initrd loaders (board/riscv_image.c: RISC-V Image;
 * src/vm/loader.c: ELF, raw blobs) on any file contents. The loaders want a path: the bytes go through a memfd
 * (/proc/self/fd/N), as a real file would. Guest RAM is a heap block of exactly its size, so
 * ASan sees any write outside it.
 *
 * Input: byte 0 picks the loader (0 kernel at RAM + 2 MiB, 1 firmware at RAM, 2 blob below a
 * limit), bytes 1-4 and 5-8 the blob's floor and limit (little endian, offsets from RAM's base);
 * the rest is the file. */
#include "board/riscv_image.h"
#include "vm/loader.h"
#include "fuzz_util.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (8ull << 20)

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    if (!ram && !(ram = malloc(RAM_SIZE)))
        abort();
    if (size < 9)
        return 0;
    struct load_target t = { .host = ram, .base = RAM_BASE, .size = RAM_SIZE };
    char path[64], err[512];
    int fd = fuzz_memfd(data + 9, size - 9, path, sizeof(path));
    struct loaded_image out = { 0 };
    int rc;
    uint64_t floor = RAM_BASE + le32(data + 1), limit = RAM_BASE + le32(data + 5);
    switch (data[0] % 3) {
    case 0:
        rc = riscv_load_kernel(path, &t, RAM_BASE + (2 << 20), &out, err, sizeof(err));
        break;
    case 1:
        rc = load_firmware(path, &riscv_elf, &t, RAM_BASE, &out, err, sizeof(err));
        break;
    default:
        rc = load_blob_below(path, &t, floor, limit, &out, err, sizeof(err));
        if (!rc)
            FUZZ_CHECK(out.start >= floor && out.end <= limit && !(out.start & 0xfff), "blob at 0x%llx-0x%llx",
                       (unsigned long long)out.start, (unsigned long long)out.end);
        break;
    }
    close(fd);
    if (rc) {
        FUZZ_CHECK(memchr(err, 0, sizeof(err)) && err[0], "no message for status %d", rc);
        return 0;
    }
    FUZZ_CHECK(out.start >= RAM_BASE && out.start <= out.end && out.end - RAM_BASE <= RAM_SIZE,
               "loaded at 0x%llx-0x%llx, outside RAM", (unsigned long long)out.start, (unsigned long long)out.end);
    return 0;
}
