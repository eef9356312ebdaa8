/* test_virtio_blk_host_errors.c — when the host refuses the image's I/O (its disk is full, the
 * file may not grow), the guest gets an I/O error and kiln says so once per image, with the
 * errno's text (issue 11: a full host disk went unlogged). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dev/virtio/blk.h"
#include "vm/logger.h"
#include "virtio_driver.h"

#define RAM_SIZE (8u << 20)

static char dir[] = "/tmp/kiln-blk-err-XXXXXX";
static char image[128], log_path[128];
static char mounted[160];   /* the tmpfs to take down before the directory goes */
static struct vdrv d;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(log_path, sizeof(log_path), "%s/kiln.log", dir);
    char err[256];
    cr_assert_eq(logger_configure(log_path, LOG_LEVEL_WARN, false, false, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
    logger_shutdown();
    if (*mounted)
        umount2(mounted, MNT_DETACH);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(blk_host_errors, .init = setup, .fini = teardown, .timeout = 20);

/* A device on a sparse image of `size` bytes in directory `in`, its driver started. */
static void open_disk(const char *in, off_t size)
{
    snprintf(image, sizeof(image), "%s/disk.img", in);
    int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, size), 0);
    close(fd);
    vdrv_init(&d, RAM_SIZE);
    struct disk_options o = { .path = image, .id = "vda" };
    char err[256] = "";
    struct virtio_mmio *t = virtio_blk_create(&o, &d.mem, vdrv_irq(&d), err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    vdrv_attach(&d, t);
    cr_assert(vdrv_start(&d, ~0ull, 1, 64));
}

/* One OUT request of len bytes at sector; returns the status the device wrote. */
static uint8_t write_sectors(uint64_t sector, uint32_t len)
{
    uint64_t hdr = vdrv_alloc(&d, 16, 16), data = vdrv_alloc(&d, len, 512), status = vdrv_alloc(&d, 1, 1);
    struct virtio_blk_outhdr *h = vdrv_ptr(&d, hdr);
    *h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = sector };
    memset(vdrv_ptr(&d, data), 0x5a, len);
    *(uint8_t *)vdrv_ptr(&d, status) = 0xee;
    struct vdrv_buf bufs[3] = { { hdr, 16, false }, { data, len, false }, { status, 1, true } };
    uint16_t head = vdrv_add(&d, 0, bufs, 3), id;
    uint32_t used;
    vdrv_kick(&d, 0);
    cr_assert(vdrv_wait_used(&d, 0, &id, &used, 5000), "no completion");
    cr_assert_eq(id, head);
    return *(uint8_t *)vdrv_ptr(&d, status);
}

/* How many lines of the log contain text. */
static int log_lines_with(const char *text)
{
    FILE *f = fopen(log_path, "r");
    cr_assert_not_null(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

Test(blk_host_errors, a_file_that_may_not_grow_is_logged_once)
{
    /* RLIMIT_FSIZE makes writes past 64 KiB fail with EFBIG, as a full disk fails them with
     * ENOSPC; it needs no privileges, and Criterion's per-test process keeps it to this test */
    signal(SIGXFSZ, SIG_IGN);
    open_disk(dir, 1 << 20);
    struct rlimit rl = { 64 << 10, 64 << 10 };
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    cr_assert_eq(write_sectors(0, 4096), VIRTIO_BLK_S_OK, "below the limit writes work");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(write_sectors(256 + 8 * i, 4096), VIRTIO_BLK_S_IOERR, "the guest sees the error");
    char want[256];
    snprintf(want, sizeof(want), "disk %s: writing the image failed: %s", image, strerror(EFBIG));
    cr_assert_eq(log_lines_with(want), 1, "expected one line with \"%s\"", want);
    cr_assert_eq(log_lines_with("writing the image failed"), 1, "logged once, not per request");
    vdrv_fini(&d);
}

Test(blk_host_errors, a_full_host_disk_is_logged_once)
{
    /* a real ENOSPC: a 64 KiB tmpfs in a private mount namespace (gone with this test's
     * process); only root may make one */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        cr_skip_test("needs root for a private tmpfs");
    snprintf(mounted, sizeof(mounted), "%s/small", dir);
    cr_assert_eq(mkdir(mounted, 0700), 0);
    cr_assert_eq(mount("tmpfs", mounted, "tmpfs", 0, "size=64k"), 0);
    open_disk(mounted, 1 << 20);
    int fails = 0;
    for (int i = 0; i < 32; i++)   /* 128 KiB of data into 64 KiB of space */
        fails += write_sectors(8 * i, 4096) == VIRTIO_BLK_S_IOERR;
    cr_assert_geq(fails, 8, "only %d writes failed on a full file system", fails);
    char want[256];
    snprintf(want, sizeof(want), "disk %s: writing the image failed: %s", image, strerror(ENOSPC));
    cr_assert_eq(log_lines_with(want), 1, "expected one line with \"%s\"", want);
    cr_assert_eq(log_lines_with("the image failed"), 1, "logged once, not per request");
    vdrv_fini(&d);
}
