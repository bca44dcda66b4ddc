/*
 * Every vector of tests/vectors (made by protobuf's Python implementation and
 * an independent Python implementation of the JSON mapping) through both
 * flavours of generated codecs, in both directions:
 *   JSON  -> struct -> protobuf bytes  == NAME.pb
 *   bytes -> struct -> JSON            == NAME.json (byte for byte)
 * so protobuf-c and nanopb agree byte for byte with each other and with
 * the reference.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vtypes.h"

#ifndef VECTORS_DIR
#error "VECTORS_DIR must be defined"
#endif

static uint8_t *slurp(const char *name, const char *ext, size_t *len)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s%s", VECTORS_DIR, name, ext);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  uint8_t *buf = malloc(1 << 16);
  cr_assert_not_null(buf);
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

typedef void (*vector_fn)(const char *name, const vtype *t, const uint8_t *js, size_t jn,
                          const uint8_t *pb, size_t pn);

static int for_each_vector(vector_fn fn)
{
  char path[512];
  snprintf(path, sizeof path, "%s/index.txt", VECTORS_DIR);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "cannot open %s", path);
  char name[128], type[128];
  int n = 0;
  while (fscanf(f, "%127s %127s", name, type) == 2) {
    const vtype *t = vtype_find(type);
    cr_assert_not_null(t, "%s: unknown type %s", name, type);
    size_t jn, pn;
    uint8_t *js = slurp(name, ".json", &jn);
    uint8_t *pb = slurp(name, ".pb", &pn);
    cr_assert(jn > 0 && js[jn - 1] == '\n', "%s.json must end with a newline", name);
    fn(name, t, js, jn - 1, pb, pn);
    free(js);
    free(pb);
    n++;
  }
  fclose(f);
  return n;
}

static void pbc_json_to_binary(const char *name, const vtype *t, const uint8_t *js, size_t jn,
                               const uint8_t *pb, size_t pn)
{
  ttb_json_error err = {0};
  ProtobufCMessage *m = t->pbc_from_json((const char *)js, jn, &err);
  cr_assert_not_null(m, "%s: pbc decode failed: %s", name, err.msg);
  size_t sz = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(sz + 1);
  protobuf_c_message_pack(m, buf);
  cr_expect(sz == pn && memcmp(buf, pb, pn) == 0,
            "%s: pbc bytes differ from the vector (%zu vs %zu)", name, sz, pn);
  free(buf);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void pbc_binary_to_json(const char *name, const vtype *t, const uint8_t *js, size_t jn,
                               const uint8_t *pb, size_t pn)
{
  ProtobufCMessage *m = protobuf_c_message_unpack(t->pbc_desc, NULL, pn, pb);
  cr_assert_not_null(m, "%s: protobuf-c unpack failed", name);
  char verr[160] = "";
  cr_expect(t->pbc_validate(m, verr, sizeof verr), "%s: validate: %s", name, verr);
  ttb_json_error err = {0};
  size_t n = 0;
  char *out = t->pbc_to_json(m, &n, &err);
  cr_assert_not_null(out, "%s: pbc encode failed: %s", name, err.msg);
  cr_expect(n == jn && memcmp(out, js, jn) == 0, "%s: pbc JSON differs:\n got  %s\n want %.*s",
            name, out, (int)jn, js);
  free(out);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void npb_json_to_binary(const char *name, const vtype *t, const uint8_t *js, size_t jn,
                               const uint8_t *pb, size_t pn)
{
  void *m = calloc(1, t->npb_size);
  ttb_json_error err = {0};
  cr_assert(t->npb_from_json((const char *)js, jn, m, &err), "%s: npb decode failed: %s", name,
            err.msg);
  uint8_t buf[8192];
  pb_ostream_t os = pb_ostream_from_buffer(buf, sizeof buf);
  cr_assert(pb_encode(&os, t->npb_fields, m), "%s: pb_encode: %s", name, PB_GET_ERROR(&os));
  cr_expect(os.bytes_written == pn && memcmp(buf, pb, pn) == 0,
            "%s: nanopb bytes differ from the vector (%zu vs %zu)", name, os.bytes_written, pn);
  free(m);
}

static void npb_binary_to_json(const char *name, const vtype *t, const uint8_t *js, size_t jn,
                               const uint8_t *pb, size_t pn)
{
  void *m = calloc(1, t->npb_size);
  pb_istream_t is = pb_istream_from_buffer(pb, pn);
  cr_assert(pb_decode(&is, t->npb_fields, m), "%s: pb_decode: %s", name, PB_GET_ERROR(&is));
  char verr[160] = "";
  cr_expect(t->npb_validate(m, verr, sizeof verr), "%s: validate: %s", name, verr);
  static char out[16384];
  size_t n = 0;
  ttb_json_error err = {0};
  cr_assert(t->npb_to_json(m, out, sizeof out, &n, &err), "%s: npb encode failed: %s", name,
            err.msg);
  cr_expect(n == jn && memcmp(out, js, jn) == 0, "%s: npb JSON differs:\n got  %s\n want %.*s",
            name, out, (int)jn, js);
  free(m);
}

Test(vectors, pbc_json_to_binary) { cr_expect(for_each_vector(pbc_json_to_binary) >= 30); }
Test(vectors, pbc_binary_to_json) { cr_expect(for_each_vector(pbc_binary_to_json) >= 30); }
Test(vectors, npb_json_to_binary) { cr_expect(for_each_vector(npb_json_to_binary) >= 30); }
Test(vectors, npb_binary_to_json) { cr_expect(for_each_vector(npb_binary_to_json) >= 30); }
