/* TikTok LIVE's webcast protocol, the pure half: see webcast.h. */
#include "webcast.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tiktok/webcast.pb-c.h"
#include "ttboost/json.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------ URLs */

int ttb_webcast_urlencode(const char *s, char *out, size_t cap)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    bool plain = isalnum(*p) && *p < 0x80;
    plain = plain || *p == '-' || *p == '.' || *p == '_' || *p == '~';
    size_t need = plain ? 1 : 3;
    if (o + need >= cap)
      return -1;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  if (o >= cap)
    return -1;
  out[o] = '\0';
  return 0;
}

/* Appends to out[cap] at *o; false when it does not fit. */
static bool put(char *out, size_t cap, size_t *o, const char *s)
{
  size_t n = strlen(s);
  if (*o + n >= cap)
    return false;
  memcpy(out + *o, s, n + 1);
  *o += n;
  return true;
}

/* Appends "&name=<value encoded>" (no '&' for the first). */
static bool put_param(char *out, size_t cap, size_t *o, bool first, const char *name,
                      const char *value)
{
  char enc[512];
  if (ttb_webcast_urlencode(value, enc, sizeof enc) != 0)
    return false;
  return (first || put(out, cap, o, "&")) && put(out, cap, o, name) && put(out, cap, o, "=") &&
         put(out, cap, o, enc);
}

/* The base without trailing slashes, as a length. */
static size_t base_len(const char *base)
{
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  return n;
}

static bool put_base(char *out, size_t cap, size_t *o, const char *base)
{
  size_t n = base_len(base);
  if (n + 1 > cap)
    return false;
  memcpy(out, base, n);
  out[n] = '\0';
  *o = n;
  return true;
}

int ttb_webcast_lookup_url(const char *web, const char *handle, char *out, size_t cap)
{
  static const char *const fixed[][2] = {
      {"aid", "1988"},
      {"app_name", "tiktok_web"},
      {"device_platform", "web_pc"},
      {"app_language", "en"},
      {"browser_language", "en-US"},
      {"region", "US"},
      {"user_is_login", "false"},
  };
  size_t o = 0;
  if (cap == 0 || !put_base(out, cap, &o, web) || !put(out, cap, &o, "/api-live/user/room?"))
    return -1;
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (!put_param(out, cap, &o, i == 0, fixed[i][0], fixed[i][1]))
      return -1;
  if (handle[0] == '@')
    handle++;
  if (!put_param(out, cap, &o, false, "uniqueId", handle) ||
      !put_param(out, cap, &o, false, "sourceType", "54") ||
      !put_param(out, cap, &o, false, "staleTime", "600000"))
    return -1;
  return 0;
}

int ttb_webcast_ws_url(const char *ws, const char *room_id, const char *tz_name, unsigned last_rtt,
                       char *out, size_t cap)
{
  char rtt[16];
  snprintf(rtt, sizeof rtt, "%u", last_rtt);
  const char *const params[][2] = {
      {"version_code", "180800"},
      {"device_platform", "web"},
      {"cookie_enabled", "true"},
      {"screen_width", "1920"},
      {"screen_height", "1080"},
      {"browser_language", "en-US"},
      {"browser_platform", "Linux x86_64"},
      {"browser_name", "Mozilla"},
      {"browser_version", "5.0 (X11)"},
      {"browser_online", "true"},
      {"tz_name", tz_name && *tz_name ? tz_name : "Etc/UTC"},
      {"app_name", "tiktok_web"},
      {"sup_ws_ds_opt", "1"},
      {"update_version_code", "2.0.0"},
      {"compress", "gzip"},
      {"webcast_language", "en"},
      {"ws_direct", "1"},
      {"aid", "1988"},
      {"live_id", "12"},
      {"app_language", "en"},
      {"client_enter", "1"},
      {"room_id", room_id},
      {"identity", "audience"},
      {"history_comment_count", "6"},
      {"last_rtt", rtt},
      {"heartbeat_duration", "10000"},
      {"resp_content_type", "protobuf"},
      {"did_rule", "3"},
  };
  size_t o = 0;
  if (cap == 0 || !put_base(out, cap, &o, ws) ||
      !put(out, cap, &o, "/webcast/im/ws_proxy/ws_reuse_supplement/?"))
    return -1;
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
    if (!put_param(out, cap, &o, i == 0, params[i][0], params[i][1]))
      return -1;
  return 0;
}

bool ttb_webcast_room_u64(const char *room_id, uint64_t *out)
{
  size_t n = strlen(room_id);
  if (n == 0 || n > 20)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (room_id[i] < '0' || room_id[i] > '9')
      return false;
    unsigned d = (unsigned)(room_id[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* ------------------------------------------------------------------ ttwid */

/* RFC 6265 cookie-octet. */
static bool cookie_octet(unsigned char c)
{
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

bool ttb_webcast_ttwid(const char *value, size_t len, char *out, size_t cap)
{
  static const char name[] = "ttwid=";
  size_t i = 0;
  while (i < len && (value[i] == ' ' || value[i] == '\t'))
    i++;
  if (len - i < sizeof name - 1 || memcmp(value + i, name, sizeof name - 1) != 0)
    return false;
  i += sizeof name - 1;
  size_t start = i;
  while (i < len && value[i] != ';' && value[i] != '\r' && value[i] != '\n') {
    if (!cookie_octet((unsigned char)value[i]))
      return false;
    i++;
  }
  size_t n = i - start;
  if (n == 0 || n + 1 > cap)
    return false;
  memcpy(out, value + start, n);
  out[n] = '\0';
  return true;
}

bool ttb_webcast_ttwid_header(const char *line, size_t len, char *out, size_t cap)
{
  static const char name[] = "set-cookie:";
  if (len < sizeof name - 1)
    return false;
  for (size_t i = 0; i < sizeof name - 1; i++)
    if (tolower((unsigned char)line[i]) != name[i])
      return false;
  return ttb_webcast_ttwid(line + sizeof name - 1, len - (sizeof name - 1), out, cap);
}

/* ------------------------------------------------------------------ lookup */

#define LOOKUP_MAX_TOKENS (1u << 17)

/* The value of key in the object at token obj when it is an object, else -1. */
static int member_object(ttb_jr *r, int obj, const char *key)
{
  if (obj < 0 || r->toks[obj].type != JSMN_OBJECT)
    return -1;
  int v = ttb_jr_find_key(r, obj, key, strlen(key));
  return v >= 0 && r->toks[v].type == JSMN_OBJECT ? v : -1;
}

/* An integer member; false when absent or not an integer. */
static bool member_i64(ttb_jr *r, int obj, const char *key, int64_t *out)
{
  if (obj < 0 || r->toks[obj].type != JSMN_OBJECT)
    return false;
  int v = ttb_jr_find_key(r, obj, key, strlen(key));
  if (v < 0 || r->toks[v].type != JSMN_PRIMITIVE)
    return false;
  ttb_json_status st = r->status;
  char e[TTB_JSON_ERR_SIZE];
  memcpy(e, r->err, sizeof e);
  bool ok = ttb_jr_i64(r, v, key, INT64_MIN, INT64_MAX, out);
  if (!ok) { /* a float or a literal: not an error of the document */
    r->status = st;
    memcpy(r->err, e, sizeof e);
  }
  return ok;
}

static void lookup_set(ttb_webcast_lookup *out, ttb_webcast_lookup_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void lookup_set(ttb_webcast_lookup *out, ttb_webcast_lookup_status st, const char *fmt, ...)
{
  out->status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->message, sizeof out->message, fmt, ap);
  va_end(ap);
}

void ttb_webcast_parse_lookup(long http_status, const char *body, size_t len,
                              ttb_webcast_lookup *out)
{
  memset(out, 0, sizeof *out);
  if (http_status == 403 || http_status == 429) {
    lookup_set(out, TTB_WEBCAST_BLOCKED, "TikTok refused the room lookup (HTTP %ld)", http_status);
    return;
  }
  if (http_status < 200 || http_status > 299) {
    lookup_set(out, TTB_WEBCAST_LOOKUP_ERROR, "the room lookup failed (HTTP %ld)", http_status);
    return;
  }
  size_t i = 0;
  while (body != NULL && i < len && strchr(" \t\r\n", body[i]) != NULL && body[i] != '\0')
    i++;
  if (body == NULL || i == len) {
    lookup_set(out, TTB_WEBCAST_BLOCKED, "TikTok sent an empty room lookup (HTTP %ld)",
               http_status);
    return;
  }
  ttb_jr r;
  if (!ttb_jr_parse_alloc(&r, body, len, LOOKUP_MAX_TOKENS)) {
    ttb_jr_finish(&r);
    lookup_set(out, TTB_WEBCAST_BLOCKED, "TikTok's room lookup is not JSON (HTTP %ld)",
               http_status);
    return;
  }
  int64_t code;
  if (!member_i64(&r, 0, "statusCode", &code)) {
    lookup_set(out, TTB_WEBCAST_LOOKUP_ERROR, "the room lookup has no statusCode");
    goto done;
  }
  if (code == 19881007) {
    lookup_set(out, TTB_WEBCAST_NO_USER, "no such TikTok user");
    goto done;
  }
  if (code != 0) {
    lookup_set(out, TTB_WEBCAST_LOOKUP_ERROR, "the room lookup failed (statusCode %" PRId64 ")",
               code);
    goto done;
  }
  int data = member_object(&r, 0, "data");
  int user = member_object(&r, data, "user");
  int rid = user >= 0 ? ttb_jr_find_key(&r, user, "roomId", 6) : -1;
  char room[TTB_WEBCAST_ROOM_MAX];
  if (rid < 0 || r.toks[rid].type != JSMN_STRING ||
      !ttb_jr_string_buf(&r, rid, "roomId", sizeof room - 1, room, sizeof room)) {
    lookup_set(out, TTB_WEBCAST_LOOKUP_ERROR, "the room lookup has no data.user.roomId string");
    goto done;
  }
  if (room[0] == '\0' || strcmp(room, "0") == 0) {
    lookup_set(out, TTB_WEBCAST_NOT_LIVE, "not live");
    goto done;
  }
  uint64_t rv;
  if (!ttb_webcast_room_u64(room, &rv) || rv == 0) {
    lookup_set(out, TTB_WEBCAST_LOOKUP_ERROR, "the room lookup's roomId is not a number");
    goto done;
  }
  int64_t st;
  if (!member_i64(&r, member_object(&r, data, "liveRoom"), "status", &st) &&
      !member_i64(&r, user, "status", &st)) {
    lookup_set(out, TTB_WEBCAST_NOT_LIVE, "not live (no live status)");
    goto done;
  }
  if (st == 2) {
    lookup_set(out, TTB_WEBCAST_LIVE, "live");
    snprintf(out->room_id, sizeof out->room_id, "%s", room);
  } else if (st == 4) {
    lookup_set(out, TTB_WEBCAST_NOT_LIVE, "not live (the LIVE has ended)");
  } else {
    lookup_set(out, TTB_WEBCAST_NOT_LIVE, "not live (status %" PRId64 ")", st);
  }
done:
  ttb_jr_finish(&r);
}

/* ------------------------------------------------------------------ frames out */

static uint8_t *pack_frame(Tiktok__Webcast__PushFrame *f, size_t head, size_t *len)
{
  size_t n = tiktok__webcast__push_frame__get_packed_size(f);
  uint8_t *buf = malloc(head + n + 1);
  if (buf == NULL)
    return NULL;
  *len = tiktok__webcast__push_frame__pack(f, buf + head);
  return buf;
}

uint8_t *ttb_webcast_heartbeat(uint64_t room_id, size_t head, size_t *len)
{
  Tiktok__Webcast__Heartbeat hb = TIKTOK__WEBCAST__HEARTBEAT__INIT;
  hb.room_id = room_id;
  uint8_t payload[16];
  size_t n = tiktok__webcast__heartbeat__pack(&hb, payload);
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.payload_encoding = "pb";
  f.payload_type = "hb";
  f.payload.data = payload;
  f.payload.len = n;
  return pack_frame(&f, head, len);
}

uint8_t *ttb_webcast_enter_room(uint64_t room_id, size_t head, size_t *len)
{
  Tiktok__Webcast__ImEnterRoom e = TIKTOK__WEBCAST__IM_ENTER_ROOM__INIT;
  e.room_id = (int64_t)room_id;
  e.live_id = 12;
  e.identity = "audience";
  e.filter_welcome_msg = "0";
  uint8_t payload[64];
  if (tiktok__webcast__im_enter_room__get_packed_size(&e) > sizeof payload)
    return NULL;
  size_t n = tiktok__webcast__im_enter_room__pack(&e, payload);
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.payload_encoding = "pb";
  f.payload_type = "im_enter_room";
  f.payload.data = payload;
  f.payload.len = n;
  return pack_frame(&f, head, len);
}

uint8_t *ttb_webcast_ack(uint64_t log_id, const uint8_t *ext, size_t ext_len, size_t head,
                         size_t *len)
{
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.log_id = log_id;
  f.payload_encoding = "pb";
  f.payload_type = "ack";
  f.payload.data = (uint8_t *)ext;
  f.payload.len = ext_len;
  return pack_frame(&f, head, len);
}

/* ------------------------------------------------------------------ gunzip */

int ttb_webcast_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len,
                       char *err, size_t errlen)
{
  *out = NULL;
  *out_len = 0;
  if (in == NULL || len == 0) {
    seterr(err, errlen, "gzip: the payload is empty");
    return -1;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    seterr(err, errlen, "gzip: cannot start inflating");
    return -1;
  }
  size_t cap = len < max / 4 ? len * 4 : max;
  if (cap < 1024)
    cap = max < 1024 ? max : 1024;
  uint8_t *buf = malloc(cap + 1);
  if (buf == NULL) {
    inflateEnd(&z);
    seterr(err, errlen, "out of memory");
    return -1;
  }
  size_t done = 0;
  const uint8_t *ip = in;
  size_t left = len;
  int rc;
  for (;;) {
    if (done == cap) {
      if (cap >= max) {
        free(buf);
        inflateEnd(&z);
        seterr(err, errlen, "gzip: the payload inflates to more than %zu bytes", max);
        return -1;
      }
      size_t ncap = cap * 2 > max ? max : cap * 2;
      uint8_t *nb = realloc(buf, ncap + 1);
      if (nb == NULL) {
        free(buf);
        inflateEnd(&z);
        seterr(err, errlen, "out of memory");
        return -1;
      }
      buf = nb;
      cap = ncap;
    }
    /* zlib counts in uInt: feed at most 1 GiB at a time */
    uInt in_now = left > (1u << 30) ? (1u << 30) : (uInt)left;
    z.next_in = (Bytef *)ip;
    z.avail_in = in_now;
    z.next_out = buf + done;
    z.avail_out = (uInt)(cap - done);
    rc = inflate(&z, Z_NO_FLUSH);
    size_t used = in_now - z.avail_in;
    ip += used;
    left -= used;
    done = cap - z.avail_out;
    if (rc == Z_STREAM_END)
      break;
    if (rc == Z_OK)
      continue;
    if (rc == Z_BUF_ERROR && z.avail_out == 0)
      continue; /* room needed: grown above */
    free(buf);
    inflateEnd(&z);
    if (rc == Z_BUF_ERROR)
      seterr(err, errlen, "gzip: the payload is truncated");
    else
      seterr(err, errlen, "gzip: %s", z.msg ? z.msg : "corrupt data");
    return -1;
  }
  inflateEnd(&z);
  *out = buf;
  *out_len = done;
  return 0;
}

/* ------------------------------------------------------------------ frames in */

/* Length of the well-formed UTF-8 sequence at s (of n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t k;
  unsigned min, cp;
  if (c >= 0xC2 && c <= 0xDF) {
    k = 2;
    cp = c & 0x1F;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    k = 3;
    cp = c & 0x0F;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    k = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < k)
    return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return k;
}

/* A copy of s as valid UTF-8 without control characters (each becomes a
 * space, an invalid byte U+FFFD), cut at a character boundary to at most
 * max bytes. NULL when out of memory. */
static char *clean_text(const char *s, size_t max)
{
  if (s == NULL)
    s = "";
  size_t n = strlen(s);
  char *o = malloc(max + 1);
  if (o == NULL)
    return NULL;
  size_t w = 0;
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t k = utf8_seq(p + i, n - i);
    if (k == 0) {
      if (w + 3 > max)
        break;
      memcpy(o + w, "\xEF\xBF\xBD", 3);
      w += 3;
      i++;
      continue;
    }
    if (w + k > max)
      break;
    if (k == 1 && (p[i] < 0x20 || p[i] == 0x7F))
      o[w] = ' ';
    else
      memcpy(o + w, p + i, k);
    w += k;
    i += k;
  }
  o[w] = '\0';
  return o;
}

static const char *user_name(const Tiktok__Webcast__User *u)
{
  if (u == NULL)
    return "";
  if (u->nickname != NULL && u->nickname[0] != '\0')
    return u->nickname;
  return u->unique_id != NULL ? u->unique_id : "";
}

static uint64_t common_id(const Tiktok__Webcast__Common *c)
{
  return c != NULL ? (uint64_t)c->msg_id : 0;
}

/* Maps one Message into ev; false when out of memory. */
static bool map_message(const Tiktok__Webcast__Message *m, ttb_webcast_event *ev)
{
  const char *method = m->method != NULL ? m->method : "";
  ev->msg_id = (uint64_t)m->msg_id;
  if (strcmp(method, "WebcastChatMessage") == 0) {
    Tiktok__Webcast__WebcastChatMessage *c =
        tiktok__webcast__webcast_chat_message__unpack(NULL, m->payload.len, m->payload.data);
    if (c == NULL) {
      ev->kind = TTB_WEBCAST_BAD;
      return true;
    }
    ev->kind = TTB_WEBCAST_CHAT;
    if (ev->msg_id == 0)
      ev->msg_id = common_id(c->common);
    ev->user = clean_text(user_name(c->user), TTB_WEBCAST_USER_MAX);
    ev->text = clean_text(c->comment, TTB_WEBCAST_TEXT_MAX);
    tiktok__webcast__webcast_chat_message__free_unpacked(c, NULL);
    return ev->user != NULL && ev->text != NULL;
  }
  if (strcmp(method, "WebcastGiftMessage") == 0) {
    Tiktok__Webcast__WebcastGiftMessage *g =
        tiktok__webcast__webcast_gift_message__unpack(NULL, m->payload.len, m->payload.data);
    if (g == NULL) {
      ev->kind = TTB_WEBCAST_BAD;
      return true;
    }
    ev->kind = TTB_WEBCAST_GIFT;
    if (ev->msg_id == 0)
      ev->msg_id = common_id(g->common);
    ev->user = clean_text(user_name(g->user), TTB_WEBCAST_USER_MAX);
    ev->gift_name = clean_text(g->gift != NULL ? g->gift->name : "", TTB_WEBCAST_GIFT_MAX);
    ev->gift_id =
        g->gift != NULL && g->gift->id != 0 ? (uint64_t)g->gift->id : (uint64_t)g->gift_id;
    snprintf(ev->streak_key, sizeof ev->streak_key, "%" PRId64 ":%" PRIu64,
             g->user != NULL ? g->user->id : 0, g->group_id);
    ev->count = 1;
    ev->diamonds =
        g->gift != NULL && g->gift->diamond_count > 0 ? (uint32_t)g->gift->diamond_count : 0;
    if (g->gift != NULL && g->gift->type == 1) {
      /* a streak's events count from 1: a missing or odd count is its first */
      ev->repeat_count = g->repeat_count > 0 ? (uint32_t)g->repeat_count : 1;
      ev->repeat_end = g->repeat_end == 1;
    } else {
      ev->repeat_count = 0;
      ev->repeat_end = false;
    }
    tiktok__webcast__webcast_gift_message__free_unpacked(g, NULL);
    return ev->user != NULL && ev->gift_name != NULL;
  }
  if (strcmp(method, "WebcastControlMessage") == 0) {
    Tiktok__Webcast__WebcastControlMessage *c =
        tiktok__webcast__webcast_control_message__unpack(NULL, m->payload.len, m->payload.data);
    if (c == NULL) {
      ev->kind = TTB_WEBCAST_BAD;
      return true;
    }
    ev->kind = c->action == 3 ? TTB_WEBCAST_END : TTB_WEBCAST_CONTROL;
    if (ev->msg_id == 0)
      ev->msg_id = common_id(c->common);
    tiktok__webcast__webcast_control_message__free_unpacked(c, NULL);
    return true;
  }
  ev->kind = TTB_WEBCAST_OTHER;
  return true;
}

static bool is_gzip_header(const Tiktok__Webcast__PushFrame *f)
{
  for (size_t i = 0; i < f->n_headers; i++) {
    const Tiktok__Webcast__PushFrame__HeadersEntry *h = f->headers[i];
    if (h != NULL && h->key != NULL && h->value != NULL && strcmp(h->key, "compress_type") == 0 &&
        strcmp(h->value, "gzip") == 0)
      return true;
  }
  return false;
}

int ttb_webcast_decode(const uint8_t *buf, size_t len, ttb_webcast_frame *out, char *err,
                       size_t errlen)
{
  memset(out, 0, sizeof *out);
  if (len > TTB_WEBCAST_MSG_MAX) {
    seterr(err, errlen, "a push frame of %zu bytes (at most %u)", len, TTB_WEBCAST_MSG_MAX);
    return -1;
  }
  Tiktok__Webcast__PushFrame *f = tiktok__webcast__push_frame__unpack(NULL, len, buf);
  if (f == NULL) {
    seterr(err, errlen, "not a push frame");
    return -1;
  }
  int rc = -1;
  uint8_t *inflated = NULL;
  Tiktok__Webcast__FetchResult *fr = NULL;
  const char *pt = f->payload_type != NULL ? f->payload_type : "";
  out->log_id = f->log_id;
  if (strcmp(pt, "im_enter_room_resp") == 0) {
    out->type = TTB_WEBCAST_FRAME_ENTER_RESP;
    rc = 0;
    goto done;
  }
  if (strcmp(pt, "hb") == 0) {
    out->type = TTB_WEBCAST_FRAME_HB;
    rc = 0;
    goto done;
  }
  if (strcmp(pt, "msg") != 0) {
    out->type = TTB_WEBCAST_FRAME_OTHER;
    rc = 0;
    goto done;
  }
  out->type = TTB_WEBCAST_FRAME_MSG;
  const uint8_t *p = f->payload.data;
  size_t n = f->payload.len;
  if (is_gzip_header(f) || (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)) {
    if (ttb_webcast_gunzip(p, n, TTB_WEBCAST_INFLATE_MAX, &inflated, &n, err, errlen) != 0)
      goto done;
    p = inflated;
  }
  fr = tiktok__webcast__fetch_result__unpack(NULL, n, p);
  if (fr == NULL) {
    seterr(err, errlen, "a msg frame whose payload is not a FetchResult");
    goto done;
  }
  if (fr->need_ack && fr->internal_ext != NULL && fr->internal_ext[0] != '\0') {
    size_t el = strlen(fr->internal_ext);
    out->ack_ext = malloc(el);
    if (out->ack_ext == NULL) {
      seterr(err, errlen, "out of memory");
      goto done;
    }
    memcpy(out->ack_ext, fr->internal_ext, el);
    out->ack_ext_len = el;
    out->need_ack = true;
  }
  if (fr->n_messages > 0) {
    out->events = calloc(fr->n_messages, sizeof *out->events);
    if (out->events == NULL) {
      seterr(err, errlen, "out of memory");
      goto done;
    }
  }
  for (size_t i = 0; i < fr->n_messages; i++) {
    ttb_webcast_event *ev = &out->events[out->n_events++];
    if (fr->messages[i] == NULL) {
      ev->kind = TTB_WEBCAST_BAD;
      continue;
    }
    if (!map_message(fr->messages[i], ev)) {
      seterr(err, errlen, "out of memory");
      goto done;
    }
  }
  rc = 0;
done:
  if (fr != NULL)
    tiktok__webcast__fetch_result__free_unpacked(fr, NULL);
  free(inflated);
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
  if (rc != 0) {
    ttb_webcast_frame_free(out);
    out->type = TTB_WEBCAST_FRAME_OTHER;
  }
  return rc;
}

void ttb_webcast_frame_free(ttb_webcast_frame *f)
{
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->n_events; i++) {
    free(f->events[i].user);
    free(f->events[i].text);
    free(f->events[i].gift_name);
  }
  free(f->events);
  free(f->ack_ext);
  memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ dedup */

struct ttb_webcast_dedup {
  uint64_t *ring; /* the ids in arrival order */
  size_t window, head, count;
  uint64_t *set; /* open addressing, linear probing; 0 = empty */
  size_t mask;
};

static size_t slot_of(const ttb_webcast_dedup *d, uint64_t id)
{
  uint64_t x = id;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return (size_t)x & d->mask;
}

ttb_webcast_dedup *ttb_webcast_dedup_new(size_t window)
{
  if (window == 0)
    window = 4096;
  if (window > (1u << 24))
    window = 1u << 24;
  size_t size = 16;
  while (size < window * 2)
    size *= 2;
  ttb_webcast_dedup *d = calloc(1, sizeof *d);
  if (d == NULL)
    return NULL;
  d->ring = calloc(window, sizeof *d->ring);
  d->set = calloc(size, sizeof *d->set);
  if (d->ring == NULL || d->set == NULL) {
    ttb_webcast_dedup_free(d);
    return NULL;
  }
  d->window = window;
  d->mask = size - 1;
  return d;
}

void ttb_webcast_dedup_free(ttb_webcast_dedup *d)
{
  if (d == NULL)
    return;
  free(d->ring);
  free(d->set);
  free(d);
}

/* Removes id from the set (backward-shift deletion keeps probes intact). */
static void set_remove(ttb_webcast_dedup *d, uint64_t id)
{
  size_t i = slot_of(d, id);
  while (d->set[i] != id) {
    if (d->set[i] == 0)
      return;
    i = (i + 1) & d->mask;
  }
  size_t j = i;
  for (;;) {
    d->set[i] = 0;
    for (;;) {
      j = (j + 1) & d->mask;
      if (d->set[j] == 0)
        return;
      size_t k = slot_of(d, d->set[j]);
      /* move set[j] into the hole at i unless its home k lies cyclically in (i, j] */
      bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays)
        break;
    }
    d->set[i] = d->set[j];
    i = j;
  }
}

bool ttb_webcast_dedup_check(ttb_webcast_dedup *d, uint64_t id)
{
  if (id == 0)
    return false;
  size_t i = slot_of(d, id);
  while (d->set[i] != 0) {
    if (d->set[i] == id)
      return true;
    i = (i + 1) & d->mask;
  }
  if (d->count == d->window) {
    uint64_t old = d->ring[d->head];
    set_remove(d, old);
    d->count--;
    /* the removal may have moved entries: find the free slot again */
    i = slot_of(d, id);
    while (d->set[i] != 0)
      i = (i + 1) & d->mask;
  }
  d->set[i] = id;
  d->ring[d->head] = id;
  d->head = (d->head + 1) % d->window;
  d->count++;
  return false;
}
