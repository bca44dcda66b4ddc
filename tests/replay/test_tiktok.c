/*
 * TikTok traces in tools/replay: ttb-trace dump/stats of TiktokFrame records
 * (the demo trace, garbage, chunked messages), ttb-replay --tiktok-serve as a
 * fake TikTok (HTTP, lookup, the push socket with heartbeats and acks), and
 * the whole stack: the real ttboost-server's connector pointed at
 * ttb-replay --tiktok-serve tiktok-demo.ttbtrace, a device hearing it.
 * Paths in $TTB_REPLAY, $TTB_TRACE, $TTB_TIKTOK_DEMO_TRACE, $TTBOOST_SERVER,
 * $TTBOOST_ADMIN (set by meson).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tiktok_frame.h"
#include "trace_ext.h"

extern char **environ;

static uint64_t mono_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static size_t count(const char *hay, const char *needle)
{
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

/* ------------------------------------------------------ building frames */

static uint8_t *packed(const ProtobufCMessage *m, size_t *len)
{
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(*len + 1);
  cr_assert_not_null(b);
  protobuf_c_message_pack(m, b);
  return b;
}

static uint8_t *chat_payload(const char *nick, const char *handle, const char *comment, size_t *len)
{
  Tiktok__Webcast__User u = TIKTOK__WEBCAST__USER__INIT;
  u.nickname = (char *)nick;
  u.unique_id = (char *)handle;
  Tiktok__Webcast__WebcastChatMessage c = TIKTOK__WEBCAST__WEBCAST_CHAT_MESSAGE__INIT;
  c.user = &u;
  c.comment = (char *)comment;
  return packed(&c.base, len);
}

/* A "msg" PushFrame carrying one message (need_ack with internal_ext "ext-LOG"). */
static uint8_t *msg_frame(const char *method, int64_t msg_id, const uint8_t *payload, size_t plen,
                          uint64_t log_id, bool gzip_header, size_t *len)
{
  Tiktok__Webcast__Message m = TIKTOK__WEBCAST__MESSAGE__INIT, *mp = &m;
  m.method = (char *)method;
  m.msg_id = msg_id;
  m.payload.data = (uint8_t *)payload;
  m.payload.len = plen;
  char ext[32];
  snprintf(ext, sizeof ext, "ext-%llu", (unsigned long long)log_id);
  Tiktok__Webcast__FetchResult r = TIKTOK__WEBCAST__FETCH_RESULT__INIT;
  r.n_messages = 1;
  r.messages = &mp;
  r.need_ack = true;
  r.internal_ext = ext;
  size_t rn;
  uint8_t *rb = packed(&r.base, &rn);
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  Tiktok__Webcast__PushFrame__HeadersEntry h = TIKTOK__WEBCAST__PUSH_FRAME__HEADERS_ENTRY__INIT,
                                           *hp = &h;
  h.key = "compress_type";
  h.value = "gzip";
  if (gzip_header) {
    f.n_headers = 1;
    f.headers = &hp;
  }
  f.log_id = log_id;
  f.payload_type = "msg";
  f.payload_encoding = "pb";
  f.payload.data = rb;
  f.payload.len = rn;
  uint8_t *b = packed(&f.base, len);
  free(rb);
  return b;
}

/* A client frame: "hb" with a Heartbeat, or "ack" with the internal_ext. */
static uint8_t *client_frame(const char *type, uint64_t log_id, const void *payload, size_t plen,
                             size_t *len)
{
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.log_id = log_id;
  f.payload_type = (char *)type;
  f.payload_encoding = "pb";
  f.payload.data = (uint8_t *)payload;
  f.payload.len = plen;
  return packed(&f.base, len);
}

static char tpath[64];

static ttb_trace_writer *new_trace(void)
{
  snprintf(tpath, sizeof tpath, "/tmp/ttb-tiktok-XXXXXX");
  int fd = mkstemp(tpath);
  cr_assert(fd >= 0);
  close(fd);
  ttb_trace_writer *w;
  char err[256];
  cr_assert_eq(
      ttb_trace_writer_open(tpath, "ttboost-server tiktok", "test", false, &w, err, sizeof err), 0,
      "%s", err);
  return w;
}

static void put(ttb_trace_writer *w, uint64_t t, const uint8_t *b, size_t n)
{
  char err[256];
  cr_assert_eq(ttb_tf_write(w, t, "7301000000000000042", b, n, err, sizeof err), 0, "%s", err);
}

static void end_trace(ttb_trace_writer *w)
{
  char err[256];
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
}

static void cleanup_trace(void)
{
  if (tpath[0])
    unlink(tpath);
  tpath[0] = '\0';
}

/* The joined messages of a trace. */
typedef struct msgs {
  uint8_t *d[256];
  size_t len[256];
  uint64_t t[256];
  size_t n;
} msgs;

static void load_msgs(const char *path, msgs *m)
{
  memset(m, 0, sizeof *m);
  char err[256];
  ttb_trace_reader *r;
  cr_assert_eq(ttb_trace_reader_open(path, &r, err, sizeof err), 0, "%s", err);
  ttb_tf_joiner j = {0};
  Ttboost__V1__TraceRecord *rec;
  int rc;
  while ((rc = ttb_trace_next(r, &rec, err, sizeof err)) == 1) {
    if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK &&
        ttb_tf_join(&j, rec, err, sizeof err) == 1) {
      cr_assert_lt(m->n, 256u);
      m->d[m->n] = malloc(j.len + 1);
      memcpy(m->d[m->n], j.buf, j.len);
      m->len[m->n] = j.len;
      m->t[m->n] = j.time_us;
      m->n++;
    }
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
  }
  cr_assert_eq(rc, 0, "%s", err);
  ttb_tf_joiner_free(&j);
  ttb_trace_reader_close(r);
}

static void free_msgs(msgs *m)
{
  for (size_t i = 0; i < m->n; i++)
    free(m->d[i]);
  m->n = 0;
}

/* ------------------------------------------------------------- the fake */

typedef struct fake {
  pid_t pid;
  int fd;
  int port;
  char log[1 << 17];
  size_t len;
  char web[64], ws[64];
} fake;

static fake F;

/* Reads what the fake printed, for up to ms. */
static void fake_read(fake *f, int ms)
{
  uint64_t end = mono_ms() + (uint64_t)ms;
  for (;;) {
    uint64_t now = mono_ms();
    struct pollfd p = {f->fd, POLLIN, 0};
    if (poll(&p, 1, now >= end ? 0 : (int)(end - now)) <= 0)
      return;
    char *dst = f->len + 1 < sizeof f->log ? f->log + f->len : NULL;
    char sink[4096];
    ssize_t k = read(f->fd, dst ? dst : sink, dst ? sizeof f->log - 1 - f->len : sizeof sink);
    if (k <= 0)
      return;
    if (dst)
      f->len += (size_t)k;
    f->log[f->len] = '\0';
  }
}

static bool fake_wait(fake *f, const char *needle, size_t times, int ms)
{
  uint64_t end = mono_ms() + (uint64_t)ms;
  while (count(f->log, needle) < times && mono_ms() < end)
    fake_read(f, 50);
  return count(f->log, needle) >= times;
}

static void fake_start(fake *f, const char *trace, const char *const *extra)
{
  memset(f, 0, sizeof *f);
  const char *argv[32] = {
      env_or_fail("TTB_REPLAY"), "--tiktok-serve", trace, "--listen", "127.0.0.1:0", "-v"};
  int n = 6;
  for (int i = 0; extra && extra[i]; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  int p[2];
  cr_assert_eq(pipe(p), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  cr_assert_eq(posix_spawn(&f->pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  f->fd = p[0];
  cr_assert(fake_wait(f, "listening on http://127.0.0.1:", 1, 10000), "the fake did not start: %s",
            f->log);
  const char *l = strstr(f->log, "listening on http://127.0.0.1:");
  f->port = atoi(l + strlen("listening on http://127.0.0.1:"));
  cr_assert_gt(f->port, 0);
  snprintf(f->web, sizeof f->web, "http://127.0.0.1:%d", f->port);
  snprintf(f->ws, sizeof f->ws, "ws://127.0.0.1:%d", f->port);
}

static int fake_stop(fake *f)
{
  if (f->pid <= 0)
    return -1;
  kill(f->pid, SIGTERM);
  fake_read(f, 300);
  int st;
  waitpid(f->pid, &st, 0);
  fake_read(f, 0);
  close(f->fd);
  f->pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void fini(void)
{
  if (F.pid > 0)
    fake_stop(&F);
  cleanup_trace();
}

TestSuite(tiktok_replay, .fini = fini, .timeout = 120);

/* ---------------------------------------------------------------- dump */

static char out[1 << 20];

Test(tiktok_replay, dump_decodes_the_demo)
{
  const char *argv[] = {env_or_fail("TTB_TRACE"), "dump", env_or_fail("TTB_TIKTOK_DEMO_TRACE"),
                        NULL};
  cr_assert_eq(run_capture(argv, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "\"source\":\"ttboost-server tiktok\""));
  cr_expect_eq(count(out, "\"direction\":\"DIRECTION_TIKTOK\""), 25);
  cr_expect_eq(count(out, "\"method\":\"WebcastChatMessage\""), 18, "17 chats and one re-sent");
  cr_expect(strstr(
      out,
      "\"nickname\":\"Айгерим\",\"unique_id\":\"aigerim.kz\",\"user_id\":\"6811000000000000001\","
      "\"comment\":\"Сәлем бәріне! 👋\""));
  cr_expect(strstr(out, "\"nickname\":\"\",\"unique_id\":\"quiet.viewer_07\""));
  cr_expect(strstr(out, "\"comment\":\"Привет! Как дела?\""));
  cr_expect(strstr(out, "\"comment\":\"hi from London! love this stream\""));
  for (int rc = 1; rc <= 5; rc++) {
    char want[160];
    snprintf(want, sizeof want,
             "\"gift_name\":\"Rose\",\"gift_id\":5655,\"gift_type\":1,\"repeat_count\":%d,\"repeat_"
             "end\":%d,"
             "\"combo_count\":%d,\"group_id\":\"1767225606000\"",
             rc, rc == 5, rc);
    cr_expect(strstr(out, want), "no %s", want);
  }
  cr_expect(strstr(out, "\"gift_name\":\"Galaxy\",\"gift_id\":11046,\"gift_type\":2,\"repeat_"
                        "count\":1,\"repeat_end\":0"));
  cr_expect(strstr(out, "\"payload_type\":\"im_enter_room_resp\""));
  cr_expect_eq(count(out, "\"payload_type\":\"hb\""), 3);
  cr_expect_eq(count(out, "\"compress\":\"gzip\""), 12);
  cr_expect(strstr(out, "\"need_ack\":true,\"internal_ext\":\"internal_src:dim|"));
  cr_expect(strstr(out, "\"method\":\"WebcastLikeMessage\""));
  cr_expect_eq(count(out, "\"msg_id\":\"7301500000000003400\""), 2, "the duplicate msg_id");
  cr_expect_null(strstr(out, "undecodable"));

  const char *sargv[] = {env_or_fail("TTB_TRACE"), "stats", env_or_fail("TTB_TIKTOK_DEMO_TRACE"),
                         NULL};
  cr_assert_eq(run_capture(sargv, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "TikTok push socket: 25 records"), "%s", out);
  cr_expect(strstr(out, "  chat                         17 "), "%s", out);
  cr_expect(strstr(out, "    streak ends                 1"), "%s", out);
  cr_expect(strstr(out, "    single gifts                1"), "%s", out);
  cr_expect(strstr(out, "  duplicate msg_id              1"), "%s", out);
  cr_expect(strstr(out, "    undecodable frames          0"), "%s", out);
  cr_expect_null(strstr(out, "ingest (into the server)"), "no empty ingest section: %s", out);
}

Test(tiktok_replay, dump_shows_what_does_not_decode)
{
  ttb_trace_writer *w = new_trace();
  static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0x01, 0x07};
  put(w, 1000, garbage, sizeof garbage);
  /* a "gzip" payload that is not */
  size_t n;
  static const uint8_t notgz[] = "\x1f\x8b this is not gzip";
  uint8_t *b = msg_frame("WebcastChatMessage", 1, notgz, sizeof notgz - 1, 7, true, &n);
  put(w, 2000, b, n);
  free(b);
  /* a chat whose payload is garbage */
  b = msg_frame("WebcastChatMessage", 2, garbage, sizeof garbage, 8, false, &n);
  put(w, 3000, b, n);
  free(b);
  /* the end of the stream */
  Tiktok__Webcast__WebcastControlMessage cm = TIKTOK__WEBCAST__WEBCAST_CONTROL_MESSAGE__INIT;
  cm.action = 3;
  size_t cn;
  uint8_t *cb = packed(&cm.base, &cn);
  b = msg_frame("WebcastControlMessage", 3, cb, cn, 9, false, &n);
  put(w, 4000, b, n);
  free(b);
  free(cb);
  put(w, 5000, NULL, 0); /* an empty message */
  end_trace(w);
  const char *argv[] = {env_or_fail("TTB_TRACE"), "dump", tpath, NULL};
  cr_assert_eq(run_capture(argv, out, sizeof out), 0, "%s", out);
  cr_expect(
      strstr(out,
             "{\"time_us\":1000,\"direction\":\"DIRECTION_TIKTOK\",\"tiktok\":{\"room_id\":"
             "\"7301000000000000042\",\"chunks\":1,\"push_frame\":{\"bytes\":13,\"undecodable\":"
             "\"not a PushFrame\"}}}"),
      "%s", out);
  cr_expect(strstr(out, "\"compress\":\"gzip\",\"payload_error\":\"inflate:"), "%s", out);
  cr_expect(
      strstr(out, "\"msg_id\":\"2\",\"bytes\":13,\"undecodable\":\"not a WebcastChatMessage\""),
      "%s", out);
  cr_expect(strstr(out, "\"method\":\"WebcastControlMessage\",\"msg_id\":\"3\",\"action\":3,"
                        "\"meaning\":\"stream ended\""),
            "%s", out);
  cr_expect(strstr(out,
                   "{\"time_us\":5000,\"direction\":\"DIRECTION_TIKTOK\",\"tiktok\":{\"room_id\":"
                   "\"7301000000000000042\",\"chunks\":1,\"push_frame\":{\"bytes\":0,"),
            "%s", out);
  const char *sargv[] = {env_or_fail("TTB_TRACE"), "stats", tpath, NULL};
  cr_assert_eq(run_capture(sargv, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "    undecodable frames          1"), "%s", out);
  cr_expect(strstr(out, "    bad payloads                1"), "%s", out);
  cr_expect(strstr(out, "  undecodable                   1"), "%s", out);
  cr_expect(strstr(out, "    stream ended                1"), "%s", out);
}

/* A 150 000-byte message is three records; dump and the fake join them. */
static uint8_t *big_frame(size_t *n)
{
  static char comment[150001];
  memset(comment, 'a', sizeof comment - 1);
  comment[0] = 'Z';
  size_t cl;
  uint8_t *c = chat_payload("Big", "big.one", comment, &cl);
  uint8_t *b = msg_frame("WebcastChatMessage", 77, c, cl, 70, false, n);
  free(c);
  cr_assert_gt(*n, 2 * TTB_TF_CHUNK);
  return b;
}

Test(tiktok_replay, chunks_are_joined)
{
  size_t n;
  uint8_t *b = big_frame(&n);
  ttb_trace_writer *w = new_trace();
  put(w, 100, b, n);
  static const char hello[] = "hello after the big one";
  size_t cl, fl;
  uint8_t *c = chat_payload("Small", "small.one", hello, &cl);
  uint8_t *f = msg_frame("WebcastChatMessage", 78, c, cl, 71, false, &fl);
  put(w, 200, f, fl);
  end_trace(w);
  const char *argv[] = {env_or_fail("TTB_TRACE"), "dump", tpath, NULL};
  cr_assert_eq(run_capture(argv, out, sizeof out), 0, "%.2000s", out);
  char want[128];
  snprintf(want, sizeof want, "\"chunks\":3,\"push_frame\":{\"bytes\":%zu,", n);
  cr_expect(strstr(out, want), "no %s", want);
  cr_expect(strstr(out, "\"comment\":\"Zaaaaaaaaaa"));
  cr_expect(strstr(out, "\"comment\":\"hello after the big one\""));
  cr_expect_eq(count(out, "\"direction\":\"DIRECTION_TIKTOK\""), 2, "one line per message");
  const char *sargv[] = {env_or_fail("TTB_TRACE"), "stats", tpath, NULL};
  cr_assert_eq(run_capture(sargv, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "TikTok push socket: 4 records"), "%s", out);
  cr_expect(strstr(out, "    continuation chunks         2"), "%s", out);
  cr_expect(strstr(out, "  chat                          2 "), "%s", out);

  /* a trace that ends inside a message */
  cleanup_trace();
  w = new_trace();
  put(w, 100, f, fl);
  char err[256];
  Ttboost__V1__TiktokFrame tf = TTBOOST__V1__TIKTOK_FRAME__INIT;
  tf.frame.data = b;
  tf.frame.len = TTB_TF_CHUNK;
  tf.room_id = "1";
  tf.more = true;
  Ttboost__V1__TraceRecord r = TTBOOST__V1__TRACE_RECORD__INIT;
  r.time_us = 300;
  r.direction = TTBOOST__V1__DIRECTION__DIRECTION_TIKTOK;
  r.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK;
  r.tiktok = &tf;
  cr_assert_eq(ttb_trace_write(w, &r, err, sizeof err), 0, "%s", err);
  end_trace(w);
  cr_assert_eq(run_capture(argv, out, sizeof out), 0, "%s", out);
  cr_expect(
      strstr(out,
             "\"time_us\":300,\"direction\":\"DIRECTION_TIKTOK\",\"tiktok\":{\"room_id\":\"1\","
             "\"chunks\":1,\"bytes\":61440,\"incomplete\":"),
      "%s", out);
  free(b);
  free(c);
  free(f);
}

/* ---------------------------------------------------------- the fake: HTTP */

static srv fake_srv(const fake *f)
{
  srv s;
  memset(&s, 0, sizeof s);
  s.port = f->port;
  return s;
}

#define LOOKUP                                                                              \
  "/api-live/user/room?aid=1988&app_name=tiktok_web&device_platform=web_pc&app_language=en" \
  "&browser_language=en-US&region=US&user_is_login=false&uniqueId="

Test(tiktok_replay, serve_http)
{
  fake_start(&F, env_or_fail("TTB_TIKTOK_DEMO_TRACE"), NULL);
  srv s = fake_srv(&F);
  http_resp r;
  cr_assert_eq(http(&s, "GET", "/", NULL, NULL, 0, &r), 200);
  const char *c = strcasestr(r.headers, "\r\nset-cookie: ttwid=");
  cr_expect_not_null(c, "%s", r.headers);
  cr_expect(c && strstr(c, "; Path=/"));
  http_free(&r);
  cr_assert_eq(http(&s, "GET", LOOKUP "anyone&sourceType=54&staleTime=600000", NULL, NULL, 0, &r),
               200);
  cr_expect(strstr(r.body, "\"statusCode\":0"), "%s", r.body);
  cr_expect(strstr(r.body, "\"roomId\":\"7301234567890123456\""), "%s", r.body);
  cr_expect(strstr(r.body, "\"liveRoom\":{\"status\":2"), "%s", r.body);
  cr_expect(strstr(r.body, "\"uniqueId\":\"anyone\""), "%s", r.body);
  http_free(&r);
  cr_assert_eq(http(&s, "GET", "/api-live/user/room?aid=1988", NULL, NULL, 0, &r), 200);
  cr_expect(strstr(r.body, "\"statusCode\":10011"), "%s", r.body);
  http_free(&r);
  cr_assert_eq(http(&s, "GET", "/nothing", NULL, NULL, 0, &r), 404);
  http_free(&r);
  cr_assert_eq(
      http(&s, "GET", "/webcast/im/ws_proxy/ws_reuse_supplement/?room_id=1", NULL, NULL, 0, &r),
      400, "no upgrade, no socket");
  http_free(&r);
  cr_expect_eq(fake_stop(&F), 0, "%s", F.log);

  /* only one handle; another room id */
  const char *extra[] = {"--tiktok-user", "@Demo_Streamer", "--room-id", "42", NULL};
  fake_start(&F, env_or_fail("TTB_TIKTOK_DEMO_TRACE"), extra);
  s = fake_srv(&F);
  cr_assert_eq(http(&s, "GET", LOOKUP "someone.else", NULL, NULL, 0, &r), 200);
  cr_expect(strstr(r.body, "\"statusCode\":19881007"), "%s", r.body);
  http_free(&r);
  cr_assert_eq(http(&s, "GET", LOOKUP "demo_streamer", NULL, NULL, 0, &r), 200);
  cr_expect(strstr(r.body, "\"statusCode\":0"), "%s", r.body);
  cr_expect(strstr(r.body, "\"roomId\":\"42\""), "%s", r.body);
  http_free(&r);
  cr_expect_eq(fake_stop(&F), 0);
}

/* ------------------------------------------------------ the fake: socket */

static ws W;

#define WS_PATH                                                                       \
  "/webcast/im/ws_proxy/ws_reuse_supplement/?version_code=180800&device_platform=web" \
  "&compress=gzip&room_id=7301234567890123456&identity=audience"

Test(tiktok_replay, serve_socket_replays_the_frames)
{
  msgs m;
  load_msgs(env_or_fail("TTB_TIKTOK_DEMO_TRACE"), &m);
  cr_assert_eq(m.n, 25u);
  const char *extra[] = {"--speed", "10", NULL};
  fake_start(&F, env_or_fail("TTB_TIKTOK_DEMO_TRACE"), extra);
  srv s = fake_srv(&F);
  cr_assert_eq(ws_connect(&W, &s, WS_PATH, NULL), 0);
  uint64_t t0 = mono_ms();
  /* the client's heartbeat and enter-room, as the connector sends them */
  Tiktok__Webcast__Heartbeat hb = TIKTOK__WEBCAST__HEARTBEAT__INIT;
  hb.room_id = UINT64_C(7301234567890123456);
  size_t hn, fn;
  uint8_t *hp = packed(&hb.base, &hn);
  uint8_t *fr = client_frame("hb", 0, hp, hn, &fn);
  cr_assert_eq(ws_send(&W, 2, fr, fn), 0);
  free(fr);
  Tiktok__Webcast__ImEnterRoom er = TIKTOK__WEBCAST__IM_ENTER_ROOM__INIT;
  er.room_id = INT64_C(7301234567890123456);
  er.live_id = 12;
  er.identity = "audience";
  size_t en;
  uint8_t *ep = packed(&er.base, &en);
  fr = client_frame("im_enter_room", 0, ep, en, &fn);
  cr_assert_eq(ws_send(&W, 2, fr, fn), 0);
  free(fr);
  free(ep);
  /* the heartbeat's answer first, then the trace's frames in order */
  size_t got = 0, answers = 0, acked = 0;
  uint64_t last_at = 0;
  while (got < m.n) {
    const uint8_t *d;
    size_t len;
    int op = ws_recv(&W, &d, &len, 5000);
    cr_assert_eq(op, 2, "frame %zu did not come (op %d): %s", got, op, F.log);
    if (len == m.len[got] && memcmp(d, m.d[got], len) == 0) {
      Tiktok__Webcast__PushFrame *pf = tiktok__webcast__push_frame__unpack(NULL, len, d);
      cr_assert_not_null(pf);
      /* ack what asks for one, as the connector does */
      const uint8_t *p;
      size_t pn;
      bool gz;
      uint8_t *owned;
      if (strcmp(pf->payload_type, "msg") == 0 &&
          ttb_tf_payload(pf, &p, &pn, &gz, &owned, NULL, 0) == 0) {
        Tiktok__Webcast__FetchResult *res = tiktok__webcast__fetch_result__unpack(NULL, pn, p);
        cr_assert_not_null(res);
        if (res->need_ack && res->internal_ext[0]) {
          fr = client_frame("ack", pf->log_id, res->internal_ext, strlen(res->internal_ext), &fn);
          cr_assert_eq(ws_send(&W, 2, fr, fn), 0);
          free(fr);
          acked++;
        }
        tiktok__webcast__fetch_result__free_unpacked(res, NULL);
        free(owned);
      }
      tiktok__webcast__push_frame__free_unpacked(pf, NULL);
      last_at = mono_ms() - t0;
      got++;
      continue;
    }
    Tiktok__Webcast__PushFrame *pf = tiktok__webcast__push_frame__unpack(NULL, len, d);
    cr_assert_not_null(pf, "frame %zu differs from the trace and is no PushFrame", got);
    cr_assert_str_eq(pf->payload_type, "hb", "frame %zu differs from the trace", got);
    tiktok__webcast__push_frame__free_unpacked(pf, NULL);
    answers++;
  }
  cr_expect_eq(answers, 1u, "one answer to one heartbeat");
  cr_expect_eq(acked, 15u);
  /* at 10 times the pace: the last frame (31 s) after about 3.1 s */
  cr_expect_geq(last_at, 2800u, "the frames came too fast (%llu ms)", (unsigned long long)last_at);
  cr_expect_leq(last_at, 10000u, "the frames came too slowly (%llu ms)",
                (unsigned long long)last_at);
  /* the socket stays open and heartbeats go on */
  fr = client_frame("hb", 0, hp, hn, &fn);
  cr_assert_eq(ws_send(&W, 2, fr, fn), 0);
  free(fr);
  free(hp);
  const uint8_t *d;
  size_t len;
  cr_assert_eq(ws_recv(&W, &d, &len, 3000), 2, "no answer to a heartbeat after the trace");
  cr_assert(fake_wait(&F, "client hb room_id=7301234567890123456", 2, 3000), "%s", F.log);
  cr_expect(fake_wait(&F, ": ok\n", 15, 3000), "%s", F.log);
  cr_expect(strstr(F.log,
                   "client im_enter_room room_id=7301234567890123456 live_id=12 identity=audience"),
            "%s", F.log);
  cr_expect(strstr(F.log, "ws#1: all 25 frames sent; the socket stays open"), "%s", F.log);
  cr_expect_null(strstr(F.log, "asked for an ack"), "%s", F.log);
  ws_close(&W);
  cr_expect(
      fake_wait(
          &F, "ws#1: closed after 25 of 25 frames; the client sent 2 hb, 1 im_enter_room, 15 ack\n",
          1, 3000),
      "%s", F.log);
  cr_expect_eq(fake_stop(&F), 0);
  free_msgs(&m);
}

Test(tiktok_replay, serve_joins_chunks_and_ends_the_stream)
{
  size_t n;
  uint8_t *b = big_frame(&n);
  ttb_trace_writer *w = new_trace();
  put(w, 100000, b, n);
  end_trace(w);
  const char *extra[] = {"--end-after", NULL};
  fake_start(&F, tpath, extra);
  srv s = fake_srv(&F);
  http_resp r;
  cr_assert_eq(http(&s, "GET", LOOKUP "x", NULL, NULL, 0, &r), 200);
  cr_expect(strstr(r.body, "\"roomId\":\"7301000000000000042\",\"status\":2"), "%s", r.body);
  http_free(&r);
  cr_assert_eq(ws_connect(&W, &s,
                          "/webcast/im/ws_proxy/ws_reuse_supplement/?room_id=7301000000000000042",
                          NULL),
               0);
  const uint8_t *d;
  size_t len;
  cr_assert_eq(ws_recv(&W, &d, &len, 5000), 2);
  cr_assert_eq(len, n, "the message was not joined whole");
  cr_assert(memcmp(d, b, n) == 0);
  /* the end: a control message, action 3, then the close */
  cr_assert_eq(ws_recv(&W, &d, &len, 5000), 2);
  Tiktok__Webcast__PushFrame *pf = tiktok__webcast__push_frame__unpack(NULL, len, d);
  cr_assert_not_null(pf);
  cr_assert_str_eq(pf->payload_type, "msg");
  Tiktok__Webcast__FetchResult *res =
      tiktok__webcast__fetch_result__unpack(NULL, pf->payload.len, pf->payload.data);
  cr_assert_not_null(res);
  cr_assert_eq(res->n_messages, 1u);
  cr_assert_str_eq(res->messages[0]->method, "WebcastControlMessage");
  Tiktok__Webcast__WebcastControlMessage *cm = tiktok__webcast__webcast_control_message__unpack(
      NULL, res->messages[0]->payload.len, res->messages[0]->payload.data);
  cr_assert_not_null(cm);
  cr_expect_eq(cm->action, 3);
  tiktok__webcast__webcast_control_message__free_unpacked(cm, NULL);
  tiktok__webcast__fetch_result__free_unpacked(res, NULL);
  tiktok__webcast__push_frame__free_unpacked(pf, NULL);
  cr_expect_eq(ws_recv(&W, &d, &len, 5000), 8, "no close after the end");
  ws_close(&W);
  /* the user is no longer live */
  cr_assert_eq(http(&s, "GET", LOOKUP "x", NULL, NULL, 0, &r), 200);
  cr_expect(strstr(r.body, "\"status\":4"), "%s", r.body);
  http_free(&r);
  cr_expect_eq(fake_stop(&F), 0);
  free(b);
}

/* ------------------------------------------------------- the whole stack */

static srv S;

static bool server_has_connector(void)
{
  const char *argv[] = {env_or_fail("TTBOOST_SERVER"), "--help", NULL};
  run_capture(argv, out, sizeof out);
  return strstr(out, "tiktok-web") != NULL;
}

typedef struct expected_chat {
  const char *user, *message;
} expected_chat;

/* What make-tiktok-trace's stream says, in order (Маша's re-sent chat once). */
static const expected_chat demo_chats[] = {
    {"Айгерим", "Сәлем бәріне! 👋"},
    {"Jess", "hi from London! love this stream"},
    {"Маша", "Привет! Как дела?"},
    {"quiet.viewer_07", "hello 👀 first time here"},
    {"Катя_котик", "ахаха 😂 розы!"},
    {"Ержан_KZ", "Керемет! Рахмет 🌹"},
    {"Priya", "thank you!! 😍"},
    {"Олег 🎮", "Давай ещё!"},
    {"Данияр", "Қалайсың? Бүгін эфир өте керемет"},
    {"TomTheBuilder", "can you say hi to me?"},
    {"Катя_котик", "Ты лучшая 💖"},
    {"Әлия 🌸", "Рахмет! Сау болыңыз 🌸"},
    {"mike_92", "gg"},
    {"Айгерим", "Тағы да кездескенше! ұ ү һ і ғ қ ң ө"},
    {"Jess", "bye! ❤️"},
    {"Дмитрий", "Пока-пока 👋"},
    {"TomTheBuilder", "see you next time"},
};
#define N_DEMO_CHATS (sizeof demo_chats / sizeof demo_chats[0])

Test(tiktok_replay, whole_stack_hears_the_demo_once, .timeout = 180)
{
  if (!server_has_connector())
    cr_skip_test("ttboost-server has no --tiktok-web yet");
  const char *extra[] = {"--speed", "4", "--end-after", "--tiktok-user", "demo_streamer", NULL};
  fake_start(&F, env_or_fail("TTB_TIKTOK_DEMO_TRACE"), extra);
  char tdir[] = "/tmp/ttb-tiktok-trace-XXXXXX";
  cr_assert_not_null(mkdtemp(tdir));
  const char *sx[] = {"--tiktok",
                      "on",
                      "--tiktok-web",
                      F.web,
                      "--tiktok-ws",
                      F.ws,
                      "--tiktok-lookup-s",
                      "1",
                      "--tiktok-heartbeat-s",
                      "1",
                      "--tiktok-trace",
                      tdir,
                      NULL};
  srv_start(&S, sx, false);
  const char *args[] = {"license", "create", "--days", "1", "--tiktok", "demo_streamer", NULL};
  char key[512];
  cr_assert_eq(admin(&S, key, sizeof key, args), 0, "license create --tiktok: %s", key);
  key[strcspn(key, "\r\n")] = '\0';
  char user_id[64], token[128];
  cr_assert_eq(login(&S, key, NULL, user_id, token), 200);
  char path[256];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(&W, &S, path, NULL), 0);

  size_t chats = 0, roses = 0, galaxies = 0, other_gifts = 0;
  bool live = false, ended = false, order_ok = true;
  char bad[512] = "";
  uint64_t end = mono_ms() + 120000;
  static char m[65536];
  while (mono_ms() < end && !(chats >= N_DEMO_CHATS && roses + galaxies >= 2 && ended)) {
    if (!ws_text(&W, m, sizeof m, 500))
      continue;
    char type[32] = "", a[512] = "", b[512] = "";
    json_str(m, "type", type, sizeof type);
    if (strcmp(type, "chat") == 0) {
      json_str(m, "user", a, sizeof a);
      json_str(m, "message", b, sizeof b);
      if (chats < N_DEMO_CHATS &&
          (strcmp(a, demo_chats[chats].user) != 0 || strcmp(b, demo_chats[chats].message) != 0)) {
        if (order_ok)
          snprintf(bad, sizeof bad, "chat #%zu: got %s: %s, expected %s: %s", chats, a, b,
                   demo_chats[chats].user, demo_chats[chats].message);
        order_ok = false;
      }
      chats++;
    } else if (strcmp(type, "gift") == 0) {
      json_str(m, "gift_name", a, sizeof a);
      long long n = json_num(m, "count");
      json_str(m, "user", b, sizeof b);
      if (strcmp(a, "Rose") == 0 && n == 5 && strcmp(b, "Дмитрий") == 0)
        roses++;
      else if (strcmp(a, "Galaxy") == 0 && n == 1)
        galaxies++;
      else
        other_gifts++;
    } else if (strcmp(type, "status") == 0) {
      json_str(m, "tiktok", a, sizeof a);
      if (strcmp(a, "live") == 0)
        live = true;
      else if (live && (strcmp(a, "ended") == 0 || strcmp(a, "waiting") == 0))
        ended = true;
    }
  }
  /* anything more (twice) would come now */
  uint64_t quiet_until = mono_ms() + 3000;
  while (mono_ms() < quiet_until) {
    if (!ws_text(&W, m, sizeof m, 200))
      continue;
    char type[32] = "";
    json_str(m, "type", type, sizeof type);
    if (strcmp(type, "chat") == 0)
      chats++;
    else if (strcmp(type, "gift") == 0)
      other_gifts++;
  }
  ws_close(&W);
  fake_read(&F, 100);
  cr_expect(live, "the device never saw TikTok live");
  cr_expect(ended, "the device never saw the stream end");
  cr_expect_eq(chats, N_DEMO_CHATS, "chats: %zu (the re-sent one must be dropped)", chats);
  cr_expect(order_ok, "%s", bad);
  cr_expect_eq(roses, 1u, "one gift event for the Rose streak, count 5");
  cr_expect_eq(galaxies, 1u, "one Galaxy");
  cr_expect_eq(other_gifts, 0u, "no other gift events (streak steps published separately?)");
  /* the connector as the fake saw it */
  cr_expect(strstr(F.log, "client im_enter_room room_id=7301234567890123456"), "%s", F.log);
  cr_expect(strstr(F.log, "client hb room_id=7301234567890123456"), "%s", F.log);
  cr_expect(strstr(F.log, ": ok\n"), "no ack: %s", F.log);
  cr_expect_null(strstr(F.log, "asked for an ack"), "%s", F.log);
  cr_expect_null(strstr(F.log, "is not the frame's internal_ext"), "%s", F.log);
  cr_expect(strstr(F.log, "all 25 frames sent; the stream ended"), "%s", F.log);
  srv_stop(&S);
  srv_cleanup(&S);

  /* the connector's --tiktok-trace of that connection holds what the fake sent: the
   * demo's 25 messages byte for byte, in order, between them only the answers to its
   * heartbeats, and the end of the stream; ttb-trace reads it */
  DIR *d = opendir(tdir);
  cr_assert_not_null(d);
  struct dirent *e;
  char rec[512] = "";
  size_t files = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    files++;
    snprintf(rec, sizeof rec, "%s/%s", tdir, e->d_name);
  }
  closedir(d);
  cr_expect_eq(files, 1u, "one trace per connection");
  if (rec[0]) {
    msgs demo, got;
    load_msgs(env_or_fail("TTB_TIKTOK_DEMO_TRACE"), &demo);
    load_msgs(rec, &got);
    size_t k = 0, hbs = 0, ends = 0;
    for (size_t i = 0; i < got.n; i++) {
      if (k < demo.n && got.len[i] == demo.len[k] && memcmp(got.d[i], demo.d[k], got.len[i]) == 0) {
        k++;
        continue;
      }
      Tiktok__Webcast__PushFrame *pf =
          tiktok__webcast__push_frame__unpack(NULL, got.len[i], got.d[i]);
      cr_assert_not_null(pf, "recorded message %zu is no PushFrame", i);
      if (strcmp(pf->payload_type, "hb") == 0)
        hbs++;
      else if (k == demo.n && strcmp(pf->payload_type, "msg") == 0)
        ends++;
      else
        cr_expect_fail("recorded message %zu is not the trace's #%zu", i, k);
      tiktok__webcast__push_frame__free_unpacked(pf, NULL);
    }
    cr_expect_eq(k, demo.n, "%zu of the demo's messages recorded in order", k);
    cr_expect_gt(hbs, 0u);
    cr_expect_eq(ends, 1u, "the end of the stream recorded");
    const char *argv[] = {env_or_fail("TTB_TRACE"), "dump", rec, NULL};
    cr_expect_eq(run_capture(argv, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "\"source\":\"ttboost-server tiktok\""), "%.500s", out);
    cr_expect_eq(count(out, "\"method\":\"WebcastChatMessage\""), 18);
    cr_expect(strstr(out, "\"action\":3,\"meaning\":\"stream ended\""));
    free_msgs(&demo);
    free_msgs(&got);
    unlink(rec);
  }
  rmdir(tdir);
}
