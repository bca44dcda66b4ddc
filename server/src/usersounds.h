/*
 * The streamer's own gift sounds (issue 15): POST, GET and DELETE
 * /me/sounds (Authorization: Bearer <ws_token>).
 *
 * - POST /me/sounds?name=Horn: the body is the file (Content-Type audio/ogg,
 *   audio/opus, audio/wav, audio/x-wav, audio/wave or audio/mpeg; the magic
 *   bytes must say the same: 415 otherwise). At most TTB_SNDCONV_MAX_BYTES
 *   (413: h2o refuses a larger Content-Length before reading, and a chunked
 *   body as it grows), TTB_SNDCONV_MAX_MS of sound (400 naming the length),
 *   TTB_USOUNDS_MAX per license (429), a name of at most 64 bytes of UTF-8
 *   (control characters removed; default "sound"). The file is converted to
 *   mono Ogg Opus (sndconv.h) by a ttboost-sound-worker process of its own
 *   (found beside the server's binary, or TTBOOST_SOUND_WORKER), so that a
 *   decoder crash on hostile bytes ends that process only, waited for on a
 *   thread, never on the loop; at most TTB_USOUNDS_CONVERSIONS at once (503
 *   beyond), then written as
 *   <data dir>/sounds/u-<id>.ogg (temporary file + rename) where <id> is the
 *   row id (store.h). Answer: UserSound {id:"u-12", name, duration_ms, url}.
 * - GET /me/sounds: UserSoundList of the license's sounds.
 * - DELETE /me/sounds {"id":"u-12"}: removes the row and the file; 404 when
 *   the caller's license has no such sound.
 * - GET /sounds/u-<id>.ogg serves the file (app.c registers the directory).
 *
 * Everything here runs on the loop thread but for the conversion threads
 * and the statements (the database thread, dbq.h).
 */
#ifndef TTB_SERVER_USERSOUNDS_H
#define TTB_SERVER_USERSOUNDS_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>

#include "svc.h"

/* The most sounds a license may have; one more is a 429. */
#define TTB_USOUNDS_MAX 64
/* Conversions running at once (the machine's cores are the limit). */
#define TTB_USOUNDS_CONVERSIONS 2

typedef struct ttb_usounds ttb_usounds;

/* Makes <data_dir>/sounds when absent and the conversions' completion pipe
 * (watched on loop). Sound URLs are <public_url>/sounds/u-<id>.ogg. NULL
 * with a message in err. */
ttb_usounds *ttb_usounds_create(ttb_svc *svc, h2o_evloop_t *loop, const char *data_dir,
                                const char *public_url, char *err, size_t errlen);
/* Waits for the conversions running, drops their answers. After
 * ttb_svc_close (whose database callbacks may still reach the requests). */
void ttb_usounds_destroy(ttb_usounds *u);

/* The directory of the sound files (<data_dir>/sounds). */
const char *ttb_usounds_dir(const ttb_usounds *u);

/* Answers req, a request for /me/sounds (other methods: 405). Returns 0
 * (h2o's "handled"); the answer may come later. */
int ttb_usounds_handle(ttb_usounds *u, h2o_req_t *req);

/* "u-<digits>" (1 to 18 digits, no leading zero) -> its row id; false when
 * text is not a user sound's name. */
bool ttb_usounds_parse_id(const char *text, int64_t *id);

/* The file of user sound `sound` ("u-<id>") under data_dir:
 * <data_dir>/sounds/u-<id>.ogg into out; false when sound is not such a
 * name or out is too small. What PUT /me/settings checks exists before
 * resolving a gift override to <public_url>/sounds/u-<id>.ogg. */
bool ttb_usounds_file(const char *data_dir, const char *sound, char *out, size_t cap);

#endif
