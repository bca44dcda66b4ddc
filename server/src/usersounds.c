/* The streamer's own gift sounds: see usersounds.h. */
#define _GNU_SOURCE /* mkostemp, pipe2 */
#include "usersounds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reply.h"
#include "dbq.h"
#include "sndconv.h"
#include "ttboost/json.h"
#include "ttboost/v1/auth.pbc-json.h"
#include "ttboost/v1/settings.pbc-json.h"

extern char **environ;

struct ttb_usounds {
  ttb_svc *svc;
  char worker[PATH_MAX]; /* ttboost-sound-worker */
  h2o_evloop_t *loop;
  char dir[PATH_MAX - 32];
  char public_url[256];
  int wake[2]; /* conversion threads write the finished job's pointer */
  h2o_socket_t *wake_sock;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned running; /* conversion threads not yet finished */
};

/* ------------------------------------------------------------- replies */

static const char BUSY_DB[] =
    "The server could not reach its database right now. Try again shortly.";

/* ---------------------------------------------------------------- jobs */

enum { OP_UPLOAD, OP_LIST, OP_DELETE };

typedef struct job job;
typedef struct guard {
  job *j;
} guard;

typedef struct item {
  int64_t id;
  char name[TTB_STORE_SOUND_NAME_MAX];
  uint32_t duration_ms;
} item;

struct job {
  ttb_usounds *u;
  h2o_req_t *req; /* NULL once the client is gone */
  guard *g;
  int kind;
  char token[128]; /* the bearer, while it is checked */
  char user[TTB_STORE_UUID_MAX];
  char name[TTB_STORE_SOUND_NAME_MAX];
  int64_t id;
  /* upload: the file in, the Ogg Opus out */
  uint8_t *body;
  size_t len;
  uint8_t *ogg;
  size_t ogg_len;
  uint32_t duration_ms;
  ttb_sndconv_status cst;
  char msg[200];
  bool full;
  /* list */
  item items[TTB_USOUNDS_MAX];
  size_t nitems;
};

static void on_guard_dispose(void *p)
{
  guard *g = p;
  if (g->j)
    g->j->req = NULL;
}

/* Frees j; its request, or NULL when the client went away. */
static h2o_req_t *job_end(job *j)
{
  h2o_req_t *req = j->req;
  if (req)
    j->g->j = NULL;
  sodium_memzero(j->token, sizeof j->token);
  free(j->body);
  free(j->ogg);
  free(j);
  return req;
}

/* ------------------------------------------------------------ helpers */

bool ttb_usounds_parse_id(const char *text, int64_t *id)
{
  if (text == NULL || text[0] != 'u' || text[1] != '-' || text[2] < '1' || text[2] > '9')
    return false;
  int64_t v = 0;
  size_t i = 2;
  for (; text[i]; i++) {
    if (text[i] < '0' || text[i] > '9' || i - 2 >= 18)
      return false;
    v = v * 10 + (text[i] - '0');
  }
  *id = v;
  return true;
}

bool ttb_usounds_file(const char *data_dir, const char *sound, char *out, size_t cap)
{
  int64_t id;
  if (!ttb_usounds_parse_id(sound, &id))
    return false;
  int n = snprintf(out, cap, "%s/sounds/u-%lld.ogg", data_dir, (long long)id);
  return n > 0 && (size_t)n < cap;
}

const char *ttb_usounds_dir(const ttb_usounds *u) { return u->dir; }

static void file_of(const ttb_usounds *u, int64_t id, char *out, size_t cap)
{
  snprintf(out, cap, "%s/u-%lld.ogg", u->dir, (long long)id);
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The ?name= of the query, percent-decoded, control characters (C0, DEL,
 * C1) removed, trimmed; "sound" when absent or empty. 0; -1 when it is not
 * UTF-8; -2 when longer than 64 bytes. */
static int query_name(h2o_req_t *req, char out[TTB_STORE_SOUND_NAME_MAX])
{
  snprintf(out, TTB_STORE_SOUND_NAME_MAX, "%s", "sound");
  if (req->query_at == SIZE_MAX)
    return 0;
  const char *q = req->path.base + req->query_at + 1;
  size_t qn = req->path.len - req->query_at - 1;
  const char *v = NULL;
  size_t vn = 0;
  for (size_t i = 0; i < qn;) {
    size_t e = i;
    while (e < qn && q[e] != '&')
      e++;
    if (e - i >= 5 && memcmp(q + i, "name=", 5) == 0) {
      v = q + i + 5;
      vn = e - i - 5;
    }
    i = e + 1;
  }
  if (v == NULL)
    return 0;
  if (vn > 3 * 256)
    return -2;
  char raw[256 + 1];
  size_t rn = 0;
  for (size_t i = 0; i < vn; i++) {
    char c = v[i];
    if (c == '+')
      c = ' ';
    else if (c == '%' && i + 2 < vn && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
      c = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
      i += 2;
    }
    if (rn == 256)
      return -2;
    raw[rn++] = c;
  }
  raw[rn] = '\0';
  if (!ttb_utf8_valid(raw, rn))
    return -1;
  /* control characters out: C0 and DEL (one byte), C1 (U+0080..U+009F: C2 80..9F) */
  char clean[256 + 1];
  size_t cn = 0;
  for (size_t i = 0; i < rn; i++) {
    unsigned char c = (unsigned char)raw[i];
    if (c < 0x20 || c == 0x7f)
      continue;
    if (c == 0xc2 && i + 1 < rn && (unsigned char)raw[i + 1] >= 0x80 &&
        (unsigned char)raw[i + 1] <= 0x9f) {
      i++;
      continue;
    }
    clean[cn++] = (char)c;
  }
  size_t s = 0;
  while (s < cn && clean[s] == ' ')
    s++;
  while (cn > s && clean[cn - 1] == ' ')
    cn--;
  if (cn - s >= TTB_STORE_SOUND_NAME_MAX)
    return -2;
  if (cn > s) {
    memcpy(out, clean + s, cn - s);
    out[cn - s] = '\0';
  }
  return 0;
}

/* ------------------------------------------------ the database thread */

static int collect(void *arg, const ttb_user_sound_info *s)
{
  job *j = arg;
  if (j->nitems == TTB_USOUNDS_MAX)
    return 1;
  item *it = &j->items[j->nitems++];
  it->id = s->id;
  it->duration_ms = s->duration_ms;
  snprintf(it->name, sizeof it->name, "%s", s->name);
  return 0;
}

/* Writes data to path through a temporary file and a rename: a reader sees
 * the whole file or none. -1 with errno. */
static int write_atomic(const char *path, const uint8_t *data, size_t len)
{
  char tmp[PATH_MAX];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      errno = e;
      return -1;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

static ttb_store_status run_op(ttb_store *st, void *arg)
{
  job *j = arg;
  char err[256];
  switch (j->kind) {
  case OP_LIST:
    return ttb_store_user_sound_list(st, j->user, collect, j, err, sizeof err) == 0
               ? TTB_STORE_OK
               : TTB_STORE_ERROR;
  case OP_UPLOAD: {
    ttb_store_status s =
        ttb_store_user_sound_add(st, j->user, j->name, j->duration_ms, (int64_t)time(NULL),
                                 TTB_USOUNDS_MAX, &j->id, &j->full);
    if (s != TTB_STORE_OK || j->full)
      return s;
    char path[PATH_MAX];
    file_of(j->u, j->id, path, sizeof path);
    if (write_atomic(path, j->ogg, j->ogg_len) != 0) {
      fprintf(stderr, "ttboost-server: cannot write %s: %s\n", path, strerror(errno));
      ttb_store_user_sound_delete(st, j->user, j->id);
      return TTB_STORE_ERROR;
    }
    return TTB_STORE_OK;
  }
  default: {
    ttb_store_status s = ttb_store_user_sound_delete(st, j->user, j->id);
    if (s == TTB_STORE_OK) {
      char path[PATH_MAX];
      file_of(j->u, j->id, path, sizeof path);
      if (unlink(path) != 0 && errno != ENOENT)
        fprintf(stderr, "ttboost-server: cannot remove %s: %s\n", path, strerror(errno));
    }
    return s;
  }
  }
}

static char *sound_json(const ttb_usounds *u, int64_t id, const char *name, uint32_t ms, size_t *n)
{
  char sid[32], url[512];
  snprintf(sid, sizeof sid, "u-%lld", (long long)id);
  snprintf(url, sizeof url, "%s/sounds/u-%lld.ogg", u->public_url, (long long)id);
  Ttboost__V1__UserSound r = TTBOOST__V1__USER_SOUND__INIT;
  r.id = sid;
  r.name = (char *)name;
  r.duration_ms = ms;
  r.url = url;
  return ttb_pbc_ttboost_v1_UserSound_to_json(&r, n, NULL);
}

static void on_done(void *arg, ttb_store_status st)
{
  job *j = arg;
  h2o_req_t *req = j->req;
  if (req == NULL) {
    job_end(j);
    return;
  }
  if (st == TTB_STORE_ERROR) {
    job_end(j);
    ttb_reply_error(req, 503, "busy", BUSY_DB);
    return;
  }
  size_t n = 0;
  char *js = NULL;
  if (j->kind == OP_DELETE) {
    job_end(j);
    if (st != TTB_STORE_OK) {
      ttb_reply_error(req, 404, "not_found", "This license has no sound with that id.");
      return;
    }
    Ttboost__V1__UserSoundDeleted r = TTBOOST__V1__USER_SOUND_DELETED__INIT;
    r.status = "ok";
    js = ttb_pbc_ttboost_v1_UserSoundDeleted_to_json(&r, &n, NULL);
    ttb_reply_json(req, 200, js, n, false);
    return;
  }
  if (j->kind == OP_UPLOAD) {
    if (st == TTB_STORE_UNKNOWN) {
      job_end(j);
      ttb_reply_error(req, 401, "unauthorized", TTB_REPLY_UNAUTHORIZED);
      return;
    }
    if (j->full) {
      job_end(j);
      ttb_reply_error(
          req, 429, "too_many_sounds",
          "This license has as many sounds as it may (64). Delete one you no longer use.");
      return;
    }
    js = sound_json(j->u, j->id, j->name, j->duration_ms, &n);
    job_end(j);
    ttb_reply_json(req, 200, js, n, false);
    return;
  }
  char ids[TTB_USOUNDS_MAX][32], urls[TTB_USOUNDS_MAX][512];
  Ttboost__V1__UserSound infos[TTB_USOUNDS_MAX];
  Ttboost__V1__UserSound *ptrs[TTB_USOUNDS_MAX];
  for (size_t i = 0; i < j->nitems; i++) {
    ttboost__v1__user_sound__init(&infos[i]);
    snprintf(ids[i], sizeof ids[i], "u-%lld", (long long)j->items[i].id);
    snprintf(urls[i], sizeof urls[i], "%s/sounds/u-%lld.ogg", j->u->public_url,
             (long long)j->items[i].id);
    infos[i].id = ids[i];
    infos[i].name = j->items[i].name;
    infos[i].duration_ms = j->items[i].duration_ms;
    infos[i].url = urls[i];
    ptrs[i] = &infos[i];
  }
  Ttboost__V1__UserSoundList r = TTBOOST__V1__USER_SOUND_LIST__INIT;
  r.n_sounds = j->nitems;
  r.sounds = ptrs;
  js = ttb_pbc_ttboost_v1_UserSoundList_to_json(&r, &n, NULL);
  job_end(j);
  ttb_reply_json(req, 200, js, n, false);
}

/* ------------------------------------------------------- conversions */

static uint32_t get32(const uint8_t *b)
{
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The most a worker may answer: a 10 s sound is about 100 KB of Opus. */
#define WORKER_OUT_MAX (8u << 20)

/* Runs ttboost-sound-worker on j's file (sound_worker_main.c): its stdin a
 * deleted temporary file, its stdout read here. A worker that crashed, was
 * killed (its CPU limit) or answered nonsense is an undecodable file. */
static void convert_in_worker(job *j)
{
  ttb_usounds *u = j->u;
  j->cst = TTB_SNDCONV_FAILED;
  snprintf(j->msg, sizeof j->msg, "%s", "The server could not convert the sound.");
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s/.upload-XXXXXX", u->dir);
  int in = mkostemp(tmp, O_CLOEXEC);
  if (in < 0) {
    fprintf(stderr, "ttboost-server: sound upload: cannot create %s: %s\n", tmp, strerror(errno));
    return;
  }
  unlink(tmp);
  size_t off = 0;
  while (off < j->len) {
    ssize_t w = write(in, j->body + off, j->len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      fprintf(stderr, "ttboost-server: sound upload: %s\n", strerror(errno));
      close(in);
      return;
    }
    off += (size_t)w;
  }
  int p[2];
  if (lseek(in, 0, SEEK_SET) != 0 || pipe2(p, O_CLOEXEC) != 0) {
    close(in);
    return;
  }
  posix_spawn_file_actions_t fa;
  pid_t pid = -1;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc == 0) {
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = {u->worker, NULL};
    rc = posix_spawn(&pid, u->worker, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
  }
  close(in);
  close(p[1]);
  if (rc != 0) {
    fprintf(stderr, "ttboost-server: cannot start %s: %s\n", u->worker, strerror(rc));
    close(p[0]);
    return;
  }
  uint8_t *b = NULL;
  size_t n = 0, cap = 0;
  bool over = false;
  for (;;) {
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 65536;
      uint8_t *nb = nc <= WORKER_OUT_MAX ? realloc(b, nc) : NULL;
      if (nb == NULL) {
        over = true;
        break;
      }
      b = nb;
      cap = nc;
    }
    ssize_t r = read(p[0], b + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  close(p[0]);
  if (over)
    kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  /* "TTBS", status + 1, duration, message length, message, output length, output */
  bool ok = !over && WIFEXITED(status) && WEXITSTATUS(status) == 0 && n >= 16 &&
            memcmp(b, "TTBS", 4) == 0;
  uint32_t ml = ok ? get32(b + 12) : 0;
  ok = ok && ml < sizeof j->msg && n >= 20 + (size_t)ml;
  uint32_t ol = ok ? get32(b + 16 + ml) : 0;
  ok = ok && n == 20 + (size_t)ml + ol;
  int32_t st = ok ? (int32_t)get32(b + 4) - 1 : 0;
  ok = ok && st >= TTB_SNDCONV_FAILED && st <= TTB_SNDCONV_TOO_LONG && (st == 0) == (ol > 0);
  if (!ok) {
    if (WIFSIGNALED(status))
      fprintf(stderr, "ttboost-server: the sound worker died of signal %d on an upload\n",
              WTERMSIG(status));
    else
      fprintf(stderr, "ttboost-server: the sound worker failed on an upload (status %d)\n",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    j->cst = TTB_SNDCONV_INVALID;
    snprintf(j->msg, sizeof j->msg, "%s", "The file could not be decoded.");
    free(b);
    return;
  }
  j->cst = (ttb_sndconv_status)st;
  j->duration_ms = get32(b + 8);
  memcpy(j->msg, b + 16, ml);
  j->msg[ml] = '\0';
  if (ol > 0) {
    j->ogg = malloc(ol);
    if (j->ogg == NULL) {
      j->cst = TTB_SNDCONV_FAILED;
      free(b);
      return;
    }
    memcpy(j->ogg, b + 20 + ml, ol);
    j->ogg_len = ol;
  }
  free(b);
}

static void *convert_main(void *arg)
{
  job *j = arg;
  ttb_usounds *u = j->u;
  convert_in_worker(j);
  free(j->body);
  j->body = NULL;
  pthread_mutex_lock(&u->mu);
  /* the pointer itself through the pipe: one write of 8 bytes is atomic */
  ssize_t w;
  do
    w = write(u->wake[1], &j, sizeof j);
  while (w < 0 && errno == EINTR);
  if (w != (ssize_t)sizeof j)
    fprintf(stderr, "ttboost-server: sound conversion pipe: %s\n", strerror(errno));
  u->running--;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
  return NULL;
}

/* A conversion ended: its answer, or the row and the file. */
static void converted(job *j)
{
  h2o_req_t *req = j->req;
  if (req == NULL) {
    job_end(j);
    return;
  }
  switch (j->cst) {
  case TTB_SNDCONV_OK:
    ttb_dbq_call(ttb_svc_dbq(j->u->svc), run_op, on_done, j);
    return;
  case TTB_SNDCONV_FORMAT:
    ttb_reply_error(req, 415, "unsupported_media_type", j->msg);
    break;
  case TTB_SNDCONV_TOO_LONG:
    ttb_reply_error(req, 400, "too_long", j->msg);
    break;
  case TTB_SNDCONV_INVALID:
    ttb_reply_error(req, 400, "invalid_sound", j->msg);
    break;
  default:
    ttb_reply_error(req, 503, "busy",
                    j->msg[0] ? j->msg : "The server could not convert the sound.");
  }
  job_end(j);
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
  ttb_usounds *u = sock->data;
  if (err != NULL) {
    fprintf(stderr, "ttboost-server: sound conversion pipe: %s\n", err);
    return;
  }
  for (;;) {
    job *j;
    ssize_t r = read(u->wake[0], &j, sizeof j);
    if (r < 0 && errno == EINTR)
      continue;
    if (r != (ssize_t)sizeof j)
      break; /* EAGAIN: empty (writes of one pointer never split) */
    converted(j);
  }
}

/* Starts j's conversion on a thread of its own; false when as many run
 * already (or no thread could start). */
static bool convert_start(job *j)
{
  ttb_usounds *u = j->u;
  pthread_mutex_lock(&u->mu);
  if (u->running >= TTB_USOUNDS_CONVERSIONS) {
    pthread_mutex_unlock(&u->mu);
    return false;
  }
  u->running++;
  pthread_mutex_unlock(&u->mu);
  pthread_attr_t at;
  pthread_t t;
  bool ok = pthread_attr_init(&at) == 0;
  ok = ok && pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
       pthread_create(&t, &at, convert_main, j) == 0;
  pthread_attr_destroy(&at);
  if (!ok) {
    pthread_mutex_lock(&u->mu);
    u->running--;
    pthread_mutex_unlock(&u->mu);
  }
  return ok;
}

/* ------------------------------------------------------------ requests */

static void on_session(void *arg, ttb_svc_status st, const char *user, int64_t session_id)
{
  job *j = arg;
  (void)session_id;
  sodium_memzero(j->token, sizeof j->token);
  h2o_req_t *req = j->req;
  if (req == NULL || st != TTB_SVC_OK) {
    job_end(j);
    if (req)
      ttb_reply_refused(req, st == TTB_SVC_FAILED);
    return;
  }
  snprintf(j->user, sizeof j->user, "%s", user);
  if (j->kind != OP_UPLOAD) {
    ttb_dbq_call(ttb_svc_dbq(j->u->svc), run_op, on_done, j);
    return;
  }
  if (!convert_start(j)) {
    job_end(j);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("2"));
    ttb_reply_error(req, 503, "busy",
                    "The server is converting other sounds right now. Try again in a few seconds.");
  }
}

/* The upload's checks that need no database: type, size, magic, name. */
static int upload_checks(job *j, h2o_req_t *req)
{
  ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
  ttb_sndconv_format declared = ct < 0
                                    ? TTB_SNDCONV_UNKNOWN
                                    : ttb_sndconv_content_type(req->headers.entries[ct].value.base,
                                                               req->headers.entries[ct].value.len);
  if (declared == TTB_SNDCONV_UNKNOWN)
    return ttb_reply_error(req, 415, "unsupported_media_type",
                           "Send the file with Content-Type audio/ogg, audio/opus, audio/wav or "
                           "audio/mpeg (Ogg Opus, WAV or MP3).") -
           1;
  size_t len = req->entity.base ? req->entity.len : 0;
  if (len > TTB_SNDCONV_MAX_BYTES)
    return ttb_reply_error(req, 413, "too_large", "The file is larger than 2 MiB.") - 1;
  if (len == 0)
    return ttb_reply_error(req, 400, "malformed", "The body is empty: send the sound file.") - 1;
  ttb_sndconv_format found = ttb_sndconv_sniff((const uint8_t *)req->entity.base, len);
  if (found != declared)
    return ttb_reply_error(req, 415, "unsupported_media_type",
                           found == TTB_SNDCONV_UNKNOWN
                               ? "The file is not Ogg Opus, WAV or MP3."
                               : "The file's content is not of the kind its Content-Type says.") -
           1;
  int nr = query_name(req, j->name);
  if (nr == -1)
    return ttb_reply_error(req, 400, "malformed", "name: not valid UTF-8.") - 1;
  if (nr == -2)
    return ttb_reply_error(req, 400, "malformed", "name: at most 64 bytes of UTF-8.") - 1;
  j->body = malloc(len);
  if (j->body == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.") - 1;
  memcpy(j->body, req->entity.base, len);
  j->len = len;
  return 0;
}

int ttb_usounds_handle(ttb_usounds *u, h2o_req_t *req)
{
  int kind;
  if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
    kind = OP_UPLOAD;
  else if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
    kind = OP_LIST;
  else if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE")))
    kind = OP_DELETE;
  else
    return ttb_reply_error(req, 405, "method", "Use GET, POST or DELETE.");
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  j->u = u;
  j->req = req;
  j->kind = kind;
  if (!ttb_reply_bearer(req, j->token, sizeof j->token)) {
    free(j);
    return ttb_reply_error(req, 401, "unauthorized", TTB_REPLY_UNAUTHORIZED);
  }
  if (kind == OP_UPLOAD && upload_checks(j, req) != 0) {
    sodium_memzero(j->token, sizeof j->token);
    free(j->body);
    free(j);
    return 0;
  }
  if (kind == OP_DELETE) {
    ttb_json_error err = {0};
    const char *body = req->entity.base ? req->entity.base : "";
    size_t len = req->entity.base ? req->entity.len : 0;
    Ttboost__V1__UserSoundDelete *r =
        ttb_pbc_ttboost_v1_UserSoundDelete_from_json(body, len, NULL, &err);
    bool ok = r != NULL && ttb_usounds_parse_id(r->id, &j->id);
    char msg[300];
    snprintf(msg, sizeof msg, "The request is not valid: %s",
             r ? "id: a sound's id such as \"u-12\" is needed" : err.msg);
    if (r)
      ttboost__v1__user_sound_delete__free_unpacked(r, NULL);
    if (!ok) {
      sodium_memzero(j->token, sizeof j->token);
      free(j);
      return ttb_reply_error(req, 400, "malformed", msg);
    }
  }
  j->g = h2o_mem_alloc_shared(&req->pool, sizeof *j->g, on_guard_dispose);
  j->g->j = j;
  ttb_svc_session_async(u->svc, j->token, on_session, j);
  return 0;
}

/* ------------------------------------------------------------- set-up */

/* TTBOOST_SOUND_WORKER, else ttboost-sound-worker beside this binary. */
static void find_worker(char *out, size_t cap)
{
  const char *env = getenv("TTBOOST_SOUND_WORKER");
  if (env && env[0]) {
    snprintf(out, cap, "%s", env);
    return;
  }
  char exe[PATH_MAX - 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(out, cap, "%s", "ttboost-sound-worker");
    return;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash)
    slash[1] = '\0';
  snprintf(out, cap, "%sttboost-sound-worker", exe);
}

ttb_usounds *ttb_usounds_create(ttb_svc *svc, h2o_evloop_t *loop, const char *data_dir,
                                const char *public_url, char *err, size_t errlen)
{
  ttb_usounds *u = calloc(1, sizeof *u);
  if (u == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  u->svc = svc;
  u->loop = loop;
  find_worker(u->worker, sizeof u->worker);
  u->wake[0] = u->wake[1] = -1;
  snprintf(u->public_url, sizeof u->public_url, "%s", public_url);
  if ((size_t)snprintf(u->dir, sizeof u->dir, "%s/sounds", data_dir) >= sizeof u->dir) {
    snprintf(err, errlen, "the data dir's path is too long");
    free(u);
    return NULL;
  }
  if (mkdir(u->dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", u->dir, strerror(errno));
    free(u);
    return NULL;
  }
  if (pipe(u->wake) != 0 || fcntl(u->wake[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(u->wake[1], F_SETFD, FD_CLOEXEC) != 0 || fcntl(u->wake[0], F_SETFL, O_NONBLOCK) != 0) {
    snprintf(err, errlen, "sound conversion pipe: %s", strerror(errno));
    if (u->wake[0] >= 0)
      close(u->wake[0]);
    if (u->wake[1] >= 0)
      close(u->wake[1]);
    free(u);
    return NULL;
  }
  pthread_mutex_init(&u->mu, NULL);
  pthread_cond_init(&u->cv, NULL);
  u->wake_sock = h2o_evloop_socket_create(loop, u->wake[0], H2O_SOCKET_FLAG_DONT_READ);
  u->wake_sock->data = u;
  h2o_socket_read_start(u->wake_sock, on_wake);
  return u;
}

void ttb_usounds_destroy(ttb_usounds *u)
{
  if (u == NULL)
    return;
  pthread_mutex_lock(&u->mu);
  while (u->running > 0)
    pthread_cond_wait(&u->cv, &u->mu);
  pthread_mutex_unlock(&u->mu);
  /* what finished and was not seen: the requests are gone or going */
  for (;;) {
    job *j;
    ssize_t r = read(u->wake[0], &j, sizeof j);
    if (r < 0 && errno == EINTR)
      continue;
    if (r != (ssize_t)sizeof j)
      break;
    job_end(j);
  }
  h2o_socket_read_stop(u->wake_sock);
  h2o_socket_close(u->wake_sock); /* closes wake[0] */
  close(u->wake[1]);
  pthread_mutex_destroy(&u->mu);
  pthread_cond_destroy(&u->cv);
  free(u);
}
