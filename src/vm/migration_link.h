/* migration_link.h — the byte stream a live migration travels on (unix:PATH or tcp:HOST:PORT)
 * and its framing: every message is a type, a length and a payload, and every read has a
 * deadline, so a silent or vanished peer ends the migration instead of hanging it. */
#ifndef KILN_VM_MIGRATION_LINK_H
#define KILN_VM_MIGRATION_LINK_H
#include <stddef.h>
#include <stdint.h>

enum mig_msg {
    MIG_HELLO = 1,      /* source → destination: snapshot info + configuration */
    MIG_READY,          /* destination accepted the configuration and has the RAM */
    MIG_PAGES,          /* u64 first page, then whole pages */
    MIG_STATE,          /* the paused VM's state (info + every component) */
    MIG_PREPARED,       /* the destination built the VM from it (paused) */
    MIG_COMMIT,         /* the source will never run the VM again: run it */
    MIG_RUNNING,        /* the destination runs the VM */
    MIG_ERROR,          /* either side: a one-line reason, then the migration is over */
    MIG_ZERO,           /* runs of pages that are now all zero: (u64 first, u64 count) each */
    MIG_LAST = MIG_ZERO
};

#define MIG_MSG_MAX (64u << 20)   /* longest payload accepted */

/* Connects to url. Returns a connected fd or -1 with err. */
int mig_connect(const char *url, unsigned timeout_s, char *err, size_t errlen);
/* Listens on url and accepts one peer within timeout_s. Returns its fd or -1 with err. */
int mig_accept(const char *url, unsigned timeout_s, char *err, size_t errlen);
/* Sends one message; the payload may come in two parts (header bytes, then data). */
int mig_send(int fd, enum mig_msg type, const void *a, size_t alen, const void *b, size_t blen);
/* Receives one message into *buf (realloc'ed as needed, *cap its size) within timeout_ms.
 * Returns the type, or -1 with err (closed, timeout, oversize, garbage). */
int mig_recv(int fd, void **buf, size_t *cap, size_t *len, unsigned timeout_ms, char *err, size_t errlen);

#endif
