/*
 * The WebSocket /ws/{ws_token} against the real server: the spec's JSON
 * byte for byte, binary mode with audio frames, resume without loss or
 * duplicate, the slow consumer, revocation, bad tokens and garbage frames.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "ttboost/v1/events.pb-c.h"

static srv S;
static char key[128], user[64], token[64];

static void setup(void)
{
  srv_start(&S, NULL, false);
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
}
static void teardown(void)
{
  srv_stop(&S);
  srv_cleanup(&S);
}

TestSuite(ws, .init = setup, .fini = teardown, .timeout = 90);

static void open_ws(ws *w, const char *query, const char *proto)
{
  char path[256];
  snprintf(path, sizeof path, "/ws/%s%s", token, query ? query : "");
  cr_assert_eq(ws_connect(w, &S, path, proto), 0);
}

static void gift(const char *name, int count)
{
  char body[512];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"\",\"gift_name\":\"%s\",\"count\":%d}",
           user, name, count);
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
}

static void chat(const char *who, const char *msg)
{
  char body[1024];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"%s\",\"message\":\"%s\"}", user, who,
           msg);
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
}

Test(ws, hello_then_the_spec_payloads)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello");
  cr_expect(strncmp(m, "{\"type\":\"hello\",\"last_seq\":0,", 29) == 0, "%s", m);
  cr_expect_eq(json_num(m, "protocol_version"), 1);
  cr_expect_eq(json_num(m, "heartbeat_interval_ms"), 1000);

  chat("Aruka", "Привет!");
  cr_assert(ws_text(&w, m, sizeof m, 15000), "no chat");
  char url[512];
  cr_assert(json_str(m, "tts_url", url, sizeof url), "%s", m);
  char want[1024];
  snprintf(
      want, sizeof want,
      "{\"type\":\"chat\",\"user\":\"Aruka\",\"message\":\"Привет!\",\"tts_url\":\"%s\",\"seq\":1}",
      url);
  cr_expect_str_eq(m, want);
  cr_expect(strncmp(url, S.url, strlen(S.url)) == 0 && strstr(url, "/tts/"), "%s", url);

  gift("Rose", 5);
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no gift");
  char sound[512];
  cr_assert(json_str(m, "sound_url", sound, sizeof sound), "%s", m);
  snprintf(want, sizeof want, "%s/sounds/", S.url);
  cr_expect(strncmp(sound, want, strlen(want)) == 0 && strstr(sound, ".ogg"), "%s", sound);
  snprintf(want, sizeof want,
           "{\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":5,\"sound_url\":\"%s\",\"seq\":2}",
           sound);
  cr_expect_str_eq(m, want);
  http_resp r;
  http(&S, "GET", sound + strlen(S.url), NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200, "%s", sound);
  http_free(&r);

  /* a gift the map does not know plays the fallback sound */
  gift("Some Brand New Gift", 1);
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no gift");
  snprintf(want, sizeof want,
           "{\"type\":\"gift\",\"gift_name\":\"Some Brand New "
           "Gift\",\"count\":1,\"sound_url\":\"%s/sounds/default.ogg\",\"seq\":3}",
           S.url);
  cr_expect_str_eq(m, want);
  ws_close(&w);
}

Test(ws, events_keep_their_order_behind_speech)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  chat("A", "first, a longer sentence to speak");
  gift("Rose", 1);
  chat("B", "third");
  long long seqs[3];
  const char *types[3] = {"chat", "gift", "chat"};
  for (int i = 0; i < 3; i++) {
    cr_assert(ws_text(&w, m, sizeof m, 15000), "event %d missing", i);
    char t[16];
    json_str(m, "type", t, sizeof t);
    cr_expect_str_eq(t, types[i]);
    seqs[i] = json_num(m, "seq");
  }
  cr_expect(seqs[0] == 1 && seqs[1] == 2 && seqs[2] == 3);
  ws_close(&w);
}

Test(ws, binary_mode_with_audio_frames)
{
  ws w;
  open_ws(&w, NULL, "ttboost.v1.proto");
  cr_expect_str_eq(w.subprotocol, "ttboost.v1.proto");
  const uint8_t *d;
  size_t n;
  cr_assert_eq(ws_recv(&w, &d, &n, 5000), 2, "hello is not a binary frame");
  Ttboost__V1__ServerMessage *m = ttboost__v1__server_message__unpack(NULL, n, d);
  cr_assert_not_null(m);
  cr_expect_eq(m->payload_case, TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_HELLO);
  ttboost__v1__server_message__free_unpacked(m, NULL);

  chat("Aruka", "Hello from the binary test");
  cr_assert_eq(ws_recv(&w, &d, &n, 15000), 2);
  m = ttboost__v1__server_message__unpack(NULL, n, d);
  cr_assert_not_null(m);
  cr_assert_eq(m->payload_case, TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT);
  cr_expect_str_eq(m->chat->message, "Hello from the binary test");
  uint64_t seq = m->seq;
  ttboost__v1__server_message__free_unpacked(m, NULL);
  uint32_t frames = 0;
  bool last = false;
  while (!last) {
    int op = ws_recv(&w, &d, &n, 5000);
    cr_assert_eq(op, 2, "audio frame %u missing", frames);
    m = ttboost__v1__server_message__unpack(NULL, n, d);
    cr_assert_not_null(m);
    cr_assert_eq(m->payload_case, TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO);
    cr_expect_eq(m->audio->event_seq, seq);
    cr_expect_eq(m->audio->index, frames);
    cr_expect_eq(m->audio->sample_rate, 48000);
    cr_expect(m->audio->packet.len > 0 && m->audio->packet.len <= 1275);
    last = m->audio->last;
    frames++;
    ttboost__v1__server_message__free_unpacked(m, NULL);
  }
  cr_expect(frames > 20, "only %u frames for a sentence", frames);

  /* audio frames off: the next chat comes alone */
  Ttboost__V1__Settings st = TTBOOST__V1__SETTINGS__INIT;
  st.tts_enabled = st.gifts_enabled = true;
  st.audio_frames = false;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SETTINGS;
  cm.settings = &st;
  uint8_t buf[64];
  size_t bn = ttboost__v1__client_message__pack(&cm, buf);
  ws_send(&w, 2, buf, bn);
  usleep(200000);
  chat("Aruka", "no audio please");
  gift("Rose", 1);
  cr_assert_eq(ws_recv(&w, &d, &n, 15000), 2);
  m = ttboost__v1__server_message__unpack(NULL, n, d);
  cr_expect_eq(m->payload_case, TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT);
  ttboost__v1__server_message__free_unpacked(m, NULL);
  cr_assert_eq(ws_recv(&w, &d, &n, 5000), 2);
  m = ttboost__v1__server_message__unpack(NULL, n, d);
  cr_expect_eq(m->payload_case, TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT);
  ttboost__v1__server_message__free_unpacked(m, NULL);
  ws_close(&w);
}

Test(ws, resume_loses_nothing_and_repeats_nothing)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  gift("Rose", 1);
  gift("Rose", 2);
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  long long last = json_num(m, "seq");
  cr_assert_eq(last, 2);
  ws_close(&w); /* forced disconnect */

  for (int i = 3; i <= 7; i++)
    gift("Lion", i);

  char q[64];
  snprintf(q, sizeof q, "?since=%lld", last);
  open_ws(&w, q, NULL);
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":false") != NULL, "%s", m);
  for (int i = 3; i <= 7; i++) {
    cr_assert(ws_text(&w, m, sizeof m, 5000), "missed %d", i);
    cr_expect_eq(json_num(m, "seq"), i);
    cr_expect_eq(json_num(m, "count"), i);
  }
  /* nothing more: no duplicate */
  const uint8_t *d;
  size_t n;
  cr_expect_eq(ws_recv(&w, &d, &n, 500), 0, "a duplicate arrived");
  ws_close(&w);
}

Test(ws, resume_older_than_history_says_so)
{
  srv_stop(&S);
  const char *extra[] = {"--history", "3", NULL};
  srv_start(&S, extra, true);
  for (int i = 1; i <= 6; i++)
    gift("Rose", i);
  ws w;
  open_ws(&w, "?since=1", NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":true") != NULL, "%s", m);
  cr_expect_eq(json_num(m, "first_seq"), 4, "%s", m);
  ws_close(&w);
}

Test(ws, slow_consumer_is_cut_off_and_the_server_stays_small)
{
  srv_stop(&S);
  const char *extra[] = {"--max-queued-msgs", "64", NULL};
  srv_start(&S, extra, true);
  ws slow, fast;
  open_ws(&slow, NULL, NULL);
  open_ws(&fast, NULL, NULL);
  /* slow never reads; make its socket buffers fill */
  char *body = malloc(1 << 20);
  for (int round = 0; round < 6; round++) {
    size_t o = 0;
    o += (size_t)sprintf(body + o, "[");
    for (int i = 0; i < 400; i++)
      o += (size_t)sprintf(body + o,
                           "%s{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"%0120d\",\"gift_"
                           "name\":\"Rose\",\"count\":1}",
                           i ? "," : "", user, i);
    sprintf(body + o, "]");
    http_resp r;
    cr_assert_eq(ingest(&S, body, &r), 202);
    http_free(&r);
    const uint8_t *d;
    size_t n;
    while (ws_recv(&fast, &d, &n, 50) > 0)
      ;
  }
  free(body);
  /* slow now finds its close frame with 4008 after what was sent */
  const uint8_t *d;
  size_t n;
  int op;
  bool closed = false;
  while ((op = ws_recv(&slow, &d, &n, 3000)) > 0)
    if (op == 8) {
      cr_expect(n >= 2 && (d[0] << 8 | d[1]) == 4008, "close code %d",
                n >= 2 ? d[0] << 8 | d[1] : -1);
      closed = true;
      break;
    }
  cr_expect(closed || op == -1, "the slow consumer was not cut off");
  http_resp r;
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_queue_drops_total 0") == NULL, "no drop counted: %s", r.body);
  http_free(&r);
  ws_close(&slow);
  ws_close(&fast);
}

Test(ws, revoke_cuts_a_live_socket)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  char out[256];
  const char *args[] = {"license", "revoke", key, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, args), 0);
  const uint8_t *d;
  size_t n;
  int op;
  bool closed = false;
  while ((op = ws_recv(&w, &d, &n, 5000)) > 0) {
    if (op == 8) {
      cr_expect(n >= 2 && (d[0] << 8 | d[1]) == 4003, "close code");
      closed = true;
      break;
    }
  }
  cr_expect(closed, "the socket of a revoked license stayed open");
  ws_close(&w);
  cr_expect_neq(ws_connect(&w, &S, "/ws/x", NULL), 101);
}

Test(ws, bad_token_is_refused_with_a_code)
{
  ws w;
  cr_assert_eq(ws_connect(&w, &S, "/ws/00000000-0000-4000-8000-000000000000", NULL), 0);
  const uint8_t *d;
  size_t n;
  int op;
  bool closed = false;
  char m[512] = "";
  while ((op = ws_recv(&w, &d, &n, 5000)) > 0) {
    if (op == 1)
      snprintf(m, sizeof m, "%.*s", (int)n, (const char *)d);
    if (op == 8) {
      cr_expect(n >= 2 && (d[0] << 8 | d[1]) == 4001);
      closed = true;
      break;
    }
  }
  cr_expect(closed);
  cr_expect(strstr(m, "\"type\":\"error\",\"error\":\"unauthorized\"") != NULL, "%s", m);
  ws_close(&w);
}

Test(ws, garbage_frames_do_not_hurt_others)
{
  ws good, bad;
  open_ws(&good, NULL, NULL);
  open_ws(&bad, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&good, m, sizeof m, 5000));
  cr_assert(ws_text(&bad, m, sizeof m, 5000));
  /* an invalid client message: answered with an error, socket stays */
  ws_send(&bad, 1, "{\"type\":\"nonsense\"}", 19);
  cr_assert(ws_text(&bad, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"error\":\"bad_message\"") != NULL, "%s", m);
  /* a ping gets a pong */
  ws_send(&bad, 1, "{\"type\":\"ping\",\"client_time_ms\":42}", 35);
  cr_assert(ws_text(&bad, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"type\":\"pong\",\"client_time_ms\":42") != NULL, "%s", m);
  /* raw garbage bytes: a protocol error for that socket only */
  static const uint8_t junk[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x13, 0x37, 0x42, 0x99, 0x01};
  if (send(bad.fd, junk, sizeof junk, 0) < 0)
    cr_log_warn("send failed");
  gift("Rose", 9);
  cr_assert(ws_text(&good, m, sizeof m, 5000), "the good socket stopped hearing");
  cr_expect_eq(json_num(m, "count"), 9);
  ws_close(&bad);
  ws_close(&good);
}

/* TTS off means no speech, not no chats (delivery.h): with TTS and gifts off
 * every event still arrives (the app logs it), and binary sockets get no
 * AudioFrames. */
Test(ws, settings_never_hide_events)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  const char *s =
      "{\"type\":\"settings\",\"tts_enabled\":false,\"gifts_enabled\":false,\"audio_frames\":false,"
      "\"profanity_filter\":false}";
  ws_send(&w, 1, s, strlen(s));
  usleep(200000);
  chat("A", "log me even with TTS off");
  gift("Rose", 3);
  cr_assert(ws_text(&w, m, sizeof m, 15000));
  cr_expect(strstr(m, "\"type\":\"chat\"") != NULL && strstr(m, "log me even") != NULL, "%s", m);
  cr_assert(ws_text(&w, m, sizeof m, 15000));
  cr_expect(strstr(m, "\"type\":\"gift\"") != NULL, "%s", m);
  ws_close(&w);

  /* binary, frames asked for, TTS off: the chat, then the gift, no frame between */
  open_ws(&w, NULL, "ttboost.v1.proto");
  const uint8_t *d;
  size_t n;
  cr_assert_eq(ws_recv(&w, &d, &n, 5000), 2);
  Ttboost__V1__Settings st = TTBOOST__V1__SETTINGS__INIT;
  st.tts_enabled = false;
  st.gifts_enabled = true;
  st.audio_frames = true;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SETTINGS;
  cm.settings = &st;
  uint8_t buf[64];
  size_t bn = ttboost__v1__client_message__pack(&cm, buf);
  ws_send(&w, 2, buf, bn);
  usleep(200000);
  chat("Aruka", "no speech for me");
  gift("Rose", 1);
  int kinds[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(ws_recv(&w, &d, &n, 15000), 2);
    Ttboost__V1__ServerMessage *sm = ttboost__v1__server_message__unpack(NULL, n, d);
    cr_assert_not_null(sm);
    kinds[i] = (int)sm->payload_case;
    ttboost__v1__server_message__free_unpacked(sm, NULL);
  }
  cr_expect_eq(kinds[0], TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT);
  cr_expect_eq(kinds[1], TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT,
               "an AudioFrame came with TTS off");
  ws_close(&w);
}

Test(ws, graceful_shutdown_closes_with_1001)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  kill(S.pid, SIGTERM);
  const uint8_t *d;
  size_t n;
  int op;
  bool closed = false;
  while ((op = ws_recv(&w, &d, &n, 5000)) > 0)
    if (op == 8) {
      cr_expect(n >= 2 && (d[0] << 8 | d[1]) == 1001);
      closed = true;
      break;
    }
  cr_expect(closed, "no 1001 close on shutdown");
  ws_close(&w);
  cr_expect_eq(srv_stop(&S), 0);
  srv_start(&S, NULL, true); /* for teardown */
}

Test(ws, a_gift_streak_is_one_event_with_its_total)
{
  ws w;
  open_ws(&w, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello");
  /* TikTok's streak: the same gift with a growing repeat_count, then the end */
  const char *steps[] = {"\"repeat_count\":1", "\"repeat_count\":2", "\"repeat_count\":3",
                         "\"repeat_count\":3", "\"repeat_count\":3,\"repeat_end\":true"};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"Zhanna\",\"user_id\":\"7001\","
             "\"gift_name\":\"Rose\",\"gift_id\":5655,\"count\":1,%s}",
             user, steps[i]);
    http_resp r;
    cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
    http_free(&r);
  }
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no gift for the streak");
  cr_expect_eq(json_num(m, "count"), 3, "%s", m);
  cr_expect_eq(json_num(m, "seq"), 1, "%s", m);
  /* nothing else: no second event for the same streak, even after its idle time */
  cr_expect_not(ws_text(&w, m, sizeof m, 4500), "a second event for one streak: %s", m);
  ws_close(&w);
}

/* Clients that ask for the upgrade and reset the connection at once: the
 * server's 101 write fails, and it must forget those sessions cleanly. */
Test(ws, abandoned_upgrades_are_forgotten)
{
  for (int i = 0; i < 300; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[512];
    int n = snprintf(
        req, sizeof req,
        "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        token);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    struct linger l = {1, 0}; /* close with a reset */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    if (i % 2)
      shutdown(fd, SHUT_RD);
    close(fd);
  }
  /* the server goes on serving, and counts no socket that is not there
   * (upgrades that completed before their reset was seen count against the
   * license's sockets for a moment: 4029, then room again) */
  ws w;
  char m[4096];
  bool hello = false;
  for (int tries = 0; tries < 50 && !hello; tries++) {
    open_ws(&w, NULL, NULL);
    cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello after the abandoned upgrades");
    hello = strstr(m, "\"type\":\"hello\"") != NULL;
    if (!hello) {
      cr_assert(strstr(m, "too_many_sockets") != NULL, "%s", m);
      ws_close(&w);
      usleep(100 * 1000);
    }
  }
  cr_assert(hello, "still too many sockets: %s", m);
  gift("Rose", 1);
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no gift");
  ws_close(&w);
  long long open_now = -1;
  for (int tries = 0; tries < 50; tries++) {
    http_resp r;
    http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
    const char *p = strstr(r.body, "\nttboost_sockets_open ");
    open_now = p ? atoll(p + 22) : -1;
    http_free(&r);
    if (open_now == 0)
      break;
    usleep(100 * 1000);
  }
  cr_expect_eq(open_now, 0, "sockets still counted after their clients went away");
}

/* --ws-flush-us: while the loop is busy, a socket's frames may wait for one
 * write (ws.c "Coalescing"); whatever the timing, every event reaches every
 * socket once and in order, the server still answers pings, and the writes
 * are counted. */
Test(ws, coalesced_writes_keep_every_event_in_order)
{
  srv_stop(&S);
  const char *extra[] = {"--ws-flush-us", "20000", NULL};
  srv_start(&S, extra, true);
  ws a, b;
  open_ws(&a, NULL, NULL);
  open_ws(&b, NULL, NULL);
  char m[4096];
  cr_assert(ws_text(&a, m, sizeof m, 5000), "no hello");
  cr_assert(ws_text(&b, m, sizeof m, 5000), "no hello");
  enum { ROUNDS = 30, PER = 40 };
  char *body = malloc(64 * 1024);
  cr_assert_not_null(body);
  long long next_a = 1, next_b = 1;
  for (int round = 0; round < ROUNDS; round++) {
    size_t o = (size_t)sprintf(body, "[");
    for (int i = 0; i < PER; i++)
      o += (size_t)sprintf(body + o,
                           "%s{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u%d\",\"gift_name\":"
                           "\"Rose\",\"count\":1}",
                           i ? "," : "", user, round * PER + i);
    sprintf(body + o, "]");
    http_resp r;
    cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
    http_free(&r);
    /* read what is there without waiting: the next round comes meanwhile */
    while (ws_text(&a, m, sizeof m, 0)) {
      cr_assert_eq(json_num(m, "seq"), next_a, "%s", m);
      next_a++;
    }
    while (ws_text(&b, m, sizeof m, 0)) {
      cr_assert_eq(json_num(m, "seq"), next_b, "%s", m);
      next_b++;
    }
  }
  free(body);
  while (next_a <= ROUNDS * PER) {
    cr_assert(ws_text(&a, m, sizeof m, 5000), "event %lld missing on a", next_a);
    cr_assert_eq(json_num(m, "seq"), next_a, "%s", m);
    next_a++;
  }
  while (next_b <= ROUNDS * PER) {
    cr_assert(ws_text(&b, m, sizeof m, 5000), "event %lld missing on b", next_b);
    cr_assert_eq(json_num(m, "seq"), next_b, "%s", m);
    next_b++;
  }
  /* a client ping is answered (a pong is a control-path message, not delayed) */
  char ping[128];
  snprintf(ping, sizeof ping, "{\"type\":\"ping\",\"client_time_ms\":42}");
  cr_assert_eq(ws_send(&a, 1, ping, strlen(ping)), 0);
  cr_assert(ws_text(&a, m, sizeof m, 5000), "no pong");
  cr_expect(strstr(m, "\"type\":\"pong\"") != NULL, "%s", m);
  http_resp r;
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  const char *w = strstr(r.body, "\nttboost_ws_writes_total ");
  cr_assert_not_null(w, "%s", r.body);
  long long writes = atoll(w + 25);
  /* hellos, pings and pong included; never more writes than messages */
  cr_expect(writes >= 2 && writes <= 2 * ROUNDS * PER + 16, "writes %lld", writes);
  http_free(&r);
  ws_close(&a);
  ws_close(&b);
}
