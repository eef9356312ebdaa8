/* snapshot_file.c — the state file (header, body, CRC-32) and the memory file (see the header). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "common/fd_io.h"
#include "common/le.h"
#include "vm/backends.h"
#include "vm/snapshot_file.h"

static const char MAGIC[8] = { 'K', 'I', 'L', 'N', 'S', 'N', 'A', 'P' };
#define HEADER_LEN 24          /* magic, u32 version, u32 reserved, u64 body length */
#define STATE_MAX (64u << 20)  /* far above any real state: a wrong file is not read whole */

uint64_t snapshot_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void snapshot_info_save(const struct snapshot_info *i, struct persist_writer *w)
{
    persist_begin(w, "snapshot-info", 1);
    persist_blob(w, i->arch, strlen(i->arch));
    persist_u64(w, i->mem_size);
    persist_u32(w, i->vcpus);
    persist_u32(w, (uint32_t)i->type);
    persist_u64(w, i->saved_realtime_ns);
    persist_end(w);
}

int snapshot_info_restore(struct snapshot_info *i, struct persist_reader *r)
{
    memset(i, 0, sizeof(*i));
    if (persist_open(r, "snapshot-info", 1))
        return -1;
    size_t n;
    const void *arch = persist_get_blob(r, sizeof(i->arch) - 1, &n);
    if (arch)
        memcpy(i->arch, arch, n);
    i->mem_size = persist_get_u64(r);
    i->vcpus = persist_get_u32(r);
    uint32_t type = persist_get_u32(r);
    i->saved_realtime_ns = persist_get_u64(r);
    if (persist_close(r))
        return -1;
    if (!vm_machine_for_arch(i->arch))
        return persist_fail(r, "the snapshot is of a %s VM; this kiln has no backend for %s guests", i->arch,
                            i->arch);
    if (type > SNAPSHOT_DIFF)
        return persist_fail(r, "unknown snapshot type %u", type);
    i->type = (enum snapshot_type)type;
    if (!i->mem_size || i->mem_size % SNAPSHOT_PAGE || !i->vcpus)
        return persist_fail(r, "the snapshot's machine (%u vCPUs, %llu bytes of RAM) is invalid", i->vcpus,
                            (unsigned long long)i->mem_size);
    return 0;
}

/* Opens "<path>.tmp.<pid>" for writing; *tmp receives its name. */
static int open_temp(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    snprintf(tmp, tmplen, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        snprintf(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
    return fd;
}

static int finish_temp(int fd, const char *tmp, const char *path, bool ok, char *err, size_t errlen)
{
    if (ok && fdatasync(fd) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        ok = false;
    }
    close(fd);
    if (ok && rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(tmp);
    return ok ? 0 : -1;
}

int snapshot_file_write(const char *path, const void *body, size_t len, char *err, size_t errlen)
{
    char tmp[4200];
    int fd = open_temp(path, tmp, sizeof(tmp), err, errlen);
    if (fd < 0)
        return -1;
    uint8_t header[HEADER_LEN];
    memcpy(header, MAGIC, 8);
    le_put(header + 8, SNAPSHOT_FORMAT_VERSION, 4);
    le_put(header + 12, 0, 4);
    le_put(header + 16, len, 8);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, header, HEADER_LEN);
    crc = crc32_z(crc, body, len);
    uint8_t trailer[4];
    le_put(trailer, crc, 4);
    bool ok = !fd_write_all(fd, header, HEADER_LEN) && !fd_write_all(fd, body, len) && !fd_write_all(fd, trailer, 4);
    if (!ok)
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
    return finish_temp(fd, tmp, path, ok, err, errlen);
}

int snapshot_file_read(const char *path, void **body, size_t *len, char *err, size_t errlen)
{
    *body = NULL;
    *len = 0;
    char why[128];
    int fd = fd_open_user(path, O_RDONLY, 0, FD_REGULAR, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the snapshot '%s': %s", path, why);
        return -1;
    }
    struct stat st;
    uint8_t *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the snapshot '%s' is not a regular file", path);
        goto out;
    }
    if (st.st_size < HEADER_LEN + 4 || (uint64_t)st.st_size > STATE_MAX) {
        snprintf(err, errlen, "the snapshot '%s' is not a kiln snapshot (size %lld)", path, (long long)st.st_size);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size);
    if (!buf) {
        snprintf(err, errlen, "out of memory reading '%s'", path);
        goto out;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got != size) {
        snprintf(err, errlen, "cannot read the snapshot '%s'", path);
        goto out;
    }
    if (memcmp(buf, MAGIC, 8)) {
        snprintf(err, errlen, "'%s' is not a kiln snapshot (bad magic)", path);
        goto out;
    }
    uint32_t version = (uint32_t)le_get(buf + 8, 4);
    if (version != SNAPSHOT_FORMAT_VERSION) {
        snprintf(err, errlen, "the snapshot '%s' has format version %u; this kiln reads version %u", path,
                 version, SNAPSHOT_FORMAT_VERSION);
        goto out;
    }
    uint64_t blen = le_get(buf + 16, 8);
    if (blen != size - HEADER_LEN - 4) {
        snprintf(err, errlen, "the snapshot '%s' is truncated or has trailing data", path);
        goto out;
    }
    uLong crc = crc32_z(crc32(0L, Z_NULL, 0), buf, size - 4);
    if ((uint32_t)crc != (uint32_t)le_get(buf + size - 4, 4)) {
        snprintf(err, errlen, "the snapshot '%s' is corrupt (checksum mismatch)", path);
        goto out;
    }
    memmove(buf, buf + HEADER_LEN, (size_t)blen);
    *body = buf;
    *len = (size_t)blen;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

bool snapshot_page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < SNAPSHOT_PAGE / 8; i++)
        if (w[i])
            return false;
    return true;
}

uint8_t *snapshot_touched_pages(const uint8_t *ram, uint64_t size)
{
    uint8_t *vec = malloc((size_t)(size / SNAPSHOT_PAGE));
    if (vec && mincore((void *)ram, (size_t)size, vec) != 0) {
        free(vec);
        vec = NULL;
    }
    return vec;
}

bool snapshot_page_has_data(const uint8_t *ram, uint64_t page, const uint8_t *touched)
{
    if (touched && !(touched[page] & 1))
        return false;
    return !snapshot_page_is_zero(ram + page * SNAPSHOT_PAGE);
}

static bool page_wanted(const uint8_t *ram, uint64_t page, const uint64_t *dirty, const uint8_t *touched)
{
    if (dirty)
        return (dirty[page / 64] >> (page % 64)) & 1;
    return snapshot_page_has_data(ram, page, touched);
}

int snapshot_mem_write(const char *path, const uint8_t *ram, uint64_t size, const uint64_t *dirty,
                       bool anonymous, char *err, size_t errlen)
{
    /* untouched anonymous pages are zero: skip them without reading (a read would map them) */
    uint8_t *touched = !dirty && anonymous ? snapshot_touched_pages(ram, size) : NULL;
    char tmp[4200];
    int fd = open_temp(path, tmp, sizeof(tmp), err, errlen);
    if (fd < 0)
        return -1;
    bool ok = ftruncate(fd, (off_t)size) == 0;
    uint64_t pages = size / SNAPSHOT_PAGE;
    /* runs of wanted pages go out in one write each; the rest stays a hole */
    for (uint64_t p = 0; ok && p < pages;) {
        if (!page_wanted(ram, p, dirty, touched)) {
            p++;
            continue;
        }
        uint64_t end = p + 1;
        while (end < pages && end - p < 2048 && page_wanted(ram, end, dirty, touched))
            end++;
        ok = !fd_pwrite_all(fd, ram + p * SNAPSHOT_PAGE, (size_t)((end - p) * SNAPSHOT_PAGE),
                         (off_t)(p * SNAPSHOT_PAGE));
        p = end;
    }
    free(touched);
    if (!ok)
        snprintf(err, errlen, "cannot write the memory file '%s': %s", path, strerror(errno));
    return finish_temp(fd, tmp, path, ok, err, errlen);
}

int snapshot_mem_merge(const char *base, const char *diff, char *err, size_t errlen)
{
    char why[128];
    int bfd = fd_open_user(base, O_WRONLY, 0, FD_REGULAR, why, sizeof(why));
    int dfd = bfd < 0 ? -1 : fd_open_user(diff, O_RDONLY, 0, FD_REGULAR, why, sizeof(why));
    int rc = -1;
    uint8_t *buf = NULL;
    struct stat bs, ds;
    if (bfd < 0 || dfd < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", bfd < 0 ? base : diff, why);
        goto out;
    }
    if (fstat(bfd, &bs) || fstat(dfd, &ds) || bs.st_size != ds.st_size) {
        snprintf(err, errlen, "'%s' and '%s' are not memory files of the same VM (sizes differ)", base, diff);
        goto out;
    }
    enum { CHUNK = 1 << 20 };
    buf = malloc(CHUNK);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    off_t pos = 0;
    for (;;) {
        off_t data = lseek(dfd, pos, SEEK_DATA);
        if (data < 0)
            break;      /* ENXIO: no data after pos */
        off_t hole = lseek(dfd, data, SEEK_HOLE);
        if (hole < 0)
            hole = ds.st_size;
        for (off_t o = data; o < hole;) {
            size_t chunk = (size_t)(hole - o) < CHUNK ? (size_t)(hole - o) : CHUNK;
            ssize_t n = pread(dfd, buf, chunk, o);
            if (n <= 0 || fd_pwrite_all(bfd, buf, (size_t)n, o)) {
                snprintf(err, errlen, "cannot copy '%s' into '%s': %s", diff, base, strerror(errno));
                goto out;
            }
            o += n;
        }
        pos = hole;
    }
    if (fdatasync(bfd) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", base, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(buf);
    if (bfd >= 0)
        close(bfd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}
