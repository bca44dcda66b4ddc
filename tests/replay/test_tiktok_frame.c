/*
 * tools/replay/tiktok_frame.c on its own: chunk writing and joining, inflate
 * bounds, JSON strings, and describe/stats never failing on damaged frames
 * (every truncation and every single-bit flip of the demo trace's messages).
 * The demo trace's path is in $TTB_TIKTOK_DEMO_TRACE.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tiktok_frame.h"

static char tpath[64];

static void fini(void)
{
  if (tpath[0])
    unlink(tpath);
}

TestSuite(tiktok_frame, .fini = fini, .timeout = 120);

Test(tiktok_frame, write_and_join_chunks)
{
  snprintf(tpath, sizeof tpath, "/tmp/ttb-tf-XXXXXX");
  int fd = mkstemp(tpath);
  cr_assert(fd >= 0);
  close(fd);
  char err[256];
  ttb_trace_writer *w;
  cr_assert_eq(ttb_trace_writer_open(tpath, "t", NULL, false, &w, err, sizeof err), 0, "%s", err);
  size_t sizes[] = {0, 1, TTB_TF_CHUNK - 1, TTB_TF_CHUNK, TTB_TF_CHUNK + 1, 3 * TTB_TF_CHUNK};
  size_t chunks[] = {1, 1, 1, 1, 2, 3};
  uint8_t *big = malloc(3 * TTB_TF_CHUNK);
  cr_assert_not_null(big);
  for (size_t i = 0; i < 3 * TTB_TF_CHUNK; i++)
    big[i] = (uint8_t)(i * 7 + i / 251);
  for (size_t k = 0; k < 6; k++)
    cr_assert_eq(ttb_tf_write(w, 1000 * k, "123", big, sizes[k], err, sizeof err), 0, "%s", err);
  cr_assert_eq(ttb_trace_writer_close(w, err, sizeof err), 0, "%s", err);

  ttb_trace_reader *r;
  cr_assert_eq(ttb_trace_reader_open(tpath, &r, err, sizeof err), 0, "%s", err);
  ttb_tf_joiner j = {0};
  Ttboost__V1__TraceRecord *rec;
  size_t k = 0, records = 0;
  int rc;
  while ((rc = ttb_trace_next(r, &rec, err, sizeof err)) == 1) {
    records++;
    cr_assert_eq(rec->direction, TTBOOST__V1__DIRECTION__DIRECTION_TIKTOK);
    cr_assert_leq(rec->tiktok->frame.len, TTB_TF_CHUNK);
    int jr = ttb_tf_join(&j, rec, err, sizeof err);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    cr_assert_geq(jr, 0, "%s", err);
    if (jr == 0) {
      cr_assert(ttb_tf_join_pending(&j));
      continue;
    }
    cr_assert_lt(k, 6u);
    cr_assert_eq(j.len, sizes[k], "message %zu: %zu bytes, expected %zu", k, j.len, sizes[k]);
    cr_assert_eq(j.chunks, chunks[k]);
    cr_assert_eq(j.time_us, 1000 * k);
    cr_assert_str_eq(j.room_id, "123");
    cr_assert(j.len == 0 || memcmp(j.buf, big, j.len) == 0);
    cr_assert(!ttb_tf_join_pending(&j));
    k++;
  }
  cr_assert_eq(rc, 0, "%s", err);
  cr_assert_eq(k, 6u);
  cr_assert_eq(records, 1 + 1 + 1 + 1 + 2 + 3);
  ttb_tf_joiner_free(&j);
  ttb_trace_reader_close(r);
  free(big);
}

Test(tiktok_frame, inflate_is_bounded)
{
  size_t n = 1u << 20;
  uint8_t *zeros = calloc(n, 1), *gz, *out;
  size_t gl, ol;
  char err[256];
  cr_assert_eq(ttb_tf_gzip(zeros, n, &gz, &gl, err, sizeof err), 0, "%s", err);
  cr_assert_lt(gl, 4096u, "a megabyte of zeros compresses well");
  cr_assert_eq(ttb_tf_inflate(gz, gl, n, &out, &ol, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ol, n);
  cr_assert(memcmp(out, zeros, n) == 0);
  free(out);
  cr_assert_eq(ttb_tf_inflate(gz, gl, n - 1, &out, &ol, err, sizeof err), -1,
               "one byte over the bound");
  cr_assert_null(out);
  cr_assert(strstr(err, "more than"), "%s", err);
  cr_assert_eq(ttb_tf_inflate(gz, gl / 2, n, &out, &ol, err, sizeof err), -1, "cut in half");
  cr_assert_eq(ttb_tf_inflate((const uint8_t *)"\x1f\x8bnope", 6, n, &out, &ol, err, sizeof err),
               -1);
  free(gz);
  free(zeros);
}

Test(tiktok_frame, json_strings)
{
  ttb_sbuf b = {0};
  ttb_sbuf_json_str(&b, "a\"b\\c\n\x01 Ә 😀", strlen("a\"b\\c\n\x01 Ә 😀"));
  ttb_sbuf_json_str(&b, "\xff\xc3(\xed\xa0\x80", 6);
  cr_assert_str_eq(b.p, "\"a\\\"b\\\\c\\n\\u0001 Ә 😀\"\"\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\"");
  cr_assert(!b.oom);
  ttb_sbuf_free(&b);
}

/* Every truncation and single-bit flip of the demo's messages: describe and
 * stats say what they can, never crash (run under sanitizers/valgrind too). */
Test(tiktok_frame, damaged_frames_never_crash, .timeout = 300)
{
  const char *path = getenv("TTB_TIKTOK_DEMO_TRACE");
  cr_assert(path && *path, "TTB_TIKTOK_DEMO_TRACE is not set");
  char err[256];
  ttb_trace_reader *r;
  cr_assert_eq(ttb_trace_reader_open(path, &r, err, sizeof err), 0, "%s", err);
  ttb_tf_joiner j = {0};
  ttb_tf_stats st = {0};
  Ttboost__V1__TraceRecord *rec;
  size_t msgs = 0, undecodable = 0, tries = 0;
  while (ttb_trace_next(r, &rec, err, sizeof err) == 1) {
    int jr = ttb_tf_join(&j, rec, err, sizeof err);
    ttboost__v1__trace_record__free_unpacked(rec, NULL);
    if (jr != 1)
      continue;
    msgs++;
    uint8_t *m = malloc(j.len + 1);
    cr_assert_not_null(m);
    for (size_t cut = 0; cut <= j.len; cut++) {
      memcpy(m, j.buf, cut);
      ttb_sbuf b = {0};
      if (!ttb_tf_describe(m, cut, &b))
        undecodable++;
      cr_assert(!b.oom && b.len > 0 && b.p[0] == '{' && b.p[b.len - 1] == '}');
      ttb_sbuf_free(&b);
      cr_assert_eq(ttb_tf_stats_add(&st, m, cut), 0);
      tries++;
    }
    memcpy(m, j.buf, j.len);
    for (size_t i = 0; i < j.len; i++)
      for (int bit = 0; bit < 8; bit++) {
        m[i] ^= (uint8_t)(1u << bit);
        ttb_sbuf b = {0};
        if (!ttb_tf_describe(m, j.len, &b))
          undecodable++;
        cr_assert(!b.oom && b.len > 0 && b.p[0] == '{' && b.p[b.len - 1] == '}');
        ttb_sbuf_free(&b);
        cr_assert_eq(ttb_tf_stats_add(&st, m, j.len), 0);
        m[i] ^= (uint8_t)(1u << bit);
        tries++;
      }
    free(m);
  }
  cr_assert_eq(msgs, 25u);
  cr_assert_gt(undecodable, 0u, "some damage must make a frame undecodable");
  cr_assert_eq(st.messages, tries);
  cr_assert_eq(st.undecodable, undecodable);
  ttb_tf_stats_free(&st);
  ttb_tf_joiner_free(&j);
  ttb_trace_reader_close(r);
}
