/* See fake_transport.h. */
#include "fake_transport.h"

#include <pb_decode.h>
#include <pb_encode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../server/src/delivery.h" /* the server's delivery rule */
#include "ttboost/v1/events.npb-json.h"

uint64_t fake_now(void *user)
{
  fake *f = user;
  pthread_mutex_lock(&f->mu);
  uint64_t n = f->now;
  pthread_mutex_unlock(&f->mu);
  return n;
}

uint32_t fake_rand(void *user)
{
  fake *f = user;
  return f->rnd;
}

/* Queues a server message (mu held). */
static void enqueue(fake *f, const ttboost_v1_ServerMessage *m)
{
  if (f->qlen == FAKE_Q)
    return;
  fake_msg *o = &f->q[(f->qhead + f->qlen) % FAKE_Q];
  if (f->binary) {
    pb_ostream_t s = pb_ostream_from_buffer(o->data, sizeof o->data);
    if (!pb_encode(&s, ttboost_v1_ServerMessage_fields, m)) {
      fprintf(stderr, "fake: encode failed: %s\n", PB_GET_ERROR(&s));
      return;
    }
    o->len = s.bytes_written;
    o->binary = true;
  } else {
    ttb_json_error je;
    size_t len = 0;
    if (!ttb_npb_ttboost_v1_ServerMessage_to_json(m, (char *)o->data, sizeof o->data, &len, &je)) {
      fprintf(stderr, "fake: to_json failed: %s\n", je.msg);
      return;
    }
    o->len = len;
    o->binary = false;
  }
  f->qlen++;
}

static void enqueue_event(fake *f, const fake_ev *e)
{
  if (!ttb_delivery_event(!e->gift, f->settings.tts_enabled, f->settings.gifts_enabled))
    return;
  static ttboost_v1_ServerMessage m;
  memset(&m, 0, sizeof m);
  m.seq = e->seq;
  if (e->gift) {
    m.which_payload = ttboost_v1_ServerMessage_gift_tag;
    snprintf(m.payload.gift.gift_name, sizeof m.payload.gift.gift_name, "%s", e->text);
    m.payload.gift.count = 1;
    snprintf(m.payload.gift.sound_url, sizeof m.payload.gift.sound_url, "http://x/sounds/rose.ogg");
    snprintf(m.payload.gift.user, sizeof m.payload.gift.user, "giver");
  } else {
    m.which_payload = ttboost_v1_ServerMessage_chat_tag;
    snprintf(m.payload.chat.user, sizeof m.payload.chat.user, "user");
    snprintf(m.payload.chat.message, sizeof m.payload.chat.message, "%s", e->text);
    snprintf(m.payload.chat.tts_url, sizeof m.payload.chat.tts_url, "http://x/tts/a.ogg");
  }
  enqueue(f, &m);
}

static void enqueue_hello(fake *f)
{
  static ttboost_v1_ServerMessage m;
  memset(&m, 0, sizeof m);
  m.which_payload = ttboost_v1_ServerMessage_hello_tag;
  m.payload.hello.last_seq = f->seq;
  m.payload.hello.first_seq = f->nhist > f->trim ? f->hist[f->trim].seq : 0;
  m.payload.hello.resume_gap = f->resume_gap;
  m.payload.hello.missed = f->missed;
  m.payload.hello.server_time_ms = 1700000000000ull;
  m.payload.hello.protocol_version = 1;
  m.payload.hello.heartbeat_interval_ms = f->heartbeat_ms;
  enqueue(f, &m);
}

void fake_event(fake *f, bool gift, const char *text)
{
  pthread_mutex_lock(&f->mu);
  if (f->nhist < FAKE_HIST) {
    fake_ev *e = &f->hist[f->nhist++];
    e->seq = ++f->seq;
    e->gift = gift;
    snprintf(e->text, sizeof e->text, "%s", text);
    if (f->state == 2 && !f->silent)
      enqueue_event(f, e);
  }
  pthread_mutex_unlock(&f->mu);
}

void fake_audio(fake *f, uint64_t event_seq, uint32_t index, bool last)
{
  static ttboost_v1_ServerMessage m;
  pthread_mutex_lock(&f->mu);
  memset(&m, 0, sizeof m);
  m.which_payload = ttboost_v1_ServerMessage_audio_tag;
  ttboost_v1_AudioFrame *a = &m.payload.audio;
  a->event_seq = event_seq;
  a->index = index;
  a->packet.size = 3;
  a->packet.bytes[0] = 0xf8;
  a->packet.bytes[1] = 0xff;
  a->packet.bytes[2] = 0xfe;
  a->last = last;
  a->sample_rate = 48000;
  a->channels = 1;
  a->frame_duration_us = 20000;
  a->pre_skip = 312;
  a->duration_ms = 1000;
  if (f->state == 2 &&
      ttb_delivery_audio(f->binary, f->settings.tts_enabled, f->settings.audio_frames))
    enqueue(f, &m);
  pthread_mutex_unlock(&f->mu);
}

void fake_error_close(fake *f, const char *error, int code)
{
  static ttboost_v1_ServerMessage m;
  pthread_mutex_lock(&f->mu);
  memset(&m, 0, sizeof m);
  m.which_payload = ttboost_v1_ServerMessage_error_tag;
  snprintf(m.payload.error.error, sizeof m.payload.error.error, "%s", error);
  snprintf(m.payload.error.message, sizeof m.payload.error.message, "the fake says %s", error);
  if (f->state == 2)
    enqueue(f, &m);
  f->drop_pending = true;
  f->drop_code = code;
  pthread_mutex_unlock(&f->mu);
}

void fake_drop(fake *f, int code)
{
  pthread_mutex_lock(&f->mu);
  f->drop_pending = true;
  f->drop_code = code;
  pthread_mutex_unlock(&f->mu);
}

bool fake_sent_msg(fake *f, unsigned i, ttboost_v1_ClientMessage *m)
{
  memset(m, 0, sizeof *m);
  pthread_mutex_lock(&f->mu);
  if (i >= f->nsent) {
    pthread_mutex_unlock(&f->mu);
    return false;
  }
  fake_msg s = f->sent[i];
  pthread_mutex_unlock(&f->mu);
  if (s.binary) {
    pb_istream_t is = pb_istream_from_buffer(s.data, s.len);
    return pb_decode(&is, ttboost_v1_ClientMessage_fields, m);
  }
  ttb_json_error je;
  return ttb_npb_ttboost_v1_ClientMessage_from_json((const char *)s.data, s.len, m, &je);
}

/* ------------------------------------------------------------ ops */

static int op_open(ttb__transport *t, const char *url, const char *sub)
{
  fake *f = (fake *)t;
  pthread_mutex_lock(&f->mu);
  if (f->opens < FAKE_OPENS) {
    f->open_at[f->opens] = f->now;
    snprintf(f->open_url[f->opens], sizeof f->open_url[0], "%s", url);
    f->sent_at_open[f->opens] = f->nsent;
  }
  f->opens++;
  int rc = f->open_rc;
  if (rc == TTB_OK) {
    snprintf(f->url, sizeof f->url, "%s", url);
    const char *q = strstr(url, "?since=");
    f->has_since = q != NULL;
    f->since = q ? strtoull(q + 7, NULL, 10) : 0;
    f->binary = sub && strcmp(sub, TTB__SUBPROTOCOL_BINARY) == 0;
    /* the server's defaults until the client says otherwise (ws.h) */
    f->settings = (ttboost_v1_Settings){.tts_enabled = true,
                                        .gifts_enabled = true,
                                        .audio_frames = true,
                                        .profanity_filter = false};
    f->state = 1;
    f->qhead = f->qlen = 0;
    f->drop_pending = false;
  }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

static int op_send(ttb__transport *t, const uint8_t *data, size_t len, bool binary)
{
  fake *f = (fake *)t;
  pthread_mutex_lock(&f->mu);
  if (f->state != 2) {
    pthread_mutex_unlock(&f->mu);
    return TTB_ERR_STATE;
  }
  if (f->nsent < FAKE_SENT && len <= sizeof f->sent[0].data) {
    fake_msg *s = &f->sent[f->nsent++];
    memcpy(s->data, data, len);
    s->len = len;
    s->binary = binary;
  }
  /* a Ping gets a Pong */
  ttboost_v1_ClientMessage m;
  bool ok;
  memset(&m, 0, sizeof m);
  if (binary) {
    pb_istream_t is = pb_istream_from_buffer(data, len);
    ok = pb_decode(&is, ttboost_v1_ClientMessage_fields, &m);
  } else {
    ttb_json_error je;
    ok = ttb_npb_ttboost_v1_ClientMessage_from_json((const char *)data, len, &m, &je);
  }
  if (ok && m.which_payload == ttboost_v1_ClientMessage_settings_tag)
    f->settings = m.payload.settings;
  if (ok && m.which_payload == ttboost_v1_ClientMessage_ping_tag && f->answer_pings && !f->silent) {
    static ttboost_v1_ServerMessage r;
    memset(&r, 0, sizeof r);
    r.which_payload = ttboost_v1_ServerMessage_pong_tag;
    r.payload.pong.client_time_ms = m.payload.ping.client_time_ms;
    r.payload.pong.server_time_ms = 1;
    enqueue(f, &r);
  }
  pthread_mutex_unlock(&f->mu);
  return TTB_OK;
}

static void op_close(ttb__transport *t, int code)
{
  fake *f = (fake *)t;
  pthread_mutex_lock(&f->mu);
  if (f->state != 0) {
    f->closes++;
    f->last_close_code = code;
  }
  f->state = 0;
  f->qhead = f->qlen = 0;
  f->drop_pending = false;
  pthread_mutex_unlock(&f->mu);
}

static void op_service(ttb__transport *t, int timeout_ms)
{
  fake *f = (fake *)t;
  pthread_mutex_lock(&f->mu);
  f->services++;
  if (f->state == 1 && f->hang) {
    pthread_mutex_unlock(&f->mu);
    if (!f->real_time && timeout_ms > 0) {
      pthread_mutex_lock(&f->mu);
      f->now += (uint64_t)timeout_ms;
      pthread_mutex_unlock(&f->mu);
    }
    return;
  }
  if (f->state == 1) {
    if (f->refuse) {
      f->state = 0;
      int code = f->refuse_code, status = f->refuse_status;
      pthread_mutex_unlock(&f->mu);
      t->cb.on_closed(t->cb.user, code, status, "refused by the fake");
      return;
    }
    f->state = 2;
    if (!f->silent) {
      /* as server/src/hub.c: a since older than the history (or with
             * none left), or ahead of the newest seq (a server that lost its
             * numbering), is a gap: replay all we have, say how many are lost */
      uint64_t first = f->nhist > f->trim ? f->hist[f->trim].seq : 0;
      f->resume_gap = f->has_since && ((first && f->since + 1 < first) ||
                                       (!first && f->since < f->seq) || f->since > f->seq);
      f->missed = f->resume_gap && f->since < f->seq ? (first ? first - 1 : f->seq) - f->since : 0;
      uint64_t from = f->resume_gap ? 0 : f->since;
      if (f->overlap && from >= 2)
        from -= 2;
      enqueue_hello(f);
      if (f->has_since)
        for (unsigned i = f->trim; i < f->nhist; i++)
          if (f->hist[i].seq > from)
            enqueue_event(f, &f->hist[i]);
    }
    pthread_mutex_unlock(&f->mu);
    t->cb.on_connected(t->cb.user);
    return;
  }
  if (f->state == 2 && f->qlen) {
    /* one message per call keeps the lock order simple */
    static fake_msg m;
    m = f->q[f->qhead];
    f->qhead = (f->qhead + 1) % FAKE_Q;
    f->qlen--;
    pthread_mutex_unlock(&f->mu);
    t->cb.on_message(t->cb.user, m.data, m.len, m.binary);
    return;
  }
  if (f->state == 2 && f->drop_pending) {
    f->state = 0;
    f->drop_pending = false;
    int code = f->drop_code;
    pthread_mutex_unlock(&f->mu);
    t->cb.on_closed(t->cb.user, code, 0, "dropped by the fake");
    return;
  }
  if (f->real_time) {
    unsigned w = f->wakes;
    pthread_mutex_unlock(&f->mu);
    int ms = timeout_ms < 2 ? timeout_ms : 2;
    pthread_mutex_lock(&f->mu);
    bool woken = w != f->wakes;
    pthread_mutex_unlock(&f->mu);
    if (ms > 0 && !woken) {
      struct timespec ts = {0, (long)ms * 1000000L};
      nanosleep(&ts, NULL);
    }
    return;
  }
  if (timeout_ms > 0)
    f->now += (uint64_t)timeout_ms;
  pthread_mutex_unlock(&f->mu);
}

static void op_wake(ttb__transport *t)
{
  fake *f = (fake *)t;
  pthread_mutex_lock(&f->mu);
  f->wakes++;
  pthread_mutex_unlock(&f->mu);
}

static void op_destroy(ttb__transport *t)
{
  fake *f = (fake *)t;
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static const ttb__transport_ops FAKE_OPS = {op_open,    op_send, op_close,
                                            op_service, op_wake, op_destroy};

fake *fake_new(void)
{
  fake *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  pthread_mutex_init(&f->mu, NULL);
  f->base.ops = &FAKE_OPS;
  f->now = 1000000;
  f->answer_pings = true;
  f->heartbeat_ms = 10000;
  return f;
}
