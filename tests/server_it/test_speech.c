/*
 * Speech at the speed of chat (issue 12), against the real server and its
 * real worker processes (ttboost-tts-worker):
 * - a chat goes out at once with its tts_url, before its speech is made
 *   (even while a synthesis hangs), and a gift is never held up by speech;
 * - speech nobody fetches is not made, unless --tts-eager;
 * - GET /tts/<id>.ogg of speech not made yet makes it on demand, streamed
 *   chunked; concurrent GETs join one synthesis; an unknown id is 404;
 * - a hung worker is killed at the deadline, replaced, and counted;
 * - binary sockets get the AudioFrames as the worker makes them, the first
 *   well before the last.
 * The worker's test hooks (tts_worker_main.c) are set in the environment
 * the server (and so its workers) inherits.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ttboost/v1/events.pb-c.h"

static srv S;
static char key[128], user[64], token[64];

static void teardown(void)
{
  if (S.pid > 0)
    srv_stop(&S);
  srv_cleanup(&S);
  unsetenv("TTB_TTS_WORKER_TEST_HANG");
  unsetenv("TTB_TTS_WORKER_TEST_SLOW_MS");
}

TestSuite(speech, .fini = teardown, .timeout = 120);

static void start(const char *const *extra)
{
  srv_start(&S, extra, false);
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void post(const char *body)
{
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
}

static void chat(const char *who, const char *msg)
{
  char body[2048];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"%s\",\"message\":\"%s\"}", user, who,
           msg);
  post(body);
}

static void gift(const char *name)
{
  char body[512];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"g\",\"gift_name\":\"%s\",\"count\":1}",
           user, name);
  post(body);
}

/* The value of a /metrics line "name value"; -1 when absent. */
static double metric(const char *name)
{
  http_resp r;
  cr_assert_eq(http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r), 200);
  double v = -1;
  size_t n = strlen(name);
  for (const char *p = r.body; p && *p; p = strchr(p, '\n')) {
    if (*p == '\n')
      p++;
    if (strncmp(p, name, n) == 0 && p[n] == ' ') {
      v = atof(p + n + 1);
      break;
    }
  }
  http_free(&r);
  return v;
}

/* Waits until metric name reaches at least want (or timeout); its value. */
static double metric_wait(const char *name, double want, double timeout_s)
{
  double until = now_s() + timeout_s, v;
  while ((v = metric(name)) < want && now_s() < until)
    usleep(50000);
  return v;
}

static void open_ws(ws *w, const char *proto)
{
  char path[256];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(w, &S, path, proto), 0);
}

/* The next JSON event of type `type` (others skipped), within timeout. */
static bool next_event(ws *w, const char *type, char *m, size_t cap, int timeout_ms)
{
  double until = now_s() + timeout_ms / 1000.0;
  while (now_s() < until) {
    int left = (int)((until - now_s()) * 1000);
    if (!ws_text(w, m, cap, left > 0 ? left : 1))
      return false;
    char t[32] = "";
    json_str(m, "type", t, sizeof t);
    if (strcmp(t, type) == 0)
      return true;
  }
  return false;
}

/* The path part (/tts/<id>.ogg) of a tts_url. */
static void tts_path(const char *m, char *out, size_t cap)
{
  char url[512];
  cr_assert(json_str(m, "tts_url", url, sizeof url), "%s", m);
  const char *p = strstr(url, "/tts/");
  cr_assert_not_null(p, "%s", url);
  snprintf(out, cap, "%s", p);
}

static bool file_in_cache(const char *path)
{
  char f[512];
  struct stat st;
  snprintf(f, sizeof f, "%s%s", S.dir, path); /* DATA/tts/<id>.ogg */
  return stat(f, &st) == 0;
}

/* ------------------------------------------------------------ raw HTTP */

static int connect_port(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
  return fd;
}

typedef struct raw {
  int fd;
  char *buf;
  size_t len, cap;
  bool eof;
  double first_body_at; /* when bytes past the headers first came */
} raw;

static void raw_get(raw *r, const char *path)
{
  memset(r, 0, sizeof *r);
  r->fd = connect_port(S.port);
  char req[512];
  int n =
      snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  cr_assert_eq(write(r->fd, req, (size_t)n), n);
  r->cap = 1 << 20;
  r->buf = malloc(r->cap);
  cr_assert_not_null(r->buf);
}

/* Reads what is there within timeout_ms. */
static void raw_pump(raw *r, int timeout_ms)
{
  struct pollfd p = {.fd = r->fd, .events = POLLIN};
  if (r->eof || poll(&p, 1, timeout_ms) <= 0)
    return;
  ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
  if (k <= 0) {
    r->eof = true;
    return;
  }
  r->len += (size_t)k;
  r->buf[r->len] = '\0';
  char *hdr_end = strstr(r->buf, "\r\n\r\n");
  if (hdr_end && r->first_body_at == 0 && (size_t)(hdr_end + 4 - r->buf) < r->len)
    r->first_body_at = now_s();
}

/* De-chunks the body into out (malloc'd); its length, or -1 when not chunked or cut. */
static long dechunk(const raw *r, uint8_t **out)
{
  const char *b = strstr(r->buf, "\r\n\r\n");
  if (b == NULL)
    return -1;
  b += 4;
  const char *end = r->buf + r->len;
  *out = malloc(r->len + 1);
  long n = 0;
  for (;;) {
    char *e;
    long sz = strtol(b, &e, 16);
    if (e == b || e + 2 > end || e[0] != '\r' || e[1] != '\n')
      return -1;
    b = e + 2;
    if (sz == 0)
      return n;
    if (b + sz + 2 > end)
      return -1;
    memcpy(*out + n, b, (size_t)sz);
    n += sz;
    b += sz + 2;
  }
}

/* ------------------------------------------------------------ tests */

Test(speech, the_event_goes_out_before_its_speech_and_nothing_is_made_unfetched)
{
  const char *const extra[] = {"--tts-workers", "1", NULL};
  start(extra);
  ws w;
  open_ws(&w, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello");
  double t0 = now_s();
  chat("Aruka", "This sentence is never fetched by anyone at all.");
  cr_assert(next_event(&w, "chat", m, sizeof m, 3000), "no chat");
  double dt = now_s() - t0;
  char path[256];
  tts_path(m, path, sizeof path);
  cr_log_info("chat event %.1f ms after the ingest", dt * 1000);
  cr_expect_lt(dt, 0.5);
  usleep(400000);
  /* nobody fetched it: not made */
  cr_expect_eq(metric("ttboost_tts_syntheses_total"), 0);
  cr_expect_not(file_in_cache(path), "speech nobody fetched was made");
  /* an id never handed out is 404 */
  http_resp r;
  cr_expect_eq(http(&S, "GET", "/tts/0123456789abcdef0123456789abcdef.ogg", NULL, NULL, 0, &r),
               404);
  http_free(&r);
  ws_close(&w);
}

Test(speech, a_hung_synthesis_is_killed_at_its_deadline_and_holds_up_nothing)
{
  setenv("TTB_TTS_WORKER_TEST_HANG", "hang-forever", 1);
  const char *const extra[] = {"--tts-workers", "1", "--tts-deadline-ms", "800", "--tts-eager",
                               "yes",           NULL};
  start(extra);
  ws w;
  open_ws(&w, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello");
  cr_assert_eq(metric("ttboost_tts_workers"), 1);
  double t0 = now_s();
  chat("Aruka", "please hang-forever now");
  cr_assert(next_event(&w, "chat", m, sizeof m, 3000), "no chat");
  char hung[256];
  tts_path(m, hung, sizeof hung);
  /* the only worker hangs on it: a gift and another chat still go out at once */
  gift("Rose");
  cr_assert(next_event(&w, "gift", m, sizeof m, 3000), "no gift");
  chat("Bolat", "the next one");
  cr_assert(next_event(&w, "chat", m, sizeof m, 3000), "no second chat");
  double dt = now_s() - t0;
  cr_expect_lt(dt, 0.6, "events were held up %.2f s by a hung synthesis", dt);
  char next[256];
  tts_path(m, next, sizeof next);
  cr_expect_eq(metric("ttboost_tts_deadline_kills_total"), 0);
  /* the deadline: killed, replaced, counted */
  cr_expect_eq(metric_wait("ttboost_tts_deadline_kills_total", 1, 5.0), 1);
  cr_expect_geq(metric_wait("ttboost_tts_worker_restarts_total", 1, 5.0), 1);
  cr_expect_eq(metric_wait("ttboost_tts_workers", 1, 5.0), 1);
  cr_expect_geq(metric("ttboost_tts_failures_total"), 1);
  cr_expect_not(file_in_cache(hung));
  /* the new worker speaks the chat that waited */
  http_resp r;
  cr_expect_eq(http(&S, "GET", next, NULL, NULL, 0, &r), 200);
  cr_expect(r.body_len > 4 && memcmp(r.body, "OggS", 4) == 0);
  http_free(&r);
  cr_log_info("hung synthesis: events out in %.0f ms, worker killed after the deadline", dt * 1000);
  ws_close(&w);
}

Test(speech, eager_makes_every_chat_speech_unfetched)
{
  const char *const extra[] = {"--tts-eager", "yes", NULL};
  start(extra);
  ws w;
  open_ws(&w, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello");
  chat("Aruka", "Eager speech for everyone.");
  cr_assert(next_event(&w, "chat", m, sizeof m, 3000), "no chat");
  char path[256];
  tts_path(m, path, sizeof path);
  cr_expect_eq(metric_wait("ttboost_tts_syntheses_total", 1, 10.0), 1);
  cr_expect(file_in_cache(path), "--tts-eager made no file");
  ws_close(&w);
}

Test(speech, concurrent_gets_join_one_synthesis_streamed_chunked)
{
  setenv("TTB_TTS_WORKER_TEST_SLOW_MS", "30", 1);
  const char *const extra[] = {"--tts-workers", "2", NULL};
  start(extra);
  ws w;
  open_ws(&w, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000), "no hello");
  chat("Aruka",
       "A long enough sentence, so that its speech takes a while to make on a slow machine, "
       "and the first pages are streamed well before the last ones.");
  cr_assert(next_event(&w, "chat", m, sizeof m, 3000), "no chat");
  char path[256];
  tts_path(m, path, sizeof path);
  cr_expect_not(file_in_cache(path));
  double t0 = now_s();
  static raw r[3];
  for (int i = 0; i < 3; i++)
    raw_get(&r[i], path);
  double until = now_s() + 30;
  bool all = false;
  while (!all && now_s() < until) {
    all = true;
    for (int i = 0; i < 3; i++) {
      raw_pump(&r[i], 10);
      all = all && r[i].eof;
    }
  }
  double done_at = now_s();
  cr_assert(all, "a GET did not finish");
  uint8_t *body[3] = {NULL, NULL, NULL};
  long n[3];
  for (int i = 0; i < 3; i++) {
    cr_expect(strncmp(r[i].buf, "HTTP/1.1 200", 12) == 0, "%.*s", 60, r[i].buf);
    cr_expect(strcasestr(r[i].buf, "transfer-encoding: chunked") != NULL, "not chunked: %.300s",
              r[i].buf);
    n[i] = dechunk(&r[i], &body[i]);
    cr_expect_gt(n[i], 1000, "GET %d: %ld bytes", i, n[i]);
    cr_expect(n[i] > 4 && memcmp(body[i], "OggS", 4) == 0);
    if (i > 0)
      cr_expect(n[i] == n[0] && memcmp(body[i], body[0], (size_t)n[0]) == 0, "GET %d differs", i);
  }
  /* streamed: the first bytes came well before the end */
  cr_expect_lt(r[0].first_body_at - t0, (done_at - t0) / 2, "first bytes at %.0f ms of %.0f ms",
               (r[0].first_body_at - t0) * 1000, (done_at - t0) * 1000);
  cr_log_info("on-demand GET: first bytes after %.0f ms, whole after %.0f ms",
              (r[0].first_body_at - t0) * 1000, (done_at - t0) * 1000);
  /* one synthesis for the three */
  cr_expect_eq(metric("ttboost_tts_syntheses_total"), 1);
  cr_expect_geq(metric("ttboost_tts_streams_total"), 3);
  /* the file now: served from the cache, the same bytes */
  cr_expect(file_in_cache(path));
  http_resp h;
  cr_expect_eq(http(&S, "GET", path, NULL, NULL, 0, &h), 200);
  cr_expect(h.body_len == (size_t)n[0] && memcmp(h.body, body[0], h.body_len) == 0,
            "the file differs from the stream (%zu vs %ld bytes)", h.body_len, n[0]);
  cr_expect(strcasestr(h.headers, "immutable") != NULL, "%s", h.headers);
  http_free(&h);
  cr_expect_eq(metric("ttboost_tts_syntheses_total"), 1);
  for (int i = 0; i < 3; i++) {
    free(body[i]);
    free(r[i].buf);
    close(r[i].fd);
  }
  ws_close(&w);
}

Test(speech, binary_frames_come_while_the_speech_is_made)
{
  setenv("TTB_TTS_WORKER_TEST_SLOW_MS", "30", 1);
  start(NULL);
  ws w;
  open_ws(&w, "ttboost.v1.proto");
  const uint8_t *d;
  size_t n;
  cr_assert_eq(ws_recv(&w, &d, &n, 5000), 2, "no hello");
  /* audio frames on */
  Ttboost__V1__Settings st = TTBOOST__V1__SETTINGS__INIT;
  st.tts_enabled = true;
  st.gifts_enabled = true;
  st.audio_frames = true;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SETTINGS;
  cm.settings = &st;
  uint8_t b[256];
  size_t bl = ttboost__v1__client_message__pack(&cm, b);
  cr_assert_eq(ws_send(&w, 2, b, bl), 0);
  usleep(200000);
  double t0 = now_s();
  chat("Aruka",
       "A long enough sentence, so that its speech takes a while to make on a slow machine, "
       "and the first frames come well before the last ones.");
  uint64_t seq = 0;
  uint32_t frames = 0;
  double first = 0, chat_at = 0, last_at = 0;
  bool last = false;
  uint32_t duration = 0;
  while (!last && now_s() - t0 < 30) {
    int op = ws_recv(&w, &d, &n, 10000);
    cr_assert_eq(op, 2, "frame %u missing", frames);
    Ttboost__V1__ServerMessage *sm = ttboost__v1__server_message__unpack(NULL, n, d);
    cr_assert_not_null(sm);
    if (sm->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT) {
      seq = sm->seq;
      chat_at = now_s();
    } else if (sm->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO) {
      cr_expect_neq(seq, 0, "a frame before its chat");
      cr_expect_eq(sm->audio->event_seq, seq);
      cr_expect_eq(sm->audio->index, frames, "frame %u came as %u", frames, sm->audio->index);
      cr_expect_eq(sm->audio->sample_rate, 48000);
      cr_expect_eq(sm->audio->frame_duration_us, 20000);
      cr_expect_gt(sm->audio->pre_skip, 0);
      cr_expect_gt(sm->audio->duration_ms, 0);
      cr_expect(sm->audio->packet.len > 0 && sm->audio->packet.len <= 1275);
      if (frames == 0)
        first = now_s();
      frames++;
      last = sm->audio->last;
      duration = sm->audio->duration_ms;
      last_at = now_s();
    }
    ttboost__v1__server_message__free_unpacked(sm, NULL);
  }
  cr_assert(last, "no last frame");
  cr_expect_lt(chat_at - t0, 0.5, "the chat came %.0f ms after the ingest", (chat_at - t0) * 1000);
  /* 20 ms packets: as many as the speech lasts */
  cr_expect(frames * 20 >= duration && frames * 20 <= duration + 60, "%u frames for %u ms", frames,
            duration);
  cr_expect_lt(first - t0, (last_at - t0) / 2, "first frame at %.0f ms, last at %.0f ms",
               (first - t0) * 1000, (last_at - t0) * 1000);
  cr_log_info(
      "binary: chat after %.0f ms, first frame after %.0f ms, last after %.0f ms (%u frames)",
      (chat_at - t0) * 1000, (first - t0) * 1000, (last_at - t0) * 1000, frames);
  ws_close(&w);
}

/* ---- SpeechWanted (binary mode on request, events.proto) */

static void send_pb(ws *w, Ttboost__V1__ClientMessage *cm)
{
  uint8_t b[256];
  size_t bl = ttboost__v1__client_message__pack(cm, b);
  cr_assert_eq(ws_send(w, 2, b, bl), 0);
}

/* A binary socket with TTS and frames on; on_request: Settings.speech_on_request. */
static void open_binary(ws *w, bool on_request)
{
  open_ws(w, "ttboost.v1.proto");
  const uint8_t *d;
  size_t n;
  cr_assert_eq(ws_recv(w, &d, &n, 5000), 2, "no hello");
  Ttboost__V1__ServerMessage *sm = ttboost__v1__server_message__unpack(NULL, n, d);
  cr_assert(sm && sm->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_HELLO);
  cr_expect(sm->hello->speech_wanted, "Hello does not say speech_wanted");
  ttboost__v1__server_message__free_unpacked(sm, NULL);
  Ttboost__V1__Settings st = TTBOOST__V1__SETTINGS__INIT;
  st.tts_enabled = true;
  st.gifts_enabled = true;
  st.audio_frames = true;
  st.speech_on_request = on_request;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SETTINGS;
  cm.settings = &st;
  send_pb(w, &cm);
}

static void want(ws *w, uint64_t seq)
{
  Ttboost__V1__SpeechWanted sw = TTBOOST__V1__SPEECH_WANTED__INIT;
  sw.seq = seq;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_SPEECH_WANTED;
  cm.speech_wanted = &sw;
  send_pb(w, &cm);
}

/* What a binary socket received within ms (or until `until_last` frames
 * of seq `last_of` ended): chat seqs, frames per seq, errors. */
typedef struct got {
  uint64_t chats[16];
  size_t nchats;
  uint64_t frame_seq[16];
  uint32_t frames[16]; /* by index in frame_seq */
  bool last[16];
  size_t nseqs;
  char errors[4][64];
  size_t nerrors;
  bool pong;
  bool mid_stream; /* frames of speech already under way may come: no index check */
} got;

static void collect(ws *w, got *g, int ms, uint64_t last_of)
{
  double until = now_s() + ms / 1000.0;
  while (now_s() < until) {
    const uint8_t *d;
    size_t n;
    int left = (int)((until - now_s()) * 1000);
    int op = ws_recv(w, &d, &n, left > 0 ? left : 1);
    if (op == 0)
      break;
    cr_assert_eq(op, 2, "socket closed or not binary (%d)", op);
    Ttboost__V1__ServerMessage *sm = ttboost__v1__server_message__unpack(NULL, n, d);
    cr_assert_not_null(sm);
    bool done = false;
    switch (sm->payload_case) {
    case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT:
      if (g->nchats < 16)
        g->chats[g->nchats++] = sm->seq;
      break;
    case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO: {
      size_t i = 0;
      while (i < g->nseqs && g->frame_seq[i] != sm->audio->event_seq)
        i++;
      if (i == g->nseqs && g->nseqs < 16)
        g->frame_seq[g->nseqs++] = sm->audio->event_seq;
      if (i < 16) {
        if (!g->mid_stream)
          cr_expect_eq(sm->audio->index, g->frames[i], "seq %llu: frame %u came as %u",
                       (unsigned long long)sm->audio->event_seq, g->frames[i], sm->audio->index);
        g->frames[i]++;
        g->last[i] = sm->audio->last;
        done = sm->audio->last && sm->audio->event_seq == last_of;
      }
      break;
    }
    case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_ERROR:
      if (g->nerrors < 4)
        snprintf(g->errors[g->nerrors++], 64, "%s", sm->error->error);
      break;
    case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_PONG:
      g->pong = true;
      break;
    default:
      break;
    }
    ttboost__v1__server_message__free_unpacked(sm, NULL);
    if (done)
      break;
  }
}

static size_t frames_of(const got *g, uint64_t seq, bool *last)
{
  for (size_t i = 0; i < g->nseqs; i++)
    if (g->frame_seq[i] == seq) {
      if (last)
        *last = g->last[i];
      return g->frames[i];
    }
  if (last)
    *last = false;
  return 0;
}

Test(speech, binary_on_request_gets_frames_only_for_what_it_asks)
{
  start(NULL);
  ws w;
  open_binary(&w, true);
  usleep(200000);
  chat("Aruka", "The first chat, which nobody asks to hear.");
  chat("Bek", "The second chat, the one this listener asks for.");
  chat("Dana", "The third chat, dropped by the listener's queue.");
  got g = {0};
  collect(&w, &g, 1500, 0);
  cr_assert_eq(g.nchats, 3, "%zu chats", g.nchats);
  cr_expect_eq(g.nseqs, 0, "frames nobody asked for (first for seq %llu)",
               (unsigned long long)g.frame_seq[0]);
  /* nothing made that no one wants */
  cr_expect_eq(metric("ttboost_tts_syntheses_total"), 0);
  want(&w, g.chats[1]);
  want(&w, g.chats[1]); /* twice: a no-op while its frames come */
  got f = {0};
  collect(&w, &f, 20000, g.chats[1]);
  bool last = false;
  size_t n = frames_of(&f, g.chats[1], &last);
  cr_expect(last && n > 20, "%zu frames of the chat asked for, last %d", n, last);
  cr_expect_eq(f.nseqs, 1, "frames of %zu chats", f.nseqs);
  cr_expect_eq(f.nerrors, 0, "error %s", f.errors[0]);
  /* nothing more comes, and only that chat was made */
  got more = {0};
  collect(&w, &more, 700, 0);
  cr_expect_eq(more.nseqs, 0, "more frames after the last one");
  cr_expect_eq(metric_wait("ttboost_tts_syntheses_total", 1, 5), 1);
  cr_expect_eq(metric("ttboost_speech_wanted_total"), 1);
  /* asked again once made: from the cache, to this socket */
  want(&w, g.chats[1]);
  got again = {0};
  collect(&w, &again, 5000, g.chats[1]);
  cr_expect_eq(frames_of(&again, g.chats[1], &last), n, "cached speech: %zu frames, not %zu",
               frames_of(&again, g.chats[1], NULL), n);
  cr_expect_eq(metric("ttboost_tts_syntheses_total"), 1);
  ws_close(&w);
}

Test(speech, binary_on_request_and_an_older_client_on_one_channel)
{
  start(NULL);
  ws asks, old;
  open_binary(&asks, true);
  open_binary(&old, false); /* never asks: every chat's frames, as before */
  usleep(200000);
  chat("Aruka", "Heard by the older client only.");
  got go = {0}, ga = {0};
  collect(&old, &go, 20000, 1);
  cr_assert_eq(go.nchats, 1);
  bool last = false;
  cr_expect(frames_of(&go, go.chats[0], &last) > 10 && last, "the older client's frames");
  collect(&asks, &ga, 500, 0);
  cr_expect_eq(ga.nchats, 1);
  cr_expect_eq(ga.nseqs, 0, "frames to the socket that did not ask");
  ws_close(&asks);
  ws_close(&old);
}

Test(speech, speech_wanted_refusals_are_errors_not_crashes)
{
  setenv("TTB_TTS_WORKER_TEST_SLOW_MS", "400", 1); /* requests stay outstanding */
  start(NULL);
  ws w, j;
  open_binary(&w, true);
  usleep(200000);
  gift("Rose");
  for (int i = 0; i < 10; i++) {
    char m[64];
    snprintf(m, sizeof m, "Chat number %d of the burst.", i);
    chat("Aruka", m);
  }
  got g = {0};
  collect(&w, &g, 1500, 0);
  cr_assert_eq(g.nchats, 10, "%zu chats", g.nchats);
  uint64_t gift_seq = g.chats[0] - 1; /* the gift came first */
  want(&w, 0);
  want(&w, gift_seq);
  want(&w, g.chats[9] + 100); /* not given out yet */
  got e = {0};
  collect(&w, &e, 1500, 0);
  cr_expect_eq(e.nerrors, 3, "%zu errors", e.nerrors);
  for (size_t i = 0; i < e.nerrors; i++)
    cr_expect_str_eq(e.errors[i], "bad_request");
  /* at most 8 outstanding */
  for (int i = 0; i < 9; i++)
    want(&w, g.chats[i]);
  got t = {0};
  collect(&w, &t, 300, 0);
  cr_expect_eq(t.nerrors, 1, "%zu errors", t.nerrors);
  cr_expect_str_eq(t.errors[0], "too_many_requests");
  cr_expect_geq(metric("ttboost_speech_wanted_refused_total"), 4);
  /* the socket is still served */
  Ttboost__V1__Ping p = TTBOOST__V1__PING__INIT;
  p.client_time_ms = 1;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_PING;
  cm.ping = &p;
  send_pb(&w, &cm);
  got pg = {.mid_stream = true};
  collect(&w, &pg, 2000, 0);
  cr_expect(pg.pong, "no pong after the refusals");
  /* a JSON socket, or a binary one without speech_on_request, may not ask */
  open_binary(&j, false);
  want(&j, g.chats[9]);
  got je = {0};
  collect(&j, &je, 1500, 0);
  cr_expect_eq(je.nerrors, 1);
  if (je.nerrors)
    cr_expect_str_eq(je.errors[0], "bad_request");
  /* a socket closing with requests outstanding: nothing leaks or crashes */
  ws_close(&w);
  ws_close(&j);
  usleep(300000);
  cr_expect_eq(metric("ttboost_speech_wanted_refused_total") >= 5, 1);
}
