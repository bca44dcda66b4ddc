/*
 * client.c — ttboost/client.h over the network layer (net/net.h), the audio
 * engine (audio/), the profanity filter (filter/) and persistence (persist/).
 *
 * Threads
 * - the caller's threads: the API below;
 * - the network thread (net/conn.c): delivers every event to net_sink()
 *   right away (chat/gift bookkeeping, the app's event queue, streamed
 *   AudioFrames decoded straight into the mixer: lowest latency);
 * - one worker thread: downloads and decodes TTS and gift audio (never on
 *   the audio thread), falls back to a download when a streamed chat's
 *   frames do not come, and deletes a refused token. Downloads are streamed
 *   (an Ogg file is decoded page by page as it arrives, and its utterance
 *   starts on the first decoded packet) over one kept-alive HTTP connection
 *   (net.h: ttb__http_session).
 *
 * Which speech is fetched (the queue policy)
 *   A chat to be spoken reserves its place in the mixer's TTS queue at
 *   once (audio/mixer.h: at most 8 wait behind the one speaking; one more
 *   drops the oldest waiting one whose audio is not coming yet). Its speech
 *   is fetched only when it stands among the first FETCH_AHEAD places of
 *   that queue (the head, about to speak, and the next one), oldest first,
 *   one download at a time; gift sounds go first. So in a burst of chats the
 *   ones dropped before they got near the head are never downloaded (nor,
 *   with a server that synthesises on demand, synthesised), and a fetch that
 *   started is never wasted: the drop rule spares a claimed utterance. In
 *   binary mode a chat's speech comes as AudioFrames. With a server that
 *   offers it (Hello.speech_wanted), they are asked for (SpeechWanted) by the
 *   same rule (oldest first, one at a time: the next once all the frames of
 *   the one before have come, as a download ends), each request saying how
 *   much audio plays before the chat (lead_ms: the server makes the most
 *   urgent requests first), and claiming the utterance as a download does; a
 *   chat whose first frame has not come STREAM_WAIT_MS after it was needed
 *   (its request plus its lead; after its event, with an older server that
 *   streams every chat) is fetched by URL.
 * - the platform audio thread: ttb_client_render -> ttb__mixer_render.
 *
 * Locks (never held across I/O; taken in this order, never backwards)
 *   ctl       serialises start/stop/login/logout/set_settings/destroy;
 *   conn_lock guards the lifetime of c->conn for short ttb__conn_* calls
 *             (ttb__conn_* is never called with c->lock held: the network
 *             thread calls net_sink, which takes c->lock);
 *   lock      the data: settings, session, events, stats, jobs (a leaf lock);
 *   the mixer's own lock (audio/mixer.h) is a leaf too.
 */
#include "ttboost/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "audio/decode.h"
#include "audio/mixer.h"
#include "filter/filter.h"
#include "net/net.h"
#include "persist/persist.h"
#include "platform/platform.h"
#include "ttboost/v1/settings.npb-json.h"

#define EVENT_QUEUE 256
#define RECENT_LOG 64
#define JOB_QUEUE 64
#define GIFT_CACHE 16
#define STREAMS 10 /* utterances streamed at once (the queue: 1 speaking + 8 waiting, +1) */
#define WANTS 32
/* How long a chat in binary mode waits for its first AudioFrame before the
 * worker downloads its tts_url instead. */
#define STREAM_WAIT_MS 1500
/* Speech is fetched for the first FETCH_AHEAD places of the TTS queue. */
#define FETCH_AHEAD 2
/* While chats wait further back, the worker looks again this often. */
#define FETCH_POLL_MS 20
/* A streamed download gives up after this long without a byte. */
#define FETCH_IDLE_MS 15000
#define URL_SIZE 513

typedef enum { JOB_GIFT = 2, JOB_CLEAR_TOKEN = 3, JOB_FETCH_CHANNEL = 4 } job_kind;

typedef struct {
  int kind;
  uint64_t seq;
  char url[URL_SIZE];
} job;

typedef struct {
  char url[URL_SIZE];
  ttb__clip *clip;
  uint64_t used;
} cache_entry;

/* One streamed utterance (binary mode), network thread only. */
typedef struct {
  bool live;
  uint64_t seq;
  uint32_t next_index;
  ttb__opus_stream *dec;
  ttb__clip *clip;
  uint64_t used;
} stream_slot;

/* A chat whose speech may be fetched: in URL mode at once, in binary mode
 * from not_before_ms (when its frames did not come). */
typedef struct {
  bool live;
  bool asked;   /* binary: a SpeechWanted was tried for it */
  bool claimed; /* ... and sent: its utterance is claimed in the mixer (frames coming) */
  uint64_t seq;
  int64_t not_before_ms;
  char url[URL_SIZE];
} tts_want;

struct ttb_client {
  char *server_url, *data_dir, *device_id;
  uint32_t rate, channels;

  ttb__mutex *ctl, *conn_lock, *lock, *chan_lock;

  /* --- under chan_lock (taken before lock, never across network I/O) --- */
  char *chan_json; /* compact JSON of ttboost.v1.ChannelSettings; NULL = "{}" */
  size_t chan_len;
  int32_t chan_source; /* ttb_channel_source */

  /* --- under lock --- */
  ttb_settings settings;
  ttb_session session;
  bool has_token;
  bool token_external; /* the app keeps the token (ttb_client_set_token): no session.conf */
  char last_error[256];
  ttb_conn_state state;
  char conn_error[256];
  ttb_tiktok_status tiktok; /* the latest TikTok status (socket or /me/tiktok) */
  ttb_event queue[EVENT_QUEUE];
  size_t q_head, q_len;
  uint64_t q_dropped;
  ttb_event recent[RECENT_LOG];
  size_t r_head, r_len;
  uint64_t chat_messages, gifts, gift_count, filtered, skipped_local;
  ttb__conn_stats last_conn_stats; /* of the last stopped connection */
  job jobs[JOB_QUEUE];
  size_t j_head, j_len;
  tts_want wants[WANTS];
  uint64_t speech_asked; /* SpeechWanted sent (binary mode) */
  /* The chat asked for last whose last frame has not come yet (0: none):
   * the next is asked for only after it, as URL downloads go one after the
   * other; given up when no frame of it came for STREAM_WAIT_MS. */
  uint64_t ask_open;
  int64_t ask_open_until;
  bool worker_quit;

  /* --- under conn_lock --- */
  ttb__conn *conn;
  bool started;

  /* --- network thread only (and stop, after it ended) --- */
  stream_slot streams[STREAMS];
  uint64_t stream_tick;
  int16_t stream_pcm[TTB__OPUS_MAX_FRAMES * 2];

  /* --- worker thread only --- */
  cache_entry cache[GIFT_CACHE];
  uint64_t cache_tick;
#if TTB_NET_HAVE_LWS
  ttb__http_session *dl_session; /* made on the first download */
#endif

  /* Network back ends (client_internal.h); set before use, then read-only. */
  ttb__http_fn http;
  void *http_user;
  ttb__http_stream_fn stream; /* NULL: downloads through http, in one piece */
  void *stream_user;
  ttb__transport_factory transport;
  void *transport_user;

  ttb__mixer *mixer;
  ttb__filter *filter;
  ttb__cond *cond;
  ttb__thread *worker;
};

/* ------------------------------------------------------------ helpers */

const char *ttb_strerror(int code)
{
  switch (code) {
  case TTB_OK:
    return "success";
  case TTB_ERR_INVALID:
    return "invalid argument";
  case TTB_ERR_NOMEM:
    return "out of memory";
  case TTB_ERR_IO:
    return "cannot read or write the data directory";
  case TTB_ERR_NETWORK:
    return "network unavailable";
  case TTB_ERR_PROTOCOL:
    return "unexpected answer from the server";
  case TTB_ERR_AUTH:
    return "unknown license key";
  case TTB_ERR_EXPIRED:
    return "license expired";
  case TTB_ERR_REVOKED:
    return "license revoked";
  case TTB_ERR_RATE_LIMITED:
    return "too many attempts, try again later";
  case TTB_ERR_DEVICE_LIMIT:
    return "license already used on the maximum number of devices";
  case TTB_ERR_STATE:
    return "not possible in the current state";
  case TTB_ERR_CORRUPT:
    return "a saved file is damaged";
  default:
    return "unknown error";
  }
}

static char *dup_str(const char *s)
{
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d)
    memcpy(d, s, n + 1);
  return d;
}

/* Copies src into dst[cap], cut on a UTF-8 code point boundary. */
static void copy_utf8(char *dst, size_t cap, const char *src)
{
  if (cap == 0)
    return;
  size_t n = src ? strlen(src) : 0;
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
      n--;
  }
  if (n)
    memcpy(dst, src, n);
  dst[n] = '\0';
}

/* Sets the client's last error (takes lock). Returns code. */
static int set_error(ttb_client *c, int code, const char *msg)
{
  ttb__mutex_lock(c->lock);
  copy_utf8(c->last_error, sizeof c->last_error, msg && *msg ? msg : ttb_strerror(code));
  ttb__mutex_unlock(c->lock);
  return code;
}

static ttboost_v1_Settings wire_settings(const ttb_settings *s)
{
  ttboost_v1_Settings w = ttboost_v1_Settings_init_zero;
  w.tts_enabled = s->tts_enabled;
  w.gifts_enabled = s->gifts_enabled;
  w.audio_frames = s->binary_mode;
  w.profanity_filter = s->profanity_filter;
  /* binary: frames only for the chats asked for (SpeechWanted), when the
   * server says it can (Hello.speech_wanted); an older server ignores it */
  w.speech_on_request = s->binary_mode;
  return w;
}

static void apply_audio_settings(ttb_client *c, const ttb_settings *s)
{
  ttb__mixer_set_kind(c->mixer, TTB__KIND_TTS, s->tts_enabled, s->tts_volume);
  ttb__mixer_set_kind(c->mixer, TTB__KIND_GIFT, s->gifts_enabled, s->gifts_volume);
}

/* ------------------------------------------------------------ events (lock held) */

static void push_event_locked(ttb_client *c, const ttb_event *ev)
{
  if (c->q_len == EVENT_QUEUE) {
    c->q_head = (c->q_head + 1) % EVENT_QUEUE;
    c->q_len--;
    c->q_dropped++;
  }
  c->queue[(c->q_head + c->q_len) % EVENT_QUEUE] = *ev;
  c->q_len++;
  if (ev->kind == TTB_EVENT_CHAT || ev->kind == TTB_EVENT_GIFT || ev->kind == TTB_EVENT_ERROR ||
      ev->kind == TTB_EVENT_MISSED) {
    c->recent[(c->r_head + c->r_len) % RECENT_LOG] = *ev;
    if (c->r_len < RECENT_LOG)
      c->r_len++;
    else
      c->r_head = (c->r_head + 1) % RECENT_LOG;
  }
}

static void local_event(ttb_client *c, int kind, uint32_t count, const char *text)
{
  ttb_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = kind;
  ev.time_ms = ttb__wall_ms();
  ev.count = count;
  copy_utf8(ev.text, sizeof ev.text, text);
  ttb__mutex_lock(c->lock);
  push_event_locked(c, &ev);
  ttb__mutex_unlock(c->lock);
}

static bool push_job_locked(ttb_client *c, int kind, uint64_t seq, const char *url)
{
  if (c->j_len == JOB_QUEUE)
    return false;
  job *j = &c->jobs[(c->j_head + c->j_len) % JOB_QUEUE];
  j->kind = kind;
  j->seq = seq;
  copy_utf8(j->url, sizeof j->url, url ? url : "");
  c->j_len++;
  ttb__cond_broadcast(c->cond);
  return true;
}

/* ------------------------------------------------------------ TikTok status */

static const char *const TIKTOK_NAMES[] = {"unknown", "off",   "waiting", "connecting",
                                           "live",    "ended", "error"};

const char *ttb_tiktok_state_name(int32_t state)
{
  if (state < TTB_TIKTOK_OFF || state > TTB_TIKTOK_ERROR)
    return TIKTOK_NAMES[0];
  return TIKTOK_NAMES[state];
}

/* The server's state name as a ttb_tiktok_state (UNKNOWN when not known). */
static ttb_tiktok_state tiktok_state_of(const char *name)
{
  for (int i = TTB_TIKTOK_OFF; i <= TTB_TIKTOK_ERROR; i++)
    if (strcmp(name, TIKTOK_NAMES[i]) == 0)
      return (ttb_tiktok_state)i;
  return TTB_TIKTOK_UNKNOWN;
}

static void tiktok_fill(ttb_tiktok_status *t, const char *state, const char *username,
                        const char *room_id, const char *message)
{
  memset(t, 0, sizeof *t);
  t->state = tiktok_state_of(state);
  copy_utf8(t->username, sizeof t->username, username);
  copy_utf8(t->room_id, sizeof t->room_id, room_id);
  copy_utf8(t->message, sizeof t->message, message);
}

/* Keeps t as the latest status and queues a TTB_EVENT_TIKTOK when it differs
 * from the one kept. Lock held. */
static void tiktok_update_locked(ttb_client *c, const ttb_tiktok_status *t, int64_t time_ms)
{
  if (memcmp(&c->tiktok, t, sizeof *t) == 0)
    return; /* both were memset before filling: padding and tails compare */
  c->tiktok = *t;
  ttb_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = TTB_EVENT_TIKTOK;
  ev.time_ms = time_ms;
  ev.count = (uint32_t)t->state;
  copy_utf8(ev.user, sizeof ev.user, t->username);
  copy_utf8(ev.text, sizeof ev.text, t->message);
  push_event_locked(c, &ev);
}

static void on_status(ttb_client *c, const ttboost_v1_Status *st, int64_t time_ms)
{
  ttb_tiktok_status t;
  tiktok_fill(&t, st->tiktok, st->username, st->room_id, st->message);
  ttb__mutex_lock(c->lock);
  tiktok_update_locked(c, &t, time_ms);
  ttb__mutex_unlock(c->lock);
}

/* ------------------------------------------------------------ network thread */

static void stream_close(ttb_client *c, stream_slot *s)
{
  if (!s->live)
    return;
  if (s->clip) {
    ttb__mixer_stream_end(c->mixer, s->clip);
    ttb__clip_unref(s->clip);
  }
  ttb__opus_stream_destroy(s->dec);
  memset(s, 0, sizeof *s);
}

static void on_audio_frame(ttb_client *c, const ttboost_v1_AudioFrame *f)
{
  stream_slot *s = NULL;
  bool fresh = false; /* the utterance's first frame here */
  for (int i = 0; i < STREAMS; i++)
    if (c->streams[i].live && c->streams[i].seq == f->event_seq)
      s = &c->streams[i];
  if (!s) {
    if (f->index != 0 && f->index > 50)
      return; /* the middle of an utterance we never saw start */
    /* A new utterance: take a free slot or end the oldest. */
    for (int i = 0; i < STREAMS && !s; i++)
      if (!c->streams[i].live)
        s = &c->streams[i];
    if (!s) {
      s = &c->streams[0];
      for (int i = 1; i < STREAMS; i++)
        if (c->streams[i].used < s->used)
          s = &c->streams[i];
      stream_close(c, s);
    }
    fresh = true;
    s->live = true;
    s->seq = f->event_seq;
    s->next_index = 0;
    uint32_t ch = f->channels == 2 ? 2 : 1;
    size_t cap = (size_t)f->duration_ms * (TTB__AUDIO_RATE / 1000) + TTB__OPUS_MAX_FRAMES;
    if (cap > (size_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE)
      cap = (size_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE;
    ttb_error e;
    ttb_error_clear(&e);
    if (ttb__opus_stream_create(ch, f->pre_skip, &s->dec, &e) != TTB_OK ||
        ttb__clip_create(ch, cap, &s->clip) != TTB_OK) {
      ttb__opus_stream_destroy(s->dec);
      s->dec = NULL;
      s->clip = NULL; /* keep the slot live (ignoring frames) */
      ttb__mixer_tts_cancel(c->mixer, f->event_seq);
    } else if (ttb__mixer_tts_attach(c->mixer, f->event_seq, s->clip) != TTB_OK) {
      /* Not wanted (filtered, TTS off, dropped): ignore its frames. */
      ttb__clip_unref(s->clip);
      s->clip = NULL;
      ttb__opus_stream_destroy(s->dec);
      s->dec = NULL;
    }
  }
  s->used = ++c->stream_tick;
  if (s->dec && s->clip) {
    ttb_error e;
    /* Conceal a few lost frames so the timing stays right. */
    uint32_t lost = f->index > s->next_index ? f->index - s->next_index : 0;
    for (uint32_t k = 0; k < lost && k < 5; k++) {
      int n = ttb__opus_stream_decode(s->dec, NULL, 0, c->stream_pcm, TTB__OPUS_MAX_FRAMES, &e);
      if (n > 0)
        ttb__mixer_stream_write(c->mixer, s->clip, c->stream_pcm, (size_t)n);
    }
    if (f->index >= s->next_index && f->packet.size > 0) {
      int n = ttb__opus_stream_decode(s->dec, f->packet.bytes, f->packet.size, c->stream_pcm,
                                      TTB__OPUS_MAX_FRAMES, &e);
      if (n > 0)
        ttb__mixer_stream_write(c->mixer, s->clip, c->stream_pcm, (size_t)n);
    }
  }
  if (f->index >= s->next_index)
    s->next_index = f->index + 1;
  if (f->last)
    stream_close(c, s);
  /* One locked section per frame, for what the worker thread reads. */
  ttb__mutex_lock(c->lock);
  if (fresh) /* its chat no longer waits for frames (the worker must not download it) */
    for (int i = 0; i < WANTS; i++)
      if (c->wants[i].live && c->wants[i].seq == f->event_seq)
        c->wants[i].live = false;
  if (c->ask_open == f->event_seq) {
    if (f->last) {
      c->ask_open = 0; /* the next chat may be asked for */
      ttb__cond_broadcast(c->cond);
    } else {
      c->ask_open_until = ttb__monotonic_ms() + STREAM_WAIT_MS;
    }
  }
  ttb__mutex_unlock(c->lock);
}

static void on_chat(ttb_client *c, const ttboost_v1_ServerMessage *m, int64_t time_ms)
{
  const ttboost_v1_ChatEvent *ch = &m->payload.chat;
  ttb_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = TTB_EVENT_CHAT;
  ev.seq = m->seq;
  ev.time_ms = time_ms;
  copy_utf8(ev.user, sizeof ev.user, ch->user);

  ttb__mutex_lock(c->lock);
  ttb_settings s = c->settings;
  ttb__mutex_unlock(c->lock);

  if (s.profanity_filter && ttb__filter_check(c->filter, ch->message, ev.text, sizeof ev.text) > 0)
    ev.filtered = true;
  else
    copy_utf8(ev.text, sizeof ev.text, ch->message);

  /* Audio: a filtered message is never spoken (counted as filtered). */
  bool speak = !ev.filtered && s.tts_enabled;
  bool want_audio = speak && (ch->tts_url[0] || s.binary_mode);
  bool reserved = want_audio && ttb__mixer_tts_reserve(c->mixer, m->seq) == TTB_OK;

  uint64_t give_up = 0; /* an older utterance that can be neither streamed nor fetched */
  ttb__mutex_lock(c->lock);
  c->chat_messages++;
  if (ev.filtered)
    c->filtered++;
  else if (!want_audio)
    c->skipped_local++; /* TTS off, or the server had no speech for it */
  if (reserved) {
    /* Its speech is fetched when it gets near the head (worker_main). */
    tts_want *x = NULL;
    for (int i = 0; i < WANTS && !x; i++)
      if (!c->wants[i].live)
        x = &c->wants[i];
    if (!x) { /* full: the oldest chat gives up its speech */
      x = &c->wants[0];
      for (int i = 1; i < WANTS; i++)
        if (c->wants[i].seq < x->seq)
          x = &c->wants[i];
      give_up = x->seq;
    }
    x->live = true;
    x->asked = !s.binary_mode;
    x->claimed = false;
    x->seq = m->seq;
    x->not_before_ms = s.binary_mode ? ttb__monotonic_ms() + STREAM_WAIT_MS : 0;
    copy_utf8(x->url, sizeof x->url, ch->tts_url);
    ttb__cond_broadcast(c->cond);
  }
  push_event_locked(c, &ev);
  ttb__mutex_unlock(c->lock);
  if (want_audio && !reserved)
    ttb__mixer_tts_cancel(c->mixer, m->seq); /* no-op unless the job queue was full */
  if (give_up)
    ttb__mixer_tts_cancel(c->mixer, give_up);
}

static void on_gift(ttb_client *c, const ttboost_v1_ServerMessage *m, int64_t time_ms)
{
  const ttboost_v1_GiftEvent *g = &m->payload.gift;
  ttb_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = TTB_EVENT_GIFT;
  ev.seq = m->seq;
  ev.time_ms = time_ms;
  ev.count = g->count;
  copy_utf8(ev.user, sizeof ev.user, g->user);
  copy_utf8(ev.text, sizeof ev.text, g->gift_name);
  ttb__mutex_lock(c->lock);
  c->gifts++;
  c->gift_count += g->count;
  if (!c->settings.gifts_enabled || !g->sound_url[0] ||
      !push_job_locked(c, JOB_GIFT, m->seq, g->sound_url))
    c->skipped_local++;
  push_event_locked(c, &ev);
  ttb__mutex_unlock(c->lock);
}

static void net_sink(void *user, const ttb__net_event *ev)
{
  ttb_client *c = user;
  switch (ev->kind) {
  case TTB__NET_CHAT:
    if (ev->msg.which_payload == ttboost_v1_ServerMessage_chat_tag)
      on_chat(c, &ev->msg, ev->time_ms);
    break;
  case TTB__NET_GIFT:
    if (ev->msg.which_payload == ttboost_v1_ServerMessage_gift_tag)
      on_gift(c, &ev->msg, ev->time_ms);
    break;
  case TTB__NET_AUDIO:
    if (ev->msg.which_payload == ttboost_v1_ServerMessage_audio_tag)
      on_audio_frame(c, &ev->msg.payload.audio);
    break;
  case TTB__NET_STATUS:
    if (ev->msg.which_payload == ttboost_v1_ServerMessage_status_tag)
      on_status(c, &ev->msg.payload.status, ev->time_ms);
    break;
  case TTB__NET_STATE: {
    ttb_event e;
    memset(&e, 0, sizeof e);
    e.kind = TTB_EVENT_STATE;
    e.time_ms = ev->time_ms;
    e.count = (uint32_t)ev->code;
    copy_utf8(e.text, sizeof e.text, ev->text);
    ttb__mutex_lock(c->lock);
    c->state = (ttb_conn_state)ev->code;
    if (ev->code == TTB_STATE_CONNECTED)
      c->conn_error[0] = '\0';
    else
      c->ask_open = 0; /* its frames will not come on this connection */
    push_event_locked(c, &e);
    ttb__mutex_unlock(c->lock);
    break;
  }
  case TTB__NET_STREAM_ERROR:
  case TTB__NET_ERROR: {
    ttb_event e;
    memset(&e, 0, sizeof e);
    e.kind = TTB_EVENT_ERROR;
    e.time_ms = ev->time_ms;
    int code = ev->code < 0 ? ev->code : TTB_ERR_PROTOCOL;
    if (ev->kind == TTB__NET_STREAM_ERROR) {
      int said = ttb__error_code_from_string(ev->msg.payload.error.error);
      if (said == TTB_ERR_AUTH || said == TTB_ERR_EXPIRED || said == TTB_ERR_REVOKED)
        break; /* the connection's own ERROR event follows when it closes */
      code = said < 0 ? said : TTB_ERR_PROTOCOL;
      snprintf(e.text, sizeof e.text, "server: %s",
               ev->msg.payload.error.message[0] ? ev->msg.payload.error.message
                                                : ev->msg.payload.error.error);
    } else {
      copy_utf8(e.text, sizeof e.text, ev->text);
    }
    e.count = (uint32_t)(-code);
    ttb__mutex_lock(c->lock);
    copy_utf8(c->conn_error, sizeof c->conn_error, e.text);
    push_event_locked(c, &e);
    /* The server refused the token: it is deleted (by the worker: file I/O). */
    if (ev->kind == TTB__NET_ERROR &&
        (code == TTB_ERR_AUTH || code == TTB_ERR_EXPIRED || code == TTB_ERR_REVOKED))
      push_job_locked(c, JOB_CLEAR_TOKEN, 0, NULL);
    ttb__mutex_unlock(c->lock);
    break;
  }
  case TTB__NET_GAP: {
    ttb_event e;
    memset(&e, 0, sizeof e);
    e.kind = TTB_EVENT_MISSED;
    e.time_ms = ev->time_ms;
    e.count = ev->code > 0 ? (uint32_t)ev->code : 0;
    copy_utf8(e.text, sizeof e.text, ev->text);
    ttb__mutex_lock(c->lock);
    push_event_locked(c, &e);
    ttb__mutex_unlock(c->lock);
    break;
  }
  case TTB__NET_HELLO:
    /* A connection is up: fetch the channel settings (the worker: HTTP). */
    ttb__mutex_lock(c->lock);
    push_job_locked(c, JOB_FETCH_CHANNEL, 0, NULL);
    ttb__mutex_unlock(c->lock);
    break;
  default:
    break;
  }
}

/* ------------------------------------------------------------ worker thread */

#if TTB_NET_HAVE_LWS
static int lws_transport(void *user, ttb__transport **out)
{
  (void)user;
  return ttb__transport_lws_create(NULL, out);
}
#endif

#if TTB_NET_HAVE_LWS
/* The default streamed GET: the client's own download session (worker
 * thread only), made on first use. */
static int session_stream(void *user, const char *url, int idle_ms, size_t max_body,
                          ttb__http_body_fn on_body, void *body_user, int *status, char *err,
                          size_t errlen)
{
  ttb_client *c = user;
  if (!c->dl_session) {
    int rc = ttb__http_session_create(NULL, &c->dl_session);
    if (rc != TTB_OK) {
      if (status)
        *status = 0;
      snprintf(err, errlen, "cannot start the network library");
      return rc;
    }
  }
  return ttb__http_session_get(c->dl_session, url, idle_ms, max_body, on_body, body_user, status,
                               err, errlen);
}
#endif

void ttb__client_set_net(ttb_client *c, ttb__http_fn http, void *http_user,
                         ttb__transport_factory transport, void *transport_user)
{
  if (!c)
    return;
#if TTB_NET_HAVE_LWS
  c->http = http ? http : ttb__http_lws;
  c->transport = transport ? transport : lws_transport;
  /* A fake HTTP (tests) serves the downloads too; else the session. */
  c->stream = http ? NULL : session_stream;
  c->stream_user = http ? NULL : c;
#else
  c->http = http;
  c->transport = transport;
  c->stream = NULL;
  c->stream_user = NULL;
#endif
  c->http_user = http ? http_user : NULL;
  c->transport_user = transport ? transport_user : NULL;
}

void ttb__client_set_stream(ttb_client *c, ttb__http_stream_fn stream, void *user)
{
  if (!c)
    return;
  c->stream = stream;
  c->stream_user = stream ? user : NULL;
}

/* Piece size in which a body fetched whole (through c->http) is fed on. */
#define WHOLE_BODY_PIECE 4096

/* A streamed GET of url: on_body gets the body as it comes. TTB_OK with a
 * 2xx answer; else a TTB_ERR_* (a status that is not 2xx is
 * TTB_ERR_NETWORK, said in why) or what on_body returned. */
static int fetch_stream(ttb_client *c, const char *url, ttb__http_body_fn on_body, void *user,
                        char *why, size_t whylen)
{
  int status = 0;
  int rc;
  if (c->stream) {
    rc = c->stream(c->stream_user, url, FETCH_IDLE_MS, TTB__DOWNLOAD_MAX, on_body, user, &status,
                   why, whylen);
  } else if (c->http) {
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = ttb__download(c->http, c->http_user, url, TTB__DOWNLOAD_MAX, 0, &buf, &len, why, whylen);
    status = rc == TTB_OK ? 200 : 0;
    for (size_t at = 0; rc == TTB_OK && at < len; at += WHOLE_BODY_PIECE)
      rc = on_body(user, buf + at, len - at < WHOLE_BODY_PIECE ? len - at : WHOLE_BODY_PIECE);
    free(buf);
    if (rc != TTB_OK)
      return rc; /* why is set by ttb__download, or on_body stopped */
  } else {
    snprintf(why, whylen, "this build has no HTTP transport (cannot fetch %s)", url);
    return TTB_ERR_NETWORK;
  }
  if (rc == TTB_OK && (status < 200 || status > 299)) {
    snprintf(why, whylen, "%.300s: HTTP %d", url, status);
    return TTB_ERR_NETWORK;
  }
  return rc;
}

typedef struct {
  uint8_t *buf;
  size_t len, cap;
} body_buf;

static int collect_body(void *user, const uint8_t *data, size_t len)
{
  body_buf *b = user;
  if (b->len + len > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 16384;
    while (nc < b->len + len)
      nc *= 2;
    uint8_t *nb = realloc(b->buf, nc);
    if (!nb)
      return TTB_ERR_NOMEM;
    b->buf = nb;
    b->cap = nc;
  }
  memcpy(b->buf + b->len, data, len);
  b->len += len;
  return TTB_OK;
}

/* A whole file (gift sounds: any Ogg Opus, decoded by libopusfile). */
static ttb__clip *load_clip(ttb_client *c, const char *url, char *why, size_t whylen)
{
  body_buf b = {0};
  int rc = fetch_stream(c, url, collect_body, &b, why, whylen);
  if (rc != TTB_OK) {
    if (rc == TTB_ERR_NOMEM)
      snprintf(why, whylen, "%.300s: out of memory", url);
    free(b.buf);
    return NULL;
  }
  ttb__clip *clip = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  if (ttb__clip_decode_ogg(b.buf, b.len, &clip, &e) != TTB_OK)
    snprintf(why, whylen, "%.300s: %.150s", url, e.msg);
  free(b.buf);
  return clip;
}

/* A chat's speech, decoded as it downloads into a clip that plays at once. */
typedef struct {
  ttb_client *c;
  uint64_t seq;
  ttb__ogg_opus *dec;
  ttb__clip *clip; /* made on the first PCM, attached to the utterance */
  bool unwanted;   /* the utterance went away (skipped, TTS off): stop */
  ttb_error e;
} tts_fetch;

#define TTS_NOT_WANTED 1

static int tts_pcm(void *user, uint32_t ch, const int16_t *pcm, size_t frames)
{
  tts_fetch *f = user;
  if (!f->clip) {
    /* The first decoded packet: the utterance starts now. */
    if (ttb__clip_create(ch, (size_t)2 * TTB__AUDIO_RATE, &f->clip) != TTB_OK)
      return TTB_ERR_NOMEM;
    if (ttb__mixer_tts_attach(f->c->mixer, f->seq, f->clip) != TTB_OK) {
      f->unwanted = true;
      return TTS_NOT_WANTED;
    }
  } else if (!ttb__mixer_tts_pending(f->c->mixer, f->seq)) {
    f->unwanted = true; /* skipped or switched off while it downloads */
    return TTS_NOT_WANTED;
  }
  return ttb__mixer_stream_write(f->c->mixer, f->clip, pcm, frames);
}

static int tts_body(void *user, const uint8_t *data, size_t len)
{
  tts_fetch *f = user;
  return ttb__ogg_opus_feed(f->dec, data, len, tts_pcm, f, &f->e);
}

/* Fetches and plays a chat's speech (worker thread). */
static void fetch_tts(ttb_client *c, uint64_t seq, const char *url, char *why, size_t whylen)
{
  if (!url[0] || ttb__mixer_tts_claim(c->mixer, seq) != TTB_OK) {
    ttb__mixer_tts_cancel(c->mixer, seq); /* no URL: nothing to play */
    return;
  }
  tts_fetch f;
  memset(&f, 0, sizeof f);
  f.c = c;
  f.seq = seq;
  ttb_error_clear(&f.e);
  if (ttb__ogg_opus_create(&f.dec, &f.e) != TTB_OK) {
    ttb__mixer_tts_cancel(c->mixer, seq);
    snprintf(why, whylen, "%s", f.e.msg);
    return;
  }
  int rc = fetch_stream(c, url, tts_body, &f, why, whylen);
  if (f.unwanted) {
    why[0] = '\0'; /* skipped meanwhile: counted by the mixer already */
  } else if (rc == TTB_OK && !f.clip) {
    snprintf(why, whylen, "%.300s: no audio in the file", url);
  } else if (rc != TTB_OK && f.e.code != TTB_OK && f.e.msg[0]) {
    snprintf(why, whylen, "%.300s: %.150s", url, f.e.msg); /* the decoder's reason */
  } else if (rc == TTB_ERR_NOMEM) {
    snprintf(why, whylen, "%.300s: out of memory", url);
  }
  if (f.clip) {
    ttb__mixer_stream_end(c->mixer, f.clip); /* what came plays to its end */
    ttb__clip_unref(f.clip);
  } else {
    ttb__mixer_tts_cancel(c->mixer, seq);
  }
  ttb__ogg_opus_destroy(f.dec);
}

static ttb__clip *gift_clip(ttb_client *c, const char *url, char *why, size_t whylen)
{
  cache_entry *slot = &c->cache[0];
  for (int i = 0; i < GIFT_CACHE; i++) {
    if (c->cache[i].clip && strcmp(c->cache[i].url, url) == 0) {
      c->cache[i].used = ++c->cache_tick;
      return ttb__clip_ref(c->cache[i].clip);
    }
    if (c->cache[i].used < slot->used)
      slot = &c->cache[i];
  }
  ttb__clip *clip = load_clip(c, url, why, whylen);
  if (!clip)
    return NULL;
  ttb__clip_unref(slot->clip);
  copy_utf8(slot->url, sizeof slot->url, url);
  slot->clip = ttb__clip_ref(clip);
  slot->used = ++c->cache_tick;
  return clip;
}

static int channel_fetch(ttb_client *c);

static void run_job(ttb_client *c, const job *j)
{
  char why[TTB__MESSAGE_SIZE];
  why[0] = '\0';
  if (j->kind == JOB_FETCH_CHANNEL) {
    (void)channel_fetch(c); /* a failure is queued as a TTB_EVENT_CHANNEL */
    return;
  }
  if (j->kind == JOB_CLEAR_TOKEN) {
    ttb_error e;
    ttb_error_clear(&e);
    ttb__mutex_lock(c->lock);
    bool external = c->token_external;
    ttb__mutex_unlock(c->lock);
    if (!external)
      (void)ttb_session_clear(c->data_dir, &e);
    ttb__mutex_lock(c->lock);
    c->has_token = false;
    memset(&c->session, 0, sizeof c->session);
    ttb__mutex_unlock(c->lock);
    return;
  }
  {
    ttb__clip *clip = gift_clip(c, j->url, why, sizeof why);
    if (clip) {
      ttb__mixer_gift_play(c->mixer, clip);
      ttb__clip_unref(clip);
      return;
    }
    ttb__mutex_lock(c->lock);
    c->skipped_local++;
    ttb__mutex_unlock(c->lock);
  }
  if (why[0]) {
    char msg[TTB_EVENT_TEXT_SIZE];
    snprintf(msg, sizeof msg, "audio not played: %s", why);
    local_event(c, TTB_EVENT_ERROR, (uint32_t)(-TTB_ERR_NETWORK), msg);
  }
}

static void audio_error(ttb_client *c, const char *why)
{
  if (!why[0])
    return;
  char msg[TTB_EVENT_TEXT_SIZE];
  snprintf(msg, sizeof msg, "audio not played: %s", why);
  local_event(c, TTB_EVENT_ERROR, (uint32_t)(-TTB_ERR_NETWORK), msg);
}

/* The next chat whose speech is to be fetched now (see "Which speech is
 * fetched" at the top), taken out of c->wants; false when none. *wait_ms:
 * when to look again. In binary mode, the chats that entered the first
 * FETCH_AHEAD places and were not asked for yet go to asks (*nasks, at most
 * WANTS): the caller sends their SpeechWanted. lock held (the mixer's lock
 * nests inside it). */
static bool next_tts_locked(ttb_client *c, tts_want *out, int *wait_ms, uint64_t *asks,
                            size_t *nasks)
{
  int64_t now = ttb__monotonic_ms();
  tts_want *pick = NULL, *ask = NULL;
  int64_t wait = -1;
  bool awaiting = false; /* a request whose first frame has not come yet */
  *nasks = 0;
  if (c->ask_open && now >= c->ask_open_until)
    c->ask_open = 0; /* its frames stopped coming */
  if (c->ask_open) {
    awaiting = true;
    wait = c->ask_open_until - now;
  }
  for (int i = 0; i < WANTS; i++) {
    tts_want *x = &c->wants[i];
    if (!x->live)
      continue;
    long place = x->claimed ? (ttb__mixer_tts_pending(c->mixer, x->seq) ? 0 : -1)
                            : ttb__mixer_tts_place(c->mixer, x->seq);
    if (place < 0) { /* dropped, or its audio came (frames) */
      x->live = false;
      continue;
    }
    if (place >= FETCH_AHEAD) {
      if (wait < 0 || wait > FETCH_POLL_MS)
        wait = FETCH_POLL_MS;
      continue;
    }
    if (!x->asked) { /* the oldest one is asked for (below) */
      if (!ask || x->seq < ask->seq)
        ask = x;
      continue; /* not picked before its request went out (send_asks_locked) */
    }
    if (x->claimed)
      awaiting = true;
    if (x->not_before_ms > now) {
      if (wait < 0 || x->not_before_ms - now < wait)
        wait = x->not_before_ms - now;
      continue;
    }
    if (!pick || x->seq < pick->seq)
      pick = x;
  }
  /* One request at a time, oldest first, as downloads go: the next is asked
   * for once the frames of the one before have all come (or it was fetched
   * by URL), so each listener has at most one synthesis waiting for the
   * workers and the chat about to speak never queues behind its listener's
   * next one nor behind other listeners' next ones. */
  if (ask && !awaiting) {
    ask->asked = true;
    asks[(*nasks)++] = ask->seq;
  } else if (ask && (wait < 0 || wait > FETCH_POLL_MS)) {
    wait = FETCH_POLL_MS;
  }
  if (pick) {
    *out = *pick;
    pick->live = false;
    if (c->ask_open == pick->seq)
      c->ask_open = 0; /* fetched by URL instead */
  }
  *wait_ms = wait < 0 ? 1000 : (int)wait + 1;
  return pick != NULL;
}

/* Sends SpeechWanted for asks (binary mode, a server that takes it); the
 * fallback download of each one asked is then due STREAM_WAIT_MS after the
 * audio ahead of it (its lead) has played.
 * lock held on entry and exit, released meanwhile (conn_lock comes first). */
static void send_asks_locked(ttb_client *c, const uint64_t *asks, size_t n)
{
  bool sent[WANTS];
  uint32_t lead[WANTS];
  for (size_t i = 0; i < n; i++) { /* the audio to play before it: how soon it is needed */
    long l = ttb__mixer_tts_lead_ms(c->mixer, asks[i]);
    lead[i] = l > 0 ? (uint32_t)l : 0;
  }
  ttb__mutex_unlock(c->lock);
  ttb__mutex_lock(c->conn_lock);
  for (size_t i = 0; i < n; i++)
    sent[i] = c->conn && ttb__conn_speech_wanted(c->conn, asks[i], lead[i]);
  ttb__mutex_unlock(c->conn_lock);
  ttb__mutex_lock(c->lock);
  int64_t now = ttb__monotonic_ms();
  for (size_t i = 0; i < n; i++) {
    if (!sent[i])
      continue; /* an older server streams every chat: the first timer stands */
    /* the server makes it by when it is needed (its lead), not at once: the
     * fallback is due STREAM_WAIT_MS after that */
    int64_t due = now + (int64_t)lead[i] + STREAM_WAIT_MS;
    c->speech_asked++;
    c->ask_open = asks[i];
    c->ask_open_until = due;
    for (int k = 0; k < WANTS; k++)
      if (c->wants[k].live && c->wants[k].seq == asks[i]) {
        c->wants[k].not_before_ms = due;
        /* its frames are coming: the queue's drop rule spares it, as it
         * spares a download under way (audio/mixer.h) */
        c->wants[k].claimed = ttb__mixer_tts_claim(c->mixer, asks[i]) == TTB_OK;
      }
  }
}

static void worker_main(void *arg)
{
  ttb_client *c = arg;
  ttb__mutex_lock(c->lock);
  for (;;) {
    if (c->worker_quit)
      break;
    char why[TTB__MESSAGE_SIZE];
    why[0] = '\0';
    if (c->j_len > 0) { /* gift sounds (and the token) first */
      job j = c->jobs[c->j_head];
      c->j_head = (c->j_head + 1) % JOB_QUEUE;
      c->j_len--;
      ttb__mutex_unlock(c->lock);
      run_job(c, &j);
      ttb__mixer_collect(c->mixer);
      ttb__mutex_lock(c->lock);
      continue;
    }
    tts_want w;
    int wait_ms = 1000;
    uint64_t asks[WANTS];
    size_t nasks = 0;
    bool got = next_tts_locked(c, &w, &wait_ms, asks, &nasks);
    if (nasks) {
      send_asks_locked(c, asks, nasks);
      if (!got)
        continue; /* look again: the timers moved */
    }
    if (got) {
      ttb__mutex_unlock(c->lock);
      fetch_tts(c, w.seq, w.url, why, sizeof why);
      audio_error(c, why);
      ttb__mixer_collect(c->mixer);
      ttb__mutex_lock(c->lock);
      continue;
    }
    ttb__cond_wait_ms(c->cond, c->lock, wait_ms);
  }
  ttb__mutex_unlock(c->lock);
}

/* ------------------------------------------------------------ channel settings */

/* Decodes and checks a ChannelSettings document (the schema's decoder:
 * syntax, types, lengths, counts). m: heap (27 KB). TTB_OK or
 * TTB_ERR_INVALID with why set. */
static int channel_decode(const char *json, size_t len, ttboost_v1_ChannelSettings *m, char *why,
                          size_t whylen)
{
  ttb_json_error je;
  memset(&je, 0, sizeof je);
  if (len > TTB_CHANNEL_JSON_MAX) {
    snprintf(why, whylen, "The channel settings are too large (%zu bytes, at most %u).", len,
             (unsigned)TTB_CHANNEL_JSON_MAX);
    return TTB_ERR_INVALID;
  }
  if (!ttb_npb_ttboost_v1_ChannelSettings_from_json(json, len, m, &je)) {
    snprintf(why, whylen, "The channel settings are not valid: %s", je.msg);
    return TTB_ERR_INVALID;
  }
  char verr[256];
  verr[0] = '\0';
  if (!ttb_npb_ttboost_v1_ChannelSettings_validate(m, verr, sizeof verr)) {
    snprintf(why, whylen, "The channel settings are not valid: %s", verr);
    return TTB_ERR_INVALID;
  }
  return TTB_OK;
}

/* Encodes m as compact JSON into a new buffer (*out, caller frees). */
static int channel_encode(const ttboost_v1_ChannelSettings *m, char **out, size_t *len, char *why,
                          size_t whylen)
{
  *out = NULL;
  *len = 0;
  char *buf = malloc(TTB_CHANNEL_JSON_MAX + 1);
  if (!buf) {
    snprintf(why, whylen, "out of memory");
    return TTB_ERR_NOMEM;
  }
  size_t n = 0;
  ttb_json_error je;
  memset(&je, 0, sizeof je);
  if (!ttb_npb_ttboost_v1_ChannelSettings_to_json(m, buf, TTB_CHANNEL_JSON_MAX + 1, &n, &je) ||
      n > TTB_CHANNEL_JSON_MAX) {
    free(buf);
    snprintf(why, whylen, "The channel settings cannot be written as JSON: %s", je.msg);
    return TTB_ERR_INVALID;
  }
  buf[n] = '\0';
  char *small = realloc(buf, n + 1);
  *out = small ? small : buf;
  *len = n;
  return TTB_OK;
}

/* Queues a TTB_EVENT_CHANNEL: code 0 (a new copy) or a TTB_ERR_* with text. */
static void channel_event(ttb_client *c, int code, const char *text)
{
  local_event(c, TTB_EVENT_CHANNEL, code < 0 ? (uint32_t)(-code) : 0, text ? text : "");
}

/* Keeps m as the copy held (source SERVER), persists it, and queues a
 * TTB_EVENT_CHANNEL when it changed (always when `always`). */
static int channel_keep(ttb_client *c, const ttboost_v1_ChannelSettings *m, bool always)
{
  char why[TTB__MESSAGE_SIZE];
  char *json = NULL;
  size_t len = 0;
  int rc = channel_encode(m, &json, &len, why, sizeof why);
  if (rc != TTB_OK)
    return set_error(c, rc, why);
  ttb__mutex_lock(c->chan_lock);
  bool changed = !c->chan_json || c->chan_len != len || memcmp(c->chan_json, json, len) != 0;
  bool was_server = c->chan_source == TTB_CHANNEL_SERVER;
  ttb_error e;
  ttb_error_clear(&e);
  int prc = TTB_OK;
  if (changed) {
    prc = ttb_channel_save(c->data_dir, json, len, &e);
    free(c->chan_json);
    c->chan_json = json;
    c->chan_len = len;
    json = NULL;
  }
  c->chan_source = TTB_CHANNEL_SERVER;
  ttb__mutex_unlock(c->chan_lock);
  free(json);
  if (changed || always || !was_server)
    channel_event(c, 0, "");
  /* Not kept on disk is not fatal: the copy in memory is right. */
  if (prc != TTB_OK)
    (void)set_error(c, prc, e.msg);
  return TTB_OK;
}

/* At create: the copy kept in data_dir, if it is sound. */
static void channel_load_saved(ttb_client *c)
{
  char *json = NULL;
  size_t len = 0;
  ttb_error e;
  ttb_error_clear(&e);
  int rc = ttb_channel_load(c->data_dir, &json, &len, &e);
  if (rc != TTB_OK) {
    if (rc == TTB_ERR_CORRUPT && !c->last_error[0])
      snprintf(c->last_error, sizeof c->last_error, "%s; it is fetched again", e.msg);
    return;
  }
  ttboost_v1_ChannelSettings *m = malloc(sizeof *m);
  char why[256];
  if (m && channel_decode(json, len, m, why, sizeof why) == TTB_OK) {
    c->chan_json = json;
    c->chan_len = len;
    c->chan_source = TTB_CHANNEL_SAVED;
    json = NULL;
  } else if (m && !c->last_error[0]) {
    snprintf(c->last_error, sizeof c->last_error, "%s is damaged (%.160s); it is fetched again",
             TTB_CHANNEL_FILE, why);
  }
  free(m);
  free(json);
}

/* The ws token, copied; false when logged out. */
static bool copy_token(ttb_client *c, char *out, size_t cap)
{
  ttb__mutex_lock(c->lock);
  bool has = c->has_token;
  copy_utf8(out, cap, has ? c->session.ws_token : "");
  ttb__mutex_unlock(c->lock);
  return has;
}

/* One /me/... call with the client's token; on failure sets last_error. */
static int me_call(ttb_client *c, const ttb__me_req *req, ttb__http_resp *resp, char *text,
                   size_t textlen)
{
  memset(resp, 0, sizeof *resp);
  if (!c->http) {
    snprintf(text, textlen, "this build has no network transport");
    return set_error(c, TTB_ERR_NETWORK, text);
  }
  char token[TTB_SESSION_TOKEN_SIZE];
  if (!copy_token(c, token, sizeof token)) {
    snprintf(text, textlen, "not logged in: log in with a license key first");
    return set_error(c, TTB_ERR_STATE, text);
  }
  int rc = ttb__me_call(c->http, c->http_user, c->server_url, token, req, resp, text, textlen);
  if (rc != TTB_OK)
    return set_error(c, rc, text);
  return TTB_OK;
}

/* GET /me/settings -> the copy held. Network threads: the worker (after a
 * connect) or the caller of ttb_client_refresh_channel_settings. */
static int channel_fetch(ttb_client *c)
{
  char text[TTB__MESSAGE_SIZE];
  ttb__me_req req = {.method = "GET", .path = "/me/settings"};
  ttb__http_resp resp;
  int rc = me_call(c, &req, &resp, text, sizeof text);
  if (rc != TTB_OK) {
    if (rc != TTB_ERR_STATE)
      channel_event(c, rc, text);
    return rc;
  }
  ttboost_v1_ChannelSettings *m = malloc(sizeof *m);
  if (!m) {
    ttb__http_resp_finish(&resp);
    return set_error(c, TTB_ERR_NOMEM, NULL);
  }
  char why[TTB__MESSAGE_SIZE];
  rc = channel_decode(resp.body ? (const char *)resp.body : "", resp.len, m, why, sizeof why);
  ttb__http_resp_finish(&resp);
  if (rc != TTB_OK) {
    snprintf(text, sizeof text, "The server's channel settings could not be read (%.400s).", why);
    free(m);
    channel_event(c, TTB_ERR_PROTOCOL, text);
    return set_error(c, TTB_ERR_PROTOCOL, text);
  }
  rc = channel_keep(c, m, false);
  free(m);
  return rc;
}

int ttb_client_channel_settings_json(const ttb_client *c, char *out, size_t cap, size_t *len,
                                     int32_t *source)
{
  if (len)
    *len = 0;
  if (source)
    *source = TTB_CHANNEL_DEFAULTS;
  if (!c)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->chan_lock);
  const char *js = c->chan_json ? c->chan_json : "{}";
  size_t n = c->chan_json ? c->chan_len : 2;
  if (len)
    *len = n;
  if (source)
    *source = c->chan_source;
  int rc = TTB_ERR_INVALID;
  if (out && cap > n) {
    memcpy(out, js, n + 1);
    rc = TTB_OK;
  }
  ttb__mutex_unlock(c->chan_lock);
  return rc;
}

int ttb_client_refresh_channel_settings(ttb_client *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  int rc = channel_fetch(c);
  if (rc == TTB_OK) {
    ttb__mutex_lock(c->lock);
    c->last_error[0] = '\0';
    ttb__mutex_unlock(c->lock);
  }
  return rc;
}

int ttb_client_set_channel_settings_json(ttb_client *c, const char *json)
{
  if (!c)
    return TTB_ERR_INVALID;
  if (!json)
    return set_error(c, TTB_ERR_INVALID, "NULL channel settings (\"{}\" is the defaults)");
  ttboost_v1_ChannelSettings *m = malloc(sizeof *m);
  if (!m)
    return set_error(c, TTB_ERR_NOMEM, NULL);
  char text[TTB__MESSAGE_SIZE];
  int rc = channel_decode(json, strlen(json), m, text, sizeof text);
  char *body = NULL;
  size_t blen = 0;
  if (rc == TTB_OK) {
    m->updated_ms = 0; /* the server's to set */
    rc = channel_encode(m, &body, &blen, text, sizeof text);
  }
  if (rc != TTB_OK) {
    free(m);
    return set_error(c, rc, text);
  }
  ttb__me_req req = {
      .method = "PUT",
      .path = "/me/settings",
      .content_type = "application/json",
      .body = (const uint8_t *)body,
      .body_len = blen,
  };
  ttb__http_resp resp;
  rc = me_call(c, &req, &resp, text, sizeof text);
  free(body);
  if (rc != TTB_OK) {
    free(m);
    if (rc != TTB_ERR_STATE)
      channel_event(c, rc, text);
    return rc;
  }
  char why[TTB__MESSAGE_SIZE];
  rc = channel_decode(resp.body ? (const char *)resp.body : "", resp.len, m, why, sizeof why);
  ttb__http_resp_finish(&resp);
  if (rc != TTB_OK) {
    snprintf(text, sizeof text, "The server's answer could not be read (%.400s).", why);
    free(m);
    channel_event(c, TTB_ERR_PROTOCOL, text);
    return set_error(c, TTB_ERR_PROTOCOL, text);
  }
  rc = channel_keep(c, m, true);
  free(m);
  if (rc == TTB_OK) {
    ttb__mutex_lock(c->lock);
    c->last_error[0] = '\0';
    ttb__mutex_unlock(c->lock);
  }
  return rc;
}

/* ------------------------------------------------------------ the streamer's sounds */

/* What the bytes are: "audio/ogg", "audio/wav", "audio/mpeg", or NULL. */
static const char *sound_type(const uint8_t *d, size_t n)
{
  if (n >= 4 && memcmp(d, "OggS", 4) == 0)
    return "audio/ogg";
  if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WAVE", 4) == 0)
    return "audio/wav";
  if (n >= 3 && memcmp(d, "ID3", 3) == 0)
    return "audio/mpeg";
  if (n >= 2 && d[0] == 0xFF && (d[1] & 0xE0) == 0xE0)
    return "audio/mpeg";
  return NULL;
}

/* Percent-encodes s (RFC 3986 unreserved kept) into out; false when it does not fit. */
static bool url_encode(const char *s, char *out, size_t cap)
{
  static const char HEX[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '~';
    if (o + (keep ? 1 : 3) >= cap)
      return false;
    if (keep) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = HEX[*p >> 4];
      out[o++] = HEX[*p & 15];
    }
  }
  out[o] = '\0';
  return true;
}

/* Valid UTF-8 without control characters. */
static bool utf8_text_ok(const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    if (*p < 0x20 || *p == 0x7F)
      return false;
    int more = *p < 0x80             ? 0
               : (*p & 0xE0) == 0xC0 ? 1
               : (*p & 0xF0) == 0xE0 ? 2
               : (*p & 0xF8) == 0xF0 ? 3
                                     : -1;
    if (more < 0 || (more == 1 && *p < 0xC2))
      return false;
    p++;
    for (int k = 0; k < more; k++, p++)
      if ((*p & 0xC0) != 0x80)
        return false;
  }
  return true;
}

int ttb_client_upload_sound(ttb_client *c, const char *name, const char *content_type,
                            const uint8_t *data, size_t len, char *out, size_t cap)
{
  if (out && cap)
    out[0] = '\0';
  if (!c)
    return TTB_ERR_INVALID;
  if (!data || len == 0)
    return set_error(c, TTB_ERR_INVALID, "the sound file is empty");
  if (len > TTB_SOUND_UPLOAD_MAX)
    return set_error(c, TTB_ERR_INVALID, "the sound file is larger than 2 MiB");
  const char *seen = sound_type(data, len);
  if (!content_type || !*content_type)
    content_type = seen;
  if (!content_type ||
      (strcmp(content_type, "audio/ogg") != 0 && strcmp(content_type, "audio/wav") != 0 &&
       strcmp(content_type, "audio/mpeg") != 0))
    return set_error(c, TTB_ERR_INVALID,
                     "not a sound file this server takes (Ogg Opus, WAV or MP3)");
  char path[64 * 3 + 32] = "/me/sounds";
  if (name) {
    char enc[64 * 3 + 1];
    if (!*name || strlen(name) > 64 || !utf8_text_ok(name) || !url_encode(name, enc, sizeof enc))
      return set_error(c, TTB_ERR_INVALID, "a sound's name is 1 to 64 bytes of text");
    snprintf(path, sizeof path, "/me/sounds?name=%s", enc);
  }
  ttb__me_req req = {
      .method = "POST",
      .path = path,
      .content_type = content_type,
      .body = data,
      .body_len = len,
      .timeout_ms = TTB__ME_UPLOAD_TIMEOUT_MS,
      .max_response = 16u << 10,
  };
  char text[TTB__MESSAGE_SIZE];
  ttb__http_resp resp;
  int rc = me_call(c, &req, &resp, text, sizeof text);
  if (rc != TTB_OK)
    return rc;
  ttboost_v1_UserSound us = ttboost_v1_UserSound_init_zero;
  ttb_json_error je;
  memset(&je, 0, sizeof je);
  bool ok = ttb_npb_ttboost_v1_UserSound_from_json(resp.body ? (const char *)resp.body : "",
                                                   resp.len, &us, &je) &&
            us.id[0];
  if (ok && out && cap)
    copy_utf8(out, cap, (const char *)resp.body);
  ttb__http_resp_finish(&resp);
  if (!ok) {
    snprintf(text, sizeof text, "The server's answer about the sound could not be read (%s).",
             je.msg[0] ? je.msg : "no id");
    return set_error(c, TTB_ERR_PROTOCOL, text);
  }
  return TTB_OK;
}

int ttb_client_list_sounds_json(ttb_client *c, char *out, size_t cap, size_t *len)
{
  if (len)
    *len = 0;
  if (!c)
    return TTB_ERR_INVALID;
  if (!out)
    return set_error(c, TTB_ERR_INVALID, "NULL buffer");
  out[0] = cap ? out[0] : 0;
  ttb__me_req req = {.method = "GET", .path = "/me/sounds"};
  char text[TTB__MESSAGE_SIZE];
  ttb__http_resp resp;
  int rc = me_call(c, &req, &resp, text, sizeof text);
  if (rc != TTB_OK)
    return rc;
  ttboost_v1_UserSoundList *l = malloc(sizeof *l);
  ttb_json_error je;
  memset(&je, 0, sizeof je);
  bool ok = l && ttb_npb_ttboost_v1_UserSoundList_from_json(
                     resp.body ? (const char *)resp.body : "", resp.len, l, &je);
  free(l);
  if (!ok) {
    ttb__http_resp_finish(&resp);
    snprintf(text, sizeof text, "The server's list of sounds could not be read (%s).", je.msg);
    return set_error(c, TTB_ERR_PROTOCOL, text);
  }
  if (len)
    *len = resp.len;
  rc = TTB_OK;
  if (cap > resp.len)
    memcpy(out, resp.body ? (const char *)resp.body : "", resp.len + 1);
  else
    rc = set_error(c, TTB_ERR_INVALID, "the buffer is too small for the list of sounds");
  ttb__http_resp_finish(&resp);
  return rc;
}

int ttb_client_delete_sound(ttb_client *c, const char *id)
{
  if (!c)
    return TTB_ERR_INVALID;
  /* "u-" and digits, as the schema says. */
  bool ok = id && strncmp(id, "u-", 2) == 0 && id[2] && strlen(id) < 24;
  for (size_t i = 2; ok && id[i]; i++)
    ok = id[i] >= '0' && id[i] <= '9';
  if (!ok)
    return set_error(c, TTB_ERR_INVALID, "not a sound id (\"u-\" and digits)");
  ttboost_v1_UserSoundDelete d = ttboost_v1_UserSoundDelete_init_zero;
  snprintf(d.id, sizeof d.id, "%s", id);
  char body[128];
  size_t blen = 0;
  ttb_json_error je;
  memset(&je, 0, sizeof je);
  if (!ttb_npb_ttboost_v1_UserSoundDelete_to_json(&d, body, sizeof body, &blen, &je))
    return set_error(c, TTB_ERR_INVALID, je.msg);
  ttb__me_req req = {
      .method = "DELETE",
      .path = "/me/sounds",
      .content_type = "application/json",
      .body = (const uint8_t *)body,
      .body_len = blen,
      .not_found_is_invalid = true,
  };
  char text[TTB__MESSAGE_SIZE];
  ttb__http_resp resp;
  int rc = me_call(c, &req, &resp, text, sizeof text);
  if (rc != TTB_OK)
    return rc;
  ttb__http_resp_finish(&resp);
  return TTB_OK;
}

/* ------------------------------------------------------------ lifecycle */

int ttb_client_create(const ttb_client_config *cfg, ttb_client **out)
{
  if (!out)
    return TTB_ERR_INVALID;
  *out = NULL;
  if (!cfg || !cfg->server_url || !cfg->data_dir || !cfg->data_dir[0])
    return TTB_ERR_INVALID;
  if (strncmp(cfg->server_url, "http://", 7) != 0 && strncmp(cfg->server_url, "https://", 8) != 0)
    return TTB_ERR_INVALID;
  if (strlen(cfg->server_url) >= TTB_SESSION_URL_SIZE)
    return TTB_ERR_INVALID;
  uint32_t rate = cfg->sample_rate ? cfg->sample_rate : TTB_DEFAULT_SAMPLE_RATE;
  uint32_t channels = cfg->channels ? cfg->channels : TTB_DEFAULT_CHANNELS;
  if (rate < 8000 || rate > 192000 || channels > 2)
    return TTB_ERR_INVALID;

  ttb_client *c = calloc(1, sizeof *c);
  if (!c)
    return TTB_ERR_NOMEM;
  int rc = TTB_ERR_NOMEM;
  c->rate = rate;
  c->channels = channels;
  c->server_url = dup_str(cfg->server_url);
  c->data_dir = dup_str(cfg->data_dir);
  c->device_id = dup_str(cfg->device_id ? cfg->device_id : "");
  if (!c->server_url || !c->data_dir || !c->device_id)
    goto fail;
  if (ttb__mutex_create(&c->ctl) != TTB_OK || ttb__mutex_create(&c->conn_lock) != TTB_OK ||
      ttb__mutex_create(&c->lock) != TTB_OK || ttb__mutex_create(&c->chan_lock) != TTB_OK ||
      ttb__cond_create(&c->cond) != TTB_OK)
    goto fail;
  ttb_error e;
  ttb_error_clear(&e);
  ttb__mixer_config mc = {.out_rate = rate, .out_channels = channels};
  if ((rc = ttb__mixer_create(&mc, &c->mixer, &e)) != TTB_OK)
    goto fail;
  if ((rc = ttb__filter_create(NULL, 0, &c->filter, &e)) != TTB_OK)
    goto fail;

  /* Stored settings and token: damage is reported, never fatal. */
  int src = ttb_settings_load(c->data_dir, &c->settings, &e);
  if (src == TTB_ERR_CORRUPT)
    snprintf(c->last_error, sizeof c->last_error, "%s; default settings used", e.msg);
  else if (src == TTB_ERR_IO) {
    rc = TTB_ERR_IO;
    goto fail;
  }
  ttb_error se;
  ttb_error_clear(&se);
  int ssrc = ttb_session_load(c->data_dir, &c->session, &se);
  if (ssrc == TTB_OK) {
    /* A token for another server is not ours to use. */
    c->has_token = strcmp(c->session.server_url, c->server_url) == 0;
  } else if (ssrc == TTB_ERR_CORRUPT) {
    snprintf(c->last_error, sizeof c->last_error, "%s; please log in again", se.msg);
  } else if (ssrc == TTB_ERR_IO) {
    rc = TTB_ERR_IO;
    goto fail;
  }
  channel_load_saved(c);
  apply_audio_settings(c, &c->settings);
  ttb__client_set_net(c, NULL, NULL, NULL, NULL);
  c->state = TTB_STATE_DISCONNECTED;
  if ((rc = ttb__thread_start(&c->worker, worker_main, c)) != TTB_OK)
    goto fail;
  *out = c;
  return TTB_OK;
fail:
  ttb_client_destroy(c);
  return rc;
}

void ttb_client_destroy(ttb_client *c)
{
  if (!c)
    return;
  if (c->ctl && c->conn_lock && c->lock)
    (void)ttb_client_stop(c);
  if (c->worker) {
    ttb__mutex_lock(c->lock);
    c->worker_quit = true;
    ttb__cond_broadcast(c->cond);
    ttb__mutex_unlock(c->lock);
    ttb__thread_join(c->worker);
  }
  for (int i = 0; i < STREAMS; i++)
    stream_close(c, &c->streams[i]);
  for (int i = 0; i < GIFT_CACHE; i++)
    ttb__clip_unref(c->cache[i].clip);
#if TTB_NET_HAVE_LWS
  ttb__http_session_destroy(c->dl_session);
#endif
  ttb__mixer_destroy(c->mixer);
  ttb__filter_destroy(c->filter);
  ttb__cond_destroy(c->cond);
  ttb__mutex_destroy(c->lock);
  ttb__mutex_destroy(c->conn_lock);
  ttb__mutex_destroy(c->ctl);
  ttb__mutex_destroy(c->chan_lock);
  free(c->chan_json);
  free(c->server_url);
  free(c->data_dir);
  free(c->device_id);
  free(c);
}

const char *ttb_client_last_error(const ttb_client *c)
{
  if (!c)
    return "no client (NULL)";
  return c->last_error;
}

/* ------------------------------------------------------------ login */

int ttb_client_login(ttb_client *c, const char *license_key)
{
  if (!c)
    return TTB_ERR_INVALID;
  if (!license_key || !license_key[0])
    return set_error(c, TTB_ERR_INVALID, "the license key is empty");
  ttb__mutex_lock(c->conn_lock);
  bool started = c->started;
  ttb__mutex_unlock(c->conn_lock);
  if (started)
    return set_error(c, TTB_ERR_STATE, "stop the client before logging in");
  if (!c->http)
    return set_error(c, TTB_ERR_NETWORK, "this build has no network transport");
  ttb__login_result lr;
  memset(&lr, 0, sizeof lr);
  int rc = ttb__login(c->http, c->http_user, c->server_url, license_key, c->device_id,
                      TTB__LOGIN_TIMEOUT_MS, &lr);
  if (rc != TTB_OK)
    return set_error(c, rc, lr.message);
  ttb_session s;
  memset(&s, 0, sizeof s);
  copy_utf8(s.ws_token, sizeof s.ws_token, lr.ws_token);
  copy_utf8(s.user_id, sizeof s.user_id, lr.user_id);
  copy_utf8(s.server_url, sizeof s.server_url, c->server_url);
  ttb_error e;
  ttb_error_clear(&e);
  ttb__mutex_lock(c->ctl);
  ttb__mutex_lock(c->lock);
  bool external = c->token_external;
  ttb__mutex_unlock(c->lock);
  if (!external)
    rc = ttb_session_save(c->data_dir, &s, &e);
  else if (!ttb_session_token_valid(s.ws_token))
    rc = TTB_ERR_INVALID; /* as ttb_session_save would say */
  if (rc == TTB_OK) {
    ttb__mutex_lock(c->lock);
    c->session = s;
    c->has_token = true;
    c->last_error[0] = '\0';
    ttb__mutex_unlock(c->lock);
  }
  ttb__mutex_unlock(c->ctl);
  if (rc != TTB_OK)
    return set_error(c, rc == TTB_ERR_INVALID ? TTB_ERR_PROTOCOL : rc,
                     rc == TTB_ERR_INVALID ? "the server sent an unusable token" : e.msg);
  return TTB_OK;
}

bool ttb_client_has_token(const ttb_client *c)
{
  if (!c)
    return false;
  ttb__mutex_lock(c->lock);
  bool r = c->has_token;
  ttb__mutex_unlock(c->lock);
  return r;
}

int ttb_client_set_token(ttb_client *c, const char *token)
{
  if (!c)
    return TTB_ERR_INVALID;
  if (!token)
    token = "";
  if (token[0] && !ttb_session_token_valid(token))
    return set_error(c, TTB_ERR_INVALID, "not a token: 1..128 characters of A-Z a-z 0-9 . _ -");
  ttb__mutex_lock(c->ctl);
  ttb__mutex_lock(c->conn_lock);
  bool started = c->started;
  ttb__mutex_unlock(c->conn_lock);
  if (started) {
    ttb__mutex_unlock(c->ctl);
    return set_error(c, TTB_ERR_STATE, "stop the client before handing it a token");
  }
  /* The app keeps the token from now on: no copy of it stays on disk. */
  ttb_error e;
  ttb_error_clear(&e);
  int rc = ttb_session_clear(c->data_dir, &e);
  if (rc != TTB_OK) {
    ttb__mutex_unlock(c->ctl);
    return set_error(c, rc, e.msg);
  }
  ttb__mutex_lock(c->lock);
  c->token_external = true;
  memset(&c->session, 0, sizeof c->session);
  if (token[0]) {
    copy_utf8(c->session.ws_token, sizeof c->session.ws_token, token);
    copy_utf8(c->session.server_url, sizeof c->session.server_url, c->server_url);
  }
  c->has_token = token[0] != '\0';
  ttb__mutex_unlock(c->lock);
  ttb__mutex_unlock(c->ctl);
  return TTB_OK;
}

int ttb_client_get_token(const ttb_client *c, char *out, size_t cap)
{
  if (!c || !out)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->lock);
  int rc = TTB_OK;
  if (!c->has_token)
    rc = TTB_ERR_STATE;
  else if (strlen(c->session.ws_token) >= cap)
    rc = TTB_ERR_INVALID;
  else
    memcpy(out, c->session.ws_token, strlen(c->session.ws_token) + 1);
  ttb__mutex_unlock(c->lock);
  return rc;
}

/* ------------------------------------------------------------ start / stop */

/* Stops and frees the connection; keeps its final counters. ctl held. */
static void drop_conn(ttb_client *c)
{
  ttb__mutex_lock(c->conn_lock);
  ttb__conn *conn = c->conn;
  c->conn = NULL;
  c->started = false;
  ttb__mutex_unlock(c->conn_lock);
  if (!conn)
    return;
  ttb__conn_stop(conn);
  ttb__conn_stats st;
  ttb__conn_get_stats(conn, &st);
  ttb__conn_destroy(conn);
  ttb__mutex_lock(c->lock);
  c->last_conn_stats = st;
  c->state = TTB_STATE_DISCONNECTED;
  ttb__mutex_unlock(c->lock);
  /* The network thread has ended: its streams are ours to close. */
  for (int i = 0; i < STREAMS; i++)
    stream_close(c, &c->streams[i]);
}

int ttb_client_start(ttb_client *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->ctl);
  ttb__mutex_lock(c->conn_lock);
  bool running = c->started && c->conn && ttb__conn_running(c->conn);
  ttb__mutex_unlock(c->conn_lock);
  if (running) {
    ttb__mutex_unlock(c->ctl);
    return TTB_OK;
  }
  drop_conn(c); /* a connection that gave up (token refused) */
  ttb__mutex_lock(c->lock);
  bool has = c->has_token;
  ttb_session sess = c->session;
  ttb_settings s = c->settings;
  ttb__mutex_unlock(c->lock);
  if (!has) {
    ttb__mutex_unlock(c->ctl);
    return set_error(c, TTB_ERR_STATE, "not logged in: log in with a license key first");
  }
  if (s.auto_start_tts && !s.tts_enabled) {
    s.tts_enabled = true;
    ttb_error e;
    ttb_error_clear(&e);
    if (ttb_settings_save(c->data_dir, &s, &e) == TTB_OK) {
      ttb__mutex_lock(c->lock);
      c->settings = s;
      ttb__mutex_unlock(c->lock);
      apply_audio_settings(c, &s);
    } else {
      s.tts_enabled = false;
    }
  }
  if (!c->transport) {
    ttb__mutex_unlock(c->ctl);
    return set_error(c, TTB_ERR_STATE, "this build has no network transport");
  }
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = c->server_url;
  cc.ws_token = sess.ws_token;
  cc.binary = s.binary_mode;
  cc.settings = wire_settings(&s);
  cc.sink = net_sink;
  cc.sink_user = c;
  ttb__transport *t = NULL;
  int rc = c->transport(c->transport_user, &t);
  ttb__conn *conn = NULL;
  if (rc == TTB_OK)
    rc = ttb__conn_create(&cc, t, &conn);
  if (rc == TTB_OK) {
    ttb__mutex_lock(c->lock);
    c->state = TTB_STATE_CONNECTING;
    c->conn_error[0] = '\0';
    ttb__mutex_unlock(c->lock);
    rc = ttb__conn_start(conn);
  }
  if (rc != TTB_OK) {
    ttb__conn_destroy(conn);
    ttb__mutex_lock(c->lock);
    c->state = TTB_STATE_DISCONNECTED;
    ttb__mutex_unlock(c->lock);
    ttb__mutex_unlock(c->ctl);
    return set_error(c, rc, "cannot start the connection");
  }
  ttb__mutex_lock(c->conn_lock);
  c->conn = conn;
  c->started = true;
  ttb__mutex_unlock(c->conn_lock);
  ttb__mutex_unlock(c->ctl);
  return TTB_OK;
}

int ttb_client_stop(ttb_client *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->ctl);
  drop_conn(c);
  ttb__mutex_unlock(c->ctl);
  ttb__mutex_lock(c->lock);
  for (int i = 0; i < WANTS; i++)
    c->wants[i].live = false;
  c->j_len = 0; /* pending downloads are moot */
  ttb__mutex_unlock(c->lock);
  ttb__mixer_stop_all(c->mixer);
  return TTB_OK;
}

int ttb_client_logout(ttb_client *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  (void)ttb_client_stop(c);
  ttb__mutex_lock(c->ctl);
  ttb_error e;
  ttb_error_clear(&e);
  ttb__mutex_lock(c->lock);
  bool external = c->token_external;
  ttb__mutex_unlock(c->lock);
  int rc = external ? TTB_OK : ttb_session_clear(c->data_dir, &e);
  ttb__mutex_lock(c->lock);
  if (rc == TTB_OK) {
    c->has_token = false;
    memset(&c->session, 0, sizeof c->session);
  }
  c->q_len = c->q_head = 0;
  c->q_dropped = 0;
  c->r_len = c->r_head = 0;
  memset(&c->tiktok, 0, sizeof c->tiktok); /* another license may log in next */
  ttb__mutex_unlock(c->lock);
  if (rc == TTB_OK) { /* the channel settings are the license's: forget them too */
    ttb__mutex_lock(c->chan_lock);
    rc = ttb_channel_clear(c->data_dir, &e);
    free(c->chan_json);
    c->chan_json = NULL;
    c->chan_len = 0;
    c->chan_source = TTB_CHANNEL_DEFAULTS;
    ttb__mutex_unlock(c->chan_lock);
  }
  ttb__mutex_unlock(c->ctl);
  if (rc != TTB_OK)
    return set_error(c, rc, e.msg);
  return TTB_OK;
}

int ttb_client_reconnect_now(ttb_client *c)
{
  if (!c)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(c->conn_lock);
  int rc = c->conn ? ttb__conn_reconnect_now(c->conn) : TTB_ERR_STATE;
  ttb__mutex_unlock(c->conn_lock);
  if (rc != TTB_OK)
    return set_error(c, rc, "the client is not started");
  return TTB_OK;
}

ttb_conn_state ttb_client_state(const ttb_client *c, char *last_error, size_t last_error_len)
{
  if (last_error && last_error_len > 0)
    last_error[0] = '\0';
  if (!c)
    return TTB_STATE_DISCONNECTED;
  ttb__mutex_lock(c->lock);
  ttb_conn_state st = c->state;
  if (last_error && last_error_len > 0)
    copy_utf8(last_error, last_error_len, c->conn_error);
  ttb__mutex_unlock(c->lock);
  return st;
}

/* ------------------------------------------------------------ TikTok handle */

ttb_tiktok_state ttb_client_tiktok_status(const ttb_client *c, ttb_tiktok_status *out)
{
  if (!c) {
    if (out)
      memset(out, 0, sizeof *out);
    return TTB_TIKTOK_UNKNOWN;
  }
  ttb__mutex_lock(c->lock);
  ttb_tiktok_status t = c->tiktok;
  ttb__mutex_unlock(c->lock);
  if (out)
    *out = t;
  return (ttb_tiktok_state)t.state;
}

/* GET (username NULL) or PUT /me/tiktok; keeps the answer. No lock across I/O. */
static int tiktok_http(ttb_client *c, const char *username, ttb_tiktok_status *out)
{
  if (out)
    memset(out, 0, sizeof *out);
  if (!c->http)
    return set_error(c, TTB_ERR_NETWORK, "this build has no network transport");
  ttb__mutex_lock(c->lock);
  bool has = c->has_token;
  char token[sizeof c->session.ws_token];
  memcpy(token, c->session.ws_token, sizeof token);
  ttb__mutex_unlock(c->lock);
  if (!has)
    return set_error(c, TTB_ERR_STATE, "not logged in: log in with a license key first");
  ttb__tiktok_result *r = malloc(sizeof *r);
  if (!r)
    return set_error(c, TTB_ERR_NOMEM, NULL);
  int rc = ttb__tiktok_call(c->http, c->http_user, c->server_url, token, username,
                            TTB__TIKTOK_TIMEOUT_MS, r);
  if (rc != TTB_OK) {
    rc = set_error(c, rc, r->text);
    free(r);
    return rc;
  }
  ttb_tiktok_status t;
  tiktok_fill(&t, r->state, r->username, r->room_id, r->message);
  free(r);
  ttb__mutex_lock(c->lock);
  tiktok_update_locked(c, &t, ttb__wall_ms());
  c->last_error[0] = '\0';
  ttb__mutex_unlock(c->lock);
  if (out)
    *out = t;
  return TTB_OK;
}

int ttb_client_set_tiktok(ttb_client *c, const char *username, ttb_tiktok_status *out)
{
  if (out)
    memset(out, 0, sizeof *out);
  if (!c)
    return TTB_ERR_INVALID;
  if (!username)
    return set_error(c, TTB_ERR_INVALID, "NULL TikTok username (use \"\" to clear it)");
  return tiktok_http(c, username, out);
}

int ttb_client_get_tiktok(ttb_client *c, ttb_tiktok_status *out)
{
  if (out)
    memset(out, 0, sizeof *out);
  if (!c)
    return TTB_ERR_INVALID;
  return tiktok_http(c, NULL, out);
}

/* ------------------------------------------------------------ settings, stats */

void ttb_client_get_settings(const ttb_client *c, ttb_settings *out)
{
  if (!out)
    return;
  if (!c) {
    ttb_settings_defaults(out);
    return;
  }
  ttb__mutex_lock(c->lock);
  *out = c->settings;
  ttb__mutex_unlock(c->lock);
}

int ttb_client_set_settings(ttb_client *c, const ttb_settings *s)
{
  if (!c || !s)
    return c ? set_error(c, TTB_ERR_INVALID, "NULL settings") : TTB_ERR_INVALID;
  if (!ttb_settings_valid(s))
    return set_error(c, TTB_ERR_INVALID, "volumes must be finite and within 0..1");
  ttb__mutex_lock(c->ctl);
  ttb_error e;
  ttb_error_clear(&e);
  int rc = ttb_settings_save(c->data_dir, s, &e);
  if (rc != TTB_OK) {
    ttb__mutex_unlock(c->ctl);
    return set_error(c, rc, e.msg);
  }
  ttb__mutex_lock(c->lock);
  bool binary_changed = c->settings.binary_mode != s->binary_mode;
  c->settings = *s;
  ttb__mutex_unlock(c->lock);
  apply_audio_settings(c, s);
  ttb__mutex_lock(c->conn_lock);
  if (c->conn) {
    ttboost_v1_Settings w = wire_settings(s);
    ttb__conn_set_settings(c->conn, &w);
    if (binary_changed)
      ttb__conn_set_binary(c->conn, s->binary_mode);
  }
  ttb__mutex_unlock(c->conn_lock);
  ttb__mutex_unlock(c->ctl);
  return TTB_OK;
}

void ttb_client_get_stats(const ttb_client *c, ttb_stats *out)
{
  if (!out)
    return;
  memset(out, 0, sizeof *out);
  if (!c)
    return;
  ttb__conn_stats cs;
  memset(&cs, 0, sizeof cs);
  ttb__mutex_lock(c->conn_lock);
  bool live = c->conn != NULL;
  if (live)
    ttb__conn_get_stats(c->conn, &cs);
  ttb__mutex_unlock(c->conn_lock);
  uint64_t played = 0, skipped = 0;
  ttb__mixer_counts(c->mixer, &played, &skipped);
  ttb__mutex_lock(c->lock);
  if (!live)
    cs = c->last_conn_stats;
  out->chat_messages = c->chat_messages;
  out->gifts = c->gifts;
  out->gift_count = c->gift_count;
  out->filtered = c->filtered;
  out->played = played;
  out->skipped = skipped + c->skipped_local;
  out->reconnects = cs.reconnects;
  out->uptime_ms = cs.connected_ms;
  ttb__mutex_unlock(c->lock);
}

/* ------------------------------------------------------------ events */

int ttb_client_poll_event(ttb_client *c, ttb_event *out)
{
  if (!c || !out)
    return 0;
  ttb__mutex_lock(c->lock);
  if (c->q_dropped > 0) {
    memset(out, 0, sizeof *out);
    out->kind = TTB_EVENT_ERROR;
    out->time_ms = ttb__wall_ms();
    out->count = (uint32_t)(-TTB_ERR_NOMEM);
    snprintf(out->text, sizeof out->text,
             "%llu events were dropped: the event queue was full (poll more often)",
             (unsigned long long)c->q_dropped);
    c->q_dropped = 0;
    ttb__mutex_unlock(c->lock);
    return 1;
  }
  if (c->q_len == 0) {
    ttb__mutex_unlock(c->lock);
    return 0;
  }
  *out = c->queue[c->q_head];
  c->q_head = (c->q_head + 1) % EVENT_QUEUE;
  c->q_len--;
  ttb__mutex_unlock(c->lock);
  ttb__mixer_collect(c->mixer); /* a UI timer: a fine place to free finished clips */
  return 1;
}

size_t ttb_client_recent_events(const ttb_client *c, ttb_event *out, size_t max)
{
  if (!c || !out)
    return 0;
  ttb__mutex_lock(c->lock);
  size_t n = c->r_len < max ? c->r_len : max;
  for (size_t i = 0; i < n; i++)
    out[i] = c->recent[(c->r_head + c->r_len - 1 - i) % RECENT_LOG];
  ttb__mutex_unlock(c->lock);
  return n;
}

/* ------------------------------------------------------------ audio */

size_t ttb_client_render(ttb_client *c, int16_t *pcm, size_t frames)
{
  if (!c || !pcm)
    return 0;
  return ttb__mixer_render(c->mixer, pcm, frames);
}

uint64_t ttb__client_speech_asked(ttb_client *c)
{
  ttb__mutex_lock(c->lock);
  uint64_t n = c->speech_asked;
  ttb__mutex_unlock(c->lock);
  return n;
}

size_t ttb__client_voice_starts(ttb_client *c, ttb__voice_start *out, size_t max)
{
  if (!c)
    return 0;
  return ttb__mixer_voice_starts(c->mixer, out, max);
}
