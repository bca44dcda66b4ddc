/* Unit tests of the ingest id window (server/src/dedup.c). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "dedup.h"

#define MIN 60000u

Test(dedup, seen_within_the_window_only)
{
  ttb_dedup *d = ttb_dedup_create(10 * MIN, 1000);
  cr_assert_not_null(d);
  cr_assert(!ttb_dedup_seen(d, "a", "m1", 1000));
  cr_assert_eq(ttb_dedup_add(d, "a", "m1", 1000), 0);
  cr_assert(ttb_dedup_seen(d, "a", "m1", 1001));
  cr_assert(ttb_dedup_seen(d, "a", "m1", 1000 + 10 * MIN - 1));
  cr_assert(!ttb_dedup_seen(d, "a", "m1", 1000 + 10 * MIN), "the window is over");
  cr_assert(!ttb_dedup_seen(d, "b", "m1", 1001), "ids are per channel");
  cr_assert(!ttb_dedup_seen(d, "a", "m2", 1001));
  cr_assert(!ttb_dedup_seen(d, "a", "", 1001), "no id: never a duplicate");
  cr_assert_eq(ttb_dedup_add(d, "a", "", 1001), 0);
  cr_assert_eq(ttb_dedup_count(d), 1);
  ttb_dedup_free(d);
}

Test(dedup, sweep_frees_expired_channels)
{
  ttb_dedup *d = ttb_dedup_create(1000, 1000);
  char id[32];
  for (int i = 0; i < 500; i++) {
    snprintf(id, sizeof id, "x%d", i);
    cr_assert_eq(ttb_dedup_add(d, i % 2 ? "a" : "b", id, (uint64_t)i), 0);
  }
  cr_assert_eq(ttb_dedup_count(d), 500);
  ttb_dedup_sweep(d, 1250);
  cr_assert_eq(ttb_dedup_count(d), 249, "ids seen at 251..499 stay");
  cr_assert(ttb_dedup_seen(d, "a", "x499", 1250));
  cr_assert(!ttb_dedup_seen(d, "b", "x250", 1250));
  ttb_dedup_sweep(d, 5000);
  cr_assert_eq(ttb_dedup_count(d), 0);
  ttb_dedup_free(d);
}

Test(dedup, the_cap_drops_the_oldest)
{
  ttb_dedup *d = ttb_dedup_create(10 * MIN, 100);
  char id[32];
  for (int i = 0; i < 100000; i++) {
    snprintf(id, sizeof id, "id-%d", i);
    cr_assert_eq(ttb_dedup_add(d, "busy", id, 1000 + (uint64_t)i / 100), 0);
  }
  cr_assert_eq(ttb_dedup_count(d), 100);
  for (int i = 100000 - 100; i < 100000; i++) {
    snprintf(id, sizeof id, "id-%d", i);
    cr_assert(ttb_dedup_seen(d, "busy", id, 3000), "%s", id);
  }
  cr_assert(!ttb_dedup_seen(d, "busy", "id-99899", 3000));
  cr_assert(!ttb_dedup_seen(d, "busy", "id-0", 3000));
  ttb_dedup_free(d);
}

Test(dedup, off)
{
  ttb_dedup *d = ttb_dedup_create(0, 100);
  cr_assert_eq(ttb_dedup_add(d, "a", "m", 1), 0);
  cr_assert(!ttb_dedup_seen(d, "a", "m", 2));
  ttb_dedup_free(d);
}

Test(dedup, many_channels_and_readds)
{
  ttb_dedup *d = ttb_dedup_create(MIN, 64);
  char ch[32], id[32];
  for (int c = 0; c < 3000; c++) {
    snprintf(ch, sizeof ch, "chan-%d", c);
    for (int i = 0; i < 20; i++) {
      snprintf(id, sizeof id, "%d", i);
      cr_assert_eq(ttb_dedup_add(d, ch, id, 10), 0);
      cr_assert_eq(ttb_dedup_add(d, ch, id, 11), 0, "adding twice keeps one");
    }
  }
  cr_assert_eq(ttb_dedup_count(d), 3000 * 20);
  cr_assert(ttb_dedup_seen(d, "chan-2999", "19", 12));
  cr_assert(!ttb_dedup_seen(d, "chan-3000", "19", 12));
  ttb_dedup_free(d);
}
