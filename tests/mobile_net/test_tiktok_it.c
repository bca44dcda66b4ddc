/*
 * The TikTok side of the client (ttboost/client.h) against the real
 * ttboost-server: ttb_client_set_tiktok / ttb_client_get_tiktok over
 * PUT/GET /me/tiktok (a valid handle kept and shown by GET, an invalid one
 * refused with the server's own words, a refused token), and the `status`
 * message every socket of the license receives (right after Hello, and when
 * the handle changes), in JSON through the whole client and in protobuf on a
 * second device's raw socket.
 *
 * The server's connector points at 127.0.0.1:1 where nothing listens
 * (--tiktok-web / --tiktok-ws), so its state is "connecting", "waiting" or
 * "error" — never a crash, never real network traffic; one suite runs it
 * with --tiktok off. Skipped unless TTBOOST_SERVER and TTBOOST_ADMIN are set.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "it_util.h"
#include "net/net.h"
#include "persist/persist.h"

static it_srv S;
static char key[128];
static char dir[64];

#define NEED_SERVER()                                       \
  do {                                                      \
    if (!it_have_server())                                  \
      cr_skip_test("TTBOOST_SERVER/TTBOOST_ADMIN not set"); \
  } while (0)

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void start_with(const char *const *flags)
{
  snprintf(dir, sizeof dir, "/tmp/ttb-tiktok-it-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  if (!it_have_server())
    return;
  it_srv_start(&S, flags);
  const char *extra[] = {"--devices", "3", NULL};
  it_new_key_with(&S, extra, key, sizeof key);
}

static void setup_unreachable(void)
{
  static const char *const flags[] = {"--tiktok-web", "http://127.0.0.1:1", "--tiktok-ws",
                                      "ws://127.0.0.1:1", NULL};
  start_with(flags);
}

static void setup_off(void)
{
  static const char *const flags[] = {"--tiktok", "off", NULL};
  start_with(flags);
}

static void teardown(void)
{
  if (it_have_server())
    it_srv_stop(&S);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (dir[0] && system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(tiktok_it, .init = setup_unreachable, .fini = teardown, .timeout = 120);
TestSuite(tiktok_off, .init = setup_off, .fini = teardown, .timeout = 60);

/* A client of the public API on the running server, logged in as `device`. */
static ttb_client *client(const char *sub, const char *device)
{
  char d[128];
  snprintf(d, sizeof d, "%s/%s", dir, sub);
  cr_assert_eq(mkdir(d, 0700), 0);
  ttb_client_config cfg = {.server_url = S.url, .data_dir = d, .device_id = device};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  cr_assert_eq(ttb_client_login(c, key), TTB_OK, "login: %s", ttb_client_last_error(c));
  return c;
}

static bool known(int32_t st)
{
  return st == TTB_TIKTOK_OFF || st == TTB_TIKTOK_WAITING || st == TTB_TIKTOK_CONNECTING ||
         st == TTB_TIKTOK_LIVE || st == TTB_TIKTOK_ENDED || st == TTB_TIKTOK_ERROR;
}

/* Waits for a status on a raw socket whose username is `user`; copies it. */
static bool raw_status(ttb__conn *c, const char *user, ttboost_v1_Status *out, int ms)
{
  static ttb__net_event ev;
  for (int i = 0; i < ms / 5; i++) {
    while (ttb__conn_poll(c, &ev)) {
      if (getenv("NET_IT_VERBOSE") && ev.kind == TTB__NET_STATUS)
        fprintf(stderr, "[tiktok_it] status %s %s %s\n", ev.msg.payload.status.tiktok,
                ev.msg.payload.status.username, ev.msg.payload.status.message);
      if (ev.kind == TTB__NET_STATUS && strcmp(ev.msg.payload.status.username, user) == 0) {
        *out = ev.msg.payload.status;
        return true;
      }
    }
    sleep_ms(5);
  }
  return false;
}

/* Waits until the client's kept status names `user` and a TTB_EVENT_TIKTOK
 * for it was queued. */
static bool client_event(ttb_client *c, const char *user, int ms)
{
  ttb_event ev;
  for (int i = 0; i < ms / 5; i++) {
    while (ttb_client_poll_event(c, &ev))
      if (ev.kind == TTB_EVENT_TIKTOK && strcmp(ev.user, user) == 0)
        return true;
    sleep_ms(5);
  }
  return false;
}

static bool wait_connected(ttb_client *c, int ms)
{
  for (int i = 0; i < ms / 5; i++) {
    if (ttb_client_state(c, NULL, 0) == TTB_STATE_CONNECTED)
      return true;
    sleep_ms(5);
  }
  return false;
}

Test(tiktok_it, a_valid_handle_is_kept_shown_and_sent_to_every_socket)
{
  NEED_SERVER();
  ttb_client *a = client("a", "device-a");
  ttb_tiktok_status t;
  cr_assert_eq(ttb_client_get_tiktok(a, &t), TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_str_eq(t.username, "", "no handle yet");
  cr_assert(known(t.state), "state %d", t.state);

  /* As a streamer types it: the @, capitals, a space. */
  cr_assert_eq(ttb_client_set_tiktok(a, " @Aruka.Live", &t), TTB_OK, "%s",
               ttb_client_last_error(a));
  cr_assert_str_eq(t.username, "aruka.live");
  cr_assert(known(t.state), "state %d (%s)", t.state, t.message);
  cr_assert(client_event(a, "aruka.live", 100), "the change was reported");

  /* GET /me/tiktok shows it, to this device and to another one. */
  memset(&t, 0, sizeof t);
  cr_assert_eq(ttb_client_get_tiktok(a, &t), TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_str_eq(t.username, "aruka.live");
  ttb_client *b = client("b", "device-b");
  cr_assert_eq(ttb_client_get_tiktok(b, &t), TTB_OK, "%s", ttb_client_last_error(b));
  cr_assert_str_eq(t.username, "aruka.live");

  /* Device B's socket (JSON, through the whole client) gets a status right
     * after Hello. A fresh client (same device) that has heard nothing, so
     * what it learns comes from the socket alone. */
  ttb_client_destroy(b);
  char bdir[128];
  snprintf(bdir, sizeof bdir, "%s/b2", dir);
  cr_assert_eq(mkdir(bdir, 0700), 0);
  ttb_client_config cfg = {.server_url = S.url, .data_dir = bdir, .device_id = "device-b"};
  cr_assert_eq(ttb_client_create(&cfg, &b), TTB_OK);
  cr_assert_eq(ttb_client_login(b, key), TTB_OK, "%s", ttb_client_last_error(b));
  cr_assert_eq(ttb_client_tiktok_status(b, NULL), TTB_TIKTOK_UNKNOWN);
  cr_assert_eq(ttb_client_start(b), TTB_OK, "%s", ttb_client_last_error(b));
  cr_assert(wait_connected(b, 10000));
  cr_assert(client_event(b, "aruka.live", 10000), "no status after hello on B's socket");
  cr_assert(known(ttb_client_tiktok_status(b, &t)));
  cr_assert_str_eq(t.username, "aruka.live");

  /* Device C: a raw socket in binary mode (protobuf Status). */
  ttb__login_result L;
  cr_assert_eq(ttb__login(ttb__http_lws, NULL, S.url, key, "device-c", 0, &L), TTB_OK, "%s",
               L.message);
  ttb__transport *tr = NULL;
  cr_assert_eq(ttb__transport_lws_create(NULL, &tr), TTB_OK);
  ttb__conn_config cc;
  ttb__conn_config_defaults(&cc);
  cc.server_url = S.url;
  cc.ws_token = L.ws_token;
  cc.binary = true;
  ttb__conn *raw = NULL;
  cr_assert_eq(ttb__conn_create(&cc, tr, &raw), TTB_OK);
  cr_assert_eq(ttb__conn_start(raw), TTB_OK);
  ttboost_v1_Status st;
  cr_assert(raw_status(raw, "aruka.live", &st, 10000), "no protobuf status after hello");
  cr_assert(strlen(st.tiktok) > 0);

  /* A new handle from A reaches both sockets. */
  cr_assert_eq(ttb_client_set_tiktok(a, "second_name", &t), TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_str_eq(t.username, "second_name");
  cr_assert(raw_status(raw, "second_name", &st, 10000), "the change did not reach C");
  cr_assert(client_event(b, "second_name", 10000), "the change did not reach B");
  cr_assert(known(ttb_client_tiktok_status(b, NULL)));

  /* Unreachable TikTok: a state with words, and the server is still there. */
  for (int i = 0; i < 40; i++) {
    ttb_client_tiktok_status(b, &t);
    if (t.state == TTB_TIKTOK_ERROR || t.state == TTB_TIKTOK_WAITING)
      break;
    client_event(b, "second_name", 250);
  }
  if (getenv("NET_IT_VERBOSE"))
    fprintf(stderr, "[tiktok_it] B: %s (%s) %s\n", ttb_tiktok_state_name(t.state), t.room_id,
            t.message);
  cr_assert_eq(ttb_client_state(b, NULL, 0), TTB_STATE_CONNECTED);
  cr_assert_eq(ttb_client_get_tiktok(a, &t), TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_str_eq(t.room_id, "", "not live");

  /* "" clears it. */
  cr_assert_eq(ttb_client_set_tiktok(a, "", &t), TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_str_eq(t.username, "");
  cr_assert_eq(ttb_client_get_tiktok(b, &t), TTB_OK);
  cr_assert_str_eq(t.username, "");

  ttb__conn_destroy(raw);
  ttb_client_destroy(b);
  ttb_client_destroy(a);
}

Test(tiktok_it, an_invalid_handle_is_refused_in_the_server_s_words)
{
  NEED_SERVER();
  ttb_client *a = client("a", "device-a");
  cr_assert_eq(ttb_client_set_tiktok(a, "aruka", NULL), TTB_OK, "%s", ttb_client_last_error(a));
  const char *bad[] = {"no spaces allowed",         "@a",        "@ends.with.dot.",
                       "x234567890123456789012345", "кириллица", "@@double"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ttb_tiktok_status t;
    memset(&t, 'x', sizeof t);
    int rc = ttb_client_set_tiktok(a, bad[i], &t);
    cr_assert_eq(rc, TTB_ERR_INVALID, "%s: %d %s", bad[i], rc, ttb_client_last_error(a));
    const char *msg = ttb_client_last_error(a);
    /* the server's message, as it wrote it ("username: …") */
    cr_assert(strncmp(msg, "username:", 9) == 0, "%s: %s", bad[i], msg);
    cr_assert(strlen(msg) > 15, "%s", msg);
    cr_assert_eq(t.state, TTB_TIKTOK_UNKNOWN, "out cleared");
    cr_assert_str_eq(t.username, "");
  }
  /* Nothing changed on the server, nor in the client. */
  ttb_tiktok_status t;
  cr_assert_eq(ttb_client_get_tiktok(a, &t), TTB_OK);
  cr_assert_str_eq(t.username, "aruka");
  ttb_client_tiktok_status(a, &t);
  cr_assert_str_eq(t.username, "aruka");
  ttb_client_destroy(a);
}

Test(tiktok_it, a_bad_token_is_refused)
{
  NEED_SERVER();
  char d[128];
  snprintf(d, sizeof d, "%s/bad", dir);
  cr_assert_eq(mkdir(d, 0700), 0);
  /* A session the server never issued, stored as a login would. */
  ttb_session s;
  memset(&s, 0, sizeof s);
  snprintf(s.ws_token, sizeof s.ws_token, "00000000-0000-4000-8000-000000000000");
  snprintf(s.user_id, sizeof s.user_id, "00000000-0000-4000-8000-000000000001");
  snprintf(s.server_url, sizeof s.server_url, "%s", S.url);
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb_session_save(d, &s, &e), TTB_OK, "%s", e.msg);
  ttb_client_config cfg = {.server_url = S.url, .data_dir = d};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  cr_assert(ttb_client_has_token(c));
  cr_assert_eq(ttb_client_set_tiktok(c, "aruka", NULL), TTB_ERR_AUTH, "%s",
               ttb_client_last_error(c));
  cr_assert(strlen(ttb_client_last_error(c)) > 10, "%s", ttb_client_last_error(c));
  cr_assert_eq(ttb_client_get_tiktok(c, NULL), TTB_ERR_AUTH, "%s", ttb_client_last_error(c));
  cr_assert_eq(ttb_client_tiktok_status(c, NULL), TTB_TIKTOK_UNKNOWN);
  ttb_client_destroy(c);

  /* Not logged in at all: no request. */
  snprintf(d, sizeof d, "%s/none", dir);
  cr_assert_eq(mkdir(d, 0700), 0);
  cfg.data_dir = d;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  cr_assert_eq(ttb_client_set_tiktok(c, "aruka", NULL), TTB_ERR_STATE);
  ttb_client_destroy(c);
}

Test(tiktok_off, the_handle_is_kept_while_the_connector_is_off)
{
  NEED_SERVER();
  ttb_client *a = client("a", "device-a");
  ttb_tiktok_status t;
  cr_assert_eq(ttb_client_set_tiktok(a, "@streamer_1", &t), TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_str_eq(t.username, "streamer_1");
  cr_assert_eq(t.state, TTB_TIKTOK_OFF, "%s", ttb_tiktok_state_name(t.state));
  cr_assert_eq(ttb_client_start(a), TTB_OK);
  cr_assert(wait_connected(a, 10000));
  sleep_ms(300);
  cr_assert_eq(ttb_client_tiktok_status(a, &t), TTB_TIKTOK_OFF);
  cr_assert_eq(ttb_client_get_tiktok(a, &t), TTB_OK);
  cr_assert_str_eq(t.username, "streamer_1");
  cr_assert_eq(ttb_client_set_tiktok(a, "bad name", NULL), TTB_ERR_INVALID);
  ttb_client_destroy(a);
}
