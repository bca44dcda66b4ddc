/*
 * The license and session store (see store.h): SQLite in WAL mode, keys and
 * tokens kept only as BLAKE2b-256 hashes, prepared statements held in the
 * handle, schema migrations keyed on PRAGMA user_version.
 */
#include "store.h"
#include "store_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define HASH_LEN 32 /* crypto_generichash output: BLAKE2b-256 */
#define KEY_PREFIX "TTB-"
#define KEY_CHARS 26      /* 26 base32 characters = 130 bits */
#define INPUT_MAX 128     /* longest key or token accepted on input */
#define TOUCH_INTERVAL 60 /* last_seen is written at most this often (s) */
#define DEFAULT_SESSION_DAYS 30
#define NOTE_MAX 255
#define INGEST_PREFIX "TTI-"   /* ingest tokens: "TTI-" and 26 base32 characters */
#define REVOKED_KEEP_SQL "600" /* a revoked session's row is kept this long (s) */

/* Migration i takes the schema from version i to i + 1. Append only. */
static const char *const migrations[] = {
    /* 0 -> 1: licenses and sessions. */
    "CREATE TABLE licences ("
    "  id INTEGER PRIMARY KEY,"
    "  key_hash BLOB NOT NULL UNIQUE,"
    "  key_hint TEXT NOT NULL,"
    "  user_id TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL DEFAULT 0,"
    "  max_devices INTEGER NOT NULL DEFAULT 0,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  user_id TEXT NOT NULL REFERENCES licences(user_id) ON DELETE CASCADE,"
    "  device_id TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL"
    ");"
    "CREATE INDEX sessions_user ON sessions(user_id, expires);",
    /* 1 -> 2: the license's TikTok handle (without @; '' = none). */
    "ALTER TABLE licences ADD COLUMN tiktok TEXT NOT NULL DEFAULT '';",
    /* 2 -> 3: sessions can be revoked (logout, ttboost-admin session revoke;
   * unix seconds, 0 = not) and show a hint; per-channel ingest tokens. */
    "ALTER TABLE sessions ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN token_hint TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX sessions_revoked ON sessions(revoked) WHERE revoked != 0;"
    "CREATE TABLE ingest_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  token_hint TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES licences(user_id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");",
    /* 3 -> 4: read-only overlay tokens ("TTO-…", per license, revocable). */
    "CREATE TABLE overlay_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  token_hint TEXT NOT NULL,"
    "  user_id TEXT NOT NULL REFERENCES licences(user_id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX overlay_tokens_user ON overlay_tokens(user_id);",
    /* 4 -> 5: one spelling (issue 16): the table is "licenses". */
    "ALTER TABLE licences RENAME TO licenses;",
    /* 5 -> 6: the channel settings (GET/PUT /me/settings): one packed
   * ttboost.v1.ChannelSettings per license. */
    "CREATE TABLE channel_settings ("
    "  user_id TEXT PRIMARY KEY REFERENCES licenses(user_id) ON DELETE CASCADE,"
    "  doc BLOB NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");",
    /* 6 -> 7: the streamer's own sounds, "u-<id>"; AUTOINCREMENT: an id
     * is never reused, so a deleted sound's URL never plays another. */
    "CREATE TABLE user_sounds ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id TEXT NOT NULL REFERENCES licenses(user_id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  created INTEGER NOT NULL"
    ");"
    "CREATE INDEX user_sounds_user ON user_sounds(user_id);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_LIC_INSERT,
  ST_LIC_BY_HASH,
  ST_LIC_BY_USER,
  ST_LIC_LIST,
  ST_LIC_REVOKE,
  ST_LIC_SET_EXPIRES,
  ST_LIC_SET_TIKTOK_BY_HASH,
  ST_LIC_SET_TIKTOK_BY_USER,
  ST_LIC_TIKTOK_BY_USER,
  ST_SESS_PURGE,
  ST_SESS_DEVICE_HAS,
  ST_SESS_DEVICES,
  ST_SESS_INSERT,
  ST_SESS_BY_HASH,
  ST_SESS_TOUCH,
  ST_SESS_LIST,
  ST_SESS_REVOKE_BY_HASH,
  ST_SESS_REVOKE_BY_ID,
  ST_SESS_REVOKED_SINCE,
  ST_ING_INSERT,
  ST_ING_BY_HASH,
  ST_ING_LIST,
  ST_ING_REVOKE_BY_HASH,
  ST_ING_REVOKE_BY_ID,
  ST_OVL_INSERT,
  ST_OVL_BY_HASH,
  ST_OVL_LIST,
  ST_OVL_REVOKE,
  ST_SET_PUT,
  ST_SET_GET,
  ST_SET_LIST,
  ST_SND_COUNT,
  ST_SND_INSERT,
  ST_SND_LIST,
  ST_SND_DELETE,
  ST_SND_OWNED,
  ST_COUNT
};

/* Devices in use: distinct device ids with an unexpired session; logins
 * without a device id share the one anonymous device "". Parameters:
 * user_id, now. */
#define DEVICES_SQL(uid, now)                                                                  \
  "(SELECT COUNT(DISTINCT device_id) FROM sessions WHERE user_id = " uid " AND expires > " now \
  " AND revoked = 0)"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_LIC_INSERT] = "INSERT INTO licenses (key_hash, key_hint, user_id, created, expires,"
                      " max_devices, revoked, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
    [ST_LIC_BY_HASH] = "SELECT user_id, expires, max_devices, revoked FROM licenses"
                       " WHERE key_hash = ?1",
    [ST_LIC_BY_USER] = "SELECT expires, revoked FROM licenses WHERE user_id = ?1",
    [ST_LIC_LIST] =
        "SELECT key_hint, user_id, created, expires, max_devices, revoked, note, " DEVICES_SQL(
            "l.user_id", "?1") ", tiktok FROM licenses l ORDER BY created, id",
    [ST_LIC_REVOKE] = "UPDATE licenses SET revoked = 1 WHERE key_hash = ?1",
    [ST_LIC_SET_EXPIRES] = "UPDATE licenses SET expires = ?2 WHERE key_hash = ?1",
    [ST_LIC_SET_TIKTOK_BY_HASH] = "UPDATE licenses SET tiktok = ?2 WHERE key_hash = ?1",
    [ST_LIC_SET_TIKTOK_BY_USER] = "UPDATE licenses SET tiktok = ?2 WHERE user_id = ?1",
    [ST_LIC_TIKTOK_BY_USER] = "SELECT tiktok FROM licenses WHERE user_id = ?1",
    /* a revoked session's row stays a while: the server closes its sockets
   * by asking for sessions revoked lately (ST_SESS_REVOKED_SINCE) */
    [ST_SESS_PURGE] = "DELETE FROM sessions WHERE user_id = ?1 AND (expires <= ?2"
                      " OR (revoked != 0 AND revoked <= ?2 - " REVOKED_KEEP_SQL "))",
    [ST_SESS_DEVICE_HAS] = "SELECT 1 FROM sessions WHERE user_id = ?1 AND device_id = ?2"
                           " AND expires > ?3 AND revoked = 0 LIMIT 1",
    [ST_SESS_DEVICES] = "SELECT " DEVICES_SQL("?1", "?2"),
    [ST_SESS_INSERT] = "INSERT INTO sessions (token_hash, user_id, device_id, created, expires,"
                       " last_seen, token_hint) VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6)",
    [ST_SESS_BY_HASH] = "SELECT s.id, s.user_id, s.expires, s.last_seen, l.expires, l.revoked,"
                        " s.revoked FROM sessions s LEFT JOIN licenses l ON l.user_id = s.user_id"
                        " WHERE s.token_hash = ?1",
    [ST_SESS_TOUCH] = "UPDATE sessions SET last_seen = ?2 WHERE id = ?1",
    [ST_SESS_LIST] =
        "SELECT id, token_hint, user_id, device_id, created, expires, last_seen, revoked"
        " FROM sessions WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created, id",
    [ST_SESS_REVOKE_BY_HASH] =
        "UPDATE sessions SET revoked = ?2 WHERE token_hash = ?1 AND revoked = 0",
    [ST_SESS_REVOKE_BY_ID] = "UPDATE sessions SET revoked = ?2 WHERE id = ?1 AND revoked = 0",
    /* overlay tokens revoked lately come as minus their id: their sockets are
   * known by it (ttb_store_overlay_token_channel) */
    [ST_SESS_REVOKED_SINCE] =
        "SELECT id FROM sessions WHERE revoked != 0 AND revoked >= ?1"
        " UNION ALL SELECT -id FROM overlay_tokens WHERE revoked != 0 AND revoked >= ?1",
    [ST_ING_INSERT] = "INSERT INTO ingest_tokens (token_hash, token_hint, user_id, created, note)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_ING_BY_HASH] = "SELECT user_id, revoked FROM ingest_tokens WHERE token_hash = ?1",
    [ST_ING_LIST] = "SELECT id, token_hint, user_id, created, revoked, note FROM ingest_tokens"
                    " ORDER BY created, id",
    [ST_ING_REVOKE_BY_HASH] =
        "UPDATE ingest_tokens SET revoked = ?2 WHERE token_hash = ?1 AND revoked = 0",
    [ST_ING_REVOKE_BY_ID] = "UPDATE ingest_tokens SET revoked = ?2 WHERE id = ?1 AND revoked = 0",
    [ST_OVL_INSERT] = "INSERT INTO overlay_tokens (token_hash, token_hint, user_id, created, note)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_OVL_BY_HASH] = "SELECT o.id, o.user_id, o.revoked, o.token_hash FROM overlay_tokens o"
                       " WHERE o.token_hash = ?1",
    [ST_OVL_LIST] = "SELECT id, token_hint, user_id, created, revoked, note FROM overlay_tokens"
                    " WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created, id",
    [ST_OVL_REVOKE] = "UPDATE overlay_tokens SET revoked = ?2 WHERE id = ?1 AND revoked = 0"
                      " AND (?3 IS NULL OR user_id = ?3)",
    [ST_SET_PUT] = "INSERT INTO channel_settings (user_id, doc, updated_ms)"
                   " SELECT user_id, ?2, ?3 FROM licenses WHERE user_id = ?1"
                   " ON CONFLICT(user_id) DO UPDATE SET doc = excluded.doc,"
                   " updated_ms = excluded.updated_ms",
    [ST_SET_GET] = "SELECT doc, updated_ms FROM channel_settings WHERE user_id = ?1",
    [ST_SET_LIST] = "SELECT user_id, doc, updated_ms FROM channel_settings ORDER BY user_id",
    [ST_SND_COUNT] = "SELECT COUNT(*) FROM user_sounds WHERE user_id = ?1",
    [ST_SND_INSERT] = "INSERT INTO user_sounds (user_id, name, duration_ms, created)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [ST_SND_LIST] = "SELECT id, user_id, name, duration_ms, created FROM user_sounds"
                    " WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id",
    [ST_SND_DELETE] = "DELETE FROM user_sounds WHERE id = ?1 AND user_id = ?2",
    [ST_SND_OWNED] = "SELECT 1 FROM user_sounds WHERE id = ?1 AND user_id = ?2",
};

struct ttb_store {
  ttb_store_pg *pg; /* PostgreSQL (store_pg.c) when not NULL; else SQLite */
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  int version;
  char err[256];
};

/* Formats a message into s->err (and into err when given). */
static void set_err(ttb_store *s, char *err, size_t errlen, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (s != NULL)
    snprintf(s->err, sizeof s->err, "%s", buf);
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", buf);
}

/* Records the database's last error, prefixed with what was being done. */
static void db_err(ttb_store *s, char *err, size_t errlen, const char *what)
{
  set_err(s, err, errlen, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* Steps a statement that returns no row and resets it; -1 on failure. */
static int exec_stmt(ttb_store *s, sqlite3_stmt *st, const char *what)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    set_err(s, NULL, 0, "%s: %s", what, sqlite3_errstr(rc));
    return -1;
  }
  return 0;
}

static int tx_begin(ttb_store *s) { return exec_stmt(s, s->st[ST_BEGIN], "begin"); }
static int tx_commit(ttb_store *s) { return exec_stmt(s, s->st[ST_COMMIT], "commit"); }

/* Rolls back the open transaction, keeping the error already recorded. */
static void tx_rollback(ttb_store *s)
{
  if (!sqlite3_get_autocommit(s->db)) {
    sqlite3_step(s->st[ST_ROLLBACK]);
    sqlite3_reset(s->st[ST_ROLLBACK]);
  }
}

/* Clears a statement's bindings after use. */
static void done(sqlite3_stmt *st)
{
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Copies src to dst with surrounding whitespace removed and ASCII case
 * folded (upper when up, else lower); -1 when empty or too long. */
static int normalise(const char *src, char dst[INPUT_MAX + 1], bool up)
{
  if (src == NULL)
    return -1;
  while (isspace((unsigned char)*src))
    src++;
  size_t n = strlen(src);
  while (n > 0 && isspace((unsigned char)src[n - 1]))
    n--;
  if (n == 0 || n > INPUT_MAX)
    return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[i] = (char)(up ? toupper(c) : tolower(c));
  }
  dst[n] = '\0';
  return 0;
}

/* BLAKE2b-256 of a normalised key or token. */
static void hash_text(const char *text, unsigned char out[HASH_LEN])
{
  crypto_generichash(out, HASH_LEN, (const unsigned char *)text, strlen(text), NULL, 0);
}

/* Normalises and hashes an input key (up) or token; -1 when malformed. */
static int hash_input(const char *in, bool up, unsigned char out[HASH_LEN])
{
  char norm[INPUT_MAX + 1];
  if (normalise(in, norm, up) != 0)
    return -1;
  hash_text(norm, out);
  sodium_memzero(norm, sizeof norm);
  return 0;
}

/* A random UUID (version 4) in lowercase text, by libuuid. The 122 random
 * bits come from libsodium, not from uuid_generate_random(): a session
 * token is a secret, and libuuid falls back to a weaker generator when the
 * kernel's cannot be read. */
static void uuid_v4(char out[TTB_STORE_UUID_MAX])
{
  uuid_t u;
  randombytes_buf(u, sizeof u);
  u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
  u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  uuid_unparse_lower(u, out);
  sodium_memzero(u, sizeof u);
}

/* A new key: the 4-character prefix ("TTB-" for a license key, "TTI-" for
 * an ingest token) and 26 RFC 4648 base32 characters of 130 random bits. */
static void key_new(char out[TTB_STORE_KEY_MAX], const char *prefix)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  unsigned char b[17]; /* 136 bits, of which the first 130 are used */
  randombytes_buf(b, sizeof b);
  memcpy(out, prefix, sizeof KEY_PREFIX - 1);
  for (int i = 0; i < KEY_CHARS; i++) {
    int bit = i * 5, v = 0;
    for (int j = 0; j < 5; j++, bit++)
      v = (v << 1) | ((b[bit / 8] >> (7 - bit % 8)) & 1);
    out[sizeof KEY_PREFIX - 1 + i] = alphabet[v];
  }
  out[sizeof KEY_PREFIX - 1 + KEY_CHARS] = '\0';
  sodium_memzero(b, sizeof b);
}

/* True when a license with this expiry has expired at now. */
static bool lic_expired(int64_t expires, int64_t now) { return expires != 0 && now >= expires; }

/* What a license row means now: revoked before expired. */
static ttb_store_status lic_state(bool revoked, int64_t expires, int64_t now)
{
  if (revoked)
    return TTB_STORE_REVOKED;
  if (lic_expired(expires, now))
    return TTB_STORE_EXPIRED;
  return TTB_STORE_OK;
}

/* Steps a lookup of at most one row (its parameters bound): 1 with the row
 * to read (then done(st)); 0 when there is none; -1 on an SQLite error
 * (the store's error says what was being read). st is reset unless 1. */
static int step_row(ttb_store *s, sqlite3_stmt *st, const char *what);

/* A license looked up by its key's hash. */
typedef struct lic_row {
  char user_id[TTB_STORE_UUID_MAX];
  int64_t expires;
  int64_t max_devices;
  bool revoked;
} lic_row;

/* Reads the license with this key hash: TTB_STORE_OK with *l filled,
 * TTB_STORE_UNKNOWN, or TTB_STORE_ERROR. */
static ttb_store_status read_license(ttb_store *s, const unsigned char *hash, lic_row *l);

/* Copies a text column (possibly NULL) into dst. */
static void col_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, len, "%s", t != NULL ? (const char *)t : "");
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_p(const char *path)
{
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
      return -1;
    buf[i] = c;
  }
  struct stat sb;
  if (stat(path, &sb) != 0)
    return -1;
  if (!S_ISDIR(sb.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* Applies the migrations from the current user_version on, each in its own
 * transaction. */
static int migrate(ttb_store *s, char *err, size_t errlen)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
    db_err(s, err, errlen, "reading the schema version");
    return -1;
  }
  int rc = sqlite3_step(st);
  int version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  if (version < 0) {
    db_err(s, err, errlen, "reading the schema version");
    return -1;
  }
  if (version > SCHEMA_VERSION) {
    set_err(s, err, errlen, "the database's schema version %d is newer than this program's (%d)",
            version, SCHEMA_VERSION);
    return -1;
  }
  for (; version < SCHEMA_VERSION; version++) {
    char sql[64];
    char *msg = NULL;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
      goto fail;
    /* Another process may have migrated meanwhile: re-read under the lock. */
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
      goto fail;
    int now_at = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (now_at != version) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      if (now_at < 0 || now_at > SCHEMA_VERSION) {
        set_err(s, err, errlen, "unexpected schema version %d", now_at);
        return -1;
      }
      version = now_at - 1;
      continue;
    }
    if (sqlite3_exec(s->db, migrations[version], NULL, NULL, &msg) != SQLITE_OK)
      goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
      goto fail;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
      goto fail;
    continue;
  fail:
    set_err(s, err, errlen, "migrating the schema to version %d: %s", version + 1,
            msg != NULL ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(s->db))
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
  }
  s->version = SCHEMA_VERSION;
  return 0;
}

int ttb_store_open(const char *data_dir, ttb_store **out, char *err, size_t errlen)
{
  *out = NULL;
  if (sodium_init() < 0) {
    set_err(NULL, err, errlen, "libsodium failed to initialise");
    return -1;
  }
  if (data_dir == NULL || data_dir[0] == '\0')
    data_dir = ".";
  if (mkdir_p(data_dir) != 0) {
    set_err(NULL, err, errlen, "cannot create the data dir %s: %s", data_dir, strerror(errno));
    return -1;
  }
  char path[4200];
  if ((size_t)snprintf(path, sizeof path, "%s/ttboost.db", data_dir) >= sizeof path) {
    set_err(NULL, err, errlen, "data dir path too long");
    return -1;
  }
  /* Create the file ourselves so that it is 0600 (SQLite gives the -wal and
   * -shm files the database file's permissions). Only when it is absent:
   * closing a descriptor of a file drops every POSIX lock this process
   * holds on it, those of an open connection too (a second handle opened
   * later would otherwise let another process think it is the last one
   * and delete the -wal and -shm files under us). */
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) {
    set_err(NULL, err, errlen, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  if (fd >= 0)
    close(fd);

  ttb_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    set_err(NULL, err, errlen, "out of memory");
    return -1;
  }
  int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    set_err(s, err, errlen, "cannot open %s: %s", path,
            s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_extended_result_codes(s->db, 1);
  if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK) {
    db_err(s, err, errlen, "setting the busy timeout");
    goto fail;
  }
  /* journal_mode returns the resulting mode: check that it is WAL. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
    db_err(s, err, errlen, "enabling WAL");
    goto fail;
  }
  rc = sqlite3_step(st);
  bool wal = rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  sqlite3_finalize(st);
  if (!wal) {
    set_err(s, err, errlen, "cannot enable WAL on %s: %s", path, sqlite3_errmsg(s->db));
    goto fail;
  }
  char *msg = NULL;
  if (sqlite3_exec(s->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", NULL, NULL,
                   &msg) != SQLITE_OK) {
    set_err(s, err, errlen, "configuring %s: %s", path, msg != NULL ? msg : "?");
    sqlite3_free(msg);
    goto fail;
  }
  if (migrate(s, err, errlen) != 0)
    goto fail;
  for (int i = 0; i < ST_COUNT; i++) {
    if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
        SQLITE_OK) {
      db_err(s, err, errlen, "preparing a statement");
      goto fail;
    }
  }
  *out = s;
  return 0;
fail:
  ttb_store_close(s);
  return -1;
}

int ttb_store_open_db(const char *db, const char *data_dir, ttb_store **out, char *err,
                      size_t errlen)
{
  *out = NULL;
  if (db == NULL || db[0] == '\0')
    return ttb_store_open(data_dir, out, err, errlen);
  if (!ttb_store_pg_url(db)) {
    /* the text may hold a password: not repeated */
    set_err(NULL, err, errlen,
            "--db: expected postgresql://… (or nothing: SQLite in the data dir)");
    return -1;
  }
  ttb_store *s = calloc(1, sizeof *s);
  if (s == NULL) {
    set_err(NULL, err, errlen, "out of memory");
    return -1;
  }
  if (ttb_pg_open(db, &s->pg, err, errlen) != 0) {
    free(s);
    return -1;
  }
  *out = s;
  return 0;
}

void ttb_store_close(ttb_store *s)
{
  if (s == NULL)
    return;
  if (s->pg != NULL) {
    ttb_pg_close(s->pg);
    free(s);
    return;
  }
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  sqlite3_close(s->db);
  free(s);
}

const char *ttb_store_error(const ttb_store *s)
{
  if (s == NULL)
    return "no store";
  return s->pg != NULL ? ttb_pg_error(s->pg) : s->err;
}

int ttb_store_schema_version(const ttb_store *s)
{
  return s->pg != NULL ? ttb_pg_schema_version(s->pg) : s->version;
}

const char *ttb_store_backend(const ttb_store *s)
{
  return s->pg != NULL ? "postgresql" : "sqlite";
}

/* What store_pg.c shares (store_int.h). */
int ttb_sti_hash_input(const char *in, bool up, unsigned char out[TTB_STI_HASH_LEN])
{
  return hash_input(in, up, out);
}
void ttb_sti_hash_text(const char *text, unsigned char out[TTB_STI_HASH_LEN])
{
  hash_text(text, out);
}
void ttb_sti_key_new(char out[TTB_STORE_KEY_MAX], const char *prefix) { key_new(out, prefix); }
void ttb_sti_uuid_v4(char out[TTB_STORE_UUID_MAX]) { uuid_v4(out); }
ttb_store_status ttb_sti_lic_state(bool revoked, int64_t expires, int64_t now)
{
  return lic_state(revoked, expires, now);
}
static bool parse_id(const char *text, int64_t *id);
bool ttb_sti_parse_id(const char *text, int64_t *id) { return parse_id(text, id); }

int ttb_store_license_create(ttb_store *s, int64_t now, uint32_t days, uint32_t max_devices,
                             const char *note, char key[TTB_STORE_KEY_MAX],
                             char user_id[TTB_STORE_UUID_MAX], char *err, size_t errlen)
{
  if (s->pg)
    return ttb_pg_license_create(s->pg, now, days, max_devices, note, key, user_id, err, errlen);
  key[0] = '\0';
  user_id[0] = '\0';
  if (note == NULL)
    note = "";
  if (strlen(note) > NOTE_MAX) {
    set_err(s, err, errlen, "the note is longer than %d bytes", NOTE_MAX);
    return -1;
  }
  if (days > 36500 * 10) {
    set_err(s, err, errlen, "too many days: %u", days);
    return -1;
  }
  int64_t expires = days == 0 ? 0 : now + (int64_t)days * 86400;
  sqlite3_stmt *st = s->st[ST_LIC_INSERT];
  /* A collision of 130 or 122 random bits will not happen; retry anyway. */
  for (int attempt = 0; attempt < 3; attempt++) {
    unsigned char hash[HASH_LEN];
    char hint[12];
    key_new(key, KEY_PREFIX);
    uuid_v4(user_id);
    hash_text(key, hash);
    snprintf(hint, sizeof hint, "%.8s", key);
    sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, expires);
    sqlite3_bind_int64(st, 6, max_devices);
    sqlite3_bind_text(st, 7, note, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_DONE)
      return 0;
    if ((rc & 0xff) != SQLITE_CONSTRAINT) {
      set_err(s, err, errlen, "creating a license: %s", sqlite3_errmsg(s->db));
      break;
    }
    set_err(s, err, errlen, "creating a license: %s", sqlite3_errmsg(s->db));
  }
  sodium_memzero(key, TTB_STORE_KEY_MAX);
  user_id[0] = '\0';
  return -1;
}

int ttb_store_license_list(ttb_store *s, int (*fn)(void *arg, const ttb_license_info *l), void *arg,
                           char *err, size_t errlen)
{
  if (s->pg)
    return ttb_pg_license_list(s->pg, fn, arg, err, errlen);
  sqlite3_stmt *st = s->st[ST_LIC_LIST];
  sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ttb_license_info l;
    memset(&l, 0, sizeof l);
    col_text(st, 0, l.key_hint, sizeof l.key_hint);
    col_text(st, 1, l.user_id, sizeof l.user_id);
    l.created = sqlite3_column_int64(st, 2);
    l.expires = sqlite3_column_int64(st, 3);
    l.max_devices = (uint32_t)sqlite3_column_int64(st, 4);
    l.revoked = sqlite3_column_int(st, 5) != 0;
    col_text(st, 6, l.note, sizeof l.note);
    l.devices = (uint32_t)sqlite3_column_int64(st, 7);
    col_text(st, 8, l.tiktok, sizeof l.tiktok);
    if (fn(arg, &l) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    db_err(s, err, errlen, "listing licenses");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

ttb_store_status ttb_store_license_revoke(ttb_store *s, const char *key)
{
  if (s->pg)
    return ttb_pg_license_revoke(s->pg, key);
  unsigned char hash[HASH_LEN];
  if (hash_input(key, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_LIC_REVOKE];
  sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  if (exec_stmt(s, st, "revoking a license") != 0)
    return TTB_STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

static int step_row(ttb_store *s, sqlite3_stmt *st, const char *what)
{
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc != SQLITE_DONE)
    db_err(s, NULL, 0, what);
  done(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static ttb_store_status read_license(ttb_store *s, const unsigned char *hash, lic_row *l)
{
  sqlite3_stmt *st = s->st[ST_LIC_BY_HASH];
  sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a license");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  col_text(st, 0, l->user_id, sizeof l->user_id);
  l->expires = sqlite3_column_int64(st, 1);
  l->max_devices = sqlite3_column_int64(st, 2);
  l->revoked = sqlite3_column_int(st, 3) != 0;
  done(st);
  return TTB_STORE_OK;
}

/* Extends a license; a revoked one is left alone (TTB_STORE_REVOKED). */
ttb_store_status ttb_store_license_extend(ttb_store *s, const char *key, int64_t now, uint32_t days)
{
  if (s->pg)
    return ttb_pg_license_extend(s->pg, key, now, days);
  unsigned char hash[HASH_LEN];
  if (hash_input(key, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  if (tx_begin(s) != 0)
    return TTB_STORE_ERROR;
  lic_row lic;
  ttb_store_status status = read_license(s, hash, &lic);
  int64_t expires = status == TTB_STORE_OK ? lic.expires : 0;
  /* A revoked license stays revoked: extending it would not revive it. */
  if (status == TTB_STORE_OK && lic.revoked)
    status = TTB_STORE_REVOKED;
  if (status == TTB_STORE_OK && expires != 0) {
    int64_t from = expires > now ? expires : now;
    sqlite3_stmt *st = s->st[ST_LIC_SET_EXPIRES];
    sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, from + (int64_t)days * 86400);
    if (exec_stmt(s, st, "extending a license") != 0)
      status = TTB_STORE_ERROR;
  }
  if (status != TTB_STORE_OK) {
    tx_rollback(s);
    return status;
  }
  if (tx_commit(s) != 0) {
    tx_rollback(s);
    return TTB_STORE_ERROR;
  }
  return status;
}

/* The body of login, run inside a transaction. */
static ttb_store_status login_tx(ttb_store *s, const unsigned char hash[HASH_LEN],
                                 const char *device_id, int64_t now, uint32_t session_days,
                                 char user_id[TTB_STORE_UUID_MAX], char token[TTB_STORE_UUID_MAX])
{
  lic_row lic;
  ttb_store_status status = read_license(s, hash, &lic);
  if (status == TTB_STORE_OK)
    status = lic_state(lic.revoked, lic.expires, now);
  if (status != TTB_STORE_OK)
    return status;
  const char *uid = lic.user_id;
  int64_t max_devices = lic.max_devices;

  /* Forget this user's expired sessions. */
  sqlite3_stmt *st = s->st[ST_SESS_PURGE];
  sqlite3_bind_text(st, 1, uid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, now);
  int rc;
  if (exec_stmt(s, st, "purging sessions") != 0)
    return TTB_STORE_ERROR;

  if (max_devices > 0) {
    /* a device that already has a live session keeps its slot */
    st = s->st[ST_SESS_DEVICE_HAS];
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now);
    rc = step_row(s, st, "counting devices");
    if (rc < 0)
      return TTB_STORE_ERROR;
    if (rc == 1) {
      done(st);
    } else {
      st = s->st[ST_SESS_DEVICES];
      sqlite3_bind_text(st, 1, uid, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 2, now);
      rc = step_row(s, st, "counting devices");
      if (rc != 1) {
        if (rc == 0)
          set_err(s, NULL, 0, "counting devices: no result");
        return TTB_STORE_ERROR;
      }
      int64_t used = sqlite3_column_int64(st, 0);
      done(st);
      if (used >= max_devices)
        return TTB_STORE_DEVICE_LIMIT;
    }
  }

  if (session_days == 0)
    session_days = DEFAULT_SESSION_DAYS;
  char tok[TTB_STORE_UUID_MAX];
  unsigned char thash[HASH_LEN];
  uuid_v4(tok);
  hash_text(tok, thash);
  st = s->st[ST_SESS_INSERT];
  sqlite3_bind_blob(st, 1, thash, HASH_LEN, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, uid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, device_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, now);
  sqlite3_bind_int64(st, 5, now + (int64_t)session_days * 86400);
  char hint[8];
  snprintf(hint, sizeof hint, "%.4s", tok);
  sqlite3_bind_text(st, 6, hint, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(st);
  done(st);
  if (rc != SQLITE_DONE) {
    db_err(s, NULL, 0, "creating a session");
    sodium_memzero(tok, sizeof tok);
    return TTB_STORE_ERROR;
  }
  memcpy(user_id, uid, TTB_STORE_UUID_MAX);
  memcpy(token, tok, TTB_STORE_UUID_MAX);
  sodium_memzero(tok, sizeof tok);
  return TTB_STORE_OK;
}

/* Login; session_days 0 means the default of DEFAULT_SESSION_DAYS. */
ttb_store_status ttb_store_login(ttb_store *s, const char *key, const char *device_id, int64_t now,
                                 uint32_t session_days, char user_id[TTB_STORE_UUID_MAX],
                                 char token[TTB_STORE_UUID_MAX])
{
  if (s->pg)
    return ttb_pg_login(s->pg, key, device_id, now, session_days, user_id, token);
  user_id[0] = '\0';
  token[0] = '\0';
  if (device_id == NULL)
    device_id = "";
  unsigned char hash[HASH_LEN];
  if (hash_input(key, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  /* IMMEDIATE: the device count and the new session are one step, also
   * against ttboost-admin or another server process. */
  if (tx_begin(s) != 0)
    return TTB_STORE_ERROR;
  ttb_store_status status = login_tx(s, hash, device_id, now, session_days, user_id, token);
  if (status == TTB_STORE_OK) {
    if (tx_commit(s) != 0) {
      tx_rollback(s);
      sodium_memzero(token, TTB_STORE_UUID_MAX);
      user_id[0] = '\0';
      return TTB_STORE_ERROR;
    }
  } else {
    tx_rollback(s);
  }
  return status;
}

ttb_store_status ttb_store_session(ttb_store *s, const char *token, int64_t now,
                                   char user_id[TTB_STORE_UUID_MAX])
{
  return ttb_store_session_id(s, token, now, user_id, NULL);
}

ttb_store_status ttb_store_session_id(ttb_store *s, const char *token, int64_t now,
                                      char user_id[TTB_STORE_UUID_MAX], int64_t *session_id)
{
  if (s->pg)
    return ttb_pg_session_id(s->pg, token, now, user_id, session_id);
  user_id[0] = '\0';
  if (session_id != NULL)
    *session_id = 0;
  unsigned char hash[HASH_LEN];
  if (hash_input(token, false, hash) != 0)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_SESS_BY_HASH];
  sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a session");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  int64_t id = sqlite3_column_int64(st, 0);
  char uid[TTB_STORE_UUID_MAX];
  col_text(st, 1, uid, sizeof uid);
  int64_t sess_expires = sqlite3_column_int64(st, 2);
  int64_t last_seen = sqlite3_column_int64(st, 3);
  bool has_license = sqlite3_column_type(st, 4) != SQLITE_NULL;
  int64_t lic_expires = sqlite3_column_int64(st, 4);
  bool revoked = sqlite3_column_int(st, 5) != 0;
  bool ended = sqlite3_column_int64(st, 6) != 0; /* logged out or revoked by the operator */
  done(st);
  if (!has_license || ended)
    return TTB_STORE_UNKNOWN;
  ttb_store_status status = lic_state(revoked, lic_expires, now);
  if (status != TTB_STORE_OK)
    return status;
  if (now >= sess_expires)
    return TTB_STORE_EXPIRED;
  if (now - last_seen >= TOUCH_INTERVAL) {
    st = s->st[ST_SESS_TOUCH];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if (exec_stmt(s, st, "updating a session") != 0)
      return TTB_STORE_ERROR;
  }
  memcpy(user_id, uid, TTB_STORE_UUID_MAX);
  if (session_id != NULL)
    *session_id = id;
  return TTB_STORE_OK;
}

ttb_store_status ttb_store_user_license(ttb_store *s, const char *user_id, int64_t now)
{
  if (s->pg)
    return ttb_pg_user_license(s->pg, user_id, now);
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_LIC_BY_USER];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a license");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  int64_t expires = sqlite3_column_int64(st, 0);
  bool revoked = sqlite3_column_int(st, 1) != 0;
  done(st);
  return lic_state(revoked, expires, now);
}

ttb_store_status ttb_store_license_set_tiktok(ttb_store *s, const char *key_or_user_id,
                                              const char *handle)
{
  if (s->pg)
    return ttb_pg_license_set_tiktok(s->pg, key_or_user_id, handle);
  if (key_or_user_id == NULL || handle == NULL || strlen(handle) >= TTB_STORE_TIKTOK_MAX)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st;
  if (strncasecmp(key_or_user_id, KEY_PREFIX, strlen(KEY_PREFIX)) == 0) {
    unsigned char hash[HASH_LEN];
    if (hash_input(key_or_user_id, true, hash) != 0)
      return TTB_STORE_UNKNOWN;
    st = s->st[ST_LIC_SET_TIKTOK_BY_HASH];
    sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  } else {
    st = s->st[ST_LIC_SET_TIKTOK_BY_USER];
    sqlite3_bind_text(st, 1, key_or_user_id, -1, SQLITE_TRANSIENT);
  }
  sqlite3_bind_text(st, 2, handle, -1, SQLITE_TRANSIENT);
  if (exec_stmt(s, st, "setting a license's TikTok handle") != 0)
    return TTB_STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

ttb_store_status ttb_store_user_tiktok(ttb_store *s, const char *user_id,
                                       char handle[TTB_STORE_TIKTOK_MAX])
{
  if (s->pg)
    return ttb_pg_user_tiktok(s->pg, user_id, handle);
  handle[0] = '\0';
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_LIC_TIKTOK_BY_USER];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a license's TikTok handle");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  col_text(st, 0, handle, TTB_STORE_TIKTOK_MAX);
  done(st);
  return TTB_STORE_OK;
}

/* Parses a row id: decimal digits only (1..INT64_MAX); false otherwise. */
static bool parse_id(const char *text, int64_t *id)
{
  if (text == NULL)
    return false;
  while (isspace((unsigned char)*text))
    text++;
  int64_t v = 0;
  const char *p = text;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (INT64_MAX - (*p - '0')) / 10)
      return false;
    v = v * 10 + (*p - '0');
  }
  while (isspace((unsigned char)*p))
    p++;
  if (p == text || *p != '\0' || v == 0)
    return false;
  *id = v;
  return true;
}

/* Runs one of two revoking UPDATEs: by row id when text is a number, else
 * by the hash of the token (normalised to upper case when up). */
static ttb_store_status revoke_by(ttb_store *s, int by_id, int by_hash, const char *text, bool up,
                                  int64_t now, const char *what)
{
  sqlite3_stmt *st;
  int64_t id;
  if (parse_id(text, &id)) {
    st = s->st[by_id];
    sqlite3_bind_int64(st, 1, id);
  } else {
    unsigned char hash[HASH_LEN];
    if (hash_input(text, up, hash) != 0)
      return TTB_STORE_UNKNOWN;
    st = s->st[by_hash];
    sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(st, 2, now > 0 ? now : 1);
  int rc = exec_stmt(s, st, what);
  sqlite3_clear_bindings(st);
  if (rc != 0)
    return TTB_STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

ttb_store_status ttb_store_session_revoke(ttb_store *s, const char *token_or_id, int64_t now)
{
  if (s->pg)
    return ttb_pg_session_revoke(s->pg, token_or_id, now);
  return revoke_by(s, ST_SESS_REVOKE_BY_ID, ST_SESS_REVOKE_BY_HASH, token_or_id, false, now,
                   "revoking a session");
}

int ttb_store_session_list(ttb_store *s, const char *user_id,
                           int (*fn)(void *arg, const ttb_session_info *si), void *arg, char *err,
                           size_t errlen)
{
  if (s->pg)
    return ttb_pg_session_list(s->pg, user_id, fn, arg, err, errlen);
  sqlite3_stmt *st = s->st[ST_SESS_LIST];
  if (user_id != NULL)
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, 1);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ttb_session_info si;
    memset(&si, 0, sizeof si);
    si.id = sqlite3_column_int64(st, 0);
    col_text(st, 1, si.hint, sizeof si.hint);
    col_text(st, 2, si.user_id, sizeof si.user_id);
    col_text(st, 3, si.device_id, sizeof si.device_id);
    si.created = sqlite3_column_int64(st, 4);
    si.expires = sqlite3_column_int64(st, 5);
    si.last_seen = sqlite3_column_int64(st, 6);
    si.revoked = sqlite3_column_int64(st, 7);
    if (fn(arg, &si) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    db_err(s, err, errlen, "listing sessions");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

int ttb_store_sessions_revoked_since(ttb_store *s, int64_t since,
                                     void (*fn)(void *arg, int64_t session_id), void *arg)
{
  if (s->pg)
    return ttb_pg_sessions_revoked_since(s->pg, since, fn, arg);
  sqlite3_stmt *st = s->st[ST_SESS_REVOKED_SINCE];
  sqlite3_bind_int64(st, 1, since);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fn(arg, sqlite3_column_int64(st, 0));
  if (rc != SQLITE_DONE) {
    db_err(s, NULL, 0, "reading revoked sessions");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

ttb_store_status ttb_store_ingest_token_create(ttb_store *s, const char *user_id, const char *note,
                                               int64_t now, char token[TTB_STORE_KEY_MAX],
                                               int64_t *id)
{
  if (s->pg)
    return ttb_pg_ingest_token_create(s->pg, user_id, note, now, token, id);
  token[0] = '\0';
  if (id != NULL)
    *id = 0;
  if (note == NULL)
    note = "";
  if (strlen(note) > NOTE_MAX) {
    set_err(s, NULL, 0, "the note is longer than %d bytes", NOTE_MAX);
    return TTB_STORE_ERROR;
  }
  if (user_id == NULL || user_id[0] == '\0')
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_LIC_BY_USER];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a license");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  done(st);
  st = s->st[ST_ING_INSERT];
  for (int attempt = 0; attempt < 3; attempt++) {
    unsigned char hash[HASH_LEN];
    char hint[12];
    key_new(token, INGEST_PREFIX);
    hash_text(token, hash);
    snprintf(hint, sizeof hint, "%.8s", token);
    sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_text(st, 5, note, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_DONE) {
      if (id != NULL)
        *id = sqlite3_last_insert_rowid(s->db);
      return TTB_STORE_OK;
    }
    db_err(s, NULL, 0, "creating an ingest token");
    if ((rc & 0xff) != SQLITE_CONSTRAINT)
      break;
  }
  sodium_memzero(token, TTB_STORE_KEY_MAX);
  return TTB_STORE_ERROR;
}

ttb_store_status ttb_store_ingest_token_channel(ttb_store *s, const char *token,
                                                char channel[TTB_STORE_UUID_MAX])
{
  if (s->pg)
    return ttb_pg_ingest_token_channel(s->pg, token, channel);
  channel[0] = '\0';
  unsigned char hash[HASH_LEN];
  if (hash_input(token, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_ING_BY_HASH];
  sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading an ingest token");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  bool revoked = sqlite3_column_int64(st, 1) != 0;
  if (!revoked)
    col_text(st, 0, channel, TTB_STORE_UUID_MAX);
  done(st);
  return revoked ? TTB_STORE_REVOKED : TTB_STORE_OK;
}

int ttb_store_ingest_token_list(ttb_store *s, int (*fn)(void *arg, const ttb_ingest_token_info *t),
                                void *arg, char *err, size_t errlen)
{
  if (s->pg)
    return ttb_pg_ingest_token_list(s->pg, fn, arg, err, errlen);
  sqlite3_stmt *st = s->st[ST_ING_LIST];
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ttb_ingest_token_info t;
    memset(&t, 0, sizeof t);
    t.id = sqlite3_column_int64(st, 0);
    col_text(st, 1, t.hint, sizeof t.hint);
    col_text(st, 2, t.channel, sizeof t.channel);
    t.created = sqlite3_column_int64(st, 3);
    t.revoked = sqlite3_column_int64(st, 4);
    col_text(st, 5, t.note, sizeof t.note);
    if (fn(arg, &t) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    db_err(s, err, errlen, "listing ingest tokens");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

ttb_store_status ttb_store_ingest_token_revoke(ttb_store *s, const char *token_or_id, int64_t now)
{
  if (s->pg)
    return ttb_pg_ingest_token_revoke(s->pg, token_or_id, now);
  return revoke_by(s, ST_ING_REVOKE_BY_ID, ST_ING_REVOKE_BY_HASH, token_or_id, true, now,
                   "revoking an ingest token");
}

ttb_store_status ttb_store_license_state(const ttb_license_info *l, int64_t now)
{
  return lic_state(l->revoked, l->expires, now);
}

int64_t ttb_store_data_version(ttb_store *s)
{
  if (s->pg)
    return ttb_pg_data_version(s->pg);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK) {
    db_err(s, NULL, 0, "data_version");
    return -1;
  }
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  if (v < 0)
    db_err(s, NULL, 0, "data_version");
  sqlite3_finalize(st);
  return v;
}

int ttb_store_set_busy_timeout(ttb_store *s, int ms)
{
  if (s->pg)
    return ttb_pg_set_busy_timeout(s->pg, ms);
  return sqlite3_busy_timeout(s->db, ms) == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------- overlay tokens */

#define OVERLAY_PREFIX "TTO-" /* overlay tokens: "TTO-" and 26 base32 characters */

ttb_store_status ttb_store_overlay_token_create(ttb_store *s, const char *user_id, const char *note,
                                                int64_t now, char token[TTB_STORE_KEY_MAX],
                                                int64_t *id, char hint[12])
{
  if (s->pg)
    return ttb_pg_overlay_token_create(s->pg, user_id, note, now, token, id, hint);
  token[0] = '\0';
  hint[0] = '\0';
  *id = 0;
  if (note == NULL)
    note = "";
  if (strlen(note) > NOTE_MAX) {
    set_err(s, NULL, 0, "the note is longer than %d bytes", NOTE_MAX);
    return TTB_STORE_ERROR;
  }
  if (user_id == NULL || user_id[0] == '\0')
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_LIC_BY_USER];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a license");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  done(st);
  st = s->st[ST_OVL_INSERT];
  for (int attempt = 0; attempt < 3; attempt++) {
    unsigned char hash[HASH_LEN];
    key_new(token, OVERLAY_PREFIX);
    hash_text(token, hash);
    snprintf(hint, 12, "%.8s", token);
    sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hint, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_text(st, 5, note, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_DONE) {
      *id = sqlite3_last_insert_rowid(s->db);
      return TTB_STORE_OK;
    }
    db_err(s, NULL, 0, "creating an overlay token");
    if ((rc & 0xff) != SQLITE_CONSTRAINT)
      break;
  }
  sodium_memzero(token, TTB_STORE_KEY_MAX);
  hint[0] = '\0';
  return TTB_STORE_ERROR;
}

ttb_store_status ttb_store_overlay_token_channel(ttb_store *s, const char *token,
                                                 char channel[TTB_STORE_UUID_MAX], int64_t *id)
{
  if (s->pg)
    return ttb_pg_overlay_token_channel(s->pg, token, channel, id);
  channel[0] = '\0';
  *id = 0;
  unsigned char hash[HASH_LEN];
  if (hash_input(token, true, hash) != 0)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_OVL_BY_HASH];
  sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading an overlay token");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  /* found by its hash (indexed); the stored hash is compared once more in
   * constant time, so no step of the check depends on the secret's bytes */
  const void *stored = sqlite3_column_blob(st, 3);
  bool same = stored != NULL && sqlite3_column_bytes(st, 3) == HASH_LEN &&
              sodium_memcmp(stored, hash, HASH_LEN) == 0;
  bool revoked = sqlite3_column_int64(st, 2) != 0;
  if (same && !revoked) {
    *id = sqlite3_column_int64(st, 0);
    col_text(st, 1, channel, TTB_STORE_UUID_MAX);
  }
  done(st);
  if (!same)
    return TTB_STORE_UNKNOWN;
  return revoked ? TTB_STORE_REVOKED : TTB_STORE_OK;
}

int ttb_store_overlay_token_list(ttb_store *s, const char *user_id,
                                 int (*fn)(void *arg, const ttb_overlay_token_info *t), void *arg,
                                 char *err, size_t errlen)
{
  if (s->pg)
    return ttb_pg_overlay_token_list(s->pg, user_id, fn, arg, err, errlen);
  sqlite3_stmt *st = s->st[ST_OVL_LIST];
  if (user_id != NULL)
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ttb_overlay_token_info t;
    memset(&t, 0, sizeof t);
    t.id = sqlite3_column_int64(st, 0);
    col_text(st, 1, t.hint, sizeof t.hint);
    col_text(st, 2, t.channel, sizeof t.channel);
    t.created = sqlite3_column_int64(st, 3);
    t.revoked = sqlite3_column_int64(st, 4);
    col_text(st, 5, t.note, sizeof t.note);
    if (fn(arg, &t) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    db_err(s, err, errlen, "listing overlay tokens");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

ttb_store_status ttb_store_overlay_token_revoke(ttb_store *s, const char *user_id, int64_t id,
                                                int64_t now)
{
  if (s->pg)
    return ttb_pg_overlay_token_revoke(s->pg, user_id, id, now);
  sqlite3_stmt *st = s->st[ST_OVL_REVOKE];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, now > 0 ? now : 1);
  if (user_id != NULL)
    sqlite3_bind_text(st, 3, user_id, -1, SQLITE_TRANSIENT);
  int rc = exec_stmt(s, st, "revoking an overlay token");
  sqlite3_clear_bindings(st);
  if (rc != 0)
    return TTB_STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

/* ------------------------------------------------------- channel settings */

ttb_store_status ttb_store_settings_put(ttb_store *s, const char *user_id, const uint8_t *doc,
                                        size_t len, int64_t updated_ms)
{
  if (s->pg)
    return ttb_pg_settings_put(s->pg, user_id, doc, len, updated_ms);
  if (user_id == NULL || (doc == NULL && len > 0) || len > TTB_STORE_SETTINGS_MAX)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_SET_PUT];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 2, len ? (const void *)doc : "", (int)len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, updated_ms);
  int rc = exec_stmt(s, st, "saving channel settings");
  sqlite3_clear_bindings(st);
  if (rc != 0)
    return TTB_STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

/* A malloc'd copy of a blob column (a 1-byte buffer for an empty one). */
static uint8_t *col_blob(sqlite3_stmt *st, int col, size_t *len)
{
  const void *b = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  uint8_t *out = malloc(n > 0 ? (size_t)n : 1);
  if (out == NULL)
    return NULL;
  if (n > 0)
    memcpy(out, b, (size_t)n);
  *len = n > 0 ? (size_t)n : 0;
  return out;
}

ttb_store_status ttb_store_settings_get(ttb_store *s, const char *user_id, uint8_t **doc,
                                        size_t *len, int64_t *updated_ms)
{
  if (s->pg)
    return ttb_pg_settings_get(s->pg, user_id, doc, len, updated_ms);
  *doc = NULL;
  *len = 0;
  *updated_ms = 0;
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_SET_GET];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading channel settings");
  if (rc <= 0)
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  *doc = col_blob(st, 0, len);
  *updated_ms = sqlite3_column_int64(st, 1);
  done(st);
  if (*doc == NULL) {
    set_err(s, NULL, 0, "reading channel settings: out of memory");
    return TTB_STORE_ERROR;
  }
  return TTB_STORE_OK;
}

int ttb_store_settings_list(ttb_store *s,
                            int (*fn)(void *arg, const char *user_id, const uint8_t *doc,
                                      size_t len, int64_t updated_ms),
                            void *arg, char *err, size_t errlen)
{
  if (s->pg)
    return ttb_pg_settings_list(s->pg, fn, arg, err, errlen);
  sqlite3_stmt *st = s->st[ST_SET_LIST];
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char user[TTB_STORE_UUID_MAX];
    col_text(st, 0, user, sizeof user);
    const void *b = sqlite3_column_blob(st, 1);
    int n = sqlite3_column_bytes(st, 1);
    if (fn(arg, user, b, n > 0 ? (size_t)n : 0, sqlite3_column_int64(st, 2)) != 0) {
      done(st);
      return 0;
    }
  }
  if (rc != SQLITE_DONE) {
    db_err(s, err, errlen, "listing channel settings");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

/* ------------------------------------------------------- user sounds */

ttb_store_status ttb_store_user_sound_add(ttb_store *s, const char *user_id, const char *name,
                                          uint32_t duration_ms, int64_t now, uint32_t max,
                                          int64_t *id, bool *full)
{
  *id = 0;
  *full = false;
  if (s->pg)
    return ttb_pg_user_sound_add(s->pg, user_id, name, duration_ms, now, max, id, full);
  if (user_id == NULL || user_id[0] == '\0')
    return TTB_STORE_UNKNOWN;
  if (name == NULL || strlen(name) >= TTB_STORE_SOUND_NAME_MAX) {
    set_err(s, NULL, 0, "the name is longer than %d bytes", TTB_STORE_SOUND_NAME_MAX - 1);
    return TTB_STORE_ERROR;
  }
  /* the count and the insert in one write transaction: two uploads at once
   * cannot both take the last place */
  if (tx_begin(s) != 0)
    return TTB_STORE_ERROR;
  sqlite3_stmt *st = s->st[ST_LIC_BY_USER];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a license");
  if (rc <= 0) {
    tx_rollback(s);
    return rc == 0 ? TTB_STORE_UNKNOWN : TTB_STORE_ERROR;
  }
  done(st);
  st = s->st[ST_SND_COUNT];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  rc = step_row(s, st, "counting sounds");
  if (rc <= 0) {
    tx_rollback(s);
    return TTB_STORE_ERROR;
  }
  int64_t n = sqlite3_column_int64(st, 0);
  done(st);
  if (n >= (int64_t)max) {
    tx_rollback(s);
    *full = true;
    return TTB_STORE_OK;
  }
  st = s->st[ST_SND_INSERT];
  sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, duration_ms);
  sqlite3_bind_int64(st, 4, now);
  if (exec_stmt(s, st, "adding a sound") != 0) {
    sqlite3_clear_bindings(st);
    tx_rollback(s);
    return TTB_STORE_ERROR;
  }
  sqlite3_clear_bindings(st);
  int64_t rid = sqlite3_last_insert_rowid(s->db);
  if (tx_commit(s) != 0) {
    tx_rollback(s);
    return TTB_STORE_ERROR;
  }
  *id = rid;
  return TTB_STORE_OK;
}

int ttb_store_user_sound_list(ttb_store *s, const char *user_id,
                              int (*fn)(void *arg, const ttb_user_sound_info *u), void *arg,
                              char *err, size_t errlen)
{
  if (s->pg)
    return ttb_pg_user_sound_list(s->pg, user_id, fn, arg, err, errlen);
  sqlite3_stmt *st = s->st[ST_SND_LIST];
  if (user_id != NULL)
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ttb_user_sound_info u;
    memset(&u, 0, sizeof u);
    u.id = sqlite3_column_int64(st, 0);
    col_text(st, 1, u.user_id, sizeof u.user_id);
    col_text(st, 2, u.name, sizeof u.name);
    int64_t d = sqlite3_column_int64(st, 3);
    u.duration_ms = d < 0 ? 0 : d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    u.created = sqlite3_column_int64(st, 4);
    if (fn(arg, &u) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    db_err(s, err, errlen, "listing sounds");
    done(st);
    return -1;
  }
  done(st);
  return 0;
}

ttb_store_status ttb_store_user_sound_delete(ttb_store *s, const char *user_id, int64_t id)
{
  if (s->pg)
    return ttb_pg_user_sound_delete(s->pg, user_id, id);
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_SND_DELETE];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
  int rc = exec_stmt(s, st, "deleting a sound");
  sqlite3_clear_bindings(st);
  if (rc != 0)
    return TTB_STORE_ERROR;
  return sqlite3_changes(s->db) > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}

ttb_store_status ttb_store_user_sound_owned(ttb_store *s, const char *user_id, int64_t id)
{
  if (s->pg)
    return ttb_pg_user_sound_owned(s->pg, user_id, id);
  if (user_id == NULL)
    return TTB_STORE_UNKNOWN;
  sqlite3_stmt *st = s->st[ST_SND_OWNED];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
  int rc = step_row(s, st, "reading a sound");
  if (rc < 0)
    return TTB_STORE_ERROR;
  if (rc > 0)
    done(st);
  return rc > 0 ? TTB_STORE_OK : TTB_STORE_UNKNOWN;
}
