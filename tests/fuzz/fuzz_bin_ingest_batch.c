/*
 * libFuzzer target: a binary ingest batch as the server parses it — items
 * split by ttb_ldelim_next (server/src/ldelim.c), each unpacked as an
 * IngestEvent by protobuf-c and checked with the generated validator.
 * Properties: the splitter never reads past the input, consumes exactly
 * what it reports, and ends or fails within as many steps as there are bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "ldelim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *p = data;
  size_t left = size;
  size_t steps = 0;
  for (;;) {
    const uint8_t *item = NULL;
    size_t n = 0;
    const char *why = NULL;
    size_t before = left;
    const uint8_t *start = p;
    int rc = ttb_ldelim_next(&p, &left, &item, &n, &why);
    if (rc == 0)
      break;
    if (rc < 0) {
      if (why == NULL || left != before) {
        fprintf(stderr, "property failed: an error without a reason, or input consumed\n");
        abort();
      }
      break;
    }
    /* a prefix of at least one byte, the item inside the input, and the
     * cursor exactly past it */
    if (item <= start || item + n > data + size || p != item + n ||
        before - left != (size_t)(p - start) || ++steps > size) {
      fprintf(stderr, "property failed: item outside the input or no progress\n");
      abort();
    }
    Ttboost__V1__IngestEvent *ev = ttboost__v1__ingest_event__unpack(NULL, n, item);
    if (ev) {
      char err[160];
      (void)ttb_pbc_ttboost_v1_IngestEvent_validate(ev, err, sizeof err);
      ttboost__v1__ingest_event__free_unpacked(ev, NULL);
    }
  }
  return 0;
}
