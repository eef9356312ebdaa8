/* fuzz_snapshot_file.c — the snapshot state file reader (src/vm/snapshot_file.c and
 * snapshot_image_open: header, length, CRC-32, the info and configuration sections) on any file,
 * read through a memfd as kiln reads the real one.
 *
 * Input: byte 0 bit 0 set = "fix the checksum": the harness rewrites the last 4 bytes as the
 * CRC-32 of the rest, so the fuzzer gets past the checksum into the sections (a file with a
 * wrong checksum is refused before anything in it is read); the rest is the file. */
#include <jansson.h>
#include <zlib.h>
#include "vm/snapshot.h"
#include "vm/snapshot_file.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *file = fuzz_dup(data + 1, size - 1);
    size_t len = size - 1;
    if ((data[0] & 1) && len >= 4) {
        uint32_t crc = (uint32_t)crc32(0L, file, (uInt)(len - 4));
        for (int i = 0; i < 4; i++)
            file[len - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    char path[64], err[512];
    int fd = fuzz_memfd(file, len, path, sizeof(path));
    struct snapshot_image img;
    if (snapshot_image_open(path, &img, err, sizeof(err)) == 0) {
        FUZZ_CHECK(img.config_json && img.info.vcpus && img.info.mem_size, "accepted an invalid image");
        json_error_t e;
        json_decref(json_loads(img.config_json, JSON_REJECT_DUPLICATES, &e));
        snapshot_image_close(&img);
    } else {
        FUZZ_CHECK(memchr(err, 0, sizeof(err)) && err[0], "refused without a reason");
    }
    close(fd);
    free(file);
    return 0;
}
