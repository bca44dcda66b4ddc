/*
 * The schema as protoc-gen-ttb sees it: files, messages, fields, oneofs,
 * enums and HTTP methods, with the ttboost options (options.proto) resolved
 * and the comments of the .proto source attached. Built once from the
 * CodeGeneratorRequest; everything lives in the arena (sb.h).
 */
#ifndef TTB_CG_MODEL_H
#define TTB_CG_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cg_kind {
  CG_BOOL,
  CG_INT32,
  CG_SINT32,
  CG_SFIXED32,
  CG_UINT32,
  CG_FIXED32,
  CG_INT64,
  CG_SINT64,
  CG_SFIXED64,
  CG_UINT64,
  CG_FIXED64,
  CG_STRING,
  CG_BYTES,
  CG_ENUM,
  CG_MESSAGE,
} cg_kind;

struct cg_msg;
struct cg_enum;
struct cg_file;

typedef struct cg_field {
  const char *name;
  int number;
  cg_kind kind;
  bool repeated;
  bool omit_default;    /* (ttboost.json_omit_default) */
  uint32_t max_length;  /* (ttboost.max_length), strings and bytes */
  uint32_t max_count;   /* (ttboost.max_count), repeated fields */
  const char *json_tag; /* (ttboost.json_tag), or the name */
  int oneof;            /* index in the message's oneofs, or -1 */
  struct cg_msg *msg;   /* CG_MESSAGE */
  struct cg_enum *en;   /* CG_ENUM */
  const char *comment;
} cg_field;

typedef struct cg_oneof {
  const char *name;
  const char *discriminator; /* (ttboost.json_discriminator): flattened; NULL: nested */
  const char *comment;
} cg_oneof;

typedef struct cg_msg {
  const char *full; /* ttboost.v1.ChatEvent */
  const char *name; /* ChatEvent */
  const char *pkg;  /* ttboost.v1 */
  struct cg_file *file;
  cg_field *fields;
  size_t nfields;
  cg_oneof *oneofs;
  size_t noneofs;
  const char *comment;
} cg_msg;

typedef struct cg_value {
  const char *name;
  int number;
  const char *comment;
} cg_value;

typedef struct cg_enum {
  const char *full;
  const char *name;
  const char *pkg;
  struct cg_file *file;
  cg_value *values;
  size_t nvalues;
  const char *comment;
} cg_enum;

typedef struct cg_http {
  const char *method;
  const char *path;
  const char *summary;
  const char *auth;
  uint32_t errors[16];
  size_t nerrors;
  const char *content_type;
} cg_http;

typedef struct cg_method {
  const char *name;
  cg_msg *input;
  cg_msg *output;
  cg_http *http; /* NULL when the method has no (ttboost.http) */
  const char *comment;
} cg_method;

typedef struct cg_file {
  const char *name; /* ttboost/v1/events.proto */
  const char *pkg;
  bool generate; /* listed in file_to_generate */
  cg_msg **msgs;
  size_t nmsgs;
  cg_enum **enums;
  size_t nenums;
  cg_method *methods;
  size_t nmethods;
  const char **deps; /* imported file names */
  size_t ndeps;
  const char *comment; /* the comment before `syntax` */
} cg_file;

typedef struct cg_model {
  cg_file *files;
  size_t nfiles;
  const char *parameter;
} cg_model;

/* Builds the model from a serialized CodeGeneratorRequest; dies with a
 * message on a schema it cannot serve (a missing bound, a float, a map, a
 * nested type, a JSON key clash). */
cg_model *cg_model_build(const uint8_t *req, size_t len);

/* Names of a message or enum in each flavour of generated C. */
const char *cg_pbc_type(const char *pkg, const char *name);  /* Ttboost__V1__ChatEvent */
const char *cg_pbc_lower(const char *pkg, const char *name); /* ttboost__v1__chat_event */
const char *cg_pbc_upper(const char *pkg, const char *name); /* TTBOOST__V1__CHAT_EVENT */
const char *cg_npb_type(const char *pkg, const char *name);  /* ttboost_v1_ChatEvent */
const char *cg_upper(const char *s);                         /* plain upper-casing */

/* The file's name without ".proto" (ttboost/v1/events). */
const char *cg_file_stem(const cg_file *f);

/* True when a message (by full name) is a case of some flattened oneof. */
bool cg_is_case(const cg_model *m, const cg_msg *msg);

#endif
