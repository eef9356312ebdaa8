/* kiln-exit FD STATUS — the last step of a `kiln run --rm` sandbox, in one program instead of
 * two (each program started costs ~15 ms in an emulated guest): wait until the console tty on
 * FD has sent every byte (tcdrain, so powering off cuts nothing off), then tell kiln the
 * command's exit status through the test finisher (0x5555: power off, status 0; otherwise
 * (status << 16) | 0x3333), as `devmem 0x100000 32 ...` did. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#define FINISHER_BASE 0x100000

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: kiln-exit FD STATUS\n");
        return 2;
    }
    int fd = atoi(argv[1]);
    unsigned status = (unsigned)atoi(argv[2]) & 0xff;
    tcdrain(fd);
    int mem = open("/dev/mem", O_RDWR | O_SYNC);
    if (mem < 0) {
        perror("kiln-exit: /dev/mem");
        return 1;
    }
    volatile uint32_t *finisher = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mem, FINISHER_BASE);
    if (finisher == MAP_FAILED) {
        perror("kiln-exit: mmap");
        return 1;
    }
    *finisher = status ? (status << 16) | 0x3333 : 0x5555;
    return 0;
}
