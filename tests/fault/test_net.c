/*
 * Fault: client connections cut and stalled, through a TCP proxy of the
 * test's own (fault.h) between the client and the server.
 *
 * Guarantees (docs/operations.md "Faults"):
 * - a connection cut by a reset or a close, anywhere (in the middle of a
 *   frame too), loses the client nothing: it reconnects with
 *   ?since=<last seq seen> and gets every event once, in order;
 * - a client that stops reading is cut as a slow consumer (close 4008) once
 *   its queue passes max-queued-msgs/-bytes, and one that goes silent is
 *   cut after 3 heartbeats (close 4009); neither holds the server's memory
 *   or the other sockets up, and each resumes with ?since and gets every
 *   event once.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

#define MAXI 60000 /* below TRACK_MAX */

static srv S;
static char key[128], user[64], token[64];
static proxy *P;
static srv PS; /* S as seen through the proxy */

static void setup(void)
{
  /* a queue bound of 512 messages (above the history, 256, as by default:
   * a resume's catch-up must fit in the queue) so that a stalled reader is
   * cut sooner */
  const char *const extra[] = {"--max-queued-msgs", "512", NULL};
  srv_start(&S, extra, false);
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  P = proxy_start(S.port, 4096);
  cr_assert_not_null(P);
  PS = S;
  PS.port = proxy_port(P);
}
static void teardown(void)
{
  proxy_stop(P);
  cr_expect_eq(srv_stop(&S), 0, "the server did not stop gracefully");
  srv_cleanup(&S);
}

TestSuite(fault_net, .init = setup, .fini = teardown, .timeout = 180);

static bool posted[MAXI];
static int next_i = 1;

/* Posts n events as one batch (every 10th a chat; padded: gifts of about
 * 400 bytes); fails the test unless 202. */
static void post_ex(int n, bool padded)
{
  static char body[1 << 18];
  size_t k = (size_t)snprintf(body, sizeof body, "[");
  for (int i = 0; i < n && next_i + i < MAXI; i++) {
    if (i)
      k += (size_t)snprintf(body + k, sizeof body - k, ",");
    int e = next_i + i;
    if (padded)
      k += (size_t)snprintf(
          body + k, sizeof body - k,
          "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"%0120d\",\"gift_name\":"
          "\"G%d %0110d\",\"count\":1,\"id\":\"e%d\"}",
          user, 0, e, 0, e);
    else
      k += (size_t)event_json(body + k, sizeof body - k, user, e, e % 10 == 0);
  }
  snprintf(body + k, sizeof body - k, "]");
  char out[512];
  int st = raw_ingest(S.port, body, out, sizeof out);
  cr_assert_eq(st, 202, "ingest: %d %s", st, out);
  for (int i = 0; i < n && next_i < MAXI; i++)
    posted[next_i++] = true;
}
static void post(int n) { post_ex(n, false); }

/* Opens the socket through the proxy, resuming after t->last_seq (when
 * resume): hello must say no gap unless gap_ok; the hello into hello. */
static void connect_hello(ws *w, track *t, bool resume, bool gap_ok, char *hello, size_t cap)
{
  char path[256];
  snprintf(path, sizeof path, "/ws/%s", token);
  if (resume)
    snprintf(path + strlen(path), sizeof path - strlen(path), "?since=%lld", t->last_seq);
  cr_assert_eq(ws_connect(w, &PS, path, NULL), 0);
  char m[4096];
  const uint8_t *d;
  size_t n;
  int op = ws_recv(w, &d, &n, 5000);
  cr_assert_eq(op, 1, "no hello: op %d %.*s", op, op > 0 ? (int)n : 0,
               op > 0 ? (const char *)d : "");
  snprintf(m, sizeof m, "%.*s", (int)n, (const char *)d);
  cr_assert(strstr(m, "\"type\":\"hello\""), "%s", m);
  if (resume && !gap_ok)
    cr_expect(strstr(m, "\"resume_gap\":false") != NULL, "resumed with a gap: %s", m);
  if (hello)
    snprintf(hello, cap, "%s", m);
}
static void connect_proxied(ws *w, track *t, bool resume)
{
  connect_hello(w, t, resume, false, NULL, 0);
}

/* Reads until every posted event is there (or 20 s without progress), then
 * checks that each came once and in order. */
static void expect_everything_once(ws *w, track *t)
{
  double last = now_s();
  int missing = 0;
  while (!track_has_all(t, posted, 1, next_i, &missing) && now_s() - last < 20) {
    int had = t->n;
    if (track_drain(w, t, 100) < 0)
      cr_assert_fail("the socket closed while catching up (code %d)", t->close_code);
    if (t->n > had)
      last = now_s();
  }
  track_drain(w, t, 200);
  cr_expect(track_has_all(t, posted, 1, next_i, &missing), "event %d never arrived (%d of %d)",
            missing, t->n, next_i - 1);
  int twice = 0;
  for (int i = 1; i < next_i; i++)
    if (t->count[i] > 1 && twice++ < 3)
      cr_log_error("event %d arrived %d times", i, t->count[i]);
  cr_expect_eq(twice, 0, "%d events arrived more than once", twice);
  cr_expect_eq(t->seq_back, 0, "a seq went back %d times", t->seq_back);
  cr_expect_eq(t->order_back, 0, "out of ingest order %d times", t->order_back);
}

Test(fault_net, a_cut_connection_resumes_with_since_and_gets_everything_once)
{
  static ws w;
  static track t;
  memset(&t, 0, sizeof t);
  connect_proxied(&w, &t, false);
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  /* 6 cuts, resets and closes by turns, each after a random number of
   * bytes: inside a frame as often as not */
  for (int round = 0; round < 6; round++) {
    proxy_cut_after(P, 100 + (long)(rand_r(&seed) % 3000), round % 2 == 0);
    bool cut = false;
    for (int b = 0; b < 200 && !cut; b++) {
      post(10);
      cut = track_drain(&w, &t, 20) < 0;
    }
    cr_assert(cut, "round %d: the proxy did not cut", round);
    ws_close(&w);
    connect_proxied(&w, &t, true);
    post(5);
  }
  cr_expect_eq(proxy_cuts(P), 6);
  expect_everything_once(&w, &t);
  ws_close(&w);
  cr_log_info("cut: %d events, %d received", next_i - 1, t.n);
}

Test(fault_net, a_stalled_reader_is_cut_with_4008_and_resumes)
{
  static ws w;
  static track t;
  memset(&t, 0, sizeof t);
  connect_proxied(&w, &t, false);
  post(20);
  track_drain(&w, &t, 300);
  double drops0 = metric(&S, "ttboost_queue_drops_total");
  cr_assert_geq(drops0, 0);
  /* the proxy stops reading from the server: its socket's buffers fill,
   * then its queue; the server cuts it and goes on */
  proxy_mode(P, PX_STALL_DOWN);
  bool dropped = false;
  double t0 = now_s();
  for (int b = 0; b < 300 && !dropped && now_s() - t0 < 40; b++) {
    /* unasked pongs still reach the server: the socket is not idle (4009),
     * only the queue bound can cut it */
    ws_send(&w, 10, "", 0);
    post_ex(100, true);
    dropped = metric(&S, "ttboost_queue_drops_total") > drops0;
  }
  cr_assert(dropped, "the stalled reader was never cut (%d events posted)", next_i - 1);
  /* meanwhile the server answers others at once */
  double h0 = now_s();
  http_resp r;
  cr_expect_eq(http(&S, "GET", "/healthz", NULL, NULL, 0, &r), 200);
  http_free(&r);
  cr_expect_lt(now_s() - h0, 1.0, "healthz took %.2f s", now_s() - h0);
  /* the client reads again: what the buffers held, then the close */
  proxy_mode(P, PX_FORWARD);
  int rc = 0;
  for (double e = now_s() + 10; rc == 0 && now_s() < e;)
    rc = track_drain(&w, &t, 200);
  cr_expect_eq(rc, -1, "the socket was not closed");
  cr_expect_eq(t.close_code, 4008, "close code %d (%s)", t.close_code, t.close_reason);
  cr_expect_str_eq(t.close_reason, "slow_consumer");
  cr_log_info(
      "stall: cut after %d events with %d/%s; %d received before the cut; error messages: %d %s",
      next_i - 1, t.close_code, t.close_reason, t.n, t.errors, t.last_error);
  ws_close(&w);
  /* what the cut dropped is more than the history keeps: the resume says
   * so, with the exact count, and brings the history; nothing is lost
   * without the client being told, nothing comes twice */
  int before = t.n;
  char hello[4096];
  connect_hello(&w, &t, true, true, hello, sizeof hello);
  long long missed = json_num(hello, "missed");
  if (strstr(hello, "\"resume_gap\":true") == NULL)
    missed = 0;
  post(10);
  double last = now_s();
  while (t.n + missed < next_i - 1 && now_s() - last < 20) {
    int had = t.n;
    cr_assert_geq(track_drain(&w, &t, 100), 0, "the resumed socket closed (%d)", t.close_code);
    if (t.n > had)
      last = now_s();
  }
  track_drain(&w, &t, 200);
  int never = 0, twice = 0;
  for (int i = 1; i < next_i; i++) {
    never += t.count[i] == 0;
    twice += t.count[i] > 1;
  }
  cr_expect_eq(twice, 0, "%d events arrived more than once", twice);
  cr_expect_eq(never, missed, "%d events never arrived, hello said %lld missed: %s", never, missed,
               hello);
  cr_expect_eq(t.seq_back, 0);
  cr_expect_eq(t.order_back, 0);
  for (int i = next_i - 10; i < next_i; i++)
    cr_expect_eq(t.count[i], 1, "event %d, posted after the resume, came %d times", i, t.count[i]);
  cr_log_info("stall: %d received before the cut, %lld missed, %d after the resume", before, missed,
              t.n - before);
  ws_close(&w);
}

Test(fault_net, a_silent_peer_is_cut_with_4009_and_resumes)
{
  static ws w;
  static track t;
  memset(&t, 0, sizeof t);
  connect_proxied(&w, &t, false);
  post(10);
  track_drain(&w, &t, 300);
  double idle0 = metric(&S, "ttboost_idle_closes_total");
  cr_assert_geq(idle0, 0);
  /* nothing goes either way: no pong reaches the server (heartbeat 1 s) */
  proxy_mode(P, PX_STALL_ALL);
  bool cut = false;
  double t0 = now_s();
  while (!cut && now_s() - t0 < 12) {
    post(5);
    usleep(300000);
    cut = metric(&S, "ttboost_idle_closes_total") > idle0;
  }
  cr_assert(cut, "the silent peer was not cut within %.1f s", now_s() - t0);
  cr_expect_geq(now_s() - t0, 2.0, "cut after %.1f s, before 3 heartbeats", now_s() - t0);
  proxy_mode(P, PX_FORWARD);
  int rc = 0;
  for (double e = now_s() + 10; rc == 0 && now_s() < e;)
    rc = track_drain(&w, &t, 200);
  cr_expect_eq(rc, -1, "the socket was not closed");
  cr_expect_eq(t.close_code, 4009, "close code %d (%s)", t.close_code, t.close_reason);
  ws_close(&w);
  post(10);
  connect_proxied(&w, &t, true);
  expect_everything_once(&w, &t);
  ws_close(&w);
}
