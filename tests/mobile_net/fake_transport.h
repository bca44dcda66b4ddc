/*
 * fake_transport.h — a ttb__transport for tests with a tiny fake server
 * behind it: a channel history with seqs, Hello on connect, ?since= resume
 * (optionally overlapping, to prove deduplication), Pong answers, scripted
 * refusals and drops. Time is a fake clock advanced by service() waits.
 * What a socket is sent follows the client's Settings by the server's own
 * rule (server/src/delivery.h).
 * Thread-safe enough for one network thread plus one test thread.
 */
#ifndef TTB_TEST_FAKE_TRANSPORT_H
#define TTB_TEST_FAKE_TRANSPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

#define FAKE_HIST 1024
#define FAKE_Q 1024
#define FAKE_SENT 512
#define FAKE_OPENS 64

typedef struct fake_msg {
  uint8_t data[2048];
  size_t len;
  bool binary;
} fake_msg;

typedef struct fake_ev {
  uint64_t seq;
  bool gift;
  char text[64];
} fake_ev;

typedef struct fake {
  ttb__transport base;
  pthread_mutex_t mu;
  /* clock (fake mode): advanced by service(timeout) when idle */
  bool real_time;
  uint64_t now;
  uint32_t rnd;
  /* behaviour */
  bool refuse; /* next opens fail: on_closed(refuse_code, refuse_status) */
  int refuse_code, refuse_status;
  bool answer_pings;
  bool overlap;          /* a resume resends 2 events already delivered */
  bool resume_gap;       /* set by the fake when it cannot resume */
  uint64_t missed;       /* ... and Hello.missed, as the server counts it */
  uint32_t heartbeat_ms; /* in Hello (0 = leave out) */
  bool silent;           /* sends nothing at all (dead network) */
  bool hang;             /* opens never complete (no handshake answer) */
  unsigned trim;         /* history entries the server has forgotten */
  int open_rc;           /* what open() returns */
  /* channel */
  fake_ev hist[FAKE_HIST];
  unsigned nhist;
  uint64_t seq; /* last seq of the channel */
  /* socket */
  int state; /* 0 closed, 1 opening, 2 up */
  bool binary;
  char url[2048];
  bool has_since;
  uint64_t since;
  ttboost_v1_Settings settings; /* the socket's, as the client last sent them (all on at open) */
  bool drop_pending;
  int drop_code;
  fake_msg q[FAKE_Q];
  unsigned qhead, qlen;
  /* record */
  unsigned opens, closes, services, wakes;
  int last_close_code;
  uint64_t open_at[FAKE_OPENS];
  char open_url[FAKE_OPENS][512];
  fake_msg sent[FAKE_SENT];
  unsigned nsent;
  unsigned sent_at_open[FAKE_OPENS]; /* nsent when each open happened */
  bool destroyed_flag;
} fake;

/* A new fake (calloc'd; freed by ops->destroy through ttb__conn_destroy). */
fake *fake_new(void);
/* Appends an event to the channel (sent at once when up). */
void fake_event(fake *f, bool gift, const char *text);
/* An AudioFrame for event_seq (sent at once when up, binary only). */
void fake_audio(fake *f, uint64_t event_seq, uint32_t index, bool last);
/* A StreamError message then a close with code (next service). */
void fake_error_close(fake *f, const char *error, int code);
/* Drops the socket at the next service (code 0: no close frame). */
void fake_drop(fake *f, int code);
/* Clock and randomness for ttb__conn_config. */
uint64_t fake_now(void *user);
uint32_t fake_rand(void *user);
/* Decodes sent message i into *m (JSON or binary); false when it does not decode. */
bool fake_sent_msg(fake *f, unsigned i, ttboost_v1_ClientMessage *m);

#endif
