/* The HTTP endpoints and their wiring: see app.h and docs/operations.md. */
#include "app.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbq.h"
#include "journal.h"
#include "lease.h"
#include "listen.h"
#include "dedup.h"
#include "nats.h"
#include "delivery.h"
#include "ldelim.h"
#include "overlay.h"
#include "reply.h"
#include "settings.h"
#include "tts.h"
#include "svc.h"
#include "tiktok.h"
#include "sndconv.h"
#include "usersounds.h"
#include "trace.h"
#include "ttboost/fnv.h"
#include "ttboost/v1/auth.pbc-json.h"
#include "ttboost/v1/ingest.pbc-json.h"
#include "ttboost/v1/tts.pbc-json.h"
#include "web.h"
#include "wake.h"
#include "ws.h"

#define RATE_SLOTS 4096

/* The /tts/generate token bucket of one ws_token (known by a hash of it). */
#define TTS_BUCKETS 4096
typedef struct tts_bucket {
  uint8_t key[16]; /* BLAKE2b-128 of the token; all zero = free */
  double tokens;
  uint64_t at_ms; /* last refill (monotonic) */
} tts_bucket;

typedef struct rate_slot {
  char addr[48];
  uint32_t failures;
  time_t window_start;
} rate_slot;

struct ttb_app {
  ttb_config cfg;
  h2o_globalconf_t config;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  h2o_evloop_t *loop;
  ttb_metrics metrics;
  ttb_hub *hub;
  ttb_svc *svc;
  ttb_settings *settings; /* the channels' settings (settings.h) */
  uint64_t settings_gen;  /* the dbq snapshot generation they were loaded at */
  ttb_usounds *usounds;   /* the streamer's own sounds: /me/sounds, /sounds/u-<id>.ogg */
  bool stopping;
  uint8_t secret_hash[crypto_generichash_BYTES];
  rate_slot *rate;
  tts_bucket *tts_buckets; /* POST /tts/generate per ws_token */
  h2o_timeout_t tick;
  h2o_timeout_entry_t tick_entry;
  ttb_trace_writer *trace; /* --trace-ingest: every accepted ingest event */
  ttb_tiktok *tiktok;      /* the TikTok connector; NULL with --tiktok off */
  ttb_dedup *dedup;        /* ingest event ids seen lately, per channel */
  int64_t ended_check;     /* sessions ended since this (unix s) are looked for next tick */
  ttb_journal *journal;    /* DATA/events.journal; NULL with --journal no */
  uint64_t streaks_gen;    /* the gift streaks' generation last journaled */
  uint64_t replay_seen_ms; /* the dedup clock of the last event id restored */
  h2o_timeout_t commit_to; /* zero delay: commits at the end of the loop's turn */
  h2o_timeout_entry_t commit_entry;
  /* the journal's thread (journal.h): it wakes the loop through jwake */
  int jwake[2];
  h2o_socket_t *jwake_sock;
  ttb_journal_stat jst;                  /* what the loop last saw of it */
  struct ingest_wait *iw_head, *iw_tail; /* 202s waiting for their commit's sync */
  unsigned ticks;
  /* operator-only /metrics: a bearer token on the main port, a second listener, or neither */
  bool metrics_token;
  uint8_t metrics_hash[crypto_generichash_BYTES];
  h2o_hostconf_t *hosts_main[2];
  h2o_hostconf_t *hosts_metrics[2];
  h2o_accept_ctx_t metrics_accept_ctx;
  h2o_socket_t *metrics_listener;
  /* --nats: events through JetStream (nats.h); NULL without */
  ttb_nats *nats;
  int nwake[2];
  h2o_socket_t *nwake_sock;
  const char *cur_id; /* the ingest id of the event being handled (its Nats-Msg-Id) */
  unsigned cur_gifts; /* gifts the streak rule put out for it so far */
  bool nats_failed;   /* the last publication failed (503 "unavailable") */
  bool nats_dup;      /* the last publication was a duplicate (another node had the id) */
  /* --nats with the connector on: one connector per channel across the nodes (lease.h) */
  ttb_lease *lease;
  int lwake[2];
  h2o_socket_t *lwake_sock;
  char node_id[TTB_LEASE_NODE_MAX];
};

typedef struct handler {
  h2o_handler_t super;
  ttb_app *app;
  bool metrics_only; /* the --metrics-listen listener: GET /metrics and nothing else */
} handler;

/* ---------------------------------------------------------------- replies */

/* ------------------------------------------------------------ request bits */

static bool is(h2o_iovec_t v, const char *s) { return h2o_memis(v.base, v.len, s, strlen(s)); }

static void peer_addr(h2o_req_t *req, char *out, size_t cap)
{
  struct sockaddr_storage ss;
  socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
  char buf[1025]; /* NI_MAXHOST, as h2o_socket_getnumerichost asks */
  size_t n = sl ? h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, buf) : SIZE_MAX;
  const char *src = n == SIZE_MAX ? "unknown" : buf;
  size_t l = strnlen(src, cap - 1);
  memcpy(out, src, l);
  out[l] = '\0';
}

/* ------------------------------------------------------------ rate limits */

static rate_slot *rate_find(ttb_app *app, const char *addr, bool create)
{
  uint64_t h = ttb_fnv1a64_str(addr);
  time_t now = time(NULL);
  for (size_t k = 0; k < 8; k++) {
    rate_slot *s = &app->rate[(h + k) % RATE_SLOTS];
    bool stale = now - s->window_start >= (time_t)app->cfg.login_window_s;
    if (strcmp(s->addr, addr) == 0) {
      if (stale) {
        s->failures = 0;
        s->window_start = now;
      }
      return s;
    }
    if (create && (s->addr[0] == '\0' || stale)) {
      snprintf(s->addr, sizeof s->addr, "%s", addr);
      s->failures = 0;
      s->window_start = now;
      return s;
    }
  }
  if (!create)
    return NULL;
  /* all 8 probes busy within their windows: reuse the first (bounded memory) */
  rate_slot *s = &app->rate[h % RATE_SLOTS];
  snprintf(s->addr, sizeof s->addr, "%s", addr);
  s->failures = 0;
  s->window_start = now;
  return s;
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Takes one request from token's bucket (--tts-burst, refilled with
 * --tts-per-min). false with *retry_s set when empty. The table is bounded:
 * a full probe sequence reuses the fullest bucket (the least to lose). */
static bool tts_bucket_take(ttb_app *app, const char *token, uint32_t *retry_s)
{
  uint8_t key[16];
  crypto_generichash(key, sizeof key, (const uint8_t *)token, strlen(token), NULL, 0);
  uint64_t h;
  memcpy(&h, key, sizeof h);
  uint64_t now = mono_ms();
  double burst = app->cfg.tts_burst, per_ms = app->cfg.tts_per_min / 60000.0;
  tts_bucket *b = NULL, *spare = NULL;
  static const uint8_t zero[16];
  for (size_t k = 0; k < 8 && b == NULL; k++) {
    tts_bucket *c = &app->tts_buckets[(h + k) % TTS_BUCKETS];
    if (memcmp(c->key, key, sizeof key) == 0) {
      b = c;
      break;
    }
    bool free_slot = memcmp(c->key, zero, sizeof zero) == 0;
    double level = free_slot ? burst + 1 : c->tokens + (double)(now - c->at_ms) * per_ms;
    if (spare == NULL || level > (spare->tokens + (double)(now - spare->at_ms) * per_ms))
      spare = c;
    if (free_slot)
      break;
  }
  if (b == NULL) {
    b = spare;
    memcpy(b->key, key, sizeof key);
    b->tokens = burst;
    b->at_ms = now;
  }
  b->tokens += (double)(now - b->at_ms) * per_ms;
  if (b->tokens > burst)
    b->tokens = burst;
  b->at_ms = now;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return true;
  }
  double wait_ms = (1.0 - b->tokens) / per_ms;
  *retry_s = (uint32_t)(wait_ms / 1000.0) + 1;
  return false;
}

/* ------------------------------------------------------- database waits */

/* A request waiting for the database thread (svc.h's async calls). Its
 * guard lives in the request's pool: when the client goes away first, the
 * pool's disposal detaches it and the answer is dropped. */
typedef struct db_wait db_wait;
typedef struct db_guard {
  db_wait *w;
} db_guard;
struct db_wait {
  ttb_app *app;
  h2o_req_t *req; /* NULL once the client is gone */
  db_guard *guard;
  char addr[48];  /* login: the peer, for the failed-login limit */
  bool has_since; /* the socket: ?since= */
  uint64_t since;
  char handle[32]; /* PUT /me/tiktok */
  char user[64];
  bool put;
  char token[128]; /* the bearer, while it is needed (zeroed at the end) */
};

static void on_db_guard_dispose(void *p)
{
  db_guard *g = p;
  if (g->w)
    g->w->req = NULL;
}

static db_wait *db_wait_new(ttb_app *app, h2o_req_t *req)
{
  db_wait *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  w->app = app;
  w->req = req;
  w->guard = h2o_mem_alloc_shared(&req->pool, sizeof *w->guard, on_db_guard_dispose);
  w->guard->w = w;
  return w;
}

/* Frees w; returns its request, or NULL when the client went away. */
static h2o_req_t *db_wait_end(db_wait *w)
{
  h2o_req_t *req = w->req;
  if (req)
    w->guard->w = NULL;
  sodium_memzero(w->token, sizeof w->token);
  free(w);
  return req;
}

/* ------------------------------------------------------------------ login */

static void on_login_done(void *arg, ttb_svc_status st, const char *user_id, const char *token_in);

static int on_login(ttb_app *app, h2o_req_t *req)
{
  char addr[48];
  peer_addr(req, addr, sizeof addr);
  rate_slot *rs = rate_find(app, addr, false);
  if (rs && rs->failures >= app->cfg.login_max_failures) {
    app->metrics.logins_rate_limited++;
    return ttb_reply_error(
        req, 429, "too_many_attempts",
        "Too many failed logins from your address. Wait a few minutes and try again.");
  }
  ttb_json_error err = {0};
  Ttboost__V1__LoginRequest *lr =
      ttb_pbc_ttboost_v1_LoginRequest_from_json(req->entity.base, req->entity.len, NULL, &err);
  if (lr == NULL) {
    char msg[256];
    snprintf(msg, sizeof msg, "The request is not a valid login: %s", err.msg);
    return ttb_reply_error(req, 400, "malformed", msg);
  }
  if (lr->license_key[0] == '\0') {
    ttboost__v1__login_request__free_unpacked(lr, NULL);
    return ttb_reply_error(req, 400, "malformed", "license_key: required");
  }
  db_wait *w = db_wait_new(app, req);
  if (w == NULL) {
    ttboost__v1__login_request__free_unpacked(lr, NULL);
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  }
  snprintf(w->addr, sizeof w->addr, "%s", addr);
  ttb_svc_login_async(app->svc, lr->license_key, lr->device_id, on_login_done, w);
  ttboost__v1__login_request__free_unpacked(lr, NULL);
  return 0; /* answered by on_login_done */
}

/* The login's answer from the database thread. */
static void on_login_done(void *arg, ttb_svc_status st, const char *user_id_in,
                          const char *token_in)
{
  db_wait *w = arg;
  ttb_app *app = w->app;
  if (st != TTB_SVC_OK) {
    app->metrics.logins_failed++;
    if (st == TTB_SVC_UNKNOWN)
      rate_find(app, w->addr, true)->failures++;
  }
  h2o_req_t *req = db_wait_end(w);
  if (req == NULL)
    return; /* the client is gone (a session made for it just goes unused) */
  switch (st) {
  case TTB_SVC_OK:
    break;
  case TTB_SVC_UNKNOWN:
    ttb_reply_error(req, 401, "unknown_key",
                    "This license key is not known. Check it and try again.");
    return;
  case TTB_SVC_EXPIRED:
    ttb_reply_error(req, 403, "expired", "This license has expired. Renew it to continue.");
    return;
  case TTB_SVC_REVOKED:
    ttb_reply_error(req, 403, "revoked", "This license has been revoked.");
    return;
  case TTB_SVC_DEVICE_LIMIT:
    ttb_reply_error(req, 403, "device_limit",
                    "This license is already used on as many devices as it allows.");
    return;
  default:
    ttb_reply_error(req, 503, "busy",
                    "The server could not check the license right now. Try again shortly.");
    return;
  }
  char user_id[64], token[64];
  snprintf(user_id, sizeof user_id, "%s", user_id_in);
  snprintf(token, sizeof token, "%s", token_in);
  app->metrics.logins_ok++;
  Ttboost__V1__LoginResponse r = TTBOOST__V1__LOGIN_RESPONSE__INIT;
  r.status = "ok";
  r.user_id = user_id;
  r.ws_token = token;
  size_t n = 0;
  char *js = ttb_pbc_ttboost_v1_LoginResponse_to_json(&r, &n, NULL);
  sodium_memzero(token, sizeof token);
  ttb_reply_json(req, 200, js, n, false);
}

/* POST /auth/logout (Authorization: Bearer <ws_token>): ends that session;
 * its sockets are closed with 4001 at the next tick. */
static void on_logout_done(void *arg, ttb_svc_status st);

static int on_logout(ttb_app *app, h2o_req_t *req)
{
  db_wait *w = db_wait_new(app, req);
  if (w == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  if (!ttb_reply_bearer(req, w->token, sizeof w->token)) {
    db_wait_end(w);
    return ttb_reply_refused(req, false);
  }
  ttb_svc_logout_async(app->svc, w->token, on_logout_done, w); /* forgets its cached answer too */
  return 0;                                                    /* answered by on_logout_done */
}

static void on_logout_done(void *arg, ttb_svc_status st)
{
  h2o_req_t *req = db_wait_end(arg);
  if (req == NULL)
    return;
  if (st == TTB_SVC_FAILED) {
    ttb_reply_error(req, 503, "busy",
                    "The server could not end the session right now. Try again shortly.");
    return;
  }
  if (st != TTB_SVC_OK) {
    ttb_reply_refused(req, false);
    return;
  }
  Ttboost__V1__LogoutResponse r = TTBOOST__V1__LOGOUT_RESPONSE__INIT;
  r.status = "ok";
  size_t n = 0;
  char *js = ttb_pbc_ttboost_v1_LogoutResponse_to_json(&r, &n, NULL);
  ttb_reply_json(req, 200, js, n, false);
}

/* -------------------------------------------------------------------- TTS */

static void url_of(ttb_app *app, const char *dir, const char *name, char *out, size_t cap)
{
  snprintf(out, cap, "%s/%s/%s.ogg", app->cfg.public_url, dir, name);
}

/* A POST /tts/generate waiting for its file. It lives in the request's pool:
 * if the client goes away first, the pool's disposal detaches it. */
typedef struct tts_wait {
  ttb_tts_listener l;
  ttb_app *app;
  h2o_req_t *req;
} tts_wait;

static void reply_tts_url(ttb_app *app, h2o_req_t *req, const char *id)
{
  char url[512];
  url_of(app, "tts", id, url, sizeof url);
  Ttboost__V1__TtsResponse r = TTBOOST__V1__TTS_RESPONSE__INIT;
  r.url = url;
  size_t n = 0;
  char *js = ttb_pbc_ttboost_v1_TtsResponse_to_json(&r, &n, NULL);
  ttb_reply_json(req, 200, js, n, false);
}

static void on_tts_wait_dispose(void *p)
{
  tts_wait *w = p;
  ttb_tts_unlisten(&w->l);
}

static void on_tts_wait_progress(ttb_tts_listener *l)
{
  tts_wait *w = (tts_wait *)l;
  const char *error = NULL;
  if (!ttb_tts_ended(l, &error))
    return;
  char id[TTB_TTS_ID_LEN + 1];
  snprintf(id, sizeof id, "%s", ttb_tts_listener_id(l));
  bool stored = ttb_tts_stored(l);
  ttb_tts_unlisten(l);
  if (error || !stored) /* the URL it answers must be a file */
    ttb_reply_error(w->req, 500, "tts_failed", "The speech could not be made.");
  else
    reply_tts_url(w->app, w->req, id);
}

static int tts_go(ttb_app *app, h2o_req_t *req, const char *token, const char *user);

static void on_tts_session(void *arg, ttb_svc_status st, const char *user, int64_t session_id)
{
  db_wait *w = arg;
  ttb_app *app = w->app;
  char token[128], who[128];
  snprintf(token, sizeof token, "%s", w->token);
  snprintf(who, sizeof who, "%s", user ? user : "");
  (void)session_id;
  h2o_req_t *req = db_wait_end(w);
  if (req == NULL)
    ;
  else if (st != TTB_SVC_OK)
    ttb_reply_refused(req, st == TTB_SVC_FAILED);
  else
    tts_go(app, req, token, who);
  sodium_memzero(token, sizeof token);
}

static int on_tts(ttb_app *app, h2o_req_t *req)
{
  db_wait *w = db_wait_new(app, req);
  if (w == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  if (!ttb_reply_bearer(req, w->token, sizeof w->token)) {
    db_wait_end(w);
    return ttb_reply_refused(req, false);
  }
  ttb_svc_session_async(app->svc, w->token, on_tts_session, w);
  return 0; /* answered by on_tts_session */
}

/* /tts/generate for a checked token: its bucket, then the speech (made in
 * the user's own queue, so that it is fair to the channels' speech). */
static int tts_go(ttb_app *app, h2o_req_t *req, const char *token, const char *user)
{
  uint32_t retry_s = 0;
  bool allowed = tts_bucket_take(app, token, &retry_s);
  if (!allowed) {
    app->metrics.tts_rate_limited++;
    char ra[16];
    int n = snprintf(ra, sizeof ra, "%u", retry_s);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, ra, (size_t)n).base, (size_t)n);
    return ttb_reply_error(
        req, 429, "too_many_requests",
        "Too many speech requests for this token. Wait as Retry-After says and try again.");
  }
  ttb_json_error err = {0};
  Ttboost__V1__TtsRequest *tr =
      ttb_pbc_ttboost_v1_TtsRequest_from_json(req->entity.base, req->entity.len, NULL, &err);
  if (tr == NULL) {
    char msg[256];
    snprintf(msg, sizeof msg, "The request is not valid: %s", err.msg);
    return ttb_reply_error(req, err.status == TTB_JSON_LIMIT ? 413 : 400, "malformed", msg);
  }
  if (tr->text[0] == '\0') {
    ttboost__v1__tts_request__free_unpacked(tr, NULL);
    return ttb_reply_error(req, 400, "malformed", "text: required");
  }
  ttb_tts *tts = ttb_svc_speech(app->svc);
  char id[TTB_TTS_ID_LEN + 1], why[160];
  char queue[160];
  snprintf(queue, sizeof queue, "api/%s", user);
  int prc =
      ttb_tts_prepare(tts, tr->text, tr->voice[0] ? tr->voice : NULL, queue, id, why, sizeof why);
  ttboost__v1__tts_request__free_unpacked(tr, NULL);
  if (prc != 0)
    return ttb_reply_error(req, 400, "tts_refused", "The text could not be spoken.");
  tts_wait *w = h2o_mem_alloc_shared(&req->pool, sizeof *w, on_tts_wait_dispose);
  memset(w, 0, sizeof *w);
  w->app = app;
  w->req = req;
  w->l.on_progress = on_tts_wait_progress;
  switch (ttb_tts_listen(tts, id, &w->l)) {
  case TTB_TTS_LISTENING:
    return 0; /* answered by on_tts_wait_progress */
  case TTB_TTS_CACHED:
    app->metrics.tts_cache_hits++;
    reply_tts_url(app, req, id);
    return 0;
  case TTB_TTS_BUSY:
    app->metrics.tts_queue_full++;
    return ttb_reply_error(req, 503, "busy",
                           "Speech is queued too deep right now. Try again in a moment.");
  default:
    return ttb_reply_error(req, 500, "tts_failed", "The speech could not be made.");
  }
}

/* GET /tts/<id>.ogg of speech not made yet: made now (or joined while it is
 * being made) and streamed, chunked, page by page as the worker encodes it.
 * A file already made is the file handler's (this answers -1). */
typedef struct tts_stream {
  h2o_generator_t gen; /* first: h2o hands it back */
  ttb_tts_listener l;
  ttb_app *app;
  h2o_req_t *req;
  size_t sent;
  bool inflight, started, finished;
} tts_stream;

static void tts_stream_push(tts_stream *st);

static void on_tts_stream_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
  (void)req;
  tts_stream *st = (tts_stream *)gen;
  st->inflight = false;
  tts_stream_push(st);
}

static void on_tts_stream_stop(h2o_generator_t *gen, h2o_req_t *req)
{
  (void)req;
  tts_stream *st = (tts_stream *)gen;
  st->finished = true;
  ttb_tts_unlisten(&st->l);
}

static void on_tts_stream_dispose(void *p)
{
  tts_stream *st = p;
  ttb_tts_unlisten(&st->l);
}

static void on_tts_stream_progress(ttb_tts_listener *l)
{
  tts_stream *st = (tts_stream *)((char *)l - offsetof(tts_stream, l));
  tts_stream_push(st);
}

/* Sends what the job has made and the stream has not sent, when h2o is ready for more. */
static void tts_stream_push(tts_stream *st)
{
  if (st->finished || st->inflight)
    return;
  const char *error = NULL;
  bool ended = ttb_tts_ended(&st->l, &error);
  size_t len = 0;
  const uint8_t *ogg = ttb_tts_ogg(&st->l, &len);
  if (ended && error) {
    st->finished = true;
    ttb_tts_unlisten(&st->l);
    if (!st->started) {
      ttb_reply_error(st->req, 503, "tts_failed", "The speech could not be made. Try again.");
    } else {
      h2o_send(st->req, NULL, 0, H2O_SEND_STATE_ERROR);
    }
    return;
  }
  if (len <= st->sent && !ended)
    return;
  if (!st->started) {
    st->started = true;
    st->app->metrics.tts_streams++;
    h2o_req_t *req = st->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("audio/ogg"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-cache"));
    h2o_start_response(req, &st->gen);
  }
  h2o_iovec_t buf = {NULL, 0};
  if (len > st->sent) {
    buf.len = len - st->sent;
    buf.base = h2o_mem_alloc_pool(&st->req->pool, buf.len);
    memcpy(buf.base, ogg + st->sent, buf.len);
    st->sent = len;
  }
  if (ended) {
    st->finished = true;
    ttb_tts_unlisten(&st->l);
  } else {
    st->inflight = true;
  }
  h2o_send(st->req, &buf, buf.len ? 1 : 0,
           ended ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static bool is_tts_file(h2o_iovec_t p, char id[TTB_TTS_ID_LEN + 1])
{
  static const char pre[] = "/tts/", suf[] = ".ogg";
  size_t pl = sizeof pre - 1, sl = sizeof suf - 1;
  if (p.len != pl + TTB_TTS_ID_LEN + sl || memcmp(p.base, pre, pl) != 0 ||
      memcmp(p.base + pl + TTB_TTS_ID_LEN, suf, sl) != 0)
    return false;
  for (size_t i = 0; i < TTB_TTS_ID_LEN; i++) {
    char c = p.base[pl + i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
    id[i] = c;
  }
  id[TTB_TTS_ID_LEN] = '\0';
  return true;
}

static int on_tts_file(h2o_handler_t *self, h2o_req_t *req)
{
  ttb_app *app = ((handler *)self)->app;
  char id[TTB_TTS_ID_LEN + 1];
  if (!is(req->method, "GET") || !is_tts_file(req->path_normalized, id))
    return -1; /* the file handler's answer (the file, 404, 405) */
  app->metrics.http_requests++;
  tts_stream *st = h2o_mem_alloc_shared(&req->pool, sizeof *st, on_tts_stream_dispose);
  memset(st, 0, sizeof *st);
  st->gen.proceed = on_tts_stream_proceed;
  st->gen.stop = on_tts_stream_stop;
  st->app = app;
  st->req = req;
  st->l.on_progress = on_tts_stream_progress;
  switch (ttb_tts_listen(ttb_svc_speech(app->svc), id, &st->l)) {
  case TTB_TTS_LISTENING:
    return 0; /* the first bytes start the response */
  case TTB_TTS_BUSY:
    app->metrics.tts_queue_full++;
    return ttb_reply_error(req, 503, "busy",
                           "Speech is queued too deep right now. Try again in a moment.");
  case TTB_TTS_FAILED:
    return ttb_reply_error(req, 503, "tts_failed", "The speech could not be made. Try again.");
  default:
    return -1; /* made already (the file), or unknown (404) */
  }
}

/* ----------------------------------------------------------------- ingest */

/* ------------------------------------------------------------ the journal */

static uint64_t dedup_ms(void);

/* Unix time in ms: the journal's ingest ids carry it (the dedup's own clock
 * is monotonic, which a restart does not keep). */
static uint64_t wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What the journal's compaction keeps: the hub's state and the streaks. */
static void journal_dump(void *arg, ttb_journal *j)
{
  ttb_app *app = arg;
  ttb_hub_dump(app->hub, j);
  /* the ingest ids still within the dedup window */
  uint64_t now = wall_ms(), window = (uint64_t)app->cfg.ingest_dedup_s * 1000u;
  if (window)
    ttb_journal_carry(j, TTB_JREC_SEEN, now > window ? now - window : 0);
  uint8_t *b = NULL;
  size_t n = 0;
  ttb_jrec r = {.type = TTB_JREC_STREAKS};
  if (ttb_svc_streaks_save(app->svc, &b, &n) == 0) {
    r.data = b;
    r.len = n;
    ttb_journal_add(j, &r);
    app->streaks_gen = ttb_svc_streaks_generation(app->svc);
  } else {
    ttb_journal_add(j, NULL); /* fails: the compaction is abandoned */
  }
  free(b);
}

/* Adds the gift streaks' snapshot to the next commit when they changed. */
static void journal_streaks(ttb_app *app)
{
  uint64_t g = ttb_svc_streaks_generation(app->svc);
  if (g != app->streaks_gen) {
    uint8_t *b = NULL;
    size_t n = 0;
    if (ttb_svc_streaks_save(app->svc, &b, &n) == 0) {
      ttb_jrec r = {.type = TTB_JREC_STREAKS, .data = b, .len = n};
      if (ttb_journal_add(app->journal, &r) == 0)
        app->streaks_gen = g;
    }
    free(b);
  }
}

/* An ingest request whose 202 waits for the sync of its commit. It lives
 * in the request's pool: if the client goes away first, the pool's
 * disposal takes it off the list. */
typedef struct ingest_wait {
  struct ingest_wait *prev, *next;
  ttb_app *app;
  h2o_req_t *req;
  uint64_t ticket;
  char *js; /* the IngestResponse */
  size_t n;
  bool linked;
} ingest_wait;

static void iw_unlink(ingest_wait *w)
{
  ttb_app *app = w->app;
  if (!w->linked)
    return;
  if (w->prev)
    w->prev->next = w->next;
  else
    app->iw_head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    app->iw_tail = w->prev;
  w->prev = w->next = NULL;
  w->linked = false;
}

static void on_ingest_wait_dispose(void *p)
{
  ingest_wait *w = p;
  iw_unlink(w);
  free(w->js);
  w->js = NULL;
}

/* What the journal's thread finished: the events and 202s its syncs
 * cover go out, the 202s of a failed attempt become 503s (the thread
 * retries; their events go out once a sync covers them), the counters. */
static void journal_progress(ttb_app *app)
{
  ttb_journal_stat st;
  ttb_journal_status(app->journal, &st);
  if (st.synced > app->jst.synced) {
    app->metrics.journal_commits += st.synced - app->jst.synced;
    ttb_hub_release(app->hub, st.synced);
  }
  if (st.failed > app->jst.failed) {
    app->metrics.journal_errors++;
    fprintf(stderr, "ttboost-server: journal: %s (retrying)\n", st.error);
  }
  if (st.compact_errors > app->jst.compact_errors) {
    app->metrics.journal_errors += st.compact_errors - app->jst.compact_errors;
    fprintf(stderr, "ttboost-server: journal: %s\n", st.compact_error);
  }
  app->metrics.journal_compactions = st.compactions;
  app->metrics.journal_bytes = st.size;
  app->metrics.journal_sync_seconds = st.sync_seconds;
  app->jst = st;
  while (app->iw_head && (app->iw_head->ticket <= st.synced || app->iw_head->ticket <= st.failed)) {
    ingest_wait *w = app->iw_head;
    iw_unlink(w);
    if (w->ticket <= st.synced) {
      char *js = w->js;
      w->js = NULL;
      ttb_reply_json(w->req, 202, js, w->n, false);
    } else {
      ttb_reply_error(w->req, 503, "journal",
                      "The events could not be stored safely, and may or may not be delivered. "
                      "Retry (with the same event ids).");
    }
  }
  if (!st.compacting && ttb_journal_wants_compaction(app->journal)) {
    char err[256];
    if (ttb_journal_compact_start(app->journal, journal_dump, app, err, sizeof err) != 0) {
      app->metrics.journal_errors++;
      fprintf(stderr, "ttboost-server: journal: %s\n", err);
    } else {
      app->jst.compacting = true;
    }
  }
}

static void on_journal_wake(h2o_socket_t *sock, const char *err)
{
  ttb_app *app = sock->data;
  (void)err;
  ttb_wake_drain(app->jwake[0]);
  journal_progress(app);
}

/* Hands what the journal holds (with the gift streaks when they changed)
 * to its thread as one commit; *ticket covers it. Its events go out, and
 * its ingests are answered, when the thread says it is synced
 * (journal_progress). false on no memory (logged; the next commit
 * retries). */
static bool app_commit_t(ttb_app *app, uint64_t *ticket)
{
  *ticket = 0;
  if (app->journal == NULL)
    return true;
  if (h2o_timeout_is_linked(&app->commit_entry))
    h2o_timeout_unlink(&app->commit_entry);
  journal_streaks(app);
  ttb_hub_submitted(app->hub);
  if (ttb_journal_submit(app->journal, ticket) != 0) {
    app->metrics.journal_errors++;
    fprintf(stderr, "ttboost-server: journal: a commit could not be handed over: out of memory\n");
    return false;
  }
  return true;
}

static bool app_commit(ttb_app *app)
{
  uint64_t t;
  return app_commit_t(app, &t);
}

/* Syncs the journal and waits for it (start-up, shutdown): what waited
 * goes out. false when the sync failed (logged). */
static bool app_flush(ttb_app *app)
{
  if (app->journal == NULL)
    return true;
  if (h2o_timeout_is_linked(&app->commit_entry))
    h2o_timeout_unlink(&app->commit_entry);
  journal_streaks(app);
  char err[800];
  bool ok = ttb_hub_commit(app->hub, err, sizeof err) == 0;
  if (!ok)
    fprintf(stderr, "ttboost-server: journal: %s (retrying)\n", err);
  journal_progress(app);
  return ok;
}

/* After ttb_journal_close: the wake pipe. */
static void journal_wake_close(ttb_app *app)
{
  if (app->jwake_sock) {
    h2o_socket_read_stop(app->jwake_sock);
    h2o_socket_close(app->jwake_sock); /* closes jwake[0] */
    app->jwake_sock = NULL;
  } else if (app->jwake[0] >= 0) {
    close(app->jwake[0]);
  }
  if (app->jwake[1] >= 0)
    close(app->jwake[1]);
  app->jwake[0] = app->jwake[1] = -1;
}

static void on_commit_timer(h2o_timeout_entry_t *entry)
{
  ttb_app *app = (ttb_app *)((char *)entry - offsetof(ttb_app, commit_entry));
  app_commit(app);
}

/* The hub holds an event for the journal: commit at the end of this turn. */
static void commit_soon(void *arg)
{
  ttb_app *app = arg;
  if (!h2o_timeout_is_linked(&app->commit_entry))
    h2o_timeout_link(app->loop, &app->commit_to, &app->commit_entry);
}

/* The gift stage's sound rule (svc.h): the channel's settings. */
static void settings_gift_url(void *arg, const char *channel, const char *gift_name,
                              const char *default_url, char *out, size_t cap)
{
  ttb_settings_gift_url(arg, channel, gift_name, default_url, out, cap);
}

/* The speech's id and URL of a chat (nothing made yet: tts.h); "" when the
 * text cannot be spoken or the channel's settings say not to (settings.h:
 * the text, voice and cooldown). Its synthesis joins the channel's queue. */
static void chat_speech(ttb_app *app, const char *channel, const char *user, const char *message,
                        char id[TTB_TTS_ID_LEN + 1], char *url, size_t cap, size_t *text_len)
{
  char text[1400], why[160], voice[33];
  uint32_t rate = 0, pitch = 0, backlog_s = 0;
  id[0] = url[0] = '\0';
  *text_len = 0;
  /* the TTS module removes control characters and caps the length */
  if (ttb_settings_chat(app->settings, channel, app->cfg.tts_read_user, user, message, mono_ms(),
                        text, sizeof text, voice, &rate, &pitch, &backlog_s) != TTB_SPOKEN)
    return;
  *text_len = strlen(text);
  ttb_tts_opts o = {.rate = rate, .pitch = pitch, .backlog_ms = backlog_s * 1000u};
  if (ttb_tts_prepare_ex(ttb_svc_speech(app->svc), text, voice, &o, channel, id, why, sizeof why) ==
      0)
    url_of(app, "tts", id, url, cap);
  else
    id[0] = '\0';
}

/* A chat's speech streamed as AudioFrames to its channel's binary sockets
 * as the worker makes it (never through the disk). One packet is kept back
 * until the next comes or the speech ends, so that the last frame says so. */
typedef struct chat_audio {
  ttb_tts_listener l;
  ttb_channel *ch; /* channels live as long as the server */
  uint64_t seq;
  size_t sent;
  uint32_t estimate_ms;
} chat_audio;

static ttb_audio_info audio_info(uint32_t pre_skip, uint32_t duration_ms)
{
  ttb_audio_info info = {.sample_rate = 48000,
                         .channels = 1,
                         .frame_duration_us = 20000,
                         .pre_skip = pre_skip,
                         .duration_ms = duration_ms};
  return info;
}

static void on_chat_audio(ttb_tts_listener *l)
{
  chat_audio *a = (chat_audio *)l;
  const char *error = NULL;
  bool ended = ttb_tts_ended(l, &error);
  size_t n = ttb_tts_npackets(l);
  uint32_t made = ttb_tts_duration_ms(l);
  /* while it is being made: an upper estimate (a player sizes its buffer by it) */
  ttb_audio_info info = audio_info(ttb_tts_pre_skip(l),
                                   ended ? made : (made > a->estimate_ms ? made : a->estimate_ms));
  size_t upto = ended ? n : (n > 0 ? n - 1 : 0);
  if (ended && error)
    upto = a->sent; /* what was not sent of a failed speech is not sent */
  for (; a->sent < upto; a->sent++) {
    size_t len = 0;
    const uint8_t *pk = ttb_tts_packet(l, a->sent, &len);
    bool last = ended && !error && a->sent + 1 == n;
    if (last)
      info.duration_ms = made;
    ttb_hub_audio(a->ch, a->seq, (uint32_t)a->sent, pk, len, last, &info);
  }
  if (ended) {
    ttb_tts_unlisten(l);
    free(a);
  }
}

/* The frames of a cached speech, read from its file. */
static void chat_audio_cached(ttb_app *app, ttb_channel *ch, uint64_t seq, const char *id)
{
  char path[PATH_MAX];
  if (!ttb_tts_cached(ttb_svc_speech(app->svc), id, path, sizeof path))
    return;
  ttb_audio_info info;
  ttb_packet *packets = NULL;
  size_t n = 0;
  if (ttb_svc_packets(app->svc, path, &info, &packets, &n) != 0)
    return;
  for (size_t i = 0; i < n; i++)
    ttb_hub_audio(ch, seq, (uint32_t)i, packets[i].data, packets[i].len, i + 1 == n, &info);
  ttb_svc_packets_free(packets, n);
}

/* ---- SpeechWanted (events.proto): speech made for the chats a binary
 * socket with Settings.speech_on_request asks for, its frames to that socket
 * only. Each request is a listener of its own (ttb_tts_listen joins the
 * synthesis under way, or starts it); the socket's requests are a list
 * (ttb_ws_speech_data), freed when it closes. */
#define SPEECH_RECENT 64 /* a client may ask for the channel's newest 64 seqs */
#define SPEECH_MAX_OUTSTANDING 8

typedef struct speech_req {
  ttb_tts_listener l;
  struct speech_req *next; /* the socket's list */
  ttb_session *s;
  uint64_t seq;
  size_t sent;
  uint32_t estimate_ms;
} speech_req;

static void speech_req_remove(speech_req *r)
{
  speech_req *x = ttb_ws_speech_data(r->s);
  if (x == r) {
    ttb_ws_set_speech_data(r->s, r->next);
    return;
  }
  for (; x; x = x->next)
    if (x->next == r) {
      x->next = r->next;
      return;
    }
}

static void on_speech_req(ttb_tts_listener *l)
{
  speech_req *r = (speech_req *)l;
  const char *error = NULL;
  bool ended = ttb_tts_ended(l, &error);
  size_t n = ttb_tts_npackets(l);
  uint32_t made = ttb_tts_duration_ms(l);
  ttb_audio_info info = audio_info(ttb_tts_pre_skip(l),
                                   ended ? made : (made > r->estimate_ms ? made : r->estimate_ms));
  size_t upto = ended ? n : (n > 0 ? n - 1 : 0); /* one kept back: the last says so */
  if (ended && error)
    upto = r->sent;
  for (; r->sent < upto; r->sent++) {
    size_t len = 0;
    const uint8_t *pk = ttb_tts_packet(l, r->sent, &len);
    bool last = ended && !error && r->sent + 1 == n;
    if (last)
      info.duration_ms = made;
    if (!ttb_hub_audio_to(r->s, r->seq, (uint32_t)r->sent, pk, len, last, &info)) {
      ended = true; /* the socket is closing: nothing more to send */
      break;
    }
  }
  if (ended) {
    speech_req_remove(r);
    ttb_tts_unlisten(l);
    free(r);
  }
}

/* The frames of a cached speech, from its file, to one socket. */
static void speech_cached_to(ttb_app *app, ttb_session *s, uint64_t seq, const char *id)
{
  char path[PATH_MAX];
  if (!ttb_tts_cached(ttb_svc_speech(app->svc), id, path, sizeof path))
    return;
  ttb_audio_info info;
  ttb_packet *packets = NULL;
  size_t n = 0;
  if (ttb_svc_packets(app->svc, path, &info, &packets, &n) != 0)
    return;
  for (size_t i = 0; i < n; i++)
    if (!ttb_hub_audio_to(s, seq, (uint32_t)i, packets[i].data, packets[i].len, i + 1 == n, &info))
      break;
  ttb_svc_packets_free(packets, n);
}

static const char *on_speech_wanted(void *arg, ttb_session *s, uint64_t seq, uint32_t lead_ms,
                                    char *msg, size_t cap)
{
  ttb_app *app = arg;
  const ttb_ws_settings *st = ttb_ws_get_settings(s);
  ttb_channel *ch = ttb_ws_channel(s);
  if (ch == NULL || !ttb_delivery_audio(ttb_ws_is_binary(s), st->tts_enabled, st->audio_frames) ||
      !st->speech_on_request) {
    app->metrics.speech_wanted_refused++;
    snprintf(msg, cap,
             "SpeechWanted needs a binary socket whose Settings have tts_enabled, audio_frames "
             "and speech_on_request.");
    return "bad_request";
  }
  size_t outstanding = 0;
  for (speech_req *r = ttb_ws_speech_data(s); r; r = r->next) {
    if (r->seq == seq)
      return NULL; /* asked already: its frames are coming */
    outstanding++;
  }
  if (outstanding >= SPEECH_MAX_OUTSTANDING) {
    app->metrics.speech_wanted_refused++;
    snprintf(msg, cap, "At most %d chats' speech may be asked for at once.",
             SPEECH_MAX_OUTSTANDING);
    return "too_many_requests";
  }
  char url[512];
  size_t text_len = 0;
  const char *slash, *id = NULL;
  if (ttb_hub_chat_speech_url(ch, seq, SPEECH_RECENT, url, sizeof url, &text_len) == 0 &&
      (slash = strrchr(url, '/')) != NULL && strlen(slash + 1) == TTB_TTS_ID_LEN + 4 &&
      strcmp(slash + 1 + TTB_TTS_ID_LEN, ".ogg") == 0) {
    id = slash + 1;
  }
  if (id == NULL) {
    app->metrics.speech_wanted_refused++;
    snprintf(msg, cap, "seq %llu is not one of the channel's %d newest events, a chat with speech.",
             (unsigned long long)seq, SPEECH_RECENT);
    return "bad_request";
  }
  char idz[TTB_TTS_ID_LEN + 1];
  memcpy(idz, id, TTB_TTS_ID_LEN);
  idz[TTB_TTS_ID_LEN] = '\0';
  app->metrics.speech_wanted++;
  speech_req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL; /* no frames: the client falls back to the URL */
  r->s = s;
  r->seq = seq;
  r->l.on_progress = on_speech_req;
  uint64_t est = 1500 + (uint64_t)text_len * 200; /* numbers are read out long */
  r->estimate_ms = est > 60000 ? 60000 : (uint32_t)est;
  switch (ttb_tts_listen_lead(ttb_svc_speech(app->svc), idz, &r->l, lead_ms)) {
  case TTB_TTS_LISTENING:
    r->next = ttb_ws_speech_data(s);
    ttb_ws_set_speech_data(s, r);
    return NULL; /* on_speech_req sends the frames as they come */
  case TTB_TTS_CACHED:
    app->metrics.tts_cache_hits++;
    speech_cached_to(app, s, seq, idz);
    break;
  case TTB_TTS_BUSY:
    app->metrics.tts_queue_full++;
    break;
  default:
    break; /* no frames: the client falls back to the URL (which says why) */
  }
  free(r);
  return NULL;
}

/* A socket closed: its requests stop listening (their syntheses go on for the URL). */
static void speech_reqs_free(ttb_session *s)
{
  speech_req *r = ttb_ws_speech_data(s);
  ttb_ws_set_speech_data(s, NULL);
  while (r) {
    speech_req *next = r->next;
    ttb_tts_unlisten(&r->l);
    free(r);
    r = next;
  }
}

/* After a chat went out: its speech is made now only when someone will
 * hear it at once (a binary socket that wants AudioFrames), or with
 * --tts-eager; otherwise when its URL is fetched. */
static void chat_after(ttb_app *app, ttb_channel *ch, uint64_t seq, const char *id, size_t text_len)
{
  if (seq == 0 || id[0] == '\0')
    return;
  ttb_tts *tts = ttb_svc_speech(app->svc);
  if (!ttb_hub_wants_audio(ch)) {
    if (app->cfg.tts_eager && ttb_tts_listen(tts, id, NULL) == TTB_TTS_BUSY)
      app->metrics.tts_queue_full++;
    return;
  }
  chat_audio *a = calloc(1, sizeof *a);
  if (a == NULL)
    return;
  a->ch = ch;
  a->seq = seq;
  a->l.on_progress = on_chat_audio;
  uint64_t est = 1500 + (uint64_t)text_len * 200; /* numbers are read out long */
  a->estimate_ms = est > 60000 ? 60000 : (uint32_t)est;
  switch (ttb_tts_listen(tts, id, &a->l)) {
  case TTB_TTS_LISTENING:
    return; /* on_chat_audio sends the frames as they come */
  case TTB_TTS_CACHED:
    app->metrics.tts_cache_hits++;
    chat_audio_cached(app, ch, seq, id);
    break;
  case TTB_TTS_BUSY:
    app->metrics.tts_queue_full++;
    break;
  default:
    break;
  }
  free(a);
}

/* With --nats: the chat goes into the stream (nats.h); every node's hub,
 * this one's too, gets it from there (on_nats_event). false with
 * app->nats_failed when it was not stored. */
static bool nats_chat(ttb_app *app, const char *channel, const char *user, const char *message)
{
  char id[TTB_TTS_ID_LEN + 1], url[512], err[256];
  size_t text_len = 0;
  chat_speech(app, channel, user, message, id, url, sizeof url, &text_len);
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  Ttboost__V1__ChatEvent chat = TTBOOST__V1__CHAT_EVENT__INIT;
  chat.user = (char *)user;
  chat.message = (char *)message;
  chat.tts_url = url;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
  m.chat = &chat;
  uint64_t seq = 0;
  ttb_nats_rc rc = ttb_nats_publish(app->nats, channel, &m, app->cur_id, &seq, err, sizeof err);
  app->nats_dup = rc == TTB_NATS_DUP;
  if (rc == TTB_NATS_DUP)
    app->metrics.events_in_duplicates++;
  if (rc == TTB_NATS_FAIL) {
    app->nats_failed = true;
    fprintf(stderr, "ttboost-server: nats: a chat was not published: %s\n", err);
    return false;
  }
  return true;
}

/* With --nats: the streak rule's gift goes into the stream. Its
 * Nats-Msg-Id: the ingest id that completed it (with its rank when one
 * ingest event put out several gifts); none when a timer ended the streak. */
static void nats_gift(void *arg, const char *channel, const char *user, const char *gift_name,
                      uint32_t count, const char *sound_url)
{
  ttb_app *app = arg;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  Ttboost__V1__GiftEvent gift = TTBOOST__V1__GIFT_EVENT__INIT;
  gift.gift_name = (char *)gift_name;
  gift.count = count;
  gift.sound_url = (char *)sound_url;
  gift.user = (char *)(user ? user : "");
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
  m.gift = &gift;
  char id[300] = "", err[256];
  if (app->cur_id && app->cur_id[0])
    snprintf(id, sizeof id, "%s#g%u", app->cur_id, ++app->cur_gifts);
  uint64_t seq = 0;
  if (ttb_nats_publish(app->nats, channel, &m, id, &seq, err, sizeof err) == TTB_NATS_FAIL)
    fprintf(stderr, "ttboost-server: nats: a gift was lost: %s\n", err);
}

/* An event read from the stream (any node's): into the hub, with this
 * node's own tts_url (speech is made on demand where it is fetched), and
 * its AudioFrames to the binary sockets that want them. */
static void on_nats_event(void *arg, const char *channel, const Ttboost__V1__ServerMessage *m)
{
  ttb_app *app = arg;
  ttb_channel *ch = ttb_hub_channel(app->hub, channel, true);
  if (ch == NULL)
    return;
  if (m->payload_case != TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT) {
    ttb_hub_apply(ch, m);
    return;
  }
  char id[TTB_TTS_ID_LEN + 1] = "", url[512];
  size_t text_len = 0;
  Ttboost__V1__ServerMessage local = *m;
  Ttboost__V1__ChatEvent chat = *m->chat;
  if (ttb_channel_sockets(ch) > 0 && m->chat->tts_url[0]) {
    chat_speech(app, channel, chat.user, chat.message, id, url, sizeof url, &text_len);
    if (id[0]) {
      chat.tts_url = url;
      local.chat = &chat;
    }
  }
  if (ttb_hub_apply(ch, &local))
    chat_after(app, ch, m->seq, id, text_len);
}

static void on_nats_wake(h2o_socket_t *sock, const char *err)
{
  (void)err;
  ttb_app *app = sock->data;
  ttb_wake_drain(app->nwake[0]);
  ttb_nats_poll(app->nats, on_nats_event, app);
}

/* Connects to NATS (--nats) and reads what the stream holds. */
static int nats_start(ttb_app *app, char *err, size_t errlen)
{
  if (pipe(app->nwake) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    app->nwake[0] = app->nwake[1] = -1;
    return -1;
  }
  for (int i = 0; i < 2; i++)
    if (fcntl(app->nwake[i], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(app->nwake[i], F_SETFL, O_NONBLOCK) != 0) {
      snprintf(err, errlen, "pipe: %s", strerror(errno));
      return -1;
    }
  app->nwake_sock = h2o_evloop_socket_create(app->loop, app->nwake[0], H2O_SOCKET_FLAG_DONT_READ);
  app->nwake_sock->data = app;
  h2o_socket_read_start(app->nwake_sock, on_nats_wake);
  ttb_nats_opts o = {.url = app->cfg.nats,
                     .creds_file = app->cfg.nats_creds,
                     .tls_ca_file = app->cfg.nats_tls_ca,
                     .stream = app->cfg.nats_stream,
                     .history = app->cfg.history,
                     .dedup_s = app->cfg.ingest_dedup_s,
                     .wake_fd = app->nwake[1]};
  char nerr[256];
  app->nats = ttb_nats_start(&o, &app->metrics, nerr, sizeof nerr);
  if (app->nats == NULL) {
    snprintf(err, errlen, "nats: %s", nerr);
    return -1;
  }
  app->metrics.nats_on = true;
  ttb_svc_set_gift_sink(app->svc, nats_gift, app);
  if (!ttb_nats_catch_up(app->nats, app->cfg.nats_catchup_s * 1000u, on_nats_event, app))
    fprintf(stderr, "ttboost-server: nats: the stream is not read up to its end yet "
                    "(resumes may say resume_gap until it is)\n");
  return 0;
}

static void nats_close(ttb_app *app)
{
  if (app->nats) {
    ttb_svc_set_gift_sink(app->svc, NULL, NULL);
    ttb_nats_stop(app->nats);
    app->nats = NULL;
  }
  if (app->nwake_sock) {
    h2o_socket_read_stop(app->nwake_sock);
    h2o_socket_close(app->nwake_sock);
    app->nwake_sock = NULL;
  } else if (app->nwake[0] >= 0) {
    close(app->nwake[0]);
  }
  if (app->nwake[1] >= 0)
    close(app->nwake[1]);
  app->nwake[0] = app->nwake[1] = -1;
}

/* Publishes a chat at once, its tts_url known before its speech is made:
 * the one path of every source (ingest, the TikTok connector). false on no
 * memory (or, with --nats, when the stream did not store it). */
static bool publish_chat(ttb_app *app, const char *channel, const char *user, const char *message)
{
  if (app->nats)
    return nats_chat(app, channel, user, message);
  ttb_channel *ch = ttb_hub_channel(app->hub, channel, true);
  if (ch == NULL)
    return false;
  char id[TTB_TTS_ID_LEN + 1], url[512];
  size_t text_len = 0;
  chat_speech(app, channel, user, message, id, url, sizeof url, &text_len);
  uint64_t seq = ttb_hub_chat(ch, user, message, url);
  chat_after(app, ch, seq, id, text_len);
  return true;
}

/* A chat the journal had accepted before a restart but not published: its URL, and out. */
static void on_restore_chat(void *arg, ttb_pending *p, const char *channel, const char *user,
                            const char *message)
{
  ttb_app *app = arg;
  char id[TTB_TTS_ID_LEN + 1], url[512];
  size_t text_len = 0;
  chat_speech(app, channel, user, message, id, url, sizeof url, &text_len);
  ttb_hub_chat_ready(p, url);
}

static void on_replay(void *arg, const ttb_jrec *r)
{
  ttb_app *app = arg;
  if (r->type == TTB_JREC_SEEN) { /* back into the dedup window, as old as it was */
    uint64_t now = wall_ms(), age = now > r->seq ? now - r->seq : 0;
    if (age >= (uint64_t)app->cfg.ingest_dedup_s * 1000u)
      return;
    uint64_t mono = dedup_ms(), at = mono > age ? mono - age : 0;
    if (at < app->replay_seen_ms) /* the dedup's clock never goes back */
      at = app->replay_seen_ms;
    app->replay_seen_ms = at;
    if (ttb_dedup_add(app->dedup, r->channel, r->text, at) != 0)
      fprintf(stderr, "ttboost-server: journal: an event id was not restored: out of memory\n");
  } else if (r->type == TTB_JREC_STREAKS) { /* the newest snapshot counts */
    if (ttb_svc_streaks_load(app->svc, r->data, r->len) != 0)
      fprintf(stderr, "ttboost-server: journal: a gift streak snapshot could not be read\n");
  } else if (ttb_hub_replay(app->hub, r) != 0) {
    fprintf(stderr, "ttboost-server: journal: a record could not be restored\n");
  }
}

/* Opens DATA/events.journal, restores what it holds, and resumes: chats
 * that waited for their speech get it, the rest goes out. */
static int journal_start(ttb_app *app, char *err, size_t errlen)
{
  char path[600];
  snprintf(path, sizeof path, "%s/events.journal", app->cfg.data_dir);
  h2o_timeout_init(app->loop, &app->commit_to, 0);
  app->commit_entry.cb = on_commit_timer;
  app->journal = ttb_journal_open(path, on_replay, app, err, errlen);
  if (app->journal == NULL)
    return -1;
  ttb_journal_set_fsync(app->journal, app->cfg.journal_sync);
  app->metrics.journal_bytes = ttb_journal_size(app->journal);
  /* its thread does the disk work; it wakes the loop through a pipe */
  if (pipe(app->jwake) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    app->jwake[0] = app->jwake[1] = -1;
    return -1;
  }
  for (int i = 0; i < 2; i++)
    if (fcntl(app->jwake[i], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(app->jwake[i], F_SETFL, O_NONBLOCK) != 0) {
      snprintf(err, errlen, "pipe: %s", strerror(errno));
      return -1;
    }
  if (ttb_journal_start(app->journal, app->jwake[1], err, errlen) != 0)
    return -1;
  app->jwake_sock = h2o_evloop_socket_create(app->loop, app->jwake[0], H2O_SOCKET_FLAG_DONT_READ);
  app->jwake_sock->data = app;
  h2o_socket_read_start(app->jwake_sock, on_journal_wake);
  ttb_journal_status(app->journal, &app->jst);
  ttb_hub_set_journal(app->hub, app->journal, commit_soon, app);
  app->streaks_gen = ttb_svc_streaks_generation(app->svc);
  ttb_hub_restart(app->hub, on_restore_chat, app);
  if (!app_flush(app)) {
    snprintf(err, errlen, "cannot write %s", path);
    return -1;
  }
  return 0;
}

/* The dedup window's clock: monotonic milliseconds. */
static uint64_t dedup_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Is this event id one the channel saw lately (dedup.h)? Counted when so. */
static bool duplicate(ttb_app *app, const char *channel, const char *id)
{
  if (id == NULL || id[0] == '\0' || !ttb_dedup_seen(app->dedup, channel, id, dedup_ms()))
    return false;
  app->metrics.events_in_duplicates++;
  return true;
}

/* Remembers an accepted event's id for the dedup window. */
static void remember(ttb_app *app, const char *channel, const char *id)
{
  if (id == NULL || id[0] == '\0')
    return;
  if (ttb_dedup_add(app->dedup, channel, id, dedup_ms()) != 0)
    fprintf(stderr, "ttboost-server: ingest: an event id was not remembered: out of memory\n");
  /* and in the journal, so that the window survives a restart */
  ttb_jrec r = {.type = TTB_JREC_SEEN, .channel = channel, .text = id, .seq = wall_ms()};
  if (app->journal && app->cfg.ingest_dedup_s && ttb_journal_add(app->journal, &r) != 0)
    app->metrics.journal_errors++;
}

/* Checks and publishes one ingest event; false with code and message set.
 * An event whose id the channel saw lately is acknowledged (true) with *dup
 * set, and dropped. */
static bool ingest_one(ttb_app *app, const Ttboost__V1__IngestEvent *ev, bool *dup,
                       const char **code, char *msg, size_t msglen)
{
  char verr[160];
  if (!ttb_pbc_ttboost_v1_IngestEvent_validate(ev, verr, sizeof verr)) {
    *code = "invalid";
    snprintf(msg, msglen, "%s", verr);
    return false;
  }
  if (ev->channel[0] == '\0') {
    *code = "invalid";
    snprintf(msg, msglen, "channel: required (the streamer's user_id)");
    return false;
  }
  if (ev->event_case == TTBOOST__V1__INGEST_EVENT__EVENT__NOT_SET) {
    *code = "invalid";
    snprintf(msg, msglen, "type: required (\"chat\" or \"gift\")");
    return false;
  }
  ttb_svc_status lic = ttb_svc_license(app->svc, ev->channel);
  if (lic != TTB_SVC_OK) {
    *code = lic == TTB_SVC_UNKNOWN ? "unknown_channel" : "channel_inactive";
    snprintf(msg, msglen,
             lic == TTB_SVC_UNKNOWN ? "channel: no license has this user_id"
                                    : "channel: the license is expired or revoked");
    return false;
  }
  if (ev->event_case == TTBOOST__V1__INGEST_EVENT__EVENT_CHAT) {
    const Ttboost__V1__IngestChat *c = ev->chat;
    if (c->message[0] == '\0') {
      *code = "invalid";
      snprintf(msg, msglen, "message: required");
      return false;
    }
    if ((*dup = duplicate(app, ev->channel, ev->id)))
      return true;
    app->cur_id = ev->id;
    app->nats_failed = app->nats_dup = false;
    bool ok = publish_chat(app, ev->channel, c->user, c->message);
    app->cur_id = NULL;
    if (ok && app->nats_dup) { /* another node stored it (JetStream's duplicate window) */
      *dup = true;
      remember(app, ev->channel, ev->id);
      return true;
    }
    if (!ok && app->nats_failed) {
      *code = "unavailable";
      snprintf(msg, msglen, "the event bus (NATS) did not store the event: retry with the same id");
      return false;
    }
    if (!ok) {
      *code = "internal";
      snprintf(msg, msglen, "out of memory");
      return false;
    }
    app->metrics.events_in_chat++;
    remember(app, ev->channel, ev->id);
    return true;
  }
  const Ttboost__V1__IngestGift *g = ev->gift;
  if (g->gift_name[0] == '\0') {
    *code = "invalid";
    snprintf(msg, msglen, "gift_name: required");
    return false;
  }
  if ((*dup = duplicate(app, ev->channel, ev->id)))
    return true;
  if (app->nats && !ttb_nats_connected(app->nats)) { /* its gift could not be published */
    *code = "unavailable";
    snprintf(msg, msglen, "the event bus (NATS) is unreachable: retry with the same id");
    return false;
  }
  remember(app, ev->channel, ev->id);
  app->metrics.events_in_gift++;
  app->cur_id = ev->id;
  app->cur_gifts = 0;
  ttb_settings_gift_value(app->settings, ev->channel, g->gift_name, g->diamond_count);
  ttb_svc_gift(app->svc, ev->channel, g->user, g->user_id, g->gift_name, g->gift_id, g->count,
               g->repeat_count, g->repeat_end);
  app->cur_id = NULL;
  return true;
}

/* Collects the batch's outcome. */
typedef struct ingest_result {
  Ttboost__V1__IngestResponse resp;
  Ttboost__V1__IngestItemError items[64];
  Ttboost__V1__IngestItemError *ptrs[64];
  char msgs[64][256];
  size_t failed;
} ingest_result;

static void ingest_fail(ingest_result *r, uint32_t index, const char *code, const char *msg)
{
  r->failed++;
  if (r->resp.n_errors == 64)
    return; /* the first 64 are named */
  size_t k = r->resp.n_errors++;
  ttboost__v1__ingest_item_error__init(&r->items[k]);
  r->items[k].index = index;
  r->items[k].error = (char *)code;
  snprintf(r->msgs[k], sizeof r->msgs[k], "%s", msg);
  if (!ttb_utf8_valid(r->msgs[k], strlen(r->msgs[k])))
    snprintf(r->msgs[k], sizeof r->msgs[k], "invalid item");
  r->items[k].message = r->msgs[k];
  r->ptrs[k] = &r->items[k];
}

/* After a failed write: closes the --trace-ingest trace and goes on without it. */
static void trace_stop(ttb_app *app, const char *why)
{
  fprintf(stderr, "ttboost-server: trace-ingest stopped: %s\n", why);
  ttb_trace_writer_close(app->trace, NULL, 0);
  app->trace = NULL;
}

/* Appends an accepted event to the --trace-ingest trace; on a write error
 * the trace is closed and the server goes on without it. */
static void trace_ingest(ttb_app *app, const Ttboost__V1__IngestEvent *ev)
{
  if (app->trace == NULL)
    return;
  Ttboost__V1__TraceRecord rec = TTBOOST__V1__TRACE_RECORD__INIT;
  rec.time_us = ttb_trace_writer_elapsed_us(app->trace);
  rec.direction = TTBOOST__V1__DIRECTION__DIRECTION_INGEST;
  rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_INGEST;
  rec.ingest = (Ttboost__V1__IngestEvent *)ev;
  char err[256];
  if (ttb_trace_write(app->trace, &rec, err, sizeof err) != 0)
    trace_stop(app, err);
}

/* One item of a batch; scope is the channel of the request's ingest token
 * (NULL for the operator's secret): an item without a channel is its. */
static void ingest_item(ttb_app *app, ingest_result *r, uint32_t index,
                        Ttboost__V1__IngestEvent *ev, const char *scope)
{
  char *given = ev->channel;
  if (scope != NULL && given[0] == '\0')
    ev->channel = (char *)scope;
  const char *code = "invalid";
  char msg[256];
  bool dup = false;
  if (ingest_one(app, ev, &dup, &code, msg, sizeof msg)) {
    r->resp.accepted++;
    if (dup)
      r->resp.duplicates++;
    else
      trace_ingest(app, ev);
  } else {
    app->metrics.events_in_rejected++;
    ingest_fail(r, index, code, msg);
  }
  ev->channel = given; /* the event's own string is what free_unpacked frees */
}

/* With a channel's ingest token: does an item of the body name another
 * channel? Items that cannot be decoded are left for the ingest to report. */
static bool names_other_channel(h2o_req_t *req, bool protobuf, const char *scope)
{
  bool other = false;
  if (protobuf) {
    const uint8_t *p = (const uint8_t *)req->entity.base;
    size_t left = req->entity.len;
    const uint8_t *item;
    size_t item_len;
    const char *why = "";
    while (!other && ttb_ldelim_next(&p, &left, &item, &item_len, &why) > 0) {
      Ttboost__V1__IngestEvent *ev = ttboost__v1__ingest_event__unpack(NULL, item_len, item);
      if (ev != NULL) {
        other = ev->channel[0] != '\0' && strcmp(ev->channel, scope) != 0;
        ttboost__v1__ingest_event__free_unpacked(ev, NULL);
      }
    }
    return other;
  }
  ttb_jr jr;
  if (!ttb_jr_parse_alloc(&jr, req->entity.base, req->entity.len, 1u << 18)) {
    ttb_jr_finish(&jr);
    return false;
  }
  bool array = jr.toks[0].type == JSMN_ARRAY;
  int n = array ? jr.toks[0].size : 1;
  int t = array ? 1 : 0;
  for (int i = 0; i < n && !other; i++) {
    Ttboost__V1__IngestEvent *ev = malloc(sizeof *ev);
    if (ev == NULL)
      break;
    ttboost__v1__ingest_event__init(ev);
    jr.status = TTB_JSON_OK;
    if (ttb_pbc_ttboost_v1_IngestEvent_json_decode(&jr, t, ev, NULL))
      other = ev->channel[0] != '\0' && strcmp(ev->channel, scope) != 0;
    ttboost__v1__ingest_event__free_unpacked(ev, NULL);
    t = ttb_jr_next(&jr, t);
  }
  ttb_jr_finish(&jr);
  return other;
}

static bool is_protobuf(h2o_req_t *req)
{
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
  if (i < 0)
    return false;
  h2o_iovec_t v = req->headers.entries[i].value;
  return v.len >= 22 && strncasecmp(v.base, "application/x-protobuf", 22) == 0;
}

/* POST /ingest/events: a channel's ingest token posts to that channel
 * only (403 for the whole request when an item names another); the
 * operator's secret posts to any. */
static void on_ingest_token(void *arg, ttb_svc_status st, const char *channel);
static int ingest_go(ttb_app *app, h2o_req_t *req, ttb_svc_status ts, const char *scope);

static int on_ingest(ttb_app *app, h2o_req_t *req)
{
  char secret[160];
  uint8_t h[crypto_generichash_BYTES];
  bool given = ttb_reply_bearer(req, secret, sizeof secret);
  if (given)
    crypto_generichash(h, sizeof h, (const uint8_t *)secret, strlen(secret), NULL, 0);
  else
    randombytes_buf(h, sizeof h);
  bool op_secret = sodium_memcmp(h, app->secret_hash, sizeof h) == 0;
  if (op_secret || !given) {
    sodium_memzero(secret, sizeof secret);
    return ingest_go(app, req, op_secret ? TTB_SVC_OK : TTB_SVC_UNKNOWN, NULL);
  }
  /* an ingest token: its channel, from the database thread (cached) */
  db_wait *w = db_wait_new(app, req);
  if (w == NULL) {
    sodium_memzero(secret, sizeof secret);
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  }
  ttb_svc_ingest_token_async(app->svc, secret, on_ingest_token, w);
  sodium_memzero(secret, sizeof secret);
  return 0; /* answered by on_ingest_token */
}

static void on_ingest_token(void *arg, ttb_svc_status st, const char *channel)
{
  h2o_req_t *req = ((db_wait *)arg)->req;
  ttb_app *app = ((db_wait *)arg)->app;
  char scope[64];
  snprintf(scope, sizeof scope, "%s", channel);
  if (db_wait_end(arg) != NULL)
    ingest_go(app, req, st, scope);
}

/* A bump allocator for one ingest item's decoded message and strings
 * (protobuf-c and the JSON reader take it), instead of a malloc and a free
 * per field: freeing is a no-op, item_arena_reset() frees what did not fit
 * in the inline block. Loop thread, one request at a time. */
typedef struct arena_big {
  struct arena_big *next;
  max_align_t data[];
} arena_big;

typedef struct item_arena {
  ProtobufCAllocator a;
  size_t used;
  arena_big *big;
  _Alignas(max_align_t) unsigned char buf[4096];
} item_arena;

static void *item_arena_alloc(void *data, size_t n)
{
  item_arena *ar = data;
  size_t need = (n + (_Alignof(max_align_t) - 1)) & ~(size_t)(_Alignof(max_align_t) - 1);
  if (need >= n && sizeof ar->buf - ar->used >= need) {
    void *p = ar->buf + ar->used;
    ar->used += need;
    return p;
  }
  if (n > SIZE_MAX - sizeof(arena_big))
    return NULL;
  arena_big *b = malloc(sizeof *b + n);
  if (b == NULL)
    return NULL;
  b->next = ar->big;
  ar->big = b;
  return b->data;
}

static void item_arena_free(void *data, void *p)
{
  (void)data;
  (void)p; /* all at once, in item_arena_reset */
}

static void item_arena_init(item_arena *ar)
{
  ar->a.alloc = item_arena_alloc;
  ar->a.free = item_arena_free;
  ar->a.allocator_data = ar;
  ar->used = 0;
  ar->big = NULL;
}

static void item_arena_reset(item_arena *ar)
{
  while (ar->big) {
    arena_big *b = ar->big;
    ar->big = b->next;
    free(b);
  }
  ar->used = 0;
}

/* POST /ingest/events once the bearer is known: st TTB_SVC_OK with scope
 * NULL for the operator's secret, with scope the channel of an ingest token. */
static int ingest_go(ttb_app *app, h2o_req_t *req, ttb_svc_status ts, const char *scope)
{
  if (ts == TTB_SVC_FAILED)
    return ttb_reply_error(
        req, 503, "busy",
        "The server could not check the ingest token right now. Try again shortly.");
  if (ts != TTB_SVC_OK)
    return ttb_reply_error(req, 401, "unauthorized",
                           "A valid ingest token (or the operator's ingest secret) is needed: "
                           "Authorization: Bearer <token>.");
  if (scope != NULL && names_other_channel(req, is_protobuf(req), scope)) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "This ingest token posts to channel %s only; an item names another channel.", scope);
    return ttb_reply_error(req, 403, "forbidden_channel", msg);
  }

  ingest_result *r = calloc(1, sizeof *r);
  if (r == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  ttboost__v1__ingest_response__init(&r->resp);
  r->resp.errors = r->ptrs;
  uint32_t index = 0;
  const uint8_t *p = (const uint8_t *)req->entity.base;
  size_t left = req->entity.len;
  item_arena ar;
  item_arena_init(&ar);
  if (is_protobuf(req)) {
    for (;;) {
      const uint8_t *item;
      size_t item_len;
      const char *why = "";
      int rc = ttb_ldelim_next(&p, &left, &item, &item_len, &why);
      if (rc == 0)
        break;
      if (rc < 0) {
        ingest_fail(r, index, "malformed", why);
        break;
      }
      Ttboost__V1__IngestEvent *ev = ttboost__v1__ingest_event__unpack(&ar.a, item_len, item);
      if (ev == NULL) {
        app->metrics.events_in_rejected++;
        ingest_fail(r, index, "malformed", "not an IngestEvent");
      } else {
        ingest_item(app, r, index, ev, scope);
        ttboost__v1__ingest_event__free_unpacked(ev, &ar.a);
      }
      item_arena_reset(&ar);
      index++;
    }
  } else {
    ttb_jr jr;
    if (!ttb_jr_parse_alloc(&jr, req->entity.base, req->entity.len, 1u << 18)) {
      char msg[256];
      snprintf(msg, sizeof msg, "The body is not valid JSON: %s", jr.err);
      ttb_jr_finish(&jr);
      free(r);
      return ttb_reply_error(req, jr.status == TTB_JSON_LIMIT ? 413 : 400, "malformed", msg);
    }
    bool array = jr.toks[0].type == JSMN_ARRAY;
    int n = array ? jr.toks[0].size : 1;
    int t = array ? 1 : 0;
    for (int i = 0; i < n; i++) {
      Ttboost__V1__IngestEvent *ev = item_arena_alloc(&ar, sizeof *ev);
      if (ev == NULL) {
        ingest_fail(r, index, "internal", "out of memory");
        break;
      }
      ttboost__v1__ingest_event__init(ev);
      jr.status = TTB_JSON_OK;
      jr.err[0] = '\0';
      if (ttb_pbc_ttboost_v1_IngestEvent_json_decode(&jr, t, ev, &ar.a))
        ingest_item(app, r, index, ev, scope);
      else {
        app->metrics.events_in_rejected++;
        ingest_fail(r, index, jr.status == TTB_JSON_UNKNOWN_TYPE ? "unknown_type" : "invalid",
                    jr.err);
      }
      ttboost__v1__ingest_event__free_unpacked(ev, &ar.a);
      item_arena_reset(&ar);
      index++;
      t = ttb_jr_next(&jr, t);
    }
    ttb_jr_finish(&jr);
    if (!array && r->failed == 1) {
      /* a single event that failed is a plain error */
      int status = strcmp(r->items[0].error, "unknown_channel") == 0 ? 404 : 400;
      if (strcmp(r->items[0].error, "unavailable") == 0)
        status = 503; /* the event bus: a retry with the same id is safe */
      int rc = ttb_reply_error(req, status == 404 ? 400 : status, r->items[0].error,
                               r->items[0].message);
      free(r);
      return rc;
    }
  }
  item_arena_reset(&ar);
  /* acknowledged only once journaled: the accepted events survive a crash */
  uint64_t ticket = 0;
  if (r->resp.accepted && !app_commit_t(app, &ticket)) {
    free(r);
    return ttb_reply_error(
        req, 503, "journal",
        "The events could not be stored safely, and may or may not be delivered. "
        "Retry (with the same event ids).");
  }
  r->resp.status = r->failed ? "partial" : "ok";
  size_t n;
  char *js = ttb_pbc_ttboost_v1_IngestResponse_to_json(&r->resp, &n, NULL);
  free(r);
  if (ticket == 0 || ticket <= app->jst.synced || js == NULL)
    return ttb_reply_json(req, 202, js, n, false);
  /* the 202 waits for the journal thread's sync of its commit */
  ingest_wait *w = h2o_mem_alloc_shared(&req->pool, sizeof *w, on_ingest_wait_dispose);
  *w = (ingest_wait){.app = app, .req = req, .ticket = ticket, .js = js, .n = n, .linked = true};
  w->prev = app->iw_tail;
  if (app->iw_tail)
    app->iw_tail->next = w;
  else
    app->iw_head = w;
  app->iw_tail = w;
  return 0;
}

/* ---------------------------------------------------------------- socket */

static void on_ws_session(void *arg, ttb_svc_status st, const char *user, int64_t login);
static int ws_go(ttb_app *app, h2o_req_t *req, ttb_svc_status st, const char *user, int64_t login,
                 bool has_since, uint64_t since);

/* /ws/{ws_token} (off 4), or /overlay/ws/{overlay_token} (off 12: overlay.h) */
static int on_ws(ttb_app *app, h2o_req_t *req, size_t off)
{
  h2o_iovec_t path = req->path_normalized;
  const char *token = path.base + off;
  size_t tlen = path.len - off;
  char tok[80];
  bool has_since = false;
  uint64_t since = 0;
  if (req->query_at != SIZE_MAX) {
    const char *q = req->path.base + req->query_at + 1;
    size_t qn = req->path.len - req->query_at - 1;
    const char *s = NULL;
    for (size_t i = 0; i + 6 <= qn; i++)
      if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, "since=", 6) == 0) {
        s = q + i + 6;
        break;
      }
    if (s) {
      has_since = true;
      const char *e = q + qn;
      if (s == e || *s < '0' || *s > '9')
        return ttb_reply_error(req, 400, "malformed", "since: expected a sequence number");
      for (; s < e && *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (since > (UINT64_MAX - d) / 10)
          return ttb_reply_error(req, 400, "malformed", "since: out of range");
        since = since * 10 + d;
      }
    }
  }
  if (tlen == 0 || tlen >= sizeof tok || memchr(token, '/', tlen) != NULL)
    return ws_go(app, req, TTB_SVC_UNKNOWN, "", 0, false, 0);
  db_wait *w = db_wait_new(app, req);
  if (w == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  memcpy(w->token, token, tlen);
  w->token[tlen] = '\0';
  w->has_since = has_since;
  w->since = since;
  if (off == 12)
    ttb_overlay_lookup_async(app->svc, w->token, on_ws_session, w);
  else
    ttb_svc_session_async(app->svc, w->token, on_ws_session, w);
  return 0; /* answered by on_ws_session */
}

static void on_ws_session(void *arg, ttb_svc_status st, const char *user, int64_t login)
{
  db_wait *w = arg;
  ttb_app *app = w->app;
  bool has_since = w->has_since;
  uint64_t since = w->since;
  h2o_req_t *req = db_wait_end(w);
  if (req != NULL)
    ws_go(app, req, st, user, login, has_since, since);
}

/* The socket of a checked token: refused with a close code, or accepted. */
/* The most sockets user_id's license may have open (0: no bound):
 * max devices x --sockets-per-device, never over --max-sockets-per-license. */
static size_t socket_limit(ttb_app *app, const char *user)
{
  size_t devices = ttb_svc_max_devices(app->svc, user), per = app->cfg.sockets_per_device;
  size_t cap = app->cfg.max_sockets_per_license, limit = devices && per ? devices * per : 0;
  if (cap && (limit == 0 || limit > cap))
    limit = cap;
  return limit;
}

static int ws_go(ttb_app *app, h2o_req_t *req, ttb_svc_status st, const char *user, int64_t login,
                 bool has_since, uint64_t since)
{
  if (st == TTB_SVC_FAILED)
    return ttb_reply_refused(req, true);
  if (st != TTB_SVC_OK) {
    uint16_t code =
        st == TTB_SVC_EXPIRED || st == TTB_SVC_REVOKED ? TTB_WS_REVOKED : TTB_WS_UNAUTHORIZED;
    const char *err = st == TTB_SVC_REVOKED   ? "revoked"
                      : st == TTB_SVC_EXPIRED ? "expired"
                                              : "unauthorized";
    const char *msg = st == TTB_SVC_REVOKED   ? "The license has been revoked."
                      : st == TTB_SVC_EXPIRED ? "The session or license has expired; log in again."
                                              : "Unknown token; log in again.";
    if (ttb_ws_refuse(req, code, err, msg) != 0)
      return ttb_reply_error(req, 401, err, msg);
    return 0;
  }
  ttb_channel *c = ttb_hub_channel(app->hub, user, true);
  if (c == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  size_t limit = socket_limit(app, user);
  if (limit && ttb_channel_sockets(c) >= limit) {
    app->metrics.sockets_refused_limit++;
    char msg[200];
    snprintf(msg, sizeof msg,
             "This license has %zu sockets open, as many as it may. Close one and retry.", limit);
    if (ttb_ws_refuse(req, TTB_WS_TOO_MANY_SOCKETS, "too_many_sockets", msg) != 0)
      return ttb_reply_error(req, 429, "too_many_sockets", msg);
    return 0;
  }
  ttb_session *s = ttb_ws_accept(req, login);
  if (s == NULL)
    return ttb_reply_error(req, 400, "not_websocket",
                           "GET /ws/{ws_token} must be a WebSocket handshake.");
  ttb_hub_subscribe(c, s, has_since, since); /* Hello, what it missed, then live events */
  return 0;
}

/* A socket closed: it leaves its channel (the session module never calls the hub). */
static void on_ws_close(void *arg, ttb_session *s)
{
  (void)arg;
  speech_reqs_free(s);
  ttb_hub_unsubscribe(s);
}

/* ----------------------------------------------------------------- TikTok */

/* The connector's chat: the same path as an ingested chat, while the
 * license is valid. */
static void on_tiktok_chat(void *arg, const char *channel, const char *user, const char *message,
                           const char *id)
{
  ttb_app *app = arg;
  if (message[0] == '\0' || ttb_svc_license(app->svc, channel) != TTB_SVC_OK)
    return;
  /* the channel-level rule of ingest ids covers the connector too */
  if (duplicate(app, channel, id))
    return;
  remember(app, channel, id);
  app->cur_id = id;
  if (!publish_chat(app, channel, user, message))
    fprintf(stderr, "ttboost-server: tiktok: a chat was lost\n");
  app->cur_id = NULL;
}

/* The connector's gift value (before its gift): for the channel's gift rules. */
static void on_tiktok_gift_value(void *arg, const char *channel, const char *gift_name,
                                 uint32_t diamonds)
{
  ttb_app *app = arg;
  ttb_settings_gift_value(app->settings, channel, gift_name, diamonds);
}

/* The connector's gift: through the streak rule, like an ingested one. */
static void on_tiktok_gift(void *arg, const char *channel, const char *user, const char *streak_key,
                           const char *gift_name, uint64_t gift_id, uint32_t count,
                           uint32_t repeat_count, bool repeat_end, const char *id)
{
  ttb_app *app = arg;
  if (gift_name[0] == '\0' || ttb_svc_license(app->svc, channel) != TTB_SVC_OK)
    return;
  if (duplicate(app, channel, id))
    return;
  remember(app, channel, id);
  app->cur_id = id;
  app->cur_gifts = 0;
  ttb_svc_gift(app->svc, channel, user, streak_key, gift_name, gift_id, count, repeat_count,
               repeat_end);
  app->cur_id = NULL;
}

static void show_status(ttb_app *app, ttb_channel *c, const ttb_tiktok_status *st)
{
  if (ttb_hub_status(c, ttb_tiktok_state_name(st->state), st->room_id, st->username, st->message) !=
      0)
    fprintf(stderr, "ttboost-server: tiktok: status not sent: out of memory\n");
  (void)app;
}

static void on_tiktok_status(void *arg, const char *channel, const ttb_tiktok_status *st)
{
  ttb_app *app = arg;
  /* the holder's status goes into its lease for the other nodes' devices
   * (kept by the lease only while this node holds it) */
  ttb_lease_status(app->lease, channel, ttb_tiktok_state_name(st->state), st->room_id, st->message);
  ttb_channel *c = ttb_hub_channel(app->hub, channel, false);
  if (c)
    show_status(app, c, st);
}

/* --nats: the connector wants a channel's connection (or no longer does):
 * its lease is asked for (or released). */
static void on_tiktok_want(void *arg, const char *channel, bool want)
{
  ttb_app *app = arg;
  ttb_lease_want(app->lease, channel, want);
}

/* A lease event: the connector runs while this node holds the channel's
 * lease; the other nodes show the holder's status. */
static void on_lease_event(void *arg, const char *channel, ttb_lease_kind kind,
                           const ttb_lease_value *holder)
{
  ttb_app *app = arg;
  if (kind == TTB_LEASE_ACQUIRED) {
    ttb_tiktok_allow(app->tiktok, channel, true);
  } else if (kind == TTB_LEASE_LOST) {
    ttb_tiktok_allow(app->tiktok, channel, false);
  } else if (kind == TTB_LEASE_HOLDER && holder != NULL && holder->node[0] == '\0') {
    ttb_tiktok_elsewhere(app->tiktok, channel, NULL); /* the holder is not known now */
  } else if (kind == TTB_LEASE_HOLDER && holder != NULL) {
    ttb_tiktok_status st;
    memset(&st, 0, sizeof st);
    st.state = TTB_TIKTOK_CONNECTING; /* the holder's connector has not said yet */
    for (int i = 0; i < TTB_TIKTOK_NSTATES; i++)
      if (holder->state[0] && strcmp(holder->state, ttb_tiktok_state_name(i)) == 0)
        st.state = (ttb_tiktok_state)i;
    snprintf(st.room_id, sizeof st.room_id, "%.*s", (int)sizeof st.room_id - 1, holder->room);
    char msg[sizeof holder->addr + sizeof holder->message + 64];
    snprintf(msg, sizeof msg, "The TikTok connection runs on %s%s%s",
             holder->addr[0] ? holder->addr : "another node", holder->message[0] ? ": " : ".",
             holder->message);
    snprintf(st.message, sizeof st.message, "%.*s", (int)sizeof st.message - 1, msg);
    ttb_tiktok_elsewhere(app->tiktok, channel, &st);
  }
}

static void on_lease_wake(h2o_socket_t *sock, const char *err)
{
  (void)err;
  ttb_app *app = sock->data;
  ttb_wake_drain(app->lwake[0]);
  ttb_lease_poll(app->lease, on_lease_event, app);
}

/* --nats with the connector on: the lease thread on the node's NATS
 * connection, and a random id for this run of the node. */
static int lease_start(ttb_app *app, char *err, size_t errlen)
{
  if (pipe(app->lwake) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    app->lwake[0] = app->lwake[1] = -1;
    return -1;
  }
  for (int i = 0; i < 2; i++)
    if (fcntl(app->lwake[i], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(app->lwake[i], F_SETFL, O_NONBLOCK) != 0) {
      snprintf(err, errlen, "pipe: %s", strerror(errno));
      return -1;
    }
  app->lwake_sock = h2o_evloop_socket_create(app->loop, app->lwake[0], H2O_SOCKET_FLAG_DONT_READ);
  app->lwake_sock->data = app;
  h2o_socket_read_start(app->lwake_sock, on_lease_wake);
  uint8_t rnd[8];
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(app->node_id, sizeof app->node_id, rnd, sizeof rnd);
  ttb_lease_opts o = {.nc = ttb_nats_connection(app->nats),
                      .bucket = "ttb_lease",
                      .ttl_s = app->cfg.lease_ttl_s,
                      .node_id = app->node_id,
                      .addr = app->cfg.public_url,
                      .wake_fd = app->lwake[1]};
  app->lease = ttb_lease_start(&o, &app->metrics, err, errlen);
  if (app->lease == NULL)
    return -1;
  fprintf(stderr, "ttboost-server: lease: node %s, TTL %u s\n", app->node_id, app->cfg.lease_ttl_s);
  return 0;
}

/* Releases the leases held (before the NATS connection closes). */
static void lease_close(ttb_app *app)
{
  ttb_lease_stop(app->lease);
  app->lease = NULL;
  if (app->lwake_sock) {
    h2o_socket_read_stop(app->lwake_sock);
    h2o_socket_close(app->lwake_sock);
    app->lwake_sock = NULL;
  } else if (app->lwake[0] >= 0) {
    close(app->lwake[0]);
  }
  if (app->lwake[1] >= 0)
    close(app->lwake[1]);
  app->lwake[0] = app->lwake[1] = -1;
}

/* The channel's TikTok status now: the connector's, or "off" (with the
 * handle) when the connector is off. */
static void tiktok_status(ttb_app *app, const char *channel, const char *handle,
                          ttb_tiktok_status *st)
{
  if (app->tiktok) {
    ttb_tiktok_status_of(app->tiktok, channel, st);
    return;
  }
  memset(st, 0, sizeof *st);
  st->state = TTB_TIKTOK_OFF;
  snprintf(st->username, sizeof st->username, "%s", handle);
  if (handle[0])
    snprintf(st->message, sizeof st->message, "The TikTok connector is off on this server.");
}

/* Brings the connector and the channel's status in line with the license's
 * handle (read from the store) and its sockets. */
static void tiktok_sync(ttb_app *app, ttb_channel *c, size_t sockets)
{
  const char *channel = ttb_channel_user(c);
  char handle[32];
  if (ttb_svc_tiktok_get(app->svc, channel, handle) == TTB_SVC_FAILED)
    return; /* logged; keep what runs */
  if (app->tiktok) {
    ttb_tiktok_set_user(app->tiktok, channel, handle);
    ttb_tiktok_set_devices(app->tiktok, channel, sockets);
  }
  ttb_tiktok_status st;
  tiktok_status(app, channel, handle, &st);
  show_status(app, c, &st);
}

static void on_channel_sockets(void *arg, ttb_channel *c, size_t nsubs)
{
  ttb_app *app = arg;
  if (nsubs > 0) {
    tiktok_sync(app, c, nsubs);
  } else if (app->tiktok) {
    ttb_tiktok_set_devices(app->tiktok, ttb_channel_user(c), 0);
  }
}

static int reply_tiktok(ttb_app *app, h2o_req_t *req, const char *user, const char *handle)
{
  ttb_tiktok_status st;
  tiktok_status(app, user, handle, &st);
  Ttboost__V1__TiktokInfo r = TTBOOST__V1__TIKTOK_INFO__INIT;
  r.username = (char *)handle;
  r.state = (char *)ttb_tiktok_state_name(st.state);
  r.room_id = st.room_id;
  r.message = st.message;
  size_t n = 0;
  char *js = ttb_pbc_ttboost_v1_TiktokInfo_to_json(&r, &n, NULL);
  return ttb_reply_json(req, 200, js, n, false);
}

/* GET and PUT /me/tiktok (Authorization: Bearer <ws_token>). */
static void on_me_tiktok_session(void *arg, ttb_svc_status st, const char *user,
                                 int64_t session_id);
static void on_me_tiktok_saved(void *arg, ttb_svc_status st);
static void on_me_tiktok_synced(void *arg, ttb_svc_status st);

static int on_me_tiktok(ttb_app *app, h2o_req_t *req, bool put)
{
  db_wait *w = db_wait_new(app, req);
  if (w == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  w->put = put;
  if (!ttb_reply_bearer(req, w->token, sizeof w->token)) {
    db_wait_end(w);
    return ttb_reply_refused(req, false);
  }
  ttb_svc_session_async(app->svc, w->token, on_me_tiktok_session, w);
  return 0; /* answered by on_me_tiktok_session (and on_me_tiktok_saved) */
}

static void on_me_tiktok_session(void *arg, ttb_svc_status st, const char *user, int64_t session_id)
{
  db_wait *w = arg;
  ttb_app *app = w->app;
  (void)session_id;
  sodium_memzero(w->token, sizeof w->token);
  h2o_req_t *req = w->req;
  if (req == NULL || st != TTB_SVC_OK) {
    db_wait_end(w);
    if (req)
      ttb_reply_refused(req, st == TTB_SVC_FAILED);
    return;
  }
  char handle[32];
  if (!w->put) {
    /* what ttboost-admin set a moment ago shows: the snapshot is synced first */
    snprintf(w->user, sizeof w->user, "%s", user);
    ttb_svc_sync_async(app->svc, on_me_tiktok_synced, w);
    return;
  }
  ttb_json_error err = {0};
  Ttboost__V1__TiktokSettings *ts =
      ttb_pbc_ttboost_v1_TiktokSettings_from_json(req->entity.base, req->entity.len, NULL, &err);
  if (ts == NULL) {
    db_wait_end(w);
    char msg[256];
    snprintf(msg, sizeof msg, "The request is not valid: %s", err.msg);
    ttb_reply_error(req, err.status == TTB_JSON_LIMIT ? 413 : 400, "malformed", msg);
    return;
  }
  char why[160];
  bool ok = ttb_tiktok_handle_parse(ts->username, handle, why, sizeof why);
  ttboost__v1__tiktok_settings__free_unpacked(ts, NULL);
  if (!ok) {
    db_wait_end(w);
    char msg[200];
    snprintf(msg, sizeof msg, "username: %s", why);
    ttb_reply_error(req, 400, "invalid_username", msg);
    return;
  }
  snprintf(w->user, sizeof w->user, "%s", user);
  snprintf(w->handle, sizeof w->handle, "%s", handle);
  ttb_svc_tiktok_set_async(app->svc, user, handle, on_me_tiktok_saved, w);
}

/* GET /me/tiktok: the snapshot is up to date (or the last known, the
 * database being busy). */
static void on_me_tiktok_synced(void *arg, ttb_svc_status st)
{
  db_wait *w = arg;
  ttb_app *app = w->app;
  (void)st;
  char user[64], handle[32];
  snprintf(user, sizeof user, "%s", w->user);
  h2o_req_t *req = db_wait_end(w);
  if (req == NULL)
    return;
  ttb_svc_tiktok_get(app->svc, user, handle); /* "" when none */
  reply_tiktok(app, req, user, handle);
}

/* PUT /me/tiktok: the handle is in the database (or could not be saved). */
static void on_me_tiktok_saved(void *arg, ttb_svc_status st)
{
  db_wait *w = arg;
  ttb_app *app = w->app;
  char user[64], handle[32];
  snprintf(user, sizeof user, "%s", w->user);
  snprintf(handle, sizeof handle, "%s", w->handle);
  h2o_req_t *req = db_wait_end(w);
  if (st != TTB_SVC_OK) {
    if (req)
      ttb_reply_error(req, 503, "busy",
                      "The server could not save the settings right now. Try again shortly.");
    return;
  }
  ttb_channel *c = ttb_hub_channel(app->hub, user, false);
  if (c)
    tiktok_sync(app, c, ttb_channel_sockets(c));
  else if (app->tiktok)
    ttb_tiktok_set_user(app->tiktok, user, handle);
  if (req)
    reply_tiktok(app, req, user, handle);
}

/* ----------------------------------------------------------------- router */

static int reply_metrics(ttb_app *app, h2o_req_t *req)
{
  size_t n;
  ttb_svc_tts_metrics(app->svc);
  char *m = ttb_metrics_render(&app->metrics, &n);
  if (m == NULL)
    return ttb_reply_error(req, 503, "busy", "out of memory");
  ttb_reply(req, 200, "text/plain; version=0.0.4", m, n);
  free(m);
  return 0;
}

/* Does the request carry the --metrics-token-file token? (hashed, constant time) */
static bool metrics_allowed(ttb_app *app, h2o_req_t *req)
{
  if (!app->metrics_token)
    return false;
  char tok[160];
  uint8_t h[crypto_generichash_BYTES];
  if (ttb_reply_bearer(req, tok, sizeof tok))
    crypto_generichash(h, sizeof h, (const uint8_t *)tok, strlen(tok), NULL, 0);
  else
    randombytes_buf(h, sizeof h);
  sodium_memzero(tok, sizeof tok);
  return sodium_memcmp(h, app->metrics_hash, sizeof h) == 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
  ttb_app *app = ((handler *)self)->app;
  app->metrics.http_requests++;
  h2o_iovec_t p = req->path_normalized;
  bool post = is(req->method, "POST"), get = is(req->method, "GET") || is(req->method, "HEAD");
  if (((handler *)self)->metrics_only) {
    if (!is(p, "/metrics"))
      return ttb_reply_error(req, 404, "not_found", "This listener serves /metrics only.");
    return get ? reply_metrics(app, req) : ttb_reply_error(req, 405, "method", "Use GET.");
  }
  /* h2o's own limit lets an upload's 2 MiB through: every other body keeps --max-body */
  if (req->entity.base && req->entity.len > app->cfg.max_body && !is(p, "/me/sounds"))
    return ttb_reply_error(req, 413, "too_large", "The request body is too large.");
  if (is(p, "/me/sounds"))
    return ttb_usounds_handle(app->usounds, req);
  if (is(p, "/auth/login"))
    return post ? on_login(app, req) : ttb_reply_error(req, 405, "method", "Use POST.");
  if (is(p, "/auth/logout"))
    return post ? on_logout(app, req) : ttb_reply_error(req, 405, "method", "Use POST.");
  if (is(p, "/tts/generate"))
    return post ? on_tts(app, req) : ttb_reply_error(req, 405, "method", "Use POST.");
  if (is(p, "/ingest/events"))
    return post ? on_ingest(app, req) : ttb_reply_error(req, 405, "method", "Use POST.");
  if (is(p, "/me/tiktok")) {
    if (get || is(req->method, "PUT"))
      return on_me_tiktok(app, req, !get);
    return ttb_reply_error(req, 405, "method", "Use GET or PUT.");
  }
  if (is(p, "/healthz")) {
    if (!get)
      return ttb_reply_error(req, 405, "method", "Use GET.");
    ttb_reply(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
    return 0;
  }
  if (is(p, "/metrics")) {
    /* operator-only: nothing here for the public unless --metrics-token-file */
    if (!app->metrics_token)
      return ttb_reply_error(req, 404, "not_found", "No such endpoint.");
    if (!metrics_allowed(app, req))
      return ttb_reply_error(req, 401, "unauthorized",
                             "/metrics wants Authorization: Bearer <metrics token>.");
    return get ? reply_metrics(app, req) : ttb_reply_error(req, 405, "method", "Use GET.");
  }
  if (p.len > 4 && memcmp(p.base, "/ws/", 4) == 0)
    return get ? on_ws(app, req, 4)
               : ttb_reply_error(req, 405, "method", "Use GET (a WebSocket handshake).");
  /* the web app and the OBS overlay (web.h, overlay.h) */
  if (is(p, "/me/settings"))
    return ttb_settings_http(app->settings, req);
  if (is(p, "/me/overlay-tokens"))
    return ttb_overlay_tokens(app->svc, req);
  if (p.len > 12 && memcmp(p.base, "/overlay/ws/", 12) == 0)
    return get ? on_ws(app, req, 12)
               : ttb_reply_error(req, 405, "method", "Use GET (a WebSocket handshake).");
  if (ttb_web_serve(req) == 0)
    return 0;
  return ttb_reply_error(req, 404, "not_found", "No such endpoint.");
}

/* ------------------------------------------------------------------ timer */

/* Every few seconds: a handle that ttboost-admin changed reaches the connector. */
#define TIKTOK_SYNC_TICKS 5

static void check_license(ttb_channel *c, void *arg)
{
  ttb_app *app = arg;
  if (app->ticks % TIKTOK_SYNC_TICKS == 0)
    tiktok_sync(app, c, ttb_channel_sockets(c));
  ttb_svc_status st = ttb_svc_license(app->svc, ttb_channel_user(c));
  if (st == TTB_SVC_REVOKED || st == TTB_SVC_EXPIRED)
    ttb_channel_close_all(c, TTB_WS_REVOKED, st == TTB_SVC_REVOKED ? "revoked" : "expired",
                          st == TTB_SVC_REVOKED ? "The license has been revoked."
                                                : "The license has expired.");
}

static void close_login(void *arg, int64_t session_id)
{
  ttb_app *app = arg;
  app->metrics.sessions_ended_closes +=
      ttb_ws_close_login(session_id, TTB_WS_UNAUTHORIZED, "session_ended",
                         "This session was ended (logged out or revoked); log in again.");
}

/* Closes the sockets of sessions ended lately (logout, ttboost-admin
 * session revoke, possibly from another process): each tick asks for those
 * ended since the last ask, 2 s earlier for a clock that stepped. */
static void end_sessions(ttb_app *app)
{
  int64_t now = (int64_t)time(NULL);
  if (ttb_ws_count() > 0 &&
      ttb_svc_sessions_ended_since(app->svc, app->ended_check - 2, close_login, app) != 0)
    return; /* logged; asked again next tick */
  app->ended_check = now;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
  ttb_app *app = (ttb_app *)((char *)entry - offsetof(ttb_app, tick_entry));
  app->ticks++;
  ttb_svc_tick(app->svc);
  char err[256];
  if (app->trace && ttb_trace_writer_flush(app->trace, err, sizeof err) != 0)
    trace_stop(app, err);
  ttb_hub_each_live(app->hub, check_license, app);
  ttb_hub_free_idle(app->hub, (uint64_t)app->cfg.channel_idle_s * 1000u);
  end_sessions(app);
  ttb_dedup_sweep(app->dedup, dedup_ms());
  if (app->nats) {
    ttb_nats_tick(app->nats); /* (re)subscribes after a (re)connect; metrics */
    ttb_nats_poll(app->nats, on_nats_event, app);
  }
  if (app->lease)
    ttb_lease_poll(app->lease, on_lease_event, app); /* and its metrics */
  /* another process (or, with PostgreSQL, another server) changed the database */
  uint64_t gen = ttb_dbq_generation(ttb_svc_dbq(app->svc));
  if (gen != app->settings_gen) {
    app->settings_gen = gen;
    ttb_settings_reload(app->settings);
  }
  app_commit(app); /* the streaks' flushes; a commit that failed is retried */
  h2o_timeout_link(app->loop, &app->tick, &app->tick_entry);
}

/* ----------------------------------------------------------------- set up */

static int mkdir_p(const char *dir)
{
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *q = tmp + 1; *q; q++) {
    if (*q != '/')
      continue;
    *q = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return -1;
    *q = '/';
  }
  return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Reads the first line of path into out[cap] (the line end removed). */
static int read_secret_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  if (fgets(out, (int)cap, f) == NULL)
    out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\r\n")] = '\0';
  return 0;
}

/* The operator's ingest secret (any channel; docs/operations.md): from
 * --ingest-secret-file, else $TTBOOST_INGEST_SECRET (then removed from the
 * environment), else DATA/ingest_secret, made on first start (mode 0600).
 * It is never printed and never taken from argv; only its hash stays. */
static int ingest_secret(ttb_app *app, char *err, size_t errlen)
{
  char secret[160] = "";
  const char *env = getenv("TTBOOST_INGEST_SECRET");
  if (app->cfg.ingest_secret_file[0]) {
    if (read_secret_file(app->cfg.ingest_secret_file, secret, sizeof secret, err, errlen) != 0)
      return -1;
    if (secret[0] == '\0') {
      snprintf(err, errlen, "ingest-secret-file %s: empty", app->cfg.ingest_secret_file);
      return -1;
    }
  } else if (env != NULL && env[0] != '\0') {
    if (strlen(env) >= sizeof secret) {
      snprintf(err, errlen, "TTBOOST_INGEST_SECRET: longer than %zu bytes", sizeof secret - 1);
      return -1;
    }
    snprintf(secret, sizeof secret, "%s", env);
  } else {
    char path[600];
    snprintf(path, sizeof path, "%s/ingest_secret", app->cfg.data_dir);
    if (access(path, F_OK) == 0 && read_secret_file(path, secret, sizeof secret, err, errlen) != 0)
      return -1;
    if (secret[0] == '\0') {
      uint8_t raw[24];
      randombytes_buf(raw, sizeof raw);
      sodium_bin2base64(secret, sizeof secret, raw, sizeof raw,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
      sodium_memzero(raw, sizeof raw);
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || write(fd, secret, strlen(secret)) != (ssize_t)strlen(secret) ||
          close(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        sodium_memzero(secret, sizeof secret);
        return -1;
      }
      printf("ttboost-server: the operator's ingest secret was made and kept in %s (mode 0600)\n",
             path);
      fflush(stdout);
    }
  }
  /* what children or a core dump could see: nothing */
  unsetenv("TTBOOST_INGEST_SECRET");
  crypto_generichash(app->secret_hash, sizeof app->secret_hash, (const uint8_t *)secret,
                     strlen(secret), NULL, 0);
  sodium_memzero(secret, sizeof secret);
  return 0;
}

static void register_handler(h2o_hostconf_t *host, const char *path, ttb_app *app)
{
  h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
  handler *h = (handler *)h2o_create_handler(pc, sizeof *h);
  h->super.on_req = on_req;
  h->app = app;
}

static h2o_headers_command_t *immutable_cmds(void)
{
  static h2o_iovec_t cc_name = {H2O_STRLIT("cache-control")};
  static h2o_headers_command_t cmds[2];
  cmds[0] = (h2o_headers_command_t){
      H2O_HEADERS_CMD_SET, &cc_name, {H2O_STRLIT("public, max-age=31536000, immutable")}};
  cmds[1] = (h2o_headers_command_t){H2O_HEADERS_CMD_NULL, NULL, {NULL, 0}};
  return cmds;
}

/* /tts: speech not made yet is made and streamed (on_tts_file), the rest is files. */
static void register_tts_files(h2o_hostconf_t *host, const char *dir, h2o_mimemap_t *mm,
                               ttb_app *app)
{
  h2o_pathconf_t *pc = h2o_config_register_path(host, "/tts", 0);
  handler *h = (handler *)h2o_create_handler(pc, sizeof *h);
  h->super.on_req = on_tts_file;
  h->app = app;
  static const char *no_index[] = {NULL};
  h2o_file_register(pc, dir, no_index, mm, 0);
  h2o_headers_register(pc, immutable_cmds());
}

/* /sounds/<name>.ogg for each sound of the pack (every regular `<name>.ogg`
 * of the sounds directory, name in [A-Za-z0-9_-]), one path each: nothing
 * else of that directory is served (the "/" handler answers 404). */
static void register_sounds(h2o_hostconf_t *host, const char *dir, h2o_mimemap_t *mm)
{
  h2o_mimemap_type_t *ogg =
      h2o_mimemap_get_type_by_extension(mm, h2o_iovec_init(H2O_STRLIT("ogg")));
  DIR *d = opendir(dir);
  if (d == NULL)
    return; /* the sounds were checked at load; nothing to serve */
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    if (n <= 4 || n > 64 || strcmp(de->d_name + n - 4, ".ogg") != 0)
      continue;
    bool ok = true;
    for (size_t i = 0; i < n - 4 && ok; i++) {
      char c = de->d_name[i];
      ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
    }
    char path[128], file[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "/sounds/%s", de->d_name);
    if (!ok || (size_t)snprintf(file, sizeof file, "%s/%s", dir, de->d_name) >= sizeof file ||
        stat(file, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    h2o_file_register_file(pc, file, ogg, 0);
    h2o_headers_register(pc, immutable_cmds());
  }
  closedir(d);
}

/* /sounds/u-<id>.ogg: the streamer's own sounds (usersounds.h), files
 * that come and go while the server runs; any other name under /sounds that
 * no pack path took is a 404. */
static int on_user_sound_file(h2o_handler_t *self, h2o_req_t *req)
{
  (void)self;
  h2o_iovec_t p = req->path_normalized;
  char name[40];
  int64_t id;
  bool ok = p.len > 12 && p.len - 8 < sizeof name && memcmp(p.base, "/sounds/", 8) == 0 &&
            memcmp(p.base + p.len - 4, ".ogg", 4) == 0;
  if (ok) {
    memcpy(name, p.base + 8, p.len - 12);
    name[p.len - 12] = '\0';
    ok = ttb_usounds_parse_id(name, &id);
  }
  if (!ok)
    return ttb_reply_error(req, 404, "not_found", "No such sound.");
  return -1; /* the file handler's answer (the file, 404, 405) */
}

static void register_user_sounds(h2o_hostconf_t *host, const char *dir, h2o_mimemap_t *mm,
                                 ttb_app *app)
{
  static h2o_iovec_t cc_name = {H2O_STRLIT("cache-control")};
  static h2o_headers_command_t cmds[2];
  /* a deleted sound must stop playing: clients revalidate (ETag) */
  cmds[0] = (h2o_headers_command_t){H2O_HEADERS_CMD_SET, &cc_name, {H2O_STRLIT("no-cache")}};
  cmds[1] = (h2o_headers_command_t){H2O_HEADERS_CMD_NULL, NULL, {NULL, 0}};
  h2o_pathconf_t *pc = h2o_config_register_path(host, "/sounds", 0);
  handler *h = (handler *)h2o_create_handler(pc, sizeof *h);
  h->super.on_req = on_user_sound_file;
  h->app = app;
  static const char *no_index[] = {NULL};
  h2o_file_register(pc, dir, no_index, mm, 0);
  h2o_headers_register(pc, cmds);
}

/* Listens on HOST:PORT (the --metrics-listen listener); the fd, or -1 with err. */
static int listen_tcp(const char *hostport, uint16_t *bound, char *err, size_t errlen)
{
  char host[80];
  snprintf(host, sizeof host, "%s", hostport);
  char *colon = strrchr(host, ':');
  if (colon == NULL || colon == host) {
    snprintf(err, errlen, "metrics-listen: expected HOST:PORT, got '%s'", hostport);
    return -1;
  }
  *colon = '\0';
  const char *port = colon + 1;
  if (host[0] == '[' && colon[-1] == ']') { /* [::1]:9100 */
    colon[-1] = '\0';
    memmove(host, host + 1, strlen(host));
  }
  return ttb_listen_tcp("metrics-listen", host, port, 64, bound, err, errlen);
}

static void on_metrics_accept(h2o_socket_t *listener, const char *err)
{
  ttb_app *app = listener->data;
  if (err != NULL)
    return;
  h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
  if (sock != NULL)
    h2o_accept(&app->metrics_accept_ctx, sock);
}

/* The metrics token: the first line of --metrics-token-file, kept hashed. */
static int metrics_token(ttb_app *app, char *err, size_t errlen)
{
  FILE *f = fopen(app->cfg.metrics_token_file, "r");
  if (f == NULL) {
    snprintf(err, errlen, "metrics-token-file %s: %s", app->cfg.metrics_token_file,
             strerror(errno));
    return -1;
  }
  char tok[160] = "";
  if (fgets(tok, sizeof tok, f) == NULL)
    tok[0] = '\0';
  fclose(f);
  tok[strcspn(tok, "\r\n")] = '\0';
  size_t n = strlen(tok);
  if (n < 16) {
    sodium_memzero(tok, sizeof tok);
    snprintf(err, errlen,
             "metrics-token-file %s: the token on its first line is shorter than 16 characters",
             app->cfg.metrics_token_file);
    return -1;
  }
  crypto_generichash(app->metrics_hash, sizeof app->metrics_hash, (const uint8_t *)tok, n, NULL, 0);
  sodium_memzero(tok, sizeof tok);
  app->metrics_token = true;
  return 0;
}

ttb_app *ttb_app_create(const ttb_config *cfg, const char *argv0, SSL_CTX *ssl, char *err,
                        size_t errlen)
{
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium failed to initialise");
    return NULL;
  }
  ttb_app *app = calloc(1, sizeof *app);
  if (app)
    app->jwake[0] = app->jwake[1] = -1;
  if (app == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  app->cfg = *cfg;
  app->nwake[0] = app->nwake[1] = -1;
  app->lwake[0] = app->lwake[1] = -1;
  app->rate = calloc(RATE_SLOTS, sizeof *app->rate);
  app->tts_buckets = calloc(TTS_BUCKETS, sizeof *app->tts_buckets);
  app->metrics.limit_sockets_per_device = cfg->sockets_per_device;
  app->metrics.limit_max_sockets_per_license = cfg->max_sockets_per_license;
  app->metrics.limit_tts_burst = cfg->tts_burst;
  app->metrics.limit_channel_idle_s = cfg->channel_idle_s;
  app->metrics.limit_tts_per_min = cfg->tts_per_min;
  app->metrics.limit_history = cfg->history;
  app->metrics.limit_login_max_failures = cfg->login_max_failures;
  app->metrics.limit_login_window_s = cfg->login_window_s;
  app->metrics.limit_max_queued_msgs = cfg->max_queued_msgs;
  app->metrics.limit_max_queued_bytes = cfg->max_queued_bytes;
  app->metrics.limit_max_body = cfg->max_body;
  if (app->rate == NULL || app->tts_buckets == NULL || mkdir_p(cfg->data_dir) != 0) {
    snprintf(err, errlen, "cannot create the data dir %s: %s", cfg->data_dir, strerror(errno));
    goto fail;
  }
  if (ingest_secret(app, err, errlen) != 0)
    goto fail;
  app->loop = h2o_evloop_create();
  app->svc = ttb_svc_open(cfg, argv0, app->loop, &app->metrics, err, errlen);
  if (app->svc == NULL)
    goto fail;
  app->hub = ttb_hub_create(cfg->history, &app->metrics);
  if (app->hub == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  ttb_svc_set_hub(app->svc, app->hub, cfg->public_url); /* the gift stage's output */
  app->settings = ttb_settings_new(app->svc, cfg->public_url, cfg->data_dir, &app->metrics);
  if (app->settings == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  app->settings_gen = ttb_dbq_generation(ttb_svc_dbq(app->svc));
  ttb_svc_set_gift_url(app->svc, settings_gift_url, app->settings);
  app->usounds =
      ttb_usounds_create(app->svc, app->loop, cfg->data_dir, cfg->public_url, err, errlen);
  if (app->usounds == NULL)
    goto fail;
  app->dedup = ttb_dedup_create((uint64_t)cfg->ingest_dedup_s * 1000u, cfg->ingest_dedup_max);
  if (app->dedup == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (cfg->nats[0]) {
    /* the stream is the journal: seqs, history and dedup live in JetStream */
    if (nats_start(app, err, errlen) != 0)
      goto fail;
  } else if (cfg->journal && journal_start(app, err, errlen) != 0) { /* after the dedup */
    goto fail;
  }
  app->ended_check = (int64_t)time(NULL);
  if (cfg->tiktok) {
    ttb_tiktok_opts o;
    ttb_tiktok_opts_defaults(&o);
    snprintf(o.web, sizeof o.web, "%s", cfg->tiktok_web);
    snprintf(o.ws, sizeof o.ws, "%s", cfg->tiktok_ws);
    snprintf(o.trace_dir, sizeof o.trace_dir, "%s", cfg->tiktok_trace);
    o.lookup_ms = cfg->tiktok_lookup_s * 1000u;
    o.linger_ms = cfg->tiktok_linger_s * 1000u;
    o.heartbeat_ms = cfg->tiktok_heartbeat_s * 1000u;
    o.dead_ms = cfg->tiktok_dead_s * 1000u;
    o.backoff_cap_ms = cfg->tiktok_backoff_cap_s * 1000u;
    o.gated = app->nats != NULL; /* with --nats: while this node holds the channel's lease */
    ttb_tiktok_sink sink = {
        app,           on_tiktok_chat, on_tiktok_gift, on_tiktok_status, on_tiktok_gift_value,
        on_tiktok_want};
    if (app->nats && lease_start(app, err, errlen) != 0)
      goto fail;
    app->tiktok = ttb_tiktok_create(app->loop, &o, &sink, &app->metrics, err, errlen);
    if (app->tiktok == NULL)
      goto fail;
  }
  ttb_hub_set_watch(app->hub, on_channel_sockets, app);
  if (cfg->trace_ingest[0] && ttb_trace_writer_open(cfg->trace_ingest, "ttboost-server",
                                                    "ingest events accepted by the server", true,
                                                    &app->trace, err, errlen) != 0)
    goto fail;

  h2o_config_init(&app->config);
  /* an upload (/me/sounds) may have 2 MiB; on_req holds the rest to --max-body */
  app->config.max_request_entity_size =
      cfg->max_body > TTB_SNDCONV_MAX_BYTES ? cfg->max_body : TTB_SNDCONV_MAX_BYTES;
  h2o_hostconf_t *host =
      h2o_config_register_host(&app->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_mimemap_t *mm = h2o_mimemap_create();
  h2o_mimemap_define_mimetype(mm, "ogg", "audio/ogg", NULL);
  /* first match wins: the endpoint before the directory that shares its prefix */
  register_handler(host, "/tts/generate", app);
  register_tts_files(host, ttb_svc_tts_dir(app->svc), mm, app);
  register_sounds(host, ttb_svc_sounds_dir(app->svc), mm);
  register_user_sounds(host, ttb_usounds_dir(app->usounds), mm, app);
  register_handler(host, "/", app);
  h2o_mem_release_shared(mm);
  app->hosts_main[0] = host;
  if (cfg->metrics_token_file[0] && metrics_token(app, err, errlen) != 0)
    goto fail_config;
  int mfd = -1;
  if (cfg->metrics_listen[0]) {
    /* a host of its own: the main port's requests never reach it, whatever their Host */
    h2o_hostconf_t *mh =
        h2o_config_register_host(&app->config, h2o_iovec_init(H2O_STRLIT("metrics")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(mh, "/", 0);
    handler *h = (handler *)h2o_create_handler(pc, sizeof *h);
    h->super.on_req = on_req;
    h->app = app;
    h->metrics_only = true;
    app->hosts_metrics[0] = mh;
    uint16_t mport = 0;
    mfd = listen_tcp(cfg->metrics_listen, &mport, err, errlen);
    if (mfd < 0)
      goto fail_config;
    char mhost[80];
    snprintf(mhost, sizeof mhost, "%s", cfg->metrics_listen);
    *strrchr(mhost, ':') = '\0';
    printf("ttboost-server: metrics on http://%s:%u/metrics\n", mhost, mport);
    fflush(stdout);
  }

  h2o_context_init(&app->ctx, app->loop, &app->config);
  app->accept_ctx.ctx = &app->ctx;
  app->accept_ctx.hosts = app->hosts_main;
  app->accept_ctx.ssl_ctx = ssl;
  if (mfd >= 0) {
    app->metrics_accept_ctx.ctx = &app->ctx;
    app->metrics_accept_ctx.hosts = app->hosts_metrics;
    app->metrics_listener = h2o_evloop_socket_create(app->loop, mfd, H2O_SOCKET_FLAG_DONT_READ);
    app->metrics_listener->data = app;
    h2o_socket_read_start(app->metrics_listener, on_metrics_accept);
  }

  ttb_ws_limits lim = {cfg->heartbeat_ms, cfg->max_queued_msgs, cfg->max_queued_bytes, 64 * 1024};
  ttb_ws_init(app->loop, &lim, &app->metrics);
  ttb_ws_set_on_close(on_ws_close, app);
  ttb_ws_set_on_speech_wanted(on_speech_wanted, app);
  ttb_hub_set_speech_wanted(app->hub, true);
  h2o_timeout_init(app->loop, &app->tick, 1000);
  app->tick_entry.cb = on_tick;
  h2o_timeout_link(app->loop, &app->tick, &app->tick_entry);
  (void)argv0;
  return app;

fail_config:
  h2o_config_dispose(&app->config);
fail:
  ttb_trace_writer_close(app->trace, NULL, 0);
  ttb_tiktok_destroy(app->tiktok);
  lease_close(app);
  if (app->journal) {
    ttb_hub_set_journal(app->hub, NULL, NULL, NULL);
    if (h2o_timeout_is_linked(&app->commit_entry))
      h2o_timeout_unlink(&app->commit_entry);
  }
  nats_close(app);
  ttb_svc_close(app->svc); /* runs the speech callbacks of restored chats: the hub is there */
  ttb_settings_free(app->settings);
  ttb_usounds_destroy(app->usounds); /* after the database's last callbacks */
  ttb_hub_destroy(app->hub);
  ttb_journal_close(app->journal);
  journal_wake_close(app);
  ttb_dedup_free(app->dedup);
  free(app->rate);
  free(app->tts_buckets);
  free(app);
  return NULL;
}

void ttb_app_destroy(ttb_app *app)
{
  if (app == NULL)
    return;
  if (h2o_timeout_is_linked(&app->tick_entry))
    h2o_timeout_unlink(&app->tick_entry);
  app_flush(app);
  if (h2o_timeout_is_linked(&app->commit_entry))
    h2o_timeout_unlink(&app->commit_entry);
  /* from here, what is published (speech that completes now) is not journaled */
  ttb_hub_set_journal(app->hub, NULL, NULL, NULL);
  if (app->metrics_listener) {
    h2o_socket_read_stop(app->metrics_listener);
    h2o_socket_close(app->metrics_listener);
  }
  char terr[256];
  if (ttb_trace_writer_close(app->trace, terr, sizeof terr) != 0)
    fprintf(stderr, "ttboost-server: trace-ingest: %s\n", terr);
  /* the connector's workers stop before what their events would reach */
  ttb_hub_set_watch(app->hub, NULL, NULL);
  ttb_tiktok_destroy(app->tiktok);
  lease_close(app); /* the leases released, with the connectors stopped */
  nats_close(app);
  ttb_svc_close(app->svc);
  ttb_settings_free(app->settings);  /* after the database thread's last callbacks */
  ttb_usounds_destroy(app->usounds); /* after the database's last callbacks */
  ttb_hub_destroy(app->hub);
  ttb_journal_close(app->journal); /* stops its thread */
  journal_wake_close(app);
  ttb_dedup_free(app->dedup);
  h2o_context_dispose(&app->ctx);
  h2o_config_dispose(&app->config);
  free(app->rate);
  free(app->tts_buckets);
  free(app);
}

h2o_evloop_t *ttb_app_loop(ttb_app *app) { return app->loop; }
h2o_accept_ctx_t *ttb_app_accept_ctx(ttb_app *app) { return &app->accept_ctx; }
void ttb_app_request_stop(ttb_app *app) { app->stopping = true; }
bool ttb_app_stopping(const ttb_app *app) { return app->stopping; }
/* HTTP/1.1 connections waiting for a request (a browser's keep-alive
 * ones): h2o cannot dispose of its context while their timeouts are
 * linked (it aborts). */
static size_t http_open(const ttb_app *app)
{
  return h2o_linklist_is_empty((h2o_linklist_t *)&app->ctx.http1.req_timeout._entries) ? 0 : 1;
}

size_t ttb_app_shutdown_sockets(ttb_app *app)
{
  app_flush(app); /* what waited for the journal goes out before the 1001 */
  /* idle keep-alive connections time out at the loop's next turn, not in 10 s */
  app->ctx.http1.req_timeout.timeout = 0;
  return ttb_ws_shutdown_all() + http_open(app);
}
size_t ttb_app_open_sockets(const ttb_app *app) { return ttb_ws_count() + http_open(app); }
