/* io_thread.h — the plumbing every virtio device's I/O thread shares: a kick eventfd the vCPU
 * writes, a stop eventfd destroy writes, up to two timerfds for rate-limit (or polling) waits,
 * and the thread itself. What the thread does with them stays in each device. */
#ifndef KILN_DEV_VIRTIO_IO_THREAD_H
#define KILN_DEV_VIRTIO_IO_THREAD_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IO_THREAD_MAX_TIMERS 2

struct io_thread {
    int kick_fd;                          /* the driver's kicks and other wake-ups */
    int stop_fd;                          /* destroy asks the thread to end */
    int timer_fd[IO_THREAD_MAX_TIMERS];   /* -1 beyond the number opened */
    unsigned ntimers;
    pthread_t thread;
    bool running;                         /* thread was started and not joined yet */
};

/* Marks every fd closed, so io_thread_destroy is safe on a device whose creation failed
 * before io_thread_open (devices are calloc'ed: 0 would be stdin). */
void io_thread_init(struct io_thread *io);
/* Creates the kick and stop eventfds and `ntimers` timerfds (all non-blocking, close-on-exec).
 * Returns 0, or -1 with errno set and nothing left open. */
int io_thread_open(struct io_thread *io, unsigned ntimers);
/* Starts fn(arg) as the I/O thread. Returns 0 or pthread_create's error number. */
int io_thread_start(struct io_thread *io, void *(*fn)(void *), void *arg);
/* Signals stop and joins the thread if it runs, then closes the fds. Safe to call again. */
void io_thread_destroy(struct io_thread *io);

/* What io_thread_wait saw. */
#define IO_KICK       (1 << 0)
#define IO_TIMER(i)   (1 << (1 + (i)))
#define IO_STOP       (1 << 30)

/* For a thread that waits on nothing but these fds: sleeps until the stop, kick or a timer fd
 * fires (retrying after EINTR). Returns IO_STOP once stop is signalled (nothing else is looked
 * at then), else the IO_KICK / IO_TIMER(i) bits of the fds that fired, each drained; -1 with
 * errno if poll() fails otherwise. */
int io_thread_wait(struct io_thread *io);

/* Adds one to an eventfd counter: wakes whoever polls it. */
void io_signal(int fd);
/* Resets an eventfd counter, or consumes a timerfd's expirations, so poll() sleeps again. */
void io_drain(int fd);
/* Fires a timerfd once, `ns` from now (0 still fires: at once). */
void io_timer_arm(int fd, uint64_t ns);
/* Fires a timerfd every `ns`, first `ns` from now. */
void io_timer_every(int fd, uint64_t ns);
/* Stops a timerfd; expirations not read yet stay readable. */
void io_timer_disarm(int fd);

#endif
