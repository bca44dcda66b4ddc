/* tests/mobile/opus_synth.h — makes Ogg Opus files in memory the way the
 * server's TTS does (libopusenc, mono, VOICE signal, the espeak-ng rate of
 * 22050 Hz resampled by the encoder), for the decoding tests and the bench. */
#ifndef TTB_TESTS_MOBILE_OPUS_SYNTH_H
#define TTB_TESTS_MOBILE_OPUS_SYNTH_H

#include <math.h>
#include <opus/opusenc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned char *data;
  size_t len, cap;
} synth_buf;

static inline int synth_write(void *user, const unsigned char *ptr, opus_int32 len)
{
  synth_buf *b = user;
  if (b->len + (size_t)len > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 65536;
    while (nc < b->len + (size_t)len)
      nc *= 2;
    unsigned char *nd = realloc(b->data, nc);
    if (!nd)
      return 1;
    b->data = nd;
    b->cap = nc;
  }
  memcpy(b->data + b->len, ptr, (size_t)len);
  b->len += (size_t)len;
  return 0;
}

static inline int synth_close(void *user)
{
  (void)user;
  return 0;
}

/* A speech-like test signal: a 120 Hz voiced source (harmonics up to 4 kHz)
 * with a slow syllable envelope, or a pure tone when tone_hz > 0. */
static inline void synth_signal(int16_t *pcm, size_t frames, int channels, int rate, double tone_hz,
                                double amp)
{
  const double pi = 3.14159265358979323846;
  for (size_t i = 0; i < frames; i++) {
    double t = (double)i / rate, v = 0;
    if (tone_hz > 0) {
      v = sin(2 * pi * tone_hz * t);
    } else {
      for (int h = 1; h * 120.0 < 4000.0; h++)
        v += sin(2 * pi * 120.0 * h * t) / h;
      v *= 0.35 * (0.55 + 0.45 * sin(2 * pi * 4.0 * t));
    }
    for (int c = 0; c < channels; c++)
      pcm[i * (size_t)channels + (size_t)c] = (int16_t)lrint(amp * 32767.0 * v);
  }
}

/* Encodes `seconds` of the test signal to Ogg Opus in *out (malloc'd). 0 on
 * success. */
static inline int synth_ogg_opus(double seconds, int rate, int channels, double tone_hz,
                                 int bitrate, synth_buf *out)
{
  memset(out, 0, sizeof *out);
  size_t frames = (size_t)(seconds * rate);
  int16_t *pcm = malloc(frames * (size_t)channels * sizeof *pcm);
  if (!pcm)
    return -1;
  synth_signal(pcm, frames, channels, rate, tone_hz, 0.5);
  OpusEncCallbacks cb = {synth_write, synth_close};
  OggOpusComments *cm = ope_comments_create();
  int err = 0;
  OggOpusEnc *enc = cm ? ope_encoder_create_callbacks(&cb, out, cm, rate, channels, 0, &err) : NULL;
  int rc = -1;
  if (enc && ope_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate)) == OPE_OK &&
      ope_encoder_ctl(enc, OPUS_SET_SIGNAL(tone_hz > 0 ? OPUS_SIGNAL_MUSIC : OPUS_SIGNAL_VOICE)) ==
          OPE_OK &&
      ope_encoder_write(enc, pcm, (int)frames) == OPE_OK && ope_encoder_drain(enc) == OPE_OK)
    rc = 0;
  if (enc)
    ope_encoder_destroy(enc);
  if (cm)
    ope_comments_destroy(cm);
  free(pcm);
  if (rc != 0) {
    free(out->data);
    memset(out, 0, sizeof *out);
  }
  return rc;
}

#endif
