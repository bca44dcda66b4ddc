/*
 * Text to speech: espeak-ng speech encoded as Ogg Opus (libopusenc),
 * content-addressed files in a cache directory with a size cap and LRU
 * eviction.
 *
 * espeak-ng is not thread-safe, so one worker thread owns it; requests go
 * through a bounded queue and never block the caller. Completions are
 * signalled on a pipe (ttb_tts_fd) that the event loop watches; the loop
 * thread then calls ttb_tts_dispatch, which runs each request's callback.
 *
 * A file's id is the hex BLAKE2b-128 of "voice\n" + text (after cleaning),
 * so the same text and voice give the same URL; a request whose file
 * exists is a cache hit and completes without synthesis (still through
 * the callback, never re-entrantly).
 */
#ifndef TTB_SERVER_TTS_H
#define TTB_SERVER_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttb_tts ttb_tts;

typedef struct ttb_tts_config {
  const char *cache_dir;    /* created when absent */
  size_t cache_max_bytes;   /* LRU eviction above this (0 = no cap) */
  size_t queue_max;         /* requests waiting; beyond, ttb_tts_submit says busy */
  size_t max_text_bytes;    /* longer text is cut at a UTF-8 boundary */
  uint32_t bitrate;         /* Opus bits/s, e.g. 32000 */
} ttb_tts_config;

/* What a completed request reports. id and path are NULL when synthesis
 * failed, and then error says why (NULL on success). hit tells whether the
 * file was already there. seconds is the synthesis time (0 for a hit).
 * The strings are valid only during the callback. Requests coalesced with
 * one for the same id share its result. */
typedef struct ttb_tts_result {
  const char *id;
  const char *path;
  bool hit;
  double seconds;
  const char *error; /* addition: the failure's message */
} ttb_tts_result;
typedef void (*ttb_tts_cb)(void *arg, const ttb_tts_result *r);

/* Starts the worker. NULL with a message in err (espeak-ng missing data,
 * cache dir not writable, no memory, another instance running: espeak-ng
 * is process-wide, so only one ttb_tts may live at a time; it is
 * initialised by the first start and kept for later ones, never
 * terminated, because espeak-ng 1.51 hangs terminating a second time). Temp files
 * left in the cache dir by a crash are removed. max_text_bytes 0 = no
 * cut; queue_max must be >= 1; bitrate 6000..510000. */
ttb_tts *ttb_tts_start(const ttb_tts_config *cfg, char *err, size_t errlen);
/* Stops the worker (waits for the current synthesis), runs the callbacks
 * of requests never done with a failed result, frees everything. */
void ttb_tts_stop(ttb_tts *t);

/* The read end of the completion pipe, for the event loop. */
int ttb_tts_fd(const ttb_tts *t);
/* Runs the callbacks of completed requests (loop thread). */
void ttb_tts_dispatch(ttb_tts *t);

/* Queues text in voice (NULL or "" = by the text's script: Cyrillic with
 * Kazakh letters -> kk when espeak-ng has it, other Cyrillic -> ru,
 * otherwise en). An explicit voice must be one of en ru kk de fr es it pt
 * uk tr pl that espeak-ng could load at start. Control characters (C0,
 * DEL, C1) and Unicode spaces become spaces, runs collapse, ends are
 * trimmed; invalid UTF-8 is refused. SSML stays off. A request for an id
 * already queued or being made joins it (one synthesis, both callbacks).
 * 0 queued; 1 the queue is full (busy); -1 invalid (empty after cleaning,
 * unknown voice) with a message in err. */
int ttb_tts_submit(ttb_tts *t, const char *text, const char *voice, ttb_tts_cb cb, void *arg,
                   char *err, size_t errlen);

/* The voice that ttb_tts_submit would pick for text. */
const char *ttb_tts_voice_for(const char *text);

/* The cache directory. */
const char *ttb_tts_dir(const ttb_tts *t);

#endif
