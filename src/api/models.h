/* models.h — Firecracker's API bodies (its swagger "definitions") as kiln structs, both ways.
 *
 * Parsing is strict, as Firecracker's serde models are: a body must be a JSON object, unknown
 * fields, wrong types, out-of-range numbers and missing required fields are errors, and an
 * optional field may also be null (Firecracker's own GET /vm/config writes null for "absent").
 * Every parser returns 0, or -1 with a one-line reason in err (no trailing period; the caller
 * adds Firecracker's "An error occurred when deserializing the json body of a request: ..."). */
#ifndef KILN_API_MODELS_H
#define KILN_API_MODELS_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dev/virtio/balloon.h"
#include "vm/logger.h"
#include "vm/vmm.h"

/* PUT (all required fields) or PATCH (any subset) /machine-config */
struct model_machine {
    bool has_vcpus, has_mem, has_smt, has_track;
    unsigned vcpus;
    uint64_t mem_mib;
    bool smt, track_dirty_pages;
};

struct model_drive_patch {
    char drive_id[VMM_ID_MAX];
    bool has_path, has_limit;
    char path_on_host[VMM_PATH_MAX];
    struct rate_limiter_config limit;
};

struct model_net_patch {
    char iface_id[VMM_ID_MAX];
    bool has_rx, has_tx;
    struct rate_limiter_config rx, tx;
};

struct model_logger {
    bool has_path, has_level, has_module;
    char log_path[VMM_PATH_MAX];
    enum log_level level;
    char level_name[16];        /* as the client spelled it, for GET /vm/config */
    bool show_level, show_log_origin;
    char module[256];
};

enum model_action { MODEL_ACTION_INSTANCE_START, MODEL_ACTION_SEND_CTRL_ALT_DEL, MODEL_ACTION_FLUSH_METRICS };

int model_parse_boot_source(json_t *j, struct vmm_boot_source *out, char *err, size_t errlen);
/* partial: PATCH semantics (nothing required) */
int model_parse_machine(json_t *j, bool partial, struct model_machine *out, char *err, size_t errlen);
int model_parse_drive(json_t *j, struct vmm_drive *out, char *err, size_t errlen);
int model_parse_drive_patch(json_t *j, struct model_drive_patch *out, char *err, size_t errlen);
int model_parse_net(json_t *j, struct vmm_net *out, char *err, size_t errlen);
int model_parse_net_patch(json_t *j, struct model_net_patch *out, char *err, size_t errlen);
int model_parse_vsock(json_t *j, struct vmm_vsock *out, char *err, size_t errlen);
int model_parse_entropy(json_t *j, struct vmm_entropy *out, char *err, size_t errlen);
int model_parse_balloon(json_t *j, struct vmm_balloon *out, char *err, size_t errlen);
int model_parse_balloon_update(json_t *j, uint32_t *amount_mib, char *err, size_t errlen);
int model_parse_balloon_stats_update(json_t *j, uint32_t *interval_s, char *err, size_t errlen);
int model_parse_logger(json_t *j, struct model_logger *out, char *err, size_t errlen);
int model_parse_metrics(json_t *j, char *path, size_t pathlen, char *err, size_t errlen);
int model_parse_serial(json_t *j, char *path, size_t pathlen, char *err, size_t errlen);
int model_parse_action(json_t *j, enum model_action *out, char *err, size_t errlen);
/* PUT /kiln/cpu-limit (kiln's): {"quota_us"?, "period_us"?, "vcpu_priority"?}; absent quota_us
 * (or 0) is no limit, absent period_us 100000, absent vcpu_priority leaves *has_priority false */
int model_parse_cpu_limit(json_t *j, struct vmm_cpu_limit *out, bool *has_priority, char *err, size_t errlen);
/* PATCH /vm: *pause is true for "Paused", false for "Resumed" */
int model_parse_vm_state(json_t *j, bool *pause, char *err, size_t errlen);

/* PUT /snapshot/create, PUT /snapshot/load (Firecracker) */
struct model_snapshot_create {
    bool diff;                                /* snapshot_type "Diff" (default "Full") */
    char snapshot_path[VMM_PATH_MAX];
    char mem_file_path[VMM_PATH_MAX];
};

struct model_net_override {
    char iface_id[VMM_ID_MAX + 1];
    char host_dev_name[1024];
};

struct model_snapshot_load {
    char snapshot_path[VMM_PATH_MAX];
    char mem_path[VMM_PATH_MAX];              /* mem_file_path or mem_backend.backend_path */
    bool track_dirty_pages;                   /* or the older enable_diff_snapshots */
    bool resume_vm;
    unsigned n_net_overrides;
    struct model_net_override net_overrides[KILN_MAX_VIRTIO];
    bool has_vsock_override;
    char vsock_uds_path[VMM_PATH_MAX];
};

/* PUT /vm.send-migration {"destination_url"} and /vm.receive-migration {"receiver_url"} (Cloud
 * Hypervisor), with kiln's downtime_ms (default 50) and timeout_s (default 3600) */
struct model_migration {
    char url[VMM_PATH_MAX];                   /* unix:PATH or tcp:HOST:PORT */
    uint32_t downtime_ms, timeout_s;
};

int model_parse_snapshot_create(json_t *j, struct model_snapshot_create *out, char *err, size_t errlen);
int model_parse_snapshot_load(json_t *j, struct model_snapshot_load *out, char *err, size_t errlen);
int model_parse_migration(json_t *j, const char *url_key, struct model_migration *out, char *err, size_t errlen);

/* The reverse, for GET responses and GET /vm/config. Each returns a new reference (NULL only
 * when out of memory). */
json_t *model_boot_source_json(const struct vmm_boot_source *b);
json_t *model_machine_json(const struct vmm_machine_config *m);
json_t *model_drive_json(const struct vmm_drive *d);
json_t *model_net_json(const struct vmm_net *n);
json_t *model_vsock_json(const struct vmm_vsock *s);
json_t *model_entropy_json(const struct vmm_entropy *e);
json_t *model_balloon_json(const struct vmm_balloon *b);
json_t *model_balloon_stats_json(const struct balloon_stats *s);
json_t *model_logger_json(const struct model_logger *l);
json_t *model_rate_limiter_json(const struct rate_limiter_config *rl);
json_t *model_cpu_limit_json(const struct vmm_cpu_limit *l);

/* Writes a formatted fault message into err and returns -1 (for "return api_fail(...)"). */
int api_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
