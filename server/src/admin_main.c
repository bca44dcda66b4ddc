/*
 * ttboost-admin: manages licenses, ingest tokens and sessions in the server's data directory, or
 * in PostgreSQL with --db (see docs/operations.md). Runs alongside the server: the store is
 * SQLite WAL (or PostgreSQL).
 *
 * Exit status: 0 done, 1 the operation failed (no such key, revoked
 * license, database error), 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "tiktok_handle.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define DEFAULT_DATA_DIR "./var"
#define DEFAULT_DAYS 30
#define DEFAULT_DEVICES 1
#define MAX_DAYS 36500
#define MAX_DEVICES 1000
#define MAX_NOTE 255

static const char usage_text[] =
    "Usage: ttboost-admin [--data-dir DIR | --db postgresql://…] COMMAND\n"
    "\n"
    "Manages the licenses, ingest tokens and sessions of ttboost-server in\n"
    "DIR/ttboost.db, or with --db URL in PostgreSQL (the server's --db; a password\n"
    "from ~/.pgpass or PGPASSFILE rather than in the URL). The server may keep\n"
    "running: revocations and extensions reach it within seconds.\n"
    "\n"
    "Commands:\n"
    "  license create [--days N] [--devices N] [--note TEXT] [--tiktok NAME]\n"
    "      Creates a license and prints its key as the only line on stdout (the\n"
    "      user id and details go to stderr). The key is shown this once: the\n"
    "      database keeps only its hash.\n"
    "        --days N      valid for N days from now, 0 = never expires\n"
    "                      (0..36500, default 30)\n"
    "        --devices N   devices that may be logged in at once, 0 = no limit\n"
    "                      (0..1000, default 1)\n"
    "        --note TEXT   a note for the operator, e.g. the customer's name\n"
    "                      (at most 255 bytes)\n"
    "        --tiktok NAME the streamer's TikTok @username: the server then listens\n"
    "                      to their LIVE itself (docs/tiktok.md)\n"
    "  license set-tiktok KEY_OR_USER_ID NAME\n"
    "      Sets the license's TikTok @username (a leading @ is fine); an empty NAME\n"
    "      ('') clears it. A running server picks it up within seconds.\n"
    "  license list\n"
    "      Prints every license, oldest first: key hint (TTB- and the key's first\n"
    "      4 characters), user id, created and expires (UTC), devices in use/allowed\n"
    "      ('-' = no limit), status (active, expired, revoked), TikTok @username\n"
    "      ('-' = none) and note.\n"
    "  license revoke KEY\n"
    "      Revokes the license with this key; its sessions stop working.\n"
    "  license extend KEY --days N\n"
    "      Extends the license by N days (1..36500) from its expiry, or from now\n"
    "      when it has already expired. A license that never expires stays so.\n"
    "\n"
    "\n"
    "  ingest-token create --channel USER_ID [--note TEXT]\n"
    "      Creates a token that may post events to POST /ingest/events for this one\n"
    "      channel (a license's user id), and prints it as the only line on stdout\n"
    "      (\"TTI-\" and 26 characters; shown once, only its hash is kept).\n"
    "  ingest-token list\n"
    "      Prints every ingest token: id, hint (TTI- and its first 4 characters),\n"
    "      channel, created (UTC), status (active, revoked) and note.\n"
    "  ingest-token revoke TOKEN_OR_ID\n"
    "      Revokes an ingest token (by the token, or by its id from the list);\n"
    "      the server refuses it from its next request on.\n"
    "\n"
    "  overlay-token list [--user USER_ID]\n"
    "      Prints the OBS overlay tokens (made by a streamer in the app): id, hint\n"
    "      (TTO- and its first 4 characters), user id, created (UTC), status and note.\n"
    "  overlay-token revoke ID\n"
    "      Revokes an overlay token; the server closes its overlays within seconds.\n"
    "\n"
    "  session list [--user USER_ID]\n"
    "      Prints the sessions (logins) of every license or of one: id, token hint\n"
    "      (the ws_token's first 4 characters), user id, device, created, last seen,\n"
    "      expires (UTC) and status (active, expired, ended).\n"
    "  session revoke TOKEN_OR_SESSION_ID\n"
    "      Ends a session (by its ws_token, or by its id from the list): the token\n"
    "      stops working and the server closes its sockets (code 4001) within about\n"
    "      two seconds. The device may log in again while the license is valid.\n"
    "\n"
    "  KEY (and TOKEN) is accepted in any case, surrounding whitespace ignored; '-'\n"
    "  reads it from the first line of stdin (keeps it out of the process list).\n"
    "  'license' is accepted for 'license'. Options may also be written --opt=VALUE.\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR  the server's data directory (default ./var); created if absent\n"
    "  -h, --help      prints this help\n"
    "\n"
    "Exit status: 0 done, 1 failed (unknown key, revoked license, database error),\n"
    "2 usage error.\n";

/* Prints a usage error and a hint; returns EXIT_USAGE. */
static int usage_error(const char *fmt, const char *arg)
{
  fputs("ttboost-admin: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nTry 'ttboost-admin --help'.\n", stderr);
  return EXIT_USAGE;
}

/* Parses a decimal number in [min, max]: digits only, no sign or blanks. */
static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
  if (s == NULL || *s < '0' || *s > '9')
    return false;
  errno = 0;
  char *end = NULL;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* Formats unix seconds as an ISO 8601 UTC time. */
static void iso_time(int64_t t, char *buf, size_t len)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "%" PRId64, t);
}

typedef struct args {
  const char *data_dir, *db;
  const char *days, *devices, *note, *tiktok, *channel, *user;
  bool help;
  const char *pos[4];
  int npos;
} args;

/* Matches argv[*i] against the option name (as "--name VALUE" or
 * "--name=VALUE"): 1 and *val set when it matches, 0 when it does not,
 * -1 when its value is missing. */
static int match_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0')
    return 0;
  if (*i + 1 >= argc)
    return -1;
  *val = argv[++*i];
  return 1;
}

/* Splits the command line into options and positional arguments. */
static int parse_args(int argc, char **argv, args *a)
{
  static const char *const names[] = {"--data-dir", "--days",    "--devices", "--note",
                                      "--tiktok",   "--channel", "--user",    "--db"};
  bool only_pos = false;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!only_pos && strcmp(arg, "--") == 0) {
      only_pos = true;
      continue;
    }
    if (!only_pos && arg[0] == '-' && arg[1] != '\0') {
      if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        a->help = true;
        continue;
      }
      const char **slots[] = {&a->data_dir, &a->days,    &a->devices, &a->note,
                              &a->tiktok,   &a->channel, &a->user,    &a->db};
      int m = 0;
      for (size_t k = 0; k < sizeof names / sizeof names[0] && m == 0; k++) {
        m = match_opt(argc, argv, &i, names[k], slots[k]);
        if (m < 0)
          return usage_error("option %s needs a value", names[k]);
      }
      if (m == 0)
        return usage_error("unknown option %s", arg);
      continue;
    }
    if (a->npos == (int)(sizeof a->pos / sizeof a->pos[0]))
      return usage_error("unexpected argument %s", arg);
    a->pos[a->npos++] = arg;
  }
  return 0;
}

/* Reads a key from stdin's first line into buf (for KEY '-'). */
static const char *key_arg(const char *arg, char *buf, size_t len)
{
  if (strcmp(arg, "-") != 0)
    return arg;
  if (fgets(buf, (int)len, stdin) == NULL)
    return NULL;
  return buf;
}

/* --db: NULL = SQLite in the data dir. */
static const char *db_url;

/* Opens the store (db_url, else dir), printing the failure. */
static ttb_store *open_store(const char *dir)
{
  ttb_store *s = NULL;
  char err[512];
  if (ttb_store_open_db(db_url, dir, &s, err, sizeof err) != 0) {
    fprintf(stderr, "ttboost-admin: %s\n", err);
    return NULL;
  }
  return s;
}

/* Prints what a failed status means; returns the exit status. */
static int report(ttb_store *s, ttb_store_status st)
{
  switch (st) {
  case TTB_STORE_OK:
    return 0;
  case TTB_STORE_UNKNOWN:
    fputs("ttboost-admin: no license has this key\n", stderr);
    break;
  case TTB_STORE_REVOKED:
    fputs("ttboost-admin: the license is revoked\n", stderr);
    break;
  case TTB_STORE_EXPIRED:
    fputs("ttboost-admin: the license has expired\n", stderr);
    break;
  case TTB_STORE_DEVICE_LIMIT:
    fputs("ttboost-admin: device limit reached\n", stderr);
    break;
  case TTB_STORE_ERROR:
    fprintf(stderr, "ttboost-admin: database error: %s\n", ttb_store_error(s));
    break;
  }
  return EXIT_FAIL;
}

static int cmd_create(const args *a)
{
  uint32_t days = DEFAULT_DAYS, devices = DEFAULT_DEVICES;
  if (a->days != NULL && !parse_u32(a->days, 0, MAX_DAYS, &days))
    return usage_error("--days: expected a whole number from 0 to 36500, not '%s'", a->days);
  if (a->devices != NULL && !parse_u32(a->devices, 0, MAX_DEVICES, &devices))
    return usage_error("--devices: expected a whole number from 0 to 1000, not '%s'", a->devices);
  const char *note = a->note != NULL ? a->note : "";
  if (strlen(note) > MAX_NOTE)
    return usage_error("--note: at most 255 bytes%s", "");
  char handle[TTB_TIKTOK_HANDLE_MAX], herr[160];
  if (!ttb_tiktok_handle_parse(a->tiktok, handle, herr, sizeof herr))
    return usage_error("--tiktok: %s", herr);
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  char key[TTB_STORE_KEY_MAX], user_id[TTB_STORE_UUID_MAX], err[512];
  int64_t now = (int64_t)time(NULL);
  if (ttb_store_license_create(s, now, days, devices, note, key, user_id, err, sizeof err) != 0) {
    fprintf(stderr, "ttboost-admin: %s\n", err);
    ttb_store_close(s);
    return EXIT_FAIL;
  }
  if (handle[0] && ttb_store_license_set_tiktok(s, user_id, handle) != TTB_STORE_OK) {
    /* the license exists without its handle: say so, and still show the key */
    fprintf(stderr,
            "ttboost-admin: the TikTok username could not be saved (%s); set it with "
            "'license set-tiktok %s NAME'\n",
            ttb_store_error(s), user_id);
  }
  ttb_store_close(s);
  char exp[32] = "never";
  if (days != 0)
    iso_time(now + (int64_t)days * 86400, exp, sizeof exp);
  char dev[16] = "no limit";
  if (devices != 0)
    snprintf(dev, sizeof dev, "%" PRIu32, devices);
  fprintf(stderr, "license created: user_id %s, expires %s, devices %s%s%s\n", user_id, exp, dev,
          handle[0] ? ", TikTok @" : "", handle);
  fprintf(stderr, "the key below is shown only this once:\n");
  int rc = printf("%s\n", key) < 0 || fflush(stdout) != 0 ? EXIT_FAIL : 0;
  sodium_memzero(key, sizeof key);
  return rc;
}

/* Replaces control characters so that a note cannot break the table. */
static void printable(const char *in, char *out, size_t len)
{
  size_t j = 0;
  for (; *in != '\0' && j + 1 < len; in++, j++)
    out[j] = ((unsigned char)*in < 0x20 || *in == 0x7f) ? '?' : *in;
  out[j] = '\0';
}

struct list_ctx {
  int64_t now;
  int n;
};

static int list_row(void *arg, const ttb_license_info *l)
{
  struct list_ctx *c = arg;
  char created[32], expires[32] = "never", devices[32], note[sizeof l->note];
  iso_time(l->created, created, sizeof created);
  if (l->expires != 0)
    iso_time(l->expires, expires, sizeof expires);
  if (l->max_devices != 0)
    snprintf(devices, sizeof devices, "%" PRIu32 "/%" PRIu32, l->devices, l->max_devices);
  else
    snprintf(devices, sizeof devices, "%" PRIu32 "/-", l->devices);
  const char *status = l->revoked                                  ? "revoked"
                       : (l->expires != 0 && c->now >= l->expires) ? "expired"
                                                                   : "active";
  printable(l->note, note, sizeof note);
  char tiktok[sizeof l->tiktok + 1] = "-";
  if (l->tiktok[0])
    snprintf(tiktok, sizeof tiktok, "@%s", l->tiktok);
  printf("%-9s %-36s %-20s %-20s %-9s %-7s %-25s %s\n", l->key_hint, l->user_id, created, expires,
         devices, status, tiktok, note);
  c->n++;
  return 0;
}

static int cmd_list(const args *a)
{
  if (a->days != NULL || a->devices != NULL || a->note != NULL || a->tiktok != NULL)
    return usage_error("%s", "license list takes no options");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  struct list_ctx c = {.now = (int64_t)time(NULL)};
  printf("%-9s %-36s %-20s %-20s %-9s %-7s %-25s %s\n", "KEY", "USER_ID", "CREATED", "EXPIRES",
         "DEVICES", "STATUS", "TIKTOK", "NOTE");
  char err[512];
  int rc = ttb_store_license_list(s, list_row, &c, err, sizeof err);
  ttb_store_close(s);
  if (rc != 0) {
    fprintf(stderr, "ttboost-admin: %s\n", err);
    return EXIT_FAIL;
  }
  fprintf(stderr, "%d license%s\n", c.n, c.n == 1 ? "" : "s");
  return fflush(stdout) != 0 ? EXIT_FAIL : 0;
}

static int cmd_revoke(const args *a, const char *karg)
{
  if (a->days != NULL || a->devices != NULL || a->note != NULL || a->tiktok != NULL)
    return usage_error("%s", "license revoke takes no options");
  char buf[256];
  const char *key = key_arg(karg, buf, sizeof buf);
  if (key == NULL)
    return usage_error("%s", "no key on stdin");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  ttb_store_status st = ttb_store_license_revoke(s, key);
  int rc = report(s, st);
  ttb_store_close(s);
  sodium_memzero(buf, sizeof buf);
  if (rc == 0)
    printf("license revoked\n");
  return rc;
}

static int cmd_extend(const args *a, const char *karg)
{
  if (a->devices != NULL || a->note != NULL || a->tiktok != NULL)
    return usage_error("%s", "license extend takes only --days");
  uint32_t days;
  if (a->days == NULL)
    return usage_error("%s", "license extend needs --days N");
  if (!parse_u32(a->days, 1, MAX_DAYS, &days))
    return usage_error("--days: expected a whole number from 1 to 36500, not '%s'", a->days);
  char buf[256];
  const char *key = key_arg(karg, buf, sizeof buf);
  if (key == NULL)
    return usage_error("%s", "no key on stdin");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  ttb_store_status st = ttb_store_license_extend(s, key, (int64_t)time(NULL), days);
  int rc = report(s, st);
  ttb_store_close(s);
  sodium_memzero(buf, sizeof buf);
  if (rc == 0)
    printf("license extended by %" PRIu32 " day%s\n", days, days == 1 ? "" : "s");
  return rc;
}

static int cmd_set_tiktok(const args *a, const char *karg, const char *name)
{
  if (a->days != NULL || a->devices != NULL || a->note != NULL || a->tiktok != NULL)
    return usage_error("%s", "license set-tiktok takes no options");
  char handle[TTB_TIKTOK_HANDLE_MAX], herr[160];
  if (!ttb_tiktok_handle_parse(name, handle, herr, sizeof herr))
    return usage_error("NAME: %s", herr);
  char buf[256];
  const char *key = key_arg(karg, buf, sizeof buf);
  if (key == NULL)
    return usage_error("%s", "no key on stdin");
  char id[256];
  size_t n = strlen(key);
  while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' '))
    n--;
  while (n > 0 && (*key == ' ' || *key == '\t'))
    key++, n--;
  snprintf(id, sizeof id, "%.*s", (int)n, key);
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  ttb_store_status st = ttb_store_license_set_tiktok(s, id, handle);
  int rc = report(s, st);
  ttb_store_close(s);
  sodium_memzero(buf, sizeof buf);
  sodium_memzero(id, sizeof id);
  if (rc == 0) {
    if (handle[0])
      printf("TikTok username set: @%s\n", handle);
    else
      printf("TikTok username cleared\n");
  }
  return rc;
}

/* True when any option but those allowed (a string of their letters:
 * D days, V devices, N note, T tiktok, C channel, U user) was given. */
static bool other_opts(const args *a, const char *allowed)
{
  const char *v[] = {a->days, a->devices, a->note, a->tiktok, a->channel, a->user};
  const char *letters = "DVNTCU";
  for (int i = 0; i < 6; i++)
    if (v[i] != NULL && strchr(allowed, letters[i]) == NULL)
      return true;
  return false;
}

/* Trims a TOKEN_OR_ID argument ('-': stdin) into out; NULL when none. */
static const char *token_arg(const char *arg, char *out, size_t len)
{
  char buf[256];
  const char *t = key_arg(arg, buf, sizeof buf);
  if (t == NULL)
    return NULL;
  size_t n = strlen(t);
  while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
    n--;
  while (n > 0 && (*t == ' ' || *t == '\t'))
    t++, n--;
  snprintf(out, len, "%.*s", (int)n, t);
  sodium_memzero(buf, sizeof buf);
  return out[0] ? out : NULL;
}

static int cmd_ingest_create(const args *a)
{
  if (other_opts(a, "CN"))
    return usage_error("%s", "ingest-token create takes --channel and --note");
  if (a->channel == NULL || a->channel[0] == '\0')
    return usage_error("%s", "ingest-token create needs --channel USER_ID");
  const char *note = a->note != NULL ? a->note : "";
  if (strlen(note) > MAX_NOTE)
    return usage_error("--note: at most 255 bytes%s", "");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  char token[TTB_STORE_KEY_MAX];
  int64_t id = 0;
  ttb_store_status st =
      ttb_store_ingest_token_create(s, a->channel, note, (int64_t)time(NULL), token, &id);
  if (st == TTB_STORE_UNKNOWN) {
    fprintf(stderr, "ttboost-admin: no license has the user id '%s'\n", a->channel);
    ttb_store_close(s);
    return EXIT_FAIL;
  }
  int rc = report(s, st);
  ttb_store_close(s);
  if (rc != 0)
    return rc;
  fprintf(stderr, "ingest token %" PRId64 " created for channel %s\n", id, a->channel);
  fprintf(stderr, "the token below is shown only this once:\n");
  rc = printf("%s\n", token) < 0 || fflush(stdout) != 0 ? EXIT_FAIL : 0;
  sodium_memzero(token, sizeof token);
  return rc;
}

static int ingest_row(void *arg, const ttb_ingest_token_info *t)
{
  int *n = arg;
  char created[32], note[sizeof t->note];
  iso_time(t->created, created, sizeof created);
  printable(t->note, note, sizeof note);
  printf("%-6" PRId64 " %-9s %-36s %-20s %-7s %s\n", t->id, t->hint, t->channel, created,
         t->revoked ? "revoked" : "active", note);
  (*n)++;
  return 0;
}

static int cmd_ingest_list(const args *a)
{
  if (other_opts(a, ""))
    return usage_error("%s", "ingest-token list takes no options");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  printf("%-6s %-9s %-36s %-20s %-7s %s\n", "ID", "TOKEN", "CHANNEL", "CREATED", "STATUS", "NOTE");
  int n = 0;
  char err[512];
  int rc = ttb_store_ingest_token_list(s, ingest_row, &n, err, sizeof err);
  ttb_store_close(s);
  if (rc != 0) {
    fprintf(stderr, "ttboost-admin: %s\n", err);
    return EXIT_FAIL;
  }
  fprintf(stderr, "%d ingest token%s\n", n, n == 1 ? "" : "s");
  return fflush(stdout) != 0 ? EXIT_FAIL : 0;
}

/* ingest-token revoke and session revoke. */
static int cmd_revoke_token(const args *a, const char *arg, bool session)
{
  const char *what = session ? "session" : "ingest token";
  if (other_opts(a, ""))
    return usage_error("%s revoke takes no options", session ? "session" : "ingest-token");
  char buf[256];
  const char *t = token_arg(arg, buf, sizeof buf);
  if (t == NULL)
    return usage_error("%s", "no token or id given");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  int64_t now = (int64_t)time(NULL);
  ttb_store_status st =
      session ? ttb_store_session_revoke(s, t, now) : ttb_store_ingest_token_revoke(s, t, now);
  sodium_memzero(buf, sizeof buf);
  int rc;
  if (st == TTB_STORE_UNKNOWN) {
    fprintf(stderr, "ttboost-admin: no active %s matches\n", what);
    rc = EXIT_FAIL;
  } else {
    rc = report(s, st);
  }
  ttb_store_close(s);
  if (rc == 0)
    printf("%s revoked\n", what);
  return rc;
}

struct sess_ctx {
  int64_t now;
  int n;
};

static int session_row(void *arg, const ttb_session_info *si)
{
  struct sess_ctx *c = arg;
  char created[32], seen[32], expires[32], device[sizeof si->device_id], hint[16];
  iso_time(si->created, created, sizeof created);
  iso_time(si->last_seen, seen, sizeof seen);
  iso_time(si->expires, expires, sizeof expires);
  printable(si->device_id[0] ? si->device_id : "-", device, sizeof device);
  snprintf(hint, sizeof hint, "%s", si->hint[0] ? si->hint : "-");
  const char *status = si->revoked ? "ended" : c->now >= si->expires ? "expired" : "active";
  printf("%-6" PRId64 " %-5s %-36s %-20s %-20s %-20s %-7s %s\n", si->id, hint, si->user_id, created,
         seen, expires, status, device);
  c->n++;
  return 0;
}

static int cmd_session_list(const args *a)
{
  if (other_opts(a, "U"))
    return usage_error("%s", "session list takes only --user");
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  struct sess_ctx c = {.now = (int64_t)time(NULL)};
  printf("%-6s %-5s %-36s %-20s %-20s %-20s %-7s %s\n", "ID", "TOKEN", "USER_ID", "CREATED",
         "LAST_SEEN", "EXPIRES", "STATUS", "DEVICE");
  char err[512];
  int rc = ttb_store_session_list(s, a->user, session_row, &c, err, sizeof err);
  ttb_store_close(s);
  if (rc != 0) {
    fprintf(stderr, "ttboost-admin: %s\n", err);
    return EXIT_FAIL;
  }
  fprintf(stderr, "%d session%s\n", c.n, c.n == 1 ? "" : "s");
  return fflush(stdout) != 0 ? EXIT_FAIL : 0;
}

static int overlay_row(void *arg, const ttb_overlay_token_info *t)
{
  int *n = arg;
  char created[32], note[sizeof t->note];
  iso_time(t->created, created, sizeof created);
  printable(t->note, note, sizeof note);
  printf("%-6" PRId64 " %-9s %-36s %-20s %-7s %s\n", t->id, t->hint, t->channel, created,
         t->revoked ? "revoked" : "active", note);
  (*n)++;
  return 0;
}

/* overlay-token list [--user U] and overlay-token revoke ID. */
static int overlay_commands(const args *a)
{
  if (a->npos < 2)
    return usage_error("%s", "overlay-token: which? list or revoke");
  const char *sub = a->pos[1];
  bool revoke = strcmp(sub, "revoke") == 0;
  if (!revoke && strcmp(sub, "list") != 0)
    return usage_error("unknown overlay-token command '%s'", sub);
  int want = revoke ? 3 : 2;
  if (a->npos < want)
    return usage_error("%s", "overlay-token revoke needs the ID (overlay-token list)");
  if (a->npos > want)
    return usage_error("unexpected argument '%s'", a->pos[want]);
  if (other_opts(a, revoke ? "" : "U"))
    return usage_error("%s", revoke ? "overlay-token revoke takes no options"
                                    : "overlay-token list takes only --user");
  char *end = NULL;
  long long id = revoke ? strtoll(a->pos[2], &end, 10) : 0;
  if (revoke && (end == a->pos[2] || *end != '\0' || id <= 0))
    return usage_error("overlay-token revoke: '%s' is not an id", a->pos[2]);
  ttb_store *s = open_store(a->data_dir);
  if (s == NULL)
    return EXIT_FAIL;
  int rc;
  if (revoke) {
    ttb_store_status st = ttb_store_overlay_token_revoke(s, NULL, id, (int64_t)time(NULL));
    if (st == TTB_STORE_UNKNOWN) {
      fprintf(stderr, "ttboost-admin: no active overlay token has the id %lld\n", id);
      rc = EXIT_FAIL;
    } else {
      rc = report(s, st);
    }
    ttb_store_close(s);
    if (rc == 0)
      printf("overlay token revoked\n");
    return rc;
  }
  printf("%-6s %-9s %-36s %-20s %-7s %s\n", "ID", "TOKEN", "USER_ID", "CREATED", "STATUS", "NOTE");
  int n = 0;
  char err[512];
  rc = ttb_store_overlay_token_list(s, a->user, overlay_row, &n, err, sizeof err);
  ttb_store_close(s);
  if (rc != 0) {
    fprintf(stderr, "ttboost-admin: %s\n", err);
    return EXIT_FAIL;
  }
  fprintf(stderr, "%d overlay token%s\n", n, n == 1 ? "" : "s");
  return fflush(stdout) != 0 ? EXIT_FAIL : 0;
}

/* ingest-token and session commands: pos[0] is the command. */
static int token_commands(const args *a)
{
  bool session = strcmp(a->pos[0], "session") == 0;
  const char *cmd = a->pos[0];
  if (a->npos < 2)
    return usage_error(session ? "%s: which? list or revoke" : "%s: which? create, list or revoke",
                       cmd);
  const char *sub = a->pos[1];
  bool revoke = strcmp(sub, "revoke") == 0;
  bool known = revoke || strcmp(sub, "list") == 0 || (!session && strcmp(sub, "create") == 0);
  if (!known)
    return usage_error(
        session ? "unknown session command '%s'" : "unknown ingest-token command '%s'", sub);
  int want = revoke ? 3 : 2;
  if (a->npos < want)
    return usage_error("%s revoke needs the TOKEN or its ID", cmd);
  if (a->npos > want)
    return usage_error("unexpected argument '%s'", a->pos[want]);
  if (revoke)
    return cmd_revoke_token(a, a->pos[2], session);
  if (session)
    return cmd_session_list(a);
  return strcmp(sub, "create") == 0 ? cmd_ingest_create(a) : cmd_ingest_list(a);
}

int main(int argc, char **argv)
{
  args a = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc != 0)
    return rc;
  if (a.help) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (a.data_dir == NULL)
    a.data_dir = DEFAULT_DATA_DIR;
  if (a.data_dir[0] == '\0')
    return usage_error("%s", "--data-dir: empty");
  if (a.db != NULL && strncmp(a.db, "postgresql://", 13) != 0 &&
      strncmp(a.db, "postgres://", 11) != 0)
    return usage_error("%s", "--db: expected postgresql://…");
  db_url = a.db;
  if (a.npos == 0) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  if (strcmp(a.pos[0], "ingest-token") == 0 || strcmp(a.pos[0], "session") == 0)
    return token_commands(&a);
  if (strcmp(a.pos[0], "overlay-token") == 0)
    return overlay_commands(&a);
  if (strcmp(a.pos[0], "license") != 0 && strcmp(a.pos[0], "license") != 0)
    return usage_error("unknown command '%s'", a.pos[0]);
  if (a.npos < 2)
    return usage_error("%s", "license: which? create, list, revoke, extend or set-tiktok");
  const char *sub = a.pos[1];
  int want = strcmp(sub, "revoke") == 0 || strcmp(sub, "extend") == 0 ? 3
             : strcmp(sub, "set-tiktok") == 0                         ? 4
                                                                      : 2;
  if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 && want == 2)
    return usage_error("unknown license command '%s'", sub);
  if (a.npos < want)
    return usage_error("license %s needs the KEY",
                       want == 4 ? "set-tiktok (KEY_OR_USER_ID NAME)" : sub);
  if (a.npos > want)
    return usage_error("unexpected argument '%s'", a.pos[want]);
  if (a.channel != NULL || a.user != NULL)
    return usage_error("%s", "--channel and --user are options of ingest-token and session");
  if (strcmp(sub, "create") == 0)
    return cmd_create(&a);
  if (strcmp(sub, "list") == 0)
    return cmd_list(&a);
  if (strcmp(sub, "revoke") == 0)
    return cmd_revoke(&a, a.pos[2]);
  if (strcmp(sub, "set-tiktok") == 0)
    return cmd_set_tiktok(&a, a.pos[2], a.pos[3]);
  return cmd_extend(&a, a.pos[2]);
}
