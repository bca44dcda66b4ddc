/*
 * libFuzzer targets for the TikTok connector's decoders (server/src/webcast.c),
 * which read bytes from TikTok's servers:
 *  - fuzz-webcast-frame: one received WebSocket message, as the push socket
 *    hands it to ttb_webcast_decode (PushFrame, gzip, FetchResult, the
 *    Webcast*Messages inside);
 *  - fuzz-webcast-lookup (FUZZ_LOOKUP): a room lookup's reply, the first
 *    byte choosing the HTTP status, the rest the body.
 * Properties: every string handed on is valid UTF-8 without control
 * characters and within its bound; an ack re-encodes to a frame that
 * decodes to the same log_id and payload; a decode error leaves nothing
 * behind; a lookup says LIVE exactly when it gives a decimal room id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiktok/webcast.pb-c.h"
#include "ttboost/json.h"
#include "webcast.h"

static void fail(const char *what)
{
  fprintf(stderr, "property failed: %s\n", what);
  abort();
}

static void check_text(const char *s, size_t max, const char *what)
{
  if (s == NULL)
    fail(what);
  size_t n = strlen(s);
  if (n > max || !ttb_utf8_valid(s, n))
    fail(what);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      fail(what);
}

#ifndef FUZZ_LOOKUP

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ttb_webcast_frame f;
  char err[160];
  err[0] = '\0';
  int rc = ttb_webcast_decode(data, size, &f, err, sizeof err);
  if (rc != 0) {
    if (rc != -1 || err[0] == '\0' || f.n_events != 0 || f.events != NULL || f.ack_ext != NULL)
      fail("a decode error with a result or without a reason");
    ttb_webcast_frame_free(&f);
    return 0;
  }
  if (f.type != TTB_WEBCAST_FRAME_MSG && (f.n_events != 0 || f.need_ack))
    fail("events outside a msg frame");
  for (size_t i = 0; i < f.n_events; i++) {
    const ttb_webcast_event *e = &f.events[i];
    switch (e->kind) {
    case TTB_WEBCAST_CHAT:
      check_text(e->user, TTB_WEBCAST_USER_MAX, "chat user");
      check_text(e->text, TTB_WEBCAST_TEXT_MAX, "chat text");
      break;
    case TTB_WEBCAST_GIFT:
      check_text(e->user, TTB_WEBCAST_USER_MAX, "gift user");
      check_text(e->gift_name, TTB_WEBCAST_GIFT_MAX, "gift name");
      if (memchr(e->streak_key, '\0', sizeof e->streak_key) == NULL || e->count != 1)
        fail("gift key or count");
      if (e->repeat_count == 0 && e->repeat_end)
        fail("a streak end without a count");
      break;
    case TTB_WEBCAST_END:
    case TTB_WEBCAST_CONTROL:
    case TTB_WEBCAST_OTHER:
    case TTB_WEBCAST_BAD:
      if (e->user != NULL || e->text != NULL || e->gift_name != NULL)
        fail("strings on a non-chat, non-gift event");
      break;
    default:
      fail("unknown event kind");
    }
  }
  if (f.need_ack) {
    if (f.ack_ext == NULL || f.ack_ext_len == 0)
      fail("an ack without internal_ext");
    size_t len;
    uint8_t *b = ttb_webcast_ack(f.log_id, f.ack_ext, f.ack_ext_len, 16, &len);
    if (b == NULL)
      fail("cannot encode the ack");
    Tiktok__Webcast__PushFrame *a = tiktok__webcast__push_frame__unpack(NULL, len, b + 16);
    if (a == NULL || a->log_id != f.log_id || strcmp(a->payload_type, "ack") != 0 ||
        a->payload.len != f.ack_ext_len || memcmp(a->payload.data, f.ack_ext, f.ack_ext_len) != 0)
      fail("the ack does not round-trip");
    tiktok__webcast__push_frame__free_unpacked(a, NULL);
    free(b);
  }
  ttb_webcast_frame_free(&f);
  return 0;
}

#else

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const long statuses[8] = {200, 200, 200, 403, 429, 500, 404, 302};
  long status = size > 0 ? statuses[data[0] & 7] : 200;
  const char *body = size > 0 ? (const char *)data + 1 : "";
  size_t len = size > 0 ? size - 1 : 0;
  ttb_webcast_lookup l;
  ttb_webcast_parse_lookup(status, body, len, &l);
  if (memchr(l.message, '\0', sizeof l.message) == NULL || l.message[0] == '\0')
    fail("no message");
  check_text(l.message, sizeof l.message - 1, "lookup message");
  if (memchr(l.room_id, '\0', sizeof l.room_id) == NULL)
    fail("room id not terminated");
  uint64_t v;
  if (l.status == TTB_WEBCAST_LIVE) {
    if (!ttb_webcast_room_u64(l.room_id, &v) || v == 0 || status != 200)
      fail("live without a room id, or not from a 200");
  } else if (l.room_id[0] != '\0') {
    fail("a room id when not live");
  }
  if ((status == 403 || status == 429) && l.status != TTB_WEBCAST_BLOCKED)
    fail("403/429 not blocked");
  return 0;
}

#endif
