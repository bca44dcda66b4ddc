/*
 * Mono 16-bit PCM to Ogg Opus, as it comes: the speech worker's encoder
 * (tts_worker_main.c; docs/benchmarks.md, "Where a synthesis' time goes").
 *
 * libopus' single-stream encoder (opus_encode), libogg's pages and
 * speexdsp's resampler (the input rate to 24 kHz: the encoder's bandwidth
 * is capped at super-wideband, 12 kHz, so 24 kHz holds all of it). This
 * replaces libopusenc here because libopusenc encodes through libopus'
 * multistream API, which in libopus 1.3 asks the CPU for its features
 * (CPUID) on every 20 ms frame: a trap to the hypervisor on a virtual
 * machine, about a quarter of a synthesis' CPU on the bench machine.
 *
 * Pages: OpusHead and OpusTags first (at create), then one page per audio
 * packet (no muxing delay: a listener can start on the first), the last
 * with end-of-stream and a granule position that trims the padding, so a
 * decoder gives exactly the input's length. Pre-skip covers the encoder's
 * lookahead and the resampler's delay.
 */
#ifndef TTB_SERVER_OPUSOGG_H
#define TTB_SERVER_OPUSOGG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ttb_opusogg ttb_opusogg;

typedef struct ttb_opusogg_cbs {
  /* The next bytes of the Ogg file (one whole page). Non-zero: stop (the
   * call that made the page fails). */
  int (*page)(void *arg, const uint8_t *p, size_t n);
  /* Optional: each Opus audio packet (20 ms; no header packets), before its page. */
  int (*packet)(void *arg, const uint8_t *p, size_t n);
  void *arg;
} ttb_opusogg_cbs;

typedef struct ttb_opusogg_opts {
  int in_rate;          /* the PCM's sample rate, 8000..192000 */
  int32_t bitrate;      /* bits per second, 6000..510000 */
  int complexity;       /* 0..10 */
  const char *encoder;  /* OpusTags ENCODER= (NULL: none) */
  const char *language; /* OpusTags LANGUAGE= (NULL: none) */
} ttb_opusogg_opts;

/* Makes an encoder and writes the two header pages through cb->page.
 * NULL with a message in err (bad options, no memory, a callback refused). */
ttb_opusogg *ttb_opusogg_create(const ttb_opusogg_opts *o, const ttb_opusogg_cbs *cb, char *err,
                                size_t errlen);

/* Encodes n samples: every whole 20 ms frame goes out (packet, then page).
 * 0, or -1 with err (encoder error, a callback refused); after -1 only
 * ttb_opusogg_destroy is of use. */
int ttb_opusogg_write(ttb_opusogg *e, const int16_t *pcm, size_t n, char *err, size_t errlen);

/* Ends the stream: the rest of the input (padded with silence) and the
 * last page (end of stream). 0, or -1 with err. */
int ttb_opusogg_finish(ttb_opusogg *e, char *err, size_t errlen);

/* The stream's pre-skip (48 kHz samples), as OpusHead says. */
uint32_t ttb_opusogg_pre_skip(const ttb_opusogg *e);

/* Frees e (NULL is fine); nothing more is written. */
void ttb_opusogg_destroy(ttb_opusogg *e);

#endif
