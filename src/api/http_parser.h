/* http_parser.h — the API server's HTTP/1.1 request-head parser: the request line and headers of
 * one request at the start of a buffer, without copying or allocating, so the server can parse
 * in place and the parser can be tested on its own. Bodies are the server's business: the
 * parser only reports Content-Length. Behaviour follows Firecracker's micro_http. */
#ifndef KILN_API_HTTP_PARSER_H
#define KILN_API_HTTP_PARSER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD 8192     /* request line + headers + the blank line, at most */
#define HTTP_MAX_METHOD 16     /* longer than any method the API knows, NUL included */

enum http_parse_status {
    HTTP_PARSE_INCOMPLETE,     /* no blank line yet (and under HTTP_MAX_HEAD): read more */
    HTTP_PARSE_OK,
    HTTP_PARSE_ERROR,          /* answer 400 with err and close the connection */
};

struct http_head {
    size_t head_len;           /* bytes up to and including the blank line; the body follows */
    char method[HTTP_MAX_METHOD];
    const char *path;          /* the absolute path: within buf (or a static "/"), not NUL-terminated; */
    size_t path_len;           /* no scheme or authority, no query string */
    int minor;                 /* HTTP/1.<minor>: 0 or 1 */
    bool keep_alive;           /* after this request: the version's default, or Connection: */
    bool expect_continue;      /* Expect: 100-continue */
    uint64_t content_length;   /* 0 without the header */
};

/* Parses the head of the request at the start of buf[0..len). err gets a message fit for a
 * fault_message (printable ASCII) on HTTP_PARSE_ERROR. Never reads past buf + len; any bytes
 * (NULs, invalid UTF-8) are handled. */
enum http_parse_status http_parse_head(const char *buf, size_t len, struct http_head *h, char *err, size_t errlen);

#endif
