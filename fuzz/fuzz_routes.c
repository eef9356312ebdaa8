/* fuzz_routes.c — the API's routes and JSON models (src/api/routes.c, models.c) on a vmm that
 * is never started: up to 8 requests per input, each "METHOD PATH\nBODY", separated by NUL
 * bytes, go through routes_handle as the HTTP server hands them over. Paths in bodies are
 * moved out of harm's way (fuzz_api.h); InstanceStart (it would boot) and incoming migration
 * (it would listen) only reach their models. Then the property GET /vm/config promises: its
 * output applied as a config file to a fresh kiln is accepted and reads back the same. */
#include "api/config_file.h"
#include "api/models.h"
#include "fuzz_api.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_api_init();
    return 0;
}

/* The first path segment, as routes_handle splits it. */
static bool first_segment_is(const char *path, const char *seg)
{
    while (*path == '/')
        path++;
    size_t n = strlen(seg);
    return !strncmp(path, seg, n) && (path[n] == 0 || path[n] == '/');
}

static void check_response(const struct routes_response *out)
{
    FUZZ_CHECK(out->status == 200 || out->status == 204 || out->status == 400, "status %d", out->status);
    if (out->status == 204) {
        FUZZ_CHECK(!out->body, "a 204 with a body");
        return;
    }
    FUZZ_CHECK(out->body && strlen(out->body) == out->len, "a %d without a proper body", out->status);
    json_error_t e;
    json_t *j = json_loadb(out->body, out->len, 0, &e);
    FUZZ_CHECK(j, "response is not JSON: %s", out->body);
    if (out->status == 400)
        FUZZ_CHECK(json_is_string(json_object_get(j, "fault_message")), "a 400 without fault_message");
    json_decref(j);
}

static void one_request(struct routes *r, const char *req, size_t len)
{
    const char *nl = memchr(req, '\n', len), *sp = memchr(req, ' ', nl ? (size_t)(nl - req) : len);
    if (!sp)
        return;
    char *method = strndup(req, (size_t)(sp - req));
    char *path = strndup(sp + 1, nl ? (size_t)(nl - sp - 1) : len - (size_t)(sp + 1 - req));
    const char *body = nl ? nl + 1 : NULL;
    size_t blen = nl ? len - (size_t)(body - req) : 0;

    json_error_t e;
    json_t *j = blen ? json_loadb(body, blen, JSON_REJECT_DUPLICATES, &e) : NULL;
    char err[ROUTES_ERR_MAX];
    if (j && !strcmp(method, "PUT") && first_segment_is(path, "actions")) {
        enum model_action a;
        model_parse_action(j, &a, err, sizeof(err));
    } else if (j && !strcmp(method, "PUT") && first_segment_is(path, "vm.receive-migration")) {
        struct model_migration m;
        model_parse_migration(j, "receiver_url", &m, err, sizeof(err));
    } else {
        char *text = NULL;
        if (j) {
            fuzz_sanitize_paths(j);
            text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        }
        struct routes_response out;
        char *copy = fuzz_dup((const uint8_t *)(text ? text : body), text ? strlen(text) : blen);
        routes_handle(r, method, path, copy, text ? strlen(text) : blen, &out);
        check_response(&out);
        free(out.body);
        free(copy);
        free(text);
    }
    json_decref(j);
    free(method);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vmm *v1, *v2;
    struct vmm *v = fuzz_fresh_vmm(&v1);
    struct routes *r = routes_new(v, "fuzz", NULL, NULL);
    char *in = fuzz_dup(data, size);
    size_t pos = 0;
    for (int n = 0; n < 8 && pos < size; n++) {
        const char *end = memchr(in + pos, 0, size - pos);
        size_t len = end ? (size_t)(end - (in + pos)) : size - pos;
        one_request(r, in + pos, len);
        pos += len + 1;
    }
    free(in);

    /* GET /vm/config, fed back as a config file, must give the same configuration */
    json_t *cfg = routes_vm_config(r);
    FUZZ_CHECK(cfg, "GET /vm/config failed");
    /* process-wide, and set by the requests above (a second process would configure them) */
    json_object_del(cfg, "logger");
    json_object_del(cfg, "metrics");
    struct routes *r2 = routes_new(fuzz_fresh_vmm(&v2), "fuzz", NULL, NULL);
    char err[ROUTES_ERR_MAX + 256];
    enum config_file_status st = config_apply_json(r2, "vm-config", cfg, err, sizeof(err));
    char *text = json_dumps(cfg, JSON_COMPACT);
    FUZZ_CHECK(st == CONFIG_FILE_OK, "GET /vm/config output refused as a config file: %s\n%s", err, text);
    json_t *cfg2 = routes_vm_config(r2);
    json_object_del(cfg2, "logger");
    json_object_del(cfg2, "metrics");
    char *text2 = json_dumps(cfg2, JSON_COMPACT);
    FUZZ_CHECK(json_equal(cfg, cfg2), "config round trip differs:\n%s\n%s", text, text2);
    free(text);
    free(text2);
    json_decref(cfg);
    json_decref(cfg2);
    routes_free(r2);
    routes_free(r);
    fuzz_api_reset();
    return 0;
}
