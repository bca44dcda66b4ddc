/*
 * The JSON reader's strictness (RFC 8259) and the decoders' errors: what jsmn
 * alone would let through is refused; every escape is decoded; bad UTF-8,
 * wrong types, numbers out of range and over-long strings are errors that
 * name the field; unknown keys are ignored.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttboost/v1/settings.npb-json.h"
#include "ttboost/v1/settings.pbc-json.h"
#include "vtypes.h"

static bool parses(const char *js)
{
  jsmntok_t toks[64];
  ttb_jr r;
  return ttb_jr_parse(&r, js, strlen(js), toks, 64);
}

Test(json_reader, rejects_what_jsmn_lets_through)
{
  static const char *bad[] = {
      "{\"a\":1,}",
      "{,}",
      "[1,,2]",
      "[1 2]",
      "{\"a\":1 \"b\":2}",
      "{\"a\"}",
      "{\"a\":}",
      "[,1]",
      "{\"a\":1,\"b\"}",
      "{\"a\":tru}",
      "{\"a\":-}",
      "{\"a\":01}",
      "{\"a\":1.}",
      "{\"a\":.5}",
      "{\"a\":1e}",
      "{\"a\":+1}",
      "{\"a\":nul}",
      "{\"a\":1}{}",
      "{\"a\":1} x",
      "{\"a\":\"\\x\"}",
      "{\"a\":1",
      "",
      "   ",
      "{\"a\":NaN}",
      "{'a':1}",
      "{\"a\":[1,]}",
      "{\"a\"::1}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_expect(!parses(bad[i]), "accepted invalid JSON: %s", bad[i]);
}

Test(json_reader, accepts_valid_documents)
{
  static const char *good[] = {
      "{}",
      "[]",
      " {\"a\" : 1 } \n",
      "{\"a\":[1,2,{\"b\":null}],\"c\":-0.5e+3}",
      "[true,false,null]",
      "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}",
      "{\"a\":0,\"b\":-0,\"c\":1E5}",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    cr_expect(parses(good[i]), "refused valid JSON: %s", good[i]);
}

/* jsmn's tokens for these look plausible (a key's size, a value where a key
 * belongs, brackets that do not match); the reader must still refuse them. */
Test(json_reader, rejects_odd_structures)
{
  static const char *bad[] = {
      "[\"a\":1]",
      "{\"a\":1:2}",
      "[{\"a\":1}:2]",
      "{\"a\":{\"b\":1}:2}",
      "{\"a\" 1}",
      "[1]]",
      "{]",
      "[}",
      "{\"a\":[}",
      "[[1,2]:3]",
      "{1:2}",
      "{{}:1}",
      "{\"a\":1}}",
      "[\"a\",:]",
      "{\"a\":\"b\":\"c\"}",
      "[1:2]",
      "{\"a\":1,:2}",
      "{\"a\"::}",
      "[true false]",
      "[\"a\"\"b\"]",
      "{\"a\":1 , , \"b\":2}",
      "[1,\n]",
      "{\"a\":[1]:2}",
      "[-]",
      "[1e+]",
      "[0x10]",
      "[truee]",
      "[\x01]",
      "[\"\xC3\xA9\"]\xC3\xA9",
      "\xEF\xBB\xBF{}",
      "{\"a\":1}\t,",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_expect(!parses(bad[i]), "accepted invalid JSON: %s", bad[i]);
}

Test(json_reader, nul_bytes_are_not_the_end)
{
  static const struct {
    const char *js;
    size_t len;
  } bad[] = {
      {"{\"a\":\"x\0y\"}", 11}, {"{}\0", 3}, {"{\"a\":1}\0 ", 9}, {"\0{}", 3}, {"[1,\0 2]", 7},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    jsmntok_t toks[16];
    ttb_jr r;
    cr_expect(!ttb_jr_parse(&r, bad[i].js, bad[i].len, toks, 16), "accepted a NUL byte (case %zu)",
              i);
    cr_expect(r.status == TTB_JSON_SYNTAX, "case %zu: %s", i, r.err);
    if (i == 0)
      cr_expect(strstr(r.err, "NUL byte at 7") != NULL, "%s", r.err);
  }
}

Test(json_reader, nesting_is_bounded)
{
  char deep[200];
  for (int levels = 63; levels <= 66; levels++) {
    int n = 0;
    for (int i = 0; i < levels; i++)
      deep[n++] = '[';
    for (int i = 0; i < levels; i++)
      deep[n++] = ']';
    jsmntok_t toks[100];
    ttb_jr r;
    bool ok = ttb_jr_parse(&r, deep, (size_t)n, toks, 100);
    cr_expect(ok == (levels <= 64), "%d levels: %s", levels, ok ? "accepted" : r.err);
    if (!ok)
      cr_expect(r.status == TTB_JSON_LIMIT, "%s", r.err);
  }
}

/* jsmn without parent links closes a container by walking back over every
 * token before it: a 200,000-member object would take about 25 s
 * (0.95 s for 40,000, growing with the square). */
Test(json_reader, long_documents_grow_the_tokens_in_linear_time, .timeout = 20)
{
  const size_t count = 200000;
  char *js = malloc(count * 8 + 16);
  cr_assert(js != NULL);
  for (int kind = 0; kind < 3; kind++) {
    size_t n = 0;
    js[n++] = kind == 1 ? '{' : '[';
    for (size_t i = 0; i < count; i++) {
      if (i > 0)
        js[n++] = ',';
      if (kind == 1)
        n += (size_t)sprintf(js + n, "\"%zx\":0", i % 4096);
      else if (kind == 2)
        n += (size_t)sprintf(js + n, "{}");
      else
        js[n++] = '0';
    }
    js[n++] = kind == 1 ? '}' : ']';
    ttb_jr r;
    cr_assert(ttb_jr_parse_alloc(&r, js, n, 1u << 20), "kind %d: %s", kind, r.err);
    cr_expect_eq(r.toks[0].size, (int)count);
    cr_expect_eq(r.ntok, (int)(kind == 1 ? 2 * count + 1 : count + 1));
    ttb_jr_finish(&r);
    /* and the bound holds */
    cr_expect(!ttb_jr_parse_alloc(&r, js, n, 1000));
    cr_expect(r.status == TTB_JSON_LIMIT, "%s", r.err);
    ttb_jr_finish(&r);
  }
  free(js);
}

/* The whole-document check that lets strings be copied as they are must say
 * "plain" exactly when the document is UTF-8 with no control character and
 * no backslash: tried with awkward bytes at every offset, so that they fall
 * in every lane of a block, in the overlapping last block and in short
 * documents alike. */
Test(json_reader, plain_documents_are_recognised_exactly)
{
  static const char *frag[] = {
      "\xC3\xA9",
      "\xD0\x9F",
      "\xE2\x9D\xA4",
      "\xF0\x9F\x8C\xB8",
      "\\n",
      "\\u00e9",
      "\x01",
      "\x1F",
      "\x7F",
      "\xC3",
      "\xE2\x9D",
      "\xF0\x9F\x8C",
      "\x80",
      "\xBF",
      "\xC0\xAF",
      "\xC1\xBF",
      "\xE0\x80\x80",
      "\xED\xA0\x80",
      "\xF4\x90\x80\x80",
      "\xF5\x80\x80\x80",
      "\xFF",
      "\xFE",
      "\xEF\xBF\xBF",
      "\xF4\x8F\xBF\xBF",
      "\xE0\xA0\x80",
      "\xF0\x90\x80\x80",
  };
  char js[128], body[80];
  for (size_t f = 0; f < sizeof frag / sizeof frag[0]; f++) {
    for (size_t pre = 0; pre <= 40; pre++) {
      for (size_t post = 0; post <= 20; post += 5) {
        memset(body, 'a', pre);
        size_t fl = strlen(frag[f]);
        memcpy(body + pre, frag[f], fl);
        memset(body + pre + fl, 'b', post);
        body[pre + fl + post] = '\0';
        int n = snprintf(js, sizeof js, "{\"k\":\"%s\"}", body);
        jsmntok_t toks[8];
        ttb_jr r;
        if (!ttb_jr_parse(&r, js, (size_t)n, toks, 8))
          continue; /* a malformed escape, say: no tokens */
        bool want = ttb_utf8_valid(js, (size_t)n) && strchr(js, '\\') == NULL;
        for (int i = 0; i < n; i++)
          if ((unsigned char)js[i] < 0x20)
            want = false;
        cr_expect_eq(r.plain, want, "fragment %zu, %zu bytes before, %zu after: plain=%d", f, pre,
                     post, r.plain);
        /* whatever the path, a string is read only when it is valid */
        char out[80];
        bool read = ttb_jr_string_buf(&r, 2, "k", 79, out, sizeof out);
        bool valid = ttb_utf8_valid(body, strlen(body));
        for (const char *c = body; *c; c++)
          if ((unsigned char)*c < 0x20)
            valid = false;
        if (strchr(body, '\\') == NULL)
          cr_expect_eq(read, valid, "fragment %zu, %zu before: read=%d", f, pre, read);
      }
    }
  }
}

static bool chat(const char *js, ttboost_v1_ServerMessage *m, ttb_json_error *err)
{
  return ttb_npb_ttboost_v1_ServerMessage_from_json(js, strlen(js), m, err);
}

Test(json_decode, escapes_and_surrogate_pairs)
{
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_assert(chat("{\"type\":\"chat\",\"user\":\"\\u0410\\u0440\\u0443\\u043a\\u0430\","
                 "\"message\":\"\\ud83d\\udd25 \\u00e9\\n\\\"ok\\\"\"}",
                 &m, &err),
            "%s", err.msg);
  cr_expect_str_eq(m.payload.chat.user, "Арука");
  cr_expect_str_eq(m.payload.chat.message, "🔥 é\n\"ok\"");
}

Test(json_decode, unpaired_surrogates_and_bad_utf8_rejected)
{
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_expect(!chat("{\"type\":\"chat\",\"message\":\"\\ud83d\"}", &m, &err));
  cr_expect(strstr(err.msg, "message") != NULL, "error does not name the field: %s", err.msg);
  cr_expect(!chat("{\"type\":\"chat\",\"message\":\"\\udd25x\"}", &m, &err));
  cr_expect(!chat("{\"type\":\"chat\",\"message\":\"\xC0\xAF\"}", &m, &err)); /* overlong */
  cr_expect(strstr(err.msg, "UTF-8") != NULL, "%s", err.msg);
  cr_expect(!chat("{\"type\":\"chat\",\"message\":\"\xED\xA0\x80\"}", &m, &err)); /* surrogate */
  cr_expect(
      !chat("{\"type\":\"chat\",\"message\":\"\xF4\x90\x80\x80\"}", &m, &err)); /* > U+10FFFF */
  cr_expect(!chat("{\"type\":\"chat\",\"message\":\"a\tb\"}", &m, &err)); /* raw control char */
  /* invalid UTF-8 in an ignored key's value is still invalid JSON */
  cr_expect(!chat("{\"type\":\"chat\",\"extra\":\"\xFF\"}", &m, &err));
}

Test(json_decode, wrong_types_name_the_field)
{
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_expect(!chat("{\"type\":\"gift\",\"count\":\"5\"}", &m, &err));
  cr_expect(strstr(err.msg, "count") != NULL && strstr(err.msg, "integer") != NULL, "%s", err.msg);
  cr_expect_eq(err.status, TTB_JSON_TYPE);
  cr_expect(!chat("{\"type\":\"chat\",\"user\":5}", &m, &err));
  cr_expect(strstr(err.msg, "user") != NULL, "%s", err.msg);
  cr_expect(!chat("{\"type\":\"gift\",\"count\":5.5}", &m, &err));
  cr_expect(!chat("{\"type\":\"gift\",\"count\":true}", &m, &err));
  cr_expect(!chat("{\"type\":7}", &m, &err));
  cr_expect(!chat("[]", &m, &err));
}

Test(json_decode, numbers_out_of_range)
{
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_expect(!chat("{\"type\":\"gift\",\"count\":4294967296}", &m, &err));
  cr_expect(strstr(err.msg, "count") != NULL && strstr(err.msg, "range") != NULL, "%s", err.msg);
  cr_expect(!chat("{\"type\":\"gift\",\"count\":-1}", &m, &err));
  cr_expect(
      chat("{\"type\":\"gift\",\"count\":4294967295,\"seq\":18446744073709551615}", &m, &err));
  cr_expect_eq(m.payload.gift.count, 4294967295u);
  cr_expect_eq(m.seq, UINT64_MAX);
  cr_expect(!chat("{\"type\":\"gift\",\"seq\":18446744073709551616}", &m, &err));
}

Test(json_decode, over_long_strings)
{
  char js[2200];
  char user[200];
  memset(user, 'a', 129);
  user[129] = '\0';
  snprintf(js, sizeof js, "{\"type\":\"chat\",\"user\":\"%s\"}", user);
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_expect(!chat(js, &m, &err));
  cr_expect_eq(err.status, TTB_JSON_LIMIT);
  cr_expect(strstr(err.msg, "user") != NULL, "%s", err.msg);
  /* the same bound on the server's side */
  Ttboost__V1__ServerMessage *p =
      ttb_pbc_ttboost_v1_ServerMessage_from_json(js, strlen(js), NULL, &err);
  cr_expect_null(p);
  cr_expect_eq(err.status, TTB_JSON_LIMIT);
  user[128] = '\0';
  snprintf(js, sizeof js, "{\"type\":\"chat\",\"user\":\"%s\"}", user);
  cr_expect(chat(js, &m, &err), "%s", err.msg);
}

Test(json_decode, unknown_keys_ignored_null_is_absent)
{
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_assert(chat("{\"type\":\"chat\",\"future\":{\"x\":[1,2,{\"y\":\"z\"}]},\"user\":\"A\","
                 "\"message\":null,\"seq\":3}",
                 &m, &err),
            "%s", err.msg);
  cr_expect_str_eq(m.payload.chat.user, "A");
  cr_expect_str_eq(m.payload.chat.message, "");
  cr_expect_eq(m.seq, 3);
}

Test(json_decode, unknown_type_is_its_own_status)
{
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_expect(!chat("{\"type\":\"sticker\",\"seq\":3}", &m, &err));
  cr_expect_eq(err.status, TTB_JSON_UNKNOWN_TYPE);
  Ttboost__V1__IngestEvent *e = ttb_pbc_ttboost_v1_IngestEvent_from_json(
      "{\"channel\":\"c\",\"type\":\"like\"}", 29, NULL, &err);
  cr_expect_null(e);
  cr_expect_eq(err.status, TTB_JSON_UNKNOWN_TYPE);
}

Test(json_decode, nested_oneof_allows_one_case)
{
  const char *js =
      "{\"time_us\":1,\"server\":{\"type\":\"pong\"},\"client\":{\"type\":\"ack\",\"seq\":1}}";
  ttb_json_error err;
  Ttboost__V1__TraceRecord *r =
      ttb_pbc_ttboost_v1_TraceRecord_from_json(js, strlen(js), NULL, &err);
  cr_expect_null(r);
  cr_expect(strstr(err.msg, "client") != NULL, "%s", err.msg);
  ttboost_v1_TraceRecord n;
  cr_expect(!ttb_npb_ttboost_v1_TraceRecord_from_json(js, strlen(js), &n, &err));
}

/* A repeated key whose value is a message with a flattened oneof: the last
 * one wins in both flavours. (That the protobuf-c flavour frees the member
 * the first one left is checked under LeakSanitizer by the fuzz regression
 * input tests/fuzz/regressions/fuzz-json-trace-record/.) */
Test(json_decode, repeated_key_last_oneof_member_wins)
{
  const char *js =
      "{\"time_us\":1,\"server\":{\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":2},"
      "\"server\":{\"type\":\"chat\",\"user\":\"B\",\"message\":\"m\"}}";
  ttb_json_error err;
  Ttboost__V1__TraceRecord *r =
      ttb_pbc_ttboost_v1_TraceRecord_from_json(js, strlen(js), NULL, &err);
  cr_assert_not_null(r, "%s", err.msg);
  cr_assert_eq(r->server->payload_case, TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT);
  cr_expect_str_eq(r->server->chat->user, "B");
  ttboost__v1__trace_record__free_unpacked(r, NULL);
  ttboost_v1_TraceRecord n;
  cr_assert(ttb_npb_ttboost_v1_TraceRecord_from_json(js, strlen(js), &n, &err), "%s", err.msg);
  cr_assert_eq(n.record.server.which_payload, ttboost_v1_ServerMessage_chat_tag);
  cr_expect_str_eq(n.record.server.payload.chat.user, "B");
}

Test(json_decode, enums_by_name_or_number)
{
  ttboost_v1_TraceRecord n;
  ttb_json_error err;
  const char *a = "{\"direction\":\"DIRECTION_INGEST\"}";
  cr_assert(ttb_npb_ttboost_v1_TraceRecord_from_json(a, strlen(a), &n, &err), "%s", err.msg);
  cr_expect_eq(n.direction, ttboost_v1_Direction_DIRECTION_INGEST);
  const char *b = "{\"direction\":2}";
  cr_assert(ttb_npb_ttboost_v1_TraceRecord_from_json(b, strlen(b), &n, &err), "%s", err.msg);
  cr_expect_eq(n.direction, ttboost_v1_Direction_DIRECTION_SERVER_TO_CLIENT);
  const char *c = "{\"direction\":\"SIDEWAYS\"}";
  cr_expect(!ttb_npb_ttboost_v1_TraceRecord_from_json(c, strlen(c), &n, &err));
  cr_expect(strstr(err.msg, "direction") != NULL, "%s", err.msg);
}

Test(json_decode, base64_bytes)
{
  const char *js = "{\"type\":\"audio\",\"packet\":\"AAEC/w==\",\"index\":2}";
  ttboost_v1_ServerMessage m;
  ttb_json_error err;
  cr_assert(chat(js, &m, &err), "%s", err.msg);
  cr_expect_eq(m.payload.audio.packet.size, 4);
  cr_expect_eq(m.payload.audio.packet.bytes[3], 0xFF);
  cr_expect(!chat("{\"type\":\"audio\",\"packet\":\"AAE*\"}", &m, &err));
  cr_expect(strstr(err.msg, "packet") != NULL, "%s", err.msg);
}

Test(json_encode, invalid_utf8_refused_and_fixed_buffer_bounded)
{
  ttboost_v1_ServerMessage m = ttboost_v1_ServerMessage_init_zero;
  m.which_payload = ttboost_v1_ServerMessage_chat_tag;
  strcpy(m.payload.chat.user, "\xFF");
  char buf[256];
  ttb_json_error err;
  cr_expect(!ttb_npb_ttboost_v1_ServerMessage_to_json(&m, buf, sizeof buf, NULL, &err));
  cr_expect(strstr(err.msg, "user") != NULL, "%s", err.msg);
  strcpy(m.payload.chat.user, "ok");
  cr_expect(!ttb_npb_ttboost_v1_ServerMessage_to_json(&m, buf, 10, NULL, &err));
  cr_expect_eq(err.status, TTB_JSON_LIMIT);
}

Test(validate, binary_messages_are_bounded_and_utf8)
{
  Ttboost__V1__ChatEvent chat = TTBOOST__V1__CHAT_EVENT__INIT;
  char user[300];
  memset(user, 'x', 200);
  user[200] = '\0';
  chat.user = user;
  Ttboost__V1__ServerMessage m = TTBOOST__V1__SERVER_MESSAGE__INIT;
  m.payload_case = TTBOOST__V1__SERVER_MESSAGE__PAYLOAD_CHAT;
  m.chat = &chat;
  char err[160];
  cr_expect(!ttb_pbc_ttboost_v1_ServerMessage_validate(&m, err, sizeof err));
  cr_expect(strstr(err, "user") != NULL, "%s", err);
  chat.user = "\xC3";
  cr_expect(!ttb_pbc_ttboost_v1_ServerMessage_validate(&m, err, sizeof err));
  chat.user = "ok";
  cr_expect(ttb_pbc_ttboost_v1_ServerMessage_validate(&m, err, sizeof err), "%s", err);
  m.chat = NULL;
  cr_expect(!ttb_pbc_ttboost_v1_ServerMessage_validate(&m, err, sizeof err));
}

/* A document at every bound of the schema ((ttboost.max_count)) decodes on
 * both sides: the client's decoder sizes its tokens from those bounds (the
 * channel settings need more than TTB_JSON_MAX_TOKENS). */
Test(json_decode, channel_settings_at_the_schema_bounds)
{
  size_t cap = 64 * 1024, n = 0;
  char *js = malloc(cap);
  cr_assert_not_null(js);
  n += (size_t)snprintf(js + n, cap - n,
                        "{\"reading\":{\"username\":\"USERNAME_MODE_ALWAYS\",\"text_template\":"
                        "\"{user}: {message}\",\"max_chars\":200,\"strip_links\":true,"
                        "\"strip_emoji\":true,\"strip_mentions\":true,\"command_prefix\":\"!tts\"},"
                        "\"pacing\":{\"cooldown_seconds\":5,\"max_backlog_seconds\":30},"
                        "\"voice\":{\"rate\":200,\"pitch\":40,\"voices\":[");
  for (int i = 0; i < 16; i++)
    n += (size_t)snprintf(js + n, cap - n, "%s{\"language\":\"l%d\",\"voice\":\"en\"}",
                          i ? "," : "", i);
  n += (size_t)snprintf(js + n, cap - n, "]},\"banned_words\":[");
  for (int i = 0; i < 200; i++)
    n += (size_t)snprintf(js + n, cap - n, "%s\"w%d\"", i ? "," : "", i);
  n += (size_t)snprintf(js + n, cap - n, "],\"gifts\":{\"min_diamonds\":5,\"sounds\":[");
  for (int i = 0; i < 64; i++)
    n += (size_t)snprintf(js + n, cap - n, "%s{\"gift_name\":\"g%d\",\"sound\":\"bell\"}",
                          i ? "," : "", i);
  n += (size_t)snprintf(js + n, cap - n, "]},\"updated_ms\":1}");
  cr_assert_lt(n, cap);

  ttb_json_error err = {0};
  static ttboost_v1_ChannelSettings c; /* large: not on the stack */
  cr_assert(ttb_npb_ttboost_v1_ChannelSettings_from_json(js, n, &c, &err), "client: %s", err.msg);
  cr_assert_eq(c.banned_words_count, 200);
  cr_assert_eq(c.gifts.sounds_count, 64);
  cr_assert_eq(c.voice.voices_count, 16);
  Ttboost__V1__ChannelSettings *s = ttb_pbc_ttboost_v1_ChannelSettings_from_json(js, n, NULL, &err);
  cr_assert_not_null(s, "server: %s", err.msg);
  cr_assert_eq(s->n_banned_words, 200);
  ttboost__v1__channel_settings__free_unpacked(s, NULL);
  free(js);
}
