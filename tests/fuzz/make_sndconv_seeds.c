/*
 * Makes the seeds of fuzz-sndconv (tests/fuzz/corpus/fuzz-sndconv): tiny
 * files of each upload format, a 440 Hz tone. Not built by meson; run by
 * hand when the seeds should change:
 *
 *   cc -O2 -o /tmp/mkseeds tests/fuzz/make_sndconv_seeds.c \
 *     $(pkg-config --cflags --libs libopusenc sndfile) -lm
 *   /tmp/mkseeds tests/fuzz/corpus/fuzz-sndconv
 */
#include <math.h>
#include <opus/opusenc.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float tone(size_t i, unsigned rate)
{
  return 0.5f * sinf(6.2831853f * 440.0f * (float)i / (float)rate);
}

static void put16(FILE *f, unsigned v) { fputc(v & 0xff, f), fputc((v >> 8) & 0xff, f); }
static void put32(FILE *f, unsigned v) { put16(f, v & 0xffff), put16(f, v >> 16); }

static void wav(const char *path, unsigned rate, unsigned ch, size_t frames)
{
  FILE *f = fopen(path, "wb");
  unsigned data = (unsigned)(frames * ch * 2);
  fwrite("RIFF", 1, 4, f);
  put32(f, 36 + data);
  fwrite("WAVEfmt ", 1, 8, f);
  put32(f, 16);
  put16(f, 1);
  put16(f, ch);
  put32(f, rate);
  put32(f, rate * ch * 2);
  put16(f, ch * 2);
  put16(f, 16);
  fwrite("data", 1, 4, f);
  put32(f, data);
  for (size_t i = 0; i < frames; i++)
    for (unsigned c = 0; c < ch; c++)
      put16(f, (unsigned)(int)(short)(tone(i, rate) * 32767.0f) & 0xffff);
  fclose(f);
}

static void opus(const char *path, size_t frames)
{
  int e;
  OggOpusComments *c = ope_comments_create();
  OggOpusEnc *enc = ope_encoder_create_file(path, c, 48000, 1, 0, &e);
  if (enc == NULL)
    exit(1);
  ope_encoder_ctl(enc, OPUS_SET_BITRATE(16000));
  float *pcm = malloc(frames * sizeof *pcm);
  for (size_t i = 0; i < frames; i++)
    pcm[i] = tone(i, 48000);
  ope_encoder_write_float(enc, pcm, (int)frames);
  ope_encoder_drain(enc);
  ope_encoder_destroy(enc);
  ope_comments_destroy(c);
  free(pcm);
}

static void mp3(const char *path, unsigned rate, size_t frames)
{
  SF_INFO info = {0};
  info.samplerate = (int)rate;
  info.channels = 1;
  info.format = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  if (sf == NULL)
    exit(1);
  double q = 0.0; /* the lowest bitrate: small seeds */
  sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &q, sizeof q);
  float *pcm = malloc(frames * sizeof *pcm);
  for (size_t i = 0; i < frames; i++)
    pcm[i] = tone(i, rate);
  sf_writef_float(sf, pcm, (sf_count_t)frames);
  sf_close(sf);
  free(pcm);
}

int main(int argc, char **argv)
{
  if (argc != 2)
    return 2;
  char p[512];
  snprintf(p, sizeof p, "%s/mono8k.wav", argv[1]);
  wav(p, 8000, 1, 160);
  snprintf(p, sizeof p, "%s/stereo16k.wav", argv[1]);
  wav(p, 16000, 2, 160);
  snprintf(p, sizeof p, "%s/tone.opus", argv[1]);
  opus(p, 4800);
  snprintf(p, sizeof p, "%s/tone.mp3", argv[1]);
  mp3(p, 8000, 1600);
  return 0;
}
