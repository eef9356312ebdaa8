/* cpu_priority.c — vCPU thread priorities (see cpu_priority.h). */
#include "common/cpu_priority.h"
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const names[] = { "normal", "low", "idle" };

const char *cpu_priority_name(enum cpu_priority p)
{
    return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "normal";
}

int cpu_priority_parse(const char *name, enum cpu_priority *out, char *err, size_t errlen)
{
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i])) {
            *out = (enum cpu_priority)i;
            return 0;
        }
    snprintf(err, errlen, "'%s' is not a vCPU priority: normal, low or idle", name);
    return -1;
}

int cpu_priority_apply_self(enum cpu_priority p, char *err, size_t errlen)
{
    switch (p) {
    case CPU_PRIORITY_NORMAL:
        return 0;
    case CPU_PRIORITY_LOW:
        /* on Linux, PRIO_PROCESS with a thread id sets that thread's nice value alone */
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), CPU_PRIORITY_LOW_NICE) != 0) {
            snprintf(err, errlen, "cannot lower the vCPU thread's priority to nice %d: %s",
                     CPU_PRIORITY_LOW_NICE, strerror(errno));
            return -1;
        }
        return 0;
    case CPU_PRIORITY_IDLE: {
        struct sched_param sp = { .sched_priority = 0 };
        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0) {   /* 0: the calling thread */
            snprintf(err, errlen, "cannot make the vCPU thread SCHED_IDLE: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    }
    snprintf(err, errlen, "unknown vCPU priority %d", (int)p);
    return -1;
}
