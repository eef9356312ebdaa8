/* test_metrics.c — the metrics line as a consumer sees it: parsed back with jansson, counters as
 * deltas between flushes, stores as values, block/net as the sums of their devices, a full FIFO
 * costing a line but no counts, and the periodic and final flushes. Criterion forks per test, so
 * each starts with fresh globals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "vm/metrics.h"

static char path[64];

static void tmp_path(void)
{
    snprintf(path, sizeof(path), "/tmp/kiln-metrics-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void configure(void)
{
    tmp_path();
    char err[256] = "";
    cr_assert_eq(metrics_configure(path, err, sizeof(err)), 0, "%s", err);
}

/* Every line written so far, parsed; *n gets their count. Caller json_decref's each. */
static json_t **read_lines(int *n)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    json_t **v = NULL;
    *n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        cr_assert_not_null(j, "bad JSON line: %s (%s)", e.text, line);
        v = realloc(v, sizeof(*v) * (size_t)(*n + 1));
        v[(*n)++] = j;
    }
    free(line);
    fclose(f);
    return v;
}

/* How many complete lines the metrics file holds so far. */
static int count_lines(void)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    int n = 0, c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void free_lines(json_t **v, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

/* The line of flush number k (0-based), as a new reference. */
static json_t *line_at(int k)
{
    int n;
    json_t **v = read_lines(&n);
    cr_assert_gt(n, k, "only %d metrics lines", n);
    json_t *j = json_incref(v[k]);
    free_lines(v, n);
    return j;
}

static long long val(json_t *root, const char *group, const char *name)
{
    json_t *g = json_object_get(root, group);
    cr_assert(json_is_object(g), "no group %s", group);
    json_t *x = json_object_get(g, name);
    cr_assert(json_is_integer(x), "no %s.%s", group, name);
    return json_integer_value(x);
}

Test(metrics, flush_before_configure_is_an_error)
{
    char err[128] = "";
    cr_assert_eq(metrics_flush(), -1);
    cr_assert_eq(metrics_flush_err(err, sizeof(err)), -1);
    cr_assert(strstr(err, "not configured"), "%s", err);
    metrics_shutdown();   /* harmless when never configured */
}

Test(metrics, configure_twice_is_an_error)
{
    configure();
    char err[128] = "";
    cr_assert_eq(metrics_configure(path, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "metrics already configured");
    metrics_shutdown();
    unlink(path);
}

Test(metrics, unwritable_path_is_an_error)
{
    char err[256] = "";
    cr_assert_eq(metrics_configure("/nonexistent-kiln-dir/metrics", err, sizeof(err)), -1);
    cr_assert(strstr(err, "cannot open /nonexistent-kiln-dir/metrics"), "%s", err);
    cr_assert_eq(metrics_configure("/tmp", err, sizeof(err)), -1);   /* a directory */
    cr_assert_eq(metrics_configure("", err, sizeof(err)), -1);
    cr_assert_eq(metrics_flush(), -1, "a failed configure leaves metrics unconfigured");
}

Test(metrics, line_shape_timestamp_first)
{
    configure();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    cr_assert_eq(metrics_flush(), 0);

    FILE *f = fopen(path, "r");
    char head[32] = "";
    cr_assert_not_null(fgets(head, sizeof(head), f));
    fclose(f);
    cr_assert(!strncmp(head, "{\"utc_timestamp_ms\":", 20), "%s", head);

    json_t *j = line_at(0);
    long long t = json_integer_value(json_object_get(j, "utc_timestamp_ms"));
    cr_assert(t >= now_ms - 1000 && t <= now_ms + 5000, "timestamp %lld vs %lld", t, now_ms);
    const char *groups[] = { "api_server", "get_api_requests", "put_api_requests",
                             "patch_api_requests", "latencies_us", "logger", "vcpu", "vmm", "uart",
                             "signals", "block", "net", "vsock", "entropy", "balloon" };
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        cr_assert(json_is_object(json_object_get(j, groups[i])), "missing %s", groups[i]);
    cr_assert_eq(val(j, "put_api_requests", "drive_fails"), 0);
    cr_assert_eq(val(j, "block", "read_bytes"), 0);
    cr_assert_eq(val(j, "vsock", "conns_added"), 0);
    cr_assert_eq(val(j, "entropy", "entropy_bytes"), 0);
    cr_assert_eq(val(j, "balloon", "inflate_count"), 0);
    json_decref(j);
    metrics_shutdown();
    unlink(path);
}

Test(metrics, counters_are_deltas_between_flushes)
{
    configure();
    for (int i = 0; i < 3; i++)
        metric_inc(&kiln_metrics.vcpu.exit_mmio_read);
    metric_add(&kiln_metrics.put_api_requests.drive_count, 2);
    cr_assert_eq(metrics_flush(), 0);
    cr_assert_eq(metrics_flush(), 0);   /* nothing changed */
    for (int i = 0; i < 7; i++)
        metric_inc(&kiln_metrics.vcpu.exit_mmio_read);
    cr_assert_eq(metrics_flush(), 0);

    int n;
    json_t **v = read_lines(&n);
    cr_assert_eq(n, 3);
    cr_assert_eq(val(v[0], "vcpu", "exit_mmio_read"), 3);
    cr_assert_eq(val(v[0], "put_api_requests", "drive_count"), 2);
    cr_assert_eq(val(v[0], "vcpu", "exit_mmio_write"), 0);
    cr_assert_eq(val(v[1], "vcpu", "exit_mmio_read"), 0);
    cr_assert_eq(val(v[1], "put_api_requests", "drive_count"), 0);
    cr_assert_eq(val(v[2], "vcpu", "exit_mmio_read"), 7);
    free_lines(v, n);
    cr_assert_eq(metric_get(&kiln_metrics.vcpu.exit_mmio_read), 10, "the live count never resets");
    metrics_shutdown();
    unlink(path);
}

Test(metrics, stores_keep_their_value)
{
    configure();
    metric_store(&kiln_metrics.api_server.process_startup_time_us, 1234);
    metric_store(&kiln_metrics.signals.sigbus, 1);
    cr_assert_eq(metrics_flush(), 0);
    cr_assert_eq(metrics_flush(), 0);
    metric_store(&kiln_metrics.api_server.process_startup_time_us, 99);
    cr_assert_eq(metrics_flush(), 0);

    int n;
    json_t **v = read_lines(&n);
    cr_assert_eq(n, 3);
    cr_assert_eq(val(v[0], "api_server", "process_startup_time_us"), 1234);
    cr_assert_eq(val(v[1], "api_server", "process_startup_time_us"), 1234);
    cr_assert_eq(val(v[1], "signals", "sigbus"), 1);
    cr_assert_eq(val(v[2], "api_server", "process_startup_time_us"), 99);
    free_lines(v, n);
    metrics_shutdown();
    unlink(path);
}

Test(metrics, device_groups_and_their_sums)
{
    struct metrics_dev *root = metrics_dev_register("block_rootfs", METRICS_BLOCK_NAMES, METRICS_BLOCK_N);
    struct metrics_dev *data = metrics_dev_register("block_data", METRICS_BLOCK_NAMES, METRICS_BLOCK_N);
    struct metrics_dev *eth0 = metrics_dev_register("net_eth0", METRICS_NET_NAMES, METRICS_NET_N);
    struct metrics_dev *eth1 = metrics_dev_register("net_eth1", METRICS_NET_NAMES, METRICS_NET_N);
    struct metrics_dev *vsock = metrics_dev_register("vsock", METRICS_VSOCK_NAMES, METRICS_VSOCK_N);
    cr_assert(root && data && eth0 && eth1 && vsock);
    configure();   /* registration does not depend on configuration, in either order */

    metrics_dev_add(root, METRIC_BLK_READ_BYTES, 4096);
    metrics_dev_inc(root, METRIC_BLK_READ_COUNT);
    metrics_dev_add(data, METRIC_BLK_READ_BYTES, 512);
    metrics_dev_inc(data, METRIC_BLK_READ_COUNT);
    metrics_dev_add(data, METRIC_BLK_WRITE_BYTES, 1024);
    metrics_dev_inc(data, METRIC_BLK_WRITE_COUNT);
    metrics_dev_add(eth0, METRIC_NET_RX_BYTES_COUNT, 100);
    metrics_dev_add(eth1, METRIC_NET_RX_BYTES_COUNT, 23);
    metrics_dev_add(eth1, METRIC_NET_TX_PACKETS_COUNT, 5);
    metrics_dev_add(vsock, METRIC_VSOCK_CONNS_ADDED, 2);
    cr_assert_eq(metrics_dev_get(data, METRIC_BLK_WRITE_BYTES), 1024);
    cr_assert_eq(metrics_flush(), 0);
    cr_assert_eq(metrics_flush(), 0);
    metrics_dev_add(data, METRIC_BLK_WRITE_BYTES, 8);
    cr_assert_eq(metrics_flush(), 0);

    int n;
    json_t **v = read_lines(&n);
    cr_assert_eq(n, 3);
    cr_assert_eq(val(v[0], "block_rootfs", "read_bytes"), 4096);
    cr_assert_eq(val(v[0], "block_data", "read_bytes"), 512);
    cr_assert_eq(val(v[0], "block", "read_bytes"), 4608);
    cr_assert_eq(val(v[0], "block", "read_count"), 2);
    cr_assert_eq(val(v[0], "block", "write_bytes"), 1024);
    cr_assert_eq(val(v[0], "block", "write_count"), 1);
    cr_assert_eq(val(v[0], "net_eth0", "rx_bytes_count"), 100);
    cr_assert_eq(val(v[0], "net", "rx_bytes_count"), 123);
    cr_assert_eq(val(v[0], "net", "tx_packets_count"), 5);
    cr_assert_eq(val(v[0], "vsock", "conns_added"), 2);
    cr_assert_eq(val(v[1], "block", "read_bytes"), 0);
    cr_assert_eq(val(v[1], "block_rootfs", "read_bytes"), 0);
    cr_assert_eq(val(v[1], "net", "rx_bytes_count"), 0);
    cr_assert_eq(val(v[1], "vsock", "conns_added"), 0);
    cr_assert_eq(val(v[2], "block", "write_bytes"), 8);
    cr_assert_eq(val(v[2], "block_data", "write_bytes"), 8);
    cr_assert_eq(val(v[2], "block_rootfs", "write_bytes"), 0);
    cr_assert_eq(json_object_size(json_object_get(v[2], "block")), METRICS_BLOCK_N);
    free_lines(v, n);
    metrics_shutdown();
    unlink(path);
}

Test(metrics, registration_rules)
{
    struct metrics_dev *a = metrics_dev_register("entropy", METRICS_ENTROPY_NAMES, METRICS_ENTROPY_N);
    cr_assert_not_null(a);
    metrics_dev_add(a, METRIC_RNG_ENTROPY_BYTES, 64);
    /* a re-created device gets the same counters back */
    cr_assert_eq(metrics_dev_register("entropy", METRICS_ENTROPY_NAMES, METRICS_ENTROPY_N), a);
    cr_assert_eq(metrics_dev_get(a, METRIC_RNG_ENTROPY_BYTES), 64);
    /* the same name with another layout, kiln-wide and aggregate names, and nonsense: refused */
    cr_assert_null(metrics_dev_register("entropy", METRICS_BALLOON_NAMES, METRICS_BALLOON_N));
    cr_assert_null(metrics_dev_register("vcpu", METRICS_BLOCK_NAMES, METRICS_BLOCK_N));
    cr_assert_null(metrics_dev_register("block", METRICS_BLOCK_NAMES, METRICS_BLOCK_N));
    cr_assert_null(metrics_dev_register("net", METRICS_NET_NAMES, METRICS_NET_N));
    cr_assert_null(metrics_dev_register("utc_timestamp_ms", METRICS_NET_NAMES, METRICS_NET_N));
    cr_assert_null(metrics_dev_register("", METRICS_NET_NAMES, METRICS_NET_N));
    cr_assert_null(metrics_dev_register("x", METRICS_NET_NAMES, 0));
    /* a device whose registration failed just counts into nothing */
    metrics_dev_add(NULL, 0, 1);
    metrics_dev_inc(NULL, 3);
    cr_assert_eq(metrics_dev_get(NULL, 0), 0);
    cr_assert_eq(metrics_dev_get(a, 1000), 0);
    metrics_shutdown();
}

Test(metrics, full_fifo_loses_the_line_not_the_counts)
{
    snprintf(path, sizeof(path), "/tmp/kiln-metrics-fifo-%d", (int)getpid());
    unlink(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    char err[256] = "";
    cr_assert_eq(metrics_configure(path, err, sizeof(err)), 0, "%s", err);   /* no reader yet */

    /* fill the pipe from outside so that the next metrics line cannot go in */
    int w = open(path, O_WRONLY | O_NONBLOCK);
    cr_assert_geq(w, 0);
    char junk[4096];
    memset(junk, 'x', sizeof(junk));
    while (write(w, junk, sizeof(junk)) > 0)
        ;
    cr_assert_eq(errno, EAGAIN);
    while (write(w, junk, 1) > 0)
        ;
    close(w);

    metric_add(&kiln_metrics.uart.write_count, 11);
    cr_assert_eq(metrics_flush_err(err, sizeof(err)), -1);
    cr_assert(strstr(err, "FIFO is full"), "%s", err);
    cr_assert_eq(metric_get(&kiln_metrics.logger.missed_metrics_count), 1);

    /* a reader drains it; the next line carries the counts the lost one had */
    int r = open(path, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(r, 0);
    while (read(r, junk, sizeof(junk)) > 0)
        ;
    metric_add(&kiln_metrics.uart.write_count, 1);
    cr_assert_eq(metrics_flush(), 0);
    static char buf[1 << 16];
    ssize_t len = read(r, buf, sizeof(buf) - 1);
    cr_assert_gt(len, 0);
    buf[len] = '\0';
    cr_assert_eq(buf[len - 1], '\n');
    json_t *j = json_loads(buf, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(val(j, "uart", "write_count"), 12);
    cr_assert_eq(val(j, "logger", "missed_metrics_count"), 1);
    json_decref(j);
    close(r);
    metrics_shutdown();
    unlink(path);
}

Test(metrics, periodic_and_final_flush)
{
    metrics_set_flush_interval_ms(20);
    configure();
    /* wait for two periodic lines; a loaded CI machine under ASan can stretch 40 ms a lot, so
     * the deadline is generous: without a flusher no line ever comes and the test fails there */
    int periodic = 0;
    for (int waited_ms = 0; periodic < 2 && waited_ms < 10000; waited_ms += 10) {
        struct timespec d = { 0, 10 * 1000000 };
        nanosleep(&d, NULL);
        periodic = count_lines();
    }
    cr_assert_geq(periodic, 2, "only %d periodic lines in 10 s at a 20 ms interval", periodic);
    metric_add(&kiln_metrics.uart.read_count, 42);
    metrics_shutdown();   /* stops the flusher, then flushes the last counts */

    int n;
    json_t **v = read_lines(&n);
    cr_assert_geq(n, periodic + 1, "the final flush wrote no line (%d lines)", n);
    long long total = 0;
    for (int i = 0; i < n; i++)
        total += val(v[i], "uart", "read_count");
    cr_assert_eq(total, 42);
    cr_assert_eq(val(v[n - 1], "uart", "read_count"), 42);
    free_lines(v, n);

    /* and it can be configured again */
    unlink(path);
    metrics_set_flush_interval_ms(60000);
    configure();
    metrics_shutdown();
    unlink(path);
}

static struct metrics_dev *hammered;
static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        metrics_dev_inc(hammered, METRIC_NET_TX_COUNT);
        metric_inc(&kiln_metrics.vcpu.exit_mmio_write);
    }
    return NULL;
}

/* Counts bumped while flushes run are each reported exactly once. */
Test(metrics, concurrent_counts_add_up)
{
    hammered = metrics_dev_register("net_tap0", METRICS_NET_NAMES, METRICS_NET_N);
    metrics_set_flush_interval_ms(1);
    configure();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 50; i++)
        metrics_flush();   /* also races with the 1 ms flusher */
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    metrics_shutdown();

    int n;
    json_t **v = read_lines(&n);
    long long dev = 0, agg = 0, vcpu = 0;
    for (int i = 0; i < n; i++) {
        dev += val(v[i], "net_tap0", "tx_count");
        agg += val(v[i], "net", "tx_count");
        vcpu += val(v[i], "vcpu", "exit_mmio_write");
    }
    free_lines(v, n);
    cr_assert_eq(dev, 400000);
    cr_assert_eq(agg, 400000);
    cr_assert_eq(vcpu, 400000);
    unlink(path);
}
