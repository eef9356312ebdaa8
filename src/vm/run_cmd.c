/* run_cmd.c — turning `kiln run --rm -- CMD ARGS...` into the kernel command line. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "vm/run_cmd.h"

/* Characters a shell takes literally: such words need no quotes, which keeps the common case
 * short (the command line has only ~1000 bytes). */
static bool is_plain_char(char c)
{
    return c && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./,:=+@%", c);
}

static bool is_plain(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_plain_char(*s))
            return false;
    return true;
}

static void put(char *out, size_t size, size_t *n, char c)
{
    if (*n + 1 < size)
        out[*n] = c;
    (*n)++;
}

size_t run_cmd_quote(int argc, char *const *argv, char *out, size_t size)
{
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i)
            put(out, size, &n, ' ');
        if (is_plain(a)) {
            for (; *a; a++)
                put(out, size, &n, *a);
            continue;
        }
        /* inside '...' everything is literal except ' itself, written as '\'' */
        put(out, size, &n, '\'');
        for (; *a; a++) {
            if (*a == '\'') {
                put(out, size, &n, '\'');
                put(out, size, &n, '\\');
                put(out, size, &n, '\'');
            }
            put(out, size, &n, *a);
        }
        put(out, size, &n, '\'');
    }
    if (size)
        out[n < size ? n : size - 1] = 0;
    return n;
}

/* Bytes a shell's $'...' and the kernel's parameter parser both take literally stay as they
 * are; every other byte becomes \xHH. The guest decodes it with `eval "run=$'...'"`, a
 * builtin: no decoder process to start (each one costs ~15 ms of boot in the guest). */
static size_t escape(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        if (is_plain_char(*in)) {
            put(out, size, &n, *in);
            continue;
        }
        put(out, size, &n, '\\');
        put(out, size, &n, 'x');
        put(out, size, &n, hex[c >> 4]);
        put(out, size, &n, hex[c & 15]);
    }
    if (size)
        out[n < size ? n : size - 1] = 0;
    return n;
}

size_t run_cmd_build_cmdline(const char *base, int argc, char *const *argv, char *out, size_t size)
{
    char quoted[RUN_CMD_CMDLINE_MAX];
    size_t qlen = run_cmd_quote(argc, argv, quoted, sizeof(quoted));
    size_t prefix = strlen(base) + strlen(RUN_CMD_CMDLINE_EXTRA);
    if (qlen >= sizeof(quoted) || prefix >= size)
        return prefix + qlen; /* too long already: escaping only adds */
    snprintf(out, size, "%s%s", base, RUN_CMD_CMDLINE_EXTRA);
    size_t need = prefix + escape(quoted, out + prefix, size - prefix);
    return need < size ? 0 : need;
}
