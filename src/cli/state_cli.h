/* state_cli.h — `kiln snapshot`, `kiln restore`, `kiln migrate`, `kiln receive`. */
#ifndef KILN_CLI_STATE_CLI_H
#define KILN_CLI_STATE_CLI_H
#include <stdint.h>

/* argv[0] is the subcommand ("snapshot", "restore", "migrate", "receive"). Returns the exit
 * status. */
int state_cli_main(int argc, char **argv, uint64_t start_ns);

#endif
