/* io_thread.c — eventfds, timerfds and the thread of a device's I/O thread (see io_thread.h). */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "common/threads.h"
#include "dev/virtio/io_thread.h"
#include "sandbox/seccomp_policy.h"

static void close_fds(struct io_thread *io)
{
    int *fds[] = { &io->kick_fd, &io->stop_fd, &io->timer_fd[0], &io->timer_fd[1] };
    _Static_assert(IO_THREAD_MAX_TIMERS == 2, "close_fds lists every timer");
    for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    io->ntimers = 0;
}

void io_thread_init(struct io_thread *io)
{
    io->kick_fd = io->stop_fd = -1;
    for (unsigned i = 0; i < IO_THREAD_MAX_TIMERS; i++)
        io->timer_fd[i] = -1;
    io->ntimers = 0;
    io->running = false;
    /* static initialisers: init may run twice on one device (init, then open) */
    io->pause_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    io->pause_cond = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    io->pause_wanted = io->parked = io->stopping = io->exited = false;
}

int io_thread_open(struct io_thread *io, unsigned ntimers)
{
    io_thread_init(io);
    if (ntimers > IO_THREAD_MAX_TIMERS) {
        errno = EINVAL;
        return -1;
    }
    io->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    io->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    bool ok = io->kick_fd >= 0 && io->stop_fd >= 0;
    for (unsigned i = 0; i < ntimers && ok; i++) {
        io->timer_fd[i] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        ok = io->timer_fd[i] >= 0;
    }
    io->ntimers = ntimers;
    if (ok)
        return 0;
    int e = errno;   /* close() below must not change what the caller reports */
    close_fds(io);
    errno = e;
    return -1;
}

/* Runs the device's thread function and records that it ended, so a pause never waits for a
 * thread that is gone (e.g. one that quit after a poll error). */
static void *trampoline(void *opaque)
{
    struct io_thread *io = opaque;
    seccomp_policy_enter(KILN_THREAD_DEVICE);
    void *ret = io->fn(io->arg);
    pthread_mutex_lock(&io->pause_lock);
    io->exited = true;
    pthread_cond_broadcast(&io->pause_cond);
    pthread_mutex_unlock(&io->pause_lock);
    return ret;
}

int io_thread_start(struct io_thread *io, void *(*fn)(void *), void *arg)
{
    io->fn = fn;
    io->arg = arg;
    int e = thread_create_unsignalled(&io->thread, trampoline, io);
    io->running = e == 0;
    return e;
}

void io_thread_destroy(struct io_thread *io)
{
    if (io->running) {
        pthread_mutex_lock(&io->pause_lock);
        io->stopping = true;   /* a parked thread waits on the condvar, not on stop_fd */
        pthread_cond_broadcast(&io->pause_cond);
        pthread_mutex_unlock(&io->pause_lock);
        io_signal(io->stop_fd);
        pthread_join(io->thread, NULL);
        io->running = false;
    }
    close_fds(io);
}

void io_thread_pause(struct io_thread *io)
{
    pthread_mutex_lock(&io->pause_lock);
    io->pause_wanted = true;
    if (io->running) {
        io_signal(io->kick_fd);   /* wakes the thread from poll(); every loop polls kick_fd */
        while (!io->parked && !io->exited && !io->stopping)
            pthread_cond_wait(&io->pause_cond, &io->pause_lock);
    }
    pthread_mutex_unlock(&io->pause_lock);
}

void io_thread_resume(struct io_thread *io)
{
    pthread_mutex_lock(&io->pause_lock);
    io->pause_wanted = false;
    pthread_cond_broadcast(&io->pause_cond);
    pthread_mutex_unlock(&io->pause_lock);
}

bool io_thread_pause_point(struct io_thread *io)
{
    pthread_mutex_lock(&io->pause_lock);
    /* parked stays true until we leave the loop: a pause right after a resume that we have
     * not woken up for yet still finds us parked, and we stay */
    while (io->pause_wanted && !io->stopping) {
        if (!io->parked) {
            io->parked = true;
            pthread_cond_broadcast(&io->pause_cond);
        }
        pthread_cond_wait(&io->pause_cond, &io->pause_lock);
    }
    io->parked = false;
    bool stop = io->stopping;
    pthread_mutex_unlock(&io->pause_lock);
    return stop;
}

bool io_thread_pause_pending(struct io_thread *io)
{
    pthread_mutex_lock(&io->pause_lock);
    bool pending = io->pause_wanted;
    pthread_mutex_unlock(&io->pause_lock);
    return pending;
}

int io_thread_wait(struct io_thread *io)
{
    struct pollfd p[2 + IO_THREAD_MAX_TIMERS] = {
        { .fd = io->stop_fd, .events = POLLIN },
        { .fd = io->kick_fd, .events = POLLIN },
    };
    for (unsigned i = 0; i < io->ntimers; i++)
        p[2 + i] = (struct pollfd){ .fd = io->timer_fd[i], .events = POLLIN };
    for (;;) {
        if (io_thread_pause_point(io))
            return IO_STOP;
        while (poll(p, 2 + io->ntimers, -1) < 0) {
            if (errno != EINTR)
                return -1;
        }
        if (p[0].revents)
            return IO_STOP;
        /* a pause came while we slept: park now and leave the fds as they are, so the kicks
         * and timers they hold are handled after resume */
        if (!io_thread_pause_pending(io))
            break;
    }
    int fired = 0;
    if (p[1].revents) {
        io_drain(io->kick_fd);
        fired |= IO_KICK;
    }
    for (unsigned i = 0; i < io->ntimers; i++) {
        if (p[2 + i].revents) {
            io_drain(io->timer_fd[i]);
            fired |= IO_TIMER(i);
        }
    }
    return fired;
}

void io_signal(int fd)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the reader wakes anyway */
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void io_drain(int fd)
{
    uint64_t v;
    /* EAGAIN means another wake-up already drained it: nothing to do */
    while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

static struct timespec to_timespec(uint64_t ns)
{
    return (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
}

void io_timer_arm(int fd, uint64_t ns)
{
    struct itimerspec its = { .it_value = to_timespec(ns) };
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;   /* all zero would disarm it */
    timerfd_settime(fd, 0, &its, NULL);
}

void io_timer_every(int fd, uint64_t ns)
{
    struct itimerspec its = { .it_interval = to_timespec(ns), .it_value = to_timespec(ns) };
    timerfd_settime(fd, 0, &its, NULL);
}

void io_timer_disarm(int fd)
{
    struct itimerspec off = { 0 };
    timerfd_settime(fd, 0, &off, NULL);
}
