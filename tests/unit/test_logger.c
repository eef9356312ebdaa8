/* test_logger.c — what ends up in the log: the "kiln: ..." stderr default, Firecracker's line
 * format with and without level and origin, level and module filtering, level names as the API
 * receives them, FIFOs, and whole lines under concurrent logging. Criterion forks per test, so
 * each starts unconfigured. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vm/logger.h"
#include "vm/metrics.h"

static char path[64];

static void tmp_path(void)
{
    snprintf(path, sizeof(path), "/tmp/kiln-log-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

/* The whole file, malloc'd. */
static char *slurp(const char *p)
{
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void configure(enum log_level lvl, bool show_level, bool show_origin)
{
    tmp_path();
    char err[256] = "";
    cr_assert_eq(logger_configure(path, lvl, show_level, show_origin, err, sizeof(err)), 0, "%s", err);
}

static void assert_matches(const char *s, const char *re)
{
    regex_t r;
    cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0, "bad regex %s", re);
    int rc = regexec(&r, s, 0, NULL, 0);
    regfree(&r);
    cr_assert_eq(rc, 0, "'%s' does not match %s", s, re);
}

#define STAMP "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9} "

/* Runs body with fd 2 pointing at a temp file; returns what was written to it. */
static int saved_stderr = -1;
static char stderr_path[64];
static void capture_stderr(void)
{
    snprintf(stderr_path, sizeof(stderr_path), "/tmp/kiln-stderr-XXXXXX");
    int fd = mkstemp(stderr_path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}
static char *release_stderr(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    char *s = slurp(stderr_path);
    unlink(stderr_path);
    return s;
}

Test(logger, default_is_warning_and_up_to_stderr_as_kiln_prefix)
{
    capture_stderr();
    errno = ENOENT;
    LOG_WARN("disk %s: size is odd\n", "a.img");   /* trailing newline of old fprintf calls */
    cr_assert_eq(errno, ENOENT, "logging keeps errno");
    LOG_ERROR("cannot start vCPU threads");
    LOG_INFO("not shown");
    LOG_DEBUG("not shown");
    LOG_TRACE("not shown");
    char *s = release_stderr();
    cr_assert_str_eq(s, "kiln: disk a.img: size is odd\nkiln: cannot start vCPU threads\n");
    free(s);
    cr_assert(log_enabled(LOG_LEVEL_WARN));
    cr_assert(!log_enabled(LOG_LEVEL_INFO));
    cr_assert(!log_enabled(LOG_LEVEL_OFF));
}

Test(logger, parses_level_names_in_any_case)
{
    static const struct { const char *s; enum log_level l; } ok[] = {
        { "Error", LOG_LEVEL_ERROR }, { "ERROR", LOG_LEVEL_ERROR }, { "error", LOG_LEVEL_ERROR },
        { "Warning", LOG_LEVEL_WARN }, { "wArNiNg", LOG_LEVEL_WARN }, { "Warn", LOG_LEVEL_WARN },
        { "Info", LOG_LEVEL_INFO },   { "DEBUG", LOG_LEVEL_DEBUG }, { "trace", LOG_LEVEL_TRACE },
        { "Off", LOG_LEVEL_OFF },     { "OFF", LOG_LEVEL_OFF },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum log_level l = LOG_LEVEL_TRACE + 1;
        cr_assert_eq(log_level_parse(ok[i].s, &l), 0, "%s", ok[i].s);
        cr_assert_eq(l, ok[i].l, "%s", ok[i].s);
    }
    const char *bad[] = { "", "Warnings", "verbose", "Err", " Info", "Info ", "3" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum log_level l = LOG_LEVEL_INFO;
        cr_assert_eq(log_level_parse(bad[i], &l), -1, "'%s'", bad[i]);
        cr_assert_eq(l, LOG_LEVEL_INFO, "out untouched on error");
    }
    enum log_level l;
    cr_assert_eq(log_level_parse(NULL, &l), -1);
}

Test(logger, firecracker_format_with_level_and_origin)
{
    configure(LOG_LEVEL_INFO, true, true);
    LOG_WARN("hello %d", 5);
    int line = __LINE__ - 1;
    char *s = slurp(path);
    char re[256];
    snprintf(re, sizeof(re), STAMP "\\[kiln:main:WARN:tests/unit/test_logger\\.c:%d\\] hello 5\n$", line);
    assert_matches(s, re);
    free(s);
    logger_shutdown();
    unlink(path);
}

Test(logger, firecracker_format_without_level_or_origin)
{
    configure(LOG_LEVEL_INFO, false, false);
    LOG_INFO("plain\n");
    char *s = slurp(path);
    assert_matches(s, STAMP "\\[kiln:main\\] plain\n$");
    free(s);
    logger_shutdown();
    unlink(path);

    configure(LOG_LEVEL_INFO, true, false);
    LOG_ERROR("only the level");
    s = slurp(path);
    assert_matches(s, STAMP "\\[kiln:main:ERROR\\] only the level\n$");
    free(s);
    logger_shutdown();
    unlink(path);

    configure(LOG_LEVEL_INFO, false, true);
    kiln_log(LOG_LEVEL_INFO, "src/vm/vm.c", 123, "only the origin");
    s = slurp(path);
    assert_matches(s, STAMP "\\[kiln:main:src/vm/vm\\.c:123\\] only the origin\n$");
    free(s);
    logger_shutdown();
    unlink(path);
}

Test(logger, level_filtering)
{
    configure(LOG_LEVEL_INFO, true, false);
    LOG_TRACE("t");
    LOG_DEBUG("d");
    LOG_INFO("i");
    LOG_WARN("w");
    LOG_ERROR("e");
    char *s = slurp(path);
    cr_assert(!strstr(s, "TRACE") && !strstr(s, "DEBUG"), "%s", s);
    cr_assert(strstr(s, ":INFO] i\n") && strstr(s, ":WARN] w\n") && strstr(s, ":ERROR] e\n"), "%s", s);
    free(s);

    char err[128];
    cr_assert_eq(logger_configure(NULL, LOG_LEVEL_TRACE, true, false, err, sizeof(err)), 0);
    LOG_TRACE("t2");
    s = slurp(path);   /* NULL path: same file */
    cr_assert(strstr(s, ":TRACE] t2\n"), "%s", s);
    free(s);

    cr_assert_eq(logger_configure(NULL, LOG_LEVEL_OFF, true, false, err, sizeof(err)), 0);
    LOG_ERROR("silenced");
    s = slurp(path);
    cr_assert(!strstr(s, "silenced"), "%s", s);
    free(s);
    cr_assert_eq(logger_configure(NULL, LOG_LEVEL_TRACE + 1, true, false, err, sizeof(err)), -1);
    logger_shutdown();
    unlink(path);
}

Test(logger, module_filter_matches_the_origin_prefix)
{
    configure(LOG_LEVEL_DEBUG, false, true);
    cr_assert_eq(logger_set_module("src/dev/virtio"), 0);
    LOG_WARN("from the test file");
    kiln_log(LOG_LEVEL_WARN, "src/dev/virtio/blk.c", 7, "from blk");
    kiln_log(LOG_LEVEL_WARN, "src/dev/uart16550.c", 9, "from the uart");
    cr_assert_eq(logger_set_module(NULL), 0);
    LOG_WARN("unfiltered again");
    char *s = slurp(path);
    cr_assert(!strstr(s, "from the test file") && !strstr(s, "from the uart"), "%s", s);
    cr_assert(strstr(s, ":src/dev/virtio/blk.c:7] from blk\n"), "%s", s);
    cr_assert(strstr(s, "unfiltered again"), "%s", s);
    free(s);
    logger_shutdown();
    unlink(path);
}

static void *named_thread(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "kiln-vcpu0");
    LOG_WARN("from a vCPU");
    return NULL;
}

Test(logger, other_threads_by_their_name)
{
    configure(LOG_LEVEL_WARN, false, false);
    pthread_t t;
    pthread_create(&t, NULL, named_thread, NULL);
    pthread_join(t, NULL);
    char *s = slurp(path);
    assert_matches(s, STAMP "\\[kiln:kiln-vcpu0\\] from a vCPU\n$");
    free(s);
    logger_shutdown();
    unlink(path);
}

Test(logger, bad_path_keeps_the_previous_configuration)
{
    configure(LOG_LEVEL_WARN, false, false);
    char err[256] = "";
    cr_assert_eq(logger_configure("/nonexistent-kiln-dir/log", LOG_LEVEL_TRACE, true, true, err,
                                  sizeof(err)), -1);
    cr_assert(strstr(err, "cannot open /nonexistent-kiln-dir/log"), "%s", err);
    cr_assert_eq(logger_configure("/tmp", LOG_LEVEL_TRACE, true, true, err, sizeof(err)), -1);
    LOG_DEBUG("still at Warning");
    LOG_WARN("still here");
    char *s = slurp(path);
    assert_matches(s, STAMP "\\[kiln:main\\] still here\n$");
    free(s);
    logger_shutdown();
    unlink(path);
}

Test(logger, shutdown_returns_to_the_stderr_default)
{
    configure(LOG_LEVEL_TRACE, true, true);
    logger_shutdown();
    capture_stderr();
    LOG_INFO("hidden again");
    LOG_WARN("back to %s", "stderr");
    char *s = release_stderr();
    cr_assert_str_eq(s, "kiln: back to stderr\n");
    free(s);
    unlink(path);
}

Test(logger, configured_without_path_writes_firecracker_format_to_stderr)
{
    char err[128];
    cr_assert_eq(logger_configure(NULL, LOG_LEVEL_INFO, true, false, err, sizeof(err)), 0);
    capture_stderr();
    LOG_INFO("to stderr");
    char *s = release_stderr();
    assert_matches(s, STAMP "\\[kiln:main:INFO\\] to stderr\n$");
    free(s);
    logger_shutdown();
}

Test(logger, writes_to_a_fifo_and_counts_what_a_full_one_drops)
{
    snprintf(path, sizeof(path), "/tmp/kiln-log-fifo-%d", (int)getpid());
    unlink(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    char err[256] = "";
    cr_assert_eq(logger_configure(path, LOG_LEVEL_INFO, false, false, err, sizeof(err)), 0, "%s", err);
    int r = open(path, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(r, 0);
    LOG_INFO("through the pipe");
    char buf[256] = "";
    ssize_t n = read(r, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0);
    assert_matches(buf, STAMP "\\[kiln:main\\] through the pipe\n$");

    /* nobody reads: the pipe fills, lines are dropped and counted, the caller never blocks */
    for (int i = 0; i < 2000; i++)
        LOG_INFO("filler line %04d ..............................................", i);
    cr_assert_gt(metric_get(&kiln_metrics.logger.missed_log_count), 0);
    close(r);
    logger_shutdown();
    unlink(path);
}

static void *spam(void *arg)
{
    for (int i = 0; i < 500; i++)
        LOG_WARN("thread %ld line %d %s", (long)(intptr_t)arg, i, "payload payload payload");
    return NULL;
}

Test(logger, concurrent_lines_stay_whole)
{
    configure(LOG_LEVEL_WARN, true, true);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, spam, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = slurp(path);
    int lines = 0;
    for (char *p = s, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++) {
        *nl = '\0';
        char re[] = STAMP "\\[kiln:[^]]*:WARN:tests/unit/test_logger\\.c:[0-9]+\\] thread [0-3] "
                          "line [0-9]+ payload payload payload$";
        assert_matches(p, re);
    }
    cr_assert_eq(lines, 2000);
    free(s);
    logger_shutdown();
    unlink(path);
}
