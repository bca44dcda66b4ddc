/*
 * ttboost-tts-worker's parts (one program): the espeak-ng engine
 * (tts_worker_main.c) and its NATS modes (tts_worker_nats.c): a standalone
 * worker serving the queue group, and the relay a server's remote slot
 * speaks to (docs/scaling.md, "Speech across nodes").
 */
#ifndef TTB_SERVER_TTS_WORKER_H
#define TTB_SERVER_TTS_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttboost/worker/tts_worker.pb-c.h"

/* Takes one packed TtsOutput (no length prefix; valid during the call):
 * 0, or -1 when it could not be sent (the job then fails). */
typedef int (*ttb_tw_emit_fn)(void *ctx, const uint8_t *msg, size_t len);

/* Starts espeak-ng (once per process): its sample rate, or -1 (no data). */
int ttb_tw_engine_init(void);
/* The packed hello TtsOutput (job_id 0, the voices that load): malloc'd,
 * the caller frees it; NULL when out of memory. After ttb_tw_engine_init. */
uint8_t *ttb_tw_hello(size_t *len);
/* All the voices a hello may name (n of them; static). */
const char *const *ttb_tw_voices(size_t *n);
/* Makes job j, handing each TtsOutput to emit as espeak-ng produces it; the
 * last has done set (and error when it failed). */
void ttb_tw_run_job(const Ttboost__Worker__TtsJob *j, ttb_tw_emit_fn emit, void *ctx);

/* The NATS modes' options (strings borrowed from argv). */
typedef struct ttb_tw_opts {
  const char *url;     /* nats://HOST:PORT (a comma-separated list for a cluster) */
  const char *creds;   /* NULL: none */
  const char *tls_ca;  /* NULL: no TLS */
  const char *subject; /* the jobs' subject; hellos on subject + ".hello" */
  unsigned procs;      /* --nats: engines (processes) */
  uint32_t wait_ms;    /* --relay-nats: how long a job no worker takes is retried */
  uint32_t stall_ms;   /* --relay-nats: a worker silent this long has failed the job */
  uint32_t hello_ms;   /* --relay-nats: how long to wait for a worker's hello at start */
  bool verbose;        /* a line per job on stderr */
  bool child;          /* --nats under a server: hello on stdout, exit when stdin closes */
} ttb_tw_opts;

/* --nats: serves the queue group with o->procs engines until killed (SIGTERM
 * or SIGINT: the engines are stopped). Returns the exit code: 1 when NATS's
 * options are refused (a creds or CA file that cannot be read) or espeak-ng
 * cannot start. */
int ttb_tw_serve(const ttb_tw_opts *o);
/* --relay-nats: the stdin/stdout protocol, each job published to the queue
 * group with a reply inbox and its outputs written back as they come. Says
 * hello first (a worker's, or every voice when none answers within
 * o->hello_ms). A job no worker takes (no responders) is tried again with a
 * growing pause for o->wait_ms; a worker silent for o->stall_ms, or NATS
 * down for o->wait_ms, fails the job (a TtsOutput with done and error).
 * Returns the exit code when stdin closes (0) or on an error (1). */
int ttb_tw_relay(const ttb_tw_opts *o);

#endif
