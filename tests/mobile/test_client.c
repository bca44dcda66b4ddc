/* tests/mobile/test_client.c — the public API without a server: create
 * from a config, settings persisted and applied, corrupt files reported,
 * silence rendered, state/stats/events when idle, argument checks. (The
 * network paths are tested against the real server in tests/mobile_net.) */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdir.h"

#include "ttboost/client.h"

static char dir[256];

static void setup(void) { cr_assert_not_null(tmpdir_make(dir, sizeof dir, "ttb_client_")); }

static void teardown(void) { tmpdir_remove(dir); }

static ttb_client *mk(uint32_t rate, uint32_t ch)
{
  ttb_client_config cfg = {.server_url = "http://127.0.0.1:9",
                           .data_dir = dir,
                           .device_id = "test-device",
                           .sample_rate = rate,
                           .channels = ch};
  ttb_client *c = NULL;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  cr_assert_not_null(c);
  return c;
}

TestSuite(client, .init = setup, .fini = teardown);

Test(client, bad_configs)
{
  ttb_client *c = (ttb_client *)1;
  cr_assert_eq(ttb_client_create(NULL, &c), TTB_ERR_INVALID);
  cr_assert_null(c);
  ttb_client_config cfg = {.server_url = "ftp://x", .data_dir = dir};
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_ERR_INVALID);
  cfg.server_url = "https://x";
  cfg.sample_rate = 1000;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_ERR_INVALID);
  cfg.sample_rate = 44100;
  cfg.channels = 5;
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_ERR_INVALID);
  cfg.channels = 2;
  cfg.data_dir = "/nonexistent/dir";
  /* A missing data dir is only noticed on writing; creation succeeds. */
  cr_assert_eq(ttb_client_create(&cfg, &c), TTB_OK);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_ERR_IO);
  cr_assert(strlen(ttb_client_last_error(c)) > 0);
  ttb_client_destroy(c);
  ttb_client_destroy(NULL);
}

Test(client, idle_client)
{
  ttb_client *c = mk(44100, 2);
  cr_assert_not(ttb_client_has_token(c));
  char err[64] = "x";
  cr_assert_eq(ttb_client_state(c, err, sizeof err), TTB_STATE_DISCONNECTED);
  cr_assert_str_eq(err, "");
  int16_t pcm[2 * 512];
  for (int k = 0; k < 10; k++) {
    memset(pcm, 0x7f, sizeof pcm);
    cr_assert_eq(ttb_client_render(c, pcm, 512), 512);
    for (int i = 0; i < 1024; i++)
      cr_assert_eq(pcm[i], 0, "silence when idle");
  }
  ttb_event ev;
  cr_assert_eq(ttb_client_poll_event(c, &ev), 0);
  cr_assert_eq(ttb_client_recent_events(c, &ev, 1), 0);
  ttb_stats st;
  memset(&st, 0xff, sizeof st);
  ttb_client_get_stats(c, &st);
  cr_assert_eq(st.chat_messages + st.gifts + st.played + st.skipped + st.reconnects, 0);
  cr_assert_eq(ttb_client_start(c), TTB_ERR_STATE, "no token");
  cr_assert(strstr(ttb_client_last_error(c), "log in") != NULL);
  cr_assert_eq(ttb_client_reconnect_now(c), TTB_ERR_STATE);
  cr_assert_eq(ttb_client_stop(c), TTB_OK);
  cr_assert_eq(ttb_client_logout(c), TTB_OK);
  cr_assert_eq(ttb_client_login(c, ""), TTB_ERR_INVALID);
  ttb_client_destroy(c);
}

Test(client, settings_persist_across_clients)
{
  ttb_client *c = mk(0, 0);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  cr_assert(s.tts_enabled && s.gifts_enabled && s.profanity_filter && !s.binary_mode);
  s.tts_volume = 0.3f;
  s.gifts_enabled = false;
  s.binary_mode = true;
  cr_assert_eq(ttb_client_set_settings(c, &s), TTB_OK);
  ttb_settings bad = s;
  bad.gifts_volume = 2.0f;
  cr_assert_eq(ttb_client_set_settings(c, &bad), TTB_ERR_INVALID);
  ttb_settings now;
  ttb_client_get_settings(c, &now);
  cr_assert_float_eq(now.gifts_volume, s.gifts_volume, 0, "unchanged after a refusal");
  ttb_client_destroy(c);

  c = mk(0, 0);
  ttb_client_get_settings(c, &now);
  cr_assert_float_eq(now.tts_volume, 0.3f, 1e-6);
  cr_assert_eq(now.gifts_enabled, false);
  cr_assert_eq(now.binary_mode, true);
  cr_assert_str_eq(ttb_client_last_error(c), "");
  ttb_client_destroy(c);
}

Test(client, corrupt_files_are_reported_not_fatal)
{
  char p[512];
  snprintf(p, sizeof p, "%s/settings.conf", dir);
  FILE *f = fopen(p, "wb");
  cr_assert_not_null(f);
  fputs("\x01\x02garbage\xff\n", f);
  fclose(f);
  snprintf(p, sizeof p, "%s/session.conf", dir);
  f = fopen(p, "wb");
  cr_assert_not_null(f);
  fputs("# ttboost session v1\nws_token=abc\ncrc32=00000000\n", f);
  fclose(f);
  ttb_client *c = mk(48000, 1);
  cr_assert(strlen(ttb_client_last_error(c)) > 0);
  cr_assert_not(ttb_client_has_token(c));
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  cr_assert(s.tts_enabled && s.tts_volume == 1.0f, "defaults");
  int16_t pcm[256];
  cr_assert_eq(ttb_client_render(c, pcm, 256), 256);
  ttb_client_destroy(c);
}

Test(client, null_arguments)
{
  cr_assert_eq(ttb_client_render(NULL, NULL, 10), 0);
  cr_assert_eq(ttb_client_poll_event(NULL, NULL), 0);
  cr_assert_eq(ttb_client_state(NULL, NULL, 0), TTB_STATE_DISCONNECTED);
  cr_assert_eq(ttb_client_login(NULL, "k"), TTB_ERR_INVALID);
  cr_assert_eq(ttb_client_set_settings(NULL, NULL), TTB_ERR_INVALID);
  cr_assert_not(ttb_client_has_token(NULL));
  ttb_stats st;
  ttb_client_get_stats(NULL, &st);
  cr_assert_eq(st.chat_messages, 0);
  cr_assert(strlen(ttb_client_last_error(NULL)) > 0);
  cr_assert_str_eq(ttb_strerror(TTB_ERR_EXPIRED), "license expired");
  cr_assert_str_eq(ttb_strerror(12345), "unknown error");
}
