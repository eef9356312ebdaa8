/* api.h — kiln's Firecracker-compatible front end: `kiln --api-sock PATH`, `kiln --config-file
 * FILE [--no-api]` and the other flags Firecracker's binary takes. */
#ifndef KILN_API_API_H
#define KILN_API_API_H
#include <stdint.h>

/* argv[0] is the program name; argv[1..] are Firecracker-style flags. Returns the exit status.
 * start_ns is the process start (CLOCK_MONOTONIC). */
int api_main(int argc, char **argv, uint64_t start_ns);

#endif
