/*
 * The streamer's channel settings (schema/ttboost/v1/settings.proto,
 * ChannelSettings; docs/streamer.md): one document per license, kept in the
 * store (store.h, ttb_store_settings_*), checked on PUT, and applied to the
 * next event from an in-memory cache (events never wait for the database).
 *
 * - GET and PUT /me/settings (Authorization: Bearer <ws_token>):
 *   ttb_settings_http. PUT replaces the whole document; a bad value is a
 *   400 whose message names the field; a body over TTB_SETTINGS_BODY_MAX is
 *   a 413. Both answer the document as stored (updated_ms set).
 * - The cache: every stored document is loaded when the server starts (a
 *   job on the database thread, queued before any request can be), replaced
 *   by this server's PUTs, and reloaded whole when ttb_settings_reload is
 *   called (app.c: when the database says another process changed it; with
 *   PostgreSQL a NOTIFY from a trigger on channel_settings).
 * - The rules: ttb_settings_speech (a pure function: what of a chat is read,
 *   or why it is not), the per-viewer cooldown, the voice per language and
 *   the gift rules (min_diamonds, per-gift sounds).
 *
 * Everything runs on the loop thread.
 */
#ifndef TTB_SERVER_SETTINGS_H
#define TTB_SERVER_SETTINGS_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings_rules.h"
#include "svc.h"
#include "ttboost/v1/settings.pb-c.h"

/* The largest PUT /me/settings body; beyond it is a 413. */
#define TTB_SETTINGS_BODY_MAX (32u * 1024u)
/* Viewers whose cooldown is remembered, over all channels (bounded memory:
 * beyond it the oldest entries of a slot's neighbourhood are forgotten). */
#define TTB_SETTINGS_COOLDOWN_SLOTS 16384

typedef struct ttb_settings ttb_settings;

/* A new cache and endpoint on svc (its database thread, speech engine and
 * sounds); queues the load of every stored document. public_url is the base
 * of sound URLs (copied); data_dir holds the streamer's own sounds
 * (usersounds.h; copied); metrics counts the unspoken chats. NULL on no
 * memory. */
ttb_settings *ttb_settings_new(ttb_svc *svc, const char *public_url, const char *data_dir,
                               ttb_metrics *metrics);
/* Frees it (after the database thread stopped: ttb_svc_close). */
void ttb_settings_free(ttb_settings *s);
/* Reloads every document from the database (another server or process
 * changed them). */
void ttb_settings_reload(ttb_settings *s);

/* Answers req, a request for /me/settings (GET, HEAD or PUT; others: 405).
 * Returns 0; the answer may come later, from the database thread. */
int ttb_settings_http(ttb_settings *s, h2o_req_t *req);

/* A chat of channel: the text to speak, the voice ("" = the server's pick
 * for the text's script, unless voice.voices maps that language), rate and
 * pitch (0 = defaults) and the backlog in seconds of speech
 * (pacing.max_backlog_seconds, 0 = the --tts-backlog count only) under the channel's settings and cooldown at now_ms
 * (a monotonic clock). TTB_SPOKEN, or why not (counted in the metrics). */
ttb_unspoken ttb_settings_chat(ttb_settings *s, const char *channel, bool read_user_default,
                               const char *user, const char *message, uint64_t now_ms, char *text,
                               size_t cap, char voice[33], uint32_t *rate, uint32_t *pitch,
                               uint32_t *backlog_s);

/* An ingested (or connector) gift's value: remembered per channel and gift
 * name (TikTok's values are per gift, not per sender; bounded: the oldest
 * are forgotten), for the gift rules when the event goes out (after a
 * streak). 0 = unknown (not remembered). */
void ttb_settings_gift_value(ttb_settings *s, const char *channel, const char *gift_name,
                             uint32_t diamonds);
/* The sound URL of a gift event of channel into out: "" when the gift is
 * worth fewer than gifts.min_diamonds (a known value), the override's sound
 * (a catalogue sound, or "u-N" when <sounds dir>/u-N.ogg exists), else
 * default_url (copied). */
void ttb_settings_gift_url(ttb_settings *s, const char *channel, const char *gift_name,
                           const char *default_url, char *out, size_t cap);

/* The current document of channel, or NULL (defaults); valid until the
 * next PUT or reload (tests and the adapters only). */
const Ttboost__V1__ChannelSettings *ttb_settings_of(ttb_settings *s, const char *channel);

#endif
