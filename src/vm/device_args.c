/* device_args.c — "key=value,flag,..." device options. Spelling follows QEMU where users know
 * it (hostfwd=tcp:127.0.0.1:8022-:22, mac=) and Firecracker for rate limits (bandwidth and ops
 * token buckets: bw=SIZE/REFILL_MS[/BURST], ops=SIZE/REFILL_MS[/BURST]). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vm/device_args.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Splits "a,b=c,..." at the next comma: returns the current item, advances *rest. */
static char *next_item(char **rest)
{
    char *item = *rest;
    if (!item || !*item)
        return NULL;
    char *comma = strchr(item, ',');
    if (comma) {
        *comma = 0;
        *rest = comma + 1;
    } else {
        *rest = NULL;
    }
    return item;
}

/* "key=value" → value if item's key is key, else NULL */
static char *value_of(char *item, const char *key)
{
    size_t n = strlen(key);
    return strncmp(item, key, n) == 0 && item[n] == '=' ? item + n + 1 : NULL;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* A rate-limit bucket item; returns 1 if item was one, 0 if not, -1 on a bad value. */
static int bucket_item(char *item, const char *key, struct token_bucket_config *b, char *err, size_t errlen)
{
    char *v = value_of(item, key);
    if (!v)
        return 0;
    if (token_bucket_parse(v, b) != 0)
        FAIL("bad %s '%s': expected SIZE/REFILL_MS[/ONE_TIME_BURST], e.g. %s=10485760/1000", key, v, key);
    return 1;
}

int parse_disk_arg(char *arg, struct disk_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    char *rest = arg, *item;
    o->path = next_item(&rest);
    if (!o->path || !*o->path)
        FAIL("--disk needs an image path: --disk PATH[,readonly][,serial=ID][,bw=..][,ops=..]");
    while ((item = next_item(&rest))) {
        int r;
        if (!strcmp(item, "readonly") || !strcmp(item, "ro"))
            o->readonly = true;
        else if (value_of(item, "serial"))
            o->serial = value_of(item, "serial");   /* its length is res_check_drive's rule */
        else if ((r = bucket_item(item, "bw", &o->limit.bandwidth, err, errlen)) ||
                   (r = bucket_item(item, "ops", &o->limit.ops, err, errlen))) {
            if (r < 0)
                return -1;
        } else
            FAIL("unknown disk option '%s' (readonly, serial=, bw=, ops=)", item);
    }
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            return -1;
        mac[i] = (uint8_t)v[i];
    }
    return 0;   /* unicast or not is res_check_mac's rule, for every front end */
}

/* [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport */
static int parse_hostfwd(const char *s, struct hostfwd *f)
{
    memset(f, 0, sizeof(*f));
    char proto[8];
    const char *p = s;
    const char *colon = strchr(p, ':');
    if (!colon || colon - p >= (long)sizeof(proto))
        return -1;
    memcpy(proto, p, (size_t)(colon - p));
    proto[colon - p] = 0;
    if (!strcmp(proto, "udp"))
        f->udp = true;
    else if (strcmp(proto, "tcp") && proto[0])
        return -1;
    p = colon + 1;
    const char *dash = strchr(p, '-');
    if (!dash)
        return -1;
    char host[128], guest[128];
    if ((size_t)(dash - p) >= sizeof(host) || strlen(dash + 1) >= sizeof(guest))
        return -1;
    memcpy(host, p, (size_t)(dash - p));
    host[dash - p] = 0;
    strcpy(guest, dash + 1);
    char *hc = strrchr(host, ':'), *gc = strrchr(guest, ':');
    if (!hc || !gc)
        return -1;
    *hc = 0;
    *gc = 0;
    uint64_t hp, gp;
    if (!parse_u64(hc + 1, &hp) || !parse_u64(gc + 1, &gp) || hp > 65535 || gp == 0 || gp > 65535)
        return -1;
    if (strlen(host) >= sizeof(f->host_addr) || strlen(guest) >= sizeof(f->guest_addr))
        return -1;
    strcpy(f->host_addr, host);
    strcpy(f->guest_addr, guest);
    f->host_port = (uint16_t)hp;
    f->guest_port = (uint16_t)gp;
    return 0;
}

int parse_net_arg(char *arg, unsigned index, struct net_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    memcpy(o->mac, default_mac, 6);
    o->mac[5] = (uint8_t)(o->mac[5] + index);
    char *rest = arg, *item = next_item(&rest);
    if (item && !strcmp(item, "user"))
        o->backend = NET_USER;
    else if (item && value_of(item, "tap") && *value_of(item, "tap")) {
        o->backend = NET_TAP;
        o->tap = value_of(item, "tap");
    } else
        FAIL("--net must start with 'user' or 'tap=NAME', not '%s'", item ? item : "");
    while ((item = next_item(&rest))) {
        char *v;
        int r;
        if ((v = value_of(item, "mac"))) {
            if (parse_mac(v, o->mac) != 0)
                FAIL("bad MAC address '%s' (expected a unicast xx:xx:xx:xx:xx:xx)", v);
        } else if ((v = value_of(item, "hostfwd"))) {
            if (o->backend != NET_USER)
                FAIL("hostfwd= needs user-mode networking (--net user,...)");
            if (o->nhostfwd == KILN_MAX_HOSTFWD)
                FAIL("at most %d hostfwd= per network interface", KILN_MAX_HOSTFWD);
            if (parse_hostfwd(v, &o->hostfwd[o->nhostfwd]) != 0)
                FAIL("bad hostfwd '%s' (expected tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)", v);
            o->nhostfwd++;
        } else if ((v = value_of(item, "host-loopback"))) {
            if (o->backend != NET_USER)
                FAIL("host-loopback= needs user-mode networking (--net user,...)");
            if (!strcmp(v, "on"))
                o->host_loopback = true;
            else if (!strcmp(v, "off"))
                o->host_loopback = false;
            else
                FAIL("host-loopback must be 'on' or 'off', not '%s'", v);
        } else if ((r = bucket_item(item, "rx_bw", &o->rx_limit.bandwidth, err, errlen)) ||
                   (r = bucket_item(item, "rx_ops", &o->rx_limit.ops, err, errlen)) ||
                   (r = bucket_item(item, "tx_bw", &o->tx_limit.bandwidth, err, errlen)) ||
                   (r = bucket_item(item, "tx_ops", &o->tx_limit.ops, err, errlen))) {
            if (r < 0)
                return -1;
        } else
            FAIL("unknown network option '%s' (mac=, hostfwd=, host-loopback=, rx_bw=, rx_ops=, tx_bw=, tx_ops=)", item);
    }
    return 0;
}

int parse_vsock_arg(char *arg, struct vsock_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    char *rest = arg, *item, *v;
    uint64_t cid = 0;
    bool has_cid = false;
    while ((item = next_item(&rest))) {
        if ((v = value_of(item, "cid"))) {
            if (!parse_u64(v, &cid) || cid > 0xffffffffull)   /* >= 3: res_check_vsock */
                FAIL("vsock cid must be a number from 3 to 4294967295, not '%s'", v);
            has_cid = true;
        } else if ((v = value_of(item, "uds")) && *v)
            o->uds_path = v;
        else
            FAIL("unknown vsock option '%s' (cid=N,uds=PATH)", item);
    }
    if (!has_cid || !o->uds_path)
        FAIL("--vsock needs cid=N and uds=PATH, e.g. --vsock cid=3,uds=/tmp/v.sock");
    o->guest_cid = (uint32_t)cid;
    return 0;
}

int parse_rng_arg(char *arg, struct rng_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    char *rest = arg, *item;
    while ((item = next_item(&rest))) {
        int r;
        if ((r = bucket_item(item, "bw", &o->limit.bandwidth, err, errlen)) ||
            (r = bucket_item(item, "ops", &o->limit.ops, err, errlen))) {
            if (r < 0)
                return -1;
        } else
            FAIL("unknown rng option '%s' (bw=, ops=)", item);
    }
    return 0;
}

int parse_balloon_arg(char *arg, struct balloon_options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    char *rest = arg, *item, *v;
    uint64_t n;
    while ((item = next_item(&rest))) {
        if ((v = value_of(item, "size"))) {
            if (!parse_u64(v, &n) || n > 0xffffffffull)
                FAIL("balloon size must be a number of MiB, not '%s'", v);
            o->amount_mib = (uint32_t)n;
        } else if ((v = value_of(item, "stats"))) {
            if (!parse_u64(v, &n) || n > 0xffffffffull)   /* the upper limit: res_check_balloon */
                FAIL("balloon stats must be a polling interval in seconds, not '%s'", v);
            o->stats_polling_s = (uint32_t)n;
        } else if (!strcmp(item, "deflate_on_oom"))
            o->deflate_on_oom = true;
        else
            FAIL("unknown balloon option '%s' (size=MIB, stats=SECONDS, deflate_on_oom)", item);
    }
    return 0;
}
