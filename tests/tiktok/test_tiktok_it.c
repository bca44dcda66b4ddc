/*
 * The TikTok LIVE connector end to end: the real ttboost-server, pointed by
 * --tiktok-web and --tiktok-ws at fake_tiktok.py (a fake TikTok that follows
 * the public web protocol, written in Python with Google's protobuf, so no
 * code of ours on that side), and a device on the server's WebSocket that
 * must hear what the fake pushes: chats, one gift event per streak, the
 * TikTok status; nothing twice, across reconnects. The fake reports every
 * request and frame the connector sends, and flags protocol mistakes as
 * "violation" lines: each test fails on any.
 *
 * Short timers throughout (lookup 1 s, linger 2 s, heartbeat 1 s, dead 3 s,
 * backoff cap 2 s); the server's streak idle timeout is 3 s.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

/* ------------------------------------------------------------------ clock */

static long long now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- line logs */

/* Lines seen from one source (the fake's reports, a device's frames), with a
 * mark: waits look at lines after it and move it past what they found. */
typedef struct lines {
  char **v;
  size_t n, cap, mark;
} lines;

static void lines_add(lines *l, const char *s, size_t len)
{
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 256;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    cr_assert_not_null(l->v);
  }
  char *c = malloc(len + 1);
  cr_assert_not_null(c);
  memcpy(c, s, len);
  c[len] = '\0';
  l->v[l->n++] = c;
}

static void lines_free(lines *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  *l = (lines){0};
}

static bool has(const char *line, const char *a, const char *b)
{
  return strstr(line, a) && (b == NULL || strstr(line, b));
}

/* Index of the first line at or after from holding a (and b), or -1. */
static long lines_find(const lines *l, size_t from, const char *a, const char *b)
{
  for (size_t i = from; i < l->n; i++)
    if (has(l->v[i], a, b))
      return (long)i;
  return -1;
}

static size_t lines_count(const lines *l, size_t from, const char *a, const char *b)
{
  size_t k = 0;
  for (size_t i = from; i < l->n; i++)
    k += has(l->v[i], a, b);
  return k;
}

/* ------------------------------------------------------- the fake TikTok */

typedef struct fake {
  pid_t pid;
  int in_fd, out_fd;
  char web[128], ws[128];
  char buf[1 << 16];
  size_t blen;
  lines ev;
  size_t dones;
} fake;

/* ------------------------------------------------------------ the device */

typedef struct dev {
  ws *w;
  lines msg;
  bool closed;
} dev;

/* ------------------------------------------------------------ test state */

static srv S;
static fake F;
static dev D[2];
static char key[128], user_id[64], token[64];
static char slog[1 << 18]; /* the server's output */
static size_t slog_len;
static bool server_up;
static bool reached_end; /* the test body ran to its end: no logs to show */

#define HANDLE "streamer.one"
#define ROOM1 "7301234567890123401"
#define ROOM2 "7301234567890123499"

static void pump(int timeout_ms);

static void fake_read(void)
{
  for (;;) {
    ssize_t k = read(F.out_fd, F.buf + F.blen, sizeof F.buf - F.blen);
    if (k <= 0)
      return;
    F.blen += (size_t)k;
    char *nl;
    while ((nl = memchr(F.buf, '\n', F.blen)) != NULL) {
      size_t len = (size_t)(nl - F.buf);
      lines_add(&F.ev, F.buf, len);
      if (strncmp(F.buf, "{\"ev\":\"done\"", 12) == 0)
        F.dones++;
      memmove(F.buf, nl + 1, F.blen - len - 1);
      F.blen -= len + 1;
    }
    cr_assert(F.blen < sizeof F.buf, "a line from the fake is too long");
  }
}

static void fake_start(void)
{
  const char *script = getenv("TTB_FAKE_TIKTOK"), *proto = getenv("TTB_WEBCAST_PROTO");
  cr_assert(script && proto,
            "TTB_FAKE_TIKTOK / TTB_WEBCAST_PROTO are not set (run through meson test)");
  int in[2], out[2];
  cr_assert_eq(pipe(in), 0);
  cr_assert_eq(pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  const char *argv[] = {"/usr/bin/python3", script, "--schema", proto, NULL};
  int rc = posix_spawn(&F.pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  cr_assert_eq(rc, 0, "cannot start the fake: %s", strerror(rc));
  F.in_fd = in[1];
  F.out_fd = out[0];
  /* READY web=... ws=... */
  char line[512];
  size_t len = 0;
  long long t0 = now_ms();
  while (memchr(line, '\n', len) == NULL) {
    struct pollfd p = {F.out_fd, POLLIN, 0};
    cr_assert(now_ms() - t0 < 15000, "the fake did not say READY");
    if (poll(&p, 1, 200) <= 0)
      continue;
    ssize_t k = read(F.out_fd, line + len, sizeof line - 1 - len);
    cr_assert(k > 0, "the fake exited early");
    len += (size_t)k;
  }
  line[len] = '\0';
  cr_assert_eq(sscanf(line, "READY web=%127s ws=%127s", F.web, F.ws), 2, "%s", line);
  char *nl = strchr(line, '\n');
  F.blen = len - (size_t)(nl + 1 - line);
  memcpy(F.buf, nl + 1, F.blen);
  fcntl(F.out_fd, F_SETFL, O_NONBLOCK);
  fake_read();
}

/* Sends one JSON command and waits until the fake says it is done. */
static void fake_cmd(const char *fmt, ...)
{
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  cr_assert(n > 0 && (size_t)n < sizeof line - 1);
  line[n++] = '\n';
  size_t before = F.dones;
  cr_assert_eq(write(F.in_fd, line, (size_t)n), n, "writing to the fake");
  long long t0 = now_ms();
  while (F.dones == before) {
    cr_assert(now_ms() - t0 < 10000, "the fake did not carry out %s", line);
    pump(50);
    cr_assert(lines_find(&F.ev, 0, "\"ev\":\"bad_command\"", NULL) < 0, "the fake refused %s",
              line);
  }
}

/* Waits for a report holding a (and b) after the mark; moves the mark past
 * it. NULL on timeout. */
static const char *fake_wait(const char *a, const char *b, int timeout_ms)
{
  long long t0 = now_ms();
  for (;;) {
    long i = lines_find(&F.ev, F.ev.mark, a, b);
    if (i >= 0) {
      F.ev.mark = (size_t)i + 1;
      return F.ev.v[i];
    }
    if (now_ms() - t0 >= timeout_ms)
      return NULL;
    pump(50);
  }
}

static size_t fake_count(size_t from, const char *a, const char *b)
{
  return lines_count(&F.ev, from, a, b);
}

static void fake_stop(void)
{
  if (F.pid <= 0)
    return;
  close(F.in_fd); /* EOF: the fake exits */
  int st;
  for (int i = 0; i < 60 && waitpid(F.pid, &st, WNOHANG) == 0; i++)
    usleep(50000);
  if (waitpid(F.pid, &st, WNOHANG) == 0) {
    kill(F.pid, SIGKILL);
    waitpid(F.pid, &st, 0);
  }
  close(F.out_fd);
  F.pid = 0;
}

/* ---------------------------------------------------------- device side */

static void dev_open(dev *d)
{
  if (d->w == NULL)
    d->w = malloc(sizeof *d->w);
  cr_assert_not_null(d->w);
  char path[256];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(d->w, &S, path, NULL), 0, "the device's socket was refused");
  d->closed = false;
}

static void dev_close(dev *d)
{
  if (d->w && !d->closed) {
    ws_close(d->w);
    d->closed = true;
  }
}

static void dev_read(dev *d)
{
  if (d->w == NULL || d->closed)
    return;
  for (;;) {
    const uint8_t *data;
    size_t n;
    int op = ws_recv(d->w, &data, &n, 1);
    if (op == 1) {
      lines_add(&d->msg, (const char *)data, n);
    } else if (op == 0) {
      return;
    } else {
      d->closed = true;
      return;
    }
  }
}

/* Waits for a frame holding a (and b) after the mark; moves the mark past it. */
static const char *dev_wait(dev *d, const char *a, const char *b, int timeout_ms)
{
  long long t0 = now_ms();
  for (;;) {
    long i = lines_find(&d->msg, d->msg.mark, a, b);
    if (i >= 0) {
      d->msg.mark = (size_t)i + 1;
      return d->msg.v[i];
    }
    if (now_ms() - t0 >= timeout_ms)
      return NULL;
    pump(50);
  }
}

/* -------------------------------------------------------------- pumping */

static void slog_read(void)
{
  if (!server_up)
    return;
  for (;;) {
    char b[4096];
    ssize_t k = read(S.out_fd, b, sizeof b);
    if (k <= 0)
      return;
    size_t room = sizeof slog - 1 - slog_len;
    if ((size_t)k > room) { /* keep the newest half */
      memmove(slog, slog + sizeof slog / 2, slog_len - sizeof slog / 2);
      slog_len -= sizeof slog / 2;
    }
    memcpy(slog + slog_len, b, (size_t)k);
    slog_len += (size_t)k;
    slog[slog_len] = '\0';
  }
}

/* Reads whatever the fake, the devices and the server have to say, waiting
 * up to timeout_ms for something. */
static void pump(int timeout_ms)
{
  struct pollfd p[4];
  int n = 0;
  if (F.pid > 0)
    p[n++] = (struct pollfd){F.out_fd, POLLIN, 0};
  if (server_up)
    p[n++] = (struct pollfd){S.out_fd, POLLIN, 0};
  for (int i = 0; i < 2; i++)
    if (D[i].w && !D[i].closed)
      p[n++] = (struct pollfd){D[i].w->fd, POLLIN, 0};
  bool buffered = false;
  for (int i = 0; i < 2; i++)
    buffered |= D[i].w && !D[i].closed && ws_pending(D[i].w);
  poll(p, (nfds_t)n, buffered ? 0 : timeout_ms);
  if (F.pid > 0)
    fake_read();
  slog_read();
  for (int i = 0; i < 2; i++)
    dev_read(&D[i]);
}

/* Pumps for ms, collecting everything (a quiet period before a negative
 * check). */
static void settle(int ms)
{
  long long t0 = now_ms();
  while (now_ms() - t0 < ms)
    pump(20);
}

/* ---------------------------------------------------------- the server */

/* The server pointed at the fake, short timers; trace_dir: --tiktok-trace
 * (NULL: none). */
static void server_start_traced(bool tiktok_on, const char *trace_dir)
{
  const char *extra[] = {"--tiktok",
                         tiktok_on ? "on" : "off",
                         "--tiktok-web",
                         F.web,
                         "--tiktok-ws",
                         F.ws,
                         "--tiktok-lookup-s",
                         "1",
                         "--tiktok-linger-s",
                         "2",
                         "--tiktok-heartbeat-s",
                         "1",
                         "--tiktok-dead-s",
                         "3",
                         "--tiktok-backoff-cap-s",
                         "2",
                         trace_dir ? "--tiktok-trace" : NULL,
                         trace_dir,
                         NULL};
  srv_start(&S, extra, false);
  server_up = true;
}

static void server_start(bool tiktok_on) { server_start_traced(tiktok_on, NULL); }

/* A license (with this TikTok handle unless NULL), logged in. */
static void license(const char *handle)
{
  const char *args[] = {"license", "create", handle ? "--tiktok" : NULL, handle, NULL};
  char out[1024];
  cr_assert_eq(admin(&S, out, sizeof out, args), 0, "license create --tiktok %s: %s", handle, out);
  out[strcspn(out, "\r\n")] = '\0';
  cr_assert(strlen(out) > 10, "no key printed");
  snprintf(key, sizeof key, "%.*s", (int)sizeof key - 1, out);
  cr_assert_eq(login(&S, key, NULL, user_id, token), 200);
}

/* The fake with HANDLE answering `answer` (room ROOM1), the server, a
 * license with HANDLE, and device 0 connected (its hello read). */
static void up(const char *answer)
{
  fake_start();
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"%s\",\"room_id\":\"%s\"}", HANDLE,
           answer, ROOM1);
  server_start(true);
  license(HANDLE);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000), "no hello");
}

/* Waits until the connector is in the room: ws_connect, heartbeat, enter-room
 * at the fake, "live" at the device. */
static void in_room(const char *room)
{
  char r[64];
  snprintf(r, sizeof r, "\"room_id\":\"%s\"", room);
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", r, 10000), "no push socket to room %s",
                     room);
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", r, 5000), "no enter-room for %s", room);
  cr_assert_not_null(dev_wait(&D[0], "\"tiktok\":\"live\"", r, 5000),
                     "the device did not hear 'live' for %s", room);
}

/* Fails the test when the fake saw the connector break the protocol. */
static void no_violations(void)
{
  pump(0);
  long v = lines_find(&F.ev, 0, "\"ev\":\"violation\"", NULL);
  cr_assert(v < 0, "the fake saw a protocol violation: %s", v >= 0 ? F.ev.v[v] : "");
  reached_end = true;
}

static void tail(const char *what, const char *s, size_t len)
{
  size_t from = len > 6000 ? len - 6000 : 0;
  fprintf(stderr, "---- %s (last %zu bytes)\n%s\n", what, len - from, s + from);
}

static void teardown(void)
{
  pump(0);
  for (int i = 0; i < 2; i++) {
    dev_close(&D[i]);
    free(D[i].w);
    D[i].w = NULL;
  }
  if (server_up) {
    srv_stop(&S);
    srv_cleanup(&S);
    server_up = false;
  }
  fake_stop();
  /* a test that stopped early (failed) shows what the server and the fake
   * said, heartbeats left out */
  if (getenv("TTB_IT_VERBOSE") || !reached_end) {
    tail("server output", slog, slog_len);
    for (size_t i = 0; i < F.ev.n; i++)
      if (!has(F.ev.v[i], "\"ev\":\"hb\"", NULL))
        fprintf(stderr, "fake: %s\n", F.ev.v[i]);
    for (size_t i = 0; i < D[0].msg.n; i++)
      fprintf(stderr, "device: %s\n", D[0].msg.v[i]);
  }
  lines_free(&F.ev);
  for (int i = 0; i < 2; i++)
    lines_free(&D[i].msg);
}

TestSuite(tiktok, .fini = teardown, .timeout = 60);

/* --------------------------------------------------------------- helpers */

static long long metric(const char *name)
{
  http_resp r;
  cr_assert_eq(http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r), 200);
  char pat[160];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *p = strstr(r.body, pat);
  long long v = p ? atoll(p + strlen(pat)) : -1;
  http_free(&r);
  return v;
}

/* GET /me/tiktok into out; returns the status. */
static int me_tiktok(char *out, size_t cap)
{
  char h[160];
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", token);
  http_resp r;
  int st = http(&S, "GET", "/me/tiktok", h, NULL, 0, &r);
  snprintf(out, cap, "%s", r.body ? r.body : "");
  http_free(&r);
  return st;
}

static int put_tiktok(const char *body, char *out, size_t cap)
{
  char h[200];
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", token);
  http_resp r;
  int st = http(&S, "PUT", "/me/tiktok", h, body, strlen(body), &r);
  snprintf(out, cap, "%s", r.body ? r.body : "");
  http_free(&r);
  return st;
}

static void chat(long long msg_id, const char *nick, const char *handle, const char *text,
                 const char *opts)
{
  fake_cmd("{\"cmd\":\"chat\",\"msg_id\":%lld,\"nickname\":\"%s\",\"unique_id\":\"%s\",\"comment\":"
           "\"%s\"%s%s}",
           msg_id, nick, handle, text, opts ? "," : "", opts ? opts : "");
}

static void gift(long long msg_id, const char *who, int type, long long group, int rc, int end,
                 const char *name)
{
  fake_cmd(
      "{\"cmd\":\"gift\",\"msg_id\":%lld,\"nickname\":\"%s\",\"unique_id\":\"%s\",\"user_id\":%d,"
      "\"type\":%d,\"group_id\":%lld,\"repeat_count\":%d,\"repeat_end\":%d,\"name\":\"%s\","
      "\"gift_id\":%d}",
      msg_id, who, who, 7000 + (int)strlen(who), type, group, rc, end, name,
      type == 1 ? 5655 : 5487);
}

/* The device's chat frame for this message, or fail. */
static const char *heard(const char *text, int timeout_ms)
{
  char m[512];
  snprintf(m, sizeof m, "\"message\":\"%s\"", text);
  const char *f = dev_wait(&D[0], "\"type\":\"chat\"", m, timeout_ms);
  cr_assert_not_null(f, "the device did not hear the chat '%s'", text);
  return f;
}

static size_t heard_count(const char *a, const char *b) { return lines_count(&D[0].msg, 0, a, b); }

/* ================================================================ tests */

/* Issue 10's "Done when": a license with a handle, a connected device, a
 * fake that follows the protocol: the device hears the chats and one gift
 * event per streak, nothing twice, across a reconnect. */
Test(tiktok, done_when_chats_and_one_gift_per_streak_nothing_twice_across_a_reconnect)
{
  up("live");
  in_room(ROOM1);
  chat(101, "Ann", "ann", "hello from the live", "\"need_ack\":true");
  gift(102, "bob", 1, 900001, 1, 0, "Rose");
  gift(103, "bob", 1, 900001, 2, 0, "Rose");
  gift(104, "bob", 1, 900001, 3, 0, "Rose");
  gift(105, "bob", 1, 900001, 3, 1, "Rose");
  chat(106, "Ann", "ann", "second chat", NULL);
  const char *c = heard("hello from the live", 15000);
  cr_expect(strstr(c, "\"user\":\"Ann\""), "%s", c);
  const char *g = dev_wait(&D[0], "\"type\":\"gift\"", "\"gift_name\":\"Rose\"", 10000);
  cr_assert_not_null(g, "no gift event for the streak");
  cr_expect_eq(json_num(g, "count"), 3, "%s", g);
  heard("second chat", 15000);

  /* the fake drops the socket; the connector comes back, fake re-sends the
   * same msg_ids (as TikTok does), then new ones */
  size_t mark = F.ev.n;
  fake_cmd("{\"cmd\":\"close\",\"code\":1001}");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", "\"room_id\":\"" ROOM1 "\"", 10000),
                     "no reconnect");
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", NULL, 5000),
                     "no enter-room after the reconnect");
  cr_expect_geq(fake_count(mark, "\"ev\":\"root\"", NULL), 1,
                "no fresh ttwid before the reconnect");
  chat(101, "Ann", "ann", "hello from the live", NULL);
  gift(102, "bob", 1, 900001, 1, 0, "Rose");
  gift(103, "bob", 1, 900001, 2, 0, "Rose");
  gift(104, "bob", 1, 900001, 3, 0, "Rose");
  gift(105, "bob", 1, 900001, 3, 1, "Rose");
  chat(106, "Ann", "ann", "second chat", NULL);
  /* new: another streak and a chat */
  gift(201, "cara", 1, 900002, 1, 0, "Rose");
  gift(202, "cara", 1, 900002, 2, 1, "Rose");
  chat(203, "Cara", "cara", "after the reconnect", NULL);
  const char *g2 = dev_wait(&D[0], "\"type\":\"gift\"", "\"gift_name\":\"Rose\"", 10000);
  cr_assert_not_null(g2, "no gift for the streak after the reconnect");
  cr_expect_eq(json_num(g2, "count"), 2, "%s", g2);
  heard("after the reconnect", 15000);
  settle(500);
  cr_expect_eq(heard_count("\"message\":\"hello from the live\"", NULL), 1, "a chat heard twice");
  cr_expect_eq(heard_count("\"message\":\"second chat\"", NULL), 1, "a chat heard twice");
  cr_expect_eq(heard_count("\"type\":\"gift\"", NULL), 2, "not one gift event per streak");
  cr_expect_geq(metric("ttboost_tiktok_duplicates_total"), 6);
  cr_expect_geq(metric("ttboost_tiktok_reconnects_total"), 1);
  no_violations();
}

/* The ttwid from GET / comes back on the push socket; the lookup names the
 * handle; heartbeats carry the room id and come every second; enter-room
 * follows the first heartbeat; the status reaches the device and /me/tiktok. */
Test(tiktok, ttwid_lookup_heartbeats_and_enter_room)
{
  up("live");
  const char *root = fake_wait("\"ev\":\"root\"", NULL, 10000);
  cr_assert_not_null(root, "GET / never came");
  const char *lk = fake_wait("\"ev\":\"lookup\"", "\"user\":\"" HANDLE "\"", 10000);
  cr_assert_not_null(lk, "no lookup for " HANDLE);
  const char *conn = fake_wait("\"ev\":\"ws_connect\"", NULL, 10000);
  cr_assert_not_null(conn, "no push socket");
  /* the cookie is the newest ttwid handed out before the connect */
  long ci = (long)F.ev.mark - 1;
  char tw[300] = "", cookie[400] = "";
  for (long i = ci; i >= 0; i--)
    if (has(F.ev.v[i], "\"ev\":\"root\"", NULL)) {
      json_str(F.ev.v[i], "ttwid", tw, sizeof tw);
      break;
    }
  json_str(conn, "cookie", cookie, sizeof cookie);
  char want[400];
  snprintf(want, sizeof want, "ttwid=%s", tw);
  cr_expect(tw[0] && strstr(cookie, want), "cookie '%s', want '%s'", cookie, want);
  cr_expect(strstr(conn, "\"room_id\":\"" ROOM1 "\""), "%s", conn);
  const char *hb = fake_wait("\"ev\":\"hb\"", NULL, 5000);
  cr_assert_not_null(hb);
  cr_expect(strstr(hb, "\"room_id\":\"" ROOM1 "\""), "%s", hb);
  const char *en = fake_wait("\"ev\":\"enter\"", NULL, 5000);
  cr_assert_not_null(en, "no enter-room");
  cr_expect(strstr(en, "\"after_hb\":true") && strstr(en, "\"live_id\":12") &&
                strstr(en, "\"identity\":\"audience\""),
            "%s", en);
  /* a heartbeat a second */
  long long t0 = now_ms();
  cr_assert_not_null(fake_wait("\"ev\":\"hb\"", "\"n\":3", 5000), "no third heartbeat");
  cr_expect_lt(now_ms() - t0, 4000);
  const char *st = dev_wait(&D[0], "\"type\":\"status\"", "\"tiktok\":\"live\"", 5000);
  cr_assert_not_null(st, "the device heard no live status");
  cr_expect(strstr(st, "\"room_id\":\"" ROOM1 "\""), "%s", st);
  /* live, between heartbeats, the server sleeps (the connector's wake-up
   * pipe is emptied, or the loop would spin) */
  double c0 = proc_cpu_seconds(S.pid);
  usleep(2000 * 1000);
  double used = proc_cpu_seconds(S.pid) - c0;
  cr_expect_lt(used, 0.5, "the server used %.2f CPU seconds in 2 s while live", used);
  char me[1024];
  cr_assert_eq(me_tiktok(me, sizeof me), 200, "%s", me);
  cr_expect(strstr(me, "\"username\":\"" HANDLE "\"") && strstr(me, "\"state\":\"live\"") &&
                strstr(me, "\"room_id\":\"" ROOM1 "\""),
            "%s", me);
  cr_expect_eq(metric("ttboost_tiktok_connections{state=\"live\"}"), 1);
  cr_expect_geq(metric("ttboost_tiktok_lookups_total"), 1);
  no_violations();
}

/* A user who is not live: status waiting, looked up again every second,
 * no socket; every shape of "not live" (roomId "", "0", a stale room with
 * status 4); going live connects. */
Test(tiktok, lookup_offline_waits_and_retries_then_connects)
{
  up("offline");
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"status\"", "\"tiktok\":\"waiting\"", 10000),
                     "the device did not hear 'waiting'");
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"answer\":\"offline\"", 5000));
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"answer\":\"offline\"", 5000),
                     "not looked up again");
  const char *answers[] = {"offline_zero", "status4", "live_user"};
  for (size_t i = 0; i < 2; i++) {
    fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"%s\",\"room_id\":\"%s\"}", HANDLE,
             answers[i], ROOM1);
    char a[64];
    snprintf(a, sizeof a, "\"answer\":\"%s\"", answers[i]);
    cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", a, 5000), "no lookup answered %s",
                       answers[i]);
    cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", a, 5000), "no second lookup answered %s",
                       answers[i]);
  }
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_connect\"", NULL), 0,
               "a push socket for a user not live");
  cr_expect_eq(heard_count("\"tiktok\":\"live\"", NULL), 0);
  char me[1024];
  me_tiktok(me, sizeof me);
  cr_expect(strstr(me, "\"state\":\"waiting\""), "%s", me);
  /* live now, told by data.user.status alone (no liveRoom) */
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"%s\",\"room_id\":\"%s\"}", HANDLE,
           answers[2], ROOM1);
  in_room(ROOM1);
  chat(1, "Ann", "ann", "now we are live", NULL);
  heard("now we are live", 15000);
  no_violations();
}

/* An unknown user (statusCode 19881007): waiting or error, retried; the
 * account appearing later connects. */
Test(tiktok, lookup_unknown_user)
{
  up("unknown");
  const char *st = dev_wait(&D[0], "\"type\":\"status\"", "\"tiktok\":\"", 10000);
  for (; st && strstr(st, "\"tiktok\":\"connecting\"");
       st = dev_wait(&D[0], "\"type\":\"status\"", NULL, 10000))
    ;
  cr_assert_not_null(st, "no status after the lookup");
  cr_expect(strstr(st, "\"tiktok\":\"waiting\"") || strstr(st, "\"tiktok\":\"error\""), "%s", st);
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"answer\":\"unknown\"", 5000));
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"answer\":\"unknown\"", 5000), "not retried");
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_connect\"", NULL), 0);
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  in_room(ROOM1);
  no_violations();
}

/* Blocked or broken lookups (403, 429, 500, a body that is not JSON, an
 * empty body, another statusCode): error or waiting, retried, never a
 * socket; then a good answer connects. */
Test(tiktok, lookup_errors_4xx_5xx_garbage_are_retried, .timeout = 90)
{
  up("http403");
  const char *answers[] = {"http403", "http429", "http500", "garbage", "empty", "error"};
  for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
    if (i > 0)
      fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"%s\",\"room_id\":\"%s\"}", HANDLE,
               answers[i], ROOM1);
    char a[64];
    snprintf(a, sizeof a, "\"answer\":\"%s\"", answers[i]);
    cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", a, 8000), "no lookup answered %s",
                       answers[i]);
    cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", a, 8000), "%s was not retried", answers[i]);
    char me[1024];
    me_tiktok(me, sizeof me);
    cr_expect(strstr(me, "\"state\":\"error\"") || strstr(me, "\"state\":\"waiting\"") ||
                  strstr(me, "\"state\":\"connecting\""),
              "after %s: %s", answers[i], me);
  }
  cr_expect_geq(heard_count("\"type\":\"status\"", "\"tiktok\":\"error\""), 1,
                "the device never heard 'error'");
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_connect\"", NULL), 0, "a push socket without a room");
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  in_room(ROOM1);
  no_violations();
}

/* Acks: a msg frame with need_ack and internal_ext is acked with its log_id
 * and internal_ext; one without need_ack is not. Payloads gzip by header,
 * gzip by magic only, and plain all decode. Other payload types and other
 * methods are ignored. */
Test(tiktok, acks_and_gzip_and_plain_payloads)
{
  up("live");
  in_room(ROOM1);
  chat(11, "Gz", "gz", "gzip by header", "\"need_ack\":true,\"internal_ext\":\"ext|one\"");
  const char *done = NULL;
  for (size_t i = F.ev.n; i-- > 0 && done == NULL;)
    if (has(F.ev.v[i], "{\"ev\":\"done\",\"cmd\":\"chat\"", NULL))
      done = F.ev.v[i];
  cr_assert_not_null(done);
  char sent_log[32] = "";
  json_str(done, "log_id", sent_log, sizeof sent_log); /* the one in "sent" */
  cr_assert(sent_log[0], "%s", done);
  heard("gzip by header", 15000);
  const char *ack = fake_wait("\"ev\":\"ack\"", NULL, 5000);
  cr_assert_not_null(ack, "no ack for a need_ack frame");
  char got_log[32] = "";
  json_str(ack, "log_id", got_log, sizeof got_log);
  cr_expect_str_eq(got_log, sent_log, "%s", ack);
  cr_expect(strstr(ack, "\"payload\":\"ext|one\"") && strstr(ack, "\"ok\":true"), "%s", ack);

  size_t acks = fake_count(0, "\"ev\":\"ack\"", NULL);
  chat(12, "Gm", "gm", "gzip by magic", "\"gzip\":\"magic\"");
  chat(13, "Pl", "pl", "plain payload", "\"gzip\":\"none\"");
  fake_cmd("{\"cmd\":\"frame\",\"payload_type\":\"something_new\",\"payload_hex\":\"0a0b\"}");
  fake_cmd("{\"cmd\":\"other\",\"msg_id\":14,\"method\":\"WebcastMemberMessage\",\"payload_hex\":"
           "\"0a00\"}");
  chat(15, "Ak", "ak", "plain with an ack", "\"gzip\":\"none\",\"need_ack\":true");
  heard("gzip by magic", 15000);
  heard("plain payload", 15000);
  heard("plain with an ack", 15000);
  cr_assert_not_null(fake_wait("\"ev\":\"ack\"", "\"ok\":true", 5000),
                     "no ack for the plain frame");
  settle(300);
  cr_expect_eq(fake_count(0, "\"ev\":\"ack\"", NULL), acks + 1, "acks for frames that did not ask");
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_close\"", NULL), 0, "the socket closed");
  cr_expect_geq(metric("ttboost_tiktok_acks_total"), 2);
  cr_expect_geq(metric("ttboost_tiktok_messages_total{method=\"chat\"}"), 4);
  cr_expect_geq(metric("ttboost_tiktok_messages_total{method=\"other\"}"), 1);
  cr_expect_eq(heard_count("\"type\":\"chat\"", NULL), 4, "something else was spoken");
  no_violations();
}

/* A chat's user is the nickname, or the handle when the nickname is empty. */
Test(tiktok, chat_user_is_the_nickname_or_the_handle)
{
  up("live");
  in_room(ROOM1);
  chat(21, "Айгерім ✨", "aigerim_01", "сәлем", NULL);
  chat(22, "", "bob_42", "no nickname here", NULL);
  const char *a = heard("сәлем", 15000);
  cr_expect(strstr(a, "\"user\":\"Айгерім ✨\""), "%s", a);
  const char *b = heard("no nickname here", 15000);
  cr_expect(strstr(b, "\"user\":\"bob_42\""), "%s", b);
  no_violations();
}

/* Streaks: in order, out of order (a late part after the end adds nothing),
 * two interleaved; one event each with the streak's total. */
Test(tiktok, streaks_in_order_and_out_of_order)
{
  up("live");
  in_room(ROOM1);
  /* in order: 1..4, end at 4 */
  for (int i = 1; i <= 4; i++)
    gift(300 + i, "dan", 1, 7001, i, 0, "Rose");
  gift(305, "dan", 1, 7001, 4, 1, "Rose");
  const char *g = dev_wait(&D[0], "\"type\":\"gift\"", NULL, 5000);
  cr_assert_not_null(g, "no gift for the streak in order");
  cr_expect_eq(json_num(g, "count"), 4, "%s", g);
  /* out of order: 1, 3, 2, end 5, then a late 4 */
  gift(311, "eve", 1, 7002, 1, 0, "Rose");
  gift(313, "eve", 1, 7002, 3, 0, "Rose");
  gift(312, "eve", 1, 7002, 2, 0, "Rose");
  gift(315, "eve", 1, 7002, 5, 1, "Rose");
  gift(314, "eve", 1, 7002, 4, 0, "Rose");
  g = dev_wait(&D[0], "\"type\":\"gift\"", NULL, 5000);
  cr_assert_not_null(g, "no gift for the streak out of order");
  cr_expect_eq(json_num(g, "count"), 5, "%s", g);
  /* two interleaved streaks of different senders and gifts */
  gift(321, "fay", 1, 7003, 1, 0, "Rose");
  gift(331, "gus", 1, 7004, 1, 0, "Rose");
  gift(322, "fay", 1, 7003, 2, 0, "Rose");
  gift(332, "gus", 1, 7004, 2, 0, "Rose");
  gift(333, "gus", 1, 7004, 6, 1, "Rose");
  gift(323, "fay", 1, 7003, 2, 1, "Rose");
  const char *g1 = dev_wait(&D[0], "\"type\":\"gift\"", NULL, 5000);
  cr_assert_not_null(g1);
  const char *g2 = dev_wait(&D[0], "\"type\":\"gift\"", NULL, 5000);
  cr_assert_not_null(g2, "one of two interleaved streaks is missing");
  cr_expect_eq(json_num(g1, "count"), 6, "%s", g1);
  cr_expect_eq(json_num(g2, "count"), 2, "%s", g2);
  chat(340, "M", "m", "marker", NULL);
  heard("marker", 15000);
  /* the idle timeout passes: nothing more (no late publication) */
  settle(3500);
  cr_expect_eq(heard_count("\"type\":\"gift\"", NULL), 4, "not one gift event per streak");
  no_violations();
}

/* A streak whose end is lost is published after the idle timeout (3 s),
 * with the largest count; a non-streak gift goes out at once, ahead of a
 * chat pushed after it. */
Test(tiktok, streak_end_lost_and_non_streak_gifts)
{
  up("live");
  in_room(ROOM1);
  long long t0 = now_ms();
  gift(401, "hal", 1, 8001, 1, 0, "Rose");
  gift(402, "hal", 1, 8001, 2, 0, "Rose");
  gift(403, "hal", 1, 8001, 3, 0, "Rose");
  /* a non-streak gift (type 2: repeat_count 1, repeat_end 0), then a chat */
  gift(404, "ivy", 2, 0, 1, 0, "Galaxy");
  chat(405, "Ivy", "ivy", "after the galaxy", NULL);
  const char *ng = dev_wait(&D[0], "\"type\":\"gift\"", NULL, 10000);
  cr_assert_not_null(ng, "no event for the non-streak gift");
  cr_expect(strstr(ng, "\"gift_name\":\"Galaxy\""), "the first gift event is not the Galaxy: %s",
            ng);
  cr_expect_eq(json_num(ng, "count"), 1, "%s", ng);
  long ng_at = (long)D[0].msg.mark - 1;
  heard("after the galaxy", 15000);
  cr_expect_lt(ng_at, (long)D[0].msg.mark - 1,
               "the non-streak gift waited behind the chat pushed after it");
  const char *g = dev_wait(&D[0], "\"type\":\"gift\"", "\"gift_name\":\"Rose\"", 10000);
  cr_assert_not_null(g, "the streak with its end lost was never published");
  long long dt = now_ms() - t0;
  cr_expect_eq(json_num(g, "count"), 3, "%s", g);
  cr_expect_geq(dt, 2500, "published after %lld ms, before the idle timeout", dt);
  settle(500);
  cr_expect_eq(heard_count("\"type\":\"gift\"", NULL), 2);
  no_violations();
}

/* DEVICE_BLOCKED: the refused handshake is retried with a new ttwid (the
 * fake flags a reused one) after a short wait; then it connects. */
Test(tiktok, device_blocked_gets_a_new_ttwid_and_retries)
{
  fake_start();
  fake_cmd("{\"cmd\":\"refuse\",\"n\":2,\"msg\":\"DEVICE_BLOCKED\",\"status\":415}");
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  server_start(true);
  license(HANDLE);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  const char *r1 = fake_wait("\"ev\":\"ws_refused\"", NULL, 10000);
  cr_assert_not_null(r1, "no handshake at all");
  char c1[400] = "", c2[400] = "";
  json_str(r1, "cookie", c1, sizeof c1);
  const char *r2 = fake_wait("\"ev\":\"ws_refused\"", NULL, 10000);
  cr_assert_not_null(r2, "the refused handshake was not retried");
  json_str(r2, "cookie", c2, sizeof c2);
  cr_expect_str_neq(c1, c2, "the retry sent the same ttwid");
  in_room(ROOM1);
  cr_expect_geq(fake_count(0, "\"ev\":\"root\"", NULL), 3, "not a ttwid per attempt");
  chat(1, "Ann", "ann", "through at last", NULL);
  heard("through at last", 15000);
  no_violations();
}

/* GET / answering with a redirect: the ttwid is taken from it, the
 * redirect is not followed (the fake flags a request for another path). */
Test(tiktok, ttwid_from_a_redirect_is_taken_without_following_it)
{
  fake_start();
  fake_cmd("{\"cmd\":\"root\",\"status\":302}");
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  server_start(true);
  license(HANDLE);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  in_room(ROOM1);
  cr_expect_eq(fake_count(0, "\"ev\":\"web_other\"", NULL), 0, "the redirect was followed");
  no_violations();
}

/* A handshake refused without Handshake-Msg (HTTP 500, then 404): retried
 * with backoff and a fresh ttwid, then it connects. */
Test(tiktok, a_handshake_refused_otherwise_is_retried)
{
  fake_start();
  fake_cmd("{\"cmd\":\"refuse\",\"n\":2,\"msg\":\"\",\"status\":500}");
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  server_start(true);
  license(HANDLE);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  cr_assert_not_null(fake_wait("\"ev\":\"ws_refused\"", NULL, 10000));
  cr_assert_not_null(fake_wait("\"ev\":\"ws_refused\"", NULL, 10000), "not retried");
  in_room(ROOM1);
  no_violations();
}

/* The fake closes the socket (a close frame, then a dropped TCP
 * connection): the connector reconnects each time and chats flow again. */
Test(tiktok, fake_closing_the_socket_reconnects)
{
  up("live");
  in_room(ROOM1);
  fake_cmd("{\"cmd\":\"close\",\"code\":1000}");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", NULL, 10000),
                     "no reconnect after a close frame");
  cr_assert_not_null(fake_wait("\"ev\":\"hb\"", NULL, 5000));
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", NULL, 5000));
  chat(1, "Ann", "ann", "after a close", NULL);
  heard("after a close", 15000);
  fake_cmd("{\"cmd\":\"close\",\"abort\":true}");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", NULL, 10000),
                     "no reconnect after a dropped connection");
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", NULL, 5000));
  chat(2, "Ann", "ann", "after a drop", NULL);
  heard("after a drop", 15000);
  cr_expect_geq(metric("ttboost_tiktok_reconnects_total"), 2);
  no_violations();
}

/* A socket with nothing coming in for dead-s (3 s) is dead: the connector
 * closes it and reconnects. */
Test(tiktok, a_silent_socket_is_dead_and_replaced)
{
  up("live");
  in_room(ROOM1);
  fake_cmd("{\"cmd\":\"hb_reply\",\"on\":false}");
  const char *cl = fake_wait("\"ev\":\"ws_close\"", NULL, 8000);
  cr_assert_not_null(cl, "a silent socket was kept");
  cr_expect(strstr(cl, "\"by\":\"client\""), "%s", cl);
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", NULL, 8000), "no new socket");
  fake_cmd("{\"cmd\":\"hb_reply\",\"on\":true}");
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", NULL, 5000));
  chat(1, "Ann", "ann", "alive again", NULL);
  heard("alive again", 15000);
  no_violations();
}

/* Garbage: bytes that are no PushFrame, a msg frame whose gzip is broken,
 * a chat whose payload is not a WebcastChatMessage. Counted as decode
 * errors; the connection survives and the next chat is heard. */
Test(tiktok, a_garbage_frame_is_counted_and_the_socket_survives)
{
  up("live");
  in_room(ROOM1);
  long long before = metric("ttboost_tiktok_decode_errors_total");
  cr_assert_geq(before, 0, "no ttboost_tiktok_decode_errors_total in /metrics");
  fake_cmd("{\"cmd\":\"garbage\",\"hex\":\"ffffffffffffffffffff01\"}");
  fake_cmd("{\"cmd\":\"push\",\"gzip\":\"none\",\"messages\":[{\"kind\":\"other\",\"method\":"
           "\"WebcastChatMessage\",\"msg_id\":31,\"payload_hex\":\"0aff\"}]}");
  chat(32, "Ann", "ann", "still here", NULL);
  heard("still here", 15000);
  long long after = -1;
  for (long long t0 = now_ms(); now_ms() - t0 < 3000; pump(100)) {
    after = metric("ttboost_tiktok_decode_errors_total");
    if (after >= before + 2)
      break;
  }
  cr_expect_geq(after, before + 2, "decode errors %lld -> %lld", before, after);
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_close\"", NULL), 0, "the socket was closed over garbage");
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_connect\"", NULL), 1);
  no_violations();
}

/* The stream ends (control action 3): status "ended", then waiting while
 * the user is offline; the same user going live again in a new room: live
 * with the new room id, and chats flow. */
Test(tiktok, stream_ends_and_goes_live_again)
{
  up("live");
  in_room(ROOM1);
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"status4\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  fake_cmd("{\"cmd\":\"control\",\"msg_id\":51,\"action\":3}");
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"status\"", "\"tiktok\":\"ended\"", 5000),
                     "the device did not hear 'ended'");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_close\"", NULL, 5000),
                     "the ended room's socket stays open");
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"answer\":\"status4\"", 5000),
                     "no lookup after the end");
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"status\"", "\"tiktok\":\"waiting\"", 5000),
                     "no 'waiting' after 'ended'");
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_connect\"", NULL), 1, "reconnected to an ended room");
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM2);
  in_room(ROOM2);
  chat(52, "Ann", "ann", "the second live", NULL);
  heard("the second live", 15000);
  char me[1024];
  me_tiktok(me, sizeof me);
  cr_expect(strstr(me, "\"room_id\":\"" ROOM2 "\"") && strstr(me, "\"state\":\"live\""), "%s", me);
  no_violations();
}

/* When the license's last device leaves, the connector stays linger-s (2 s)
 * then closes the socket, and looks nothing up any more; a device coming
 * back starts it again. */
Test(tiktok, the_connector_stops_when_all_devices_leave)
{
  up("live");
  in_room(ROOM1);
  /* a second device, then both leave one after the other */
  dev_open(&D[1]);
  cr_assert_not_null(dev_wait(&D[1], "\"type\":\"hello\"", NULL, 5000));
  /* a device joining a live channel hears the status right after hello */
  const char *st = dev_wait(&D[1], "\"type\":\"status\"", NULL, 3000);
  cr_assert_not_null(st, "no status after hello");
  cr_expect(strstr(st, "\"tiktok\":\"live\"") && strstr(st, "\"room_id\":\"" ROOM1 "\"") &&
                strstr(st, "\"username\":\"" HANDLE "\""),
            "%s", st);
  dev_close(&D[0]);
  settle(2500);
  cr_expect_eq(fake_count(0, "\"ev\":\"ws_close\"", NULL), 0,
               "closed while a device was still there");
  long long t0 = now_ms();
  dev_close(&D[1]);
  const char *cl = fake_wait("\"ev\":\"ws_close\"", NULL, 8000);
  cr_assert_not_null(cl, "the push socket stayed open with no device");
  long long dt = now_ms() - t0;
  cr_expect(dt >= 1500, "closed after %lld ms, before the linger", dt);
  cr_expect(strstr(cl, "\"by\":\"client\""), "%s", cl);
  size_t mark = F.ev.n;
  settle(3000);
  cr_expect_eq(fake_count(mark, "\"ev\":\"lookup\"", NULL), 0,
               "lookups after the connector stopped");
  cr_expect_eq(fake_count(mark, "\"ev\":\"root\"", NULL), 0,
               "requests after the connector stopped");
  cr_expect_eq(fake_count(mark, "\"ev\":\"ws_connect\"", NULL), 0,
               "a socket after the connector stopped");
  char me[1024];
  me_tiktok(me, sizeof me);
  cr_expect(strstr(me, "\"state\":\"off\""), "%s", me);
  /* back */
  D[0].msg.mark = D[0].msg.n;
  dev_open(&D[0]);
  in_room(ROOM1);
  no_violations();
}

/* PUT /me/tiktok sets the handle (a leading @ and capitals accepted), the
 * connector follows it; a bad handle is refused; "" clears it. */
Test(tiktok, put_and_get_me_tiktok)
{
  fake_start();
  fake_cmd("{\"cmd\":\"user\",\"name\":\"other_user\",\"answer\":\"live\",\"room_id\":\"%s\"}",
           ROOM2);
  server_start(true);
  license(NULL);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  char out[1024];
  cr_assert_eq(me_tiktok(out, sizeof out), 200, "%s", out);
  cr_expect(strstr(out, "\"username\":\"\"") || !strstr(out, "\"username\":\"o"), "%s", out);
  cr_expect(strstr(out, "\"state\":\"off\""), "%s", out);
  settle(1500);
  cr_expect_eq(fake_count(0, "\"ev\":\"lookup\"", NULL), 0, "a lookup without a handle");

  cr_expect_eq(put_tiktok("{\"username\":\"@Other_User\"}", out, sizeof out), 200, "%s", out);
  cr_expect(strstr(out, "\"username\":\"other_user\""), "%s", out);
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"user\":\"other_user\"", 8000),
                     "no lookup for the new handle");
  in_room(ROOM2);
  cr_assert_eq(me_tiktok(out, sizeof out), 200);
  cr_expect(strstr(out, "\"username\":\"other_user\"") && strstr(out, "\"state\":\"live\""), "%s",
            out);

  cr_expect_eq(put_tiktok("{\"username\":\"no spaces!\"}", out, sizeof out), 400, "%s", out);
  cr_expect(strstr(out, "\"error\":\"invalid_username\""), "%s", out);
  cr_expect_eq(put_tiktok("{\"username\":\"x\"}", out, sizeof out), 400, "a 1-character handle: %s",
               out);

  cr_expect_eq(put_tiktok("{\"username\":\"\"}", out, sizeof out), 200, "%s", out);
  cr_assert_not_null(fake_wait("\"ev\":\"ws_close\"", NULL, 5000),
                     "the socket stayed open after the handle was cleared");
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"status\"", "\"tiktok\":\"off\"", 5000),
                     "no 'off' status");
  me_tiktok(out, sizeof out);
  cr_expect(strstr(out, "\"state\":\"off\""), "%s", out);

  /* without a token */
  http_resp r;
  cr_expect_eq(http(&S, "GET", "/me/tiktok", NULL, NULL, 0, &r), 401, "%s", r.body);
  http_free(&r);
  no_violations();
}

/* ttboost-admin license set-tiktok KEY NAME: list shows it, a device that
 * connects then starts the connector; "" clears it. */
Test(tiktok, admin_license_set_tiktok)
{
  fake_start();
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  server_start(true);
  license(NULL);
  char out[4096];
  const char *set[] = {"license", "set-tiktok", key, "@" HANDLE, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, set), 0, "%s", out);
  const char *list[] = {"license", "list", NULL};
  cr_assert_eq(admin(&S, out, sizeof out, list), 0, "%s", out);
  cr_expect(strstr(out, "@" HANDLE), "license list does not show the handle: %s", out);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  cr_assert_not_null(fake_wait("\"ev\":\"lookup\"", "\"user\":\"" HANDLE "\"", 8000),
                     "a handle set by ttboost-admin did not start the connector");
  in_room(ROOM1);
  const char *bad[] = {"license", "set-tiktok", key, "not a handle", NULL};
  cr_expect_neq(admin(&S, out, sizeof out, bad), 0, "a bad handle was taken: %s", out);
  const char *clr[] = {"license", "set-tiktok", user_id, "", NULL};
  cr_expect_eq(admin(&S, out, sizeof out, clr), 0, "clearing by user id: %s", out);
  cr_assert_eq(admin(&S, out, sizeof out, list), 0, "%s", out);
  cr_expect(strstr(out, "@" HANDLE) == NULL, "still listed after clearing: %s", out);
  no_violations();
}

/* --tiktok off: nothing reaches TikTok, whatever the license says. */
Test(tiktok, tiktok_off_sends_nothing)
{
  fake_start();
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  server_start(false);
  license(HANDLE);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  char out[1024];
  cr_assert_eq(me_tiktok(out, sizeof out), 200, "%s", out);
  cr_expect(strstr(out, "\"state\":\"off\""), "%s", out);
  settle(2500);
  cr_expect_eq(F.ev.n, fake_count(0, "\"ev\":\"done\"", NULL),
               "a request reached the fake with --tiktok off");
  cr_expect_eq(heard_count("\"tiktok\":\"live\"", NULL), 0);
  no_violations();
}

/* A payload that inflates past the connector's bound (4 MiB) is a decode
 * error; chats flow afterwards. (docs/tiktok.md says the socket is then
 * reopened; the connector skips the frame and keeps it: either is fine
 * here.) */
Test(tiktok, a_gzip_bomb_is_a_decode_error)
{
  up("live");
  in_room(ROOM1);
  long long before = metric("ttboost_tiktok_decode_errors_total");
  fake_cmd("{\"cmd\":\"bomb\",\"mb\":6}");
  chat(1, "Ann", "ann", "after the bomb", NULL);
  heard("after the bomb", 15000);
  cr_expect_geq(metric("ttboost_tiktok_decode_errors_total"), before + 1);
  no_violations();
}

/* A WebSocket message over 1 MiB: a decode error, the socket is reopened,
 * and chats flow again. */
Test(tiktok, a_message_over_1_mib_reopens_the_socket)
{
  up("live");
  in_room(ROOM1);
  long long before = metric("ttboost_tiktok_decode_errors_total");
  fake_cmd("{\"cmd\":\"big\",\"kb\":1200}");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_close\"", NULL, 5000), "the socket was kept");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", NULL, 10000),
                     "the socket was not reopened");
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", NULL, 5000));
  chat(1, "Ann", "ann", "after the big one", NULL);
  heard("after the big one", 15000);
  cr_expect_geq(metric("ttboost_tiktok_decode_errors_total"), before + 1);
  no_violations();
}

/* Runs `ttb-trace dump` on every trace file in dir; true when the output
 * holds each of want[] (in some file), n_files counts the files. */
static bool traces_hold(const char *tool, const char *dir, const char *const *want, size_t nwant,
                        size_t *n_files)
{
  bool found[8] = {false};
  *n_files = 0;
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strstr(e->d_name, ".ttbtrace") == NULL)
      continue;
    (*n_files)++;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' dump '%s/%s' 2>&1", tool, dir, e->d_name);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[8192];
    while (fgets(line, sizeof line, p))
      for (size_t i = 0; i < nwant; i++)
        found[i] |= strstr(line, want[i]) != NULL;
    pclose(p);
  }
  closedir(d);
  for (size_t i = 0; i < nwant; i++)
    if (!found[i])
      return false;
  return true;
}

/* --tiktok-trace DIR: one trace file per push-socket connection, holding
 * the raw frames received; ttb-trace dump decodes the chats in them. */
Test(tiktok, traces_hold_the_raw_frames_one_file_per_connection)
{
  const char *tool = getenv("TTB_TRACE_TOOL");
  if (tool == NULL || *tool == '\0')
    cr_skip_test("ttb-trace is not built (tools disabled)");
  char dir[] = "/tmp/ttb-tiktok-trace-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  fake_start();
  fake_cmd("{\"cmd\":\"user\",\"name\":\"%s\",\"answer\":\"live\",\"room_id\":\"%s\"}", HANDLE,
           ROOM1);
  server_start_traced(true, dir);
  license(HANDLE);
  dev_open(&D[0]);
  cr_assert_not_null(dev_wait(&D[0], "\"type\":\"hello\"", NULL, 5000));
  in_room(ROOM1);
  chat(61, "Tia", "tia", "traced on the first socket", NULL);
  heard("traced on the first socket", 15000);
  fake_cmd("{\"cmd\":\"close\",\"code\":1000}");
  cr_assert_not_null(fake_wait("\"ev\":\"ws_connect\"", NULL, 10000), "no reconnect");
  cr_assert_not_null(fake_wait("\"ev\":\"enter\"", NULL, 5000));
  chat(62, "Tia", "tia", "traced on the second socket", NULL);
  heard("traced on the second socket", 15000);
  dev_close(&D[0]);
  cr_assert_not_null(fake_wait("\"ev\":\"ws_close\"", NULL, 8000), "the connector did not stop");
  const char *want[] = {"\"comment\":\"traced on the first socket\"",
                        "\"comment\":\"traced on the second socket\""};
  size_t files = 0;
  bool ok = false;
  for (long long t0 = now_ms(); !ok && now_ms() - t0 < 5000; pump(200))
    ok = traces_hold(tool, dir, want, 2, &files);
  cr_expect(ok, "ttb-trace dump of %zu file(s) in %s lacks the chats", files, dir);
  cr_expect_eq(files, 2, "not one trace file per connection");
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (ok && system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  no_violations();
}
