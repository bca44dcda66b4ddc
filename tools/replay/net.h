/*
 * The replay tools' view of a server: URLs, one HTTP request, login, the
 * WebSocket, over tools/common's ttb_tc (libcurl, wslay): http:// and ws://
 * over TCP, https:// and wss:// over TLS (certificates verified against the
 * system store unless TTB_INSECURE_TLS=1). Every function returns 0 or -1
 * with a message in err.
 */
#ifndef TTB_REPLAY_NET_H
#define TTB_REPLAY_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttb_url {
  bool tls;
  char host[256];
  char port[8];
  char base_path[256]; /* path prefix without a trailing '/', "" for none */
} ttb_url;

/* http://host[:port][/prefix], https://…, ws://…, wss://… */
int ttb_url_parse(const char *s, ttb_url *u, char *err, size_t errlen);

/* One request (ttb_tc_http, 60 s at most). The body of the answer is malloc'd and
 * NUL-terminated in *body (free it). headers: "Name: value\r\n" lines or NULL. */
int ttb_http(const ttb_url *u, const char *method, const char *path, const char *headers,
             const void *body, size_t body_len, int *status, char **resp, size_t *resp_len,
             char *err, size_t errlen);

/* POST /auth/login: user_id[64] and ws_token[128] of the license key. */
int ttb_login(const ttb_url *u, const char *key, char *user_id, char *ws_token, char *err,
              size_t errlen);

typedef struct ttb_ws ttb_ws;

/* Opens /ws/{token}; subprotocol may be NULL (JSON). */
int ttb_ws_open(const ttb_url *u, const char *token, const char *subprotocol, ttb_ws **out,
                char *err, size_t errlen);
/* The next data message: 1 text, 2 binary (*data valid until the next call),
 * 0 timeout, -1 closed or failed (err says why; a close frame's code is in it). */
int ttb_ws_recv(ttb_ws *w, const uint8_t **data, size_t *len, int timeout_ms, char *err,
                size_t errlen);
int ttb_ws_send(ttb_ws *w, int opcode, const void *data, size_t len, char *err, size_t errlen);
/* Sends a close frame (best effort) and frees. NULL is a no-op. */
void ttb_ws_close(ttb_ws *w);

#endif
