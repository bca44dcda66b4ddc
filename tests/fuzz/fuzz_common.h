/*
 * Shared pieces of the libFuzzer targets in tests/fuzz/.
 *
 * A target is one decoder fed raw network bytes. Besides "no crash, no leak,
 * no sanitizer report", the targets check properties and abort() (which
 * libFuzzer reports as a crash, with the input saved) when one fails:
 *  - what decodes re-encodes, and decoding that output gives the same
 *    encoding (idempotence), for both flavours, in JSON and binary;
 *  - a message that decodes from JSON also passes _validate and survives the
 *    binary round trip (the bounds are the same in both forms);
 *  - the protobuf-c flavour (server) and the nanopb flavour (client) accept
 *    and reject the same JSON, and encode what they accept to the same bytes.
 *    The one allowed difference is nanopb's token array
 *    (TTB_JSON_MAX_TOKENS on the stack against the server's heap array).
 */
#ifndef TTB_FUZZ_COMMON_H
#define TTB_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "ttboost/json.h"
#include "ttboost/v1/auth.npb-json.h"
#include "ttboost/v1/auth.pbc-json.h"
#include "ttboost/v1/events.npb-json.h"
#include "ttboost/v1/events.pbc-json.h"
#include "ttboost/v1/ingest.npb-json.h"
#include "ttboost/v1/ingest.pbc-json.h"
#include "ttboost/v1/settings.npb-json.h"
#include "ttboost/v1/settings.pbc-json.h"
#include "ttboost/v1/trace.npb-json.h"
#include "ttboost/v1/trace.pbc-json.h"
#include "ttboost/v1/tts.npb-json.h"
#include "ttboost/v1/tts.pbc-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for the JSON of any bounded v1 message, whatever its escapes
 * (worst case 6 bytes per input byte of a 1 KiB string, a few strings). */
#define FUZZ_JSON_CAP (1u << 16)

#define FUZZ_CAT_(a, b) a##b
#define FUZZ_CAT(a, b) FUZZ_CAT_(a, b)

/* Reports a broken property with the data that shows it, then aborts. */
static inline void fuzz_fail(const char *what, const char *a, size_t an, const char *b, size_t bn)
{
  fprintf(stderr, "\n*** fuzz property failed: %s\n", what);
  if (a)
    fprintf(stderr, "  a (%zu bytes): %.*s\n", an, (int)(an > 4096 ? 4096 : an), a);
  if (b)
    fprintf(stderr, "  b (%zu bytes): %.*s\n", bn, (int)(bn > 4096 ? 4096 : bn), b);
  abort();
}

/* Number of tokens in the document (<0 when the reader refuses it), to
 * tell the nanopb token bound apart from a real disagreement. */
static inline int fuzz_token_count(const char *js, size_t len)
{
  ttb_jr r;
  if (!ttb_jr_parse_alloc(&r, js, len, 1u << 22))
    return -1;
  int n = r.ntok;
  ttb_jr_finish(&r);
  return n;
}

/* Is a pbc/npb disagreement on this document explained by the nanopb
 * flavour's fixed token array? */
static inline bool fuzz_token_bound_explains(const char *js, size_t len, ttb_json_status npb_st)
{
  return npb_st == TTB_JSON_LIMIT && fuzz_token_count(js, len) > TTB_JSON_MAX_TOKENS;
}

#endif
