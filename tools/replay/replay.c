/*
 * ttb-replay: posts the ingest records of a trace to a server at the recorded
 * pace (scaled), and with --expect checks what a client receives against the
 * trace's server-to-client records. See docs/replay.md.
 */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common.h"
#include "net.h"
#include "tiktok_serve.h"
#include "trace.h"
#include "ttboost/v1/events.pbc-json.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

static void usage(FILE *f)
{
  fprintf(
      f, "usage: ttb-replay FILE --server URL [--ingest-secret-file F] [--speed N | --max]\n"
         "                  [--channel ID] [--key KEY] [--expect] [--binary]\n"
         "                  [--batch N] [--timeout S] [--stable-ids] [--quiet]\n"
         "       ttb-replay --tiktok-serve FILE --listen HOST:PORT [--speed N | --max]\n"
         "                  [--room-id ID] [--tiktok-user NAME] [--end-after] [-v]\n"
         "                  (a fake TikTok serving a TikTok trace: --tiktok-serve F --help)\n"
         "\n"
         "Posts the ingest records of the trace FILE to URL/ingest/events (protobuf batches)\n"
         "at the pace they were recorded at, and with --expect checks what a client of the\n"
         "channel receives against the trace's server-to-client records.\n"
         "\n"
         "  --server URL         the server: http://HOST:PORT or https://…\n"
         "  --ingest-secret-file F  the bearer of POST /ingest/events: a channel's ingest\n"
         "                       token (ttboost-admin ingest-token create) or the operator's\n"
         "                       ingest secret, the first line of F (\"-\": stdin). Without\n"
         "                       it, the environment variable TTBOOST_INGEST_SECRET. Never\n"
         "                       on the command line, where ps shows it.\n"
         "  --speed N            N times the recorded pace (default 1; 0.5 is half speed)\n"
         "  --max                as fast as possible, ignoring the recorded times\n"
         "  --channel ID         post to channel ID (a streamer's user_id) instead of the\n"
         "                       trace's channels\n"
         "  --key KEY            a license key: log in with it; its user_id is the channel\n"
         "                       unless --channel says otherwise (\"-\": read it from stdin)\n"
         "  --expect             attach a checking client (needs --key: it logs in as that\n"
         "                       license) and compare what it receives with the trace\n"
         "  --binary             the checking client uses protobuf frames (default JSON)\n"
         "  --batch N            at most N events per POST (default 20)\n"
         "  --timeout S          after the last post, wait at most S seconds for what is still\n"
         "                       expected (default 60)\n"
         "  --stable-ids         send each event with the id it has in the trace (or \"r\" and\n"
         "                       its record index): a second run of the same trace is then\n"
         "                       dropped by the server as duplicates (within its dedup\n"
         "                       window). Default: the ids carry a random per-run prefix,\n"
         "                       so that every run of a trace is new to the server\n"
         "  --quiet              no progress line\n"
         "\n"
         "Compared (--expect): chat, gift and error messages, in order: their kinds, every field,\n"
         "and seq relative to the first one (seq 5, 6, 8 must come as n, n+1, n+3). Not\n"
         "compared: hello, audio and pong messages, times, URL hosts, and the id in a tts_url\n"
         "(\"\" must stay \"\", anything else must be a URL in the same directory, e.g. /tts/).\n"
         "A '*' in an expected sound_url path matches anything (fnmatch).\n"
         "\n"
         "A progress line goes to stderr (updated in place on a terminal, every 5 s otherwise).\n"
         "Exit status: 0 replayed (and matched), 1 a mismatch or refused events (the diff is on\n"
         "stdout), 2 usage, trace or connection error.\n");
}

typedef struct item {
  uint64_t t;   /* record time */
  size_t index; /* record index in the trace */
  Ttboost__V1__TraceRecord *rec;
} item;

typedef struct vec {
  item *v;
  size_t n, cap;
} vec;

static int vec_push(vec *a, item it)
{
  if (a->n == a->cap) {
    size_t c = a->cap ? a->cap * 2 : 256;
    item *nv = realloc(a->v, c * sizeof *nv);
    if (nv == NULL)
      return -1;
    a->v = nv;
    a->cap = c;
  }
  a->v[a->n++] = it;
  return 0;
}

/* Received messages worth comparing. */
typedef struct got_vec {
  Ttboost__V1__ServerMessage **v;
  size_t n, cap;
} got_vec;

static bool compared_kind(const Ttboost__V1__ServerMessage *m)
{
  return m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT ||
         m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT ||
         m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_ERROR;
}

/* The path of a URL: what follows scheme://authority ("" stays ""). */
static const char *url_path(const char *u)
{
  const char *s = strstr(u, "://");
  if (s == NULL)
    return u;
  const char *p = strchr(s + 3, '/');
  return p ? p : "";
}

static bool same_dir(const char *a, const char *b)
{
  const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
  if (sa == NULL || sb == NULL)
    return sa == sb;
  return sa - a == sb - b && memcmp(a, b, (size_t)(sa - a)) == 0;
}

static bool tts_match(const char *exp, const char *got)
{
  if (exp[0] == '\0' || got[0] == '\0')
    return exp[0] == got[0];
  return same_dir(url_path(exp), url_path(got));
}

static bool sound_match(const char *exp, const char *got)
{
  const char *e = url_path(exp), *g = url_path(got);
  if (strchr(e, '*'))
    return fnmatch(e, g, 0) == 0;
  return strcmp(e, g) == 0;
}

static void add_diff(char *out, size_t cap, const char *field)
{
  size_t n = strlen(out);
  snprintf(out + n, cap - n, "%s%s", n ? ", " : "", field);
}

/* Which fields differ ("" when none). */
static void compare(const Ttboost__V1__ServerMessage *e, const Ttboost__V1__ServerMessage *g,
                    int64_t eseq, int64_t gseq, char *out, size_t cap)
{
  out[0] = '\0';
  if (e->payload_case != g->payload_case) {
    snprintf(out, cap, "type (expected %s, got %s)", ttb_sm_kind(e), ttb_sm_kind(g));
    return;
  }
  if (eseq != gseq) {
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "seq (expected first%+lld, got first%+lld)", (long long)eseq,
             (long long)gseq);
  }
  switch (e->payload_case) {
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT:
    if (strcmp(e->chat->user, g->chat->user) != 0)
      add_diff(out, cap, "user");
    if (strcmp(e->chat->message, g->chat->message) != 0)
      add_diff(out, cap, "message");
    if (!tts_match(e->chat->tts_url, g->chat->tts_url))
      add_diff(out, cap, "tts_url");
    break;
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT:
    if (strcmp(e->gift->gift_name, g->gift->gift_name) != 0)
      add_diff(out, cap, "gift_name");
    if (e->gift->count != g->gift->count)
      add_diff(out, cap, "count");
    if (!sound_match(e->gift->sound_url, g->gift->sound_url))
      add_diff(out, cap, "sound_url");
    if (strcmp(e->gift->user, g->gift->user) != 0)
      add_diff(out, cap, "user");
    break;
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_ERROR:
    if (strcmp(e->error->error, g->error->error) != 0)
      add_diff(out, cap, "error");
    break;
  default:
    break;
  }
}

static void print_json(const char *label, const Ttboost__V1__ServerMessage *m)
{
  size_t n;
  ttb_json_error je;
  char *js = ttb_pbc_ttboost_v1_ServerMessage_to_json(m, &n, &je);
  printf("  %s %s\n", label, js ? js : je.msg);
  free(js);
}

typedef struct state {
  const char *file;
  ttb_url url;
  const char *secret;
  const char *channel;
  char nonce[12]; /* the per-run prefix of event ids ("" with --stable-ids) */
  double speed;
  bool max, expect, binary, quiet, tty;
  size_t batch;
  uint64_t timeout_s;
  vec ingest, expected;
  got_vec got;
  ttb_ws *ws;
  size_t posted, accepted, rejected, duplicates;
  uint64_t t0, last_progress;
  bool progress_shown, hello_seen;
} state;

static int load(state *s, char *err, size_t errlen)
{
  ttb_trace_reader *r;
  if (ttb_trace_reader_open(s->file, &r, err, errlen) != 0)
    return -1;
  Ttboost__V1__TraceRecord *rec;
  int rc;
  size_t index = 0;
  while ((rc = ttb_trace_next(r, &rec, err, errlen)) == 1) {
    item it = {rec->time_us, index++, rec};
    int pr = 0;
    bool keep = false;
    if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_INGEST &&
        rec->direction == TTBOOST__V1__DIRECTION__DIRECTION_INGEST) {
      pr = vec_push(&s->ingest, it);
      keep = true;
    } else if (rec->record_case == TTBOOST__V1__TRACE_RECORD__RECORD_SERVER &&
               rec->direction == TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT &&
               compared_kind(rec->server)) {
      pr = vec_push(&s->expected, it);
      keep = true;
    }
    if (pr != 0) {
      snprintf(err, errlen, "out of memory");
      ttboost__v1__trace_record__free_unpacked(rec, NULL);
      rc = -1;
      break;
    }
    if (!keep)
      ttboost__v1__trace_record__free_unpacked(rec, NULL);
  }
  ttb_trace_reader_close(r);
  return rc < 0 ? -1 : 0;
}

static void progress(state *s, bool final)
{
  if (s->quiet)
    return;
  uint64_t now = ttb_mono_us();
  if (!final && now - s->last_progress < (s->tty ? 100000u : 5000000u))
    return;
  s->last_progress = now;
  double el = (double)(now - s->t0) / 1e6;
  size_t total = s->ingest.n;
  char line[256];
  int n = snprintf(line, sizeof line, "ttb-replay: %zu/%zu events posted (%3.0f%%), %.1f s",
                   s->posted, total, total ? 100.0 * (double)s->posted / (double)total : 100.0, el);
  if (s->expect)
    n += snprintf(line + n, sizeof line - (size_t)n, ", received %zu/%zu expected", s->got.n,
                  s->expected.n);
  if (s->rejected)
    n += snprintf(line + n, sizeof line - (size_t)n, ", %zu refused", s->rejected);
  if (s->duplicates)
    snprintf(line + n, sizeof line - (size_t)n, ", %zu duplicates dropped by the server",
             s->duplicates);
  if (s->tty) {
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    s->progress_shown = !final;
  } else {
    fprintf(stderr, "%s\n", line);
  }
}

/* Clears an in-place progress line before other output. */
static void progress_clear(state *s)
{
  if (s->tty && s->progress_shown) {
    fprintf(stderr, "\r\033[K");
    s->progress_shown = false;
  }
}

/* Reads what the client has received for up to timeout_ms. -1 on a socket failure. */
static int drain(state *s, int timeout_ms, char *err, size_t errlen)
{
  if (s->ws == NULL) {
    if (timeout_ms > 0)
      ttb_sleep_us((uint64_t)timeout_ms * 1000u);
    return 0;
  }
  uint64_t end = ttb_mono_us() + (uint64_t)timeout_ms * 1000u;
  for (;;) {
    uint64_t now = ttb_mono_us();
    int left = now >= end ? 0 : (int)((end - now) / 1000u);
    const uint8_t *data;
    size_t len;
    int op = ttb_ws_recv(s->ws, &data, &len, left, err, errlen);
    if (op < 0)
      return -1;
    if (op == 0)
      return 0;
    bool unknown;
    char derr[256];
    Ttboost__V1__ServerMessage *m = ttb_sm_decode(op, data, len, &unknown, derr, sizeof derr);
    if (m == NULL) {
      progress_clear(s);
      fprintf(stderr, "ttb-replay: the client skipped a message: %s\n", derr);
      continue;
    }
    if (!compared_kind(m)) {
      if (m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_HELLO)
        s->hello_seen = true;
      ttboost__v1__server_message__free_unpacked(m, NULL);
      continue;
    }
    if (s->got.n == s->got.cap) {
      size_t c = s->got.cap ? s->got.cap * 2 : 256;
      Ttboost__V1__ServerMessage **nv = realloc(s->got.v, c * sizeof *nv);
      if (nv == NULL) {
        ttboost__v1__server_message__free_unpacked(m, NULL);
        snprintf(err, errlen, "out of memory");
        return -1;
      }
      s->got.v = nv;
      s->got.cap = c;
    }
    s->got.v[s->got.n++] = m;
    progress(s, false);
  }
}

/* The id record i is posted with (IngestEvent.id, the server's dedup):
 * the trace's own id or "r<index>", after the run's prefix unless
 * --stable-ids. The same for every retry of the record in this run. */
static void event_id(const state *s, size_t i, char out[160])
{
  const Ttboost__V1__IngestEvent *e = s->ingest.v[i].rec->ingest;
  char own[140];
  if (e->id != NULL && e->id[0] != '\0' && strlen(e->id) < 100)
    snprintf(own, sizeof own, "%s", e->id);
  else
    snprintf(own, sizeof own, "r%zu", s->ingest.v[i].index);
  if (s->nonce[0])
    snprintf(out, 160, "%s:%s", s->nonce, own);
  else
    snprintf(out, 160, "%s", own);
}

/* Posts ingest records [from, to) as one protobuf batch. */
static int post(state *s, size_t from, size_t to, char *err, size_t errlen)
{
  size_t cap = 0;
  char id[160];
  for (size_t i = from; i < to; i++) {
    Ttboost__V1__IngestEvent *e = s->ingest.v[i].rec->ingest;
    char *saved = e->channel, *saved_id = e->id;
    if (s->channel)
      e->channel = (char *)s->channel;
    event_id(s, i, id);
    e->id = id;
    cap += protobuf_c_message_get_packed_size(&e->base) + 10;
    e->channel = saved;
    e->id = saved_id;
  }
  uint8_t *body = malloc(cap ? cap : 1);
  if (body == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  size_t len = 0;
  for (size_t i = from; i < to; i++) {
    Ttboost__V1__IngestEvent *e = s->ingest.v[i].rec->ingest;
    char *saved = e->channel, *saved_id = e->id;
    if (s->channel)
      e->channel = (char *)s->channel;
    event_id(s, i, id);
    e->id = id;
    size_t n = protobuf_c_message_get_packed_size(&e->base);
    uint64_t v = n;
    while (v >= 0x80) {
      body[len++] = (uint8_t)(v | 0x80);
      v >>= 7;
    }
    body[len++] = (uint8_t)v;
    len += protobuf_c_message_pack(&e->base, body + len);
    e->channel = saved;
    e->id = saved_id;
  }
  char headers[512];
  snprintf(headers, sizeof headers,
           "Content-Type: application/x-protobuf\r\nAuthorization: Bearer %s\r\n", s->secret);
  int status;
  char *resp;
  size_t rl;
  int rc = ttb_http(&s->url, "POST", "/ingest/events", headers, body, len, &status, &resp, &rl, err,
                    errlen);
  free(body);
  if (rc != 0)
    return -1;
  if (status != 202) {
    snprintf(err, errlen, "POST /ingest/events: HTTP %d: %.300s", status, resp);
    free(resp);
    return -1;
  }
  /* {"status":"ok"|"partial","accepted":N,"errors":[…]} */
  const char *a = strstr(resp, "\"accepted\":");
  size_t accepted = a ? (size_t)strtoull(a + 11, NULL, 10) : 0;
  const char *d = strstr(resp, "\"duplicates\":");
  s->duplicates += d ? (size_t)strtoull(d + 13, NULL, 10) : 0;
  s->posted += to - from;
  s->accepted += accepted;
  if (accepted < to - from) {
    s->rejected += to - from - accepted;
    progress_clear(s);
    fprintf(stderr, "ttb-replay: the server refused %zu of trace records %zu..%zu: %.400s\n",
            to - from - accepted, s->ingest.v[from].index, s->ingest.v[to - 1].index, resp);
  }
  free(resp);
  return 0;
}

/* When ingest record i is due, microseconds after the start (a record
 * stamped before the first one is due at once). */
static uint64_t due_us(const state *s, size_t i, uint64_t base)
{
  if (s->max || s->ingest.v[i].t <= base)
    return 0;
  return (uint64_t)((double)(s->ingest.v[i].t - base) / s->speed);
}

static int replay(state *s, char *err, size_t errlen)
{
  s->t0 = ttb_mono_us();
  uint64_t base = s->ingest.n ? s->ingest.v[0].t : 0;
  size_t i = 0;
  while (i < s->ingest.n && !stop) {
    uint64_t now = ttb_mono_us() - s->t0;
    uint64_t due = due_us(s, i, base);
    if (due > now) {
      uint64_t wait = due - now;
      if (wait > 100000)
        wait = 100000;
      if (drain(s, (int)(wait / 1000u), err, errlen) != 0)
        return -1;
      if (s->ws == NULL && wait < 1000)
        ttb_sleep_us(wait);
      progress(s, false);
      continue;
    }
    size_t j = i + 1;
    while (j < s->ingest.n && j - i < s->batch && due_us(s, j, base) <= now)
      j++;
    if (post(s, i, j, err, errlen) != 0)
      return -1;
    i = j;
    if (drain(s, 0, err, errlen) != 0)
      return -1;
    progress(s, false);
  }
  return 0;
}

static int check(state *s)
{
  size_t ne = s->expected.n, ng = s->got.n;
  size_t shown = 0, bad = 0;
  int64_t e0 = ne ? (int64_t)s->expected.v[0].rec->server->seq : 0;
  int64_t g0 = ng ? (int64_t)s->got.v[0]->seq : 0;
  for (size_t k = 0; k < (ne > ng ? ne : ng); k++) {
    char what[256];
    const item *e = k < ne ? &s->expected.v[k] : NULL;
    const Ttboost__V1__ServerMessage *g = k < ng ? s->got.v[k] : NULL;
    if (e && g) {
      compare(e->rec->server, g, (int64_t)e->rec->server->seq - e0, (int64_t)g->seq - g0, what,
              sizeof what);
      if (what[0] == '\0')
        continue;
    }
    bad++;
    if (shown >= 20)
      continue;
    shown++;
    if (e && g) {
      printf("mismatch at expected #%zu (trace record %zu, t=%.3f s): %s\n", k, e->index,
             (double)e->t / 1e6, what);
      print_json("expected:", e->rec->server);
      print_json("got:     ", g);
    } else if (e) {
      printf("missing expected #%zu (trace record %zu, t=%.3f s): nothing received\n", k, e->index,
             (double)e->t / 1e6);
      print_json("expected:", e->rec->server);
    } else {
      printf("unexpected message #%zu (the trace expects only %zu)\n", k, ne);
      print_json("got:     ", g);
    }
  }
  if (bad > shown)
    printf("… and %zu more differences\n", bad - shown);
  if (bad) {
    printf("ttb-replay: MISMATCH: %zu of %zu expected messages differ (received %zu)\n", bad, ne,
           ng);
    return 1;
  }
  printf("ttb-replay: match: %zu messages as expected\n", ne);
  return 0;
}

static bool read_stdin_line(char *buf, size_t cap)
{
  if (fgets(buf, (int)cap, stdin) == NULL)
    return false;
  buf[strcspn(buf, "\r\n")] = '\0';
  return buf[0] != '\0';
}

int main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--tiktok-serve") == 0)
      return ttb_tiktok_serve_main(argc, argv); /* the fake TikTok (tiktok_serve.c) */
  state s;
  memset(&s, 0, sizeof s);
  s.speed = 1;
  s.batch = 20;
  s.timeout_s = 60;
  const char *server = NULL, *key = NULL, *secret_file = NULL;
  bool stable_ids = false;
  ttb_pace pace = {.speed = 1};
  int pr;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--server") == 0 && has) {
      server = argv[++i];
    } else if (strcmp(a, "--ingest-secret-file") == 0 && has) {
      secret_file = argv[++i];
    } else if (strcmp(a, "--ingest-secret") == 0) {
      fprintf(stderr, "ttb-replay: --ingest-secret is gone (ps shows the command line): use "
                      "--ingest-secret-file FILE (\"-\": stdin) or TTBOOST_INGEST_SECRET\n");
      return 2;
    } else if (strcmp(a, "--stable-ids") == 0) {
      stable_ids = true;
    } else if ((pr = ttb_pace_opt(&pace, argc, argv, &i)) != 0) {
      if (pr < 0)
        return 2;
    } else if (strcmp(a, "--channel") == 0 && has) {
      s.channel = argv[++i];
    } else if (strcmp(a, "--key") == 0 && has) {
      key = argv[++i];
    } else if (strcmp(a, "--expect") == 0) {
      s.expect = true;
    } else if (strcmp(a, "--binary") == 0) {
      s.binary = true;
    } else if (strcmp(a, "--quiet") == 0) {
      s.quiet = true;
    } else if (strcmp(a, "--batch") == 0 && has) {
      uint64_t b;
      if (!ttb_parse_u64(argv[++i], &b) || b == 0 || b > 10000) {
        fprintf(stderr, "ttb-replay: --batch: expected 1..10000, got '%s'\n", argv[i]);
        return 2;
      }
      s.batch = (size_t)b;
    } else if (strcmp(a, "--timeout") == 0 && has) {
      if (!ttb_parse_u64(argv[++i], &s.timeout_s)) {
        fprintf(stderr, "ttb-replay: --timeout: expected seconds, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (a[0] != '-' && s.file == NULL) {
      s.file = a;
    } else {
      fprintf(stderr, "ttb-replay: unknown or incomplete option '%s' (see --help)\n", a);
      return 2;
    }
  }
  if (!s.file || !server) {
    fprintf(stderr, "ttb-replay: FILE and --server are required (see --help)\n");
    return 2;
  }
  if (ttb_pace_check(&pace) != 0)
    return 2;
  s.speed = pace.speed;
  s.max = pace.max;
  if (s.expect && key == NULL) {
    fprintf(stderr, "ttb-replay: --expect needs --key KEY: the checking client logs in with it "
                    "(ttboost-admin license create makes one)\n");
    return 2;
  }
  char secretbuf[256], keybuf[256];
  if (secret_file != NULL && strcmp(secret_file, "-") == 0) {
    if (!read_stdin_line(secretbuf, sizeof secretbuf)) {
      fprintf(stderr, "ttb-replay: no ingest secret on stdin\n");
      return 2;
    }
    s.secret = secretbuf;
  } else if (secret_file != NULL) {
    FILE *f = fopen(secret_file, "r");
    if (f == NULL || fgets(secretbuf, sizeof secretbuf, f) == NULL) {
      fprintf(stderr, "ttb-replay: --ingest-secret-file %s: %s\n", secret_file,
              f == NULL ? strerror(errno) : "empty");
      if (f)
        fclose(f);
      return 2;
    }
    fclose(f);
    secretbuf[strcspn(secretbuf, "\r\n")] = '\0';
    s.secret = secretbuf;
  } else {
    s.secret = getenv("TTBOOST_INGEST_SECRET");
  }
  if (s.secret == NULL || s.secret[0] == '\0') {
    fprintf(stderr,
            "ttb-replay: no ingest secret: --ingest-secret-file FILE or TTBOOST_INGEST_SECRET "
            "(see --help)\n");
    return 2;
  }
  if (!stable_ids) {
    unsigned char r[4];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
      fprintf(stderr, "ttb-replay: no random bytes for the run's id prefix: %s\n", strerror(errno));
      return 2;
    }
    snprintf(s.nonce, sizeof s.nonce, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
  }
  if (key && strcmp(key, "-") == 0) {
    if (!read_stdin_line(keybuf, sizeof keybuf)) {
      fprintf(stderr, "ttb-replay: no key on stdin\n");
      return 2;
    }
    key = keybuf;
  }
  if (strpbrk(s.secret, "\r\n")) {
    fprintf(stderr, "ttb-replay: the ingest secret must be one line\n");
    return 2;
  }
  char err[512];
  if (ttb_url_parse(server, &s.url, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-replay: --server: %s\n", err);
    return 2;
  }
  if (load(&s, err, sizeof err) != 0) {
    fprintf(stderr, "ttb-replay: %s\n", err);
    return 2;
  }
  int status = 2;
  char user_id[64], token[128];
  if (key) {
    if (ttb_login(&s.url, key, user_id, token, err, sizeof err) != 0) {
      fprintf(stderr, "ttb-replay: %s\n", err);
      goto out;
    }
    if (s.channel == NULL)
      s.channel = user_id;
  }
  if (s.expect) {
    if (strcmp(s.channel, user_id) != 0)
      fprintf(stderr,
              "ttb-replay: warning: --channel %s is not the channel of --key (%s): the "
              "checking client will not see the events\n",
              s.channel, user_id);
    if (ttb_ws_open(&s.url, token, s.binary ? "ttboost.v1.proto" : NULL, &s.ws, err, sizeof err) !=
        0) {
      fprintf(stderr, "ttb-replay: %s\n", err);
      goto out;
    }
    /* the socket is subscribed once hello has come */
    uint64_t until = ttb_mono_us() + 10000000u;
    while (!s.hello_seen && ttb_mono_us() < until) {
      if (drain(&s, 100, err, sizeof err) != 0) {
        fprintf(stderr, "ttb-replay: the checking client: %s\n", err);
        goto out;
      }
    }
    if (!s.hello_seen) {
      fprintf(stderr, "ttb-replay: the checking client got no hello within 10 s\n");
      goto out;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  s.tty = isatty(2);
  if (!s.quiet)
    fprintf(stderr, "ttb-replay: %zu ingest events%s%s%s, %s\n", s.ingest.n,
            s.channel ? " to channel " : "", s.channel ? s.channel : "",
            s.expect ? ", checking the client" : "",
            s.max ? "as fast as possible" : "at the recorded pace");
  if (replay(&s, err, sizeof err) != 0) {
    progress_clear(&s);
    fprintf(stderr, "ttb-replay: %s\n", err);
    goto out;
  }
  if (stop) {
    progress(&s, true);
    fprintf(stderr, "ttb-replay: interrupted\n");
    goto out;
  }
  if (s.expect) {
    /* wait for what is still expected, then a moment for anything extra */
    uint64_t deadline = ttb_mono_us() + s.timeout_s * 1000000u;
    while (!stop && s.got.n < s.expected.n && ttb_mono_us() < deadline) {
      if (drain(&s, 100, err, sizeof err) != 0) {
        progress_clear(&s);
        fprintf(stderr, "ttb-replay: the checking client: %s\n", err);
        break;
      }
      progress(&s, false);
    }
    if (!stop && drain(&s, 500, err, sizeof err) != 0) {
      progress_clear(&s);
      fprintf(stderr, "ttb-replay: the checking client: %s\n", err);
    }
  }
  progress(&s, true);
  fflush(stderr);
  status = s.rejected ? 1 : 0;
  if (s.expect && check(&s) != 0)
    status = 1;
  else if (s.rejected)
    printf("ttb-replay: %zu events were refused by the server\n", s.rejected);
out:
  ttb_ws_close(s.ws);
  for (size_t i = 0; i < s.ingest.n; i++)
    ttboost__v1__trace_record__free_unpacked(s.ingest.v[i].rec, NULL);
  for (size_t i = 0; i < s.expected.n; i++)
    ttboost__v1__trace_record__free_unpacked(s.expected.v[i].rec, NULL);
  for (size_t i = 0; i < s.got.n; i++)
    ttboost__v1__server_message__free_unpacked(s.got.v[i], NULL);
  free(s.ingest.v);
  free(s.expected.v);
  free(s.got.v);
  return status;
}
