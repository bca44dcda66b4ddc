/* The gift streak rule (server/src/streak.h, docs/protocol/gifts.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "streak.h"

#define IDLE 5000

struct pub {
  char channel[64], user[64], gift[64];
  uint32_t count;
};

static struct pub pubs[64];
static size_t npubs;

static void on_pub(void *arg, const char *channel, const char *user, const char *gift_name,
                   uint32_t count)
{
  (void)arg;
  cr_assert_lt(npubs, sizeof pubs / sizeof pubs[0]);
  struct pub *p = &pubs[npubs++];
  snprintf(p->channel, sizeof p->channel, "%s", channel);
  snprintf(p->user, sizeof p->user, "%s", user);
  snprintf(p->gift, sizeof p->gift, "%s", gift_name);
  p->count = count;
}

static ttb_streaks *S;

static void setup(void)
{
  npubs = 0;
  memset(pubs, 0, sizeof pubs);
  S = ttb_streaks_create(IDLE, 16);
  cr_assert_not_null(S);
}

static void teardown(void) { ttb_streaks_free(S); }

/* A Rose (gift id 5655) from alice (uid "1") on channel "c". */
static void rose(uint64_t t, uint32_t rc, bool end)
{
  ttb_streaks_feed(S, t, "c", "alice", "1", "Rose", 5655, 1, rc, end, on_pub, NULL);
}

static void expect(size_t i, const char *user, const char *gift, uint32_t count)
{
  cr_assert_lt(i, npubs, "publication %zu missing (have %zu)", i, npubs);
  cr_expect_str_eq(pubs[i].user, user);
  cr_expect_str_eq(pubs[i].gift, gift);
  cr_expect_eq(pubs[i].count, count, "publication %zu: count %u, want %u", i, pubs[i].count, count);
}

TestSuite(streak, .init = setup, .fini = teardown);

Test(streak, single_gift_not_a_streak)
{
  ttb_streaks_feed(S, 0, "c", "bob", "2", "Galaxy", 11046, 1, 0, false, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  expect(0, "bob", "Galaxy", 1);
  cr_expect_str_eq(pubs[0].channel, "c");
  cr_expect_eq(ttb_streaks_open(S), 0);
  /* count > 1 without a streak goes out as is; count 0 counts as 1 */
  ttb_streaks_feed(S, 1, "c", "bob", "2", "Galaxy", 11046, 3, 0, false, on_pub, NULL);
  ttb_streaks_feed(S, 2, "c", "bob", "2", "Galaxy", 11046, 0, 0, false, on_pub, NULL);
  cr_assert_eq(npubs, 3);
  expect(1, "bob", "Galaxy", 3);
  expect(2, "bob", "Galaxy", 1);
}

Test(streak, streak_one_two_three_end)
{
  rose(0, 1, false);
  rose(100, 2, false);
  rose(200, 3, false);
  cr_expect_eq(npubs, 0);
  cr_expect_eq(ttb_streaks_open(S), 1);
  rose(1500, 3, true);
  cr_assert_eq(npubs, 1);
  expect(0, "alice", "Rose", 3);
  cr_expect_eq(ttb_streaks_open(S), 0);
  ttb_streaks_tick(S, 100000, on_pub, NULL);
  cr_expect_eq(npubs, 1);
}

Test(streak, single_tap_streak)
{
  rose(0, 1, false);
  rose(900, 1, true);
  cr_assert_eq(npubs, 1);
  expect(0, "alice", "Rose", 1);
}

Test(streak, lost_end_flushed_on_tick)
{
  rose(0, 1, false);
  rose(100, 2, false);
  ttb_streaks_tick(S, 100 + IDLE - 1, on_pub, NULL);
  cr_expect_eq(npubs, 0);
  cr_expect_eq(ttb_streaks_open(S), 1);
  ttb_streaks_tick(S, 100 + IDLE, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  expect(0, "alice", "Rose", 2);
  cr_expect_eq(ttb_streaks_open(S), 0);
  ttb_streaks_tick(S, 100 + 3 * IDLE, on_pub, NULL);
  cr_expect_eq(npubs, 1);
}

Test(streak, late_end_after_flush_not_counted_again)
{
  rose(0, 1, false);
  rose(100, 2, false);
  ttb_streaks_tick(S, 100 + IDLE, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  rose(100 + IDLE + 10, 2, true); /* the end, late */
  cr_expect_eq(npubs, 1);
  cr_expect_eq(ttb_streaks_open(S), 0);
}

Test(streak, stalled_streak_going_on_after_flush_adds_only_the_rest)
{
  rose(0, 1, false);
  rose(100, 2, false);
  ttb_streaks_tick(S, 100 + IDLE, on_pub, NULL);
  rose(100 + IDLE + 10, 3, false);
  rose(100 + IDLE + 20, 4, true);
  cr_assert_eq(npubs, 2);
  expect(0, "alice", "Rose", 2);
  expect(1, "alice", "Rose", 2); /* 4 in all */
}

Test(streak, idle_streak_closed_by_next_feed_without_tick)
{
  rose(0, 1, false);
  rose(100, 2, false);
  /* no tick; a new streak restarts at 1 long after */
  rose(100 + IDLE + 1, 1, false);
  cr_assert_eq(npubs, 1);
  expect(0, "alice", "Rose", 2);
  rose(100 + IDLE + 2, 1, true);
  cr_assert_eq(npubs, 2);
  expect(1, "alice", "Rose", 1);
}

Test(streak, duplicates_and_out_of_order_count_once)
{
  rose(0, 1, false);
  rose(10, 3, false); /* 2 arrives after 3 */
  rose(20, 2, false);
  rose(30, 3, false); /* a duplicate */
  rose(40, 1, false); /* a duplicate of the first */
  rose(50, 4, true);
  rose(60, 4, true);  /* a duplicate end */
  rose(70, 4, false); /* the last step, after its end */
  rose(80, 2, false); /* a straggler */
  cr_assert_eq(npubs, 1);
  expect(0, "alice", "Rose", 4);
  ttb_streaks_tick(S, 10 * IDLE, on_pub, NULL);
  cr_expect_eq(npubs, 1);
  cr_expect_eq(ttb_streaks_open(S), 0);
}

Test(streak, new_streak_right_after_end)
{
  rose(0, 1, false);
  rose(10, 2, true);
  rose(20, 1, false); /* TikTok restarts at 1: a new streak */
  rose(30, 1, true);
  cr_assert_eq(npubs, 2);
  expect(0, "alice", "Rose", 2);
  expect(1, "alice", "Rose", 1);
}

Test(streak, two_users_independent)
{
  rose(0, 1, false);
  ttb_streaks_feed(S, 5, "c", "bob", "2", "Rose", 5655, 1, 1, false, on_pub, NULL);
  rose(10, 2, false);
  ttb_streaks_feed(S, 15, "c", "bob", "2", "Rose", 5655, 1, 5, false, on_pub, NULL);
  cr_expect_eq(ttb_streaks_open(S), 2);
  ttb_streaks_feed(S, 20, "c", "bob", "2", "Rose", 5655, 1, 5, true, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  expect(0, "bob", "Rose", 5);
  rose(30, 2, true);
  cr_assert_eq(npubs, 2);
  expect(1, "alice", "Rose", 2);
}

Test(streak, key_parts)
{
  /* Same user id under a new nickname: the same streak. */
  rose(0, 1, false);
  ttb_streaks_feed(S, 1, "c", "alice2", "1", "Rose", 5655, 1, 2, false, on_pub, NULL);
  cr_expect_eq(ttb_streaks_open(S), 1);
  /* Another channel, another gift id: other streaks. */
  ttb_streaks_feed(S, 2, "d", "alice", "1", "Rose", 5655, 1, 1, false, on_pub, NULL);
  ttb_streaks_feed(S, 3, "c", "alice", "1", "Rose", 1, 1, 1, false, on_pub, NULL);
  cr_expect_eq(ttb_streaks_open(S), 3);
  /* Without user_id the nickname keys; without gift_id the name. */
  ttb_streaks_feed(S, 4, "c", "carol", "", "Lion", 0, 1, 1, false, on_pub, NULL);
  ttb_streaks_feed(S, 5, "c", "carol", "", "Lion", 0, 1, 2, false, on_pub, NULL);
  ttb_streaks_feed(S, 6, "c", "carol", "", "lion", 0, 1, 1, false, on_pub, NULL);
  cr_expect_eq(ttb_streaks_open(S), 5);
  ttb_streaks_feed(S, 7, "c", "carol", "", "Lion", 0, 1, 2, true, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  expect(0, "carol", "Lion", 2);
  ttb_streaks_tick(S, 7 + IDLE, on_pub, NULL);
  cr_expect_eq(npubs, 5);
  cr_expect_eq(ttb_streaks_open(S), 0);
}

Test(streak, count_multiplies)
{
  ttb_streaks_feed(S, 0, "c", "dan", "4", "Heart Me", 7934, 3, 1, false, on_pub, NULL);
  ttb_streaks_feed(S, 1, "c", "dan", "4", "Heart Me", 7934, 3, 2, true, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  expect(0, "dan", "Heart Me", 6);
}

Test(streak, max_open_evicts_and_publishes_oldest)
{
  ttb_streaks_free(S);
  S = ttb_streaks_create(IDLE, 2);
  cr_assert_not_null(S);
  ttb_streaks_feed(S, 0, "c", "u1", "1", "Rose", 1, 1, 2, false, on_pub, NULL);
  ttb_streaks_feed(S, 1, "c", "u2", "2", "Rose", 1, 1, 3, false, on_pub, NULL);
  ttb_streaks_feed(S, 2, "c", "u1", "1", "Rose", 1, 1, 4, false, on_pub, NULL); /* u1 fresher */
  cr_expect_eq(npubs, 0);
  ttb_streaks_feed(S, 3, "c", "u3", "3", "Rose", 1, 1, 1, false, on_pub, NULL);
  cr_assert_eq(npubs, 1);
  expect(0, "u2", "Rose", 3); /* the least recently fed */
  cr_expect_eq(ttb_streaks_open(S), 2);
  /* u2's end arrives later: already published */
  ttb_streaks_feed(S, 4, "c", "u2", "2", "Rose", 1, 1, 3, true, on_pub, NULL);
  cr_expect_eq(npubs, 1);
  ttb_streaks_feed(S, 5, "c", "u1", "1", "Rose", 1, 1, 4, true, on_pub, NULL);
  ttb_streaks_feed(S, 6, "c", "u3", "3", "Rose", 1, 1, 1, true, on_pub, NULL);
  cr_assert_eq(npubs, 3);
  expect(1, "u1", "Rose", 4);
  expect(2, "u3", "Rose", 1);
}

Test(streak, repeat_end_without_prior_events)
{
  rose(0, 7, true);
  cr_assert_eq(npubs, 1);
  expect(0, "alice", "Rose", 7);
  cr_expect_eq(ttb_streaks_open(S), 0);
  rose(10, 7, true); /* a duplicate */
  cr_expect_eq(npubs, 1);
  /* An end with repeat_count 0 counts as 1 (times count). */
  ttb_streaks_feed(S, 20, "c", "erin", "5", "GG", 0, 2, 0, true, on_pub, NULL);
  cr_assert_eq(npubs, 2);
  expect(1, "erin", "GG", 2);
}

static uint64_t sum;
static void on_sum(void *arg, const char *channel, const char *user, const char *gift_name,
                   uint32_t count)
{
  (void)arg, (void)channel, (void)user, (void)gift_name;
  sum += count;
}

Test(streak, many_streaks_flush_in_full)
{
  sum = 0;
  char uid[16];
  ttb_streaks *t = ttb_streaks_create(IDLE, 100000);
  cr_assert_not_null(t);
  for (int i = 0; i < 3000; i++) {
    snprintf(uid, sizeof uid, "%d", i);
    for (uint32_t rc = 1; rc <= 3; rc++)
      ttb_streaks_feed(t, (uint64_t)i, "c", uid, uid, "Rose", 5655, 1, rc, false, on_sum, NULL);
  }
  cr_expect_eq(ttb_streaks_open(t), 3000);
  ttb_streaks_tick(t, 3000 + IDLE, on_sum, NULL);
  cr_expect_eq(sum, 9000);
  cr_expect_eq(ttb_streaks_open(t), 0);
  ttb_streaks_free(t);
}

Test(streak, clock_going_back)
{
  sum = 0;
  char uid[16];
  ttb_streaks *t = ttb_streaks_create(IDLE, 1000);
  cr_assert_not_null(t);
  for (int i = 0; i < 500; i++) {
    snprintf(uid, sizeof uid, "%d", i);
    ttb_streaks_feed(t, 1000, "c", uid, uid, "Rose", 5655, 1, 1, false, on_sum, NULL);
    ttb_streaks_feed(t, 900 /* earlier */, "c", uid, uid, "Rose", 5655, 1, 2, false, on_sum, NULL);
  }
  cr_expect_eq(ttb_streaks_open(t), 500);
  ttb_streaks_tick(t, 1000 + IDLE - 1, on_sum, NULL);
  ttb_streaks_tick(t, 10, on_sum, NULL); /* back in time: nothing idles */
  cr_expect_eq(sum, 0);
  ttb_streaks_tick(t, 1000 + IDLE, on_sum, NULL);
  cr_expect_eq(sum, 1000);
  cr_expect_eq(ttb_streaks_open(t), 0);
  ttb_streaks_free(t);
}

Test(streak, free_without_publishing)
{
  rose(0, 1, false);
  ttb_streaks_free(S);
  S = NULL;
  cr_expect_eq(npubs, 0);
}
