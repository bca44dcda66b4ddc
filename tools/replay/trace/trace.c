/* See trace.h and docs/replay.md. */
#include "trace.h"
#include "trace_ext.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ttboost/v1/trace.pbc-json.h"

#define HEADER_MAX (64u * 1024u) /* a header is tiny; anything larger is corruption */
#define WBUF_SIZE (64u * 1024u)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

uint64_t ttb_trace_now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* ------------------------------------------------------------------ reader */

struct ttb_trace_reader {
  FILE *f;
  char *path;
  uint64_t off;     /* bytes consumed so far */
  uint64_t rec_off; /* where the next record starts */
  uint8_t *buf;     /* record buffer */
  size_t cap;
  Ttboost__V1__TraceHeader *header;
  int failed; /* 0 ok; 1 truncated tail; 2 corrupt; sticky */
  char last_err[256];
};

/* Reads a varint. 1 read, 0 clean EOF before its first byte, -1 truncated
 * (EOF inside it), -2 malformed (longer than 10 bytes or over 64 bits). */
static int read_varint(ttb_trace_reader *r, uint64_t *out)
{
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    int c = getc(r->f);
    if (c == EOF)
      return (i == 0 && !ferror(r->f)) ? 0 : -1;
    r->off++;
    if (i == 9 && (c & 0xFE) != 0)
      return -2;
    v |= (uint64_t)(c & 0x7F) << (7 * i);
    if ((c & 0x80) == 0) {
      *out = v;
      return 1;
    }
  }
  return -2;
}

static int ensure_cap(ttb_trace_reader *r, size_t n)
{
  if (n <= r->cap)
    return 0;
  size_t c = r->cap ? r->cap : 4096;
  while (c < n)
    c *= 2;
  uint8_t *b = realloc(r->buf, c);
  if (b == NULL)
    return -1;
  r->buf = b;
  r->cap = c;
  return 0;
}

/* Reads a length prefix and its payload into r->buf. 1 read (*len set), 0
 * clean EOF, -1 error (message in err naming `what` and the offset). */
static int read_delimited(ttb_trace_reader *r, const char *what, size_t max, size_t *len, char *err,
                          size_t errlen)
{
  uint64_t start = r->off;
  uint64_t n;
  int rc = read_varint(r, &n);
  if (rc == 0)
    return 0;
  if (rc == -1) {
    if (ferror(r->f))
      set_err(err, errlen, "%s: read error at offset %llu: %s", r->path, (unsigned long long)r->off,
              strerror(errno));
    else
      set_err(err, errlen, "%s: truncated: the length of the %s at offset %llu is cut off", r->path,
              what, (unsigned long long)start);
    r->failed = 1;
    return -1;
  }
  if (rc == -2) {
    set_err(err, errlen, "%s: corrupt: the length of the %s at offset %llu is not a valid varint",
            r->path, what, (unsigned long long)start);
    r->failed = 2;
    return -1;
  }
  if (n > max) {
    set_err(err, errlen,
            "%s: corrupt: the %s at offset %llu claims %llu bytes (at most %zu allowed)", r->path,
            what, (unsigned long long)start, (unsigned long long)n, max);
    r->failed = 2;
    return -1;
  }
  if (ensure_cap(r, (size_t)n + 1) != 0) {
    set_err(err, errlen, "%s: out of memory reading the %s at offset %llu", r->path, what,
            (unsigned long long)start);
    r->failed = 2;
    return -1;
  }
  size_t got = n ? fread(r->buf, 1, (size_t)n, r->f) : 0;
  r->off += got;
  if (got != n) {
    if (ferror(r->f))
      set_err(err, errlen, "%s: read error at offset %llu: %s", r->path, (unsigned long long)r->off,
              strerror(errno));
    else
      set_err(
          err, errlen,
          "%s: truncated: the %s at offset %llu has %llu of its %llu bytes (the file ends at %llu)",
          r->path, what, (unsigned long long)start, (unsigned long long)got, (unsigned long long)n,
          (unsigned long long)r->off);
    r->failed = 1;
    return -1;
  }
  *len = (size_t)n;
  return 1;
}

int ttb_trace_reader_open(const char *path, ttb_trace_reader **out, char *err, size_t errlen)
{
  *out = NULL;
  ttb_trace_reader *r = calloc(1, sizeof *r);
  if (r == NULL) {
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  r->path = strdup(path);
  if (r->path == NULL) {
    free(r);
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  r->f = fopen(path, "rb");
  if (r->f == NULL) {
    set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    ttb_trace_reader_close(r);
    return -1;
  }
  char magic[8];
  size_t got = fread(magic, 1, sizeof magic, r->f);
  r->off = got;
  if (memcmp(magic, TTB_TRACE_MAGIC, got) != 0) {
    size_t i = 0;
    while (i < got && magic[i] == TTB_TRACE_MAGIC[i])
      i++;
    set_err(err, errlen,
            "%s: not a trace: bad magic at offset %zu (expected \"" TTB_TRACE_MAGIC "\")", path, i);
    ttb_trace_reader_close(r);
    return -1;
  }
  if (got < sizeof magic) {
    set_err(err, errlen, "%s: truncated: the file ends at offset %zu inside the magic", path, got);
    ttb_trace_reader_close(r);
    return -1;
  }
  uint64_t hoff = r->off;
  size_t n = 0;
  int rc = read_delimited(r, "header", HEADER_MAX, &n, err, errlen);
  if (rc == 0) {
    set_err(err, errlen, "%s: truncated: no header at offset %llu", path, (unsigned long long)hoff);
    rc = -1;
  }
  if (rc < 0) {
    ttb_trace_reader_close(r);
    return -1;
  }
  r->header = ttboost__v1__trace_header__unpack(NULL, n, r->buf);
  char verr[200];
  if (r->header == NULL) {
    set_err(err, errlen, "%s: corrupt: the header at offset %llu is not a TraceHeader", path,
            (unsigned long long)hoff);
    ttb_trace_reader_close(r);
    return -1;
  }
  if (r->header->version != TTB_TRACE_VERSION) {
    set_err(
        err, errlen,
        "%s: trace format version %u not supported (this reader knows %d; header at offset %llu)",
        path, r->header->version, TTB_TRACE_VERSION, (unsigned long long)hoff);
    ttb_trace_reader_close(r);
    return -1;
  }
  if (!ttb_pbc_ttboost_v1_TraceHeader_validate(r->header, verr, sizeof verr)) {
    set_err(err, errlen, "%s: corrupt: the header at offset %llu: %s", path,
            (unsigned long long)hoff, verr);
    ttb_trace_reader_close(r);
    return -1;
  }
  r->rec_off = r->off;
  *out = r;
  return 0;
}

const Ttboost__V1__TraceHeader *ttb_trace_reader_header(const ttb_trace_reader *r)
{
  return r->header;
}

int ttb_trace_next(ttb_trace_reader *r, Ttboost__V1__TraceRecord **rec, char *err, size_t errlen)
{
  *rec = NULL;
  if (r->failed) {
    set_err(err, errlen, "%s", r->last_err);
    return -1;
  }
  uint64_t start = r->off;
  size_t n = 0;
  int rc = read_delimited(r, "record", TTB_TRACE_MAX_RECORD, &n, r->last_err, sizeof r->last_err);
  if (rc == 0)
    return 0;
  if (rc > 0) {
    Ttboost__V1__TraceRecord *m = ttboost__v1__trace_record__unpack(NULL, n, r->buf);
    char verr[200];
    if (m == NULL) {
      set_err(r->last_err, sizeof r->last_err,
              "%s: corrupt: the record at offset %llu (%zu bytes) is not a TraceRecord", r->path,
              (unsigned long long)start, n);
      r->failed = 2;
    } else if (!ttb_pbc_ttboost_v1_TraceRecord_validate(m, verr, sizeof verr)) {
      set_err(r->last_err, sizeof r->last_err, "%s: corrupt: the record at offset %llu: %s",
              r->path, (unsigned long long)start, verr);
      ttboost__v1__trace_record__free_unpacked(m, NULL);
      r->failed = 2;
    } else {
      r->rec_off = r->off;
      *rec = m;
      return 1;
    }
  }
  set_err(err, errlen, "%s", r->last_err);
  return -1;
}

uint64_t ttb_trace_reader_offset(const ttb_trace_reader *r) { return r->rec_off; }

void ttb_trace_reader_close(ttb_trace_reader *r)
{
  if (r == NULL)
    return;
  if (r->f)
    fclose(r->f);
  if (r->header)
    ttboost__v1__trace_header__free_unpacked(r->header, NULL);
  free(r->buf);
  free(r->path);
  free(r);
}

/* ------------------------------------------------------------------ writer */

struct ttb_trace_writer {
  FILE *f;
  char *path;
  uint64_t created_us; /* header */
  uint64_t mono_open;  /* monotonic clock when opened */
  uint64_t base_us;    /* microseconds from created_us to the opening */
  uint8_t *buf;        /* pending bytes */
  size_t len, cap;
  uint8_t *pack; /* scratch for one packed message */
  size_t pack_cap;
  int failed;
  char last_err[256];
};

static ttb_trace_writer *writer_new(const char *path, char *err, size_t errlen)
{
  ttb_trace_writer *w = calloc(1, sizeof *w);
  if (w)
    w->path = strdup(path);
  if (w)
    w->buf = malloc(WBUF_SIZE);
  if (w == NULL || w->path == NULL || w->buf == NULL) {
    if (w) {
      free(w->path);
      free(w->buf);
      free(w);
    }
    set_err(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  w->cap = WBUF_SIZE;
  return w;
}

static void writer_free(ttb_trace_writer *w)
{
  if (w->f)
    fclose(w->f);
  free(w->path);
  free(w->buf);
  free(w->pack);
  free(w);
}

static int write_out(ttb_trace_writer *w, const void *p, size_t n)
{
  if (n && fwrite(p, 1, n, w->f) != n) {
    set_err(w->last_err, sizeof w->last_err, "%s: write failed: %s", w->path, strerror(errno));
    w->failed = 1;
    return -1;
  }
  return 0;
}

/* Appends a length-delimited message to the buffer (spilling to the file). */
static int put_message(ttb_trace_writer *w, const ProtobufCMessage *m)
{
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n > TTB_TRACE_MAX_RECORD) {
    set_err(w->last_err, sizeof w->last_err, "%s: a record of %zu bytes is over the limit of %u",
            w->path, n, TTB_TRACE_MAX_RECORD);
    return -2; /* not sticky: the writer is fine */
  }
  if (n + 10 > w->pack_cap) {
    size_t c = w->pack_cap ? w->pack_cap : 4096;
    while (c < n + 10)
      c *= 2;
    uint8_t *b = realloc(w->pack, c);
    if (b == NULL) {
      set_err(w->last_err, sizeof w->last_err, "%s: out of memory", w->path);
      return -2;
    }
    w->pack = b;
    w->pack_cap = c;
  }
  size_t h = put_varint(w->pack, n);
  size_t packed = protobuf_c_message_pack(m, w->pack + h);
  if (packed != n) {
    set_err(w->last_err, sizeof w->last_err, "%s: packing a record failed", w->path);
    return -2;
  }
  size_t total = h + n;
  if (w->len + total > w->cap) {
    if (write_out(w, w->buf, w->len) != 0)
      return -1;
    w->len = 0;
  }
  if (total > w->cap)
    return write_out(w, w->pack, total);
  memcpy(w->buf + w->len, w->pack, total);
  w->len += total;
  return 0;
}

int ttb_trace_writer_open_at(const char *path, const char *source, const char *note,
                             uint64_t created_us, ttb_trace_writer **out, char *err, size_t errlen)
{
  *out = NULL;
  ttb_trace_writer *w = writer_new(path, err, errlen);
  if (w == NULL)
    return -1;
  w->f = fopen(path, "wb");
  if (w->f == NULL) {
    set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    writer_free(w);
    return -1;
  }
  w->created_us = created_us;
  uint64_t now = ttb_trace_now_us();
  w->mono_open = mono_us();
  w->base_us = now > created_us ? now - created_us : 0;
  Ttboost__V1__TraceHeader h = TTBOOST__V1__TRACE_HEADER__INIT;
  h.version = TTB_TRACE_VERSION;
  h.created_us = created_us;
  h.source = (char *)(source ? source : "");
  h.note = (char *)(note ? note : "");
  char verr[200];
  if (!ttb_pbc_ttboost_v1_TraceHeader_validate(&h, verr, sizeof verr)) {
    set_err(err, errlen, "%s: invalid header: %s", path, verr);
    writer_free(w);
    return -1;
  }
  memcpy(w->buf, TTB_TRACE_MAGIC, 8);
  w->len = 8;
  if (put_message(w, &h.base) != 0 || ttb_trace_writer_flush(w, err, errlen) != 0) {
    set_err(err, errlen, "%s", w->last_err);
    writer_free(w);
    return -1;
  }
  *out = w;
  return 0;
}

static int writer_append(const char *path, const char *source, const char *note,
                         ttb_trace_writer **out, char *err, size_t errlen)
{
  ttb_trace_reader *r;
  FILE *probe = fopen(path, "rb");
  if (probe == NULL) {
    if (errno == ENOENT)
      return ttb_trace_writer_open_at(path, source, note, ttb_trace_now_us(), out, err, errlen);
    set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  fseek(probe, 0, SEEK_END);
  long size = ftell(probe);
  fclose(probe);
  if (size == 0)
    return ttb_trace_writer_open_at(path, source, note, ttb_trace_now_us(), out, err, errlen);
  if (ttb_trace_reader_open(path, &r, err, errlen) != 0)
    return -1;
  uint64_t created = r->header->created_us;
  Ttboost__V1__TraceRecord *rec;
  int rc;
  char rerr[256];
  while ((rc = ttb_trace_next(r, &rec, rerr, sizeof rerr)) == 1)
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
  uint64_t end = ttb_trace_reader_offset(r);
  int failed = r->failed;
  ttb_trace_reader_close(r);
  if (rc < 0 && failed != 1) {
    set_err(err, errlen, "cannot append: %s", rerr);
    return -1;
  }
  /* a tail cut off by a crash is dropped: appending resumes after the last whole record */
  if (rc < 0 && truncate(path, (off_t)end) != 0) {
    set_err(err, errlen, "%s: cannot drop the truncated tail at offset %llu: %s", path,
            (unsigned long long)end, strerror(errno));
    return -1;
  }
  ttb_trace_writer *w = writer_new(path, err, errlen);
  if (w == NULL)
    return -1;
  w->f = fopen(path, "ab");
  if (w->f == NULL) {
    set_err(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
    writer_free(w);
    return -1;
  }
  w->created_us = created;
  uint64_t now = ttb_trace_now_us();
  w->mono_open = mono_us();
  w->base_us = now > created ? now - created : 0;
  *out = w;
  return 0;
}

int ttb_trace_writer_open(const char *path, const char *source, const char *note, bool append,
                          ttb_trace_writer **out, char *err, size_t errlen)
{
  if (append)
    return writer_append(path, source, note, out, err, errlen);
  return ttb_trace_writer_open_at(path, source, note, ttb_trace_now_us(), out, err, errlen);
}

uint64_t ttb_trace_writer_elapsed_us(const ttb_trace_writer *w)
{
  uint64_t m = mono_us();
  return w->base_us + (m > w->mono_open ? m - w->mono_open : 0);
}

int ttb_trace_write(ttb_trace_writer *w, const Ttboost__V1__TraceRecord *rec, char *err,
                    size_t errlen)
{
  if (w->failed) {
    set_err(err, errlen, "%s", w->last_err);
    return -1;
  }
  int rc = put_message(w, &rec->base);
  if (rc != 0) {
    set_err(err, errlen, "%s", w->last_err);
    return -1;
  }
  return 0;
}

int ttb_trace_writer_flush(ttb_trace_writer *w, char *err, size_t errlen)
{
  if (!w->failed && w->len) {
    if (write_out(w, w->buf, w->len) == 0)
      w->len = 0;
  }
  if (!w->failed && fflush(w->f) != 0) {
    set_err(w->last_err, sizeof w->last_err, "%s: write failed: %s", w->path, strerror(errno));
    w->failed = 1;
  }
  if (w->failed) {
    set_err(err, errlen, "%s", w->last_err);
    return -1;
  }
  return 0;
}

int ttb_trace_writer_close(ttb_trace_writer *w, char *err, size_t errlen)
{
  if (w == NULL)
    return 0;
  int rc = ttb_trace_writer_flush(w, err, errlen);
  FILE *f = w->f;
  w->f = NULL;
  if (fclose(f) != 0 && rc == 0) {
    set_err(err, errlen, "%s: close failed: %s", w->path, strerror(errno));
    rc = -1;
  }
  writer_free(w);
  return rc;
}
