/* poll_window.c — the adaptive busy-poll window (see poll_window.h). */
#include <errno.h>
#include <stdlib.h>
#include "common/poll_window.h"

uint64_t poll_window_next(uint64_t window_ns, uint64_t waited_ns, uint64_t max_ns)
{
    if (max_ns == 0)
        return 0;
    if (window_ns > max_ns)
        window_ns = max_ns;   /* max lowered since */
    if (waited_ns <= window_ns)
        return window_ns;
    if (waited_ns > max_ns) {
        window_ns /= 2;
        return window_ns < POLL_WINDOW_START_NS ? 0 : window_ns;
    }
    window_ns = window_ns < POLL_WINDOW_START_NS ? POLL_WINDOW_START_NS : window_ns * 2;
    return window_ns > max_ns ? max_ns : window_ns;
}

uint64_t poll_window_max_from_env(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-' || v > 1000000000ull)
        return dflt;
    return v;
}
