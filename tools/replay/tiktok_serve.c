/*
 * See tiktok_serve.h. libh2o serves the HTTP side and upgrades the push
 * socket with its websocket API (wslay underneath), as the server does.
 *
 *   GET /                           200, Set-Cookie: ttwid=…
 *   GET /api-live/user/room?…       the room lookup: live (status 2) with the
 *                                   trace's room id, unknown user 19881007,
 *                                   ended (status 4) after --end-after ended a socket
 *   GET /webcast/im/ws_proxy/ws_reuse_supplement/?…
 *                                   the push socket: the trace's frames at
 *                                   their recorded times from the upgrade,
 *                                   an "hb" frame answering each client heartbeat
 */
#define _GNU_SOURCE
#define H2O_USE_LIBUV 0
#include "tiktok_serve.h"

#include "listen.h" /* server/src: the listening socket, as the server makes it */

#include <errno.h>
#include <h2o.h>
#include <h2o/websocket.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "tiktok_frame.h"
#include "trace.h"

#define WS_PATH "/webcast/im/ws_proxy/ws_reuse_supplement/"
#define LOOKUP_PATH "/api-live/user/room"

typedef struct frame {
  uint64_t t; /* recorded time, µs since the trace began */
  uint8_t *data;
  size_t len;
  uint64_t log_id; /* of a decodable PushFrame */
  char *ack_ext;   /* internal_ext when the frame asks for an ack, else NULL */
} frame;

typedef struct sess {
  struct sess *prev, *next;
  h2o_websocket_conn_t *conn;
  int id;
  uint64_t start_us; /* monotonic, at the upgrade */
  size_t next_frame;
  bool upgraded;      /* the 101 went out: conn->sock is there */
  bool finished;      /* all frames (and the end, with --end-after) are queued */
  bool close_pending; /* --end-after: close once the queued frames are out */
  h2o_timeout_entry_t upgrade_check;
  unsigned long hb, enter, acks, acks_bad, other, garbage;
  wslay_event_send_callback h2o_send;
} sess;

static struct {
  frame *f;
  size_t n;
  char room_id[32];
  const char *user; /* --tiktok-user, or NULL: any handle */
  double speed;
  bool max, end_after, verbose;
  bool ended; /* a socket got the end of the stream: lookups say status 4 */
  h2o_evloop_t *loop;
  h2o_globalconf_t config;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  h2o_timeout_t zero;
  sess all; /* list head */
  int next_id;
  unsigned long ttwids, lookups;
} G;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("ttb-replay: ", stdout);
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
  fflush(stdout);
}

static void usage(FILE *f)
{
  fprintf(
      f,
      "usage: ttb-replay --tiktok-serve FILE --listen HOST:PORT [--speed N | --max]\n"
      "                  [--room-id ID] [--tiktok-user NAME] [--end-after] [-v]\n"
      "\n"
      "Serves the TikTok trace FILE (recorded by ttboost-server --tiktok-trace DIR, or\n"
      "make-tiktok-trace) as a fake TikTok on one port, for\n"
      "  ttboost-server --tiktok-web http://HOST:PORT --tiktok-ws ws://HOST:PORT\n"
      "\n"
      "  GET /                      200 with Set-Cookie: ttwid=<random>\n"
      "  GET /api-live/user/room?…uniqueId=NAME…\n"
      "                             statusCode 0 with data.user.roomId and status 2 (live);\n"
      "                             after --end-after ended a socket, status 4 (ended)\n"
      "  GET " WS_PATH "?…\n"
      "                             a WebSocket: the trace's frames, each at its recorded\n"
      "                             time after the upgrade; every client \"hb\" frame is\n"
      "                             answered with an \"hb\" frame\n"
      "\n"
      "  --listen HOST:PORT   where to listen (PORT 0: any free port); the line\n"
      "                       \"ttb-replay: listening on http://HOST:PORT\" says when it is ready\n"
      "  --speed N            N times the recorded pace (default 1)\n"
      "  --max                every frame at once\n"
      "  --room-id ID         the room id the lookup gives (default: the trace's)\n"
      "  --tiktok-user NAME   answer only this handle (others: statusCode 19881007, no such\n"
      "                       user); default: any handle is live\n"
      "  --end-after          after the last frame, send a WebcastControlMessage with\n"
      "                       action 3 (stream ended) and close the socket; default: keep\n"
      "                       it open (heartbeats go on)\n"
      "  -v, --verbose        a line for every request, frame sent and client frame (hb,\n"
      "                       im_enter_room, ack)\n"
      "\n"
      "Each WebSocket connection replays the whole trace from its start. Runs until\n"
      "SIGINT or SIGTERM (exit 0); exit 2 on a usage, trace or listen error.\n");
}

/* ------------------------------------------------------------- the trace */

static int load(const char *path, char *err, size_t errlen)
{
  ttb_trace_reader *r;
  if (ttb_trace_reader_open(path, &r, err, errlen) != 0)
    return -1;
  ttb_tf_joiner j = {0};
  Ttboost__V1__TraceRecord *rec;
  int rc;
  size_t cap = 0;
  while ((rc = ttb_trace_next(r, &rec, err, errlen)) == 1) {
    if (rec->record_case != TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK) {
      ttboost__v1__trace_record__free_unpacked(rec, NULL);
      continue;
    }
    int jr = ttb_tf_join(&j, rec, err, errlen);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    if (jr < 0) {
      rc = -1;
      break;
    }
    if (jr == 0)
      continue;
    if (G.room_id[0] == '\0')
      snprintf(G.room_id, sizeof G.room_id, "%s", j.room_id);
    if (G.n == cap) {
      size_t c = cap ? cap * 2 : 64;
      frame *nf = realloc(G.f, c * sizeof *nf);
      if (nf == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        break;
      }
      G.f = nf;
      cap = c;
    }
    frame *f = &G.f[G.n];
    memset(f, 0, sizeof *f);
    f->t = j.time_us;
    f->len = j.len;
    f->data = malloc(j.len ? j.len : 1);
    if (f->data == NULL) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
      break;
    }
    memcpy(f->data, j.buf, j.len);
    G.n++;
    /* what an ack of this frame must carry */
    Tiktok__Webcast__PushFrame *pf = tiktok__webcast__push_frame__unpack(NULL, f->len, f->data);
    if (pf == NULL)
      continue;
    f->log_id = pf->log_id;
    const uint8_t *p;
    size_t n;
    bool gz;
    uint8_t *owned;
    if (pf->payload_type && strcmp(pf->payload_type, "msg") == 0 &&
        ttb_tf_payload(pf, &p, &n, &gz, &owned, NULL, 0) == 0) {
      Tiktok__Webcast__FetchResult *fr = tiktok__webcast__fetch_result__unpack(NULL, n, p);
      if (fr && fr->need_ack && fr->internal_ext && fr->internal_ext[0])
        f->ack_ext = strdup(fr->internal_ext); /* NULL when out of memory: no ack check */
      if (fr)
        tiktok__webcast__fetch_result__free_unpacked(fr, NULL);
      free(owned);
    }
    tiktok__webcast__push_frame__free_unpacked(pf, NULL);
  }
  if (rc == 0 && ttb_tf_join_pending(&j))
    fprintf(stderr,
            "ttb-replay: warning: the trace ends inside a message (%zu chunks); it is "
            "not sent\n",
            j.chunks);
  ttb_tf_joiner_free(&j);
  ttb_trace_reader_close(r);
  return rc < 0 ? -1 : 0;
}

/* -------------------------------------------------------------- frames */

static bool queue(sess *s, uint8_t opcode, const void *data, size_t len)
{
  struct wslay_event_msg m = {opcode, data, len};
  return wslay_event_queue_msg(s->conn->ws_ctx, &m) == 0;
}

/* Packs f into a malloc'd buffer. */
static uint8_t *pack_frame(const Tiktok__Webcast__PushFrame *f, size_t *len)
{
  *len = protobuf_c_message_get_packed_size(&f->base);
  uint8_t *b = malloc(*len ? *len : 1);
  if (b)
    protobuf_c_message_pack(&f->base, b);
  return b;
}

/* The server's answer to a client heartbeat. */
static void send_hb(sess *s, uint64_t log_id)
{
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.log_id = log_id;
  f.payload_encoding = "pb";
  f.payload_type = "hb";
  size_t n;
  uint8_t *b = pack_frame(&f, &n);
  if (b)
    queue(s, WSLAY_BINARY_FRAME, b, n);
  free(b);
}

/* The end of the stream: a "msg" frame with a WebcastControlMessage, action 3. */
static void send_end(sess *s)
{
  int64_t room = strtoll(G.room_id, NULL, 10);
  Tiktok__Webcast__Common c = TIKTOK__WEBCAST__COMMON__INIT;
  c.method = "WebcastControlMessage";
  c.msg_id = INT64_C(7399000000000000000) + s->id;
  c.room_id = room;
  Tiktok__Webcast__WebcastControlMessage cm = TIKTOK__WEBCAST__WEBCAST_CONTROL_MESSAGE__INIT;
  cm.common = &c;
  cm.action = 3;
  cm.tips = "The LIVE has ended";
  size_t cn = protobuf_c_message_get_packed_size(&cm.base);
  uint8_t *cb = malloc(cn ? cn : 1);
  if (cb == NULL)
    return;
  protobuf_c_message_pack(&cm.base, cb);
  Tiktok__Webcast__Message m = TIKTOK__WEBCAST__MESSAGE__INIT;
  m.method = "WebcastControlMessage";
  m.payload.data = cb;
  m.payload.len = cn;
  m.msg_id = c.msg_id;
  Tiktok__Webcast__Message *mp = &m;
  Tiktok__Webcast__FetchResult r = TIKTOK__WEBCAST__FETCH_RESULT__INIT;
  r.n_messages = 1;
  r.messages = &mp;
  r.cursor = "end";
  size_t rn = protobuf_c_message_get_packed_size(&r.base);
  uint8_t *rb = malloc(rn ? rn : 1);
  if (rb) {
    protobuf_c_message_pack(&r.base, rb);
    Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
    f.seq_id = 999999;
    f.log_id = 999999;
    f.payload_encoding = "pb";
    f.payload_type = "msg";
    f.payload.data = rb;
    f.payload.len = rn;
    size_t n;
    uint8_t *b = pack_frame(&f, &n);
    if (b)
      queue(s, WSLAY_BINARY_FRAME, b, n);
    free(b);
  }
  free(rb);
  free(cb);
}

static uint64_t due_us(size_t i)
{
  if (G.max)
    return 0;
  return (uint64_t)((double)G.f[i].t / G.speed);
}

/* ------------------------------------------------------------ sessions */

static void sess_free(sess *s)
{
  s->prev->next = s->next;
  s->next->prev = s->prev;
  if (h2o_timeout_is_linked(&s->upgrade_check))
    h2o_timeout_unlink(&s->upgrade_check);
  free(s);
}

static void sess_closed(sess *s)
{
  logf_("ws#%d: closed after %zu of %zu frames; the client sent %lu hb, %lu im_enter_room, %lu "
        "ack%s%s",
        s->id, s->next_frame, G.n, s->hb, s->enter, s->acks,
        s->acks_bad ? " (some not matching)" : "", s->garbage ? ", and undecodable frames" : "");
}

/* Sends what is due on every open socket. */
static void pump(void)
{
  uint64_t now = ttb_mono_us();
  sess *next;
  for (sess *s = G.all.next; s != &G.all; s = next) {
    next = s->next;
    if (!s->upgraded)
      continue;
    if (s->close_pending) {
      /* wslay sends control frames first: the close waits for the data */
      if (wslay_event_get_queued_msg_count(s->conn->ws_ctx) == 0 &&
          !h2o_socket_is_writing(s->conn->sock)) {
        s->close_pending = false;
        wslay_event_queue_close(s->conn->ws_ctx, 1000, (const uint8_t *)"stream ended", 12);
        h2o_websocket_proceed(s->conn); /* may close and free s */
      }
      continue;
    }
    if (s->finished)
      continue;
    bool queued = false;
    while (s->next_frame < G.n && due_us(s->next_frame) <= now - s->start_us) {
      const frame *f = &G.f[s->next_frame];
      if (!queue(s, WSLAY_BINARY_FRAME, f->data, f->len))
        break;
      if (G.verbose)
        logf_("ws#%d: sent frame %zu/%zu (t=%.3f s, %zu bytes)", s->id, s->next_frame + 1, G.n,
              (double)f->t / 1e6, f->len);
      s->next_frame++;
      queued = true;
    }
    if (s->next_frame == G.n) {
      s->finished = true;
      if (G.end_after) {
        send_end(s);
        s->close_pending = true;
        G.ended = true;
        logf_("ws#%d: all %zu frames sent; the stream ended (control action 3), closing", s->id,
              G.n);
      } else {
        logf_("ws#%d: all %zu frames sent; the socket stays open", s->id, G.n);
      }
      queued = true;
    }
    if (queued)
      h2o_websocket_proceed(s->conn); /* may close and free s */
  }
}

/* A client frame: heartbeat, enter-room or ack. */
static void on_client_frame(sess *s, const uint8_t *data, size_t len)
{
  Tiktok__Webcast__PushFrame *f = tiktok__webcast__push_frame__unpack(NULL, len, data);
  if (f == NULL) {
    s->garbage++;
    logf_("ws#%d: the client sent %zu bytes that are not a PushFrame", s->id, len);
    return;
  }
  const char *pt = f->payload_type ? f->payload_type : "";
  if (strcmp(pt, "hb") == 0) {
    s->hb++;
    Tiktok__Webcast__Heartbeat *h =
        tiktok__webcast__heartbeat__unpack(NULL, f->payload.len, f->payload.data);
    if (G.verbose)
      logf_("ws#%d: client hb room_id=%" PRIu64 "%s", s->id, h ? h->room_id : 0,
            h ? "" : " (payload not a Heartbeat)");
    if (h)
      tiktok__webcast__heartbeat__free_unpacked(h, NULL);
    send_hb(s, f->log_id);
  } else if (strcmp(pt, "im_enter_room") == 0) {
    s->enter++;
    Tiktok__Webcast__ImEnterRoom *e =
        tiktok__webcast__im_enter_room__unpack(NULL, f->payload.len, f->payload.data);
    if (G.verbose) {
      if (e)
        logf_("ws#%d: client im_enter_room room_id=%" PRId64 " live_id=%" PRId64 " identity=%s",
              s->id, e->room_id, e->live_id, e->identity ? e->identity : "");
      else
        logf_("ws#%d: client im_enter_room (payload not an ImEnterRoom)", s->id);
    }
    if (e)
      tiktok__webcast__im_enter_room__free_unpacked(e, NULL);
  } else if (strcmp(pt, "ack") == 0) {
    s->acks++;
    const char *verdict = "no frame with this log_id asked for an ack";
    for (size_t i = 0; i < s->next_frame; i++) {
      if (G.f[i].ack_ext == NULL || G.f[i].log_id != f->log_id)
        continue;
      size_t el = strlen(G.f[i].ack_ext);
      verdict = el == f->payload.len && memcmp(G.f[i].ack_ext, f->payload.data, el) == 0
                    ? "ok"
                    : "the payload is not the frame's internal_ext";
      break;
    }
    if (strcmp(verdict, "ok") != 0)
      s->acks_bad++;
    if (G.verbose)
      logf_("ws#%d: client ack log_id=%" PRIu64 " (%zu bytes): %s", s->id, f->log_id,
            f->payload.len, verdict);
  } else {
    s->other++;
    if (G.verbose)
      logf_("ws#%d: client frame payload_type \"%s\" (%zu bytes)", s->id, pt, len);
  }
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
}

static void on_ws_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
  sess *s = conn->data;
  if (arg == NULL) {
    sess_closed(s);
    sess_free(s);
    h2o_websocket_close(conn);
    return;
  }
  if (arg->opcode == WSLAY_BINARY_FRAME)
    on_client_frame(s, arg->msg, arg->msg_length);
  else if (arg->opcode == WSLAY_TEXT_FRAME && G.verbose)
    logf_("ws#%d: the client sent a text message (%zu bytes), ignored", s->id, arg->msg_length);
}

/* The first send after the 101: the socket is ours (see ttboost-server's ws.c). */
static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user_data)
{
  h2o_websocket_conn_t *conn = user_data;
  sess *s = conn->data;
  if (conn->sock != NULL && !s->upgraded) {
    s->upgraded = true;
    s->start_us = ttb_mono_us();
  }
  return s->h2o_send(ctx, data, len, flags, user_data);
}

/* A turn after the upgrade request went away: a session whose socket never
 * came lost its connection with a failed 101 write (h2o frees it then
 * without a callback); forget it without touching the connection. */
static void on_upgrade_check(h2o_timeout_entry_t *entry)
{
  sess *s = (sess *)((char *)entry - offsetof(sess, upgrade_check));
  if (!s->upgraded) {
    logf_("ws#%d: the upgrade failed (the client left)", s->id);
    sess_free(s);
  }
}

static void on_req_dispose(void *p)
{
  sess *s = *(sess **)p;
  s->upgrade_check.cb = on_upgrade_check;
  h2o_timeout_link(G.loop, &G.zero, &s->upgrade_check);
}

/* ---------------------------------------------------------------- HTTP */

static void reply(h2o_req_t *req, int status, const char *reason, const char *type,
                  const char *body, size_t len)
{
  req->res.status = status;
  req->res.reason = reason;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
  req->res.content_length = len;
  h2o_send_inline(req, body, len);
}

static bool is(h2o_iovec_t v, const char *s)
{
  return v.len == strlen(s) && memcmp(v.base, s, v.len) == 0;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The URL-decoded value of query parameter key into out; false when absent. */
static bool query_param(h2o_req_t *req, const char *key, char *out, size_t cap)
{
  if (req->query_at == SIZE_MAX)
    return false;
  const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
  size_t kl = strlen(key);
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *pe = amp ? amp : end;
    if ((size_t)(pe - q) > kl && memcmp(q, key, kl) == 0 && q[kl] == '=') {
      size_t n = 0;
      for (const char *v = q + kl + 1; v < pe && n + 1 < cap; v++) {
        if (*v == '%' && pe - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
          out[n++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
          v += 2;
        } else {
          out[n++] = *v == '+' ? ' ' : *v;
        }
      }
      out[n] = '\0';
      return true;
    }
    q = pe + 1;
  }
  return false;
}

static int on_root(h2o_req_t *req)
{
  uint8_t rnd[24];
  if (RAND_bytes(rnd, sizeof rnd) != 1) {
    reply(req, 500, "Internal Server Error", "text/plain", "no randomness", 13);
    return 0;
  }
  char hex[sizeof rnd * 2 + 1];
  for (size_t i = 0; i < sizeof rnd; i++)
    snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  char cookie[256];
  /* like TikTok's: 1|<random>|<time>|<hash>, URL-encoded */
  snprintf(cookie, sizeof cookie,
           "ttwid=1%%7C%.32s%%7C%lld%%7C%.16s; Path=/; Max-Age=31536000; HttpOnly", hex,
           (long long)time(NULL), hex + 32);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, cookie, strlen(cookie));
  G.ttwids++;
  if (G.verbose)
    logf_("GET / (ttwid #%lu)", G.ttwids);
  static const char body[] = "<!doctype html><title>TikTok (ttb-replay fake)</title>\n";
  reply(req, 200, "OK", "text/html; charset=utf-8", body, sizeof body - 1);
  return 0;
}

static int on_lookup(h2o_req_t *req)
{
  char qname[128] = "";
  ttb_sbuf b = {0};
  G.lookups++;
  long long now = (long long)time(NULL);
  bool has = query_param(req, "uniqueId", qname, sizeof qname);
  const char *name = qname[0] == '@' ? qname + 1 : qname;
  if (!has || name[0] == '\0') {
    ttb_sbuf_printf(&b,
                    "{\"data\":{},\"extra\":{\"now\":%lld},\"message\":\"params_error\","
                    "\"statusCode\":10011}",
                    now);
    if (G.verbose)
      logf_("lookup without uniqueId: statusCode 10011");
  } else if (G.user && strcasecmp(G.user, name) != 0) {
    ttb_sbuf_printf(&b,
                    "{\"data\":{},\"extra\":{\"now\":%lld},\"message\":\"user_not_found\","
                    "\"statusCode\":19881007}",
                    now);
    if (G.verbose)
      logf_("lookup uniqueId=%s: unknown user (19881007)", name);
  } else {
    int status = G.ended ? 4 : 2;
    ttb_sbuf_printf(&b,
                    "{\"data\":{\"liveRoom\":{\"status\":%d,\"title\":\"ttb-replay\","
                    "\"startTime\":%lld},\"user\":{\"id\":\"6811000000000000099\",\"nickname\":",
                    status, now);
    ttb_sbuf_json_str(&b, name, strlen(name));
    ttb_sbuf_printf(&b, ",\"roomId\":\"%s\",\"status\":%d,\"uniqueId\":", G.room_id, status);
    ttb_sbuf_json_str(&b, name, strlen(name));
    ttb_sbuf_printf(&b, "}},\"extra\":{\"now\":%lld},\"message\":\"\",\"statusCode\":0}", now);
    if (G.verbose)
      logf_("lookup uniqueId=%s: %s, room %s", name,
            G.ended ? "ended (status 4)" : "live (status 2)", G.room_id);
  }
  if (b.oom) {
    ttb_sbuf_free(&b);
    reply(req, 503, "Service Unavailable", "text/plain", "out of memory", 13);
    return 0;
  }
  reply(req, 200, "OK", "application/json; charset=utf-8", b.p, b.len);
  ttb_sbuf_free(&b);
  return 0;
}

static int on_ws(h2o_req_t *req)
{
  const char *client_key;
  if (h2o_is_websocket_handshake(req, &client_key) != 0 || client_key == NULL) {
    reply(req, 400, "Bad Request", "text/plain", "a WebSocket handshake is expected\n", 34);
    return 0;
  }
  char room[64] = "";
  query_param(req, "room_id", room, sizeof room);
  ssize_t ci = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, -1);
  bool ttwid = ci >= 0 && memmem(req->headers.entries[ci].value.base,
                                 req->headers.entries[ci].value.len, "ttwid=", 6) != NULL;
  sess *s = calloc(1, sizeof *s);
  if (s == NULL) {
    reply(req, 503, "Service Unavailable", "text/plain", "out of memory\n", 14);
    return 0;
  }
  s->id = ++G.next_id;
  s->conn = h2o_upgrade_to_websocket(req, client_key, s, on_ws_message);
  wslay_event_config_set_max_recv_msg_length(s->conn->ws_ctx, 1u << 20);
  struct wslay_event_callbacks cbs = s->conn->ws_callbacks;
  s->h2o_send = cbs.send_callback;
  cbs.send_callback = on_wslay_send;
  wslay_event_config_set_callbacks(s->conn->ws_ctx, &cbs);
  /* sent once the upgrade completes, which tells us the socket is there */
  queue(s, WSLAY_PING, "ttb-replay", 10);
  sess **guard = h2o_mem_alloc_shared(&req->pool, sizeof *guard, on_req_dispose);
  *guard = s;
  s->prev = G.all.prev;
  s->next = &G.all;
  G.all.prev->next = s;
  G.all.prev = s;
  logf_("ws#%d: open (room_id=%s%s%s), %zu frames to send", s->id, room[0] ? room : "(none)",
        room[0] && strcmp(room, G.room_id) != 0 ? ", not the trace's room " : "",
        room[0] && strcmp(room, G.room_id) != 0 ? G.room_id : "", G.n);
  if (!ttwid)
    logf_("ws#%d: warning: the handshake carries no ttwid cookie", s->id);
  return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
  (void)self;
  h2o_iovec_t p = req->path_normalized;
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
    reply(req, 405, "Method Not Allowed", "text/plain", "GET only\n", 9);
    return 0;
  }
  if (is(p, "/"))
    return on_root(req);
  if (is(p, LOOKUP_PATH) || is(p, LOOKUP_PATH "/"))
    return on_lookup(req);
  if (is(p, WS_PATH) || is(p, "/webcast/im/ws_proxy/ws_reuse_supplement"))
    return on_ws(req);
  if (G.verbose)
    logf_("GET %.*s: 404", (int)p.len, p.base);
  reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
  return 0;
}

/* --------------------------------------------------------------- main */

static void on_accept(h2o_socket_t *listener, const char *err)
{
  if (err != NULL)
    return;
  h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
  if (sock != NULL)
    h2o_accept(&G.accept_ctx, sock);
}

/* HOST:PORT or [V6]:PORT: a listening socket, its port in *bound. */
static int listen_on(const char *hp, char *host, size_t hcap, uint16_t *bound, char *err,
                     size_t errlen)
{
  const char *colon = strrchr(hp, ':');
  if (colon == NULL || colon == hp || colon[1] == '\0') {
    snprintf(err, errlen, "--listen: expected HOST:PORT, got '%s'", hp);
    return -1;
  }
  size_t hl = (size_t)(colon - hp);
  if (hp[0] == '[' && hl >= 2 && hp[hl - 1] == ']')
    snprintf(host, hcap, "%.*s", (int)(hl - 2), hp + 1);
  else
    snprintf(host, hcap, "%.*s", (int)hl, hp);
  uint64_t port;
  if (!ttb_parse_u64(colon + 1, &port) || port > 65535) {
    snprintf(err, errlen, "--listen: bad port in '%s'", hp);
    return -1;
  }
  char ps[8];
  snprintf(ps, sizeof ps, "%u", (unsigned)port);
  return ttb_listen_tcp("--listen", host, ps, 128, bound, err, errlen);
}

int ttb_tiktok_serve_main(int argc, char **argv)
{
  const char *file = NULL, *listen_arg = NULL, *room = NULL;
  ttb_pace pace = {.speed = 1};
  int pr;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--tiktok-serve") == 0 && has) {
      file = argv[++i];
    } else if (strcmp(a, "--listen") == 0 && has) {
      listen_arg = argv[++i];
    } else if ((pr = ttb_pace_opt(&pace, argc, argv, &i)) != 0) {
      if (pr < 0)
        return 2;
    } else if (strcmp(a, "--room-id") == 0 && has) {
      room = argv[++i];
    } else if (strcmp(a, "--tiktok-user") == 0 && has) {
      G.user = argv[++i];
      if (G.user[0] == '@')
        G.user++;
    } else if (strcmp(a, "--end-after") == 0) {
      G.end_after = true;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      G.verbose = true;
    } else {
      fprintf(stderr,
              "ttb-replay: unknown or incomplete option '%s' with --tiktok-serve (see "
              "--tiktok-serve FILE --help)\n",
              a);
      return 2;
    }
  }
  if (file == NULL || listen_arg == NULL) {
    fprintf(stderr, "ttb-replay: --tiktok-serve FILE needs --listen HOST:PORT (see --tiktok-serve "
                    "FILE --help)\n");
    return 2;
  }
  if (ttb_pace_check(&pace) != 0)
    return 2;
  G.speed = pace.speed;
  G.max = pace.max;
  if (room) {
    uint64_t v;
    if (!ttb_parse_u64(room, &v) || strlen(room) >= sizeof G.room_id) {
      fprintf(stderr, "ttb-replay: --room-id: expected a decimal room id, got '%s'\n", room);
      return 2;
    }
    snprintf(G.room_id, sizeof G.room_id, "%s", room);
  }
  char err[512];
  if (load(file, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-replay: %s\n", err);
    return 2;
  }
  int status = 2;
  if (G.room_id[0] == '\0') {
    fprintf(
        stderr,
        "ttb-replay: the trace names no room (no TikTok frame with a room_id): give --room-id\n");
    goto out;
  }
  char host[256];
  uint16_t port;
  int fd = listen_on(listen_arg, host, sizeof host, &port, err, sizeof err);
  if (fd < 0) {
    fprintf(stderr, "ttb-replay: %s\n", err);
    goto out;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  G.all.prev = G.all.next = &G.all;
  G.loop = h2o_evloop_create();
  h2o_config_init(&G.config);
  h2o_hostconf_t *hc =
      h2o_config_register_host(&G.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *pc = h2o_config_register_path(hc, "/", 0);
  h2o_handler_t *h = h2o_create_handler(pc, sizeof *h);
  h->on_req = on_req;
  h2o_context_init(&G.ctx, G.loop, &G.config);
  G.accept_ctx.ctx = &G.ctx;
  G.accept_ctx.hosts = G.config.hosts;
  h2o_timeout_init(G.loop, &G.zero, 0);
  h2o_socket_t *listener = h2o_evloop_socket_create(G.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
  h2o_socket_read_start(listener, on_accept);

  bool v6 = strchr(host, ':') != NULL;
  char how[64];
  if (G.max)
    snprintf(how, sizeof how, "all at once");
  else if (pace.speed_set)
    snprintf(how, sizeof how, "at %g times the recorded pace", G.speed);
  else
    snprintf(how, sizeof how, "at the recorded pace");
  printf("ttb-replay: %zu frames of %s (room %s)%s%s, %s%s\n", G.n, file, G.room_id,
         G.user ? " for @" : "", G.user ? G.user : "", how,
         G.end_after ? ", then the end of the stream" : "");
  printf("ttb-replay: listening on http://%s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
  fflush(stdout);

  while (!stop) {
    h2o_evloop_run(G.loop, 10);
    pump();
  }
  logf_("stopping (%lu ttwid, %lu lookups, %d sockets)", G.ttwids, G.lookups, G.next_id);
  h2o_socket_read_stop(listener);
  h2o_socket_close(listener);
  /* a close (1001) to every open socket, a moment for the answers, then the rest */
  sess *next;
  for (sess *s = G.all.next; s != &G.all; s = next) {
    next = s->next;
    if (!s->upgraded)
      continue;
    wslay_event_queue_close(s->conn->ws_ctx, 1001, (const uint8_t *)"going away", 10);
    h2o_websocket_proceed(s->conn); /* may close and free s */
  }
  for (int i = 0; i < 50 && G.all.next != &G.all; i++)
    h2o_evloop_run(G.loop, 10);
  while (G.all.next != &G.all) {
    sess *s = G.all.next;
    h2o_websocket_conn_t *conn = s->upgraded ? s->conn : NULL;
    sess_free(s);
    if (conn)
      h2o_websocket_close(conn);
  }
  for (int i = 0; i < 5; i++) /* let the closes go out */
    h2o_evloop_run(G.loop, 10);
  h2o_context_dispose(&G.ctx);
  h2o_config_dispose(&G.config);
  status = 0;
out:
  for (size_t i = 0; i < G.n; i++) {
    free(G.f[i].data);
    free(G.f[i].ack_ext);
  }
  free(G.f);
  return status;
}
