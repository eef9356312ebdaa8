/* resources.h — one validator per resource of a VM (machine, boot files, drive, network
 * interface, vsock, entropy, balloon), shared by every front end: `kiln run`'s flags, the API and
 * --config-file (both through vmm_put_*). A rule lives here once, so the front ends cannot
 * disagree about it. Each validator returns 0, or -1 with a one-line reason in err: the API sends
 * the reason as its fault_message, the CLI prints it after the flag's name and exits with the
 * status the resource's failure means (file problems 66, everything else 64). */
#ifndef KILN_VM_RESOURCES_H
#define KILN_VM_RESOURCES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dev/virtio/options.h"

/* The upper limit of guest RAM when the host's RAM is unknown, and in any case: 1 TiB. One rule
 * for both front ends (they used to fall back to 1 TiB and to "no limit"). */
#define KILN_MAX_MEM_MIB (1ull << 20)
#define KILN_DISK_SERIAL_MAX 20           /* VIRTIO_BLK_ID_BYTES */
#define KILN_BALLOON_STATS_MAX_S 86400    /* a polling period longer than a day is a mistake */

/* The host's RAM in MiB, 0 when sysconf cannot tell. */
uint64_t res_host_mem_mib(void);
/* The largest guest RAM allowed: the host's RAM, at most KILN_MAX_MEM_MIB (that when unknown). */
uint64_t res_max_mem_mib(void);

/* vCPUs 1..KILN_MAX_CPUS; memory KILN_MIN_MEM_MIB..res_max_mem_mib(); no SMT (kiln's vCPUs have no siblings) */
int res_check_vcpus(unsigned vcpus, char *err, size_t errlen);
int res_check_mem(uint64_t mem_mib, char *err, size_t errlen);
int res_check_machine(unsigned vcpus, uint64_t mem_mib, bool smt, char *err, size_t errlen);

/* the rv64 translator's code cache per vCPU (--jit-cache-mb): 1..KILN_JIT_CACHE_MAX_MIB MiB */
#define KILN_JIT_CACHE_MAX_MIB 1024
int res_check_jit_cache(unsigned mib, char *err, size_t errlen);

/* Firecracker's rule for resource ids (drive_id, iface_id): 1-64 letters, digits or '_'. size is
 * the buffer holding id (a full buffer means the JSON string was too long). */
int res_check_id(const char *what, const char *id, size_t size, char *err, size_t errlen);
/* Opens path the way the VM will (read-only or read-write) to find permission problems now;
 * `access` would answer for the real uid and miss a read-only filesystem. A FIFO or anything
 * else that is not a regular file (or, if allowed, a block device) is refused at once, never
 * waited on (fd_open_user). what names the file in the message ("kernel", "drive"). */
int res_check_file(const char *what, const char *path, bool writable, bool allow_blockdev,
                   char *err, size_t errlen);

/* drive: the image opens as the VM will open it (read-write unless readonly; a regular file,
 * which is all the block device takes) and the serial fits the device's 20 bytes */
int res_check_drive(const struct disk_options *o, char *err, size_t errlen);

/* network interface: a TAP name the kernel accepts, a unicast MAC, at most KILN_MAX_HOSTFWD
 * forwards and only with user-mode networking */
int res_check_tap_name(const char *name, char *err, size_t errlen);
int res_check_mac(const uint8_t mac[6], char *err, size_t errlen);
int res_check_net(const struct net_options *o, char *err, size_t errlen);

/* vsock: cid 3 or more (0-2 are reserved), a uds path that fits a sockaddr_un */
int res_check_vsock(const struct vsock_options *o, char *err, size_t errlen);
/* The socket's directory exists and takes new files, and the path is free or a stale socket. */
int res_check_vsock_dir(const char *path, char *err, size_t errlen);
/* entropy: every rate limit is valid, so nothing to refuse today; kept so a rule has a home */
int res_check_entropy(const struct rng_options *o, char *err, size_t errlen);
/* balloon: the target fits in the guest's memory, the stats period in a day */
int res_check_balloon(const struct balloon_options *o, uint64_t mem_mib, char *err, size_t errlen);

/* CPU limit: the period 1 ms .. 1 s, the quota 0 (none) or 1 ms .. 1024 periods (cpu_quota.h's
 * rule); the vCPU priority one of enum cpu_priority */
int res_check_cpu_limit(uint64_t quota_us, uint64_t period_us, int vcpu_priority, char *err, size_t errlen);

#endif
