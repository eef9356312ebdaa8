/* state_cli.c — snapshots and migration from the command line:
 *   kiln snapshot create --api-sock SOCK --snapshot FILE --mem FILE [--diff] [--resume]
 *   kiln snapshot merge BASE_MEM DIFF_MEM
 *   kiln restore --snapshot FILE --mem FILE [--api-sock PATH]
 *   kiln migrate --api-sock SOCK --to unix:PATH|tcp:HOST:PORT [--downtime-ms N] [--timeout-s N]
 *   kiln receive --from unix:PATH|tcp:HOST:PORT [--api-sock PATH]
 * create and migrate drive a running kiln through its API (the same routes a client uses);
 * restore and receive start a kiln the way `kiln --api-sock` does, from a snapshot or a
 * migration instead of a configuration. */
#include "cli/state_cli.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "cli/api_client.h"
#include "vm/config.h"
#include "vm/snapshot_file.h"

static const char USAGE[] =
    "usage: kiln snapshot create --api-sock SOCK --snapshot FILE --mem FILE [--diff] [--resume]\n"
    "       kiln snapshot merge BASE_MEM DIFF_MEM\n"
    "       kiln restore --snapshot FILE --mem FILE [--api-sock PATH]\n"
    "       kiln migrate --api-sock SOCK --to unix:PATH|tcp:HOST:PORT [--downtime-ms N] [--timeout-s N]\n"
    "       kiln receive --from unix:PATH|tcp:HOST:PORT [--api-sock PATH]\n";

struct state_opts {
    const char *sock, *snapshot, *mem, *url;
    bool diff, resume;
    long downtime_ms, timeout_s;
};

static int usage(const char *why)
{
    fprintf(stderr, "kiln: %s\n%s", why, USAGE);
    return KILN_EXIT_USAGE;
}

/* --flag VALUE pairs and switches after the subcommand. Returns 0 or an exit status. */
static int parse(int argc, char **argv, struct state_opts *o)
{
    *o = (struct state_opts){ .downtime_ms = 50, .timeout_s = 3600 };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **str = !strcmp(a, "--api-sock") ? &o->sock : !strcmp(a, "--snapshot") ? &o->snapshot
                         : !strcmp(a, "--mem") ? &o->mem : !strcmp(a, "--to") || !strcmp(a, "--from") ? &o->url : NULL;
        long *num = !strcmp(a, "--downtime-ms") ? &o->downtime_ms : !strcmp(a, "--timeout-s") ? &o->timeout_s : NULL;
        if (!strcmp(a, "--diff")) {
            o->diff = true;
        } else if (!strcmp(a, "--resume")) {
            o->resume = true;
        } else if (str || num) {
            if (!v) {
                fprintf(stderr, "kiln: %s needs a value\n", a);
                return KILN_EXIT_USAGE;
            }
            char *end;
            if (num && ((*num = strtol(v, &end, 10)) < 0 || *end || !*v || *num > 0x7fffffff)) {
                fprintf(stderr, "kiln: %s: '%s' is not a whole number\n", a, v);
                return KILN_EXIT_USAGE;
            }
            if (str)
                *str = v;
            i++;
        } else {
            fprintf(stderr, "kiln: unknown option '%s'\n", a);
            return KILN_EXIT_USAGE;
        }
    }
    return 0;
}

/* Sends one request; prints the fault on failure. Returns 0 or 1. */
static int call(const char *sock, const char *method, const char *path, json_t *body, json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct api_reply r;
    int rc = api_request(sock, method, path, text, &r);
    free(text);
    if (rc) {
        fprintf(stderr, "kiln: %s\n", r.body);
        return 1;
    }
    json_t *j = json_loads(r.body, 0, NULL);
    if (r.status >= 300) {
        const char *msg = json_string_value(json_object_get(j, "fault_message"));
        fprintf(stderr, "kiln: %s %s: %s\n", method, path, msg ? msg : r.body);
        json_decref(j);
        return 1;
    }
    if (out)
        *out = j;
    else
        json_decref(j);
    return 0;
}

static int snapshot_create(const struct state_opts *o)
{
    if (!o->sock || !o->snapshot || !o->mem)
        return usage("snapshot create needs --api-sock, --snapshot and --mem");
    if (call(o->sock, "PATCH", "/vm", json_pack("{s:s}", "state", "Paused"), NULL))
        return 1;
    int rc = call(o->sock, "PUT", "/snapshot/create",
                  json_pack("{s:s,s:s,s:s}", "snapshot_type", o->diff ? "Diff" : "Full", "snapshot_path",
                            o->snapshot, "mem_file_path", o->mem), NULL);
    if (o->resume && call(o->sock, "PATCH", "/vm", json_pack("{s:s}", "state", "Resumed"), NULL))
        rc = 1;
    if (!rc)
        printf("snapshot: %s (state), %s (memory)%s\n", o->snapshot, o->mem, o->resume ? "; the VM runs on" : "; the VM is paused");
    return rc;
}

static int migrate(const struct state_opts *o)
{
    if (!o->sock || !o->url)
        return usage("migrate needs --api-sock and --to");
    json_t *stats = NULL;
    if (call(o->sock, "PUT", "/vm.send-migration",
             json_pack("{s:s,s:I,s:I}", "destination_url", o->url, "downtime_ms", (json_int_t)o->downtime_ms,
                       "timeout_s", (json_int_t)o->timeout_s), &stats))
        return 1;
    printf("migrated to %s: %lld ms in all, guest paused %.1f ms, %lld rounds, %lld pages\n", o->url,
           (long long)json_integer_value(json_object_get(stats, "total_ms")),
           json_number_value(json_object_get(stats, "downtime_ms")),
           (long long)json_integer_value(json_object_get(stats, "rounds")),
           (long long)json_integer_value(json_object_get(stats, "pages_sent")));
    json_decref(stats);
    return 0;
}

/* restore / receive: a kiln in API mode that starts from a snapshot or a migration. */
static int start_kiln(const struct state_opts *o, bool restore, uint64_t start_ns)
{
    if (restore ? !o->snapshot || !o->mem : !o->url)
        return usage(restore ? "restore needs --snapshot and --mem" : "receive needs --from");
    char *args[12];
    int n = 0;
    args[n++] = "kiln";
    if (restore) {
        args[n++] = "--restore-snapshot";
        args[n++] = (char *)o->snapshot;
        args[n++] = "--restore-mem";
        args[n++] = (char *)o->mem;
    } else {
        args[n++] = "--receive-migration";
        args[n++] = (char *)o->url;
    }
    if (o->sock) {
        args[n++] = "--api-sock";
        args[n++] = (char *)o->sock;
    } else {
        args[n++] = "--no-api";
    }
    args[n] = NULL;
    return api_main(n, args, start_ns);
}

int state_cli_main(int argc, char **argv, uint64_t start_ns)
{
    const char *cmd = argv[0];
    struct state_opts o;
    if (!strcmp(cmd, "snapshot")) {
        if (argc < 2)
            return usage("snapshot needs create or merge");
        if (!strcmp(argv[1], "merge")) {
            if (argc != 4)
                return usage("snapshot merge needs BASE_MEM DIFF_MEM");
            char err[600];
            if (snapshot_mem_merge(argv[2], argv[3], err, sizeof(err))) {
                fprintf(stderr, "kiln: %s\n", err);
                return 1;
            }
            printf("merged %s into %s\n", argv[3], argv[2]);
            return 0;
        }
        if (strcmp(argv[1], "create"))
            return usage("snapshot needs create or merge");
        int rc = parse(argc - 2, argv + 2, &o);
        return rc ? rc : snapshot_create(&o);
    }
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc)
        return rc;
    if (!strcmp(cmd, "migrate"))
        return migrate(&o);
    return start_kiln(&o, !strcmp(cmd, "restore"), start_ns);
}
