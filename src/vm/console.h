/* console.h — connects the guest's UART to kiln's stdin/stdout. On a terminal the console is raw
 * and interactive, with an escape prefix (Ctrl-A) for kiln's own keys; on pipes bytes pass
 * through untouched so scripts can drive the guest. End of input never stops the guest. */
#ifndef KILN_VM_CONSOLE_H
#define KILN_VM_CONSOLE_H
#include <pthread.h>
#include <stdbool.h>
#include <termios.h>
#include "dev/uart16550.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

/* Framed input (console_open_opts CONSOLE_FRAMED, for `kiln run --rm`): a serial line cannot
 * carry "end of input", so the host's input goes to the guest framed: a 0x00 byte as 0x00 0x01,
 * end of input as 0x00 0x02, every other byte as itself. The guest's kiln-run decodes it and
 * closes the command's stdin at the end. On a terminal, Ctrl-D is the end of input. */
#define CONSOLE_FRAME_ESC  0x00
#define CONSOLE_FRAME_ZERO 0x01
#define CONSOLE_FRAME_EOF  0x02
#define CONSOLE_EOF_KEY    0x04 /* Ctrl-D */
#define CONSOLE_HELD   1u       /* the host's input waits for console_release_input */
#define CONSOLE_FRAMED 2u

struct console {
    int in_fd, out_fd;
    bool open, is_tty, thread_running, escape_seen;
    bool framed, input_ended;       /* CONSOLE_FRAMED; the end-of-input frame was sent */
    int wake[2];                    /* a pipe that interrupts the input thread's poll */
    struct termios saved;
    struct uart16550 *uart;
    void (*on_quit)(void *opaque);
    void *quit_opaque;
    pthread_t thread;
    /* guest output is gathered and written by a flusher thread (see console.c) */
    pthread_mutex_t out_lock;
    pthread_cond_t out_cond, out_space;
    uint8_t *out_buf, *out_spare;
    size_t out_len;
    bool out_running, out_stop;
    pthread_t out_thread;
    /* input held back until console_release_input (a --rm sandbox's command goes first) */
    pthread_mutex_t hold_lock;
    pthread_cond_t hold_cond;
    bool held;
    uint8_t *prefix;
    size_t prefix_len;
};

int console_open(struct console *c, int in_fd, int out_fd, struct uart16550 *uart,
                 void (*on_quit)(void *opaque), void *opaque);
/* guest output (UART or SBI console): void * so it fits the device callbacks */
void console_tx(void *console, const uint8_t *buf, size_t len);
void console_close(struct console *c);
/* console_open with CONSOLE_HELD and/or CONSOLE_FRAMED */
int console_open_opts(struct console *c, int in_fd, int out_fd, struct uart16550 *uart,
                      void (*on_quit)(void *opaque), void *opaque, unsigned flags);
/* Sends prefix to the guest first, then lets the host's input through. */
void console_release_input(struct console *c, const uint8_t *prefix, size_t len);

#endif
