/*
 * The database off the event loop: a thread of its own with its own store
 * handle (store.h: one handle per thread), jobs queued to it and their
 * completions run back on the loop (a pipe wakes it, as the TTS worker's).
 *
 * What the loop asks most is answered from memory:
 * - every license (state, devices, TikTok handle) is a snapshot, reloaded
 *   when another process (ttboost-admin) committed, seen within a second
 *   (PRAGMA data_version), and after this server's own writes;
 * - a ws_token's session and an ingest token's channel are looked up on
 *   the thread each time (a revocation counts at once), and the answers are
 *   kept, for when the database cannot answer.
 * When the database cannot answer (locked, busy, I/O) the last known state
 * is served: a busy database never turns good events into refusals.
 * Runs on the loop thread only (but for the thread it owns).
 */
#ifndef TTB_SERVER_DBQ_H
#define TTB_SERVER_DBQ_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"

/* The thread's statements wait this long for another connection's lock. */
#define TTB_DBQ_BUSY_MS 1000

typedef struct ttb_dbq ttb_dbq;

/* Takes over `store` (opened and migrated by the caller; from now on used
 * by the database thread only), loads the license snapshot, starts the
 * thread and the loop's once-a-second refresh. NULL with err (the store is
 * then still the caller's). */
ttb_dbq *ttb_dbq_open(ttb_store *store, h2o_evloop_t *loop, ttb_metrics *m, char *err,
                      size_t errlen);
/* Stops the thread, runs the callbacks of unfinished jobs with
 * TTB_STORE_ERROR, closes the store. */
void ttb_dbq_close(ttb_dbq *q);

/* From the snapshot: the state of user_id's license now (TTB_STORE_UNKNOWN
 * when no license has it). */
ttb_store_status ttb_dbq_license(ttb_dbq *q, const char *user_id, int64_t now);
/* From the snapshot: the license's max devices (0: no limit, or no such license). */
uint32_t ttb_dbq_max_devices(ttb_dbq *q, const char *user_id);
/* From the snapshot: the license's TikTok handle into out[32] ("" = none). */
ttb_store_status ttb_dbq_tiktok(ttb_dbq *q, const char *user_id, char out[32]);

/* How many times the snapshot was (re)loaded: it moves when the database
 * changed under this server (another process; with PostgreSQL, a NOTIFY:
 * also the channel settings of any server). */
uint64_t ttb_dbq_generation(const ttb_dbq *q);

/* A ws_token's session: cb runs on the loop once the thread has looked it
 * up (the last known answer when the database failed; TTB_STORE_ERROR when
 * there is none). */
typedef void (*ttb_dbq_session_cb)(void *arg, ttb_store_status st, const char *user_id,
                                   int64_t session_id);
void ttb_dbq_session(ttb_dbq *q, const char *token, ttb_dbq_session_cb cb, void *arg);
/* An ingest token's channel (st TTB_STORE_OK, the channel as user_id), the
 * same way (cached, looked up on the thread, the last known answer). */
void ttb_dbq_ingest_token(ttb_dbq *q, const char *token, ttb_dbq_session_cb cb, void *arg);
/* Forgets what the cache knows of token (its session was ended here). */
void ttb_dbq_forget(ttb_dbq *q, const char *token);

/* Sessions ended (logout, `ttboost-admin session revoke`): calls fn for
 * each id the last look-up found (ended at or after the `since` it was
 * given), evicting them from the cache, and starts the next look-up with
 * this `since`. An id may come twice; fn runs on the loop. -1 on no memory. */
int ttb_dbq_ended(ttb_dbq *q, int64_t since, void (*fn)(void *arg, int64_t session_id), void *arg);

/* Ends the session of this ws_token (logout, a write) on the thread and
 * forgets its cached answer; cb gets TTB_STORE_UNKNOWN when it was not a
 * live session. */
typedef void (*ttb_dbq_done_cb)(void *arg, ttb_store_status st);
void ttb_dbq_logout(ttb_dbq *q, const char *token, ttb_dbq_done_cb cb, void *arg);

/* Login (a write) on the thread; cb runs on the loop with the new token. */
typedef void (*ttb_dbq_login_cb)(void *arg, ttb_store_status st, const char *user_id,
                                 const char *token);
void ttb_dbq_login(ttb_dbq *q, const char *key, const char *device_id, uint32_t session_days,
                   ttb_dbq_login_cb cb, void *arg);

/* Brings the snapshot up to date with the database now (what a user reads
 * back right after ttboost-admin changed it); cb runs on the loop
 * (TTB_STORE_ERROR: the database failed, the snapshot is the last known). */
void ttb_dbq_sync(ttb_dbq *q, ttb_dbq_done_cb cb, void *arg);
/* Sets the license's TikTok handle on the thread; the snapshot has it when
 * cb runs (TTB_STORE_OK). */
void ttb_dbq_tiktok_set(ttb_dbq *q, const char *user_id, const char *handle, ttb_dbq_done_cb cb,
                        void *arg);

/* Runs fn(store, arg) on the thread (a caller's own statements, e.g. the
 * overlay tokens of overlay.c), then cb(arg, what fn returned) on the loop;
 * cb gets TTB_STORE_ERROR without fn having run when the queue is shutting
 * down or out of memory. arg must live until cb. */
void ttb_dbq_call(ttb_dbq *q, ttb_store_status (*fn)(ttb_store *store, void *arg),
                  ttb_dbq_done_cb cb, void *arg);

#endif
