/* test_vmm.c — the API's VM controller: every validation rule with the reason it gives, insert
 * and replace by id, the pre-boot / post-boot split, and real boots of the default guest
 * (build/guest/Image with its initramfs; skipped when it has not been built) to check the
 * assembled command line, the drive order, the serial file, pause/resume, the post-boot PATCHes
 * and the stop/wait hand-over. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vm/vmm.h"

#define GUEST_KERNEL "build/guest/Image"
#define GUEST_INITRD "build/guest/initramfs.cpio.gz"

static char dir[64];
static struct vmm *v;
static char err[512];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kiln-test-vmm-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* the boot timer's reference: "process start" */
    v = vmm_new((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
    cr_assert_not_null(v);
    err[0] = 0;
}

static void teardown(void)
{
    vmm_free(v);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(vmm, .init = setup, .fini = teardown, .timeout = 120);

/* dir/name, created with size bytes (a sparse file) and the given mode */
static const char *file(const char *name, off_t size, mode_t mode)
{
    static char paths[8][128];
    static unsigned next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(fd >= 0, "create %s", p);
    cr_assert_eq(ftruncate(fd, size), 0);
    close(fd);
    chmod(p, mode);
    return p;
}

static const char *path_in_dir(const char *name)
{
    static char paths[8][128];   /* a few at a time stay valid */
    static unsigned next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    return p;
}

#define assert_fails_with(call, what)                                                          \
    do {                                                                                       \
        err[0] = 0;                                                                            \
        cr_assert_eq((call), -1, "%s succeeded", #call);                                       \
        cr_assert(strstr(err, (what)), "%s: expected \"%s\" in \"%s\"", #call, (what), err);   \
    } while (0)
#define assert_ok(call) cr_assert_eq((call), 0, "%s: %s", #call, err)

static struct vmm_boot_source boot(const char *kernel, const char *initrd, const char *args)
{
    struct vmm_boot_source b = { .set = true };
    snprintf(b.kernel_image_path, sizeof(b.kernel_image_path), "%s", kernel);
    snprintf(b.initrd_path, sizeof(b.initrd_path), "%s", initrd ? initrd : "");
    snprintf(b.boot_args, sizeof(b.boot_args), "%s", args ? args : "");
    return b;
}

static struct vmm_drive drive(const char *id, const char *path, bool root, bool ro)
{
    struct vmm_drive d = { .is_root_device = root, .is_read_only = ro };
    snprintf(d.drive_id, sizeof(d.drive_id), "%s", id);
    snprintf(d.path_on_host, sizeof(d.path_on_host), "%s", path);
    return d;
}

static struct vmm_net net(const char *id, const char *host_dev_name)
{
    struct vmm_net n = { 0 };
    snprintf(n.iface_id, sizeof(n.iface_id), "%s", id);
    snprintf(n.host_dev_name, sizeof(n.host_dev_name), "%s", host_dev_name);
    return n;
}

static void with_mac(struct vmm_net *n, uint8_t last)
{
    static const uint8_t mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x00 };
    n->has_mac = true;
    memcpy(n->guest_mac, mac, 6);
    n->guest_mac[5] = last;
}

/* ---- defaults and state names ---- */

Test(vmm, defaults)
{
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.machine.vcpu_count, 1);
    cr_assert_eq(c.machine.mem_size_mib, 128);
    cr_assert_not(c.machine.smt);
    cr_assert_not(c.boot.set);
    cr_assert_eq(c.ndrives, 0);
    cr_assert_eq(c.nnets, 0);
    cr_assert_not(c.vsock.set || c.entropy.set || c.balloon.set);
    cr_assert_str_empty(c.serial_out_path);
    cr_assert_eq(vmm_get_state(v), VMM_NOT_STARTED);
    cr_assert_str_eq(vmm_state_name(VMM_NOT_STARTED), "Not started");
    cr_assert_str_eq(vmm_state_name(VMM_RUNNING), "Running");
    cr_assert_str_eq(vmm_state_name(VMM_PAUSED), "Paused");
}

/* ---- boot source ---- */

Test(vmm, boot_source_needs_readable_kernel_and_initrd)
{
    struct vmm_boot_source b = boot("", NULL, NULL);
    assert_fails_with(vmm_put_boot_source(v, &b, err, sizeof(err)), "kernel_image_path is missing");
    b = boot(path_in_dir("nope"), NULL, NULL);
    assert_fails_with(vmm_put_boot_source(v, &b, err, sizeof(err)), "kernel file");
    cr_assert(strstr(err, "No such file"), "%s", err);
    b = boot(dir, NULL, NULL);
    assert_fails_with(vmm_put_boot_source(v, &b, err, sizeof(err)), "not a regular file");
    const char *k = file("vmlinux", 4096, 0644);
    b = boot(k, path_in_dir("no-initrd"), NULL);
    assert_fails_with(vmm_put_boot_source(v, &b, err, sizeof(err)), "initrd file");

    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_not(c.boot.set, "a refused boot source must not be stored");

    const char *i = file("initrd", 4096, 0644);
    b = boot(k, i, "console=ttyS0 quiet");
    b.set = false;   /* the controller marks it set, whatever the caller passed */
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert(c.boot.set);
    cr_assert_str_eq(c.boot.kernel_image_path, k);
    cr_assert_str_eq(c.boot.initrd_path, i);
    cr_assert_str_eq(c.boot.boot_args, "console=ttyS0 quiet");
}

Test(vmm, start_needs_boot_source)
{
    assert_fails_with(vmm_start(v, err, sizeof(err)), "Cannot start microvm without kernel configuration.");
    cr_assert_eq(vmm_get_state(v), VMM_NOT_STARTED);
}

/* ---- machine configuration ---- */

Test(vmm, machine_config_rules)
{
    struct vmm_machine_config m = { .vcpu_count = 0, .mem_size_mib = 256 };
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "number of vCPUs");
    m.vcpu_count = 33;
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "number of vCPUs");
    m.vcpu_count = 2;
    m.smt = true;
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "simultaneous multithreading");
    m.smt = false;
    m.mem_size_mib = KILN_MIN_MEM_MIB - 1;
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "memory size");
    uint64_t host = ((uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE)) >> 20;
    m.mem_size_mib = host + 1;
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "memory size");

    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.machine.vcpu_count, 1, "refused configurations leave the old one");

    m = (struct vmm_machine_config){ .vcpu_count = 32, .mem_size_mib = 256, .track_dirty_pages = true };
    assert_ok(vmm_put_machine_config(v, &m, err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert_eq(c.machine.vcpu_count, 32);
    cr_assert_eq(c.machine.mem_size_mib, 256);
    cr_assert(c.machine.track_dirty_pages);
}

Test(vmm, machine_config_patch_keeps_unset_fields)
{
    assert_ok(vmm_patch_machine_config(v, true, 4, false, 0, false, false, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.machine.vcpu_count, 4);
    cr_assert_eq(c.machine.mem_size_mib, 128);
    assert_ok(vmm_patch_machine_config(v, false, 0, true, 512, true, true, err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert_eq(c.machine.vcpu_count, 4);
    cr_assert_eq(c.machine.mem_size_mib, 512);
    cr_assert(c.machine.track_dirty_pages);
    assert_fails_with(vmm_patch_machine_config(v, true, 0, false, 0, false, false, err, sizeof(err)),
                      "number of vCPUs");
    assert_fails_with(vmm_patch_machine_config(v, false, 0, true, 1, false, false, err, sizeof(err)),
                      "memory size");
    vmm_get_config(v, &c);
    cr_assert_eq(c.machine.vcpu_count, 4);
    cr_assert_eq(c.machine.mem_size_mib, 512);
}

/* ---- drives ---- */

Test(vmm, drive_ids)
{
    const char *img = file("disk.img", 1 << 20, 0644);
    struct vmm_drive d = drive("", img, false, false);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "drive_id");
    d = drive("bad-id", img, false, false);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "only letters, digits and '_'");
    d = drive("with space", img, false, false);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "only letters");
    char id[66];
    memset(id, 'a', 65);
    id[65] = 0;
    d = drive(id, img, false, false);   /* truncated to 64 + NUL by the struct: accepted */
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    memset(d.drive_id, 'b', sizeof(d.drive_id));   /* no terminator at all: too long */
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "longer than 64");
    d = drive("Root_Fs_1", img, false, false);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
}

Test(vmm, drive_paths)
{
    struct vmm_drive d = drive("d", path_in_dir("missing.img"), false, false);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "cannot be opened");
    d = drive("d", dir, false, true);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "not a regular file");
    d = drive("d", "", false, false);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "path is empty");
    d = drive("d", file("x.img", 4096, 0644), true, false);
    snprintf(d.partuuid, sizeof(d.partuuid), "not a uuid");
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "partuuid");
    snprintf(d.partuuid, sizeof(d.partuuid), "0eaa91a0-01");
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
}

/* A read-write drive must be writable. Root writes anything, so the check runs as nobody. */
Test(vmm, drive_read_write_needs_writable_file)
{
    cr_assert_eq(chmod(dir, 0755), 0);
    const char *ro = file("ro.img", 4096, 0444);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
            _exit(2);
        struct vmm *w = vmm_new(0);
        char e[512] = "";
        struct vmm_drive d = drive("ro", ro, false, false);
        int bad = vmm_put_drive(w, &d, e, sizeof(e)) == -1 && strstr(e, "for reading and writing");
        d.is_read_only = true;
        int good = vmm_put_drive(w, &d, e, sizeof(e)) == 0;
        vmm_free(w);
        _exit(bad && good ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}

Test(vmm, one_root_drive_and_replace_by_id)
{
    const char *a = file("a.img", 4096, 0644), *b = file("b.img", 4096, 0644);
    struct vmm_drive d = drive("rootfs", a, true, false);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    d = drive("other", b, true, false);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "A root block device already exists");
    d = drive("other", b, false, true);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    /* the same id replaces, root or not */
    d = drive("rootfs", b, true, true);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.ndrives, 2);
    cr_assert_str_eq(c.drives[0].drive_id, "rootfs");
    cr_assert_str_eq(c.drives[0].path_on_host, b);
    cr_assert(c.drives[0].is_root_device && c.drives[0].is_read_only);
    cr_assert_str_eq(c.drives[1].drive_id, "other");
    /* the root may move to another drive once the old root is no longer root */
    d = drive("rootfs", b, false, true);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    d = drive("other", a, true, false);
    d.has_rate_limiter = true;
    d.rate_limiter.bandwidth = (struct token_bucket_config){ .size = 1 << 20, .refill_time_ms = 100 };
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert_eq(c.ndrives, 2);
    cr_assert(c.drives[1].is_root_device);
    cr_assert(c.drives[1].has_rate_limiter);
    cr_assert_eq(c.drives[1].rate_limiter.bandwidth.size, 1 << 20);
}

Test(vmm, at_most_eight_virtio_devices)
{
    const char *img = file("d.img", 4096, 0644);
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof(id), "d%d", i);
        struct vmm_drive d = drive(id, img, false, true);
        assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    }
    struct vmm_net n = net("eth0", "user");
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    struct vmm_entropy e = { 0 };
    assert_ok(vmm_put_entropy(v, &e, err, sizeof(err)));
    struct vmm_balloon bl = { .amount_mib = 0 };
    assert_ok(vmm_put_balloon(v, &bl, err, sizeof(err)));   /* 8 devices */
    struct vmm_vsock s = { .guest_cid = 3 };
    snprintf(s.uds_path, sizeof(s.uds_path), "%s/v.sock", dir);
    assert_fails_with(vmm_put_vsock(v, &s, err, sizeof(err)), "virtio device slots");
    struct vmm_drive d = drive("d5", img, false, true);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), "virtio device slots");
    n = net("eth1", "user");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "virtio device slots");
    /* replacing what exists takes no new slot */
    d = drive("d4", img, false, true);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    n = net("eth0", "user,hostfwd=tcp::0-:22");
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    assert_ok(vmm_put_entropy(v, &e, err, sizeof(err)));
    bl.amount_mib = 16;
    assert_ok(vmm_put_balloon(v, &bl, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.ndrives, 5);
    cr_assert_eq(c.nnets, 1);
    cr_assert_eq(c.balloon.amount_mib, 16);
}

/* ---- network interfaces ---- */

Test(vmm, net_rules)
{
    struct vmm_net n = net("", "tap0");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "iface_id");
    n = net("eth.0", "tap0");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "only letters");
    n = net("eth0", "");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "host_dev_name is empty");
    n = net("eth0", "user,bogus=1");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "Invalid host_dev_name");
    n = net("eth0", "user,hostfwd=nonsense");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "bad hostfwd");
    n = net("eth0", "a_tap_name_far_too_long");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "longer than 15");
    n = net("eth0", "tap/0");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "not a valid TAP name");
    n = net("eth0", "tap0");
    n.has_mac = true;
    memcpy(n.guest_mac, (uint8_t[]){ 0x01, 0, 0, 0, 0, 1 }, 6);
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), "unicast");

    n = net("eth0", "tap0");
    with_mac(&n, 2);
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    struct vmm_net m = net("eth1", "tap0");
    assert_fails_with(vmm_put_net(v, &m, err, sizeof(err)), "The host device name tap0 is already in use.");
    m = net("eth1", "tap1");
    with_mac(&m, 2);
    assert_fails_with(vmm_put_net(v, &m, err, sizeof(err)),
                      "The guest MAC address 06:00:ac:10:00:02 is already in use.");
    with_mac(&m, 3);
    assert_ok(vmm_put_net(v, &m, err, sizeof(err)));
    /* several user-mode NICs are fine: each has its own stack */
    struct vmm_net u = net("u0", "user");
    assert_ok(vmm_put_net(v, &u, err, sizeof(err)));
    u = net("u1", "user,hostfwd=tcp:127.0.0.1:0-:22,mac=52:54:00:00:00:09");
    assert_ok(vmm_put_net(v, &u, err, sizeof(err)));

    /* replace by id: the same TAP and MAC are its own, not a conflict */
    n = net("eth0", "tap0");
    with_mac(&n, 2);
    n.has_rx_rate_limiter = true;
    n.rx_rate_limiter.ops = (struct token_bucket_config){ .size = 100, .refill_time_ms = 1000 };
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.nnets, 4);
    cr_assert_str_eq(c.nets[0].iface_id, "eth0");
    cr_assert(c.nets[0].has_rx_rate_limiter);
    cr_assert_eq(c.nets[0].rx_rate_limiter.ops.size, 100);
    cr_assert_str_eq(c.nets[3].host_dev_name, "user,hostfwd=tcp:127.0.0.1:0-:22,mac=52:54:00:00:00:09");
}

/* ---- vsock, entropy, balloon, serial ---- */

Test(vmm, vsock_rules)
{
    struct vmm_vsock s = { .guest_cid = 2 };
    snprintf(s.uds_path, sizeof(s.uds_path), "%s/v.sock", dir);
    assert_fails_with(vmm_put_vsock(v, &s, err, sizeof(err)), "guest_cid");
    s.guest_cid = 3;
    s.uds_path[0] = 0;
    assert_fails_with(vmm_put_vsock(v, &s, err, sizeof(err)), "uds_path is empty");
    memset(s.uds_path, 'x', 200);
    s.uds_path[200] = 0;
    assert_fails_with(vmm_put_vsock(v, &s, err, sizeof(err)), "Unix socket path");
    snprintf(s.uds_path, sizeof(s.uds_path), "%s/v.sock", dir);
    assert_ok(vmm_put_vsock(v, &s, err, sizeof(err)));
    s.guest_cid = 42;
    assert_ok(vmm_put_vsock(v, &s, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert(c.vsock.set);
    cr_assert_eq(c.vsock.guest_cid, 42);
}

/* The socket's directory vanished between PUT /vsock and InstanceStart: the fault message says
 * why, once ("vsock: vsock:" was doubled), not "status 71, reason on kiln's stderr" (issue 11). */
Test(vmm, vsock_start_failure_names_its_cause)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/sockets", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    struct vmm_vsock s = { .guest_cid = 3 };
    snprintf(s.uds_path, sizeof(s.uds_path), "%s/v.sock", sub);
    assert_ok(vmm_put_vsock(v, &s, err, sizeof(err)));
    const char *kernel = file("Image", 4096, 0644);
    struct vmm_boot_source b = boot(kernel, NULL, NULL);
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    cr_assert_eq(rmdir(sub), 0);
    assert_fails_with(vmm_start(v, err, sizeof(err)), "Cannot start the microVM: vsock: cannot listen on ");
    cr_assert(strstr(err, "No such file or directory"), "%s", err);
    cr_assert_null(strstr(err, "vsock: vsock:"), "%s", err);
    cr_assert_eq(vmm_get_state(v), VMM_NOT_STARTED);
    /* and PUT /vsock itself refuses a directory that is not there */
    assert_fails_with(vmm_put_vsock(v, &s, err, sizeof(err)), "cannot be created: ");
    cr_assert(strstr(err, "/sockets: No such file or directory"), "%s", err);
}

Test(vmm, entropy_is_stored)
{
    struct vmm_entropy e = { .has_rate_limiter = true };
    e.rate_limiter.bandwidth = (struct token_bucket_config){ .size = 4096, .refill_time_ms = 10 };
    assert_ok(vmm_put_entropy(v, &e, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert(c.entropy.set && c.entropy.has_rate_limiter);
    cr_assert_eq(c.entropy.rate_limiter.bandwidth.size, 4096);
}

Test(vmm, balloon_fits_in_memory)
{
    struct vmm_balloon b = { .amount_mib = 129 };
    assert_fails_with(vmm_put_balloon(v, &b, err, sizeof(err)), "Amount of pages requested is too large");
    b = (struct vmm_balloon){ .amount_mib = 100, .deflate_on_oom = true, .stats_polling_interval_s = 1 };
    assert_ok(vmm_put_balloon(v, &b, err, sizeof(err)));
    /* memory cannot shrink below the balloon either */
    assert_fails_with(vmm_patch_machine_config(v, false, 0, true, 64, false, false, err, sizeof(err)),
                      "smaller than the previously set balloon");
    struct vmm_machine_config m = { .vcpu_count = 1, .mem_size_mib = 99 };
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "balloon");
    m.mem_size_mib = 100;
    assert_ok(vmm_put_machine_config(v, &m, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert(c.balloon.set && c.balloon.deflate_on_oom);
    cr_assert_eq(c.balloon.amount_mib, 100);
    cr_assert_eq(c.balloon.stats_polling_interval_s, 1);
}

Test(vmm, serial_rules)
{
    assert_fails_with(vmm_put_serial(v, dir, err, sizeof(err)), "is a directory");
    assert_fails_with(vmm_put_serial(v, "/nonexistent-dir/serial.log", err, sizeof(err)), "cannot be created");
    assert_ok(vmm_put_serial(v, path_in_dir("serial.log"), err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_str_eq(c.serial_out_path, path_in_dir("serial.log"));
    cr_assert(access(c.serial_out_path, F_OK) != 0, "the file is created at boot, not before");
    assert_ok(vmm_put_serial(v, "", err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert_str_empty(c.serial_out_path);
}

/* ---- state rules ---- */

Test(vmm, post_boot_calls_refused_before_start)
{
    const char *pre = "The requested operation is not supported before starting the microVM.";
    struct balloon_stats st;
    struct rate_limiter_config rl = { 0 };
    assert_fails_with(vmm_pause(v, err, sizeof(err)), pre);
    assert_fails_with(vmm_resume(v, err, sizeof(err)), pre);
    assert_fails_with(vmm_patch_drive(v, "d", NULL, &rl, err, sizeof(err)), pre);
    assert_fails_with(vmm_patch_net(v, "eth0", &rl, NULL, err, sizeof(err)), pre);
    assert_fails_with(vmm_patch_balloon(v, 1, err, sizeof(err)), pre);
    assert_fails_with(vmm_patch_balloon_stats_interval(v, 1, err, sizeof(err)), pre);
    assert_fails_with(vmm_get_balloon_stats(v, &st, err, sizeof(err)), pre);
    cr_assert_eq(vmm_get_state(v), VMM_NOT_STARTED);
}

Test(vmm, failed_start_stays_not_started)
{
    /* a "kernel" bigger than guest memory: vm_create refuses it */
    const char *big = file("huge-Image", 64 << 20, 0644);
    struct vmm_boot_source b = boot(big, NULL, NULL);
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    struct vmm_machine_config m = { .vcpu_count = 1, .mem_size_mib = KILN_MIN_MEM_MIB };
    assert_ok(vmm_put_machine_config(v, &m, err, sizeof(err)));
    /* the client gets the reason, not only a status whose reason went to kiln's stderr */
    assert_fails_with(vmm_start(v, err, sizeof(err)), "Cannot start the microVM: ");
    cr_assert(strstr(err, "huge-Image' is 64 MiB, larger than guest RAM"), "%s", err);
    cr_assert_null(strstr(err, "reason on kiln's stderr"), "%s", err);
    cr_assert_eq(vmm_get_state(v), VMM_NOT_STARTED);
    m.mem_size_mib = 256;   /* still configurable afterwards */
    assert_ok(vmm_put_machine_config(v, &m, err, sizeof(err)));
}

Test(vmm, stop_before_start_releases_waiters)
{
    vmm_stop(v);
    cr_assert_eq(vmm_wait(v), 0);
    cr_assert_eq(vmm_get_state(v), VMM_STOPPED);
    struct vmm_machine_config m = { .vcpu_count = 1, .mem_size_mib = 128 };
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), "after starting");
}

/* ---- real boots ---- */

static void need_guest(void)
{
    if (access(GUEST_KERNEL, R_OK) != 0 || access(GUEST_INITRD, R_OK) != 0)
        cr_skip_test("the default guest is not built (make guest)");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Polls the serial file until it holds `what` (the guest is up to some point). */
static bool serial_shows(const char *path, const char *what, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (strstr(slurp(path), what))
            return true;
        usleep(50000);
    }
    return false;
}

static void *waiter(void *arg)
{
    return (void *)(intptr_t)vmm_wait(arg);
}

/* A guest that powers off at once: the command line carries the root drive, the root drive is
 * /dev/vda although it was added last, console output lands in the serial file, and a waiter
 * that came before the start gets the exit status. */
Test(vmm, boot_to_poweroff)
{
    need_guest();
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, waiter, v), 0);

    struct vmm_boot_source b = boot(GUEST_KERNEL, GUEST_INITRD, "console=ttyS0 kiln.poweroff");
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    struct vmm_drive d = drive("data", file("data.img", 1 << 20, 0644), false, false);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    d = drive("rootfs", file("root.img", 3 << 20, 0644), true, true);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    const char *serial = path_in_dir("serial.log");
    assert_ok(vmm_put_serial(v, serial, err, sizeof(err)));

    assert_ok(vmm_start(v, err, sizeof(err)));
    cr_assert_neq(vmm_get_state(v), VMM_NOT_STARTED);
    /* pre-boot calls and a second start are refused from now on */
    const char *post = "The requested operation is not supported after starting the microVM.";
    assert_fails_with(vmm_start(v, err, sizeof(err)), post);
    assert_fails_with(vmm_put_boot_source(v, &b, err, sizeof(err)), post);
    assert_fails_with(vmm_put_drive(v, &d, err, sizeof(err)), post);
    struct vmm_machine_config m = { .vcpu_count = 1, .mem_size_mib = 128 };
    assert_fails_with(vmm_put_machine_config(v, &m, err, sizeof(err)), post);
    assert_fails_with(vmm_patch_machine_config(v, true, 2, false, 0, false, false, err, sizeof(err)), post);
    struct vmm_net n = net("eth0", "user");
    assert_fails_with(vmm_put_net(v, &n, err, sizeof(err)), post);
    struct vmm_entropy e = { 0 };
    assert_fails_with(vmm_put_entropy(v, &e, err, sizeof(err)), post);
    struct vmm_balloon bl = { 0 };
    assert_fails_with(vmm_put_balloon(v, &bl, err, sizeof(err)), post);
    assert_fails_with(vmm_put_serial(v, "", err, sizeof(err)), post);
    /* the state is the reason, whatever else is wrong with the request */
    struct vmm_boot_source bad = boot(path_in_dir("missing"), NULL, NULL);
    assert_fails_with(vmm_put_boot_source(v, &bad, err, sizeof(err)), post);
    struct vmm_drive badd = drive("bad-id", "", true, false);
    assert_fails_with(vmm_put_drive(v, &badd, err, sizeof(err)), post);
    struct vmm_vsock bads = { .guest_cid = 0 };
    assert_fails_with(vmm_put_vsock(v, &bads, err, sizeof(err)), post);

    cr_assert_eq(vmm_wait(v), 0);
    void *ret;
    pthread_join(t, &ret);
    cr_assert_eq((intptr_t)ret, 0, "the early waiter gets the status too");
    cr_assert_eq(vmm_get_state(v), VMM_STOPPED);
    cr_assert_eq(vmm_wait(v), 0, "waiting again returns at once");

    const char *out = slurp(serial);
    cr_assert(strstr(out, "Kernel command line: console=ttyS0 kiln.poweroff root=/dev/vda ro"),
              "command line not in the serial output:\n%s", out);
    cr_assert(strstr(out, "[vda] 6144 512-byte logical blocks"), "root drive is not vda:\n%s", out);
    cr_assert(strstr(out, "[vdb] 2048 512-byte logical blocks"), "data drive is not vdb:\n%s", out);
    cr_assert(strstr(out, "reboot: Power down"), "%s", out);

    struct rate_limiter_config rl = { 0 };
    assert_fails_with(vmm_pause(v, err, sizeof(err)), "stopped");
    assert_fails_with(vmm_patch_drive(v, "data", NULL, &rl, err, sizeof(err)), "stopped");
}

Test(vmm, boot_with_partuuid_root)
{
    need_guest();
    struct vmm_boot_source b = boot(GUEST_KERNEL, GUEST_INITRD, "console=ttyS0 kiln.poweroff");
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    struct vmm_drive d = drive("rootfs", file("root.img", 1 << 20, 0644), true, false);
    snprintf(d.partuuid, sizeof(d.partuuid), "0eaa91a0-01");
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    const char *serial = path_in_dir("serial.log");
    assert_ok(vmm_put_serial(v, serial, err, sizeof(err)));
    assert_ok(vmm_start(v, err, sizeof(err)));
    cr_assert_eq(vmm_wait(v), 0);
    const char *out = slurp(serial);
    cr_assert(strstr(out, "Kernel command line: console=ttyS0 kiln.poweroff root=PARTUUID=0eaa91a0-01 rw"),
              "%s", out);
}

/* A guest that stays up: pause and resume, the post-boot PATCHes, then stop and wait. */
Test(vmm, running_guest_pause_patch_stop)
{
    need_guest();
    struct vmm_boot_source b = boot(GUEST_KERNEL, GUEST_INITRD, "console=ttyS0");
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    struct vmm_machine_config m = { .vcpu_count = 2, .mem_size_mib = 128 };
    assert_ok(vmm_put_machine_config(v, &m, err, sizeof(err)));
    struct vmm_drive d = drive("data", file("data.img", 1 << 20, 0644), false, false);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    d = drive("cdrom", file("ro.img", 1 << 20, 0444), false, true);
    assert_ok(vmm_put_drive(v, &d, err, sizeof(err)));
    struct vmm_net n = net("eth0", "user");
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    struct vmm_balloon bl = { .amount_mib = 0 };   /* statistics off */
    assert_ok(vmm_put_balloon(v, &bl, err, sizeof(err)));
    const char *serial = path_in_dir("serial.log");
    assert_ok(vmm_put_serial(v, serial, err, sizeof(err)));
    assert_ok(vmm_start(v, err, sizeof(err)));
    cr_assert_eq(vmm_get_state(v), VMM_RUNNING);
    cr_assert(serial_shows(serial, "Linux version", 30), "%s", slurp(serial));

    assert_ok(vmm_pause(v, err, sizeof(err)));
    cr_assert_eq(vmm_get_state(v), VMM_PAUSED);
    assert_ok(vmm_pause(v, err, sizeof(err)));   /* pausing a paused VM is harmless */
    cr_assert_eq(vmm_get_state(v), VMM_PAUSED);
    assert_ok(vmm_resume(v, err, sizeof(err)));
    cr_assert_eq(vmm_get_state(v), VMM_RUNNING);

    /* drives */
    struct rate_limiter_config rl = { .ops = { .size = 1000, .refill_time_ms = 1000 } };
    assert_fails_with(vmm_patch_drive(v, "nope", NULL, &rl, err, sizeof(err)), "not found");
    assert_fails_with(vmm_patch_drive(v, "data", path_in_dir("missing.img"), NULL, err, sizeof(err)),
                      "cannot be opened");
    const char *bigger = file("data2.img", 2 << 20, 0644);
    assert_ok(vmm_patch_drive(v, "data", bigger, &rl, err, sizeof(err)));
    assert_ok(vmm_patch_drive(v, "cdrom", file("ro2.img", 4096, 0444), NULL, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_str_eq(c.drives[0].path_on_host, bigger);
    cr_assert(c.drives[0].has_rate_limiter);
    cr_assert_eq(c.drives[0].rate_limiter.ops.size, 1000);

    /* network */
    assert_fails_with(vmm_patch_net(v, "eth9", &rl, NULL, err, sizeof(err)), "not found");
    assert_ok(vmm_patch_net(v, "eth0", NULL, &rl, err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert(c.nets[0].has_tx_rate_limiter && !c.nets[0].has_rx_rate_limiter);

    /* balloon without statistics */
    struct balloon_stats st;
    assert_fails_with(vmm_get_balloon_stats(v, &st, err, sizeof(err)),
                      "Statistics for the balloon device are not enabled");
    assert_fails_with(vmm_patch_balloon_stats_interval(v, 5, err, sizeof(err)),
                      "Cannot enable/disable the statistics after boot.");
    assert_ok(vmm_patch_balloon_stats_interval(v, 0, err, sizeof(err)));
    assert_fails_with(vmm_patch_balloon(v, 129, err, sizeof(err)), "Amount of pages requested is too large");
    assert_ok(vmm_patch_balloon(v, 8, err, sizeof(err)));
    vmm_get_config(v, &c);
    cr_assert_eq(c.balloon.amount_mib, 8);

    /* a PATCH works while paused too (the devices run on their own threads) */
    assert_ok(vmm_pause(v, err, sizeof(err)));
    assert_ok(vmm_patch_balloon(v, 0, err, sizeof(err)));
    vmm_stop(v);   /* from paused: the parked vCPUs see the stop */
    cr_assert_eq(vmm_wait(v), 0);
    cr_assert_eq(vmm_get_state(v), VMM_STOPPED);
}

Test(vmm, running_guest_balloon_statistics)
{
    need_guest();
    struct vmm_boot_source b = boot(GUEST_KERNEL, GUEST_INITRD, "console=ttyS0");
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    struct vmm_balloon bl = { .amount_mib = 0, .stats_polling_interval_s = 1 };
    assert_ok(vmm_put_balloon(v, &bl, err, sizeof(err)));
    assert_ok(vmm_put_serial(v, path_in_dir("serial.log"), err, sizeof(err)));
    assert_ok(vmm_start(v, err, sizeof(err)));

    struct balloon_stats st;
    assert_ok(vmm_get_balloon_stats(v, &st, err, sizeof(err)));
    assert_fails_with(vmm_patch_balloon_stats_interval(v, 0, err, sizeof(err)),
                      "Cannot enable/disable the statistics after boot.");
    assert_ok(vmm_patch_balloon_stats_interval(v, 2, err, sizeof(err)));
    struct vmm_config c;
    vmm_get_config(v, &c);
    cr_assert_eq(c.balloon.stats_polling_interval_s, 2);
    struct rate_limiter_config rl = { 0 };
    assert_fails_with(vmm_patch_drive(v, "none", NULL, &rl, err, sizeof(err)), "not found");

    vmm_stop(v);
    cr_assert_eq(vmm_wait(v), 0);
}

/* No balloon configured: the balloon calls say so; vmm_free stops a VM nobody waited for. */
Test(vmm, running_guest_without_balloon_freed_unwaited)
{
    need_guest();
    struct vmm_boot_source b = boot(GUEST_KERNEL, GUEST_INITRD, "console=ttyS0");
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    assert_ok(vmm_put_serial(v, path_in_dir("serial.log"), err, sizeof(err)));
    assert_ok(vmm_start(v, err, sizeof(err)));
    struct balloon_stats st;
    assert_fails_with(vmm_get_balloon_stats(v, &st, err, sizeof(err)), "No balloon device found.");
    assert_fails_with(vmm_patch_balloon(v, 1, err, sizeof(err)), "No balloon device found.");
    /* teardown's vmm_free does the rest */
}

/* A default MAC (52:54:00:12:34:56 + index) can collide with an explicit one only once the
 * order is final: vmm_start finds it before building anything. */
Test(vmm, start_refuses_mac_collision_with_default)
{
    struct vmm_boot_source b = boot(file("Image", 4096, 0644), NULL, NULL);
    assert_ok(vmm_put_boot_source(v, &b, err, sizeof(err)));
    struct vmm_net n = net("eth0", "user");
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    n = net("eth1", "user,mac=52:54:00:12:34:56");
    assert_ok(vmm_put_net(v, &n, err, sizeof(err)));
    assert_fails_with(vmm_start(v, err, sizeof(err)), "The guest MAC address 52:54:00:12:34:56 is already in use");
    cr_assert_eq(vmm_get_state(v), VMM_NOT_STARTED);
}
