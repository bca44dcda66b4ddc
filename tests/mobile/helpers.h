/* tests/mobile/helpers.h — small helpers shared by the client-core tests. */
#ifndef TTB_TESTS_MOBILE_HELPERS_H
#define TTB_TESTS_MOBILE_HELPERS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/decode.h"

#define TEST_PI 3.14159265358979323846

/* A complete mono clip of `frames` samples all equal to v. */
static inline ttb__clip *const_clip(int16_t v, size_t frames)
{
  ttb__clip *c = NULL;
  if (ttb__clip_create(1, frames, &c) != 0)
    abort();
  for (size_t i = 0; i < frames; i++)
    c->pcm[i] = v;
  c->frames = frames;
  c->complete = true;
  return c;
}

/* A complete mono clip of a sine at hz, amplitude amp (of full scale). */
static inline ttb__clip *sine_clip(double hz, double amp, size_t frames)
{
  ttb__clip *c = NULL;
  if (ttb__clip_create(1, frames, &c) != 0)
    abort();
  for (size_t i = 0; i < frames; i++)
    c->pcm[i] = (int16_t)lrint(amp * 32767.0 * sin(2.0 * TEST_PI * hz * (double)i / 48000.0));
  c->frames = frames;
  c->complete = true;
  return c;
}

/* Power of the tone at hz in x[0..n) (Goertzel), normalised by n^2. */
static inline double goertzel(const double *x, size_t n, double hz, double rate)
{
  double w = 2.0 * TEST_PI * hz / rate, cw = 2.0 * cos(w), s1 = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) {
    double s0 = x[i] + cw * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  double p = s1 * s1 + s2 * s2 - cw * s1 * s2;
  return p / ((double)n * (double)n);
}

#endif
