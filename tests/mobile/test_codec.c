/* tests/mobile/test_codec.c — the client's codecs: the generated nanopb
 * structs (binary) and their generated JSON codecs, against tests/vectors,
 * for the messages the client receives (chat, gift, audio, hello, error)
 * and sends (settings from ttb_settings, ack, ping). */
#include <criterion/criterion.h>

#include <pb_decode.h>
#include <pb_encode.h>
#include <stdio.h>
#include <string.h>

#include "ttboost/v1/events.npb-json.h"
#include "ttboost/v1/events.pb.h"

#ifndef VECTORS_DIR
#error "VECTORS_DIR must be defined"
#endif

static size_t slurp(const char *name, const char *ext, uint8_t *buf, size_t cap)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s%s", VECTORS_DIR, name, ext);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  if (n > 0 && buf[n - 1] == '\n' && ext[1] == 'j')
    n--; /* vectors' JSON ends with a newline */
  return n;
}

static const char *server_vectors[] = {
    "chat_spec", "chat_kazakh", "chat_emoji",      "chat_escapes", "chat_max",  "gift_spec",
    "gift_user", "audio_frame", "audio_frame_max", "hello",        "hello_gap", "stream_error"};

/* bytes -> struct -> bytes, JSON -> struct -> JSON, and both structs agree. */
Test(codec, server_messages_both_ways)
{
  static uint8_t pb[1 << 16], js[1 << 16], out[1 << 16];
  for (size_t v = 0; v < sizeof server_vectors / sizeof *server_vectors; v++) {
    const char *name = server_vectors[v];
    size_t pn = slurp(name, ".pb", pb, sizeof pb);
    size_t jn = slurp(name, ".json", js, sizeof js);

    ttboost_v1_ServerMessage a = ttboost_v1_ServerMessage_init_zero;
    pb_istream_t is = pb_istream_from_buffer(pb, pn);
    cr_assert(pb_decode(&is, ttboost_v1_ServerMessage_fields, &a), "%s: %s", name,
              PB_GET_ERROR(&is));
    char verr[128];
    cr_assert(ttb_npb_ttboost_v1_ServerMessage_validate(&a, verr, sizeof verr), "%s: %s", name,
              verr);
    pb_ostream_t os = pb_ostream_from_buffer(out, sizeof out);
    cr_assert(pb_encode(&os, ttboost_v1_ServerMessage_fields, &a));
    cr_assert_eq(os.bytes_written, pn, "%s: binary length", name);
    cr_assert_eq(memcmp(out, pb, pn), 0, "%s: binary bytes", name);

    ttboost_v1_ServerMessage b = ttboost_v1_ServerMessage_init_zero;
    ttb_json_error je;
    memset(&je, 0, sizeof je);
    cr_assert(ttb_npb_ttboost_v1_ServerMessage_from_json((const char *)js, jn, &b, &je), "%s: %s",
              name, je.msg);
    size_t len = 0;
    cr_assert(ttb_npb_ttboost_v1_ServerMessage_to_json(&b, (char *)out, sizeof out, &len, &je));
    cr_assert_eq(len, jn, "%s: JSON length", name);
    cr_assert_eq(memcmp(out, js, jn), 0, "%s: JSON bytes\n%.*s\n%.*s", name, (int)len,
                 (const char *)out, (int)jn, (const char *)js);

    cr_assert_eq(a.which_payload, b.which_payload, "%s", name);
    cr_assert_eq(a.seq, b.seq, "%s", name);
    if (a.which_payload == ttboost_v1_ServerMessage_chat_tag) {
      cr_assert_str_eq(a.payload.chat.user, b.payload.chat.user);
      cr_assert_str_eq(a.payload.chat.message, b.payload.chat.message);
      cr_assert_str_eq(a.payload.chat.tts_url, b.payload.chat.tts_url);
    } else if (a.which_payload == ttboost_v1_ServerMessage_gift_tag) {
      cr_assert_str_eq(a.payload.gift.gift_name, b.payload.gift.gift_name);
      cr_assert_eq(a.payload.gift.count, b.payload.gift.count);
    } else if (a.which_payload == ttboost_v1_ServerMessage_audio_tag) {
      cr_assert_eq(a.payload.audio.packet.size, b.payload.audio.packet.size);
      cr_assert_eq(memcmp(a.payload.audio.packet.bytes, b.payload.audio.packet.bytes,
                          a.payload.audio.packet.size),
                   0);
      cr_assert_eq(a.payload.audio.pre_skip, b.payload.audio.pre_skip);
    }
  }
}

Test(codec, chat_spec_fields)
{
  static uint8_t pb[4096];
  size_t pn = slurp("chat_spec", ".pb", pb, sizeof pb);
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  pb_istream_t is = pb_istream_from_buffer(pb, pn);
  cr_assert(pb_decode(&is, ttboost_v1_ServerMessage_fields, &m));
  cr_assert_eq(m.which_payload, ttboost_v1_ServerMessage_chat_tag);
  cr_assert_eq(m.seq, 1);
  cr_assert_str_eq(m.payload.chat.user, "Aruka");
  cr_assert_str_eq(m.payload.chat.message, "Привет!");
}

/* What the client sends: Settings built from the user's settings. */
Test(codec, client_settings_match_vectors)
{
  static uint8_t pb[256], js[256], out[256];
  struct {
    const char *name;
    bool on;
  } cases[] = {{"client_settings", true}, {"client_settings_off", false}};
  for (int k = 0; k < 2; k++) {
    ttboost_v1_ClientMessage m = ttboost_v1_ClientMessage_init_zero;
    m.which_payload = ttboost_v1_ClientMessage_settings_tag;
    m.payload.settings.tts_enabled = cases[k].on;
    m.payload.settings.gifts_enabled = false;
    m.payload.settings.audio_frames = cases[k].on;
    m.payload.settings.profanity_filter = cases[k].on;
    size_t jn = slurp(cases[k].name, ".json", js, sizeof js);
    size_t pn = slurp(cases[k].name, ".pb", pb, sizeof pb);
    size_t len = 0;
    ttb_json_error je;
    cr_assert(ttb_npb_ttboost_v1_ClientMessage_to_json(&m, (char *)out, sizeof out, &len, &je));
    cr_assert_eq(len, jn);
    cr_assert_eq(memcmp(out, js, jn), 0, "%s: %.*s", cases[k].name, (int)len, (const char *)out);
    pb_ostream_t os = pb_ostream_from_buffer(out, sizeof out);
    cr_assert(pb_encode(&os, ttboost_v1_ClientMessage_fields, &m));
    cr_assert_eq(os.bytes_written, pn);
    cr_assert_eq(memcmp(out, pb, pn), 0);
  }
}

Test(codec, client_ack_and_ping)
{
  static uint8_t js[256], out[256];
  const char *names[] = {"client_ack", "client_ping"};
  for (int k = 0; k < 2; k++) {
    size_t jn = slurp(names[k], ".json", js, sizeof js);
    ttboost_v1_ClientMessage m = ttboost_v1_ClientMessage_init_zero;
    ttb_json_error je;
    cr_assert(ttb_npb_ttboost_v1_ClientMessage_from_json((const char *)js, jn, &m, &je), "%s",
              je.msg);
    size_t len = 0;
    cr_assert(ttb_npb_ttboost_v1_ClientMessage_to_json(&m, (char *)out, sizeof out, &len, &je));
    cr_assert_eq(len, jn);
    cr_assert_eq(memcmp(out, js, jn), 0);
  }
}

Test(codec, malformed_input_is_refused_with_a_reason)
{
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  ttb_json_error je;
  memset(&je, 0, sizeof je);
  const char *bad[] = {"", "{", "{\"type\":\"chat\",\"user\":5}", "[1,2]",
                       "{\"type\":\"chat\",\"message\":\"\\ud800\"}"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    cr_assert_not(ttb_npb_ttboost_v1_ServerMessage_from_json(bad[k], strlen(bad[k]), &m, &je),
                  "accepted: %s", bad[k]);
    cr_assert(strlen(je.msg) > 0);
  }
  /* Oversized string in binary: nanopb refuses (fixed-size structs). */
  uint8_t pb[2000];
  size_t n = 0;
  pb[n++] = 0x12; /* field 2 (chat), length-delimited */
  pb[n++] = 0x89; /* 1289 = 0x89 0x0A */
  pb[n++] = 0x0A;
  pb[n++] = 0x12; /* chat.message */
  pb[n++] = 0x86; /* 1286 */
  pb[n++] = 0x0A;
  memset(pb + n, 'a', 1286);
  n += 1286;
  pb_istream_t is = pb_istream_from_buffer(pb, n);
  cr_assert_not(pb_decode(&is, ttboost_v1_ServerMessage_fields, &m));
}
