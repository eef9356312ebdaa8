/* models.c — strict JSON ⇄ struct conversion for the API models (see models.h). Messages follow
 * serde's wording ("missing field `x`", "unknown field `x`, expected one of ...") so clients that
 * match on Firecracker's errors see familiar text, plus the field name serde leaves out. */
#include "api/models.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int api_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "map";
    case JSON_ARRAY: return "sequence";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "floating point";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

/* j must be an object whose keys are all in fields (NULL-terminated). */
static int check_object(const json_t *j, const char *what, const char *const *fields, char *err, size_t errlen)
{
    if (!json_is_object(j))
        return api_fail(err, errlen, "invalid type: %s, expected struct %s", j ? jtype(j) : "nothing", what);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val) {
        bool known = false;
        for (const char *const *f = fields; *f && !known; f++)
            known = !strcmp(key, *f);
        if (known)
            continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *f = fields; *f; f++) {
            int n = snprintf(list + used, sizeof(list) - used, "%s`%s`", f == fields ? "" : ", ", *f);
            if (n < 0 || (size_t)n >= sizeof(list) - used)
                break;
            used += (size_t)n;
        }
        /* the key came from the client: it is valid UTF-8 (jansson checked) but may be huge */
        return api_fail(err, errlen, "unknown field `%.64s`, expected one of %s", key, list);
    }
    return 0;
}

/* Field getters: 1 when present, 0 when absent or null (an error if required), -1 on error. */
static int get_present(const json_t *o, const char *key, bool required, json_t **v, char *err, size_t errlen)
{
    *v = json_object_get(o, key);
    if (!*v || json_is_null(*v)) {
        if (required)
            return api_fail(err, errlen, "missing field `%s`", key);
        return 0;
    }
    return 1;
}

static int get_str(const json_t *o, const char *key, bool required, char *dst, size_t cap, char *err, size_t errlen)
{
    json_t *v;
    int rc = get_present(o, key, required, &v, err, errlen);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return api_fail(err, errlen, "invalid type for field `%s`: %s, expected a string", key, jtype(v));
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (strlen(s) != len)
        return api_fail(err, errlen, "invalid value for field `%s`: the string contains a NUL character", key);
    if (len >= cap)
        return api_fail(err, errlen, "invalid value for field `%s`: longer than %zu bytes", key, cap - 1);
    memcpy(dst, s, len + 1);
    return 1;
}

static int get_bool(const json_t *o, const char *key, bool required, bool *out, char *err, size_t errlen)
{
    json_t *v;
    int rc = get_present(o, key, required, &v, err, errlen);
    if (rc <= 0)
        return rc;
    if (!json_is_boolean(v))
        return api_fail(err, errlen, "invalid type for field `%s`: %s, expected a boolean", key, jtype(v));
    *out = json_is_true(v);
    return 1;
}

/* An unsigned integer no larger than max; tname is the Rust type Firecracker uses (u8, u32...). */
static int get_uint(const json_t *o, const char *key, bool required, uint64_t max, const char *tname,
                    uint64_t *out, char *err, size_t errlen)
{
    json_t *v;
    int rc = get_present(o, key, required, &v, err, errlen);
    if (rc <= 0)
        return rc;
    if (!json_is_integer(v))
        return api_fail(err, errlen, "invalid type for field `%s`: %s, expected %s", key, jtype(v), tname);
    json_int_t n = json_integer_value(v);
    if (n < 0 || (uint64_t)n > max)
        return api_fail(err, errlen, "invalid value for field `%s`: integer `%lld`, expected %s", key, (long long)n, tname);
    *out = (uint64_t)n;
    return 1;
}

static int get_u32(const json_t *o, const char *key, bool required, uint32_t *out, char *err, size_t errlen)
{
    uint64_t v;
    int rc = get_uint(o, key, required, UINT32_MAX, "u32", &v, err, errlen);
    if (rc == 1)
        *out = (uint32_t)v;
    return rc;
}

/* TokenBucket: size and refill_time required, one_time_burst optional. Firecracker treats a
 * bucket with size 0 or refill_time 0 as no limit; so does kiln (size 0 means unlimited). */
static int parse_bucket(const json_t *j, const char *field, struct token_bucket_config *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "size", "one_time_burst", "refill_time", NULL };
    char sub[384];
    memset(out, 0, sizeof(*out));
    if (check_object(j, "TokenBucket", fields, sub, sizeof(sub)) ||
        get_uint(j, "size", true, INT64_MAX, "u64", &out->size, sub, sizeof(sub)) < 0 ||
        get_uint(j, "one_time_burst", false, INT64_MAX, "u64", &out->one_time_burst, sub, sizeof(sub)) < 0 ||
        get_uint(j, "refill_time", true, INT64_MAX, "u64", &out->refill_time_ms, sub, sizeof(sub)) < 0)
        return api_fail(err, errlen, "%s: %s", field, sub);
    if (!out->refill_time_ms)
        out->size = 0;
    if (!out->size)
        memset(out, 0, sizeof(*out));
    return 0;
}

/* A RateLimiter field of o: 1 present (parsed into out), 0 absent/null, -1 error. */
static int get_rate_limiter(const json_t *o, const char *key, struct rate_limiter_config *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "bandwidth", "ops", NULL };
    json_t *v, *b;
    memset(out, 0, sizeof(*out));
    int rc = get_present(o, key, false, &v, err, errlen);
    if (rc <= 0)
        return rc;
    char sub[400];
    if (check_object(v, "RateLimiter", fields, sub, sizeof(sub)))
        return api_fail(err, errlen, "%s: %s", key, sub);
    char name[64];
    if ((b = json_object_get(v, "bandwidth")) && !json_is_null(b)) {
        snprintf(name, sizeof(name), "%s.bandwidth", key);
        if (parse_bucket(b, name, &out->bandwidth, err, errlen))
            return -1;
    }
    if ((b = json_object_get(v, "ops")) && !json_is_null(b)) {
        snprintf(name, sizeof(name), "%s.ops", key);
        if (parse_bucket(b, name, &out->ops, err, errlen))
            return -1;
    }
    return 1;
}

/* A string field that must be absent, null or one of the values kiln implements. */
static int get_enum(const json_t *o, const char *key, const char *const *allowed, const char *const *known,
                    char *err, size_t errlen)
{
    char val[64];
    int rc = get_str(o, key, false, val, sizeof(val), err, errlen);
    if (rc <= 0)
        return rc;
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(val, *a))
            return 1;
    for (const char *const *k = known; k && *k; k++)
        if (!strcmp(val, *k))
            return api_fail(err, errlen, "field `%s`: \"%s\" is not supported by kiln", key, val);
    return api_fail(err, errlen, "unknown variant `%s` for field `%s`", val, key);
}

int model_parse_boot_source(json_t *j, struct vmm_boot_source *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "kernel_image_path", "initrd_path", "boot_args", NULL };
    memset(out, 0, sizeof(*out));
    if (check_object(j, "BootSource", fields, err, errlen) ||
        get_str(j, "kernel_image_path", true, out->kernel_image_path, sizeof(out->kernel_image_path), err, errlen) < 0 ||
        get_str(j, "initrd_path", false, out->initrd_path, sizeof(out->initrd_path), err, errlen) < 0 ||
        get_str(j, "boot_args", false, out->boot_args, sizeof(out->boot_args), err, errlen) < 0)
        return -1;
    out->set = true;
    return 0;
}

int model_parse_machine(json_t *j, bool partial, struct model_machine *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "vcpu_count", "mem_size_mib", "smt", "track_dirty_pages",
                                          "cpu_template", "huge_pages", NULL };
    static const char *const tmpl_ok[] = { "None", NULL };
    static const char *const tmpl_known[] = { "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", NULL };
    static const char *const huge_ok[] = { "None", NULL };
    static const char *const huge_known[] = { "2M", NULL };
    uint64_t vcpus = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "MachineConfiguration", fields, err, errlen))
        return -1;
    if ((rc = get_uint(j, "vcpu_count", !partial, UINT8_MAX, "u8", &vcpus, err, errlen)) < 0)
        return -1;
    out->has_vcpus = rc;
    out->vcpus = (unsigned)vcpus;
    if ((rc = get_uint(j, "mem_size_mib", !partial, INT64_MAX, "usize", &out->mem_mib, err, errlen)) < 0)
        return -1;
    out->has_mem = rc;
    if ((rc = get_bool(j, "smt", false, &out->smt, err, errlen)) < 0)
        return -1;
    out->has_smt = rc;
    if ((rc = get_bool(j, "track_dirty_pages", false, &out->track_dirty_pages, err, errlen)) < 0)
        return -1;
    out->has_track = rc;
    /* CPU templates mask x86/arm CPUID features: kiln offers none (its vCPUs show what they have) */
    if (get_enum(j, "cpu_template", tmpl_ok, tmpl_known, err, errlen) < 0 ||
        get_enum(j, "huge_pages", huge_ok, huge_known, err, errlen) < 0)
        return -1;
    return 0;
}

static int parse_drive_id(const json_t *j, char *id, char *err, size_t errlen)
{
    return get_str(j, "drive_id", true, id, VMM_ID_MAX, err, errlen) < 0 ? -1 : 0;
}

int model_parse_drive(json_t *j, struct vmm_drive *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "drive_id", "path_on_host", "is_root_device", "is_read_only",
                                          "partuuid", "rate_limiter", "cache_type", "io_engine", "socket", NULL };
    static const char *const cache_ok[] = { "Unsafe", "Writeback", NULL };
    static const char *const engine_ok[] = { "Sync", "Async", NULL };
    int rc;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "Drive", fields, err, errlen) || parse_drive_id(j, out->drive_id, err, errlen))
        return -1;
    if (json_object_get(j, "socket") && !json_is_null(json_object_get(j, "socket")))
        return api_fail(err, errlen, "field `socket`: vhost-user block devices are not supported by kiln");
    if (get_str(j, "path_on_host", true, out->path_on_host, sizeof(out->path_on_host), err, errlen) < 0 ||
        get_bool(j, "is_root_device", true, &out->is_root_device, err, errlen) < 0 ||
        get_bool(j, "is_read_only", false, &out->is_read_only, err, errlen) < 0 ||
        get_str(j, "partuuid", false, out->partuuid, sizeof(out->partuuid), err, errlen) < 0 ||
        get_enum(j, "cache_type", cache_ok, NULL, err, errlen) < 0 ||
        get_enum(j, "io_engine", engine_ok, NULL, err, errlen) < 0)
        return -1;
    if ((rc = get_rate_limiter(j, "rate_limiter", &out->rate_limiter, err, errlen)) < 0)
        return -1;
    out->has_rate_limiter = rc;
    return 0;
}

int model_parse_drive_patch(json_t *j, struct model_drive_patch *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
    int rc;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "PartialDrive", fields, err, errlen) || parse_drive_id(j, out->drive_id, err, errlen))
        return -1;
    if ((rc = get_str(j, "path_on_host", false, out->path_on_host, sizeof(out->path_on_host), err, errlen)) < 0)
        return -1;
    out->has_path = rc;
    if ((rc = get_rate_limiter(j, "rate_limiter", &out->limit, err, errlen)) < 0)
        return -1;
    out->has_limit = rc;
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char end;
    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (s[i * 3 + 2] != (i < 5 ? ':' : '\0'))
            return -1;
        mac[i] = (uint8_t)b[i];
    }
    return 0;
}

int model_parse_net(json_t *j, struct vmm_net *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "iface_id", "host_dev_name", "guest_mac", "rx_rate_limiter",
                                          "tx_rate_limiter", NULL };
    char mac[32];
    int rc;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "NetworkInterface", fields, err, errlen) ||
        get_str(j, "iface_id", true, out->iface_id, sizeof(out->iface_id), err, errlen) < 0 ||
        get_str(j, "host_dev_name", true, out->host_dev_name, sizeof(out->host_dev_name), err, errlen) < 0)
        return -1;
    if ((rc = get_str(j, "guest_mac", false, mac, sizeof(mac), err, errlen)) < 0)
        return -1;
    if (rc && parse_mac(mac, out->guest_mac))
        return api_fail(err, errlen, "invalid value for field `guest_mac`: \"%s\", expected a MAC address like "
                    "\"06:00:AC:10:00:02\"", mac);
    out->has_mac = rc;
    if ((rc = get_rate_limiter(j, "rx_rate_limiter", &out->rx_rate_limiter, err, errlen)) < 0)
        return -1;
    out->has_rx_rate_limiter = rc;
    if ((rc = get_rate_limiter(j, "tx_rate_limiter", &out->tx_rate_limiter, err, errlen)) < 0)
        return -1;
    out->has_tx_rate_limiter = rc;
    return 0;
}

int model_parse_net_patch(json_t *j, struct model_net_patch *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter", NULL };
    int rc;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "PartialNetworkInterface", fields, err, errlen) ||
        get_str(j, "iface_id", true, out->iface_id, sizeof(out->iface_id), err, errlen) < 0)
        return -1;
    if ((rc = get_rate_limiter(j, "rx_rate_limiter", &out->rx, err, errlen)) < 0)
        return -1;
    out->has_rx = rc;
    if ((rc = get_rate_limiter(j, "tx_rate_limiter", &out->tx, err, errlen)) < 0)
        return -1;
    out->has_tx = rc;
    return 0;
}

int model_parse_vsock(json_t *j, struct vmm_vsock *out, char *err, size_t errlen)
{
    /* vsock_id is deprecated in Firecracker and ignored there too */
    static const char *const fields[] = { "guest_cid", "uds_path", "vsock_id", NULL };
    char ignored[VMM_ID_MAX];
    memset(out, 0, sizeof(*out));
    if (check_object(j, "Vsock", fields, err, errlen) ||
        get_u32(j, "guest_cid", true, &out->guest_cid, err, errlen) < 0 ||
        get_str(j, "uds_path", true, out->uds_path, sizeof(out->uds_path), err, errlen) < 0 ||
        get_str(j, "vsock_id", false, ignored, sizeof(ignored), err, errlen) < 0)
        return -1;
    out->set = true;
    return 0;
}

int model_parse_entropy(json_t *j, struct vmm_entropy *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "rate_limiter", NULL };
    int rc;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "EntropyDevice", fields, err, errlen))
        return -1;
    if ((rc = get_rate_limiter(j, "rate_limiter", &out->rate_limiter, err, errlen)) < 0)
        return -1;
    out->has_rate_limiter = rc;
    out->set = true;
    return 0;
}

int model_parse_balloon(json_t *j, struct vmm_balloon *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "amount_mib", "deflate_on_oom", "stats_polling_interval_s",
                                          "free_page_hinting", "free_page_reporting", NULL };
    uint64_t interval = 0;
    bool hinting = false, reporting = false;
    memset(out, 0, sizeof(*out));
    if (check_object(j, "Balloon", fields, err, errlen) ||
        get_u32(j, "amount_mib", true, &out->amount_mib, err, errlen) < 0 ||
        get_bool(j, "deflate_on_oom", true, &out->deflate_on_oom, err, errlen) < 0 ||
        get_uint(j, "stats_polling_interval_s", false, UINT16_MAX, "u16", &interval, err, errlen) < 0 ||
        get_bool(j, "free_page_hinting", false, &hinting, err, errlen) < 0 ||
        get_bool(j, "free_page_reporting", false, &reporting, err, errlen) < 0)
        return -1;
    if (hinting || reporting)
        return api_fail(err, errlen, "field `%s`: free page %s is not supported by kiln",
                    hinting ? "free_page_hinting" : "free_page_reporting", hinting ? "hinting" : "reporting");
    out->stats_polling_interval_s = (uint32_t)interval;
    out->set = true;
    return 0;
}

int model_parse_cpu_limit(json_t *j, struct vmm_cpu_limit *out, bool *has_priority, char *err, size_t errlen)
{
    static const char *const fields[] = { "quota_us", "period_us", "vcpu_priority", NULL };
    char prio[16] = "";
    memset(out, 0, sizeof(*out));
    out->period_us = CPU_QUOTA_DEFAULT_PERIOD_US;
    int has = 0;
    if (check_object(j, "CpuLimit", fields, err, errlen) ||
        get_uint(j, "quota_us", false, UINT32_MAX, "u32", &out->quota_us, err, errlen) < 0 ||
        get_uint(j, "period_us", false, UINT32_MAX, "u32", &out->period_us, err, errlen) < 0 ||
        (has = get_str(j, "vcpu_priority", false, prio, sizeof(prio), err, errlen)) < 0)
        return -1;
    *has_priority = has > 0;
    if (has > 0) {
        enum cpu_priority p;
        char why[128];
        if (cpu_priority_parse(prio, &p, why, sizeof(why)))
            return api_fail(err, errlen, "invalid value for field `vcpu_priority`: %s", why);
        out->vcpu_priority = p;
    }
    out->set = true;
    return 0;
}

int model_parse_balloon_update(json_t *j, uint32_t *amount_mib, char *err, size_t errlen)
{
    static const char *const fields[] = { "amount_mib", NULL };
    if (check_object(j, "BalloonUpdate", fields, err, errlen) ||
        get_u32(j, "amount_mib", true, amount_mib, err, errlen) < 0)
        return -1;
    return 0;
}

int model_parse_balloon_stats_update(json_t *j, uint32_t *interval_s, char *err, size_t errlen)
{
    static const char *const fields[] = { "stats_polling_interval_s", NULL };
    uint64_t v = 0;
    if (check_object(j, "BalloonStatsUpdate", fields, err, errlen) ||
        get_uint(j, "stats_polling_interval_s", true, UINT16_MAX, "u16", &v, err, errlen) < 0)
        return -1;
    *interval_s = (uint32_t)v;
    return 0;
}

int model_parse_logger(json_t *j, struct model_logger *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "log_path", "level", "show_level", "show_log_origin", "module", NULL };
    int rc;
    memset(out, 0, sizeof(*out));
    out->level = LOG_LEVEL_WARN;
    if (check_object(j, "LoggerConfig", fields, err, errlen))
        return -1;
    if ((rc = get_str(j, "log_path", false, out->log_path, sizeof(out->log_path), err, errlen)) < 0)
        return -1;
    out->has_path = rc;
    if ((rc = get_str(j, "level", false, out->level_name, sizeof(out->level_name), err, errlen)) < 0)
        return -1;
    if (rc && log_level_parse(out->level_name, &out->level))
        return api_fail(err, errlen, "unknown variant `%s` for field `level`, expected one of `Off`, `Trace`, "
                    "`Debug`, `Info`, `Warning`, `Error`", out->level_name);
    out->has_level = rc;
    if (get_bool(j, "show_level", false, &out->show_level, err, errlen) < 0 ||
        get_bool(j, "show_log_origin", false, &out->show_log_origin, err, errlen) < 0)
        return -1;
    if ((rc = get_str(j, "module", false, out->module, sizeof(out->module), err, errlen)) < 0)
        return -1;
    out->has_module = rc;
    return 0;
}

int model_parse_metrics(json_t *j, char *path, size_t pathlen, char *err, size_t errlen)
{
    static const char *const fields[] = { "metrics_path", NULL };
    if (check_object(j, "MetricsConfig", fields, err, errlen) ||
        get_str(j, "metrics_path", true, path, pathlen, err, errlen) < 0)
        return -1;
    return 0;
}

int model_parse_serial(json_t *j, char *path, size_t pathlen, char *err, size_t errlen)
{
    static const char *const fields[] = { "serial_out_path", NULL };
    path[0] = '\0';
    if (check_object(j, "SerialConfig", fields, err, errlen) ||
        get_str(j, "serial_out_path", false, path, pathlen, err, errlen) < 0)
        return -1;
    return 0;
}

int model_parse_action(json_t *j, enum model_action *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "action_type", NULL };
    char v[32];
    if (check_object(j, "ActionBody", fields, err, errlen) ||
        get_str(j, "action_type", true, v, sizeof(v), err, errlen) < 0)
        return -1;
    if (!strcmp(v, "InstanceStart"))
        *out = MODEL_ACTION_INSTANCE_START;
    else if (!strcmp(v, "SendCtrlAltDel"))
        *out = MODEL_ACTION_SEND_CTRL_ALT_DEL;
    else if (!strcmp(v, "FlushMetrics"))
        *out = MODEL_ACTION_FLUSH_METRICS;
    else
        return api_fail(err, errlen, "unknown variant `%s`, expected one of `FlushMetrics`, `InstanceStart`, "
                    "`SendCtrlAltDel`", v);
    return 0;
}

int model_parse_vm_state(json_t *j, bool *pause, char *err, size_t errlen)
{
    static const char *const fields[] = { "state", NULL };
    char v[32];
    if (check_object(j, "Vm", fields, err, errlen) || get_str(j, "state", true, v, sizeof(v), err, errlen) < 0)
        return -1;
    if (!strcmp(v, "Paused"))
        *pause = true;
    else if (!strcmp(v, "Resumed"))
        *pause = false;
    else
        return api_fail(err, errlen, "unknown variant `%s`, expected `Paused` or `Resumed`", v);
    return 0;
}

/* ---- to JSON ---- */

static json_t *bucket_json(const struct token_bucket_config *b)
{
    return json_pack("{s:I,s:I,s:I}", "size", (json_int_t)b->size, "one_time_burst", (json_int_t)b->one_time_burst,
                     "refill_time", (json_int_t)b->refill_time_ms);
}

json_t *model_rate_limiter_json(const struct rate_limiter_config *rl)
{
    json_t *o = json_object();
    if (rl->bandwidth.size)
        json_object_set_new(o, "bandwidth", bucket_json(&rl->bandwidth));
    if (rl->ops.size)
        json_object_set_new(o, "ops", bucket_json(&rl->ops));
    return o;
}

json_t *model_boot_source_json(const struct vmm_boot_source *b)
{
    json_t *o = json_pack("{s:s}", "kernel_image_path", b->kernel_image_path);
    if (b->initrd_path[0])
        json_object_set_new(o, "initrd_path", json_string(b->initrd_path));
    if (b->boot_args[0])
        json_object_set_new(o, "boot_args", json_string(b->boot_args));
    return o;
}

json_t *model_machine_json(const struct vmm_machine_config *m)
{
    return json_pack("{s:i,s:I,s:b,s:b,s:s}", "vcpu_count", (int)m->vcpu_count, "mem_size_mib",
                     (json_int_t)m->mem_size_mib, "smt", m->smt, "track_dirty_pages", m->track_dirty_pages,
                     "huge_pages", "None");
}

json_t *model_drive_json(const struct vmm_drive *d)
{
    json_t *o = json_pack("{s:s,s:s,s:b,s:b,s:s,s:s}", "drive_id", d->drive_id, "path_on_host", d->path_on_host,
                          "is_root_device", d->is_root_device, "is_read_only", d->is_read_only,
                          "cache_type", "Unsafe", "io_engine", "Sync");
    if (d->partuuid[0])
        json_object_set_new(o, "partuuid", json_string(d->partuuid));
    if (d->has_rate_limiter)
        json_object_set_new(o, "rate_limiter", model_rate_limiter_json(&d->rate_limiter));
    return o;
}

json_t *model_net_json(const struct vmm_net *n)
{
    json_t *o = json_pack("{s:s,s:s}", "iface_id", n->iface_id, "host_dev_name", n->host_dev_name);
    if (n->has_mac) {
        char mac[18];
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->guest_mac[0], n->guest_mac[1],
                 n->guest_mac[2], n->guest_mac[3], n->guest_mac[4], n->guest_mac[5]);
        json_object_set_new(o, "guest_mac", json_string(mac));
    }
    if (n->has_rx_rate_limiter)
        json_object_set_new(o, "rx_rate_limiter", model_rate_limiter_json(&n->rx_rate_limiter));
    if (n->has_tx_rate_limiter)
        json_object_set_new(o, "tx_rate_limiter", model_rate_limiter_json(&n->tx_rate_limiter));
    return o;
}

json_t *model_vsock_json(const struct vmm_vsock *s)
{
    return json_pack("{s:I,s:s}", "guest_cid", (json_int_t)s->guest_cid, "uds_path", s->uds_path);
}

json_t *model_entropy_json(const struct vmm_entropy *e)
{
    json_t *o = json_object();
    if (e->has_rate_limiter)
        json_object_set_new(o, "rate_limiter", model_rate_limiter_json(&e->rate_limiter));
    return o;
}

json_t *model_balloon_json(const struct vmm_balloon *b)
{
    return json_pack("{s:I,s:b,s:I}", "amount_mib", (json_int_t)b->amount_mib, "deflate_on_oom", b->deflate_on_oom,
                     "stats_polling_interval_s", (json_int_t)b->stats_polling_interval_s);
}

json_t *model_cpu_limit_json(const struct vmm_cpu_limit *l)
{
    return json_pack("{s:I,s:I,s:s}", "quota_us", (json_int_t)l->quota_us, "period_us", (json_int_t)l->period_us,
                     "vcpu_priority", cpu_priority_name(l->vcpu_priority));
}

json_t *model_balloon_stats_json(const struct balloon_stats *s)
{
    /* pages are the virtio balloon's 4 KiB pages whatever the host page size */
    json_t *o = json_pack("{s:I,s:I,s:I,s:I}", "target_pages", (json_int_t)s->target_pages, "actual_pages",
                          (json_int_t)s->actual_pages, "target_mib", (json_int_t)(s->target_pages >> 8),
                          "actual_mib", (json_int_t)(s->actual_pages >> 8));
    const struct { const char *name; uint64_t v; } opt[] = {
        { "swap_in", s->swap_in }, { "swap_out", s->swap_out }, { "major_faults", s->major_faults },
        { "minor_faults", s->minor_faults }, { "free_memory", s->free_memory },
        { "total_memory", s->total_memory }, { "available_memory", s->available_memory },
        { "disk_caches", s->disk_caches }, { "hugetlb_allocations", s->hugetlb_allocations },
        { "hugetlb_failures", s->hugetlb_failures },
    };
    /* a statistic the guest never reported is left out, as Firecracker does */
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
        if (opt[i].v != UINT64_MAX)
            json_object_set_new(o, opt[i].name, json_integer((json_int_t)opt[i].v));
    return o;
}

json_t *model_logger_json(const struct model_logger *l)
{
    json_t *o = json_pack("{s:s,s:b,s:b}", "level", l->has_level ? l->level_name : "Warning", "show_level",
                          l->show_level, "show_log_origin", l->show_log_origin);
    if (l->has_path)
        json_object_set_new(o, "log_path", json_string(l->log_path));
    if (l->has_module)
        json_object_set_new(o, "module", json_string(l->module));
    return o;
}

/* ---- snapshots (Firecracker) and migration (Cloud Hypervisor) ---- */

int model_parse_snapshot_create(json_t *j, struct model_snapshot_create *out, char *err, size_t errlen)
{
    /* "version" is deprecated in Firecracker (ignored there too) */
    static const char *const fields[] = { "snapshot_type", "snapshot_path", "mem_file_path", "version", NULL };
    static const char *const types[] = { "Full", "Diff", NULL };
    char type[16] = "Full", ignored[64];
    memset(out, 0, sizeof(*out));
    if (check_object(j, "CreateSnapshotParams", fields, err, errlen) ||
        get_enum(j, "snapshot_type", types, NULL, err, errlen) < 0 ||
        get_str(j, "snapshot_type", false, type, sizeof(type), err, errlen) < 0 ||
        get_str(j, "snapshot_path", true, out->snapshot_path, sizeof(out->snapshot_path), err, errlen) < 0 ||
        get_str(j, "mem_file_path", true, out->mem_file_path, sizeof(out->mem_file_path), err, errlen) < 0 ||
        get_str(j, "version", false, ignored, sizeof(ignored), err, errlen) < 0)
        return -1;
    out->diff = !strcmp(type, "Diff");
    return 0;
}

static int parse_mem_backend(json_t *j, struct model_snapshot_load *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "backend_type", "backend_path", NULL };
    static const char *const types[] = { "File", NULL }, *const known[] = { "Uffd", NULL };
    json_t *mb, *type;
    int rc = get_present(j, "mem_backend", false, &mb, err, errlen);
    if (rc <= 0)
        return rc;
    if (check_object(mb, "MemBackendConfig", fields, err, errlen) ||
        get_enum(mb, "backend_type", types, known, err, errlen) < 0 ||
        get_present(mb, "backend_type", true, &type, err, errlen) < 0 ||
        get_str(mb, "backend_path", true, out->mem_path, sizeof(out->mem_path), err, errlen) < 0)
        return -1;
    return 1;
}

static int parse_net_overrides(json_t *j, struct model_snapshot_load *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "iface_id", "host_dev_name", NULL };
    json_t *list;
    int rc = get_present(j, "network_overrides", false, &list, err, errlen);
    if (rc <= 0)
        return rc;
    if (!json_is_array(list))
        return api_fail(err, errlen, "invalid type for field `network_overrides`: %s, expected a sequence", jtype(list));
    if (json_array_size(list) > KILN_MAX_VIRTIO)
        return api_fail(err, errlen, "field `network_overrides`: more than %d entries", KILN_MAX_VIRTIO);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        struct model_net_override *o = &out->net_overrides[out->n_net_overrides++];
        if (check_object(item, "NetworkOverride", fields, err, errlen) ||
            get_str(item, "iface_id", true, o->iface_id, sizeof(o->iface_id), err, errlen) < 0 ||
            get_str(item, "host_dev_name", true, o->host_dev_name, sizeof(o->host_dev_name), err, errlen) < 0)
            return -1;
    }
    return 1;
}

int model_parse_snapshot_load(json_t *j, struct model_snapshot_load *out, char *err, size_t errlen)
{
    static const char *const fields[] = { "snapshot_path", "mem_file_path", "mem_backend", "enable_diff_snapshots",
                                          "track_dirty_pages", "resume_vm", "network_overrides",
                                          "vsock_override", NULL };
    static const char *const vsock_fields[] = { "uds_path", NULL };
    memset(out, 0, sizeof(*out));
    bool diff = false, track = false;
    int has_file, has_backend;
    json_t *vs;
    if (check_object(j, "LoadSnapshotParams", fields, err, errlen) ||
        get_str(j, "snapshot_path", true, out->snapshot_path, sizeof(out->snapshot_path), err, errlen) < 0 ||
        (has_file = get_str(j, "mem_file_path", false, out->mem_path, sizeof(out->mem_path), err, errlen)) < 0 ||
        (has_backend = parse_mem_backend(j, out, err, errlen)) < 0 ||
        get_bool(j, "enable_diff_snapshots", false, &diff, err, errlen) < 0 ||
        get_bool(j, "track_dirty_pages", false, &track, err, errlen) < 0 ||
        get_bool(j, "resume_vm", false, &out->resume_vm, err, errlen) < 0 ||
        parse_net_overrides(j, out, err, errlen) < 0)
        return -1;
    /* Firecracker's rule: exactly one of the two ways to name the memory file */
    if (has_file && has_backend)
        return api_fail(err, errlen, "too many fields: either `mem_backend` or `mem_file_path` exclusively");
    if (!has_file && !has_backend)
        return api_fail(err, errlen, "missing field: either `mem_backend` or `mem_file_path` is required");
    out->track_dirty_pages = diff || track;
    int rc = get_present(j, "vsock_override", false, &vs, err, errlen);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        if (check_object(vs, "VsockOverride", vsock_fields, err, errlen) ||
            get_str(vs, "uds_path", true, out->vsock_uds_path, sizeof(out->vsock_uds_path), err, errlen) < 0)
            return -1;
        out->has_vsock_override = true;
    }
    return 0;
}

int model_parse_migration(json_t *j, const char *url_key, struct model_migration *out, char *err, size_t errlen)
{
    /* Cloud Hypervisor's bodies ("local" asks for its fd-passing fast path: not in kiln) */
    const char *const fields[] = { url_key, "downtime_ms", "timeout_s", "local", NULL };
    bool local = false;
    memset(out, 0, sizeof(*out));
    out->downtime_ms = 50;
    out->timeout_s = 3600;
    if (check_object(j, "MigrationConfig", fields, err, errlen) ||
        get_str(j, url_key, true, out->url, sizeof(out->url), err, errlen) < 0 ||
        get_u32(j, "downtime_ms", false, &out->downtime_ms, err, errlen) < 0 ||
        get_u32(j, "timeout_s", false, &out->timeout_s, err, errlen) < 0 ||
        get_bool(j, "local", false, &local, err, errlen) < 0)
        return -1;
    if (local)
        return api_fail(err, errlen, "field `local`: local (fd-passing) migration is not supported by kiln");
    if (strncmp(out->url, "unix:", 5) && strncmp(out->url, "tcp:", 4))
        return api_fail(err, errlen, "field `%s`: \"%.256s\" is not unix:PATH or tcp:HOST:PORT", url_key, out->url);
    if (!out->timeout_s)
        return api_fail(err, errlen, "field `timeout_s` must be at least 1");
    return 0;
}
