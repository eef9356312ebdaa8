/* run_cmd.h — `kiln run --rm -- CMD ARGS...`: the command travels to the guest on the kernel
 * command line as kiln.run=<a shell command line, bytes other than [A-Za-z0-9_-./,:=+@%] as
 * \xHH>; the guest's init decodes it with the shell's $'...' and runs it with `sh -c` (see
 * guest/init), so every argument arrives exactly as given. */
#ifndef KILN_VM_RUN_CMD_H
#define KILN_VM_RUN_CMD_H
#include <stddef.h>

/* riscv's COMMAND_LINE_SIZE (arch/riscv/include/uapi/asm/setup.h), including the NUL: the
 * kernel silently truncates anything longer, which would cut the command. */
#define RUN_CMD_CMDLINE_MAX 1024

/* What --rm adds to the base command line: no kernel messages; no legacy BSD ptys (nothing
 * in a sandbox uses /dev/ptyXX, and creating 512 of those devices is ~30% of the guest's
 * boot); then the command. */
#define RUN_CMD_CMDLINE_EXTRA " quiet loglevel=0 pty.legacy_count=0 kiln.run="

/* Quotes argv for a POSIX shell into out (NUL-terminated). Returns the quoted length, which is
 * also what it needs when it is >= size (out then holds a truncated, unusable prefix). */
size_t run_cmd_quote(int argc, char *const *argv, char *out, size_t size);

/* Writes base + RUN_CMD_CMDLINE_EXTRA + escaped(quoted argv) into out (size bytes, at most
 * RUN_CMD_CMDLINE_MAX). Returns 0, or the length the command line would need (> size - 1). */
size_t run_cmd_build_cmdline(const char *base, int argc, char *const *argv, char *out, size_t size);

#endif
