/* resources.c — the rules for each VM resource, in one place for every front end. Messages
 * follow Firecracker's wording where it has one (its clients and docs still apply). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "common/cpu_priority.h"
#include "common/cpu_quota.h"
#include "common/errmsg.h"
#include "common/fd_io.h"
#include "vm/config.h"
#include "vm/resources.h"


uint64_t res_host_mem_mib(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    return ((uint64_t)pages * (uint64_t)page) >> 20;
}

uint64_t res_max_mem_mib(void)
{
    uint64_t host = res_host_mem_mib();
    return host && host < KILN_MAX_MEM_MIB ? host : KILN_MAX_MEM_MIB;
}

int res_check_vcpus(unsigned vcpus, char *err, size_t errlen)
{
    if (vcpus < 1 || vcpus > KILN_MAX_CPUS)
        return errmsg(err, errlen, "The number of vCPUs must be from 1 to %d, not %u.", KILN_MAX_CPUS, vcpus);
    return 0;
}

int res_check_jit_cache(unsigned mib, char *err, size_t errlen)
{
    if (mib < 1 || mib > KILN_JIT_CACHE_MAX_MIB)
        return errmsg(err, errlen, "The JIT code cache must be from 1 to %d MiB per vCPU, not %u.",
                      KILN_JIT_CACHE_MAX_MIB, mib);
    return 0;
}

int res_check_mem(uint64_t mem_mib, char *err, size_t errlen)
{
    uint64_t max = res_max_mem_mib();
    if (mem_mib < KILN_MIN_MEM_MIB || mem_mib > max)
        return errmsg(err, errlen, "The memory size (MiB) is invalid: %llu (kiln needs at least %d MiB, "
                    "and at most the host's %llu MiB).", (unsigned long long)mem_mib, KILN_MIN_MEM_MIB,
                    (unsigned long long)max);
    return 0;
}

int res_check_machine(unsigned vcpus, uint64_t mem_mib, bool smt, char *err, size_t errlen)
{
    if (smt)
        return errmsg(err, errlen, "Enabling simultaneous multithreading is not supported on riscv64.");
    return res_check_vcpus(vcpus, err, errlen) || res_check_mem(mem_mib, err, errlen) ? -1 : 0;
}

int res_check_id(const char *what, const char *id, size_t size, char *err, size_t errlen)
{
    size_t n = strnlen(id, size);
    if (n == 0)
        return errmsg(err, errlen, "Invalid %s: it cannot be empty.", what);
    if (n == size || n > 64)
        return errmsg(err, errlen, "Invalid %s: it is longer than 64 characters.", what);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return errmsg(err, errlen, "Invalid %s '%s': only letters, digits and '_' are allowed.", what, id);
    }
    return 0;
}

int res_check_file(const char *what, const char *path, bool writable, bool allow_blockdev,
                   char *err, size_t errlen)
{
    if (!path || !*path)
        return errmsg(err, errlen, "The %s path is empty.", what);
    char why[128];
    int fd = fd_open_user(path, writable ? O_RDWR : O_RDONLY, 0, FD_REGULAR | (allow_blockdev ? FD_BLOCKDEV : 0),
                          why, sizeof(why));
    if (fd < 0)
        return errmsg(err, errlen, "The %s file '%s' cannot be opened%s: %s", what, path,
                    writable ? " for reading and writing" : "", why);
    close(fd);
    return 0;
}

int res_check_drive(const struct disk_options *o, char *err, size_t errlen)
{
    if (o->serial && strlen(o->serial) > KILN_DISK_SERIAL_MAX)
        return errmsg(err, errlen, "The disk serial '%s' is longer than %d characters.", o->serial,
                    KILN_DISK_SERIAL_MAX);
    /* raw image files only: the block device refuses anything else (blk.c open_image) */
    return res_check_file("drive", o->path, !o->readonly, false, err, errlen);
}

int res_check_tap_name(const char *name, char *err, size_t errlen)
{
    if (!*name)
        return errmsg(err, errlen, "the TAP name is empty.");
    if (strlen(name) >= IFNAMSIZ)
        return errmsg(err, errlen, "the TAP name '%s' is longer than %d characters.", name, IFNAMSIZ - 1);
    /* what the kernel's dev_valid_name refuses, and ',' and ':' that the option syntax uses */
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == ',' || *p == ':' || *p <= ' ' || *p == 0x7f)
            return errmsg(err, errlen, "'%s' is not a valid TAP name.", name);
    return 0;
}

int res_check_mac(const uint8_t mac[6], char *err, size_t errlen)
{
    if (mac[0] & 1)   /* the I/G bit: a multicast address cannot be a NIC's */
        return errmsg(err, errlen, "the guest MAC address must be unicast.");
    return 0;
}

int res_check_net(const struct net_options *o, char *err, size_t errlen)
{
    if (o->backend == NET_TAP && res_check_tap_name(o->tap ? o->tap : "", err, errlen))
        return -1;
    if (o->backend != NET_USER && o->nhostfwd)
        return errmsg(err, errlen, "hostfwd= needs user-mode networking.");
    if (o->nhostfwd > KILN_MAX_HOSTFWD)
        return errmsg(err, errlen, "at most %d hostfwd= per network interface.", KILN_MAX_HOSTFWD);
    return res_check_mac(o->mac, err, errlen);
}

int res_check_vsock(const struct vsock_options *o, char *err, size_t errlen)
{
    if (o->guest_cid < 3)
        return errmsg(err, errlen, "Invalid vsock guest_cid %u: it must be 3 or more (0-2 are reserved).",
                    o->guest_cid);
    size_t n = o->uds_path ? strlen(o->uds_path) : 0;
    if (n == 0)
        return errmsg(err, errlen, "The vsock uds_path is empty.");
    if (n >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return errmsg(err, errlen, "The vsock uds_path is longer than a Unix socket path can be (%zu).",
                    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    return res_check_vsock_dir(o->uds_path, err, errlen);
}

int res_check_vsock_dir(const char *path, char *err, size_t errlen)
{
    /* kiln creates the socket at boot, after removing a stale one: find a directory that is
     * missing or closed to us now, where the client can still be told */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        return errmsg(err, errlen, "The vsock uds_path '%s' exists and is not a socket.", path);
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    path_parent_dir(path, dir, sizeof(dir));
    if (stat(dir, &st) != 0)
        return errmsg(err, errlen, "The vsock uds_path '%s' cannot be created: %s: %s.", path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return errmsg(err, errlen, "The vsock uds_path '%s' cannot be created: %s is not a directory.", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return errmsg(err, errlen, "The vsock uds_path '%s' cannot be created: %s: %s.", path, dir, strerror(errno));
    return 0;
}

int res_check_entropy(const struct rng_options *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    return 0;
}

int res_check_balloon(const struct balloon_options *o, uint64_t mem_mib, char *err, size_t errlen)
{
    if (o->amount_mib > mem_mib)
        return errmsg(err, errlen, "Amount of pages requested is too large: %u MiB, the guest has %llu MiB.",
                    o->amount_mib, (unsigned long long)mem_mib);
    if (o->stats_polling_s > KILN_BALLOON_STATS_MAX_S)
        return errmsg(err, errlen, "The balloon statistics polling interval must be at most %d seconds, "
                    "not %u.", KILN_BALLOON_STATS_MAX_S, o->stats_polling_s);
    return 0;
}

int res_check_cpu_limit(uint64_t quota_us, uint64_t period_us, int vcpu_priority, char *err, size_t errlen)
{
    char why[200];
    if (cpu_quota_check(quota_us, period_us, why, sizeof(why))) {
        why[0] = (char)(why[0] == 't' ? 'T' : why[0]);   /* "The CPU limit's ..." as a sentence */
        return errmsg(err, errlen, "%s.", why);
    }
    if (vcpu_priority < CPU_PRIORITY_NORMAL || vcpu_priority > CPU_PRIORITY_IDLE)
        return errmsg(err, errlen, "Invalid vCPU priority %d: normal, low or idle.", vcpu_priority);
    return 0;
}
