/* threads.c — stop signals and threads that never take them (see threads.h). */
#include "common/threads.h"

void stop_signals_fill(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

void stop_signals_block(void)
{
    sigset_t set;
    stop_signals_fill(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int thread_create_unsignalled(pthread_t *t, void *(*fn)(void *), void *arg)
{
    /* a new thread inherits its creator's mask: block around the create, then put it back */
    sigset_t set, old;
    stop_signals_fill(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int e = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}
