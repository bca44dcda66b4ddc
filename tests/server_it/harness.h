/*
 * Test harness for integration tests: starts the real ttboost-server binary
 * (path in $TTBOOST_SERVER) on 127.0.0.1 with an ephemeral port and a fresh
 * data dir, runs ttboost-admin ($TTBOOST_ADMIN), and talks to the server as
 * a client would, through tools/common's ttb_tc (HTTP with libcurl,
 * WebSocket framing with wslay, JSON through the generated codecs' reader).
 * A ws's socket is open to tests that send garbage or read slowly.
 */
#ifndef TTB_TEST_HARNESS_H
#define TTB_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ttb_tc.h"

typedef struct srv {
  pid_t pid;
  int port;
  char dir[256];      /* data dir */
  char url[64];       /* http://127.0.0.1:PORT */
  int out_fd;         /* server's stdout+stderr */
  char startup[4096]; /* what it printed up to "listening on" */
} srv;

/* Starts the server with extra flags (NULL-terminated, may be NULL). A
 * `keep_dir` srv restarts on the same data dir. Fails the test on error. */
void srv_start(srv *s, const char *const *extra, bool keep_dir);
/* SIGTERM and wait; returns the exit status (0 = graceful). */
int srv_stop(srv *s);
/* Removes the data dir. */
void srv_cleanup(srv *s);

/* The value of environment variable name (set by meson); fails the test when unset. */
const char *env_or_fail(const char *name);
/* Runs argv (argv[0] a path) with stdout and stderr into out[cap]
 * (NUL-terminated, cut at cap); returns the exit status, -1 when killed. */
int run_capture(const char *const *argv, char *out, size_t cap);

/* CPU seconds (user + system) process pid has used so far, from /proc. */
double proc_cpu_seconds(pid_t pid);

/* Runs ttboost-admin --data-dir s->dir ARGS...; stdout into out[cap]; returns exit status. */
int admin(const srv *s, char *out, size_t cap, const char *const *args);
/* A new license key (admin license create), into key[cap]. */
void new_key(const srv *s, char *key, size_t cap, const char *days, const char *devices);

/* status, head ("HTTP/1.1 200 OK\r\n..." lines), malloc'd NUL-terminated body */
typedef ttb_tc_resp http_resp;

/* One request (ttb_tc_http, 20 s at most). extra_headers: "Name: value\r\n" lines
 * or NULL. Returns the status, -1 when no answer came. */
int http(const srv *s, const char *method, const char *path, const char *extra_headers,
         const void *body, size_t body_len, http_resp *r);
void http_free(http_resp *r);
/* Logs in with key; fills user_id and token; returns the HTTP status. */
int login(const srv *s, const char *key, const char *device, char *user_id, char *token);
/* Posts an ingest body (JSON) with the test secret; returns the status. */
int ingest(const srv *s, const char *json, http_resp *r);

#define TEST_SECRET "test-ingest-secret"
/* srv_start gives the server --metrics-token-file with this token: GET
 * /metrics wants the header METRICS_AUTH (pass it as extra_headers). */
#define TEST_METRICS_TOKEN "test-metrics-token-0123456789"
#define METRICS_AUTH "Authorization: Bearer " TEST_METRICS_TOKEN "\r\n"

/* WebSocket client. */
typedef struct ws {
  int fd; /* the socket (raw writes allowed); -1 when not connected */
  char subprotocol[64];
  ttb_tc_ws *c;
} ws;

/* Connects and upgrades; subprotocol may be NULL. Returns 0, or the HTTP
 * status when the server refused the upgrade. */
int ws_connect(ws *w, const srv *s, const char *path, const char *subprotocol);
int ws_send(ws *w, int opcode, const void *data, size_t len);
/* Next data frame (pings are answered, pongs skipped). Returns the opcode
 * (1 text, 2 binary, 8 close: *len then holds the code in the first 2
 * bytes), 0 on timeout, -1 on a closed connection. data is valid until the
 * next call. */
int ws_recv(ws *w, const uint8_t **data, size_t *len, int timeout_ms);
/* Waits for the next text frame and copies it NUL-terminated into out. */
bool ws_text(ws *w, char *out, size_t cap, int timeout_ms);
void ws_close(ws *w);
/* True when ws_recv has a message (or bytes) buffered, which poll on w->fd
 * would not show. */
bool ws_pending(const ws *w);

/* The integer value of the first "key" (any depth) of a JSON text; -1 when
 * absent or not an integer (ttb_tc_json_int). */
long long json_num(const char *js, const char *key);
/* Copies the string value of the first "key" (any depth), unescaped, into
 * out[cap] (cut at cap - 1 bytes); false when absent (ttb_tc_json_str). */
bool json_str(const char *js, const char *key, char *out, size_t cap);

#endif
