/*
 * The JSON runtime behind the generated codecs: see include/ttboost/json.h.
 *
 * Reading: jsmn (libjsmn-dev, strict mode, with parent links so that a
 * long array or object costs linear time) tokenises the document; this file
 * checks what jsmn leaves loose (see "Reading" below) and reads typed values
 * from the tokens: numbers range-checked, strings unescaped and validated
 * (UTF-8 sixteen bytes at a time: SSE2, or SSSE3 table lookups chosen at run
 * time; a portable byte loop elsewhere).
 *
 * Writing copies runs that need no escape at once, after the same check.
 */
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#define JSMN_STATIC /* its one caller inlines it: the parser's state stays in registers */
#include <jsmn.h>

#include "ttboost/json.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ================================================================ UTF-8 */

#if defined(__GNUC__)
#define TTB_INLINE static inline __attribute__((always_inline))
#else
#define TTB_INLINE static inline
#endif

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
TTB_INLINE size_t utf8_seq(const unsigned char *s, size_t n)
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

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Non-zero when some byte of x is zero (exact as a whole; which byte is not). */
TTB_INLINE uint64_t has_zero(uint64_t x) { return (x - ONES) & ~x & HIGHS; }

#if defined(__SSE2__)
#include <emmintrin.h>

/* SSSE3: compiled in when the build targets it, else (GCC, Clang) built
 * for it apart and chosen at run time. TTB_JSON_NO_SSSE3 leaves it out. */
#if defined(__GNUC__) && !defined(__SSSE3__) && !defined(TTB_JSON_NO_SSSE3)
#define TTB_SSSE3_DISPATCH 1
#define TTB_SSSE3 __attribute__((target("ssse3")))
#include <tmmintrin.h>
#elif defined(__SSSE3__) && !defined(TTB_JSON_NO_SSSE3)
#define TTB_SSSE3
#include <tmmintrin.h>
#endif

/* Is c a lead byte of a two-byte sequence (0xC2..0xDF)? */
TTB_INLINE bool is_lead2(unsigned char c) { return (unsigned char)(c - 0xC2) <= 0xDF - 0xC2; }

/*
 * One 16-byte block at p: bit i of the result is set when byte i is not
 * part of a plain run: ASCII below 0x20, '"', '\\'; a byte >= 0x80 that is
 * neither a continuation byte (0x80..0xBF) nor the lead of a two-byte
 * sequence (0xC2..0xDF); a continuation byte not after such a lead, or a
 * lead not followed by one (seen at the byte after it). *lead receives the
 * block's leads, whose last byte `prev` carries into the next block.
 * Longer sequences are left to the caller.
 */
TTB_INLINE unsigned blk_bad_v(__m128i b, __m128i prev, __m128i *lead)
{
  __m128i neg = _mm_cmplt_epi8(b, _mm_setzero_si128());
  __m128i ctl = _mm_andnot_si128(neg, _mm_cmplt_epi8(b, _mm_set1_epi8(0x20)));
  __m128i stop = _mm_or_si128(ctl, _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(b, _mm_set1_epi8('\\'))));
  __m128i cont = _mm_cmplt_epi8(b, _mm_set1_epi8((char)0xC0));
  __m128i l = _mm_and_si128(_mm_cmpgt_epi8(b, _mm_set1_epi8((char)0xC1)),
                            _mm_cmplt_epi8(b, _mm_set1_epi8((char)0xE0)));
  __m128i other = _mm_andnot_si128(_mm_or_si128(cont, l), neg);
  __m128i after = _mm_or_si128(_mm_slli_si128(l, 1), _mm_srli_si128(prev, 15));
  *lead = l;
  return (unsigned)_mm_movemask_epi8(
      _mm_or_si128(stop, _mm_or_si128(other, _mm_xor_si128(cont, after))));
}

TTB_INLINE unsigned blk_bad(const unsigned char *p, __m128i prev, __m128i *lead)
{
  return blk_bad_v(_mm_loadu_si128((const __m128i *)(const void *)p), prev, lead);
}

#if !defined(TTB_SSSE3) || defined(TTB_SSSE3_DISPATCH)
/* Is each byte of v >= x (unsigned)? */
#define TTB_GE_U8(v, x) _mm_cmpeq_epi8(_mm_max_epu8((v), _mm_set1_epi8((char)(x))), (v))

/*
 * One 16-byte block b of a string, prev the block before it (zero at the
 * string's start): bit i of the result is set when byte i is a control
 * character, '\\', or where the block stops being well-formed UTF-8 (of
 * any length: no overlongs, surrogates or code points above U+10FFFF). A
 * byte is a continuation (0x80..0xBF) exactly when byte i-1 is a lead
 * (>= 0xC0), byte i-2 a lead of three or four bytes (>= 0xE0) or byte i-3
 * one of four (>= 0xF0); C0, C1 and F5..FF never occur; after E0, ED, F0
 * and F4 the continuation's range is narrower. Each bit depends only on
 * bytes up to i, so a sequence cut short by the closing quote marks the
 * quote. SSE2 only.
 */
TTB_INLINE unsigned blk_utf8_bad(__m128i b, __m128i prev)
{
  __m128i p1 = _mm_or_si128(_mm_slli_si128(b, 1), _mm_srli_si128(prev, 15));
  __m128i p2 = _mm_or_si128(_mm_slli_si128(b, 2), _mm_srli_si128(prev, 14));
  __m128i p3 = _mm_or_si128(_mm_slli_si128(b, 3), _mm_srli_si128(prev, 13));
  __m128i want =
      _mm_or_si128(TTB_GE_U8(p1, 0xC0), _mm_or_si128(TTB_GE_U8(p2, 0xE0), TTB_GE_U8(p3, 0xF0)));
  __m128i cont = _mm_cmplt_epi8(b, _mm_set1_epi8((char)0xC0)); /* signed: 0x80..0xBF */
  __m128i bad = _mm_xor_si128(want, cont);
  bad = _mm_or_si128(bad, TTB_GE_U8(b, 0xF5));
  bad = _mm_or_si128(
      bad, _mm_cmpeq_epi8(_mm_and_si128(b, _mm_set1_epi8((char)0xFE)), _mm_set1_epi8((char)0xC0)));
  /* (signed compares: b is a continuation here, or already marked) */
  __m128i lo = _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xE0)),
                                          _mm_cmplt_epi8(b, _mm_set1_epi8((char)0xA0))),
                            _mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xF0)),
                                          _mm_cmplt_epi8(b, _mm_set1_epi8((char)0x90))));
  __m128i up = _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xED)),
                                          _mm_cmpgt_epi8(b, _mm_set1_epi8((char)0x9F))),
                            _mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xF4)),
                                          _mm_cmpgt_epi8(b, _mm_set1_epi8((char)0x8F))));
  bad = _mm_or_si128(bad, _mm_or_si128(lo, up));
  /* control characters (unsigned < 0x20) and backslashes */
  __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(b, _mm_set1_epi8(0x1F)), b);
  bad = _mm_or_si128(bad, _mm_or_si128(ctl, _mm_cmpeq_epi8(b, _mm_set1_epi8('\\'))));
  return (unsigned)_mm_movemask_epi8(bad);
}
#endif
#endif

/*
 * The end of the run in s[k..n) that a JSON string holds as is: ASCII from
 * 0x20 on other than '"' and '\\', and well-formed UTF-8 sequences. Returns
 * the index of the first byte that is none of those (n when the run goes to
 * the end): an escape, a quote, a control character or invalid UTF-8.
 * s[0..lim) may be read (lim >= n: a string inside a document may look at
 * the bytes after it, which are then ignored). Sixteen bytes at a time
 * (SSE2) while they are ASCII and two-byte sequences (Latin, Cyrillic,
 * Greek...), else eight at a time while plain ASCII; longer sequences (CJK,
 * emoji) one at a time. k must be where a sequence starts.
 */
TTB_INLINE size_t plain_run(const unsigned char *s, size_t k, size_t n, size_t lim)
{
  size_t k0 = k;
  (void)k0; /* both only used by the SSE2 path */
  (void)lim;
  while (k < n) {
#if defined(__SSE2__)
    if (lim >= 16) {
      __m128i prev = _mm_setzero_si128(), lead; /* byte k-1 is no lead */
      size_t p;
      unsigned bad;
      /* whole blocks short of the end; a lead in byte 15 carries over */
      while (n - k > 16) {
        bad = blk_bad(s + k, prev, &lead);
        if (bad != 0) {
          p = k + (unsigned)__builtin_ctz(bad);
          goto stopped;
        }
        prev = lead;
        k += 16;
      }
      {
        /* the last block: at k, or the last readable one, overlapping what
         * is done (the carry then lands in a masked-out byte) */
        size_t base = lim - k >= 16 ? k : lim - 16;
        size_t end = n - base; /* <= 16 */
        bad = blk_bad(s + base, prev, &lead) & (0xFFFFu << (k - base)) & ((1u << end) - 1u);
        if (is_lead2(s[n - 1]))
          bad |= 1u << (end - 1); /* a sequence cut by the end */
        if (bad == 0)
          return n;
        p = base + (unsigned)__builtin_ctz(bad);
      }
    stopped:
      /* everything before p is fine, but for a lead byte right before it,
       * whose sequence is incomplete */
      if (p > k0 && is_lead2(s[p - 1]))
        p--;
      k = p;
      goto one; /* s[k] needs a closer look */
    }
#endif
    while (n - k >= 8) {
      uint64_t x;
      memcpy(&x, s + k, 8);
      /* a byte >= 0x80, < 0x20, '"' or '\\' leaves the fast path (the
       * < 0x20 test is exact once no byte has its high bit set) */
      uint64_t stop = (x & HIGHS) | ((x - 0x20 * ONES) & ~x & HIGHS) | has_zero(x ^ (0x22 * ONES)) |
                      has_zero(x ^ (0x5C * ONES));
      if (stop != 0)
        break;
      k += 8;
    }
    if (k >= n)
      break;
#if defined(__SSE2__)
  one:;
#endif
    unsigned char c = s[k];
    if (c < 0x80) {
      if (c < 0x20 || c == '"' || c == '\\')
        return k;
      k++;
      continue;
    }
    size_t w = utf8_seq(s + k, n - k);
    if (w == 0)
      return k;
    k += w;
  }
  return n;
}

bool ttb_utf8_valid(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    i = plain_run(s, i, n, n);
    if (i >= n)
      break;
    if (s[i] >= 0x80)
      return false; /* invalid UTF-8 stopped the run */
    i++;            /* the ASCII it stopped at (control, quote, backslash) is valid UTF-8 */
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

void ttb_json_zero(void *p, size_t n) { memset(p, 0, n); }

void ttb_json_set_error(ttb_json_error *err, ttb_json_status st, const char *msg)
{
  if (err == NULL)
    return;
  err->status = st;
  snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : "");
}

/* ================================================================ writer */

/* An empty writer (not memset: the error buffer only needs its first byte). */
static void jw_clear(ttb_jw *w)
{
  w->buf = NULL;
  w->len = 0;
  w->cap = 0;
  w->fixed = false;
  w->comma = false;
  w->status = TTB_JSON_OK;
  w->err[0] = '\0';
}

void ttb_jw_init_fixed(ttb_jw *w, char *buf, size_t cap)
{
  jw_clear(w);
  w->buf = buf;
  w->cap = cap;
  w->fixed = true;
}

void ttb_jw_init(ttb_jw *w, size_t cap)
{
  jw_clear(w);
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

/* Grows the buffer for n more bytes (or fails). */
static bool jw_grow(ttb_jw *w, size_t n)
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

/* Makes room for n more bytes. */
TTB_INLINE bool jw_reserve(ttb_jw *w, size_t n)
{
  if (w->status == TTB_JSON_OK && n <= w->cap - w->len)
    return true;
  return jw_grow(w, n);
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
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't', [0x00] = 'u',
    [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',  [0x05] = 'u', [0x06] = 'u',
    [0x07] = 'u', [0x0B] = 'u', [0x0E] = 'u', [0x0F] = 'u',  [0x10] = 'u', [0x11] = 'u',
    [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',  [0x16] = 'u', [0x17] = 'u',
    [0x18] = 'u', [0x19] = 'u', [0x1A] = 'u', [0x1B] = 'u',  [0x1C] = 'u', [0x1D] = 'u',
    [0x1E] = 'u', [0x1F] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

bool ttb_jw_string(ttb_jw *w, const char *field, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  /* Reserve once for the common case (nothing to escape); escapes reserve
   * more as they come. */
  if (!jw_sep(w) || !jw_reserve(w, n + 2))
    return false;
  w->buf[w->len++] = '"';
  size_t i = 0;
  for (;;) {
    size_t e = plain_run(s, i, n, n);
    /* copy the clean run at once */
    if (e > i && !jw_put(w, (const char *)s + i, e - i))
      return false;
    if (e >= n)
      break;
    unsigned char c = s[e];
    if (c >= 0x80)
      return ttb_jw_fail(w, TTB_JSON_TYPE, field, "invalid UTF-8");
    char x = jw_escape[c];
    char esc[6] = {'\\', x, 0, 0, 0, 0};
    size_t elen = 2;
    if (x == 'u') {
      static const char hex[] = "0123456789abcdef";
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      elen = 6;
    }
    if (!jw_put(w, esc, elen))
      return false;
    i = e + 1;
  }
  return jw_putc(w, '"');
}

bool ttb_jw_cstring(ttb_jw *w, const char *field, const char *s)
{
  if (s == NULL)
    s = "";
  return ttb_jw_string(w, field, s, strlen(s));
}

static const char digits2[200] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

bool ttb_jw_u64(ttb_jw *w, uint64_t v)
{
  char tmp[24];
  size_t i = sizeof tmp;
  while (v >= 100) { /* two digits at a time */
    unsigned d = (unsigned)(v % 100);
    v /= 100;
    tmp[--i] = digits2[2 * d + 1];
    tmp[--i] = digits2[2 * d];
  }
  if (v >= 10) {
    tmp[--i] = digits2[2 * v + 1];
    tmp[--i] = digits2[2 * v];
  } else {
    tmp[--i] = (char)('0' + v);
  }
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

static inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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

/*
 * Reading. jsmn (libjsmn-dev; strict mode, parent links) tokenises the
 * document. Then two checks of what jsmn leaves loose:
 *  - jr_check walks the tokens once: separators ("{,}", "[1 2]", trailing
 *    commas, a missing ':'), keys that are strings, the grammar of numbers
 *    and literals ("tru", "-", "01"), nesting depth, trailing bytes;
 *  - doc_plain looks at the whole document, sixteen bytes at a time: when it
 *    is well-formed UTF-8 with no backslash and no control character (the
 *    usual compact document), every string in it is plain text and reading
 *    one is a bound check and a copy (ttb_jr.plain). Outside strings jsmn
 *    admits only ASCII, so this says nothing wrong about a valid document.
 * Otherwise strings are checked (escapes, UTF-8, control characters) when
 * they are read, naming the field, and ignored values by ttb_jr_skip_value,
 * so every byte of a document that decodes was checked.
 */

#if defined(__SSE2__)
#if defined(TTB_SSSE3)
/*
 * blk_utf8_bad with SSSE3's table lookups (pshufb): the "lookup"
 * validation of Keiser and Lemire, "Validating UTF-8 In Less Than One
 * Instruction Per Byte" (2021), as in simdjson: the high and low nibbles of
 * byte i-1 and the high nibble of byte i each select the errors they allow;
 * the three agree only on an error. Continuations owed to a three- or
 * four-byte lead two or three bytes back are counted apart. Each byte's
 * verdict depends only on bytes up to it.
 */
TTB_SSSE3 static inline unsigned blk_utf8_bad_ssse3(__m128i b, __m128i prev)
{
  enum {
    TOO_SHORT = 1 << 0, /* lead or ASCII, then lead or ASCII... owed a continuation */
    TOO_LONG = 1 << 1,  /* ASCII, then a continuation */
    OVERLONG_3 = 1 << 2,
    TOO_LARGE = 1 << 3,
    SURROGATE = 1 << 4,
    OVERLONG_2 = 1 << 5,
    TOO_LARGE_1000 = 1 << 6,
    OVERLONG_4 = 1 << 6,
    TWO_CONTS = 1 << 7,
    CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS,
  };
  const __m128i nib = _mm_set1_epi8(0x0F);
  __m128i p1 = _mm_alignr_epi8(b, prev, 15);
  __m128i hi1 = _mm_shuffle_epi8(
      _mm_setr_epi8(TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
                    (char)TWO_CONTS, (char)TWO_CONTS, (char)TWO_CONTS, (char)TWO_CONTS,
                    TOO_SHORT | OVERLONG_2, TOO_SHORT, TOO_SHORT | OVERLONG_3 | SURROGATE,
                    (char)(TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4)),
      _mm_and_si128(_mm_srli_epi16(p1, 4), nib));
  __m128i lo1 = _mm_shuffle_epi8(
      _mm_setr_epi8(
          (char)(CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4), (char)(CARRY | OVERLONG_2),
          (char)CARRY, (char)CARRY, (char)(CARRY | TOO_LARGE),
          (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
          (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
          (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
          (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
          (char)(CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE),
          (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000)),
      _mm_and_si128(p1, nib));
  __m128i hi2 = _mm_shuffle_epi8(
      _mm_setr_epi8(
          TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
          (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4),
          (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE),
          (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE),
          (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE), TOO_SHORT, TOO_SHORT,
          TOO_SHORT, TOO_SHORT),
      _mm_and_si128(_mm_srli_epi16(b, 4), nib));
  __m128i sc = _mm_and_si128(_mm_and_si128(hi1, lo1), hi2);
  /* bytes owed to a lead of three or four bytes two or three bytes back */
  __m128i p2 = _mm_alignr_epi8(b, prev, 14);
  __m128i p3 = _mm_alignr_epi8(b, prev, 13);
  __m128i must = _mm_or_si128(_mm_subs_epu8(p2, _mm_set1_epi8((char)(0xE0 - 0x80))),
                              _mm_subs_epu8(p3, _mm_set1_epi8((char)(0xF0 - 0x80))));
  __m128i err = _mm_xor_si128(_mm_and_si128(must, _mm_set1_epi8((char)0x80)), sc);
  /* control characters (unsigned < 0x20) and backslashes */
  __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(b, _mm_set1_epi8(0x1F)), b);
  __m128i bs = _mm_cmpeq_epi8(b, _mm_set1_epi8('\\'));
  unsigned ok = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(err, _mm_setzero_si128()));
  return (~ok & 0xFFFFu) | (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, bs));
}
#endif

/*
 * The body of doc_plain_*: true when s[0..n) is well-formed UTF-8 without
 * control characters or backslashes. BLK(b, prev) flags the bytes of block
 * b that break that (prev: the block before). A block of ASCII after a
 * block of ASCII needs only the control and backslash test.
 */
#define TTB_DOC_BODY(BLK)                                                      \
  const __m128i sp = _mm_set1_epi8(0x20), bsl = _mm_set1_epi8('\\');           \
  __m128i prev = _mm_setzero_si128(), b;                                       \
  unsigned full = 0;                                                           \
  size_t k = 0;                                                                \
  while (n - k >= 16) {                                                        \
    b = _mm_loadu_si128((const __m128i *)(const void *)(s + k));               \
    unsigned hi = (unsigned)_mm_movemask_epi8(b), bad;                         \
    if ((hi | full) != 0)                                                      \
      bad = BLK(b, prev);                                                      \
    else                                                                       \
      bad = (unsigned)_mm_movemask_epi8(                                       \
          _mm_or_si128(_mm_cmplt_epi8(b, sp), _mm_cmpeq_epi8(b, bsl)));        \
    if (bad != 0)                                                              \
      return false;                                                            \
    full = hi;                                                                 \
    prev = b;                                                                  \
    k += 16;                                                                   \
  }                                                                            \
  if (k == n)                                                                  \
    return true;                                                               \
  unsigned char pad[16] = {0};                                                 \
  if (n < 16) {                                                                \
    /* zeros after the end are masked out, and flag nothing before them */     \
    memcpy(pad, s, n);                                                         \
    b = _mm_loadu_si128((const __m128i *)(const void *)pad);                   \
    return (BLK(b, prev) & ((1u << n) - 1u)) == 0;                             \
  }                                                                            \
  /* the last sixteen bytes, overlapping what is done; bit 0 becomes byte k */ \
  size_t base = n - 16;                                                        \
  if (base >= 16) {                                                            \
    prev = _mm_loadu_si128((const __m128i *)(const void *)(s + base - 16));    \
  } else {                                                                     \
    memcpy(pad + 16 - base, s, base);                                          \
    prev = _mm_loadu_si128((const __m128i *)(const void *)pad);                \
  }                                                                            \
  b = _mm_loadu_si128((const __m128i *)(const void *)(s + base));              \
  return (BLK(b, prev) >> (k - base)) == 0

#if !defined(TTB_SSSE3) || defined(TTB_SSSE3_DISPATCH)
static bool doc_plain_sse2(const unsigned char *s, size_t n) { TTB_DOC_BODY(blk_utf8_bad); }
#endif

#if defined(TTB_SSSE3)
TTB_SSSE3 static bool doc_plain_ssse3(const unsigned char *s, size_t n)
{
  TTB_DOC_BODY(blk_utf8_bad_ssse3);
}
#endif
#endif /* __SSE2__ */

/* Is the document plain text throughout (see the comment above)? */
static bool doc_plain(const char *js, size_t n)
{
  const unsigned char *s = (const unsigned char *)js;
#if defined(TTB_SSSE3_DISPATCH)
  if (__builtin_cpu_supports("ssse3"))
    return doc_plain_ssse3(s, n);
  return doc_plain_sse2(s, n);
#elif defined(TTB_SSSE3)
  return doc_plain_ssse3(s, n);
#elif defined(__SSE2__)
  return doc_plain_sse2(s, n);
#else
  /* plain runs end at quotes too: step over those */
  size_t k = 0;
  for (;;) {
    k = plain_run(s, k, n, n);
    if (k == n)
      return true;
    if (s[k] != '"')
      return false;
    k++;
  }
#endif
}

/* Raw extent of token t: strings include their quotes. */
TTB_INLINE int tok_begin(const jsmntok_t *t)
{
  return t->type == JSMN_STRING ? t->start - 1 : t->start;
}
TTB_INLINE int tok_end(const jsmntok_t *t) { return t->type == JSMN_STRING ? t->end + 1 : t->end; }

/* Is js[from..to) white space around exactly one sep (only white space when
 * sep is 0)? The compact case first. */
TTB_INLINE bool gap_ok(const char *js, int from, int to, char sep)
{
  if (to - from == (sep != 0))
    return sep == 0 || js[from] == sep;
  if (to < from)
    return false;
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

/* Checks the value at token i (and everything inside it) and returns the
 * index after it, or -1 with the error set. `depth` bounds nesting. */
static int check_value(ttb_jr *r, int i, int depth)
{
  const jsmntok_t *t = &r->toks[i];
  switch (t->type) {
  case JSMN_STRING:
    if (t->size != 0)
      goto unexpected; /* "a":1 where a value belongs */
    return i + 1;
  case JSMN_PRIMITIVE:
    if (t->size != 0)
      goto unexpected;
    if (!primitive_ok(r->js + t->start, (size_t)(t->end - t->start))) {
      ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid literal at byte %d", t->start);
      return -1;
    }
    return i + 1;
  case JSMN_OBJECT:
  case JSMN_ARRAY:
    break;
  default:
    goto unexpected;
  }
  if (depth >= 64) {
    ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "nested deeper than 64 levels");
    return -1;
  }
  bool obj = t->type == JSMN_OBJECT;
  int pos = t->start + 1; /* after the bracket */
  int j = i + 1;
  for (int k = 0; k < t->size; k++) {
    if (j >= r->ntok)
      goto truncated;
    const jsmntok_t *e = &r->toks[j];
    if (!gap_ok(r->js, pos, tok_begin(e), k == 0 ? 0 : ',')) {
      ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "expected %s at byte %d", k == 0 ? "a value" : "','",
                  pos);
      return -1;
    }
    if (obj) {
      if (e->type != JSMN_STRING || e->size != 1) {
        ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "expected a key at byte %d", tok_begin(e));
        return -1;
      }
      if (j + 1 >= r->ntok)
        goto truncated;
      if (!gap_ok(r->js, tok_end(e), tok_begin(&r->toks[j + 1]), ':')) {
        ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "expected ':' at byte %d", tok_end(e));
        return -1;
      }
      j++;
    }
    const jsmntok_t *v = &r->toks[j];
    if (v->type == JSMN_STRING && v->size == 0) {
      j++; /* the usual values, without a call */
    } else if (v->type == JSMN_PRIMITIVE && v->size == 0) {
      if (!primitive_ok(r->js + v->start, (size_t)(v->end - v->start))) {
        ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid literal at byte %d", v->start);
        return -1;
      }
      j++;
    } else {
      j = check_value(r, j, depth + 1);
      if (j < 0)
        return -1;
    }
    pos = tok_end(v);
  }
  if (!gap_ok(r->js, pos, t->end - 1, 0)) {
    ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "unexpected byte at %d", pos);
    return -1;
  }
  return j;

unexpected:
  ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "unexpected token at byte %d", tok_begin(t));
  return -1;
truncated:
  ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "truncated document");
  return -1;
}

/* What jsmn leaves loose, over its r->ntok tokens (see above). */
static bool jr_check(ttb_jr *r)
{
  /* jr_begin saw white space, then '{' or '[': token 0 is that container */
  const jsmntok_t *t = &r->toks[0];
  int end = check_value(r, 0, 0);
  if (end < 0)
    return false;
  if (end != r->ntok || !gap_ok(r->js, t->end, (int)r->len, 0))
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "unexpected data after the document at byte %d",
                       t->end);
  r->plain = doc_plain(r->js, r->len);
  return true;
}

static bool jr_begin(ttb_jr *r, const char *js, size_t len)
{
  /* not memset: the error buffer only needs its first byte */
  r->js = js;
  r->len = len;
  r->toks = NULL;
  r->ntok = 0;
  r->plain = false;
  r->heap = false;
  r->status = TTB_JSON_OK;
  r->err[0] = '\0';
  if (len > (size_t)INT_MAX / 2)
    return ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "document too large");
  /* what jsmn would call a truncated document, said better */
  size_t k = 0;
  while (k < len && is_ws(js[k]))
    k++;
  if (k == len)
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "empty document");
  char c = js[k];
  if (c != '{' && c != '[') {
    if (c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n')
      return ttb_jr_fail(r, TTB_JSON_TYPE, NULL, "expected an object or an array");
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid JSON at byte %zu", k);
  }
  return true;
}

/* A jsmn error (but for running out of tokens) as the reader's error. */
static bool jsmn_failed(ttb_jr *r, int n, const jsmn_parser *p)
{
  if (n == JSMN_ERROR_PART) {
    /* jsmn stops at a NUL byte as at the end of the text */
    const char *nul = memchr(r->js, '\0', r->len);
    if (nul != NULL)
      return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "NUL byte at %zu", (size_t)(nul - r->js));
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "truncated document");
  }
  return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "invalid JSON at byte %u", p->pos);
}

/*
 * Tokenises r->js into r->toks[cap] with jsmn; when tokens run out and
 * `grow` is set, moves them to a larger heap array (up to max) and lets
 * jsmn go on where it stopped. Then jr_check.
 */
static bool jr_tokenise(ttb_jr *r, unsigned cap, unsigned max, bool grow)
{
  jsmn_parser p;
  jsmn_init(&p);
  for (;;) {
    int n = jsmn_parse(&p, r->js, r->len, r->toks, cap);
    if (n > 0) {
      r->ntok = n;
      if (!jr_check(r)) {
        r->ntok = 0;
        return false;
      }
      return true;
    }
    if (n == 0)
      return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "empty document");
    if (n != JSMN_ERROR_NOMEM)
      return jsmn_failed(r, n, &p);
    if (!grow || cap >= max) {
      if (grow)
        return ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "document has more than %u values", max);
      return ttb_jr_fail(r, TTB_JSON_LIMIT, NULL, "document has too many values");
    }
    unsigned more = cap > max / 2 ? max : cap * 2;
    if (more < 16)
      more = 16 < max ? 16 : max;
    jsmntok_t *t;
    if (r->heap) {
      t = realloc(r->toks, (size_t)more * sizeof *t);
    } else {
      /* leave the caller's buffer for the heap */
      t = malloc((size_t)more * sizeof *t);
      if (t != NULL && p.toknext > 0)
        memcpy(t, r->toks, (size_t)p.toknext * sizeof *t);
    }
    if (t == NULL)
      return ttb_jr_fail(r, TTB_JSON_NOMEM, NULL, "out of memory");
    r->toks = t;
    r->heap = true;
    cap = more;
  }
}

bool ttb_jr_parse(ttb_jr *r, const char *js, size_t len, jsmntok_t *toks, unsigned cap)
{
  if (!jr_begin(r, js, len))
    return false;
  r->toks = toks;
  return jr_tokenise(r, cap, cap, false);
}

bool ttb_jr_parse_alloc(ttb_jr *r, const char *js, size_t len, unsigned max_tokens)
{
  if (!jr_begin(r, js, len))
    return false;
  /* start from a guess; jr_tokenise grows the array up to max_tokens */
  size_t guess = len / 16 + 16;
  unsigned cap = guess < max_tokens ? (unsigned)guess : max_tokens;
  if (cap > 0) {
    r->toks = malloc((size_t)cap * sizeof *r->toks);
    if (r->toks == NULL)
      return ttb_jr_fail(r, TTB_JSON_NOMEM, NULL, "out of memory");
    r->heap = true;
  }
  return jr_tokenise(r, cap, max_tokens, true);
}

bool ttb_jr_parse_small(ttb_jr *r, const char *js, size_t len, jsmntok_t *buf, unsigned cap,
                        unsigned max_tokens)
{
  if (!jr_begin(r, js, len))
    return false;
  r->toks = buf;
  if (cap > max_tokens)
    cap = max_tokens;
  return jr_tokenise(r, cap, max_tokens, true);
}

void ttb_jr_finish(ttb_jr *r)
{
  if (r->heap)
    free(r->toks);
  r->heap = false;
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
 * (size_t)-1 with the error set. Runs without escapes are validated by
 * plain_run and copied at once.
 */
static size_t unescape(ttb_jr *r, int i, const char *field, char *dst, size_t max_len)
{
  const jsmntok_t *t = &r->toks[i];
  const char *s = r->js + t->start;
  size_t n = (size_t)(t->end - t->start);
  if (r->plain) {
    /* checked when parsed (doc_plain): a copy */
    if (n > max_len)
      goto too_long;
    if (dst && n)
      memcpy(dst, s, n);
    return n;
  }
  size_t lim = r->len - (size_t)t->start; /* the document goes on after the string */
  size_t o = 0, k = 0;
  while (k < n) {
    size_t e = plain_run((const unsigned char *)s, k, n, lim);
    if (e > k) {
      size_t w = e - k;
      if (w > max_len - o)
        goto too_long;
      if (dst)
        memcpy(dst + o, s + k, w);
      o += w;
      k = e;
      if (k >= n)
        break;
    }
    unsigned char c = (unsigned char)s[k];
    char tmp[4];
    size_t w;
    if (c == '\\') {
      char esc = s[k + 1]; /* jsmn checked that an escape letter follows */
      k += 2;
      switch (esc) {
      case '"':
        tmp[0] = '"';
        w = 1;
        break;
      case '\\':
        tmp[0] = '\\';
        w = 1;
        break;
      case '/':
        tmp[0] = '/';
        w = 1;
        break;
      case 'b':
        tmp[0] = '\b';
        w = 1;
        break;
      case 'f':
        tmp[0] = '\f';
        w = 1;
        break;
      case 'n':
        tmp[0] = '\n';
        w = 1;
        break;
      case 'r':
        tmp[0] = '\r';
        w = 1;
        break;
      case 't':
        tmp[0] = '\t';
        w = 1;
        break;
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
      /* '"': jsmn ends a string at an unescaped quote, so never here */
      tmp[0] = (char)c;
      w = 1;
      k++;
    } else {
      ttb_jr_fail(r, TTB_JSON_TYPE, field, "invalid UTF-8 at byte %d", t->start + (int)k);
      return (size_t)-1;
    }
    if (w > max_len - o)
      goto too_long;
    if (dst)
      memcpy(dst + o, tmp, w);
    o += w;
  }
  return o;

too_long:
  ttb_jr_fail(r, TTB_JSON_LIMIT, field, "longer than %zu bytes", max_len);
  return (size_t)-1;

bad_escape:
  ttb_jr_fail(r, TTB_JSON_SYNTAX, field, "invalid escape at byte %d", t->start + (int)k);
  return (size_t)-1;
}

bool ttb_jr_key(ttb_jr *r, int k, char *buf, size_t cap, const char **s, size_t *n)
{
  const jsmntok_t *t = &r->toks[k];
  const char *p = r->js + t->start;
  size_t len = (size_t)(t->end - t->start);
  if (r->plain) {
    /* checked when parsed (doc_plain) */
    *s = p;
    *n = len;
    return true;
  }
  size_t e = plain_run((const unsigned char *)p, 0, len, r->len - (size_t)t->start);
  if (e == len) {
    /* plain keys are checked like any string (plain_run did), without copying */
    *s = p;
    *n = len;
    return true;
  }
  unsigned char c = (unsigned char)p[e];
  if (c >= 0x80)
    return ttb_jr_fail(r, TTB_JSON_TYPE, NULL, "invalid UTF-8 in a key");
  if (c < 0x20)
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, NULL, "control character in a key");
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
    if (!ttb_jr_key_at(r, k, buf, sizeof buf, &s, &sn))
      return -1;
    if (sn == n && memcmp(s, key, n) == 0)
      return k + 1;
    k = ttb_jr_after(r, k + 1);
  }
  return -1;
}

bool ttb_jr_skip_value(ttb_jr *r, int i)
{
  if (r->plain)
    return true; /* its strings were checked when parsed */
  int end = ttb_jr_next(r, i);
  for (int j = i; j < end; j++) {
    if (r->toks[j].type == JSMN_STRING &&
        unescape(r, j, "ignored value", NULL, SIZE_MAX) == (size_t)-1)
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
  if (n - k <= 19) { /* cannot overflow */
    for (; k < n; k++) {
      unsigned d = (unsigned)(s[k] - '0');
      if (d > 9)
        return ttb_jr_fail(r, TTB_JSON_TYPE, field, "expected an integer, got %.*s", (int)n, s);
      v = v * 10 + d;
    }
  }
  for (; k < n; k++) {
    if (s[k] < '0' || s[k] > '9')
      return ttb_jr_fail(r, TTB_JSON_TYPE, field, "expected an integer, got %.*s",
                         (int)(n > 24 ? 24 : n), s);
    unsigned d = (unsigned)(s[k] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return ttb_jr_fail(r, TTB_JSON_TYPE, field, "%.*s is out of range", (int)(n > 24 ? 24 : n),
                         s);
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
  if (sodium_base642bin(dst, max_len, s, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
          0 ||
      end != s + len)
    return ttb_jr_fail(r, TTB_JSON_TYPE, field, "invalid base64 (or longer than %zu bytes)",
                       max_len);
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
  return r->plain || memchr(*s, '\\', *n) == NULL;
}
