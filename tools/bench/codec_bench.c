/*
 * codec-bench — throughput of the TTBoost codecs against cJSON.
 *
 * For a chat event and a gift event (each a ServerMessage with seq) it times,
 * in one run:
 *   json  pbc  the generated JSON codec on protobuf-c structs (server):
 *              _to_json + free / _from_json + free_unpacked
 *   json  npb  the generated JSON codec on nanopb structs (client):
 *              _to_json into a fixed buffer / _from_json into a fixed struct
 *   bin   pbc  protobuf-c pack into a buffer / unpack + _validate + free_unpacked
 *   bin   npb  nanopb pb_encode / pb_decode + _validate
 *   cJSON      build the same object (CreateObject, AddString/NumberToObject)
 *              + PrintUnformatted + free / ParseWithLength + extract the same
 *              fields (GetObjectItemCaseSensitive, copied into a struct)
 *              + Delete
 *   jsmn       decode only: jsmn_parse alone (strict, parent links, as the
 *              runtime builds it), no checks, nothing extracted: the most a
 *              decoder that tokenises with jsmn could reach
 * Each case runs for --seconds (default 0.5) and reports messages/s and MB/s
 * (bytes of the encoded form). Then the ratios of the generated JSON codecs
 * to cJSON against the targets of issue 2: decode >= 3x, encode >= 5x.
 *
 *   codec-bench [--seconds S] [--check] [--filter SUBSTRING]
 *
 * Exit status: 0, unless --check is given and a target is missed (1), or a
 * codec fails (2: a benchmark that decodes nothing measures nothing).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* jsmn as the JSON runtime builds it (codegen/runtime/json.c), for the
 * tokenise-only row */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include <cjson/cJSON.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "ttboost/v1/events.npb-json.h"
#include "ttboost/v1/events.pb-c.h"
#include "ttboost/v1/events.pb.h"
#include "ttboost/v1/events.pbc-json.h"

/* Everything a measured loop produces is folded in here, so the compiler
 * cannot drop the work. */
static volatile uint64_t sink;

static void die(const char *what, const char *detail)
{
  fprintf(stderr, "codec-bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(2);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ the events */

typedef struct event {
  const char *name;
  bool gift;
  uint64_t seq;
  const char *user;
  const char *message; /* chat */
  const char *tts_url; /* chat */
  const char *gift_name;
  uint32_t count;
  const char *sound_url;
} event;

static const event events[] = {
    {
        .name = "chat",
        .gift = false,
        .seq = 48213,
        .user = "Аружан 🌸",
        .message = "Привет всем! Сегодня стрим до полуночи 🎉🔥 Спасибо за подарки, вы лучшие "
                   "❤️",
        .tts_url = "https://server.com/tts/5f3a9c1e7b2d4e60a8f1c3b5d7e9f0a2.ogg",
    },
    {
        .name = "gift",
        .gift = true,
        .seq = 48214,
        .user = "Дархан 🦁",
        .gift_name = "Rose",
        .count = 5,
        .sound_url = "https://server.com/sounds/rose.ogg",
    },
};
#define NEVENTS (sizeof events / sizeof events[0])

/* The spec's sample, checked once so the benchmarked codecs are the ones that
 * produce the spec's payload. */
static const char spec_chat[] = "{\"type\":\"chat\",\"user\":\"Aruka\",\"message\":\"Привет!\","
                                "\"tts_url\":\"https://server.com/tts/abc123.mp3\",\"seq\":1}";

/* The flavours' messages for an event. */
typedef struct fixture {
  const event *ev;
  Ttboost__V1__ServerMessage pbc;
  Ttboost__V1__ChatEvent pbc_chat;
  Ttboost__V1__GiftEvent pbc_gift;
  ttboost_v1_ServerMessage npb;
  char *json; /* the generated encoder's output (same for both flavours) */
  size_t json_len;
  uint8_t bin[ttboost_v1_ServerMessage_size];
  size_t bin_len;
} fixture;

static void copy_str(char *dst, size_t cap, const char *s)
{
  size_t n = strlen(s);
  if (n >= cap)
    die("fixture string too long for the nanopb bound", s);
  memcpy(dst, s, n + 1);
}

static void fixture_init(fixture *f, const event *ev)
{
  memset(f, 0, sizeof *f);
  f->ev = ev;
  ttboost__v1__server_message__init(&f->pbc);
  f->pbc.seq = ev->seq;
  const ttboost_v1_ServerMessage z = ttboost_v1_ServerMessage_init_zero;
  f->npb = z;
  f->npb.seq = ev->seq;
  if (ev->gift) {
    ttboost__v1__gift_event__init(&f->pbc_gift);
    f->pbc_gift.gift_name = (char *)ev->gift_name;
    f->pbc_gift.count = ev->count;
    f->pbc_gift.sound_url = (char *)ev->sound_url;
    f->pbc_gift.user = (char *)ev->user;
    f->pbc.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
    f->pbc.gift = &f->pbc_gift;
    f->npb.which_payload = ttboost_v1_ServerMessage_gift_tag;
    ttboost_v1_GiftEvent *g = &f->npb.payload.gift;
    copy_str(g->gift_name, sizeof g->gift_name, ev->gift_name);
    g->count = ev->count;
    copy_str(g->sound_url, sizeof g->sound_url, ev->sound_url);
    copy_str(g->user, sizeof g->user, ev->user);
  } else {
    ttboost__v1__chat_event__init(&f->pbc_chat);
    f->pbc_chat.user = (char *)ev->user;
    f->pbc_chat.message = (char *)ev->message;
    f->pbc_chat.tts_url = (char *)ev->tts_url;
    f->pbc.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
    f->pbc.chat = &f->pbc_chat;
    f->npb.which_payload = ttboost_v1_ServerMessage_chat_tag;
    ttboost_v1_ChatEvent *c = &f->npb.payload.chat;
    copy_str(c->user, sizeof c->user, ev->user);
    copy_str(c->message, sizeof c->message, ev->message);
    copy_str(c->tts_url, sizeof c->tts_url, ev->tts_url);
  }

  ttb_json_error err;
  f->json = ttb_pbc_ttboost_v1_ServerMessage_to_json(&f->pbc, &f->json_len, &err);
  if (f->json == NULL)
    die("pbc _to_json failed", err.msg);
  char buf[4096];
  size_t n;
  if (!ttb_npb_ttboost_v1_ServerMessage_to_json(&f->npb, buf, sizeof buf, &n, &err))
    die("npb _to_json failed", err.msg);
  if (n != f->json_len || memcmp(buf, f->json, n) != 0)
    die("pbc and npb JSON encoders disagree", ev->name);

  f->bin_len = ttboost__v1__server_message__pack(&f->pbc, f->bin);
  uint8_t nb[sizeof f->bin];
  pb_ostream_t os = pb_ostream_from_buffer(nb, sizeof nb);
  if (!pb_encode(&os, ttboost_v1_ServerMessage_fields, &f->npb))
    die("pb_encode failed", PB_GET_ERROR(&os));
  if (os.bytes_written != f->bin_len || memcmp(nb, f->bin, f->bin_len) != 0)
    die("protobuf-c and nanopb binary encodings disagree", ev->name);
}

/* Does a decoded nanopb message hold the event? (The pbc check goes through
 * the same comparison after the JSON round trip in self_check.) */
static bool npb_matches(const ttboost_v1_ServerMessage *m, const event *ev)
{
  if (m->seq != ev->seq)
    return false;
  if (ev->gift)
    return m->which_payload == ttboost_v1_ServerMessage_gift_tag &&
           strcmp(m->payload.gift.gift_name, ev->gift_name) == 0 &&
           m->payload.gift.count == ev->count &&
           strcmp(m->payload.gift.sound_url, ev->sound_url) == 0 &&
           strcmp(m->payload.gift.user, ev->user) == 0;
  return m->which_payload == ttboost_v1_ServerMessage_chat_tag &&
         strcmp(m->payload.chat.user, ev->user) == 0 &&
         strcmp(m->payload.chat.message, ev->message) == 0 &&
         strcmp(m->payload.chat.tts_url, ev->tts_url) == 0;
}

static bool pbc_matches(const Ttboost__V1__ServerMessage *m, const event *ev)
{
  if (m->seq != ev->seq)
    return false;
  if (ev->gift)
    return m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT &&
           strcmp(m->gift->gift_name, ev->gift_name) == 0 && m->gift->count == ev->count &&
           strcmp(m->gift->sound_url, ev->sound_url) == 0 && strcmp(m->gift->user, ev->user) == 0;
  return m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT &&
         strcmp(m->chat->user, ev->user) == 0 && strcmp(m->chat->message, ev->message) == 0 &&
         strcmp(m->chat->tts_url, ev->tts_url) == 0;
}

/* ------------------------------------------------------------ cJSON side */

/* What the cJSON decoder extracts into: the same fields, copied. */
typedef struct cj_event {
  char type[16];
  uint64_t seq;
  char user[129];
  char message[1025];
  char tts_url[513];
  char gift_name[129];
  uint32_t count;
  char sound_url[513];
} cj_event;

static bool cj_copy(const cJSON *obj, const char *key, char *dst, size_t cap, bool required)
{
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (it == NULL) {
    dst[0] = '\0';
    return !required;
  }
  if (!cJSON_IsString(it) || it->valuestring == NULL)
    return false;
  size_t n = strlen(it->valuestring);
  if (n >= cap)
    return false;
  memcpy(dst, it->valuestring, n + 1);
  return true;
}

static bool cj_decode(const char *js, size_t len, cj_event *out)
{
  cJSON *root = cJSON_ParseWithLength(js, len);
  if (root == NULL)
    return false;
  bool ok = cJSON_IsObject(root) && cj_copy(root, "type", out->type, sizeof out->type, true);
  if (ok) {
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(root, "seq");
    ok = cJSON_IsNumber(seq) && seq->valuedouble >= 0;
    if (ok)
      out->seq = (uint64_t)seq->valuedouble;
  }
  if (ok && strcmp(out->type, "chat") == 0) {
    ok = cj_copy(root, "user", out->user, sizeof out->user, false) &&
         cj_copy(root, "message", out->message, sizeof out->message, false) &&
         cj_copy(root, "tts_url", out->tts_url, sizeof out->tts_url, false);
  } else if (ok && strcmp(out->type, "gift") == 0) {
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(root, "count");
    ok = cj_copy(root, "gift_name", out->gift_name, sizeof out->gift_name, false) &&
         cj_copy(root, "sound_url", out->sound_url, sizeof out->sound_url, false) &&
         cj_copy(root, "user", out->user, sizeof out->user, false) && cJSON_IsNumber(count) &&
         count->valuedouble >= 0 && count->valuedouble <= 4294967295.0;
    if (ok)
      out->count = (uint32_t)count->valuedouble;
  } else {
    ok = false;
  }
  cJSON_Delete(root);
  return ok;
}

static bool cj_matches(const cj_event *c, const event *ev)
{
  if (c->seq != ev->seq || strcmp(c->user, ev->user) != 0)
    return false;
  if (ev->gift)
    return strcmp(c->type, "gift") == 0 && strcmp(c->gift_name, ev->gift_name) == 0 &&
           c->count == ev->count && strcmp(c->sound_url, ev->sound_url) == 0;
  return strcmp(c->type, "chat") == 0 && strcmp(c->message, ev->message) == 0 &&
         strcmp(c->tts_url, ev->tts_url) == 0;
}

/* Builds and prints the same object as the generated encoder (same keys, same
 * order); returns the malloc'd text (cJSON_free) or NULL. */
static char *cj_encode(const event *ev)
{
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return NULL;
  bool ok;
  if (ev->gift)
    ok = cJSON_AddStringToObject(o, "type", "gift") &&
         cJSON_AddStringToObject(o, "gift_name", ev->gift_name) &&
         cJSON_AddNumberToObject(o, "count", ev->count) &&
         cJSON_AddStringToObject(o, "sound_url", ev->sound_url) &&
         cJSON_AddStringToObject(o, "user", ev->user) &&
         cJSON_AddNumberToObject(o, "seq", (double)ev->seq);
  else
    ok = cJSON_AddStringToObject(o, "type", "chat") &&
         cJSON_AddStringToObject(o, "user", ev->user) &&
         cJSON_AddStringToObject(o, "message", ev->message) &&
         cJSON_AddStringToObject(o, "tts_url", ev->tts_url) &&
         cJSON_AddNumberToObject(o, "seq", (double)ev->seq);
  char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  return s;
}

/* ------------------------------------------------------------ the cases */

enum codec { C_JSON_PBC, C_JSON_NPB, C_BIN_PBC, C_BIN_NPB, C_CJSON, C_JSMN, NCODECS };
enum op { OP_ENCODE, OP_DECODE, NOPS };

static const char *const codec_names[NCODECS] = {
    [C_JSON_PBC] = "json pbc (generated)",
    [C_JSON_NPB] = "json npb (generated)",
    [C_BIN_PBC] = "binary protobuf-c",
    [C_BIN_NPB] = "binary nanopb",
    [C_CJSON] = "json cJSON",
    [C_JSMN] = "json jsmn tokens only",
};
static const char *const op_names[NOPS] = {"encode", "decode"};

/* One iteration of a case; returns bytes produced or consumed (0 = failure). */
static size_t run_once(int codec, int op, fixture *f, ttboost_v1_ServerMessage *npb_scratch,
                       cj_event *cj_scratch)
{
  ttb_json_error err;
  switch (codec * NOPS + op) {
  case C_JSON_PBC *NOPS + OP_ENCODE: {
    size_t n;
    char *s = ttb_pbc_ttboost_v1_ServerMessage_to_json(&f->pbc, &n, &err);
    if (s == NULL)
      return 0;
    sink += (uint8_t)s[n - 1];
    free(s);
    return n;
  }
  case C_JSON_PBC *NOPS + OP_DECODE: {
    Ttboost__V1__ServerMessage *m =
        ttb_pbc_ttboost_v1_ServerMessage_from_json(f->json, f->json_len, NULL, &err);
    if (m == NULL)
      return 0;
    sink += m->seq + (uint64_t)m->payload_case;
    ttboost__v1__server_message__free_unpacked(m, NULL);
    return f->json_len;
  }
  case C_JSON_NPB *NOPS + OP_ENCODE: {
    char buf[4096];
    size_t n;
    if (!ttb_npb_ttboost_v1_ServerMessage_to_json(&f->npb, buf, sizeof buf, &n, &err))
      return 0;
    sink += (uint8_t)buf[n - 1];
    return n;
  }
  case C_JSON_NPB *NOPS + OP_DECODE:
    if (!ttb_npb_ttboost_v1_ServerMessage_from_json(f->json, f->json_len, npb_scratch, &err))
      return 0;
    sink += npb_scratch->seq + npb_scratch->which_payload;
    return f->json_len;
  case C_BIN_PBC *NOPS + OP_ENCODE: {
    uint8_t buf[sizeof f->bin];
    size_t n = ttboost__v1__server_message__pack(&f->pbc, buf);
    sink += buf[n - 1];
    return n;
  }
  case C_BIN_PBC *NOPS + OP_DECODE: {
    Ttboost__V1__ServerMessage *m = ttboost__v1__server_message__unpack(NULL, f->bin_len, f->bin);
    if (m == NULL)
      return 0;
    char e[TTB_JSON_ERR_SIZE];
    bool ok = ttb_pbc_ttboost_v1_ServerMessage_validate(m, e, sizeof e);
    sink += m->seq + (uint64_t)m->payload_case;
    ttboost__v1__server_message__free_unpacked(m, NULL);
    return ok ? f->bin_len : 0;
  }
  case C_BIN_NPB *NOPS + OP_ENCODE: {
    uint8_t buf[sizeof f->bin];
    pb_ostream_t os = pb_ostream_from_buffer(buf, sizeof buf);
    if (!pb_encode(&os, ttboost_v1_ServerMessage_fields, &f->npb))
      return 0;
    sink += buf[os.bytes_written - 1];
    return os.bytes_written;
  }
  case C_BIN_NPB *NOPS + OP_DECODE: {
    pb_istream_t is = pb_istream_from_buffer(f->bin, f->bin_len);
    if (!pb_decode(&is, ttboost_v1_ServerMessage_fields, npb_scratch))
      return 0;
    char e[TTB_JSON_ERR_SIZE];
    if (!ttb_npb_ttboost_v1_ServerMessage_validate(npb_scratch, e, sizeof e))
      return 0;
    sink += npb_scratch->seq + npb_scratch->which_payload;
    return f->bin_len;
  }
  case C_CJSON *NOPS + OP_ENCODE: {
    char *s = cj_encode(f->ev);
    if (s == NULL)
      return 0;
    size_t n = strlen(s);
    sink += (uint8_t)s[n - 1];
    cJSON_free(s);
    return n;
  }
  case C_CJSON *NOPS + OP_DECODE:
    if (!cj_decode(f->json, f->json_len, cj_scratch))
      return 0;
    sink += cj_scratch->seq + (uint8_t)cj_scratch->user[0];
    return f->json_len;
  case C_JSMN *NOPS + OP_DECODE: {
    jsmntok_t toks[64];
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, f->json, f->json_len, toks, 64);
    if (n <= 0)
      return 0;
    sink += (uint64_t)n + (uint64_t)toks[n - 1].end;
    return f->json_len;
  }
  }
  return 0;
}

typedef struct result {
  double msgs_per_s;
  double mb_per_s;
  size_t bytes; /* per message */
} result;

static result measure(int codec, int op, fixture *f, double seconds)
{
  static ttboost_v1_ServerMessage npb_scratch;
  static cj_event cj_scratch;
  enum { BATCH = 256 };
  /* Warm-up: caches, branch predictors, the allocator's free lists. */
  for (int i = 0; i < BATCH; i++)
    if (run_once(codec, op, f, &npb_scratch, &cj_scratch) == 0)
      die("a benchmarked call failed", codec_names[codec]);
  uint64_t iters = 0, bytes = 0;
  double t0 = now_s(), t;
  do {
    for (int i = 0; i < BATCH; i++) {
      size_t n = run_once(codec, op, f, &npb_scratch, &cj_scratch);
      if (n == 0)
        die("a benchmarked call failed", codec_names[codec]);
      bytes += n;
    }
    iters += BATCH;
    t = now_s() - t0;
  } while (t < seconds);
  result r = {
      .msgs_per_s = (double)iters / t,
      .mb_per_s = (double)bytes / t / 1e6,
      .bytes = (size_t)(bytes / iters),
  };
  return r;
}

/* Correctness before speed: every codec decodes what the others encode into
 * the same fields, and the encoders agree with the spec's sample. */
static void self_check(fixture *f)
{
  const event *ev = f->ev;
  ttb_json_error err;

  Ttboost__V1__ServerMessage *m =
      ttb_pbc_ttboost_v1_ServerMessage_from_json(f->json, f->json_len, NULL, &err);
  if (m == NULL || !pbc_matches(m, ev))
    die("pbc JSON round trip lost data", m ? ev->name : err.msg);
  ttboost__v1__server_message__free_unpacked(m, NULL);

  static ttboost_v1_ServerMessage nm;
  if (!ttb_npb_ttboost_v1_ServerMessage_from_json(f->json, f->json_len, &nm, &err) ||
      !npb_matches(&nm, ev))
    die("npb JSON round trip lost data", ev->name);

  m = ttboost__v1__server_message__unpack(NULL, f->bin_len, f->bin);
  if (m == NULL || !pbc_matches(m, ev))
    die("protobuf-c binary round trip lost data", ev->name);
  ttboost__v1__server_message__free_unpacked(m, NULL);

  pb_istream_t is = pb_istream_from_buffer(f->bin, f->bin_len);
  if (!pb_decode(&is, ttboost_v1_ServerMessage_fields, &nm) || !npb_matches(&nm, ev))
    die("nanopb binary round trip lost data", ev->name);

  static cj_event c;
  if (!cj_decode(f->json, f->json_len, &c) || !cj_matches(&c, ev))
    die("cJSON cannot read the generated encoder's output", ev->name);
  char *s = cj_encode(ev);
  if (s == NULL)
    die("cJSON encode failed", ev->name);
  /* cJSON prints the same object; only number formatting could differ. */
  if (strlen(s) != f->json_len || memcmp(s, f->json, f->json_len) != 0)
    fprintf(stderr, "codec-bench: note: cJSON prints %s differently:\n  %s\n  %.*s\n", ev->name, s,
            (int)f->json_len, f->json);
  cJSON_free(s);
}

static void spec_check(void)
{
  ttb_json_error err;
  Ttboost__V1__ServerMessage *m =
      ttb_pbc_ttboost_v1_ServerMessage_from_json(spec_chat, strlen(spec_chat), NULL, &err);
  if (m == NULL)
    die("the spec's sample does not decode", err.msg);
  size_t n;
  char *s = ttb_pbc_ttboost_v1_ServerMessage_to_json(m, &n, &err);
  if (s == NULL || n != strlen(spec_chat) || memcmp(s, spec_chat, n) != 0)
    die("the spec's sample does not re-encode byte for byte", s);
  free(s);
  ttboost__v1__server_message__free_unpacked(m, NULL);
}

/* ------------------------------------------------------------ main */

static void usage(FILE *to)
{
  fprintf(to, "usage: codec-bench [--seconds S] [--check] [--filter SUBSTRING]\n"
              "  --seconds S   time per measurement (default 0.5)\n"
              "  --check       exit 1 when a target (decode >= 3x, encode >= 5x cJSON) is missed\n"
              "  --filter STR  only run cases whose \"event codec op\" name contains STR\n"
              "                (ratios are printed only when both sides ran)\n");
}

int main(int argc, char **argv)
{
  double seconds = 0.5;
  bool check = false;
  const char *filter = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      char *end;
      seconds = strtod(argv[++i], &end);
      if (*end != '\0' || !(seconds > 0 && seconds < 3600)) {
        usage(stderr);
        return 2;
      }
    } else if (strcmp(argv[i], "--check") == 0) {
      check = true;
    } else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
      filter = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }

  spec_check();
  static fixture fx[NEVENTS];
  for (size_t e = 0; e < NEVENTS; e++) {
    fixture_init(&fx[e], &events[e]);
    self_check(&fx[e]);
  }

  printf("codec-bench: %.2f s per measurement; cJSON %s\n", seconds, cJSON_Version());
  for (size_t e = 0; e < NEVENTS; e++)
    printf("  %s: %zu B JSON, %zu B protobuf: %.*s\n", events[e].name, fx[e].json_len,
           fx[e].bin_len, (int)fx[e].json_len, fx[e].json);
  printf("\n%-6s %-22s %-7s %8s %14s %10s\n", "event", "codec", "op", "bytes", "msgs/s", "MB/s");

  static result res[NEVENTS][NCODECS][NOPS];
  static bool ran[NEVENTS][NCODECS][NOPS];
  for (size_t e = 0; e < NEVENTS; e++) {
    for (int op = 0; op < NOPS; op++) {
      for (int c = 0; c < NCODECS; c++) {
        char name[96];
        snprintf(name, sizeof name, "%s %s %s", events[e].name, codec_names[c], op_names[op]);
        if (filter && strstr(name, filter) == NULL)
          continue;
        if (c == C_JSMN && op == OP_ENCODE)
          continue; /* a tokeniser does not encode */
        result r = measure(c, op, &fx[e], seconds);
        res[e][c][op] = r;
        ran[e][c][op] = true;
        printf("%-6s %-22s %-7s %8zu %14.0f %10.1f\n", events[e].name, codec_names[c], op_names[op],
               r.bytes, r.msgs_per_s, r.mb_per_s);
        fflush(stdout);
      }
    }
  }

  static const double target[NOPS] = {[OP_ENCODE] = 5.0, [OP_DECODE] = 3.0};
  bool all_pass = true;
  printf("\nGenerated JSON codec vs cJSON (messages/s ratio; target: encode >= %.0fx, decode >= "
         "%.0fx)\n",
         target[OP_ENCODE], target[OP_DECODE]);
  for (size_t e = 0; e < NEVENTS; e++)
    for (int op = 0; op < NOPS; op++)
      for (int c = C_JSON_PBC; c <= C_JSON_NPB; c++) {
        if (!ran[e][c][op] || !ran[e][C_CJSON][op])
          continue;
        double ratio = res[e][c][op].msgs_per_s / res[e][C_CJSON][op].msgs_per_s;
        bool pass = ratio >= target[op];
        all_pass &= pass;
        printf("  %-6s %-22s %-7s %6.2fx  (target %.0fx)  %s\n", events[e].name, codec_names[c],
               op_names[op], ratio, target[op], pass ? "PASS" : "FAIL");
      }
  for (size_t e = 0; e < NEVENTS; e++)
    if (ran[e][C_JSMN][OP_DECODE] && ran[e][C_CJSON][OP_DECODE])
      printf("  %-6s jsmn_parse alone: %.2fx cJSON's decode, the ceiling of any decoder on jsmn\n",
             events[e].name,
             res[e][C_JSMN][OP_DECODE].msgs_per_s / res[e][C_CJSON][OP_DECODE].msgs_per_s);
  printf("%s\n", all_pass ? "all targets met" : "TARGET MISSED");
  printf("(sink %llu)\n", (unsigned long long)(sink & 0xff));
  return check && !all_pass ? 1 : 0;
}
