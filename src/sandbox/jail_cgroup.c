/* jail_cgroup.c — cgroup v1 and v2 for the jail (see jail_cgroup.h).
 *
 * The hierarchies are found in mountinfo rather than assumed at /sys/fs/cgroup: hosts mount
 * them in different places (this project's CI has v1 controllers under /sys/fs/cgroup/NAME and
 * an empty v2 hierarchy under /sys/fs/cgroup/unified). */
#include "sandbox/jail_cgroup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The mount point of the cgroup2 hierarchy (want = NULL) or of the v1 hierarchy carrying
 * controller `want`. */
static bool find_mount(const char *mountinfo, const char *want, char *out, size_t outlen)
{
    FILE *f = fopen(mountinfo, "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
        char mnt[PATH_MAX], fstype[64], superopts[1024];
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, superopts) != 2)
            continue;
        if (!want) {
            found = !strcmp(fstype, "cgroup2");
        } else if (!strcmp(fstype, "cgroup")) {
            for (char *save = NULL, *opt = strtok_r(superopts, ",", &save); opt;
                 opt = strtok_r(NULL, ",", &save))
                if (!strcmp(opt, want))
                    found = true;
        }
        if (found)
            snprintf(out, outlen, "%s", mnt);
    }
    fclose(f);
    return found;
}

/* O_CREAT lets the unit tests fake a hierarchy in plain directories; cgroupfs itself makes no
 * files, so there a misspelt control file fails (EACCES) as it should. */
static int write_file(const char *path, const char *value, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n = fd < 0 ? -1 : write(fd, value, strlen(value));
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)strlen(value)) {
        snprintf(err, errlen, "cannot write '%s' to %s: %s%s", value, path, strerror(e),
                 fd < 0 && e == EACCES ? " (no such control file in this cgroup version?)" : "");
        return -1;
    }
    return 0;
}

static bool read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return true;
}

int jail_cgroup_detect(const char *mountinfo)
{
    char mnt[PATH_MAX], path[PATH_MAX + 32], controllers[1024];
    if (find_mount(mountinfo, NULL, mnt, sizeof(mnt))) {
        snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
        /* v2 only if it has the cpu controller: hosts in transition keep cpu on v1 and leave
         * v2 with leftovers such as hugetlb */
        if (read_file(path, controllers, sizeof(controllers)))
            for (char *save = NULL, *c = strtok_r(controllers, " ", &save); c;
                 c = strtok_r(NULL, " ", &save))
                if (!strcmp(c, "cpu"))
                    return 2;
    }
    return find_mount(mountinfo, "cpu", mnt, sizeof(mnt)) ? 1 : 0;
}

/* "cpu.max=50000 100000" → controller "cpu", file "cpu.max", value "50000 100000" */
static int split_setting(const char *s, char *ctl, size_t ctllen, char *file, size_t filelen,
                         const char **value, char *err, size_t errlen)
{
    const char *eq = strchr(s, '=');
    const char *dot = strchr(s, '.');
    size_t flen = eq ? (size_t)(eq - s) : 0;
    if (!eq || !dot || dot > eq || dot == s || flen >= filelen || memchr(s, '/', flen)) {
        snprintf(err, errlen, "bad --cgroup '%s': expected FILE=VALUE, e.g. cpu.max=50000 100000", s);
        return -1;
    }
    snprintf(file, filelen, "%.*s", (int)flen, s);
    snprintf(ctl, ctllen, "%.*s", (int)(dot - s), s);
    *value = eq + 1;
    return 0;
}

/* Makes BASE/kiln/ID (and BASE/kiln), remembering it; reuses it if this jail made it already. */
static const char *make_dir(struct jail_cgroup *cg, const char *base, const char *id,
                            char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/kiln/%s", base, id);
    for (int i = 0; i < cg->ndirs; i++)
        if (!strcmp(cg->dirs[i], path))
            return cg->dirs[i];
    if (cg->ndirs == JAIL_CGROUP_MAX_DIRS) {
        snprintf(err, errlen, "too many cgroup hierarchies");
        return NULL;
    }
    char parent[PATH_MAX + 8];
    snprintf(parent, sizeof(parent), "%s/kiln", base);
    if ((mkdir(parent, 0755) && errno != EEXIST) || mkdir(path, 0755)) {
        snprintf(err, errlen, "cannot make cgroup %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (another jail with this --id is running, or a stale one: "
                                   "rmdir it)" : "");
        return NULL;
    }
    snprintf(cg->dirs[cg->ndirs], PATH_MAX, "%s", path);
    return cg->dirs[cg->ndirs++];
}

/* v1 cpuset refuses tasks until cpus and mems are set: start from the parent's. */
static int inherit_cpuset(const char *dir, char *err, size_t errlen)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 32], parent[PATH_MAX + 32], value[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        snprintf(parent, sizeof(parent), "%s/../../%s", dir, files[i]);
        if (!read_file(parent, value, sizeof(value)))
            continue;
        if (write_file(path, value, err, errlen))
            return -1;
    }
    return 0;
}

/* v2: the controller must be enabled in each ancestor's subtree_control. */
static int enable_v2_controller(const char *mnt, const char *ctl, char *err, size_t errlen)
{
    char path[PATH_MAX + 64], value[128];
    snprintf(value, sizeof(value), "+%s", ctl);
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", mnt);
    if (write_file(path, value, err, errlen))
        return -1;
    snprintf(path, sizeof(path), "%s/kiln/cgroup.subtree_control", mnt);
    return write_file(path, value, err, errlen);
}

int jail_cgroup_check_setting(const char *s, char *err, size_t errlen)
{
    char ctl[64], file[256];
    const char *value;
    return split_setting(s, ctl, sizeof(ctl), file, sizeof(file), &value, err, errlen);
}

int jail_cgroup_create(struct jail_cgroup *cg, int version, const char *mountinfo, const char *id,
                       char *const *settings, int nsettings, char *err, size_t errlen)
{
    memset(cg, 0, sizeof(*cg));
    cg->version = version;
    char mnt[PATH_MAX];
    if (version == 2) {
        if (!find_mount(mountinfo, NULL, mnt, sizeof(mnt))) {
            snprintf(err, errlen, "no cgroup v2 hierarchy is mounted (try --cgroup-version 1)");
            return -1;
        }
        const char *dir = make_dir(cg, mnt, id, err, errlen);
        if (!dir)
            goto fail;
        for (int i = 0; i < nsettings; i++) {
            char ctl[64], file[256], path[PATH_MAX + 300];
            const char *value;
            if (split_setting(settings[i], ctl, sizeof(ctl), file, sizeof(file), &value, err, errlen))
                goto fail;
            if (strcmp(ctl, "cgroup") && enable_v2_controller(mnt, ctl, err, errlen)) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n, " (is the '%s' controller bound to cgroup v1 here? "
                         "try --cgroup-version 1)", ctl);
                goto fail;
            }
            snprintf(path, sizeof(path), "%s/%s", dir, file);
            if (write_file(path, value, err, errlen))
                goto fail;
        }
        return 0;
    }
    /* v1: one cgroup per hierarchy; cpu's always, so the VM's CPU time is accounted */
    if (find_mount(mountinfo, "cpu", mnt, sizeof(mnt)) && !make_dir(cg, mnt, id, err, errlen))
        goto fail;
    for (int i = 0; i < nsettings; i++) {
        char ctl[64], file[256], path[PATH_MAX + 300];
        const char *value;
        if (split_setting(settings[i], ctl, sizeof(ctl), file, sizeof(file), &value, err, errlen))
            goto fail;
        if (!find_mount(mountinfo, ctl, mnt, sizeof(mnt))) {
            snprintf(err, errlen, "no cgroup v1 hierarchy has the '%s' controller (for --cgroup %s)",
                     ctl, settings[i]);
            goto fail;
        }
        int before = cg->ndirs;
        const char *dir = make_dir(cg, mnt, id, err, errlen);
        if (!dir || (cg->ndirs > before && !strcmp(ctl, "cpuset") && inherit_cpuset(dir, err, errlen)))
            goto fail;
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (write_file(path, value, err, errlen))
            goto fail;
    }
    return 0;
fail:
    jail_cgroup_remove(cg);
    return -1;
}

int jail_cgroup_add(struct jail_cgroup *cg, pid_t pid, char *err, size_t errlen)
{
    char value[32];
    snprintf(value, sizeof(value), "%d", (int)pid);
    for (int i = 0; i < cg->ndirs; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[i]);
        if (write_file(path, value, err, errlen))
            return -1;
    }
    return 0;
}

void jail_cgroup_remove(struct jail_cgroup *cg)
{
    for (int i = cg->ndirs - 1; i >= 0; i--)
        rmdir(cg->dirs[i]);   /* the shared kiln/ parent stays: other jails may use it */
    cg->ndirs = 0;
}

int jail_cgroup_cpu_limit(int version, uint64_t quota_us, uint64_t period_us,
                          char out[JAIL_CPU_LIMIT_SETTINGS][JAIL_SETTING_MAX])
{
    unsigned long long q = quota_us, p = period_us;
    if (version == 2) {
        if (q)
            snprintf(out[0], JAIL_SETTING_MAX, "cpu.max=%llu %llu", q, p);
        else
            snprintf(out[0], JAIL_SETTING_MAX, "cpu.max=max %llu", p);
        return 1;
    }
    /* the period first: a quota is checked against the period in force */
    snprintf(out[0], JAIL_SETTING_MAX, "cpu.cfs_period_us=%llu", p);
    if (q)
        snprintf(out[1], JAIL_SETTING_MAX, "cpu.cfs_quota_us=%llu", q);
    else
        snprintf(out[1], JAIL_SETTING_MAX, "cpu.cfs_quota_us=-1");
    return 2;
}
