/* Speech over NATS, the parts without NATS: see ttsr.h. */
#include "ttsr.h"

#include <stdlib.h>

#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"

int ttb_ttsr_check(const uint8_t *msg, size_t len, uint64_t job_id, bool *done, const char **why)
{
  Ttboost__Worker__TtsOutput *m = ttboost__worker__tts_output__unpack(NULL, len, msg);
  if (m == NULL) {
    *why = "a malformed message from the speech worker";
    return -1;
  }
  int rc = 0;
  if (m->hello != NULL || m->job_id != job_id) {
    *why = "the speech worker answered for another job";
    rc = -1;
  } else {
    *done = m->done;
  }
  ttboost__worker__tts_output__free_unpacked(m, NULL);
  return rc;
}

int ttb_ttsr_check_hello(const uint8_t *msg, size_t len)
{
  Ttboost__Worker__TtsOutput *m = ttboost__worker__tts_output__unpack(NULL, len, msg);
  if (m == NULL)
    return -1;
  int rc = m->job_id == 0 && m->hello != NULL && m->hello->sample_rate > 0 ? 0 : -1;
  ttboost__worker__tts_output__free_unpacked(m, NULL);
  return rc;
}

static uint8_t *frame(const Ttboost__Worker__TtsOutput *m, bool framed, size_t *len)
{
  size_t n = ttboost__worker__tts_output__get_packed_size(m);
  uint8_t *b = malloc(n + 10);
  if (b == NULL)
    return NULL;
  size_t k = framed ? ttb_ttsp_prefix(n, b) : 0;
  ttboost__worker__tts_output__pack(m, b + k);
  *len = k + n;
  return b;
}

uint8_t *ttb_ttsr_failure(uint64_t job_id, const char *error, bool framed, size_t *len)
{
  Ttboost__Worker__TtsOutput m = TTBOOST__WORKER__TTS_OUTPUT__INIT;
  m.job_id = job_id;
  m.done = true;
  m.error = (char *)(error && error[0] ? error : "the speech failed");
  return frame(&m, framed, len);
}

uint8_t *ttb_ttsr_hello(uint32_t sample_rate, const char *const *voices, size_t n, size_t *len)
{
  Ttboost__Worker__TtsWorkerHello h = TTBOOST__WORKER__TTS_WORKER_HELLO__INIT;
  h.sample_rate = sample_rate;
  h.voices = (char **)voices;
  h.n_voices = n;
  Ttboost__Worker__TtsOutput m = TTBOOST__WORKER__TTS_OUTPUT__INIT;
  m.hello = &h;
  m.error = "";
  return frame(&m, true, len);
}

uint32_t ttb_ttsr_retry_ms(unsigned attempt)
{
  uint32_t ms = 20;
  for (unsigned i = 1; i < attempt && ms < 320; i++)
    ms *= 2;
  return ms > 320 ? 320 : ms;
}
