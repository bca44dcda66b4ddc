/*
 * speech-bench — from a chat posted to the server to the first audible
 * sample a real client renders (issue 12 item 6; docs/benchmarks.md,
 * "Speech: chat to first audible sample").
 *
 * It starts the real ttboost-server (benchsrv.h: 127.0.0.1, ephemeral port,
 * temporary data dir, ingest secret in the environment, licenses from
 * ttboost-admin), logs one license in per channel and runs one real
 * libttboost-client per channel (the public API only: ttboost/client.h),
 * in binary mode (protobuf + streamed AudioFrames) or URL mode (JSON +
 * tts_url download). One "pump" thread acts as every client's audio
 * callback: every --block-ms (2.5 ms) of wall time it renders that much
 * audio of each client with ttb_client_render (48 kHz mono, to memory) and
 * polls its events with ttb_client_poll_event.
 *
 * Ingest threads post each channel's chats to POST /ingest/events, one
 * chat per request (as a streamer's connector does), open loop at --rate
 * chats per second per channel, the channels evenly out of phase. Each chat
 * is a realistic sentence (Russian or English, 3-15 words) ending in a
 * unique number, so that the TTS cache cannot hide a synthesis and the
 * chat is known again when its event comes.
 *
 * Per chat:
 *  - event: ingest -> ttb_client_poll_event returns it (to a pump tick);
 *  - first audible: ingest -> the first audible sample of its speech the
 *    client rendered (the client's own record, below), stamped with the
 *    time of the render call that mixed it plus the frame's offset.
 *    "Ingest" is the scheduled send time (open loop: a server that takes its
 *    time to accept a POST is charged for it; the lag is printed).
 *
 * Which chat a sound belongs to. The client reports it itself: the mixer
 * records, per TTS utterance, the chat's seq and the output frame of its
 * first audible sample (|s| >= 64 before volume, about -54 dBFS), read with
 * ttb__client_voice_starts (client_internal.h; an internal hook of the
 * static library, not the public API). So each client plays exactly as a
 * listener's would: its queue (at most 8 waiting behind the one speaking,
 * the oldest dropped), which speech it fetches, its give-ups. A chat is
 *  - heard: its first audible sample was rendered (timed);
 *  - dropped: the client never played it (its queue policy dropped it, or
 *    no audio came in time, or the server had none): known once a later
 *    chat of the same client is heard (it plays in order), or once the
 *    client's played + skipped counters account for every chat it got;
 *  - lost: still neither at the end of --drain.
 * Three latencies for heard chats: first_audible (ingest -> first audible
 * sample, including the time the chat waited behind earlier speech in the
 * listener's queue: the client's policy, not the server); turn_to_audible
 * (from its turn -- the later of its event and the end of the utterance
 * before it on that client, a chat given up before it included -- to its
 * first audible sample: what the server, the network and the decoder add
 * when the listener is ready for it); first_audible_idle (ingest -> first
 * audible for the chats that found their client idle: nothing speaking or
 * waiting when the event came; the figure, free of the queue).
 *
 * Server CPU: user + system seconds of the server's whole process tree
 * (/proc/PID/stat, live worker processes and reaped children included)
 * from the first chat to the end of the drain, divided by the seconds of
 * speech synthesised meanwhile (the durations of the Ogg Opus files that
 * appeared under the data directory: last granule position - pre-skip).
 *
 * --search: one server, channels added step by step (each gets one chat
 * every 3 s unless --rate says otherwise); a step passes when the p99 of
 * turn_to_audible over every chat of the step, a chat given up at the head
 * of its client's queue or lost counting as infinite, is under --bound-ms
 * (250). Steps grow x1.5 until one fails,
 * then bisect (10 %). Prints the largest passing channel count.
 *
 * Output: `name value` lines on stdout; progress on stderr. Exit status 0
 * when the run completed (and, with --check, every chat's event arrived and
 * every chat was heard).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchsrv.h"
#include "client_internal.h" /* ttb__client_voice_starts */
#include "ttboost/client.h"

#define RATE_HZ 48000
#define MAX_BLOCK 4800
#define CANDS 64

/* ---------------------------------------------------------------- options */

static struct {
  const char *server, *admin;
  int mode; /* 0 binary, 1 url, 2 both (one after the other, a server each) */
  long channels;
  double rate;    /* chats per second per channel */
  double seconds; /* of ingest (per step when searching) */
  double warmup;  /* s at the start not counted in the latency figures */
  double drain;   /* s to wait after the last chat for events and sound */
  double block_ms;
  int ingest_threads;
  bool search, check, keep_tmp;
  double bound_ms;
  long search_start, search_max;
  char *server_opts[64];
  int n_server_opts;
  const char *dump; /* --dump FILE: one line per chat */
} opt = {.mode = 0,
         .channels = 10,
         .rate = 1.0,
         .seconds = 20,
         .warmup = 1.0,
         .drain = 15,
         .block_ms = 2.5,
         .ingest_threads = 4,
         .bound_ms = 250,
         .search_start = 4,
         .search_max = 1000};

static void usage(FILE *f)
{
  fputs("usage: speech-bench --server PATH --admin PATH [options]\n"
        "  --mode binary|url|both  protobuf + AudioFrames, or JSON + tts_url (default binary)\n"
        "  --channels N            channels, one client each (default 10)\n"
        "  --rate R                chats per second per channel (default 1; 1/3 with --search)\n"
        "  --seconds S             seconds of chats (per step with --search; default 20)\n"
        "  --warmup S              first seconds not in the latency figures (default 1)\n"
        "  --drain S               wait at most S after the last chat (default 15)\n"
        "  --block-ms MS           render block of the simulated audio callback (default 2.5)\n"
        "  --ingest-threads N      ingest connections (default 4)\n"
        "  --search                largest channel count with p99 first audible < --bound-ms\n"
        "  --bound-ms MS           the search's p99 bound (default 250)\n"
        "  --search-start N, --search-max N  (default 4, 1000)\n"
        "  --server-opt KEY=VALUE  passed to the server as --KEY VALUE (repeatable)\n"
        "  --check                 exit 1 unless every event arrived and every chat was heard\n"
        "  --keep-tmp              keep the temporary directory (server.log, data)\n"
        "  --dump FILE             write one line per chat to FILE (appended; ms from the\n"
        "                          step's start): channel, seq, sent, event, turn, onset\n"
        "                          (-1: none), flags (1 posted 2 failed 4 event 8 heard\n"
        "                          16 dropped 32 idle)\n",
        f);
}

static void die(const char *fmt, ...);

static double num(const char *name, const char *v, double min, double max)
{
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || *end || v == end || !(d >= min && d <= max)) {
    fprintf(stderr, "speech-bench: %s: '%s' is not a number in %g..%g\n", name, v, min, max);
    exit(2);
  }
  return d;
}

static void parse_args(int argc, char **argv)
{
  bool rate_given = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                \
  do {                                                        \
    if (v == NULL) {                                          \
      fprintf(stderr, "speech-bench: %s needs a value\n", a); \
      exit(2);                                                \
    }                                                         \
    i++;                                                      \
  } while (0)
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--server") == 0) {
      NEED();
      opt.server = v;
    } else if (strcmp(a, "--admin") == 0) {
      NEED();
      opt.admin = v;
    } else if (strcmp(a, "--mode") == 0) {
      NEED();
      if (strcmp(v, "binary") == 0)
        opt.mode = 0;
      else if (strcmp(v, "url") == 0)
        opt.mode = 1;
      else if (strcmp(v, "both") == 0)
        opt.mode = 2;
      else {
        fprintf(stderr, "speech-bench: --mode binary|url|both\n");
        exit(2);
      }
    } else if (strcmp(a, "--channels") == 0) {
      NEED();
      opt.channels = (long)num(a, v, 1, 5000);
    } else if (strcmp(a, "--rate") == 0) {
      NEED();
      opt.rate = num(a, v, 0.001, 100);
      rate_given = true;
    } else if (strcmp(a, "--seconds") == 0) {
      NEED();
      opt.seconds = num(a, v, 0.1, 86400);
    } else if (strcmp(a, "--warmup") == 0) {
      NEED();
      opt.warmup = num(a, v, 0, 3600);
    } else if (strcmp(a, "--drain") == 0) {
      NEED();
      opt.drain = num(a, v, 0.5, 3600);
    } else if (strcmp(a, "--block-ms") == 0) {
      NEED();
      opt.block_ms = num(a, v, 0.5, 100);
    } else if (strcmp(a, "--ingest-threads") == 0) {
      NEED();
      opt.ingest_threads = (int)num(a, v, 1, 64);
    } else if (strcmp(a, "--search") == 0) {
      opt.search = true;
    } else if (strcmp(a, "--bound-ms") == 0) {
      NEED();
      opt.bound_ms = num(a, v, 1, 1e6);
    } else if (strcmp(a, "--search-start") == 0) {
      NEED();
      opt.search_start = (long)num(a, v, 1, 5000);
    } else if (strcmp(a, "--search-max") == 0) {
      NEED();
      opt.search_max = (long)num(a, v, 1, 5000);
    } else if (strcmp(a, "--server-opt") == 0) {
      NEED();
      const char *eq = strchr(v, '=');
      if (eq == NULL || eq == v || opt.n_server_opts + 2 > 64) {
        fprintf(stderr, "speech-bench: --server-opt KEY=VALUE (at most 32)\n");
        exit(2);
      }
      char *k = NULL;
      if (asprintf(&k, "--%.*s", (int)(eq - v), v) < 0)
        exit(2);
      opt.server_opts[opt.n_server_opts++] = k;
      opt.server_opts[opt.n_server_opts++] = (char *)eq + 1;
    } else if (strcmp(a, "--check") == 0) {
      opt.check = true;
    } else if (strcmp(a, "--keep-tmp") == 0) {
      opt.keep_tmp = true;
    } else if (strcmp(a, "--dump") == 0) {
      NEED();
      opt.dump = v;
    } else {
      fprintf(stderr, "speech-bench: unknown option %s\n", a);
      usage(stderr);
      exit(2);
    }
#undef NEED
  }
  if (!opt.server || !opt.admin) {
    usage(stderr);
    exit(2);
  }
  if (opt.search && !rate_given)
    opt.rate = 1.0 / 3.0;
  if (opt.search && opt.search_start > opt.search_max)
    opt.search_start = opt.search_max;
}

/* ------------------------------------------------------------- the chats */

static const char *const SENT_EN[] = {
    "hello everyone, good evening",
    "what game is this",
    "you are so funny today",
    "can you say hi to my sister please",
    "where are you streaming from tonight",
    "I just got home from work and this is the best part of my day",
    "that was an amazing play, how did you do that",
    "please play the song from yesterday again",
    "my cat is watching the stream with me",
    "how long have you been playing this game",
    "greetings from Texas, it is raining here",
    "do you have a discord server for fans",
    "the new hair looks really good on you",
    "I think you should go left at the next turn",
    "first time here and I already love this channel",
    "can we get a shout out for the birthday girl",
    "what microphone are you using, the sound is so clear",
    "lol that was hilarious",
    "you deserve way more followers than you have",
    "is it true that you will stream every day next week",
    "good morning from Australia",
    "who else is watching at three in the morning",
    "I sent a rose, did you see it",
    "please tell us the story about your trip again",
    "this chat is moving so fast today",
    "you should try the hard mode next time",
    "I have been here since your first stream",
    "what are you cooking tonight",
};

static const char *const SENT_RU[] = {
    "привет всем, добрый вечер",
    "во что ты играешь",
    "ты сегодня такая весёлая",
    "передай привет моей сестре пожалуйста",
    "откуда ты сегодня ведёшь эфир",
    "я только пришёл с работы и это лучшая часть моего дня",
    "это было потрясающе, как ты это сделал",
    "включи пожалуйста вчерашнюю песню ещё раз",
    "мой кот смотрит эфир вместе со мной",
    "сколько ты уже играешь в эту игру",
    "привет из Казани, у нас идёт снег",
    "у тебя есть канал в телеграме для подписчиков",
    "новая причёска тебе очень идёт",
    "мне кажется на следующем повороте надо налево",
    "я здесь впервые и мне уже очень нравится",
    "поздравь пожалуйста мою подругу с днём рождения",
    "какой у тебя микрофон, звук очень чистый",
    "ахаха это было смешно",
    "ты заслуживаешь гораздо больше подписчиков",
    "правда что на следующей неделе эфиры будут каждый день",
    "доброе утро из Владивостока",
    "кто ещё смотрит в три часа ночи",
    "я отправил розу, ты видел",
    "расскажи ещё раз про свою поездку",
    "чат сегодня летит очень быстро",
    "попробуй в следующий раз сложный режим",
    "я с тобой с самого первого эфира",
    "что ты сегодня готовишь на ужин",
};

static const char *const NICKS[] = {"aruka_97", "Dimon",      "katya.love", "mr_bean42", "Алёна",
                                    "Serik",    "lucky_star", "Максим",     "ninja_cat", "Olga_M"};

#define NELEM(a) (sizeof(a) / sizeof(a)[0])

/* ------------------------------------------------------------ statistics */

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* p-th percentile (nearest rank) of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
  if (n == 0)
    return NAN;
  size_t r = (size_t)ceil(p / 100.0 * (double)n);
  if (r == 0)
    r = 1;
  return v[r - 1];
}

static void print_dist(const char *name, double *v, size_t n)
{
  qsort(v, n, sizeof *v, cmp_dbl);
  printf("%s_count %zu\n", name, n);
  if (n == 0)
    return;
  printf("%s_p50_ms %.1f\n%s_p90_ms %.1f\n%s_p99_ms %.1f\n%s_max_ms %.1f\n", name, pct(v, n, 50),
         name, pct(v, n, 90), name, pct(v, n, 99), name, v[n - 1]);
}

/* ------------------------------------------------------------ the state */

enum {
  CH_POSTED = 1,   /* the POST answered 202, accepted */
  CH_FAILED = 2,   /* the POST failed or the item was refused */
  CH_EVENT = 4,    /* its event came out of ttb_client_poll_event */
  CH_HEARD = 8,    /* its first audible sample was rendered */
  CH_DROPPED = 16, /* the client never played it (queue policy, no audio, see top) */
  CH_IDLE = 32,    /* its event found the client idle (nothing speaking or waiting) */
};
#define CH_RESOLVED (CH_FAILED | CH_HEARD | CH_DROPPED)

typedef struct chat {
  uint32_t ch;              /* channel index */
  _Atomic uint64_t t_sched; /* ingest (scheduled send) time, ns; 0 = not sent */
  _Atomic uint32_t flags;
  uint64_t seq;    /* its event's seq (pump thread) */
  uint64_t t_post; /* when the POST actually went */
  uint64_t t_event, t_onset, t_turn;
} chat;

/* One step: channels [0, n) get chats; chats[k * n + c] is chat k of channel c. */
typedef struct step {
  long n;
  long per_channel;
  uint64_t id_base; /* the number in a chat's text = id_base + index */
  chat *chats;
  uint64_t t0, t_end; /* first and last scheduled send */
  _Atomic uint64_t resolved;
  _Atomic uint64_t gave_up; /* skips while the client had chats waiting and nothing speaking */
} step;

#define BLOCKS 128 /* render calls remembered per client (320 ms at 2.5 ms) */
#define UNMATCHED 16

typedef struct client {
  ttb_client *c;
  char dir[448];
  char user_id[64];
  char token[TTB_TOKEN_SIZE];
  /* pump thread only: */
  size_t cand[CANDS]; /* chats (indexes into the step) polled, not heard yet, in order */
  size_t n_cand;
  const step *cand_step; /* the step cand[] indexes into */
  uint64_t polled;       /* chats of this step polled */
  uint64_t done0;        /* played + skipped when the step began for this client */
  uint64_t played;       /* the client's played counter seen last */
  uint64_t skipped;      /* and its skipped counter */
  uint64_t heard;        /* chats of this step heard */
  bool speaking;         /* an utterance started and has not ended */
  uint64_t t_free;       /* when the last utterance ended (ns; 0 = never spoke) */
  uint64_t frames_out;   /* frames rendered since ttb_client_create */
  uint64_t blk_frame[BLOCKS], blk_t[BLOCKS]; /* recent render calls: first frame, time */
  size_t n_blk;
  struct {
    uint64_t seq, t_onset, t_seen;
  } um[UNMATCHED]; /* voice starts whose event was not polled yet */
  size_t n_um;
  int state;
} client;

static benchsrv S;
static client *C;
static long n_clients_max;
static _Atomic long n_clients; /* created and connected; the pump serves [0, n_clients) */
static _Atomic(step *) cur_step;
static step *all_steps[512]; /* freed when the pump has stopped */
static size_t n_steps;
static _Atomic bool pump_quit;
static uint64_t next_id_base = 1000;
static bool binary_mode;

static struct {
  _Atomic uint64_t unattributed, stray_events, errors, disconnects, missed, toggle_failures,
      starts_overflow;
  _Atomic uint64_t late_max_ns, busy_max_ns, ticks, late_ticks; /* late: > 10 ms behind */
} P;

static char client_root[400]; /* the clients' data directories */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("speech-bench: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  atomic_store(&pump_quit, true);
  benchsrv_cleanup(&S);
  if (client_root[0])
    nftw(client_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  exit(1);
}

static void on_signal(int sig)
{
  if (S.pid > 0)
    kill(S.pid, SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void amax(_Atomic uint64_t *a, uint64_t v)
{
  uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
  while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
    ;
}

static void sleep_until(uint64_t t)
{
  struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* ------------------------------------------------------------- the pump */

static void resolve(step *st, size_t idx, uint32_t flag)
{
  uint32_t old = atomic_fetch_or(&st->chats[idx].flags, flag);
  if (!(old & CH_RESOLVED))
    atomic_fetch_add(&st->resolved, 1);
}

static void client_counts(ttb_client *c, uint64_t *played, uint64_t *done)
{
  ttb_stats s;
  ttb_client_get_stats(c, &s);
  *played = s.played;
  *done = s.played + s.skipped;
}

/* Switches the client's TTS off and on: the voice playing and every
 * utterance waiting are dropped. Used only between search steps, so that
 * what still waits of one step does not sound in the next. */
static void silence(client *k)
{
  ttb_settings s;
  ttb_client_get_settings(k->c, &s);
  s.tts_enabled = false;
  int rc1 = ttb_client_set_settings(k->c, &s);
  s.tts_enabled = true;
  int rc2 = ttb_client_set_settings(k->c, &s);
  if (rc1 != TTB_OK || rc2 != TTB_OK)
    atomic_fetch_add(&P.toggle_failures, 1);
}

/* The chat a client's event names (the number ending its text), or -1. */
static long chat_of_event(step *st, long ch, const ttb_event *ev)
{
  const char *sp = strrchr(ev->text, ' ');
  if (st == NULL || sp == NULL)
    return -1;
  char *end;
  unsigned long long id = strtoull(sp + 1, &end, 10);
  if (*end || id < st->id_base)
    return -1;
  uint64_t idx = id - st->id_base;
  if (idx >= (uint64_t)(st->n * st->per_channel) || st->chats[idx].ch != (uint32_t)ch)
    return -1;
  return (long)idx;
}

/* The wall time (ns) of output frame f of client k, from its recent render
 * calls (0 when f is older than they reach). */
static uint64_t frame_time(const client *k, uint64_t f)
{
  for (size_t j = 0; j < k->n_blk && j < BLOCKS; j++) {
    size_t b = (k->n_blk - 1 - j) % BLOCKS;
    if (f >= k->blk_frame[b])
      return k->blk_t[b] + (uint64_t)((double)(f - k->blk_frame[b]) * 1e9 / RATE_HZ);
  }
  return 0;
}

/* A voice start of chat seq at t_onset: the chat is heard; every chat
 * polled before it on this client and not heard was dropped (the client
 * plays in order). Returns false when seq is not a waiting chat of ours. */
static bool heard(client *k, step *st, uint64_t seq, uint64_t t_onset)
{
  size_t j = 0;
  while (j < k->n_cand && st->chats[k->cand[j]].seq != seq)
    j++;
  if (j == k->n_cand)
    return false;
  for (size_t d = 0; d < j; d++)
    resolve(st, k->cand[d], CH_DROPPED);
  chat *c = &st->chats[k->cand[j]];
  c->t_onset = t_onset;
  uint64_t ts = atomic_load(&c->t_sched);
  c->t_turn = ts > k->t_free ? ts : k->t_free;
  if (c->t_turn > t_onset) /* the end was seen at a render call's start */
    c->t_turn = t_onset;
  resolve(st, k->cand[j], CH_HEARD);
  k->heard++;
  k->speaking = true;
  memmove(k->cand, k->cand + j + 1, (k->n_cand - j - 1) * sizeof *k->cand);
  k->n_cand -= j + 1;
  return true;
}

static void pump_client(long i, step *st, int16_t *pcm, size_t frames, uint64_t now)
{
  client *k = &C[i];
  if (k->cand_step != st) { /* a new step: the old one's chats are no longer followed */
    if (k->cand_step != NULL)
      silence(k); /* what still waits of them must not sound in the new step */
    k->n_cand = 0;
    k->n_um = 0;
    k->cand_step = st;
    k->polled = k->heard = 0;
    client_counts(k->c, &k->played, &k->done0);
    k->skipped = k->done0 - k->played;
    k->speaking = false;
    k->t_free = 0;
  }
  ttb_event ev;
  while (ttb_client_poll_event(k->c, &ev) == 1) {
    switch (ev.kind) {
    case TTB_EVENT_CHAT: {
      long idx = chat_of_event(st, i, &ev);
      if (idx < 0) {
        atomic_fetch_add(&P.stray_events, 1);
        break;
      }
      chat *c = &st->chats[idx];
      if (atomic_load(&c->flags) & CH_EVENT)
        break;
      c->t_event = bs_now_ns(); /* not the tick's start: a tick over 100 clients takes a while */
      c->seq = ev.seq;
      uint32_t f = CH_EVENT;
      if (!k->speaking && k->n_cand == 0)
        f |= CH_IDLE;
      atomic_fetch_or(&c->flags, f);
      k->polled++;
      if (k->n_cand == CANDS) { /* more than the client can hold waiting */
        resolve(st, k->cand[0], CH_DROPPED);
        memmove(k->cand, k->cand + 1, --k->n_cand * sizeof *k->cand);
      }
      k->cand[k->n_cand++] = (size_t)idx;
      break;
    }
    case TTB_EVENT_ERROR:
      if (atomic_fetch_add(&P.errors, 1) < 5)
        fprintf(stderr, "  client %ld: %s\n", i, ev.text);
      break;
    case TTB_EVENT_STATE:
      if (k->state == TTB_STATE_CONNECTED && (int)ev.count != TTB_STATE_CONNECTED)
        atomic_fetch_add(&P.disconnects, 1);
      k->state = (int)ev.count;
      break;
    case TTB_EVENT_MISSED:
      atomic_fetch_add(&P.missed, 1);
      break;
    default:
      break;
    }
  }
  /* voice starts seen before their event was polled */
  for (size_t j = 0; j < k->n_um;) {
    if (st != NULL && heard(k, st, k->um[j].seq, k->um[j].t_onset)) {
      k->um[j] = k->um[--k->n_um];
    } else if (now - k->um[j].t_seen > 2000000000ull) {
      atomic_fetch_add(&P.unattributed, 1);
      k->um[j] = k->um[--k->n_um];
    } else {
      j++;
    }
  }

  uint64_t t_call = bs_now_ns();
  size_t b = k->n_blk++ % BLOCKS;
  k->blk_frame[b] = k->frames_out;
  k->blk_t[b] = t_call;
  ttb_client_render(k->c, pcm, frames);
  k->frames_out += frames;

  /* an utterance that ended in this call frees the speaker; a skip while
   * chats wait and nothing speaks is the head given up (no audio in time,
   * or none at all) */
  uint64_t played, done;
  client_counts(k->c, &played, &done);
  if (done - played > k->skipped && !k->speaking && k->n_cand > 0 && st != NULL)
    atomic_fetch_add(&st->gave_up, done - played - k->skipped);
  k->skipped = done - played;
  if (played > k->played) {
    k->speaking = false;
    k->t_free = t_call;
  }
  k->played = played;

  ttb__voice_start vs[64];
  size_t nv = ttb__client_voice_starts(k->c, vs, 64);
  if (nv == 64)
    atomic_fetch_add(&P.starts_overflow, 1);
  for (size_t j = 0; j < nv; j++) {
    uint64_t t_on = frame_time(k, vs[j].out_frame);
    if (t_on == 0) { /* older than the remembered calls: the record's own clock */
      t_on = (uint64_t)vs[j].render_ms * 1000000u;
    }
    if (st != NULL && heard(k, st, vs[j].id, t_on))
      continue;
    if (k->n_um < UNMATCHED) { /* its event may come in the next tick */
      k->um[k->n_um].seq = vs[j].id;
      k->um[k->n_um].t_onset = t_on;
      k->um[k->n_um].t_seen = now;
      k->n_um++;
    } else {
      atomic_fetch_add(&P.unattributed, 1);
    }
  }
  /* every chat polled is accounted for by the client (played or skipped):
   * those still waiting here were dropped */
  if (k->n_cand > 0 && !k->speaking && k->n_um == 0 && done - k->done0 >= k->polled) {
    for (size_t j = 0; j < k->n_cand; j++)
      resolve(st, k->cand[j], CH_DROPPED);
    k->n_cand = 0;
  }
}

static void *pump_main(void *arg)
{
  (void)arg;
  const size_t frames = (size_t)lround(opt.block_ms * RATE_HZ / 1000.0);
  const uint64_t period = (uint64_t)(opt.block_ms * 1e6);
  int16_t pcm[MAX_BLOCK];
  uint64_t t0 = bs_now_ns(), tick = 0;
  while (!atomic_load(&pump_quit)) {
    uint64_t due = t0 + tick * period;
    uint64_t now = bs_now_ns();
    if (now < due) {
      sleep_until(due);
      now = bs_now_ns();
    } else if (now - due > 50 * period) { /* far behind: start again from now */
      amax(&P.late_max_ns, now - due);
      t0 = now;
      tick = 0;
    } else {
      amax(&P.late_max_ns, now - due);
    }
    if (now > due + 10000000u)
      atomic_fetch_add(&P.late_ticks, 1);
    step *st = atomic_load(&cur_step);
    long n = atomic_load(&n_clients);
    for (long i = 0; i < n; i++)
      pump_client(i, st, pcm, frames, now);
    amax(&P.busy_max_ns, bs_now_ns() - now);
    atomic_fetch_add(&P.ticks, 1);
    tick++;
  }
  return NULL;
}

/* ------------------------------------------------------------- clients */

static bool json_str(const char *js, const char *key, char *out, size_t cap)
{
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(js, pat);
  if (p == NULL)
    return false;
  p += strlen(pat);
  while (*p == ' ' || *p == ':')
    p++;
  if (*p++ != '"')
    return false;
  const char *e = strchr(p, '"');
  if (e == NULL || (size_t)(e - p) >= cap)
    return false;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
  return true;
}

/* Makes clients [n_clients, upto): license, login, client, start, connected. */
static void add_clients(long upto)
{
  long from = atomic_load(&n_clients);
  if (upto <= from)
    return;
  if (upto > n_clients_max)
    die("internal: %ld clients > %ld", upto, n_clients_max);
  char err[2048];
  bs_http h;
  bs_http_init(&h, S.port);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", S.port);
  uint64_t t0 = bs_now_ns();
  for (long i = from; i < upto; i++) {
    client *k = &C[i];
    char key[256];
    if (benchsrv_license(&S, key, sizeof key, err, sizeof err) != 0)
      die("%s", err);
    char body[512], *resp = NULL, tok[64];
    int n = snprintf(body, sizeof body,
                     "{\"license_key\":\"%s\",\"device_id\":\"speech-bench-%ld\"}", key, i);
    int status =
        bs_http_request(&h, "POST", "/auth/login", NULL, body, (size_t)n, &resp, err, sizeof err);
    if (status < 0)
      die("login %ld: %s", i, err);
    if (status != 200 || !json_str(resp, "user_id", k->user_id, sizeof k->user_id) ||
        !json_str(resp, "ws_token", tok, sizeof tok))
      die("login %ld: HTTP %d: %.300s", i, status, resp ? resp : "");
    free(resp);
    snprintf(k->token, sizeof k->token, "%s", tok);
    snprintf(k->dir, sizeof k->dir, "%s/c%ld", client_root, i);
    if (mkdir(k->dir, 0700) != 0 && errno != EEXIST)
      die("mkdir %s: %s", k->dir, strerror(errno));
    ttb_client_config cfg = {url, k->dir, NULL, RATE_HZ, 1};
    char dev[64];
    snprintf(dev, sizeof dev, "speech-bench-%ld", i);
    cfg.device_id = dev;
    int rc = ttb_client_create(&cfg, &k->c);
    if (rc != TTB_OK)
      die("ttb_client_create: %s", ttb_strerror(rc));
    if ((rc = ttb_client_set_token(k->c, k->token)) != TTB_OK)
      die("ttb_client_set_token: %s", ttb_client_last_error(k->c));
    ttb_settings s;
    ttb_client_get_settings(k->c, &s);
    s.tts_enabled = true;
    s.tts_volume = 1.0f;
    s.gifts_enabled = false;
    s.profanity_filter = false; /* the texts must come back as sent */
    s.notifications = false;
    s.auto_start_tts = true;
    s.binary_mode = binary_mode;
    if ((rc = ttb_client_set_settings(k->c, &s)) != TTB_OK)
      die("ttb_client_set_settings: %s", ttb_client_last_error(k->c));
    if ((rc = ttb_client_start(k->c)) != TTB_OK)
      die("ttb_client_start: %s", ttb_client_last_error(k->c));
  }
  bs_http_close(&h);
  /* every new client connected */
  uint64_t deadline = bs_now_ns() + 30000000000ull;
  for (long i = from; i < upto; i++) {
    char why[256];
    while (ttb_client_state(C[i].c, why, sizeof why) != TTB_STATE_CONNECTED) {
      if (bs_now_ns() > deadline)
        die("client %ld did not connect within 30 s: %s", i, why);
      usleep(2000);
    }
  }
  atomic_store(&n_clients, upto);
  fprintf(stderr, "  %ld clients connected (%s mode) in %.1f s\n", upto,
          binary_mode ? "binary" : "url", (double)(bs_now_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------- ingest */

typedef struct {
  step *st;
  int tid, nth;
  _Atomic uint64_t *behind_max;
  double *behind; /* per chat, ms (NaN = not this thread's) */
  char err[512];
} ingest_arg;

static void json_escape_into(char *out, size_t cap, const char *s)
{
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = '\0';
}

static void *ingest_main(void *argp)
{
  ingest_arg *a = argp;
  step *st = a->st;
  bs_http h;
  bs_http_init(&h, S.port);
  uint64_t rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)a->tid << 32) ^ st->id_base;
  const char *auth = "Authorization: Bearer " BENCHSRV_INGEST_SECRET "\r\n";
  const double period_ns = 1e9 / opt.rate;
  for (long k = 0; k < st->per_channel; k++) {
    for (long c = a->tid; c < st->n; c += a->nth) {
      size_t idx = (size_t)(k * st->n + c);
      chat *ch = &st->chats[idx];
      uint64_t sched = st->t0 + (uint64_t)(((double)c / (double)st->n + (double)k) * period_ns);
      if (sched > st->t_end)
        continue;
      sleep_until(sched);
      /* the text: a sentence, the unique number last */
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      bool ru = rng & 1;
      const char *sent =
          ru ? SENT_RU[(rng >> 8) % NELEM(SENT_RU)] : SENT_EN[(rng >> 8) % NELEM(SENT_EN)];
      const char *nick = NICKS[(rng >> 24) % NELEM(NICKS)];
      char msg[512], esc[1100], body[2048];
      snprintf(msg, sizeof msg, "%s %" PRIu64, sent, st->id_base + idx);
      json_escape_into(esc, sizeof esc, msg);
      int n = snprintf(body, sizeof body,
                       "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"%s\",\"message\":\"%s\","
                       "\"id\":\"sb-%" PRIu64 "\"}",
                       C[c].user_id, nick, esc, st->id_base + idx);
      uint64_t now = bs_now_ns();
      ch->t_post = now;
      a->behind[idx] = (double)(now - sched) / 1e6;
      atomic_store(&ch->t_sched, sched);
      char *resp = NULL, err[512];
      int status = bs_http_request(&h, "POST", "/ingest/events", auth, body, (size_t)n, &resp, err,
                                   sizeof err);
      const char *acc = resp ? strstr(resp, "\"accepted\"") : NULL;
      if (status == 202 && acc && strtoul(acc + 11, NULL, 10) == 1) {
        atomic_fetch_or(&ch->flags, CH_POSTED);
      } else {
        if (a->err[0] == '\0') /* the first failure */
          snprintf(a->err, sizeof a->err, "POST /ingest/events: %d %.400s", status,
                   status < 0 ? err : (resp ? resp : ""));
        resolve(st, idx, CH_FAILED);
      }
      free(resp);
    }
  }
  bs_http_close(&h);
  return NULL;
}

/* ------------------------------------------------------- speech seconds */

/* Duration of an Ogg Opus file: (last granule - pre-skip) / 48000. */
static double ogg_seconds(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return 0;
  unsigned char head[64];
  size_t n = fread(head, 1, sizeof head, f);
  double secs = 0;
  /* first page: 27-byte header + segment table + "OpusHead" packet */
  if (n >= 47 && memcmp(head, "OggS", 4) == 0) {
    size_t segs = head[26], p = 27 + segs;
    if (p + 12 <= n && memcmp(head + p, "OpusHead", 8) == 0) {
      unsigned pre_skip = head[p + 10] | (unsigned)head[p + 11] << 8;
      /* the last page: search back from the end for "OggS" */
      if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long from = size > 65536 ? size - 65536 : 0;
        size_t len = (size_t)(size - from);
        unsigned char *buf = malloc(len);
        if (buf && fseek(f, from, SEEK_SET) == 0 && fread(buf, 1, len, f) == len) {
          for (size_t i = len >= 27 ? len - 27 : 0;; i--) {
            if (memcmp(buf + i, "OggS", 4) == 0) {
              uint64_t g = 0;
              for (int b = 7; b >= 0; b--)
                g = g << 8 | buf[i + 6 + b];
              if (g != UINT64_MAX && g > pre_skip)
                secs = (double)(g - pre_skip) / 48000.0;
              break;
            }
            if (i == 0)
              break;
          }
        }
        free(buf);
      }
    }
  }
  fclose(f);
  return secs;
}

static void speech_scan(const char *dir, double *secs, long *files, int depth)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (lstat(p, &sb) != 0)
      continue;
    size_t l = strlen(de->d_name);
    if (S_ISDIR(sb.st_mode) && depth < 4)
      speech_scan(p, secs, files, depth + 1);
    else if (S_ISREG(sb.st_mode) && l > 4 && strcmp(de->d_name + l - 4, ".ogg") == 0) {
      *secs += ogg_seconds(p);
      (*files)++;
    }
  }
  closedir(d);
}

/* ----------------------------------------------------------- server metrics */

static void server_metrics(const char *prefix)
{
  bs_http h;
  bs_http_init(&h, S.port);
  char *resp = NULL, err[256];
  int st =
      bs_http_request(&h, "GET", "/metrics", "Authorization: Bearer " BENCHSRV_METRICS_TOKEN "\r\n",
                      NULL, 0, &resp, err, sizeof err);
  if (st == 200) {
    static const char *const keep[] = {"ttboost_events_in_total",
                                       "ttboost_events_published_total",
                                       "ttboost_tts_syntheses_total",
                                       "ttboost_tts_failures_total",
                                       "ttboost_tts_queue_full_total",
                                       "ttboost_tts_synthesis_seconds_sum",
                                       "ttboost_tts_synthesis_seconds_count",
                                       "ttboost_queue_drops_total",
                                       "ttboost_tts_",
                                       "ttboost_speech_"};
    char *save = NULL;
    for (char *l = strtok_r(resp, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
      if (l[0] == '#' || strstr(l, "_bucket"))
        continue;
      for (size_t i = 0; i < NELEM(keep); i++)
        if (strncmp(l, keep[i], strlen(keep[i])) == 0) {
          printf("%sserver_metric %s\n", prefix, l);
          break;
        }
    }
  }
  free(resp);
  bs_http_close(&h);
}

/* The value of a /metrics line that starts with `name` (-1 when absent). */
static double metric(const char *text, const char *name)
{
  size_t n = strlen(name);
  for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (strncmp(l, name, n) == 0 && l[n] == ' ')
      return strtod(l + n + 1, NULL);
  return -1;
}

/* Waits (at most max_s) until the server has published every chat it
 * accepted and has no speech waiting or being made (ttboost_tts_waiting,
 * ttboost_tts_running; absent counts as 0): a failed search step leaves a
 * backlog that must not weigh on the next. Returns the seconds waited, or -1 when it never caught up. */
static double wait_server_idle(double max_s)
{
  uint64_t t0 = bs_now_ns();
  bs_http h;
  bs_http_init(&h, S.port);
  double waited = -1;
  while ((double)(bs_now_ns() - t0) / 1e9 < max_s) {
    char *resp = NULL, err[256];
    int st = bs_http_request(&h, "GET", "/metrics",
                             "Authorization: Bearer " BENCHSRV_METRICS_TOKEN "\r\n", NULL, 0, &resp,
                             err, sizeof err);
    double in = st == 200 ? metric(resp, "ttboost_events_in_total{type=\"chat\"}") : -1;
    double out = st == 200 ? metric(resp, "ttboost_events_published_total{type=\"chat\"}") : -1;
    /* and no speech still waiting or being made (binary mode makes every chat's) */
    double waiting = st == 200 ? metric(resp, "ttboost_tts_waiting") : -1;
    double running = st == 200 ? metric(resp, "ttboost_tts_running") : -1;
    free(resp);
    if (in >= 0 && out >= in && waiting <= 0 && running <= 0) {
      waited = (double)(bs_now_ns() - t0) / 1e9;
      break;
    }
    usleep(200000);
  }
  bs_http_close(&h);
  return waited;
}

/* --------------------------------------------------------------- a step */

typedef struct {
  long n, sent, posted, failed, events, heard, dropped, idle, gave_up, lost_event, lost_audible;
  double p99_all; /* p99 of turn_to_audible; given up or lost = inf (see top) */
} step_result;

static step_result run_step(long n, double seconds, const char *prefix, bool print)
{
  step *st = calloc(1, sizeof *st);
  if (st == NULL || n_steps == NELEM(all_steps))
    die("out of memory (or too many steps)");
  all_steps[n_steps++] = st;
  st->n = n;
  st->per_channel = (long)ceil(seconds * opt.rate) + 1;
  st->id_base = next_id_base;
  next_id_base += (uint64_t)(n * st->per_channel) + 1000;
  size_t total = (size_t)(n * st->per_channel);
  st->chats = calloc(total, sizeof *st->chats);
  double *behind = malloc(total * sizeof *behind);
  if (st->chats == NULL || behind == NULL)
    die("out of memory");
  for (size_t i = 0; i < total; i++) {
    st->chats[i].ch = (uint32_t)(i % (size_t)n);
    behind[i] = NAN;
  }
  st->t0 = bs_now_ns() + 200000000ull;
  st->t_end = st->t0 + (uint64_t)(seconds * 1e9);
  atomic_store(&cur_step, st);

  double speech0 = 0;
  long files0 = 0;
  speech_scan(S.datadir, &speech0, &files0, 0);
  double cpu0 = bs_tree_cpu_seconds(S.pid), self0 = bs_self_cpu_seconds();

  int nth = opt.ingest_threads < n ? opt.ingest_threads : (int)n;
  pthread_t th[64];
  ingest_arg args[64];
  for (int t = 0; t < nth; t++) {
    args[t] = (ingest_arg){.st = st, .tid = t, .nth = nth, .behind = behind};
    if (pthread_create(&th[t], NULL, ingest_main, &args[t]) != 0)
      die("pthread_create failed");
  }
  for (int t = 0; t < nth; t++)
    pthread_join(th[t], NULL);
  for (int t = 0; t < nth; t++)
    if (args[t].err[0]) {
      fprintf(stderr, "  ingest: %s\n", args[t].err);
      break;
    }
  /* sent chats: those with a schedule */
  long sent = 0;
  for (size_t i = 0; i < total; i++)
    if (atomic_load(&st->chats[i].t_sched))
      sent++;
  /* drain: until every sent chat is resolved, or --drain */
  uint64_t drain_end = bs_now_ns() + (uint64_t)(opt.drain * 1e9);
  while (bs_now_ns() < drain_end && (long)atomic_load(&st->resolved) < sent)
    usleep(20000);
  usleep(100000); /* let a last onset's switch finish */
  double cpu1 = bs_tree_cpu_seconds(S.pid), self1 = bs_self_cpu_seconds();
  double wall = (double)(bs_now_ns() - st->t0) / 1e9;
  double speech1 = 0;
  long files1 = 0;
  speech_scan(S.datadir, &speech1, &files1, 0);

  step_result r = {.n = n, .sent = sent};
  double *ev = malloc(total * sizeof *ev), *au = malloc(total * sizeof *au),
         *all = malloc(total * sizeof *all), *bh = malloc(total * sizeof *bh),
         *tu = malloc(total * sizeof *tu), *id = malloc(total * sizeof *id),
         *ia = malloc(total * sizeof *ia);
  if (!ev || !au || !all || !bh || !tu || !id || !ia)
    die("out of memory");
  size_t nev = 0, nau = 0, nall = 0, nbh = 0, ntu = 0, nid = 0, nia = 0;
  const uint64_t counted_from = st->t0 + (uint64_t)(opt.warmup * 1e9);
  FILE *dump = opt.dump && print ? fopen(opt.dump, "a") : NULL;
  if (opt.dump && print && dump == NULL)
    fprintf(stderr, "speech-bench: --dump %s: %s\n", opt.dump, strerror(errno));
  if (dump)
    fprintf(dump, "# %s, %ld channels: channel seq sent_ms event_ms turn_ms onset_ms flags\n",
            binary_mode ? "binary" : "url", n);
  for (size_t i = 0; i < total; i++) {
    chat *c = &st->chats[i];
    uint64_t ts = atomic_load(&c->t_sched);
    if (ts == 0)
      continue;
    uint32_t f = atomic_load(&c->flags);
    if (dump) {
#define DUMP_MS(t) ((t) ? (double)((int64_t)(t) - (int64_t)st->t0) / 1e6 : -1.0)
      fprintf(dump, "%u %" PRIu64 " %.1f %.1f %.1f %.1f %u\n", c->ch, c->seq, DUMP_MS(ts),
              (f & CH_EVENT) ? DUMP_MS(c->t_event) : -1.0,
              (f & CH_HEARD) ? DUMP_MS(c->t_turn) : -1.0,
              (f & CH_HEARD) ? DUMP_MS(c->t_onset) : -1.0, f);
#undef DUMP_MS
    }
    if (!isnan(behind[i]))
      bh[nbh++] = behind[i];
    r.posted += (f & CH_POSTED) != 0;
    r.failed += (f & CH_FAILED) != 0;
    r.events += (f & CH_EVENT) != 0;
    r.heard += (f & CH_HEARD) != 0;
    r.dropped += (f & CH_DROPPED) != 0;
    r.idle += (f & CH_IDLE) != 0;
    if ((f & CH_POSTED) && !(f & CH_EVENT))
      r.lost_event++;
    if ((f & CH_POSTED) && !(f & CH_RESOLVED))
      r.lost_audible++;
    if (ts < counted_from)
      continue;
    if (f & CH_EVENT)
      ev[nev++] = (double)(c->t_event - ts) / 1e6;
    if (f & CH_HEARD) {
      au[nau++] = (double)(c->t_onset - ts) / 1e6;
      tu[ntu++] = (double)(c->t_onset - c->t_turn) / 1e6;
    }
    if (f & CH_IDLE) { /* it found its client idle: the queue had no part in it */
      double v = (f & CH_HEARD) ? (double)(c->t_onset - ts) / 1e6 : INFINITY;
      if (f & CH_HEARD)
        id[nid++] = v;
      ia[nia++] = v;
    }
    if (f & CH_HEARD)
      all[nall++] = (double)(c->t_onset - c->t_turn) / 1e6;
    else if (!(f & CH_RESOLVED))
      all[nall++] = INFINITY; /* lost */
  }
  /* chats the client gave up at the head of its queue (no sound came):
   * infinitely late; a chat its queue policy dropped while it was speaking
   * is not a delay */
  r.gave_up = (long)atomic_load(&st->gave_up);
  for (long g = 0; g < r.gave_up && nall < total; g++)
    all[nall++] = INFINITY;
  if (dump)
    fclose(dump);
  qsort(all, nall, sizeof *all, cmp_dbl);
  r.p99_all = nall ? pct(all, nall, 99) : INFINITY;
  if (print) {
    printf("%smode %s\n%schannels %ld\n%srate_per_channel %.4g\n%sseconds %.4g\n", prefix,
           binary_mode ? "binary" : "url", prefix, n, prefix, opt.rate, prefix, seconds);
    printf("%schats_sent %ld\n%schats_accepted %ld\n%schats_post_failed %ld\n", prefix, sent,
           prefix, r.posted, prefix, r.failed);
    char name[128];
    snprintf(name, sizeof name, "%singest_behind_schedule", prefix);
    print_dist(name, bh, nbh);
    printf("%sevents_received %ld\n%sevents_lost %ld\n", prefix, r.events, prefix, r.lost_event);
    snprintf(name, sizeof name, "%sevent", prefix);
    print_dist(name, ev, nev);
    printf("%saudible_heard %ld\n%saudible_dropped_by_client %ld\n%saudible_given_up_at_head %ld\n"
           "%saudible_lost %ld\n%sevents_at_idle_client %ld\n",
           prefix, r.heard, prefix, r.dropped, prefix, r.gave_up, prefix, r.lost_audible, prefix,
           r.idle);
    snprintf(name, sizeof name, "%sfirst_audible", prefix);
    print_dist(name, au, nau);
    snprintf(name, sizeof name, "%sturn_to_audible", prefix);
    print_dist(name, tu, ntu);
    if (isinf(r.p99_all))
      printf("%sturn_to_audible_p99_given_up_as_inf_ms inf\n", prefix);
    else
      printf("%sturn_to_audible_p99_given_up_as_inf_ms %.1f\n", prefix, r.p99_all);
    snprintf(name, sizeof name, "%sfirst_audible_idle", prefix);
    print_dist(name, id, nid);
    qsort(ia, nia, sizeof *ia, cmp_dbl);
    if (nia)
      printf("%sfirst_audible_idle_p99_unheard_as_inf_ms %.1f\n", prefix, pct(ia, nia, 99));
    double speech = speech1 - speech0, cpu = cpu1 - cpu0;
    printf("%sspeech_files %ld\n%sspeech_seconds %.1f\n%sserver_cpu_seconds %.2f\n%swall_seconds "
           "%.1f\n",
           prefix, files1 - files0, prefix, speech, prefix, cpu, prefix, wall);
    if (speech > 0)
      printf("%sserver_cpu_s_per_speech_s %.4f\n", prefix, cpu / speech);
    else
      printf("%sserver_cpu_s_per_speech_s n/a\n", prefix);
    printf("%sbench_cpu_seconds %.2f\n", prefix, self1 - self0);
    server_metrics(prefix);
  }
  free(ev);
  free(au);
  free(all);
  free(bh);
  free(tu);
  free(id);
  free(ia);
  free(behind);
  /* st stays allocated: the pump may still look at it (a late event) */
  return r;
}

/* ---------------------------------------------------------------- a mode */

static int run_mode(bool binary)
{
  binary_mode = binary;
  char err[4096];
  S.server_path = opt.server;
  S.admin_path = opt.admin;
  S.keep_tmp = opt.keep_tmp;
  if (benchsrv_init(&S, "speech-bench.", err, sizeof err) != 0)
    die("%s", err);
  /* the clients' files (token, settings: rewritten by every TTS switch) in
   * memory when /dev/shm is there: their fsyncs are not what is measured */
  snprintf(client_root, sizeof client_root, "/dev/shm/speech-bench-clients.XXXXXX");
  if (mkdtemp(client_root) == NULL) {
    snprintf(client_root, sizeof client_root, "%s/clients", S.tmpdir);
    if (mkdir(client_root, 0700) != 0)
      die("mkdir %s: %s", client_root, strerror(errno));
  }
  if (benchsrv_start(&S, opt.server_opts, opt.n_server_opts, err, sizeof err) != 0)
    die("%s", err);
  fprintf(stderr, "speech-bench: server pid %d on 127.0.0.1:%u (%s mode)\n", (int)S.pid, S.port,
          binary ? "binary" : "url");
  n_clients_max = opt.search ? opt.search_max : opt.channels;
  C = calloc((size_t)n_clients_max, sizeof *C);
  if (C == NULL)
    die("out of memory");
  atomic_store(&n_clients, 0);
  atomic_store(&cur_step, NULL);
  atomic_store(&pump_quit, false);
  memset(&P, 0, sizeof P);
  pthread_t pump;
  if (pthread_create(&pump, NULL, pump_main, NULL) != 0)
    die("pthread_create failed");
  bs_print_machine();
  printf("block_ms %.2f\n", opt.block_ms);
  int rc = 0;
  if (!opt.search) {
    add_clients(opt.channels);
    step_result r = run_step(opt.channels, opt.seconds, "", true);
    if (opt.check && (r.failed || r.lost_event || r.heard != r.posted || r.posted == 0 ||
                      atomic_load(&P.unattributed))) {
      fprintf(stderr, "speech-bench: check failed: %ld accepted, %ld events, %ld heard\n", r.posted,
              r.events, r.heard);
      rc = 1;
    }
  } else {
    long lo = 0, hi = 0, n = opt.search_start;
    int stepno = 0;
    for (;;) {
      add_clients(n);
      char prefix[32];
      snprintf(prefix, sizeof prefix, "search%d_", ++stepno);
      step_result r = run_step(n, opt.seconds, prefix, true);
      bool pass = r.p99_all < opt.bound_ms && r.failed == 0;
      printf("search_step %d channels %ld p99_ms %.1f heard %ld of %ld %s\n", stepno, n, r.p99_all,
             r.heard, r.sent, pass ? "pass" : "fail");
      fflush(stdout);
      fprintf(stderr, "  search step %d: %ld channels, p99 %.1f ms: %s\n", stepno, n, r.p99_all,
              pass ? "pass" : "fail");
      if (pass)
        lo = n;
      else
        hi = n;
      long next;
      if (hi == 0)
        next = n * 3 / 2 > n ? n * 3 / 2 : n + 1;
      else
        next = (lo + hi) / 2;
      if (hi && (hi - lo <= 1 || hi - lo <= lo / 10))
        break;
      if (hi == 0 && n >= opt.search_max)
        break;
      if (next > opt.search_max)
        next = opt.search_max;
      if (next <= lo && hi == 0)
        break;
      /* a failed step leaves a backlog: let it go before the next */
      if (!pass) {
        double w = wait_server_idle(300);
        if (w < 0)
          fprintf(stderr,
                  "  the server did not catch up within 300 s; the next step starts anyway\n");
        sleep(1);
      }
      n = next;
    }
    printf("search_bound_p99_ms %.0f\nsearch_rate_per_channel %.4g\nsearch_max_channels %ld\n",
           opt.bound_ms, opt.rate, lo);
    if (hi == 0)
      printf("search_note the search stopped at --search-max without a failing step\n");
  }
  printf("pump_ticks_late_over_10ms %" PRIu64 "\n", atomic_load(&P.late_ticks));
  printf("pump_ticks %" PRIu64 "\npump_late_max_ms %.1f\npump_busy_max_ms %.1f\n",
         atomic_load(&P.ticks), (double)atomic_load(&P.late_max_ns) / 1e6,
         (double)atomic_load(&P.busy_max_ns) / 1e6);
  printf("client_errors %" PRIu64 "\nclient_disconnects %" PRIu64 "\nclient_missed %" PRIu64
         "\nstray_events %" PRIu64 "\nunattributed_sounds %" PRIu64 "\ntts_switch_failures %" PRIu64
         "\nvoice_start_reads_full %" PRIu64 "\n",
         atomic_load(&P.errors), atomic_load(&P.disconnects), atomic_load(&P.missed),
         atomic_load(&P.stray_events), atomic_load(&P.unattributed),
         atomic_load(&P.toggle_failures), atomic_load(&P.starts_overflow));
  fflush(stdout);
  atomic_store(&pump_quit, true);
  pthread_join(pump, NULL);
  for (size_t i = 0; i < n_steps; i++) {
    free(all_steps[i]->chats);
    free(all_steps[i]);
  }
  n_steps = 0;
  atomic_store(&cur_step, NULL);
  long nc = atomic_load(&n_clients);
  for (long i = 0; i < nc; i++)
    ttb_client_destroy(C[i].c);
  nftw(client_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  client_root[0] = '\0';
  free(C);
  C = NULL;
  benchsrv_cleanup(&S);
  return rc;
}

int main(int argc, char **argv)
{
  parse_args(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int rc = 0;
  if (opt.mode == 0 || opt.mode == 2)
    rc |= run_mode(true);
  if (opt.mode == 1 || opt.mode == 2)
    rc |= run_mode(false);
  return rc;
}
