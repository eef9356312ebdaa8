/* routes.c — Firecracker's v1 routes: path and method matching, body checks and the handlers
 * that turn models into vmm calls. Status codes and fault messages follow Firecracker's API
 * server (parsed_request.rs and the request modules): every client error is a 400 with
 * {"fault_message": ...}, including unknown paths and methods. Runs on the HTTP server's single
 * thread, so the routes' own state (logger and metrics settings) needs no lock. */
#include "api/routes.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/models.h"
#include "api/state_api.h"
#include "vm/snapshot.h"
#include "vm/logger.h"
#include "vm/metrics.h"

struct routes {
    struct vmm *vmm;
    char id[VMM_ID_MAX];
    void (*on_start)(void *);
    void *on_start_cls;
    /* what PUT /logger and PUT /metrics (or the flags) set, for GET /vm/config */
    bool has_logger, has_metrics;
    struct model_logger logger;
    char metrics_path[VMM_PATH_MAX];
};

static const char AFTER_BOOT[] = "The requested operation is not supported after starting the microVM.";

/* A model rejected the body: Firecracker reports serde's message under this prefix. */
static int bad_body(char *err, size_t errlen)
{
    char msg[ROUTES_ERR_MAX];
    snprintf(msg, sizeof(msg), "%s", err);
    return api_fail(err, errlen, "An error occurred when deserializing the json body of a request: %s.", msg);
}

static bool started(struct routes *r)
{
    return vmm_get_state(r->vmm) != VMM_NOT_STARTED;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* id is the path's resource id, or NULL when the body's id is the only one (--config-file) */
static int check_ids(const char *path_id, const char *body_id, char *err, size_t errlen)
{
    if (path_id && strcmp(path_id, body_id))
        return api_fail(err, errlen, "The id from the path does not match the id from the body!");
    return 0;
}

/* ---- handlers: 0 (out NULL: 204, else 200 with out) or -1 with err (400) ---- */

typedef int handler_fn(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen);

static int get_instance_info(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)body, (void)err, (void)errlen;
    *out = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "state", vmm_state_name(vmm_get_state(r->vmm)),
                     "vmm_version", KILN_VERSION, "app_name", "kiln");
    return 0;
}

static int get_version(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)r, (void)id, (void)body, (void)err, (void)errlen;
    *out = json_pack("{s:s}", "firecracker_version", KILN_VERSION);
    return 0;
}

static int get_machine(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)body, (void)err, (void)errlen;
    struct vmm_config *c = malloc(sizeof(*c));
    if (!c)
        return api_fail(err, errlen, "out of memory");
    vmm_get_config(r->vmm, c);
    *out = model_machine_json(&c->machine);
    free(c);
    return 0;
}

static int put_machine(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct model_machine m;
    if (model_parse_machine(body, false, &m, err, errlen))
        return bad_body(err, errlen);
    struct vmm_machine_config mc = {
        .vcpu_count = m.vcpus, .mem_size_mib = m.mem_mib, .smt = m.smt, .track_dirty_pages = m.track_dirty_pages,
    };
    return vmm_put_machine_config(r->vmm, &mc, err, errlen);
}

static int patch_machine(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct model_machine m;
    if (model_parse_machine(body, true, &m, err, errlen))
        return bad_body(err, errlen);
    if (!m.has_vcpus && !m.has_mem && !m.has_smt && !m.has_track)
        return api_fail(err, errlen, "Empty PATCH request.");
    /* the controller has no SMT setting to patch: kiln's vCPUs never have SMT siblings */
    if (m.has_smt && m.smt)
        return api_fail(err, errlen, "Enabling simultaneous multithreading is not supported on riscv64.");
    return vmm_patch_machine_config(r->vmm, m.has_vcpus, m.vcpus, m.has_mem, m.mem_mib, m.has_track,
                                    m.track_dirty_pages, err, errlen);
}

static int put_boot_source(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct vmm_boot_source *b = malloc(sizeof(*b));
    if (!b)
        return api_fail(err, errlen, "out of memory");
    int rc = model_parse_boot_source(body, b, err, errlen) ? bad_body(err, errlen)
                                                             : vmm_put_boot_source(r->vmm, b, err, errlen);
    free(b);
    return rc;
}

static int put_drive(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)out;
    struct vmm_drive *d = malloc(sizeof(*d));
    if (!d)
        return api_fail(err, errlen, "out of memory");
    int rc;
    if (model_parse_drive(body, d, err, errlen))
        rc = bad_body(err, errlen);
    else
        rc = check_ids(id, d->drive_id, err, errlen) ? -1 : vmm_put_drive(r->vmm, d, err, errlen);
    free(d);
    return rc;
}

static int patch_drive(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)out;
    struct model_drive_patch *p = malloc(sizeof(*p));
    if (!p)
        return api_fail(err, errlen, "out of memory");
    int rc;
    if (model_parse_drive_patch(body, p, err, errlen))
        rc = bad_body(err, errlen);
    else if (check_ids(id, p->drive_id, err, errlen))
        rc = -1;
    else
        rc = vmm_patch_drive(r->vmm, p->drive_id, p->has_path ? p->path_on_host : NULL,
                             p->has_limit ? &p->limit : NULL, err, errlen);
    free(p);
    return rc;
}

static int put_net(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)out;
    struct vmm_net *n = malloc(sizeof(*n));
    if (!n)
        return api_fail(err, errlen, "out of memory");
    int rc;
    if (model_parse_net(body, n, err, errlen))
        rc = bad_body(err, errlen);
    else
        rc = check_ids(id, n->iface_id, err, errlen) ? -1 : vmm_put_net(r->vmm, n, err, errlen);
    free(n);
    return rc;
}

static int patch_net(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)out;
    struct model_net_patch p;
    if (model_parse_net_patch(body, &p, err, errlen))
        return bad_body(err, errlen);
    if (check_ids(id, p.iface_id, err, errlen))
        return -1;
    return vmm_patch_net(r->vmm, p.iface_id, p.has_rx ? &p.rx : NULL, p.has_tx ? &p.tx : NULL, err, errlen);
}

static int put_vsock(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct vmm_vsock *s = malloc(sizeof(*s));
    if (!s)
        return api_fail(err, errlen, "out of memory");
    int rc = model_parse_vsock(body, s, err, errlen) ? bad_body(err, errlen) : vmm_put_vsock(r->vmm, s, err, errlen);
    free(s);
    return rc;
}

static int put_entropy(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct vmm_entropy e;
    if (model_parse_entropy(body, &e, err, errlen))
        return bad_body(err, errlen);
    return vmm_put_entropy(r->vmm, &e, err, errlen);
}

static int put_balloon(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct vmm_balloon b;
    if (model_parse_balloon(body, &b, err, errlen))
        return bad_body(err, errlen);
    return vmm_put_balloon(r->vmm, &b, err, errlen);
}

static int get_balloon(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)body;
    struct vmm_config *c = malloc(sizeof(*c));
    if (!c)
        return api_fail(err, errlen, "out of memory");
    vmm_get_config(r->vmm, c);
    int rc = 0;
    if (c->balloon.set)
        *out = model_balloon_json(&c->balloon);
    else
        rc = api_fail(err, errlen, "No balloon device found.");
    free(c);
    return rc;
}

static int patch_balloon(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    uint32_t amount;
    if (model_parse_balloon_update(body, &amount, err, errlen))
        return bad_body(err, errlen);
    return vmm_patch_balloon(r->vmm, amount, err, errlen);
}

static int get_balloon_stats(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)body;
    struct balloon_stats s;
    if (vmm_get_balloon_stats(r->vmm, &s, err, errlen))
        return -1;
    *out = model_balloon_stats_json(&s);
    return 0;
}

static int patch_balloon_stats(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    uint32_t interval;
    if (model_parse_balloon_stats_update(body, &interval, err, errlen))
        return bad_body(err, errlen);
    return vmm_patch_balloon_stats_interval(r->vmm, interval, err, errlen);
}

/* kiln's own route: the VM's CPU limit, before boot and while it runs */
static int put_cpu_limit(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct vmm_cpu_limit l;
    bool has_priority;
    if (model_parse_cpu_limit(body, &l, &has_priority, err, errlen))
        return bad_body(err, errlen);
    if (!has_priority) {   /* absent: the priority stays what it is */
        struct vmm_cpu_limit cur;
        struct cpu_quota_stats st;
        bool running;
        vmm_get_cpu_limit(r->vmm, &cur, &st, &running);
        l.vcpu_priority = cur.vcpu_priority;
    }
    return vmm_put_cpu_limit(r->vmm, &l, err, errlen);
}

static int get_cpu_limit(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)body;
    struct vmm_cpu_limit l;
    struct cpu_quota_stats st;
    bool running;
    vmm_get_cpu_limit(r->vmm, &l, &st, &running);
    json_t *o = model_cpu_limit_json(&l);
    if (o && running)
        json_object_set_new(o, "stats", json_pack("{s:I,s:I,s:I}", "nr_periods", (json_int_t)st.nr_periods,
                                                  "nr_throttled", (json_int_t)st.nr_throttled,
                                                  "throttled_us", (json_int_t)st.throttled_us));
    *out = o;
    return o ? 0 : api_fail(err, errlen, "out of memory");
}

int routes_configure_logger(struct routes *r, const struct model_logger *l, char *err, size_t errlen)
{
    if (logger_configure(l->has_path ? l->log_path : NULL, l->level, l->show_level, l->show_log_origin, err, errlen))
        return -1;
    if (logger_set_module(l->has_module ? l->module : NULL))
        return api_fail(err, errlen, "out of memory");
    r->logger = *l;
    r->has_logger = true;
    return 0;
}

int routes_configure_metrics(struct routes *r, const char *path, char *err, size_t errlen)
{
    if (metrics_configure(path, err, errlen))
        return -1;
    snprintf(r->metrics_path, sizeof(r->metrics_path), "%s", path);
    r->has_metrics = true;
    return 0;
}

static int put_logger(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct model_logger *l = malloc(sizeof(*l));
    if (!l)
        return api_fail(err, errlen, "out of memory");
    int rc;
    if (model_parse_logger(body, l, err, errlen))
        rc = bad_body(err, errlen);
    else if (started(r))
        rc = api_fail(err, errlen, AFTER_BOOT);
    else
        rc = routes_configure_logger(r, l, err, errlen);
    free(l);
    return rc;
}

static int put_metrics(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    char path[VMM_PATH_MAX];
    if (model_parse_metrics(body, path, sizeof(path), err, errlen))
        return bad_body(err, errlen);
    if (started(r))
        return api_fail(err, errlen, AFTER_BOOT);
    return routes_configure_metrics(r, path, err, errlen);
}

static int put_serial(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    char path[VMM_PATH_MAX];
    if (model_parse_serial(body, path, sizeof(path), err, errlen))
        return bad_body(err, errlen);
    return vmm_put_serial(r->vmm, path, err, errlen);
}

static int put_actions(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    enum model_action a;
    if (model_parse_action(body, &a, err, errlen))
        return bad_body(err, errlen);
    switch (a) {
    case MODEL_ACTION_INSTANCE_START:
        if (vmm_start(r->vmm, err, errlen))
            return -1;
        if (r->on_start)
            r->on_start(r->on_start_cls);
        return 0;
    case MODEL_ACTION_FLUSH_METRICS:
        return metrics_flush_err(err, errlen);
    case MODEL_ACTION_SEND_CTRL_ALT_DEL:
        return vmm_send_ctrl_alt_del(r->vmm, err, errlen);
    }
    return api_fail(err, errlen, "unknown action");
}

static int patch_vm(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    bool pause;
    if (model_parse_vm_state(body, &pause, err, errlen))
        return bad_body(err, errlen);
    uint64_t t0 = now_us();
    if (pause ? vmm_pause(r->vmm, err, errlen) : vmm_resume(r->vmm, err, errlen))
        return -1;
    metric_store(pause ? &kiln_metrics.latencies_us.pause_vm : &kiln_metrics.latencies_us.resume_vm, now_us() - t0);
    return 0;
}

static json_t *or_null(bool set, json_t *v)
{
    if (set)
        return v;
    json_decref(v);
    return json_null();
}

json_t *routes_vm_config(struct routes *r)
{
    struct vmm_config *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    vmm_get_config(r->vmm, c);
    json_t *o = json_object(), *drives = json_array(), *nets = json_array();
    for (unsigned i = 0; i < c->ndrives; i++)
        json_array_append_new(drives, model_drive_json(&c->drives[i]));
    for (unsigned i = 0; i < c->nnets; i++)
        json_array_append_new(nets, model_net_json(&c->nets[i]));
    /* the keys and their order are Firecracker's; absent devices are null, as there */
    json_object_set_new(o, "balloon", or_null(c->balloon.set, model_balloon_json(&c->balloon)));
    json_object_set_new(o, "drives", drives);
    json_object_set_new(o, "boot-source", or_null(c->boot.set, model_boot_source_json(&c->boot)));
    json_object_set_new(o, "cpu-config", json_null());
    json_object_set_new(o, "logger", or_null(r->has_logger, model_logger_json(&r->logger)));
    json_object_set_new(o, "machine-config", model_machine_json(&c->machine));
    json_object_set_new(o, "metrics", or_null(r->has_metrics, json_pack("{s:s}", "metrics_path", r->metrics_path)));
    json_object_set_new(o, "mmds-config", json_null());
    json_object_set_new(o, "network-interfaces", nets);
    json_object_set_new(o, "vsock", or_null(c->vsock.set, model_vsock_json(&c->vsock)));
    json_object_set_new(o, "entropy", or_null(c->entropy.set, model_entropy_json(&c->entropy)));
    /* kiln extension, only when used so the output stays what Firecracker's tools expect */
    if (c->serial_out_path[0])
        json_object_set_new(o, "serial", json_pack("{s:s}", "serial_out_path", c->serial_out_path));
    if (c->cpu_limit.set)
        json_object_set_new(o, "cpu-limit", model_cpu_limit_json(&c->cpu_limit));
    free(c);
    return o;
}

static int get_vm_config(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)body;
    *out = routes_vm_config(r);
    return *out ? 0 : api_fail(err, errlen, "out of memory");
}

static int put_snapshot_create(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct model_snapshot_create m;
    if (model_parse_snapshot_create(body, &m, err, errlen))
        return bad_body(err, errlen);
    json_t *cfg = routes_vm_config(r);
    char *text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    json_decref(cfg);
    if (!text)
        return api_fail(err, errlen, "out of memory");
    uint64_t t0 = now_us();
    int rc = vmm_snapshot_create(r->vmm, m.diff, m.snapshot_path, m.mem_file_path, text, err, errlen);
    free(text);
    if (!rc)
        metric_store(m.diff ? &kiln_metrics.latencies_us.diff_create_snapshot
                            : &kiln_metrics.latencies_us.full_create_snapshot, now_us() - t0);
    return rc;
}

static int put_snapshot_load(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct model_snapshot_load *m = malloc(sizeof(*m));
    if (!m)
        return api_fail(err, errlen, "out of memory");
    int rc = model_parse_snapshot_load(body, m, err, errlen) ? bad_body(err, errlen) : 0;
    uint64_t t0 = now_us();
    if (!rc)
        rc = api_snapshot_load(r, m, err, errlen);
    if (!rc)
        metric_store(&kiln_metrics.latencies_us.load_snapshot, now_us() - t0);
    free(m);
    return rc;
}

static int put_send_migration(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id;
    struct model_migration m;
    if (model_parse_migration(body, "destination_url", &m, err, errlen))
        return bad_body(err, errlen);
    return api_send_migration(r, &m, out, err, errlen);
}

static int put_receive_migration(struct routes *r, const char *id, json_t *body, json_t **out, char *err, size_t errlen)
{
    (void)id, (void)out;
    struct model_migration m;
    if (model_parse_migration(body, "receiver_url", &m, err, errlen))
        return bad_body(err, errlen);
    return api_receive_migration(r, &m, err, errlen);
}

/* ---- the route table ---- */

#define GETM(n) (&kiln_metrics.get_api_requests.n)
#define PUTM(n) (&kiln_metrics.put_api_requests.n)
#define PATCHM(n) (&kiln_metrics.patch_api_requests.n)

struct route {
    const char *method;
    const char *seg0;       /* "" for / */
    const char *seg1;       /* NULL: none; ID: an API resource id; else a literal */
    handler_fn *fn;
    struct metric *count, *fails;
};

static const char ID[] = "{id}";

static const struct route routes_table[] = {
    { "GET", "", NULL, get_instance_info, GETM(instance_info_count), NULL },
    { "GET", "version", NULL, get_version, GETM(vmm_version_count), NULL },
    { "GET", "machine-config", NULL, get_machine, GETM(machine_cfg_count), NULL },
    { "GET", "balloon", NULL, get_balloon, GETM(balloon_count), NULL },
    { "GET", "balloon", "statistics", get_balloon_stats, GETM(balloon_count), NULL },
    { "GET", "vm", "config", get_vm_config, GETM(vm_config_count), NULL },
    { "GET", "kiln", "cpu-limit", get_cpu_limit, NULL, NULL },
    { "PUT", "kiln", "cpu-limit", put_cpu_limit, NULL, NULL },
    { "PUT", "actions", NULL, put_actions, PUTM(actions_count), PUTM(actions_fails) },
    { "PUT", "boot-source", NULL, put_boot_source, PUTM(boot_source_count), PUTM(boot_source_fails) },
    { "PUT", "machine-config", NULL, put_machine, PUTM(machine_cfg_count), PUTM(machine_cfg_fails) },
    { "PUT", "drives", ID, put_drive, PUTM(drive_count), PUTM(drive_fails) },
    { "PUT", "network-interfaces", ID, put_net, PUTM(network_count), PUTM(network_fails) },
    { "PUT", "vsock", NULL, put_vsock, PUTM(vsock_count), PUTM(vsock_fails) },
    { "PUT", "entropy", NULL, put_entropy, PUTM(entropy_count), PUTM(entropy_fails) },
    { "PUT", "balloon", NULL, put_balloon, PUTM(balloon_count), PUTM(balloon_fails) },
    { "PUT", "logger", NULL, put_logger, PUTM(logger_count), PUTM(logger_fails) },
    { "PUT", "metrics", NULL, put_metrics, PUTM(metrics_count), PUTM(metrics_fails) },
    { "PUT", "serial", NULL, put_serial, NULL, NULL },
    { "PATCH", "machine-config", NULL, patch_machine, PATCHM(machine_cfg_count), PATCHM(machine_cfg_fails) },
    { "PATCH", "drives", ID, patch_drive, PATCHM(drive_count), PATCHM(drive_fails) },
    { "PATCH", "network-interfaces", ID, patch_net, PATCHM(network_count), PATCHM(network_fails) },
    { "PATCH", "balloon", NULL, patch_balloon, PATCHM(balloon_count), PATCHM(balloon_fails) },
    { "PATCH", "balloon", "statistics", patch_balloon_stats, PATCHM(balloon_count), PATCHM(balloon_fails) },
    { "PATCH", "vm", NULL, patch_vm, PATCHM(vm_count), PATCHM(vm_fails) },
    { "PUT", "snapshot", "create", put_snapshot_create, PUTM(snapshot_create_count), PUTM(snapshot_create_fails) },
    { "PUT", "snapshot", "load", put_snapshot_load, PUTM(snapshot_load_count), PUTM(snapshot_load_fails) },
    { "PUT", "vm.send-migration", NULL, put_send_migration, PUTM(send_migration_count), PUTM(send_migration_fails) },
    { "PUT", "vm.receive-migration", NULL, put_receive_migration, PUTM(receive_migration_count),
      PUTM(receive_migration_fails) },
};

/* config-file keys → the PUT handler for one item */
static const struct { const char *key; handler_fn *fn; } put_resources[] = {
    { "boot-source", put_boot_source }, { "drives", put_drive }, { "machine-config", put_machine },
    { "network-interfaces", put_net }, { "vsock", put_vsock }, { "balloon", put_balloon },
    { "entropy", put_entropy }, { "logger", put_logger }, { "metrics", put_metrics }, { "serial", put_serial },
    { "cpu-limit", put_cpu_limit },
};

struct routes *routes_new(struct vmm *vmm, const char *instance_id, void (*on_start)(void *), void *cls)
{
    struct routes *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->vmm = vmm;
    snprintf(r->id, sizeof(r->id), "%s", instance_id);
    r->on_start = on_start;
    r->on_start_cls = cls;
    return r;
}

void routes_free(struct routes *r)
{
    free(r);
}

struct vmm *routes_vmm(struct routes *r)
{
    return r->vmm;
}

void routes_started(struct routes *r)
{
    if (r->on_start)
        r->on_start(r->on_start_cls);
}

int routes_put(struct routes *r, const char *resource, json_t *body, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(put_resources) / sizeof(put_resources[0]); i++) {
        if (strcmp(resource, put_resources[i].key))
            continue;
        json_t *out = NULL;
        int rc = put_resources[i].fn(r, NULL, body, &out, err, errlen);
        json_decref(out);
        return rc;
    }
    return api_fail(err, errlen, "unknown resource `%s`", resource);
}

/* Client text quoted in a message: printable ASCII only (the JSON must stay valid UTF-8 and the
 * log line one line), and short. */
static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

/* Firecracker's checked_id: non-empty, alphanumerics and '_' only */
static int check_resource_id(const char *id, char *err, size_t errlen)
{
    if (!*id)
        return api_fail(err, errlen, "The ID cannot be empty.");
    for (const char *p = id; *p; p++)
        if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return api_fail(err, errlen, "API Resource IDs can only contain alphanumeric characters and underscores.");
    if (strlen(id) >= VMM_ID_MAX)
        return api_fail(err, errlen, "API Resource IDs can be at most %d characters long.", VMM_ID_MAX - 1);
    return 0;
}

static void respond_json(struct routes_response *out, int status, json_t *j)
{
    out->status = status;
    out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    out->len = out->body ? strlen(out->body) : 0;
    json_decref(j);
}

static void respond_fault(struct routes_response *out, const char *msg)
{
    json_t *s = json_string(msg);
    if (!s) {
        /* not UTF-8 (a host error message in some locale, say): keep what is printable */
        char clean[ROUTES_ERR_MAX];
        sanitize(clean, sizeof(clean), msg);
        s = json_string(clean);
    }
    LOG_INFO("API request failed: %s", msg);
    respond_json(out, 400, json_pack("{s:o}", "fault_message", s));
}

void routes_handle(struct routes *r, const char *method, const char *path, const char *body, size_t len,
                   struct routes_response *out)
{
    char err[ROUTES_ERR_MAX] = "";
    memset(out, 0, sizeof(*out));

    /* Split like Firecracker: leading '/'s trimmed, then '/'-separated, a trailing '/' ignored. */
    char *copy = strdup(path ? path : "/");
    if (!copy) {
        respond_fault(out, "out of memory");
        return;
    }
    char *p = copy;
    while (*p == '/')
        p++;
    size_t plen = strlen(p);
    if (plen && p[plen - 1] == '/')
        p[plen - 1] = '\0';
    const char *seg[3] = { p, NULL, NULL };
    unsigned nseg = 1;
    for (char *s = p; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (nseg < 3)
            seg[nseg] = s + 1;
        nseg++;
    }
    if (!*p)
        nseg = 0;

    bool has_body = len > 0;
    const struct route *rt = NULL;
    if (!strcmp(method, "GET") && has_body) {
        respond_fault(out, "GET request cannot have a body.");
        goto done;
    }
    if (!strcmp(method, "PUT") && !has_body) {
        respond_fault(out, "Empty PUT request.");
        goto done;
    }
    if (!strcmp(method, "PATCH") && !has_body) {
        respond_fault(out, "Empty PATCH request.");
        goto done;
    }
    for (size_t i = 0; i < sizeof(routes_table) / sizeof(routes_table[0]) && !rt; i++) {
        const struct route *c = &routes_table[i];
        if (strcmp(method, c->method) || strcmp(nseg ? seg[0] : "", c->seg0))
            continue;
        if (c->seg1 == ID ? nseg <= 2 : c->seg1 ? (nseg == 2 && !strcmp(seg[1], c->seg1)) : nseg <= 1)
            rt = c;
    }
    if (!rt) {
        char m[16], s[96];
        sanitize(m, sizeof(m), method);
        sanitize(s, sizeof(s), nseg ? seg[0] : "");
        snprintf(err, sizeof(err), "Invalid request method and/or path: %s %s.", m, s);
        respond_fault(out, err);
        goto done;
    }
    if (rt->count)
        metric_inc(rt->count);

    const char *id = NULL;
    if (rt->seg1 == ID) {
        id = nseg == 2 ? seg[1] : "";
        if (check_resource_id(id, err, sizeof(err)))
            goto failed;
    }
    json_t *jbody = NULL, *result = NULL;
    if (has_body) {
        json_error_t jerr;
        jbody = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!jbody) {
            snprintf(err, sizeof(err), "An error occurred when deserializing the json body of a request: %s "
                     "at line %d column %d.", jerr.text, jerr.line, jerr.column);
            goto failed;
        }
    }
    int rc = rt->fn(r, id, jbody, &result, err, sizeof(err));
    json_decref(jbody);
    if (rc)
        goto failed;
    LOG_INFO("API request %s /%s succeeded", rt->method, rt->seg0);
    if (result)
        respond_json(out, 200, result);
    else
        out->status = 204;
    goto done;

failed:
    if (rt->fails)
        metric_inc(rt->fails);
    respond_fault(out, err);
done:
    free(copy);
}
