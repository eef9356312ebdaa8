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

struct console {
    int in_fd, out_fd;
    bool open, is_tty, thread_running, escape_seen;
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
/* console_open, but the host's input waits until console_release_input. */
int console_open_held(struct console *c, int in_fd, int out_fd, struct uart16550 *uart,
                      void (*on_quit)(void *opaque), void *opaque);
/* Sends prefix to the guest first, then lets the host's input through. */
void console_release_input(struct console *c, const uint8_t *prefix, size_t len);

#endif
