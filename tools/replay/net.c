/* See net.h. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common.h"

#define WS_MAX_MESSAGE (4u << 20)

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
    ttb_set_err(err, errlen, "%s: expected a URL starting with http://, https://, ws:// or wss://", s);
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

/* ---------------------------------------------------------- connections */

struct ttb_conn {
  int fd;
  SSL_CTX *ctx;
  SSL *ssl;
};

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ssl_err(char *err, size_t errlen, const char *what)
{
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  ttb_set_err(err, errlen, "%s: %s", what, buf);
}

int ttb_conn_open(const ttb_url *u, int timeout_ms, ttb_conn **out, char *err, size_t errlen)
{
  *out = NULL;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *res = NULL;
  int g = getaddrinfo(u->host, u->port, &hints, &res);
  if (g != 0) {
    ttb_set_err(err, errlen, "%s: %s", u->host, gai_strerror(g));
    return -1;
  }
  int fd = -1;
  int last = 0;
  for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      last = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    ttb_set_err(err, errlen, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last));
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ttb_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    close(fd);
    ttb_set_err(err, errlen, "out of memory");
    return -1;
  }
  c->fd = fd;
  if (u->tls) {
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
      ssl_err(err, errlen, "TLS");
      ttb_conn_close(c);
      return -1;
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    const char *insecure = getenv("TTB_INSECURE_TLS");
    if (insecure && strcmp(insecure, "1") == 0) {
      SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    } else {
      SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
      SSL_CTX_set_default_verify_paths(c->ctx);
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
      ssl_err(err, errlen, "TLS");
      ttb_conn_close(c);
      return -1;
    }
    SSL_set_tlsext_host_name(c->ssl, u->host);
    SSL_set1_host(c->ssl, u->host);
    (void)timeout_ms; /* the handshake is blocking */
    if (SSL_connect(c->ssl) != 1) {
      ssl_err(err, errlen, "TLS handshake with the server failed (TTB_INSECURE_TLS=1 skips certificate checks)");
      ttb_conn_close(c);
      return -1;
    }
  }
  *out = c;
  return 0;
}

void ttb_conn_close(ttb_conn *c)
{
  if (c == NULL)
    return;
  if (c->ssl) {
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
  }
  if (c->ctx)
    SSL_CTX_free(c->ctx);
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}

static int conn_write(ttb_conn *c, const void *p, size_t n, char *err, size_t errlen)
{
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t k;
    if (c->ssl) {
      int r = SSL_write(c->ssl, b, n > 1u << 30 ? 1 << 30 : (int)n);
      if (r <= 0) {
        ssl_err(err, errlen, "TLS write");
        return -1;
      }
      k = r;
    } else {
      k = send(c->fd, b, n, MSG_NOSIGNAL);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0) {
        ttb_set_err(err, errlen, "send: %s", strerror(errno));
        return -1;
      }
    }
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Reads some bytes: >0 read, 0 peer closed, -1 error, -2 timeout. */
static ssize_t conn_read(ttb_conn *c, void *p, size_t n, int timeout_ms, char *err, size_t errlen)
{
  if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
    struct pollfd pf = {c->fd, POLLIN, 0};
    int r = poll(&pf, 1, timeout_ms);
    if (r < 0 && errno == EINTR)
      return -2;
    if (r < 0) {
      ttb_set_err(err, errlen, "poll: %s", strerror(errno));
      return -1;
    }
    if (r == 0)
      return -2;
  }
  if (c->ssl) {
    int r = SSL_read(c->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
    if (r > 0)
      return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
      return 0;
    if (e == SSL_ERROR_WANT_READ)
      return -2;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
      return 0;
    ssl_err(err, errlen, "TLS read");
    return -1;
  }
  ssize_t k = recv(c->fd, p, n, 0);
  if (k < 0 && errno == EINTR)
    return -2;
  if (k < 0) {
    ttb_set_err(err, errlen, "recv: %s", strerror(errno));
    return -1;
  }
  return k;
}

/* ---------------------------------------------------------------- HTTP */

static char *host_header(const ttb_url *u, char *buf, size_t cap)
{
  bool def = strcmp(u->port, u->tls ? "443" : "80") == 0;
  bool v6 = strchr(u->host, ':') != NULL;
  snprintf(buf, cap, "%s%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", def ? "" : ":",
           def ? "" : u->port);
  return buf;
}

int ttb_http(const ttb_url *u, const char *method, const char *path, const char *headers,
             const void *body, size_t body_len, int *status, char **resp, size_t *resp_len,
             char *err, size_t errlen)
{
  *resp = NULL;
  *resp_len = 0;
  *status = 0;
  ttb_conn *c;
  if (ttb_conn_open(u, 10000, &c, err, errlen) != 0)
    return -1;
  char head[2048], hh[300];
  int hn = snprintf(head, sizeof head,
                    "%s %s%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: ttb-replay\r\n%sContent-Length: %zu\r\n\r\n",
                    method, u->base_path, path, host_header(u, hh, sizeof hh),
                    headers ? headers : "", body_len);
  if (hn < 0 || (size_t)hn >= sizeof head) {
    ttb_set_err(err, errlen, "request head too long");
    ttb_conn_close(c);
    return -1;
  }
  if (conn_write(c, head, (size_t)hn, err, errlen) != 0 ||
      (body_len && conn_write(c, body, body_len, err, errlen) != 0)) {
    ttb_conn_close(c);
    return -1;
  }
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) {
    ttb_set_err(err, errlen, "out of memory");
    ttb_conn_close(c);
    return -1;
  }
  int64_t deadline = now_ms() + 60000;
  for (;;) {
    if (len + 1 >= cap) {
      if (cap >= (64u << 20)) {
        ttb_set_err(err, errlen, "answer too large");
        goto fail;
      }
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        ttb_set_err(err, errlen, "out of memory");
        goto fail;
      }
      buf = nb;
      cap *= 2;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      ttb_set_err(err, errlen, "%s %s: no complete answer within 60 s", method, path);
      goto fail;
    }
    ssize_t k = conn_read(c, buf + len, cap - 1 - len, (int)left, err, errlen);
    if (k == -2)
      continue;
    if (k < 0)
      goto fail;
    if (k == 0)
      break;
    len += (size_t)k;
    buf[len] = '\0';
    /* stop early when Content-Length says the body is complete */
    char *end = strstr(buf, "\r\n\r\n");
    if (end) {
      const char *cl = strcasestr(buf, "\r\ncontent-length:");
      if (cl && cl < end) {
        size_t want = (size_t)strtoull(cl + 17, NULL, 10);
        if (len >= (size_t)(end + 4 - buf) + want)
          break;
      }
    }
  }
  buf[len] = '\0';
  ttb_conn_close(c);
  c = NULL;
  char *end = strstr(buf, "\r\n\r\n");
  if (end == NULL || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
    ttb_set_err(err, errlen, "%s %s: not an HTTP answer", method, path);
    free(buf);
    return -1;
  }
  size_t hl = (size_t)(end + 4 - buf);
  size_t bl = len - hl;
  *end = '\0';
  bool chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
  memmove(buf, buf + hl, bl);
  buf[bl] = '\0';
  if (chunked) {
    char *o = buf, *p = buf;
    size_t outn = 0;
    for (;;) {
      long n = strtol(p, &p, 16);
      p = strstr(p, "\r\n");
      if (n <= 0 || p == NULL)
        break;
      p += 2;
      if ((size_t)(p - buf) + (size_t)n > bl)
        break;
      memmove(o + outn, p, (size_t)n);
      outn += (size_t)n;
      p += n + 2;
      if ((size_t)(p - buf) > bl)
        break;
    }
    bl = outn;
    buf[bl] = '\0';
  }
  *resp = buf;
  *resp_len = bl;
  return 0;
fail:
  free(buf);
  ttb_conn_close(c);
  return -1;
}

bool ttb_json_str(const char *js, const char *key, char *out, size_t cap)
{
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(js, pat);
  if (p == NULL)
    return false;
  p += strlen(pat);
  const char *e = strchr(p, '"');
  if (e == NULL || (size_t)(e - p) >= cap)
    return false;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
  return true;
}

int ttb_login(const ttb_url *u, const char *key, char *user_id, char *ws_token, char *err,
              size_t errlen)
{
  if (strpbrk(key, "\"\\") || strlen(key) > 200) {
    ttb_set_err(err, errlen, "the licence key has characters a key never has");
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
  bool ok = ttb_json_str(resp, "user_id", user_id, 64) && ttb_json_str(resp, "ws_token", ws_token, 128);
  if (!ok)
    ttb_set_err(err, errlen, "login answer without user_id/ws_token: %.300s", resp);
  free(resp);
  return ok ? 0 : -1;
}

/* ------------------------------------------------------------ WebSocket */

struct ttb_ws {
  ttb_conn *c;
  uint8_t *buf; /* received, not yet parsed */
  size_t len, cap;
  uint8_t *msg; /* the message handed out (fragments joined) */
  size_t msg_len, msg_cap;
  int msg_op;   /* opcode of a fragmented message in progress, 0 none */
};

static int ws_fill(ttb_ws *w, int timeout_ms, char *err, size_t errlen)
{
  if (w->len == w->cap) {
    if (w->cap >= WS_MAX_MESSAGE + 16) {
      ttb_set_err(err, errlen, "WebSocket frame too large");
      return -1;
    }
    uint8_t *nb = realloc(w->buf, w->cap * 2);
    if (nb == NULL) {
      ttb_set_err(err, errlen, "out of memory");
      return -1;
    }
    w->buf = nb;
    w->cap *= 2;
  }
  ssize_t k = conn_read(w->c, w->buf + w->len, w->cap - w->len, timeout_ms, err, errlen);
  if (k == -2)
    return 0;
  if (k == 0) {
    ttb_set_err(err, errlen, "the server closed the connection");
    return -1;
  }
  if (k < 0)
    return -1;
  w->len += (size_t)k;
  return 1;
}

int ttb_ws_open(const ttb_url *u, const char *token, const char *subprotocol, ttb_ws **out,
                char *err, size_t errlen)
{
  *out = NULL;
  ttb_ws *w = calloc(1, sizeof *w);
  if (w == NULL || (w->buf = malloc(65536)) == NULL) {
    free(w);
    ttb_set_err(err, errlen, "out of memory");
    return -1;
  }
  w->cap = 65536;
  if (ttb_conn_open(u, 10000, &w->c, err, errlen) != 0) {
    ttb_ws_close(w);
    return -1;
  }
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) {
    ttb_set_err(err, errlen, "no randomness");
    ttb_ws_close(w);
    return -1;
  }
  char key[32];
  EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
  char req[2048], proto[160] = "", hh[300];
  if (subprotocol)
    snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s\r\n", subprotocol);
  int n = snprintf(req, sizeof req,
                   "GET %s/ws/%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%sUser-Agent: ttb-replay\r\n\r\n",
                   u->base_path, token, host_header(u, hh, sizeof hh), key, proto);
  if (n < 0 || (size_t)n >= sizeof req || conn_write(w->c, req, (size_t)n, err, errlen) != 0) {
    if (n < 0 || (size_t)n >= sizeof req)
      ttb_set_err(err, errlen, "request too long");
    ttb_ws_close(w);
    return -1;
  }
  int64_t deadline = now_ms() + 10000;
  for (;;) {
    uint8_t *end = memmem(w->buf, w->len, "\r\n\r\n", 4);
    if (end) {
      size_t hl = (size_t)(end - w->buf) + 4;
      char head[4096];
      snprintf(head, sizeof head, "%.*s", (int)(hl < sizeof head ? hl : sizeof head - 1), (char *)w->buf);
      int status = 0;
      sscanf(head, "HTTP/1.%*d %d", &status);
      if (status != 101) {
        const char *body = (const char *)end + 4;
        ttb_set_err(err, errlen, "the socket was refused (HTTP %d): %.*s", status,
                (int)(w->len - hl > 300 ? 300 : w->len - hl), body);
        ttb_ws_close(w);
        return -1;
      }
      /* Sec-WebSocket-Accept = base64(SHA1(key + GUID)) */
      char cat[80];
      snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
      uint8_t dg[SHA_DIGEST_LENGTH];
      SHA1((const unsigned char *)cat, strlen(cat), dg);
      char want[64];
      EVP_EncodeBlock((unsigned char *)want, dg, sizeof dg);
      const char *acc = strcasestr(head, "\r\nsec-websocket-accept:");
      char got[64] = "";
      if (acc)
        sscanf(acc + 23, " %63[^\r\n ]", got);
      if (strcmp(got, want) != 0) {
        ttb_set_err(err, errlen, "bad Sec-WebSocket-Accept from the server");
        ttb_ws_close(w);
        return -1;
      }
      if (subprotocol) {
        const char *sp = strcasestr(head, "\r\nsec-websocket-protocol:");
        char p[128] = "";
        if (sp)
          sscanf(sp + 25, " %127[^\r\n ]", p);
        if (strcmp(p, subprotocol) != 0) {
          ttb_set_err(err, errlen, "the server did not accept subprotocol %s", subprotocol);
          ttb_ws_close(w);
          return -1;
        }
      }
      memmove(w->buf, w->buf + hl, w->len - hl);
      w->len -= hl;
      *out = w;
      return 0;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      ttb_set_err(err, errlen, "no WebSocket handshake answer within 10 s");
      ttb_ws_close(w);
      return -1;
    }
    if (ws_fill(w, (int)left, err, errlen) < 0) {
      ttb_ws_close(w);
      return -1;
    }
  }
}

int ttb_ws_send(ttb_ws *w, int opcode, const void *data, size_t len, char *err, size_t errlen)
{
  uint8_t head[14];
  size_t hn = 0;
  head[hn++] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    head[hn++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    head[hn++] = 0x80 | 126;
    head[hn++] = (uint8_t)(len >> 8);
    head[hn++] = (uint8_t)len;
  } else {
    head[hn++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      head[hn++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  uint8_t mask[4];
  if (RAND_bytes(mask, 4) != 1) {
    ttb_set_err(err, errlen, "no randomness");
    return -1;
  }
  memcpy(head + hn, mask, 4);
  hn += 4;
  uint8_t *buf = malloc(hn + len + 1);
  if (buf == NULL) {
    ttb_set_err(err, errlen, "out of memory");
    return -1;
  }
  memcpy(buf, head, hn);
  for (size_t i = 0; i < len; i++)
    buf[hn + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
  int rc = conn_write(w->c, buf, hn + len, err, errlen);
  free(buf);
  return rc;
}

static int msg_append(ttb_ws *w, const uint8_t *p, size_t n, char *err, size_t errlen)
{
  if (w->msg_len + n > WS_MAX_MESSAGE) {
    ttb_set_err(err, errlen, "WebSocket message over %u bytes", WS_MAX_MESSAGE);
    return -1;
  }
  if (w->msg_len + n + 1 > w->msg_cap) {
    size_t c = w->msg_cap ? w->msg_cap : 4096;
    while (c < w->msg_len + n + 1)
      c *= 2;
    uint8_t *nb = realloc(w->msg, c);
    if (nb == NULL) {
      ttb_set_err(err, errlen, "out of memory");
      return -1;
    }
    w->msg = nb;
    w->msg_cap = c;
  }
  memcpy(w->msg + w->msg_len, p, n);
  w->msg_len += n;
  w->msg[w->msg_len] = 0;
  return 0;
}

int ttb_ws_recv(ttb_ws *w, const uint8_t **data, size_t *len, int timeout_ms, char *err,
                size_t errlen)
{
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    while (w->len >= 2) {
      uint8_t b0 = w->buf[0], b1 = w->buf[1];
      bool fin = b0 & 0x80;
      int op = b0 & 0x0F;
      bool masked = b1 & 0x80;
      uint64_t n = b1 & 0x7F;
      size_t hn = 2;
      if (n == 126) {
        if (w->len < 4)
          break;
        n = (uint64_t)w->buf[2] << 8 | w->buf[3];
        hn = 4;
      } else if (n == 127) {
        if (w->len < 10)
          break;
        n = 0;
        for (int i = 0; i < 8; i++)
          n = n << 8 | w->buf[2 + i];
        hn = 10;
      }
      if (masked)
        hn += 4;
      if (n > WS_MAX_MESSAGE) {
        ttb_set_err(err, errlen, "WebSocket frame of %llu bytes is too large", (unsigned long long)n);
        return -1;
      }
      if (w->len < hn + n) {
        if (hn + n > w->cap) {
          uint8_t *nb = realloc(w->buf, hn + n);
          if (nb == NULL) {
            ttb_set_err(err, errlen, "out of memory");
            return -1;
          }
          w->buf = nb;
          w->cap = hn + n;
        }
        break;
      }
      uint8_t *payload = w->buf + hn;
      if (masked)
        for (size_t i = 0; i < n; i++)
          payload[i] ^= w->buf[hn - 4 + (i % 4)];
      int rc = 0;
      if (op == 9) { /* ping */
        rc = ttb_ws_send(w, 10, payload, (size_t)n, err, errlen);
      } else if (op == 8) {
        unsigned code = n >= 2 ? (unsigned)payload[0] << 8 | payload[1] : 1005;
        ttb_set_err(err, errlen, "the server closed the socket (code %u%s%.*s)", code, n > 2 ? ": " : "",
                n > 2 ? (int)(n - 2) : 0, (const char *)payload + 2);
        rc = -1;
      } else if (op == 1 || op == 2 || op == 0) {
        if (op != 0) {
          w->msg_len = 0;
          w->msg_op = op;
        } else if (w->msg_op == 0) {
          ttb_set_err(err, errlen, "continuation frame without a message");
          rc = -1;
        }
        if (rc == 0)
          rc = msg_append(w, payload, (size_t)n, err, errlen);
        if (rc == 0 && fin) {
          memmove(w->buf, w->buf + hn + n, w->len - hn - (size_t)n);
          w->len -= hn + (size_t)n;
          if (w->msg == NULL && msg_append(w, (const uint8_t *)"", 0, err, errlen) != 0)
            return -1;
          *data = w->msg;
          *len = w->msg_len;
          int mop = w->msg_op;
          w->msg_op = 0;
          return mop;
        }
      }
      if (rc != 0)
        return -1;
      memmove(w->buf, w->buf + hn + n, w->len - hn - (size_t)n);
      w->len -= hn + (size_t)n;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return 0;
    int f = ws_fill(w, (int)(left > 200 ? 200 : left), err, errlen);
    if (f < 0)
      return -1;
  }
}

void ttb_ws_close(ttb_ws *w)
{
  if (w == NULL)
    return;
  if (w->c) {
    char e[64];
    uint8_t code[2] = {0x03, 0xE8};
    ttb_ws_send(w, 8, code, 2, e, sizeof e);
    ttb_conn_close(w->c);
  }
  free(w->buf);
  free(w->msg);
  free(w);
}
