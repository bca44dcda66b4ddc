/* WebSocket sessions: see ws.h. */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttboost/v1/events.pbc-json.h"

struct ttb_session {
  h2o_websocket_conn_t *conn;
  ttb_link all;  /* every session */
  ttb_link chan; /* the sessions of its channel */
  ttb_channel *ch;
  bool binary;
  bool closing;   /* the close frame is queued */
  bool draining;  /* a close waits for the error message before it to go out */
  uint16_t drain_code;
  char drain_reason[64];
  h2o_timeout_entry_t drain_entry;
  uint64_t closing_since;
  uint64_t last_recv;
  uint64_t last_ping;
  unsigned bad_msgs;
  ttb_ws_settings settings;
};

static struct {
  h2o_loop_t *loop;
  ttb_ws_limits limits;
  ttb_metrics *metrics;
  ttb_link all;
  size_t count;
  h2o_timeout_t sweep;
  h2o_timeout_entry_t sweep_entry;
  h2o_timeout_t drain; /* short: re-checks draining sessions */
} W;

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint32_t ttb__ws_heartbeat_ms(void) { return W.limits.heartbeat_ms; }
ttb_link *ttb_ws_channel_link(ttb_session *s) { return &s->chan; }
ttb_session *ttb_ws_from_channel_link(ttb_link *l)
{
  return (ttb_session *)((char *)l - offsetof(ttb_session, chan));
}
ttb_channel *ttb_ws_channel(const ttb_session *s) { return s->ch; }
void ttb_ws_set_channel(ttb_session *s, ttb_channel *c) { s->ch = c; }
bool ttb_ws_is_binary(const ttb_session *s) { return s->binary; }
const ttb_ws_settings *ttb_ws_get_settings(const ttb_session *s) { return &s->settings; }
size_t ttb_ws_count(void) { return W.count; }

/* Writes what is queued, once the upgrade has given the connection a socket. */
static void proceed(ttb_session *s)
{
  if (s->conn->sock != NULL)
    h2o_websocket_proceed(s->conn);
}

static bool queue(ttb_session *s, uint8_t opcode, const void *data, size_t len)
{
  struct wslay_event_msg m = {opcode, data, len};
  return wslay_event_queue_msg(s->conn->ws_ctx, &m) == 0;
}

static void begin_close(ttb_session *s, uint16_t code, const char *reason)
{
  if (s->closing)
    return;
  s->closing = true;
  s->closing_since = now_ms();
  size_t rl = strlen(reason);
  if (rl > 120)
    rl = 120;
  wslay_event_queue_close(s->conn->ws_ctx, code, (const uint8_t *)reason, rl);
  proceed(s);
}

static void send_error(ttb_session *s, const char *error, const char *message)
{
  Ttboost__V1__StreamError e = TTBOOST__V1__STREAM_ERROR__INIT;
  e.error = (char *)error;
  e.message = (char *)message;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_ERROR;
  m.error = &e;
  if (s->binary) {
    uint8_t buf[1024];
    size_t n = ttboost__v1__server_message__get_packed_size(&m);
    if (n <= sizeof buf) {
      ttboost__v1__server_message__pack(&m, buf);
      queue(s, WSLAY_BINARY_FRAME, buf, n);
    }
  } else {
    size_t n;
    char *js = ttb_pbc_ttboost_v1_ServerMessage_to_json(&m, &n, NULL);
    if (js)
      queue(s, WSLAY_TEXT_FRAME, js, n);
    free(js);
  }
}

/* A draining session: once everything queued before the close has gone
 * out (or after 2 s), queue the close frame. wslay sends control frames
 * before data, so queueing the close at once would overtake the error
 * message that explains it. */
static void on_drain(h2o_timeout_entry_t *entry)
{
  ttb_session *s = (ttb_session *)((char *)entry - offsetof(ttb_session, drain_entry));
  bool empty = s->conn->sock != NULL && wslay_event_get_queued_msg_count(s->conn->ws_ctx) == 0;
  if (empty || now_ms() - s->closing_since > 2000) {
    s->draining = false;
    begin_close(s, s->drain_code, s->drain_reason);
  } else {
    h2o_timeout_link(W.loop, &W.drain, &s->drain_entry);
  }
}

void ttb_ws_close(ttb_session *s, uint16_t code, const char *error, const char *message)
{
  if (s->closing || s->draining)
    return;
  if (error == NULL) {
    begin_close(s, code, "");
    return;
  }
  send_error(s, error, message ? message : "");
  proceed(s);
  s->draining = true;
  s->drain_code = code;
  snprintf(s->drain_reason, sizeof s->drain_reason, "%s", error);
  s->closing_since = now_ms();
  s->drain_entry.cb = on_drain;
  h2o_timeout_link(W.loop, &W.drain, &s->drain_entry);
}

bool ttb_ws_send(ttb_session *s, const void *data, size_t len)
{
  if (s->closing || s->draining)
    return false;
  wslay_event_context_ptr ctx = s->conn->ws_ctx;
  if (wslay_event_get_queued_msg_count(ctx) >= W.limits.max_queued_msgs ||
      wslay_event_get_queued_msg_length(ctx) + len > W.limits.max_queued_bytes) {
    W.metrics->queue_drops++;
    /* Control frames go before queued data in wslay, so the close (its
     * reason says why) reaches a client that still reads; one that does
     * not is cut by the sweep. */
    begin_close(s, TTB_WS_SLOW_CONSUMER, "slow_consumer");
    return false;
  }
  if (!queue(s, s->binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len))
    return false;
  proceed(s);
  return true;
}

bool ttb_ws_send2(ttb_session *s, const void *json, size_t json_len, const void *pb, size_t pb_len)
{
  return s->binary ? ttb_ws_send(s, pb, pb_len) : ttb_ws_send(s, json, json_len);
}

static void pong(ttb_session *s, uint64_t client_time)
{
  Ttboost__V1__Pong p = TTBOOST__V1__PONG__INIT;
  p.client_time_ms = client_time;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  p.server_time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_PONG;
  m.pong = &p;
  uint8_t buf[64];
  size_t js_len;
  char *js = ttb_pbc_ttboost_v1_ServerMessage_to_json(&m, &js_len, NULL);
  size_t n = ttboost__v1__server_message__get_packed_size(&m);
  if (js && n <= sizeof buf) {
    ttboost__v1__server_message__pack(&m, buf);
    ttb_ws_send2(s, js, js_len, buf, n);
  }
  free(js);
}

static void bad_message(ttb_session *s, const char *why)
{
  char msg[256];
  snprintf(msg, sizeof msg, "Message refused: %s", why);
  if (++s->bad_msgs > 20) {
    ttb_ws_close(s, TTB_WS_POLICY, "bad_message", "Too many invalid messages.");
    return;
  }
  send_error(s, "bad_message", msg);
  proceed(s);
}

static void on_client_message(ttb_session *s, const struct wslay_event_on_msg_recv_arg *arg)
{
  Ttboost__V1__ClientMessage *m = NULL;
  if (arg->opcode == WSLAY_TEXT_FRAME) {
    ttb_json_error err = {0};
    m = ttb_pbc_ttboost_v1_ClientMessage_from_json((const char *)arg->msg, arg->msg_length, NULL, &err);
    if (m == NULL) {
      bad_message(s, err.msg);
      return;
    }
  } else if (arg->opcode == WSLAY_BINARY_FRAME) {
    m = ttboost__v1__client_message__unpack(NULL, arg->msg_length, arg->msg);
    char err[160] = "";
    if (m == NULL || !ttb_pbc_ttboost_v1_ClientMessage_validate(m, err, sizeof err)) {
      bad_message(s, m ? err : "not a ClientMessage");
      if (m)
        ttboost__v1__client_message__free_unpacked(m, NULL);
      return;
    }
  } else {
    return;
  }
  switch (m->payload_case) {
  case TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SETTINGS:
    s->settings.tts_enabled = m->settings->tts_enabled;
    s->settings.gifts_enabled = m->settings->gifts_enabled;
    s->settings.audio_frames = m->settings->audio_frames;
    s->settings.profanity_filter = m->settings->profanity_filter;
    break;
  case TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_PING:
    pong(s, m->ping->client_time_ms);
    break;
  case TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_ACK:
    break; /* acknowledgements are informational in v1 */
  default:
    bad_message(s, "type: missing");
    break;
  }
  ttboost__v1__client_message__free_unpacked(m, NULL);
}

static void session_free(ttb_session *s)
{
  if (h2o_timeout_is_linked(&s->drain_entry))
    h2o_timeout_unlink(&s->drain_entry);
  ttb_hub_unsubscribe(s);
  s->all.prev->next = s->all.next;
  s->all.next->prev = s->all.prev;
  W.count--;
  W.metrics->sockets_open--;
  if (s->binary)
    W.metrics->sockets_binary--;
  free(s);
}

static void on_ws_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
  ttb_session *s = conn->data;
  if (arg == NULL) {
    session_free(s);
    h2o_websocket_close(conn);
    return;
  }
  s->last_recv = now_ms();
  if (wslay_is_ctrl_frame(arg->opcode) || s->closing)
    return;
  on_client_message(s, arg);
}

/* Every second: ping sessions due for one, cut dead peers and clients that
 * never finish closing. */
static void on_sweep(h2o_timeout_entry_t *entry)
{
  (void)entry;
  uint64_t now = now_ms();
  uint64_t hb = W.limits.heartbeat_ms;
  for (ttb_link *l = W.all.next, *n = l->next; l != &W.all; l = n, n = l->next) {
    ttb_session *s = (ttb_session *)((char *)l - offsetof(ttb_session, all));
    if (s->conn->sock == NULL)
      continue; /* still upgrading */
    if (s->draining)
      continue; /* on_drain closes it */
    if (s->closing) {
      if (now - s->closing_since > 5000) {
        /* the peer does not answer our close: drop the connection */
        h2o_websocket_conn_t *conn = s->conn;
        session_free(s);
        h2o_websocket_close(conn);
      }
      continue;
    }
    if (now - s->last_recv > 3 * hb) {
      W.metrics->idle_closes++;
      begin_close(s, TTB_WS_IDLE, "idle");
      continue;
    }
    if (now - s->last_ping >= hb) {
      s->last_ping = now;
      queue(s, WSLAY_PING, "ttb", 3);
      proceed(s);
    }
  }
  h2o_timeout_link(W.loop, &W.sweep, &W.sweep_entry);
}

void ttb_ws_init(h2o_loop_t *loop, const ttb_ws_limits *limits, ttb_metrics *metrics)
{
  W.loop = loop;
  W.limits = *limits;
  W.metrics = metrics;
  W.all.prev = W.all.next = &W.all;
  h2o_timeout_init(loop, &W.sweep, 1000);
  h2o_timeout_init(loop, &W.drain, 10);
  W.sweep_entry.cb = on_sweep;
  h2o_timeout_link(loop, &W.sweep, &W.sweep_entry);
}

/* Does the client offer our subprotocol? */
static bool wants_binary(h2o_req_t *req)
{
  ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), -1);
  for (; i != -1; i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), i)) {
    h2o_iovec_t v = req->headers.entries[i].value;
    if (h2o_contains_token(v.base, v.len, H2O_STRLIT(TTB_WS_SUBPROTOCOL), ','))
      return true;
  }
  return false;
}

static ttb_session *upgrade(h2o_req_t *req)
{
  const char *client_key;
  if (h2o_is_websocket_handshake(req, &client_key) != 0 || client_key == NULL)
    return NULL;
  ttb_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->binary = wants_binary(req);
  if (s->binary)
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0, NULL,
                          H2O_STRLIT(TTB_WS_SUBPROTOCOL));
  s->settings = (ttb_ws_settings){true, true, true, false};
  s->last_recv = s->last_ping = now_ms();
  s->conn = h2o_upgrade_to_websocket(req, client_key, s, on_ws_message);
  wslay_event_config_set_max_recv_msg_length(s->conn->ws_ctx, W.limits.max_in_msg);
  s->all.prev = W.all.prev;
  s->all.next = &W.all;
  W.all.prev->next = &s->all;
  W.all.prev = &s->all;
  W.count++;
  W.metrics->sockets_open++;
  W.metrics->sockets_total++;
  if (s->binary)
    W.metrics->sockets_binary++;
  return s;
}

int ttb_ws_accept(h2o_req_t *req, ttb_channel *c, bool has_since, uint64_t since)
{
  ttb_session *s = upgrade(req);
  if (s == NULL)
    return -1;
  ttb_hub_subscribe(c, s, has_since, since);
  return 0;
}

int ttb_ws_refuse(h2o_req_t *req, uint16_t code, const char *error, const char *message)
{
  ttb_session *s = upgrade(req);
  if (s == NULL)
    return -1;
  ttb_ws_close(s, code, error, message);
  return 0;
}

size_t ttb_ws_shutdown_all(void)
{
  for (ttb_link *l = W.all.next, *n = l->next; l != &W.all; l = n, n = l->next) {
    ttb_session *s = (ttb_session *)((char *)l - offsetof(ttb_session, all));
    ttb_ws_close(s, TTB_WS_GOING_AWAY, "shutdown", "The server is shutting down; reconnect shortly.");
  }
  return W.count;
}
