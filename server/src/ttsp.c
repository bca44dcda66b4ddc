/* The speech worker's framing: see ttsp.h. */
#include "ttsp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttboost/worker/tts_worker.pb-c.h"

int ttb_ttsp_next(const uint8_t *buf, size_t len, size_t max, const uint8_t **msg, size_t *msg_len,
                  size_t *used, const char **why)
{
  uint64_t n = 0;
  size_t k = 0;
  for (;;) {
    if (k == len)
      return 0; /* the prefix is not all here yet */
    if (k == 5) {
      *why = "length prefix longer than 5 bytes";
      return -1;
    }
    uint8_t c = buf[k];
    n |= (uint64_t)(c & 0x7Fu) << (7 * k);
    k++;
    if ((c & 0x80u) == 0)
      break;
  }
  if (n > max) {
    *why = "message too long";
    return -1;
  }
  if (n > len - k)
    return 0;
  *msg = buf + k;
  *msg_len = (size_t)n;
  *used = k + (size_t)n;
  return 1;
}

size_t ttb_ttsp_prefix(size_t n, uint8_t out[10])
{
  size_t k = 0;
  do {
    uint8_t c = (uint8_t)(n & 0x7Fu);
    n >>= 7;
    out[k++] = (uint8_t)(n ? c | 0x80u : c);
  } while (n && k < 10);
  return k;
}

int ttb_ttsp_write_all(int fd, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int ttb_ttsp_write_msg(int fd, const uint8_t *msg, size_t n)
{
  uint8_t pre[10];
  size_t k = ttb_ttsp_prefix(n, pre);
  return ttb_ttsp_write_all(fd, pre, k) == 0 && ttb_ttsp_write_all(fd, msg, n) == 0 ? 0 : -1;
}

int ttb_ttsp_read(ttb_ttsp_reader *r, const uint8_t **msg, size_t *msg_len, const char **why)
{
  if (r->used > 0) { /* drop the message returned last time */
    memmove(r->buf, r->buf + r->used, r->len - r->used);
    r->len -= r->used;
    r->used = 0;
  }
  for (;;) {
    int k = ttb_ttsp_next(r->buf, r->len, TTB_TTSP_MAX_MSG, msg, msg_len, &r->used, why);
    if (k != 0)
      return k;
    if (r->len == r->cap) {
      size_t nc = r->cap ? r->cap * 2 : 8192;
      uint8_t *nb = realloc(r->buf, nc);
      if (nb == NULL) {
        *why = "out of memory";
        return -1;
      }
      r->buf = nb;
      r->cap = nc;
    }
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *why = strerror(errno);
      return -1;
    }
    if (n == 0)
      return 0;
    r->len += (size_t)n;
  }
}

int ttb_ttsp_read_job(ttb_ttsp_reader *r, Ttboost__Worker__TtsJob **job, const uint8_t **raw,
                      size_t *raw_len, const char **why)
{
  const uint8_t *msg;
  size_t len;
  int k = ttb_ttsp_read(r, &msg, &len, why);
  if (k <= 0)
    return k;
  Ttboost__Worker__TtsJob *j = ttboost__worker__tts_job__unpack(NULL, len, msg);
  if (j == NULL || j->job_id == 0) {
    if (j != NULL)
      ttboost__worker__tts_job__free_unpacked(j, NULL);
    *why = "a malformed job";
    return -1;
  }
  *job = j;
  if (raw != NULL) {
    *raw = msg;
    *raw_len = len;
  }
  return 1;
}

void ttb_ttsp_reader_free(ttb_ttsp_reader *r)
{
  free(r->buf);
  r->buf = NULL;
  r->len = r->cap = r->used = 0;
}
