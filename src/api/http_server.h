/* http_server.h — the API's HTTP/1.1 server: kiln's own, on a Unix socket, one polling thread
 * (so requests reach the handler one at a time, as in Firecracker), bodies
 * collected up to a payload limit and a memory budget shared by all connections, idle
 * connections dropped after a timeout or, at the connection limit, for a new client. */
#ifndef KILN_API_HTTP_SERVER_H
#define KILN_API_HTTP_SERVER_H
#include <stddef.h>

#define HTTP_DEFAULT_MAX_PAYLOAD 51200     /* Firecracker's --http-api-max-payload-size default */
#define HTTP_CONNECTION_TIMEOUT_S 30
#define HTTP_CONNECTION_LIMIT 512
#define HTTP_MIN_BUFFER_BUDGET (16u << 20)

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
/* The most request input all connections together may hold (beyond 16 KiB each, which any
 * connection may use): max(2 * (8 KiB + max_payload), 16 MiB). A request whose body does not
 * fit what is left is answered 503 without being read into memory. */
size_t http_server_buffer_budget(size_t max_payload);

/* Stops the thread (waiting for the request in progress), closes every connection. */
void http_server_stop(struct http_server *s);

#endif
