/*
 * TikTok handles (@username) as a streamer types them: the check shared by
 * ttboost-admin, PUT /me/tiktok and the connector.
 */
#ifndef TTB_SERVER_TIKTOK_HANDLE_H
#define TTB_SERVER_TIKTOK_HANDLE_H

#include <stdbool.h>
#include <stddef.h>

#define TTB_TIKTOK_HANDLE_MAX 32 /* a handle's text without the @, with NUL (TikTok: 2..24) */

/* Checks a handle as a user typed it: surrounding blanks and one leading @
 * are dropped, then 2..24 of [A-Za-z0-9_.], not ending with '.'. Writes it
 * without the @, in lower case (TikTok's handles ignore case), into out.
 * "" (or "@") is valid and means none. false with a message a person can
 * read in err. */
bool ttb_tiktok_handle_parse(const char *in, char out[TTB_TIKTOK_HANDLE_MAX], char *err,
                             size_t errlen);

#endif
