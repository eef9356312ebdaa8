/* api_client.h — one request to a running kiln's API socket (for the command-line tools). */
#ifndef KILN_CLI_API_CLIENT_H
#define KILN_CLI_API_CLIENT_H

struct api_reply {
    int status;          /* 200, 204, 400 ... */
    char body[4096];     /* the response body, or what went wrong when api_request fails */
};

/* Returns 0 with the reply, or -1 (no answer) with the reason in reply->body. */
int api_request(const char *sock, const char *method, const char *path, const char *body,
                struct api_reply *reply);

#endif
