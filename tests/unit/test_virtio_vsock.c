/* test_virtio_vsock.c — virtio-vsock with its Firecracker-style host side, driven by the fake
 * driver in virtio_driver.h playing the guest's vsock transport (it posts rx buffers, reads
 * the packets the device puts there and sends packets on the tx queue) while the test plays
 * the host processes on the Unix sockets. The snapshot tests save a paused device, restore the
 * state into a new one on the same guest memory (as a restored VM would) and check what the
 * guest then sees: a TRANSPORT_RESET event, and connections that work again. */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "dev/virtio/vsock.h"
#include "virtio_driver.h"

#define GUEST_CID 3
#define RXQ 0
#define TXQ 1
#define EVQ 2
#define QSIZE 64
#define RX_BUF 4096
#define RX_POSTED 8
#define HDR sizeof(struct virtio_vsock_hdr)

struct pkt {
    struct virtio_vsock_hdr h;
    uint8_t data[RX_BUF];
    uint32_t len;   /* payload bytes */
};

static struct vdrv drv;
static char dir[64], uds[128];
static uint64_t rx_gpa[QSIZE];   /* rx buffer of each descriptor index */
static uint64_t tx_gpa;

/* ================================================================ helpers */

static void post_rx(void)
{
    uint16_t desc = drv.q[RXQ].next_desc;
    struct vdrv_buf b = { rx_gpa[desc], RX_BUF, true };
    vdrv_add(&drv, RXQ, &b, 1);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kiln-vsock-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    vdrv_init(&drv, 8 << 20);
    struct vsock_options o = { .guest_cid = GUEST_CID, .uds_path = uds };
    char err[256] = "";
    struct virtio_mmio *t = virtio_vsock_create(&o, &drv.mem, vdrv_irq(&drv), err, sizeof(err));
    cr_assert_not_null(t, "create failed: %s", err);
    vdrv_attach(&drv, t);
    cr_assert(vdrv_start(&drv, 0, 3, QSIZE));
    for (unsigned i = 0; i < QSIZE; i++)
        rx_gpa[i] = vdrv_alloc(&drv, RX_BUF, 16);
    tx_gpa = vdrv_alloc(&drv, HDR + 128 * 1024, 16);
    for (unsigned i = 0; i < RX_POSTED; i++)
        post_rx();
    vdrv_kick(&drv, RXQ);
}

static void teardown(void)
{
    vdrv_fini(&drv);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Waits for the device's next packet to the guest; hands the buffer back to it. */
static bool recv_pkt(struct pkt *p, int timeout_ms)
{
    uint16_t id;
    uint32_t len;
    if (!vdrv_wait_used(&drv, RXQ, &id, &len, timeout_ms))
        return false;
    cr_assert_lt(id, QSIZE);
    cr_assert_geq(len, HDR);
    const uint8_t *buf = vdrv_ptr(&drv, rx_gpa[id]);
    memcpy(&p->h, buf, HDR);
    p->len = len - (uint32_t)HDR;
    cr_assert_eq(le32toh(p->h.len), p->len, "header len %u, used len %u", le32toh(p->h.len), p->len);
    memcpy(p->data, buf + HDR, p->len);
    cr_assert_eq(le64toh(p->h.src_cid), 2);
    cr_assert_eq(le64toh(p->h.dst_cid), GUEST_CID);
    cr_assert_eq(le16toh(p->h.type), VIRTIO_VSOCK_TYPE_STREAM);
    post_rx();
    vdrv_kick(&drv, RXQ);
    return true;
}

static void expect_pkt(struct pkt *p, uint16_t op)
{
    cr_assert(recv_pkt(p, 3000), "no packet from the device (wanted op %u)", op);
    cr_assert_eq(le16toh(p->h.op), op, "op %u, wanted %u", le16toh(p->h.op), op);
}

/* Sends one packet from the guest's guest_port to the host's host_port. */
static void send_pkt(uint32_t guest_port, uint32_t host_port, uint16_t op, uint32_t flags,
                     uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, uint32_t len)
{
    struct virtio_vsock_hdr h = {
        .src_cid = htole64(GUEST_CID), .dst_cid = htole64(2),
        .src_port = htole32(guest_port), .dst_port = htole32(host_port),
        .len = htole32(len), .type = htole16(VIRTIO_VSOCK_TYPE_STREAM), .op = htole16(op),
        .flags = htole32(flags), .buf_alloc = htole32(buf_alloc), .fwd_cnt = htole32(fwd_cnt),
    };
    uint8_t *buf = vdrv_ptr(&drv, tx_gpa);
    memcpy(buf, &h, HDR);
    if (len)
        memcpy(buf + HDR, data, len);
    struct vdrv_buf b = { tx_gpa, (uint32_t)HDR + len, false };
    vdrv_add(&drv, TXQ, &b, 1);
    vdrv_kick(&drv, TXQ);
    cr_assert(vdrv_wait_used(&drv, TXQ, NULL, NULL, 3000), "tx packet not consumed");
}

static int uds_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    cr_assert_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %s: %s", path, strerror(errno));
    return fd;
}

static int uds_listen(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    cr_assert_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

/* Reads exactly len bytes (or until EOF) within timeout_ms. Returns bytes read. */
static size_t read_n(int fd, void *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0)
            break;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Reads one line ending in '\n' (byte by byte, so nothing after it is taken). */
static void read_line(int fd, char *line, size_t max)
{
    size_t n = 0;
    while (n + 1 < max) {
        cr_assert_eq(read_n(fd, line + n, 1, 3000), 1, "no full line from kiln (got '%.*s')", (int)n, line);
        if (line[n++] == '\n')
            break;
    }
    line[n] = 0;
}

/* True if the peer closed fd (EOF) within timeout_ms. */
static bool closed_by_peer(int fd, int timeout_ms)
{
    char c;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    ssize_t n = read(fd, &c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void uds_port_path(char *out, size_t len, unsigned port)
{
    snprintf(out, len, "%s_%u", uds, port);
}

/* Host-initiated connection up to "OK <port>": returns the host client socket, sets *host_port. */
static int host_connect(uint32_t guest_port, uint32_t *host_port, const char *extra)
{
    int fd = uds_connect(uds);
    char cmd[64];
    int n = snprintf(cmd, sizeof(cmd), "CONNECT %u\n%s", guest_port, extra);
    cr_assert_eq(write(fd, cmd, (size_t)n), n);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
    cr_assert_eq(le32toh(p.h.dst_port), guest_port);
    *host_port = le32toh(p.h.src_port);
    cr_assert_geq(*host_port, 1u << 30);
    cr_assert_eq(le32toh(p.h.buf_alloc), 64 * 1024);
    send_pkt(guest_port, *host_port, VIRTIO_VSOCK_OP_RESPONSE, 0, 64 * 1024, 0, NULL, 0);
    char line[64], want[64];
    read_line(fd, line, sizeof(line));
    snprintf(want, sizeof(want), "OK %u\n", *host_port);
    cr_assert_str_eq(line, want);
    return fd;
}

TestSuite(virtio_vsock, .init = setup, .fini = teardown, .timeout = 30);

/* ================================================================ tests */

Test(virtio_vsock, device_identity_and_config)
{
    cr_assert_eq(vdrv_read32(&drv, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
    cr_assert_eq(vdrv_config(&drv, 0, 8), GUEST_CID);
    struct stat st;
    cr_assert_eq(stat(uds, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
}

Test(virtio_vsock, host_initiated_connect_and_data_both_ways)
{
    uint32_t hp;
    /* bytes right after the command line are the start of the stream */
    int fd = host_connect(5000, &hp, "early");
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
    cr_assert_eq(le32toh(p.h.src_port), hp);
    cr_assert_eq(le32toh(p.h.dst_port), 5000);
    cr_assert_eq(p.len, 5);
    cr_assert_arr_eq(p.data, "early", 5);

    cr_assert_eq(write(fd, "hello guest", 11), 11);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
    cr_assert_eq(p.len, 11);
    cr_assert_arr_eq(p.data, "hello guest", 11);

    send_pkt(5000, hp, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 16, "hello host", 10);
    char buf[16];
    cr_assert_eq(read_n(fd, buf, 10, 3000), 10);
    cr_assert_arr_eq(buf, "hello host", 10);

    /* host closes: the guest hears SHUTDOWN; the guest closes too: RST ends it */
    close(fd);
    expect_pkt(&p, VIRTIO_VSOCK_OP_SHUTDOWN);
    cr_assert(le32toh(p.h.flags) & VIRTIO_VSOCK_SHUTDOWN_SEND);
    send_pkt(5000, hp, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV,
             64 * 1024, 16, NULL, 0);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RST);
    cr_assert_eq(le32toh(p.h.src_port), hp);
}

Test(virtio_vsock, host_initiated_refused_by_guest_closes_host_socket)
{
    int fd = uds_connect(uds);
    cr_assert_eq(write(fd, "CONNECT 5001\n", 13), 13);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
    send_pkt(5001, le32toh(p.h.src_port), VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL, 0);
    cr_assert(closed_by_peer(fd, 3000));
    close(fd);
}

Test(virtio_vsock, guest_initiated_connect_and_data_both_ways)
{
    char path[160];
    uds_port_path(path, sizeof(path), 6000);
    int ls = uds_listen(path);
    send_pkt(1234, 6000, VIRTIO_VSOCK_OP_REQUEST, 0, 64 * 1024, 0, NULL, 0);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RESPONSE);
    cr_assert_eq(le32toh(p.h.src_port), 6000);
    cr_assert_eq(le32toh(p.h.dst_port), 1234);
    cr_assert_eq(le32toh(p.h.buf_alloc), 64 * 1024);
    int fd = accept(ls, NULL, NULL);
    cr_assert_geq(fd, 0);

    send_pkt(1234, 6000, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 0, "ping", 4);
    char buf[8];
    cr_assert_eq(read_n(fd, buf, 4, 3000), 4);
    cr_assert_arr_eq(buf, "ping", 4);
    cr_assert_eq(write(fd, "pong", 4), 4);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
    cr_assert_eq(p.len, 4);
    cr_assert_arr_eq(p.data, "pong", 4);
    cr_assert_eq(le32toh(p.h.fwd_cnt), 4, "our fwd_cnt counts the 4 bytes passed on");

    /* the guest shuts down sending: the host reads EOF */
    send_pkt(1234, 6000, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, 64 * 1024, 4, NULL, 0);
    cr_assert(closed_by_peer(fd, 3000));
    /* and once the host closes, nothing can flow: RST */
    close(fd);
    do
        cr_assert(recv_pkt(&p, 3000), "no RST after both ends closed");
    while (le16toh(p.h.op) == VIRTIO_VSOCK_OP_SHUTDOWN);
    cr_assert_eq(le16toh(p.h.op), VIRTIO_VSOCK_OP_RST);
    close(ls);
}

Test(virtio_vsock, guest_connect_without_listener_gets_rst)
{
    send_pkt(1235, 6001, VIRTIO_VSOCK_OP_REQUEST, 0, 64 * 1024, 0, NULL, 0);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RST);
    cr_assert_eq(le32toh(p.h.src_port), 6001);
    cr_assert_eq(le32toh(p.h.dst_port), 1235);
}

Test(virtio_vsock, packet_for_unknown_connection_gets_rst)
{
    send_pkt(1236, 7000, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 0, "x", 1);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RST);
    cr_assert_eq(le32toh(p.h.dst_port), 1236);
}

Test(virtio_vsock, garbage_on_uds_closes_only_that_client)
{
    int good = uds_connect(uds);
    int bad = uds_connect(uds);
    cr_assert_eq(write(bad, "HELLO\n", 6), 6);
    cr_assert(closed_by_peer(bad, 3000), "the garbage client was not closed");
    close(bad);
    int bad2 = uds_connect(uds);   /* a line that is too long without a newline */
    cr_assert_eq(write(bad2, "CONNECT 1234567890123456789012345", 33), 33);
    cr_assert(closed_by_peer(bad2, 3000));
    close(bad2);
    cr_assert_eq(write(good, "CONNECT 5002\n", 13), 13);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
    cr_assert_eq(le32toh(p.h.dst_port), 5002);
    cr_assert(!recv_pkt(&p, 200), "the garbage clients made the device talk to the guest");
    close(good);
}

Test(virtio_vsock, host_data_respects_guest_credit)
{
    char path[160];
    uds_port_path(path, sizeof(path), 6002);
    int ls = uds_listen(path);
    /* the guest has room for 1000 bytes only */
    send_pkt(1240, 6002, VIRTIO_VSOCK_OP_REQUEST, 0, 1000, 0, NULL, 0);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RESPONSE);
    int fd = accept(ls, NULL, NULL);
    static char big[3000];
    memset(big, 'a', sizeof(big));
    cr_assert_eq(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
    uint32_t got = 0;
    while (got < 1000) {
        expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
        got += p.len;
    }
    cr_assert_eq(got, 1000);
    cr_assert(!recv_pkt(&p, 200), "the device sent past the guest's credit");
    /* the guest read 600 bytes: 600 more may come */
    send_pkt(1240, 6002, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 1000, 600, NULL, 0);
    got = 0;
    while (got < 600) {
        expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
        got += p.len;
    }
    cr_assert_eq(got, 600);
    cr_assert(!recv_pkt(&p, 200));
    /* the guest asks for our credit: we answer with buf_alloc and fwd_cnt */
    send_pkt(1240, 6002, VIRTIO_VSOCK_OP_RW, 0, 1000, 600, "abc", 3);
    cr_assert_eq(read_n(fd, big, 3, 3000), 3);
    send_pkt(1240, 6002, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 1000, 600, NULL, 0);
    expect_pkt(&p, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    cr_assert_eq(le32toh(p.h.buf_alloc), 64 * 1024);
    cr_assert_eq(le32toh(p.h.fwd_cnt), 3);
    close(fd);
    close(ls);
}

Test(virtio_vsock, guest_overrunning_our_buffer_is_reset)
{
    char path[160];
    uds_port_path(path, sizeof(path), 6003);
    int ls = uds_listen(path);
    send_pkt(1241, 6003, VIRTIO_VSOCK_OP_REQUEST, 0, 64 * 1024, 0, NULL, 0);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RESPONSE);
    int fd = accept(ls, NULL, NULL);
    /* more than the 64 KiB buf_alloc we granted, in one packet */
    static char big[64 * 1024 + 1];
    send_pkt(1241, 6003, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 0, big, sizeof(big));
    expect_pkt(&p, VIRTIO_VSOCK_OP_RST);
    cr_assert(closed_by_peer(fd, 3000));
    close(fd);
    close(ls);
}

Test(virtio_vsock, bulk_guest_to_host_with_credit_updates)
{
    char path[160];
    uds_port_path(path, sizeof(path), 6004);
    int ls = uds_listen(path);
    send_pkt(1242, 6004, VIRTIO_VSOCK_OP_REQUEST, 0, 64 * 1024, 0, NULL, 0);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RESPONSE);
    int fd = accept(ls, NULL, NULL);
    /* send 1 MiB in 16 KiB packets, staying inside the credit the device announces, while
     * the host reads it all back */
    static uint8_t chunk[16384], sink[1 << 20];
    uint32_t sent = 0, peer_fwd = 0, total = 1 << 20;
    size_t got = 0;
    while (sent < total) {
        while (recv_pkt(&p, 0)) {
            cr_assert_eq(le16toh(p.h.op), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
            peer_fwd = le32toh(p.h.fwd_cnt);
        }
        if (sent - peer_fwd + sizeof(chunk) <= 64 * 1024) {
            for (unsigned i = 0; i < sizeof(chunk); i++)
                chunk[i] = (uint8_t)(sent + i);
            send_pkt(1242, 6004, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 0, chunk, sizeof(chunk));
            sent += sizeof(chunk);
        } else {
            got += read_n(fd, sink + got, total - got < 65536 ? total - got : 65536, 0);
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    got += read_n(fd, sink + got, total - got, 3000);
    cr_assert_eq(got, total);
    for (uint32_t i = 0; i < total; i++)
        cr_assert_eq(sink[i], (uint8_t)i, "byte %u", i);
    close(fd);
    close(ls);
}

Test(virtio_vsock, destroy_removes_socket_file)
{
    vdrv_fini(&drv);
    struct stat st;
    cr_assert_neq(stat(uds, &st), 0, "the listening socket file is still there");
}

Test(virtio_vsock, stale_socket_replaced_and_bad_path_refused)
{
    /* a second device on the same path: the first one's socket file counts as stale */
    struct vsock_options o = { .guest_cid = 4, .uds_path = uds };
    char err[256] = "";
    struct guest_mem mem = drv.mem;
    struct virtio_mmio *t = virtio_vsock_create(&o, &mem, vdrv_irq(&drv), err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    t->ops->destroy(t);
    char path[160];
    snprintf(path, sizeof(path), "%s/plain-file", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    o.uds_path = path;
    cr_assert_null(virtio_vsock_create(&o, &mem, vdrv_irq(&drv), err, sizeof(err)));
    cr_assert(strstr(err, "not a socket"), "error: %s", err);
    snprintf(path, sizeof(path), "%s/no-such-dir/v.sock", dir);
    cr_assert_null(virtio_vsock_create(&o, &mem, vdrv_irq(&drv), err, sizeof(err)));
    cr_assert(strstr(err, "cannot listen"), "error: %s", err);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(virtio_vsock, waiting_connections_do_not_spin)
{
    /* a connection whose guest has no credit while its host end already hung up, a host
     * client that never says anything, and one waiting for the guest's RESPONSE */
    char path[160];
    uds_port_path(path, sizeof(path), 6005);
    int ls = uds_listen(path);
    send_pkt(1243, 6005, VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0, NULL, 0);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_RESPONSE);
    int fd = accept(ls, NULL, NULL);
    cr_assert_eq(write(fd, "data", 4), 4);
    close(fd);
    int silent = uds_connect(uds);
    int waiting = uds_connect(uds);
    cr_assert_eq(write(waiting, "CONNECT 5003\n", 13), 13);
    expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
    close(waiting);
    struct timespec ts = { 0, 100000000 };
    nanosleep(&ts, NULL);
    double before = cpu_s();
    nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
    double used = cpu_s() - before;
    cr_assert_lt(used, 0.05, "the device used %.3f s of CPU in 0.3 s of waiting", used);
    /* credit arrives: the data, then the host's EOF, reach the guest */
    send_pkt(1243, 6005, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 4096, 0, NULL, 0);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
    cr_assert_eq(p.len, 4);
    expect_pkt(&p, VIRTIO_VSOCK_OP_SHUTDOWN);
    close(silent);
    close(ls);
}

Test(virtio_vsock, unanswered_host_connect_times_out)
{
    int fd = uds_connect(uds);
    cr_assert_eq(write(fd, "CONNECT 5004\n", 13), 13);
    struct pkt p;
    expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
    uint32_t hp = le32toh(p.h.src_port);
    /* the guest never answers: after the connect timeout the host socket closes and the guest
     * is told to forget the request */
    cr_assert(closed_by_peer(fd, 5000));
    expect_pkt(&p, VIRTIO_VSOCK_OP_RST);
    cr_assert_eq(le32toh(p.h.src_port), hp);
    close(fd);
}

Test(virtio_vsock, device_reset_closes_host_sockets)
{
    uint32_t hp;
    int fd = host_connect(5005, &hp, "");
    vdrv_write32(&drv, VIRTIO_MMIO_STATUS, 0);
    cr_assert(closed_by_peer(fd, 3000), "a connection survived the device reset");
    close(fd);
}

Test(virtio_vsock, many_host_connections_are_kept_apart)
{
    enum { N = 20 };
    int fd[N];
    uint32_t hp[N];
    for (unsigned i = 0; i < N; i++) {
        fd[i] = uds_connect(uds);
        char cmd[32];
        int n = snprintf(cmd, sizeof(cmd), "CONNECT %u\n", 5100 + i);
        cr_assert_eq(write(fd[i], cmd, (size_t)n), n);
    }
    bool seen[N] = { false };
    for (unsigned k = 0; k < N; k++) {
        struct pkt p;
        expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
        unsigned i = le32toh(p.h.dst_port) - 5100;
        cr_assert_lt(i, N);
        cr_assert(!seen[i]);
        seen[i] = true;
        hp[i] = le32toh(p.h.src_port);
        send_pkt(5100 + i, hp[i], VIRTIO_VSOCK_OP_RESPONSE, 0, 64 * 1024, 0, NULL, 0);
    }
    for (unsigned i = 0; i < N; i++) {
        char line[64], want[64];
        read_line(fd[i], line, sizeof(line));
        snprintf(want, sizeof(want), "OK %u\n", hp[i]);
        cr_assert_str_eq(line, want);
        /* each host port is distinct */
        for (unsigned j = 0; j < i; j++)
            cr_assert_neq(hp[i], hp[j]);
    }
    for (unsigned i = 0; i < N; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "to-%02u", i);
        cr_assert_eq(write(fd[i], msg, 5), 5);
    }
    for (unsigned k = 0; k < N; k++) {
        struct pkt p;
        expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
        unsigned i = le32toh(p.h.dst_port) - 5100;
        char want[16];
        snprintf(want, sizeof(want), "to-%02u", i);
        cr_assert_eq(p.len, 5);
        cr_assert_arr_eq(p.data, want, 5);
        cr_assert_eq(le32toh(p.h.src_port), hp[i]);
    }
    for (unsigned i = 0; i < N; i++) {
        char msg[16], got[16];
        snprintf(msg, sizeof(msg), "fr-%02u", i);
        send_pkt(5100 + i, hp[i], VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 5, msg, 5);
        cr_assert_eq(read_n(fd[i], got, 5, 3000), 5);
        cr_assert_arr_eq(got, msg, 5);
        close(fd[i]);
    }
}

/* ================================================================ snapshots */

static struct persist_writer snap;

static void save_device(void)
{
    persist_writer_init(&snap);
    virtio_mmio_pause(drv.t);
    virtio_mmio_save(drv.t, &snap);
    cr_assert(persist_writer_ok(&snap));
}

/* The old device goes (its host sockets with it); a new one with the same socket path and the
 * given CID takes its place on the same guest memory. */
static void replace_device(uint64_t cid)
{
    drv.t->ops->destroy(drv.t);
    drv.t = NULL;
    struct vsock_options o = { .guest_cid = cid, .uds_path = uds };
    char err[256] = "";
    struct virtio_mmio *t = virtio_vsock_create(&o, &drv.mem, vdrv_irq(&drv), err, sizeof(err));
    cr_assert_not_null(t, "create failed: %s", err);
    vdrv_attach(&drv, t);
}

/* Restores buf into the new device and, if that worked, lets it run. */
static int restore_device(const void *buf, size_t len, char *err, size_t errlen)
{
    struct persist_reader r;
    persist_reader_init(&r, buf, len);
    int rc = virtio_mmio_restore(drv.t, &r);
    snprintf(err, errlen, "%s", r.err);
    if (rc == 0)
        virtio_mmio_resume(drv.t);
    return rc;
}

static uint64_t post_event_buffer(void)
{
    uint64_t gpa = vdrv_alloc(&drv, sizeof(struct virtio_vsock_event), 8);
    memset(vdrv_ptr(&drv, gpa), 0xa5, sizeof(struct virtio_vsock_event));
    struct vdrv_buf b = { gpa, sizeof(struct virtio_vsock_event), true };
    vdrv_add(&drv, EVQ, &b, 1);
    vdrv_kick(&drv, EVQ);
    return gpa;
}

static void expect_reset_event(uint64_t gpa)
{
    uint16_t id;
    uint32_t len;
    cr_assert(vdrv_wait_used(&drv, EVQ, &id, &len, 3000), "no event for the guest after the restore");
    cr_assert_eq(len, sizeof(struct virtio_vsock_event));
    struct virtio_vsock_event ev;
    memcpy(&ev, vdrv_ptr(&drv, gpa), sizeof(ev));
    cr_assert_eq(le32toh(ev.id), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
}

Test(virtio_vsock, restore_sends_transport_reset_and_new_connections_work)
{
    uint64_t ev = post_event_buffer();
    post_event_buffer();
    uint32_t hp;
    int fd = host_connect(5000, &hp, "");
    save_device();
    replace_device(GUEST_CID);
    char err[256];
    cr_assert_eq(restore_device(snap.buf, snap.len, err, sizeof(err)), 0, "restore: %s", err);
    persist_writer_free(&snap);
    /* the old connection's host end is gone, and the guest is told to reset its sockets */
    cr_assert(closed_by_peer(fd, 3000), "the host socket of an old connection stayed open");
    close(fd);
    expect_reset_event(ev);
    cr_assert_not(vdrv_wait_used(&drv, EVQ, NULL, NULL, 200), "more than one reset event");
    cr_assert_eq(vdrv_config(&drv, 0, 8), GUEST_CID);
    /* the device knows nothing of the old connection */
    struct pkt p;
    send_pkt(5000, hp, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 0, "stale", 5);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RST);
    /* host → guest works again, data both ways */
    uint32_t hp2;
    int fd2 = host_connect(5001, &hp2, "");
    cr_assert_eq(write(fd2, "after", 5), 5);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RW);
    cr_assert_eq(p.len, 5);
    cr_assert_arr_eq(p.data, "after", 5);
    send_pkt(5001, hp2, VIRTIO_VSOCK_OP_RW, 0, 64 * 1024, 5, "reply", 5);
    char buf[8];
    cr_assert_eq(read_n(fd2, buf, 5, 3000), 5);
    cr_assert_arr_eq(buf, "reply", 5);
    /* guest → host works again */
    char path[200];
    uds_port_path(path, sizeof(path), 7000);
    int ls = uds_listen(path);
    send_pkt(6000, 7000, VIRTIO_VSOCK_OP_REQUEST, 0, 64 * 1024, 0, NULL, 0);
    expect_pkt(&p, VIRTIO_VSOCK_OP_RESPONSE);
    int c = accept(ls, NULL, NULL);
    cr_assert_geq(c, 0);
    close(c);
    close(ls);
    close(fd2);
}

/* Without an event buffer the reset waits for one, and nothing else reaches the guest first:
 * a host client's REQUEST would otherwise die in the guest's reset. */
Test(virtio_vsock, reset_event_waits_for_a_buffer_and_comes_first)
{
    save_device();
    replace_device(GUEST_CID);
    char err[256];
    cr_assert_eq(restore_device(snap.buf, snap.len, err, sizeof(err)), 0, "restore: %s", err);
    persist_writer_free(&snap);
    int fd = uds_connect(uds);
    cr_assert_eq(write(fd, "CONNECT 5002\n", 13), 13);
    struct pkt p;
    cr_assert_not(recv_pkt(&p, 300), "a packet reached the guest before the reset event");
    uint64_t ev = post_event_buffer();
    expect_reset_event(ev);
    expect_pkt(&p, VIRTIO_VSOCK_OP_REQUEST);
    cr_assert_eq(le32toh(p.h.dst_port), 5002);
    close(fd);
}

Test(virtio_vsock, paused_device_leaves_rings_alone_until_resume)
{
    virtio_mmio_pause(drv.t);
    uint16_t rx_used = vdrv_used(&drv, RXQ)->idx, tx_used = vdrv_used(&drv, TXQ)->idx;
    /* a host client asks for the guest, and the guest connects to a host port nobody serves */
    int fd = uds_connect(uds);
    cr_assert_eq(write(fd, "CONNECT 5003\n", 13), 13);
    struct virtio_vsock_hdr h = {
        .src_cid = htole64(GUEST_CID), .dst_cid = htole64(2), .src_port = htole32(6001), .dst_port = htole32(7001),
        .type = htole16(VIRTIO_VSOCK_TYPE_STREAM), .op = htole16(VIRTIO_VSOCK_OP_REQUEST), .buf_alloc = htole32(65536),
    };
    memcpy(vdrv_ptr(&drv, tx_gpa), &h, HDR);
    struct vdrv_buf b = { tx_gpa, (uint32_t)HDR, false };
    vdrv_add(&drv, TXQ, &b, 1);
    vdrv_kick(&drv, TXQ);
    struct timespec ts = { 0, 300000000 };
    nanosleep(&ts, NULL);
    cr_assert_eq(vdrv_used(&drv, RXQ)->idx, rx_used, "a paused device sent a packet");
    cr_assert_eq(vdrv_used(&drv, TXQ)->idx, tx_used, "a paused device took a packet");
    virtio_mmio_resume(drv.t);
    cr_assert(vdrv_wait_used(&drv, TXQ, NULL, NULL, 3000), "tx packet not consumed after resume");
    bool request = false, rst = false;
    for (int i = 0; i < 2; i++) {
        struct pkt p;
        cr_assert(recv_pkt(&p, 3000), "packet %d missing after resume", i);
        uint16_t op = le16toh(p.h.op);
        request |= op == VIRTIO_VSOCK_OP_REQUEST && le32toh(p.h.dst_port) == 5003;
        rst |= op == VIRTIO_VSOCK_OP_RST && le32toh(p.h.dst_port) == 6001;
    }
    cr_assert(request && rst, "request %d rst %d", request, rst);
    close(fd);
}

Test(virtio_vsock, destroy_while_paused)
{
    virtio_mmio_pause(drv.t);
    /* teardown destroys the paused device */
}

Test(virtio_vsock, corrupt_or_mismatched_state_is_refused)
{
    save_device();
    char err[256];
    /* cut short anywhere in the device's section (the transport's comes first) */
    for (size_t cut = 1; cut <= 12; cut++) {
        replace_device(GUEST_CID);
        cr_assert_neq(restore_device(snap.buf, snap.len - cut, err, sizeof(err)), 0, "cut %zu accepted", cut);
        cr_assert(err[0], "no reason given");
    }
    /* another CID */
    replace_device(GUEST_CID + 1);
    cr_assert_neq(restore_device(snap.buf, snap.len, err, sizeof(err)), 0);
    cr_assert(strstr(err, "CID"), "unclear error: %s", err);
    persist_writer_free(&snap);
}
