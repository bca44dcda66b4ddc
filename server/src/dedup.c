/*
 * The ids each channel saw lately (dedup.h). Per channel: a ring of
 * {hash, time, position} in arrival order (so expiry and eviction take from
 * the front), and an open-addressing index of ring positions that is rebuilt
 * from the live entries when stale slots fill it. Ids are hashed with a key
 * drawn at start (BLAKE2b-128), so no one can aim collisions at it.
 */
#include "dedup.h"
#include "ttboost/fnv.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024
#define RING_MIN 16

typedef struct entry {
  uint8_t h[16];
  uint64_t t;   /* when it was seen (ms) */
  uint64_t pos; /* its absolute position: live when head <= pos < tail */
} entry;

typedef struct chan {
  struct chan *next;
  char *name;
  entry *ring;
  uint32_t cap;        /* ring slots, a power of two */
  uint64_t head, tail; /* live entries: positions [head, tail) */
  uint64_t *index;     /* pos + 1 of an entry; 0 = empty */
  uint32_t icap;       /* a power of two */
  uint32_t iused;      /* non-empty index slots, stale ones included */
} chan;

struct ttb_dedup {
  uint64_t window_ms;
  uint32_t max;
  size_t count;
  uint8_t key[crypto_generichash_KEYBYTES];
  chan *buckets[BUCKETS];
};

ttb_dedup *ttb_dedup_create(uint64_t window_ms, uint32_t max_per_channel)
{
  if (sodium_init() < 0)
    return NULL;
  ttb_dedup *d = calloc(1, sizeof *d);
  if (d == NULL)
    return NULL;
  d->window_ms = window_ms;
  d->max = max_per_channel < RING_MIN ? RING_MIN : max_per_channel;
  randombytes_buf(d->key, sizeof d->key);
  return d;
}

static void chan_free(chan *c)
{
  free(c->name);
  free(c->ring);
  free(c->index);
  free(c);
}

void ttb_dedup_free(ttb_dedup *d)
{
  if (d == NULL)
    return;
  for (size_t b = 0; b < BUCKETS; b++)
    for (chan *c = d->buckets[b], *n; c != NULL; c = n) {
      n = c->next;
      chan_free(c);
    }
  sodium_memzero(d->key, sizeof d->key);
  free(d);
}

static uint32_t fnv(const char *s) { return ttb_fnv1a32_str(s); }

static chan *find(ttb_dedup *d, const char *name, chan ***link)
{
  chan **l = &d->buckets[fnv(name) % BUCKETS];
  for (; *l != NULL; l = &(*l)->next)
    if (strcmp((*l)->name, name) == 0)
      break;
  if (link)
    *link = l;
  return *l;
}

static void hash_id(const ttb_dedup *d, const char *id, uint8_t h[16])
{
  crypto_generichash(h, 16, (const uint8_t *)id, strlen(id), d->key, sizeof d->key);
}

static uint64_t slot_of(const uint8_t h[16])
{
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return v;
}

/* The live entry with this hash, or NULL. */
static entry *lookup(const chan *c, const uint8_t h[16])
{
  if (c->icap == 0)
    return NULL;
  uint32_t mask = c->icap - 1;
  for (uint64_t i = slot_of(h) & mask;; i = (i + 1) & mask) {
    uint64_t v = c->index[i];
    if (v == 0)
      return NULL;
    uint64_t p = v - 1;
    if (p >= c->head && p < c->tail) {
      entry *e = &c->ring[p & (c->cap - 1)];
      if (e->pos == p && memcmp(e->h, h, 16) == 0)
        return e;
    }
  }
}

static void index_put(chan *c, const entry *e)
{
  uint32_t mask = c->icap - 1;
  uint64_t i = slot_of(e->h) & mask;
  while (c->index[i] != 0)
    i = (i + 1) & mask;
  c->index[i] = e->pos + 1;
  c->iused++;
}

/* Rebuilds the index from the live entries, at least 4 slots per entry (one
 * more to come). -1 on no memory (the old index stays). */
static int reindex(chan *c)
{
  uint64_t live = c->tail - c->head + 1;
  uint32_t icap = 64;
  while ((uint64_t)icap < 4 * live)
    icap *= 2;
  uint64_t *idx = calloc(icap, sizeof *idx);
  if (idx == NULL)
    return -1;
  free(c->index);
  c->index = idx;
  c->icap = icap;
  c->iused = 0;
  for (uint64_t p = c->head; p < c->tail; p++)
    index_put(c, &c->ring[p & (c->cap - 1)]);
  return 0;
}

/* Drops the entries older than the window. */
static void expire(ttb_dedup *d, chan *c, uint64_t now_ms)
{
  while (c->head < c->tail) {
    const entry *e = &c->ring[c->head & (c->cap - 1)];
    if (e->t + d->window_ms > now_ms)
      break;
    c->head++;
    d->count--;
  }
}

bool ttb_dedup_seen(ttb_dedup *d, const char *channel, const char *id, uint64_t now_ms)
{
  if (d == NULL || d->window_ms == 0 || id == NULL || id[0] == '\0')
    return false;
  chan *c = find(d, channel, NULL);
  if (c == NULL)
    return false;
  uint8_t h[16];
  hash_id(d, id, h);
  const entry *e = lookup(c, h);
  return e != NULL && e->t + d->window_ms > now_ms;
}

/* Doubles the ring while it holds fewer than max slots, keeping every
 * entry at pos & (cap-1). */
static int grow(chan *c, uint32_t max)
{
  if (c->cap >= max)
    return -1;
  uint32_t cap = c->cap ? c->cap * 2 : RING_MIN;
  entry *r = calloc(cap, sizeof *r);
  if (r == NULL)
    return -1;
  for (uint64_t p = c->head; p < c->tail; p++)
    r[p & (cap - 1)] = c->ring[p & (c->cap - 1)];
  free(c->ring);
  c->ring = r;
  c->cap = cap;
  return 0;
}

int ttb_dedup_add(ttb_dedup *d, const char *channel, const char *id, uint64_t now_ms)
{
  if (d == NULL || d->window_ms == 0 || id == NULL || id[0] == '\0')
    return 0;
  chan **link;
  chan *c = find(d, channel, &link);
  if (c == NULL) {
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->name = strdup(channel)) == NULL || grow(c, d->max) != 0) {
      if (c)
        chan_free(c);
      return -1;
    }
    *link = c;
  }
  expire(d, c, now_ms);
  uint8_t h[16];
  hash_id(d, id, h);
  entry *e = lookup(c, h);
  if (e != NULL) {
    e->t = now_ms; /* seen again: counts from now (it keeps its place) */
    return 0;
  }
  if (c->tail - c->head >= d->max || (c->tail - c->head == c->cap && grow(c, d->max) != 0)) {
    /* full at the cap (or no memory to grow): the oldest id goes */
    c->head++;
    d->count--;
  }
  if ((c->iused + 1) * 10 > (uint64_t)c->icap * 6 && reindex(c) != 0)
    return -1;
  e = &c->ring[c->tail & (c->cap - 1)];
  memcpy(e->h, h, 16);
  e->t = now_ms;
  e->pos = c->tail++;
  d->count++;
  index_put(c, e);
  return 0;
}

void ttb_dedup_sweep(ttb_dedup *d, uint64_t now_ms)
{
  if (d == NULL)
    return;
  for (size_t b = 0; b < BUCKETS; b++) {
    chan **l = &d->buckets[b];
    while (*l != NULL) {
      chan *c = *l;
      expire(d, c, now_ms);
      if (c->head == c->tail) {
        *l = c->next;
        chan_free(c);
      } else {
        l = &c->next;
      }
    }
  }
}

size_t ttb_dedup_count(const ttb_dedup *d) { return d ? d->count : 0; }
