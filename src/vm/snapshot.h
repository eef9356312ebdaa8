/* snapshot.h — reading a snapshot's state file into its parts, and the vmm's snapshot calls. */
#ifndef KILN_VM_SNAPSHOT_H
#define KILN_VM_SNAPSHOT_H
#include <stdbool.h>
#include <stddef.h>
#include "common/persist.h"
#include "vm/snapshot_file.h"
#include "vm/vmm.h"

struct snapshot_image {
    void *body;
    size_t len;
    struct snapshot_info info;
    char *config_json;             /* GET /vm/config of the VM when it was saved */
    struct persist_reader state;   /* positioned at the machine and device state */
};

/* Reads and checks a state file (checksum, version, architecture) up to its configuration. */
int snapshot_image_open(const char *path, struct snapshot_image *img, char *err, size_t errlen);
void snapshot_image_close(struct snapshot_image *img);
void snapshot_config_save(const char *config_json, struct persist_writer *w);
/* Host wall time since saved_realtime_ns (0 if the clock says the save is in the future). */
uint64_t snapshot_advance_ns(uint64_t saved_realtime_ns);

/* PUT /snapshot/create: the VM must be paused; Diff needs track_dirty_pages. config_json is
 * what GET /vm/config returns now. */
int vmm_snapshot_create(struct vmm *v, bool diff, const char *state_path, const char *mem_path,
                        const char *config_json, char *err, size_t errlen);
/* PUT /snapshot/load, after the API layer applied img->config_json (with its overrides) to v:
 * builds the VM from the memory file and the state, paused unless resume. */
int vmm_snapshot_load(struct vmm *v, struct snapshot_image *img, const char *mem_path, bool resume,
                      char *err, size_t errlen);

#endif
