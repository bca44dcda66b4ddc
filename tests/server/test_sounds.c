/* The gift -> sound map (server/src/sounds.h) and, when TTBOOST_SOUNDS_DIR
 * names the built pack (meson sets it), the default sound pack itself. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <ogg/ogg.h>
#include <opus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sounds.h"

/* The default pack (server/tools/meson.build ttb_sound_names). */
static const char *pack[] = {"chime",   "bell", "coin",   "sparkle", "pop",    "harp",
                             "fanfare", "drum", "whoosh", "heart",   "default"};
#define NPACK (sizeof pack / sizeof pack[0])

/* Gifts the built-in map must know. */
static const char *common[] = {"Rose",        "TikTok",     "Heart Me",       "Finger Heart",
                               "Perfume",     "Doughnut",   "Ice Cream Cone", "GG",
                               "Galaxy",      "Lion",       "Universe",       "Cap",
                               "Hand Hearts", "Sunglasses", "Corgi",          "Confetti"};
#define NCOMMON (sizeof common / sizeof common[0])

static char dir[64];
static char err[512];

static void put(const char *name, const char *text)
{
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/ttb_sounds_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char name[64];
  for (size_t i = 0; i < NPACK; i++) {
    snprintf(name, sizeof name, "%s.ogg", pack[i]);
    put(name, "OggS dummy");
  }
  put("my-sound_2.ogg", "OggS dummy");
}

static void teardown(void)
{
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
      }
    closedir(d);
  }
  rmdir(dir);
}

/* Loads map text written to dir/map.txt. */
static ttb_sounds *load_map(const char *text)
{
  put("map.txt", text);
  char path[128];
  snprintf(path, sizeof path, "%s/map.txt", dir);
  err[0] = '\0';
  return ttb_sounds_load(dir, path, err, sizeof err);
}

/* The map text must fail with a message naming map.txt:line and holding what. */
static void expect_error(const char *text, int line, const char *what)
{
  ttb_sounds *s = load_map(text);
  cr_assert_null(s, "loaded: %s", text);
  char where[160];
  snprintf(where, sizeof where, "%s/map.txt:%d", dir, line);
  cr_expect(strstr(err, where) != NULL, "error \"%s\" lacks \"%s\"", err, where);
  cr_expect(strstr(err, what) != NULL, "error \"%s\" lacks \"%s\"", err, what);
}

TestSuite(sounds, .init = setup, .fini = teardown);

Test(sounds, builtin_map)
{
  ttb_sounds *s = ttb_sounds_load(dir, NULL, err, sizeof err);
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_dir(s), dir);
  for (size_t i = 0; i < NCOMMON; i++) {
    cr_expect(ttb_sounds_known(s, common[i]), "%s unknown", common[i]);
    const char *snd = ttb_sounds_for(s, common[i]);
    bool in_pack = false;
    for (size_t k = 0; k < NPACK; k++)
      in_pack |= strcmp(snd, pack[k]) == 0;
    cr_expect(in_pack, "%s -> %s, not in the pack", common[i], snd);
  }
  cr_expect_str_eq(ttb_sounds_for(s, "Rose"), "chime");
  cr_expect_str_eq(ttb_sounds_for(s, "Heart Me"), "heart");
  cr_expect_str_eq(ttb_sounds_for(s, "Lion"), "fanfare");
  cr_expect_str_eq(ttb_sounds_for(s, "Galaxy"), "whoosh");
  ttb_sounds_free(s);
  s = ttb_sounds_load(dir, "", err, sizeof err); /* "" = built-in too */
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_for(s, "Rose"), "chime");
  ttb_sounds_free(s);
}

Test(sounds, case_insensitive_and_trimmed)
{
  ttb_sounds *s = ttb_sounds_load(dir, NULL, err, sizeof err);
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_for(s, "rose"), "chime");
  cr_expect_str_eq(ttb_sounds_for(s, "ROSE"), "chime");
  cr_expect_str_eq(ttb_sounds_for(s, "  heart me\t"), "heart");
  cr_expect_str_eq(ttb_sounds_for(s, "ice cream CONE"), "pop");
  cr_expect(ttb_sounds_known(s, "tiktok"));
  cr_expect_not(ttb_sounds_known(s, "Ros"));
  cr_expect_not(ttb_sounds_known(s, "Roses"));
  ttb_sounds_free(s);
}

Test(sounds, fallback)
{
  ttb_sounds *s = ttb_sounds_load(dir, NULL, err, sizeof err);
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_for(s, "Some New Gift"), "default");
  cr_expect_str_eq(ttb_sounds_for(s, ""), "default");
  cr_expect_str_eq(ttb_sounds_for(s, NULL), "default");
  cr_expect_not(ttb_sounds_known(s, "Some New Gift"));
  cr_expect_not(ttb_sounds_known(s, ""));
  char big[300];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  cr_expect_str_eq(ttb_sounds_for(s, big), "default");
  ttb_sounds_free(s);
}

Test(sounds, builtin_needs_the_pack)
{
  char path[128];
  snprintf(path, sizeof path, "%s/chime.ogg", dir);
  cr_assert_eq(unlink(path), 0);
  cr_expect_null(ttb_sounds_load(dir, NULL, err, sizeof err));
  cr_expect(strstr(err, "chime") != NULL, "%s", err);
  cr_expect_null(ttb_sounds_load("", NULL, err, sizeof err));
  cr_expect_null(ttb_sounds_load(NULL, NULL, err, sizeof err));
  cr_expect_null(ttb_sounds_load("/nonexistent/ttb", NULL, err, sizeof err));
}

Test(sounds, map_file_ok)
{
  ttb_sounds *s = load_map("\xef\xbb\xbf# My sounds\n"
                           "\n"
                           "Rose = bell\r\n"
                           "  Galaxy   =   my-sound_2   # a trailing comment\n"
                           "Caf\xc3\xa9 Cr\xc3\xa8me = coin\n"
                           "A=B = pop\n"
                           "Top #1 = drum # comment with = in it\n"
                           "\t# indented comment\n"
                           "* = harp\n");
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_for(s, "rose"), "bell");
  cr_expect_str_eq(ttb_sounds_for(s, "GALAXY"), "my-sound_2");
  cr_expect_str_eq(ttb_sounds_for(s, "CAF\xc3\xa9 cr\xc3\xa8me"), "coin");
  cr_expect_str_eq(ttb_sounds_for(s, "a=b"), "pop");
  cr_expect_str_eq(ttb_sounds_for(s, "top #1"), "drum");
  cr_expect_str_eq(ttb_sounds_for(s, "Lion"), "harp"); /* not built-in once a file is given */
  cr_expect(ttb_sounds_known(s, "Rose"));
  cr_expect_not(ttb_sounds_known(s, "Lion"));
  ttb_sounds_free(s);

  /* No `*` line: the fallback is "default". Empty file: all fallback. */
  s = load_map("Rose = pop\n");
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_for(s, "Lion"), "default");
  ttb_sounds_free(s);
  s = load_map("");
  cr_assert_not_null(s, "%s", err);
  cr_expect_str_eq(ttb_sounds_for(s, "Rose"), "default");
  cr_expect_not(ttb_sounds_known(s, "Rose"));
  ttb_sounds_free(s);
}

Test(sounds, map_file_errors)
{
  expect_error("Rose = chime\nno equals sign here\n", 2, "Gift Name = sound");
  expect_error("Rose = \n", 1, "bad sound name");
  expect_error("Rose = chime.ogg\n", 1, "bad sound name");
  expect_error("# c\nRose = ../etc/x\n", 2, "bad sound name");
  expect_error("Rose = two words\n", 1, "bad sound name");
  expect_error("Rose = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 1,
               "bad sound name"); /* 65 */
  expect_error(" = chime\n", 1, "empty gift name");
  expect_error("Bad \xff UTF-8 = chime\n", 1, "bad gift name");
  expect_error("Ctl\x01 = chime\n", 1, "bad gift name");
  char line[300];
  memset(line, 'g', 129);
  snprintf(line + 129, sizeof line - 129, " = chime\n");
  expect_error(line, 1, "bad gift name");
  memset(line, 'g', 128);
  snprintf(line + 128, sizeof line - 128, " = chime\n");
  ttb_sounds *s = load_map(line); /* 128 bytes is fine */
  cr_expect_not_null(s, "%s", err);
  ttb_sounds_free(s);
  expect_error("Rose = chime\nROSE = bell\n", 2, "already mapped on line 1");
  expect_error("* = chime\n* = bell\n", 2, "second");
  expect_error("Rose = chime\n\nLion = nosuch\n", 3, "nosuch");
  expect_error("Rose = chime\n* = nosuch\n", 2, "nosuch");
}

Test(sounds, map_fallback_must_exist)
{
  char path[128];
  snprintf(path, sizeof path, "%s/default.ogg", dir);
  cr_assert_eq(unlink(path), 0);
  ttb_sounds *s = load_map("Rose = chime\n");
  cr_expect_null(s);
  cr_expect(strstr(err, "default") != NULL, "%s", err);
  s = load_map("Rose = chime\n* = pop\n");
  cr_expect_not_null(s, "%s", err);
  ttb_sounds_free(s);
}

Test(sounds, map_file_missing)
{
  char path[128];
  snprintf(path, sizeof path, "%s/nope.map", dir);
  cr_expect_null(ttb_sounds_load(dir, path, err, sizeof err));
  cr_expect(strstr(err, "nope.map") != NULL, "%s", err);
}

/* ---- The built pack ---- */

struct decoded {
  int channels, rate;
  long samples; /* less pre-skip */
  double peak;
};

/* Decodes an Ogg Opus file in full; a message in why on failure. */
static bool decode(const char *path, struct decoded *out, char *why, size_t whylen)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(why, whylen, "cannot open");
    return false;
  }
  ogg_sync_state oy;
  ogg_stream_state os;
  bool stream = false, ok = true;
  int npk = 0, preskip = 0;
  OpusDecoder *dec = NULL;
  static float pcm[5760];
  memset(out, 0, sizeof *out);
  ogg_sync_init(&oy);
  for (bool eof = false; ok && !eof;) {
    char *buf = ogg_sync_buffer(&oy, 4096);
    size_t got = fread(buf, 1, 4096, f);
    ogg_sync_wrote(&oy, (long)got);
    eof = got == 0;
    ogg_page og;
    while (ok && ogg_sync_pageout(&oy, &og) == 1) {
      if (!stream) {
        ogg_stream_init(&os, ogg_page_serialno(&og));
        stream = true;
      }
      ogg_stream_pagein(&os, &og);
      ogg_packet op;
      while (ok && ogg_stream_packetout(&os, &op) == 1) {
        if (npk == 0) {
          if (op.bytes < 19 || memcmp(op.packet, "OpusHead", 8) != 0) {
            snprintf(why, whylen, "no OpusHead");
            ok = false;
            break;
          }
          out->channels = op.packet[9];
          preskip = op.packet[10] | op.packet[11] << 8;
          out->rate = (int)(op.packet[12] | op.packet[13] << 8 | op.packet[14] << 16 |
                            (uint32_t)op.packet[15] << 24);
          int e;
          dec = opus_decoder_create(48000, out->channels, &e);
          if (!dec) {
            snprintf(why, whylen, "opus_decoder_create: %s", opus_strerror(e));
            ok = false;
          }
        } else if (npk == 1) {
          if (op.bytes < 8 || memcmp(op.packet, "OpusTags", 8) != 0) {
            snprintf(why, whylen, "no OpusTags");
            ok = false;
          }
        } else {
          int n = opus_decode_float(dec, op.packet, (opus_int32)op.bytes, pcm,
                                    5760 / (out->channels ? out->channels : 1), 0);
          if (n < 0) {
            snprintf(why, whylen, "opus_decode_float: %s", opus_strerror(n));
            ok = false;
            break;
          }
          for (int i = 0; i < n * out->channels; i++)
            if (fabs(pcm[i]) > out->peak)
              out->peak = fabs(pcm[i]);
          out->samples += n;
        }
        npk++;
      }
    }
  }
  if (ok && npk < 3) {
    snprintf(why, whylen, "no audio packets");
    ok = false;
  }
  out->samples -= preskip;
  if (dec)
    opus_decoder_destroy(dec);
  if (stream)
    ogg_stream_clear(&os);
  ogg_sync_clear(&oy);
  fclose(f);
  return ok;
}

Test(sounds, built_pack)
{
  const char *pdir = getenv("TTBOOST_SOUNDS_DIR");
  if (!pdir || !*pdir)
    cr_skip_test("TTBOOST_SOUNDS_DIR not set");
  ttb_sounds *s = ttb_sounds_load(pdir, NULL, err, sizeof err);
  cr_assert_not_null(s, "built-in map against %s: %s", pdir, err);
  ttb_sounds_free(s);
  char path[1024], why[128];
  for (size_t i = 0; i < NPACK; i++) {
    snprintf(path, sizeof path, "%s/%s.ogg", pdir, pack[i]);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    cr_expect(got == 4 && memcmp(magic, "OggS", 4) == 0, "%s: not Ogg", path);
    struct decoded d;
    cr_assert(decode(path, &d, why, sizeof why), "%s: %s", path, why);
    cr_expect_eq(d.channels, 1, "%s: %d channels", path, d.channels);
    cr_expect_eq(d.rate, 48000, "%s: input rate %d", path, d.rate);
    double secs = (double)d.samples / 48000.0;
    cr_expect(secs >= 0.35 && secs <= 1.6, "%s: %.3f s", path, secs);
    /* normalised to about -3 dBFS: lossy coding moves the peak a little */
    cr_expect(d.peak > 0.5 && d.peak < 0.97, "%s: peak %.3f", path, d.peak);
  }
}
