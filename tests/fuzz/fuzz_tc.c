/*
 * libFuzzer target: what tools/common's ttb_tc reads from a server it does
 * not control: a WebSocket upgrade answer (ttb_tc_ws_response) and JSON
 * lookups (ttb_tc_json_int, ttb_tc_json_str).
 * Properties: the parser never reads past the input; a complete head's
 * length lies within it; an answer cut anywhere before its blank line is
 * "incomplete" (0), never a status; a 101 is only accepted with the right
 * Sec-WebSocket-Accept; the string lookup always NUL-terminates within cap.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttb_tc.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* a copy of exactly size bytes: ASan sees any read past it */
  char *buf = malloc(size ? size : 1);
  if (buf == NULL)
    return 0;
  memcpy(buf, data, size);
  size_t hl = 0;
  char proto[16];
  int st = ttb_tc_ws_response(buf, size, KEY, &hl, proto, sizeof proto);
  if (st != 0 && st != -1) {
    if (st < 100 || st > 999 || hl > size || hl < 4 || memcmp(buf + hl - 4, "\r\n\r\n", 4) != 0)
      abort();
    if (strlen(proto) >= sizeof proto)
      abort();
    /* cut before the blank line: incomplete */
    size_t hl2 = 0;
    if (ttb_tc_ws_response(buf, hl - 1, KEY, &hl2, NULL, 0) != 0 && hl - 1 <= 16384)
      abort();
    if (st == 101) { /* only with the accept of KEY (RFC 6455's example) */
      const char *want = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
      if (memmem(buf, hl, want, strlen(want)) == NULL)
        abort();
    }
  }
  int64_t v;
  (void)ttb_tc_json_int(buf, size, "seq", &v);
  char out[8];
  memset(out, 'x', sizeof out);
  if (ttb_tc_json_str(buf, size, "type", out, sizeof out) && memchr(out, '\0', sizeof out) == NULL)
    abort();
  free(buf);
  return 0;
}
