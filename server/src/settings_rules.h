/*
 * The channel settings' rules without state (settings.h has the cache and
 * the endpoints): what of a chat is read, and the checks of PUT
 * /me/settings beyond the schema's bounds. Pure functions, no I/O.
 */
#ifndef TTB_SERVER_SETTINGS_RULES_H
#define TTB_SERVER_SETTINGS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttboost/v1/settings.pb-c.h"

/* The longest text the server speaks (svc.c's max_text_bytes): the upper
 * bound of reading.max_chars. */
#define TTB_SETTINGS_TEXT_MAX 600

/* Why a chat is not spoken (it is still sent, with tts_url ""). */
typedef enum ttb_unspoken {
  TTB_SPOKEN = 0,
  TTB_UNSPOKEN_COMMAND,  /* reading.command_prefix set and the chat does not start with it */
  TTB_UNSPOKEN_BANNED,   /* a word of banned_words */
  TTB_UNSPOKEN_COOLDOWN, /* the viewer spoke less than pacing.cooldown_seconds ago */
  TTB_UNSPOKEN_EMPTY,    /* nothing left to read after stripping */
  TTB_UNSPOKEN_COUNT
} ttb_unspoken;

/* The metric label of a reason ("command", "banned", "cooldown", "empty"). */
const char *ttb_unspoken_name(ttb_unspoken why);

/* The text to speak for a chat under settings cs (NULL = the defaults),
 * into out (NUL-terminated, cut to cap): a pure function.
 * read_user_default is the server's --tts-read-user (USERNAME_MODE_DEFAULT).
 * In order: the command prefix (ASCII case-insensitive, after leading
 * spaces; removed with the spaces after it), banned words (whole words or
 * phrases, case-insensitive in ASCII, Latin-1 and Cyrillic), links, emoji
 * and @mentions stripped, max_chars (code points; cut at the last space
 * before the limit, else at a code point), then the template ("{user}" and
 * "{message}" replaced; "" = "{user}: {message}"; the name is left out
 * when user is ""). With the defaults the answer is today's: "user: message"
 * or the message. Returns TTB_SPOKEN, or why not (out is then ""). Never
 * TTB_UNSPOKEN_COOLDOWN (stateful: ttb_settings_cooldown). */
ttb_unspoken ttb_settings_speech(const Ttboost__V1__ChannelSettings *cs, bool read_user_default,
                                 const char *user, const char *message, char *out, size_t cap);

/* What PUT checks beyond the schema's bounds, with the server's knowledge. */
typedef struct ttb_settings_env {
  /* Is voice (e.g. "en", "ru") one the speech workers have? */
  bool (*voice_ok)(void *arg, const char *voice);
  /* Is sound a catalogue sound (a file <sounds dir>/<sound>.ogg)? */
  bool (*sound_ok)(void *arg, const char *sound);
  void *arg;
} ttb_settings_env;

/* Checks a decoded document: true, or false with a message that starts with
 * the field's path (e.g. "reading.text_template: must contain {message}").
 * Trims the banned words in place (they are the caller's heap strings of a
 * free_unpacked message: only shortened). */
bool ttb_settings_check(Ttboost__V1__ChannelSettings *cs, const ttb_settings_env *env, char *err,
                        size_t errlen);

#endif
