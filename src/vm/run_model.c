/* run_model.c — kiln run's flags → the resource model → the vm_config (see run_model.h). */
#include <stdio.h>
#include <string.h>
#include "vm/resources.h"
#include "vm/run_model.h"
#include "vm/vm_build.h"
#include "vm/vmm.h"

/* The model the VM is built from and the strings its vm_config points into: they must outlive
 * the VM, which main runs after config_parse_run returns. One per process. */
static struct {
    struct vmm_config model;
    struct vm_build_bufs bufs;
} run;

static int refused(const char *flag, const char *why, int status)
{
    fprintf(stderr, "kiln: %s: %s\n", flag, why);
    return status;
}

static int put_drive(struct vmm *v, unsigned i, const struct disk_options *o)
{
    char err[512];
    /* a file the VM cannot open is status 66 on the command line, whatever else is wrong is 64 */
    if (res_check_drive(o, err, sizeof(err)))
        return refused("--disk", err, o->serial && strlen(o->serial) > KILN_DISK_SERIAL_MAX
                       ? KILN_EXIT_USAGE : KILN_EXIT_NO_INPUT);
    struct vmm_drive d = { .is_read_only = o->readonly, .has_rate_limiter = true, .rate_limiter = o->limit };
    snprintf(d.drive_id, sizeof(d.drive_id), "vd%c", 'a' + i);   /* /dev/vdX: the flags' order */
    if (strlen(o->path) >= sizeof(d.path_on_host))
        return refused("--disk", "the image path is too long", KILN_EXIT_USAGE);
    snprintf(d.path_on_host, sizeof(d.path_on_host), "%s", o->path);
    snprintf(d.serial, sizeof(d.serial), "%s", o->serial ? o->serial : "");
    if (vmm_put_drive(v, &d, err, sizeof(err)))
        return refused("--disk", err, KILN_EXIT_USAGE);
    return 0;
}

static int put_net(struct vmm *v, unsigned i, const struct net_options *o, const char *spec)
{
    char err[512];
    struct vmm_net n = { 0 };
    snprintf(n.iface_id, sizeof(n.iface_id), "eth%u", i);
    if (o->backend == NET_USER) {
        /* user-mode options (hostfwd, mac, limits) travel in host_dev_name, as in the API */
        snprintf(n.host_dev_name, sizeof(n.host_dev_name), "%s", spec);
    } else {
        snprintf(n.host_dev_name, sizeof(n.host_dev_name), "%s", o->tap);
        n.has_mac = true;
        memcpy(n.guest_mac, o->mac, 6);
        n.has_rx_rate_limiter = n.has_tx_rate_limiter = true;
        n.rx_rate_limiter = o->rx_limit;
        n.tx_rate_limiter = o->tx_limit;
    }
    if (vmm_put_net(v, &n, err, sizeof(err)))
        return refused("--net", err, KILN_EXIT_USAGE);
    return 0;
}

static int put_singletons(struct vmm *v, const struct vm_config *f)
{
    char err[512];
    if (f->has_rng) {
        struct vmm_entropy e = { .has_rate_limiter = true, .rate_limiter = f->rng.limit };
        if (vmm_put_entropy(v, &e, err, sizeof(err)))
            return refused("--rng", err, KILN_EXIT_USAGE);
    }
    if (f->has_vsock) {
        struct vmm_vsock s = { .guest_cid = f->vsock.guest_cid };
        /* checked before the copy, which would cut a path that is too long */
        if (res_check_vsock(&f->vsock, err, sizeof(err)))   /* a socket path kiln cannot create: 66 */
            return refused("--vsock", err, f->vsock.guest_cid < 3 ? KILN_EXIT_USAGE : KILN_EXIT_NO_INPUT);
        snprintf(s.uds_path, sizeof(s.uds_path), "%s", f->vsock.uds_path);
        if (vmm_put_vsock(v, &s, err, sizeof(err)))
            return refused("--vsock", err, KILN_EXIT_USAGE);
    }
    if (f->has_balloon) {
        struct vmm_balloon b = { .amount_mib = f->balloon.amount_mib, .deflate_on_oom = f->balloon.deflate_on_oom,
                                 .stats_polling_interval_s = f->balloon.stats_polling_s };
        if (vmm_put_balloon(v, &b, err, sizeof(err)))
            return refused("--balloon", err, KILN_EXIT_USAGE);
    }
    return 0;
}

/* The flags in the API's order: the machine first (the balloon target is checked against its
 * memory), then the devices in the board's order. */
static int put_all(struct vmm *v, const struct vm_config *f, char net_spec[][RUN_NET_SPEC_MAX])
{
    char err[512];
    struct vmm_machine_config m = { .vcpu_count = f->cpus, .mem_size_mib = f->mem_mib };
    if (vmm_put_machine_config(v, &m, err, sizeof(err)))
        return refused(res_check_vcpus(f->cpus, NULL, 0) ? "--cpus" : "--mem", err, KILN_EXIT_USAGE);
    int rc;
    if (f->cpu_quota_us || f->vcpu_priority) {
        struct vmm_cpu_limit l = { .quota_us = f->cpu_quota_us, .period_us = f->cpu_period_us,
                                   .vcpu_priority = (enum cpu_priority)f->vcpu_priority };
        if (vmm_put_cpu_limit(v, &l, err, sizeof(err)))
            return refused("--cpu-limit", err, KILN_EXIT_USAGE);
    }
    for (unsigned i = 0; i < f->ndisks; i++)
        if ((rc = put_drive(v, i, &f->disks[i])))
            return rc;
    for (unsigned i = 0; i < f->nnets; i++)
        if ((rc = put_net(v, i, &f->nets[i], net_spec[i])))
            return rc;
    return put_singletons(v, f);
}

int run_model_build(const struct vm_config *flags, char net_spec[][RUN_NET_SPEC_MAX], struct vm_config *out)
{
    struct vmm *v = vmm_new(0);
    if (!v) {
        fprintf(stderr, "kiln: out of memory\n");
        return KILN_EXIT_HOST;
    }
    int rc = put_all(v, flags, net_spec);
    if (!rc)
        vmm_get_config(v, &run.model);
    vmm_free(v);
    char err[512];
    if (!rc && vm_config_build(&run.model, out, &run.bufs, err, sizeof(err)))
        rc = refused("--net", err, KILN_EXIT_USAGE);   /* the one rule checked at build: two NICs, one MAC */
    return rc;
}
