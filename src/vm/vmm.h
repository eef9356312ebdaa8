/* vmm.h — the VM as the API and --config-file see it (Firecracker's model): resources are
 * configured one by one before boot, InstanceStart builds and starts the VM, then a few things
 * can change while it runs (pause/resume, drive and NIC rate limits, the balloon target).
 * Every call validates its input against the current state and returns 0, or -1 with a one-line
 * reason in err (the API's fault_message). Thread-safe: calls serialise on an internal lock. */
#ifndef KILN_VM_VMM_H
#define KILN_VM_VMM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/cpu_priority.h"
#include "common/cpu_quota.h"
#include "dev/virtio/balloon.h"
#include "dev/virtio/options.h"
#include "vm/config.h"
#include "vm/resources.h"

#define VMM_ID_MAX 64
#define VMM_PATH_MAX 4096

enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED, VMM_STOPPED };

struct vmm_boot_source {
    char kernel_image_path[VMM_PATH_MAX];
    char initrd_path[VMM_PATH_MAX];       /* "" when none */
    char boot_args[4096];                 /* "" means kiln's default command line */
    bool set;
};

struct vmm_machine_config {
    unsigned vcpu_count;                  /* default 1 */
    uint64_t mem_size_mib;                /* default 128, like Firecracker */
    bool smt;                             /* accepted, must be false (no SMT siblings) */
    bool track_dirty_pages;               /* accepted and stored (used by snapshots later) */
};

struct vmm_drive {
    char drive_id[VMM_ID_MAX + 1];        /* up to 64 characters and the NUL */
    char path_on_host[VMM_PATH_MAX];
    bool is_root_device, is_read_only;
    char partuuid[64];                    /* root by PARTUUID= instead of /dev/vdX; "" if none */
    bool has_rate_limiter;
    struct rate_limiter_config rate_limiter;
    /* kiln's own, not in Firecracker's API: the disk serial `kiln run --disk ...,serial=ID` gives;
     * "" means drive_id (what Firecracker does) */
    char serial[KILN_DISK_SERIAL_MAX + 1];
};

struct vmm_net {
    char iface_id[VMM_ID_MAX + 1];
    /* a TAP name, or kiln's user-mode networking: "user" or "user,hostfwd=...,..." (the
     * --net option syntax after "user") */
    char host_dev_name[1024];
    bool has_mac;
    uint8_t guest_mac[6];
    bool has_rx_rate_limiter, has_tx_rate_limiter;
    struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

struct vmm_vsock {
    uint32_t guest_cid;
    char uds_path[VMM_PATH_MAX];
    bool set;
};

struct vmm_entropy {
    bool set, has_rate_limiter;
    struct rate_limiter_config rate_limiter;
};

struct vmm_balloon {
    bool set;
    uint32_t amount_mib;
    bool deflate_on_oom;
    uint32_t stats_polling_interval_s;
};

/* kiln's own: the VM's CPU limit (cgroup cpu.max's quota per period, for all vCPUs together,
 * enforced by kiln on its vCPU threads) and its vCPU threads' priority. The limit can change
 * while the VM runs; the priority is fixed at start (an unprivileged kiln cannot raise it back). */
struct vmm_cpu_limit {
    bool set;                             /* configured: GET /vm/config shows it */
    uint64_t quota_us;                    /* 0: no limit */
    uint64_t period_us;                   /* default 100000 */
    enum cpu_priority vcpu_priority;      /* default normal */
};

/* Everything configured so far (GET /vm/config). Read it with vmm_get_config. */
struct vmm_config {
    struct vmm_boot_source boot;
    struct vmm_machine_config machine;
    unsigned ndrives, nnets;
    struct vmm_drive drives[KILN_MAX_VIRTIO];
    struct vmm_net nets[KILN_MAX_VIRTIO];
    struct vmm_vsock vsock;
    struct vmm_entropy entropy;
    struct vmm_balloon balloon;
    struct vmm_cpu_limit cpu_limit;
    char serial_out_path[VMM_PATH_MAX];   /* "" means the console (stdin/stdout) */
};

struct vmm;

struct vmm *vmm_new(uint64_t start_ns);
void vmm_free(struct vmm *v);
enum vmm_state vmm_get_state(struct vmm *v);
const char *vmm_state_name(enum vmm_state s);   /* "Not started", "Running", "Paused" */
void vmm_get_config(struct vmm *v, struct vmm_config *out);
/* Has anything been configured (boot source, machine, devices)? Snapshot load and incoming
 * migration need a kiln that has not. */
bool vmm_is_configured(struct vmm *v);

/* pre-boot only */
int vmm_put_boot_source(struct vmm *v, const struct vmm_boot_source *b, char *err, size_t errlen);
int vmm_put_machine_config(struct vmm *v, const struct vmm_machine_config *m, char *err, size_t errlen);
/* PATCH /machine-config: fields whose has_* flag is false keep their value */
int vmm_patch_machine_config(struct vmm *v, bool has_vcpus, unsigned vcpus, bool has_mem, uint64_t mem_mib,
                             bool has_track, bool track_dirty_pages, char *err, size_t errlen);
/* insert or replace by id */
int vmm_put_drive(struct vmm *v, const struct vmm_drive *d, char *err, size_t errlen);
int vmm_put_net(struct vmm *v, const struct vmm_net *n, char *err, size_t errlen);
int vmm_put_vsock(struct vmm *v, const struct vmm_vsock *s, char *err, size_t errlen);
int vmm_put_entropy(struct vmm *v, const struct vmm_entropy *e, char *err, size_t errlen);
int vmm_put_balloon(struct vmm *v, const struct vmm_balloon *b, char *err, size_t errlen);
int vmm_put_serial(struct vmm *v, const char *serial_out_path, char *err, size_t errlen);
/* Before boot: the limit and priority the VM starts with. While it runs: a new limit, at once
 * (l->vcpu_priority must be the running one). */
int vmm_put_cpu_limit(struct vmm *v, const struct vmm_cpu_limit *l, char *err, size_t errlen);
/* The limit in force (or configured), and, once the VM runs, its throttling counters (zero
 * before; *running says which). */
void vmm_get_cpu_limit(struct vmm *v, struct vmm_cpu_limit *out, struct cpu_quota_stats *stats, bool *running);

/* InstanceStart: builds the VM from the configuration and starts it */
int vmm_start(struct vmm *v, char *err, size_t errlen);

/* post-boot only */
int vmm_pause(struct vmm *v, char *err, size_t errlen);
/* SendCtrlAltDel: the guest's keyboard gets Ctrl-Alt-Del (x86-64; refused on RISC-V) */
int vmm_send_ctrl_alt_del(struct vmm *v, char *err, size_t errlen);
int vmm_resume(struct vmm *v, char *err, size_t errlen);
/* PATCH /drives/{id}: a new backing file (NULL: keep) and/or a new rate limiter (NULL: keep) */
int vmm_patch_drive(struct vmm *v, const char *drive_id, const char *path_on_host,
                    const struct rate_limiter_config *limit, char *err, size_t errlen);
int vmm_patch_net(struct vmm *v, const char *iface_id, const struct rate_limiter_config *rx,
                  const struct rate_limiter_config *tx, char *err, size_t errlen);
int vmm_patch_balloon(struct vmm *v, uint32_t amount_mib, char *err, size_t errlen);
int vmm_patch_balloon_stats_interval(struct vmm *v, uint32_t seconds, char *err, size_t errlen);
int vmm_get_balloon_stats(struct vmm *v, struct balloon_stats *out, char *err, size_t errlen);

/* Blocks until the guest stops (after vmm_start); returns kiln's exit status. */
int vmm_wait(struct vmm *v);
/* Stops a running guest (signal, API shutdown). */
void vmm_stop(struct vmm *v);

#endif
