/* Helpers shared by the replay tools. */
#ifndef TTB_REPLAY_COMMON_H
#define TTB_REPLAY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttboost/v1/trace.pb-c.h"

/* "chat", "gift", "audio", "hello", "error", "pong" or "none". */
const char *ttb_sm_kind(const Ttboost__V1__ServerMessage *m);
/* "chat", "gift" or "none". */
const char *ttb_ingest_kind(const Ttboost__V1__IngestEvent *e);
/* "ingest", "server", "client", "tiktok" or "unspecified". */
const char *ttb_direction_name(Ttboost__V1__Direction d);

/* A ServerMessage from a text (JSON) or binary (protobuf) frame; NULL with
 * err set (free with ttboost__v1__server_message__free_unpacked). *unknown is
 * set when a JSON message names a type this schema lacks (skip it). */
Ttboost__V1__ServerMessage *ttb_sm_decode(int opcode, const uint8_t *data, size_t len,
                                          bool *unknown, char *err, size_t errlen);

/* Monotonic microseconds. */
uint64_t ttb_mono_us(void);

/* Sleeps up to us microseconds (returns early on a signal). */
void ttb_sleep_us(uint64_t us);

/* Formats a message into err[errlen] (nothing when err is NULL). */
void ttb_set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Parses a positive decimal or decimal fraction ("2", "0.5"); false when invalid. */
bool ttb_parse_double(const char *s, double *out);
bool ttb_parse_u64(const char *s, uint64_t *out);

/* The pace options both replay modes take: "--speed N" (N times the recorded
 * pace, 0.001..1e6) and "--max". Looks at argv[*i]: returns 1 when it was one
 * of them (*i moved past its value), 0 when not, -1 after printing why the
 * value is bad. Call ttb_pace_check() after the loop. */
typedef struct ttb_pace {
  double speed; /* 1 unless --speed */
  bool speed_set;
  bool max;
} ttb_pace;
int ttb_pace_opt(ttb_pace *p, int argc, char **argv, int *i);
/* 0, or -1 after printing that --speed and --max exclude each other. */
int ttb_pace_check(const ttb_pace *p);

#endif
