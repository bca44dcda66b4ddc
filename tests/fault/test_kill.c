/*
 * Fault: the server killed with SIGKILL under load, and restarted.
 *
 * Guarantee (docs/operations.md "Faults", "What survives a restart"): with
 * several channels, several sockets on each and ingest running on every
 * channel at once, a kill -9 loses no event whose ingest was answered 202,
 * delivers none twice and none to another channel; every socket resumes
 * with ?since=<last seq it saw> without a gap and gets the rest of its
 * channel in order; a batch whose answer the kill lost, retried with the
 * same ids, arrives once; seqs go on above the old ones.
 *
 * tests/server_it/test_crash.c covers one channel and one socket (and the
 * gift streak, the dedup across a restart, the resume older than the
 * history); this adds the load: 3 channels x 2 sockets, 3 ingest threads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

#define NCH 3       /* channels */
#define NS 2        /* sockets per channel */
#define SPAN 20000  /* ids of channel c: c*SPAN+1 .. */
#define PER_CH 4000 /* at most this many events per channel before the kill */

static srv S;
static struct chan {
  char key[128], user[64], tok[NS][64];
} ch[NCH];

static void setup(void)
{
  srv_start(&S, NULL, false);
  for (int c = 0; c < NCH; c++) {
    new_key(&S, ch[c].key, sizeof ch[c].key, NULL, "2");
    for (int k = 0; k < NS; k++) {
      char dev[16];
      snprintf(dev, sizeof dev, "dev%d", k);
      cr_assert_eq(login(&S, ch[c].key, dev, ch[c].user, ch[c].tok[k]), 200);
    }
  }
}
static void teardown(void)
{
  srv_stop(&S);
  srv_cleanup(&S);
}

TestSuite(fault_kill, .init = setup, .fini = teardown, .timeout = 240);

static bool acked[NCH * SPAN + SPAN];
static _Atomic int posted; /* events sent, every channel */
static _Atomic bool server_gone;

typedef struct feeder {
  int c, port, next; /* next: the next i to send */
  unsigned seed;
  int lost_first, lost_n, bad, nacked;
  pthread_t th;
} feeder;

/* A batch of n events of channel f->c from `first`, every 8th a chat. */
static void batch(char *out, size_t cap, int c, int first, int n)
{
  size_t k = (size_t)snprintf(out, cap, "[");
  for (int i = 0; i < n; i++) {
    if (i)
      k += (size_t)snprintf(out + k, cap - k, ",");
    k += (size_t)event_json(out + k, cap - k, ch[c].user, first + i, (first + i) % 8 == 0);
  }
  snprintf(out + k, cap - k, "]");
}

static void *feed(void *arg)
{
  feeder *f = arg;
  char body[8192];
  int last = f->c * SPAN + PER_CH;
  while (!server_gone && f->next < last) {
    int n = 1 + (int)(rand_r(&f->seed) % 5);
    batch(body, sizeof body, f->c, f->next, n);
    int st = raw_ingest(f->port, body, NULL, 0);
    if (st < 0) { /* the server is gone: this batch's answer was lost */
      f->lost_first = f->next;
      f->lost_n = n;
      f->next += n;
      break;
    }
    if (st == 202) {
      for (int i = 0; i < n; i++)
        acked[f->next + i] = true;
      f->nacked += n;
    } else {
      f->bad++;
    }
    f->next += n;
    posted += n;
  }
  return NULL;
}

typedef struct killer {
  pid_t pid;
  int after;
} killer;

static void *kill_later(void *arg)
{
  killer *k = arg;
  struct timespec ms = {0, 1000000L};
  double end = now_s() + 60;
  while (posted < k->after && now_s() < end)
    nanosleep(&ms, NULL);
  kill(k->pid, SIGKILL);
  server_gone = true;
  return NULL;
}

static ws W[NCH][NS];
static track T[NCH][NS];

static void open_ws(int c, int k, bool resume)
{
  char path[256];
  snprintf(path, sizeof path, "/ws/%s", ch[c].tok[k]);
  if (resume)
    snprintf(path + strlen(path), sizeof path - strlen(path), "?since=%lld", T[c][k].last_seq);
  cr_assert_eq(ws_connect(&W[c][k], &S, path, NULL), 0);
  char m[4096];
  cr_assert(ws_text(&W[c][k], m, sizeof m, 5000), "no hello");
  cr_assert(strstr(m, "\"type\":\"hello\""), "%s", m);
  if (resume) {
    cr_expect(strstr(m, "\"resume_gap\":false") != NULL, "socket %d/%d resumed with a gap: %s", c,
              k, m);
    cr_expect(json_num(m, "last_seq") >= T[c][k].last_seq, "the seq went back: %s", m);
  }
}

Test(fault_kill, kill_9_under_load_loses_nothing_acknowledged)
{
  for (int c = 0; c < NCH; c++)
    for (int k = 0; k < NS; k++) {
      memset(&T[c][k], 0, sizeof T[c][k]);
      open_ws(c, k, false);
    }
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  static killer kl;
  kl.pid = S.pid;
  kl.after = 300 + (int)(rand_r(&seed) % 900);
  posted = 0;
  server_gone = false;
  memset(acked, 0, sizeof acked);
  static feeder F[NCH];
  pthread_t kth;
  cr_assert_eq(pthread_create(&kth, NULL, kill_later, &kl), 0);
  for (int c = 0; c < NCH; c++) {
    F[c] = (feeder){.c = c, .port = S.port, .next = c * SPAN + 1, .seed = seed + (unsigned)c};
    cr_assert_eq(pthread_create(&F[c].th, NULL, feed, &F[c]), 0);
  }
  /* the sockets read meanwhile, until the kill closes them */
  int open = NCH * NS;
  double end = now_s() + 90;
  while (open > 0 && now_s() < end) {
    for (int c = 0; c < NCH; c++)
      for (int k = 0; k < NS; k++)
        if (W[c][k].fd >= 0 && track_drain(&W[c][k], &T[c][k], 0) < 0) {
          ws_close(&W[c][k]);
          open--;
        }
    usleep(2000);
  }
  cr_assert_eq(open, 0, "the sockets outlived the kill");
  pthread_join(kth, NULL);
  for (int c = 0; c < NCH; c++)
    pthread_join(F[c].th, NULL);
  int st;
  cr_assert_eq(waitpid(S.pid, &st, 0), S.pid);
  cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  int nacked = 0, before = 0;
  for (int c = 0; c < NCH; c++) {
    cr_assert_eq(F[c].bad, 0, "channel %d: ingest answered something other than 202", c);
    nacked += F[c].nacked;
    for (int k = 0; k < NS; k++)
      before += T[c][k].n;
  }
  cr_assert_gt(nacked, 0, "nothing was acknowledged before the kill");

  /* restart; every socket resumes from its own last seq */
  srv_start(&S, NULL, true);
  for (int c = 0; c < NCH; c++)
    for (int k = 0; k < NS; k++)
      open_ws(c, k, true);
  /* the sources retry what the kill cut short, with the same ids, and go on */
  char body[8192];
  for (int c = 0; c < NCH; c++) {
    if (F[c].lost_n) {
      batch(body, sizeof body, c, F[c].lost_first, F[c].lost_n);
      cr_assert_eq(raw_ingest(S.port, body, NULL, 0), 202);
      for (int i = 0; i < F[c].lost_n; i++)
        acked[F[c].lost_first + i] = true;
    }
    for (int b = 0; b < 5; b++) {
      batch(body, sizeof body, c, F[c].next, 4);
      cr_assert_eq(raw_ingest(S.port, body, NULL, 0), 202);
      for (int i = 0; i < 4; i++)
        acked[F[c].next + i] = true;
      F[c].next += 4;
    }
  }
  /* wait until each socket has its channel's acknowledged events (chats
   * need their speech made again); give up after 20 s without progress */
  double last_progress = now_s();
  for (;;) {
    int got = 0;
    bool all = true;
    for (int c = 0; c < NCH; c++)
      for (int k = 0; k < NS; k++) {
        int had = T[c][k].n;
        track_drain(&W[c][k], &T[c][k], 20);
        got += T[c][k].n - had;
        all = all && track_has_all(&T[c][k], acked, c * SPAN + 1, F[c].next, NULL);
      }
    if (got)
      last_progress = now_s();
    if (all || now_s() - last_progress > 20)
      break;
  }
  for (int c = 0; c < NCH; c++)
    for (int k = 0; k < NS; k++)
      track_drain(&W[c][k], &T[c][k], 200);

  for (int c = 0; c < NCH; c++)
    for (int k = 0; k < NS; k++) {
      track *t = &T[c][k];
      int missing = 0, twice = 0, foreign = 0;
      for (int i = 1; i < NCH * SPAN; i++) {
        bool mine = i > c * SPAN && i < F[c].next;
        if (mine && acked[i] && t->count[i] == 0) {
          if (missing++ < 3)
            cr_log_error("socket %d/%d: acknowledged event %d never arrived", c, k, i);
        }
        if (t->count[i] > 1 && twice++ < 3)
          cr_log_error("socket %d/%d: event %d arrived %d times", c, k, i, t->count[i]);
        if (!mine && t->count[i])
          foreign++;
      }
      cr_expect_eq(missing, 0, "socket %d/%d: %d acknowledged events lost", c, k, missing);
      cr_expect_eq(twice, 0, "socket %d/%d: %d events twice", c, k, twice);
      cr_expect_eq(foreign, 0, "socket %d/%d: %d events of another channel", c, k, foreign);
      cr_expect_eq(t->seq_back, 0, "socket %d/%d: a seq went back %d times", c, k, t->seq_back);
      cr_expect_eq(t->order_back, 0, "socket %d/%d: out of ingest order %d times", c, k,
                   t->order_back);
      ws_close(&W[c][k]);
    }
  cr_log_info("kill -9 under load: killed after %d posted, %d acknowledged, %d received before, "
              "lost batches retried: %d %d %d",
              kl.after, nacked, before, F[0].lost_n, F[1].lost_n, F[2].lost_n);
}
