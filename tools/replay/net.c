/* See net.h. */
#define _GNU_SOURCE
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ttb_tc.h"
#include "ttboost/v1/auth.pbc-json.h"

int ttb_url_parse(const char *s, ttb_url *u, char *err, size_t errlen)
{
  memset(u, 0, sizeof *u);
  const char *p;
  const char *def;
  if (strncmp(s, "http://", 7) == 0 || strncmp(s, "ws://", 5) == 0) {
    p = s + (s[0] == 'h' ? 7 : 5);
    def = "80";
  } else if (strncmp(s, "https://", 8) == 0 || strncmp(s, "wss://", 6) == 0) {
    p = s + (s[0] == 'h' ? 8 : 6);
    def = "443";
    u->tls = true;
  } else {
    ttb_set_err(err, errlen, "%s: expected a URL starting with http://, https://, ws:// or wss://",
                s);
    return -1;
  }
  size_t hl = strcspn(p, "/");
  const char *hostport = p;
  const char *path = p + hl;
  const char *host = hostport;
  size_t host_len;
  const char *port = NULL;
  size_t port_len = 0;
  if (*host == '[') { /* [v6]:port */
    const char *e = memchr(host, ']', hl);
    if (e == NULL) {
      ttb_set_err(err, errlen, "%s: unterminated [address]", s);
      return -1;
    }
    host++;
    host_len = (size_t)(e - host);
    if (e + 1 < hostport + hl && e[1] == ':') {
      port = e + 2;
      port_len = (size_t)(hostport + hl - port);
    }
  } else {
    const char *c = memchr(host, ':', hl);
    host_len = c ? (size_t)(c - host) : hl;
    if (c) {
      port = c + 1;
      port_len = (size_t)(hostport + hl - port);
    }
  }
  if (host_len == 0 || host_len >= sizeof u->host) {
    ttb_set_err(err, errlen, "%s: no host", s);
    return -1;
  }
  memcpy(u->host, host, host_len);
  if (port) {
    if (port_len == 0 || port_len >= sizeof u->port || strspn(port, "0123456789") < port_len) {
      ttb_set_err(err, errlen, "%s: bad port", s);
      return -1;
    }
    memcpy(u->port, port, port_len);
  } else {
    snprintf(u->port, sizeof u->port, "%s", def);
  }
  size_t pl = strlen(path);
  while (pl > 0 && path[pl - 1] == '/')
    pl--;
  if (pl >= sizeof u->base_path) {
    ttb_set_err(err, errlen, "%s: path too long", s);
    return -1;
  }
  memcpy(u->base_path, path, pl);
  return 0;
}

/* ---------------------------------------------------------------- HTTP */

int ttb_http(const ttb_url *u, const char *method, const char *path, const char *headers,
             const void *body, size_t body_len, int *status, char **resp, size_t *resp_len,
             char *err, size_t errlen)
{
  *resp = NULL;
  *resp_len = 0;
  *status = 0;
  bool v6 = strchr(u->host, ':') != NULL;
  char url[1024], hdr[2048];
  int n = snprintf(url, sizeof url, "%s://%s%s%s:%s%s%s", u->tls ? "https" : "http", v6 ? "[" : "",
                   u->host, v6 ? "]" : "", u->port, u->base_path, path);
  int m = snprintf(hdr, sizeof hdr, "User-Agent: ttb-replay\r\n%s", headers ? headers : "");
  if (n < 0 || (size_t)n >= sizeof url || m < 0 || (size_t)m >= sizeof hdr) {
    ttb_set_err(err, errlen, "request too long");
    return -1;
  }
  ttb_tc_resp r;
  int st = ttb_tc_http(url, method, hdr, body, body_len, 60000, &r, err, errlen);
  if (st < 0) {
    ttb_tc_resp_free(&r);
    return -1;
  }
  *status = st;
  *resp = r.body; /* malloc'd, NUL-terminated: the caller's now */
  *resp_len = r.body_len;
  return 0;
}

int ttb_login(const ttb_url *u, const char *key, char *user_id, char *ws_token, char *err,
              size_t errlen)
{
  if (strpbrk(key, "\"\\") || strlen(key) > 200) {
    ttb_set_err(err, errlen, "the license key has characters a key never has");
    return -1;
  }
  char body[300];
  snprintf(body, sizeof body, "{\"license_key\":\"%s\"}", key);
  int st;
  char *resp;
  size_t rl;
  if (ttb_http(u, "POST", "/auth/login", "Content-Type: application/json\r\n", body, strlen(body),
               &st, &resp, &rl, err, errlen) != 0)
    return -1;
  if (st != 200) {
    ttb_set_err(err, errlen, "login refused (HTTP %d): %.300s", st, resp);
    free(resp);
    return -1;
  }
  /* the answer through the generated codec of LoginResponse */
  ttb_json_error je = {0};
  Ttboost__V1__LoginResponse *lr = ttb_pbc_ttboost_v1_LoginResponse_from_json(resp, rl, NULL, &je);
  bool ok = lr && lr->user_id[0] && lr->ws_token[0] && strlen(lr->user_id) < 64 &&
            strlen(lr->ws_token) < 128;
  if (ok) {
    snprintf(user_id, 64, "%s", lr->user_id);
    snprintf(ws_token, 128, "%s", lr->ws_token);
  } else {
    ttb_set_err(err, errlen, "login answer without user_id/ws_token (%s): %.300s",
                lr ? "empty" : je.msg, resp);
  }
  if (lr)
    ttboost__v1__login_response__free_unpacked(lr, NULL);
  free(resp);
  return ok ? 0 : -1;
}

/* ------------------------------------------------------------ WebSocket */

struct ttb_ws {
  ttb_tc_ws *c;
};

int ttb_ws_open(const ttb_url *u, const char *token, const char *subprotocol, ttb_ws **out,
                char *err, size_t errlen)
{
  *out = NULL;
  int port = atoi(u->port);
  char path[600];
  int n = snprintf(path, sizeof path, "%s/ws/%s", u->base_path, token);
  if (n < 0 || (size_t)n >= sizeof path) {
    ttb_set_err(err, errlen, "request too long");
    return -1;
  }
  ttb_ws *w = calloc(1, sizeof *w);
  if (w == NULL) {
    ttb_set_err(err, errlen, "out of memory");
    return -1;
  }
  char e[400] = "";
  int st = ttb_tc_ws_connect(&w->c, u->host, port, u->tls, path, subprotocol,
                             "User-Agent: ttb-replay\r\n", 10000, e, sizeof e);
  if (st != 0) {
    if (st > 0)
      ttb_set_err(err, errlen, "the socket was refused (%s)", e);
    else
      ttb_set_err(err, errlen, "%s", e);
    free(w);
    return -1;
  }
  if (subprotocol && strcmp(ttb_tc_ws_subprotocol(w->c), subprotocol) != 0) {
    ttb_set_err(err, errlen, "the server did not accept subprotocol %s", subprotocol);
    ttb_ws_close(w);
    return -1;
  }
  *out = w;
  return 0;
}

int ttb_ws_send(ttb_ws *w, int opcode, const void *data, size_t len, char *err, size_t errlen)
{
  if (ttb_tc_ws_send(w->c, opcode, data, len) != 0) {
    ttb_set_err(err, errlen, "WebSocket send failed");
    return -1;
  }
  return 0;
}

int ttb_ws_recv(ttb_ws *w, const uint8_t **data, size_t *len, int timeout_ms, char *err,
                size_t errlen)
{
  int op = ttb_tc_ws_recv(w->c, data, len, timeout_ms);
  if (op == 8) {
    size_t n = *len;
    const uint8_t *p = *data;
    unsigned code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
    ttb_set_err(err, errlen, "the server closed the socket (code %u%s%.*s)", code,
                n > 2 ? ": " : "", n > 2 ? (int)(n - 2) : 0, (const char *)p + 2);
    return -1;
  }
  if (op < 0)
    ttb_set_err(err, errlen, "the server closed the connection");
  return op;
}

void ttb_ws_close(ttb_ws *w)
{
  if (w == NULL)
    return;
  if (w->c) {
    uint8_t code[2] = {0x03, 0xE8};
    ttb_tc_ws_send(w->c, 8, code, 2);
    ttb_tc_ws_free(w->c);
  }
  free(w);
}
