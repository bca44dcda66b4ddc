/* See common.h. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttboost/v1/events.pbc-json.h"

const char *ttb_sm_kind(const Ttboost__V1__ServerMessage *m)
{
  switch (m->payload_case) {
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT:
    return "chat";
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT:
    return "gift";
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO:
    return "audio";
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_HELLO:
    return "hello";
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_ERROR:
    return "error";
  case TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_PONG:
    return "pong";
  default:
    return "none";
  }
}

const char *ttb_ingest_kind(const Ttboost__V1__IngestEvent *e)
{
  switch (e->event_case) {
  case TTBOOST__V1__INGEST_EVENT__EVENT_CHAT:
    return "chat";
  case TTBOOST__V1__INGEST_EVENT__EVENT_GIFT:
    return "gift";
  default:
    return "none";
  }
}

const char *ttb_direction_name(Ttboost__V1__Direction d)
{
  switch (d) {
  case TTBOOST__V1__DIRECTION__DIRECTION_INGEST:
    return "ingest";
  case TTBOOST__V1__DIRECTION__DIRECTION_SERVER_TO_CLIENT:
    return "server";
  case TTBOOST__V1__DIRECTION__DIRECTION_CLIENT_TO_SERVER:
    return "client";
  case TTBOOST__V1__DIRECTION__DIRECTION_TIKTOK:
    return "tiktok";
  default:
    return "unspecified";
  }
}

Ttboost__V1__ServerMessage *ttb_sm_decode(int opcode, const uint8_t *data, size_t len,
                                          bool *unknown, char *err, size_t errlen)
{
  *unknown = false;
  if (opcode == 1) {
    ttb_json_error je = {0};
    Ttboost__V1__ServerMessage *m =
        ttb_pbc_ttboost_v1_ServerMessage_from_json((const char *)data, len, NULL, &je);
    if (m == NULL) {
      *unknown = je.status == TTB_JSON_UNKNOWN_TYPE;
      snprintf(err, errlen, "not a ServerMessage: %s", je.msg);
    }
    return m;
  }
  Ttboost__V1__ServerMessage *m = ttboost__v1__server_message__unpack(NULL, len, data);
  if (m == NULL) {
    snprintf(err, errlen, "a binary frame of %zu bytes is not a ServerMessage", len);
    return NULL;
  }
  if (!ttb_pbc_ttboost_v1_ServerMessage_validate(m, err, errlen)) {
    ttboost__v1__server_message__free_unpacked(m, NULL);
    return NULL;
  }
  return m;
}

uint64_t ttb_mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void ttb_sleep_us(uint64_t us)
{
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
  nanosleep(&ts, NULL);
}

bool ttb_parse_double(const char *s, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v <= 0)
    return false;
  *out = v;
  return true;
}

bool ttb_parse_u64(const char *s, uint64_t *out)
{
  if (*s < '0' || *s > '9')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

void ttb_set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int ttb_pace_opt(ttb_pace *p, int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  if (strcmp(a, "--max") == 0) {
    p->max = true;
    return 1;
  }
  if (strcmp(a, "--speed") != 0 || *i + 1 >= argc)
    return 0;
  const char *v = argv[++*i];
  if (!ttb_parse_double(v, &p->speed) || p->speed < 0.001 || p->speed > 1e6) {
    fprintf(stderr, "ttb-replay: --speed: expected a number from 0.001 to 1000000, got '%s'\n", v);
    return -1;
  }
  p->speed_set = true;
  return 1;
}

int ttb_pace_check(const ttb_pace *p)
{
  if (p->max && p->speed_set) {
    fprintf(stderr, "ttb-replay: --speed and --max exclude each other\n");
    return -1;
  }
  return 0;
}
