/*
 * http_lws.c — ttb__http_lws: one blocking HTTP(S) request on
 * libwebsockets, with a private lws_context per call (so calls on different
 * threads share nothing). Used for login and audio downloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "net.h"

typedef struct hreq {
  const ttb__http_req *req;
  ttb__http_resp *resp;
  size_t cap; /* resp->body allocated bytes */
  size_t max;
  int rc; /* TTB_OK or TTB_ERR_* once done */
  bool done, timed_out, ending;
  bool body_sent;
  char why[200];
  lws_sorted_usec_list_t sul;
} hreq;

static void finish(hreq *h, int rc, const char *why)
{
  if (h->done)
    return;
  h->done = true;
  h->rc = rc;
  if (why)
    snprintf(h->why, sizeof h->why, "%s", why);
}

static int append(hreq *h, const void *data, size_t len)
{
  if (len > h->max - h->resp->len)
    return TTB_ERR_PROTOCOL;
  if (h->resp->len + len + 1 > h->cap) {
    size_t ncap = h->cap ? h->cap : 4096;
    while (ncap < h->resp->len + len + 1)
      ncap *= 2;
    uint8_t *nb = realloc(h->resp->body, ncap);
    if (!nb)
      return TTB_ERR_NOMEM;
    h->resp->body = nb;
    h->cap = ncap;
  }
  memcpy(h->resp->body + h->resp->len, data, len);
  h->resp->len += len;
  h->resp->body[h->resp->len] = '\0';
  return TTB_OK;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
  (void)user;
  struct lws_context *ctx = lws_get_context(wsi);
  hreq *h = ctx ? lws_context_user(ctx) : NULL;
  if (!h || h->ending)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = (unsigned char **)in, *end = (*p) + len;
    const ttb__http_req *r = h->req;
    if (r->bearer && *r->bearer) {
      char auth[300];
      int n = snprintf(auth, sizeof auth, "Bearer %s", r->bearer);
      if (n < 0 || (size_t)n >= sizeof auth ||
          lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)auth, n,
                                       p, end))
        return -1;
    }
    if (r->body && r->body_len) {
      char cl[32];
      int n = snprintf(cl, sizeof cl, "%zu", r->body_len);
      const char *ct = r->content_type ? r->content_type : "application/octet-stream";
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)ct,
                                       (int)strlen(ct), p, end) ||
          lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (unsigned char *)cl, n,
                                       p, end))
        return -1;
      lws_client_http_body_pending(wsi, 1);
      lws_callback_on_writable(wsi);
    }
    break;
  }
  case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: {
    const ttb__http_req *r = h->req;
    if (h->body_sent || !r->body || !r->body_len)
      break;
    uint8_t *buf = malloc(LWS_PRE + r->body_len);
    if (!buf) {
      finish(h, TTB_ERR_NOMEM, "out of memory");
      return -1;
    }
    memcpy(buf + LWS_PRE, r->body, r->body_len);
    int n = lws_write(wsi, buf + LWS_PRE, r->body_len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    h->body_sent = true;
    if (n < 0 || (size_t)n < r->body_len) {
      finish(h, TTB_ERR_NETWORK, "sending the request failed");
      return -1;
    }
    lws_client_http_body_pending(wsi, 0);
    break;
  }
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    h->resp->status = (int)lws_http_client_http_response(wsi);
    break;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
    char buf[LWS_PRE + 4096];
    char *px = buf + LWS_PRE;
    int lenx = (int)sizeof buf - LWS_PRE;
    if (lws_http_client_read(wsi, &px, &lenx) < 0)
      return -1;
    break;
  }
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ: {
    int rc = append(h, in, len);
    if (rc != TTB_OK) {
      finish(h, rc, rc == TTB_ERR_NOMEM ? "out of memory" : "the answer is larger than allowed");
      return -1;
    }
    break;
  }
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    if (!h->resp->status)
      h->resp->status = (int)lws_http_client_http_response(wsi);
    finish(h, TTB_OK, NULL);
    lws_cancel_service(ctx);
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    char why[200];
    snprintf(why, sizeof why, "%.150s", in ? (const char *)in : "cannot connect");
    finish(h, TTB_ERR_NETWORK, why);
    break;
  }
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    /* A body ended by the connection's close (no length) is complete. */
    if (h->resp->status)
      finish(h, TTB_OK, NULL);
    else
      finish(h, TTB_ERR_NETWORK, "the connection closed before an answer");
    break;
  default:
    break;
  }
  return 0;
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
  hreq *h = lws_container_of(sul, hreq, sul);
  h->timed_out = true;
}

static const struct lws_protocols PROTOCOLS[] = {
    {"ttboost-http", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int ttb__http_lws(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                  size_t errlen)
{
  (void)user;
  if (err && errlen)
    err[0] = '\0';
  if (!req || !resp || !req->url || !req->method) {
    if (err && errlen)
      snprintf(err, errlen, "bad request");
    return TTB_ERR_INVALID;
  }
  memset(resp, 0, sizeof *resp);
  ttb__url u;
  if (ttb__url_parse(req->url, &u, err, errlen) != TTB_OK || u.ws) {
    if (u.ws && err && errlen)
      snprintf(err, errlen, "not an http(s) URL");
    return TTB_ERR_INVALID;
  }
  ttb__lws_quiet_logs();
  int timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000;

  hreq h;
  memset(&h, 0, sizeof h);
  h.req = req;
  h.resp = resp;
  h.max = req->max_response ? req->max_response : ((size_t)16 << 20);

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = PROTOCOLS;
  /* lws creates a client vhost only with DO_SSL_GLOBAL_INIT; the client
     * SSL_CTX is ours (see net.h) */
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  struct ssl_ctx_st *tls = ttb__lws_client_tls(req->ca_file);
  if (!tls) {
    if (err && errlen)
      snprintf(err, errlen, "cannot set up TLS (CA file %s)",
               req->ca_file ? req->ca_file : "of the system");
    return TTB_ERR_NETWORK;
  }
  info.provided_client_ssl_ctx = tls;
  info.user = &h;
  info.gid = -1;
  info.uid = -1;
  info.fd_limit_per_thread = 4;
  info.timeout_secs = (unsigned)(timeout_ms / 1000 + 1);
  info.connect_timeout_secs = info.timeout_secs;
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) {
    ttb__lws_client_tls_free(tls);
    if (err && errlen)
      snprintf(err, errlen, "cannot start the network library");
    return TTB_ERR_NETWORK;
  }

  struct lws_client_connect_info i;
  memset(&i, 0, sizeof i);
  i.context = ctx;
  i.address = u.host;
  i.port = u.port;
  i.ssl_connection = u.tls ? LCCSCF_USE_SSL : 0;
  i.ssl_connection |= LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
  i.path = u.path;
  i.host = u.host;
  i.origin = u.host;
  i.method = req->method;
  i.protocol = PROTOCOLS[0].name;
  i.alpn = "http/1.1";
  lws_sul_schedule(ctx, 0, &h.sul, on_timeout, (lws_usec_t)timeout_ms * 1000);
  struct lws *wsi = lws_client_connect_via_info(&i);
  if (!wsi && !h.done)
    finish(&h, TTB_ERR_NETWORK, "cannot connect");
  while (!h.done && !h.timed_out)
    lws_service(ctx, 0);
  h.ending = true;
  lws_sul_cancel(&h.sul);
  lws_context_destroy(ctx);
  ttb__lws_client_tls_free(tls);

  int rc = h.done ? h.rc : TTB_ERR_NETWORK;
  if (!h.done)
    snprintf(h.why, sizeof h.why, "no answer within %d ms", timeout_ms);
  if (rc == TTB_OK && !resp->status) {
    rc = TTB_ERR_NETWORK;
    snprintf(h.why, sizeof h.why, "no HTTP status received");
  }
  if (rc != TTB_OK) {
    ttb__http_resp_finish(resp);
    if (err && errlen)
      snprintf(err, errlen, "%s", h.why[0] ? h.why : ttb__net_strerror(rc));
    return rc;
  }
  if (!resp->body) {
    resp->body = malloc(1);
    if (!resp->body) {
      if (err && errlen)
        snprintf(err, errlen, "out of memory");
      return TTB_ERR_NOMEM;
    }
    resp->body[0] = '\0';
  }
  return TTB_OK;
}

/* ================================================================ session (streamed GETs) */

typedef struct sget {
  ttb__http_body_fn on_body;
  void *body_user;
  size_t max, got;
  int status;
  int rc; /* TTB_OK or TTB_ERR_* once done */
  bool done, timed_out;
  char why[200];
} sget;

struct ttb__http_session {
  struct lws_context *ctx;
  struct ssl_ctx_st *tls;
  sget *cur; /* the GET being served, NULL between GETs */
  int64_t last_byte_ms;
  bool used;                   /* a GET has completed: a kept-alive connection may exist */
  lws_sorted_usec_list_t tick; /* wakes lws_service to check the idle clock */
  unsigned connections;        /* TCP connections that carried an answer */
  int last_port;               /* their local port: a new one is a new connection */
};

/* Counts the TCP connection of an answer when it is not the last one's. */
static void count_connection(ttb__http_session *s, struct lws *wsi)
{
  struct sockaddr_storage a;
  socklen_t al = sizeof a;
  int fd = (int)lws_get_socket_fd(wsi);
  if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &al) != 0)
    return;
  int port = a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                     : ((struct sockaddr_in *)&a)->sin_port;
  if (port != s->last_port) {
    s->last_port = port;
    s->connections++;
  }
}

unsigned ttb__http_session_connections(const ttb__http_session *s)
{
  return s ? s->connections : 0;
}

#define SESSION_TICK_US 50000

static void session_tick(lws_sorted_usec_list_t *sul)
{
  ttb__http_session *s = lws_container_of(sul, ttb__http_session, tick);
  if (s->cur)
    lws_sul_schedule(s->ctx, 0, &s->tick, session_tick, SESSION_TICK_US);
}

static void sget_finish(sget *g, int rc, const char *why)
{
  if (g->done)
    return;
  g->done = true;
  g->rc = rc;
  if (why)
    snprintf(g->why, sizeof g->why, "%s", why);
}

static int session_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len)
{
  (void)user;
  struct lws_context *ctx = lws_get_context(wsi);
  ttb__http_session *s = ctx ? lws_context_user(ctx) : NULL;
  /* Only the current GET's own connection speaks; an idle kept-alive
     * connection closing between GETs (or for an earlier one) is nobody's. */
  sget *g = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  if (!s || !g || g != s->cur || g->done) {
    if (reason == LWS_CALLBACK_RECEIVE_CLIENT_HTTP) {
      char buf[LWS_PRE + 4096];
      char *px = buf + LWS_PRE;
      int lenx = (int)sizeof buf - LWS_PRE;
      if (lws_http_client_read(wsi, &px, &lenx) < 0)
        return -1;
    }
    return 0;
  }
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    g->status = (int)lws_http_client_http_response(wsi);
    s->last_byte_ms = ttb__monotonic_ms();
    count_connection(s, wsi);
    break;
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
    char buf[LWS_PRE + 4096];
    char *px = buf + LWS_PRE;
    int lenx = (int)sizeof buf - LWS_PRE;
    if (lws_http_client_read(wsi, &px, &lenx) < 0)
      return -1;
    break;
  }
  case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
    s->last_byte_ms = ttb__monotonic_ms();
    if (len > g->max - g->got) {
      sget_finish(g, TTB_ERR_PROTOCOL, "the answer is larger than allowed");
      return -1;
    }
    g->got += len;
    if (g->status >= 200 && g->status <= 299 && g->on_body && len > 0) {
      int rc = g->on_body(g->body_user, in, len);
      if (rc != TTB_OK) {
        sget_finish(g, rc, "stopped by the receiver");
        return -1; /* the rest of the body is not wanted: close */
      }
    }
    break;
  case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    if (!g->status)
      g->status = (int)lws_http_client_http_response(wsi);
    sget_finish(g, TTB_OK, NULL);
    lws_cancel_service(ctx);
    break;
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    char why[200];
    snprintf(why, sizeof why, "%.150s", in ? (const char *)in : "cannot connect");
    sget_finish(g, TTB_ERR_NETWORK, why);
    break;
  }
  case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    /* A body ended by the connection's close (no length, no chunks) is
         * complete; a close before the status is a failure. */
    if (g->status)
      sget_finish(g, TTB_OK, NULL);
    else
      sget_finish(g, TTB_ERR_NETWORK, "the connection closed before an answer");
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols SESSION_PROTOCOLS[] = {
    {"ttboost-get", session_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int ttb__http_session_create(const char *ca_file, ttb__http_session **out)
{
  if (!out)
    return TTB_ERR_INVALID;
  *out = NULL;
  ttb__lws_quiet_logs();
  ttb__http_session *s = calloc(1, sizeof *s);
  if (!s)
    return TTB_ERR_NOMEM;
  s->tls = ttb__lws_client_tls(ca_file);
  if (!s->tls) {
    free(s);
    return TTB_ERR_NETWORK;
  }
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = SESSION_PROTOCOLS;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT; /* see ttb__http_lws */
  info.provided_client_ssl_ctx = s->tls;
  info.user = s;
  info.gid = -1;
  info.uid = -1;
  info.fd_limit_per_thread = 8;
  info.timeout_secs = 30; /* our own idle timer is the one that counts */
  info.connect_timeout_secs = 15;
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    ttb__lws_client_tls_free(s->tls);
    free(s);
    return TTB_ERR_NETWORK;
  }
  *out = s;
  return TTB_OK;
}

void ttb__http_session_destroy(ttb__http_session *s)
{
  if (!s)
    return;
  s->cur = NULL;
  lws_sul_cancel(&s->tick);
  lws_context_destroy(s->ctx);
  ttb__lws_client_tls_free(s->tls);
  free(s);
}

/* One attempt of a GET: serves the context until it is done. */
static int session_get_once(ttb__http_session *s, const ttb__url *u, int idle_ms, sget *g)
{
  struct lws_client_connect_info i;
  memset(&i, 0, sizeof i);
  i.context = s->ctx;
  i.address = u->host;
  i.port = u->port;
  i.ssl_connection =
      (u->tls ? LCCSCF_USE_SSL : 0) | LCCSCF_HTTP_NO_FOLLOW_REDIRECT | LCCSCF_PIPELINE;
  i.path = u->path;
  i.host = u->host;
  i.origin = u->host;
  i.method = "GET";
  i.protocol = SESSION_PROTOCOLS[0].name;
  i.alpn = "http/1.1";
  i.opaque_user_data = g;
  s->cur = g;
  s->last_byte_ms = ttb__monotonic_ms();
  struct lws *wsi = lws_client_connect_via_info(&i);
  if (!wsi && !g->done)
    sget_finish(g, TTB_ERR_NETWORK, "cannot connect");
  lws_sul_schedule(s->ctx, 0, &s->tick, session_tick, SESSION_TICK_US);
  while (!g->done) {
    if (ttb__monotonic_ms() - s->last_byte_ms >= idle_ms) {
      snprintf(g->why, sizeof g->why, "no data for %d ms", idle_ms);
      g->rc = TTB_ERR_NETWORK;
      g->done = g->timed_out = true;
      break;
    }
    lws_service(s->ctx, 0); /* returns at the latest on the next tick */
  }
  lws_sul_cancel(&s->tick);
  /* Timed out: this transaction's connection is dropped, so a late answer
     * cannot be taken for the next GET's. (Its wsi is alive: neither a
     * completion, an error nor a close was reported for it.) */
  if (g->timed_out && wsi)
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  s->cur = NULL;
  return g->rc;
}

int ttb__http_session_get(void *session, const char *url, int idle_ms, size_t max_body,
                          ttb__http_body_fn on_body, void *body_user, int *status, char *err,
                          size_t errlen)
{
  ttb__http_session *s = session;
  if (err && errlen)
    err[0] = '\0';
  if (status)
    *status = 0;
  if (!s || !url) {
    if (err && errlen)
      snprintf(err, errlen, "bad request");
    return TTB_ERR_INVALID;
  }
  ttb__url u;
  if (ttb__url_parse(url, &u, err, errlen) != TTB_OK || u.ws) {
    if (u.ws && err && errlen)
      snprintf(err, errlen, "not an http(s) URL");
    return TTB_ERR_INVALID;
  }
  if (idle_ms <= 0)
    idle_ms = TTB__DOWNLOAD_TIMEOUT_MS;
  for (int attempt = 0;; attempt++) {
    sget g;
    memset(&g, 0, sizeof g);
    g.on_body = on_body;
    g.body_user = body_user;
    g.max = max_body ? max_body : TTB__DOWNLOAD_MAX;
    bool reused = s->used;
    int rc = session_get_once(s, &u, idle_ms, &g);
    if (rc == TTB_OK)
      s->used = true;
    /* A kept-alive connection the server closed while it was idle
         * fails before any answer: once more on a new one. */
    if (rc == TTB_ERR_NETWORK && g.status == 0 && g.got == 0 && reused && attempt == 0 &&
        !g.timed_out) {
      s->used = false;
      continue;
    }
    if (status)
      *status = g.status;
    if (rc != TTB_OK && err && errlen)
      snprintf(err, errlen, "%s", g.why[0] ? g.why : ttb__net_strerror(rc));
    return rc;
  }
}
