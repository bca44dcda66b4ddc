/*
 * The license and session store in PostgreSQL (libpq): the same tables,
 * rules and hashing as the SQLite store (store.c), for `--db postgresql://…`.
 *
 * - Migrations: a table ttb_schema (one row: the version), the same steps as
 *   SQLite's (version 4 now), all applied in one transaction under a
 *   transaction-level advisory lock, so servers starting at once migrate
 *   once and the others wait, then find nothing to do.
 * - Login and extend lock the license's row (SELECT … FOR UPDATE): the device
 *   count and the new session are one step across every server.
 * - "Another process committed" (SQLite's PRAGMA data_version) is a counter
 *   of NOTIFY ttb_store messages, sent by triggers after writes of licenses
 *   and sessions and delivered on commit (LISTEN on this connection).
 * - A lost connection makes that call fail (TTB_STORE_ERROR, -1); the next
 *   call connects again (and counts as a change: the caller reloads).
 * - Messages never hold the URL (its password) nor a key or token.
 */
#include "store_int.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HASH_LEN TTB_STI_HASH_LEN
#define MIGRATE_LOCK "7382920431207347045" /* pg_advisory_xact_lock key: "ttb_stor…" */
#define NOTIFY_CHANNEL "ttb_store"
#define CONNECT_TIMEOUT "10" /* seconds, unless the URL says otherwise */

/* Migration i takes the schema from version i to i + 1, the same steps as
 * store.c's SQLite migrations. Append only. */
static const char *const migrations[] = {
    /* 0 -> 1: licenses and sessions. */
    "CREATE TABLE licences ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  key_hash BYTEA NOT NULL UNIQUE,"
    "  key_hint TEXT NOT NULL,"
    "  user_id TEXT NOT NULL UNIQUE,"
    "  created BIGINT NOT NULL,"
    "  expires BIGINT NOT NULL DEFAULT 0,"
    "  max_devices BIGINT NOT NULL DEFAULT 0,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE TABLE sessions ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  token_hash BYTEA NOT NULL UNIQUE,"
    "  user_id TEXT NOT NULL REFERENCES licences(user_id) ON DELETE CASCADE,"
    "  device_id TEXT NOT NULL DEFAULT '',"
    "  created BIGINT NOT NULL,"
    "  expires BIGINT NOT NULL,"
    "  last_seen BIGINT NOT NULL"
    ");"
    "CREATE INDEX sessions_user ON sessions(user_id, expires);",
    /* 1 -> 2: the license's TikTok handle. */
    "ALTER TABLE licences ADD COLUMN tiktok TEXT NOT NULL DEFAULT '';",
    /* 2 -> 3: ended sessions, session hints, ingest tokens. */
    "ALTER TABLE sessions ADD COLUMN revoked BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN token_hint TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX sessions_revoked ON sessions(revoked) WHERE revoked <> 0;"
    "CREATE TABLE ingest_tokens ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  token_hash BYTEA NOT NULL UNIQUE,"
    "  token_hint TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES licences(user_id) ON DELETE CASCADE,"
    "  created BIGINT NOT NULL,"
    "  revoked BIGINT NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");",
    /* 3 -> 4: overlay tokens; and (PostgreSQL only) the NOTIFY triggers that
   * tell other servers the licenses changed. */
    "CREATE TABLE overlay_tokens ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  token_hash BYTEA NOT NULL UNIQUE,"
    "  token_hint TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES licences(user_id) ON DELETE CASCADE,"
    "  created BIGINT NOT NULL,"
    "  revoked BIGINT NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX overlay_tokens_user ON overlay_tokens(user_id);"
    "CREATE FUNCTION ttb_store_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('" NOTIFY_CHANNEL "', TG_TABLE_NAME); RETURN NULL; END $$;"
    "CREATE TRIGGER licences_notify AFTER INSERT OR UPDATE OR DELETE ON licences"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ttb_store_notify();"
    /* what the license snapshot counts (devices): not the last_seen touches */
    "CREATE TRIGGER sessions_notify AFTER INSERT OR DELETE OR UPDATE OF revoked ON sessions"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ttb_store_notify();",
    /* 4 -> 5: one spelling (issue 16): the table is "licenses". */
    "ALTER TABLE licences RENAME TO licenses;"
    "ALTER TRIGGER licences_notify ON licenses RENAME TO licenses_notify;",
    /* 5 -> 6: the channel settings (GET/PUT /me/settings); their changes
   * are notified too: the other servers reload their settings cache. */
    "CREATE TABLE channel_settings ("
    "  user_id TEXT PRIMARY KEY REFERENCES licenses(user_id) ON DELETE CASCADE,"
    "  doc BYTEA NOT NULL,"
    "  updated_ms BIGINT NOT NULL"
    ");"
    "CREATE TRIGGER channel_settings_notify AFTER INSERT OR UPDATE OR DELETE ON channel_settings"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ttb_store_notify();",
    /* 6 -> 7: the streamer's own sounds, "u-<id>" (BIGSERIAL: never reused). */
    "CREATE TABLE user_sounds ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES licenses(user_id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  duration_ms BIGINT NOT NULL,"
    "  created BIGINT NOT NULL"
    ");"
    "CREATE INDEX user_sounds_user ON user_sounds(user_id);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

struct ttb_store_pg {
  PGconn *c;
  char *url;
  char *password; /* the URL's, if any: cut out of every message */
  int version;
  int lock_ms;      /* lock_timeout; 0 = PostgreSQL's default (none) */
  int64_t dv;       /* data version: notifications seen + reconnections */
  char sqlstate[6]; /* of the last failed statement */
  char err[256];
};

/* Query parameters: text, or binary (a hash). */
typedef struct params {
  const char *v[8];
  int len[8];
  int fmt[8];
  char num[8][24];
  int n;
} params;

static void p_text(params *ps, const char *s)
{
  ps->v[ps->n] = s;
  ps->len[ps->n] = 0;
  ps->fmt[ps->n] = 0;
  ps->n++;
}

static void p_null(params *ps) { p_text(ps, NULL); }

static void p_bin(params *ps, const unsigned char *b, int len)
{
  ps->v[ps->n] = (const char *)b;
  ps->len[ps->n] = len;
  ps->fmt[ps->n] = 1;
  ps->n++;
}

static void p_i64(params *ps, int64_t v)
{
  snprintf(ps->num[ps->n], sizeof ps->num[ps->n], "%lld", (long long)v);
  p_text(ps, ps->num[ps->n]);
}

static void set_err(ttb_store_pg *p, char *err, size_t errlen, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  size_t n = strlen(buf); /* libpq's messages end in a newline */
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  /* belt and braces: libpq does not quote passwords, but never let one out */
  size_t pl = p != NULL && p->password != NULL ? strlen(p->password) : 0;
  for (char *hit; pl > 0 && (hit = strstr(buf, p->password)) != NULL;)
    memset(hit, '*', pl);
  if (p != NULL)
    snprintf(p->err, sizeof p->err, "%s", buf);
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", buf);
}

static void quiet(void *arg, const char *msg)
{
  (void)arg;
  (void)msg; /* NOTICEs (e.g. "already exists, skipping") are not ours to print */
}

static void drop(ttb_store_pg *p)
{
  if (p->c != NULL)
    PQfinish(p->c);
  p->c = NULL;
}

/* A live connection: the existing one, or a new one (LISTEN, lock_timeout). */
static int ensure(ttb_store_pg *p, char *err, size_t errlen)
{
  if (p->c != NULL && PQstatus(p->c) == CONNECTION_OK)
    return 0;
  drop(p);
  /* defaults first: what the URL says (dbname, expanded) overrides them.
   * TCP keepalives notice a vanished database host within about a minute
   * rather than the kernel's two hours. */
  const char *const keys[] = {"connect_timeout",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "dbname",
                              "fallback_application_name",
                              NULL};
  const char *const vals[] = {CONNECT_TIMEOUT, "30", "10", "3", p->url, "ttboost", NULL};
  p->c = PQconnectdbParams(keys, vals, 1);
  if (p->c == NULL) {
    set_err(p, err, errlen, "connecting to PostgreSQL: out of memory");
    return -1;
  }
  if (PQstatus(p->c) != CONNECTION_OK) {
    /* libpq names host, port, user and database, never the password */
    set_err(p, err, errlen, "connecting to PostgreSQL: %s", PQerrorMessage(p->c));
    drop(p);
    return -1;
  }
  PQsetNoticeProcessor(p->c, quiet, NULL);
  char sql[160];
  snprintf(sql, sizeof sql, "SET lock_timeout = %d; SET client_min_messages = warning; LISTEN %s",
           p->lock_ms, NOTIFY_CHANNEL);
  PGresult *r = PQexec(p->c, sql);
  bool ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) {
    set_err(p, err, errlen, "setting up the PostgreSQL connection: %s", PQerrorMessage(p->c));
    drop(p);
    return -1;
  }
  p->dv++; /* what happened while we were away is unknown: a change */
  return 0;
}

/* Runs one statement; the result (PGRES_COMMAND_OK or TUPLES_OK) to PQclear,
 * or NULL with the error recorded (and the connection dropped when lost). */
static PGresult *run(ttb_store_pg *p, const char *what, const char *sql, const params *ps)
{
  p->sqlstate[0] = '\0';
  if (ensure(p, NULL, 0) != 0)
    return NULL;
  PGresult *r = ps != NULL ? PQexecParams(p->c, sql, ps->n, NULL, ps->v, ps->len, ps->fmt, 0)
                           : PQexecParams(p->c, sql, 0, NULL, NULL, NULL, NULL, 0);
  ExecStatusType es = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK)
    return r;
  /* the primary message only: a DETAIL could quote values */
  const char *m = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *code = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (code != NULL)
    snprintf(p->sqlstate, sizeof p->sqlstate, "%s", code);
  set_err(p, NULL, 0, "%s: %s", what, m != NULL ? m : PQerrorMessage(p->c));
  PQclear(r);
  if (PQstatus(p->c) != CONNECTION_OK)
    drop(p);
  return NULL;
}

/* Runs a statement with no rows wanted: the rows it changed, or -1. */
static int64_t run_cmd(ttb_store_pg *p, const char *what, const char *sql, const params *ps)
{
  PGresult *r = run(p, what, sql, ps);
  if (r == NULL)
    return -1;
  int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  return n;
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void get_text(const PGresult *r, int row, int col, char *dst, size_t len)
{
  snprintf(dst, len, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static int tx_begin(ttb_store_pg *p) { return run_cmd(p, "begin", "BEGIN", NULL) < 0 ? -1 : 0; }
static int tx_commit(ttb_store_pg *p) { return run_cmd(p, "commit", "COMMIT", NULL) < 0 ? -1 : 0; }

/* Rolls back, keeping the error already recorded. */
static void tx_rollback(ttb_store_pg *p)
{
  if (p->c == NULL || PQtransactionStatus(p->c) == PQTRANS_IDLE)
    return;
  PGresult *r = PQexec(p->c, "ROLLBACK");
  PQclear(r);
  if (PQstatus(p->c) != CONNECTION_OK)
    drop(p);
}

bool ttb_store_pg_url(const char *db)
{
  return db != NULL &&
         (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0);
}

static int migrate(ttb_store_pg *p, char *err, size_t errlen)
{
  if (tx_begin(p) != 0)
    goto fail;
  /* servers starting at once: the first migrates, the others wait here */
  PGresult *r =
      run(p, "locking the schema", "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", NULL);
  if (r == NULL)
    goto fail;
  PQclear(r);
  if (run_cmd(p, "creating the schema table",
              "CREATE TABLE IF NOT EXISTS ttb_schema (version INTEGER NOT NULL)", NULL) < 0)
    goto fail;
  r = run(p, "reading the schema version", "SELECT version FROM ttb_schema", NULL);
  if (r == NULL)
    goto fail;
  int rows = PQntuples(r);
  int version = rows > 0 ? (int)get_i64(r, 0, 0) : 0;
  PQclear(r);
  if (rows == 0 && run_cmd(p, "writing the schema version",
                           "INSERT INTO ttb_schema (version) VALUES (0)", NULL) < 0)
    goto fail;
  if (version > SCHEMA_VERSION || version < 0) {
    set_err(p, NULL, 0, "the database's schema version %d is newer than this program's (%d)",
            version, SCHEMA_VERSION);
    goto fail;
  }
  for (; version < SCHEMA_VERSION; version++) {
    r = PQexec(p->c, migrations[version]);
    bool ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
      const char *m = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
      set_err(p, NULL, 0, "migrating the schema to version %d: %s", version + 1,
              m != NULL ? m : PQerrorMessage(p->c));
      PQclear(r);
      goto fail;
    }
    PQclear(r);
  }
  params ps = {0};
  p_i64(&ps, SCHEMA_VERSION);
  if (run_cmd(p, "writing the schema version", "UPDATE ttb_schema SET version = $1", &ps) < 0)
    goto fail;
  if (tx_commit(p) != 0)
    goto fail;
  p->version = SCHEMA_VERSION;
  return 0;
fail:
  tx_rollback(p);
  set_err(p, err, errlen, "%s", p->err);
  return -1;
}

int ttb_pg_open(const char *url, ttb_store_pg **out, char *err, size_t errlen)
{
  *out = NULL;
  if (sodium_init() < 0) {
    set_err(NULL, err, errlen, "libsodium failed to initialise");
    return -1;
  }
  /* parse first: libpq's parse errors may quote pieces of the URL */
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(url, &perr);
  if (opts == NULL) {
    PQfreemem(perr);
    set_err(NULL, err, errlen, "--db: not a valid postgresql:// URL (libpq could not parse it)");
    return -1;
  }
  ttb_store_pg *p = calloc(1, sizeof *p);
  bool oom = p == NULL || (p->url = strdup(url)) == NULL;
  for (PQconninfoOption *o = opts; !oom && o->keyword != NULL; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
      oom = (p->password = strdup(o->val)) == NULL;
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
    if (o->val != NULL)
      sodium_memzero(o->val, strlen(o->val));
  PQconninfoFree(opts);
  if (oom) {
    ttb_pg_close(p);
    set_err(NULL, err, errlen, "out of memory");
    return -1;
  }
  if (ensure(p, err, errlen) != 0 || migrate(p, err, errlen) != 0) {
    ttb_pg_close(p);
    return -1;
  }
  *out = p;
  return 0;
}

void ttb_pg_close(ttb_store_pg *p)
{
  if (p == NULL)
    return;
  drop(p);
  if (p->url != NULL)
    sodium_memzero(p->url, strlen(p->url)); /* it may hold a password */
  free(p->url);
  if (p->password != NULL)
    sodium_memzero(p->password, strlen(p->password));
  free(p->password);
  free(p);
}

const char *ttb_pg_error(const ttb_store_pg *p) { return p->err; }

int ttb_pg_schema_version(const ttb_store_pg *p) { return p->version; }

int ttb_pg_set_busy_timeout(ttb_store_pg *p, int ms)
{
  if (ms < 0)
    return -1;
  p->lock_ms = ms;
  if (p->c == NULL)
    return 0; /* set when connecting */
  char sql[64];
  snprintf(sql, sizeof sql, "SET lock_timeout = %d", ms);
  return run_cmd(p, "setting lock_timeout", sql, NULL) < 0 ? -1 : 0;
}

int64_t ttb_pg_data_version(ttb_store_pg *p)
{
  if (ensure(p, NULL, 0) != 0)
    return -1;
  if (PQconsumeInput(p->c) != 1) {
    set_err(p, NULL, 0, "reading from PostgreSQL: %s", PQerrorMessage(p->c));
    drop(p);
    return -1;
  }
  PGnotify *n;
  while ((n = PQnotifies(p->c)) != NULL) {
    p->dv++;
    PQfreemem(n);
  }
  return p->dv;
}

/* ---------------------------------------------------------------- licenses */

int ttb_pg_license_create(ttb_store_pg *p, int64_t now, uint32_t days, uint32_t max_devices,
                          const char *note, char key[TTB_STORE_KEY_MAX],
                          char user_id[TTB_STORE_UUID_MAX], char *err, size_t errlen)
{
  key[0] = '\0';
  user_id[0] = '\0';
  if (note == NULL)
    note = "";
  if (strlen(note) > TTB_STI_NOTE_MAX) {
    set_err(p, err, errlen, "the note is longer than %d bytes", TTB_STI_NOTE_MAX);
    return -1;
  }
  if (days > 36500 * 10) {
    set_err(p, err, errlen, "too many days: %u", days);
    return -1;
  }
  int64_t expires = days == 0 ? 0 : now + (int64_t)days * 86400;
  for (int attempt = 0; attempt < 3; attempt++) {
    unsigned char hash[HASH_LEN];
    char hint[12];
    ttb_sti_key_new(key, "TTB-");
    ttb_sti_uuid_v4(user_id);
    ttb_sti_hash_text(key, hash);
    snprintf(hint, sizeof hint, "%.8s", key);
    params ps = {0};
    p_bin(&ps, hash, HASH_LEN);
    p_text(&ps, hint);
    p_text(&ps, user_id);
    p_i64(&ps, now);
    p_i64(&ps, expires);
    p_i64(&ps, max_devices);
    p_text(&ps, note);
    if (run_cmd(p, "creating a license",
                "INSERT INTO licenses (key_hash, key_hint, user_id, created, expires, max_devices,"
                " revoked, note) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
                &ps) == 1)
      return 0;
    if (strcmp(p->sqlstate, "23505") != 0)
      break; /* not a unique violation */
  }
  set_err(p, err, errlen, "%s", p->err);
  sodium_memzero(key, TTB_STORE_KEY_MAX);
  user_id[0] = '\0';
  return -1;
}

int ttb_pg_license_list(ttb_store_pg *p, int (*fn)(void *arg, const ttb_license_info *l), void *arg,
                        char *err, size_t errlen)
{
  params ps = {0};
  p_i64(&ps, (int64_t)time(NULL));
  PGresult *r = run(p, "listing licenses",
                    "SELECT key_hint, user_id, created, expires, max_devices, revoked, note,"
                    " (SELECT COUNT(DISTINCT device_id) FROM sessions s WHERE s.user_id = l.user_id"
                    "  AND s.expires > $1 AND s.revoked = 0), tiktok"
                    " FROM licenses l ORDER BY created, id",
                    &ps);
  if (r == NULL) {
    set_err(p, err, errlen, "%s", p->err);
    return -1;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    ttb_license_info l;
    memset(&l, 0, sizeof l);
    get_text(r, i, 0, l.key_hint, sizeof l.key_hint);
    get_text(r, i, 1, l.user_id, sizeof l.user_id);
    l.created = get_i64(r, i, 2);
    l.expires = get_i64(r, i, 3);
    l.max_devices = (uint32_t)get_i64(r, i, 4);
    l.revoked = get_i64(r, i, 5) != 0;
    get_text(r, i, 6, l.note, sizeof l.note);
    l.devices = (uint32_t)get_i64(r, i, 7);
    get_text(r, i, 8, l.tiktok, sizeof l.tiktok);
    if (fn(arg, &l) != 0)
      break;
  }
  PQclear(r);
  return 0;
}

ttb_store_status ttb_pg_license_revoke(ttb_store_pg *p, const char *key)
{
  unsigned char hash[HASH_LEN];
  if (ttb_sti_hash_input(key, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_bin(&ps, hash, HASH_LEN);
  int64_t n =
      run_cmd(p, "revoking a license", "UPDATE licenses SET revoked = 1 WHERE key_hash = $1", &ps);
  return n < 0 ? TTB_STORE_ERROR : n > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

typedef struct lic_row {
  char user_id[TTB_STORE_UUID_MAX];
  int64_t expires;
  int64_t max_devices;
  bool revoked;
} lic_row;

/* The license with this key hash, its row locked until the transaction ends. */
static ttb_store_status read_license_locked(ttb_store_pg *p, const unsigned char *hash, lic_row *l)
{
  params ps = {0};
  p_bin(&ps, hash, HASH_LEN);
  PGresult *r = run(p, "reading a license",
                    "SELECT user_id, expires, max_devices, revoked FROM licenses"
                    " WHERE key_hash = $1 FOR UPDATE",
                    &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return TTB_STORE_UNKNOWN;
  }
  get_text(r, 0, 0, l->user_id, sizeof l->user_id);
  l->expires = get_i64(r, 0, 1);
  l->max_devices = get_i64(r, 0, 2);
  l->revoked = get_i64(r, 0, 3) != 0;
  PQclear(r);
  return TTB_STORE_OK;
}

ttb_store_status ttb_pg_license_extend(ttb_store_pg *p, const char *key, int64_t now, uint32_t days)
{
  unsigned char hash[HASH_LEN];
  if (ttb_sti_hash_input(key, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  if (tx_begin(p) != 0)
    return TTB_STORE_ERROR;
  lic_row lic;
  ttb_store_status status = read_license_locked(p, hash, &lic);
  if (status == TTB_STORE_OK && lic.revoked)
    status = TTB_STORE_REVOKED;
  if (status == TTB_STORE_OK && lic.expires != 0) {
    int64_t from = lic.expires > now ? lic.expires : now;
    params ps = {0};
    p_bin(&ps, hash, HASH_LEN);
    p_i64(&ps, from + (int64_t)days * 86400);
    if (run_cmd(p, "extending a license", "UPDATE licenses SET expires = $2 WHERE key_hash = $1",
                &ps) < 0)
      status = TTB_STORE_ERROR;
  }
  if (status != TTB_STORE_OK) {
    tx_rollback(p);
    return status;
  }
  if (tx_commit(p) != 0) {
    tx_rollback(p);
    return TTB_STORE_ERROR;
  }
  return TTB_STORE_OK;
}

ttb_store_status ttb_pg_license_set_tiktok(ttb_store_pg *p, const char *key_or_user_id,
                                           const char *handle)
{
  if (key_or_user_id == NULL || handle == NULL || strlen(handle) >= TTB_STORE_TIKTOK_MAX)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  unsigned char hash[HASH_LEN];
  const char *sql;
  if (strncasecmp(key_or_user_id, "TTB-", 4) == 0) {
    if (ttb_sti_hash_input(key_or_user_id, true, hash) != 0)
      return TTB_STORE_UNKNOWN;
    p_bin(&ps, hash, HASH_LEN);
    sql = "UPDATE licenses SET tiktok = $2 WHERE key_hash = $1";
  } else {
    p_text(&ps, key_or_user_id);
    sql = "UPDATE licenses SET tiktok = $2 WHERE user_id = $1";
  }
  p_text(&ps, handle);
  int64_t n = run_cmd(p, "setting a license's TikTok handle", sql, &ps);
  return n < 0 ? TTB_STORE_ERROR : n > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

ttb_store_status ttb_pg_user_tiktok(ttb_store_pg *p, const char *user_id,
                                    char handle[TTB_STORE_TIKTOK_MAX])
{
  handle[0] = '\0';
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_text(&ps, user_id);
  PGresult *r = run(p, "reading a license's TikTok handle",
                    "SELECT tiktok FROM licenses WHERE user_id = $1", &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  ttb_store_status st = PQntuples(r) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
  if (st == TTB_STORE_OK)
    get_text(r, 0, 0, handle, TTB_STORE_TIKTOK_MAX);
  PQclear(r);
  return st;
}

ttb_store_status ttb_pg_user_license(ttb_store_pg *p, const char *user_id, int64_t now)
{
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_text(&ps, user_id);
  PGresult *r =
      run(p, "reading a license", "SELECT expires, revoked FROM licenses WHERE user_id = $1", &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return TTB_STORE_UNKNOWN;
  }
  int64_t expires = get_i64(r, 0, 0);
  bool revoked = get_i64(r, 0, 1) != 0;
  PQclear(r);
  return ttb_sti_lic_state(revoked, expires, now);
}

/* ---------------------------------------------------------------- sessions */

static ttb_store_status login_tx(ttb_store_pg *p, const unsigned char hash[HASH_LEN],
                                 const char *device_id, int64_t now, uint32_t session_days,
                                 char user_id[TTB_STORE_UUID_MAX], char token[TTB_STORE_UUID_MAX])
{
  lic_row lic;
  ttb_store_status status = read_license_locked(p, hash, &lic);
  if (status == TTB_STORE_OK)
    status = ttb_sti_lic_state(lic.revoked, lic.expires, now);
  if (status != TTB_STORE_OK)
    return status;
  params ps = {0};
  p_text(&ps, lic.user_id);
  p_i64(&ps, now);
  p_i64(&ps, TTB_STI_REVOKED_KEEP);
  if (run_cmd(p, "purging sessions",
              "DELETE FROM sessions WHERE user_id = $1 AND (expires <= $2"
              " OR (revoked <> 0 AND revoked <= $2 - $3))",
              &ps) < 0)
    return TTB_STORE_ERROR;
  if (lic.max_devices > 0) {
    /* a device that already has a live session keeps its slot */
    params pd = {0};
    p_text(&pd, lic.user_id);
    p_i64(&pd, now);
    p_text(&pd, device_id);
    PGresult *r = run(p, "counting devices",
                      "SELECT COUNT(DISTINCT device_id), bool_or(device_id = $3) FROM sessions"
                      " WHERE user_id = $1 AND expires > $2 AND revoked = 0",
                      &pd);
    if (r == NULL)
      return TTB_STORE_ERROR;
    int64_t used = get_i64(r, 0, 0);
    bool has = !PQgetisnull(r, 0, 1) && PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (!has && used >= lic.max_devices)
      return TTB_STORE_DEVICE_LIMIT;
  }
  if (session_days == 0)
    session_days = TTB_STI_SESSION_DAYS;
  char tok[TTB_STORE_UUID_MAX];
  unsigned char thash[HASH_LEN];
  ttb_sti_uuid_v4(tok);
  ttb_sti_hash_text(tok, thash);
  char hint[8];
  snprintf(hint, sizeof hint, "%.4s", tok);
  params pi = {0};
  p_bin(&pi, thash, HASH_LEN);
  p_text(&pi, lic.user_id);
  p_text(&pi, device_id);
  p_i64(&pi, now);
  p_i64(&pi, now + (int64_t)session_days * 86400);
  p_text(&pi, hint);
  if (run_cmd(p, "creating a session",
              "INSERT INTO sessions (token_hash, user_id, device_id, created, expires, last_seen,"
              " token_hint) VALUES ($1, $2, $3, $4, $5, $4, $6)",
              &pi) != 1) {
    sodium_memzero(tok, sizeof tok);
    return TTB_STORE_ERROR;
  }
  memcpy(user_id, lic.user_id, TTB_STORE_UUID_MAX);
  memcpy(token, tok, TTB_STORE_UUID_MAX);
  sodium_memzero(tok, sizeof tok);
  return TTB_STORE_OK;
}

ttb_store_status ttb_pg_login(ttb_store_pg *p, const char *key, const char *device_id, int64_t now,
                              uint32_t session_days, char user_id[TTB_STORE_UUID_MAX],
                              char token[TTB_STORE_UUID_MAX])
{
  user_id[0] = '\0';
  token[0] = '\0';
  if (device_id == NULL)
    device_id = "";
  unsigned char hash[HASH_LEN];
  if (ttb_sti_hash_input(key, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  if (tx_begin(p) != 0)
    return TTB_STORE_ERROR;
  ttb_store_status status = login_tx(p, hash, device_id, now, session_days, user_id, token);
  if (status == TTB_STORE_OK && tx_commit(p) != 0) {
    tx_rollback(p);
    sodium_memzero(token, TTB_STORE_UUID_MAX);
    user_id[0] = '\0';
    return TTB_STORE_ERROR;
  }
  if (status != TTB_STORE_OK)
    tx_rollback(p);
  return status;
}

ttb_store_status ttb_pg_session_id(ttb_store_pg *p, const char *token, int64_t now,
                                   char user_id[TTB_STORE_UUID_MAX], int64_t *session_id)
{
  user_id[0] = '\0';
  if (session_id != NULL)
    *session_id = 0;
  unsigned char hash[HASH_LEN];
  if (ttb_sti_hash_input(token, false, hash) != 0)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_bin(&ps, hash, HASH_LEN);
  PGresult *r = run(p, "reading a session",
                    "SELECT s.id, s.user_id, s.expires, s.last_seen, l.expires, l.revoked,"
                    " s.revoked FROM sessions s LEFT JOIN licenses l ON l.user_id = s.user_id"
                    " WHERE s.token_hash = $1",
                    &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return TTB_STORE_UNKNOWN;
  }
  int64_t id = get_i64(r, 0, 0);
  char uid[TTB_STORE_UUID_MAX];
  get_text(r, 0, 1, uid, sizeof uid);
  int64_t sess_expires = get_i64(r, 0, 2);
  int64_t last_seen = get_i64(r, 0, 3);
  bool has_license = !PQgetisnull(r, 0, 4);
  int64_t lic_expires = get_i64(r, 0, 4);
  bool revoked = get_i64(r, 0, 5) != 0;
  bool ended = get_i64(r, 0, 6) != 0;
  PQclear(r);
  if (!has_license || ended)
    return TTB_STORE_UNKNOWN;
  ttb_store_status status = ttb_sti_lic_state(revoked, lic_expires, now);
  if (status != TTB_STORE_OK)
    return status;
  if (now >= sess_expires)
    return TTB_STORE_EXPIRED;
  if (now - last_seen >= TTB_STI_TOUCH_INTERVAL) {
    params pt = {0};
    p_i64(&pt, id);
    p_i64(&pt, now);
    if (run_cmd(p, "updating a session", "UPDATE sessions SET last_seen = $2 WHERE id = $1", &pt) <
        0)
      return TTB_STORE_ERROR;
  }
  memcpy(user_id, uid, TTB_STORE_UUID_MAX);
  if (session_id != NULL)
    *session_id = id;
  return TTB_STORE_OK;
}

/* Runs an UPDATE … SET revoked = $2 of `table` by row id when text is one,
 * else by the token's hash. */
static ttb_store_status revoke_by(ttb_store_pg *p, const char *table, const char *text, bool up,
                                  int64_t now, const char *what)
{
  params ps = {0};
  int64_t id;
  unsigned char hash[HASH_LEN];
  char sql[160];
  if (ttb_sti_parse_id(text, &id)) {
    p_i64(&ps, id);
    snprintf(sql, sizeof sql, "UPDATE %s SET revoked = $2 WHERE id = $1 AND revoked = 0", table);
  } else {
    if (ttb_sti_hash_input(text, up, hash) != 0)
      return TTB_STORE_UNKNOWN;
    p_bin(&ps, hash, HASH_LEN);
    snprintf(sql, sizeof sql, "UPDATE %s SET revoked = $2 WHERE token_hash = $1 AND revoked = 0",
             table);
  }
  p_i64(&ps, now > 0 ? now : 1);
  int64_t n = run_cmd(p, what, sql, &ps);
  return n < 0 ? TTB_STORE_ERROR : n > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

ttb_store_status ttb_pg_session_revoke(ttb_store_pg *p, const char *token_or_id, int64_t now)
{
  return revoke_by(p, "sessions", token_or_id, false, now, "revoking a session");
}

int ttb_pg_session_list(ttb_store_pg *p, const char *user_id,
                        int (*fn)(void *arg, const ttb_session_info *si), void *arg, char *err,
                        size_t errlen)
{
  params ps = {0};
  if (user_id != NULL)
    p_text(&ps, user_id);
  else
    p_null(&ps);
  PGresult *r =
      run(p, "listing sessions",
          "SELECT id, token_hint, user_id, device_id, created, expires, last_seen, revoked"
          " FROM sessions WHERE $1::text IS NULL OR user_id = $1::text ORDER BY created, id",
          &ps);
  if (r == NULL) {
    set_err(p, err, errlen, "%s", p->err);
    return -1;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    ttb_session_info si;
    memset(&si, 0, sizeof si);
    si.id = get_i64(r, i, 0);
    get_text(r, i, 1, si.hint, sizeof si.hint);
    get_text(r, i, 2, si.user_id, sizeof si.user_id);
    get_text(r, i, 3, si.device_id, sizeof si.device_id);
    si.created = get_i64(r, i, 4);
    si.expires = get_i64(r, i, 5);
    si.last_seen = get_i64(r, i, 6);
    si.revoked = get_i64(r, i, 7);
    if (fn(arg, &si) != 0)
      break;
  }
  PQclear(r);
  return 0;
}

int ttb_pg_sessions_revoked_since(ttb_store_pg *p, int64_t since,
                                  void (*fn)(void *arg, int64_t session_id), void *arg)
{
  params ps = {0};
  p_i64(&ps, since);
  PGresult *r =
      run(p, "reading revoked sessions",
          "SELECT id FROM sessions WHERE revoked <> 0 AND revoked >= $1"
          " UNION ALL SELECT -id FROM overlay_tokens WHERE revoked <> 0 AND revoked >= $1",
          &ps);
  if (r == NULL)
    return -1;
  for (int i = 0; i < PQntuples(r); i++)
    fn(arg, get_i64(r, i, 0));
  PQclear(r);
  return 0;
}

/* ------------------------------------------------- ingest and overlay tokens */

/* Inserts a new token of `prefix` into `table` for user_id's license. */
static ttb_store_status token_create(ttb_store_pg *p, const char *table, const char *prefix,
                                     const char *user_id, const char *note, int64_t now,
                                     char token[TTB_STORE_KEY_MAX], int64_t *id, char hint[12],
                                     const char *what)
{
  token[0] = '\0';
  hint[0] = '\0';
  *id = 0;
  if (note == NULL)
    note = "";
  if (strlen(note) > TTB_STI_NOTE_MAX) {
    set_err(p, NULL, 0, "the note is longer than %d bytes", TTB_STI_NOTE_MAX);
    return TTB_STORE_ERROR;
  }
  if (user_id == NULL || user_id[0] == '\0')
    return TTB_STORE_UNKNOWN;
  char sql[200];
  /* the license's absence is "unknown", not a foreign-key error */
  snprintf(sql, sizeof sql,
           "INSERT INTO %s (token_hash, token_hint, user_id, created, note)"
           " SELECT $1, $2, user_id, $4, $5 FROM licenses WHERE user_id = $3 RETURNING id",
           table);
  for (int attempt = 0; attempt < 3; attempt++) {
    unsigned char hash[HASH_LEN];
    ttb_sti_key_new(token, prefix);
    ttb_sti_hash_text(token, hash);
    snprintf(hint, 12, "%.8s", token);
    params ps = {0};
    p_bin(&ps, hash, HASH_LEN);
    p_text(&ps, hint);
    p_text(&ps, user_id);
    p_i64(&ps, now);
    p_text(&ps, note);
    PGresult *r = run(p, what, sql, &ps);
    if (r != NULL) {
      int rows = PQntuples(r);
      if (rows > 0)
        *id = get_i64(r, 0, 0);
      PQclear(r);
      if (rows > 0)
        return TTB_STORE_OK;
      sodium_memzero(token, TTB_STORE_KEY_MAX);
      hint[0] = '\0';
      return TTB_STORE_UNKNOWN;
    }
    if (strcmp(p->sqlstate, "23505") != 0)
      break;
  }
  sodium_memzero(token, TTB_STORE_KEY_MAX);
  hint[0] = '\0';
  return TTB_STORE_ERROR;
}

ttb_store_status ttb_pg_ingest_token_create(ttb_store_pg *p, const char *user_id, const char *note,
                                            int64_t now, char token[TTB_STORE_KEY_MAX], int64_t *id)
{
  int64_t rid;
  char hint[12];
  ttb_store_status st = token_create(p, "ingest_tokens", "TTI-", user_id, note, now, token, &rid,
                                     hint, "creating an ingest token");
  if (id != NULL)
    *id = rid;
  return st;
}

/* Looks a token up by its hash in `table`, compares the stored hash again in
 * constant time: TTB_STORE_OK (channel, id), REVOKED, UNKNOWN or ERROR. */
static ttb_store_status token_channel(ttb_store_pg *p, const char *table, const char *token,
                                      char channel[TTB_STORE_UUID_MAX], int64_t *id,
                                      const char *what)
{
  channel[0] = '\0';
  *id = 0;
  unsigned char hash[HASH_LEN];
  if (ttb_sti_hash_input(token, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_bin(&ps, hash, HASH_LEN);
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT id, user_id, revoked, encode(token_hash, 'hex') FROM %s WHERE token_hash = $1",
           table);
  PGresult *r = run(p, what, sql, &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return TTB_STORE_UNKNOWN;
  }
  char want[2 * HASH_LEN + 1];
  sodium_bin2hex(want, sizeof want, hash, HASH_LEN);
  const char *stored = PQgetvalue(r, 0, 3);
  bool same =
      PQgetlength(r, 0, 3) == 2 * HASH_LEN && sodium_memcmp(stored, want, 2 * HASH_LEN) == 0;
  bool revoked = get_i64(r, 0, 2) != 0;
  if (same && !revoked) {
    *id = get_i64(r, 0, 0);
    get_text(r, 0, 1, channel, TTB_STORE_UUID_MAX);
  }
  PQclear(r);
  if (!same)
    return TTB_STORE_UNKNOWN;
  return revoked ? TTB_STORE_REVOKED : TTB_STORE_OK;
}

ttb_store_status ttb_pg_ingest_token_channel(ttb_store_pg *p, const char *token,
                                             char channel[TTB_STORE_UUID_MAX])
{
  int64_t id;
  return token_channel(p, "ingest_tokens", token, channel, &id, "reading an ingest token");
}

/* Lists a token table (of user_id; NULL = all) into fn, as overlay infos
 * (the ingest info has the same fields). */
static int token_list(ttb_store_pg *p, const char *table, const char *user_id,
                      int (*fn)(void *arg, const ttb_overlay_token_info *t), void *arg, char *err,
                      size_t errlen, const char *what)
{
  params ps = {0};
  if (user_id != NULL)
    p_text(&ps, user_id);
  else
    p_null(&ps);
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT id, token_hint, user_id, created, revoked, note FROM %s"
           " WHERE $1::text IS NULL OR user_id = $1::text ORDER BY created, id",
           table);
  PGresult *r = run(p, what, sql, &ps);
  if (r == NULL) {
    set_err(p, err, errlen, "%s", p->err);
    return -1;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    ttb_overlay_token_info t;
    memset(&t, 0, sizeof t);
    t.id = get_i64(r, i, 0);
    get_text(r, i, 1, t.hint, sizeof t.hint);
    get_text(r, i, 2, t.channel, sizeof t.channel);
    t.created = get_i64(r, i, 3);
    t.revoked = get_i64(r, i, 4);
    get_text(r, i, 5, t.note, sizeof t.note);
    if (fn(arg, &t) != 0)
      break;
  }
  PQclear(r);
  return 0;
}

struct ing_adapt {
  int (*fn)(void *arg, const ttb_ingest_token_info *t);
  void *arg;
};

static int ing_adapt_cb(void *arg, const ttb_overlay_token_info *o)
{
  struct ing_adapt *a = arg;
  ttb_ingest_token_info t;
  memset(&t, 0, sizeof t);
  t.id = o->id;
  memcpy(t.hint, o->hint, sizeof t.hint);
  memcpy(t.channel, o->channel, sizeof t.channel);
  t.created = o->created;
  t.revoked = o->revoked;
  memcpy(t.note, o->note, sizeof t.note);
  return a->fn(a->arg, &t);
}

int ttb_pg_ingest_token_list(ttb_store_pg *p, int (*fn)(void *arg, const ttb_ingest_token_info *t),
                             void *arg, char *err, size_t errlen)
{
  struct ing_adapt a = {fn, arg};
  return token_list(p, "ingest_tokens", NULL, ing_adapt_cb, &a, err, errlen,
                    "listing ingest tokens");
}

ttb_store_status ttb_pg_ingest_token_revoke(ttb_store_pg *p, const char *token_or_id, int64_t now)
{
  return revoke_by(p, "ingest_tokens", token_or_id, true, now, "revoking an ingest token");
}

ttb_store_status ttb_pg_overlay_token_create(ttb_store_pg *p, const char *user_id, const char *note,
                                             int64_t now, char token[TTB_STORE_KEY_MAX],
                                             int64_t *id, char hint[12])
{
  return token_create(p, "overlay_tokens", "TTO-", user_id, note, now, token, id, hint,
                      "creating an overlay token");
}

ttb_store_status ttb_pg_overlay_token_channel(ttb_store_pg *p, const char *token,
                                              char channel[TTB_STORE_UUID_MAX], int64_t *id)
{
  return token_channel(p, "overlay_tokens", token, channel, id, "reading an overlay token");
}

int ttb_pg_overlay_token_list(ttb_store_pg *p, const char *user_id,
                              int (*fn)(void *arg, const ttb_overlay_token_info *t), void *arg,
                              char *err, size_t errlen)
{
  return token_list(p, "overlay_tokens", user_id, fn, arg, err, errlen, "listing overlay tokens");
}

ttb_store_status ttb_pg_overlay_token_revoke(ttb_store_pg *p, const char *user_id, int64_t id,
                                             int64_t now)
{
  params ps = {0};
  p_i64(&ps, id);
  p_i64(&ps, now > 0 ? now : 1);
  if (user_id != NULL)
    p_text(&ps, user_id);
  else
    p_null(&ps);
  int64_t n = run_cmd(p, "revoking an overlay token",
                      "UPDATE overlay_tokens SET revoked = $2 WHERE id = $1 AND revoked = 0"
                      " AND ($3::text IS NULL OR user_id = $3::text)",
                      &ps);
  return n < 0 ? TTB_STORE_ERROR : n > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

/* -------------------------------------------------------- channel settings */

ttb_store_status ttb_pg_settings_put(ttb_store_pg *p, const char *user_id, const uint8_t *doc,
                                     size_t len, int64_t updated_ms)
{
  if (user_id == NULL || (doc == NULL && len > 0) || len > TTB_STORE_SETTINGS_MAX)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_text(&ps, user_id);
  p_bin(&ps, len ? doc : (const unsigned char *)"", (int)len);
  p_i64(&ps, updated_ms);
  int64_t n = run_cmd(p, "saving channel settings",
                      "INSERT INTO channel_settings (user_id, doc, updated_ms)"
                      " SELECT user_id, $2, $3 FROM licenses WHERE user_id = $1"
                      " ON CONFLICT (user_id) DO UPDATE SET doc = EXCLUDED.doc,"
                      " updated_ms = EXCLUDED.updated_ms",
                      &ps);
  return n < 0 ? TTB_STORE_ERROR : n > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

/* A bytea column (text format) as a malloc'd buffer (1 byte for an empty
 * one); NULL on no memory or a malformed value. */
static uint8_t *get_bytea(const PGresult *r, int row, int col, size_t *len)
{
  size_t n = 0;
  unsigned char *u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
  if (u == NULL)
    return NULL;
  uint8_t *out = malloc(n ? n : 1);
  if (out != NULL && n)
    memcpy(out, u, n);
  PQfreemem(u);
  *len = n;
  return out;
}

ttb_store_status ttb_pg_settings_get(ttb_store_pg *p, const char *user_id, uint8_t **doc,
                                     size_t *len, int64_t *updated_ms)
{
  *doc = NULL;
  *len = 0;
  *updated_ms = 0;
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_text(&ps, user_id);
  PGresult *r = run(p, "reading channel settings",
                    "SELECT doc, updated_ms FROM channel_settings WHERE user_id = $1", &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return TTB_STORE_UNKNOWN;
  }
  *doc = get_bytea(r, 0, 0, len);
  *updated_ms = get_i64(r, 0, 1);
  PQclear(r);
  if (*doc == NULL) {
    set_err(p, NULL, 0, "reading channel settings: out of memory");
    return TTB_STORE_ERROR;
  }
  return TTB_STORE_OK;
}

int ttb_pg_settings_list(ttb_store_pg *p,
                         int (*fn)(void *arg, const char *user_id, const uint8_t *doc, size_t len,
                                   int64_t updated_ms),
                         void *arg, char *err, size_t errlen)
{
  PGresult *r = run(p, "listing channel settings",
                    "SELECT user_id, doc, updated_ms FROM channel_settings ORDER BY user_id", NULL);
  if (r == NULL) {
    set_err(p, err, errlen, "%s", p->err);
    return -1;
  }
  int rows = PQntuples(r);
  for (int i = 0; i < rows; i++) {
    char user[TTB_STORE_UUID_MAX];
    get_text(r, i, 0, user, sizeof user);
    size_t n = 0;
    uint8_t *doc = get_bytea(r, i, 1, &n);
    if (doc == NULL) {
      PQclear(r);
      set_err(p, err, errlen, "listing channel settings: out of memory");
      return -1;
    }
    int stop = fn(arg, user, doc, n, get_i64(r, i, 2));
    free(doc);
    if (stop)
      break;
  }
  PQclear(r);
  return 0;
}

/* ------------------------------------------------------- user sounds */

ttb_store_status ttb_pg_user_sound_add(ttb_store_pg *p, const char *user_id, const char *name,
                                       uint32_t duration_ms, int64_t now, uint32_t max, int64_t *id,
                                       bool *full)
{
  *id = 0;
  *full = false;
  if (user_id == NULL || user_id[0] == '\0')
    return TTB_STORE_UNKNOWN;
  if (name == NULL || strlen(name) >= TTB_STORE_SOUND_NAME_MAX) {
    set_err(p, NULL, 0, "the name is longer than %d bytes", TTB_STORE_SOUND_NAME_MAX - 1);
    return TTB_STORE_ERROR;
  }
  if (tx_begin(p) != 0)
    return TTB_STORE_ERROR;
  /* the license row locked: two servers' uploads cannot both take the last place */
  params ps = {0};
  p_text(&ps, user_id);
  PGresult *r =
      run(p, "reading a license", "SELECT 1 FROM licenses WHERE user_id = $1 FOR UPDATE", &ps);
  if (r == NULL) {
    tx_rollback(p);
    return TTB_STORE_ERROR;
  }
  int rows = PQntuples(r);
  PQclear(r);
  if (rows == 0) {
    tx_rollback(p);
    return TTB_STORE_UNKNOWN;
  }
  r = run(p, "counting sounds", "SELECT COUNT(*) FROM user_sounds WHERE user_id = $1", &ps);
  if (r == NULL) {
    tx_rollback(p);
    return TTB_STORE_ERROR;
  }
  int64_t n = get_i64(r, 0, 0);
  PQclear(r);
  if (n >= (int64_t)max) {
    tx_rollback(p);
    *full = true;
    return TTB_STORE_OK;
  }
  p_text(&ps, name);
  p_i64(&ps, duration_ms);
  p_i64(&ps, now);
  r = run(p, "adding a sound",
          "INSERT INTO user_sounds (user_id, name, duration_ms, created)"
          " VALUES ($1, $2, $3, $4) RETURNING id",
          &ps);
  if (r == NULL) {
    tx_rollback(p);
    return TTB_STORE_ERROR;
  }
  int64_t rid = PQntuples(r) > 0 ? get_i64(r, 0, 0) : 0;
  PQclear(r);
  if (rid <= 0 || tx_commit(p) != 0) {
    tx_rollback(p);
    return TTB_STORE_ERROR;
  }
  *id = rid;
  return TTB_STORE_OK;
}

int ttb_pg_user_sound_list(ttb_store_pg *p, const char *user_id,
                           int (*fn)(void *arg, const ttb_user_sound_info *u), void *arg, char *err,
                           size_t errlen)
{
  params ps = {0};
  if (user_id != NULL)
    p_text(&ps, user_id);
  else
    p_null(&ps);
  PGresult *r = run(p, "listing sounds",
                    "SELECT id, user_id, name, duration_ms, created FROM user_sounds"
                    " WHERE $1::text IS NULL OR user_id = $1::text ORDER BY id",
                    &ps);
  if (r == NULL) {
    set_err(p, err, errlen, "%s", p->err);
    return -1;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    ttb_user_sound_info u;
    memset(&u, 0, sizeof u);
    u.id = get_i64(r, i, 0);
    get_text(r, i, 1, u.user_id, sizeof u.user_id);
    get_text(r, i, 2, u.name, sizeof u.name);
    int64_t d = get_i64(r, i, 3);
    u.duration_ms = d < 0 ? 0 : d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    u.created = get_i64(r, i, 4);
    if (fn(arg, &u) != 0)
      break;
  }
  PQclear(r);
  return 0;
}

ttb_store_status ttb_pg_user_sound_delete(ttb_store_pg *p, const char *user_id, int64_t id)
{
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_i64(&ps, id);
  p_text(&ps, user_id);
  int64_t n =
      run_cmd(p, "deleting a sound", "DELETE FROM user_sounds WHERE id = $1 AND user_id = $2", &ps);
  return n < 0 ? TTB_STORE_ERROR : n > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

ttb_store_status ttb_pg_user_sound_owned(ttb_store_pg *p, const char *user_id, int64_t id)
{
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  params ps = {0};
  p_i64(&ps, id);
  p_text(&ps, user_id);
  PGresult *r =
      run(p, "reading a sound", "SELECT 1 FROM user_sounds WHERE id = $1 AND user_id = $2", &ps);
  if (r == NULL)
    return TTB_STORE_ERROR;
  int rows = PQntuples(r);
  PQclear(r);
  return rows > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}
