/* config_file.h — Firecracker's --config-file: one JSON object whose keys are the PUT resources
 * ("boot-source", "machine-config", "drives": [...], "network-interfaces": [...], "vsock",
 * "balloon", "entropy", "logger", "metrics", plus kiln's "serial"), the same shape GET /vm/config
 * returns. Each item goes through the API's own handlers, so the rules and messages are the
 * API's. */
#ifndef KILN_API_CONFIG_FILE_H
#define KILN_API_CONFIG_FILE_H
#include <stddef.h>
#include "api/routes.h"

enum config_file_status { CONFIG_FILE_OK = 0, CONFIG_FILE_INVALID = -1, CONFIG_FILE_UNREADABLE = -2 };

/* Applies every resource in path (nothing is started). On error, err holds one line naming the
 * key (and item index) at fault. */
enum config_file_status config_file_apply(struct routes *r, const char *path, char *err, size_t errlen);
/* The same for an already parsed configuration (a snapshot's, an incoming migration's); path
 * names it in messages. */
enum config_file_status config_apply_json(struct routes *r, const char *path, json_t *root, char *err, size_t errlen);

#endif
