/*
 * The owner's spec payloads, byte for byte, from both flavours of generated
 * encoders, and the spec's requests through both decoders. These strings are
 * the contract (../shared/seed/ttboost-mobile-spec): written out here by
 * hand, not derived from the code under test.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vtypes.h"

#define SPEC_CHAT                                                                              \
  "{\"type\":\"chat\",\"user\":\"Aruka\",\"message\":\"Привет!\",\"tts_url\":\"https://" \
  "server.com/tts/abc123.mp3\""
#define SPEC_GIFT                                                                             \
  "{\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":5,\"sound_url\":\"https://server.com/" \
  "sounds/rose.mp3\""

Test(spec, chat_event_pbc)
{
  Ttboost__V1__ChatEvent chat = TTBOOST__V1__CHAT_EVENT__INIT;
  chat.user = "Aruka";
  chat.message = "Привет!";
  chat.tts_url = "https://server.com/tts/abc123.mp3";
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.seq = 12;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
  m.chat = &chat;
  ttb_json_error err;
  char *s = ttb_pbc_ttboost_v1_ServerMessage_to_json(&m, NULL, &err);
  cr_assert_not_null(s, "%s", err.msg);
  cr_expect_str_eq(s, SPEC_CHAT ",\"seq\":12}");
  free(s);
}

Test(spec, chat_event_npb)
{
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.seq = 12;
  m.which_payload = ttboost_v1_ServerMessage_chat_tag;
  strcpy(m.payload.chat.user, "Aruka");
  strcpy(m.payload.chat.message, "Привет!");
  strcpy(m.payload.chat.tts_url, "https://server.com/tts/abc123.mp3");
  char buf[512];
  size_t n;
  ttb_json_error err;
  cr_assert(ttb_npb_ttboost_v1_ServerMessage_to_json(&m, buf, sizeof buf, &n, &err), "%s", err.msg);
  cr_expect_str_eq(buf, SPEC_CHAT ",\"seq\":12}");
  cr_expect_eq(n, strlen(buf));
}

Test(spec, gift_event_both)
{
  Ttboost__V1__GiftEvent gift = TTBOOST__V1__GIFT_EVENT__INIT;
  gift.gift_name = "Rose";
  gift.count = 5;
  gift.sound_url = "https://server.com/sounds/rose.mp3";
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.seq = 13;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_GIFT;
  m.gift = &gift;
  char *s = ttb_pbc_ttboost_v1_ServerMessage_to_json(&m, NULL, NULL);
  cr_assert_not_null(s);
  cr_expect_str_eq(s, SPEC_GIFT ",\"seq\":13}");
  free(s);

  ttboost_v1_ServerMessage n = ttboost_v1_ServerMessage_init_zero;
  n.seq = 13;
  n.which_payload = ttboost_v1_ServerMessage_gift_tag;
  strcpy(n.payload.gift.gift_name, "Rose");
  n.payload.gift.count = 5;
  strcpy(n.payload.gift.sound_url, "https://server.com/sounds/rose.mp3");
  char buf[512];
  cr_assert(ttb_npb_ttboost_v1_ServerMessage_to_json(&n, buf, sizeof buf, NULL, NULL));
  cr_expect_str_eq(buf, SPEC_GIFT ",\"seq\":13}");

  /* the optional sender is an addition written only when known */
  strcpy(n.payload.gift.user, "Дархан");
  cr_assert(ttb_npb_ttboost_v1_ServerMessage_to_json(&n, buf, sizeof buf, NULL, NULL));
  cr_expect_str_eq(buf, SPEC_GIFT ",\"user\":\"Дархан\",\"seq\":13}");
}

Test(spec, login_response)
{
  Ttboost__V1__LoginResponse r = TTBOOST__V1__LOGIN_RESPONSE__INIT;
  r.status = "ok";
  r.user_id = "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f";
  r.ws_token = "b71c9e42-58d3-4a0f-8e6b-c2d94f1a7e05";
  char *s = ttb_pbc_ttboost_v1_LoginResponse_to_json(&r, NULL, NULL);
  cr_assert_not_null(s);
  cr_expect_str_eq(s, "{\"status\":\"ok\",\"user_id\":\"3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f\","
                      "\"ws_token\":\"b71c9e42-58d3-4a0f-8e6b-c2d94f1a7e05\"}");
  free(s);
}

Test(spec, tts_response_and_error)
{
  Ttboost__V1__TtsResponse t = TTBOOST__V1__TTS_RESPONSE__INIT;
  t.url = "https://server.com/tts/file123.mp3";
  char *s = ttb_pbc_ttboost_v1_TtsResponse_to_json(&t, NULL, NULL);
  cr_expect_str_eq(s, "{\"url\":\"https://server.com/tts/file123.mp3\"}");
  free(s);
  Ttboost__V1__ErrorResponse e = TTBOOST__V1__ERROR_RESPONSE__INIT;
  e.status = "error";
  e.error = "unknown_key";
  e.message = "This license key is not known.";
  s = ttb_pbc_ttboost_v1_ErrorResponse_to_json(&e, NULL, NULL);
  cr_expect_str_eq(s, "{\"status\":\"error\",\"error\":\"unknown_key\",\"message\":\"This license "
                      "key is not known.\"}");
  free(s);
}

Test(spec, requests_decode_in_both_flavours)
{
  const char *login = "{\"license_key\": \"string\"}";
  Ttboost__V1__LoginRequest *l =
      ttb_pbc_ttboost_v1_LoginRequest_from_json(login, strlen(login), NULL, NULL);
  cr_assert_not_null(l);
  cr_expect_str_eq(l->license_key, "string");
  cr_expect_str_eq(l->device_id, "");
  ttboost__v1__login_request__free_unpacked(l, NULL);
  ttboost_v1_LoginRequest nl;
  cr_assert(ttb_npb_ttboost_v1_LoginRequest_from_json(login, strlen(login), &nl, NULL));
  cr_expect_str_eq(nl.license_key, "string");

  const char *tts = "{\"text\": \"string\"}";
  ttboost_v1_TtsRequest nt;
  cr_assert(ttb_npb_ttboost_v1_TtsRequest_from_json(tts, strlen(tts), &nt, NULL));
  cr_expect_str_eq(nt.text, "string");
}

Test(spec, spec_events_decode_on_the_client)
{
  const char *chat = "{\"type\": \"chat\", \"user\": \"Aruka\", \"message\": \"Привет!\", "
                     "\"tts_url\": \"https://server.com/tts/abc123.mp3\"}";
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_assert(ttb_npb_ttboost_v1_ServerMessage_from_json(chat, strlen(chat), &m, &err), "%s",
            err.msg);
  cr_expect_eq(m.which_payload, ttboost_v1_ServerMessage_chat_tag);
  cr_expect_str_eq(m.payload.chat.user, "Aruka");
  cr_expect_str_eq(m.payload.chat.message, "Привет!");
  cr_expect_eq(m.seq, 0);

  /* keys in any order, the discriminator last */
  const char *gift = "{\"count\": 5, \"sound_url\": \"https://server.com/sounds/rose.mp3\", "
                     "\"gift_name\": \"Rose\", \"seq\": 9, \"type\": \"gift\"}";
  cr_assert(ttb_npb_ttboost_v1_ServerMessage_from_json(gift, strlen(gift), &m, &err), "%s",
            err.msg);
  cr_expect_eq(m.which_payload, ttboost_v1_ServerMessage_gift_tag);
  cr_expect_eq(m.payload.gift.count, 5);
  cr_expect_eq(m.seq, 9);
  cr_expect_str_eq(m.payload.gift.gift_name, "Rose");
}
