/*
 * ttb_sink.h — the platform audio sink of the TTBoost app (one per process).
 *
 * A sink opens the platform's output stream (AAudio on Android, AudioQueue on
 * iOS) as 16-bit interleaved PCM and, on the platform's own audio thread,
 * pulls the mixed audio of the core with ttb_client_render(). It is the only
 * native code the app adds to libttboost-client; the app calls it through
 * dart:ffi (and Swift calls pause/resume on audio-session interruptions).
 *
 * The same header, with the same prototypes, exists for each platform
 * (platform/android/ttb_sink.h, platform/ios/ttb_sink.h); the app's FFI
 * check compares both with lib/ffi/sink_bindings.dart.
 *
 * Thread rules: these functions may be called from any thread except the
 * audio thread itself; they serialise on one process-wide lock.
 */
#ifndef TTBOOST_SINK_H
#define TTBOOST_SINK_H

#include "ttboost/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the default output at sample_rate/channels (must equal the client's
 * configuration) and starts pulling ttb_client_render(c). If a sink is
 * already running it is stopped first. The client is borrowed: keep it alive
 * until ttb_sink_stop(). TTB_OK, TTB_ERR_INVALID (NULL c, bad format) or
 * TTB_ERR_IO (the platform refused the stream). */
TTB_EXPORT int ttb_sink_start(ttb_client *c, uint32_t sample_rate, uint32_t channels);

/* Stops and closes the output; when it returns the audio thread no longer
 * touches the client, so ttb_client_destroy() is then safe. No-op if stopped. */
TTB_EXPORT void ttb_sink_stop(void);

/* Pauses output (audio-session interruption began, e.g. a phone call); the
 * client keeps running. TTB_OK, or TTB_ERR_STATE when no sink is open. */
TTB_EXPORT int ttb_sink_pause(void);

/* Resumes after ttb_sink_pause() or an interruption/route change; reopens
 * the stream when the platform invalidated it. TTB_OK, TTB_ERR_STATE (no
 * sink) or TTB_ERR_IO (the platform refused to restart). */
TTB_EXPORT int ttb_sink_resume(void);

/* True while a sink is open and not paused. */
TTB_EXPORT bool ttb_sink_is_running(void);

/* The client the open sink pulls from, or NULL. The native client outlives a
 * restarted UI engine (the foreground service keeps the process), so a new
 * Dart isolate adopts this handle instead of creating a second client. */
TTB_EXPORT ttb_client *ttb_sink_client(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TTBOOST_SINK_H */
