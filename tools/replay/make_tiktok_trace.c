/*
 * make-tiktok-trace OUT: writes tools/replay/traces/tiktok-demo.ttbtrace, a
 * made-up 31-second TikTok LIVE push stream in exactly the format the
 * server's connector records with --tiktok-trace DIR (header source
 * "ttboost-server tiktok", one TiktokFrame record per WebSocket message,
 * docs/replay.md): an im_enter_room_resp, "msg" frames carrying FetchResults
 * of WebcastChatMessage (Russian, English, Kazakh; one viewer without a
 * nickname), a streak of five Roses (repeat_count 1..5, repeat_end on the
 * last, one group id), a Galaxy that does not streak, other methods
 * (WebcastLikeMessage, WebcastMemberMessage, WebcastRoomUserSeqMessage), a
 * re-sent message (a duplicate msg_id), server "hb" frames; payloads gzip'ed
 * (with the compress_type header, and once without it) or plain; need_ack
 * with internal_ext on some frames. No WebcastControlMessage: ttb-replay
 * --tiktok-serve --end-after appends the end of the stream.
 *
 * What a device should get from it: 17 chats (the duplicate dropped) and two
 * gifts, Rose x5 then Galaxy x1. Deterministic (a fixed created_us, no
 * clock, no randomness): tests/replay/tiktok_demo_fresh.sh checks the
 * committed file against a fresh run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiktok/webcast.pb-c.h"
#include "tiktok_frame.h"
#include "trace_ext.h"

#define CREATED_US UINT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define ROOM_ID "7301234567890123456"
#define ROOM_ID_N INT64_C(7301234567890123456)
#define MSG_ID_BASE INT64_C(7301500000000000000)

static ttb_trace_writer *W;
static uint64_t seq_id = 1000, log_id = UINT64_C(202601010000000000);
static int failed;

typedef struct who {
  const char *nick, *handle;
  int64_t id;
} who;

static const who aigerim = {"Айгерим", "aigerim.kz", 6811000000000000001};
static const who yerzhan = {"Ержан_KZ", "yerzhan_kz", 6811000000000000002};
static const who daniyar = {"Данияр", "daniyar_almaty", 6811000000000000003};
static const who aliya = {"Әлия 🌸", "aliya.flower", 6811000000000000004};
static const who masha = {"Маша", "masha_msk", 6811000000000000005};
static const who dmitry = {"Дмитрий", "dmitry_k", 6811000000000000006};
static const who katya = {"Катя_котик", "katya_kotik", 6811000000000000007};
static const who oleg = {"Олег 🎮", "oleg_games", 6811000000000000008};
static const who jess = {"Jess", "jess.london", 6811000000000000009};
static const who mike = {"mike_92", "mike_92", 6811000000000000010};
static const who priya = {"Priya", "priya.p", 6811000000000000011};
static const who tom = {"TomTheBuilder", "tom_builds", 6811000000000000012};
static const who quiet = {"", "quiet.viewer_07", 6811000000000000013}; /* no nickname */
static const who streamer = {"Streamer", "ttboost_demo", 6811000000000000099};

/* One Message of a FetchResult, its payload packed and owned here. */
typedef struct msg {
  const char *method;
  int64_t msg_id;
  uint8_t *payload;
  size_t len;
} msg;

/* A message's id comes from its time (all differ), not from the order in
 * which C happens to evaluate a frame's initialiser list. */
static int64_t msg_id_at(uint64_t t_us) { return MSG_ID_BASE + (int64_t)(t_us / 1000); }

static void fail(const char *what)
{
  fprintf(stderr, "make-tiktok-trace: %s\n", what);
  failed = 1;
}

static msg pack(const char *method, int64_t id, const ProtobufCMessage *m)
{
  msg r = {method, id, NULL, 0};
  r.len = protobuf_c_message_get_packed_size(m);
  r.payload = malloc(r.len ? r.len : 1);
  if (r.payload == NULL)
    fail("out of memory");
  else
    protobuf_c_message_pack(m, r.payload);
  return r;
}

static void common(Tiktok__Webcast__Common *c, const char *method, int64_t id, uint64_t t_us)
{
  c->method = (char *)method;
  c->msg_id = id;
  c->room_id = ROOM_ID_N;
  c->create_time = (int64_t)((CREATED_US + t_us) / 1000);
}

static void user(Tiktok__Webcast__User *u, const who *w)
{
  u->id = w->id;
  u->nickname = (char *)w->nick;
  u->unique_id = (char *)w->handle;
}

static msg chat(uint64_t t, const who *w, const char *text, const char *lang)
{
  Tiktok__Webcast__Common c = TIKTOK__WEBCAST__COMMON__INIT;
  Tiktok__Webcast__User u = TIKTOK__WEBCAST__USER__INIT;
  Tiktok__Webcast__WebcastChatMessage m = TIKTOK__WEBCAST__WEBCAST_CHAT_MESSAGE__INIT;
  int64_t id = msg_id_at(t);
  common(&c, "WebcastChatMessage", id, t);
  user(&u, w);
  m.common = &c;
  m.user = &u;
  m.comment = (char *)text;
  m.content_language = (char *)lang;
  return pack("WebcastChatMessage", id, &m.base);
}

static msg gift(uint64_t t, const who *w, const char *name, int64_t gift_id, int32_t type,
                int32_t diamonds, int32_t repeat_count, int32_t repeat_end, uint64_t group_id)
{
  Tiktok__Webcast__Common c = TIKTOK__WEBCAST__COMMON__INIT;
  Tiktok__Webcast__User u = TIKTOK__WEBCAST__USER__INIT, to = TIKTOK__WEBCAST__USER__INIT;
  Tiktok__Webcast__Gift g = TIKTOK__WEBCAST__GIFT__INIT;
  Tiktok__Webcast__WebcastGiftMessage m = TIKTOK__WEBCAST__WEBCAST_GIFT_MESSAGE__INIT;
  int64_t id = msg_id_at(t);
  common(&c, "WebcastGiftMessage", id, t);
  user(&u, w);
  user(&to, &streamer);
  g.id = gift_id;
  g.name = (char *)name;
  g.type = type;
  g.combo = type == 1;
  g.diamond_count = diamonds;
  g.describe = type == 1 ? "sent a streakable gift" : "sent a gift";
  m.common = &c;
  m.gift_id = gift_id;
  m.repeat_count = repeat_count;
  m.combo_count = repeat_count;
  m.repeat_end = repeat_end;
  m.group_id = group_id;
  m.user = &u;
  m.to_user = &to;
  m.gift = &g;
  char lid[32];
  snprintf(lid, sizeof lid, "%" PRIu64, group_id + (uint64_t)repeat_count);
  m.log_id = lid;
  return pack("WebcastGiftMessage", id, &m.base);
}

/* Another method, which the connector counts and skips: only a Common. */
static msg other(uint64_t t, const char *method)
{
  Tiktok__Webcast__Common c = TIKTOK__WEBCAST__COMMON__INIT;
  int64_t id = msg_id_at(t);
  common(&c, method, id, t);
  return pack(method, id, &c.base);
}

enum { PLAIN, GZIP, GZIP_NO_HEADER };

static void write_frame(uint64_t t, const Tiktok__Webcast__PushFrame *f)
{
  size_t n = protobuf_c_message_get_packed_size(&f->base);
  uint8_t *b = malloc(n ? n : 1);
  char err[256];
  if (b == NULL) {
    fail("out of memory");
    return;
  }
  protobuf_c_message_pack(&f->base, b);
  if (ttb_tf_write(W, t, ROOM_ID, b, n, err, sizeof err) != 0)
    fail(err);
  free(b);
}

/* A frame of payload_type type ("msg", "im_enter_room_resp") carrying a
 * FetchResult of the messages (which it frees). */
static void frame(uint64_t t, const char *type, int comp, bool need_ack, msg *ms, size_t n)
{
  Tiktok__Webcast__Message mv[8], *mp[8];
  if (n > 8) {
    fail("too many messages in a frame");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    tiktok__webcast__message__init(&mv[i]);
    mv[i].method = (char *)ms[i].method;
    mv[i].payload.data = ms[i].payload;
    mv[i].payload.len = ms[i].len;
    mv[i].msg_id = ms[i].msg_id;
    mp[i] = &mv[i];
  }
  uint64_t now_ms = (CREATED_US + t) / 1000;
  char cursor[96], ext[256];
  snprintf(cursor, sizeof cursor, "t-%" PRIu64 "_r-1_d-1_u-1_h-1", now_ms);
  snprintf(ext, sizeof ext,
           "internal_src:dim|wss_push_room_id:" ROOM_ID "|wss_push_did:7301999999999999999|"
           "first_req_ms:%" PRIu64 "|fetch_time:%" PRIu64 "|seq:%" PRIu64 "|wss_info:0-%" PRIu64
           "-0-0",
           CREATED_US / 1000, now_ms, seq_id, now_ms);
  Tiktok__Webcast__FetchResult r = TIKTOK__WEBCAST__FETCH_RESULT__INIT;
  r.n_messages = n;
  r.messages = mp;
  r.cursor = cursor;
  r.fetch_interval = 1000;
  r.now = (int64_t)now_ms;
  r.internal_ext = ext;
  r.fetch_type = 1;
  r.heartbeat_duration = 10000;
  r.need_ack = need_ack;
  r.is_first = strcmp(type, "im_enter_room_resp") == 0;
  size_t plen = protobuf_c_message_get_packed_size(&r.base);
  uint8_t *plain = malloc(plen ? plen : 1), *gz = NULL;
  size_t gzlen = 0;
  char err[256];
  if (plain == NULL) {
    fail("out of memory");
    goto out;
  }
  protobuf_c_message_pack(&r.base, plain);
  Tiktok__Webcast__PushFrame__HeadersEntry h_ct = TIKTOK__WEBCAST__PUSH_FRAME__HEADERS_ENTRY__INIT,
                                           h_im = TIKTOK__WEBCAST__PUSH_FRAME__HEADERS_ENTRY__INIT;
  Tiktok__Webcast__PushFrame__HeadersEntry *hs[2];
  h_im.key = "im-cursor";
  h_im.value = cursor;
  h_ct.key = "compress_type";
  h_ct.value = comp == GZIP ? "gzip" : "none";
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.seq_id = seq_id++;
  f.log_id = log_id++;
  f.service = 5;
  f.method = 9;
  hs[0] = &h_ct;
  hs[1] = &h_im;
  f.headers = hs;
  f.n_headers = comp == GZIP_NO_HEADER ? 0 : 2;
  if (comp == GZIP_NO_HEADER) {
    f.headers = &hs[1];
    f.n_headers = 1;
  }
  f.payload_encoding = "pb";
  f.payload_type = (char *)type;
  if (comp == PLAIN) {
    f.payload.data = plain;
    f.payload.len = plen;
  } else {
    if (ttb_tf_gzip(plain, plen, &gz, &gzlen, err, sizeof err) != 0) {
      fail(err);
      goto out;
    }
    f.payload.data = gz;
    f.payload.len = gzlen;
  }
  write_frame(t, &f);
out:
  free(plain);
  free(gz);
  for (size_t i = 0; i < n; i++)
    free(ms[i].payload);
}

/* A server heartbeat frame (TikTok's answer to the client's). */
static void hb(uint64_t t)
{
  Tiktok__Webcast__PushFrame f = TIKTOK__WEBCAST__PUSH_FRAME__INIT;
  f.seq_id = seq_id++;
  f.log_id = log_id++;
  f.payload_encoding = "pb";
  f.payload_type = "hb";
  write_frame(t, &f);
}

#define S(x) ((uint64_t)((x)*1000000.0 + 0.5))
#define FRAME(t, type, comp, ack, ...)                          \
  do {                                                          \
    msg ms_[] = {__VA_ARGS__};                                  \
    frame(t, type, comp, ack, ms_, sizeof ms_ / sizeof ms_[0]); \
  } while (0)

int main(int argc, char **argv)
{
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr,
            "usage: make-tiktok-trace OUT\n"
            "Writes the made-up TikTok demo trace (tools/replay/traces/tiktok-demo.ttbtrace).\n");
    return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  char err[512];
  if (ttb_trace_writer_open_at(argv[1], "ttboost-server tiktok",
                               "made-up demo stream (make-tiktok-trace): room " ROOM_ID
                               ", 17 chats, Rose x5 streak, Galaxy x1, one re-sent message",
                               CREATED_US, &W, err, sizeof err) != 0) {
    fprintf(stderr, "make-tiktok-trace: %s\n", err);
    return 1;
  }
  const uint64_t group = UINT64_C(1767225606000);

  FRAME(S(0.35), "im_enter_room_resp", PLAIN, false, other(S(0.35), "WebcastRoomUserSeqMessage"));
  FRAME(S(1.0), "msg", GZIP, true, chat(S(0.9), &aigerim, "Сәлем бәріне! 👋", "kk"));
  FRAME(S(2.2), "msg", GZIP, false, chat(S(2.0), &jess, "hi from London! love this stream", "en"),
        other(S(2.1), "WebcastLikeMessage"));
  msg masha_chat = chat(S(3.4), &masha, "Привет! Как дела?", "ru");
  msg masha_again = masha_chat; /* re-sent below with the same msg_id */
  masha_again.payload = malloc(masha_chat.len ? masha_chat.len : 1);
  if (masha_again.payload == NULL) {
    fail("out of memory");
    return 1;
  }
  memcpy(masha_again.payload, masha_chat.payload, masha_chat.len);
  FRAME(S(3.5), "msg", PLAIN, true, masha_chat);
  FRAME(S(4.8), "msg", GZIP, true, other(S(4.6), "WebcastMemberMessage"),
        chat(S(4.7), &quiet, "hello 👀 first time here", "en"));
  /* the Rose streak: one group id, repeat_count 1..5, repeat_end on the last */
  FRAME(S(6.0), "msg", PLAIN, true, gift(S(6.0), &dmitry, "Rose", 5655, 1, 1, 1, 0, group));
  FRAME(S(6.4), "msg", GZIP, false, gift(S(6.4), &dmitry, "Rose", 5655, 1, 1, 2, 0, group),
        chat(S(6.3), &katya, "ахаха 😂 розы!", "ru"));
  FRAME(S(6.8), "msg", PLAIN, true, gift(S(6.8), &dmitry, "Rose", 5655, 1, 1, 3, 0, group));
  FRAME(S(7.3), "msg", GZIP, true, gift(S(7.3), &dmitry, "Rose", 5655, 1, 1, 4, 0, group));
  FRAME(S(7.9), "msg", GZIP, true, gift(S(7.9), &dmitry, "Rose", 5655, 1, 1, 5, 1, group));
  FRAME(S(9.0), "msg", PLAIN, false, chat(S(8.8), &yerzhan, "Керемет! Рахмет 🌹", "kk"));
  hb(S(10.0));
  FRAME(S(11.5), "msg", GZIP, true,
        gift(S(11.4), &priya, "Galaxy", 11046, 2, 1000, 1, 0, UINT64_C(1767225611400)),
        other(S(11.45), "WebcastLikeMessage"));
  FRAME(S(12.5), "msg", GZIP_NO_HEADER, true, chat(S(12.3), &priya, "thank you!! 😍", "en"),
        chat(S(12.4), &oleg, "Давай ещё!", "ru"));
  FRAME(S(14.0), "msg", PLAIN, false, other(S(13.8), "WebcastLikeMessage"),
        chat(S(13.9), &daniyar, "Қалайсың? Бүгін эфир өте керемет", "kk"));
  /* TikTok sends Маша's chat again: same msg_id, to be dropped */
  FRAME(S(15.5), "msg", GZIP, true, masha_again,
        chat(S(15.4), &tom, "can you say hi to me?", "en"));
  FRAME(S(17.0), "msg", PLAIN, true, chat(S(16.9), &katya, "Ты лучшая 💖", "ru"));
  hb(S(20.0));
  FRAME(S(21.0), "msg", GZIP, true, chat(S(20.8), &aliya, "Рахмет! Сау болыңыз 🌸", "kk"));
  FRAME(S(23.0), "msg", PLAIN, false, chat(S(22.9), &mike, "gg", "en"),
        other(S(22.95), "WebcastLikeMessage"));
  FRAME(S(25.0), "msg", GZIP, true,
        chat(S(24.7), &aigerim, "Тағы да кездескенше! ұ ү һ і ғ қ ң ө", "kk"));
  FRAME(S(27.0), "msg", PLAIN, false, other(S(27.0), "WebcastRoomUserSeqMessage"));
  FRAME(S(28.5), "msg", GZIP, true, chat(S(28.4), &jess, "bye! ❤️", "en"),
        chat(S(28.45), &dmitry, "Пока-пока 👋", "ru"));
  hb(S(30.0));
  FRAME(S(31.0), "msg", PLAIN, true, chat(S(30.9), &tom, "see you next time", "en"));

  if (ttb_trace_writer_close(W, err, sizeof err) != 0) {
    fprintf(stderr, "make-tiktok-trace: %s\n", err);
    return 1;
  }
  if (failed)
    return 1;
  fprintf(stderr, "make-tiktok-trace: wrote %s\n", argv[1]);
  return 0;
}
