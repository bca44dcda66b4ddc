/* Helpers for the protobuf-c flavour of the generated JSON codecs. */
#include "ttboost/json_pbc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *ttb_pbc_alloc(ProtobufCAllocator *a, size_t n)
{
  if (n == 0)
    n = 1;
  return a ? a->alloc(a->allocator_data, n) : malloc(n);
}

void ttb_pbc_free(ProtobufCAllocator *a, void *p)
{
  if (p == NULL)
    return;
  if (a)
    a->free(a->allocator_data, p);
  else
    free(p);
}

bool ttb_pbc_jr_string(ttb_jr *r, int i, const char *field, size_t max_len, char **dst,
                       ProtobufCAllocator *a)
{
  if (r->toks[i].type != JSMN_STRING && !ttb_jr_expect_string(r, i, field))
    return false;
  /* Unescaping never lengthens a string (the longest result, 4 bytes, comes
   * from the 12 of a surrogate pair), so the raw length bounds the result:
   * allocate once and unescape straight into it, in one pass. */
  size_t raw = (size_t)(r->toks[i].end - r->toks[i].start);
  size_t cap = (raw < max_len ? raw : max_len) + 1;
  if (r->plain && raw > max_len) /* checked when parsed: only the bound is left */
    return ttb_jr_fail(r, TTB_JSON_LIMIT, field, "longer than %zu bytes", max_len);
  char *s = a == NULL ? malloc(cap) : ttb_pbc_alloc(a, cap); /* cap >= 1 */
  if (s == NULL)
    return ttb_jr_fail(r, TTB_JSON_NOMEM, field, "out of memory");
  if (r->plain) {
    memcpy(s, r->js + r->toks[i].start, raw);
    s[raw] = '\0';
  } else if (!ttb_jr_string_buf(r, i, field, max_len, s, cap)) {
    ttb_pbc_free(a, s);
    return false;
  }
  if (*dst != NULL && *dst != protobuf_c_empty_string)
    ttb_pbc_free(a, *dst);
  *dst = s;
  return true;
}

bool ttb_pbc_jr_bytes(ttb_jr *r, int i, const char *field, size_t max_len, ProtobufCBinaryData *dst,
                      ProtobufCAllocator *a)
{
  if (!ttb_jr_expect_string(r, i, field))
    return false;
  size_t raw = (size_t)(r->toks[i].end - r->toks[i].start);
  size_t cap = raw / 4 * 3 + 3;
  if (cap > max_len + 3)
    cap = max_len + 3;
  uint8_t *p = ttb_pbc_alloc(a, cap);
  if (p == NULL)
    return ttb_jr_fail(r, TTB_JSON_NOMEM, field, "out of memory");
  size_t n;
  if (!ttb_jr_bytes_buf(r, i, field, max_len, p, cap, &n)) {
    ttb_pbc_free(a, p);
    return false;
  }
  ttb_pbc_free(a, dst->data);
  dst->data = p;
  dst->len = n;
  return true;
}

bool ttb_pbc_jr_array(ttb_jr *r, const char *field, size_t have, size_t n, size_t elem, void **out,
                      ProtobufCAllocator *a)
{
  if (have != 0)
    return ttb_jr_fail(r, TTB_JSON_SYNTAX, field, "given twice");
  if (*out != NULL) { /* given before as []: as nanopb does, the later one counts */
    ttb_pbc_free(a, *out);
    *out = NULL;
  }
  void *p = ttb_pbc_alloc(a, n * elem);
  if (p == NULL)
    return ttb_jr_fail(r, TTB_JSON_NOMEM, field, "out of memory");
  memset(p, 0, n * elem > 0 ? n * elem : 1);
  *out = p;
  return true;
}
