/* vmm.c — the VM as the API sees it: a configuration built up call by call and checked at each
 * call (so a client learns about a mistake from the request that made it, not at boot), turned
 * into a vm_config and a running vm by vmm_start, then the few changes a running VM accepts.
 * Error texts follow Firecracker's where it has one, so its clients and docs still apply. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fd_io.h"
#include "dev/virtio/balloon.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/net.h"
#include "vm/resources.h"
#include "vm/vm_build.h"
#include "vm/vm.h"
#include "vm/vmm.h"
#include "vm/vmm_priv.h"

#define ERR_POST_BOOT "The requested operation is not supported after starting the microVM."
#define ERR_PRE_BOOT "The requested operation is not supported before starting the microVM."
#define ERR_STOPPED "The microVM has stopped."
#define ERR_NO_BALLOON "No balloon device found."


#define fail errmsg

/* The callers hand in fixed-size structs filled from JSON: a string that fills its whole
 * buffer has lost its terminator (it was too long), and must not be read past the end. */
#define TERMINATED(field) (strnlen((field), sizeof(field)) < sizeof(field))

/* ---- checks shared by several calls ---- */

static int pre_boot(struct vmm *v, char *err, size_t errlen)
{
    return v->state == VMM_NOT_STARTED ? 0 : fail(err, errlen, ERR_POST_BOOT);
}

/* For the PUTs that check their input (files, mostly) before taking the lock: after start the
 * answer must be "not after starting", not a complaint about the input. The state is checked
 * again under the lock when the change is made. */
static int pre_boot_unlocked(struct vmm *v, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static int post_boot(struct vmm *v, char *err, size_t errlen)
{
    if (v->state == VMM_NOT_STARTED)
        return fail(err, errlen, ERR_PRE_BOOT);
    if (v->state == VMM_STOPPED || !v->vm)
        return fail(err, errlen, ERR_STOPPED);
    return 0;
}

static int check_machine(const struct vmm *v, const struct vmm_machine_config *m, char *err, size_t errlen)
{
    if (res_check_machine(m->vcpu_count, m->mem_size_mib, m->smt, err, errlen))
        return -1;
    if (v->cfg.balloon.set && v->cfg.balloon.amount_mib > m->mem_size_mib)
        return fail(err, errlen, "The memory size (MiB) is smaller than the previously set balloon "
                    "device target size (%u MiB).", v->cfg.balloon.amount_mib);
    return 0;
}

static unsigned virtio_count(const struct vmm_config *c)
{
    return c->ndrives + c->nnets + c->entropy.set + c->vsock.set + c->balloon.set;
}

static int check_slot_free(const struct vmm *v, const char *what, char *err, size_t errlen)
{
    if (virtio_count(&v->cfg) >= KILN_MAX_VIRTIO)
        return fail(err, errlen, "Cannot add the %s: the machine has %d virtio device slots and all "
                    "are taken.", what, KILN_MAX_VIRTIO);
    return 0;
}

/* ---- life cycle ---- */

struct vmm *vmm_new(uint64_t start_ns)
{
    struct vmm *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->changed, NULL);
    v->start_ns = start_ns;
    v->state = VMM_NOT_STARTED;
    v->cfg.machine.vcpu_count = 1;
    v->cfg.machine.mem_size_mib = 128;   /* Firecracker's default, which its clients assume */
    v->cfg.cpu_limit.period_us = CPU_QUOTA_DEFAULT_PERIOD_US;
    return v;
}

void vmm_free(struct vmm *v)
{
    if (!v)
        return;
    /* a VM nobody waited for: stop it rather than leave threads running on freed memory */
    if (v->vm) {
        vm_request_stop(v->vm);
        vm_wait(v->vm);
        vm_destroy(v->vm);
    }
    pthread_cond_destroy(&v->changed);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

enum vmm_state vmm_get_state(struct vmm *v)
{
    pthread_mutex_lock(&v->lock);
    enum vmm_state s = v->state;
    pthread_mutex_unlock(&v->lock);
    return s;
}

const char *vmm_state_name(enum vmm_state s)
{
    switch (s) {
    case VMM_NOT_STARTED: return "Not started";
    case VMM_RUNNING: return "Running";
    case VMM_PAUSED: return "Paused";
    case VMM_STOPPED: return "Stopped";   /* kiln's own: Firecracker exits with its guest */
    }
    return "Unknown";
}

bool vmm_is_configured(struct vmm *v)
{
    pthread_mutex_lock(&v->lock);
    const struct vmm_config *c = &v->cfg;
    bool set = c->boot.set || c->ndrives || c->nnets || c->vsock.set || c->entropy.set || c->balloon.set ||
               c->serial_out_path[0] || c->cpu_limit.set || c->machine.vcpu_count != 1 || c->machine.mem_size_mib != 128 ||
               c->machine.smt || c->machine.track_dirty_pages;
    pthread_mutex_unlock(&v->lock);
    return set;
}

void vmm_get_config(struct vmm *v, struct vmm_config *out)
{
    pthread_mutex_lock(&v->lock);
    *out = v->cfg;
    pthread_mutex_unlock(&v->lock);
}

/* ---- pre-boot configuration ---- */

int vmm_put_boot_source(struct vmm *v, const struct vmm_boot_source *b, char *err, size_t errlen)
{
    if (pre_boot_unlocked(v, err, errlen))
        return -1;
    if (!TERMINATED(b->kernel_image_path) || !TERMINATED(b->initrd_path) || !TERMINATED(b->boot_args))
        return fail(err, errlen, "The boot source has a path or boot_args that is too long.");
    if (!*b->kernel_image_path)
        return fail(err, errlen, "The kernel_image_path is missing.");
    if (res_check_file("kernel", b->kernel_image_path, false, false, err, errlen))
        return -1;
    if (*b->initrd_path && res_check_file("initrd", b->initrd_path, false, false, err, errlen))
        return -1;
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc) {
        v->cfg.boot = *b;
        v->cfg.boot.set = true;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_machine_config(struct vmm *v, const struct vmm_machine_config *m, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc)
        rc = check_machine(v, m, err, errlen);
    if (!rc)
        v->cfg.machine = *m;
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_patch_machine_config(struct vmm *v, bool has_vcpus, unsigned vcpus, bool has_mem, uint64_t mem_mib,
                             bool has_track, bool track_dirty_pages, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc) {
        struct vmm_machine_config m = v->cfg.machine;
        if (has_vcpus)
            m.vcpu_count = vcpus;
        if (has_mem)
            m.mem_size_mib = mem_mib;
        if (has_track)
            m.track_dirty_pages = track_dirty_pages;
        rc = check_machine(v, &m, err, errlen);
        if (!rc)
            v->cfg.machine = m;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static int find_drive(const struct vmm_config *c, const char *id)
{
    for (unsigned i = 0; i < c->ndrives; i++)
        if (!strcmp(c->drives[i].drive_id, id))
            return (int)i;
    return -1;
}

static int find_net(const struct vmm_config *c, const char *id)
{
    for (unsigned i = 0; i < c->nnets; i++)
        if (!strcmp(c->nets[i].iface_id, id))
            return (int)i;
    return -1;
}

int vmm_put_drive(struct vmm *v, const struct vmm_drive *d, char *err, size_t errlen)
{
    if (pre_boot_unlocked(v, err, errlen))
        return -1;
    if (res_check_id("drive_id", d->drive_id, sizeof(d->drive_id), err, errlen))
        return -1;
    if (!TERMINATED(d->path_on_host) || !TERMINATED(d->partuuid))
        return fail(err, errlen, "Drive '%s': path_on_host or partuuid is too long.", d->drive_id);
    for (const char *p = d->partuuid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == '-'))
            return fail(err, errlen, "Drive '%s': invalid partuuid '%s' (hex digits and '-').",
                        d->drive_id, d->partuuid);
    if (!TERMINATED(d->serial))
        return fail(err, errlen, "Drive '%s': the serial is longer than %d characters.", d->drive_id,
                    KILN_DISK_SERIAL_MAX);
    struct disk_options o = { .path = d->path_on_host, .readonly = d->is_read_only,
                              .serial = *d->serial ? d->serial : NULL };
    if (res_check_drive(&o, err, errlen))
        return -1;
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    int i = find_drive(&v->cfg, d->drive_id);
    if (!rc && d->is_root_device)
        for (unsigned j = 0; j < v->cfg.ndrives; j++)
            if (v->cfg.drives[j].is_root_device && (int)j != i) {
                rc = fail(err, errlen, "A root block device already exists! (drive '%s')",
                          v->cfg.drives[j].drive_id);
                break;
            }
    if (!rc && i < 0)
        rc = check_slot_free(v, "drive", err, errlen);
    if (!rc) {
        if (i < 0)
            i = (int)v->cfg.ndrives++;
        v->cfg.drives[i] = *d;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_net(struct vmm *v, const struct vmm_net *n, char *err, size_t errlen)
{
    if (pre_boot_unlocked(v, err, errlen))
        return -1;
    if (res_check_id("iface_id", n->iface_id, sizeof(n->iface_id), err, errlen))
        return -1;
    if (!TERMINATED(n->host_dev_name))
        return fail(err, errlen, "Interface '%s': host_dev_name is too long.", n->iface_id);
    const char *name = n->host_dev_name;
    if (!*name)
        return fail(err, errlen, "Interface '%s': host_dev_name is empty (a TAP device name, or "
                    "\"user\" for user-mode networking).", n->iface_id);
    /* the options the NIC will get (user-mode ones parsed from a scratch copy, again for real at
     * boot), checked by the same rule as the command line's */
    char scratch[sizeof(n->host_dev_name)];
    struct net_options o;
    if (vm_net_options_of(n, 0, scratch, sizeof(scratch), &o, err, errlen))
        return -1;
    char why[256];
    if (res_check_net(&o, why, sizeof(why)))
        return fail(err, errlen, "Interface '%s': %s", n->iface_id, why);

    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    int i = find_net(&v->cfg, n->iface_id);
    for (unsigned j = 0; !rc && j < v->cfg.nnets; j++) {
        const struct vmm_net *o2 = &v->cfg.nets[j];
        if ((int)j == i)
            continue;
        if (!vm_is_user_net(name) && !strcmp(o2->host_dev_name, name))
            rc = fail(err, errlen, "The host device name %s is already in use.", name);
        else if (n->has_mac && o2->has_mac && !memcmp(o2->guest_mac, n->guest_mac, 6)) {
            char mac[18];
            vm_format_mac(n->guest_mac, mac);
            rc = fail(err, errlen, "The guest MAC address %s is already in use.", mac);
        }
    }
    if (!rc && i < 0)
        rc = check_slot_free(v, "network interface", err, errlen);
    if (!rc) {
        if (i < 0)
            i = (int)v->cfg.nnets++;
        v->cfg.nets[i] = *n;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_vsock(struct vmm *v, const struct vmm_vsock *s, char *err, size_t errlen)
{
    if (pre_boot_unlocked(v, err, errlen))
        return -1;
    struct vsock_options o = { .guest_cid = s->guest_cid, .uds_path = s->uds_path };
    if (!TERMINATED(s->uds_path))
        return fail(err, errlen, "The vsock uds_path is too long.");
    if (res_check_vsock(&o, err, errlen))
        return -1;
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc && !v->cfg.vsock.set)
        rc = check_slot_free(v, "vsock device", err, errlen);
    if (!rc) {
        v->cfg.vsock = *s;
        v->cfg.vsock.set = true;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_entropy(struct vmm *v, const struct vmm_entropy *e, char *err, size_t errlen)
{
    struct rng_options o = { .limit = e->rate_limiter };
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc)
        rc = res_check_entropy(&o, err, errlen);
    if (!rc && !v->cfg.entropy.set)
        rc = check_slot_free(v, "entropy device", err, errlen);
    if (!rc) {
        v->cfg.entropy = *e;
        v->cfg.entropy.set = true;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_balloon(struct vmm *v, const struct vmm_balloon *b, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    struct balloon_options o = { .amount_mib = b->amount_mib, .deflate_on_oom = b->deflate_on_oom,
                                 .stats_polling_s = b->stats_polling_interval_s };
    if (!rc)
        rc = res_check_balloon(&o, v->cfg.machine.mem_size_mib, err, errlen);
    if (!rc && !v->cfg.balloon.set)
        rc = check_slot_free(v, "balloon device", err, errlen);
    if (!rc) {
        v->cfg.balloon = *b;
        v->cfg.balloon.set = true;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_serial(struct vmm *v, const char *serial_out_path, char *err, size_t errlen)
{
    if (pre_boot_unlocked(v, err, errlen))
        return -1;
    const char *p = serial_out_path ? serial_out_path : "";
    if (strlen(p) >= VMM_PATH_MAX)
        return fail(err, errlen, "The serial_out_path is too long.");
    if (*p) {
        /* find an unwritable target now; the file itself is opened (and created) at boot */
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                return fail(err, errlen, "The serial output '%s' is a directory.", p);
            if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
                return fail(err, errlen, "The serial output '%s' is not a regular file or a FIFO.", p);
            if (access(p, W_OK) != 0)
                return fail(err, errlen, "The serial output '%s' is not writable: %s", p, strerror(errno));
        } else {
            char dir[VMM_PATH_MAX];
            path_parent_dir(p, dir, sizeof(dir));
            if (access(dir, W_OK | X_OK) != 0)
                return fail(err, errlen, "The serial output '%s' cannot be created: %s", p, strerror(errno));
        }
    }
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc)
        snprintf(v->cfg.serial_out_path, sizeof(v->cfg.serial_out_path), "%s", p);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_put_cpu_limit(struct vmm *v, const struct vmm_cpu_limit *l, char *err, size_t errlen)
{
    if (res_check_cpu_limit(l->quota_us, l->period_us, (int)l->vcpu_priority, err, errlen))
        return -1;
    pthread_mutex_lock(&v->lock);
    int rc = 0;
    if (v->state != VMM_NOT_STARTED) {
        rc = post_boot(v, err, errlen);
        if (!rc && l->vcpu_priority != v->run.cpu_limit.vcpu_priority)
            rc = fail(err, errlen, "The vCPU priority cannot change after starting the microVM (it is "
                      "%s): an unprivileged kiln cannot raise its threads' priority back.",
                      cpu_priority_name(v->run.cpu_limit.vcpu_priority));
        if (!rc)
            rc = vm_set_cpu_limit(v->vm, l->quota_us, l->period_us, err, errlen);
    }
    if (!rc) {
        v->cfg.cpu_limit = *l;
        v->cfg.cpu_limit.set = true;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

void vmm_get_cpu_limit(struct vmm *v, struct vmm_cpu_limit *out, struct cpu_quota_stats *stats, bool *running)
{
    pthread_mutex_lock(&v->lock);
    *out = v->cfg.cpu_limit;
    *running = v->vm != NULL;
    if (v->vm)
        vm_get_cpu_limit_stats(v->vm, stats);
    else
        *stats = (struct cpu_quota_stats){ 0 };
    pthread_mutex_unlock(&v->lock);
}

/* ---- start ---- */

static const char *status_meaning(int status)
{
    switch (status) {
    case KILN_EXIT_USAGE: return "the configuration does not fit the machine";
    case KILN_EXIT_BAD_IMAGE: return "the kernel or initrd is invalid or does not fit in guest memory";
    case KILN_EXIT_NO_INPUT: return "a file cannot be opened";
    case KILN_EXIT_HOST: return "the host refused a resource (memory, threads, devices)";
    }
    return "internal error";
}

/* Fills v->vmcfg from v->run; the strings it points into are v->run's and v->bufs'. Called with
 * the lock held. */
static int build_vm_config(struct vmm *v, char *err, size_t errlen)
{
    return vm_config_build(&v->run, &v->vmcfg, &v->bufs, err, errlen);
}

/* Console output to a file: the console writes to STDOUT_FILENO, so the file takes its place
 * for the rest of the process (kiln in API mode writes nothing else to stdout). */
static int redirect_serial(const char *path, char *err, size_t errlen)
{
    /* a FIFO is allowed (Firecracker's "file or named pipe"); it stays non-blocking, so a reader
     * that stops reading loses output instead of stalling the guest */
    char why[128];
    int fd = fd_open_user(path, O_WRONLY | O_CREAT | O_APPEND, 0644, FD_REGULAR | FD_FIFO, why, sizeof(why));
    if (fd < 0)
        return fail(err, errlen, "Cannot open the serial output '%s': %s.", path, why);
    int rc = dup2(fd, STDOUT_FILENO) < 0 ? -1 : 0;
    int e = errno;
    close(fd);
    if (rc)
        return fail(err, errlen, "Cannot redirect the serial output to '%s': %s", path, strerror(e));
    return 0;
}

int vmm_start_locked(struct vmm *v, const struct vm_restore *rs, bool paused, bool publish, char *err, size_t errlen)
{
    v->run = v->cfg;
    int rc = build_vm_config(v, err, errlen);
    struct vm *vm = NULL;
    if (!rc && rs) {
        /* the restore's own reason (a state that does not fit, a memory file of the wrong size)
         * says more than an exit status */
        char why[300] = "";
        struct vm_restore r = *rs;
        r.err = why;
        r.errlen = sizeof(why);
        int status = vm_create_restored(&v->vmcfg, v->start_ns, &r, &vm);
        if (status) {
            vm = NULL;
            rc = *why ? fail(err, errlen, "Cannot restore the microVM: %s.", why)
                      : fail(err, errlen, "Cannot restore the microVM: %s (status %d, reason on kiln's stderr).",
                             status_meaning(status), status);
        }
    } else if (!rc) {
        /* the client gets the cause (a socket directory that vanished, a corrupt kernel), not
         * only a status whose reason went to kiln's stderr */
        char why[300] = "";
        int status = vm_create(&v->vmcfg, v->start_ns, &vm, why, sizeof(why));
        if (status) {
            vm = NULL;
            rc = *why ? fail(err, errlen, "Cannot start the microVM: %s.", why)
                      : fail(err, errlen, "Cannot start the microVM: %s (status %d, reason on kiln's stderr).",
                             status_meaning(status), status);
        }
    }
    /* dirty pages are tracked from the first instruction, so a Diff snapshot misses nothing */
    if (!rc && v->run.machine.track_dirty_pages && vm_dirty_enable(vm, true) != 0)
        rc = fail(err, errlen, "Cannot track dirty pages: out of host memory.");
    if (!rc && *v->run.serial_out_path)
        rc = redirect_serial(v->run.serial_out_path, err, errlen);
    if (!rc) {
        int status = vm_start_opts(vm, paused ? VM_START_PAUSED : 0);
        if (status)
            rc = fail(err, errlen, "Cannot start the microVM: %s (status %d, reason on kiln's stderr).",
                      status_meaning(status), status);
    }
    if (rc) {
        vm_destroy(vm);
    } else {
        v->vm = vm;
        if (publish)
            vmm_publish_locked(v, paused ? VMM_PAUSED : VMM_RUNNING);
    }
    return rc;
}

void vmm_publish_locked(struct vmm *v, enum vmm_state state)
{
    v->state = state;
    pthread_cond_broadcast(&v->changed);
}

void vmm_discard_locked(struct vmm *v)
{
    vm_destroy(v->vm);
    v->vm = NULL;
}

int vmm_start(struct vmm *v, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = pre_boot(v, err, errlen);
    if (!rc && !v->cfg.boot.set)
        rc = fail(err, errlen, "Cannot start microvm without kernel configuration.");
    if (!rc)
        rc = vmm_start_locked(v, NULL, false, true, err, errlen);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* ---- post-boot ---- */

int vmm_pause(struct vmm *v, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = post_boot(v, err, errlen);
    if (!rc) {
        vm_pause(v->vm);   /* returns once every vCPU is parked, so "Paused" is true when reported */
        v->state = VMM_PAUSED;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_send_ctrl_alt_del(struct vmm *v, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = post_boot(v, err, errlen);
    if (!rc) {
        rc = vm_send_ctrl_alt_del(v->vm);
        if (rc < 0)
            /* Firecracker's wording for its non-x86 builds: there is no i8042 to press it on */
            rc = fail(err, errlen, "SendCtrlAltDel is not supported on %s.", vm_arch(v->vm));
        else if (rc > 0)
            rc = fail(err, errlen, "SendCtrlAltDel: the guest is not reading its keyboard.");
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_resume(struct vmm *v, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = post_boot(v, err, errlen);
    if (!rc) {
        vm_resume(v->vm);
        v->state = VMM_RUNNING;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_patch_drive(struct vmm *v, const char *drive_id, const char *path_on_host,
                    const struct rate_limiter_config *limit, char *err, size_t errlen)
{
    if (path_on_host && strlen(path_on_host) >= VMM_PATH_MAX)
        return fail(err, errlen, "The path_on_host is too long.");
    pthread_mutex_lock(&v->lock);
    int rc = post_boot(v, err, errlen);
    int i = rc ? -1 : find_drive(&v->cfg, drive_id);
    if (!rc && i < 0)
        rc = fail(err, errlen, "Invalid drive ID - not found: '%s'.", drive_id);
    if (!rc && path_on_host)
        rc = res_check_file("drive", path_on_host, !v->run.drives[i].is_read_only, false, err, errlen);
    if (!rc) {
        rc = virtio_blk_update(vm_device(v->vm, VM_DEV_DRIVE, drive_id), path_on_host, limit, err, errlen);
        if (!rc) {
            struct vmm_drive *d = &v->cfg.drives[i];
            if (path_on_host)
                snprintf(d->path_on_host, sizeof(d->path_on_host), "%s", path_on_host);
            if (limit) {
                d->has_rate_limiter = true;
                d->rate_limiter = *limit;
            }
        }
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_patch_net(struct vmm *v, const char *iface_id, const struct rate_limiter_config *rx,
                  const struct rate_limiter_config *tx, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = post_boot(v, err, errlen);
    int i = rc ? -1 : find_net(&v->cfg, iface_id);
    if (!rc && i < 0)
        rc = fail(err, errlen, "Invalid interface ID - not found: '%s'.", iface_id);
    if (!rc) {
        virtio_net_update_limits(vm_device(v->vm, VM_DEV_NET, iface_id), rx, tx);
        struct vmm_net *n = &v->cfg.nets[i];
        if (rx) {
            n->has_rx_rate_limiter = true;
            n->rx_rate_limiter = *rx;
        }
        if (tx) {
            n->has_tx_rate_limiter = true;
            n->tx_rate_limiter = *tx;
        }
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* the running balloon's transport, or NULL after an error */
static struct virtio_mmio *balloon_of(struct vmm *v, char *err, size_t errlen)
{
    if (post_boot(v, err, errlen))
        return NULL;
    struct virtio_mmio *t = vm_device(v->vm, VM_DEV_BALLOON, NULL);
    if (!t)
        fail(err, errlen, ERR_NO_BALLOON);
    return t;
}

int vmm_patch_balloon(struct vmm *v, uint32_t amount_mib, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    struct virtio_mmio *t = balloon_of(v, err, errlen);
    int rc = t ? 0 : -1;
    struct balloon_options o = { .amount_mib = amount_mib };
    if (!rc)
        rc = res_check_balloon(&o, v->run.machine.mem_size_mib, err, errlen);
    if (!rc) {
        virtio_balloon_set_target(t, amount_mib);
        v->cfg.balloon.amount_mib = amount_mib;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_patch_balloon_stats_interval(struct vmm *v, uint32_t seconds, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    struct virtio_mmio *t = balloon_of(v, err, errlen);
    int rc = t ? 0 : -1;
    /* the stats queue exists or not from boot on: only its polling period can change */
    if (!rc && (v->run.balloon.stats_polling_interval_s == 0) != (seconds == 0))
        rc = fail(err, errlen, "Cannot enable/disable the statistics after boot.");
    if (!rc) {
        virtio_balloon_set_stats_interval(t, seconds);
        v->cfg.balloon.stats_polling_interval_s = seconds;
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_get_balloon_stats(struct vmm *v, struct balloon_stats *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    struct virtio_mmio *t = balloon_of(v, err, errlen);
    int rc = t ? 0 : -1;
    if (!rc && v->run.balloon.stats_polling_interval_s == 0)
        rc = fail(err, errlen, "Statistics for the balloon device are not enabled");
    if (!rc)
        virtio_balloon_get_stats(t, out);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* ---- the end ---- */

int vmm_wait(struct vmm *v)
{
    pthread_mutex_lock(&v->lock);
    /* a waiter may come first (the API's main thread): the VM it waits for starts later */
    while (v->state == VMM_NOT_STARTED)
        pthread_cond_wait(&v->changed, &v->lock);
    if (v->waiting || !v->vm) {
        /* someone else collects the VM (or already did): wait for the result */
        while (v->state != VMM_STOPPED)
            pthread_cond_wait(&v->changed, &v->lock);
        int status = v->exit_status;
        pthread_mutex_unlock(&v->lock);
        return status;
    }
    v->waiting = true;
    struct vm *vm = v->vm;
    pthread_mutex_unlock(&v->lock);

    int status = vm_wait(vm);   /* the lock is free meanwhile: pause, stop, PATCH all go on */

    pthread_mutex_lock(&v->lock);
    v->vm = NULL;               /* from here no call reaches the VM, so it can go */
    v->state = VMM_STOPPED;
    v->exit_status = status;
    v->waiting = false;
    pthread_cond_broadcast(&v->changed);
    pthread_mutex_unlock(&v->lock);
    vm_destroy(vm);
    return status;
}

void vmm_stop(struct vmm *v)
{
    pthread_mutex_lock(&v->lock);
    if (v->vm) {
        vm_request_stop(v->vm);
    } else if (v->state == VMM_NOT_STARTED) {
        /* nothing runs yet: the microVM's life ends here, and a waiter returns */
        v->state = VMM_STOPPED;
        v->exit_status = 0;
        pthread_cond_broadcast(&v->changed);
    }
    pthread_mutex_unlock(&v->lock);
}
