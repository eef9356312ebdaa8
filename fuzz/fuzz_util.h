/* fuzz_util.h — what the libFuzzer harnesses share: a property check that aborts (libFuzzer
 * then saves the input as a crash), exact-size heap copies of the input (so ASan sees a read
 * one byte past it), and a private scratch directory for harnesses whose code under test
 * wants file paths. */
#ifndef KILN_FUZZ_UTIL_H
#define KILN_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz check failed: %s (%s:%d): ", #cond, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* The input in a heap block of exactly its size (one byte for an empty input). */
static inline void *fuzz_dup(const uint8_t *data, size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        abort();
    if (size)
        memcpy(p, data, size);
    return p;
}

/* The input as a NUL-terminated string (its own NULs stay: the C string ends at the first). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1);
    if (!p)
        abort();
    if (size)
        memcpy(p, data, size);
    p[size] = 0;
    return p;
}

/* A directory of the harness's own under /tmp (removed by fuzz/run.sh's caller, not here). */
static inline const char *fuzz_scratch_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/kiln-fuzz-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* An anonymous in-memory file holding the input; its path is /proc/self/fd/N. */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
    int fd = memfd_create("kiln-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
