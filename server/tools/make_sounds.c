/*
 * make-sounds OUTDIR: synthesises TTBoost's default gift sound pack
 * (docs/protocol/gifts.md) and writes it as OUTDIR/<name>.ogg, Ogg Opus,
 * 48 kHz mono. Every sound is additive synthesis (partials with
 * exponential envelopes), Karplus-Strong plucks or filtered noise from a
 * fixed-seed generator, normalised to a peak of -3 dBFS. The output is
 * deterministic: the same libopus/libopusenc give the same bytes (the Ogg
 * serial number is derived from the name).
 *
 * make-sounds --list prints the names, one a line.
 * Errors are a message on stderr and exit status 1.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* a native build may not get the project's arguments */
#endif
#include <errno.h>
#include <math.h>
#include <opus/opusenc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ttboost/fnv.h"

#define RATE 48000
#define PEAK 0.70794578 /* -3 dBFS */
#define TWO_PI 6.283185307179586
#define PI 3.141592653589793

/* A fixed-seed generator (xorshift32), reset per sound. */
static uint32_t rng_state;
static void rng_seed(uint32_t s) { rng_state = s ? s : 0x9e3779b9u; }
static double rng_unit(void) /* [-1, 1) */
{
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  rng_state = x;
  return (double)x / 2147483648.0 - 1.0;
}

static size_t samples(double seconds) { return (size_t)(seconds * RATE + 0.5); }

/* Adds amp * env(t) * sin(2 pi f t) from start seconds: a linear attack of
 * attack seconds, then exp(-t / decay). */
static void partial(float *buf, size_t n, double start, double f, double amp, double attack,
                    double decay)
{
  size_t s0 = samples(start);
  for (size_t i = s0; i < n; i++) {
    double t = (double)(i - s0) / RATE;
    double env = exp(-t / decay);
    if (attack > 0 && t < attack)
      env *= t / attack;
    if (env < 1e-5 && t > attack)
      break;
    buf[i] += (float)(amp * env * sin(TWO_PI * f * t));
  }
}

/* A struck note: partials at ratio[k] * f with amp[k], decay[k]. */
static void strike(float *buf, size_t n, double start, double f, const double *ratio,
                   const double *amp, const double *decay, size_t k, double gain)
{
  for (size_t i = 0; i < k; i++)
    partial(buf, n, start, f * ratio[i], gain * amp[i], 0.002, decay[i]);
}

/* A Karplus-Strong pluck of f from start. */
static int pluck(float *buf, size_t n, double start, double f, double gain, double damp)
{
  size_t len = (size_t)(RATE / f + 0.5);
  float *line = malloc(len * sizeof *line);
  if (!line)
    return -1;
  for (size_t i = 0; i < len; i++)
    line[i] = (float)rng_unit();
  size_t s0 = samples(start), pos = 0;
  float prev = 0;
  for (size_t i = s0; i < n; i++) {
    float cur = line[pos];
    buf[i] += (float)gain * cur;
    line[pos] = (float)(damp * 0.5 * (cur + prev));
    prev = cur;
    pos = (pos + 1) % len;
  }
  free(line);
  return 0;
}

/* A pitched sweep from f0 to f1 (exponential over sweep seconds) with
 * exp(-t / decay), for pops and drums. */
static void sweep(float *buf, size_t n, double start, double f0, double f1, double sweep_s,
                  double amp, double decay)
{
  size_t s0 = samples(start);
  double phase = 0;
  for (size_t i = s0; i < n; i++) {
    double t = (double)(i - s0) / RATE;
    double f = t < sweep_s ? f0 * pow(f1 / f0, t / sweep_s) : f1;
    double env = exp(-t / decay);
    if (t < 0.001)
      env *= t / 0.001;
    if (env < 1e-5 && t > 0.001)
      break;
    phase += TWO_PI * f / RATE;
    buf[i] += (float)(amp * env * sin(phase));
  }
}

/* A noise burst with exp(-t / decay), low-passed by a one-pole filter. */
static void noise_burst(float *buf, size_t n, double start, double amp, double decay, double lp)
{
  size_t s0 = samples(start);
  double y = 0;
  for (size_t i = s0; i < n; i++) {
    double t = (double)(i - s0) / RATE;
    double env = exp(-t / decay);
    if (env < 1e-5)
      break;
    y += lp * (rng_unit() - y);
    buf[i] += (float)(amp * env * y);
  }
}

/* ---- The sounds ---- */

/* A high tubular chime: the inharmonic modes of a free bar. */
static int make_chime(float *b, size_t n)
{
  static const double r[] = {1.0, 2.756, 5.404, 8.933};
  static const double a[] = {1.0, 0.45, 0.22, 0.1};
  static const double d[] = {0.45, 0.25, 0.12, 0.07};
  strike(b, n, 0.0, 1318.51, r, a, d, 4, 1.0);
  strike(b, n, 0.0, 1321.0, r, a, d, 2, 0.3); /* a slow shimmer */
  return 0;
}

/* A bell: hum, prime, minor third, fifth, nominal... with long decays. */
static int make_bell(float *b, size_t n)
{
  static const double r[] = {0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011, 4.166};
  static const double a[] = {0.5, 1.0, 0.6, 0.35, 0.7, 0.25, 0.2, 0.15, 0.08};
  static const double d[] = {0.9, 0.7, 0.5, 0.4, 0.35, 0.22, 0.2, 0.15, 0.1};
  strike(b, n, 0.0, 523.25, r, a, d, 9, 1.0);
  partial(b, n, 0.0, 523.25 * 1.004, 0.4, 0.002, 0.6); /* beating */
  return 0;
}

/* A game coin: a square-ish B5 blip then a ringing E6. */
static int make_coin(float *b, size_t n)
{
  for (int h = 1; h <= 7; h += 2) {
    size_t end = samples(0.075);
    for (size_t i = 0; i < end && i < n; i++) {
      double t = (double)i / RATE;
      b[i] += (float)(0.5 / h * sin(TWO_PI * 987.77 * h * t));
    }
    partial(b, n, 0.075, 1318.51 * h, 0.5 / h, 0.001, 0.22 / h);
  }
  return 0;
}

/* Sparkle: a cascade of short high pings at fixed-seed pitches. */
static int make_sparkle(float *b, size_t n)
{
  for (int k = 0; k < 16; k++) {
    double t = 0.05 * k + 0.015 * (rng_unit() + 1.0);
    double f = 2600.0 + 1400.0 * (rng_unit() + 1.0);
    double g = 0.9 - 0.04 * k;
    partial(b, n, t, f, g, 0.001, 0.07);
    partial(b, n, t, f * 2.01, g * 0.3, 0.001, 0.04);
  }
  return 0;
}

/* Pop: a fast falling sweep with a click. */
static int make_pop(float *b, size_t n)
{
  sweep(b, n, 0.0, 1400.0, 260.0, 0.045, 1.0, 0.06);
  noise_burst(b, n, 0.0, 0.35, 0.004, 0.6);
  sweep(b, n, 0.11, 1800.0, 420.0, 0.03, 0.45, 0.04); /* a small second pop */
  return 0;
}

/* Harp: a rising C major arpeggio of plucks. */
static int make_harp(float *b, size_t n)
{
  static const double notes[] = {523.25, 659.25, 783.99, 1046.5, 1318.51};
  for (size_t k = 0; k < sizeof notes / sizeof notes[0]; k++)
    if (pluck(b, n, 0.075 * (double)k, notes[k], 0.8, 0.997) != 0)
      return -1;
  return 0;
}

/* Fanfare: a brassy G4 C5 E5 G5 with vibrato on the last note. */
static int make_fanfare(float *b, size_t n)
{
  static const double notes[] = {392.0, 523.25, 659.25, 783.99};
  static const double start[] = {0.0, 0.16, 0.32, 0.48};
  static const double len[] = {0.14, 0.14, 0.14, 0.85};
  for (size_t k = 0; k < 4; k++) {
    size_t s0 = samples(start[k]), s1 = s0 + samples(len[k]);
    double phase = 0;
    for (size_t i = s0; i < s1 && i < n; i++) {
      double t = (double)(i - s0) / RATE;
      double env = t < 0.025 ? t / 0.025 : 1.0;
      double rel = (double)(s1 - i) / RATE;
      if (rel < 0.04)
        env *= rel / 0.04;
      if (k == 3)
        env *= exp(-t / 0.6);
      double vib = k == 3 ? 1.0 + 0.006 * sin(TWO_PI * 5.5 * t) * (t > 0.15) : 1.0;
      phase += TWO_PI * notes[k] * vib / RATE;
      double v = 0;
      for (int h = 1; h <= 8; h++) /* brighter as it gets louder */
        v += sin(h * phase) / (h * (1.0 + 0.3 * (h - 1) * (1.0 - env)));
      b[i] += (float)(0.5 * env * v);
    }
  }
  return 0;
}

/* Drum: two toms and a kick. */
static int make_drum(float *b, size_t n)
{
  sweep(b, n, 0.0, 300.0, 170.0, 0.03, 0.8, 0.12);
  noise_burst(b, n, 0.0, 0.3, 0.02, 0.4);
  sweep(b, n, 0.14, 230.0, 125.0, 0.03, 0.85, 0.14);
  noise_burst(b, n, 0.14, 0.3, 0.02, 0.4);
  sweep(b, n, 0.3, 160.0, 55.0, 0.05, 1.0, 0.22);
  noise_burst(b, n, 0.3, 0.25, 0.015, 0.3);
  return 0;
}

/* Whoosh: noise through a resonant band-pass sweeping up and down. */
static int make_whoosh(float *b, size_t n)
{
  double low = 0, band = 0;
  for (size_t i = 0; i < n; i++) {
    double t = (double)i / RATE, T = (double)n / RATE;
    double x = t / T;
    double fc = 250.0 * pow(16.0, sin(PI * x));
    double f = 2.0 * sin(PI * fc / RATE);
    double q = 0.35;
    double in = rng_unit();
    low += f * band;
    double high = in - low - q * band;
    band += f * high;
    double env = pow(sin(PI * x), 1.5);
    b[i] += (float)(env * band);
  }
  return 0;
}

/* Heart: two soft rising notes with vibrato (E5, B5). */
static int make_heart(float *b, size_t n)
{
  static const double notes[] = {659.25, 987.77};
  for (size_t k = 0; k < 2; k++) {
    size_t s0 = samples(0.22 * (double)k);
    double phase = 0;
    for (size_t i = s0; i < n; i++) {
      double t = (double)(i - s0) / RATE;
      double env = (t < 0.02 ? t / 0.02 : 1.0) * exp(-t / (k ? 0.3 : 0.14));
      if (env < 1e-5 && t > 0.02)
        break;
      phase += TWO_PI * notes[k] * (1.0 + 0.004 * sin(TWO_PI * 6.0 * t)) / RATE;
      b[i] += (float)(env * (sin(phase) + 0.25 * sin(2 * phase) + 0.08 * sin(3 * phase)));
    }
  }
  return 0;
}

/* Default: a plain soft ding (A5). */
static int make_default(float *b, size_t n)
{
  partial(b, n, 0.0, 880.0, 1.0, 0.004, 0.25);
  partial(b, n, 0.0, 1760.0, 0.3, 0.004, 0.12);
  partial(b, n, 0.0, 2640.0, 0.1, 0.004, 0.07);
  return 0;
}

struct sound {
  const char *name;
  double seconds;
  int (*make)(float *buf, size_t n);
};

/* Keep in step with ttb_sound_names in server/tools/meson.build. */
static const struct sound sounds[] = {
    {"chime", 1.2, make_chime},     {"bell", 1.5, make_bell},       {"coin", 0.6, make_coin},
    {"sparkle", 1.1, make_sparkle}, {"pop", 0.4, make_pop},         {"harp", 1.3, make_harp},
    {"fanfare", 1.4, make_fanfare}, {"drum", 0.8, make_drum},       {"whoosh", 0.9, make_whoosh},
    {"heart", 0.9, make_heart},     {"default", 0.7, make_default},
};
#define N_SOUNDS (sizeof sounds / sizeof sounds[0])

static uint32_t name_hash(const char *s) { return ttb_fnv1a32_str(s) & 0x7fffffffu; }

/* Short fades at both ends, DC removal, then the -3 dBFS peak. */
static int finish(float *b, size_t n)
{
  double mean = 0;
  for (size_t i = 0; i < n; i++)
    mean += b[i];
  mean /= (double)n;
  size_t fin = samples(0.002), fout = samples(0.02);
  double peak = 0;
  for (size_t i = 0; i < n; i++) {
    double v = b[i] - mean;
    if (i < fin)
      v *= (double)i / (double)fin;
    if (n - i <= fout)
      v *= (double)(n - 1 - i) / (double)fout;
    b[i] = (float)v;
    if (fabs(v) > peak)
      peak = fabs(v);
  }
  if (!(peak > 1e-6))
    return -1;
  for (size_t i = 0; i < n; i++)
    b[i] = (float)(b[i] * (PEAK / peak));
  return 0;
}

static int encode(const char *path, const char *name, const float *pcm, size_t n)
{
  int err = 0;
  OggOpusComments *c = ope_comments_create();
  if (!c) {
    fprintf(stderr, "make-sounds: out of memory\n");
    return -1;
  }
  if (ope_comments_add(c, "TITLE", name) != OPE_OK ||
      ope_comments_add(c, "ARTIST", "TTBoost default pack") != OPE_OK) {
    fprintf(stderr, "make-sounds: out of memory\n");
    ope_comments_destroy(c);
    return -1;
  }
  OggOpusEnc *enc = ope_encoder_create_file(path, c, RATE, 1, 0, &err);
  if (!enc) {
    fprintf(stderr, "make-sounds: %s: %s\n", path, ope_strerror(err));
    ope_comments_destroy(c);
    return -1;
  }
  if ((err = ope_encoder_ctl(enc, OPE_SET_SERIALNO((int)name_hash(name)))) != OPE_OK ||
      (err = ope_encoder_ctl(enc, OPUS_SET_BITRATE(64000))) != OPE_OK ||
      (err = ope_encoder_ctl(enc, OPUS_SET_COMPLEXITY(10))) != OPE_OK ||
      (err = ope_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_MUSIC))) != OPE_OK ||
      (err = ope_encoder_write_float(enc, pcm, (int)n)) != OPE_OK ||
      (err = ope_encoder_drain(enc)) != OPE_OK) {
    fprintf(stderr, "make-sounds: %s: %s\n", path, ope_strerror(err));
    ope_encoder_destroy(enc);
    ope_comments_destroy(c);
    return -1;
  }
  ope_encoder_destroy(enc);
  ope_comments_destroy(c);
  return 0;
}

static int make_one(const char *outdir, const struct sound *s)
{
  char path[4096], tmp[4096];
  if (snprintf(path, sizeof path, "%s/%s.ogg", outdir, s->name) >= (int)sizeof path ||
      snprintf(tmp, sizeof tmp, "%s/.%s.ogg.tmp", outdir, s->name) >= (int)sizeof tmp) {
    fprintf(stderr, "make-sounds: %s: path too long\n", outdir);
    return -1;
  }
  size_t n = samples(s->seconds);
  float *buf = calloc(n, sizeof *buf);
  if (!buf) {
    fprintf(stderr, "make-sounds: out of memory\n");
    return -1;
  }
  rng_seed(name_hash(s->name));
  if (s->make(buf, n) != 0 || finish(buf, n) != 0) {
    fprintf(stderr, "make-sounds: %s: synthesis failed\n", s->name);
    free(buf);
    return -1;
  }
  int rc = encode(tmp, s->name, buf, n);
  free(buf);
  if (rc != 0) {
    remove(tmp);
    return -1;
  }
  if (rename(tmp, path) != 0) {
    fprintf(stderr, "make-sounds: %s: %s\n", path, strerror(errno));
    remove(tmp);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < N_SOUNDS; i++)
      printf("%s\n", sounds[i].name);
    return 0;
  }
  if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
    fprintf(stderr, "usage: make-sounds OUTDIR | --list\n"
                    "Writes TTBoost's default gift sounds to OUTDIR/<name>.ogg.\n");
    return 1;
  }
  const char *outdir = argv[1];
  if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "make-sounds: %s: %s\n", outdir, strerror(errno));
    return 1;
  }
  struct stat st;
  if (stat(outdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "make-sounds: %s: not a directory\n", outdir);
    return 1;
  }
  for (size_t i = 0; i < N_SOUNDS; i++)
    if (make_one(outdir, &sounds[i]) != 0)
      return 1;
  return 0;
}
