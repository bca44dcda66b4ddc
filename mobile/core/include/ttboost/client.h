/*
 * ttboost/client.h — the public C API of libttboost-client (mobile/core).
 *
 * One small, portable C11 interface that the Flutter app (dart:ffi), an
 * Android JNI layer or Swift can call. It uses plain C types and fixed-size
 * structs only, and never calls back into foreign code: the caller pulls
 * events (ttb_client_poll_event) on its own timer and the platform audio
 * sink pulls PCM (ttb_client_render) on its own audio thread.
 *
 * General rules (they apply to every function below unless it says otherwise)
 * - Thread safety: a ttb_client may be used from any thread; calls are
 *   serialised by the client's internal lock and never hold it across network
 *   I/O, so a blocking ttb_client_login() on one thread does not stall
 *   ttb_client_poll_event() or ttb_client_render() on others.
 *   ttb_client_render() takes no lock that the network thread holds for long
 *   and is meant for exactly one audio thread at a time.
 *   ttb_client_poll_event() is single-consumer: one thread drains the queue.
 *   ttb_client_destroy() must not race with any other call on the same client
 *   (stop the audio sink first).
 * - Strings passed in are UTF-8, NUL-terminated, borrowed for the duration of
 *   the call only (the client copies what it keeps). Strings returned as
 *   `const char *` are owned by the library; never free them.
 * - Functions returning `int` return TTB_OK (0) on success or a negative
 *   TTB_ERR_* code; on failure ttb_client_last_error() holds a message.
 * - A NULL client or NULL required pointer gives TTB_ERR_INVALID (functions
 *   returning void/size_t/bool do nothing and return 0/false instead).
 * - The client never calls exit/abort on bad input and never prints; all
 *   diagnostics go to ttb_client_last_error() and TTB_EVENT_ERROR events.
 */
#ifndef TTBOOST_CLIENT_H
#define TTBOOST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Symbol visibility: the library is built with -fvisibility=hidden and
 * exports exactly the functions marked TTB_EXPORT (the dart:ffi symbol set). */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(TTB_BUILDING_LIBRARY)
#define TTB_EXPORT __declspec(dllexport)
#else
#define TTB_EXPORT __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define TTB_EXPORT __attribute__((visibility("default")))
#else
#define TTB_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this API; bumped on any change to a struct layout or prototype,
 * and when something new can come out of it (2: the TikTok side —
 * TTB_EVENT_TIKTOK, ttb_tiktok_status and its functions; 3: the app may keep
 * the token itself — ttb_client_set_token, ttb_client_get_token; 4: the
 * channel settings and the streamer's sounds — TTB_EVENT_CHANNEL,
 * ttb_client_channel_settings_json and the functions after it). */
#define TTB_CLIENT_API_VERSION 4

/* Sizes of the fixed text buffers in ttb_event, including the final NUL.
 * They equal the schema's max_length (128 and 1024 bytes of UTF-8) + 1. */
#define TTB_EVENT_USER_SIZE 129
#define TTB_EVENT_TEXT_SIZE 1025

/* Defaults applied when ttb_client_config leaves a field 0. */
#define TTB_DEFAULT_SAMPLE_RATE 48000
#define TTB_DEFAULT_CHANNELS 2

/* The opaque client. Created by ttb_client_create, freed by ttb_client_destroy. */
typedef struct ttb_client ttb_client;

/* Error codes. Every failing call returns one of these (all negative).
 * The HTTP/WS mapping is the one of docs/protocol: 400 -> INVALID,
 * 401 -> AUTH, 403 "expired" -> EXPIRED, 403 "revoked" -> REVOKED,
 * 403 "device_limit" -> DEVICE_LIMIT, 429 -> RATE_LIMITED. */
enum {
  TTB_OK = 0,                 /* success */
  TTB_ERR_INVALID = -1,       /* bad argument (NULL, out of range, malformed key/URL) */
  TTB_ERR_NOMEM = -2,         /* allocation failed */
  TTB_ERR_IO = -3,            /* data_dir not readable/writable, disk full */
  TTB_ERR_NETWORK = -4,       /* DNS, TCP, TLS or timeout: no usable network path */
  TTB_ERR_PROTOCOL = -5,      /* the server answered something this client cannot parse */
  TTB_ERR_AUTH = -6,          /* unknown license key, or the ws token was refused */
  TTB_ERR_EXPIRED = -7,       /* the license has expired */
  TTB_ERR_REVOKED = -8,       /* the license was revoked by the operator */
  TTB_ERR_RATE_LIMITED = -9,  /* too many login attempts; try again later */
  TTB_ERR_DEVICE_LIMIT = -10, /* the license is already used on its maximum of devices */
  TTB_ERR_STATE = -11,        /* call not valid now (e.g. start without a token) */
  TTB_ERR_CORRUPT = -12       /* a persisted file (token, settings) is damaged */
};

/* Static English name/description of a TTB_OK/TTB_ERR_* code, e.g.
 * "license expired"; never NULL ("unknown error" for other values). Any thread. */
TTB_EXPORT const char *ttb_strerror(int code);

/* Client configuration; read only during ttb_client_create (strings copied).
 * server_url: "https://host[:port]" or "http://host[:port]" (no trailing path);
 *   the socket URL is derived from it: ws(s)://host[:port]/ws/{ws_token}.
 * data_dir: existing writable directory where the client keeps its token and
 *   settings files (created/replaced atomically; nothing else is written).
 * device_id: stable per-install identifier sent with login, or NULL/"" for none.
 * sample_rate: output rate of ttb_client_render, 8000..192000; 0 = 48000.
 * channels: 1 (mono) or 2 (interleaved stereo); 0 = 2. */
typedef struct {
  const char *server_url;
  const char *data_dir;
  const char *device_id;
  uint32_t sample_rate;
  uint32_t channels;
} ttb_client_config;

/* Creates a client: validates cfg, loads the token and settings from data_dir
 * (a damaged file is ignored and reported as TTB_ERR_CORRUPT in last_error,
 * but creation succeeds with defaults). Starts no thread and no I/O on the
 * network. On success *out owns a new client; on failure *out is set to NULL
 * and the code is TTB_ERR_INVALID (bad cfg), TTB_ERR_IO or TTB_ERR_NOMEM. */
TTB_EXPORT int ttb_client_create(const ttb_client_config *cfg, ttb_client **out);

/* Stops the network thread (as ttb_client_stop), frees the client and every
 * string it handed out. NULL is a no-op. The audio sink must be stopped first. */
TTB_EXPORT void ttb_client_destroy(ttb_client *c);

/* Human-readable English message of the last failure on this client (""
 * when none). Owned by the client; valid until the next failing call on it,
 * so copy it at once. A NULL client gives a static string. */
TTB_EXPORT const char *ttb_client_last_error(const ttb_client *c);

/* Blocking HTTPS POST /auth/login with license_key (and device_id). Returns
 * within 20 s. On success stores the ws token in data_dir and returns TTB_OK;
 * otherwise TTB_ERR_AUTH/EXPIRED/REVOKED/DEVICE_LIMIT/RATE_LIMITED (server
 * said no), NETWORK, PROTOCOL, IO, or STATE if the client is started.
 * Call it off the UI thread (e.g. a helper isolate). */
TTB_EXPORT int ttb_client_login(ttb_client *c, const char *license_key);

/* True when a ws token is stored (login succeeded earlier and no logout or
 * AUTH/EXPIRED/REVOKED refusal has removed it since). Never blocks on I/O. */
TTB_EXPORT bool ttb_client_has_token(const ttb_client *c);

/* Stops the network thread if running, deletes the stored token and clears
 * the event queue and recent log; settings are kept. TTB_OK even when there
 * was no token; TTB_ERR_IO if the token file cannot be removed. */
TTB_EXPORT int ttb_client_logout(ttb_client *c);

/* The ws token in the app's keeping. By default the client keeps the token
 * in data_dir/session.conf, a plain file. An app that keeps secrets in the
 * platform's secure storage (Android Keystore, iOS Keychain) calls
 * ttb_client_set_token once, right after ttb_client_create, with the token
 * it stored (or "" when it has none): from then on the client never reads or
 * writes session.conf (it deletes one left from before) and holds the token
 * in memory only. After a successful ttb_client_login the app reads the new
 * token with ttb_client_get_token and stores it; when ttb_client_has_token
 * turns false (logout, or the server refused the token) it deletes its copy.
 * Size of a token including the final NUL: */
#define TTB_TOKEN_SIZE 129

/* Hands the client the ws token the app keeps (NULL or "" = none) and makes
 * the app its keeper (above). TTB_ERR_INVALID when the token is not 1..128
 * characters of [A-Za-z0-9._-] (nothing changes), TTB_ERR_STATE while started,
 * TTB_ERR_IO when an old session.conf cannot be removed. The token is a
 * secret: the client never logs it. */
TTB_EXPORT int ttb_client_set_token(ttb_client *c, const char *token);

/* Copies the current ws token, NUL-terminated, into out[0..cap): TTB_OK;
 * TTB_ERR_STATE when there is none; TTB_ERR_INVALID when out is NULL or cap
 * is too small (TTB_TOKEN_SIZE always fits). Never blocks on I/O. */
TTB_EXPORT int ttb_client_get_token(const ttb_client *c, char *out, size_t cap);

/* Starts the background network thread: connect to /ws/{token}, keep alive
 * with pings, reconnect with exponential backoff (0.5 s .. 30 s, jitter) and
 * resume with ?since=<last seq>: nothing is repeated, and nothing is lost that
 * the server still holds (each channel's last events, kept across server
 * restarts); events it no longer holds are reported as one TTB_EVENT_MISSED
 * saying how many. Idempotent
 * (TTB_OK when already started). TTB_ERR_STATE when there is no token.
 * If the server refuses the token (AUTH/EXPIRED/REVOKED) the thread emits a
 * TTB_EVENT_ERROR, deletes the token and stops retrying (state DISCONNECTED). */
TTB_EXPORT int ttb_client_start(ttb_client *c);

/* Stops the network thread (closes the socket, joins the thread within 2 s)
 * and silences audio already queued. Idempotent: TTB_OK when not started. */
TTB_EXPORT int ttb_client_stop(ttb_client *c);

/* The network changed (Wi-Fi <-> mobile, app resumed): drop the current socket
 * and reconnect at once, resetting the backoff. Non-blocking. TTB_ERR_STATE
 * when the client is not started. */
TTB_EXPORT int ttb_client_reconnect_now(ttb_client *c);

/* Connection state of the network thread. */
typedef enum {
  TTB_STATE_DISCONNECTED = 0, /* not started, stopped, or gave up (token refused) */
  TTB_STATE_CONNECTING = 1,   /* first connection attempt after start */
  TTB_STATE_CONNECTED = 2,    /* socket open, hello received */
  TTB_STATE_RECONNECTING = 3  /* lost the connection; waiting for backoff / retrying */
} ttb_conn_state;

/* Current connection state. If last_error is non-NULL, copies (truncated,
 * always NUL-terminated when last_error_len > 0) the message of the last
 * connection failure, or "" when the last attempt succeeded. Non-blocking.
 * A NULL client gives TTB_STATE_DISCONNECTED. */
TTB_EXPORT ttb_conn_state ttb_client_state(const ttb_client *c, char *last_error,
                                           size_t last_error_len);

/* User settings. Volumes are linear gains 0.0 .. 1.0.
 * Defaults: tts on 1.0, gifts on 1.0, profanity_filter on, notifications on,
 * auto_start_tts on, binary_mode off (JSON frames).
 * tts_enabled/gifts_enabled: read chat aloud / play gift sounds (when off,
 *   events still arrive and are logged; their audio counts as skipped).
 * profanity_filter: chat containing listed words is not read aloud; its event
 *   has filtered = true and the words masked with '*' in text.
 * notifications: stored for the app only (the core shows none).
 * auto_start_tts: ttb_client_start() turns tts_enabled on (and persists it).
 * binary_mode: protobuf frames with streamed Opus audio (subprotocol
 *   ttboost.v1.proto) instead of JSON; applied by reconnecting. */
typedef struct {
  bool tts_enabled;
  float tts_volume;
  bool gifts_enabled;
  float gifts_volume;
  bool profanity_filter;
  bool notifications;
  bool auto_start_tts;
  bool binary_mode;
} ttb_settings;

/* Copies the current settings into *out. Non-blocking; NULL out is a no-op. */
TTB_EXPORT void ttb_client_get_settings(const ttb_client *c, ttb_settings *out);

/* Validates s (volumes finite and within 0..1, else TTB_ERR_INVALID and
 * nothing changes), persists it atomically in data_dir (TTB_ERR_IO on
 * failure; the live settings are then left unchanged) and applies it at once:
 * volumes and on/off to audio already playing, binary_mode by a reconnect. */
TTB_EXPORT int ttb_client_set_settings(ttb_client *c, const ttb_settings *s);

/* Counters since ttb_client_create (reconnects and uptime since the last
 * ttb_client_start). chat_messages/gifts: events received; gift_count: sum
 * of gift counts; played: clips played to the end; skipped: clips not played
 * (disabled, or dropped because the queue was full: at most 8 chats wait
 * behind the one speaking, one more drops the oldest waiting one whose
 * speech was not fetched yet; speech is fetched only for the chat about to
 * speak and the next one, so a dropped chat costs no download — see
 * mobile/core/README.md, "Which speech is fetched"); filtered: chat caught by
 * the profanity filter; reconnects: successful reconnections after a loss;
 * uptime_ms: time spent CONNECTED. */
typedef struct {
  uint64_t chat_messages;
  uint64_t gifts;
  uint64_t gift_count;
  uint64_t played;
  uint64_t skipped;
  uint64_t filtered;
  uint64_t reconnects;
  uint64_t uptime_ms;
} ttb_stats;

/* Copies the counters into *out (a consistent snapshot). Non-blocking;
 * NULL out is a no-op; NULL client fills zeros. */
TTB_EXPORT void ttb_client_get_stats(const ttb_client *c, ttb_stats *out);

/* Kinds of ttb_event. */
typedef enum {
  TTB_EVENT_CHAT = 1,   /* user = author, text = message (masked if filtered) */
  TTB_EVENT_GIFT = 2,   /* user = sender ("" if unknown), text = gift name, count = how many */
  TTB_EVENT_STATE = 3,  /* count = new ttb_conn_state, text = short reason ("" if none) */
  TTB_EVENT_ERROR = 4,  /* count = -code of a TTB_ERR_* (e.g. 7 for EXPIRED), text = message */
  TTB_EVENT_TIKTOK = 5, /* the TikTok side changed: count = new ttb_tiktok_state, user = the
                            handle ("" if none), text = the server's message ("" if none);
                            the room id: ttb_client_tiktok_status. Not in the recent log. */
  TTB_EVENT_MISSED = 6, /* a reconnect could not resume: events were lost for good (older
                            than the server's history, or its numbering was lost). count =
                            how many (0: not known), text = "N events were missed ..." */
  TTB_EVENT_CHANNEL = 7 /* the channel settings (ttb_client_channel_settings_json): count = 0
                            when a new copy came from the server (fetched or saved); else
                            count = -code of the TTB_ERR_* of a fetch or save that failed and
                            text = why (the server's own message for a refused value).
                            Not in the recent log. */
} ttb_event_kind;

/* One event, fixed size, copied out by value (no pointers to free).
 * kind: a ttb_event_kind. seq: the server's per-channel sequence number
 * (0 for local STATE/ERROR events). time_ms: Unix time in ms when received.
 * count: see ttb_event_kind (0 when unused). filtered: caught by the
 * profanity filter (CHAT only). user/text: UTF-8, NUL-terminated, truncated
 * on a code-point boundary to fit. */
typedef struct {
  int32_t kind;
  uint64_t seq;
  int64_t time_ms;
  uint32_t count;
  bool filtered;
  char user[TTB_EVENT_USER_SIZE];
  char text[TTB_EVENT_TEXT_SIZE];
} ttb_event;

/* Pops the oldest pending event into *out: returns 1 when one was copied, 0
 * when the queue is empty (or c/out is NULL). Non-blocking; meant for the UI
 * thread on a timer (e.g. every 100 ms). The queue holds 256 events; on
 * overflow the oldest are dropped and a TTB_EVENT_ERROR says how many. */
TTB_EXPORT int ttb_client_poll_event(ttb_client *c, ttb_event *out);

/* Copies up to max of the most recent CHAT/GIFT/ERROR/MISSED events, newest first,
 * into out[0..n) and returns n (the log keeps at least the last 64; the app
 * shows 5). Independent of poll_event: reading the log consumes nothing. */
TTB_EXPORT size_t ttb_client_recent_events(const ttb_client *c, ttb_event *out, size_t max);

/* ---------------------------------------------------------------- TikTok LIVE
 * The server itself listens to the streamer's TikTok LIVE (the license's
 * TikTok @username) while a device of the license is connected, and tells
 * every socket how that goes with a `status` message (JSON or protobuf). The
 * client keeps the latest one: ttb_client_tiktok_status reads it, and each
 * change is queued as a TTB_EVENT_TIKTOK, so the app can show
 * "connected to server · TikTok LIVE: live". */

/* State of the server's connection to the TikTok LIVE. */
typedef enum {
  TTB_TIKTOK_UNKNOWN = 0,    /* nothing heard yet (or a state this client does not know) */
  TTB_TIKTOK_OFF = 1,        /* no handle set, or the server's connector is off */
  TTB_TIKTOK_WAITING = 2,    /* the user is not live; the server looks again periodically */
  TTB_TIKTOK_CONNECTING = 3, /* live: the server is joining the room */
  TTB_TIKTOK_LIVE = 4,       /* joined: chat and gifts flow */
  TTB_TIKTOK_ENDED = 5,      /* the stream just ended */
  TTB_TIKTOK_ERROR = 6       /* something failed: see message */
} ttb_tiktok_state;

/* Sizes of the ttb_tiktok_status text fields, including the final NUL
 * (the schema's max_length 32, 24 and 256 bytes of UTF-8, + 1). */
#define TTB_TIKTOK_USERNAME_SIZE 33
#define TTB_TIKTOK_ROOM_ID_SIZE 25
#define TTB_TIKTOK_MESSAGE_SIZE 257

/* The TikTok side as the server last described it. state: a ttb_tiktok_state.
 * username: the handle watched, without the @ ("" = none). room_id: TikTok's
 * room id as decimal text ("" when not live). message: the server's words for
 * a person (why "error", why "waiting"), or "". All NUL-terminated UTF-8. */
typedef struct {
  int32_t state;
  char username[TTB_TIKTOK_USERNAME_SIZE];
  char room_id[TTB_TIKTOK_ROOM_ID_SIZE];
  char message[TTB_TIKTOK_MESSAGE_SIZE];
} ttb_tiktok_status;

/* Static lower-case name of a ttb_tiktok_state, as the server spells it
 * ("off", "waiting", "connecting", "live", "ended", "error"); "unknown" for
 * TTB_TIKTOK_UNKNOWN and any other value. Never NULL. Any thread. */
TTB_EXPORT const char *ttb_tiktok_state_name(int32_t state);

/* The latest TikTok status (from the socket, or from the last successful
 * ttb_client_set_tiktok / ttb_client_get_tiktok, whichever came last) copied
 * into *out when out is non-NULL; returns its state. TTB_TIKTOK_UNKNOWN (and
 * empty strings) before anything was heard, after logout, or for a NULL
 * client. Non-blocking. */
TTB_EXPORT ttb_tiktok_state ttb_client_tiktok_status(const ttb_client *c, ttb_tiktok_status *out);

/* Blocking HTTPS PUT /me/tiktok {"username":…} with the stored ws token:
 * sets the license's TikTok handle on the server ("@name", "name" and
 * surrounding white space are all accepted; "" clears it). Returns within
 * 10 s. On success the server's answer (the handle as it keeps it and the
 * state) is copied into *out when non-NULL, kept as the latest status (a
 * TTB_EVENT_TIKTOK when it changed), and TTB_OK is returned. Otherwise:
 * TTB_ERR_INVALID when the server refused the handle (last_error holds the
 * server's own message, e.g. what characters a handle may have) or it is
 * not text / too long; TTB_ERR_STATE when not logged in; TTB_ERR_AUTH,
 * EXPIRED, REVOKED (the token was refused; it is kept: the socket's own
 * refusal removes it), RATE_LIMITED, NETWORK, PROTOCOL (including a server
 * too old to know /me/tiktok). Works started or not. Call it off the UI thread. */
TTB_EXPORT int ttb_client_set_tiktok(ttb_client *c, const char *username, ttb_tiktok_status *out);

/* Blocking HTTPS GET /me/tiktok: the handle and state the server has now,
 * into *out when non-NULL, kept as the latest status (as ttb_client_set_tiktok).
 * Returns within 10 s: TTB_OK, or STATE (not logged in), AUTH, EXPIRED,
 * REVOKED, RATE_LIMITED, NETWORK, PROTOCOL with last_error set. */
TTB_EXPORT int ttb_client_get_tiktok(ttb_client *c, ttb_tiktok_status *out);

/* ---------------------------------------------------------------- channel settings
 * The streamer's channel settings live on the server (ttboost.v1.ChannelSettings,
 * schema/ttboost/v1/settings.proto: what is read and how, pacing, voices,
 * words never read, gifts); they apply to every device of the license and
 * to the web app. The client exchanges them as the schema's JSON, e.g.
 * {"reading":{"command_prefix":"!tts"},"gifts":{"min_diamonds":5}}, where
 * a field left out is its default ({} is the server's defaults).
 * The client fetches them (GET /me/settings) each time its socket connects,
 * and on ttb_client_refresh_channel_settings; it keeps the last copy in
 * data_dir (channel.conf) so that the app can show them offline. Each new
 * copy, and each failed fetch or save, is queued as a TTB_EVENT_CHANNEL.
 * Logout forgets them (another license may log in next). */

/* Where the copy of ttb_client_channel_settings_json comes from. */
typedef enum {
  TTB_CHANNEL_DEFAULTS = 0, /* nothing known yet: "{}" (the server's defaults) */
  TTB_CHANNEL_SAVED = 1,    /* the copy kept in data_dir: maybe old (offline) */
  TTB_CHANNEL_SERVER = 2    /* fetched or saved since ttb_client_create */
} ttb_channel_source;

/* The largest channel-settings JSON the client keeps or sends, in bytes
 * without the final NUL (the schema's limits fit well below it). */
#define TTB_CHANNEL_JSON_MAX 98304

/* Copies the latest channel settings (compact JSON in the schema's format,
 * NUL-terminated) into out[0..cap) and, when len is non-NULL, their length
 * without the NUL into *len. TTB_OK; TTB_ERR_INVALID when out is NULL or cap
 * is too small (*len still says the length needed; TTB_CHANNEL_JSON_MAX + 1
 * always fits). Never blocks on I/O. If source is non-NULL it receives a
 * ttb_channel_source. A const call: last_error is not set. */
TTB_EXPORT int ttb_client_channel_settings_json(const ttb_client *c, char *out, size_t cap,
                                                size_t *len, int32_t *source);

/* Blocking HTTPS GET /me/settings with the ws token: keeps (and persists)
 * the answer and queues a TTB_EVENT_CHANNEL (count 0) when it differs from
 * the copy held. Returns within 10 s: TTB_OK, or STATE (not logged in),
 * AUTH, EXPIRED, REVOKED, RATE_LIMITED, NETWORK, PROTOCOL (an answer that
 * does not decode, or a server too old to know /me/settings) with
 * last_error set and a TTB_EVENT_CHANNEL with count = -code. Works started
 * or not. The copy held is kept on failure. Call it off the UI thread. */
TTB_EXPORT int ttb_client_refresh_channel_settings(ttb_client *c);

/* Replaces the channel settings: json is a whole ChannelSettings document
 * (PUT replaces everything: start from ttb_client_channel_settings_json and
 * change what the streamer changed; updated_ms is ignored). The client
 * checks it first with the schema's decoder (syntax, types, lengths,
 * counts): TTB_ERR_INVALID with the reason in last_error, nothing sent.
 * Then a blocking HTTPS PUT /me/settings (within 10 s): on success the
 * server's answer (the document as stored) becomes the copy held and
 * persisted, a TTB_EVENT_CHANNEL (count 0) is queued and TTB_OK returned.
 * A value the server refuses (HTTP 400) gives TTB_ERR_INVALID with the
 * server's message (which names the field, e.g. "reading.text_template
 * must contain {message}") in last_error and in a TTB_EVENT_CHANNEL's text;
 * STATE (not logged in), AUTH, EXPIRED, REVOKED, RATE_LIMITED, NETWORK,
 * PROTOCOL likewise. The copy held does not change on failure. Works
 * started or not; call it off the UI thread. */
TTB_EXPORT int ttb_client_set_channel_settings_json(ttb_client *c, const char *json);

/* The streamer's own gift sounds (POST, GET and DELETE /me/sounds). A sound
 * is named in the gift settings by its id ("u-12"), the JSON of
 * ttboost.v1.UserSound: {"id":"u-12","name":"Horn","duration_ms":1800,
 * "url":"https://…/sounds/u-12.ogg"}. */

/* The largest sound file accepted for upload, in bytes (the server's limit: 2 MiB). */
#define TTB_SOUND_UPLOAD_MAX 2097152

/* Blocking HTTPS POST /me/sounds?name=<name> with the file's bytes
 * data[0..len) (borrowed for the call): Ogg Opus, WAV or MP3, which the
 * server converts and checks (at most 10 s). content_type: "audio/ogg",
 * "audio/wav" or "audio/mpeg", or NULL to tell from the bytes ("OggS",
 * "RIFF…WAVE", "ID3" or an MPEG frame sync). name: UTF-8, 1..64 bytes, or
 * NULL for the server's default. On success the answer (a UserSound's JSON)
 * is copied into out[0..cap) when out is non-NULL (too small a cap: the
 * answer is cut, still TTB_OK; 1024 always fits) and TTB_OK returned.
 * TTB_ERR_INVALID: empty or over TTB_SOUND_UPLOAD_MAX, an unknown kind of
 * file, a bad name (nothing sent), or the server refused it (400/413/415:
 * its message in last_error, e.g. "longer than 10 s"); STATE, AUTH,
 * EXPIRED, REVOKED, RATE_LIMITED (too many uploads), NETWORK, PROTOCOL as
 * above. Returns within 30 s; call it off the UI thread. */
TTB_EXPORT int ttb_client_upload_sound(ttb_client *c, const char *name, const char *content_type,
                                       const uint8_t *data, size_t len, char *out, size_t cap);

/* Blocking HTTPS GET /me/sounds: the JSON of ttboost.v1.UserSoundList
 * ({"sounds":[…]}, at most 64) copied into out[0..cap), its length into
 * *len when non-NULL. TTB_OK; TTB_ERR_INVALID when out is NULL or cap is
 * too small (*len says what is needed; 65536 always fits); the others as
 * ttb_client_refresh_channel_settings. Within 10 s; off the UI thread. */
TTB_EXPORT int ttb_client_list_sounds_json(ttb_client *c, char *out, size_t cap, size_t *len);

/* Blocking HTTPS DELETE /me/sounds {"id":…}: deletes one of the streamer's
 * sounds (gift overrides naming it fall back to the catalogue on the
 * server). TTB_OK; TTB_ERR_INVALID for a malformed id (nothing sent) or one
 * the server does not know (its message in last_error); the others as
 * ttb_client_refresh_channel_settings. Within 10 s; off the UI thread. */
TTB_EXPORT int ttb_client_delete_sound(ttb_client *c, const char *id);

/* Pulls audio: writes `frames` interleaved int16 frames (frames * channels
 * samples) of the mixed TTS voice and gift sounds at the configured rate,
 * silence when idle, and returns the number of frames written (== frames; 0
 * only if c or pcm is NULL). Called from the platform audio thread: never
 * blocks on a lock held by I/O, never allocates, never does I/O. */
TTB_EXPORT size_t ttb_client_render(ttb_client *c, int16_t *pcm, size_t frames);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TTBOOST_CLIENT_H */
