/* The event journal: see journal.h. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "TTBJNL1\n"
#define MAGIC_LEN 8
#define REC_COMMIT 0x7f
#define REC_MAX (16u << 20) /* no record is bigger (a streak snapshot is the largest) */
/* compaction when the file has grown by max(COMPACT_FACTOR x what the live
 * state took, COMPACT_SLACK) since the last one: its cost (a rewrite of the
 * live state) is then at most 1/COMPACT_FACTOR of what was appended */
#define COMPACT_SLACK (64u << 20)
#define COMPACT_FACTOR 4u

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

/* A compaction handed to the thread: the snapshot, and where in the
 * commits it stands. */
typedef struct cjob {
  buf snap;        /* magic + the live state's records (no commit marker yet) */
  uint64_t ticket; /* the snapshot covers every commit up to this one */
  size_t sub_len;  /* bytes of j->sub that were commits up to `ticket` when it was made */
  bool carry;      /* copy the old file's records of carry_type with seq >= carry_min */
  ttb_jrec_type carry_type;
  uint64_t carry_min;
} cjob;

struct ttb_journal {
  char path[600];
  int fd;
  /* the event loop's side (one thread) */
  buf pend;         /* records of the next commit */
  buf *target;      /* where ttb_journal_add writes: &pend, or the compaction's buffer */
  bool dump_failed; /* a record of the compaction's dump could not be added */
  bool carry;       /* the dump asked for ttb_journal_carry */
  ttb_jrec_type carry_type;
  uint64_t carry_min;
  uint64_t submitted; /* tickets given out (each submitted commit has the next one) */
  /* shared with the thread: under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* to the thread: work */
  pthread_cond_t done; /* to waiters: a ticket is synced or failed, a compaction ended */
  bool threaded, stop;
  pthread_t th;
  buf sub;           /* commits handed over, not yet taken by the thread */
  buf spare;         /* an emptied buffer the thread hands back, for the next pend */
  uint64_t sub_upto; /* the newest ticket in sub */
  uint64_t synced;   /* every ticket up to this one is on disk */
  uint64_t failed;   /* the newest ticket whose write or sync failed */
  char failmsg[800];
  cjob *job;       /* a compaction waiting for the thread */
  bool compacting; /* a compaction is asked for or running */
  uint64_t compactions, compact_errors;
  char compact_msg[800];
  uint64_t durable;    /* bytes of the file that are synced */
  uint64_t base_size;  /* the live state's size at the last compaction (or open) */
  int wake_w;          /* written to when something finished (-1: none) */
  bool nosync;         /* ttb_journal_set_fsync(j, false) */
  double sync_seconds; /* spent writing and syncing (under mu) */
  unsigned delay_ms;   /* TTB_TEST_JOURNAL_FSYNC_DELAY_MS: a slow disk, for tests */
  /* the thread's side */
  buf retry; /* bytes written but not synced yet (a failed attempt) */
};

void ttb_journal_set_fsync(ttb_journal *j, bool sync) { j->nosync = !sync; }

static bool reserve(buf *b, size_t more)
{
  if (b->len + more <= b->cap)
    return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (p == NULL)
    return false;
  b->p = p;
  b->cap = cap;
  return true;
}

static void put(buf *b, const void *d, size_t n)
{
  memcpy(b->p + b->len, d, n);
  b->len += n;
}

static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }

static void put_u32(buf *b, uint32_t v)
{
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, x, 4);
}

static void put_u64(buf *b, uint64_t v)
{
  put_u32(b, (uint32_t)v);
  put_u32(b, (uint32_t)(v >> 32));
}

static void put_bytes(buf *b, const void *d, size_t n)
{
  put_u32(b, (uint32_t)n);
  if (n)
    put(b, d, n);
}

static void put_str(buf *b, const char *s) { put_bytes(b, s ? s : "", s ? strlen(s) : 0); }

static uint32_t get_u32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Appends one framed record (payload built by the caller after the header). */
static int add_record(buf *b, const ttb_jrec *r)
{
  size_t slen = 0;
  const char *strs[4] = {r ? r->channel : NULL, r ? r->user : NULL, r ? r->text : NULL,
                         r ? r->url : NULL};
  for (int i = 0; i < 4; i++)
    slen += 4 + (strs[i] ? strlen(strs[i]) : 0);
  size_t need = 8 + 1 + slen + 8 + 8 + 1 + 4 + 4 + (r ? r->len : 0);
  if (need > REC_MAX)
    return -1;
  if (!reserve(b, need))
    return -1;
  size_t at = b->len;
  b->len += 8; /* header, filled below */
  if (r == NULL) {
    put_u8(b, REC_COMMIT);
  } else {
    put_u8(b, (uint8_t)r->type);
    put_str(b, r->channel);
    switch (r->type) {
    case TTB_JREC_CHANNEL:
      put_u64(b, r->seq);
      put_u64(b, r->fifo);
      break;
    case TTB_JREC_EVENT:
      put_u64(b, r->seq);
      put_u64(b, r->fifo);
      put_u8(b, r->chat);
      put_bytes(b, r->data, r->len);
      break;
    case TTB_JREC_QUEUED:
      put_u64(b, r->fifo);
      put_u8(b, r->chat);
      put_str(b, r->user);
      put_str(b, r->text);
      put_str(b, r->url);
      put_u32(b, r->count);
      break;
    case TTB_JREC_DROPPED:
      put_u64(b, r->fifo);
      break;
    case TTB_JREC_STREAKS:
      put_bytes(b, r->data, r->len);
      break;
    case TTB_JREC_SEEN:
      put_u64(b, r->seq);
      put_str(b, r->text);
      break;
    }
  }
  size_t plen = b->len - at - 8;
  uint32_t crc = (uint32_t)crc32(0L, b->p + at + 8, (uInt)plen);
  size_t end = b->len;
  b->len = at;
  put_u32(b, (uint32_t)plen);
  put_u32(b, crc);
  b->len = end;
  return 0;
}

int ttb_journal_add(ttb_journal *j, const ttb_jrec *r)
{
  if (r != NULL && add_record(j->target, r) == 0)
    return 0;
  if (j->target != &j->pend)
    j->dump_failed = true;
  return -1;
}

bool ttb_journal_dirty(const ttb_journal *j) { return j->pend.len > 0; }

uint64_t ttb_journal_size(ttb_journal *j)
{
  pthread_mutex_lock(&j->mu);
  uint64_t n = j->durable;
  pthread_mutex_unlock(&j->mu);
  return n;
}

/* ---------------------------------------------------------------- reading */

typedef struct rd {
  const uint8_t *p, *end;
  bool bad;
} rd;

static uint64_t rd_u(rd *r, int bytes)
{
  if (r->end - r->p < bytes) {
    r->bad = true;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)r->p[i] << (8 * i);
  r->p += bytes;
  return v;
}

/* A length-prefixed field, NUL-terminated in place of the next field's
 * first byte: so the caller copies fields out in order (see decode). */
static const uint8_t *rd_bytes(rd *r, size_t *n)
{
  uint32_t l = (uint32_t)rd_u(r, 4);
  if (r->bad || (size_t)(r->end - r->p) < l) {
    r->bad = true;
    *n = 0;
    return NULL;
  }
  const uint8_t *d = r->p;
  r->p += l;
  *n = l;
  return d;
}

/* Copies a string field into malloc'd memory, NUL-terminated. */
static char *rd_str(rd *r)
{
  size_t n;
  const uint8_t *d = rd_bytes(r, &n);
  if (r->bad)
    return NULL;
  if (memchr(d, '\0', n) != NULL) {
    r->bad = true;
    return NULL;
  }
  char *s = malloc(n + 1);
  if (s == NULL) {
    r->bad = true;
    return NULL;
  }
  memcpy(s, d, n);
  s[n] = '\0';
  return s;
}

/* Decodes one record's payload and hands it to fn. false when malformed. */
static bool dispatch(const uint8_t *p, size_t n, ttb_journal_replay_fn fn, void *arg)
{
  rd r = {p, p + n, false};
  ttb_jrec rec = {0};
  rec.type = (ttb_jrec_type)rd_u(&r, 1);
  char *channel = rd_str(&r), *user = NULL, *text = NULL, *url = NULL;
  switch (rec.type) {
  case TTB_JREC_CHANNEL:
    rec.seq = rd_u(&r, 8);
    rec.fifo = rd_u(&r, 8);
    break;
  case TTB_JREC_EVENT:
    rec.seq = rd_u(&r, 8);
    rec.fifo = rd_u(&r, 8);
    rec.chat = rd_u(&r, 1) != 0;
    rec.data = rd_bytes(&r, &rec.len);
    break;
  case TTB_JREC_QUEUED:
    rec.fifo = rd_u(&r, 8);
    rec.chat = rd_u(&r, 1) != 0;
    user = rd_str(&r);
    text = rd_str(&r);
    url = rd_str(&r);
    rec.count = (uint32_t)rd_u(&r, 4);
    break;
  case TTB_JREC_DROPPED:
    rec.fifo = rd_u(&r, 8);
    break;
  case TTB_JREC_STREAKS:
    rec.data = rd_bytes(&r, &rec.len);
    break;
  case TTB_JREC_SEEN:
    rec.seq = rd_u(&r, 8);
    text = rd_str(&r);
    break;
  default:
    r.bad = true;
  }
  bool ok = !r.bad;
  if (ok && fn) {
    rec.channel = channel;
    rec.user = user;
    rec.text = text;
    rec.url = url;
    fn(arg, &rec);
  }
  free(channel);
  free(user);
  free(text);
  free(url);
  return ok;
}

/* Scans data[0..n) (after the magic): the end of the last complete commit.
 * With fn, replays the records of the complete commits. */
static size_t scan(const uint8_t *data, size_t n, ttb_journal_replay_fn fn, void *arg)
{
  size_t at = 0, good = 0;
  while (n - at >= 8) {
    uint32_t len = get_u32(data + at), crc = get_u32(data + at + 4);
    if (len == 0 || len > REC_MAX || n - at - 8 < len)
      break;
    const uint8_t *p = data + at + 8;
    if ((uint32_t)crc32(0L, p, (uInt)len) != crc)
      break;
    at += 8 + len;
    if (p[0] == REC_COMMIT && len == 1)
      good = at;
  }
  if (fn) {
    at = 0;
    while (at < good) {
      uint32_t len = get_u32(data + at);
      const uint8_t *p = data + at + 8;
      if (!(p[0] == REC_COMMIT && len == 1) && !dispatch(p, len, fn, arg))
        fprintf(stderr, "ttboost-server: journal: a record could not be read (skipped)\n");
      at += 8 + len;
    }
  }
  return good;
}

static int read_all(int fd, uint8_t **out, size_t *n)
{
  struct stat st;
  if (fstat(fd, &st) != 0)
    return -1;
  size_t size = (size_t)st.st_size;
  uint8_t *d = malloc(size ? size : 1);
  if (d == NULL) {
    errno = ENOMEM;
    return -1;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, d + got, size - got, (off_t)got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      free(d);
      if (r == 0)
        errno = EIO;
      return -1;
    }
    got += (size_t)r;
  }
  *out = d;
  *n = size;
  return 0;
}

static int write_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = ENOSPC;
      return -1;
    }
    p += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

/* fsyncs the directory holding path (a rename or a new file in it). */
static int sync_dir(const char *path)
{
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s", path);
  int d = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return -1;
  int rc = fsync(d);
  close(d);
  return rc;
}

static void free_j(ttb_journal *j)
{
  pthread_cond_destroy(&j->cv);
  pthread_cond_destroy(&j->done);
  pthread_mutex_destroy(&j->mu);
  free(j);
}

ttb_journal *ttb_journal_open(const char *path, ttb_journal_replay_fn fn, void *arg, char *err,
                              size_t errlen)
{
  ttb_journal *j = calloc(1, sizeof *j);
  if (j == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(j->path, sizeof j->path, "%s", path);
  j->target = &j->pend;
  j->wake_w = -1;
  const char *d = getenv("TTB_TEST_JOURNAL_FSYNC_DELAY_MS");
  if (d)
    j->delay_ms = (unsigned)strtoul(d, NULL, 10) % 60000u;
  if (pthread_mutex_init(&j->mu, NULL) != 0) {
    snprintf(err, errlen, "out of resources");
    free(j);
    return NULL;
  }
  pthread_cond_init(&j->cv, NULL);
  pthread_cond_init(&j->done, NULL);
  j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j->fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    free_j(j);
    return NULL;
  }
  uint8_t *data = NULL;
  size_t n = 0;
  if (read_all(j->fd, &data, &n) != 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    close(j->fd);
    free_j(j);
    return NULL;
  }
  size_t good = MAGIC_LEN;
  if (n >= MAGIC_LEN && memcmp(data, MAGIC, MAGIC_LEN) == 0) {
    good = MAGIC_LEN + scan(data + MAGIC_LEN, n - MAGIC_LEN, fn, arg);
  } else if (n > 0) {
    snprintf(err, errlen, "%s is not a TTBoost journal (move it away to start afresh)", path);
    free(data);
    close(j->fd);
    free_j(j);
    return NULL;
  }
  free(data);
  if (n < MAGIC_LEN) {
    if (write_at(j->fd, (const uint8_t *)MAGIC, MAGIC_LEN, 0) != 0 || fdatasync(j->fd) != 0 ||
        sync_dir(path) != 0) {
      snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
      close(j->fd);
      free_j(j);
      return NULL;
    }
  } else if (good < n) {
    fprintf(stderr,
            "ttboost-server: journal: %zu bytes after the last complete commit cut off "
            "(a write the crash interrupted; nothing of it was acknowledged)\n",
            n - good);
    if (ftruncate(j->fd, (off_t)good) != 0 || fdatasync(j->fd) != 0) {
      snprintf(err, errlen, "cannot truncate %s: %s", path, strerror(errno));
      close(j->fd);
      free_j(j);
      return NULL;
    }
  }
  j->durable = good > MAGIC_LEN ? good : MAGIC_LEN;
  j->base_size = j->durable;
  return j;
}

static void wake(ttb_journal *j)
{
  if (j->wake_w >= 0) {
    unsigned char c = 1;
    ssize_t r = write(j->wake_w, &c, 1); /* full pipe: a wake-up is pending anyway */
    (void)r;
  }
}

static void buf_free(buf *b)
{
  free(b->p);
  *b = (buf){0};
}

/* Appends src to dst (swapping when dst is empty). false on no memory. */
static bool buf_move(buf *dst, buf *src)
{
  if (src->len == 0)
    return true;
  if (dst->len == 0) {
    buf t = *dst;
    *dst = *src;
    *src = t;
    src->len = 0;
    return true;
  }
  if (!reserve(dst, src->len))
    return false;
  put(dst, src->p, src->len);
  src->len = 0;
  return true;
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Writes b at the durable end and fdatasyncs. The thread's (or, without
 * it, the caller's). 0, or -1 with errno. */
static int write_sync(ttb_journal *j, const buf *b)
{
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = 0;
  if (write_at(j->fd, b->p, b->len, j->durable) != 0)
    rc = -1;
  if (rc == 0 && j->delay_ms)
    sleep_ms(j->delay_ms);
  if (rc == 0 && !j->nosync && fdatasync(j->fd) != 0)
    rc = -1;
  int e = errno;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  pthread_mutex_lock(&j->mu);
  j->sync_seconds += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  pthread_mutex_unlock(&j->mu);
  errno = e;
  return rc;
}

/* The seq of a framed record whose payload has it right after the
 * channel (CHANNEL, EVENT, SEEN); false when it is too short. */
static bool rec_seq(const uint8_t *p, uint32_t len, uint64_t *seq)
{
  if (len < 5)
    return false;
  uint32_t cl = get_u32(p + 1);
  if (cl > len || len - 5 - cl < 8)
    return false;
  const uint8_t *q = p + 5 + cl;
  *seq = (uint64_t)get_u32(q) | (uint64_t)get_u32(q + 4) << 32;
  return true;
}

/* Writes the compacted file: the snapshot, the carried records of the old
 * file before off_t, one commit marker, then the old file's commits from
 * off_t on (those after the snapshot), and puts it in place. Runs where the
 * file is written (the thread). 0, or -1 with err (the old file stays). */
static int compact_run(ttb_journal *j, cjob *job, uint64_t off_t_, char *err, size_t errlen)
{
  buf *nb = &job->snap;
  uint64_t dur = j->durable;
  const uint8_t *map = NULL;
  if (dur > MAGIC_LEN) {
    void *m = mmap(NULL, (size_t)dur, PROT_READ, MAP_SHARED, j->fd, 0);
    if (m == MAP_FAILED) {
      snprintf(err, errlen, "compacting %s: mmap: %s", j->path, strerror(errno));
      return -1;
    }
    map = m;
  }
  if (off_t_ > dur)
    off_t_ = dur;
  bool ok = true;
  if (job->carry && map) {
    uint64_t at = MAGIC_LEN;
    while (ok && off_t_ - at >= 8) {
      uint32_t len = get_u32(map + at);
      if (len == 0 || off_t_ - at - 8 < len)
        break;
      const uint8_t *p = map + at + 8;
      uint64_t seq;
      if (p[0] == (uint8_t)job->carry_type && rec_seq(p, len, &seq) && seq >= job->carry_min) {
        if (!reserve(nb, 8 + (size_t)len))
          ok = false;
        else
          put(nb, map + at, 8 + (size_t)len);
      }
      at += 8 + (uint64_t)len;
    }
  }
  if (!ok || add_record(nb, NULL) != 0) {
    if (map)
      munmap((void *)map, (size_t)dur);
    snprintf(err, errlen, "compacting %s: out of memory", j->path);
    return -1;
  }
  size_t base = nb->len;
  if (map && dur > off_t_ && off_t_ >= MAGIC_LEN) {
    if (!reserve(nb, (size_t)(dur - off_t_)))
      ok = false;
    else
      put(nb, map + off_t_, (size_t)(dur - off_t_));
  }
  if (map)
    munmap((void *)map, (size_t)dur);
  if (!ok) {
    snprintf(err, errlen, "compacting %s: out of memory", j->path);
    return -1;
  }
  char tmp[640];
  snprintf(tmp, sizeof tmp, "%s.tmp", j->path);
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write_at(fd, nb->p, nb->len, 0) != 0 || fdatasync(fd) != 0 ||
      rename(tmp, j->path) != 0 || sync_dir(j->path) != 0) {
    snprintf(err, errlen, "compacting %s: %s", j->path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(tmp);
    }
    return -1;
  }
  pthread_mutex_lock(&j->mu);
  close(j->fd);
  j->fd = fd;
  j->durable = nb->len;
  j->base_size = base;
  pthread_mutex_unlock(&j->mu);
  return 0;
}

static void job_free(cjob *job)
{
  if (job) {
    buf_free(&job->snap);
    free(job);
  }
}

static void *journal_thread(void *arg)
{
  ttb_journal *j = arg;
  pthread_mutex_lock(&j->mu);
  for (;;) {
    while (!j->stop && j->sub.len == 0 && j->job == NULL && j->retry.len == 0)
      pthread_cond_wait(&j->cv, &j->mu);
    if (j->stop && j->sub.len == 0 && j->job == NULL)
      break;
    buf w = j->sub;
    j->sub = (buf){0};
    uint64_t upto = j->sub_upto;
    cjob *job = j->job;
    j->job = NULL;
    pthread_mutex_unlock(&j->mu);

    /* group commit: one write and one fdatasync for every commit handed
     * over since the last one (and what a failed attempt left) */
    size_t job_end = job ? j->retry.len + job->sub_len : 0;
    char err[800] = "";
    int rc = 0;
    if (!buf_move(&j->retry, &w)) {
      errno = ENOMEM;
      rc = -1;
    }
    w.len = 0; /* moved (or, on no memory, given up with the failed attempt) */
    if (rc == 0 && j->retry.len)
      rc = write_sync(j, &j->retry);
    if (rc != 0)
      snprintf(err, sizeof err, "%s: %s", j->path, strerror(errno));
    uint64_t off_t_ = j->durable + job_end;

    pthread_mutex_lock(&j->mu);
    if (rc == 0) {
      j->durable += j->retry.len;
      j->retry.len = 0;
      if (j->retry.cap > (1u << 20))
        buf_free(&j->retry);
      /* the emptied buffer goes back to the loop's side for its next
       * commit, instead of that one growing from nothing (a realloc and
       * a copy per doubling) */
      if (w.p && j->spare.p == NULL && w.cap <= (1u << 20)) {
        w.len = 0;
        j->spare = w;
        w = (buf){0};
      }
      if (upto > j->synced)
        j->synced = upto;
    } else {
      if (upto > j->failed)
        j->failed = upto;
      snprintf(j->failmsg, sizeof j->failmsg, "%s", err);
    }
    pthread_mutex_unlock(&j->mu);
    buf_free(&w);

    if (job) {
      char cerr[800] = "";
      int crc = -1;
      if (rc != 0)
        snprintf(cerr, sizeof cerr, "compaction skipped: %s", err);
      else
        crc = compact_run(j, job, off_t_, cerr, sizeof cerr);
      job_free(job);
      pthread_mutex_lock(&j->mu);
      j->compacting = false;
      if (crc == 0) {
        j->compactions++;
      } else {
        j->compact_errors++;
        snprintf(j->compact_msg, sizeof j->compact_msg, "%s", cerr);
      }
      pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_lock(&j->mu);
    pthread_cond_broadcast(&j->done);
    wake(j);
    if (rc != 0 && !j->stop) { /* the disk said no: try again in a while */
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 100 * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&j->cv, &j->mu, &until);
    }
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

int ttb_journal_start(ttb_journal *j, int wake_fd, char *err, size_t errlen)
{
  if (j->threaded)
    return 0;
  j->wake_w = wake_fd;
  j->stop = false;
  int rc = pthread_create(&j->th, NULL, journal_thread, j);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the journal's thread: %s", strerror(rc));
    j->wake_w = -1;
    return -1;
  }
  j->threaded = true;
  return 0;
}

void ttb_journal_close(ttb_journal *j)
{
  if (j == NULL)
    return;
  if (j->threaded) {
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->th, NULL);
  }
  if (j->fd >= 0)
    close(j->fd);
  free(j->pend.p);
  free(j->sub.p);
  free(j->spare.p);
  free(j->retry.p);
  job_free(j->job);
  free_j(j);
}

int ttb_journal_submit(ttb_journal *j, uint64_t *ticket)
{
  if (j->pend.len == 0) {
    *ticket = j->submitted;
    return 0;
  }
  /* the commit marker closes what waits: the thread writes whole commits */
  if (add_record(&j->pend, NULL) != 0)
    return -1;
  pthread_mutex_lock(&j->mu);
  if (!buf_move(&j->sub, &j->pend)) {
    pthread_mutex_unlock(&j->mu);
    j->pend.len -= 9; /* the marker goes again with the next attempt */
    return -1;
  }
  j->sub_upto = ++j->submitted;
  if (j->pend.p == NULL && j->spare.p) { /* swapped into sub: take the spare */
    j->pend = j->spare;
    j->spare = (buf){0};
  }
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
  if (j->pend.cap > (1u << 20))
    buf_free(&j->pend);
  *ticket = j->submitted;
  return 0;
}

uint64_t ttb_journal_next_ticket(const ttb_journal *j) { return j->submitted + 1; }

void ttb_journal_status(ttb_journal *j, ttb_journal_stat *st)
{
  pthread_mutex_lock(&j->mu);
  st->synced = j->threaded ? j->synced : j->submitted;
  st->failed = j->failed;
  snprintf(st->error, sizeof st->error, "%s", j->failmsg);
  st->size = j->durable;
  st->compacting = j->compacting;
  st->sync_seconds = j->sync_seconds;
  st->compactions = j->compactions;
  st->compact_errors = j->compact_errors;
  snprintf(st->compact_error, sizeof st->compact_error, "%s", j->compact_msg);
  pthread_mutex_unlock(&j->mu);
}

int ttb_journal_sync(ttb_journal *j, char *err, size_t errlen)
{
  if (j->pend.len == 0 && !j->threaded)
    return 0;
  if (j->threaded) {
    uint64_t t;
    if (ttb_journal_submit(j, &t) != 0) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    pthread_mutex_lock(&j->mu);
    while (j->synced < t && j->failed < t)
      pthread_cond_wait(&j->done, &j->mu);
    int rc = j->synced >= t ? 0 : -1;
    if (rc != 0)
      snprintf(err, errlen, "%s", j->failmsg);
    pthread_mutex_unlock(&j->mu);
    return rc;
  }
  /* the commit marker goes once per attempt at the end of what waits; a
   * failed attempt leaves it in the buffer, harmless (empty commits) */
  if (add_record(&j->pend, NULL) != 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* written at the durable end each time: a failed attempt's partial write
   * is overwritten by the next */
  if (write_sync(j, &j->pend) != 0) {
    snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
    pthread_mutex_lock(&j->mu);
    j->failed = j->submitted + 1;
    pthread_mutex_unlock(&j->mu);
    return -1;
  }
  pthread_mutex_lock(&j->mu);
  j->durable += j->pend.len;
  j->submitted++;
  pthread_mutex_unlock(&j->mu);
  j->pend.len = 0;
  if (j->pend.cap > (1u << 20))
    buf_free(&j->pend);
  return 0;
}

bool ttb_journal_wants_compaction(ttb_journal *j)
{
  pthread_mutex_lock(&j->mu);
  uint64_t grown = j->durable > j->base_size ? j->durable - j->base_size : 0;
  uint64_t slack = COMPACT_FACTOR * j->base_size;
  if (slack < COMPACT_SLACK)
    slack = COMPACT_SLACK;
  bool due = !j->compacting && grown > slack;
  pthread_mutex_unlock(&j->mu);
  return due;
}

/* Runs dump into a new snapshot (on the caller's thread). NULL with err. */
static cjob *snapshot(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg, char *err,
                      size_t errlen)
{
  cjob *job = calloc(1, sizeof *job);
  if (job == NULL || !reserve(&job->snap, MAGIC_LEN)) {
    free(job);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  put(&job->snap, MAGIC, MAGIC_LEN);
  j->target = &job->snap;
  j->dump_failed = false;
  j->carry = false;
  dump(arg, j);
  j->target = &j->pend;
  if (j->dump_failed) {
    job_free(job);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  job->carry = j->carry;
  job->carry_type = j->carry_type;
  job->carry_min = j->carry_min;
  job->ticket = j->submitted;
  return job;
}

int ttb_journal_compact_start(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg,
                              char *err, size_t errlen)
{
  if (!j->threaded) {
    snprintf(err, errlen, "the journal has no thread");
    return -1;
  }
  uint64_t t;
  if (ttb_journal_submit(j, &t) != 0) { /* the snapshot covers every record added */
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  cjob *job = snapshot(j, dump, arg, err, errlen);
  if (job == NULL)
    return -1;
  pthread_mutex_lock(&j->mu);
  if (j->compacting) {
    pthread_mutex_unlock(&j->mu);
    job_free(job);
    snprintf(err, errlen, "a compaction is running");
    return -1;
  }
  job->sub_len = j->sub.len; /* every byte in sub is a commit up to job->ticket */
  j->job = job;
  j->compacting = true;
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
  return 0;
}

int ttb_journal_compact(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg,
                        char *err, size_t errlen)
{
  if (j->pend.len != 0) {
    snprintf(err, errlen, "records are waiting: sync first");
    return -1;
  }
  if (j->threaded) {
    pthread_mutex_lock(&j->mu);
    while (j->compacting)
      pthread_cond_wait(&j->done, &j->mu);
    uint64_t before = j->compactions;
    pthread_mutex_unlock(&j->mu);
    if (ttb_journal_compact_start(j, dump, arg, err, errlen) != 0)
      return -1;
    pthread_mutex_lock(&j->mu);
    while (j->compacting)
      pthread_cond_wait(&j->done, &j->mu);
    int rc = j->compactions > before ? 0 : -1;
    if (rc != 0)
      snprintf(err, errlen, "%s", j->compact_msg);
    pthread_mutex_unlock(&j->mu);
    return rc;
  }
  cjob *job = snapshot(j, dump, arg, err, errlen);
  if (job == NULL)
    return -1;
  int rc = compact_run(j, job, j->durable, err, errlen);
  job_free(job);
  pthread_mutex_lock(&j->mu);
  if (rc == 0)
    j->compactions++;
  else
    j->compact_errors++;
  pthread_mutex_unlock(&j->mu);
  return rc;
}

int ttb_journal_carry(ttb_journal *j, ttb_jrec_type type, uint64_t min_seq)
{
  if (j->target == &j->pend ||
      (type != TTB_JREC_SEEN && type != TTB_JREC_EVENT && type != TTB_JREC_CHANNEL)) {
    j->dump_failed = true;
    return -1;
  }
  j->carry = true;
  j->carry_type = type;
  j->carry_min = min_seq;
  return 0;
}
