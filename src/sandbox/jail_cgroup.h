/* jail_cgroup.h — the jail's cgroup: kiln/ID under cgroup v2's hierarchy, or under each v1
 * controller's hierarchy that a setting names (and cpu's, always), with the settings written. */
#ifndef KILN_SANDBOX_JAIL_CGROUP_H
#define KILN_SANDBOX_JAIL_CGROUP_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_CGROUP_MAX_DIRS 16

struct jail_cgroup {
    int version;                                  /* 1 or 2 */
    char dirs[JAIL_CGROUP_MAX_DIRS][PATH_MAX];    /* the cgroups made, for placing and removing */
    int ndirs;
};

/* 2 when the cgroup2 hierarchy has the cpu controller, else 1 when v1's cpu is mounted, else
 * 0 (no cgroups). mountinfo is /proc/self/mountinfo except in tests. */
int jail_cgroup_detect(const char *mountinfo);

/* 0 if s has the form of a setting (FILE=VALUE, FILE = CONTROLLER.NAME), else -1 and why. */
int jail_cgroup_check_setting(const char *s, char *err, size_t errlen);
/* Makes kiln/ID in each hierarchy needed and writes settings ("FILE=VALUE", e.g.
 * "cpu.max=50000 100000" on v2, "cpu.cfs_quota_us=50000" on v1). On error removes what it made
 * and returns -1 with a message in err. */
int jail_cgroup_create(struct jail_cgroup *cg, int version, const char *mountinfo, const char *id,
                       char *const *settings, int nsettings, char *err, size_t errlen);
/* A CPU limit (common/cpu_quota.h: quota per period, quota 0 for none) as settings for
 * jail_cgroup_create in version's files: v2 "cpu.max=QUOTA PERIOD" ("max PERIOD" for none),
 * v1 "cpu.cfs_period_us=PERIOD" and "cpu.cfs_quota_us=QUOTA" (-1 for none). Fills out, returns
 * how many. */
#define JAIL_CPU_LIMIT_SETTINGS 2
#define JAIL_SETTING_MAX 64
int jail_cgroup_cpu_limit(int version, uint64_t quota_us, uint64_t period_us,
                          char out[JAIL_CPU_LIMIT_SETTINGS][JAIL_SETTING_MAX]);

/* Moves pid into every cgroup made. */
int jail_cgroup_add(struct jail_cgroup *cg, pid_t pid, char *err, size_t errlen);
/* Removes the cgroups (they must be empty: call after the jailed process has ended). */
void jail_cgroup_remove(struct jail_cgroup *cg);

#endif
