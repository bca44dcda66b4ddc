/*
 * The network layer on libwebsockets against the real ttboost-server:
 * login errors in words, events in order, forced disconnects (reset, refused
 * reconnects, a dead network) with events ingested meanwhile → each exactly
 * once, binary mode with AudioFrames, downloads, and the server refusing a
 * token or revoking a license. Skipped unless TTBOOST_SERVER and
 * TTBOOST_ADMIN are set (meson sets them when the server is built).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "it_util.h"
#include "net/net.h"

static it_srv S;
static char key[128];
static ttb__login_result L;

static void setup(void)
{
  if (!it_have_server())
    return;
  it_srv_start(&S, NULL);
  it_new_key(&S, key, sizeof key);
  int rc = ttb__login(ttb__http_lws, NULL, S.url, key, "net-it", 0, &L);
  cr_assert_eq(rc, TTB_OK, "login: %s", L.message);
}

static void teardown(void)
{
  if (it_have_server())
    it_srv_stop(&S);
}

#define NEED_SERVER()                                       \
  do {                                                      \
    if (!it_have_server())                                  \
      cr_skip_test("TTBOOST_SERVER/TTBOOST_ADMIN not set"); \
  } while (0)

TestSuite(net_it, .init = setup, .fini = teardown, .timeout = 120);

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ login */

Test(net_it, login_errors_in_words)
{
  NEED_SERVER();
  cr_assert_eq(strlen(L.ws_token), 36, "%s", L.ws_token);
  ttb__login_result r;
  int rc = ttb__login(ttb__http_lws, NULL, S.url, "TTB-NOT-A-REAL-KEY", NULL, 0, &r);
  cr_assert_eq(rc, TTB_ERR_AUTH, "%d %s", rc, r.message);
  cr_assert_str_eq(r.error, "unknown_key");
  cr_assert(strlen(r.message) > 10, "a message for a person: %s", r.message);

  /* revoked license */
  char k2[128];
  it_new_key(&S, k2, sizeof k2);
  it_revoke(&S, k2);
  rc = ttb__login(ttb__http_lws, NULL, S.url, k2, NULL, 0, &r);
  cr_assert_eq(rc, TTB_ERR_REVOKED, "%d %s", rc, r.message);
  cr_assert(strlen(r.message) > 10, "%s", r.message);

  /* nobody listening */
  rc = ttb__login(ttb__http_lws, NULL, "http://127.0.0.1:1", key, NULL, 3000, &r);
  cr_assert_eq(rc, TTB_ERR_NETWORK, "%d %s", rc, r.message);
  cr_assert(strstr(r.message, "Cannot reach the server") != NULL, "%s", r.message);
}

/* ------------------------------------------------------------ the socket */

typedef struct got {
  uint64_t seq[512];
  int kind[512];
  unsigned n;
  unsigned audio, audio_last;
  uint64_t audio_seq;
  uint64_t audio_min_seq, audio_max_seq; /* over every frame */
  unsigned hellos, errors, states;
  int last_error;
  char tts_url[600];
  char sound_url[600];
  unsigned gaps;
  int gap_missed;
  char gap_text[TTB__MESSAGE_SIZE];
} got;

static void drain(ttb__conn *c, got *g)
{
  static ttb__net_event ev;
  while (ttb__conn_poll(c, &ev)) {
    switch (ev.kind) {
    case TTB__NET_CHAT:
    case TTB__NET_GIFT:
      if (g->n < 512) {
        g->seq[g->n] = ev.msg.seq;
        g->kind[g->n++] = ev.kind;
      }
      if (ev.kind == TTB__NET_CHAT)
        snprintf(g->tts_url, sizeof g->tts_url, "%s", ev.msg.payload.chat.tts_url);
      else
        snprintf(g->sound_url, sizeof g->sound_url, "%s", ev.msg.payload.gift.sound_url);
      break;
    case TTB__NET_AUDIO:
      g->audio++;
      g->audio_seq = ev.msg.payload.audio.event_seq;
      if (g->audio_min_seq == 0 || g->audio_seq < g->audio_min_seq)
        g->audio_min_seq = g->audio_seq;
      if (g->audio_seq > g->audio_max_seq)
        g->audio_max_seq = g->audio_seq;
      if (ev.msg.payload.audio.last)
        g->audio_last++;
      break;
    case TTB__NET_HELLO:
      g->hellos++;
      break;
    case TTB__NET_GAP:
      g->gaps++;
      g->gap_missed = ev.code;
      snprintf(g->gap_text, sizeof g->gap_text, "%s", ev.text);
      break;
    case TTB__NET_ERROR:
      if (getenv("NET_IT_VERBOSE"))
        fprintf(stderr, "[net_it] error %d: %s\n", ev.code, ev.text);
      g->errors++;
      g->last_error = ev.code;
      break;
    case TTB__NET_STATE:
      g->states++;
      if (getenv("NET_IT_VERBOSE"))
        fprintf(stderr, "[net_it] state %d: %s (events %u)\n", ev.code, ev.text, g->n);
      break;
    default:
      break;
    }
  }
}

static bool wait_state(ttb__conn *c, got *g, ttb_conn_state st, int ms)
{
  for (int i = 0; i < ms / 5; i++) {
    drain(c, g);
    if (ttb__conn_state(c, NULL, 0) == st)
      return true;
    sleep_ms(5);
  }
  return ttb__conn_state(c, NULL, 0) == st;
}

static bool wait_events(ttb__conn *c, got *g, unsigned n, int ms)
{
  for (int i = 0; i < ms / 5 && g->n < n; i++) {
    drain(c, g);
    sleep_ms(5);
  }
  drain(c, g);
  return g->n >= n;
}

static ttb__conn *connect_to(const char *url, const char *token, bool binary)
{
  ttb__transport *t = NULL;
  cr_assert_eq(ttb__transport_lws_create(NULL, &t), TTB_OK);
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = url;
  cc.ws_token = token;
  cc.binary = binary;
  ttb__conn *c = NULL;
  cr_assert_eq(ttb__conn_create(&cc, t, &c), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  return c;
}

static void assert_in_order(const got *g, uint64_t first, uint64_t last)
{
  cr_assert_eq(g->n, last - first + 1, "%u events, want %llu", g->n,
               (unsigned long long)(last - first + 1));
  for (unsigned i = 0; i < g->n; i++)
    cr_assert_eq(g->seq[i], first + i, "event %u has seq %llu", i, (unsigned long long)g->seq[i]);
}

typedef struct {
  uint8_t head[4];
  size_t len;
} session_body;

static int on_session_body(void *user, const uint8_t *d, size_t n)
{
  session_body *b = user;
  for (size_t i = 0; i < n && b->len + i < 4; i++)
    b->head[b->len + i] = d[i];
  b->len += n;
  return TTB_OK;
}

Test(net_it, events_arrive_in_order)
{
  NEED_SERVER();
  ttb__conn *c = connect_to(S.url, L.ws_token, false);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000), "not connected");
  for (int i = 0; i < 12; i++) {
    if (i % 4 == 0)
      cr_assert_eq(it_chat(&S, L.user_id, "viewer", "hello there"), 202);
    else
      cr_assert_eq(it_gift(&S, L.user_id, "Rose", i), 202);
  }
  cr_assert(wait_events(c, g, 12, 30000), "got %u of 12", g->n);
  assert_in_order(g, 1, 12);
  cr_assert_eq(g->kind[0], TTB__NET_CHAT);
  cr_assert_eq(g->kind[1], TTB__NET_GIFT);

  /* downloads: the chat's speech and the gift's sound are Ogg files */
  uint8_t *buf = NULL;
  size_t len = 0;
  char err[256];
  cr_assert(g->tts_url[0]);
  int rc = ttb__download(ttb__http_lws, NULL, g->tts_url, 0, 0, &buf, &len, err, sizeof err);
  cr_assert_eq(rc, TTB_OK, "%s: %s", g->tts_url, err);
  cr_assert(len > 100 && memcmp(buf, "OggS", 4) == 0);
  free(buf);
  rc = ttb__download(ttb__http_lws, NULL, g->sound_url, 0, 0, &buf, &len, err, sizeof err);
  cr_assert_eq(rc, TTB_OK, "%s: %s", g->sound_url, err);
  cr_assert(len > 100 && memcmp(buf, "OggS", 4) == 0);
  free(buf);
  rc = ttb__download(ttb__http_lws, NULL, g->sound_url, 50, 0, &buf, &len, err, sizeof err);
  cr_assert_eq(rc, TTB_ERR_PROTOCOL, "over max_bytes: %s", err);
  char missing[700];
  snprintf(missing, sizeof missing, "%s/sounds/no-such-sound.ogg", S.url);
  rc = ttb__download(ttb__http_lws, NULL, missing, 0, 0, &buf, &len, err, sizeof err);
  cr_assert_eq(rc, TTB_ERR_NETWORK);
  cr_assert(strstr(err, "HTTP 404") != NULL, "%s", err);

  /* The client's download session: the same files streamed, one TCP
     * connection kept alive for all of them (the server's Content-Length
     * answers today, chunked ones from a streaming server alike). */
  ttb__http_session *hs = NULL;
  cr_assert_eq(ttb__http_session_create(NULL, &hs), TTB_OK);
  const char *urls[] = {g->tts_url, g->sound_url, g->tts_url, missing, g->sound_url};
  const int want_status[] = {200, 200, 200, 404, 200};
  for (int i = 0; i < 5; i++) {
    session_body sb = {0};
    int status = 0;
    rc = ttb__http_session_get(hs, urls[i], 10000, 0, on_session_body, &sb, &status, err,
                               sizeof err);
    cr_assert_eq(rc, TTB_OK, "%s: %s", urls[i], err);
    cr_assert_eq(status, want_status[i], "%s: HTTP %d", urls[i], status);
    if (status == 200)
      cr_assert(sb.len > 100 && memcmp(sb.head, "OggS", 4) == 0, "%s: %zu bytes", urls[i], sb.len);
    else
      cr_assert_eq(sb.len, 0);
  }
  cr_assert_eq(ttb__http_session_connections(hs), 1, "5 downloads over %u connections",
               ttb__http_session_connections(hs));
  ttb__http_session_destroy(hs);

  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.connects, 1);
  cr_assert_eq(st.duplicates, 0);
  ttb__conn_destroy(c);
  free(g);
}

Test(net_it, forced_disconnects_lose_nothing_and_repeat_nothing, .timeout = 180)
{
  NEED_SERVER();
  it_proxy p;
  it_proxy_start(&p, S.port);
  ttb__conn *c = connect_to(p.url, L.ws_token, false);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000), "not connected");
  unsigned total = 0;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 4; i++)
      cr_assert_eq(it_gift(&S, L.user_id, "Rose", 1), 202);
    total += 4;
    cr_assert(wait_events(c, g, total, 20000), "round %d: %u of %u", round, g->n, total);

    /* the connection goes: reset (round 0, 2) or a dead network (round 1) */
    it_proxy_refuse(&p, true);
    if (round == 1) {
      it_proxy_blackhole(&p, true);
      /* heartbeat 1000 ms: the client pings after 1 s, gives up after 2.5 s */
      cr_assert(wait_state(c, g, TTB_STATE_RECONNECTING, 6000), "the dead network was not noticed");
      it_proxy_cut(&p);
      it_proxy_blackhole(&p, false);
    } else {
      it_proxy_cut(&p);
      cr_assert(wait_state(c, g, TTB_STATE_RECONNECTING, 5000), "the reset was not noticed");
    }
    /* events while the client cannot get in; one chat too */
    for (int i = 0; i < 5; i++)
      cr_assert_eq(it_gift(&S, L.user_id, "Lion", 1), 202);
    cr_assert_eq(it_chat(&S, L.user_id, "viewer", "while you were away"), 202);
    total += 6;
    sleep_ms(700);
    it_proxy_refuse(&p, false);
    cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 40000), "round %d: no reconnect", round);
    cr_assert(wait_events(c, g, total, 20000), "round %d: %u of %u", round, g->n, total);
  }
  /* live again */
  for (int i = 0; i < 3; i++)
    cr_assert_eq(it_gift(&S, L.user_id, "Rose", 2), 202);
  total += 3;
  cr_assert(wait_events(c, g, total, 20000));
  sleep_ms(300);
  drain(c, g);
  assert_in_order(g, 1, total);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.reconnects, 3, "%llu", (unsigned long long)st.reconnects);
  cr_assert(st.attempts >= 4);
  ttb__conn_destroy(c);
  it_proxy_stop(&p);
  free(g);
}

/* The server keeps 3 events (--history 3); the client is away for 6: the
 * resume says that 3 were missed and the last 3 arrive. */
Test(net_it, a_resume_past_the_history_says_how_many_were_missed, .timeout = 120)
{
  NEED_SERVER();
  it_srv_stop(&S);
  const char *extra[] = {"--history", "3", NULL};
  it_srv_start(&S, extra);
  it_new_key(&S, key, sizeof key);
  int rc = ttb__login(ttb__http_lws, NULL, S.url, key, "net-it", 0, &L);
  cr_assert_eq(rc, TTB_OK, "login: %s", L.message);
  it_proxy p;
  it_proxy_start(&p, S.port);
  ttb__conn *c = connect_to(p.url, L.ws_token, false);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000), "not connected");
  for (int i = 0; i < 2; i++)
    cr_assert_eq(it_gift(&S, L.user_id, "Rose", 1), 202);
  cr_assert(wait_events(c, g, 2, 20000));
  it_proxy_refuse(&p, true);
  it_proxy_cut(&p);
  cr_assert(wait_state(c, g, TTB_STATE_RECONNECTING, 5000), "the reset was not noticed");
  for (int i = 0; i < 6; i++)
    cr_assert_eq(it_gift(&S, L.user_id, "Lion", 1), 202); /* 3..8 */
  it_proxy_refuse(&p, false);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 40000), "no reconnect");
  cr_assert(wait_events(c, g, 5, 20000), "%u events", g->n);
  sleep_ms(200);
  drain(c, g);
  cr_assert_eq(g->gaps, 1);
  cr_assert_eq(g->gap_missed, 3, "seqs 3, 4 and 5: %s", g->gap_text);
  cr_assert_str_eq(g->gap_text, "3 events were missed (the server no longer had them)");
  cr_assert_eq(g->n, 5);
  for (unsigned i = 2; i < 5; i++)
    cr_assert_eq(g->seq[i], 4 + i, "event %u: seq %llu", i, (unsigned long long)g->seq[i]);
  ttb__conn_destroy(c);
  it_proxy_stop(&p);
  free(g);
}

Test(net_it, reconnect_now_resumes)
{
  NEED_SERVER();
  ttb__conn *c = connect_to(S.url, L.ws_token, false);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000));
  for (int i = 0; i < 3; i++)
    cr_assert_eq(it_gift(&S, L.user_id, "Rose", 1), 202);
  cr_assert(wait_events(c, g, 3, 20000));
  cr_assert_eq(ttb__conn_reconnect_now(c), TTB_OK);
  sleep_ms(200);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000));
  for (int i = 0; i < 2; i++)
    cr_assert_eq(it_gift(&S, L.user_id, "Rose", 1), 202);
  cr_assert(wait_events(c, g, 5, 20000));
  sleep_ms(200);
  drain(c, g);
  assert_in_order(g, 1, 5);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.reconnects, 1);
  ttb__conn_destroy(c);
  free(g);
}

Test(net_it, binary_mode_receives_audio_frames)
{
  NEED_SERVER();
  ttb__conn *c = connect_to(S.url, L.ws_token, true);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000));
  sleep_ms(100); /* the settings (audio_frames on) reach the server */
  cr_assert_eq(it_chat(&S, L.user_id, "viewer", "binary mode speaks"), 202);
  cr_assert_eq(it_gift(&S, L.user_id, "Rose", 3), 202);
  cr_assert(wait_events(c, g, 2, 30000), "%u", g->n);
  for (int i = 0; i < 400 && g->audio_last == 0; i++) {
    drain(c, g);
    sleep_ms(5);
  }
  assert_in_order(g, 1, 2);
  cr_assert_eq(g->kind[0], TTB__NET_CHAT);
  cr_assert(g->audio >= 5, "%u frames", g->audio);
  cr_assert_eq(g->audio_last, 1);
  cr_assert_eq(g->audio_seq, 1);
  ttb__conn_destroy(c);
  free(g);
}

/* Binary mode on request (SpeechWanted): nothing comes for chats not asked
 * for; a request brings that chat's frames only. */
Test(net_it, binary_mode_on_request_gets_only_what_it_asks)
{
  NEED_SERVER();
  ttb__transport *t = NULL;
  cr_assert_eq(ttb__transport_lws_create(NULL, &t), TTB_OK);
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = S.url;
  cc.ws_token = L.ws_token;
  cc.binary = true;
  cc.settings.speech_on_request = true;
  ttb__conn *c = NULL;
  cr_assert_eq(ttb__conn_create(&cc, t, &c), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000));
  sleep_ms(100); /* the settings reach the server */
  cr_assert_eq(it_chat(&S, L.user_id, "viewer", "not asked for"), 202);
  cr_assert_eq(it_chat(&S, L.user_id, "viewer", "asked for, and spoken"), 202);
  cr_assert_eq(it_chat(&S, L.user_id, "viewer", "not asked for either"), 202);
  cr_assert(wait_events(c, g, 3, 30000), "%u", g->n);
  for (int i = 0; i < 200; i++) { /* 1 s: no frames unasked */
    drain(c, g);
    sleep_ms(5);
  }
  cr_assert_eq(g->audio, 0, "%u frames nobody asked for", g->audio);
  cr_assert(ttb__conn_speech_wanted(c, g->seq[1], 0), "the server offers SpeechWanted");
  for (int i = 0; i < 6000 && g->audio_last == 0; i++) {
    drain(c, g);
    sleep_ms(5);
  }
  for (int i = 0; i < 100; i++) { /* nothing after the last frame */
    drain(c, g);
    sleep_ms(5);
  }
  cr_assert_eq(g->audio_last, 1);
  cr_assert(g->audio >= 5, "%u frames", g->audio);
  cr_assert_eq(g->audio_min_seq, g->seq[1]);
  cr_assert_eq(g->audio_max_seq, g->seq[1]);
  cr_assert_eq(g->errors, 0);
  ttb__conn_destroy(c);
  free(g);
}

Test(net_it, a_bad_token_and_a_revocation_stop_the_loop)
{
  NEED_SERVER();
  got *g = calloc(1, sizeof *g);
  ttb__conn *c = connect_to(S.url, "00000000-0000-4000-8000-000000000000", false);
  for (int i = 0; i < 2000 && ttb__conn_running(c); i++)
    sleep_ms(5);
  cr_assert(!ttb__conn_running(c), "still retrying a refused token");
  char err[300];
  cr_assert_eq(ttb__conn_state(c, err, sizeof err), TTB_STATE_DISCONNECTED);
  cr_assert_eq(ttb__conn_last_error_code(c), TTB_ERR_AUTH, "%s", err);
  drain(c, g);
  cr_assert_eq(g->last_error, TTB_ERR_AUTH);
  ttb__conn_destroy(c);

  memset(g, 0, sizeof *g);
  c = connect_to(S.url, L.ws_token, false);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000));
  it_revoke(&S, key);
  for (int i = 0; i < 2000 && ttb__conn_running(c); i++)
    sleep_ms(5);
  cr_assert(!ttb__conn_running(c));
  cr_assert_eq(ttb__conn_state(c, err, sizeof err), TTB_STATE_DISCONNECTED);
  cr_assert_eq(ttb__conn_last_error_code(c), TTB_ERR_REVOKED, "%s", err);
  cr_assert(strstr(err, "revoked") != NULL, "%s", err);
  ttb__conn_destroy(c);
  free(g);
}

/* ------------------------------------------------------------ TLS */

/* HTTPS login and WSS events against the server's own TLS, trusting a
 * self-signed certificate through SSL_CERT_FILE (OpenSSL's default verify
 * paths, which is what lws uses without a ca_file); an untrusted
 * certificate is a network error in words. */
static it_srv T;
static char tls_dir[64];

/* The TLS server and its certificate, stopped and removed even when an
 * assertion fails (the fixture's fini runs then). */
static void tls_teardown(void)
{
  unsetenv("SSL_CERT_FILE");
  if (T.pid > 0 || T.dir[0])
    it_srv_stop(&T);
  if (tls_dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tls_dir);
    if (system(cmd) != 0)
      fprintf(stderr, "cannot remove %s\n", tls_dir);
    tls_dir[0] = '\0';
  }
}

Test(net_tls, https_login_and_wss_events, .fini = tls_teardown, .timeout = 120)
{
  NEED_SERVER();
  snprintf(tls_dir, sizeof tls_dir, "/tmp/ttb-nettls-XXXXXX");
  cr_assert_not_null(mkdtemp(tls_dir));
  const char *dir = tls_dir;
  char cert[128], keyf[128], cmd[600];
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(keyf, sizeof keyf, "%s/key.pem", dir);
  snprintf(
      cmd, sizeof cmd,
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
      keyf, cert);
  if (system(cmd) != 0)
    cr_skip_test("openssl cannot make a certificate");
  const char *extra[] = {"--tls-cert", cert, "--tls-key", keyf, NULL};
  it_srv_start(&T, extra);
  cr_assert(strncmp(T.url, "https://", 8) == 0, "%s", T.url);
  char k[128];
  it_new_key(&T, k, sizeof k);

  ttb__login_result r;
  unsetenv("SSL_CERT_FILE");
  int rc = ttb__login(ttb__http_lws, NULL, T.url, k, NULL, 5000, &r);
  cr_assert_eq(rc, TTB_ERR_NETWORK, "an untrusted certificate must fail: %d %s", rc, r.message);
  cr_assert(strstr(r.message, "Cannot reach the server") != NULL, "%s", r.message);

  setenv("SSL_CERT_FILE", cert, 1);
  rc = ttb__login(ttb__http_lws, NULL, T.url, k, NULL, 5000, &r);
  cr_assert_eq(rc, TTB_OK, "%s", r.message);
  ttb__conn *c = connect_to(T.url, r.ws_token, false);
  got *g = calloc(1, sizeof *g);
  cr_assert(wait_state(c, g, TTB_STATE_CONNECTED, 10000), "no wss connection");
  cr_assert_eq(it_gift(&T, r.user_id, "Rose", 1), 202);
  cr_assert_eq(it_gift(&T, r.user_id, "Lion", 2), 202);
  cr_assert(wait_events(c, g, 2, 20000));
  assert_in_order(g, 1, 2);
  ttb__conn_destroy(c);
  free(g);
}
