/*
 * libFuzzer target: the binary (protobuf) decoders of one message, both
 * flavours, as a receiver runs them: protobuf-c unpack + _validate (the
 * server; protobuf-c checks no bound and no UTF-8), nanopb pb_decode +
 * _validate (the client). Built once per message by tests/fuzz/meson.build
 * with -DFUZZ_MSG=ServerMessage -DFUZZ_LC=server_message.
 *
 * What passes _validate must:
 *   re-encode to binary, decode again and re-encode to the same bytes;
 *   encode to JSON (validate promised bounds and UTF-8), and that JSON must
 *   decode to a message that encodes to the same JSON.
 * (The two flavours are not required to agree on binary input: protobuf-c
 * and nanopb differ on things outside our code, such as embedded NULs in
 * strings; the JSON targets hold the flavours together.)
 */
#include "fuzz_common.h"

#if !defined(FUZZ_MSG) || !defined(FUZZ_LC)
#error "build with -DFUZZ_MSG=<Message> -DFUZZ_LC=<message_lower_case>"
#endif

#define PBC_T FUZZ_CAT(Ttboost__V1__, FUZZ_MSG)
#define NPB_T FUZZ_CAT(ttboost_v1_, FUZZ_MSG)
#define NPB_FIELDS FUZZ_CAT(NPB_T, _fields)
#define PBC_FN(s) FUZZ_CAT(FUZZ_CAT(ttboost__v1__, FUZZ_LC), s)
#define TTB_PBC(s) FUZZ_CAT(FUZZ_CAT(ttb_pbc_ttboost_v1_, FUZZ_MSG), s)
#define TTB_NPB(s) FUZZ_CAT(FUZZ_CAT(ttb_npb_ttboost_v1_, FUZZ_MSG), s)

/* Does m, or a message inside it, hold an unknown field numbered 0?
 * protobuf-c 1.4.1 (Debian 12) accepts field number 0 when the tag varint is
 * overlong (82 00 00: field 0, length 0), keeps it as an unknown field and
 * packs it back as 02 00, which its own unpack then rejects. That is
 * protobuf-c's bug, not ours (tests/fuzz/regressions/ holds the inputs); the
 * round trip is checked for everything else. */
static bool has_field0_unknown(const ProtobufCMessage *m)
{
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0)
      return true;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned f = 0; f < d->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[f];
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(const void *)(base + fd->quantifier_offset);
      ProtobufCMessage *const *v =
          *(ProtobufCMessage *const *const *)(const void *)(base + fd->offset);
      for (size_t k = 0; k < n; k++)
        if (v[k] && has_field0_unknown(v[k]))
          return true;
      continue;
    }
    if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(const void *)(base + fd->quantifier_offset) != fd->id)
      continue;
    const ProtobufCMessage *sub =
        *(const ProtobufCMessage *const *)(const void *)(base + fd->offset);
    if (sub && has_field0_unknown(sub))
      return true;
  }
  return false;
}

static void pbc_props(const PBC_T *m)
{
  size_t bn = PBC_FN(__get_packed_size)(m);
  uint8_t *b1 = malloc(bn + 1), *b2 = malloc(bn + 1);
  if (b1 == NULL || b2 == NULL)
    abort();
  if (PBC_FN(__pack)(m, b1) != bn)
    fuzz_fail("pbc: pack wrote a size other than get_packed_size", NULL, 0, NULL, 0);
  PBC_T *m2 = PBC_FN(__unpack)(NULL, bn, b1);
  if (m2 == NULL && !has_field0_unknown(&m->base))
    fuzz_fail("pbc: pack's output does not unpack", NULL, 0, NULL, 0);
  if (m2 != NULL) {
    if (PBC_FN(__get_packed_size)(m2) != bn || PBC_FN(__pack)(m2, b2) != bn ||
        memcmp(b1, b2, bn) != 0)
      fuzz_fail("pbc: pack(unpack(pack(m))) != pack(m)", NULL, 0, NULL, 0);
    PBC_FN(__free_unpacked)(m2, NULL);
  }
  free(b1);
  free(b2);

  ttb_json_error err;
  size_t l1 = 0, l2 = 0;
  char *j1 = TTB_PBC(_to_json)(m, &l1, &err);
  if (j1 == NULL)
    fuzz_fail("pbc: a validated message does not encode to JSON", err.msg, strlen(err.msg), NULL,
              0);
  PBC_T *m3 = TTB_PBC(_from_json)(j1, l1, NULL, &err);
  if (m3 == NULL)
    fuzz_fail("pbc: JSON of a validated message does not decode", j1, l1, err.msg, strlen(err.msg));
  char *j2 = TTB_PBC(_to_json)(m3, &l2, &err);
  if (j2 == NULL || l2 != l1 || memcmp(j1, j2, l1) != 0)
    fuzz_fail("pbc: JSON round trip changed a validated message", j1, l1, j2, j2 ? l2 : 0);
  free(j1);
  free(j2);
  PBC_FN(__free_unpacked)(m3, NULL);
}

static uint8_t nb1[FUZZ_JSON_CAP], nb2[FUZZ_JSON_CAP];
static char nj1[FUZZ_JSON_CAP], nj2[FUZZ_JSON_CAP];

static void npb_props(const NPB_T *m)
{
  static NPB_T m2;
  pb_ostream_t o1 = pb_ostream_from_buffer(nb1, sizeof nb1);
  if (!pb_encode(&o1, NPB_FIELDS, m))
    fuzz_fail("npb: a validated message does not pb_encode", PB_GET_ERROR(&o1),
              strlen(PB_GET_ERROR(&o1)), NULL, 0);
  pb_istream_t is = pb_istream_from_buffer(nb1, o1.bytes_written);
  if (!pb_decode(&is, NPB_FIELDS, &m2))
    fuzz_fail("npb: pb_encode's output does not pb_decode", PB_GET_ERROR(&is),
              strlen(PB_GET_ERROR(&is)), NULL, 0);
  pb_ostream_t o2 = pb_ostream_from_buffer(nb2, sizeof nb2);
  if (!pb_encode(&o2, NPB_FIELDS, &m2) || o2.bytes_written != o1.bytes_written ||
      memcmp(nb1, nb2, o1.bytes_written) != 0)
    fuzz_fail("npb: encode(decode(encode(m))) != encode(m)", NULL, 0, NULL, 0);

  ttb_json_error err;
  size_t l1 = 0, l2 = 0;
  if (!TTB_NPB(_to_json)(m, nj1, sizeof nj1, &l1, &err))
    fuzz_fail("npb: a validated message does not encode to JSON", err.msg, strlen(err.msg), NULL,
              0);
  if (!TTB_NPB(_from_json)(nj1, l1, &m2, &err))
    fuzz_fail("npb: JSON of a validated message does not decode", nj1, l1, err.msg,
              strlen(err.msg));
  if (!TTB_NPB(_to_json)(&m2, nj2, sizeof nj2, &l2, &err) || l2 != l1 || memcmp(nj1, nj2, l1) != 0)
    fuzz_fail("npb: JSON round trip changed a validated message", nj1, l1, nj2, l2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char verr[TTB_JSON_ERR_SIZE];

  PBC_T *pm = PBC_FN(__unpack)(NULL, size, data);
  if (pm != NULL) {
    if (TTB_PBC(_validate)(pm, verr, sizeof verr))
      pbc_props(pm);
    PBC_FN(__free_unpacked)(pm, NULL);
  }

  static NPB_T nm;
  pb_istream_t is = pb_istream_from_buffer(data, size);
  if (pb_decode(&is, NPB_FIELDS, &nm) && TTB_NPB(_validate)(&nm, verr, sizeof verr))
    npb_props(&nm);
  return 0;
}
