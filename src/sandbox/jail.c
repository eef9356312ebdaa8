/* jail.c — `kiln jail`: options, the namespaces, the identity switch (see jail.h). */
#include "sandbox/jail.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/cpu_quota.h"
#include "sandbox/jail_cgroup.h"
#include "sandbox/jail_fs.h"

#define EXIT_USAGE 64
#define EXIT_NO_INPUT 66
#define EXIT_HOST 71
#define EXIT_NO_PERMISSION 77   /* sysexits' EX_NOPERM: not root */

#define MAX_CGROUP_SETTINGS 16
#define MAX_RLIMITS 4

struct jail_opts {
    const char *id;
    uid_t uid;
    gid_t gid;
    const char *chroot_base;
    const char *netns;          /* join this network namespace */
    bool new_netns;             /* or make an empty one */
    int cgroup_version;         /* 0: detect */
    char *cgroups[MAX_CGROUP_SETTINGS];
    int ncgroups;
    const char *cpu_limit;      /* --cpu-limit, else the command's */
    struct { int resource; rlim_t value; } rlimits[MAX_RLIMITS];
    int nrlimits;
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kiln jail --id ID [options] -- COMMAND...\n"
        "Run a kiln command (run ..., --api-sock ..., restore ..., receive ...) in a jail, as\n"
        "Firecracker's jailer does: new mount, PID, IPC and UTS namespaces, a pivot_root into\n"
        "CHROOT_BASE/kiln/ID/root holding only the files the command names, an unprivileged\n"
        "uid/gid, no inherited descriptors, resource limits and a cgroup of its own. Must run as\n"
        "root. Files named by --kernel, --initrd, --firmware, --disk, --config-file, --snapshot\n"
        "and --mem are bound in at the same paths (disks read-write unless ,readonly); the\n"
        "directories of --api-sock and --vsock uds= sockets are made inside, owned by the jail's\n"
        "uid (from the host they are under CHROOT_BASE/kiln/ID/root). The jail's directory and\n"
        "cgroup are removed when the command ends; kiln jail exits with its status.\n"
        "\n"
        "  --id ID              the jail's name: 1-64 of A-Z a-z 0-9 - _\n"
        "  --uid N, --gid N     the identity kiln runs as (default 65534, 65534: nobody)\n"
        "  --chroot-base DIR    where jails live (default /srv/jailer)\n"
        "  --file PATH[:rw]     also bind PATH (read-only unless :rw), e.g. for files an API\n"
        "                       client names later\n"
        "  --netns PATH         join this network namespace (e.g. /var/run/netns/NAME)\n"
        "  --new-netns          a new network namespace with nothing in it (TAP setups add theirs)\n"
        "  --cgroup-version 1|2 (default: 2 if its hierarchy has controllers, else 1)\n"
        "  --cgroup FILE=VALUE  write VALUE to FILE in the jail's cgroup, e.g. cpu.max=\"50000 100000\"\n"
        "                       (v2) or cpu.cfs_quota_us=50000 (v1); repeatable\n"
        "  --cpu-limit QUOTA_US/PERIOD_US | N%% | none\n"
        "                       a CPU limit for the whole jail as a cgroup limit (v2 cpu.max, v1\n"
        "                       cpu.cfs_quota_us and cpu.cfs_period_us). Default: the command's own\n"
        "                       --cpu-limit (kiln run --cpu-limit), which kiln also enforces itself\n"
        "                       on its vCPU threads; --cgroup settings come after it and win\n"
        "  --resource-limit fsize=BYTES|no-file=N   (repeatable; default no-file=2048)\n"
        "Exit status: the command's; 64 bad usage; 66 a named file is missing; 71 the host refused\n"
        "(namespaces, mounts, cgroups); 77 not run as root.\n");
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v > max || *s == '-')
        return false;
    *out = v;
    return true;
}

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return false;
    return true;
}

/* Returns the index of COMMAND's first word, or -1 (message printed). */
static int parse_opts(int argc, char **argv, struct jail_opts *o, struct jail_fs *fs)
{
    char err[512];
    unsigned long long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--"))
            return i + 1 < argc ? i + 1 : (fprintf(stderr, "kiln jail: no command after --\n"), -1);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -2;
        }
        if (!strcmp(a, "--new-netns")) {
            o->new_netns = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "kiln jail: %s needs a value (see kiln jail --help)\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--id")) {
            o->id = val;
        } else if (!strcmp(a, "--uid") || !strcmp(a, "--gid")) {
            if (!parse_uint(val, 0xfffffffeull, &v)) {
                fprintf(stderr, "kiln jail: bad %s '%s': a number\n", a, val);
                return -1;
            }
            if (a[2] == 'u') o->uid = (uid_t)v; else o->gid = (gid_t)v;
        } else if (!strcmp(a, "--chroot-base")) {
            o->chroot_base = val;
        } else if (!strcmp(a, "--netns")) {
            o->netns = val;
        } else if (!strcmp(a, "--cgroup-version")) {
            if (strcmp(val, "1") && strcmp(val, "2")) {
                fprintf(stderr, "kiln jail: --cgroup-version is 1 or 2, not '%s'\n", val);
                return -1;
            }
            o->cgroup_version = val[0] - '0';
        } else if (!strcmp(a, "--cgroup")) {
            if (o->ncgroups == MAX_CGROUP_SETTINGS) {
                fprintf(stderr, "kiln jail: at most %d --cgroup settings\n", MAX_CGROUP_SETTINGS);
                return -1;
            }
            if (jail_cgroup_check_setting(val, err, sizeof(err))) {
                fprintf(stderr, "kiln jail: %s\n", err);
                return -1;
            }
            o->cgroups[o->ncgroups++] = (char *)val;
        } else if (!strcmp(a, "--cpu-limit")) {
            uint64_t quota, period;
            if (cpu_quota_parse(val, &quota, &period, err, sizeof(err)) ||
                cpu_quota_check(quota, period, err, sizeof(err))) {
                fprintf(stderr, "kiln jail: --cpu-limit: %s\n", err);
                return -1;
            }
            o->cpu_limit = val;
        } else if (!strcmp(a, "--resource-limit")) {
            const char *eq = strchr(val, '=');
            int res = !eq ? -1 : !strncmp(val, "fsize=", 6) ? RLIMIT_FSIZE
                    : !strncmp(val, "no-file=", 8) ? RLIMIT_NOFILE : -1;
            if (res < 0 || !parse_uint(eq + 1, ~0ull, &v) || o->nrlimits == MAX_RLIMITS) {
                fprintf(stderr, "kiln jail: bad --resource-limit '%s': fsize=BYTES or no-file=N\n", val);
                return -1;
            }
            o->rlimits[o->nrlimits].resource = res;
            o->rlimits[o->nrlimits++].value = (rlim_t)v;
        } else if (!strcmp(a, "--file")) {
            char path[4096];
            size_t n = strlen(val);
            bool rw = n > 3 && !strcmp(val + n - 3, ":rw");
            snprintf(path, sizeof(path), "%.*s", (int)(rw ? n - 3 : n), val);
            if (jail_fs_add(fs, path, rw ? JAIL_FILE_RW : JAIL_FILE_RO, err, sizeof(err))) {
                fprintf(stderr, "kiln jail: %s\n", err);
                return -3;
            }
        } else {
            fprintf(stderr, "kiln jail: unknown option '%s' (see kiln jail --help)\n", a);
            return -1;
        }
    }
    fprintf(stderr, "kiln jail: no command: kiln jail --id ID [options] -- COMMAND...\n");
    return -1;
}

static int join_netns(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET)) {
        fprintf(stderr, "kiln jail: cannot join the network namespace %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* The jailed child, up to running the command. */
static int enter_jail(const struct jail_opts *o, struct jail_fs *fs, int sync_fd)
{
    char err[512], go;
    /* the parent puts us in the cgroup first, so nothing we do runs outside it */
    if (read(sync_fd, &go, 1) != 1)
        _exit(EXIT_HOST);
    close(sync_fd);
    int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (o->new_netns ? CLONE_NEWNET : 0);
    if ((o->netns && join_netns(o->netns)) || unshare(flags)) {
        if (!o->netns)
            fprintf(stderr, "kiln jail: cannot make namespaces: %s\n", strerror(errno));
        return -1;
    }
    char host[80];
    snprintf(host, sizeof(host), "kiln-%s", o->id);
    if (sethostname(host, strlen(host)) || jail_fs_enter(fs, o->uid, o->gid, err, sizeof(err))) {
        fprintf(stderr, "kiln jail: %s\n", err[0] ? err : strerror(errno));
        return -1;
    }
    struct rlimit nofile = {2048, 2048};
    if (setrlimit(RLIMIT_NOFILE, &nofile))
        return -1;
    for (int i = 0; i < o->nrlimits; i++) {
        struct rlimit rl = {o->rlimits[i].value, o->rlimits[i].value};
        if (setrlimit(o->rlimits[i].resource, &rl)) {
            fprintf(stderr, "kiln jail: cannot set a resource limit: %s\n", strerror(errno));
            return -1;
        }
    }
    /* no descriptor but the terminal's three crosses into the jail */
    if (syscall(SYS_close_range, 3u, ~0u, 0u)) {
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
    }
    if (setgroups(0, NULL) || setresgid(o->gid, o->gid, o->gid) || setresuid(o->uid, o->uid, o->uid)) {
        fprintf(stderr, "kiln jail: cannot become %u:%u: %s\n", o->uid, o->gid, strerror(errno));
        return -1;
    }
    /* if kiln jail dies (even by SIGKILL) the jailed VM goes too, never left running unowned;
     * set after the identity change, which clears it */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL))
        return -1;
    return 0;
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* The parent: wait for the jailed command, passing stop signals on; its status is ours. */
static int wait_child(pid_t pid)
{
    child_pid = pid;
    struct sigaction sa = {.sa_handler = forward_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return EXIT_HOST;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char *jail_command_cpu_limit(int argc, char *const *argv)
{
    const char *v = NULL;
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--cpu-limit") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(argv[i], "--cpu-limit=", 12))
            v = argv[i] + 12;
    }
    return v;
}

/* The CPU limit's cgroup settings, then the --cgroup ones (which may override it), into all.
 * Returns how many, or -1 after printing why the limit is bad. */
static int cgroup_settings(const struct jail_opts *o, int version, char *all[],
                           char limit[JAIL_CPU_LIMIT_SETTINGS][JAIL_SETTING_MAX])
{
    int n = 0;
    if (o->cpu_limit && version) {
        uint64_t quota, period;
        char err[256];
        if (cpu_quota_parse(o->cpu_limit, &quota, &period, err, sizeof(err)) ||
            cpu_quota_check(quota, period, err, sizeof(err))) {
            fprintf(stderr, "kiln jail: --cpu-limit: %s\n", err);
            return -1;
        }
        n = jail_cgroup_cpu_limit(version, quota, period, limit);
        for (int i = 0; i < n; i++)
            all[i] = limit[i];
    }
    for (int i = 0; i < o->ncgroups; i++)
        all[n++] = o->cgroups[i];
    return n;
}

int jail_main(int argc, char **argv, int *cmd_argc, char ***cmd_argv, int *exit_status)
{
    struct jail_opts o = {.uid = 65534, .gid = 65534, .chroot_base = "/srv/jailer"};
    static struct jail_fs fs;   /* large: not on the stack */
    char err[768];
    memset(&fs, 0, sizeof(fs));
    int cmd = parse_opts(argc, argv, &o, &fs);
    if (cmd < 0) {
        *exit_status = cmd == -2 ? 0 : cmd == -3 ? EXIT_NO_INPUT : EXIT_USAGE;
        return JAIL_EXIT;
    }
    if (!o.id || !valid_id(o.id)) {
        fprintf(stderr, "kiln jail: %s: 1-64 of A-Z a-z 0-9 - _\n", o.id ? "bad --id" : "--id is required");
        *exit_status = EXIT_USAGE;
        return JAIL_EXIT;
    }
    if (o.netns && o.new_netns) {
        fprintf(stderr, "kiln jail: --netns and --new-netns exclude each other\n");
        *exit_status = EXIT_USAGE;
        return JAIL_EXIT;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "kiln jail: must run as root (it makes namespaces, mounts and cgroups, then "
                "drops to --uid/--gid)\n");
        *exit_status = EXIT_NO_PERMISSION;
        return JAIL_EXIT;
    }
    if (jail_fs_add_from_args(&fs, argc - cmd, argv + cmd, err, sizeof(err))) {
        fprintf(stderr, "kiln jail: %s\n", err);
        *exit_status = EXIT_NO_INPUT;
        return JAIL_EXIT;
    }
    int version = o.cgroup_version ? o.cgroup_version : jail_cgroup_detect("/proc/self/mountinfo");
    bool own_limit = o.cpu_limit != NULL;
    if (!o.cpu_limit && version)   /* without cgroups, kiln's own enforcement is all there is */
        o.cpu_limit = jail_command_cpu_limit(argc - cmd, argv + cmd);
    char *settings[MAX_CGROUP_SETTINGS + JAIL_CPU_LIMIT_SETTINGS];
    char limit[JAIL_CPU_LIMIT_SETTINGS][JAIL_SETTING_MAX];
    int nsettings = cgroup_settings(&o, version, settings, limit);
    if (nsettings < 0) {
        *exit_status = EXIT_USAGE;
        return JAIL_EXIT;
    }
    struct jail_cgroup cg = {0};
    if (version && jail_cgroup_create(&cg, version, "/proc/self/mountinfo", o.id, settings,
                                      nsettings, err, sizeof(err))) {
        fprintf(stderr, "kiln jail: %s\n", err);
        *exit_status = EXIT_HOST;
        return JAIL_EXIT;
    }
    if (!version && (o.ncgroups || own_limit)) {
        fprintf(stderr, "kiln jail: --cgroup or --cpu-limit given but this host mounts no cgroup hierarchy\n");
        *exit_status = EXIT_HOST;
        return JAIL_EXIT;
    }
    if (jail_fs_make_root(&fs, o.chroot_base, o.id, o.uid, o.gid, err, sizeof(err))) {
        fprintf(stderr, "kiln jail: %s\n", err);
        jail_fs_remove(&fs);   /* what it made, if anything: never another jail's (root unset) */
        jail_cgroup_remove(&cg);
        *exit_status = EXIT_HOST;
        return JAIL_EXIT;
    }
    int sync[2];
    pid_t pid = -1;
    /* the next child is PID 1 of a new PID namespace */
    if (pipe2(sync, O_CLOEXEC) == 0 && unshare(CLONE_NEWPID) == 0)
        pid = fork();
    if (pid == 0) {
        close(sync[1]);
        if (enter_jail(&o, &fs, sync[0]))
            _exit(EXIT_HOST);
        argv[cmd - 1] = "kiln";   /* was "--": COMMAND runs as if typed after kiln */
        *cmd_argc = argc - cmd + 1;
        *cmd_argv = argv + cmd - 1;
        return JAIL_RUN_COMMAND;
    }
    if (pid < 0) {
        fprintf(stderr, "kiln jail: cannot start the jailed process: %s\n", strerror(errno));
        *exit_status = EXIT_HOST;
    } else {
        close(sync[0]);
        if (version && jail_cgroup_add(&cg, pid, err, sizeof(err))) {
            fprintf(stderr, "kiln jail: %s\n", err);
            kill(pid, SIGKILL);
        } else if (write(sync[1], "g", 1) != 1) {
            kill(pid, SIGKILL);
        }
        close(sync[1]);
        *exit_status = wait_child(pid);
    }
    jail_fs_remove(&fs);
    jail_cgroup_remove(&cg);
    return JAIL_EXIT;
}
