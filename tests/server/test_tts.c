/*
 * Text to speech (espeak-ng -> Ogg Opus cache) and the Ogg Opus packet
 * reader. Decoding for the checks uses libopusfile.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ogg/ogg.h>
#include <opus/opusfile.h>

#include "oggpk.h"
#include "tts.h"

/* ------------------------------------------------------------ helpers */

typedef struct outcome {
  int done;
  bool ok;
  bool hit;
  double seconds;
  char id[64];
  char path[512];
  char error[256];
} outcome;

static void on_done(void *arg, const ttb_tts_result *r)
{
  outcome *o = arg;
  o->done++;
  o->ok = r->id != NULL && r->path != NULL;
  o->hit = r->hit;
  o->seconds = r->seconds;
  snprintf(o->id, sizeof o->id, "%s", r->id ? r->id : "");
  snprintf(o->path, sizeof o->path, "%s", r->path ? r->path : "");
  snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
  if (o->ok)
    cr_expect_null(r->error);
  else
    cr_expect_not_null(r->error);
}

static double mono_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls the completion fd and dispatches until *count reaches want. */
static void wait_for(ttb_tts *t, const int *count, int want, double timeout_s)
{
  double end = mono_now() + timeout_s;
  while (*count < want) {
    double left = end - mono_now();
    cr_assert(left > 0, "timed out waiting for %d completions (have %d)", want, *count);
    struct pollfd p = {.fd = ttb_tts_fd(t), .events = POLLIN};
    int ms = left > 0.2 ? 200 : (int)(left * 1000) + 1;
    int r = poll(&p, 1, ms);
    cr_assert(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
    if (r > 0)
      ttb_tts_dispatch(t);
  }
}

static char tmpdir[256];

static void make_tmpdir(void)
{
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ttb_tts_test_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tree(void)
{
  if (!tmpdir[0])
    return;
  DIR *d = opendir(tmpdir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char p[600];
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  char p[600];
  snprintf(p, sizeof p, "%s/cache", tmpdir);
  DIR *d2 = opendir(p);
  if (d2) {
    struct dirent *e;
    while ((e = readdir(d2)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char q[1024];
      snprintf(q, sizeof q, "%s/%s", p, e->d_name);
      unlink(q);
    }
    closedir(d2);
    rmdir(p);
  }
  rmdir(tmpdir);
}

static char cache_dir[300];

static ttb_tts *start(size_t cap, size_t queue_max)
{
  snprintf(cache_dir, sizeof cache_dir, "%s/cache", tmpdir);
  ttb_tts_config cfg = {
      .cache_dir = cache_dir,
      .cache_max_bytes = cap,
      .queue_max = queue_max,
      .max_text_bytes = 2000,
      .bitrate = 32000,
  };
  char err[256] = "";
  ttb_tts *t = ttb_tts_start(&cfg, err, sizeof err);
  cr_assert_not_null(t, "start: %s", err);
  cr_assert_str_eq(ttb_tts_dir(t), cache_dir);
  return t;
}

/* Submits and waits; returns the outcome. */
static outcome speak(ttb_tts *t, const char *text, const char *voice)
{
  outcome o = {0};
  char err[256] = "";
  int rc = ttb_tts_submit(t, text, voice, on_done, &o, err, sizeof err);
  cr_assert_eq(rc, 0, "submit '%s': rc %d %s", text, rc, err);
  cr_assert_eq(o.done, 0, "callback ran inside submit");
  wait_for(t, &o.done, 1, 60);
  cr_assert_eq(o.done, 1);
  return o;
}

typedef struct decoded {
  double seconds;
  double rms;
  int channels;
  long samples;
} decoded;

static decoded decode(const char *path)
{
  decoded d = {0};
  int e = 0;
  OggOpusFile *of = op_open_file(path, &e);
  cr_assert_not_null(of, "op_open_file %s: %d", path, e);
  d.channels = op_channel_count(of, -1);
  opus_int16 buf[5760 * 2];
  double sum = 0;
  long total = 0;
  for (;;) {
    int n = op_read(of, buf, (int)(sizeof buf / sizeof buf[0]), NULL);
    cr_assert(n >= 0, "op_read: %d", n);
    if (n == 0)
      break;
    for (int i = 0; i < n * d.channels; i++)
      sum += (double)buf[i] * buf[i];
    total += n;
  }
  op_free(of);
  d.samples = total;
  d.seconds = total / 48000.0;
  d.rms = total ? sqrt(sum / (double)(total * d.channels)) : 0;
  return d;
}

static bool exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

static off_t file_size(const char *path)
{
  struct stat st;
  cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
  return st.st_size;
}

static void set_age(const char *path, time_t secs_ago)
{
  struct timespec ts[2];
  clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= secs_ago;
  ts[1] = ts[0];
  cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0, "utimensat: %s", strerror(errno));
}

static void check_speech(const outcome *o, const char *what)
{
  cr_assert(o->ok, "%s failed: %s", what, o->error);
  cr_assert_eq(strlen(o->id), 32);
  for (const char *p = o->id; *p; p++)
    cr_assert(strchr("0123456789abcdef", *p), "id not lowercase hex: %s", o->id);
  decoded d = decode(o->path);
  cr_assert_eq(d.channels, 1);
  cr_assert(d.seconds > 0.5 && d.seconds < 20, "%s: %.2f s", what, d.seconds);
  cr_assert(d.rms > 300, "%s: rms %.1f (silent?)", what, d.rms);
  fprintf(stderr, "[tts] %s: %.2f s of speech made in %.3f s (rms %.0f)\n", what, d.seconds,
          o->seconds, d.rms);

  ttb_audio_info info;
  ttb_packet *pk = NULL;
  size_t n = 0;
  char err[256] = "";
  cr_assert_eq(ttb_oggpk_read(o->path, 100000, &info, &pk, &n, err, sizeof err), 0, "oggpk: %s",
               err);
  cr_assert_gt(n, 0);
  cr_assert_eq(info.sample_rate, 48000);
  cr_assert_eq(info.channels, 1);
  cr_assert(info.frame_duration_us >= 2500 && info.frame_duration_us <= 120000, "frame %u us",
            info.frame_duration_us);
  cr_assert_gt(info.pre_skip, 0);
  double ms = d.seconds * 1000.0;
  cr_assert(fabs((double)info.duration_ms - ms) <= 25.0, "oggpk %u ms vs decoded %.1f ms",
            info.duration_ms, ms);
  /* Packets are contiguous, non-empty and inside the one allocation. */
  for (size_t i = 0; i < n; i++) {
    cr_assert_gt(pk[i].len, 0);
    if (i)
      cr_assert_eq(pk[i].data, pk[i - 1].data + pk[i - 1].len);
  }
  cr_assert_eq((const void *)pk[0].data, (const void *)(pk + n));
  free(pk);
}

static void fini(void) { rm_tree(); }

TestSuite(tts, .init = make_tmpdir, .fini = fini, .timeout = 120);

/* -------------------------------------------------------------- tests */

Test(tts, voice_for)
{
  cr_assert_str_eq(ttb_tts_voice_for("Hello there, how are you?"), "en");
  cr_assert_str_eq(ttb_tts_voice_for("Привет, как дела?"), "ru");
  cr_assert_str_eq(ttb_tts_voice_for("Сәлеметсіз бе, қалыңыз қалай?"), "kk");
  cr_assert_str_eq(ttb_tts_voice_for("ҚАЗАҚСТАН"), "kk");
  cr_assert_str_eq(ttb_tts_voice_for("Hello Привет мир"), "ru");
  cr_assert_str_eq(ttb_tts_voice_for("Hello world and Мир"), "en");
  cr_assert_str_eq(ttb_tts_voice_for("12345 !!!"), "en");
  cr_assert_str_eq(ttb_tts_voice_for(""), "en");
  cr_assert_str_eq(ttb_tts_voice_for(NULL), "en");
}

Test(tts, english_and_russian)
{
  ttb_tts *t = start(0, 8);
  outcome en = speak(t, "Hello world, this is a test of the speech synthesizer.", NULL);
  check_speech(&en, "en");
  cr_assert_not(en.hit);
  cr_assert_gt(en.seconds, 0);
  outcome ru = speak(t, "Привет, как дела? Это проверка синтеза речи.", NULL);
  check_speech(&ru, "ru");
  cr_assert_not(ru.hit);
  cr_assert_str_neq(en.id, ru.id);
  char want[400];
  snprintf(want, sizeof want, "%s/%s.ogg", cache_dir, en.id);
  cr_assert_str_eq(en.path, want);
  ttb_tts_stop(t);
}

Test(tts, kazakh)
{
  ttb_tts *t = start(0, 8);
  outcome kk = speak(t, "Сәлеметсіз бе, қалыңыз қалай?", NULL);
  check_speech(&kk, "kk");
  outcome kk2 = speak(t, "Сәлеметсіз бе, қалыңыз қалай?", "kk");
  cr_assert(kk2.hit);
  cr_assert_str_eq(kk.id, kk2.id);
  ttb_tts_stop(t);
}

Test(tts, same_text_hits_cache)
{
  ttb_tts *t = start(0, 8);
  outcome a = speak(t, "The same sentence twice.", NULL);
  cr_assert(a.ok, "%s", a.error);
  cr_assert_not(a.hit);
  set_age(a.path, 1000);
  struct stat st0;
  cr_assert_eq(stat(a.path, &st0), 0);
  outcome b = speak(t, "The same sentence twice.", "en");
  cr_assert(b.ok);
  cr_assert(b.hit);
  cr_assert_eq(b.seconds, 0);
  cr_assert_str_eq(a.id, b.id);
  cr_assert_str_eq(a.path, b.path);
  /* The hit touched the file (LRU recency). */
  struct stat st1;
  cr_assert_eq(stat(b.path, &st1), 0);
  cr_assert_gt(st1.st_mtim.tv_sec, st0.st_mtim.tv_sec + 500);
  ttb_tts_stop(t);

  /* The cache survives a restart. */
  t = start(0, 8);
  outcome c = speak(t, "The same sentence twice.", NULL);
  cr_assert(c.hit);
  cr_assert_str_eq(a.id, c.id);
  ttb_tts_stop(t);
}

Test(tts, voice_changes_id)
{
  ttb_tts *t = start(0, 8);
  outcome en = speak(t, "Hallo", "en");
  outcome de = speak(t, "Hallo", "de");
  cr_assert(en.ok, "%s", en.error);
  cr_assert(de.ok, "%s", de.error);
  cr_assert_str_neq(en.id, de.id);
  ttb_tts_stop(t);
}

/* Rate and pitch key the id only when set: default speech keeps its id;
 * out-of-range values are refused; the estimate grows with words, shrinks
 * with the rate. */
Test(tts, rate_pitch_ids_and_estimate)
{
  ttb_tts *t = start(0, 8);
  char a[TTB_TTS_ID_LEN + 1], b[TTB_TTS_ID_LEN + 1], c[TTB_TTS_ID_LEN + 1], d[TTB_TTS_ID_LEN + 1],
      err[160];
  cr_assert_eq(ttb_tts_prepare(t, "hello there", "en", "q", a, err, sizeof err), 0, "%s", err);
  ttb_tts_opts none = {0};
  cr_assert_eq(ttb_tts_prepare_ex(t, "hello there", "en", &none, "q", b, err, sizeof err), 0);
  cr_assert_str_eq(a, b, "the defaults keep the id of before");
  ttb_tts_opts fast = {.rate = 300};
  cr_assert_eq(ttb_tts_prepare_ex(t, "hello there", "en", &fast, "q", c, err, sizeof err), 0);
  ttb_tts_opts high = {.pitch = 80};
  cr_assert_eq(ttb_tts_prepare_ex(t, "hello there", "en", &high, "q", d, err, sizeof err), 0);
  cr_assert_str_neq(a, c);
  cr_assert_str_neq(a, d);
  cr_assert_str_neq(c, d);
  ttb_tts_opts bad = {.rate = 20};
  cr_assert_eq(ttb_tts_prepare_ex(t, "hello", "en", &bad, "q", d, err, sizeof err), -1);
  bad.rate = 0;
  bad.pitch = 100;
  cr_assert_eq(ttb_tts_prepare_ex(t, "hello", "en", &bad, "q", d, err, sizeof err), -1);
  ttb_tts_stop(t);
  cr_assert_eq(ttb_tts_estimate_ms("", 0), 300 + 60000 / 175);
  cr_assert_eq(ttb_tts_estimate_ms("one two  three", 0), 300 + 3 * 60000 / 175);
  cr_assert_lt(ttb_tts_estimate_ms("one two three", 350), ttb_tts_estimate_ms("one two three", 0));
}

Test(tts, control_chars_cleaned)
{
  ttb_tts *t = start(0, 8);
  outcome a = speak(t, "Hello world", NULL);
  cr_assert(a.ok, "%s", a.error);
  outcome b = speak(t, "\t  Hello\x01\x7f \n\r world\xc2\x85\xc2\x9f  \x1b", NULL);
  cr_assert(b.ok, "%s", b.error);
  cr_assert_str_eq(a.id, b.id);
  cr_assert(b.hit);
  outcome c = speak(t, "Hello\xc2\xa0\xe2\x80\x83world", NULL); /* NBSP, em space */
  cr_assert_str_eq(a.id, c.id);
  ttb_tts_stop(t);
}

Test(tts, refused)
{
  ttb_tts *t = start(0, 8);
  outcome o = {0};
  char err[256];
  const char *bad[] = {
      "",
      "   \t\r\n ",
      "\x01\x02\x7f\xc2\x80",
      "\xff\xfe",
      "abc\xe2\x82",         /* cut sequence */
      "\xc0\xaf",            /* overlong */
      "\xed\xa0\x80",        /* surrogate */
      "ok \xf4\x90\x80\x80", /* > U+10FFFF */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    cr_assert_eq(ttb_tts_submit(t, bad[i], NULL, on_done, &o, err, sizeof err), -1, "case %zu", i);
    cr_assert_neq(err[0], '\0', "case %zu has no message", i);
  }
  err[0] = '\0';
  cr_assert_eq(ttb_tts_submit(t, "hello", "klingon", on_done, &o, err, sizeof err), -1);
  cr_assert(strstr(err, "unknown voice"), "%s", err);
  cr_assert_eq(ttb_tts_submit(t, "hello", "EN;rm -rf", on_done, &o, err, sizeof err), -1);
  cr_assert_eq(ttb_tts_submit(t, NULL, NULL, on_done, &o, err, sizeof err), -1);
  /* Nothing completes for refused requests. */
  struct pollfd p = {.fd = ttb_tts_fd(t), .events = POLLIN};
  cr_assert_eq(poll(&p, 1, 100), 0);
  ttb_tts_dispatch(t);
  cr_assert_eq(o.done, 0);
  ttb_tts_stop(t);
}

Test(tts, long_text_cut_at_boundary)
{
  ttb_tts *t = start(0, 8);
  /* 2000-byte cap: 1999 'a' then a 2-byte letter must cut before it. */
  char *s = malloc(4000);
  cr_assert_not_null(s);
  memset(s, 'a', 1999);
  strcpy(s + 1999, "\xd0\xb6 tail tail tail");
  outcome o1 = {0}, o2 = {0};
  char err[256];
  cr_assert_eq(ttb_tts_submit(t, s, "en", on_done, &o1, err, sizeof err), 0, "%s", err);
  s[1999] = '\0';
  cr_assert_eq(ttb_tts_submit(t, s, "en", on_done, &o2, err, sizeof err), 0, "%s", err);
  wait_for(t, &o1.done, 1, 60);
  wait_for(t, &o2.done, 1, 60);
  cr_assert_str_eq(o1.id, o2.id);
  free(s);
  ttb_tts_stop(t);
}

typedef struct counter {
  int done;
  int ok;
} counter;

static void on_count(void *arg, const ttb_tts_result *r)
{
  counter *c = arg;
  c->done++;
  if (r->id)
    c->ok++;
}

Test(tts, queue_full)
{
  ttb_tts *t = start(0, 1);
  counter c = {0};
  int accepted = 0, busy = 0;
  char err[256];
  for (int i = 0; i < 40; i++) {
    char text[64];
    snprintf(text, sizeof text, "Queue test sentence number %d.", i);
    int rc = ttb_tts_submit(t, text, NULL, on_count, &c, err, sizeof err);
    cr_assert(rc == 0 || rc == 1, "rc %d: %s", rc, err);
    if (rc == 0)
      accepted++;
    else
      busy++;
  }
  cr_assert_gt(busy, 0, "the queue never filled");
  cr_assert_geq(accepted, 1);
  cr_assert_leq(accepted, 3, "queue_max 1 accepted %d", accepted);
  cr_assert_eq(c.done, 0, "callback ran inside submit");
  wait_for(t, &c.done, accepted, 60);
  cr_assert_eq(c.ok, accepted);
  /* Once drained there is room again. */
  cr_assert_eq(ttb_tts_submit(t, "Room again.", NULL, on_count, &c, err, sizeof err), 0, "%s", err);
  wait_for(t, &c.done, accepted + 1, 60);
  ttb_tts_stop(t);
}

Test(tts, coalesce)
{
  ttb_tts *t = start(0, 4);
  outcome blocker = {0}, a = {0}, b = {0};
  char err[256];
  cr_assert_eq(ttb_tts_submit(t,
                              "A fairly long sentence that keeps the worker busy for a while, "
                              "so that the next two requests wait in the queue together.",
                              NULL, on_done, &blocker, err, sizeof err),
               0, "%s", err);
  cr_assert_eq(ttb_tts_submit(t, "Coalesced words.", NULL, on_done, &a, err, sizeof err), 0, "%s",
               err);
  /* Joins the waiting request: no queue slot, one synthesis. */
  cr_assert_eq(ttb_tts_submit(t, "Coalesced  words.", NULL, on_done, &b, err, sizeof err), 0, "%s",
               err);
  wait_for(t, &a.done, 1, 60);
  wait_for(t, &b.done, 1, 60);
  wait_for(t, &blocker.done, 1, 60);
  cr_assert(a.ok && b.ok);
  cr_assert_str_eq(a.id, b.id);
  /* Both got the one synthesis (a second synthesis would have been a hit). */
  cr_assert_not(a.hit);
  cr_assert_not(b.hit);
  cr_assert_eq(a.seconds, b.seconds);
  ttb_tts_stop(t);
}

Test(tts, stop_fails_pending)
{
  ttb_tts *t = start(0, 16);
  counter c = {0};
  char err[256];
  int accepted = 0;
  for (int i = 0; i < 10; i++) {
    char text[64];
    snprintf(text, sizeof text, "Pending sentence %d for the stop test.", i);
    if (ttb_tts_submit(t, text, NULL, on_count, &c, err, sizeof err) == 0)
      accepted++;
  }
  cr_assert_eq(accepted, 10);
  ttb_tts_stop(t);
  cr_assert_eq(c.done, accepted, "every callback runs on stop");
  cr_assert_lt(c.ok, accepted, "pending requests fail");
}

static int count_ogg(const char *dir)
{
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".ogg") == 0)
      n++;
  }
  closedir(d);
  return n;
}

Test(tts, tiny_cap_keeps_newest)
{
  ttb_tts *t = start(1, 8);
  outcome a = speak(t, "First file.", NULL);
  cr_assert(a.ok, "%s", a.error);
  cr_assert(exists(a.path));
  outcome b = speak(t, "Second file.", NULL);
  cr_assert(b.ok, "%s", b.error);
  cr_assert(exists(b.path), "the file just made must stay");
  cr_assert_not(exists(a.path), "the older file must go");
  cr_assert_eq(count_ogg(cache_dir), 1);
  check_speech(&b, "newest after eviction");
  ttb_tts_stop(t);
}

Test(tts, lru_eviction)
{
  /* Make three files without a cap. */
  ttb_tts *t = start(0, 8);
  outcome a = speak(t, "Alpha is the first file in the cache.", NULL);
  outcome b =
      speak(t, "Bravo is the second file in the cache, and it is the longest one of all.", NULL);
  outcome c = speak(t, "Charlie is the third file.", NULL);
  cr_assert(a.ok && b.ok && c.ok);
  ttb_tts_stop(t);
  set_age(a.path, 300);
  set_age(b.path, 200);
  set_age(c.path, 100);
  size_t cap = (size_t)(file_size(a.path) + file_size(b.path) + file_size(c.path));

  /* A stale temp file from a crash goes at start; other files stay. */
  char stale[400], other[400];
  snprintf(stale, sizeof stale, "%s/.tts-0123-99.tmp", cache_dir);
  snprintf(other, sizeof other, "%s/notes.txt", cache_dir);
  FILE *f = fopen(stale, "w");
  cr_assert_not_null(f);
  fputs("junk", f);
  fclose(f);
  f = fopen(other, "w");
  cr_assert_not_null(f);
  fputs("keep", f);
  fclose(f);

  t = start(cap, 8);
  cr_assert_not(exists(stale), "stale temp file not cleaned");
  cr_assert(exists(other));
  /* A hit makes Alpha recent, so Bravo is now the least recently used. */
  outcome a2 = speak(t, "Alpha is the first file in the cache.", NULL);
  cr_assert(a2.hit);
  outcome d = speak(t, "Delta.", NULL);
  cr_assert(d.ok, "%s", d.error);
  cr_assert(exists(d.path));
  cr_assert(exists(a.path), "recently used Alpha was evicted");
  cr_assert(exists(c.path), "Charlie was evicted although Bravo was enough");
  cr_assert_not(exists(b.path), "least recently used Bravo survived");
  ttb_tts_stop(t);
}

/* ------------------------------------------------------------- oggpk */

static void write_file(const char *path, const void *data, size_t n)
{
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

static void *read_all(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  cr_assert_eq(fseek(f, 0, SEEK_END), 0);
  long sz = ftell(f);
  cr_assert_gt(sz, 0);
  rewind(f);
  void *b = malloc((size_t)sz);
  cr_assert_not_null(b);
  cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

static void expect_reject(const char *path, size_t max_packets, const char *what)
{
  ttb_audio_info info;
  ttb_packet *pk = (ttb_packet *)1;
  size_t n = 99;
  char err[256] = "";
  cr_assert_eq(ttb_oggpk_read(path, max_packets, &info, &pk, &n, err, sizeof err), -1,
               "%s accepted", what);
  cr_assert_neq(err[0], '\0', "%s: no message", what);
  cr_assert_null(pk);
  cr_assert_eq(n, 0);
  fprintf(stderr, "[oggpk] %s: %s\n", what, err);
}

Test(tts, oggpk_rejects)
{
  ttb_tts *t = start(0, 8);
  outcome o = speak(t, "A file for the packet reader tests.", NULL);
  cr_assert(o.ok, "%s", o.error);
  ttb_tts_stop(t);

  char p[400];
  snprintf(p, sizeof p, "%s/missing.ogg", tmpdir);
  expect_reject(p, 1000, "missing file");

  snprintf(p, sizeof p, "%s/text.ogg", tmpdir);
  const char *txt = "This is plainly not an Ogg file at all.\n";
  write_file(p, txt, strlen(txt));
  expect_reject(p, 1000, "text file");

  snprintf(p, sizeof p, "%s/empty.ogg", tmpdir);
  write_file(p, "", 0);
  expect_reject(p, 1000, "empty file");

  size_t n;
  unsigned char *all = read_all(o.path, &n);
  cr_assert_gt(n, 200);
  snprintf(p, sizeof p, "%s/half.ogg", tmpdir);
  write_file(p, all, n / 2);
  expect_reject(p, 1000, "truncated (half)");
  snprintf(p, sizeof p, "%s/cut.ogg", tmpdir);
  write_file(p, all, n - 1);
  expect_reject(p, 1000, "truncated (one byte short)");
  snprintf(p, sizeof p, "%s/heads.ogg", tmpdir);
  write_file(p, all, 60);
  expect_reject(p, 1000, "truncated (headers only)");

  /* A flipped byte in the middle breaks a page checksum. */
  all[n / 2] ^= 0x55;
  snprintf(p, sizeof p, "%s/flip.ogg", tmpdir);
  write_file(p, all, n);
  expect_reject(p, 1000, "corrupt byte");
  free(all);

  /* Too many packets for the bound. */
  expect_reject(o.path, 2, "max_packets 2");

  /* A valid Ogg stream that is not Opus. */
  ogg_stream_state os;
  cr_assert_eq(ogg_stream_init(&os, 1234), 0);
  unsigned char body[] = "\x01vorbis-not-really-a-header-here";
  ogg_packet op = {.packet = body, .bytes = (long)sizeof body - 1, .b_o_s = 1, .e_o_s = 1};
  cr_assert_eq(ogg_stream_packetin(&os, &op), 0);
  ogg_page og;
  snprintf(p, sizeof p, "%s/vorbis.ogg", tmpdir);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f);
  while (ogg_stream_flush(&os, &og)) {
    fwrite(og.header, 1, (size_t)og.header_len, f);
    fwrite(og.body, 1, (size_t)og.body_len, f);
  }
  fclose(f);
  ogg_stream_clear(&os);
  expect_reject(p, 1000, "Ogg but not Opus");

  /* Still reads the original without a bound. */
  ttb_audio_info info;
  ttb_packet *pk = NULL;
  char err[256];
  cr_assert_eq(ttb_oggpk_read(o.path, 0, &info, &pk, &n, err, sizeof err), 0, "%s", err);
  cr_assert_gt(n, 2);
  free(pk);
}

Test(tts, speed)
{
  ttb_tts *t = start(0, 8);
  const char *texts[] = {
      "Thanks for the follow, welcome to the stream!",
      "Спасибо за подарок, это очень приятно!",
      "Рахмет, достым! Сәлем барлығыңызға.",
      "The quick brown fox jumps over the lazy dog.",
  };
  double synth = 0, audio = 0;
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    outcome o = speak(t, texts[i], NULL);
    cr_assert(o.ok, "%s", o.error);
    decoded d = decode(o.path);
    synth += o.seconds;
    audio += d.seconds;
  }
  fprintf(stderr, "[tts] speed: %.2f s of audio in %.3f s (%.1fx real time)\n", audio, synth,
          audio / synth);
  ttb_tts_stop(t);
}

/* ------------------------------------------- workers, queues, listeners */

/* A listener that records the order in which jobs end. */
typedef struct rec {
  ttb_tts_listener l;
  int *order;   /* shared counter */
  int ended_at; /* 1, 2, 3 ... (0: not yet) */
  bool ok;
  char error[160];
  size_t bytes, packets;
  int progress;
} rec;

static void on_rec(ttb_tts_listener *l)
{
  rec *r = (rec *)l;
  r->progress++;
  const char *error = NULL;
  if (!ttb_tts_ended(l, &error))
    return;
  ttb_tts_ogg(l, &r->bytes);
  r->packets = ttb_tts_npackets(l);
  r->ok = error == NULL;
  snprintf(r->error, sizeof r->error, "%s", error ? error : "");
  r->ended_at = ++*r->order;
  ttb_tts_unlisten(l);
}

static ttb_tts *start_with(unsigned workers, size_t backlog, uint32_t deadline_ms)
{
  snprintf(cache_dir, sizeof cache_dir, "%s/cache", tmpdir);
  ttb_tts_config cfg = {
      .cache_dir = cache_dir,
      .queue_max = 1000,
      .max_text_bytes = 2000,
      .bitrate = 32000,
      .workers = workers,
      .backlog = backlog,
      .deadline_ms = deadline_ms,
  };
  char err[256] = "";
  ttb_tts *t = ttb_tts_start(&cfg, err, sizeof err);
  cr_assert_not_null(t, "start: %s", err);
  return t;
}

static void listen_text(ttb_tts *t, rec *r, int *order, const char *text, const char *queue)
{
  char id[TTB_TTS_ID_LEN + 1], err[160];
  memset(r, 0, sizeof *r);
  r->order = order;
  r->l.on_progress = on_rec;
  cr_assert_eq(ttb_tts_prepare(t, text, "en", queue, id, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ttb_tts_listen(t, id, &r->l), TTB_TTS_LISTENING);
}

static void wait_order(ttb_tts *t, const int *order, int want, double timeout_s)
{
  wait_for(t, order, want, timeout_s);
}

#define LONGER \
  "keeps the only worker busy for a while with a sentence that has quite a few words in it"

Test(tts, queues_take_turns_so_a_flood_does_not_delay_another_channel)
{
  ttb_tts *t = start_with(1, 64, 0);
  int order = 0;
  static rec a[6], b;
  for (int i = 0; i < 6; i++) {
    char text[256];
    snprintf(text, sizeof text, "Channel A number %d %s.", i, LONGER);
    listen_text(t, &a[i], &order, text, "A");
  }
  listen_text(t, &b, &order, "Channel B says hello.", "B");
  wait_order(t, &order, 7, 120);
  /* A's first was running when B came; B waits for at most one more of A's
   * (a round: each busy queue gives one job), not for A's five others */
  cr_expect_eq(a[0].ended_at, 1);
  cr_expect_leq(b.ended_at, 3, "B's speech ended %d-th behind A's flood", b.ended_at);
  for (int i = 1; i < 6; i++)
    cr_expect_gt(a[i].ended_at, a[i - 1].ended_at,
                 "A's %d-th ended before its %d-th: a queue keeps its order", i, i - 1);
  for (int i = 0; i < 6; i++)
    cr_expect(a[i].ok && a[i].bytes > 1000 && a[i].packets > 10 && a[i].progress >= 2,
              "A %d: %s, %zu bytes, %zu packets, %d calls", i, a[i].error, a[i].bytes, a[i].packets,
              a[i].progress);
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.syntheses, 7);
  cr_expect_eq(st.backlog_dropped, 0);
  ttb_tts_stop(t);
}

/* Jobs due later (ttb_tts_listen_lead: a listener with seconds of audio
 * before it) wait while any queue has a job due now; among the later ones
 * the soonest goes first; a later listener needing it now makes it due now. */
Test(tts, jobs_due_now_go_before_jobs_wanted_later)
{
  ttb_tts *t = start_with(1, 64, 0);
  int order = 0;
  static rec busy, later_a, later_b, now_c, now_d, joined;
  char id[TTB_TTS_ID_LEN + 1], err[160];
  listen_text(t, &busy, &order, "Channel Z " LONGER ".", "Z"); /* takes the worker */
  /* A and B: wanted in 30 s and 20 s; C and D: now; E: in 60 s, then joined now */
  memset(&later_a, 0, sizeof later_a);
  later_a.order = &order;
  later_a.l.on_progress = on_rec;
  cr_assert_eq(ttb_tts_prepare(t, "Channel A later.", "en", "A", id, err, sizeof err), 0);
  cr_assert_eq(ttb_tts_listen_lead(t, id, &later_a.l, 30000), TTB_TTS_LISTENING);
  memset(&later_b, 0, sizeof later_b);
  later_b.order = &order;
  later_b.l.on_progress = on_rec;
  cr_assert_eq(ttb_tts_prepare(t, "Channel B later.", "en", "B", id, err, sizeof err), 0);
  cr_assert_eq(ttb_tts_listen_lead(t, id, &later_b.l, 20000), TTB_TTS_LISTENING);
  static rec e_first;
  memset(&e_first, 0, sizeof e_first);
  e_first.order = &order;
  e_first.l.on_progress = on_rec;
  cr_assert_eq(ttb_tts_prepare(t, "Channel E joined.", "en", "E", id, err, sizeof err), 0);
  cr_assert_eq(ttb_tts_listen_lead(t, id, &e_first.l, 60000), TTB_TTS_LISTENING);
  listen_text(t, &now_c, &order, "Channel C now.", "C");
  listen_text(t, &now_d, &order, "Channel D now.", "D");
  memset(&joined, 0, sizeof joined);
  joined.order = &order;
  joined.l.on_progress = on_rec;
  cr_assert_eq(ttb_tts_listen(t, id, &joined.l), TTB_TTS_LISTENING, "E, wanted now");
  wait_order(t, &order, 7, 120);
  cr_expect_eq(busy.ended_at, 1);
  /* C, D and E (due now) in the order their queues joined the round */
  cr_expect(e_first.ended_at + joined.ended_at == 5 && e_first.ok && joined.ok,
            "E (joined by a listener who needs it now) ended %d-th and %d-th, want 2nd",
            e_first.ended_at, joined.ended_at);
  cr_expect_eq(now_c.ended_at, 4, "C: %d", now_c.ended_at);
  cr_expect_eq(now_d.ended_at, 5, "D: %d", now_d.ended_at);
  /* then the later ones, soonest due first */
  cr_expect_eq(later_b.ended_at, 6, "B (due in 20 s): %d", later_b.ended_at);
  cr_expect_eq(later_a.ended_at, 7, "A (due in 30 s): %d", later_a.ended_at);
  ttb_tts_stop(t);
}

Test(tts, a_full_backlog_drops_its_oldest_waiting)
{
  ttb_tts *t = start_with(1, 3, 0);
  int order = 0;
  static rec a[8];
  for (int i = 0; i < 8; i++) {
    char text[256];
    snprintf(text, sizeof text, "Backlog number %d %s.", i, LONGER);
    listen_text(t, &a[i], &order, text, "A");
  }
  wait_order(t, &order, 8, 120);
  /* 0 runs at once; 1..7 wait in a backlog of 3: 1, 2, 3, 4 are dropped, oldest first */
  cr_expect(a[0].ok, "%s", a[0].error);
  for (int i = 1; i <= 4; i++) {
    cr_expect_not(a[i].ok, "waiting job %d was not dropped", i);
    cr_expect(strstr(a[i].error, "backlog") != NULL, "%s", a[i].error);
  }
  for (int i = 5; i < 8; i++)
    cr_expect(a[i].ok, "newest job %d: %s", i, a[i].error);
  /* the drops are told first (they end at once), then what was made */
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.backlog_dropped, 4);
  cr_expect_eq(st.syntheses, 4);
  ttb_tts_stop(t);
}

Test(tts, a_hung_worker_is_killed_at_the_deadline_and_replaced)
{
  setenv("TTB_TTS_WORKER_TEST_HANG", "hang-forever", 1);
  ttb_tts *t = start_with(1, 16, 500);
  unsetenv("TTB_TTS_WORKER_TEST_HANG");
  int order = 0;
  static rec h, next;
  double t0 = mono_now();
  listen_text(t, &h, &order, "please hang-forever now", "A");
  listen_text(t, &next, &order, "After the hang.", "B");
  wait_order(t, &order, 1, 10);
  double dt = mono_now() - t0;
  cr_expect_not(h.ok);
  cr_expect(strstr(h.error, "in time") != NULL, "%s", h.error);
  cr_expect(dt >= 0.45 && dt < 3.0, "killed after %.2f s (deadline 0.5 s)", dt);
  wait_order(t, &order, 2, 30);
  cr_expect(next.ok, "the replaced worker did not speak: %s", next.error);
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.deadline_kills, 1);
  cr_expect_geq(st.worker_restarts, 1);
  cr_expect_eq(st.workers, 1);
  ttb_tts_stop(t);
}

Test(tts, unknown_ids_cached_files_and_cancelled_waits)
{
  ttb_tts *t = start_with(1, 16, 0);
  int order = 0;
  static rec r, busy, gone;
  cr_expect_eq(ttb_tts_listen(t, "0123456789abcdef0123456789abcdef", &r.l), TTB_TTS_UNKNOWN);
  /* a waiting job nobody listens to any more is not made */
  listen_text(t, &busy, &order, "Busy " LONGER ".", "A");
  listen_text(t, &gone, &order, "Nobody wants this one.", "A");
  char gone_id[TTB_TTS_ID_LEN + 1];
  snprintf(gone_id, sizeof gone_id, "%s", ttb_tts_listener_id(&gone.l));
  ttb_tts_unlisten(&gone.l);
  wait_order(t, &order, 1, 60);
  cr_expect(busy.ok, "%s", busy.error);
  char path[600];
  cr_expect_not(ttb_tts_cached(t, gone_id, path, sizeof path), "a cancelled job was made");
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.syntheses, 1);
  cr_expect_eq(st.failures, 0);
  /* made: the next listen is a cache hit */
  char id[TTB_TTS_ID_LEN + 1], err[160];
  cr_assert_eq(ttb_tts_prepare(t, "Busy " LONGER ".", "en", "A", id, err, sizeof err), 0);
  rec again = {0};
  again.l.on_progress = on_rec;
  cr_expect_eq(ttb_tts_listen(t, id, &again.l), TTB_TTS_CACHED);
  ttb_tts_stop(t);
}

/* ------------------------------------------------------------ remote and serving slots */

/* A remote slot is a relay process (ttboost-tts-worker --relay-nats) in the
 * pool. With no NATS to reach: its hello stands in for every voice, and a
 * job fails once the relay gave up waiting (what a listener sees with NATS
 * down); the pool and its counters are those of any worker. */
Test(tts, a_remote_slot_without_nats_fails_its_job_when_it_gives_up)
{
  snprintf(cache_dir, sizeof cache_dir, "%s/cache", tmpdir);
  const char *const args[] = {
      "--relay-nats", "nats://127.0.0.1:1", "--hello-ms", "200", "--wait-ms", "700", NULL};
  ttb_tts_config cfg = {
      .cache_dir = cache_dir,
      .queue_max = 100,
      .bitrate = 32000,
      .workers = 0, /* with remote slots: no local worker */
      .remote = 1,
      .remote_args = args,
      .deadline_ms = 5000,
  };
  char err[256] = "";
  ttb_tts *t = ttb_tts_start(&cfg, err, sizeof err);
  cr_assert_not_null(t, "start: %s", err);
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.workers, 1);
  cr_expect(ttb_tts_has_voice(t, "kk"), "the stand-in hello names every voice");
  double t0 = mono_now();
  outcome o = speak(t, "Nobody is there to say this.", NULL);
  double dt = mono_now() - t0;
  cr_expect_not(o.ok);
  cr_expect(strstr(o.error, "NATS is unreachable") != NULL, "%s", o.error);
  cr_expect(dt >= 0.6 && dt < 3.0, "failed after %.2f s (the relay waits 0.7 s)", dt);
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.remote_jobs, 1);
  cr_expect_eq(st.failures, 1);
  cr_expect_eq(st.deadline_kills, 0);
  cr_expect_eq(st.workers, 1, "the relay lives on for the next job");
  ttb_tts_stop(t);
}

/* A serving child is supervised but never given a job: the local worker
 * makes the speech. */
Test(tts, a_serving_child_gets_no_job)
{
  snprintf(cache_dir, sizeof cache_dir, "%s/cache", tmpdir);
  const char *const args[] = {"--nats", "nats://127.0.0.1:1", "--child", NULL};
  ttb_tts_config cfg = {
      .cache_dir = cache_dir,
      .queue_max = 100,
      .bitrate = 32000,
      .workers = 1,
      .serve = 1,
      .serve_args = args,
  };
  char err[256] = "";
  ttb_tts *t = ttb_tts_start(&cfg, err, sizeof err);
  cr_assert_not_null(t, "start: %s", err);
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.serving, 1);
  cr_expect_eq(st.workers, 1);
  for (int i = 0; i < 3; i++) {
    char text[64];
    snprintf(text, sizeof text, "Local speech number %d.", i);
    outcome o = speak(t, text, NULL);
    cr_expect(o.ok, "%s", o.error);
  }
  ttb_tts_get_stats(t, &st);
  cr_expect_eq(st.remote_jobs, 0);
  cr_expect_eq(st.serving, 1);
  ttb_tts_stop(t);
}

/* workers 0 without remote slots (remote_args given, remote 0): one local
 * worker per core, as ever. */
Test(tts, workers_0_without_remote_slots_is_one_per_core)
{
  snprintf(cache_dir, sizeof cache_dir, "%s/cache", tmpdir);
  const char *const args[] = {"--relay-nats", "nats://127.0.0.1:1", NULL};
  ttb_tts_config cfg = {
      .cache_dir = cache_dir,
      .queue_max = 100,
      .bitrate = 32000,
      .remote = 0,
      .remote_args = args,
  };
  char err[256] = "";
  ttb_tts *t = ttb_tts_start(&cfg, err, sizeof err);
  cr_assert_not_null(t, "start: %s", err);
  ttb_tts_stats st;
  ttb_tts_get_stats(t, &st);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cr_expect_eq(st.workers, cores > 0 ? (unsigned)cores : 1u);
  cr_expect_eq(st.serving, 0);
  ttb_tts_stop(t);
}
