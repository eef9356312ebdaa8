/* kiln-run TTY_FD CMD — runs a `kiln run --rm` sandbox's command and ends the sandbox, in one
 * program where a shell pipeline took three (`sh -c CMD | cat`, then a program to report the
 * status): each program started costs milliseconds in an emulated guest, and a sandbox restored
 * from its template does little else.
 *
 * CMD runs as `sh -c CMD` with stdin the console tty (TTY_FD), stdout a pipe (as with `docker
 * run` without -t: programs format for a terminal only when stdout is one) and stderr inherited
 * (the SBI console). kiln-run copies the pipe to the tty until every writer closed it (a
 * background process that keeps stdout open keeps the sandbox running), waits for the shell,
 * lets the tty send every byte (tcdrain), then reports the status through the test finisher:
 * 0x5555 (power off) for 0, (status << 16) | 0x3333 otherwise; 128+N when a signal N ended it,
 * as a shell reports it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define FINISHER_BASE 0x100000

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int run(int tty, const char *cmd)
{
    int p[2];
    if (pipe(p) != 0)
        return 126;
    pid_t pid = fork();
    if (pid < 0)
        return 126;
    if (pid == 0) {
        dup2(tty, 0);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (tty > 2)
            close(tty);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    signal(SIGPIPE, SIG_IGN);   /* the tty going away ends the copy, not kiln-run (the command
                                 * keeps the default: it was forked before) */
    static char buf[65536];
    for (;;) {
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(tty, buf, (size_t)n))
            break;
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void report(unsigned status)
{
    int mem = open("/dev/mem", O_RDWR | O_SYNC);
    volatile uint32_t *finisher = mem < 0 ? MAP_FAILED
        : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mem, FINISHER_BASE);
    if (finisher == MAP_FAILED) {
        perror("kiln-run: the test finisher");
        return;
    }
    *finisher = status ? (status << 16) | 0x3333 : 0x5555;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: kiln-run TTY_FD CMD\n");
        return 2;
    }
    int tty = atoi(argv[1]);
    unsigned status = (unsigned)run(tty, argv[2]) & 0xff;
    tcdrain(tty);
    report(status);
    return (int)status;
}
