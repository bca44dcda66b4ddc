/*
 * audio/resample.h — a streaming sample-rate converter for the mixer's bus
 * (interleaved stereo float), e.g. 48 kHz -> 44.1 kHz.
 *
 * Method: band-limited interpolation with a windowed sinc (Kaiser, beta 8.6),
 * 48 taps (24 per side). When the ratio reduces to L = out/gcd(in, out) <=
 * 1024 output phases (every common rate: 44.1 kHz from 48 kHz is 147/160)
 * the filter is an exact polyphase bank of L rows; otherwise a table of 256
 * phases with linear interpolation between neighbouring phases (Smith's
 * bandlimited interpolation). Cutoff at
 * 0.92 x the lower of the two Nyquist frequencies (20.3 kHz for 44.1 kHz
 * output), so downsampling does not alias audibly; every phase is normalised
 * to a DC gain of 1. The step is an exact rational (in_rate/out_rate kept as
 * integer numerator and denominator), so the ratio never drifts. Latency: 24
 * input samples (0.5 ms at 48 kHz). Equal rates bypass the filter entirely.
 *
 * Pull model: ttb__resampler_process asks its source for input frames as it
 * needs them, in blocks of at most max_block frames. Audio is planar stereo
 * (separate left and right arrays), which keeps the dot products contiguous.
 * No allocation after init; not thread-safe (one owner).
 */
#ifndef TTB_AUDIO_RESAMPLE_H
#define TTB_AUDIO_RESAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTB__RS_HALF 24
#define TTB__RS_TAPS (2 * TTB__RS_HALF)
#define TTB__RS_PHASES 256
#define TTB__RS_EXACT_MAX 1024

/* Fills l[0..frames) and r[0..frames) with input. */
typedef void (*ttb__rs_pull)(void *user, float *l, float *r, size_t frames);

typedef struct {
  uint32_t in_rate, out_rate;
  uint32_t step_int, step_num; /* in/out = step_int + step_num/out_rate */
  bool bypass;
  bool mono;          /* both channels equal: only the left one is kept */
  bool exact;         /* polyphase bank of `phases` rows, no interpolation */
  uint32_t phases;    /* rows of table (exact), or TTB__RS_PHASES + 1 */
  uint32_t gcd;       /* frac / gcd is the exact phase */
  float *table;       /* phases x TAPS coefficients */
  float *bufl, *bufr; /* planar input history */
  size_t cap;         /* frames of buf */
  size_t have;        /* frames in buf */
  size_t ipos;        /* index in buf of the sample at or before the output time */
  uint32_t frac;      /* output time = ipos + frac / out_rate */
  size_t max_block;
} ttb__resampler;

/* Prepares rs for in_rate -> out_rate (8000..192000 each) with pulls of at
 * most max_block frames. TTB_OK, TTB_ERR_INVALID or TTB_ERR_NOMEM. Free with
 * ttb__resampler_finish. */
int ttb__resampler_init(ttb__resampler *rs, uint32_t in_rate, uint32_t out_rate, size_t max_block);
void ttb__resampler_finish(ttb__resampler *rs);

/* Writes out_frames frames to outl/outr, pulling input from pull(user). */
void ttb__resampler_process(ttb__resampler *rs, float *outl, float *outr, size_t out_frames,
                            ttb__rs_pull pull, void *user);

/* Mono mode: the source promises left == right (it may then fill only
 * the left array) and only the left channel is filtered; the right output
 * is a copy. Leaving mono mode restores the right history from the left. */
void ttb__resampler_set_mono(ttb__resampler *rs, bool mono);

/* Bytes allocated by rs. */
size_t ttb__resampler_memory(const ttb__resampler *rs);

#endif /* TTB_AUDIO_RESAMPLE_H */
