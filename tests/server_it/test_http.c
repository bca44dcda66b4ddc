/*
 * ttboost-server's HTTP endpoints, against the real binary on a loopback
 * port: login and its errors, TTS, audio files, ingest, health, metrics, and
 * bad input of every kind answered with a clear error while the server goes
 * on serving.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <opusfile.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "trace.h"

static srv S;

static void setup(void) { srv_start(&S, NULL, false); }
static void teardown(void)
{
  cr_expect_eq(srv_stop(&S), 0, "the server did not stop gracefully");
  srv_cleanup(&S);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 60);

static void expect_error(const http_resp *r, int status, const char *code)
{
  cr_expect_eq(r->status, status, "status %d, want %d: %s", r->status, status, r->body);
  char got[64] = "";
  cr_expect(json_str(r->body, "status", got, sizeof got) && strcmp(got, "error") == 0, "%s",
            r->body);
  cr_expect(json_str(r->body, "error", got, sizeof got) && strcmp(got, code) == 0,
            "error %s, want %s: %s", got, code, r->body);
  char msg[512];
  cr_expect(json_str(r->body, "message", msg, sizeof msg) && strlen(msg) > 5, "no message: %s",
            r->body);
}

Test(http, login_ok_is_the_spec_payload)
{
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  char body[256];
  snprintf(body, sizeof body, "{\"license_key\":\"%s\"}", key);
  http_resp r;
  http(&S, "POST", "/auth/login", "Content-Type: application/json\r\n", body, strlen(body), &r);
  cr_assert_eq(r.status, 200, "%s", r.body);
  /* {"status":"ok","user_id":"<uuid>","ws_token":"<uuid>"}: keys in the spec's order, UUIDs */
  cr_expect_eq(strncmp(r.body, "{\"status\":\"ok\",\"user_id\":\"", 26), 0, "%s", r.body);
  cr_assert(json_str(r.body, "user_id", user, sizeof user));
  cr_assert(json_str(r.body, "ws_token", token, sizeof token));
  cr_expect_eq(strlen(user), 36);
  cr_expect_eq(strlen(token), 36);
  cr_expect(user[8] == '-' && user[13] == '-' && token[18] == '-');
  cr_expect(strstr(r.headers, "application/json") != NULL);
  http_free(&r);
}

Test(http, login_errors_in_words)
{
  http_resp r;
  const char *bad[] = {"{", "[]", "{\"license_key\":5}", "{\"license_key\":\"\"}", "not json"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    http(&S, "POST", "/auth/login", NULL, bad[i], strlen(bad[i]), &r);
    expect_error(&r, 400, "malformed");
    http_free(&r);
  }
  const char *unknown = "{\"license_key\":\"TTB-NOPE-NOPE-NOPE\"}";
  http(&S, "POST", "/auth/login", NULL, unknown, strlen(unknown), &r);
  expect_error(&r, 401, "unknown_key");
  http_free(&r);
}

Test(http, revoked_and_device_limit)
{
  char key[128], user[64], token[64], out[256];
  new_key(&S, key, sizeof key, NULL, "1");
  cr_assert_eq(login(&S, key, "phone-a", user, token), 200);
  /* the same device again reuses its slot; another device is over the limit */
  cr_expect_eq(login(&S, key, "phone-a", user, token), 200);
  char body[256];
  snprintf(body, sizeof body, "{\"license_key\":\"%s\",\"device_id\":\"phone-b\"}", key);
  http_resp r;
  http(&S, "POST", "/auth/login", NULL, body, strlen(body), &r);
  expect_error(&r, 403, "device_limit");
  http_free(&r);
  const char *args[] = {"license", "revoke", key, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, args), 0, "%s", out);
  snprintf(body, sizeof body, "{\"license_key\":\"%s\",\"device_id\":\"phone-a\"}", key);
  http(&S, "POST", "/auth/login", NULL, body, strlen(body), &r);
  expect_error(&r, 403, "revoked");
  http_free(&r);
}

Test(http, too_many_failed_logins)
{
  const char *unknown = "{\"license_key\":\"TTB-WRONG\"}";
  http_resp r;
  for (int i = 0; i < 10; i++) {
    http(&S, "POST", "/auth/login", NULL, unknown, strlen(unknown), &r);
    cr_expect_eq(r.status, 401);
    http_free(&r);
  }
  http(&S, "POST", "/auth/login", NULL, unknown, strlen(unknown), &r);
  expect_error(&r, 429, "too_many_attempts");
  http_free(&r);
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_logins_total{result=\"rate_limited\"} 1") != NULL, "%s",
            r.body);
  http_free(&r);
}

static double decoded_seconds(const char *data, size_t len, double *rms)
{
  int err;
  OggOpusFile *of = op_open_memory((const unsigned char *)data, len, &err);
  cr_assert_not_null(of, "not Ogg Opus (error %d)", err);
  opus_int16 pcm[5760 * 2];
  long total = 0;
  double sum = 0;
  int n;
  while ((n = op_read(of, pcm, 5760 * 2, NULL)) > 0) {
    for (int i = 0; i < n; i++)
      sum += (double)pcm[i] * pcm[i];
    total += n;
  }
  op_free(of);
  *rms = total ? __builtin_sqrt(sum / (double)total) : 0;
  return (double)total / 48000.0;
}

Test(http, tts_gives_cached_speech)
{
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  const char *body = "{\"text\":\"Привет всем, спасибо за подарок!\"}";
  http_resp r;
  http(&S, "POST", "/tts/generate", auth, body, strlen(body), &r);
  cr_assert_eq(r.status, 200, "%s", r.body);
  char url[512];
  cr_assert(json_str(r.body, "url", url, sizeof url), "%s", r.body);
  http_free(&r);
  cr_expect(strncmp(url, S.url, strlen(S.url)) == 0, "%s", url);
  const char *path = url + strlen(S.url);
  cr_expect(strncmp(path, "/tts/", 5) == 0 && strstr(path, ".ogg"), "%s", path);

  http(&S, "GET", path, NULL, NULL, 0, &r);
  cr_assert_eq(r.status, 200);
  cr_expect(strcasestr(r.headers, "content-type: audio/ogg") != NULL, "%s", r.headers);
  cr_expect(strcasestr(r.headers, "etag:") != NULL, "%s", r.headers);
  cr_expect(strcasestr(r.headers, "immutable") != NULL, "%s", r.headers);
  double rms;
  double secs = decoded_seconds(r.body, r.body_len, &rms);
  cr_expect(secs > 1.0 && secs < 10.0, "speech of %.2f s", secs);
  cr_expect(rms > 300, "silent speech (rms %.1f)", rms);
  size_t full = r.body_len;
  http_free(&r);

  /* Range */
  http(&S, "GET", path, "Range: bytes=0-99\r\n", NULL, 0, &r);
  cr_expect_eq(r.status, 206);
  cr_expect_eq(r.body_len, 100);
  http_free(&r);
  cr_expect(full > 1000);

  /* the same text again: the same URL, a cache hit */
  http(&S, "POST", "/tts/generate", auth, body, strlen(body), &r);
  char url2[512];
  cr_assert(json_str(r.body, "url", url2, sizeof url2));
  cr_expect_str_eq(url, url2);
  http_free(&r);
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_tts_cache_hits_total 1") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_tts_syntheses_total 1") != NULL, "%s", r.body);
  http_free(&r);
}

Test(http, tts_needs_a_token)
{
  const char *body = "{\"text\":\"hi\"}";
  http_resp r;
  http(&S, "POST", "/tts/generate", NULL, body, strlen(body), &r);
  expect_error(&r, 401, "unauthorized");
  http_free(&r);
  http(&S, "POST", "/tts/generate",
       "Authorization: Bearer 00000000-0000-4000-8000-000000000000\r\n", body, strlen(body), &r);
  expect_error(&r, 401, "unauthorized");
  http_free(&r);
}

Test(http, no_path_traversal)
{
  const char *paths[] = {"/tts/../ttboost.db", "/tts/..%2fttboost.db", "/sounds/../../etc/passwd",
                         "/sounds/%2e%2e/%2e%2e/etc/passwd", "/tts/../ingest_secret"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    http_resp r;
    http(&S, "GET", paths[i], NULL, NULL, 0, &r);
    cr_expect(r.status == 404 || r.status == 400 || r.status == 403, "%s: %d", paths[i], r.status);
    cr_expect(strstr(r.body, "root:") == NULL && strstr(r.body, "SQLite") == NULL, "%s leaked",
              paths[i]);
    http_free(&r);
  }
}

Test(http, sounds_are_served)
{
  http_resp r;
  http(&S, "GET", "/sounds/default.ogg", NULL, NULL, 0, &r);
  cr_assert_eq(r.status, 200);
  cr_expect(strcasestr(r.headers, "content-type: audio/ogg") != NULL);
  double rms;
  double secs = decoded_seconds(r.body, r.body_len, &rms);
  cr_expect(secs > 0.2 && secs < 2.0, "%.2f s", secs);
  cr_expect(rms > 300, "silent sound (rms %.1f)", rms);
  http_free(&r);
  http(&S, "GET", "/sounds/no-such-gift.ogg", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
}

Test(http, huge_body_refused)
{
  size_t n = 2u << 20;
  char *big = malloc(n);
  memset(big, 'a', n);
  http_resp r;
  http(&S, "POST", "/auth/login", NULL, big, n, &r);
  cr_expect_eq(r.status, 413, "%d", r.status);
  http_free(&r);
  free(big);
  /* still serving */
  http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect_str_eq(r.body, "{\"status\":\"ok\"}");
  http_free(&r);
}

Test(http, ingest_needs_the_secret_and_names_bad_items)
{
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  http_resp r;
  http(&S, "POST", "/ingest/events", "Authorization: Bearer wrong\r\n", "{}", 2, &r);
  expect_error(&r, 401, "unauthorized");
  http_free(&r);

  char body[1024];
  snprintf(
      body, sizeof body,
      "[{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"A\",\"gift_name\":\"Rose\",\"count\":2},"
      "{\"channel\":\"%s\",\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":\"x\"},"
      "{\"channel\":\"nobody\",\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":1},"
      "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"B\",\"message\":\"\xff\"},"
      "{\"channel\":\"%s\",\"type\":\"like\"},"
      "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"C\",\"gift_name\":\"Lion\",\"count\":1}]",
      user, user, user, user, user);
  ingest(&S, body, &r);
  cr_assert_eq(r.status, 202, "%s", r.body);
  cr_expect_eq(json_num(r.body, "accepted"), 2, "%s", r.body);
  cr_expect(strstr(r.body, "\"status\":\"partial\"") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "\"index\":1,\"error\":\"invalid\",\"message\":\"count:") != NULL, "%s",
            r.body);
  cr_expect(strstr(r.body, "\"index\":2,\"error\":\"unknown_channel\"") != NULL, "%s", r.body);
  cr_expect(
      strstr(r.body, "\"index\":3,\"error\":\"invalid\",\"message\":\"message: invalid UTF-8") !=
          NULL,
      "%s", r.body);
  cr_expect(strstr(r.body, "\"index\":4,\"error\":\"unknown_type\"") != NULL, "%s", r.body);
  http_free(&r);

  /* a body that is not JSON at all, and one that is not an object or array */
  ingest(&S, "[{\"channel\":", &r);
  expect_error(&r, 400, "malformed");
  http_free(&r);
  ingest(&S, "42", &r);
  cr_expect_eq(r.status, 400, "%s", r.body);
  http_free(&r);
}

Test(http, unknown_endpoint_and_method)
{
  http_resp r;
  http(&S, "GET", "/nope", NULL, NULL, 0, &r);
  expect_error(&r, 404, "not_found");
  http_free(&r);
  http(&S, "GET", "/auth/login", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 405);
  http_free(&r);
}

Test(http, restart_keeps_licenses_and_sessions)
{
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  cr_assert_eq(srv_stop(&S), 0);
  srv_start(&S, NULL, true);
  char auth[128];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  const char *body = "{\"text\":\"still here\"}";
  http_resp r;
  http(&S, "POST", "/tts/generate", auth, body, strlen(body), &r);
  cr_expect_eq(r.status, 200, "the session did not survive the restart: %s", r.body);
  http_free(&r);
  char user2[64], token2[64];
  cr_expect_eq(login(&S, key, NULL, user2, token2), 200);
  cr_expect_str_eq(user, user2);
}

Test(http, trace_ingest_records_accepted_events)
{
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  cr_assert_eq(srv_stop(&S), 0);
  char path[400];
  snprintf(path, sizeof path, "%s/ingest.ttbtrace", S.dir);
  const char *extra[] = {"--trace-ingest", path, NULL};
  srv_start(&S, extra, true);
  char body[1024];
  snprintf(
      body, sizeof body,
      "[{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"A\",\"gift_name\":\"Rose\",\"count\":2},"
      "{\"channel\":\"nobody\",\"type\":\"gift\",\"gift_name\":\"Rose\",\"count\":1},"
      "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"B\",\"message\":\"Сәлем!\"}]",
      user, user);
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
  cr_assert_eq(srv_stop(&S), 0);

  /* the accepted two, in order; the refused one is not there */
  char err[256];
  ttb_trace_reader *tr;
  cr_assert_eq(ttb_trace_reader_open(path, &tr, err, sizeof err), 0, "%s", err);
  cr_expect_str_eq(ttb_trace_reader_header(tr)->source, "ttboost-server");
  Ttboost__V1__TraceRecord *rec;
  cr_assert_eq(ttb_trace_next(tr, &rec, err, sizeof err), 1, "%s", err);
  cr_expect_eq(rec->direction, TTBOOST__V1__DIRECTION__DIRECTION_INGEST);
  cr_assert_eq(rec->record_case, TTBOOST__V1__TRACE_RECORD__RECORD_INGEST);
  cr_expect_str_eq(rec->ingest->channel, user);
  cr_assert_eq(rec->ingest->event_case, TTBOOST__V1__INGEST_EVENT__EVENT_GIFT);
  cr_expect_eq(rec->ingest->gift->count, 2);
  ttboost__v1__trace_record__free_unpacked(rec, NULL);
  cr_assert_eq(ttb_trace_next(tr, &rec, err, sizeof err), 1, "%s", err);
  cr_assert_eq(rec->ingest->event_case, TTBOOST__V1__INGEST_EVENT__EVENT_CHAT);
  cr_expect_str_eq(rec->ingest->chat->message, "Сәлем!");
  ttboost__v1__trace_record__free_unpacked(rec, NULL);
  cr_expect_eq(ttb_trace_next(tr, &rec, err, sizeof err), 0, "%s", err);
  ttb_trace_reader_close(tr);
  srv_start(&S, NULL, true); /* for the suite's teardown */
}

/* The license's TikTok handle: ttboost-admin sets, checks and lists it;
 * GET and PUT /me/tiktok read and set it with the ws_token. */
Test(http, tiktok_handle_by_admin_and_api)
{
  char out[4096], key[128], user[64], token[64];
  const char *bad[] = {"license", "create", "--tiktok", "no spaces!", NULL};
  cr_expect_eq(admin(&S, out, sizeof out, bad), 2, "a bad handle is a usage error");
  const char *create[] = {"license", "create", "--tiktok", "@Aruka.Live", NULL};
  cr_assert_eq(admin(&S, out, sizeof out, create), 0);
  snprintf(key, sizeof key, "%.*s", (int)strcspn(out, "\n"), out);
  const char *list[] = {"license", "list", NULL};
  cr_assert_eq(admin(&S, out, sizeof out, list), 0);
  cr_expect(strstr(out, "@aruka.live") != NULL, "list shows the handle, lower case: %s", out);
  cr_assert_eq(login(&S, key, "phone", user, token), 200);

  char auth[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  http_resp r;
  cr_assert_gt(http(&S, "GET", "/me/tiktok", auth, NULL, 0, &r), 0);
  cr_expect_eq(r.status, 200, "%s", r.body);
  char got[64] = "";
  cr_expect(json_str(r.body, "username", got, sizeof got) && strcmp(got, "aruka.live") == 0, "%s",
            r.body);
  cr_expect(json_str(r.body, "state", got, sizeof got), "%s", r.body);
  http_free(&r);

  /* set by user id from the admin, then by the API */
  const char *set[] = {"license", "set-tiktok", user, "second_name", NULL};
  cr_assert_eq(admin(&S, out, sizeof out, set), 0);
  cr_assert_gt(http(&S, "GET", "/me/tiktok", auth, NULL, 0, &r), 0);
  cr_expect(json_str(r.body, "username", got, sizeof got) && strcmp(got, "second_name") == 0, "%s",
            r.body);
  http_free(&r);
  const char *body = "{\"username\":\"@Third.One\"}";
  cr_assert_gt(http(&S, "PUT", "/me/tiktok", auth, body, strlen(body), &r), 0);
  cr_expect_eq(r.status, 200, "%s", r.body);
  cr_expect(json_str(r.body, "username", got, sizeof got) && strcmp(got, "third.one") == 0, "%s",
            r.body);
  http_free(&r);
  const char *wrong[] = {"{\"username\":\"a\"}", "{\"username\":\"ends.\"}", "{\"username\":\"ы\"}",
                         "{\"username\":\""
                         "abcdefghijklmnopqrstuvwxy"
                         "\"}"};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    cr_assert_gt(http(&S, "PUT", "/me/tiktok", auth, wrong[i], strlen(wrong[i]), &r), 0);
    expect_error(&r, 400, "invalid_username");
    http_free(&r);
  }
  cr_assert_gt(http(&S, "PUT", "/me/tiktok", auth, "{\"username\":7}", 14, &r), 0);
  expect_error(&r, 400, "malformed");
  http_free(&r);
  /* unchanged by the refusals; "" clears */
  const char *clear = "{\"username\":\"\"}";
  cr_assert_gt(http(&S, "PUT", "/me/tiktok", auth, clear, strlen(clear), &r), 0);
  cr_expect(json_str(r.body, "username", got, sizeof got) && got[0] == '\0', "%s", r.body);
  cr_expect(json_str(r.body, "state", got, sizeof got) && strcmp(got, "off") == 0, "%s", r.body);
  http_free(&r);

  cr_assert_gt(http(&S, "GET", "/me/tiktok", NULL, NULL, 0, &r), 0);
  expect_error(&r, 401, "unauthorized");
  http_free(&r);
  cr_assert_gt(http(&S, "DELETE", "/me/tiktok", auth, NULL, 0, &r), 0);
  expect_error(&r, 405, "method");
  http_free(&r);
  const char *unknown[] = {"license", "set-tiktok", "no-such-user", "x_y", NULL};
  cr_expect_eq(admin(&S, out, sizeof out, unknown), 1);
  const char *missing[] = {"license", "set-tiktok", user, NULL};
  cr_expect_eq(admin(&S, out, sizeof out, missing), 2);
}

/* An idle server sleeps: after a login (the database thread's wake-up
 * pipe) and a TTS request (the speech worker's), it uses almost no CPU. A
 * wake-up pipe left unread makes the loop spin at a full core. */
Test(http, an_idle_server_uses_no_cpu)
{
  char key[128], user[64], token[64];
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, "idle", user, token), 200);
  char auth[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  http_resp r;
  const char *body = "{\"text\":\"idle check\"}";
  cr_assert_eq(http(&S, "POST", "/tts/generate", auth, body, strlen(body), &r), 200, "%s", r.body);
  http_free(&r);
  usleep(300 * 1000);
  double c0 = proc_cpu_seconds(S.pid);
  sleep(2);
  double used = proc_cpu_seconds(S.pid) - c0;
  cr_expect_lt(used, 0.2, "the idle server used %.2f CPU seconds in 2 s", used);
}
