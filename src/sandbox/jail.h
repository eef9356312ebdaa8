/* jail.h — `kiln jail [options] -- COMMAND...`: run a kiln command the way Firecracker's jailer
 * runs Firecracker: in new mount, PID, IPC and UTS namespaces (network optional), inside a
 * pivot_root'ed directory that holds only the files the VM needs, as an unprivileged uid/gid,
 * with no inherited descriptors, resource limits set, and in a cgroup of its own.
 *
 * Unlike Firecracker's jailer, kiln does not exec a copy of itself in the jail: the jail is set
 * up in a forked child of this process, which then runs COMMAND in-process. kiln's shared
 * libraries are already loaded, so the jail holds no binaries and no libraries at all.
 */
#ifndef KILN_SANDBOX_JAIL_H
#define KILN_SANDBOX_JAIL_H

#define JAIL_RUN_COMMAND 0
#define JAIL_EXIT 1

/* argv[0] is "jail". In the jailed child, returns JAIL_RUN_COMMAND with COMMAND in cmd_argc and
 * cmd_argv (its argv[0] = "kiln"), for the caller to run as usual. In the parent, which waits
 * for the child, and on errors (message on stderr), returns JAIL_EXIT with the status to end
 * with in exit_status: the command's, or 128+N if signal N ended it. */
int jail_main(int argc, char **argv, int *cmd_argc, char ***cmd_argv, int *exit_status);

/* The value of COMMAND's --cpu-limit (`--cpu-limit V` or `--cpu-limit=V`, the last one, before
 * any `--`), or NULL: the jail expresses the same limit as a cgroup limit. */
const char *jail_command_cpu_limit(int argc, char *const *argv);

#endif
