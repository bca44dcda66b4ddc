/*
 * net.h — the network layer of libttboost-client (internal, mobile/core/src/net).
 *
 * What it does: login over HTTP(S), file downloads into memory, and the
 * WebSocket that survives anything (reconnect with backoff and jitter, resume
 * with ?since=, exactly-once delivery by seq, dead-peer detection, settings
 * sent after every connect). client.c drives it; nothing here is exported.
 *
 * Layers (bottom up):
 *   - platform shim: mutex, condition, thread, clocks (POSIX threads here).
 *   - URL helpers: parse a server URL, build the socket path.
 *   - ttb__http_fn: one blocking HTTP request; ttb__http_lws is the
 *     libwebsockets implementation. ttb__login and ttb__download use it.
 *   - ttb__http_stream_fn: a streamed GET (the body handed over as it
 *     arrives); ttb__http_session is the libwebsockets implementation that
 *     keeps one HTTP/1.1 connection alive across downloads (audio).
 *   - ttb__transport: a WebSocket transport interface (function pointers);
 *     ttb__transport_lws_create is the libwebsockets implementation. Tests
 *     and builds without lws (arm64) use a fake.
 *   - ttb__conn: the protocol logic over a transport: a background thread,
 *     the state machine, the bounded event queue the client polls.
 *
 * Errors: functions returning int return TTB_OK or a negative TTB_ERR_* code
 * of ttboost/client.h, with English text in a caller's buffer or the
 * connection's last error.
 *
 * Depends on: ttboost/client.h (error codes, ttb_conn_state), the nanopb
 * structs and their generated JSON codecs; libwebsockets (and OpenSSL, for
 * the client TLS context) for the *_lws parts only (TTB_NET_HAVE_LWS is
 * defined to 1 when they are built, 0 otherwise: the arm64 cross build).
 *
 * Liveness: the client answers nothing itself but sends a Ping after one
 * ping interval of silence (min(Hello.heartbeat_interval_ms, 10 s)) and
 * drops the socket after 2.5 intervals (25 s) without any message, so a dead
 * network is noticed within 30 s; lws also sends WS pings (on_alive).
 *
 * Threads: the platform shim is named ttb__net_* so that client.c can
 * include this header and platform/platform.h together.
 *
 * How client.c drives it
 * ----------------------
 *   // login (blocking, any thread but the UI's):
 *   ttb__login_result lr;
 *   int rc = ttb__login(ttb__http_lws, NULL, server_url, key, device_id,
 *                       TTB__LOGIN_TIMEOUT_MS, &lr);   // lr.message on failure
 *   // start:
 *   ttb__conn_config cc = {0};
 *   ttb__conn_config_defaults(&cc);
 *   cc.server_url = server_url; cc.ws_token = lr.ws_token; cc.binary = s.binary_mode;
 *   cc.settings = (ttboost_v1_Settings){.tts_enabled = ..., ...};
 *   ttb__transport *t; ttb__transport_lws_create(NULL, &t);
 *   ttb__conn *conn; ttb__conn_create(&cc, t, &conn);  // takes t
 *   ttb__conn_start(conn);
 *   // on a timer / own thread:
 *   ttb__net_event ev; while (ttb__conn_poll(conn, &ev)) { ... }
 *   ttb__conn_state(conn, buf, sizeof buf);  ttb__conn_get_stats(conn, &st);
 *   ttb__conn_set_settings(conn, &settings);  ttb__conn_set_binary(conn, true);
 *   ttb__conn_reconnect_now(conn);
 *   ttb__conn_stop(conn); ttb__conn_destroy(conn);
 */
#ifndef TTB_NET_NET_H
#define TTB_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"
#include "ttboost/client.h"
#include "ttboost/v1/auth.pb.h"
#include "ttboost/v1/events.pb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Threads, locks and clocks: platform/platform.h, shared with the rest of
 * the core (libttb_platform). */

/* Short English name of a TTB_OK/TTB_ERR_* code ("network error"); never
 * NULL. The net layer's own copy, so it links without client.c. */
const char *ttb__net_strerror(int code);

/* ================================================================ URLs */

#define TTB__HOST_SIZE 256
#define TTB__PATH_SIZE 1024

/* A parsed http(s)/ws(s) URL. port is filled with the scheme's default
 * (80/443) when absent; path is "/" when absent, and keeps the query. */
typedef struct ttb__url {
  bool tls;                  /* https or wss */
  bool ws;                   /* ws or wss */
  char host[TTB__HOST_SIZE]; /* without brackets for IPv6 literals */
  int port;
  char path[TTB__PATH_SIZE];
} ttb__url;

/* Parses url ("https://host[:port][/path]"; schemes http, https, ws, wss,
 * case-insensitive). TTB_ERR_INVALID with err set when malformed. */
int ttb__url_parse(const char *url, ttb__url *out, char *err, size_t errlen);

/* Writes the socket path "/ws/<token>" (a base path of the server URL other
 * than "/" is kept in front), with "?since=<since>" when has_since.
 * TTB_ERR_INVALID when the token is empty or not URL-safe
 * ([A-Za-z0-9._~-] only) or the result does not fit. */
int ttb__ws_path(const char *base_path, const char *token, bool has_since, uint64_t since,
                 char *out, size_t cap);

/* ================================================================ HTTP */

typedef struct ttb__http_req {
  const char *method;       /* "GET", "POST" or "PUT" */
  const char *url;          /* absolute http(s) URL */
  const char *content_type; /* body's type, or NULL */
  const uint8_t *body;      /* NULL/0 for none */
  size_t body_len;
  const char *bearer;  /* Authorization: Bearer <bearer>, or NULL */
  int timeout_ms;      /* whole request; <= 0 means 10000 */
  size_t max_response; /* cap on the body kept; over it: TTB_ERR_PROTOCOL */
  const char *ca_file; /* PEM bundle for TLS, or NULL for the system's */
} ttb__http_req;

typedef struct ttb__http_resp {
  int status;    /* HTTP status, 0 when none was received */
  uint8_t *body; /* malloc'd, NUL-terminated (not counted in len); caller frees */
  size_t len;
} ttb__http_resp;

/* One blocking HTTP request. Returns TTB_OK when a status line was received
 * (any status; resp->body holds the body), TTB_ERR_NETWORK (DNS, TCP, TLS,
 * timeout: reason in err), TTB_ERR_PROTOCOL (body over max_response),
 * TTB_ERR_INVALID (bad URL) or TTB_ERR_NOMEM. On failure resp->body is NULL.
 * `user` is passed through for fakes. Thread-safe (each call has its own
 * state). */
typedef int (*ttb__http_fn)(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                            size_t errlen);

/* Frees resp->body and zeroes resp. */
void ttb__http_resp_finish(ttb__http_resp *resp);

#if TTB_NET_HAVE_LWS
/* Silences libwebsockets' own logging once per process (a library never
 * prints); the environment variable TTBOOST_LWS_LOG=<lws level mask>
 * turns it back on for debugging. */
void ttb__lws_quiet_logs(void);

/* A client TLS context (OpenSSL SSL_CTX) for one lws_context: TLS 1.2+,
 * the peer verified against ca_file (PEM) or the system's trust store
 * (OpenSSL's default paths: SSL_CERT_FILE / SSL_CERT_DIR apply). NULL when
 * it cannot be made. Free with ttb__lws_client_tls_free after the
 * lws_context is destroyed. Why not lws's own: with
 * LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT every lws_context re-registers
 * lws's global SSL_CTX ex_data index, so two contexts alive at once (the
 * socket and a download) make the older one leak its SSL_CTX. */
struct ssl_ctx_st *ttb__lws_client_tls(const char *ca_file);
void ttb__lws_client_tls_free(struct ssl_ctx_st *ctx);

/* The libwebsockets implementation (a private lws_context per call). */
int ttb__http_lws(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                  size_t errlen);
#endif

/* ================================================================ login */

#define TTB__LOGIN_TIMEOUT_MS 10000
#define TTB__MESSAGE_SIZE 512

typedef struct ttb__login_result {
  char user_id[37];
  char ws_token[37];
  char error[65];                  /* the server's code ("expired"), or "" */
  char message[TTB__MESSAGE_SIZE]; /* English, for a person; "" on success */
} ttb__login_result;

/* POST {server_url}/auth/login with {"license_key":…,"device_id":…}
 * (device_id NULL or "" is left out) and interprets the answer with
 * ttb__login_interpret. Blocking, within timeout_ms (<= 0: 10 s).
 * Returns TTB_OK with out->ws_token/user_id, or TTB_ERR_AUTH, EXPIRED,
 * REVOKED, DEVICE_LIMIT, RATE_LIMITED, INVALID (malformed request / bad
 * key or URL), NETWORK, PROTOCOL, NOMEM; out->message says it in words. */
int ttb__login(ttb__http_fn http, void *http_user, const char *server_url, const char *license_key,
               const char *device_id, int timeout_ms, ttb__login_result *out);

/* The pure part of ttb__login: maps an HTTP status and body to a TTB code
 * and fills out. 200 with a valid LoginResponse -> TTB_OK. Error codes
 * decide first ("unknown_key"/"unauthorized" -> AUTH, "expired" -> EXPIRED,
 * "revoked" -> REVOKED, "device_limit" -> DEVICE_LIMIT, "too_many_attempts"
 * -> RATE_LIMITED, "malformed" -> INVALID), then the status (400 INVALID,
 * 401 AUTH, 403 REVOKED, 429 RATE_LIMITED, 5xx NETWORK "server error",
 * others PROTOCOL). */
int ttb__login_interpret(int status, const char *body, size_t len, ttb__login_result *out);

/* Maps a server error code string ("expired", ...) to a TTB_ERR_* code, 0 when unknown. */
int ttb__error_code_from_string(const char *code);

/* ================================================================ TikTok handle */

#define TTB__TIKTOK_TIMEOUT_MS 10000

/* The answer of GET/PUT {server}/me/tiktok (fields of ttboost.v1.TiktokInfo),
 * or why there is none. */
typedef struct ttb__tiktok_result {
  char username[33];            /* the handle, without the @; "" = none */
  char state[17];               /* "off", "waiting", "connecting", "live", "ended", "error" */
  char room_id[25];             /* TikTok's room id as decimal text, or "" */
  char message[257];            /* the server's words about the state, or "" */
  char error[65];               /* the server's error code ("invalid_username"), or "" */
  char text[TTB__MESSAGE_SIZE]; /* English, for a person; "" on success */
} ttb__tiktok_result;

/* GET {server_url}/me/tiktok (username NULL) or PUT it with
 * {"username":…} (username trimmed of white space and one leading @; "" clears
 * the handle), with Authorization: Bearer <ws_token>, and interprets the
 * answer with ttb__tiktok_interpret. Blocking, within timeout_ms (<= 0: 10 s).
 * TTB_OK with out's fields, or INVALID (a handle the server refused: its
 * message in out->text; a malformed URL, token or handle), AUTH, EXPIRED,
 * REVOKED, RATE_LIMITED, NETWORK, PROTOCOL, STATE (no HTTP client), NOMEM. */
int ttb__tiktok_call(ttb__http_fn http, void *http_user, const char *server_url,
                     const char *ws_token, const char *username, int timeout_ms,
                     ttb__tiktok_result *out);

/* The pure part of ttb__tiktok_call: an HTTP status and body to a TTB code.
 * 200 with a TiktokInfo -> TTB_OK. Error codes decide first
 * ("invalid_username" -> INVALID with the server's message, then as
 * ttb__login_interpret: "unauthorized" -> AUTH, "expired", "revoked", …), then
 * the status (400/413 INVALID, 401 AUTH, 403 REVOKED, 404/405 PROTOCOL "the
 * server is too old", 429 RATE_LIMITED, 5xx NETWORK, others PROTOCOL). */
int ttb__tiktok_interpret(int status, const char *body, size_t len, ttb__tiktok_result *out);

/* ================================================================ /me/... calls
 *
 * The streamer's own resources behind the ws token (Authorization: Bearer):
 * the channel settings (GET/PUT /me/settings) and their sounds
 * (POST/GET/DELETE /me/sounds). One blocking request; the caller encodes
 * the body and decodes the 2xx answer with the generated codecs. */

#define TTB__ME_TIMEOUT_MS 10000
#define TTB__ME_UPLOAD_TIMEOUT_MS 30000

typedef struct ttb__me_req {
  const char *method;       /* "GET", "PUT", "POST" or "DELETE" */
  const char *path;         /* "/me/settings", "/me/sounds?name=Horn" (already URL-encoded) */
  const char *content_type; /* of body, or NULL */
  const uint8_t *body;      /* NULL/0 for none */
  size_t body_len;
  int timeout_ms;      /* <= 0: TTB__ME_TIMEOUT_MS */
  size_t max_response; /* 0: 256 KiB */
  /* A 404 means "no such thing" (DELETE /me/sounds: an unknown id) rather
   * than "no such endpoint" (a server too old for the route). */
  bool not_found_is_invalid;
} ttb__me_req;

/* Sends req to {server_url}{req->path} with Authorization: Bearer <ws_token>.
 * TTB_OK when the answer is 2xx: resp holds the body (the caller frees it
 * with ttb__http_resp_finish). Otherwise resp is empty, text holds English
 * words for a person (the server's own message when it sent an
 * ErrorResponse) and the code comes from ttb__me_interpret, or is
 * TTB_ERR_NETWORK (no answer), TTB_ERR_STATE (no HTTP client, no token),
 * TTB_ERR_INVALID (bad URL), TTB_ERR_NOMEM. */
int ttb__me_call(ttb__http_fn http, void *http_user, const char *server_url, const char *ws_token,
                 const ttb__me_req *req, ttb__http_resp *resp, char *text, size_t textlen);

/* The pure part of ttb__me_call for a status that is not 2xx: the server's
 * ErrorResponse code decides first ("unauthorized" -> AUTH, "expired",
 * "revoked", "too_many_attempts" -> as ttb__login_interpret), then the
 * status: 400, 413, 415 -> INVALID (a value or file the server refused;
 * text = its message), 401 AUTH, 403 REVOKED, 404 -> INVALID with the
 * server's message when not_found_is_invalid (an unknown id), else, like
 * 405, PROTOCOL ("the server needs an update": no such endpoint), 429
 * RATE_LIMITED, 5xx NETWORK, others PROTOCOL. text is always set. */
int ttb__me_interpret(int status, const char *body, size_t len, bool not_found_is_invalid,
                      char *text, size_t textlen);

/* ================================================================ download */

#define TTB__DOWNLOAD_MAX (4u << 20) /* 4 MiB */
#define TTB__DOWNLOAD_TIMEOUT_MS 15000

/* GET url into a malloc'd buffer (*out, *out_len; caller frees *out).
 * max_bytes 0 means TTB__DOWNLOAD_MAX; timeout_ms <= 0 means 15 s.
 * TTB_OK on 200; TTB_ERR_NETWORK (no path, timeout, or a non-200 status,
 * with the status in err), TTB_ERR_PROTOCOL (larger than max_bytes),
 * TTB_ERR_INVALID, TTB_ERR_NOMEM. */
int ttb__download(ttb__http_fn http, void *http_user, const char *url, size_t max_bytes,
                  int timeout_ms, uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* ================================================================ streamed GET
 *
 * Audio downloads as they arrive: the body is handed to a callback piece by
 * piece (a server that streams its Ogg pages with chunked transfer encoding
 * is heard from the first page; one that sends a whole file with a
 * Content-Length works the same), and successive downloads share one
 * kept-alive HTTP/1.1 connection instead of one connection per chat. */

/* Receives a piece of a 2xx body (len > 0). TTB_OK to go on; anything else
 * stops the download (its connection is closed) and is returned by the GET. */
typedef int (*ttb__http_body_fn)(void *user, const uint8_t *data, size_t len);

/* One streamed GET. on_body is called only when the status is 2xx (other
 * bodies are read and dropped). idle_ms: the longest wait for the status or
 * the next byte (<= 0: 15 s); max_body: cap on the body (0: TTB__DOWNLOAD_MAX;
 * over it: TTB_ERR_PROTOCOL). Returns TTB_OK when the whole answer came
 * (*status set: the caller judges it), TTB_ERR_NETWORK (cannot connect,
 * timeout, connection lost: reason in err; *status is what came, or 0),
 * TTB_ERR_PROTOCOL (over max_body), TTB_ERR_INVALID (bad URL), or what
 * on_body returned. `user` is the implementation's state (a session). */
typedef int (*ttb__http_stream_fn)(void *user, const char *url, int idle_ms, size_t max_body,
                                   ttb__http_body_fn on_body, void *body_user, int *status,
                                   char *err, size_t errlen);

#if TTB_NET_HAVE_LWS
/* A download session on libwebsockets: one lws_context kept for the
 * session's life, whose HTTP/1.1 connection to a host is kept alive and
 * reused by the next GET to the same host, port and scheme (lws's
 * LCCSCF_PIPELINE). A GET that fails before any answer on a connection the
 * server may have closed while idle is retried once on a new connection.
 * One thread at a time (the client's worker). ca_file: PEM bundle or NULL
 * for the system's. TTB_OK, TTB_ERR_NETWORK (no TLS / lws context),
 * TTB_ERR_NOMEM. */
typedef struct ttb__http_session ttb__http_session;
int ttb__http_session_create(const char *ca_file, ttb__http_session **out);
void ttb__http_session_destroy(ttb__http_session *s);
/* TCP connections the session's answers came over so far (a new local
 * port is a new connection): 1 for any number of GETs to one server that
 * keeps the connection alive. For tests and the bench. */
unsigned ttb__http_session_connections(const ttb__http_session *s);
/* The ttb__http_stream_fn of a session (user = the ttb__http_session). */
int ttb__http_session_get(void *session, const char *url, int idle_ms, size_t max_body,
                          ttb__http_body_fn on_body, void *body_user, int *status, char *err,
                          size_t errlen);
#endif

/* ================================================================ transport */

/* Callbacks a transport makes into its owner. They are called only from
 * inside ops->service (on the thread that calls it) and only for the socket
 * of the latest open(); after close() nothing more is reported for it. */
typedef struct ttb__transport_cb {
  void *user;
  /* The WebSocket handshake succeeded. */
  void (*on_connected)(void *user);
  /* One complete message (fragments joined). data is valid during the call. */
  void (*on_message)(void *user, const uint8_t *data, size_t len, bool binary);
  /* A sign of life without a message (a WS pong or ping). May be NULL. */
  void (*on_alive)(void *user);
  /* The socket ended or never opened. ws_code: the peer's close code (1000,
     * 4001, ...), 0 when none. http_status: the status of a refused upgrade
     * (401, 403, ...), 0 when none. reason: English text, never NULL. */
  void (*on_closed)(void *user, int ws_code, int http_status, const char *reason);
} ttb__transport_cb;

typedef struct ttb__transport ttb__transport;

typedef struct ttb__transport_ops {
  /* Begins connecting to url (ws:// or wss://, path and query included),
     * asking for subprotocol `subprotocol` (NULL: none). Non-blocking; the
     * result comes as on_connected or on_closed. An open socket is dropped
     * first. TTB_OK or a TTB_ERR_* (then no callback follows). */
  int (*open)(ttb__transport *t, const char *url, const char *subprotocol);
  /* Queues one message (copied) for sending. TTB_ERR_STATE when not
     * connected, TTB_ERR_NOMEM when the send queue is full. */
  int (*send)(ttb__transport *t, const uint8_t *data, size_t len, bool binary);
  /* Drops the socket (with close code `code` when possible). No callback
     * follows for it. No-op when closed. */
  void (*close)(ttb__transport *t, int code);
  /* Runs I/O for at most timeout_ms (0: do what is ready and return);
     * callbacks fire from here. Returns early after wake(). */
  void (*service)(ttb__transport *t, int timeout_ms);
  /* Makes a blocked service() return soon. The only op safe from any thread. */
  void (*wake)(ttb__transport *t);
  /* Frees the transport (closing any socket). */
  void (*destroy)(ttb__transport *t);
} ttb__transport_ops;

/* Base of every transport: implementations embed it first. */
struct ttb__transport {
  const ttb__transport_ops *ops;
  ttb__transport_cb cb; /* set by ttb__conn_create */
};

#if TTB_NET_HAVE_LWS
typedef struct ttb__transport_lws_config {
  const char *ca_file; /* PEM bundle, or NULL for the system's */
  int ping_interval_s; /* WS ping when idle this long; 0 = 10 */
  int hangup_s;        /* hang up when silent this long; 0 = 30 */
} ttb__transport_lws_config;

/* The libwebsockets transport (its own lws_context, client only).
 * cfg may be NULL. TTB_OK, TTB_ERR_NOMEM or TTB_ERR_NETWORK. */
int ttb__transport_lws_create(const ttb__transport_lws_config *cfg, ttb__transport **out);
#endif

/* ================================================================ connection */

#define TTB__SUBPROTOCOL_BINARY "ttboost.v1.proto"
#define TTB__BACKOFF_MIN_MS 500u
#define TTB__BACKOFF_MAX_MS 30000u
#define TTB__HEARTBEAT_DEFAULT_MS 10000u
/* Ping interval: the Hello's heartbeat_interval_ms, at most this. After 1 ping
 * interval of silence the client sends a Ping (the server answers Pong);
 * after 2.5 intervals (25 s by default) the socket is taken for dead and
 * dropped, so a dead network is noticed within 30 s. */
#define TTB__PING_MAX_MS 10000u
#define TTB__CONNECT_TIMEOUT_MS 15000u
#define TTB__STABLE_MS 10000u /* a connection this old resets the backoff */
#define TTB__QUEUE_DEFAULT 256u
#define TTB__RX_MAX (64u << 10) /* largest message accepted */

/* Kinds of ttb__net_event. */
typedef enum {
  TTB__NET_CHAT = 1,         /* msg.payload.chat, msg.seq */
  TTB__NET_GIFT = 2,         /* msg.payload.gift, msg.seq */
  TTB__NET_AUDIO = 3,        /* msg.payload.audio (binary mode) */
  TTB__NET_HELLO = 4,        /* msg.payload.hello: a connection is up */
  TTB__NET_STREAM_ERROR = 5, /* msg.payload.error: the server's StreamError */
  TTB__NET_STATE = 6,        /* code = new ttb_conn_state, text = reason */
  TTB__NET_ERROR = 7,        /* code = TTB_ERR_* (negative), text = message */
  TTB__NET_STATUS = 8,       /* msg.payload.status: the server's TikTok side changed */
  TTB__NET_GAP = 9           /* a resume lost events for good: code = how many (0: unknown,
                            capped at INT32_MAX), text = a line for the log */
} ttb__net_event_kind;

/* One event, fixed size (no pointers). For CHAT/GIFT/AUDIO/HELLO/STREAM_ERROR/STATUS
 * msg holds the decoded ServerMessage; for STATE/ERROR, code and text. */
typedef struct ttb__net_event {
  int kind;
  int code;
  int64_t time_ms; /* Unix ms when received */
  char text[TTB__MESSAGE_SIZE];
  ttboost_v1_ServerMessage msg;
} ttb__net_event;

typedef struct ttb__conn_stats {
  uint64_t reconnects;      /* successful connections after a loss */
  uint64_t connects;        /* all successful connections (hello received) */
  uint64_t attempts;        /* connection attempts */
  uint64_t duplicates;      /* events dropped as already seen */
  uint64_t skipped_unknown; /* messages of an unknown type */
  uint64_t protocol_errors; /* messages that did not decode */
  uint64_t queue_dropped;   /* events dropped on a full queue (no thread) */
  uint64_t connected_ms;    /* time spent CONNECTED */
  uint64_t last_seq;        /* newest chat/gift seq delivered */
} ttb__conn_stats;

typedef struct ttb__conn_config {
  const char *server_url;       /* http(s)://host[:port] (ws/wss derived) */
  const char *ws_token;         /* from login */
  bool binary;                  /* subprotocol ttboost.v1.proto */
  ttboost_v1_Settings settings; /* sent after each connect */
  uint64_t last_seq;            /* resume from here (0: live, no since) */
  unsigned queue_cap;           /* events; 0 = TTB__QUEUE_DEFAULT */
  /* Injectable for tests: clock (monotonic ms) and randomness (jitter). */
  uint64_t (*now_ms)(void *user);
  uint32_t (*rand32)(void *user);
  void *clock_user;
  /* Optional: called on the network thread for each event instead of
     * queuing it (e.g. feed AudioFrames to the decoder without waiting for
     * the UI's poll). Must not block long nor call ttb__conn_* functions. */
  void (*sink)(void *user, const ttb__net_event *ev);
  void *sink_user;
} ttb__conn_config;

typedef struct ttb__conn ttb__conn;

/* Zeroes cfg and sets the defaults (real clock and randomness). */
void ttb__conn_config_defaults(ttb__conn_config *cfg);

/* Creates a connection object over transport t (taken: destroyed with the
 * connection, even on failure). Copies every string; starts nothing.
 * TTB_ERR_INVALID (bad URL or token) or TTB_ERR_NOMEM with *out NULL. */
int ttb__conn_create(const ttb__conn_config *cfg, ttb__transport *t, ttb__conn **out);

/* Stops (as ttb__conn_stop) and frees. NULL is a no-op. */
void ttb__conn_destroy(ttb__conn *c);

/* Starts the network thread (state CONNECTING). TTB_OK when already
 * running. */
int ttb__conn_start(ttb__conn *c);

/* Stops the thread (closes the socket, joins). State DISCONNECTED. Queued
 * events stay pollable. Idempotent. */
void ttb__conn_stop(ttb__conn *c);

/* True while the network thread runs (false after stop, or after the server
 * refused the token: then ttb__conn_state says why). */
bool ttb__conn_running(ttb__conn *c);

/* Drops the socket and connects at once with a fresh backoff.
 * TTB_ERR_STATE when not running. Any thread, non-blocking. */
int ttb__conn_reconnect_now(ttb__conn *c);

/* New settings: remembered, and sent at once when connected (and after
 * every later connect). Any thread, non-blocking. */
void ttb__conn_set_settings(ttb__conn *c, const ttboost_v1_Settings *s);

/* Queues a SpeechWanted{seq, lead_ms} (events.proto; lead_ms: the audio
 * the client plays before this chat), sent by the network thread
 * at once. Only on a binary connection whose server said Hello.speech_wanted
 * (and sent Settings.speech_on_request): false otherwise, or when
 * TTB__SPEECH_WANTED_QUEUE requests already wait, and then nothing is sent
 * (the server streams every chat's frames, or the caller fetches the URL).
 * Any thread, non-blocking. */
#define TTB__SPEECH_WANTED_QUEUE 16
bool ttb__conn_speech_wanted(ttb__conn *c, uint64_t seq, uint32_t lead_ms);

/* Switches JSON/binary; takes effect by a reconnect when running. */
void ttb__conn_set_binary(ttb__conn *c, bool binary);

/* Replaces the token (copied). Only while stopped: TTB_ERR_STATE otherwise,
 * TTB_ERR_INVALID when malformed. Resets last_seq to 0 (another session). */
int ttb__conn_set_token(ttb__conn *c, const char *ws_token);

/* Pops the oldest event into *out: 1 when one was copied, 0 when empty.
 * Single consumer, any thread, non-blocking. */
int ttb__conn_poll(ttb__conn *c, ttb__net_event *out);

/* State, and (when buf non-NULL) the last connection error ("" after a
 * successful connect), truncated to cap. Any thread. */
ttb_conn_state ttb__conn_state(ttb__conn *c, char *buf, size_t cap);

/* The TTB_ERR_* code of the last failure (0 when none): AUTH, EXPIRED or
 * REVOKED after the server refused the token, NETWORK otherwise. */
int ttb__conn_last_error_code(ttb__conn *c);

/* Counters snapshot. Any thread. */
void ttb__conn_get_stats(ttb__conn *c, ttb__conn_stats *out);

/* ---- for tests: drive the protocol without the thread ----
 * One iteration of the network loop: due connects, timeouts, pings,
 * settings, then ops->service(min(max_wait_ms, next deadline)). Call only
 * when not started. ttb__conn_begin arms the first connect (as start does). */
void ttb__conn_begin(ttb__conn *c);
void ttb__conn_tick(ttb__conn *c, int max_wait_ms);

/* Backoff delay of retry number `attempt` (0, 1, 2 …) before jitter:
 * min(500 ms * 2^attempt, 30 s); with jitter r (a uniform 32-bit random)
 * the delay is in [d/2, d]. */
uint32_t ttb__backoff_base_ms(unsigned attempt);
uint32_t ttb__backoff_ms(unsigned attempt, uint32_t r);

/* Maps a WS close code / refused-upgrade status to what the loop does:
 * returns 0 to reconnect, or the TTB_ERR_* that stops it (4001 / 401 ->
 * AUTH, 4003 / 403 -> REVOKED, or EXPIRED when the server's last
 * StreamError said "expired"). */
int ttb__close_disposition(int ws_code, int http_status, const char *last_stream_error);

#ifdef __cplusplus
}
#endif

#endif /* TTB_NET_NET_H */
