/* Channels, history and fan-out: see hub.h. */
#include "hub.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery.h"
#include "ttboost/v1/events.pbc-json.h"
#include "ws.h"

/* One published event, kept for resume. */
typedef struct entry {
  uint64_t seq;
  bool chat; /* else gift */
  char *json;
  size_t json_len;
  uint8_t *pb;
  size_t pb_len;
} entry;

struct ttb_pending {
  ttb_pending *next;
  ttb_channel *ch;
  bool ready;
  bool chat;
  char *user;
  char *text;     /* chat message, or gift name */
  char *url;      /* tts_url or sound_url */
  uint32_t count;
  /* speech, for binary sockets */
  ttb_audio_info info;
  ttb_packet *packets;
  size_t npackets;
};

struct ttb_channel {
  ttb_channel *hnext; /* hash chain */
  ttb_hub *hub;
  char *user_id;
  uint64_t seq;
  entry *hist;     /* ring of hub->history entries */
  size_t hist_n;   /* filled */
  size_t hist_head; /* index of the oldest */
  ttb_link subs;   /* sessions */
  size_t nsubs;
  ttb_pending *pend_head, *pend_tail;
  /* the TikTok status, both encodings (NULL: none) */
  char *status_json;
  size_t status_json_len;
  uint8_t *status_pb;
  size_t status_pb_len;
};

struct ttb_hub {
  ttb_channel **buckets;
  size_t nbuckets;
  size_t nchannels;
  size_t history;
  ttb_metrics *metrics;
  ttb_hub_watch_fn watch;
  void *watch_arg;
};

static uint64_t fnv1a(const char *s)
{
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

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
  return h;
}

static void pending_free(ttb_pending *p)
{
  if (p == NULL)
    return;
  free(p->user);
  free(p->text);
  free(p->url);
  for (size_t i = 0; i < p->npackets; i++)
    free((void *)p->packets[i].data);
  free(p->packets);
  free(p);
}

static void channel_free(ttb_channel *c)
{
  for (size_t i = 0; i < c->hist_n; i++) {
    entry *e = &c->hist[(c->hist_head + i) % c->hub->history];
    free(e->json);
    free(e->pb);
  }
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
uint64_t ttb_channel_last_seq(const ttb_channel *c) { return c->seq; }

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

/* delivery.h: the chat's speech as AudioFrames to this socket? */
static bool wants_audio(const ttb_session *s)
{
  const ttb_ws_settings *st = ttb_ws_get_settings(s);
  return ttb_delivery_audio(ttb_ws_is_binary(s), st->tts_enabled, st->audio_frames);
}

#define FOR_EACH_SUB(c, s, body)                                                                   \
  for (ttb_link *l_ = (c)->subs.next, *n_ = l_->next; l_ != &(c)->subs; l_ = n_, n_ = l_->next) { \
    ttb_session *s = ttb_ws_from_channel_link(l_);                                                 \
    body                                                                                           \
  }

/* Publishes the ready item p: seq, history, fan-out. */
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
  if (!encode_both(&m, &e.json, &e.json_len, &e.pb, &e.pb_len))
    return; /* no memory (or text that is not UTF-8, refused at ingest): dropped */
  c->seq = m.seq;
  if (p->chat)
    h->metrics->events_published_chat++;
  else
    h->metrics->events_published_gift++;

  /* into the history ring */
  if (c->hist == NULL) {
    c->hist = calloc(h->history, sizeof *c->hist);
    if (c->hist == NULL) {
      free(e.json);
      free(e.pb);
      return;
    }
  }
  if (c->hist_n == h->history) {
    entry *old = &c->hist[c->hist_head];
    free(old->json);
    free(old->pb);
    *old = e;
    c->hist_head = (c->hist_head + 1) % h->history;
  } else {
    c->hist[(c->hist_head + c->hist_n) % h->history] = e;
    c->hist_n++;
  }

  /* the speech as AudioFrame messages, encoded once, for binary sockets */
  uint8_t **frames = NULL;
  size_t *frame_len = NULL;
  size_t nframes = 0;
  bool any_audio = false;
  if (p->chat && p->npackets) {
    FOR_EACH_SUB(c, s, {
      if (wants_audio(s))
        any_audio = true;
    })
  }
  if (any_audio) {
    frames = calloc(p->npackets, sizeof *frames);
    frame_len = calloc(p->npackets, sizeof *frame_len);
    if (frames && frame_len) {
      for (size_t i = 0; i < p->npackets; i++) {
        Ttboost__V1__AudioFrame af = TTBOOST__V1__AUDIO_FRAME__INIT;
        af.event_seq = m.seq;
        af.index = (uint32_t)i;
        af.packet.data = (uint8_t *)p->packets[i].data;
        af.packet.len = p->packets[i].len;
        af.last = i + 1 == p->npackets;
        af.sample_rate = p->info.sample_rate;
        af.channels = p->info.channels;
        af.frame_duration_us = p->info.frame_duration_us;
        af.pre_skip = p->info.pre_skip;
        af.duration_ms = p->info.duration_ms;
        Ttboost__V1__ServerMessage am = TTBOOST__V1__SERVER_MESSAGE__INIT;
        am.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_AUDIO;
        am.audio = &af;
        frame_len[i] = ttboost__v1__server_message__get_packed_size(&am);
        frames[i] = malloc(frame_len[i]);
        if (frames[i] == NULL)
          break;
        ttboost__v1__server_message__pack(&am, frames[i]);
        nframes = i + 1;
      }
    }
  }

  FOR_EACH_SUB(c, s, {
    if (!wants(s, p->chat))
      continue;
    if (!ttb_ws_send2(s, e.json, e.json_len, e.pb, e.pb_len))
      continue;
    if (p->chat)
      h->metrics->events_out_chat++;
    else
      h->metrics->events_out_gift++;
    if (nframes && wants_audio(s)) {
      for (size_t i = 0; i < nframes; i++) {
        if (!ttb_ws_send(s, frames[i], frame_len[i]))
          break;
        h->metrics->events_out_audio++;
      }
    }
  })
  for (size_t i = 0; i < nframes; i++)
    free(frames[i]);
  free(frames);
  free(frame_len);
}

/* Publishes the ready items at the head of the FIFO. */
static void drain(ttb_channel *c)
{
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
  if (c->pend_tail)
    c->pend_tail->next = p;
  else
    c->pend_head = p;
  c->pend_tail = p;
}

ttb_pending *ttb_hub_chat_pending(ttb_channel *c, const char *user, const char *message)
{
  ttb_pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->chat = true;
  p->user = strdup(user);
  p->text = strdup(message);
  if (p->user == NULL || p->text == NULL) {
    pending_free(p);
    return NULL;
  }
  append(c, p);
  return p;
}

void ttb_hub_chat_ready(ttb_pending *p, const char *tts_url, const ttb_audio_info *info,
                        const ttb_packet *packets, size_t npackets)
{
  p->ready = true;
  p->url = strdup(tts_url ? tts_url : "");
  if (info && packets && npackets) {
    p->packets = calloc(npackets, sizeof *p->packets);
    if (p->packets) {
      p->info = *info;
      for (size_t i = 0; i < npackets; i++) {
        uint8_t *d = malloc(packets[i].len ? packets[i].len : 1);
        if (d == NULL)
          break;
        memcpy(d, packets[i].data, packets[i].len);
        p->packets[i].data = d;
        p->packets[i].len = packets[i].len;
        p->npackets = i + 1;
      }
    }
  }
  drain(p->ch);
}

int ttb_hub_gift(ttb_channel *c, const char *gift_name, uint32_t count, const char *sound_url,
                 const char *user)
{
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
  drain(c);
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
  ttb_ws_set_channel(s, c);

  uint64_t first = c->hist_n ? c->hist[c->hist_head].seq : 0;
  /* A gap: the client's since is older than the history's start, or from
   * before a restart (ahead of our newest seq). */
  bool gap = has_since && ((first && since + 1 < first) || since > c->seq);
  uint64_t from = has_since && !gap ? since : 0;
  if (has_since) {
    h->metrics->resumes++;
    if (gap)
      h->metrics->resume_gaps++;
  }
  Ttboost__V1__Hello hello = TTBOOST__V1__HELLO__INIT;
  hello.last_seq = c->seq;
  hello.first_seq = first;
  hello.resume_gap = gap;
  hello.server_time_ms = now_ms();
  hello.protocol_version = 1;
  hello.heartbeat_interval_ms = ttb__ws_heartbeat_ms();
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
  ttb_ws_set_channel(s, NULL);
  ttb_hub *h = c->hub;
  if (h->watch)
    h->watch(h->watch_arg, c, c->nsubs);
}

void ttb_channel_close_all(ttb_channel *c, uint16_t code, const char *error, const char *message)
{
  FOR_EACH_SUB(c, s, { ttb_ws_close(s, code, error, message); })
}
