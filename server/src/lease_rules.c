/* The connector lease's rules: see lease_rules.h. */
#include "lease_rules.h"

#include <stdio.h>
#include <string.h>

static uint64_t renew_every(uint64_t ttl) { return ttl / 3 ? ttl / 3 : 1; }
static uint64_t retry_after(uint64_t ttl)
{
  uint64_t r = renew_every(ttl);
  return r < 1000 ? r : 1000;
}
static uint64_t give_up_after(uint64_t ttl) { return ttl * 2 / 3 ? ttl * 2 / 3 : 1; }

ttb_lease_act ttb_lease_next(const ttb_lease_entry *e, uint64_t now_ms, uint64_t ttl_ms,
                             uint64_t *due_ms)
{
  uint64_t due = UINT64_MAX;
  ttb_lease_act act = TTB_LEASE_ACT_NONE;
  if (e->held) {
    uint64_t limit = e->ok_ms + give_up_after(ttl_ms);
    if (now_ms >= limit)
      act = TTB_LEASE_ACT_EXPIRE;
    else if (!e->want)
      act = TTB_LEASE_ACT_RELEASE;
    else if (e->dirty || now_ms >= e->next_ms)
      act = TTB_LEASE_ACT_RENEW;
    else
      due = e->next_ms < limit ? e->next_ms : limit;
  } else if (e->want) {
    if (now_ms >= e->next_ms)
      act = TTB_LEASE_ACT_CREATE;
    else
      due = e->next_ms;
  }
  if (due_ms)
    *due_ms = act == TTB_LEASE_ACT_NONE ? due : now_ms;
  return act;
}

ttb_lease_event ttb_lease_apply(ttb_lease_entry *e, ttb_lease_act act, ttb_lease_result r,
                                uint64_t rev, uint64_t sent_ms, uint64_t now_ms, uint64_t ttl_ms)
{
  switch (act) {
  case TTB_LEASE_ACT_CREATE:
    if (r == TTB_LEASE_R_OK) {
      e->held = true;
      e->rev = rev;
      e->ok_ms = sent_ms;
      e->dirty = false;
      e->next_ms = sent_ms + renew_every(ttl_ms);
      return e->want ? TTB_LEASE_EV_ACQUIRED : TTB_LEASE_EV_NONE;
    }
    e->next_ms = now_ms + (r == TTB_LEASE_R_TAKEN ? renew_every(ttl_ms) : retry_after(ttl_ms));
    return TTB_LEASE_EV_NONE;
  case TTB_LEASE_ACT_RENEW:
    if (r == TTB_LEASE_R_OK) {
      e->rev = rev;
      e->ok_ms = sent_ms;
      e->dirty = false;
      e->next_ms = sent_ms + renew_every(ttl_ms);
      return TTB_LEASE_EV_NONE;
    }
    if (r == TTB_LEASE_R_TAKEN) {
      e->held = false;
      e->dirty = false;
      e->next_ms = now_ms; /* ask at once who holds it (their status) */
      return e->want ? TTB_LEASE_EV_LOST : TTB_LEASE_EV_RELEASED;
    }
    e->next_ms = now_ms + retry_after(ttl_ms);
    return TTB_LEASE_EV_NONE;
  case TTB_LEASE_ACT_RELEASE:
    /* whatever the answer: a key not released expires by its TTL */
    e->held = false;
    e->dirty = false;
    e->next_ms = now_ms;
    return e->want ? TTB_LEASE_EV_LOST : TTB_LEASE_EV_RELEASED;
  case TTB_LEASE_ACT_EXPIRE:
    e->held = false;
    e->dirty = false;
    e->next_ms = now_ms;
    return e->want ? TTB_LEASE_EV_LOST : TTB_LEASE_EV_RELEASED;
  default:
    return TTB_LEASE_EV_NONE;
  }
}

static bool plain(unsigned char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

int ttb_lease_key(const char *channel, char *out, size_t cap)
{
  static const char hex[] = "0123456789ABCDEF";
  if (channel == NULL || channel[0] == '\0' || cap == 0)
    return -1;
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)channel; *p; p++) {
    if (plain(*p)) {
      if (o + 1 >= cap)
        return -1;
      out[o++] = (char)*p;
    } else {
      if (o + 3 >= cap)
        return -1;
      out[o++] = '=';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return 0;
}

#define MAGIC "ttb1"

/* Appends "\t" and field (tabs and line breaks as spaces) to out at *o. */
static void put_field(char *out, size_t cap, size_t *o, const char *field)
{
  if (*o + 1 < cap)
    out[(*o)++] = '\t';
  for (const char *p = field; *p && *o + 1 < cap; p++)
    out[(*o)++] = (*p == '\t' || *p == '\n' || *p == '\r') ? ' ' : *p;
  out[*o] = '\0';
}

int ttb_lease_value_format(const ttb_lease_value *v, char *out, size_t cap)
{
  size_t need = strlen(MAGIC) + 1 + strlen(v->node) + 1;
  if (v->node[0] == '\0' || cap < need)
    return -1;
  size_t o = (size_t)snprintf(out, cap, "%s", MAGIC);
  put_field(out, cap, &o, v->node);
  put_field(out, cap, &o, v->addr);
  put_field(out, cap, &o, v->state);
  put_field(out, cap, &o, v->room);
  put_field(out, cap, &o, v->message);
  return (int)o;
}

/* Copies the field [p, end) into dst (cut to cap). */
static void take(char *dst, size_t cap, const char *p, const char *end)
{
  size_t n = (size_t)(end - p);
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, p, n);
  dst[n] = '\0';
}

int ttb_lease_value_parse(const char *data, size_t len, ttb_lease_value *v)
{
  memset(v, 0, sizeof *v);
  size_t ml = strlen(MAGIC);
  if (data == NULL || len < ml + 2 || memcmp(data, MAGIC, ml) != 0 || data[ml] != '\t')
    return -1;
  char *dst[] = {v->node, v->addr, v->state, v->room, v->message};
  size_t caps[] = {sizeof v->node, sizeof v->addr, sizeof v->state, sizeof v->room,
                   sizeof v->message};
  const char *p = data + ml + 1, *end = data + len;
  for (size_t i = 0; i < 5; i++) {
    const char *q = p;
    while (q < end && *q != '\t')
      q++;
    if (memchr(p, '\0', (size_t)(q - p)) != NULL)
      return -1;
    take(dst[i], caps[i], p, q);
    if (q >= end)
      break;
    p = q + 1;
  }
  return v->node[0] ? 0 : -1;
}
