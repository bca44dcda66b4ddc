/* Events between nodes through NATS JetStream: see nats.h. */
#include "nats.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nats_subject.h"
#include "ttboost/fnv.h"

#define PUBLISH_WAIT_MS 2000
#define MAX_ATTEMPTS 16 /* publications of one event that lost the race for its seq */
#define NCURSOR_BUCKETS 4096

/* What this node knows of a channel's newest message in the stream: the
 * publisher's guess for Nats-Expected-Last-Subject-Sequence. */
typedef struct cursor {
  struct cursor *next;
  uint64_t sseq; /* stream sequence of the channel's newest message (0: none) */
  uint64_t cseq; /* its seq */
  bool known;
  char channel[];
} cursor;

/* A delivered message waiting for the loop. */
typedef struct qmsg {
  struct qmsg *next;
  natsMsg *msg;
} qmsg;

struct ttb_nats {
  natsOptions *opts;
  natsConnection *nc;
  jsCtx *js;
  natsSubscription *sub;
  char *stream;
  char *subjects_wild;
  int64_t history;
  int64_t dedup_ns;
  int wake_fd;
  ttb_metrics *metrics;
  /* set by the library's threads */
  atomic_bool connected;
  atomic_bool resubscribe; /* a (re)connect happened: subscribe again */
  atomic_bool closing;     /* ttb_nats_stop: the disconnect is ours */
  atomic_uint_fast64_t reconnects;
  atomic_uint_fast64_t disconnects;
  pthread_mutex_t mu;
  qmsg *q_head, *q_tail;
  size_t q_len;
  /* loop thread only */
  bool subscribed;
  uint64_t applied;   /* stream sequence of the newest message handed to the hub */
  uint64_t target;    /* the stream's last sequence when we subscribed (catch-up) */
  uint64_t logged_ms; /* rate limit of the "not subscribed" log */
  cursor **cursors;
};

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ callbacks */

static void on_disconnected(natsConnection *nc, void *closure)
{
  (void)nc;
  ttb_nats *n = closure;
  atomic_store(&n->connected, false);
  if (atomic_load(&n->closing))
    return;
  atomic_fetch_add(&n->disconnects, 1);
  fprintf(stderr, "ttboost-server: nats: disconnected (reconnecting)\n");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
  ttb_nats *n = closure;
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  atomic_store(&n->connected, true);
  atomic_store(&n->resubscribe, true);
  atomic_fetch_add(&n->reconnects, 1);
  fprintf(stderr, "ttboost-server: nats: reconnected to %s\n", url);
}

/* The first connect when it happened in the background (retry on failed connect). */
static void on_connected(natsConnection *nc, void *closure)
{
  ttb_nats *n = closure;
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  atomic_store(&n->connected, true);
  atomic_store(&n->resubscribe, true);
  fprintf(stderr, "ttboost-server: nats: connected to %s\n", url);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
  (void)nc;
  (void)sub;
  (void)closure;
  fprintf(stderr, "ttboost-server: nats: %s\n", natsStatus_GetText(s));
}

/* Backoff between reconnect attempts: 100 ms doubling up to 2 s, with jitter. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
  (void)nc;
  (void)closure;
  return ttb_nats_backoff_ms(attempts, (unsigned)rand());
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  (void)nc;
  (void)sub;
  ttb_nats *n = closure;
  qmsg *q = malloc(sizeof *q);
  if (q == NULL) { /* the ordered consumer cannot redeliver: the gap shows as a resume gap */
    natsMsg_Destroy(msg);
    return;
  }
  q->next = NULL;
  q->msg = msg;
  pthread_mutex_lock(&n->mu);
  bool was_empty = n->q_head == NULL;
  if (n->q_tail)
    n->q_tail->next = q;
  else
    n->q_head = q;
  n->q_tail = q;
  n->q_len++;
  pthread_mutex_unlock(&n->mu);
  if (was_empty) {
    char b = 1;
    ssize_t w = write(n->wake_fd, &b, 1); /* a full pipe already wakes the loop */
    (void)w;
  }
}

/* ------------------------------------------------------------ the stream */

static void set_err(char *err, size_t errlen, const char *what, natsStatus s, jsErrCode jerr)
{
  const char *last = nats_GetLastError(NULL);
  snprintf(err, errlen, "%s: %s%s%s (%d)", what, natsStatus_GetText(s), last ? ": " : "",
           last ? last : "", (int)jerr);
}

/* Creates the stream, or updates its limits when it exists. */
static int ensure_stream(ttb_nats *n, uint64_t *last_seq, char *err, size_t errlen)
{
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char *subjects[] = {n->subjects_wild};
  sc.Name = n->stream;
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Retention = js_LimitsPolicy;
  sc.Discard = js_DiscardOld;
  sc.MaxMsgsPerSubject = n->history;
  sc.Duplicates = n->dedup_ns;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_AddStream(&si, n->js, &sc, NULL, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr)
    s = js_UpdateStream(&si, n->js, &sc, NULL, &jerr);
  if (s != NATS_OK) {
    set_err(err, errlen, "stream", s, jerr);
    return -1;
  }
  *last_seq = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return 0;
}

/* (Re)creates the ordered consumer over ttb.ev.>, from the message after
 * the newest one applied (the whole stream the first time). */
static int subscribe(ttb_nats *n, char *err, size_t errlen)
{
  uint64_t last = 0;
  if (ensure_stream(n, &last, err, errlen) != 0)
    return -1;
  if (n->sub) {
    natsSubscription_Unsubscribe(n->sub);
    natsSubscription_Destroy(n->sub);
    n->sub = NULL;
  }
  if (last < n->applied) {
    /* a new stream under the old name (its data was lost): read it all;
     * the hubs drop what is not newer than what they hold */
    fprintf(stderr,
            "ttboost-server: nats: stream %s ends at %llu, before what was read (%llu): "
            "reading it again\n",
            n->stream, (unsigned long long)last, (unsigned long long)n->applied);
    n->applied = 0;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = n->stream;
  so.Ordered = true;
  if (n->applied) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = n->applied + 1;
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;
  }
  jsErrCode jerr = 0;
  natsStatus s = js_Subscribe(&n->sub, n->js, n->subjects_wild, on_msg, n, NULL, &so, &jerr);
  if (s != NATS_OK) {
    n->sub = NULL;
    set_err(err, errlen, "subscribe", s, jerr);
    return -1;
  }
  natsSubscription_SetPendingLimits(n->sub, -1, -1);
  n->target = last;
  n->subscribed = true;
  return 0;
}

void ttb_nats_tick(ttb_nats *n)
{
  if (atomic_load(&n->connected) && (atomic_exchange(&n->resubscribe, false) || !n->subscribed)) {
    char err[256];
    n->subscribed = false;
    if (subscribe(n, err, sizeof err) != 0) {
      atomic_store(&n->resubscribe, true); /* the next tick tries again */
      uint64_t now = mono_ms();
      if (now - n->logged_ms > 5000) {
        n->logged_ms = now;
        fprintf(stderr, "ttboost-server: nats: %s (retrying)\n", err);
      }
    } else {
      fprintf(stderr, "ttboost-server: nats: reading stream %s from %llu\n", n->stream,
              (unsigned long long)(n->applied + 1));
    }
  }
  if (n->metrics) {
    n->metrics->nats_connected = atomic_load(&n->connected) && n->subscribed;
    n->metrics->nats_reconnects = atomic_load(&n->reconnects);
    n->metrics->nats_disconnects = atomic_load(&n->disconnects);
    pthread_mutex_lock(&n->mu);
    n->metrics->nats_queue = n->q_len;
    pthread_mutex_unlock(&n->mu);
    n->metrics->nats_stream_seq = n->applied;
  }
}

bool ttb_nats_connected(const ttb_nats *n) { return atomic_load(&n->connected); }

struct __natsConnection *ttb_nats_connection(ttb_nats *n) { return n->nc; }

static bool opened; /* the library (nats_Open); one ttb_nats at a time */

ttb_nats *ttb_nats_start(const ttb_nats_opts *o, ttb_metrics *metrics, char *err, size_t errlen)
{
  if (!opened) {
    natsStatus s = nats_Open(-1);
    if (s != NATS_OK) {
      set_err(err, errlen, "nats_Open", s, 0);
      return NULL;
    }
    opened = true;
  }
  ttb_nats *n = calloc(1, sizeof *n);
  if (n == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  n->wake_fd = o->wake_fd;
  n->metrics = metrics;
  n->history = (int64_t)(o->history ? o->history : 1);
  n->dedup_ns = (int64_t)(o->dedup_s ? o->dedup_s : 120) * 1000000000LL;
  n->stream = strdup(o->stream);
  n->subjects_wild = strdup(TTB_NATS_SUBJECT_PREFIX ">");
  n->cursors = calloc(NCURSOR_BUCKETS, sizeof *n->cursors);
  pthread_mutex_init(&n->mu, NULL);
  if (n->stream == NULL || n->subjects_wild == NULL || n->cursors == NULL) {
    snprintf(err, errlen, "out of memory");
    ttb_nats_stop(n);
    return NULL;
  }
  natsStatus s = natsOptions_Create(&n->opts);
  if (s == NATS_OK)
    s = natsOptions_SetURL(n->opts, o->url);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(n->opts, -1); /* forever */
  if (s == NATS_OK)
    s = natsOptions_SetCustomReconnectDelay(n->opts, reconnect_delay, n);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectBufSize(n->opts, 8 * 1024 * 1024);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(n->opts, 2000);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB(n->opts, on_disconnected, n);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB(n->opts, on_reconnected, n);
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler(n->opts, on_error, n);
  if (s == NATS_OK)
    s = natsOptions_SetRetryOnFailedConnect(n->opts, true, on_connected, n);
  if (s == NATS_OK && o->creds_file && o->creds_file[0])
    s = natsOptions_SetUserCredentialsFromFiles(n->opts, o->creds_file, NULL);
  if (s == NATS_OK && o->tls_ca_file && o->tls_ca_file[0]) {
    s = natsOptions_SetSecure(n->opts, true);
    if (s == NATS_OK)
      s = natsOptions_LoadCATrustedCertificates(n->opts, o->tls_ca_file);
  }
  if (s != NATS_OK) {
    set_err(err, errlen, "options", s, 0);
    ttb_nats_stop(n);
    return NULL;
  }
  s = natsConnection_Connect(&n->nc, n->opts);
  if (s == NATS_OK) {
    atomic_store(&n->connected, true);
    char url[256] = "";
    natsConnection_GetConnectedUrl(n->nc, url, sizeof url);
    fprintf(stderr, "ttboost-server: nats: connected to %s\n", url);
  } else if (s == NATS_NOT_YET_CONNECTED) {
    fprintf(stderr, "ttboost-server: nats: %s not reachable yet (connecting in the background)\n",
            o->url);
  } else {
    set_err(err, errlen, "connect", s, 0);
    ttb_nats_stop(n);
    return NULL;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = PUBLISH_WAIT_MS;
  s = natsConnection_JetStream(&n->js, n->nc, &jo);
  if (s != NATS_OK) {
    set_err(err, errlen, "jetstream", s, 0);
    ttb_nats_stop(n);
    return NULL;
  }
  ttb_nats_tick(n);
  return n;
}

void ttb_nats_stop(ttb_nats *n)
{
  if (n == NULL)
    return;
  atomic_store(&n->closing, true);
  if (n->sub) {
    natsSubscription_Unsubscribe(n->sub);
    natsSubscription_Destroy(n->sub);
  }
  if (n->nc)
    natsConnection_Close(n->nc);
  jsCtx_Destroy(n->js);
  natsConnection_Destroy(n->nc);
  natsOptions_Destroy(n->opts);
  /* the library's threads (message delivery, callbacks) end before what
   * they touch is freed */
  if (opened && nats_CloseAndWait(5000) == NATS_OK)
    opened = false;
  for (qmsg *q = n->q_head; q;) {
    qmsg *next = q->next;
    natsMsg_Destroy(q->msg);
    free(q);
    q = next;
  }
  if (n->cursors)
    for (size_t i = 0; i < NCURSOR_BUCKETS; i++)
      for (cursor *c = n->cursors[i]; c;) {
        cursor *next = c->next;
        free(c);
        c = next;
      }
  free(n->cursors);
  free(n->stream);
  free(n->subjects_wild);
  pthread_mutex_destroy(&n->mu);
  free(n);
}

/* ------------------------------------------------------- seq and publish */

static cursor *cursor_of(ttb_nats *n, const char *channel, bool create)
{
  size_t b = ttb_fnv1a64_str(channel) % NCURSOR_BUCKETS;
  for (cursor *c = n->cursors[b]; c; c = c->next)
    if (strcmp(c->channel, channel) == 0)
      return c;
  if (!create)
    return NULL;
  size_t len = strlen(channel);
  cursor *c = calloc(1, sizeof *c + len + 1);
  if (c == NULL)
    return NULL;
  memcpy(c->channel, channel, len + 1);
  c->next = n->cursors[b];
  n->cursors[b] = c;
  return c;
}

/* Raises the cursor to (sseq, cseq) when that is newer. */
static void cursor_see(cursor *c, uint64_t sseq, uint64_t cseq)
{
  if (sseq > c->sseq || !c->known) {
    c->sseq = sseq;
    c->cseq = cseq;
    c->known = true;
  }
}

/* Reads the channel's newest message from the stream into the cursor. */
static int cursor_load(ttb_nats *n, cursor *c, const char *subject, char *err, size_t errlen)
{
  natsMsg *m = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetLastMsg(&m, n->js, n->stream, subject, NULL, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
    c->sseq = c->cseq = 0;
    c->known = true;
    return 0;
  }
  if (s != NATS_OK) {
    set_err(err, errlen, "last message", s, jerr);
    return -1;
  }
  Ttboost__V1__ServerMessage *sm = ttboost__v1__server_message__unpack(
      NULL, (size_t)natsMsg_GetDataLength(m), (const uint8_t *)natsMsg_GetData(m));
  uint64_t sseq = natsMsg_GetSequence(m);
  natsMsg_Destroy(m);
  if (sm == NULL) {
    snprintf(err, errlen, "the channel's last message in the stream is not a ServerMessage");
    return -1;
  }
  c->sseq = sseq;
  c->cseq = sm->seq;
  c->known = true;
  ttboost__v1__server_message__free_unpacked(sm, NULL);
  return 0;
}

ttb_nats_rc ttb_nats_publish(ttb_nats *n, const char *channel, Ttboost__V1__ServerMessage *m,
                             const char *msg_id, uint64_t *seq, char *err, size_t errlen)
{
  char subject[512], id[512];
  if (ttb_nats_subject(channel, subject, sizeof subject) != 0) {
    snprintf(err, errlen, "channel id too long for a subject");
    return TTB_NATS_FAIL;
  }
  if (!atomic_load(&n->connected)) {
    snprintf(err, errlen, "not connected to NATS");
    n->metrics->nats_publish_errors++;
    return TTB_NATS_FAIL;
  }
  if (msg_id && msg_id[0])
    snprintf(id, sizeof id, "%s/%s", channel, msg_id);
  cursor *c = cursor_of(n, channel, true);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return TTB_NATS_FAIL;
  }
  for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (!c->known && cursor_load(n, c, subject, err, errlen) != 0)
      break;
    m->seq = c->cseq + 1;
    size_t len = ttboost__v1__server_message__get_packed_size(m);
    uint8_t stackbuf[2048];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (buf == NULL) {
      snprintf(err, errlen, "out of memory");
      return TTB_NATS_FAIL;
    }
    ttboost__v1__server_message__pack(m, buf);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, (const char *)buf, (int)len);
    if (buf != stackbuf)
      free(buf);
    if (s != NATS_OK) {
      set_err(err, errlen, "message", s, 0);
      break;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = PUBLISH_WAIT_MS;
    if (msg_id && msg_id[0])
      po.MsgId = id;
    if (c->sseq)
      po.ExpectLastSubjectSeq = c->sseq;
    else
      po.ExpectNoMessage = true;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    s = js_PublishMsg(&ack, n->js, msg, &po, &jerr);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
      bool dup = ack->Duplicate;
      if (!dup)
        cursor_see(c, ack->Sequence, m->seq);
      jsPubAck_Destroy(ack);
      if (dup) {
        n->metrics->nats_duplicates++;
        return TTB_NATS_DUP;
      }
      n->metrics->nats_published++;
      *seq = m->seq;
      return TTB_NATS_OK;
    }
    if (jerr == JSStreamWrongLastSequenceErr) { /* another node published first: re-read */
      n->metrics->nats_publish_conflicts++;
      c->known = false;
      snprintf(err, errlen, "other nodes took the channel's next seq %d times in a row",
               attempt + 1);
      if (attempt >= 1) { /* two nodes in step: break the symmetry (0-500 us) */
        struct timespec ts = {0, (long)(rand() % 500) * 1000L};
        nanosleep(&ts, NULL);
      }
      continue;
    }
    set_err(err, errlen, "publish", s, jerr);
    if (jerr == JSStreamNotFoundErr || s == NATS_NO_RESPONDERS)
      atomic_store(&n->resubscribe, true); /* the stream is gone: the tick makes it again */
    c->known = false;                      /* unknown outcome (a timeout): re-read next time */
    break;
  }
  n->metrics->nats_publish_errors++;
  return TTB_NATS_FAIL;
}

/* --------------------------------------------------------------- consume */

size_t ttb_nats_poll(ttb_nats *n, ttb_nats_event_fn fn, void *arg)
{
  pthread_mutex_lock(&n->mu);
  qmsg *q = n->q_head;
  n->q_head = n->q_tail = NULL;
  n->q_len = 0;
  pthread_mutex_unlock(&n->mu);
  size_t count = 0;
  while (q) {
    qmsg *next = q->next;
    natsMsg *msg = q->msg;
    free(q);
    q = next;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
      natsMsg_Destroy(msg);
      continue; /* not a JetStream message (cannot happen on this subscription) */
    }
    uint64_t sseq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
    if (sseq <= n->applied) { /* delivered again after a resubscribe */
      natsMsg_Destroy(msg);
      continue;
    }
    n->applied = sseq;
    char channel[256];
    Ttboost__V1__ServerMessage *sm = NULL;
    if (ttb_nats_channel_of(natsMsg_GetSubject(msg), channel, sizeof channel) == 0)
      sm = ttboost__v1__server_message__unpack(NULL, (size_t)natsMsg_GetDataLength(msg),
                                               (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    if (sm == NULL || sm->seq == 0 ||
        (sm->payload_case != TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT &&
         sm->payload_case != TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT)) {
      n->metrics->nats_bad_messages++;
      if (sm)
        ttboost__v1__server_message__free_unpacked(sm, NULL);
      continue;
    }
    cursor *c = cursor_of(n, channel, true);
    if (c)
      cursor_see(c, sseq, sm->seq);
    n->metrics->nats_received++;
    fn(arg, channel, sm);
    ttboost__v1__server_message__free_unpacked(sm, NULL);
    count++;
  }
  return count;
}

bool ttb_nats_catch_up(ttb_nats *n, uint32_t timeout_ms, ttb_nats_event_fn fn, void *arg)
{
  uint64_t end = mono_ms() + timeout_ms;
  for (;;) {
    ttb_nats_tick(n);
    ttb_nats_poll(n, fn, arg);
    if (n->subscribed && n->applied >= n->target)
      return true;
    if (mono_ms() >= end)
      return false;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}
