/* jail_fs.c — building and entering the jail's root (see jail_fs.h). */
#include "sandbox/jail_fs.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int jail_fs_add(struct jail_fs *fs, const char *path, enum jail_entry_kind kind, char *err, size_t errlen)
{
    char abs[4096];
    if (path[0] == '/') {
        snprintf(abs, sizeof(abs), "%s", path);
    } else {
        char cwd[2048];
        if (!getcwd(cwd, sizeof(cwd))) {
            snprintf(err, errlen, "cannot read the current directory: %s", strerror(errno));
            return -1;
        }
        snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
    }
    for (int i = 0; i < fs->nentries; i++)
        if (!strcmp(fs->entries[i].path, abs)) {
            if (kind == JAIL_FILE_RW)   /* named read-write anywhere: read-write */
                fs->entries[i].kind = kind;
            return 0;
        }
    if (fs->nentries == JAIL_MAX_ENTRIES) {
        snprintf(err, errlen, "too many files for the jail (at most %d)", JAIL_MAX_ENTRIES);
        return -1;
    }
    if (kind != JAIL_DIR_OWNED) {
        struct stat st;
        if (stat(abs, &st)) {
            snprintf(err, errlen, "cannot put '%s' in the jail: %s", abs, strerror(errno));
            return -1;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
            snprintf(err, errlen, "cannot put '%s' in the jail: not a regular file", abs);
            return -1;
        }
    }
    snprintf(fs->entries[fs->nentries].path, sizeof(fs->entries[0].path), "%s", abs);
    fs->entries[fs->nentries++].kind = kind;
    return 0;
}

static int add_dir_of(struct jail_fs *fs, const char *path, char *err, size_t errlen)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    return jail_fs_add(fs, dirname(copy), JAIL_DIR_OWNED, err, errlen);
}

/* "--flag VALUE" or "--flag=VALUE" at argv[*i]: the value, advancing *i past it */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (!strncmp(argv[*i], flag, n) && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (!strcmp(argv[*i], flag) && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int jail_fs_add_from_args(struct jail_fs *fs, int argc, char **argv, char *err, size_t errlen)
{
    static const char *const ro_flags[] = {"--kernel", "--initrd", "--firmware", "--config-file",
                                           "--snapshot", "--mem"};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;                               /* run --rm's command: the guest's */
        const char *v;
        for (size_t k = 0; k < sizeof(ro_flags) / sizeof(ro_flags[0]); k++)
            if ((v = flag_value(argc, argv, &i, ro_flags[k])))
                goto ro;
        if ((v = flag_value(argc, argv, &i, "--disk"))) {
            char path[4096];
            snprintf(path, sizeof(path), "%.*s", (int)strcspn(v, ","), v);
            bool ro = strstr(v, ",readonly") != NULL;
            if (jail_fs_add(fs, path, ro ? JAIL_FILE_RO : JAIL_FILE_RW, err, errlen))
                return -1;
        } else if ((v = flag_value(argc, argv, &i, "--api-sock"))) {
            if (add_dir_of(fs, v, err, errlen))
                return -1;
        } else if ((v = flag_value(argc, argv, &i, "--vsock"))) {
            const char *uds = strstr(v, "uds=");
            if (uds) {
                char path[4096];
                snprintf(path, sizeof(path), "%.*s", (int)strcspn(uds + 4, ","), uds + 4);
                if (add_dir_of(fs, path, err, errlen))
                    return -1;
            }
        }
        continue;
ro:
        if (jail_fs_add(fs, v, JAIL_FILE_RO, err, errlen))
            return -1;
    }
    return 0;
}

static int mkdirs(const char *path, mode_t mode)
{
    char tmp[8192];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, mode) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

int jail_fs_make_root(struct jail_fs *fs, const char *base, const char *id, uid_t uid, gid_t gid,
                      char *err, size_t errlen)
{
    char jaildir[2048];
    if (snprintf(jaildir, sizeof(jaildir), "%s/kiln/%s", base, id) >= (int)sizeof(jaildir)) {
        snprintf(err, errlen, "--chroot-base is too long");
        return -1;
    }
    snprintf(fs->root, sizeof(fs->root), "%s/root", jaildir);
    if (mkdirs(jaildir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", jaildir, strerror(errno));
        return -1;
    }
    if (mkdir(fs->root, 0755)) {
        snprintf(err, errlen, "cannot make the jail's root %s: %s%s", fs->root, strerror(errno),
                 errno == EEXIST ? " (a jail with this --id is running, or a stale one: remove it)" : "");
        fs->root[0] = 0;   /* not ours: never remove it */
        return -1;
    }
    if (chown(fs->root, uid, gid)) {
        snprintf(err, errlen, "cannot give %s to %u:%u: %s", fs->root, uid, gid, strerror(errno));
        return -1;
    }
    return 0;
}

static int bind(const char *src, const char *dst, bool ro, char *err, size_t errlen)
{
    if (mount(src, dst, NULL, MS_BIND, NULL) ||
        mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | (ro ? MS_RDONLY : 0), NULL)) {
        snprintf(err, errlen, "cannot bind %s into the jail: %s", src, strerror(errno));
        return -1;
    }
    return 0;
}

/* An empty regular file as the mount point of a bound file, its directories root's. */
static int make_mount_point(const char *target, char *err, size_t errlen)
{
    char dir[8192];
    snprintf(dir, sizeof(dir), "%s", target);
    int fd = -1;
    if (mkdirs(dirname(dir), 0755) || (fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "cannot make %s: %s", target, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

int jail_fs_enter(struct jail_fs *fs, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    /* nothing mounted here may reach the host's namespace, and the root must be a mount point
     * for pivot_root */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        mount(fs->root, fs->root, NULL, MS_BIND | MS_REC, NULL)) {
        snprintf(err, errlen, "cannot prepare the jail's mounts: %s", strerror(errno));
        return -1;
    }
    char target[8192];
    for (int i = 0; i < fs->nentries; i++) {
        struct jail_entry *e = &fs->entries[i];
        snprintf(target, sizeof(target), "%s%s", fs->root, e->path);
        if (e->kind == JAIL_DIR_OWNED) {
            if (mkdirs(target, 0755) || chown(target, uid, gid)) {
                snprintf(err, errlen, "cannot make %s: %s", target, strerror(errno));
                return -1;
            }
        } else if (make_mount_point(target, err, errlen) ||
                   bind(e->path, target, e->kind == JAIL_FILE_RO, err, errlen)) {
            return -1;
        }
    }
    /* /dev/null for the console's spare ends; /dev/net/tun for TAP networking when the host has it */
    static const char *const devs[] = {"/dev/null", "/dev/net/tun"};
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
        if (access(devs[i], F_OK))
            continue;
        snprintf(target, sizeof(target), "%s%s", fs->root, devs[i]);
        if (make_mount_point(target, err, errlen))
            return -1;
        if (mount(devs[i], target, NULL, MS_BIND, NULL) ||
            mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL)) {
            snprintf(err, errlen, "cannot bind %s into the jail: %s", devs[i], strerror(errno));
            return -1;
        }
    }
    /* relative paths on the command line keep working: the jail has the same working directory
     * (empty, root's, unless a bound file lives there) */
    char cwd[2048];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), "/");
    snprintf(target, sizeof(target), "%s%s", fs->root, cwd);
    if (mkdirs(target, 0755)) {
        snprintf(err, errlen, "cannot make %s: %s", target, strerror(errno));
        return -1;
    }
    if (chdir(fs->root) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir(cwd)) {
        snprintf(err, errlen, "cannot pivot into the jail's root: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void jail_fs_remove(struct jail_fs *fs)
{
    if (!fs->root[0])
        return;
    /* FTW_MOUNT: never cross into a file system mounted below (there should be none here) */
    nftw(fs->root, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    char jaildir[4096];
    snprintf(jaildir, sizeof(jaildir), "%s", fs->root);
    rmdir(dirname(jaildir));
}
