/*
 * Fault: speech and disk under pressure.
 *
 * Guarantees (docs/operations.md "Faults"):
 * - a flood of one channel's speech (400 long chats, --tts-eager, one
 *   worker, --tts-backlog 8): every chat still goes out at once, once and
 *   in order, each with its tts_url; the oldest waiting speech is dropped
 *   (ttboost_tts_backlog_dropped_total) and the newest is made; another
 *   channel's speech and gifts are not held up (round-robin queues); a
 *   dropped chat's URL is still made when fetched;
 * - the TTS cache's disk full: test_cache_full.c;
 * - the data directory's disk full (a tmpfs as DATA, filled): ingest
 *   answers 503 "journal" (nothing is acknowledged that is not stored),
 *   sockets stay open and answer pings, nothing crashes; when space is
 *   freed, the batches retried with the same ids are delivered once, and a
 *   restart finds the journal whole.
 * The disk scenarios mount a tmpfs: they need root (CI runs as root) and
 * are skipped, saying so, without it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

static srv S;
static bool mounted;
static char mnt[300];

static void teardown(void)
{
  if (S.pid > 0)
    srv_stop(&S);
  if (mounted)
    tmpfs_umount(mnt);
  mounted = false;
  srv_cleanup(&S);
}

TestSuite(fault_tts, .fini = teardown, .timeout = 240);

/* ------------------------------------------- a flood of one channel's speech */

#define BURST 400
/* long enough that each synthesis takes a while: the backlog then matters */
#define LONG_TEXT                                                                             \
  "and this message goes on for a while, so that speaking it keeps a worker busy for a good " \
  "fraction of a second on this machine"

/* The path of the speech of "voice\ntext": tts.c's content address. */
static void tts_path(const char *vt, char *out, size_t cap)
{
  unsigned char h[16];
  char hex[33];
  crypto_generichash(h, sizeof h, (const unsigned char *)vt, strlen(vt), NULL, 0);
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  snprintf(out, cap, "/tts/%s.ogg", hex);
}

static bool cached(const char *path)
{
  char f[600];
  snprintf(f, sizeof f, "%s%s", S.dir, path);
  return access(f, F_OK) == 0;
}

Test(fault_tts, a_flood_of_speech_drops_its_oldest_not_chats_nor_other_channels)
{
  /* one worker, eager speech, a backlog of 8 per channel */
  const char *const extra[] = {"--tts-read-user",
                               "no",
                               "--tts-workers",
                               "1",
                               "--tts-eager",
                               "yes",
                               "--tts-backlog",
                               "8",
                               NULL};
  srv_start(&S, extra, false);
  char key[2][128], user[2][64], tok[2][64];
  for (int c = 0; c < 2; c++) {
    new_key(&S, key[c], sizeof key[c], NULL, NULL);
    cr_assert_eq(login(&S, key[c], NULL, user[c], tok[c]), 200);
  }
  static ws a, b;
  static track ta, tb;
  memset(&ta, 0, sizeof ta);
  memset(&tb, 0, sizeof tb);
  fault_open_ws(&S, &a, tok[0]);
  fault_open_ws(&S, &b, tok[1]);
  double drop0 = metric(&S, "ttboost_tts_backlog_dropped_total");
  cr_assert_geq(drop0, 0);

  /* 400 distinct long chats on channel A in 4 batches, far faster than speech */
  static char body[1 << 17];
  static bool want[BURST + 2];
  for (int first = 1; first <= BURST; first += 100) {
    size_t k = (size_t)snprintf(body, sizeof body, "[");
    for (int i = first; i < first + 100; i++)
      k += (size_t)snprintf(body + k, sizeof body - k,
                            "%s{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"u\","
                            "\"message\":\"c%d " LONG_TEXT "\",\"id\":\"e%d\"}",
                            i > first ? "," : "", user[0], i, i);
    snprintf(body + k, sizeof body - k, "]");
    for (int i = first; i < first + 100; i++)
      want[i] = true;
    double t0 = now_s();
    fault_post_ok(&S, body);
    cr_expect_lt(now_s() - t0, 2.0, "ingest of a burst took %.2f s", now_s() - t0);
  }
  /* every chat goes out at once, once, in order, each with its URL */
  fault_wait_all(&S, &a, &ta, want, 1, BURST + 1, 10.0);
  int missing = 0, twice = 0;
  for (int i = 1; i <= BURST; i++) {
    missing += ta.count[i] == 0;
    twice += ta.count[i] > 1;
  }
  cr_expect_eq(missing, 0, "%d chats never went out", missing);
  cr_expect_eq(twice, 0, "%d chats went out twice", twice);
  cr_expect_eq(ta.order_back, 0);
  cr_expect_eq(ta.seq_back, 0);
  cr_expect_eq(ta.no_url, 0, "%d chats without a URL", ta.no_url);
  double dropped = metric(&S, "ttboost_tts_backlog_dropped_total") - drop0;
  cr_expect_geq(dropped, BURST - 8 - 20, "only %.0f dropped from a backlog of 8", dropped);

  /* channel B's speech is not held up by A's: its own queue gets the next turn */
  double t0 = now_s();
  char one[512];
  snprintf(one, sizeof one,
           "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"u\",\"message\":\"b1\",\"id\":\"b1\"}",
           user[1]);
  fault_post_ok(&S, one);
  char pb[128];
  tts_path("en\nb1", pb, sizeof pb);
  http_resp r;
  cr_expect_eq(http(&S, "GET", pb, NULL, NULL, 0, &r), 200);
  cr_expect(r.body_len > 4 && memcmp(r.body, "OggS", 4) == 0);
  http_free(&r);
  double tb_s = now_s() - t0;
  cr_expect_lt(tb_s, 2.5, "channel B's speech took %.2f s behind A's flood", tb_s);
  /* a gift of B goes out at once */
  t0 = now_s();
  event_json(one, sizeof one, user[1], BURST + 1, false);
  fault_post_ok(&S, one);
  static bool wb[BURST + 2];
  wb[BURST + 1] = true;
  fault_wait_all(&S, &b, &tb, wb, BURST + 1, BURST + 2, 3.0);
  cr_expect_eq(tb.count[BURST + 1], 1, "channel B's gift did not arrive while A's speech is made");
  cr_expect_lt(now_s() - t0, 1.0, "channel B's gift took %.2f s", now_s() - t0);

  /* the newest of A's were kept, the oldest dropped: once A's backlog is
   * spoken, the last chat's file is there and a middle one's is not */
  char newest[128], middle[128], text[512];
  snprintf(text, sizeof text, "en\nc%d %s", BURST, LONG_TEXT);
  tts_path(text, newest, sizeof newest);
  snprintf(text, sizeof text, "en\nc%d %s", BURST / 2, LONG_TEXT);
  tts_path(text, middle, sizeof middle);
  double until = now_s() + 30;
  while (!cached(newest) && now_s() < until)
    usleep(100000);
  cr_expect(cached(newest), "the newest chat's speech was not made");
  cr_expect_not(cached(middle), "a dropped (old) chat's speech was made");
  /* fetched, a dropped one is made on demand */
  cr_expect_eq(http(&S, "GET", middle, NULL, NULL, 0, &r), 200);
  cr_expect(r.body_len > 4 && memcmp(r.body, "OggS", 4) == 0);
  http_free(&r);
  cr_log_info("speech flood: %.0f of %d dropped (backlog 8), channel B spoken in %.2f s", dropped,
              BURST, tb_s);
  ws_close(&a);
  ws_close(&b);
}

/* ------------------------------------------------- the data directory full */

/* A batch of events i..i+n-1 (gifts) of channel user. */
static void gifts(char *out, size_t cap, const char *user, int first, int n)
{
  size_t k = (size_t)snprintf(out, cap, "[");
  for (int i = first; i < first + n; i++) {
    k += (size_t)snprintf(out + k, cap - k, "%s", i > first ? "," : "");
    k += (size_t)event_json(out + k, cap - k, user, i, false);
  }
  snprintf(out + k, cap - k, "]");
}

Test(fault_tts, a_full_data_disk_refuses_ingest_with_503_and_recovers)
{
  snprintf(S.dir, sizeof S.dir, "/tmp/ttb-fault-XXXXXX");
  cr_assert_not_null(mkdtemp(S.dir));
  fault_mount_or_skip(S.dir, "4m");
  snprintf(mnt, sizeof mnt, "%s", S.dir);
  mounted = true;
  const char *const deep[] = {"--history", "4096", NULL};
  srv_start(&S, deep, true);
  char key[128], user[64], tok[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, tok), 200);
  static ws w;
  static track t;
  memset(&t, 0, sizeof t);
  fault_open_ws(&S, &w, tok);
  static bool want[4096];
  char body[8192];
  gifts(body, sizeof body, user, 1, 5);
  fault_post_ok(&S, body);
  for (int i = 1; i <= 5; i++)
    want[i] = true;
  fault_wait_all(&S, &w, &t, want, 1, 6, 5.0);

  char filler[400];
  snprintf(filler, sizeof filler, "%s/filler", S.dir);
  cr_assert_gt(fill_disk(filler, 8L << 20), 0);

  /* ingest until the journal cannot take more: then 503 "journal" */
  int next = 6, refused_first = 0, refused_n = 0, accepted_full = 0;
  char out[1024] = "";
  for (int b = 0; b < 200 && refused_n == 0; b++) {
    gifts(body, sizeof body, user, next, 20);
    int st = raw_ingest(S.port, body, out, sizeof out);
    cr_assert(st == 202 || st == 503, "ingest on a full disk: %d %s", st, out);
    if (st == 503) {
      cr_expect(strstr(out, "\"journal\"") != NULL, "%s", out);
      refused_first = next;
      refused_n = 20;
    } else {
      accepted_full += 20;
      for (int i = next; i < next + 20; i++)
        want[i] = true;
    }
    next += 20;
  }
  cr_assert_gt(refused_n, 0, "the journal never failed on a full disk (%d events accepted)",
               accepted_full);
  /* a second batch while full: refused too */
  gifts(body, sizeof body, user, next, 20);
  int st = raw_ingest(S.port, body, out, sizeof out);
  cr_expect_eq(st, 503, "%s", out);
  int refused2 = next;
  next += 20;

  /* the server still serves: health, a socket's ping, no crash */
  double t0 = now_s();
  http_resp r;
  cr_expect_eq(http(&S, "GET", "/healthz", NULL, NULL, 0, &r), 200);
  http_free(&r);
  cr_expect_lt(now_s() - t0, 1.0);
  const char *ping = "{\"type\":\"ping\",\"client_time_ms\":7}";
  ws_send(&w, 1, ping, strlen(ping));
  bool pong = false;
  for (double e = now_s() + 3; !pong && now_s() < e;) {
    const uint8_t *d;
    size_t n;
    int op = ws_recv(&w, &d, &n, 200);
    cr_assert_geq(op, 0, "the socket closed while the disk is full");
    if (op == 1 && memmem(d, n, "\"pong\"", 6))
      pong = true;
    else if (op == 1)
      track_take(&t, (const char *)d, n);
  }
  cr_expect(pong, "no pong while the disk is full");
  char u2[64], t2[64];
  int lst = login(&S, key, NULL, u2, t2);
  cr_log_info("data disk full: %d events accepted after filling, a login answered %d",
              accepted_full, lst);
  cr_expect(lst == 200 || lst == 503, "login on a full disk: %d", lst);
  cr_expect(metric(&S, "ttboost_journal_errors_total") > 0);
  cr_expect_eq(waitpid(S.pid, NULL, WNOHANG), 0, "the server died");

  /* nothing of what the journal could not take went out meanwhile */
  track_drain(&w, &t, 300);
  int early = 0;
  for (int i = refused_first; i < next; i++)
    early += t.count[i] > 0;
  cr_expect_eq(early, 0, "%d events went out before they were journaled", early);

  /* space again: the refused batches, retried with the same ids, go out once */
  cr_assert_eq(unlink(filler), 0);
  gifts(body, sizeof body, user, refused_first, refused_n);
  st = raw_ingest(S.port, body, out, sizeof out);
  cr_expect_eq(st, 202, "retry after space was freed: %d %s", st, out);
  gifts(body, sizeof body, user, refused2, 20);
  st = raw_ingest(S.port, body, out, sizeof out);
  cr_expect_eq(st, 202, "retry after space was freed: %d %s", st, out);
  for (int i = refused_first; i < next; i++)
    want[i] = true;
  gifts(body, sizeof body, user, next, 5);
  fault_post_ok(&S, body);
  for (int i = next; i < next + 5; i++)
    want[i] = true;
  next += 5;
  fault_wait_all(&S, &w, &t, want, 1, next, 10.0);
  track_drain(&w, &t, 300);
  int missing = 0, twice = 0;
  for (int i = 1; i < next; i++) {
    missing += want[i] && t.count[i] == 0;
    twice += t.count[i] > 1;
  }
  cr_expect_eq(missing, 0, "%d events never arrived", missing);
  cr_expect_eq(twice, 0, "%d events arrived twice", twice);
  cr_expect_eq(t.seq_back, 0);
  cr_expect_eq(t.order_back, 0);
  ws_close(&w);

  /* the journal is whole: after a restart the history has every event once */
  cr_expect_eq(srv_stop(&S), 0);
  srv_start(&S, deep, true);
  static track t3;
  memset(&t3, 0, sizeof t3);
  char path[160];
  snprintf(path, sizeof path, "/ws/%s?since=0", tok);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  char m[4096];
  cr_assert(ws_text(&w, m, sizeof m, 5000));
  cr_expect(strstr(m, "\"resume_gap\":false") != NULL, "%s", m);
  fault_wait_all(&S, &w, &t3, want, 1, next, 10.0);
  track_drain(&w, &t3, 300);
  missing = twice = 0;
  for (int i = 1; i < next; i++) {
    missing += want[i] && t3.count[i] == 0;
    twice += t3.count[i] > 1;
  }
  cr_expect_eq(missing, 0, "after a restart, %d events are missing from the history", missing);
  cr_expect_eq(twice, 0, "after a restart, %d events are twice in the history", twice);
  ws_close(&w);
}
