/*
 * Credentials against the real server: per-channel ingest tokens (scope,
 * 403, revocation), the operator's ingest secret (from a file, from the
 * environment, generated; never in argv, never printed), idempotent ingest
 * by event id (within the window, per channel), and the token lifecycle
 * (POST /auth/logout and `ttboost-admin session revoke` close the sockets
 * of that session with 4001).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static srv S;
static char key[128], user[64], token[64];
static char key2[128], user2[64], token2[64];

static void start(const char *const *extra)
{
  srv_start(&S, extra, false);
  new_key(&S, key, sizeof key, NULL, "0");
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  new_key(&S, key2, sizeof key2, NULL, "0");
  cr_assert_eq(login(&S, key2, NULL, user2, token2), 200);
}

static void setup(void) { start(NULL); }

static void teardown(void)
{
  if (S.pid > 0) {
    srv_stop(&S);
    srv_cleanup(&S);
  }
}

TestSuite(tokens, .init = setup, .fini = teardown, .timeout = 90);
/* tests that start the server themselves */
TestSuite(tokens_cfg, .fini = teardown, .timeout = 90);

/* A new ingest token for channel (ttboost-admin), into tok[cap]. */
static void new_ingest_token(const char *channel, char *tok, size_t cap)
{
  char out[512];
  const char *args[] = {"ingest-token", "create", "--channel", channel, "--note", "it", NULL};
  cr_assert_eq(admin(&S, out, sizeof out, args), 0, "%s", out);
  out[strcspn(out, "\r\n")] = '\0';
  cr_assert_eq(strncmp(out, "TTI-", 4), 0, "the only line on stdout is the token: %s", out);
  cr_assert_eq(strlen(out), 30);
  snprintf(tok, cap, "%s", out);
}

/* POST /ingest/events with this bearer. */
static int post(const char *bearer, const char *body, http_resp *r)
{
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
           bearer);
  return http(&S, "POST", "/ingest/events", hdr, body, strlen(body), r);
}

static int post_status(const char *bearer, const char *body, char *err_code, size_t cap)
{
  http_resp r;
  int st = post(bearer, body, &r);
  if (err_code) {
    err_code[0] = '\0';
    json_str(r.body, "error", err_code, cap);
  }
  http_free(&r);
  return st;
}

static void chat_body(char *out, size_t cap, const char *channel, const char *msg, const char *id)
{
  char idpart[160] = "";
  if (id)
    snprintf(idpart, sizeof idpart, ",\"id\":\"%s\"", id);
  snprintf(out, cap, "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"u\",\"message\":\"%s\"%s}",
           channel, msg, idpart);
}

Test(tokens, ingest_token_posts_to_its_channel_only)
{
  char tok[64], body[1024], code[64];
  new_ingest_token(user, tok, sizeof tok);

  chat_body(body, sizeof body, user, "mine", NULL);
  cr_assert_eq(post_status(tok, body, code, sizeof code), 202);
  /* the channel may be left out: it is the token's */
  cr_assert_eq(post_status(tok, "{\"type\":\"chat\",\"user\":\"u\",\"message\":\"implied\"}", code,
                           sizeof code),
               202);

  chat_body(body, sizeof body, user2, "theirs", NULL);
  cr_assert_eq(post_status(tok, body, code, sizeof code), 403);
  cr_assert_str_eq(code, "forbidden_channel");

  /* a batch with one item of another channel is refused whole */
  char batch[2048];
  snprintf(
      batch, sizeof batch,
      "[{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"u\",\"message\":\"ok\"},"
      "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"Rose\",\"count\":1}]",
      user, user2);
  http_resp r;
  cr_assert_eq(post(tok, batch, &r), 403, "%s", r.body);
  cr_assert_eq(json_num(r.body, "accepted"), -1, "nothing was accepted: %s", r.body);
  http_free(&r);

  /* the operator's secret posts to any channel; without a channel is invalid */
  cr_assert_eq(post_status(TEST_SECRET, body, code, sizeof code), 202);
  cr_assert_eq(post_status(TEST_SECRET, "{\"type\":\"chat\",\"user\":\"u\",\"message\":\"x\"}",
                           code, sizeof code),
               400);

  /* unknown and revoked tokens: 401 */
  cr_assert_eq(post_status("TTI-AAAAAAAAAAAAAAAAAAAAAAAAAA", body, code, sizeof code), 401);
  cr_assert_eq(post_status(key, body, code, sizeof code), 401, "a license key is no ingest token");
  char out[512];
  const char *list[] = {"ingest-token", "list", NULL};
  cr_assert_eq(admin(&S, out, sizeof out, list), 0);
  cr_assert_null(strstr(out, tok), "the list shows no token: %s", out);
  cr_assert_not_null(strstr(out, user), "%s", out);
  const char *rev[] = {"ingest-token", "revoke", tok, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, rev), 0, "%s", out);
  chat_body(body, sizeof body, user, "after revoke", NULL);
  cr_assert_eq(post_status(tok, body, code, sizeof code), 401);
  cr_assert_eq(admin(&S, out, sizeof out, rev), 1, "revoked once");
}

Test(tokens, protobuf_batch_of_another_channel_is_403)
{
  char tok[64];
  new_ingest_token(user, tok, sizeof tok);
  /* IngestEvent{channel=user2, chat{user="u", message="m"}}, length-delimited */
  uint8_t msg[128];
  size_t n = 0;
  size_t cl = strlen(user2);
  uint8_t item[128];
  size_t k = 0;
  item[k++] = 0x0a;
  item[k++] = (uint8_t)cl;
  memcpy(item + k, user2, cl);
  k += cl;
  item[k++] = 0x12;
  item[k++] = 6;
  item[k++] = 0x0a, item[k++] = 1, item[k++] = 'u';
  item[k++] = 0x12, item[k++] = 1, item[k++] = 'm';
  msg[n++] = (uint8_t)k;
  memcpy(msg + n, item, k);
  n += k;
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Content-Type: application/x-protobuf\r\nAuthorization: Bearer %s\r\n",
           tok);
  http_resp r;
  cr_assert_eq(http(&S, "POST", "/ingest/events", hdr, msg, n, &r), 403, "%s", r.body);
  http_free(&r);
  snprintf(hdr, sizeof hdr, "Content-Type: application/x-protobuf\r\nAuthorization: Bearer %s\r\n",
           TEST_SECRET);
  cr_assert_eq(http(&S, "POST", "/ingest/events", hdr, msg, n, &r), 202, "%s", r.body);
  cr_assert_eq(json_num(r.body, "accepted"), 1, "%s", r.body);
  http_free(&r);
}

/* ------------------------------------------------------- the operator's secret */

/* The server's command line, NULs made spaces. */
static void cmdline_of(pid_t pid, char *out, size_t cap)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0);
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  cr_assert_gt(n, 0);
  for (ssize_t i = 0; i < n; i++)
    if (out[i] == '\0')
      out[i] = ' ';
  out[n] = '\0';
}

Test(tokens_cfg, secret_from_a_file)
{
  char file[] = "/tmp/ttb-secret-XXXXXX";
  int fd = mkstemp(file);
  cr_assert_geq(fd, 0);
  const char *secret = "from-a-file-0123456789abcdef";
  cr_assert_eq(write(fd, secret, strlen(secret)), (ssize_t)strlen(secret));
  cr_assert_eq(write(fd, "\n", 1), 1);
  close(fd);
  const char *extra[] = {"--ingest-secret-file", file, NULL};
  start(extra);
  char body[1024], cmd[4096];
  chat_body(body, sizeof body, user, "x", NULL);
  cr_assert_eq(post_status(secret, body, NULL, 0), 202);
  cr_assert_eq(post_status(TEST_SECRET, body, NULL, 0), 401, "the file wins over the environment");
  cmdline_of(S.pid, cmd, sizeof cmd);
  cr_assert_null(strstr(cmd, secret), "%s", cmd);
  unlink(file);
}

Test(tokens, secret_from_the_environment_not_in_argv)
{
  char body[1024], cmd[4096];
  chat_body(body, sizeof body, user, "x", NULL);
  cr_assert_eq(post_status(TEST_SECRET, body, NULL, 0), 202);
  cr_assert_eq(post_status("wrong", body, NULL, 0), 401);
  cmdline_of(S.pid, cmd, sizeof cmd);
  cr_assert_null(strstr(cmd, TEST_SECRET), "%s", cmd);
}

Test(tokens_cfg, generated_secret_is_kept_not_printed)
{
  setenv("TTBOOST_INGEST_SECRET", "", 1); /* the harness keeps an empty one: none */
  start(NULL);
  char path[400], secret[200] = "";
  snprintf(path, sizeof path, "%s/ingest_secret", S.dir);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_assert_not_null(fgets(secret, sizeof secret, f));
  fclose(f);
  secret[strcspn(secret, "\n")] = '\0';
  cr_assert_geq(strlen(secret), 32);
  char body[1024];
  chat_body(body, sizeof body, user, "x", NULL);
  cr_assert_eq(post_status(secret, body, NULL, 0), 202);
  cr_assert_eq(post_status(TEST_SECRET, body, NULL, 0), 401);
  /* what the server printed at start says where it is, not what */
  cr_assert_null(strstr(S.startup, secret), "%s", S.startup);
  cr_assert_not_null(strstr(S.startup, "ingest_secret"), "%s", S.startup);
}

Test(tokens_cfg, ingest_secret_flag_is_gone)
{
  const char *argv[] = {
      env_or_fail("TTBOOST_SERVER"), "--ingest-secret", "x", "--listen", "127.0.0.1:0", NULL};
  char out[2048];
  int rc = run_capture(argv, out, sizeof out);
  cr_assert_neq(rc, 0);
  cr_assert_not_null(strstr(out, "--ingest-secret-file"), "%s", out);
}

/* ------------------------------------------------------------- idempotent ingest */

/* Reads text frames until a chat with this message arrives (true) or
 * timeout_ms passes in silence (false). */
static bool wait_chat(ws *w, const char *message, int timeout_ms)
{
  char m[8192], needle[256];
  snprintf(needle, sizeof needle, "\"message\":\"%s\"", message);
  while (ws_text(w, m, sizeof m, timeout_ms))
    if (strstr(m, needle))
      return true;
  return false;
}

static void open_ws(ws *w, const char *tok)
{
  char path[128];
  snprintf(path, sizeof path, "/ws/%s", tok);
  cr_assert_eq(ws_connect(w, &S, path, NULL), 0);
  char m[4096];
  cr_assert(ws_text(w, m, sizeof m, 5000)); /* hello */
}

Test(tokens, an_id_seen_lately_is_acknowledged_and_dropped)
{
  ws w;
  open_ws(&w, token);
  char body[1024];
  http_resp r;
  chat_body(body, sizeof body, user, "once", "src-1");
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  cr_assert_eq(json_num(r.body, "accepted"), 1);
  cr_assert_eq(json_num(r.body, "duplicates"), -1, "%s", r.body);
  http_free(&r);
  cr_assert(wait_chat(&w, "once", 8000));
  /* the retry: acknowledged, counted as a duplicate, not published */
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  cr_assert_eq(json_num(r.body, "accepted"), 1, "%s", r.body);
  cr_assert_eq(json_num(r.body, "duplicates"), 1, "%s", r.body);
  cr_assert_str_eq(json_str(r.body, "status", (char[16]){0}, 16) ? "ok" : "?", "ok");
  http_free(&r);
  /* a batch with the same id twice publishes it once */
  char batch[2048], a[512];
  chat_body(a, sizeof a, user, "twice", "src-2");
  snprintf(batch, sizeof batch, "[%s,%s]", a, a);
  cr_assert_eq(ingest(&S, batch, &r), 202, "%s", r.body);
  cr_assert_eq(json_num(r.body, "accepted"), 2, "%s", r.body);
  cr_assert_eq(json_num(r.body, "duplicates"), 1, "%s", r.body);
  http_free(&r);
  cr_assert(wait_chat(&w, "twice", 8000));
  /* a marker: nothing of "once" or "twice" came again before it */
  chat_body(body, sizeof body, user, "marker", "src-3");
  cr_assert_eq(ingest(&S, body, &r), 202);
  http_free(&r);
  char m[8192];
  bool marker = false;
  while (!marker && ws_text(&w, m, sizeof m, 8000)) {
    cr_assert_null(strstr(m, "\"once\""), "a duplicate was published: %s", m);
    cr_assert_null(strstr(m, "\"twice\""), "a duplicate was published: %s", m);
    marker = strstr(m, "\"marker\"") != NULL;
  }
  cr_assert(marker);
  ws_close(&w);

  /* the same id on another channel is another event */
  chat_body(body, sizeof body, user2, "once", "src-1");
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  cr_assert_eq(json_num(r.body, "duplicates"), -1, "%s", r.body);
  http_free(&r);
  /* events without an id are never duplicates */
  chat_body(body, sizeof body, user, "no id", NULL);
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(ingest(&S, body, &r), 202);
    cr_assert_eq(json_num(r.body, "duplicates"), -1, "%s", r.body);
    http_free(&r);
  }
  cr_assert_eq(http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r), 200);
  cr_assert_not_null(strstr(r.body, "ttboost_events_duplicate_total 2"), "%s", r.body);
  http_free(&r);
}

Test(tokens_cfg, the_window_ends)
{
  const char *extra[] = {"--ingest-dedup-s", "1", NULL};
  start(extra);
  char body[1024];
  http_resp r;
  chat_body(body, sizeof body, user, "w", "late-1");
  cr_assert_eq(ingest(&S, body, &r), 202);
  http_free(&r);
  cr_assert_eq(ingest(&S, body, &r), 202);
  cr_assert_eq(json_num(r.body, "duplicates"), 1, "%s", r.body);
  http_free(&r);
  usleep(1500 * 1000);
  cr_assert_eq(ingest(&S, body, &r), 202);
  cr_assert_eq(json_num(r.body, "duplicates"), -1, "after the window it is new: %s", r.body);
  http_free(&r);
}

/* ------------------------------------------------------------- token lifecycle */

/* Reads until a close frame: its code, or -1 when none came in timeout_ms. */
static int close_code(ws *w, int timeout_ms)
{
  const uint8_t *d;
  size_t n;
  int op;
  while ((op = ws_recv(w, &d, &n, timeout_ms)) > 0)
    if (op == 8)
      return n >= 2 ? (d[0] << 8 | d[1]) : 0;
  return -1;
}

Test(tokens, logout_ends_the_token_and_closes_its_sockets)
{
  ws w, other;
  open_ws(&w, token);
  char tok_b[64], uid[64];
  cr_assert_eq(login(&S, key, "tablet", uid, tok_b), 200);
  open_ws(&other, tok_b); /* another session of the same license */
  http_resp r;
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(http(&S, "POST", "/auth/logout", hdr, NULL, 0, &r), 200, "%s", r.body);
  cr_assert_not_null(strstr(r.body, "\"status\":\"ok\""), "%s", r.body);
  http_free(&r);
  cr_assert_eq(close_code(&w, 5000), 4001);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cr_assert_lt(t1.tv_sec - t0.tv_sec, 4, "closed within seconds");
  ws_close(&w);
  /* the token no longer works anywhere */
  cr_assert_eq(http(&S, "POST", "/auth/logout", hdr, NULL, 0, &r), 401);
  http_free(&r);
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
           token);
  cr_assert_eq(http(&S, "POST", "/tts/generate", hdr, "{\"text\":\"hi\"}", 13, &r), 401);
  http_free(&r);
  char path[128];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  cr_assert_eq(close_code(&w, 5000), 4001);
  ws_close(&w);
  /* the other session lives on */
  char body[1024];
  chat_body(body, sizeof body, user, "still here", NULL);
  cr_assert_eq(ingest(&S, body, &r), 202);
  http_free(&r);
  cr_assert(wait_chat(&other, "still here", 8000));
  ws_close(&other);
  /* logout without a token, or with a bad one: 401; GET: 405 */
  cr_assert_eq(http(&S, "POST", "/auth/logout", NULL, NULL, 0, &r), 401);
  http_free(&r);
  cr_assert_eq(http(&S, "POST", "/auth/logout", "Authorization: Bearer 1\r\n", NULL, 0, &r), 401,
               "a session id is not a token");
  http_free(&r);
  cr_assert_eq(http(&S, "GET", "/auth/logout", NULL, NULL, 0, &r), 405);
  http_free(&r);
}

Test(tokens, admin_session_revoke_closes_the_socket)
{
  ws w;
  open_ws(&w, token);
  char out[8192];
  const char *list[] = {"session", "list", "--user", user, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, list), 0, "%s", out);
  cr_assert_null(strstr(out, token), "no secret in the list: %s", out);
  /* the header, then one row: ID HINT USER_ID ... */
  char *row = strchr(out, '\n');
  cr_assert_not_null(row);
  long long id = strtoll(row + 1, NULL, 10);
  cr_assert_gt(id, 0, "%s", out);
  char hint[8];
  snprintf(hint, sizeof hint, "%.4s", token);
  cr_assert_not_null(strstr(row, hint), "the hint: %s", out);
  cr_assert_not_null(strstr(row, "active"), "%s", out);
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%lld", id);
  const char *rev[] = {"session", "revoke", idtext, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, rev), 0, "%s", out);
  cr_assert_eq(close_code(&w, 5000), 4001);
  ws_close(&w);
  cr_assert_eq(admin(&S, out, sizeof out, list), 0);
  cr_assert_not_null(strstr(out, "ended"), "%s", out);
  /* the license is fine: the device logs in again */
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  open_ws(&w, token);
  ws_close(&w);
}
