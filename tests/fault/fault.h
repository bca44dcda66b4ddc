/*
 * Helpers of the fault suite (tests/fault, docs/operations.md "Faults"), on
 * top of the integration harness (tests/server_it/harness.h): requests that
 * may fail without failing the test (and may run on any thread), /metrics
 * and /proc readings, a tracker of the events a socket received, and a TCP
 * proxy that can cut or stall a client's connection.
 */
#ifndef TTB_FAULT_H
#define TTB_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);

/* One HTTP/1.1 request on a new connection to 127.0.0.1:port, safe on any
 * thread (never fails the test). The status, or -1 when the connection was
 * refused or cut or no answer came within timeout_ms. The body, when out is
 * not NULL, goes into out[cap] (NUL-terminated, cut at cap). */
int raw_http(int port, const char *method, const char *path, const char *headers, const char *body,
             size_t blen, char *out, size_t cap, int timeout_ms);
/* POST /ingest/events of a JSON text with the test's ingest secret (raw_http). */
int raw_ingest(int port, const char *json, char *out, size_t cap);

/* The value of the metric line starting with `name ` ("ttboost_x_total" or
 * "ttboost_x{a=\"b\"}"); -1 when absent or /metrics did not answer. */
double metric(const srv *s, const char *name);
/* VmRSS of pid in KiB, -1 when unknown. */
long vmrss_kb(pid_t pid);
/* Open file descriptors of pid, -1 when unknown. */
int fd_count(pid_t pid);

/* Event i of a test, as the JSON of one ingest item with the id "e<i>":
 * a chat "c<i>" when chat, else a gift "G<i>". */
int event_json(char *out, size_t cap, const char *channel, int i, bool chat);

/* What one socket received: chats "c<i>" and gifts "G<i>" by i. */
#define TRACK_MAX 70000
typedef struct track {
  uint8_t count[TRACK_MAX];
  int n;              /* events taken */
  long long last_seq; /* the highest seq seen */
  int seq_back;       /* events whose seq was not above the one before */
  int order_back;     /* events whose i was not above the one before (one source, in order) */
  int last_i;
  int chats, no_url; /* chats, and those without a tts_url */
  int errors;        /* {"type":"error"} messages */
  int close_code;    /* of a close frame; 0 none yet */
  char close_reason[64];
  char last_error[256];
} track;

/* Takes one text frame; returns its i, 0 for other messages. */
int track_take(track *t, const char *m, size_t n);
/* Reads frames for up to timeout_ms (0: only what is there); 0 on timeout,
 * -1 when the socket closed (a close frame's code is in t->close_code). */
int track_drain(ws *w, track *t, int timeout_ms);
/* true when every i in [from, to) with want[i] set was received; first
 * missing i into *missing (when not NULL). */
bool track_has_all(const track *t, const bool *want, int from, int to, int *missing);

/* The TCP proxy: one thread between clients and 127.0.0.1:upstream_port. */
typedef enum px_mode {
  PX_FORWARD,    /* both ways */
  PX_STALL_DOWN, /* nothing read from the server: its socket's buffers fill */
  PX_STALL_ALL,  /* nothing read either way: a silent peer */
} px_mode;
typedef struct proxy proxy;
/* Listens on 127.0.0.1:0; each accepted client replaces the one before.
 * upstream_rcvbuf > 0 sets SO_RCVBUF of its connection to the server (small:
 * a stall fills the server's queue sooner). NULL on error. */
proxy *proxy_start(int upstream_port, int upstream_rcvbuf);
/* Its port. */
int proxy_port(const proxy *p);
/* Switches what it forwards. */
void proxy_mode(proxy *p, px_mode m);
/* Cuts the connection once `bytes` more bytes went to the client (0: at
 * once), with a reset (rst) or a close (FIN); -1 disarms. */
void proxy_cut_after(proxy *p, long bytes, bool rst);
/* Connections cut so far. */
int proxy_cuts(const proxy *p);
/* Stops the thread, closes everything, frees p. */
void proxy_stop(proxy *p);

/* These fail the test (main thread only). */
/* POST /ingest/events of json with the test secret; fails unless 202. */
void fault_post_ok(const srv *s, const char *json);
/* Opens /ws/<token> and reads its hello. */
void fault_open_ws(const srv *s, ws *w, const char *token);
/* Reads until want[from..to) all arrived or `idle` seconds passed without
 * an event; fails, saying whether the server died, when the socket closes. */
void fault_wait_all(const srv *s, ws *w, track *t, const bool *want, int from, int to, double idle);
/* Mounts a 'size' tmpfs on dir, or skips the test saying why (not root,
 * or mounting refused). */
void fault_mount_or_skip(const char *dir, const char *size);

/* Mounts a tmpfs of size (e.g. "1m") on dir. 0, or an errno. */
int tmpfs_mount(const char *dir, const char *size);
/* Unmounts it (lazily). */
void tmpfs_umount(const char *dir);
/* Fills the file system of dir with the file path until it is full (at
 * most max bytes); the bytes written. */
long fill_disk(const char *path, long max);

#endif
