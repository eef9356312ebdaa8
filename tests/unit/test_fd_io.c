/* test_fd_io.c — fd_open_user: user-named paths open without ever waiting, and only the kinds
 * of file the caller takes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fd_io.h"

static char dir[] = "/tmp/kiln-test-fdio-XXXXXX";
static char why[128];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *in_dir(const char *name)
{
    static char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

TestSuite(fd_open_user, .init = setup, .fini = teardown, .timeout = 10);

Test(fd_open_user, regular_file_opens_blocking)
{
    int fd = fd_open_user(in_dir("f"), O_WRONLY | O_CREAT, 0600, FD_REGULAR, why, sizeof(why));
    cr_assert_geq(fd, 0, "%s", why);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "O_NONBLOCK is cleared on a regular file");
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

Test(fd_open_user, fifo_is_refused_at_once_for_reading_and_writing)
{
    cr_assert_eq(mkfifo(in_dir("p"), 0600), 0);
    int flags[] = { O_RDONLY, O_RDWR };
    for (unsigned i = 0; i < 2; i++) {
        cr_assert_eq(fd_open_user(in_dir("p"), flags[i], 0, FD_REGULAR, why, sizeof(why)), -1);
        cr_assert_str_eq(why, "it is a FIFO, not a regular file");
    }
    /* write-only: the kernel's own ENXIO, named for what it means */
    cr_assert_eq(fd_open_user(in_dir("p"), O_WRONLY, 0, FD_REGULAR | FD_FIFO, why, sizeof(why)), -1);
    cr_assert_eq(errno, ENXIO);
    cr_assert_str_eq(why, "it is a FIFO with no reader");
}

Test(fd_open_user, allowed_fifo_stays_non_blocking)
{
    cr_assert_eq(mkfifo(in_dir("p"), 0600), 0);
    int fd = fd_open_user(in_dir("p"), O_RDWR, 0, FD_FIFO, why, sizeof(why));
    cr_assert_geq(fd, 0, "%s", why);
    cr_assert_neq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "a stalled reader must not block kiln");
    close(fd);
}

Test(fd_open_user, other_kinds_are_named)
{
    cr_assert_eq(fd_open_user(dir, O_RDONLY, 0, FD_REGULAR, why, sizeof(why)), -1);
    cr_assert_str_eq(why, "it is a directory, not a regular file");
    cr_assert_eq(fd_open_user("/dev/null", O_RDONLY, 0, FD_REGULAR | FD_FIFO, why, sizeof(why)), -1);
    cr_assert_str_eq(why, "it is a character device, not a regular file or a FIFO");
    int fd = fd_open_user("/dev/null", O_WRONLY, 0, FD_CHARDEV, why, sizeof(why));
    cr_assert_geq(fd, 0, "%s", why);
    close(fd);
    cr_assert_eq(fd_open_user(in_dir("missing"), O_RDONLY, 0, FD_REGULAR, why, sizeof(why)), -1);
    cr_assert_eq(errno, ENOENT);
    cr_assert_str_eq(why, strerror(ENOENT));
}

/* the directory a new socket or serial-output file would be created in */
Test(path_parent_dir, names_the_directory_a_file_goes_in)
{
    char dir[32];
    path_parent_dir("/tmp/kiln/v.sock", dir, sizeof(dir));
    cr_assert_str_eq(dir, "/tmp/kiln");
    path_parent_dir("v.sock", dir, sizeof(dir));
    cr_assert_str_eq(dir, ".");
    path_parent_dir("/v.sock", dir, sizeof(dir));
    cr_assert_str_eq(dir, "/");
    path_parent_dir("a/b/", dir, sizeof(dir));
    cr_assert_str_eq(dir, "a/b");
}
