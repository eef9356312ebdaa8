/* seccomp_policy.c — the allowlists and their installation (see seccomp_policy.h).
 *
 * The lists were taken from strace runs of every kiln path (CLI and API, every device, snapshots,
 * migration) and trimmed by reasoning about which thread kind does what:
 *   - every thread: memory, futexes, time, signals, plain reads and writes on descriptors it was
 *     handed, and thread creation (a vCPU's MMIO write can start the RTC's alarm thread);
 *   - device I/O threads add sockets (user-mode networking opens host connections, vsock
 *     connects to Unix sockets), file space calls (discard) and libslirp's few file reads;
 *   - the main thread (and the API server, which runs the VM's actions) adds opening files,
 *     making sockets and memory files, and the calls a terminal and the jail need.
 * Nothing here may start a program, create a process, trace, mount or change credentials.
 */
#include "sandbox/seccomp_policy.h"
#include <errno.h>
#include <sched.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static bool enabled = true;

bool seccomp_policy_enabled(void) { return enabled; }
void seccomp_policy_disable(void) { enabled = false; }

int seccomp_policy_take_flag(int argc, char **argv)
{
    int out = 0;
    bool after_dashdash = false;
    for (int i = 0; i < argc; i++) {
        if (!after_dashdash && !strcmp(argv[i], "--")) after_dashdash = true;
        if (!after_dashdash && !strcmp(argv[i], "--no-seccomp")) {
            enabled = false;
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

/* Allowed to every kind of thread. */
static const int common_calls[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(close), SCMP_SYS(lseek),
    SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
    SCMP_SYS(fsync), SCMP_SYS(fdatasync),
    SCMP_SYS(futex), SCMP_SYS(sched_yield), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
    SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap), SCMP_SYS(madvise),
    SCMP_SYS(brk),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday), SCMP_SYS(clock_getres),
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigtimedwait), SCMP_SYS(sigaltstack), SCMP_SYS(restart_syscall),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill),
    SCMP_SYS(getrandom), SCMP_SYS(exit), SCMP_SYS(exit_group),
    SCMP_SYS(sched_getaffinity),
    /* a KVM vCPU re-arms and deletes the CPU-time timer that holds it to a CPU limit */
    SCMP_SYS(timer_settime), SCMP_SYS(timer_delete),
};

/* Device I/O threads, on top of the common list. */
static const int device_calls[] = {
    SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
    SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(shutdown),
    SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
    SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
    SCMP_SYS(fcntl), SCMP_SYS(ioctl), SCMP_SYS(openat), SCMP_SYS(fallocate),
    SCMP_SYS(eventfd2), SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
    SCMP_SYS(sched_setscheduler), SCMP_SYS(uname), SCMP_SYS(unlink),
};

/* The main thread and the API server, on top of the device list. */
static const int main_calls[] = {
    SCMP_SYS(open), SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
    SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getdents64), SCMP_SYS(getcwd),
    SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(unlinkat), SCMP_SYS(rename), SCMP_SYS(renameat),
    SCMP_SYS(renameat2), SCMP_SYS(ftruncate), SCMP_SYS(truncate), SCMP_SYS(flock),
    SCMP_SYS(fchmod), SCMP_SYS(utimensat), SCMP_SYS(statfs), SCMP_SYS(fstatfs),
    SCMP_SYS(fadvise64), SCMP_SYS(sync_file_range), SCMP_SYS(copy_file_range),
    SCMP_SYS(sendfile), SCMP_SYS(mincore), SCMP_SYS(msync), SCMP_SYS(memfd_create),
    SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(pipe2),
    SCMP_SYS(epoll_create1), SCMP_SYS(timerfd_create), SCMP_SYS(signalfd4),
    SCMP_SYS(rt_sigpending), SCMP_SYS(rt_sigsuspend), SCMP_SYS(kill),
    SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(sysinfo), SCMP_SYS(umask),
    SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
    SCMP_SYS(getppid), SCMP_SYS(getpgrp), SCMP_SYS(setpgid), SCMP_SYS(getpgid),
    SCMP_SYS(setsid), SCMP_SYS(getsid),
    SCMP_SYS(setpriority), SCMP_SYS(getpriority), SCMP_SYS(sched_setaffinity),
    SCMP_SYS(sched_getscheduler), SCMP_SYS(sched_getparam), SCMP_SYS(sched_setparam),
    SCMP_SYS(set_tid_address), SCMP_SYS(arch_prctl), SCMP_SYS(membarrier),
    /* a KVM vCPU thread creates its CPU-limit timer before its own list, under this one */
    SCMP_SYS(timer_create),
};

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer stops the world at exit with a traced helper process: clone without
 * CLONE_THREAD, ptrace and wait. Only the sanitizer build allows these (without them the
 * leak check hangs at exit, waiting for a helper the filter killed). */
#define SANITIZER_BUILD 1
static const int sanitizer_calls[] = {
    SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(prctl), SCMP_SYS(clone),
    SCMP_SYS(getdents),  /* its thread lister reads /proc/PID/task with the old call */
};
#else
#define SANITIZER_BUILD 0
#endif

static const char *kind_name(enum kiln_thread_kind kind)
{
    switch (kind) {
    case KILN_THREAD_VCPU: return "vcpu";
    case KILN_THREAD_DEVICE: return "device";
    default: return "main";
    }
}

static int allow_all(scmp_filter_ctx ctx, const int *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (calls[i] < 0) /* not a syscall on this architecture: libseccomp's pseudo number */
            continue;
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0))
            return -1;
    }
    return 0;
}

#define ALLOW_LIST(ctx, list) allow_all(ctx, list, sizeof(list) / sizeof((list)[0]))

/* The KVM backend's vCPU threads (cpu/kvm/kvm_backend.c): run the vCPU, drive an irqchip input
 * (a device model raising its line from the vCPU's exit), read the registers for a crash report.
 * Only these requests: every other ioctl (creating vCPUs, memory slots) is the main thread's. */
static const unsigned long kvm_vcpu_ioctls[] = { KVM_RUN, KVM_IRQ_LINE, KVM_GET_REGS, KVM_GET_SREGS };

static int add_kvm_vcpu_rules(scmp_filter_ctx ctx)
{
    for (size_t i = 0; i < sizeof(kvm_vcpu_ioctls) / sizeof(kvm_vcpu_ioctls[0]); i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, kvm_vcpu_ioctls[i])))
            return -1;
    return 0;
}

static int add_rules(scmp_filter_ctx ctx, enum kiln_thread_kind kind)
{
    if (ALLOW_LIST(ctx, common_calls))
        return -1;
    /* threads, never processes; clone3 passes its flags in memory a filter cannot read, so it
     * is refused with ENOSYS and glibc falls back to clone */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) ||
        /* thread names (and reading them back for the SIGSYS message) */
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)) ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME)) ||
        /* vCPU threads ask for exact timer wake-ups (hart.c) */
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_SET_TIMERSLACK)) ||
        /* a thread stacks its own, narrower filter: libseccomp sets no_new_privs and loads;
         * more filters can only take rights away */
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)) ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_GET_SECCOMP)) ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0))
        return -1;
    if (kind == KILN_THREAD_VCPU)
        return add_kvm_vcpu_rules(ctx);
    if (ALLOW_LIST(ctx, device_calls))
        return -1;
    if (kind == KILN_THREAD_DEVICE)
        return 0;
    if (ALLOW_LIST(ctx, main_calls))
        return -1;
#if SANITIZER_BUILD
    if (ALLOW_LIST(ctx, sanitizer_calls))
        return -1;
#endif
    return 0;
}

/* Async-signal-safe: one line on stderr, then die by SIGSYS as the kernel would have. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char name[17] = "?";
    prctl(PR_GET_NAME, name, 0, 0, 0);
    char num[12], *p = num + sizeof(num);
    *--p = '\0';
    unsigned v = (unsigned)si->si_syscall;
    do *--p = (char)('0' + v % 10); while ((v /= 10) && p > num);
    char msg[160];
    size_t n = 0;
    const char *parts[] = {"kiln: seccomp: thread '", name, "' made syscall ", p,
                           ", which its allowlist forbids (see scmp_sys_resolver; "
                           "--no-seccomp turns the filters off)\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (const char *c = parts[i]; *c && n < sizeof(msg); c++)
            msg[n++] = *c;
    if (write(STDERR_FILENO, msg, n) < 0) { /* nothing else to report with */ }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

int seccomp_policy_install(enum kiln_thread_kind kind)
{
    if (!enabled)
        return 0;
    if (kind == KILN_THREAD_MAIN) {
        struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSYS, &sa, NULL);
    }
    /* a trap (SIGSYS with the syscall number) rather than a silent kill, so the line above
     * says which call it was */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) {
        fprintf(stderr, "kiln: seccomp: cannot create a filter\n");
        return -1;
    }
    int rc = add_rules(ctx, kind);
    if (!rc)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc) {
        fprintf(stderr, "kiln: seccomp: cannot load the %s thread's filter (%s); "
                "--no-seccomp runs without\n", kind_name(kind), strerror(rc < 0 ? -rc : rc));
        return -1;
    }
    return 0;
}

void seccomp_policy_debug_probe(enum kiln_thread_kind kind)
{
    const char *want = getenv("KILN_DEBUG_FORBIDDEN_SYSCALL");
    if (!enabled || !want || strcmp(want, kind_name(kind)))
        return;
    /* forbidden to every kind: starting a program */
    char *const argv[] = {"/bin/true", NULL};
    execve(argv[0], argv, NULL);
}

void seccomp_policy_enter(enum kiln_thread_kind kind)
{
    if (seccomp_policy_install(kind))
        _exit(71); /* KILN_EXIT_HOST: never run a thread with less than its list */
    seccomp_policy_debug_probe(kind);
}
