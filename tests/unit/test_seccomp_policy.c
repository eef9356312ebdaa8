/* test_seccomp_policy.c — the allowlists hold: each kind of thread can do its work and nothing
 * outside its list (each case runs in a forked child, which the filter may kill). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sandbox/seccomp_policy.h"

/* Runs fn in a child; returns its wait status. */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_killed_by_sigsys(int status)
{
    cr_assert(WIFSIGNALED(status), "child was not killed (status %#x)", status);
    cr_assert_eq(WTERMSIG(status), SIGSYS);
}

static void assert_exited(int status, int code)
{
    cr_assert(WIFEXITED(status), "child died by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), code);
}

static void *noop(void *arg) { return arg; }

static void main_starts_threads_and_sockets(void)
{
    if (seccomp_policy_install(KILN_THREAD_MAIN)) _exit(10);
    pthread_t t;
    if (pthread_create(&t, NULL, noop, NULL)) _exit(11);
    pthread_join(t, NULL);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) _exit(12);
    close(fd);
    _exit(0);
}

static void main_execs(void)
{
    if (seccomp_policy_install(KILN_THREAD_MAIN)) _exit(10);
    char *const argv[] = {"/bin/true", NULL};
    execve(argv[0], argv, NULL);
    _exit(20); /* not reached: the filter kills first */
}

static void device_uses_sockets(void)
{
    if (seccomp_policy_install(KILN_THREAD_MAIN) || seccomp_policy_install(KILN_THREAD_DEVICE))
        _exit(10);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) _exit(12);
    close(fd);
    _exit(0);
}

static void device_opens_a_memfd(void)
{
    if (seccomp_policy_install(KILN_THREAD_MAIN) || seccomp_policy_install(KILN_THREAD_DEVICE))
        _exit(10);
    memfd_create("x", 0); /* main thread only */
    _exit(20);
}

static void vcpu_makes_a_socket(void)
{
    if (seccomp_policy_install(KILN_THREAD_MAIN) || seccomp_policy_install(KILN_THREAD_VCPU))
        _exit(10);
    socket(AF_UNIX, SOCK_STREAM, 0);
    _exit(20);
}

static void vcpu_starts_a_thread(void)
{
    /* a vCPU's MMIO write may start the RTC's alarm thread */
    if (seccomp_policy_install(KILN_THREAD_MAIN) || seccomp_policy_install(KILN_THREAD_VCPU))
        _exit(10);
    pthread_t t;
    if (pthread_create(&t, NULL, noop, NULL)) _exit(11);
    pthread_join(t, NULL);
    if (prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0)) _exit(13);   /* as every hart thread does */
    _exit(0);
}

static void disabled_allows_everything(void)
{
    seccomp_policy_disable();
    if (seccomp_policy_install(KILN_THREAD_VCPU)) _exit(10);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    _exit(fd >= 0 ? 0 : 12);
}

Test(seccomp_policy, main_thread_starts_threads_and_opens_sockets)
{
    assert_exited(in_child(main_starts_threads_and_sockets), 0);
}

Test(seccomp_policy, no_thread_may_start_a_program)
{
    assert_killed_by_sigsys(in_child(main_execs));
}

Test(seccomp_policy, device_threads_use_sockets_but_make_no_memfd)
{
    assert_exited(in_child(device_uses_sockets), 0);
    assert_killed_by_sigsys(in_child(device_opens_a_memfd));
}

Test(seccomp_policy, vcpu_threads_make_no_sockets_but_start_threads)
{
    assert_killed_by_sigsys(in_child(vcpu_makes_a_socket));
    assert_exited(in_child(vcpu_starts_a_thread), 0);
}

Test(seccomp_policy, no_seccomp_installs_nothing)
{
    assert_exited(in_child(disabled_allows_everything), 0);
}

Test(seccomp_policy, flag_is_taken_before_the_command_only)
{
    char a0[] = "kiln", a1[] = "run", a2[] = "--no-seccomp", a3[] = "--rm", a4[] = "--",
         a5[] = "prog", a6[] = "--no-seccomp";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, NULL};
    int argc = seccomp_policy_take_flag(7, argv);
    cr_assert_eq(argc, 6);
    cr_assert_str_eq(argv[2], "--rm");
    cr_assert_str_eq(argv[4], "prog");
    cr_assert_str_eq(argv[5], "--no-seccomp", "a flag after -- belongs to the guest's command");
    cr_assert_null(argv[6]);
    cr_assert_not(seccomp_policy_enabled());
}
