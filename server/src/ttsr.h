/*
 * The pieces of speech over NATS (ttboost-tts-worker --nats and --relay-nats,
 * docs/scaling.md) that need no NATS: checking a TtsOutput that came back for
 * a job, the message that ends a job that failed on the way, the hello that
 * stands in when no worker answers, and the backoff while all workers are
 * busy. Over NATS each TtsOutput is one message (no length prefix); towards
 * the server (tts.c) they are framed as in ttsp.h.
 */
#ifndef TTB_SERVER_TTSR_H
#define TTB_SERVER_TTSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default subject of the jobs, its queue group, and the hello
 * subject's suffix (subject + ".hello"). */
#define TTB_TTSR_SUBJECT "ttb.tts"
#define TTB_TTSR_QUEUE "ttb-tts-workers"
#define TTB_TTSR_HELLO_SUFFIX ".hello"

/* Checks msg[0..len) as a TtsOutput about job_id (a part of its speech):
 * 0 with *done set when it is the job's last; -1 with *why set when it is
 * malformed, a hello, or about another job. */
int ttb_ttsr_check(const uint8_t *msg, size_t len, uint64_t job_id, bool *done, const char **why);

/* Checks msg[0..len) as a hello (a TtsOutput with job_id 0 and a hello with a
 * sample rate): 0 or -1. */
int ttb_ttsr_check_hello(const uint8_t *msg, size_t len);

/* A TtsOutput that ends job_id as failed with error, framed (with the
 * ttsp.h prefix, for a byte stream) or not (one NATS message): malloc'd, the
 * caller frees it; *len its length. NULL when out of memory. */
uint8_t *ttb_ttsr_failure(uint64_t job_id, const char *error, bool framed, size_t *len);

/* A framed hello naming all n voices at sample_rate (the stand-in when no
 * worker answered): malloc'd, the caller frees it. NULL when out of memory. */
uint8_t *ttb_ttsr_hello(uint32_t sample_rate, const char *const *voices, size_t n, size_t *len);

/* The pause before the attempt-th new try (1, 2, ...) of a job no worker
 * took: 20 ms doubling up to 320 ms. */
uint32_t ttb_ttsr_retry_ms(unsigned attempt);

#endif
