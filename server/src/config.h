/*
 * ttboost-server's configuration: safe defaults that run on one laptop with
 * no setup, then a config file (`key = value` lines, keys as the long
 * options without dashes), then command-line flags.
 */
#ifndef TTB_SERVER_CONFIG_H
#define TTB_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The TikTok connector's defaults (also tiktok.c's ttb_tiktok_opts_defaults). */
#define TTB_TIKTOK_WEB_DEFAULT "https://www.tiktok.com"
#define TTB_TIKTOK_WS_DEFAULT "wss://webcast-ws.tiktok.com"
#define TTB_TIKTOK_LOOKUP_S 30
#define TTB_TIKTOK_LINGER_S 60
#define TTB_TIKTOK_HEARTBEAT_S 10
#define TTB_TIKTOK_DEAD_S 60
#define TTB_TIKTOK_BACKOFF_CAP_S 30

typedef struct ttb_config {
  char listen_host[64];         /* 127.0.0.1 */
  uint16_t port;                /* 8080; 0 = any free port (printed) */
  char data_dir[512];           /* ./var */
  char db[1024];                /* --db: "" = SQLite in data_dir; postgresql://… */
  char public_url[256];         /* base of the URLs handed out; default from listen */
  char ingest_secret_file[512]; /* the operator's ingest secret; else $TTBOOST_INGEST_SECRET,
                                 * else DATA/ingest_secret (generated on first start) */
  uint32_t ingest_dedup_s;      /* 600: an event id seen this recently on its channel is dropped */
  uint32_t ingest_dedup_max;    /* 65536: ids remembered per channel (the oldest go first) */
  char tls_cert[512];           /* HTTPS/WSS when both are set */
  char tls_key[512];
  char sounds_map[512];   /* gift name -> sound file; "" = built-in */
  char sounds_dir[512];   /* where the gift sounds are; default: beside the binary */
  char trace_ingest[512]; /* append every accepted ingest event to this trace */
  size_t history;         /* events kept per channel for resume */
  bool journal; /* on: seqs, history and accepted events survive a restart (DIR/events.journal) */
  bool journal_sync; /* on: fdatasync each commit (survives a power cut, not only a crash) */
  uint32_t heartbeat_ms;
  size_t max_queued_msgs;
  size_t max_queued_bytes;
  uint32_t ws_flush_us; /* write coalescing window under load (ws.h ttb_ws_set_flush_us); 0 = off */
  size_t max_body;      /* HTTP request bodies */
  size_t tts_cache_mb;
  bool tts_read_user;   /* speak "user: message" rather than the message alone */
  uint32_t tts_workers; /* speech worker processes (0: the number of cores; none with tts_remote) */
  uint32_t tts_remote;  /* 0: remote speech slots, jobs made by NATS workers (needs nats) */
  uint32_t tts_serve;   /* 0: ttboost-tts-worker --nats children serving the cluster (needs nats) */
  uint32_t tts_deadline_ms;    /* 10000: a synthesis running longer is killed (no audio) */
  uint32_t tts_backlog;        /* 16: speech waiting per channel; beyond, the oldest is dropped */
  bool tts_eager;              /* off: a chat's speech is made only when fetched or streamed */
  uint32_t login_max_failures; /* per address and window, then 429 */
  uint32_t login_window_s;
  /* the TikTok LIVE connector (tiktok.h, docs/tiktok.md) */
  bool tiktok;                   /* on */
  char tiktok_web[256];          /* https://www.tiktok.com */
  char tiktok_ws[256];           /* wss://webcast-ws.tiktok.com */
  char tiktok_trace[512];        /* "" = no traces; else a trace per push connection here */
  uint32_t tiktok_lookup_s;      /* 30: look a user who is not live up again after this */
  uint32_t tiktok_linger_s;      /* 60: stay connected after the last device left */
  uint32_t tiktok_heartbeat_s;   /* 10 */
  uint32_t tiktok_dead_s;        /* 60: a push socket silent this long is dead */
  uint32_t tiktok_backoff_cap_s; /* 30 */
  /* operator-only /metrics (docs/operations.md "Metrics"); neither set: no /metrics at all */
  char metrics_listen[80]; /* "" = none; HOST:PORT of a second listener serving only /metrics */
  char metrics_token_file
      [512]; /* "" = none; else /metrics on the main port wants this bearer token */
  /* limits (docs/operations.md "Limits") */
  uint32_t
      sockets_per_device; /* 2: a license's sockets <= its max devices x this (0: no such bound) */
  uint32_t max_sockets_per_license; /* 64: and <= this, device limit or not (0: no bound) */
  uint32_t channel_idle_s;          /* 3600: a channel's history is freed after this long idle */
  uint32_t tts_burst;               /* 20: /tts/generate token bucket per ws_token: size ... */
  uint32_t tts_per_min;             /* 60: ... and refill per minute */
  /* events between nodes through NATS JetStream (docs/scaling.md); nats "" = off */
  char nats[512];          /* nats://host:port[,nats://...] */
  char nats_creds[512];    /* a NATS credentials file (JWT + NKey seed) */
  char nats_tls_ca[512];   /* TLS to NATS, trusting this CA bundle */
  char nats_stream[64];    /* TTB_EV */
  uint32_t nats_catchup_s; /* 10: at start, wait this long to read the stream before listening */
  uint32_t lease_ttl_s;    /* 10: the TikTok connector leases' TTL (lease.h; with --nats) */
} ttb_config;

/* Fills the defaults. */
void ttb_config_defaults(ttb_config *c);

/* Applies `key = value` lines of file path. 0, or -1 with a message in err. */
int ttb_config_load(ttb_config *c, const char *path, char *err, size_t errlen);

/* Applies one setting by key ("listen", "data-dir", ...). 0, or -1 with err. */
int ttb_config_set(ttb_config *c, const char *key, const char *value, char *err, size_t errlen);

/* The text of --help. */
const char *ttb_config_usage(void);

#endif
