/*
 * svc.c — adapts the store, the TTS worker, the Ogg packet reader, the
 * sounds map and the streak rule to the narrow interface of svc.h.
 */
#define _XOPEN_SOURCE 700
#include "svc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dbq.h"
#include "oggpk.h"
#include "sounds.h"
#include "store.h"
#include "streak.h"
#include "tts.h"

/* Sessions last this long after login; the app logs in again after. */
#define SESSION_DAYS 30
/* A streak whose end never came is published after this much silence. */
#define STREAK_IDLE_MS 3000
#define STREAK_MAX_OPEN 65536
/* More packets than this in one TTS file is not speech we made. */
#define MAX_PACKETS 20000

struct ttb_svc {
  ttb_dbq *dbq; /* the database thread: licenses, sessions, logins (dbq.h) */
  ttb_tts *tts;
  ttb_sounds *sounds;
  ttb_streaks *streaks;
  ttb_metrics *metrics;
  h2o_socket_t *tts_sock;
  ttb_hub *hub;                /* where gift events go (ttb_svc_set_hub) */
  char public_url[256];        /* the base of their sound URLs */
  ttb_svc_gift_sink gift_sink; /* when set, gift events go there instead (--nats) */
  void *gift_sink_arg;
  ttb_svc_gift_url_fn gift_url; /* the channel's gift rules (settings.h); NULL = none */
  void *gift_url_arg;
};

/* A synthesis that ran on a worker ended. */
static void on_tts_end(void *arg, bool ok, double seconds)
{
  ttb_metrics *m = arg;
  if (!ok) {
    m->tts_failures++;
  } else {
    m->tts_syntheses++;
    ttb_metrics_tts_latency(m, seconds);
  }
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int is_dir(const char *p)
{
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The gift sounds: the configured dir, else beside the binary (installed:
 * ../share/ttboost/sounds; build tree: tools/ where make-sounds wrote them). */
static int find_sounds_dir(const ttb_config *cfg, const char *argv0, char *out, size_t cap)
{
  if (cfg->sounds_dir[0]) {
    snprintf(out, cap, "%s", cfg->sounds_dir);
    return is_dir(out) ? 0 : -1;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    exe[n] = '\0';
  else if (argv0 == NULL || realpath(argv0, exe) == NULL)
    snprintf(exe, sizeof exe, "./ttboost-server");
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(exe, sizeof exe, ".");
  static const char *const rel[] = {"sounds", "tools", "../share/ttboost/sounds"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    char cand[PATH_MAX + 64];
    snprintf(cand, sizeof cand, "%s/%s/default.ogg", exe, rel[i]);
    if (access(cand, R_OK) == 0) {
      int r = snprintf(out, cap, "%s/%s", exe, rel[i]);
      return r > 0 && (size_t)r < cap ? 0 : -1;
    }
  }
  if (snprintf(out, cap, "%s/sounds", exe) < 0)
    out[0] = '\0';
  return -1;
}

/* The speech workers' descriptor (an epoll set) became readable: read them
 * and run the callbacks. h2o reads nothing of it (DONT_READ). */
static void on_tts_ready(h2o_socket_t *sock, const char *err)
{
  ttb_svc *s = sock->data;
  if (err != NULL) {
    fprintf(stderr, "ttboost-server: tts completion pipe: %s\n", err);
    return;
  }
  if (sock->input)
    h2o_buffer_consume(&sock->input, sock->input->size);
  ttb_tts_dispatch(s->tts);
}

ttb_svc *ttb_svc_open(const ttb_config *cfg, const char *argv0, h2o_evloop_t *loop, ttb_metrics *m,
                      char *err, size_t errlen)
{
  ttb_svc *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->metrics = m;
  ttb_store *dbs = NULL;
  if (ttb_store_open_db(cfg->db, cfg->data_dir, &dbs, err, errlen) != 0)
    goto fail;
  s->dbq = ttb_dbq_open(dbs, loop, m, err, errlen);
  if (s->dbq == NULL) {
    ttb_store_close(dbs);
    goto fail;
  }

  char dir[PATH_MAX];
  if (find_sounds_dir(cfg, argv0, dir, sizeof dir) != 0) {
    snprintf(err, errlen,
             "no gift sounds in %s (set sounds-dir, or build the server so that make-sounds runs)",
             dir);
    goto fail;
  }
  s->sounds = ttb_sounds_load(dir, cfg->sounds_map, err, errlen);
  if (s->sounds == NULL)
    goto fail;

  s->streaks = ttb_streaks_create(STREAK_IDLE_MS, STREAK_MAX_OPEN);
  if (s->streaks == NULL) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }

  char cache[PATH_MAX];
  if ((size_t)snprintf(cache, sizeof cache, "%s/tts", cfg->data_dir) >= sizeof cache) {
    snprintf(err, errlen, "data dir path too long");
    goto fail;
  }
  ttb_tts_config tc = {
      .cache_dir = cache,
      .cache_max_bytes = cfg->tts_cache_mb * 1024u * 1024u,
      .queue_max = 4096,
      .max_text_bytes = 600,
      .bitrate = 32000,
      .workers = cfg->tts_workers,
      .deadline_ms = cfg->tts_deadline_ms,
      .backlog = cfg->tts_backlog,
      .remember = 16384,
      .on_end = on_tts_end,
      .on_end_arg = m,
  };
  /* --tts-remote and --tts-serve: the worker program in its NATS modes */
  char wait_ms[16];
  snprintf(wait_ms, sizeof wait_ms, "%u",
           (unsigned)(cfg->tts_deadline_ms > 1000 ? cfg->tts_deadline_ms - 500
                                                  : cfg->tts_deadline_ms / 2));
  const char *remote_args[12], *serve_args[12];
  size_t nr = 0, ns = 0;
  remote_args[nr++] = "--relay-nats";
  remote_args[nr++] = cfg->nats;
  serve_args[ns++] = "--nats";
  serve_args[ns++] = cfg->nats;
  serve_args[ns++] = "--child";
  if (cfg->nats_creds[0]) {
    remote_args[nr++] = serve_args[ns++] = "--nats-creds";
    remote_args[nr++] = serve_args[ns++] = cfg->nats_creds;
  }
  if (cfg->nats_tls_ca[0]) {
    remote_args[nr++] = serve_args[ns++] = "--nats-tls-ca";
    remote_args[nr++] = serve_args[ns++] = cfg->nats_tls_ca;
  }
  remote_args[nr++] = "--wait-ms";
  remote_args[nr++] = wait_ms;
  remote_args[nr] = serve_args[ns] = NULL;
  if (cfg->nats[0]) {
    tc.remote = cfg->tts_remote;
    tc.remote_args = remote_args;
    tc.serve = cfg->tts_serve;
    tc.serve_args = serve_args;
  }
  s->tts = ttb_tts_start(&tc, err, errlen);
  if (s->tts == NULL)
    goto fail;
  s->tts_sock = h2o_evloop_socket_create(loop, ttb_tts_fd(s->tts), H2O_SOCKET_FLAG_DONT_READ);
  if (s->tts_sock == NULL) {
    snprintf(err, errlen, "cannot watch the speech workers");
    goto fail;
  }
  s->tts_sock->data = s;
  h2o_socket_read_start(s->tts_sock, on_tts_ready);
  return s;

fail:
  ttb_svc_close(s);
  return NULL;
}

void ttb_svc_close(ttb_svc *s)
{
  if (s == NULL)
    return;
  if (s->tts_sock) {
    /* the pipe's fd belongs to the TTS module: export it back, then let go */
    h2o_socket_read_stop(s->tts_sock);
    h2o_socket_export_t info;
    if (h2o_socket_export(s->tts_sock, &info) == 0) {
      h2o_buffer_dispose(&info.input);
    }
    s->tts_sock = NULL;
  }
  ttb_tts_stop(s->tts);  /* runs the callbacks of unfinished requests */
  ttb_dbq_close(s->dbq); /* and so does this */
  ttb_streaks_free(s->streaks);
  ttb_sounds_free(s->sounds);
  free(s);
}

/* A store status as the service's (errors were logged where they happened). */
static ttb_svc_status of_store(ttb_store_status s)
{
  switch (s) {
  case TTB_STORE_OK:
    return TTB_SVC_OK;
  case TTB_STORE_UNKNOWN:
    return TTB_SVC_UNKNOWN;
  case TTB_STORE_EXPIRED:
    return TTB_SVC_EXPIRED;
  case TTB_STORE_REVOKED:
    return TTB_SVC_REVOKED;
  case TTB_STORE_DEVICE_LIMIT:
    return TTB_SVC_DEVICE_LIMIT;
  default:
    return TTB_SVC_FAILED;
  }
}

typedef struct login_req {
  ttb_svc_login_cb cb;
  void *arg;
} login_req;

static void on_login_done(void *arg, ttb_store_status st, const char *user_id, const char *token)
{
  login_req r = *(login_req *)arg;
  free(arg);
  r.cb(r.arg, of_store(st), user_id, token);
}

void ttb_svc_login_async(ttb_svc *s, const char *key, const char *device_id, ttb_svc_login_cb cb,
                         void *arg)
{
  login_req *r = malloc(sizeof *r);
  if (r == NULL) {
    cb(arg, TTB_SVC_FAILED, "", "");
    return;
  }
  *r = (login_req){cb, arg};
  ttb_dbq_login(s->dbq, key, device_id ? device_id : "", SESSION_DAYS, on_login_done, r);
}

typedef struct session_req {
  ttb_svc_session_cb cb;
  void *arg;
} session_req;

static void on_session_done(void *arg, ttb_store_status st, const char *user_id, int64_t session_id)
{
  session_req r = *(session_req *)arg;
  free(arg);
  r.cb(r.arg, of_store(st), user_id, session_id);
}

void ttb_svc_session_async(ttb_svc *s, const char *token, ttb_svc_session_cb cb, void *arg)
{
  session_req *r = malloc(sizeof *r);
  if (r == NULL) {
    cb(arg, TTB_SVC_FAILED, "", 0);
    return;
  }
  *r = (session_req){cb, arg};
  ttb_dbq_session(s->dbq, token, on_session_done, r);
}

void ttb_svc_session_forget(ttb_svc *s, const char *token) { ttb_dbq_forget(s->dbq, token); }

struct ttb_dbq *ttb_svc_dbq(ttb_svc *s) { return s->dbq; }

typedef struct channel_req {
  ttb_svc_channel_cb cb;
  void *arg;
} channel_req;

static void on_channel_done(void *arg, ttb_store_status st, const char *channel, int64_t id)
{
  channel_req r = *(channel_req *)arg;
  free(arg);
  (void)id;
  r.cb(r.arg, of_store(st), channel);
}

void ttb_svc_ingest_token_async(ttb_svc *s, const char *token, ttb_svc_channel_cb cb, void *arg)
{
  channel_req *r = malloc(sizeof *r);
  if (r == NULL) {
    cb(arg, TTB_SVC_FAILED, "");
    return;
  }
  *r = (channel_req){cb, arg};
  ttb_dbq_ingest_token(s->dbq, token, on_channel_done, r);
}

ttb_svc_status ttb_svc_tiktok_get(ttb_svc *s, const char *user_id, char out[32])
{
  return of_store(ttb_dbq_tiktok(s->dbq, user_id, out));
}

typedef struct done_req {
  ttb_svc_done_cb cb;
  void *arg;
} done_req;

static void on_set_done(void *arg, ttb_store_status st)
{
  done_req r = *(done_req *)arg;
  free(arg);
  r.cb(r.arg, of_store(st));
}

void ttb_svc_logout_async(ttb_svc *s, const char *token, ttb_svc_done_cb cb, void *arg)
{
  done_req *r = malloc(sizeof *r);
  if (r == NULL) {
    cb(arg, TTB_SVC_FAILED);
    return;
  }
  *r = (done_req){cb, arg};
  ttb_dbq_logout(s->dbq, token, on_set_done, r);
}

void ttb_svc_tiktok_set_async(ttb_svc *s, const char *user_id, const char *handle,
                              ttb_svc_done_cb cb, void *arg)
{
  done_req *r = malloc(sizeof *r);
  if (r == NULL) {
    cb(arg, TTB_SVC_FAILED);
    return;
  }
  *r = (done_req){cb, arg};
  ttb_dbq_tiktok_set(s->dbq, user_id, handle, on_set_done, r);
}

uint32_t ttb_svc_max_devices(ttb_svc *s, const char *user_id)
{
  return ttb_dbq_max_devices(s->dbq, user_id);
}

void ttb_svc_sync_async(ttb_svc *s, ttb_svc_done_cb cb, void *arg)
{
  done_req *r = malloc(sizeof *r);
  if (r == NULL) {
    cb(arg, TTB_SVC_FAILED);
    return;
  }
  *r = (done_req){cb, arg};
  ttb_dbq_sync(s->dbq, on_set_done, r);
}

ttb_svc_status ttb_svc_license(ttb_svc *s, const char *user_id)
{
  return of_store(ttb_dbq_license(s->dbq, user_id, (int64_t)time(NULL)));
}

int ttb_svc_sessions_ended_since(ttb_svc *s, int64_t since,
                                 void (*fn)(void *arg, int64_t session_id), void *arg)
{
  /* on the database thread: what the previous call's look-up found now,
   * this one's at the next call (the caller's 2 s overlap covers the gap) */
  return ttb_dbq_ended(s->dbq, since, fn, arg);
}

ttb_tts *ttb_svc_speech(ttb_svc *s) { return s->tts; }

void ttb_svc_tts_metrics(ttb_svc *s)
{
  ttb_tts_stats st;
  ttb_tts_get_stats(s->tts, &st);
  ttb_metrics *m = s->metrics;
  m->tts_deadline_kills = st.deadline_kills;
  m->tts_worker_restarts = st.worker_restarts;
  m->tts_backlog_dropped = st.backlog_dropped;
  m->tts_waiting = st.waiting;
  m->tts_running = st.running;
  m->tts_workers = st.workers;
  m->tts_remote_jobs = st.remote_jobs;
  m->tts_serving = st.serving;
}

int ttb_svc_packets(ttb_svc *s, const char *path, ttb_audio_info *info, ttb_packet **packets,
                    size_t *n)
{
  (void)s;
  char err[160];
  if (ttb_oggpk_read(path, MAX_PACKETS, info, packets, n, err, sizeof err) != 0) {
    fprintf(stderr, "ttboost-server: audio frames: %s\n", err);
    *packets = NULL;
    *n = 0;
    return -1;
  }
  return 0;
}

void ttb_svc_packets_free(ttb_packet *packets, size_t n)
{
  (void)n;
  free(packets);
}

const char *ttb_svc_sound(ttb_svc *s, const char *gift_name)
{
  return ttb_sounds_for(s->sounds, gift_name);
}

/* The streak rule's output: a gift event, into its channel (with its sound's URL). */
static void gift_out(void *arg, const char *channel, const char *user, const char *gift_name,
                     uint32_t count)
{
  ttb_svc *s = arg;
  char url[512], ruled[512];
  snprintf(url, sizeof url, "%s/sounds/%s.ogg", s->public_url, ttb_svc_sound(s, gift_name));
  if (s->gift_url) { /* the channel's gift rules, on every node's path alike */
    s->gift_url(s->gift_url_arg, channel, gift_name, url, ruled, sizeof ruled);
    memcpy(url, ruled, sizeof url);
  }
  if (s->gift_sink) {
    s->gift_sink(s->gift_sink_arg, channel, user, gift_name, count, url);
    return;
  }
  if (s->hub == NULL)
    return;
  ttb_channel *c = ttb_hub_channel(s->hub, channel, true);
  if (c == NULL)
    return;
  if (ttb_hub_gift(c, gift_name, count, url, user) != 0)
    fprintf(stderr, "ttboost-server: a gift was lost: out of memory\n");
}

void ttb_svc_set_hub(ttb_svc *s, ttb_hub *hub, const char *public_url)
{
  s->hub = hub;
  snprintf(s->public_url, sizeof s->public_url, "%s", public_url);
}

void ttb_svc_set_gift_sink(ttb_svc *s, ttb_svc_gift_sink fn, void *arg)
{
  s->gift_sink = fn;
  s->gift_sink_arg = arg;
}

void ttb_svc_set_gift_url(ttb_svc *s, ttb_svc_gift_url_fn fn, void *arg)
{
  s->gift_url = fn;
  s->gift_url_arg = arg;
}

void ttb_svc_gift(ttb_svc *s, const char *channel, const char *user, const char *user_id,
                  const char *gift_name, uint64_t gift_id, uint32_t count, uint32_t repeat_count,
                  bool repeat_end)
{
  ttb_streaks_feed(s->streaks, now_ms(), channel, user, user_id, gift_name, gift_id, count,
                   repeat_count, repeat_end, gift_out, s);
}

void ttb_svc_tick(ttb_svc *s) { ttb_streaks_tick(s->streaks, now_ms(), gift_out, s); }

uint64_t ttb_svc_streaks_generation(ttb_svc *s) { return ttb_streaks_generation(s->streaks); }

int ttb_svc_streaks_save(ttb_svc *s, uint8_t **out, size_t *len)
{
  return ttb_streaks_save(s->streaks, now_ms(), out, len);
}

int ttb_svc_streaks_load(ttb_svc *s, const uint8_t *data, size_t len)
{
  return ttb_streaks_load(s->streaks, now_ms(), data, len);
}

const char *ttb_svc_tts_dir(const ttb_svc *s) { return ttb_tts_dir(s->tts); }
const char *ttb_svc_sounds_dir(const ttb_svc *s) { return ttb_sounds_dir(s->sounds); }
