/*
 * Speech over NATS, the pieces without NATS (ttsr.h): what the relay
 * accepts from a worker, the failure and hello it makes itself, its backoff.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"
#include "ttsr.h"

static uint8_t *pack_output(const Ttboost__Worker__TtsOutput *m, size_t *len)
{
  *len = ttboost__worker__tts_output__get_packed_size(m);
  uint8_t *b = malloc(*len + 1);
  cr_assert_not_null(b);
  ttboost__worker__tts_output__pack(m, b);
  return b;
}

/* Unpacks a framed message: the prefix must cover exactly the buffer. */
static Ttboost__Worker__TtsOutput *unframe(const uint8_t *b, size_t len)
{
  const uint8_t *msg;
  size_t mlen, used;
  const char *why = NULL;
  cr_assert_eq(ttb_ttsp_next(b, len, TTB_TTSP_MAX_MSG, &msg, &mlen, &used, &why), 1);
  cr_assert_eq(used, len);
  Ttboost__Worker__TtsOutput *m = ttboost__worker__tts_output__unpack(NULL, mlen, msg);
  cr_assert_not_null(m);
  return m;
}

Test(ttsr, check_takes_the_jobs_parts_and_sees_its_end)
{
  Ttboost__Worker__TtsOutput m = TTBOOST__WORKER__TTS_OUTPUT__INIT;
  uint8_t ogg[] = {'O', 'g', 'g', 'S'};
  m.job_id = 42;
  m.ogg.data = ogg;
  m.ogg.len = sizeof ogg;
  size_t n;
  uint8_t *b = pack_output(&m, &n);
  bool done = true;
  const char *why = NULL;
  cr_expect_eq(ttb_ttsr_check(b, n, 42, &done, &why), 0);
  cr_expect_not(done);
  /* another job's part, or a hello, is refused */
  cr_expect_eq(ttb_ttsr_check(b, n, 43, &done, &why), -1);
  cr_expect_not_null(why);
  free(b);
  m.done = true;
  m.error = "";
  b = pack_output(&m, &n);
  cr_expect_eq(ttb_ttsr_check(b, n, 42, &done, &why), 0);
  cr_expect(done);
  free(b);
  Ttboost__Worker__TtsWorkerHello h = TTBOOST__WORKER__TTS_WORKER_HELLO__INIT;
  h.sample_rate = 22050;
  Ttboost__Worker__TtsOutput hm = TTBOOST__WORKER__TTS_OUTPUT__INIT;
  hm.hello = &h;
  b = pack_output(&hm, &n);
  cr_expect_eq(ttb_ttsr_check(b, n, 0, &done, &why), -1, "a hello is not a job's part");
  cr_expect_eq(ttb_ttsr_check_hello(b, n), 0);
  free(b);
  /* garbage */
  uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  why = NULL;
  cr_expect_eq(ttb_ttsr_check(junk, sizeof junk, 42, &done, &why), -1);
  cr_expect_not_null(why);
  cr_expect_eq(ttb_ttsr_check_hello(junk, sizeof junk), -1);
  /* a job's part is not a hello */
  b = pack_output(&m, &n);
  cr_expect_eq(ttb_ttsr_check_hello(b, n), -1);
  free(b);
}

Test(ttsr, a_failure_ends_the_job_with_its_error)
{
  size_t n;
  uint8_t *b = ttb_ttsr_failure(7, "the speech worker went silent", true, &n);
  cr_assert_not_null(b);
  Ttboost__Worker__TtsOutput *m = unframe(b, n);
  cr_expect_eq(m->job_id, 7);
  cr_expect(m->done);
  cr_expect_str_eq(m->error, "the speech worker went silent");
  cr_expect_eq(m->ogg.len, 0);
  cr_expect_eq(m->n_packets, 0);
  ttboost__worker__tts_output__free_unpacked(m, NULL);
  free(b);
  /* unframed (one NATS message), and an empty error still says it failed */
  b = ttb_ttsr_failure(8, "", false, &n);
  cr_assert_not_null(b);
  bool done = false;
  const char *why = NULL;
  cr_expect_eq(ttb_ttsr_check(b, n, 8, &done, &why), 0);
  cr_expect(done);
  m = ttboost__worker__tts_output__unpack(NULL, n, b);
  cr_assert_not_null(m);
  cr_expect(m->error[0] != '\0');
  ttboost__worker__tts_output__free_unpacked(m, NULL);
  free(b);
}

Test(ttsr, the_stand_in_hello_names_every_voice)
{
  const char *const v[] = {"en", "ru", "kk"};
  size_t n;
  uint8_t *b = ttb_ttsr_hello(22050, v, 3, &n);
  cr_assert_not_null(b);
  Ttboost__Worker__TtsOutput *m = unframe(b, n);
  cr_expect_eq(m->job_id, 0);
  cr_assert_not_null(m->hello);
  cr_expect_eq(m->hello->sample_rate, 22050);
  cr_assert_eq(m->hello->n_voices, 3);
  cr_expect_str_eq(m->hello->voices[2], "kk");
  ttboost__worker__tts_output__free_unpacked(m, NULL);
  free(b);
}

Test(ttsr, retries_back_off_to_a_cap)
{
  cr_expect_eq(ttb_ttsr_retry_ms(1), 20);
  cr_expect_eq(ttb_ttsr_retry_ms(2), 40);
  cr_expect_eq(ttb_ttsr_retry_ms(5), 320);
  cr_expect_eq(ttb_ttsr_retry_ms(100), 320);
  cr_expect_eq(ttb_ttsr_retry_ms(0), 20);
}
