/* TikTok's webcast protocol, the pure half (server/src/webcast.h): URLs, the
 * ttwid, the room lookup, frames both ways, the dedup window. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tiktok/webcast.pb-c.h"
#include "webcast.h"

/* ------------------------------------------------------------------ URLs */

Test(webcast, lookup_url)
{
  char u[TTB_WEBCAST_URL_MAX];
  cr_assert_eq(ttb_webcast_lookup_url("http://127.0.0.1:9/", "@some.user_1", u, sizeof u), 0);
  cr_assert_str_eq(u, "http://127.0.0.1:9/api-live/user/room?aid=1988&app_name=tiktok_web"
                      "&device_platform=web_pc&app_language=en&browser_language=en-US&region=US"
                      "&user_is_login=false&uniqueId=some.user_1&sourceType=54&staleTime=600000");
  char small[40];
  cr_assert_eq(ttb_webcast_lookup_url("https://www.tiktok.com", "x", small, sizeof small), -1);
}

Test(webcast, ws_url)
{
  char u[TTB_WEBCAST_URL_MAX];
  cr_assert_eq(ttb_webcast_ws_url("wss://webcast-ws.tiktok.com", "7301234567890123456",
                                  "Europe/Berlin", 150, u, sizeof u),
               0);
  const char *want_prefix = "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"
                            "?version_code=180800&device_platform=web&cookie_enabled=true";
  cr_assert(strncmp(u, want_prefix, strlen(want_prefix)) == 0, "%s", u);
  cr_assert(strstr(u, "&browser_platform=Linux%20x86_64&") != NULL, "%s", u);
  cr_assert(strstr(u, "&browser_version=5.0%20%28X11%29&") != NULL, "%s", u);
  cr_assert(strstr(u, "&tz_name=Europe%2FBerlin&") != NULL, "%s", u);
  cr_assert(strstr(u, "&room_id=7301234567890123456&") != NULL, "%s", u);
  cr_assert(strstr(u, "&last_rtt=150&") != NULL, "%s", u);
  cr_assert(strstr(u, "&compress=gzip&") != NULL, "%s", u);
  cr_assert(strstr(u, "&identity=audience&") != NULL, "%s", u);
  size_t n = strlen(u);
  cr_assert(n > 12 && strcmp(u + n - 11, "&did_rule=3") == 0, "%s", u);
  char small[64];
  cr_assert_eq(ttb_webcast_ws_url("ws://h", "1", "UTC", 100, small, sizeof small), -1);
}

Test(webcast, room_u64)
{
  uint64_t v;
  cr_assert(ttb_webcast_room_u64("7301234567890123456", &v));
  cr_assert_eq(v, 7301234567890123456ULL);
  cr_assert(ttb_webcast_room_u64("18446744073709551615", &v));
  cr_assert_eq(v, UINT64_MAX);
  cr_assert_not(ttb_webcast_room_u64("18446744073709551616", &v));
  cr_assert_not(ttb_webcast_room_u64("", &v));
  cr_assert_not(ttb_webcast_room_u64("12a", &v));
  cr_assert_not(ttb_webcast_room_u64("-1", &v));
}

/* ------------------------------------------------------------------ ttwid */

Test(webcast, ttwid)
{
  char t[TTB_WEBCAST_TTWID_MAX];
  const char *v = "ttwid=1%7Cabc%7C1700000000%7Cdef; Path=/; Domain=tiktok.com; HttpOnly";
  cr_assert(ttb_webcast_ttwid(v, strlen(v), t, sizeof t));
  cr_assert_str_eq(t, "1%7Cabc%7C1700000000%7Cdef");
  v = "ttwid=1|raw|pipes";
  cr_assert(ttb_webcast_ttwid(v, strlen(v), t, sizeof t));
  cr_assert_str_eq(t, "1|raw|pipes");
  v = "other=1; ttwid=2";
  cr_assert_not(ttb_webcast_ttwid(v, strlen(v), t, sizeof t));
  v = "ttwid=; Path=/";
  cr_assert_not(ttb_webcast_ttwid(v, strlen(v), t, sizeof t));
  v = "ttwid=a b";
  cr_assert_not(ttb_webcast_ttwid(v, strlen(v), t, sizeof t));
  v = "ttwid=0123456789";
  cr_assert_not(ttb_webcast_ttwid(v, strlen(v), t, 8)); /* does not fit */
  const char *h = "set-cookie: ttwid=xyz; Path=/\r\n";
  cr_assert(ttb_webcast_ttwid_header(h, strlen(h), t, sizeof t));
  cr_assert_str_eq(t, "xyz");
  h = "Set-Cookie: ttwid=xyz\r\n";
  cr_assert(ttb_webcast_ttwid_header(h, strlen(h), t, sizeof t));
  cr_assert_str_eq(t, "xyz");
  h = "Set-Cookie: msToken=abc\r\n";
  cr_assert_not(ttb_webcast_ttwid_header(h, strlen(h), t, sizeof t));
  h = "Content-Type: ttwid=1\r\n";
  cr_assert_not(ttb_webcast_ttwid_header(h, strlen(h), t, sizeof t));
}

/* ------------------------------------------------------------------ lookup */

static ttb_webcast_lookup lookup(long http, const char *body)
{
  ttb_webcast_lookup l;
  ttb_webcast_parse_lookup(http, body, body ? strlen(body) : 0, &l);
  return l;
}

Test(webcast, lookup_live)
{
  ttb_webcast_lookup l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"id\":\"1\","
                                     "\"roomId\":\"7301234567890123456\",\"status\":2},"
                                     "\"liveRoom\":{\"status\":2,\"title\":\"x\"}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_LIVE, "%s", l.message);
  cr_assert_str_eq(l.room_id, "7301234567890123456"); /* beyond 2^53: kept exact */
  /* user.status when there is no liveRoom */
  l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":\"42\",\"status\":2}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_LIVE);
  cr_assert_str_eq(l.room_id, "42");
}

Test(webcast, lookup_not_live)
{
  ttb_webcast_lookup l =
      lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":\"0\",\"status\":4}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_NOT_LIVE);
  cr_assert_str_eq(l.room_id, "");
  l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":\"\"}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_NOT_LIVE);
  /* a room id, but the live room says 4 (ended), over the user's 2 */
  l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":\"55\",\"status\":2},"
                  "\"liveRoom\":{\"status\":4}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_NOT_LIVE);
  cr_assert(strstr(l.message, "ended") != NULL, "%s", l.message);
  cr_assert_str_eq(l.room_id, "");
  l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":\"55\"}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_NOT_LIVE);
}

Test(webcast, lookup_unknown_user_and_errors)
{
  ttb_webcast_lookup l = lookup(200, "{\"statusCode\":19881007,\"data\":{}}");
  cr_assert_eq(l.status, TTB_WEBCAST_NO_USER);
  l = lookup(200, "{\"statusCode\":10222,\"statusMsg\":\"x\"}");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR);
  cr_assert(strstr(l.message, "10222") != NULL, "%s", l.message);
  l = lookup(200, "{\"data\":{}}");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR);
  l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":7301234567890123456}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR); /* a number: not trusted */
  l = lookup(200, "{\"statusCode\":0,\"data\":{\"user\":{\"roomId\":\"12x\",\"status\":2}}}");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR);
  l = lookup(200, "{\"statusCode\":0}");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR);
  l = lookup(500, "{\"statusCode\":0}");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR);
  cr_assert(strstr(l.message, "500") != NULL);
  l = lookup(200, "[1,2]");
  cr_assert_eq(l.status, TTB_WEBCAST_LOOKUP_ERROR);
}

Test(webcast, lookup_blocked)
{
  cr_assert_eq(lookup(403, "{\"statusCode\":0}").status, TTB_WEBCAST_BLOCKED);
  cr_assert_eq(lookup(429, "").status, TTB_WEBCAST_BLOCKED);
  cr_assert_eq(lookup(200, "").status, TTB_WEBCAST_BLOCKED);
  cr_assert_eq(lookup(200, NULL).status, TTB_WEBCAST_BLOCKED);
  cr_assert_eq(lookup(200, " \r\n ").status, TTB_WEBCAST_BLOCKED);
  cr_assert_eq(lookup(200, "<html>captcha</html>").status, TTB_WEBCAST_BLOCKED);
  cr_assert_eq(lookup(200, "{\"statusCode\":0,").status, TTB_WEBCAST_BLOCKED);
}

/* ------------------------------------------------------------------ frames */

static Tiktok__Webcast__PushFrame *unpack_frame(const uint8_t *buf, size_t len)
{
  Tiktok__Webcast__PushFrame *f = tiktok__webcast__push_frame__unpack(NULL, len, buf);
  cr_assert_not_null(f);
  return f;
}

Test(webcast, client_frames)
{
  size_t len;
  uint8_t *b = ttb_webcast_heartbeat(7301234567890123456ULL, 16, &len);
  cr_assert_not_null(b);
  Tiktok__Webcast__PushFrame *f = unpack_frame(b + 16, len);
  cr_assert_str_eq(f->payload_type, "hb");
  cr_assert_str_eq(f->payload_encoding, "pb");
  Tiktok__Webcast__Heartbeat *hb =
      tiktok__webcast__heartbeat__unpack(NULL, f->payload.len, f->payload.data);
  cr_assert_not_null(hb);
  cr_assert_eq(hb->room_id, 7301234567890123456ULL);
  tiktok__webcast__heartbeat__free_unpacked(hb, NULL);
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
  free(b);

  b = ttb_webcast_enter_room(42, 0, &len);
  cr_assert_not_null(b);
  f = unpack_frame(b, len);
  cr_assert_str_eq(f->payload_type, "im_enter_room");
  Tiktok__Webcast__ImEnterRoom *e =
      tiktok__webcast__im_enter_room__unpack(NULL, f->payload.len, f->payload.data);
  cr_assert_not_null(e);
  cr_assert_eq(e->room_id, 42);
  cr_assert_eq(e->live_id, 12);
  cr_assert_str_eq(e->identity, "audience");
  cr_assert_str_eq(e->filter_welcome_msg, "0");
  tiktok__webcast__im_enter_room__free_unpacked(e, NULL);
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
  free(b);

  b = ttb_webcast_ack(99, (const uint8_t *)"ext-bytes", 9, 0, &len);
  cr_assert_not_null(b);
  f = unpack_frame(b, len);
  cr_assert_str_eq(f->payload_type, "ack");
  cr_assert_str_eq(f->payload_encoding, "pb");
  cr_assert_eq(f->log_id, 99);
  cr_assert_eq(f->payload.len, 9);
  cr_assert(memcmp(f->payload.data, "ext-bytes", 9) == 0);
  tiktok__webcast__push_frame__free_unpacked(f, NULL);
  free(b);
}

/* Builders for server frames. */

static ProtobufCBinaryData packed(const ProtobufCMessage *m)
{
  ProtobufCBinaryData d;
  d.len = protobuf_c_message_get_packed_size(m);
  d.data = malloc(d.len + 1);
  cr_assert_not_null(d.data);
  protobuf_c_message_pack(m, d.data);
  return d;
}

static Tiktok__Webcast__Message *chat_msg(int64_t msg_id, int64_t common_id, const char *nick,
                                          const char *handle, const char *comment)
{
  Tiktok__Webcast__Common *common = malloc(sizeof *common);
  tiktok__webcast__common__init(common);
  common->msg_id = common_id;
  Tiktok__Webcast__User *u = malloc(sizeof *u);
  tiktok__webcast__user__init(u);
  u->id = 1234;
  u->nickname = (char *)nick;
  u->unique_id = (char *)handle;
  Tiktok__Webcast__WebcastChatMessage c = TIKTOK__WEBCAST__WEBCAST_CHAT_MESSAGE__INIT;
  c.common = common;
  c.user = u;
  c.comment = (char *)comment;
  Tiktok__Webcast__Message *m = malloc(sizeof *m);
  tiktok__webcast__message__init(m);
  m->method = "WebcastChatMessage";
  m->msg_id = msg_id;
  m->payload = packed(&c.base);
  free(common);
  free(u);
  return m;
}

static Tiktok__Webcast__Message *gift_msg(int64_t msg_id, int64_t sender, int32_t type,
                                          const char *name, int64_t gift_id, int32_t repeat,
                                          int32_t end, uint64_t group)
{
  Tiktok__Webcast__User u = TIKTOK__WEBCAST__USER__INIT;
  u.id = sender;
  u.nickname = "";
  u.unique_id = "giver";
  Tiktok__Webcast__Gift gift = TIKTOK__WEBCAST__GIFT__INIT;
  gift.id = gift_id;
  gift.type = type;
  gift.name = (char *)name;
  /* a value per gift: Rose 1, Lion 29999, others a negative (bad) one */
  gift.diamond_count = strcmp(name, "Rose") == 0 ? 1 : strcmp(name, "Lion") == 0 ? 29999 : -3;
  Tiktok__Webcast__WebcastGiftMessage g = TIKTOK__WEBCAST__WEBCAST_GIFT_MESSAGE__INIT;
  g.user = &u;
  g.gift = &gift;
  g.gift_id = 77;
  g.repeat_count = repeat;
  g.repeat_end = end;
  g.group_id = group;
  Tiktok__Webcast__Message *m = malloc(sizeof *m);
  tiktok__webcast__message__init(m);
  m->method = "WebcastGiftMessage";
  m->msg_id = msg_id;
  m->payload = packed(&g.base);
  return m;
}

static Tiktok__Webcast__Message *control_msg(int64_t msg_id, int32_t action)
{
  Tiktok__Webcast__WebcastControlMessage c = TIKTOK__WEBCAST__WEBCAST_CONTROL_MESSAGE__INIT;
  c.action = action;
  Tiktok__Webcast__Message *m = malloc(sizeof *m);
  tiktok__webcast__message__init(m);
  m->method = "WebcastControlMessage";
  m->msg_id = msg_id;
  m->payload = packed(&c.base);
  return m;
}

static Tiktok__Webcast__Message *raw_msg(const char *method, const char *payload)
{
  Tiktok__Webcast__Message *m = malloc(sizeof *m);
  tiktok__webcast__message__init(m);
  m->method = (char *)method;
  m->msg_id = 5;
  m->payload.len = strlen(payload);
  m->payload.data = malloc(m->payload.len + 1);
  memcpy(m->payload.data, payload, m->payload.len);
  return m;
}

static ProtobufCBinaryData gzip_bytes(const uint8_t *p, size_t n)
{
  z_stream z;
  memset(&z, 0, sizeof z);
  cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  ProtobufCBinaryData d;
  size_t cap = deflateBound(&z, n) + 64;
  d.data = malloc(cap);
  z.next_in = (Bytef *)p;
  z.avail_in = (uInt)n;
  z.next_out = d.data;
  z.avail_out = (uInt)cap;
  cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  d.len = cap - z.avail_out;
  deflateEnd(&z);
  return d;
}

enum { PLAIN, GZIP_HEADER, GZIP_MAGIC };

/* A "msg" PushFrame holding msgs (freed here). */
static uint8_t *msg_frame(Tiktok__Webcast__Message **msgs, size_t n, bool need_ack, const char *ext,
                          int gz, size_t *len)
{
  Tiktok__Webcast__FetchResult fr = TIKTOK__WEBCAST__FETCH_RESULT__INIT;
  fr.messages = msgs;
  fr.n_messages = n;
  fr.need_ack = need_ack;
  fr.internal_ext = (char *)(ext ? ext : "");
  ProtobufCBinaryData payload = packed(&fr.base);
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  Tiktok__Webcast__PushFrame__HeadersEntry h = TIKTOK__WEBCAST__PUSH_FRAME__HEADERS_ENTRY__INIT;
  Tiktok__Webcast__PushFrame__HeadersEntry *hs[1] = {&h};
  h.key = "compress_type";
  h.value = "gzip";
  if (gz != PLAIN) {
    ProtobufCBinaryData z = gzip_bytes(payload.data, payload.len);
    free(payload.data);
    payload = z;
    if (gz == GZIP_HEADER) {
      f.headers = hs;
      f.n_headers = 1;
    }
  }
  f.log_id = 31337;
  f.payload_type = "msg";
  f.payload_encoding = "pb";
  f.payload = payload;
  ProtobufCBinaryData out = packed(&f.base);
  free(payload.data);
  for (size_t i = 0; i < n; i++) {
    free(msgs[i]->payload.data);
    free(msgs[i]);
  }
  *len = out.len;
  return out.data;
}

static void decode_ok(const uint8_t *b, size_t len, ttb_webcast_frame *f)
{
  char err[256] = "";
  int rc = ttb_webcast_decode(b, len, f, err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
}

static void check_chat_frame(int gz)
{
  Tiktok__Webcast__Message *m[3] = {
      chat_msg(1001, 0, "Nick Name", "nick", "hello there"),
      chat_msg(0, 2002, "", "handle_only", "line\nbreak"),
      raw_msg("WebcastLikeMessage", "\x08\x01"),
  };
  size_t len;
  uint8_t *b = msg_frame(m, 3, true, "internal-ext", gz, &len);
  ttb_webcast_frame f;
  decode_ok(b, len, &f);
  cr_assert_eq(f.type, TTB_WEBCAST_FRAME_MSG);
  cr_assert_eq(f.log_id, 31337);
  cr_assert(f.need_ack);
  cr_assert_eq(f.ack_ext_len, 12);
  cr_assert(memcmp(f.ack_ext, "internal-ext", 12) == 0);
  cr_assert_eq(f.n_events, 3);
  cr_assert_eq(f.events[0].kind, TTB_WEBCAST_CHAT);
  cr_assert_eq(f.events[0].msg_id, 1001);
  cr_assert_str_eq(f.events[0].user, "Nick Name");
  cr_assert_str_eq(f.events[0].text, "hello there");
  cr_assert_eq(f.events[1].kind, TTB_WEBCAST_CHAT);
  cr_assert_eq(f.events[1].msg_id, 2002); /* from common */
  cr_assert_str_eq(f.events[1].user, "handle_only");
  cr_assert_str_eq(f.events[1].text, "line break"); /* control characters become spaces */
  cr_assert_eq(f.events[2].kind, TTB_WEBCAST_OTHER);
  ttb_webcast_frame_free(&f);
  free(b);
}

Test(webcast, chat_plain) { check_chat_frame(PLAIN); }
Test(webcast, chat_gzip_by_header) { check_chat_frame(GZIP_HEADER); }
Test(webcast, chat_gzip_by_magic) { check_chat_frame(GZIP_MAGIC); }

Test(webcast, no_ack_without_ext)
{
  Tiktok__Webcast__Message *m[1] = {chat_msg(1, 0, "a", "a", "b")};
  size_t len;
  uint8_t *b = msg_frame(m, 1, true, "", PLAIN, &len);
  ttb_webcast_frame f;
  decode_ok(b, len, &f);
  cr_assert_not(f.need_ack);
  ttb_webcast_frame_free(&f);
  free(b);
  m[0] = chat_msg(1, 0, "a", "a", "b");
  b = msg_frame(m, 1, false, "ext", PLAIN, &len);
  decode_ok(b, len, &f);
  cr_assert_not(f.need_ack);
  ttb_webcast_frame_free(&f);
  free(b);
}

Test(webcast, gifts)
{
  Tiktok__Webcast__Message *m[4] = {
      gift_msg(1, 555, 1, "Rose", 5655, 3, 0, 9001),     /* a streak, running */
      gift_msg(2, 555, 1, "Rose", 5655, 5, 1, 9001),     /* its end */
      gift_msg(3, 556, 2, "Lion", 0, 1, 0, 7),           /* no streak; gift.id 0 -> gift_id */
      gift_msg(4, 557, 1, "Bad \xff name", 1, -4, 2, 0), /* negative count, odd end, bad UTF-8 */
  };
  size_t len;
  uint8_t *b = msg_frame(m, 4, false, NULL, GZIP_MAGIC, &len);
  ttb_webcast_frame f;
  decode_ok(b, len, &f);
  cr_assert_eq(f.n_events, 4);
  ttb_webcast_event *e = f.events;
  cr_assert_eq(e[0].kind, TTB_WEBCAST_GIFT);
  cr_assert_str_eq(e[0].user, "giver");
  cr_assert_str_eq(e[0].gift_name, "Rose");
  cr_assert_eq(e[0].gift_id, 5655);
  cr_assert_str_eq(e[0].streak_key, "555:9001");
  cr_assert_eq(e[0].count, 1);
  cr_assert_eq(e[0].repeat_count, 3);
  cr_assert_not(e[0].repeat_end);
  cr_assert_eq(e[1].repeat_count, 5);
  cr_assert(e[1].repeat_end);
  cr_assert_eq(e[2].kind, TTB_WEBCAST_GIFT);
  cr_assert_str_eq(e[2].gift_name, "Lion");
  cr_assert_eq(e[2].gift_id, 77);
  cr_assert_eq(e[2].count, 1);
  cr_assert_eq(e[2].repeat_count, 0);
  cr_assert_not(e[2].repeat_end);
  cr_assert_str_eq(e[2].streak_key, "556:7");
  cr_assert_eq(e[3].repeat_count, 1); /* a streak counts from 1 */
  cr_assert_not(e[3].repeat_end);
  cr_assert_str_eq(e[3].gift_name, "Bad \xEF\xBF\xBD name");
  /* the gift's value in diamonds (channel settings: gifts.min_diamonds) */
  cr_assert_eq(e[0].diamonds, 1);
  cr_assert_eq(e[2].diamonds, 29999);
  cr_assert_eq(e[3].diamonds, 0, "a negative value is unknown");
  ttb_webcast_frame_free(&f);
  free(b);
}

Test(webcast, control)
{
  Tiktok__Webcast__Message *m[3] = {control_msg(10, 3), control_msg(11, 1),
                                    raw_msg("WebcastChatMessage", "\xff\xff\xff")};
  size_t len;
  uint8_t *b = msg_frame(m, 3, false, NULL, PLAIN, &len);
  ttb_webcast_frame f;
  decode_ok(b, len, &f);
  cr_assert_eq(f.n_events, 3);
  cr_assert_eq(f.events[0].kind, TTB_WEBCAST_END);
  cr_assert_eq(f.events[0].msg_id, 10);
  cr_assert_eq(f.events[1].kind, TTB_WEBCAST_CONTROL);
  cr_assert_eq(f.events[2].kind, TTB_WEBCAST_BAD); /* a chat that does not decode */
  ttb_webcast_frame_free(&f);
  free(b);
}

static uint8_t *typed_frame(const char *type, size_t *len)
{
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.payload_type = (char *)type;
  f.log_id = 8;
  f.payload.data = (uint8_t *)"\x01\x02";
  f.payload.len = 2;
  ProtobufCBinaryData d = packed(&f.base);
  *len = d.len;
  return d.data;
}

Test(webcast, other_frame_types)
{
  const char *types[] = {"hb", "im_enter_room_resp", "something_new", ""};
  ttb_webcast_frame_type want[] = {TTB_WEBCAST_FRAME_HB, TTB_WEBCAST_FRAME_ENTER_RESP,
                                   TTB_WEBCAST_FRAME_OTHER, TTB_WEBCAST_FRAME_OTHER};
  for (size_t i = 0; i < 4; i++) {
    size_t len;
    uint8_t *b = typed_frame(types[i], &len);
    ttb_webcast_frame f;
    decode_ok(b, len, &f);
    cr_assert_eq(f.type, want[i], "%s", types[i]);
    cr_assert_eq(f.n_events, 0);
    ttb_webcast_frame_free(&f);
    free(b);
  }
}

Test(webcast, garbage)
{
  ttb_webcast_frame f;
  char err[256];
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99};
  cr_assert_eq(ttb_webcast_decode(junk, sizeof junk, &f, err, sizeof err), -1);
  cr_assert_eq(f.n_events, 0);
  ttb_webcast_frame_free(&f);
  /* every truncation of a valid gzip frame: an error or a clean decode, never a crash */
  Tiktok__Webcast__Message *m[2] = {chat_msg(1, 0, "a", "a", "hello"),
                                    gift_msg(2, 3, 1, "Rose", 1, 1, 0, 4)};
  size_t len;
  uint8_t *b = msg_frame(m, 2, true, "e", GZIP_HEADER, &len);
  for (size_t n = 0; n < len; n++) {
    uint8_t *copy = malloc(n + 1);
    memcpy(copy, b, n);
    int rc = ttb_webcast_decode(copy, n, &f, err, sizeof err);
    cr_assert(rc == 0 || rc == -1);
    ttb_webcast_frame_free(&f);
    free(copy);
  }
  /* a msg frame whose payload is not a FetchResult */
  Tiktok__Webcast__PushFrame pf = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  pf.payload_type = "msg";
  pf.payload.data = (uint8_t *)"\xff\xff\xff";
  pf.payload.len = 3;
  ProtobufCBinaryData d = packed(&pf.base);
  cr_assert_eq(ttb_webcast_decode(d.data, d.len, &f, err, sizeof err), -1);
  ttb_webcast_frame_free(&f);
  free(d.data);
  /* a gzip header but no gzip */
  Tiktok__Webcast__PushFrame__HeadersEntry h = TIKTOK__WEBCAST__PUSH_FRAME__HEADERS_ENTRY__INIT;
  Tiktok__Webcast__PushFrame__HeadersEntry *hs[1] = {&h};
  h.key = "compress_type";
  h.value = "gzip";
  pf.headers = hs;
  pf.n_headers = 1;
  pf.payload.data = (uint8_t *)"\x0a\x00";
  pf.payload.len = 2;
  d = packed(&pf.base);
  cr_assert_eq(ttb_webcast_decode(d.data, d.len, &f, err, sizeof err), -1);
  cr_assert(strstr(err, "gzip") != NULL, "%s", err);
  ttb_webcast_frame_free(&f);
  free(d.data);
  /* a gzip header and no payload at all (found by fuzz-webcast-frame) */
  pf.payload.data = NULL;
  pf.payload.len = 0;
  d = packed(&pf.base);
  cr_assert_eq(ttb_webcast_decode(d.data, d.len, &f, err, sizeof err), -1);
  ttb_webcast_frame_free(&f);
  free(d.data);
  free(b);
}

Test(webcast, oversize)
{
  /* a bomb: 5 MiB of zeros in a msg payload inflates past the limit */
  size_t big = 5u << 20;
  uint8_t *zeros = calloc(1, big);
  ProtobufCBinaryData z = gzip_bytes(zeros, big);
  free(zeros);
  Tiktok__Webcast__PushFrame pf = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  pf.payload_type = "msg";
  pf.payload = z;
  ProtobufCBinaryData d = packed(&pf.base);
  cr_assert_lt(d.len, TTB_WEBCAST_MSG_MAX);
  ttb_webcast_frame f;
  char err[256];
  cr_assert_eq(ttb_webcast_decode(d.data, d.len, &f, err, sizeof err), -1);
  cr_assert(strstr(err, "more than") != NULL, "%s", err);
  ttb_webcast_frame_free(&f);
  free(d.data);
  free(z.data);
  /* a message over 1 MiB is refused before decoding */
  uint8_t *huge = calloc(1, TTB_WEBCAST_MSG_MAX + 1);
  cr_assert_eq(ttb_webcast_decode(huge, TTB_WEBCAST_MSG_MAX + 1, &f, err, sizeof err), -1);
  free(huge);
  /* gunzip itself: exactly at the limit is fine */
  uint8_t *k = calloc(1, 4096);
  z = gzip_bytes(k, 4096);
  uint8_t *out;
  size_t n;
  cr_assert_eq(ttb_webcast_gunzip(z.data, z.len, 4096, &out, &n, err, sizeof err), 0, "%s", err);
  cr_assert_eq(n, 4096);
  free(out);
  cr_assert_eq(ttb_webcast_gunzip(z.data, z.len, 4095, &out, &n, err, sizeof err), -1);
  free(z.data);
  free(k);
}

Test(webcast, long_text_is_cut_on_a_character)
{
  char text[2100];
  size_t o = 0;
  while (o + 2 < sizeof text - 1) {
    text[o++] = '\xC3'; /* é */
    text[o++] = '\xA9';
  }
  text[o] = '\0';
  Tiktok__Webcast__Message *m[1] = {chat_msg(1, 0, "n", "n", text)};
  size_t len;
  uint8_t *b = msg_frame(m, 1, false, NULL, PLAIN, &len);
  ttb_webcast_frame f;
  decode_ok(b, len, &f);
  cr_assert_eq(strlen(f.events[0].text), TTB_WEBCAST_TEXT_MAX);
  ttb_webcast_frame_free(&f);
  free(b);
}

/* ------------------------------------------------------------------ dedup */

Test(webcast, dedup_window)
{
  ttb_webcast_dedup *d = ttb_webcast_dedup_new(100);
  cr_assert_not_null(d);
  cr_assert_not(ttb_webcast_dedup_check(d, 0));
  cr_assert_not(ttb_webcast_dedup_check(d, 0)); /* 0 is never a duplicate */
  for (uint64_t i = 1; i <= 100; i++)
    cr_assert_not(ttb_webcast_dedup_check(d, i * 7919));
  for (uint64_t i = 1; i <= 100; i++)
    cr_assert(ttb_webcast_dedup_check(d, i * 7919));
  /* 50 more push the 50 oldest out */
  for (uint64_t i = 101; i <= 150; i++)
    cr_assert_not(ttb_webcast_dedup_check(d, i * 7919));
  for (uint64_t i = 51; i <= 150; i++)
    cr_assert(ttb_webcast_dedup_check(d, i * 7919), "%llu", (unsigned long long)i);
  cr_assert_not(ttb_webcast_dedup_check(d, 1 * 7919)); /* forgotten: new again */
  ttb_webcast_dedup_free(d);

  /* many ids through a small window, against a model: the ring of the
   * last 64 ids that were not duplicates */
  d = ttb_webcast_dedup_new(64);
  cr_assert_not_null(d);
  uint64_t x = 88172645463325252ULL;
  uint64_t model[64] = {0};
  size_t mhead = 0;
  for (size_t i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t id = (x % 300) + 1; /* repeats, and hash collisions */
    bool want = false;
    for (size_t k = 0; k < 64; k++)
      if (model[k] == id)
        want = true;
    cr_assert_eq(ttb_webcast_dedup_check(d, id), want, "step %zu id %llu", i,
                 (unsigned long long)id);
    if (!want) {
      model[mhead] = id;
      mhead = (mhead + 1) % 64;
    }
  }
  ttb_webcast_dedup_free(d);
  ttb_webcast_dedup_free(NULL);
}
