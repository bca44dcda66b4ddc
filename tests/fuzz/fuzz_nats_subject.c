/* libFuzzer: the channel of a NATS subject (server/src/nats_subject.c), the
 * one decoder of what another node put on the wire besides the ServerMessage
 * itself (fuzz-bin-server-message). Property: a subject that decodes encodes
 * back to a subject that decodes to the same channel, and any channel
 * (bytes up to a NUL) round-trips through its subject. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nats_subject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 600)
    return 0;
  char in[601], ch[700], subj[2100], back[700];
  memcpy(in, data, size);
  in[size] = '\0';
  if (ttb_nats_channel_of(in, ch, sizeof ch) == 0) {
    if (ch[0] == '\0' || ttb_nats_subject(ch, subj, sizeof subj) != 0 ||
        ttb_nats_channel_of(subj, back, sizeof back) != 0 || strcmp(ch, back) != 0)
      abort();
  }
  if (in[0] && ttb_nats_subject(in, subj, sizeof subj) == 0) {
    if (ttb_nats_channel_of(subj, back, sizeof back) != 0 || strcmp(in, back) != 0)
      abort();
  }
  return 0;
}
