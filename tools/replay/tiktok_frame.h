/*
 * TikTok push frames in traces (docs/replay.md): TiktokFrame records hold the
 * raw bytes of one WebSocket message from TikTok's webcast push socket (a
 * tiktok.webcast.PushFrame, schema/tiktok/webcast.proto), cut into chunks of
 * at most TTB_TF_CHUNK bytes, `more` set on all but the last. This module
 * joins and writes such chunks, inflates payloads and describes frames as
 * JSON for ttb-trace, ttb-replay --tiktok-serve and make-tiktok-trace.
 * Functions returning int return 0, or -1 with a message in err.
 */
#ifndef TTB_TIKTOK_FRAME_H
#define TTB_TIKTOK_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tiktok/webcast.pb-c.h"
#include "trace.h"

#define TTB_TF_CHUNK 61440u             /* the most bytes of a message in one record */
#define TTB_TF_MAX_MESSAGE (16u << 20)  /* a joined message larger than this is refused */
#define TTB_TF_MAX_INFLATED (16u << 20) /* an inflated payload larger than this is refused */

/* A growable string (the JSON descriptions). */
typedef struct ttb_sbuf {
  char *p;
  size_t len, cap;
  bool oom; /* an append failed: the contents are incomplete */
} ttb_sbuf;

/* Appends printf-style text (sets oom on failure). */
void ttb_sbuf_printf(ttb_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s as a JSON string literal, quotes included (invalid UTF-8 becomes U+FFFD). */
void ttb_sbuf_json_str(ttb_sbuf *b, const char *s, size_t len);
void ttb_sbuf_free(ttb_sbuf *b);

/* Joins the chunks of one message. Zero-initialise; ttb_tf_joiner_free at the end. */
typedef struct ttb_tf_joiner {
  uint8_t *buf;
  size_t len, cap;
  size_t chunks;    /* records in the message */
  uint64_t time_us; /* the first chunk's time */
  char room_id[32]; /* the first chunk's room */
  bool done;        /* the last add completed a message */
} ttb_tf_joiner;

/* Adds one TiktokFrame record. 1: a whole message is in buf/len (valid until
 * the next add), 0: more chunks are expected, -1: too large or out of memory
 * (the partial message is dropped). */
int ttb_tf_join(ttb_tf_joiner *j, const Ttboost__V1__TraceRecord *rec, char *err, size_t errlen);
/* True when chunks with `more` were added and their last one is missing. */
bool ttb_tf_join_pending(const ttb_tf_joiner *j);
void ttb_tf_joiner_free(ttb_tf_joiner *j);

/* Writes one message as DIRECTION_TIKTOK records of at most TTB_TF_CHUNK bytes
 * each (at least one record, even for an empty message). */
int ttb_tf_write(ttb_trace_writer *w, uint64_t time_us, const char *room_id, const uint8_t *msg,
                 size_t len, char *err, size_t errlen);

/* Inflates gzip or zlib data (detected from the header) into a malloc'd
 * buffer (free it) of at most max bytes. */
int ttb_tf_inflate(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *outlen,
                   char *err, size_t errlen);
/* Deflates into gzip (level 9, no name, mtime 0: the same bytes every run). */
int ttb_tf_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen, char *err,
                size_t errlen);

/* The value of the frame header named key (e.g. "compress_type"), or NULL. */
const char *ttb_tf_header(const Tiktok__Webcast__PushFrame *f, const char *key);
/* The frame's payload, inflated when compress_type is gzip or it starts 1f 8b:
 * *out points into f or to a malloc'd buffer that *owned says to free. */
int ttb_tf_payload(const Tiktok__Webcast__PushFrame *f, const uint8_t **out, size_t *outlen,
                   bool *gz, uint8_t **owned, char *err, size_t errlen);

/* Appends a JSON object describing one raw message: the PushFrame's fields, the
 * FetchResult of a "msg" frame and each message decoded by method (chat, gift,
 * control; others by name and size). Returns false when the bytes are not a
 * PushFrame ({"undecodable":"…","bytes":N}); parts that do not decode are
 * marked so inside the object. */
bool ttb_tf_describe(const uint8_t *msg, size_t len, ttb_sbuf *out);

/* Counts for ttb-trace stats. Zero-initialise; ttb_tf_stats_free at the end. */
typedef struct ttb_tf_stats {
  unsigned long messages, chunks, undecodable, bad_payload, gzip, plain, need_ack;
  unsigned long t_msg, t_enter, t_hb, t_other;
  unsigned long chat, gift, gift_single, gift_step, gift_end, control, control_end, other_method,
      bad_message, duplicates;
  unsigned long long payload_bytes, wire_bytes;
  int64_t *ids; /* msg_ids seen (open addressing, 0 = empty) */
  size_t n_ids, cap_ids;
} ttb_tf_stats;

/* Counts one raw message. -1 only when out of memory. */
int ttb_tf_stats_add(ttb_tf_stats *s, const uint8_t *msg, size_t len);
void ttb_tf_stats_free(ttb_tf_stats *s);

#endif
