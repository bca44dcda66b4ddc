/*
 * Operator-only surfaces and limits, against the real binary: /metrics only
 * with its token or on its own listener, /sounds/ serving the pack's .ogg
 * files and nothing else, the /tts/generate bucket per token.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static srv S;

static void setup(void) { srv_start(&S, NULL, false); }
static void teardown(void)
{
  cr_expect_eq(srv_stop(&S), 0, "the server did not stop gracefully");
  srv_cleanup(&S);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120);

/* Restarts S on its data dir with extra flags. */
static void restart(const char *const *extra)
{
  cr_assert_eq(srv_stop(&S), 0);
  srv_start(&S, extra, true);
}

/* A loopback port that was free a moment ago. */
static int free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

Test(limits, metrics_want_the_token_on_the_main_port)
{
  http_resp r;
  http(&S, "GET", "/metrics", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 401, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_") == NULL);
  http_free(&r);
  http(&S, "GET", "/metrics", "Authorization: Bearer test-metrics-token-0123456789x\r\n", NULL, 0, &r);
  cr_expect_eq(r.status, 401);
  http_free(&r);
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"tts_burst\"} 20") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"tts_per_min\"} 60") != NULL);
  http_free(&r);
}

Test(limits, metrics_are_off_by_default_and_on_their_own_listener)
{
  /* no token file: no /metrics on the main port */
  const char *const none[] = {"--metrics-token-file", "", NULL};
  restart(none);
  http_resp r;
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect_eq(r.status, 404, "%s", r.body);
  http_free(&r);

  char ml[64];
  int mport = free_port();
  snprintf(ml, sizeof ml, "127.0.0.1:%d", mport);
  const char *const listener[] = {"--metrics-token-file", "", "--metrics-listen", ml, NULL};
  restart(listener);
  srv m = S;
  m.port = mport;
  http(&m, "GET", "/metrics", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strstr(r.body, "ttboost_sockets_open") != NULL);
  http_free(&r);
  /* that listener serves nothing else, and the main port still no /metrics */
  http(&m, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
  http(&m, "POST", "/auth/login", NULL, "{}", 2, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
  http(&S, "GET", "/metrics", "Host: metrics\r\n", NULL, 0, &r);
  cr_expect_eq(r.status, 404);
  http_free(&r);
  http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
}

Test(limits, sounds_serve_only_the_pack)
{
  http_resp r;
  static const char *const ok[] = {"/sounds/default.ogg", "/sounds/chime.ogg", "/sounds/bell.ogg"};
  http(&S, "GET", ok[0], NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  cr_expect(strcasestr(r.headers, "immutable") != NULL, "%s", r.headers);
  http_free(&r);
  http(&S, "GET", ok[2], NULL, NULL, 0, &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
  /* in a build tree the sounds sit beside make-sounds and its objects */
  static const char *const bad[] = {"/sounds/make-sounds", "/sounds/", "/sounds",
                                    "/sounds/make-sounds.p/", "/sounds/meson.build",
                                    "/sounds/default.ogg/../make-sounds", "/sounds/DEFAULT.ogg"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    http(&S, "GET", bad[i], NULL, NULL, 0, &r);
    cr_expect_eq(r.status, 404, "%s: %d", bad[i], r.status);
    cr_expect(strstr(r.body, "ELF") == NULL, "%s served a binary", bad[i]);
    http_free(&r);
  }
}

Test(limits, tts_generate_has_a_bucket_per_token)
{
  const char *const small[] = {"--tts-burst", "3", "--tts-per-min", "60", NULL};
  restart(small);
  char key[128], user[64], tok[2][64], hdr[160];
  new_key(&S, key, sizeof key, NULL, "2");
  cr_assert_eq(login(&S, key, "phone", user, tok[0]), 200);
  cr_assert_eq(login(&S, key, "tablet", user, tok[1]), 200);
  const char *body = "{\"text\":\"bucket\"}";
  http_resp r;
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", tok[0]);
  for (int i = 0; i < 3; i++) {
    http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
    cr_expect_eq(r.status, 200, "request %d: %d %s", i, r.status, r.body);
    http_free(&r);
  }
  http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
  cr_expect_eq(r.status, 429, "%s", r.body);
  cr_expect(strcasestr(r.headers, "retry-after: 1") != NULL, "%s", r.headers);
  cr_expect(strstr(r.body, "too_many_requests") != NULL, "%s", r.body);
  http_free(&r);
  /* another token has its own bucket */
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", tok[1]);
  http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
  cr_expect_eq(r.status, 200);
  http_free(&r);
  /* a second later the first has one again */
  sleep(1);
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", tok[0]);
  http(&S, "POST", "/tts/generate", hdr, body, strlen(body), &r);
  cr_expect_eq(r.status, 200, "%s", r.body);
  http_free(&r);
  http(&S, "GET", "/metrics", METRICS_AUTH, NULL, 0, &r);
  cr_expect(strstr(r.body, "ttboost_tts_rate_limited_total 1") != NULL, "%s", r.body);
  cr_expect(strstr(r.body, "ttboost_limit{name=\"tts_burst\"} 3") != NULL);
  http_free(&r);
}
