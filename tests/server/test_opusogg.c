/* The speech worker's encoder (server/src/opusogg.c): what it writes is an
 * Ogg Opus file that libopusfile reads back at the input's exact length,
 * with the signal in it, one page per packet. */
#include <criterion/criterion.h>
#include <math.h>
#include <opus/opusfile.h>
#include <stdlib.h>
#include <string.h>

#include "opusogg.h"

#define PI 3.14159265358979323846

typedef struct sink {
  uint8_t *buf;
  size_t len, cap;
  size_t packets, pages;
  size_t refuse_after; /* pages accepted before refusing (0: never refuse) */
} sink;

static int on_page(void *arg, const uint8_t *p, size_t n)
{
  sink *s = arg;
  if (s->refuse_after && s->pages >= s->refuse_after)
    return 1;
  if (n >= 4 && memcmp(p, "OggS", 4) == 0)
    s->pages++;
  if (s->len + n > s->cap) {
    s->cap = (s->len + n) * 2;
    s->buf = realloc(s->buf, s->cap);
    cr_assert_not_null(s->buf);
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  return 0;
}

static int on_packet(void *arg, const uint8_t *p, size_t n)
{
  sink *s = arg;
  cr_assert(n > 0 && n <= 1275);
  cr_assert(n < 8 || (memcmp(p, "OpusHead", 8) != 0 && memcmp(p, "OpusTags", 8) != 0));
  s->packets++;
  return 0;
}

/* 440 Hz and 1250 Hz at `rate`, sample i. */
static double tone(double t) { return 0.3 * sin(2 * PI * 440 * t) + 0.2 * sin(2 * PI * 1250 * t); }

/* Encodes n samples of tone() at rate in chunks of `chunk`, checks the file. */
static void round_trip(int rate, size_t n, size_t chunk)
{
  sink s = {0};
  const ttb_opusogg_opts o = {
      .in_rate = rate, .bitrate = 32000, .complexity = 5, .encoder = "test", .language = "en"};
  const ttb_opusogg_cbs cb = {.page = on_page, .packet = on_packet, .arg = &s};
  char err[200] = "";
  ttb_opusogg *e = ttb_opusogg_create(&o, &cb, err, sizeof err);
  cr_assert_not_null(e, "%s", err);
  cr_assert_eq(s.pages, 2, "the two header pages come at once");
  int16_t *pcm = malloc((n ? n : 1) * sizeof *pcm);
  for (size_t i = 0; i < n; i++)
    pcm[i] = (int16_t)lrint(tone((double)i / rate) * 32767);
  for (size_t i = 0; i < n; i += chunk) {
    size_t k = n - i < chunk ? n - i : chunk;
    cr_assert_eq(ttb_opusogg_write(e, pcm + i, k, err, sizeof err), 0, "%s", err);
  }
  cr_assert_eq(ttb_opusogg_finish(e, err, sizeof err), 0, "%s", err);
  uint32_t pre_skip = ttb_opusogg_pre_skip(e);
  ttb_opusogg_destroy(e);
  free(pcm);
  cr_assert_eq(s.pages, 2 + s.packets, "one page per audio packet");

  int oe = 0;
  OggOpusFile *of = op_open_memory(s.buf, s.len, &oe);
  cr_assert_not_null(of, "opusfile refuses it (%d)", oe);
  const OpusHead *h = op_head(of, -1);
  cr_assert_eq(h->channel_count, 1);
  cr_assert_eq(h->pre_skip, pre_skip);
  cr_assert_eq(h->input_sample_rate, (opus_uint32)rate);
  const OpusTags *t = op_tags(of, -1);
  cr_assert_str_eq(opus_tags_query(t, "LANGUAGE", 0), "en");
  int64_t want = (int64_t)llround((double)n * 48000 / rate);
  cr_assert_eq(op_pcm_total(of, -1), want, "length %lld, want %lld",
               (long long)op_pcm_total(of, -1), (long long)want);
  /* the signal is there, in time (pre-skip right): SNR against the tone at 48 kHz */
  float out[5760];
  int64_t at = 0;
  double sig = 0, noise = 0;
  for (;;) {
    int r = op_read_float(of, out, (int)(sizeof out / sizeof out[0]), NULL);
    cr_assert(r >= 0, "decode error %d", r);
    if (r == 0)
      break;
    for (int i = 0; i < r; i++, at++) {
      if (at < 960 || at >= want - 960)
        continue; /* the edges: the encoder's fade in and out */
      double ref = tone((double)at / 48000);
      sig += ref * ref;
      noise += (out[i] - ref) * (out[i] - ref);
    }
  }
  cr_assert_eq(at, want, "decoded %lld samples, want %lld", (long long)at, (long long)want);
  if (want > 4 * 960) {
    double snr = 10 * log10(sig / (noise > 0 ? noise : 1e-12));
    cr_assert(snr > 10, "SNR %.1f dB: the signal is shifted or garbled", snr);
  }
  op_free(of);
  free(s.buf);
}

Test(opusogg, espeak_rate_exact_length_and_signal) { round_trip(22050, 22050 * 3 / 2 + 17, 1000); }

Test(opusogg, small_chunks) { round_trip(22050, 10000, 7); }

Test(opusogg, encoder_rate_without_resampler) { round_trip(24000, 24000 + 123, 4096); }

Test(opusogg, other_rates)
{
  round_trip(16000, 20000, 333);
  round_trip(48000, 50000, 960);
}

Test(opusogg, nothing_written_is_a_valid_empty_stream)
{
  sink s = {0};
  const ttb_opusogg_opts o = {.in_rate = 22050, .bitrate = 32000, .complexity = 5};
  const ttb_opusogg_cbs cb = {.page = on_page, .arg = &s};
  char err[200] = "";
  ttb_opusogg *e = ttb_opusogg_create(&o, &cb, err, sizeof err);
  cr_assert_not_null(e, "%s", err);
  cr_assert_eq(ttb_opusogg_finish(e, err, sizeof err), 0, "%s", err);
  ttb_opusogg_destroy(e);
  int oe = 0;
  OggOpusFile *of = op_open_memory(s.buf, s.len, &oe);
  cr_assert_not_null(of, "opusfile refuses it (%d)", oe);
  cr_assert_eq(op_pcm_total(of, -1), 0);
  op_free(of);
  free(s.buf);
}

Test(opusogg, bad_options_say_why)
{
  sink s = {0};
  const ttb_opusogg_cbs cb = {.page = on_page, .arg = &s};
  char err[200] = "";
  ttb_opusogg_opts o = {.in_rate = 4000, .bitrate = 32000, .complexity = 5};
  cr_assert_null(ttb_opusogg_create(&o, &cb, err, sizeof err));
  cr_assert(strstr(err, "sample rate") != NULL, "%s", err);
  o.in_rate = 22050;
  o.bitrate = 1000;
  cr_assert_null(ttb_opusogg_create(&o, &cb, err, sizeof err));
  cr_assert(strstr(err, "bitrate") != NULL, "%s", err);
  o.bitrate = 32000;
  o.complexity = 11;
  cr_assert_null(ttb_opusogg_create(&o, &cb, err, sizeof err));
  cr_assert(strstr(err, "complexity") != NULL, "%s", err);
  cr_assert_null(ttb_opusogg_create(&o, NULL, err, sizeof err));
  free(s.buf);
}

Test(opusogg, a_refused_page_fails_the_call)
{
  sink s = {.refuse_after = 3}; /* the headers, one audio page, then no more */
  const ttb_opusogg_opts o = {.in_rate = 22050, .bitrate = 32000, .complexity = 5};
  const ttb_opusogg_cbs cb = {.page = on_page, .arg = &s};
  char err[200] = "";
  ttb_opusogg *e = ttb_opusogg_create(&o, &cb, err, sizeof err);
  cr_assert_not_null(e, "%s", err);
  int16_t pcm[4410] = {0};
  int rc = 0;
  for (int i = 0; i < 10 && rc == 0; i++)
    rc = ttb_opusogg_write(e, pcm, 4410, err, sizeof err);
  cr_assert_eq(rc, -1);
  cr_assert(strstr(err, "refused") != NULL, "%s", err);
  cr_assert_eq(ttb_opusogg_write(e, pcm, 10, err, sizeof err), -1, "it stays failed");
  cr_assert_eq(ttb_opusogg_finish(e, err, sizeof err), -1);
  ttb_opusogg_destroy(e);
  free(s.buf);
}
