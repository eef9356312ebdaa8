/* main.c — the kiln command line: `kiln run [options]`. */
#include <stdio.h>
#include <string.h>
#include "api/api.h"
#include "cli/state_cli.h"
#include "common/clock.h"
#include "sandbox/jail.h"
#include "sandbox/seccomp_policy.h"
#include "vm/config.h"
#include "version.h"
#include "vm/vm.h"


static void print_help(void)
{
    printf("kiln %s — a small virtual machine monitor\n"
           "\n"
           "usage: kiln run [options]     boot a VM (see kiln run --help)\n"
           "       kiln --api-sock PATH   serve Firecracker's REST API on a Unix socket\n"
           "       kiln --config-file FILE [--no-api]   boot from Firecracker's JSON config\n"
           "       kiln --api-help        all API-mode flags\n"
           "       kiln snapshot create --api-sock SOCK --snapshot FILE --mem FILE [--diff] [--resume]\n"
           "       kiln snapshot merge BASE_MEM DIFF_MEM\n"
           "       kiln restore --snapshot FILE --mem FILE [--api-sock PATH]\n"
           "       kiln migrate --api-sock SOCK --to unix:PATH|tcp:HOST:PORT [--downtime-ms N]\n"
           "       kiln receive --from unix:PATH|tcp:HOST:PORT [--api-sock PATH]\n"
           "       kiln jail --id ID [options] -- COMMAND...   run a kiln command in a jail\n"
           "       kiln --version\n"
           "       kiln --help\n",
           KILN_VERSION);
}

int main(int argc, char **argv)
{
    uint64_t start_ns = clock_monotonic_ns();
    argc = seccomp_policy_take_flag(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "jail")) {
        /* the jail is set up before any filter: it mounts and changes identity */
        int status;
        if (jail_main(argc - 1, argv + 1, &argc, &argv, &status) == JAIL_EXIT)
            return status;
        argc = seccomp_policy_take_flag(argc, argv);   /* jailed child: COMMAND's own flags */
    }
    /* before any thread exists, so that every thread inherits it */
    if (seccomp_policy_install(KILN_THREAD_MAIN))
        return KILN_EXIT_HOST;
    seccomp_policy_debug_probe(KILN_THREAD_MAIN);
    if (argc < 2) {
        print_help();
        return KILN_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help();
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kiln %s\n", KILN_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "run")) {
        struct vm_config cfg;
        int rc = config_parse_run(&cfg, argc - 1, argv + 1);
        if (rc == -1)
            return 0;
        if (rc)
            return rc;
        return vm_run(&cfg, start_ns);
    }
    if (!strcmp(argv[1], "snapshot") || !strcmp(argv[1], "restore") || !strcmp(argv[1], "migrate") ||
        !strcmp(argv[1], "receive"))
        return state_cli_main(argc - 1, argv + 1, start_ns);
    if (!strncmp(argv[1], "--", 2))
        return api_main(argc, argv, start_ns);
    fprintf(stderr, "kiln: unknown command '%s' (see kiln --help)\n", argv[1]);
    return KILN_EXIT_USAGE;
}
