/* platform/error.c — ttb_error helpers (see error.h). */
#include "platform/error.h"

#include <stdarg.h>
#include <stdio.h>

void ttb_error_clear(ttb_error *err)
{
  if (err) {
    err->code = TTB_OK;
    err->msg[0] = '\0';
  }
}

int ttb__fail(ttb_error *err, int code, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
  }
  return code;
}
