/*
 * ttboost/json.h — the runtime of the JSON codecs that protoc-gen-ttb generates.
 *
 * Two halves:
 *  - ttb_jw, a JSON writer: into a caller's fixed buffer (no allocation, for the
 *    mobile client) or into a growing heap buffer (the server). It keeps the
 *    comma state, escapes strings (rejecting invalid UTF-8) and writes base64.
 *  - ttb_jr, a strict RFC 8259 reader: jsmn (libjsmn-dev) tokenises, then one
 *    pass over its tokens checks what jsmn leaves loose (commas, colons,
 *    number and literal grammar, depth, trailing bytes) and one over the
 *    bytes whether every string is plain text. Values are read with
 *    typed calls that range-check numbers, unescape strings (every escape,
 *    \u surrogate pairs), reject invalid UTF-8 and control characters, and
 *    bound lengths.
 *
 * Errors follow nanopb's rule: calls return bool and the *first* failure's
 * message, naming the field, is kept in the reader or writer; nothing is
 * allocated to report it.
 *
 * Depends on: jsmn (header only), libsodium (base64).
 */
#ifndef TTBOOST_JSON_H
#define TTBOOST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* jsmntok_t has a parent member with these: every file must agree */
#if defined(JSMN_H) && !defined(JSMN_PARENT_LINKS)
#error "include ttboost/json.h before jsmn.h, or define JSMN_PARENT_LINKS"
#endif
#define JSMN_HEADER
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the first-error message kept by readers and writers. */
#define TTB_JSON_ERR_SIZE 160

/* Tokens a client-side decode may use (stack array, no allocation): far more
 * than any v1 message needs with unknown keys of moderate size. */
#define TTB_JSON_MAX_TOKENS 512

/* What went wrong, for callers that must tell cases apart. */
typedef enum ttb_json_status {
  TTB_JSON_OK = 0,
  TTB_JSON_SYNTAX,       /* not JSON (RFC 8259) */
  TTB_JSON_TYPE,         /* a value of the wrong type, or out of range */
  TTB_JSON_LIMIT,        /* a string, array or document over its bound */
  TTB_JSON_UNKNOWN_TYPE, /* a discriminator names a case this schema lacks */
  TTB_JSON_NOMEM,        /* allocation failed */
} ttb_json_status;

/* A decode or encode failure, for the generated convenience calls. */
typedef struct ttb_json_error {
  ttb_json_status status;
  char msg[TTB_JSON_ERR_SIZE];
} ttb_json_error;

/* ---------------------------------------------------------------- writer */

typedef struct ttb_jw {
  char *buf;
  size_t len;
  size_t cap;
  bool fixed; /* buf is the caller's: never grown */
  bool comma; /* a value was written at this level: next one needs ',' */
  ttb_json_status status;
  char err[TTB_JSON_ERR_SIZE];
} ttb_jw;

/* Writes into the caller's buf of cap bytes; never allocates. Output past
 * cap fails with TTB_JSON_LIMIT. */
void ttb_jw_init_fixed(ttb_jw *w, char *buf, size_t cap);

/* Writes into a heap buffer grown as needed (initial hint `cap`, may be 0).
 * Release with ttb_jw_finish(), or take the buffer with ttb_jw_take(). */
void ttb_jw_init(ttb_jw *w, size_t cap);

/* Frees a heap writer's buffer (not a fixed one). Safe to call twice. */
void ttb_jw_finish(ttb_jw *w);

/* Hands over the heap buffer, NUL-terminated, and its length; the caller
 * frees it with free(). NULL on failure (the writer is then finished). */
char *ttb_jw_take(ttb_jw *w, size_t *len);

/* Empties the writer for reuse, keeping its buffer. */
void ttb_jw_reset(ttb_jw *w);

/* Records the first failure; always returns false. */
bool ttb_jw_fail(ttb_jw *w, ttb_json_status st, const char *field, const char *what);

/* Structure. `key` is a literal already quoted with its colon, e.g.
 * "\"user\":" (generated code passes such literals); a comma goes first when
 * needed. */
bool ttb_jw_begin_object(ttb_jw *w);
bool ttb_jw_end_object(ttb_jw *w);
bool ttb_jw_begin_array(ttb_jw *w);
bool ttb_jw_end_array(ttb_jw *w);
bool ttb_jw_key(ttb_jw *w, const char *key, size_t key_len);

/* Values. Strings must be valid UTF-8 (`field` names the culprit otherwise);
 * non-ASCII is written as is, control characters escaped. */
bool ttb_jw_string(ttb_jw *w, const char *field, const char *s, size_t n);
bool ttb_jw_cstring(ttb_jw *w, const char *field, const char *s); /* NULL = "" */
bool ttb_jw_u64(ttb_jw *w, uint64_t v);
bool ttb_jw_i64(ttb_jw *w, int64_t v);
bool ttb_jw_bool(ttb_jw *w, bool v);
bool ttb_jw_base64(ttb_jw *w, const uint8_t *p, size_t n);

/* ---------------------------------------------------------------- reader */

typedef struct ttb_jr {
  const char *js;
  size_t len;
  jsmntok_t *toks;
  int ntok;
  /* Set by a successful parse when every string of the document (keys
   * included) is plain text: no escape, no control character, valid UTF-8.
   * Then reading a string is a bound check and a copy. */
  bool plain;
  bool heap; /* toks was allocated by the reader: ttb_jr_finish frees it */
  ttb_json_status status;
  char err[TTB_JSON_ERR_SIZE];
} ttb_jr;

/* Tokenises and checks `js` (len bytes, need not be NUL-terminated) into the
 * caller's toks[cap]. After success the document is token 0. On failure the
 * reader's err says what and where. No allocation. */
bool ttb_jr_parse(ttb_jr *r, const char *js, size_t len, jsmntok_t *toks, unsigned cap);

/* As ttb_jr_parse, with a token array sized to the document on the heap;
 * release it with ttb_jr_finish(). For the server, whose batches can be large;
 * max_tokens bounds it (TTB_JSON_LIMIT beyond). */
bool ttb_jr_parse_alloc(ttb_jr *r, const char *js, size_t len, unsigned max_tokens);

/* As ttb_jr_parse_alloc, but tokens go into the caller's buf[cap] (say, on
 * the stack) while they fit, and only a larger document moves them to the
 * heap. Release with ttb_jr_finish() all the same. */
bool ttb_jr_parse_small(ttb_jr *r, const char *js, size_t len, jsmntok_t *buf, unsigned cap,
                        unsigned max_tokens);

/* Frees the tokens a reader allocated (none after ttb_jr_parse). */
void ttb_jr_finish(ttb_jr *r);

/* Records the first failure (printf-style detail); always returns false. */
bool ttb_jr_fail(ttb_jr *r, ttb_json_status st, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Index of the token after token i and everything inside it. */
int ttb_jr_next(const ttb_jr *r, int i);

/* Checks that token i is an object (or array), naming `field` otherwise. */
bool ttb_jr_expect_object(ttb_jr *r, int i, const char *field);
bool ttb_jr_expect_array(ttb_jr *r, int i, const char *field);
bool ttb_jr_expect_string(ttb_jr *r, int i, const char *field);

/* The key at token k, unescaped into buf[cap] when it has escapes; *s, *n
 * point at the key's bytes. False when the key is invalid (error set). */
bool ttb_jr_key(ttb_jr *r, int k, char *buf, size_t cap, const char **s, size_t *n);

/* Token index of the value of `key` in object obj, or -1 when absent (or
 * when the object is invalid: then the error is set). */
int ttb_jr_find_key(ttb_jr *r, int obj, const char *key, size_t n);

/* Checks that the (ignored) value at token i holds only valid strings. */
bool ttb_jr_skip_value(ttb_jr *r, int i);

/* Typed values. `field` names the field in errors; bounds are inclusive. */
bool ttb_jr_u64(ttb_jr *r, int i, const char *field, uint64_t max, uint64_t *out);
bool ttb_jr_i64(ttb_jr *r, int i, const char *field, int64_t min, int64_t max, int64_t *out);
bool ttb_jr_bool(ttb_jr *r, int i, const char *field, bool *out);

/* A string into dst[cap] (NUL-terminated), at most max_len bytes of UTF-8. */
bool ttb_jr_string_buf(ttb_jr *r, int i, const char *field, size_t max_len, char *dst, size_t cap);

/* Length the string at token i has once unescaped (validating it). */
bool ttb_jr_string_len(ttb_jr *r, int i, const char *field, size_t *out);

/* Base64 bytes into dst[cap], at most max_len bytes; *n receives the length. */
bool ttb_jr_bytes_buf(ttb_jr *r, int i, const char *field, size_t max_len, uint8_t *dst, size_t cap,
                      size_t *n);

/* The raw (still escaped) text of string token i, for enum-name matching;
 * false when it has escapes (the caller then treats it as unknown). */
bool ttb_jr_raw_string(const ttb_jr *r, int i, const char **s, size_t *n);

/* Is token i the literal null? */
bool ttb_jr_is_null(const ttb_jr *r, int i);

/* Inline forms of ttb_jr_is_null, ttb_jr_next and ttb_jr_key, for the
 * generated decoders' loops over an object's members. */
static inline bool ttb_jr_null_at(const ttb_jr *r, int i)
{
  const jsmntok_t *t = &r->toks[i];
  return t->type == JSMN_PRIMITIVE && r->js[t->start] == 'n';
}

static inline int ttb_jr_after(const ttb_jr *r, int i)
{
  const jsmntok_t *t = &r->toks[i];
  return t->type == JSMN_STRING || t->type == JSMN_PRIMITIVE ? i + 1 : ttb_jr_next(r, i);
}

/* Inline form of ttb_jr_string_buf: a plain document's string is a copy. */
static inline bool ttb_jr_string_at(ttb_jr *r, int i, const char *field, size_t max_len, char *dst,
                                    size_t cap)
{
  const jsmntok_t *t = &r->toks[i];
  size_t n = (size_t)(t->end - t->start);
  if (r->plain && t->type == JSMN_STRING && n <= max_len && n < cap) {
    memcpy(dst, r->js + t->start, n);
    dst[n] = '\0';
    return true;
  }
  return ttb_jr_string_buf(r, i, field, max_len, dst, cap); /* errors, escapes */
}

static inline bool ttb_jr_key_at(ttb_jr *r, int k, char *buf, size_t cap, const char **s, size_t *n)
{
  if (r->plain) { /* checked when parsed (doc_plain) */
    *s = r->js + r->toks[k].start;
    *n = (size_t)(r->toks[k].end - r->toks[k].start);
    return true;
  }
  return ttb_jr_key(r, k, buf, cap, s, n);
}

/* ---------------------------------------------------------------- UTF-8 */

/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF). */
bool ttb_utf8_valid(const char *s, size_t n);

/* Bound and UTF-8 check of a string held by a decoded message (NULL = "");
 * on failure writes "field: why" into err[errlen] and returns false. */
bool ttb_json_check_string(const char *s, size_t max_len, const char *field, char *err,
                           size_t errlen);

/* Checks n <= max; else writes "field: what" into err and returns false. */
bool ttb_json_check_len(size_t n, size_t max, const char *field, const char *what, char *err,
                        size_t errlen);

/* memset(p, 0, n), out of line: the C library clears a large message faster
 * than the `rep stos` compilers inline for a constant size. */
void ttb_json_zero(void *p, size_t n);

/* Copies a status and message into *err (err may be NULL). */
void ttb_json_set_error(ttb_json_error *err, ttb_json_status st, const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* TTBOOST_JSON_H */
