/*
 * The event journal (journal.h): records come back in order after a
 * reopen, only whole synced commits count, a torn or corrupt tail is cut
 * off, compaction keeps exactly what the dump gives; and the gift streaks'
 * snapshot (streak.h) carries an open streak across.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "streak.h"

static char dir[64], path[128];

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/ttb-journal-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/events.journal", dir);
}

static void teardown(void)
{
  char p[160];
  snprintf(p, sizeof p, "%s.tmp", path);
  unlink(p);
  unlink(path);
  rmdir(dir);
}

TestSuite(journal, .init = setup, .fini = teardown);

/* What a replay gave, flattened to one line per record. */
typedef struct got {
  char lines[64][256];
  int n;
} got;

static void collect(void *arg, const ttb_jrec *r)
{
  got *g = arg;
  cr_assert(g->n < 64);
  char *l = g->lines[g->n++];
  switch (r->type) {
  case TTB_JREC_EVENT:
    snprintf(l, 256, "event %s seq=%llu fifo=%llu chat=%d data=%.*s", r->channel,
             (unsigned long long)r->seq, (unsigned long long)r->fifo, r->chat, (int)r->len,
             (const char *)r->data);
    break;
  case TTB_JREC_QUEUED:
    snprintf(l, 256, "queued %s fifo=%llu chat=%d %s|%s|%s|%u", r->channel,
             (unsigned long long)r->fifo, r->chat, r->user, r->text, r->url, r->count);
    break;
  case TTB_JREC_CHANNEL:
    snprintf(l, 256, "channel %s seq=%llu fifo=%llu", r->channel, (unsigned long long)r->seq,
             (unsigned long long)r->fifo);
    break;
  case TTB_JREC_DROPPED:
    snprintf(l, 256, "dropped %s fifo=%llu", r->channel, (unsigned long long)r->fifo);
    break;
  case TTB_JREC_STREAKS:
    snprintf(l, 256, "streaks %zu", r->len);
    break;
  case TTB_JREC_SEEN:
    snprintf(l, 256, "seen %s %s at %llu", r->channel, r->text, (unsigned long long)r->seq);
    break;
  }
}

static ttb_journal *open_j(got *g)
{
  char err[256] = "";
  memset(g, 0, sizeof *g);
  ttb_journal *j = ttb_journal_open(path, collect, g, err, sizeof err);
  cr_assert_not_null(j, "%s", err);
  return j;
}

static void add_event(ttb_journal *j, const char *ch, uint64_t seq, const char *data)
{
  ttb_jrec r = {.type = TTB_JREC_EVENT,
                .channel = ch,
                .seq = seq,
                .fifo = seq,
                .chat = seq % 2,
                .data = (const uint8_t *)data,
                .len = strlen(data)};
  cr_assert_eq(ttb_journal_add(j, &r), 0);
}

static void sync_j(ttb_journal *j)
{
  char err[256] = "";
  cr_assert_eq(ttb_journal_sync(j, err, sizeof err), 0, "%s", err);
}

Test(journal, records_come_back_in_order_and_only_synced_commits_count)
{
  got g;
  ttb_journal *j = open_j(&g);
  cr_assert_eq(g.n, 0);
  cr_assert(!ttb_journal_dirty(j));
  add_event(j, "a", 1, "one");
  ttb_jrec q = {.type = TTB_JREC_QUEUED,
                .channel = "a",
                .fifo = 2,
                .chat = true,
                .user = "Аруке",
                .text = "Привет!",
                .url = NULL};
  cr_assert_eq(ttb_journal_add(j, &q), 0);
  cr_assert(ttb_journal_dirty(j));
  sync_j(j);
  add_event(j, "b", 1, "two");
  ttb_jrec d = {.type = TTB_JREC_DROPPED, .channel = "a", .fifo = 3};
  cr_assert_eq(ttb_journal_add(j, &d), 0);
  sync_j(j);
  add_event(j, "a", 4, "never synced");
  ttb_journal_close(j);

  j = open_j(&g);
  cr_assert_eq(g.n, 4);
  cr_assert_str_eq(g.lines[0], "event a seq=1 fifo=1 chat=1 data=one");
  cr_assert_str_eq(g.lines[1], "queued a fifo=2 chat=1 Аруке|Привет!||0");
  cr_assert_str_eq(g.lines[2], "event b seq=1 fifo=1 chat=1 data=two");
  cr_assert_str_eq(g.lines[3], "dropped a fifo=3");
  ttb_journal_close(j);
}

Test(journal, a_torn_tail_is_cut_off)
{
  got g;
  ttb_journal *j = open_j(&g);
  add_event(j, "a", 1, "kept");
  sync_j(j);
  uint64_t good = ttb_journal_size(j);
  add_event(j, "a", 2, "torn");
  add_event(j, "a", 3, "torn too");
  sync_j(j);
  uint64_t full = ttb_journal_size(j);
  ttb_journal_close(j);
  /* every cut inside the second commit leaves only the first */
  for (uint64_t cut = good + 1; cut < full; cut += 7) {
    cr_assert_eq(truncate(path, (off_t)cut), 0);
    j = open_j(&g);
    cr_assert_eq(g.n, 1, "cut at %llu", (unsigned long long)cut);
    cr_assert_eq(ttb_journal_size(j), good, "the tail is cut off on open");
    /* and what comes next is appended after the good part */
    add_event(j, "a", 2, "torn");
    add_event(j, "a", 3, "torn too");
    sync_j(j);
    cr_assert_eq(ttb_journal_size(j), full);
    ttb_journal_close(j);
  }
  j = open_j(&g);
  cr_assert_eq(g.n, 3);
  cr_assert_str_eq(g.lines[2], "event a seq=3 fifo=3 chat=1 data=torn too");
  ttb_journal_close(j);
}

Test(journal, a_corrupt_record_ends_the_replay_there)
{
  got g;
  ttb_journal *j = open_j(&g);
  add_event(j, "a", 1, "first");
  sync_j(j);
  uint64_t good = ttb_journal_size(j);
  add_event(j, "a", 2, "second");
  sync_j(j);
  add_event(j, "a", 3, "third");
  sync_j(j);
  ttb_journal_close(j);
  int fd = open(path, O_RDWR);
  cr_assert(fd >= 0);
  char x = 'X';
  cr_assert_eq(pwrite(fd, &x, 1, (off_t)good + 20), 1); /* inside "second"'s record */
  close(fd);
  j = open_j(&g);
  cr_assert_eq(g.n, 1);
  cr_assert_eq(ttb_journal_size(j), good);
  ttb_journal_close(j);
}

Test(journal, not_a_journal_is_refused)
{
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("something else entirely\n", f);
  fclose(f);
  char err[256] = "";
  cr_assert_null(ttb_journal_open(path, NULL, NULL, err, sizeof err));
  cr_assert(strstr(err, "not a TTBoost journal") != NULL, "%s", err);
}

static void dump_two(void *arg, ttb_journal *j)
{
  (void)arg;
  ttb_jrec c = {.type = TTB_JREC_CHANNEL, .channel = "a", .seq = 100, .fifo = 120};
  ttb_journal_add(j, &c);
  add_event(j, "a", 100, "newest");
}

Test(journal, compaction_keeps_what_the_dump_gives)
{
  got g;
  ttb_journal *j = open_j(&g);
  for (int i = 1; i <= 100; i++)
    add_event(j, "a", (uint64_t)i, "some event text");
  sync_j(j);
  uint64_t before = ttb_journal_size(j);
  char err[256] = "";
  cr_assert_eq(ttb_journal_compact(j, dump_two, NULL, err, sizeof err), 0, "%s", err);
  cr_assert_lt(ttb_journal_size(j), before);
  add_event(j, "a", 101, "after");
  sync_j(j);
  ttb_journal_close(j);
  j = open_j(&g);
  cr_assert_eq(g.n, 3);
  cr_assert_str_eq(g.lines[0], "channel a seq=100 fifo=120");
  cr_assert_str_eq(g.lines[1], "event a seq=100 fifo=100 chat=0 data=newest");
  cr_assert_str_eq(g.lines[2], "event a seq=101 fifo=101 chat=1 data=after");
  ttb_journal_close(j);
}

static void dump_carrying_seen(void *arg, ttb_journal *j)
{
  (void)arg;
  add_event(j, "a", 7, "kept");
  cr_assert_eq(ttb_journal_carry(j, TTB_JREC_SEEN, 2000), 0);
}

Test(journal, compaction_carries_the_ids_still_in_their_window)
{
  got g;
  ttb_journal *j = open_j(&g);
  const char *ids[] = {"old-1", "old-2", "new-1", "new-2"};
  for (int i = 0; i < 4; i++) {
    ttb_jrec r = {.type = TTB_JREC_SEEN,
                  .channel = i % 2 ? "b" : "a",
                  .text = ids[i],
                  .seq = 1000u * (uint64_t)(i + 1)};
    cr_assert_eq(ttb_journal_add(j, &r), 0);
    add_event(j, "a", (uint64_t)i + 1, "e");
    sync_j(j);
  }
  char err[256] = "";
  cr_assert_eq(ttb_journal_carry(j, TTB_JREC_SEEN, 0), -1, "only inside a compaction");
  cr_assert_eq(ttb_journal_compact(j, dump_carrying_seen, NULL, err, sizeof err), 0, "%s", err);
  ttb_journal_close(j);
  j = open_j(&g);
  cr_assert_eq(g.n, 4);
  cr_assert_str_eq(g.lines[0], "event a seq=7 fifo=7 chat=1 data=kept");
  cr_assert_str_eq(g.lines[1], "seen b old-2 at 2000");
  cr_assert_str_eq(g.lines[2], "seen a new-1 at 3000");
  cr_assert_str_eq(g.lines[3], "seen b new-2 at 4000");
  ttb_journal_close(j);
}

/* ------------------------------------------------------- the journal thread */

/* A replay checked on the fly: events of channel "a" strictly one after
 * the other (each seq the previous + 1) since the last CHANNEL record. */
typedef struct seqchk {
  uint64_t last, snap, events;
  bool broken;
  char why[160];
} seqchk;

static void check_seq(void *arg, const ttb_jrec *r)
{
  seqchk *c = arg;
  if (r->type == TTB_JREC_CHANNEL) {
    c->snap = r->seq;
    c->last = 0;
    return;
  }
  if (r->type != TTB_JREC_EVENT)
    return;
  c->events++;
  if (c->last && r->seq != c->last + 1 && !c->broken) {
    c->broken = true;
    snprintf(c->why, sizeof c->why, "seq %llu after %llu", (unsigned long long)r->seq,
             (unsigned long long)c->last);
  }
  c->last = r->seq;
}

static int wake_pipe[2];

static void nap_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static ttb_journal *open_threaded(void)
{
  char err[256] = "";
  ttb_journal *j = ttb_journal_open(path, NULL, NULL, err, sizeof err);
  cr_assert_not_null(j, "%s", err);
  cr_assert_eq(pipe(wake_pipe), 0);
  fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
  cr_assert_eq(ttb_journal_start(j, wake_pipe[1], err, sizeof err), 0, "%s", err);
  return j;
}

static void close_threaded(ttb_journal *j)
{
  ttb_journal_close(j);
  close(wake_pipe[0]);
  close(wake_pipe[1]);
}

Test(journal, the_thread_syncs_submitted_commits_in_order_and_says_so)
{
  ttb_journal *j = open_threaded();
  uint64_t t = 0, prev = 0;
  for (uint64_t i = 1; i <= 300; i++) {
    add_event(j, "a", i, "e");
    cr_assert_eq(ttb_journal_next_ticket(j), prev + 1);
    if (i % 3 == 0) {
      cr_assert_eq(ttb_journal_submit(j, &t), 0);
      cr_assert_eq(t, prev + 1, "one ticket per submitted commit");
      prev = t;
    }
  }
  /* wait for the thread: the wake pipe gets a byte, synced reaches t */
  ttb_journal_stat st;
  for (int k = 0; k < 500; k++) {
    ttb_journal_status(j, &st);
    if (st.synced >= t)
      break;
    nap_ms(10);
  }
  cr_assert_eq(st.synced, t, "synced %llu of %llu", (unsigned long long)st.synced,
               (unsigned long long)t);
  char b;
  cr_assert_eq(read(wake_pipe[0], &b, 1), 1, "the loop was woken");
  close_threaded(j);
  seqchk c = {0};
  char err[256] = "";
  j = ttb_journal_open(path, check_seq, &c, err, sizeof err);
  cr_assert_not_null(j, "%s", err);
  cr_assert(!c.broken, "%s", c.why);
  cr_assert_eq(c.events, 300);
  cr_assert_eq(c.last, 300);
  ttb_journal_close(j);
}

static uint64_t flood_cur; /* the newest seq added: the "live state" */

/* The live state: the channel's seq and its last 4 events (a history). */
static void dump_history(void *arg, ttb_journal *j)
{
  (void)arg;
  ttb_jrec c = {.type = TTB_JREC_CHANNEL, .channel = "a", .seq = flood_cur - 4, .fifo = 0};
  ttb_journal_add(j, &c);
  for (uint64_t s = flood_cur - 3; s <= flood_cur; s++)
    add_event(j, "a", s, "history");
}

Test(journal, compactions_during_a_flood_lose_nothing_and_keep_the_order)
{
  ttb_journal *j = open_threaded();
  const uint64_t N = 60000;
  uint64_t started = 0;
  char err[256] = "";
  ttb_journal_stat st;
  for (flood_cur = 1; flood_cur <= N; flood_cur++) {
    add_event(j, "a", flood_cur, "a flood of events, each a little text");
    uint64_t t;
    if (flood_cur % 7 == 0)
      cr_assert_eq(ttb_journal_submit(j, &t), 0);
    /* a compaction every 5000 events, while the records keep coming; one
     * still running is waited for (on a slow machine, under ASan say, it can
     * outlast 5000 events: skipping it made the count depend on the speed) */
    if (flood_cur % 5000 == 0) {
      for (int k = 0; k < 1000; k++) {
        ttb_journal_status(j, &st);
        if (!st.compacting)
          break;
        nap_ms(10);
      }
      cr_assert(!st.compacting, "a compaction ended within 10 s");
      cr_assert_eq(ttb_journal_compact_start(j, dump_history, NULL, err, sizeof err), 0, "%s", err);
      started++;
    }
  }
  flood_cur = N;
  cr_assert_eq(ttb_journal_sync(j, err, sizeof err), 0, "%s", err);
  for (int k = 0; k < 1000; k++) {
    ttb_journal_status(j, &st);
    if (!st.compacting)
      break;
    nap_ms(10);
  }
  cr_assert(!st.compacting);
  cr_assert_eq(started, N / 5000);
  cr_assert_eq(st.compactions, started, "%s", st.compact_error);
  cr_assert_eq(st.compact_errors, 0);
  close_threaded(j);
  seqchk c = {0};
  j = ttb_journal_open(path, check_seq, &c, err, sizeof err);
  cr_assert_not_null(j, "%s", err);
  cr_assert(!c.broken, "%s", c.why);
  cr_assert_eq(c.last, N, "the newest event is there (%llu)", (unsigned long long)c.last);
  cr_assert_gt(c.snap, 0, "the file was compacted");
  cr_assert_eq(c.events, N - c.snap, "every event after the last snapshot, once");
  cr_assert_lt(c.events, N, "the compaction dropped the old ones");
  ttb_journal_close(j);
}

static void *slow_sync(void *arg)
{
  ttb_journal *j = arg;
  char err[256] = "";
  return (void *)(intptr_t)ttb_journal_sync(j, err, sizeof err);
}

Test(journal, a_slow_disk_does_not_block_the_submitter)
{
  setenv("TTB_TEST_JOURNAL_FSYNC_DELAY_MS", "400", 1);
  ttb_journal *j = open_threaded();
  unsetenv("TTB_TEST_JOURNAL_FSYNC_DELAY_MS");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t t = 0;
  for (uint64_t i = 1; i <= 50; i++) {
    add_event(j, "a", i, "e");
    cr_assert_eq(ttb_journal_submit(j, &t), 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  cr_assert_lt(ms, 200.0, "submits do not wait for the disk (%.1f ms)", ms);
  ttb_journal_stat st;
  ttb_journal_status(j, &st);
  cr_assert_lt(st.synced, t, "nothing can be synced yet");
  /* group commit: 50 commits in at most a few syncs of 400 ms */
  pthread_t th;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(pthread_create(&th, NULL, slow_sync, j), 0);
  void *rc;
  pthread_join(th, &rc);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  cr_assert_eq((intptr_t)rc, 0);
  cr_assert_lt(ms, 1300.0, "50 commits share syncs (%.1f ms)", ms);
  ttb_journal_status(j, &st);
  cr_assert_geq(st.synced, t);
  close_threaded(j);
}

/* ---------------------------------------------------------------- streaks */

typedef struct out {
  int n;
  char gift[32];
  uint32_t count;
} out;

static void on_gift(void *arg, const char *channel, const char *user, const char *gift_name,
                    uint32_t count)
{
  (void)channel;
  (void)user;
  out *o = arg;
  o->n++;
  snprintf(o->gift, sizeof o->gift, "%s", gift_name);
  o->count = count;
}

Test(streak_snapshot, an_open_streak_goes_on_after_a_load)
{
  ttb_streaks *a = ttb_streaks_create(3000, 16);
  out o = {0};
  uint64_t g0 = ttb_streaks_generation(a);
  for (uint32_t rc = 1; rc <= 3; rc++)
    ttb_streaks_feed(a, 1000 + rc, "ch", "Aruka", "42", "Rose", 5655, 1, rc, false, on_gift, &o);
  /* and one that closed (remembered, so that its late parts are dropped) */
  ttb_streaks_feed(a, 1010, "ch", "Bek", "43", "Lion", 1, 1, 2, true, on_gift, &o);
  cr_assert_eq(o.n, 1);
  cr_assert_neq(ttb_streaks_generation(a), g0);
  uint8_t *snap;
  size_t len;
  cr_assert_eq(ttb_streaks_save(a, 2000, &snap, &len), 0);
  ttb_streaks_free(a);

  /* another process, another clock */
  ttb_streaks *b = ttb_streaks_create(3000, 16);
  cr_assert_eq(ttb_streaks_load(b, 50000, snap, len), 0);
  cr_assert_eq(ttb_streaks_open(b), 1);
  memset(&o, 0, sizeof o);
  ttb_streaks_feed(b, 50100, "ch", "Bek", "43", "Lion", 1, 1, 2, true, on_gift, &o);
  cr_assert_eq(o.n, 0, "the closed streak's late end is not counted again");
  ttb_streaks_feed(b, 50200, "ch", "Aruka", "42", "Rose", 5655, 1, 4, false, on_gift, &o);
  ttb_streaks_tick(b, 52000, on_gift, &o);
  cr_assert_eq(o.n, 0, "not idle yet");
  ttb_streaks_tick(b, 53300, on_gift, &o);
  cr_assert_eq(o.n, 1);
  cr_assert_str_eq(o.gift, "Rose");
  cr_assert_eq(o.count, 4, "the whole streak, counted once");
  /* malformed snapshots are refused */
  cr_assert_eq(ttb_streaks_load(b, 60000, snap, len - 1), -1);
  free(snap);
  ttb_streaks_free(b);
}
