/*
 * The OBS overlay's server side against the real server: overlay tokens
 * (POST, GET, DELETE /me/overlay-tokens with the ws_token; random, shown
 * once, stored hashed, per license, at most 32), the read-only socket
 * /overlay/ws/{token} (the channel's events, ?since= resume, closed with
 * 4001 when its token is revoked here or with ttboost-admin), and the
 * embedded pages (/app/, /overlay/: types, ETag, CSP).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static srv S;
static char key[128], user[64], token[64];
static char key2[128], user2[64], token2[64];

static void setup(void)
{
  srv_start(&S, NULL, false);
  new_key(&S, key, sizeof key, NULL, "0");
  cr_assert_eq(login(&S, key, NULL, user, token), 200);
  new_key(&S, key2, sizeof key2, NULL, "0");
  cr_assert_eq(login(&S, key2, NULL, user2, token2), 200);
}

static void teardown(void)
{
  if (S.pid > 0) {
    srv_stop(&S);
    srv_cleanup(&S);
  }
}

TestSuite(overlay, .init = setup, .fini = teardown, .timeout = 90);

/* A request to /me/overlay-tokens with the bearer tok (NULL: none). */
static int me(const char *method, const char *tok, const char *body, http_resp *r)
{
  char hdr[256] = "";
  if (tok)
    snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
             tok);
  return http(&S, method, "/me/overlay-tokens", hdr[0] ? hdr : NULL, body, body ? strlen(body) : 0,
              r);
}

/* Makes an overlay token for tok's license: its text into out, its id returned. */
static long long make(const char *tok, char *out, size_t cap)
{
  http_resp r;
  cr_assert_eq(me("POST", tok, "{\"note\":\"OBS\"}", &r), 200, "%s", r.body);
  cr_assert(json_str(r.body, "token", out, cap), "%s", r.body);
  long long id = json_num(r.body, "id");
  char url[512];
  cr_assert(json_str(r.body, "url", url, sizeof url));
  /* this server's address as the request named it (the harness sends Host: 127.0.0.1) */
  char want[600];
  snprintf(want, sizeof want, "/overlay/#token=%s", out);
  cr_assert_eq(strncmp(url, "http://127.0.0.1", 16), 0, "%s", url);
  cr_assert_str_eq(url + strlen(url) - strlen(want), want);
  http_free(&r);
  return id;
}

static int close_code(ws *w, int timeout_ms)
{
  const uint8_t *d;
  size_t n;
  int op;
  while ((op = ws_recv(w, &d, &n, timeout_ms)) > 0)
    if (op == 8)
      return n >= 2 ? (d[0] << 8 | d[1]) : 0;
  return -1;
}

/* Waits for a chat frame whose message is msg. */
static bool wait_chat(ws *w, const char *msg, int timeout_ms)
{
  char buf[8192], want[256];
  snprintf(want, sizeof want, "\"message\":\"%s\"", msg);
  for (int i = 0; i < 50; i++) {
    if (!ws_text(w, buf, sizeof buf, timeout_ms))
      return false;
    if (strstr(buf, "\"type\":\"chat\"") && strstr(buf, want))
      return true;
  }
  return false;
}

static void chat(const char *channel, const char *msg)
{
  char body[512];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"Aruka\",\"message\":\"%s\"}", channel,
           msg);
  http_resp r;
  cr_assert_eq(ingest(&S, body, &r), 202, "%s", r.body);
  http_free(&r);
}

Test(overlay, tokens_are_made_listed_and_revoked_per_license)
{
  char t1[64], t2[64];
  long long id1 = make(token, t1, sizeof t1), id2 = make(token, t2, sizeof t2);
  cr_assert_eq(strncmp(t1, "TTO-", 4), 0);
  cr_assert_eq(strlen(t1), 30);
  cr_assert_str_neq(t1, t2);
  cr_assert_gt(id2, id1);
  /* the list: hints and notes, never the tokens */
  http_resp r;
  cr_assert_eq(me("GET", token, NULL, &r), 200);
  char hint[32];
  snprintf(hint, sizeof hint, "\"hint\":\"%.8s\"", t1);
  cr_assert_not_null(strstr(r.body, hint), "%s", r.body);
  cr_assert_null(strstr(r.body, t1), "no token in the list: %s", r.body);
  cr_assert_not_null(strstr(r.body, "\"note\":\"OBS\""), "%s", r.body);
  http_free(&r);
  /* another license sees none of them and cannot revoke them */
  cr_assert_eq(me("GET", token2, NULL, &r), 200);
  cr_assert_str_eq(r.body, "{\"tokens\":[]}");
  http_free(&r);
  char body[64];
  snprintf(body, sizeof body, "{\"id\":%lld}", id1);
  cr_assert_eq(me("DELETE", token2, body, &r), 404, "%s", r.body);
  http_free(&r);
  cr_assert_eq(me("DELETE", token, body, &r), 200, "%s", r.body);
  cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
  http_free(&r);
  cr_assert_eq(me("DELETE", token, body, &r), 404, "revoked once");
  http_free(&r);
  cr_assert_eq(me("GET", token, NULL, &r), 200);
  cr_assert_null(strstr(r.body, hint), "gone from the list: %s", r.body);
  http_free(&r);
  /* the database keeps hashes only */
  char path[512];
  snprintf(path, sizeof path, "%s/ttboost.db", S.dir);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  static char db[1 << 22];
  size_t n = fread(db, 1, sizeof db, f);
  fclose(f);
  cr_assert_null(memmem(db, n, t2 + 4, 26), "the token is not stored in clear");
  /* no ws_token, a bad one, bad bodies, other methods */
  cr_assert_eq(me("GET", NULL, NULL, &r), 401);
  http_free(&r);
  cr_assert_eq(me("POST", "not-a-token", "{}", &r), 401);
  http_free(&r);
  cr_assert_eq(me("POST", token, "{\"note\":5}", &r), 400);
  http_free(&r);
  cr_assert_eq(me("DELETE", token, "{}", &r), 400);
  http_free(&r);
  cr_assert_eq(me("PUT", token, "{}", &r), 405);
  http_free(&r);
  /* the server's output never shows a token */
  char out[16384];
  ssize_t got = read(S.out_fd, out, sizeof out - 1);
  out[got > 0 ? got : 0] = '\0';
  cr_assert_null(strstr(out, t2 + 4), "%s", out);
}

Test(overlay, at_most_32_active_tokens)
{
  char t[64];
  long long first = 0;
  for (int i = 0; i < 32; i++) {
    long long id = make(token, t, sizeof t);
    if (i == 0)
      first = id;
  }
  http_resp r;
  cr_assert_eq(me("POST", token, "{}", &r), 429, "%s", r.body);
  cr_assert_not_null(strstr(r.body, "too_many_tokens"));
  http_free(&r);
  char body[64];
  snprintf(body, sizeof body, "{\"id\":%lld}", first);
  cr_assert_eq(me("DELETE", token, body, &r), 200);
  http_free(&r);
  make(token, t, sizeof t); /* room again */
}

Test(overlay, the_socket_gets_the_channels_events_and_closes_on_revoke)
{
  char t[64], path[128];
  long long id = make(token, t, sizeof t);
  snprintf(path, sizeof path, "/overlay/ws/%s", t);
  ws w;
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  char buf[4096];
  cr_assert(ws_text(&w, buf, sizeof buf, 5000));
  cr_assert_not_null(strstr(buf, "\"type\":\"hello\""), "%s", buf);
  chat(user, "for the overlay");
  chat(user2, "another channel");
  cr_assert(wait_chat(&w, "for the overlay", 8000));
  /* what the client sends changes nothing on the channel: a phone still gets everything */
  const char *settings = "{\"type\":\"settings\",\"tts_enabled\":false,\"gifts_enabled\":false,"
                         "\"audio_frames\":false,\"profanity_filter\":true}";
  cr_assert_eq(ws_send(&w, 1, settings, strlen(settings)), 0);
  char wpath[128];
  snprintf(wpath, sizeof wpath, "/ws/%s?since=0", token);
  ws phone;
  cr_assert_eq(ws_connect(&phone, &S, wpath, NULL), 0);
  cr_assert(wait_chat(&phone, "for the overlay", 8000));
  chat(user, "second");
  cr_assert(wait_chat(&phone, "second", 8000));
  cr_assert(wait_chat(&w, "second", 8000), "the overlay socket still receives");
  ws_close(&phone);
  ws_close(&w);
  /* resume with ?since= */
  snprintf(path, sizeof path, "/overlay/ws/%s?since=1", t);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  cr_assert(wait_chat(&w, "second", 8000), "resumed after seq 1");
  /* revoked through the API: closed with 4001 at once, and refused after */
  char body[64];
  snprintf(body, sizeof body, "{\"id\":%lld}", id);
  http_resp r;
  cr_assert_eq(me("DELETE", token, body, &r), 200);
  http_free(&r);
  cr_assert_eq(close_code(&w, 3000), 4001);
  ws_close(&w);
  snprintf(path, sizeof path, "/overlay/ws/%s", t);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  cr_assert_eq(close_code(&w, 5000), 4001);
  ws_close(&w);
  /* a ws_token is not an overlay token, nor the reverse */
  snprintf(path, sizeof path, "/overlay/ws/%s", token);
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  cr_assert_eq(close_code(&w, 5000), 4001);
  ws_close(&w);
}

Test(overlay, admin_lists_and_revokes)
{
  char t[64], path[128];
  make(token, t, sizeof t);
  snprintf(path, sizeof path, "/overlay/ws/%s", t);
  ws w;
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  char out[8192];
  const char *list[] = {"overlay-token", "list", "--user", user, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, list), 0, "%s", out);
  cr_assert_null(strstr(out, t + 8), "no secret in the list: %s", out);
  char *row = strchr(out, '\n');
  cr_assert_not_null(row);
  long long id = strtoll(row + 1, NULL, 10);
  cr_assert_gt(id, 0, "%s", out);
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%lld", id);
  const char *rev[] = {"overlay-token", "revoke", idtext, NULL};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(admin(&S, out, sizeof out, rev), 0, "%s", out);
  cr_assert_eq(close_code(&w, 6000), 4001, "closed by the ended-sessions tick");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cr_assert_lt(t1.tv_sec - t0.tv_sec, 5);
  ws_close(&w);
  cr_assert_neq(admin(&S, out, sizeof out, rev), 0, "already revoked");
}

Test(overlay, a_revoked_license_stops_its_overlays)
{
  char t[64], path[128];
  make(token, t, sizeof t);
  char out[4096];
  const char *rev[] = {"license", "revoke", key, NULL};
  cr_assert_eq(admin(&S, out, sizeof out, rev), 0, "%s", out);
  sleep(2); /* the license snapshot is reloaded within a second */
  snprintf(path, sizeof path, "/overlay/ws/%s", t);
  ws w;
  cr_assert_eq(ws_connect(&w, &S, path, NULL), 0);
  int code = close_code(&w, 5000);
  cr_assert(code == 4003 || code == 4001, "refused: %d", code);
  ws_close(&w);
}

Test(overlay, pages_are_served_with_types_etag_and_csp)
{
  http_resp r;
  cr_assert_eq(http(&S, "GET", "/app/", NULL, NULL, 0, &r), 200);
  cr_assert_not_null(strcasestr(r.headers, "content-type: text/html; charset=utf-8"), "%s",
                     r.headers);
  cr_assert_not_null(
      strcasestr(r.headers, "content-security-policy: default-src 'none'; script-src 'self'"), "%s",
      r.headers);
  cr_assert_not_null(strcasestr(r.headers, "x-content-type-options: nosniff"));
  cr_assert_not_null(strcasestr(r.headers, "cache-control: no-cache"));
  cr_assert_not_null(strstr(r.body, "<script src=\"/app/app.js\""));
  cr_assert_null(strstr(r.body, "<script>"), "no inline script");
  char *e = strcasestr(r.headers, "etag: \"");
  cr_assert_not_null(e);
  char etag[40];
  cr_assert_eq(sscanf(e + 6, "%39[^\r\n]", etag), 1);
  http_free(&r);
  char hdr[96];
  snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
  cr_assert_eq(http(&S, "GET", "/app/", hdr, NULL, 0, &r), 304);
  http_free(&r);
  cr_assert_eq(http(&S, "GET", "/app", NULL, NULL, 0, &r), 301);
  cr_assert_not_null(strcasestr(r.headers, "location: /app/"));
  http_free(&r);
  struct {
    const char *path, *type;
  } files[] = {
      {"/app/app.js", "text/javascript"},         {"/app/app.css", "text/css"},
      {"/app/player.js", "text/javascript"},      {"/overlay/", "text/html"},
      {"/overlay/overlay.js", "text/javascript"}, {"/app/logo.svg", "image/svg+xml"},
      {"/app/profanity/en.txt", "text/plain"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    cr_assert_eq(http(&S, "GET", files[i].path, NULL, NULL, 0, &r), 200, "%s", files[i].path);
    char want[64];
    snprintf(want, sizeof want, "content-type: %s", files[i].type);
    cr_assert_not_null(strcasestr(r.headers, want), "%s: %s", files[i].path, r.headers);
    cr_assert_gt(r.body_len, 0);
    http_free(&r);
  }
  cr_assert_eq(http(&S, "GET", "/app/nope.js", NULL, NULL, 0, &r), 404);
  http_free(&r);
  cr_assert_eq(http(&S, "GET", "/app/../ttboost.db", NULL, NULL, 0, &r), 404);
  http_free(&r);
  cr_assert_eq(http(&S, "POST", "/app/", NULL, "x", 1, &r), 405);
  http_free(&r);
}

/* A browser keeps its connections open between requests: a server stopped
 * while one is idle (or while a connection has not sent anything yet)
 * still ends cleanly (it used to abort in h2o_context_dispose). */
Test(overlay, stops_cleanly_with_a_browsers_keep_alive_connection_open)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0), quiet = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(connect(quiet, (struct sockaddr *)&a, sizeof a), 0);
  const char req[] = "GET /app/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  cr_assert_gt(n, 12);
  buf[n] = '\0';
  cr_assert_eq(strncmp(buf, "HTTP/1.1 200", 12), 0, "%s", buf);
  cr_assert_null(strcasestr(buf, "connection: close"), "kept alive: %s", buf);
  cr_assert_eq(srv_stop(&S), 0, "a graceful exit"); /* srv_stop clears S.pid: teardown skips it */
  srv_cleanup(&S);
  close(fd);
  close(quiet);
}
