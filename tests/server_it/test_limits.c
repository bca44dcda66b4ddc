/*
 * Operator-only surfaces and limits, against the real binary: /metrics only
 * with its token or on its own listener, /sounds/ serving the pack's .ogg
 * files and nothing else, the /tts/generate bucket per token, and the
 * database locked by another process while sockets and ingest go on.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static srv S;

static void setup(void) { srv_start(&S, NULL, false); }
static void teardown(void)
{
  cr_expect_eq(srv_stop(&S), 0, "the server did not stop gracefully");
  srv_cleanup(&S);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120);

/* Restarts S on its data dir with extra flags. */
static void restart(const char *const *extra)
{
  cr_assert_eq(srv_stop(&S), 0);
  srv_start(&S, extra, true);
}

/* A loopback port that was free a moment ago. */
static int free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

Test(limits, metrics_want_the_token_on_the_main_port)
{
  http_resp r;
  http(&S, "GET", "/metrics", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 401, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_") == NULL);
  http_free(&r);
  http(&S, "GET", "/metrics", "Authorization: Bearer test-metrics-token-0123456789x\r\n", NULL, 0,
       &r);
  cr_expect_eq(r.status, 401);
  http_free(&r);
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"tts_burst\"} 20") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"tts_per_min\"} 60") != NULL);
  http_free(&r);
}

Test(limits, metrics_are_off_by_default_and_on_their_own_listener)
{
  /* no token file: no /metrics on the main port */
  const char *const none[] = {"--metrics-token-file", "", NULL};
  restart(none);
  http_resp r;
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect_eq(r.status, 404, "%s", r.body);
  http_free(&r);

  char ml[64];
  int mport = free_port();
  snprintf(ml, sizeof ml, "127.0.0.1:%d", mport);
  const char *const listener[] = {"--metrics-token-file", "", "--metrics-listen", ml, NULL};
  restart(listener);
  srv m = S;
  m.port = mport;
  http(&m, "GET", "/metrics", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, "ttboost_sockets_open") != NULL);
  http_free(&r);
  /* that listener serves nothing else, and the main port still no /metrics */
  http(&m, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
  http(&m, "POST", "/auth/login", NULL, "{}", 2, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
  http(&S, "GET", "/metrics", "Host: metrics\r\n", NULL, 0, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
  http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
}

Test(limits, sounds_serve_only_the_pack)
{
  http_resp r;
  static const char *const ok[] = {"/sounds/default.ogg", "/sounds/chime.ogg", "/sounds/bell.ogg"};
  http(&S, "GET", ok[0], NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strcasestr(r.headers, "immutable") != NULL, "%s", r.headers);
  http_free(&r);
  http(&S, "GET", ok[2], NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
  /* in a build tree the sounds sit beside make-sounds and its objects */
  static const char *const bad[] = {"/sounds/make-sounds",
                                    "/sounds/",
                                    "/sounds",
                                    "/sounds/make-sounds.p/",
                                    "/sounds/meson.build",
                                    "/sounds/default.ogg/../make-sounds",
                                    "/sounds/DEFAULT.ogg"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    http(&S, "GET", bad[i], NULL, NULL, 0, &r);
    cr_expect_eq(r.status, 404, "%s: %d", bad[i], r.status);
    cr_expect(strstr(r.body, "ELF") == NULL, "%s served a binary", bad[i]);
    http_free(&r);
  }
}

Test(limits, tts_generate_has_a_bucket_per_token)
{
  const char *const small[] = {"--tts-burst", "3", "--tts-per-min", "60", NULL};
  restart(small);
  char key[128], user[64], tok[2][64], hdr[160];
  new_key(&S, key, sizeof key, NULL, "2");
  cr_assert_eq(login(&S, key, "phone", user, tok[0]), 200);
  cr_assert_eq(login(&S, key, "tablet", user, tok[1]), 200);
  const char *body = "{\"text\":\"bucket\"}";
  http_resp r;
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           tok[0]);
  for (int i = 0; i < 3; i++) {
    http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
    cr_expect_eq(r.status, 200, "request %d: %d %s", i, r.status, r.body);
    http_free(&r);
  }
  http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
  cr_expect_eq(r.status, 429, "%s", r.body);
  cr_expect(strcasestr(r.headers, "retry-after: 1") != NULL, "%s", r.headers);
  cr_expect(strstr(r.body, "too_many_requests") != NULL, "%s", r.body);
  http_free(&r);
  /* another token has its own bucket */
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           tok[1]);
  http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
  /* a second later the first has one again */
  sleep(1);
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           tok[0]);
  http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
  cr_expect_eq(r.status, 200, "%s", r.body);
  http_free(&r);
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_tts_rate_limited_total 1") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"tts_burst\"} 3") != NULL);
  http_free(&r);
}

/* ------------------------------------------------------------ a locked database */

/* Holds the database's write lock for `secs` from another process, as a
 * long admin write could (WAL: readers go on, every writer waits). */
static const char LOCKER[] = "import sqlite3, sys, time\n"
                             "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n"
                             "c.execute('BEGIN EXCLUSIVE')\n"
                             "c.execute('UPDATE licenses SET note = note')\n"
                             "print('locked', flush=True)\n"
                             "time.sleep(float(sys.argv[2]))\n"
                             "c.execute('COMMIT')\n";

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sends an HTTP request on a new connection without waiting for the answer. */
static int send_request(int port, const char *req)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
  return fd;
}

/* Waits for a text frame containing `what`; false after timeout_ms. */
static bool ws_wait_for(ws *w, const char *what, int timeout_ms)
{
  char m[4096];
  double end = now_s() + timeout_ms / 1000.0;
  while (now_s() < end) {
    int left = (int)((end - now_s()) * 1000) + 1;
    if (!ws_text(w, m, sizeof m, left))
      return false;
    if (strstr(m, what))
      return true;
  }
  return false;
}

/* Reads what two sockets have (nothing is expected: their pings are
 * answered), for about 50 ms. */
static void answer_pings(ws *a, ws *b)
{
  const uint8_t *d;
  size_t l;
  while (ws_recv(a, &d, &l, 25) > 0)
    ;
  while (ws_recv(b, &d, &l, 25) > 0)
    ;
}

Test(limits, a_locked_database_stalls_no_socket, .timeout = 120)
{
  if (access("/usr/bin/python3", X_OK) != 0)
    cr_skip_test("no /usr/bin/python3 to lock the database with");
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, "2");
  cr_assert_eq(login(&S, key, "phone", user, token), 200);
  char path[128];
  snprintf(path, sizeof path, "/ws/%s", token);
  ws w1, w2;
  cr_assert_eq(ws_connect(&w1, &S, path, NULL), 0);
  cr_assert(ws_wait_for(&w1, "\"hello\"", 5000));

  char db[300];
  snprintf(db, sizeof db, "%s/ttboost.db", S.dir);
  int out[2];
  cr_assert_eq(pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  const char *argv[] = {"/usr/bin/python3", "-c", LOCKER, db, "10", NULL};
  pid_t locker;
  extern char **environ;
  cr_assert_eq(posix_spawn(&locker, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  char said[64] = "";
  struct pollfd p = {out[0], POLLIN, 0};
  cr_assert(poll(&p, 1, 10000) > 0 && read(out[0], said, sizeof said - 1) > 0 &&
                strstr(said, "locked"),
            "the locker did not lock: %s", said);
  double locked_at = now_s();

  /* a login (a write) waits for the lock on the database thread, not on the loop */
  char lbody[256], lreq[512];
  snprintf(lbody, sizeof lbody, "{\"license_key\":\"%s\",\"device_id\":\"tablet\"}", key);
  snprintf(lreq, sizeof lreq,
           "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
           strlen(lbody), lbody);
  int lfd = send_request(S.port, lreq);

  /* for 8 s of the 10: ingest is accepted at once and the socket gets it,
   * pings are answered, a new socket with the same token is let in */
  int n = 0;
  bool second = false;
  while (now_s() - locked_at < 8.0) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"Rose "
             "%d\",\"count\":1}",
             user, n);
    http_resp r;
    double t0 = now_s();
    cr_assert_eq(ingest(&S, body, &r), 202, "event %d refused while the database is locked: %s", n,
                 r.body);
    cr_expect_lt(now_s() - t0, 0.5, "ingest took %.2f s", now_s() - t0);
    cr_expect(strstr(r.body, "channel_inactive") == NULL, "%s", r.body);
    http_free(&r);
    char want[32];
    snprintf(want, sizeof want, "Rose %d\"", n);
    t0 = now_s();
    cr_assert(ws_wait_for(&w1, want, 2000), "event %d did not arrive", n);
    cr_expect_lt(now_s() - t0, 0.5);
    if (second) /* read it too: its pongs keep it alive (heartbeat 1 s) */
      cr_assert(ws_wait_for(&w2, want, 2000), "event %d did not reach the second socket", n);
    const char *ping = "{\"type\":\"ping\",\"client_time_ms\":42}";
    ws_send(&w1, 1, ping, strlen(ping));
    cr_assert(ws_wait_for(&w1, "\"pong\"", 1000), "no pong while the database is locked");
    t0 = now_s();
    http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
    cr_expect_eq(r.status, 200);
    cr_expect_lt(now_s() - t0, 0.5);
    http_free(&r);
    if (!second && now_s() - locked_at > 3.0) {
      /* the cached answer is stale by now: the last known one lets it in */
      t0 = now_s();
      cr_assert_eq(ws_connect(&w2, &S, path, NULL), 0);
      cr_assert(ws_wait_for(&w2, "\"hello\"", 5000),
                "a known token was refused while the database is locked");
      cr_expect_lt(now_s() - t0, 3.0, "the socket waited %.2f s", now_s() - t0);
      second = true;
    }
    n++;
    usleep(200000);
  }
  cr_expect(second);
  cr_expect_geq(n, 10);
  /* the login was answered meanwhile: busy, try again (503), or done */
  char lresp[2048] = "";
  /* (meanwhile, and while the locker ends, both sockets read and answer the
   * server's pings: a client silent for 3 heartbeats is cut as dead) */
  struct pollfd lp = {lfd, POLLIN, 0};
  double wait_from = now_s();
  while (poll(&lp, 1, 50) == 0 && now_s() - wait_from < 5.0)
    answer_pings(&w1, &w2);
  cr_assert(lp.revents & POLLIN, "the login was never answered");
  cr_assert_gt(read(lfd, lresp, sizeof lresp - 1), 0);
  cr_expect(strncmp(lresp, "HTTP/1.1 503", 12) == 0 || strncmp(lresp, "HTTP/1.1 200", 12) == 0,
            "%s", lresp);
  close(lfd);
  int st = 0;
  pid_t waited;
  while ((waited = waitpid(locker, &st, WNOHANG)) == 0)
    answer_pings(&w1, &w2);
  cr_assert_eq(waited, locker, "the locker could not be waited for");
  close(out[0]);
  cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the locker failed");

  /* after it: logins work, both sockets still open, and the metrics say what happened */
  char u2[64], t2[64];
  cr_expect_eq(login(&S, key, "tablet", u2, t2), 200);
  char body[256];
  snprintf(
      body, sizeof body,
      "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"After\",\"count\":1}",
      user);
  http_resp r;
  cr_expect_eq(ingest(&S, body, &r), 202);
  http_free(&r);
  cr_expect(ws_wait_for(&w1, "After", 3000));
  cr_expect(ws_wait_for(&w2, "After", 3000));
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  const char *errs = strstr(r.body, "\nttboost_db_errors_total ");
  cr_expect(errs && atoll(errs + 25) >= 1, "the login met no lock? %s", r.body);
  http_free(&r);
  ws_close(&w1);
  ws_close(&w2);
}

/* ------------------------------------------------------------ sockets per license */

/* Reads w until its close; the close code (0 when none came), the last text in m. */
static int close_code(ws *w, char *m, size_t cap)
{
  const uint8_t *d;
  size_t n;
  int op;
  while ((op = ws_recv(w, &d, &n, 5000)) > 0) {
    if (op == 1)
      snprintf(m, cap, "%.*s", (int)n, (const char *)d);
    if (op == 8)
      return n >= 2 ? d[0] << 8 | d[1] : 0;
  }
  return 0;
}

Test(limits, sockets_per_license)
{
  char key[128], user[64], token[64], path[128], m[512] = "";
  new_key(&S, key, sizeof key, NULL, "1"); /* 1 device: 2 sockets */
  cr_assert_eq(login(&S, key, "phone", user, token), 200);
  snprintf(path, sizeof path, "/ws/%s", token);
  ws w[3];
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(ws_connect(&w[i], &S, path, NULL), 0);
    cr_assert(ws_wait_for(&w[i], "\"hello\"", 5000), "socket %d", i);
  }
  cr_assert_eq(ws_connect(&w[2], &S, path, NULL), 0);
  cr_expect_eq(close_code(&w[2], m, sizeof m), 4029);
  cr_expect(strstr(m, "\"error\":\"too_many_sockets\"") != NULL, "%s", m);
  ws_close(&w[2]);
  /* one closes: there is room again */
  ws_close(&w[0]);
  usleep(300000);
  cr_assert_eq(ws_connect(&w[0], &S, path, NULL), 0);
  cr_expect(ws_wait_for(&w[0], "\"hello\"", 5000), "a socket after one left was refused");
  http_resp r;
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_sockets_refused_total{reason=\"license_limit\"} 1") != NULL,
            "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"sockets_per_device\"} 2") != NULL);
  http_free(&r);
  ws_close(&w[0]);
  ws_close(&w[1]);

  /* no device limit: the cap */
  const char *const cap[] = {"--max-sockets-per-license", "3", NULL};
  restart(cap);
  new_key(&S, key, sizeof key, NULL, "0");
  cr_assert_eq(login(&S, key, "phone", user, token), 200);
  snprintf(path, sizeof path, "/ws/%s", token);
  ws v[4];
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(ws_connect(&v[i], &S, path, NULL), 0);
    cr_assert(ws_wait_for(&v[i], "\"hello\"", 5000), "socket %d", i);
  }
  cr_assert_eq(ws_connect(&v[3], &S, path, NULL), 0);
  cr_expect_eq(close_code(&v[3], m, sizeof m), 4029);
  for (int i = 0; i < 4; i++)
    ws_close(&v[i]);
}

/* ------------------------------------------------------------ idle channels */

Test(limits, an_idle_channels_history_is_freed_its_seq_goes_on)
{
  const char *const idle[] = {"--channel-idle-s", "2", NULL};
  restart(idle);
  char key[128], user[64], token[64], path[160], m[4096];
  new_key(&S, key, sizeof key, NULL, "1");
  cr_assert_eq(login(&S, key, "phone", user, token), 200);
  for (int i = 0; i < 3; i++) {
    char body[256];
    snprintf(
        body, sizeof body,
        "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G%d\",\"count\":1}",
        user, i);
    http_resp r;
    cr_assert_eq(ingest(&S, body, &r), 202);
    http_free(&r);
  }
  /* while it is fresh, a resume gets what it missed */
  snprintf(path, sizeof path, "/ws/%s?since=1", token);
  ws w;
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":false") != NULL || strstr(m, "resume_gap") == NULL, "%s", m);
  cr_expect(ws_wait_for(&w, "G2", 3000));
  ws_close(&w);
  /* idle for more than 2 s: the history goes */
  sleep(4);
  http_resp r;
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_histories_freed_total 1") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"channel_idle_s\"} 2") != NULL);
  http_free(&r);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":true") != NULL, "the lost history is reported: %s", m);
  cr_expect_eq(json_num(m, "missed"), 2, "%s", m);
  cr_expect_eq(json_num(m, "last_seq"), 3, "%s", m);
  /* and the numbering goes on */
  char body[256];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G3\",\"count\":1}",
           user);
  cr_assert_eq(ingest(&S, body, &r), 202);
  http_free(&r);
  bool got = false;
  while (!got && ws_text(&w, m, sizeof m, 3000))
    if (strstr(m, "G3")) {
      got = true;
      cr_expect_eq(json_num(m, "seq"), 4, "%s", m);
    }
  cr_expect(got);
  ws_close(&w);
}
