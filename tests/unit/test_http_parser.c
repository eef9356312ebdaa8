/* test_http_parser.c — the API's HTTP/1.1 request parser (http_parser.c), then the server
 * around it (http_server.c) over a real Unix socket: pipelining, 100-continue, oversize bodies,
 * malformed input, Connection: close. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "api/http_parser.h"
#include "api/http_server.h"

static struct http_head H;
static char E[256];

static enum http_parse_status parse(const char *s)
{
    memset(E, 0, sizeof(E));
    return http_parse_head(s, strlen(s), &H, E, sizeof(E));
}

static void expect_path(const char *req, const char *path)
{
    cr_assert_eq(parse(req), HTTP_PARSE_OK, "%s: %s", req, E);
    cr_assert_eq(H.path_len, strlen(path), "%s", req);
    cr_assert(!memcmp(H.path, path, H.path_len), "%s: got %.*s", req, (int)H.path_len, H.path);
}

Test(http_parser, request_line)
{
    cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert_str_eq(H.method, "GET");
    cr_assert_eq(H.minor, 1);
    cr_assert(H.keep_alive);
    cr_assert_eq(H.head_len, 18);
    cr_assert_eq(H.content_length, 0);
    cr_assert_eq(parse("PATCH /vm HTTP/1.0\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert_str_eq(H.method, "PATCH");
    cr_assert_eq(H.minor, 0);
    cr_assert(!H.keep_alive, "HTTP/1.0 closes by default");
    expect_path("PUT /drives/rootfs HTTP/1.1\r\n\r\n", "/drives/rootfs");
}

Test(http_parser, bad_request_lines)
{
    const char *bad[] = {
        "GET  / HTTP/1.1\r\n\r\n", "GET /HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n",
        "GET / http/1.1\r\n\r\n", " GET / HTTP/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "GET foo HTTP/1.1\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\n\r\n", "VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\n\r\n", "GET http:/// HTTP/1.1\r\n\r\n", "\r\n\r\n", "GET\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i]), HTTP_PARSE_ERROR, "accepted %s", bad[i]);
        cr_assert(E[0], "no message for %s", bad[i]);
    }
}

Test(http_parser, garbage_fails_early)
{
    /* a bad first line is refused before the blank line comes (no wait for the timeout) */
    cr_assert_eq(parse(""), HTTP_PARSE_INCOMPLETE);
    static const char nul[] = "GE\0T / HTTP/1.1";
    cr_assert_eq(http_parse_head(nul, sizeof(nul) - 1, &H, E, sizeof(E)), HTTP_PARSE_ERROR);
    cr_assert_eq(parse("\xff\xfe\x01garbage"), HTTP_PARSE_ERROR);
    cr_assert_eq(parse("GET / HTTP/9\r\nHost: x\r\n"), HTTP_PARSE_ERROR);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: x\r\n"), HTTP_PARSE_INCOMPLETE);
    cr_assert_eq(parse("GET / HTTP/1.1\r"), HTTP_PARSE_INCOMPLETE);
    cr_assert_eq(parse("GET /\xff\xfe HTTP/1.1\r\n\r\n"), HTTP_PARSE_OK, "non-UTF-8 paths are the router's call");
}

Test(http_parser, absolute_uri_and_query)
{
    expect_path("GET http://localhost/machine-config HTTP/1.1\r\n\r\n", "/machine-config");
    expect_path("GET HTTP://localhost:80/a/b?x=1 HTTP/1.1\r\n\r\n", "/a/b");
    expect_path("GET https://h/ HTTP/1.1\r\n\r\n", "/");
    expect_path("GET http://localhost HTTP/1.1\r\n\r\n", "/");
    expect_path("GET http://localhost?x HTTP/1.1\r\n\r\n", "/");
    expect_path("GET /?a=b HTTP/1.1\r\n\r\n", "/");
    expect_path("GET /vm?x#y HTTP/1.1\r\n\r\n", "/vm");
    expect_path("GET /vm#y HTTP/1.1\r\n\r\n", "/vm");
}

Test(http_parser, headers)
{
    cr_assert_eq(parse("PUT /x HTTP/1.1\r\ncOnTeNt-LeNgTh:  12 \r\nHost: a\r\nEXPECT: 100-Continue\r\n\r\n"),
                 HTTP_PARSE_OK, "%s", E);
    cr_assert_eq(H.content_length, 12);
    cr_assert(H.expect_continue);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert(!H.keep_alive);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert(!H.keep_alive);
    cr_assert_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert(H.keep_alive);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nX-Empty:\r\nX-Bin: \xff\xfe\r\n\r\n"), HTTP_PARSE_OK, "%s", E);

    const char *bad[] = {
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "GET / HTTP/1.1\r\n: v\r\n\r\n", "GET / HTTP/1.1\r\nA b: v\r\n\r\n",
        "GET / HTTP/1.1\r\nA : v\r\n\r\n", "GET / HTTP/1.1\r\nA: v\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nA: v\nB: w\r\n\r\n", "GET / HTTP/1.1\r\nA: v\x01w\r\n\r\n",
        "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse(bad[i]), HTTP_PARSE_ERROR, "accepted %s", bad[i]);
    static const char nul[] = "GET / HTTP/1.1\r\nA: \0\r\n\r\n";
    cr_assert_eq(http_parse_head(nul, sizeof(nul) - 1, &H, E, sizeof(E)), HTTP_PARSE_ERROR);
}

Test(http_parser, content_length)
{
    cr_assert_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert_eq(H.content_length, 0);
    cr_assert_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"), HTTP_PARSE_OK);
    cr_assert_eq(H.content_length, UINT64_MAX);
    cr_assert_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), HTTP_PARSE_OK);
    const char *bad[] = { "-1", "", "+5", "0x10", "1 2", "5a", "18446744073709551616", "99999999999999999999999" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "PUT / HTTP/1.1\r\nContent-Length: %s\r\n\r\n", bad[i]);
        cr_assert_eq(parse(req), HTTP_PARSE_ERROR, "accepted Content-Length %s", bad[i]);
    }
    cr_assert_eq(parse("PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), HTTP_PARSE_ERROR);
}

Test(http_parser, pipelined_heads)
{
    const char *two = "PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /b HTTP/1.1\r\n\r\n";
    cr_assert_eq(parse(two), HTTP_PARSE_OK);
    cr_assert_eq(H.content_length, 2);
    const char *next = two + H.head_len + 2;
    cr_assert_eq(http_parse_head(next, strlen(next), &H, E, sizeof(E)), HTTP_PARSE_OK);
    cr_assert_str_eq(H.method, "GET");
    cr_assert_eq(H.path_len, 2);
}

Test(http_parser, oversized_head)
{
    size_t n = HTTP_MAX_HEAD + 100;
    char *big = malloc(n + 1);
    strcpy(big, "GET / HTTP/1.1\r\nX: ");
    memset(big + strlen(big), 'a', n - strlen(big));
    big[n] = '\0';
    cr_assert_eq(http_parse_head(big, n, &H, E, sizeof(E)), HTTP_PARSE_ERROR);
    cr_assert(strstr(E, "larger"), "%s", E);
    /* the blank line just past the limit is too late */
    memcpy(big + HTTP_MAX_HEAD - 2, "\r\n\r\n", 4);
    cr_assert_eq(http_parse_head(big, n, &H, E, sizeof(E)), HTTP_PARSE_ERROR);
    /* and just within it is fine */
    memcpy(big + HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
    cr_assert_eq(http_parse_head(big, n, &H, E, sizeof(E)), HTTP_PARSE_OK, "%s", E);
    cr_assert_eq(H.head_len, HTTP_MAX_HEAD);
    free(big);
}

/* ---------------------------------------------------------------- the server */

static struct http_server *srv;
static char sock_path[108];
static int calls;

/* echoes "METHOD PATH BODY" as a JSON string; 204 for DELETE */
static void echo(void *cls, const char *method, const char *path, const char *body, size_t len, int *status,
                 char **resp, size_t *resp_len)
{
    (void)cls;
    calls++;
    if (!strcmp(method, "DELETE")) {
        *status = 204;
        return;
    }
    *status = 200;
    if (asprintf(resp, "\"%s %s %.*s\"", method, path, (int)len, body ? body : "") < 0)
        *resp = NULL;
    *resp_len = *resp ? strlen(*resp) : 0;
}

static void start(void)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/kiln-http-test-%d.sock", getpid());
    char err[256];
    int fd = http_listen_unix(sock_path, err, sizeof(err));
    cr_assert(fd >= 0, "%s", err);
    srv = http_server_start(fd, 100, echo, NULL, err, sizeof(err));
    cr_assert(srv, "%s", err);
}

static void stop(void)
{
    http_server_stop(srv);
    unlink(sock_path);
}

TestSuite(http_server, .init = start, .fini = stop);

static int dial(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, sock_path);
    cr_assert(!connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* reads until the peer closes (or 5 s pass, or want bytes have come) */
static char *recv_until(int fd, const char *want)
{
    static char buf[65536];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (want && strstr(buf, want))
            break;
    }
    buf[len] = '\0';
    return buf;
}

Test(http_server, pipelined_in_order_then_close)
{
    int fd = dial();
    const char *reqs = "GET /one HTTP/1.1\r\n\r\n"
                       "PUT http://localhost/two?q=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
                       "DELETE /three HTTP/1.1\r\n\r\n"
                       "GET /four HTTP/1.1\r\nConnection: close\r\n\r\n"
                       "GET /never HTTP/1.1\r\n\r\n";
    send_all(fd, reqs, strlen(reqs));
    char *r = recv_until(fd, NULL);
    const char *expect = "HTTP/1.1 200 OK\r\nServer: kiln\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
                         "Content-Length: 11\r\n\r\n\"GET /one \""
                         "HTTP/1.1 200 OK\r\nServer: kiln\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
                         "Content-Length: 13\r\n\r\n\"PUT /two {}\""
                         "HTTP/1.1 204 No Content\r\nServer: kiln\r\nConnection: keep-alive\r\n\r\n"
                         "HTTP/1.1 200 OK\r\nServer: kiln\r\nConnection: close\r\nContent-Type: application/json\r\n"
                         "Content-Length: 12\r\n\r\n\"GET /four \"";
    cr_assert_str_eq(r, expect);
    close(fd);
}

Test(http_server, byte_by_byte)
{
    int fd = dial();
    const char *req = "PUT /slow HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    for (const char *p = req; *p; p++) {
        send_all(fd, p, 1);
        usleep(1000);
    }
    cr_assert(strstr(recv_until(fd, "abc\""), "\"PUT /slow abc\""));
    close(fd);
}

Test(http_server, expect_continue)
{
    int fd = dial();
    const char *head = "PUT /c HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
    send_all(fd, head, strlen(head));
    cr_assert_str_eq(recv_until(fd, "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
    send_all(fd, "{}", 2);
    cr_assert(strstr(recv_until(fd, "{}\""), "200 OK"));
    close(fd);
}

Test(http_server, oversize_body_is_drained_then_keep_alive)
{
    int fd = dial();
    char req[512];
    int n = snprintf(req, sizeof(req), "PUT /big HTTP/1.1\r\nContent-Length: 300\r\n\r\n%0300d", 0);
    send_all(fd, req, (size_t)n);
    char *r = recv_until(fd, "server.\"}");
    cr_assert(strstr(r, "HTTP/1.1 400 Bad Request\r\n"), "%s", r);
    cr_assert(strstr(r, "{\"fault_message\":\"Request payload with size 300 is larger than the limit of 100 allowed by "
                        "server.\"}"), "%s", r);
    /* the connection carries on */
    send_all(fd, "GET /after HTTP/1.1\r\n\r\n", 23);
    cr_assert(strstr(recv_until(fd, "after \""), "\"GET /after \""));
    cr_assert_eq(calls, 1, "the oversize request reached the handler");
    close(fd);
}

Test(http_server, malformed_gets_400_and_close)
{
#define S(x) { x, sizeof(x) - 1 }
    static const struct { const char *s; size_t n; } bad[] = {
        S("\x00\xff\xfe garbage \r\n\r\n"), S("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        S("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), S("GET / HTTP/1.1\r\nBad\r\n\r\n"),
        S("GET / HTTP/1.1\r\nHost: \x00\r\n\r\n"),
    };
#undef S
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = dial();
        send_all(fd, bad[i].s, bad[i].n);
        char *r = recv_until(fd, NULL);   /* the server closes */
        cr_assert(!strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26), "%zu: %s", i, r);
        cr_assert(strstr(r, "Connection: close\r\n") && strstr(r, "{\"fault_message\":\""), "%s", r);
        close(fd);
    }
    cr_assert_eq(calls, 0);
}

Test(http_server, many_connections_and_stalled_one)
{
    /* a connection that sent half a request holds up nobody */
    int stalled = dial();
    send_all(stalled, "GET / HT", 8);
    int fds[100];
    for (int i = 0; i < 100; i++)
        fds[i] = dial();
    for (int i = 0; i < 100; i++)
        send_all(fds[i], "GET /m HTTP/1.1\r\nConnection: close\r\n\r\n", 39);
    for (int i = 0; i < 100; i++) {
        cr_assert(strstr(recv_until(fds[i], NULL), "\"GET /m \""));
        close(fds[i]);
    }
    close(stalled);
}

Test(http_server, client_that_never_reads)
{
    /* pipelines requests without reading: the server stops reading from it, and stays free */
    int greedy = dial();
    int one = 4096;
    setsockopt(greedy, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
    static char reqs[200 * 24];
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len += (size_t)sprintf(reqs + len, "GET /%05d HTTP/1.1\r\n\r\n", i);
    (void)send(greedy, reqs, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    int fd = dial();
    send_all(fd, "GET /other HTTP/1.1\r\n\r\n", 23);
    cr_assert(strstr(recv_until(fd, "other \""), "\"GET /other \""));
    close(fd);
    close(greedy);
}
