/* guest_ram.h — guest RAM, owned by the VM (not by a CPU backend): fresh anonymous memory for a
 * new VM, or a snapshot's memory file mapped copy-on-write for a restored one. */
#ifndef KILN_VM_GUEST_RAM_H
#define KILN_VM_GUEST_RAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_ram {
    uint8_t *host;      /* page aligned; NULL when not created */
    uint64_t size;
    int fd;             /* the memory file when file_backed, else -1 */
    bool file_backed;
};

/* Reserves size bytes (a multiple of 4 KiB) of zeroed RAM. The host backs only the pages the
 * guest touches. Returns 0 or -1. */
int guest_ram_create(struct guest_ram *r, uint64_t size);
/* Maps the snapshot memory file at path as RAM, MAP_PRIVATE: nothing is read up front, pages
 * come from the page cache on first touch (shared by every VM restored from the same file) and
 * are copied only when the guest writes them; the file itself is never modified. The file must
 * be exactly size bytes. Returns 0, or -1 with a message in err. */
int guest_ram_map_file(struct guest_ram *r, const char *path, uint64_t size, char *err, size_t errlen);
/* Unmaps the RAM and closes the file; safe on a zeroed or already destroyed struct. */
void guest_ram_destroy(struct guest_ram *r);

#endif
