/*
 * The services behind the HTTP layer, as app.c needs them: licenses and
 * sessions (store.c), speech (tts.c), gift sounds (sounds.c) and the streak
 * rule (streak.c). svc.c adapts those modules to this one narrow interface,
 * so the HTTP code does not depend on their details.
 */
#ifndef TTB_SERVER_SVC_H
#define TTB_SERVER_SVC_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "hub.h"
#include "metrics.h"

typedef struct ttb_svc ttb_svc;

typedef enum ttb_svc_status {
  TTB_SVC_OK = 0,
  TTB_SVC_UNKNOWN = 1, /* no such key, token or user */
  TTB_SVC_EXPIRED = 2,
  TTB_SVC_REVOKED = 3,
  TTB_SVC_DEVICE_LIMIT = 4,
  TTB_SVC_BUSY = 5,    /* the TTS queue is full */
  TTB_SVC_FAILED = -1, /* an internal error (logged) */
} ttb_svc_status;

/* Opens the store in cfg->data_dir, starts the TTS worker (its completions
 * are watched on loop), loads the sounds. NULL with a message in err. */
ttb_svc *ttb_svc_open(const ttb_config *cfg, const char *argv0, h2o_evloop_t *loop, ttb_metrics *m,
                      char *err, size_t errlen);
void ttb_svc_close(ttb_svc *s);

/* The database runs on a thread of its own (dbq.h): what needs it answers
 * through a callback run on the loop thread, at once when the answer is in
 * memory. Licenses are always answered from memory. */

/* Login (a write): cb gets user_id and a new ws_token (both UUIDs) on
 * TTB_SVC_OK; TTB_SVC_FAILED when the database could not be written. */
typedef void (*ttb_svc_login_cb)(void *arg, ttb_svc_status st, const char *user_id,
                                 const char *token);
void ttb_svc_login_async(ttb_svc *s, const char *key, const char *device_id, ttb_svc_login_cb cb,
                         void *arg);
/* A ws_token's user and session id (TTB_SVC_OK), or why not; the last known
 * answer when the database is busy, TTB_SVC_FAILED when there is none. */
typedef void (*ttb_svc_session_cb)(void *arg, ttb_svc_status st, const char *user_id,
                                   int64_t session_id);
void ttb_svc_session_async(ttb_svc *s, const char *token, ttb_svc_session_cb cb, void *arg);
/* The database thread (dbq.h), for modules with statements of their own
 * (overlay.c: ttb_dbq_call). Owned by s. */
struct ttb_dbq *ttb_svc_dbq(ttb_svc *s);
/* Forgets the cached answer for token (after its session was ended here). */
void ttb_svc_session_forget(ttb_svc *s, const char *token);
/* What an async call that only succeeds or fails answers. */
typedef void (*ttb_svc_done_cb)(void *arg, ttb_svc_status st);
/* Ends the session of this ws_token (POST /auth/logout): cb gets TTB_SVC_OK,
 * or TTB_SVC_UNKNOWN when it is not a live session. */
void ttb_svc_logout_async(ttb_svc *s, const char *token, ttb_svc_done_cb cb, void *arg);
/* Is the license of user_id valid now? From memory: the licenses as the
 * database held them within the last second or so (the last known state
 * while the database is busy). */
ttb_svc_status ttb_svc_license(ttb_svc *s, const char *user_id);
/* The license's max devices (0: no limit), from memory like ttb_svc_license. */
uint32_t ttb_svc_max_devices(ttb_svc *s, const char *user_id);

/* Calls fn with the id of every session ended (logout, `ttboost-admin
 * session revoke`) found by the previous call's look-up (on the database
 * thread, dbq.h), and starts this one's: at or after `since` (unix
 * seconds). An id may come twice. -1 on no memory. */
int ttb_svc_sessions_ended_since(ttb_svc *s, int64_t since,
                                 void (*fn)(void *arg, int64_t session_id), void *arg);
/* The one channel an ingest token may post to: cb gets TTB_SVC_OK with it,
 * or TTB_SVC_UNKNOWN / TTB_SVC_REVOKED (TTB_SVC_FAILED: the database could
 * not answer and nothing is known of the token). */
typedef void (*ttb_svc_channel_cb)(void *arg, ttb_svc_status st, const char *channel);
void ttb_svc_ingest_token_async(ttb_svc *s, const char *token, ttb_svc_channel_cb cb, void *arg);

/* The TikTok handle of user_id's license into out[32] ("" = none), from memory. */
ttb_svc_status ttb_svc_tiktok_get(ttb_svc *s, const char *user_id, char out[32]);
/* Brings what ttb_svc_license and ttb_svc_tiktok_get answer up to date with
 * the database now; cb runs on the loop (TTB_SVC_FAILED: the last known
 * state stays). */
void ttb_svc_sync_async(ttb_svc *s, ttb_svc_done_cb cb, void *arg);
/* Sets it (already checked with tiktok_handle.h; "" clears); ttb_svc_tiktok_get
 * has it when cb runs with TTB_SVC_OK. */
void ttb_svc_tiktok_set_async(ttb_svc *s, const char *user_id, const char *handle,
                              ttb_svc_done_cb cb, void *arg);

/* The speech engine (tts.h: ids, listeners), watched on the loop. Its
 * syntheses are counted in the metrics as they end. */
struct ttb_tts;
struct ttb_tts *ttb_svc_speech(ttb_svc *s);
/* Copies the speech workers' counters and gauges into the metrics. */
void ttb_svc_tts_metrics(ttb_svc *s);

/* The Opus packets of a cached TTS file, for AudioFrame messages; free with
 * ttb_svc_packets_free. */
int ttb_svc_packets(ttb_svc *s, const char *path, ttb_audio_info *info, ttb_packet **packets,
                    size_t *n);
void ttb_svc_packets_free(ttb_packet *packets, size_t n);

/* The sound (file name without .ogg) for a gift name; the fallback when unmapped. */
const char *ttb_svc_sound(ttb_svc *s, const char *gift_name);

/* Where gift events go: the hub's channels, with sound URLs under
 * public_url (copied). Before any gift. */
void ttb_svc_set_hub(ttb_svc *s, ttb_hub *hub, const char *public_url);
/* The gift stage (ingest -> streak rule -> channel): feeds one ingested
 * gift; each gift event to publish (now or, for a streak, when it ends)
 * goes into its channel (ttb_hub_gift) with its sound's URL. */
void ttb_svc_gift(ttb_svc *s, const char *channel, const char *user, const char *user_id,
                  const char *gift_name, uint64_t gift_id, uint32_t count, uint32_t repeat_count,
                  bool repeat_end);
/* The channel's rule for a gift event's sound URL (settings.h,
 * ttb_settings_gift_url): writes the URL to send into out ("" = no sound)
 * given the catalogue's default_url. */
typedef void (*ttb_svc_gift_url_fn)(void *arg, const char *channel, const char *gift_name,
                                    const char *default_url, char *out, size_t cap);
/* Sets it (NULL: every gift has its catalogue sound). */
void ttb_svc_set_gift_url(ttb_svc *s, ttb_svc_gift_url_fn fn, void *arg);
/* Flushes streaks whose end never came into their channels; call every second. */
void ttb_svc_tick(ttb_svc *s);

/* The open gift streaks, for the journal (streak.h): a generation that moves
 * when they change, a snapshot (malloc'd), and loading one at start. -1 on
 * no memory (or a malformed snapshot). */
uint64_t ttb_svc_streaks_generation(ttb_svc *s);
int ttb_svc_streaks_save(ttb_svc *s, uint8_t **out, size_t *len);
int ttb_svc_streaks_load(ttb_svc *s, const uint8_t *data, size_t len);

const char *ttb_svc_tts_dir(const ttb_svc *s);
const char *ttb_svc_sounds_dir(const ttb_svc *s);

#endif
