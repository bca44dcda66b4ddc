/*
 * The streamer's own sounds (POST /me/sounds): an uploaded file (Ogg Opus,
 * WAV or MP3, untrusted bytes) decoded with Debian's libraries (libopusfile
 * for Ogg Opus, libsndfile for WAV and MP3, the latter through libmpg123),
 * mixed down to mono and encoded to Ogg Opus at 48 kHz with libopusenc
 * (which resamples). No decoder is written here: this file only checks the
 * magic bytes, bounds the work and moves samples between the libraries.
 *
 * Pure functions of their input, no global state: safe on any thread (the
 * server runs them on a thread of their own, usersounds.c) and fuzzed
 * (tests/fuzz/fuzz_sndconv.c).
 */
#ifndef TTB_SERVER_SNDCONV_H
#define TTB_SERVER_SNDCONV_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes an upload may have (2 MiB). */
#define TTB_SNDCONV_MAX_BYTES (2u * 1024u * 1024u)
/* The longest sound, in ms (10 s). */
#define TTB_SNDCONV_MAX_MS 10000u

typedef enum ttb_sndconv_format {
  TTB_SNDCONV_UNKNOWN = 0,
  TTB_SNDCONV_OGG, /* "OggS" */
  TTB_SNDCONV_WAV, /* "RIFF" .... "WAVE" */
  TTB_SNDCONV_MP3, /* "ID3" or an MPEG audio frame sync */
} ttb_sndconv_format;

typedef enum ttb_sndconv_status {
  TTB_SNDCONV_OK = 0,
  TTB_SNDCONV_FORMAT = 1,   /* not one of the formats (magic bytes), or a type it may not be */
  TTB_SNDCONV_INVALID = 2,  /* the library could not decode it, or it holds no sound */
  TTB_SNDCONV_TOO_LONG = 3, /* longer than max_ms; the length (when known) in *duration_ms */
  TTB_SNDCONV_FAILED = -1,  /* no memory, or the encoder failed */
} ttb_sndconv_status;

/* The format the first bytes name (TTB_SNDCONV_UNKNOWN: none of ours). */
ttb_sndconv_format ttb_sndconv_sniff(const uint8_t *data, size_t len);

/* The format a Content-Type names (parameters after ';' ignored, case-
 * insensitive): audio/ogg, audio/opus -> OGG; audio/wav, audio/x-wav,
 * audio/wave, audio/vnd.wave -> WAV; audio/mpeg, audio/mp3 -> MP3. */
ttb_sndconv_format ttb_sndconv_content_type(const char *type, size_t len);

/* Decodes data[0..len) (the format its magic bytes name), checks that it is
 * at most max_ms long, and encodes it as mono Ogg Opus. On TTB_SNDCONV_OK,
 * *out (malloc'd, the caller frees) holds the Ogg Opus file (*out_len bytes)
 * and *duration_ms its length. Otherwise *out is NULL and err says why in
 * words a streamer can act on (*duration_ms is the length found, or 0 when
 * unknown). */
ttb_sndconv_status ttb_sndconv(const uint8_t *data, size_t len, uint32_t max_ms, uint8_t **out,
                               size_t *out_len, uint32_t *duration_ms, char *err, size_t errlen);

#endif
