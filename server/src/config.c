#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ttb_config_defaults(ttb_config *c)
{
  memset(c, 0, sizeof *c);
  snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
  c->port = 8080;
  snprintf(c->data_dir, sizeof c->data_dir, "./var");
  c->history = 256;
  c->journal = true;
  c->journal_sync = true;
  c->ingest_dedup_s = 600;
  c->ingest_dedup_max = 65536;
  c->heartbeat_ms = 10000;
  c->max_queued_msgs = 4096;
  c->ws_flush_us = 0;
  c->max_queued_bytes = 4u << 20;
  c->max_body = 1u << 20;
  c->tts_cache_mb = 256;
  c->tts_read_user = true;
  c->tts_deadline_ms = 10000;
  c->tts_backlog = 16;
  c->login_max_failures = 10;
  c->login_window_s = 300;
  c->tiktok = true;
  snprintf(c->tiktok_web, sizeof c->tiktok_web, "%s", TTB_TIKTOK_WEB_DEFAULT);
  snprintf(c->tiktok_ws, sizeof c->tiktok_ws, "%s", TTB_TIKTOK_WS_DEFAULT);
  c->tiktok_lookup_s = TTB_TIKTOK_LOOKUP_S;
  c->tiktok_linger_s = TTB_TIKTOK_LINGER_S;
  c->tiktok_heartbeat_s = TTB_TIKTOK_HEARTBEAT_S;
  c->tiktok_dead_s = TTB_TIKTOK_DEAD_S;
  c->tiktok_backoff_cap_s = TTB_TIKTOK_BACKOFF_CAP_S;
  c->sockets_per_device = 2;
  c->max_sockets_per_license = 64;
  c->channel_idle_s = 3600;
  snprintf(c->nats_stream, sizeof c->nats_stream, "TTB_EV");
  c->nats_catchup_s = 10;
  c->lease_ttl_s = 10;
  c->tts_burst = 20;
  c->tts_per_min = 60;
}

const char *ttb_config_usage(void)
{
  return "usage: ttboost-server [OPTIONS]\n"
         "\n"
         "Serves TTBoost: login, TTS, gift sounds, the WebSocket, ingest, metrics.\n"
         "Every option can also be a line `key = value` of the --config file.\n"
         "\n"
         "  --config FILE          read settings from FILE first\n"
         "  --listen HOST:PORT     where to listen (default 127.0.0.1:8080; port 0 = any free "
         "port)\n"
         "  --data-dir DIR         licenses, sessions, TTS cache, secrets (default ./var)\n"
         "  --db URL               licenses and sessions in PostgreSQL "
         "(postgresql://USER@HOST/DB;\n"
         "                         a password from ~/.pgpass or PGPASSFILE); default: SQLite in "
         "DIR\n"
         "  --public-url URL       base of the URLs handed to clients (default http://HOST:PORT)\n"
         "  --ingest-secret-file FILE  the operator's ingest secret (any channel) for\n"
         "                         POST /ingest/events; else $TTBOOST_INGEST_SECRET; else\n"
         "                         DIR/ingest_secret (generated on first start, never printed)\n"
         "  --ingest-dedup-s N     an ingest event whose id was seen on its channel within N s\n"
         "                         is acknowledged and dropped (default 600; 0 = off)\n"
         "  --ingest-dedup-max N   event ids remembered per channel (default 65536)\n"
         "  --tls-cert FILE        serve HTTPS and WSS with this certificate (PEM) ...\n"
         "  --tls-key FILE         ... and key\n"
         "  --sounds-dir DIR       the gift sounds (default: the sounds built with the server)\n"
         "  --sounds-map FILE      gift name -> sound lines (default: built-in map)\n"
         "  --trace-ingest FILE    append every accepted ingest event to a trace (tools/replay)\n"
         "  --history N            events kept per channel for resume (default 256)\n"
         "  --journal yes|no       keep seqs, history and accepted events in DIR/events.journal\n"
         "                         so that they survive a restart (default yes)\n"
         "  --journal-sync yes|no  fdatasync every commit before it is acknowledged, so that it\n"
         "                         survives a power cut too (default yes)\n"
         "  --heartbeat-ms N       WebSocket ping interval (default 10000)\n"
         "  --max-queued-msgs N    a socket's outgoing queue bound in messages (default 4096)\n"
         "  --max-queued-bytes N   ... and in bytes (default 4194304)\n"
         "  --ws-flush-us N        while the server is busy, write a socket at most once per N "
         "us,\n"
         "                         its frames meanwhile in one write (default 0 = off; max "
         "100000)\n"
         "  --max-body N           largest HTTP request body (default 1048576)\n"
         "  --tts-cache-mb N       size cap of the TTS cache (default 256)\n"
         "  --tts-read-user yes|no speak the sender's name before the message (default yes)\n"
         "  --tts-workers N        speech worker processes (default 0 = one per core; with\n"
         "                         --tts-remote, 0 = none: this node makes no speech itself)\n"
         "  --tts-remote N         N more speech slots whose jobs are made by the cluster's\n"
         "                         workers over NATS (needs --nats; docs/scaling.md)\n"
         "  --tts-serve N          start N ttboost-tts-worker --nats children serving the\n"
         "                         cluster's speech jobs (needs --nats)\n"
         "  --tts-deadline-ms N    a synthesis running longer is killed, its chat has no audio\n"
         "                         (default 10000)\n"
         "  --tts-backlog N        speech waiting per channel; beyond, the oldest is dropped\n"
         "                         (default 16)\n"
         "  --tts-eager yes|no     make every chat's speech at once, fetched or not (default no:\n"
         "                         only when its URL is fetched or a binary socket streams it)\n"
         "  --login-max-failures N failed logins per address per window before 429 (default 10)\n"
         "  --login-window-s N     that window (default 300)\n"
         "  --tiktok on|off        the TikTok LIVE connector (default on; docs/tiktok.md)\n"
         "  --tiktok-web URL       TikTok's web base: the cookie and the room lookup\n"
         "                         (default https://www.tiktok.com)\n"
         "  --tiktok-ws URL        TikTok's push socket base (default "
         "wss://webcast-ws.tiktok.com)\n"
         "  --tiktok-trace DIR     record every push frame received, a trace per connection\n"
         "  --tiktok-lookup-s N    look a user who is not live up again after N s (default 30)\n"
         "  --tiktok-linger-s N    stay connected N s after a license's last device left (default "
         "60)\n"
         "  --tiktok-heartbeat-s N heartbeat interval on the push socket (default 10)\n"
         "  --tiktok-dead-s N      a push socket silent for N s is dead (default 60)\n"
         "  --tiktok-backoff-cap-s N  reconnect backoff cap (default 30)\n"
         "  --metrics-listen HOST:PORT  serve GET /metrics (only) on this second listener\n"
         "                         (plain HTTP; keep it on loopback). Default: none\n"
         "  --metrics-token-file FILE  serve GET /metrics on the main port to\n"
         "                         Authorization: Bearer <the file's first line>. Default: none\n"
         "                         (with neither option there is no /metrics)\n"
         "  --sockets-per-device N a license's sockets: at most its max devices x N (default 2;\n"
         "                         0 = no such bound); one more is closed with 4029\n"
         "  --max-sockets-per-license N  ... and at most N, device limit or not (default 64; 0 = "
         "none)\n"
         "  --channel-idle-s N     free a channel's history after N s without sockets or events\n"
         "                         (default 3600; its seq goes on, a resume is told what it "
         "missed)\n"
         "  --tts-burst N          POST /tts/generate per ws_token: a bucket of N (default 20) "
         "...\n"
         "  --tts-per-min N        ... refilled with N per minute (default 60); 429 when empty\n"
         "  --nats URL             events between nodes through NATS JetStream (docs/scaling.md);\n"
         "                         default: none (this node alone, with its journal)\n"
         "  --nats-creds FILE      NATS credentials file (JWT and NKey seed)\n"
         "  --nats-tls-ca FILE     TLS to NATS, trusting this CA bundle\n"
         "  --nats-stream NAME     the JetStream stream of events (default TTB_EV)\n"
         "  --nats-catchup-s N     at start, read the stream for up to N s before listening "
         "(default 10)\n"
         "  --lease-ttl-s N        with --nats: one TikTok connector per channel across the "
         "nodes,\n"
         "                         held by a lease with this TTL; taken over within N + N/3 s\n"
         "                         when its node dies (default 10)\n"
         "  --help                 this text\n"
         "\n"
         "SIGTERM or SIGINT shut down gracefully. See docs/operations.md.\n";
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
  snprintf(err, errlen, fmt, a, b);
  return -1;
}

static int copy(char *dst, size_t cap, const char *key, const char *v, char *err, size_t errlen)
{
  if (strlen(v) >= cap)
    return fail(err, errlen, "%s: value too long (%s)", key, "");
  snprintf(dst, cap, "%s", v);
  return 0;
}

static int number(const char *key, const char *v, unsigned long long max, unsigned long long *out,
                  char *err, size_t errlen)
{
  char *end;
  errno = 0;
  if (!isdigit((unsigned char)v[0]))
    return fail(err, errlen, "%s: expected a number, got '%s'", key, v);
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || *end || n > max)
    return fail(err, errlen, "%s: '%s' is not a number in range", key, v);
  *out = n;
  return 0;
}

int ttb_config_set(ttb_config *c, const char *key, const char *v, char *err, size_t errlen)
{
  unsigned long long n;
  if (strcmp(key, "ingest-secret") == 0)
    return fail(err, errlen,
                "%s: removed (a secret on the command line shows in ps): use "
                "--ingest-secret-file FILE or the environment variable TTBOOST_INGEST_SECRET%s",
                key, "");
  if (strcmp(key, "listen") == 0) {
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
      return fail(err, errlen, "%s: expected HOST:PORT, got '%s'", key, v);
    if ((size_t)(colon - v) >= sizeof c->listen_host)
      return fail(err, errlen, "%s: host too long (%s)", key, v);
    if (number(key, colon + 1, 65535, &n, err, errlen))
      return -1;
    memcpy(c->listen_host, v, (size_t)(colon - v));
    c->listen_host[colon - v] = '\0';
    c->port = (uint16_t)n;
    return 0;
  }
  struct {
    const char *key;
    char *dst;
    size_t cap;
  } strs[] = {
      {"data-dir", c->data_dir, sizeof c->data_dir},
      {"db", c->db, sizeof c->db},
      {"public-url", c->public_url, sizeof c->public_url},
      {"ingest-secret-file", c->ingest_secret_file, sizeof c->ingest_secret_file},
      {"tls-cert", c->tls_cert, sizeof c->tls_cert},
      {"tls-key", c->tls_key, sizeof c->tls_key},
      {"sounds-map", c->sounds_map, sizeof c->sounds_map},
      {"sounds-dir", c->sounds_dir, sizeof c->sounds_dir},
      {"trace-ingest", c->trace_ingest, sizeof c->trace_ingest},
      {"tiktok-web", c->tiktok_web, sizeof c->tiktok_web},
      {"tiktok-ws", c->tiktok_ws, sizeof c->tiktok_ws},
      {"tiktok-trace", c->tiktok_trace, sizeof c->tiktok_trace},
      {"metrics-listen", c->metrics_listen, sizeof c->metrics_listen},
      {"metrics-token-file", c->metrics_token_file, sizeof c->metrics_token_file},
      {"nats", c->nats, sizeof c->nats},
      {"nats-creds", c->nats_creds, sizeof c->nats_creds},
      {"nats-tls-ca", c->nats_tls_ca, sizeof c->nats_tls_ca},
      {"nats-stream", c->nats_stream, sizeof c->nats_stream},
  };
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (strcmp(key, strs[i].key) == 0)
      return copy(strs[i].dst, strs[i].cap, key, v, err, errlen);
  struct {
    const char *key;
    unsigned long long min, max;
    size_t *sz;
    uint32_t *u32;
  } nums[] = {
      {"history", 1, 1u << 20, &c->history, NULL},
      {"ingest-dedup-s", 0, 86400, NULL, &c->ingest_dedup_s},
      {"ingest-dedup-max", 16, 1u << 22, NULL, &c->ingest_dedup_max},
      {"heartbeat-ms", 100, 600000, NULL, &c->heartbeat_ms},
      {"max-queued-msgs", 16, 1u << 24, &c->max_queued_msgs, NULL},
      {"max-queued-bytes", 4096, 1ull << 32, &c->max_queued_bytes, NULL},
      {"ws-flush-us", 0, 100000, NULL, &c->ws_flush_us},
      {"max-body", 1024, 64u << 20, &c->max_body, NULL},
      {"tts-cache-mb", 1, 1u << 20, &c->tts_cache_mb, NULL},
      {"login-max-failures", 1, 1000000, NULL, &c->login_max_failures},
      {"login-window-s", 1, 86400, NULL, &c->login_window_s},
      {"tiktok-lookup-s", 1, 86400, NULL, &c->tiktok_lookup_s},
      {"tiktok-linger-s", 0, 86400, NULL, &c->tiktok_linger_s},
      {"tiktok-heartbeat-s", 1, 3600, NULL, &c->tiktok_heartbeat_s},
      {"tiktok-dead-s", 1, 3600, NULL, &c->tiktok_dead_s},
      {"tiktok-backoff-cap-s", 1, 3600, NULL, &c->tiktok_backoff_cap_s},
      {"sockets-per-device", 0, 1000000, NULL, &c->sockets_per_device},
      {"max-sockets-per-license", 0, 1000000, NULL, &c->max_sockets_per_license},
      /* the spelling before issue 16, still taken so existing command lines work */
      {"max-sockets-per-licence", 0, 1000000, NULL, &c->max_sockets_per_license},
      {"channel-idle-s", 1, 30u * 86400u, NULL, &c->channel_idle_s},
      {"tts-burst", 1, 1000000, NULL, &c->tts_burst},
      {"tts-per-min", 1, 1000000, NULL, &c->tts_per_min},
      {"tts-workers", 0, 256, NULL, &c->tts_workers},
      {"tts-remote", 0, 256, NULL, &c->tts_remote},
      {"tts-serve", 0, 256, NULL, &c->tts_serve},
      {"tts-deadline-ms", 50, 600000, NULL, &c->tts_deadline_ms},
      {"tts-backlog", 1, 1000000, NULL, &c->tts_backlog},
      {"nats-catchup-s", 0, 600, NULL, &c->nats_catchup_s},
      {"lease-ttl-s", 1, 3600, NULL, &c->lease_ttl_s},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    if (strcmp(key, nums[i].key) != 0)
      continue;
    if (number(key, v, nums[i].max, &n, err, errlen))
      return -1;
    if (n < nums[i].min)
      return fail(err, errlen, "%s: '%s' is too small", key, v);
    if (nums[i].sz)
      *nums[i].sz = (size_t)n;
    else
      *nums[i].u32 = (uint32_t)n;
    return 0;
  }
  struct {
    const char *key;
    bool *dst;
  } flags[] = {{"tts-read-user", &c->tts_read_user},
               {"tts-eager", &c->tts_eager},
               {"tiktok", &c->tiktok},
               {"journal", &c->journal},
               {"journal-sync", &c->journal_sync}};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    if (strcmp(key, flags[i].key) != 0)
      continue;
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0)
      *flags[i].dst = true;
    else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0)
      *flags[i].dst = false;
    else
      return fail(err, errlen, "%s: expected yes or no (on or off), got '%s'", key, v);
    return 0;
  }
  return fail(err, errlen, "unknown setting '%s'%s", key, "");
}

static char *trim(char *s)
{
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

int ttb_config_load(ttb_config *c, const char *path, char *err, size_t errlen)
{
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  char line[1024];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
      snprintf(err, errlen, "%s:%d: expected `key = value`", path, lineno);
      fclose(f);
      return -1;
    }
    *eq = '\0';
    char e2[256];
    if (ttb_config_set(c, trim(s), trim(eq + 1), e2, sizeof e2) != 0) {
      snprintf(err, errlen, "%s:%d: %s", path, lineno, e2);
      fclose(f);
      return -1;
    }
  }
  fclose(f);
  return 0;
}
