/* run_template.h — `kiln run --rm` from a pre-booted sandbox.
 *
 * The first `kiln run --rm` of a configuration boots the guest with `kiln.run=-`: its init
 * does everything it does for a sandbox, then tells kiln it is ready (boot-timer byte 124) and
 * reads the command from its first line of console input. kiln snapshots it right there (a
 * template, cached under $XDG_CACHE_HOME/kiln/run-rm or ~/.cache/kiln/run-rm, keyed by the
 * kiln binary, kernel, initrd, command line, vCPUs, memory and rng options) and sends the
 * command. Every later run restores the template (its memory file mapped copy-on-write) and
 * sends the command the same way: the guest's kernel command line was consumed long ago, so
 * the command travels on the console, encoded exactly as kiln.run= would carry it.
 *
 * Configurations with disks, network interfaces, vsock, balloon or firmware boot cold, as
 * before (a disk's contents may change between runs; the guest would hold stale caches). */
#ifndef KILN_VM_RUN_TEMPLATE_H
#define KILN_VM_RUN_TEMPLATE_H
#include <stdint.h>
#include "vm/config.h"

#define RUN_TEMPLATE_UNUSABLE (-1)

/* Runs cfg's --rm command through the template (restoring it, or making it on this run).
 * Returns kiln's exit status, or RUN_TEMPLATE_UNUSABLE when this configuration cannot use a
 * template (the caller boots cold). */
int run_rm_from_template(const struct vm_config *cfg, uint64_t start_ns);

#endif
