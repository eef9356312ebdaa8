/* cpu_priority.h — how much a VM's vCPU threads yield to everything else on the host, for
 * best-effort VMs: normal (nice 0, the default), low (nice 19: the least a normal thread gets,
 * about 1.5 % of a CPU that another thread wants) and idle (SCHED_IDLE: runs only when a CPU
 * would otherwise be idle). Set by each vCPU thread on itself when it starts, before its seccomp
 * filter narrows (the main thread's list allows setpriority and sched_setscheduler); an
 * unprivileged process can always lower its own priority, never raise it back, so the priority
 * is fixed for the VM's life. Only the vCPU threads: device I/O and the API keep theirs. */
#ifndef KILN_COMMON_CPU_PRIORITY_H
#define KILN_COMMON_CPU_PRIORITY_H
#include <stddef.h>

enum cpu_priority {
    CPU_PRIORITY_NORMAL = 0,
    CPU_PRIORITY_LOW,
    CPU_PRIORITY_IDLE,
};

#define CPU_PRIORITY_LOW_NICE 19

/* "normal", "low", "idle" */
const char *cpu_priority_name(enum cpu_priority p);
/* Returns 0 and sets *out, or -1 with a reason in err. */
int cpu_priority_parse(const char *name, enum cpu_priority *out, char *err, size_t errlen);
/* Applies p to the calling thread only. NORMAL changes nothing (a thread inherits its
 * creator's). Returns 0, or -1 with the reason in err. */
int cpu_priority_apply_self(enum cpu_priority p, char *err, size_t errlen);

#endif
