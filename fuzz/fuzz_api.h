/* fuzz_api.h — shared by the API harnesses (routes, config_file): the handlers open, create
 * and stat the paths in request bodies, so before a body reaches them every string whose key
 * names a path or URL is moved somewhere harmless. A few names the fuzzer can learn from the
 * seeds ("disk.img", "ro.img", "Image", "initrd", "fifo") become real files (and a FIFO) in a
 * scratch directory, so the success paths run too; anything else is put under a directory that
 * does not exist ("/nonexistent-kiln-fuzz/..": the kernel resolves "..", so nothing escapes). */
#ifndef KILN_FUZZ_API_H
#define KILN_FUZZ_API_H
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include "api/routes.h"
#include "vm/logger.h"
#include "vm/vmm_priv.h"
#include "fuzz_util.h"

static const char *const fuzz_files[] = { "disk.img", "ro.img", "Image", "initrd", NULL };

static void fuzz_api_init(void)
{
    const char *dir = fuzz_scratch_dir();
    char p[256];
    for (const char *const *f = fuzz_files; *f; f++) {
        snprintf(p, sizeof(p), "%s/%s", dir, *f);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ftruncate(fd, 65536) != 0)
            abort();
        close(fd);
    }
    snprintf(p, sizeof(p), "%s/ro.img", dir);
    chmod(p, 0444);
    snprintf(p, sizeof(p), "%s/fifo", dir);
    mkfifo(p, 0600);
    /* the handlers log every failure: nobody reads it here */
    logger_configure(NULL, LOG_LEVEL_OFF, false, false, NULL, 0);
}

/* After each input: a PUT /logger may have changed the process-wide logger. */
static void fuzz_api_reset(void)
{
    logger_configure(NULL, LOG_LEVEL_OFF, false, false, NULL, 0);
    logger_set_module(NULL);
}

static bool is_path_key(const char *k)
{
    size_t n = strlen(k);
    return (n >= 4 && !strcmp(k + n - 4, "path")) || (n >= 3 && !strcmp(k + n - 3, "url"));
}

static void fuzz_sanitize_paths(json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) fuzz_sanitize_paths(v);
        return;
    }
    if (!json_is_object(j))
        return;
    json_object_foreach(j, key, v) {
        if (!json_is_string(v) || !is_path_key(key)) {
            fuzz_sanitize_paths(v);
            continue;
        }
        const char *s = json_string_value(v);
        bool known = !strcmp(s, "fifo");
        for (const char *const *f = fuzz_files; *f; f++)
            known |= !strcmp(s, *f);
        char *p;
        if (asprintf(&p, "%s/%s", known ? fuzz_scratch_dir() : "/nonexistent-kiln-fuzz", s) < 0)
            abort();
        json_object_set_new(j, key, json_string(p));   /* NULL (invalid UTF-8 can't be): unchanged */
        free(p);
    }
}

/* A vmm as vmm_new makes it, without vmm_new's cost per input (a vmm is 160 KiB: a fresh one
 * each time spends most of the time in page faults under ASan). The harnesses never start
 * one, so its configuration is all that a request changes. Needs vm/vmm_priv.h. */
static struct vmm *fuzz_fresh_vmm(struct vmm **slot)
{
    static struct vmm_config pristine;
    static bool have;
    if (!have) {
        struct vmm *v = vmm_new(0);
        pristine = v->cfg;
        vmm_free(v);
        have = true;
    }
    if (!*slot)
        *slot = vmm_new(0);
    FUZZ_CHECK((*slot)->state == VMM_NOT_STARTED && !(*slot)->vm, "a vmm was started");
    (*slot)->cfg = pristine;
    return *slot;
}

#endif
