/* threads.h — the stop signals (SIGINT, SIGTERM, SIGHUP) and creating threads that never take
 * them. kiln turns a stop signal into a clean shutdown (terminal restored, sockets removed,
 * status 128+N) only if the thread that waits for it is the one the kernel picks: every other
 * thread must have them blocked, whichever thread created it and whenever. */
#ifndef KILN_COMMON_THREADS_H
#define KILN_COMMON_THREADS_H
#include <pthread.h>
#include <signal.h>

/* set = { SIGINT, SIGTERM, SIGHUP } */
void stop_signals_fill(sigset_t *set);
/* Blocks the stop signals in the calling thread (and so in every thread it creates later). */
void stop_signals_block(void);
/* pthread_create, with the stop signals blocked in the new thread whatever the caller's mask.
 * Returns 0 or pthread_create's error number. */
int thread_create_unsignalled(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
