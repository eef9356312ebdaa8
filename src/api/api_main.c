/* api_main.c — PLACEHOLDER until the API lands (being written now): refuses API mode. */
#include <stdio.h>
#include "api/api.h"
#include "vm/config.h"

int api_main(int argc, char **argv, uint64_t start_ns)
{
    (void)argc;
    (void)start_ns;
    fprintf(stderr, "kiln: '%s': API mode is not available yet\n", argv[1]);
    return KILN_EXIT_USAGE;
}
