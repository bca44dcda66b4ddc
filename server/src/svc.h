/*
 * The services behind the HTTP layer, as app.c needs them: licences and
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
  TTB_SVC_UNKNOWN = 1,      /* no such key, token or user */
  TTB_SVC_EXPIRED = 2,
  TTB_SVC_REVOKED = 3,
  TTB_SVC_DEVICE_LIMIT = 4,
  TTB_SVC_BUSY = 5,         /* the TTS queue is full */
  TTB_SVC_FAILED = -1,      /* an internal error (logged) */
} ttb_svc_status;

/* Opens the store in cfg->data_dir, starts the TTS worker (its completions
 * are watched on loop), loads the sounds. NULL with a message in err. */
ttb_svc *ttb_svc_open(const ttb_config *cfg, const char *argv0, h2o_evloop_t *loop, ttb_metrics *m,
                      char *err, size_t errlen);
void ttb_svc_close(ttb_svc *s);

/* Login: on TTB_SVC_OK fills user_id and a new ws_token (both UUIDs). */
ttb_svc_status ttb_svc_login(ttb_svc *s, const char *key, const char *device_id, char user_id[64],
                             char token[64]);
/* A ws_token's user (TTB_SVC_OK), or why not. */
ttb_svc_status ttb_svc_session(ttb_svc *s, const char *token, char user_id[64]);
/* Is the licence of user_id still valid? */
ttb_svc_status ttb_svc_licence(ttb_svc *s, const char *user_id);

/* ttb_svc_session, and the session's id (what a socket remembers so that
 * it is closed when the session ends). */
ttb_svc_status ttb_svc_session_id(ttb_svc *s, const char *token, char user_id[64], int64_t *session_id);
/* Ends the session of this ws_token (POST /auth/logout): TTB_SVC_OK, or
 * TTB_SVC_UNKNOWN when it is not a live session. */
ttb_svc_status ttb_svc_logout(ttb_svc *s, const char *token);
/* Calls fn with the id of every session ended (logout, `ttboost-admin
 * session revoke`) at or after `since` (unix seconds). -1 on an error (logged). */
int ttb_svc_sessions_ended_since(ttb_svc *s, int64_t since, void (*fn)(void *arg, int64_t session_id),
                                 void *arg);
/* The one channel an ingest token may post to (TTB_SVC_OK with channel
 * set), or TTB_SVC_UNKNOWN / TTB_SVC_REVOKED. */
ttb_svc_status ttb_svc_ingest_token(ttb_svc *s, const char *token, char channel[64]);

/* The TikTok handle of user_id's licence into out[32] ("" = none). */
ttb_svc_status ttb_svc_tiktok_get(ttb_svc *s, const char *user_id, char out[32]);
/* Sets it (already checked with tiktok_handle.h; "" clears). */
ttb_svc_status ttb_svc_tiktok_set(ttb_svc *s, const char *user_id, const char *handle);

/* Speech: cb runs later on the loop thread with the file id (NULL when
 * synthesis failed) and the file's path. TTB_SVC_BUSY when the queue is full. */
typedef void (*ttb_svc_tts_cb)(void *arg, const char *id, const char *path);
ttb_svc_status ttb_svc_tts(ttb_svc *s, const char *text, const char *voice, ttb_svc_tts_cb cb,
                           void *arg);

/* The Opus packets of a TTS file, for AudioFrame messages; free with
 * ttb_svc_packets_free. */
int ttb_svc_packets(ttb_svc *s, const char *path, ttb_audio_info *info, ttb_packet **packets,
                    size_t *n);
void ttb_svc_packets_free(ttb_packet *packets, size_t n);

/* The sound (file name without .ogg) for a gift name; the fallback when unmapped. */
const char *ttb_svc_sound(ttb_svc *s, const char *gift_name);

/* The streak rule: feeds one ingested gift; cb runs for each gift event to
 * publish (now or, for a streak, when it ends). */
typedef void (*ttb_svc_gift_cb)(void *arg, const char *channel, const char *user,
                                const char *gift_name, uint32_t count);
void ttb_svc_gift(ttb_svc *s, const char *channel, const char *user, const char *user_id,
                  const char *gift_name, uint64_t gift_id, uint32_t count, uint32_t repeat_count,
                  bool repeat_end, ttb_svc_gift_cb cb, void *arg);
/* Flushes streaks whose end never came; call every second. */
void ttb_svc_tick(ttb_svc *s, ttb_svc_gift_cb cb, void *arg);

/* The open gift streaks, for the journal (streak.h): a generation that moves
 * when they change, a snapshot (malloc'd), and loading one at start. -1 on
 * no memory (or a malformed snapshot). */
uint64_t ttb_svc_streaks_generation(ttb_svc *s);
int ttb_svc_streaks_save(ttb_svc *s, uint8_t **out, size_t *len);
int ttb_svc_streaks_load(ttb_svc *s, const uint8_t *data, size_t len);

const char *ttb_svc_tts_dir(const ttb_svc *s);
const char *ttb_svc_sounds_dir(const ttb_svc *s);

#endif
