/*
 * platform/error.h — the error value of the client core's internal layers.
 *
 * Functions of the audio engine, the filter and persistence return TTB_OK (0)
 * or a negative TTB_ERR_* code (ttboost/client.h) and, when the caller passes
 * a non-NULL ttb_error, also write a human-readable English message into it.
 * No allocation: the message lives in the caller's struct.
 */
#ifndef TTB_PLATFORM_ERROR_H
#define TTB_PLATFORM_ERROR_H

#include "ttboost/client.h"

/* An error code and its message; zero-initialise or ttb_error_clear() it. */
typedef struct {
  int code;      /* TTB_OK or a TTB_ERR_* value */
  char msg[192]; /* NUL-terminated message, "" when code is TTB_OK */
} ttb_error;

/* Sets err (if non-NULL) to TTB_OK and an empty message. */
void ttb_error_clear(ttb_error *err);

/* Formats a message (printf-style) into err (if non-NULL), sets err->code
 * and returns code, so callers can write `return ttb__fail(err, ...)`. */
int ttb__fail(ttb_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* TTB_PLATFORM_ERROR_H */
