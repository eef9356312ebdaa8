/* logger.c — kiln_log's filtering and formatting, and the file/FIFO sinks the logger and the
 * metrics write to. The level check is a lone atomic load so a disabled LOG_DEBUG costs nothing;
 * everything after it runs under `lock`, which also keeps a reconfiguration from closing the fd
 * under a writer. */
#include "vm/logger.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/fd_io.h"
#include "vm/metrics.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int max_level = LOG_LEVEL_WARN;
static bool configured, show_level, show_origin;
static int log_fd = -1;   /* -1: stderr */
static char *module;      /* origin prefix filter, NULL for none */

static const char *const level_names[] = { "OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };

int log_sink_open(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd;
    char why[128];
    /* Firecracker takes a FIFO here too. Opened read-write: open() does not wait for a reader and
     * writes never raise SIGPIPE; fd_open_user keeps it non-blocking and never waits on the
     * open either (a FIFO put in the path's place after the stat fails with ENXIO) */
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        fd = fd_open_user(path, O_RDWR, 0, FD_FIFO, why, sizeof(why));
    else
        fd = fd_open_user(path, O_WRONLY | O_APPEND | O_CREAT, 0644,
                          FD_REGULAR | FD_FIFO | FD_CHARDEV, why, sizeof(why));
    if (fd < 0 && err && errlen)
        snprintf(err, errlen, "cannot open %s: %s", path, why);
    return fd;
}

int log_sink_write(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    int waits = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* Up to PIPE_BUF a FIFO write is all or nothing, so a line that did not start is dropped
         * whole. A longer one that started is finished if the reader catches up within ~1 s,
         * rather than leaving half a line for it. */
        if (n < 0 && errno == EAGAIN && done > 0 && waits++ < 10) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, 100);
            continue;
        }
        if (n == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}

bool log_enabled(enum log_level lvl)
{
    return lvl > LOG_LEVEL_OFF && (int)lvl <= atomic_load_explicit(&max_level, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct { const char *name; enum log_level lvl; } names[] = {
        { "off", LOG_LEVEL_OFF },     { "error", LOG_LEVEL_ERROR }, { "warning", LOG_LEVEL_WARN },
        { "warn", LOG_LEVEL_WARN },   { "info", LOG_LEVEL_INFO },   { "debug", LOG_LEVEL_DEBUG },
        { "trace", LOG_LEVEL_TRACE },
    };
    for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].lvl;
            return 0;
        }
    return -1;
}

/* Firecracker names threads in its log: the main thread is "main", others by their name. */
static void thread_name(char *buf, size_t len)
{
    if ((pid_t)syscall(SYS_gettid) == getpid())
        snprintf(buf, len, "main");
    else if (pthread_getname_np(pthread_self(), buf, len) != 0)
        snprintf(buf, len, "?");
}

/* "2026-12-02T16:00:00.123456789 [kiln:main:WARN:src/vm/vm.c:123] ", local time as Firecracker */
static int fc_prefix(char *buf, size_t len, enum log_level lvl, const char *origin, int line)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    char date[32], thread[16], lvlpart[16] = "", originpart[256] = "";
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    thread_name(thread, sizeof(thread));
    if (show_level)
        snprintf(lvlpart, sizeof(lvlpart), ":%s", level_names[lvl]);
    if (show_origin)
        snprintf(originpart, sizeof(originpart), ":%s:%d", origin ? origin : "?", line);
    return snprintf(buf, len, "%s.%09ld [kiln:%s%s%s] ", date, ts.tv_nsec, thread, lvlpart,
                    originpart);
}

void kiln_log(enum log_level lvl, const char *origin, int line, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    int saved_errno = errno;   /* callers log, then go on to look at errno */
    pthread_mutex_lock(&lock);
    if (module && (!origin || strncmp(origin, module, strlen(module)))) {
        pthread_mutex_unlock(&lock);
        errno = saved_errno;
        return;
    }
    char prefix[384];
    int plen = configured ? fc_prefix(prefix, sizeof(prefix), lvl, origin, line)
                          : snprintf(prefix, sizeof(prefix), "kiln: ");
    if (plen < 0)
        plen = 0;
    if ((size_t)plen >= sizeof(prefix))
        plen = sizeof(prefix) - 1;

    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int mlen = vasprintf(&msg, fmt, ap);
    va_end(ap);
    char *buf = mlen < 0 ? NULL : malloc((size_t)plen + (size_t)mlen + 1);
    if (buf) {
        if (mlen > 0 && msg[mlen - 1] == '\n')
            mlen--;   /* the caller's own line end: the logger adds one */
        memcpy(buf, prefix, (size_t)plen);
        memcpy(buf + plen, msg, (size_t)mlen);
        buf[plen + mlen] = '\n';
    }
    if (!buf || log_sink_write(log_fd >= 0 ? log_fd : STDERR_FILENO, buf,
                               (size_t)plen + (size_t)mlen + 1) < 0)
        metric_inc(&kiln_metrics.logger.missed_log_count);
    pthread_mutex_unlock(&lock);
    if (mlen >= 0)
        free(msg);
    free(buf);
    errno = saved_errno;
}

int logger_configure(const char *path, enum log_level level, bool show_lvl, bool show_orig,
                     char *err, size_t errlen)
{
    if (level < LOG_LEVEL_OFF || level > LOG_LEVEL_TRACE) {
        if (err && errlen)
            snprintf(err, errlen, "invalid log level %d", (int)level);
        return -1;
    }
    int fd = -1;
    if (path && (fd = log_sink_open(path, err, errlen)) < 0)
        return -1;
    pthread_mutex_lock(&lock);
    if (path) {
        if (log_fd >= 0)
            close(log_fd);
        log_fd = fd;
    }
    configured = true;
    show_level = show_lvl;
    show_origin = show_orig;
    atomic_store(&max_level, (int)level);
    pthread_mutex_unlock(&lock);
    return 0;
}

int logger_set_module(const char *prefix)
{
    char *copy = NULL;
    if (prefix && *prefix && !(copy = strdup(prefix)))
        return -1;
    pthread_mutex_lock(&lock);
    free(module);
    module = copy;
    pthread_mutex_unlock(&lock);
    return 0;
}

void logger_shutdown(void)
{
    pthread_mutex_lock(&lock);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    configured = show_level = show_origin = false;
    free(module);
    module = NULL;
    atomic_store(&max_level, LOG_LEVEL_WARN);
    pthread_mutex_unlock(&lock);
}
