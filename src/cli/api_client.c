/* api_client.c — one HTTP/1.1 request to a kiln API socket, for the command-line tools that
 * drive a running kiln (kiln snapshot create, kiln migrate). */
#include "cli/api_client.h"
#include "common/fd_io.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int api_request(const char *sock, const char *method, const char *path, const char *body,
                struct api_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock) >= sizeof(sa.sun_path)) {
        snprintf(reply->body, sizeof(reply->body), "the socket path '%s' is too long", sock);
        return -1;
    }
    strcpy(sa.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(reply->body, sizeof(reply->body), "cannot connect to the API socket '%s': %s", sock,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int hlen = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", method, path, blen);
    if (fd_send_all(fd, head, (size_t)hlen) || (blen && fd_send_all(fd, body, blen))) {
        snprintf(reply->body, sizeof(reply->body), "cannot send to '%s': %s", sock, strerror(errno));
        close(fd);
        return -1;
    }
    /* the server closes after the response (Connection: close): read it all */
    char buf[sizeof(reply->body) + 1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) == sizeof(buf) - 1)
            break;
    }
    close(fd);
    buf[got] = 0;
    const char *body_start = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.1 %d", &reply->status) != 1 || !body_start) {
        snprintf(reply->body, sizeof(reply->body), "no HTTP answer from '%s'", sock);
        return -1;
    }
    snprintf(reply->body, sizeof(reply->body), "%s", body_start + 4);
    return 0;
}
