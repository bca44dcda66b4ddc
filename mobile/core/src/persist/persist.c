/*
 * persist/persist.c — settings.conf and session.conf (see persist.h).
 *
 * Format, e.g. settings.conf:
 *   # ttboost settings v1
 *   tts_enabled=true
 *   tts_volume=0.750
 *   ...
 *   crc32=1a2b3c4d
 * The CRC-32 (IEEE 802.3, the zlib one) covers every byte before the
 * "crc32=" line. Parsing is byte-wise and locale-free; a file is never
 * trusted further than its checksum and the per-key value checks.
 */
#include "persist/persist.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform.h"

/* Files larger than this are not ours (or are garbage): corrupt. */
#define PERSIST_MAX_FILE 8192

static const char SETTINGS_HEADER[] = "# ttboost settings v1";
static const char SESSION_HEADER[] = "# ttboost session v1";
static const char CHANNEL_HEADER[] = "# ttboost channel v1";

/* ------------------------------------------------------------ CRC-32 */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/* ------------------------------------------------------------ values */

void ttb_settings_defaults(ttb_settings *s)
{
  if (!s)
    return;
  memset(s, 0, sizeof *s);
  s->tts_enabled = true;
  s->tts_volume = 1.0f;
  s->gifts_enabled = true;
  s->gifts_volume = 1.0f;
  s->profanity_filter = true;
  s->notifications = true;
  s->auto_start_tts = true;
  s->binary_mode = false;
}

static bool volume_ok(float v) { return isfinite(v) && v >= 0.0f && v <= 1.0f; }

bool ttb_settings_valid(const ttb_settings *s)
{
  return s && volume_ok(s->tts_volume) && volume_ok(s->gifts_volume);
}

static int parse_bool(const char *v, size_t n, bool *out)
{
  if (n == 4 && memcmp(v, "true", 4) == 0) {
    *out = true;
    return 0;
  }
  if (n == 5 && memcmp(v, "false", 5) == 0) {
    *out = false;
    return 0;
  }
  return -1;
}

/* "0", "1", "0.75", "1.000": digits, optionally '.' and up to 6 digits;
 * no sign, no exponent, no locale. Result must be within 0..1. */
static int parse_volume(const char *v, size_t n, float *out)
{
  size_t i = 0;
  uint32_t ip = 0;
  if (n == 0 || n > 12)
    return -1;
  size_t digits = 0;
  while (i < n && v[i] >= '0' && v[i] <= '9') {
    ip = ip * 10u + (uint32_t)(v[i] - '0');
    i++;
    digits++;
    if (digits > 3)
      return -1;
  }
  if (digits == 0)
    return -1;
  uint32_t frac = 0, scale = 1;
  if (i < n) {
    if (v[i] != '.')
      return -1;
    i++;
    size_t fd = 0;
    while (i < n && v[i] >= '0' && v[i] <= '9') {
      if (fd < 6) {
        frac = frac * 10u + (uint32_t)(v[i] - '0');
        scale *= 10u;
      }
      fd++;
      i++;
    }
    if (fd == 0 || i != n)
      return -1;
  }
  double d = (double)ip + (double)frac / (double)scale;
  if (d > 1.0)
    return -1;
  *out = (float)d;
  return 0;
}

static bool token_ok(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 128)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok)
      return false;
  }
  return true;
}

bool ttb_session_token_valid(const char *s) { return s && token_ok(s); }

static bool url_ok(const char *s)
{
  size_t n = strlen(s);
  if (n >= TTB_SESSION_URL_SIZE)
    return false;
  size_t pre;
  if (strncmp(s, "http://", 7) == 0)
    pre = 7;
  else if (strncmp(s, "https://", 8) == 0)
    pre = 8;
  else
    return false;
  if (n == pre)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == 0x7f)
      return false;
  }
  return true;
}

/* ------------------------------------------------------------ file frame */

/* Checks header, NUL bytes and checksum of a loaded file; on success *body
 * and *body_len delimit the key=value lines (after the header line, before
 * the crc line). TTB_OK or TTB_ERR_CORRUPT (err set). */
static int check_frame(const char *name, const char *buf, size_t len, const char *header,
                       const char **body, size_t *body_len, ttb_error *err)
{
  if (memchr(buf, '\0', len))
    return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (binary data)", name);
  size_t hl = strlen(header);
  if (len < hl + 1 || memcmp(buf, header, hl) != 0 || buf[hl] != '\n')
    return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (bad header line)", name);
  /* The crc line is the last line: find its start. */
  size_t end = len;
  if (end > 0 && buf[end - 1] == '\n')
    end--;
  size_t ls = end;
  while (ls > 0 && buf[ls - 1] != '\n')
    ls--;
  if (ls <= hl || end - ls != 6 + 8 || memcmp(buf + ls, "crc32=", 6) != 0)
    return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (no checksum line)", name);
  uint32_t want = 0;
  for (size_t i = ls + 6; i < end; i++) {
    unsigned char c = (unsigned char)buf[i];
    uint32_t d;
    if (c >= '0' && c <= '9')
      d = (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = (uint32_t)(c - 'A' + 10);
    else
      return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (bad checksum line)", name);
    want = (want << 4) | d;
  }
  uint32_t got = crc32_update(0, (const unsigned char *)buf, ls);
  if (got != want)
    return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (checksum %08x, expected %08x)", name,
                     (unsigned)got, (unsigned)want);
  *body = buf + hl + 1;
  *body_len = ls - (hl + 1);
  return TTB_OK;
}

/* Calls fn(key, klen, value, vlen, ctx) for each "key=value" line; blank
 * lines and '#' comments are skipped; a line without '=' is corrupt.
 * fn returns 0, or -1 for a bad value. */
typedef int (*kv_fn)(const char *k, size_t kn, const char *v, size_t vn, void *ctx);

static int for_each_kv(const char *name, const char *p, size_t n, kv_fn fn, void *ctx,
                       ttb_error *err)
{
  size_t i = 0;
  while (i < n) {
    size_t e = i;
    while (e < n && p[e] != '\n')
      e++;
    size_t ll = e - i;
    if (ll > 0 && p[i + ll - 1] == '\r')
      ll--;
    if (ll > 0 && p[i] != '#') {
      const char *eq = memchr(p + i, '=', ll);
      if (!eq)
        return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (line without '=')", name);
      size_t kn = (size_t)(eq - (p + i));
      if (fn(p + i, kn, eq + 1, ll - kn - 1, ctx) != 0)
        return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (bad value for %.*s)", name,
                         (int)(kn > 40 ? 40 : kn), p + i);
    }
    i = e + 1;
  }
  return TTB_OK;
}

static bool key_is(const char *k, size_t kn, const char *want)
{
  return strlen(want) == kn && memcmp(k, want, kn) == 0;
}

/* Loads a whole file; TTB_OK, 1 when absent, or an error (err set). */
static int load_file_max(const char *data_dir, const char *name, size_t max, char **buf,
                         size_t *len, ttb_error *err)
{
  ttb_error e;
  ttb_error_clear(&e);
  int rc = ttb__file_read(data_dir, name, max, buf, len, &e);
  if (rc == TTB_ERR_IO && *buf == NULL) {
    /* Too large is "not our file": treat like damage, not an I/O fault,
         * so the caller falls back to defaults the same way. */
    if (strstr(e.msg, "too large"))
      return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (too large)", name);
  }
  if (rc < 0 && err)
    *err = e;
  return rc;
}

static int load_file(const char *data_dir, const char *name, char **buf, size_t *len,
                     ttb_error *err)
{
  return load_file_max(data_dir, name, PERSIST_MAX_FILE, buf, len, err);
}

/* ------------------------------------------------------------ settings */

static int settings_kv(const char *k, size_t kn, const char *v, size_t vn, void *ctx)
{
  ttb_settings *s = ctx;
  if (key_is(k, kn, "tts_enabled"))
    return parse_bool(v, vn, &s->tts_enabled);
  if (key_is(k, kn, "tts_volume"))
    return parse_volume(v, vn, &s->tts_volume);
  if (key_is(k, kn, "gifts_enabled"))
    return parse_bool(v, vn, &s->gifts_enabled);
  if (key_is(k, kn, "gifts_volume"))
    return parse_volume(v, vn, &s->gifts_volume);
  if (key_is(k, kn, "profanity_filter"))
    return parse_bool(v, vn, &s->profanity_filter);
  if (key_is(k, kn, "notifications"))
    return parse_bool(v, vn, &s->notifications);
  if (key_is(k, kn, "auto_start_tts"))
    return parse_bool(v, vn, &s->auto_start_tts);
  if (key_is(k, kn, "binary_mode"))
    return parse_bool(v, vn, &s->binary_mode);
  return 0; /* unknown keys are ignored (a newer version wrote them) */
}

int ttb_settings_load(const char *data_dir, ttb_settings *out, ttb_error *err)
{
  ttb_error_clear(err);
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL settings");
  ttb_settings_defaults(out);
  if (!data_dir)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL data dir");
  char *buf = NULL;
  size_t len = 0;
  int rc = load_file(data_dir, TTB_SETTINGS_FILE, &buf, &len, err);
  if (rc == 1)
    return TTB_OK;
  if (rc != TTB_OK)
    return rc;
  const char *body;
  size_t blen;
  ttb_settings s;
  ttb_settings_defaults(&s);
  rc = check_frame(TTB_SETTINGS_FILE, buf, len, SETTINGS_HEADER, &body, &blen, err);
  if (rc == TTB_OK)
    rc = for_each_kv(TTB_SETTINGS_FILE, body, blen, settings_kv, &s, err);
  free(buf);
  if (rc == TTB_OK)
    *out = s;
  return rc;
}

static void fmt_volume(char *out, size_t cap, float v)
{
  /* 3 decimals without the C library's locale-dependent float formatting. */
  long milli = lroundf(v * 1000.0f);
  if (milli < 0)
    milli = 0;
  if (milli > 1000)
    milli = 1000;
  snprintf(out, cap, "%ld.%03ld", milli / 1000, milli % 1000);
}

/* Appends the crc line to buf (len bytes, capacity cap); returns the new
 * length or 0 when it does not fit. */
static size_t seal(char *buf, size_t len, size_t cap)
{
  uint32_t crc = crc32_update(0, (const unsigned char *)buf, len);
  int n = snprintf(buf + len, cap - len, "crc32=%08x\n", (unsigned)crc);
  if (n < 0 || (size_t)n >= cap - len)
    return 0;
  return len + (size_t)n;
}

int ttb_settings_save(const char *data_dir, const ttb_settings *s, ttb_error *err)
{
  ttb_error_clear(err);
  if (!data_dir || !s)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL argument");
  if (!ttb_settings_valid(s))
    return ttb__fail(err, TTB_ERR_INVALID, "volumes must be finite and within 0..1");
  char tv[16], gv[16], buf[1024];
  fmt_volume(tv, sizeof tv, s->tts_volume);
  fmt_volume(gv, sizeof gv, s->gifts_volume);
#define B(x) ((x) ? "true" : "false")
  int n = snprintf(buf, sizeof buf,
                   "%s\n"
                   "tts_enabled=%s\ntts_volume=%s\ngifts_enabled=%s\ngifts_volume=%s\n"
                   "profanity_filter=%s\nnotifications=%s\nauto_start_tts=%s\n"
                   "binary_mode=%s\n",
                   SETTINGS_HEADER, B(s->tts_enabled), tv, B(s->gifts_enabled), gv,
                   B(s->profanity_filter), B(s->notifications), B(s->auto_start_tts),
                   B(s->binary_mode));
#undef B
  if (n < 0 || (size_t)n >= sizeof buf)
    return ttb__fail(err, TTB_ERR_INVALID, "settings do not fit");
  size_t len = seal(buf, (size_t)n, sizeof buf);
  if (len == 0)
    return ttb__fail(err, TTB_ERR_INVALID, "settings do not fit");
  (void)ttb__file_remove_stale_temps(data_dir, TTB_SETTINGS_FILE, NULL);
  return ttb__file_write_atomic(data_dir, TTB_SETTINGS_FILE, buf, len, err);
}

/* ------------------------------------------------------------ session */

static int copy_field(char *dst, size_t cap, const char *v, size_t vn)
{
  if (vn >= cap)
    return -1;
  memcpy(dst, v, vn);
  dst[vn] = '\0';
  return 0;
}

static int session_kv(const char *k, size_t kn, const char *v, size_t vn, void *ctx)
{
  ttb_session *s = ctx;
  if (key_is(k, kn, "ws_token"))
    return copy_field(s->ws_token, sizeof s->ws_token, v, vn);
  if (key_is(k, kn, "user_id"))
    return copy_field(s->user_id, sizeof s->user_id, v, vn);
  if (key_is(k, kn, "server_url"))
    return copy_field(s->server_url, sizeof s->server_url, v, vn);
  return 0;
}

static bool session_valid(const ttb_session *s, const char **why)
{
  if (!token_ok(s->ws_token)) {
    *why = "ws_token";
    return false;
  }
  if (!token_ok(s->user_id)) {
    *why = "user_id";
    return false;
  }
  if (!url_ok(s->server_url)) {
    *why = "server_url";
    return false;
  }
  return true;
}

int ttb_session_load(const char *data_dir, ttb_session *out, ttb_error *err)
{
  ttb_error_clear(err);
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL session");
  memset(out, 0, sizeof *out);
  if (!data_dir)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL data dir");
  char *buf = NULL;
  size_t len = 0;
  int rc = load_file(data_dir, TTB_SESSION_FILE, &buf, &len, err);
  if (rc != TTB_OK)
    return rc; /* 1: none stored */
  const char *body;
  size_t blen;
  ttb_session s;
  memset(&s, 0, sizeof s);
  rc = check_frame(TTB_SESSION_FILE, buf, len, SESSION_HEADER, &body, &blen, err);
  if (rc == TTB_OK)
    rc = for_each_kv(TTB_SESSION_FILE, body, blen, session_kv, &s, err);
  free(buf);
  if (rc != TTB_OK)
    return rc;
  const char *why = "";
  if (!session_valid(&s, &why))
    return ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (missing or bad %s)", TTB_SESSION_FILE,
                     why);
  *out = s;
  return TTB_OK;
}

int ttb_session_save(const char *data_dir, const ttb_session *s, ttb_error *err)
{
  ttb_error_clear(err);
  if (!data_dir || !s)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL argument");
  if (!memchr(s->ws_token, '\0', sizeof s->ws_token) ||
      !memchr(s->user_id, '\0', sizeof s->user_id) ||
      !memchr(s->server_url, '\0', sizeof s->server_url))
    return ttb__fail(err, TTB_ERR_INVALID, "session field not NUL-terminated");
  const char *why = "";
  if (!session_valid(s, &why))
    return ttb__fail(err, TTB_ERR_INVALID, "session has an empty or malformed %s", why);
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "%s\nws_token=%s\nuser_id=%s\nserver_url=%s\n", SESSION_HEADER,
                   s->ws_token, s->user_id, s->server_url);
  if (n < 0 || (size_t)n >= sizeof buf)
    return ttb__fail(err, TTB_ERR_INVALID, "session does not fit");
  size_t len = seal(buf, (size_t)n, sizeof buf);
  if (len == 0)
    return ttb__fail(err, TTB_ERR_INVALID, "session does not fit");
  (void)ttb__file_remove_stale_temps(data_dir, TTB_SESSION_FILE, NULL);
  return ttb__file_write_atomic(data_dir, TTB_SESSION_FILE, buf, len, err);
}

int ttb_session_clear(const char *data_dir, ttb_error *err)
{
  ttb_error_clear(err);
  if (!data_dir)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL data dir");
  (void)ttb__file_remove_stale_temps(data_dir, TTB_SESSION_FILE, NULL);
  return ttb__file_remove(data_dir, TTB_SESSION_FILE, err);
}

/* ------------------------------------------------------------ channel settings */

int ttb_channel_load(const char *data_dir, char **json, size_t *len, ttb_error *err)
{
  ttb_error_clear(err);
  if (!json || !len)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL argument");
  *json = NULL;
  *len = 0;
  if (!data_dir)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL data dir");
  char *buf = NULL;
  size_t n = 0;
  int rc = load_file_max(data_dir, TTB_CHANNEL_FILE, TTB_CHANNEL_JSON_MAX + 256, &buf, &n, err);
  if (rc != TTB_OK)
    return rc; /* 1: none stored */
  const char *body;
  size_t blen;
  rc = check_frame(TTB_CHANNEL_FILE, buf, n, CHANNEL_HEADER, &body, &blen, err);
  if (rc == TTB_OK) {
    if (blen > 0 && body[blen - 1] == '\n')
      blen--;
    if (blen < 5 || memcmp(body, "json=", 5) != 0 || memchr(body, '\n', blen))
      rc = ttb__fail(err, TTB_ERR_CORRUPT, "%s is damaged (no json line)", TTB_CHANNEL_FILE);
  }
  if (rc != TTB_OK) {
    free(buf);
    return rc;
  }
  size_t jn = blen - 5;
  memmove(buf, body + 5, jn);
  buf[jn] = '\0';
  *json = buf;
  *len = jn;
  return TTB_OK;
}

int ttb_channel_save(const char *data_dir, const char *json, size_t len, ttb_error *err)
{
  ttb_error_clear(err);
  if (!data_dir || !json)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL argument");
  if (len > TTB_CHANNEL_JSON_MAX)
    return ttb__fail(err, TTB_ERR_INVALID, "channel settings too large (%zu bytes)", len);
  if (memchr(json, '\n', len) || memchr(json, '\0', len))
    return ttb__fail(err, TTB_ERR_INVALID, "channel settings hold a newline or NUL");
  size_t hl = strlen(CHANNEL_HEADER);
  size_t cap = hl + 1 + 5 + len + 1 + 32;
  char *buf = malloc(cap);
  if (!buf)
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory");
  size_t n = 0;
  memcpy(buf, CHANNEL_HEADER, hl);
  n += hl;
  buf[n++] = '\n';
  memcpy(buf + n, "json=", 5);
  n += 5;
  memcpy(buf + n, json, len);
  n += len;
  buf[n++] = '\n';
  size_t total = seal(buf, n, cap);
  int rc;
  if (total == 0) {
    rc = ttb__fail(err, TTB_ERR_INVALID, "channel settings do not fit");
  } else {
    (void)ttb__file_remove_stale_temps(data_dir, TTB_CHANNEL_FILE, NULL);
    rc = ttb__file_write_atomic(data_dir, TTB_CHANNEL_FILE, buf, total, err);
  }
  free(buf);
  return rc;
}

int ttb_channel_clear(const char *data_dir, ttb_error *err)
{
  ttb_error_clear(err);
  if (!data_dir)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL data dir");
  (void)ttb__file_remove_stale_temps(data_dir, TTB_CHANNEL_FILE, NULL);
  return ttb__file_remove(data_dir, TTB_CHANNEL_FILE, err);
}
