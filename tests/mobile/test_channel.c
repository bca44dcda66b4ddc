/* tests/mobile/test_channel.c — the channel settings and the streamer's
 * sounds in the client core, without a server: a fake HTTP back end that
 * keeps a settings document (GET/PUT /me/settings, refusing a template
 * without {message} with 400 as the server does) and a list of sounds
 * (POST/GET/DELETE /me/sounds), and a fake socket for the fetch after each
 * connect. Checked: the fetch on connect, the TTB_EVENT_CHANNEL events, the
 * copy kept in data_dir across clients (and forgotten at logout, ignored
 * when damaged), client-side validation with the schema's decoder (nothing
 * sent), the server's own 400 message, the status mapping of
 * ttb__me_interpret, uploads (type sniffing, the name in the query, limits),
 * listing and deleting sounds. The real server: tests/mobile_net. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "tmpdir.h"

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ fake transport */

typedef struct {
  ttb__transport base;
  pthread_mutex_t mu;
  char q[4][512];
  int qn, qh;
  bool connect_pending;
  int opens;
} ftrans;

static ftrans *cur;
static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;

static int f_open(ttb__transport *t, const char *url, const char *sub)
{
  (void)url, (void)sub;
  ftrans *f = (ftrans *)t;
  pthread_mutex_lock(&f->mu);
  f->connect_pending = true;
  f->opens++;
  pthread_mutex_unlock(&f->mu);
  return TTB_OK;
}

static int f_send(ttb__transport *t, const uint8_t *d, size_t n, bool b)
{
  (void)t, (void)d, (void)n, (void)b;
  return TTB_OK;
}

static void f_close(ttb__transport *t, int code) { (void)t, (void)code; }

static void f_service(ttb__transport *t, int timeout_ms)
{
  ftrans *f = (ftrans *)t;
  pthread_mutex_lock(&f->mu);
  bool conn = f->connect_pending;
  f->connect_pending = false;
  pthread_mutex_unlock(&f->mu);
  if (conn)
    t->cb.on_connected(t->cb.user);
  for (;;) {
    char m[512];
    pthread_mutex_lock(&f->mu);
    bool have = f->qn > 0;
    if (have) {
      memcpy(m, f->q[f->qh], sizeof m);
      f->qh = (f->qh + 1) % 4;
      f->qn--;
    }
    pthread_mutex_unlock(&f->mu);
    if (!have)
      break;
    t->cb.on_message(t->cb.user, (const uint8_t *)m, strlen(m), false);
  }
  if (timeout_ms > 0)
    sleep_ms(timeout_ms < 2 ? timeout_ms : 2);
}

static void f_wake(ttb__transport *t) { (void)t; }

static void f_destroy(ttb__transport *t)
{
  ftrans *f = (ftrans *)t;
  pthread_mutex_lock(&cur_mu);
  if (cur == f)
    cur = NULL;
  pthread_mutex_unlock(&cur_mu);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

static const ttb__transport_ops f_ops = {f_open, f_send, f_close, f_service, f_wake, f_destroy};

static int f_factory(void *user, ttb__transport **out)
{
  (void)user;
  ftrans *f = calloc(1, sizeof *f);
  if (!f)
    return TTB_ERR_NOMEM;
  pthread_mutex_init(&f->mu, NULL);
  f->base.ops = &f_ops;
  pthread_mutex_lock(&cur_mu);
  cur = f;
  pthread_mutex_unlock(&cur_mu);
  *out = &f->base;
  return TTB_OK;
}

static const char HELLO[] =
    "{\"type\":\"hello\",\"last_seq\":0,\"first_seq\":0,\"resume_gap\":false,"
    "\"server_time_ms\":1,\"protocol_version\":1,"
    "\"heartbeat_interval_ms\":10000,\"seq\":0}";

/* Waits for the socket to open, then says hello. */
static void hello(void)
{
  for (int i = 0; i < 5000; i++) {
    pthread_mutex_lock(&cur_mu);
    bool done = false;
    if (cur) {
      pthread_mutex_lock(&cur->mu);
      if (cur->opens > 0 && cur->qn < 4) {
        snprintf(cur->q[(cur->qh + cur->qn) % 4], 512, "%s", HELLO);
        cur->qn++;
        done = true;
      }
      pthread_mutex_unlock(&cur->mu);
    }
    pthread_mutex_unlock(&cur_mu);
    if (done)
      return;
    sleep_ms(1);
  }
  cr_assert_fail("the client did not open its socket");
}

/* ------------------------------------------------------------ fake server */

static struct {
  pthread_mutex_t mu;
  char settings[4096]; /* the document kept ("{}" at first) */
  long long updated;
  int force_status; /* answer this status to /me/... instead (0: behave) */
  char force_body[512];
  int fail;  /* a TTB_ERR_* instead of any answer */
  int calls; /* /me/... requests */
  char method[8];
  char url[512];
  char bearer[64];
  char ctype[64];
  char sent[4096];
  size_t sent_len;
  int sounds; /* sounds uploaded and not deleted: ids u-1 .. */
  int next_sound;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void reset_server(void)
{
  pthread_mutex_lock(&S.mu);
  snprintf(S.settings, sizeof S.settings, "{}");
  S.updated = 1700000000000LL;
  S.force_status = 0;
  S.fail = 0;
  S.calls = 0;
  S.sounds = 0;
  S.next_sound = 1;
  S.method[0] = S.url[0] = S.bearer[0] = S.ctype[0] = S.sent[0] = '\0';
  pthread_mutex_unlock(&S.mu);
}

static void force(int status, const char *body)
{
  pthread_mutex_lock(&S.mu);
  S.force_status = status;
  snprintf(S.force_body, sizeof S.force_body, "%s", body);
  pthread_mutex_unlock(&S.mu);
}

static int reply(ttb__http_resp *resp, int status, const char *body)
{
  resp->status = status;
  resp->len = strlen(body);
  resp->body = malloc(resp->len + 1);
  if (!resp->body)
    return TTB_ERR_NOMEM;
  memcpy(resp->body, body, resp->len + 1);
  return TTB_OK;
}

static int fake_http(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                     size_t errlen)
{
  (void)user;
  memset(resp, 0, sizeof *resp);
  if (strstr(req->url, "/auth/login"))
    return reply(resp, 200, "{\"status\":\"ok\",\"user_id\":\"u-1\",\"ws_token\":\"tok-123\"}");
  char body[4096 + 64];
  int status = 200;
  pthread_mutex_lock(&S.mu);
  S.calls++;
  snprintf(S.method, sizeof S.method, "%s", req->method);
  snprintf(S.url, sizeof S.url, "%s", req->url);
  snprintf(S.bearer, sizeof S.bearer, "%s", req->bearer ? req->bearer : "");
  snprintf(S.ctype, sizeof S.ctype, "%s", req->content_type ? req->content_type : "");
  S.sent_len = req->body_len;
  snprintf(S.sent, sizeof S.sent, "%.*s", (int)req->body_len,
           req->body ? (const char *)req->body : "");
  if (S.fail) {
    int f = S.fail;
    pthread_mutex_unlock(&S.mu);
    snprintf(err, errlen, "connection refused");
    return f;
  }
  if (S.force_status) {
    status = S.force_status;
    snprintf(body, sizeof body, "%s", S.force_body);
  } else if (strstr(req->url, "/me/settings") && strcmp(req->method, "GET") == 0) {
    snprintf(body, sizeof body, "%s", S.settings);
  } else if (strstr(req->url, "/me/settings") && strcmp(req->method, "PUT") == 0) {
    if (strstr(S.sent, "text_template") && !strstr(S.sent, "{message}")) {
      status = 400;
      snprintf(body, sizeof body,
               "{\"status\":\"error\",\"error\":\"invalid_settings\",\"message\":"
               "\"reading.text_template must contain {message}\"}");
    } else {
      /* Keep it with the server's stamp, as the real one answers. */
      S.updated++;
      size_t n = strlen(S.sent);
      if (n <= 2)
        snprintf(S.settings, sizeof S.settings, "{\"updated_ms\":%lld}", S.updated);
      else
        snprintf(S.settings, sizeof S.settings, "%.*s,\"updated_ms\":%lld}", (int)(n - 1), S.sent,
                 S.updated);
      snprintf(body, sizeof body, "%s", S.settings);
    }
  } else if (strstr(req->url, "/me/sounds") && strcmp(req->method, "POST") == 0) {
    int id = S.next_sound++;
    S.sounds++;
    snprintf(body, sizeof body,
             "{\"id\":\"u-%d\",\"name\":\"Air Horn\",\"duration_ms\":1800,"
             "\"url\":\"http://fake.test:8080/sounds/u-%d.ogg\"}",
             id, id);
  } else if (strstr(req->url, "/me/sounds") && strcmp(req->method, "GET") == 0) {
    if (S.sounds)
      snprintf(body, sizeof body,
               "{\"sounds\":[{\"id\":\"u-1\",\"name\":\"Air Horn\",\"duration_ms\":1800,"
               "\"url\":\"http://fake.test:8080/sounds/u-1.ogg\"}]}");
    else
      snprintf(body, sizeof body, "{\"sounds\":[]}");
  } else if (strstr(req->url, "/me/sounds") && strcmp(req->method, "DELETE") == 0) {
    if (S.sounds && strstr(S.sent, "\"u-1\"")) {
      S.sounds--;
      snprintf(body, sizeof body, "{\"status\":\"ok\"}");
    } else {
      status = 404;
      snprintf(body, sizeof body,
               "{\"status\":\"error\",\"error\":\"not_found\",\"message\":\"no such sound\"}");
    }
  } else {
    status = 404;
    snprintf(body, sizeof body, "not found");
  }
  pthread_mutex_unlock(&S.mu);
  return reply(resp, status, body);
}

static int calls(void)
{
  pthread_mutex_lock(&S.mu);
  int n = S.calls;
  pthread_mutex_unlock(&S.mu);
  return n;
}

/* ------------------------------------------------------------ helpers */

static char dir[256];

static void setup(void)
{
  cr_assert_not_null(tmpdir_make(dir, sizeof dir, "ttb_channel_"));
  reset_server();
}
static void teardown(void) { tmpdir_remove(dir); }

static ttb_client *mk(bool login)
{
  ttb_client_config cfg = {.server_url = "http://fake.test:8080", .data_dir = dir};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  ttb__client_set_net(c, fake_http, NULL, f_factory, NULL);
  if (login)
    cr_assert_eq(ttb_client_login(c, "KEY"), TTB_OK, "%s", ttb_client_last_error(c));
  return c;
}

/* The client's copy, and where it comes from. */
static char got[TTB_CHANNEL_JSON_MAX + 1];
static int32_t source_of(ttb_client *c)
{
  int32_t src = -1;
  size_t len = 0;
  cr_assert_eq(ttb_client_channel_settings_json(c, got, sizeof got, &len, &src), TTB_OK);
  cr_assert_eq(len, strlen(got));
  return src;
}

/* The next TTB_EVENT_CHANNEL (others skipped). */
static bool next_channel(ttb_client *c, ttb_event *ev, int ms)
{
  for (int i = 0; i < ms; i++) {
    while (ttb_client_poll_event(c, ev))
      if (ev->kind == TTB_EVENT_CHANNEL)
        return true;
    sleep_ms(1);
  }
  return false;
}

TestSuite(channel, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ tests */

Test(channel, defaults_before_anything_is_known)
{
  ttb_client *c = mk(false);
  cr_assert_eq(source_of(c), TTB_CHANNEL_DEFAULTS);
  cr_assert_str_eq(got, "{}");
  /* Not logged in: nothing is sent. */
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_STATE);
  cr_assert_eq(ttb_client_set_channel_settings_json(c, "{}"), TTB_ERR_STATE);
  cr_assert_eq(calls(), 0);
  /* Too small a buffer says what is needed. */
  char small[2];
  size_t need = 0;
  cr_assert_eq(ttb_client_channel_settings_json(c, small, sizeof small, &need, NULL),
               TTB_ERR_INVALID);
  cr_assert_eq(need, 2);
  cr_assert_eq(ttb_client_channel_settings_json(NULL, got, sizeof got, NULL, NULL),
               TTB_ERR_INVALID);
  ttb_client_destroy(c);
}

Test(channel, fetched_after_each_connect_and_kept_for_offline)
{
  pthread_mutex_lock(&S.mu);
  snprintf(S.settings, sizeof S.settings,
           "{\"reading\":{\"command_prefix\":\"!tts\"},\"gifts\":{\"min_diamonds\":5},"
           "\"updated_ms\":1700000000001}");
  pthread_mutex_unlock(&S.mu);
  ttb_client *c = mk(true);
  cr_assert_eq(ttb_client_start(c), TTB_OK);
  hello();
  ttb_event ev;
  cr_assert(next_channel(c, &ev, 5000), "no TTB_EVENT_CHANNEL after the connect");
  cr_assert_eq(ev.count, 0, "%s", ev.text);
  cr_assert_eq(source_of(c), TTB_CHANNEL_SERVER);
  cr_assert(strstr(got, "\"command_prefix\":\"!tts\""), "%s", got);
  cr_assert(strstr(got, "\"min_diamonds\":5"), "%s", got);
  pthread_mutex_lock(&S.mu);
  cr_assert_str_eq(S.method, "GET");
  cr_assert_str_eq(S.url, "http://fake.test:8080/me/settings");
  cr_assert_str_eq(S.bearer, "tok-123");
  pthread_mutex_unlock(&S.mu);
  /* A reconnect fetches again; the same document queues no new event. */
  int before = calls();
  cr_assert_eq(ttb_client_reconnect_now(c), TTB_OK);
  for (int i = 0; i < 5000 && calls() == before; i++) {
    pthread_mutex_lock(&cur_mu);
    bool reopened = cur && cur->opens > 1 && cur->qn == 0;
    pthread_mutex_unlock(&cur_mu);
    if (reopened)
      hello();
    sleep_ms(1);
  }
  cr_assert_gt(calls(), before, "no fetch after the reconnect");
  sleep_ms(50);
  cr_assert_not(next_channel(c, &ev, 50), "an unchanged document queued an event");
  ttb_client_destroy(c);

  /* A new client (the app restarted offline) shows the kept copy. */
  pthread_mutex_lock(&S.mu);
  S.fail = TTB_ERR_NETWORK;
  pthread_mutex_unlock(&S.mu);
  c = mk(false);
  cr_assert_eq(source_of(c), TTB_CHANNEL_SAVED);
  cr_assert(strstr(got, "\"command_prefix\":\"!tts\""), "%s", got);
  /* An offline refresh fails, says so, and keeps the copy. */
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_NETWORK);
  cr_assert(strstr(ttb_client_last_error(c), "Cannot reach the server"), "%s",
            ttb_client_last_error(c));
  cr_assert(next_channel(c, &ev, 100));
  cr_assert_eq(ev.count, (uint32_t)-TTB_ERR_NETWORK);
  cr_assert_eq(source_of(c), TTB_CHANNEL_SAVED);
  cr_assert(strstr(got, "\"min_diamonds\":5"), "%s", got);

  /* Logout forgets them, on disk too. */
  cr_assert_eq(ttb_client_logout(c), TTB_OK);
  cr_assert_eq(source_of(c), TTB_CHANNEL_DEFAULTS);
  cr_assert_str_eq(got, "{}");
  ttb_client_destroy(c);
  c = mk(false);
  cr_assert_eq(source_of(c), TTB_CHANNEL_DEFAULTS);
  ttb_client_destroy(c);
}

Test(channel, a_change_is_put_and_the_answer_kept)
{
  ttb_client *c = mk(true);
  const char *doc = "{\"reading\":{\"username\":\"USERNAME_MODE_NEVER\",\"strip_links\":true,"
                    "\"command_prefix\":\"!tts\"},\"pacing\":{\"cooldown_seconds\":10},"
                    "\"voice\":{\"voices\":[{\"language\":\"en\",\"voice\":\"en-us\"}],"
                    "\"rate\":200},\"banned_words\":[\"spoiler\"],"
                    "\"gifts\":{\"min_diamonds\":10,\"sounds\":[{\"gift_name\":\"Rose\","
                    "\"sound\":\"u-1\"}]},\"updated_ms\":5}";
  cr_assert_eq(ttb_client_set_channel_settings_json(c, doc), TTB_OK, "%s",
               ttb_client_last_error(c));
  pthread_mutex_lock(&S.mu);
  cr_assert_str_eq(S.method, "PUT");
  cr_assert_str_eq(S.url, "http://fake.test:8080/me/settings");
  cr_assert_str_eq(S.ctype, "application/json");
  cr_assert_str_eq(S.bearer, "tok-123");
  /* Re-encoded by the schema's encoder; updated_ms is the server's. */
  cr_assert(strstr(S.sent, "\"command_prefix\":\"!tts\""), "%s", S.sent);
  cr_assert(strstr(S.sent, "\"banned_words\":[\"spoiler\"]"), "%s", S.sent);
  cr_assert_null(strstr(S.sent, "updated_ms"), "%s", S.sent);
  pthread_mutex_unlock(&S.mu);
  ttb_event ev;
  cr_assert(next_channel(c, &ev, 100));
  cr_assert_eq(ev.count, 0);
  cr_assert_eq(source_of(c), TTB_CHANNEL_SERVER);
  cr_assert(strstr(got, "\"updated_ms\":1700000000001"), "the server's answer: %s", got);
  cr_assert(strstr(got, "\"gift_name\":\"Rose\""), "%s", got);
  cr_assert(strstr(got, "USERNAME_MODE_NEVER"), "%s", got);
  /* Kept on disk: a new client shows it. */
  ttb_client_destroy(c);
  c = mk(false);
  cr_assert_eq(source_of(c), TTB_CHANNEL_SAVED);
  cr_assert(strstr(got, "\"updated_ms\":1700000000001"), "%s", got);
  ttb_client_destroy(c);
}

Test(channel, a_bad_document_is_refused_before_sending)
{
  ttb_client *c = mk(true);
  const char *bad[] = {
      "",
      "not json",
      "[1,2]",
      "{\"reading\":{\"max_chars\":\"many\"}}",
      "{\"reading\":{\"command_prefix\":\"!this-is-far-too-long\"}}", /* max_length 16 */
      "{\"reading\":{\"strip_links\":1}}",
      "{\"banned_words\":\"one\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(ttb_client_set_channel_settings_json(c, bad[i]), TTB_ERR_INVALID, "%s", bad[i]);
    cr_assert(strstr(ttb_client_last_error(c), "not valid"), "%s: %s", bad[i],
              ttb_client_last_error(c));
  }
  cr_assert_eq(ttb_client_set_channel_settings_json(c, NULL), TTB_ERR_INVALID);
  cr_assert_eq(calls(), 0, "something was sent");
  cr_assert_eq(source_of(c), TTB_CHANNEL_DEFAULTS);
  ttb_client_destroy(c);
}

Test(channel, the_servers_refusal_is_reported_with_its_words)
{
  ttb_client *c = mk(true);
  cr_assert_eq(ttb_client_set_channel_settings_json(c, "{\"gifts\":{\"min_diamonds\":3}}"), TTB_OK);
  ttb_event ev;
  cr_assert(next_channel(c, &ev, 100));
  /* The fake refuses a template without {message}, as the server does. */
  cr_assert_eq(
      ttb_client_set_channel_settings_json(c, "{\"reading\":{\"text_template\":\"{user}\"}}"),
      TTB_ERR_INVALID);
  cr_assert_str_eq(ttb_client_last_error(c), "reading.text_template must contain {message}");
  cr_assert(next_channel(c, &ev, 100));
  cr_assert_eq(ev.count, (uint32_t)-TTB_ERR_INVALID);
  cr_assert_str_eq(ev.text, "reading.text_template must contain {message}");
  /* The copy held is the last good one. */
  cr_assert_eq(source_of(c), TTB_CHANNEL_SERVER);
  cr_assert(strstr(got, "\"min_diamonds\":3"), "%s", got);
  cr_assert_null(strstr(got, "text_template"), "%s", got);

  /* Other refusals map to their codes. */
  force(401, "{\"status\":\"error\",\"error\":\"unauthorized\",\"message\":\"bad token\"}");
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_AUTH);
  cr_assert_str_eq(ttb_client_last_error(c), "bad token");
  force(404, "404 Not Found");
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_PROTOCOL);
  cr_assert(strstr(ttb_client_last_error(c), "needs an update"), "%s", ttb_client_last_error(c));
  force(200, "{\"reading\":");
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_PROTOCOL);
  force(200, "{\"reading\":{\"command_prefix\":\"!far-too-long-for-the-schema\"}}");
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_PROTOCOL);
  force(503, "");
  cr_assert_eq(ttb_client_refresh_channel_settings(c), TTB_ERR_NETWORK);
  force(429, "{\"status\":\"error\",\"error\":\"too_many_attempts\",\"message\":\"slow down\"}");
  cr_assert_eq(ttb_client_set_channel_settings_json(c, "{}"), TTB_ERR_RATE_LIMITED);
  cr_assert_eq(source_of(c), TTB_CHANNEL_SERVER);
  cr_assert(strstr(got, "\"min_diamonds\":3"), "still the last good copy: %s", got);
  ttb_client_destroy(c);
}

Test(channel, a_damaged_saved_copy_is_ignored)
{
  ttb_client *c = mk(true);
  cr_assert_eq(ttb_client_set_channel_settings_json(c, "{\"pacing\":{\"cooldown_seconds\":4}}"),
               TTB_OK);
  ttb_client_destroy(c);
  char path[512];
  snprintf(path, sizeof path, "%s/channel.conf", dir);
  FILE *f = fopen(path, "r+");
  cr_assert_not_null(f);
  cr_assert_eq(fseek(f, 30, SEEK_SET), 0);
  fputc('X', f);
  fclose(f);
  c = mk(false);
  cr_assert_eq(source_of(c), TTB_CHANNEL_DEFAULTS);
  cr_assert(strstr(ttb_client_last_error(c), "channel.conf is damaged"), "%s",
            ttb_client_last_error(c));
  ttb_client_destroy(c);
}

Test(channel, me_interpret_maps_statuses)
{
  char t[256];
  const char *bad = "{\"status\":\"error\",\"error\":\"invalid_settings\","
                    "\"message\":\"pacing.cooldown_seconds is at most 3600\"}";
  cr_assert_eq(ttb__me_interpret(400, bad, strlen(bad), false, t, sizeof t), TTB_ERR_INVALID);
  cr_assert_str_eq(t, "pacing.cooldown_seconds is at most 3600");
  cr_assert_eq(ttb__me_interpret(400, NULL, 0, false, t, sizeof t), TTB_ERR_INVALID);
  cr_assert(strstr(t, "HTTP 400"), "%s", t);
  cr_assert_eq(ttb__me_interpret(413, "", 0, false, t, sizeof t), TTB_ERR_INVALID);
  cr_assert_eq(ttb__me_interpret(415, "", 0, false, t, sizeof t), TTB_ERR_INVALID);
  cr_assert_eq(ttb__me_interpret(401, "", 0, false, t, sizeof t), TTB_ERR_AUTH);
  const char *exp = "{\"status\":\"error\",\"error\":\"expired\",\"message\":\"\"}";
  cr_assert_eq(ttb__me_interpret(403, exp, strlen(exp), false, t, sizeof t), TTB_ERR_EXPIRED);
  cr_assert_eq(ttb__me_interpret(403, "", 0, false, t, sizeof t), TTB_ERR_REVOKED);
  cr_assert_eq(ttb__me_interpret(404, "nope", 4, false, t, sizeof t), TTB_ERR_PROTOCOL);
  /* A missing route answers JSON too: 404 is "too old" unless the call says otherwise. */
  const char *nf =
      "{\"status\":\"error\",\"error\":\"not_found\",\"message\":\"No such endpoint.\"}";
  cr_assert_eq(ttb__me_interpret(404, nf, strlen(nf), false, t, sizeof t), TTB_ERR_PROTOCOL);
  cr_assert(strstr(t, "needs an update"), "%s", t);
  cr_assert_eq(ttb__me_interpret(404, nf, strlen(nf), true, t, sizeof t), TTB_ERR_INVALID);
  cr_assert_str_eq(t, "No such endpoint.");
  cr_assert_eq(ttb__me_interpret(405, "", 0, false, t, sizeof t), TTB_ERR_PROTOCOL);
  cr_assert_eq(ttb__me_interpret(429, "", 0, false, t, sizeof t), TTB_ERR_RATE_LIMITED);
  cr_assert_eq(ttb__me_interpret(500, "", 0, false, t, sizeof t), TTB_ERR_NETWORK);
  cr_assert_eq(ttb__me_interpret(302, "", 0, false, t, sizeof t), TTB_ERR_PROTOCOL);
}

Test(channel, sounds_upload_list_delete)
{
  ttb_client *c = mk(true);
  static uint8_t ogg[4096];
  memcpy(ogg, "OggS", 4);
  char out[1024];
  cr_assert_eq(ttb_client_upload_sound(c, "Air Horn", NULL, ogg, sizeof ogg, out, sizeof out),
               TTB_OK, "%s", ttb_client_last_error(c));
  cr_assert(strstr(out, "\"id\":\"u-1\""), "%s", out);
  pthread_mutex_lock(&S.mu);
  cr_assert_str_eq(S.method, "POST");
  cr_assert_str_eq(S.url, "http://fake.test:8080/me/sounds?name=Air%20Horn");
  cr_assert_str_eq(S.ctype, "audio/ogg", "told from the bytes");
  cr_assert_eq(S.sent_len, sizeof ogg);
  pthread_mutex_unlock(&S.mu);

  /* WAV and MP3 are told apart; the caller's type wins. */
  static uint8_t wav[64];
  memcpy(wav, "RIFF\x10\0\0\0WAVEfmt ", 16);
  cr_assert_eq(ttb_client_upload_sound(c, NULL, NULL, wav, sizeof wav, NULL, 0), TTB_OK);
  pthread_mutex_lock(&S.mu);
  cr_assert_str_eq(S.ctype, "audio/wav");
  cr_assert_str_eq(S.url, "http://fake.test:8080/me/sounds");
  pthread_mutex_unlock(&S.mu);
  cr_assert_eq(ttb_client_upload_sound(c, "x", "audio/mpeg", wav, sizeof wav, NULL, 0), TTB_OK);

  /* Refused before sending: not a sound, empty, too large, a bad name. */
  int before = calls();
  static uint8_t text[] = "hello, this is not a sound";
  cr_assert_eq(ttb_client_upload_sound(c, "x", NULL, text, sizeof text, NULL, 0), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_upload_sound(c, "x", "text/plain", ogg, sizeof ogg, NULL, 0),
               TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_upload_sound(c, "x", NULL, ogg, 0, NULL, 0), TTB_ERR_INVALID);
  uint8_t *big = calloc(1, TTB_SOUND_UPLOAD_MAX + 1);
  cr_assert_not_null(big);
  memcpy(big, "OggS", 4);
  cr_assert_eq(ttb_client_upload_sound(c, "x", NULL, big, TTB_SOUND_UPLOAD_MAX + 1, NULL, 0),
               TTB_ERR_INVALID);
  free(big);
  cr_assert_eq(ttb_client_upload_sound(c, "", NULL, ogg, sizeof ogg, NULL, 0), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_upload_sound(c, "bad\nname", NULL, ogg, sizeof ogg, NULL, 0),
               TTB_ERR_INVALID);
  cr_assert_eq(calls(), before, "something was sent");

  /* The server's refusal, in its words. */
  force(415, "{\"status\":\"error\",\"error\":\"unsupported\",\"message\":\"not a sound file\"}");
  cr_assert_eq(ttb_client_upload_sound(c, "x", NULL, ogg, sizeof ogg, NULL, 0), TTB_ERR_INVALID);
  cr_assert_str_eq(ttb_client_last_error(c), "not a sound file");
  force(0, "");

  char list[65536];
  size_t len = 0;
  cr_assert_eq(ttb_client_list_sounds_json(c, list, sizeof list, &len), TTB_OK);
  cr_assert(strstr(list, "\"u-1\""), "%s", list);
  cr_assert_eq(len, strlen(list));
  char tiny[8];
  cr_assert_eq(ttb_client_list_sounds_json(c, tiny, sizeof tiny, &len), TTB_ERR_INVALID);
  cr_assert_gt(len, sizeof tiny);

  before = calls();
  cr_assert_eq(ttb_client_delete_sound(c, "rose"), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_delete_sound(c, "u-"), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_delete_sound(c, NULL), TTB_ERR_INVALID);
  cr_assert_eq(calls(), before);
  cr_assert_eq(ttb_client_delete_sound(c, "u-1"), TTB_OK, "%s", ttb_client_last_error(c));
  pthread_mutex_lock(&S.mu);
  cr_assert_str_eq(S.method, "DELETE");
  cr_assert_str_eq(S.sent, "{\"id\":\"u-1\"}");
  pthread_mutex_unlock(&S.mu);
  cr_assert_eq(ttb_client_delete_sound(c, "u-99"), TTB_ERR_INVALID);
  cr_assert_str_eq(ttb_client_last_error(c), "no such sound");
  ttb_client_destroy(c);
}
