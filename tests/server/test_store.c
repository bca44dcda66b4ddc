/* Unit tests of the license and session store (server/src/store.c), built
 * twice: for SQLite (srv_test_store) and, with TTB_TEST_PG, for PostgreSQL
 * (srv_test_store_pg, run by tests/pg/with_pg.sh against a real server: each
 * test in a schema of its own, so tests may run in parallel). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#ifndef TTB_TEST_PG
#include <sqlite3.h>
#endif

/* The store's newest schema version (its migrations, store.c and store_pg.c). */
#define STORE_SCHEMA 7

#ifdef TTB_TEST_PG
#include <libpq-fe.h>
#include <sys/wait.h>

static char url[1024]; /* the store's URL: its own schema and application_name */
static char schema[64];

static void quiet_notice(void *arg, const char *msg)
{
  (void)arg;
  (void)msg;
}

/* Runs SQL on a connection of the test's own (TTB_TEST_DB_URL). */
static void pg_admin(const char *sql)
{
  const char *base = getenv("TTB_TEST_DB_URL");
  cr_assert_not_null(base, "TTB_TEST_DB_URL is not set: run through tests/pg/with_pg.sh");
  PGconn *c = PQconnectdb(base);
  cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
  PQsetNoticeProcessor(c, quiet_notice, NULL); /* "drop cascades to …" */
  PGresult *r = PQexec(c, sql);
  cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s",
            sql, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
}

/* A fresh schema, and url pointing the store at it. */
static void pg_new_schema(void)
{
  static int n;
  snprintf(schema, sizeof schema, "t%d_%d", (int)getpid(), n++);
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
  pg_admin(sql);
  snprintf(url, sizeof url, "%s&options=-csearch_path%%3D%s&application_name=%s",
           getenv("TTB_TEST_DB_URL"), schema, schema);
}
#define STORE_DB url
#define BACKEND "postgresql"
#else
#define STORE_DB NULL
#define BACKEND "sqlite"
#endif

#define DAY 86400
#define T0 1700000000 /* a fixed "now" */

static char dir[64];
static ttb_store *st;

/* Opens (or reopens) the store in dir. */
static void open_store(void)
{
  char err[256] = "";
  int rc = ttb_store_open_db(STORE_DB, dir, &st, err, sizeof err);
  cr_assert_eq(rc, 0, "open: %s", err);
  cr_assert_not_null(st);
}

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/ttb_store_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  /* A subdirectory that does not exist yet: open must create it. */
  strcat(dir, "/data");
#ifdef TTB_TEST_PG
  pg_new_schema();
#endif
  open_store();
}

static void teardown(void)
{
  ttb_store_close(st);
  st = NULL;
  const char *files[] = {"ttboost.db", "ttboost.db-wal", "ttboost.db-shm"};
  char path[128];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
  *strrchr(dir, '/') = '\0';
  rmdir(dir);
#ifdef TTB_TEST_PG
  char sql[128];
  snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
  pg_admin(sql);
#endif
}

/* Creates a license, asserting success. */
static void create(uint32_t days, uint32_t devices, const char *note, char key[TTB_STORE_KEY_MAX],
                   char uid[TTB_STORE_UUID_MAX])
{
  char err[256] = "";
  cr_assert_eq(ttb_store_license_create(st, T0, days, devices, note, key, uid, err, sizeof err), 0,
               "create: %s", err);
}

static bool is_uuid_v4(const char *u)
{
  if (strlen(u) != 36)
    return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (u[i] != '-')
        return false;
    } else if (!isxdigit((unsigned char)u[i]) || isupper((unsigned char)u[i])) {
      return false;
    }
  }
  return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, create_and_login)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], uid2[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 2, "test", key, uid);
  cr_assert(is_uuid_v4(uid), "user id %s", uid);
  cr_assert_eq(ttb_store_login(st, key, "dev1", T0 + 10, 30, uid2, tok), TTB_STORE_OK);
  cr_assert_str_eq(uid2, uid);
  cr_assert(is_uuid_v4(tok), "token %s", tok);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + 10), TTB_STORE_OK);
}

Test(store, key_format)
{
  char key[TTB_STORE_KEY_MAX], key2[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX],
      uid2[TTB_STORE_UUID_MAX];
  create(0, 0, NULL, key, uid);
  create(0, 0, NULL, key2, uid2);
  cr_assert_eq(strlen(key), 30, "key %s", key);
  cr_assert_eq(strncmp(key, "TTB-", 4), 0);
  for (int i = 4; i < 30; i++)
    cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", key[i]) != NULL, "char %c", key[i]);
  /* 130 bits: the last character carries 5 bits, all values possible. */
  cr_assert_str_neq(key, key2);
  cr_assert_str_neq(uid, uid2);
}

Test(store, key_input_normalised)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX], in[128];
  create(0, 0, NULL, key, uid);
  snprintf(in, sizeof in, "  \t%s\n", key);
  for (char *p = in; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  cr_assert_eq(ttb_store_login(st, in, "d", T0, 1, u, tok), TTB_STORE_OK);
  cr_assert_str_eq(u, uid);
}

Test(store, unknown_key)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(0, 0, NULL, key, uid);
  cr_assert_eq(ttb_store_login(st, "TTB-AAAAAAAAAAAAAAAAAAAAAAAAAA", "d", T0, 1, u, tok),
               TTB_STORE_UNKNOWN);
  cr_assert_str_eq(tok, "");
  cr_assert_eq(ttb_store_login(st, "", "d", T0, 1, u, tok), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_login(st, "   ", "d", T0, 1, u, tok), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_license_revoke(st, "TTB-NOPE"), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_license_extend(st, "TTB-NOPE", T0, 1), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_user_license(st, "00000000-0000-4000-8000-000000000000", T0),
               TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_session(st, "00000000-0000-4000-8000-000000000000", T0, u),
               TTB_STORE_UNKNOWN);
}

Test(store, revoked)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 0, NULL, key, uid);
  cr_assert_eq(ttb_store_license_revoke(st, key), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "d", T0, 1, u, tok), TTB_STORE_REVOKED);
  cr_assert_eq(ttb_store_user_license(st, uid, T0), TTB_STORE_REVOKED);
  /* Revoking again is fine; extending a revoked license does not revive it. */
  cr_assert_eq(ttb_store_license_revoke(st, key), TTB_STORE_OK);
  cr_assert_eq(ttb_store_license_extend(st, key, T0, 30), TTB_STORE_REVOKED);
}

Test(store, expired)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(1, 0, NULL, key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0 + DAY - 1, 1, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "d", T0 + DAY, 1, u, tok), TTB_STORE_EXPIRED);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + DAY - 1), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + DAY), TTB_STORE_EXPIRED);
}

Test(store, never_expires)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(0, 0, NULL, key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0 + 3650LL * DAY, 1, u, tok), TTB_STORE_OK);
  /* Extending a license that never expires keeps it so. */
  cr_assert_eq(ttb_store_license_extend(st, key, T0, 5), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + 3650LL * DAY), TTB_STORE_OK);
}

Test(store, extend)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(10, 0, NULL, key, uid);
  /* Before expiry: from the current expiry (T0 + 10 days) on. */
  cr_assert_eq(ttb_store_license_extend(st, key, T0 + DAY, 5), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + 15 * DAY - 1), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + 15 * DAY), TTB_STORE_EXPIRED);
  /* After expiry: from now on. */
  cr_assert_eq(ttb_store_login(st, key, "d", T0 + 20 * DAY, 1, u, tok), TTB_STORE_EXPIRED);
  cr_assert_eq(ttb_store_license_extend(st, key, T0 + 20 * DAY, 2), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "d", T0 + 20 * DAY, 1, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + 22 * DAY - 1), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_license(st, uid, T0 + 22 * DAY), TTB_STORE_EXPIRED);
  /* The key is accepted case-insensitively here too. */
  char lower[TTB_STORE_KEY_MAX];
  for (size_t i = 0; i <= strlen(key); i++)
    lower[i] = (char)tolower((unsigned char)key[i]);
  cr_assert_eq(ttb_store_license_extend(st, lower, T0 + 20 * DAY, 1), TTB_STORE_OK);
}

Test(store, device_limit)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX], tok2[TTB_STORE_UUID_MAX];
  create(0, 2, NULL, key, uid);
  cr_assert_eq(ttb_store_login(st, key, "a", T0, 1, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "b", T0, 1, u, tok2), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "c", T0, 1, u, tok), TTB_STORE_DEVICE_LIMIT);
  cr_assert_str_eq(tok, "");
  /* A known device logs in again, with a new token. */
  cr_assert_eq(ttb_store_login(st, key, "a", T0 + 1, 1, u, tok), TTB_STORE_OK);
  cr_assert_str_neq(tok, tok2);
  cr_assert_eq(ttb_store_login(st, key, "", T0 + 1, 1, u, tok), TTB_STORE_DEVICE_LIMIT);
  /* Once the sessions have expired the slots are free. */
  cr_assert_eq(ttb_store_login(st, key, "c", T0 + DAY + 1, 1, u, tok), TTB_STORE_OK);
}

Test(store, anonymous_devices)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(0, 2, NULL, key, uid);
  /* logins without a device id share one anonymous device */
  cr_assert_eq(ttb_store_login(st, key, "", T0, 1, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "", T0 + 10, 1, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, NULL, T0 + 10, 1, u, tok), TTB_STORE_OK);
  /* ... which takes one of the two slots */
  cr_assert_eq(ttb_store_login(st, key, "phone", T0 + 20, 1, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key, "tablet", T0 + 20, 1, u, tok), TTB_STORE_DEVICE_LIMIT);
  cr_assert_eq(ttb_store_login(st, key, "", T0 + 30, 1, u, tok), TTB_STORE_OK);
}

Test(store, unlimited_devices)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(0, 0, NULL, key, uid);
  for (int i = 0; i < 20; i++) {
    char dev[16];
    snprintf(dev, sizeof dev, "dev%d", i);
    cr_assert_eq(ttb_store_login(st, key, i % 2 ? dev : "", T0, 1, u, tok), TTB_STORE_OK);
  }
}

Test(store, session)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 0, NULL, key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0, 2, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_session(st, tok, T0 + 5, u), TTB_STORE_OK);
  cr_assert_str_eq(u, uid);
  cr_assert_eq(ttb_store_session(st, tok, T0 + 120, u), TTB_STORE_OK); /* touches last_seen */
  cr_assert_eq(ttb_store_session(st, tok, T0 + 2 * DAY - 1, u), TTB_STORE_OK);
  cr_assert_eq(ttb_store_session(st, tok, T0 + 2 * DAY, u), TTB_STORE_EXPIRED);
  cr_assert_str_eq(u, "");
  cr_assert_eq(ttb_store_session(st, "not-a-token", T0, u), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_session(st, "", T0, u), TTB_STORE_UNKNOWN);
}

Test(store, session_follows_license)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(3, 0, NULL, key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0, 30, u, tok), TTB_STORE_OK);
  /* The license expires before the session does. */
  cr_assert_eq(ttb_store_session(st, tok, T0 + 3 * DAY, u), TTB_STORE_EXPIRED);
  cr_assert_eq(ttb_store_session(st, tok, T0 + DAY, u), TTB_STORE_OK);
  cr_assert_eq(ttb_store_license_revoke(st, key), TTB_STORE_OK);
  cr_assert_eq(ttb_store_session(st, tok, T0 + DAY, u), TTB_STORE_REVOKED);
}

Test(store, reopen_keeps_data)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 1, "kept", key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0, 7, u, tok), TTB_STORE_OK);
  ttb_store_close(st);
  st = NULL;
  open_store();
  cr_assert_eq(ttb_store_schema_version(st), STORE_SCHEMA);
  cr_assert_eq(ttb_store_session(st, tok, T0 + 1, u), TTB_STORE_OK);
  cr_assert_str_eq(u, uid);
  cr_assert_eq(ttb_store_login(st, key, "other", T0 + 1, 7, u, tok), TTB_STORE_DEVICE_LIMIT);
  cr_assert_eq(ttb_store_login(st, key, "d", T0 + 1, 7, u, tok), TTB_STORE_OK);
}

Test(store, schema_version_and_mode)
{
  cr_assert_eq(ttb_store_schema_version(st), STORE_SCHEMA);
  cr_assert_str_eq(ttb_store_backend(st), BACKEND);
#ifndef TTB_TEST_PG
  char path[128];
  snprintf(path, sizeof path, "%s/ttboost.db", dir);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", (unsigned)(sb.st_mode & 0777));
#endif
  /* A second handle on the same file (WAL) works alongside the first. */
  ttb_store *other = NULL;
  char err[256] = "";
  cr_assert_eq(ttb_store_open_db(STORE_DB, dir, &other, err, sizeof err), 0, "%s", err);
  cr_assert_eq(ttb_store_schema_version(other), STORE_SCHEMA);
  ttb_store_close(other);
}

#ifndef TTB_TEST_PG
/* A database of schema 4 (the table spelled "licences") is upgraded in
 * place: its licenses and sessions still work. */
Test(store, upgrade_from_licences_table)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 1, "old", key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0, 7, u, tok), TTB_STORE_OK);
  ttb_store_close(st);
  st = NULL;
  char path[128];
  snprintf(path, sizeof path, "%s/ttboost.db", dir);
  sqlite3 *db = NULL;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  /* schema 4: no channel_settings (5 -> 6) nor user_sounds (6 -> 7) yet, the old table name */
  cr_assert_eq(sqlite3_exec(db,
                            "DROP TABLE channel_settings; DROP TABLE user_sounds;"
                            " ALTER TABLE licenses RENAME TO licences;"
                            " PRAGMA user_version = 4;",
                            NULL, NULL, NULL),
               SQLITE_OK, "%s", sqlite3_errmsg(db));
  sqlite3_close(db);
  open_store();
  cr_assert_eq(ttb_store_schema_version(st), STORE_SCHEMA);
  cr_assert_eq(ttb_store_session(st, tok, T0 + 1, u), TTB_STORE_OK);
  cr_assert_str_eq(u, uid);
  cr_assert_eq(ttb_store_login(st, key, "other", T0 + 1, 7, u, tok), TTB_STORE_DEVICE_LIMIT);
}
#endif

#ifndef TTB_TEST_PG
/* Reads a whole file; *len its size. */
static unsigned char *slurp(const char *path, size_t *len)
{
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    if (*len == cap) {
      cap = cap ? cap * 2 : 65536;
      buf = realloc(buf, cap);
      cr_assert_not_null(buf);
    }
    size_t n = fread(buf + *len, 1, cap - *len, f);
    if (n == 0)
      break;
    *len += n;
  }
  fclose(f);
  return buf;
}

#endif

static bool contains(const unsigned char *hay, size_t n, const char *needle)
{
  size_t m = strlen(needle);
  for (size_t i = 0; m <= n && i <= n - m; i++)
    if (memcmp(hay + i, needle, m) == 0)
      return true;
  return false;
}

#ifdef TTB_TEST_PG
/* Every row of the test's schema as text (bytea as hex), malloc'd. */
static char *pg_dump_rows(void)
{
  PGconn *c = PQconnectdb(url);
  cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, "SELECT coalesce(string_agg(x, ' '), '') FROM ("
                          " SELECT t::text AS x FROM licenses t UNION ALL"
                          " SELECT t::text FROM sessions t UNION ALL"
                          " SELECT t::text FROM ingest_tokens t UNION ALL"
                          " SELECT t::text FROM overlay_tokens t) rows");
  cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
  char *out = strdup(PQgetvalue(r, 0, 0));
  cr_assert_not_null(out);
  PQclear(r);
  PQfinish(c);
  return out;
}

/* Asserts that no row of the database holds text. */
static void assert_not_stored(const char *text)
{
  char *rows = pg_dump_rows();
  cr_assert(!contains((const unsigned char *)rows, strlen(rows), text), "%s found in a row", text);
  free(rows);
}
#else
/* Asserts that none of the database files hold text. */
static void assert_not_stored(const char *text)
{
  const char *files[] = {"ttboost.db", "ttboost.db-wal"};
  for (size_t i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    size_t len;
    unsigned char *b = slurp(path, &len);
    if (b == NULL)
      continue;
    cr_assert(!contains(b, len, text), "%s found in %s", text, files[i]);
    free(b);
  }
}
#endif

Test(store, secrets_not_stored)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 0, "a note", key, uid);
  cr_assert_eq(ttb_store_login(st, key, "d", T0, 7, u, tok), TTB_STORE_OK);
  /* Check both before (data in the WAL) and after a close (checkpointed). */
  assert_not_stored(key);
  assert_not_stored(key + 8); /* the part after the hint */
  assert_not_stored(tok);
  /* Sanity: the search does see what is stored. */
#ifdef TTB_TEST_PG
  {
    char *rows = pg_dump_rows();
    cr_assert(contains((const unsigned char *)rows, strlen(rows), uid));
    free(rows);
  }
#else
  {
    char path[128];
    snprintf(path, sizeof path, "%s/ttboost.db-wal", dir);
    size_t len;
    unsigned char *b = slurp(path, &len);
    char dbpath[128];
    snprintf(dbpath, sizeof dbpath, "%s/ttboost.db", dir);
    size_t len2;
    unsigned char *b2 = slurp(dbpath, &len2);
    cr_assert((b != NULL && contains(b, len, uid)) || (b2 != NULL && contains(b2, len2, uid)));
    free(b);
    free(b2);
  }
#endif
  ttb_store_close(st);
  st = NULL;
  assert_not_stored(key);
  assert_not_stored(key + 8);
  assert_not_stored(tok);
  open_store();
}

struct list_acc {
  int n;
  ttb_license_info l[4];
  int stop_after;
};

static int list_cb(void *arg, const ttb_license_info *l)
{
  struct list_acc *a = arg;
  if (a->n < 4)
    a->l[a->n] = *l;
  a->n++;
  return a->stop_after > 0 && a->n >= a->stop_after;
}

Test(store, list)
{
  char key1[TTB_STORE_KEY_MAX], key2[TTB_STORE_KEY_MAX], uid1[TTB_STORE_UUID_MAX],
      uid2[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX], tok[TTB_STORE_UUID_MAX];
  char err[256] = "";
  cr_assert_eq(ttb_store_license_create(st, T0, 0, 3, "first", key1, uid1, err, sizeof err), 0);
  cr_assert_eq(ttb_store_license_create(st, T0 + 5, 10, 0, "", key2, uid2, err, sizeof err), 0);
  cr_assert_eq(ttb_store_license_revoke(st, key2), TTB_STORE_OK);
  /* Sessions far in the future so that they count at the real time now. */
  cr_assert_eq(ttb_store_login(st, key1, "a", T0, 36500, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key1, "a", T0, 36500, u, tok), TTB_STORE_OK);
  cr_assert_eq(ttb_store_login(st, key1, "", T0, 36500, u, tok), TTB_STORE_OK);

  struct list_acc a = {0};
  cr_assert_eq(ttb_store_license_list(st, list_cb, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.n, 2);
  char hint[12];
  snprintf(hint, sizeof hint, "%.8s", key1);
  cr_assert_str_eq(a.l[0].key_hint, hint);
  cr_assert_str_eq(a.l[0].user_id, uid1);
  cr_assert_eq(a.l[0].created, T0);
  cr_assert_eq(a.l[0].expires, 0);
  cr_assert_eq(a.l[0].max_devices, 3);
  cr_assert_eq(a.l[0].devices, 2);
  cr_assert(!a.l[0].revoked);
  cr_assert_str_eq(a.l[0].note, "first");
  cr_assert_str_eq(a.l[1].user_id, uid2);
  cr_assert_eq(a.l[1].expires, T0 + 5 + 10 * DAY);
  cr_assert(a.l[1].revoked);
  cr_assert_eq(a.l[1].devices, 0);

  /* The callback stops the walk. */
  struct list_acc b = {.stop_after = 1};
  cr_assert_eq(ttb_store_license_list(st, list_cb, &b, err, sizeof err), 0);
  cr_assert_eq(b.n, 1);
}

Test(store, note_too_long)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], note[400], err[256] = "";
  memset(note, 'x', sizeof note - 1);
  note[sizeof note - 1] = '\0';
  cr_assert_eq(ttb_store_license_create(st, T0, 1, 1, note, key, uid, err, sizeof err), -1);
  cr_assert_neq(err[0], '\0');
}

Test(store_open, bad_dir)
{
  ttb_store *s = NULL;
  char err[256] = "";
  /* A regular file in the way of the data dir. */
  char tmpl[] = "/tmp/ttb_store_file_XXXXXX";
  int fd = mkstemp(tmpl);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(ttb_store_open(tmpl, &s, err, sizeof err), -1);
  cr_assert_null(s);
  cr_assert_neq(err[0], '\0');
  unlink(tmpl);
}

/* ---------------------------------------------------------- session lifecycle */

struct sess_acc {
  int n;
  ttb_session_info s[8];
};

static int sess_cb(void *arg, const ttb_session_info *si)
{
  struct sess_acc *a = arg;
  if (a->n < 8)
    a->s[a->n] = *si;
  a->n++;
  return 0;
}

static void note_id(void *arg, int64_t id)
{
  int64_t *ids = arg;
  for (int i = 0; i < 8; i++)
    if (ids[i] == 0) {
      ids[i] = id;
      return;
    }
}

Test(store, session_revoke_by_token_and_id)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      t1[TTB_STORE_UUID_MAX], t2[TTB_STORE_UUID_MAX];
  create(0, 1, "", key, uid);
  cr_assert_eq(ttb_store_login(st, key, "phone", T0, 7, u, t1), TTB_STORE_OK);
  int64_t id1 = 0, id2 = 0;
  cr_assert_eq(ttb_store_session_id(st, t1, T0, u, &id1), TTB_STORE_OK);
  cr_assert_gt(id1, 0);
  /* logout by the token: the token stops working, the device slot is free */
  cr_assert_eq(ttb_store_session_revoke(st, t1, T0 + 10), TTB_STORE_OK);
  cr_assert_eq(ttb_store_session(st, t1, T0 + 11, u), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_session_revoke(st, t1, T0 + 12), TTB_STORE_UNKNOWN, "once only");
  cr_assert_eq(ttb_store_login(st, key, "tablet", T0 + 20, 7, u, t2), TTB_STORE_OK,
               "a logged-out device no longer counts");
  cr_assert_eq(ttb_store_session_id(st, t2, T0 + 20, u, &id2), TTB_STORE_OK);
  cr_assert_neq(id1, id2);
  /* revoke by row id */
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%lld", (long long)id2);
  cr_assert_eq(ttb_store_session_revoke(st, idtext, T0 + 30), TTB_STORE_OK);
  cr_assert_eq(ttb_store_session(st, t2, T0 + 31, u), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_session_revoke(st, "999999", T0 + 31), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_session_revoke(st, "not-a-token", T0 + 31), TTB_STORE_UNKNOWN);

  /* the server's feed of ended sessions */
  int64_t ids[8] = {0};
  cr_assert_eq(ttb_store_sessions_revoked_since(st, T0 + 25, note_id, ids), 0);
  cr_assert_eq(ids[0], id2);
  cr_assert_eq(ids[1], 0);
  memset(ids, 0, sizeof ids);
  cr_assert_eq(ttb_store_sessions_revoked_since(st, T0, note_id, ids), 0);
  cr_assert(ids[0] != 0 && ids[1] != 0 && ids[2] == 0);

  /* the list shows an id and a hint, never the token */
  struct sess_acc a = {0};
  char err[256] = "";
  cr_assert_eq(ttb_store_session_list(st, uid, sess_cb, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.n, 2);
  cr_assert_eq(a.s[0].id, id1);
  cr_assert_eq(strlen(a.s[0].hint), 4);
  cr_assert_eq(strncmp(a.s[0].hint, t1, 4), 0);
  cr_assert_str_eq(a.s[0].device_id, "phone");
  cr_assert_eq(a.s[0].revoked, T0 + 10);
  cr_assert_eq(a.s[1].revoked, T0 + 30);
  struct sess_acc none = {0};
  cr_assert_eq(ttb_store_session_list(st, "no-such-user", sess_cb, &none, err, sizeof err), 0);
  cr_assert_eq(none.n, 0);
  struct sess_acc all = {0};
  cr_assert_eq(ttb_store_session_list(st, NULL, sess_cb, &all, err, sizeof err), 0);
  cr_assert_eq(all.n, 2);
}

/* ------------------------------------------------------------- ingest tokens */

struct ing_acc {
  int n;
  ttb_ingest_token_info t[4];
};

static int ing_cb(void *arg, const ttb_ingest_token_info *t)
{
  struct ing_acc *a = arg;
  if (a->n < 4)
    a->t[a->n] = *t;
  a->n++;
  return 0;
}

Test(store, ingest_tokens)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], key2[TTB_STORE_KEY_MAX],
      uid2[TTB_STORE_UUID_MAX], tok[TTB_STORE_KEY_MAX], tok2[TTB_STORE_KEY_MAX],
      ch[TTB_STORE_UUID_MAX];
  create(0, 1, "", key, uid);
  create(0, 1, "", key2, uid2);
  int64_t id = 0, id2 = 0;
  cr_assert_eq(ttb_store_ingest_token_create(st, uid, "connector A", T0, tok, &id), TTB_STORE_OK);
  cr_assert_eq(ttb_store_ingest_token_create(st, uid2, "", T0 + 1, tok2, &id2), TTB_STORE_OK);
  cr_assert_gt(id, 0);
  cr_assert_eq(strlen(tok), 30);
  cr_assert_eq(strncmp(tok, "TTI-", 4), 0);
  cr_assert_str_neq(tok, tok2);
  char none[TTB_STORE_KEY_MAX];
  cr_assert_eq(ttb_store_ingest_token_create(st, "no-such-user", "", T0, none, NULL),
               TTB_STORE_UNKNOWN);
  cr_assert_eq(none[0], '\0');

  cr_assert_eq(ttb_store_ingest_token_channel(st, tok, ch), TTB_STORE_OK);
  cr_assert_str_eq(ch, uid);
  /* case and surrounding blanks do not matter, like keys */
  char low[64];
  snprintf(low, sizeof low, "  %s\n", tok);
  for (char *p = low; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  cr_assert_eq(ttb_store_ingest_token_channel(st, low, ch), TTB_STORE_OK);
  cr_assert_eq(ttb_store_ingest_token_channel(st, "TTI-AAAAAAAAAAAAAAAAAAAAAAAAAA", ch),
               TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_ingest_token_channel(st, key, ch), TTB_STORE_UNKNOWN,
               "a license key is no ingest token");

  struct ing_acc a = {0};
  char err[256] = "";
  cr_assert_eq(ttb_store_ingest_token_list(st, ing_cb, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.n, 2);
  cr_assert_eq(a.t[0].id, id);
  cr_assert_eq(strncmp(a.t[0].hint, tok, 8), 0);
  cr_assert_eq(strlen(a.t[0].hint), 8);
  cr_assert_str_eq(a.t[0].channel, uid);
  cr_assert_str_eq(a.t[0].note, "connector A");
  cr_assert_eq(a.t[0].revoked, 0);

  /* revoke by token, then by id */
  cr_assert_eq(ttb_store_ingest_token_revoke(st, tok, T0 + 5), TTB_STORE_OK);
  cr_assert_eq(ttb_store_ingest_token_channel(st, tok, ch), TTB_STORE_REVOKED);
  cr_assert_eq(ch[0], '\0');
  cr_assert_eq(ttb_store_ingest_token_revoke(st, tok, T0 + 6), TTB_STORE_UNKNOWN);
  char idtext[32];
  snprintf(idtext, sizeof idtext, "%lld", (long long)id2);
  cr_assert_eq(ttb_store_ingest_token_revoke(st, idtext, T0 + 7), TTB_STORE_OK);
  cr_assert_eq(ttb_store_ingest_token_channel(st, tok2, ch), TTB_STORE_REVOKED);
  struct ing_acc b = {0};
  cr_assert_eq(ttb_store_ingest_token_list(st, ing_cb, &b, err, sizeof err), 0);
  cr_assert_eq(b.t[0].revoked, T0 + 5);
  cr_assert_eq(b.t[1].revoked, T0 + 7);

  /* stored only as a hash */
  assert_not_stored(tok + 8);
}

typedef struct ovl_rows {
  size_t n;
  ttb_overlay_token_info t[4];
} ovl_rows;

static int ovl_cb(void *arg, const ttb_overlay_token_info *t)
{
  ovl_rows *r = arg;
  if (r->n < 4)
    r->t[r->n] = *t;
  r->n++;
  return 0;
}

static void note_ended(void *arg, int64_t id)
{
  int64_t *last = arg;
  *last = id;
}

Test(store, overlay_tokens)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], key2[TTB_STORE_KEY_MAX],
      uid2[TTB_STORE_UUID_MAX];
  create(30, 0, "a", key, uid);
  create(30, 0, "b", key2, uid2);
  char tok[TTB_STORE_KEY_MAX], tok2[TTB_STORE_KEY_MAX], hint[12], ch[TTB_STORE_UUID_MAX];
  int64_t id = 0, id2 = 0, got = 0;
  cr_assert_eq(ttb_store_overlay_token_create(st, uid, "OBS", T0, tok, &id, hint), TTB_STORE_OK);
  cr_assert_eq(ttb_store_overlay_token_create(st, uid2, "", T0, tok2, &id2, hint), TTB_STORE_OK);
  cr_assert_eq(strncmp(tok, "TTO-", 4), 0);
  cr_assert_eq(strlen(tok), 30);
  cr_assert_eq(strncmp(hint, tok2, 8), 0);
  cr_assert_eq(ttb_store_overlay_token_create(st, "no-such-user", "", T0, tok2, &id2, hint),
               TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_overlay_token_channel(st, tok, ch, &got), TTB_STORE_OK);
  cr_assert_str_eq(ch, uid);
  cr_assert_eq(got, id);
  cr_assert_eq(ttb_store_overlay_token_channel(st, "TTO-AAAAAAAAAAAAAAAAAAAAAAAAAA", ch, &got),
               TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_overlay_token_channel(st, key, ch, &got), TTB_STORE_UNKNOWN);
  assert_not_stored(tok + 4);
  ovl_rows r = {0};
  char err[256];
  cr_assert_eq(ttb_store_overlay_token_list(st, uid, ovl_cb, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(r.n, 1);
  cr_assert_str_eq(r.t[0].note, "OBS");
  cr_assert_eq(r.t[0].revoked, 0);
  /* only its own license revokes it */
  cr_assert_eq(ttb_store_overlay_token_revoke(st, uid2, id, T0 + 5), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_overlay_token_revoke(st, uid, id, T0 + 5), TTB_STORE_OK);
  cr_assert_eq(ttb_store_overlay_token_revoke(st, NULL, id, T0 + 6), TTB_STORE_UNKNOWN, "once");
  cr_assert_eq(ttb_store_overlay_token_channel(st, tok, ch, &got), TTB_STORE_REVOKED);
  cr_assert_str_eq(ch, "");
  /* the server hears of it as an ended "session" -id */
  cr_assert_eq(ttb_store_sessions_revoked_since(st, T0 + 5, note_ended, &got), 0);
  cr_assert_eq(got, -id);
}

typedef struct set_rows {
  int n;
  char user[4][TTB_STORE_UUID_MAX];
  size_t len[4];
  int64_t at[4];
} set_rows;

static int set_cb(void *arg, const char *user_id, const uint8_t *doc, size_t len,
                  int64_t updated_ms)
{
  set_rows *r = arg;
  (void)doc;
  if (r->n < 4) {
    snprintf(r->user[r->n], sizeof r->user[r->n], "%s", user_id);
    r->len[r->n] = len;
    r->at[r->n] = updated_ms;
  }
  r->n++;
  return 0;
}

/* Channel settings: one opaque document per license, binary-safe, replaced
 * by put, kept across a reopen, listed; none for an unknown user. */
Test(store, channel_settings)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], key2[TTB_STORE_KEY_MAX],
      uid2[TTB_STORE_UUID_MAX];
  create(30, 0, "a", key, uid);
  create(30, 0, "b", key2, uid2);
  uint8_t *doc = NULL;
  size_t len = 99;
  int64_t at = 99;
  cr_assert_eq(ttb_store_settings_get(st, uid, &doc, &len, &at), TTB_STORE_UNKNOWN);
  cr_assert_null(doc);
  cr_assert_eq(len, 0);
  /* every byte value, NUL and 0xff included (bytea escaping, blobs) */
  uint8_t bin[300];
  for (size_t i = 0; i < sizeof bin; i++)
    bin[i] = (uint8_t)(i * 7);
  cr_assert_eq(ttb_store_settings_put(st, uid, bin, sizeof bin, 1700000000123), TTB_STORE_OK, "%s",
               ttb_store_error(st));
  cr_assert_eq(ttb_store_settings_put(st, "no-such-user", bin, 3, 1), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_settings_get(st, uid, &doc, &len, &at), TTB_STORE_OK, "%s",
               ttb_store_error(st));
  cr_assert_eq(len, sizeof bin);
  cr_assert_eq(memcmp(doc, bin, len), 0);
  cr_assert_eq(at, 1700000000123);
  free(doc);
  /* replaced, not added to */
  const uint8_t small[3] = {0x0a, 0x00, 0x22};
  cr_assert_eq(ttb_store_settings_put(st, uid, small, 3, 1700000000999), TTB_STORE_OK);
  cr_assert_eq(ttb_store_settings_put(st, uid2, NULL, 0, 5), TTB_STORE_OK);
  ttb_store_close(st);
  st = NULL;
  open_store();
  cr_assert_eq(ttb_store_settings_get(st, uid, &doc, &len, &at), TTB_STORE_OK);
  cr_assert_eq(len, 3);
  cr_assert_eq(memcmp(doc, small, 3), 0);
  cr_assert_eq(at, 1700000000999);
  free(doc);
  cr_assert_eq(ttb_store_settings_get(st, uid2, &doc, &len, &at), TTB_STORE_OK);
  cr_assert_not_null(doc, "an empty document is still a buffer");
  cr_assert_eq(len, 0);
  free(doc);
  set_rows r = {0};
  char err[256] = "";
  cr_assert_eq(ttb_store_settings_list(st, set_cb, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(r.n, 2);
  int a = strcmp(r.user[0], uid) == 0 ? 0 : 1;
  cr_assert_str_eq(r.user[a], uid);
  cr_assert_str_eq(r.user[1 - a], uid2);
  cr_assert_eq(r.len[a], 3);
  cr_assert_eq(r.len[1 - a], 0);
  cr_assert_eq(r.at[1 - a], 5);
  /* too long a document is refused */
  uint8_t *big = calloc(1, TTB_STORE_SETTINGS_MAX + 1);
  cr_assert_not_null(big);
  cr_assert_eq(ttb_store_settings_put(st, uid, big, TTB_STORE_SETTINGS_MAX + 1, 1),
               TTB_STORE_UNKNOWN);
  free(big);
}

#ifdef TTB_TEST_PG
/* ------------------------------------------------------- PostgreSQL only */

/* Forks n children that each run fn(i) at once (released together by a
 * pipe); asserts none crashed; returns how many exited 0. */
static int fork_all(int n, int (*fn)(int i))
{
  int go[2];
  cr_assert_eq(pipe(go), 0);
  pid_t pids[16];
  for (int i = 0; i < n; i++) {
    pids[i] = fork();
    cr_assert_geq(pids[i], 0);
    if (pids[i] == 0) {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) < 0)
        _exit(3);
      _exit(fn(i));
    }
  }
  close(go[0]);
  close(go[1]); /* EOF releases every child at once */
  int ok = 0;
  for (int i = 0; i < n; i++) {
    int ws;
    cr_assert_eq(waitpid(pids[i], &ws, 0), pids[i]);
    cr_assert(WIFEXITED(ws), "child %d did not exit", i);
    if (WEXITSTATUS(ws) == 0)
      ok++;
  }
  return ok;
}

static int open_fresh(int i)
{
  (void)i;
  ttb_store *s = NULL;
  char err[256];
  if (ttb_store_open_db(url, "/nonexistent", &s, err, sizeof err) != 0) {
    fprintf(stderr, "child: %s\n", err);
    return 1;
  }
  int v = ttb_store_schema_version(s);
  ttb_store_close(s);
  return v == STORE_SCHEMA ? 0 : 2;
}

/* Servers starting at once on an empty database: the advisory lock lets one
 * migrate, the others wait and find the schema done. */
Test(store, pg_concurrent_migrations)
{
  char first[64];
  snprintf(first, sizeof first, "%s", schema);
  pg_new_schema(); /* an empty one: nothing migrated yet */
  cr_assert_eq(fork_all(8, open_fresh), 8);
  char sql[256];
  snprintf(sql, sizeof sql,
           "DO $$ BEGIN IF (SELECT count(*) FROM %s.ttb_schema WHERE version = %d)"
           " <> 1 THEN RAISE 'schema row'; END IF; END $$",
           schema, STORE_SCHEMA);
  pg_admin(sql);
  snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", first);
  pg_admin(sql);
}

static char race_key[TTB_STORE_KEY_MAX];

static int login_once(int i)
{
  ttb_store *s = NULL;
  char err[256], dev[16], u[TTB_STORE_UUID_MAX], tok[TTB_STORE_UUID_MAX];
  if (ttb_store_open_db(url, "/nonexistent", &s, err, sizeof err) != 0)
    return 2;
  snprintf(dev, sizeof dev, "dev%d", i);
  ttb_store_status r = ttb_store_login(s, race_key, dev, T0, 7, u, tok);
  ttb_store_close(s);
  return r == TTB_STORE_OK ? 0 : r == TTB_STORE_DEVICE_LIMIT ? 1 : 2;
}

/* Logins of new devices at once from several processes (servers): the
 * license row's lock keeps the device limit. */
Test(store, pg_device_limit_across_processes)
{
  char uid[TTB_STORE_UUID_MAX];
  create(30, 3, "", race_key, uid);
  cr_assert_eq(fork_all(8, login_once), 3);
  char err[256];
  struct list_acc a = {0};
  cr_assert_eq(ttb_store_license_list(st, list_cb, &a, err, sizeof err), 0, "%s", err);
  cr_assert_eq(a.n, 1);
}

/* A connection the database dropped: that call fails as a value, the next
 * one connects again, and the change counter moves (callers reload). */
Test(store, pg_reconnects)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], u[TTB_STORE_UUID_MAX],
      tok[TTB_STORE_UUID_MAX];
  create(30, 0, "", key, uid);
  int64_t v0 = ttb_store_data_version(st);
  cr_assert_geq(v0, 0, "%s", ttb_store_error(st));
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'",
           schema);
  pg_admin(sql);
  ttb_store_status r = ttb_store_login(st, key, "d", T0, 7, u, tok);
  if (r == TTB_STORE_ERROR) {
    cr_assert_neq(ttb_store_error(st)[0], '\0');
    r = ttb_store_login(st, key, "d", T0, 7, u, tok);
  }
  cr_assert_eq(r, TTB_STORE_OK, "%s", ttb_store_error(st));
  cr_assert_eq(ttb_store_session(st, tok, T0 + 1, u), TTB_STORE_OK);
  cr_assert_str_eq(u, uid);
  int64_t v1 = ttb_store_data_version(st);
  cr_assert_gt(v1, v0, "%lld after %lld", (long long)v1, (long long)v0);
}

/* Another process's commit moves this handle's data version (NOTIFY);
 * a session's last_seen touch does not. */
Test(store, pg_data_version_sees_other_writers)
{
  ttb_store *other = NULL;
  char err[256] = "", key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX];
  cr_assert_eq(ttb_store_open_db(url, dir, &other, err, sizeof err), 0, "%s", err);
  int64_t v0 = ttb_store_data_version(st);
  cr_assert_geq(v0, 0);
  cr_assert_eq(ttb_store_license_create(other, T0, 1, 1, "", key, uid, err, sizeof err), 0, "%s",
               err);
  int64_t v = v0;
  for (int i = 0; i < 200 && v == v0; i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
    v = ttb_store_data_version(st);
  }
  cr_assert_gt(v, v0, "the other handle's commit was not seen");
  ttb_store_close(other);
}

/* A URL's password is never repeated in an error. */
Test(store_open, pg_password_not_in_errors)
{
  ttb_store *s = NULL;
  char err[512] = "";
  cr_assert_eq(ttb_store_open_db("postgresql://ttb:Sekr3tPassw0rd@127.0.0.1:1/x?connect_timeout=2",
                                 "/nonexistent", &s, err, sizeof err),
               -1);
  cr_assert_null(s);
  cr_assert_neq(err[0], '\0');
  cr_assert_null(strstr(err, "Sekr3tPassw0rd"), "%s", err);
  /* a URL libpq cannot parse (a bad %-escape next to the password) */
  cr_assert_eq(ttb_store_open_db("postgresql://ttb:Sekr3tPassw0rd%zz@127.0.0.1:1/x", "/nonexistent",
                                 &s, err, sizeof err),
               -1);
  cr_assert_neq(err[0], '\0');
  cr_assert_null(strstr(err, "Sekr3tPassw0rd"), "%s", err);
  cr_assert_eq(
      ttb_store_open_db("mysql://u:Sekr3tPassw0rd@h/x", "/nonexistent", &s, err, sizeof err), -1);
  cr_assert_null(strstr(err, "Sekr3tPassw0rd"), "%s", err);
}
#endif

typedef struct snd_rows {
  size_t n;
  ttb_user_sound_info u[4];
} snd_rows;

static int snd_cb(void *arg, const ttb_user_sound_info *u)
{
  snd_rows *r = arg;
  if (r->n < 4)
    r->u[r->n] = *u;
  r->n++;
  return 0;
}

Test(store, user_sounds)
{
  char key[TTB_STORE_KEY_MAX], uid[TTB_STORE_UUID_MAX], key2[TTB_STORE_KEY_MAX],
      uid2[TTB_STORE_UUID_MAX];
  create(30, 0, "a", key, uid);
  create(30, 0, "b", key2, uid2);
  int64_t id = 0, id2 = 0, id3 = 0, other = 0;
  bool full = true;
  cr_assert_eq(ttb_store_user_sound_add(st, uid, "Horn", 1500, T0, 2, &id, &full), TTB_STORE_OK,
               "%s", ttb_store_error(st));
  cr_assert(!full);
  cr_assert_gt(id, 0);
  cr_assert_eq(ttb_store_user_sound_add(st, uid, "Дудка", 800, T0 + 1, 2, &id2, &full),
               TTB_STORE_OK);
  cr_assert(!full);
  cr_assert_gt(id2, id);
  /* the license's limit: the third is refused, another license is not */
  cr_assert_eq(ttb_store_user_sound_add(st, uid, "Three", 100, T0 + 2, 2, &id3, &full),
               TTB_STORE_OK);
  cr_assert(full);
  cr_assert_eq(id3, 0);
  cr_assert_eq(ttb_store_user_sound_add(st, uid2, "Other", 100, T0 + 2, 2, &other, &full),
               TTB_STORE_OK);
  cr_assert(!full);
  cr_assert_eq(ttb_store_user_sound_add(st, "no-such-user", "x", 1, T0, 2, &id3, &full),
               TTB_STORE_UNKNOWN);
  char longname[80];
  memset(longname, 'n', 65);
  longname[65] = '\0';
  cr_assert_eq(ttb_store_user_sound_add(st, uid2, longname, 1, T0, 64, &id3, &full),
               TTB_STORE_ERROR);

  snd_rows r = {0};
  char err[256];
  cr_assert_eq(ttb_store_user_sound_list(st, uid, snd_cb, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(r.n, 2);
  cr_assert_eq(r.u[0].id, id);
  cr_assert_str_eq(r.u[0].name, "Horn");
  cr_assert_eq(r.u[0].duration_ms, 1500);
  cr_assert_eq(r.u[0].created, T0);
  cr_assert_str_eq(r.u[0].user_id, uid);
  cr_assert_str_eq(r.u[1].name, "Дудка");

  /* ownership: what PUT /me/settings asks of "u-<id>" */
  cr_assert_eq(ttb_store_user_sound_owned(st, uid, id), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_sound_owned(st, uid2, id), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_user_sound_owned(st, uid, other + 1000), TTB_STORE_UNKNOWN);

  /* only its own license deletes it, once */
  cr_assert_eq(ttb_store_user_sound_delete(st, uid2, id), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_user_sound_delete(st, uid, id), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_sound_delete(st, uid, id), TTB_STORE_UNKNOWN);
  cr_assert_eq(ttb_store_user_sound_owned(st, uid, id), TTB_STORE_UNKNOWN);
  /* a place is free again; ids are never reused, even of the last row */
  int64_t last = 0;
  cr_assert_eq(ttb_store_user_sound_delete(st, uid2, other), TTB_STORE_OK);
  cr_assert_eq(ttb_store_user_sound_add(st, uid, "Again", 10, T0 + 3, 2, &last, &full),
               TTB_STORE_OK);
  cr_assert(!full);
  cr_assert_gt(last, other, "id %lld reused (last was %lld)", (long long)last, (long long)other);
  r.n = 0;
  cr_assert_eq(ttb_store_user_sound_list(st, NULL, snd_cb, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(r.n, 2);
}
