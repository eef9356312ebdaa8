/* io_thread.c — eventfds, timerfds and the thread of a device's I/O thread (see io_thread.h). */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "dev/virtio/io_thread.h"

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

int io_thread_start(struct io_thread *io, void *(*fn)(void *), void *arg)
{
    int e = pthread_create(&io->thread, NULL, fn, arg);
    io->running = e == 0;
    return e;
}

void io_thread_destroy(struct io_thread *io)
{
    if (io->running) {
        io_signal(io->stop_fd);
        pthread_join(io->thread, NULL);
        io->running = false;
    }
    close_fds(io);
}

int io_thread_wait(struct io_thread *io)
{
    struct pollfd p[2 + IO_THREAD_MAX_TIMERS] = {
        { .fd = io->stop_fd, .events = POLLIN },
        { .fd = io->kick_fd, .events = POLLIN },
    };
    for (unsigned i = 0; i < io->ntimers; i++)
        p[2 + i] = (struct pollfd){ .fd = io->timer_fd[i], .events = POLLIN };
    while (poll(p, 2 + io->ntimers, -1) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (p[0].revents)
        return IO_STOP;
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
