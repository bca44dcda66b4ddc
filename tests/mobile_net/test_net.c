/*
 * The network layer without a network: URL parsing, login/download over a
 * fake HTTP function, the backoff and close rules, and the connection state
 * machine over a fake transport with a fake clock (exactly once across
 * reconnects, resume with since, backoff with jitter, dead-peer detection,
 * settings after every connect, refusals, the bounded queue, binary mode),
 * plus one run with the real network thread.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_transport.h"
#include "net/net.h"

/* ================================================================ URLs */

Test(url, parses_the_usual_forms)
{
  ttb__url u;
  char err[200];
  cr_assert_eq(ttb__url_parse("https://example.com", &u, err, sizeof err), TTB_OK);
  cr_assert(u.tls && !u.ws);
  cr_assert_str_eq(u.host, "example.com");
  cr_assert_eq(u.port, 443);
  cr_assert_str_eq(u.path, "/");

  cr_assert_eq(ttb__url_parse("http://127.0.0.1:8080", &u, err, sizeof err), TTB_OK);
  cr_assert(!u.tls && !u.ws);
  cr_assert_eq(u.port, 8080);
  cr_assert_str_eq(u.path, "/");

  cr_assert_eq(ttb__url_parse("WSS://[::1]:9/x/y?since=3#frag", &u, err, sizeof err), TTB_OK);
  cr_assert(u.tls && u.ws);
  cr_assert_str_eq(u.host, "::1");
  cr_assert_eq(u.port, 9);
  cr_assert_str_eq(u.path, "/x/y?since=3");

  cr_assert_eq(ttb__url_parse("ws://h?q=1", &u, err, sizeof err), TTB_OK);
  cr_assert_eq(u.port, 80);
  cr_assert_str_eq(u.path, "/?q=1");
}

Test(url, refuses_malformed_ones_in_words)
{
  ttb__url u;
  char err[200];
  const char *bad[] = {"",
                       "ftp://x",
                       "http://",
                       "http://:80",
                       "http://h:0",
                       "http://h:70000",
                       "http://h:12a",
                       "http://a b",
                       "http://[::1",
                       "http://h:",
                       "example.com",
                       "http://h@x",
                       "http://h:123456"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    cr_assert_eq(ttb__url_parse(bad[i], &u, err, sizeof err), TTB_ERR_INVALID, "%s", bad[i]);
    cr_assert(strstr(err, "invalid server URL") != NULL, "%s: %s", bad[i], err);
  }
  cr_assert_eq(ttb__url_parse(NULL, &u, NULL, 0), TTB_ERR_INVALID);
}

Test(url, builds_the_socket_path)
{
  char p[128];
  cr_assert_eq(ttb__ws_path("/", "tok-1_A.b~", false, 0, p, sizeof p), TTB_OK);
  cr_assert_str_eq(p, "/ws/tok-1_A.b~");
  cr_assert_eq(ttb__ws_path("/base/", "tok", true, 42, p, sizeof p), TTB_OK);
  cr_assert_str_eq(p, "/base/ws/tok?since=42");
  cr_assert_eq(ttb__ws_path("/?x=1", "tok", true, 0, p, sizeof p), TTB_OK);
  cr_assert_str_eq(p, "/ws/tok?since=0");
  cr_assert_eq(ttb__ws_path("/", "a/b", false, 0, p, sizeof p), TTB_ERR_INVALID);
  cr_assert_eq(ttb__ws_path("/", "a b", false, 0, p, sizeof p), TTB_ERR_INVALID);
  cr_assert_eq(ttb__ws_path("/", "", false, 0, p, sizeof p), TTB_ERR_INVALID);
  cr_assert_eq(ttb__ws_path("/", "tok", true, 123456789, p, 10), TTB_ERR_INVALID);
}

/* ================================================================ backoff, close rules */

Test(backoff, doubles_from_half_a_second_to_thirty)
{
  const uint32_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (unsigned i = 0; i < 8; i++)
    cr_assert_eq(ttb__backoff_base_ms(i), want[i], "attempt %u", i);
  cr_assert_eq(ttb__backoff_base_ms(40), 30000);
  cr_assert_eq(ttb__backoff_base_ms(1000000), 30000);
}

Test(backoff, jitter_stays_within_half_to_full)
{
  for (unsigned a = 0; a < 10; a++) {
    uint32_t d = ttb__backoff_base_ms(a);
    cr_assert_eq(ttb__backoff_ms(a, 0), d);
    uint32_t lo = ttb__backoff_ms(a, UINT32_MAX);
    cr_assert(lo >= d / 2 && lo <= d / 2 + 1, "attempt %u: %u", a, lo);
    uint64_t x = 88172645463325252ull;
    uint32_t mn = UINT32_MAX, mx = 0;
    for (int i = 0; i < 2000; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      uint32_t v = ttb__backoff_ms(a, (uint32_t)x);
      cr_assert(v >= d - d / 2 && v <= d);
      if (v < mn)
        mn = v;
      if (v > mx)
        mx = v;
    }
    /* the jitter really spreads the retries */
    cr_assert(mx - mn >= d / 4, "attempt %u: spread %u", a, mx - mn);
  }
}

Test(close_rules, map_codes_to_what_the_loop_does)
{
  cr_assert_eq(ttb__close_disposition(1000, 0, ""), 0);
  cr_assert_eq(ttb__close_disposition(1001, 0, ""), 0);
  cr_assert_eq(ttb__close_disposition(4008, 0, "slow_consumer"), 0);
  cr_assert_eq(ttb__close_disposition(4009, 0, ""), 0);
  cr_assert_eq(ttb__close_disposition(0, 0, ""), 0);
  cr_assert_eq(ttb__close_disposition(0, 500, ""), 0);
  cr_assert_eq(ttb__close_disposition(4001, 0, ""), TTB_ERR_AUTH);
  cr_assert_eq(ttb__close_disposition(0, 401, ""), TTB_ERR_AUTH);
  cr_assert_eq(ttb__close_disposition(4003, 0, ""), TTB_ERR_REVOKED);
  cr_assert_eq(ttb__close_disposition(4003, 0, "revoked"), TTB_ERR_REVOKED);
  cr_assert_eq(ttb__close_disposition(4003, 0, "expired"), TTB_ERR_EXPIRED);
  cr_assert_eq(ttb__close_disposition(4001, 0, "expired"), TTB_ERR_EXPIRED);
  cr_assert_eq(ttb__close_disposition(0, 403, NULL), TTB_ERR_REVOKED);
}

/* ================================================================ login and download */

typedef struct fake_http {
  int rc;
  int status;
  const char *body;
  char seen_url[512];
  char seen_method[8];
  char seen_body[1024];
  char seen_type[64];
  int calls;
} fake_http;

static int http_fn(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                   size_t errlen)
{
  fake_http *h = user;
  h->calls++;
  snprintf(h->seen_url, sizeof h->seen_url, "%s", req->url);
  snprintf(h->seen_method, sizeof h->seen_method, "%s", req->method);
  snprintf(h->seen_body, sizeof h->seen_body, "%.*s", (int)req->body_len,
           req->body ? (const char *)req->body : "");
  snprintf(h->seen_type, sizeof h->seen_type, "%s", req->content_type ? req->content_type : "");
  memset(resp, 0, sizeof *resp);
  if (h->rc != TTB_OK) {
    snprintf(err, errlen, "connection refused");
    return h->rc;
  }
  size_t n = strlen(h->body);
  if (n > req->max_response) {
    snprintf(err, errlen, "too big");
    return TTB_ERR_PROTOCOL;
  }
  resp->status = h->status;
  resp->body = malloc(n + 1);
  cr_assert_not_null(resp->body);
  memcpy(resp->body, h->body, n + 1);
  resp->len = n;
  return TTB_OK;
}

Test(login, success_returns_the_token)
{
  fake_http h = {.status = 200,
                 .body = "{\"status\":\"ok\",\"user_id\":\"7f3c2a1e-0000-4000-8000-000000000001\","
                         "\"ws_token\":\"5d41402a-bc4b-4a76-b971-9d911017c592\"}"};
  ttb__login_result r;
  int rc = ttb__login(http_fn, &h, "http://127.0.0.1:8080/", "KEY-1", "dev-1", 0, &r);
  cr_assert_eq(rc, TTB_OK, "%s", r.message);
  cr_assert_str_eq(r.ws_token, "5d41402a-bc4b-4a76-b971-9d911017c592");
  cr_assert_str_eq(r.user_id, "7f3c2a1e-0000-4000-8000-000000000001");
  cr_assert_str_eq(h.seen_url, "http://127.0.0.1:8080/auth/login");
  cr_assert_str_eq(h.seen_method, "POST");
  cr_assert_str_eq(h.seen_type, "application/json");
  cr_assert(strstr(h.seen_body, "\"license_key\":\"KEY-1\"") != NULL, "%s", h.seen_body);
  cr_assert(strstr(h.seen_body, "\"device_id\":\"dev-1\"") != NULL, "%s", h.seen_body);
}

Test(login, errors_come_in_words)
{
  struct {
    int status;
    const char *body;
    int want;
    const char *words;
  } cases[] = {
      {401, "{\"status\":\"error\",\"error\":\"unknown_key\",\"message\":\"Unknown license key.\"}",
       TTB_ERR_AUTH, "Unknown license key."},
      {401, "", TTB_ERR_AUTH, "not known"},
      {403, "{\"status\":\"error\",\"error\":\"expired\",\"message\":\"\"}", TTB_ERR_EXPIRED,
       "expired"},
      {403, "{\"status\":\"error\",\"error\":\"revoked\",\"message\":\"Revoked on 1 May.\"}",
       TTB_ERR_REVOKED, "Revoked on 1 May."},
      {403, "{\"status\":\"error\",\"error\":\"device_limit\",\"message\":\"\"}",
       TTB_ERR_DEVICE_LIMIT, "devices"},
      {429, "{\"status\":\"error\",\"error\":\"too_many_attempts\",\"message\":\"\"}",
       TTB_ERR_RATE_LIMITED, "Too many"},
      {400, "{\"status\":\"error\",\"error\":\"malformed\",\"message\":\"license_key: missing\"}",
       TTB_ERR_INVALID, "license_key: missing"},
      {503, "oops", TTB_ERR_NETWORK, "HTTP 503"},
      {200, "{\"status\":\"ok\"}", TTB_ERR_PROTOCOL, "could not be read"},
      {200, "not json", TTB_ERR_PROTOCOL, "could not be read"},
      {302, "", TTB_ERR_PROTOCOL, "HTTP 302"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fake_http h = {.status = cases[i].status, .body = cases[i].body};
    ttb__login_result r;
    int rc = ttb__login(http_fn, &h, "https://ttboost.example", "K", NULL, 0, &r);
    cr_assert_eq(rc, cases[i].want, "case %zu: %d (%s)", i, rc, r.message);
    cr_assert(strstr(r.message, cases[i].words) != NULL, "case %zu: \"%s\"", i, r.message);
    cr_assert_str_eq(h.seen_url, "https://ttboost.example:443/auth/login");
    cr_assert(strstr(h.seen_body, "device_id") == NULL);
  }
}

Test(login, bad_input_and_no_network)
{
  fake_http h = {.rc = TTB_ERR_NETWORK};
  ttb__login_result r;
  cr_assert_eq(ttb__login(http_fn, &h, "http://127.0.0.1:1", "K", NULL, 0, &r), TTB_ERR_NETWORK);
  cr_assert(strstr(r.message, "Cannot reach the server: connection refused") != NULL, "%s",
            r.message);
  cr_assert_eq(ttb__login(http_fn, &h, "nonsense", "K", NULL, 0, &r), TTB_ERR_INVALID);
  cr_assert(strstr(r.message, "invalid server URL") != NULL, "%s", r.message);
  cr_assert_eq(ttb__login(http_fn, &h, "http://h", "", NULL, 0, &r), TTB_ERR_INVALID);
  cr_assert_str_eq(r.message, "Enter a license key.");
  char longkey[300];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = '\0';
  cr_assert_eq(ttb__login(http_fn, &h, "http://h", longkey, NULL, 0, &r), TTB_ERR_INVALID);
  cr_assert_eq(ttb__login(NULL, NULL, "http://h", "K", NULL, 0, &r), TTB_ERR_STATE);
  cr_assert_eq(h.calls, 1);
}

Test(download, status_and_size_rules)
{
  uint8_t *buf;
  size_t len;
  char err[256];
  fake_http h = {.status = 200, .body = "OggS..."};
  cr_assert_eq(ttb__download(http_fn, &h, "http://h/tts/a.ogg", 0, 0, &buf, &len, err, sizeof err),
               TTB_OK);
  cr_assert_eq(len, 7);
  cr_assert_eq(memcmp(buf, "OggS...", 7), 0);
  free(buf);
  cr_assert_str_eq(h.seen_method, "GET");
  h.status = 404;
  cr_assert_eq(ttb__download(http_fn, &h, "http://h/tts/a.ogg", 0, 0, &buf, &len, err, sizeof err),
               TTB_ERR_NETWORK);
  cr_assert_null(buf);
  cr_assert(strstr(err, "HTTP 404") != NULL, "%s", err);
  h.status = 200;
  cr_assert_eq(ttb__download(http_fn, &h, "http://h/tts/a.ogg", 3, 0, &buf, &len, err, sizeof err),
               TTB_ERR_PROTOCOL);
  cr_assert_eq(ttb__download(http_fn, &h, "ws://h/x", 0, 0, &buf, &len, err, sizeof err),
               TTB_ERR_INVALID);
}

/* ================================================================ the connection */

typedef struct rec {
  uint64_t seqs[2048];
  unsigned n;
  int states[512];
  unsigned nstates;
  int errors[64];
  char error_text[64][TTB__MESSAGE_SIZE];
  unsigned nerrors;
  unsigned hellos, audio, stream_errors;
  uint64_t audio_seq[256];
  uint64_t hello_last_seq;
  uint32_t hello_heartbeat;
  unsigned gaps;
  int gap_missed[8];
  char gap_text[8][TTB__MESSAGE_SIZE];
} rec;

static void drain(ttb__conn *c, rec *r)
{
  static ttb__net_event ev;
  while (ttb__conn_poll(c, &ev)) {
    switch (ev.kind) {
    case TTB__NET_CHAT:
    case TTB__NET_GIFT:
      if (r->n < 2048)
        r->seqs[r->n++] = ev.msg.seq;
      break;
    case TTB__NET_STATE:
      if (r->nstates < 512)
        r->states[r->nstates++] = ev.code;
      break;
    case TTB__NET_ERROR:
      if (r->nerrors < 64) {
        snprintf(r->error_text[r->nerrors], TTB__MESSAGE_SIZE, "%s", ev.text);
        r->errors[r->nerrors++] = ev.code;
      }
      break;
    case TTB__NET_HELLO:
      r->hellos++;
      r->hello_last_seq = ev.msg.payload.hello.last_seq;
      r->hello_heartbeat = ev.msg.payload.hello.heartbeat_interval_ms;
      break;
    case TTB__NET_AUDIO:
      if (r->audio < 256)
        r->audio_seq[r->audio] = ev.msg.payload.audio.event_seq;
      r->audio++;
      break;
    case TTB__NET_STREAM_ERROR:
      r->stream_errors++;
      break;
    case TTB__NET_GAP:
      if (r->gaps < 8) {
        r->gap_missed[r->gaps] = ev.code;
        snprintf(r->gap_text[r->gaps], TTB__MESSAGE_SIZE, "%s", ev.text);
      }
      r->gaps++;
      break;
    default:
      break;
    }
  }
}

/* Ticks the loop for `ms` of fake time (draining events when r != NULL). */
static void run(ttb__conn *c, fake *f, uint64_t ms, rec *r)
{
  uint64_t end = fake_now(f) + ms;
  for (int i = 0; i < 1000000 && fake_now(f) < end; i++) {
    unsigned before = f->services;
    ttb__conn_tick(c, 1000);
    if (r)
      drain(c, r);
    if (f->services == before) { /* the loop gave up: let time pass */
      pthread_mutex_lock(&f->mu);
      f->now += 1000;
      pthread_mutex_unlock(&f->mu);
    }
  }
}

static ttb__conn *make_conn(fake *f, bool binary, uint64_t last_seq, unsigned qcap)
{
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = "http://127.0.0.1:8080";
  cc.ws_token = "5d41402a-bc4b-4a76-b971-9d911017c592";
  cc.binary = binary;
  cc.last_seq = last_seq;
  cc.queue_cap = qcap;
  cc.now_ms = fake_now;
  cc.rand32 = fake_rand;
  cc.clock_user = f;
  ttb__conn *c = NULL;
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_OK);
  cr_assert_not_null(c);
  return c;
}

static void assert_exactly(const rec *r, uint64_t first, uint64_t last)
{
  cr_assert_eq(r->n, last - first + 1, "got %u events, want %llu", r->n,
               (unsigned long long)(last - first + 1));
  for (unsigned i = 0; i < r->n; i++)
    cr_assert_eq(r->seqs[i], first + i, "event %u: seq %llu, want %llu", i,
                 (unsigned long long)r->seqs[i], (unsigned long long)(first + i));
}

Test(conn, first_connect_is_live_and_sends_settings)
{
  fake *f = fake_new();
  fake_event(f, false, "before we came"); /* seq 1: history, not wanted */
  ttb__conn *c = make_conn(f, false, 0, 0);
  rec *r = calloc(1, sizeof *r);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_DISCONNECTED);
  ttb__conn_begin(c);
  run(c, f, 100, r);
  cr_assert_eq(f->opens, 1);
  cr_assert_str_eq(f->open_url[0], "ws://127.0.0.1:8080/ws/5d41402a-bc4b-4a76-b971-9d911017c592");
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  cr_assert_eq(r->hellos, 1);
  cr_assert_eq(r->hello_last_seq, 1, "the Hello event carries the Hello");
  cr_assert_eq(r->hello_heartbeat, 10000);
  cr_assert(r->nstates >= 2);
  cr_assert_eq(r->states[0], TTB_STATE_CONNECTING);
  cr_assert_eq(r->states[r->nstates - 1], TTB_STATE_CONNECTED);
  /* the first thing sent is the settings */
  ttboost_v1_ClientMessage m;
  cr_assert(fake_sent_msg(f, 0, &m));
  cr_assert_eq(m.which_payload, ttboost_v1_ClientMessage_settings_tag);
  cr_assert(m.payload.settings.tts_enabled && m.payload.settings.gifts_enabled);
  cr_assert(m.payload.settings.profanity_filter && m.payload.settings.audio_frames);
  cr_assert(!f->sent[0].binary);
  fake_event(f, false, "hi");
  fake_event(f, true, "Rose");
  run(c, f, 100, r);
  assert_exactly(r, 2, 3);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.last_seq, 3);
  cr_assert_eq(st.connects, 1);
  cr_assert_eq(st.reconnects, 0);
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, exactly_once_across_reconnects_with_since)
{
  fake *f = fake_new();
  f->overlap = true; /* each resume also resends 2 events already seen */
  ttb__conn *c = make_conn(f, false, 0, 0);
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 50, r);
  uint64_t expect = 0;
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 5; i++)
      fake_event(f, i % 2, "live");
    run(c, f, 50, r);
    uint64_t seen = expect + 5;
    fake_drop(f, round % 2 ? 1006 : 4008);
    run(c, f, 5, r);
    cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_RECONNECTING);
    /* events while we are away */
    for (int i = 0; i < 3; i++)
      fake_event(f, false, "meanwhile");
    expect += 8;
    run(c, f, 35000, r); /* backoff (it grows: these connections are short) and the resume */
    cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED, "round %d", round);
    char want[200];
    snprintf(want, sizeof want, "?since=%llu", (unsigned long long)seen);
    cr_assert(strstr(f->open_url[round + 1], want) != NULL, "round %d: %s", round,
              f->open_url[round + 1]);
  }
  assert_exactly(r, 1, expect);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.reconnects, 6);
  cr_assert_eq(st.duplicates, 12, "%llu", (unsigned long long)st.duplicates);
  cr_assert_eq(st.last_seq, expect);
  /* settings went out after every connect, first of all */
  for (unsigned o = 0; o < f->opens; o++) {
    ttboost_v1_ClientMessage m;
    cr_assert(fake_sent_msg(f, f->sent_at_open[o], &m), "open %u", o);
    cr_assert_eq(m.which_payload, ttboost_v1_ClientMessage_settings_tag, "open %u", o);
  }
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, resumes_from_a_stored_seq_and_handles_gaps)
{
  fake *f = fake_new();
  for (int i = 0; i < 10; i++)
    fake_event(f, false, "old");
  ttb__conn *c = make_conn(f, false, 7, 0); /* the app saw up to 7 */
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 100, r);
  cr_assert(strstr(f->open_url[0], "?since=7") != NULL, "%s", f->open_url[0]);
  assert_exactly(r, 8, 10);

  /* the server restarted: numbering from 1 again, hello.last_seq < ours */
  pthread_mutex_lock(&f->mu);
  f->nhist = 0;
  f->seq = 0;
  pthread_mutex_unlock(&f->mu);
  fake_drop(f, 1001);
  run(c, f, 5, r);
  fake_event(f, false, "new life"); /* seq 1 of the new server */
  fake_event(f, false, "new life 2");
  run(c, f, 2000, r);
  cr_assert_eq(r->n, 5, "%u", r->n);
  cr_assert_eq(r->seqs[3], 1);
  cr_assert_eq(r->seqs[4], 2);
  /* said once, with no count: the server does not know what we missed */
  cr_assert_eq(r->gaps, 1);
  cr_assert_eq(r->gap_missed[0], 0);
  cr_assert_str_eq(r->gap_text[0], "events may have been missed (the server could not resume)");

  /* the history no longer reaches back to our seq: a gap; the server
     * replays what it has and the client takes it (2 events are lost) */
  fake_drop(f, 1006);
  run(c, f, 5, r);
  for (int i = 0; i < 5; i++)
    fake_event(f, false, "while away"); /* 3..7 */
  pthread_mutex_lock(&f->mu);
  f->trim = 4; /* the server kept 5..7 */
  pthread_mutex_unlock(&f->mu);
  run(c, f, 2000, r);
  cr_assert(f->resume_gap);
  cr_assert_eq(r->gaps, 2);
  cr_assert_eq(r->gap_missed[1], 2, "seqs 3 and 4");
  cr_assert_str_eq(r->gap_text[1], "2 events were missed (the server no longer had them)");
  fake_event(f, false, "after gap"); /* 8 */
  run(c, f, 100, r);
  cr_assert_eq(r->n, 9, "%u", r->n);
  for (unsigned i = 5; i < 9; i++)
    cr_assert_eq(r->seqs[i], i, "%u: %llu", i, (unsigned long long)r->seqs[i]);
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, backoff_grows_with_jitter_and_resets)
{
  fake *f = fake_new();
  f->refuse = true; /* every attempt fails */
  f->rnd = 0;       /* no jitter: the full delay */
  ttb__conn *c = make_conn(f, false, 0, 0);
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 200000, r);
  cr_assert(f->opens >= 10, "%u", f->opens);
  for (unsigned i = 1; i < 10; i++) {
    uint64_t gap = f->open_at[i] - f->open_at[i - 1];
    cr_assert_eq(gap, ttb__backoff_base_ms(i - 1), "gap %u: %llu", i, (unsigned long long)gap);
  }
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_RECONNECTING);
  char err[200];
  ttb__conn_state(c, err, sizeof err);
  cr_assert(strstr(err, "refused by the fake") != NULL, "%s", err);
  cr_assert_eq(ttb__conn_last_error_code(c), TTB_ERR_NETWORK);

  /* most jitter: half the delay */
  pthread_mutex_lock(&f->mu);
  f->rnd = UINT32_MAX;
  unsigned o = f->opens;
  pthread_mutex_unlock(&f->mu);
  run(c, f, 120000, r);
  for (unsigned i = o + 1; i < f->opens && i < FAKE_OPENS; i++) {
    uint64_t gap = f->open_at[i] - f->open_at[i - 1];
    cr_assert(gap >= 15000 && gap <= 15001, "gap %u: %llu", i, (unsigned long long)gap);
  }

  /* a connection that lasts resets the backoff */
  pthread_mutex_lock(&f->mu);
  f->refuse = false;
  f->rnd = 0;
  pthread_mutex_unlock(&f->mu);
  run(c, f, 31000, r);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  run(c, f, TTB__STABLE_MS + 1000, r);
  fake_drop(f, 1006);
  run(c, f, 5, r);
  o = f->opens;
  uint64_t lost_at = fake_now(f);
  run(c, f, 600, r);
  cr_assert_eq(f->opens, o + 1);
  cr_assert(f->open_at[o] - lost_at <= 500, "%llu", (unsigned long long)(f->open_at[o] - lost_at));
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, a_dead_peer_is_noticed_within_30_s)
{
  fake *f = fake_new();
  f->answer_pings = false;
  ttb__conn *c = make_conn(f, false, 0, 0);
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 10, r);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  /* the network dies: nothing more arrives */
  pthread_mutex_lock(&f->mu);
  f->silent = true;
  uint64_t t0 = f->now;
  pthread_mutex_unlock(&f->mu);
  uint64_t lost_at = 0, ping_at = 0;
  for (int i = 0; i < 100000 && fake_now(f) - t0 < 40000; i++) {
    ttb__conn_tick(c, 1000);
    drain(c, r);
    if (!ping_at) {
      for (unsigned k = 0; k < f->nsent; k++) {
        ttboost_v1_ClientMessage m;
        if (fake_sent_msg(f, k, &m) && m.which_payload == ttboost_v1_ClientMessage_ping_tag)
          ping_at = fake_now(f);
      }
    }
    if (!lost_at && ttb__conn_state(c, NULL, 0) == TTB_STATE_RECONNECTING)
      lost_at = fake_now(f);
  }
  cr_assert(ping_at && ping_at - t0 >= 9000 && ping_at - t0 <= 11000, "ping after %llu ms",
            (unsigned long long)(ping_at - t0));
  cr_assert(lost_at, "never noticed");
  cr_assert(lost_at - t0 <= 30000, "noticed after %llu ms", (unsigned long long)(lost_at - t0));
  cr_assert(lost_at - t0 >= 20000, "too eager: %llu ms", (unsigned long long)(lost_at - t0));
  cr_assert_eq(f->last_close_code, 1001);
  char err[200];
  ttb__conn_state(c, err, sizeof err);
  cr_assert(strstr(err, "No data from the server") != NULL, "%s", err);
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, pongs_keep_a_quiet_connection_alive)
{
  fake *f = fake_new();
  f->heartbeat_ms = 60000; /* a lazy server: we ping every 10 s anyway */
  ttb__conn *c = make_conn(f, false, 0, 0);
  ttb__conn_begin(c);
  run(c, f, 300000, NULL);
  cr_assert_eq(f->opens, 1);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  unsigned pings = 0;
  for (unsigned k = 0; k < f->nsent; k++) {
    ttboost_v1_ClientMessage m;
    if (fake_sent_msg(f, k, &m) && m.which_payload == ttboost_v1_ClientMessage_ping_tag)
      pings++;
  }
  cr_assert(pings >= 25 && pings <= 31, "%u pings in 300 s", pings);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert(st.connected_ms >= 299000, "%llu", (unsigned long long)st.connected_ms);
  ttb__conn_destroy(c);
}

Test(conn, connect_timeout_retries)
{
  fake *f = fake_new();
  f->hang = true; /* the handshake never answers */
  ttb__conn *c = make_conn(f, false, 0, 0);
  ttb__conn_begin(c);
  run(c, f, TTB__CONNECT_TIMEOUT_MS + 100, NULL);
  pthread_mutex_lock(&f->mu);
  f->hang = false;
  pthread_mutex_unlock(&f->mu);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_RECONNECTING);
  char err[200];
  ttb__conn_state(c, err, sizeof err);
  cr_assert_str_eq(err, "Connection timed out");
  run(c, f, 1000, NULL);
  cr_assert_eq(f->opens, 2);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  ttb__conn_destroy(c);
}

Test(conn, open_failure_is_retried)
{
  fake *f = fake_new();
  f->open_rc = TTB_ERR_NETWORK;
  ttb__conn *c = make_conn(f, false, 0, 0);
  ttb__conn_begin(c);
  run(c, f, 3000, NULL);
  cr_assert(f->opens >= 3, "%u", f->opens);
  char err[200];
  cr_assert_eq(ttb__conn_state(c, err, sizeof err), TTB_STATE_RECONNECTING);
  cr_assert(strstr(err, "network error") != NULL, "%s", err);
  ttb__conn_destroy(c);
}

Test(conn, a_refused_token_stops_it)
{
  struct {
    const char *error;
    int code, status, want;
    const char *words;
  } cases[] = {
      {"unauthorized", 4001, 0, TTB_ERR_AUTH, "log in again"},
      {"expired", 4003, 0, TTB_ERR_EXPIRED, "expired"},
      {"revoked", 4003, 0, TTB_ERR_REVOKED, "revoked"},
      {NULL, 0, 401, TTB_ERR_AUTH, "HTTP 401"},
      {NULL, 0, 403, TTB_ERR_REVOKED, "HTTP 403"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fake *f = fake_new();
    ttb__conn *c = make_conn(f, false, 0, 0);
    rec *r = calloc(1, sizeof *r);
    if (cases[i].status) {
      f->refuse = true;
      f->refuse_status = cases[i].status;
    }
    ttb__conn_begin(c);
    run(c, f, 10, r);
    if (cases[i].error)
      fake_error_close(f, cases[i].error, cases[i].code);
    run(c, f, 60000, r);
    cr_assert_eq(f->opens, 1, "case %zu: no retry after a refusal (%u)", i, f->opens);
    char err[300];
    cr_assert_eq(ttb__conn_state(c, err, sizeof err), TTB_STATE_DISCONNECTED, "case %zu", i);
    cr_assert(strstr(err, cases[i].words) != NULL, "case %zu: %s", i, err);
    cr_assert_eq(ttb__conn_last_error_code(c), cases[i].want, "case %zu", i);
    cr_assert_eq(r->nerrors, 1, "case %zu", i);
    cr_assert_eq(r->errors[0], cases[i].want);
    if (cases[i].error)
      cr_assert_eq(r->stream_errors, 1);
    free(r);
    ttb__conn_destroy(c);
  }
}

Test(conn, the_queue_is_bounded)
{
  fake *f = fake_new();
  ttb__conn *c = make_conn(f, false, 0, 8);
  ttb__conn_begin(c);
  run(c, f, 20, NULL); /* not drained */
  for (int i = 0; i < 50; i++)
    fake_event(f, false, "flood");
  run(c, f, 50, NULL);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert(st.queue_dropped >= 42, "%llu", (unsigned long long)st.queue_dropped);
  rec *r = calloc(1, sizeof *r);
  drain(c, r);
  cr_assert(r->n <= 8);
  cr_assert(r->n >= 1);
  cr_assert_eq(r->seqs[r->n - 1], 50, "the newest survive");
  for (unsigned i = 1; i < r->n; i++)
    cr_assert_eq(r->seqs[i], r->seqs[i - 1] + 1);
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, bad_and_unknown_messages)
{
  fake *f = fake_new();
  ttb__conn *c = make_conn(f, false, 0, 0);
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 20, r);
  pthread_mutex_lock(&f->mu);
  const char *msgs[] = {"{not json", "{\"type\":\"from_the_future\",\"x\":1}",
                        "{\"type\":\"chat\",\"seq\":\"x\"}"};
  for (int i = 0; i < 3; i++) {
    fake_msg *o = &f->q[(f->qhead + f->qlen) % FAKE_Q];
    o->len = strlen(msgs[i]);
    memcpy(o->data, msgs[i], o->len);
    o->binary = false;
    f->qlen++;
  }
  pthread_mutex_unlock(&f->mu);
  fake_event(f, false, "still fine");
  run(c, f, 50, r);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  assert_exactly(r, 1, 1);
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.protocol_errors, 2);
  cr_assert_eq(st.skipped_unknown, 1);
  cr_assert_eq(r->nerrors, 2);
  cr_assert_eq(r->errors[0], TTB_ERR_PROTOCOL);
  cr_assert(strstr(r->error_text[0], "bad message from the server") != NULL, "%s",
            r->error_text[0]);
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, binary_mode_gets_frames_and_drops_old_audio)
{
  fake *f = fake_new();
  ttb__conn *c = make_conn(f, true, 0, 0);
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 20, r);
  cr_assert(f->binary, "subprotocol " TTB__SUBPROTOCOL_BINARY " asked for");
  cr_assert(f->sent[0].binary);
  ttboost_v1_ClientMessage m;
  cr_assert(fake_sent_msg(f, 0, &m));
  cr_assert_eq(m.which_payload, ttboost_v1_ClientMessage_settings_tag);
  cr_assert(m.payload.settings.audio_frames);
  fake_event(f, false, "speak");
  fake_audio(f, 1, 0, false);
  fake_audio(f, 1, 1, true);
  run(c, f, 50, r);
  assert_exactly(r, 1, 1);
  cr_assert_eq(r->audio, 2);
  /* after a resume, frames of events delivered before are not wanted */
  fake_drop(f, 1006);
  run(c, f, 2000, r);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_CONNECTED);
  fake_audio(f, 1, 2, true);
  fake_event(f, false, "again");
  fake_audio(f, 2, 0, true);
  run(c, f, 50, r);
  assert_exactly(r, 1, 2);
  cr_assert_eq(r->audio, 3);
  cr_assert_eq(r->audio_seq[2], 2);
  /* switching back to JSON takes a reconnect */
  free(r);
  ttb__conn_destroy(c);
}

/* TTS off (issue 11): the fake follows the server's rule (delivery.h):
 * chats and gifts still arrive, only the AudioFrames stop. */
Test(conn, tts_off_still_gets_chats_without_audio)
{
  fake *f = fake_new();
  ttb__conn *c = make_conn(f, true, 0, 0);
  rec *r = calloc(1, sizeof *r);
  ttb__conn_begin(c);
  run(c, f, 20, r);
  ttboost_v1_Settings s = {
      .tts_enabled = false, .gifts_enabled = false, .audio_frames = true, .profanity_filter = true};
  ttb__conn_set_settings(c, &s);
  run(c, f, 50, r);
  cr_assert(!f->settings.tts_enabled, "the settings reached the fake server");
  fake_event(f, false, "read me in the log");
  fake_audio(f, 1, 0, true);
  fake_event(f, true, "Rose");
  run(c, f, 50, r);
  assert_exactly(r, 1, 2);
  cr_assert_eq(r->audio, 0, "no speech with TTS off");
  s.tts_enabled = true;
  ttb__conn_set_settings(c, &s);
  run(c, f, 50, r);
  fake_event(f, false, "spoken");
  fake_audio(f, 3, 0, true);
  run(c, f, 50, r);
  assert_exactly(r, 1, 3);
  cr_assert_eq(r->audio, 1);
  free(r);
  ttb__conn_destroy(c);
}

Test(conn, create_validates)
{
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  ttb__conn *c = (ttb__conn *)1;
  fake *f = fake_new();
  cc.server_url = "gopher://x";
  cc.ws_token = "tok";
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_ERR_INVALID); /* f is freed */
  cr_assert_null(c);
  f = fake_new();
  cc.server_url = "http://x";
  cc.ws_token = "bad token";
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_ERR_INVALID);
  f = fake_new();
  cc.ws_token = "good";
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_OK);
  cr_assert_eq(ttb__conn_set_token(c, "other-token"), TTB_OK);
  cr_assert_eq(ttb__conn_set_token(c, "x/y"), TTB_ERR_INVALID);
  ttb__conn_destroy(c);
  ttb__conn_destroy(NULL);
}

/* ================================================================ with the thread */

static bool wait_for(bool (*pred)(ttb__conn *, fake *), ttb__conn *c, fake *f, int ms)
{
  for (int i = 0; i < ms; i++) {
    if (pred(c, f))
      return true;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return pred(c, f);
}

static bool is_connected(ttb__conn *c, fake *f)
{
  (void)f;
  return ttb__conn_state(c, NULL, 0) == TTB_STATE_CONNECTED;
}

static unsigned count_settings(fake *f)
{
  unsigned n = 0;
  pthread_mutex_lock(&f->mu);
  unsigned ns = f->nsent;
  pthread_mutex_unlock(&f->mu);
  for (unsigned k = 0; k < ns; k++) {
    ttboost_v1_ClientMessage m;
    if (fake_sent_msg(f, k, &m) && m.which_payload == ttboost_v1_ClientMessage_settings_tag)
      n++;
  }
  return n;
}

static bool two_opens(ttb__conn *c, fake *f)
{
  pthread_mutex_lock(&f->mu);
  bool ok = f->opens >= 2;
  pthread_mutex_unlock(&f->mu);
  return ok && is_connected(c, f);
}

static bool settings_3(ttb__conn *c, fake *f)
{
  (void)c;
  return count_settings(f) >= 3;
}

Test(thread, start_events_settings_reconnect_stop, .timeout = 30)
{
  fake *f = fake_new();
  f->real_time = true;
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = "https://ttboost.example:8443/";
  cc.ws_token = "tok";
  ttb__conn *c = NULL;
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK); /* idempotent */
  cr_assert(ttb__conn_running(c));
  cr_assert(wait_for(is_connected, c, f, 5000));
  pthread_mutex_lock(&f->mu);
  cr_assert_str_eq(f->open_url[0], "wss://ttboost.example:8443/ws/tok");
  pthread_mutex_unlock(&f->mu);
  for (int i = 0; i < 20; i++)
    fake_event(f, i % 3 == 0, "threaded");
  rec *r = calloc(1, sizeof *r);
  for (int i = 0; i < 5000 && r->n < 20; i++) {
    drain(c, r);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  assert_exactly(r, 1, 20);

  ttb__conn_reconnect_now(c);
  cr_assert(wait_for(two_opens, c, f, 5000));
  pthread_mutex_lock(&f->mu);
  cr_assert(strstr(f->open_url[1], "?since=20") != NULL, "%s", f->open_url[1]);
  pthread_mutex_unlock(&f->mu);

  ttboost_v1_Settings s = {.tts_enabled = false,
                           .gifts_enabled = true,
                           .audio_frames = false,
                           .profanity_filter = false};
  ttb__conn_set_settings(c, &s);
  cr_assert(wait_for(settings_3, c, f, 5000), "settings after the connects and the change");
  ttboost_v1_ClientMessage m;
  unsigned last = 0;
  for (unsigned k = 0; k < f->nsent; k++)
    if (fake_sent_msg(f, k, &m) && m.which_payload == ttboost_v1_ClientMessage_settings_tag)
      last = k;
  cr_assert(fake_sent_msg(f, last, &m));
  cr_assert(!m.payload.settings.tts_enabled);

  ttb__conn_stop(c);
  cr_assert(!ttb__conn_running(c));
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_DISCONNECTED);
  cr_assert_eq(ttb__conn_reconnect_now(c), TTB_ERR_STATE);
  ttb__conn_stop(c); /* idempotent */
  /* and again */
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  cr_assert(wait_for(is_connected, c, f, 5000));
  free(r);
  ttb__conn_destroy(c);
}

static bool connected_fast(ttb__conn *c, fake *f) { return is_connected(c, f); }

Test(thread, reconnect_now_skips_the_backoff, .timeout = 30)
{
  fake *f = fake_new();
  f->real_time = true;
  f->refuse = true;
  f->rnd = 0; /* full delays: attempts at 0, 0.5, 1.5, 3.5 s */
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = "http://127.0.0.1:1";
  cc.ws_token = "tok";
  cc.rand32 = fake_rand;
  cc.clock_user = f;
  ttb__conn *c = NULL;
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  struct timespec ts = {2, 0};
  nanosleep(&ts, NULL);
  pthread_mutex_lock(&f->mu);
  unsigned o = f->opens;
  f->refuse = false;
  pthread_mutex_unlock(&f->mu);
  cr_assert_eq(o, 3, "%u attempts in 2 s", o);
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_RECONNECTING);
  cr_assert_eq(ttb__conn_reconnect_now(c), TTB_OK);
  cr_assert(wait_for(connected_fast, c, f, 300), "connected at once, not after the backoff");
  ttb__conn_stats st;
  ttb__conn_get_stats(c, &st);
  cr_assert_eq(st.attempts, 4);
  ttb__conn_destroy(c); /* stops the thread */
}

static bool gave_up(ttb__conn *c, fake *f)
{
  (void)f;
  return !ttb__conn_running(c);
}

Test(thread, gives_up_on_a_revoked_license, .timeout = 30)
{
  fake *f = fake_new();
  f->real_time = true;
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = "http://127.0.0.1:1";
  cc.ws_token = "tok";
  ttb__conn *c = NULL;
  cr_assert_eq(ttb__conn_create(&cc, &f->base, &c), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  cr_assert(wait_for(is_connected, c, f, 5000));
  fake_error_close(f, "revoked", 4003);
  cr_assert(wait_for(gave_up, c, f, 5000));
  cr_assert_eq(ttb__conn_state(c, NULL, 0), TTB_STATE_DISCONNECTED);
  cr_assert_eq(ttb__conn_last_error_code(c), TTB_ERR_REVOKED);
  cr_assert_eq(ttb__conn_reconnect_now(c), TTB_ERR_STATE);
  /* a new token (after a new login) and a new start */
  cr_assert_eq(ttb__conn_set_token(c, "tok2"), TTB_OK);
  cr_assert_eq(ttb__conn_start(c), TTB_OK);
  cr_assert(wait_for(is_connected, c, f, 5000));
  pthread_mutex_lock(&f->mu);
  cr_assert(strstr(f->open_url[1], "/ws/tok2") != NULL, "%s", f->open_url[1]);
  cr_assert(strstr(f->open_url[1], "since") == NULL, "a new session starts live: %s",
            f->open_url[1]);
  pthread_mutex_unlock(&f->mu);
  ttb__conn_destroy(c);
}
