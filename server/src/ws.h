/*
 * WebSocket sessions on top of h2o's websocket support (wslay): GET
 * /ws/{ws_token} upgrades; JSON text frames, or protobuf binary frames with
 * subprotocol "ttboost.v1.proto". Each session has a bounded outgoing queue
 * (a slow client is closed with 4008), is pinged every heartbeat and closed
 * with 4009 after three silent intervals.
 *
 * Close codes (docs/operations.md): 1000 normal, 1001 server shutting down,
 * 1003 unsupported data, 1008 repeated bad messages, 1009 message too big,
 * 4001 unauthorized (unknown or expired token, or its session was ended:
 * logout, `ttboost-admin session revoke`), 4003 license revoked or
 * expired, 4008 slow consumer, 4009 idle (no pong), 4029 too many sockets
 * for the license.
 */
#ifndef TTB_SERVER_WS_H
#define TTB_SERVER_WS_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/websocket.h>
#include <stdbool.h>
#include <stdint.h>

#include "hub.h"

enum {
  TTB_WS_NORMAL = 1000,
  TTB_WS_GOING_AWAY = 1001,
  TTB_WS_UNSUPPORTED = 1003,
  TTB_WS_POLICY = 1008,
  TTB_WS_TOO_BIG = 1009,
  TTB_WS_UNAUTHORIZED = 4001,
  TTB_WS_REVOKED = 4003,
  TTB_WS_SLOW_CONSUMER = 4008,
  TTB_WS_IDLE = 4009,
  TTB_WS_TOO_MANY_SOCKETS = 4029, /* the license has as many sockets as it may */
};

#define TTB_WS_SUBPROTOCOL "ttboost.v1.proto"

/* What a client asked for in its Settings message (all on by default). */
typedef struct ttb_ws_settings {
  bool tts_enabled;
  bool gifts_enabled;
  bool audio_frames;
  bool profanity_filter;
  bool speech_on_request; /* AudioFrames only for chats asked by SpeechWanted */
} ttb_ws_settings;

typedef struct ttb_ws_limits {
  uint32_t heartbeat_ms;  /* ping interval; silent for 3 of them = dead */
  size_t max_queued_msgs; /* outgoing queue bound per socket */
  size_t max_queued_bytes;
  size_t max_in_msg; /* largest client message */
} ttb_ws_limits;

/* Sets up the session module on the loop (the ping/idle sweep). */
void ttb_ws_init(h2o_loop_t *loop, const ttb_ws_limits *limits, ttb_metrics *metrics);

/* Upgrades req to a session (token already checked); session_id is the
 * login session the token belongs to (ttb_ws_close_login closes its
 * sockets). The caller then subscribes it to its channel (hub.h): the
 * session module never calls the hub, data flows hub -> ws only. Returns
 * the session, or NULL when not a WebSocket handshake (the caller answers
 * 400). */
ttb_session *ttb_ws_accept(h2o_req_t *req, int64_t session_id);

/* fn(arg, s) is called when a session is freed, before it is gone (the app
 * unsubscribes it from its channel). */
void ttb_ws_set_on_close(void (*fn)(void *arg, ttb_session *s), void *arg);

/* fn(arg, s, seq, lead_ms, msg, cap) is called for a SpeechWanted{seq,
 * lead_ms} from socket s (events.proto). It returns NULL when accepted, else the StreamError code
 * to answer with ("bad_request", "too_many_requests") and its text in msg;
 * a refusal counts as a bad message (20 of them close the socket). */
typedef const char *(*ttb_ws_speech_fn)(void *arg, ttb_session *s, uint64_t seq, uint32_t lead_ms,
                                        char *msg, size_t cap);
void ttb_ws_set_on_speech_wanted(ttb_ws_speech_fn fn, void *arg);

/* A pointer the app keeps per socket (its speech requests); NULL at first.
 * The app frees what it points to in its on_close callback. */
void *ttb_ws_speech_data(const ttb_session *s);
void ttb_ws_set_speech_data(ttb_session *s, void *data);

/* Closes every socket of the login session session_id (logged out or
 * revoked) with code; returns how many. */
size_t ttb_ws_close_login(int64_t session_id, uint16_t code, const char *error,
                          const char *message);

/* Upgrades and closes at once with code (for an unauthorized token: clients
 * that cannot read HTTP statuses still learn why). */
int ttb_ws_refuse(h2o_req_t *req, uint16_t code, const char *error, const char *message);

/* Queues bytes (JSON text or protobuf binary per the session's mode). Closes
 * the session as a slow consumer when its queue is over the bound.
 * Returns false when the session is closing. */
bool ttb_ws_send(ttb_session *s, const void *data, size_t len);
/* Sends one of two encodings of the same message by the session's mode. */
bool ttb_ws_send2(ttb_session *s, const void *json, size_t json_len, const void *pb, size_t pb_len);
bool ttb_ws_is_binary(const ttb_session *s);
const ttb_ws_settings *ttb_ws_get_settings(const ttb_session *s);

/* Sends a StreamError then closes with code. */
void ttb_ws_close(ttb_session *s, uint16_t code, const char *error, const char *message);

/* Closes every session with 1001 (shutdown); returns how many are open. */
size_t ttb_ws_shutdown_all(void);
size_t ttb_ws_count(void);

/* Write coalescing (ws.c "Coalescing", docs/benchmarks.md "Fan-out"): while
 * the loop is busy, a socket written less than us microseconds ago keeps its
 * data frames until us have passed since that write (or it holds 16 KiB),
 * then sends them in one write. 0 (the default before this is called) = every
 * socket with something to send is written on the next turn of the loop.
 * Values above 100000 are taken as 100000. */
void ttb_ws_set_flush_us(uint32_t us);

/* The ping interval in force (for Hello). */
uint32_t ttb__ws_heartbeat_ms(void);

/* The session's links, used by the hub (intrusive list of its channel). */
typedef struct ttb_link {
  struct ttb_link *prev, *next;
} ttb_link;

ttb_link *ttb_ws_channel_link(ttb_session *s);
ttb_session *ttb_ws_from_channel_link(ttb_link *l);
ttb_channel *ttb_ws_channel(const ttb_session *s);
void ttb_ws_set_channel(ttb_session *s, ttb_channel *c);

#endif
