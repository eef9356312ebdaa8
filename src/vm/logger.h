/* logger.h — kiln's log, configurable like Firecracker's (PUT /logger).
 *
 * Until logger_configure, Warning and above go to stderr as "kiln: <message>", the format kiln
 * has always printed. Once configured, each line is Firecracker's:
 *     2026-12-02T16:00:00.123456789 [kiln:main:WARN:src/vm/vm.c:123] message
 * (":WARN" only with show_level, ":file:line" only with show_origin), appended to the file or
 * FIFO with one write() so lines from different threads never interleave.
 *
 * The macros are named LOG_ERROR..LOG_TRACE: a file using them must not include <syslog.h>,
 * whose LOG_INFO and LOG_DEBUG mean something else. */
#ifndef KILN_VM_LOGGER_H
#define KILN_VM_LOGGER_H

#include <stdbool.h>
#include <stddef.h>

/* In order of verbosity: a message is written when its level is <= the configured one. */
enum log_level {
    LOG_LEVEL_OFF,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
};

/* Logs one message; a single trailing newline in it is dropped (the logger ends each line), so
 * fprintf(stderr, "kiln: ...\n") calls convert as they are. origin is __FILE__. */
void kiln_log(enum log_level lvl, const char *origin, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_ERROR(...) kiln_log(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_WARN(...) kiln_log(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_INFO(...) kiln_log(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_DEBUG(...) kiln_log(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_TRACE(...) kiln_log(LOG_LEVEL_TRACE, __FILE__, __LINE__, __VA_ARGS__)

/* True when a message at lvl would be written: lets a caller skip costly arguments. */
bool log_enabled(enum log_level lvl);

/* "Error", "Warning" (or "Warn"), "Info", "Debug", "Trace", "Off", in any case. Returns 0, or
 * -1 for anything else (out untouched). */
int log_level_parse(const char *s, enum log_level *out);

/* Switches to the Firecracker format at `level`. path is the file or FIFO to append to (created
 * if missing; a FIFO is opened non-blocking so a stalled reader costs log lines, counted in
 * logger.missed_log_count, never a stalled vCPU); NULL keeps the current destination, stderr at
 * first. May be called again to change any setting. Returns 0, or -1 with a message in err (the
 * previous configuration then stays). */
int logger_configure(const char *path, enum log_level level, bool show_level, bool show_origin,
                     char *err, size_t errlen);

/* Firecracker's "module" filter: only messages whose origin (source path, e.g. "src/dev/virtio")
 * starts with prefix are written. NULL or "" writes all. Returns 0, or -1 out of memory. */
int logger_set_module(const char *prefix);

/* Closes the log file and returns to the default: Warning and above to stderr as "kiln: ...". */
void logger_shutdown(void);

/* Destinations shared with the metrics: opens path for appending (created 0644 if missing;
 * a FIFO read-write and non-blocking, so opening never waits for a reader and a full pipe fails
 * the write instead of blocking). Returns the fd, or -1 with a message in err. */
int log_sink_open(const char *path, char *err, size_t errlen);

/* Writes all of buf to fd. A full FIFO fails the write at once when nothing went out yet, and
 * after a short wait when part of the line already did. Returns 0, or -1 with errno set. */
int log_sink_write(int fd, const char *buf, size_t len);

#endif
