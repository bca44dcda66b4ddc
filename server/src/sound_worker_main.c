/*
 * ttboost-sound-worker: converts one uploaded sound (sndconv.h) in a process
 * of its own, so that a decoder that crashes or hangs on hostile bytes takes
 * down this process, never the server. The server (usersounds.c) spawns one
 * per upload.
 *
 * stdin: the uploaded file (at most TTB_SNDCONV_MAX_BYTES; more is an error).
 * stdout: "TTBS", then little-endian u32 fields: status (ttb_sndconv_status
 * + 1, so that -1 fits), duration_ms, message length, the message, output
 * length, the Ogg Opus file. Exit status 0 when that was written.
 * Its CPU time is limited (RLIMIT_CPU): a decoder that loops is killed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sndconv.h"

#define CPU_SECONDS 20

static int put(const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = write(1, b, n);
    if (w <= 0)
      return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int put32(uint32_t v)
{
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  return put(b, 4);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  struct rlimit cpu = {CPU_SECONDS, CPU_SECONDS + 1};
  setrlimit(RLIMIT_CPU, &cpu);
  size_t cap = TTB_SNDCONV_MAX_BYTES + 1, len = 0;
  uint8_t *in = malloc(cap);
  if (in == NULL)
    return 1;
  for (;;) {
    ssize_t r = read(0, in + len, cap - len);
    if (r < 0)
      return 1;
    if (r == 0)
      break;
    len += (size_t)r;
    if (len == cap) {
      fprintf(stderr, "ttboost-sound-worker: more than %u bytes\n", TTB_SNDCONV_MAX_BYTES);
      return 1;
    }
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  uint32_t ms = 0;
  char msg[200] = "";
  ttb_sndconv_status st =
      ttb_sndconv(in, len, TTB_SNDCONV_MAX_MS, &out, &out_len, &ms, msg, sizeof msg);
  free(in);
  size_t ml = strlen(msg);
  int rc = put("TTBS", 4) || put32((uint32_t)((int)st + 1)) || put32(ms) || put32((uint32_t)ml) ||
           put(msg, ml) || put32((uint32_t)out_len) || (out_len && put(out, out_len));
  free(out);
  return rc ? 1 : 0;
}
