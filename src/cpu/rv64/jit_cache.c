/* jit_cache.c — the translated-code cache: one memfd, mapped read-write for the translator and
 * read-execute for the hart (W^X), filled linearly and emptied whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cpu/rv64/hart.h"
#include "cpu/rv64/jit.h"
#include "cpu/rv64/ops.h"

/* For profiling translated code: perf reads symbols for JIT code from /tmp/perf-PID.map (one
 * "start size name" line per range; a flushed cache's ranges are reused, and later lines win). */
static void open_perf_map(struct rv64_jit *j)
{
    const char *on = getenv("KILN_JIT_PERFMAP");
    if (!on || strcmp(on, "1") != 0)
        return;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
    j->perf_map = fopen(path, "a");
    if (!j->perf_map)
        return;
    setvbuf(j->perf_map, NULL, _IOLBF, 0);
    static const char *const names[] = { "epilogue", "dispatch", "load-slow", "store-slow", "code-written" };
    const uint32_t offs[] = { j->st_epilogue, j->st_dispatch, j->st_load, j->st_store, j->st_code,
                              j->stubs_end };
    for (unsigned i = 0; i < 5; i++)
        fprintf(j->perf_map, "%lx %x rv64 stub %s\n", (unsigned long)(uintptr_t)(j->rx + offs[i]),
                offs[i + 1] - offs[i], names[i]);
}

struct rv64_jit *rv64_jit_create(size_t cache_bytes)
{
    if (cache_bytes < RV64_JIT_MIN_CACHE_BYTES)
        cache_bytes = RV64_JIT_MIN_CACHE_BYTES;
    cache_bytes = (cache_bytes + 4095) & ~(size_t)4095;
    struct rv64_jit *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->fd = -1;
    j->rw = j->rx = MAP_FAILED;
    j->size = cache_bytes;
    j->hot = RV64_JIT_HOT;
    const char *hot = getenv("KILN_JIT_HOT");
    if (hot && atoi(hot) > 0)
        j->hot = (unsigned)atoi(hot);
    j->one = calloc(1, sizeof(struct rv64_block) + 2 * sizeof(struct rv64_insn));
    if (!j->one)
        goto fail;
    /* untouched pages of the memfd cost nothing: memory grows with the code actually emitted */
    j->fd = memfd_create("kiln-jit", MFD_CLOEXEC);
    if (j->fd < 0 || ftruncate(j->fd, (off_t)cache_bytes) != 0)
        goto fail;
    j->rw = mmap(NULL, cache_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
    j->rx = mmap(NULL, cache_bytes, PROT_READ | PROT_EXEC, MAP_SHARED, j->fd, 0);
    if (j->rw == MAP_FAILED || j->rx == MAP_FAILED)
        goto fail;
    j->one->page = ~0u;
    rv64_jit_emit_stubs(j);
    open_perf_map(j);
    return j;
fail:
    rv64_jit_destroy(j);
    return NULL;
}

void rv64_jit_destroy(struct rv64_jit *j)
{
    if (!j)
        return;
    if (j->rw != MAP_FAILED)
        munmap(j->rw, j->size);
    if (j->rx != MAP_FAILED)
        munmap(j->rx, j->size);
    if (j->fd >= 0)
        close(j->fd);
    if (j->perf_map)
        fclose(j->perf_map);
    free(j->one);
    free(j);
}

void rv64_jit_reset(struct rv64_jit *j)
{
    if (j->used > j->stubs_end)
        j->flushes++;
    j->used = j->stubs_end; /* the shared stubs stay */
}

int rv64_jit_enable(struct rv64_machine *m, size_t cache_bytes)
{
    for (unsigned i = 0; i < m->nharts; i++) {
        struct rv64_hart *h = m->harts[i];
        if (h->jit)
            continue;
        h->jit = rv64_jit_create(cache_bytes);
        if (!h->jit)
            return -1;
        h->jit_mxcsr = rv64_jit_host_mxcsr();
        rv64_flush_blocks(h); /* blocks decoded so far have no translation slot cleared */
    }
    return 0;
}

void rv64_jit_report(const struct rv64_machine *m, FILE *f)
{
    for (unsigned i = 0; i < m->nharts; i++) {
        const struct rv64_jit *j = m->harts[i]->jit;
        if (!j)
            continue;
        fprintf(f, "kiln: jit hart %u: %llu blocks (%llu guest insns) -> %llu bytes of code in "
                   "%.1f ms (%.0f ns/block), %llu chained exits, %llu cache flushes, %llu interpreted "
                   "fallbacks\n",
                i, (unsigned long long)j->blocks, (unsigned long long)j->guest_insns,
                (unsigned long long)j->code_bytes, (double)j->translate_ns / 1e6,
                j->blocks ? (double)j->translate_ns / (double)j->blocks : 0.0,
                (unsigned long long)j->chains,
                (unsigned long long)j->flushes, (unsigned long long)j->fallbacks);
    }
}
