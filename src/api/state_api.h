/* state_api.h — the API side of snapshots and migration: a loaded snapshot's or an incoming
 * migration's configuration goes through the same handlers as a --config-file (with
 * Firecracker's network and vsock overrides applied first), then the vmm restores the state. */
#ifndef KILN_API_STATE_API_H
#define KILN_API_STATE_API_H
#include <jansson.h>
#include <stddef.h>
#include "api/models.h"
#include "api/routes.h"

/* PUT /snapshot/load on a fresh kiln. */
int api_snapshot_load(struct routes *r, const struct model_snapshot_load *m, char *err, size_t errlen);
/* PUT /vm.send-migration: *out receives the measured figures (total_ms, downtime_ms, ...). */
int api_send_migration(struct routes *r, const struct model_migration *m, json_t **out, char *err, size_t errlen);
/* PUT /vm.receive-migration on a fresh kiln: returns once the VM runs here, or failed. */
int api_receive_migration(struct routes *r, const struct model_migration *m, char *err, size_t errlen);
/* Applies a saved configuration (GET /vm/config JSON) to a fresh kiln: the logger and metrics
 * settings are the old process's and are left out. */
int api_apply_saved_config(struct routes *r, json_t *cfg, const char *what, char *err, size_t errlen);

#endif
