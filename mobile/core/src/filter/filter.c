/*
 * filter/filter.c — the profanity filter (see filter.h).
 *
 * The entries live in one arena of NUL-separated normalised strings and an
 * open-addressing hash table (FNV-1a, linear probing, load <= 1/2) of
 * offsets into it, one table for whole words and one for stems. A check
 * never allocates: words are normalised into a stack buffer.
 */
#include "filter/filter.h"
#include "ttboost/fnv.h"

#include <stdlib.h>
#include <string.h>

/* Longest normalised word considered (bytes); longer words never match. */
#define WORD_MAX 192
/* Words tracked per white-space chunk for masking. */
#define CHUNK_WORDS 64

typedef struct {
  uint32_t *slots; /* offset + 1 into arena, 0 = empty */
  size_t cap;      /* power of two */
  size_t count;
} str_set;

struct ttb__filter {
  char *arena;
  size_t arena_len, arena_cap;
  str_set words;
  str_set stems;
  size_t min_stem, max_stem;
};

/* ------------------------------------------------------------ UTF-8 */

/* Decodes one code point at s[*i] (n bytes); advances *i. Returns the code
 * point, or 0xFFFFFFFF for an invalid sequence (one byte consumed). */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
  size_t p = *i;
  unsigned char c = s[p];
  if (c < 0x80) {
    *i = p + 1;
    return c;
  }
  size_t len;
  uint32_t cp, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1Fu;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0Fu;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07u;
    min = 0x10000;
  } else {
    *i = p + 1;
    return 0xFFFFFFFFu;
  }
  if (p + len > n) {
    *i = p + 1;
    return 0xFFFFFFFFu;
  }
  for (size_t k = 1; k < len; k++) {
    unsigned char cc = s[p + k];
    if ((cc & 0xC0) != 0x80) {
      *i = p + 1;
      return 0xFFFFFFFFu;
    }
    cp = (cp << 6) | (cc & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *i = p + 1;
    return 0xFFFFFFFFu;
  }
  *i = p + len;
  return cp;
}

static size_t utf8_put(uint32_t cp, char *out)
{
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

uint32_t ttb__utf8_lower(uint32_t cp)
{
  if (cp >= 'A' && cp <= 'Z')
    return cp + 32;
  if (cp < 0xC0)
    return cp;
  if (cp <= 0xDE && cp != 0xD7) /* Latin-1 capitals */
    return cp + 32;
  if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x138 && cp != 0x149 && cp != 0x178) {
    /* Latin Extended-A: pairs capital/small, even/odd except 0x139..0x148
         * and 0x179..0x17E which are odd/even. */
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
      return (cp & 1u) ? cp + 1 : cp;
    return (cp & 1u) ? cp : cp + 1;
  }
  if (cp >= 0x400 && cp <= 0x40F) /* Ѐ..Џ (Ё, І, Ї, Ў ...) */
    return cp + 0x50;
  if (cp >= 0x410 && cp <= 0x42F) /* А..Я */
    return cp + 0x20;
  if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF))
    return (cp & 1u) ? cp : cp + 1; /* Ѡ.., Ғ Қ Ң Ү Ұ Һ ... */
  if (cp == 0x4C0)
    return 0x4CF;
  if (cp >= 0x4C1 && cp <= 0x4CE)
    return (cp & 1u) ? cp + 1 : cp;
  if (cp >= 0x4D0 && cp <= 0x52F)
    return (cp & 1u) ? cp : cp + 1; /* Ә Ө ... */
  return cp;
}

/* Letters and digits of the scripts the lists cover; everything else
 * (punctuation, symbols, emoji, spaces) separates words. */
static bool is_word_cp(uint32_t cp)
{
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (cp >= 0xC0 && cp <= 0x24F)
    return cp != 0xD7 && cp != 0xF7;
  if (cp >= 0x400 && cp <= 0x52F)
    return !(cp >= 0x482 && cp <= 0x489); /* Cyrillic, minus its signs */
  return false;
}

static uint32_t fold(uint32_t cp)
{
  cp = ttb__utf8_lower(cp);
  if (cp == 0x451) /* ё -> е */
    cp = 0x435;
  return cp;
}

static bool is_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

size_t ttb__filter_normalize(const char *word, size_t len, char *out, size_t cap)
{
  const unsigned char *s = (const unsigned char *)word;
  size_t i = 0, o = 0;
  if (!word || !out || cap == 0)
    return 0;
  while (i < len) {
    uint32_t cp = utf8_next(s, len, &i);
    if (cp == 0xFFFFFFFFu || !is_word_cp(cp))
      continue;
    char tmp[4];
    size_t k = utf8_put(fold(cp), tmp);
    if (o + k + 1 > cap) {
      out[0] = '\0';
      return 0;
    }
    memcpy(out + o, tmp, k);
    o += k;
  }
  out[o] = '\0';
  return o;
}

/* ------------------------------------------------------------ hash set */

static uint32_t fnv1a(const char *s, size_t n) { return ttb_fnv1a32(TTB_FNV32_INIT, s, n); }

static bool set_contains(const ttb__filter *f, const str_set *set, const char *w, size_t n)
{
  if (set->cap == 0)
    return false;
  size_t mask = set->cap - 1;
  for (size_t i = fnv1a(w, n) & mask;; i = (i + 1) & mask) {
    uint32_t off = set->slots[i];
    if (off == 0)
      return false;
    const char *e = f->arena + off - 1;
    if (strncmp(e, w, n) == 0 && e[n] == '\0')
      return true;
  }
}

static int set_grow(str_set *set, const char *arena)
{
  size_t ncap = set->cap ? set->cap * 2 : 64;
  uint32_t *ns = calloc(ncap, sizeof *ns);
  if (!ns)
    return TTB_ERR_NOMEM;
  for (size_t i = 0; i < set->cap; i++) {
    uint32_t off = set->slots[i];
    if (!off)
      continue;
    const char *e = arena + off - 1;
    size_t j = fnv1a(e, strlen(e)) & (ncap - 1);
    while (ns[j])
      j = (j + 1) & (ncap - 1);
    ns[j] = off;
  }
  free(set->slots);
  set->slots = ns;
  set->cap = ncap;
  return TTB_OK;
}

static int add_entry(ttb__filter *f, const char *w, size_t n, bool stem)
{
  str_set *set = stem ? &f->stems : &f->words;
  if (set_contains(f, set, w, n))
    return TTB_OK;
  if (f->arena_len + n + 1 > f->arena_cap) {
    size_t ncap = f->arena_cap ? f->arena_cap * 2 : 4096;
    while (ncap < f->arena_len + n + 1)
      ncap *= 2;
    if (ncap > UINT32_MAX - 1)
      return TTB_ERR_NOMEM;
    char *na = realloc(f->arena, ncap);
    if (!na)
      return TTB_ERR_NOMEM;
    f->arena = na;
    f->arena_cap = ncap;
  }
  uint32_t off = (uint32_t)f->arena_len + 1;
  memcpy(f->arena + f->arena_len, w, n);
  f->arena[f->arena_len + n] = '\0';
  f->arena_len += n + 1;
  if ((set->count + 1) * 2 > set->cap && set_grow(set, f->arena) != TTB_OK)
    return TTB_ERR_NOMEM;
  size_t mask = set->cap - 1;
  size_t j = fnv1a(w, n) & mask;
  while (set->slots[j])
    j = (j + 1) & mask;
  set->slots[j] = off;
  set->count++;
  if (stem) {
    if (f->min_stem == 0 || n < f->min_stem)
      f->min_stem = n;
    if (n > f->max_stem)
      f->max_stem = n;
  }
  return TTB_OK;
}

static int load_list(ttb__filter *f, const char *text, ttb_error *err)
{
  const char *p = text;
  while (*p) {
    const char *e = strchr(p, '\n');
    size_t ll = e ? (size_t)(e - p) : strlen(p);
    size_t a = 0, b = ll;
    while (a < b && is_space((unsigned char)p[a]))
      a++;
    while (b > a && is_space((unsigned char)p[b - 1]))
      b--;
    if (b > a && p[a] != '#') {
      bool stem = p[b - 1] == '*';
      if (stem)
        b--;
      char norm[WORD_MAX];
      size_t n = ttb__filter_normalize(p + a, b - a, norm, sizeof norm);
      if (n > 0 && add_entry(f, norm, n, stem) != TTB_OK)
        return ttb__fail(err, TTB_ERR_NOMEM, "out of memory loading word lists");
    }
    if (!e)
      break;
    p = e + 1;
  }
  return TTB_OK;
}

int ttb__filter_create(const ttb__filter_list *lists, size_t n, ttb__filter **out, ttb_error *err)
{
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL out");
  *out = NULL;
  if (!lists) {
    lists = ttb__filter_builtin;
    n = ttb__filter_builtin_count;
  }
  ttb__filter *f = calloc(1, sizeof *f);
  if (!f)
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory creating the filter");
  for (size_t i = 0; i < n; i++) {
    if (!lists[i].text)
      continue;
    int rc = load_list(f, lists[i].text, err);
    if (rc != TTB_OK) {
      ttb__filter_destroy(f);
      return rc;
    }
  }
  *out = f;
  return TTB_OK;
}

void ttb__filter_destroy(ttb__filter *f)
{
  if (!f)
    return;
  free(f->words.slots);
  free(f->stems.slots);
  free(f->arena);
  free(f);
}

size_t ttb__filter_size(const ttb__filter *f) { return f ? f->words.count + f->stems.count : 0; }

/* ------------------------------------------------------------ check */

/* True when the normalised word w[0..n) is listed or begins with a stem.
 * Stems are tried at code point boundaries only. */
static bool word_profane(const ttb__filter *f, const char *w, size_t n)
{
  if (n == 0)
    return false;
  if (set_contains(f, &f->words, w, n))
    return true;
  if (f->stems.count == 0 || n < f->min_stem)
    return false;
  size_t lim = n < f->max_stem ? n : f->max_stem;
  for (size_t k = f->min_stem; k <= lim; k++) {
    if (k < n && ((unsigned char)w[k] & 0xC0) == 0x80)
      continue; /* not a boundary */
    if (set_contains(f, &f->stems, w, k))
      return true;
  }
  return false;
}

typedef struct {
  size_t start, end; /* byte range in the text */
  bool bad;
} word_span;

/* Copies text[a..b) into out at *o, masking nothing; returns false when the
 * output is full (truncated on a code point boundary). */
static bool emit(const char *text, size_t a, size_t b, bool mask, char *out, size_t cap, size_t *o)
{
  const unsigned char *s = (const unsigned char *)text;
  size_t i = a;
  while (i < b) {
    size_t st = i;
    (void)utf8_next(s, b, &i);
    size_t k = mask ? 1 : i - st;
    if (*o + k + 1 > cap)
      return false;
    if (mask)
      out[*o] = '*';
    else
      memcpy(out + *o, text + st, k);
    *o += k;
  }
  return true;
}

int ttb__filter_check(const ttb__filter *f, const char *text, char *masked, size_t cap)
{
  if (masked && cap > 0)
    masked[0] = '\0';
  if (!f || !text)
    return 0;
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);
  size_t i = 0, o = 0;
  bool out_ok = masked && cap > 0;
  int found = 0;
  while (i < n) {
    /* White space between chunks is copied as is. */
    size_t ws = i;
    while (i < n && is_space(s[i]))
      i++;
    if (out_ok && i > ws)
      out_ok = emit(text, ws, i, false, masked, cap, &o);
    if (i >= n)
      break;
    size_t cs = i;
    while (i < n && !is_space(s[i]))
      i++;
    size_t ce = i;
    /* Words of the chunk, normalised one by one and joined. */
    word_span spans[CHUNK_WORDS];
    size_t ns = 0;
    char joined[WORD_MAX];
    size_t jn = 0;
    bool joined_ok = true;
    size_t p = cs;
    while (p < ce) {
      size_t q = p;
      uint32_t cp = utf8_next(s, ce, &q);
      if (cp == 0xFFFFFFFFu || !is_word_cp(cp)) {
        p = q;
        continue;
      }
      size_t ws0 = p;
      char norm[WORD_MAX];
      size_t nn = 0;
      bool fits = true;
      while (p < ce) {
        q = p;
        cp = utf8_next(s, ce, &q);
        if (cp == 0xFFFFFFFFu || !is_word_cp(cp))
          break;
        char tmp[4];
        size_t k = utf8_put(fold(cp), tmp);
        if (nn + k < sizeof norm) {
          memcpy(norm + nn, tmp, k);
          nn += k;
        } else {
          fits = false;
        }
        if (jn + k < sizeof joined) {
          memcpy(joined + jn, tmp, k);
          jn += k;
        } else {
          joined_ok = false;
        }
        p = q;
      }
      bool bad = fits && word_profane(f, norm, nn);
      if (ns < CHUNK_WORDS) {
        spans[ns].start = ws0;
        spans[ns].end = p;
        spans[ns].bad = bad;
        ns++;
      } else if (bad) {
        spans[CHUNK_WORDS - 1].end = p; /* fold the tail into the last span */
        spans[CHUNK_WORDS - 1].bad = true;
      }
    }
    size_t nbad = 0;
    for (size_t k = 0; k < ns; k++)
      nbad += spans[k].bad;
    if (nbad == 0 && ns > 1 && joined_ok && word_profane(f, joined, jn)) {
      for (size_t k = 0; k < ns; k++)
        spans[k].bad = true;
      nbad = 1; /* one word, spelled with separators */
    }
    found += (int)nbad;
    if (out_ok) {
      size_t at = cs;
      for (size_t k = 0; k < ns && out_ok; k++) {
        out_ok = emit(text, at, spans[k].start, false, masked, cap, &o);
        if (out_ok)
          out_ok = emit(text, spans[k].start, spans[k].end, spans[k].bad, masked, cap, &o);
        at = spans[k].end;
      }
      if (out_ok)
        out_ok = emit(text, at, ce, false, masked, cap, &o);
    }
  }
  if (masked && cap > 0)
    masked[o < cap ? o : cap - 1] = '\0';
  return found;
}
