/*
 * libFuzzer target: an ingest batch as the server parses it — the whole
 * document with ttb_jr_parse_alloc, then, when it is a top-level array,
 * ttb_pbc_ttboost_v1_IngestEvent_json_decode on each element (a refused item
 * is reported and the batch goes on, so the reader's error is reset).
 *
 * Each element is also decoded into the nanopb struct from the same tokens;
 * both flavours must accept and reject the same elements and encode what they
 * accept to the same bytes, and that encoding must decode again to itself.
 */
#include "fuzz_common.h"

static char nj[FUZZ_JSON_CAP], nj2[FUZZ_JSON_CAP];

static void reset_error(ttb_jr *r)
{
  r->status = TTB_JSON_OK;
  r->err[0] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ttb_jr r;
  if (!ttb_jr_parse_alloc(&r, (const char *)data, size, TTB_JSON_MAX_TOKENS_HEAP)) {
    ttb_jr_finish(&r);
    return 0;
  }
  if (!ttb_jr_expect_array(&r, 0, "events")) {
    ttb_jr_finish(&r);
    return 0;
  }
  static ttboost_v1_IngestEvent nm, nm2;
  int n = r.toks[0].size;
  int tok = 1;
  for (int i = 0; i < n; i++) {
    Ttboost__V1__IngestEvent *pm = malloc(sizeof *pm);
    if (pm == NULL)
      abort();
    ttboost__v1__ingest_event__init(pm);
    bool pok = ttb_pbc_ttboost_v1_IngestEvent_json_decode(&r, tok, pm, NULL);
    char perr[TTB_JSON_ERR_SIZE];
    memcpy(perr, r.err, sizeof perr);
    reset_error(&r);

    const ttboost_v1_IngestEvent zero = ttboost_v1_IngestEvent_init_zero;
    nm = zero;
    bool nok = ttb_npb_ttboost_v1_IngestEvent_json_decode(&r, tok, &nm);
    char nerr[TTB_JSON_ERR_SIZE];
    memcpy(nerr, r.err, sizeof nerr);
    reset_error(&r);

    if (pok != nok)
      fuzz_fail(pok ? "batch item: pbc accepts what npb rejects"
                    : "batch item: npb accepts what pbc rejects",
                r.js + r.toks[tok].start, (size_t)(r.toks[tok].end - r.toks[tok].start),
                pok ? nerr : perr, strlen(pok ? nerr : perr));
    if (pok) {
      ttb_json_error err;
      size_t plen = 0, nlen = 0, nlen2 = 0;
      char *pj = ttb_pbc_ttboost_v1_IngestEvent_to_json(pm, &plen, &err);
      if (pj == NULL)
        fuzz_fail("batch item: pbc cannot encode what it decoded", err.msg, strlen(err.msg), NULL,
                  0);
      if (!ttb_npb_ttboost_v1_IngestEvent_to_json(&nm, nj, sizeof nj, &nlen, &err))
        fuzz_fail("batch item: npb cannot encode what it decoded", err.msg, strlen(err.msg), NULL,
                  0);
      if (plen != nlen || memcmp(pj, nj, plen) != 0)
        fuzz_fail("batch item: pbc and npb encode differently", pj, plen, nj, nlen);
      if (!ttb_npb_ttboost_v1_IngestEvent_from_json(nj, nlen, &nm2, &err) ||
          !ttb_npb_ttboost_v1_IngestEvent_to_json(&nm2, nj2, sizeof nj2, &nlen2, &err) ||
          nlen2 != nlen || memcmp(nj, nj2, nlen) != 0)
        fuzz_fail("batch item: encode(decode(encode(m))) != encode(m)", nj, nlen, nj2, nlen2);
      char verr[TTB_JSON_ERR_SIZE];
      if (!ttb_pbc_ttboost_v1_IngestEvent_validate(pm, verr, sizeof verr))
        fuzz_fail("batch item: decoded item fails _validate", pj, plen, verr, strlen(verr));
      free(pj);
    }
    ttboost__v1__ingest_event__free_unpacked(pm, NULL);
    tok = ttb_jr_next(&r, tok);
  }
  ttb_jr_finish(&r);
  return 0;
}
