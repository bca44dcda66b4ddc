/*
 * audio/decode.h — decoded audio clips and the two Opus decoders of the
 * client: whole Ogg Opus files from memory (libopusfile, op_open_memory) and
 * a packet stream of AudioFrame messages (libopus, 48 kHz).
 *
 * A ttb__clip is 48 kHz int16 PCM, mono or interleaved stereo, reference-
 * counted (C11 atomics) so one decoded gift sound can play in several voices
 * and stay cached. A clip of a stream grows while it plays: only the mixer
 * (audio/mixer.h) writes pcm/frames/cap/complete of a clip it was handed,
 * under its lock.
 *
 * Depends on: libopus, libopusfile, platform/error.h. Decoding allocates
 * and is meant for a worker or the network thread, never the audio thread.
 */
#ifndef TTB_AUDIO_DECODE_H
#define TTB_AUDIO_DECODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/error.h"

#define TTB__AUDIO_RATE 48000
/* Longest clip kept (seconds of audio); longer files are cut there. */
#define TTB__CLIP_MAX_SECONDS 180
/* Largest Opus packet duration: 120 ms at 48 kHz. */
#define TTB__OPUS_MAX_FRAMES 5760

typedef struct ttb__clip {
  atomic_int refs;
  uint32_t channels; /* 1 or 2 */
  int16_t *pcm;      /* frames * channels samples, capacity cap frames */
  size_t frames;     /* decoded frames available */
  size_t cap;
  bool complete; /* no more frames will be appended */
} ttb__clip;

/* A new clip with room for cap frames (0 allowed), refs = 1, frames = 0,
 * complete = false. TTB_OK, TTB_ERR_INVALID or TTB_ERR_NOMEM. */
int ttb__clip_create(uint32_t channels, size_t cap, ttb__clip **out);

/* Takes another reference; returns c. */
ttb__clip *ttb__clip_ref(ttb__clip *c);

/* Drops a reference; the last one frees the clip. NULL is a no-op. */
void ttb__clip_unref(ttb__clip *c);

/* Bytes held by the clip. */
size_t ttb__clip_bytes(const ttb__clip *c);

/* Decodes a whole Ogg Opus file held in memory (data is borrowed) into a new
 * complete clip (*out, refs = 1): mono stays mono, stereo and multichannel
 * become stereo; chained links are joined. TTB_OK, TTB_ERR_PROTOCOL (not Ogg
 * Opus, or damaged: err says why), TTB_ERR_NOMEM, TTB_ERR_INVALID. */
int ttb__clip_decode_ogg(const uint8_t *data, size_t len, ttb__clip **out, ttb_error *err);

/* Decoder of one streamed utterance (AudioFrame packets). */
typedef struct ttb__opus_stream ttb__opus_stream;

/* channels 1 or 2; pre_skip: samples at 48 kHz to drop from the start.
 * TTB_OK, TTB_ERR_INVALID or TTB_ERR_NOMEM. */
int ttb__opus_stream_create(uint32_t channels, uint32_t pre_skip, ttb__opus_stream **out,
                            ttb_error *err);
void ttb__opus_stream_destroy(ttb__opus_stream *s);

/* Decodes one packet (packet NULL: conceal one lost 20 ms frame) into pcm
 * (room for cap frames, at least TTB__OPUS_MAX_FRAMES), after pre-skip.
 * Returns the frames written (>= 0) or TTB_ERR_PROTOCOL (bad packet). */
int ttb__opus_stream_decode(ttb__opus_stream *s, const uint8_t *packet, size_t len, int16_t *pcm,
                            size_t cap, ttb_error *err);

uint32_t ttb__opus_stream_channels(const ttb__opus_stream *s);

/* ------------------------------------------------------------ incremental Ogg Opus
 *
 * Decoder of an Ogg Opus file that arrives in pieces (a streamed HTTP body):
 * bytes are fed as they come, in pieces of any size down to one byte, and
 * PCM comes out as soon as a page with a whole audio packet is complete, so
 * playback starts on the first decoded packet, not on the last byte.
 * libogg (ogg_sync / ogg_stream) splits pages and packets; each packet is
 * decoded with a plain libopus decoder at 48 kHz.
 *
 * What it reads: the first logical stream of the data (pages of any other
 * serial are ignored); its OpusHead (version 0.x, mapping family 0: mono or
 * stereo, the output gain applied), OpusTags (skipped, may span pages), then
 * audio packets. The pre-skip is dropped from the start; the last packet is
 * cut to the end granule position of the EOS page. Data after the EOS page
 * (a chained link) is ignored. Garbage before the first page is skipped:
 * without a stream's first page in the first TTB__OGG_SYNC_MAX bytes the
 * data is not Ogg. Limits: TTB__CLIP_MAX_SECONDS of audio; more is
 * an error.
 *
 * Errors (TTB_ERR_PROTOCOL, with err set): not Ogg, not Opus, a bad header,
 * a multichannel mapping (family != 0: use ttb__clip_decode_ogg on the whole
 * file), an undecodable packet, too long. After an error every feed returns
 * the same error. TTB_ERR_NOMEM when libogg or libopus cannot allocate.
 */
#define TTB__OGG_SYNC_MAX (128 * 1024)

typedef struct ttb__ogg_opus ttb__ogg_opus;

/* Receives decoded PCM (48 kHz, `channels` interleaved, frames > 0). Return
 * TTB_OK to go on; any other value stops the feed, which returns it. */
typedef int (*ttb__pcm_fn)(void *user, uint32_t channels, const int16_t *pcm, size_t frames);

int ttb__ogg_opus_create(ttb__ogg_opus **out, ttb_error *err);
void ttb__ogg_opus_destroy(ttb__ogg_opus *d);

/* Feeds len bytes (data borrowed; len 0 is a no-op) and calls pcm_fn for the
 * audio they complete. TTB_OK, TTB_ERR_PROTOCOL/TTB_ERR_NOMEM (see above),
 * or what pcm_fn returned. */
int ttb__ogg_opus_feed(ttb__ogg_opus *d, const uint8_t *data, size_t len, ttb__pcm_fn pcm_fn,
                       void *user, ttb_error *err);

/* Channels of the stream (1 or 2) once its OpusHead was read, else 0. */
uint32_t ttb__ogg_opus_channels(const ttb__ogg_opus *d);

/* Frames of PCM delivered so far. */
uint64_t ttb__ogg_opus_frames(const ttb__ogg_opus *d);

/* True once the EOS page of the stream was read (the file is complete). */
bool ttb__ogg_opus_ended(const ttb__ogg_opus *d);

#endif /* TTB_AUDIO_DECODE_H */
