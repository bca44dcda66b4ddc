/* The event journal: see journal.h. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "TTBJNL1\n"
#define MAGIC_LEN 8
#define REC_COMMIT 0x7f
#define REC_MAX (16u << 20) /* no record is bigger (a streak snapshot is the largest) */
/* compaction when the file is this much beyond what the live state took */
#define COMPACT_SLACK (8u << 20)

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

struct ttb_journal {
  char path[600];
  int fd;
  uint64_t durable;   /* bytes of the file that are synced */
  uint64_t base_size; /* the file's size after the last compaction (or open) */
  buf pend;           /* records of the next commit */
  buf *target;        /* where ttb_journal_add writes: &pend, or the compaction's buffer */
  bool dump_failed;   /* a record of the compaction's dump could not be added */
  bool nosync;        /* ttb_journal_set_fsync(j, false) */
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
uint64_t ttb_journal_size(const ttb_journal *j) { return j->durable; }

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
  j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j->fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    free(j);
    return NULL;
  }
  uint8_t *data = NULL;
  size_t n = 0;
  if (read_all(j->fd, &data, &n) != 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    close(j->fd);
    free(j);
    return NULL;
  }
  size_t good = MAGIC_LEN;
  if (n >= MAGIC_LEN && memcmp(data, MAGIC, MAGIC_LEN) == 0) {
    good = MAGIC_LEN + scan(data + MAGIC_LEN, n - MAGIC_LEN, fn, arg);
  } else if (n > 0) {
    snprintf(err, errlen, "%s is not a TTBoost journal (move it away to start afresh)", path);
    free(data);
    close(j->fd);
    free(j);
    return NULL;
  }
  free(data);
  if (n < MAGIC_LEN) {
    if (write_at(j->fd, (const uint8_t *)MAGIC, MAGIC_LEN, 0) != 0 || fdatasync(j->fd) != 0 ||
        sync_dir(path) != 0) {
      snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
      close(j->fd);
      free(j);
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
      free(j);
      return NULL;
    }
  }
  j->durable = good > MAGIC_LEN ? good : MAGIC_LEN;
  j->base_size = j->durable;
  return j;
}

void ttb_journal_close(ttb_journal *j)
{
  if (j == NULL)
    return;
  if (j->fd >= 0)
    close(j->fd);
  free(j->pend.p);
  free(j);
}

int ttb_journal_sync(ttb_journal *j, char *err, size_t errlen)
{
  if (j->pend.len == 0)
    return 0;
  /* the commit marker goes once per attempt at the end of what waits; a
   * failed attempt leaves it in the buffer, harmless (empty commits) */
  if (add_record(&j->pend, NULL) != 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* written at the durable end each time: a failed attempt's partial write
   * is overwritten by the next */
  if (write_at(j->fd, j->pend.p, j->pend.len, j->durable) != 0 ||
      (!j->nosync && fdatasync(j->fd) != 0)) {
    snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
    return -1;
  }
  j->durable += j->pend.len;
  j->pend.len = 0;
  if (j->pend.cap > (1u << 20)) {
    free(j->pend.p);
    j->pend.p = NULL;
    j->pend.cap = 0;
  }
  return 0;
}

bool ttb_journal_wants_compaction(const ttb_journal *j)
{
  return j->durable > 2 * j->base_size + COMPACT_SLACK;
}

int ttb_journal_compact(ttb_journal *j, void (*dump)(void *arg, ttb_journal *j), void *arg,
                        char *err, size_t errlen)
{
  if (j->pend.len != 0) {
    snprintf(err, errlen, "records are waiting: sync first");
    return -1;
  }
  buf nb = {0};
  if (!reserve(&nb, MAGIC_LEN)) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  put(&nb, MAGIC, MAGIC_LEN);
  j->target = &nb;
  j->dump_failed = false;
  dump(arg, j);
  j->target = &j->pend;
  if (j->dump_failed || add_record(&nb, NULL) != 0) {
    free(nb.p);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  char tmp[640];
  snprintf(tmp, sizeof tmp, "%s.tmp", j->path);
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write_at(fd, nb.p, nb.len, 0) != 0 || fdatasync(fd) != 0 ||
      rename(tmp, j->path) != 0 || sync_dir(j->path) != 0) {
    snprintf(err, errlen, "compacting %s: %s", j->path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(tmp);
    }
    free(nb.p);
    return -1;
  }
  close(j->fd);
  j->fd = fd;
  j->durable = nb.len;
  j->base_size = nb.len;
  free(nb.p);
  return 0;
}

/* carry's filter, through the replay interface */
typedef struct carry {
  ttb_journal *j;
  ttb_jrec_type type;
  uint64_t min_seq;
  bool failed;
} carry;

static void carry_one(void *arg, const ttb_jrec *r)
{
  carry *c = arg;
  if (r->type == c->type && r->seq >= c->min_seq && add_record(c->j->target, r) != 0)
    c->failed = true;
}

int ttb_journal_carry(ttb_journal *j, ttb_jrec_type type, uint64_t min_seq)
{
  uint8_t *data = NULL;
  size_t n = 0;
  if (j->target == &j->pend || read_all(j->fd, &data, &n) != 0) {
    j->dump_failed = true;
    return -1;
  }
  if (n > j->durable)
    n = (size_t)j->durable; /* a failed attempt's partial write is not part of it */
  carry c = {j, type, min_seq, false};
  if (n > MAGIC_LEN)
    scan(data + MAGIC_LEN, n - MAGIC_LEN, carry_one, &c);
  free(data);
  if (c.failed)
    j->dump_failed = true;
  return c.failed ? -1 : 0;
}
