/* tests/mobile/test_decode.c — Ogg Opus files from memory (made like the
 * server's TTS files: libopusenc, mono, voice, 22050 Hz input), streamed
 * Opus packets with pre-skip and loss concealment, and damaged input.
 * With TTBOOST_TTS_SAMPLES=<dir>, every *.ogg / *.opus file there (e.g. the
 * server's real TTS output) is decoded too. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <ogg/ogg.h>
#include <opus.h>
#include <stdio.h>

#include "audio/decode.h"
#include "audio/mixer.h"
#include "helpers.h"
#include "opus_synth.h"

static size_t zero_crossings(const int16_t *x, size_t n, size_t stride)
{
  size_t z = 0;
  for (size_t i = 1; i < n; i++)
    if ((x[(i - 1) * stride] < 0) != (x[i * stride] < 0))
      z++;
  return z;
}

Test(decode, ogg_opus_like_the_servers_tts)
{
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(2.0, 22050, 1, 0, 24000, &b), 0);
  ttb__clip *c = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb__clip_decode_ogg(b.data, b.len, &c, &e), TTB_OK, "%s", e.msg);
  cr_assert_eq(c->channels, 1);
  cr_assert(c->complete);
  /* The encoder resamples 22050 -> 48000; opusfile trims pre-skip and the
     * end padding, so the length is the input's (within a resampler's delay). */
  cr_assert(c->frames >= 95900 && c->frames <= 96100, "frames %zu", c->frames);
  double e2 = 0;
  for (size_t i = 0; i < c->frames; i++)
    e2 += (double)c->pcm[i] * c->pcm[i];
  cr_assert(sqrt(e2 / c->frames) > 1000.0, "speech energy present");
  ttb__clip_unref(c);
  free(b.data);
}

Test(decode, tone_keeps_its_frequency)
{
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(1.0, 48000, 2, 440.0, 96000, &b), 0);
  ttb__clip *c = NULL;
  cr_assert_eq(ttb__clip_decode_ogg(b.data, b.len, &c, NULL), TTB_OK);
  cr_assert_eq(c->channels, 2);
  cr_assert_eq(c->frames, 48000);
  size_t z = zero_crossings(c->pcm + 4800 * 2, 38400, 2); /* 0.8 s */
  cr_assert(z >= 700 && z <= 710, "440 Hz: %zu crossings in 0.8 s", z);
  ttb__clip_unref(c);
  free(b.data);
}

Test(decode, decoded_file_through_the_mixer_at_44100)
{
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(1.0, 48000, 1, 1000.0, 64000, &b), 0);
  ttb__clip *c = NULL;
  cr_assert_eq(ttb__clip_decode_ogg(b.data, b.len, &c, NULL), TTB_OK);
  ttb__mixer_config cfg = {.out_rate = 44100, .out_channels = 2};
  ttb__mixer *m = NULL;
  cr_assert_eq(ttb__mixer_create(&cfg, &m, NULL), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_reserve(m, 1), TTB_OK);
  cr_assert_eq(ttb__mixer_tts_attach(m, 1, c), TTB_OK);
  ttb__clip_unref(c);
  int16_t *out = calloc(44100 * 2, sizeof *out);
  cr_assert_not_null(out);
  ttb__mixer_render(m, out, 44100);
  double *x = malloc(sizeof(double) * 22050);
  cr_assert_not_null(x);
  for (size_t i = 0; i < 22050; i++)
    x[i] = out[2 * (i + 11025)] / 32768.0;
  double p = goertzel(x, 22050, 1000.0, 44100.0), q = goertzel(x, 22050, 918.75, 44100.0);
  cr_assert(p > 0.03 && p > 1000 * q, "1 kHz kept: %g vs %g", p, q);
  free(x);
  free(out);
  ttb__mixer_destroy(m);
  free(b.data);
}

Test(decode, damaged_files_are_errors_not_crashes)
{
  ttb__clip *c = (ttb__clip *)1;
  ttb_error e;
  ttb_error_clear(&e);
  const uint8_t junk[] = "OggS but not really an Ogg Opus file at all, sorry";
  cr_assert_eq(ttb__clip_decode_ogg(junk, sizeof junk, &c, &e), TTB_ERR_PROTOCOL);
  cr_assert_null(c);
  cr_assert(strlen(e.msg) > 0);
  cr_assert_eq(ttb__clip_decode_ogg(NULL, 0, &c, &e), TTB_ERR_PROTOCOL);
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(1.0, 48000, 1, 0, 32000, &b), 0);
  /* Truncated: what is there decodes, or a clean error. */
  for (size_t cut = 10; cut < b.len; cut += b.len / 7) {
    int rc = ttb__clip_decode_ogg(b.data, cut, &c, &e);
    cr_assert(rc == TTB_OK || rc == TTB_ERR_PROTOCOL, "cut %zu: %d", cut, rc);
    if (rc == TTB_OK)
      ttb__clip_unref(c);
  }
  /* Bit flips in the audio pages. */
  for (size_t k = 200; k < b.len; k += 97)
    b.data[k] ^= 0x5A;
  int rc = ttb__clip_decode_ogg(b.data, b.len, &c, &e);
  cr_assert(rc == TTB_OK || rc == TTB_ERR_PROTOCOL);
  if (rc == TTB_OK)
    ttb__clip_unref(c);
  free(b.data);
}

Test(decode, streamed_packets_with_preskip_and_loss)
{
  int err = 0;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  cr_assert_not_null(enc);
  opus_int32 lookahead = 0;
  opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead));
  ttb__opus_stream *s = NULL;
  ttb_error e;
  cr_assert_eq(ttb__opus_stream_create(1, (uint32_t)lookahead, &s, &e), TTB_OK);
  cr_assert_eq(ttb__opus_stream_channels(s), 1);
  int16_t in[960], out[TTB__OPUS_MAX_FRAMES];
  uint8_t pkt[1275];
  size_t total = 0;
  int16_t *all = calloc(48000, sizeof *all);
  cr_assert_not_null(all);
  for (int f = 0; f < 50; f++) {
    for (int i = 0; i < 960; i++)
      in[i] = (int16_t)lrint(12000.0 * sin(2 * TEST_PI * 500.0 * (f * 960 + i) / 48000.0));
    opus_int32 n = opus_encode(enc, in, 960, pkt, sizeof pkt);
    cr_assert(n > 0);
    int got = (f == 20) ? ttb__opus_stream_decode(s, NULL, 0, out, TTB__OPUS_MAX_FRAMES, &e)
                        : ttb__opus_stream_decode(s, pkt, (size_t)n, out, TTB__OPUS_MAX_FRAMES, &e);
    cr_assert(got >= 0, "%s", e.msg);
    if (f == 0)
      cr_assert_eq(got, 960 - lookahead, "pre-skip dropped from the first packet");
    else
      cr_assert_eq(got, 960, "frame %d (concealed when 20)", f);
    memcpy(all + total, out, (size_t)got * sizeof *out);
    total += (size_t)got;
  }
  cr_assert_eq(total, 48000 - (size_t)lookahead);
  size_t z = zero_crossings(all + 4800, 14400, 1); /* 0.3 s before the loss */
  cr_assert(z >= 298 && z <= 302, "500 Hz: %zu", z);
  cr_assert_eq(ttb__opus_stream_decode(s, pkt, 0, out, TTB__OPUS_MAX_FRAMES, &e), TTB_ERR_PROTOCOL);
  cr_assert_eq(ttb__opus_stream_decode(s, pkt, 1276, out, TTB__OPUS_MAX_FRAMES, &e),
               TTB_ERR_PROTOCOL);
  free(all);
  ttb__opus_stream_destroy(s);
  opus_encoder_destroy(enc);
  cr_assert_eq(ttb__opus_stream_create(3, 0, &s, &e), TTB_ERR_INVALID);
}

Test(decode, real_tts_samples_when_given)
{
  const char *dir = getenv("TTBOOST_TTS_SAMPLES");
  if (!dir || !*dir)
    cr_skip_test("TTBOOST_TTS_SAMPLES not set (synthesised files are tested above)");
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "cannot list %s", dir);
  struct dirent *ent;
  int n = 0;
  while ((ent = readdir(d)) != NULL) {
    size_t l = strlen(ent->d_name);
    if (!(l > 4 && (strcmp(ent->d_name + l - 4, ".ogg") == 0 ||
                    (l > 5 && strcmp(ent->d_name + l - 5, ".opus") == 0))))
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)sz);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    ttb__clip *c = NULL;
    ttb_error e;
    cr_assert_eq(ttb__clip_decode_ogg(buf, (size_t)sz, &c, &e), TTB_OK, "%s: %s", path, e.msg);
    cr_assert(c->frames > 0, "%s is empty", path);
    ttb__clip_unref(c);
    free(buf);
    n++;
  }
  closedir(d);
  cr_assert(n > 0, "no .ogg/.opus files in %s", dir);
}

/* ------------------------------------------------------------ incremental Ogg Opus */

typedef struct {
  int16_t *pcm;
  size_t frames, cap;
  uint32_t channels;
  size_t calls;
  size_t first_call_at; /* bytes fed when the first PCM came out */
  size_t fed;
} pcm_sink;

static int sink_pcm(void *user, uint32_t ch, const int16_t *pcm, size_t frames)
{
  pcm_sink *s = user;
  if (s->channels == 0)
    s->channels = ch;
  cr_assert_eq(ch, s->channels);
  if (s->calls++ == 0)
    s->first_call_at = s->fed;
  if (s->frames + frames > s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 48000;
    while (nc < s->frames + frames)
      nc *= 2;
    s->pcm = realloc(s->pcm, nc * ch * sizeof(int16_t));
    cr_assert_not_null(s->pcm);
    s->cap = nc;
  }
  memcpy(s->pcm + s->frames * ch, pcm, frames * ch * sizeof(int16_t));
  s->frames += frames;
  return TTB_OK;
}

/* Feeds data in pieces of `piece` bytes (0: pseudo-random 1..700). */
static int feed_in_pieces(const uint8_t *data, size_t len, size_t piece, pcm_sink *s,
                          ttb__ogg_opus **out)
{
  ttb__ogg_opus *d = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb__ogg_opus_create(&d, &e), TTB_OK);
  uint32_t rnd = 12345;
  size_t at = 0;
  int rc = TTB_OK;
  while (at < len && rc == TTB_OK) {
    size_t n = piece;
    if (n == 0) {
      rnd = rnd * 1103515245u + 12345u;
      n = 1 + (rnd >> 8) % 700;
    }
    if (n > len - at)
      n = len - at;
    s->fed = at + n;
    rc = ttb__ogg_opus_feed(d, data + at, n, sink_pcm, s, &e);
    at += n;
  }
  *out = d;
  return rc;
}

static void assert_same_as_whole_file(const synth_buf *b, size_t piece)
{
  ttb__clip *c = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb__clip_decode_ogg(b->data, b->len, &c, &e), TTB_OK, "%s", e.msg);
  pcm_sink s = {0};
  ttb__ogg_opus *d = NULL;
  cr_assert_eq(feed_in_pieces(b->data, b->len, piece, &s, &d), TTB_OK);
  cr_assert(ttb__ogg_opus_ended(d), "the EOS page was read");
  cr_assert_eq(ttb__ogg_opus_channels(d), c->channels);
  cr_assert_eq(s.channels, c->channels);
  cr_assert_eq(s.frames, c->frames, "piece %zu: %zu frames streamed, %zu from the file", piece,
               s.frames, c->frames);
  cr_assert_eq(ttb__ogg_opus_frames(d), s.frames);
  /* libopusfile decodes in float and rounds itself: within one step. */
  size_t n = s.frames * s.channels, off = 0;
  for (size_t i = 0; i < n; i++)
    if (abs((int)s.pcm[i] - (int)c->pcm[i]) > 1)
      off++;
  cr_assert_eq(off, 0, "piece %zu: %zu samples differ", piece, off);
  /* The first PCM came out long before the end of the data (libopusenc
     * flushes a page at least every second of audio). */
  if (s.frames > 2 * 48000 && piece < b->len / 4)
    cr_assert(s.first_call_at < b->len / 2, "first audio after %zu of %zu bytes", s.first_call_at,
              b->len);
  ttb__ogg_opus_destroy(d);
  ttb__clip_unref(c);
  free(s.pcm);
}

Test(decode, incremental_ogg_in_pieces_matches_the_whole_file)
{
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(3.0, 22050, 1, 0, 24000, &b), 0);
  assert_same_as_whole_file(&b, 1); /* one byte at a time */
  assert_same_as_whole_file(&b, 7);
  assert_same_as_whole_file(&b, 4096);
  assert_same_as_whole_file(&b, b.len); /* all at once */
  assert_same_as_whole_file(&b, 0);     /* random pieces */
  free(b.data);
  synth_buf st;
  cr_assert_eq(synth_ogg_opus(1.0, 48000, 2, 440, 64000, &st), 0);
  assert_same_as_whole_file(&st, 1);
  assert_same_as_whole_file(&st, 0);
  free(st.data);
}

Test(decode, incremental_ogg_starts_before_the_end)
{
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(4.0, 22050, 1, 0, 24000, &b), 0);
  /* Only the first third of the file: audio comes out, the end is not seen. */
  pcm_sink s = {0};
  ttb__ogg_opus *d = NULL;
  cr_assert_eq(feed_in_pieces(b.data, b.len / 3, 1, &s, &d), TTB_OK);
  cr_assert_gt(s.frames, 48000 / 2, "%zu frames from a third of the file", s.frames);
  cr_assert(!ttb__ogg_opus_ended(d));
  ttb__ogg_opus_destroy(d);
  free(s.pcm);
  free(b.data);
}

static int stop_at_first(void *user, uint32_t ch, const int16_t *pcm, size_t frames)
{
  (void)ch;
  (void)pcm;
  (void)frames;
  (*(int *)user)++;
  return TTB_ERR_STATE;
}

Test(decode, incremental_ogg_errors)
{
  ttb__ogg_opus *d = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  /* Not Ogg at all: refused after TTB__OGG_SYNC_MAX bytes. */
  cr_assert_eq(ttb__ogg_opus_create(&d, &e), TTB_OK);
  uint8_t junk[4096];
  memset(junk, 'A', sizeof junk);
  int rc = TTB_OK;
  for (int i = 0; i < 80 && rc == TTB_OK; i++)
    rc = ttb__ogg_opus_feed(d, junk, sizeof junk, sink_pcm, NULL, &e);
  cr_assert_eq(rc, TTB_ERR_PROTOCOL, "%s", e.msg);
  cr_assert_eq(ttb__ogg_opus_feed(d, junk, 1, sink_pcm, NULL, &e), TTB_ERR_PROTOCOL,
               "the error sticks");
  ttb__ogg_opus_destroy(d);

  /* Ogg, but a multichannel OpusHead (family 1; the page's CRC made right
     * again): refused with a reason. */
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(0.5, 48000, 1, 300, 32000, &b), 0);
  uint8_t *bad = malloc(b.len);
  memcpy(bad, b.data, b.len);
  ogg_page pg;
  pg.header = bad;
  pg.header_len = 27 + bad[26];
  pg.body = bad + pg.header_len;
  pg.body_len = 0;
  for (int i = 0; i < bad[26]; i++)
    pg.body_len += bad[27 + i];
  cr_assert(memcmp(pg.body, "OpusHead", 8) == 0);
  pg.body[18] = 1;
  ogg_page_checksum_set(&pg);
  pcm_sink s = {0};
  cr_assert_eq(feed_in_pieces(bad, b.len, 100, &s, &d), TTB_ERR_PROTOCOL);
  cr_assert_eq(s.frames, 0);
  ttb__ogg_opus_destroy(d);
  /* The same byte without the CRC made right: libogg drops the page, no
     * stream starts, no audio, no crash. */
  memcpy(bad, b.data, b.len);
  bad[pg.header_len + 18] = 1;
  cr_assert_eq(feed_in_pieces(bad, b.len, 100, &s, &d), TTB_OK);
  cr_assert_eq(s.frames, 0);
  cr_assert(!ttb__ogg_opus_ended(d));
  ttb__ogg_opus_destroy(d);
  free(bad);

  /* The receiver's error stops the feed and is returned. */
  int calls = 0;
  cr_assert_eq(ttb__ogg_opus_create(&d, &e), TTB_OK);
  cr_assert_eq(ttb__ogg_opus_feed(d, b.data, b.len, stop_at_first, &calls, &e), TTB_ERR_STATE);
  cr_assert_eq(calls, 1);
  ttb__ogg_opus_destroy(d);
  free(b.data);
  free(s.pcm);
}
