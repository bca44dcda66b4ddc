/* Length-delimited protobuf batches: see ldelim.h. */
#include "ldelim.h"

int ttb_ldelim_next(const uint8_t **p, size_t *left, const uint8_t **item, size_t *item_len,
                    const char **why)
{
  const uint8_t *b = *p;
  size_t n = *left;
  if (n == 0)
    return 0;
  uint64_t len = 0;
  size_t k = 0;
  for (;;) {
    if (k == n) {
      *why = "truncated length prefix";
      return -1;
    }
    if (k == 10) {
      *why = "length prefix longer than 10 bytes";
      return -1;
    }
    uint8_t c = b[k];
    if (k == 9 && c > 1) {
      *why = "length prefix out of range";
      return -1;
    }
    len |= (uint64_t)(c & 0x7Fu) << (7 * k);
    k++;
    if ((c & 0x80u) == 0)
      break;
  }
  if (len > n - k) {
    *why = "item longer than the body";
    return -1;
  }
  *item = b + k;
  *item_len = (size_t)len;
  *p = b + k + (size_t)len;
  *left = n - k - (size_t)len;
  return 1;
}
