/*
 * libFuzzer target for the upload converter (server/src/sndconv.c,
 * POST /me/sounds): fuzz-sndconv. The bytes are the uploaded file, as the
 * server's conversion thread gets them; libopusfile, libsndfile (libmpg123)
 * and libopusenc come from Debian uninstrumented, sndconv.c is instrumented.
 * Properties: an unknown magic is TTB_SNDCONV_FORMAT; a failure gives no
 * output and a message; a success gives mono Ogg Opus that opusfile opens,
 * of at most 10 s (the limit is 10 s here, as the server's), whose decoded
 * length is the duration reported (within the encoder's padding); a
 * TTB_SNDCONV_TOO_LONG length is 0 (unknown) or over the limit.
 */
#include <opusfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sndconv.h"

static void fail(const char *what)
{
  fprintf(stderr, "property failed: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint8_t *out = (uint8_t *)1;
  size_t out_len = 99;
  uint32_t ms = 99;
  char err[200] = "";
  ttb_sndconv_status st =
      ttb_sndconv(data, size, TTB_SNDCONV_MAX_MS, &out, &out_len, &ms, err, sizeof err);
  if (ttb_sndconv_sniff(data, size) == TTB_SNDCONV_UNKNOWN && st != TTB_SNDCONV_FORMAT)
    fail("an unknown magic was not refused as a format");
  if (st != TTB_SNDCONV_OK) {
    if (out != NULL || out_len != 0)
      fail("output on a failure");
    if (err[0] == '\0')
      fail("a failure without a message");
    if (st == TTB_SNDCONV_TOO_LONG && ms != 0 && ms <= TTB_SNDCONV_MAX_MS)
      fail("too long, with a length within the limit");
    return 0;
  }
  if (out == NULL || out_len == 0)
    fail("success without output");
  if (ms == 0 || ms > TTB_SNDCONV_MAX_MS + 1)
    fail("success with a duration outside (0, limit]");
  int e = 0;
  OggOpusFile *of = op_open_memory(out, out_len, &e);
  if (of == NULL)
    fail("the output is not Ogg Opus");
  if (op_channel_count(of, -1) != 1)
    fail("the output is not mono");
  ogg_int64_t total = op_pcm_total(of, -1);
  /* 48 samples a ms; the encoder may round up to its last 2.5 ms frame */
  if (total < 0 || llabs((long long)total - (long long)ms * 48) > 48 * 25)
    fail("the output's length is not the duration reported");
  op_free(of);
  free(out);
  return 0;
}
