/* WebSocket sessions: see ws.h. */
#include "ws.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ttboost/v1/events.pbc-json.h"

/* A growable byte buffer of whole WebSocket frames. */
typedef struct outbuf {
  uint8_t *p;
  size_t len, cap;
  size_t msgs; /* data frames in it */
} outbuf;

struct ttb_session {
  h2o_websocket_conn_t *conn;
  ttb_link all;  /* every session */
  ttb_link chan; /* the sessions of its channel */
  ttb_link pend; /* in W.pending (where PENDING) or a slot of W.wheel (DELAYED) */
  uint8_t where;
  bool wslay_work;        /* wslay may have something to do: a frame queued, input read */
  bool want_read;         /* wslay_event_want_read as of its last run */
  bool ctl;               /* `out` holds a control frame or an error: not to be delayed */
  uint64_t last_write_us; /* when `out` last went to the socket */
  uint64_t due_ms;        /* DELAYED: the loop's ms at which `out` goes */
  /* The upgrade: h2o writes the 101, then hands over the socket. When that
   * write fails, h2o frees the connection without telling us; the request's
   * pool going away (req_gone) without the socket having arrived (upgraded)
   * is how we learn it, and upgrade_check then forgets the session. */
  bool req_gone;
  bool upgraded;
  h2o_timeout_entry_t upgrade_check;
  ttb_channel *ch;
  int64_t login; /* the login session of its ws_token (store id) */
  bool binary;
  bool closing; /* the close frame is queued */
  uint64_t closing_since;
  uint64_t last_recv;
  uint64_t last_ping;
  unsigned bad_msgs;
  ttb_ws_settings settings;
  void *speech; /* the app's (ttb_ws_speech_data) */
  outbuf out;   /* frames waiting for the socket */
  outbuf wr;    /* frames being written */
};

static struct {
  h2o_loop_t *loop;
  ttb_ws_limits limits;
  ttb_metrics *metrics;
  ttb_link all;
  size_t count;
  h2o_timeout_t sweep;
  h2o_timeout_entry_t sweep_entry;
  h2o_timeout_t now; /* zero delay: the next turn of the loop */
  h2o_timeout_entry_t flush_entry;
  ttb_link pending; /* sessions to run on the next turn */
  /* write coalescing (see "Coalescing" below) */
  uint32_t flush_us;   /* --ws-flush-us; 0 = every socket every turn */
  ttb_link wheel[128]; /* DELAYED sessions by due_ms % 128 */
  size_t delayed;      /* how many */
  uint64_t wheel_ms;   /* slots up to this ms are done */
  h2o_timeout_t tick;  /* 1 ms, linked while some are delayed */
  h2o_timeout_entry_t tick_entry;
  int schedstat_fd;    /* /proc/thread-self/schedstat of the loop thread, or -1 */
  uint64_t busy_at_us; /* when loop_busy last measured */
  uint64_t busy_ns;    /* the loop thread's runnable ns then */
  bool busy;
  void (*on_close)(void *arg, ttb_session *s); /* the app: unsubscribes it from its channel */
  void *on_close_arg;
  ttb_ws_speech_fn on_speech; /* the app: a SpeechWanted */
  void *on_speech_arg;
} W = {.schedstat_fd = -1};

enum { NOWHERE, PENDING, DELAYED };

void ttb_ws_set_on_close(void (*fn)(void *arg, ttb_session *s), void *arg)
{
  W.on_close = fn;
  W.on_close_arg = arg;
}

void ttb_ws_set_on_speech_wanted(ttb_ws_speech_fn fn, void *arg)
{
  W.on_speech = fn;
  W.on_speech_arg = arg;
}

void *ttb_ws_speech_data(const ttb_session *s) { return s->speech; }
void ttb_ws_set_speech_data(ttb_session *s, void *data) { s->speech = data; }

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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

/*
 * Writing. h2o's own WebSocket writer sends one frame per write(2) and waits
 * for each to complete, which caps a socket at one frame per loop turn. So
 * once a connection is upgraded, its wslay context sends through
 * on_wslay_send, which appends to the session's `out` buffer, and data
 * frames (the same bytes for every socket of a channel) are framed straight
 * into `out` too. Sessions with something to send are run once per loop
 * turn: everything published meanwhile goes out in one write. Only whole
 * frames ever enter `out`, so wslay's control frames and our data frames
 * never interleave.
 */

static bool outbuf_reserve(outbuf *b, size_t more)
{
  if (b->cap - b->len >= more)
    return true;
  size_t cap = b->cap ? b->cap : 512;
  while (cap - b->len < more) {
    if (cap > SIZE_MAX / 2)
      return false;
    cap *= 2;
  }
  uint8_t *p = realloc(b->p, cap);
  if (p == NULL)
    return false;
  b->p = p;
  b->cap = cap;
  return true;
}

static void outbuf_free(outbuf *b)
{
  free(b->p);
  *b = (outbuf){0};
}

static bool append_raw(ttb_session *s, const void *data, size_t len)
{
  if (!outbuf_reserve(&s->out, len))
    return false;
  memcpy(s->out.p + s->out.len, data, len);
  s->out.len += len;
  return true;
}

/* Appends one unmasked frame (FIN set). */
static bool append_frame(ttb_session *s, uint8_t opcode, const void *data, size_t len)
{
  uint8_t h[10];
  size_t hl;
  h[0] = (uint8_t)(0x80u | opcode);
  if (len < 126) {
    h[1] = (uint8_t)len;
    hl = 2;
  } else if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    hl = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; i++)
      h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    hl = 10;
  }
  if (!outbuf_reserve(&s->out, hl + len))
    return false;
  memcpy(s->out.p + s->out.len, h, hl);
  memcpy(s->out.p + s->out.len + hl, data, len);
  s->out.len += hl + len;
  s->out.msgs++;
  return true;
}

/* Whether s->conn may be touched (see req_gone). */
static bool alive(const ttb_session *s) { return s->upgraded || !s->req_gone; }

static void link_before(ttb_link *at, ttb_link *l)
{
  l->prev = at->prev;
  l->next = at;
  at->prev->next = l;
  at->prev = l;
}

static void unschedule(ttb_session *s)
{
  if (s->where == NOWHERE)
    return;
  s->pend.prev->next = s->pend.next;
  s->pend.next->prev = s->pend.prev;
  if (s->where == DELAYED)
    W.delayed--;
  s->where = NOWHERE;
}

/* Runs the session on the next turn of the loop (once the upgrade is done). */
static void schedule(ttb_session *s)
{
  if (s->where == PENDING || !s->upgraded)
    return;
  unschedule(s); /* out of the wheel: now rather than later */
  s->where = PENDING;
  link_before(&W.pending, &s->pend);
  if (!h2o_timeout_is_linked(&W.flush_entry))
    h2o_timeout_link(W.loop, &W.now, &W.flush_entry);
}

/*
 * Coalescing. When every event goes to another channel, each socket gets
 * about one frame per turn of the loop, and a write per frame costs far
 * more than the frame (a loopback writev also runs the receiver's TCP
 * stack). With --ws-flush-us D (> 0), while the loop is busy (its thread
 * was runnable, on a CPU or waiting for one, at least half of the last
 * 10 ms), a socket that was written less than D ago keeps its data frames
 * until D has passed since that write, or until it holds FLUSH_BYTES: its
 * frames then go out in one write. A socket quiet for D, and every socket
 * while the loop is not busy, is written on the next turn as before; so
 * coalescing only delays frames of sockets that get more than one per D,
 * and at most by D. Control frames, errors and closes are never delayed.
 */
#define FLUSH_BYTES 16384

/* Whether the loop thread has been runnable at least half of the last
 * ~10 ms (/proc/thread-self/schedstat: ns on a CPU + ns waiting for one;
 * the thread's CPU time when that file is missing). */
static bool loop_busy(uint64_t now)
{
  if (now - W.busy_at_us < 10000)
    return W.busy;
  uint64_t ns = 0;
  char buf[96];
  ssize_t n = W.schedstat_fd >= 0 ? pread(W.schedstat_fd, buf, sizeof buf - 1, 0) : -1;
  if (n > 0) {
    buf[n] = '\0';
    unsigned long long run = 0, wait = 0;
    if (sscanf(buf, "%llu %llu", &run, &wait) == 2)
      ns = run + wait;
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  }
  if (W.busy_at_us != 0)
    W.busy = (ns - W.busy_ns) * 2 >= (now - W.busy_at_us) * 1000;
  W.busy_at_us = now;
  W.busy_ns = ns;
  return W.busy;
}

static uint64_t loop_ms(void) { return h2o_now(W.loop); }

/* A data frame was appended to s->out: the next turn, or the wheel. */
/* Whether s->out (not yet scheduled) should go without delay; else *now is set. */
static bool write_soon(const ttb_session *s, uint64_t *now)
{
  return W.flush_us == 0 || s->ctl || s->closing || s->out.len >= FLUSH_BYTES ||
         (*now = now_us()) - s->last_write_us >= W.flush_us || !loop_busy(*now);
}

/* Puts s (NOWHERE) in the wheel, due when flush_us has passed since its last write. */
static void delay(ttb_session *s, uint64_t now)
{
  uint64_t wait_us = s->last_write_us + W.flush_us - now;
  s->due_ms = loop_ms() + (wait_us + 999) / 1000;
  if (s->due_ms <= W.wheel_ms)
    s->due_ms = W.wheel_ms + 1;
  s->where = DELAYED;
  link_before(&W.wheel[s->due_ms % 128], &s->pend);
  W.delayed++;
  if (!h2o_timeout_is_linked(&W.tick_entry))
    h2o_timeout_link(W.loop, &W.tick, &W.tick_entry);
}

static void schedule_data(ttb_session *s)
{
  if (!s->upgraded || s->where == PENDING)
    return;
  if (s->where == DELAYED) {
    if (s->out.len >= FLUSH_BYTES)
      schedule(s);
    return;
  }
  uint64_t now = 0;
  if (write_soon(s, &now))
    schedule(s);
  else
    delay(s, now);
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user_data)
{
  (void)flags;
  h2o_websocket_conn_t *conn = user_data;
  ttb_session *s = conn->data;
  if (conn->sock != NULL)
    s->upgraded = true; /* the first send after the 101: the socket is ours */
  if (!append_raw(s, data, len)) {
    wslay_event_set_error(ctx, WSLAY_ERR_NOMEM);
    return -1;
  }
  s->ctl = true;
  schedule(s);
  return (ssize_t)len;
}

static void session_free(ttb_session *s);
static void run(ttb_session *s, bool flush);

/* The connection is gone or done: forget the session, close the socket. */
static void closed(ttb_session *s)
{
  h2o_websocket_conn_t *conn = s->conn;
  session_free(s);
  h2o_websocket_close(conn);
}

static void on_sock_written(h2o_socket_t *sock, const char *err)
{
  h2o_websocket_conn_t *conn = sock->data;
  ttb_session *s = conn->data;
  s->wr.len = 0;
  s->wr.msgs = 0;
  if (s->wr.cap > 16384)
    outbuf_free(&s->wr);
  if (err != NULL) {
    closed(s);
    return;
  }
  run(s, false);
}

static void on_sock_read(h2o_socket_t *sock, const char *err)
{
  h2o_websocket_conn_t *conn = sock->data;
  ttb_session *s = conn->data;
  if (err != NULL) {
    closed(s);
    return;
  }
  s->wslay_work = true;
  run(s, false);
}

/* Writes s->wr with one send(2) when the socket is plain TCP (not TLS):
 * h2o's writer would writev(2) the same bytes and then run the session
 * again from its completion callback. Returns how many bytes went (0 on
 * EAGAIN or an error: h2o's writer then writes, or reports the error). */
static size_t write_direct(ttb_session *s, h2o_socket_t *sock)
{
  if (sock->ssl != NULL)
    return 0;
  int fd = h2o_socket_get_fd(sock);
  if (fd < 0)
    return 0;
  ssize_t n;
  do
    n = send(fd, s->wr.p, s->wr.len, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return 0;
  sock->bytes_written += (size_t)n;
  return (size_t)n;
}

/* Reads what arrived, lets wslay queue its frames, writes `out` when the
 * socket is free (flush: now; else when coalescing lets it, see
 * schedule_data), and closes when both sides have closed. */
static void run(ttb_session *s, bool flush)
{
  h2o_socket_t *sock = s->conn->sock;
  if (sock == NULL) {
    unschedule(s);
    return; /* upgrading: the upgrade's first write schedules us again */
  }
  wslay_event_context_ptr ctx = s->conn->ws_ctx;
  if (s->wslay_work || sock->input->size != 0) {
    for (int turn = 0; turn < 16; turn++) {
      bool handled = false;
      if (wslay_event_want_write(ctx)) {
        if (wslay_event_send(ctx) != 0)
          goto dead;
        handled = true;
      }
      if (sock->input->size != 0 && wslay_event_want_read(ctx)) {
        if (wslay_event_recv(ctx) != 0)
          goto dead;
        handled = true;
      }
      if (!handled)
        break;
    }
    /* wslay has nothing more to send unless the 16 turns ran out (then
     * the next run goes on; new input calls on_sock_read anyway) */
    s->wslay_work = wslay_event_want_write(ctx);
    s->want_read = wslay_event_want_read(ctx);
  }
  uint64_t now = 0;
  if (!flush && s->where == DELAYED && !s->ctl && !s->closing && s->out.len < FLUSH_BYTES) {
    /* only data frames, waiting in the wheel: they stay there */
  } else if (!flush && s->where == NOWHERE && s->out.len > 0 && !write_soon(s, &now)) {
    delay(s, now); /* only data frames, and coalescing says later */
  } else {
    unschedule(s); /* what wslay scheduled is being done now */
  }
  if (s->where == NOWHERE && !h2o_socket_is_writing(sock) && s->out.len > 0) {
    outbuf t = s->wr;
    s->wr = s->out;
    s->out = t;
    s->ctl = false;
    if (W.flush_us)
      s->last_write_us = now_us();
    W.metrics->ws_writes++;
    size_t sent = write_direct(s, sock);
    if (sent == s->wr.len) { /* all of it: done, as on_sock_written would be */
      s->wr.len = 0;
      s->wr.msgs = 0;
      if (s->wr.cap > 16384)
        outbuf_free(&s->wr);
    } else { /* the rest when the socket takes it (or its error) */
      h2o_iovec_t b = h2o_iovec_init(s->wr.p + sent, s->wr.len - sent);
      h2o_socket_write(sock, &b, 1, on_sock_written);
    }
  }
  if (s->want_read) {
    if (sock->_cb.read != on_sock_read)
      h2o_socket_read_start(sock, on_sock_read);
  } else if (h2o_socket_is_writing(sock) || s->out.len > 0) {
    h2o_socket_read_stop(sock);
  } else {
    goto dead; /* both closes done and everything written */
  }
  return;
dead:
  closed(s);
}

/* Runs the delayed sessions whose time has come. */
static void run_wheel(void)
{
  uint64_t now = loop_ms();
  if (W.delayed == 0) {
    W.wheel_ms = now;
    return;
  }
  for (uint64_t ms = W.wheel_ms + 1; ms <= now && W.delayed; ms++) {
    if (now - ms >= 128)
      ms = now - 127; /* a late loop: every slot once */
    /* the slot's due sessions move to `batch` (run may free others) */
    ttb_link *slot = &W.wheel[ms % 128], batch = {&batch, &batch};
    for (ttb_link *l = slot->next, *n = l->next; l != slot; l = n, n = l->next) {
      if (((ttb_session *)((char *)l - offsetof(ttb_session, pend)))->due_ms > now)
        continue;
      l->prev->next = l->next;
      l->next->prev = l->prev;
      link_before(&batch, l);
    }
    while (batch.next != &batch)
      run((ttb_session *)((char *)batch.next - offsetof(ttb_session, pend)), true); /* unlinks it */
  }
  W.wheel_ms = now;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
  (void)entry;
  run_wheel();
  if (W.delayed && !h2o_timeout_is_linked(&W.tick_entry))
    h2o_timeout_link(W.loop, &W.tick, &W.tick_entry);
}

static void on_flush(h2o_timeout_entry_t *entry)
{
  (void)entry;
  run_wheel();
  /* sessions scheduled while this runs wait for the next turn */
  ttb_link batch = W.pending;
  if (batch.next == &W.pending)
    return;
  batch.next->prev = &batch;
  batch.prev->next = &batch;
  W.pending.prev = W.pending.next = &W.pending;
  while (batch.next != &batch) {
    ttb_session *s = (ttb_session *)((char *)batch.next - offsetof(ttb_session, pend));
    run(s, true); /* unlinks s from batch */
  }
}

static bool queue(ttb_session *s, uint8_t opcode, const void *data, size_t len)
{
  if (!alive(s))
    return false;
  struct wslay_event_msg m = {opcode, data, len};
  s->wslay_work = true;
  return wslay_event_queue_msg(s->conn->ws_ctx, &m) == 0;
}

static void begin_close(ttb_session *s, uint16_t code, const char *reason)
{
  if (s->closing || !alive(s))
    return;
  s->closing = true;
  s->closing_since = now_ms();
  size_t rl = strlen(reason);
  if (rl > 120)
    rl = 120;
  wslay_event_queue_close(s->conn->ws_ctx, code, (const uint8_t *)reason, rl);
  s->wslay_work = true;
  schedule(s);
}

/* Sends one message of the server's own (an error, a pong) in the session's
 * format. `ahead` frames it straight into `out`, past the queue bounds and
 * ahead of anything wslay queues after it (the close an error announces). */
static void send_own(ttb_session *s, const Ttboost__V1__ServerMessage *m, bool ahead)
{
  uint8_t buf[1024];
  const void *data = NULL;
  size_t n = 0;
  char *js = NULL;
  if (s->binary) {
    n = ttboost__v1__server_message__get_packed_size(m);
    if (n > sizeof buf)
      return;
    ttboost__v1__server_message__pack(m, buf);
    data = buf;
  } else {
    js = ttb_pbc_ttboost_v1_ServerMessage_to_json(m, &n, NULL);
    if (js == NULL)
      return;
    data = js;
  }
  if (ahead) {
    if (append_frame(s, s->binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, n))
      s->ctl = true;
    schedule(s);
  } else {
    ttb_ws_send(s, data, n);
  }
  free(js);
}

static void send_error(ttb_session *s, const char *error, const char *message)
{
  Ttboost__V1__StreamError e = TTBOOST__V1__STREAM_ERROR__INIT;
  e.error = (char *)error;
  e.message = (char *)message;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_ERROR;
  m.error = &e;
  send_own(s, &m, true);
}

void ttb_ws_close(ttb_session *s, uint16_t code, const char *error, const char *message)
{
  if (s->closing)
    return;
  if (error)
    send_error(s, error, message ? message : "");
  begin_close(s, code, error ? error : "");
}

bool ttb_ws_send(ttb_session *s, const void *data, size_t len)
{
  if (s->closing || !alive(s))
    return false;
  if (s->out.msgs + s->wr.msgs >= W.limits.max_queued_msgs ||
      s->out.len + s->wr.len + len > W.limits.max_queued_bytes) {
    W.metrics->queue_drops++;
    /* What has not reached the socket yet is dropped (whole frames only),
     * so that the close frame, whose reason says why, comes next. A client
     * that reads nothing at all is cut by the sweep. */
    s->out.len = 0;
    s->out.msgs = 0;
    begin_close(s, TTB_WS_SLOW_CONSUMER, "slow_consumer");
    return false;
  }
  if (!append_frame(s, s->binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len)) {
    begin_close(s, TTB_WS_SLOW_CONSUMER, "out_of_memory");
    return false;
  }
  schedule_data(s);
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
  send_own(s, &m, false);
}

static void refuse(ttb_session *s, const char *error, const char *msg)
{
  if (++s->bad_msgs > 20) {
    ttb_ws_close(s, TTB_WS_POLICY, "bad_message", "Too many invalid messages.");
    return;
  }
  send_error(s, error, msg);
}

static void bad_message(ttb_session *s, const char *why)
{
  char msg[256];
  snprintf(msg, sizeof msg, "Message refused: %s", why);
  refuse(s, "bad_message", msg);
}

static void speech_wanted(ttb_session *s, uint64_t seq, uint32_t lead_ms)
{
  char msg[256] = "";
  const char *error = "bad_request";
  if (W.on_speech == NULL)
    snprintf(msg, sizeof msg, "SpeechWanted is not served here.");
  else
    error = W.on_speech(W.on_speech_arg, s, seq, lead_ms, msg, sizeof msg);
  if (error)
    refuse(s, error, msg);
}

static void on_client_message(ttb_session *s, const struct wslay_event_on_msg_recv_arg *arg)
{
  Ttboost__V1__ClientMessage *m = NULL;
  if (arg->opcode == WSLAY_TEXT_FRAME) {
    ttb_json_error err = {0};
    m = ttb_pbc_ttboost_v1_ClientMessage_from_json((const char *)arg->msg, arg->msg_length, NULL,
                                                   &err);
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
    s->settings.speech_on_request = m->settings->speech_on_request;
    break;
  case TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SPEECH_WANTED:
    speech_wanted(s, m->speech_wanted->seq, m->speech_wanted->lead_ms);
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
  if (h2o_timeout_is_linked(&s->upgrade_check))
    h2o_timeout_unlink(&s->upgrade_check);
  unschedule(s);
  outbuf_free(&s->out);
  outbuf_free(&s->wr);
  if (W.on_close)
    W.on_close(W.on_close_arg, s);
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
    if (!s->upgraded)
      continue; /* still upgrading (or the upgrade failed: upgrade_check forgets it) */
    if (s->closing) {
      if (now - s->closing_since > 5000) {
        /* the peer does not answer our close: drop the connection */
        closed(s);
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
      schedule(s);
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
  W.pending.prev = W.pending.next = &W.pending;
  h2o_timeout_init(loop, &W.sweep, 1000);
  h2o_timeout_init(loop, &W.now, 0);
  W.flush_entry.cb = on_flush;
  W.sweep_entry.cb = on_sweep;
  for (size_t i = 0; i < 128; i++)
    W.wheel[i].prev = W.wheel[i].next = &W.wheel[i];
  W.wheel_ms = h2o_now(loop);
  h2o_timeout_init(loop, &W.tick, 1);
  W.tick_entry.cb = on_tick;
  if (W.schedstat_fd < 0)
    W.schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  h2o_timeout_link(loop, &W.sweep, &W.sweep_entry);
}

void ttb_ws_set_flush_us(uint32_t us) { W.flush_us = us > 100000 ? 100000 : us; }

/* Does the client offer our subprotocol? */
static bool wants_binary(h2o_req_t *req)
{
  ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), -1);
  for (; i != -1;
       i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"), i)) {
    h2o_iovec_t v = req->headers.entries[i].value;
    if (h2o_contains_token(v.base, v.len, H2O_STRLIT(TTB_WS_SUBPROTOCOL), ','))
      return true;
  }
  return false;
}

/* The next turn after the upgrade's request went away: a session whose
 * socket never arrived lost its connection with the failed 101 write. */
static void on_upgrade_check(h2o_timeout_entry_t *entry)
{
  ttb_session *s = (ttb_session *)((char *)entry - offsetof(ttb_session, upgrade_check));
  if (!s->upgraded)
    session_free(s); /* never touches s->conn */
}

static void on_req_dispose(void *p)
{
  ttb_session *s = *(ttb_session **)p;
  s->req_gone = true;
  s->upgrade_check.cb = on_upgrade_check;
  h2o_timeout_link(W.loop, &W.now, &s->upgrade_check);
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
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0,
                          NULL, H2O_STRLIT(TTB_WS_SUBPROTOCOL));
  s->settings = (ttb_ws_settings){true, true, true, false, false};
  s->last_recv = s->last_ping = now_ms();
  s->conn = h2o_upgrade_to_websocket(req, client_key, s, on_ws_message);
  wslay_event_config_set_max_recv_msg_length(s->conn->ws_ctx, W.limits.max_in_msg);
  /* our writer (see on_wslay_send); wslay's other callbacks stay h2o's */
  struct wslay_event_callbacks cbs = s->conn->ws_callbacks;
  cbs.send_callback = on_wslay_send;
  wslay_event_config_set_callbacks(s->conn->ws_ctx, &cbs);
  /* a first ping: when the upgrade completes, h2o lets wslay send it, which
   * tells us the socket is there (and starts the heartbeat) */
  queue(s, WSLAY_PING, "ttb", 3);
  ttb_session **guard = h2o_mem_alloc_shared(&req->pool, sizeof *guard, on_req_dispose);
  *guard = s;
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

ttb_session *ttb_ws_accept(h2o_req_t *req, int64_t session_id)
{
  ttb_session *s = upgrade(req);
  if (s == NULL)
    return NULL;
  s->login = session_id;
  return s;
}

int ttb_ws_refuse(h2o_req_t *req, uint16_t code, const char *error, const char *message)
{
  ttb_session *s = upgrade(req);
  if (s == NULL)
    return -1;
  ttb_ws_close(s, code, error, message);
  return 0;
}

size_t ttb_ws_close_login(int64_t session_id, uint16_t code, const char *error, const char *message)
{
  size_t n = 0;
  if (session_id == 0)
    return 0;
  for (ttb_link *l = W.all.next; l != &W.all; l = l->next) {
    ttb_session *s = (ttb_session *)((char *)l - offsetof(ttb_session, all));
    if (s->login != session_id || s->closing)
      continue;
    ttb_ws_close(s, code, error, message); /* only queues: s stays in the list */
    n++;
  }
  return n;
}

size_t ttb_ws_shutdown_all(void)
{
  for (ttb_link *l = W.all.next, *n = l->next; l != &W.all; l = n, n = l->next) {
    ttb_session *s = (ttb_session *)((char *)l - offsetof(ttb_session, all));
    ttb_ws_close(s, TTB_WS_GOING_AWAY, "shutdown",
                 "The server is shutting down; reconnect shortly.");
  }
  return W.count;
}
