/*
 * Resume across restarts (docs/operations.md "What survives a restart"):
 * the server killed with SIGKILL in the middle of ingest, restarted on the
 * same data dir, and a client resuming with ?since=<last seen> gets every
 * event whose ingest was acknowledged (202) exactly once, in order, and the
 * seqs go on above the old ones; the batch whose answer the kill lost is
 * retried with the same ids and arrives once too. Also: an open gift streak
 * survives, a retry after a restart is still a duplicate, and a resume older
 * than the history says how many events were missed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

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

TestSuite(crash, .init = setup, .fini = teardown, .timeout = 240);

/* POST /ingest/events that does not fail the test when the server is gone:
 * the HTTP status, or -1 (refused, reset, no answer). */
static int post_raw(int port, const char *json)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  char head[512];
  int hn = snprintf(head, sizeof head,
                    "POST /ingest/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    "Content-Type: application/json\r\nAuthorization: Bearer " TEST_SECRET
                    "\r\nContent-Length: %zu\r\n\r\n",
                    strlen(json));
  if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
      send(fd, json, strlen(json), MSG_NOSIGNAL) != (ssize_t)strlen(json)) {
    close(fd);
    return -1;
  }
  char buf[4096];
  size_t len = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0)
      break;
    ssize_t k = recv(fd, buf + len, sizeof buf - 1 - len, 0);
    if (k <= 0)
      break;
    len += (size_t)k;
    if (len == sizeof buf - 1)
      break;
  }
  close(fd);
  buf[len] = '\0';
  int status = -1;
  if (strstr(buf, "\r\n\r\n") == NULL || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    return -1;
  return status;
}

/* Event i of the stream: every 8th a chat "c<i>" (each needs its speech
 * made, again after the restart), the others gifts "G<i>". */
static int event_json(char *out, size_t cap, int i)
{
  if (i % 8 == 0)
    return snprintf(
        out, cap,
        "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"u\",\"message\":\"c%d\",\"id\":\"e%d\"}",
        user, i, i);
  return snprintf(
      out, cap,
      "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G%d\",\"count\":1,"
      "\"id\":\"e%d\"}",
      user, i, i);
}

/* A batch of n events from `first`, as a JSON array. */
static void batch_json(char *out, size_t cap, int first, int n)
{
  size_t k = (size_t)snprintf(out, cap, "[");
  for (int i = 0; i < n; i++) {
    if (i)
      k += (size_t)snprintf(out + k, cap - k, ",");
    k += (size_t)event_json(out + k, cap - k, first + i);
  }
  snprintf(out + k, cap - k, "]");
}

/* What a client saw: ids by seq. */
#define MAX_IDS 20000
typedef struct seen {
  long long seq[MAX_IDS];
  int id[MAX_IDS];
  int n;
  int count_of[MAX_IDS * 2];
} seen;

/* Takes one frame: records a chat or gift event. Returns its id, 0 for
 * other messages. */
static int take(seen *sn, const uint8_t *d, size_t n)
{
  char m[8192];
  snprintf(m, sizeof m, "%.*s", (int)(n < sizeof m - 1 ? n : sizeof m - 1), (const char *)d);
  char type[32] = "", v[64] = "";
  json_str(m, "type", type, sizeof type);
  int id = 0;
  if (strcmp(type, "chat") == 0 && json_str(m, "message", v, sizeof v) && v[0] == 'c')
    id = atoi(v + 1);
  else if (strcmp(type, "gift") == 0 && json_str(m, "gift_name", v, sizeof v) && v[0] == 'G')
    id = atoi(v + 1);
  else
    return 0;
  cr_assert(id > 0 && id < MAX_IDS * 2 && sn->n < MAX_IDS, "%s", m);
  sn->seq[sn->n] = json_num(m, "seq");
  sn->id[sn->n] = id;
  sn->n++;
  sn->count_of[id]++;
  return id;
}

/* Reads what is there within timeout_ms; -1 when the socket closed. */
static int drain(ws *w, seen *sn, int timeout_ms)
{
  const uint8_t *d;
  size_t n;
  for (;;) {
    int op = ws_recv(w, &d, &n, timeout_ms);
    if (op == 0)
      return 0;
    if (op < 0 || op == 8)
      return -1;
    if (op == 1)
      take(sn, d, n);
  }
}

/* Kills the server once `posted` events were sent (then a few hundred
 * microseconds more, to land inside a request). */
typedef struct killer {
  pid_t pid;
  int after;
  int extra_us;
  _Atomic int posted;
} killer;

static void *kill_later(void *arg)
{
  killer *k = arg;
  struct timespec ms = {0, 1000000L};
  while (k->posted < k->after)
    nanosleep(&ms, NULL);
  struct timespec ts = {0, (long)k->extra_us * 1000L};
  nanosleep(&ts, NULL);
  kill(k->pid, SIGKILL);
  return NULL;
}

static void open_ws(ws *w, const char *query)
{
  char path[256];
  snprintf(path, sizeof path, "/ws/%s%s", token, query ? query : "");
  cr_assert_eq(ws_connect(w, &S, path, NULL), 0);
}

Test(crash, kill_9_mid_ingest_loses_nothing_acknowledged)
{
  static seen sn;
  memset(&sn, 0, sizeof sn);
  static bool acked[MAX_IDS * 2];
  memset(acked, 0, sizeof acked);
  ws w;
  open_ws(&w, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000)); /* hello */

  /* ingest batches of 1..5 events while a thread kills the server after a
   * random 200..800 of them */
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  static killer k;
  k.pid = S.pid;
  k.after = 200 + (int)(rand_r(&seed) % 600);
  k.extra_us = (int)(rand_r(&seed) % 1000);
  k.posted = 0;
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, kill_later, &k), 0);
  static char body[1 << 16];
  int next = 1, nacked = 0, bad = 0, lost_first = 0, lost_n = 0;
  while (next < MAX_IDS - 10) {
    int n = 1 + (int)(rand_r(&seed) % 5);
    batch_json(body, sizeof body, next, n);
    int st = post_raw(S.port, body);
    if (st < 0) { /* the server is gone: this batch's answer was lost */
      lost_first = next;
      lost_n = n;
      next += n;
      break;
    }
    if (st == 202) {
      for (int i = 0; i < n; i++)
        acked[next + i] = true;
      nacked += n;
    } else {
      bad++;
    }
    next += n;
    k.posted = next - 1;
    drain(&w, &sn, 0);
  }
  pthread_join(th, NULL);
  cr_assert_eq(bad, 0, "ingest answered something other than 202");
  cr_assert(nacked > 0, "nothing was acknowledged before the kill");
  int st;
  waitpid(S.pid, &st, 0);
  cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  while (drain(&w, &sn, 200) == 0)
    ;
  ws_close(&w);
  long long last = sn.n ? sn.seq[sn.n - 1] : 0;
  int before = sn.n;

  /* restart on the same data dir; resume from the last seq seen */
  srv_start(&S, NULL, true);
  char q[64];
  snprintf(q, sizeof q, "?since=%lld", last);
  open_ws(&w, q);
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_assert(strstr(m, "\"type\":\"hello\"") != NULL, "%s", m);
  cr_expect(strstr(m, "\"resume_gap\":false") != NULL, "%s", m);
  cr_expect(json_num(m, "last_seq") >= last, "the seq went back: %s (had %lld)", m, last);
  /* the source retries the batch whose answer it lost (same ids): what of it
   * was journaled is a duplicate now, the rest is taken */
  cr_assert(lost_n > 0);
  batch_json(body, sizeof body, lost_first, lost_n);
  cr_assert_eq(post_raw(S.port, body), 202);
  for (int i = 0; i < lost_n; i++)
    acked[lost_first + i] = true;

  /* wait until every acknowledged event is there: restored chats need their
   * speech made again, which takes a while (longer under sanitizers); give
   * up only when nothing came for 20 s */
  for (int idle = 0; idle < 200;) {
    int had = sn.n;
    drain(&w, &sn, 100);
    idle = sn.n > had ? 0 : idle + 1;
    bool all = true;
    for (int i = 1; i < next && all; i++)
      if (acked[i] && sn.count_of[i] == 0)
        all = false;
    if (all)
      break;
  }
  drain(&w, &sn, 300);

  for (int i = 1; i < next; i++) {
    cr_assert(acked[i]);
    cr_expect_eq(sn.count_of[i], 1,
                 "acknowledged event %d arrived %d times (%d before the kill, %d in all)", i,
                 sn.count_of[i], before, sn.n);
  }
  for (int i = 1; i < sn.n; i++) {
    cr_expect_gt(sn.seq[i], sn.seq[i - 1], "seq out of order at %d: %lld after %lld", i, sn.seq[i],
                 sn.seq[i - 1]);
    cr_expect_gt(sn.id[i], sn.id[i - 1], "event %d after %d: not in ingest order", sn.id[i],
                 sn.id[i - 1]);
  }

  /* new events number on above every old one */
  long long top = sn.n ? sn.seq[sn.n - 1] : 0;
  char one[512];
  event_json(one, sizeof one, MAX_IDS + 1);
  http_resp r;
  cr_assert_eq(ingest(&S, one, &r), 202, "%s", r.body);
  http_free(&r);
  int id = 0;
  for (int tries = 0; tries < 50 && id == 0; tries++) {
    const uint8_t *d;
    size_t n;
    int op = ws_recv(&w, &d, &n, 100);
    if (op == 1)
      id = take(&sn, d, n);
  }
  cr_assert_eq(id, MAX_IDS + 1);
  cr_expect_gt(sn.seq[sn.n - 1], top);
  ws_close(&w);
  cr_log_info("crash test: %d events acknowledged, %d seen before the kill, %d in all", nacked,
              before, sn.n);
}

Test(crash, an_open_gift_streak_survives)
{
  for (int rc = 1; rc <= 3; rc++) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"user_id\":\"42\",\"gift_"
             "name\":\"Rose\","
             "\"gift_id\":5655,\"count\":1,\"repeat_count\":%d}",
             user, rc);
    http_resp r;
    cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
    http_free(&r);
  }
  kill(S.pid, SIGKILL);
  waitpid(S.pid, NULL, 0);
  srv_start(&S, NULL, true);
  ws w;
  open_ws(&w, "?since=0");
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000)); /* hello */
  /* the streak's end never comes: it goes out after its idle time */
  cr_assert(ws_text(&w, m, sizeof m, 8000), "the streak was lost");
  cr_expect(strstr(m, "\"gift_name\":\"Rose\"") != NULL, "%s", m);
  cr_expect_eq(json_num(m, "count"), 3, "%s", m);
  cr_expect_eq(json_num(m, "seq"), 1, "%s", m);
  const uint8_t *d;
  size_t n;
  cr_expect_eq(ws_recv(&w, &d, &n, 4000), 0, "a second event arrived");
  ws_close(&w);
}

Test(crash, a_resume_older_than_the_history_says_how_many_were_missed)
{
  srv_stop(&S);
  const char *extra[] = {"--history", "3", NULL};
  srv_start(&S, extra, true);
  for (int i = 1; i <= 6; i++) {
    char one[512];
    snprintf(
        one, sizeof one,
        "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G%d\",\"count\":1}",
        user, i);
    http_resp r;
    cr_assert_eq(ingest(&S, one, &r), 202, "%s", r.body);
    http_free(&r);
  }
  srv_stop(&S);
  srv_start(&S, extra, true);
  ws w;
  open_ws(&w, "?since=1");
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":true") != NULL, "%s", m);
  cr_expect_eq(json_num(m, "first_seq"), 4, "%s", m);
  cr_expect_eq(json_num(m, "last_seq"), 6, "%s", m);
  cr_expect_eq(json_num(m, "missed"), 2, "%s", m); /* seqs 2 and 3 */
  ws_close(&w);

  /* in the history: resumed without a gap, the rest arrives */
  open_ws(&w, "?since=4");
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":false") != NULL, "%s", m);
  cr_expect_eq(json_num(m, "missed"), -1, "%s", m); /* omitted when 0 */
  for (int s = 5; s <= 6; s++) {
    cr_assert(ws_text(&w, m, sizeof m, 5000));
    cr_expect_eq(json_num(m, "seq"), s, "%s", m);
  }
  ws_close(&w);

  /* a seq this server never gave (its journal was lost): a gap, count unknown */
  open_ws(&w, "?since=100");
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":true") != NULL, "%s", m);
  cr_expect_eq(json_num(m, "missed"), -1, "%s", m);
  ws_close(&w);
}

Test(crash, a_retry_after_a_kill_is_still_a_duplicate)
{
  char body[1024];
  snprintf(body, sizeof body,
           "[{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G1\",\"count\":1,"
           "\"id\":\"e-1\"},"
           "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G2\",\"count\":1,"
           "\"id\":\"e-2\"}]",
           user, user);
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
  /* the answer was lost to the source: it retries after the server came back */
  kill(S.pid, SIGKILL);
  waitpid(S.pid, NULL, 0);
  srv_start(&S, NULL, true);
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  cr_expect(strstr(r.body, "\"duplicates\":2") != NULL, "%s", r.body);
  http_free(&r);
  ws w;
  open_ws(&w, "?since=0");
  static seen sn;
  memset(&sn, 0, sizeof sn);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000)); /* hello */
  drain(&w, &sn, 1500);
  cr_expect_eq(sn.n, 2, "%d events", sn.n);
  cr_expect_eq(sn.count_of[1], 1);
  cr_expect_eq(sn.count_of[2], 1);
  ws_close(&w);
}

/* ------------------------------------------------------- a slow disk */

static void setup_slow(void)
{
  /* every journal sync takes 700 ms more, as on a disk that is busy */
  setenv("TTB_TEST_JOURNAL_FSYNC_DELAY_MS", "700", 1);
  srv_start(&S, NULL, false);
  unsetenv("TTB_TEST_JOURNAL_FSYNC_DELAY_MS");
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
}

typedef struct slow_post {
  int first, status;
} slow_post;

static void *post_later(void *arg)
{
  slow_post *p = arg;
  char body[4096];
  batch_json(body, sizeof body, p->first, 3);
  p->status = post_raw(S.port, body);
  return NULL;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The journal's syncs run on its own thread: while one takes long, the
 * event loop goes on serving every other request and socket; the events
 * and the 202 still wait for the sync that covers them. */
Test(crash_slow, a_slow_journal_sync_does_not_stall_the_other_sockets, .init = setup_slow,
     .fini = teardown, .timeout = 120)
{
  ws w;
  open_ws(&w, NULL);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000)); /* hello */
  slow_post p = {.first = 1};
  double t0 = now_ms();
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, post_later, &p), 0);
  struct timespec nap = {0, 150 * 1000000L};
  nanosleep(&nap, NULL);
  /* the ingest waits for its sync: meanwhile, a request and a new socket */
  double t1 = now_ms();
  http_resp r;
  cr_assert_eq(http(&S, "GET", "/healthz", NULL, NULL, 0, &r), 200);
  http_free(&r);
  ws w2;
  open_ws(&w2, NULL);
  cr_assert(ws_text(&w2, m, sizeof m, 5000)); /* its hello */
  double served = now_ms() - t1;
  pthread_join(th, NULL);
  double acked = now_ms() - t0;
  cr_assert_eq(p.status, 202);
  cr_assert_lt(served, 400.0, "the loop served others in %.0f ms during a 700 ms sync", served);
  cr_assert_geq(acked, 650.0, "the 202 waited for the sync (%.0f ms)", acked);
  /* and the events came, in order, after the sync */
  for (int i = 0; i < 3; i++) {
    cr_assert(ws_text(&w, m, sizeof m, 5000), "event %d", i + 1);
    cr_assert_eq(json_num(m, "seq"), i + 1, "%s", m);
  }
  ws_close(&w2);
  ws_close(&w);
}
