/* The connector lease in a NATS KV bucket: see lease.h (rules: lease_rules.h). */
#include "lease.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX 512
#define VALUE_MAX 1024
#define STOP_RELEASE_MS 2000 /* ttb_lease_stop: time for releasing what is held */

/* One channel this node wants or holds. The list is shared with the
 * thread under mu; only the thread frees entries (neither wanted nor held). */
typedef struct entry {
  struct entry *next;
  ttb_lease_entry st;
  ttb_lease_value mine; /* state, room, message: this node's connector status */
  uint64_t gen;         /* bumped when mine changes */
  char seen[VALUE_MAX]; /* the other holder's value last reported */
  char key[KEY_MAX];
  char channel[];
} entry;

typedef struct event {
  struct event *next;
  ttb_lease_kind kind;
  ttb_lease_value holder;
  char channel[];
} event;

struct ttb_lease {
  natsConnection *nc;
  jsCtx *js;
  kvStore *kv; /* thread only */
  bool rebind; /* thread only: the bucket's stream is gone (NATS lost its data): make it again */
  char kv_prefix[80];    /* "$KV.<bucket>." */
  natsSubscription *sub; /* on_kv_msg, over $KV.<bucket>.> */
  bool sub_done;         /* under mu: its handler will not run again (on_sub_done) */
  char bucket[64];
  uint64_t ttl_ms;
  char node[TTB_LEASE_NODE_MAX];
  char addr[TTB_LEASE_FIELD_MAX];
  int wake_fd;
  ttb_metrics *metrics;
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu; /* entries, events, stopping */
  pthread_cond_t cv;
  bool stopping;
  entry *entries;
  event *ev_head, *ev_tail;
  /* counted by the thread, copied to metrics by ttb_lease_poll */
  atomic_uint_fast64_t held, acquired, lost, released, errors;
};

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits on cv for up to ms (mu held), or until signalled. */
static void wait_ms(ttb_lease *l, uint64_t ms)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

/* Queues an event for the loop (mu held). */
static void post(ttb_lease *l, const char *channel, ttb_lease_kind kind,
                 const ttb_lease_value *holder)
{
  size_t len = strlen(channel);
  event *ev = calloc(1, sizeof *ev + len + 1);
  if (ev == NULL) {
    fprintf(stderr, "ttboost-server: lease: %s: an event was lost (out of memory)\n", channel);
    return;
  }
  ev->kind = kind;
  if (holder)
    ev->holder = *holder;
  memcpy(ev->channel, channel, len + 1);
  bool was_empty = l->ev_head == NULL;
  if (l->ev_tail)
    l->ev_tail->next = ev;
  else
    l->ev_head = ev;
  l->ev_tail = ev;
  if (was_empty) {
    char b = 1;
    ssize_t w = write(l->wake_fd, &b, 1); /* a full pipe already wakes the loop */
    (void)w;
  }
}

/* Another node holds e's key with value v: tells the loop when it changed
 * (mu held). */
static void report_holder(ttb_lease *l, entry *e, const ttb_lease_value *v)
{
  char seen[VALUE_MAX];
  if (e->st.held || !e->st.want || strcmp(v->node, l->node) == 0)
    return;
  if (ttb_lease_value_format(v, seen, sizeof seen) >= 0 && strcmp(seen, e->seen) != 0) {
    snprintf(e->seen, sizeof e->seen, "%s", seen);
    post(l, e->channel, TTB_LEASE_HOLDER, v);
  }
}

/* A write to the bucket (core NATS sees every KV put on $KV.<bucket>.<key>),
 * on the library's thread: another holder's new status is shown at once,
 * and a released key is asked for at once instead of at the next retry. */
static void on_kv_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  (void)nc;
  (void)sub;
  ttb_lease *l = closure;
  const char *subject = natsMsg_GetSubject(msg);
  size_t plen = strlen(l->kv_prefix);
  if (subject == NULL || strncmp(subject, l->kv_prefix, plen) != 0) {
    natsMsg_Destroy(msg);
    return;
  }
  const char *key = subject + plen;
  const char *op = NULL;
  bool removed = natsMsgHeader_Get(msg, "KV-Operation", &op) == NATS_OK && op != NULL;
  ttb_lease_value v;
  int len = natsMsg_GetDataLength(msg);
  int parse = ttb_lease_value_parse(natsMsg_GetData(msg), len > 0 ? (size_t)len : 0, &v);
  pthread_mutex_lock(&l->mu);
  for (entry *e = l->entries; e; e = e->next) {
    if (strcmp(e->key, key) != 0)
      continue;
    if (removed || parse != 0) { /* deleted, purged or released: free now */
      if (e->st.want && !e->st.held) {
        e->st.next_ms = 0;
        pthread_cond_signal(&l->cv);
      }
    } else {
      report_holder(l, e, &v);
    }
    break;
  }
  pthread_mutex_unlock(&l->mu);
  natsMsg_Destroy(msg);
}

static void on_sub_done(void *closure)
{
  ttb_lease *l = closure;
  pthread_mutex_lock(&l->mu);
  l->sub_done = true;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------ the thread */

static int bind_bucket(ttb_lease *l, char *err, size_t errlen)
{
  if (natsConnection_Status(l->nc) != NATS_CONN_STATUS_CONNECTED) {
    snprintf(err, errlen, "not connected to NATS");
    return -1;
  }
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = l->bucket;
  kc.Description = "ttboost: which node runs each channel's TikTok connector";
  kc.History = 1;
  kc.TTL = (int64_t)l->ttl_ms * 1000000LL; /* the stream's max age, in ns */
  kc.StorageType = js_FileStorage;
  kvStore *kv = NULL;
  natsStatus s = js_CreateKeyValue(&kv, l->js, &kc);
  if (s != NATS_OK) /* it exists (perhaps with another TTL): use it as it is */
    s = js_KeyValue(&kv, l->js, l->bucket);
  if (s != NATS_OK) {
    const char *last = nats_GetLastError(NULL);
    snprintf(err, errlen, "bucket %s: %s%s%s", l->bucket, natsStatus_GetText(s), last ? ": " : "",
             last ? last : "");
    return -1;
  }
  kvStatus *ks = NULL;
  if (kvStore_Status(&ks, kv) == NATS_OK) {
    int64_t ttl = kvStatus_TTL(ks);
    if (ttl != kc.TTL)
      fprintf(stderr,
              "ttboost-server: lease: bucket %s has a TTL of %lld ms, not --lease-ttl-s %llu s "
              "(the first node made it; the nodes renew as their own option says)\n",
              l->bucket, (long long)(ttl / 1000000), (unsigned long long)(l->ttl_ms / 1000));
    kvStatus_Destroy(ks);
  }
  l->kv = kv;
  fprintf(stderr, "ttboost-server: lease: bucket %s ready (node %s)\n", l->bucket, l->node);
  return 0;
}

/* What the key holds now: 1 with *rev and *v (parse < 0: not one of ours,
 * e.g. released) when it has a value, 0 when it has none, -1 on error. */
static int key_now(ttb_lease *l, const char *key, uint64_t *rev, ttb_lease_value *v, int *parse)
{
  kvEntry *e = NULL;
  natsStatus s = kvStore_Get(&e, l->kv, key);
  if (s == NATS_NOT_FOUND)
    return 0;
  if (s != NATS_OK)
    return -1;
  *rev = kvEntry_Revision(e);
  const void *data = kvEntry_Value(e);
  int len = kvEntry_ValueLen(e);
  *parse = ttb_lease_value_parse(data, len > 0 ? (size_t)len : 0, v);
  kvEntry_Destroy(e);
  return 1;
}

/* Makes the KV call act for key; fills *rev (OK) and, when another
 * node holds the key, *holder with *have_holder. */
static ttb_lease_result kv_call(ttb_lease *l, ttb_lease_act act, const char *key, const char *value,
                                uint64_t last, uint64_t *rev, ttb_lease_value *holder,
                                bool *have_holder)
{
  int len = (int)strlen(value);
  ttb_lease_value v;
  int parse = -1;
  uint64_t now_rev = 0;
  *have_holder = false;
  if (act == TTB_LEASE_ACT_RELEASE) {
    /* conditional: never clears a key another node wrote meanwhile */
    return kvStore_Update(rev, l->kv, key, "", 0, last) == NATS_OK ? TTB_LEASE_R_OK
                                                                   : TTB_LEASE_R_ERROR;
  }
  natsStatus s = act == TTB_LEASE_ACT_CREATE ? kvStore_Create(rev, l->kv, key, value, len)
                                             : kvStore_Update(rev, l->kv, key, value, len, last);
  if (s == NATS_OK)
    return TTB_LEASE_R_OK;
  if (s == NATS_NO_RESPONDERS) { /* no stream takes the bucket's subjects */
    l->rebind = true;
    return TTB_LEASE_R_ERROR;
  }
  /* refused or no answer: what does the key hold? */
  int k = key_now(l, key, &now_rev, &v, &parse);
  if (k < 0)
    return TTB_LEASE_R_ERROR;
  if (act == TTB_LEASE_ACT_CREATE) {
    if (k == 0)
      return TTB_LEASE_R_ERROR; /* gone meanwhile: tried again soon */
    /* this node's own value (a write that was stored but not answered, before a
     * lost connection), released (empty) or not ours: take it if nobody wrote
     * since; the write makes it fresh (its TTL counts from now) */
    if (parse != 0 || strcmp(v.node, l->node) == 0) {
      if (kvStore_Update(rev, l->kv, key, value, len, now_rev) == NATS_OK)
        return TTB_LEASE_R_OK;
      return TTB_LEASE_R_TAKEN;
    }
    *holder = v;
    *have_holder = true;
    return TTB_LEASE_R_TAKEN;
  }
  /* a renewal */
  if (k == 0)
    return TTB_LEASE_R_TAKEN; /* expired or deleted: it may be someone else's any moment */
  if (parse == 0 && strcmp(v.node, l->node) == 0) {
    if (now_rev == last)
      return TTB_LEASE_R_ERROR; /* still ours, not renewed: try again */
    *rev = now_rev;             /* the renewal was stored but not answered */
    return TTB_LEASE_R_OK;
  }
  if (parse == 0) {
    *holder = v;
    *have_holder = true;
  }
  return TTB_LEASE_R_TAKEN;
}

static const char *act_name(ttb_lease_act a)
{
  switch (a) {
  case TTB_LEASE_ACT_CREATE:
    return "create";
  case TTB_LEASE_ACT_RENEW:
    return "renew";
  case TTB_LEASE_ACT_RELEASE:
    return "release";
  case TTB_LEASE_ACT_EXPIRE:
    return "expire";
  default:
    return "none";
  }
}

/* One due call, if any (mu held; released during the call). Returns false
 * when nothing was due, with *due_ms the time something will be. */
static bool step(ttb_lease *l, bool releasing_all, uint64_t *due_ms)
{
  uint64_t now = mono_ms(), due = UINT64_MAX;
  entry *e = NULL;
  ttb_lease_act act = TTB_LEASE_ACT_NONE;
  for (entry **pp = &l->entries; *pp;) {
    entry *x = *pp;
    if (releasing_all)
      x->st.want = false;
    if (!x->st.want && !x->st.held) {
      *pp = x->next;
      free(x);
      continue;
    }
    uint64_t d = UINT64_MAX;
    ttb_lease_act a = ttb_lease_next(&x->st, now, l->ttl_ms, &d);
    if (a != TTB_LEASE_ACT_NONE && e == NULL) {
      e = x;
      act = a;
    }
    if (d < due)
      due = d;
    pp = &x->next;
  }
  *due_ms = due;
  if (e == NULL)
    return false;
  char key[KEY_MAX], value[VALUE_MAX];
  snprintf(key, sizeof key, "%s", e->key);
  ttb_lease_value mine = e->mine;
  snprintf(mine.node, sizeof mine.node, "%s", l->node);
  snprintf(mine.addr, sizeof mine.addr, "%s", l->addr);
  if (ttb_lease_value_format(&mine, value, sizeof value) < 0)
    value[0] = '\0';
  uint64_t last = e->st.rev, gen = e->gen, rev = 0;
  ttb_lease_value holder;
  bool have_holder = false;
  ttb_lease_result r = TTB_LEASE_R_ERROR;
  uint64_t sent = mono_ms();
  if (act != TTB_LEASE_ACT_EXPIRE) {
    pthread_mutex_unlock(&l->mu);
    r = kv_call(l, act, key, value, last, &rev, &holder, &have_holder);
    pthread_mutex_lock(&l->mu);
  }
  if (r == TTB_LEASE_R_ERROR && act != TTB_LEASE_ACT_EXPIRE)
    atomic_fetch_add(&l->errors, 1);
  bool was_held = e->st.held;
  ttb_lease_event ev = ttb_lease_apply(&e->st, act, r, rev, sent, mono_ms(), l->ttl_ms);
  if (e->st.held && e->gen != gen)
    e->st.dirty = true; /* the status changed during the call: written next */
  if (!was_held && e->st.held) {
    atomic_fetch_add(&l->held, 1);
  } else if (was_held && !e->st.held) {
    if (atomic_load(&l->held) > 0)
      atomic_fetch_sub(&l->held, 1);
    memset(&e->mine, 0, sizeof e->mine); /* the next holding period says its own */
  }
  switch (ev) {
  case TTB_LEASE_EV_ACQUIRED:
    atomic_fetch_add(&l->acquired, 1);
    e->seen[0] = '\0';
    fprintf(stderr, "ttboost-server: lease: %s: acquired (revision %llu)\n", e->channel,
            (unsigned long long)e->st.rev);
    post(l, e->channel, TTB_LEASE_ACQUIRED, NULL);
    break;
  case TTB_LEASE_EV_LOST:
    atomic_fetch_add(&l->lost, 1);
    fprintf(stderr, "ttboost-server: lease: %s: lost (%s: %s)\n", e->channel, act_name(act),
            r == TTB_LEASE_R_TAKEN        ? "another node holds it"
            : act == TTB_LEASE_ACT_EXPIRE ? "not renewed in time"
                                          : "released");
    post(l, e->channel, TTB_LEASE_LOST, NULL);
    break;
  case TTB_LEASE_EV_RELEASED:
    atomic_fetch_add(&l->released, 1);
    post(l, e->channel, TTB_LEASE_LOST, NULL);
    break;
  default:
    break;
  }
  if (have_holder) {
    report_holder(l, e, &holder);
  } else if (act == TTB_LEASE_ACT_CREATE && r == TTB_LEASE_R_ERROR && e->seen[0] && !e->st.held) {
    /* NATS does not answer: who holds it (if anyone still does) is not known */
    ttb_lease_value unknown;
    memset(&unknown, 0, sizeof unknown);
    e->seen[0] = '\0';
    post(l, e->channel, TTB_LEASE_HOLDER, &unknown);
  }
  return true;
}

static void *run(void *arg)
{
  ttb_lease *l = arg;
  uint64_t logged = 0;
  pthread_mutex_lock(&l->mu);
  while (!l->stopping) {
    if (l->rebind) {
      l->rebind = false;
      kvStore_Destroy(l->kv);
      l->kv = NULL;
      fprintf(stderr, "ttboost-server: lease: bucket %s is gone: making it again\n", l->bucket);
    }
    if (l->kv == NULL) {
      char err[512];
      pthread_mutex_unlock(&l->mu);
      int rc = bind_bucket(l, err, sizeof err);
      pthread_mutex_lock(&l->mu);
      if (rc != 0) {
        uint64_t now = mono_ms();
        if (now - logged > 5000 || logged == 0) {
          logged = now;
          fprintf(stderr, "ttboost-server: lease: %s (retrying)\n", err);
        }
        if (!l->stopping)
          wait_ms(l, 500);
        continue;
      }
    }
    uint64_t due;
    if (step(l, false, &due))
      continue;
    uint64_t now = mono_ms();
    uint64_t ms = due == UINT64_MAX ? 1000 : (due > now ? due - now : 0);
    if (ms > 1000)
      ms = 1000;
    if (ms > 0 && !l->stopping)
      wait_ms(l, ms);
  }
  /* clean shutdown: release what is held, for a bounded time */
  if (l->kv) {
    uint64_t end = mono_ms() + STOP_RELEASE_MS, due;
    while (mono_ms() < end && step(l, true, &due)) {}
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* ------------------------------------------------------------ the loop's side */

ttb_lease *ttb_lease_start(const ttb_lease_opts *o, ttb_metrics *metrics, char *err, size_t errlen)
{
  if (o->nc == NULL || o->bucket == NULL || o->bucket[0] == '\0' || o->ttl_s == 0 ||
      o->node_id == NULL || o->node_id[0] == '\0' || strlen(o->node_id) >= TTB_LEASE_NODE_MAX ||
      strlen(o->bucket) >= 64) {
    snprintf(err, errlen, "lease: bad options");
    return NULL;
  }
  ttb_lease *l = calloc(1, sizeof *l);
  if (l == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  l->nc = o->nc;
  snprintf(l->bucket, sizeof l->bucket, "%s", o->bucket);
  l->ttl_ms = (uint64_t)o->ttl_s * 1000u;
  snprintf(l->node, sizeof l->node, "%s", o->node_id);
  snprintf(l->addr, sizeof l->addr, "%s", o->addr ? o->addr : "");
  l->wake_fd = o->wake_fd;
  l->metrics = metrics;
  pthread_mutex_init(&l->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&l->cv, &ca);
  pthread_condattr_destroy(&ca);
  jsOptions jo;
  jsOptions_Init(&jo);
  /* a renewal and the read that classifies its failure take at most 2T/9:
   * one started just before the give-up limit (2T/3 after the last renewal
   * that worked) ends by 8T/9, before the key can expire (T) */
  jo.Wait = (int64_t)(l->ttl_ms / 9 < 2000 ? (l->ttl_ms / 9 ? l->ttl_ms / 9 : 1) : 2000);
  natsStatus s = natsConnection_JetStream(&l->js, l->nc, &jo);
  if (s != NATS_OK) {
    snprintf(err, errlen, "lease: jetstream: %s", natsStatus_GetText(s));
    ttb_lease_stop(l);
    return NULL;
  }
  /* a plain subscription (the library renews it after a reconnect) */
  char wild[96];
  snprintf(l->kv_prefix, sizeof l->kv_prefix, "$KV.%s.", l->bucket);
  snprintf(wild, sizeof wild, "%s>", l->kv_prefix);
  s = natsConnection_Subscribe(&l->sub, l->nc, wild, on_kv_msg, l);
  if (s == NATS_OK)
    s = natsSubscription_SetOnCompleteCB(l->sub, on_sub_done, l);
  if (s != NATS_OK) {
    l->sub = NULL;
    snprintf(err, errlen, "lease: subscribe %s: %s", wild, natsStatus_GetText(s));
    ttb_lease_stop(l);
    return NULL;
  }
  if (pthread_create(&l->thread, NULL, run, l) != 0) {
    snprintf(err, errlen, "lease: cannot start a thread");
    ttb_lease_stop(l);
    return NULL;
  }
  l->thread_started = true;
  if (metrics)
    metrics->lease_on = true;
  return l;
}

/* The channel's entry (mu held); created when create. */
static entry *entry_of(ttb_lease *l, const char *channel, bool create)
{
  for (entry *e = l->entries; e; e = e->next)
    if (strcmp(e->channel, channel) == 0)
      return e;
  if (!create)
    return NULL;
  char key[KEY_MAX];
  if (ttb_lease_key(channel, key, sizeof key) != 0) {
    fprintf(stderr, "ttboost-server: lease: channel id too long for a key\n");
    return NULL;
  }
  size_t len = strlen(channel);
  entry *e = calloc(1, sizeof *e + len + 1);
  if (e == NULL) {
    fprintf(stderr, "ttboost-server: lease: out of memory\n");
    return NULL;
  }
  memcpy(e->channel, channel, len + 1);
  snprintf(e->key, sizeof e->key, "%s", key);
  e->next = l->entries;
  l->entries = e;
  return e;
}

void ttb_lease_want(ttb_lease *l, const char *channel, bool want)
{
  if (l == NULL || channel == NULL)
    return;
  pthread_mutex_lock(&l->mu);
  entry *e = entry_of(l, channel, want);
  if (e != NULL && e->st.want != want) {
    e->st.want = want;
    if (want && !e->st.held)
      e->st.next_ms = 0; /* at once */
    pthread_cond_signal(&l->cv);
  }
  pthread_mutex_unlock(&l->mu);
}

void ttb_lease_status(ttb_lease *l, const char *channel, const char *state, const char *room,
                      const char *message)
{
  if (l == NULL || channel == NULL)
    return;
  pthread_mutex_lock(&l->mu);
  entry *e = entry_of(l, channel, false);
  if (e != NULL && e->st.held) { /* another node's status shown here is not ours */
    ttb_lease_value v = e->mine;
    snprintf(v.state, sizeof v.state, "%s", state ? state : "");
    snprintf(v.room, sizeof v.room, "%s", room ? room : "");
    snprintf(v.message, sizeof v.message, "%s", message ? message : "");
    if (strcmp(v.state, e->mine.state) != 0 || strcmp(v.room, e->mine.room) != 0 ||
        strcmp(v.message, e->mine.message) != 0) {
      e->mine = v;
      e->gen++;
      e->st.dirty = true;
      pthread_cond_signal(&l->cv);
    }
  }
  pthread_mutex_unlock(&l->mu);
}

size_t ttb_lease_poll(ttb_lease *l, ttb_lease_event_fn fn, void *arg)
{
  if (l == NULL)
    return 0;
  pthread_mutex_lock(&l->mu);
  event *ev = l->ev_head;
  l->ev_head = l->ev_tail = NULL;
  pthread_mutex_unlock(&l->mu);
  size_t n = 0;
  while (ev) {
    event *next = ev->next;
    fn(arg, ev->channel, ev->kind, ev->kind == TTB_LEASE_HOLDER ? &ev->holder : NULL);
    free(ev);
    ev = next;
    n++;
  }
  if (l->metrics) {
    l->metrics->lease_held = atomic_load(&l->held);
    l->metrics->lease_acquired = atomic_load(&l->acquired);
    l->metrics->lease_lost = atomic_load(&l->lost);
    l->metrics->lease_released = atomic_load(&l->released);
    l->metrics->lease_errors = atomic_load(&l->errors);
  }
  return n;
}

void ttb_lease_stop(ttb_lease *l)
{
  if (l == NULL)
    return;
  if (l->thread_started) {
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  if (l->sub) { /* its handler may run once more after the unsubscribe: wait for it */
    bool wait = natsSubscription_Unsubscribe(l->sub) == NATS_OK;
    pthread_mutex_lock(&l->mu);
    uint64_t end = mono_ms() + 2000;
    while (wait && !l->sub_done && mono_ms() < end)
      wait_ms(l, 100);
    pthread_mutex_unlock(&l->mu);
    natsSubscription_Destroy(l->sub);
  }
  kvStore_Destroy(l->kv);
  jsCtx_Destroy(l->js);
  for (entry *e = l->entries; e;) {
    entry *next = e->next;
    free(e);
    e = next;
  }
  for (event *ev = l->ev_head; ev;) {
    event *next = ev->next;
    free(ev);
    ev = next;
  }
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}
