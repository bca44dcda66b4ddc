/*
 * Inside the store: what store.c (SQLite, and the public API) shares with
 * store_pg.c (PostgreSQL). Not for other modules: they use store.h.
 */
#ifndef TTB_SERVER_STORE_INT_H
#define TTB_SERVER_STORE_INT_H

#include "store.h"

#define TTB_STI_HASH_LEN 32 /* BLAKE2b-256 */
#define TTB_STI_NOTE_MAX 255
#define TTB_STI_SESSION_DAYS 30   /* a login's session when session_days is 0 */
#define TTB_STI_TOUCH_INTERVAL 60 /* last_seen is written at most this often (s) */
#define TTB_STI_REVOKED_KEEP 600  /* an ended session's row is kept this long (s) */

/* Normalises (trim; upper case when up, else lower) and hashes an input key
 * or token; -1 when empty or too long. */
int ttb_sti_hash_input(const char *in, bool up, unsigned char out[TTB_STI_HASH_LEN]);
/* BLAKE2b-256 of an already normalised text. */
void ttb_sti_hash_text(const char *text, unsigned char out[TTB_STI_HASH_LEN]);
/* A new secret: the 4-character prefix and 26 base32 characters (130 random bits). */
void ttb_sti_key_new(char out[TTB_STORE_KEY_MAX], const char *prefix);
/* A random UUID v4 (libsodium's randomness) in lower case. */
void ttb_sti_uuid_v4(char out[TTB_STORE_UUID_MAX]);
/* A license's state at now: revoked before expired. */
ttb_store_status ttb_sti_lic_state(bool revoked, int64_t expires, int64_t now);
/* A decimal row id (1..INT64_MAX); false when text is not one. */
bool ttb_sti_parse_id(const char *text, int64_t *id);

/* The PostgreSQL backend (store_pg.c): the functions of store.h on its own
 * handle; store.c dispatches to them when opened with a postgresql:// URL. */
typedef struct ttb_store_pg ttb_store_pg;

/* True when db names PostgreSQL ("postgresql://" or "postgres://"). */
bool ttb_store_pg_url(const char *db);
/* Connects, takes the migration advisory lock, migrates. The URL's
 * password never appears in err. */
int ttb_pg_open(const char *url, ttb_store_pg **out, char *err, size_t errlen);
void ttb_pg_close(ttb_store_pg *p);
const char *ttb_pg_error(const ttb_store_pg *p);
int ttb_pg_schema_version(const ttb_store_pg *p);
int ttb_pg_license_create(ttb_store_pg *p, int64_t now, uint32_t days, uint32_t max_devices,
                          const char *note, char key[TTB_STORE_KEY_MAX],
                          char user_id[TTB_STORE_UUID_MAX], char *err, size_t errlen);
int ttb_pg_license_list(ttb_store_pg *p, int (*fn)(void *arg, const ttb_license_info *l), void *arg,
                        char *err, size_t errlen);
ttb_store_status ttb_pg_license_revoke(ttb_store_pg *p, const char *key);
ttb_store_status ttb_pg_license_extend(ttb_store_pg *p, const char *key, int64_t now,
                                       uint32_t days);
ttb_store_status ttb_pg_license_set_tiktok(ttb_store_pg *p, const char *key_or_user_id,
                                           const char *handle);
ttb_store_status ttb_pg_user_tiktok(ttb_store_pg *p, const char *user_id,
                                    char handle[TTB_STORE_TIKTOK_MAX]);
ttb_store_status ttb_pg_login(ttb_store_pg *p, const char *key, const char *device_id, int64_t now,
                              uint32_t session_days, char user_id[TTB_STORE_UUID_MAX],
                              char token[TTB_STORE_UUID_MAX]);
ttb_store_status ttb_pg_session_id(ttb_store_pg *p, const char *token, int64_t now,
                                   char user_id[TTB_STORE_UUID_MAX], int64_t *session_id);
ttb_store_status ttb_pg_session_revoke(ttb_store_pg *p, const char *token_or_id, int64_t now);
int ttb_pg_session_list(ttb_store_pg *p, const char *user_id,
                        int (*fn)(void *arg, const ttb_session_info *si), void *arg, char *err,
                        size_t errlen);
int ttb_pg_sessions_revoked_since(ttb_store_pg *p, int64_t since,
                                  void (*fn)(void *arg, int64_t session_id), void *arg);
ttb_store_status ttb_pg_ingest_token_create(ttb_store_pg *p, const char *user_id, const char *note,
                                            int64_t now, char token[TTB_STORE_KEY_MAX],
                                            int64_t *id);
ttb_store_status ttb_pg_ingest_token_channel(ttb_store_pg *p, const char *token,
                                             char channel[TTB_STORE_UUID_MAX]);
int ttb_pg_ingest_token_list(ttb_store_pg *p, int (*fn)(void *arg, const ttb_ingest_token_info *t),
                             void *arg, char *err, size_t errlen);
ttb_store_status ttb_pg_ingest_token_revoke(ttb_store_pg *p, const char *token_or_id, int64_t now);
ttb_store_status ttb_pg_overlay_token_create(ttb_store_pg *p, const char *user_id, const char *note,
                                             int64_t now, char token[TTB_STORE_KEY_MAX],
                                             int64_t *id, char hint[12]);
ttb_store_status ttb_pg_overlay_token_channel(ttb_store_pg *p, const char *token,
                                              char channel[TTB_STORE_UUID_MAX], int64_t *id);
int ttb_pg_overlay_token_list(ttb_store_pg *p, const char *user_id,
                              int (*fn)(void *arg, const ttb_overlay_token_info *t), void *arg,
                              char *err, size_t errlen);
ttb_store_status ttb_pg_overlay_token_revoke(ttb_store_pg *p, const char *user_id, int64_t id,
                                             int64_t now);
ttb_store_status ttb_pg_user_license(ttb_store_pg *p, const char *user_id, int64_t now);
int ttb_pg_set_busy_timeout(ttb_store_pg *p, int ms);
int64_t ttb_pg_data_version(ttb_store_pg *p);
ttb_store_status ttb_pg_settings_put(ttb_store_pg *p, const char *user_id, const uint8_t *doc,
                                     size_t len, int64_t updated_ms);
ttb_store_status ttb_pg_settings_get(ttb_store_pg *p, const char *user_id, uint8_t **doc,
                                     size_t *len, int64_t *updated_ms);
int ttb_pg_settings_list(ttb_store_pg *p,
                         int (*fn)(void *arg, const char *user_id, const uint8_t *doc, size_t len,
                                   int64_t updated_ms),
                         void *arg, char *err, size_t errlen);

ttb_store_status ttb_pg_user_sound_add(ttb_store_pg *p, const char *user_id, const char *name,
                                       uint32_t duration_ms, int64_t now, uint32_t max, int64_t *id,
                                       bool *full);
int ttb_pg_user_sound_list(ttb_store_pg *p, const char *user_id,
                           int (*fn)(void *arg, const ttb_user_sound_info *u), void *arg, char *err,
                           size_t errlen);
ttb_store_status ttb_pg_user_sound_delete(ttb_store_pg *p, const char *user_id, int64_t id);
ttb_store_status ttb_pg_user_sound_owned(ttb_store_pg *p, const char *user_id, int64_t id);

#endif
