/* device_args.h — parses the device flags of `kiln run` (--disk, --net, --vsock, --rng,
 * --balloon) into the device option structs. Each takes a comma-separated list, modifies it in
 * place (option strings point into it), and returns 0 or writes a one-line reason into err. */
#ifndef KILN_VM_DEVICE_ARGS_H
#define KILN_VM_DEVICE_ARGS_H
#include <stddef.h>
#include "dev/virtio/options.h"

int parse_disk_arg(char *arg, struct disk_options *o, char *err, size_t errlen);
/* index numbers the NICs for their default MAC address (52:54:00:12:34:56 + index) */
int parse_net_arg(char *arg, unsigned index, struct net_options *o, char *err, size_t errlen);
int parse_vsock_arg(char *arg, struct vsock_options *o, char *err, size_t errlen);
int parse_rng_arg(char *arg, struct rng_options *o, char *err, size_t errlen);
int parse_balloon_arg(char *arg, struct balloon_options *o, char *err, size_t errlen);

#endif
