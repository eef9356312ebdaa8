/* fuzz_http.c — the API's HTTP/1.1 request-head parser (src/api/http_parser.c) on any bytes.
 * Besides memory safety it checks the parser's promises: an accepted head lies inside the
 * buffer, its path inside the buffer (or the static "/"), its method is a short C string; an
 * error message is printable ASCII; and a client sending a valid request in two pieces never
 * gets a 400 for the first piece. */
#include <ctype.h>
#include "api/http_parser.h"
#include "fuzz_util.h"

static void check_err(const char *err)
{
    FUZZ_CHECK(memchr(err, 0, 256), "error message not terminated");
    for (const char *p = err; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "unprintable byte 0x%02x in error message", (unsigned char)*p);
}

static enum http_parse_status parse(const char *buf, size_t len, struct http_head *h)
{
    char err[256];
    memset(err, 0x55, sizeof(err));
    enum http_parse_status st = http_parse_head(buf, len, h, err, sizeof(err));
    if (st == HTTP_PARSE_ERROR) {
        check_err(err);
        return st;
    }
    if (st != HTTP_PARSE_OK)
        return st;
    FUZZ_CHECK(h->head_len >= 4 && h->head_len <= len && h->head_len <= HTTP_MAX_HEAD, "head_len %zu of %zu",
               h->head_len, len);
    FUZZ_CHECK(!memcmp(buf + h->head_len - 4, "\r\n\r\n", 4), "head does not end in a blank line");
    FUZZ_CHECK(memchr(h->method, 0, sizeof(h->method)) && h->method[0], "bad method");
    FUZZ_CHECK(h->minor == 0 || h->minor == 1, "minor %d", h->minor);
    FUZZ_CHECK(h->path_len >= 1 && h->path[0] == '/', "path must start with /");
    bool in_buf = h->path >= buf && h->path + h->path_len <= buf + h->head_len;
    FUZZ_CHECK(in_buf || (h->path_len == 1 && !strcmp(h->path, "/")), "path outside the head");
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_dup(data, size);
    struct http_head full, part;
    enum http_parse_status st = parse(buf, size, &full);
    if (st == HTTP_PARSE_OK && size > 1) {
        /* the same request arriving in two reads: the first read must not be refused */
        size_t cut = 1 + (size_t)data[size - 1] * (size - 1) / 256;
        char *first = fuzz_dup(data, cut);
        enum http_parse_status st2 = parse(first, cut, &part);
        FUZZ_CHECK(st2 != HTTP_PARSE_ERROR, "a valid request's first %zu bytes were refused", cut);
        if (st2 == HTTP_PARSE_OK)
            FUZZ_CHECK(part.head_len == full.head_len && part.content_length == full.content_length &&
                       part.keep_alive == full.keep_alive, "a prefix parsed differently");
        free(first);
    }
    free(buf);
    return 0;
}
