/*
 * libFuzzer target: the JSON runtime's reader (jsmn plus the checks of what
 * jsmn leaves loose) against json_oracle.h, a strict validator written
 * independently. A document is accepted by the reader when it parses and
 * every string in it reads (ttb_jr_skip_value on the whole document); that
 * must agree with the oracle, with the token array grown from a small
 * caller's buffer as from the heap, to the same tokens. Tokens must lie
 * inside the document, in order.
 */
#include "fuzz_common.h"
#include "json_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *js = (const char *)data;
  bool want = json_oracle_valid(js, size);

  ttb_jr a;
  bool got = ttb_jr_parse_alloc(&a, js, size, 1u << 22) && ttb_jr_skip_value(&a, 0);
  if (got != want)
    fuzz_fail(want ? "the reader refuses a valid document"
                   : "the reader accepts an invalid document",
              js, size, a.err, strlen(a.err));

  jsmntok_t small[4];
  ttb_jr b;
  bool got_b = ttb_jr_parse_small(&b, js, size, small, 4, 1u << 22) && ttb_jr_skip_value(&b, 0);
  if (got_b != got || (got && (b.ntok != a.ntok || b.plain != a.plain)))
    fuzz_fail("growing from a small buffer changes the verdict", js, size, b.err, strlen(b.err));

  if (got) {
    int prev = -1;
    for (int i = 0; i < a.ntok; i++) {
      const jsmntok_t *t = &a.toks[i];
      const jsmntok_t *u = &b.toks[i];
      if (t->start < 0 || t->end < t->start || (size_t)t->end > size || t->start < prev)
        fuzz_fail("a token outside the document or out of order", js, size, NULL, 0);
      if (t->type != u->type || t->start != u->start || t->end != u->end || t->size != u->size)
        fuzz_fail("growing from a small buffer changes the tokens", js, size, NULL, 0);
      prev = t->start;
    }
  }
  ttb_jr_finish(&a);
  ttb_jr_finish(&b);
  return 0;
}
