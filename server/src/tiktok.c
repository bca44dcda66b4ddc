/*
 * The TikTok LIVE connector: see tiktok.h, docs/tiktok.md and
 * docs/adr/0003-tiktok-connector.md.
 *
 * Two sides. The loop side (every public function, the wake-up pipe, the
 * linger timer) owns the channels, their status, the msg_id dedup windows
 * and the metrics. Each active channel has a worker thread that does the
 * networking with blocking-free libraries in short slices: libcurl's multi
 * interface for the ttwid and the room lookup, a private libwebsockets
 * context for the push socket. Workers only read their own copies of the
 * options and handle; what they learn goes into one mutex-protected queue,
 * and a byte on the pipe wakes the loop to drain it. A stopped worker is
 * unhooked from its channel at once (its later queue items are ignored) and
 * joined when its last item, "exited", arrives.
 */
#include "tiktok.h"

#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "trace.h"
#include "wake.h"
#include "webcast.h"

#define USER_AGENT                                                                           \
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 " \
  "Safari/537.36"
#define TIKTOK_ORIGIN "https://www.tiktok.com"
#define TIKTOK_REFERER "https://www.tiktok.com/"
#define ACCEPT_LANGUAGE "en-US,en;q=0.9"

#define CHANNEL_MAX 64
#define QUEUE_MAX 20000 /* items waiting for the loop; beyond, chat and gifts are dropped */
#define HTTP_BODY_MAX (1u << 20) /* a room lookup's body */
#define SLICE_MS 50              /* lws service and curl poll slices: how soon a stop is seen */
#define TICK_MS 250              /* the loop's linger timer */
#define TRACE_CHUNK 61440        /* TiktokFrame.frame's bound */
#define TRACE_FLUSH_MS 1000

/* ------------------------------------------------------------------ time */

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------ types */

typedef enum qkind {
  Q_STATUS,
  Q_CHAT,
  Q_GIFT,
  Q_COUNTS,
  Q_EXIT,
} qkind;

typedef struct counts {
  uint32_t frames, chat, gift, control, other, decode_errors, acks, reconnects, lookups;
} counts;

typedef struct worker worker;

typedef struct qitem {
  struct qitem *next;
  worker *w;
  qkind kind;
  /* status */
  ttb_tiktok_state state;
  char room_id[TTB_TIKTOK_ROOM_MAX];
  char message[256];
  /* chat, gift */
  uint64_t msg_id;
  char *user, *text, *gift_name;
  uint64_t gift_id;
  char streak_key[TTB_WEBCAST_KEY_MAX];
  uint32_t count, repeat_count;
  bool repeat_end;
  uint32_t diamonds; /* gift: one gift's value (0: unknown) */
  /* counts */
  counts n;
} qitem;

struct worker {
  ttb_tiktok *t;
  worker *next; /* t->workers: every thread not yet joined */
  pthread_t thread;
  atomic_bool stop;
  atomic_bool finished; /* worker_main has returned, or is about to */
  pthread_mutex_t mu;   /* with cv: interruptible waits */
  pthread_cond_t cv;
  char channel[CHANNEL_MAX];
  char handle[TTB_TIKTOK_HANDLE_MAX];
  /* worker thread only */
  CURL *curl;
  CURLM *multi;
  struct lws_context *ctx;
  SSL_CTX *tls;
  struct lws_protocols protocols[2];
  ttb_tiktok_state last_state; /* the last status posted, to post changes only */
  char last_room[TTB_TIKTOK_ROOM_MAX];
  char last_msg[256];
  bool posted;
  unsigned seed; /* rand_r: jitter, last_rtt */
};

typedef struct chan {
  struct chan *next;
  char channel[CHANNEL_MAX];
  char handle[TTB_TIKTOK_HANDLE_MAX];
  size_t sockets;
  uint64_t linger_at; /* when to stop (ms, monotonic); 0 = not lingering */
  ttb_tiktok_status st;
  worker *w; /* the running worker, or NULL */
  ttb_webcast_dedup *dedup;
  /* gated connectors (opts.gated) */
  bool allowed;                /* ttb_tiktok_allow */
  bool wanted;                 /* what sink.want was told last */
  bool has_elsewhere;          /* elsewhere is set (else the default) */
  ttb_tiktok_status elsewhere; /* shown while wanted and not allowed */
  ttb_tiktok_state counted;    /* the state counted in metrics->tiktok_conns (OFF: none) */
} chan;

struct ttb_tiktok {
  h2o_evloop_t *loop;
  ttb_tiktok_opts opts;
  ttb_tiktok_sink sink;
  ttb_metrics *metrics;
  chan *chans;
  worker *workers;
  /* the queue, shared with the workers */
  pthread_mutex_t qmu;
  qitem *qhead, *qtail;
  size_t qlen;
  bool qdropped_logged;
  int pipefd[2];
  h2o_socket_t *pipe_sock;
  h2o_timeout_t tick;
  h2o_timeout_entry_t tick_entry;
  bool tick_inited;
  char tz[64];
};

/* ------------------------------------------------------------------ names, options */

const char *ttb_tiktok_state_name(ttb_tiktok_state s)
{
  static const char *const names[TTB_TIKTOK_NSTATES] = {"off",  "waiting", "connecting",
                                                        "live", "ended",   "error"};
  return (unsigned)s < TTB_TIKTOK_NSTATES ? names[s] : "off";
}

void ttb_tiktok_opts_defaults(ttb_tiktok_opts *o)
{
  memset(o, 0, sizeof *o);
  snprintf(o->web, sizeof o->web, "%s", TTB_TIKTOK_WEB_DEFAULT);
  snprintf(o->ws, sizeof o->ws, "%s", TTB_TIKTOK_WS_DEFAULT);
  o->lookup_ms = TTB_TIKTOK_LOOKUP_S * 1000u;
  o->linger_ms = TTB_TIKTOK_LINGER_S * 1000u;
  o->heartbeat_ms = TTB_TIKTOK_HEARTBEAT_S * 1000u;
  o->dead_ms = TTB_TIKTOK_DEAD_S * 1000u;
  o->backoff_cap_ms = TTB_TIKTOK_BACKOFF_CAP_S * 1000u;
  o->blocked_wait_ms = 2000;
  o->http_timeout_ms = 10000;
}

/* ------------------------------------------------------------------ the queue (any thread) */

static void qitem_free(qitem *q)
{
  if (q == NULL)
    return;
  free(q->user);
  free(q->text);
  free(q->gift_name);
  free(q);
}

/* Hands q to the loop (takes it). Chat and gifts are dropped when the loop
 * is far behind; status, counts and exits always go. */
static void q_push(ttb_tiktok *t, qitem *q)
{
  pthread_mutex_lock(&t->qmu);
  if (t->qlen >= QUEUE_MAX && (q->kind == Q_CHAT || q->kind == Q_GIFT)) {
    bool log = !t->qdropped_logged;
    t->qdropped_logged = true;
    pthread_mutex_unlock(&t->qmu);
    if (log)
      fprintf(stderr, "ttboost-server: tiktok: the event queue is full: dropping chat and gifts\n");
    qitem_free(q);
    return;
  }
  bool was_empty = t->qhead == NULL;
  q->next = NULL;
  if (t->qtail)
    t->qtail->next = q;
  else
    t->qhead = q;
  t->qtail = q;
  t->qlen++;
  pthread_mutex_unlock(&t->qmu);
  if (was_empty) {
    ssize_t r;
    do {
      r = write(t->pipefd[1], "!", 1);
    } while (r < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full of wake-ups already */
  }
}

static qitem *q_new(worker *w, qkind kind)
{
  qitem *q = calloc(1, sizeof *q);
  if (q != NULL) {
    q->w = w;
    q->kind = kind;
  }
  return q;
}

/* ------------------------------------------------------------------ worker: helpers */

static bool stopping(worker *w) { return atomic_load(&w->stop); }

/* Waits ms or until stopped; false when stopped. */
static bool wait_ms(worker *w, uint64_t ms)
{
  uint64_t end = now_ms() + ms;
  pthread_mutex_lock(&w->mu);
  while (!stopping(w)) {
    uint64_t now = now_ms();
    if (now >= end)
      break;
    uint64_t left = end - now;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  }
  pthread_mutex_unlock(&w->mu);
  return !stopping(w);
}

/* Posts a status when it differs from the last one posted. */
static void post_status(worker *w, ttb_tiktok_state st, const char *room, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void post_status(worker *w, ttb_tiktok_state st, const char *room, const char *fmt, ...)
{
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (room == NULL)
    room = "";
  if (w->posted && w->last_state == st && strcmp(w->last_room, room) == 0 &&
      strcmp(w->last_msg, msg) == 0)
    return;
  qitem *q = q_new(w, Q_STATUS);
  if (q == NULL)
    return;
  w->posted = true;
  w->last_state = st;
  snprintf(w->last_room, sizeof w->last_room, "%s", room);
  snprintf(w->last_msg, sizeof w->last_msg, "%s", msg);
  q->state = st;
  snprintf(q->room_id, sizeof q->room_id, "%s", room);
  snprintf(q->message, sizeof q->message, "%s", msg);
  q_push(w->t, q);
}

static void post_counts(worker *w, const counts *n)
{
  qitem *q = q_new(w, Q_COUNTS);
  if (q == NULL)
    return;
  q->n = *n;
  q_push(w->t, q);
}

/* The reconnect delay before attempt `attempt` (0, 1, ...): 2^attempt s
 * capped, with the upper half jittered. */
static uint64_t backoff_ms(worker *w, unsigned attempt)
{
  const ttb_tiktok_opts *o = &w->t->opts;
  uint64_t d = attempt >= 20 ? UINT64_MAX : 1000ull << attempt;
  uint64_t cap = o->backoff_cap_ms ? o->backoff_cap_ms : 30000;
  if (d > cap)
    d = cap;
  uint64_t half = d / 2;
  return half + (half ? (uint64_t)rand_r(&w->seed) % (half + 1) : 0);
}

/* ------------------------------------------------------------------ worker: HTTP (libcurl) */

typedef struct http_resp {
  char *body;
  size_t len;
  bool too_big;
  char ttwid[TTB_WEBCAST_TTWID_MAX];
} http_resp;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
  http_resp *r = arg;
  size_t k = size * n;
  if (r->len + k > HTTP_BODY_MAX) {
    r->too_big = true;
    return 0; /* aborts the transfer */
  }
  char *nb = realloc(r->body, r->len + k + 1);
  if (nb == NULL)
    return 0;
  memcpy(nb + r->len, p, k);
  r->body = nb;
  r->len += k;
  r->body[r->len] = '\0';
  return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
  http_resp *r = arg;
  size_t k = size * n;
  if (r->ttwid[0] == '\0')
    (void)ttb_webcast_ttwid_header(p, k, r->ttwid, sizeof r->ttwid);
  return k;
}

/* GET url, with the ttwid cookie when given. 0 with *status and r filled,
 * -1 with why (network, stopped). */
static int http_get(worker *w, const char *url, const char *ttwid, long *status, http_resp *r,
                    char *why, size_t whylen)
{
  memset(r, 0, sizeof *r);
  *status = 0;
  CURL *c = w->curl;
  curl_easy_reset(c);
  struct curl_slist *hdr = NULL;
  struct curl_slist *h1 = curl_slist_append(hdr, "Referer: " TIKTOK_REFERER);
  if (h1)
    hdr = h1;
  struct curl_slist *h2 = curl_slist_append(hdr, "Accept-Language: " ACCEPT_LANGUAGE);
  if (h2)
    hdr = h2;
  if (ttwid && ttwid[0]) {
    char cookie[TTB_WEBCAST_TTWID_MAX + 16];
    snprintf(cookie, sizeof cookie, "Cookie: ttwid=%s", ttwid);
    struct curl_slist *h3 = curl_slist_append(hdr, cookie);
    sodium_memzero(cookie, sizeof cookie);
    if (h3)
      hdr = h3;
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   (long)(w->t->opts.http_timeout_ms ? w->t->opts.http_timeout_ms : 10000));
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  int rc = -1;
  if (curl_multi_add_handle(w->multi, c) != CURLM_OK) {
    snprintf(why, whylen, "libcurl refused the request");
    curl_slist_free_all(hdr);
    return -1;
  }
  CURLcode result = CURLE_OK;
  bool finished = false;
  while (!finished) {
    if (stopping(w)) {
      snprintf(why, whylen, "stopped");
      goto out;
    }
    int running = 0;
    if (curl_multi_perform(w->multi, &running) != CURLM_OK) {
      snprintf(why, whylen, "libcurl failed");
      goto out;
    }
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
      if (m->msg == CURLMSG_DONE && m->easy_handle == c) {
        result = m->data.result;
        finished = true;
      }
    }
    if (!finished && running == 0) {
      finished = true; /* done without a message: take what there is */
    }
    if (!finished)
      curl_multi_poll(w->multi, NULL, 0, SLICE_MS, NULL);
  }
  if (result != CURLE_OK) {
    snprintf(why, whylen, "%s", r->too_big ? "the reply is too large" : curl_easy_strerror(result));
    goto out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  rc = 0;
out:
  curl_multi_remove_handle(w->multi, c);
  curl_slist_free_all(hdr);
  if (rc != 0) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
  }
  return rc;
}

/* ------------------------------------------------------------------ worker: the push socket (lws) */

typedef struct txbuf {
  struct txbuf *next;
  uint8_t *buf; /* LWS_PRE + len */
  size_t len;
} txbuf;

typedef enum conn_end {
  END_NONE = 0,
  END_STOPPED, /* the worker was told to stop */
  END_ENDED,   /* control action 3 */
  END_CLOSED,  /* the peer closed, or the connection broke */
  END_DEAD,    /* silent for dead_ms */
  END_REFUSED, /* the handshake was answered, not with 101 */
  END_FAILED,  /* could not connect */
  END_TOO_BIG, /* a message over TTB_WEBCAST_MSG_MAX */
} conn_end;

typedef struct conn {
  worker *w;
  struct lws *wsi;
  const char *ttwid;
  char room[TTB_TIKTOK_ROOM_MAX];
  uint64_t room_u64;
  bool established, gone, closing;
  conn_end end;
  int http_status;
  char hs_msg[64]; /* the Handshake-Msg header of a refused handshake */
  char why[160];
  uint8_t *rx;
  size_t rx_len;
  txbuf *tx_head, *tx_tail;
  uint64_t last_rx, last_hb, opened_at;
  bool got_frame; /* at least one frame decoded: the backoff starts over */
  /* the trace of this connection */
  ttb_trace_writer *trace;
  uint64_t trace_flushed;
} conn;

static atomic_uint trace_seq;

static void lws_log_discard(int level, const char *line)
{
  (void)level;
  (void)line;
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

static void lws_log_init(void)
{
  const char *e = getenv("TTBOOST_LWS_LOG");
  if (e && *e)
    lws_set_log_level(atoi(e), NULL);
  else
    lws_set_log_level(0, lws_log_discard);
}

/* lws_create_context and lws_context_destroy touch process-wide OpenSSL
 * state: one at a time. */
static pthread_mutex_t lws_ctx_mu = PTHREAD_MUTEX_INITIALIZER;

static void conn_tx(conn *c, uint8_t *buf, size_t len)
{
  if (buf == NULL)
    return;
  txbuf *b = malloc(sizeof *b);
  if (b == NULL) {
    free(buf);
    return;
  }
  b->next = NULL;
  b->buf = buf;
  b->len = len;
  if (c->tx_tail)
    c->tx_tail->next = b;
  else
    c->tx_head = b;
  c->tx_tail = b;
  if (c->wsi && !c->gone)
    lws_callback_on_writable(c->wsi);
}

static void conn_tx_clear(conn *c)
{
  while (c->tx_head) {
    txbuf *b = c->tx_head;
    c->tx_head = b->next;
    free(b->buf);
    free(b);
  }
  c->tx_tail = NULL;
}

static void conn_heartbeat(conn *c)
{
  size_t len;
  uint8_t *b = ttb_webcast_heartbeat(c->room_u64, LWS_PRE, &len);
  conn_tx(c, b, len);
  c->last_hb = now_ms();
}

/* Asks lws to close the socket, once. */
static void conn_close(conn *c, conn_end why)
{
  if (c->end == END_NONE)
    c->end = why;
  if (c->closing || c->wsi == NULL || c->gone)
    return;
  c->closing = true;
  if (c->established) {
    lws_callback_on_writable(c->wsi); /* WRITEABLE sends the close frame */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 1);
  } else {
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
}

static void trace_close(conn *c)
{
  if (c->trace == NULL)
    return;
  char err[256];
  if (ttb_trace_writer_close(c->trace, err, sizeof err) != 0)
    fprintf(stderr, "ttboost-server: tiktok: %s @%s: trace: %s\n", c->w->channel, c->w->handle,
            err);
  c->trace = NULL;
}

static void trace_open(conn *c)
{
  const ttb_tiktok_opts *o = &c->w->t->opts;
  if (o->trace_dir[0] == '\0')
    return;
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  char path[1024];
  unsigned seq = atomic_fetch_add(&trace_seq, 1);
  if ((size_t)snprintf(path, sizeof path, "%s/tiktok-%s-%s-%s-%u.ttbtrace", o->trace_dir,
                       c->w->handle, c->room, stamp, seq) >= sizeof path) {
    fprintf(stderr, "ttboost-server: tiktok: %s @%s: trace: the path is too long\n", c->w->channel,
            c->w->handle);
    return;
  }
  char note[160];
  snprintf(note, sizeof note, "@%s room %s", c->w->handle, c->room);
  char err[256];
  if (ttb_trace_writer_open(path, "ttboost-server tiktok", note, false, &c->trace, err,
                            sizeof err) != 0) {
    fprintf(stderr, "ttboost-server: tiktok: %s @%s: trace: %s\n", c->w->channel, c->w->handle,
            err);
    c->trace = NULL;
    return;
  }
  c->trace_flushed = now_ms();
}

/* Writes one received message into the trace, in chunks. */
static void trace_frame(conn *c, const uint8_t *p, size_t len)
{
  if (c->trace == NULL)
    return;
  uint64_t t_us = ttb_trace_writer_elapsed_us(c->trace);
  size_t off = 0;
  do {
    size_t n = len - off > TRACE_CHUNK ? TRACE_CHUNK : len - off;
    Ttboost__V1__TiktokFrame tf = TTBOOST__V1__TIKTOK_FRAME__INIT;
    tf.frame.data = (uint8_t *)p + off;
    tf.frame.len = n;
    tf.room_id = c->room;
    tf.more = off + n < len;
    Ttboost__V1__TraceRecord rec = TTBOOST__V1__TRACE_RECORD__INIT;
    rec.time_us = t_us;
    rec.direction = TTBOOST__V1__DIRECTION__DIRECTION_TIKTOK;
    rec.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK;
    rec.tiktok = &tf;
    char err[256];
    if (ttb_trace_write(c->trace, &rec, err, sizeof err) != 0) {
      fprintf(stderr, "ttboost-server: tiktok: %s @%s: trace: %s (tracing stops)\n", c->w->channel,
              c->w->handle, err);
      trace_close(c);
      return;
    }
    off += n;
  } while (off < len);
}

static void trace_tick(conn *c)
{
  if (c->trace == NULL || now_ms() - c->trace_flushed < TRACE_FLUSH_MS)
    return;
  c->trace_flushed = now_ms();
  char err[256];
  if (ttb_trace_writer_flush(c->trace, err, sizeof err) != 0) {
    fprintf(stderr, "ttboost-server: tiktok: %s @%s: trace: %s (tracing stops)\n", c->w->channel,
            c->w->handle, err);
    trace_close(c);
  }
}

/* One whole received WebSocket message. */
static void conn_message(conn *c, const uint8_t *p, size_t len)
{
  worker *w = c->w;
  counts n = {0};
  n.frames = 1;
  trace_frame(c, p, len);
  ttb_webcast_frame f;
  char err[160];
  if (ttb_webcast_decode(p, len, &f, err, sizeof err) != 0) {
    n.decode_errors = 1;
    post_counts(w, &n);
    ttb_webcast_frame_free(&f);
    return;
  }
  c->got_frame = true;
  if (f.type == TTB_WEBCAST_FRAME_MSG && f.need_ack) {
    size_t alen;
    uint8_t *b = ttb_webcast_ack(f.log_id, f.ack_ext, f.ack_ext_len, LWS_PRE, &alen);
    if (b != NULL) {
      conn_tx(c, b, alen);
      n.acks = 1;
    }
  }
  bool ended = false;
  for (size_t i = 0; i < f.n_events; i++) {
    ttb_webcast_event *e = &f.events[i];
    switch (e->kind) {
    case TTB_WEBCAST_CHAT:
    case TTB_WEBCAST_GIFT: {
      if (e->kind == TTB_WEBCAST_CHAT)
        n.chat++;
      else
        n.gift++;
      qitem *q = q_new(w, e->kind == TTB_WEBCAST_CHAT ? Q_CHAT : Q_GIFT);
      if (q == NULL)
        break;
      q->msg_id = e->msg_id;
      q->user = e->user; /* taken from the frame */
      q->text = e->text;
      q->gift_name = e->gift_name;
      e->user = e->text = e->gift_name = NULL;
      q->gift_id = e->gift_id;
      memcpy(q->streak_key, e->streak_key, sizeof q->streak_key);
      q->count = e->count;
      q->repeat_count = e->repeat_count;
      q->repeat_end = e->repeat_end;
      q->diamonds = e->diamonds;
      q_push(w->t, q);
      break;
    }
    case TTB_WEBCAST_END:
      n.control++;
      ended = true;
      break;
    case TTB_WEBCAST_CONTROL:
      n.control++;
      break;
    case TTB_WEBCAST_OTHER:
      n.other++;
      break;
    case TTB_WEBCAST_BAD:
      n.decode_errors++;
      break;
    }
  }
  ttb_webcast_frame_free(&f);
  post_counts(w, &n);
  if (ended)
    conn_close(c, END_ENDED);
}

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
  conn *c = user;
  if (c == NULL)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    char **p = (char **)in;
    char *end = *p + len;
    int k = snprintf(*p, (size_t)(end - *p),
                     "Cookie: ttwid=%s\r\nUser-Agent: %s\r\nReferer: %s\r\nAccept-Language: %s\r\n",
                     c->ttwid, USER_AGENT, TIKTOK_REFERER, ACCEPT_LANGUAGE);
    if (k < 0 || k >= end - *p)
      return -1;
    *p += k;
    break;
  }
  case LWS_CALLBACK_CLIENT_ESTABLISHED: {
    c->established = true;
    c->last_rx = now_ms();
    trace_open(c);
    conn_heartbeat(c);
    size_t elen;
    uint8_t *b = ttb_webcast_enter_room(c->room_u64, LWS_PRE, &elen);
    conn_tx(c, b, elen);
    post_status(c->w, TTB_TIKTOK_LIVE, c->room, "in room %s", c->room);
    break;
  }
  case LWS_CALLBACK_CLIENT_RECEIVE: {
    c->last_rx = now_ms();
    if (c->closing)
      break;
    if (len > TTB_WEBCAST_MSG_MAX - c->rx_len) {
      /* too big: close now rather than read the rest */
      counts n = {0};
      n.frames = 1;
      n.decode_errors = 1;
      post_counts(c->w, &n);
      snprintf(c->why, sizeof c->why, "a push frame over %u bytes", TTB_WEBCAST_MSG_MAX);
      conn_close(c, END_TOO_BIG);
      break;
    }
    if (len > 0) {
      memcpy(c->rx + c->rx_len, in, len);
      c->rx_len += len;
    }
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
      conn_message(c, c->rx, c->rx_len);
      c->rx_len = 0;
    }
    break;
  }
  case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
    c->last_rx = now_ms();
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    if (c->closing) {
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
      return -1;
    }
    txbuf *b = c->tx_head;
    if (b == NULL)
      break;
    c->tx_head = b->next;
    if (c->tx_head == NULL)
      c->tx_tail = NULL;
    int k = lws_write(wsi, b->buf + LWS_PRE, b->len, LWS_WRITE_BINARY);
    bool ok = k >= 0 && (size_t)k >= b->len;
    free(b->buf);
    free(b);
    if (!ok) {
      snprintf(c->why, sizeof c->why, "writing to the push socket failed");
      if (c->end == END_NONE)
        c->end = END_CLOSED;
      return -1;
    }
    if (c->tx_head)
      lws_callback_on_writable(wsi);
    break;
  }
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
    c->http_status = (int)lws_http_client_http_response(wsi);
    char hm[64];
    int hl = lws_hdr_custom_length(wsi, "handshake-msg:", 14);
    if (hl > 0 && lws_hdr_custom_copy(wsi, hm, sizeof hm, "handshake-msg:", 14) > 0) {
      snprintf(c->hs_msg, sizeof c->hs_msg, "%s", hm);
    } else {
      hl = lws_hdr_custom_length(wsi, "Handshake-Msg:", 14);
      if (hl > 0 && lws_hdr_custom_copy(wsi, hm, sizeof hm, "Handshake-Msg:", 14) > 0)
        snprintf(c->hs_msg, sizeof c->hs_msg, "%s", hm);
    }
    for (char *s = c->hs_msg; *s; s++)
      if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
        *s = '?';
    const char *msg = in ? (const char *)in : "";
    snprintf(c->why, sizeof c->why, "%.150s", msg[0] ? msg : "cannot connect");
    if (c->end == END_NONE) {
      bool refused = c->hs_msg[0] != '\0' ||
                     (c->http_status > 0 && c->http_status != 101 && c->http_status != 200);
      c->end = refused ? END_REFUSED : END_FAILED;
    }
    break;
  }
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (c->end == END_NONE) {
      c->end = END_CLOSED;
      snprintf(c->why, sizeof c->why, "TikTok closed the push socket");
    }
    break;
  case LWS_CALLBACK_WSI_DESTROY:
    if (c->end == END_NONE) {
      c->end = c->established ? END_CLOSED : END_FAILED;
      snprintf(c->why, sizeof c->why, c->established ? "the push socket closed" : "cannot connect");
    }
    c->gone = true;
    c->wsi = NULL;
    break;
  default:
    break;
  }
  return 0;
}

static SSL_CTX *client_tls(void)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL)
    return NULL;
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_default_verify_paths(ctx)) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

static void ctx_destroy(worker *w)
{
  pthread_mutex_lock(&lws_ctx_mu);
  if (w->ctx)
    lws_context_destroy(w->ctx);
  w->ctx = NULL;
  if (w->tls)
    SSL_CTX_free(w->tls);
  w->tls = NULL;
  pthread_mutex_unlock(&lws_ctx_mu);
}

static bool ctx_ensure(worker *w, char *why, size_t whylen)
{
  if (w->ctx)
    return true;
  pthread_once(&lws_log_once, lws_log_init);
  w->protocols[0].name = "ttboost-tiktok";
  w->protocols[0].callback = lws_cb;
  w->protocols[0].rx_buffer_size = 65536;
  memset(&w->protocols[1], 0, sizeof w->protocols[1]);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = w->protocols;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
  info.gid = -1;
  info.uid = -1;
  info.fd_limit_per_thread = 8;
  info.timeout_secs = 10;
  info.connect_timeout_secs = 10;
  pthread_mutex_lock(&lws_ctx_mu);
  w->tls = client_tls();
  if (w->tls == NULL) {
    pthread_mutex_unlock(&lws_ctx_mu);
    snprintf(why, whylen, "cannot set up TLS");
    return false;
  }
  info.provided_client_ssl_ctx = w->tls;
  w->ctx = lws_create_context(&info);
  pthread_mutex_unlock(&lws_ctx_mu);
  if (w->ctx == NULL) {
    ctx_destroy(w);
    snprintf(why, whylen, "cannot set up libwebsockets");
    return false;
  }
  return true;
}

static void sul_noop(lws_sorted_usec_list_t *sul)
{
  (void)sul; /* only bounds lws_service's wait */
}

/* Splits ws[s]://host[:port]/path?query. */
static bool split_url(const char *url, bool *tls, char *host, size_t hostcap, int *port,
                      const char **path)
{
  const char *p;
  if (strncmp(url, "wss://", 6) == 0) {
    *tls = true;
    p = url + 6;
    *port = 443;
  } else if (strncmp(url, "ws://", 5) == 0) {
    *tls = false;
    p = url + 5;
    *port = 80;
  } else {
    return false;
  }
  size_t hl = strcspn(p, ":/?");
  if (hl == 0 || hl >= hostcap)
    return false;
  memcpy(host, p, hl);
  host[hl] = '\0';
  p += hl;
  if (*p == ':') {
    char *e;
    long v = strtol(p + 1, &e, 10);
    if (e == p + 1 || v < 1 || v > 65535)
      return false;
    *port = (int)v;
    p = e;
  }
  if (*p != '/')
    return false;
  *path = p;
  return true;
}

/* Runs one push-socket connection to its end. why gets the reason. */
static conn_end run_socket(worker *w, const char *ttwid, const char *room, char *hs_msg,
                           size_t hslen, char *why, size_t whylen, bool *got_frame)
{
  *got_frame = false;
  hs_msg[0] = '\0';
  const ttb_tiktok_opts *o = &w->t->opts;
  char url[TTB_WEBCAST_URL_MAX];
  unsigned rtt = 100 + (unsigned)(rand_r(&w->seed) % 101);
  if (ttb_webcast_ws_url(o->ws, room, w->t->tz, rtt, url, sizeof url) != 0) {
    snprintf(why, whylen, "the push socket URL is too long");
    return END_FAILED;
  }
  bool tls;
  char host[256];
  int port;
  const char *path;
  if (!split_url(url, &tls, host, sizeof host, &port, &path)) {
    snprintf(why, whylen, "the push socket URL is not ws:// or wss://");
    return END_FAILED;
  }
  if (!ctx_ensure(w, why, whylen))
    return END_FAILED;
  conn c;
  memset(&c, 0, sizeof c);
  c.w = w;
  c.ttwid = ttwid;
  snprintf(c.room, sizeof c.room, "%s", room);
  if (!ttb_webcast_room_u64(room, &c.room_u64)) {
    snprintf(why, whylen, "the room id is not a number");
    return END_FAILED;
  }
  c.rx = malloc(TTB_WEBCAST_MSG_MAX);
  if (c.rx == NULL) {
    snprintf(why, whylen, "out of memory");
    return END_FAILED;
  }
  c.opened_at = now_ms();

  struct lws_client_connect_info i;
  memset(&i, 0, sizeof i);
  i.context = w->ctx;
  i.address = host;
  i.port = port;
  i.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
  i.path = path;
  i.host = host;
  i.origin = TIKTOK_ORIGIN;
  i.protocol = NULL;
  i.local_protocol_name = w->protocols[0].name;
  i.userdata = &c;
  i.pwsi = &c.wsi;
  struct lws *wsi = lws_client_connect_via_info(&i);
  if (wsi == NULL && c.end == END_NONE) {
    c.end = END_FAILED;
    snprintf(c.why, sizeof c.why, "cannot connect to %.100s", host);
  }
  /* lws clears c.wsi (through pwsi) when it frees the socket, and calls
   * WSI_DESTROY (gone) for one it set up */

  lws_sorted_usec_list_t sul;
  memset(&sul, 0, sizeof sul);
  uint64_t hard_end = 0; /* once closing: destroy the context if lws lingers */
  uint64_t connect_deadline = c.opened_at + (o->http_timeout_ms ? o->http_timeout_ms : 10000);
  while (!c.gone && c.wsi != NULL) {
    uint64_t now = now_ms();
    if (stopping(w))
      conn_close(&c, END_STOPPED);
    else if (!c.established && now >= connect_deadline) {
      snprintf(c.why, sizeof c.why, "the handshake timed out");
      conn_close(&c, END_FAILED);
    } else if (c.established && !c.closing) {
      uint64_t dead = o->dead_ms ? o->dead_ms : 60000;
      uint64_t hb = o->heartbeat_ms ? o->heartbeat_ms : 10000;
      if (now - c.last_rx >= dead) {
        snprintf(c.why, sizeof c.why, "no data for %" PRIu64 " s", dead / 1000);
        conn_close(&c, END_DEAD);
      } else if (now - c.last_hb >= hb) {
        conn_heartbeat(&c);
      }
    }
    trace_tick(&c);
    if ((c.closing || c.end != END_NONE) && hard_end == 0)
      hard_end = now + 3000;
    if (hard_end && now >= hard_end)
      break;
    lws_sul_schedule(w->ctx, 0, &sul, sul_noop, (lws_usec_t)SLICE_MS * 1000);
    lws_service(w->ctx, 0);
    lws_sul_cancel(&sul);
  }
  if (!c.gone && c.wsi != NULL) {
    /* lws did not let go in time: drop the whole context (it calls back
     * for the socket while c is still alive) */
    ctx_destroy(w);
  }
  trace_close(&c);
  conn_tx_clear(&c);
  free(c.rx);
  *got_frame = c.got_frame;
  snprintf(hs_msg, hslen, "%s", c.hs_msg);
  if (c.end == END_REFUSED)
    snprintf(why, whylen, "TikTok refused the push socket (HTTP %d%s%s)", c.http_status,
             c.hs_msg[0] ? ", " : "", c.hs_msg);
  else
    snprintf(why, whylen, "%s", c.why[0] ? c.why : "the push socket closed");
  return c.end == END_NONE ? END_CLOSED : c.end;
}

/* ------------------------------------------------------------------ worker: the main loop */

static void *worker_main(void *arg)
{
  worker *w = arg;
  ttb_tiktok *t = w->t;
  const ttb_tiktok_opts *o = &t->opts;
  unsigned attempt = 0; /* failures in a row */
  char why[256];
  w->curl = curl_easy_init();
  w->multi = curl_multi_init();
  if (w->curl == NULL || w->multi == NULL) {
    post_status(w, TTB_TIKTOK_ERROR, "", "cannot start libcurl");
    goto out;
  }
  post_status(w, TTB_TIKTOK_CONNECTING, "", "looking @%s up", w->handle);
  while (!stopping(w)) {
    counts n = {0};
    /* 1. a fresh ttwid */
    char url[TTB_WEBCAST_URL_MAX];
    int bl = (int)strlen(o->web);
    while (bl > 0 && o->web[bl - 1] == '/')
      bl--;
    snprintf(url, sizeof url, "%.*s/", bl, o->web);
    long status;
    http_resp r;
    if (http_get(w, url, NULL, &status, &r, why, sizeof why) != 0) {
      if (stopping(w))
        break;
      post_status(w, TTB_TIKTOK_ERROR, "", "cannot reach TikTok: %s", why);
      wait_ms(w, backoff_ms(w, attempt++));
      continue;
    }
    char ttwid[TTB_WEBCAST_TTWID_MAX];
    snprintf(ttwid, sizeof ttwid, "%s", r.ttwid);
    free(r.body);
    if (ttwid[0] == '\0') {
      post_status(w, TTB_TIKTOK_ERROR, "", "TikTok set no ttwid cookie (HTTP %ld)", status);
      wait_ms(w, backoff_ms(w, attempt++));
      continue;
    }
    /* 2. the room lookup */
    if (ttb_webcast_lookup_url(o->web, w->handle, url, sizeof url) != 0) {
      post_status(w, TTB_TIKTOK_ERROR, "", "the lookup URL is too long");
      wait_ms(w, o->lookup_ms);
      continue;
    }
    n.lookups = 1;
    post_counts(w, &n);
    if (http_get(w, url, ttwid, &status, &r, why, sizeof why) != 0) {
      if (stopping(w))
        break;
      post_status(w, TTB_TIKTOK_ERROR, "", "the room lookup failed: %s", why);
      wait_ms(w, backoff_ms(w, attempt++));
      continue;
    }
    ttb_webcast_lookup lk;
    ttb_webcast_parse_lookup(status, r.body, r.len, &lk);
    free(r.body);
    switch (lk.status) {
    case TTB_WEBCAST_NOT_LIVE:
      attempt = 0;
      post_status(w, TTB_TIKTOK_WAITING, "", "@%s is %s", w->handle, lk.message);
      wait_ms(w, o->lookup_ms);
      continue;
    case TTB_WEBCAST_NO_USER:
      attempt = 0;
      post_status(w, TTB_TIKTOK_WAITING, "", "TikTok has no user @%s", w->handle);
      wait_ms(w, o->lookup_ms);
      continue;
    case TTB_WEBCAST_BLOCKED:
    case TTB_WEBCAST_LOOKUP_ERROR: {
      post_status(w, TTB_TIKTOK_ERROR, "", "%s", lk.message);
      uint64_t d = backoff_ms(w, attempt++);
      wait_ms(w,
              lk.status == TTB_WEBCAST_BLOCKED && d < o->blocked_wait_ms ? o->blocked_wait_ms : d);
      continue;
    }
    case TTB_WEBCAST_LIVE:
      break;
    }
    /* 3. the push socket */
    post_status(w, TTB_TIKTOK_CONNECTING, lk.room_id, "joining room %s", lk.room_id);
    char hs[64];
    bool got_frame;
    conn_end e = run_socket(w, ttwid, lk.room_id, hs, sizeof hs, why, sizeof why, &got_frame);
    memset(ttwid, 0, sizeof ttwid);
    if (got_frame)
      attempt = 0;
    memset(&n, 0, sizeof n);
    switch (e) {
    case END_STOPPED:
    case END_NONE:
      break;
    case END_ENDED:
      attempt = 0;
      post_status(w, TTB_TIKTOK_ENDED, lk.room_id, "the LIVE ended");
      wait_ms(w, o->lookup_ms);
      break;
    case END_REFUSED: {
      n.reconnects = 1;
      post_counts(w, &n);
      post_status(w, TTB_TIKTOK_ERROR, "", "%s", why);
      uint64_t d = backoff_ms(w, attempt > 0 ? attempt - 1 : 0);
      attempt++;
      wait_ms(w, d > o->blocked_wait_ms ? d : o->blocked_wait_ms);
      break;
    }
    case END_FAILED:
      n.reconnects = 1;
      post_counts(w, &n);
      post_status(w, TTB_TIKTOK_ERROR, "", "cannot open the push socket: %s", why);
      wait_ms(w, backoff_ms(w, attempt++));
      break;
    case END_CLOSED:
    case END_DEAD:
    case END_TOO_BIG: {
      n.reconnects = 1;
      post_counts(w, &n);
      uint64_t d = backoff_ms(w, attempt++);
      post_status(w, TTB_TIKTOK_CONNECTING, "", "reconnecting: %s", why);
      wait_ms(w, d);
      break;
    }
    }
  }
out:
  ctx_destroy(w);
  if (w->multi)
    curl_multi_cleanup(w->multi);
  if (w->curl)
    curl_easy_cleanup(w->curl);
  w->multi = NULL;
  w->curl = NULL;
  qitem *q = q_new(w, Q_EXIT);
  if (q != NULL) /* else the loop cannot be told: destroy finds the thread */
    q_push(t, q);
  atomic_store(&w->finished, true);
  return NULL;
}

/* ------------------------------------------------------------------ loop side */

static chan *chan_find(const ttb_tiktok *t, const char *channel)
{
  for (chan *c = t->chans; c; c = c->next)
    if (strcmp(c->channel, channel) == 0)
      return c;
  return NULL;
}

static chan *chan_get(ttb_tiktok *t, const char *channel)
{
  chan *c = chan_find(t, channel);
  if (c != NULL)
    return c;
  if (strlen(channel) >= CHANNEL_MAX)
    return NULL;
  c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->dedup = ttb_webcast_dedup_new(4096);
  if (c->dedup == NULL) {
    free(c);
    return NULL;
  }
  snprintf(c->channel, sizeof c->channel, "%s", channel);
  c->st.state = TTB_TIKTOK_OFF;
  c->next = t->chans;
  t->chans = c;
  return c;
}

/* Applies a status to the channel: gauge, log, sink. */
static void chan_set_status(ttb_tiktok *t, chan *c, ttb_tiktok_state st, const char *room,
                            const char *msg)
{
  ttb_tiktok_state old = c->st.state;
  bool same = old == st && strcmp(c->st.room_id, room) == 0 && strcmp(c->st.message, msg) == 0 &&
              strcmp(c->st.username, c->handle) == 0;
  if (same)
    return;
  /* the gauge counts this node's connections: not a status shown for another node's */
  ttb_tiktok_state counted = !t->opts.gated || c->w != NULL ? st : TTB_TIKTOK_OFF;
  if (t->metrics != NULL && c->counted != counted) {
    if (c->counted != TTB_TIKTOK_OFF && t->metrics->tiktok_conns[c->counted] > 0)
      t->metrics->tiktok_conns[c->counted]--;
    if (counted != TTB_TIKTOK_OFF)
      t->metrics->tiktok_conns[counted]++;
  }
  c->counted = counted;
  c->st.state = st;
  snprintf(c->st.username, sizeof c->st.username, "%s", c->handle);
  snprintf(c->st.room_id, sizeof c->st.room_id, "%s", room);
  snprintf(c->st.message, sizeof c->st.message, "%s", msg);
  if (old != TTB_TIKTOK_OFF || st != TTB_TIKTOK_OFF) /* off to off is no state change */
    fprintf(stderr, "ttboost-server: tiktok: %s @%s: %s (%s)\n", c->channel,
            c->handle[0] ? c->handle : "-", ttb_tiktok_state_name(st), msg[0] ? msg : "-");
  if (t->sink.status)
    t->sink.status(t->sink.arg, c->channel, &c->st);
}

static void worker_signal_stop(worker *w)
{
  pthread_mutex_lock(&w->mu);
  atomic_store(&w->stop, true);
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Unhooks the channel's worker (it stops on its own and is joined when it
 * says so) and sets the channel off. */
static void chan_stop(ttb_tiktok *t, chan *c, const char *why)
{
  if (c->w != NULL) {
    worker_signal_stop(c->w);
    c->w = NULL;
  }
  c->linger_at = 0;
  chan_set_status(t, c, TTB_TIKTOK_OFF, "", why);
}

/* Gated and not allowed here: the status of the node that runs it. */
static void chan_show_elsewhere(ttb_tiktok *t, chan *c)
{
  if (c->has_elsewhere)
    chan_set_status(t, c, c->elsewhere.state, c->elsewhere.room_id, c->elsewhere.message);
  else
    chan_set_status(t, c, TTB_TIKTOK_CONNECTING, "",
                    "Waiting for the node of the cluster that runs the TikTok connection.");
}

/* Gated connectors: tells the sink when the channel starts or stops
 * wanting a connection (a handle, and devices or a lingering worker). */
static void chan_want_sync(ttb_tiktok *t, chan *c)
{
  if (!t->opts.gated)
    return;
  bool want = c->handle[0] != '\0' && (c->sockets > 0 || c->w != NULL);
  if (want == c->wanted)
    return;
  c->wanted = want;
  if (t->sink.want)
    t->sink.want(t->sink.arg, c->channel, want);
}

static void chan_start(ttb_tiktok *t, chan *c)
{
  if (c->w != NULL || c->handle[0] == '\0')
    return;
  if (t->opts.gated && !c->allowed) {
    chan_show_elsewhere(t, c);
    return;
  }
  worker *w = calloc(1, sizeof *w);
  if (w == NULL) {
    chan_set_status(t, c, TTB_TIKTOK_ERROR, "", "out of memory");
    return;
  }
  w->t = t;
  w->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
  atomic_init(&w->stop, false);
  atomic_init(&w->finished, false);
  snprintf(w->channel, sizeof w->channel, "%s", c->channel);
  snprintf(w->handle, sizeof w->handle, "%s", c->handle);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    chan_set_status(t, c, TTB_TIKTOK_ERROR, "", "cannot start a thread");
    return;
  }
  w->next = t->workers;
  t->workers = w;
  c->w = w;
  c->linger_at = 0;
  chan_set_status(t, c, TTB_TIKTOK_CONNECTING, "", "starting");
}

static void worker_reap(ttb_tiktok *t, worker *w)
{
  pthread_join(w->thread, NULL);
  for (worker **pp = &t->workers; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

static chan *chan_of_worker(ttb_tiktok *t, const worker *w)
{
  for (chan *c = t->chans; c; c = c->next)
    if (c->w == w)
      return c;
  return NULL;
}

static void apply(ttb_tiktok *t, qitem *q)
{
  ttb_metrics *m = t->metrics;
  if (q->kind == Q_EXIT) {
    chan *c = chan_of_worker(t, q->w);
    if (c != NULL) /* it ended on its own (cannot start libcurl): the channel is off */
      c->w = NULL;
    worker_reap(t, q->w);
    if (c != NULL)
      chan_want_sync(t, c);
    return;
  }
  if (q->kind == Q_COUNTS) {
    if (m != NULL) {
      m->tiktok_frames += q->n.frames;
      m->tiktok_msgs_chat += q->n.chat;
      m->tiktok_msgs_gift += q->n.gift;
      m->tiktok_msgs_control += q->n.control;
      m->tiktok_msgs_other += q->n.other;
      m->tiktok_decode_errors += q->n.decode_errors;
      m->tiktok_acks += q->n.acks;
      m->tiktok_reconnects += q->n.reconnects;
      m->tiktok_lookups += q->n.lookups;
    }
    return;
  }
  chan *c = chan_of_worker(t, q->w);
  if (c == NULL)
    return; /* from a worker that was stopped */
  switch (q->kind) {
  case Q_STATUS:
    chan_set_status(t, c, q->state, q->room_id, q->message);
    break;
  case Q_CHAT:
  case Q_GIFT:
    if (ttb_webcast_dedup_check(c->dedup, q->msg_id)) {
      if (m != NULL)
        m->tiktok_duplicates++;
      break;
    }
    {
      char id[32] = "";
      if (q->msg_id != 0)
        snprintf(id, sizeof id, "tt:%llu", (unsigned long long)q->msg_id);
      if (q->kind == Q_CHAT && t->sink.chat)
        t->sink.chat(t->sink.arg, c->channel, q->user ? q->user : "", q->text ? q->text : "", id);
      if (q->kind == Q_GIFT && t->sink.gift_value && q->gift_name)
        t->sink.gift_value(t->sink.arg, c->channel, q->gift_name, q->diamonds);
      if (q->kind == Q_GIFT && t->sink.gift)
        t->sink.gift(t->sink.arg, c->channel, q->user ? q->user : "", q->streak_key,
                     q->gift_name ? q->gift_name : "", q->gift_id, q->count, q->repeat_count,
                     q->repeat_end, id);
    }
    break;
  default:
    break;
  }
}

/* Drains the queue on the loop thread. */
static void drain(ttb_tiktok *t)
{
  pthread_mutex_lock(&t->qmu);
  qitem *q = t->qhead;
  t->qhead = t->qtail = NULL;
  t->qlen = 0;
  pthread_mutex_unlock(&t->qmu);
  while (q != NULL) {
    qitem *next = q->next;
    apply(t, q);
    qitem_free(q);
    q = next;
  }
}

static void on_pipe(h2o_socket_t *sock, const char *err)
{
  ttb_tiktok *t = sock->data;
  if (err != NULL) {
    fprintf(stderr, "ttboost-server: tiktok: wake-up pipe: %s\n", err);
    return;
  }
  h2o_buffer_consume(&sock->input, sock->input->size);
  ttb_wake_drain(t->pipefd[0]); /* before draining the queue: a later byte means later items */
  drain(t);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
  ttb_tiktok *t = (ttb_tiktok *)((char *)entry - offsetof(ttb_tiktok, tick_entry));
  uint64_t now = now_ms();
  for (chan *c = t->chans; c; c = c->next)
    if (c->linger_at != 0 && c->sockets == 0 && now >= c->linger_at) {
      chan_stop(t, c, "no device connected");
      chan_want_sync(t, c);
    }
  h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

/* The zone name for the push URL: $TZ when it names one, else /etc/timezone. */
static void find_tz(char *out, size_t cap)
{
  const char *e = getenv("TZ");
  if (e != NULL && *e == ':')
    e++;
  if (e != NULL && strchr(e, '/') != NULL && e[0] != '/' && strlen(e) < cap) {
    snprintf(out, cap, "%s", e);
    return;
  }
  FILE *f = fopen("/etc/timezone", "r");
  if (f != NULL) {
    char line[64];
    if (fgets(line, sizeof line, f) != NULL) {
      line[strcspn(line, " \r\n")] = '\0';
      if (line[0] != '\0') {
        snprintf(out, cap, "%s", line);
        fclose(f);
        return;
      }
    }
    fclose(f);
  }
  snprintf(out, cap, "Etc/UTC");
}

ttb_tiktok *ttb_tiktok_create(h2o_evloop_t *loop, const ttb_tiktok_opts *o,
                              const ttb_tiktok_sink *sink, ttb_metrics *metrics, char *err,
                              size_t errlen)
{
  if (strncmp(o->web, "http://", 7) != 0 && strncmp(o->web, "https://", 8) != 0) {
    snprintf(err, errlen, "tiktok-web must be an http:// or https:// URL");
    return NULL;
  }
  if (strncmp(o->ws, "ws://", 5) != 0 && strncmp(o->ws, "wss://", 6) != 0) {
    snprintf(err, errlen, "tiktok-ws must be a ws:// or wss:// URL");
    return NULL;
  }
  static bool curl_ready;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      snprintf(err, errlen, "cannot initialise libcurl");
      return NULL;
    }
    curl_ready = true;
  }
  ttb_tiktok *t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->loop = loop;
  t->opts = *o;
  if (sink != NULL)
    t->sink = *sink;
  t->metrics = metrics;
  t->pipefd[0] = t->pipefd[1] = -1;
  pthread_mutex_init(&t->qmu, NULL);
  find_tz(t->tz, sizeof t->tz);
  if (o->trace_dir[0] != '\0') {
    struct stat sb;
    if (stat(o->trace_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
      snprintf(err, errlen, "tiktok-trace: %s is not a directory", o->trace_dir);
      goto fail;
    }
  }
  if (pipe(t->pipefd) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    goto fail;
  }
  for (int i = 0; i < 2; i++) {
    int fl = fcntl(t->pipefd[i], F_GETFL);
    fcntl(t->pipefd[i], F_SETFL, fl | O_NONBLOCK);
    fcntl(t->pipefd[i], F_SETFD, FD_CLOEXEC);
  }
  t->pipe_sock = h2o_evloop_socket_create(loop, t->pipefd[0], H2O_SOCKET_FLAG_DONT_READ);
  if (t->pipe_sock == NULL) {
    snprintf(err, errlen, "cannot watch the TikTok wake-up pipe");
    goto fail;
  }
  t->pipe_sock->data = t;
  h2o_socket_read_start(t->pipe_sock, on_pipe);
  h2o_timeout_init(loop, &t->tick, TICK_MS);
  t->tick_inited = true;
  t->tick_entry.cb = on_tick;
  h2o_timeout_link(loop, &t->tick, &t->tick_entry);
  return t;
fail:
  ttb_tiktok_destroy(t);
  return NULL;
}

void ttb_tiktok_destroy(ttb_tiktok *t)
{
  if (t == NULL)
    return;
  for (worker *w = t->workers; w; w = w->next)
    worker_signal_stop(w);
  /* Each notices its stop within a slice; one blocked in lws's synchronous
   * DNS lookup may take longer. Wait a bounded time, then leave stragglers
   * behind (detached, with t kept alive for them: the process is ending). */
  uint64_t deadline = now_ms() + 3000;
  for (;;) {
    bool all = true;
    for (worker *w = t->workers; w; w = w->next)
      all = all && atomic_load(&w->finished);
    if (all || now_ms() >= deadline)
      break;
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
  bool stuck = false;
  for (worker *w = t->workers, *next; w; w = next) {
    next = w->next;
    if (atomic_load(&w->finished)) {
      worker_reap(t, w);
    } else {
      pthread_detach(w->thread);
      stuck = true;
    }
  }
  if (stuck) {
    fprintf(stderr, "ttboost-server: tiktok: a worker did not stop in time; leaving it behind\n");
    if (t->tick_inited && h2o_timeout_is_linked(&t->tick_entry))
      h2o_timeout_unlink(&t->tick_entry);
    if (t->pipe_sock != NULL) {
      h2o_socket_read_stop(t->pipe_sock);
      h2o_socket_export_t info;
      if (h2o_socket_export(t->pipe_sock, &info) == 0)
        h2o_buffer_dispose(&info.input); /* the fds stay open for the straggler */
      t->pipe_sock = NULL;
    }
    return;
  }
  /* what the workers queued last: exits (already reaped) and the rest */
  pthread_mutex_lock(&t->qmu);
  qitem *q = t->qhead;
  t->qhead = t->qtail = NULL;
  pthread_mutex_unlock(&t->qmu);
  while (q != NULL) {
    qitem *next = q->next;
    qitem_free(q);
    q = next;
  }
  if (t->tick_inited) {
    if (h2o_timeout_is_linked(&t->tick_entry))
      h2o_timeout_unlink(&t->tick_entry);
    h2o_timeout_dispose(t->loop, &t->tick);
  }
  if (t->pipe_sock != NULL) {
    h2o_socket_read_stop(t->pipe_sock);
    h2o_socket_export_t info;
    if (h2o_socket_export(t->pipe_sock, &info) == 0) {
      h2o_buffer_dispose(&info.input);
      t->pipefd[0] = info.fd;
    }
    t->pipe_sock = NULL;
  }
  for (int i = 0; i < 2; i++)
    if (t->pipefd[i] >= 0)
      close(t->pipefd[i]);
  while (t->chans != NULL) {
    chan *c = t->chans;
    t->chans = c->next;
    if (t->metrics != NULL && c->counted != TTB_TIKTOK_OFF &&
        t->metrics->tiktok_conns[c->counted] > 0)
      t->metrics->tiktok_conns[c->counted]--;
    ttb_webcast_dedup_free(c->dedup);
    free(c);
  }
  pthread_mutex_destroy(&t->qmu);
  free(t);
}

void ttb_tiktok_set_user(ttb_tiktok *t, const char *channel, const char *username)
{
  if (t == NULL || channel == NULL)
    return;
  if (username == NULL)
    username = "";
  if (username[0] == '@')
    username++;
  chan *c = username[0] ? chan_get(t, channel) : chan_find(t, channel);
  if (c == NULL)
    return;
  if (strcmp(c->handle, username) == 0)
    return;
  if (c->w != NULL) { /* the new status below says what happened */
    worker_signal_stop(c->w);
    c->w = NULL;
    c->linger_at = 0;
  }
  snprintf(c->handle, sizeof c->handle, "%s", username);
  if (c->handle[0] != '\0' && c->sockets > 0)
    chan_start(t, c);
  else
    chan_set_status(t, c, TTB_TIKTOK_OFF, "",
                    c->handle[0] ? "no device connected" : "no TikTok user");
  chan_want_sync(t, c);
}

void ttb_tiktok_set_devices(ttb_tiktok *t, const char *channel, size_t sockets)
{
  if (t == NULL || channel == NULL)
    return;
  chan *c = sockets > 0 ? chan_get(t, channel) : chan_find(t, channel);
  if (c == NULL)
    return;
  c->sockets = sockets;
  if (sockets > 0) {
    c->linger_at = 0;
    chan_want_sync(t, c); /* before the start: a gated one asks for its lease first */
    if (c->w == NULL && c->handle[0] != '\0')
      chan_start(t, c);
    return;
  }
  if (c->w == NULL) {
    chan_want_sync(t, c);
    return;
  }
  if (t->opts.linger_ms == 0) {
    chan_stop(t, c, "no device connected");
    chan_want_sync(t, c);
    return;
  }
  if (c->linger_at == 0)
    c->linger_at = now_ms() + t->opts.linger_ms;
}

void ttb_tiktok_allow(ttb_tiktok *t, const char *channel, bool allowed)
{
  if (t == NULL || channel == NULL || !t->opts.gated)
    return;
  chan *c = allowed ? chan_get(t, channel) : chan_find(t, channel);
  if (c == NULL || c->allowed == allowed)
    return;
  c->allowed = allowed;
  if (allowed) {
    c->has_elsewhere = false; /* what another node said is old news once it is lost again */
    if (c->w == NULL && c->handle[0] != '\0' && c->sockets > 0)
      chan_start(t, c);
    return;
  }
  if (c->w != NULL) { /* at once: another node may run it already */
    worker_signal_stop(c->w);
    c->w = NULL;
    c->linger_at = 0;
  }
  if (c->handle[0] != '\0' && c->sockets > 0)
    chan_show_elsewhere(t, c);
  else
    chan_set_status(t, c, TTB_TIKTOK_OFF, "",
                    c->handle[0] ? "no device connected" : "no TikTok user");
  chan_want_sync(t, c);
}

void ttb_tiktok_elsewhere(ttb_tiktok *t, const char *channel, const ttb_tiktok_status *st)
{
  if (t == NULL || channel == NULL || !t->opts.gated)
    return;
  chan *c = chan_find(t, channel);
  if (c == NULL)
    return;
  c->has_elsewhere = st != NULL;
  if (st != NULL)
    c->elsewhere = *st;
  if (!c->allowed && c->w == NULL && c->handle[0] != '\0' && c->sockets > 0)
    chan_show_elsewhere(t, c);
}

void ttb_tiktok_status_of(const ttb_tiktok *t, const char *channel, ttb_tiktok_status *out)
{
  memset(out, 0, sizeof *out);
  out->state = TTB_TIKTOK_OFF;
  const chan *c = t != NULL && channel != NULL ? chan_find(t, channel) : NULL;
  if (c == NULL)
    return;
  *out = c->st;
  snprintf(out->username, sizeof out->username, "%s", c->handle);
}
