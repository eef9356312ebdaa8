/* kiln-run TTY_FD CMD — runs a `kiln run --rm` sandbox's command and ends the sandbox, in one
 * program where a shell pipeline took three (`sh -c CMD | cat`, then a program to report the
 * status): each program started costs milliseconds in an emulated guest, and a sandbox restored
 * from its template does little else.
 *
 * CMD runs as `sh -c CMD` with stdin and stdout pipes (as with `docker run -i` without -t:
 * programs format for a terminal only when stdout is one) and stderr inherited (the SBI
 * console). kiln-run decodes the console's input into the stdin pipe — kiln frames it so that
 * the end of its own input reaches the guest (0x00 0x01 is a 0x00 byte, 0x00 0x02 the end, see
 * src/vm/console.h) — and copies the stdout pipe to the tty until every writer closed it (a
 * background process that keeps stdout open keeps the sandbox running), waits for the shell,
 * lets the tty send every byte (tcdrain), then reports the status through the test finisher:
 * 0x5555 (power off) for 0, (status << 16) | 0x3333 otherwise; 128+N when a signal N ended it,
 * as a shell reports it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define FRAME_ESC  0x00
#define FRAME_ZERO 0x01
#define FRAME_EOF  0x02

/* The command's stdin: input decoded from the tty, waiting for the pipe to take it. */
struct input {
    int pipe;              /* write end; -1 once closed */
    bool esc, ended;       /* inside an escape; the end frame arrived (or the tty went away) */
    char buf[4096];
    size_t len;
};

static void input_from_tty(struct input *in, int tty)
{
    char raw[sizeof(in->buf)];
    ssize_t n = read(tty, raw, sizeof(in->buf) - in->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        in->ended = true;
        return;
    }
    for (ssize_t i = 0; i < n && !in->ended; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (in->esc) {
            in->esc = false;
            if (ch == FRAME_EOF)
                in->ended = true;          /* anything after it is not the command's */
            else
                in->buf[in->len++] = ch == FRAME_ZERO ? 0 : (char)ch;
        } else if (ch == FRAME_ESC) {
            in->esc = true;
        } else {
            in->buf[in->len++] = (char)ch;
        }
    }
}

static void input_to_pipe(struct input *in)
{
    ssize_t w = write(in->pipe, in->buf, in->len);
    if (w < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (w <= 0) {                          /* the command stopped reading: drop the rest */
        close(in->pipe);
        in->pipe = -1;
        in->len = 0;
        return;
    }
    in->len -= (size_t)w;
    memmove(in->buf, in->buf + w, in->len);
}

static int run(int tty, const char *cmd)
{
    int in_p[2], out_p[2];
    if (pipe(in_p) != 0 || pipe(out_p) != 0)
        return 126;
    pid_t pid = fork();
    if (pid < 0)
        return 126;
    if (pid == 0) {
        dup2(in_p[0], 0);
        dup2(out_p[1], 1);
        close(in_p[0]);
        close(in_p[1]);
        close(out_p[0]);
        close(out_p[1]);
        if (tty > 2)
            close(tty);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    signal(SIGPIPE, SIG_IGN);   /* the tty or the command's stdin going away ends that copy, not
                                 * kiln-run (the command keeps the default: it was forked before) */
    fcntl(in_p[1], F_SETFL, O_NONBLOCK);   /* a command that does not read must not stall its output */
    struct input in = { .pipe = in_p[1] };
    static char buf[65536];
    for (;;) {
        if (in.ended && in.len == 0 && in.pipe >= 0) {
            close(in.pipe);
            in.pipe = -1;
        }
        struct pollfd p[3] = {
            { out_p[0], POLLIN, 0 },
            { in.pipe >= 0 && !in.ended && in.len < sizeof(in.buf) ? tty : -1, POLLIN, 0 },
            { in.pipe >= 0 && in.len ? in.pipe : -1, POLLOUT, 0 },
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            input_from_tty(&in, tty);
        if (p[2].revents)
            input_to_pipe(&in);
        if (!p[0].revents)
            continue;
        ssize_t n = read(out_p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(tty, buf, (size_t)n))
            break;
    }
    close(out_p[0]);
    if (in.pipe >= 0)
        close(in.pipe);
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
