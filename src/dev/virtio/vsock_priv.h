/* vsock_priv.h — what the parts of virtio-vsock share: the device (vsock.c: lifecycle and the I/O
 * thread's poll loop), the connection state machine (vsock_conn.c: packets to and from the
 * guest, credit flow control) and the host's Unix sockets (vsock_uds.c). Everything here is
 * touched only by the device's I/O thread, except reset_requested. */
#ifndef KILN_DEV_VIRTIO_VSOCK_PRIV_H
#define KILN_DEV_VIRTIO_VSOCK_PRIV_H
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "dev/virtio/io_thread.h"
#include "dev/virtio/mmio.h"
#include "vm/metrics.h"

#define VSOCK_HOST_CID       2
#define VSOCK_MAX_CONNS      1024
/* Bytes of guest data we buffer per connection on its way to the host socket: the buf_alloc
 * the guest sees. 1024 connections bound all buffering to 64 MiB. */
#define VSOCK_CONN_BUF       (64u * 1024)
/* The largest payload we put in one packet to the guest (Linux's own limit). */
#define VSOCK_MAX_PKT        (64u * 1024)
/* Tell the guest about freed buffer space once this much is unannounced. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_CONN_BUF / 4)
/* RSTs for packets that match no connection, waiting for rx buffers. When full, the tx queue
 * waits: a guest cannot make us queue replies without bound. */
#define VSOCK_RST_BACKLOG    64
/* A host-initiated connection the guest neither accepts nor refuses within this is dropped. */
#define VSOCK_CONNECT_TIMEOUT_NS (2ull * 1000000000ull)
/* "CONNECT 4294967295\n" fits. */
#define VSOCK_CMD_MAX        32
/* Host-side ports of host-initiated connections count up from here (as Firecracker does). */
#define VSOCK_HOST_PORT_FIRST (1u << 30)
/* Packets one connection may send the guest per wakeup, so one busy socket can't starve others. */
#define VSOCK_BURST          16

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NUM_QUEUES };

enum conn_state {
    CONN_AWAIT_CMD,     /* host client connected, its "CONNECT <port>\n" not read yet */
    CONN_CONNECTING,    /* REQUEST sent (or to be sent) to the guest, waiting for RESPONSE */
    CONN_ESTABLISHED,
    CONN_DYING,         /* host socket closed, an RST for the guest still to deliver */
    CONN_GONE,          /* to be freed by vsock_sweep */
};

/* Control packets a connection owes the guest, delivered when rx buffers are there. */
enum {
    PEND_REQUEST = 1 << 0,
    PEND_RESPONSE = 1 << 1,
    PEND_CREDIT_UPDATE = 1 << 2,
    PEND_SHUTDOWN = 1 << 3,
    PEND_RST = 1 << 4,
};

struct vsock_conn {
    enum conn_state state;
    int fd;                      /* host Unix socket; -1 once closed */
    uint32_t host_port;          /* our end's vsock port (src_port of what we send) */
    uint32_t guest_port;
    unsigned pending;            /* PEND_* */
    bool host_eof;               /* read EOF from the host socket */
    bool host_shut_wr;           /* we shut down writing to the host socket */
    bool guest_shut_send;        /* the guest will send no more */
    bool guest_shut_rcv;         /* the guest will receive no more */
    bool hup;                    /* poll reported HUP/ERR while we asked for nothing */
    uint64_t deadline_ns;        /* CONN_CONNECTING: give up at this time */
    uint32_t epoch;              /* transport epoch in which the guest learned of it */

    /* guest → host: a ring of VSOCK_CONN_BUF bytes (allocated on first data) */
    uint8_t *buf;
    uint32_t buf_head, buf_len;
    uint32_t fwd_cnt;            /* guest bytes passed on to the host socket */
    uint32_t announced_fwd_cnt;  /* fwd_cnt the guest was last told */
    char ack[VSOCK_CMD_MAX];     /* "OK <port>\n" owed to a host client, written before data */
    unsigned ack_len, ack_off;

    /* host → guest: the guest's credit */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t rx_cnt;             /* payload bytes we sent the guest */

    char cmd[VSOCK_CMD_MAX];     /* CONN_AWAIT_CMD: the command line so far */
    unsigned cmd_len;
};

struct vsock_rst {
    uint32_t host_port, guest_port;
};

struct vsock_dev {
    struct virtio_mmio t;
    struct metrics_dev *metrics;      /* the "vsock" group */
    uint64_t guest_cid;
    char *uds_path;
    int listen_fd;
    struct io_thread io;         /* no timers: connect deadlines are poll() timeouts */
    int reset_requested;         /* set by the vCPU thread (atomic) */

    struct vsock_conn *conns[VSOCK_MAX_CONNS];
    unsigned nconns;
    unsigned rr;                 /* round-robin start for fairness between connections */
    struct vsock_rst rst[VSOCK_RST_BACKLOG];
    unsigned nrst;
    uint32_t next_host_port;

    /* After a restore: VIRTIO_VSOCK_EVENT_TRANSPORT_RESET still to be put in the event queue.
     * Until it is, nothing is sent to the guest (its old sockets must go first). */
    bool reset_event_pending;
    bool rx_starved;             /* the guest gave no rx buffer last time we looked */
    bool rx_held;                /* rx_req was popped but not used yet */
    struct virtq_req rx_req, tx_req;
    struct pollfd pfd[3 + VSOCK_MAX_CONNS];
    struct vsock_conn *pfd_conn[3 + VSOCK_MAX_CONNS];
    uint8_t scratch[VSOCK_MAX_PKT];
};

uint64_t vsock_now_ns(void);

/* vsock_conn.c */
struct vsock_conn *vsock_conn_new(struct vsock_dev *d, int fd);
struct vsock_conn *vsock_conn_find(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port);
/* Closes the host socket; with rst, the guest is sent an RST first (the conn lingers DYING). */
void vsock_conn_kill(struct vsock_dev *d, struct vsock_conn *c, bool rst);
void vsock_sweep(struct vsock_dev *d);
void vsock_drop_all(struct vsock_dev *d);
/* After a device reset: drops what the guest of an earlier epoch knew about. Host clients whose
 * REQUEST was not sent yet stay and are offered to the reset driver. */
void vsock_drop_stale(struct vsock_dev *d, uint32_t epoch);
/* Handles the tx queue (guest → host). */
void vsock_process_tx(struct vsock_dev *d);
/* Sends owed control packets while rx buffers last. */
void vsock_deliver_control(struct vsock_dev *d);
/* Host socket readable: forward data to the guest as credit and rx buffers allow. */
void vsock_conn_host_readable(struct vsock_dev *d, struct vsock_conn *c);
/* Host socket writable: write buffered guest data (and the OK line). */
void vsock_conn_host_writable(struct vsock_dev *d, struct vsock_conn *c);
/* What to poll the host socket for (0: nothing). */
short vsock_conn_poll_events(struct vsock_dev *d, struct vsock_conn *c);
/* Starts a host-initiated connection to guest port `port` (the client sent CONNECT). */
void vsock_conn_host_connect(struct vsock_dev *d, struct vsock_conn *c, uint32_t port);

/* vsock_uds.c */
int vsock_uds_listen(const char *path, char *err, size_t errlen);
/* Connects (non-blocking) to "<uds_path>_<port>". Returns the fd or -1. */
int vsock_uds_connect_port(const char *uds_path, uint32_t port);
void vsock_uds_accept(struct vsock_dev *d);
/* CONN_AWAIT_CMD and readable: reads the command line without consuming data after it. */
void vsock_uds_read_command(struct vsock_dev *d, struct vsock_conn *c);

#endif
