/* http_server.h — the API's HTTP/1.1 server: kiln's own, on a Unix socket, one polling thread
 * (so requests reach the handler one at a time, as in Firecracker), bodies
 * collected up to a payload limit, idle connections dropped after a timeout. */
#ifndef KILN_API_HTTP_SERVER_H
#define KILN_API_HTTP_SERVER_H
#include <stddef.h>

#define HTTP_DEFAULT_MAX_PAYLOAD 51200     /* Firecracker's --http-api-max-payload-size default */
#define HTTP_CONNECTION_TIMEOUT_S 30
#define HTTP_CONNECTION_LIMIT 512

/* One complete request. The handler sets *status and *body (malloc'd, NULL for none; the
 * server frees it). Called on the server thread only. */
typedef void http_handler_fn(void *cls, const char *method, const char *path, const char *body, size_t len,
                             int *status, char **resp, size_t *resp_len);

struct http_server;

/* Creates, binds and listens on the Unix socket path. A stale socket file there (nothing
 * listening) is replaced; anything else at path is an error. Returns the fd or -1 with err. */
int http_listen_unix(const char *path, char *err, size_t errlen);

/* Serves listen_fd (taken over: closed by http_server_stop). NULL with err on failure. */
struct http_server *http_server_start(int listen_fd, size_t max_payload, http_handler_fn *fn, void *cls, char *err,
                                      size_t errlen);
/* Stops the thread (waiting for the request in progress), closes every connection. */
void http_server_stop(struct http_server *s);

#endif
