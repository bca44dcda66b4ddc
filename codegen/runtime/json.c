/*
 * The JSON runtime behind the generated codecs: see include/ttboost/json.h.
 *
 * jsmn tokenises; it is lenient about separators ("{,}", "[1 2]", trailing
 * commas) and about primitives inside containers ("tru", "-"), so
 * ttb_jr_parse walks the tokens once more and checks the bytes between them
 * and the grammar of every primitive. Strings are checked (escapes, UTF-8,
 * control characters) when they are read, and ignored values by
 * ttb_jr_skip_value, so every byte of a document that decodes was checked.
 */
#define JSMN_STRICT
#include <jsmn.h>

#include "ttboost/json.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ================================================================ UTF-8 */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
  unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
      return 0;
    if (c == 0xE0 && s[1] < 0xA0)
      return 0; /* overlong */
    if (c == 0xED && s[1] > 0x9F)
      return 0; /* surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && s[1] < 0x90)
      return 0; /* overlong */
    if (c == 0xF4 && s[1] > 0x8F)
      return 0; /* above U+10FFFF */
    return 4;
  }
  return 0;
}

bool ttb_utf8_valid(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(s + i, n - i);
    if (k == 0)
      return false;
    i += k;
  }
  return true;
}

bool ttb_json_check_len(size_t n, size_t max, const char *field, const char *what, char *err,
                        size_t errlen)
{
  if (n <= max)
    return true;
  if (err && errlen)
    snprintf(err, errlen, "%s: %s", field, what);
  return false;
}

bool ttb_json_check_string(const char *s, size_t max_len, const char *field, char *err,
                           size_t errlen)
{
  if (s == NULL)
    return true;
  size_t n = strlen(s);
  if (!ttb_json_check_len(n, max_len, field, "too long", err, errlen))
    return false;
  if (!ttb_utf8_valid(s, n)) {
    if (err && errlen)
      snprintf(err, errlen, "%s: invalid UTF-8", field);
    return false;
  }
  return true;
}

void ttb_json_set_error(ttb_json_error *err, ttb_json_status st, const char *msg)
{
  if (err == NULL)
    return;
  err->status = st;
  snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : "");
}

/* ================================================================ writer */

void ttb_jw_init_fixed(ttb_jw *w, char *buf, size_t cap)
{
  memset(w, 0, sizeof *w);
  w->buf = buf;
  w->cap = cap;
  w->fixed = true;
}

void ttb_jw_init(ttb_jw *w, size_t cap)
{
  memset(w, 0, sizeof *w);
  if (cap > 0) {
    w->buf = malloc(cap);
    if (w->buf == NULL)
      ttb_jw_fail(w, TTB_JSON_NOMEM, NULL, "out of memory");
    else
      w->cap = cap;
  }
}

void ttb_jw_finish(ttb_jw *w)
{
  if (!w->fixed)
    free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}

char *ttb_jw_take(ttb_jw *w, size_t *len)
{
  if (w->fixed || w->status != TTB_JSON_OK) {
    ttb_jw_finish(w);
    return NULL;
  }
  /* room for the NUL */
  if (w->len == w->cap) {
    char *p = realloc(w->buf, w->len + 1);
    if (p == NULL) {
      ttb_jw_finish(w);
      return NULL;
    }
    w->buf = p;
  }
  w->buf[w->len] = '\0';
  char *out = w->buf;
  if (len)
    *len = w->len;
  w->buf = NULL;
  w->len = w->cap = 0;
  return out;
}

void ttb_jw_reset(ttb_jw *w)
{
  w->len = 0;
  w->comma = false;
  w->status = TTB_JSON_OK;
  w->err[0] = '\0';
}

bool ttb_jw_fail(ttb_jw *w, ttb_json_status st, const char *field, const char *what)
{
  if (w->status == TTB_JSON_OK) {
    w->status = st;
    if (field)
      snprintf(w->err, sizeof w->err, "%s: %s", field, what);
    else
      snprintf(w->err, sizeof w->err, "%s", what);
  }
  return false;
}

/* Makes room for n more bytes. */
static bool jw_reserve(ttb_jw *w, size_t n)
{
  if (w->status != TTB_JSON_OK)
    return false;
  if (n <= w->cap - w->len)
    return true;
  if (w->fixed)
    return ttb_jw_fail(w, TTB_JSON_LIMIT, NULL, "output larger than the buffer");
  size_t need = w->len + n;
  if (need < w->len)
    return ttb_jw_fail(w, TTB_JSON_LIMIT, NULL, "output too large");
  size_t cap = w->cap ? w->cap : 256;
  while (cap < need) {
    if (cap > SIZE_MAX / 2)
      return ttb_jw_fail(w, TTB_JSON_LIMIT, NULL, "output too large");
    cap *= 2;
  }
  char *p = realloc(w->buf, cap);
  if (p == NULL)
    return ttb_jw_fail(w, TTB_JSON_NOMEM, NULL, "out of memory");
  w->buf = p;
  w->cap = cap;
  return true;
}

static inline bool jw_put(ttb_jw *w, const char *s, size_t n)
{
  if (!jw_reserve(w, n))
    return false;
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  return true;
}

static inline bool jw_putc(ttb_jw *w, char c)
{
  if (!jw_reserve(w, 1))
    return false;
  w->buf[w->len++] = c;
  return true;
}

/* Writes the separator a new value at this level needs. */
static inline bool jw_sep(ttb_jw *w)
{
  if (w->comma)
    return jw_putc(w, ',');
  w->comma = true;
  return w->status == TTB_JSON_OK;
}

bool ttb_jw_begin_object(ttb_jw *w)
{
  if (!jw_sep(w) || !jw_putc(w, '{'))
    return false;
  w->comma = false;
  return true;
}

bool ttb_jw_end_object(ttb_jw *w)
{
  w->comma = true;
  return jw_putc(w, '}');
}

bool ttb_jw_begin_array(ttb_jw *w)
{
  if (!jw_sep(w) || !jw_putc(w, '['))
    return false;
  w->comma = false;
  return true;
}

bool ttb_jw_end_array(ttb_jw *w)
{
  w->comma = true;
  return jw_putc(w, ']');
}

bool ttb_jw_key(ttb_jw *w, const char *key, size_t key_len)
{
  if (!jw_sep(w) || !jw_put(w, key, key_len))
    return false;
  w->comma = false; /* the value follows the colon directly */
  return true;
}

/* Which ASCII bytes need escaping: 0 none, else the letter after '\'
 * ('u' for \u00XX). */
static const char jw_escape[128] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
    [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',
    [0x05] = 'u', [0x06] = 'u', [0x07] = 'u', [0x0B] = 'u', [0x0E] = 'u',
    [0x0F] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u', [0x13] = 'u',
    [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u', [0x18] = 'u',
    [0x19] = 'u', [0x1A] = 'u', [0x1B] = 'u', [0x1C] = 'u', [0x1D] = 'u',
    [0x1E] = 'u', [0x1F] = 'u', ['"'] = '"', ['\\'] = '\\',
};

bool ttb_jw_string(ttb_jw *w, const char *field, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  /* Worst case every byte becomes \u00XX: reserve once for the common case. */
  if (!jw_sep(w) || !jw_reserve(w, n + 2))
    return false;
  w->buf[w->len++] = '"';
  size_t i = 0, run = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c >= 0x80) {
      size_t k = utf8_seq(s + i, n - i);
      if (k == 0)
        return ttb_jw_fail(w, TTB_JSON_TYPE, field, "invalid UTF-8");
      i += k;
      continue;
    }
    char e = jw_escape[c];
    if (e == 0) {
      i++;
      continue;
    }
    /* flush the clean run before this byte */
    if (!jw_put(w, (const char *)s + run, i - run))
      return false;
    char esc[6] = {'\\', e, 0, 0, 0, 0};
    size_t elen = 2;
    if (e == 'u') {
      static const char hex[] = "0123456789abcdef";
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      elen = 6;
    }
    if (!jw_put(w, esc, elen))
      return false;
    i++;
    run = i;
  }
  if (!jw_put(w, (const char *)s + run, n - run))
    return false;
  return jw_putc(w, '"');
}

bool ttb_jw_cstring(ttb_jw *w, const char *field, const char *s)
{
  if (s == NULL)
    s = "";
  return ttb_jw_string(w, field, s, strlen(s));
}

bool ttb_jw_u64(ttb_jw *w, uint64_t v)
{
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (!jw_sep(w))
    return false;
  return jw_put(w, tmp + i, sizeof tmp - i);
}

bool ttb_jw_i64(ttb_jw *w, int64_t v)
{
  if (v >= 0)
    return ttb_jw_u64(w, (uint64_t)v);
  char tmp[24];
  size_t i = sizeof tmp;
  uint64_t u = (uint64_t)(-(v + 1)) + 1; /* no overflow at INT64_MIN */
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  tmp[--i] = '-';
  if (!jw_sep(w))
    return false;
  return jw_put(w, tmp + i, sizeof tmp - i);
}

bool ttb_jw_bool(ttb_jw *w, bool v)
{
  if (!jw_sep(w))
    return false;
  return v ? jw_put(w, "true", 4) : jw_put(w, "false", 5);
}

bool ttb_jw_base64(ttb_jw *w, const uint8_t *p, size_t n)
{
  size_t b64 = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
  if (!jw_sep(w) || !jw_reserve(w, b64 + 2))
    return false;
  w->buf[w->len++] = '"';
  sodium_bin2base64(w->buf + w->len, b64, p, n, sodium_base64_VARIANT_ORIGINAL);
  w->len += b64 - 1; /* without its NUL */
  w->buf[w->len++] = '"';
  return true;
}

/* ================================================================ reader */

bool ttb_jr_fail(ttb_jr *r, ttb_json_status st, const char *field, const char *fmt, ...)
{
  if (r->status != TTB_JSON_OK)
    return false;
  r->status = st;
  size_t off = 0;
  if (field) {
    int k = snprintf(r->err, sizeof r->err, "%s: ", field);
    off = k > 0 && (size_t)k < sizeof r->err ? (size_t)k : 0;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err + off, sizeof r->err - off, fmt, ap);
  va_end(ap);
  return false;
}

static inline bool is_ws(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Raw extent of token t: strings include their quotes. */
static inline int tok_begin(const jsmntok_t *t)
{
  return t->type == JSMN_STRING ? t->start - 1 : t->start;
}
static inline int tok_end(const jsmntok_t *t)
{
  return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/* Checks that js[from, to) is white space around exactly the separator sep
 * (or only white space when sep is 0). */
static bool gap_ok(const char *js, int from, int to, char sep)
{
  bool seen = sep == 0;
  for (int i = from; i < to; i++) {
    char c = js[i];
    if (is_ws(c))
      continue;
    if (c == sep && !seen) {
      seen = true;
      continue;
    }
    return false;
  }
  return seen;
}

/* RFC 8259 number grammar. */
static bool number_ok(const char *s, size_t n)
{
  size_t i = 0;
  if (i < n && s[i] == '-')
    i++;
  if (i >= n)
    return false;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return false;
  }
  return i == n;
}

static bool primitive_ok(const char *s, size_t n)
{
  if (n == 4 && memcmp(s, "true", 4) == 0)
    return true;
  if (n == 5 && memcmp(s, "false", 5) == 0)
    return true;
  if (n == 4 && memcmp(s, "null", 4) == 0)
    return true;
  return number_ok(s, n);
}

/* Checks the container or value at token i and returns the index after it,
 * or -1. `depth` bounds nesting. */
static int check_tok(ttb_jr *r, int i, int depth)
{
  if (depth > 64) {
    ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "nested deeper than 64 levels");
    return -1;
  }
  const jsmntok_t *t = &r->toks[i];
  switch (t->type) {
  case JSMN_PRIMITIVE:
    if (!primitive_ok(r->js + t->start, (size_t)(t->end - t->start))) {
      ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid literal at byte %d", t->start);
      return -1;
    }
    return i + 1;
  case JSMN_STRING:
    return i + 1;
  case JSMN_OBJECT:
  case JSMN_ARRAY: {
    bool obj = t->type == JSMN_OBJECT;
    int pos = t->start + 1; /* after the bracket */
    int j = i + 1;
    for (int k = 0; k < t->size; k++) {
      if (j >= r->ntok) {
        ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "truncated document");
        return -1;
      }
      const jsmntok_t *e = &r->toks[j];
      if (!gap_ok(r->js, pos, tok_begin(e), k == 0 ? 0 : ',')) {
        ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "expected %s at byte %d",
                    k == 0 ? "a value" : "','", pos);
        return -1;
      }
      if (obj) {
        if (e->type != JSMN_STRING || e->size != 1 || j + 1 >= r->ntok) {
          ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "expected a key at byte %d", tok_begin(e));
          return -1;
        }
        const jsmntok_t *v = &r->toks[j + 1];
        if (!gap_ok(r->js, tok_end(e), tok_begin(v), ':')) {
          ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "expected ':' at byte %d", tok_end(e));
          return -1;
        }
        j++;
      }
      int end_tok = j;
      j = check_tok(r, j, depth + 1);
      if (j < 0)
        return -1;
      pos = tok_end(&r->toks[end_tok]);
    }
    if (!gap_ok(r->js, pos, t->end - 1, 0)) {
      ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "unexpected byte at %d", pos);
      return -1;
    }
    return j;
  }
  default:
    ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid token");
    return -1;
  }
}

static bool jr_check(ttb_jr *r, int n)
{
  r->ntok = n;
  if (n < 1)
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "empty document");
  const jsmntok_t *t = &r->toks[0];
  if (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY)
    return ttb_jr_fail(r, TTB_JSON_TYPE, NULL, "expected an object or an array");
  if (!gap_ok(r->js, 0, t->start, 0))
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "unexpected byte before the document");
  int end = check_tok(r, 0, 0);
  if (end < 0)
    return false;
  if (end != n || !gap_ok(r->js, t->end, (int)r->len, 0))
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "unexpected data after the document at byte %d",
                       t->end);
  return true;
}

static bool jr_begin(ttb_jr *r, const char *js, size_t len)
{
  memset(r, 0, sizeof *r);
  r->js = js;
  r->len = len;
  if (len > (size_t)INT_MAX / 2)
    return ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "document too large");
  return true;
}

static bool jsmn_error(ttb_jr *r, int n, const jsmn_parser *p)
{
  switch (n) {
  case JSMN_ERROR_NOMEM:
    return ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "document has too many values");
  case JSMN_ERROR_PART:
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "truncated document");
  default:
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid JSON at byte %u", p->pos);
  }
}

bool ttb_jr_parse(ttb_jr *r, const char *js, size_t len, jsmntok_t *toks, unsigned cap)
{
  if (!jr_begin(r, js, len))
    return false;
  r->toks = toks;
  jsmn_parser p;
  jsmn_init(&p);
  int n = jsmn_parse(&p, js, len, toks, cap);
  if (n < 0)
    return jsmn_error(r, n, &p);
  return jr_check(r, n);
}

bool ttb_jr_parse_alloc(ttb_jr *r, const char *js, size_t len, unsigned max_tokens)
{
  if (!jr_begin(r, js, len))
    return false;
  jsmn_parser p;
  jsmn_init(&p);
  int n = jsmn_parse(&p, js, len, NULL, 0);
  if (n < 0)
    return jsmn_error(r, n, &p);
  if ((unsigned)n > max_tokens)
    return ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "document has more than %u values", max_tokens);
  if (n == 0)
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "empty document");
  r->toks = malloc((size_t)n * sizeof *r->toks);
  if (r->toks == NULL)
    return ttb_jr_fail(r, TTB_JSON_NOMEM, NULL, "out of memory");
  jsmn_init(&p);
  int m = jsmn_parse(&p, js, len, r->toks, (unsigned)n);
  if (m < 0)
    return jsmn_error(r, m, &p);
  return jr_check(r, m);
}

void ttb_jr_finish(ttb_jr *r)
{
  free(r->toks);
  r->toks = NULL;
  r->ntok = 0;
}

int ttb_jr_next(const ttb_jr *r, int i)
{
  int end = r->toks[i].end;
  int j = i + 1;
  while (j < r->ntok && r->toks[j].start < end)
    j++;
  return j;
}

static const char *type_name(jsmntype_t t, const char *js, int start)
{
  switch (t) {
  case JSMN_OBJECT:
    return "an object";
  case JSMN_ARRAY:
    return "an array";
  case JSMN_STRING:
    return "a string";
  default:
    if (js[start] == 't' || js[start] == 'f')
      return "a boolean";
    if (js[start] == 'n')
      return "null";
    return "a number";
  }
}

static bool expect(ttb_jr *r, int i, const char *field, jsmntype_t type, const char *want)
{
  const jsmntok_t *t = &r->toks[i];
  if (t->type == type)
    return true;
  return ttb_jr_fail(r, TTB_JSON_TYPE, field, "expected %s, got %s", want,
                     type_name(t->type, r->js, t->start));
}

bool ttb_jr_expect_object(ttb_jr *r, int i, const char *field)
{
  return expect(r, i, field, JSMN_OBJECT, "an object");
}

bool ttb_jr_expect_array(ttb_jr *r, int i, const char *field)
{
  return expect(r, i, field, JSMN_ARRAY, "an array");
}

bool ttb_jr_expect_string(ttb_jr *r, int i, const char *field)
{
  return expect(r, i, field, JSMN_STRING, "a string");
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static bool hex4(const char *s, unsigned *out)
{
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval(s[k]);
    if (h < 0)
      return false;
    v = v << 4 | (unsigned)h;
  }
  *out = v;
  return true;
}

static size_t put_utf8(char *d, unsigned cp)
{
  if (cp < 0x80) {
    d[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    d[0] = (char)(0xC0 | cp >> 6);
    d[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    d[0] = (char)(0xE0 | cp >> 12);
    d[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    d[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  d[0] = (char)(0xF0 | cp >> 18);
  d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  d[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/*
 * Unescapes the string token i. With dst == NULL only measures. Writes at
 * most max_len bytes (then fails with TTB_JSON_LIMIT). Returns the length or
 * (size_t)-1 with the error set.
 */
static size_t unescape(ttb_jr *r, int i, const char *field, char *dst, size_t max_len)
{
  const jsmntok_t *t = &r->toks[i];
  const char *s = r->js + t->start;
  size_t n = (size_t)(t->end - t->start);
  size_t o = 0, k = 0;
  while (k < n) {
    unsigned char c = (unsigned char)s[k];
    char tmp[4];
    size_t w;
    const char *src = tmp;
    if (c == '\\') {
      char e = s[k + 1]; /* jsmn guarantees a valid escape letter follows */
      k += 2;
      switch (e) {
      case '"': tmp[0] = '"'; w = 1; break;
      case '\\': tmp[0] = '\\'; w = 1; break;
      case '/': tmp[0] = '/'; w = 1; break;
      case 'b': tmp[0] = '\b'; w = 1; break;
      case 'f': tmp[0] = '\f'; w = 1; break;
      case 'n': tmp[0] = '\n'; w = 1; break;
      case 'r': tmp[0] = '\r'; w = 1; break;
      case 't': tmp[0] = '\t'; w = 1; break;
      case 'u': {
        unsigned cp;
        if (k + 4 > n || !hex4(s + k, &cp))
          goto bad_escape;
        k += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (k + 6 > n || s[k] != '\\' || s[k + 1] != 'u' || !hex4(s + k + 2, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF) {
            ttb_jr_fail(r, TTB_JSON_SYNTAX, field, "unpaired surrogate \\u%04X", cp);
            return (size_t)-1;
          }
          k += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          ttb_jr_fail(r, TTB_JSON_SYNTAX, field, "unpaired surrogate \\u%04X", cp);
          return (size_t)-1;
        }
        w = put_utf8(tmp, cp);
        break;
      }
      default:
        goto bad_escape;
      }
    } else if (c < 0x20) {
      ttb_jr_fail(r, TTB_JSON_SYNTAX, field, "control character in a string at byte %d",
                  t->start + (int)k);
      return (size_t)-1;
    } else if (c < 0x80) {
      /* copy the run of plain ASCII at once */
      size_t e = k + 1;
      while (e < n && (unsigned char)s[e] >= 0x20 && (unsigned char)s[e] < 0x80 && s[e] != '\\')
        e++;
      src = s + k;
      w = e - k;
      k = e;
    } else {
      w = utf8_seq((const unsigned char *)s + k, n - k);
      if (w == 0) {
        ttb_jr_fail(r, TTB_JSON_TYPE, field, "invalid UTF-8 at byte %d", t->start + (int)k);
        return (size_t)-1;
      }
      src = s + k;
      k += w;
    }
    if (o + w > max_len) {
      ttb_jr_fail(r, TTB_JSON_LIMIT, field, "longer than %zu bytes", max_len);
      return (size_t)-1;
    }
    if (dst)
      memcpy(dst + o, src, w);
    o += w;
  }
  return o;

bad_escape:
  ttb_jr_fail(r, TTB_JSON_SYNTAX, field, "invalid escape at byte %d", t->start + (int)k);
  return (size_t)-1;
}

bool ttb_jr_key(ttb_jr *r, int k, char *buf, size_t cap, const char **s, size_t *n)
{
  const jsmntok_t *t = &r->toks[k];
  const char *p = r->js + t->start;
  size_t len = (size_t)(t->end - t->start);
  if (memchr(p, '\\', len) == NULL) {
    /* plain keys are checked like any string, without copying */
    for (size_t i = 0; i < len; i++) {
      if ((unsigned char)p[i] < 0x20)
        return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "control character in a key");
    }
    if (!ttb_utf8_valid(p, len))
      return ttb_jr_fail(r, TTB_JSON_TYPE, NULL, "invalid UTF-8 in a key");
    *s = p;
    *n = len;
    return true;
  }
  size_t m = unescape(r, k, "key", buf, cap);
  if (m == (size_t)-1) {
    /* a long escaped key is simply one we do not know */
    if (r->status != TTB_JSON_LIMIT)
      return false;
    r->status = TTB_JSON_OK;
    r->err[0] = '\0';
    if (unescape(r, k, "key", NULL, SIZE_MAX) == (size_t)-1)
      return false;
    *s = "";
    *n = 0;
    return true;
  }
  *s = buf;
  *n = m;
  return true;
}

int ttb_jr_find_key(ttb_jr *r, int obj, const char *key, size_t n)
{
  int size = r->toks[obj].size;
  int k = obj + 1;
  for (int i = 0; i < size; i++) {
    char buf[64];
    const char *s;
    size_t sn;
    if (!ttb_jr_key(r, k, buf, sizeof buf, &s, &sn))
      return -1;
    if (sn == n && memcmp(s, key, n) == 0)
      return k + 1;
    k = ttb_jr_next(r, k + 1);
  }
  return -1;
}

bool ttb_jr_skip_value(ttb_jr *r, int i)
{
  int end = ttb_jr_next(r, i);
  for (int j = i; j < end; j++) {
    if (r->toks[j].type == JSMN_STRING && unescape(r, j, "ignored value", NULL, SIZE_MAX) == (size_t)-1)
      return false;
  }
  return true;
}

bool ttb_jr_is_null(const ttb_jr *r, int i)
{
  const jsmntok_t *t = &r->toks[i];
  return t->type == JSMN_PRIMITIVE && r->js[t->start] == 'n';
}

/* Reads an integer literal (no fraction, no exponent) as sign and magnitude. */
static bool read_int(ttb_jr *r, int i, const char *field, bool *neg, uint64_t *mag)
{
  const jsmntok_t *t = &r->toks[i];
  const char *s = r->js + t->start;
  size_t n = (size_t)(t->end - t->start);
  if (t->type != JSMN_PRIMITIVE || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
    return ttb_jr_fail(r, TTB_JSON_TYPE, field, "expected an integer, got %s",
                       type_name(t->type, r->js, t->start));
  size_t k = 0;
  *neg = false;
  if (s[0] == '-') {
    *neg = true;
    k = 1;
  }
  uint64_t v = 0;
  for (; k < n; k++) {
    if (s[k] < '0' || s[k] > '9')
      return ttb_jr_fail(r, TTB_JSON_TYPE, field, "expected an integer, got %.*s",
                         (int)(n > 24 ? 24 : n), s);
    unsigned d = (unsigned)(s[k] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return ttb_jr_fail(r, TTB_JSON_TYPE, field, "%.*s is out of range", (int)(n > 24 ? 24 : n), s);
    v = v * 10 + d;
  }
  *mag = v;
  return true;
}

bool ttb_jr_u64(ttb_jr *r, int i, const char *field, uint64_t max, uint64_t *out)
{
  bool neg;
  uint64_t v;
  if (!read_int(r, i, field, &neg, &v))
    return false;
  if ((neg && v != 0) || v > max)
    return ttb_jr_fail(r, TTB_JSON_TYPE, field, "%s%llu is out of range (0..%llu)", neg ? "-" : "",
                       (unsigned long long)v, (unsigned long long)max);
  *out = v;
  return true;
}

bool ttb_jr_i64(ttb_jr *r, int i, const char *field, int64_t min, int64_t max, int64_t *out)
{
  bool neg;
  uint64_t v;
  if (!read_int(r, i, field, &neg, &v))
    return false;
  int64_t x;
  if (neg) {
    if (v > (uint64_t)INT64_MAX + 1)
      goto range;
    x = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
  } else {
    if (v > (uint64_t)INT64_MAX)
      goto range;
    x = (int64_t)v;
  }
  if (x < min || x > max)
    goto range;
  *out = x;
  return true;
range:
  return ttb_jr_fail(r, TTB_JSON_TYPE, field, "%s%llu is out of range (%lld..%lld)", neg ? "-" : "",
                     (unsigned long long)v, (long long)min, (long long)max);
}

bool ttb_jr_bool(ttb_jr *r, int i, const char *field, bool *out)
{
  const jsmntok_t *t = &r->toks[i];
  char c = r->js[t->start];
  if (t->type != JSMN_PRIMITIVE || (c != 't' && c != 'f'))
    return ttb_jr_fail(r, TTB_JSON_TYPE, field, "expected a boolean, got %s",
                       type_name(t->type, r->js, t->start));
  *out = c == 't';
  return true;
}

bool ttb_jr_string_len(ttb_jr *r, int i, const char *field, size_t *out)
{
  if (!expect(r, i, field, JSMN_STRING, "a string"))
    return false;
  size_t n = unescape(r, i, field, NULL, SIZE_MAX);
  if (n == (size_t)-1)
    return false;
  *out = n;
  return true;
}

bool ttb_jr_string_buf(ttb_jr *r, int i, const char *field, size_t max_len, char *dst, size_t cap)
{
  if (!expect(r, i, field, JSMN_STRING, "a string"))
    return false;
  if (cap == 0)
    return ttb_jr_fail(r, TTB_JSON_LIMIT, field, "no room");
  if (max_len > cap - 1)
    max_len = cap - 1;
  size_t n = unescape(r, i, field, dst, max_len);
  if (n == (size_t)-1)
    return false;
  dst[n] = '\0';
  return true;
}

bool ttb_jr_bytes_buf(ttb_jr *r, int i, const char *field, size_t max_len, uint8_t *dst, size_t cap,
                      size_t *n)
{
  if (!expect(r, i, field, JSMN_STRING, "a base64 string"))
    return false;
  const jsmntok_t *t = &r->toks[i];
  const char *s = r->js + t->start;
  size_t len = (size_t)(t->end - t->start);
  if (memchr(s, '\\', len) != NULL)
    return ttb_jr_fail(r, TTB_JSON_TYPE, field, "invalid base64");
  if (max_len > cap)
    max_len = cap;
  if (len / 4 * 3 > max_len + 2)
    return ttb_jr_fail(r, TTB_JSON_LIMIT, field, "longer than %zu bytes", max_len);
  size_t got = 0;
  const char *end = NULL;
  if (sodium_base642bin(dst, max_len, s, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != s + len)
    return ttb_jr_fail(r, TTB_JSON_TYPE, field, "invalid base64 (or longer than %zu bytes)", max_len);
  *n = got;
  return true;
}

bool ttb_jr_raw_string(const ttb_jr *r, int i, const char **s, size_t *n)
{
  const jsmntok_t *t = &r->toks[i];
  if (t->type != JSMN_STRING)
    return false;
  *s = r->js + t->start;
  *n = (size_t)(t->end - t->start);
  return memchr(*s, '\\', *n) == NULL;
}
