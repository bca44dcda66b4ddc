/*
 * persist/persist.h — the client's settings and session token on disk.
 *
 * Two small text files in the client's data dir, each "key=value" lines:
 *   settings.conf  tts_enabled, tts_volume, gifts_enabled, gifts_volume,
 *                  profanity_filter, notifications, auto_start_tts, binary_mode
 *   session.conf   ws_token, user_id, server_url
 * The first line is "# ttboost <kind> v1", the last "crc32=<8 hex digits>" over
 * every byte before it, so a truncated or damaged file is recognised. Files
 * are replaced atomically (platform/platform.h). On load, unknown keys are
 * ignored, missing keys keep their defaults, and a corrupt file (bad
 * checksum, bad value, no checksum line, binary garbage) is reported as
 * TTB_ERR_CORRUPT with a message while *out gets the defaults: never a crash.
 * Volumes are stored with 3 decimals ("0.750"), parsed without the C locale.
 */
#ifndef TTB_PERSIST_H
#define TTB_PERSIST_H

#include <stdbool.h>

#include "platform/error.h"
#include "ttboost/client.h"

/* File names inside the data dir. */
#define TTB_SETTINGS_FILE "settings.conf"
#define TTB_SESSION_FILE "session.conf"
#define TTB_CHANNEL_FILE "channel.conf"

/* Field sizes of ttb_session, including the final NUL. */
#define TTB_SESSION_TOKEN_SIZE 129
#define TTB_SESSION_USER_SIZE 129
#define TTB_SESSION_URL_SIZE 513

/* The stored login: the socket token, the user's id and the server it is for.
 * ws_token and user_id: 1..128 chars of [A-Za-z0-9-_.]; server_url: an
 * "http://" or "https://" URL without spaces or control characters. */
typedef struct {
  char ws_token[TTB_SESSION_TOKEN_SIZE];
  char user_id[TTB_SESSION_USER_SIZE];
  char server_url[TTB_SESSION_URL_SIZE];
} ttb_session;

/* Fills *s with the defaults of ttboost/client.h: TTS and gifts on at volume
 * 1.0, profanity filter, notifications and auto-start on, binary mode off. */
void ttb_settings_defaults(ttb_settings *s);

/* True when s is storable: volumes finite and within 0..1. */
bool ttb_settings_valid(const ttb_settings *s);

/* Loads data_dir/settings.conf into *out. TTB_OK (also when the file does not
 * exist: *out = defaults), TTB_ERR_CORRUPT (*out = defaults, err says why),
 * TTB_ERR_IO (unreadable; *out = defaults) or TTB_ERR_INVALID (NULL). */
int ttb_settings_load(const char *data_dir, ttb_settings *out, ttb_error *err);

/* Validates *s and writes it atomically to data_dir/settings.conf (removing
 * stale temp files first). TTB_OK, TTB_ERR_INVALID (bad values: nothing
 * written) or TTB_ERR_IO. */
int ttb_settings_save(const char *data_dir, const ttb_settings *s, ttb_error *err);

/* Loads data_dir/session.conf into *out. TTB_OK when a valid session is
 * stored; 1 when there is none (*out zeroed); TTB_ERR_CORRUPT (damaged or
 * invalid values: *out zeroed, err says why), TTB_ERR_IO, TTB_ERR_INVALID. */
int ttb_session_load(const char *data_dir, ttb_session *out, ttb_error *err);

/* Validates *s and writes it atomically to data_dir/session.conf.
 * TTB_OK, TTB_ERR_INVALID (a field is empty or malformed) or TTB_ERR_IO. */
int ttb_session_save(const char *data_dir, const ttb_session *s, ttb_error *err);

/* True when s can be a ws token or user id: 1..128 chars of [A-Za-z0-9-_.]. */
bool ttb_session_token_valid(const char *s);

/* Deletes the stored session (logout). TTB_OK also when there was none. */
int ttb_session_clear(const char *data_dir, ttb_error *err);

/* The last copy of the channel settings fetched from the server (the JSON
 * of ttboost.v1.ChannelSettings), for display while offline. channel.conf:
 * the header "# ttboost channel v1", one line "json=<document>" (the
 * generated encoder writes no raw newline) and the crc line.
 *
 * ttb_channel_load: TTB_OK with *json (malloc'd, NUL-terminated, caller
 * frees) and *len; 1 when none is stored (*json NULL); TTB_ERR_CORRUPT
 * (damaged: *json NULL, err says why), TTB_ERR_IO, TTB_ERR_INVALID. The
 * document is not decoded here: the caller checks it with the codec.
 * ttb_channel_save: writes it atomically; TTB_ERR_INVALID when json holds a
 * newline or NUL or is over TTB_CHANNEL_JSON_MAX (client.h), TTB_ERR_IO, TTB_ERR_NOMEM.
 * ttb_channel_clear: deletes it (TTB_OK also when there was none). */
int ttb_channel_load(const char *data_dir, char **json, size_t *len, ttb_error *err);
int ttb_channel_save(const char *data_dir, const char *json, size_t len, ttb_error *err);
int ttb_channel_clear(const char *data_dir, ttb_error *err);

#endif /* TTB_PERSIST_H */
