/* test_jail.c — the jail's pieces that need no root: which files a command line puts in the
 * jail, and the cgroup code against hierarchies faked in a temporary directory (found through a
 * made-up mountinfo, as on a real host). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sandbox/jail.h"
#include "sandbox/jail_cgroup.h"
#include "sandbox/jail_fs.h"

static char tmp[256];

static void make_tmp(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/kiln-test-jail-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void get(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
}

static const char *find(const struct jail_fs *fs, const char *suffix)
{
    for (int i = 0; i < fs->nentries; i++) {
        size_t n = strlen(fs->entries[i].path), m = strlen(suffix);
        if (n >= m && !strcmp(fs->entries[i].path + n - m, suffix))
            return fs->entries[i].path;
    }
    return NULL;
}

static enum jail_entry_kind kind_of(const struct jail_fs *fs, const char *suffix)
{
    for (int i = 0; i < fs->nentries; i++)
        if (fs->entries[i].path == find(fs, suffix))
            return fs->entries[i].kind;
    cr_assert_fail("no entry %s", suffix);
    return JAIL_FILE_RO;
}

Test(jail_fs, command_line_files_go_in_with_the_right_access)
{
    make_tmp();
    char k[300], d1[300], d2[300];
    snprintf(k, sizeof(k), "%s/Image", tmp);
    snprintf(d1, sizeof(d1), "%s/rw.img", tmp);
    snprintf(d2, sizeof(d2), "%s/ro.img", tmp);
    put(k, "k");
    put(d1, "d");
    put(d2, "d");
    char disk1[320], disk2[340], vsock[320];
    snprintf(disk1, sizeof(disk1), "%s,serial=a", d1);
    snprintf(disk2, sizeof(disk2), "--disk=%s,readonly", d2);
    snprintf(vsock, sizeof(vsock), "cid=3,uds=%s/socks/v.sock", tmp);
    char *argv[] = {"kiln", "run", "--kernel", k, "--disk", disk1, disk2, "--vsock", vsock,
                    "--rm", "--", "cat", "--kernel", "/etc/shadow", NULL};
    struct jail_fs fs = {0};
    char err[256] = "";
    cr_assert_eq(jail_fs_add_from_args(&fs, 14, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(fs.nentries, 4, "kernel, two disks, the vsock socket's directory");
    cr_assert_eq(kind_of(&fs, "/Image"), JAIL_FILE_RO);
    cr_assert_eq(kind_of(&fs, "/rw.img"), JAIL_FILE_RW);
    cr_assert_eq(kind_of(&fs, "/ro.img"), JAIL_FILE_RO);
    cr_assert_eq(kind_of(&fs, "/socks"), JAIL_DIR_OWNED);
    cr_assert_null(find(&fs, "/etc/shadow"), "words after -- are the guest's, not files");
}

Test(jail_fs, a_missing_or_special_file_is_refused)
{
    struct jail_fs fs = {0};
    char err[256] = "";
    char *argv[] = {"kiln", "run", "--kernel", "/nonexistent/Image", NULL};
    cr_assert_eq(jail_fs_add_from_args(&fs, 4, argv, err, sizeof(err)), -1);
    cr_assert(strstr(err, "/nonexistent/Image"), "%s", err);
    cr_assert_eq(jail_fs_add(&fs, "/dev/null", JAIL_FILE_RO, err, sizeof(err)), -1);
    cr_assert(strstr(err, "not a regular file"), "%s", err);
}

/* A fake host: v1 cpu and cpuset hierarchies and a v2 one, as directories under tmp. */
static void fake_host(const char *v2_controllers, char *mountinfo, size_t len)
{
    make_tmp();
    char path[400], info[2048];
    const char *dirs[] = {"cpu", "cpuset", "unified"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp, dirs[i]);
        cr_assert_eq(mkdir(path, 0755), 0);
    }
    snprintf(path, sizeof(path), "%s/cpuset/cpuset.cpus", tmp);
    put(path, "0-1\n");
    snprintf(path, sizeof(path), "%s/cpuset/cpuset.mems", tmp);
    put(path, "0\n");
    snprintf(path, sizeof(path), "%s/unified/cgroup.controllers", tmp);
    put(path, v2_controllers);
    snprintf(info, sizeof(info),
             "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
             "31 30 0:28 / %s/cpu rw,relatime - cgroup cgroup rw,cpu\n"
             "33 30 0:30 / %s/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
             "40 30 0:37 / %s/unified rw,relatime - cgroup2 cgroup2 rw\n", tmp, tmp, tmp);
    snprintf(mountinfo, len, "%s/mountinfo", tmp);
    put(mountinfo, info);
}

Test(jail_cgroup, v1_when_v2_lacks_cpu_and_settings_land_in_their_hierarchy)
{
    char mi[400], path[600], buf[256], err[512] = "";
    fake_host("hugetlb\n", mi, sizeof(mi));
    cr_assert_eq(jail_cgroup_detect(mi), 1);
    struct jail_cgroup cg;
    char *settings[] = {"cpu.cfs_quota_us=50000", "cpuset.cpus=1"};
    cr_assert_eq(jail_cgroup_create(&cg, 1, mi, "vm1", settings, 2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cg.ndirs, 2);
    snprintf(path, sizeof(path), "%s/cpu/kiln/vm1/cpu.cfs_quota_us", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "50000");
    snprintf(path, sizeof(path), "%s/cpuset/kiln/vm1/cpuset.mems", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "0", "a new v1 cpuset starts from its parent's mems");
    snprintf(path, sizeof(path), "%s/cpuset/kiln/vm1/cpuset.cpus", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1");
    cr_assert_eq(jail_cgroup_add(&cg, 4242, err, sizeof(err)), 0, "%s", err);
    snprintf(path, sizeof(path), "%s/cpu/kiln/vm1/cgroup.procs", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "4242");
}

Test(jail_cgroup, v2_enables_the_controller_on_the_way_down)
{
    char mi[400], path[600], buf[256], err[512] = "";
    fake_host("cpu memory pids\n", mi, sizeof(mi));
    cr_assert_eq(jail_cgroup_detect(mi), 2);
    struct jail_cgroup cg;
    char *settings[] = {"cpu.max=50000 100000"};
    cr_assert_eq(jail_cgroup_create(&cg, 2, mi, "vm2", settings, 1, err, sizeof(err)), 0, "%s", err);
    snprintf(path, sizeof(path), "%s/unified/cgroup.subtree_control", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "+cpu");
    snprintf(path, sizeof(path), "%s/unified/kiln/vm2/cpu.max", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "50000 100000");
}

Test(jail_cgroup, a_second_jail_with_the_same_id_is_refused)
{
    char mi[400], err[512] = "";
    fake_host("hugetlb\n", mi, sizeof(mi));
    struct jail_cgroup a, b;
    cr_assert_eq(jail_cgroup_create(&a, 1, mi, "same", NULL, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(jail_cgroup_create(&b, 1, mi, "same", NULL, 0, err, sizeof(err)), -1);
    cr_assert(strstr(err, "another jail with this --id"), "%s", err);
}

Test(jail_cgroup, settings_are_checked_for_form)
{
    char err[256];
    cr_assert_eq(jail_cgroup_check_setting("cpu.max=max 100000", err, sizeof(err)), 0);
    cr_assert_eq(jail_cgroup_check_setting("nodot=1", err, sizeof(err)), -1);
    cr_assert_eq(jail_cgroup_check_setting("cpu.max", err, sizeof(err)), -1);
    cr_assert_eq(jail_cgroup_check_setting("../../etc.x=1", err, sizeof(err)), -1);
    cr_assert(strstr(err, "FILE=VALUE"), "%s", err);
}

Test(jail_cgroup, a_cpu_limit_in_each_versions_files)
{
    char out[JAIL_CPU_LIMIT_SETTINGS][JAIL_SETTING_MAX], err[256];
    cr_assert_eq(jail_cgroup_cpu_limit(2, 20000, 100000, out), 1);
    cr_assert_str_eq(out[0], "cpu.max=20000 100000");
    cr_assert_eq(jail_cgroup_cpu_limit(2, 0, 50000, out), 1);
    cr_assert_str_eq(out[0], "cpu.max=max 50000");
    cr_assert_eq(jail_cgroup_cpu_limit(1, 20000, 100000, out), 2);
    cr_assert_str_eq(out[0], "cpu.cfs_period_us=100000");
    cr_assert_str_eq(out[1], "cpu.cfs_quota_us=20000");
    cr_assert_eq(jail_cgroup_cpu_limit(1, 0, 100000, out), 2);
    cr_assert_str_eq(out[1], "cpu.cfs_quota_us=-1");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(jail_cgroup_check_setting(out[i], err, sizeof(err)), 0, "%s: %s", out[i], err);

    /* and they land in the v1 cpu hierarchy */
    char mi[400], path[600], buf[256];
    fake_host("hugetlb\n", mi, sizeof(mi));
    jail_cgroup_cpu_limit(1, 30000, 50000, out);
    char *settings[] = { out[0], out[1] };
    struct jail_cgroup cg;
    cr_assert_eq(jail_cgroup_create(&cg, 1, mi, "lim", settings, 2, err, sizeof(err)), 0, "%s", err);
    snprintf(path, sizeof(path), "%s/cpu/kiln/lim/cpu.cfs_quota_us", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "30000");
    snprintf(path, sizeof(path), "%s/cpu/kiln/lim/cpu.cfs_period_us", tmp);
    get(path, buf, sizeof(buf));
    cr_assert_str_eq(buf, "50000");
}

Test(jail, finds_the_commands_cpu_limit)
{
    char *a[] = { "run", "--kernel", "k", "--cpu-limit", "20%", "--cpus", "2" };
    cr_assert_str_eq(jail_command_cpu_limit(7, a), "20%");
    char *b[] = { "run", "--cpu-limit=1000/2000", "--cpu-limit", "30%" };
    cr_assert_str_eq(jail_command_cpu_limit(4, b), "30%", "the last one counts, as for getopt");
    char *c[] = { "run", "--rm", "--", "echo", "--cpu-limit", "5%" };
    cr_assert_null(jail_command_cpu_limit(6, c), "after -- it is the guest command's");
    char *d[] = { "run", "--cpu-limit" };
    cr_assert_null(jail_command_cpu_limit(2, d), "no value");
    char *e[] = { "--api-sock", "/s", "--cpu-limits=4" };
    cr_assert_null(jail_command_cpu_limit(3, e));
}
