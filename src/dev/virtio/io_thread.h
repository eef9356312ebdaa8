/* io_thread.h — the plumbing every virtio device's I/O thread shares: a kick eventfd the vCPU
 * writes, a stop eventfd destroy writes, up to two timerfds for rate-limit (or polling) waits,
 * the thread itself, and pausing it for snapshots and migration. What the thread does with
 * them stays in each device.
 *
 * Pausing: io_thread_pause returns once the thread is parked at a pause point, which is the top
 * of io_thread_wait (between requests: nothing half-done, no guest memory or ring access until
 * io_thread_resume). Kicks and timer expiries that arrive meanwhile stay pending in their fds
 * and are seen after resume. A thread with its own poll loop (e.g. net, for the backend's fds)
 * joins in by calling io_thread_pause_point at the top of every iteration and exiting when it
 * returns true; its poll must include kick_fd, which io_thread_pause writes to wake it:
 *
 *     for (;;) {
 *         if (io_thread_pause_point(&d->io))
 *             break;                        // destroy asked the thread to end
 *         ... build the pollset (stop_fd, kick_fd, timers, own fds), poll() ...
 *         if (io_thread_pause_pending(&d->io))
 *             continue;                     // optional: park at once, leave the fds pending
 *         ... drain and handle what fired ...
 *     } */
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
    /* pausing (see above); all guarded by pause_lock */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;            /* parked / exited changed, or pause_wanted cleared */
    bool pause_wanted;                    /* io_thread_pause asked, io_thread_resume not yet */
    bool parked;                          /* the thread sits in a pause point */
    bool stopping;                        /* destroy asked the thread to end */
    bool exited;                          /* the thread function returned */
    void *(*fn)(void *);                  /* the device's thread function and its argument */
    void *arg;
};

/* Marks every fd closed, so io_thread_destroy is safe on a device whose creation failed
 * before io_thread_open (devices are calloc'ed: 0 would be stdin). */
void io_thread_init(struct io_thread *io);
/* Creates the kick and stop eventfds and `ntimers` timerfds (all non-blocking, close-on-exec).
 * Returns 0, or -1 with errno set and nothing left open. */
int io_thread_open(struct io_thread *io, unsigned ntimers);
/* Starts fn(arg) as the I/O thread. Returns 0 or pthread_create's error number. */
int io_thread_start(struct io_thread *io, void *(*fn)(void *), void *arg);
/* Signals stop and joins the thread if it runs (also a paused one), then closes the fds. Safe
 * to call again. */
void io_thread_destroy(struct io_thread *io);

/* Returns once the thread is parked in a pause point (at once if it never started or has
 * ended). Not from the I/O thread itself. Pausing a paused thread does nothing. */
void io_thread_pause(struct io_thread *io);
/* Lets a paused thread go on; what arrived while it was parked is handled then. Resuming a
 * thread that is not paused does nothing. */
void io_thread_resume(struct io_thread *io);
/* For the I/O thread: parks here while paused. Returns true if the thread must end (stop was
 * requested; then it does not park). */
bool io_thread_pause_point(struct io_thread *io);
/* For the I/O thread: has a pause been asked for? (A hint: the pause point decides.) */
bool io_thread_pause_pending(struct io_thread *io);

/* What io_thread_wait saw. */
#define IO_KICK       (1 << 0)
#define IO_TIMER(i)   (1 << (1 + (i)))
#define IO_STOP       (1 << 30)

/* For a thread that waits on nothing but these fds: sleeps until the stop, kick or a timer fd
 * fires (retrying after EINTR), parking first while the thread is paused. Returns IO_STOP once
 * stop is signalled (nothing else is looked at then), else the IO_KICK / IO_TIMER(i) bits of
 * the fds that fired, each drained; -1 with errno if poll() fails otherwise. */
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
