/* vmm_snapshot.c — Firecracker's snapshot create and load on the vmm controller. The state file
 * holds the snapshot info, the configuration (the JSON of GET /vm/config, supplied by the API
 * layer, which also applies it again before a load) and every component's state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vm/snapshot.h"
#include "vm/snapshot_file.h"
#include "vm/vmm_priv.h"

#define CONFIG_MAX (1u << 20)

void snapshot_config_save(const char *config_json, struct persist_writer *w)
{
    persist_begin(w, "config", 1);
    persist_blob(w, config_json, strlen(config_json));
    persist_end(w);
}

int snapshot_image_open(const char *path, struct snapshot_image *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    if (snapshot_file_read(path, &img->body, &img->len, err, errlen))
        return -1;
    struct persist_reader *r = &img->state;
    persist_reader_init(r, img->body, img->len);
    size_t n = 0;
    const void *json = NULL;
    if (snapshot_info_restore(&img->info, r) == 0 && persist_open(r, "config", 1) == 0) {
        json = persist_get_blob(r, CONFIG_MAX, &n);
        persist_close(r);
    }
    if (!persist_ok(r)) {
        snprintf(err, errlen, "the snapshot '%s' is invalid: %s", path, r->err);
        snapshot_image_close(img);
        return -1;
    }
    img->config_json = malloc(n + 1);
    if (!img->config_json) {
        snprintf(err, errlen, "out of memory");
        snapshot_image_close(img);
        return -1;
    }
    memcpy(img->config_json, json, n);
    img->config_json[n] = 0;
    return 0;
}

void snapshot_image_close(struct snapshot_image *img)
{
    free(img->body);
    free(img->config_json);
    memset(img, 0, sizeof(*img));
}

uint64_t snapshot_advance_ns(uint64_t saved_realtime_ns)
{
    uint64_t now = snapshot_realtime_ns();
    return now > saved_realtime_ns ? now - saved_realtime_ns : 0;
}

int vmm_snapshot_create(struct vmm *v, bool diff, const char *state_path, const char *mem_path,
                        const char *config_json, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = 0;
    uint64_t *dirty = NULL;
    struct persist_writer w;
    persist_writer_init(&w);
    if (v->state == VMM_NOT_STARTED)
        rc = vmm_fail(err, errlen, "Cannot create a snapshot: the microVM has not been started.");
    else if (v->state == VMM_STOPPED || !v->vm)
        rc = vmm_fail(err, errlen, "The microVM has stopped.");
    else if (vm_no_save(v->vm))
        rc = vmm_fail(err, errlen, "Cannot create a snapshot: %s.", vm_no_save(v->vm));
    else if (v->state != VMM_PAUSED)
        rc = vmm_fail(err, errlen, "Cannot create a snapshot of a running microVM: pause it first "
                      "(PATCH /vm {\"state\": \"Paused\"}).");
    else if (diff && !v->run.machine.track_dirty_pages)
        rc = vmm_fail(err, errlen, "Diff snapshots are not allowed on uVMs with dirty page tracking disabled.");
    if (rc)
        goto out;

    uint64_t size;
    uint8_t *ram = vm_ram(v->vm, &size);
    if (v->run.machine.track_dirty_pages) {
        /* every snapshot starts a new diff generation: the next Diff holds what changes after it */
        dirty = calloc((size / SNAPSHOT_PAGE + 63) / 64, sizeof(*dirty));
        if (!dirty) {
            rc = vmm_fail(err, errlen, "Cannot create a snapshot: out of host memory.");
            goto out;
        }
        vm_dirty_harvest(v->vm, dirty);
    }
    struct snapshot_info info = { .mem_size = size, .vcpus = v->run.machine.vcpu_count,
                                  .type = diff ? SNAPSHOT_DIFF : SNAPSHOT_FULL,
                                  .saved_realtime_ns = snapshot_realtime_ns() };
    snprintf(info.arch, sizeof(info.arch), "%s", vm_arch(v->vm));
    snapshot_info_save(&info, &w);
    snapshot_config_save(config_json, &w);
    vm_save_state(v->vm, &w);
    if (!persist_writer_ok(&w)) {
        rc = vmm_fail(err, errlen, "Cannot create a snapshot: out of host memory.");
        goto out;
    }
    char msg[600];
    if (snapshot_mem_write(mem_path, ram, size, diff ? dirty : NULL, vm_ram_anonymous(v->vm), msg, sizeof(msg)) ||
        snapshot_file_write(state_path, w.buf, w.len, msg, sizeof(msg)))
        rc = vmm_fail(err, errlen, "Cannot create a snapshot: %s", msg);
out:
    persist_writer_free(&w);
    free(dirty);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vmm_snapshot_load(struct vmm *v, struct snapshot_image *img, const char *mem_path, bool resume,
                      char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int rc = 0;
    if (v->state != VMM_NOT_STARTED)
        rc = vmm_fail(err, errlen, "Loading a microVM snapshot not allowed after starting the microVM.");
    else if (img->info.mem_size != v->cfg.machine.mem_size_mib << 20 || img->info.vcpus != v->cfg.machine.vcpu_count)
        rc = vmm_fail(err, errlen, "The snapshot's machine (%u vCPUs, %llu MiB) does not match its configuration.",
                      img->info.vcpus, (unsigned long long)(img->info.mem_size >> 20));
    /* a Diff's state file is complete; its memory file must have been merged into the base's
     * (kiln snapshot merge), which is what mem_path names then, as with Firecracker */
    if (!rc) {
        struct vm_restore rs = { .mem_path = mem_path, .arch = img->info.arch, .state = &img->state,
                                 .advance_ns = snapshot_advance_ns(img->info.saved_realtime_ns) };
        rc = vmm_start_locked(v, &rs, !resume, true, err, errlen);
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}
