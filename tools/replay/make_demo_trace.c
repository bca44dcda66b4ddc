/*
 * make-demo-trace OUT: writes tools/replay/traces/demo.ttbtrace, about three
 * minutes of a plausible TikTok LIVE stream for channel "demo" — chat in
 * Russian, English and Kazakh with emoji, a spam burst, gift streaks and single
 * gifts — as DIRECTION_INGEST records, each followed (when it publishes
 * something) by the SERVER_TO_CLIENT record a JSON client should receive:
 * chats with a placeholder tts_url in /tts/, gifts collapsed per the streak rule
 * (docs/protocol/gifts.md) with the sound of the built-in map. Deterministic:
 * a fixed seed and a fixed created_us, so the output is the same byte for byte
 * on every run (tests/replay checks the committed file against a fresh one).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_ext.h"

#define CHANNEL "demo"
#define CREATED_US UINT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define DURATION_US UINT64_C(180000000)

static uint64_t rng_state = UINT64_C(0x7474626f6f737431); /* "ttboost1" */

static uint32_t rnd(uint32_t n)
{
  /* xorshift64*: same sequence everywhere */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)(((rng_state * UINT64_C(2685821657736338717)) >> 32) % n);
}

typedef struct viewer {
  const char *name;
  const char *id;
  int lang; /* 0 ru, 1 en, 2 kk */
} viewer;

static const viewer viewers[] = {
    {"Айгерим", "6811000000000000001", 2},    {"Ержан_KZ", "6811000000000000002", 2},
    {"Данияр", "6811000000000000003", 2},     {"Әлия 🌸", "6811000000000000004", 2},
    {"Маша", "6811000000000000005", 0},       {"Дмитрий", "6811000000000000006", 0},
    {"Катя_котик", "6811000000000000007", 0}, {"Олег 🎮", "6811000000000000008", 0},
    {"Jess", "6811000000000000009", 1},       {"mike_92", "6811000000000000010", 1},
    {"Priya", "6811000000000000011", 1},      {"TomTheBuilder", "6811000000000000012", 1},
};
#define N_VIEWERS (sizeof viewers / sizeof viewers[0])

static const char *const msgs_ru[] = {
    "Привет всем! 👋",
    "Как дела?",
    "Ого, это круто 🔥",
    "Из какого ты города?",
    "Спой что-нибудь, пожалуйста",
    "Ахаха 😂😂",
    "Лайк за стрим ❤️",
    "Сколько тебе лет?",
    "Я тут первый раз, очень нравится",
    "Доброй ночи из Новосибирска 🌙",
    "Давай ещё!",
    "Звук немного тихий",
    "Ты лучшая 💖",
    "Что за игра?",
    "Спасибо за ответ 🙏",
};
static const char *const msgs_en[] = {
    "Hi from London! 👋",
    "love this stream",
    "what game is this?",
    "LOL 😂",
    "you're so good at this",
    "first time here, hello everyone",
    "can you say hi to me?",
    "🔥🔥🔥",
    "what time is it there?",
    "this song slaps 🎶",
    "gg",
    "how long have you been live?",
    "sending love from Texas ❤️",
    "can you play it again?",
    "amazing 😍",
};
static const char *const msgs_kk[] = {
    "Сәлеметсіз бе! 👋",
    "Қалың қалай?",
    "Керемет! 🔥",
    "Қай қаладансың?",
    "Әнші бол, ән айтшы 🎤",
    "Рақмет, өте қызық",
    "Бүгін ауа райы жақсы ☀️",
    "Алматыдан сәлем! 🏔️",
    "Ұнады ма? Маған қатты ұнады",
    "Жақсы түн, достар 🌙",
    "Мен үйдемін, шай ішіп отырмын ☕",
    "Өте әдемі көрінеді",
    "Ғажап!",
    "Һәр күні қараймын",
    "Үлкен рақмет саған 💙",
    "Қош келдің, Ңғ-ны тыңдашы",
};

typedef struct gift_kind {
  const char *name;
  uint64_t id;
  uint32_t diamonds;
  const char *sound;
  int streakable;
} gift_kind;

/* Sounds from the server's built-in map (docs/protocol/gifts.md). */
static const gift_kind gifts[] = {
    {"Rose", 5655, 1, "chime", 1},
    {"TikTok", 5269, 1, "coin", 1},
    {"Finger Heart", 5487, 5, "heart", 1},
    {"Doughnut", 5879, 30, "pop", 1},
    {"Heart Me", 7934, 1, "heart", 1},
    {"Galaxy", 11046, 1000, "whoosh", 0},
    {"Lion", 6369, 29999, "fanfare", 0},
    {"Corgi", 6267, 299, "harp", 0},
    {"Shooting Stars", 9999001, 1580, "default", 0},
};

/* An event on the timeline: ingest, then what the client sees (if anything). */
typedef struct ev {
  uint64_t t;
  int order; /* tie-break: generation order */
  int kind;  /* 0 chat, 1 gift */
  const viewer *v;
  const char *msg;
  const gift_kind *g;
  uint32_t count, repeat_count;
  int repeat_end;
  uint32_t publish; /* gifts: the count to publish at this event, 0 none */
} ev;

static ev *evs;
static size_t n_evs, cap_evs;

static ev *add(uint64_t t)
{
  if (n_evs == cap_evs) {
    cap_evs = cap_evs ? cap_evs * 2 : 256;
    ev *n = realloc(evs, cap_evs * sizeof *n);
    if (n == NULL) {
      fprintf(stderr, "make-demo-trace: out of memory\n");
      exit(1);
    }
    evs = n;
  }
  ev *e = &evs[n_evs];
  memset(e, 0, sizeof *e);
  e->t = t;
  e->order = (int)n_evs;
  n_evs++;
  return e;
}

static int by_time(const void *a, const void *b)
{
  const ev *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->order - y->order;
}

static const char *pick_msg(int lang)
{
  switch (lang) {
  case 0:
    return msgs_ru[rnd(sizeof msgs_ru / sizeof *msgs_ru)];
  case 1:
    return msgs_en[rnd(sizeof msgs_en / sizeof *msgs_en)];
  default:
    return msgs_kk[rnd(sizeof msgs_kk / sizeof *msgs_kk)];
  }
}

static void chat(uint64_t t, const viewer *v, const char *msg)
{
  ev *e = add(t);
  e->kind = 0;
  e->v = v;
  e->msg = msg;
}

/* A streak of n taps, 150..450 ms apart; the end repeats the total. */
static uint64_t streak(uint64_t t, const viewer *v, const gift_kind *g, uint32_t n)
{
  for (uint32_t i = 1; i <= n; i++) {
    ev *e = add(t);
    e->kind = 1;
    e->v = v;
    e->g = g;
    e->count = 1;
    e->repeat_count = i;
    t += 150000 + rnd(300000);
  }
  ev *e = add(t);
  e->kind = 1;
  e->v = v;
  e->g = g;
  e->count = 1;
  e->repeat_count = n;
  e->repeat_end = 1;
  e->publish = n;
  return t;
}

static void single(uint64_t t, const viewer *v, const gift_kind *g, uint32_t count)
{
  ev *e = add(t);
  e->kind = 1;
  e->v = v;
  e->g = g;
  e->count = count;
  e->publish = count ? count : 1;
}

static void build(void)
{
  /* steady chat: one message every 0.6 to 2.4 s */
  for (uint64_t t = 1500000; t < DURATION_US - 2000000; t += 600000 + rnd(1800000)) {
    const viewer *v = &viewers[rnd(N_VIEWERS)];
    chat(t, v, pick_msg(v->lang));
  }
  /* the spam burst: one viewer, one message, 15 times 120 ms apart */
  for (int i = 0; i < 15; i++)
    chat(62000000 + (uint64_t)i * 120000, &viewers[7], "ПОДПИШИСЬ НА МЕНЯ!!! 🔥🔥🔥");
  /* a second, shorter burst in English */
  for (int i = 0; i < 6; i++)
    chat(131000000 + (uint64_t)i * 200000, &viewers[9], "follow me pls 🙏");
  /* gift streaks, spread out; two of them overlap (different senders) */
  static const struct {
    uint64_t t;
    int viewer, gift;
    uint32_t n;
  } streaks[] = {
      {9000000, 0, 0, 5},    {24000000, 8, 1, 3},   {38000000, 4, 2, 12}, {51000000, 1, 0, 25},
      {52000000, 9, 4, 4},   {77000000, 6, 3, 2},   {95000000, 10, 0, 1}, {112000000, 3, 2, 7},
      {140000000, 5, 1, 40}, {158000000, 11, 0, 9}, {166000000, 2, 4, 3},
  };
  for (size_t i = 0; i < sizeof streaks / sizeof *streaks; i++)
    streak(streaks[i].t, &viewers[streaks[i].viewer], &gifts[streaks[i].gift], streaks[i].n);
  /* single, non-streakable gifts */
  static const struct {
    uint64_t t;
    int viewer, gift;
    uint32_t count;
  } singles[] = {
      {30500000, 9, 5, 1},   {70000000, 7, 6, 1},  {101000000, 0, 7, 2},
      {122000000, 11, 8, 1}, {150000000, 2, 5, 1}, {172000000, 4, 6, 1},
  };
  for (size_t i = 0; i < sizeof singles / sizeof *singles; i++)
    single(singles[i].t, &viewers[singles[i].viewer], &gifts[singles[i].gift], singles[i].count);
  qsort(evs, n_evs, sizeof *evs, by_time);
}

static int emit(ttb_trace_writer *w, Ttboost__V1__TraceRecord *rec, char *err, size_t errlen)
{
  return ttb_trace_write(w, rec, err, errlen);
}

static int write_trace(const char *out, char *err, size_t errlen)
{
  ttb_trace_writer *w;
  if (ttb_trace_writer_open_at(out, "make-demo-trace",
                               "TTBoost demo stream: ~3 min for channel \"demo\" (ru/en/kk chat, "
                               "emoji, spam bursts, gift streaks); expectations for a JSON client",
                               CREATED_US, &w, err, errlen) != 0)
    return -1;
  uint64_t seq = 0;
  int rc = 0;
  /* what a client connecting at the start gets first */
  {
    Ttboost__V1__Hello hello = TTBOOST__V1__HELLO__INIT;
    hello.protocol_version = 1;
    hello.heartbeat_interval_ms = 10000;
    Ttboost__V1__ServerMessage sm = TTBOOST__V1__SERVER_MESSAGE__INIT;
    sm.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_HELLO;
    sm.hello = &hello;
    Ttboost__V1__TraceRecord rec = TTBOOST__V1__TRACE_RECORD__INIT;
    rec.time_us = 0;
    rec.direction = TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT;
    rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
    rec.server = &sm;
    rc = emit(w, &rec, err, errlen);
  }
  for (size_t i = 0; i < n_evs && rc == 0; i++) {
    const ev *e = &evs[i];
    Ttboost__V1__IngestEvent ie = TTBOOST__V1__INGEST_EVENT__INIT;
    Ttboost__V1__IngestChat ic = TTBOOST__V1__INGEST_CHAT__INIT;
    Ttboost__V1__IngestGift ig = TTBOOST__V1__INGEST_GIFT__INIT;
    ie.channel = (char *)CHANNEL;
    if (e->kind == 0) {
      ic.user = (char *)e->v->name;
      ic.message = (char *)e->msg;
      ic.user_id = (char *)e->v->id;
      ie.event_case = TTBOOST__V1__INGEST_EVENT__EVENT_CHAT;
      ie.chat = &ic;
    } else {
      ig.user = (char *)e->v->name;
      ig.gift_name = (char *)e->g->name;
      ig.count = e->count;
      ig.user_id = (char *)e->v->id;
      ig.gift_id = e->g->id;
      ig.repeat_count = e->repeat_count;
      ig.repeat_end = e->repeat_end != 0;
      ig.diamond_count = e->g->diamonds;
      ie.event_case = TTBOOST__V1__INGEST_EVENT__EVENT_GIFT;
      ie.gift = &ig;
    }
    Ttboost__V1__TraceRecord rec = TTBOOST__V1__TRACE_RECORD__INIT;
    rec.time_us = e->t;
    rec.direction = TTBOOST__V1__DIRECTION__DIRECTION_INGEST;
    rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_INGEST;
    rec.ingest = &ie;
    rc = emit(w, &rec, err, errlen);
    if (rc != 0 || (e->kind == 1 && e->publish == 0))
      continue;
    Ttboost__V1__ServerMessage sm = TTBOOST__V1__SERVER_MESSAGE__INIT;
    Ttboost__V1__ChatEvent ce = TTBOOST__V1__CHAT_EVENT__INIT;
    Ttboost__V1__GiftEvent ge = TTBOOST__V1__GIFT_EVENT__INIT;
    char sound[96];
    sm.seq = ++seq;
    if (e->kind == 0) {
      ce.user = (char *)e->v->name;
      ce.message = (char *)e->msg;
      ce.tts_url = (char *)"/tts/*.ogg";
      sm.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
      sm.chat = &ce;
    } else {
      snprintf(sound, sizeof sound, "/sounds/%s.ogg", e->g->sound);
      ge.gift_name = (char *)e->g->name;
      ge.count = e->publish;
      ge.sound_url = sound;
      ge.user = (char *)e->v->name;
      sm.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
      sm.gift = &ge;
    }
    rec.direction = TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT;
    rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
    rec.ingest = NULL;
    rec.server = &sm;
    rc = emit(w, &rec, err, errlen);
  }
  char cerr[256];
  if (ttb_trace_writer_close(w, cerr, sizeof cerr) != 0 && rc == 0) {
    snprintf(err, errlen, "%s", cerr);
    rc = -1;
  }
  return rc;
}

int main(int argc, char **argv)
{
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf(
        "usage: make-demo-trace OUT\n\n"
        "Writes the demo trace (tools/replay/traces/demo.ttbtrace): about three minutes of a\n"
        "TikTok LIVE stream for channel \"demo\" as ingest records, each followed by what a\n"
        "JSON client should receive. The output is the same byte for byte on every run.\n"
        "Replay it with: ttb-replay OUT --server URL --ingest-secret-file F --key KEY --expect\n");
    return 0;
  }
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: make-demo-trace OUT   (--help for more)\n");
    return 2;
  }
  build();
  char err[300];
  int rc = write_trace(argv[1], err, sizeof err);
  free(evs);
  if (rc != 0) {
    fprintf(stderr, "make-demo-trace: %s\n", err);
    return 1;
  }
  return 0;
}
