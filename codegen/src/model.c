/* Builds the cg_model from protoc's CodeGeneratorRequest (see model.h). */
#include "model.h"

#include <ctype.h>
#include <string.h>

#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "sb.h"
#include "ttboost/options.pb-c.h"

/* Field numbers of the options in schema/ttboost/options.proto. */
enum {
  OPT_JSON_DISCRIMINATOR = 51001,
  OPT_JSON_TAG = 51002,
  OPT_MAX_LENGTH = 51003,
  OPT_MAX_COUNT = 51004,
  OPT_JSON_OMIT_DEFAULT = 51005,
  OPT_HTTP = 51010,
};

/* ------------------------------------------------------------------ names */

const char *cg_upper(const char *s)
{
  char *p = cg_strdup(s);
  for (char *q = p; *q; q++)
    *q = (char)toupper((unsigned char)*q);
  return p;
}

/* protobuf-c's CamelToLower / CamelToUpper: '_' before an upper-case letter
 * that follows a lower-case one. */
static const char *camel(const char *s, bool upper)
{
  cg_sb b = {0};
  bool was_upper = true;
  for (const char *p = s; *p; p++) {
    bool is_upper = isupper((unsigned char)*p) != 0;
    if (is_upper && !was_upper)
      cg_put(&b, "_", 1);
    char c = upper ? (char)toupper((unsigned char)*p) : (char)tolower((unsigned char)*p);
    cg_put(&b, &c, 1);
    was_upper = is_upper;
  }
  const char *r = cg_strdup(b.p ? b.p : "");
  cg_sb_free(&b);
  return r;
}

/* Package parts joined for protobuf-c: ttboost.v1 -> Ttboost__V1 (mode 0),
 * ttboost__v1 (mode 1), TTBOOST__V1 (mode 2). */
static void pkg_parts(cg_sb *b, const char *pkg, int mode)
{
  const char *p = pkg;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    for (size_t i = 0; i < n; i++) {
      char c = p[i];
      if (mode == 0)
        c = i == 0 ? (char)toupper((unsigned char)c) : c;
      else if (mode == 1)
        c = (char)tolower((unsigned char)c);
      else
        c = (char)toupper((unsigned char)c);
      cg_put(b, &c, 1);
    }
    cg_put(b, "__", 2);
    p += n;
    if (*p == '.')
      p++;
  }
}

static const char *pbc_name(const char *pkg, const char *name, int mode)
{
  cg_sb b = {0};
  pkg_parts(&b, pkg, mode);
  const char *n = mode == 0 ? name : camel(name, mode == 2);
  cg_printf(&b, "%s", n);
  const char *r = cg_strdup(b.p);
  cg_sb_free(&b);
  return r;
}

const char *cg_pbc_type(const char *pkg, const char *name) { return pbc_name(pkg, name, 0); }
const char *cg_pbc_lower(const char *pkg, const char *name) { return pbc_name(pkg, name, 1); }
const char *cg_pbc_upper(const char *pkg, const char *name) { return pbc_name(pkg, name, 2); }

const char *cg_npb_type(const char *pkg, const char *name)
{
  char *p = cg_fmt("%s_%s", pkg, name);
  for (char *q = p; *q; q++)
    if (*q == '.')
      *q = '_';
  return p;
}

const char *cg_file_stem(const cg_file *f)
{
  size_t n = strlen(f->name);
  if (n > 6 && strcmp(f->name + n - 6, ".proto") == 0)
    n -= 6;
  return cg_strndup(f->name, n);
}

/* --------------------------------------------------------------- options */

static uint64_t varint(const uint8_t *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n && i < 10; i++) {
    v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
    if (!(p[i] & 0x80))
      break;
  }
  return v;
}

static const ProtobufCMessageUnknownField *unknown(const ProtobufCMessage *m, uint32_t tag)
{
  if (m == NULL)
    return NULL;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == tag)
      return &m->unknown_fields[i];
  return NULL;
}

/* protobuf-c keeps a length-prefixed unknown field with its length varint:
 * point *p, *n at the payload. */
static bool payload(const ProtobufCMessageUnknownField *u, const uint8_t **p, size_t *n)
{
  if (u == NULL || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
    return false;
  size_t k = 0;
  while (k < u->len && (u->data[k] & 0x80))
    k++;
  if (k >= u->len)
    return false;
  k++;
  uint64_t len = varint(u->data, k);
  if (len != u->len - k)
    return false;
  *p = u->data + k;
  *n = (size_t)len;
  return true;
}

static const char *opt_string(const ProtobufCMessage *m, uint32_t tag)
{
  const uint8_t *p;
  size_t n;
  if (!payload(unknown(m, tag), &p, &n))
    return NULL;
  return cg_strndup((const char *)p, n);
}

static uint64_t opt_varint(const ProtobufCMessage *m, uint32_t tag)
{
  const ProtobufCMessageUnknownField *u = unknown(m, tag);
  if (u == NULL || u->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
    return 0;
  return varint(u->data, u->len);
}

/* --------------------------------------------------------------- comments */

static const char *comment_at(const Google__Protobuf__FileDescriptorProto *fd, const int32_t *path,
                              size_t n)
{
  if (fd->source_code_info == NULL)
    return "";
  for (size_t i = 0; i < fd->source_code_info->n_location; i++) {
    const Google__Protobuf__SourceCodeInfo__Location *l = fd->source_code_info->location[i];
    if (l->n_path != n || memcmp(l->path, path, n * sizeof *path) != 0)
      continue;
    const char *c = l->leading_comments;
    if (c == NULL && l->n_leading_detached_comments > 0 && n == 1)
      c = l->leading_detached_comments[l->n_leading_detached_comments - 1];
    if (c == NULL)
      return "";
    /* one line: join lines, trim */
    cg_sb b = {0};
    bool space = false;
    for (const char *p = c; *p; p++) {
      if (*p == '\n' || *p == ' ' || *p == '\t') {
        space = b.n > 0;
        continue;
      }
      if (space)
        cg_put(&b, " ", 1);
      space = false;
      cg_put(&b, p, 1);
    }
    const char *r = cg_strdup(b.p ? b.p : "");
    cg_sb_free(&b);
    return r;
  }
  return "";
}

/* ----------------------------------------------------------------- build */

static cg_model *model;

static cg_msg *find_msg(const char *type_name)
{
  const char *full = type_name[0] == '.' ? type_name + 1 : type_name;
  for (size_t i = 0; i < model->nfiles; i++)
    for (size_t j = 0; j < model->files[i].nmsgs; j++)
      if (strcmp(model->files[i].msgs[j]->full, full) == 0)
        return model->files[i].msgs[j];
  return NULL;
}

static cg_enum *find_enum(const char *type_name)
{
  const char *full = type_name[0] == '.' ? type_name + 1 : type_name;
  for (size_t i = 0; i < model->nfiles; i++)
    for (size_t j = 0; j < model->files[i].nenums; j++)
      if (strcmp(model->files[i].enums[j]->full, full) == 0)
        return model->files[i].enums[j];
  return NULL;
}

static cg_kind kind_of(const Google__Protobuf__FieldDescriptorProto *f, const char *where)
{
  switch (f->type) {
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL:
    return CG_BOOL;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32:
    return CG_INT32;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
    return CG_SINT32;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32:
    return CG_SFIXED32;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32:
    return CG_UINT32;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32:
    return CG_FIXED32;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
    return CG_INT64;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
    return CG_SINT64;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64:
    return CG_SFIXED64;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64:
    return CG_UINT64;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64:
    return CG_FIXED64;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING:
    return CG_STRING;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES:
    return CG_BYTES;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM:
    return CG_ENUM;
  case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE:
    return CG_MESSAGE;
  default:
    cg_die("%s: field type %d is not supported (no floats, groups or maps in the TTBoost schema)",
           where, (int)f->type);
  }
}

/* First pass: names of every message and enum, so fields can point at them. */
/* descriptor.proto and friends: imported for options, never generated. */
static bool is_library(const Google__Protobuf__FileDescriptorProto *fd)
{
  return strncmp(fd->name, "google/protobuf/", 16) == 0;
}

static void declare(cg_file *cf, const Google__Protobuf__FileDescriptorProto *fd)
{
  cf->name = cg_strdup(fd->name);
  cf->pkg = cg_strdup(fd->package ? fd->package : "");
  int32_t spath[] = {12}; /* syntax */
  cf->comment = comment_at(fd, spath, 1);
  if (is_library(fd))
    return; /* known by name only */
  cf->nmsgs = fd->n_message_type;
  cf->msgs = cg_alloc(cf->nmsgs * sizeof *cf->msgs);
  for (size_t i = 0; i < fd->n_message_type; i++) {
    const Google__Protobuf__DescriptorProto *d = fd->message_type[i];
    if (d->n_nested_type || d->n_enum_type)
      cg_die("%s: %s: nested types are not supported; declare them at the top level", fd->name,
             d->name);
    cg_msg *m = cg_alloc(sizeof *m);
    m->name = cg_strdup(d->name);
    m->pkg = cf->pkg;
    m->full = *cf->pkg ? cg_fmt("%s.%s", cf->pkg, d->name) : m->name;
    m->file = cf;
    int32_t path[] = {4, (int32_t)i};
    m->comment = comment_at(fd, path, 2);
    cf->msgs[i] = m;
  }
  cf->nenums = fd->n_enum_type;
  cf->enums = cg_alloc(cf->nenums * sizeof *cf->enums);
  for (size_t i = 0; i < fd->n_enum_type; i++) {
    const Google__Protobuf__EnumDescriptorProto *d = fd->enum_type[i];
    cg_enum *e = cg_alloc(sizeof *e);
    e->name = cg_strdup(d->name);
    e->pkg = cf->pkg;
    e->full = *cf->pkg ? cg_fmt("%s.%s", cf->pkg, d->name) : e->name;
    e->file = cf;
    int32_t path[] = {5, (int32_t)i};
    e->comment = comment_at(fd, path, 2);
    e->nvalues = d->n_value;
    e->values = cg_alloc(e->nvalues * sizeof *e->values);
    for (size_t k = 0; k < d->n_value; k++) {
      e->values[k].name = cg_strdup(d->value[k]->name);
      e->values[k].number = d->value[k]->number;
      int32_t vpath[] = {5, (int32_t)i, 2, (int32_t)k};
      e->values[k].comment = comment_at(fd, vpath, 4);
    }
    cf->enums[i] = e;
  }
  cf->ndeps = fd->n_dependency;
  cf->deps = cg_alloc(cf->ndeps * sizeof *cf->deps + 1);
  for (size_t i = 0; i < fd->n_dependency; i++)
    cf->deps[i] = cg_strdup(fd->dependency[i]);
}

static bool same_key(const cg_msg *a, const char *key)
{
  for (size_t i = 0; i < a->nfields; i++)
    if (strcmp(a->fields[i].name, key) == 0)
      return true;
  return false;
}

static void define(cg_file *cf, const Google__Protobuf__FileDescriptorProto *fd)
{
  for (size_t i = 0; i < fd->n_message_type; i++) {
    const Google__Protobuf__DescriptorProto *d = fd->message_type[i];
    cg_msg *m = cf->msgs[i];
    m->noneofs = d->n_oneof_decl;
    m->oneofs = cg_alloc(m->noneofs * sizeof *m->oneofs + 1);
    for (size_t k = 0; k < d->n_oneof_decl; k++) {
      m->oneofs[k].name = cg_strdup(d->oneof_decl[k]->name);
      m->oneofs[k].discriminator =
          opt_string((const ProtobufCMessage *)d->oneof_decl[k]->options, OPT_JSON_DISCRIMINATOR);
      int32_t path[] = {4, (int32_t)i, 8, (int32_t)k};
      m->oneofs[k].comment = comment_at(fd, path, 4);
    }
    m->nfields = d->n_field;
    m->fields = cg_alloc(m->nfields * sizeof *m->fields + 1);
    for (size_t k = 0; k < d->n_field; k++) {
      const Google__Protobuf__FieldDescriptorProto *f = d->field[k];
      cg_field *cf2 = &m->fields[k];
      const char *where = cg_fmt("%s.%s", m->full, f->name);
      cf2->name = cg_strdup(f->name);
      cf2->number = f->number;
      cf2->kind = kind_of(f, where);
      cf2->repeated = f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
      if (f->has_proto3_optional && f->proto3_optional)
        cg_die("%s: proto3 optional is not supported by protobuf-c 1.4; use "
               "(ttboost.json_omit_default)",
               where);
      const ProtobufCMessage *o = (const ProtobufCMessage *)f->options;
      cf2->omit_default = opt_varint(o, OPT_JSON_OMIT_DEFAULT) != 0;
      cf2->max_length = (uint32_t)opt_varint(o, OPT_MAX_LENGTH);
      cf2->max_count = (uint32_t)opt_varint(o, OPT_MAX_COUNT);
      const char *tag = opt_string(o, OPT_JSON_TAG);
      cf2->json_tag = tag ? tag : cf2->name;
      cf2->oneof = f->has_oneof_index ? f->oneof_index : -1;
      int32_t path[] = {4, (int32_t)i, 2, (int32_t)k};
      cf2->comment = comment_at(fd, path, 4);
      if (cf2->kind == CG_MESSAGE) {
        cf2->msg = find_msg(f->type_name);
        if (cf2->msg == NULL)
          cg_die("%s: unknown message %s", where, f->type_name);
      } else if (cf2->kind == CG_ENUM) {
        cf2->en = find_enum(f->type_name);
        if (cf2->en == NULL)
          cg_die("%s: unknown enum %s", where, f->type_name);
      }
      if (!cf->generate)
        continue; /* an import: its bounds are its own business */
      if ((cf2->kind == CG_STRING || cf2->kind == CG_BYTES) && cf2->max_length == 0)
        cg_die("%s: a string or bytes field needs (ttboost.max_length)", where);
      if (cf2->repeated && cf2->max_count == 0)
        cg_die("%s: a repeated field needs (ttboost.max_count)", where);
      if (cf2->repeated && cf2->omit_default)
        cg_die("%s: json_omit_default is for singular fields", where);
    }
  }
  cf->nmethods = 0;
  for (size_t s = 0; s < fd->n_service; s++)
    cf->nmethods += fd->service[s]->n_method;
  cf->methods = cg_alloc(cf->nmethods * sizeof *cf->methods + 1);
  size_t mi = 0;
  for (size_t s = 0; s < fd->n_service; s++) {
    for (size_t k = 0; k < fd->service[s]->n_method; k++) {
      const Google__Protobuf__MethodDescriptorProto *md = fd->service[s]->method[k];
      cg_method *cm = &cf->methods[mi++];
      cm->name = cg_strdup(md->name);
      cm->input = find_msg(md->input_type);
      cm->output = find_msg(md->output_type);
      int32_t path[] = {6, (int32_t)s, 2, (int32_t)k};
      cm->comment = comment_at(fd, path, 4);
      const ProtobufCMessageUnknownField *u =
          unknown((const ProtobufCMessage *)md->options, OPT_HTTP);
      const uint8_t *hp;
      size_t hn;
      if (payload(u, &hp, &hn)) {
        Ttboost__HttpRule *r = ttboost__http_rule__unpack(NULL, hn, hp);
        if (r == NULL)
          cg_die("%s: invalid (ttboost.http)", md->name);
        cg_http *h = cg_alloc(sizeof *h);
        h->method = cg_strdup(r->method);
        h->path = cg_strdup(r->path);
        h->summary = cg_strdup(r->summary);
        h->auth = cg_strdup(r->auth);
        h->content_type = cg_strdup(*r->content_type ? r->content_type : "application/json");
        for (size_t e = 0; e < r->n_errors && e < 16; e++)
          h->errors[h->nerrors++] = r->errors[e];
        ttboost__http_rule__free_unpacked(r, NULL);
        cm->http = h;
      }
    }
  }
}

/* A flattened oneof's cases write their fields beside the envelope's: no key
 * may be written twice. */
static void check_flattening(void)
{
  for (size_t i = 0; i < model->nfiles; i++) {
    for (size_t j = 0; j < model->files[i].nmsgs; j++) {
      const cg_msg *m = model->files[i].msgs[j];
      int flat = -1;
      for (size_t k = 0; k < m->noneofs; k++) {
        if (m->oneofs[k].discriminator == NULL)
          continue;
        if (flat >= 0)
          cg_die("%s: at most one oneof per message may be flattened", m->full);
        flat = (int)k;
      }
      if (flat < 0)
        continue;
      const char *disc = m->oneofs[flat].discriminator;
      if (same_key(m, disc))
        cg_die("%s: discriminator \"%s\" clashes with a field", m->full, disc);
      for (size_t f = 0; f < m->nfields; f++) {
        const cg_field *c = &m->fields[f];
        if (c->oneof != flat)
          continue;
        if (c->kind != CG_MESSAGE || c->repeated)
          cg_die("%s.%s: a case of a flattened oneof must be a message", m->full, c->name);
        for (size_t g = 0; g < c->msg->nfields; g++) {
          const char *key = c->msg->fields[g].name;
          if (strcmp(key, disc) == 0)
            cg_die("%s: field \"%s\" clashes with the discriminator of %s", c->msg->full, key,
                   m->full);
          for (size_t e = 0; e < m->nfields; e++)
            if (m->fields[e].oneof != flat && strcmp(m->fields[e].name, key) == 0)
              cg_die("%s: field \"%s\" clashes with %s.%s when flattened", c->msg->full, key,
                     m->full, key);
        }
      }
    }
  }
}

bool cg_is_case(const cg_model *mm, const cg_msg *msg)
{
  for (size_t i = 0; i < mm->nfiles; i++)
    for (size_t j = 0; j < mm->files[i].nmsgs; j++) {
      const cg_msg *m = mm->files[i].msgs[j];
      for (size_t f = 0; f < m->nfields; f++)
        if (m->fields[f].oneof >= 0 && m->oneofs[m->fields[f].oneof].discriminator &&
            m->fields[f].msg == msg)
          return true;
    }
  return false;
}

cg_model *cg_model_build(const uint8_t *data, size_t len)
{
  Google__Protobuf__Compiler__CodeGeneratorRequest *req =
      google__protobuf__compiler__code_generator_request__unpack(NULL, len, data);
  if (req == NULL)
    cg_die("cannot parse the CodeGeneratorRequest on standard input (run me from protoc)");
  model = cg_alloc(sizeof *model);
  model->parameter = cg_strdup(req->parameter ? req->parameter : "");
  model->nfiles = req->n_proto_file;
  model->files = cg_alloc(model->nfiles * sizeof *model->files + 1);
  for (size_t i = 0; i < req->n_proto_file; i++) {
    declare(&model->files[i], req->proto_file[i]);
    for (size_t g = 0; g < req->n_file_to_generate; g++)
      if (strcmp(req->file_to_generate[g], req->proto_file[i]->name) == 0)
        model->files[i].generate = true;
  }
  for (size_t i = 0; i < req->n_proto_file; i++)
    if (!is_library(req->proto_file[i]))
      define(&model->files[i], req->proto_file[i]);
  check_flattening();
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
  return model;
}
