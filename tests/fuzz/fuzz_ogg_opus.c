/*
 * libFuzzer target for the client's incremental Ogg Opus decoder
 * (mobile/core/src/audio/decode.c, ttb__ogg_opus_*), which reads the speech
 * files a server streams over HTTP: fuzz-ogg-opus.
 * Input: the first byte chooses the piece size (1..256 bytes), the rest is
 * the body, fed in pieces of that size.
 * Properties: the output does not depend on how the body is split (fed at
 * once and in pieces: the same result code, frames, channels, end and PCM
 * checksum); PCM comes in calls of > 0 frames with the stream's channel
 * count (1 or 2), never more than TTB__CLIP_MAX_SECONDS in all; the frame
 * count reported is the one delivered; an error sticks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/decode.h"

static void fail(const char *what)
{
  fprintf(stderr, "property failed: %s\n", what);
  abort();
}

typedef struct {
  uint32_t channels;
  uint64_t frames;
  uint64_t sum;
} out_t;

static int on_pcm(void *user, uint32_t ch, const int16_t *pcm, size_t frames)
{
  out_t *o = user;
  if (frames == 0 || (ch != 1 && ch != 2))
    fail("PCM call without frames or with a bad channel count");
  if (o->channels && o->channels != ch)
    fail("channel count changed");
  o->channels = ch;
  o->frames += frames;
  for (size_t i = 0; i < frames * ch; i++)
    o->sum = o->sum * 31 + (uint16_t)pcm[i];
  return TTB_OK;
}

typedef struct {
  int rc;
  out_t out;
  bool ended;
  uint32_t channels;
} result;

static result run(const uint8_t *data, size_t len, size_t piece)
{
  result r;
  memset(&r, 0, sizeof r);
  ttb__ogg_opus *d = NULL;
  if (ttb__ogg_opus_create(&d, NULL) != TTB_OK)
    fail("create");
  r.rc = TTB_OK;
  for (size_t at = 0; at < len && r.rc == TTB_OK; at += piece) {
    size_t n = len - at < piece ? len - at : piece;
    r.rc = ttb__ogg_opus_feed(d, data + at, n, on_pcm, &r.out, NULL);
  }
  if (r.rc != TTB_OK) {
    ttb_error e;
    ttb_error_clear(&e);
    uint8_t b = 0;
    if (ttb__ogg_opus_feed(d, &b, 1, on_pcm, &r.out, &e) != r.rc || !e.msg[0])
      fail("an error does not stick");
  }
  if (ttb__ogg_opus_frames(d) != r.out.frames)
    fail("frames reported != frames delivered");
  if (r.out.frames > (uint64_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE)
    fail("longer than allowed");
  r.ended = ttb__ogg_opus_ended(d);
  r.channels = ttb__ogg_opus_channels(d);
  if (r.out.frames && r.channels != r.out.channels)
    fail("channels reported != channels delivered");
  ttb__ogg_opus_destroy(d);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  size_t piece = (size_t)data[0] + 1;
  data++;
  size--;
  result whole = run(data, size, size ? size : 1);
  result parts = run(data, size, piece);
  if (whole.rc != parts.rc || whole.out.frames != parts.out.frames ||
      whole.out.sum != parts.out.sum || whole.ended != parts.ended ||
      whole.channels != parts.channels)
    fail("the result depends on how the data is split");
  return 0;
}
