/* jail_fs.h — the jail's root directory: made empty, filled with bind mounts of exactly the files
 * the VM uses (at the same absolute paths, so the command line needs no rewriting), and entered
 * with pivot_root. */
#ifndef KILN_SANDBOX_JAIL_FS_H
#define KILN_SANDBOX_JAIL_FS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define JAIL_MAX_ENTRIES 64

enum jail_entry_kind {
    JAIL_FILE_RO,   /* bind-mounted read-only: kernel, initrd, firmware, read-only disks */
    JAIL_FILE_RW,   /* bind-mounted read-write: disks, snapshot files named with :rw */
    JAIL_DIR_OWNED, /* an empty directory owned by the jail's uid: where kiln makes sockets */
};

struct jail_entry {
    char path[4096];             /* absolute */
    enum jail_entry_kind kind;
};

struct jail_fs {
    char root[4096];             /* CHROOT_BASE/kiln/ID/root */
    struct jail_entry entries[JAIL_MAX_ENTRIES];
    int nentries;
};

/* Adds path (made absolute against the current directory) unless it is already there. */
int jail_fs_add(struct jail_fs *fs, const char *path, enum jail_entry_kind kind, char *err, size_t errlen);
/* Adds what a kiln command line names: --kernel, --initrd, --firmware, --disk (read-only with
 * ",readonly"), --config-file; the directories of --api-sock and --vsock uds= sockets. */
int jail_fs_add_from_args(struct jail_fs *fs, int argc, char **argv, char *err, size_t errlen);

/* Parent side: makes the root directory (it must not exist), owned by uid:gid. */
int jail_fs_make_root(struct jail_fs *fs, const char *base, const char *id, uid_t uid, gid_t gid,
                      char *err, size_t errlen);
/* Child side, in a new mount namespace, still privileged: bind mounts and pivot_root. */
int jail_fs_enter(struct jail_fs *fs, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Parent side, after the child ended: removes the root directory tree (in the parent's mount
 * namespace it holds only empty mount points and whatever kiln created: sockets). */
void jail_fs_remove(struct jail_fs *fs);

#endif
