/*
 * benchsrv.h — what a benchmark needs to run the real ttboost-server: start
 * it on 127.0.0.1 with an ephemeral port and a temporary data directory,
 * make licenses with ttboost-admin, read its CPU time (the whole process
 * tree: worker processes count), talk plain HTTP/1.1 to it, stop it.
 *
 * Used by speech-bench (tools/bench/speech_bench.c); fanout.c has its own
 * copy of the same steps and could move onto this later.
 *
 * Errors are values: functions returning int give 0 on success and -1 on
 * failure with a message in err[0..errlen) (never NULL-terminated garbage).
 * Nothing here exits the process.
 */
#ifndef TTB_BENCH_BENCHSRV_H
#define TTB_BENCH_BENCHSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The ingest secret handed to the server in TTBOOST_INGEST_SECRET and the
 * /metrics token (a file given with --metrics-token-file). Not secrets: the
 * server listens on 127.0.0.1 only, for the length of a benchmark. */
#define BENCHSRV_INGEST_SECRET "bench-ingest-secret-0123456789abcdef"
#define BENCHSRV_METRICS_TOKEN "bench-metrics-token-0123456789abcdef"

typedef struct benchsrv {
  const char *server_path; /* ttboost-server binary (borrowed) */
  const char *admin_path;  /* ttboost-admin binary (borrowed) */
  char tmpdir[256];        /* mkdtemp'd; server.log, data/, ... */
  char datadir[320];       /* tmpdir/data: the server's --data-dir */
  pid_t pid;               /* the server, or -1 */
  uint16_t port;           /* where it listens (127.0.0.1) */
  bool keep_tmp;           /* leave tmpdir behind (debugging) */
} benchsrv;

/* Monotonic clock in ns. */
uint64_t bs_now_ns(void);

/* Makes a fresh temporary directory /tmp/<prefix>XXXXXX for s (s->pid = -1).
 * s->server_path and s->admin_path must be set by the caller. */
int benchsrv_init(benchsrv *s, const char *prefix, char *err, size_t errlen);

/* Starts the server: --listen 127.0.0.1:0 --data-dir s->datadir
 * --metrics-token-file ... then each of extra[0..n_extra) as given (e.g.
 * "--tts-workers", "2"), with TTBOOST_INGEST_SECRET in its environment only.
 * Its stdout/stderr go to tmpdir/server.log. Waits (up to 30 s) for its
 * "listening on http://HOST:PORT" line and sets s->port. The child gets
 * SIGTERM when the calling thread dies (PR_SET_PDEATHSIG). */
int benchsrv_start(benchsrv *s, char *const extra[], int n_extra, char *err, size_t errlen);

/* SIGTERM, up to 5 s for it to exit, then SIGKILL. No-op when not running. */
void benchsrv_stop(benchsrv *s);

/* benchsrv_stop, then removes tmpdir unless keep_tmp. */
void benchsrv_cleanup(benchsrv *s);

/* `ttboost-admin --data-dir D license create --days 30`: the new key into
 * key[0..cap). */
int benchsrv_license(benchsrv *s, char *key, size_t cap, char *err, size_t errlen);

/* CPU seconds (user + system) of pid and every live descendant, plus the
 * children they have already reaped (cutime/cstime): a server's worker
 * processes count. -1 when pid is gone. */
double bs_tree_cpu_seconds(pid_t pid);

/* CPU seconds of this process (all threads). */
double bs_self_cpu_seconds(void);

/* Prints `machine_nproc`, `machine_cpu`, `machine_loadavg_at_start` lines. */
void bs_print_machine(void);

/* ---- a blocking HTTP/1.1 keep-alive connection to 127.0.0.1:port (ttb_tc, libcurl) ---- */
typedef struct bs_http {
  uint16_t port;
  struct ttb_tc_http_conn *conn; /* tools/common's keep-alive client (libcurl) */
} bs_http;

/* Sets h up (no connection yet: the first request connects). */
void bs_http_init(bs_http *h, uint16_t port);

/* Sends one request (Content-Type: application/json when body_len > 0;
 * extra_headers is "Name: value\r\n"... or NULL) and reads the answer:
 * Content-Length, chunked or close-delimited. A keep-alive connection the
 * server closed meanwhile is reopened once. On success returns the HTTP
 * status and *resp owns the NUL-terminated body (free it); -1 on a network
 * or parse failure (err says which). */
int bs_http_request(bs_http *h, const char *method, const char *path, const char *extra_headers,
                    const char *body, size_t body_len, char **resp, char *err, size_t errlen);

/* Closes the connection and frees the buffer. */
void bs_http_close(bs_http *h);

#endif
