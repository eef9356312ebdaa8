/* test_migration_link.c — the migration stream's framing: messages arrive whole and in order;
 * garbage, oversize lengths, silence and a closed peer are errors, never hangs or overruns. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "vm/migration_link.h"

static int fds[2];
static void *buf;
static size_t cap, len;
static char err[256];

static void setup(void)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    buf = NULL;
    cap = len = 0;
}

static void teardown(void)
{
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(buf);
}

TestSuite(migration_link, .init = setup, .fini = teardown);

Test(migration_link, messages_arrive_whole_and_in_order)
{
    uint8_t page[4096];
    memset(page, 0x5a, sizeof(page));
    cr_assert_eq(mig_send(fds[0], MIG_HELLO, "abc", 3, NULL, 0), 0);
    cr_assert_eq(mig_send(fds[0], MIG_PAGES, "\x01\0\0\0\0\0\0\0", 8, page, sizeof(page)), 0);
    cr_assert_eq(mig_send(fds[0], MIG_COMMIT, NULL, 0, NULL, 0), 0);
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), MIG_HELLO);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(buf, "abc", 3);
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), MIG_PAGES);
    cr_assert_eq(len, 8 + sizeof(page));
    cr_assert_eq(((uint8_t *)buf)[0], 1);
    cr_assert_arr_eq((uint8_t *)buf + 8, page, sizeof(page));
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), MIG_COMMIT);
    cr_assert_eq(len, 0);
}

Test(migration_link, garbage_is_not_the_protocol)
{
    const char junk[] = "GET / HTTP/1.1\r\n\r\n";
    cr_assert_eq(write(fds[0], junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), -1);
    cr_assert(strstr(err, "protocol") != NULL, "%s", err);
}

Test(migration_link, unknown_types_and_oversize_lengths_are_refused)
{
    uint8_t h[16] = { 'K', 'M', 'I', 'G', 99 };
    cr_assert_eq(write(fds[0], h, sizeof(h)), (ssize_t)sizeof(h));
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), -1);
    uint8_t big[16] = { 'K', 'M', 'I', 'G', MIG_PAGES, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0 };
    cr_assert_eq(write(fds[0], big, sizeof(big)), (ssize_t)sizeof(big));
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), -1);
    cr_assert(strstr(err, "byte message") != NULL, "%s", err);
    cr_assert_lt(cap, (size_t)MIG_MSG_MAX, "nothing was allocated for it");
}

Test(migration_link, silence_and_a_closed_peer_end_the_wait)
{
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 50, err, sizeof(err)), -1);
    cr_assert(strstr(err, "sent nothing") != NULL, "%s", err);
    /* half a message, then the peer goes away */
    uint8_t h[16] = { 'K', 'M', 'I', 'G', MIG_STATE, 0, 0, 0, 100 };
    cr_assert_eq(write(fds[0], h, sizeof(h)), (ssize_t)sizeof(h));
    cr_assert_eq(write(fds[0], "xyz", 3), 3);
    close(fds[0]);
    fds[0] = dup(fds[1]);   /* keep teardown's close balanced */
    shutdown(fds[0], SHUT_WR);
    cr_assert_eq(mig_recv(fds[1], &buf, &cap, &len, 1000, err, sizeof(err)), -1);
    cr_assert(strstr(err, "closed") != NULL || strstr(err, "sent nothing") != NULL, "%s", err);
}

Test(migration_link, urls_are_checked)
{
    cr_assert_eq(mig_connect("ftp://x", 1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "unix:PATH or tcp:HOST:PORT") != NULL, "%s", err);
    cr_assert_eq(mig_connect("tcp:127.0.0.1", 1, err, sizeof(err)), -1);
    cr_assert_eq(mig_connect("unix:", 1, err, sizeof(err)), -1);
    cr_assert_eq(mig_accept("unix:/nonexistent-dir/x.sock", 1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "cannot listen") != NULL, "%s", err);
}

struct accept_arg {
    char url[128];
    int fd;
};

static void *accept_one(void *p)
{
    struct accept_arg *a = p;
    char e[256];
    a->fd = mig_accept(a->url, 5, e, sizeof(e));
    return NULL;
}

Test(migration_link, unix_socket_connects_even_if_the_listener_comes_late)
{
    struct accept_arg a;
    snprintf(a.url, sizeof(a.url), "unix:/tmp/kiln-miglink-%d.sock", (int)getpid());
    pthread_t t;
    pthread_create(&t, NULL, accept_one, &a);
    int c = mig_connect(a.url, 5, err, sizeof(err));
    pthread_join(t, NULL);
    cr_assert_geq(c, 0, "%s", err);
    cr_assert_geq(a.fd, 0);
    cr_assert_eq(mig_send(c, MIG_READY, NULL, 0, NULL, 0), 0);
    cr_assert_eq(mig_recv(a.fd, &buf, &cap, &len, 1000, err, sizeof(err)), MIG_READY);
    close(c);
    close(a.fd);
}
