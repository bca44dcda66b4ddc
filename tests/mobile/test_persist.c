/* tests/mobile/test_persist.c — settings and session files: round trips,
 * atomic replacement, and every kind of damage -> defaults + CORRUPT. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdir.h"

#include "persist/persist.h"
#include "platform/platform.h"

static char dir[256];

static void setup(void) { cr_assert_not_null(tmpdir_make(dir, sizeof dir, "ttb_persist_")); }

static void teardown(void) { tmpdir_remove(dir); }

static void write_raw(const char *name, const void *data, size_t len)
{
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *fp = fopen(p, "wb");
  cr_assert_not_null(fp);
  cr_assert_eq(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

static char *read_raw(const char *name, size_t *len)
{
  char *buf = NULL;
  cr_assert_eq(ttb__file_read(dir, name, 1 << 20, &buf, len, NULL), TTB_OK);
  return buf;
}

static ttb_settings sample_settings(void)
{
  ttb_settings s;
  ttb_settings_defaults(&s);
  s.tts_volume = 0.75f;
  s.gifts_enabled = false;
  s.gifts_volume = 0.125f;
  s.profanity_filter = false;
  s.binary_mode = true;
  return s;
}

TestSuite(persist, .init = setup, .fini = teardown);

Test(persist, missing_files_give_defaults)
{
  ttb_settings s, d;
  ttb_error e;
  cr_assert_eq(ttb_settings_load(dir, &s, &e), TTB_OK);
  ttb_settings_defaults(&d);
  cr_assert_eq(memcmp(&s, &d, sizeof s), 0);
  cr_assert(d.tts_enabled && d.gifts_enabled && d.profanity_filter && d.notifications &&
            d.auto_start_tts && !d.binary_mode);
  cr_assert_float_eq(d.tts_volume, 1.0f, 0);
  ttb_session ss;
  cr_assert_eq(ttb_session_load(dir, &ss, &e), 1);
  cr_assert_eq(ss.ws_token[0], '\0');
}

Test(persist, settings_round_trip)
{
  ttb_settings s = sample_settings(), r;
  ttb_error e;
  cr_assert_eq(ttb_settings_save(dir, &s, &e), TTB_OK, "%s", e.msg);
  cr_assert_eq(ttb_settings_load(dir, &r, &e), TTB_OK, "%s", e.msg);
  cr_assert_eq(r.tts_enabled, s.tts_enabled);
  cr_assert_float_eq(r.tts_volume, 0.75f, 1e-6);
  cr_assert_eq(r.gifts_enabled, false);
  cr_assert_float_eq(r.gifts_volume, 0.125f, 1e-6);
  cr_assert_eq(r.profanity_filter, false);
  cr_assert_eq(r.binary_mode, true);
  size_t len;
  char *txt = read_raw(TTB_SETTINGS_FILE, &len);
  cr_assert(strstr(txt, "# ttboost settings v1\n") == txt);
  cr_assert_not_null(strstr(txt, "tts_volume=0.750\n"));
  cr_assert_not_null(strstr(txt, "\ncrc32="));
  free(txt);
}

Test(persist, invalid_settings_are_not_written)
{
  ttb_settings s = sample_settings();
  ttb_error e;
  s.tts_volume = 1.5f;
  cr_assert_eq(ttb_settings_save(dir, &s, &e), TTB_ERR_INVALID);
  s.tts_volume = 0.0f / 0.0f;
  cr_assert_not(ttb_settings_valid(&s));
  cr_assert_eq(ttb_settings_save(dir, &s, &e), TTB_ERR_INVALID);
  ttb_settings r;
  cr_assert_eq(ttb_settings_load(dir, &r, &e), TTB_OK);
  cr_assert_float_eq(r.tts_volume, 1.0f, 0, "nothing was written");
}

/* Loads settings expecting CORRUPT with defaults, and a message. */
static void expect_corrupt(const char *why)
{
  ttb_settings r, d;
  ttb_error e;
  ttb_error_clear(&e);
  cr_assert_eq(ttb_settings_load(dir, &r, &e), TTB_ERR_CORRUPT, "%s", why);
  ttb_settings_defaults(&d);
  cr_assert_eq(memcmp(&r, &d, sizeof r), 0, "%s: defaults", why);
  cr_assert(strlen(e.msg) > 0 && strstr(e.msg, "settings.conf"), "%s: message '%s'", why, e.msg);
}

Test(persist, damaged_settings_give_defaults)
{
  ttb_settings s = sample_settings();
  cr_assert_eq(ttb_settings_save(dir, &s, NULL), TTB_OK);
  size_t len;
  char *good = read_raw(TTB_SETTINGS_FILE, &len);

  /* One flipped byte in a value. */
  char *bad = malloc(len);
  cr_assert_not_null(bad);
  memcpy(bad, good, len);
  char *v = strstr(bad, "0.750");
  v[2] = '9';
  write_raw(TTB_SETTINGS_FILE, bad, len);
  expect_corrupt("flipped byte");

  /* Truncated (lost the checksum line). */
  write_raw(TTB_SETTINGS_FILE, good, len / 2);
  expect_corrupt("truncated");

  /* Binary garbage. */
  unsigned char junk[300];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(i * 37u + 11u);
  write_raw(TTB_SETTINGS_FILE, junk, sizeof junk);
  expect_corrupt("garbage");

  /* Empty file. */
  write_raw(TTB_SETTINGS_FILE, "", 0);
  expect_corrupt("empty");

  /* Too large to be ours. */
  char *huge = malloc(100000);
  cr_assert_not_null(huge);
  memset(huge, 'x', 100000);
  write_raw(TTB_SETTINGS_FILE, huge, 100000);
  expect_corrupt("too large");
  free(huge);

  /* A NUL inside. */
  memcpy(bad, good, len);
  bad[30] = '\0';
  write_raw(TTB_SETTINGS_FILE, bad, len);
  expect_corrupt("NUL byte");

  free(bad);
  free(good);
}

/* Writes a settings file with body lines and a correct checksum. */
static void write_sealed(const char *body)
{
  char buf[2048];
  int n = snprintf(buf, sizeof buf, "# ttboost settings v1\n%s", body);
  /* CRC-32 (zlib) computed here independently. */
  uint32_t crc = 0xFFFFFFFFu;
  for (int i = 0; i < n; i++) {
    crc ^= (unsigned char)buf[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ ((crc & 1u) ? 0xEDB88320u : 0u);
  }
  crc = ~crc;
  n += snprintf(buf + n, sizeof buf - (size_t)n, "crc32=%08x\n", (unsigned)crc);
  write_raw(TTB_SETTINGS_FILE, buf, (size_t)n);
}

Test(persist, checked_values)
{
  ttb_settings r;
  ttb_error e;
  write_sealed("tts_volume=0.5\nfuture_key=whatever\ngifts_enabled=false\n");
  cr_assert_eq(ttb_settings_load(dir, &r, &e), TTB_OK, "%s", e.msg);
  cr_assert_float_eq(r.tts_volume, 0.5f, 1e-6, "unknown keys ignored, missing defaulted");
  cr_assert_eq(r.gifts_enabled, false);
  cr_assert_eq(r.notifications, true);

  write_sealed("tts_volume=1.5\n");
  expect_corrupt("volume above 1");
  write_sealed("tts_volume=-0.1\n");
  expect_corrupt("negative volume");
  write_sealed("tts_volume=0,5\n");
  expect_corrupt("comma decimal");
  write_sealed("tts_enabled=yes\n");
  expect_corrupt("bad bool");
  write_sealed("just a line\n");
  expect_corrupt("line without =");
}

Test(persist, session_round_trip_and_clear)
{
  ttb_session s, r;
  memset(&s, 0, sizeof s);
  strcpy(s.ws_token, "tok-ABC_123.x");
  strcpy(s.user_id, "u-42");
  strcpy(s.server_url, "https://ttboost.example:8443");
  ttb_error e;
  cr_assert_eq(ttb_session_save(dir, &s, &e), TTB_OK, "%s", e.msg);
  cr_assert_eq(ttb_session_load(dir, &r, &e), TTB_OK, "%s", e.msg);
  cr_assert_str_eq(r.ws_token, s.ws_token);
  cr_assert_str_eq(r.user_id, s.user_id);
  cr_assert_str_eq(r.server_url, s.server_url);
  cr_assert_eq(ttb_session_clear(dir, &e), TTB_OK);
  cr_assert_eq(ttb_session_load(dir, &r, &e), 1);
  cr_assert_eq(ttb_session_clear(dir, &e), TTB_OK, "clearing twice is fine");
}

Test(persist, bad_sessions)
{
  ttb_session s;
  ttb_error e;
  memset(&s, 0, sizeof s);
  strcpy(s.ws_token, "has space");
  strcpy(s.user_id, "u");
  strcpy(s.server_url, "https://x");
  cr_assert_eq(ttb_session_save(dir, &s, &e), TTB_ERR_INVALID);
  strcpy(s.ws_token, "ok");
  strcpy(s.server_url, "ftp://x");
  cr_assert_eq(ttb_session_save(dir, &s, &e), TTB_ERR_INVALID);
  strcpy(s.server_url, "https://x");
  cr_assert_eq(ttb_session_save(dir, &s, &e), TTB_OK);
  /* Damage it: a corrupt session is reported and gives no token. */
  size_t len;
  char *good = read_raw(TTB_SESSION_FILE, &len);
  good[len / 2] ^= 0x01;
  write_raw(TTB_SESSION_FILE, good, len);
  free(good);
  ttb_session r;
  memset(&r, 0x55, sizeof r);
  cr_assert_eq(ttb_session_load(dir, &r, &e), TTB_ERR_CORRUPT);
  cr_assert_eq(r.ws_token[0], '\0');
  cr_assert_not_null(strstr(e.msg, "session.conf"));
}

Test(persist, atomic_write_leaves_no_temp_files)
{
  /* A stale temp file of an interrupted write is removed by the next save. */
  write_raw("settings.conf.tmp.abc123", "partial", 7);
  ttb_settings s = sample_settings();
  for (int i = 0; i < 20; i++) {
    s.tts_volume = (float)i / 20.0f;
    cr_assert_eq(ttb_settings_save(dir, &s, NULL), TTB_OK);
  }
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  struct dirent *ent;
  int files = 0;
  while ((ent = readdir(d)) != NULL) {
    if (ent->d_name[0] == '.')
      continue;
    cr_assert_str_eq(ent->d_name, "settings.conf");
    files++;
  }
  closedir(d);
  cr_assert_eq(files, 1);
  ttb_settings r;
  cr_assert_eq(ttb_settings_load(dir, &r, NULL), TTB_OK);
  cr_assert_float_eq(r.tts_volume, 0.95f, 1e-6);
}

Test(persist, unwritable_dir_is_io_error)
{
  ttb_settings s = sample_settings();
  ttb_error e;
  cr_assert_eq(ttb_settings_save("/nonexistent/ttboost", &s, &e), TTB_ERR_IO);
  cr_assert(strlen(e.msg) > 0);
  cr_assert_eq(ttb_settings_load(NULL, &s, &e), TTB_ERR_INVALID);
}
