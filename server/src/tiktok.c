/* The TikTok LIVE connector: see tiktok.h. (Skeleton: being filled in.) */
#include "tiktok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ttb_tiktok {
  h2o_evloop_t *loop;
  ttb_tiktok_opts opts;
  ttb_tiktok_sink sink;
  ttb_metrics *metrics;
};

const char *ttb_tiktok_state_name(ttb_tiktok_state s)
{
  static const char *const names[TTB_TIKTOK_NSTATES] = {"off",  "waiting", "connecting",
                                                        "live", "ended",   "error"};
  return (unsigned)s < TTB_TIKTOK_NSTATES ? names[s] : "off";
}

void ttb_tiktok_opts_defaults(ttb_tiktok_opts *o)
{
  memset(o, 0, sizeof *o);
  snprintf(o->web, sizeof o->web, "https://www.tiktok.com");
  snprintf(o->ws, sizeof o->ws, "wss://webcast-ws.tiktok.com");
  o->lookup_ms = 30000;
  o->linger_ms = 60000;
  o->heartbeat_ms = 10000;
  o->dead_ms = 60000;
  o->backoff_cap_ms = 30000;
  o->blocked_wait_ms = 2000;
  o->http_timeout_ms = 10000;
}

ttb_tiktok *ttb_tiktok_create(h2o_evloop_t *loop, const ttb_tiktok_opts *o,
                              const ttb_tiktok_sink *sink, ttb_metrics *metrics, char *err,
                              size_t errlen)
{
  ttb_tiktok *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->loop = loop;
  t->opts = *o;
  t->sink = *sink;
  t->metrics = metrics;
  return t;
}

void ttb_tiktok_destroy(ttb_tiktok *t)
{
  free(t);
}

void ttb_tiktok_set_user(ttb_tiktok *t, const char *channel, const char *username)
{
  (void)t;
  (void)channel;
  (void)username;
}

void ttb_tiktok_set_devices(ttb_tiktok *t, const char *channel, size_t sockets)
{
  (void)t;
  (void)channel;
  (void)sockets;
}

void ttb_tiktok_status_of(const ttb_tiktok *t, const char *channel, ttb_tiktok_status *out)
{
  (void)t;
  (void)channel;
  memset(out, 0, sizeof *out);
  out->state = TTB_TIKTOK_OFF;
}
