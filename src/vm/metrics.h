/* metrics.h — Firecracker-style metrics: counters the VMM bumps lock-free, written as one JSON
 * object per line to a file or FIFO on demand (PUT /actions FlushMetrics) and every 60 s.
 *
 * Two kinds of metric, as in Firecracker:
 *  - counters (METRIC_INC): each flush reports the change since the last successful flush;
 *  - stores (METRIC_STORE): each flush reports the current value (startup time, signals).
 *
 * Kiln-wide groups ("api_server", "vcpu", "uart", ...) are fields of the global kiln_metrics:
 *     metric_inc(&kiln_metrics.vcpu.exit_mmio_read);
 * Devices register their own group ("block_rootfs", "net_eth0", "vsock", ...) and count by index:
 *     struct metrics_dev *m = metrics_dev_register("block_rootfs", METRICS_BLOCK_NAMES, METRICS_BLOCK_N);
 *     metrics_dev_add(m, METRIC_BLK_READ_BYTES, len);
 * The "block" and "net" groups in the output are the sums over all block_* and net_* groups. */
#ifndef KILN_VM_METRICS_H
#define KILN_VM_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One metric. Writers only touch cur (relaxed atomics: the counts need no ordering with anything
 * else); prev and pending belong to the flusher, under its mutex. */
struct metric {
    _Atomic uint64_t cur;
    uint64_t prev;      /* cur as of the last successful flush (counters only) */
    uint64_t pending;   /* cur as written by the flush in progress, committed to prev on success */
};

static inline void metric_add(struct metric *m, uint64_t v)
{
    atomic_fetch_add_explicit(&m->cur, v, memory_order_relaxed);
}
static inline void metric_inc(struct metric *m) { metric_add(m, 1); }
static inline void metric_store(struct metric *m, uint64_t v)
{
    atomic_store_explicit(&m->cur, v, memory_order_relaxed);
}
static inline uint64_t metric_get(struct metric *m)
{
    return atomic_load_explicit(&m->cur, memory_order_relaxed);
}

/* The kiln-wide groups, as X-macro lists so the struct and the JSON names cannot drift apart.
 * X(kind, name) with kind INC (reported as a delta) or STORE (reported as is). Names follow
 * Firecracker's so tooling written for its metrics reads kiln's. */
#define METRICS_API_SERVER(X)                                                                  \
    X(STORE, process_startup_time_us) X(STORE, process_startup_time_cpu_us)                   \
    X(INC, sync_response_fails)

#define METRICS_GET_API_REQUESTS(X)                                                            \
    X(INC, instance_info_count) X(INC, machine_cfg_count) X(INC, vmm_version_count)            \
    X(INC, balloon_count) X(INC, vm_config_count)

#define METRICS_PUT_API_REQUESTS(X)                                                            \
    X(INC, actions_count) X(INC, actions_fails) X(INC, boot_source_count)                      \
    X(INC, boot_source_fails) X(INC, drive_count) X(INC, drive_fails) X(INC, logger_count)     \
    X(INC, logger_fails) X(INC, machine_cfg_count) X(INC, machine_cfg_fails)                   \
    X(INC, metrics_count) X(INC, metrics_fails) X(INC, network_count) X(INC, network_fails)    \
    X(INC, vsock_count) X(INC, vsock_fails) X(INC, balloon_count) X(INC, balloon_fails)        \
    X(INC, entropy_count) X(INC, entropy_fails) X(INC, snapshot_create_count)                 \
    X(INC, snapshot_create_fails) X(INC, snapshot_load_count) X(INC, snapshot_load_fails)      \
    X(INC, send_migration_count) X(INC, send_migration_fails) X(INC, receive_migration_count)  \
    X(INC, receive_migration_fails)

#define METRICS_PATCH_API_REQUESTS(X)                                                          \
    X(INC, drive_count) X(INC, drive_fails) X(INC, network_count) X(INC, network_fails)        \
    X(INC, machine_cfg_count) X(INC, machine_cfg_fails) X(INC, balloon_count)                  \
    X(INC, balloon_fails) X(INC, vm_count) X(INC, vm_fails)

/* pause/resume durations of the last PATCH /vm, in µs */
#define METRICS_LATENCIES_US(X)                                                                \
    X(STORE, pause_vm) X(STORE, resume_vm) X(STORE, full_create_snapshot)                      \
    X(STORE, diff_create_snapshot) X(STORE, load_snapshot)

/* the last outgoing live migration (kiln's own group) */
#define METRICS_MIGRATION(X)                                                                   \
    X(STORE, total_ms) X(STORE, downtime_us) X(STORE, rounds) X(STORE, pages_sent)             \
    X(INC, failures)

/* metrics_fails/missed_metrics_count are bumped here; missed_log_count by the logger */
#define METRICS_LOGGER(X)                                                                      \
    X(INC, missed_metrics_count) X(INC, metrics_fails) X(INC, missed_log_count)

#define METRICS_VCPU(X) X(INC, exit_mmio_read) X(INC, exit_mmio_write) X(INC, exit_io_in)      \
    X(INC, exit_io_out) X(INC, failures)

/* a store, as in Firecracker: set once on the way down, then flushed */
#define METRICS_VMM(X) X(STORE, panic_count)

#define METRICS_UART(X)                                                                        \
    X(INC, error_count) X(INC, flush_count) X(INC, missed_read_count)                          \
    X(INC, missed_write_count) X(INC, read_count) X(INC, write_count)

/* Deadly signals are stores (0 or 1) as in Firecracker: a handler sets them and flushes.
 * sigterm and sigint are kiln's: the signals that stop it cleanly. */
#define METRICS_SIGNALS(X)                                                                     \
    X(STORE, sigbus) X(STORE, sigsegv) X(STORE, sigxfsz) X(STORE, sigxcpu) X(INC, sigpipe)     \
    X(STORE, sighup) X(STORE, sigill) X(STORE, sigterm) X(STORE, sigint)

/* kiln's own: the VM's CPU limit (GET /kiln/cpu-limit) and cgroup cpu.stat's counters for it,
 * throttled_us being the time vCPUs slept out of their periods */
#define METRICS_CPU_LIMIT(X)                                                                   \
    X(STORE, quota_us) X(STORE, period_us) X(INC, nr_periods) X(INC, nr_throttled)             \
    X(INC, throttled_us)

/* every kiln-wide group, in output order: X(json_name, LIST) */
#define METRICS_GROUPS(X)                                                                      \
    X(api_server, METRICS_API_SERVER) X(get_api_requests, METRICS_GET_API_REQUESTS)            \
    X(put_api_requests, METRICS_PUT_API_REQUESTS)                                              \
    X(patch_api_requests, METRICS_PATCH_API_REQUESTS) X(latencies_us, METRICS_LATENCIES_US)    \
    X(logger, METRICS_LOGGER) X(vcpu, METRICS_VCPU) X(vmm, METRICS_VMM) X(uart, METRICS_UART)  \
    X(signals, METRICS_SIGNALS) X(migration, METRICS_MIGRATION) X(cpu_limit, METRICS_CPU_LIMIT)

#define METRICS_FIELD_(kind, name) struct metric name;
#define METRICS_GROUP_(gname, LIST) struct { LIST(METRICS_FIELD_) } gname;
struct kiln_metrics {
    METRICS_GROUPS(METRICS_GROUP_)
};
#undef METRICS_GROUP_
#undef METRICS_FIELD_

extern struct kiln_metrics kiln_metrics;

/* Per-device metric lists: X(INDEX, "json_name"). The device counts with
 * metrics_dev_add(d, INDEX, n). Firecracker's names, plus kiln extras where marked. */
#define METRICS_BLOCK_LIST(X)                                                                  \
    X(METRIC_BLK_ACTIVATE_FAILS, "activate_fails")                                             \
    X(METRIC_BLK_CFG_FAILS, "cfg_fails")                                                       \
    X(METRIC_BLK_NO_AVAIL_BUFFER, "no_avail_buffer")                                           \
    X(METRIC_BLK_EVENT_FAILS, "event_fails")                                                   \
    X(METRIC_BLK_EXECUTE_FAILS, "execute_fails")                                               \
    X(METRIC_BLK_INVALID_REQS_COUNT, "invalid_reqs_count")                                     \
    X(METRIC_BLK_FLUSH_COUNT, "flush_count")                                                   \
    X(METRIC_BLK_QUEUE_EVENT_COUNT, "queue_event_count")                                       \
    X(METRIC_BLK_RATE_LIMITER_EVENT_COUNT, "rate_limiter_event_count")                         \
    X(METRIC_BLK_UPDATE_COUNT, "update_count")                                                 \
    X(METRIC_BLK_UPDATE_FAILS, "update_fails")                                                 \
    X(METRIC_BLK_READ_BYTES, "read_bytes")                                                     \
    X(METRIC_BLK_WRITE_BYTES, "write_bytes")                                                   \
    X(METRIC_BLK_READ_COUNT, "read_count")                                                     \
    X(METRIC_BLK_WRITE_COUNT, "write_count")                                                   \
    X(METRIC_BLK_RATE_LIMITER_THROTTLED_EVENTS, "rate_limiter_throttled_events")               \
    X(METRIC_BLK_DISCARD_COUNT, "discard_count") /* kiln */                                    \
    X(METRIC_BLK_WRITE_ZEROES_COUNT, "write_zeroes_count") /* kiln */

#define METRICS_NET_LIST(X)                                                                    \
    X(METRIC_NET_ACTIVATE_FAILS, "activate_fails")                                             \
    X(METRIC_NET_CFG_FAILS, "cfg_fails")                                                       \
    X(METRIC_NET_MAC_ADDRESS_UPDATES, "mac_address_updates")                                   \
    X(METRIC_NET_NO_RX_AVAIL_BUFFER, "no_rx_avail_buffer")                                     \
    X(METRIC_NET_NO_TX_AVAIL_BUFFER, "no_tx_avail_buffer")                                     \
    X(METRIC_NET_EVENT_FAILS, "event_fails")                                                   \
    X(METRIC_NET_RX_QUEUE_EVENT_COUNT, "rx_queue_event_count")                                 \
    X(METRIC_NET_RX_EVENT_RATE_LIMITER_COUNT, "rx_event_rate_limiter_count")                   \
    X(METRIC_NET_RX_RATE_LIMITER_THROTTLED, "rx_rate_limiter_throttled")                       \
    X(METRIC_NET_RX_TAP_EVENT_COUNT, "rx_tap_event_count")                                     \
    X(METRIC_NET_RX_BYTES_COUNT, "rx_bytes_count")                                             \
    X(METRIC_NET_RX_PACKETS_COUNT, "rx_packets_count")                                         \
    X(METRIC_NET_RX_FAILS, "rx_fails")                                                         \
    X(METRIC_NET_RX_COUNT, "rx_count")                                                         \
    X(METRIC_NET_TAP_READ_FAILS, "tap_read_fails")                                             \
    X(METRIC_NET_TAP_WRITE_FAILS, "tap_write_fails")                                           \
    X(METRIC_NET_TX_BYTES_COUNT, "tx_bytes_count")                                             \
    X(METRIC_NET_TX_MALFORMED_FRAMES, "tx_malformed_frames")                                   \
    X(METRIC_NET_TX_FAILS, "tx_fails")                                                         \
    X(METRIC_NET_TX_COUNT, "tx_count")                                                         \
    X(METRIC_NET_TX_PACKETS_COUNT, "tx_packets_count")                                         \
    X(METRIC_NET_TX_QUEUE_EVENT_COUNT, "tx_queue_event_count")                                 \
    X(METRIC_NET_TX_RATE_LIMITER_EVENT_COUNT, "tx_rate_limiter_event_count")                   \
    X(METRIC_NET_TX_RATE_LIMITER_THROTTLED, "tx_rate_limiter_throttled")                       \
    X(METRIC_NET_TX_SPOOFED_MAC_COUNT, "tx_spoofed_mac_count")

#define METRICS_VSOCK_LIST(X)                                                                  \
    X(METRIC_VSOCK_ACTIVATE_FAILS, "activate_fails")                                           \
    X(METRIC_VSOCK_CFG_FAILS, "cfg_fails")                                                     \
    X(METRIC_VSOCK_RX_QUEUE_EVENT_FAILS, "rx_queue_event_fails")                               \
    X(METRIC_VSOCK_TX_QUEUE_EVENT_FAILS, "tx_queue_event_fails")                               \
    X(METRIC_VSOCK_EV_QUEUE_EVENT_FAILS, "ev_queue_event_fails")                               \
    X(METRIC_VSOCK_MUXER_EVENT_FAILS, "muxer_event_fails")                                     \
    X(METRIC_VSOCK_CONN_EVENT_FAILS, "conn_event_fails")                                       \
    X(METRIC_VSOCK_RX_QUEUE_EVENT_COUNT, "rx_queue_event_count")                               \
    X(METRIC_VSOCK_TX_QUEUE_EVENT_COUNT, "tx_queue_event_count")                               \
    X(METRIC_VSOCK_RX_BYTES_COUNT, "rx_bytes_count")                                           \
    X(METRIC_VSOCK_TX_BYTES_COUNT, "tx_bytes_count")                                           \
    X(METRIC_VSOCK_RX_PACKETS_COUNT, "rx_packets_count")                                       \
    X(METRIC_VSOCK_TX_PACKETS_COUNT, "tx_packets_count")                                       \
    X(METRIC_VSOCK_CONNS_ADDED, "conns_added")                                                 \
    X(METRIC_VSOCK_CONNS_KILLED, "conns_killed")                                               \
    X(METRIC_VSOCK_CONNS_REMOVED, "conns_removed")                                             \
    X(METRIC_VSOCK_KILLQ_RESYNC, "killq_resync")                                               \
    X(METRIC_VSOCK_TX_FLUSH_FAILS, "tx_flush_fails")                                           \
    X(METRIC_VSOCK_TX_WRITE_FAILS, "tx_write_fails")                                           \
    X(METRIC_VSOCK_RX_READ_FAILS, "rx_read_fails")

#define METRICS_ENTROPY_LIST(X)                                                                \
    X(METRIC_RNG_ACTIVATE_FAILS, "activate_fails")                                             \
    X(METRIC_RNG_ENTROPY_EVENT_FAILS, "entropy_event_fails")                                   \
    X(METRIC_RNG_ENTROPY_EVENT_COUNT, "entropy_event_count")                                   \
    X(METRIC_RNG_ENTROPY_BYTES, "entropy_bytes")                                               \
    X(METRIC_RNG_HOST_RNG_FAILS, "host_rng_fails")                                             \
    X(METRIC_RNG_ENTROPY_RATE_LIMITER_THROTTLED, "entropy_rate_limiter_throttled")             \
    X(METRIC_RNG_RATE_LIMITER_EVENT_COUNT, "rate_limiter_event_count")

#define METRICS_BALLOON_LIST(X)                                                                \
    X(METRIC_BALLOON_ACTIVATE_FAILS, "activate_fails")                                         \
    X(METRIC_BALLOON_CFG_FAILS, "cfg_fails")                                                   \
    X(METRIC_BALLOON_INFLATE_COUNT, "inflate_count")                                           \
    X(METRIC_BALLOON_STATS_UPDATES_COUNT, "stats_updates_count")                               \
    X(METRIC_BALLOON_STATS_UPDATE_FAILS, "stats_update_fails")                                 \
    X(METRIC_BALLOON_DEFLATE_COUNT, "deflate_count")                                           \
    X(METRIC_BALLOON_EVENT_FAILS, "event_fails")

#define METRICS_ENUM_(idx, name) idx,
enum { METRICS_BLOCK_LIST(METRICS_ENUM_) METRICS_BLOCK_N };
enum { METRICS_NET_LIST(METRICS_ENUM_) METRICS_NET_N };
enum { METRICS_VSOCK_LIST(METRICS_ENUM_) METRICS_VSOCK_N };
enum { METRICS_ENTROPY_LIST(METRICS_ENUM_) METRICS_ENTROPY_N };
enum { METRICS_BALLOON_LIST(METRICS_ENUM_) METRICS_BALLOON_N };
#undef METRICS_ENUM_

extern const char *const metrics_block_names[];
extern const char *const metrics_net_names[];
extern const char *const metrics_vsock_names[];
extern const char *const metrics_entropy_names[];
extern const char *const metrics_balloon_names[];
#define METRICS_BLOCK_NAMES metrics_block_names
#define METRICS_NET_NAMES metrics_net_names
#define METRICS_VSOCK_NAMES metrics_vsock_names
#define METRICS_ENTROPY_NAMES metrics_entropy_names
#define METRICS_BALLOON_NAMES metrics_balloon_names

struct metrics_dev;

/* Registers a device group named `group` ("block_<drive_id>", "net_<iface_id>", "vsock",
 * "entropy", "balloon") with n counters named names[0..n) (the array and its strings must
 * outlive the registration: use the METRICS_*_NAMES constants). Registering a group that already
 * exists with the same names returns the existing one, so a re-created device keeps counting
 * where it left off (Firecracker does the same). NULL when the name is empty, taken by a
 * kiln-wide or aggregate group, already registered with other names, or out of memory; every
 * function below accepts NULL and does nothing, so a device need not care. Thread-safe. */
struct metrics_dev *metrics_dev_register(const char *group, const char *const *names, unsigned n);

/* Adds v to counter `index` of d: one relaxed atomic add, callable from any thread. */
void metrics_dev_add(struct metrics_dev *d, unsigned index, uint64_t v);
static inline void metrics_dev_inc(struct metrics_dev *d, unsigned index) { metrics_dev_add(d, index, 1); }

/* Current absolute value of a counter (for tests and GET handlers); 0 for NULL d. */
uint64_t metrics_dev_get(const struct metrics_dev *d, unsigned index);

/* Opens path (created if missing; a FIFO is opened non-blocking so a reader that stops reading
 * loses metrics instead of stalling the VMM) and starts the periodic flusher. Returns 0, or -1
 * with a message in err: cannot open, or "metrics already configured" on a second call. */
int metrics_configure(const char *path, char *err, size_t errlen);

/* Writes one JSON line: utc_timestamp_ms, the kiln-wide groups, each device group, and the
 * "block"/"net" sums. Counters are deltas since the last successful flush: a failed write
 * commits nothing, so the next flush reports the missed counts too. Returns 0, or -1 when
 * metrics are not configured or the write fails (message in err if err is not NULL). */
int metrics_flush(void);
int metrics_flush_err(char *err, size_t errlen);

/* A function each flush calls first (under the flush's lock), to store values kept elsewhere
 * into kiln_metrics (the VM's CPU limit counters); one at a time, NULL for none. A counter (INC)
 * stored as a running total is reported as its change since the last flush. Clear removes fn
 * only if opaque is still the registered one, and returns once no flush is calling it. */
void metrics_set_sampler(void (*fn)(void *opaque), void *opaque);
void metrics_clear_sampler(void *opaque);

/* Period of the flusher thread; 60000 ms by default. Takes effect at the next configure (tests
 * use a short one). */
void metrics_set_flush_interval_ms(unsigned ms);

/* Stops the flusher, flushes once if configured, closes the file and frees every device group
 * (so devices must be destroyed first). Metrics can be configured again afterwards. */
void metrics_shutdown(void);

#endif
