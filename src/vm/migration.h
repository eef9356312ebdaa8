/* migration.h — live migration on the vmm controller (see vmm_migrate.c for the protocol). */
#ifndef KILN_VM_MIGRATION_H
#define KILN_VM_MIGRATION_H
#include <stddef.h>
#include <stdint.h>
#include "vm/vmm.h"

struct migration_params {
    const char *url;           /* unix:PATH or tcp:HOST:PORT */
    uint32_t downtime_ms;      /* the longest the guest may be paused at the switch-over */
    uint32_t timeout_s;        /* give up (and keep running here) after this long */
};

struct migration_stats {
    uint64_t total_ms, downtime_us, rounds, pages_sent;
};

/* Source. Blocks until the destination runs the VM (0: this kiln's guest then stops with
 * status 0) or the migration failed (-1 with err: the VM goes on here, unless err says the
 * outcome is unknown, in which case it stays paused). config_json: GET /vm/config. */
int vmm_send_migration(struct vmm *v, const struct migration_params *p, const char *config_json,
                       struct migration_stats *st, char *err, size_t errlen);

struct migration_receive_hooks {
    /* applies the source's configuration (GET /vm/config JSON) to this fresh vmm */
    int (*apply_config)(void *cls, const char *json, char *err, size_t errlen);
    void *cls;
};

/* Destination, on a fresh kiln. Blocks until the VM runs here (0) or the migration failed
 * (-1 with err; nothing runs). */
int vmm_receive_migration(struct vmm *v, const struct migration_params *p, const struct migration_receive_hooks *h,
                          char *err, size_t errlen);

#endif
