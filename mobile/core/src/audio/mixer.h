/*
 * audio/mixer.h — the client's audio engine: one sequential TTS voice, a few
 * parallel gift voices, per-kind volume and on/off, a limiter, resampling to
 * the sink's rate, pulled by the platform audio thread.
 *
 * Voices
 * - TTS: a FIFO of utterances played one after another, never overlapping.
 *   An utterance's slot is reserved when its chat event arrives
 *   (ttb__mixer_tts_reserve), so the order is the chat's order even when
 *   downloads finish out of order; its audio is attached later (a decoded
 *   file, or a stream that grows while it plays). The head of the queue
 *   waits (silently) for its audio.
 *   Drop rule: at most tts_queue_cap utterances wait behind the one playing
 *   (default 8, about a minute of speech). When one more arrives, the OLDEST
 *   WAITING one (not yet started) whose audio is not coming yet (no clip
 *   attached, not claimed by a fetch: its speech was never fetched, so
 *   dropping it costs nothing) is dropped and counted as skipped; when all
 *   waiting ones have audio coming, the oldest waiting one. A listener hears
 *   the newest chat instead of falling ever further behind, and the sentence
 *   being spoken is never cut.
 *   A head whose audio does not come within 30 s (download lost), or a
 *   stream starved for 3 s (lost last frame), is ended (counted skipped
 *   when nothing of it was heard, else played).
 * - Gifts: up to gift_voices_cap (default 4) sounds at once, each starting at
 *   once. One more steals the voice of the OLDEST playing gift (counted
 *   skipped).
 * - On/off and volume per kind apply live: a volume change ramps linearly
 *   over one render block (no click); switching a kind off drops its voices
 *   and waiting utterances (counted skipped) and new ones are skipped.
 *
 * Signal path: voices (48 kHz int16, mono or stereo) are summed into a
 * float stereo bus at 48 kHz with their kind's gain -> resampled to the
 * output rate (audio/resample.h) -> limiter -> int16, mono or stereo.
 * Limiter: look-ahead-free peak limiter on the output: per frame the gain
 * is min(current, T/peak) with T = 0.97 (-0.26 dBFS), i.e. instant attack,
 * so no sample can exceed T (nothing clips, whatever is summed); it
 * releases towards 1 with a 80 ms time constant. Loud overlaps are squeezed
 * rather than distorted; a single voice at normal level never touches it.
 * Idle: silence (zeros) is rendered, cheaply, so an iOS audio session that
 * needs continuous output keeps the app alive.
 *
 * Threads: ttb__mixer_render runs on the audio thread; every other call may
 * come from any thread. All share one mutex, held only for short memory
 * operations (never across I/O or decoding). render never allocates nor
 * frees: finished clips are released by the next non-render call
 * (ttb__mixer_collect runs inside each of them).
 */
#ifndef TTB_AUDIO_MIXER_H
#define TTB_AUDIO_MIXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/decode.h"
#include "platform/error.h"

#define TTB__MIXER_TTS_QUEUE_DEFAULT 8
#define TTB__MIXER_TTS_QUEUE_MAX 64
#define TTB__MIXER_GIFTS_DEFAULT 4
#define TTB__MIXER_GIFTS_MAX 16
/* Limiter threshold (linear, of full scale). */
#define TTB__MIXER_LIMIT 0.97f

typedef enum { TTB__KIND_TTS = 0, TTB__KIND_GIFT = 1 } ttb__kind;

typedef struct {
  uint32_t out_rate;        /* 8000..192000; 0 = 48000 */
  uint32_t out_channels;    /* 1 or 2; 0 = 2 */
  unsigned tts_queue_cap;   /* waiting utterances; 0 = default */
  unsigned gift_voices_cap; /* simultaneous gift sounds; 0 = default */
} ttb__mixer_config;

typedef struct ttb__mixer ttb__mixer;

/* TTB_OK, TTB_ERR_INVALID (bad config) or TTB_ERR_NOMEM; *out NULL on error. */
int ttb__mixer_create(const ttb__mixer_config *cfg, ttb__mixer **out, ttb_error *err);

/* Frees the mixer and drops every clip reference it holds. NULL: no-op. */
void ttb__mixer_destroy(ttb__mixer *m);

/* Sets a kind's switch and volume (0..1, clamped; NaN counts as 0). */
void ttb__mixer_set_kind(ttb__mixer *m, ttb__kind kind, bool enabled, float volume);

/* Reserves the next TTS slot for utterance `id` (e.g. the chat's seq).
 * Returns TTB_OK, or 1 when TTS is off (the utterance is counted skipped
 * and nothing is reserved). May drop the oldest waiting utterance. */
int ttb__mixer_tts_reserve(ttb__mixer *m, uint64_t id);

/* Attaches audio to the reserved utterance `id` (takes a new reference to
 * clip; the caller keeps its own). The clip may be incomplete (a stream,
 * see ttb__mixer_stream_write). Returns TTB_OK, or 1 when `id` is not
 * waiting (dropped, cancelled, TTS off): the clip is then not used. */
int ttb__mixer_tts_attach(ttb__mixer *m, uint64_t id, ttb__clip *clip);

/* Gives up a reserved utterance (download or decode failed): removed and
 * counted skipped. No-op when it is not waiting. */
void ttb__mixer_tts_cancel(ttb__mixer *m, uint64_t id);

/* Marks the reserved utterance `id` as being fetched (the drop rule spares
 * it, see above). TTB_OK, or 1 when it is not waiting for audio (dropped,
 * cancelled, or its audio is attached already). */
int ttb__mixer_tts_claim(ttb__mixer *m, uint64_t id);

/* Where `id` stands in the TTS queue (0 = the head, next to play) while it
 * waits for audio and nobody claimed it; -1 otherwise (not queued, audio
 * attached, or claimed). The client fetches speech only for the first few
 * places, so a chat dropped before it gets there is never downloaded. */
long ttb__mixer_tts_place(ttb__mixer *m, uint64_t id);

/* True while `id` is reserved or playing. */
bool ttb__mixer_tts_pending(ttb__mixer *m, uint64_t id);

/* How much audio, in milliseconds, plays before `id` starts: what is left of
 * the utterances ahead of it in the TTS queue, counting only audio that has
 * arrived (an utterance still waiting for its audio counts 0, a stream
 * what it has so far). 0 when `id` is the head; -1 when it is not queued. */
long ttb__mixer_tts_lead_ms(ttb__mixer *m, uint64_t id);

/* Starts a gift sound now (takes a reference to clip). TTB_OK, or 1 when
 * gifts are off (counted skipped). */
int ttb__mixer_gift_play(ttb__mixer *m, ttb__clip *clip);

/* Appends frames of 48 kHz PCM (clip->channels interleaved) to a clip the
 * mixer may be playing. Grows it when full (allocating outside the lock);
 * beyond TTB__CLIP_MAX_SECONDS the rest is dropped. TTB_OK or
 * TTB_ERR_NOMEM. One writer per clip. */
int ttb__mixer_stream_write(ttb__mixer *m, ttb__clip *clip, const int16_t *pcm, size_t frames);

/* Marks a streamed clip complete: it ends when played to here. */
void ttb__mixer_stream_end(ttb__mixer *m, ttb__clip *clip);

/* Drops every voice and waiting utterance (counted skipped). */
void ttb__mixer_stop_all(ttb__mixer *m);

/* Clips played to the end, and clips skipped (see above). */
void ttb__mixer_counts(ttb__mixer *m, uint64_t *played, uint64_t *skipped);

/* Number of voices playing (TTS + gifts) and utterances waiting. */
size_t ttb__mixer_active(ttb__mixer *m);

/* Releases the clips of finished voices. Any thread but the audio one. */
void ttb__mixer_collect(ttb__mixer *m);

/* Bytes allocated by the mixer itself (buffers, filter table), and by the
 * clips it holds now. */
size_t ttb__mixer_memory(ttb__mixer *m, size_t *clip_bytes);

/* A TTS utterance's first audible sample (|sample| >= TTB__AUDIBLE, about
 * -54 dBFS, before the kind's volume), for measuring chat -> sound. */
#define TTB__AUDIBLE 64
typedef struct {
  uint64_t id;        /* the utterance (the chat's seq) */
  uint64_t out_frame; /* its position in the output: frames rendered since
                         * the mixer was made (at the output rate; within the
                         * resampler's look-ahead, a few ms) */
  int64_t render_ms;  /* monotonic ms (platform clock) at the start of the
                         * render call that mixed it */
} ttb__voice_start;

/* Moves up to max recorded first-audible-sample records (oldest first; the
 * mixer keeps the last 64) into out; returns how many. Any thread. */
size_t ttb__mixer_voice_starts(ttb__mixer *m, ttb__voice_start *out, size_t max);

/* Writes `frames` frames of interleaved int16 at the output rate/channels
 * into pcm; returns frames (0 when m or pcm is NULL). Audio thread. */
size_t ttb__mixer_render(ttb__mixer *m, int16_t *pcm, size_t frames);

#endif /* TTB_AUDIO_MIXER_H */
