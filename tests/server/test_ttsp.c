/* The speech worker's framing (server/src/ttsp.c): the stdin reader both
 * worker roles use, fed through a pipe in pieces, as a server writes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"

static int fds[2];

static void setup(void) { cr_assert_eq(pipe(fds), 0); }
static void teardown(void)
{
  close(fds[0]);
  if (fds[1] >= 0)
    close(fds[1]);
}

static void put(const void *p, size_t n) { cr_assert_eq(ttb_ttsp_write_all(fds[1], p, n), 0); }

static void end_writes(void)
{
  close(fds[1]);
  fds[1] = -1;
}

TestSuite(ttsp, .init = setup, .fini = teardown);

static const uint8_t *m; /* the last message read, its length, the last reason */
static size_t n;
static const char *why;

static int next(ttb_ttsp_reader *r)
{
  why = NULL;
  return ttb_ttsp_read(r, &m, &n, &why);
}

Test(ttsp, reads_messages_in_order_also_across_pieces)
{
  uint8_t pre[10];
  size_t k = ttb_ttsp_prefix(3, pre);
  put(pre, k);
  put("ab", 2); /* the first message comes in two pieces */
  put("c", 1);
  cr_assert_eq(ttb_ttsp_write_msg(fds[1], (const uint8_t *)"", 0), 0); /* an empty one */
  cr_assert_eq(ttb_ttsp_write_msg(fds[1], (const uint8_t *)"xyz!", 4), 0);
  end_writes();

  ttb_ttsp_reader r = TTB_TTSP_READER_INIT(fds[0]);
  cr_assert_eq(next(&r), 1);
  cr_assert_eq(n, 3);
  cr_assert_arr_eq(m, "abc", 3);
  cr_assert_eq(next(&r), 1);
  cr_assert_eq(n, 0);
  cr_assert_eq(next(&r), 1);
  cr_assert_eq(n, 4);
  cr_assert_arr_eq(m, "xyz!", 4);
  cr_assert_eq(next(&r), 0, "the end of the stream is 0");
  ttb_ttsp_reader_free(&r);
}

Test(ttsp, a_message_larger_than_the_first_buffer_grows_it)
{
  size_t big = 100000; /* > the reader's first 8 KiB, < a pipe's capacity with the rest */
  uint8_t *p = malloc(big);
  cr_assert_not_null(p);
  for (size_t i = 0; i < big; i++)
    p[i] = (uint8_t)(i * 7);
  /* the pipe holds 64 KiB: write from a child so the reader drains it */
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    close(fds[0]);
    _exit(ttb_ttsp_write_msg(fds[1], p, big) == 0 ? 0 : 1);
  }
  end_writes();
  ttb_ttsp_reader r = TTB_TTSP_READER_INIT(fds[0]);
  cr_assert_eq(next(&r), 1);
  cr_assert_eq(n, big);
  cr_assert_eq(memcmp(m, p, big), 0);
  cr_assert_eq(next(&r), 0);
  ttb_ttsp_reader_free(&r);
  free(p);
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer finished");
}

Test(ttsp, a_stream_cut_in_a_message_is_its_end)
{
  uint8_t pre[10];
  size_t k = ttb_ttsp_prefix(10, pre);
  put(pre, k);
  put("12345", 5);
  end_writes();
  ttb_ttsp_reader r = TTB_TTSP_READER_INIT(fds[0]);
  cr_assert_eq(next(&r), 0);
  ttb_ttsp_reader_free(&r);
}

Test(ttsp, a_bad_prefix_or_a_message_too_long_is_an_error_with_a_reason)
{
  uint8_t pre[10];
  size_t k = ttb_ttsp_prefix(TTB_TTSP_MAX_MSG + 1, pre);
  put(pre, k);
  end_writes();
  ttb_ttsp_reader r = TTB_TTSP_READER_INIT(fds[0]);
  cr_assert_eq(next(&r), -1);
  cr_assert_str_eq(why, "message too long");
  ttb_ttsp_reader_free(&r);

  int p2[2];
  cr_assert_eq(pipe(p2), 0);
  const uint8_t six[6] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  cr_assert_eq(ttb_ttsp_write_all(p2[1], six, sizeof six), 0);
  close(p2[1]);
  ttb_ttsp_reader r2 = TTB_TTSP_READER_INIT(p2[0]);
  cr_assert_eq(next(&r2), -1);
  cr_assert_str_eq(why, "length prefix longer than 5 bytes");
  ttb_ttsp_reader_free(&r2);
  close(p2[0]);
}

static void put_job(uint64_t job_id, const char *text)
{
  Ttboost__Worker__TtsJob j = TTBOOST__WORKER__TTS_JOB__INIT;
  j.job_id = job_id;
  j.text = (char *)text;
  uint8_t buf[256];
  size_t len = ttboost__worker__tts_job__get_packed_size(&j);
  cr_assert_leq(len, sizeof buf);
  ttboost__worker__tts_job__pack(&j, buf);
  cr_assert_eq(ttb_ttsp_write_msg(fds[1], buf, len), 0);
}

Test(ttsp, jobs_are_read_with_their_bytes_and_a_job_without_an_id_is_refused)
{
  put_job(42, "hello");
  put_job(0, "no id");
  end_writes();
  ttb_ttsp_reader r = TTB_TTSP_READER_INIT(fds[0]);
  Ttboost__Worker__TtsJob *j = NULL;
  const uint8_t *raw = NULL;
  size_t raw_len = 0;
  why = NULL;
  cr_assert_eq(ttb_ttsp_read_job(&r, &j, &raw, &raw_len, &why), 1);
  cr_assert_eq(j->job_id, 42);
  cr_assert_str_eq(j->text, "hello");
  Ttboost__Worker__TtsJob *again = ttboost__worker__tts_job__unpack(NULL, raw_len, raw);
  cr_assert_not_null(again, "the raw bytes are the job's");
  cr_assert_eq(again->job_id, 42);
  ttboost__worker__tts_job__free_unpacked(again, NULL);
  ttboost__worker__tts_job__free_unpacked(j, NULL);
  cr_assert_eq(ttb_ttsp_read_job(&r, &j, NULL, NULL, &why), -1);
  cr_assert_str_eq(why, "a malformed job");
  ttb_ttsp_reader_free(&r);
}
