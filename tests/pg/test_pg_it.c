/*
 * The real ttboost-server with --db postgresql://… (tests/pg/with_pg.sh
 * starts the PostgreSQL): a key made by `ttboost-admin --db`, login, the
 * WebSocket, `session revoke` through the admin closing the socket, license
 * revocation refusing logins, two servers on one database seeing the same
 * licenses and sessions, no SQLite file made, the URL's password never
 * printed. Each test has a schema of its own.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define PASSWORD "NeverPrinted-7Qx" /* trust auth: accepted and ignored */

static srv A, B;
static char url[1024], schema[64];

static void quiet_notice(void *arg, const char *msg)
{
  (void)arg;
  (void)msg;
}

static void pg_admin(const char *sql)
{
  const char *base = env_or_fail("TTB_TEST_DB_URL");
  PGconn *c = PQconnectdb(base);
  cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
  PQsetNoticeProcessor(c, quiet_notice, NULL); /* "drop cascades to …" */
  PGresult *r = PQexec(c, sql);
  cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s",
            sql, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
}

static void setup(void)
{
  const char *dir = env_or_fail("TTB_TEST_PG_DIR");
  snprintf(schema, sizeof schema, "it%d", (int)getpid());
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
  pg_admin(sql);
  /* with a password in it, to see that it is printed nowhere */
  snprintf(url, sizeof url,
           "postgresql://ttb:" PASSWORD
           "@/postgres?host=%s&options=-csearch_path%%3D%s&application_name=%s",
           dir, schema, schema);
}

static void teardown(void)
{
  srv *all[] = {&A, &B};
  for (int i = 0; i < 2; i++)
    if (all[i]->pid > 0) {
      srv_stop(all[i]);
      srv_cleanup(all[i]);
      all[i]->pid = 0;
    }
  char sql[128];
  snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
  pg_admin(sql);
}

TestSuite(pg_it, .init = setup, .fini = teardown, .timeout = 120);

static void start(srv *s)
{
  const char *extra[] = {"--db", url, NULL};
  srv_start(s, extra, false);
  cr_assert_null(strstr(s->startup, PASSWORD), "the password was printed: %s", s->startup);
  /* licenses and sessions live in PostgreSQL: no SQLite file */
  char path[400];
  struct stat sb;
  snprintf(path, sizeof path, "%s/ttboost.db", s->dir);
  cr_assert_neq(stat(path, &sb), 0, "%s exists", path);
}

/* ttboost-admin --db URL ARGS...; stdout+stderr into out. */
static int admin_db(char *out, size_t cap, const char *const *args)
{
  const char *argv[16] = {env_or_fail("TTBOOST_ADMIN"), "--db", url};
  int n = 3;
  for (int i = 0; args[i] != NULL && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int rc = run_capture(argv, out, cap);
  cr_assert_null(strstr(out, PASSWORD), "the admin printed the password: %s", out);
  return rc;
}

static void new_key_db(char *key, size_t cap, const char *devices)
{
  char out[2048];
  const char *args[] = {"license", "create", "--days", "30", "--devices", devices, NULL};
  cr_assert_eq(admin_db(out, sizeof out, args), 0, "%s", out);
  char *k = strstr(out, "TTB-");
  cr_assert_not_null(k, "%s", out);
  k[strcspn(k, "\r\n")] = '\0';
  snprintf(key, cap, "%s", k);
}

static void open_ws(ws *w, const srv *s, const char *tok)
{
  char path[128];
  snprintf(path, sizeof path, "/ws/%s", tok);
  cr_assert_eq(ws_connect(w, s, path, NULL), 0);
  char m[4096];
  cr_assert(ws_text(w, m, sizeof m, 5000), "hello");
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

/* The id of user's only session, from `session list`. */
static long long session_id(const char *user)
{
  char out[8192];
  const char *list[] = {"session", "list", "--user", user, NULL};
  cr_assert_eq(admin_db(out, sizeof out, list), 0, "%s", out);
  /* stderr ("1 session") and stdout come together: the row after the header */
  char *row = strstr(out, "ID ");
  cr_assert_not_null(row, "%s", out);
  row = strchr(row, '\n');
  cr_assert_not_null(row, "%s", out);
  long long id = strtoll(row + 1, NULL, 10);
  cr_assert_gt(id, 0, "%s", out);
  return id;
}

Test(pg_it, login_ws_and_admin_revoke)
{
  start(&A);
  char key[128], user[64], token[64], out[4096];
  new_key_db(key, sizeof key, "0");
  cr_assert_eq(login(&A, key, NULL, user, token), 200);
  ws w;
  open_ws(&w, &A, token);
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%lld", session_id(user));
  const char *rev[] = {"session", "revoke", idtext, NULL};
  cr_assert_eq(admin_db(out, sizeof out, rev), 0, "%s", out);
  cr_assert_eq(close_code(&w, 5000), 4001, "the server closes the revoked session's socket");
  ws_close(&w);
  /* the license revoked through the admin: logins are refused */
  const char *lrev[] = {"license", "revoke", key, NULL};
  cr_assert_eq(admin_db(out, sizeof out, lrev), 0, "%s", out);
  int st = login(&A, key, NULL, user, token);
  cr_assert(st == 401 || st == 403, "login after revoke: %d", st);
  /* the same database without --db: the admin sees nothing there */
  cr_assert_eq(srv_stop(&A), 0, "graceful stop");
  srv_cleanup(&A);
  A.pid = 0;
}

Test(pg_it, two_servers_one_database)
{
  start(&A);
  start(&B);
  /* a license made after both started */
  char key[128], user[64], token[64], user_b[64], token_b[64];
  new_key_db(key, sizeof key, "1");
  cr_assert_eq(login(&A, key, "phone", user, token), 200);
  /* B knows A's session: the socket opens there */
  ws wb;
  open_ws(&wb, &B, token);
  /* the device limit counts across servers */
  cr_assert_eq(login(&B, key, "tablet", user_b, token_b), 403);
  cr_assert_eq(login(&B, key, "phone", user_b, token_b), 200);
  cr_assert_str_eq(user_b, user);
  /* a session ended on A (logout) closes its socket on B */
  http_resp r;
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
  cr_assert_eq(http(&A, "POST", "/auth/logout", hdr, NULL, 0, &r), 200);
  http_free(&r);
  cr_assert_eq(close_code(&wb, 5000), 4001, "B closes the socket of the session ended on A");
  ws_close(&wb);
  /* a license revoked through the admin: refused on both */
  char out[4096];
  const char *lrev[] = {"license", "revoke", key, NULL};
  cr_assert_eq(admin_db(out, sizeof out, lrev), 0, "%s", out);
  int sa = login(&A, key, "phone", user, token), sb = login(&B, key, "phone", user, token);
  cr_assert(sa == 401 || sa == 403, "A: %d", sa);
  cr_assert(sb == 401 || sb == 403, "B: %d", sb);
}

/* The database drops the server's connection: sockets stay, the next
 * statements connect again; a login meanwhile is at worst a 503 `busy`. */
Test(pg_it, database_connection_lost)
{
  start(&A);
  char key[128], user[64], token[64], out[4096];
  new_key_db(key, sizeof key, "0");
  cr_assert_eq(login(&A, key, "a", user, token), 200);
  ws w;
  open_ws(&w, &A, token);
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'",
           schema);
  pg_admin(sql);
  int st = 0, busy = 0;
  for (int i = 0; i < 3 && st != 200; i++) {
    st = login(&A, key, "b", user, token);
    if (st == 503)
      busy++;
  }
  cr_assert_eq(st, 200, "login after the connection was lost: %d", st);
  cr_assert_leq(busy, 1, "one failed statement at most, then a new connection");
  /* the new session works, ending it still closes its socket, and the first
   * socket lived on through it all */
  ws w2;
  open_ws(&w2, &A, token);
  http_resp r;
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
  cr_assert_eq(http(&A, "POST", "/auth/logout", hdr, NULL, 0, &r), 200);
  http_free(&r);
  cr_assert_eq(close_code(&w2, 5000), 4001);
  ws_close(&w2);
  cr_assert_eq(ws_send(&w, 9, "p", 1), 0, "ping on the first socket");
  const uint8_t *d;
  size_t n;
  cr_assert_neq(ws_recv(&w, &d, &n, 1500), -1, "the first socket is still open");
  ws_close(&w);
  (void)out;
}

/* Channel settings put on one server apply to the other's events: the
 * trigger on channel_settings notifies, the other reloads its cache. */
Test(pg_it, settings_put_on_one_server_apply_on_the_other)
{
  char key[128], user[64], token[64];
  new_key_db(key, sizeof key, "1"); /* before: both servers know it from the start */
  start(&A);
  start(&B);
  cr_assert_eq(login(&A, key, "phone", user, token), 200);
  ws wb;
  open_ws(&wb, &B, token);
  char hdr[256];
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n",
           token);
  const char *doc = "{\"banned_words\":[\"secret\"]}";
  http_resp r;
  cr_assert_eq(http(&A, "PUT", "/me/settings", hdr, doc, strlen(doc), &r), 200, "%s", r.body);
  http_free(&r);
  cr_assert_eq(http(&B, "GET", "/me/settings", hdr, NULL, 0, &r), 200, "%s", r.body);
  cr_assert(strstr(r.body, "\"secret\"") != NULL, "%s", r.body);
  http_free(&r);
  bool silent = false;
  for (int i = 0; i < 50 && !silent; i++) {
    char body[512], m[4096], url[512] = "", type[32] = "";
    snprintf(body, sizeof body,
             "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"v\",\"message\":\"a secret %d\"}",
             user, i);
    cr_assert_eq(ingest(&B, body, &r), 202, "%s", r.body);
    http_free(&r);
    do {
      cr_assert(ws_text(&wb, m, sizeof m, 5000), "no chat on B");
      json_str(m, "type", type, sizeof type);
    } while (strcmp(type, "chat") != 0);
    json_str(m, "tts_url", url, sizeof url);
    silent = url[0] == '\0';
    if (!silent)
      usleep(100000);
  }
  cr_assert(silent, "B never applied the settings put on A");
  ws_close(&wb);
}
