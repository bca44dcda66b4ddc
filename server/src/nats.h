/*
 * Events between server nodes through NATS JetStream (--nats URL;
 * docs/scaling.md). One stream (default TTB_EV) holds subject
 * ttb.ev.<channel> per channel; every event a node ingests (POST
 * /ingest/events, the TikTok connector, the gift streak rule) is published
 * there, and every node reads the whole stream with one ordered consumer
 * and fans each event out through its hub.
 *
 * Seq: the payload is the ServerMessage (protobuf) with its seq set. The
 * publisher gives seq = the channel's previous seq + 1 and publishes with
 * Nats-Expected-Last-Subject-Sequence = the stream sequence of the
 * channel's previous message, so two nodes publishing to one channel at
 * once cannot give out the same seq: the loser re-reads the last message
 * and tries again. Every node therefore sees the same seq for an event.
 * Nats-Msg-Id is "<channel>/<ingest id>" when the event has an id, and
 * JetStream's duplicate window drops the second publication.
 *
 * Threads: the library's threads deliver messages into a queue and write a
 * byte to wake_fd; everything else (publish, poll, tick) runs on the event
 * loop's thread. Publishing blocks that thread for a JetStream round trip
 * (bounded by a timeout; refused at once while disconnected).
 */
#ifndef TTB_SERVER_NATS_H
#define TTB_SERVER_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "nats_subject.h"
#include "ttboost/v1/events.pb-c.h"

typedef struct ttb_nats ttb_nats;

typedef struct ttb_nats_opts {
  const char *url;         /* nats://host:port (comma-separated list allowed) */
  const char *creds_file;  /* "" or NULL: none; else a NATS credentials file (JWT + NKey) */
  const char *tls_ca_file; /* "" or NULL: none; else TLS with this CA bundle */
  const char *stream;      /* the stream's name, e.g. TTB_EV */
  uint64_t history;        /* max messages per subject (the history a resume can use) */
  uint32_t dedup_s;        /* JetStream's duplicate window (0: 120 s, the server's default) */
  int wake_fd;             /* write end of a non-blocking pipe: a byte when messages wait */
} ttb_nats_opts;

/* Connects (in the background when the server is not reachable yet:
 * reconnecting forever, with backoff) and, once connected, ensures the
 * stream and subscribes. NULL with err on bad options or no memory. */
ttb_nats *ttb_nats_start(const ttb_nats_opts *o, ttb_metrics *metrics, char *err, size_t errlen);

/* What ttb_nats_publish did. */
typedef enum {
  TTB_NATS_OK = 0,    /* stored with a new seq */
  TTB_NATS_DUP = 1,   /* its Nats-Msg-Id was stored lately: dropped */
  TTB_NATS_FAIL = -1, /* not stored (disconnected, timeout, refused): err says why */
} ttb_nats_rc;

/* Publishes event m (seq is set here; m is otherwise not changed) to the
 * channel's subject; msg_id NULL or "" for none. On TTB_NATS_OK *seq is
 * its seq. The event reaches the hubs (this node's too) through the
 * consumer (ttb_nats_poll), not from here. */
ttb_nats_rc ttb_nats_publish(ttb_nats *n, const char *channel, Ttboost__V1__ServerMessage *m,
                             const char *msg_id, uint64_t *seq, char *err, size_t errlen);

/* Called by ttb_nats_poll for each event, in stream order; m is freed after. */
typedef void (*ttb_nats_event_fn)(void *arg, const char *channel,
                                  const Ttboost__V1__ServerMessage *m);

/* Applies the messages that arrived (loop thread); returns how many. */
size_t ttb_nats_poll(ttb_nats *n, ttb_nats_event_fn fn, void *arg);

/* Periodic work on the loop thread: (re)subscribes after a connect or a
 * reconnect, refreshes the metrics. */
void ttb_nats_tick(ttb_nats *n);

/* At start-up: waits up to timeout_ms for the consumer to have delivered
 * what the stream held when it subscribed, applying it with fn. true when
 * caught up (false: not connected or still behind; it goes on later). */
bool ttb_nats_catch_up(ttb_nats *n, uint32_t timeout_ms, ttb_nats_event_fn fn, void *arg);

/* Connected now? */
bool ttb_nats_connected(const ttb_nats *n);

/* The node's NATS connection (thread-safe, owned by n: valid until
 * ttb_nats_stop), for the connector leases (lease.h). */
struct __natsConnection *ttb_nats_connection(ttb_nats *n);

/* Closes the connection and frees everything (queued messages dropped). */
void ttb_nats_stop(ttb_nats *n);

#endif
