/*
 * A strict RFC 8259 validator, plain recursive descent over bytes, written
 * to be obviously right rather than fast: the oracle the reader fuzz target
 * (fuzz_json_reader.c) holds the JSON runtime's reader to. Same house rules
 * as the reader: the document is an object or an array, at most 64
 * containers deep; strings are well-formed UTF-8 (no overlongs, surrogates,
 * code points above U+10FFFF), without control characters, with valid
 * escapes and \u surrogates in pairs.
 */
#ifndef TTB_JSON_ORACLE_H
#define TTB_JSON_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct jo {
  const unsigned char *s;
  size_t n, i;
} jo;

static void jo_ws(jo *p)
{
  while (p->i < p->n &&
         (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

static bool jo_hex4(const jo *p, size_t at, unsigned *v)
{
  if (p->n - at < 4 || at > p->n)
    return false;
  *v = 0;
  for (size_t k = 0; k < 4; k++) {
    unsigned char c = p->s[at + k];
    unsigned d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    *v = *v << 4 | d;
  }
  return true;
}

static bool jo_string(jo *p)
{
  p->i++; /* the opening quote */
  for (;;) {
    if (p->i >= p->n)
      return false;
    unsigned char c = p->s[p->i];
    if (c == '"') {
      p->i++;
      return true;
    }
    if (c < 0x20)
      return false;
    if (c == '\\') {
      if (++p->i >= p->n)
        return false;
      switch (p->s[p->i]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        p->i++;
        continue;
      case 'u': {
        unsigned v, lo;
        if (!jo_hex4(p, p->i + 1, &v))
          return false;
        p->i += 5;
        if (v >= 0xDC00 && v <= 0xDFFF)
          return false;
        if (v >= 0xD800 && v <= 0xDBFF) {
          if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
              !jo_hex4(p, p->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return false;
          p->i += 6;
        }
        continue;
      }
      default:
        return false;
      }
    }
    if (c < 0x80) {
      p->i++;
      continue;
    }
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (p->n - p->i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      unsigned char d = p->s[p->i + k];
      if ((d & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (d & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    p->i += len;
  }
}

static bool jo_digits(jo *p)
{
  size_t start = p->i;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
    p->i++;
  return p->i > start;
}

static bool jo_number(jo *p)
{
  if (p->s[p->i] == '-')
    p->i++;
  if (p->i >= p->n)
    return false;
  if (p->s[p->i] == '0')
    p->i++;
  else if (!(p->s[p->i] >= '1' && p->s[p->i] <= '9') || !jo_digits(p))
    return false;
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    if (!jo_digits(p))
      return false;
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
      p->i++;
    if (!jo_digits(p))
      return false;
  }
  return true;
}

static bool jo_word(jo *p, const char *w)
{
  size_t n = strlen(w);
  if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0)
    return false;
  p->i += n;
  return true;
}

static bool jo_value(jo *p, int depth)
{
  if (p->i >= p->n)
    return false;
  unsigned char c = p->s[p->i];
  if (c == '"')
    return jo_string(p);
  if (c == 't')
    return jo_word(p, "true");
  if (c == 'f')
    return jo_word(p, "false");
  if (c == 'n')
    return jo_word(p, "null");
  if (c == '-' || (c >= '0' && c <= '9'))
    return jo_number(p);
  if (c != '{' && c != '[')
    return false;
  if (depth >= 64)
    return false;
  bool obj = c == '{';
  unsigned char close = obj ? '}' : ']';
  p->i++;
  jo_ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return true;
  }
  for (;;) {
    if (obj) {
      if (p->i >= p->n || p->s[p->i] != '"' || !jo_string(p))
        return false;
      jo_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':')
        return false;
      p->i++;
      jo_ws(p);
    }
    if (!jo_value(p, depth + 1))
      return false;
    jo_ws(p);
    if (p->i >= p->n)
      return false;
    if (p->s[p->i] == ',') {
      p->i++;
      jo_ws(p);
      continue;
    }
    if (p->s[p->i] == close) {
      p->i++;
      return true;
    }
    return false;
  }
}

/* Is js[0..n) a valid document by the rules above? */
static inline bool json_oracle_valid(const char *js, size_t n)
{
  jo p = {.s = (const unsigned char *)js, .n = n, .i = 0};
  jo_ws(&p);
  if (p.i >= n || (p.s[p.i] != '{' && p.s[p.i] != '['))
    return false;
  if (!jo_value(&p, 0))
    return false;
  jo_ws(&p);
  return p.i == n;
}

#endif
