/*
 * ttb-replay, ttb-record and ttb-trace against the real server
 * ($TTBOOST_SERVER, $TTBOOST_ADMIN; the tools' paths in $TTB_REPLAY,
 * $TTB_RECORD, $TTB_TRACE; the demo trace in $TTB_DEMO_TRACE). The server
 * is started with tests/server_it's harness.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "trace_ext.h"

extern char **environ;

static srv S;
static char key[128], user_id[64], token[128];
static char tpath[64];

static void setup(void)
{
  srv_start(&S, NULL, false);
  new_key(&S, key, sizeof key, "1", "0");
  cr_assert_eq(login(&S, key, NULL, user_id, token), 200);
  snprintf(tpath, sizeof tpath, "/tmp/ttb-replay-XXXXXX");
  int fd = mkstemp(tpath);
  cr_assert(fd >= 0);
  close(fd);
}

static void teardown(void)
{
  srv_stop(&S);
  srv_cleanup(&S);
  unlink(tpath);
}

TestSuite(replay, .init = setup, .fini = teardown, .timeout = 180);

/* ------------------------------------------------------ making test traces */

static ttb_trace_writer *W;
static uint64_t T;

static void rec_ingest(Ttboost__V1__IngestEvent *e)
{
  char err[256];
  Ttboost__V1__TraceRecord r = TTBOOST__V1__TRACE_RECORD__INIT;
  r.time_us = T;
  r.direction = TTBOOST__V1__DIRECTION__DIRECTION_INGEST;
  r.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_INGEST;
  r.ingest = e;
  cr_assert_eq(ttb_trace_write(W, &r, err, sizeof err), 0, "%s", err);
}

static void in_chat(const char *user, const char *msg)
{
  Ttboost__V1__IngestChat c = TTBOOST__V1__INGEST_CHAT__INIT;
  c.user = (char *)user;
  c.message = (char *)msg;
  Ttboost__V1__IngestEvent e = TTBOOST__V1__INGEST_EVENT__INIT;
  e.channel = "placeholder";
  e.event_case = TTBOOST__V1__INGEST_EVENT__EVENT_CHAT;
  e.chat = &c;
  rec_ingest(&e);
}

static void in_gift(const char *user, const char *gift, uint32_t rc, bool end, uint32_t count)
{
  Ttboost__V1__IngestGift g = TTBOOST__V1__INGEST_GIFT__INIT;
  g.user = (char *)user;
  g.user_id = (char *)user;
  g.gift_name = (char *)gift;
  g.repeat_count = rc;
  g.repeat_end = end;
  g.count = count;
  Ttboost__V1__IngestEvent e = TTBOOST__V1__INGEST_EVENT__INIT;
  e.channel = "placeholder";
  e.event_case = TTBOOST__V1__INGEST_EVENT__EVENT_GIFT;
  e.gift = &g;
  rec_ingest(&e);
}

static void out_msg(Ttboost__V1__ServerMessage *m)
{
  char err[256];
  Ttboost__V1__TraceRecord r = TTBOOST__V1__TRACE_RECORD__INIT;
  r.time_us = T;
  r.direction = TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT;
  r.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
  r.server = m;
  cr_assert_eq(ttb_trace_write(W, &r, err, sizeof err), 0, "%s", err);
}

static void out_chat(uint64_t seq, const char *user, const char *msg, const char *tts)
{
  Ttboost__V1__ChatEvent c = TTBOOST__V1__CHAT_EVENT__INIT;
  c.user = (char *)user;
  c.message = (char *)msg;
  c.tts_url = (char *)tts;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.seq = seq;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
  m.chat = &c;
  out_msg(&m);
}

static void out_gift(uint64_t seq, const char *user, const char *gift, uint32_t count,
                     const char *sound)
{
  Ttboost__V1__GiftEvent g = TTBOOST__V1__GIFT_EVENT__INIT;
  g.user = (char *)user;
  g.gift_name = (char *)gift;
  g.count = count;
  g.sound_url = (char *)sound;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.seq = seq;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
  m.gift = &g;
  out_msg(&m);
}

/* What variant to write: 0 right, 1 a changed message and count, 2 one
 * message too many expected, 3 two messages swapped, 4 one message fewer. */
static void make_trace(int variant)
{
  char err[256];
  cr_assert_eq(ttb_trace_writer_open_at(tpath, "test", NULL, 1, &W, err, sizeof err), 0, "%s", err);
  T = 0;
  in_chat("Aruka", "Сәлем! қалың қалай? 👋");
  out_chat(100, "Aruka", variant == 1 ? "Сәлем! қалың қалай?" : "Сәлем! қалың қалай? 👋",
           "http://elsewhere.example:9/tts/0123.ogg");
  T = 50000;
  for (uint32_t i = 1; i <= 4; i++, T += 10000)
    in_gift("Bob", "Rose", i, false, 1);
  in_gift("Bob", "Rose", 4, true, 1);
  in_chat("Jess", "hello there");
  if (variant == 3) {
    out_chat(102, "Jess", "hello there", "/tts/*.ogg");
    out_gift(101, "Bob", "Rose", 4, "/sounds/chime.ogg");
  } else {
    out_gift(101, "Bob", "Rose", variant == 1 ? 5 : 4, "/sounds/chime.ogg");
    if (variant != 4)
      out_chat(102, "Jess", "hello there", "/tts/*.ogg");
  }
  T += 10000;
  in_gift("Jess", "Galaxy", 0, false, 1);
  out_gift(103, "Jess", "Galaxy", 1, "https://cdn.example/sounds/whoosh.ogg");
  in_gift("Jess", "Unheard Of Gift", 0, false, 3);
  out_gift(104, "Jess", "Unheard Of Gift", 3, "/sounds/*.ogg");
  if (variant == 2)
    out_chat(105, "Nobody", "never sent", "/tts/*.ogg");
  cr_assert_eq(ttb_trace_writer_close(W, err, sizeof err), 0, "%s", err);
}

/* ttb-replay FILE --expect … EXTRA; timeout: how long it waits for messages
 * still expected after the last post (long where all should come, short
 * where one never will). */
static int replay_t(const char *file, const char *extra, const char *timeout, char *out, size_t cap)
{
  /* the ingest secret: TTBOOST_INGEST_SECRET, as the harness set it */
  const char *argv[20] = {env_or_fail("TTB_REPLAY"),
                          file,
                          "--server",
                          S.url,
                          "--key",
                          key,
                          "--expect",
                          "--timeout",
                          timeout};
  int n = 9;
  if (extra)
    argv[n++] = extra;
  argv[n] = NULL;
  return run_capture(argv, out, cap);
}

static int replay(const char *file, const char *extra, char *out, size_t cap)
{
  return replay_t(file, extra, "90", out, cap);
}

/* ------------------------------------------------------------------ tests */

Test(replay, expect_passes)
{
  make_trace(0);
  static char out[1 << 16];
  int st = replay(tpath, "--max", out, sizeof out);
  cr_assert_eq(st, 0, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "match: 5 messages as expected"), "%s", out);
  /* again at the recorded pace, scaled, in binary mode (seq values differ now:
   * only their relative order counts) */
  st = replay(tpath, "--binary", out, sizeof out);
  cr_assert_eq(st, 0, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "match"), "%s", out);
}

Test(replay, tampered_fields_fail_with_a_diff)
{
  make_trace(1);
  static char out[1 << 16];
  int st = replay(tpath, "--max", out, sizeof out);
  cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "mismatch at expected #0 (trace record 1, t=0.000 s): message"), "%s", out);
  cr_assert(strstr(out, "mismatch at expected #1 (trace record 8, t=0.090 s): count"), "%s", out);
  cr_assert(strstr(out, "expected: {\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":5"), "%s",
            out);
  cr_assert(strstr(out, "got:      {\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":4"), "%s",
            out);
  cr_assert(strstr(out, "MISMATCH: 2 of 5"), "%s", out);
}

Test(replay, missing_message_fails)
{
  make_trace(2);
  static char out[1 << 16];
  int st = replay_t(tpath, "--max", "3", out, sizeof out);
  cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "missing expected #5"), "%s", out);
  cr_assert(strstr(out, "never sent"), "%s", out);
}

Test(replay, order_matters)
{
  make_trace(3);
  static char out[1 << 16];
  int st = replay(tpath, "--max", out, sizeof out);
  cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "type (expected chat, got gift)"), "%s", out);
}

Test(replay, unexpected_message_fails)
{
  make_trace(4);
  static char out[1 << 16];
  int st = replay(tpath, "--max", out, sizeof out);
  cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "unexpected message #4"), "%s", out);
}

Test(replay, demo_trace_matches)
{
  static char out[1 << 16];
  int st = replay(env_or_fail("TTB_DEMO_TRACE"), "--max", out, sizeof out);
  cr_assert_eq(st, 0, "exit %d:\n%s", st, out);
  cr_assert(strstr(out, "match: 158 messages as expected"), "%s", out);
}

Test(replay, usage_errors)
{
  static char out[1 << 14];
  make_trace(0);
  const char *no_key[] = {env_or_fail("TTB_REPLAY"), tpath, "--server", S.url, "--expect", NULL};
  cr_assert_eq(run_capture(no_key, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "--expect needs --key"), "%s", out);
  const char *both[] = {
      env_or_fail("TTB_REPLAY"), tpath, "--server", S.url, "--max", "--speed", "2", NULL};
  cr_assert_eq(run_capture(both, out, sizeof out), 2, "%s", out);
  const char *help[] = {env_or_fail("TTB_REPLAY"), "--help", NULL};
  cr_assert_eq(run_capture(help, out, sizeof out), 0);
  cr_assert(strstr(out, "usage: ttb-replay"), "%s", out);
  char wrong[300];
  snprintf(wrong, sizeof wrong, "%s/wrong_secret", S.dir);
  FILE *wf = fopen(wrong, "w");
  cr_assert_not_null(wf);
  fputs("wrong\n", wf);
  fclose(wf);
  const char *bad_secret[] = {env_or_fail("TTB_REPLAY"),
                              tpath,
                              "--server",
                              S.url,
                              "--ingest-secret-file",
                              wrong,
                              "--channel",
                              user_id,
                              NULL};
  cr_assert_eq(run_capture(bad_secret, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "HTTP 401"), "%s", out);
  /* the secret is never an argument */
  const char *in_argv[] = {env_or_fail("TTB_REPLAY"), tpath,       "--server", S.url,
                           "--ingest-secret",         TEST_SECRET, NULL};
  cr_assert_eq(run_capture(in_argv, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "--ingest-secret-file"), "%s", out);
  const char *not_trace[] = {
      env_or_fail("TTB_REPLAY"), "/etc/hostname", "--server", S.url, "--channel", user_id, NULL};
  cr_assert_eq(run_capture(not_trace, out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "not a trace"), "%s", out);
}

Test(replay, without_expect_posts_to_the_channel)
{
  make_trace(0);
  ws w;
  char path[200];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  char msg[4096];
  cr_assert(ws_text(&w, msg, sizeof msg, 5000));
  cr_assert(strstr(msg, "\"hello\""), "%s", msg);
  static char out[1 << 14];
  const char *argv[] = {env_or_fail("TTB_REPLAY"),
                        tpath,
                        "--server",
                        S.url,
                        "--channel",
                        user_id,
                        "--speed",
                        "4",
                        NULL};
  int st = run_capture(argv, out, sizeof out);
  cr_assert_eq(st, 0, "%s", out);
  cr_assert(strstr(out, "9/9 events posted (100%)"), "%s", out);
  cr_assert(ws_text(&w, msg, sizeof msg, 10000));
  cr_assert(strstr(msg, "Сәлем! қалың қалай? 👋"), "%s", msg);
  ws_close(&w);
  /* a trace's own channel that no license has: refused, exit 1 */
  const char *own[] = {env_or_fail("TTB_REPLAY"), tpath, "--server", S.url, "--max", NULL};
  cr_assert_eq(run_capture(own, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "unknown_channel"), "%s", out);
}

Test(replay, record_json_and_binary)
{
  char bin_path[80];
  snprintf(bin_path, sizeof bin_path, "%s.bin", tpath);
  int p[2][2];
  pid_t pid[2];
  for (int k = 0; k < 2; k++) {
    const char *argv[] = {env_or_fail("TTB_RECORD"),
                          "--server",
                          S.url,
                          "--key",
                          key,
                          "--out",
                          k ? bin_path : tpath,
                          "--seconds",
                          "6",
                          k ? "--binary" : NULL,
                          NULL};
    cr_assert_eq(pipe(p[k]), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[k][1], 2);
    posix_spawn_file_actions_addclose(&fa, p[k][0]);
    cr_assert_eq(posix_spawn(&pid[k], argv[0], &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[k][1]);
  }
  /* wait until both have logged in and connected ("recording channel …") */
  char early[2][1024] = {"", ""};
  size_t elen[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    for (int tries = 0; tries < 300 && !strstr(early[k], "recording channel"); tries++) {
      struct pollfd pf = {p[k][0], POLLIN, 0};
      if (poll(&pf, 1, 100) <= 0)
        continue;
      ssize_t got = read(p[k][0], early[k] + elen[k], sizeof early[k] - 1 - elen[k]);
      cr_assert(got > 0, "ttb-record ended early: %s", early[k]);
      elen[k] += (size_t)got;
      early[k][elen[k]] = '\0';
    }
    cr_assert(strstr(early[k], "recording channel"), "ttb-record did not start: %s", early[k]);
  }
  http_resp r;
  char body[512];
  snprintf(body, sizeof body,
           "[{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"Dana\",\"message\":\"Өте жақсы\"},"
           "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"Dana\",\"gift_name\":\"Rose\","
           "\"count\":2}]",
           user_id, user_id);
  cr_assert_eq(ingest(&S, body, &r), 202);
  http_free(&r);
  for (int k = 0; k < 2; k++) {
    int st;
    waitpid(pid[k], &st, 0);
    char err[2048];
    ssize_t n = read(p[k][0], err, sizeof err - 1);
    err[n > 0 ? n : 0] = '\0';
    close(p[k][0]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ttb-record: %s", err);
  }
  static char out[1 << 16];
  const char *dump[] = {env_or_fail("TTB_TRACE"), "dump", tpath, NULL};
  cr_assert_eq(run_capture(dump, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "\"source\":\"ttb-record\""), "%s", out);
  cr_assert(
      strstr(out, "\"direction\":\"DIRECTION_SERVER_TO_CLIENT\",\"server\":{\"type\":\"hello\""),
      "%s", out);
  cr_assert(strstr(out, "\"type\":\"chat\",\"user\":\"Dana\",\"message\":\"Өте жақсы\""), "%s",
            out);
  cr_assert(strstr(out, "\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":2"), "%s", out);
  const char *dumpb[] = {env_or_fail("TTB_TRACE"), "dump", bin_path, NULL};
  cr_assert_eq(run_capture(dumpb, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "\"type\":\"audio\""), "binary mode records audio frames: %s", out);
  cr_assert(strstr(out, "\"message\":\"Өте жақсы\""), "%s", out);
  unlink(bin_path);
}

/* The number after `label` in the stats section starting with `section`. */
static long stat_of(const char *out, const char *section, const char *label)
{
  const char *p = strstr(out, section);
  cr_assert_not_null(p, "no section %s", section);
  char pat[64];
  snprintf(pat, sizeof pat, "  %s ", label);
  p = strstr(p, pat);
  cr_assert_not_null(p, "no %s", label);
  return strtol(p + strlen(pat), NULL, 10);
}

Test(replay, trace_tool)
{
  static char out[1 << 17];
  const char *stats[] = {env_or_fail("TTB_TRACE"), "stats", env_or_fail("TTB_DEMO_TRACE"), NULL};
  cr_assert_eq(run_capture(stats, out, sizeof out), 0, "%s", out);
  cr_assert_eq(stat_of(out, "ingest", "chat"), 141, "%s", out);
  cr_assert_eq(stat_of(out, "ingest", "streak ends"), 11, "%s", out);
  cr_assert_eq(stat_of(out, "server to client", "gift"), 17, "%s", out);
  const char *dump[] = {env_or_fail("TTB_TRACE"), "dump", env_or_fail("TTB_DEMO_TRACE"), NULL};
  cr_assert_eq(run_capture(dump, out, sizeof out), 0, "%s", out);
  cr_assert(strncmp(out, "{\"header\":{\"version\":1,\"created_us\":1767225600000000,", 52) == 0,
            "%s", out);
  cr_assert(
      strstr(
          out,
          "{\"time_us\":1500000,\"direction\":\"DIRECTION_INGEST\",\"ingest\":{\"type\":\"chat\""),
      "%s", out);
  /* a cut file: what was read is printed, then the error with the offset; exit 1 */
  FILE *f = fopen(env_or_fail("TTB_DEMO_TRACE"), "rb");
  cr_assert_not_null(f);
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  f = fopen(tpath, "wb");
  cr_assert_not_null(f);
  fwrite(buf, 1, n / 2, f);
  fclose(f);
  const char *cut[] = {env_or_fail("TTB_TRACE"), "dump", tpath, NULL};
  cr_assert_eq(run_capture(cut, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "truncated: the record at offset"), "%s", out);
  cr_assert(strstr(out, "DIRECTION_INGEST"), "%s", out);
  const char *help[] = {env_or_fail("TTB_TRACE"), "--help", NULL};
  cr_assert_eq(run_capture(help, out, sizeof out), 0);
  cr_assert(strstr(out, "usage: ttb-trace dump FILE"), "%s", out);
}

Test(replay, ids_per_run_or_stable)
{
  make_trace(0);
  static char out[1 << 14];
  /* a run twice: new ids each run, so both are published (QA re-runs work) */
  for (int run = 0; run < 2; run++) {
    int st = replay(tpath, "--max", out, sizeof out);
    cr_assert_eq(st, 0, "run %d: exit %d:\n%s", run, st, out);
    cr_assert_null(strstr(out, "duplicates"), "%s", out);
  }
  /* --stable-ids: the second run is all duplicates, dropped by the server */
  const char *stable[] = {env_or_fail("TTB_REPLAY"),
                          tpath,
                          "--server",
                          S.url,
                          "--channel",
                          user_id,
                          "--max",
                          "--stable-ids",
                          NULL};
  cr_assert_eq(run_capture(stable, out, sizeof out), 0, "%s", out);
  cr_assert_null(strstr(out, "duplicates"), "%s", out);
  cr_assert_eq(run_capture(stable, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "9 duplicates dropped by the server"), "%s", out);
}

Test(replay, a_channel_ingest_token)
{
  make_trace(0);
  char out[1 << 12], tok_path[300];
  const char *mk[] = {"ingest-token", "create", "--channel", user_id, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, mk), 0, "%s", out);
  snprintf(tok_path, sizeof tok_path, "%s/ingest_token", S.dir);
  FILE *f = fopen(tok_path, "w");
  cr_assert_not_null(f);
  fputs(out, f);
  fclose(f);
  static char res[1 << 14];
  const char *argv[] = {env_or_fail("TTB_REPLAY"),
                        tpath,
                        "--server",
                        S.url,
                        "--ingest-secret-file",
                        tok_path,
                        "--channel",
                        user_id,
                        "--max",
                        NULL};
  cr_assert_eq(run_capture(argv, res, sizeof res), 0, "%s", res);
  /* the trace's own channel is not the token's: 403 */
  const char *other[] = {env_or_fail("TTB_REPLAY"), tpath,    "--server", S.url,
                         "--ingest-secret-file",    tok_path, "--max",    NULL};
  cr_assert_eq(run_capture(other, res, sizeof res), 2, "%s", res);
  cr_assert(strstr(res, "HTTP 403"), "%s", res);
}
