/* The NATS subject of a channel and back (server/src/nats_subject.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "nats_subject.h"

static void round_trip(const char *channel, const char *want_subject)
{
  char subj[256], back[256];
  cr_assert_eq(ttb_nats_subject(channel, subj, sizeof subj), 0, "%s", channel);
  cr_assert_str_eq(subj, want_subject);
  cr_assert_eq(ttb_nats_channel_of(subj, back, sizeof back), 0, "%s", subj);
  cr_assert_str_eq(back, channel);
}

Test(nats_subject, plain_ids_stay_as_they_are)
{
  round_trip("7301234567890123456", "ttb.ev.7301234567890123456");
  round_trip("u_ser-1", "ttb.ev.u_ser-1");
}

Test(nats_subject, other_bytes_are_escaped_into_one_token)
{
  round_trip("a.b", "ttb.ev.a%2Eb");
  round_trip("a b*>", "ttb.ev.a%20b%2A%3E");
  round_trip("%", "ttb.ev.%25");
  round_trip("\xd0\x90", "ttb.ev.%D0%90");
}

Test(nats_subject, bounds)
{
  char out[16];
  cr_assert_eq(ttb_nats_subject("", out, sizeof out), -1);
  cr_assert_eq(ttb_nats_subject("12345678", out, sizeof out), 0); /* 7 + 8 + NUL = 16 */
  cr_assert_eq(ttb_nats_subject("123456789", out, sizeof out), -1);
  cr_assert_eq(ttb_nats_subject("1234567.", out, sizeof out), -1); /* %2E does not fit */
  cr_assert_eq(ttb_nats_channel_of("ttb.ev.1234567890123456", out, sizeof out), -1);
  cr_assert_eq(ttb_nats_channel_of("ttb.ev.123456789012345", out, sizeof out), 0);
}

Test(nats_subject, foreign_or_bad_subjects_are_refused)
{
  char out[64];
  const char *bad[] = {"ttb.ev.",    "ttb.ev",     "ttb.tts.x",   "other.ev.x",
                       "ttb.ev.a.b", "ttb.ev.a*",  "ttb.ev.>",    "ttb.ev.%",
                       "ttb.ev.%4",  "ttb.ev.%zz", "ttb.ev.%00x", "TTB.EV.abc"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_eq(ttb_nats_channel_of(bad[i], out, sizeof out), -1, "%s", bad[i]);
  cr_assert_eq(ttb_nats_channel_of("ttb.ev.%41b", out, sizeof out), 0);
  cr_assert_str_eq(out, "Ab");
}

Test(nats_subject, reconnect_backoff_doubles_to_two_seconds_with_jitter)
{
  /* attempt 1: 50..100 ms; 2: 100..200; ... 5: 800..1600; from 6 on: 1000..2000 */
  cr_assert_eq(ttb_nats_backoff_ms(1, 0), 50);
  cr_assert_eq(ttb_nats_backoff_ms(1, 50), 100);
  cr_assert_eq(ttb_nats_backoff_ms(1, 51), 50, "jitter wraps within the upper half");
  cr_assert_eq(ttb_nats_backoff_ms(2, 0), 100);
  cr_assert_eq(ttb_nats_backoff_ms(5, 0), 800);
  cr_assert_eq(ttb_nats_backoff_ms(6, 0), 1000);
  cr_assert_eq(ttb_nats_backoff_ms(500, 1000), 2000);
  for (unsigned r = 0; r < 5000; r += 7) {
    int64_t d = ttb_nats_backoff_ms(9, r);
    cr_assert(d >= 1000 && d <= 2000, "%lld", (long long)d);
  }
}
