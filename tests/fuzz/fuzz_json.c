/*
 * libFuzzer target: the generated JSON decoders of one message, both flavours.
 * Built once per message by tests/fuzz/meson.build with
 *   -DFUZZ_MSG=ServerMessage -DFUZZ_LC=server_message
 * (the proto name and protobuf-c's lower-case name).
 *
 * For an input it runs ttb_pbc_..._from_json (server) and
 * ttb_npb_..._from_json (client) and checks (see fuzz_common.h):
 *   both accept or both reject (token bound of nanopb aside);
 *   what one accepts encodes, re-decodes and re-encodes to the same bytes;
 *   both flavours encode it to the same bytes;
 *   it passes _validate and the binary round trip in both flavours.
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

/* pbc: JSON idempotence, validate, binary round trip. Returns the first
 * encoding (malloc'd) for the cross-flavour comparison. */
static char *pbc_props(const PBC_T *m, size_t *len)
{
  ttb_json_error err;
  char *j1 = TTB_PBC(_to_json)(m, len, &err);
  if (j1 == NULL)
    fuzz_fail("pbc: a decoded message does not encode", err.msg, strlen(err.msg), NULL, 0);
  PBC_T *m2 = TTB_PBC(_from_json)(j1, *len, NULL, &err);
  if (m2 == NULL)
    fuzz_fail("pbc: the encoder's output does not decode", j1, *len, err.msg, strlen(err.msg));
  size_t len2 = 0;
  char *j2 = TTB_PBC(_to_json)(m2, &len2, &err);
  if (j2 == NULL || len2 != *len || memcmp(j1, j2, len2) != 0)
    fuzz_fail("pbc: encode(decode(encode(m))) != encode(m)", j1, *len, j2, j2 ? len2 : 0);
  free(j2);
  PBC_FN(__free_unpacked)(m2, NULL);

  char verr[TTB_JSON_ERR_SIZE];
  if (!TTB_PBC(_validate)(m, verr, sizeof verr))
    fuzz_fail("pbc: a message decoded from JSON fails _validate", j1, *len, verr, strlen(verr));

  size_t bn = PBC_FN(__get_packed_size)(m);
  uint8_t *bin = malloc(bn ? bn : 1);
  if (bin == NULL)
    abort();
  if (PBC_FN(__pack)(m, bin) != bn)
    fuzz_fail("pbc: pack wrote a size other than get_packed_size", j1, *len, NULL, 0);
  PBC_T *m3 = PBC_FN(__unpack)(NULL, bn, bin);
  if (m3 == NULL)
    fuzz_fail("pbc: packed message does not unpack", j1, *len, NULL, 0);
  size_t len3 = 0;
  char *j3 = TTB_PBC(_to_json)(m3, &len3, &err);
  if (j3 == NULL || len3 != *len || memcmp(j1, j3, len3) != 0)
    fuzz_fail("pbc: JSON -> binary -> JSON changed the message", j1, *len, j3, j3 ? len3 : 0);
  free(j3);
  PBC_FN(__free_unpacked)(m3, NULL);
  free(bin);
  return j1;
}

static char npb_j1[FUZZ_JSON_CAP], npb_j2[FUZZ_JSON_CAP];
static uint8_t npb_bin[FUZZ_JSON_CAP];

/* npb: the same properties without allocation. */
static void npb_props(const NPB_T *m, size_t *len)
{
  static NPB_T m2;
  ttb_json_error err;
  if (!TTB_NPB(_to_json)(m, npb_j1, sizeof npb_j1, len, &err))
    fuzz_fail("npb: a decoded message does not encode", err.msg, strlen(err.msg), NULL, 0);
  if (!TTB_NPB(_from_json)(npb_j1, *len, &m2, &err))
    fuzz_fail("npb: the encoder's output does not decode", npb_j1, *len, err.msg, strlen(err.msg));
  size_t len2 = 0;
  if (!TTB_NPB(_to_json)(&m2, npb_j2, sizeof npb_j2, &len2, &err) || len2 != *len ||
      memcmp(npb_j1, npb_j2, len2) != 0)
    fuzz_fail("npb: encode(decode(encode(m))) != encode(m)", npb_j1, *len, npb_j2, len2);

  char verr[TTB_JSON_ERR_SIZE];
  if (!TTB_NPB(_validate)(m, verr, sizeof verr))
    fuzz_fail("npb: a message decoded from JSON fails _validate", npb_j1, *len, verr, strlen(verr));

  pb_ostream_t os = pb_ostream_from_buffer(npb_bin, sizeof npb_bin);
  if (!pb_encode(&os, NPB_FIELDS, m))
    fuzz_fail("npb: pb_encode failed on a decoded message", npb_j1, *len, PB_GET_ERROR(&os),
              strlen(PB_GET_ERROR(&os)));
  pb_istream_t is = pb_istream_from_buffer(npb_bin, os.bytes_written);
  if (!pb_decode(&is, NPB_FIELDS, &m2))
    fuzz_fail("npb: pb_decode failed on pb_encode's output", npb_j1, *len, PB_GET_ERROR(&is),
              strlen(PB_GET_ERROR(&is)));
  if (!TTB_NPB(_to_json)(&m2, npb_j2, sizeof npb_j2, &len2, &err) || len2 != *len ||
      memcmp(npb_j1, npb_j2, len2) != 0)
    fuzz_fail("npb: JSON -> binary -> JSON changed the message", npb_j1, *len, npb_j2, len2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *js = (const char *)data;
  ttb_json_error perr, nerr;
  static NPB_T nm;

  PBC_T *pm = TTB_PBC(_from_json)(js, size, NULL, &perr);
  bool nok = TTB_NPB(_from_json)(js, size, &nm, &nerr);
  bool pok = pm != NULL;

  if (pok != nok && !(pok && fuzz_token_bound_explains(js, size, nerr.status)))
    fuzz_fail(pok ? "pbc accepts JSON that npb rejects" : "npb accepts JSON that pbc rejects", js,
              size, pok ? nerr.msg : perr.msg, strlen(pok ? nerr.msg : perr.msg));

  size_t plen = 0, nlen = 0;
  char *pj = pok ? pbc_props(pm, &plen) : NULL;
  if (nok)
    npb_props(&nm, &nlen);
  if (pok && nok && (plen != nlen || memcmp(pj, npb_j1, plen) != 0))
    fuzz_fail("pbc and npb encode the same input differently", pj, plen, npb_j1, nlen);

  free(pj);
  if (pm)
    PBC_FN(__free_unpacked)(pm, NULL);
  return 0;
}
