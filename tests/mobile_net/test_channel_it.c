/*
 * The channel settings through the public client API (ttboost/client.h)
 * against the real ttboost-server: ttb_client_refresh_channel_settings and
 * ttb_client_set_channel_settings_json over GET/PUT /me/settings (the
 * defaults "{}", a change stored with the server's updated_ms, a value only
 * the server refuses answered with its own words), the copy a second device
 * of the same license fetches by itself after its socket connects (a
 * TTB_EVENT_CHANNEL), and the copy kept for offline display after the server
 * is gone. Skipped unless TTBOOST_SERVER and TTBOOST_ADMIN are set; skipped
 * too, saying so, when the server has no /me/settings (before wip-settings).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "it_util.h"

static it_srv S;
static char key[128];
static char dir1[64], dir2[64];

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void setup(void)
{
  snprintf(dir1, sizeof dir1, "/tmp/ttb-channel-it-XXXXXX");
  snprintf(dir2, sizeof dir2, "/tmp/ttb-channel-it-XXXXXX");
  cr_assert_not_null(mkdtemp(dir1));
  cr_assert_not_null(mkdtemp(dir2));
  if (!it_have_server())
    return;
  it_srv_start(&S, NULL);
  const char *extra[] = {"--devices", "3", NULL};
  it_new_key_with(&S, extra, key, sizeof key);
}

static void teardown(void)
{
  if (it_have_server() && S.pid > 0)
    it_srv_stop(&S);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir1, dir2);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s %s\n", dir1, dir2);
}

TestSuite(channel_it, .init = setup, .fini = teardown, .timeout = 120);

static ttb_client *mk(const char *dir)
{
  ttb_client_config cfg = {.server_url = S.url, .data_dir = dir, .device_id = dir + 5};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  return c;
}

static char js[TTB_CHANNEL_JSON_MAX + 1];

static int32_t copy_of(ttb_client *c)
{
  int32_t src = -1;
  cr_assert_eq(ttb_client_channel_settings_json(c, js, sizeof js, NULL, &src), TTB_OK);
  return src;
}

static bool next_channel(ttb_client *c, ttb_event *ev, int ms)
{
  for (int i = 0; i < ms / 5; i++) {
    while (ttb_client_poll_event(c, ev))
      if (ev->kind == TTB_EVENT_CHANNEL)
        return true;
    sleep_ms(5);
  }
  return false;
}

Test(channel_it, synced_with_the_server)
{
  if (!it_have_server())
    cr_skip_test("TTBOOST_SERVER/TTBOOST_ADMIN not set");
  ttb_client *a = mk(dir1);
  cr_assert_eq(ttb_client_login(a, key), TTB_OK, "%s", ttb_client_last_error(a));
  int rc = ttb_client_refresh_channel_settings(a);
  if (rc == TTB_ERR_PROTOCOL && strstr(ttb_client_last_error(a), "needs an update")) {
    ttb_client_destroy(a);
    cr_skip_test("this server has no /me/settings (merge wip-settings)");
  }
  cr_assert_eq(rc, TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_eq(copy_of(a), TTB_CHANNEL_SERVER);
  cr_assert_null(strstr(js, "command_prefix"), "not the defaults: %s", js);

  /* A change: stored, answered with the server's stamp. */
  rc = ttb_client_set_channel_settings_json(
      a, "{\"reading\":{\"command_prefix\":\"!tts\",\"strip_links\":true},"
         "\"pacing\":{\"cooldown_seconds\":5},\"banned_words\":[\"spoiler\"],"
         "\"gifts\":{\"min_diamonds\":5}}");
  cr_assert_eq(rc, TTB_OK, "%s", ttb_client_last_error(a));
  cr_assert_eq(copy_of(a), TTB_CHANNEL_SERVER);
  cr_assert(strstr(js, "\"command_prefix\":\"!tts\""), "%s", js);
  cr_assert(strstr(js, "\"min_diamonds\":5"), "%s", js);
  cr_assert(strstr(js, "\"updated_ms\":"), "the server's stamp: %s", js);
  /* Two new copies: the refresh's (defaults: nothing known before) and the save's. */
  ttb_event ev;
  for (int i = 0; i < 2; i++) {
    cr_assert(next_channel(a, &ev, 1000));
    cr_assert_eq(ev.count, 0, "%s", ev.text);
  }
  cr_assert_not(next_channel(a, &ev, 100));

  /* A value the schema allows and the server refuses: its own words. */
  rc = ttb_client_set_channel_settings_json(a, "{\"reading\":{\"text_template\":\"{user}\"}}");
  cr_assert_eq(rc, TTB_ERR_INVALID);
  cr_assert(strstr(ttb_client_last_error(a), "text_template"), "%s", ttb_client_last_error(a));
  cr_assert(next_channel(a, &ev, 1000));
  cr_assert_eq(ev.count, (uint32_t)-TTB_ERR_INVALID);
  cr_assert(strstr(ev.text, "text_template"), "%s", ev.text);
  cr_assert_eq(copy_of(a), TTB_CHANNEL_SERVER);
  cr_assert(strstr(js, "\"command_prefix\":\"!tts\""), "unchanged: %s", js);

  /* A second device of the license gets them by itself once connected. */
  ttb_client *b = mk(dir2);
  cr_assert_eq(ttb_client_login(b, key), TTB_OK, "%s", ttb_client_last_error(b));
  cr_assert_eq(copy_of(b), TTB_CHANNEL_DEFAULTS);
  cr_assert_eq(ttb_client_start(b), TTB_OK);
  cr_assert(next_channel(b, &ev, 10000), "no TTB_EVENT_CHANNEL after connecting");
  cr_assert_eq(ev.count, 0, "%s", ev.text);
  cr_assert_eq(copy_of(b), TTB_CHANNEL_SERVER);
  cr_assert(strstr(js, "\"banned_words\":[\"spoiler\"]"), "%s", js);
  cr_assert(strstr(js, "\"cooldown_seconds\":5"), "%s", js);
  ttb_client_destroy(b);

  /* The server is gone: a new client shows the copy it kept. */
  ttb_client_destroy(a);
  it_srv_stop(&S);
  S.pid = 0;
  b = mk(dir2);
  cr_assert_eq(copy_of(b), TTB_CHANNEL_SAVED);
  cr_assert(strstr(js, "\"banned_words\":[\"spoiler\"]"), "%s", js);
  cr_assert_eq(ttb_client_refresh_channel_settings(b), TTB_ERR_NETWORK);
  cr_assert_eq(copy_of(b), TTB_CHANNEL_SAVED);
  ttb_client_destroy(b);
}
