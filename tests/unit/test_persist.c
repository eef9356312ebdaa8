/* test_persist.c — section framing and fixed-width fields of common/persist.c. */
#include <criterion/criterion.h>
#include <string.h>
#include "common/persist.h"

static struct persist_writer W;

static void setup(void) { persist_writer_init(&W); }
static void teardown(void) { persist_writer_free(&W); }
TestSuite(persist, .init = setup, .fini = teardown);

static void write_all(void)
{
    persist_begin(&W, "thing", 2);
    persist_u8(&W, 0xab);
    persist_u16(&W, 0xbeef);
    persist_u32(&W, 0xdeadbeef);
    persist_u64(&W, 0x0123456789abcdefull);
    persist_bool(&W, true);
    persist_bool(&W, false);
    persist_bytes(&W, "raw", 3);
    persist_blob(&W, "blobby", 6);
    persist_end(&W);
    cr_assert(persist_writer_ok(&W));
}

Test(persist, round_trip_of_every_field_type)
{
    write_all();
    persist_begin(&W, "second", 1);
    persist_u8(&W, 7);
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    char name[32];
    cr_assert_str_eq(persist_peek(&r, name), "thing");
    uint32_t v = 0;
    cr_assert_eq(persist_open_v(&r, "thing", 3, &v), 0);
    cr_assert_eq(v, 2);
    cr_assert_eq(persist_get_u8(&r), 0xab);
    cr_assert_eq(persist_get_u16(&r), 0xbeef);
    cr_assert_eq(persist_get_u32(&r), 0xdeadbeef);
    cr_assert_eq(persist_get_u64(&r), 0x0123456789abcdefull);
    cr_assert(persist_get_bool(&r));
    cr_assert_not(persist_get_bool(&r));
    char raw[3];
    persist_get_bytes(&r, raw, 3);
    cr_assert_arr_eq(raw, "raw", 3);
    size_t len;
    const char *blob = persist_get_blob(&r, 100, &len);
    cr_assert_eq(len, 6);
    cr_assert_arr_eq(blob, "blobby", 6);
    cr_assert_eq(persist_close(&r), 0);
    cr_assert_eq(persist_open(&r, "second", 1), 0);
    cr_assert_eq(persist_get_u8(&r), 7);
    cr_assert_eq(persist_close(&r), 0);
    cr_assert_str_eq(persist_peek(&r, name), "", "nothing after the last section");
    cr_assert(persist_ok(&r));
}

Test(persist, little_endian_on_the_wire)
{
    persist_begin(&W, "le", 1);
    persist_u32(&W, 0x11223344);
    persist_end(&W);
    cr_assert_eq(W.len, 44 + 4);
    const uint8_t want[] = { 0x44, 0x33, 0x22, 0x11 };
    cr_assert_arr_eq(W.buf + 44, want, 4);
    const uint8_t len[] = { 4, 0, 0, 0, 0, 0, 0, 0 };
    cr_assert_arr_eq(W.buf + 36, len, 8, "payload length");
}

Test(persist, every_truncation_is_an_error_and_reads_return_zero)
{
    write_all();
    for (size_t n = 0; n < W.len; n++) {
        struct persist_reader r;
        persist_reader_init(&r, W.buf, n);
        persist_open(&r, "thing", 2);
        persist_get_u8(&r);
        persist_get_u16(&r);
        persist_get_u32(&r);
        persist_get_u64(&r);
        persist_get_bool(&r);
        persist_get_bool(&r);
        char raw[3];
        persist_get_bytes(&r, raw, 3);
        size_t len;
        persist_get_blob(&r, 100, &len);
        cr_assert_eq(persist_close(&r), -1, "length %zu accepted", n);
        cr_assert_not(persist_ok(&r));
        cr_assert_str_not_empty(r.err);
        cr_assert_eq(persist_get_u64(&r), 0, "reads after an error return 0");
    }
}

Test(persist, wrong_section_name_is_refused)
{
    write_all();
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "other", 2), -1);
    cr_assert(strstr(r.err, "other") && strstr(r.err, "thing"), "%s", r.err);
}

Test(persist, newer_version_is_refused_older_accepted)
{
    write_all();
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "thing", 1), -1);
    cr_assert(strstr(r.err, "version 2"), "%s", r.err);
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "thing", 5), 0);
}

Test(persist, version_zero_is_refused)
{
    persist_begin(&W, "zero", 0);
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "zero", 1), -1);
}

Test(persist, unread_bytes_at_close_are_an_error)
{
    write_all();
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "thing", 2), 0);
    persist_get_u8(&r);
    cr_assert_eq(persist_close(&r), -1);
    cr_assert(strstr(r.err, "unread"), "%s", r.err);
}

Test(persist, reads_stop_at_the_section_end)
{
    persist_begin(&W, "a", 1);
    persist_u8(&W, 1);
    persist_end(&W);
    persist_begin(&W, "b", 1);
    persist_u64(&W, 2);
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "a", 1), 0);
    persist_get_u32(&r);    /* would run into section b */
    cr_assert_not(persist_ok(&r));
    cr_assert_eq(persist_close(&r), -1);
}

Test(persist, blob_larger_than_max_is_refused)
{
    persist_begin(&W, "blob", 1);
    persist_blob(&W, "0123456789", 10);
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "blob", 1), 0);
    size_t len = 99;
    cr_assert_null(persist_get_blob(&r, 9, &len));
    cr_assert_eq(len, 0);
    cr_assert_not(persist_ok(&r));
}

Test(persist, blob_length_beyond_the_buffer_is_refused)
{
    persist_begin(&W, "blob", 1);
    persist_u32(&W, 1000);   /* a length prefix with no bytes behind it */
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "blob", 1), 0);
    size_t len;
    cr_assert_null(persist_get_blob(&r, 4096, &len));
    cr_assert_not(persist_ok(&r));
}

Test(persist, bad_bool_and_first_error_wins)
{
    persist_begin(&W, "b", 1);
    persist_u8(&W, 2);
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "b", 1), 0);
    persist_get_bool(&r);
    cr_assert(strstr(r.err, "boolean"), "%s", r.err);
    persist_fail(&r, "later %d", 1);
    cr_assert(strstr(r.err, "boolean"), "the first error is kept: %s", r.err);
}

Test(persist, section_length_beyond_the_buffer_is_refused)
{
    write_all();
    W.buf[36] = 0xff;  /* payload length far beyond the data */
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    cr_assert_eq(persist_open(&r, "thing", 2), -1);
    cr_assert(strstr(r.err, "truncated"), "%s", r.err);
}

Test(persist, long_names_are_cut_to_31_characters)
{
    const char *longname = "abcdefghijklmnopqrstuvwxyz0123456789";
    persist_begin(&W, longname, 1);
    persist_end(&W);
    struct persist_reader r;
    persist_reader_init(&r, W.buf, W.len);
    char name[32];
    cr_assert_eq(strlen(persist_peek(&r, name)), 31);
    cr_assert_eq(persist_open(&r, "abcdefghijklmnopqrstuvwxyz01234", 1), 0);
    cr_assert_eq(persist_close(&r), 0);
}
