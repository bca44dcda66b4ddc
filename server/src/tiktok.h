/*
 * The TikTok LIVE connector: the server as a client of TikTok's webcast push
 * stream (docs/tiktok.md), one connection per channel whose license has a
 * TikTok handle and whose devices are connected.
 *
 * Each active channel has a worker thread of its own: it gets a ttwid cookie
 * and looks the user up over HTTP (libcurl), then holds the push WebSocket
 * (libwebsockets client), decodes frames with protobuf-c
 * (schema/tiktok/webcast.proto), sends heartbeats, enter-room and acks, and
 * reconnects with jittered backoff. Workers never touch the event loop's
 * state: they queue what they decode, and the loop thread (woken through a
 * pipe watched by h2o) drains the queue and calls the sink. Every public
 * function here runs on the loop thread; the sink's callbacks run there too.
 */
#ifndef TTB_SERVER_TIKTOK_H
#define TTB_SERVER_TIKTOK_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "tiktok_handle.h"

typedef struct ttb_tiktok ttb_tiktok;

/* A channel's TikTok side, as GET /me/tiktok and the Status message show it. */
typedef enum ttb_tiktok_state {
  TTB_TIKTOK_OFF = 0,    /* no handle, no device connected, or the connector is off */
  TTB_TIKTOK_WAITING,    /* the user is not live (or unknown): looked up again later */
  TTB_TIKTOK_CONNECTING, /* cookie, lookup or handshake in progress, or backing off */
  TTB_TIKTOK_LIVE,       /* the push socket is open and in the room */
  TTB_TIKTOK_ENDED,      /* the stream ended (control action 3); waiting comes next */
  TTB_TIKTOK_ERROR,      /* blocked, refused or failing; retried with backoff */
  TTB_TIKTOK_NSTATES
} ttb_tiktok_state;

/* "off", "waiting", "connecting", "live", "ended", "error". */
const char *ttb_tiktok_state_name(ttb_tiktok_state s);

#define TTB_TIKTOK_ROOM_MAX 24 /* a room id as decimal text, with NUL */

typedef struct ttb_tiktok_status {
  ttb_tiktok_state state;
  char username[TTB_TIKTOK_HANDLE_MAX]; /* "" = none */
  char room_id[TTB_TIKTOK_ROOM_MAX];    /* "" unless connecting to or in a room */
  char message[256];                    /* why, for waiting and error; may be "" */
} ttb_tiktok_status;

typedef struct ttb_tiktok_opts {
  char web[256];            /* https://www.tiktok.com: the ttwid and the room lookup */
  char ws[256];             /* wss://webcast-ws.tiktok.com: the push socket */
  char trace_dir[512];      /* "" = none; else one trace file per connection */
  uint32_t lookup_ms;       /* a user who is not live is looked up again after this (30000) */
  uint32_t linger_ms;       /* stays connected this long after the last device left (60000) */
  uint32_t heartbeat_ms;    /* heartbeat frame interval (10000) */
  uint32_t dead_ms;         /* a socket silent this long is dead (60000) */
  uint32_t backoff_cap_ms;  /* reconnect backoff cap (30000) */
  uint32_t blocked_wait_ms; /* wait after a refused handshake (DEVICE_BLOCKED) (2000) */
  uint32_t http_timeout_ms; /* per HTTP request (10000) */
  bool gated; /* a channel's worker runs only while ttb_tiktok_allow lets it (with --nats:
                 while this node holds the channel's lease, lease.h); false: always */
} ttb_tiktok_opts;

/* Fills the defaults above (web, ws: TikTok's own). */
void ttb_tiktok_opts_defaults(ttb_tiktok_opts *o);

/* What the connector delivers, on the loop thread. Strings are valid during
 * the call only. `channel` is the license's user_id; `id` the event's id for
 * the channel-level dedup of ingest (IngestEvent.id): "tt:" and TikTok's
 * msg_id in decimal, "" when TikTok gave none. */
typedef struct ttb_tiktok_sink {
  void *arg;
  /* A chat message (user: the nickname, or the handle when it is empty). */
  void (*chat)(void *arg, const char *channel, const char *user, const char *message,
               const char *id);
  /* A gift event, to feed the streak rule (svc.h ttb_svc_gift): streak_key
   * identifies the streak (sender and group id); a gift that does not streak
   * comes with repeat_count 0, repeat_end false and count 1. */
  void (*gift)(void *arg, const char *channel, const char *user, const char *streak_key,
               const char *gift_name, uint64_t gift_id, uint32_t count, uint32_t repeat_count,
               bool repeat_end, const char *id);
  /* The channel's status changed. */
  void (*status)(void *arg, const char *channel, const ttb_tiktok_status *st);
  /* Optional (NULL: not called): a gift's value in diamonds as TikTok gave
   * it (0: unknown), just before its gift event (channel settings:
   * gifts.min_diamonds, settings.h). */
  void (*gift_value)(void *arg, const char *channel, const char *gift_name, uint32_t diamonds);
  /* Optional, gated connectors only: the channel wants a connection (it has
   * a handle and devices, or its connection lingers) or no longer does.
   * Called on changes only. */
  void (*want)(void *arg, const char *channel, bool want);
} ttb_tiktok_sink;

/* Starts the connector on loop (its wake-up pipe, its timer). metrics are
 * updated on the loop thread. NULL with a message in err. */
ttb_tiktok *ttb_tiktok_create(h2o_evloop_t *loop, const ttb_tiktok_opts *o,
                              const ttb_tiktok_sink *sink, ttb_metrics *metrics, char *err,
                              size_t errlen);
/* Stops every worker (bounded wait: each notices within a fraction of a
 * second) and frees everything. NULL is fine. */
void ttb_tiktok_destroy(ttb_tiktok *t);

/* Sets the channel's TikTok handle (already checked; "" clears it). A
 * change restarts its connection when one runs. */
void ttb_tiktok_set_user(ttb_tiktok *t, const char *channel, const char *username);

/* The channel's open sockets now. Above 0 with a handle: connect (if not
 * yet). 0: disconnect after linger_ms, unless a device comes back first. */
void ttb_tiktok_set_devices(ttb_tiktok *t, const char *channel, size_t sockets);

/* Gated connectors (opts.gated): lets the channel's worker run (allowed:
 * it starts when the channel wants it) or stops it at once (not allowed:
 * the channel then shows the status set by ttb_tiktok_elsewhere). Ignored
 * when the connector is not gated. */
void ttb_tiktok_allow(ttb_tiktok *t, const char *channel, bool allowed);

/* Gated connectors: the status a channel that wants a connection shows
 * while it is not allowed here (the node that runs it: its state, room and
 * a message saying so); NULL: "connecting", "Waiting for the node of the
 * cluster that runs the TikTok connection." Copied. */
void ttb_tiktok_elsewhere(ttb_tiktok *t, const char *channel, const ttb_tiktok_status *st);

/* The channel's status now (OFF with the handle when nothing runs). */
void ttb_tiktok_status_of(const ttb_tiktok *t, const char *channel, ttb_tiktok_status *out);

#endif
