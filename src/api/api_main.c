/* api_main.c — kiln's Firecracker-style binary: the flags Firecracker takes, an optional
 * --config-file boot, the REST API on a Unix socket, and the process's life around the guest's:
 * it runs until the guest powers off (after InstanceStart) or a signal arrives. */
#include "api/api.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "api/config_file.h"
#include "api/http_server.h"
#include "api/models.h"
#include "api/routes.h"
#include "api/state_api.h"
#include "common/threads.h"
#include "vm/config.h"
#include "vm/logger.h"
#include "vm/metrics.h"
#include "vm/vmm.h"

struct api_opts {
    const char *api_sock, *config_file, *id, *log_path, *level, *metrics_path;
    const char *restore_snapshot, *restore_mem, *receive_url;   /* kiln restore / kiln receive */
    bool no_api, show_level, show_log_origin;
    size_t max_payload;
};

static void print_usage(FILE *f)
{
    fprintf(f,
            "kiln %s — Firecracker-compatible mode\n"
            "\n"
            "usage: kiln --api-sock PATH [options]\n"
            "       kiln --config-file FILE [--api-sock PATH | --no-api] [options]\n"
            "\n"
            "  --api-sock PATH          serve the REST API on this Unix socket (required unless --no-api)\n"
            "  --config-file FILE       configure the microVM from Firecracker's JSON config and start it\n"
            "  --no-api                 no API socket (needs --config-file or a restore); kiln exits with the guest\n"
            "  --restore-snapshot FILE --restore-mem FILE   start from a snapshot (kiln restore)\n"
            "  --receive-migration URL  start from an incoming live migration (kiln receive)\n"
            "  --id ID                  the microVM's id, for GET / (default anonymous-instance)\n"
            "  --log-path PATH          write the log here (file or FIFO) in Firecracker's format\n"
            "  --level LEVEL            log level: Error, Warning, Info, Debug, Trace, Off (default Warning)\n"
            "  --show-level             put the level in each log line\n"
            "  --show-log-origin        put the source file and line in each log line\n"
            "  --metrics-path PATH      write metrics here (file or FIFO), every 60 s and on FlushMetrics\n"
            "  --boot-timer             accepted: kiln always has the boot-timer device\n"
            "  --http-api-max-payload-size N   largest request body in bytes (default %d)\n"
            "  --no-seccomp             accepted: kiln installs no seccomp filters\n"
            "  --start-time-us N, --start-time-cpu-us N, --parent-cpu-time-us N   accepted (jailer), ignored\n"
            "  --version                print kiln's version\n"
            "  --api-help               this help\n"
            "\n"
            "See docs/api.md for the routes.\n",
            KILN_VERSION, HTTP_DEFAULT_MAX_PAYLOAD);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kiln: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see kiln --api-help)\n");
    return KILN_EXIT_USAGE;
}

/* Firecracker's instance id rule: 1 to 64 characters, alphanumerics and '-' */
static bool valid_instance_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 64)
        return false;
    for (const char *p = id; *p; p++)
        if (!(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

/* Returns 0 to go on, -1 to exit 0 (help, version printed), or an exit status. */
static int parse_args(int argc, char **argv, struct api_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->id = "anonymous-instance";
    o->max_payload = HTTP_DEFAULT_MAX_PAYLOAD;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (strncmp(arg, "--", 2))
            return usage_error("unexpected argument '%s'", arg);
        /* "--flag value" as Firecracker takes it, and "--flag=value" too */
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof(name))
            return usage_error("unknown option '%s'", arg);
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        if (eq)
            val = eq + 1;

        static const char *const with_value[] = { "--api-sock", "--config-file", "--id", "--log-path", "--level",
                                                  "--metrics-path", "--http-api-max-payload-size",
                                                  "--start-time-us", "--start-time-cpu-us", "--parent-cpu-time-us",
                                                  "--restore-snapshot", "--restore-mem", "--receive-migration",
                                                  NULL };
        static const char *const flags[] = { "--no-api", "--show-level", "--show-log-origin", "--boot-timer",
                                             "--no-seccomp", "--version", "--api-help", "--help", NULL };
        bool needs_value = false, known = false;
        for (const char *const *w = with_value; *w && !known; w++)
            known = needs_value = !strcmp(name, *w);
        for (const char *const *f = flags; *f && !known; f++)
            known = !strcmp(name, *f);
        if (!known)
            return usage_error("unknown option '%s'", name);
        if (needs_value && !val) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", name);
            val = argv[++i];
        } else if (!needs_value && val) {
            return usage_error("option '%s' takes no value", name);
        }

        if (!strcmp(name, "--api-sock"))
            o->api_sock = val;
        else if (!strcmp(name, "--config-file"))
            o->config_file = val;
        else if (!strcmp(name, "--id"))
            o->id = val;
        else if (!strcmp(name, "--log-path"))
            o->log_path = val;
        else if (!strcmp(name, "--level"))
            o->level = val;
        else if (!strcmp(name, "--metrics-path"))
            o->metrics_path = val;
        else if (!strcmp(name, "--no-api"))
            o->no_api = true;
        else if (!strcmp(name, "--restore-snapshot"))
            o->restore_snapshot = val;
        else if (!strcmp(name, "--restore-mem"))
            o->restore_mem = val;
        else if (!strcmp(name, "--receive-migration"))
            o->receive_url = val;
        else if (!strcmp(name, "--show-level"))
            o->show_level = true;
        else if (!strcmp(name, "--show-log-origin"))
            o->show_log_origin = true;
        else if (!strcmp(name, "--http-api-max-payload-size")) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(val, &end, 10);
            if (errno || *end || !*val || val[0] == '-' || n == 0 || n > (64u << 20))
                return usage_error("invalid --http-api-max-payload-size '%s' (1 to 67108864 bytes)", val);
            o->max_payload = (size_t)n;
        } else if (!strcmp(name, "--version")) {
            printf("kiln %s\n", KILN_VERSION);
            return -1;
        } else if (!strcmp(name, "--api-help") || !strcmp(name, "--help")) {
            print_usage(stdout);
            return -1;
        }
        /* --boot-timer, --no-seccomp and the jailer's timing flags change nothing in kiln */
    }
    if (!valid_instance_id(o->id))
        return usage_error("invalid --id '%s': 1 to 64 characters, letters, digits and '-'", o->id);
    int starts = !!o->config_file + !!o->restore_snapshot + !!o->receive_url;
    if (starts > 1)
        return usage_error("%s: choose one of --config-file, --restore-snapshot, --receive-migration", "kiln");
    if (!o->restore_snapshot != !o->restore_mem)
        return usage_error("%s and --restore-mem go together", "--restore-snapshot");
    if (o->no_api && !starts)
        return usage_error("%s needs --config-file (or a snapshot or migration to start from)", "--no-api");
    if (o->no_api && o->api_sock)
        return usage_error("%s and --api-sock exclude each other", "--no-api");
    if (!o->no_api && !o->api_sock)
        return usage_error("%s is required (or --no-api with --config-file)", "--api-sock PATH");
    if (o->receive_url && strncmp(o->receive_url, "unix:", 5) && strncmp(o->receive_url, "tcp:", 4))
        return usage_error("--receive-migration '%s': expected unix:PATH or tcp:HOST:PORT", o->receive_url);
    enum log_level lvl;
    if (o->level && log_level_parse(o->level, &lvl))
        return usage_error("invalid --level '%s' (Error, Warning, Info, Debug, Trace or Off)", o->level);
    return 0;
}

/* ---- the process around the guest ---- */

struct api_life {
    struct vmm *vmm;
    _Atomic bool started;      /* InstanceStart succeeded (API or config file) */
    _Atomic int signal;        /* the stop signal our thread took, 0 if none */
    _Atomic bool quit;
    struct routes *routes;
};

static void on_start(void *cls)
{
    struct api_life *life = cls;
    atomic_store(&life->started, true);
}

/* SIGINT/SIGTERM/SIGHUP stop the microVM: before InstanceStart that ends the process (status
 * 0: nothing failed); after it, the guest is stopped and the status is 128+signal, as for
 * `kiln run`. vm.c's own signal thread may take the signal instead once the guest runs; it then
 * reports 128+signal itself. */
static void *signal_main(void *arg)
{
    struct api_life *life = arg;
    sigset_t set;
    stop_signals_fill(&set);
    const struct timespec tick = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
    while (!atomic_load(&life->quit)) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig <= 0)
            continue;
        metric_store(sig == SIGINT ? &kiln_metrics.signals.sigint
                     : sig == SIGTERM ? &kiln_metrics.signals.sigterm : &kiln_metrics.signals.sighup, 1);
        int expected = 0;
        atomic_compare_exchange_strong(&life->signal, &expected, sig);
        vmm_stop(life->vmm);
    }
    return NULL;
}

static void http_handler(void *cls, const char *method, const char *path, const char *body, size_t len, int *status,
                         char **resp, size_t *resp_len)
{
    struct api_life *life = cls;
    struct routes_response r;
    routes_handle(life->routes, method, path, body, len, &r);
    *status = r.status;
    *resp = r.body;
    *resp_len = r.len;
}

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Logger and metrics from the flags, through the same code as PUT /logger and PUT /metrics. */
static int configure_from_flags(struct routes *r, const struct api_opts *o)
{
    char err[ROUTES_ERR_MAX];
    if (o->log_path || o->level || o->show_level || o->show_log_origin) {
        struct model_logger l;
        memset(&l, 0, sizeof(l));
        l.level = LOG_LEVEL_WARN;
        if (o->log_path) {
            l.has_path = true;
            snprintf(l.log_path, sizeof(l.log_path), "%s", o->log_path);
        }
        if (o->level) {
            l.has_level = true;
            snprintf(l.level_name, sizeof(l.level_name), "%s", o->level);
            log_level_parse(o->level, &l.level);
        }
        l.show_level = o->show_level;
        l.show_log_origin = o->show_log_origin;
        if (routes_configure_logger(r, &l, err, sizeof(err))) {
            fprintf(stderr, "kiln: --log-path: %s\n", err);
            return KILN_EXIT_NO_INPUT;
        }
    }
    if (o->metrics_path && routes_configure_metrics(r, o->metrics_path, err, sizeof(err))) {
        fprintf(stderr, "kiln: --metrics-path: %s\n", err);
        return KILN_EXIT_NO_INPUT;
    }
    return 0;
}

static int boot_from_file(struct api_life *life, const char *path)
{
    char err[ROUTES_ERR_MAX + 256];
    enum config_file_status st = config_file_apply(life->routes, path, err, sizeof(err));
    if (st != CONFIG_FILE_OK) {
        fprintf(stderr, "kiln: --config-file %s\n", err);
        return st == CONFIG_FILE_UNREADABLE ? KILN_EXIT_NO_INPUT : KILN_EXIT_USAGE;
    }
    if (vmm_start(life->vmm, err, sizeof(err))) {
        fprintf(stderr, "kiln: --config-file %s: %s\n", path, err);
        return 1;
    }
    atomic_store(&life->started, true);
    return 0;
}

/* kiln restore: Firecracker's snapshot load, resumed, before the API (if any) listens. */
static int start_from_snapshot(struct api_life *life, const struct api_opts *o)
{
    struct model_snapshot_load *m = calloc(1, sizeof(*m));
    if (!m)
        return KILN_EXIT_HOST;
    snprintf(m->snapshot_path, sizeof(m->snapshot_path), "%s", o->restore_snapshot);
    snprintf(m->mem_path, sizeof(m->mem_path), "%s", o->restore_mem);
    m->resume_vm = true;
    char err[ROUTES_ERR_MAX];
    int rc = api_snapshot_load(life->routes, m, err, sizeof(err));
    free(m);
    if (rc) {
        fprintf(stderr, "kiln: %s\n", err);
        return access(o->restore_snapshot, R_OK) || access(o->restore_mem, R_OK) ? KILN_EXIT_NO_INPUT
                                                                                    : KILN_EXIT_BAD_IMAGE;
    }
    return 0;
}

/* kiln receive: waits for a live migration and runs the VM it brings. */
static int start_from_migration(struct api_life *life, const struct api_opts *o)
{
    struct model_migration m = { .downtime_ms = 50, .timeout_s = 3600 };
    snprintf(m.url, sizeof(m.url), "%s", o->receive_url);
    char err[ROUTES_ERR_MAX];
    fprintf(stderr, "kiln: waiting for a migration on %s\n", o->receive_url);
    if (api_receive_migration(life->routes, &m, err, sizeof(err))) {
        fprintf(stderr, "kiln: %s\n", err);
        return 1;
    }
    return 0;
}

int api_main(int argc, char **argv, uint64_t start_ns)
{
    struct api_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;

    /* Every thread created from here on inherits this mask, so the stop signals reach only the
     * threads that wait for them; a vanished client must not kill the process with SIGPIPE. */
    stop_signals_block();
    signal(SIGPIPE, SIG_IGN);

    struct api_life life = { 0 };
    struct http_server *server = NULL;
    pthread_t sigthread;
    bool sigthread_running = false;
    int status = 0;

    life.vmm = vmm_new(start_ns);
    life.routes = life.vmm ? routes_new(life.vmm, o.id, on_start, &life) : NULL;
    if (!life.routes) {
        fprintf(stderr, "kiln: out of memory\n");
        status = KILN_EXIT_HOST;
        goto out;
    }
    if ((status = configure_from_flags(life.routes, &o)))
        goto out;
    if (pthread_create(&sigthread, NULL, signal_main, &life)) {
        fprintf(stderr, "kiln: cannot create the signal thread\n");
        status = KILN_EXIT_HOST;
        goto out;
    }
    sigthread_running = true;

    if (o.config_file && (status = boot_from_file(&life, o.config_file)))
        goto out;
    if (o.restore_snapshot && (status = start_from_snapshot(&life, &o)))
        goto out;
    if (o.receive_url && (status = start_from_migration(&life, &o)))
        goto out;

    if (!o.no_api) {
        char err[512];
        int fd = http_listen_unix(o.api_sock, err, sizeof(err));
        if (fd < 0 || !(server = http_server_start(fd, o.max_payload, http_handler, &life, err, sizeof(err)))) {
            fprintf(stderr, "kiln: %s\n", err);
            status = KILN_EXIT_NO_INPUT;
            goto out;
        }
        metric_store(&kiln_metrics.api_server.process_startup_time_us, (clock_us(CLOCK_MONOTONIC) - start_ns / 1000));
        metric_store(&kiln_metrics.api_server.process_startup_time_cpu_us, clock_us(CLOCK_PROCESS_CPUTIME_ID));
        LOG_INFO("API server listening on %s", o.api_sock);
    }

    /* Until the guest stops, or a signal stops the microVM (before InstanceStart too). */
    status = vmm_wait(life.vmm);
    int sig = atomic_load(&life.signal);
    if (sig) {
        if (atomic_load(&life.started)) {
            fprintf(stderr, "kiln: stopped by signal %d (%s)\n", sig, strsignal(sig));
            status = 128 + sig;
        } else {
            status = 0;
        }
    }

out:
    /* the API thread first: no request may reach the controller while it is freed */
    http_server_stop(server);
    if (server)
        unlink(o.api_sock);
    if (sigthread_running) {
        atomic_store(&life.quit, true);
        pthread_join(sigthread, NULL);
    }
    routes_free(life.routes);
    vmm_free(life.vmm);
    metrics_shutdown();
    logger_shutdown();
    return status;
}
