/* run_template.c — pre-booted sandboxes for `kiln run --rm` (see the header). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "common/persist.h"
#include "dev/boot_timer.h"
#include "version.h"
#include "vm/run_template.h"
#include "vm/snapshot.h"
#include "vm/snapshot_file.h"
#include "vm/vm.h"

#define RUN_KEY "kiln.run="
#define READY_TIMEOUT_S 120

#define TEMPLATES_KEPT 8         /* older templates (another kiln, kernel, size) are removed */

struct template_files {
    char key[40];
    char dir[PATH_MAX - 64];
    char state[PATH_MAX], mem[PATH_MAX], lock[PATH_MAX];
};

static bool eligible(const struct vm_config *cfg)
{
    return cfg->kernel && !cfg->firmware && !cfg->ndisks && !cfg->nnets && !cfg->has_vsock && !cfg->has_balloon &&
           strstr(cfg->cmdline, " " RUN_KEY);
}

/* A file's identity: a rebuilt kernel, initrd or kiln gives a new key. */
static void describe_file(char *buf, size_t size, const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        snprintf(buf, size, "%s:none", path ? path : "");
        return;
    }
    snprintf(buf, size, "%s:%llu:%llu:%lld:%lld.%09ld", path, (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec);
}

/* Everything that shapes the pre-booted guest, hashed into a name. */
static void template_key(const struct vm_config *cfg, size_t cmdline_prefix, char out[40])
{
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = 0;
    char text[4 * PATH_MAX + 2048], kiln[PATH_MAX + 96], kernel[PATH_MAX + 96], initrd[PATH_MAX + 96];
    describe_file(kiln, sizeof(kiln), exe);
    describe_file(kernel, sizeof(kernel), cfg->kernel);
    describe_file(initrd, sizeof(initrd), cfg->initrd);
    const struct rate_limiter_config *l = &cfg->rng.limit;
    int len = snprintf(text, sizeof(text), "%s|%d|%s|%s|%s|%.*s|%u|%llu|%d|", KILN_VERSION, SNAPSHOT_FORMAT_VERSION,
                       kiln, kernel, initrd, (int)cmdline_prefix, cfg->cmdline, cfg->cpus,
                       (unsigned long long)cfg->mem_mib, cfg->has_rng);
    uLong a = crc32(0L, (const Bytef *)text, (uInt)len);
    a = crc32(a, (const Bytef *)l, sizeof(*l));
    uLong b = adler32(adler32(0L, Z_NULL, 0), (const Bytef *)text, (uInt)len);
    snprintf(out, 40, "%08lx%08lx", a & 0xffffffffUL, b & 0xffffffffUL);
}

static int cache_dir(char *dir, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, size, "%s/kiln/run-rm", xdg);
    else if (home && *home)
        snprintf(dir, size, "%s/.cache/kiln/run-rm", home);
    else
        return -1;
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static int template_files(const struct vm_config *cfg, size_t prefix, struct template_files *f)
{
    if (cache_dir(f->dir, sizeof(f->dir)))
        return -1;
    template_key(cfg, prefix, f->key);
    snprintf(f->state, sizeof(f->state), "%s/%s.state", f->dir, f->key);
    snprintf(f->mem, sizeof(f->mem), "%s/%s.mem", f->dir, f->key);
    snprintf(f->lock, sizeof(f->lock), "%s/%s.lock", f->dir, f->key);
    return 0;
}

/* ---- keeping the cache small: every rebuilt kiln or kernel makes a new template ---- */

struct aged {
    char key[40];
    time_t mtime;
};

static int older_first(const void *a, const void *b)
{
    time_t x = ((const struct aged *)a)->mtime, y = ((const struct aged *)b)->mtime;
    return x < y ? -1 : x > y;
}

/* Removes one template's files, unless a kiln is using or writing it (its lock is held). */
static void remove_template(const char *dir, const char *key)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%.39s.lock", dir, key);
    int lock = open(path, O_RDWR | O_CLOEXEC);
    if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0) {
        close(lock);
        return;
    }
    static const char *const ext[] = { "state", "mem", "lock" };
    for (unsigned i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%.39s.%s", dir, key, ext[i]);
        unlink(path);
    }
    if (lock >= 0)
        close(lock);
}

/* Keeps the TEMPLATES_KEPT newest templates (and always `keep`). */
static void prune_templates(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct aged list[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < sizeof(list) / sizeof(list[0])) {
        size_t len = strlen(e->d_name);
        struct stat st;
        char path[PATH_MAX + 64];
        if (len <= 6 || len - 6 >= sizeof(list[n].key) || strcmp(e->d_name + len - 6, ".state"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        snprintf(list[n].key, sizeof(list[n].key), "%.*s", (int)(len - 6), e->d_name);
        list[n++].mtime = st.st_mtime;
    }
    closedir(d);
    qsort(list, n, sizeof(list[0]), older_first);
    for (size_t i = 0; i + TEMPLATES_KEPT < n; i++)
        if (strcmp(list[i].key, keep))
            remove_template(dir, list[i].key);
}

/* ---- the guest says it is ready to be saved ---- */

struct ready {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool ready;
};

static void on_ready(void *opaque)
{
    struct ready *r = opaque;
    pthread_mutex_lock(&r->lock);
    r->ready = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static bool wait_ready(struct ready *r, struct vm *vm)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    time_t end = deadline.tv_sec + READY_TIMEOUT_S;
    pthread_mutex_lock(&r->lock);
    while (!r->ready && !vm_exited(vm)) {
        clock_gettime(CLOCK_REALTIME, &deadline);
        if (deadline.tv_sec >= end)
            break;
        deadline.tv_nsec += 50 * 1000 * 1000;   /* look at vm_exited now and then */
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cond, &r->lock, &deadline);
    }
    bool ok = r->ready;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* Saves the paused VM as the template, unless another kiln is saving it right now. */
static void save_template(struct vm *vm, const struct vm_config *cfg, const struct template_files *f)
{
    int lock = open(f->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
        if (lock >= 0)
            close(lock);
        return;
    }
    uint64_t size;
    uint8_t *ram = vm_ram(vm, &size);
    struct persist_writer w;
    persist_writer_init(&w);
    struct snapshot_info info = { .mem_size = size, .vcpus = cfg->cpus, .type = SNAPSHOT_FULL,
                                  .saved_realtime_ns = snapshot_realtime_ns() };
    snprintf(info.arch, sizeof(info.arch), "%s", vm_arch(vm));
    char config[96];
    snprintf(config, sizeof(config), "{\"kiln_run_rm_template\":\"%s\"}", f->key);
    snapshot_info_save(&info, &w);
    snapshot_config_save(config, &w);
    vm_save_state(vm, &w);
    char err[600];
    /* memory first: a state file never names a memory file that is not complete */
    if (!persist_writer_ok(&w) || snapshot_mem_write(f->mem, ram, size, NULL, vm_ram_anonymous(vm), err, sizeof(err)) ||
        snapshot_file_write(f->state, w.buf, w.len, err, sizeof(err))) {
        unlink(f->state);
        unlink(f->mem);
    }
    persist_writer_free(&w);
    close(lock);
    prune_templates(f->dir, f->key);
}

/* Sends the command (as kiln.run= would carry it) and runs the sandbox to its end. */
static int run_command(struct vm *vm, const char *encoded)
{
    size_t len = strlen(encoded);
    char *line = malloc(len + 2);
    if (!line) {
        vm_request_stop(vm);
        return vm_finish(vm);
    }
    memcpy(line, encoded, len);
    line[len] = '\n';
    vm_release_input(vm, (const uint8_t *)line, len + 1);
    free(line);
    return vm_finish(vm);
}

/* Restores the template; false when there is none (or it is unusable: then it is removed). */
static bool restore_template(const struct vm_config *cfg, const struct template_files *f, uint64_t start_ns,
                             struct vm **out)
{
    int lock = open(f->lock, O_RDONLY | O_CLOEXEC);
    if (lock < 0)
        return false;
    bool ok = false;
    struct snapshot_image img;
    char err[600], want[96];
    snprintf(want, sizeof(want), "{\"kiln_run_rm_template\":\"%s\"}", f->key);
    if (flock(lock, LOCK_SH) == 0 && access(f->state, R_OK) == 0 &&
        snapshot_image_open(f->state, &img, err, sizeof(err)) == 0) {
        if (!strcmp(img.config_json, want) && img.info.vcpus == cfg->cpus &&
            img.info.mem_size == cfg->mem_mib << 20) {
            struct vm_restore rs = { .mem_path = f->mem, .arch = img.info.arch, .state = &img.state,
                                     .advance_ns = snapshot_advance_ns(img.info.saved_realtime_ns) };
            ok = vm_create_restored(cfg, start_ns, &rs, out) == 0;
        }
        snapshot_image_close(&img);
        if (!ok) {   /* stale or damaged: the next run makes a new one */
            unlink(f->state);
            unlink(f->mem);
        }
    }
    close(lock);
    return ok;
}

int run_rm_from_template(const struct vm_config *cfg, uint64_t start_ns)
{
    if (!eligible(cfg))
        return RUN_TEMPLATE_UNUSABLE;
    const char *at = strstr(cfg->cmdline, " " RUN_KEY);
    size_t prefix = (size_t)(at - cfg->cmdline) + 1 + strlen(RUN_KEY);
    const char *encoded = cfg->cmdline + prefix;
    struct template_files f;
    if (template_files(cfg, prefix, &f))
        return RUN_TEMPLATE_UNUSABLE;

    struct vm *vm;
    if (restore_template(cfg, &f, start_ns, &vm)) {
        int status = vm_start_opts(vm, VM_START_HOLD_INPUT);
        if (!status)
            status = run_command(vm, encoded);
        vm_destroy(vm);
        return status;
    }

    /* no template yet: boot one that waits for its command, save it, then give it ours */
    char cmdline[sizeof(cfg->run_cmdline)];
    snprintf(cmdline, sizeof(cmdline), "%.*s-", (int)prefix, cfg->cmdline);
    struct vm_config tcfg = *cfg;
    tcfg.cmdline = cmdline;
    int status = vm_create(&tcfg, start_ns, &vm, NULL, 0);
    if (status)
        return status;
    struct ready ready = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };
    vm_boot_timer(vm)->on_ready = on_ready;
    vm_boot_timer(vm)->ready_opaque = &ready;
    status = vm_start_opts(vm, VM_START_HOLD_INPUT);
    if (!status && wait_ready(&ready, vm)) {
        vm_pause(vm);
        save_template(vm, &tcfg, &f);
        vm_resume(vm);
    }
    if (!status)
        status = run_command(vm, encoded);
    vm_destroy(vm);
    return status;
}
