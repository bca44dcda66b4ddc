/*
 * The speech worker's wire protocol (schema/ttboost/worker/tts_worker.proto: TtsJob,
 * TtsOutput): length-delimited protobuf messages on a byte stream. Used by
 * the server (tts.c) and by ttboost-tts-worker.
 */
#ifndef TTB_SERVER_TTSP_H
#define TTB_SERVER_TTSP_H

#include <stddef.h>
#include <stdint.h>

/* The largest message either side accepts (a TtsOutput of 256 KiB of Ogg
 * plus its packets). */
#define TTB_TTSP_MAX_MSG (1024u * 1024u)

/* Finds the next whole message in buf[0..len): 1 with *msg and *msg_len set and
 * *used the bytes it took (prefix + message); 0 when more bytes are needed;
 * -1 when the stream is malformed (a bad prefix, or a message longer than
 * max) with *why saying so. Never reads past len. */
int ttb_ttsp_next(const uint8_t *buf, size_t len, size_t max, const uint8_t **msg, size_t *msg_len,
                  size_t *used, const char **why);

/* Writes the varint prefix of a message of n bytes into out[10]; returns its length. */
size_t ttb_ttsp_prefix(size_t n, uint8_t out[10]);

/* A reader of framed messages from a blocking descriptor (the worker's stdin).
 * Start it with TTB_TTSP_READER_INIT(fd); it owns its buffer until
 * ttb_ttsp_reader_free. */
typedef struct {
  int fd;
  uint8_t *buf;
  size_t len, cap, used; /* used: the bytes of the message last returned */
} ttb_ttsp_reader;
#define TTB_TTSP_READER_INIT(f) \
  {                             \
    .fd = (f)                   \
  }

/* Reads the next whole message (at most TTB_TTSP_MAX_MSG bytes): 1 with *msg and
 * *msg_len set, valid until the next call; 0 when the stream ended (EOF, also in
 * the middle of a message); -1 with *why set on a malformed stream, a read error
 * or no memory. */
int ttb_ttsp_read(ttb_ttsp_reader *r, const uint8_t **msg, size_t *msg_len, const char **why);
/* Reads the next job (a TtsJob with a job id): 1 with *job (the caller frees it
 * with ttboost__worker__tts_job__free_unpacked) and, when raw is not NULL, its
 * encoded bytes in *raw, *raw_len (valid until the next read); 0 when the
 * stream ended; -1 with *why set on a malformed stream or job. */
struct Ttboost__Worker__TtsJob;
int ttb_ttsp_read_job(ttb_ttsp_reader *r, struct Ttboost__Worker__TtsJob **job, const uint8_t **raw,
                      size_t *raw_len, const char **why);
/* Frees the reader's buffer (not its descriptor). */
void ttb_ttsp_reader_free(ttb_ttsp_reader *r);

/* Writes all n bytes to fd (a blocking descriptor; retried on EINTR and
 * short writes). 0, or -1 with errno set. */
int ttb_ttsp_write_all(int fd, const uint8_t *p, size_t n);
/* Writes one message framed (its prefix, then its n bytes) to fd. 0 or -1. */
int ttb_ttsp_write_msg(int fd, const uint8_t *msg, size_t n);

#endif
