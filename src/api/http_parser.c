/* http_parser.c — HTTP/1.1 request heads (see http_parser.h). Strict where strictness costs
 * nothing (CRLF line ends, exact versions, token names), as micro_http is: the API's clients are
 * curl, SDKs and scripts, all of which send well-formed requests. */
#include "api/http_parser.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static enum http_parse_status fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum http_parse_status fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return HTTP_PARSE_ERROR;
}

/* RFC 9110 tchar: what a method or a header name may be made of */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static const char *find(const char *p, const char *end, char c)
{
    return memchr(p, c, (size_t)(end - p));
}

static bool eq_nocase(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && !strncasecmp(p, lit, n);
}

/* The request line, buf[0..end) without its CRLF. */
static enum http_parse_status parse_request_line(const char *buf, const char *end, struct http_head *h, char *err,
                                                 size_t errlen)
{
    const char *sp1 = find(buf, end, ' ');
    if (!sp1 || sp1 == buf)
        return fail(err, errlen, "Invalid request line.");
    size_t mlen = (size_t)(sp1 - buf);
    if (mlen >= sizeof(h->method))
        return fail(err, errlen, "Invalid HTTP method.");
    for (const char *p = buf; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return fail(err, errlen, "Invalid HTTP method.");
    memcpy(h->method, buf, mlen);
    h->method[mlen] = '\0';

    const char *target = sp1 + 1;
    const char *sp2 = find(target, end, ' ');
    if (!sp2 || sp2 == target)
        return fail(err, errlen, "Invalid request line.");
    for (const char *p = target; p < sp2; p++)
        if (is_ctl((unsigned char)*p))
            return fail(err, errlen, "Invalid URI.");

    const char *ver = sp2 + 1;
    size_t vlen = (size_t)(end - ver);
    if (vlen == 8 && !memcmp(ver, "HTTP/1.1", 8))
        h->minor = 1;
    else if (vlen == 8 && !memcmp(ver, "HTTP/1.0", 8))
        h->minor = 0;
    else
        return fail(err, errlen, "Unsupported HTTP version.");
    h->keep_alive = h->minor == 1;

    /* origin-form "/path" (curl, most clients) or absolute-form "http://host/path" (proxies, and
     * Firecracker's SDK examples): the route only looks at the path */
    const char *path = target;
    size_t tlen = (size_t)(sp2 - target);
    if (*target != '/') {
        size_t skip = tlen > 7 && !strncasecmp(target, "http://", 7) ? 7
                      : tlen > 8 && !strncasecmp(target, "https://", 8) ? 8 : 0;
        if (!skip)
            return fail(err, errlen, "Invalid URI.");
        path = target + skip;
        while (path < sp2 && *path != '/' && *path != '?' && *path != '#')
            path++;
        if (path == target + skip)
            return fail(err, errlen, "Invalid URI.");    /* no host */
    }
    /* the query string (and a fragment, which clients should not send) is not part of the route */
    const char *pend = path;
    while (pend < sp2 && *pend != '?' && *pend != '#')
        pend++;
    if (pend == path || *path != '/') {
        h->path = "/";                                   /* "http://host" or "http://host?x" */
        h->path_len = 1;
    } else {
        h->path = path;
        h->path_len = (size_t)(pend - path);
    }
    return HTTP_PARSE_OK;
}

static enum http_parse_status parse_content_length(const char *v, size_t n, struct http_head *h, bool *seen,
                                                   char *err, size_t errlen)
{
    if (!n)
        return fail(err, errlen, "Invalid value. Key:Content-Length; Value:");
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)v[i] - '0';
        /* digits only: no sign, no spaces inside, no hex; and it must fit */
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return fail(err, errlen, "Invalid value. Key:Content-Length");
        x = x * 10 + d;
    }
    /* repeated with a different value: which one frames the body is ambiguous (request smuggling) */
    if (*seen && x != h->content_length)
        return fail(err, errlen, "Invalid value. Key:Content-Length");
    *seen = true;
    h->content_length = x;
    return HTTP_PARSE_OK;
}

/* Connection: a comma-separated token list; "close" wins over "keep-alive" */
static void parse_connection(const char *v, size_t n, struct http_head *h, bool *closed)
{
    const char *end = v + n;
    while (v < end) {
        const char *comma = find(v, end, ',');
        const char *tend = comma ? comma : end;
        const char *a = v, *b = tend;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (eq_nocase(a, (size_t)(b - a), "close"))
            *closed = true;
        else if (eq_nocase(a, (size_t)(b - a), "keep-alive"))
            h->keep_alive = true;
        v = comma ? comma + 1 : end;
    }
}

/* The header lines, buf[0..end): each ends in CRLF. */
static enum http_parse_status parse_headers(const char *p, const char *end, struct http_head *h, char *err,
                                            size_t errlen)
{
    bool seen_length = false, closed = false;
    while (p < end) {
        const char *eol = find(p, end, '\n');
        if (!eol || eol == p || eol[-1] != '\r')
            return fail(err, errlen, "Invalid header.");
        const char *lend = eol - 1;
        const char *colon = find(p, lend, ':');
        if (!colon || colon == p)
            return fail(err, errlen, "Invalid header.");
        for (const char *q = p; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                return fail(err, errlen, "Invalid header.");   /* also obs-fold: a line starting with SP */
        const char *v = colon + 1, *vend = lend;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        for (const char *q = v; q < vend; q++)
            if (is_ctl((unsigned char)*q) && *q != '\t')
                return fail(err, errlen, "Invalid header.");
        size_t nlen = (size_t)(colon - p), vlen = (size_t)(vend - v);

        if (eq_nocase(p, nlen, "Content-Length")) {
            if (parse_content_length(v, vlen, h, &seen_length, err, errlen) != HTTP_PARSE_OK)
                return HTTP_PARSE_ERROR;
        } else if (eq_nocase(p, nlen, "Transfer-Encoding")) {
            /* as in Firecracker: API bodies are small JSON documents sent with a length */
            return fail(err, errlen, "Transfer-Encoding is not supported.");
        } else if (eq_nocase(p, nlen, "Connection")) {
            parse_connection(v, vlen, h, &closed);
        } else if (eq_nocase(p, nlen, "Expect")) {
            h->expect_continue = eq_nocase(v, vlen, "100-continue");
        }
        p = eol + 1;
    }
    if (closed)
        h->keep_alive = false;
    return HTTP_PARSE_OK;
}

enum http_parse_status http_parse_head(const char *buf, size_t len, struct http_head *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    const char *blank = memmem(buf, scan, "\r\n\r\n", 4);
    if (!blank || (size_t)(blank - buf) + 4 > HTTP_MAX_HEAD) {
        if (len >= HTTP_MAX_HEAD)
            return fail(err, errlen, "Request headers are larger than the limit of %d bytes.", HTTP_MAX_HEAD);
        /* Judge the request line as soon as it is there (or as soon as it cannot be one), so a
         * client that sends garbage gets its 400 now rather than after the timeout. */
        const char *eol = memchr(buf, '\n', len);
        for (const char *q = buf; q < (eol ? eol : buf + len); q++)
            if (is_ctl((unsigned char)*q) && !(*q == '\r' && q + 1 == eol) && !(*q == '\r' && q + 1 == buf + len))
                return fail(err, errlen, "Invalid request line.");
        if (eol) {
            if (eol == buf || eol[-1] != '\r')
                return fail(err, errlen, "Invalid request line.");
            if (parse_request_line(buf, eol - 1, h, err, errlen) != HTTP_PARSE_OK)
                return HTTP_PARSE_ERROR;
        }
        memset(h, 0, sizeof(*h));
        return HTTP_PARSE_INCOMPLETE;
    }
    const char *eol = memchr(buf, '\n', (size_t)(blank - buf) + 2);   /* found: blank + 1 at the latest */
    if (eol == buf || eol[-1] != '\r')
        return fail(err, errlen, "Invalid request line.");
    if (parse_request_line(buf, eol - 1, h, err, errlen) != HTTP_PARSE_OK)
        return HTTP_PARSE_ERROR;
    if (parse_headers(eol + 1, blank + 2, h, err, errlen) != HTTP_PARSE_OK)
        return HTTP_PARSE_ERROR;
    h->head_len = (size_t)(blank - buf) + 4;
    return HTTP_PARSE_OK;
}
