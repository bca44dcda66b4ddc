/*
 * reply.h: the server's HTTP answers, one way for every endpoint (app.c,
 * overlay.c, settings.c, usersounds.c): JSON bodies, the
 * {"status":"error","error":…,"message":…} errors of the schema's
 * ErrorResponse, and the Bearer token of a request.
 */
#ifndef TTB_REPLY_H
#define TTB_REPLY_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>

/* What the /me endpoints answer without a valid token (401). */
#define TTB_REPLY_UNAUTHORIZED \
  "A valid ws_token is needed: Authorization: Bearer <ws_token> from /auth/login."

/* The reason phrase of an HTTP status ("Internal Server Error" for one not listed). */
const char *ttb_reply_reason(int status);

/* Answers req with status and body[len] of media type `type` (copied by h2o),
 * not to be cached, with its Content-Length (keep-alive). */
void ttb_reply(h2o_req_t *req, int status, const char *type, const char *body, size_t len);

/* Answers req with the JSON js[n] (malloc'd: taken and freed; zeroed first
 * when secret, e.g. a new token's answer). NULL js (an encoder out of
 * memory) answers a 500 error. Returns 0, h2o's "handled". */
int ttb_reply_json(h2o_req_t *req, int status, char *js, size_t n, bool secret);

/* Answers {"status":"error","error":code,"message":message}; message is cut
 * to 511 bytes and replaced when not valid UTF-8 (it may quote client
 * input). Returns 0, h2o's "handled". */
int ttb_reply_error(h2o_req_t *req, int status, const char *code, const char *message);

/* Answers a request whose token did not pass its session check: 503 "busy"
 * when the check itself failed (check_failed: the database did not answer),
 * else 401 "unauthorized" (TTB_REPLY_UNAUTHORIZED). Returns 0, h2o's "handled". */
int ttb_reply_refused(h2o_req_t *req, bool check_failed);

/* The token of req's "Authorization: Bearer <token>" into out[cap]; false
 * when there is none, it is empty or it does not fit. */
bool ttb_reply_bearer(h2o_req_t *req, char *out, size_t cap);

#endif
