/*
 * The channel settings through the public client API (ttboost/client.h)
 * against the real ttboost-server: ttb_client_refresh_channel_settings and
 * ttb_client_set_channel_settings_json over GET/PUT /me/settings (the
 * defaults "{}", a change stored with the server's updated_ms, a value only
 * the server refuses answered with its own words), the copy a second device
 * of the same license fetches by itself after its socket connects (a
 * TTB_EVENT_CHANNEL), and the copy kept for offline display after the server
 * is gone; the streamer's own sounds over POST/GET/DELETE /me/sounds (a WAV
 * made here uploaded, listed, deleted; a file the server cannot read refused
 * with its words; an unknown id). Skipped unless TTBOOST_SERVER and
 * TTBOOST_ADMIN are set; each test skipped too, saying so, when the server
 * has not its endpoints (before wip-settings / wip-sounds are merged).
 */
#include <criterion/criterion.h>
#include <stdint.h>
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

/* A WAV file: `ms` of a 440 Hz tone, 16-bit mono at 16 kHz (malloc'd). */
static uint8_t *make_wav(int ms, size_t *len)
{
  uint32_t n = (uint32_t)(16 * ms), data = n * 2;
  uint8_t *w = malloc(44 + data);
  cr_assert_not_null(w);
  memcpy(w, "RIFF", 4);
  uint32_t v = 36 + data;
  memcpy(w + 4, &v, 4);
  memcpy(w + 8, "WAVEfmt ", 8);
  v = 16;
  memcpy(w + 16, &v, 4);
  uint16_t h = 1;
  memcpy(w + 20, &h, 2); /* PCM */
  memcpy(w + 22, &h, 2); /* mono */
  v = 16000;
  memcpy(w + 24, &v, 4);
  v = 32000;
  memcpy(w + 28, &v, 4);
  h = 2;
  memcpy(w + 32, &h, 2);
  h = 16;
  memcpy(w + 34, &h, 2);
  memcpy(w + 36, "data", 4);
  memcpy(w + 40, &data, 4);
  for (uint32_t i = 0; i < n; i++) {
    int16_t s = (int16_t)(8000 * ((i / 18) % 2 ? 1 : -1)); /* a square wave near 440 Hz */
    memcpy(w + 44 + 2 * i, &s, 2);
  }
  *len = 44 + data;
  return w;
}

Test(channel_it, own_sounds)
{
  if (!it_have_server())
    cr_skip_test("TTBOOST_SERVER/TTBOOST_ADMIN not set");
  ttb_client *c = mk(dir1);
  cr_assert_eq(ttb_client_login(c, key), TTB_OK, "%s", ttb_client_last_error(c));
  static char list[65536];
  size_t len = 0;
  int rc = ttb_client_list_sounds_json(c, list, sizeof list, &len);
  if (rc == TTB_ERR_PROTOCOL && strstr(ttb_client_last_error(c), "needs an update")) {
    ttb_client_destroy(c);
    cr_skip_test("this server has no /me/sounds (merge wip-sounds)");
  }
  cr_assert_eq(rc, TTB_OK, "%s", ttb_client_last_error(c));
  cr_assert_null(strstr(list, "\"id\""), "no sounds yet: %s", list);

  size_t wlen = 0;
  uint8_t *wav = make_wav(600, &wlen);
  char answer[1024];
  rc = ttb_client_upload_sound(c, "Air Horn", NULL, wav, wlen, answer, sizeof answer);
  cr_assert_eq(rc, TTB_OK, "%s", ttb_client_last_error(c));
  cr_assert(strstr(answer, "\"name\":\"Air Horn\""), "%s", answer);
  const char *id = strstr(answer, "\"id\":\"u-");
  cr_assert_not_null(id, "%s", answer);
  char sid[32];
  cr_assert_eq(sscanf(id, "\"id\":\"%31[u0-9-]\"", sid), 1);

  rc = ttb_client_list_sounds_json(c, list, sizeof list, &len);
  cr_assert_eq(rc, TTB_OK, "%s", ttb_client_last_error(c));
  cr_assert(strstr(list, sid), "%s not listed: %s", sid, list);

  /* Not a sound the server takes: its words (the bytes look like a WAV). */
  memset(wav + 44, 0, wlen - 44);
  memcpy(wav + 20, "\x63\x00", 2); /* an unknown WAV format tag */
  rc = ttb_client_upload_sound(c, "broken", NULL, wav, wlen, NULL, 0);
  cr_assert_eq(rc, TTB_ERR_INVALID, "%s", ttb_client_last_error(c));
  cr_assert_str_neq(ttb_client_last_error(c), "");
  free(wav);

  cr_assert_eq(ttb_client_delete_sound(c, sid), TTB_OK, "%s", ttb_client_last_error(c));
  rc = ttb_client_list_sounds_json(c, list, sizeof list, &len);
  cr_assert_eq(rc, TTB_OK);
  cr_assert_null(strstr(list, sid), "%s still listed: %s", sid, list);
  cr_assert_eq(ttb_client_delete_sound(c, sid), TTB_ERR_INVALID, "deleted twice");
  ttb_client_destroy(c);
}
