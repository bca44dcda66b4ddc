/*
 * TikTok LIVE's webcast protocol, the pure half (docs/tiktok.md): URLs, the
 * ttwid cookie, the room lookup's JSON, and the push socket's frames
 * (schema/tiktok/webcast.proto) both ways. No threads, no I/O, no globals:
 * tiktok.c does the networking, the tests and the fuzz targets call these
 * directly. Every input is untrusted; errors are values.
 */
#ifndef TTB_SERVER_WEBCAST_H
#define TTB_SERVER_WEBCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTB_WEBCAST_ROOM_MAX 24    /* a room id as decimal text, with NUL */
#define TTB_WEBCAST_TTWID_MAX 1024 /* the cookie's value, with NUL */
#define TTB_WEBCAST_URL_MAX 2048
#define TTB_WEBCAST_MSG_MAX (1u << 20)     /* a received WebSocket message */
#define TTB_WEBCAST_INFLATE_MAX (4u << 20) /* a gzip payload once inflated */
#define TTB_WEBCAST_USER_MAX 128           /* bytes of a user name (as IngestEvent) */
#define TTB_WEBCAST_TEXT_MAX 1024          /* bytes of a chat message */
#define TTB_WEBCAST_GIFT_MAX 128           /* bytes of a gift name */
#define TTB_WEBCAST_KEY_MAX 64             /* a streak key, with NUL */

/* ---------------------------------------------------------------- URLs */

/* The room lookup: {web}/api-live/user/room?...&uniqueId=<handle>&...
 * (handle without the @). 0, or -1 when it does not fit in cap. */
int ttb_webcast_lookup_url(const char *web, const char *handle, char *out, size_t cap);

/* The push socket: {ws}/webcast/im/ws_proxy/ws_reuse_supplement/?<the
 * browser's parameters>, URL-encoded, with room_id, tz_name and last_rtt.
 * 0, or -1 when it does not fit. */
int ttb_webcast_ws_url(const char *ws, const char *room_id, const char *tz_name, unsigned last_rtt,
                       char *out, size_t cap);

/* Percent-encodes s (all but A-Z a-z 0-9 - . _ ~) into out. 0, or -1 when it
 * does not fit. */
int ttb_webcast_urlencode(const char *s, char *out, size_t cap);

/* A decimal room id ("7301234567890123456") as a number: false unless 1..20
 * digits that fit in 64 bits. */
bool ttb_webcast_room_u64(const char *room_id, uint64_t *out);

/* ---------------------------------------------------------------- ttwid */

/* The ttwid of a Set-Cookie header's value ("ttwid=1|abc|...; Path=/; ..."):
 * the text after "ttwid=" up to the first ';', into out. false when the
 * value is not a ttwid cookie, is empty, does not fit, or holds bytes a
 * cookie may not (control characters, blanks, '"', ',', '\\'). */
bool ttb_webcast_ttwid(const char *value, size_t len, char *out, size_t cap);

/* As ttb_webcast_ttwid for a whole header line ("Set-Cookie: ttwid=...",
 * the name in any case, CR LF allowed at the end). */
bool ttb_webcast_ttwid_header(const char *line, size_t len, char *out, size_t cap);

/* ---------------------------------------------------------------- lookup */

typedef enum ttb_webcast_lookup_status {
  TTB_WEBCAST_LIVE = 0,     /* room_id holds the room */
  TTB_WEBCAST_NOT_LIVE,     /* the user exists and is not live (or the stream ended) */
  TTB_WEBCAST_NO_USER,      /* statusCode 19881007 */
  TTB_WEBCAST_BLOCKED,      /* HTTP 403/429, or an empty or non-JSON body */
  TTB_WEBCAST_LOOKUP_ERROR, /* any other failure: statusCode, HTTP status, shape */
} ttb_webcast_lookup_status;

typedef struct ttb_webcast_lookup {
  ttb_webcast_lookup_status status;
  char room_id[TTB_WEBCAST_ROOM_MAX]; /* "" unless LIVE */
  char message[160];                  /* why, for people and the log */
} ttb_webcast_lookup;

/* Reads a room lookup's reply (HTTP status, body of len bytes). Never fails:
 * every outcome is a status with a message. */
void ttb_webcast_parse_lookup(long http_status, const char *body, size_t len,
                              ttb_webcast_lookup *out);

/* ---------------------------------------------------------------- frames out */

/* Client frames, packed PushFrames in a malloc'd buffer with `head` spare
 * bytes in front (LWS_PRE for lws_write); *len is the frame's length
 * without them. NULL when out of memory. */

/* payload_type "hb": Heartbeat{room_id}. */
uint8_t *ttb_webcast_heartbeat(uint64_t room_id, size_t head, size_t *len);
/* payload_type "im_enter_room": ImEnterRoom{room_id, live_id 12,
 * identity "audience", filter_welcome_msg "0"}. */
uint8_t *ttb_webcast_enter_room(uint64_t room_id, size_t head, size_t *len);
/* payload_type "ack", log_id echoed, payload = the FetchResult's internal_ext. */
uint8_t *ttb_webcast_ack(uint64_t log_id, const uint8_t *ext, size_t ext_len, size_t head,
                         size_t *len);

/* ---------------------------------------------------------------- frames in */

typedef enum ttb_webcast_kind {
  TTB_WEBCAST_CHAT = 0, /* user, text */
  TTB_WEBCAST_GIFT,     /* user, gift_name, gift_id, streak_key, count, repeat_* */
  TTB_WEBCAST_END,      /* control action 3: the stream ended */
  TTB_WEBCAST_CONTROL,  /* another control action (ignored) */
  TTB_WEBCAST_OTHER,    /* another method (counted, ignored) */
  TTB_WEBCAST_BAD,      /* a known method whose payload did not decode */
} ttb_webcast_kind;

typedef struct ttb_webcast_event {
  ttb_webcast_kind kind;
  uint64_t msg_id; /* Message.msg_id, else common.msg_id; 0 = none (never a duplicate) */
  /* Chat and gift: valid UTF-8 with no control characters, bounded as
   * IngestEvent's fields; "" when absent. Owned by the frame. */
  char *user;                           /* the nickname, else the unique id (handle) */
  char *text;                           /* chat: the comment */
  char *gift_name;                      /* gift: gift.name */
  uint64_t gift_id;                     /* gift: gift.id, else gift_id */
  char streak_key[TTB_WEBCAST_KEY_MAX]; /* gift: "<sender id>:<group id>" */
  uint32_t count;                       /* gift: 1 */
  uint32_t repeat_count; /* gift: the streak's running count, from 1 (0: not a streak) */
  bool repeat_end;       /* gift: the streak's last event */
  uint32_t diamonds;     /* gift: gift.diamond_count, one gift's value (0: unknown) */
} ttb_webcast_event;

typedef enum ttb_webcast_frame_type {
  TTB_WEBCAST_FRAME_MSG = 0,    /* a FetchResult: events, maybe an ack */
  TTB_WEBCAST_FRAME_ENTER_RESP, /* im_enter_room_resp (ignored) */
  TTB_WEBCAST_FRAME_HB,         /* hb (ignored) */
  TTB_WEBCAST_FRAME_OTHER,      /* any other payload_type (ignored) */
} ttb_webcast_frame_type;

typedef struct ttb_webcast_frame {
  ttb_webcast_frame_type type;
  uint64_t log_id;
  bool need_ack;    /* need_ack and a non-empty internal_ext: send ttb_webcast_ack */
  uint8_t *ack_ext; /* internal_ext's bytes (owned) */
  size_t ack_ext_len;
  ttb_webcast_event *events;
  size_t n_events;
} ttb_webcast_frame;

/* Decodes one received WebSocket message (a PushFrame): for "msg", inflates
 * a gzip payload (header compress_type "gzip", or bytes 1f 8b; at most
 * TTB_WEBCAST_INFLATE_MAX), reads the FetchResult and maps each message.
 * 0, or -1 with a message in err (garbage, a bad gzip stream, an oversize
 * payload, out of memory); *out is then empty. Free with
 * ttb_webcast_frame_free either way. */
int ttb_webcast_decode(const uint8_t *buf, size_t len, ttb_webcast_frame *out, char *err,
                       size_t errlen);
/* Frees what a decode allocated, and empties f. */
void ttb_webcast_frame_free(ttb_webcast_frame *f);

/* Inflates a gzip stream into a malloc'd buffer of at most max bytes. 0, or
 * -1 (corrupt, truncated, larger than max, out of memory) with err. */
int ttb_webcast_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len,
                       char *err, size_t errlen);

/* ---------------------------------------------------------------- dedup */

/* The last `window` msg_ids a channel saw (a ring, and an open-addressing
 * set over it): TikTok re-sends recent messages after a reconnect. */
typedef struct ttb_webcast_dedup ttb_webcast_dedup;

/* NULL when out of memory. window 0 means 4096. */
ttb_webcast_dedup *ttb_webcast_dedup_new(size_t window);
void ttb_webcast_dedup_free(ttb_webcast_dedup *d);
/* true when id is among the remembered ones (a duplicate); else remembers
 * it, forgetting the oldest when full, and returns false. id 0 is never a
 * duplicate and is not remembered. */
bool ttb_webcast_dedup_check(ttb_webcast_dedup *d, uint64_t id);

#endif
