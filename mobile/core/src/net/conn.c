/*
 * conn.c — the protocol logic of the socket, over any ttb__transport.
 *
 * One network thread runs ttb__conn_tick in a loop; every transport call and
 * every field marked "net thread" below is touched only by it. The fields
 * under `mu` are shared with the caller's threads (queue, state, settings,
 * requests, counters). Nothing is allocated after ttb__conn_create: the
 * decode scratch, the send buffer and the event ring are preallocated, and
 * nanopb's structs are fixed size.
 *
 * Exactly once: chat and gift carry the channel's seq; anything at or below
 * the newest seq delivered is a duplicate of a resume and is dropped. A Hello
 * with resume_gap (or whose last_seq is below ours: a server that lost its
 * numbering) resets the newest seq to 0 so the new numbering is accepted,
 * and a GAP event says how many events were missed (Hello.missed).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "net.h"
#include "ttboost/v1/events.npb-json.h"

typedef enum {
  PH_IDLE = 0, /* not begun */
  PH_WAIT,     /* waiting for next_connect_ms */
  PH_OPENING,  /* open() called, no handshake yet */
  PH_OPEN,     /* WebSocket up */
  PH_GAVE_UP   /* the server refused the token: no more attempts */
} phase_t;

struct ttb__conn {
  ttb__transport *t;
  ttb__url url;
  char token[128];
  uint64_t (*now_ms)(void *);
  uint32_t (*rand32)(void *);
  void *clock_user;
  void (*sink)(void *, const ttb__net_event *);
  void *sink_user;

  /* ---- shared, under mu ---- */
  ttb__mutex *mu;
  ttb__cond *cv; /* queue space freed, or a stop request */
  bool stop_req, reconnect_req, settings_dirty, binary;
  bool running, thread_live;
  ttb__thread *th;
  ttboost_v1_Settings settings;
  ttb_conn_state state;
  char last_error[TTB__MESSAGE_SIZE];
  int last_error_code;
  ttb__conn_stats stats;
  uint64_t connected_since_ms; /* 0 when not CONNECTED */
  ttb__net_event *q;
  unsigned qcap, qhead, qlen;
  uint64_t wanted[TTB__SPEECH_WANTED_QUEUE];      /* SpeechWanted seqs to send */
  uint32_t wanted_lead[TTB__SPEECH_WANTED_QUEUE]; /* and their lead_ms */
  unsigned wanted_n;
  bool speech_ok; /* this connection's Hello said speech_wanted (binary) */

  /* ---- net thread ---- */
  phase_t phase;
  bool cur_binary;
  bool ever_connected, hello_seen;
  unsigned attempt;
  uint32_t hb_ms;
  uint64_t next_connect_ms, open_deadline_ms, last_rx_ms, last_ping_ms, hello_ms;
  uint64_t last_seq, conn_since;
  bool conn_has_since;
  char last_stream_error[65];
  uint64_t rng;
  ttb__net_event ev;  /* decode scratch */
  ttb__net_event lev; /* STATE/ERROR scratch */
  uint8_t tx[1024];
  char urlbuf[TTB__HOST_SIZE + TTB__PATH_SIZE + 128 + 32];
  char pathbuf[TTB__PATH_SIZE + 128];
};

/* ------------------------------------------------------------ helpers */

static uint64_t default_now(void *u)
{
  (void)u;
  return (uint64_t)ttb__monotonic_ms();
}

static uint64_t now_of(ttb__conn *c) { return c->now_ms(c->clock_user); }

static uint32_t next_rand(ttb__conn *c)
{
  if (c->rand32)
    return c->rand32(c->clock_user);
  /* xorshift64*: jitter only, not security. */
  uint64_t x = c->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  c->rng = x;
  return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

uint32_t ttb__backoff_base_ms(unsigned attempt)
{
  if (attempt >= 16)
    return TTB__BACKOFF_MAX_MS;
  uint64_t d = (uint64_t)TTB__BACKOFF_MIN_MS << attempt;
  return d > TTB__BACKOFF_MAX_MS ? TTB__BACKOFF_MAX_MS : (uint32_t)d;
}

uint32_t ttb__backoff_ms(unsigned attempt, uint32_t r)
{
  uint32_t d = ttb__backoff_base_ms(attempt);
  uint32_t half = d / 2;
  /* uniform in [d - half, d] */
  return d - (uint32_t)(((uint64_t)r * (half + 1)) >> 32);
}

int ttb__close_disposition(int ws_code, int http_status, const char *last_stream_error)
{
  int base = 0;
  if (ws_code == 4001 || http_status == 401)
    base = TTB_ERR_AUTH;
  else if (ws_code == 4003 || http_status == 403)
    base = TTB_ERR_REVOKED;
  if (base == 0)
    return 0;
  int said = ttb__error_code_from_string(last_stream_error);
  if (said == TTB_ERR_AUTH || said == TTB_ERR_EXPIRED || said == TTB_ERR_REVOKED)
    return said;
  return base;
}

/* Appends an event (copied) to the ring or hands it to the sink. When the
 * ring is full the network thread waits for the consumer (back-pressure: the
 * socket stops being read and the server may cut us off as a slow consumer,
 * which a resume repairs); without a thread the oldest event is dropped. */
static void push_event(ttb__conn *c, ttb__net_event *ev)
{
  ev->time_ms = ttb__wall_ms();
  if (c->sink) {
    c->sink(c->sink_user, ev);
    return;
  }
  ttb__mutex_lock(c->mu);
  while (c->qlen == c->qcap) {
    if (c->thread_live && !c->stop_req) {
      ttb__cond_wait_ms(c->cv, c->mu, 100);
      continue;
    }
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    c->stats.queue_dropped++;
  }
  c->q[(c->qhead + c->qlen) % c->qcap] = *ev;
  c->qlen++;
  ttb__mutex_unlock(c->mu);
}

static void push_local(ttb__conn *c, int kind, int code, const char *text)
{
  /* Its own scratch: c->ev may hold the message being handled (a Hello
     * reports the CONNECTED state before it is queued itself). */
  ttb__net_event *ev = &c->lev;
  ev->kind = kind;
  ev->code = code;
  snprintf(ev->text, sizeof ev->text, "%s", text ? text : "");
  memset(&ev->msg, 0, sizeof ev->msg);
  push_event(c, ev);
}

/* Sets the state (and the last error when `error` is non-NULL) and reports
 * a change as a STATE event. */
static void set_state(ttb__conn *c, ttb_conn_state st, const char *reason, const char *error)
{
  ttb__mutex_lock(c->mu);
  bool changed = c->state != st;
  uint64_t now = now_of(c);
  if (c->state == TTB_STATE_CONNECTED && st != TTB_STATE_CONNECTED && c->connected_since_ms) {
    c->stats.connected_ms += now - c->connected_since_ms;
    c->connected_since_ms = 0;
  }
  if (st == TTB_STATE_CONNECTED && changed)
    c->connected_since_ms = now ? now : 1;
  c->state = st;
  if (error)
    snprintf(c->last_error, sizeof c->last_error, "%s", error);
  ttb__mutex_unlock(c->mu);
  if (changed)
    push_local(c, TTB__NET_STATE, (int)st, reason ? reason : "");
}

/* ------------------------------------------------------------ sending */

static int send_client(ttb__conn *c, const ttboost_v1_ClientMessage *m)
{
  if (c->cur_binary) {
    pb_ostream_t s = pb_ostream_from_buffer(c->tx, sizeof c->tx);
    if (!pb_encode(&s, ttboost_v1_ClientMessage_fields, m))
      return TTB_ERR_PROTOCOL;
    return c->t->ops->send(c->t, c->tx, s.bytes_written, true);
  }
  size_t len = 0;
  ttb_json_error je;
  if (!ttb_npb_ttboost_v1_ClientMessage_to_json(m, (char *)c->tx, sizeof c->tx, &len, &je))
    return TTB_ERR_PROTOCOL;
  return c->t->ops->send(c->t, c->tx, len, false);
}

static void send_settings(ttb__conn *c)
{
  ttboost_v1_ClientMessage m = ttboost_v1_ClientMessage_init_zero;
  m.which_payload = ttboost_v1_ClientMessage_settings_tag;
  ttb__mutex_lock(c->mu);
  m.payload.settings = c->settings;
  c->settings_dirty = false;
  ttb__mutex_unlock(c->mu);
  if (send_client(c, &m) != TTB_OK) {
    ttb__mutex_lock(c->mu);
    c->settings_dirty = true; /* try again on the next tick */
    ttb__mutex_unlock(c->mu);
  }
}

/* Sends the SpeechWanted requests queued by ttb__conn_speech_wanted. */
static void send_wanted(ttb__conn *c)
{
  uint64_t seqs[TTB__SPEECH_WANTED_QUEUE];
  uint32_t leads[TTB__SPEECH_WANTED_QUEUE];
  ttb__mutex_lock(c->mu);
  unsigned n = c->speech_ok ? c->wanted_n : 0;
  memcpy(seqs, c->wanted, n * sizeof seqs[0]);
  memcpy(leads, c->wanted_lead, n * sizeof leads[0]);
  c->wanted_n = 0;
  ttb__mutex_unlock(c->mu);
  for (unsigned i = 0; i < n; i++) {
    ttboost_v1_ClientMessage m = ttboost_v1_ClientMessage_init_zero;
    m.which_payload = ttboost_v1_ClientMessage_speech_wanted_tag;
    m.payload.speech_wanted.seq = seqs[i];
    m.payload.speech_wanted.lead_ms = leads[i];
    (void)send_client(c, &m); /* lost: the client's fallback fetches the URL */
  }
}

static void send_ping(ttb__conn *c)
{
  ttboost_v1_ClientMessage m = ttboost_v1_ClientMessage_init_zero;
  m.which_payload = ttboost_v1_ClientMessage_ping_tag;
  m.payload.ping.client_time_ms = (uint64_t)ttb__wall_ms();
  (void)send_client(c, &m);
}

/* ------------------------------------------------------------ life cycle of one socket */

/* The socket is gone (or never came): schedule the next attempt. */
static void lost(ttb__conn *c, uint64_t now, const char *why)
{
  if (c->hello_seen && now - c->hello_ms >= TTB__STABLE_MS)
    c->attempt = 0;
  uint32_t delay = ttb__backoff_ms(c->attempt, next_rand(c));
  if (c->attempt < 32)
    c->attempt++;
  c->next_connect_ms = now + delay;
  c->phase = PH_WAIT;
  c->hello_seen = false;
  ttb__mutex_lock(c->mu);
  c->speech_ok = false;
  c->wanted_n = 0;
  c->last_error_code = TTB_ERR_NETWORK;
  ttb__mutex_unlock(c->mu);
  set_state(c, TTB_STATE_RECONNECTING, why, why);
}

static void give_up(ttb__conn *c, int code, const char *why)
{
  if (c->phase == PH_OPENING || c->phase == PH_OPEN)
    c->t->ops->close(c->t, 1000);
  c->phase = PH_GAVE_UP;
  c->hello_seen = false;
  ttb__mutex_lock(c->mu);
  c->speech_ok = false;
  c->wanted_n = 0;
  c->last_error_code = code;
  ttb__mutex_unlock(c->mu);
  push_local(c, TTB__NET_ERROR, code, why);
  set_state(c, TTB_STATE_DISCONNECTED, why, why);
}

static void do_open(ttb__conn *c, uint64_t now)
{
  ttb__mutex_lock(c->mu);
  c->cur_binary = c->binary;
  c->stats.attempts++;
  ttb__mutex_unlock(c->mu);
  c->conn_has_since = c->ever_connected || c->last_seq > 0;
  c->last_stream_error[0] = '\0';
  if (ttb__ws_path(c->url.path, c->token, c->conn_has_since, c->last_seq, c->pathbuf,
                   sizeof c->pathbuf) != TTB_OK) {
    give_up(c, TTB_ERR_INVALID, "The socket URL cannot be built (bad token).");
    return;
  }
  bool v6 = strchr(c->url.host, ':') != NULL;
  int un = snprintf(c->urlbuf, sizeof c->urlbuf, "%s://%s%s%s:%d%s", c->url.tls ? "wss" : "ws",
                    v6 ? "[" : "", c->url.host, v6 ? "]" : "", c->url.port, c->pathbuf);
  if (un < 0 || (size_t)un >= sizeof c->urlbuf) {
    give_up(c, TTB_ERR_INVALID, "The socket URL is too long.");
    return;
  }
  const char *sub = c->cur_binary ? TTB__SUBPROTOCOL_BINARY : NULL;
  if (!c->ever_connected)
    set_state(c, TTB_STATE_CONNECTING, "connecting", NULL);
  else
    set_state(c, TTB_STATE_RECONNECTING, "reconnecting", NULL);
  int rc = c->t->ops->open(c->t, c->urlbuf, sub);
  if (rc != TTB_OK) {
    char why[160];
    snprintf(why, sizeof why, "Cannot connect: %s", ttb__net_strerror(rc));
    lost(c, now, why);
    return;
  }
  c->phase = PH_OPENING;
  c->open_deadline_ms = now + TTB__CONNECT_TIMEOUT_MS;
}

/* ------------------------------------------------------------ transport callbacks */

static void on_connected(void *user)
{
  ttb__conn *c = user;
  if (c->phase != PH_OPENING)
    return;
  uint64_t now = now_of(c);
  c->phase = PH_OPEN;
  c->last_rx_ms = c->last_ping_ms = now;
  c->hb_ms = TTB__HEARTBEAT_DEFAULT_MS;
  c->hello_seen = false;
  send_settings(c);
}

static void on_alive(void *user)
{
  ttb__conn *c = user;
  if (c->phase == PH_OPEN)
    c->last_rx_ms = now_of(c);
}

static void handle_hello(ttb__conn *c, const ttboost_v1_Hello *h, uint64_t now)
{
  uint32_t hb = h->heartbeat_interval_ms ? h->heartbeat_interval_ms : TTB__HEARTBEAT_DEFAULT_MS;
  if (hb < 100)
    hb = 100;
  if (hb > TTB__PING_MAX_MS)
    hb = TTB__PING_MAX_MS; /* our pings keep it alive */
  c->hb_ms = hb;
  if (!c->conn_has_since) {
    /* Live from now: what the channel had before is not wanted. */
    if (h->last_seq > c->last_seq)
      c->last_seq = h->last_seq;
  } else if (h->resume_gap || h->last_seq < c->last_seq) {
    /* The server cannot resume (our seq is older than its history, or
         * not of its numbering): accept what follows, and say what was lost. */
    char line[128];
    if (h->missed == 1)
      snprintf(line, sizeof line, "1 event was missed (the server no longer had it)");
    else if (h->missed > 1)
      snprintf(line, sizeof line, "%llu events were missed (the server no longer had them)",
               (unsigned long long)h->missed);
    else
      snprintf(line, sizeof line, "events may have been missed (the server could not resume)");
    push_local(c, TTB__NET_GAP, h->missed > INT32_MAX ? INT32_MAX : (int)h->missed, line);
    c->last_seq = 0;
  }
  c->conn_since = c->last_seq;
  c->hello_seen = true;
  c->hello_ms = now;
  ttb__mutex_lock(c->mu);
  c->speech_ok = c->cur_binary && h->speech_wanted;
  c->wanted_n = 0; /* asked on another connection: not this one's */
  if (c->ever_connected)
    c->stats.reconnects++;
  c->stats.connects++;
  c->stats.last_seq = c->last_seq;
  c->last_error_code = 0;
  ttb__mutex_unlock(c->mu);
  c->ever_connected = true;
  set_state(c, TTB_STATE_CONNECTED, h->resume_gap ? "connected (resume gap)" : "connected", "");
}

static void on_message(void *user, const uint8_t *data, size_t len, bool binary)
{
  ttb__conn *c = user;
  if (c->phase != PH_OPEN)
    return;
  uint64_t now = now_of(c);
  c->last_rx_ms = now;
  ttb__net_event *ev = &c->ev;
  ttboost_v1_ServerMessage *m = &ev->msg;
  char why[TTB_JSON_ERR_SIZE + 64];
  why[0] = '\0';
  if (binary) {
    memset(m, 0, sizeof *m);
    pb_istream_t s = pb_istream_from_buffer(data, len);
    if (!pb_decode(&s, ttboost_v1_ServerMessage_fields, m))
      snprintf(why, sizeof why, "bad binary message from the server: %s", PB_GET_ERROR(&s));
    else if (m->which_payload != 0) {
      char verr[TTB_JSON_ERR_SIZE];
      verr[0] = '\0';
      if (!ttb_npb_ttboost_v1_ServerMessage_validate(m, verr, sizeof verr))
        snprintf(why, sizeof why, "bad binary message from the server: %s", verr);
    }
  } else {
    ttb_json_error je = {0};
    if (!ttb_npb_ttboost_v1_ServerMessage_from_json((const char *)data, len, m, &je)) {
      if (je.status == TTB_JSON_UNKNOWN_TYPE) {
        m->which_payload = 0; /* a kind newer than this client: skip */
      } else {
        snprintf(why, sizeof why, "bad message from the server: %s", je.msg);
      }
    }
  }
  if (why[0]) {
    ttb__mutex_lock(c->mu);
    c->stats.protocol_errors++;
    ttb__mutex_unlock(c->mu);
    push_local(c, TTB__NET_ERROR, TTB_ERR_PROTOCOL, why);
    return;
  }
  switch (m->which_payload) {
  case ttboost_v1_ServerMessage_hello_tag:
    handle_hello(c, &m->payload.hello, now);
    ev->kind = TTB__NET_HELLO;
    break;
  case ttboost_v1_ServerMessage_chat_tag:
  case ttboost_v1_ServerMessage_gift_tag:
    if (m->seq != 0 && m->seq <= c->last_seq) {
      ttb__mutex_lock(c->mu);
      c->stats.duplicates++;
      ttb__mutex_unlock(c->mu);
      return;
    }
    if (m->seq > c->last_seq) {
      c->last_seq = m->seq;
      ttb__mutex_lock(c->mu);
      c->stats.last_seq = m->seq;
      ttb__mutex_unlock(c->mu);
    }
    ev->kind =
        m->which_payload == ttboost_v1_ServerMessage_chat_tag ? TTB__NET_CHAT : TTB__NET_GIFT;
    break;
  case ttboost_v1_ServerMessage_audio_tag:
    /* The audio of an event delivered before this socket was opened. */
    if (m->payload.audio.event_seq <= c->conn_since) {
      ttb__mutex_lock(c->mu);
      c->stats.duplicates++;
      ttb__mutex_unlock(c->mu);
      return;
    }
    ev->kind = TTB__NET_AUDIO;
    break;
  case ttboost_v1_ServerMessage_error_tag:
    snprintf(c->last_stream_error, sizeof c->last_stream_error, "%s", m->payload.error.error);
    ev->kind = TTB__NET_STREAM_ERROR;
    break;
  case ttboost_v1_ServerMessage_status_tag:
    /* Not part of the channel's history (seq 0): never a duplicate. */
    ev->kind = TTB__NET_STATUS;
    break;
  case ttboost_v1_ServerMessage_pong_tag:
    return;
  default:
    ttb__mutex_lock(c->mu);
    c->stats.skipped_unknown++;
    ttb__mutex_unlock(c->mu);
    return;
  }
  ev->code = 0;
  ev->text[0] = '\0';
  push_event(c, ev);
  /* Time spent waiting for queue space is not the peer's silence. */
  c->last_rx_ms = now_of(c);
}

static void on_closed(void *user, int ws_code, int http_status, const char *reason)
{
  ttb__conn *c = user;
  if (c->phase != PH_OPENING && c->phase != PH_OPEN)
    return;
  uint64_t now = now_of(c);
  int stop = ttb__close_disposition(ws_code, http_status, c->last_stream_error);
  char why[TTB__MESSAGE_SIZE];
  if (stop) {
    const char *what = stop == TTB_ERR_EXPIRED ? "The license has expired."
                       : stop == TTB_ERR_REVOKED
                           ? "The license was revoked."
                           : "The server refused the session token; log in again.";
    if (ws_code)
      snprintf(why, sizeof why, "%s (close code %d)", what, ws_code);
    else
      snprintf(why, sizeof why, "%s (HTTP %d)", what, http_status);
    c->phase = PH_WAIT; /* the socket is gone: nothing to close */
    give_up(c, stop, why);
    return;
  }
  if (ws_code == 4008)
    snprintf(why, sizeof why, "Disconnected: too slow to keep up (4008); resuming");
  else if (ws_code == 4009)
    snprintf(why, sizeof why, "Disconnected: idle (4009); resuming");
  else if (ws_code == 1001)
    snprintf(why, sizeof why, "The server is going away (1001); resuming");
  else if (ws_code)
    snprintf(why, sizeof why, "Disconnected (close code %d): %.200s", ws_code,
             reason ? reason : "");
  else if (http_status)
    snprintf(why, sizeof why, "The server refused the socket (HTTP %d)", http_status);
  else
    snprintf(why, sizeof why, "Connection lost: %.300s", reason && *reason ? reason : "closed");
  lost(c, now, why);
}

/* ------------------------------------------------------------ the loop */

void ttb__conn_begin(ttb__conn *c)
{
  c->phase = PH_WAIT;
  c->attempt = 0;
  c->next_connect_ms = now_of(c);
  c->hello_seen = false;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Silence after which the peer is taken for dead: 2.5 ping intervals, so a
 * ping and its answer can be lost once (25 s with the 10 s default). */
static uint64_t dead_after(const ttb__conn *c) { return (uint64_t)c->hb_ms * 5u / 2u; }

void ttb__conn_tick(ttb__conn *c, int max_wait_ms)
{
  uint64_t now = now_of(c);
  ttb__mutex_lock(c->mu);
  bool reconnect = c->reconnect_req;
  c->reconnect_req = false;
  bool settings = c->settings_dirty;
  ttb__mutex_unlock(c->mu);

  if (reconnect && c->phase != PH_GAVE_UP && c->phase != PH_IDLE) {
    if (c->phase == PH_OPENING || c->phase == PH_OPEN)
      c->t->ops->close(c->t, 1000);
    c->phase = PH_WAIT;
    c->hello_seen = false;
    c->attempt = 0;
    c->next_connect_ms = now;
  }
  if (c->phase == PH_WAIT && now >= c->next_connect_ms)
    do_open(c, now);
  if (c->phase == PH_OPENING && now >= c->open_deadline_ms) {
    c->t->ops->close(c->t, 1000);
    lost(c, now, "Connection timed out");
  }
  if (c->phase == PH_OPEN) {
    if (settings)
      send_settings(c);
    if (c->hello_seen)
      send_wanted(c);
    uint64_t silent = now - c->last_rx_ms;
    if (silent >= dead_after(c)) {
      char why[128];
      snprintf(why, sizeof why, "No data from the server for %llu s: reconnecting",
               (unsigned long long)(silent / 1000));
      c->t->ops->close(c->t, 1001);
      lost(c, now, why);
    } else if (silent >= c->hb_ms && now - c->last_ping_ms >= c->hb_ms) {
      send_ping(c);
      c->last_ping_ms = now;
    }
  }

  uint64_t deadline = now + (uint64_t)(max_wait_ms > 0 ? max_wait_ms : 0);
  switch (c->phase) {
  case PH_WAIT:
    deadline = min_u64(deadline, c->next_connect_ms);
    break;
  case PH_OPENING:
    deadline = min_u64(deadline, c->open_deadline_ms);
    break;
  case PH_OPEN: {
    uint64_t ping_at =
        (c->last_rx_ms > c->last_ping_ms ? c->last_rx_ms : c->last_ping_ms) + c->hb_ms;
    deadline = min_u64(deadline, ping_at);
    deadline = min_u64(deadline, c->last_rx_ms + dead_after(c));
    break;
  }
  default:
    break;
  }
  int wait = deadline > now ? (int)(deadline - now) : 0;
  if (c->phase != PH_GAVE_UP)
    c->t->ops->service(c->t, wait);
}

static void thread_main(void *arg)
{
  ttb__conn *c = arg;
  for (;;) {
    ttb__mutex_lock(c->mu);
    bool stop = c->stop_req;
    ttb__mutex_unlock(c->mu);
    if (stop || c->phase == PH_GAVE_UP)
      break;
    ttb__conn_tick(c, 1000);
  }
  if (c->phase == PH_OPENING || c->phase == PH_OPEN)
    c->t->ops->close(c->t, 1000);
  if (c->phase != PH_GAVE_UP) {
    c->phase = PH_IDLE;
    set_state(c, TTB_STATE_DISCONNECTED, "stopped", NULL);
  }
  ttb__mutex_lock(c->mu);
  c->running = false;
  ttb__mutex_unlock(c->mu);
}

/* ------------------------------------------------------------ public (internal) API */

void ttb__conn_config_defaults(ttb__conn_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->settings.tts_enabled = true;
  cfg->settings.gifts_enabled = true;
  cfg->settings.profanity_filter = true;
  cfg->settings.audio_frames = true;
}

static bool token_ok(const char *token)
{
  char tmp[TTB__PATH_SIZE];
  return token && strlen(token) < 128 &&
         ttb__ws_path("/", token, false, 0, tmp, sizeof tmp) == TTB_OK;
}

int ttb__conn_create(const ttb__conn_config *cfg, ttb__transport *t, ttb__conn **out)
{
  if (out)
    *out = NULL;
  if (!cfg || !t || !out) {
    if (t)
      t->ops->destroy(t);
    return TTB_ERR_INVALID;
  }
  ttb__conn *c = calloc(1, sizeof *c);
  if (!c)
    goto nomem;
  c->t = t;
  if (ttb__url_parse(cfg->server_url, &c->url, NULL, 0) != TTB_OK || !token_ok(cfg->ws_token)) {
    ttb__conn_destroy(c);
    return TTB_ERR_INVALID;
  }
  snprintf(c->token, sizeof c->token, "%s", cfg->ws_token);
  c->now_ms = cfg->now_ms ? cfg->now_ms : default_now;
  c->rand32 = cfg->rand32;
  c->clock_user = cfg->clock_user;
  c->sink = cfg->sink;
  c->sink_user = cfg->sink_user;
  c->binary = cfg->binary;
  c->settings = cfg->settings;
  c->last_seq = cfg->last_seq;
  c->stats.last_seq = cfg->last_seq;
  c->hb_ms = TTB__HEARTBEAT_DEFAULT_MS;
  c->rng = ((uint64_t)ttb__monotonic_ms() ^ (uint64_t)(uintptr_t)c) | 1u;
  c->qcap = cfg->queue_cap ? cfg->queue_cap : TTB__QUEUE_DEFAULT;
  c->q = calloc(c->qcap, sizeof *c->q);
  if (!c->q)
    goto nomem_c;
  if (ttb__mutex_create(&c->mu) != TTB_OK)
    goto nomem_c;
  if (ttb__cond_create(&c->cv) != TTB_OK)
    goto nomem_c;
  t->cb.user = c;
  t->cb.on_connected = on_connected;
  t->cb.on_message = on_message;
  t->cb.on_alive = on_alive;
  t->cb.on_closed = on_closed;
  *out = c;
  return TTB_OK;
nomem_c:
  ttb__conn_destroy(c);
  return TTB_ERR_NOMEM;
nomem:
  t->ops->destroy(t);
  return TTB_ERR_NOMEM;
}

void ttb__conn_destroy(ttb__conn *c)
{
  if (!c)
    return;
  if (c->mu)
    ttb__conn_stop(c);
  if (c->t)
    c->t->ops->destroy(c->t);
  free(c->q);
  ttb__cond_destroy(c->cv);
  ttb__mutex_destroy(c->mu);
  free(c);
}

int ttb__conn_start(ttb__conn *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->mu);
  bool running = c->running, live = c->thread_live;
  ttb__mutex_unlock(c->mu);
  if (running)
    return TTB_OK;
  if (live) { /* it gave up and ended: collect it */
    ttb__thread_join(c->th);
    c->th = NULL;
    c->thread_live = false;
  }
  ttb__conn_begin(c);
  ttb__mutex_lock(c->mu);
  c->stop_req = false;
  c->reconnect_req = false;
  c->running = true;
  c->thread_live = true;
  c->last_error[0] = '\0';
  c->last_error_code = 0;
  ttb__mutex_unlock(c->mu);
  int rc = ttb__thread_start(&c->th, thread_main, c);
  if (rc != TTB_OK) {
    ttb__mutex_lock(c->mu);
    c->running = false;
    c->thread_live = false;
    ttb__mutex_unlock(c->mu);
    c->phase = PH_IDLE;
  }
  return rc;
}

void ttb__conn_stop(ttb__conn *c)
{
  if (!c)
    return;
  ttb__mutex_lock(c->mu);
  bool live = c->thread_live;
  c->stop_req = true;
  ttb__cond_broadcast(c->cv);
  ttb__mutex_unlock(c->mu);
  if (!live)
    return;
  c->t->ops->wake(c->t);
  ttb__thread_join(c->th);
  c->th = NULL;
  ttb__mutex_lock(c->mu);
  c->thread_live = false;
  c->stop_req = false;
  ttb__mutex_unlock(c->mu);
}

bool ttb__conn_running(ttb__conn *c)
{
  if (!c)
    return false;
  ttb__mutex_lock(c->mu);
  bool r = c->running;
  ttb__mutex_unlock(c->mu);
  return r;
}

int ttb__conn_reconnect_now(ttb__conn *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->mu);
  bool r = c->running;
  if (r)
    c->reconnect_req = true;
  ttb__mutex_unlock(c->mu);
  if (!r)
    return TTB_ERR_STATE;
  c->t->ops->wake(c->t);
  return TTB_OK;
}

void ttb__conn_set_settings(ttb__conn *c, const ttboost_v1_Settings *s)
{
  if (!c || !s)
    return;
  ttb__mutex_lock(c->mu);
  c->settings = *s;
  c->settings_dirty = true;
  bool r = c->running;
  ttb__mutex_unlock(c->mu);
  if (r)
    c->t->ops->wake(c->t);
}

bool ttb__conn_speech_wanted(ttb__conn *c, uint64_t seq, uint32_t lead_ms)
{
  if (!c || seq == 0)
    return false;
  ttb__mutex_lock(c->mu);
  bool ok = c->speech_ok;
  if (ok) {
    bool dup = false;
    for (unsigned i = 0; i < c->wanted_n; i++)
      dup = dup || c->wanted[i] == seq;
    if (!dup && c->wanted_n < TTB__SPEECH_WANTED_QUEUE) {
      c->wanted_lead[c->wanted_n] = lead_ms;
      c->wanted[c->wanted_n++] = seq;
    } else if (!dup)
      ok = false;
  }
  bool r = c->running;
  ttb__mutex_unlock(c->mu);
  if (ok && r)
    c->t->ops->wake(c->t);
  return ok;
}

void ttb__conn_set_binary(ttb__conn *c, bool binary)
{
  if (!c)
    return;
  ttb__mutex_lock(c->mu);
  bool changed = c->binary != binary, r = c->running;
  c->binary = binary;
  if (changed && r)
    c->reconnect_req = true;
  ttb__mutex_unlock(c->mu);
  if (changed && r)
    c->t->ops->wake(c->t);
}

int ttb__conn_set_token(ttb__conn *c, const char *ws_token)
{
  if (!c)
    return TTB_ERR_INVALID;
  if (!token_ok(ws_token))
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->mu);
  bool live = c->thread_live && c->running;
  if (!live) {
    snprintf(c->token, sizeof c->token, "%s", ws_token);
    c->last_seq = 0;
    c->stats.last_seq = 0;
    c->ever_connected = false;
  }
  ttb__mutex_unlock(c->mu);
  return live ? TTB_ERR_STATE : TTB_OK;
}

int ttb__conn_poll(ttb__conn *c, ttb__net_event *out)
{
  if (!c || !out)
    return 0;
  ttb__mutex_lock(c->mu);
  if (c->qlen == 0) {
    ttb__mutex_unlock(c->mu);
    return 0;
  }
  *out = c->q[c->qhead];
  c->qhead = (c->qhead + 1) % c->qcap;
  c->qlen--;
  ttb__cond_broadcast(c->cv);
  ttb__mutex_unlock(c->mu);
  return 1;
}

ttb_conn_state ttb__conn_state(ttb__conn *c, char *buf, size_t cap)
{
  if (!c) {
    if (buf && cap)
      buf[0] = '\0';
    return TTB_STATE_DISCONNECTED;
  }
  ttb__mutex_lock(c->mu);
  ttb_conn_state s = c->state;
  if (buf && cap)
    snprintf(buf, cap, "%s", c->last_error);
  ttb__mutex_unlock(c->mu);
  return s;
}

int ttb__conn_last_error_code(ttb__conn *c)
{
  if (!c)
    return 0;
  ttb__mutex_lock(c->mu);
  int e = c->last_error_code;
  ttb__mutex_unlock(c->mu);
  return e;
}

void ttb__conn_get_stats(ttb__conn *c, ttb__conn_stats *out)
{
  if (!out)
    return;
  memset(out, 0, sizeof *out);
  if (!c)
    return;
  ttb__mutex_lock(c->mu);
  *out = c->stats;
  if (c->connected_since_ms)
    out->connected_ms += now_of(c) - c->connected_since_ms;
  ttb__mutex_unlock(c->mu);
}
