/* Channel settings: the text rules and the checks of PUT (see settings_rules.h). */
#include "settings_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ttboost/v1/settings.pbc-json.h"

/* ------------------------------------------------------------- UTF-8 */

/* Decodes the code point at s (n bytes left) into *cp; its length, or 1
 * with *cp = U+FFFD for a malformed byte. */
static size_t u8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
  if (len == 0 || len > n || c > 0xf4) {
    *cp = 0xfffd;
    return 1;
  }
  uint32_t v = c & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      *cp = 0xfffd;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3f);
  }
  *cp = v;
  return len;
}

/* A lower-case fold: ASCII, Latin-1, Cyrillic (U+0400..U+042F). */
static uint32_t fold(uint32_t c)
{
  if (c >= 'A' && c <= 'Z')
    return c + 32;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7)
    return c + 32;
  if (c >= 0x410 && c <= 0x42f)
    return c + 32;
  if (c >= 0x400 && c <= 0x40f)
    return c + 80;
  return c;
}

/* Emoji and their joiners: what strip_emoji leaves out. */
static bool is_emoji(uint32_t c)
{
  return (c >= 0x1f000 && c <= 0x1faff) || (c >= 0x2600 && c <= 0x27bf) ||
         (c >= 0x2b00 && c <= 0x2bff) || (c >= 0x2300 && c <= 0x23ff) || c == 0x200d ||
         (c >= 0xfe00 && c <= 0xfe0f) || (c >= 0xe0020 && c <= 0xe007f) ||
         (c >= 0x1f3fb && c <= 0x1f3ff) || c == 0x20e3 || c == 0x3030 || c == 0x303d;
}

/* A character of a word (for whole-word matching): letters and digits of
 * any script, i.e. not ASCII punctuation or space, not a Unicode space or
 * punctuation of the General Punctuation block, not an emoji. */
static bool is_word(uint32_t c)
{
  if (c < 0x80)
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0xa0 || (c >= 0xa1 && c <= 0xbf && c != 0xaa && c != 0xb5 && c != 0xba) || c == 0xd7 ||
      c == 0xf7)
    return false;
  if ((c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f) || c == 0xfeff)
    return false;
  return !is_emoji(c);
}

static bool is_space(uint32_t c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0xa0 ||
         (c >= 0x2000 && c <= 0x200b) || c == 0x3000;
}

/* Folded code points of s (at most cap); their count. */
static size_t to_cps(const char *s, uint32_t *out, size_t cap)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s), k = 0;
  while (n > 0 && k < cap) {
    uint32_t c;
    size_t l = u8_next(p, n, &c);
    out[k++] = fold(c);
    p += l;
    n -= l;
  }
  return k;
}

#define CPS_MAX 2048

/* Whether msg holds word (a word or phrase) bounded by non-word characters. */
static bool has_word(const uint32_t *m, size_t mn, const char *word)
{
  uint32_t w[72];
  size_t wn = to_cps(word, w, sizeof w / sizeof w[0]);
  if (wn == 0 || wn > mn)
    return false;
  for (size_t i = 0; i + wn <= mn; i++) {
    if (memcmp(m + i, w, wn * sizeof *w) != 0)
      continue;
    bool left = i == 0 || !is_word(m[i - 1]) || !is_word(w[0]);
    bool right = i + wn == mn || !is_word(m[i + wn]) || !is_word(w[wn - 1]);
    if (left && right)
      return true;
  }
  return false;
}

/* ------------------------------------------------------------ rules */

const char *ttb_unspoken_name(ttb_unspoken why)
{
  switch (why) {
  case TTB_UNSPOKEN_COMMAND:
    return "command";
  case TTB_UNSPOKEN_BANNED:
    return "banned";
  case TTB_UNSPOKEN_COOLDOWN:
    return "cooldown";
  case TTB_UNSPOKEN_EMPTY:
    return "empty";
  default:
    return "spoken";
  }
}

static bool starts_ci(const char *s, const char *prefix)
{
  return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* A growing text buffer (bounded). */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
  if (b->cap == 0)
    return;
  if (n > b->cap - 1 - b->n)
    n = b->cap - 1 - b->n;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

/* Strips what the reading settings leave out of msg into out: links and
 * @mentions are whitespace-delimited tokens, emoji single code points;
 * whitespace runs become one space, ends trimmed. */
static void strip(const Ttboost__V1__ReadingSettings *r, const char *msg, char *out, size_t cap)
{
  sbuf b = {out, 0, cap};
  out[0] = '\0';
  const unsigned char *p = (const unsigned char *)msg;
  size_t n = strlen(msg);
  bool need_space = false;
  while (n > 0) {
    uint32_t c;
    size_t l = u8_next(p, n, &c);
    if (is_space(c)) {
      p += l;
      n -= l;
      need_space = b.n > 0;
      continue;
    }
    /* a token: up to the next space */
    size_t t = 0;
    while (t < n) {
      uint32_t d;
      size_t dl = u8_next(p + t, n - t, &d);
      if (is_space(d))
        break;
      t += dl;
    }
    const char *tok = (const char *)p;
    bool drop = false;
    if (r && r->strip_links &&
        (starts_ci(tok, "http://") || starts_ci(tok, "https://") || starts_ci(tok, "www.")))
      drop = true;
    if (r && r->strip_mentions && tok[0] == '@' && t > 1)
      drop = true;
    if (!drop) {
      /* the token, without emoji when asked */
      char piece[CPS_MAX];
      size_t pn = 0;
      for (size_t i = 0; i < t;) {
        uint32_t d;
        size_t dl = u8_next(p + i, t - i, &d);
        if (!(r && r->strip_emoji && is_emoji(d)) && pn + dl < sizeof piece) {
          memcpy(piece + pn, p + i, dl);
          pn += dl;
        }
        i += dl;
      }
      if (pn > 0) {
        if (need_space)
          sb_put(&b, " ", 1);
        sb_put(&b, piece, pn);
        need_space = false;
      }
    }
    p += t;
    n -= t;
  }
}

/* Cuts s to at most max code points: at the last space before the limit
 * when there is one, else at a code point boundary. */
static void cut_chars(char *s, uint32_t max)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s), off = 0, last_space = 0;
  uint32_t count = 0;
  while (off < n) {
    if (count == max) {
      size_t end = s[off] == ' ' ? off : last_space > 0 ? last_space : off;
      while (end > 0 && s[end - 1] == ' ')
        end--;
      s[end] = '\0';
      return;
    }
    uint32_t c;
    size_t l = u8_next(p + off, n - off, &c);
    if (c == ' ')
      last_space = off;
    off += l;
    count++;
  }
}

/* Replaces {user} and {message} of tpl into b. */
static void apply_template(sbuf *b, const char *tpl, const char *user, const char *message)
{
  while (*tpl) {
    if (strncmp(tpl, "{user}", 6) == 0) {
      sb_put(b, user, strlen(user));
      tpl += 6;
    } else if (strncmp(tpl, "{message}", 9) == 0) {
      sb_put(b, message, strlen(message));
      tpl += 9;
    } else {
      sb_put(b, tpl, 1);
      tpl++;
    }
  }
}

ttb_unspoken ttb_settings_speech(const Ttboost__V1__ChannelSettings *cs, bool read_user_default,
                                 const char *user, const char *message, char *out, size_t cap)
{
  if (cap == 0)
    return TTB_UNSPOKEN_EMPTY;
  out[0] = '\0';
  const Ttboost__V1__ReadingSettings *r = cs ? cs->reading : NULL;
  const char *msg = message;
  if (r && r->command_prefix && r->command_prefix[0]) {
    while (*msg == ' ' || *msg == '\t')
      msg++;
    if (!starts_ci(msg, r->command_prefix))
      return TTB_UNSPOKEN_COMMAND;
    msg += strlen(r->command_prefix);
    while (*msg == ' ' || *msg == '\t')
      msg++;
  }
  if (cs && cs->n_banned_words > 0) {
    uint32_t m[CPS_MAX];
    size_t mn = to_cps(msg, m, CPS_MAX);
    for (size_t i = 0; i < cs->n_banned_words; i++)
      if (has_word(m, mn, cs->banned_words[i]))
        return TTB_UNSPOKEN_BANNED;
  }
  bool stripping = r && (r->strip_links || r->strip_emoji || r->strip_mentions);
  char body[1400];
  if (stripping)
    strip(r, msg, body, sizeof body);
  else
    snprintf(body, sizeof body, "%s", msg);
  if (r && r->max_chars > 0)
    cut_chars(body, r->max_chars);
  if (stripping || (r && r->command_prefix && r->command_prefix[0])) {
    const char *q = body;
    while (*q == ' ')
      q++;
    if (*q == '\0')
      return TTB_UNSPOKEN_EMPTY;
  }
  int mode = r ? (int)r->username : TTBOOST__V1__USERNAME_MODE__USERNAME_MODE_DEFAULT;
  bool read_user = mode == TTBOOST__V1__USERNAME_MODE__USERNAME_MODE_ALWAYS ||
                   (mode == TTBOOST__V1__USERNAME_MODE__USERNAME_MODE_DEFAULT && read_user_default);
  sbuf b = {out, 0, cap};
  if (read_user && user && user[0]) {
    const char *tpl =
        r && r->text_template && r->text_template[0] ? r->text_template : "{user}: {message}";
    apply_template(&b, tpl, user, body);
  } else {
    sb_put(&b, body, strlen(body));
  }
  return TTB_SPOKEN;
}

/* ------------------------------------------------------------ checks */

static bool fail(char *err, size_t errlen, const char *fmt, const char *a, unsigned long long v)
{
  snprintf(err, errlen, fmt, a ? a : "", v);
  return false;
}

/* Is s "u-" and 1..18 digits (an uploaded sound's id)? */
static bool is_user_sound(const char *s)
{
  if (strncmp(s, "u-", 2) != 0)
    return false;
  size_t n = 0;
  for (const char *p = s + 2; *p; p++, n++)
    if (*p < '0' || *p > '9')
      return false;
  return n >= 1 && n <= 18;
}

static bool sound_name_ok(const char *s)
{
  size_t n = 0;
  for (const char *p = s; *p; p++, n++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-'))
      return false;
  return n >= 1 && n <= 64;
}

/* Trims ASCII and Unicode spaces at both ends of a heap string in place. */
static void trim(char *s)
{
  size_t n = strlen(s), start = 0;
  while (start < n) {
    uint32_t c;
    size_t l = u8_next((const unsigned char *)s + start, n - start, &c);
    if (!is_space(c))
      break;
    start += l;
  }
  size_t end = n;
  while (end > start) {
    size_t k = end - 1;
    while (k > start && ((unsigned char)s[k] & 0xc0) == 0x80)
      k--;
    uint32_t c;
    u8_next((const unsigned char *)s + k, end - k, &c);
    if (!is_space(c))
      break;
    end = k;
  }
  memmove(s, s + start, end - start);
  s[end - start] = '\0';
}

static bool check_template(const char *t, char *err, size_t errlen)
{
  if (t == NULL || t[0] == '\0')
    return true;
  if (strstr(t, "{message}") == NULL)
    return fail(err, errlen, "reading.text_template: must contain {message}%s", "", 0);
  for (const char *p = t; (p = strchr(p, '{')) != NULL; p++) {
    if (strncmp(p, "{user}", 6) != 0 && strncmp(p, "{message}", 9) != 0)
      return fail(err, errlen,
                  "reading.text_template: only {user} and {message} may be used in braces%s", "",
                  0);
  }
  return true;
}

bool ttb_settings_check(Ttboost__V1__ChannelSettings *cs, const ttb_settings_env *env, char *err,
                        size_t errlen)
{
  if (!ttb_pbc_ttboost_v1_ChannelSettings_validate(cs, err, errlen))
    return false;
  const Ttboost__V1__ReadingSettings *r = cs->reading;
  if (r) {
    if (r->username > TTBOOST__V1__USERNAME_MODE__USERNAME_MODE_NEVER || (int)r->username < 0)
      return fail(err, errlen, "reading.username: unknown mode %s%llu", "",
                  (unsigned long long)r->username);
    if (!check_template(r->text_template, err, errlen))
      return false;
    if (r->max_chars > TTB_SETTINGS_TEXT_MAX)
      return fail(err, errlen, "reading.max_chars: at most %s%llu (the server's text limit)", "",
                  TTB_SETTINGS_TEXT_MAX);
    if (r->command_prefix && r->command_prefix[0]) {
      for (const char *p = r->command_prefix; *p; p++)
        if (*p == ' ' || *p == '\t')
          return fail(err, errlen, "reading.command_prefix: no spaces%s", "", 0);
    }
  }
  if (cs->pacing) {
    if (cs->pacing->cooldown_seconds > 3600)
      return fail(err, errlen, "pacing.cooldown_seconds: at most %s%llu", "", 3600);
    if (cs->pacing->max_backlog_seconds > 600)
      return fail(err, errlen, "pacing.max_backlog_seconds: at most %s%llu", "", 600);
  }
  const Ttboost__V1__VoiceSettings *v = cs->voice;
  if (v) {
    if (v->rate != 0 && (v->rate < 80 || v->rate > 450))
      return fail(err, errlen, "voice.rate: 80 to 450 words a minute, or 0 (the default)%s", "", 0);
    if (v->pitch != 0 && (v->pitch < 1 || v->pitch > 99))
      return fail(err, errlen, "voice.pitch: 1 to 99, or 0 (the default)%s", "", 0);
    for (size_t i = 0; i < v->n_voices; i++) {
      const Ttboost__V1__LanguageVoice *lv = v->voices[i];
      if (lv->language == NULL || lv->language[0] == '\0')
        return fail(err, errlen, "voice.voices[%s%llu].language: required", "", i);
      for (size_t k = 0; k < i; k++)
        if (strcasecmp(v->voices[k]->language, lv->language) == 0)
          return fail(err, errlen, "voice.voices[%s%llu].language: listed twice", "", i);
      if (lv->voice == NULL || lv->voice[0] == '\0' ||
          (env && env->voice_ok && !env->voice_ok(env->arg, lv->voice))) {
        char msg[160];
        snprintf(msg, sizeof msg, "voice.voices[%zu].voice: '%.32s' is not a voice of this server",
                 i, lv->voice ? lv->voice : "");
        snprintf(err, errlen, "%s", msg);
        return false;
      }
    }
  }
  for (size_t i = 0; i < cs->n_banned_words; i++) {
    trim(cs->banned_words[i]);
    if (cs->banned_words[i][0] == '\0')
      return fail(err, errlen, "banned_words[%s%llu]: empty", "", i);
  }
  const Ttboost__V1__GiftSettings *g = cs->gifts;
  if (g) {
    for (size_t i = 0; i < g->n_sounds; i++) {
      const Ttboost__V1__GiftSound *gs = g->sounds[i];
      if (gs->gift_name == NULL || gs->gift_name[0] == '\0')
        return fail(err, errlen, "gifts.sounds[%s%llu].gift_name: required", "", i);
      for (size_t k = 0; k < i; k++)
        if (strcasecmp(g->sounds[k]->gift_name, gs->gift_name) == 0)
          return fail(err, errlen, "gifts.sounds[%s%llu].gift_name: listed twice", "", i);
      const char *snd = gs->sound ? gs->sound : "";
      if (snd[0] == '\0' || is_user_sound(snd))
        continue;
      if (!sound_name_ok(snd) || (env && env->sound_ok && !env->sound_ok(env->arg, snd))) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "gifts.sounds[%zu].sound: '%.64s' is neither a sound of the catalogue nor an "
                 "uploaded sound (u-<digits>)",
                 i, snd);
        snprintf(err, errlen, "%s", msg);
        return false;
      }
    }
  }
  return true;
}
