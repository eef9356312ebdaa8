/* persist.h — the one save/restore interface every stateful component uses (snapshots and live
 * migration are built on it). A component writes its state as a named section of fixed-width
 * little-endian fields:
 *
 *     persist_begin(w, "uart", 1);          // section name and the component's state version
 *     persist_u8(w, u->ier); ...
 *     persist_end(w);
 *
 * and reads it back in the same order:
 *
 *     if (persist_open(r, "uart", 1) != 0) return -1;   // wrong name/version: error
 *     u->ier = persist_get_u8(r); ...
 *     return persist_close(r);                // -1 if the section was short, long or corrupt
 *
 * The reader never reads past its buffer: after the first error every get returns 0 and the
 * error sticks, so a restore function can read everything and check once at the end (it must
 * still validate values before using them as indices or sizes). Errors carry one line of text
 * for the user. Architectural state only: caches, TLBs, host fds and threads are not state. */
#ifndef KILN_COMMON_PERSIST_H
#define KILN_COMMON_PERSIST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct persist_writer {
    uint8_t *buf;
    size_t len, cap;
    size_t section_start;     /* offset of the open section's length field, or SIZE_MAX */
    bool oom;
};

struct persist_reader {
    const uint8_t *buf;
    size_t len, pos;
    size_t section_end;       /* end of the open section, or len */
    bool failed;
    char err[256];
};

void persist_writer_init(struct persist_writer *w);
void persist_writer_free(struct persist_writer *w);
/* A section: name (at most 31 characters) and the writer's state version. */
void persist_begin(struct persist_writer *w, const char *name, uint32_t version);
void persist_end(struct persist_writer *w);
void persist_u8(struct persist_writer *w, uint8_t v);
void persist_u16(struct persist_writer *w, uint16_t v);
void persist_u32(struct persist_writer *w, uint32_t v);
void persist_u64(struct persist_writer *w, uint64_t v);
void persist_bool(struct persist_writer *w, bool v);
void persist_bytes(struct persist_writer *w, const void *p, size_t n);
/* a length-prefixed blob (u32 length, then the bytes) */
void persist_blob(struct persist_writer *w, const void *p, size_t n);
/* true unless an allocation failed somewhere */
bool persist_writer_ok(const struct persist_writer *w);

void persist_reader_init(struct persist_reader *r, const void *buf, size_t len);
/* Opens the next section, which must be `name` with a version <= max_version (a newer writer's
 * state is refused). Returns 0 or -1 (error recorded). *version receives the version if not
 * NULL. */
int persist_open_v(struct persist_reader *r, const char *name, uint32_t max_version, uint32_t *version);
static inline int persist_open(struct persist_reader *r, const char *name, uint32_t version)
{
    return persist_open_v(r, name, version, NULL);
}
/* Closes the section: -1 (error recorded) if it was not read exactly to its end or anything
 * failed inside it. */
int persist_close(struct persist_reader *r);
/* Peeks at the next section's name without consuming it ("" at the end or on error). */
const char *persist_peek(struct persist_reader *r, char name[32]);
uint8_t persist_get_u8(struct persist_reader *r);
uint16_t persist_get_u16(struct persist_reader *r);
uint32_t persist_get_u32(struct persist_reader *r);
uint64_t persist_get_u64(struct persist_reader *r);
bool persist_get_bool(struct persist_reader *r);      /* anything but 0/1 is an error */
void persist_get_bytes(struct persist_reader *r, void *p, size_t n);
/* A blob written with persist_blob: pointer into the reader's buffer (NULL on error) and its
 * length; max bounds it (larger is an error). */
const void *persist_get_blob(struct persist_reader *r, size_t max, size_t *len);
/* Records an error (first one wins) and returns -1: for values that fail validation. */
int persist_fail(struct persist_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool persist_ok(const struct persist_reader *r) { return !r->failed; }

#endif
