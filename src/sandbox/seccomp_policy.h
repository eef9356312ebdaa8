/* seccomp_policy.h — kiln's syscall allowlists, one per kind of thread (Firecracker's model).
 *
 * The main thread installs the broadest list before it creates any thread, so every thread
 * inherits it; the vCPU and device I/O threads then stack their own, narrower list on top at
 * their start (seccomp filters stack: a syscall must pass every one). A syscall outside the
 * lists kills kiln with SIGSYS after one line on stderr naming the thread and the syscall
 * number. `--no-seccomp` turns all of it off, for debugging.
 */
#ifndef KILN_SANDBOX_SECCOMP_POLICY_H
#define KILN_SANDBOX_SECCOMP_POLICY_H
#include <stdbool.h>

enum kiln_thread_kind {
    KILN_THREAD_MAIN,    /* main, signal, console and metrics threads; the API server */
    KILN_THREAD_VCPU,    /* runs guest code */
    KILN_THREAD_DEVICE,  /* a virtio device's I/O thread, the RTC alarm */
};

/* Removes every `--no-seccomp` before a `--` from argv (it is accepted by every kiln command)
 * and turns the filters off if one was there. Returns the new argc. */
int seccomp_policy_take_flag(int argc, char **argv);
bool seccomp_policy_enabled(void);
void seccomp_policy_disable(void);

/* Loads the list for `kind` on the calling thread (no-op when disabled). Returns 0, or -1 with
 * a message on stderr. */
int seccomp_policy_install(enum kiln_thread_kind kind);
/* For thread start routines: installs or ends the process (status 71), so no thread ever runs
 * with less than its list. */
void seccomp_policy_enter(enum kiln_thread_kind kind);

/* Test hook: when the environment names this thread's kind in KILN_DEBUG_FORBIDDEN_SYSCALL
 * ("vcpu", "device" or "main"), the thread makes a syscall outside its list (so the test sees
 * kiln die by SIGSYS). Called by seccomp_policy_enter and by main after installing. */
void seccomp_policy_debug_probe(enum kiln_thread_kind kind);

#endif
