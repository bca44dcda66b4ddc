/*
 * transport_lws.c — the WebSocket transport (ttb__transport) on
 * libwebsockets: one private lws_context (client only), one socket at a time.
 *
 * Everything here runs on the thread that calls service(), except wake()
 * (lws_cancel_service, the one thread-safe lws call). Callbacks into the
 * owner fire only from inside service(): a close that lws reports while
 * open() or close() runs is kept and handed over at the next service().
 *
 * Each socket has a small `sock` record (the wsi's user data). Records live
 * in a list owned by the transport: one is freed at the next service() once
 * lws has destroyed its wsi (LWS_CALLBACK_WSI_DESTROY, or lws cleared the
 * wsi pointer it was given through pwsi); the rest are freed after the
 * context is destroyed, so lws never sees a dangling user pointer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "net.h"

#define TX_CAP 64 /* messages waiting to be written */

typedef struct sock {
  struct sock *next;
  struct lws *wsi;
  bool gone; /* lws destroyed the wsi: free the record */
  bool dead; /* dropped by the owner: report nothing more */
  bool established;
  bool reported;  /* on_closed given (or due) for it */
  int close_code; /* ours, sent when dropping it */
  int peer_code;  /* the peer's close code, 0 when none */
  char peer_reason[124];
} sock;

typedef struct txmsg {
  uint8_t *buf; /* LWS_PRE + len */
  size_t len;
  bool binary;
} txmsg;

typedef struct lws_transport {
  ttb__transport base;
  struct lws_context *ctx;
  struct lws_protocols protocols[2];
  lws_retry_bo_t retry;
  sock *socks;
  sock *cur;      /* the socket of the latest open(), or NULL */
  int in_service; /* > 0 while inside lws_service */
  /* a close to report at the next service() */
  bool pending;
  int pend_code, pend_status;
  char pend_reason[160];
  /* the message being received */
  uint8_t *rx;
  size_t rx_len;
  bool rx_in_msg, rx_binary, rx_over;
  /* the send queue */
  txmsg tx[TX_CAP];
  unsigned tx_head, tx_len;
  lws_sorted_usec_list_t sul;
  SSL_CTX *tls; /* given to lws; ours to free */
} lws_transport;

/* ------------------------------------------------------------ logging */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_discard(int level, const char *line)
{
  (void)level;
  (void)line;
}

static void log_init(void)
{
  /* A library never prints: lws's log is off unless TTBOOST_LWS_LOG asks
     * for a level mask (e.g. 7 = errors, warnings, notices). */
  const char *e = getenv("TTBOOST_LWS_LOG");
  if (e && *e)
    lws_set_log_level(atoi(e), NULL);
  else
    lws_set_log_level(0, log_discard);
}

void ttb__lws_quiet_logs(void) { (void)pthread_once(&log_once, log_init); }

/* ------------------------------------------------------------ TLS */

struct ssl_ctx_st *ttb__lws_client_tls(const char *ca_file)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx)
    return NULL;
  int ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (ok)
    ok = ca_file && *ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                             : SSL_CTX_set_default_verify_paths(ctx);
  if (!ok) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

void ttb__lws_client_tls_free(struct ssl_ctx_st *ctx)
{
  if (ctx)
    SSL_CTX_free(ctx);
}

/* ------------------------------------------------------------ helpers */

static void tx_clear(lws_transport *t)
{
  while (t->tx_len) {
    free(t->tx[t->tx_head].buf);
    t->tx[t->tx_head].buf = NULL;
    t->tx_head = (t->tx_head + 1) % TX_CAP;
    t->tx_len--;
  }
  t->tx_head = 0;
}

static void rx_reset(lws_transport *t)
{
  t->rx_len = 0;
  t->rx_in_msg = t->rx_over = t->rx_binary = false;
}

/* Reports the end of the current socket once: now when inside service(),
 * else at the next service(). */
static void report_closed(lws_transport *t, sock *s, int code, int status, const char *reason)
{
  if (s != t->cur || s->dead || s->reported)
    return;
  s->reported = true;
  t->cur = NULL;
  tx_clear(t);
  rx_reset(t);
  if (!reason || !*reason)
    reason = "connection closed";
  if (t->in_service && t->base.cb.on_closed) {
    t->base.cb.on_closed(t->base.cb.user, code, status, reason);
    return;
  }
  t->pending = true;
  t->pend_code = code;
  t->pend_status = status;
  snprintf(t->pend_reason, sizeof t->pend_reason, "%s", reason);
}

static void free_gone(lws_transport *t)
{
  sock **pp = &t->socks;
  while (*pp) {
    sock *s = *pp;
    /* gone: lws destroyed its wsi. dead without a wsi: lws cleared
         * *pwsi (a connect that failed early, e.g. DNS) and never calls
         * back for it again. */
    if (s->gone || (s->dead && !s->wsi && s != t->cur)) {
      *pp = s->next;
      free(s);
    } else {
      pp = &s->next;
    }
  }
}

/* Drops the socket: a close frame when it is up, else kill it. */
static void drop(sock *s, int code)
{
  s->dead = true;
  s->close_code = code;
  if (!s->wsi || s->gone)
    return;
  if (s->established) {
    lws_callback_on_writable(s->wsi); /* WRITEABLE sends the close */
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 3);
  } else {
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
}

/* ------------------------------------------------------------ lws callback */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
  struct lws_context *ctx = lws_get_context(wsi);
  lws_transport *t = ctx ? lws_context_user(ctx) : NULL;
  sock *s = user;
  if (!t || !s)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    s->established = true;
    if (s == t->cur && !s->dead && t->base.cb.on_connected)
      t->base.cb.on_connected(t->base.cb.user);
    break;

  case LWS_CALLBACK_CLIENT_RECEIVE: {
    if (s != t->cur || s->dead)
      break;
    if (!t->rx_in_msg) {
      t->rx_in_msg = true;
      t->rx_len = 0;
      t->rx_over = false;
      t->rx_binary = lws_frame_is_binary(wsi) != 0;
    }
    if (!t->rx_over) {
      if (len > TTB__RX_MAX - t->rx_len) {
        t->rx_over = true;
      } else if (len) {
        memcpy(t->rx + t->rx_len, in, len);
        t->rx_len += len;
      }
    }
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
      t->rx_in_msg = false;
      if (t->rx_over) {
        report_closed(t, s, 1009, 0, "a message from the server was too big");
        drop(s, 1009);
        break;
      }
      if (t->base.cb.on_message)
        t->base.cb.on_message(t->base.cb.user, t->rx, t->rx_len, t->rx_binary);
    }
    break;
  }

  case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    if (s == t->cur && !s->dead && t->base.cb.on_alive)
      t->base.cb.on_alive(t->base.cb.user);
    break;

  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    if (s->dead || s != t->cur) {
      lws_close_reason(wsi, (enum lws_close_status)(s->close_code ? s->close_code : 1000), NULL, 0);
      return -1;
    }
    if (!t->tx_len)
      break;
    txmsg *m = &t->tx[t->tx_head];
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    free(m->buf);
    m->buf = NULL;
    t->tx_head = (t->tx_head + 1) % TX_CAP;
    t->tx_len--;
    if (n < 0 || (size_t)n < m->len) {
      report_closed(t, s, 0, 0, "writing to the socket failed");
      return -1;
    }
    if (t->tx_len)
      lws_callback_on_writable(wsi);
    break;
  }

  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (in && len >= 2) {
      const uint8_t *p = in;
      s->peer_code = (p[0] << 8) | p[1];
      size_t rl = len - 2;
      if (rl >= sizeof s->peer_reason)
        rl = sizeof s->peer_reason - 1;
      memcpy(s->peer_reason, p + 2, rl);
      s->peer_reason[rl] = '\0';
      for (size_t i = 0; i < rl; i++)
        if ((unsigned char)s->peer_reason[i] < 0x20)
          s->peer_reason[i] = ' ';
    } else {
      s->peer_code = 1005;
    }
    break;

  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    int status = (int)lws_http_client_http_response(wsi);
    char why[160];
    if (in && len == 0)
      len = strlen((const char *)in);
    snprintf(why, sizeof why, "%.*s", in ? (int)(len < 150 ? len : 150) : 0,
             in ? (const char *)in : "");
    if (!why[0])
      snprintf(why, sizeof why, "cannot connect");
    if (status == 101 || status == 200)
      status = 0;
    report_closed(t, s, 0, status, why);
    break;
  }

  case LWS_CALLBACK_CLIENT_CLOSED: {
    char why[200];
    if (s->peer_code)
      snprintf(why, sizeof why, "closed by the server%s%s", s->peer_reason[0] ? ": " : "",
               s->peer_reason);
    else
      snprintf(why, sizeof why, "the connection was closed");
    report_closed(t, s, s->peer_code == 1005 ? 0 : s->peer_code, 0, why);
    break;
  }

  case LWS_CALLBACK_WSI_DESTROY:
    report_closed(t, s, s->peer_code == 1005 ? 0 : s->peer_code, 0, "the connection was closed");
    s->wsi = NULL;
    s->gone = true;
    break;

  default:
    break;
  }
  return 0;
}

/* ------------------------------------------------------------ ops */

static int op_open(ttb__transport *base, const char *url, const char *subprotocol)
{
  lws_transport *t = (lws_transport *)base;
  ttb__url u;
  if (ttb__url_parse(url, &u, NULL, 0) != TTB_OK || !u.ws)
    return TTB_ERR_INVALID;
  if (t->cur) {
    sock *old = t->cur;
    t->cur = NULL;
    drop(old, 1000);
  }
  t->pending = false;
  tx_clear(t);
  rx_reset(t);
  sock *s = calloc(1, sizeof *s);
  if (!s)
    return TTB_ERR_NOMEM;
  s->next = t->socks;
  t->socks = s;
  t->cur = s;

  struct lws_client_connect_info i;
  memset(&i, 0, sizeof i);
  i.context = t->ctx;
  i.address = u.host;
  i.port = u.port;
  i.ssl_connection = u.tls ? LCCSCF_USE_SSL : 0;
  i.path = u.path;
  i.host = u.host;
  i.origin = u.host;
  i.protocol = subprotocol;
  i.local_protocol_name = t->protocols[0].name;
  i.userdata = s;
  i.pwsi = &s->wsi;
  i.retry_and_idle_policy = &t->retry;
  struct lws *w = lws_client_connect_via_info(&i);
  if (!w) {
    /* lws may already have torn the wsi down (and called back); the
         * record stays until WSI_DESTROY marks it gone or the transport ends,
         * so lws never holds a dangling user pointer. */
    s->dead = true;
    if (t->cur == s)
      t->cur = NULL;
    t->pending = false;
    return TTB_ERR_NETWORK;
  }
  s->wsi = w;
  return TTB_OK;
}

static int op_send(ttb__transport *base, const uint8_t *data, size_t len, bool binary)
{
  lws_transport *t = (lws_transport *)base;
  sock *s = t->cur;
  if (!s || s->dead || !s->established || !s->wsi)
    return TTB_ERR_STATE;
  if (t->tx_len == TX_CAP)
    return TTB_ERR_NOMEM;
  uint8_t *buf = malloc(LWS_PRE + len + 1);
  if (!buf)
    return TTB_ERR_NOMEM;
  if (len)
    memcpy(buf + LWS_PRE, data, len);
  txmsg *m = &t->tx[(t->tx_head + t->tx_len) % TX_CAP];
  m->buf = buf;
  m->len = len;
  m->binary = binary;
  t->tx_len++;
  lws_callback_on_writable(s->wsi);
  return TTB_OK;
}

static void op_close(ttb__transport *base, int code)
{
  lws_transport *t = (lws_transport *)base;
  t->pending = false;
  tx_clear(t);
  rx_reset(t);
  if (!t->cur)
    return;
  sock *s = t->cur;
  t->cur = NULL;
  drop(s, code);
}

static void sul_cb(lws_sorted_usec_list_t *sul) { (void)sul; /* only ends the wait */ }

static void op_service(ttb__transport *base, int timeout_ms)
{
  lws_transport *t = (lws_transport *)base;
  free_gone(t);
  if (t->pending) {
    t->pending = false;
    if (t->base.cb.on_closed)
      t->base.cb.on_closed(t->base.cb.user, t->pend_code, t->pend_status, t->pend_reason);
    return;
  }
  /* lws_service ignores its timeout (it waits for the next scheduled
     * event), so a scheduled no-op bounds the wait. */
  if (timeout_ms > 0)
    lws_sul_schedule(t->ctx, 0, &t->sul, sul_cb, (lws_usec_t)timeout_ms * 1000);
  t->in_service++;
  lws_service(t->ctx, timeout_ms > 0 ? 0 : -1);
  t->in_service--;
  lws_sul_cancel(&t->sul);
}

static void op_wake(ttb__transport *base)
{
  lws_transport *t = (lws_transport *)base;
  lws_cancel_service(t->ctx);
}

static bool any_live(const lws_transport *t)
{
  for (const sock *s = t->socks; s; s = s->next)
    if (!s->gone && s->wsi)
      return true;
  return false;
}

static void op_destroy(ttb__transport *base)
{
  lws_transport *t = (lws_transport *)base;
  if (!t)
    return;
  t->cur = NULL;
  t->base.cb.on_closed = NULL;
  t->base.cb.on_message = NULL;
  t->base.cb.on_connected = NULL;
  t->base.cb.on_alive = NULL;
  if (t->ctx) {
    /* lws defers freeing a vhost (and its TLS context) while a socket is
         * still open, so let the sockets finish first: a moment for the
         * close frames, then kill what is left. */
    for (sock *s = t->socks; s; s = s->next)
      if (!s->gone && s->wsi && !s->dead)
        drop(s, 1000);
    int64_t end = ttb__monotonic_ms() + 300;
    for (int round = 0; any_live(t); round++) {
      if (round > 0 && ttb__monotonic_ms() >= end) {
        for (sock *s = t->socks; s; s = s->next)
          if (!s->gone && s->wsi)
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        end = ttb__monotonic_ms() + 200;
        for (int k = 0; k < 20 && any_live(t) && ttb__monotonic_ms() < end; k++)
          op_service(&t->base, 10);
        break;
      }
      op_service(&t->base, 10);
    }
    lws_sul_cancel(&t->sul);
    lws_context_destroy(t->ctx);
  }
  ttb__lws_client_tls_free(t->tls);
  tx_clear(t);
  while (t->socks) {
    sock *s = t->socks;
    t->socks = s->next;
    free(s);
  }
  free(t->rx);
  free(t);
}

static const ttb__transport_ops LWS_OPS = {
    .open = op_open,
    .send = op_send,
    .close = op_close,
    .service = op_service,
    .wake = op_wake,
    .destroy = op_destroy,
};

int ttb__transport_lws_create(const ttb__transport_lws_config *cfg, ttb__transport **out)
{
  if (!out)
    return TTB_ERR_INVALID;
  *out = NULL;
  ttb__lws_quiet_logs();
  lws_transport *t = calloc(1, sizeof *t);
  if (!t)
    return TTB_ERR_NOMEM;
  t->base.ops = &LWS_OPS;
  t->rx = malloc(TTB__RX_MAX);
  if (!t->rx) {
    free(t);
    return TTB_ERR_NOMEM;
  }
  int ping_s = cfg && cfg->ping_interval_s > 0 ? cfg->ping_interval_s : 10;
  int hang_s = cfg && cfg->hangup_s > 0 ? cfg->hangup_s : 30;
  if (hang_s <= ping_s)
    hang_s = ping_s + 1;
  t->retry.secs_since_valid_ping = (uint16_t)ping_s;
  t->retry.secs_since_valid_hangup = (uint16_t)hang_s;

  t->protocols[0].name = "ttboost";
  t->protocols[0].callback = callback;
  t->protocols[0].per_session_data_size = 0;
  t->protocols[0].rx_buffer_size = 16384;

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = t->protocols;
  /* lws creates a client vhost only with DO_SSL_GLOBAL_INIT; the client
     * SSL_CTX is ours (see net.h) */
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  t->tls = ttb__lws_client_tls(cfg ? cfg->ca_file : NULL);
  if (!t->tls) {
    free(t->rx);
    free(t);
    return TTB_ERR_NETWORK;
  }
  info.provided_client_ssl_ctx = t->tls;
  info.user = t;
  info.gid = -1;
  info.uid = -1;
  info.fd_limit_per_thread = 16;
  info.timeout_secs = 15;
  info.connect_timeout_secs = 15;
  t->ctx = lws_create_context(&info);
  if (!t->ctx) {
    ttb__lws_client_tls_free(t->tls);
    free(t->rx);
    free(t);
    return TTB_ERR_NETWORK;
  }
  *out = &t->base;
  return TTB_OK;
}
