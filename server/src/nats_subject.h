/*
 * The NATS subject of a channel (nats.h): "ttb.ev." + the channel's user_id,
 * every byte outside [A-Za-z0-9_-] written %XX, so that an id is always one
 * subject token (no '.', '*', '>' or space in it); and the reconnect backoff
 * the server and the speech worker give libnats. No NATS library needed
 * (tests/fuzz builds it alone).
 */
#ifndef TTB_SERVER_NATS_SUBJECT_H
#define TTB_SERVER_NATS_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#define TTB_NATS_SUBJECT_PREFIX "ttb.ev."

/* The wait before reconnect attempt `attempts` (1, 2, ...), in ms: 100 ms
 * doubling up to 2 s, then jittered into its upper half by rnd (any
 * random number). */
int64_t ttb_nats_backoff_ms(int attempts, unsigned rnd);

/* Writes the subject of channel into out (NUL-terminated). -1 when the
 * channel is "" or the subject does not fit in cap. */
int ttb_nats_subject(const char *channel, char *out, size_t cap);

/* The reverse: the channel of a subject into out. -1 when it is not one of
 * ours (wrong prefix, nothing after it, a bad %XX or %00, a '.', '*' or
 * '>', or too long for cap). */
int ttb_nats_channel_of(const char *subject, char *out, size_t cap);

#endif
