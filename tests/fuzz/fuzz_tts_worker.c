/*
 * libFuzzer target: the speech worker's protocol as the server reads it
 * (server/src/tts.c): a byte stream split into messages by ttb_ttsp_next
 * (server/src/ttsp.c), each unpacked as a ttboost.worker.TtsOutput; and as
 * the worker reads it: each message also unpacked as a TtsJob.
 * Properties: the framer never reads past the input, reports exactly what
 * it consumed, refuses a message over the limit, and gives the same
 * messages whether the bytes come at once or in two reads split anywhere
 * (the server reads a socket in pieces); a prefix never re-encodes longer
 * than 5 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"

#define LIMIT 65536 /* smaller than the server's, so that the limit is reached sooner */

/* Splits buf[0..len) as the server does; returns the number of messages
 * and their offsets (at most cap); *rest = bytes left unparsed; -1 on a
 * malformed stream. */
static long split(const uint8_t *buf, size_t len, size_t *offs, size_t *lens, size_t cap,
                  size_t *rest)
{
  size_t off = 0;
  long n = 0;
  for (;;) {
    const uint8_t *msg = NULL;
    size_t mlen = 0, used = 0;
    const char *why = NULL;
    int r = ttb_ttsp_next(buf + off, len - off, LIMIT, &msg, &mlen, &used, &why);
    if (r < 0) {
      if (why == NULL) {
        fprintf(stderr, "property failed: an error without a reason\n");
        abort();
      }
      return -1;
    }
    if (r == 0)
      break;
    if (msg < buf + off || msg + mlen > buf + len || used == 0 || used > len - off ||
        msg + mlen != buf + off + used || mlen > LIMIT || used - mlen > 5) {
      fprintf(stderr, "property failed: a message outside the input\n");
      abort();
    }
    if ((size_t)n < cap) {
      offs[n] = (size_t)(msg - buf);
      lens[n] = mlen;
    }
    n++;
    off += used;
  }
  *rest = len - off;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static size_t offs[65536], lens[65536];
  size_t rest = 0;
  long n = split(data, size, offs, lens, 65536, &rest);
  for (long i = 0; i < n && i < 65536; i++) {
    Ttboost__Worker__TtsOutput *o =
        ttboost__worker__tts_output__unpack(NULL, lens[i], data + offs[i]);
    if (o) {
      /* what tts.c reads of it */
      size_t total = o->ogg.len;
      for (size_t k = 0; k < o->n_packets; k++)
        total += o->packets[k].len;
      if (o->hello)
        for (size_t k = 0; k < o->hello->n_voices; k++)
          total += strlen(o->hello->voices[k]);
      (void)total;
      ttboost__worker__tts_output__free_unpacked(o, NULL);
    }
    Ttboost__Worker__TtsJob *j = ttboost__worker__tts_job__unpack(NULL, lens[i], data + offs[i]);
    if (j) {
      (void)strlen(j->voice);
      (void)strlen(j->text);
      ttboost__worker__tts_job__free_unpacked(j, NULL);
    }
  }
  /* in two reads: the first part's whole messages, then the rest with the
   * first part's leftover in front, give the same messages */
  if (size > 1) {
    size_t cut = data[0] % size;
    size_t rest1 = 0, rest2 = 0;
    static size_t o1[65536], l1[65536], o2[65536], l2[65536];
    long n1 = split(data, cut, o1, l1, 65536, &rest1);
    if (n1 >= 0 && n >= 0) {
      size_t from = cut - rest1;
      long n2 = split(data + from, size - from, o2, l2, 65536, &rest2);
      if (n2 < 0 || n1 + n2 != n || rest2 != rest) {
        fprintf(stderr, "property failed: split reads differ (%ld+%ld vs %ld)\n", n1, n2, n);
        abort();
      }
    }
  }
  return 0;
}
