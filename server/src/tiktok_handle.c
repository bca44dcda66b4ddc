/* TikTok handles: see tiktok_handle.h. */
#include "tiktok_handle.h"

#include <stdio.h>
#include <string.h>

bool ttb_tiktok_handle_parse(const char *in, char out[TTB_TIKTOK_HANDLE_MAX], char *err,
                             size_t errlen)
{
  out[0] = '\0';
  if (in == NULL)
    return true;
  while (*in == ' ' || *in == '\t')
    in++;
  if (*in == '@')
    in++;
  size_t n = strlen(in);
  while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\r' || in[n - 1] == '\n'))
    n--;
  if (n == 0)
    return true;
  if (n < 2 || n > 24) {
    snprintf(err, errlen, "a TikTok username has 2 to 24 characters (this one has %zu)", n);
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    if (!ok) {
      snprintf(err, errlen,
               "a TikTok username has only letters, digits, '_' and '.' (character %zu is not one)",
               i + 1);
      return false;
    }
    out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  if (in[n - 1] == '.') {
    out[0] = '\0';
    snprintf(err, errlen, "a TikTok username cannot end with '.'");
    return false;
  }
  out[n] = '\0';
  return true;
}
