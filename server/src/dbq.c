/* The database thread, the license snapshot and the session cache: see dbq.h. */
#define _XOPEN_SOURCE 700
#include "dbq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "wake.h"

#define SESSION_SLOTS 8192
#define SESSION_PROBES 8
#define REFRESH_MS 1000

/* One license of the snapshot. */
typedef struct lic {
  char user[TTB_STORE_UUID_MAX];
  ttb_license_info info;
} lic;

typedef struct snapshot {
  lic *v; /* sorted by user */
  size_t n;
} snapshot;

/* A cached session answer, known by a hash of its token. */
typedef struct sess {
  uint8_t key[16]; /* all zero: free */
  ttb_store_status st;
  char user[TTB_STORE_UUID_MAX];
  int64_t session_id;
  uint64_t at_ms;
} sess;

enum {
  JOB_SNAPSHOT,
  JOB_SESSION,
  JOB_INGEST_TOKEN,
  JOB_LOGIN,
  JOB_LOGOUT,
  JOB_TIKTOK_SET,
  JOB_ENDED,
  JOB_CALL
};

typedef struct job {
  struct job *next;
  int kind;
  /* in */
  char a[132]; /* token, key or user_id */
  char b[132]; /* device_id or handle */
  uint32_t days;
  bool force;    /* JOB_SNAPSHOT: reload even when data_version did not move */
  bool periodic; /* JOB_SNAPSHOT: the once-a-second one (else a caller waits, cb) */
  /* out */
  ttb_store_status st;
  char user[TTB_STORE_UUID_MAX];
  char token[TTB_STORE_UUID_MAX];
  int64_t session_id;
  snapshot *snap; /* JOB_SNAPSHOT: the new one, NULL when unchanged or failed */
  int64_t *ids;   /* JOB_ENDED: the sessions ended since `since` */
  size_t nids, capids;
  int64_t since;
  bool failed;
  /* completion */
  void (*cb)(void);
  void *arg;
  ttb_store_status (*fn)(ttb_store *store, void *arg); /* JOB_CALL */
} job;

struct ttb_dbq {
  /* loop side */
  h2o_evloop_t *loop;
  ttb_metrics *m;
  h2o_socket_t *wake_sock;
  h2o_timeout_t refresh_to;
  h2o_timeout_entry_t refresh_entry;
  bool snapshot_pending;
  bool force_next;
  snapshot *snap;
  uint64_t generation; /* snapshots loaded (ttb_dbq_generation) */
  sess *sessions;
  int64_t *ended; /* the last JOB_ENDED's answer, not yet handed out */
  size_t nended;
  bool ended_ready, ended_pending;
  /* shared, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *in_head, *in_tail;
  job *out_head, *out_tail;
  bool stop;
  /* thread side */
  ttb_store *store;
  int64_t data_version;
  pthread_t thread;
  bool started;
  int wake[2];
};

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------- snapshot */

static void snapshot_free(snapshot *s)
{
  if (s == NULL)
    return;
  free(s->v);
  free(s);
}

typedef struct collect {
  lic *v;
  size_t n, cap;
  bool oom;
} collect;

static int collect_one(void *arg, const ttb_license_info *l)
{
  collect *c = arg;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    lic *v = realloc(c->v, cap * sizeof *v);
    if (v == NULL) {
      c->oom = true;
      return 1;
    }
    c->v = v;
    c->cap = cap;
  }
  lic *e = &c->v[c->n++];
  snprintf(e->user, sizeof e->user, "%s", l->user_id);
  e->info = *l;
  return 0;
}

static int lic_cmp(const void *a, const void *b)
{
  return strcmp(((const lic *)a)->user, ((const lic *)b)->user);
}

/* Reads every license (thread side). NULL on an error (logged). */
static snapshot *snapshot_load(ttb_store *st)
{
  collect c = {0};
  char err[256];
  if (ttb_store_license_list(st, collect_one, &c, err, sizeof err) != 0 || c.oom) {
    fprintf(stderr, "ttboost-server: database: licenses not reloaded: %s\n",
            c.oom ? "out of memory" : err);
    free(c.v);
    return NULL;
  }
  snapshot *s = calloc(1, sizeof *s);
  if (s == NULL) {
    free(c.v);
    return NULL;
  }
  if (c.n)
    qsort(c.v, c.n, sizeof *c.v, lic_cmp);
  s->v = c.v;
  s->n = c.n;
  return s;
}

static const lic *snapshot_find(const snapshot *s, const char *user)
{
  if (s == NULL)
    return NULL;
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(user, s->v[mid].user);
    if (c == 0)
      return &s->v[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

ttb_store_status ttb_dbq_license(ttb_dbq *q, const char *user_id, int64_t now)
{
  const lic *l = snapshot_find(q->snap, user_id);
  return l ? ttb_store_license_state(&l->info, now) : TTB_STORE_UNKNOWN;
}

uint32_t ttb_dbq_max_devices(ttb_dbq *q, const char *user_id)
{
  const lic *l = snapshot_find(q->snap, user_id);
  return l ? l->info.max_devices : 0;
}

uint64_t ttb_dbq_generation(const ttb_dbq *q) { return q->generation; }

ttb_store_status ttb_dbq_tiktok(ttb_dbq *q, const char *user_id, char out[32])
{
  const lic *l = snapshot_find(q->snap, user_id);
  snprintf(out, 32, "%s", l ? l->info.tiktok : "");
  return l ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

/* ---------------------------------------------------------------- thread */

static void add_id(void *arg, int64_t id)
{
  job *j = arg;
  if (j->nids == j->capids) {
    size_t cap = j->capids ? j->capids * 2 : 16;
    int64_t *v = realloc(j->ids, cap * sizeof *v);
    if (v == NULL)
      return; /* asked again next time */
    j->ids = v;
    j->capids = cap;
  }
  j->ids[j->nids++] = id;
}

static void run_job(ttb_dbq *q, job *j)
{
  int64_t now = (int64_t)time(NULL);
  switch (j->kind) {
  case JOB_SNAPSHOT: {
    int64_t v = ttb_store_data_version(q->store);
    if (v < 0) {
      fprintf(stderr, "ttboost-server: database: %s\n", ttb_store_error(q->store));
      j->failed = true;
      break;
    }
    if (v == q->data_version && !j->force)
      break;
    j->snap = snapshot_load(q->store);
    if (j->snap)
      q->data_version = v;
    else
      j->failed = true;
    break;
  }
  case JOB_SESSION:
    j->st = ttb_store_session_id(q->store, j->a, now, j->user, &j->session_id);
    break;
  case JOB_INGEST_TOKEN: /* its channel in user */
    j->st = ttb_store_ingest_token_channel(q->store, j->a, j->user);
    break;
  case JOB_LOGOUT: /* a token ends itself, never another session by its id */
    j->st = ttb_store_session(q->store, j->a, now, j->user);
    if (j->st == TTB_STORE_OK)
      j->st = ttb_store_session_revoke(q->store, j->a, now);
    break;
  case JOB_LOGIN:
    j->st = ttb_store_login(q->store, j->a, j->b, now, j->days, j->user, j->token);
    if (j->st == TTB_STORE_OK) {
      /* a license made a moment ago (ttboost-admin) is in the snapshot by
       * the time its first login is answered: ingest can follow at once */
      int64_t v = ttb_store_data_version(q->store);
      if (v >= 0 && v != q->data_version) {
        j->snap = snapshot_load(q->store);
        if (j->snap)
          q->data_version = v;
      }
    }
    break;
  case JOB_ENDED:
    j->st = ttb_store_sessions_revoked_since(q->store, j->since, add_id, j) == 0 ? TTB_STORE_OK
                                                                                 : TTB_STORE_ERROR;
    break;
  case JOB_CALL:
    j->st = j->fn(q->store, j->arg);
    break;
  case JOB_TIKTOK_SET:
    j->st = ttb_store_license_set_tiktok(q->store, j->a, j->b);
    if (j->st == TTB_STORE_OK) {
      j->snap = snapshot_load(q->store); /* the snapshot shows it when the caller hears back */
      int64_t v = ttb_store_data_version(q->store);
      if (v >= 0)
        q->data_version = v;
    }
    break;
  }
  if (j->kind != JOB_SNAPSHOT && j->st == TTB_STORE_ERROR) {
    fprintf(stderr, "ttboost-server: database: %s\n", ttb_store_error(q->store));
    j->failed = true;
  }
  sodium_memzero(j->a, sizeof j->a); /* a key or a token */
}

static void *thread_main(void *arg)
{
  ttb_dbq *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!q->stop && q->in_head == NULL)
      pthread_cond_wait(&q->cv, &q->mu);
    if (q->stop)
      break;
    job *j = q->in_head;
    q->in_head = j->next;
    if (q->in_head == NULL)
      q->in_tail = NULL;
    pthread_mutex_unlock(&q->mu);
    run_job(q, j);
    pthread_mutex_lock(&q->mu);
    j->next = NULL;
    bool was_empty = q->out_head == NULL;
    if (q->out_tail)
      q->out_tail->next = j;
    else
      q->out_head = j;
    q->out_tail = j;
    if (was_empty) {
      char b = 1;
      ssize_t w = write(q->wake[1], &b, 1); /* full pipe: a wake-up is pending anyway */
      (void)w;
    }
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

/* ------------------------------------------------------------ loop side */

static sess *sess_find(ttb_dbq *q, const uint8_t key[16], bool create)
{
  uint64_t h;
  memcpy(&h, key, sizeof h);
  sess *oldest = NULL;
  static const uint8_t zero[16];
  for (size_t k = 0; k < SESSION_PROBES; k++) {
    sess *e = &q->sessions[(h + k) % SESSION_SLOTS];
    if (memcmp(e->key, key, 16) == 0)
      return e;
    if (!create)
      continue;
    if (memcmp(e->key, zero, 16) == 0) {
      memcpy(e->key, key, 16);
      e->at_ms = 0;
      return e;
    }
    if (oldest == NULL || e->at_ms < oldest->at_ms)
      oldest = e;
  }
  if (oldest) {
    memcpy(oldest->key, key, 16);
    oldest->at_ms = 0;
  }
  return oldest;
}

/* The cache key of a ws_token (kind 's') or an ingest token (kind 'i'). */
static void token_key(char kind, const char *token, uint8_t key[16])
{
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, 16);
  crypto_generichash_update(&h, (const uint8_t *)&kind, 1);
  crypto_generichash_update(&h, (const uint8_t *)token, strlen(token));
  crypto_generichash_final(&h, key, 16);
}

static void complete(ttb_dbq *q, job *j, bool shutting_down)
{
  q->m->db_queue--;
  if (!shutting_down)
    q->m->db_jobs++;
  if (shutting_down && !j->failed && j->kind != JOB_SNAPSHOT) {
    j->st = TTB_STORE_ERROR;
    j->failed = true;
  }
  if (j->failed)
    q->m->db_errors++;
  switch (j->kind) {
  case JOB_SNAPSHOT:
    if (j->periodic)
      q->snapshot_pending = false;
    if (j->snap) {
      snapshot_free(q->snap);
      q->snap = j->snap;
      q->generation++;
      j->snap = NULL;
    }
    if (j->cb)
      ((ttb_dbq_done_cb)j->cb)(j->arg, j->failed ? TTB_STORE_ERROR : TTB_STORE_OK);
    break;
  case JOB_SESSION:
  case JOB_INGEST_TOKEN: {
    uint8_t key[16];
    memcpy(key, j->b, 16); /* the token's key, kept in b */
    sess *e = sess_find(q, key, !j->failed);
    ttb_store_status st = j->st;
    const char *user = j->user;
    int64_t sid = j->session_id;
    if (j->failed) {
      if (e && e->at_ms) { /* the last known answer */
        q->m->db_stale++;
        st = e->st;
        user = e->user;
        sid = e->session_id;
      }
    } else if (e) {
      e->st = st;
      snprintf(e->user, sizeof e->user, "%s", st == TTB_STORE_OK ? user : "");
      e->session_id = st == TTB_STORE_OK ? sid : 0;
      e->at_ms = now_ms();
    }
    ((ttb_dbq_session_cb)j->cb)(j->arg, st, st == TTB_STORE_OK ? user : "",
                                st == TTB_STORE_OK ? sid : 0);
    break;
  }
  case JOB_LOGOUT: {
    uint8_t key[16];
    memcpy(key, j->b, 16);
    sess *e = sess_find(q, key, false);
    if (e)
      memset(e, 0, sizeof *e); /* no cached answer keeps it alive */
    ((ttb_dbq_done_cb)j->cb)(j->arg, j->st);
    break;
  }
  case JOB_LOGIN: /* the new token's session is looked up when first used */
    if (j->snap) {
      snapshot_free(q->snap);
      q->snap = j->snap;
      q->generation++;
      j->snap = NULL;
    }
    ((ttb_dbq_login_cb)j->cb)(j->arg, j->st, j->user, j->token);
    sodium_memzero(j->token, sizeof j->token);
    break;
  case JOB_ENDED:
    q->ended_pending = false;
    if (!j->failed) {
      free(q->ended);
      q->ended = j->ids;
      q->nended = j->nids;
      q->ended_ready = true;
      j->ids = NULL;
    }
    break;
  case JOB_CALL:
    ((ttb_dbq_done_cb)j->cb)(j->arg, j->st);
    break;
  case JOB_TIKTOK_SET:
    if (j->snap) {
      snapshot_free(q->snap);
      q->snap = j->snap;
      q->generation++;
      j->snap = NULL;
    }
    ((ttb_dbq_done_cb)j->cb)(j->arg, j->st);
    break;
  }
  snapshot_free(j->snap);
  free(j->ids);
  free(j);
}

static void drain(ttb_dbq *q)
{
  pthread_mutex_lock(&q->mu);
  job *j = q->out_head;
  q->out_head = q->out_tail = NULL;
  pthread_mutex_unlock(&q->mu);
  while (j) {
    job *n = j->next;
    complete(q, j, false);
    j = n;
  }
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
  ttb_dbq *q = sock->data;
  if (err != NULL) {
    fprintf(stderr, "ttboost-server: database completion pipe: %s\n", err);
    return;
  }
  h2o_buffer_consume(&sock->input, sock->input->size);
  ttb_wake_drain(q->wake[0]); /* before draining the queue: a later byte means later items */
  drain(q);
}

static void submit(ttb_dbq *q, job *j)
{
  q->m->db_queue++;
  pthread_mutex_lock(&q->mu);
  j->next = NULL;
  if (q->in_tail)
    q->in_tail->next = j;
  else
    q->in_head = j;
  q->in_tail = j;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

static void refresh(ttb_dbq *q, bool force)
{
  if (q->snapshot_pending) {
    q->force_next |= force;
    return;
  }
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return; /* next second */
  j->kind = JOB_SNAPSHOT;
  j->periodic = true;
  j->force = force || q->force_next;
  q->force_next = false;
  q->snapshot_pending = true;
  submit(q, j);
}

static void on_refresh(h2o_timeout_entry_t *entry)
{
  ttb_dbq *q = (ttb_dbq *)((char *)entry - offsetof(ttb_dbq, refresh_entry));
  refresh(q, false);
  h2o_timeout_link(q->loop, &q->refresh_to, &q->refresh_entry);
}

/* A look-up on the thread: every check sees what ttboost-admin did a moment
 * ago; the cache only answers when the database cannot. */
static void lookup(ttb_dbq *q, int kind, const char *token, ttb_dbq_session_cb cb, void *arg)
{
  uint8_t key[16];
  token_key(kind == JOB_SESSION ? 's' : 'i', token, key);
  job *j = calloc(1, sizeof *j);
  if (j == NULL || strlen(token) >= sizeof j->a) {
    free(j);
    cb(arg, j ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR, "", 0);
    return;
  }
  j->kind = kind;
  snprintf(j->a, sizeof j->a, "%s", token);
  memcpy(j->b, key, 16);
  j->cb = (void (*)(void))cb;
  j->arg = arg;
  submit(q, j);
}

void ttb_dbq_session(ttb_dbq *q, const char *token, ttb_dbq_session_cb cb, void *arg)
{
  lookup(q, JOB_SESSION, token, cb, arg);
}

void ttb_dbq_ingest_token(ttb_dbq *q, const char *token, ttb_dbq_session_cb cb, void *arg)
{
  lookup(q, JOB_INGEST_TOKEN, token, cb, arg);
}

void ttb_dbq_logout(ttb_dbq *q, const char *token, ttb_dbq_done_cb cb, void *arg)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL || strlen(token) >= sizeof j->a) {
    ttb_store_status st = j ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
    free(j);
    cb(arg, st);
    return;
  }
  j->kind = JOB_LOGOUT;
  snprintf(j->a, sizeof j->a, "%s", token);
  token_key('s', token, (uint8_t *)j->b);
  j->cb = (void (*)(void))cb;
  j->arg = arg;
  submit(q, j);
}

void ttb_dbq_sync(ttb_dbq *q, ttb_dbq_done_cb cb, void *arg)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    cb(arg, TTB_STORE_ERROR);
    return;
  }
  j->kind = JOB_SNAPSHOT;
  j->cb = (void (*)(void))cb;
  j->arg = arg;
  submit(q, j);
}

int ttb_dbq_ended(ttb_dbq *q, int64_t since, void (*fn)(void *arg, int64_t session_id), void *arg)
{
  if (q->ended_ready) {
    for (size_t i = 0; i < q->nended; i++) {
      for (size_t k = 0; k < SESSION_SLOTS; k++) /* no cached answer keeps it alive */
        if (q->sessions[k].session_id == q->ended[i] && q->sessions[k].at_ms)
          memset(&q->sessions[k], 0, sizeof q->sessions[k]);
      fn(arg, q->ended[i]);
    }
    free(q->ended);
    q->ended = NULL;
    q->nended = 0;
    q->ended_ready = false;
  }
  if (q->ended_pending)
    return 0;
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return -1;
  j->kind = JOB_ENDED;
  j->since = since;
  q->ended_pending = true;
  submit(q, j);
  return 0;
}

void ttb_dbq_forget(ttb_dbq *q, const char *token)
{
  uint8_t key[16];
  token_key('s', token, key);
  sess *e = sess_find(q, key, false);
  if (e)
    memset(e, 0, sizeof *e);
}

void ttb_dbq_login(ttb_dbq *q, const char *key, const char *device_id, uint32_t session_days,
                   ttb_dbq_login_cb cb, void *arg)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL || strlen(key) >= sizeof j->a || strlen(device_id) >= sizeof j->b) {
    ttb_store_status st = j ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
    free(j);
    cb(arg, st, "", "");
    return;
  }
  j->kind = JOB_LOGIN;
  snprintf(j->a, sizeof j->a, "%s", key);
  snprintf(j->b, sizeof j->b, "%s", device_id);
  j->days = session_days;
  j->cb = (void (*)(void))cb;
  j->arg = arg;
  submit(q, j);
}

void ttb_dbq_tiktok_set(ttb_dbq *q, const char *user_id, const char *handle, ttb_dbq_done_cb cb,
                        void *arg)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL || strlen(user_id) >= sizeof j->a || strlen(handle) >= sizeof j->b) {
    ttb_store_status st = j ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
    free(j);
    cb(arg, st);
    return;
  }
  j->kind = JOB_TIKTOK_SET;
  snprintf(j->a, sizeof j->a, "%s", user_id);
  snprintf(j->b, sizeof j->b, "%s", handle);
  j->cb = (void (*)(void))cb;
  j->arg = arg;
  submit(q, j);
}

void ttb_dbq_call(ttb_dbq *q, ttb_store_status (*fn)(ttb_store *store, void *arg),
                  ttb_dbq_done_cb cb, void *arg)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    cb(arg, TTB_STORE_ERROR);
    return;
  }
  j->kind = JOB_CALL;
  j->fn = fn;
  j->cb = (void (*)(void))cb;
  j->arg = arg;
  submit(q, j);
}

/* ------------------------------------------------------------ lifecycle */

ttb_dbq *ttb_dbq_open(ttb_store *store, h2o_evloop_t *loop, ttb_metrics *m, char *err,
                      size_t errlen)
{
  ttb_dbq *q = calloc(1, sizeof *q);
  if (q == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  q->wake[0] = q->wake[1] = -1;
  q->sessions = calloc(SESSION_SLOTS, sizeof *q->sessions);
  if (q->sessions == NULL) {
    snprintf(err, errlen, "out of memory");
    free(q);
    return NULL;
  }
  q->loop = loop;
  q->m = m;
  /* the first snapshot, here on the loop before anything is served */
  q->data_version = ttb_store_data_version(store);
  q->snap = q->data_version < 0 ? NULL : snapshot_load(store);
  if (q->snap == NULL) {
    snprintf(err, errlen, "cannot read the licenses: %s", ttb_store_error(store));
    free(q->sessions);
    free(q);
    return NULL;
  }
  if (pipe(q->wake) != 0 || fcntl(q->wake[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(q->wake[1], F_SETFD, FD_CLOEXEC) != 0 || fcntl(q->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
      fcntl(q->wake[1], F_SETFL, O_NONBLOCK) != 0) {
    snprintf(err, errlen, "database completion pipe: %s", strerror(errno));
    goto fail;
  }
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  q->store = store;
  /* a job that meets a lock fails after this and the last known state is
   * served; a write (login) then answers "busy, try again" */
  ttb_store_set_busy_timeout(store, TTB_DBQ_BUSY_MS);
  int rc = pthread_create(&q->thread, NULL, thread_main, q);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the database thread: %s", strerror(rc));
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    q->store = NULL;
    goto fail;
  }
  q->started = true;
  q->wake_sock = h2o_evloop_socket_create(loop, q->wake[0], H2O_SOCKET_FLAG_DONT_READ);
  q->wake_sock->data = q;
  h2o_socket_read_start(q->wake_sock, on_wake);
  h2o_timeout_init(loop, &q->refresh_to, REFRESH_MS);
  q->refresh_entry.cb = on_refresh;
  h2o_timeout_link(loop, &q->refresh_to, &q->refresh_entry);
  return q;

fail:
  if (q->wake[0] >= 0)
    close(q->wake[0]);
  if (q->wake[1] >= 0)
    close(q->wake[1]);
  snapshot_free(q->snap);
  free(q->sessions);
  free(q);
  return NULL;
}

void ttb_dbq_close(ttb_dbq *q)
{
  if (q == NULL)
    return;
  if (h2o_timeout_is_linked(&q->refresh_entry))
    h2o_timeout_unlink(&q->refresh_entry);
  h2o_timeout_dispose(q->loop, &q->refresh_to);
  pthread_mutex_lock(&q->mu);
  q->stop = true;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  pthread_join(q->thread, NULL);  /* at most the job it is running (busy timeout: 5 s) */
  drain(q);                       /* done: their callbacks */
  for (job *j = q->in_head; j;) { /* never started */
    job *n = j->next;
    complete(q, j, true);
    j = n;
  }
  q->in_head = q->in_tail = NULL;
  if (q->wake_sock) {
    h2o_socket_read_stop(q->wake_sock);
    h2o_socket_export_t info;
    if (h2o_socket_export(q->wake_sock, &info) == 0)
      h2o_buffer_dispose(&info.input);
  }
  close(q->wake[0]);
  close(q->wake[1]);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  ttb_store_close(q->store);
  free(q->ended);
  snapshot_free(q->snap);
  free(q->sessions);
  free(q);
}
