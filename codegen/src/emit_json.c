/*
 * Emits the JSON codecs in C, for one .proto file and one struct flavour:
 * protobuf-c structs ("pbc", the server) or nanopb structs ("npb", the
 * client). The code is straight-line: a switch on key length and a memcmp
 * per field to decode, a key literal and a typed write per field to encode;
 * no reflection tables on the hot path.
 *
 * The JSON mapping (docs/protocol/json.md):
 *  - keys are the proto field names; every singular field is written, except
 *    (ttboost.json_omit_default) ones while they hold their default;
 *  - a oneof with (ttboost.json_discriminator) is flattened: the key names the
 *    case ((ttboost.json_tag)) and comes first, then the case message's fields,
 *    then the envelope's own; other oneofs nest the case under its field name;
 *  - 64-bit integers are JSON numbers; bytes are base64; enums are their
 *    value names (numbers accepted on input); null reads as absent;
 *  - unknown keys are ignored (but must be valid JSON); wrong types, numbers
 *    out of range, over-long strings and invalid UTF-8 are errors naming the
 *    field.
 */
#include <stdio.h>
#include <string.h>

#include "emit.h"
#include "sb.h"

typedef struct flav {
  bool pbc;
  const char *tag; /* "pbc" or "npb" */
} flav;

/* ---------------------------------------------------------------- naming */

static const char *ctype(const flav *fl, const cg_msg *m)
{
  return fl->pbc ? cg_pbc_type(m->pkg, m->name) : cg_npb_type(m->pkg, m->name);
}

static const char *etype(const flav *fl, const cg_enum *e)
{
  return fl->pbc ? cg_pbc_type(e->pkg, e->name) : cg_npb_type(e->pkg, e->name);
}

/* ttb_pbc_ttboost_v1_ChatEvent */
static const char *fn(const flav *fl, const cg_msg *m)
{
  return cg_fmt("ttb_%s_%s", fl->tag, cg_npb_type(m->pkg, m->name));
}

static const char *enum_fn(const cg_enum *e) { return cg_npb_type(e->pkg, e->name); }

/* The expression of field f in message pointer m (singular or the array). */
static const char *member(const flav *fl, const cg_msg *m, const cg_field *f)
{
  if (f->oneof >= 0 && !fl->pbc)
    return cg_fmt("m->%s.%s", m->oneofs[f->oneof].name, f->name);
  return cg_fmt("m->%s", f->name);
}

static const char *count_expr(const flav *fl, const cg_field *f)
{
  return fl->pbc ? cg_fmt("m->n_%s", f->name) : cg_fmt("m->%s_count", f->name);
}

/* The condition "oneof of f is set to f". */
static const char *case_is(const flav *fl, const cg_msg *m, const cg_field *f)
{
  const cg_oneof *o = &m->oneofs[f->oneof];
  if (fl->pbc)
    return cg_fmt("m->%s_case == %s__%s_%s", o->name, cg_pbc_upper(m->pkg, m->name),
                  cg_upper(o->name), cg_upper(f->name));
  return cg_fmt("m->which_%s == %s_%s_tag", o->name, cg_npb_type(m->pkg, m->name), f->name);
}

static const char *case_set(const flav *fl, const cg_msg *m, const cg_field *f)
{
  const cg_oneof *o = &m->oneofs[f->oneof];
  if (fl->pbc)
    return cg_fmt("m->%s_case = %s__%s_%s", o->name, cg_pbc_upper(m->pkg, m->name),
                  cg_upper(o->name), cg_upper(f->name));
  return cg_fmt("m->which_%s = %s_%s_tag", o->name, cg_npb_type(m->pkg, m->name), f->name);
}

static const char *case_unset(const flav *fl, const cg_msg *m, const cg_oneof *o)
{
  if (fl->pbc)
    return cg_fmt("m->%s_case == %s__%s__NOT_SET", o->name, cg_pbc_upper(m->pkg, m->name),
                  cg_upper(o->name));
  return cg_fmt("m->which_%s == 0", o->name);
}

static bool is_unsigned(cg_kind k)
{
  return k == CG_UINT32 || k == CG_FIXED32 || k == CG_UINT64 || k == CG_FIXED64;
}

static bool is_32(cg_kind k)
{
  return k == CG_INT32 || k == CG_SINT32 || k == CG_SFIXED32 || k == CG_UINT32 || k == CG_FIXED32;
}

static int flat_oneof(const cg_msg *m)
{
  for (size_t i = 0; i < m->noneofs; i++)
    if (m->oneofs[i].discriminator)
      return (int)i;
  return -1;
}

/* --------------------------------------------------------------- encoder */

/* Writes the value expression v of field f (one element). */
static void enc_value(cg_sb *b, const flav *fl, const cg_field *f, const char *v, const char *ind)
{
  switch (f->kind) {
  case CG_STRING:
    cg_printf(b, "%sif (!ttb_jw_cstring(w, \"%s\", %s))\n%s  return false;\n", ind, f->name, v,
              ind);
    break;
  case CG_BYTES:
    if (fl->pbc)
      cg_printf(b, "%sif (!ttb_jw_base64(w, %s.data, %s.len))\n%s  return false;\n", ind, v, v,
                ind);
    else
      cg_printf(b, "%sif (!ttb_jw_base64(w, %s.bytes, %s.size))\n%s  return false;\n", ind, v, v,
                ind);
    break;
  case CG_BOOL:
    cg_printf(b, "%sif (!ttb_jw_bool(w, %s != 0))\n%s  return false;\n", ind, v, ind);
    break;
  case CG_ENUM:
    cg_printf(b, "%sif (!enc_%s(w, (int)%s))\n%s  return false;\n", ind, enum_fn(f->en), v, ind);
    break;
  case CG_MESSAGE:
    if (fl->pbc)
      cg_printf(
          b,
          "%sif (%s == NULL)\n%s  return ttb_jw_fail(w, TTB_JSON_TYPE, \"%s\", \"missing\");\n"
          "%sif (!%s_json_encode(w, %s))\n%s  return false;\n",
          ind, v, ind, f->name, ind, fn(fl, f->msg), v, ind);
    else
      cg_printf(b, "%sif (!%s_json_encode(w, &%s))\n%s  return false;\n", ind, fn(fl, f->msg), v,
                ind);
    break;
  default:
    if (is_unsigned(f->kind))
      cg_printf(b, "%sif (!ttb_jw_u64(w, (uint64_t)%s))\n%s  return false;\n", ind, v, ind);
    else
      cg_printf(b, "%sif (!ttb_jw_i64(w, (int64_t)%s))\n%s  return false;\n", ind, v, ind);
  }
}

/* The condition "v is not its default", for json_omit_default. */
static const char *not_default(const flav *fl, const cg_field *f, const char *v)
{
  switch (f->kind) {
  case CG_STRING:
    return fl->pbc ? cg_fmt("%s != NULL && %s[0] != '\\0'", v, v) : cg_fmt("%s[0] != '\\0'", v);
  case CG_BYTES:
    return fl->pbc ? cg_fmt("%s.len > 0", v) : cg_fmt("%s.size > 0", v);
  default:
    return cg_fmt("%s != 0", v);
  }
}

static void enc_key(cg_sb *b, const char *key, const char *ind)
{
  cg_printf(b, "%sif (!ttb_jw_key(w, \"\\\"%s\\\":\", %zu))\n%s  return false;\n", ind, key,
            strlen(key) + 3, ind);
}

static void enc_field(cg_sb *b, const flav *fl, const cg_msg *m, const cg_field *f)
{
  const char *v = member(fl, m, f);
  if (f->repeated) {
    enc_key(b, f->name, "  ");
    cg_printf(b, "  if (!ttb_jw_begin_array(w))\n    return false;\n");
    cg_printf(b, "  for (size_t i = 0; i < (size_t)%s; i++) {\n", count_expr(fl, f));
    enc_value(b, fl, f, cg_fmt("%s[i]", v), "    ");
    cg_printf(b, "  }\n  if (!ttb_jw_end_array(w))\n    return false;\n");
    return;
  }
  if (f->oneof >= 0) {
    cg_printf(b, "  if (%s) {\n", case_is(fl, m, f));
    enc_key(b, f->name, "    ");
    enc_value(b, fl, f, v, "    ");
    cg_printf(b, "  }\n");
    return;
  }
  if (f->kind == CG_MESSAGE) {
    cg_printf(b, "  if (%s) {\n", fl->pbc ? cg_fmt("%s != NULL", v) : cg_fmt("m->has_%s", f->name));
    enc_key(b, f->name, "    ");
    enc_value(b, fl, f, v, "    ");
    cg_printf(b, "  }\n");
    return;
  }
  if (f->omit_default) {
    cg_printf(b, "  if (%s) {\n", not_default(fl, f, v));
    enc_key(b, f->name, "    ");
    enc_value(b, fl, f, v, "    ");
    cg_printf(b, "  }\n");
    return;
  }
  enc_key(b, f->name, "  ");
  enc_value(b, fl, f, v, "  ");
}

static void emit_encoder(cg_sb *b, const flav *fl, const cg_msg *m)
{
  const char *F = fn(fl, m), *T = ctype(fl, m);
  int flat = flat_oneof(m);
  cg_printf(b, "bool %s_json_fields(ttb_jw *w, const %s *m)\n{\n", F, T);
  if (flat >= 0) {
    /* the discriminator and the case's fields come first */
    cg_printf(b, "  (void)w;\n");
    for (size_t i = 0; i < m->nfields; i++) {
      const cg_field *f = &m->fields[i];
      if (f->oneof != flat)
        continue;
      const char *v = member(fl, m, f);
      cg_printf(b, "  if (%s) {\n", case_is(fl, m, f));
      enc_key(b, m->oneofs[flat].discriminator, "    ");
      cg_printf(b, "    if (!ttb_jw_string(w, NULL, \"%s\", %zu))\n      return false;\n",
                f->json_tag, strlen(f->json_tag));
      if (fl->pbc)
        cg_printf(b,
                  "    if (%s == NULL)\n      return ttb_jw_fail(w, TTB_JSON_TYPE, \"%s\", "
                  "\"missing\");\n"
                  "    if (!%s_json_fields(w, %s))\n      return false;\n",
                  v, f->name, fn(fl, f->msg), v);
      else
        cg_printf(b, "    if (!%s_json_fields(w, &%s))\n      return false;\n", fn(fl, f->msg), v);
      cg_printf(b, "  }\n");
    }
  }
  for (size_t i = 0; i < m->nfields; i++) {
    const cg_field *f = &m->fields[i];
    if (flat >= 0 && f->oneof == flat)
      continue;
    enc_field(b, fl, m, f);
  }
  if (m->nfields == 0)
    cg_printf(b, "  (void)w;\n  (void)m;\n");
  cg_printf(b, "  return true;\n}\n\n");

  cg_printf(b,
            "bool %s_json_encode(ttb_jw *w, const %s *m)\n{\n"
            "  return ttb_jw_begin_object(w) && %s_json_fields(w, m) && ttb_jw_end_object(w);\n"
            "}\n\n",
            F, T, F);
}

/* --------------------------------------------------------------- decoder */

/* Decodes token v into the lvalue d (one element of field f); on failure
 * `return -1`. */
static void dec_value(cg_sb *b, const flav *fl, const cg_field *f, const char *d, const char *ind)
{
  const char *n = f->name;
  switch (f->kind) {
  case CG_STRING:
    if (fl->pbc)
      cg_printf(b, "%sif (!ttb_pbc_jr_string(r, v, \"%s\", %u, &%s, a))\n%s  return -1;\n", ind, n,
                f->max_length, d, ind);
    else
      cg_printf(b, "%sif (!ttb_jr_string_at(r, v, \"%s\", %u, %s, sizeof %s))\n%s  return -1;\n",
                ind, n, f->max_length, d, d, ind);
    break;
  case CG_BYTES:
    if (fl->pbc)
      cg_printf(b, "%sif (!ttb_pbc_jr_bytes(r, v, \"%s\", %u, &%s, a))\n%s  return -1;\n", ind, n,
                f->max_length, d, ind);
    else
      cg_printf(b,
                "%s{\n%s  size_t n_ = 0;\n"
                "%s  if (!ttb_jr_bytes_buf(r, v, \"%s\", %u, %s.bytes, sizeof %s.bytes, &n_))\n"
                "%s    return -1;\n%s  %s.size = (pb_size_t)n_;\n%s}\n",
                ind, ind, ind, n, f->max_length, d, d, ind, ind, d, ind);
    break;
  case CG_BOOL:
    cg_printf(
        b,
        "%s{\n%s  bool b_ = false;\n%s  if (!ttb_jr_bool(r, v, \"%s\", &b_))\n%s    return -1;\n"
        "%s  %s = b_;\n%s}\n",
        ind, ind, ind, n, ind, ind, d, ind);
    break;
  case CG_ENUM:
    cg_printf(b,
              "%s{\n%s  int e_ = 0;\n%s  if (!dec_%s(r, v, \"%s\", &e_))\n%s    return -1;\n"
              "%s  %s = (%s)e_;\n%s}\n",
              ind, ind, ind, enum_fn(f->en), n, ind, ind, d, etype(fl, f->en), ind);
    break;
  case CG_MESSAGE:
    if (fl->pbc) {
      const char *T = ctype(fl, f->msg);
      cg_printf(b,
                "%sif (%s == NULL) {\n"
                "%s  %s = ttb_pbc_alloc(a, sizeof(%s));\n"
                "%s  if (%s == NULL)\n%s    return ttb_jr_fail(r, TTB_JSON_NOMEM, \"%s\", \"out of "
                "memory\") ? 0 : -1;\n"
                "%s  %s__init(%s);\n"
                "%s}\n"
                "%sif (!%s_json_decode(r, v, %s, a))\n%s  return -1;\n",
                ind, d, ind, d, T, ind, d, ind, n, ind, cg_pbc_lower(f->msg->pkg, f->msg->name), d,
                ind, ind, fn(fl, f->msg), d, ind);
    } else {
      cg_printf(b, "%sif (!%s_json_decode(r, v, &%s))\n%s  return -1;\n", ind, fn(fl, f->msg), d,
                ind);
    }
    break;
  default: {
    const char *ct = is_32(f->kind) ? (is_unsigned(f->kind) ? "uint32_t" : "int32_t")
                                    : (is_unsigned(f->kind) ? "uint64_t" : "int64_t");
    if (is_unsigned(f->kind))
      cg_printf(b,
                "%s{\n%s  uint64_t x_ = 0;\n%s  if (!ttb_jr_u64(r, v, \"%s\", %s, &x_))\n%s    "
                "return -1;\n"
                "%s  %s = (%s)x_;\n%s}\n",
                ind, ind, ind, n, is_32(f->kind) ? "UINT32_MAX" : "UINT64_MAX", ind, ind, d, ct,
                ind);
    else
      cg_printf(b,
                "%s{\n%s  int64_t x_ = 0;\n%s  if (!ttb_jr_i64(r, v, \"%s\", %s, %s, &x_))\n%s    "
                "return -1;\n"
                "%s  %s = (%s)x_;\n%s}\n",
                ind, ind, ind, n, is_32(f->kind) ? "INT32_MIN" : "INT64_MIN",
                is_32(f->kind) ? "INT32_MAX" : "INT64_MAX", ind, ind, d, ct, ind);
  }
  }
}

static void dec_field(cg_sb *b, const flav *fl, const cg_msg *m, const cg_field *f)
{
  const char *d = member(fl, m, f);
  const char *ind = "      ";
  if (f->repeated) {
    cg_printf(b, "%sif (!ttb_jr_expect_array(r, v, \"%s\"))\n%s  return -1;\n", ind, f->name, ind);
    cg_printf(b, "%sint n_ = r->toks[v].size;\n", ind);
    cg_printf(b,
              "%sif (n_ > %u)\n%s  return ttb_jr_fail(r, TTB_JSON_LIMIT, \"%s\", \"more than %u "
              "elements\") ? 0 : -1;\n",
              ind, f->max_count, ind, f->name, f->max_count);
    if (fl->pbc) {
      cg_printf(b,
                "%sif (!ttb_pbc_jr_array(r, \"%s\", %s, (size_t)n_, sizeof *%s, (void **)&%s, "
                "a))\n%s  return -1;\n",
                ind, f->name, count_expr(fl, f), d, d, ind);
      cg_printf(b, "%s%s = (size_t)n_;\n", ind, count_expr(fl, f));
      /* the elements stay NULL (ttb_pbc_jr_array zeroed them) until decoded:
       * free_unpacked skips NULL, while it would free a static "" of an
       * element left undecoded by an error */
    } else {
      cg_printf(b,
                "%sif ((size_t)n_ > sizeof %s / sizeof %s[0])\n%s  return ttb_jr_fail(r, "
                "TTB_JSON_LIMIT, \"%s\", \"too many elements\") ? 0 : -1;\n",
                ind, d, d, ind, f->name);
      /* as the protobuf-c decoders: a repeated field given twice (with
       * elements the first time) is refused */
      cg_printf(b,
                "%sif (%s != 0)\n%s  return ttb_jr_fail(r, TTB_JSON_SYNTAX, \"%s\", \"given "
                "twice\") ? 0 : -1;\n",
                ind, count_expr(fl, f), ind, f->name);
      cg_printf(b, "%s%s = 0;\n", ind, count_expr(fl, f));
    }
    cg_printf(b, "%sint arr_ = v;\n%sv = arr_ + 1;\n%sfor (int i = 0; i < n_; i++) {\n", ind, ind,
              ind);
    if (!fl->pbc)
      cg_printf(b, "%s  memset(&%s[i], 0, sizeof %s[i]);\n", ind, d, d);
    dec_value(b, fl, f, cg_fmt("%s[i]", d), "        ");
    if (!fl->pbc)
      cg_printf(b, "%s  %s = (pb_size_t)(i + 1);\n", ind, count_expr(fl, f));
    cg_printf(b, "%s  v = ttb_jr_next(r, v);\n%s}\n", ind, ind);
    return;
  }
  if (f->oneof >= 0) {
    const cg_oneof *o = &m->oneofs[f->oneof];
    cg_printf(b,
              "%sif (!(%s) && !(%s))\n%s  return ttb_jr_fail(r, TTB_JSON_TYPE, \"%s\", \"only one "
              "of the fields of '%s' may be given\") ? 0 : -1;\n",
              ind, case_unset(fl, m, o), case_is(fl, m, f), ind, f->name, o->name);
    if (!fl->pbc)
      cg_printf(b, "%sif (!(%s))\n%s  memset(&%s, 0, sizeof %s);\n", ind, case_is(fl, m, f), ind, d,
                d);
    cg_printf(b, "%s%s;\n", ind, case_set(fl, m, f));
    dec_value(b, fl, f, d, ind);
    return;
  }
  dec_value(b, fl, f, d, ind);
  if (f->kind == CG_MESSAGE && !fl->pbc)
    cg_printf(b, "%sm->has_%s = true;\n", ind, f->name);
}

static void emit_decoder(cg_sb *b, const flav *fl, const cg_msg *m)
{
  const char *F = fn(fl, m), *T = ctype(fl, m);
  const char *A = fl->pbc ? ", ProtobufCAllocator *a" : "";
  const char *AA = fl->pbc ? ", a" : "";
  int flat = flat_oneof(m);

  /* one key */
  cg_printf(b, "int %s_json_field(ttb_jr *r, const char *k, size_t kn, int v, %s *m%s)\n{\n", F, T,
            A);
  size_t maxlen = 0;
  for (size_t i = 0; i < m->nfields; i++)
    if (!(flat >= 0 && m->fields[i].oneof == flat) && strlen(m->fields[i].name) > maxlen)
      maxlen = strlen(m->fields[i].name);
  bool any = false;
  cg_printf(b, "  switch (kn) {\n");
  for (size_t len = 1; len <= maxlen; len++) {
    bool opened = false;
    for (size_t i = 0; i < m->nfields; i++) {
      const cg_field *f = &m->fields[i];
      if ((flat >= 0 && f->oneof == flat) || strlen(f->name) != len)
        continue;
      if (!opened)
        cg_printf(b, "  case %zu:\n", len);
      opened = any = true;
      cg_printf(b, "    if (memcmp(k, \"%s\", %zu) == 0) {\n", f->name, len);
      dec_field(b, fl, m, f);
      cg_printf(b, "      return 1;\n    }\n");
    }
    if (opened)
      cg_printf(b, "    break;\n");
  }
  cg_printf(b, "  default:\n    break;\n  }\n");
  if (!any)
    cg_printf(b, "  (void)r;\n  (void)k;\n  (void)v;\n  (void)m;\n");
  if (fl->pbc)
    cg_printf(b, "  (void)a;\n");
  cg_printf(b, "  return 0;\n}\n\n");

  /* the object */
  /* nanopb: from_json has just cleared the whole message, so the body
   * (_json_decode_in) is told not to clear the selected oneof member again */
  if (fl->pbc)
    cg_printf(b, "bool %s_json_decode(ttb_jr *r, int tok, %s *m%s)\n{\n", F, T, A);
  else
    cg_printf(b,
              "static bool %s_json_decode_in(ttb_jr *r, int tok, %s *m, bool fresh);\n\n"
              "bool %s_json_decode(ttb_jr *r, int tok, %s *m)\n{\n"
              "  return %s_json_decode_in(r, tok, m, false);\n}\n\n"
              "static bool %s_json_decode_in(ttb_jr *r, int tok, %s *m, bool fresh)\n{\n"
              "  (void)fresh;\n",
              F, T, F, T, F, F, T);
  cg_printf(b, "  if (!ttb_jr_expect_object(r, tok, NULL))\n    return false;\n");
  if (flat >= 0) {
    const cg_oneof *o = &m->oneofs[flat];
    const char *disc = o->discriminator;
    cg_printf(b, "  int d = ttb_jr_find_key(r, tok, \"%s\", %zu);\n", disc, strlen(disc));
    cg_printf(b, "  if (r->status != TTB_JSON_OK)\n    return false;\n");
    cg_printf(b, "  if (d >= 0 && !ttb_jr_is_null(r, d)) {\n");
    cg_printf(b, "    const char *s;\n    size_t sn;\n");
    cg_printf(b, "    if (!ttb_jr_expect_string(r, d, \"%s\"))\n      return false;\n", disc);
    cg_printf(b, "    if (!ttb_jr_raw_string(r, d, &s, &sn))\n      sn = 0;\n");
    if (fl->pbc) {
      /* Decoding into a message that already holds a member of this oneof
       * (its key repeated in the enclosing object): the last one wins, as in
       * the nanopb flavour, so the member it had is freed, not leaked. */
      cg_printf(b, "    if (m->%s_case != 0) {\n", o->name);
      for (size_t i = 0; i < m->nfields; i++) {
        const cg_field *f = &m->fields[i];
        if (f->oneof != flat)
          continue;
        cg_printf(b, "      if (%s)\n        %s__free_unpacked(%s, a);\n", case_is(fl, m, f),
                  cg_pbc_lower(f->msg->pkg, f->msg->name), member(fl, m, f));
      }
      cg_printf(b, "      m->%s_case = 0;\n    }\n", o->name);
    }
    cg_printf(b, "    if (0) {\n");
    for (size_t i = 0; i < m->nfields; i++) {
      const cg_field *f = &m->fields[i];
      if (f->oneof != flat)
        continue;
      cg_printf(b, "    } else if (sn == %zu && memcmp(s, \"%s\", %zu) == 0) {\n",
                strlen(f->json_tag), f->json_tag, strlen(f->json_tag));
      cg_printf(b, "      %s;\n", case_set(fl, m, f));
      const char *d = member(fl, m, f);
      if (fl->pbc) {
        const char *ST = ctype(fl, f->msg);
        cg_printf(b,
                  "      %s = ttb_pbc_alloc(a, sizeof(%s));\n"
                  "      if (%s == NULL) {\n"
                  "        m->%s_case = 0;\n"
                  "        return ttb_jr_fail(r, TTB_JSON_NOMEM, NULL, \"out of memory\");\n"
                  "      }\n"
                  "      %s__init(%s);\n",
                  d, ST, d, o->name, cg_pbc_lower(f->msg->pkg, f->msg->name), d);
      } else {
        cg_printf(b, "      if (!fresh)\n        ttb_json_zero(&%s, sizeof %s);\n", d, d);
      }
    }
    cg_printf(b, "    } else {\n");
    cg_printf(b, "      return ttb_jr_fail(r, TTB_JSON_UNKNOWN_TYPE, \"%s\", \"unknown value\");\n",
              disc);
    cg_printf(b, "    }\n  }\n");
  }
  cg_printf(b, "  int n = r->toks[tok].size;\n  int k = tok + 1;\n");
  cg_printf(b, "  for (int i = 0; i < n; i++) {\n");
  cg_printf(b, "    char kb[64];\n    const char *ks;\n    size_t kn;\n");
  cg_printf(b, "    if (!ttb_jr_key_at(r, k, kb, sizeof kb, &ks, &kn))\n      return false;\n");
  cg_printf(b, "    int v = k + 1;\n    int rc = 0;\n");
  cg_printf(b, "    if (!ttb_jr_null_at(r, v)) {\n");
  cg_printf(b, "      rc = %s_json_field(r, ks, kn, v, m%s);\n", F, AA);
  if (flat >= 0) {
    const cg_oneof *o = &m->oneofs[flat];
    cg_printf(b,
              "      if (rc == 0 && kn == %zu && memcmp(ks, \"%s\", %zu) == 0)\n        rc = 1;\n",
              strlen(o->discriminator), o->discriminator, strlen(o->discriminator));
    for (size_t i = 0; i < m->nfields; i++) {
      const cg_field *f = &m->fields[i];
      if (f->oneof != flat)
        continue;
      cg_printf(b, "      if (rc == 0 && %s)\n        rc = %s_json_field(r, ks, kn, v, %s%s%s);\n",
                case_is(fl, m, f), fn(fl, f->msg), fl->pbc ? "" : "&", member(fl, m, f), AA);
    }
  }
  cg_printf(b, "    }\n");
  cg_printf(b, "    if (rc < 0 || r->status != TTB_JSON_OK)\n      return false;\n");
  cg_printf(b, "    if (rc == 0 && !ttb_jr_skip_value(r, v))\n      return false;\n");
  cg_printf(b, "    k = ttb_jr_after(r, v);\n  }\n  return true;\n}\n\n");
}

/* The most jsmn tokens a JSON text of m can take when it keeps to the
 * schema's bounds ((ttboost.max_count)): the object, each key and each
 * value, arrays at their largest. 0 when some repeated field has no bound. */
static unsigned json_token_bound(const cg_msg *m, int depth)
{
  if (depth > 16)
    return 0;
  unsigned n = 1; /* the object */
  for (size_t i = 0; i < m->noneofs; i++)
    if (m->oneofs[i].discriminator)
      n += 2; /* its key and value */
  for (size_t i = 0; i < m->nfields; i++) {
    const cg_field *f = &m->fields[i];
    unsigned v = 1;
    if (f->kind == CG_MESSAGE) {
      v = json_token_bound(f->msg, depth + 1);
      if (v == 0)
        return 0;
    }
    if (f->repeated) {
      if (f->max_count == 0)
        return 0;
      v = 1 + f->max_count * v;
    }
    n += 1 + v;
  }
  return n;
}

/* Is nanopb's _init_zero of m all zero bytes? It is but for enums whose
 * least value is negative (init_zero holds that value). */
static bool npb_zero_is_bits(const cg_msg *m, int depth)
{
  if (depth > 32)
    return false;
  for (size_t i = 0; i < m->nfields; i++) {
    const cg_field *f = &m->fields[i];
    if (f->kind == CG_ENUM) {
      if (f->en == NULL)
        return false;
      for (size_t v = 0; v < f->en->nvalues; v++)
        if (f->en->values[v].number < 0)
          return false;
    } else if (f->kind == CG_MESSAGE) {
      if (f->msg == NULL || !npb_zero_is_bits(f->msg, depth + 1))
        return false;
    }
  }
  return true;
}

/* -------------------------------------------------------------- validate */

static void emit_validate(cg_sb *b, const flav *fl, const cg_msg *m)
{
  const char *F = fn(fl, m), *T = ctype(fl, m);
  cg_printf(b, "bool %s_validate(const %s *m, char *err, size_t errlen)\n{\n", F, T);
  bool any = false;
  for (size_t i = 0; i < m->nfields; i++) {
    const cg_field *f = &m->fields[i];
    const char *v = member(fl, m, f);
    const char *ind = "  ";
    if (f->kind != CG_STRING && f->kind != CG_BYTES && f->kind != CG_MESSAGE && !f->repeated)
      continue;
    any = true;
    if (f->oneof >= 0) {
      cg_printf(b, "  if (%s) {\n", case_is(fl, m, f));
      ind = "    ";
    } else if (f->kind == CG_MESSAGE && !f->repeated) {
      cg_printf(b, "  if (%s) {\n",
                fl->pbc ? cg_fmt("%s != NULL", v) : cg_fmt("m->has_%s", f->name));
      ind = "    ";
    }
    const char *e = v;
    if (f->repeated) {
      cg_printf(b,
                "%sif (!ttb_json_check_len((size_t)%s, %u, \"%s\", \"too many elements\", err, "
                "errlen))\n%s  return false;\n",
                ind, count_expr(fl, f), f->max_count, f->name, ind);
      cg_printf(b, "%sfor (size_t i = 0; i < (size_t)%s; i++) {\n", ind, count_expr(fl, f));
      e = cg_fmt("%s[i]", v);
      ind = cg_fmt("%s  ", ind);
    }
    switch (f->kind) {
    case CG_STRING:
      cg_printf(b,
                "%sif (!ttb_json_check_string(%s, %u, \"%s\", err, errlen))\n%s  return false;\n",
                ind, e, f->max_length, f->name, ind);
      break;
    case CG_BYTES:
      cg_printf(b,
                "%sif (!ttb_json_check_len(%s.%s, %u, \"%s\", \"too long\", err, errlen))\n%s  "
                "return false;\n",
                ind, e, fl->pbc ? "len" : "size", f->max_length, f->name, ind);
      break;
    case CG_MESSAGE:
      if (fl->pbc)
        cg_printf(b,
                  "%sif (%s == NULL || !%s_validate(%s, err, errlen))\n%s  return %s == NULL ? "
                  "ttb_json_check_len(1, 0, \"%s\", \"missing\", err, errlen) : false;\n",
                  ind, e, fn(fl, f->msg), e, ind, e, f->name);
      else
        cg_printf(b, "%sif (!%s_validate(&%s, err, errlen))\n%s  return false;\n", ind,
                  fn(fl, f->msg), e, ind);
      break;
    default:
      break;
    }
    if (f->repeated)
      cg_printf(b, "  %s}\n", f->oneof >= 0 ? "  " : "");
    if (f->oneof >= 0 || (f->kind == CG_MESSAGE && !f->repeated))
      cg_printf(b, "  }\n");
  }
  if (!any)
    cg_printf(b, "  (void)m;\n  (void)err;\n  (void)errlen;\n");
  cg_printf(b, "  return true;\n}\n\n");
}

/* ----------------------------------------------------------- convenience */

static void emit_convenience(cg_sb *b, const flav *fl, const cg_msg *m)
{
  const char *F = fn(fl, m), *T = ctype(fl, m);
  if (fl->pbc) {
    const char *L = cg_pbc_lower(m->pkg, m->name);
    cg_printf(b,
              "char *%s_to_json(const %s *m, size_t *len, ttb_json_error *err)\n{\n"
              "  ttb_jw w;\n"
              "  ttb_jw_init(&w, 512);\n"
              "  if (!%s_json_encode(&w, m)) {\n"
              "    ttb_json_set_error(err, w.status, w.err);\n"
              "    ttb_jw_finish(&w);\n"
              "    return NULL;\n"
              "  }\n"
              "  char *s = ttb_jw_take(&w, len);\n"
              "  if (s == NULL)\n"
              "    ttb_json_set_error(err, TTB_JSON_NOMEM, \"out of memory\");\n"
              "  return s;\n}\n\n",
              F, T, F);
    cg_printf(b,
              "%s *%s_from_json(const char *js, size_t len, ProtobufCAllocator *a, ttb_json_error "
              "*err)\n{\n"
              "  jsmntok_t toks[TTB_JSON_STACK_TOKENS];\n"
              "  ttb_jr r;\n"
              "  if (!ttb_jr_parse_small(&r, js, len, toks, TTB_JSON_STACK_TOKENS, "
              "TTB_JSON_MAX_TOKENS_HEAP)) {\n"
              "    ttb_json_set_error(err, r.status, r.err);\n"
              "    ttb_jr_finish(&r);\n"
              "    return NULL;\n"
              "  }\n"
              "  %s *m = ttb_pbc_alloc(a, sizeof *m);\n"
              "  if (m == NULL) {\n"
              "    ttb_json_set_error(err, TTB_JSON_NOMEM, \"out of memory\");\n"
              "    ttb_jr_finish(&r);\n"
              "    return NULL;\n"
              "  }\n"
              "  %s__init(m);\n"
              "  if (!%s_json_decode(&r, 0, m, a)) {\n"
              "    ttb_json_set_error(err, r.status, r.err);\n"
              "    %s__free_unpacked(m, a);\n"
              "    m = NULL;\n"
              "  }\n"
              "  ttb_jr_finish(&r);\n"
              "  return m;\n}\n\n",
              T, F, T, L, F, L);
  } else {
    const char *NT = cg_npb_type(m->pkg, m->name);
    cg_printf(
        b,
        "bool %s_to_json(const %s *m, char *buf, size_t cap, size_t *len, ttb_json_error *err)\n{\n"
        "  ttb_jw w;\n"
        "  ttb_jw_init_fixed(&w, buf, cap);\n"
        "  if (!%s_json_encode(&w, m) || w.len >= cap) {\n"
        "    if (w.status == TTB_JSON_OK)\n"
        "      ttb_jw_fail(&w, TTB_JSON_LIMIT, NULL, \"output larger than the buffer\");\n"
        "    ttb_json_set_error(err, w.status, w.err);\n"
        "    return false;\n"
        "  }\n"
        "  buf[w.len] = '\\0';\n"
        "  if (len)\n"
        "    *len = w.len;\n"
        "  return true;\n}\n\n",
        F, T, F);
    /* the client decodes on the stack: room for the largest text the
     * schema allows (and some unknown keys), at least TTB_JSON_MAX_TOKENS */
    unsigned bound = json_token_bound(m, 0);
    char ntok[48] = "TTB_JSON_MAX_TOKENS";
    if (bound + 64 > 512)
      snprintf(ntok, sizeof ntok, "%u", bound + 64);
    cg_printf(b,
              "bool %s_from_json(const char *js, size_t len, %s *m, ttb_json_error *err)\n{\n"
              "  jsmntok_t toks[%s];\n"
              "  ttb_jr r;\n",
              F, T, ntok);
    if (npb_zero_is_bits(m, 0))
      cg_printf(b, "  ttb_json_zero(m, sizeof *m); /* = %s_init_zero */\n", NT);
    else
      cg_printf(b, "  const %s zero = %s_init_zero;\n  *m = zero;\n", T, NT);
    cg_printf(b,
              "  if (!ttb_jr_parse(&r, js, len, toks, %s) || "
              "!%s_json_decode_in(&r, 0, m, true)) {\n"
              "    ttb_json_set_error(err, r.status, r.err);\n"
              "    return false;\n"
              "  }\n"
              "  return true;\n}\n\n",
              ntok, F);
  }
}

/* ----------------------------------------------------------------- enums */

/* Enums used by the file's messages, once each. */
static size_t used_enums(const cg_file *f, const cg_enum **out, size_t cap)
{
  size_t n = 0;
  for (size_t i = 0; i < f->nmsgs; i++)
    for (size_t k = 0; k < f->msgs[i]->nfields; k++) {
      const cg_enum *e = f->msgs[i]->fields[k].en;
      if (e == NULL)
        continue;
      bool seen = false;
      for (size_t j = 0; j < n; j++)
        seen = seen || out[j] == e;
      if (!seen && n < cap)
        out[n++] = e;
    }
  return n;
}

static void emit_enum(cg_sb *b, const flav *fl, const cg_enum *e)
{
  const char *N = enum_fn(e);
  cg_printf(b, "static bool enc_%s(ttb_jw *w, int v)\n{\n  switch (v) {\n", N);
  for (size_t i = 0; i < e->nvalues; i++)
    cg_printf(b, "  case %d:\n    return ttb_jw_string(w, NULL, \"%s\", %zu);\n",
              e->values[i].number, e->values[i].name, strlen(e->values[i].name));
  cg_printf(b, "  default:\n    return ttb_jw_i64(w, v);\n  }\n}\n\n");
  cg_printf(b,
            "static bool dec_%s(ttb_jr *r, int i, const char *field, int *out)\n{\n"
            "  if (r->toks[i].type == JSMN_PRIMITIVE) {\n"
            "    int64_t x;\n"
            "    if (!ttb_jr_i64(r, i, field, INT32_MIN, INT32_MAX, &x))\n"
            "      return false;\n"
            "    *out = (int)x;\n"
            "    return true;\n"
            "  }\n"
            "  if (!ttb_jr_expect_string(r, i, field))\n"
            "    return false;\n"
            "  const char *s;\n"
            "  size_t n;\n"
            "  if (ttb_jr_raw_string(r, i, &s, &n)) {\n",
            N);
  for (size_t i = 0; i < e->nvalues; i++)
    cg_printf(b,
              "    if (n == %zu && memcmp(s, \"%s\", %zu) == 0) {\n      *out = %d;\n      return "
              "true;\n    }\n",
              strlen(e->values[i].name), e->values[i].name, strlen(e->values[i].name),
              e->values[i].number);
  cg_printf(b,
            "  }\n  return ttb_jr_fail(r, TTB_JSON_TYPE, field, \"unknown value of %s\");\n}\n\n",
            e->name);
  (void)fl;
}

/* ----------------------------------------------------------------- files */

static void stamp(cg_sb *b, const cg_file *f)
{
  cg_printf(b,
            "/* Generated by protoc-gen-ttb (codegen/) from %s. DO NOT EDIT.\n"
            " * Regenerate with: codegen/regen.sh */\n",
            f->name);
}

static void emit_header(cg_sb *b, const flav *fl, const cg_model *mdl, const cg_file *f)
{
  const char *stem = cg_file_stem(f);
  const char *guard = cg_upper(cg_fmt("TTB_%s_%s_JSON_H", fl->tag, stem));
  for (char *p = (char *)guard; *p; p++)
    if (*p == '/' || *p == '.' || *p == '-')
      *p = '_';
  stamp(b, f);
  cg_printf(b, "/*\n * JSON codecs for the %s structs of %s (%s).\n",
            fl->pbc ? "protobuf-c" : "nanopb", f->name,
            fl->pbc ? "server side: heap messages freed with <type>__free_unpacked()"
                    : "client side: fixed-size structs, no allocation");
  cg_printf(b,
            " *\n * For each message X:\n"
            " *   _json_encode  writes X as a JSON object into a ttb_jw;\n"
            " *   _json_decode  reads the object at token tok of a parsed ttb_jr into *m%s;\n"
            " *   _validate     checks bounds and UTF-8 of a message decoded from binary;\n"
            " *   _to_json / _from_json  one-call conveniences.\n"
            " * _json_fields and _json_field are the pieces a flattened envelope\n"
            " * uses (fields without braces; one key: 1 matched, 0 unknown, -1 error).\n"
            " * Errors name the field: see ttboost/json.h.\n */\n",
            fl->pbc
                ? " (initialised with <type>__init; what it allocates is freed by free_unpacked)"
                : " (initialised with <type>_init_zero)");
  cg_printf(b, "#ifndef %s\n#define %s\n\n", guard, guard);
  if (fl->pbc)
    cg_printf(b, "#include \"ttboost/json_pbc.h\"\n#include \"%s.pb-c.h\"\n", stem);
  else
    cg_printf(b, "#include \"ttboost/json.h\"\n#include \"%s.pb.h\"\n", stem);
  for (size_t i = 0; i < f->ndeps; i++) {
    const cg_file *dep = NULL;
    for (size_t k = 0; k < mdl->nfiles; k++)
      if (strcmp(mdl->files[k].name, f->deps[i]) == 0)
        dep = &mdl->files[k];
    if (dep == NULL || dep->nmsgs == 0 || strncmp(dep->name, "google/", 7) == 0 ||
        strcmp(dep->name, "ttboost/options.proto") == 0)
      continue;
    cg_printf(b, "#include \"%s.%s-json.h\"\n", cg_file_stem(dep), fl->tag);
  }
  cg_printf(b, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  if (fl->pbc)
    cg_printf(b,
              "#ifndef TTB_JSON_MAX_TOKENS_HEAP\n#define TTB_JSON_MAX_TOKENS_HEAP 65536\n#endif\n"
              "/* Tokens a decode keeps on the stack before it moves them to the heap. */\n"
              "#ifndef TTB_JSON_STACK_TOKENS\n#define TTB_JSON_STACK_TOKENS 64\n#endif\n\n");
  for (size_t i = 0; i < f->nmsgs; i++) {
    const cg_msg *m = f->msgs[i];
    const char *F = fn(fl, m), *T = ctype(fl, m);
    const char *A = fl->pbc ? ", ProtobufCAllocator *a" : "";
    cg_printf(b, "/* %s%s%s */\n", m->full, *m->comment ? ": " : "", m->comment);
    cg_printf(b, "bool %s_json_encode(ttb_jw *w, const %s *m);\n", F, T);
    cg_printf(b, "bool %s_json_fields(ttb_jw *w, const %s *m);\n", F, T);
    cg_printf(b, "bool %s_json_decode(ttb_jr *r, int tok, %s *m%s);\n", F, T, A);
    cg_printf(b, "int %s_json_field(ttb_jr *r, const char *k, size_t kn, int v, %s *m%s);\n", F, T,
              A);
    cg_printf(b, "bool %s_validate(const %s *m, char *err, size_t errlen);\n", F, T);
    if (fl->pbc) {
      cg_printf(b, "/* malloc'd NUL-terminated JSON (free()), or NULL with *err set. */\n");
      cg_printf(b, "char *%s_to_json(const %s *m, size_t *len, ttb_json_error *err);\n", F, T);
      cg_printf(b,
                "/* A new message (free with %s__free_unpacked(m, a)), or NULL with *err set. */\n",
                cg_pbc_lower(m->pkg, m->name));
      cg_printf(b,
                "%s *%s_from_json(const char *js, size_t len, ProtobufCAllocator *a, "
                "ttb_json_error *err);\n\n",
                T, F);
    } else {
      cg_printf(b, "/* JSON into buf[cap], NUL-terminated; false with *err set. */\n");
      cg_printf(b,
                "bool %s_to_json(const %s *m, char *buf, size_t cap, size_t *len, ttb_json_error "
                "*err);\n",
                F, T);
      cg_printf(b, "/* Decodes into *m (reset first); false with *err set. No allocation. */\n");
      cg_printf(b, "bool %s_from_json(const char *js, size_t len, %s *m, ttb_json_error *err);\n\n",
                F, T);
    }
  }
  cg_printf(b, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

static void emit_source(cg_sb *b, const flav *fl, const cg_file *f)
{
  const char *stem = cg_file_stem(f);
  stamp(b, f);
  cg_printf(b, "#include \"%s.%s-json.h\"\n\n#include <stdint.h>\n#include <string.h>\n\n", stem,
            fl->tag);
  const cg_enum *ens[64];
  size_t ne = used_enums(f, ens, 64);
  for (size_t i = 0; i < ne; i++)
    emit_enum(b, fl, ens[i]);
  for (size_t i = 0; i < f->nmsgs; i++) {
    const cg_msg *m = f->msgs[i];
    cg_printf(b, "/* ---- %s */\n\n", m->full);
    emit_encoder(b, fl, m);
    emit_decoder(b, fl, m);
    emit_validate(b, fl, m);
    emit_convenience(b, fl, m);
  }
}

void cg_emit_json(const cg_model *mdl, const cg_file *f, cg_out *out)
{
  static const flav flavs[2] = {{true, "pbc"}, {false, "npb"}};
  if (f->nmsgs == 0)
    return;
  for (int k = 0; k < 2; k++) {
    const flav *fl = &flavs[k];
    const char *stem = cg_file_stem(f);
    cg_sb h = {0}, c = {0};
    emit_header(&h, fl, mdl, f);
    emit_source(&c, fl, f);
    cg_out_add(out, cg_fmt("%s.%s-json.h", stem, fl->tag), &h);
    cg_out_add(out, cg_fmt("%s.%s-json.c", stem, fl->tag), &c);
  }
}
