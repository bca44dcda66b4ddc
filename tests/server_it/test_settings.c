/*
 * Channel settings (GET and PUT /me/settings, issue 15) against the real
 * server: the defaults, the checks (400 naming the field, 413, 401), and
 * that the next ingested event follows them: the chat's tts_url is the id
 * of the expected text (as POST /tts/generate gives it for that text), a
 * chat without the command prefix or with a banned word or within the
 * cooldown has tts_url "", a cheap gift has no sound, an override plays its
 * sound; the settings survive a restart.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static srv S;
static char key[128], user[64], token[64];
static char sounds[64]; /* a copy of the catalogue */

static void rm_sounds(void);

/* Copies a file; on a failure the copy dir is removed (the suite's fini does
 * not run when its init fails) and the test fails. */
static void copy_file(const char *from, const char *to)
{
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  bool ok = a && b;
  char buf[8192];
  size_t n;
  while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0)
    ok = fwrite(buf, 1, n, b) == n;
  if (a)
    fclose(a);
  if (b && fclose(b) != 0)
    ok = false;
  if (!ok)
    rm_sounds();
  cr_assert(ok, "%s -> %s", from, to);
}

static void make_sounds(void)
{
  snprintf(sounds, sizeof sounds, "/tmp/ttb_it_sounds_XXXXXX");
  cr_assert_not_null(mkdtemp(sounds));
  const char *src = env_or_fail("TTBOOST_SOUNDS_DIR");
  DIR *d = opendir(src);
  if (d == NULL)
    rm_sounds();
  cr_assert_not_null(d, "%s", src);
  struct dirent *e;
  char a[1024], b[1024];
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".ogg") != 0)
      continue;
    snprintf(a, sizeof a, "%s/%s", src, e->d_name);
    snprintf(b, sizeof b, "%s/%s", sounds, e->d_name);
    copy_file(a, b);
  }
  closedir(d);
}

static void rm_sounds(void)
{
  DIR *d = opendir(sounds);
  if (d == NULL)
    return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", sounds, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(sounds);
}

static void start(bool keep)
{
  const char *extra[] = {"--sounds-dir", sounds, NULL};
  srv_start(&S, extra, keep);
}

static void setup(void)
{
  make_sounds();
  start(false);
  new_key(&S, key, sizeof key, NULL, NULL);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
}

static void teardown(void)
{
  if (S.pid > 0)
    srv_stop(&S);
  srv_cleanup(&S);
  rm_sounds();
}

TestSuite(settings, .init = setup, .fini = teardown, .timeout = 120);

/* GET or PUT /me/settings with the session's token (or auth as given). */
static int settings(const char *method, const char *body, const char *auth, http_resp *r)
{
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
           auth ? auth : token);
  return http(&S, method, "/me/settings", hdr, body, body ? strlen(body) : 0, r);
}

static void put_ok(const char *body)
{
  http_resp r;
  cr_assert_eq(settings("PUT", body, NULL, &r), 200, "%s -> %s", body, r.body);
  cr_assert_gt(json_num(r.body, "updated_ms"), 1700000000000LL, "%s", r.body);
  http_free(&r);
}

static void put_bad(const char *body, int status, const char *field)
{
  http_resp r;
  cr_assert_eq(settings("PUT", body, NULL, &r), status, "%s -> %s", body, r.body);
  if (field)
    cr_assert(strstr(r.body, field) != NULL, "%s: the answer should name %s: %s", body, field,
              r.body);
  http_free(&r);
}

static void post(const char *body)
{
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
}

static void chat(const char *who, const char *msg)
{
  char body[2048];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"%s\",\"message\":\"%s\"}", user, who,
           msg);
  post(body);
}

static void gift(const char *name, int diamonds)
{
  char body[512];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"g\",\"gift_name\":\"%s\",\"count\":1,"
           "\"diamond_count\":%d}",
           user, name, diamonds);
  post(body);
}

static void open_ws(ws *w)
{
  char path[256];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(w, &S, path, NULL), 0);
}

/* The next event of this type; its field `field` into out ("" when absent). */
static void next(ws *w, const char *type, const char *field, char *out, size_t cap)
{
  char m[4096];
  for (int i = 0; i < 20; i++) {
    cr_assert(ws_text(w, m, sizeof m, 5000), "no %s event", type);
    char t[32] = "";
    json_str(m, "type", t, sizeof t);
    if (strcmp(t, type) != 0)
      continue;
    out[0] = '\0';
    json_str(m, field, out, cap);
    return;
  }
  cr_assert_fail("no %s event", type);
}

/* The URL POST /tts/generate gives for text (and voice, when not NULL). */
static void tts_url_of(const char *text, char *out, size_t cap)
{
  char body[1024], hdr[256];
  snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
           token);
  http_resp r;
  cr_assert_eq(http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r), 200, "%s", r.body);
  cr_assert(json_str(r.body, "url", out, cap), "%s", r.body);
  http_free(&r);
}

Test(settings, defaults_and_auth)
{
  http_resp r;
  cr_assert_eq(settings("GET", NULL, NULL, &r), 200, "%s", r.body);
  /* nothing set: every field at its zero value (the encoder writes the empty list) */
  cr_assert_str_eq(r.body, "{\"banned_words\":[]}");
  http_free(&r);
  cr_assert_eq(settings("GET", NULL, "not-a-token", &r), 401, "%s", r.body);
  http_free(&r);
  cr_assert_eq(settings("PUT", "{}", "not-a-token", &r), 401, "%s", r.body);
  http_free(&r);
  cr_assert_eq(http(&S, "GET", "/me/settings", NULL, NULL, 0, &r), 401, "%s", r.body);
  http_free(&r);
  cr_assert_eq(settings("DELETE", NULL, NULL, &r), 405, "%s", r.body);
  http_free(&r);
}

Test(settings, bad_values_name_the_field)
{
  put_bad("{\"reading\":{\"text_template\":\"{user} only\"}}", 400, "reading.text_template");
  put_bad("{\"reading\":{\"max_chars\":601}}", 400, "reading.max_chars");
  put_bad("{\"voice\":{\"rate\":20}}", 400, "voice.rate");
  put_bad("{\"voice\":{\"pitch\":100}}", 400, "voice.pitch");
  put_bad("{\"voice\":{\"voices\":[{\"language\":\"en\",\"voice\":\"klingon\"}]}}", 400,
          "voice.voices[0].voice");
  put_bad("{\"pacing\":{\"cooldown_seconds\":3601}}", 400, "pacing.cooldown_seconds");
  put_bad("{\"pacing\":{\"max_backlog_seconds\":601}}", 400, "pacing.max_backlog_seconds");
  put_bad("{\"banned_words\":[\" \"]}", 400, "banned_words[0]");
  put_bad("{\"gifts\":{\"sounds\":[{\"gift_name\":\"Rose\",\"sound\":\"no-such-sound\"}]}}", 400,
          "gifts.sounds[0].sound");
  put_bad("{\"reading\":", 400, NULL);
  /* a bad word after a good one: the decoder's error path (it once freed a static) */
  put_bad("{\"banned_words\":[\"ok\",\"\xff\xfe\",\"x\"]}", 400, "banned_words");
  put_bad("{\"reading\":{\"max_chars\":\"ten\"}}", 400, "max_chars");
  /* a body over the limit */
  size_t n = 40 * 1024;
  char *big = malloc(n + 1);
  cr_assert_not_null(big);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  big[n] = '\0';
  put_bad(big, 413, NULL);
  free(big);
  /* nothing was stored */
  http_resp r;
  cr_assert_eq(settings("GET", NULL, NULL, &r), 200);
  cr_assert_str_eq(r.body, "{\"banned_words\":[]}");
  http_free(&r);
}

Test(settings, put_answers_the_stored_document)
{
  http_resp r;
  const char *doc = "{\"reading\":{\"strip_links\":true,\"command_prefix\":\"!tts\"},"
                    "\"banned_words\":[\"  spam \"],\"gifts\":{\"min_diamonds\":5}}";
  cr_assert_eq(settings("PUT", doc, NULL, &r), 200, "%s", r.body);
  long long at = json_num(r.body, "updated_ms");
  cr_assert_gt(at, 1700000000000LL, "%s", r.body);
  char want[512];
  snprintf(want, sizeof want,
           "{\"reading\":{\"strip_links\":true,\"command_prefix\":\"!tts\"},\"banned_words\":"
           "[\"spam\"],\"gifts\":{\"min_diamonds\":5,\"sounds\":[]},\"updated_ms\":%lld}",
           at);
  cr_assert_str_eq(r.body, want);
  http_free(&r);
  cr_assert_eq(settings("GET", NULL, NULL, &r), 200);
  cr_assert_str_eq(r.body, want);
  http_free(&r);
  /* PUT replaces the whole document */
  put_ok("{\"pacing\":{\"cooldown_seconds\":10}}");
  cr_assert_eq(settings("GET", NULL, NULL, &r), 200);
  cr_assert(strstr(r.body, "reading") == NULL && strstr(r.body, "cooldown_seconds\":10"), "%s",
            r.body);
  http_free(&r);
}

Test(settings, chats_follow_the_reading_settings)
{
  ws w;
  open_ws(&w);
  char got[512], want[512];
  /* the defaults: "user: message" */
  chat("anna", "hello there");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("anna: hello there", want, sizeof want);
  cr_assert_str_eq(got, want);

  put_ok("{\"reading\":{\"username\":\"USERNAME_MODE_ALWAYS\",\"text_template\":\"{user} says "
         "{message}\",\"strip_links\":true}}");
  chat("anna", "look https://example.com/x now");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("anna says look now", want, sizeof want);
  cr_assert_str_eq(got, want);

  put_ok("{\"reading\":{\"command_prefix\":\"!tts\",\"username\":\"USERNAME_MODE_NEVER\"},"
         "\"banned_words\":[\"spam\"]}");
  chat("bob", "no prefix here");
  next(&w, "chat", "tts_url", got, sizeof got);
  cr_assert_str_eq(got, "", "a chat without the prefix is sent, not spoken");
  chat("bob", "!tts read this");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("read this", want, sizeof want);
  cr_assert_str_eq(got, want);
  chat("bob", "!tts buy SPAM now");
  next(&w, "chat", "tts_url", got, sizeof got);
  cr_assert_str_eq(got, "", "a banned word");
  ws_close(&w);

  http_resp r;
  cr_assert_eq(http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r), 200);
  cr_assert(strstr(r.body, "ttboost_chats_unspoken_total{reason=\"command\"} 1\n"), "%s", r.body);
  cr_assert(strstr(r.body, "ttboost_chats_unspoken_total{reason=\"banned\"} 1\n"), "%s", r.body);
  http_free(&r);
}

Test(settings, cooldown_per_viewer)
{
  put_ok("{\"pacing\":{\"cooldown_seconds\":600},\"reading\":{\"username\":2}}");
  ws w;
  open_ws(&w);
  char got[512], want[512];
  chat("carl", "first");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("first", want, sizeof want);
  cr_assert_str_eq(got, want);
  chat("carl", "second");
  next(&w, "chat", "tts_url", got, sizeof got);
  cr_assert_str_eq(got, "", "within carl's cooldown");
  chat("dora", "other viewer");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("other viewer", want, sizeof want);
  cr_assert_str_eq(got, want);
  ws_close(&w);
}

/* Uploads the catalogue's bell (Ogg Opus) as one of the caller's own
 * sounds (POST /me/sounds); its id ("u-<n>") into id. */
static void upload_bell(const char *tok, char *id, size_t cap)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/bell.ogg", sounds);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  static char data[512 * 1024];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  cr_assert_gt(n, 0);
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: audio/ogg\r\n", tok);
  http_resp r;
  cr_assert_eq(http(&S, "POST", "/me/sounds?name=Bell", hdr, data, n, &r), 200, "%s", r.body);
  cr_assert(json_str(r.body, "id", id, cap), "%s", r.body);
  http_free(&r);
}

Test(settings, gift_rules)
{
  char lion[32], gone[32], body[512];
  upload_bell(token, lion, sizeof lion);
  upload_bell(token, gone, sizeof gone);
  snprintf(body, sizeof body,
           "{\"gifts\":{\"min_diamonds\":5,\"sounds\":[{\"gift_name\":\"rose\",\"sound\":\"bell\"},"
           "{\"gift_name\":\"Lion\",\"sound\":\"%s\"},{\"gift_name\":\"Unmapped "
           "Hat\",\"sound\":\"%s\"}]}}",
           lion, gone);
  put_ok(body);
  /* the second one deleted after the PUT: its gift falls back to the catalogue */
  char auth[128], del[64];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
  snprintf(del, sizeof del, "{\"id\":\"%s\"}", gone);
  http_resp r;
  cr_assert_eq(http(&S, "DELETE", "/me/sounds", auth, del, strlen(del), &r), 200, "%s", r.body);
  http_free(&r);
  ws w;
  open_ws(&w);
  char got[512], want[512];
  gift("Tiny Gift", 1);
  next(&w, "gift", "sound_url", got, sizeof got);
  cr_assert_str_eq(got, "", "worth fewer diamonds than min_diamonds: no sound");
  gift("Rose", 10);
  next(&w, "gift", "sound_url", got, sizeof got);
  snprintf(want, sizeof want, "%s/sounds/bell.ogg", S.url);
  cr_assert_str_eq(got, want, "the override, the gift name in any case");
  gift("Lion", 29999);
  next(&w, "gift", "sound_url", got, sizeof got);
  snprintf(want, sizeof want, "%s/sounds/%s.ogg", S.url, lion);
  cr_assert_str_eq(got, want, "an uploaded sound that exists");
  snprintf(want, sizeof want, "/sounds/%s.ogg", lion);
  cr_assert_eq(http(&S, "GET", want, NULL, NULL, 0, &r), 200);
  http_free(&r);
  gift("Unmapped Hat", 99);
  next(&w, "gift", "sound_url", got, sizeof got);
  snprintf(want, sizeof want, "%s/sounds/default.ogg", S.url);
  cr_assert_str_eq(got, want, "an uploaded sound that is gone: the normal mapping");
  ws_close(&w);
}

/* A gift override may name only the caller's own sounds: another license's,
 * a deleted one and one never made are refused, naming the field. */
Test(settings, own_sounds_only)
{
  char key2[128], user2[64], token2[64], theirs[32], body[256];
  new_key(&S, key2, sizeof key2, NULL, NULL);
  cr_assert_eq(login(&S, key2, NULL, user2, token2), 200);
  upload_bell(token2, theirs, sizeof theirs);
  snprintf(body, sizeof body,
           "{\"gifts\":{\"sounds\":[{\"gift_name\":\"Lion\",\"sound\":\"%s\"}]}}", theirs);
  put_bad(body, 400, "gifts.sounds[0].sound");
  put_bad("{\"gifts\":{\"sounds\":[{\"gift_name\":\"Lion\",\"sound\":\"u-999999\"}]}}", 400,
          "gifts.sounds[0].sound");
  /* the owner may */
  http_resp r;
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
           token2);
  cr_assert_eq(http(&S, "PUT", "/me/settings", hdr, body, strlen(body), &r), 200, "%s", r.body);
  http_free(&r);
}

Test(settings, survive_a_restart)
{
  put_ok("{\"banned_words\":[\"secret\"],\"reading\":{\"username\":2}}");
  http_resp r;
  cr_assert_eq(settings("GET", NULL, NULL, &r), 200);
  char before[1024];
  snprintf(before, sizeof before, "%s", r.body);
  http_free(&r);
  cr_assert_eq(srv_stop(&S), 0);
  start(true);
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  cr_assert_eq(settings("GET", NULL, NULL, &r), 200);
  cr_assert_str_eq(r.body, before);
  http_free(&r);
  ws w;
  open_ws(&w);
  char got[512], want[512];
  chat("eve", "the secret word");
  next(&w, "chat", "tts_url", got, sizeof got);
  cr_assert_str_eq(got, "", "the banned word, applied from the reloaded cache");
  chat("eve", "fine words");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("fine words", want, sizeof want);
  cr_assert_str_eq(got, want);
  ws_close(&w);
}

/* GET of a URL of this server: the body's length (the speech is made on demand). */
static size_t fetch_len(const char *url)
{
  http_resp r;
  cr_assert_eq(http(&S, "GET", url + strlen(S.url), NULL, NULL, 0, &r), 200, "%s", url);
  size_t n = r.body_len;
  http_free(&r);
  return n;
}

Test(settings, rate_and_pitch_reach_espeak)
{
  const char *text = "one two three four five six seven eight nine ten eleven twelve";
  char body[512];
  snprintf(body, sizeof body, "{\"reading\":{\"username\":2},\"voice\":{\"rate\":450}}");
  put_ok(body);
  ws w;
  open_ws(&w);
  char fast[512], normal[512], low[512];
  chat("a", text);
  next(&w, "chat", "tts_url", fast, sizeof fast);
  tts_url_of(text, normal, sizeof normal);
  cr_assert(fast[0] && strcmp(fast, normal) != 0, "a rate gives another id: %s", fast);
  size_t nf = fetch_len(fast), nn = fetch_len(normal);
  /* 450 words a minute against 175: well under two thirds of the length */
  cr_assert_lt(nf * 3, nn * 2, "fast %zu bytes, normal %zu bytes", nf, nn);
  put_ok("{\"reading\":{\"username\":2},\"voice\":{\"pitch\":10}}");
  chat("a", text);
  next(&w, "chat", "tts_url", low, sizeof low);
  cr_assert(low[0] && strcmp(low, normal) != 0 && strcmp(low, fast) != 0, "%s", low);
  cr_assert_gt(fetch_len(low), 1000);
  /* back to the defaults: the id of before */
  put_ok("{\"reading\":{\"username\":2}}");
  chat("a", text);
  next(&w, "chat", "tts_url", low, sizeof low);
  cr_assert_str_eq(low, normal);
  ws_close(&w);
}

/* The value of a /metrics line "name value"; -1 when absent. */
static long long metric(const char *name)
{
  http_resp r;
  cr_assert_eq(http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r), 200);
  long long v = -1;
  size_t n = strlen(name);
  for (const char *p = r.body; p && *p; p = strchr(p, '\n')) {
    if (*p == '\n')
      p++;
    if (strncmp(p, name, n) == 0 && p[n] == ' ') {
      v = atoll(p + n + 1);
      break;
    }
  }
  http_free(&r);
  return v;
}

/* max_backlog_seconds: with the one worker held by a hung synthesis, the
 * channel's waiting speech is bounded in guessed seconds (5 words at 175
 * words a minute: about 2 s each), the oldest dropped; without it, the
 * --tts-backlog count (16) applies and nothing is dropped. */
Test(settings, backlog_in_seconds)
{
  cr_assert_eq(srv_stop(&S), 0);
  setenv("TTB_TTS_WORKER_TEST_HANG", "hangword", 1);
  const char *extra[] = {"--sounds-dir", sounds, "--tts-workers", "1", "--tts-eager", "yes", NULL};
  srv_start(&S, extra, true);
  unsetenv("TTB_TTS_WORKER_TEST_HANG"); /* the server's workers have it */
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  put_ok("{\"reading\":{\"username\":2},\"pacing\":{\"max_backlog_seconds\":3}}");
  ws w;
  open_ws(&w);
  char got[512], text[128];
  chat("a", "hangword");
  next(&w, "chat", "tts_url", got, sizeof got);
  long long before = metric("ttboost_tts_backlog_dropped_total");
  cr_assert_eq(before, 0);
  for (int i = 0; i < 6; i++) {
    snprintf(text, sizeof text, "alpha beta gamma delta %d", i);
    chat("a", text);
    next(&w, "chat", "tts_url", got, sizeof got);
    cr_assert(got[0], "spoken (then dropped from the backlog)");
  }
  /* one fits in 3 s: each new one pushes the one waiting out */
  cr_assert_eq(metric("ttboost_tts_backlog_dropped_total"), 5);
  put_ok("{\"reading\":{\"username\":2}}");
  for (int i = 0; i < 6; i++) {
    snprintf(text, sizeof text, "omega beta gamma delta %d", i);
    chat("a", text);
    next(&w, "chat", "tts_url", got, sizeof got);
  }
  cr_assert_eq(metric("ttboost_tts_backlog_dropped_total"), 5, "the count bound only");
  ws_close(&w);
}

/* A voice per language, with an espeak-ng variant: the chat's speech is
 * another file than the default voice's, and it is made; an unknown variant
 * is refused. */
Test(settings, voice_per_language_with_a_variant)
{
  put_bad("{\"voice\":{\"voices\":[{\"language\":\"en\",\"voice\":\"en+nosuch\"}]}}", 400,
          "voice.voices[0].voice");
  put_ok("{\"reading\":{\"username\":2},\"voice\":{\"voices\":[{\"language\":\"en\","
         "\"voice\":\"en+f3\"},{\"language\":\"ru\",\"voice\":\"ru\"}]}}");
  ws w;
  open_ws(&w);
  char got[512], normal[512];
  chat("a", "hello from the variant");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("hello from the variant", normal, sizeof normal);
  cr_assert(got[0] && strcmp(got, normal) != 0, "en+f3 gives another id: %s", got);
  cr_assert_gt(fetch_len(got), 1000, "the variant's speech is made");
  /* a language not listed keeps the server's pick */
  put_ok("{\"reading\":{\"username\":2},\"voice\":{\"voices\":[{\"language\":\"ru\","
         "\"voice\":\"ru+m3\"}]}}");
  chat("a", "plain english");
  next(&w, "chat", "tts_url", got, sizeof got);
  tts_url_of("plain english", normal, sizeof normal);
  cr_assert_str_eq(got, normal);
  ws_close(&w);
}
