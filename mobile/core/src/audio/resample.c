/* audio/resample.c — windowed-sinc sample-rate conversion (see resample.h). */
#include "audio/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ttboost/client.h"

#define KAISER_BETA 8.6
#define CUTOFF 0.92

/* Modified Bessel function of the first kind, order 0 (series). */
static double bessel_i0(double x)
{
  double sum = 1.0, term = 1.0, q = x * x / 4.0;
  for (int k = 1; k < 50; k++) {
    term *= q / ((double)k * (double)k);
    sum += term;
    if (term < sum * 1e-12)
      break;
  }
  return sum;
}

static uint32_t gcd_u32(uint32_t a, uint32_t b)
{
  while (b) {
    uint32_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* One row of the filter: the taps for an output time phi (0..1) after the
 * input sample at the row's centre, normalised to a DC gain of 1. */
static void make_row(float *row, double phi, double fc)
{
  const double pi = 3.14159265358979323846;
  double i0b = bessel_i0(KAISER_BETA), sum = 0.0, h[TTB__RS_TAPS];
  for (int k = 0; k < TTB__RS_TAPS; k++) {
    /* tap k weighs input ipos + (k - HALF + 1); its distance to ipos + phi */
    double d = (double)(k - TTB__RS_HALF + 1) - phi;
    double x = 2.0 * fc * d;
    double sinc = fabs(x) < 1e-12 ? 1.0 : sin(pi * x) / (pi * x);
    double r = d / (double)TTB__RS_HALF;
    double w = fabs(r) >= 1.0 ? 0.0 : bessel_i0(KAISER_BETA * sqrt(1.0 - r * r)) / i0b;
    h[k] = 2.0 * fc * sinc * w;
    sum += h[k];
  }
  for (int k = 0; k < TTB__RS_TAPS; k++)
    row[k] = (float)(h[k] / sum);
}

int ttb__resampler_init(ttb__resampler *rs, uint32_t in_rate, uint32_t out_rate, size_t max_block)
{
  if (!rs || in_rate < 8000 || in_rate > 192000 || out_rate < 8000 || out_rate > 192000 ||
      max_block == 0)
    return TTB_ERR_INVALID;
  memset(rs, 0, sizeof *rs);
  rs->in_rate = in_rate;
  rs->out_rate = out_rate;
  rs->max_block = max_block;
  rs->step_int = in_rate / out_rate;
  rs->step_num = in_rate % out_rate;
  rs->bypass = in_rate == out_rate;
  if (rs->bypass)
    return TTB_OK;
  rs->gcd = gcd_u32(in_rate, out_rate);
  uint32_t l = out_rate / rs->gcd;
  rs->exact = l <= TTB__RS_EXACT_MAX;
  rs->phases = rs->exact ? l : TTB__RS_PHASES + 1;
  rs->table = malloc(sizeof(float) * rs->phases * TTB__RS_TAPS);
  rs->cap = 2 * (max_block + TTB__RS_TAPS + 2);
  rs->bufl = calloc(rs->cap, sizeof(float));
  rs->bufr = calloc(rs->cap, sizeof(float));
  if (!rs->table || !rs->bufl || !rs->bufr) {
    ttb__resampler_finish(rs);
    return TTB_ERR_NOMEM;
  }
  /* fc in cycles per input sample. */
  double fc = 0.5 * CUTOFF * (out_rate < in_rate ? (double)out_rate / in_rate : 1.0);
  for (uint32_t p = 0; p < rs->phases; p++) {
    double phi = rs->exact ? (double)p / l : (double)p / TTB__RS_PHASES;
    make_row(rs->table + (size_t)p * TTB__RS_TAPS, phi, fc);
  }
  /* Start with HALF frames of silence so the first output is centred on
     * the first input sample. */
  rs->have = TTB__RS_HALF;
  rs->ipos = TTB__RS_HALF;
  rs->frac = 0;
  return TTB_OK;
}

void ttb__resampler_finish(ttb__resampler *rs)
{
  if (!rs)
    return;
  free(rs->table);
  free(rs->bufl);
  free(rs->bufr);
  rs->table = NULL;
  rs->bufl = rs->bufr = NULL;
}

size_t ttb__resampler_memory(const ttb__resampler *rs)
{
  if (!rs || rs->bypass)
    return 0;
  return sizeof(float) * ((size_t)rs->phases * TTB__RS_TAPS + rs->cap * 2);
}

/* Makes sure the buffers hold the taps of the current output time. */
static void fill(ttb__resampler *rs, ttb__rs_pull pull, void *user)
{
  size_t need = rs->ipos + TTB__RS_HALF + 1; /* frames that must be present */
  while (rs->have < need) {
    size_t first = rs->ipos + 1 - TTB__RS_HALF; /* oldest frame still needed */
    if (first > 0 && rs->have + rs->max_block > rs->cap) {
      size_t keep = rs->have - first;
      memmove(rs->bufl, rs->bufl + first, keep * sizeof(float));
      if (!rs->mono)
        memmove(rs->bufr, rs->bufr + first, keep * sizeof(float));
      rs->have -= first;
      rs->ipos -= first;
      need -= first;
    }
    size_t n = rs->cap - rs->have;
    if (n > rs->max_block)
      n = rs->max_block;
    pull(user, rs->bufl + rs->have, rs->bufr + rs->have, n);
    rs->have += n;
  }
}

/* Dot products of TAPS with 4 partial sums (the compiler maps them onto
 * one vector register without having to reassociate a single sum). */
static inline float dot1(const float *restrict c, const float *restrict x)
{
  float a[4] = {0, 0, 0, 0};
  for (int k = 0; k < TTB__RS_TAPS; k += 4)
    for (int j = 0; j < 4; j++)
      a[j] += c[k + j] * x[k + j];
  return (a[0] + a[1]) + (a[2] + a[3]);
}

static inline void dot2(const float *restrict c, const float *restrict xl, const float *restrict xr,
                        float *l, float *r)
{
  float a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
  for (int k = 0; k < TTB__RS_TAPS; k += 4)
    for (int j = 0; j < 4; j++) {
      a[j] += c[k + j] * xl[k + j];
      b[j] += c[k + j] * xr[k + j];
    }
  *l = (a[0] + a[1]) + (a[2] + a[3]);
  *r = (b[0] + b[1]) + (b[2] + b[3]);
}

void ttb__resampler_set_mono(ttb__resampler *rs, bool mono)
{
  if (rs->mono && !mono && rs->bufr)
    memcpy(rs->bufr, rs->bufl, rs->have * sizeof(float)); /* R was = L */
  rs->mono = mono;
}

void ttb__resampler_process(ttb__resampler *rs, float *outl, float *outr, size_t out_frames,
                            ttb__rs_pull pull, void *user)
{
  if (rs->bypass) {
    while (out_frames > 0) {
      size_t n = out_frames < rs->max_block ? out_frames : rs->max_block;
      pull(user, outl, outr, n);
      if (rs->mono)
        memcpy(outr, outl, n * sizeof(float));
      outl += n;
      outr += n;
      out_frames -= n;
    }
    return;
  }
  const double pscale = (double)TTB__RS_PHASES / (double)rs->out_rate;
  for (size_t o = 0; o < out_frames; o++) {
    fill(rs, pull, user);
    size_t base = rs->ipos + 1 - TTB__RS_HALF;
    if (rs->exact) {
      const float *row = rs->table + (size_t)(rs->frac / rs->gcd) * TTB__RS_TAPS;
      if (rs->mono)
        outl[o] = outr[o] = dot1(row, rs->bufl + base);
      else
        dot2(row, rs->bufl + base, rs->bufr + base, &outl[o], &outr[o]);
    } else {
      double pf = (double)rs->frac * pscale;
      int p = (int)pf;
      float t = (float)(pf - p);
      const float *r0 = rs->table + (size_t)p * TTB__RS_TAPS;
      const float *r1 = r0 + TTB__RS_TAPS;
      float c[TTB__RS_TAPS];
      for (int k = 0; k < TTB__RS_TAPS; k++)
        c[k] = r0[k] + t * (r1[k] - r0[k]);
      if (rs->mono)
        outl[o] = outr[o] = dot1(c, rs->bufl + base);
      else
        dot2(c, rs->bufl + base, rs->bufr + base, &outl[o], &outr[o]);
    }
    rs->ipos += rs->step_int;
    rs->frac += rs->step_num;
    if (rs->frac >= rs->out_rate) {
      rs->frac -= rs->out_rate;
      rs->ipos++;
    }
  }
}
