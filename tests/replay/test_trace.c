/*
 * The trace format (tools/replay/trace): a round trip of every record kind,
 * appending, and every way a file can be broken — each an error naming the
 * right byte offset, never a crash (also checked for every truncation and
 * for single-byte corruptions of a valid file).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"
#include "trace_ext.h"

static char path[64];

static void setup(void)
{
  snprintf(path, sizeof path, "/tmp/ttb-trace-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
}

static void teardown(void) { unlink(path); }

TestSuite(trace, .init = setup, .fini = teardown);

/* ---------------------------------------------------------------- helpers */

static void write_file(const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

static uint8_t *read_file(size_t *n)
{
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)sz + 1);
  cr_assert_not_null(b);
  cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

static size_t varint(uint8_t *p, uint64_t v)
{
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* magic + a valid header; returns its length. */
static size_t good_head(uint8_t *b, uint32_t version)
{
  memcpy(b, "TTBTRACE", 8);
  Ttboost__V1__TraceHeader h = TTBOOST__V1__TRACE_HEADER__INIT;
  h.version = version;
  h.created_us = 1234;
  h.source = "test";
  uint8_t tmp[256];
  size_t n = ttboost__v1__trace_header__pack(&h, tmp);
  size_t o = 8 + varint(b + 8, n);
  memcpy(b + o, tmp, n);
  return o + n;
}

/* Opens and reads to the end; returns the error (or "" when clean) and the
 * number of good records. */
static int read_all(char *err, size_t errlen, int *records)
{
  ttb_trace_reader *r;
  err[0] = '\0';
  *records = 0;
  if (ttb_trace_reader_open(path, &r, err, errlen) != 0)
    return -2;
  Ttboost__V1__TraceRecord *rec;
  int rc;
  while ((rc = ttb_trace_next(r, &rec, err, errlen)) == 1) {
    (*records)++;
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
  }
  /* a failed reader stays failed */
  if (rc < 0) {
    char again[256];
    cr_assert_eq(ttb_trace_next(r, &rec, again, sizeof again), -1);
    cr_assert_str_eq(again, err);
  }
  ttb_trace_reader_close(r);
  return rc;
}

static void sample_records(ttb_trace_writer *w)
{
  char err[256];
  /* ingest chat */
  Ttboost__V1__IngestChat ic = TTBOOST__V1__INGEST_CHAT__INIT;
  ic.user = "Әлия";
  ic.message = "Сәлем! 👋 қ ң ө ұ ү һ і";
  Ttboost__V1__IngestEvent ie = TTBOOST__V1__INGEST_EVENT__INIT;
  ie.channel = "chan";
  ie.event_case = TTBOOST__V1__INGEST_EVENT__EVENT_CHAT;
  ie.chat = &ic;
  Ttboost__V1__TraceRecord r1 = TTBOOST__V1__TRACE_RECORD__INIT;
  r1.time_us = 10;
  r1.direction = TTBOOST__V1__DIRECTION__DIRECTION_INGEST;
  r1.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_INGEST;
  r1.ingest = &ie;
  cr_assert_eq(ttb_trace_write(w, &r1, err, sizeof err), 0, "%s", err);
  /* server gift */
  Ttboost__V1__GiftEvent ge = TTBOOST__V1__GIFT_EVENT__INIT;
  ge.gift_name = "Rose";
  ge.count = 7;
  ge.sound_url = "http://x/sounds/chime.ogg";
  Ttboost__V1__ServerMessage sm = TTBOOST__V1__SERVER_MESSAGE__INIT;
  sm.seq = 42;
  sm.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
  sm.gift = &ge;
  Ttboost__V1__TraceRecord r2 = TTBOOST__V1__TRACE_RECORD__INIT;
  r2.time_us = 20;
  r2.direction = TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT;
  r2.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
  r2.server = &sm;
  cr_assert_eq(ttb_trace_write(w, &r2, err, sizeof err), 0, "%s", err);
  /* server audio frame with bytes */
  uint8_t pkt[300];
  for (size_t i = 0; i < sizeof pkt; i++)
    pkt[i] = (uint8_t)i;
  Ttboost__V1__AudioFrame af = TTBOOST__V1__AUDIO_FRAME__INIT;
  af.event_seq = 41;
  af.packet.data = pkt;
  af.packet.len = sizeof pkt;
  af.sample_rate = 48000;
  Ttboost__V1__ServerMessage sa = TTBOOST__V1__SERVER_MESSAGE__INIT;
  sa.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO;
  sa.audio = &af;
  Ttboost__V1__TraceRecord r3 = TTBOOST__V1__TRACE_RECORD__INIT;
  r3.time_us = 30;
  r3.direction = TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT;
  r3.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
  r3.server = &sa;
  cr_assert_eq(ttb_trace_write(w, &r3, err, sizeof err), 0, "%s", err);
  /* client ack */
  Ttboost__V1__Ack ack = TTBOOST__V1__ACK__INIT;
  ack.seq = 42;
  Ttboost__V1__ClientMessage cm = TTBOOST__V1__CLIENT_MESSAGE__INIT;
  cm.payload_case = TTBOOST__V1__CLIENT_MESSAGE__PAYLOAD_ACK;
  cm.ack = &ack;
  Ttboost__V1__TraceRecord r4 = TTBOOST__V1__TRACE_RECORD__INIT;
  r4.time_us = UINT64_MAX;
  r4.direction = TTBOOST__V1__DIRECTION__DIRECTION_CLIENT_TO_SERVER;
  r4.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_CLIENT;
  r4.client = &cm;
  cr_assert_eq(ttb_trace_write(w, &r4, err, sizeof err), 0, "%s", err);
}

/* ------------------------------------------------------------- round trip */

Test(trace, round_trip)
{
  char err[256];
  ttb_trace_writer *w;
  cr_assert_eq(ttb_trace_writer_open(path, "unit", "a note", false, &w, err, sizeof err), 0, "%s",
               err);
  uint64_t e0 = ttb_trace_writer_elapsed_us(w);
  cr_assert_lt(e0, 5000000u);
  for (int i = 0; i < 1000; i++) /* more than one buffer's worth */
    sample_records(w);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ttb_trace_writer_close(NULL, err, sizeof err), 0);

  ttb_trace_reader *r;
  cr_assert_eq(ttb_trace_reader_open(path, &r, err, sizeof err), 0, "%s", err);
  const Ttboost__V1__TraceHeader *h = ttb_trace_reader_header(r);
  cr_assert_eq(h->version, 1);
  cr_assert_str_eq(h->source, "unit");
  cr_assert_str_eq(h->note, "a note");
  uint64_t now = ttb_trace_now_us();
  cr_assert(h->created_us <= now && h->created_us + 60000000u > now);
  Ttboost__V1__TraceRecord *rec;
  for (int i = 0; i < 1000; i++) {
    cr_assert_eq(ttb_trace_next(r, &rec, err, sizeof err), 1, "%s", err);
    cr_assert_eq(rec->time_us, 10);
    cr_assert_eq(rec->record_case, TTBOOST__V1__TRACE_RECORD__RECORD_INGEST);
    cr_assert_str_eq(rec->ingest->chat->message, "Сәлем! 👋 қ ң ө ұ ү һ і");
    cr_assert_str_eq(rec->ingest->channel, "chan");
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    cr_assert_eq(ttb_trace_next(r, &rec, err, sizeof err), 1, "%s", err);
    cr_assert_eq(rec->direction, TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT);
    cr_assert_eq(rec->server->seq, 42);
    cr_assert_str_eq(rec->server->gift->gift_name, "Rose");
    cr_assert_eq(rec->server->gift->count, 7);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    cr_assert_eq(ttb_trace_next(r, &rec, err, sizeof err), 1, "%s", err);
    cr_assert_eq(rec->server->audio->packet.len, 300);
    cr_assert_eq(rec->server->audio->packet.data[299], (uint8_t)299);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    cr_assert_eq(ttb_trace_next(r, &rec, err, sizeof err), 1, "%s", err);
    cr_assert_eq(rec->time_us, UINT64_MAX);
    cr_assert_eq(rec->client->ack->seq, 42);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
  }
  uint64_t end = ttb_trace_reader_offset(r);
  cr_assert_eq(ttb_trace_next(r, &rec, err, sizeof err), 0);
  cr_assert_null(rec);
  ttb_trace_reader_close(r);
  size_t n;
  free(read_file(&n));
  cr_assert_eq(end, n);
}

Test(trace, fixed_created_us_is_reproducible)
{
  char err[256];
  uint8_t *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  for (int k = 0; k < 2; k++) {
    ttb_trace_writer *w;
    cr_assert_eq(ttb_trace_writer_open_at(path, "s", NULL, 777, &w, err, sizeof err), 0, "%s", err);
    sample_records(w);
    cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
    if (k == 0)
      a = read_file(&na);
    else
      b = read_file(&nb);
  }
  cr_assert_eq(na, nb);
  cr_assert_eq(memcmp(a, b, na), 0);
  free(a);
  free(b);
}

Test(trace, append_keeps_header_and_drops_a_cut_tail)
{
  char err[256];
  ttb_trace_writer *w;
  cr_assert_eq(ttb_trace_writer_open_at(path, "first", NULL, 1000, &w, err, sizeof err), 0, "%s",
               err);
  sample_records(w);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
  /* cut the last record short, as a crash would */
  size_t n;
  uint8_t *b = read_file(&n);
  write_file(b, n - 3);
  free(b);
  cr_assert_eq(ttb_trace_writer_open(path, "second", NULL, true, &w, err, sizeof err), 0, "%s",
               err);
  /* elapsed is measured from the original created_us (long ago) */
  cr_assert_gt(ttb_trace_writer_elapsed_us(w), 1000000000u);
  sample_records(w);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
  int records;
  cr_assert_eq(read_all(err, sizeof err, &records), 0, "%s", err);
  cr_assert_eq(records, 3 + 4);
  ttb_trace_reader *r;
  cr_assert_eq(ttb_trace_reader_open(path, &r, err, sizeof err), 0);
  cr_assert_str_eq(ttb_trace_reader_header(r)->source, "first");
  cr_assert_eq(ttb_trace_reader_header(r)->created_us, 1000);
  ttb_trace_reader_close(r);
  /* appending to a missing file creates it */
  unlink(path);
  cr_assert_eq(ttb_trace_writer_open(path, "new", NULL, true, &w, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
  cr_assert_eq(read_all(err, sizeof err, &records), 0, "%s", err);
  /* appending to something that is not a trace is refused */
  write_file("hello world, not a trace", 24);
  cr_assert_eq(ttb_trace_writer_open(path, "x", NULL, true, &w, err, sizeof err), -1);
  cr_assert(strstr(err, "not a trace"), "%s", err);
}

Test(trace, writer_errors)
{
  char err[256];
  ttb_trace_writer *w;
  cr_assert_eq(
      ttb_trace_writer_open("/nonexistent-dir/x.ttbtrace", "s", NULL, false, &w, err, sizeof err),
      -1);
  cr_assert(strstr(err, "/nonexistent-dir/x.ttbtrace"), "%s", err);
  cr_assert_null(w);
  /* a record over the limit is refused, and the writer goes on */
  cr_assert_eq(ttb_trace_writer_open(path, "s", NULL, false, &w, err, sizeof err), 0, "%s", err);
  size_t big = TTB_TRACE_MAX_RECORD + 10;
  uint8_t *pkt = calloc(1, big);
  cr_assert_not_null(pkt);
  Ttboost__V1__AudioFrame af = TTBOOST__V1__AUDIO_FRAME__INIT;
  af.packet.data = pkt;
  af.packet.len = big;
  Ttboost__V1__ServerMessage sm = TTBOOST__V1__SERVER_MESSAGE__INIT;
  sm.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO;
  sm.audio = &af;
  Ttboost__V1__TraceRecord rec = TTBOOST__V1__TRACE_RECORD__INIT;
  rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_SERVER;
  rec.server = &sm;
  cr_assert_eq(ttb_trace_write(w, &rec, err, sizeof err), -1);
  cr_assert(strstr(err, "over the limit"), "%s", err);
  free(pkt);
  sample_records(w);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);
  int records;
  cr_assert_eq(read_all(err, sizeof err, &records), 0, "%s", err);
  cr_assert_eq(records, 4);
  /* a full disk is reported at flush/close */
  if (access("/dev/full", W_OK) == 0) {
    cr_assert_eq(ttb_trace_writer_open("/dev/full", "s", NULL, false, &w, err, sizeof err), -1);
    cr_assert(strstr(err, "write failed"), "%s", err);
  }
}

/* ------------------------------------------------------------- corruption */

static void expect_error(const char *must_contain, const char *offset_text, int want_records)
{
  char err[256];
  int records;
  int rc = read_all(err, sizeof err, &records);
  cr_assert_neq(rc, 0, "no error; expected '%s'", must_contain);
  cr_assert(strstr(err, must_contain), "'%s' lacks '%s'", err, must_contain);
  cr_assert(strstr(err, offset_text), "'%s' lacks '%s'", err, offset_text);
  cr_assert(strstr(err, path), "'%s' does not name the file", err);
  cr_assert_eq(records, want_records);
}

Test(trace, bad_magic)
{
  write_file("TTBTRACX\x00", 9);
  expect_error("not a trace", "offset 7", 0);
  write_file("PK\x03\x04 zip file", 12);
  expect_error("not a trace", "offset 0", 0);
  write_file("", 0);
  expect_error("truncated", "offset 0", 0);
}

Test(trace, truncated_magic)
{
  write_file("TTBTR", 5);
  expect_error("truncated", "offset 5", 0);
}

Test(trace, unsupported_version)
{
  uint8_t b[300];
  size_t n = good_head(b, 2);
  write_file(b, n);
  expect_error("version 2 not supported", "offset 8", 0);
  n = good_head(b, 0);
  write_file(b, n);
  expect_error("version 0 not supported", "offset 8", 0);
}

Test(trace, truncated_or_corrupt_header)
{
  uint8_t b[300];
  size_t n = good_head(b, 1);
  write_file(b, 8);
  expect_error("no header", "offset 8", 0);
  write_file(b, n - 1);
  expect_error("truncated", "offset 8", 0);
  /* a header claiming a megabyte */
  memcpy(b, "TTBTRACE", 8);
  size_t o = 8 + varint(b + 8, 1u << 20);
  write_file(b, o);
  expect_error("claims 1048576 bytes", "offset 8", 0);
  /* a header that is not a TraceHeader (wire type 7 is invalid) */
  memcpy(b, "TTBTRACE\x02\x0f\x0f", 11);
  write_file(b, 11);
  expect_error("not a TraceHeader", "offset 8", 0);
}

Test(trace, truncated_varint)
{
  uint8_t b[400];
  size_t n = good_head(b, 1);
  b[n] = 0x85; /* continuation bit, then the file ends */
  b[n + 1] = 0x80;
  write_file(b, n + 2);
  char want[64];
  snprintf(want, sizeof want, "offset %zu", n);
  expect_error("length of the record", want, 0);
  expect_error("truncated", want, 0);
}

Test(trace, malformed_varint)
{
  uint8_t b[400];
  size_t n = good_head(b, 1);
  memset(b + n, 0xFF, 11);
  write_file(b, n + 11);
  char want[64];
  snprintf(want, sizeof want, "offset %zu", n);
  expect_error("not a valid varint", want, 0);
}

Test(trace, record_too_long)
{
  uint8_t b[400];
  size_t n = good_head(b, 1);
  size_t o = n + varint(b + n, TTB_TRACE_MAX_RECORD + 1);
  memset(b + o, 0, 20);
  write_file(b, o + 20);
  char want[64];
  snprintf(want, sizeof want, "offset %zu", n);
  expect_error("claims 1048577 bytes", want, 0);
}

Test(trace, truncated_record)
{
  char err[256];
  ttb_trace_writer *w;
  cr_assert_eq(ttb_trace_writer_open(path, "s", NULL, false, &w, err, sizeof err), 0);
  sample_records(w);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0);
  size_t n;
  uint8_t *b = read_file(&n);
  /* find where the 4th record starts */
  ttb_trace_reader *r;
  cr_assert_eq(ttb_trace_reader_open(path, &r, err, sizeof err), 0);
  Ttboost__V1__TraceRecord *rec;
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(ttb_trace_next(r, &rec, err, sizeof err), 1);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
  }
  uint64_t off4 = ttb_trace_reader_offset(r);
  ttb_trace_reader_close(r);
  write_file(b, n - 2);
  char want[64];
  snprintf(want, sizeof want, "record at offset %llu has", (unsigned long long)off4);
  expect_error("truncated", want, 3);
  free(b);
}

Test(trace, unparsable_record)
{
  uint8_t b[400];
  size_t n = good_head(b, 1);
  /* field 1 varint fine, then field 3 (ingest) with a length past the end */
  const uint8_t junk[] = {0x08, 0x01, 0x1a, 0x7f, 0x00};
  size_t o = n + varint(b + n, sizeof junk);
  memcpy(b + o, junk, sizeof junk);
  write_file(b, o + sizeof junk);
  char want[64];
  snprintf(want, sizeof want, "record at offset %zu", n);
  expect_error("is not a TraceRecord", want, 0);
}

Test(trace, invalid_utf8_record)
{
  uint8_t b[400];
  size_t n = good_head(b, 1);
  /* TraceRecord{ingest: IngestEvent{channel: "\xff"}} */
  const uint8_t bad[] = {0x1a, 0x03, 0x0a, 0x01, 0xff};
  size_t o = n + varint(b + n, sizeof bad);
  memcpy(b + o, bad, sizeof bad);
  write_file(b, o + sizeof bad);
  char want[64];
  snprintf(want, sizeof want, "record at offset %zu", n);
  expect_error("corrupt", want, 0);
}

Test(trace, every_truncation_and_byte_flip_is_handled)
{
  char err[256];
  ttb_trace_writer *w;
  cr_assert_eq(ttb_trace_writer_open_at(path, "s", "n", 5, &w, err, sizeof err), 0);
  sample_records(w);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0);
  size_t n;
  uint8_t *b = read_file(&n);
  int records;
  for (size_t cut = 0; cut < n; cut++) {
    write_file(b, cut);
    int rc = read_all(err, sizeof err, &records);
    /* only cuts at record boundaries read cleanly */
    if (rc == 0)
      cr_assert_lt(records, 4);
    else
      cr_assert(strstr(err, "offset"), "cut %zu: %s", cut, err);
  }
  for (size_t i = 0; i < n; i++)
    for (int bit = 0; bit < 8; bit += 3) {
      uint8_t *c = malloc(n);
      cr_assert_not_null(c);
      memcpy(c, b, n);
      c[i] ^= (uint8_t)(1u << bit);
      write_file(c, n);
      int rc = read_all(err, sizeof err, &records);
      if (rc != 0)
        cr_assert(strstr(err, "offset"), "flip %zu/%d: %s", i, bit, err);
      free(c);
    }
  free(b);
}
