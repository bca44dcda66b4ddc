/*
 * The JSON runtime behind the generated codecs: see include/ttboost/json.h.
 *
 * Reading is one strict (RFC 8259) tokenising pass, in this file, that yields
 * the tokens jsmn would (jsmntok_t: same types, extents, sizes and order) and
 * checks what jsmn leaves loose: separators ("{,}", "[1 2]", trailing
 * commas), the grammar of numbers and literals ("tru", "-", "01"), nesting
 * depth, trailing bytes. It also validates each string as it looks for its
 * closing quote (UTF-8, no control character, no escape), sixteen bytes at a
 * time: ASCII with SSE2 inline, other scripts in scan_mixed (SSSE3 table
 * lookups when the CPU has them, else SSE2; plain_run without SSE2); when
 * all are plain (ttb_jr.plain, the usual case) reading a string is a copy.
 * Otherwise strings are checked (escapes, UTF-8, control characters) when
 * they are read, naming the field, and ignored values by ttb_jr_skip_value,
 * so every byte of a document that decodes was checked. jsmn itself is
 * still compiled here (jsmn_parse), for callers that count tokens with it.
 *
 * Writing copies runs that need no escape at once, after the same check.
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
TTB_INLINE uint64_t has_zero(uint64_t x)
{
  return (x - ONES) & ~x & HIGHS;
}

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
TTB_INLINE bool is_lead2(unsigned char c)
{
  return (unsigned char)(c - 0xC2) <= 0xDF - 0xC2;
}

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
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(stop, _mm_or_si128(other, _mm_xor_si128(cont, after))));
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
  __m128i want = _mm_or_si128(TTB_GE_U8(p1, 0xC0), _mm_or_si128(TTB_GE_U8(p2, 0xE0), TTB_GE_U8(p3, 0xF0)));
  __m128i cont = _mm_cmplt_epi8(b, _mm_set1_epi8((char)0xC0)); /* signed: 0x80..0xBF */
  __m128i bad = _mm_xor_si128(want, cont);
  bad = _mm_or_si128(bad, TTB_GE_U8(b, 0xF5));
  bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_and_si128(b, _mm_set1_epi8((char)0xFE)),
                                         _mm_set1_epi8((char)0xC0)));
  /* (signed compares: b is a continuation here, or already marked) */
  __m128i lo = _mm_or_si128(
      _mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xE0)), _mm_cmplt_epi8(b, _mm_set1_epi8((char)0xA0))),
      _mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xF0)), _mm_cmplt_epi8(b, _mm_set1_epi8((char)0x90))));
  __m128i up = _mm_or_si128(
      _mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xED)), _mm_cmpgt_epi8(b, _mm_set1_epi8((char)0x9F))),
      _mm_and_si128(_mm_cmpeq_epi8(p1, _mm_set1_epi8((char)0xF4)), _mm_cmpgt_epi8(b, _mm_set1_epi8((char)0x8F))));
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
      uint64_t stop = (x & HIGHS) | ((x - 0x20 * ONES) & ~x & HIGHS) |
                      has_zero(x ^ (0x22 * ONES)) | has_zero(x ^ (0x5C * ONES));
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

void ttb_json_zero(void *p, size_t n)
{
  memset(p, 0, n);
}

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

static const char digits2[200] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
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

static inline bool is_ws(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
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

/*
 * The tokeniser: one strict pass (RFC 8259) that yields the tokens jsmn
 * would (same types, extents and sizes, in the same order) and checks
 * everything jsmn leaves loose: separators, the grammar of numbers and
 * literals, nesting depth, trailing bytes. String contents (UTF-8, control
 * characters, what escapes decode to) are checked when they are read, where
 * the error can name the field; here only their escapes' form is.
 */
typedef struct tk {
  ttb_jr *r;
  const char *js;
  size_t len;
  size_t pos;
  /* size_t, not unsigned: stores into the (int) tokens cannot change
   * these, so the compiler need not reload them after each */
  size_t n;       /* tokens used */
  size_t cap;     /* tokens allocated */
  size_t max;     /* bound (growable readers) */
  bool grow;      /* r->toks is ours (heap) and may grow up to max */
  bool plain;     /* every string so far is plain text (see ttb_jr.plain) */
} tk;

static inline void tk_ws(tk *t)
{
  while (t->pos < t->len && is_ws(t->js[t->pos]))
    t->pos++;
}

static bool tk_grow(tk *t)
{
  if (!t->grow || t->cap >= t->max) {
    if (t->grow)
      ttb_jr_fail(t->r, TTB_JSON_LIMIT, NULL, "document has more than %zu values", t->max);
    else
      ttb_jr_fail(t->r, TTB_JSON_LIMIT, NULL, "document has too many values");
    return false;
  }
  size_t more = t->cap > t->max / 2 ? t->max : t->cap * 2;
  if (more < 16)
    more = 16 < t->max ? 16 : t->max;
  jsmntok_t *p;
  if (t->r->heap) {
    p = realloc(t->r->toks, more * sizeof *p);
  } else {
    /* leave the caller's buffer for the heap */
    p = malloc((size_t)more * sizeof *p);
    if (p != NULL && t->n > 0)
      memcpy(p, t->r->toks, (size_t)t->n * sizeof *p);
  }
  if (p == NULL) {
    ttb_jr_fail(t->r, TTB_JSON_NOMEM, NULL, "out of memory");
    return false;
  }
  t->r->toks = p;
  t->r->heap = true;
  t->cap = more;
  return true;
}

TTB_INLINE int tk_alloc(tk *t, jsmntype_t type, size_t start)
{
  if (t->n >= t->cap && !tk_grow(t))
    return -1;
  jsmntok_t *k = &t->r->toks[t->n];
  k->type = type;
  k->start = (int)start;
  k->end = -1;
  k->size = 0;
  return (int)t->n++;
}

static bool tk_fail(tk *t, const char *what)
{
  if (t->pos >= t->len)
    return ttb_jr_fail(t->r, TTB_JSON_SYNTAX, NULL, "truncated document");
  return ttb_jr_fail(t->r, TTB_JSON_SYNTAX, NULL, "%s at byte %zu", what ? what : "unexpected byte",
                     t->pos);
}

static inline bool is_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

#if defined(__SSE2__)
/*
 * The scan of a string from k on, once a byte >= 0x80 (or the document's
 * last sixteen bytes) is in sight: sixteen bytes at a time, each block
 * checked by BLK(b, prev) (blk_utf8_bad or blk_utf8_bad_ssse3). The bytes
 * before k are ASCII or the string's own, already checked. Returns the
 * index of the first stop; *quote tells whether it is the closing quote
 * (the string is then plain), else it is a problem or the document's end.
 * FAST(b, plead, &lead) may pass a block cheaply first.
 */
#define TTB_SCAN_BODY(BLK, FAST)                                                             \
  __m128i prev = _mm_setzero_si128(), plead = _mm_setzero_si128(), lead, b;                  \
  unsigned q, bad, m, full = 0;                                                              \
  while (n - k >= 16) {                                                                      \
    b = _mm_loadu_si128((const __m128i *)(const void *)(s + k));                             \
    /* after a block that FAST did not pass, a sequence may be pending */                    \
    unsigned fb = FAST(b, plead, &lead);                                                     \
    if ((fb | full) != 0) {                                                                  \
      full = fb;                                                                             \
      q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')));                \
      bad = BLK(b, prev);                                                                    \
      if ((m = q | bad) != 0)                                                                \
        goto stop;                                                                           \
    }                                                                                        \
    prev = b;                                                                                \
    plead = lead;                                                                            \
    k += 16;                                                                                 \
  }                                                                                          \
  if (n >= 32) {                                                                             \
    /* the document's last sixteen bytes after the sixteen before them;                      \
     * the masks are shifted so that bit 0 is byte k */                                      \
    size_t base = n - 16;                                                                    \
    unsigned sh = (unsigned)(k - base);                                                      \
    b = _mm_loadu_si128((const __m128i *)(const void *)(s + base));                          \
    prev = _mm_loadu_si128((const __m128i *)(const void *)(s + base - 16));                  \
    q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('"'))) >> sh;            \
    bad = BLK(b, prev) >> sh;                                                                \
  } else {                                                                                   \
    /* a small document's last bytes, padded with NULs (control characters:                 \
     * a string they would continue is not plain) */                                         \
    unsigned char pad[16] = {0};                                                             \
    memcpy(pad, s + k, n - k);                                                               \
    b = _mm_loadu_si128((const __m128i *)(const void *)pad);                                 \
    q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')));                  \
    bad = BLK(b, prev);                                                                      \
  }                                                                                          \
  if ((m = q | bad) == 0) {                                                                  \
    *quote = false;                                                                          \
    return n;                                                                                \
  }                                                                                          \
  stop:                                                                                      \
  *quote = (m & (0u - m) & bad) == 0;                                                        \
  return k + (unsigned)__builtin_ctz(m)

#if !defined(TTB_SSSE3) || defined(TTB_SSSE3_DISPATCH)
/* SSE2: blocks of ASCII and two-byte sequences pass blk_bad_v; the others
 * (a quote, a longer sequence, a problem) take blk_utf8_bad. */
static size_t scan_mixed_sse2(const unsigned char *s, size_t k, size_t n, bool *quote)
{
  TTB_SCAN_BODY(blk_utf8_bad, blk_bad_v);
}
#endif

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
                    TOO_SHORT | OVERLONG_2, TOO_SHORT,
                    TOO_SHORT | OVERLONG_3 | SURROGATE,
                    (char)(TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4)),
      _mm_and_si128(_mm_srli_epi16(p1, 4), nib));
  __m128i lo1 = _mm_shuffle_epi8(
      _mm_setr_epi8((char)(CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4), (char)(CARRY | OVERLONG_2),
                    (char)CARRY, (char)CARRY, (char)(CARRY | TOO_LARGE),
                    (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
                    (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
                    (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
                    (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
                    (char)(CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE),
                    (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000)),
      _mm_and_si128(p1, nib));
  __m128i hi2 = _mm_shuffle_epi8(
      _mm_setr_epi8(TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
                    TOO_SHORT,
                    (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4),
                    (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE),
                    (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE),
                    (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE), TOO_SHORT,
                    TOO_SHORT, TOO_SHORT, TOO_SHORT),
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

/* No pre-check: the lookup costs about what blk_bad_v does. */
TTB_SSSE3 static inline unsigned blk_any(__m128i b, __m128i plead, __m128i *lead)
{
  (void)b;
  *lead = plead;
  return 1;
}

TTB_SSSE3 static size_t scan_mixed_ssse3(const unsigned char *s, size_t k, size_t n, bool *quote)
{
  TTB_SCAN_BODY(blk_utf8_bad_ssse3, blk_any);
}
#endif

TTB_INLINE size_t scan_mixed(const unsigned char *s, size_t k, size_t n, bool *quote)
{
#if defined(TTB_SSSE3_DISPATCH)
  if (__builtin_cpu_supports("ssse3"))
    return scan_mixed_ssse3(s, k, n, quote);
  return scan_mixed_sse2(s, k, n, quote);
#elif defined(TTB_SSSE3)
  return scan_mixed_ssse3(s, k, n, quote);
#else
  return scan_mixed_sse2(s, k, n, quote);
#endif
}
#endif /* __SSE2__ */

/* A string at t->pos (its opening quote). */
TTB_INLINE int tk_string(tk *t)
{
  const unsigned char *s = (const unsigned char *)t->js;
  size_t n = t->len;
  size_t k = t->pos + 1;
  int id = tk_alloc(t, JSMN_STRING, k);
  if (id < 0)
    return -1;
  if (t->plain) {
#if defined(__SSE2__)
    /* validate while looking for the closing quote: ASCII sixteen bytes
     * at a time here, the rest (other scripts, the document's tail) in
     * scan_mixed */
    for (;;) {
      __m128i b;
      unsigned sh = 0;
      if (n - k >= 16) {
        b = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
      } else if (n >= 16) {
        /* the document's last sixteen bytes; bit 0 of the masks is byte k */
        sh = (unsigned)(k - (n - 16));
        b = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
      } else {
        break;
      }
      unsigned hi = (unsigned)_mm_movemask_epi8(b) >> sh;
      unsigned q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('"'))) >> sh;
      unsigned bad = (unsigned)_mm_movemask_epi8(_mm_or_si128(
          _mm_cmplt_epi8(b, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(b, _mm_set1_epi8('\\')))) >> sh;
      if (hi != 0 && (q == 0 || (hi & (q - 1) & ~q) != 0))
        break; /* a byte >= 0x80 before the first quote */
      if (sh != 0 && q == 0)
        break; /* the end of the document */
      unsigned m = q | bad;
      if (m != 0) {
        k += (unsigned)__builtin_ctz(m);
        if ((m & (0u - m) & bad) == 0)
          goto done; /* the first stop is the closing quote */
        goto not_plain;
      }
      k += 16;
    }
    {
      bool quote;
      k = scan_mixed(s, k, n, &quote);
      if (quote)
        goto done;
    }
  not_plain:
#else
    k = plain_run(s, k, n, n);
    if (k < n && s[k] == '"')
      goto done;
#endif
    /* an escape, a control character or invalid UTF-8 (reported, naming
     * the field, when the string is read): find the end the plain way */
    t->plain = false;
  }
  for (;;) {
    /* skip to the next '"' or '\\', sixteen or eight bytes at a time */
#if defined(__SSE2__)
    while (n - k >= 16) {
      __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
      unsigned m = (unsigned)_mm_movemask_epi8(
          _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')), _mm_cmpeq_epi8(b, _mm_set1_epi8('\\'))));
      if (m != 0) {
        k += (unsigned)__builtin_ctz(m);
        break;
      }
      k += 16;
    }
#endif
    while (n - k >= 8) {
      uint64_t x;
      memcpy(&x, s + k, 8);
      if ((has_zero(x ^ (0x22 * ONES)) | has_zero(x ^ (0x5C * ONES))) != 0)
        break;
      k += 8;
    }
    while (k < n && s[k] != '"' && s[k] != '\\')
      k++;
    if (k >= n) {
      t->pos = n;
      tk_fail(t, NULL);
      return -1;
    }
    if (s[k] == '"')
      break;
    /* an escape: its form (the value is checked when read) */
    if (k + 1 >= n) {
      t->pos = n;
      tk_fail(t, NULL);
      return -1;
    }
    switch (s[k + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
      k += 2;
      break;
    case 'u':
      if (n - k < 6) {
        t->pos = n;
        tk_fail(t, NULL);
        return -1;
      }
      if (!is_hex((char)s[k + 2]) || !is_hex((char)s[k + 3]) || !is_hex((char)s[k + 4]) ||
          !is_hex((char)s[k + 5])) {
        t->pos = k;
        tk_fail(t, "invalid escape");
        return -1;
      }
      k += 6;
      break;
    default:
      t->pos = k;
      tk_fail(t, "invalid escape");
      return -1;
    }
  }
done:
  t->r->toks[id].end = (int)k;
  t->pos = k + 1;
  return id;
}

static bool tk_value(tk *t, int depth);

/* Index of the first byte from pos on that is not white space. */
TTB_INLINE size_t ws_end(const char *js, size_t len, size_t pos)
{
  while (pos < len && (unsigned char)js[pos] <= ' ' && is_ws(js[pos]))
    pos++;
  return pos;
}

static bool tk_container(tk *t, int depth)
{
  const char *js = t->js;
  size_t len = t->len;
  size_t pos = t->pos;
  bool obj = js[pos] == '{';
  char close = obj ? '}' : ']';
  int id = tk_alloc(t, obj ? JSMN_OBJECT : JSMN_ARRAY, pos);
  if (id < 0)
    return false;
  pos = ws_end(js, len, pos + 1);
  if (pos < len && js[pos] == close) {
    t->pos = pos + 1;
    t->r->toks[id].end = (int)t->pos;
    return true;
  }
  int size = 0;
  for (;;) {
    if (obj) {
      if (pos >= len || js[pos] != '"') {
        t->pos = pos;
        return tk_fail(t, "expected a key");
      }
      t->pos = pos;
      int key = tk_string(t);
      if (key < 0)
        return false;
      t->r->toks[key].size = 1;
      pos = t->pos;
      if (pos < len && js[pos] == ':') {
        pos++; /* the compact case */
      } else {
        pos = ws_end(js, len, pos);
        if (pos >= len || js[pos] != ':') {
          t->pos = pos;
          return tk_fail(t, "expected ':'");
        }
        pos++;
      }
    }
    t->pos = ws_end(js, len, pos);
    if (!tk_value(t, depth + 1))
      return false;
    size++;
    pos = ws_end(js, len, t->pos);
    if (pos >= len) {
      t->pos = pos;
      return tk_fail(t, NULL);
    }
    char c = js[pos];
    if (c == ',') {
      pos = ws_end(js, len, pos + 1);
      continue;
    }
    if (c == close) {
      pos++;
      break;
    }
    t->pos = pos;
    return tk_fail(t, "expected ','");
  }
  t->pos = pos;
  t->r->toks[id].size = size;
  t->r->toks[id].end = (int)pos;
  return true;
}

/* A value at t->pos (white space skipped). */
static bool tk_value(tk *t, int depth)
{
  if (depth > 64)
    return ttb_jr_fail(t->r, TTB_JSON_LIMIT, NULL, "nested deeper than 64 levels");
  if (t->pos >= t->len)
    return tk_fail(t, NULL);
  char c = t->js[t->pos];
  if (c == '"')
    return tk_string(t) >= 0;
  if (c == '{' || c == '[')
    return tk_container(t, depth);
  if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
    size_t start = t->pos, k = start;
    while (k < t->len) {
      char d = t->js[k];
      if (!((d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') ||
            d == '-' || d == '+' || d == '.'))
        break;
      k++;
    }
    if (!primitive_ok(t->js + start, k - start))
      return ttb_jr_fail(t->r, TTB_JSON_SYNTAX, NULL, "invalid literal at byte %zu", start);
    if (tk_alloc(t, JSMN_PRIMITIVE, start) < 0)
      return false;
    t->r->toks[t->n - 1].end = (int)k;
    t->pos = k;
    return true;
  }
  return tk_fail(t, "expected a value");
}

static bool tk_document(tk *t)
{
  tk_ws(t);
  if (t->pos >= t->len)
    return ttb_jr_fail(t->r, TTB_JSON_SYNTAX, NULL, "empty document");
  char c = t->js[t->pos];
  if (c != '{' && c != '[') {
    if (c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n')
      return ttb_jr_fail(t->r, TTB_JSON_TYPE, NULL, "expected an object or an array");
    return tk_fail(t, "invalid JSON");
  }
  if (!tk_container(t, 0))
    return false;
  size_t end = t->pos;
  tk_ws(t);
  if (t->pos != t->len)
    return ttb_jr_fail(t->r, TTB_JSON_SYNTAX, NULL,
                       "unexpected data after the document at byte %zu", end);
  t->r->ntok = (int)t->n;
  t->r->plain = t->plain;
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
  return true;
}

bool ttb_jr_parse(ttb_jr *r, const char *js, size_t len, jsmntok_t *toks, unsigned cap)
{
  if (!jr_begin(r, js, len))
    return false;
  r->toks = toks;
  tk t = {.r = r, .js = js, .len = len, .cap = cap, .max = cap, .grow = false, .plain = true};
  if (!tk_document(&t)) {
    r->ntok = 0;
    return false;
  }
  return true;
}

bool ttb_jr_parse_alloc(ttb_jr *r, const char *js, size_t len, unsigned max_tokens)
{
  if (!jr_begin(r, js, len))
    return false;
  /* Start from a guess; the tokeniser grows the array up to max_tokens. */
  size_t guess = len / 16 + 16;
  unsigned cap = guess < max_tokens ? (unsigned)guess : max_tokens;
  if (cap > 0) {
    r->toks = malloc((size_t)cap * sizeof *r->toks);
    if (r->toks == NULL)
      return ttb_jr_fail(r, TTB_JSON_NOMEM, NULL, "out of memory");
    r->heap = true;
  }
  tk t = {.r = r, .js = js, .len = len, .cap = cap, .max = max_tokens, .grow = true, .plain = true};
  if (!tk_document(&t)) {
    r->ntok = 0;
    return false;
  }
  return true;
}

bool ttb_jr_parse_small(ttb_jr *r, const char *js, size_t len, jsmntok_t *buf, unsigned cap,
                        unsigned max_tokens)
{
  if (!jr_begin(r, js, len))
    return false;
  r->toks = buf;
  if (cap > max_tokens)
    cap = max_tokens;
  tk t = {.r = r, .js = js, .len = len, .cap = cap, .max = max_tokens, .grow = true, .plain = true};
  if (!tk_document(&t)) {
    r->ntok = 0;
    return false;
  }
  return true;
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
    /* checked by the tokeniser: a copy */
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
      char esc = s[k + 1]; /* the tokeniser checked that an escape letter follows */
      k += 2;
      switch (esc) {
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
    /* checked by the tokeniser */
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
    return true; /* its strings were checked by the tokeniser */
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
  return r->plain || memchr(*s, '\\', *n) == NULL;
}
