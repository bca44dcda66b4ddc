#include "sounds.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GIFT_MAX 128 /* bytes of UTF-8 */
#define SOUND_MAX 64 /* [A-Za-z0-9_-] */
#define FALLBACK "default"

/* TikTok's common gifts onto the default pack (server/tools/make_sounds.c).
 * Keep docs/protocol/gifts.md in step. */
static const struct {
  const char *gift, *sound;
} builtin[] = {
    /* 1-5 coins: small, quick sounds. */
    {"Rose", "chime"},
    {"TikTok", "coin"},
    {"GG", "coin"},
    {"Ice Cream Cone", "pop"},
    {"Heart Me", "heart"},
    {"Finger Heart", "heart"},
    {"Heart", "heart"},
    {"Love you", "heart"},
    {"Thumbs Up", "pop"},
    {"Cake Slice", "pop"},
    {"Glow Stick", "sparkle"},
    {"Tiny Diny", "pop"},
    {"Friendship Necklace", "chime"},
    {"Rosa", "chime"},
    {"Team Bracelet", "chime"},
    {"Doughnut", "pop"},
    {"Cap", "drum"},
    {"Perfume", "sparkle"},
    {"Hand Hearts", "heart"},
    {"Hand Heart", "heart"},
    {"Mic", "drum"},
    {"Sunglasses", "sparkle"},
    {"Hat and Mustache", "drum"},
    {"Corgi", "harp"},
    {"Swan", "harp"},
    {"Confetti", "sparkle"},
    {"Money Gun", "coin"},
    {"Gem Gun", "coin"},
    {"Disco Ball", "sparkle"},
    {"Train", "drum"},
    {"Drama Queen", "fanfare"},
    {"Galaxy", "whoosh"},
    {"Rocket", "whoosh"},
    {"Fireworks", "whoosh"},
    {"Interstellar", "whoosh"},
    {"Planet", "whoosh"},
    {"Whale diving", "whoosh"},
    {"Sports Car", "whoosh"},
    {"Private Jet", "whoosh"},
    {"Castle Fantasy", "bell"},
    {"Golden Party", "bell"},
    {"Falcon", "fanfare"},
    {"Lion", "fanfare"},
    {"Universe", "fanfare"},
    {"TikTok Universe", "fanfare"},
    {"Leon and Lion", "fanfare"},
    {"Phoenix", "fanfare"},
    {"Dragon Flame", "fanfare"},
    {"Thunder Falcon", "fanfare"},
};

struct entry {
  char *gift; /* trimmed, as written */
  char *sound;
  unsigned line; /* of the map file; 0 = built-in */
};

struct ttb_sounds {
  char *dir;
  struct entry *v; /* sorted by gift, ASCII case-insensitively */
  size_t n, cap;
  char *fallback;
  unsigned fallback_line; /* of the map file's `* = sound`; 0 = none */
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

/* Compares a[0..an) with b[0..bn), ASCII case-insensitively. */
static int fold_cmp(const char *a, size_t an, const char *b, size_t bn)
{
  size_t n = an < bn ? an : bn;
  for (size_t i = 0; i < n; i++) {
    int x = lower((unsigned char)a[i]), y = lower((unsigned char)b[i]);
    if (x != y)
      return x - y;
  }
  return an < bn ? -1 : an > bn;
}

static int entry_cmp(const void *a, const void *b)
{
  const struct entry *x = a, *y = b;
  return fold_cmp(x->gift, strlen(x->gift), y->gift, strlen(y->gift));
}

static bool is_space(int c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n)
{
  while (*n && is_space((unsigned char)**s))
    (*s)++, (*n)--;
  while (*n && is_space((unsigned char)(*s)[*n - 1]))
    (*n)--;
}

static bool valid_sound(const char *s, size_t n)
{
  if (n == 0 || n > SOUND_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

/* Valid UTF-8 with no control characters. */
static bool valid_gift(const char *s, size_t n)
{
  if (n == 0 || n > GIFT_MAX)
    return false;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
      len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
      len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
      len = 4, cp = c & 0x07;
    else
      return false;
    if (i + len > n)
      return false;
    for (size_t k = 1; k < len; k++) {
      unsigned char d = (unsigned char)s[i + k];
      if ((d & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

static char *dup_n(const char *s, size_t n)
{
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

void ttb_sounds_free(ttb_sounds *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].gift);
    free(s->v[i].sound);
  }
  free(s->v);
  free(s->fallback);
  free(s->dir);
  free(s);
}

static int add(ttb_sounds *s, const char *gift, size_t gn, const char *sound, size_t sn,
               unsigned line)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    struct entry *v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return -1;
    s->v = v;
    s->cap = cap;
  }
  struct entry *e = &s->v[s->n];
  e->gift = dup_n(gift, gn);
  e->sound = dup_n(sound, sn);
  e->line = line;
  if (!e->gift || !e->sound) {
    free(e->gift);
    free(e->sound);
    return -1;
  }
  s->n++;
  return 0;
}

/* Whether dir/<sound>.ogg is a regular file; otherwise a message in err. */
static bool sound_exists(const ttb_sounds *s, const char *sound, const char *where, char *err,
                         size_t errlen)
{
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s.ogg", s->dir, sound) >= (int)sizeof path) {
    snprintf(err, errlen, "%s: sound \"%s\": path too long", where, sound);
    return false;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(err, errlen, "%s: sound \"%s\" not found: %s: %s", where, sound, path,
             strerror(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: sound \"%s\": %s is not a regular file", where, sound, path);
    return false;
  }
  return true;
}

/* Parses the map file into s. */
static int parse(ttb_sounds *s, const char *path, char *err, size_t errlen)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "sounds map %s: %s", path, strerror(errno));
    return -1;
  }
  char *buf = NULL;
  size_t bufcap = 0;
  ssize_t got;
  unsigned line = 0, fallback_line = 0;
  int rc = 0;
  while ((got = getline(&buf, &bufcap, f)) != -1) {
    line++;
    const char *p = buf;
    size_t n = (size_t)got;
    if (memchr(p, '\0', n)) {
      snprintf(err, errlen, "%s:%u: NUL byte in line", path, line);
      rc = -1;
      break;
    }
    if (line == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
      p += 3, n -= 3; /* a UTF-8 BOM */
    trim(&p, &n);
    if (n == 0 || p[0] == '#')
      continue;
    /* A '#' after the first '=' starts a trailing comment. */
    const char *eq1 = memchr(p, '=', n);
    if (eq1) {
      const char *hash = memchr(eq1, '#', n - (size_t)(eq1 - p));
      if (hash) {
        n = (size_t)(hash - p);
        trim(&p, &n);
      }
    }
    /* The gift name may hold '='; the sound cannot: split at the last. */
    const char *eq = NULL;
    for (size_t i = n; i-- > 0;)
      if (p[i] == '=') {
        eq = p + i;
        break;
      }
    if (!eq) {
      snprintf(err, errlen, "%s:%u: expected `Gift Name = sound`", path, line);
      rc = -1;
      break;
    }
    const char *g = p, *v = eq + 1;
    size_t gn = (size_t)(eq - p), vn = n - gn - 1;
    trim(&g, &gn);
    trim(&v, &vn);
    if (!valid_sound(v, vn)) {
      snprintf(err, errlen,
               "%s:%u: bad sound name \"%.*s\" (1 to %d of A-Z a-z 0-9 _ -, without .ogg)", path,
               line, (int)(vn > 80 ? 80 : vn), v, SOUND_MAX);
      rc = -1;
      break;
    }
    if (gn == 1 && g[0] == '*') {
      if (fallback_line) {
        snprintf(err, errlen, "%s:%u: second `* = sound` line (first on line %u)", path, line,
                 fallback_line);
        rc = -1;
        break;
      }
      fallback_line = line;
      char *fb = dup_n(v, vn);
      if (!fb) {
        snprintf(err, errlen, "%s:%u: out of memory", path, line);
        rc = -1;
        break;
      }
      free(s->fallback);
      s->fallback = fb;
      s->fallback_line = line;
      continue;
    }
    if (gn == 0) {
      snprintf(err, errlen, "%s:%u: empty gift name", path, line);
      rc = -1;
      break;
    }
    if (!valid_gift(g, gn)) {
      snprintf(err, errlen,
               "%s:%u: bad gift name (at most %d bytes of UTF-8, no control characters)", path,
               line, GIFT_MAX);
      rc = -1;
      break;
    }
    if (add(s, g, gn, v, vn, line) != 0) {
      snprintf(err, errlen, "%s:%u: out of memory", path, line);
      rc = -1;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "sounds map %s: read error", path);
    rc = -1;
  }
  free(buf);
  fclose(f);
  return rc;
}

ttb_sounds *ttb_sounds_load(const char *dir, const char *map_path, char *err, size_t errlen)
{
  if (errlen)
    err[0] = '\0';
  if (!dir || !*dir) {
    snprintf(err, errlen, "no sounds directory");
    return NULL;
  }
  ttb_sounds *s = calloc(1, sizeof *s);
  if (!s || !(s->dir = strdup(dir))) {
    free(s);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  /* Drop trailing slashes (but keep "/"). */
  for (size_t n = strlen(s->dir); n > 1 && s->dir[n - 1] == '/'; n--)
    s->dir[n - 1] = '\0';
  bool from_file = map_path && *map_path;
  if (from_file) {
    if (parse(s, map_path, err, errlen) != 0)
      goto fail;
  } else {
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
      if (add(s, builtin[i].gift, strlen(builtin[i].gift), builtin[i].sound,
              strlen(builtin[i].sound), 0) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
      }
  }
  if (!s->fallback && !(s->fallback = strdup(FALLBACK))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (s->n)
    qsort(s->v, s->n, sizeof *s->v, entry_cmp);
  /* The same gift twice (after trimming and case folding) is a mistake. */
  for (size_t i = 1; i < s->n; i++)
    if (entry_cmp(&s->v[i - 1], &s->v[i]) == 0) {
      unsigned a = s->v[i - 1].line, b = s->v[i].line;
      if (a > b) {
        unsigned t = a;
        a = b;
        b = t;
      }
      if (from_file)
        snprintf(err, errlen, "%s:%u: gift \"%s\" already mapped on line %u", map_path, b,
                 s->v[i].gift, a);
      else
        snprintf(err, errlen, "built-in sounds map: gift \"%s\" twice", s->v[i].gift);
      goto fail;
    }
  /* Every sound must exist. */
  char where[4200];
  for (size_t i = 0; i < s->n; i++) {
    if (from_file)
      snprintf(where, sizeof where, "%s:%u", map_path, s->v[i].line);
    else
      snprintf(where, sizeof where, "built-in sounds map (gift \"%s\")", s->v[i].gift);
    if (!sound_exists(s, s->v[i].sound, where, err, errlen))
      goto fail;
  }
  if (from_file && s->fallback_line)
    snprintf(where, sizeof where, "%s:%u", map_path, s->fallback_line);
  else if (from_file)
    snprintf(where, sizeof where, "%s: the fallback (no `* = sound` line)", map_path);
  else
    snprintf(where, sizeof where, "built-in sounds map: fallback");
  if (!sound_exists(s, s->fallback, where, err, errlen))
    goto fail;
  return s;
fail:
  ttb_sounds_free(s);
  return NULL;
}

static const struct entry *find(const ttb_sounds *s, const char *gift_name)
{
  if (!s || !gift_name)
    return NULL;
  const char *g = gift_name;
  size_t gn = strlen(g);
  trim(&g, &gn);
  if (gn == 0 || gn > GIFT_MAX)
    return NULL;
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct entry *e = &s->v[mid];
    int c = fold_cmp(g, gn, e->gift, strlen(e->gift));
    if (c == 0)
      return e;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

const char *ttb_sounds_for(const ttb_sounds *s, const char *gift_name)
{
  const struct entry *e = find(s, gift_name);
  if (e)
    return e->sound;
  return s ? s->fallback : FALLBACK;
}

bool ttb_sounds_known(const ttb_sounds *s, const char *gift_name)
{
  return find(s, gift_name) != NULL;
}

const char *ttb_sounds_dir(const ttb_sounds *s) { return s ? s->dir : ""; }
