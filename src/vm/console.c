/* console.c — the input thread and terminal handling for the guest console. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/threads.h"
#include "vm/console.h"

/* the terminal to restore if kiln exits without console_close (exit() from anywhere) */
static struct termios restore_termios;
static int restore_fd = -1;

static void restore_terminal(void)
{
    if (restore_fd >= 0)
        tcsetattr(restore_fd, TCSANOW, &restore_termios);
    restore_fd = -1;
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = { fd, POLLOUT, 0 };
            poll(&p, 1, 100);
            continue;
        }
        if (n <= 0)
            return; /* output closed: the guest keeps running, its output is lost */
        buf += n;
        len -= (size_t)n;
    }
}

/* Guest output arrives a byte per UART register write; a write() per byte would cost more host
 * CPU than the guest spends producing it (5 MB of output took ~15 s of system time). So bytes
 * are gathered and a flusher thread writes them at most CONSOLE_FLUSH_US after the first one
 * arrived: bulk output becomes a few large writes, typing stays interactive. */
#define CONSOLE_OUT_BUF (64 * 1024)
#define CONSOLE_FLUSH_US 1000

void console_tx(void *console, const uint8_t *buf, size_t len)
{
    struct console *c = console;
    if (!c || !c->open) {
        write_all(STDOUT_FILENO, buf, len);
        return;
    }
    pthread_mutex_lock(&c->out_lock);
    while (len) {
        if (!c->out_running) {
            write_all(c->out_fd, buf, len);
            break;
        }
        size_t room = CONSOLE_OUT_BUF - c->out_len;
        if (!room) {   /* wait for the flusher, as a writer waits on a slow terminal */
            pthread_cond_broadcast(&c->out_cond);
            pthread_cond_wait(&c->out_space, &c->out_lock);
            continue;
        }
        size_t n = len < room ? len : room;
        if (!c->out_len)
            pthread_cond_broadcast(&c->out_cond);
        memcpy(c->out_buf + c->out_len, buf, n);
        c->out_len += n;
        buf += n;
        len -= n;
    }
    pthread_mutex_unlock(&c->out_lock);
}

/* The only writer of guest output while it runs, so bytes leave in the order they came. */
static void *flusher_thread(void *arg)
{
    struct console *c = arg;
    pthread_mutex_lock(&c->out_lock);
    for (;;) {
        while (!c->out_len && !c->out_stop)
            pthread_cond_wait(&c->out_cond, &c->out_lock);
        if (!c->out_len)
            break;
        if (c->out_len < CONSOLE_OUT_BUF && !c->out_stop) {
            pthread_mutex_unlock(&c->out_lock);
            usleep(CONSOLE_FLUSH_US);   /* let the rest of a burst arrive */
            pthread_mutex_lock(&c->out_lock);
        }
        uint8_t *full = c->out_buf;
        size_t n = c->out_len;
        c->out_buf = c->out_spare;
        c->out_spare = full;
        c->out_len = 0;
        pthread_cond_broadcast(&c->out_space);
        pthread_mutex_unlock(&c->out_lock);
        write_all(c->out_fd, full, n);   /* outside the lock: the guest keeps writing meanwhile */
        pthread_mutex_lock(&c->out_lock);
    }
    pthread_mutex_unlock(&c->out_lock);
    return NULL;
}

static void start_flusher(struct console *c)
{
    pthread_mutex_init(&c->out_lock, NULL);
    pthread_cond_init(&c->out_cond, NULL);
    pthread_cond_init(&c->out_space, NULL);
    c->out_buf = malloc(CONSOLE_OUT_BUF);
    c->out_spare = malloc(CONSOLE_OUT_BUF);
    if (c->out_buf && c->out_spare && thread_create_unsignalled(&c->out_thread, flusher_thread, c) == 0)
        c->out_running = true;   /* otherwise console_tx writes directly */
}

static void stop_flusher(struct console *c)
{
    pthread_mutex_lock(&c->out_lock);
    bool running = c->out_running;
    c->out_stop = true;
    pthread_cond_signal(&c->out_cond);
    pthread_mutex_unlock(&c->out_lock);
    if (running)
        pthread_join(c->out_thread, NULL);   /* it writes what is left before it ends */
    pthread_mutex_lock(&c->out_lock);
    c->out_running = false;
    pthread_cond_broadcast(&c->out_space);
    pthread_mutex_unlock(&c->out_lock);
    free(c->out_buf);
    free(c->out_spare);
    c->out_buf = c->out_spare = NULL;
}

static void print_help(void)
{
    static const char help[] =
        "\r\nkiln console escapes (Ctrl-A then):\r\n"
        "  x       quit kiln (the guest is stopped)\r\n"
        "  h       this help\r\n"
        "  Ctrl-A  send Ctrl-A to the guest\r\n";
    write_all(STDERR_FILENO, (const uint8_t *)help, sizeof(help) - 1);
}

/* Feeds bytes to the UART, waiting while its FIFO is full so no input is lost. Returns false
 * when the console is closing. */
static bool feed(struct console *c, const uint8_t *buf, size_t len)
{
    while (len) {
        size_t n = uart16550_receive(c->uart, buf, len);
        buf += n;
        len -= n;
        if (len && !uart16550_wait_rx_space(c->uart, 100)) {
            struct pollfd p = { c->wake[0], POLLIN, 0 };
            if (poll(&p, 1, 0) > 0)
                return false;
        }
    }
    return true;
}

/* The host's input as the guest gets it: framed (console.h) or as is. */
static bool feed_input(struct console *c, const uint8_t *buf, size_t len)
{
    if (!c->framed)
        return feed(c, buf, len);
    if (c->input_ended)
        return true;   /* the guest stopped listening at the end frame */
    uint8_t out[512];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n + 2 > sizeof(out)) {
            if (!feed(c, out, n))
                return false;
            n = 0;
        }
        if (buf[i] == CONSOLE_FRAME_ESC) {
            out[n++] = CONSOLE_FRAME_ESC;
            out[n++] = CONSOLE_FRAME_ZERO;
        } else {
            out[n++] = buf[i];
        }
    }
    return feed(c, out, n);
}

static bool end_input(struct console *c)
{
    if (!c->framed || c->input_ended)
        return true;
    static const uint8_t eof[2] = { CONSOLE_FRAME_ESC, CONSOLE_FRAME_EOF };
    c->input_ended = true;
    return feed(c, eof, sizeof(eof));
}

/* Terminal input: Ctrl-A starts an escape; framed, Ctrl-D ends the input. Returns false when
 * the user quit. */
static bool handle_tty_input(struct console *c, const uint8_t *buf, size_t len)
{
    uint8_t out[512];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = buf[i];
        if (c->escape_seen) {
            c->escape_seen = false;
            if (ch == 'x' || ch == 'X') {
                feed_input(c, out, n);
                c->on_quit(c->quit_opaque);
                return false;
            }
            if (ch == 'h' || ch == 'H' || ch == '?') {
                print_help();
                continue;
            }
            if (ch != CONSOLE_ESCAPE)
                out[n++] = CONSOLE_ESCAPE; /* not an escape after all: pass both keys on */
            out[n++] = ch;
        } else if (ch == CONSOLE_ESCAPE) {
            c->escape_seen = true;
        } else if (ch == CONSOLE_EOF_KEY && c->framed) {
            if (!feed_input(c, out, n) || !end_input(c))
                return false;
            n = 0;
        } else {
            out[n++] = ch;
        }
    }
    return feed_input(c, out, n);
}

/* Waits until the input is released (or the console closes); then sends the prefix. */
static bool wait_release(struct console *c)
{
    pthread_mutex_lock(&c->hold_lock);
    while (c->held)
        pthread_cond_wait(&c->hold_cond, &c->hold_lock);
    uint8_t *prefix = c->prefix;
    size_t len = c->prefix_len;
    c->prefix = NULL;
    pthread_mutex_unlock(&c->hold_lock);
    bool ok = feed(c, prefix, len);
    free(prefix);
    return ok;
}

static void *input_thread(void *arg)
{
    struct console *c = arg;
    uint8_t buf[256];
    if (!wait_release(c))
        return NULL;
    for (;;) {
        struct pollfd p[2] = { { c->in_fd, POLLIN, 0 }, { c->wake[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue;
        ssize_t n = read(c->in_fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            end_input(c);   /* framed: the command's stdin ends; else the guest runs on */
            break;
        }
        if (c->is_tty ? !handle_tty_input(c, buf, (size_t)n) : !feed_input(c, buf, (size_t)n))
            break;
    }
    return NULL;
}

int console_open_opts(struct console *c, int in_fd, int out_fd, struct uart16550 *uart,
                      void (*on_quit)(void *opaque), void *opaque, unsigned flags)
{
    *c = (struct console){ .in_fd = in_fd, .out_fd = out_fd, .uart = uart, .on_quit = on_quit,
                           .quit_opaque = opaque, .held = flags & CONSOLE_HELD,
                           .framed = flags & CONSOLE_FRAMED };
    pthread_mutex_init(&c->hold_lock, NULL);
    pthread_cond_init(&c->hold_cond, NULL);
    if (pipe2(c->wake, O_CLOEXEC) != 0)
        return -1;
    c->is_tty = isatty(in_fd) && tcgetattr(in_fd, &c->saved) == 0;
    if (c->is_tty) {
        struct termios raw = c->saved;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR; /* kiln's own messages keep their line breaks */
        restore_termios = c->saved;
        restore_fd = in_fd;
        static bool registered;
        if (!registered)
            registered = atexit(restore_terminal) == 0;
        tcsetattr(in_fd, TCSANOW, &raw);
    }
    start_flusher(c);
    c->open = true;
    if (thread_create_unsignalled(&c->thread, input_thread, c) != 0) {
        console_close(c);
        return -1;
    }
    c->thread_running = true;
    return 0;
}

int console_open(struct console *c, int in_fd, int out_fd, struct uart16550 *uart,
                 void (*on_quit)(void *opaque), void *opaque)
{
    return console_open_opts(c, in_fd, out_fd, uart, on_quit, opaque, 0);
}

void console_release_input(struct console *c, const uint8_t *prefix, size_t len)
{
    uint8_t *copy = len ? malloc(len) : NULL;
    if (copy)
        memcpy(copy, prefix, len);
    pthread_mutex_lock(&c->hold_lock);
    free(c->prefix);
    c->prefix = copy;
    c->prefix_len = copy ? len : 0;
    c->held = false;
    pthread_cond_broadcast(&c->hold_cond);
    pthread_mutex_unlock(&c->hold_lock);
}

void console_close(struct console *c)
{
    if (!c->open)
        return;
    if (c->thread_running) {
        console_release_input(c, NULL, 0);   /* a held input thread must get to its exit */
        (void)!write(c->wake[1], "x", 1);
        pthread_join(c->thread, NULL);
        c->thread_running = false;
    }
    stop_flusher(c);
    if (c->is_tty)
        restore_terminal();
    close(c->wake[0]);
    close(c->wake[1]);
    free(c->prefix);
    c->prefix = NULL;
    c->open = false;
}
