/* See tiktok_frame.h. */
#include "tiktok_frame.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common.h"

/* ------------------------------------------------------------- strings */

static bool sbuf_reserve(ttb_sbuf *b, size_t more)
{
  if (b->oom)
    return false;
  if (b->len + more + 1 <= b->cap)
    return true;
  size_t c = b->cap ? b->cap : 256;
  while (c < b->len + more + 1)
    c *= 2;
  char *p = realloc(b->p, c);
  if (p == NULL) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = c;
  return true;
}

void ttb_sbuf_printf(ttb_sbuf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !sbuf_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void sbuf_put(ttb_sbuf *b, const char *s, size_t n)
{
  if (!sbuf_reserve(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (0 when invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  unsigned c = s[0];
  size_t k;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    k = 2;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    k = 3;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    k = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < k)
    return 0;
  unsigned v = c & (0x7fu >> k);
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3fu);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  return k;
}

void ttb_sbuf_json_str(ttb_sbuf *b, const char *str, size_t len)
{
  const unsigned char *s = (const unsigned char *)str;
  sbuf_put(b, "\"", 1);
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      sbuf_put(b, e, 2);
      i++;
    } else if (c < 0x20) {
      char e[8];
      if (c == '\n')
        sbuf_put(b, "\\n", 2);
      else if (c == '\r')
        sbuf_put(b, "\\r", 2);
      else if (c == '\t')
        sbuf_put(b, "\\t", 2);
      else {
        snprintf(e, sizeof e, "\\u%04x", c);
        sbuf_put(b, e, 6);
      }
      i++;
    } else {
      size_t k = utf8_len(s + i, len - i);
      if (k == 0) {
        sbuf_put(b, "\\ufffd", 6);
        i++;
      } else {
        sbuf_put(b, str + i, k);
        i += k;
      }
    }
  }
  sbuf_put(b, "\"", 1);
}

static void json_key_str(ttb_sbuf *b, const char *key, const char *v)
{
  ttb_sbuf_printf(b, ",\"%s\":", key);
  ttb_sbuf_json_str(b, v ? v : "", v ? strlen(v) : 0);
}

void ttb_sbuf_free(ttb_sbuf *b)
{
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* -------------------------------------------------------------- chunks */

int ttb_tf_join(ttb_tf_joiner *j, const Ttboost__V1__TraceRecord *rec, char *err, size_t errlen)
{
  if (j->done) {
    j->len = 0;
    j->chunks = 0;
    j->done = false;
  }
  const Ttboost__V1__TiktokFrame *t = rec->tiktok;
  if (rec->record_case != TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK || t == NULL) {
    ttb_set_err(err, errlen, "not a TiktokFrame record");
    return -1;
  }
  if (j->chunks == 0) {
    j->time_us = rec->time_us;
    snprintf(j->room_id, sizeof j->room_id, "%s", t->room_id ? t->room_id : "");
  }
  size_t n = t->frame.len;
  if (j->len + n > TTB_TF_MAX_MESSAGE) {
    ttb_set_err(err, errlen, "a TikTok message of more than %u bytes (in %zu chunks)",
                TTB_TF_MAX_MESSAGE, j->chunks + 1);
    j->len = 0;
    j->chunks = 0;
    return -1;
  }
  if (j->len + n > j->cap) {
    size_t c = j->cap ? j->cap : 4096;
    while (c < j->len + n)
      c *= 2;
    uint8_t *p = realloc(j->buf, c);
    if (p == NULL) {
      ttb_set_err(err, errlen, "out of memory");
      j->len = 0;
      j->chunks = 0;
      return -1;
    }
    j->buf = p;
    j->cap = c;
  }
  if (n)
    memcpy(j->buf + j->len, t->frame.data, n);
  j->len += n;
  j->chunks++;
  if (t->more)
    return 0;
  j->done = true;
  return 1;
}

bool ttb_tf_join_pending(const ttb_tf_joiner *j) { return !j->done && j->chunks > 0; }

void ttb_tf_joiner_free(ttb_tf_joiner *j)
{
  free(j->buf);
  memset(j, 0, sizeof *j);
}

int ttb_tf_write(ttb_trace_writer *w, uint64_t time_us, const char *room_id, const uint8_t *msg,
                 size_t len, char *err, size_t errlen)
{
  size_t off = 0;
  do {
    size_t n = len - off > TTB_TF_CHUNK ? TTB_TF_CHUNK : len - off;
    Ttboost__V1__TiktokFrame tf = TTBOOST__V1__TIKTOK_FRAME__INIT;
    tf.frame.data = (uint8_t *)(msg ? msg + off : NULL);
    tf.frame.len = n;
    tf.room_id = (char *)(room_id ? room_id : "");
    tf.more = off + n < len;
    Ttboost__V1__TraceRecord r = TTBOOST__V1__TRACE_RECORD__INIT;
    r.time_us = time_us;
    r.direction = TTBOOST__V1__DIRECTION__DIRECTION_TIKTOK;
    r.record_case = TTBOOST__V1__TRACE_RECORD__RECORD_TIKTOK;
    r.tiktok = &tf;
    if (ttb_trace_write(w, &r, err, errlen) != 0)
      return -1;
    off += n;
  } while (off < len);
  return 0;
}

/* ------------------------------------------------------------ payloads */

int ttb_tf_inflate(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *outlen,
                   char *err, size_t errlen)
{
  *out = NULL;
  *outlen = 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) { /* +32: gzip or zlib, by the header */
    ttb_set_err(err, errlen, "inflate: cannot initialise zlib");
    return -1;
  }
  size_t cap = len * 4 + 256 < max ? len * 4 + 256 : max;
  uint8_t *buf = malloc(cap + 1);
  if (buf == NULL) {
    inflateEnd(&z);
    ttb_set_err(err, errlen, "out of memory");
    return -1;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  size_t have = 0;
  int zr;
  for (;;) {
    if (have == cap) {
      if (cap >= max) {
        ttb_set_err(err, errlen, "inflate: more than %zu bytes", max);
        goto fail;
      }
      size_t c = cap * 2 < max ? cap * 2 : max;
      uint8_t *p = realloc(buf, c + 1);
      if (p == NULL) {
        ttb_set_err(err, errlen, "out of memory");
        goto fail;
      }
      buf = p;
      cap = c;
    }
    z.next_out = buf + have;
    z.avail_out = (uInt)(cap - have);
    zr = inflate(&z, Z_NO_FLUSH);
    have = cap - z.avail_out;
    if (zr == Z_STREAM_END)
      break;
    if (zr == Z_BUF_ERROR && z.avail_in == 0) {
      ttb_set_err(err, errlen, "inflate: the data ends early (%zu bytes in, %zu out)", len, have);
      goto fail;
    }
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      ttb_set_err(err, errlen, "inflate: %s", z.msg ? z.msg : "corrupt data");
      goto fail;
    }
  }
  inflateEnd(&z);
  buf[have] = 0;
  *out = buf;
  *outlen = have;
  return 0;
fail:
  inflateEnd(&z);
  free(buf);
  return -1;
}

int ttb_tf_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen, char *err,
                size_t errlen)
{
  *out = NULL;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    ttb_set_err(err, errlen, "deflate: cannot initialise zlib");
    return -1;
  }
  size_t cap = deflateBound(&z, (uLong)len);
  uint8_t *buf = malloc(cap ? cap : 1);
  if (buf == NULL) {
    deflateEnd(&z);
    ttb_set_err(err, errlen, "out of memory");
    return -1;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = buf;
  z.avail_out = (uInt)cap;
  int zr = deflate(&z, Z_FINISH);
  if (zr != Z_STREAM_END) {
    deflateEnd(&z);
    free(buf);
    ttb_set_err(err, errlen, "deflate failed");
    return -1;
  }
  *outlen = cap - z.avail_out;
  *out = buf;
  deflateEnd(&z);
  return 0;
}

const char *ttb_tf_header(const Tiktok__Webcast__PushFrame *f, const char *key)
{
  for (size_t i = 0; i < f->n_headers; i++)
    if (f->headers[i]->key && strcmp(f->headers[i]->key, key) == 0)
      return f->headers[i]->value ? f->headers[i]->value : "";
  return NULL;
}

int ttb_tf_payload(const Tiktok__Webcast__PushFrame *f, const uint8_t **out, size_t *outlen,
                   bool *gz, uint8_t **owned, char *err, size_t errlen)
{
  *owned = NULL;
  const char *ct = ttb_tf_header(f, "compress_type");
  const uint8_t *p = f->payload.data;
  size_t n = f->payload.len;
  *gz = (ct && strcmp(ct, "gzip") == 0) || (n >= 2 && p[0] == 0x1f && p[1] == 0x8b);
  if (!*gz) {
    *out = p;
    *outlen = n;
    return 0;
  }
  if (ttb_tf_inflate(p, n, TTB_TF_MAX_INFLATED, owned, outlen, err, errlen) != 0)
    return -1;
  *out = *owned;
  return 0;
}

/* ------------------------------------------------------------ describe */

static void describe_user(ttb_sbuf *b, const char *prefix, const Tiktok__Webcast__User *u)
{
  if (u == NULL)
    return;
  char k[48];
  snprintf(k, sizeof k, "%snickname", prefix);
  json_key_str(b, k, u->nickname);
  snprintf(k, sizeof k, "%sunique_id", prefix);
  json_key_str(b, k, u->unique_id);
  if (u->id)
    ttb_sbuf_printf(b, ",\"%suser_id\":\"%" PRId64 "\"", prefix, u->id);
}

static void describe_message(ttb_sbuf *b, const Tiktok__Webcast__Message *m)
{
  const char *method = m->method ? m->method : "";
  ttb_sbuf_printf(b, "{\"method\":");
  ttb_sbuf_json_str(b, method, strlen(method));
  ttb_sbuf_printf(b, ",\"msg_id\":\"%" PRId64 "\"", m->msg_id);
  if (m->is_history)
    ttb_sbuf_printf(b, ",\"is_history\":true");
  const uint8_t *p = m->payload.data;
  size_t n = m->payload.len;
  if (strcmp(method, "WebcastChatMessage") == 0) {
    Tiktok__Webcast__WebcastChatMessage *c =
        tiktok__webcast__webcast_chat_message__unpack(NULL, n, p);
    if (c == NULL) {
      ttb_sbuf_printf(b, ",\"bytes\":%zu,\"undecodable\":\"not a WebcastChatMessage\"}", n);
      return;
    }
    describe_user(b, "", c->user);
    json_key_str(b, "comment", c->comment);
    if (c->content_language && c->content_language[0])
      json_key_str(b, "content_language", c->content_language);
    tiktok__webcast__webcast_chat_message__free_unpacked(c, NULL);
  } else if (strcmp(method, "WebcastGiftMessage") == 0) {
    Tiktok__Webcast__WebcastGiftMessage *g =
        tiktok__webcast__webcast_gift_message__unpack(NULL, n, p);
    if (g == NULL) {
      ttb_sbuf_printf(b, ",\"bytes\":%zu,\"undecodable\":\"not a WebcastGiftMessage\"}", n);
      return;
    }
    json_key_str(b, "gift_name", g->gift ? g->gift->name : "");
    ttb_sbuf_printf(b,
                    ",\"gift_id\":%" PRId64 ",\"gift_type\":%d,\"repeat_count\":%d,"
                    "\"repeat_end\":%d,\"combo_count\":%d,\"group_id\":\"%" PRIu64 "\"",
                    g->gift_id ? g->gift_id : (g->gift ? g->gift->id : 0),
                    g->gift ? (int)g->gift->type : 0, (int)g->repeat_count, (int)g->repeat_end,
                    (int)g->combo_count, g->group_id);
    if (g->gift && g->gift->diamond_count)
      ttb_sbuf_printf(b, ",\"diamond_count\":%d", (int)g->gift->diamond_count);
    describe_user(b, "", g->user);
    tiktok__webcast__webcast_gift_message__free_unpacked(g, NULL);
  } else if (strcmp(method, "WebcastControlMessage") == 0) {
    Tiktok__Webcast__WebcastControlMessage *c =
        tiktok__webcast__webcast_control_message__unpack(NULL, n, p);
    if (c == NULL) {
      ttb_sbuf_printf(b, ",\"bytes\":%zu,\"undecodable\":\"not a WebcastControlMessage\"}", n);
      return;
    }
    ttb_sbuf_printf(b, ",\"action\":%d%s", (int)c->action,
                    c->action == 3 ? ",\"meaning\":\"stream ended\"" : "");
    if (c->tips && c->tips[0])
      json_key_str(b, "tips", c->tips);
    tiktok__webcast__webcast_control_message__free_unpacked(c, NULL);
  } else {
    ttb_sbuf_printf(b, ",\"bytes\":%zu", n);
  }
  ttb_sbuf_printf(b, "}");
}

bool ttb_tf_describe(const uint8_t *msg, size_t len, ttb_sbuf *b)
{
  Tiktok__Webcast__PushFrame *f = tiktok__webcast__push_frame__unpack(NULL, len, msg);
  if (f == NULL) {
    ttb_sbuf_printf(b, "{\"bytes\":%zu,\"undecodable\":\"not a PushFrame\"}", len);
    return false;
  }
  ttb_sbuf_printf(b, "{\"bytes\":%zu,\"seq_id\":\"%" PRIu64 "\",\"log_id\":\"%" PRIu64 "\"", len,
                  f->seq_id, f->log_id);
  json_key_str(b, "payload_type", f->payload_type);
  json_key_str(b, "payload_encoding", f->payload_encoding);
  if (f->n_headers) {
    ttb_sbuf_printf(b, ",\"headers\":{");
    for (size_t i = 0; i < f->n_headers; i++) {
      const char *k = f->headers[i]->key ? f->headers[i]->key : "";
      const char *v = f->headers[i]->value ? f->headers[i]->value : "";
      if (i)
        ttb_sbuf_printf(b, ",");
      ttb_sbuf_json_str(b, k, strlen(k));
      ttb_sbuf_printf(b, ":");
      ttb_sbuf_json_str(b, v, strlen(v));
    }
    ttb_sbuf_printf(b, "}");
  }
  const uint8_t *p;
  size_t n;
  bool gz;
  uint8_t *owned;
  char err[256];
  ttb_sbuf_printf(b, ",\"payload_bytes\":%zu", f->payload.len);
  if (ttb_tf_payload(f, &p, &n, &gz, &owned, err, sizeof err) != 0) {
    ttb_sbuf_printf(b, ",\"compress\":\"gzip\",\"payload_error\":");
    ttb_sbuf_json_str(b, err, strlen(err));
    ttb_sbuf_printf(b, "}");
    tiktok__webcast__push_frame__free_unpacked(f, NULL);
    return true;
  }
  ttb_sbuf_printf(b, ",\"compress\":\"%s\"", gz ? "gzip" : "none");
  if (gz)
    ttb_sbuf_printf(b, ",\"inflated_bytes\":%zu", n);
  const char *pt = f->payload_type ? f->payload_type : "";
  if (strcmp(pt, "msg") == 0 || strcmp(pt, "im_enter_room_resp") == 0) {
    Tiktok__Webcast__FetchResult *r = tiktok__webcast__fetch_result__unpack(NULL, n, p);
    if (r == NULL) {
      ttb_sbuf_printf(b, ",\"payload_error\":\"not a FetchResult\"");
    } else {
      ttb_sbuf_printf(b, ",\"need_ack\":%s", r->need_ack ? "true" : "false");
      if (r->internal_ext && r->internal_ext[0])
        json_key_str(b, "internal_ext", r->internal_ext);
      if (r->cursor && r->cursor[0])
        json_key_str(b, "cursor", r->cursor);
      if (r->is_first)
        ttb_sbuf_printf(b, ",\"is_first\":true");
      if (r->fetch_interval)
        ttb_sbuf_printf(b, ",\"fetch_interval\":%" PRId64, r->fetch_interval);
      if (r->heartbeat_duration)
        ttb_sbuf_printf(b, ",\"heartbeat_duration\":%" PRId64, r->heartbeat_duration);
      ttb_sbuf_printf(b, ",\"messages\":[");
      for (size_t i = 0; i < r->n_messages; i++) {
        if (i)
          ttb_sbuf_printf(b, ",");
        describe_message(b, r->messages[i]);
      }
      ttb_sbuf_printf(b, "]");
      tiktok__webcast__fetch_result__free_unpacked(r, NULL);
    }
  }
  ttb_sbuf_printf(b, "}");
  free(owned);
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
  return true;
}

/* --------------------------------------------------------------- stats */

/* Adds id to the set; 1 when it was there already, -1 out of memory. */
static int seen_id(ttb_tf_stats *s, int64_t id)
{
  if (id == 0)
    return 0;
  if ((s->n_ids + 1) * 2 > s->cap_ids) {
    size_t c = s->cap_ids ? s->cap_ids * 2 : 1024;
    int64_t *t = calloc(c, sizeof *t);
    if (t == NULL)
      return -1;
    for (size_t i = 0; i < s->cap_ids; i++) {
      if (s->ids[i] == 0)
        continue;
      size_t h = (size_t)((uint64_t)s->ids[i] * UINT64_C(0x9e3779b97f4a7c15) >> 20) & (c - 1);
      while (t[h])
        h = (h + 1) & (c - 1);
      t[h] = s->ids[i];
    }
    free(s->ids);
    s->ids = t;
    s->cap_ids = c;
  }
  size_t h = (size_t)((uint64_t)id * UINT64_C(0x9e3779b97f4a7c15) >> 20) & (s->cap_ids - 1);
  while (s->ids[h]) {
    if (s->ids[h] == id)
      return 1;
    h = (h + 1) & (s->cap_ids - 1);
  }
  s->ids[h] = id;
  s->n_ids++;
  return 0;
}

int ttb_tf_stats_add(ttb_tf_stats *s, const uint8_t *msg, size_t len)
{
  s->messages++;
  s->wire_bytes += len;
  Tiktok__Webcast__PushFrame *f = tiktok__webcast__push_frame__unpack(NULL, len, msg);
  if (f == NULL) {
    s->undecodable++;
    return 0;
  }
  const char *pt = f->payload_type ? f->payload_type : "";
  bool is_msg = strcmp(pt, "msg") == 0;
  if (is_msg)
    s->t_msg++;
  else if (strcmp(pt, "im_enter_room_resp") == 0)
    s->t_enter++;
  else if (strcmp(pt, "hb") == 0)
    s->t_hb++;
  else
    s->t_other++;
  const uint8_t *p;
  size_t n;
  bool gz;
  uint8_t *owned;
  int rc = 0;
  if (ttb_tf_payload(f, &p, &n, &gz, &owned, NULL, 0) != 0) {
    s->gzip++;
    s->bad_payload++;
    goto out;
  }
  if (gz)
    s->gzip++;
  else
    s->plain++;
  s->payload_bytes += n;
  if (!is_msg)
    goto out;
  Tiktok__Webcast__FetchResult *r = tiktok__webcast__fetch_result__unpack(NULL, n, p);
  if (r == NULL) {
    s->bad_payload++;
    goto out;
  }
  if (r->need_ack && r->internal_ext && r->internal_ext[0])
    s->need_ack++;
  for (size_t i = 0; i < r->n_messages && rc == 0; i++) {
    const Tiktok__Webcast__Message *m = r->messages[i];
    int dup = seen_id(s, m->msg_id);
    if (dup < 0) {
      rc = -1;
      break;
    }
    if (dup) {
      s->duplicates++;
      continue;
    }
    const char *method = m->method ? m->method : "";
    if (strcmp(method, "WebcastChatMessage") == 0) {
      Tiktok__Webcast__WebcastChatMessage *c =
          tiktok__webcast__webcast_chat_message__unpack(NULL, m->payload.len, m->payload.data);
      if (c == NULL) {
        s->bad_message++;
        continue;
      }
      s->chat++;
      tiktok__webcast__webcast_chat_message__free_unpacked(c, NULL);
    } else if (strcmp(method, "WebcastGiftMessage") == 0) {
      Tiktok__Webcast__WebcastGiftMessage *g =
          tiktok__webcast__webcast_gift_message__unpack(NULL, m->payload.len, m->payload.data);
      if (g == NULL) {
        s->bad_message++;
        continue;
      }
      s->gift++;
      if (g->gift == NULL || g->gift->type != 1)
        s->gift_single++;
      else if (g->repeat_end)
        s->gift_end++;
      else
        s->gift_step++;
      tiktok__webcast__webcast_gift_message__free_unpacked(g, NULL);
    } else if (strcmp(method, "WebcastControlMessage") == 0) {
      Tiktok__Webcast__WebcastControlMessage *c =
          tiktok__webcast__webcast_control_message__unpack(NULL, m->payload.len, m->payload.data);
      if (c == NULL) {
        s->bad_message++;
        continue;
      }
      s->control++;
      if (c->action == 3)
        s->control_end++;
      tiktok__webcast__webcast_control_message__free_unpacked(c, NULL);
    } else {
      s->other_method++;
    }
  }
  tiktok__webcast__fetch_result__free_unpacked(r, NULL);
out:
  free(owned);
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
  return rc;
}

void ttb_tf_stats_free(ttb_tf_stats *s)
{
  free(s->ids);
  s->ids = NULL;
  s->n_ids = s->cap_ids = 0;
}
