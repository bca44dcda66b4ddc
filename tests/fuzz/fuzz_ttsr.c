/*
 * libFuzzer target: speech over NATS as a node's relay reads it
 * (server/src/ttsr.c): each NATS message from a worker is checked as a part
 * of the job the relay asked for (ttb_ttsr_check) or as a worker's hello
 * (ttb_ttsr_check_hello). Input: 8 bytes of job id (little-endian), then
 * the message.
 * Properties: a check that fails says why; one that passes is a part of that
 * very job and not a hello; nothing passes as both a hello and a job's part;
 * the failure a relay writes for a job (framed or not) passes as that job's
 * last part and frames to exactly the unframed message; the retry pause
 * stays within 20..320 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"
#include "ttsr.h"

#define CHECK(cond, what)                             \
  do {                                                \
    if (!(cond)) {                                    \
      fprintf(stderr, "property failed: %s\n", what); \
      abort();                                        \
    }                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 8)
    return 0;
  uint64_t job = 0;
  for (int i = 0; i < 8; i++)
    job |= (uint64_t)data[i] << (8 * i);
  const uint8_t *msg = data + 8;
  size_t len = size - 8;

  bool done = false;
  const char *why = NULL;
  int r = ttb_ttsr_check(msg, len, job, &done, &why);
  CHECK(r == 0 || r == -1, "check answers 0 or -1");
  if (r < 0) {
    CHECK(why != NULL && why[0], "a refused message has a reason");
  } else {
    Ttboost__Worker__TtsOutput *m = ttboost__worker__tts_output__unpack(NULL, len, msg);
    CHECK(m != NULL, "a message that passed unpacks");
    CHECK(m->job_id == job && m->hello == NULL, "a message that passed is a part of the job");
    CHECK(m->done == done, "done is the message's");
    ttboost__worker__tts_output__free_unpacked(m, NULL);
  }
  int h = ttb_ttsr_check_hello(msg, len);
  CHECK(h == 0 || h == -1, "check_hello answers 0 or -1");
  CHECK(!(h == 0 && r == 0), "a hello is never a job's part");

  /* the failure the relay writes for this job, with text from the input */
  char err[64];
  size_t el = len < sizeof err - 1 ? len : sizeof err - 1;
  memcpy(err, msg, el);
  err[el] = '\0';
  if (job != 0) {
    size_t fl = 0, ffl = 0;
    uint8_t *f = ttb_ttsr_failure(job, err, false, &fl);
    uint8_t *ff = ttb_ttsr_failure(job, err, true, &ffl);
    CHECK(f != NULL && ff != NULL, "a failure is made");
    done = false;
    CHECK(ttb_ttsr_check(f, fl, job, &done, &why) == 0 && done, "a failure is the job's last part");
    CHECK(ttb_ttsr_check(f, fl, job + 1, &done, &why) < 0, "a failure is about its job only");
    const uint8_t *inner = NULL;
    size_t il = 0, used = 0;
    CHECK(ttb_ttsp_next(ff, ffl, TTB_TTSP_MAX_MSG, &inner, &il, &used, &why) == 1 && used == ffl &&
              il == fl && memcmp(inner, f, fl) == 0,
          "the framed failure holds the unframed one");
    free(f);
    free(ff);
  }
  uint32_t ms = ttb_ttsr_retry_ms((unsigned)(job & 0xffff));
  CHECK(ms >= 20 && ms <= 320, "the retry pause stays within 20..320 ms");
  return 0;
}
