/* snapshot_file.h — the files a snapshot is made of.
 *
 * The state file ("snapshot_path") is small: a fixed header (magic "KILNSNAP", format version,
 * body length), a body of persist sections (snapshot info, the VM's configuration as the JSON
 * of GET /vm/config, then every component's state), and a CRC-32 over all of it, so a
 * truncated or bit-flipped file is refused before anything in it is believed.
 *
 * The memory file ("mem_file_path") is guest RAM, byte for byte: page n of guest RAM is at
 * offset n * 4096, so a restore maps it MAP_PRIVATE instead of reading it. A Full snapshot
 * writes every page that is not all zero (zero pages are holes: the file is sparse). A Diff
 * snapshot has the same size and layout but holds only the pages written since the previous
 * snapshot; the others are holes, so applying it over its base is a copy of its data extents
 * (`kiln snapshot merge`, Firecracker's rebase-snap). */
#ifndef KILN_VM_SNAPSHOT_FILE_H
#define KILN_VM_SNAPSHOT_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/persist.h"

#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_PAGE 4096ull

enum snapshot_type { SNAPSHOT_FULL = 0, SNAPSHOT_DIFF = 1 };

/* The first section of every state file (and of a migration's state). */
struct snapshot_info {
    char arch[16];                /* the guest architecture (vm_arch): picks the backend on restore */
    uint64_t mem_size;            /* bytes of guest RAM: the memory file's size */
    uint32_t vcpus;
    enum snapshot_type type;
    uint64_t saved_realtime_ns;   /* host CLOCK_REALTIME when the guest stopped, for guest time */
};

void snapshot_info_save(const struct snapshot_info *i, struct persist_writer *w);
/* Reads and checks the info section (an architecture this kiln has a backend for, type, sizes). */
int snapshot_info_restore(struct snapshot_info *i, struct persist_reader *r);

/* Writes header + body + checksum to path (through a temporary file renamed over it, so a
 * crash never leaves half a snapshot under the real name). Returns 0 or -1 with err. */
int snapshot_file_write(const char *path, const void *body, size_t len, char *err, size_t errlen);
/* Reads path and checks magic, version, length and checksum. *body is malloc'ed. */
int snapshot_file_read(const char *path, void **body, size_t *len, char *err, size_t errlen);

/* Guest RAM to a memory file. Full: every non-zero page (anonymous: RAM is fresh anonymous
 * memory, whose pages the guest never touched are known to be zero without reading them). Diff:
 * the pages whose bit is set in dirty (one bit per page), zero or not. Returns 0 or -1. */
int snapshot_mem_write(const char *path, const uint8_t *ram, uint64_t size, const uint64_t *dirty,
                       bool anonymous, char *err, size_t errlen);
/* mincore() of RAM: bit 0 of byte n is set if page n was ever touched (anonymous memory).
 * malloc'ed; NULL if unknown. */
uint8_t *snapshot_touched_pages(const uint8_t *ram, uint64_t size);
bool snapshot_page_is_zero(const uint8_t *page);
/* Does page n of RAM hold anything but zeros? touched (snapshot_touched_pages, or NULL) lets an
 * untouched anonymous page count as zero without reading it (a read would make the host map it). */
bool snapshot_page_has_data(const uint8_t *ram, uint64_t page, const uint8_t *touched);
/* Copies the pages a Diff memory file holds over a base memory file of the same size. */
int snapshot_mem_merge(const char *base, const char *diff, char *err, size_t errlen);

uint64_t snapshot_realtime_ns(void);

#endif
