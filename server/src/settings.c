/* Channel settings: the text rules, the cache and GET/PUT /me/settings (see settings.h). */
#include "settings.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "reply.h"
#include "dbq.h"
#include "usersounds.h"
#include "tts.h"
#include "ttboost/v1/auth.pbc-json.h"
#include "ttboost/v1/settings.pbc-json.h"

/* ------------------------------------------------------------ cache */

#define BUCKETS 1024
#define GIFT_VALUES 1024
#define TTB_WEBCAST_GIFT_NAME_MAX 129 /* a gift name's bytes (webcast.h, the schema's 128) */

typedef struct entry {
  struct entry *next;
  char user[TTB_STORE_UUID_MAX];
  Ttboost__V1__ChannelSettings *cs; /* protobuf-c heap message */
} entry;

typedef struct cooldown {
  uint64_t key; /* 0: free */
  uint64_t at_ms;
} cooldown;

typedef struct gift_value {
  char channel[TTB_STORE_UUID_MAX];
  char name[TTB_WEBCAST_GIFT_NAME_MAX];
  uint32_t diamonds;
} gift_value;

struct ttb_settings {
  ttb_svc *svc;
  ttb_metrics *m;
  char public_url[256];
  char data_dir[512]; /* the streamer's own sounds are under it (usersounds.h) */
  entry *buckets[BUCKETS];
  cooldown *cool;
  gift_value gifts[GIFT_VALUES];
  size_t ngifts, gift_next;
  uint64_t loads; /* a reload in flight makes the previous one's answer stale */
  bool closing;
};

static size_t bucket_of(const char *user)
{
  uint64_t h = 1469598103934665603ull;
  for (const char *p = user; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return (size_t)(h % BUCKETS);
}

static entry *find(ttb_settings *s, const char *user)
{
  for (entry *e = s->buckets[bucket_of(user)]; e; e = e->next)
    if (strcmp(e->user, user) == 0)
      return e;
  return NULL;
}

/* Puts (or with cs NULL removes) user's document; takes cs. */
static void cache_set(ttb_settings *s, const char *user, Ttboost__V1__ChannelSettings *cs)
{
  entry **pp = &s->buckets[bucket_of(user)];
  for (; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->user, user) == 0)
      break;
  if (*pp) {
    if ((*pp)->cs)
      ttboost__v1__channel_settings__free_unpacked((*pp)->cs, NULL);
    if (cs == NULL) {
      entry *e = *pp;
      *pp = e->next;
      free(e);
    } else {
      (*pp)->cs = cs;
    }
    return;
  }
  if (cs == NULL)
    return;
  entry *e = calloc(1, sizeof *e);
  if (e == NULL) {
    ttboost__v1__channel_settings__free_unpacked(cs, NULL);
    fprintf(stderr, "ttboost-server: settings: out of memory (a channel keeps its defaults)\n");
    return;
  }
  snprintf(e->user, sizeof e->user, "%s", user);
  e->cs = cs;
  e->next = s->buckets[bucket_of(user)];
  s->buckets[bucket_of(user)] = e;
}

static void cache_clear(ttb_settings *s)
{
  for (size_t i = 0; i < BUCKETS; i++) {
    entry *e = s->buckets[i];
    while (e) {
      entry *n = e->next;
      if (e->cs)
        ttboost__v1__channel_settings__free_unpacked(e->cs, NULL);
      free(e);
      e = n;
    }
    s->buckets[i] = NULL;
  }
}

const Ttboost__V1__ChannelSettings *ttb_settings_of(ttb_settings *s, const char *channel)
{
  entry *e = s ? find(s, channel) : NULL;
  return e ? e->cs : NULL;
}

/* The load of every document: collected on the database thread, swapped in
 * on the loop. */
typedef struct loaded {
  struct loaded *next;
  char user[TTB_STORE_UUID_MAX];
  Ttboost__V1__ChannelSettings *cs;
} loaded;

typedef struct load_job {
  ttb_settings *s;
  uint64_t gen;
  loaded *head;
  bool oom;
} load_job;

static int load_one(void *arg, const char *user_id, const uint8_t *doc, size_t len,
                    int64_t updated_ms)
{
  load_job *j = arg;
  Ttboost__V1__ChannelSettings *cs = ttboost__v1__channel_settings__unpack(NULL, len, doc);
  if (cs == NULL) {
    fprintf(stderr, "ttboost-server: settings: the stored document of a channel is malformed;"
                    " it keeps the defaults\n");
    return 0;
  }
  cs->updated_ms = updated_ms;
  loaded *l = calloc(1, sizeof *l);
  if (l == NULL) {
    ttboost__v1__channel_settings__free_unpacked(cs, NULL);
    j->oom = true;
    return 1;
  }
  snprintf(l->user, sizeof l->user, "%s", user_id);
  l->cs = cs;
  l->next = j->head;
  j->head = l;
  return 0;
}

static ttb_store_status run_load(ttb_store *st, void *arg)
{
  load_job *j = arg;
  char err[256];
  if (ttb_store_settings_list(st, load_one, j, err, sizeof err) != 0) {
    fprintf(stderr, "ttboost-server: settings: not loaded: %s\n", err);
    return TTB_STORE_ERROR;
  }
  return j->oom ? TTB_STORE_ERROR : TTB_STORE_OK;
}

static void on_loaded(void *arg, ttb_store_status st)
{
  load_job *j = arg;
  ttb_settings *s = j->s;
  if (st == TTB_STORE_OK && !s->closing && j->gen == s->loads) {
    cache_clear(s);
    for (loaded *l = j->head; l; l = l->next) {
      cache_set(s, l->user, l->cs);
      l->cs = NULL;
    }
  }
  for (loaded *l = j->head; l;) {
    loaded *n = l->next;
    if (l->cs)
      ttboost__v1__channel_settings__free_unpacked(l->cs, NULL);
    free(l);
    l = n;
  }
  free(j);
}

void ttb_settings_reload(ttb_settings *s)
{
  load_job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return;
  j->s = s;
  j->gen = ++s->loads;
  ttb_dbq_call(ttb_svc_dbq(s->svc), run_load, on_loaded, j);
}

ttb_settings *ttb_settings_new(ttb_svc *svc, const char *public_url, const char *data_dir,
                               ttb_metrics *metrics)
{
  ttb_settings *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->cool = calloc(TTB_SETTINGS_COOLDOWN_SLOTS, sizeof *s->cool);
  if (s->cool == NULL) {
    free(s);
    return NULL;
  }
  s->svc = svc;
  s->m = metrics;
  snprintf(s->public_url, sizeof s->public_url, "%s", public_url ? public_url : "");
  snprintf(s->data_dir, sizeof s->data_dir, "%s", data_dir ? data_dir : ".");
  ttb_settings_reload(s);
  return s;
}

void ttb_settings_free(ttb_settings *s)
{
  if (s == NULL)
    return;
  cache_clear(s);
  free(s->cool);
  free(s);
}

/* ------------------------------------------------------------ events */

static uint64_t cool_key(const char *channel, const char *user)
{
  uint64_t k = 0;
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, sizeof k);
  crypto_generichash_update(&h, (const uint8_t *)channel, strlen(channel) + 1);
  crypto_generichash_update(&h, (const uint8_t *)user, strlen(user));
  crypto_generichash_final(&h, (uint8_t *)&k, sizeof k);
  return k ? k : 1;
}

/* true when user may speak now (and records it); false within the cooldown. */
static bool cooldown_take(ttb_settings *s, const char *channel, const char *user, uint32_t secs,
                          uint64_t now_ms)
{
  uint64_t key = cool_key(channel, user);
  cooldown *slot = NULL, *oldest = NULL;
  for (size_t k = 0; k < 8; k++) {
    cooldown *c = &s->cool[(key + k) % TTB_SETTINGS_COOLDOWN_SLOTS];
    if (c->key == key) {
      slot = c;
      break;
    }
    if (oldest == NULL || c->key == 0 || (oldest->key != 0 && c->at_ms < oldest->at_ms))
      oldest = c;
  }
  if (slot && now_ms < slot->at_ms + (uint64_t)secs * 1000u)
    return false;
  if (slot == NULL)
    slot = oldest;
  slot->key = key;
  slot->at_ms = now_ms;
  return true;
}

ttb_unspoken ttb_settings_chat(ttb_settings *s, const char *channel, bool read_user_default,
                               const char *user, const char *message, uint64_t now_ms, char *text,
                               size_t cap, char voice[33], uint32_t *rate, uint32_t *pitch,
                               uint32_t *backlog_s)
{
  voice[0] = '\0';
  *rate = *pitch = *backlog_s = 0;
  const Ttboost__V1__ChannelSettings *cs = ttb_settings_of(s, channel);
  ttb_unspoken why = ttb_settings_speech(cs, read_user_default, user, message, text, cap);
  if (why == TTB_SPOKEN && cs && cs->pacing && cs->pacing->cooldown_seconds > 0 &&
      !cooldown_take(s, channel, user, cs->pacing->cooldown_seconds, now_ms))
    why = TTB_UNSPOKEN_COOLDOWN;
  if (why != TTB_SPOKEN) {
    text[0] = '\0';
    if (s && s->m)
      s->m->chats_unspoken[why]++;
    return why;
  }
  if (cs && cs->pacing)
    *backlog_s = cs->pacing->max_backlog_seconds;
  if (cs && cs->voice) {
    *rate = cs->voice->rate;
    *pitch = cs->voice->pitch;
  }
  if (cs && cs->voice && cs->voice->n_voices > 0) {
    const char *lang = ttb_tts_voice_for(text);
    for (size_t i = 0; i < cs->voice->n_voices; i++)
      if (strcasecmp(cs->voice->voices[i]->language, lang) == 0) {
        snprintf(voice, 33, "%s", cs->voice->voices[i]->voice);
        break;
      }
  }
  return TTB_SPOKEN;
}

static gift_value *gift_find(ttb_settings *s, const char *channel, const char *gift_name)
{
  for (size_t i = 0; i < s->ngifts; i++)
    if (strcasecmp(s->gifts[i].name, gift_name) == 0 && strcmp(s->gifts[i].channel, channel) == 0)
      return &s->gifts[i];
  return NULL;
}

void ttb_settings_gift_value(ttb_settings *s, const char *channel, const char *gift_name,
                             uint32_t diamonds)
{
  if (s == NULL || diamonds == 0 || gift_name[0] == '\0' ||
      strlen(gift_name) >= TTB_WEBCAST_GIFT_NAME_MAX || strlen(channel) >= TTB_STORE_UUID_MAX)
    return;
  /* only channels with a minimum need it */
  const Ttboost__V1__ChannelSettings *cs = ttb_settings_of(s, channel);
  if (cs == NULL || cs->gifts == NULL || cs->gifts->min_diamonds == 0)
    return;
  gift_value *g = gift_find(s, channel, gift_name);
  if (g == NULL) {
    g = &s->gifts[s->gift_next];
    s->gift_next = (s->gift_next + 1) % GIFT_VALUES; /* bounded: the oldest go */
    if (s->ngifts < GIFT_VALUES)
      s->ngifts++;
    snprintf(g->channel, sizeof g->channel, "%s", channel);
    snprintf(g->name, sizeof g->name, "%s", gift_name);
  }
  g->diamonds = diamonds;
}

/* The file of sound `name` exists: a user sound ("u-<id>",
 * <data_dir>/sounds/u-<id>.ogg) or a sound of the catalogue. */
static bool sound_file_exists(const ttb_settings *s, const char *name)
{
  char path[1024];
  if (!ttb_usounds_file(s->data_dir, name, path, sizeof path))
    snprintf(path, sizeof path, "%s/%s.ogg", ttb_svc_sounds_dir(s->svc), name);
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static uint32_t gift_diamonds(ttb_settings *s, const char *channel, const char *gift_name)
{
  gift_value *g = gift_find(s, channel, gift_name);
  return g ? g->diamonds : 0;
}

void ttb_settings_gift_url(ttb_settings *s, const char *channel, const char *gift_name,
                           const char *default_url, char *out, size_t cap)
{
  snprintf(out, cap, "%s", default_url);
  const Ttboost__V1__ChannelSettings *cs = ttb_settings_of(s, channel);
  if (cs == NULL || cs->gifts == NULL)
    return;
  const Ttboost__V1__GiftSettings *g = cs->gifts;
  if (g->min_diamonds > 0) {
    uint32_t d = gift_diamonds(s, channel, gift_name);
    if (d > 0 && d < g->min_diamonds) {
      out[0] = '\0';
      if (s->m)
        s->m->gifts_silenced++;
      return;
    }
  }
  for (size_t i = 0; i < g->n_sounds; i++) {
    const Ttboost__V1__GiftSound *gs = g->sounds[i];
    if (strcasecmp(gs->gift_name, gift_name) != 0)
      continue;
    const char *snd = gs->sound ? gs->sound : "";
    if (snd[0] == '\0') {
      out[0] = '\0';
      return;
    }
    if (sound_file_exists(s, snd))
      snprintf(out, cap, "%s/sounds/%s.ogg", s->public_url, snd);
    return; /* a deleted sound: the normal mapping */
  }
}

/* ------------------------------------------------------------ HTTP */

/* One request waiting for the database thread; the guard in the request's
 * pool detaches it when the client goes away. */
typedef struct op op;
typedef struct guard {
  op *o;
} guard;

struct op {
  ttb_settings *s;
  h2o_req_t *req; /* NULL once the client is gone */
  guard *g;
  bool put;
  char token[128];
  char user[TTB_STORE_UUID_MAX];
  Ttboost__V1__ChannelSettings *cs; /* PUT: the new document; GET: the one read */
  uint8_t *packed;
  size_t packed_len;
  int64_t updated_ms;
  char not_owned[80]; /* PUT: a gift override naming another license's sound */
};

static void on_guard_dispose(void *p)
{
  guard *g = p;
  if (g->o)
    g->o->req = NULL;
}

static h2o_req_t *op_end(op *o)
{
  h2o_req_t *req = o->req;
  if (req && o->g)
    o->g->o = NULL;
  if (o->cs)
    ttboost__v1__channel_settings__free_unpacked(o->cs, NULL);
  free(o->packed);
  sodium_memzero(o->token, sizeof o->token);
  free(o);
  return req;
}

/* On the database thread. */
static ttb_store_status run_op(ttb_store *st, void *arg)
{
  op *o = arg;
  if (o->put) {
    /* a user sound must be the caller's own (its file exists: checked at the PUT) */
    const Ttboost__V1__GiftSettings *g = o->cs ? o->cs->gifts : NULL;
    for (size_t i = 0; g && i < g->n_sounds; i++) {
      int64_t id = 0;
      if (!g->sounds[i]->sound || !ttb_usounds_parse_id(g->sounds[i]->sound, &id))
        continue;
      ttb_store_status own = ttb_store_user_sound_owned(st, o->user, id);
      if (own == TTB_STORE_ERROR)
        return own;
      if (own != TTB_STORE_OK) {
        snprintf(o->not_owned, sizeof o->not_owned, "gifts.sounds[%zu].sound: %s", i,
                 g->sounds[i]->sound);
        return TTB_STORE_UNKNOWN;
      }
    }
    return ttb_store_settings_put(st, o->user, o->packed, o->packed_len, o->updated_ms);
  }
  uint8_t *doc = NULL;
  size_t len = 0;
  int64_t at = 0;
  ttb_store_status rc = ttb_store_settings_get(st, o->user, &doc, &len, &at);
  if (rc == TTB_STORE_OK) {
    o->cs = ttboost__v1__channel_settings__unpack(NULL, len, doc);
    free(doc);
    if (o->cs == NULL)
      return TTB_STORE_ERROR;
    o->cs->updated_ms = at;
  }
  return rc == TTB_STORE_UNKNOWN ? TTB_STORE_OK : rc; /* none stored: the defaults */
}

static void on_done(void *arg, ttb_store_status st)
{
  op *o = arg;
  ttb_settings *s = o->s;
  if (o->put && st == TTB_STORE_OK && o->cs) {
    /* the next event sees it, the client there or not */
    Ttboost__V1__ChannelSettings *copy =
        ttboost__v1__channel_settings__unpack(NULL, o->packed_len, o->packed);
    if (copy) {
      copy->updated_ms = o->updated_ms;
      cache_set(s, o->user, copy);
    }
    s->loads++; /* a load in flight read the database before this write */
  }
  h2o_req_t *req = o->req;
  if (req == NULL) {
    op_end(o);
    return;
  }
  if (st == TTB_STORE_ERROR) {
    op_end(o);
    ttb_reply_error(req, 503, "busy",
                    "The server could not reach its database right now. Try again shortly.");
    return;
  }
  if (st != TTB_STORE_OK && o->not_owned[0]) {
    char msg[200];
    snprintf(msg, sizeof msg, "The settings are not valid: %s is not one of your sounds",
             o->not_owned);
    op_end(o);
    ttb_reply_error(req, 400, "invalid", msg);
    return;
  }
  if (st != TTB_STORE_OK) {
    op_end(o);
    ttb_reply_error(req, 401, "unauthorized", TTB_REPLY_UNAUTHORIZED);
    return;
  }
  Ttboost__V1__ChannelSettings def = TTBOOST__V1__CHANNEL_SETTINGS__INIT;
  const Ttboost__V1__ChannelSettings *out = o->cs ? o->cs : &def;
  size_t n = 0;
  char *js = ttb_pbc_ttboost_v1_ChannelSettings_to_json(out, &n, NULL);
  op_end(o);
  ttb_reply_json(req, 200, js, n, false);
}

static bool voice_ok(void *arg, const char *voice)
{
  ttb_settings *s = arg;
  return ttb_tts_has_voice(ttb_svc_speech(s->svc), voice);
}

/* A gift override's sound exists: one of the streamer's own ("u-<id>": its
 * owner is checked at the PUT, run_op) or one of the catalogue's. */
static bool sound_ok(void *arg, const char *sound) { return sound_file_exists(arg, sound); }

static uint64_t wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_session(void *arg, ttb_svc_status st, const char *user, int64_t session_id)
{
  op *o = arg;
  (void)session_id;
  sodium_memzero(o->token, sizeof o->token);
  h2o_req_t *req = o->req;
  if (req == NULL || st != TTB_SVC_OK) {
    op_end(o);
    if (req)
      ttb_reply_refused(req, st == TTB_SVC_FAILED);
    return;
  }
  snprintf(o->user, sizeof o->user, "%s", user);
  ttb_dbq_call(ttb_svc_dbq(o->s->svc), run_op, on_done, o);
}

int ttb_settings_http(ttb_settings *s, h2o_req_t *req)
{
  bool put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"));
  if (!put && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
    return ttb_reply_error(req, 405, "method", "Use GET or PUT.");
  op *o = calloc(1, sizeof *o);
  if (o == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  o->s = s;
  o->req = req;
  o->put = put;
  if (!ttb_reply_bearer(req, o->token, sizeof o->token)) {
    free(o);
    return ttb_reply_error(req, 401, "unauthorized", TTB_REPLY_UNAUTHORIZED);
  }
  if (put) {
    size_t len = req->entity.base ? req->entity.len : 0;
    if (len > TTB_SETTINGS_BODY_MAX) {
      op_end(o);
      return ttb_reply_error(req, 413, "too_large",
                             "The settings document is too large (at most 32 KiB).");
    }
    ttb_json_error jerr = {0};
    o->cs = ttb_pbc_ttboost_v1_ChannelSettings_from_json(len ? req->entity.base : "{}",
                                                         len ? len : 2, NULL, &jerr);
    char msg[400];
    if (o->cs == NULL) {
      op_end(o);
      snprintf(msg, sizeof msg, "The settings are not valid: %s", jerr.msg);
      return ttb_reply_error(req, jerr.status == TTB_JSON_LIMIT ? 413 : 400, "invalid", msg);
    }
    ttb_settings_env env = {voice_ok, sound_ok, s};
    char why[300];
    if (!ttb_settings_check(o->cs, &env, why, sizeof why)) {
      op_end(o);
      snprintf(msg, sizeof msg, "The settings are not valid: %s", why);
      return ttb_reply_error(req, 400, "invalid", msg);
    }
    o->updated_ms = (int64_t)wall_ms();
    o->cs->updated_ms = 0; /* kept in its own column */
    o->packed_len = ttboost__v1__channel_settings__get_packed_size(o->cs);
    o->packed = malloc(o->packed_len ? o->packed_len : 1);
    if (o->packed == NULL) {
      op_end(o);
      return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
    }
    ttboost__v1__channel_settings__pack(o->cs, o->packed);
    o->cs->updated_ms = o->updated_ms;
  }
  o->g = h2o_mem_alloc_shared(&req->pool, sizeof *o->g, on_guard_dispose);
  o->g->o = o;
  ttb_svc_session_async(s->svc, o->token, on_session, o);
  return 0;
}
