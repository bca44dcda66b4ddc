/* The connector lease's rules (server/src/lease_rules.c): pure functions. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lease_rules.h"

#define TTL 9000u /* renew every 3 s, give up after 6 s, retry errors after 1 s */

/* Runs one call: what ttb_lease_next says is due at now must be act. */
static ttb_lease_event run(ttb_lease_entry *e, uint64_t now, ttb_lease_act act, ttb_lease_result r,
                           uint64_t rev)
{
  cr_assert_eq(ttb_lease_next(e, now, TTL, NULL), act, "at %llu", (unsigned long long)now);
  return ttb_lease_apply(e, act, r, rev, now, now, TTL);
}

Test(lease_rules, nothing_wanted_nothing_due)
{
  ttb_lease_entry e = {0};
  uint64_t due = 0;
  cr_assert_eq(ttb_lease_next(&e, 1000, TTL, &due), TTB_LEASE_ACT_NONE);
  cr_assert_eq(due, UINT64_MAX);
}

Test(lease_rules, acquire_renew_release)
{
  ttb_lease_entry e = {0};
  e.want = true;
  cr_assert_eq(run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 5), TTB_LEASE_EV_ACQUIRED);
  cr_assert(e.held);
  cr_assert_eq(e.rev, 5);
  uint64_t due = 0;
  cr_assert_eq(ttb_lease_next(&e, 2000, TTL, &due), TTB_LEASE_ACT_NONE);
  cr_assert_eq(due, 4000, "renewed T/3 after the create: %llu", (unsigned long long)due);
  cr_assert_eq(run(&e, 4000, TTB_LEASE_ACT_RENEW, TTB_LEASE_R_OK, 9), TTB_LEASE_EV_NONE);
  cr_assert_eq(e.rev, 9);
  cr_assert_eq(ttb_lease_next(&e, 6999, TTL, NULL), TTB_LEASE_ACT_NONE);
  cr_assert_eq(ttb_lease_next(&e, 7000, TTL, NULL), TTB_LEASE_ACT_RENEW);
  e.want = false;
  cr_assert_eq(run(&e, 5000, TTB_LEASE_ACT_RELEASE, TTB_LEASE_R_OK, 10), TTB_LEASE_EV_RELEASED);
  cr_assert_not(e.held);
  cr_assert_eq(ttb_lease_next(&e, 5000, TTL, NULL), TTB_LEASE_ACT_NONE);
}

Test(lease_rules, taken_is_retried_every_third_of_the_ttl)
{
  ttb_lease_entry e = {0};
  e.want = true;
  cr_assert_eq(run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_TAKEN, 0), TTB_LEASE_EV_NONE);
  cr_assert_not(e.held);
  cr_assert_eq(ttb_lease_next(&e, 3999, TTL, NULL), TTB_LEASE_ACT_NONE);
  /* the holder died: its key expired; the next try takes it */
  cr_assert_eq(run(&e, 4000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 12), TTB_LEASE_EV_ACQUIRED);
}

Test(lease_rules, errors_are_retried_within_a_second)
{
  ttb_lease_entry e = {0};
  e.want = true;
  cr_assert_eq(run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_ERROR, 0), TTB_LEASE_EV_NONE);
  cr_assert_eq(ttb_lease_next(&e, 1999, TTL, NULL), TTB_LEASE_ACT_NONE);
  cr_assert_eq(ttb_lease_next(&e, 2000, TTL, NULL), TTB_LEASE_ACT_CREATE);
  /* a short TTL retries within its third */
  ttb_lease_entry f = {0};
  f.want = true;
  ttb_lease_apply(&f, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_ERROR, 0, 0, 0, 900);
  cr_assert_eq(f.next_ms, 300);
}

Test(lease_rules, a_renewal_refused_by_another_holder_is_lost_at_once)
{
  ttb_lease_entry e = {0};
  e.want = true;
  run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 5);
  cr_assert_eq(run(&e, 4000, TTB_LEASE_ACT_RENEW, TTB_LEASE_R_TAKEN, 0), TTB_LEASE_EV_LOST);
  cr_assert_not(e.held);
  /* asks again at once (to learn the holder), then every T/3 */
  cr_assert_eq(ttb_lease_next(&e, 4000, TTL, NULL), TTB_LEASE_ACT_CREATE);
}

Test(lease_rules, failing_renewals_give_up_before_the_key_can_expire)
{
  ttb_lease_entry e = {0};
  e.want = true;
  run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 5); /* key expires at 10000 at the earliest */
  cr_assert_eq(run(&e, 4000, TTB_LEASE_ACT_RENEW, TTB_LEASE_R_ERROR, 0), TTB_LEASE_EV_NONE);
  cr_assert(e.held);
  cr_assert_eq(run(&e, 5000, TTB_LEASE_ACT_RENEW, TTB_LEASE_R_ERROR, 0), TTB_LEASE_EV_NONE);
  cr_assert_eq(run(&e, 6000, TTB_LEASE_ACT_RENEW, TTB_LEASE_R_ERROR, 0), TTB_LEASE_EV_NONE);
  uint64_t due = 0;
  cr_assert_eq(ttb_lease_next(&e, 6500, TTL, &due), TTB_LEASE_ACT_NONE);
  cr_assert_eq(due, 7000);
  /* 2T/3 after the last renewal that worked: given up, no KV call */
  cr_assert_eq(ttb_lease_next(&e, 7000, TTL, NULL), TTB_LEASE_ACT_EXPIRE);
  cr_assert_eq(ttb_lease_apply(&e, TTB_LEASE_ACT_EXPIRE, TTB_LEASE_R_ERROR, 0, 7000, 7000, TTL),
               TTB_LEASE_EV_LOST);
  cr_assert_not(e.held);
  cr_assert_lt(7000, 1000 + TTL, "the connector stopped before the key could expire");
}

Test(lease_rules, a_changed_value_is_written_at_once)
{
  ttb_lease_entry e = {0};
  e.want = true;
  run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 5);
  e.dirty = true;
  cr_assert_eq(run(&e, 1500, TTB_LEASE_ACT_RENEW, TTB_LEASE_R_OK, 6), TTB_LEASE_EV_NONE);
  cr_assert_not(e.dirty);
  cr_assert_eq(e.next_ms, 4500);
}

Test(lease_rules, not_wanted_any_more_while_creating)
{
  ttb_lease_entry e = {0};
  e.want = true;
  cr_assert_eq(ttb_lease_next(&e, 1000, TTL, NULL), TTB_LEASE_ACT_CREATE);
  e.want = false; /* the devices left during the call */
  cr_assert_eq(ttb_lease_apply(&e, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 3, 1000, 1010, TTL),
               TTB_LEASE_EV_NONE, "no connector for a channel no longer wanted");
  cr_assert(e.held);
  cr_assert_eq(ttb_lease_next(&e, 1010, TTL, NULL), TTB_LEASE_ACT_RELEASE);
}

Test(lease_rules, a_failed_release_is_not_retried)
{
  ttb_lease_entry e = {0};
  e.want = true;
  run(&e, 1000, TTB_LEASE_ACT_CREATE, TTB_LEASE_R_OK, 5);
  e.want = false;
  cr_assert_eq(run(&e, 2000, TTB_LEASE_ACT_RELEASE, TTB_LEASE_R_ERROR, 0), TTB_LEASE_EV_RELEASED);
  cr_assert_eq(ttb_lease_next(&e, 2000, TTL, NULL), TTB_LEASE_ACT_NONE, "it expires by the TTL");
}

Test(lease_rules, keys)
{
  char k[64];
  cr_assert_eq(ttb_lease_key("7301234567890123456", k, sizeof k), 0);
  cr_assert_str_eq(k, "7301234567890123456");
  cr_assert_eq(ttb_lease_key("u_ser-1", k, sizeof k), 0);
  cr_assert_str_eq(k, "u_ser-1");
  cr_assert_eq(ttb_lease_key("a.b c=", k, sizeof k), 0);
  cr_assert_str_eq(k, "a=2Eb=20c=3D");
  cr_assert_eq(ttb_lease_key("\xd0\x90", k, sizeof k), 0);
  cr_assert_str_eq(k, "=D0=90");
  cr_assert_eq(ttb_lease_key("", k, sizeof k), -1);
  cr_assert_eq(ttb_lease_key("abc", k, 3), -1);
  cr_assert_eq(ttb_lease_key("abc", k, 4), 0);
  cr_assert_eq(ttb_lease_key("a.", k, 4), -1);
}

Test(lease_rules, values_round_trip)
{
  ttb_lease_value v = {0}, w;
  snprintf(v.node, sizeof v.node, "0123456789abcdef");
  snprintf(v.addr, sizeof v.addr, "http://127.0.0.1:8080");
  snprintf(v.state, sizeof v.state, "live");
  snprintf(v.room, sizeof v.room, "7301");
  snprintf(v.message, sizeof v.message, "in the\troom\nnow");
  char buf[1024];
  int n = ttb_lease_value_format(&v, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_str_eq(buf,
                   "ttb1\t0123456789abcdef\thttp://127.0.0.1:8080\tlive\t7301\tin the room now");
  cr_assert_eq(ttb_lease_value_parse(buf, (size_t)n, &w), 0);
  cr_assert_str_eq(w.node, v.node);
  cr_assert_str_eq(w.addr, v.addr);
  cr_assert_str_eq(w.state, "live");
  cr_assert_str_eq(w.room, "7301");
  cr_assert_str_eq(w.message, "in the room now");
  /* no status yet: empty fields */
  ttb_lease_value only = {0};
  snprintf(only.node, sizeof only.node, "n1");
  n = ttb_lease_value_format(&only, buf, sizeof buf);
  cr_assert_eq(ttb_lease_value_parse(buf, (size_t)n, &w), 0);
  cr_assert_str_eq(w.node, "n1");
  cr_assert_str_eq(w.state, "");
}

Test(lease_rules, values_not_ours)
{
  ttb_lease_value w;
  cr_assert_eq(ttb_lease_value_parse("", 0, &w), -1, "a released lease");
  cr_assert_eq(ttb_lease_value_parse(NULL, 0, &w), -1);
  cr_assert_eq(ttb_lease_value_parse("hello", 5, &w), -1);
  cr_assert_eq(ttb_lease_value_parse("ttb1\t", 5, &w), -1, "no node");
  cr_assert_eq(ttb_lease_value_parse("ttb1\tn\0x", 8, &w), -1, "a NUL inside");
  cr_assert_eq(ttb_lease_value_parse("ttb1\tn", 6, &w), 0);
  cr_assert_str_eq(w.node, "n");
  ttb_lease_value v = {0};
  char small[8];
  cr_assert_eq(ttb_lease_value_format(&v, small, sizeof small), -1, "no node id");
  snprintf(v.node, sizeof v.node, "abcdef");
  cr_assert_eq(ttb_lease_value_format(&v, small, sizeof small), -1, "too small");
}
