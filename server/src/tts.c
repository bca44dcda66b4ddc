/*
 * Text to speech: worker processes (ttboost-tts-worker) make the speech,
 * this module schedules them (round-robin across queues, a backlog per
 * queue, a deadline per job), streams their output to listeners and writes
 * the cache file alongside. See tts.h.
 */
#define _GNU_SOURCE
#include "tts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ttboost/fnv.h"
#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"

extern char **environ;

#define ID_HEX TTB_TTS_ID_LEN
#define VOICE_MAX 16 /* longest voice name we keep */
#define TMP_PREFIX ".tts-"
#define TMP_SUFFIX ".tmp"
#define MAX_WORKERS 256
#define MAX_OGG (8u * 1024u * 1024u) /* more than this is not a chat's speech */
#define MAX_PACKETS 30000
#define NBUCKETS 1024
/* A waiting job due within this many seconds is urgent (pick_queue). */
#define URGENT_S 0.5

/* Voices an explicit request may name; the workers report which load. */
static const char *const voice_whitelist[] = {
    "en", "ru", "kk", "de", "fr", "es", "it", "pt", "uk", "tr", "pl",
};
#define NVOICES (sizeof voice_whitelist / sizeof voice_whitelist[0])

/* Variants of espeak-ng (espeak-ng-data/voices/!v) a voice may take:
 * "en+f3". */
static const char *const variant_whitelist[] = {
    "f1", "f2", "f3", "f4", "f5",    "m1",      "m2",       "m3",
    "m4", "m5", "m6", "m7", "croak", "whisper", "whisperf",
};
#define NVARIANTS (sizeof variant_whitelist / sizeof variant_whitelist[0])

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t hash_str(const char *s) { return ttb_fnv1a32_str(s); }

/* ------------------------------------------------------------ state */

typedef struct tts_queue tts_queue;
typedef struct worker worker;

enum { JOB_WAITING, JOB_RUNNING, JOB_ENDED };

struct tts_job {
  struct tts_job *hnext; /* the active jobs' hash chain */
  struct tts_job *qnext; /* its queue, while waiting */
  struct tts_job *dnext; /* the list of jobs with news for their listeners */
  tts_queue *q;
  worker *w;
  ttb_tts *t;
  char id[ID_HEX + 1];
  char voice[VOICE_MAX];
  uint32_t rate, pitch; /* 0 = espeak-ng's defaults */
  uint32_t est_ms;      /* its length as guessed from the text (backlog_ms) */
  char *text;
  uint64_t job_id;
  int state;
  int refs; /* the table's (while active), each listener's, the dirty list's */
  bool dirty;
  bool keep; /* eager: made even with nobody listening */
  ttb_tts_listener *ls;
  uint8_t *ogg;
  size_t ogg_len, ogg_cap;
  uint8_t **pk;
  size_t *pk_len;
  size_t npk, pk_cap;
  uint32_t pre_skip, duration_ms;
  FILE *f;
  char *tmp;
  bool file_failed;
  bool stored; /* ended whole and its file is in the cache */
  bool failed;
  char error[160];
  double t0;
  double seconds; /* from its start on a worker to its end */
  double due;     /* when its first listener must hear it (now_s() clock) */
};
typedef struct tts_job tts_job;

struct tts_queue {
  tts_queue *hnext;
  tts_queue *rnext, *rprev; /* the ring of queues with waiting jobs */
  char *name;
  tts_job *head, *tail;
  size_t len;
  uint64_t wait_ms; /* the est_ms of its waiting jobs */
};

enum { W_DEAD, W_STARTING, W_IDLE, W_BUSY, W_SERVING };
/* what a slot runs: a local worker, a relay to remote ones, a serving child */
enum { K_LOCAL, K_REMOTE, K_SERVE };

struct worker {
  int kind;
  pid_t pid;
  int fd;
  int state;
  tts_job *job;
  double deadline;
  uint8_t *rbuf;
  size_t rlen, rcap;
  unsigned early_deaths; /* deaths before a hello, in a row */
};

typedef struct remembered {
  struct remembered *hnext;
  bool used;
  char id[ID_HEX + 1];
  char voice[VOICE_MAX];
  uint32_t rate, pitch;
  uint32_t backlog_ms; /* its queue's bound in guessed ms of speech (0: none) */
  char *text;
  char *queue;
} remembered;

/* A one-shot request (ttb_tts_submit). */
typedef struct oneshot {
  ttb_tts_listener l;
  struct oneshot *next; /* the hits waiting for dispatch */
  ttb_tts *t;
  ttb_tts_cb cb;
  void *arg;
  double t0;
  char id[ID_HEX + 1];
} oneshot;

struct ttb_tts {
  char *dir;
  size_t cache_max_bytes, queue_max, max_text_bytes, backlog, nremember;
  uint32_t bitrate, deadline_ms;
  char *worker_path;
  char **remote_args, **serve_args; /* NULL-terminated copies */
  void (*on_end)(void *arg, bool ok, double seconds);
  void *on_end_arg;
  bool voice_ok[NVOICES];
  bool hello_seen;

  int ep, timer_fd, event_fd;
  worker *w;
  unsigned nw;
  bool in_dispatch;

  tts_job *jobs[NBUCKETS];
  tts_queue *queues[NBUCKETS];
  tts_queue *ring; /* the next queue to take a job from */
  size_t waiting;
  uint64_t next_job_id;
  tts_job *dirty_head, *dirty_tail;
  oneshot *hits;

  remembered *rem; /* ring of nremember */
  size_t rem_next;
  remembered *rem_b[NBUCKETS];

  ttb_tts_stats st;
};

static char *path_of(const ttb_tts *t, const char *id);
static char *clean_text(const char *text, size_t max_bytes, char *err, size_t errlen);
static int voice_index(const char *v);
static int make_id(const char *voice, const char *text, char out[ID_HEX + 1]);
static void evict(ttb_tts *t, const char *keep);
static void clean_temps(const char *dir);
static void schedule(ttb_tts *t);

static void poke(ttb_tts *t)
{
  uint64_t one = 1;
  ssize_t w;
  do
    w = write(t->event_fd, &one, sizeof one);
  while (w < 0 && errno == EINTR);
}

/* ------------------------------------------------------------ jobs */

static void job_free(tts_job *j)
{
  if (j->f)
    fclose(j->f);
  if (j->tmp) {
    if (unlink(j->tmp) != 0 && errno != ENOENT)
      fprintf(stderr, "tts: remove %s: %s\n", j->tmp, strerror(errno));
    free(j->tmp);
  }
  free(j->text);
  free(j->ogg);
  for (size_t i = 0; i < j->npk; i++)
    free(j->pk[i]);
  free(j->pk);
  free(j->pk_len);
  free(j);
}

static void job_unref(tts_job *j)
{
  if (--j->refs == 0)
    job_free(j);
}

static tts_job *job_find(ttb_tts *t, const char *id)
{
  for (tts_job *j = t->jobs[hash_str(id) % NBUCKETS]; j; j = j->hnext)
    if (strcmp(j->id, id) == 0)
      return j;
  return NULL;
}

static void job_unlink(ttb_tts *t, tts_job *j)
{
  for (tts_job **pp = &t->jobs[hash_str(j->id) % NBUCKETS]; *pp; pp = &(*pp)->hnext)
    if (*pp == j) {
      *pp = j->hnext;
      return;
    }
}

/* The job's listeners will hear of it at the end of the dispatch. */
static void mark_dirty(ttb_tts *t, tts_job *j)
{
  if (j->dirty)
    return;
  j->dirty = true;
  j->refs++;
  j->dnext = NULL;
  if (t->dirty_tail)
    t->dirty_tail->dnext = j;
  else
    t->dirty_head = j;
  t->dirty_tail = j;
  if (!t->in_dispatch)
    poke(t);
}

static tts_queue *queue_get(ttb_tts *t, const char *name, bool create)
{
  uint32_t b = hash_str(name) % NBUCKETS;
  for (tts_queue *q = t->queues[b]; q; q = q->hnext)
    if (strcmp(q->name, name) == 0)
      return q;
  if (!create)
    return NULL;
  tts_queue *q = calloc(1, sizeof *q);
  if (q == NULL || (q->name = strdup(name)) == NULL) {
    free(q);
    return NULL;
  }
  q->hnext = t->queues[b];
  t->queues[b] = q;
  return q;
}

/* An empty queue leaves the ring and is freed. */
static void queue_gc(ttb_tts *t, tts_queue *q)
{
  if (q->len)
    return;
  if (q->rnext) {
    if (q->rnext == q) {
      t->ring = NULL;
    } else {
      q->rprev->rnext = q->rnext;
      q->rnext->rprev = q->rprev;
      if (t->ring == q)
        t->ring = q->rnext;
    }
  }
  for (tts_queue **pp = &t->queues[hash_str(q->name) % NBUCKETS]; *pp; pp = &(*pp)->hnext)
    if (*pp == q) {
      *pp = q->hnext;
      break;
    }
  free(q->name);
  free(q);
}

static void queue_push(ttb_tts *t, tts_queue *q, tts_job *j)
{
  j->q = q;
  j->qnext = NULL;
  if (q->tail)
    q->tail->qnext = j;
  else
    q->head = j;
  q->tail = j;
  q->len++;
  q->wait_ms += j->est_ms;
  t->waiting++;
  if (q->rnext == NULL) { /* joins the ring just before the cursor: its turn comes last */
    if (t->ring == NULL) {
      q->rnext = q->rprev = q;
      t->ring = q;
    } else {
      q->rnext = t->ring;
      q->rprev = t->ring->rprev;
      t->ring->rprev->rnext = q;
      t->ring->rprev = q;
    }
  }
}

/* Takes j out of its queue (it waits there). */
static void queue_remove(ttb_tts *t, tts_job *j)
{
  tts_queue *q = j->q;
  tts_job *prev = NULL;
  for (tts_job *x = q->head; x; prev = x, x = x->qnext)
    if (x == j) {
      if (prev)
        prev->qnext = j->qnext;
      else
        q->head = j->qnext;
      if (q->tail == j)
        q->tail = prev;
      break;
    }
  j->q = NULL;
  j->qnext = NULL;
  q->len--;
  q->wait_ms -= j->est_ms;
  t->waiting--;
  queue_gc(t, q);
}

/* Ends j: the file is finished (or not), the listeners hear of it. */
static void job_end(ttb_tts *t, tts_job *j, const char *error)
{
  if (j->state == JOB_ENDED)
    return;
  if (j->state == JOB_WAITING && j->q)
    queue_remove(t, j);
  if (j->state == JOB_RUNNING) {
    j->seconds = now_s() - j->t0;
    t->st.running--;
    if (j->w) {
      j->w->job = NULL;
      if (j->w->state == W_BUSY)
        j->w->state = W_IDLE;
      j->w = NULL;
    }
  }
  /* the speech is whole: its file, if it could be written, goes in the cache */
  if (!error && j->f && !j->file_failed) {
    if (fclose(j->f) != 0)
      j->file_failed = true;
    j->f = NULL;
    char *final = j->file_failed ? NULL : path_of(t, j->id);
    if (final && rename(j->tmp, final) == 0) {
      free(j->tmp);
      j->tmp = NULL;
      j->stored = true;
      char keep[ID_HEX + sizeof ".ogg"];
      snprintf(keep, sizeof keep, "%s.ogg", j->id);
      evict(t, keep);
    } else if (final) {
      fprintf(stderr, "tts: rename %s: %s\n", j->tmp, strerror(errno));
    }
    free(final);
  }
  if (j->f) {
    fclose(j->f);
    j->f = NULL;
  }
  bool ran = j->state == JOB_RUNNING;
  j->state = JOB_ENDED;
  if (ran && t->on_end)
    t->on_end(t->on_end_arg, error == NULL && j->stored, j->seconds);
  if (error) {
    j->failed = true;
    snprintf(j->error, sizeof j->error, "%s", error);
    t->st.failures++;
  } else {
    t->st.syntheses++;
  }
  job_unlink(t, j);
  mark_dirty(t, j);
  job_unref(j); /* the table's */
}

/* Runs the listeners of jobs with news. */
static void notify_all(ttb_tts *t)
{
  while (t->dirty_head) {
    tts_job *j = t->dirty_head;
    t->dirty_head = j->dnext;
    if (t->dirty_head == NULL)
      t->dirty_tail = NULL;
    j->dirty = false;
    for (ttb_tts_listener *l = j->ls, *n; l; l = n) {
      n = l->next;
      if (l->on_progress)
        l->on_progress(l);
    }
    job_unref(j);
  }
}

/* ------------------------------------------------------------ workers */

static void worker_close(ttb_tts *t, worker *w)
{
  if (w->fd >= 0) {
    epoll_ctl(t->ep, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
  }
  if (w->pid > 0) {
    kill(w->pid, SIGKILL);
    int status;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
      ;
    w->pid = 0;
  }
  w->rlen = 0;
  w->state = W_DEAD;
}

static int worker_spawn(ttb_tts *t, worker *w)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return -1;
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) {
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
  char *argv[72];
  size_t na = 0;
  argv[na++] = t->worker_path;
  char **extra = w->kind == K_REMOTE ? t->remote_args : w->kind == K_SERVE ? t->serve_args : NULL;
  for (size_t i = 0; extra && extra[i] && na < sizeof argv / sizeof argv[0] - 1; i++)
    argv[na++] = extra[i];
  argv[na] = NULL;
  pid_t pid;
  int rc = posix_spawn(&pid, t->worker_path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    errno = rc;
    return -1;
  }
  int fl = fcntl(sv[0], F_GETFL);
  if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0) {
    close(sv[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
  }
  w->pid = pid;
  w->fd = sv[0];
  w->state = W_STARTING;
  w->rlen = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(w - t->w)};
  if (epoll_ctl(t->ep, EPOLL_CTL_ADD, w->fd, &ev) != 0) {
    worker_close(t, w);
    return -1;
  }
  return 0;
}

/* A worker is gone (killed, died, or spoke nonsense): its job fails and a
 * new worker takes its place (not when it never got as far as its hello,
 * three times in a row: then the program cannot run here). */
static void worker_lost(ttb_tts *t, worker *w, const char *why)
{
  bool early = w->state == W_STARTING;
  tts_job *j = w->job;
  w->job = NULL;
  worker_close(t, w);
  if (j)
    job_end(t, j, why);
  w->early_deaths = early ? w->early_deaths + 1 : 0;
  if (w->early_deaths >= 3) {
    fprintf(stderr, "tts: a speech worker (%s) keeps dying before it starts; not restarted\n",
            t->worker_path);
  } else if (worker_spawn(t, w) != 0) {
    fprintf(stderr, "tts: cannot start a speech worker (%s): %s\n", t->worker_path,
            strerror(errno));
  } else {
    t->st.worker_restarts++;
  }
}

static int job_send(ttb_tts *t, worker *w, tts_job *j)
{
  Ttboost__Worker__TtsJob m = TTBOOST__WORKER__TTS_JOB__INIT;
  m.job_id = j->job_id;
  m.voice = j->voice;
  m.text = j->text;
  m.bitrate = t->bitrate;
  m.rate = j->rate;
  m.pitch = j->pitch;
  size_t n = ttboost__worker__tts_job__get_packed_size(&m);
  uint8_t *b = malloc(n + 10);
  if (b == NULL)
    return -1;
  size_t k = ttb_ttsp_prefix(n, b);
  ttboost__worker__tts_job__pack(&m, b + k);
  size_t off = 0, total = k + n;
  while (off < total) {
    ssize_t s = send(w->fd, b + off, total - off, MSG_NOSIGNAL);
    if (s < 0 && errno == EINTR)
      continue;
    if (s <= 0)
      break; /* a worker between jobs has read everything: a full socket is a broken one */
    off += (size_t)s;
  }
  free(b);
  return off == total ? 0 : -1;
}

static void arm_timer(ttb_tts *t)
{
  double first = 0;
  for (unsigned i = 0; i < t->nw; i++)
    if (t->w[i].state == W_BUSY && (first == 0 || t->w[i].deadline < first))
      first = t->w[i].deadline;
  struct itimerspec its = {0};
  if (first > 0) {
    double d = first - now_s();
    if (d < 0.001)
      d = 0.001;
    its.it_value.tv_sec = (time_t)d;
    its.it_value.tv_nsec = (long)((d - (double)(time_t)d) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
      its.it_value.tv_nsec = 1000000;
  }
  timerfd_settime(t->timer_fd, 0, &its, NULL);
}

/* Starts j on the idle worker w. */
static void job_start(ttb_tts *t, worker *w, tts_job *j)
{
  j->state = JOB_RUNNING;
  j->w = w;
  j->t0 = now_s();
  t->st.running++;
  if (w->kind == K_REMOTE)
    t->st.remote_jobs++;
  w->job = j;
  w->state = W_BUSY;
  w->deadline = j->t0 + t->deadline_ms / 1000.0;
  size_t tl = strlen(t->dir) + sizeof "/" TMP_PREFIX + ID_HEX + 48 + sizeof TMP_SUFFIX;
  j->tmp = malloc(tl);
  if (j->tmp) {
    snprintf(j->tmp, tl, "%s/" TMP_PREFIX "%s-%ld-%llu" TMP_SUFFIX, t->dir, j->id, (long)getpid(),
             (unsigned long long)j->job_id);
    j->f = fopen(j->tmp, "wbx");
  }
  if (j->f == NULL)
    j->file_failed = true;
  if (job_send(t, w, j) != 0)
    worker_lost(t, w, "the speech worker could not be reached");
}

/* The queue whose head goes next: the first one, from the ring's cursor on,
 * whose head is due within URGENT_S (urgent jobs: in turn, one per queue);
 * when none is, the one whose head is due soonest. */
static tts_queue *pick_queue(ttb_tts *t)
{
  double soon = now_s() + URGENT_S;
  tts_queue *q = t->ring, *best = t->ring;
  do {
    if (q->head->due <= soon)
      return q;
    if (q->head->due < best->head->due)
      best = q;
    q = q->rnext;
  } while (q != t->ring);
  return best;
}

/* Gives waiting jobs to idle workers, one queue after the other. */
static void schedule(ttb_tts *t)
{
  for (unsigned i = 0; i < t->nw && t->ring; i++) {
    worker *w = &t->w[i];
    if (w->state != W_IDLE)
      continue;
    tts_queue *q = pick_queue(t);
    t->ring = q->rnext; /* the next queue's turn next */
    tts_job *j = q->head;
    q->head = j->qnext;
    if (q->head == NULL)
      q->tail = NULL;
    q->len--;
    q->wait_ms -= j->est_ms;
    t->waiting--;
    j->q = NULL;
    j->qnext = NULL;
    queue_gc(t, q);
    job_start(t, w, j);
  }
  /* no worker alive at all: nothing waiting can ever be made */
  bool any = false;
  for (unsigned i = 0; i < t->nw; i++)
    if (t->w[i].state != W_DEAD && t->w[i].kind != K_SERVE)
      any = true;
  while (!any && t->ring)
    job_end(t, t->ring->head, "no speech worker is running");
  arm_timer(t);
}

static int append_ogg(tts_job *j, const uint8_t *p, size_t n)
{
  if (n == 0)
    return 0;
  if (j->ogg_len + n > MAX_OGG)
    return -1;
  if (j->ogg_len + n > j->ogg_cap) {
    size_t nc = j->ogg_cap ? j->ogg_cap : 16384;
    while (nc < j->ogg_len + n)
      nc *= 2;
    uint8_t *b = realloc(j->ogg, nc);
    if (b == NULL)
      return -1;
    j->ogg = b;
    j->ogg_cap = nc;
  }
  memcpy(j->ogg + j->ogg_len, p, n);
  j->ogg_len += n;
  if (j->f && !j->file_failed && fwrite(p, 1, n, j->f) != n)
    j->file_failed = true;
  return 0;
}

static int append_packet(tts_job *j, const uint8_t *p, size_t n)
{
  if (j->npk >= MAX_PACKETS || n == 0 || n > 1275)
    return -1;
  if (j->npk == j->pk_cap) {
    size_t nc = j->pk_cap ? j->pk_cap * 2 : 64;
    uint8_t **a = realloc(j->pk, nc * sizeof *a);
    if (a == NULL)
      return -1;
    j->pk = a;
    size_t *b = realloc(j->pk_len, nc * sizeof *b);
    if (b == NULL)
      return -1;
    j->pk_len = b;
    j->pk_cap = nc;
  }
  uint8_t *c = malloc(n);
  if (c == NULL)
    return -1;
  memcpy(c, p, n);
  j->pk[j->npk] = c;
  j->pk_len[j->npk] = n;
  j->npk++;
  return 0;
}

/* One message from worker w. -1: the worker must go (why says so). */
static int on_output(ttb_tts *t, worker *w, const uint8_t *msg, size_t len, const char **why)
{
  Ttboost__Worker__TtsOutput *m = ttboost__worker__tts_output__unpack(NULL, len, msg);
  if (m == NULL) {
    *why = "the speech worker sent a malformed message";
    return -1;
  }
  int rc = 0;
  if (w->state == W_STARTING) {
    if (m->hello == NULL || m->hello->sample_rate == 0) {
      *why = "the speech worker did not say hello";
      rc = -1;
    } else {
      if (!t->hello_seen && w->kind != K_SERVE) {
        for (size_t i = 0; i < m->hello->n_voices; i++)
          for (size_t k = 0; k < NVOICES; k++)
            if (strcmp(m->hello->voices[i], voice_whitelist[k]) == 0)
              t->voice_ok[k] = true;
        t->hello_seen = true;
      }
      w->state = w->kind == K_SERVE ? W_SERVING : W_IDLE;
      w->early_deaths = 0;
    }
  } else if (w->kind == K_SERVE) {
    *why = "a serving speech worker wrote after its hello";
    rc = -1;
  } else if (w->job == NULL || m->job_id != w->job->job_id) {
    *why = "the speech worker answered for another job";
    rc = -1;
  } else {
    tts_job *j = w->job;
    bool bad = append_ogg(j, m->ogg.data, m->ogg.len) != 0;
    for (size_t i = 0; i < m->n_packets && !bad; i++)
      bad = append_packet(j, m->packets[i].data, m->packets[i].len) != 0;
    j->pre_skip = m->pre_skip;
    j->duration_ms = m->duration_ms;
    if (bad) {
      job_end(t, j, "the speech is too long or out of memory");
      *why = "the speech worker's output was refused";
      rc = -1;
    } else if (m->done) {
      job_end(t, j, m->error && m->error[0] ? m->error : NULL);
    } else {
      mark_dirty(t, j);
    }
  }
  ttboost__worker__tts_output__free_unpacked(m, NULL);
  return rc;
}

/* Reads what worker w wrote. */
static void worker_read(ttb_tts *t, worker *w)
{
  for (;;) {
    if (w->rlen == w->rcap) {
      size_t nc = w->rcap ? w->rcap * 2 : 65536;
      if (nc > TTB_TTSP_MAX_MSG + 16) {
        worker_lost(t, w, "the speech worker sent too much");
        return;
      }
      uint8_t *b = realloc(w->rbuf, nc);
      if (b == NULL) {
        worker_lost(t, w, "out of memory");
        return;
      }
      w->rbuf = b;
      w->rcap = nc;
    }
    ssize_t n = read(w->fd, w->rbuf + w->rlen, w->rcap - w->rlen);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      worker_lost(t, w, "the speech worker died");
      return;
    }
    w->rlen += (size_t)n;
    size_t off = 0;
    for (;;) {
      const uint8_t *msg;
      size_t mlen, used;
      const char *why = NULL;
      int r =
          ttb_ttsp_next(w->rbuf + off, w->rlen - off, TTB_TTSP_MAX_MSG, &msg, &mlen, &used, &why);
      if (r < 0 || (r == 1 && on_output(t, w, msg, mlen, &why) != 0)) {
        fprintf(stderr, "tts: worker %ld: %s\n", (long)w->pid, why);
        worker_lost(t, w, why);
        return;
      }
      if (r == 0)
        break;
      off += used;
    }
    memmove(w->rbuf, w->rbuf + off, w->rlen - off);
    w->rlen -= off;
  }
}

static void check_deadlines(ttb_tts *t)
{
  double now = now_s();
  for (unsigned i = 0; i < t->nw; i++) {
    worker *w = &t->w[i];
    if (w->state == W_BUSY && w->deadline <= now) {
      fprintf(stderr, "tts: worker %ld passed its deadline (%u ms): killed\n", (long)w->pid,
              (unsigned)t->deadline_ms);
      t->st.deadline_kills++;
      worker_lost(t, w, "the speech was not made in time");
    }
  }
}

static void run_hits(ttb_tts *t);

static void dispatch(ttb_tts *t, bool callbacks)
{
  t->in_dispatch = true;
  struct epoll_event evs[16];
  for (;;) {
    int n = epoll_wait(t->ep, evs, 16, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (int i = 0; i < n; i++) {
      uint32_t k = evs[i].data.u32;
      if (k == UINT32_MAX - 1) {
        uint64_t v;
        if (read(t->timer_fd, &v, sizeof v) < 0 && errno != EAGAIN)
          fprintf(stderr, "tts: timerfd: %s\n", strerror(errno));
      } else if (k == UINT32_MAX) {
        uint64_t v;
        if (read(t->event_fd, &v, sizeof v) < 0 && errno != EAGAIN)
          fprintf(stderr, "tts: eventfd: %s\n", strerror(errno));
      } else if (k < t->nw && t->w[k].fd >= 0) {
        worker_read(t, &t->w[k]);
      }
    }
  }
  check_deadlines(t);
  schedule(t);
  t->in_dispatch = false;
  if (callbacks) {
    t->in_dispatch = true;
    notify_all(t);
    run_hits(t);
    t->in_dispatch = false;
    schedule(t); /* what the callbacks asked for */
    if (t->dirty_head || t->hits)
      poke(t);
  }
}

void ttb_tts_dispatch(ttb_tts *t) { dispatch(t, true); }

int ttb_tts_fd(const ttb_tts *t) { return t->ep; }

const char *ttb_tts_dir(const ttb_tts *t) { return t->dir; }

void ttb_tts_get_stats(const ttb_tts *t, ttb_tts_stats *st)
{
  *st = t->st;
  st->waiting = t->waiting;
  st->workers = 0;
  st->serving = 0;
  for (unsigned i = 0; i < t->nw; i++) {
    if (t->w[i].state == W_IDLE || t->w[i].state == W_BUSY)
      st->workers++;
    if (t->w[i].state == W_SERVING)
      st->serving++;
  }
}

/* ------------------------------------------------------------ remember */

static remembered *rem_find(ttb_tts *t, const char *id)
{
  for (remembered *r = t->rem_b[hash_str(id) % NBUCKETS]; r; r = r->hnext)
    if (strcmp(r->id, id) == 0)
      return r;
  return NULL;
}

static int rem_put(ttb_tts *t, const char *id, const char *voice, uint32_t rate, uint32_t pitch,
                   uint32_t backlog_ms, const char *text, const char *queue)
{
  remembered *r = rem_find(t, id);
  if (r) { /* the newest queue asking for it */
    char *q = strdup(queue);
    if (q == NULL)
      return -1;
    free(r->queue);
    r->queue = q;
    r->backlog_ms = backlog_ms;
    return 0;
  }
  r = &t->rem[t->rem_next];
  t->rem_next = (t->rem_next + 1) % t->nremember;
  if (r->used) {
    for (remembered **pp = &t->rem_b[hash_str(r->id) % NBUCKETS]; *pp; pp = &(*pp)->hnext)
      if (*pp == r) {
        *pp = r->hnext;
        break;
      }
    free(r->text);
    free(r->queue);
    r->used = false;
  }
  r->text = strdup(text);
  r->queue = strdup(queue);
  if (r->text == NULL || r->queue == NULL) {
    free(r->text);
    free(r->queue);
    r->text = r->queue = NULL;
    return -1;
  }
  snprintf(r->id, sizeof r->id, "%s", id);
  snprintf(r->voice, sizeof r->voice, "%s", voice);
  r->rate = rate;
  r->pitch = pitch;
  r->backlog_ms = backlog_ms;
  r->used = true;
  uint32_t b = hash_str(id) % NBUCKETS;
  r->hnext = t->rem_b[b];
  t->rem_b[b] = r;
  return 0;
}

/* ------------------------------------------------------------ public */

/* A voice of the whitelist that loaded, with an optional "+variant" of
 * the variants' whitelist: the voice's index, else -1. */
static int voice_check(const ttb_tts *t, const char *voice)
{
  char base[VOICE_MAX];
  const char *plus = strchr(voice, '+');
  size_t n = plus ? (size_t)(plus - voice) : strlen(voice);
  if (n == 0 || n >= sizeof base || strlen(voice) >= VOICE_MAX)
    return -1;
  memcpy(base, voice, n);
  base[n] = '\0';
  int vi = voice_index(base);
  if (vi < 0 || !t->voice_ok[vi])
    return -1;
  if (plus == NULL)
    return vi;
  for (size_t i = 0; i < NVARIANTS; i++)
    if (strcmp(plus + 1, variant_whitelist[i]) == 0)
      return vi;
  return -1;
}

static const char *pick_voice(ttb_tts *t, const char *text, const char *voice, char *err,
                              size_t errlen)
{
  if (voice && voice[0]) {
    int vi = voice_check(t, voice);
    if (vi < 0) {
      set_err(err, errlen, "unknown voice '%.*s'", 32, voice);
      return NULL;
    }
    /* the caller's text (a variant), copied by rem_put */
    return strchr(voice, '+') ? voice : voice_whitelist[vi];
  }
  const char *v = ttb_tts_voice_for(text);
  int vi = voice_index(v);
  if (vi < 0 || !t->voice_ok[vi])
    v = strcmp(v, "kk") == 0 && t->voice_ok[voice_index("ru")] ? "ru" : "en";
  return v;
}

int ttb_tts_prepare(ttb_tts *t, const char *text, const char *voice, const char *queue,
                    char id[TTB_TTS_ID_LEN + 1], char *err, size_t errlen)
{
  return ttb_tts_prepare_ex(t, text, voice, NULL, queue, id, err, errlen);
}

uint32_t ttb_tts_estimate_ms(const char *text, uint32_t rate)
{
  uint64_t words = 0;
  bool in = false;
  for (const char *p = text; *p; p++) {
    bool sp = *p == ' ' || *p == '\t' || *p == '\n';
    if (!sp && !in)
      words++;
    in = !sp;
  }
  if (words == 0)
    words = 1;
  uint64_t ms = 300 + words * 60000u / (rate ? rate : 175);
  return ms > 600000 ? 600000 : (uint32_t)ms;
}

int ttb_tts_prepare_ex(ttb_tts *t, const char *text, const char *voice, const ttb_tts_opts *o,
                       const char *queue, char id[TTB_TTS_ID_LEN + 1], char *err, size_t errlen)
{
  uint32_t rate = o ? o->rate : 0, pitch = o ? o->pitch : 0;
  if ((rate != 0 && (rate < TTB_TTS_RATE_MIN || rate > TTB_TTS_RATE_MAX)) || pitch > 99) {
    set_err(err, errlen, "rate or pitch out of range");
    return -1;
  }
  const char *v = pick_voice(t, text, voice, err, errlen);
  if (v == NULL)
    return -1;
  char *clean = clean_text(text, t->max_text_bytes, err, errlen);
  if (clean == NULL)
    return -1;
  /* the id's key: the voice alone at the defaults (the ids of before) */
  char key[VOICE_MAX + 40];
  if (rate || pitch)
    snprintf(key, sizeof key, "%s;rate=%u;pitch=%u", v, (unsigned)rate, (unsigned)pitch);
  else
    snprintf(key, sizeof key, "%s", v);
  int rc = 0;
  if (make_id(key, clean, id) != 0) {
    set_err(err, errlen, "hash failed");
    rc = -1;
  } else if (rem_put(t, id, v, rate, pitch, o ? o->backlog_ms : 0, clean, queue ? queue : "") !=
             0) {
    set_err(err, errlen, "out of memory");
    rc = -1;
  }
  free(clean);
  return rc;
}

bool ttb_tts_cached(ttb_tts *t, const char *id, char *out, size_t cap)
{
  char *path = path_of(t, id);
  if (path == NULL)
    return false;
  struct stat st;
  bool hit = stat(path, &st) == 0 && S_ISREG(st.st_mode) && utimensat(AT_FDCWD, path, NULL, 0) == 0;
  if (hit && out)
    snprintf(out, cap, "%s", path);
  free(path);
  return hit;
}

static void attach(tts_job *j, ttb_tts_listener *l)
{
  l->job = j;
  l->prev = NULL;
  l->next = j->ls;
  if (j->ls)
    j->ls->prev = l;
  j->ls = l;
  j->refs++;
}

ttb_tts_open ttb_tts_listen(ttb_tts *t, const char *id, ttb_tts_listener *l)
{
  return ttb_tts_listen_lead(t, id, l, 0);
}

ttb_tts_open ttb_tts_listen_lead(ttb_tts *t, const char *id, ttb_tts_listener *l, uint32_t lead_ms)
{
  double due = now_s() + (lead_ms > TTB_TTS_LEAD_MAX_MS ? TTB_TTS_LEAD_MAX_MS : lead_ms) / 1000.0;
  tts_job *j = job_find(t, id);
  if (j) {
    if (j->state == JOB_WAITING && due < j->due)
      j->due = due; /* wanted sooner now */
    if (l)
      attach(j, l);
    else
      j->keep = true;
    return TTB_TTS_LISTENING;
  }
  if (ttb_tts_cached(t, id, NULL, 0))
    return TTB_TTS_CACHED;
  remembered *r = rem_find(t, id);
  if (r == NULL)
    return TTB_TTS_UNKNOWN;
  if (t->waiting >= t->queue_max)
    return TTB_TTS_BUSY;
  tts_queue *q = queue_get(t, r->queue, true);
  if (q == NULL)
    return TTB_TTS_FAILED;
  j = calloc(1, sizeof *j);
  if (j == NULL || (j->text = strdup(r->text)) == NULL) {
    free(j);
    queue_gc(t, q);
    return TTB_TTS_FAILED;
  }
  snprintf(j->id, sizeof j->id, "%s", id);
  snprintf(j->voice, sizeof j->voice, "%s", r->voice);
  j->rate = r->rate;
  j->pitch = r->pitch;
  j->est_ms = ttb_tts_estimate_ms(r->text, r->rate);
  j->job_id = ++t->next_job_id;
  j->t = t;
  j->state = JOB_WAITING;
  j->due = due;
  j->refs = 1; /* the table's */
  j->keep = l == NULL;
  uint32_t b = hash_str(id) % NBUCKETS;
  j->hnext = t->jobs[b];
  t->jobs[b] = j;
  if (l)
    attach(j, l);
  /* a full backlog: its oldest waiting job goes */
  if (q->len >= t->backlog) {
    tts_job *old = q->head;
    t->st.backlog_dropped++;
    job_end(t, old, "dropped: the channel's speech backlog was full");
    q = queue_get(t, r->queue, true); /* it may have been freed */
    if (q == NULL) {
      job_end(t, j, "out of memory");
      return TTB_TTS_LISTENING;
    }
  }
  /* and a bound in seconds of speech (the channel's max_backlog_seconds):
   * the oldest waiting go until this one fits */
  while (r->backlog_ms > 0 && q->head != NULL && q->wait_ms + j->est_ms > r->backlog_ms) {
    t->st.backlog_dropped++;
    job_end(t, q->head, "dropped: the channel's speech backlog was full");
    q = queue_get(t, r->queue, true);
    if (q == NULL) {
      job_end(t, j, "out of memory");
      return TTB_TTS_LISTENING;
    }
  }
  queue_push(t, q, j);
  if (!t->in_dispatch)
    schedule(t);
  return TTB_TTS_LISTENING;
}

void ttb_tts_unlisten(ttb_tts_listener *l)
{
  tts_job *j = l->job;
  if (j == NULL)
    return;
  if (l->prev)
    l->prev->next = l->next;
  else
    j->ls = l->next;
  if (l->next)
    l->next->prev = l->prev;
  l->job = NULL;
  l->next = l->prev = NULL;
  /* a job still waiting that nobody wants any more is not made */
  if (j->state == JOB_WAITING && j->ls == NULL && !j->keep) {
    j->refs++;
    job_end(j->t, j, "nobody listens");
    j->t->st.failures--; /* not a failure */
    job_unref(j);
  }
  job_unref(j);
}

const uint8_t *ttb_tts_ogg(const ttb_tts_listener *l, size_t *len)
{
  *len = l->job ? l->job->ogg_len : 0;
  return l->job ? l->job->ogg : NULL;
}

size_t ttb_tts_npackets(const ttb_tts_listener *l) { return l->job ? l->job->npk : 0; }

const uint8_t *ttb_tts_packet(const ttb_tts_listener *l, size_t i, size_t *len)
{
  if (l->job == NULL || i >= l->job->npk) {
    *len = 0;
    return NULL;
  }
  *len = l->job->pk_len[i];
  return l->job->pk[i];
}

uint32_t ttb_tts_pre_skip(const ttb_tts_listener *l) { return l->job ? l->job->pre_skip : 0; }
uint32_t ttb_tts_duration_ms(const ttb_tts_listener *l) { return l->job ? l->job->duration_ms : 0; }

bool ttb_tts_ended(const ttb_tts_listener *l, const char **error)
{
  if (l->job == NULL) {
    if (error)
      *error = "not listening";
    return true;
  }
  if (l->job->state != JOB_ENDED)
    return false;
  if (error)
    *error = l->job->failed ? l->job->error : NULL;
  return true;
}

const char *ttb_tts_listener_id(const ttb_tts_listener *l) { return l->job ? l->job->id : ""; }

bool ttb_tts_stored(const ttb_tts_listener *l) { return l->job && l->job->stored; }

/* ------------------------------------------------------------ one-shot */

static void oneshot_report(oneshot *o, const char *error, bool hit, double seconds)
{
  ttb_tts_result res = {0};
  char *path = error ? NULL : path_of(o->t, o->id);
  if (!error && path) {
    res.id = o->id;
    res.path = path;
    res.hit = hit;
    res.seconds = seconds;
  } else {
    res.error = error ? error : "out of memory";
  }
  if (o->cb)
    o->cb(o->arg, &res);
  free(path);
}

static void oneshot_progress(ttb_tts_listener *l)
{
  oneshot *o = (oneshot *)l;
  const char *error = NULL;
  if (!ttb_tts_ended(l, &error))
    return;
  double seconds = l->job->seconds;
  if (!error && !l->job->stored)
    error = "the cache file could not be written";
  ttb_tts_unlisten(l);
  oneshot_report(o, error, false, seconds);
  free(o);
}

static void run_hits(ttb_tts *t)
{
  while (t->hits) {
    oneshot *o = t->hits;
    t->hits = o->next;
    oneshot_report(o, NULL, true, 0);
    free(o);
  }
}

int ttb_tts_submit(ttb_tts *t, const char *text, const char *voice, ttb_tts_cb cb, void *arg,
                   char *err, size_t errlen)
{
  oneshot *o = calloc(1, sizeof *o);
  if (o == NULL) {
    set_err(err, errlen, "out of memory");
    return -1;
  }
  o->t = t;
  o->cb = cb;
  o->arg = arg;
  o->t0 = now_s();
  o->l.on_progress = oneshot_progress;
  if (ttb_tts_prepare(t, text, voice, "", o->id, err, errlen) != 0) {
    free(o);
    return -1;
  }
  switch (ttb_tts_listen(t, o->id, &o->l)) {
  case TTB_TTS_LISTENING:
    return 0;
  case TTB_TTS_CACHED:
    o->next = t->hits;
    t->hits = o;
    poke(t);
    return 0;
  case TTB_TTS_BUSY:
    free(o);
    set_err(err, errlen, "text to speech is busy");
    return 1;
  default:
    free(o);
    set_err(err, errlen, "out of memory");
    return -1;
  }
}

/* ------------------------------------------------------------ start */

static int make_dir(const char *dir, char *err, size_t errlen)
{
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    set_err(err, errlen, "%s is not a directory", dir);
    return -1;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    set_err(err, errlen, "%s is not writable: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

/* A NULL-terminated copy of args (NULL for NULL or when out of memory). */
static char **copy_args(const char *const *args)
{
  if (args == NULL)
    return NULL;
  size_t n = 0;
  while (args[n] && n < 64)
    n++;
  char **c = calloc(n + 1, sizeof *c);
  if (c == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if ((c[i] = strdup(args[i])) == NULL) {
      for (size_t k = 0; k < i; k++)
        free(c[k]);
      free(c);
      return NULL;
    }
  return c;
}

static void free_args(char **a)
{
  for (size_t i = 0; a && a[i]; i++)
    free(a[i]);
  free(a);
}

/* The worker program: the configured path, $TTBOOST_TTS_WORKER, or beside this program. */
static char *find_worker(const char *configured)
{
  if (configured && configured[0])
    return strdup(configured);
  const char *env = getenv("TTBOOST_TTS_WORKER");
  if (env && env[0])
    return strdup(env);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return strdup("ttboost-tts-worker");
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash)
    slash[1] = '\0';
  static const char *const rel[] = {"ttboost-tts-worker", "../server/ttboost-tts-worker",
                                    "../../server/ttboost-tts-worker"};
  char cand[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
    if (access(cand, X_OK) == 0)
      return strdup(cand);
  }
  snprintf(cand, sizeof cand, "%sttboost-tts-worker", exe);
  return strdup(cand);
}

ttb_tts *ttb_tts_start(const ttb_tts_config *cfg, char *err, size_t errlen)
{
  if (!cfg || !cfg->cache_dir || !cfg->cache_dir[0]) {
    set_err(err, errlen, "no cache directory");
    return NULL;
  }
  if (cfg->queue_max == 0) {
    set_err(err, errlen, "queue_max must be at least 1");
    return NULL;
  }
  if (cfg->bitrate < 6000 || cfg->bitrate > 510000) {
    set_err(err, errlen, "bitrate %u out of range (6000..510000)", (unsigned)cfg->bitrate);
    return NULL;
  }
  if (sodium_init() < 0) {
    set_err(err, errlen, "libsodium initialisation failed");
    return NULL;
  }
  if (make_dir(cfg->cache_dir, err, errlen) != 0)
    return NULL;
  ttb_tts *t = calloc(1, sizeof *t);
  if (!t) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  t->ep = t->timer_fd = t->event_fd = -1;
  t->cache_max_bytes = cfg->cache_max_bytes;
  t->queue_max = cfg->queue_max;
  t->max_text_bytes = cfg->max_text_bytes;
  t->bitrate = cfg->bitrate;
  t->deadline_ms = cfg->deadline_ms ? cfg->deadline_ms : 10000;
  t->on_end = cfg->on_end;
  t->on_end_arg = cfg->on_end_arg;
  t->backlog = cfg->backlog ? cfg->backlog : 16;
  t->nremember = cfg->remember ? cfg->remember : 8192;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned remote = cfg->remote_args ? cfg->remote : 0;
  unsigned local = cfg->workers ? cfg->workers : remote ? 0 : (cores > 0 ? (unsigned)cores : 1);
  unsigned serve = cfg->serve_args ? cfg->serve : 0;
  if (local > MAX_WORKERS)
    local = MAX_WORKERS;
  if (remote > MAX_WORKERS)
    remote = MAX_WORKERS;
  if (serve > MAX_WORKERS)
    serve = MAX_WORKERS;
  t->nw = local + remote + serve;
  if (local + remote == 0) {
    set_err(err, errlen, "no speech worker: give workers or remote slots");
    goto fail;
  }
  t->dir = strdup(cfg->cache_dir);
  t->worker_path = find_worker(cfg->worker_path);
  t->rem = calloc(t->nremember, sizeof *t->rem);
  t->w = calloc(t->nw, sizeof *t->w);
  t->remote_args = copy_args(remote ? cfg->remote_args : NULL);
  t->serve_args = copy_args(serve ? cfg->serve_args : NULL);
  if (!t->dir || !t->worker_path || !t->rem || !t->w || (remote && !t->remote_args) ||
      (serve && !t->serve_args)) {
    set_err(err, errlen, "out of memory");
    goto fail;
  }
  for (size_t l = strlen(t->dir); l > 1 && t->dir[l - 1] == '/'; l--)
    t->dir[l - 1] = '\0';
  for (unsigned i = 0; i < t->nw; i++) {
    t->w[i].fd = -1;
    t->w[i].kind = i < local ? K_LOCAL : i < local + remote ? K_REMOTE : K_SERVE;
  }
  t->ep = epoll_create1(EPOLL_CLOEXEC);
  t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  t->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (t->ep < 0 || t->timer_fd < 0 || t->event_fd < 0) {
    set_err(err, errlen, "epoll/timerfd/eventfd: %s", strerror(errno));
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX - 1};
  struct epoll_event ev2 = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->timer_fd, &ev) != 0 ||
      epoll_ctl(t->ep, EPOLL_CTL_ADD, t->event_fd, &ev2) != 0) {
    set_err(err, errlen, "epoll_ctl: %s", strerror(errno));
    goto fail;
  }
  clean_temps(t->dir);
  if (access(t->worker_path, X_OK) != 0) {
    set_err(err, errlen, "the speech worker %s cannot run: %s", t->worker_path, strerror(errno));
    goto fail;
  }
  for (unsigned i = 0; i < t->nw; i++)
    if (worker_spawn(t, &t->w[i]) != 0) {
      set_err(err, errlen, "cannot start the speech worker %s: %s", t->worker_path,
              strerror(errno));
      goto fail;
    }
  /* the hellos tell the voices */
  double until = now_s() + 10;
  for (;;) {
    bool starting = false;
    for (unsigned i = 0; i < t->nw; i++)
      if (t->w[i].state == W_STARTING)
        starting = true;
    if (!starting || now_s() >= until)
      break;
    struct pollfd p = {.fd = t->ep, .events = POLLIN};
    poll(&p, 1, 100);
    dispatch(t, false);
    bool any = false;
    for (unsigned i = 0; i < t->nw; i++)
      if (t->w[i].state != W_DEAD)
        any = true;
    if (!any)
      break;
  }
  if (!t->hello_seen) {
    set_err(err, errlen, "the speech worker %s did not start (espeak-ng data missing?)",
            t->worker_path);
    goto fail;
  }
  if (!t->voice_ok[0]) {
    set_err(err, errlen, "espeak-ng has no 'en' voice");
    goto fail;
  }
  return t;
fail:
  ttb_tts_stop(t);
  return NULL;
}

void ttb_tts_stop(ttb_tts *t)
{
  if (!t)
    return;
  if (t->w)
    for (unsigned i = 0; i < t->nw; i++) {
      tts_job *j = t->w[i].job;
      t->w[i].job = NULL;
      worker_close(t, &t->w[i]);
      if (j)
        job_end(t, j, "text to speech stopped");
      free(t->w[i].rbuf);
    }
  for (size_t b = 0; b < NBUCKETS; b++)
    while (t->jobs[b])
      job_end(t, t->jobs[b], "text to speech stopped");
  t->in_dispatch = true;
  notify_all(t);
  run_hits(t);
  if (t->rem)
    for (size_t i = 0; i < t->nremember; i++) {
      free(t->rem[i].text);
      free(t->rem[i].queue);
    }
  for (size_t b = 0; b < NBUCKETS; b++)
    while (t->queues[b]) {
      tts_queue *q = t->queues[b];
      t->queues[b] = q->hnext;
      free(q->name);
      free(q);
    }
  if (t->ep >= 0)
    close(t->ep);
  if (t->timer_fd >= 0)
    close(t->timer_fd);
  if (t->event_fd >= 0)
    close(t->event_fd);
  free(t->rem);
  free(t->w);
  free(t->worker_path);
  free_args(t->remote_args);
  free_args(t->serve_args);
  free(t->dir);
  free(t);
}
/* ------------------------------------------------------------- UTF-8 */

/* Decodes one code point at s (n bytes left). Returns its length, or 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF, cut). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
  if (n == 0)
    return 0;
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return len;
}

static bool is_control(uint32_t cp)
{
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

static bool is_space(uint32_t cp)
{
  return cp == ' ' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
         cp == 0xFEFF;
}

/* Cleans text into a new string: control characters and Unicode spaces
 * become one space per run, leading/trailing space goes, then the result
 * is cut to max_bytes (0 = no cut) at a code point boundary.
 * Returns NULL with a message on invalid UTF-8, empty result or no memory. */
static char *clean_text(const char *text, size_t max_bytes, char *err, size_t errlen)
{
  if (!text) {
    set_err(err, errlen, "no text");
    return NULL;
  }
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);
  char *out = malloc(n + 1);
  if (!out) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  size_t o = 0;
  bool pending_space = false;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = utf8_decode(s + i, n - i, &cp);
    if (l == 0) {
      free(out);
      set_err(err, errlen, "text is not valid UTF-8 (byte %zu)", i);
      return NULL;
    }
    if (is_control(cp) || is_space(cp)) {
      pending_space = o > 0; /* leading space is dropped */
    } else {
      if (pending_space)
        out[o++] = ' ';
      pending_space = false;
      memcpy(out + o, s + i, l);
      o += l;
    }
    i += l;
  }
  /* Cut at a boundary: back off continuation bytes. */
  if (max_bytes && o > max_bytes) {
    size_t cut = max_bytes;
    while (cut > 0 && ((unsigned char)out[cut] & 0xC0) == 0x80)
      cut--;
    o = cut;
    while (o > 0 && out[o - 1] == ' ')
      o--;
  }
  out[o] = '\0';
  if (o == 0) {
    free(out);
    set_err(err, errlen, "text is empty after cleaning");
    return NULL;
  }
  return out;
}

/* --------------------------------------------------------------- voice */

const char *ttb_tts_voice_for(const char *text)
{
  if (!text)
    return "en";
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);
  size_t kaz = 0, cyr = 0, lat = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = utf8_decode(s + i, n - i, &cp);
    if (l == 0) {
      i++;
      continue;
    }
    i += l;
    switch (cp) {
    case 0x04D8:
    case 0x04D9: /* Ә ә */
    case 0x0492:
    case 0x0493: /* Ғ ғ */
    case 0x049A:
    case 0x049B: /* Қ қ */
    case 0x04A2:
    case 0x04A3: /* Ң ң */
    case 0x04E8:
    case 0x04E9: /* Ө ө */
    case 0x04B0:
    case 0x04B1: /* Ұ ұ */
    case 0x04AE:
    case 0x04AF: /* Ү ү */
    case 0x04BA:
    case 0x04BB: /* Һ һ */
    case 0x0406:
    case 0x0456: /* І і */
      kaz++;
      cyr++;
      continue;
    default:
      break;
    }
    if (cp >= 0x0400 && cp <= 0x04FF)
      cyr++;
    else if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
             (cp >= 0x00C0 && cp <= 0x024F && cp != 0xD7 && cp != 0xF7))
      lat++;
  }
  if (cyr > 0 && cyr >= lat)
    return kaz > 0 ? "kk" : "ru";
  return "en";
}

static int voice_index(const char *v)
{
  for (size_t i = 0; i < NVOICES; i++)
    if (strcmp(voice_whitelist[i], v) == 0)
      return (int)i;
  return -1;
}

bool ttb_tts_has_voice(const ttb_tts *t, const char *voice)
{
  return voice != NULL && voice_check(t, voice) >= 0;
}

/* ----------------------------------------------------------------- id */

static int make_id(const char *voice, const char *text, char out[ID_HEX + 1])
{
  unsigned char h[16];
  crypto_generichash_state st;
  if (crypto_generichash_init(&st, NULL, 0, sizeof h) != 0 ||
      crypto_generichash_update(&st, (const unsigned char *)voice, strlen(voice)) != 0 ||
      crypto_generichash_update(&st, (const unsigned char *)"\n", 1) != 0 ||
      crypto_generichash_update(&st, (const unsigned char *)text, strlen(text)) != 0 ||
      crypto_generichash_final(&st, h, sizeof h) != 0)
    return -1;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof h; i++) {
    out[2 * i] = hex[h[i] >> 4];
    out[2 * i + 1] = hex[h[i] & 15];
  }
  out[ID_HEX] = '\0';
  return 0;
}

static char *path_of(const ttb_tts *t, const char *id)
{
  size_t n = strlen(t->dir) + 1 + ID_HEX + sizeof ".ogg";
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s.ogg", t->dir, id);
  return p;
}

/* ------------------------------------------------------------- cache */

typedef struct cache_ent {
  char *name;
  struct timespec mtime;
  off_t size;
} cache_ent;

static int cmp_mtime(const void *a, const void *b)
{
  const cache_ent *x = a, *y = b;
  if (x->mtime.tv_sec != y->mtime.tv_sec)
    return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
  if (x->mtime.tv_nsec != y->mtime.tv_nsec)
    return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
  return strcmp(x->name, y->name);
}

static bool ends_with(const char *s, const char *suf)
{
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* Deletes the least recently used *.ogg files until the total is within
 * the cap; `keep` (a file name) is never deleted. Best effort: problems
 * are logged to stderr, nothing else depends on eviction. */
static void evict(ttb_tts *t, const char *keep)
{
  if (t->cache_max_bytes == 0)
    return;
  DIR *d = opendir(t->dir);
  if (!d) {
    fprintf(stderr, "tts: cache scan %s: %s\n", t->dir, strerror(errno));
    return;
  }
  cache_ent *ents = NULL;
  size_t n = 0, cap = 0;
  unsigned long long total = 0;
  int dfd = dirfd(d);
  struct dirent *e;
  bool oom = false;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !ends_with(e->d_name, ".ogg"))
      continue;
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    total += (unsigned long long)st.st_size;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      cache_ent *ne = realloc(ents, nc * sizeof *ne);
      if (!ne) {
        oom = true;
        break;
      }
      ents = ne;
      cap = nc;
    }
    char *name = strdup(e->d_name);
    if (!name) {
      oom = true;
      break;
    }
    ents[n].name = name;
    ents[n].mtime = st.st_mtim;
    ents[n].size = st.st_size;
    n++;
  }
  if (oom) {
    fprintf(stderr, "tts: cache scan: out of memory\n");
  } else if (total > t->cache_max_bytes) {
    qsort(ents, n, sizeof *ents, cmp_mtime);
    for (size_t i = 0; i < n && total > t->cache_max_bytes; i++) {
      if (keep && strcmp(ents[i].name, keep) == 0)
        continue;
      if (unlinkat(dfd, ents[i].name, 0) == 0 || errno == ENOENT)
        total -= (unsigned long long)ents[i].size;
      else
        fprintf(stderr, "tts: evict %s: %s\n", ents[i].name, strerror(errno));
    }
  }
  for (size_t i = 0; i < n; i++)
    free(ents[i].name);
  free(ents);
  closedir(d);
}

/* Removes temp files left by a crash. */
static void clean_temps(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    return;
  int dfd = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 && ends_with(e->d_name, TMP_SUFFIX))
      if (unlinkat(dfd, e->d_name, 0) != 0 && errno != ENOENT)
        fprintf(stderr, "tts: remove stale %s: %s\n", e->d_name, strerror(errno));
  }
  closedir(d);
}
