/* Channel <-> NATS subject: see nats_subject.h. */
#include "nats_subject.h"

#include <stdbool.h>
#include <string.h>

#define SUBJECT_PREFIX TTB_NATS_SUBJECT_PREFIX

int ttb_nats_subject(const char *channel, char *out, size_t cap)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = strlen(SUBJECT_PREFIX);
  if (cap <= o || channel[0] == '\0')
    return -1;
  memcpy(out, SUBJECT_PREFIX, o);
  for (const unsigned char *p = (const unsigned char *)channel; *p; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-';
    if (o + (plain ? 1 : 3) >= cap)
      return -1;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return 0;
}

static int unhex(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int ttb_nats_channel_of(const char *subject, char *out, size_t cap)
{
  size_t pl = strlen(SUBJECT_PREFIX);
  if (strncmp(subject, SUBJECT_PREFIX, pl) != 0 || subject[pl] == '\0' || cap == 0)
    return -1;
  size_t o = 0;
  for (const char *p = subject + pl; *p; p++) {
    int c = (unsigned char)*p;
    if (*p == '%') {
      int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = hi * 16 + lo;
      p += 2;
      if (c == 0)
        return -1;
    } else if (*p == '.' || *p == '*' || *p == '>') {
      return -1; /* not a single token of ours */
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

int64_t ttb_nats_backoff_ms(int attempts, unsigned rnd)
{
  int64_t d = 100;
  for (int i = 1; i < attempts && d < 2000; i++)
    d *= 2;
  if (d > 2000)
    d = 2000;
  return d / 2 + (int64_t)(rnd % (unsigned)(d / 2 + 1));
}
