/* Channels, history and fan-out: see hub.h. */
#include "hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery.h"
#include "journal.h"
#include "ttboost/fnv.h"
#include "ttboost/v1/events.pbc-json.h"
#include "ws.h"

/* One event's two encodings in one block, shared by its history entry and
 * its held record (below) instead of copied: freed by the last of them. */
typedef struct evbuf {
  size_t refs;
  char data[]; /* the JSON text, then the protobuf bytes */
} evbuf;

/* One published event, kept for resume. json and pb point into buf. */
typedef struct entry {
  uint64_t seq;
  bool chat; /* else gift */
  char *json;
  size_t json_len;
  uint8_t *pb;
  size_t pb_len;
  evbuf *buf; /* holds one reference */
} entry;

struct ttb_pending {
  ttb_pending *next;
  ttb_channel *ch;
  uint64_t fifo; /* its place in the channel's queue (1, 2, 3 ...) */
  bool ready;
  bool chat;
  char *user;
  char *text; /* chat message, or gift name */
  char *url;  /* tts_url or sound_url */
  uint32_t count;
};

/* A published event whose journal record is not synced yet: it goes to the
 * sockets at the commit (ttb_hub_commit), with the AudioFrames of its
 * speech that came meanwhile. Holds a reference to the event's bytes (the
 * history entry's, not a copy). */
typedef struct held {
  struct held *next;  /* its channel's next held event */
  struct held *gnext; /* the hub's next held event (of any channel) */
  ttb_channel *ch;
  uint64_t ticket;  /* the journal commit that holds its record (journal.h) */
  entry ev;         /* seq, chat and the encodings (one reference) */
  uint8_t **frames; /* encoded ServerMessage{audio} */
  size_t *frame_len;
  size_t nframes, frames_cap;
} held;

struct ttb_channel {
  ttb_channel *hnext; /* hash chain */
  ttb_hub *hub;
  char *user_id;
  uint64_t seq;       /* the newest seq given out */
  uint64_t seq_sent;  /* the newest seq synced and sent (what sockets see) */
  uint64_t fifo_in;   /* the newest queue number given out */
  uint64_t fifo_done; /* every queue item up to this one is published or dropped */
  held *held_head, *held_tail;
  bool dirty;          /* it has held events */
  uint64_t touched_ms; /* monotonic: the last event, subscribe or unsubscribe */
  entry *hist;         /* ring of hub->history entries */
  size_t hist_n;       /* filled */
  size_t hist_head;    /* index of the oldest */
  ttb_link subs;       /* sessions */
  size_t nsubs;
  ttb_pending *pend_head, *pend_tail;
  /* the TikTok status, both encodings (NULL: none) */
  char *status_json;
  size_t status_json_len;
  uint8_t *status_pb;
  size_t status_pb_len;
};

struct ttb_hub {
  ttb_journal *journal; /* NULL: events go out at once */
  void (*commit_soon)(void *arg);
  void *commit_arg;
  bool commit_asked;
  bool restoring; /* in ttb_hub_restart: nothing drains yet */
  /* every held event in publish order, so in ticket order (and in each
   * channel's order): a release takes those synced from the head */
  held *ghead, *gtail;
  ttb_channel **buckets;
  size_t nbuckets;
  size_t nchannels;
  size_t history;
  ttb_metrics *metrics;
  ttb_hub_watch_fn watch;
  void *watch_arg;
  ttb_jw jw;   /* the JSON writer of every event, its buffer reused */
  held *spare; /* freed held records, reused (at most SPARE_HELD) */
  size_t nspare;
  bool speech_wanted; /* Hello.speech_wanted */
};

/* Held records kept for reuse: about the events of one journal sync. */
#define SPARE_HELD 16384

static uint64_t fnv1a(const char *s) { return ttb_fnv1a64_str(s); }

ttb_hub *ttb_hub_create(size_t history, ttb_metrics *metrics)
{
  ttb_hub *h = calloc(1, sizeof *h);
  if (h == NULL)
    return NULL;
  h->nbuckets = 4096;
  h->buckets = calloc(h->nbuckets, sizeof *h->buckets);
  if (h->buckets == NULL) {
    free(h);
    return NULL;
  }
  h->history = history ? history : 1;
  h->metrics = metrics;
  ttb_jw_init(&h->jw, 1024); /* a failed malloc here: the writer grows it later */
  ttb_jw_reset(&h->jw);
  return h;
}

/* Drops e's reference to its bytes. */
static void entry_release(entry *e)
{
  if (e->buf && --e->buf->refs == 0)
    free(e->buf);
  e->buf = NULL;
  e->json = NULL;
  e->pb = NULL;
}

/* Encodes m in both formats into one shared block (e->buf, one reference).
 * false on no memory or a message the JSON writer refuses. */
static bool encode_event(ttb_hub *h, const Ttboost__V1__ServerMessage *m, entry *e)
{
  ttb_jw_reset(&h->jw);
  if (!ttb_pbc_ttboost_v1_ServerMessage_json_encode(&h->jw, m) || h->jw.status != TTB_JSON_OK)
    return false;
  size_t jl = h->jw.len, pl = ttboost__v1__server_message__get_packed_size(m);
  evbuf *b = malloc(sizeof *b + jl + pl + 1);
  if (b == NULL)
    return false;
  b->refs = 1;
  memcpy(b->data, h->jw.buf, jl);
  b->data[jl] = '\0';
  ttboost__v1__server_message__pack(m, (uint8_t *)b->data + jl + 1);
  e->buf = b;
  e->json = b->data;
  e->json_len = jl;
  e->pb = (uint8_t *)b->data + jl + 1;
  e->pb_len = pl;
  return true;
}

static void pending_free(ttb_pending *p)
{
  if (p == NULL)
    return;
  free(p->user);
  free(p->text);
  free(p->url);
  free(p);
}

/* A held record, zeroed: a spare one, or a new one. NULL on no memory. */
static held *held_new(ttb_hub *h)
{
  held *x = h->spare;
  if (x == NULL)
    return calloc(1, sizeof *x);
  h->spare = x->next;
  h->nspare--;
  memset(x, 0, sizeof *x);
  return x;
}

/* Releases x's bytes and frames; keeps x for reuse (up to SPARE_HELD). */
static void held_free(ttb_hub *h, held *x)
{
  entry_release(&x->ev);
  for (size_t i = 0; i < x->nframes; i++)
    free(x->frames[i]);
  free(x->frames);
  free(x->frame_len);
  if (h->nspare < SPARE_HELD) {
    x->next = h->spare;
    h->spare = x;
    h->nspare++;
  } else {
    free(x);
  }
}

static void channel_free(ttb_channel *c)
{
  for (held *x = c->held_head; x;) {
    held *n = x->next;
    held_free(c->hub, x);
    x = n;
  }
  for (size_t i = 0; i < c->hist_n; i++)
    entry_release(&c->hist[(c->hist_head + i) % c->hub->history]);
  free(c->hist);
  free(c->status_json);
  free(c->status_pb);
  for (ttb_pending *p = c->pend_head; p;) {
    ttb_pending *n = p->next;
    pending_free(p);
    p = n;
  }
  free(c->user_id);
  free(c);
}

void ttb_hub_destroy(ttb_hub *h)
{
  if (h == NULL)
    return;
  for (size_t i = 0; i < h->nbuckets; i++)
    for (ttb_channel *c = h->buckets[i]; c;) {
      ttb_channel *n = c->hnext;
      channel_free(c);
      c = n;
    }
  free(h->buckets);
  while (h->spare) {
    held *x = h->spare;
    h->spare = x->next;
    free(x);
  }
  ttb_jw_finish(&h->jw);
  free(h);
}

ttb_channel *ttb_hub_channel(ttb_hub *h, const char *user_id, bool create)
{
  size_t b = fnv1a(user_id) % h->nbuckets;
  for (ttb_channel *c = h->buckets[b]; c; c = c->hnext)
    if (strcmp(c->user_id, user_id) == 0)
      return c;
  if (!create)
    return NULL;
  ttb_channel *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->user_id = strdup(user_id);
  if (c->user_id == NULL) {
    free(c);
    return NULL;
  }
  c->hub = h;
  c->subs.prev = c->subs.next = &c->subs;
  c->hnext = h->buckets[b];
  h->buckets[b] = c;
  h->nchannels++;
  return c;
}

void ttb_hub_each_live(ttb_hub *h, void (*fn)(ttb_channel *, void *), void *arg)
{
  for (size_t i = 0; i < h->nbuckets; i++)
    for (ttb_channel *c = h->buckets[i]; c;) {
      ttb_channel *n = c->hnext; /* fn may close sockets, not channels */
      if (c->nsubs)
        fn(c, arg);
      c = n;
    }
}

const char *ttb_channel_user(const ttb_channel *c) { return c->user_id; }
uint64_t ttb_channel_last_seq(const ttb_channel *c) { return c->seq_sent; }

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Encodes m in both formats into *e (json and pb malloc'd). */
static bool encode_both(const Ttboost__V1__ServerMessage *m, char **json, size_t *json_len,
                        uint8_t **pb, size_t *pb_len)
{
  *json = ttb_pbc_ttboost_v1_ServerMessage_to_json(m, json_len, NULL);
  if (*json == NULL)
    return false;
  *pb_len = ttboost__v1__server_message__get_packed_size(m);
  *pb = malloc(*pb_len ? *pb_len : 1);
  if (*pb == NULL) {
    free(*json);
    return false;
  }
  ttboost__v1__server_message__pack(m, *pb);
  return true;
}

/* The rule of delivery.h: every event goes to every socket (TTS off means
 * no speech, not no chats). */
static bool wants(const ttb_session *s, bool chat)
{
  const ttb_ws_settings *st = ttb_ws_get_settings(s);
  return ttb_delivery_event(chat, st->tts_enabled, st->gifts_enabled);
}

/* delivery.h: every chat's speech as AudioFrames to this socket, as it is
 * made? (A socket with speech_on_request gets only what it asks for:
 * ttb_hub_audio_to.) */
static bool wants_audio(const ttb_session *s)
{
  const ttb_ws_settings *st = ttb_ws_get_settings(s);
  return ttb_delivery_audio(ttb_ws_is_binary(s), st->tts_enabled, st->audio_frames) &&
         !st->speech_on_request;
}

#define FOR_EACH_SUB(c, s, body)                                                                  \
  for (ttb_link *l_ = (c)->subs.next, *n_ = l_->next; l_ != &(c)->subs; l_ = n_, n_ = l_->next) { \
    ttb_session *s = ttb_ws_from_channel_link(l_);                                                \
    body                                                                                          \
  }

/* Journals a record; a failure (no memory) is said on stderr: the event
 * still goes out, it just would not survive a crash. */
static void journal(ttb_hub *h, const ttb_jrec *r)
{
  if (h->journal == NULL)
    return;
  if (ttb_journal_add(h->journal, r) != 0) {
    h->metrics->journal_errors++;
    fprintf(stderr, "ttboost-server: journal: a record could not be added (out of memory)\n");
  }
  if (!h->commit_asked && h->commit_soon) {
    h->commit_asked = true;
    h->commit_soon(h->commit_arg);
  }
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Puts e into the channel's history ring (taking its reference). false on no memory. */
static bool ring_put(ttb_channel *c, entry e)
{
  ttb_hub *h = c->hub;
  c->touched_ms = mono_ms();
  if (c->hist == NULL) {
    c->hist = calloc(h->history, sizeof *c->hist);
    if (c->hist == NULL)
      return false;
  }
  if (c->hist_n == h->history) {
    entry *old = &c->hist[c->hist_head];
    entry_release(old);
    *old = e;
    c->hist_head = (c->hist_head + 1) % h->history;
  } else {
    c->hist[(c->hist_head + c->hist_n) % h->history] = e;
    c->hist_n++;
  }
  return true;
}

/* Sends a published event to the channel's sockets, then the AudioFrames
 * of its speech that came while it was held, to the binary sockets that
 * want them. */
static void fan_out(ttb_channel *c, const held *x)
{
  ttb_hub *h = c->hub;
  const entry *e = &x->ev;
  FOR_EACH_SUB(c, s, {
    if (!wants(s, e->chat))
      continue;
    if (!ttb_ws_send2(s, e->json, e->json_len, e->pb, e->pb_len))
      continue;
    if (e->chat)
      h->metrics->events_out_chat++;
    else
      h->metrics->events_out_gift++;
    if (x->nframes && wants_audio(s)) {
      for (size_t i = 0; i < x->nframes; i++) {
        if (!ttb_ws_send(s, x->frames[i], x->frame_len[i]))
          break;
        h->metrics->events_out_audio++;
      }
    }
  })
}

/* Publishes the ready item p: seq, journal, history, and the sockets (at
 * once without a journal, else at the commit). */
static void publish(ttb_channel *c, ttb_pending *p)
{
  ttb_hub *h = c->hub;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  Ttboost__V1__ChatEvent chat = TTBOOST__V1__CHAT_EVENT__INIT;
  Ttboost__V1__GiftEvent gift = TTBOOST__V1__GIFT_EVENT__INIT;
  m.seq = c->seq + 1;
  if (p->chat) {
    chat.user = p->user;
    chat.message = p->text;
    chat.tts_url = p->url ? p->url : "";
    m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
    m.chat = &chat;
  } else {
    gift.gift_name = p->text;
    gift.count = p->count;
    gift.sound_url = p->url ? p->url : "";
    gift.user = p->user ? p->user : "";
    m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
    m.gift = &gift;
  }
  entry e = {.seq = m.seq, .chat = p->chat};
  ttb_jrec r = {.channel = c->user_id, .fifo = p->fifo, .chat = p->chat};
  if (!encode_event(h, &m, &e)) {
    /* no memory (or text that is not UTF-8, refused at ingest): dropped */
    r.type = TTB_JREC_DROPPED;
    journal(h, &r);
    if (p->fifo > c->fifo_done)
      c->fifo_done = p->fifo;
    return;
  }
  r.type = TTB_JREC_EVENT;
  r.seq = m.seq;
  r.data = e.pb;
  r.len = e.pb_len;
  journal(h, &r);
  c->seq = m.seq;
  if (p->fifo > c->fifo_done)
    c->fifo_done = p->fifo;
  if (p->chat)
    h->metrics->events_published_chat++;
  else
    h->metrics->events_published_gift++;

  /* with a journal, the event waits for its sync, sharing the history
   * entry's bytes (one more reference, no copy) */
  held *x = NULL;
  if (h->journal) {
    x = held_new(h);
    if (x == NULL) {
      /* no memory to hold it: count it as a journal error and send it now */
      h->metrics->journal_errors++;
    } else {
      x->ticket = ttb_journal_next_ticket(h->journal); /* its record is in the next commit */
      x->ev = e;
      e.buf->refs++;
    }
  }
  if (x == NULL) { /* no journal: out at once */
    held now = {.ev = e};
    fan_out(c, &now);
  }
  if (!ring_put(c, e))
    entry_release(&e);
  if (x == NULL) {
    if (c->held_head == NULL)
      c->seq_sent = m.seq;
    return;
  }
  if (c->held_tail)
    c->held_tail->next = x;
  else
    c->held_head = x;
  c->held_tail = x;
  c->dirty = true;
  x->ch = c;
  if (h->gtail)
    h->gtail->gnext = x;
  else
    h->ghead = x;
  h->gtail = x;
  if (!h->commit_asked && h->commit_soon) {
    h->commit_asked = true;
    h->commit_soon(h->commit_arg);
  }
}

bool ttb_hub_apply(ttb_channel *c, const Ttboost__V1__ServerMessage *m)
{
  ttb_hub *h = c->hub;
  bool chat = m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
  if (m->seq <= c->seq || c->held_head || c->pend_head)
    return false; /* seen, or a local item is in the way (never both with --nats) */
  entry e = {.seq = m->seq, .chat = chat};
  if (!encode_event(h, m, &e))
    return false;
  c->seq = c->seq_sent = m->seq;
  if (chat)
    h->metrics->events_published_chat++;
  else
    h->metrics->events_published_gift++;
  held now = {.ev = e};
  fan_out(c, &now);
  if (!ring_put(c, e))
    entry_release(&e);
  return true;
}

/* Publishes the ready items at the head of the FIFO. */
static void drain(ttb_channel *c)
{
  if (c->hub->restoring)
    return;
  while (c->pend_head && c->pend_head->ready) {
    ttb_pending *p = c->pend_head;
    c->pend_head = p->next;
    if (c->pend_head == NULL)
      c->pend_tail = NULL;
    publish(c, p);
    pending_free(p);
  }
}

static void append(ttb_channel *c, ttb_pending *p)
{
  p->ch = c;
  if (p->fifo == 0)
    p->fifo = ++c->fifo_in;
  if (c->pend_tail)
    c->pend_tail->next = p;
  else
    c->pend_head = p;
  c->pend_tail = p;
}

/* Queues a chat; journaled as accepted (QUEUED) unless it is ready and
 * published at once (then its EVENT record says it all). */
static ttb_pending *chat_item(const char *user, const char *message, const char *url)
{
  ttb_pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->chat = true;
  p->user = strdup(user);
  p->text = strdup(message);
  if (url) {
    p->ready = true;
    p->url = strdup(url);
  }
  if (p->user == NULL || p->text == NULL || (url && p->url == NULL)) {
    pending_free(p);
    return NULL;
  }
  return p;
}

ttb_pending *ttb_hub_chat_pending(ttb_channel *c, const char *user, const char *message)
{
  ttb_pending *p = chat_item(user, message, NULL);
  if (p == NULL)
    return NULL;
  append(c, p);
  /* accepted: in the journal before the ingest is answered */
  ttb_jrec r = {.type = TTB_JREC_QUEUED,
                .channel = c->user_id,
                .fifo = p->fifo,
                .chat = true,
                .user = user,
                .text = message};
  journal(c->hub, &r);
  return p;
}

void ttb_hub_chat_ready(ttb_pending *p, const char *tts_url)
{
  p->ready = true;
  p->url = strdup(tts_url ? tts_url : "");
  drain(p->ch);
}

/* Whether an item that is ready can be published at once, without
 * queueing: nothing waits ahead of it and no restart is handing out. */
static bool publish_now(const ttb_channel *c) { return c->pend_head == NULL && !c->hub->restoring; }

/* Publishes a ready item at once, its strings borrowed (no copies). */
static void publish_borrowed(ttb_channel *c, bool chat, const char *user, const char *text,
                             const char *url, uint32_t count)
{
  ttb_pending p = {.ch = c,
                   .fifo = ++c->fifo_in,
                   .ready = true,
                   .chat = chat,
                   .user = (char *)user,
                   .text = (char *)text,
                   .url = (char *)url,
                   .count = count};
  publish(c, &p); /* publish only reads the strings */
}

uint64_t ttb_hub_chat(ttb_channel *c, const char *user, const char *message, const char *tts_url)
{
  if (publish_now(c)) {
    uint64_t before = c->seq;
    publish_borrowed(c, true, user, message, tts_url ? tts_url : "", 0);
    return c->seq > before ? c->seq : 0;
  }
  ttb_pending *p = chat_item(user, message, tts_url ? tts_url : "");
  if (p == NULL)
    return 0;
  append(c, p);
  uint64_t fifo = p->fifo;
  uint64_t before = c->seq;
  drain(c);
  if (c->fifo_done < fifo) { /* waits behind a restored item: journaled as accepted */
    ttb_jrec r = {.type = TTB_JREC_QUEUED,
                  .channel = c->user_id,
                  .fifo = fifo,
                  .chat = true,
                  .user = user,
                  .text = message};
    journal(c->hub, &r);
    return 0;
  }
  return c->seq > before ? c->seq : 0;
}

bool ttb_hub_wants_audio(ttb_channel *c)
{
  FOR_EACH_SUB(c, s, {
    if (wants_audio(s))
      return true;
  })
  return false;
}

/* A ServerMessage{audio}, packed into buf (cap) or a malloc'd buffer;
 * NULL on no memory. */
static uint8_t *pack_audio(uint64_t seq, uint32_t index, const uint8_t *packet, size_t len,
                           bool last, const ttb_audio_info *info, uint8_t *buf, size_t cap,
                           size_t *n)
{
  Ttboost__V1__AudioFrame af = TTBOOST__V1__AUDIO_FRAME__INIT;
  af.event_seq = seq;
  af.index = index;
  af.packet.data = (uint8_t *)packet;
  af.packet.len = len;
  af.last = last;
  af.sample_rate = info->sample_rate;
  af.channels = info->channels;
  af.frame_duration_us = info->frame_duration_us;
  af.pre_skip = info->pre_skip;
  af.duration_ms = info->duration_ms;
  Ttboost__V1__ServerMessage am = TTBOOST__V1__SERVER_MESSAGE__INIT;
  am.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO;
  am.audio = &af;
  *n = ttboost__v1__server_message__get_packed_size(&am);
  uint8_t *b = *n <= cap ? buf : malloc(*n);
  if (b != NULL)
    ttboost__v1__server_message__pack(&am, b);
  return b;
}

bool ttb_hub_audio_to(ttb_session *s, uint64_t seq, uint32_t index, const uint8_t *packet,
                      size_t len, bool last, const ttb_audio_info *info)
{
  ttb_channel *c = ttb_ws_channel(s);
  uint8_t stackbuf[1400];
  size_t n = 0;
  uint8_t *b = pack_audio(seq, index, packet, len, last, info, stackbuf, sizeof stackbuf, &n);
  if (b == NULL)
    return false;
  bool ok = ttb_ws_send(s, b, n);
  if (ok && c)
    c->hub->metrics->events_out_audio++;
  if (b != stackbuf)
    free(b);
  return ok;
}

void ttb_hub_set_speech_wanted(ttb_hub *h, bool on) { h->speech_wanted = on; }

int ttb_hub_chat_speech_url(ttb_channel *c, uint64_t seq, uint64_t recent, char *url, size_t cap,
                            size_t *text_len)
{
  if (seq == 0 || seq > c->seq_sent || c->seq_sent - seq >= recent || c->hist_n == 0)
    return -1;
  const entry *oldest = &c->hist[c->hist_head];
  if (seq < oldest->seq)
    return -1;
  /* the ring holds consecutive seqs except for dropped events: look back */
  for (size_t i = c->hist_n; i-- > 0;) {
    const entry *e = &c->hist[(c->hist_head + i) % c->hub->history];
    if (e->seq > seq)
      continue;
    if (e->seq < seq || !e->chat)
      return -1;
    Ttboost__V1__ServerMessage *m = ttboost__v1__server_message__unpack(NULL, e->pb_len, e->pb);
    if (m == NULL)
      return -1;
    int rc = -1;
    if (m->payload_case == TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT && m->chat->tts_url &&
        m->chat->tts_url[0] && strlen(m->chat->tts_url) < cap) {
      memcpy(url, m->chat->tts_url, strlen(m->chat->tts_url) + 1);
      *text_len = strlen(m->chat->user ? m->chat->user : "") +
                  strlen(m->chat->message ? m->chat->message : "") + 2;
      rc = 0;
    }
    ttboost__v1__server_message__free_unpacked(m, NULL);
    return rc;
  }
  return -1;
}

void ttb_hub_audio(ttb_channel *c, uint64_t seq, uint32_t index, const uint8_t *packet, size_t len,
                   bool last, const ttb_audio_info *info)
{
  ttb_hub *h = c->hub;
  Ttboost__V1__AudioFrame af = TTBOOST__V1__AUDIO_FRAME__INIT;
  af.event_seq = seq;
  af.index = index;
  af.packet.data = (uint8_t *)packet;
  af.packet.len = len;
  af.last = last;
  af.sample_rate = info->sample_rate;
  af.channels = info->channels;
  af.frame_duration_us = info->frame_duration_us;
  af.pre_skip = info->pre_skip;
  af.duration_ms = info->duration_ms;
  Ttboost__V1__ServerMessage am = TTBOOST__V1__SERVER_MESSAGE__INIT;
  am.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO;
  am.audio = &af;
  size_t n = ttboost__v1__server_message__get_packed_size(&am);
  /* its event still held for the journal: the frame waits with it */
  for (held *x = c->held_head; x; x = x->next) {
    if (x->ev.seq != seq)
      continue;
    if (x->nframes == x->frames_cap) {
      size_t nc = x->frames_cap ? x->frames_cap * 2 : 64;
      uint8_t **f = realloc(x->frames, nc * sizeof *f);
      if (f == NULL)
        return;
      x->frames = f;
      size_t *fl = realloc(x->frame_len, nc * sizeof *fl);
      if (fl == NULL)
        return;
      x->frame_len = fl;
      x->frames_cap = nc;
    }
    uint8_t *b = malloc(n);
    if (b == NULL)
      return;
    ttboost__v1__server_message__pack(&am, b);
    x->frames[x->nframes] = b;
    x->frame_len[x->nframes] = n;
    x->nframes++;
    return;
  }
  if (seq > c->seq_sent)
    return; /* not published (dropped): nobody knows the event */
  uint8_t stackbuf[1400];
  uint8_t *b = n <= sizeof stackbuf ? stackbuf : malloc(n);
  if (b == NULL)
    return;
  ttboost__v1__server_message__pack(&am, b);
  FOR_EACH_SUB(c, s, {
    if (wants_audio(s) && ttb_ws_send(s, b, n))
      h->metrics->events_out_audio++;
  })
  if (b != stackbuf)
    free(b);
}

int ttb_hub_gift(ttb_channel *c, const char *gift_name, uint32_t count, const char *sound_url,
                 const char *user)
{
  if (publish_now(c)) {
    publish_borrowed(c, false, user ? user : "", gift_name, sound_url ? sound_url : "", count);
    return 0;
  }
  ttb_pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return -1;
  p->ready = true;
  p->count = count;
  p->text = strdup(gift_name);
  p->url = strdup(sound_url ? sound_url : "");
  p->user = strdup(user ? user : "");
  if (p->text == NULL || p->url == NULL || p->user == NULL) {
    pending_free(p);
    return -1;
  }
  append(c, p);
  uint64_t fifo = p->fifo;
  drain(c);
  if (c->fifo_done < fifo) { /* waits behind a chat: journaled as accepted */
    ttb_jrec r = {.type = TTB_JREC_QUEUED,
                  .channel = c->user_id,
                  .fifo = fifo,
                  .user = p->user,
                  .text = p->text,
                  .url = p->url,
                  .count = p->count};
    journal(c->hub, &r);
  }
  return 0;
}

void ttb_hub_set_watch(ttb_hub *h, ttb_hub_watch_fn fn, void *arg)
{
  h->watch = fn;
  h->watch_arg = arg;
}

size_t ttb_channel_sockets(const ttb_channel *c) { return c->nsubs; }

int ttb_hub_status(ttb_channel *c, const char *state, const char *room_id, const char *username,
                   const char *message)
{
  Ttboost__V1__Status st = TTBOOST__V1__STATUS__INIT;
  st.tiktok = (char *)state;
  st.room_id = (char *)room_id;
  st.username = (char *)username;
  st.message = (char *)message;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_STATUS;
  m.status = &st;
  char *json;
  uint8_t *pb;
  size_t jl, pl;
  if (!encode_both(&m, &json, &jl, &pb, &pl))
    return -1;
  bool forget = strcmp(state, "off") == 0 && username[0] == '\0';
  bool same = c->status_json ? c->status_json_len == jl && memcmp(c->status_json, json, jl) == 0
                             : forget; /* nothing was said, nothing to take back */
  if (!same)
    FOR_EACH_SUB(c, s, { ttb_ws_send2(s, json, jl, pb, pl); })
  free(c->status_json);
  free(c->status_pb);
  c->status_json = NULL;
  c->status_pb = NULL;
  if (forget) {
    free(json);
    free(pb);
    return 0;
  }
  c->status_json = json;
  c->status_json_len = jl;
  c->status_pb = pb;
  c->status_pb_len = pl;
  return 0;
}

void ttb_hub_subscribe(ttb_channel *c, ttb_session *s, bool has_since, uint64_t since)
{
  ttb_hub *h = c->hub;
  /* the watcher first: a status it sets goes to the sockets already there,
   * and to this one right after its Hello */
  if (h->watch)
    h->watch(h->watch_arg, c, c->nsubs + 1);
  ttb_link *l = ttb_ws_channel_link(s);
  l->prev = c->subs.prev;
  l->next = &c->subs;
  c->subs.prev->next = l;
  c->subs.prev = l;
  c->nsubs++;
  c->touched_ms = mono_ms();
  ttb_ws_set_channel(s, c);

  /* Sockets see what is synced (seq_sent); events held for the commit
   * reach this socket with the commit. */
  uint64_t last = c->seq_sent;
  uint64_t first = c->hist_n && c->hist[c->hist_head].seq <= last ? c->hist[c->hist_head].seq : 0;
  /* A gap: the client's since is older than the history's start (or the
   * history is gone), or not of this numbering (ahead of our newest seq). */
  bool gap =
      has_since && ((first && since + 1 < first) || (!first && since < last) || since > last);
  uint64_t missed = 0;
  if (gap && since < last)
    missed = (first ? first - 1 : last) - since;
  uint64_t from = has_since && !gap ? since : 0;
  if (has_since) {
    h->metrics->resumes++;
    if (gap) {
      h->metrics->resume_gaps++;
      h->metrics->resume_missed += missed;
    }
  }
  Ttboost__V1__Hello hello = TTBOOST__V1__HELLO__INIT;
  hello.last_seq = last;
  hello.first_seq = first;
  hello.resume_gap = gap;
  hello.missed = missed;
  hello.server_time_ms = now_ms();
  hello.protocol_version = 1;
  hello.heartbeat_interval_ms = ttb__ws_heartbeat_ms();
  hello.speech_wanted = h->speech_wanted;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_HELLO;
  m.hello = &hello;
  char *json;
  uint8_t *pb;
  size_t jl, pl;
  if (!encode_both(&m, &json, &jl, &pb, &pl)) {
    ttb_ws_close(s, TTB_WS_GOING_AWAY, "internal", "out of memory");
    return;
  }
  bool ok = ttb_ws_send2(s, json, jl, pb, pl);
  free(json);
  free(pb);
  if (ok && c->status_json)
    ok = ttb_ws_send2(s, c->status_json, c->status_json_len, c->status_pb, c->status_pb_len);
  if (!ok || !has_since)
    return;
  for (size_t i = 0; i < c->hist_n; i++) {
    entry *e = &c->hist[(c->hist_head + i) % h->history];
    if (e->seq > last)
      break;
    if (e->seq <= from || !wants(s, e->chat))
      continue;
    if (!ttb_ws_send2(s, e->json, e->json_len, e->pb, e->pb_len))
      return;
    if (e->chat)
      h->metrics->events_out_chat++;
    else
      h->metrics->events_out_gift++;
  }
}

void ttb_hub_unsubscribe(ttb_session *s)
{
  ttb_channel *c = ttb_ws_channel(s);
  if (c == NULL)
    return;
  ttb_link *l = ttb_ws_channel_link(s);
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->prev = l->next = NULL;
  c->nsubs--;
  c->touched_ms = mono_ms();
  ttb_ws_set_channel(s, NULL);
  ttb_hub *h = c->hub;
  if (h->watch)
    h->watch(h->watch_arg, c, c->nsubs);
}

void ttb_channel_close_all(ttb_channel *c, uint16_t code, const char *error, const char *message)
{
  FOR_EACH_SUB(c, s, { ttb_ws_close(s, code, error, message); })
}

/* ------------------------------------------------------------- the journal */

void ttb_hub_set_journal(ttb_hub *h, ttb_journal *j, void (*commit_soon)(void *arg), void *arg)
{
  h->journal = j;
  h->commit_soon = commit_soon;
  h->commit_arg = arg;
}

/* Drops restored queue items that the journal says are out. */
static void restored_prune(ttb_channel *c)
{
  while (c->pend_head && c->pend_head->fifo <= c->fifo_done) {
    ttb_pending *p = c->pend_head;
    c->pend_head = p->next;
    if (c->pend_head == NULL)
      c->pend_tail = NULL;
    pending_free(p);
  }
}

static void raise_marks(ttb_channel *c, uint64_t seq, uint64_t fifo_done, uint64_t fifo)
{
  if (seq > c->seq)
    c->seq = seq;
  if (fifo_done > c->fifo_done)
    c->fifo_done = fifo_done;
  if (fifo > c->fifo_in)
    c->fifo_in = fifo;
  if (c->fifo_done > c->fifo_in)
    c->fifo_in = c->fifo_done;
}

int ttb_hub_replay(ttb_hub *h, const ttb_jrec *r)
{
  if (r->type == TTB_JREC_STREAKS)
    return 0;
  if (r->channel == NULL || r->channel[0] == '\0')
    return -1;
  ttb_channel *c = ttb_hub_channel(h, r->channel, true);
  if (c == NULL)
    return -1;
  switch (r->type) {
  case TTB_JREC_CHANNEL:
    raise_marks(c, r->seq, r->fifo, r->fifo);
    break;
  case TTB_JREC_DROPPED:
    raise_marks(c, 0, r->fifo, r->fifo);
    break;
  case TTB_JREC_EVENT: {
    raise_marks(c, r->seq, r->fifo, r->fifo);
    Ttboost__V1__ServerMessage *m = ttboost__v1__server_message__unpack(NULL, r->len, r->data);
    if (m == NULL)
      return -1;
    entry e = {.seq = r->seq, .chat = r->chat};
    bool ok = encode_event(h, m, &e);
    ttboost__v1__server_message__free_unpacked(m, NULL);
    if (!ok)
      return -1;
    /* the history only moves forward: an event older than its newest is
     * a duplicate of what is there */
    const entry *newest = c->hist_n ? &c->hist[(c->hist_head + c->hist_n - 1) % h->history] : NULL;
    if ((newest && newest->seq >= e.seq) || !ring_put(c, e))
      entry_release(&e);
    break;
  }
  case TTB_JREC_QUEUED: {
    if (r->fifo <= c->fifo_done || (c->pend_tail && r->fifo <= c->pend_tail->fifo))
      break; /* out already, or seen */
    raise_marks(c, 0, 0, r->fifo);
    ttb_pending *p = calloc(1, sizeof *p);
    if (p == NULL)
      return -1;
    p->fifo = r->fifo;
    p->chat = r->chat;
    p->ready = !r->chat;
    p->count = r->count;
    p->user = strdup(r->user ? r->user : "");
    p->text = strdup(r->text ? r->text : "");
    p->url = r->chat ? NULL : strdup(r->url ? r->url : "");
    if (p->user == NULL || p->text == NULL || (!r->chat && p->url == NULL)) {
      pending_free(p);
      return -1;
    }
    append(c, p);
    break;
  }
  default:
    return -1;
  }
  restored_prune(c);
  return 0;
}

void ttb_hub_restart(ttb_hub *h, ttb_hub_restore_fn fn, void *arg)
{
  h->restoring = true;
  for (size_t i = 0; i < h->nbuckets; i++)
    for (ttb_channel *c = h->buckets[i]; c; c = c->hnext) {
      c->seq_sent = c->seq;
      for (ttb_pending *p = c->pend_head; p; p = p->next)
        if (!p->ready)
          fn(arg, p, c->user_id, p->user, p->text);
    }
  h->restoring = false;
  /* what is ready at the heads (gifts, chats whose speech failed at once) */
  for (size_t i = 0; i < h->nbuckets; i++)
    for (ttb_channel *c = h->buckets[i]; c; c = c->hnext)
      drain(c);
}

int ttb_hub_commit(ttb_hub *h, char *err, size_t errlen)
{
  h->commit_asked = false;
  /* with the journal's thread, commits handed over may still be on their
   * way: the sync waits for them too */
  if (h->journal) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = ttb_journal_sync(h->journal, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    h->metrics->journal_sync_seconds +=
        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc != 0) {
      h->metrics->journal_errors++;
      return -1; /* held events stay held: nothing leaves unsynced */
    }
    h->metrics->journal_commits++;
    h->metrics->journal_bytes = ttb_journal_size(h->journal);
  }
  ttb_hub_release(h, UINT64_MAX);
  return 0;
}

void ttb_hub_submitted(ttb_hub *h) { h->commit_asked = false; }

void ttb_hub_release(ttb_hub *h, uint64_t synced)
{
  /* only the synced events are visited: those of later commits stay */
  while (h->ghead && h->ghead->ticket <= synced) {
    held *x = h->ghead;
    h->ghead = x->gnext;
    if (h->ghead == NULL)
      h->gtail = NULL;
    ttb_channel *c = x->ch;
    /* x is the oldest held event of its channel (both lists are in
     * publish order) */
    c->held_head = x->next;
    if (c->held_head == NULL) {
      c->held_tail = NULL;
      c->dirty = false;
    }
    c->seq_sent = x->ev.seq;
    fan_out(c, x);
    held_free(h, x);
  }
}

void ttb_hub_dump(ttb_hub *h, ttb_journal *j)
{
  for (size_t i = 0; i < h->nbuckets; i++)
    for (ttb_channel *c = h->buckets[i]; c; c = c->hnext) {
      ttb_jrec r = {
          .type = TTB_JREC_CHANNEL, .channel = c->user_id, .seq = c->seq, .fifo = c->fifo_done};
      ttb_journal_add(j, &r);
      for (size_t k = 0; k < c->hist_n; k++) {
        const entry *e = &c->hist[(c->hist_head + k) % h->history];
        ttb_jrec ev = {.type = TTB_JREC_EVENT,
                       .channel = c->user_id,
                       .seq = e->seq,
                       .chat = e->chat,
                       .data = e->pb,
                       .len = e->pb_len};
        ttb_journal_add(j, &ev);
      }
      for (const ttb_pending *p = c->pend_head; p; p = p->next) {
        ttb_jrec q = {.type = TTB_JREC_QUEUED,
                      .channel = c->user_id,
                      .fifo = p->fifo,
                      .chat = p->chat,
                      .user = p->user,
                      .text = p->text,
                      .url = p->chat ? NULL : p->url,
                      .count = p->count};
        ttb_journal_add(j, &q);
      }
    }
}

size_t ttb_hub_free_idle(ttb_hub *h, uint64_t idle_ms)
{
  uint64_t now = mono_ms();
  size_t freed = 0;
  for (size_t i = 0; i < h->nbuckets; i++)
    for (ttb_channel *c = h->buckets[i]; c; c = c->hnext) {
      if (c->hist == NULL || c->nsubs || c->pend_head || c->held_head || c->dirty ||
          now - c->touched_ms < idle_ms)
        continue;
      /* its seq stays (and goes on in the journal); a resume from before
       * it is a gap with Hello.missed */
      for (size_t k = 0; k < c->hist_n; k++)
        entry_release(&c->hist[(c->hist_head + k) % h->history]);
      free(c->hist);
      c->hist = NULL;
      c->hist_n = c->hist_head = 0;
      freed++;
    }
  h->metrics->histories_freed += freed;
  h->metrics->channels = h->nchannels;
  return freed;
}
