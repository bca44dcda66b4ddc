/*
 * The channel settings' rules (server/src/settings_rules.h): what of a chat
 * is read under a document, or why it is not; and the checks of PUT.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "settings_rules.h"
#include "ttboost/v1/settings.pbc-json.h"

/* A document from JSON (the generated decoder, as PUT uses it). */
static Ttboost__V1__ChannelSettings *doc(const char *js)
{
  ttb_json_error err = {0};
  Ttboost__V1__ChannelSettings *cs =
      ttb_pbc_ttboost_v1_ChannelSettings_from_json(js, strlen(js), NULL, &err);
  cr_assert_not_null(cs, "%s: %s", js, err.msg);
  return cs;
}

static char out[1400];

static ttb_unspoken say(const char *js, bool read_user, const char *user, const char *msg)
{
  Ttboost__V1__ChannelSettings *cs = js ? doc(js) : NULL;
  ttb_unspoken w = ttb_settings_speech(cs, read_user, user, msg, out, sizeof out);
  if (cs)
    ttboost__v1__channel_settings__free_unpacked(cs, NULL);
  return w;
}

Test(speech, defaults_are_todays_behaviour)
{
  cr_assert_eq(say(NULL, true, "anna", "hello there"), TTB_SPOKEN);
  cr_assert_str_eq(out, "anna: hello there");
  cr_assert_eq(say("{}", true, "anna", "hello there"), TTB_SPOKEN);
  cr_assert_str_eq(out, "anna: hello there");
  cr_assert_eq(say("{}", false, "anna", "hello there"), TTB_SPOKEN);
  cr_assert_str_eq(out, "hello there");
  cr_assert_eq(say("{}", true, "", "no name"), TTB_SPOKEN);
  cr_assert_str_eq(out, "no name");
  /* nothing is stripped or cut by default */
  cr_assert_eq(say("{}", false, "a", "see https://x.y @bob \xF0\x9F\x98\x80"), TTB_SPOKEN);
  cr_assert_str_eq(out, "see https://x.y @bob \xF0\x9F\x98\x80");
}

Test(speech, username_modes_and_template)
{
  cr_assert_eq(say("{\"reading\":{\"username\":\"USERNAME_MODE_NEVER\"}}", true, "anna", "hi"),
               TTB_SPOKEN);
  cr_assert_str_eq(out, "hi");
  cr_assert_eq(say("{\"reading\":{\"username\":\"USERNAME_MODE_ALWAYS\"}}", false, "anna", "hi"),
               TTB_SPOKEN);
  cr_assert_str_eq(out, "anna: hi");
  cr_assert_eq(say("{\"reading\":{\"username\":\"USERNAME_MODE_ALWAYS\","
                   "\"text_template\":\"{user} says {message}\"}}",
                   false, "anna", "hi"),
               TTB_SPOKEN);
  cr_assert_str_eq(out, "anna says hi");
  /* the default mode follows the server's option, with the template */
  cr_assert_eq(
      say("{\"reading\":{\"text_template\":\"{message}, wrote {user}\"}}", true, "bo", "yes"),
      TTB_SPOKEN);
  cr_assert_str_eq(out, "yes, wrote bo");
}

Test(speech, command_prefix)
{
  const char *js = "{\"reading\":{\"command_prefix\":\"!tts\",\"username\":2}}";
  cr_assert_eq(say(js, true, "a", "hello"), TTB_UNSPOKEN_COMMAND);
  cr_assert_str_eq(out, "");
  cr_assert_eq(say(js, true, "a", "!tts read me"), TTB_SPOKEN);
  cr_assert_str_eq(out, "read me");
  cr_assert_eq(say(js, true, "a", "  !TTS   loud"), TTB_SPOKEN);
  cr_assert_str_eq(out, "loud");
  cr_assert_eq(say(js, true, "a", "!tts"), TTB_UNSPOKEN_EMPTY, "the prefix alone says nothing");
  cr_assert_eq(say(js, true, "a", "say !tts later"), TTB_UNSPOKEN_COMMAND);
}

Test(speech, banned_words_whole_word_any_case)
{
  const char *js = "{\"banned_words\":[\"spam\",\"\xD0\xA1\xD0\x9B\xD0\x9E\xD0\x92\xD0\x9E\","
                   "\"two words\"]}";
  cr_assert_eq(say(js, false, "a", "this is SPAM!"), TTB_UNSPOKEN_BANNED);
  cr_assert_eq(say(js, false, "a", "Spam"), TTB_UNSPOKEN_BANNED);
  cr_assert_eq(say(js, false, "a", "spammer here"), TTB_SPOKEN, "not a whole word");
  cr_assert_str_eq(out, "spammer here");
  cr_assert_eq(say(js, false, "a", "antispam"), TTB_SPOKEN);
  /* Cyrillic: "слово" in lower case matches the upper-case entry */
  cr_assert_eq(
      say(js, false, "a", "\xD1\x8D\xD1\x82\xD0\xBE \xD1\x81\xD0\xBB\xD0\xBE\xD0\xB2\xD0\xBE."),
      TTB_UNSPOKEN_BANNED);
  cr_assert_eq(say(js, false, "a", "\xD1\x81\xD0\xBB\xD0\xBE\xD0\xB2\xD0\xB0"), TTB_SPOKEN,
               "another word of the same stem");
  cr_assert_eq(say(js, false, "a", "just Two Words here"), TTB_UNSPOKEN_BANNED);
  cr_assert_eq(say(js, false, "a", "two wordsmiths"), TTB_SPOKEN);
}

Test(speech, stripping)
{
  const char *js = "{\"reading\":{\"strip_links\":true,\"strip_emoji\":true,"
                   "\"strip_mentions\":true,\"username\":2}}";
  cr_assert_eq(say(js, true, "a",
                   "hey @bob look https://ex.am/ple www.x.org \xF0\x9F\x98\x80 "
                   "nice\xE2\x9D\xA4\xEF\xB8\x8F"),
               TTB_SPOKEN);
  cr_assert_str_eq(out, "hey look nice");
  cr_assert_eq(say(js, true, "a", "@bob \xF0\x9F\x98\x80 http://x"), TTB_UNSPOKEN_EMPTY);
  /* only what is asked */
  cr_assert_eq(say("{\"reading\":{\"strip_mentions\":true,\"username\":2}}", true, "a",
                   "hi @bob \xF0\x9F\x98\x80"),
               TTB_SPOKEN);
  cr_assert_str_eq(out, "hi \xF0\x9F\x98\x80");
}

Test(speech, max_chars_word_boundary_utf8)
{
  const char *js = "{\"reading\":{\"max_chars\":12,\"username\":2}}";
  cr_assert_eq(say(js, false, "a", "hello wonderful world"), TTB_SPOKEN);
  cr_assert_str_eq(out, "hello");
  cr_assert_eq(say(js, false, "a", "short"), TTB_SPOKEN);
  cr_assert_str_eq(out, "short");
  /* 12 Cyrillic letters are 24 bytes: cut by code points, never inside one */
  cr_assert_eq(say("{\"reading\":{\"max_chars\":3}}", false, "a",
                   "\xD0\xB0\xD0\xB1\xD0\xB2\xD0\xB3\xD0\xB4"),
               TTB_SPOKEN);
  cr_assert_str_eq(out, "\xD0\xB0\xD0\xB1\xD0\xB2");
  /* the name is not counted */
  cr_assert_eq(say("{\"reading\":{\"max_chars\":5}}", true, "anna", "hello world"), TTB_SPOKEN);
  cr_assert_str_eq(out, "anna: hello");
}

/* ------------------------------------------------------------ checks */

static bool voice_ok(void *arg, const char *v)
{
  (void)arg;
  return strcmp(v, "en") == 0 || strcmp(v, "ru") == 0;
}

static bool sound_ok(void *arg, const char *s)
{
  (void)arg;
  return strcmp(s, "rose") == 0;
}

static char err[300];

static bool check(const char *js)
{
  Ttboost__V1__ChannelSettings *cs = doc(js);
  ttb_settings_env env = {voice_ok, sound_ok, NULL};
  err[0] = '\0';
  bool ok = ttb_settings_check(cs, &env, err, sizeof err);
  ttboost__v1__channel_settings__free_unpacked(cs, NULL);
  return ok;
}

#define BAD(js, field)                                                                      \
  do {                                                                                      \
    cr_assert_not(check(js), "accepted: %s", js);                                           \
    cr_assert_eq(strncmp(err, field, strlen(field)), 0, "%s: '%s' should name %s", js, err, \
                 field);                                                                    \
  } while (0)

Test(check, good_documents)
{
  cr_assert(check("{}"), "%s", err);
  /* unknown keys are skipped by the generated decoder, as on every endpoint */
  cr_assert(check("{\"future\":{\"x\":[1,2]},\"reading\":{\"later\":true}}"), "%s", err);
  cr_assert(check("{\"reading\":{\"text_template\":\"{user} says {message}\",\"max_chars\":600,"
                  "\"command_prefix\":\"!tts\"},\"pacing\":{\"cooldown_seconds\":3600,"
                  "\"max_backlog_seconds\":600},\"voice\":{\"voices\":[{\"language\":\"en\","
                  "\"voice\":\"en\"},{\"language\":\"ru\",\"voice\":\"ru\"}],\"rate\":80,"
                  "\"pitch\":99},\"banned_words\":[\" x \"],\"gifts\":{\"min_diamonds\":5,"
                  "\"sounds\":[{\"gift_name\":\"Rose\",\"sound\":\"rose\"},{\"gift_name\":"
                  "\"Lion\",\"sound\":\"u-12\"},{\"gift_name\":\"GG\",\"sound\":\"\"}]}}"),
            "%s", err);
}

Test(check, bad_values_name_the_field)
{
  BAD("{\"reading\":{\"text_template\":\"{user} only\"}}", "reading.text_template");
  BAD("{\"reading\":{\"text_template\":\"{message} {channel}\"}}", "reading.text_template");
  BAD("{\"reading\":{\"max_chars\":601}}", "reading.max_chars");
  BAD("{\"reading\":{\"command_prefix\":\"! tts\"}}", "reading.command_prefix");
  BAD("{\"reading\":{\"username\":7}}", "reading.username");
  BAD("{\"pacing\":{\"cooldown_seconds\":3601}}", "pacing.cooldown_seconds");
  BAD("{\"pacing\":{\"max_backlog_seconds\":601}}", "pacing.max_backlog_seconds");
  BAD("{\"voice\":{\"rate\":79}}", "voice.rate");
  BAD("{\"voice\":{\"rate\":451}}", "voice.rate");
  BAD("{\"voice\":{\"pitch\":100}}", "voice.pitch");
  BAD("{\"voice\":{\"voices\":[{\"language\":\"en\",\"voice\":\"xx\"}]}}", "voice.voices[0].voice");
  BAD("{\"voice\":{\"voices\":[{\"language\":\"en\",\"voice\":\"en\"},{\"language\":\"EN\","
      "\"voice\":\"en\"}]}}",
      "voice.voices[1].language");
  BAD("{\"voice\":{\"voices\":[{\"voice\":\"en\"}]}}", "voice.voices[0].language");
  BAD("{\"banned_words\":[\"ok\",\"   \"]}", "banned_words[1]");
  BAD("{\"gifts\":{\"sounds\":[{\"gift_name\":\"Rose\",\"sound\":\"nope\"}]}}",
      "gifts.sounds[0].sound");
  BAD("{\"gifts\":{\"sounds\":[{\"gift_name\":\"Rose\",\"sound\":\"../etc/x\"}]}}",
      "gifts.sounds[0].sound");
  BAD("{\"gifts\":{\"sounds\":[{\"gift_name\":\"Rose\",\"sound\":\"u-\"}]}}",
      "gifts.sounds[0].sound");
  BAD("{\"gifts\":{\"sounds\":[{\"gift_name\":\"\",\"sound\":\"rose\"}]}}",
      "gifts.sounds[0].gift_name");
  BAD("{\"gifts\":{\"sounds\":[{\"gift_name\":\"rose\",\"sound\":\"rose\"},{\"gift_name\":"
      "\"ROSE\",\"sound\":\"rose\"}]}}",
      "gifts.sounds[1].gift_name");
}

Test(check, banned_words_are_trimmed)
{
  Ttboost__V1__ChannelSettings *cs = doc("{\"banned_words\":[\"  spam \\t\"]}");
  ttb_settings_env env = {voice_ok, sound_ok, NULL};
  cr_assert(ttb_settings_check(cs, &env, err, sizeof err), "%s", err);
  cr_assert_str_eq(cs->banned_words[0], "spam");
  ttboost__v1__channel_settings__free_unpacked(cs, NULL);
}
