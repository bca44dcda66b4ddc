/*
 * One TikTok connector per channel across the cluster (--nats;
 * docs/scaling.md): a lease per channel in a NATS KV bucket with a TTL.
 *
 * The key is the channel (its user_id, ttb_lease_key), the value names the
 * node holding it (a random id made at start, and its public URL for
 * humans) and that node's connector status (ttb_lease_value). A node that
 * wants a channel (the connector has a handle and devices there, or
 * lingers) creates the key (kvStore_Create: refused while another node
 * holds it) and retries every TTL/3, or at once when it sees the key
 * released (a plain subscription to the bucket's subjects, which also
 * brings the holder's status changes); the holder renews it
 * (kvStore_Update with its last revision) every TTL/3 and releases it (a
 * conditional update to an empty value) when it no longer wants it. When
 * the holder dies its key expires by the TTL and a waiting node takes it
 * over within TTL + TTL/3. The rules are lease_rules.h.
 *
 * Threads: the KV calls block, so a thread of this module makes them; the
 * loop thread only sets what it wants (ttb_lease_want, ttb_lease_status)
 * and takes the events (ttb_lease_poll) after a byte on wake_fd.
 */
#ifndef TTB_SERVER_LEASE_H
#define TTB_SERVER_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease_rules.h"
#include "metrics.h"

typedef struct ttb_lease ttb_lease;

struct __natsConnection; /* natsConnection of <nats/nats.h> */

typedef struct ttb_lease_opts {
  struct __natsConnection *nc; /* the node's NATS connection (nats.h); not owned */
  const char *bucket;          /* the KV bucket, e.g. ttb_lease (created when absent) */
  uint32_t ttl_s;              /* the keys' TTL (the bucket's max age), >= 1 */
  const char *node_id;         /* this node's id (random, made at start) */
  const char *addr;            /* this node's address for humans (its public URL) */
  int wake_fd;                 /* write end of a non-blocking pipe: a byte when events wait */
} ttb_lease_opts;

/* Starts the lease thread (it creates or binds the bucket once NATS
 * answers, retrying). NULL with err on bad options, no memory or no thread. */
ttb_lease *ttb_lease_start(const ttb_lease_opts *o, ttb_metrics *metrics, char *err, size_t errlen);

/* Loop thread: this node wants the channel's lease (true) or no longer does
 * (false: released if held). */
void ttb_lease_want(ttb_lease *l, const char *channel, bool want);

/* Loop thread: the channel's connector status on this node, carried in the
 * lease's value while this node holds it (renewed at once when it
 * changed), for the devices on the other nodes. Strings are copied. */
void ttb_lease_status(ttb_lease *l, const char *channel, const char *state, const char *room,
                      const char *message);

/* What ttb_lease_poll hands over. */
typedef enum ttb_lease_kind {
  TTB_LEASE_ACQUIRED = 1, /* this node holds it now: start the connector */
  TTB_LEASE_LOST,         /* this node no longer holds it (lost, or released because not
                             wanted): stop the connector at once */
  TTB_LEASE_HOLDER,       /* another node holds it; holder is its value (node "": not known
                             any more, NATS does not answer) */
} ttb_lease_kind;

/* Called by ttb_lease_poll, on the loop thread; holder is set for
 * TTB_LEASE_HOLDER only (NULL otherwise), valid during the call. */
typedef void (*ttb_lease_event_fn)(void *arg, const char *channel, ttb_lease_kind kind,
                                   const ttb_lease_value *holder);

/* Loop thread: hands over the events that arrived, in order; returns how
 * many. Also refreshes the metrics. */
size_t ttb_lease_poll(ttb_lease *l, ttb_lease_event_fn fn, void *arg);

/* Releases every lease held (bounded: about 2 s at most), stops the thread
 * and frees everything; pending events are dropped. Call before the NATS
 * connection is closed. NULL is fine. */
void ttb_lease_stop(ttb_lease *l);

#endif
