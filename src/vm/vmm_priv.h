/* vmm_priv.h — the vmm controller's insides, shared by its files (vmm.c: configuration and
 * life cycle; vmm_snapshot.c: snapshots; vmm_migrate.c: live migration). Not for other layers. */
#ifndef KILN_VM_VMM_PRIV_H
#define KILN_VM_VMM_PRIV_H
#include <pthread.h>
#include "common/errmsg.h"
#include "vm/vm.h"
#include "vm/vm_build.h"
#include "vm/vmm.h"

struct vmm {
    pthread_mutex_t lock;
    pthread_cond_t changed;          /* state changes, for vmm_wait */
    uint64_t start_ns;
    enum vmm_state state;
    struct vmm_config cfg;           /* what GET /vm/config reports; kept current by PATCHes */

    /* From vmm_start on: the vm_config must outlive the vm and its strings point into `run`, a
     * copy of cfg taken at start, so later PATCHes of cfg never move memory under a device. */
    struct vmm_config run;
    struct vm_config vmcfg;
    struct vm_build_bufs bufs;
    struct vm *vm;                   /* NULL before start and once vmm_wait has freed it */
    bool waiting;                    /* a thread is in vm_wait */
    int exit_status;                 /* valid once STOPPED */
};

/* Writes a formatted message into err and returns -1. */
#define vmm_fail errmsg
/* Builds the VM from v->cfg (copied to v->run) and starts it, booting the kernel (rs NULL) or
 * restoring rs; paused: every vCPU and device waits for vmm_resume. Lock held, state NOT_STARTED.
 * publish: enter state Running/Paused now (else the VM stays invisible, v->vm set, until
 * vmm_publish_locked, or vmm_discard_locked drops it). */
int vmm_start_locked(struct vmm *v, const struct vm_restore *rs, bool paused, bool publish, char *err, size_t errlen);
void vmm_publish_locked(struct vmm *v, enum vmm_state state);
void vmm_discard_locked(struct vmm *v);

#endif
