/* tests/mobile/test_tiktok.c — the TikTok side in the client core, without a
 * server: `status` messages (JSON and protobuf) over a fake transport become
 * the kept status (ttb_client_tiktok_status) and TTB_EVENT_TIKTOK events;
 * ttb_client_set_tiktok / ttb_client_get_tiktok over a fake HTTP function
 * (the request they make, and every kind of answer: the handle kept, a
 * refused handle with the server's words, a refused token, an old server,
 * garbage); the pure answer mapping ttb__tiktok_interpret. The real server
 * is exercised by tests/mobile_net/test_tiktok_it.c. Runs on arm64 too. */
#include <criterion/criterion.h>

#include <pb_encode.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "tmpdir.h"
#include "ttboost/v1/events.pb.h"

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ fake transport */

typedef struct {
  uint8_t data[2048];
  size_t len;
  bool binary;
} fmsg;

typedef struct {
  ttb__transport base;
  pthread_mutex_t mu;
  fmsg q[64];
  size_t qh, qn;
  bool connect_pending;
  int opens;
  char sub[64];
} ftrans;

static ftrans *cur; /* the transport of the current connection */
static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;

static int f_open(ttb__transport *t, const char *url, const char *sub)
{
  (void)url;
  ftrans *f = (ftrans *)t;
  pthread_mutex_lock(&f->mu);
  snprintf(f->sub, sizeof f->sub, "%s", sub ? sub : "");
  f->connect_pending = true;
  f->opens++;
  pthread_mutex_unlock(&f->mu);
  return TTB_OK;
}

static int f_send(ttb__transport *t, const uint8_t *d, size_t n, bool b)
{
  (void)t, (void)d, (void)n, (void)b;
  return TTB_OK;
}

static void f_close(ttb__transport *t, int code) { (void)t, (void)code; }

static void f_service(ttb__transport *t, int timeout_ms)
{
  ftrans *f = (ftrans *)t;
  pthread_mutex_lock(&f->mu);
  bool conn = f->connect_pending;
  f->connect_pending = false;
  pthread_mutex_unlock(&f->mu);
  if (conn)
    t->cb.on_connected(t->cb.user);
  bool any = false;
  for (;;) {
    fmsg m;
    pthread_mutex_lock(&f->mu);
    bool have = f->qn > 0;
    if (have) {
      m = f->q[f->qh];
      f->qh = (f->qh + 1) % 64;
      f->qn--;
    }
    pthread_mutex_unlock(&f->mu);
    if (!have)
      break;
    t->cb.on_message(t->cb.user, m.data, m.len, m.binary);
    any = true;
  }
  if (!conn && !any && timeout_ms > 0)
    sleep_ms(timeout_ms < 2 ? timeout_ms : 2);
}

static void f_wake(ttb__transport *t) { (void)t; }

static void f_destroy(ttb__transport *t)
{
  ftrans *f = (ftrans *)t;
  pthread_mutex_lock(&cur_mu);
  if (cur == f)
    cur = NULL;
  pthread_mutex_unlock(&cur_mu);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static const ttb__transport_ops f_ops = {f_open, f_send, f_close, f_service, f_wake, f_destroy};

static int f_factory(void *user, ttb__transport **out)
{
  (void)user;
  ftrans *f = calloc(1, sizeof *f);
  if (!f)
    return TTB_ERR_NOMEM;
  pthread_mutex_init(&f->mu, NULL);
  f->base.ops = &f_ops;
  pthread_mutex_lock(&cur_mu);
  cur = f;
  pthread_mutex_unlock(&cur_mu);
  *out = &f->base;
  return TTB_OK;
}

static void push(const void *data, size_t len, bool binary)
{
  pthread_mutex_lock(&cur_mu);
  ftrans *f = cur;
  cr_assert_not_null(f);
  pthread_mutex_lock(&f->mu);
  cr_assert(f->qn < 64 && len <= sizeof f->q[0].data);
  fmsg *m = &f->q[(f->qh + f->qn) % 64];
  memcpy(m->data, data, len);
  m->len = len;
  m->binary = binary;
  f->qn++;
  pthread_mutex_unlock(&f->mu);
  pthread_mutex_unlock(&cur_mu);
}

static void push_json(const char *js) { push(js, strlen(js), false); }

static void push_pb(const ttboost_v1_ServerMessage *m)
{
  uint8_t buf[2048];
  pb_ostream_t os = pb_ostream_from_buffer(buf, sizeof buf);
  cr_assert(pb_encode(&os, ttboost_v1_ServerMessage_fields, m), "%s", PB_GET_ERROR(&os));
  push(buf, os.bytes_written, true);
}

static void wait_open(void)
{
  for (int i = 0; i < 5000; i++) {
    pthread_mutex_lock(&cur_mu);
    int opens = 0;
    if (cur) {
      pthread_mutex_lock(&cur->mu);
      opens = cur->opens;
      pthread_mutex_unlock(&cur->mu);
    }
    pthread_mutex_unlock(&cur_mu);
    if (opens > 0)
      return;
    sleep_ms(1);
  }
  cr_assert_fail("the client did not open its socket");
}

/* ------------------------------------------------------------ fake HTTP */

/* What the fake answers to /me/tiktok next, and what it was asked. */
static struct {
  pthread_mutex_t mu;
  int status;
  char body[1024];
  int fail; /* a TTB_ERR_* returned instead of an answer, or 0 */
  char method[8];
  char url[256];
  char bearer[64];
  char sent[512];
  int calls;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void answer(int status, const char *body)
{
  pthread_mutex_lock(&H.mu);
  H.status = status;
  snprintf(H.body, sizeof H.body, "%s", body);
  H.fail = 0;
  pthread_mutex_unlock(&H.mu);
}

static int fake_http(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                     size_t errlen)
{
  (void)user;
  memset(resp, 0, sizeof *resp);
  const char *body;
  int status;
  if (strstr(req->url, "/auth/login")) {
    status = 200;
    body = "{\"status\":\"ok\",\"user_id\":\"u-1\",\"ws_token\":\"tok-123\"}";
  } else {
    pthread_mutex_lock(&H.mu);
    H.calls++;
    snprintf(H.method, sizeof H.method, "%s", req->method);
    snprintf(H.url, sizeof H.url, "%s", req->url);
    snprintf(H.bearer, sizeof H.bearer, "%s", req->bearer ? req->bearer : "");
    snprintf(H.sent, sizeof H.sent, "%.*s", (int)req->body_len,
             req->body ? (const char *)req->body : "");
    int fail = H.fail;
    status = H.status;
    static char copy[1024];
    memcpy(copy, H.body, sizeof copy);
    pthread_mutex_unlock(&H.mu);
    if (fail) {
      snprintf(err, errlen, "connection refused");
      return fail;
    }
    body = copy;
  }
  resp->status = status;
  resp->len = strlen(body);
  resp->body = malloc(resp->len + 1);
  if (!resp->body)
    return TTB_ERR_NOMEM;
  memcpy(resp->body, body, resp->len + 1);
  return TTB_OK;
}

/* ------------------------------------------------------------ helpers */

static char dir[256];

static void setup(void) { cr_assert_not_null(tmpdir_make(dir, sizeof dir, "ttb_tiktok_")); }
static void teardown(void) { tmpdir_remove(dir); }

static ttb_client *mk(bool login)
{
  ttb_client_config cfg = {.server_url = "http://fake.test:8080", .data_dir = dir};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  ttb__client_set_net(c, fake_http, NULL, f_factory, NULL);
  if (login)
    cr_assert_eq(ttb_client_login(c, "KEY"), TTB_OK, "%s", ttb_client_last_error(c));
  return c;
}

/* Waits for the next TTB_EVENT_TIKTOK (skipping others) into *ev. */
static bool next_tiktok(ttb_client *c, ttb_event *ev, int ms)
{
  for (int i = 0; i < ms; i++) {
    while (ttb_client_poll_event(c, ev))
      if (ev->kind == TTB_EVENT_TIKTOK)
        return true;
    sleep_ms(1);
  }
  return false;
}

static const char HELLO[] =
    "{\"type\":\"hello\",\"last_seq\":0,\"first_seq\":0,\"resume_gap\":false,"
    "\"server_time_ms\":1,\"protocol_version\":1,"
    "\"heartbeat_interval_ms\":10000,\"seq\":0}";

TestSuite(tiktok, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ the socket */

Test(tiktok, json_status_messages_are_kept_and_reported)
{
  ttb_client *c = mk(true);
  ttb_tiktok_status t;
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_UNKNOWN, "nothing heard yet");
  cr_assert_str_eq(t.username, "");
  cr_assert_eq(ttb_client_start(c), TTB_OK, "%s", ttb_client_last_error(c));
  wait_open();
  push_json(HELLO);
  /* A gift first (seq 7, no sound): a status's seq 0 is not a duplicate of it. */
  push_json("{\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":1,\"sound_url\":\"\","
            "\"user\":\"a\",\"seq\":7}");
  push_json("{\"type\":\"status\",\"tiktok\":\"connecting\",\"room_id\":\"7301234567890123456\","
            "\"username\":\"aruka.live\",\"seq\":0}");
  push_json("{\"type\":\"status\",\"tiktok\":\"live\",\"room_id\":\"7301234567890123456\","
            "\"username\":\"aruka.live\",\"seq\":0}");
  /* The same status again (e.g. after a reconnect's hello): no new event. */
  push_json("{\"type\":\"status\",\"tiktok\":\"live\",\"room_id\":\"7301234567890123456\","
            "\"username\":\"aruka.live\",\"seq\":0}");
  /* username and message are omitted when empty. */
  push_json("{\"type\":\"status\",\"tiktok\":\"waiting\",\"room_id\":\"\","
            "\"username\":\"aruka.live\",\"message\":\"aruka.live is not live now\",\"seq\":0}");
  ttb_event ev;
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_CONNECTING);
  cr_assert_str_eq(ev.user, "aruka.live");
  cr_assert_eq(ev.seq, 0);
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_LIVE);
  cr_assert_str_eq(ev.text, "");
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_WAITING, "the repeated live was not reported twice");
  cr_assert_str_eq(ev.text, "aruka.live is not live now");
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_WAITING);
  cr_assert_str_eq(t.room_id, "");
  cr_assert_str_eq(t.message, "aruka.live is not live now");

  push_json("{\"type\":\"status\",\"tiktok\":\"live\",\"room_id\":\"7301234567890123999\","
            "\"username\":\"aruka.live\",\"seq\":0}");
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_LIVE);
  cr_assert_str_eq(t.room_id, "7301234567890123999");
  cr_assert_str_eq(t.username, "aruka.live");
  cr_assert_str_eq(t.message, "");
  cr_assert_eq(ttb_client_tiktok_status(c, NULL), TTB_TIKTOK_LIVE, "out may be NULL");

  /* A state newer than this client: kept as UNKNOWN, with its words. */
  push_json("{\"type\":\"status\",\"tiktok\":\"paused\",\"room_id\":\"\",\"message\":\"later\","
            "\"seq\":0}");
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_UNKNOWN);
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_UNKNOWN);
  cr_assert_str_eq(t.message, "later");

  /* Status messages are not chat: the log and the counters are untouched. */
  ttb_event recent[4];
  cr_assert_eq(ttb_client_recent_events(c, recent, 4), 1);
  cr_assert_eq(recent[0].kind, TTB_EVENT_GIFT);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.chat_messages, 0);
  cr_assert_eq(st.gifts, 1);

  /* The state outlives the socket; logout forgets it. */
  push_json("{\"type\":\"status\",\"tiktok\":\"ended\",\"room_id\":\"\",\"username\":\"aruka."
            "live\",\"seq\":0}");
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_ENDED);
  cr_assert_eq(ttb_client_stop(c), TTB_OK);
  cr_assert_eq(ttb_client_tiktok_status(c, NULL), TTB_TIKTOK_ENDED);
  cr_assert_eq(ttb_client_logout(c), TTB_OK);
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_UNKNOWN);
  cr_assert_str_eq(t.username, "");
  ttb_client_destroy(c);
}

Test(tiktok, a_bad_status_message_is_an_error_not_a_crash)
{
  ttb_client *c = mk(true);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open();
  push_json(HELLO);
  /* tiktok over its max_length of 16 bytes */
  push_json("{\"type\":\"status\",\"tiktok\":\"livelivelivelivelive\",\"room_id\":\"\",\"seq\":0}");
  push_json("{\"type\":\"status\",\"tiktok\":\"off\",\"room_id\":\"\",\"seq\":0}");
  ttb_event ev;
  bool error = false, tiktok = false;
  for (int i = 0; i < 5000 && !tiktok; i++) {
    while (ttb_client_poll_event(c, &ev)) {
      if (ev.kind == TTB_EVENT_ERROR) {
        error = true;
        cr_assert(strstr(ev.text, "tiktok") != NULL, "names the field: %s", ev.text);
      }
      if (ev.kind == TTB_EVENT_TIKTOK) {
        tiktok = true;
        cr_assert_eq(ev.count, TTB_TIKTOK_OFF);
      }
    }
    sleep_ms(1);
  }
  cr_assert(error, "the bad one was reported");
  cr_assert(tiktok, "the good one after it was taken");
  cr_assert_eq(ttb_client_state(c, NULL, 0), TTB_STATE_CONNECTED, "the socket stays up");
  ttb_client_destroy(c);
}

static ttboost_v1_ServerMessage pb_status(const char *state, const char *room, const char *user,
                                          const char *msg)
{
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.which_payload = ttboost_v1_ServerMessage_status_tag;
  snprintf(m.payload.status.tiktok, sizeof m.payload.status.tiktok, "%s", state);
  snprintf(m.payload.status.room_id, sizeof m.payload.status.room_id, "%s", room);
  snprintf(m.payload.status.username, sizeof m.payload.status.username, "%s", user);
  snprintf(m.payload.status.message, sizeof m.payload.status.message, "%s", msg);
  return m;
}

Test(tiktok, protobuf_status_messages_in_binary_mode)
{
  ttb_client *c = mk(true);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  s.binary_mode = true;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open();
  pthread_mutex_lock(&cur_mu);
  cr_assert_str_eq(cur->sub, TTB__SUBPROTOCOL_BINARY);
  pthread_mutex_unlock(&cur_mu);
  ttboost_v1_ServerMessage hello = ttboost_v1_ServerMessage_init_zero;
  hello.which_payload = ttboost_v1_ServerMessage_hello_tag;
  hello.payload.hello.protocol_version = 1;
  hello.payload.hello.heartbeat_interval_ms = 10000;
  push_pb(&hello);
  ttboost_v1_ServerMessage m = pb_status("live", "7301234567890123456", "streamer_1", "");
  push_pb(&m);
  m = pb_status("error", "", "streamer_1", "TikTok refused the connection (DEVICE_BLOCKED)");
  push_pb(&m);
  ttb_event ev;
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_LIVE);
  cr_assert_str_eq(ev.user, "streamer_1");
  cr_assert(next_tiktok(c, &ev, 5000));
  cr_assert_eq(ev.count, TTB_TIKTOK_ERROR);
  cr_assert_str_eq(ev.text, "TikTok refused the connection (DEVICE_BLOCKED)");
  ttb_tiktok_status t;
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_ERROR);
  cr_assert_str_eq(t.username, "streamer_1");
  cr_assert_str_eq(t.room_id, "");
  cr_assert_str_eq(t.message, "TikTok refused the connection (DEVICE_BLOCKED)");
  ttb_client_destroy(c);
}

/* ------------------------------------------------------------ /me/tiktok */

Test(tiktok, set_sends_the_handle_and_keeps_the_answer)
{
  ttb_client *c = mk(true);
  answer(
      200,
      "{\"username\":\"aruka.live\",\"state\":\"connecting\",\"room_id\":\"\",\"message\":\"\"}");
  ttb_tiktok_status t;
  cr_assert_eq(ttb_client_set_tiktok(c, "  @aruka.live \n", &t), TTB_OK, "%s",
               ttb_client_last_error(c));
  cr_assert_str_eq(H.method, "PUT");
  cr_assert_str_eq(H.url, "http://fake.test:8080/me/tiktok");
  cr_assert_str_eq(H.bearer, "tok-123");
  cr_assert_str_eq(H.sent, "{\"username\":\"aruka.live\"}", "trimmed, without the @: %s", H.sent);
  cr_assert_eq(t.state, TTB_TIKTOK_CONNECTING);
  cr_assert_str_eq(t.username, "aruka.live");
  cr_assert_str_eq(ttb_client_last_error(c), "");
  /* Kept, and reported once. */
  cr_assert_eq(ttb_client_tiktok_status(c, NULL), TTB_TIKTOK_CONNECTING);
  ttb_event ev;
  cr_assert(next_tiktok(c, &ev, 10));
  cr_assert_eq(ev.count, TTB_TIKTOK_CONNECTING);
  cr_assert_str_eq(ev.user, "aruka.live");
  cr_assert_not(next_tiktok(c, &ev, 10));

  /* GET: no body; the same answer is no news. */
  cr_assert_eq(ttb_client_get_tiktok(c, &t), TTB_OK);
  cr_assert_str_eq(H.method, "GET");
  cr_assert_str_eq(H.sent, "");
  cr_assert_str_eq(H.bearer, "tok-123");
  cr_assert_not(next_tiktok(c, &ev, 10));
  answer(200,
         "{\"username\":\"aruka.live\",\"state\":\"live\",\"room_id\":\"7301\",\"message\":\"\","
         "\"extra\":[1,2]}");
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_OK, "unknown keys are skipped");
  cr_assert_eq(ttb_client_tiktok_status(c, &t), TTB_TIKTOK_LIVE);
  cr_assert_str_eq(t.room_id, "7301");
  cr_assert(next_tiktok(c, &ev, 10));

  /* "" clears the handle. */
  answer(200, "{\"username\":\"\",\"state\":\"off\",\"room_id\":\"\",\"message\":\"\"}");
  cr_assert_eq(ttb_client_set_tiktok(c, "", &t), TTB_OK);
  cr_assert_str_eq(H.sent, "{\"username\":\"\"}");
  cr_assert_eq(t.state, TTB_TIKTOK_OFF);
  ttb_client_destroy(c);
}

Test(tiktok, refusals_come_with_the_server_s_words)
{
  ttb_client *c = mk(true);
  ttb_tiktok_status t;
  answer(400, "{\"status\":\"error\",\"error\":\"invalid_username\","
              "\"message\":\"A TikTok username has 2 to 24 letters, digits, '_' or '.'\"}");
  cr_assert_eq(ttb_client_set_tiktok(c, "@no spaces!", &t), TTB_ERR_INVALID);
  cr_assert_str_eq(ttb_client_last_error(c),
                   "A TikTok username has 2 to 24 letters, digits, '_' or '.'");
  cr_assert_eq(t.state, TTB_TIKTOK_UNKNOWN, "out is cleared on failure");
  cr_assert_eq(ttb_client_tiktok_status(c, NULL), TTB_TIKTOK_UNKNOWN, "nothing kept");

  answer(401, "{\"status\":\"error\",\"error\":\"unauthorized\",\"message\":\"unknown or expired "
              "session token\"}");
  cr_assert_eq(ttb_client_set_tiktok(c, "name", NULL), TTB_ERR_AUTH);
  cr_assert_str_eq(ttb_client_last_error(c), "unknown or expired session token");
  cr_assert(ttb_client_has_token(c), "the token is kept");
  answer(401, "");
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_ERR_AUTH);
  cr_assert(strstr(ttb_client_last_error(c), "Log in again") != NULL, "%s",
            ttb_client_last_error(c));

  answer(403, "{\"status\":\"error\",\"error\":\"expired\",\"message\":\"License expired\"}");
  cr_assert_eq(ttb_client_set_tiktok(c, "name", NULL), TTB_ERR_EXPIRED);
  answer(404, "not found");
  cr_assert_eq(ttb_client_set_tiktok(c, "name", NULL), TTB_ERR_PROTOCOL);
  cr_assert(strstr(ttb_client_last_error(c), "update") != NULL, "%s", ttb_client_last_error(c));
  answer(503, "");
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_ERR_NETWORK);
  answer(200, "{\"username\":");
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_ERR_PROTOCOL);
  answer(200, "{\"username\":\"this-handle-is-much-longer-than-32-bytes\",\"state\":\"off\"}");
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_ERR_PROTOCOL);
  cr_assert(strstr(ttb_client_last_error(c), "username") != NULL, "%s", ttb_client_last_error(c));
  pthread_mutex_lock(&H.mu);
  H.fail = TTB_ERR_NETWORK;
  pthread_mutex_unlock(&H.mu);
  cr_assert_eq(ttb_client_set_tiktok(c, "name", NULL), TTB_ERR_NETWORK);
  cr_assert(strstr(ttb_client_last_error(c), "connection refused") != NULL, "%s",
            ttb_client_last_error(c));

  /* Refused before asking: too long, not UTF-8, NULL. */
  int calls = H.calls;
  char longname[80];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  cr_assert_eq(ttb_client_set_tiktok(c, longname, NULL), TTB_ERR_INVALID);
  cr_assert(strstr(ttb_client_last_error(c), "too long") != NULL);
  cr_assert_eq(ttb_client_set_tiktok(c, "bad\xff", NULL), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_set_tiktok(c, NULL, NULL), TTB_ERR_INVALID);
  cr_assert_eq(H.calls, calls, "no request for those");
  cr_assert_eq(ttb_client_tiktok_status(c, NULL), TTB_TIKTOK_UNKNOWN);
  ttb_client_destroy(c);
}

Test(tiktok, needs_a_login_and_a_client)
{
  ttb_client *c = mk(false);
  int calls = H.calls;
  ttb_tiktok_status t;
  memset(&t, 'x', sizeof t);
  cr_assert_eq(ttb_client_set_tiktok(c, "name", &t), TTB_ERR_STATE);
  cr_assert_eq(t.state, 0);
  cr_assert_str_eq(t.username, "");
  cr_assert(strstr(ttb_client_last_error(c), "log in") != NULL);
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_ERR_STATE);
  cr_assert_eq(H.calls, calls);
  ttb_client_destroy(c);

  cr_assert_eq(ttb_client_set_tiktok(NULL, "x", NULL), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_get_tiktok(NULL, &t), TTB_ERR_INVALID);
  memset(&t, 'x', sizeof t);
  cr_assert_eq(ttb_client_tiktok_status(NULL, &t), TTB_TIKTOK_UNKNOWN);
  cr_assert_str_eq(t.room_id, "");
}

Test(tiktok, state_names)
{
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_OFF), "off");
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_WAITING), "waiting");
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_CONNECTING), "connecting");
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_LIVE), "live");
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_ENDED), "ended");
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_ERROR), "error");
  cr_assert_str_eq(ttb_tiktok_state_name(TTB_TIKTOK_UNKNOWN), "unknown");
  cr_assert_str_eq(ttb_tiktok_state_name(7), "unknown");
  cr_assert_str_eq(ttb_tiktok_state_name(-1), "unknown");
}

Test(tiktok, interpret_maps_answers)
{
  ttb__tiktok_result r;
  const char ok[] =
      "{\"username\":\"a_b\",\"state\":\"ended\",\"room_id\":\"1\",\"message\":\"m\"}";
  cr_assert_eq(ttb__tiktok_interpret(200, ok, strlen(ok), &r), TTB_OK);
  cr_assert_str_eq(r.username, "a_b");
  cr_assert_str_eq(r.state, "ended");
  cr_assert_str_eq(r.room_id, "1");
  cr_assert_str_eq(r.message, "m");
  cr_assert_str_eq(r.text, "");
  const char bad[] = "{\"status\":\"error\",\"error\":\"invalid_username\",\"message\":\"no\"}";
  cr_assert_eq(ttb__tiktok_interpret(400, bad, strlen(bad), &r), TTB_ERR_INVALID);
  cr_assert_str_eq(r.error, "invalid_username");
  cr_assert_str_eq(r.text, "no");
  const char quiet[] = "{\"status\":\"error\",\"error\":\"invalid_username\",\"message\":\"\"}";
  cr_assert_eq(ttb__tiktok_interpret(400, quiet, strlen(quiet), &r), TTB_ERR_INVALID);
  cr_assert(strstr(r.text, "TikTok") != NULL, "a fallback in words: %s", r.text);
  const char mal[] =
      "{\"status\":\"error\",\"error\":\"malformed\",\"message\":\"body is not JSON\"}";
  cr_assert_eq(ttb__tiktok_interpret(400, mal, strlen(mal), &r), TTB_ERR_INVALID);
  cr_assert_str_eq(r.text, "body is not JSON");
  cr_assert_eq(ttb__tiktok_interpret(413, "", 0, &r), TTB_ERR_INVALID);
  cr_assert_eq(ttb__tiktok_interpret(401, NULL, 5, &r), TTB_ERR_AUTH);
  cr_assert_eq(ttb__tiktok_interpret(403, "", 0, &r), TTB_ERR_REVOKED);
  const char rev[] = "{\"status\":\"error\",\"error\":\"revoked\",\"message\":\"\"}";
  cr_assert_eq(ttb__tiktok_interpret(403, rev, strlen(rev), &r), TTB_ERR_REVOKED);
  cr_assert(r.text[0] != '\0');
  cr_assert_eq(ttb__tiktok_interpret(405, "", 0, &r), TTB_ERR_PROTOCOL);
  cr_assert_eq(ttb__tiktok_interpret(429, "", 0, &r), TTB_ERR_RATE_LIMITED);
  cr_assert_eq(ttb__tiktok_interpret(500, "", 0, &r), TTB_ERR_NETWORK);
  cr_assert_eq(ttb__tiktok_interpret(302, "", 0, &r), TTB_ERR_PROTOCOL);
  cr_assert_eq(ttb__tiktok_interpret(200, "[]", 2, &r), TTB_ERR_PROTOCOL);
  cr_assert_eq(ttb__tiktok_interpret(200, NULL, 0, &r), TTB_ERR_PROTOCOL);
}
