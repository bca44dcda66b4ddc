/* See ttb_tc.h. */
#define _GNU_SOURCE
#include "ttb_tc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <wslay/wslay.h>

#include "ttboost/json.h"

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
  if (err == NULL || cap == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

/* ================================================================== HTTP */

/* TTB_INSECURE_TLS=1: certificates are not checked (a test server's own). */
static bool insecure_tls(void)
{
  const char *v = getenv("TTB_INSECURE_TLS");
  return v && strcmp(v, "1") == 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct sink {
  char *p;
  size_t len, cap;
  bool oom;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
  sink *s = user;
  size_t k = size * n;
  if (s->len + k + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + k + 1)
      cap *= 2;
    char *p = realloc(s->p, cap);
    if (p == NULL) {
      s->oom = true;
      return 0;
    }
    s->p = p;
    s->cap = cap;
  }
  memcpy(s->p + s->len, data, k);
  s->len += k;
  s->p[s->len] = '\0';
  return k;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
  ttb_tc_resp *r = user;
  size_t k = size * n;
  size_t have = strlen(r->headers);
  /* a new status line (after a 100 Continue, say) starts the head again */
  if (k >= 5 && strncmp(data, "HTTP/", 5) == 0)
    have = 0;
  size_t room = sizeof r->headers - 1 - have;
  size_t c = k < room ? k : room;
  memcpy(r->headers + have, data, c);
  r->headers[have + c] = '\0';
  return k;
}

struct ttb_tc_http_conn {
  CURL *c;
};

ttb_tc_http_conn *ttb_tc_http_conn_new(void)
{
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return NULL;
  ttb_tc_http_conn *h = malloc(sizeof *h);
  if (h == NULL)
    return NULL;
  h->c = curl_easy_init();
  if (h->c == NULL) {
    free(h);
    return NULL;
  }
  return h;
}

void ttb_tc_http_conn_free(ttb_tc_http_conn *h)
{
  if (h == NULL)
    return;
  curl_easy_cleanup(h->c);
  free(h);
}

int ttb_tc_http(const char *url, const char *method, const char *extra_headers, const void *body,
                size_t body_len, long timeout_ms, ttb_tc_resp *r, char *err, size_t err_cap)
{
  ttb_tc_http_conn *h = ttb_tc_http_conn_new();
  if (h == NULL) {
    memset(r, 0, sizeof *r);
    r->status = -1;
    set_err(err, err_cap, "curl could not start");
    return -1;
  }
  int st =
      ttb_tc_http_req(h, url, method, extra_headers, body, body_len, timeout_ms, r, err, err_cap);
  ttb_tc_http_conn_free(h);
  return st;
}

int ttb_tc_http_req(ttb_tc_http_conn *h, const char *url, const char *method,
                    const char *extra_headers, const void *body, size_t body_len, long timeout_ms,
                    ttb_tc_resp *r, char *err, size_t err_cap)
{
  memset(r, 0, sizeof *r);
  r->status = -1;
  CURL *c = h->c;
  curl_easy_reset(c); /* options of the last request go; its connection stays */
  struct curl_slist *hl = NULL;
  bool have_ctype = false, ok = true;
  /* the caller's header lines, one slist entry each */
  for (const char *p = extra_headers; p && *p && ok;) {
    size_t n = strcspn(p, "\r\n");
    if (n > 0) {
      char *line = strndup(p, n);
      struct curl_slist *t = line ? curl_slist_append(hl, line) : NULL;
      if (line && strncasecmp(line, "content-type:", 13) == 0)
        have_ctype = true;
      free(line);
      if (t == NULL)
        ok = false;
      else
        hl = t;
    }
    p += n;
    p += strspn(p, "\r\n");
  }
  /* no header of curl's own beyond Host, Accept and Content-Length */
  const char *off[] = {"Expect:", have_ctype ? NULL : "Content-Type:"};
  for (size_t i = 0; i < 2 && ok; i++) {
    if (off[i] == NULL)
      continue;
    struct curl_slist *t = curl_slist_append(hl, off[i]);
    if (t == NULL)
      ok = false;
    else
      hl = t;
  }
  if (!ok) {
    curl_slist_free_all(hl);
    set_err(err, err_cap, "out of memory");
    return -1;
  }
  sink s = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (insecure_tls()) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") == 0 && body_len == 0) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    /* POSTFIELDS with a size sends exactly body_len bytes (0 included) */
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_len ? body : "");
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hl);
  if (s.oom) {
    free(s.p);
    set_err(err, err_cap, "out of memory");
    return -1;
  }
  if (rc != CURLE_OK || status <= 0) {
    free(s.p);
    set_err(err, err_cap, "%s %s: %s", method, url, curl_easy_strerror(rc));
    return -1;
  }
  if (s.p == NULL) {
    s.p = calloc(1, 1);
    if (s.p == NULL) {
      set_err(err, err_cap, "out of memory");
      return -1;
    }
  }
  r->body = s.p;
  r->body_len = s.len;
  r->status = (int)status;
  return r->status;
}

void ttb_tc_resp_free(ttb_tc_resp *r)
{
  free(r->body);
  r->body = NULL;
  r->body_len = 0;
}

/* ===================================================== WebSocket handshake */

static bool b64(const uint8_t *in, int n, char *out, size_t cap)
{
  if ((size_t)(4 * ((n + 2) / 3) + 1) > cap)
    return false;
  return EVP_EncodeBlock((unsigned char *)out, in, n) == 4 * ((n + 2) / 3);
}

bool ttb_tc_ws_key(char key[TTB_TC_WS_KEY_SIZE])
{
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1)
    return false;
  return b64(nonce, sizeof nonce, key, TTB_TC_WS_KEY_SIZE);
}

bool ttb_tc_ws_accept(const char *key, char accept[TTB_TC_WS_ACCEPT_SIZE])
{
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned mdn = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  bool ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
            EVP_DigestUpdate(c, key, strlen(key)) == 1 &&
            EVP_DigestUpdate(c, guid, sizeof guid - 1) == 1 &&
            EVP_DigestFinal_ex(c, md, &mdn) == 1 && mdn == 20;
  EVP_MD_CTX_free(c);
  return ok && b64(md, 20, accept, TTB_TC_WS_ACCEPT_SIZE);
}

int ttb_tc_ws_request(char *buf, size_t cap, const char *host, const char *path, const char *key,
                      const char *subprotocol, const char *extra_headers)
{
  int n = snprintf(buf, cap,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                   path, host, key, subprotocol ? "Sec-WebSocket-Protocol: " : "",
                   subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "",
                   extra_headers ? extra_headers : "");
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The value of header name (case-insensitive) in head[len] into out[cap];
 * false when absent. */
static bool header_value(const char *head, size_t len, const char *name, char *out, size_t cap)
{
  size_t nl = strlen(name);
  const char *p = memchr(head, '\n', len); /* skip the status line */
  const char *end = head + len;
  while (p && p < end) {
    p++;
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (e == NULL)
      e = end;
    if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = e;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      size_t n = (size_t)(ve - v);
      if (n >= cap)
        n = cap - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return true;
    }
    p = e;
  }
  return false;
}

int ttb_tc_ws_response(const char *buf, size_t len, const char *key, size_t *head_len,
                       char *subprotocol, size_t cap)
{
  const char *e = memmem(buf, len, "\r\n\r\n", 4);
  if (e == NULL)
    return len > 16384 ? -1 : 0;
  size_t hl = (size_t)(e - buf) + 4;
  *head_len = hl;
  /* "HTTP/1.x NNN": read by hand, buf is not NUL-terminated */
  if (hl < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' || buf[9] < '1' || buf[9] > '9' ||
      buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
    return -1;
  int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
  if (subprotocol && cap) {
    if (!header_value(buf, hl, "Sec-WebSocket-Protocol", subprotocol, cap))
      subprotocol[0] = '\0';
  }
  if (status != 101)
    return status;
  char want[TTB_TC_WS_ACCEPT_SIZE], got[64];
  if (!ttb_tc_ws_accept(key, want) ||
      !header_value(buf, hl, "Sec-WebSocket-Accept", got, sizeof got) || strcmp(want, got) != 0)
    return -1;
  return 101;
}

/* ======================================================= WebSocket client */

typedef struct msg {
  struct msg *next;
  int opcode;
  size_t len;
  uint8_t data[];
} msg;

struct ttb_tc_ws {
  int fd;
  SSL_CTX *ctx; /* TLS: both NULL over plain TCP */
  SSL *ssl;
  wslay_event_context_ptr ev;
  char subprotocol[64];
  uint8_t *pre; /* bytes read with the handshake's answer, not yet given to wslay */
  size_t pre_len, pre_off;
  msg *head, *tail; /* received, not yet returned */
  msg *last;        /* the message the last ttb_tc_ws_recv returned */
  bool broken;
};

static ssize_t ev_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
  (void)flags;
  ttb_tc_ws *w = user;
  if (w->pre_off < w->pre_len) {
    size_t n = w->pre_len - w->pre_off;
    if (n > len)
      n = len;
    memcpy(buf, w->pre + w->pre_off, n);
    w->pre_off += n;
    return (ssize_t)n;
  }
  if (w->ssl) { /* the socket is non-blocking once upgraded */
    int r = SSL_read(w->ssl, buf, len > 1u << 30 ? 1 << 30 : (int)len);
    if (r > 0)
      return r;
    int e = SSL_get_error(w->ssl, r);
    wslay_event_set_error(ctx, e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  ssize_t k = recv(w->fd, buf, len, MSG_DONTWAIT);
  if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (k <= 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return k;
}

static ssize_t ev_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
  (void)flags;
  ttb_tc_ws *w = user;
  if (w->ssl) {
    for (;;) {
      int r = SSL_write(w->ssl, data, len > 1u << 30 ? 1 << 30 : (int)len);
      if (r > 0)
        return r;
      int e = SSL_get_error(w->ssl, r);
      struct pollfd p = {w->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0};
      if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && poll(&p, 1, 10000) > 0)
        continue;
      wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
      return -1;
    }
  }
  for (;;) {
    ssize_t k = send(w->fd, data, len, MSG_NOSIGNAL);
    if (k >= 0)
      return k;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct pollfd p = {w->fd, POLLOUT, 0};
      if (poll(&p, 1, 10000) > 0)
        continue;
    }
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
}

static int ev_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
  (void)user;
  if (RAND_bytes(buf, (int)len) != 1) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return 0;
}

static void ev_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *user)
{
  (void)ctx;
  ttb_tc_ws *w = user;
  if (a->opcode == WSLAY_PING || a->opcode == WSLAY_PONG)
    return; /* wslay queues the pong itself */
  const uint8_t *d = a->msg;
  size_t n = a->msg_length;
  uint8_t code[2] = {(uint8_t)(a->status_code >> 8), (uint8_t)a->status_code};
  /* a close carries its code first (wslay may hand over the payload after it) */
  bool add_code = a->opcode == WSLAY_CONNECTION_CLOSE && a->status_code != 0 &&
                  !(n >= 2 && d[0] == code[0] && d[1] == code[1]);
  msg *m = malloc(sizeof *m + n + (add_code ? 2 : 0) + 1);
  if (m == NULL) {
    w->broken = true;
    return;
  }
  m->next = NULL;
  m->opcode = a->opcode;
  m->len = 0;
  if (add_code) {
    memcpy(m->data, code, 2);
    m->len = 2;
  }
  if (n)
    memcpy(m->data + m->len, d, n);
  m->len += n;
  m->data[m->len] = '\0';
  if (w->tail)
    w->tail->next = m;
  else
    w->head = m;
  w->tail = m;
}

static long ms_since(const struct timespec *t0)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int dial(const char *host, int port, char *err, size_t err_cap)
{
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  int rc = getaddrinfo(host, ps, &hints, &ai);
  if (rc != 0) {
    set_err(err, err_cap, "%s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      set_err(err, err_cap, "connect %s:%d: %s", host, port, strerror(errno));
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

/* Blocking writes and reads during the handshake (TLS or plain). */
static bool hs_write(ttb_tc_ws *w, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t k;
    if (w->ssl) {
      int r = SSL_write(w->ssl, c, n > 1u << 30 ? 1 << 30 : (int)n);
      k = r > 0 ? r : -1;
    } else {
      k = send(w->fd, c, n, MSG_NOSIGNAL);
      if (k < 0 && errno == EINTR)
        continue;
    }
    if (k <= 0)
      return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

/* > 0 bytes, 0 closed, -1 failed, -2 timeout. */
static ssize_t hs_read(ttb_tc_ws *w, void *p, size_t n, int timeout_ms)
{
  if (!(w->ssl && SSL_pending(w->ssl) > 0)) {
    struct pollfd pf = {w->fd, POLLIN, 0};
    int r = poll(&pf, 1, timeout_ms);
    if (r == 0 || (r < 0 && errno == EINTR))
      return -2;
    if (r < 0)
      return -1;
  }
  if (w->ssl) {
    int r = SSL_read(w->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
    if (r > 0)
      return r;
    int e = SSL_get_error(w->ssl, r);
    return e == SSL_ERROR_ZERO_RETURN ? 0 : e == SSL_ERROR_WANT_READ ? -2 : -1;
  }
  return recv(w->fd, p, n, 0);
}

static bool tls_start(ttb_tc_ws *w, const char *host, char *err, size_t err_cap)
{
  w->ctx = SSL_CTX_new(TLS_client_method());
  if (w->ctx == NULL)
    goto fail;
  SSL_CTX_set_min_proto_version(w->ctx, TLS1_2_VERSION);
  if (insecure_tls()) {
    SSL_CTX_set_verify(w->ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(w->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_verify_paths(w->ctx);
  }
  w->ssl = SSL_new(w->ctx);
  if (w->ssl == NULL || SSL_set_fd(w->ssl, w->fd) != 1)
    goto fail;
  SSL_set_tlsext_host_name(w->ssl, host);
  SSL_set1_host(w->ssl, host);
  if (SSL_connect(w->ssl) != 1)
    goto fail;
  return true;
fail:;
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  set_err(err, err_cap, "TLS with %s: %s (TTB_INSECURE_TLS=1 skips certificate checks)", host, buf);
  return false;
}

int ttb_tc_ws_connect(ttb_tc_ws **out, const char *host, int port, bool tls, const char *path,
                      const char *subprotocol, const char *extra_headers, int timeout_ms, char *err,
                      size_t err_cap)
{
  *out = NULL;
  char key[TTB_TC_WS_KEY_SIZE];
  if (!ttb_tc_ws_key(key)) {
    set_err(err, err_cap, "no random bytes for the key");
    return -1;
  }
  /* Host: a v6 address in brackets, the port unless it is the scheme's */
  char hh[300];
  bool v6 = strchr(host, ':') != NULL;
  if (port == (tls ? 443 : 80))
    snprintf(hh, sizeof hh, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
  else
    snprintf(hh, sizeof hh, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
  char req[4096];
  int rn = ttb_tc_ws_request(req, sizeof req, hh, path, key, subprotocol, extra_headers);
  if (rn < 0) {
    set_err(err, err_cap, "the upgrade request is too long");
    return -1;
  }
  int fd = dial(host, port, err, err_cap);
  if (fd < 0)
    return -1;
  ttb_tc_ws *w = calloc(1, sizeof *w);
  uint8_t *buf = malloc(16384);
  if (w == NULL || buf == NULL) {
    free(w);
    free(buf);
    close(fd);
    set_err(err, err_cap, "out of memory");
    return -1;
  }
  w->fd = fd;
  if (tls && !tls_start(w, host, err, err_cap))
    goto fail;
  if (!hs_write(w, req, (size_t)rn)) {
    set_err(err, err_cap, "sending the upgrade failed");
    goto fail;
  }
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t len = 0, hl = 0;
  int st = 0;
  while (st == 0) {
    long left = timeout_ms - ms_since(&t0);
    ssize_t k = left > 0 ? hs_read(w, buf + len, 16384 - len, (int)left) : -2;
    if (k == -2) {
      set_err(err, err_cap, "no answer to the upgrade");
      goto fail;
    }
    if (k <= 0) {
      set_err(err, err_cap, "connection closed during the handshake");
      goto fail;
    }
    len += (size_t)k;
    st =
        ttb_tc_ws_response((const char *)buf, len, key, &hl, w->subprotocol, sizeof w->subprotocol);
    if (st == 0 && len == 16384)
      st = -1;
  }
  if (st < 0) {
    set_err(err, err_cap, "bad upgrade answer: %.*s", (int)(len < 200 ? len : 200), (char *)buf);
    goto fail;
  }
  if (st != 101) {
    size_t bl = len - hl;
    set_err(err, err_cap, "HTTP %d: %.*s", st, (int)(bl > 300 ? 300 : bl), (char *)buf + hl);
    free(buf);
    ttb_tc_ws_free(w);
    return st;
  }
  memmove(buf, buf + hl, len - hl);
  w->pre = buf;
  w->pre_len = len - hl;
  /* TLS reads go through SSL_read, which would block: the socket becomes
   * non-blocking (plain reads use MSG_DONTWAIT and keep it blocking for
   * tests that write to it) */
  if (w->ssl && fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK) != 0) {
    set_err(err, err_cap, "fcntl: %s", strerror(errno));
    ttb_tc_ws_free(w);
    return -1;
  }
  struct wslay_event_callbacks cb = {
      .recv_callback = ev_recv,
      .send_callback = ev_send,
      .genmask_callback = ev_genmask,
      .on_msg_recv_callback = ev_msg,
  };
  if (wslay_event_context_client_init(&w->ev, &cb, w) != 0) {
    w->ev = NULL;
    set_err(err, err_cap, "wslay_event_context_client_init failed");
    ttb_tc_ws_free(w);
    return -1;
  }
  wslay_event_config_set_max_recv_msg_length(w->ev, 64u << 20);
  *out = w;
  return 0;
fail:
  free(buf);
  ttb_tc_ws_free(w);
  return -1;
}

int ttb_tc_ws_fd(const ttb_tc_ws *w) { return w->fd; }

const char *ttb_tc_ws_subprotocol(const ttb_tc_ws *w) { return w->subprotocol; }

static int flush(ttb_tc_ws *w)
{
  while (wslay_event_want_write(w->ev)) {
    if (wslay_event_send(w->ev) != 0) {
      w->broken = true;
      return -1;
    }
  }
  return 0;
}

int ttb_tc_ws_send(ttb_tc_ws *w, int opcode, const void *data, size_t len)
{
  if (w->broken)
    return -1;
  struct wslay_event_msg m = {(uint8_t)opcode, data, len};
  if (wslay_event_queue_msg(w->ev, &m) != 0)
    return -1;
  return flush(w);
}

int ttb_tc_ws_recv(ttb_tc_ws *w, const uint8_t **data, size_t *len, int timeout_ms)
{
  free(w->last);
  w->last = NULL;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (w->head) {
      msg *m = w->head;
      w->head = m->next;
      if (w->head == NULL)
        w->tail = NULL;
      w->last = m;
      *data = m->data;
      *len = m->len;
      return m->opcode;
    }
    if (w->broken || !wslay_event_get_read_enabled(w->ev))
      return -1;
    if (w->pre_off >= w->pre_len) {
      long left = timeout_ms - ms_since(&t0);
      if (left <= 0)
        return 0;
      struct pollfd p = {w->fd, POLLIN, 0};
      int pr = poll(&p, 1, (int)left);
      if (pr < 0 && errno != EINTR)
        return -1;
      if (pr <= 0)
        continue;
    }
    if (wslay_event_recv(w->ev) != 0)
      w->broken = true; /* messages parsed before the failure are still returned */
    else
      flush(w); /* pongs, the answer to a close */
  }
}

bool ttb_tc_ws_pending(const ttb_tc_ws *w) { return w->head != NULL || w->pre_off < w->pre_len; }

void ttb_tc_ws_free(ttb_tc_ws *w)
{
  if (w == NULL)
    return;
  if (w->ev)
    wslay_event_context_free(w->ev);
  if (w->ssl) {
    SSL_shutdown(w->ssl);
    SSL_free(w->ssl);
  }
  if (w->ctx)
    SSL_CTX_free(w->ctx);
  if (w->fd >= 0)
    close(w->fd);
  for (msg *m = w->head; m;) {
    msg *n = m->next;
    free(m);
    m = n;
  }
  free(w->last);
  free(w->pre);
  free(w);
}

/* ================================================================== JSON */

/* The token of the value of the first key named key, or -1. */
static int find_any(ttb_jr *r, const char *key)
{
  size_t kn = strlen(key);
  for (int i = 0; i < r->ntok; i++) {
    const jsmntok_t *t = &r->toks[i];
    if (t->type != JSMN_OBJECT)
      continue;
    /* keys of object i: i+1, then after each value */
    int k = i + 1;
    for (int c = 0; c < t->size && k < r->ntok; c++) {
      char buf[256];
      const char *s;
      size_t n;
      if (!ttb_jr_key(r, k, buf, sizeof buf, &s, &n))
        return -1;
      if (n == kn && memcmp(s, key, n) == 0)
        return k + 1;
      k = ttb_jr_next(r, k + 1);
    }
  }
  return -1;
}

bool ttb_tc_json_int(const char *js, size_t len, const char *key, int64_t *out)
{
  ttb_jr r = {0};
  if (!ttb_jr_parse_alloc(&r, js, len, 1u << 20)) {
    ttb_jr_finish(&r);
    return false;
  }
  int v = find_any(&r, key);
  bool ok = v > 0 && ttb_jr_i64(&r, v, key, INT64_MIN, INT64_MAX, out);
  ttb_jr_finish(&r);
  return ok;
}

bool ttb_tc_json_str(const char *js, size_t len, const char *key, char *out, size_t cap)
{
  ttb_jr r = {0};
  if (cap == 0 || !ttb_jr_parse_alloc(&r, js, len, 1u << 20)) {
    if (cap)
      ttb_jr_finish(&r);
    return false;
  }
  int v = find_any(&r, key);
  size_t n = 0;
  char *tmp = NULL;
  /* unescaped in full, then cut to cap - 1 bytes */
  bool ok = v > 0 && ttb_jr_string_len(&r, v, key, &n) && (tmp = malloc(n + 1)) != NULL &&
            ttb_jr_string_buf(&r, v, key, n, tmp, n + 1);
  if (ok)
    snprintf(out, cap, "%s", tmp);
  free(tmp);
  ttb_jr_finish(&r);
  return ok;
}
