/* routes.h — Firecracker's v1 REST routes on top of the vmm controller: one request (method,
 * path, body) in, one response (status, JSON body) out. No HTTP here, so --config-file reuses the
 * same handlers (routes_put) and the tests can reason about one layer at a time. */
#ifndef KILN_API_ROUTES_H
#define KILN_API_ROUTES_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vm/vmm.h"

#include "version.h"      /* GET / and GET /version report it */

#define ROUTES_ERR_MAX 1024

struct routes;

/* instance_id is GET /'s "id". on_start is called (on the API thread) after a successful
 * InstanceStart, so the main thread can start waiting for the guest. */
struct routes *routes_new(struct vmm *vmm, const char *instance_id, void (*on_start)(void *), void *cls);
void routes_free(struct routes *r);

struct routes_response {
    int status;     /* 200, 204 or 400 */
    char *body;     /* malloc'd JSON, NULL for 204 */
    size_t len;
};

/* Handles one request. body is NULL or len bytes (not necessarily NUL-terminated). */
void routes_handle(struct routes *r, const char *method, const char *path, const char *body, size_t len,
                   struct routes_response *out);

/* PUT resource (a Firecracker config-file key: "boot-source", "drives", "machine-config",
 * "network-interfaces", "vsock", "balloon", "entropy", "logger", "metrics", "serial") with an
 * already parsed body; for drives and interfaces the id comes from the body. Returns 0, or -1
 * with the fault message in err. Unknown resource: -1. */
int routes_put(struct routes *r, const char *resource, json_t *body, char *err, size_t errlen);

/* GET /vm/config's body (the resource model as JSON; snapshots store it). NULL: out of memory. */
json_t *routes_vm_config(struct routes *r);
struct vmm *routes_vmm(struct routes *r);
/* A VM now runs (InstanceStart, snapshot load, incoming migration): tells on_start. */
void routes_started(struct routes *r);

/* Configures the logger / metrics as PUT /logger and PUT /metrics do (the command-line flags
 * use these), remembering the settings for GET /vm/config. */
struct model_logger;
int routes_configure_logger(struct routes *r, const struct model_logger *l, char *err, size_t errlen);
int routes_configure_metrics(struct routes *r, const char *path, char *err, size_t errlen);

#endif
