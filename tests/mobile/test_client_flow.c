/* tests/mobile/test_client_flow.c — the whole client without a server: a
 * fake HTTP back end (login answer, Ogg Opus downloads made with libopusenc)
 * and a fake WebSocket transport injected through client_internal.h drive
 * login, start, hello, chat/gift events, the profanity filter, downloads,
 * decoding and the mixer (audio is rendered and must be heard), binary mode
 * with streamed AudioFrames, a refused token and stop. The real server is
 * exercised by tests/mobile_net. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <opus.h>
#include <pb_encode.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"

#include "../../server/src/delivery.h" /* the server's delivery rule */
#include "client_internal.h"
#include "helpers.h"
#include "opus_synth.h"
#include "ttboost/v1/events.npb-json.h"
#include "ttboost/v1/events.pb.h"
#include <pb_decode.h>

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ fake transport */

typedef struct {
  uint8_t data[4096];
  size_t len;
  bool binary;
} fake_msg;

typedef struct {
  ttb__transport base;
  pthread_mutex_t mu;
  fake_msg q[256];
  size_t qh, qn;
  bool connect_pending;
  int close_code;
  int opens;
  char url[1024];
  char sub[64];
  int sends;
  char last_sent[1024];
  bool binary;                  /* the subprotocol asked for */
  ttboost_v1_Settings settings; /* the client's last Settings (server defaults at open) */
  int dropped;                  /* messages the server's rule did not send */
  uint64_t wanted[64];          /* SpeechWanted seqs the client sent, in order */
  uint32_t wanted_lead[64];     /* and their lead_ms */
  int nwanted;
} fake_t;

static fake_t *fake; /* the transport of the current connection */
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;

static int f_open(ttb__transport *t, const char *url, const char *sub)
{
  fake_t *f = (fake_t *)t;
  pthread_mutex_lock(&f->mu);
  snprintf(f->url, sizeof f->url, "%s", url);
  snprintf(f->sub, sizeof f->sub, "%s", sub ? sub : "");
  f->binary = sub && strcmp(sub, TTB__SUBPROTOCOL_BINARY) == 0;
  f->settings =
      (ttboost_v1_Settings){.tts_enabled = true, .gifts_enabled = true, .audio_frames = true};
  f->connect_pending = true;
  f->opens++;
  pthread_mutex_unlock(&f->mu);
  return TTB_OK;
}

static int f_send(ttb__transport *t, const uint8_t *data, size_t len, bool binary)
{
  fake_t *f = (fake_t *)t;
  pthread_mutex_lock(&f->mu);
  f->sends++;
  if (!binary) {
    size_t n = len < sizeof f->last_sent - 1 ? len : sizeof f->last_sent - 1;
    memcpy(f->last_sent, data, n);
    f->last_sent[n] = '\0';
  }
  static ttboost_v1_ClientMessage m; /* under f->mu */
  memset(&m, 0, sizeof m);
  bool ok;
  if (binary) {
    pb_istream_t is = pb_istream_from_buffer(data, len);
    ok = pb_decode(&is, ttboost_v1_ClientMessage_fields, &m);
  } else {
    ttb_json_error je;
    ok = ttb_npb_ttboost_v1_ClientMessage_from_json((const char *)data, len, &m, &je);
  }
  if (ok && m.which_payload == ttboost_v1_ClientMessage_settings_tag)
    f->settings = m.payload.settings;
  if (ok && m.which_payload == ttboost_v1_ClientMessage_speech_wanted_tag && f->nwanted < 64) {
    f->wanted_lead[f->nwanted] = m.payload.speech_wanted.lead_ms;
    f->wanted[f->nwanted++] = m.payload.speech_wanted.seq;
  }
  pthread_mutex_unlock(&f->mu);
  return TTB_OK;
}

static void f_close(ttb__transport *t, int code)
{
  (void)t;
  (void)code;
}

static void f_service(ttb__transport *t, int timeout_ms)
{
  fake_t *f = (fake_t *)t;
  pthread_mutex_lock(&f->mu);
  bool conn = f->connect_pending;
  f->connect_pending = false;
  int close_code = f->close_code;
  f->close_code = 0;
  pthread_mutex_unlock(&f->mu);
  if (conn)
    t->cb.on_connected(t->cb.user);
  int delivered = 0;
  for (;;) {
    fake_msg m;
    pthread_mutex_lock(&f->mu);
    bool have = f->qn > 0;
    if (have) {
      m = f->q[f->qh];
      f->qh = (f->qh + 1) % 256;
      f->qn--;
    }
    pthread_mutex_unlock(&f->mu);
    if (!have)
      break;
    t->cb.on_message(t->cb.user, m.data, m.len, m.binary);
    delivered++;
  }
  if (close_code) {
    t->cb.on_closed(t->cb.user, close_code, 0, "closed by the fake server");
    return;
  }
  if (!conn && !delivered && timeout_ms > 0)
    sleep_ms(timeout_ms < 2 ? timeout_ms : 2);
}

static void f_wake(ttb__transport *t) { (void)t; }

static void f_destroy(ttb__transport *t)
{
  fake_t *f = (fake_t *)t;
  pthread_mutex_lock(&fake_mu);
  if (fake == f)
    fake = NULL;
  pthread_mutex_unlock(&fake_mu);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static const ttb__transport_ops fake_ops = {f_open, f_send, f_close, f_service, f_wake, f_destroy};

static int fake_factory(void *user, ttb__transport **out)
{
  (void)user;
  fake_t *f = calloc(1, sizeof *f);
  if (!f)
    return TTB_ERR_NOMEM;
  pthread_mutex_init(&f->mu, NULL);
  f->base.ops = &fake_ops;
  pthread_mutex_lock(&fake_mu);
  fake = f;
  pthread_mutex_unlock(&fake_mu);
  *out = &f->base;
  return TTB_OK;
}

/* Whether the real server would send this message to the client, by the
 * client's settings (server/src/delivery.h): events always, speech only
 * when TTS is on. Messages that do not decode go out (tests of bad input). */
static bool server_sends(const fake_t *f, const void *data, size_t len, bool binary)
{
  static ttboost_v1_ServerMessage m; /* under f->mu */
  memset(&m, 0, sizeof m);
  bool ok;
  if (binary) {
    pb_istream_t is = pb_istream_from_buffer(data, len);
    ok = pb_decode(&is, ttboost_v1_ServerMessage_fields, &m);
  } else {
    ttb_json_error je;
    ok = ttb_npb_ttboost_v1_ServerMessage_from_json((const char *)data, len, &m, &je);
  }
  if (!ok)
    return true;
  const ttboost_v1_Settings *s = &f->settings;
  switch (m.which_payload) {
  case ttboost_v1_ServerMessage_chat_tag:
    return ttb_delivery_event(true, s->tts_enabled, s->gifts_enabled);
  case ttboost_v1_ServerMessage_gift_tag:
    return ttb_delivery_event(false, s->tts_enabled, s->gifts_enabled);
  case ttboost_v1_ServerMessage_audio_tag:
    return ttb_delivery_audio(f->binary, s->tts_enabled, s->audio_frames);
  default:
    return true;
  }
}

static void push(const void *data, size_t len, bool binary)
{
  pthread_mutex_lock(&fake_mu);
  fake_t *f = fake;
  cr_assert_not_null(f);
  pthread_mutex_lock(&f->mu);
  if (!server_sends(f, data, len, binary)) {
    f->dropped++;
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_unlock(&fake_mu);
    return;
  }
  cr_assert(f->qn < 256 && len <= sizeof f->q[0].data);
  fake_msg *m = &f->q[(f->qh + f->qn) % 256];
  memcpy(m->data, data, len);
  m->len = len;
  m->binary = binary;
  f->qn++;
  pthread_mutex_unlock(&f->mu);
  pthread_mutex_unlock(&fake_mu);
}

/* Waits until the client's connection has opened its socket `n` times. */
static void wait_open(int n)
{
  for (int i = 0; i < 5000; i++) {
    pthread_mutex_lock(&fake_mu);
    int opens = 0;
    if (fake) {
      pthread_mutex_lock(&fake->mu);
      opens = fake->opens;
      pthread_mutex_unlock(&fake->mu);
    }
    pthread_mutex_unlock(&fake_mu);
    if (opens >= n)
      return;
    sleep_ms(1);
  }
  cr_assert_fail("the client did not open its socket");
}

static void push_json(const char *js) { push(js, strlen(js), false); }

static void push_pb(const ttboost_v1_ServerMessage *m)
{
  uint8_t buf[4096];
  pb_ostream_t os = pb_ostream_from_buffer(buf, sizeof buf);
  cr_assert(pb_encode(&os, ttboost_v1_ServerMessage_fields, m));
  push(buf, os.bytes_written, true);
}

/* ------------------------------------------------------------ fake HTTP */

static int http_calls; /* login and downloads (not the channel settings' GET) */
static int settings_calls;
static int fake_http(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                     size_t errlen)
{
  (void)user;
  (void)err;
  (void)errlen;
  memset(resp, 0, sizeof *resp);
  if (strstr(req->url, "/me/settings")) { /* fetched after each connect: the defaults */
    __atomic_add_fetch(&settings_calls, 1, __ATOMIC_SEQ_CST);
    resp->status = 200;
    resp->len = 2;
    resp->body = malloc(3);
    if (!resp->body)
      return TTB_ERR_NOMEM;
    memcpy(resp->body, "{}", 3);
    return TTB_OK;
  }
  __atomic_add_fetch(&http_calls, 1, __ATOMIC_SEQ_CST);
  if (strstr(req->url, "/auth/login")) {
    const char *body =
        strstr((const char *)req->body, "GOOD-KEY")
            ? "{\"status\":\"ok\",\"user_id\":\"u-1\",\"ws_token\":\"tok-123\"}"
            : "{\"status\":\"error\",\"error\":\"expired\",\"message\":\"License expired\"}";
    resp->status = strstr(body, "tok-") ? 200 : 403;
    resp->len = strlen(body);
    resp->body = malloc(resp->len + 1);
    memcpy(resp->body, body, resp->len + 1);
    return TTB_OK;
  }
  if (strstr(req->url, "/missing")) {
    resp->status = 404;
    resp->body = calloc(1, 1);
    return TTB_OK;
  }
  /* Any other URL: 0.3 s of Ogg Opus (a tone; 440 Hz for TTS, 880 for sounds). */
  synth_buf b;
  double hz = strstr(req->url, "/tts/") ? 440.0 : 880.0;
  if (synth_ogg_opus(0.3, 48000, 1, hz, 64000, &b) != 0)
    return TTB_ERR_NOMEM;
  resp->status = 200;
  resp->body = realloc(b.data, b.len + 1);
  resp->body[b.len] = 0;
  resp->len = b.len;
  return TTB_OK;
}

/* ------------------------------------------------------------ helpers */

static char dir[256];

static void setup(void) { cr_assert_not_null(tmpdir_make(dir, sizeof dir, "ttb_flow_")); }

static void teardown(void) { tmpdir_remove(dir); }

static ttb_client *mk(void)
{
  ttb_client_config cfg = {
      .server_url = "http://fake.test:8080", .data_dir = dir, .sample_rate = 44100, .channels = 2};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  ttb__client_set_net(c, fake_http, NULL, fake_factory, NULL);
  return c;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Renders audio (like the sink) until cond(c) or the timeout; returns the
 * number of audible output frames. */
static size_t render_until(ttb_client *c, bool (*cond)(ttb_client *), double timeout_s)
{
  static int16_t pcm[441 * 2];
  size_t loud = 0;
  double end = now_s() + timeout_s;
  while (now_s() < end) {
    ttb_client_render(c, pcm, 441);
    for (int i = 0; i < 441; i++)
      loud += abs(pcm[2 * i]) > 300;
    if (cond && cond(c))
      break;
    sleep_ms(1);
  }
  return loud;
}

static bool connected(ttb_client *c) { return ttb_client_state(c, NULL, 0) == TTB_STATE_CONNECTED; }

static uint64_t played_target;
static bool played_enough(ttb_client *c)
{
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  return st.played >= played_target;
}

static bool token_gone(ttb_client *c) { return !ttb_client_has_token(c); }

static const char HELLO[] =
    "{\"type\":\"hello\",\"last_seq\":0,\"first_seq\":0,\"resume_gap\":false,"
    "\"server_time_ms\":1,\"protocol_version\":1,"
    "\"heartbeat_interval_ms\":10000,\"seq\":0}";

TestSuite(flow, .init = setup, .fini = teardown, .timeout = 60);

Test(flow, login_errors_in_words)
{
  ttb_client *c = mk();
  cr_assert_eq(ttb_client_login(c, "BAD-KEY"), TTB_ERR_EXPIRED);
  cr_assert(strlen(ttb_client_last_error(c)) > 0, "a message for a person");
  cr_assert_not(ttb_client_has_token(c));
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK, "%s", ttb_client_last_error(c));
  cr_assert(ttb_client_has_token(c));
  ttb_client_destroy(c);
  /* The token survives a restart of the app. */
  c = mk();
  cr_assert(ttb_client_has_token(c));
  cr_assert_eq(ttb_client_logout(c), TTB_OK);
  cr_assert_not(ttb_client_has_token(c));
  ttb_client_destroy(c);
}

Test(flow, events_filter_downloads_and_audio)
{
  ttb_client *c = mk();
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK, "%s", ttb_client_last_error(c));
  cr_assert_eq(ttb_client_start(c), TTB_OK, "idempotent");
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_ERR_STATE);
  /* Wait for the connection to be opened, then say hello. */
  wait_open(1);
  push_json(HELLO);
  render_until(c, connected, 5.0);
  cr_assert_eq(ttb_client_state(c, NULL, 0), TTB_STATE_CONNECTED);

  push_json("{\"type\":\"chat\",\"user\":\"Aruka\",\"message\":\"Привет всем!\","
            "\"tts_url\":\"http://fake.test:8080/tts/1.ogg\",\"seq\":1}");
  push_json("{\"type\":\"chat\",\"user\":\"troll\",\"message\":\"what the fuck\","
            "\"tts_url\":\"http://fake.test:8080/tts/2.ogg\",\"seq\":2}");
  push_json(
      "{\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":5,"
      "\"sound_url\":\"http://fake.test:8080/sounds/rose.ogg\",\"user\":\"Aruka\",\"seq\":3}");
  push_json("{\"type\":\"chat\",\"user\":\"Bek\",\"message\":\"Сәлем!\","
            "\"tts_url\":\"http://fake.test:8080/tts/4.ogg\",\"seq\":4}");
  push_json("{\"type\":\"chat\",\"user\":\"x\",\"message\":\"no audio\","
            "\"tts_url\":\"http://fake.test:8080/missing\",\"seq\":5}");
  played_target = 3; /* tts 1, gift, tts 4 */
  size_t loud = render_until(c, played_enough, 10.0);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.chat_messages, 4);
  cr_assert_eq(st.gifts, 1);
  cr_assert_eq(st.gift_count, 5);
  cr_assert_eq(st.filtered, 1);
  cr_assert_eq(st.played, 3, "played %llu", (unsigned long long)st.played);
  cr_assert_eq(st.skipped, 1, "the missing download");
  /* ~0.3 s of 44.1 kHz audio per clip, the gift overlapping the speech. */
  cr_assert(loud > 2 * 10000, "audible frames: %zu", loud);

  ttb_event ev;
  int chats = 0, gifts = 0, states = 0, errors = 0;
  bool saw_filtered = false;
  while (ttb_client_poll_event(c, &ev)) {
    if (ev.kind == TTB_EVENT_CHAT) {
      chats++;
      cr_assert_eq(ev.seq, chats == 3 ? 4 : (uint64_t)chats < 3 ? (uint64_t)chats : 5);
      if (ev.seq == 1) {
        cr_assert_str_eq(ev.user, "Aruka");
        cr_assert_str_eq(ev.text, "Привет всем!");
        cr_assert_not(ev.filtered);
      }
      if (ev.seq == 2) {
        cr_assert(ev.filtered);
        cr_assert_str_eq(ev.text, "what the ****");
        saw_filtered = true;
      }
    } else if (ev.kind == TTB_EVENT_GIFT) {
      gifts++;
      cr_assert_str_eq(ev.text, "Rose");
      cr_assert_eq(ev.count, 5);
    } else if (ev.kind == TTB_EVENT_STATE) {
      states++;
    } else if (ev.kind == TTB_EVENT_ERROR) {
      errors++;
      cr_assert(strstr(ev.text, "404") != NULL, "error: %s", ev.text);
    }
  }
  cr_assert_eq(chats, 4);
  cr_assert_eq(gifts, 1);
  cr_assert(states >= 1);
  cr_assert_eq(errors, 1);
  cr_assert(saw_filtered);
  ttb_event recent[5];
  size_t n = ttb_client_recent_events(c, recent, 5);
  cr_assert_eq(n, 5);
  cr_assert_eq(recent[0].kind, TTB_EVENT_ERROR, "newest first");
  cr_assert_eq(recent[1].seq, 5);
  /* The server was told the settings (with the profanity filter). */
  pthread_mutex_lock(&fake_mu);
  cr_assert_not_null(strstr(fake->last_sent, "\"profanity_filter\":true"), "%s", fake->last_sent);
  cr_assert_not_null(strstr(fake->url, "/ws/tok-123"), "%s", fake->url);
  pthread_mutex_unlock(&fake_mu);

  /* TTS off: a new chat is logged but not spoken (skipped). */
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  s.tts_enabled = false;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  push_json("{\"type\":\"chat\",\"user\":\"a\",\"message\":\"hi\","
            "\"tts_url\":\"http://fake.test:8080/tts/6.ogg\",\"seq\":6}");
  render_until(c, NULL, 0.3);
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.chat_messages, 5);
  cr_assert_eq(st.skipped, 2);
  cr_assert_eq(ttb_client_stop(c), TTB_OK);
  cr_assert_eq(ttb_client_state(c, NULL, 0), TTB_STATE_DISCONNECTED);
  ttb_client_destroy(c);
}

Test(flow, binary_mode_streams_audio_frames)
{
  ttb_client *c = mk();
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  s.binary_mode = true;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open(1);
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.which_payload = ttboost_v1_ServerMessage_hello_tag;
  m.payload.hello.protocol_version = 1;
  m.payload.hello.heartbeat_interval_ms = 10000;
  push_pb(&m);
  render_until(c, connected, 5.0);
  cr_assert_eq(ttb_client_state(c, NULL, 0), TTB_STATE_CONNECTED);
  pthread_mutex_lock(&fake_mu);
  cr_assert_str_eq(fake->sub, TTB__SUBPROTOCOL_BINARY);
  pthread_mutex_unlock(&fake_mu);

  /* The chat (no tts_url: its speech comes as frames), then 25 frames. */
  m = (ttboost_v1_ServerMessage)ttboost_v1_ServerMessage_init_zero;
  m.seq = 7;
  m.which_payload = ttboost_v1_ServerMessage_chat_tag;
  strcpy(m.payload.chat.user, "Aruka");
  strcpy(m.payload.chat.message, "streamed");
  push_pb(&m);
  int err = 0;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  cr_assert_not_null(enc);
  opus_int32 la = 0;
  opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&la));
  for (uint32_t f = 0; f < 25; f++) {
    int16_t pcm[960];
    for (int i = 0; i < 960; i++)
      pcm[i] = (int16_t)lrint(10000.0 * sin(2 * TEST_PI * 300.0 * (f * 960 + i) / 48000.0));
    m = (ttboost_v1_ServerMessage)ttboost_v1_ServerMessage_init_zero;
    m.which_payload = ttboost_v1_ServerMessage_audio_tag;
    ttboost_v1_AudioFrame *a = &m.payload.audio;
    a->event_seq = 7;
    a->index = f;
    a->last = f == 24;
    a->sample_rate = 48000;
    a->channels = 1;
    a->frame_duration_us = 20000;
    a->pre_skip = (uint32_t)la;
    a->duration_ms = 500;
    opus_int32 n = opus_encode(enc, pcm, 960, a->packet.bytes, sizeof a->packet.bytes);
    cr_assert(n > 0);
    a->packet.size = (pb_size_t)n;
    push_pb(&m);
  }
  opus_encoder_destroy(enc);
  played_target = 1;
  size_t loud = render_until(c, played_enough, 10.0);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.played, 1);
  cr_assert_eq(st.skipped, 0);
  cr_assert(loud > 15000, "about 0.5 s heard: %zu frames", loud);
  cr_assert_eq(http_calls, 1, "only the login: no download in binary mode");
  for (int i = 0; i < 2000 && __atomic_load_n(&settings_calls, __ATOMIC_SEQ_CST) == 0; i++)
    sleep_ms(1);
  cr_assert_eq(__atomic_load_n(&settings_calls, __ATOMIC_SEQ_CST), 1,
               "the channel settings are fetched once after the connect");
  pthread_mutex_lock(&fake_mu);
  cr_assert_eq(fake->nwanted, 0, "no SpeechWanted to a server whose Hello does not offer it");
  cr_assert(fake->settings.speech_on_request, "binary Settings say speech_on_request");
  pthread_mutex_unlock(&fake_mu);

  /* TTS off: the server (its rule, delivery.h) still sends the chat but
     * no frames; the client logs it and counts it skipped. */
  s.tts_enabled = false;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  bool off = false;
  for (int i = 0; i < 5000 && !off; i++) {
    pthread_mutex_lock(&fake_mu);
    pthread_mutex_lock(&fake->mu);
    off = !fake->settings.tts_enabled;
    pthread_mutex_unlock(&fake->mu);
    pthread_mutex_unlock(&fake_mu);
    if (!off)
      sleep_ms(1);
  }
  cr_assert(off, "the settings reached the server");
  m = (ttboost_v1_ServerMessage)ttboost_v1_ServerMessage_init_zero;
  m.seq = 8;
  m.which_payload = ttboost_v1_ServerMessage_chat_tag;
  strcpy(m.payload.chat.user, "Aruka");
  strcpy(m.payload.chat.message, "logged, not spoken");
  push_pb(&m);
  for (uint32_t f = 0; f < 3; f++) {
    m = (ttboost_v1_ServerMessage)ttboost_v1_ServerMessage_init_zero;
    m.which_payload = ttboost_v1_ServerMessage_audio_tag;
    m.payload.audio.event_seq = 8;
    m.payload.audio.index = f;
    m.payload.audio.last = f == 2;
    m.payload.audio.sample_rate = 48000;
    m.payload.audio.channels = 1;
    m.payload.audio.packet.size = 1;
    push_pb(&m);
  }
  pthread_mutex_lock(&fake_mu);
  cr_assert_eq(fake->dropped, 3, "the frames are not sent with TTS off");
  pthread_mutex_unlock(&fake_mu);
  render_until(c, NULL, 0.3);
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.chat_messages, 2, "the chat arrived");
  cr_assert_eq(st.played, 1);
  ttb_event recent[5];
  cr_assert(ttb_client_recent_events(c, recent, 5) >= 1);
  cr_assert_eq(recent[0].seq, 8, "the chat is in the log");
  cr_assert_str_eq(recent[0].text, "logged, not spoken");

  /* The server refuses the token: the client stops and forgets it. */
  pthread_mutex_lock(&fake_mu);
  pthread_mutex_lock(&fake->mu);
  fake->close_code = 4001;
  pthread_mutex_unlock(&fake->mu);
  pthread_mutex_unlock(&fake_mu);
  render_until(c, token_gone, 5.0);
  cr_assert_not(ttb_client_has_token(c));
  char why[128];
  for (int i = 0; i < 2000 && ttb_client_state(c, why, sizeof why) != TTB_STATE_DISCONNECTED; i++)
    sleep_ms(1);
  cr_assert_eq(ttb_client_state(c, why, sizeof why), TTB_STATE_DISCONNECTED);
  ttb_event ev;
  bool auth_error = false;
  while (ttb_client_poll_event(c, &ev))
    if (ev.kind == TTB_EVENT_ERROR && ev.count == (uint32_t)-TTB_ERR_AUTH)
      auth_error = true;
  cr_assert(auth_error, "a TTB_EVENT_ERROR with AUTH");
  cr_assert_eq(ttb_client_start(c), TTB_ERR_STATE, "no token any more");
  ttb_client_destroy(c);
}

/* A reconnect the server cannot resume (Hello.resume_gap): the client
 * tells the user how many events were lost, in the queue and in the log. */
Test(flow, a_resume_gap_is_told_and_logged)
{
  ttb_client *c = mk();
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK, "%s", ttb_client_last_error(c));
  wait_open(1);
  push_json(HELLO);
  render_until(c, connected, 5.0);
  push_json("{\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":1,\"sound_url\":\"\",\"user\":"
            "\"Aruka\",\"seq\":1}");
  render_until(c, NULL, 0.2);

  /* the server goes away; it comes back having kept seqs 6..9 only */
  pthread_mutex_lock(&fake_mu);
  pthread_mutex_lock(&fake->mu);
  fake->close_code = 1001;
  pthread_mutex_unlock(&fake->mu);
  pthread_mutex_unlock(&fake_mu);
  wait_open(2);
  pthread_mutex_lock(&fake_mu);
  pthread_mutex_lock(&fake->mu);
  cr_assert(strstr(fake->url, "?since=1") != NULL, "%s", fake->url);
  pthread_mutex_unlock(&fake->mu);
  pthread_mutex_unlock(&fake_mu);
  push_json(
      "{\"type\":\"hello\",\"last_seq\":9,\"first_seq\":6,\"resume_gap\":true,\"server_time_ms\":1,"
      "\"protocol_version\":1,\"heartbeat_interval_ms\":10000,\"missed\":4,\"seq\":0}");
  push_json("{\"type\":\"gift\",\"gift_name\":\"Lion\",\"count\":1,\"sound_url\":\"\",\"user\":"
            "\"Bek\",\"seq\":6}");
  ttb_event ev, missed;
  memset(&missed, 0, sizeof missed);
  bool got_missed = false, got_lion = false;
  for (int i = 0; i < 3000 && !(got_missed && got_lion); i++) {
    while (ttb_client_poll_event(c, &ev)) {
      if (ev.kind == TTB_EVENT_MISSED) {
        missed = ev;
        got_missed = true;
      }
      if (ev.kind == TTB_EVENT_GIFT && ev.seq == 6)
        got_lion = true;
    }
    sleep_ms(1);
  }
  cr_assert(got_missed, "a TTB_EVENT_MISSED");
  cr_assert(got_lion, "the events after the gap are taken");
  cr_assert_eq(missed.count, 4);
  cr_assert_str_eq(missed.text, "4 events were missed (the server no longer had them)");
  ttb_event recent[5];
  size_t n = ttb_client_recent_events(c, recent, 5);
  cr_assert_eq(n, 3, "gift, the gap, gift");
  cr_assert_eq(recent[1].kind, TTB_EVENT_MISSED, "the gap is in the log, between the gifts");
  cr_assert_eq(recent[1].count, 4);
  ttb_client_destroy(c);
}

/* ------------------------------------------------------------ streamed fetches */

/* A fake streamed GET (client_internal.h ttb__client_set_stream): records
 * which URLs were fetched and serves an Ogg Opus tone in small pieces,
 * optionally slowly (a server streaming its pages as it encodes them). */
typedef struct {
  pthread_mutex_t mu;
  char urls[64][128];
  int n;
  double seconds; /* of audio per file */
  size_t piece;   /* bytes per on_body call */
  int piece_ms;   /* sleep between pieces */
  double done_at; /* when the last fetch finished (now_s) */
} fake_stream;

static int fake_stream_get(void *user, const char *url, int idle_ms, size_t max_body,
                           ttb__http_body_fn on_body, void *body_user, int *status, char *err,
                           size_t errlen)
{
  (void)idle_ms;
  (void)max_body;
  (void)err;
  (void)errlen;
  fake_stream *fs = user;
  pthread_mutex_lock(&fs->mu);
  if (fs->n < 64)
    snprintf(fs->urls[fs->n++], sizeof fs->urls[0], "%s", url);
  pthread_mutex_unlock(&fs->mu);
  synth_buf b;
  if (synth_ogg_opus(fs->seconds, 48000, 1, 440.0, 64000, &b) != 0)
    return TTB_ERR_NOMEM;
  *status = 200;
  int rc = TTB_OK;
  for (size_t at = 0; at < b.len && rc == TTB_OK; at += fs->piece) {
    size_t n = b.len - at < fs->piece ? b.len - at : fs->piece;
    rc = on_body(body_user, b.data + at, n);
    if (fs->piece_ms)
      sleep_ms(fs->piece_ms);
  }
  free(b.data);
  pthread_mutex_lock(&fs->mu);
  fs->done_at = now_s();
  pthread_mutex_unlock(&fs->mu);
  return rc;
}

static bool fetched(fake_stream *fs, uint64_t seq)
{
  char want[64];
  snprintf(want, sizeof want, "/tts/%llu.ogg", (unsigned long long)seq);
  pthread_mutex_lock(&fs->mu);
  bool r = false;
  for (int i = 0; i < fs->n; i++) {
    const char *p = strstr(fs->urls[i], want);
    if (p && p[strlen(want)] == '\0')
      r = true;
  }
  pthread_mutex_unlock(&fs->mu);
  return r;
}

static uint64_t tts_target;
static bool tts_settled(ttb_client *c)
{
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  return st.played + st.skipped >= tts_target;
}

Test(flow, a_burst_of_chats_fetches_only_the_speech_played)
{
  static fake_stream fs = {.mu = PTHREAD_MUTEX_INITIALIZER, .seconds = 0.2, .piece = 53};
  ttb_client *c = mk();
  ttb__client_set_stream(c, fake_stream_get, &fs);
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open(1);
  push_json(HELLO);
  render_until(c, connected, 5.0);
  /* 20 chats at once: the queue keeps the one speaking and 8 waiting. */
  for (int i = 1; i <= 20; i++) {
    char js[256];
    snprintf(js, sizeof js,
             "{\"type\":\"chat\",\"user\":\"u%d\",\"message\":\"chat number %d\","
             "\"tts_url\":\"http://fake.test:8080/tts/%d.ogg\",\"seq\":%d}",
             i, i, i, i);
    push_json(js);
  }
  tts_target = 20;
  size_t loud = render_until(c, tts_settled, 20.0);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.chat_messages, 20);
  cr_assert_eq(st.played + st.skipped, 20, "played %llu skipped %llu",
               (unsigned long long)st.played, (unsigned long long)st.skipped);
  cr_assert_eq(st.played, 9, "the head and the 8 that waited: %llu", (unsigned long long)st.played);
  cr_assert(loud > 9 * 5000, "audible frames %zu", loud);
  /* Fetched: exactly the ones played (never a skipped one). */
  pthread_mutex_lock(&fs.mu);
  int n = fs.n;
  pthread_mutex_unlock(&fs.mu);
  cr_assert_eq((uint64_t)n, st.played, "%d fetches for %llu played", n,
               (unsigned long long)st.played);
  cr_assert(fetched(&fs, 1), "the first chat speaks");
  for (int i = 14; i <= 20; i++)
    cr_assert(fetched(&fs, (uint64_t)i), "chat %d is among the newest: played", i);
  for (int i = 3; i <= 12; i++)
    cr_assert_not(fetched(&fs, (uint64_t)i), "chat %d was dropped before its fetch", i);
  ttb_client_destroy(c);
}

Test(flow, speech_starts_on_the_first_page_not_the_last)
{
  /* 3 s of audio trickling in for ~2.5 s: libopusenc writes a page per
     * second of audio, so the first is heard long before the last byte. */
  static fake_stream fs = {
      .mu = PTHREAD_MUTEX_INITIALIZER, .seconds = 3.0, .piece = 100, .piece_ms = 10};
  ttb_client *c = mk();
  ttb__client_set_stream(c, fake_stream_get, &fs);
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open(1);
  push_json(HELLO);
  render_until(c, connected, 5.0);
  double t0 = now_s();
  push_json("{\"type\":\"chat\",\"user\":\"a\",\"message\":\"a long sentence\","
            "\"tts_url\":\"http://fake.test:8080/tts/1.ogg\",\"seq\":1}");
  /* Rendered in real time (10 ms of audio every 10 ms), as a sink would:
     * faster, the mixer would starve between pages. */
  static int16_t pcm[441 * 2];
  double first_loud = 0;
  tts_target = 1;
  while (now_s() < t0 + 10.0 && !tts_settled(c)) {
    ttb_client_render(c, pcm, 441);
    for (int i = 0; i < 441 && first_loud == 0; i++)
      if (abs(pcm[2 * i]) > 300)
        first_loud = now_s();
    sleep_ms(10);
  }
  cr_assert(first_loud > 0, "the speech was heard");
  pthread_mutex_lock(&fs.mu);
  double done = fs.done_at;
  pthread_mutex_unlock(&fs.mu);
  cr_assert(done > 0, "the download ended");
  cr_assert(first_loud < done - 0.5, "heard %.2f s after the chat, download done at %.2f s",
            first_loud - t0, done - t0);
  /* The bench's hook: chat 1's first audible sample was recorded. */
  ttb__voice_start vs[4];
  cr_assert_eq(ttb__client_voice_starts(c, vs, 4), 1);
  cr_assert_eq(vs[0].id, 1);
  cr_assert(vs[0].out_frame > 0);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.played, 1);
  ttb_client_destroy(c);
}

Test(flow, binary_mode_plays_frames_as_they_trickle_in)
{
  /* A server that encodes while it synthesises: the chat first, then its
     * frames one every 20 ms, the length unknown (duration_ms 0). The speech
     * is heard from the first frames, long before the last one is sent. */
  ttb_client *c = mk();
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  s.binary_mode = true;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open(1);
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.which_payload = ttboost_v1_ServerMessage_hello_tag;
  m.payload.hello.protocol_version = 1;
  m.payload.hello.heartbeat_interval_ms = 10000;
  push_pb(&m);
  render_until(c, connected, 5.0);
  m = (ttboost_v1_ServerMessage)ttboost_v1_ServerMessage_init_zero;
  m.seq = 3;
  m.which_payload = ttboost_v1_ServerMessage_chat_tag;
  strcpy(m.payload.chat.user, "Aruka");
  strcpy(m.payload.chat.message, "trickled");
  push_pb(&m);
  int err = 0;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  cr_assert_not_null(enc);
  opus_int32 la = 0;
  opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&la));
  static int16_t out[441 * 2];
  int heard_at_frame = -1;
  const uint32_t frames = 50;
  for (uint32_t f = 0; f < frames; f++) {
    int16_t pcm[960];
    for (int i = 0; i < 960; i++)
      pcm[i] = (int16_t)lrint(10000.0 * sin(2 * TEST_PI * 300.0 * (f * 960 + i) / 48000.0));
    m = (ttboost_v1_ServerMessage)ttboost_v1_ServerMessage_init_zero;
    m.which_payload = ttboost_v1_ServerMessage_audio_tag;
    ttboost_v1_AudioFrame *a = &m.payload.audio;
    a->event_seq = 3;
    a->index = f;
    a->last = f == frames - 1;
    a->sample_rate = 48000;
    a->channels = 1;
    a->frame_duration_us = 20000;
    a->pre_skip = (uint32_t)la;
    opus_int32 n = opus_encode(enc, pcm, 960, a->packet.bytes, sizeof a->packet.bytes);
    cr_assert(n > 0);
    a->packet.size = (pb_size_t)n;
    push_pb(&m);
    /* 20 ms of real time, rendered as a sink would */
    for (int k = 0; k < 2; k++) {
      sleep_ms(10);
      ttb_client_render(c, out, 441);
      for (int i = 0; i < 441 && heard_at_frame < 0; i++)
        if (abs(out[2 * i]) > 300)
          heard_at_frame = (int)f;
    }
  }
  opus_encoder_destroy(enc);
  cr_assert(heard_at_frame >= 0 && heard_at_frame < 10, "heard after frame %d of %u was sent",
            heard_at_frame, frames);
  played_target = 1;
  render_until(c, played_enough, 10.0);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.played, 1);
  cr_assert_eq(st.skipped, 0);
  cr_assert_eq(http_calls, 1, "only the login: no download in binary mode");
  ttb_client_destroy(c);
}

/* ------------------------------------------------------------ SpeechWanted */

static int wanted_count(void)
{
  pthread_mutex_lock(&fake_mu);
  pthread_mutex_lock(&fake->mu);
  int n = fake->nwanted;
  pthread_mutex_unlock(&fake->mu);
  pthread_mutex_unlock(&fake_mu);
  return n;
}

static uint64_t wanted_at(int i)
{
  pthread_mutex_lock(&fake_mu);
  pthread_mutex_lock(&fake->mu);
  uint64_t v = i < fake->nwanted ? fake->wanted[i] : 0;
  pthread_mutex_unlock(&fake->mu);
  pthread_mutex_unlock(&fake_mu);
  return v;
}

static int want_target;
static bool wanted_enough(ttb_client *c)
{
  (void)c;
  return wanted_count() >= want_target;
}

static void push_chat_pb(uint64_t seq, const char *msg)
{
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.seq = seq;
  m.which_payload = ttboost_v1_ServerMessage_chat_tag;
  strcpy(m.payload.chat.user, "Aruka");
  snprintf(m.payload.chat.message, sizeof m.payload.chat.message, "%s", msg);
  snprintf(m.payload.chat.tts_url, sizeof m.payload.chat.tts_url,
           "http://fake.test:8080/tts/%llu.ogg", (unsigned long long)seq);
  push_pb(&m);
}

/* Frames from..upto-1 of the n (20 ms each) of a 300 Hz tone that are the
 * speech of chat seq (the last one says so). */
static void push_frames_part(uint64_t seq, uint32_t from, uint32_t upto, uint32_t n)
{
  int err = 0;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  cr_assert_not_null(enc);
  opus_int32 la = 0;
  opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&la));
  for (uint32_t f = 0; f < upto && f < n; f++) {
    int16_t pcm[960];
    for (int i = 0; i < 960; i++)
      pcm[i] = (int16_t)lrint(10000.0 * sin(2 * TEST_PI * 300.0 * (f * 960 + i) / 48000.0));
    ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
    m.which_payload = ttboost_v1_ServerMessage_audio_tag;
    ttboost_v1_AudioFrame *a = &m.payload.audio;
    a->event_seq = seq;
    a->index = f;
    a->last = f + 1 == n;
    a->sample_rate = 48000;
    a->channels = 1;
    a->frame_duration_us = 20000;
    a->pre_skip = (uint32_t)la;
    a->duration_ms = n * 20;
    opus_int32 len = opus_encode(enc, pcm, 960, a->packet.bytes, sizeof a->packet.bytes);
    cr_assert(len > 0);
    a->packet.size = (pb_size_t)len;
    if (f >= from)
      push_pb(&m);
  }
  opus_encoder_destroy(enc);
}

/* A client in binary mode, connected to the fake server, whose Hello
 * offers SpeechWanted. */
static ttb_client *binary_client_with_speech_wanted(void)
{
  ttb_client *c = mk();
  cr_assert_eq(ttb_client_login(c, "GOOD-KEY"), TTB_OK);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  s.binary_mode = true;
  s.profanity_filter = false;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  wait_open(1);
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.which_payload = ttboost_v1_ServerMessage_hello_tag;
  m.payload.hello.protocol_version = 1;
  m.payload.hello.heartbeat_interval_ms = 10000;
  m.payload.hello.speech_wanted = true;
  push_pb(&m);
  render_until(c, connected, 5.0);
  cr_assert_eq(ttb_client_state(c, NULL, 0), TTB_STATE_CONNECTED);
  return c;
}

/* Binary mode against a server that offers SpeechWanted: the client asks
 * for the chats in the first FETCH_AHEAD (2) places of its queue only, one
 * at a time, oldest first (the next once the last frame of the one before
 * has come), the request sparing the chat from the queue's drop rule, and
 * downloads the URL of one whose frames do not come. */
Test(flow, binary_mode_asks_for_the_speech_it_will_play)
{
  ttb_client *c = binary_client_with_speech_wanted();

  for (uint64_t seq = 1; seq <= 4; seq++)
    push_chat_pb(seq, "a chat in a burst");
  want_target = 1;
  render_until(c, wanted_enough, 5.0);
  render_until(c, NULL, 0.3);
  /* one request at a time, oldest first: the next once its last frame came */
  cr_assert_eq(wanted_count(), 1, "asked for %d chats (the second: %llu)", wanted_count(),
               (unsigned long long)wanted_at(1));
  cr_assert_eq(wanted_at(0), 1);
  cr_assert_eq(http_calls, 1, "only the login: the frames are awaited");
  cr_assert_eq(ttb__client_speech_asked(c), 1);

  /* 7 more: 11 wait, 9 may; the queue drops the oldest not asked for (2, 3),
   * never the one whose frames were asked for */
  for (uint64_t seq = 5; seq <= 11; seq++)
    push_chat_pb(seq, "a chat in a burst");
  render_until(c, NULL, 0.3);
  ttb_stats st;
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.skipped, 2, "%llu skipped", (unsigned long long)st.skipped);
  cr_assert_eq(wanted_count(), 1);

  /* chat 1's frames begin: the next is not asked for while they come */
  push_frames_part(1, 0, 10, 30);
  render_until(c, NULL, 0.3);
  cr_assert_eq(wanted_count(), 1, "asked for the next before chat 1's last frame");
  /* the rest of chat 1's frames (0.6 s in all): the next chat (4) is asked for */
  push_frames_part(1, 10, 30, 30);
  want_target = 2;
  render_until(c, wanted_enough, 5.0);
  cr_assert_eq(wanted_count(), 2);
  cr_assert_eq(wanted_at(1), 4, "asked for %llu", (unsigned long long)wanted_at(1));
  played_target = 1;
  render_until(c, played_enough, 10.0);
  /* chat 4's frames never come: its URL is fetched STREAM_WAIT_MS after the
   * request, and then the next (5) is asked for */
  played_target = 2;
  size_t loud = render_until(c, played_enough, 10.0);
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.played, 2, "chat 4 played from its URL");
  cr_assert(loud > 5000, "its download heard: %zu frames", loud);
  cr_assert_eq(http_calls, 2, "one download (chat 4's URL)");
  want_target = 3;
  render_until(c, wanted_enough, 5.0);
  cr_assert_eq(wanted_count(), 3);
  cr_assert_eq(wanted_at(2), 5, "asked for %llu", (unsigned long long)wanted_at(2));
  ttb_client_destroy(c);
}

/* Binary mode: each request says how much audio plays before its chat
 * (lead_ms), so the server can make the most urgent first: chat 1 is next
 * (0), chat 2 waits behind chat 1's 5 s. */
Test(flow, binary_mode_requests_say_their_lead)
{
  ttb_client *c = binary_client_with_speech_wanted();
  push_chat_pb(1, "a long chat");
  push_chat_pb(2, "the next chat");
  want_target = 1;
  render_until(c, wanted_enough, 5.0);
  cr_assert_eq(wanted_at(0), 1);
  push_frames_part(1, 0, 250, 250); /* 5 s */
  want_target = 2;
  render_until(c, wanted_enough, 5.0);
  cr_assert_eq(wanted_count(), 2, "chat 2 never asked for");
  cr_assert_eq(wanted_at(1), 2);
  pthread_mutex_lock(&fake_mu);
  pthread_mutex_lock(&fake->mu);
  uint32_t lead1 = fake->wanted_lead[0], lead2 = fake->wanted_lead[1];
  pthread_mutex_unlock(&fake->mu);
  pthread_mutex_unlock(&fake_mu);
  cr_assert_eq(lead1, 0, "chat 1 is next: lead %u", lead1);
  /* what of chat 1 played before the request went (the renders above) */
  cr_assert(lead2 >= 3500 && lead2 <= 5000, "chat 2's lead %u ms, want about 5000", lead2);
  ttb_client_destroy(c);
}
