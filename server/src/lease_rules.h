/*
 * The connector lease's rules (lease.h, docs/scaling.md): pure functions,
 * no NATS library, no clock of their own, so that they are unit-tested
 * alone (tests/server/test_lease_rules.c).
 *
 * One entry per channel this node wants or holds. ttb_lease_next says which
 * KV call is due (create, renew, release) or that the lease must be given
 * up without one (renewals failed for too long); ttb_lease_apply takes the
 * call's outcome and says what the node must do with its connector
 * (acquired: start it; lost: stop it at once).
 *
 * Times are milliseconds on one monotonic clock, given by the caller. The
 * rules, for a TTL T:
 *   - a wanted lease not held is created; taken by another node: tried
 *     again after T/3; a failed call (NATS unreachable): after
 *     min(1 s, T/3);
 *   - a held lease is renewed T/3 after the last successful renewal was
 *     sent, at once when its value changed (the holder's status), and
 *     min(1 s, T/3) after a failed attempt;
 *   - a held lease whose last successful create or renewal was sent 2T/3
 *     ago or more is given up (TTB_LEASE_ACT_EXPIRE): the key may expire on
 *     the server T after that, so the connector stops before another node
 *     can take it over;
 *   - a held lease no longer wanted is released.
 */
#ifndef TTB_SERVER_LEASE_RULES_H
#define TTB_SERVER_LEASE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The state of one channel's lease on this node. Zero it to start. */
typedef struct ttb_lease_entry {
  bool want;        /* the connector wants the channel (set by the caller) */
  bool held;        /* this node holds the key at revision rev */
  bool dirty;       /* the value changed while held: renew at once */
  uint64_t rev;     /* the key's revision this node wrote last (held) */
  uint64_t ok_ms;   /* when the last successful create or renewal was sent (held) */
  uint64_t next_ms; /* when the next create or renewal is due (0: at once) */
} ttb_lease_entry;

typedef enum ttb_lease_act {
  TTB_LEASE_ACT_NONE = 0, /* nothing due now */
  TTB_LEASE_ACT_CREATE,   /* kvStore_Create (the key must not exist) */
  TTB_LEASE_ACT_RENEW,    /* kvStore_Update with the last revision */
  TTB_LEASE_ACT_RELEASE,  /* not wanted any more: give the key up */
  TTB_LEASE_ACT_EXPIRE,   /* renewals failed too long: lost, no KV call */
} ttb_lease_act;

/* What a KV call came to. */
typedef enum ttb_lease_result {
  TTB_LEASE_R_OK = 0, /* done; rev is the key's new revision */
  TTB_LEASE_R_TAKEN,  /* another node holds the key (or it is gone, for a renewal) */
  TTB_LEASE_R_ERROR,  /* no answer or refused: outcome unknown */
} ttb_lease_result;

/* What the connector must do after ttb_lease_apply. */
typedef enum ttb_lease_event {
  TTB_LEASE_EV_NONE = 0,
  TTB_LEASE_EV_ACQUIRED, /* held now and wanted: start the connector */
  TTB_LEASE_EV_LOST,     /* no longer held while wanted: stop the connector at once */
  TTB_LEASE_EV_RELEASED, /* given up because not wanted */
} ttb_lease_event;

/* The call due for e at now_ms with a TTL of ttl_ms (> 0). When none is
 * due, *due_ms (may be NULL) is when ttb_lease_next should be asked again
 * (UINT64_MAX: not before e changes). */
ttb_lease_act ttb_lease_next(const ttb_lease_entry *e, uint64_t now_ms, uint64_t ttl_ms,
                             uint64_t *due_ms);

/* Applies the outcome r of the call act (as ttb_lease_next gave it, sent at
 * sent_ms, answered at now_ms; rev the key's revision for OK) to
 * e. For TTB_LEASE_ACT_EXPIRE, r is ignored. Returns what the connector
 * must do. */
ttb_lease_event ttb_lease_apply(ttb_lease_entry *e, ttb_lease_act act, ttb_lease_result r,
                                uint64_t rev, uint64_t sent_ms, uint64_t now_ms, uint64_t ttl_ms);

/* Writes the KV key of a channel (its user_id) into out: bytes in
 * [A-Za-z0-9_-] as they are, every other byte "=XX" (upper-case hex), so
 * that any id is a valid KV key. -1 when the channel is "" or the key does
 * not fit in cap. */
int ttb_lease_key(const char *channel, char *out, size_t cap);

#define TTB_LEASE_NODE_MAX 40   /* a node id, with NUL */
#define TTB_LEASE_FIELD_MAX 256 /* addr, state, room, message: each, with NUL */

/* A lease's value: which node holds it and, for the other nodes' devices,
 * its connector's status. Written as one line of tab-separated fields
 * "ttb1\tNODE\tADDR\tSTATE\tROOM\tMESSAGE" (tabs and line breaks inside a
 * field written as spaces); "" is a released lease. */
typedef struct ttb_lease_value {
  char node[TTB_LEASE_NODE_MAX];
  char addr[TTB_LEASE_FIELD_MAX];
  char state[32];
  char room[32];
  char message[TTB_LEASE_FIELD_MAX];
} ttb_lease_value;

/* Formats v into out (NUL-terminated; fields cut to fit). Returns the
 * length, or -1 when cap is too small for even the node id. */
int ttb_lease_value_format(const ttb_lease_value *v, char *out, size_t cap);

/* Parses len bytes of a value into v. -1 when they are not one of ours
 * (an empty value, a released lease, is -1 too). */
int ttb_lease_value_parse(const char *data, size_t len, ttb_lease_value *v);

#endif
