/* What protoc-gen-ttb writes: each emitter adds named files to a cg_out,
 * which main.c turns into the CodeGeneratorResponse. */
#ifndef TTB_CG_EMIT_H
#define TTB_CG_EMIT_H

#include "model.h"
#include "sb.h"

typedef struct cg_out_file {
  const char *name;
  cg_sb content;
} cg_out_file;

typedef struct cg_out {
  cg_out_file files[256];
  size_t n;
} cg_out;

/* Adds a file; takes the buffer (leaves *content empty). */
void cg_out_add(cg_out *o, const char *name, cg_sb *content);

/* JSON codecs in C for one file, both flavours: <stem>.{pbc,npb}-json.{c,h}. */
void cg_emit_json(const cg_model *m, const cg_file *f, cg_out *out);

/* nanopb's .options for one file (<stem>.options), from the bounds. */
void cg_emit_nanopb_options(const cg_model *m, const cg_file *f, cg_out *out);

/* For all files to generate: protocol/messages.md, api/openapi.json,
 * api/asyncapi.json. */
void cg_emit_docs(const cg_model *m, cg_out *out);

#endif
