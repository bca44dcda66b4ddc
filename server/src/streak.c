/*
 * The gift streak rule; docs/protocol/gifts.md has it in full with worked
 * examples. In short, per key (channel, user_id || user, gift_id ||
 * gift_name):
 *
 *  - repeat_count 0 without repeat_end: not a streak, published at once
 *    with max(count, 1).
 *  - Otherwise the event belongs to the key's open streak, or opens one.
 *    An open streak remembers the largest repeat_count R and the largest
 *    count C (at least 1); its total is R * C (saturating at UINT32_MAX).
 *    repeat_end closes it and publishes the total; so does `idle_ms` with
 *    no event for it (tick), or being the least recently fed open streak
 *    when max_open are open and another must open.
 *  - A closed streak is remembered for idle_ms after it closed (at most
 *    max_open of them; the oldest are forgotten first), so that late or
 *    repeated events of it are not counted again. With no open streak for
 *    the key, an event meeting a remembered streak whose largest
 *    repeat_count is T:
 *      repeat_count 1 without repeat_end  -> a new streak (TikTok restarts
 *                                            at 1);
 *      repeat_count <= T                  -> dropped (a late or duplicate
 *                                            part of the closed streak);
 *      repeat_count > T                   -> closed by repeat_end: a new
 *                                            streak; closed by idle or
 *                                            eviction (its end was lost):
 *                                            the same streak going on,
 *                                            which later publishes only
 *                                            what it adds beyond T.
 *  - A repeat_end with no open or remembered streak is published at once
 *    with max(repeat_count, 1) * C and remembered.
 */
#include "streak.h"
#include "ttboost/fnv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent {
  struct ent *hnext;       /* hash chain */
  struct ent *prev, *next; /* the open list (least recently fed first) or the closed list */
  uint64_t hash;
  uint64_t last_ms;   /* open: last event; closed: when it closed */
  uint64_t published; /* gifts published for this streak so far */
  uint32_t max_rc;    /* largest repeat_count seen */
  uint32_t mult;      /* largest count seen, at least 1 */
  bool open;
  bool ended; /* closed by repeat_end (not by idle or eviction) */
  size_t klen;
  char *channel, *user, *gift; /* the first event's, in data */
  char data[];                 /* key, then channel, user, gift, each NUL-terminated */
};

struct list {
  struct ent *head, *tail;
  size_t n;
};

struct ttb_streaks {
  uint32_t idle_ms;
  size_t max_open;
  uint64_t clock; /* the largest now_ms seen, so lists stay in time order */
  uint64_t gen;   /* moves with every change (ttb_streaks_generation) */
  struct ent **buckets;
  size_t nbuckets, nents;
  struct list open, closed;
};

static void list_remove(struct list *l, struct ent *e)
{
  if (e->prev)
    e->prev->next = e->next;
  else
    l->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    l->tail = e->prev;
  e->prev = e->next = NULL;
  l->n--;
}

static void list_append(struct list *l, struct ent *e)
{
  e->next = NULL;
  e->prev = l->tail;
  if (l->tail)
    l->tail->next = e;
  else
    l->head = e;
  l->tail = e;
  l->n++;
}

ttb_streaks *ttb_streaks_create(uint32_t idle_ms, size_t max_open)
{
  ttb_streaks *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->idle_ms = idle_ms;
  s->max_open = max_open ? max_open : 1;
  s->nbuckets = 64;
  s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
  if (!s->buckets) {
    free(s);
    return NULL;
  }
  return s;
}

void ttb_streaks_free(ttb_streaks *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->nbuckets; i++)
    for (struct ent *e = s->buckets[i], *nx; e; e = nx) {
      nx = e->hnext;
      free(e);
    }
  free(s->buckets);
  free(s);
}

size_t ttb_streaks_open(const ttb_streaks *s) { return s ? s->open.n : 0; }

/* ---- Keys ---- */

/* channel NUL user-key NUL ('i' gift id | 'n' gift name): '\0' cannot occur
 * inside a C string, so distinct triples give distinct keys. */
struct key {
  const char *channel, *ukey;
  char gkind;
  const char *gkey;
  char idbuf[24];
  size_t len;
  uint64_t hash;
};

static void fnv(uint64_t *h, const void *p, size_t n) { *h = ttb_fnv1a64(*h, p, n); }

static void key_make(struct key *k, const char *channel, const char *user, const char *user_id,
                     const char *gift_name, uint64_t gift_id)
{
  k->channel = channel;
  k->ukey = user_id[0] ? user_id : user;
  if (gift_id) {
    k->gkind = 'i';
    snprintf(k->idbuf, sizeof k->idbuf, "%llu", (unsigned long long)gift_id);
    k->gkey = k->idbuf;
  } else {
    k->gkind = 'n';
    k->gkey = gift_name;
  }
  size_t a = strlen(k->channel), b = strlen(k->ukey), c = strlen(k->gkey);
  k->len = a + 1 + b + 1 + 1 + c;
  uint64_t h = TTB_FNV64_INIT;
  fnv(&h, k->channel, a + 1);
  fnv(&h, k->ukey, b + 1);
  fnv(&h, &k->gkind, 1);
  fnv(&h, k->gkey, c);
  k->hash = h;
}

static void key_write(const struct key *k, char *out)
{
  size_t a = strlen(k->channel), b = strlen(k->ukey), c = strlen(k->gkey);
  memcpy(out, k->channel, a + 1);
  out += a + 1;
  memcpy(out, k->ukey, b + 1);
  out += b + 1;
  *out++ = k->gkind;
  memcpy(out, k->gkey, c);
}

static bool key_eq(const struct key *k, const struct ent *e)
{
  if (e->hash != k->hash || e->klen != k->len)
    return false;
  const char *p = e->data;
  size_t a = strlen(k->channel), b = strlen(k->ukey), c = strlen(k->gkey);
  if (memcmp(p, k->channel, a + 1) != 0)
    return false;
  p += a + 1;
  if (memcmp(p, k->ukey, b + 1) != 0)
    return false;
  p += b + 1;
  return *p == k->gkind && memcmp(p + 1, k->gkey, c) == 0;
}

static struct ent *find(const ttb_streaks *s, const struct key *k)
{
  for (struct ent *e = s->buckets[k->hash & (s->nbuckets - 1)]; e; e = e->hnext)
    if (key_eq(k, e))
      return e;
  return NULL;
}

static void grow(ttb_streaks *s)
{
  size_t nb = s->nbuckets * 2;
  struct ent **b = calloc(nb, sizeof *b);
  if (!b)
    return; /* longer chains, still correct */
  for (size_t i = 0; i < s->nbuckets; i++)
    for (struct ent *e = s->buckets[i], *nx; e; e = nx) {
      nx = e->hnext;
      e->hnext = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
    }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = nb;
}

static struct ent *ent_new(ttb_streaks *s, const struct key *k, const char *channel,
                           const char *user, const char *gift_name)
{
  size_t a = strlen(channel) + 1, b = strlen(user) + 1, c = strlen(gift_name) + 1;
  struct ent *e = calloc(1, sizeof *e + k->len + a + b + c);
  if (!e)
    return NULL;
  e->hash = k->hash;
  e->klen = k->len;
  key_write(k, e->data);
  e->channel = e->data + k->len;
  e->user = e->channel + a;
  e->gift = e->user + b;
  memcpy(e->channel, channel, a);
  memcpy(e->user, user, b);
  memcpy(e->gift, gift_name, c);
  if (s->nents >= s->nbuckets)
    grow(s);
  struct ent **slot = &s->buckets[e->hash & (s->nbuckets - 1)];
  e->hnext = *slot;
  *slot = e;
  s->nents++;
  return e;
}

/* Unlinks e from the table and its list and frees it. */
static void ent_drop(ttb_streaks *s, struct ent *e)
{
  for (struct ent **p = &s->buckets[e->hash & (s->nbuckets - 1)]; *p; p = &(*p)->hnext)
    if (*p == e) {
      *p = e->hnext;
      break;
    }
  list_remove(e->open ? &s->open : &s->closed, e);
  s->nents--;
  s->gen++;
  free(e);
}

/* ---- The rule ---- */

static uint32_t total_of(const struct ent *e)
{
  uint64_t t = (uint64_t)(e->max_rc ? e->max_rc : 1) * e->mult;
  return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Closes the streak e (open, or closed and being settled by a repeat_end)
 * and publishes what it adds beyond what was published before. e stays
 * remembered (closed). */
static void ent_close(ttb_streaks *s, struct ent *e, bool ended, ttb_streak_cb cb, void *arg)
{
  uint32_t total = total_of(e);
  uint64_t add = total > e->published ? total - e->published : 0;
  s->gen++;
  list_remove(e->open ? &s->open : &s->closed, e);
  e->open = false;
  e->ended = ended;
  e->published = total > e->published ? total : e->published;
  e->last_ms = s->clock;
  list_append(&s->closed, e);
  if (add && cb)
    cb(arg, e->channel, e->user, e->gift, (uint32_t)add);
}

/* Opens the closed e, making room under max_open first. */
static void ent_open(ttb_streaks *s, struct ent *e, ttb_streak_cb cb, void *arg)
{
  while (s->open.n >= s->max_open && s->open.head)
    ent_close(s, s->open.head, false, cb, arg);
  list_remove(&s->closed, e);
  e->open = true;
  e->last_ms = s->clock;
  list_append(&s->open, e);
}

/* Forgets closed streaks older than idle_ms, and the oldest beyond max_open. */
static void forget(ttb_streaks *s)
{
  while (s->closed.head &&
         (s->clock - s->closed.head->last_ms >= s->idle_ms || s->closed.n > s->max_open))
    ent_drop(s, s->closed.head);
}

static void advance(ttb_streaks *s, uint64_t now_ms)
{
  if (now_ms > s->clock)
    s->clock = now_ms;
}

void ttb_streaks_feed(ttb_streaks *s, uint64_t now_ms, const char *channel, const char *user,
                      const char *user_id, const char *gift_name, uint64_t gift_id, uint32_t count,
                      uint32_t repeat_count, bool repeat_end, ttb_streak_cb cb, void *arg)
{
  if (!channel)
    channel = "";
  if (!user)
    user = "";
  if (!user_id)
    user_id = "";
  if (!gift_name)
    gift_name = "";
  uint32_t mult = count > 1 ? count : 1;
  if (repeat_count == 0 && !repeat_end) {
    if (cb)
      cb(arg, channel, user, gift_name, mult);
    return;
  }
  if (!s) { /* nothing to track with: the end alone counts */
    if (repeat_end && cb) {
      uint64_t t = (uint64_t)(repeat_count ? repeat_count : 1) * mult;
      cb(arg, channel, user, gift_name, t > UINT32_MAX ? UINT32_MAX : (uint32_t)t);
    }
    return;
  }
  advance(s, now_ms);
  forget(s);
  s->gen++;

  struct key k;
  key_make(&k, channel, user, user_id, gift_name, gift_id);
  struct ent *e = find(s, &k);

  /* An open streak idle for idle_ms ended before this event (no tick
   * came between). */
  if (e && e->open && s->clock - e->last_ms >= s->idle_ms)
    ent_close(s, e, false, cb, arg);

  if (e && e->open) {
    if (repeat_count > e->max_rc)
      e->max_rc = repeat_count;
    if (mult > e->mult)
      e->mult = mult;
    e->last_ms = s->clock;
    list_remove(&s->open, e);
    list_append(&s->open, e);
    if (repeat_end)
      ent_close(s, e, true, cb, arg);
    forget(s);
    return;
  }

  if (e) { /* closed, remembered */
    uint32_t t = e->max_rc;
    bool restart = !repeat_end && repeat_count == 1;
    if (!restart && repeat_count <= t)
      return; /* late or repeated: already counted */
    if (restart || e->ended) {
      e->published = 0;
      e->max_rc = 0;
      e->mult = 1;
    } /* else: the flushed streak goes on; `published` stays */
  } else {
    e = ent_new(s, &k, channel, user, gift_name);
    if (!e) { /* no memory: the end alone counts */
      if (repeat_end && cb) {
        uint64_t t = (uint64_t)(repeat_count ? repeat_count : 1) * mult;
        cb(arg, channel, user, gift_name, t > UINT32_MAX ? UINT32_MAX : (uint32_t)t);
      }
      return;
    }
    e->mult = 1;
    e->last_ms = s->clock;
    list_append(&s->closed, e); /* as if remembered, until opened or settled */
  }
  if (repeat_count > e->max_rc)
    e->max_rc = repeat_count;
  if (mult > e->mult)
    e->mult = mult;
  if (repeat_end) /* a streak that ends as it is seen: out at once, never opened */
    ent_close(s, e, true, cb, arg);
  else
    ent_open(s, e, cb, arg);
  forget(s);
}

void ttb_streaks_tick(ttb_streaks *s, uint64_t now_ms, ttb_streak_cb cb, void *arg)
{
  if (!s)
    return;
  advance(s, now_ms);
  /* The open list is in last-event order, which is time order (clock). */
  while (s->open.head && s->clock - s->open.head->last_ms >= s->idle_ms)
    ent_close(s, s->open.head, false, cb, arg);
  forget(s);
}

/* ---- Snapshots ---- */

uint64_t ttb_streaks_generation(const ttb_streaks *s) { return s ? s->gen : 0; }

static void put_le(uint8_t **p, uint64_t v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    *(*p)++ = (uint8_t)(v >> (8 * i));
}

static void put_blob(uint8_t **p, const void *d, size_t n)
{
  put_le(p, n, 4);
  memcpy(*p, d, n);
  *p += n;
}

/* Per streak: open, ended, age, published, max_rc, mult, then the key, the
 * channel, the user and the gift, each as u32 length + bytes. */
int ttb_streaks_save(const ttb_streaks *s, uint64_t now_ms, uint8_t **out, size_t *len)
{
  *out = NULL;
  *len = 0;
  if (!s)
    return 0;
  uint64_t clock = now_ms > s->clock ? now_ms : s->clock;
  size_t need = 4;
  const struct list *lists[2] = {&s->closed, &s->open};
  for (int l = 0; l < 2; l++)
    for (const struct ent *e = lists[l]->head; e; e = e->next)
      need +=
          2 + 8 + 8 + 4 + 4 + 16 + e->klen + strlen(e->channel) + strlen(e->user) + strlen(e->gift);
  uint8_t *b = malloc(need), *p = b;
  if (!b)
    return -1;
  put_le(&p, s->closed.n + s->open.n, 4);
  for (int l = 0; l < 2; l++)
    for (const struct ent *e = lists[l]->head; e; e = e->next) {
      *p++ = e->open;
      *p++ = e->ended;
      put_le(&p, clock >= e->last_ms ? clock - e->last_ms : 0, 8);
      put_le(&p, e->published, 8);
      put_le(&p, e->max_rc, 4);
      put_le(&p, e->mult, 4);
      put_blob(&p, e->data, e->klen);
      put_blob(&p, e->channel, strlen(e->channel));
      put_blob(&p, e->user, strlen(e->user));
      put_blob(&p, e->gift, strlen(e->gift));
    }
  *out = b;
  *len = (size_t)(p - b);
  return 0;
}

struct rdr {
  const uint8_t *p, *end;
  bool bad;
};

static uint64_t get_le(struct rdr *r, int bytes)
{
  if (r->end - r->p < bytes) {
    r->bad = true;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)r->p[i] << (8 * i);
  r->p += bytes;
  return v;
}

static const uint8_t *get_blob(struct rdr *r, size_t *n)
{
  *n = (size_t)get_le(r, 4);
  if (r->bad || (size_t)(r->end - r->p) < *n) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *d = r->p;
  r->p += *n;
  return d;
}

int ttb_streaks_load(ttb_streaks *s, uint64_t now_ms, const uint8_t *data, size_t len)
{
  if (!s)
    return -1;
  while (s->open.head)
    ent_drop(s, s->open.head);
  while (s->closed.head)
    ent_drop(s, s->closed.head);
  advance(s, now_ms);
  s->gen++;
  struct rdr r = {data, data + len, false};
  uint64_t n = get_le(&r, 4);
  for (uint64_t i = 0; i < n && !r.bad; i++) {
    bool open = get_le(&r, 1) != 0, ended = get_le(&r, 1) != 0;
    uint64_t age = get_le(&r, 8), published = get_le(&r, 8);
    uint32_t max_rc = (uint32_t)get_le(&r, 4), mult = (uint32_t)get_le(&r, 4);
    size_t kl, cl, ul, gl;
    const uint8_t *k = get_blob(&r, &kl), *c = get_blob(&r, &cl), *u = get_blob(&r, &ul),
                  *g = get_blob(&r, &gl);
    if (r.bad || kl == 0 || memchr(c, 0, cl) || memchr(u, 0, ul) || memchr(g, 0, gl)) {
      r.bad = true;
      break;
    }
    struct ent *e = calloc(1, sizeof *e + kl + cl + ul + gl + 3);
    if (!e)
      return -1;
    e->klen = kl;
    memcpy(e->data, k, kl);
    uint64_t h = TTB_FNV64_INIT;
    fnv(&h, e->data, kl);
    e->hash = h;
    e->channel = e->data + kl;
    e->user = e->channel + cl + 1;
    e->gift = e->user + ul + 1;
    memcpy(e->channel, c, cl);
    memcpy(e->user, u, ul);
    memcpy(e->gift, g, gl);
    e->open = open;
    e->ended = ended;
    e->last_ms = age <= s->clock ? s->clock - age : 0;
    e->published = published;
    e->max_rc = max_rc;
    e->mult = mult ? mult : 1;
    if (s->nents >= s->nbuckets)
      grow(s);
    struct ent **slot = &s->buckets[e->hash & (s->nbuckets - 1)];
    e->hnext = *slot;
    *slot = e;
    s->nents++;
    list_append(open ? &s->open : &s->closed, e);
  }
  return r.bad ? -1 : 0;
}
