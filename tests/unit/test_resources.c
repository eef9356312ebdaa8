/* test_resources.c — the one validator per resource that `kiln run`, the API and --config-file
 * share: each rule's edges and the reason it gives. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "vm/config.h"
#include "vm/device_args.h"
#include "vm/devices.h"
#include "vm/resources.h"
#include "vm/vm_build.h"
#include "vm/vmm.h"

static char err[512];

#define assert_fails_with(call, what)                                                          \
    do {                                                                                       \
        err[0] = 0;                                                                            \
        cr_assert_eq((call), -1, "%s succeeded", #call);                                       \
        cr_assert(strstr(err, (what)), "%s: expected \"%s\" in \"%s\"", #call, (what), err);   \
    } while (0)
#define assert_ok(call) cr_assert_eq((call), 0, "%s: %s", #call, err)

Test(resources, machine_limits_are_one_rule)
{
    assert_ok(res_check_vcpus(1, err, sizeof(err)));
    assert_ok(res_check_vcpus(KILN_MAX_CPUS, err, sizeof(err)));
    assert_fails_with(res_check_vcpus(0, err, sizeof(err)), "number of vCPUs must be from 1 to 32");
    assert_fails_with(res_check_vcpus(KILN_MAX_CPUS + 1, err, sizeof(err)), "number of vCPUs");
    assert_ok(res_check_mem(KILN_MIN_MEM_MIB, err, sizeof(err)));
    assert_fails_with(res_check_mem(KILN_MIN_MEM_MIB - 1, err, sizeof(err)), "memory size");
    assert_ok(res_check_mem(res_max_mem_mib(), err, sizeof(err)));
    assert_fails_with(res_check_mem(res_max_mem_mib() + 1, err, sizeof(err)), "memory size");
    assert_fails_with(res_check_machine(1, 256, true, err, sizeof(err)), "simultaneous multithreading");
    assert_ok(res_check_machine(2, 256, false, err, sizeof(err)));
}

Test(resources, jit_code_cache_bound)
{
    char err[256];
    assert_ok(res_check_jit_cache(1, err, sizeof(err)));
    assert_ok(res_check_jit_cache(KILN_JIT_CACHE_MAX_MIB, err, sizeof(err)));
    assert_fails_with(res_check_jit_cache(0, err, sizeof(err)), "from 1 to 1024 MiB per vCPU, not 0");
    assert_fails_with(res_check_jit_cache(KILN_JIT_CACHE_MAX_MIB + 1, err, sizeof(err)), "not 1025");
}

Test(resources, unknown_host_ram_means_the_fixed_ceiling)
{
    uint64_t host = res_host_mem_mib();
    uint64_t max = res_max_mem_mib();
    cr_assert_leq(max, KILN_MAX_MEM_MIB);
    cr_assert_eq(max, host && host < KILN_MAX_MEM_MIB ? host : KILN_MAX_MEM_MIB);
}

Test(resources, ids)
{
    assert_ok(res_check_id("drive_id", "root_fs1", 65, err, sizeof(err)));
    assert_fails_with(res_check_id("drive_id", "", 65, err, sizeof(err)), "cannot be empty");
    assert_fails_with(res_check_id("iface_id", "a-b", 65, err, sizeof(err)), "only letters, digits and '_'");
    char full[8];
    memset(full, 'a', sizeof(full));   /* no terminator: the JSON string did not fit */
    assert_fails_with(res_check_id("drive_id", full, sizeof(full), err, sizeof(err)), "longer than 64");
}

Test(resources, drive_opens_as_the_vm_will)
{
    char path[] = "/tmp/kiln-test-res-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    struct disk_options o = { .path = path };
    assert_ok(res_check_drive(&o, err, sizeof(err)));
    o.serial = "12345678901234567890";
    assert_ok(res_check_drive(&o, err, sizeof(err)));
    o.serial = "123456789012345678901";
    assert_fails_with(res_check_drive(&o, err, sizeof(err)), "longer than 20");
    o.serial = NULL;
    chmod(path, 0444);
    if (geteuid() != 0) {   /* root opens anything read-write */
        assert_fails_with(res_check_drive(&o, err, sizeof(err)), "for reading and writing");
        o.readonly = true;
        assert_ok(res_check_drive(&o, err, sizeof(err)));
    }
    unlink(path);
    assert_fails_with(res_check_drive(&o, err, sizeof(err)), "cannot be opened");
    o.path = "/tmp";
    o.readonly = true;
    assert_fails_with(res_check_drive(&o, err, sizeof(err)), "it is a directory, not a regular file");
    /* a FIFO is refused at once: opened plainly it would wait for a writer forever */
    cr_assert_eq(mkfifo(path, 0600), 0);
    o.path = path;
    assert_fails_with(res_check_drive(&o, err, sizeof(err)), "it is a FIFO, not a regular file");
    unlink(path);
    o.path = "";
    assert_fails_with(res_check_drive(&o, err, sizeof(err)), "path is empty");
}

Test(resources, network_interface)
{
    struct net_options o = { .backend = NET_TAP, .tap = "tap0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
    assert_ok(res_check_net(&o, err, sizeof(err)));
    o.tap = "a/b";
    assert_fails_with(res_check_net(&o, err, sizeof(err)), "not a valid TAP name");
    o.tap = "sixteen_chars_xx";
    assert_fails_with(res_check_net(&o, err, sizeof(err)), "longer than 15");
    o.tap = "tap0";
    o.nhostfwd = 1;
    assert_fails_with(res_check_net(&o, err, sizeof(err)), "user-mode");
    o.backend = NET_USER;
    assert_ok(res_check_net(&o, err, sizeof(err)));
    o.mac[0] = 0x01;
    assert_fails_with(res_check_net(&o, err, sizeof(err)), "unicast");
}

Test(resources, vsock_entropy_balloon)
{
    struct vsock_options s = { .guest_cid = 2, .uds_path = "/tmp/v.sock" };
    assert_fails_with(res_check_vsock(&s, err, sizeof(err)), "guest_cid");
    s.guest_cid = 3;
    assert_ok(res_check_vsock(&s, err, sizeof(err)));
    s.uds_path = "";
    assert_fails_with(res_check_vsock(&s, err, sizeof(err)), "uds_path is empty");
    char longp[200];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    s.uds_path = longp;
    assert_fails_with(res_check_vsock(&s, err, sizeof(err)), "Unix socket path");
    /* the socket is created at boot: a directory that is missing or not one is refused now */
    s.uds_path = "/nonexistent-kiln-dir/v.sock";
    assert_fails_with(res_check_vsock(&s, err, sizeof(err)),
                      "'/nonexistent-kiln-dir/v.sock' cannot be created: /nonexistent-kiln-dir: No such file");
    s.uds_path = "/etc/passwd/v.sock";
    assert_fails_with(res_check_vsock(&s, err, sizeof(err)), "/etc/passwd is not a directory");
    s.uds_path = "/etc/passwd";
    assert_fails_with(res_check_vsock(&s, err, sizeof(err)), "exists and is not a socket");

    struct rng_options r = { 0 };
    assert_ok(res_check_entropy(&r, err, sizeof(err)));

    struct balloon_options b = { .amount_mib = 128 };
    assert_ok(res_check_balloon(&b, 128, err, sizeof(err)));
    assert_fails_with(res_check_balloon(&b, 127, err, sizeof(err)), "Amount of pages requested is too large");
    b.amount_mib = 0;
    b.stats_polling_s = KILN_BALLOON_STATS_MAX_S + 1;
    assert_fails_with(res_check_balloon(&b, 128, err, sizeof(err)), "polling interval");
}

/* ---- the device registry: devices by (kind, id), not by slot ---- */

Test(registry, finds_by_kind_and_id)
{
    struct vm_devices d = { 0 };
    static char a, b, c, n;   /* stand-ins: the lookup never touches the transport */
    struct { enum vm_device_kind kind; const char *id; void *t; } rows[] = {
        { VM_DEV_DRIVE, "rootfs", &a }, { VM_DEV_DRIVE, "scratch", &b },
        { VM_DEV_NET, "eth0", &n }, { VM_DEV_BALLOON, "balloon", &c },
    };
    for (unsigned i = 0; i < 4; i++) {
        d.dev[i].kind = rows[i].kind;
        snprintf(d.dev[i].id, sizeof(d.dev[i].id), "%s", rows[i].id);
        d.dev[i].t = rows[i].t;
    }
    d.n = 4;
    cr_assert_eq((void *)vm_devices_find(&d, VM_DEV_DRIVE, "scratch"), (void *)&b);
    cr_assert_eq((void *)vm_devices_find(&d, VM_DEV_DRIVE, "rootfs"), (void *)&a);
    cr_assert_eq((void *)vm_devices_find(&d, VM_DEV_NET, "eth0"), (void *)&n);
    cr_assert_null(vm_devices_find(&d, VM_DEV_NET, "rootfs"), "the kind is part of the key");
    cr_assert_null(vm_devices_find(&d, VM_DEV_DRIVE, "missing"));
    cr_assert_eq((void *)vm_devices_find(&d, VM_DEV_BALLOON, NULL), (void *)&c);
    cr_assert_null(vm_devices_find(&d, VM_DEV_VSOCK, NULL));
}

Test(registry, one_row_per_kind)
{
    for (int k = 0; k < VM_DEV_KINDS; k++) {
        const struct vm_device_kind_info *info = vm_device_kind_info((enum vm_device_kind)k);
        cr_assert_not_null(info);
        cr_assert_not_null(info->name);
        cr_assert_not_null(info->create);
    }
    cr_assert_null(vm_device_kind_info(VM_DEV_KINDS));
    struct vm_device dev = { .kind = VM_DEV_DRIVE, .id = "rootfs" };
    char group[80];
    vm_device_metrics_group(&dev, group, sizeof(group));
    cr_assert_str_eq(group, "block_rootfs");
    dev = (struct vm_device){ .kind = VM_DEV_RNG, .id = "rng" };
    vm_device_metrics_group(&dev, group, sizeof(group));
    cr_assert_str_eq(group, "entropy");
}

/* ---- kiln run is a front end over the same model and build as the API ---- */

static void same_vm_config(const struct vm_config *a, const struct vm_config *b)
{
    cr_assert_eq(a->cpus, b->cpus);
    cr_assert_eq(a->mem_mib, b->mem_mib);
    cr_assert_str_eq(a->kernel, b->kernel);
    cr_assert_str_eq(a->cmdline, b->cmdline);
    cr_assert_eq(a->ndisks, b->ndisks);
    for (unsigned i = 0; i < a->ndisks; i++) {
        cr_assert_str_eq(a->disks[i].path, b->disks[i].path, "disk %u", i);
        cr_assert_str_eq(a->disks[i].id, b->disks[i].id);
        cr_assert_str_eq(a->disks[i].serial, b->disks[i].serial);
        cr_assert_eq(a->disks[i].readonly, b->disks[i].readonly, "disk %u", i);
        cr_assert_arr_eq(&a->disks[i].limit, &b->disks[i].limit, sizeof(a->disks[i].limit));
    }
    cr_assert_eq(a->nnets, b->nnets);
    for (unsigned i = 0; i < a->nnets; i++) {
        cr_assert_eq(a->nets[i].backend, b->nets[i].backend);
        cr_assert_str_eq(a->nets[i].id, b->nets[i].id);
        cr_assert_arr_eq(a->nets[i].mac, b->nets[i].mac, 6);
        cr_assert_eq(a->nets[i].nhostfwd, b->nets[i].nhostfwd);
        cr_assert_arr_eq(a->nets[i].hostfwd, b->nets[i].hostfwd, sizeof(a->nets[i].hostfwd));
        cr_assert_eq(a->nets[i].host_loopback, b->nets[i].host_loopback, "net %u", i);
        cr_assert_arr_eq(&a->nets[i].rx_limit, &b->nets[i].rx_limit, sizeof(a->nets[i].rx_limit));
        cr_assert_arr_eq(&a->nets[i].tx_limit, &b->nets[i].tx_limit, sizeof(a->nets[i].tx_limit));
    }
    cr_assert_eq(a->has_rng, b->has_rng);
    cr_assert_arr_eq(&a->rng.limit, &b->rng.limit, sizeof(a->rng.limit));
    cr_assert_eq(a->has_vsock, b->has_vsock);
    cr_assert_eq(a->has_balloon, b->has_balloon);
    cr_assert_eq(a->balloon.amount_mib, b->balloon.amount_mib);
    cr_assert_eq(a->cpu_quota_us, b->cpu_quota_us);
    cr_assert_eq(a->cpu_period_us, b->cpu_period_us);
    cr_assert_eq(a->vcpu_priority, b->vcpu_priority);
}

static const char *temp_file(char *path)
{
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    return path;
}

Test(front_ends, kiln_run_builds_what_the_api_builds)
{
    char k[] = "/tmp/kiln-test-res-k-XXXXXX", a[] = "/tmp/kiln-test-res-a-XXXXXX", b[] = "/tmp/kiln-test-res-b-XXXXXX";
    temp_file(k), temp_file(a), temp_file(b);
    char b_ro[64], hostfwd[] = "user,hostfwd=tcp::8022-:22,host-loopback=on";
    snprintf(b_ro, sizeof(b_ro), "%s,readonly", b);
    char *argv[] = { "run", "--kernel", k, "--disk", a, "--disk", b_ro, "--net", hostfwd, "--rng", "--cpus", "2",
                     "--mem", "256", "--balloon=size=64", "--cpu-limit", "15%", "--vcpu-priority", "low", NULL };
    struct vm_config cli;
    cr_assert_eq(config_parse_run(&cli, 19, argv), 0);

    struct vmm *v = vmm_new(0);
    struct vmm_machine_config m = { .vcpu_count = 2, .mem_size_mib = 256 };
    assert_ok(vmm_put_machine_config(v, &m, err, sizeof(err)));
    struct vmm_boot_source bs = { .set = true };
    snprintf(bs.kernel_image_path, sizeof(bs.kernel_image_path), "%s", k);
    assert_ok(vmm_put_boot_source(v, &bs, err, sizeof(err)));
    struct vmm_drive d1 = { .drive_id = "vda" }, d2 = { .drive_id = "vdb", .is_read_only = true };
    snprintf(d1.path_on_host, sizeof(d1.path_on_host), "%s", a);
    snprintf(d2.path_on_host, sizeof(d2.path_on_host), "%s", b);
    assert_ok(vmm_put_drive(v, &d1, err, sizeof(err)));
    assert_ok(vmm_put_drive(v, &d2, err, sizeof(err)));
    struct vmm_net n = { .iface_id = "eth0", .host_dev_name = "user,hostfwd=tcp::8022-:22,host-loopback=on" };
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    struct vmm_entropy e = { 0 };
    assert_ok(vmm_put_entropy(v, &e, err, sizeof(err)));
    struct vmm_balloon bl = { .amount_mib = 64 };
    assert_ok(vmm_put_balloon(v, &bl, err, sizeof(err)));
    struct vmm_cpu_limit cl = { .quota_us = 15000, .period_us = 100000, .vcpu_priority = CPU_PRIORITY_LOW };
    assert_ok(vmm_put_cpu_limit(v, &cl, err, sizeof(err)));
    static struct vmm_config model;
    static struct vm_build_bufs bufs;
    vmm_get_config(v, &model);
    struct vm_config api;
    assert_ok(vm_config_build(&model, &api, &bufs, err, sizeof(err)));
    same_vm_config(&cli, &api);
    cr_assert_eq(cli.disks[1].readonly, true);
    cr_assert_eq(cli.nets[0].nhostfwd, 1);
    cr_assert_eq(cli.nets[0].host_loopback, true);
    cr_assert_eq(cli.cpu_quota_us, 15000);
    cr_assert_eq(cli.vcpu_priority, CPU_PRIORITY_LOW);
    vmm_free(v);
    unlink(k), unlink(a), unlink(b);
}

Test(front_ends, kiln_run_refuses_what_the_api_refuses)
{
    char *argv[] = { "run", "--kernel", "/nonexistent", "--balloon=size=300", "--mem", "256", NULL };
    struct vm_config cli;
    cr_assert_eq(config_parse_run(&cli, 6, argv), KILN_EXIT_USAGE);
    char *argv2[] = { "run", "--kernel", "/nonexistent", "--disk", "/nonexistent/disk", NULL };
    cr_assert_eq(config_parse_run(&cli, 5, argv2), KILN_EXIT_NO_INPUT);
    char *argv3[] = { "run", "--kernel", "/nonexistent", "--net", "tap=a/b", NULL };
    cr_assert_eq(config_parse_run(&cli, 5, argv3), KILN_EXIT_USAGE);
    char *argv4[] = { "run", "--kernel", "/nonexistent", "--cpus", "33", NULL };
    cr_assert_eq(config_parse_run(&cli, 5, argv4), KILN_EXIT_USAGE);
    char *argv5[] = { "run", "--kernel", "/nonexistent", "--cpu-limit", "20000/999", NULL };
    cr_assert_eq(config_parse_run(&cli, 5, argv5), KILN_EXIT_USAGE);
    char *argv6[] = { "run", "--kernel", "/nonexistent", "--cpu-limit", "lots", NULL };
    cr_assert_eq(config_parse_run(&cli, 5, argv6), KILN_EXIT_USAGE);
    char *argv7[] = { "run", "--kernel", "/nonexistent", "--vcpu-priority", "realtime", NULL };
    cr_assert_eq(config_parse_run(&cli, 5, argv7), KILN_EXIT_USAGE);
}

/* The guest reaches the host's 127.0.0.1 through 10.0.2.2 only when asked (issue 11). */
Test(front_ends, host_loopback_is_opt_in)
{
    struct net_options o;
    char user[] = "user", on[] = "user,host-loopback=on", off[] = "user,host-loopback=off";
    assert_ok(parse_net_arg(user, 0, &o, err, sizeof(err)));
    cr_assert_eq(o.host_loopback, false, "host loopback must be off by default");
    assert_ok(parse_net_arg(on, 0, &o, err, sizeof(err)));
    cr_assert_eq(o.host_loopback, true);
    assert_ok(parse_net_arg(off, 0, &o, err, sizeof(err)));
    cr_assert_eq(o.host_loopback, false);
    char bad[] = "user,host-loopback=yes", tap[] = "tap=tap0,host-loopback=on";
    assert_fails_with(parse_net_arg(bad, 0, &o, err, sizeof(err)), "host-loopback must be 'on' or 'off', not 'yes'");
    assert_fails_with(parse_net_arg(tap, 0, &o, err, sizeof(err)), "host-loopback= needs user-mode networking");
    /* the API's host_dev_name goes through the same parser */
    struct vmm *v = vmm_new(0);
    struct vmm_net n = { .iface_id = "eth0", .host_dev_name = "user,host-loopback=maybe" };
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "host-loopback must be 'on' or 'off'");
    vmm_free(v);
}

Test(resources, cpu_limit_rules)
{
    assert_ok(res_check_cpu_limit(0, 100000, 0, err, sizeof(err)));
    assert_ok(res_check_cpu_limit(20000, 100000, 2, err, sizeof(err)));
    assert_ok(res_check_cpu_limit(1000, 1000, 1, err, sizeof(err)));
    assert_ok(res_check_cpu_limit(1024ull * 1000000, 1000000, 0, err, sizeof(err)));
    assert_fails_with(res_check_cpu_limit(20000, 999, 0, err, sizeof(err)),
                      "The CPU limit's period must be 1000..1000000 us, not 999.");
    assert_fails_with(res_check_cpu_limit(20000, 1000001, 0, err, sizeof(err)), "period must be");
    assert_fails_with(res_check_cpu_limit(0, 0, 0, err, sizeof(err)), "period must be");
    assert_fails_with(res_check_cpu_limit(999, 100000, 0, err, sizeof(err)),
                      "The CPU limit's quota must be 0 (none) or 1000 us..1024 periods, not 999.");
    assert_fails_with(res_check_cpu_limit(1025ull * 100000, 100000, 0, err, sizeof(err)), "quota must be");
    assert_fails_with(res_check_cpu_limit(20000, 100000, 3, err, sizeof(err)), "Invalid vCPU priority 3");
    assert_fails_with(res_check_cpu_limit(20000, 100000, -1, err, sizeof(err)), "Invalid vCPU priority -1");
}

Test(resources, cpu_limit_reaches_the_vm_config)
{
    struct vmm *v = vmm_new(0);
    cr_assert_not_null(v);
    struct vmm_cpu_limit l = { .quota_us = 999, .period_us = 100000 };
    assert_fails_with(vmm_put_cpu_limit(v, &l, err, sizeof(err)), "quota must be");
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_not(c.cpu_limit.set, "a refused limit is not stored");
    cr_assert_eq(c.cpu_limit.period_us, 100000, "the default period is cgroup's");
    cr_assert_not(vmm_is_configured(v));
    l = (struct vmm_cpu_limit){ .quota_us = 30000, .period_us = 50000, .vcpu_priority = CPU_PRIORITY_IDLE };
    assert_ok(vmm_put_cpu_limit(v, &l, err, sizeof(err)));
    cr_assert(vmm_is_configured(v), "a snapshot load must not silently drop the limit");
    struct vmm_cpu_limit got;
    struct cpu_quota_stats st = { 1, 1, 1 };
    bool running = true;
    vmm_get_cpu_limit(v, &got, &st, &running);
    cr_assert_not(running);
    cr_assert_eq(st.nr_throttled, 0);
    cr_assert(got.set);
    cr_assert_eq(got.quota_us, 30000);
    cr_assert_eq(got.vcpu_priority, CPU_PRIORITY_IDLE);
    vmm_get_config(v, &c);
    static struct vm_config vc;
    static struct vm_build_bufs bufs;
    assert_ok(vm_config_build(&c, &vc, &bufs, err, sizeof(err)));
    cr_assert_eq(vc.cpu_quota_us, 30000);
    cr_assert_eq(vc.cpu_period_us, 50000);
    cr_assert_eq(vc.vcpu_priority, CPU_PRIORITY_IDLE);
    vmm_free(v);
}
