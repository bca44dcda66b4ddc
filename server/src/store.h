/*
 * The license and session store: SQLite (WAL) in the data dir, file
 * `ttboost.db` (the default), or PostgreSQL (store_pg.c, ttb_store_open_db). License keys and ws_tokens are random, shown once, stored
 * only as BLAKE2b hashes (libsodium crypto_generichash) and looked up by
 * hash; user ids are random UUIDs (v4). Ingest tokens ("TTI-…") likewise.
 * A schema version (PRAGMA user_version) and migrations from version 1 on.
 *
 * One handle per thread: the server uses it from its database thread (dbq.c),
 * ttboost-admin from its own process (WAL lets both run at once).
 * Functions returning int return 0, or -1 with a message in err.
 */
#ifndef TTB_SERVER_STORE_H
#define TTB_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttb_store ttb_store;

typedef enum ttb_store_status {
  TTB_STORE_OK = 0,
  TTB_STORE_UNKNOWN = 1, /* no such key, token or user */
  TTB_STORE_EXPIRED = 2, /* the license (or the session) has expired */
  TTB_STORE_REVOKED = 3,
  TTB_STORE_DEVICE_LIMIT = 4, /* a new device beyond the license's max_devices */
  TTB_STORE_ERROR = -1,       /* the database failed; message in the store's last error */
} ttb_store_status;

#define TTB_STORE_KEY_MAX 64    /* a key's text, with NUL */
#define TTB_STORE_UUID_MAX 40   /* a UUID's text, with NUL */
#define TTB_STORE_TIKTOK_MAX 32 /* a TikTok handle without the @, with NUL (tiktok_handle.h) */

/* Opens (creating when absent) data_dir/ttboost.db, migrates it to the
 * current schema. *out owned by the caller (ttb_store_close). */
int ttb_store_open(const char *data_dir, ttb_store **out, char *err, size_t errlen);
/* Opens the store named by db: NULL or "" = SQLite in data_dir (as
 * ttb_store_open); "postgresql://…" (or "postgres://…", libpq's URL: user,
 * password, host, port, database, ?sslmode=… and the like) = PostgreSQL,
 * the same tables and rules, migrated on open under an advisory lock (several
 * servers may start at once). A lost PostgreSQL connection fails the call
 * it broke (TTB_STORE_ERROR / -1) and is made again on the next call.
 * Messages never repeat the URL (its password). */
int ttb_store_open_db(const char *db, const char *data_dir, ttb_store **out, char *err,
                      size_t errlen);
void ttb_store_close(ttb_store *s);
/* "sqlite" or "postgresql". */
const char *ttb_store_backend(const ttb_store *s);
/* The text of the last TTB_STORE_ERROR. */
const char *ttb_store_error(const ttb_store *s);
/* The schema version the store is at. */
int ttb_store_schema_version(const ttb_store *s);

/* Creates a license: days 0 = never expires, max_devices 0 = no limit.
 * Writes the new key ("TTB-" and 26 base32 characters, 130 random bits)
 * and the license's user_id. The key is not kept anywhere in clear. */
int ttb_store_license_create(ttb_store *s, int64_t now, uint32_t days, uint32_t max_devices,
                             const char *note, char key[TTB_STORE_KEY_MAX],
                             char user_id[TTB_STORE_UUID_MAX], char *err, size_t errlen);

typedef struct ttb_license_info {
  char key_hint[12]; /* "TTB-" and the key's first 4 characters: enough to tell keys apart */
  char user_id[TTB_STORE_UUID_MAX];
  int64_t created; /* unix seconds */
  int64_t expires; /* 0 = never */
  uint32_t max_devices;
  uint32_t devices; /* distinct devices with a session */
  bool revoked;
  char note[256];
  char tiktok[TTB_STORE_TIKTOK_MAX]; /* the TikTok handle, without @; "" = none */
} ttb_license_info;

/* Calls fn for every license, oldest first; fn returning non-zero stops. */
int ttb_store_license_list(ttb_store *s, int (*fn)(void *arg, const ttb_license_info *l), void *arg,
                           char *err, size_t errlen);
/* Revokes the license with this key (its sessions stop working). */
ttb_store_status ttb_store_license_revoke(ttb_store *s, const char *key);
/* Extends by days from max(now, current expiry); a license that never
 * expires stays so. */
ttb_store_status ttb_store_license_extend(ttb_store *s, const char *key, int64_t now,
                                          uint32_t days);

/* Sets the TikTok handle of the license with this key (starting "TTB-") or
 * user_id; handle is already checked (tiktok_handle.h), "" clears it.
 * TTB_STORE_UNKNOWN when no license matches. */
ttb_store_status ttb_store_license_set_tiktok(ttb_store *s, const char *key_or_user_id,
                                              const char *handle);
/* The TikTok handle of user_id's license into handle ("" = none). */
ttb_store_status ttb_store_user_tiktok(ttb_store *s, const char *user_id,
                                       char handle[TTB_STORE_TIKTOK_MAX]);

/* Login: checks the key and the device limit (distinct device ids with a
 * live session; logins without one share the anonymous device ""), creates a session valid for `session_days`,
 * writes user_id and a new ws_token (a UUID v4 from 122 random bits). */
ttb_store_status ttb_store_login(ttb_store *s, const char *key, const char *device_id, int64_t now,
                                 uint32_t session_days, char user_id[TTB_STORE_UUID_MAX],
                                 char token[TTB_STORE_UUID_MAX]);
/* A ws_token's user, when the session and its license are valid; updates
 * the session's last_seen (at most once a minute). */
ttb_store_status ttb_store_session(ttb_store *s, const char *token, int64_t now,
                                   char user_id[TTB_STORE_UUID_MAX]);
/* ttb_store_session, and the session's row id into *session_id (when not
 * NULL): what ws sockets remember to be closed when it is revoked. A
 * logged-out or revoked session is TTB_STORE_UNKNOWN. */
ttb_store_status ttb_store_session_id(ttb_store *s, const char *token, int64_t now,
                                      char user_id[TTB_STORE_UUID_MAX], int64_t *session_id);

/* Ends a session (logout, or `ttboost-admin session revoke`): by its
 * ws_token, or by its row id when token_or_id is a decimal number. Its
 * device no longer counts. TTB_STORE_UNKNOWN when none (or already ended). */
ttb_store_status ttb_store_session_revoke(ttb_store *s, const char *token_or_id, int64_t now);

typedef struct ttb_session_info {
  int64_t id;    /* the row id: what `session revoke` takes */
  char hint[12]; /* the ws_token's first 4 characters ("" for sessions older than v3) */
  char user_id[TTB_STORE_UUID_MAX];
  char device_id[132];
  int64_t created, expires, last_seen; /* unix seconds */
  int64_t revoked;                     /* when it was ended; 0 = not */
} ttb_session_info;

/* Calls fn for every session (of user_id; NULL = all), oldest first,
 * expired and ended ones included; fn returning non-zero stops. */
int ttb_store_session_list(ttb_store *s, const char *user_id,
                           int (*fn)(void *arg, const ttb_session_info *si), void *arg, char *err,
                           size_t errlen);

/* Calls fn with the id of every session ended at or after `since` (unix
 * seconds; rows of ended sessions are kept 10 minutes), and minus the id of
 * every overlay token revoked since then. -1 on an error. */
int ttb_store_sessions_revoked_since(ttb_store *s, int64_t since,
                                     void (*fn)(void *arg, int64_t session_id), void *arg);

/* Creates an ingest token for one channel (the user_id of a license):
 * "TTI-" and 26 base32 characters (130 random bits), kept only as a hash.
 * Writes the token and its row id (id may be NULL). TTB_STORE_UNKNOWN when
 * no license has this user_id. */
ttb_store_status ttb_store_ingest_token_create(ttb_store *s, const char *user_id, const char *note,
                                               int64_t now, char token[TTB_STORE_KEY_MAX],
                                               int64_t *id);

/* The channel an ingest token may post to: TTB_STORE_OK with channel set,
 * TTB_STORE_REVOKED, or TTB_STORE_UNKNOWN. */
ttb_store_status ttb_store_ingest_token_channel(ttb_store *s, const char *token,
                                                char channel[TTB_STORE_UUID_MAX]);

typedef struct ttb_ingest_token_info {
  int64_t id;    /* the row id: what `ingest-token revoke` takes */
  char hint[12]; /* "TTI-" and the token's first 4 characters */
  char channel[TTB_STORE_UUID_MAX];
  int64_t created;
  int64_t revoked; /* 0 = active */
  char note[256];
} ttb_ingest_token_info;

/* Calls fn for every ingest token, oldest first; fn returning non-zero stops. */
int ttb_store_ingest_token_list(ttb_store *s, int (*fn)(void *arg, const ttb_ingest_token_info *t),
                                void *arg, char *err, size_t errlen);

/* Revokes an ingest token, by its text or by its row id (a decimal
 * number). TTB_STORE_UNKNOWN when none (or already revoked). */
ttb_store_status ttb_store_ingest_token_revoke(ttb_store *s, const char *token_or_id, int64_t now);

/* Overlay tokens: read-only tokens of one license for its OBS overlay
 * (/overlay/): "TTO-" and 26 base32 characters (130 random bits), kept only
 * as a hash, revocable. Creates one for user_id's license; writes the token
 * (shown once), its row id and hint ("TTO-" and 4 characters).
 * TTB_STORE_UNKNOWN when no license has this user_id. */
ttb_store_status ttb_store_overlay_token_create(ttb_store *s, const char *user_id, const char *note,
                                                int64_t now, char token[TTB_STORE_KEY_MAX],
                                                int64_t *id, char hint[12]);
/* The channel (user_id) and row id of an overlay token: TTB_STORE_OK,
 * TTB_STORE_REVOKED or TTB_STORE_UNKNOWN (the license's own state is the
 * caller's to check). */
ttb_store_status ttb_store_overlay_token_channel(ttb_store *s, const char *token,
                                                 char channel[TTB_STORE_UUID_MAX], int64_t *id);

typedef struct ttb_overlay_token_info {
  int64_t id;
  char hint[12];
  char channel[TTB_STORE_UUID_MAX];
  int64_t created;
  int64_t revoked; /* 0 = active */
  char note[256];
} ttb_overlay_token_info;

/* Calls fn for every overlay token (of user_id; NULL = all), oldest first,
 * revoked ones included; fn returning non-zero stops. */
int ttb_store_overlay_token_list(ttb_store *s, const char *user_id,
                                 int (*fn)(void *arg, const ttb_overlay_token_info *t), void *arg,
                                 char *err, size_t errlen);
/* Revokes overlay token `id` (of user_id's license; NULL = any license).
 * TTB_STORE_UNKNOWN when there is none such (or it is already revoked).
 * ttb_store_sessions_revoked_since reports it as -id. */
ttb_store_status ttb_store_overlay_token_revoke(ttb_store *s, const char *user_id, int64_t id,
                                                int64_t now);

/* Is the license of user_id valid now? */
ttb_store_status ttb_store_user_license(ttb_store *s, const char *user_id, int64_t now);

/* What a license row means at `now` (the rule of ttb_store_user_license):
 * TTB_STORE_REVOKED, TTB_STORE_EXPIRED or TTB_STORE_OK. */
ttb_store_status ttb_store_license_state(const ttb_license_info *l, int64_t now);
/* How long a statement waits for another connection's lock before it
 * fails (5000 ms unless set; PostgreSQL: lock_timeout, none unless set).
 * -1 on an error. */
int ttb_store_set_busy_timeout(ttb_store *s, int ms);
/* SQLite's PRAGMA data_version: changes when another connection (another
 * process: ttboost-admin) committed; in PostgreSQL a count of the change
 * notifications (NOTIFY from triggers on licenses and sessions, delivered on
 * commit) and reconnections. -1 on an error (a lost connection). */
int64_t ttb_store_data_version(ttb_store *s);

/* Channel settings (GET and PUT /me/settings, settings.h): one document per
 * license, a packed ttboost.v1.ChannelSettings (at most
 * TTB_STORE_SETTINGS_MAX bytes; the store does not look inside), with the
 * unix ms it was last changed. Deleted with its license. */
#define TTB_STORE_SETTINGS_MAX (64u * 1024u)

/* Replaces user_id's document. TTB_STORE_UNKNOWN when no license has this
 * user_id (or the document is too long). */
ttb_store_status ttb_store_settings_put(ttb_store *s, const char *user_id, const uint8_t *doc,
                                        size_t len, int64_t updated_ms);
/* user_id's document into *doc (malloc'd, the caller frees; never NULL on
 * TTB_STORE_OK even when len is 0), *len and *updated_ms.
 * TTB_STORE_UNKNOWN when none was ever put (the defaults). */
ttb_store_status ttb_store_settings_get(ttb_store *s, const char *user_id, uint8_t **doc,
                                        size_t *len, int64_t *updated_ms);
/* Calls fn for every stored document (doc valid during the call only);
 * fn returning non-zero stops. 0, or -1 with a message in err. */
int ttb_store_settings_list(ttb_store *s,
                            int (*fn)(void *arg, const char *user_id, const uint8_t *doc,
                                      size_t len, int64_t updated_ms),
                            void *arg, char *err, size_t errlen);

/* The streamer's own sounds (POST /me/sounds; the files are the server's,
 * usersounds.h): rows of user_sounds, ids never reused. */
#define TTB_STORE_SOUND_NAME_MAX 65 /* a sound's name: 64 bytes of UTF-8, with NUL */

typedef struct ttb_user_sound_info {
  int64_t id; /* the row id: the sound is "u-<id>" */
  char user_id[TTB_STORE_UUID_MAX];
  char name[TTB_STORE_SOUND_NAME_MAX];
  uint32_t duration_ms;
  int64_t created; /* unix seconds */
} ttb_user_sound_info;

/* Adds a sound of user_id's license (name already checked, at most 64
 * bytes) unless it has `max` sounds already (then TTB_STORE_OK with *full
 * set and *id 0). TTB_STORE_OK with the new row id in *id;
 * TTB_STORE_UNKNOWN when no license has this user_id. */
ttb_store_status ttb_store_user_sound_add(ttb_store *s, const char *user_id, const char *name,
                                          uint32_t duration_ms, int64_t now, uint32_t max,
                                          int64_t *id, bool *full);
/* Calls fn for every sound of user_id's license (NULL = all), oldest first;
 * fn returning non-zero stops. -1 on an error. */
int ttb_store_user_sound_list(ttb_store *s, const char *user_id,
                              int (*fn)(void *arg, const ttb_user_sound_info *u), void *arg,
                              char *err, size_t errlen);
/* Deletes sound `id` of user_id's license: TTB_STORE_UNKNOWN when it has
 * none with this id (another license's sound included). */
ttb_store_status ttb_store_user_sound_delete(ttb_store *s, const char *user_id, int64_t id);
/* Does user_id's license own sound `id`? TTB_STORE_OK, TTB_STORE_UNKNOWN
 * (no, or no such sound), TTB_STORE_ERROR. What PUT /me/settings checks a
 * gift override "u-<id>" with. */
ttb_store_status ttb_store_user_sound_owned(ttb_store *s, const char *user_id, int64_t id);

#endif
