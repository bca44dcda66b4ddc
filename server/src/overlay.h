/*
 * Overlay tokens: read-only, revocable tokens of one license for the OBS
 * overlay (/overlay/, a browser source on the streamer's PC), so that the
 * license key and the ws_token never go into an OBS scene.
 *
 * - POST, GET and DELETE /me/overlay-tokens (Authorization: Bearer
 *   <ws_token>): make one (shown once, with the overlay's URL), list the
 *   active ones (hints only), revoke one by id.
 * - GET /overlay/ws/{overlay_token}: the channel's socket, as /ws/ gives
 *   it (the same events, ?since= resume), that can change nothing: it only
 *   receives. A revoked token's sockets are closed with 4001 at once (from
 *   ttboost-admin: within about two seconds, by the ended-sessions tick,
 *   which reports it as minus its id).
 *
 * Tokens are random (130 bits), stored only as BLAKE2b hashes (store.h),
 * compared in constant time, never logged. Everything here runs on the
 * loop thread; the statements run on the database thread (dbq.h).
 */
#ifndef TTB_SERVER_OVERLAY_H
#define TTB_SERVER_OVERLAY_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "svc.h"

/* The most active overlay tokens a license may have; one more is a 429. */
#define TTB_OVERLAY_MAX_TOKENS 32

/* Answers req, a request for /me/overlay-tokens (any method: others get a
 * 405). Returns 0 (h2o's "handled"); the answer may come later, when the
 * database thread has answered. */
int ttb_overlay_tokens(ttb_svc *svc, h2o_req_t *req);

/* Looks an overlay token up for a socket: cb runs on the loop with
 * TTB_SVC_OK, the channel's user_id and minus the token's id (what
 * ttb_ws_accept takes as the socket's session, so ttb_ws_close_login(-id)
 * closes it); TTB_SVC_UNKNOWN for an unknown or revoked token (the socket
 * is refused with 4001), the license's state when it is not valid (4003), TTB_SVC_FAILED when the database
 * could not answer. token is copied. */
void ttb_overlay_lookup_async(ttb_svc *svc, const char *token, ttb_svc_session_cb cb, void *arg);

#endif
