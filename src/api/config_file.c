/* config_file.c — reads a Firecracker --config-file and applies it resource by resource. */
#include "api/config_file.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Far more than any real configuration; keeps a wrong path (a disk image, say) from being read
 * whole into memory. */
#define CONFIG_FILE_MAX (4u << 20)

/* Applied in this order: logging first so the rest is logged, machine before devices. */
static const char *const order[] = { "logger", "metrics", "machine-config", "boot-source", "drives",
                                     "network-interfaces", "vsock", "entropy", "balloon", "serial", "cpu-limit",
                                     NULL };
/* Keys Firecracker's GET /vm/config writes for features kiln lacks: accepted when null, so that
 * output can be fed back as a config file. */
static const char *const null_only[] = { "cpu-config", "mmds-config", NULL };

static bool in(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (!strcmp(*list, key))
            return true;
    return false;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* grown as needed: a real configuration is a few KiB, so no 4 MiB block per read */
    char *buf = NULL;
    size_t n = 0, cap = 0;
    bool bad = false;
    while (!bad && n == cap && cap <= CONFIG_FILE_MAX) {
        size_t ncap = cap ? 2 * cap : 16384;
        if (ncap > CONFIG_FILE_MAX + 1)
            ncap = CONFIG_FILE_MAX + 1;
        char *nbuf = realloc(buf, ncap);
        if (!nbuf) {
            free(buf);
            buf = NULL;
            bad = true;
            break;
        }
        buf = nbuf;
        cap = ncap;
        n += fread(buf + n, 1, cap - n, f);
        bad = ferror(f);
    }
    fclose(f);
    if (bad || n > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "cannot read %s: %s", path, !buf ? "out of memory" : bad ? "read error" : "file too large");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int apply_item(struct routes *r, const char *path, const char *key, long index, json_t *item, char *err,
                      size_t errlen)
{
    char msg[ROUTES_ERR_MAX];
    if (!routes_put(r, key, item, msg, sizeof(msg)))
        return 0;
    if (index >= 0)
        snprintf(err, errlen, "%s: \"%s\"[%ld]: %s", path, key, index, msg);
    else
        snprintf(err, errlen, "%s: \"%s\": %s", path, key, msg);
    return -1;
}

enum config_file_status config_file_apply(struct routes *r, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (!text)
        return CONFIG_FILE_UNREADABLE;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root) {
        snprintf(err, errlen, "%s: invalid JSON: %s at line %d column %d", path, jerr.text, jerr.line, jerr.column);
        return CONFIG_FILE_INVALID;
    }
    enum config_file_status st = config_apply_json(r, path, root, err, errlen);
    json_decref(root);
    return st;
}

enum config_file_status config_apply_json(struct routes *r, const char *path, json_t *root, char *err, size_t errlen)
{
    enum config_file_status st = CONFIG_FILE_INVALID;
    const char *key;
    json_t *val;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a JSON object at the top level", path);
        goto out;
    }
    json_object_foreach(root, key, val) {
        if (in(order, key))
            continue;
        if (in(null_only, key)) {
            if (json_is_null(val))
                continue;
            snprintf(err, errlen, "%s: \"%.64s\" is not supported by kiln (only null is accepted)", path, key);
            goto out;
        }
        snprintf(err, errlen, "%s: unknown field `%.64s`, expected one of `boot-source`, `drives`, `machine-config`, "
                 "`network-interfaces`, `vsock`, `balloon`, `entropy`, `logger`, `metrics`, `serial`, `cpu-limit`", path, key);
        goto out;
    }
    for (const char *const *k = order; *k; k++) {
        val = json_object_get(root, *k);
        if (!val || json_is_null(val))
            continue;
        bool list = !strcmp(*k, "drives") || !strcmp(*k, "network-interfaces");
        if (!list) {
            if (apply_item(r, path, *k, -1, val, err, errlen))
                goto out;
            continue;
        }
        if (!json_is_array(val)) {
            snprintf(err, errlen, "%s: \"%s\" must be an array", path, *k);
            goto out;
        }
        size_t i;
        json_t *item;
        json_array_foreach(val, i, item) {
            if (apply_item(r, path, *k, (long)i, item, err, errlen))
                goto out;
        }
    }
    st = CONFIG_FILE_OK;
out:
    return st;
}
