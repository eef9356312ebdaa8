/* guest_ram.c — guest RAM mappings (see guest_ram.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fd_io.h"
#include "vm/guest_ram.h"

int guest_ram_create(struct guest_ram *r, uint64_t size)
{
    *r = (struct guest_ram){ .fd = -1 };
    if (size == 0 || (size & 0xfff))
        return -1;
    /* reserved, not committed: the host only backs pages the guest touches */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return -1;
    r->host = p;
    r->size = size;
    return 0;
}

int guest_ram_map_file(struct guest_ram *r, const char *path, uint64_t size, char *err, size_t errlen)
{
    *r = (struct guest_ram){ .fd = -1 };
    if (size == 0 || (size & 0xfff)) {
        snprintf(err, errlen, "guest memory size %llu is not a positive multiple of 4 KiB",
                 (unsigned long long)size);
        return -1;
    }
    char why[128];
    int fd = fd_open_user(path, O_RDONLY, 0, FD_REGULAR, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the memory file %s: %s", path, why);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot read the size of the memory file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size != size) {
        snprintf(err, errlen, "the memory file %s holds %lld bytes, the VM has %llu bytes of memory",
                 path, (long long)st.st_size, (unsigned long long)size);
        close(fd);
        return -1;
    }
    /* private and writable: the guest's writes go to copy-on-write pages, never to the file */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the memory file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    *r = (struct guest_ram){ .host = p, .size = size, .fd = fd, .file_backed = true };
    return 0;
}

void guest_ram_destroy(struct guest_ram *r)
{
    if (r->host)
        munmap(r->host, r->size);
    if (r->file_backed && r->fd >= 0)
        close(r->fd);
    *r = (struct guest_ram){ .fd = -1 };
}
