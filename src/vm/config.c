/* config.c — `kiln run` command-line parsing and validation. Every rejection is one clear line
 * on stderr and a distinct exit status; nothing is started until the whole config is valid. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/cpu_priority.h"
#include "common/cpu_quota.h"
#include "vm/backends.h"
#include "vm/config.h"
#include "vm/device_args.h"
#include "vm/resources.h"
#include "vm/run_cmd.h"
#include "vm/run_model.h"

void config_print_run_help(void)
{
    char accels[128];
    vm_accel_list(accels, sizeof(accels));
    printf(
        "usage: kiln run [options]\n"
        "       kiln run --rm [options] -- CMD [ARGS...]\n"
        "Boot a virtual machine with its console on this terminal.\n"
        "\n"
        "  --kernel FILE    Linux kernel: a RISC-V Image or an ELF (vmlinux). Default: the\n"
        "                   default guest's build/guest/Image (with its initramfs).\n"
        "  --initrd FILE    initial ramdisk loaded for the kernel (e.g. initramfs.cpio.gz)\n"
        "  --cmdline STR    kernel command line (default \"" KILN_DEFAULT_CMDLINE "\")\n"
        "  --firmware FILE  run FILE (ELF or raw binary) in M-mode at 0x80000000 instead of\n"
        "                   kiln's built-in SBI, like QEMU -bios; e.g. OpenSBI fw_dynamic.bin.\n"
        "                   Without --kernel, FILE runs alone (bare-metal programs).\n"
        "  --cpus N         number of vCPUs, 1-%d (default 1)\n"
        "  --mem SIZE       guest RAM in MiB (suffix M or G allowed), %d MiB up to the host's\n"
        "                   RAM (default %d)\n"
        "  --dtb-out FILE   also write the generated device tree blob to FILE\n"
        "  --accel NAME     the vCPU backend, one of: %s (default auto: the one for the\n"
        "                   kernel's architecture)\n"
        "  --cpu-limit QUOTA_US/PERIOD_US | N%% | none\n"
        "                   at most QUOTA_US of CPU time per PERIOD_US for all vCPUs together\n"
        "                   (cgroup cpu.max's numbers; period 1000-1000000), or N%% of one CPU\n"
        "                   (period 100 ms: 150%% is 1.5 CPUs). Enforced by kiln on its vCPU\n"
        "                   threads (a VM run through the API can change it while it runs)\n"
        "  --vcpu-priority normal|low|idle\n"
        "                   the vCPU threads' host priority: low is nice 19, idle is\n"
        "                   SCHED_IDLE (runs only on an otherwise idle CPU); for best-effort VMs\n"
        "  --jit on|off     translate guest code to x86-64 (default on, or $KILN_JIT);\n"
        "                   off runs the interpreter\n"
        "  --jit-cache-mb N translated-code cache per vCPU, 1-1024 MiB (default 4); flushed\n"
        "                   whole when full\n"
        "  --rm -- CMD [ARGS...]\n"
        "                   one-shot sandbox: boot the guest from its initramfs (nothing is\n"
        "                   written), run CMD with stdin, stdout and stderr connected to\n"
        "                   kiln's (on a terminal Ctrl-D ends stdin), and exit with CMD's\n"
        "                   status (127: not found). The command travels on the kernel\n"
        "                   command line: about 960 bytes, where a character other than\n"
        "                   A-Z a-z 0-9 _-./,:=+@%% counts 4.\n"
        "\n"
        "Paravirtual devices (virtio-mmio, at most %d in all; repeat --disk and --net):\n"
        "  --disk PATH[,readonly][,serial=ID][,bw=B][,ops=B]\n"
        "                   a raw disk image as virtio-blk (/dev/vda, /dev/vdb, ... in order)\n"
        "  --net user[,hostfwd=tcp:[HADDR]:HPORT-[GADDR]:GPORT]...[,mac=M][,rx_bw=B][,tx_bw=B]...\n"
        "                   user-mode networking (NAT, no root): guest 10.0.2.15 by DHCP,\n"
        "                   host reachable as 10.0.2.2, DNS 10.0.2.3; hostfwd forwards a host\n"
        "                   port (default address 127.0.0.1) into the guest; host-loopback=on\n"
        "                   lets the guest reach services on the host's 127.0.0.1 as 10.0.2.2\n"
        "                   (off by default)\n"
        "  --net tap=NAME[,mac=M][,rx_bw=B][,tx_bw=B][,rx_ops=B][,tx_ops=B]\n"
        "                   an existing TAP interface (ip tuntap add NAME mode tap)\n"
        "  --rng[=bw=B,ops=B]  virtio-rng fed by the host's getrandom()\n"
        "  --vsock cid=N,uds=PATH\n"
        "                   virtio-vsock; the host side is a Unix socket as in Firecracker:\n"
        "                   connect to PATH and send \"CONNECT <port>\\n\" to reach a guest port;\n"
        "                   guest connections to CID 2 port P go to the socket PATH_P\n"
        "  --balloon[=size=MIB,stats=SECONDS,deflate_on_oom]\n"
        "                   virtio-balloon with an initial target of MIB (default 0)\n"
        "  Rate limits B are Firecracker token buckets: SIZE/REFILL_MS[/ONE_TIME_BURST],\n"
        "  e.g. bw=10485760/1000 is 10 MiB/s (bw counts bytes, ops counts requests).\n"
        "  -h, --help       show this help\n"
        "\n"
        "Console: on a terminal, press Ctrl-A then x to quit (Ctrl-A h for help).\n"
        "With pipes, guest output goes to stdout and stdin feeds the guest; end of input does\n"
        "not stop the guest.\n"
        "\n"
        "Exit status: 0 when the guest powers off; the guest's code when it writes a failure\n"
        "code to the test finisher; 64 bad usage; 65 bad or oversized kernel/firmware/initrd;\n"
        "66 file not found; 70 the guest crashed beyond recovery; 71 host resources refused;\n"
        "128+N when stopped by signal N.\n",
        KILN_MAX_CPUS, KILN_MIN_MEM_MIB, KILN_DEFAULT_MEM_MIB, accels, KILN_MAX_VIRTIO);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kiln: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see kiln run --help)\n");
    return KILN_EXIT_USAGE;
}

/* A resources.c validator refused a flag's value: its reason after the flag, and the status. */
static int refused(const char *flag, const char *why, int status)
{
    fprintf(stderr, "kiln: %s: %s\n", flag, why);
    return status;
}

static bool parse_uint(const char *s, uint64_t *out, uint64_t *unit)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    *unit = 1;
    if (*end == 'M' || *end == 'm') {
        end++;
    } else if (*end == 'G' || *end == 'g') {
        *unit = 1024;
        end++;
    }
    if (*end)
        return false;
    *out = v;
    return true;
}

/* The default guest lives in build/guest next to the kiln binary (build/kiln), or one level up
 * for sanitizer builds (build/asan/kiln); KILN_GUEST_DIR overrides. */
static void find_default_guest(struct vm_config *cfg)
{
    char exe[PATH_MAX];
    const char *env = getenv("KILN_GUEST_DIR");
    if (env) {
        snprintf(cfg->default_kernel, sizeof(cfg->default_kernel), "%s/Image", env);
        snprintf(cfg->default_initrd, sizeof(cfg->default_initrd), "%s/initramfs.cpio.gz", env);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(exe, sizeof(exe), "build/kiln");
        n = (ssize_t)strlen(exe);
    }
    exe[n] = 0;
    char *dir = dirname(exe);
    const char *candidates[] = { "%s/guest", "%s/../guest" };
    for (int i = 0; i < 2; i++) {
        char gdir[2048];
        snprintf(gdir, sizeof(gdir), candidates[i], dir);
        snprintf(cfg->default_kernel, sizeof(cfg->default_kernel), "%s/Image", gdir);
        snprintf(cfg->default_initrd, sizeof(cfg->default_initrd), "%s/initramfs.cpio.gz", gdir);
        if (access(cfg->default_kernel, R_OK) == 0)
            return;
    }
    char gdir[2048];
    snprintf(gdir, sizeof(gdir), "%s/guest", dir);
    snprintf(cfg->default_kernel, sizeof(cfg->default_kernel), "%s/Image", gdir);
    snprintf(cfg->default_initrd, sizeof(cfg->default_initrd), "%s/initramfs.cpio.gz", gdir);
}

static unsigned virtio_count(const struct vm_config *cfg)
{
    return cfg->ndisks + cfg->nnets + cfg->has_rng + cfg->has_vsock + cfg->has_balloon;
}

/* The --net values as given: a user-mode one becomes the model's host_dev_name whole. */
static char net_spec[KILN_MAX_VIRTIO][RUN_NET_SPEC_MAX];

/* One device flag: its syntax. Its rules are the model's (run_model_build). Returns 0 or an exit
 * status after printing why. */
static int parse_device_flag(struct vm_config *cfg, int c, char *arg)
{
    char err[256];
    char empty[1] = "";
    int rc = 0;
    bool *once = c == 'R' ? &cfg->has_rng : c == 'V' ? &cfg->has_vsock : c == 'B' ? &cfg->has_balloon : NULL;
    if (once && *once)
        return usage_error("%s", "--rng, --vsock and --balloon can each be given once");
    if (virtio_count(cfg) == KILN_MAX_VIRTIO) {
        fprintf(stderr, "kiln: at most %d virtio devices (disks, NICs, rng, vsock, balloon)\n", KILN_MAX_VIRTIO);
        return KILN_EXIT_USAGE;
    }
    switch (c) {
    case 'D':
        rc = parse_disk_arg(arg, &cfg->disks[cfg->ndisks], err, sizeof(err));
        cfg->ndisks++;
        break;
    case 'N':
        if (strlen(arg) >= RUN_NET_SPEC_MAX)
            return usage_error("%s", "the --net value is too long");
        strcpy(net_spec[cfg->nnets], arg);   /* before parse_net_arg cuts arg up */
        rc = parse_net_arg(arg, cfg->nnets, &cfg->nets[cfg->nnets], err, sizeof(err));
        cfg->nnets++;
        break;
    case 'R': rc = parse_rng_arg(arg ? arg : empty, &cfg->rng, err, sizeof(err)); break;
    case 'V': rc = parse_vsock_arg(arg, &cfg->vsock, err, sizeof(err)); break;
    case 'B': rc = parse_balloon_arg(arg ? arg : empty, &cfg->balloon, err, sizeof(err)); break;
    }
    if (rc)
        return usage_error("%s", err);
    if (once)
        *once = true;
    return 0;
}

/* --rm: the command rides on the kernel command line, and the SBI console (the guest's
 * /dev/hvc0, where the command's stderr goes) comes out on kiln's stderr. */
static int config_prepare_rm(struct vm_config *cfg)
{
    static_assert(sizeof(cfg->run_cmdline) == RUN_CMD_CMDLINE_MAX, "run_cmdline is the kernel's limit");
    size_t need = run_cmd_build_cmdline(cfg->cmdline, cfg->guest_argc, cfg->guest_argv, cfg->run_cmdline,
                                        sizeof(cfg->run_cmdline));
    if (need) {
        fprintf(stderr, "kiln: the command is too long for the guest's kernel command line "
                        "(%zu bytes with encoding, at most %d): pass a script on a --disk instead\n",
                need, RUN_CMD_CMDLINE_MAX - 1);
        return KILN_EXIT_USAGE;
    }
    cfg->cmdline = cfg->run_cmdline;
    cfg->sbi_console_to_stderr = true;
    return 0;
}

/* The flags into cfg: kiln's own settings, and the machine and devices before they become the
 * model. Returns 0, an exit status, or -1 for --help. */
static int parse_flags(struct vm_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        { "kernel", required_argument, 0, 'k' },
        { "initrd", required_argument, 0, 'i' },
        { "cmdline", required_argument, 0, 'c' },
        { "firmware", required_argument, 0, 'f' },
        { "cpus", required_argument, 0, 'n' },
        { "mem", required_argument, 0, 'm' },
        { "dtb-out", required_argument, 0, 'd' },
        { "accel", required_argument, 0, 'a' },
        { "jit", required_argument, 0, 'J' },
        { "jit-cache-mb", required_argument, 0, 'C' },
        { "disk", required_argument, 0, 'D' },
        { "net", required_argument, 0, 'N' },
        { "rng", optional_argument, 0, 'R' },
        { "vsock", required_argument, 0, 'V' },
        { "balloon", optional_argument, 0, 'B' },
        { "rm", no_argument, 0, 'r' },
        { "cpu-limit", required_argument, 0, 'L' },
        { "vcpu-priority", required_argument, 0, 'P' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->cpus = 1;
    cfg->mem_mib = KILN_DEFAULT_MEM_MIB;
    cfg->cpu_period_us = CPU_QUOTA_DEFAULT_PERIOD_US;
    cfg->cmdline = NULL;

    opterr = 0;
    optind = 1;
    int c;
    uint64_t v, unit;
    char err[512];
    const char *last_optarg = NULL;
    /* '+': stop at the first non-option, so nothing after `--` is taken for kiln's own flags */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        last_optarg = optarg;
        switch (c) {
        case 'r': cfg->rm = true; break;
        case 'k': cfg->kernel = optarg; break;
        case 'i': cfg->initrd = optarg; break;
        case 'c': cfg->cmdline = optarg; break;
        case 'f': cfg->firmware = optarg; break;
        case 'd': cfg->dtb_out = optarg; break;
        case 'a':
            if (!vm_accel_known(optarg, err, sizeof(err)))
                return refused("--accel", err, KILN_EXIT_USAGE);
            cfg->accel = optarg;
            break;
        case 'J':
            if (strcmp(optarg, "on") && strcmp(optarg, "off"))
                return usage_error("--jit must be 'on' or 'off', not '%s'", optarg);
            cfg->jit = strcmp(optarg, "on") ? 1 : 2;
            break;
        case 'C':
            if (!parse_uint(optarg, &v, &unit) || unit != 1 || v > UINT_MAX)
                return usage_error("--jit-cache-mb must be a whole number of MiB, not '%s'", optarg);
            if (res_check_jit_cache((unsigned)v, err, sizeof(err)))
                return refused("--jit-cache-mb", err, KILN_EXIT_USAGE);
            cfg->jit_cache_mb = (unsigned)v;
            break;
        case 'n':
            if (!parse_uint(optarg, &v, &unit) || unit != 1 || v > UINT_MAX) {
                fprintf(stderr, "kiln: --cpus must be a whole number from 1 to %d, not '%s'\n",
                        KILN_MAX_CPUS, optarg);
                return KILN_EXIT_USAGE;
            }
            if (res_check_vcpus((unsigned)v, err, sizeof(err)))
                return refused("--cpus", err, KILN_EXIT_USAGE);
            cfg->cpus = (unsigned)v;
            break;
        case 'm':
            if (!parse_uint(optarg, &v, &unit) || v > UINT64_MAX / unit) {
                fprintf(stderr, "kiln: --mem must be a size in MiB (suffix M or G allowed), not '%s'\n",
                        optarg);
                return KILN_EXIT_USAGE;
            }
            if (res_check_mem(v * unit, err, sizeof(err)))
                return refused("--mem", err, KILN_EXIT_USAGE);
            cfg->mem_mib = v * unit;
            break;
        case 'L':
            if (cpu_quota_parse(optarg, &cfg->cpu_quota_us, &cfg->cpu_period_us, err, sizeof(err)))
                return refused("--cpu-limit", err, KILN_EXIT_USAGE);
            if (res_check_cpu_limit(cfg->cpu_quota_us, cfg->cpu_period_us, cfg->vcpu_priority, err, sizeof(err)))
                return refused("--cpu-limit", err, KILN_EXIT_USAGE);
            break;
        case 'P': {
            enum cpu_priority p;
            if (cpu_priority_parse(optarg, &p, err, sizeof(err)))
                return refused("--vcpu-priority", err, KILN_EXIT_USAGE);
            cfg->vcpu_priority = (int)p;
            break;
        }
        case 'D': case 'N': case 'R': case 'V': case 'B': {
            int rc = parse_device_flag(cfg, c, optarg);
            if (rc)
                return rc;
            break;
        }
        case 'h':
            config_print_run_help();
            return -1;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    /* getopt steps over a `--` separator; an option's value that happens to be "--" is not one */
    bool dashdash = optind > 1 && !strcmp(argv[optind - 1], "--") && argv[optind - 1] != last_optarg;
    if (dashdash) {
        cfg->guest_argc = argc - optind;
        cfg->guest_argv = argv + optind;
        if (!cfg->rm)
            return usage_error("%s", "a command after '--' needs --rm: kiln run --rm -- CMD [ARGS...]");
        if (!cfg->guest_argc)
            return usage_error("%s", "--rm needs a command after '--': kiln run --rm [options] -- CMD [ARGS...]");
    } else if (cfg->rm) {
        return usage_error("%s", "--rm needs a command after '--': kiln run --rm [options] -- CMD [ARGS...]");
    } else if (optind < argc) {
        return usage_error("unexpected argument '%s'", argv[optind]);
    }
    if (cfg->rm && cfg->firmware && !cfg->kernel)
        return usage_error("%s", "--rm runs a command in a Linux guest: it cannot be used with --firmware alone");
    if (cfg->initrd && !cfg->kernel && cfg->firmware)
        return usage_error("%s", "--initrd needs --kernel");
    return 0;
}

int config_parse_run(struct vm_config *cfg, int argc, char **argv)
{
    static struct vm_config flags;   /* big; its pointers are argv's and last until the build */
    int rc = parse_flags(&flags, argc, argv);
    if (rc)
        return rc;
    /* the machine and the devices: the same model, rules and build as the API's */
    if ((rc = run_model_build(&flags, net_spec, cfg)))
        return rc;
    /* the command line's own settings, layered on the built vm_config: its boot files are checked
     * by the loader (with the CLI's messages and exit statuses 65/66); the rest exists only here */
    cfg->kernel = flags.kernel;
    cfg->initrd = flags.initrd;
    cfg->cmdline = flags.cmdline;
    cfg->firmware = flags.firmware;
    cfg->dtb_out = flags.dtb_out;
    cfg->accel = flags.accel;
    cfg->jit = flags.jit;
    cfg->jit_cache_mb = flags.jit_cache_mb;
    cfg->rm = flags.rm;
    cfg->guest_argc = flags.guest_argc;
    cfg->guest_argv = flags.guest_argv;
    if (!cfg->kernel && !cfg->firmware) {
        find_default_guest(cfg);
        cfg->kernel = cfg->default_kernel;
        if (!cfg->initrd)
            cfg->initrd = cfg->default_initrd;
        if (access(cfg->kernel, R_OK) != 0) {
            fprintf(stderr, "kiln: no --kernel given and the default guest is not built (%s): "
                            "run 'make guest' first\n", cfg->kernel);
            return KILN_EXIT_NO_INPUT;
        }
    }
    /* --rm: the kernel console is the SBI console, so nothing opens the UART (the command's
     * stdin and stdout) before init has made it raw; an open tty with echo on would copy early
     * input to stdout */
    if (!cfg->cmdline)
        cfg->cmdline = cfg->rm ? "console=hvc0" : KILN_DEFAULT_CMDLINE;
    if (cfg->rm)
        return config_prepare_rm(cfg);
    return 0;
}
