/* persist.c — section framing and fixed-width fields for component state (see persist.h).
 * A section is: name (32 bytes, NUL padded), version (u32), payload length (u64), payload. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/le.h"
#include "common/persist.h"

#define NAME_LEN 32
#define HEADER_LEN (NAME_LEN + 4 + 8)

void persist_writer_init(struct persist_writer *w)
{
    memset(w, 0, sizeof(*w));
    w->section_start = SIZE_MAX;
}

void persist_writer_free(struct persist_writer *w)
{
    free(w->buf);
    persist_writer_init(w);
}

static uint8_t *reserve(struct persist_writer *w, size_t n)
{
    if (w->oom)
        return NULL;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *p = realloc(w->buf, cap);
        if (!p) {
            w->oom = true;
            return NULL;
        }
        w->buf = p;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static void put_le(struct persist_writer *w, uint64_t v, unsigned n)
{
    uint8_t *p = reserve(w, n);
    if (p)
        le_put(p, v, n);
}

void persist_begin(struct persist_writer *w, const char *name, uint32_t version)
{
    uint8_t *p = reserve(w, NAME_LEN);
    if (p) {
        memset(p, 0, NAME_LEN);
        memcpy(p, name, strnlen(name, NAME_LEN - 1));
    }
    put_le(w, version, 4);
    w->section_start = w->len;
    put_le(w, 0, 8);
}

void persist_end(struct persist_writer *w)
{
    if (w->section_start == SIZE_MAX || w->oom)
        return;
    le_put(w->buf + w->section_start, w->len - w->section_start - 8, 8);
    w->section_start = SIZE_MAX;
}

void persist_u8(struct persist_writer *w, uint8_t v) { put_le(w, v, 1); }
void persist_u16(struct persist_writer *w, uint16_t v) { put_le(w, v, 2); }
void persist_u32(struct persist_writer *w, uint32_t v) { put_le(w, v, 4); }
void persist_u64(struct persist_writer *w, uint64_t v) { put_le(w, v, 8); }
void persist_bool(struct persist_writer *w, bool v) { put_le(w, v ? 1 : 0, 1); }

void persist_bytes(struct persist_writer *w, const void *src, size_t n)
{
    uint8_t *p = reserve(w, n);
    if (p && n)
        memcpy(p, src, n);
}

void persist_blob(struct persist_writer *w, const void *p, size_t n)
{
    persist_u32(w, (uint32_t)n);
    persist_bytes(w, p, n);
}

bool persist_writer_ok(const struct persist_writer *w)
{
    return !w->oom;
}

/* ---- reading ---- */

void persist_reader_init(struct persist_reader *r, const void *buf, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->buf = buf;
    r->len = len;
    r->section_end = len;
}

int persist_fail(struct persist_reader *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return -1;
}

static const uint8_t *take(struct persist_reader *r, size_t n)
{
    if (r->failed)
        return NULL;
    if (n > r->section_end - r->pos) {
        persist_fail(r, "state is truncated");
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_le(struct persist_reader *r, unsigned n)
{
    const uint8_t *p = take(r, n);
    return p ? le_get(p, n) : 0;
}

const char *persist_peek(struct persist_reader *r, char name[32])
{
    name[0] = 0;
    if (!r->failed && r->section_end - r->pos >= HEADER_LEN) {
        memcpy(name, r->buf + r->pos, NAME_LEN);
        name[NAME_LEN - 1] = 0;
    }
    return name;
}

int persist_open_v(struct persist_reader *r, const char *name, uint32_t max_version, uint32_t *version)
{
    const uint8_t *p = take(r, NAME_LEN);
    if (!p)
        return -1;
    char got[NAME_LEN];
    memcpy(got, p, NAME_LEN);
    got[NAME_LEN - 1] = 0;
    if (strcmp(got, name) != 0)
        return persist_fail(r, "expected the state of '%s', found '%.31s'", name, got);
    uint32_t v = (uint32_t)get_le(r, 4);
    uint64_t n = get_le(r, 8);
    if (r->failed)
        return -1;
    if (v > max_version || v == 0)
        return persist_fail(r, "'%s' state version %u is not supported (at most %u)", name, v, max_version);
    if (n > r->section_end - r->pos)
        return persist_fail(r, "'%s' state is truncated", name);
    r->section_end = r->pos + (size_t)n;
    if (version)
        *version = v;
    return 0;
}

int persist_close(struct persist_reader *r)
{
    if (r->failed)
        return -1;
    if (r->pos != r->section_end)
        return persist_fail(r, "state section has %zu unread bytes", r->section_end - r->pos);
    r->section_end = r->len;
    return 0;
}

uint8_t persist_get_u8(struct persist_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t persist_get_u16(struct persist_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t persist_get_u32(struct persist_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t persist_get_u64(struct persist_reader *r) { return get_le(r, 8); }

bool persist_get_bool(struct persist_reader *r)
{
    uint8_t v = persist_get_u8(r);
    if (v > 1)
        persist_fail(r, "state holds %u where a boolean belongs", v);
    return v == 1;
}

void persist_get_bytes(struct persist_reader *r, void *dst, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

const void *persist_get_blob(struct persist_reader *r, size_t max, size_t *len)
{
    uint32_t n = persist_get_u32(r);
    *len = 0;
    if (r->failed)
        return NULL;
    if (n > max) {
        persist_fail(r, "state holds a %u-byte item where at most %zu fit", n, max);
        return NULL;
    }
    const uint8_t *p = take(r, n);
    if (p)
        *len = n;
    return p;
}
