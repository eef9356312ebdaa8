/* state_api.c — snapshot load and live migration as the API handles them (see the header). */
#include "api/state_api.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "api/config_file.h"
#include "vm/migration.h"
#include "vm/snapshot.h"

static const char AFTER_BOOT[] = "The requested operation is not supported after starting the microVM.";
static const char CONFIGURED[] = "Loading a microVM snapshot not allowed after configuring boot-specific resources.";

/* Firecracker loads snapshots (and kiln receives migrations) only into a kiln that has not been
 * configured: the configuration comes from the snapshot. */
static int check_fresh(struct routes *r, char *err, size_t errlen)
{
    if (vmm_get_state(routes_vmm(r)) != VMM_NOT_STARTED)
        return api_fail(err, errlen, AFTER_BOOT);
    if (vmm_is_configured(routes_vmm(r)))
        return api_fail(err, errlen, CONFIGURED);
    return 0;
}

int api_apply_saved_config(struct routes *r, json_t *cfg, const char *what, char *err, size_t errlen)
{
    if (!json_is_object(cfg))
        return api_fail(err, errlen, "%s: the configuration is not a JSON object", what);
    json_object_del(cfg, "logger");
    json_object_del(cfg, "metrics");
    char msg[ROUTES_ERR_MAX + 256];
    if (config_apply_json(r, what, cfg, msg, sizeof(msg)) != CONFIG_FILE_OK)
        return api_fail(err, errlen, "%s", msg);
    return 0;
}

static int override_nets(json_t *cfg, const struct model_snapshot_load *m, char *err, size_t errlen)
{
    json_t *nets = json_object_get(cfg, "network-interfaces");
    for (unsigned i = 0; i < m->n_net_overrides; i++) {
        const struct model_net_override *o = &m->net_overrides[i];
        bool found = false;
        size_t k;
        json_t *n;
        json_array_foreach(nets, k, n) {
            if (json_is_string(json_object_get(n, "iface_id")) &&
                !strcmp(json_string_value(json_object_get(n, "iface_id")), o->iface_id)) {
                json_object_set_new(n, "host_dev_name", json_string(o->host_dev_name));
                found = true;
            }
        }
        if (!found)
            return api_fail(err, errlen, "Invalid network override: the snapshot has no network interface '%s'.",
                            o->iface_id);
    }
    return 0;
}

static int override_vsock(json_t *cfg, const struct model_snapshot_load *m, char *err, size_t errlen)
{
    if (!m->has_vsock_override)
        return 0;
    json_t *vs = json_object_get(cfg, "vsock");
    if (!json_is_object(vs))
        return api_fail(err, errlen, "Invalid vsock override: the snapshot has no vsock device.");
    json_object_set_new(vs, "uds_path", json_string(m->vsock_uds_path));
    return 0;
}

/* The memory file is checked before the configuration is applied, so that a wrong one gets a
 * message naming it (not the VM's generic start failure) and leaves the kiln fresh. */
static int check_mem_file(const char *path, uint64_t mem_size, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return api_fail(err, errlen, "Cannot load the snapshot: cannot open the memory file '%s': %s", path,
                        strerror(errno));
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != mem_size)
        return api_fail(err, errlen, "Cannot load the snapshot: the memory file '%s' holds %lld bytes, "
                        "the snapshot's VM has %llu bytes of memory", path, (long long)st.st_size,
                        (unsigned long long)mem_size);
    return 0;
}

int api_snapshot_load(struct routes *r, const struct model_snapshot_load *m, char *err, size_t errlen)
{
    if (check_fresh(r, err, errlen))
        return -1;
    struct snapshot_image img;
    char msg[ROUTES_ERR_MAX];
    if (snapshot_image_open(m->snapshot_path, &img, msg, sizeof(msg)))
        return api_fail(err, errlen, "Cannot load the snapshot: %s", msg);
    json_error_t jerr;
    json_t *cfg = json_loads(img.config_json, JSON_REJECT_DUPLICATES, &jerr);
    int rc = cfg ? 0 : api_fail(err, errlen, "Cannot load the snapshot: its configuration is invalid JSON");
    if (!rc)
        rc = check_mem_file(m->mem_path, img.info.mem_size, err, errlen);
    if (!rc)
        rc = override_nets(cfg, m, err, errlen) || override_vsock(cfg, m, err, errlen);
    json_t *machine = cfg ? json_object_get(cfg, "machine-config") : NULL;
    if (!rc && m->track_dirty_pages && json_is_object(machine))
        json_object_set_new(machine, "track_dirty_pages", json_true());
    if (!rc)
        rc = api_apply_saved_config(r, cfg, "the snapshot's configuration", err, errlen);
    if (!rc)
        rc = vmm_snapshot_load(routes_vmm(r), &img, m->mem_path, m->resume_vm, err, errlen);
    if (!rc)
        routes_started(r);
    json_decref(cfg);
    snapshot_image_close(&img);
    return rc ? -1 : 0;
}

int api_send_migration(struct routes *r, const struct model_migration *m, json_t **out, char *err, size_t errlen)
{
    json_t *cfg = routes_vm_config(r);
    char *text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    json_decref(cfg);
    if (!text)
        return api_fail(err, errlen, "out of memory");
    struct migration_params p = { m->url, m->downtime_ms, m->timeout_s };
    struct migration_stats st;
    char msg[ROUTES_ERR_MAX - 64];
    int rc = vmm_send_migration(routes_vmm(r), &p, text, &st, msg, sizeof(msg));
    free(text);
    if (rc)
        return api_fail(err, errlen, "Migration failed: %s", msg);
    *out = json_pack("{s:I,s:f,s:I,s:I}", "total_ms", (json_int_t)st.total_ms, "downtime_ms",
                     (double)st.downtime_us / 1000.0, "rounds", (json_int_t)st.rounds, "pages_sent",
                     (json_int_t)st.pages_sent);
    return 0;
}

struct receive_ctx {
    struct routes *r;
};

static int apply_incoming(void *cls, const char *json, char *err, size_t errlen)
{
    struct receive_ctx *c = cls;
    json_error_t jerr;
    json_t *cfg = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!cfg)
        return api_fail(err, errlen, "the source's configuration is invalid JSON");
    int rc = api_apply_saved_config(c->r, cfg, "the source's configuration", err, errlen);
    json_decref(cfg);
    return rc;
}

int api_receive_migration(struct routes *r, const struct model_migration *m, char *err, size_t errlen)
{
    if (check_fresh(r, err, errlen))
        return -1;
    struct receive_ctx ctx = { r };
    struct migration_receive_hooks hooks = { apply_incoming, &ctx };
    struct migration_params p = { m->url, m->downtime_ms, m->timeout_s };
    char msg[ROUTES_ERR_MAX - 64];
    if (vmm_receive_migration(routes_vmm(r), &p, &hooks, msg, sizeof(msg)))
        return api_fail(err, errlen, "Incoming migration failed: %s", msg);
    routes_started(r);
    return 0;
}
