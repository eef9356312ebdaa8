/* test_threads.c — threads kiln creates never take a stop signal, whatever their creator's mask. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include "common/threads.h"

static void *report_mask(void *arg)
{
    pthread_sigmask(SIG_BLOCK, NULL, arg);
    return NULL;
}

Test(threads, new_thread_blocks_the_stop_signals_and_the_caller_keeps_its_mask)
{
    sigset_t none, mine, theirs;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);   /* a creator that blocks nothing */
    pthread_t t;
    cr_assert_eq(thread_create_unsignalled(&t, report_mask, &theirs), 0);
    pthread_join(t, NULL);
    cr_assert(sigismember(&theirs, SIGINT) == 1);
    cr_assert(sigismember(&theirs, SIGTERM) == 1);
    cr_assert(sigismember(&theirs, SIGHUP) == 1);
    pthread_sigmask(SIG_BLOCK, NULL, &mine);
    cr_assert(sigismember(&mine, SIGTERM) == 0, "the creator's own mask changed");
}

Test(threads, stop_signals_block_blocks_exactly_the_stop_signals)
{
    sigset_t none, mine;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    stop_signals_block();
    pthread_sigmask(SIG_BLOCK, NULL, &mine);
    cr_assert(sigismember(&mine, SIGINT) == 1 && sigismember(&mine, SIGTERM) == 1 &&
              sigismember(&mine, SIGHUP) == 1);
    cr_assert(sigismember(&mine, SIGUSR1) == 0 && sigismember(&mine, SIGPIPE) == 0);
}
