/*
 * http.c — login and downloads over an injected HTTP function
 * (ttb__http_lws in the app, a fake in tests), and the mapping of the
 * server's answers to TTB_ERR_* codes and words a person can read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "ttboost/v1/auth.npb-json.h"

void ttb__http_resp_finish(ttb__http_resp *resp)
{
  if (!resp)
    return;
  free(resp->body);
  memset(resp, 0, sizeof *resp);
}

typedef struct code_map {
  const char *code;
  int err;
  const char *text;
} code_map;

static const code_map CODES[] = {
    {"unknown_key", TTB_ERR_AUTH, "This license key is not known. Check the key and try again."},
    {"unauthorized", TTB_ERR_AUTH, "The server did not accept the session. Log in again."},
    {"expired", TTB_ERR_EXPIRED, "This license has expired. Renew it to continue."},
    {"revoked", TTB_ERR_REVOKED, "This license was revoked. Contact the seller."},
    {"device_limit", TTB_ERR_DEVICE_LIMIT,
     "This license is already used on its maximum number of devices."},
    {"too_many_attempts", TTB_ERR_RATE_LIMITED,
     "Too many login attempts. Wait a minute and try again."},
    {"malformed", TTB_ERR_INVALID, "The server could not read the login request."},
};

static const code_map *find_code(const char *code)
{
  if (!code)
    return NULL;
  for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++)
    if (strcmp(CODES[i].code, code) == 0)
      return &CODES[i];
  return NULL;
}

int ttb__error_code_from_string(const char *code)
{
  const code_map *m = find_code(code);
  return m ? m->err : 0;
}

static void set_message(ttb__login_result *out, const char *server_text, const char *fallback)
{
  const char *t = (server_text && *server_text) ? server_text : fallback;
  snprintf(out->message, sizeof out->message, "%.*s", (int)sizeof out->message - 1, t);
}

int ttb__login_interpret(int status, const char *body, size_t len, ttb__login_result *out)
{
  memset(out, 0, sizeof *out);
  if (!body)
    len = 0;
  if (status == 200) {
    ttboost_v1_LoginResponse r = ttboost_v1_LoginResponse_init_zero;
    ttb_json_error je = {0};
    if (!ttb_npb_ttboost_v1_LoginResponse_from_json(body ? body : "", len, &r, &je) ||
        r.ws_token[0] == '\0') {
      snprintf(out->message, sizeof out->message,
               "The server's login answer could not be read (%s).",
               r.ws_token[0] == '\0' && je.status == TTB_JSON_OK ? "no ws_token" : je.msg);
      return TTB_ERR_PROTOCOL;
    }
    snprintf(out->user_id, sizeof out->user_id, "%s", r.user_id);
    snprintf(out->ws_token, sizeof out->ws_token, "%s", r.ws_token);
    return TTB_OK;
  }
  ttboost_v1_ErrorResponse e = ttboost_v1_ErrorResponse_init_zero;
  ttb_json_error je = {0};
  bool parsed = len > 0 && ttb_npb_ttboost_v1_ErrorResponse_from_json(body, len, &e, &je);
  if (parsed) {
    snprintf(out->error, sizeof out->error, "%s", e.error);
    const code_map *m = find_code(e.error);
    if (m) {
      set_message(out, e.message, m->text);
      return m->err;
    }
  }
  const char *server_text = parsed ? e.message : NULL;
  switch (status) {
  case 400:
    set_message(out, server_text, "The server could not read the login request.");
    return TTB_ERR_INVALID;
  case 401:
    set_message(out, server_text, "This license key is not known. Check the key and try again.");
    return TTB_ERR_AUTH;
  case 403:
    set_message(out, server_text, "This license can no longer be used (revoked).");
    return TTB_ERR_REVOKED;
  case 429:
    set_message(out, server_text, "Too many login attempts. Wait a minute and try again.");
    return TTB_ERR_RATE_LIMITED;
  default:
    break;
  }
  if (status >= 500 && status <= 599) {
    snprintf(out->message, sizeof out->message,
             "The server has a problem (HTTP %d). Try again later.", status);
    return TTB_ERR_NETWORK;
  }
  snprintf(out->message, sizeof out->message, "Unexpected answer from the server (HTTP %d).",
           status);
  return TTB_ERR_PROTOCOL;
}

/* "http(s)://host:port<base>/<suffix>" from a parsed server URL. */
static int endpoint_url(const ttb__url *u, const char *suffix, char *out, size_t cap)
{
  size_t bn = strcspn(u->path, "?");
  while (bn > 0 && u->path[bn - 1] == '/')
    bn--;
  bool v6 = strchr(u->host, ':') != NULL;
  int n = snprintf(out, cap, "%s://%s%s%s:%d%.*s%s", u->tls ? "https" : "http", v6 ? "[" : "",
                   u->host, v6 ? "]" : "", u->port, (int)bn, u->path, suffix);
  return (n < 0 || (size_t)n >= cap) ? TTB_ERR_INVALID : TTB_OK;
}

int ttb__login(ttb__http_fn http, void *http_user, const char *server_url, const char *license_key,
               const char *device_id, int timeout_ms, ttb__login_result *out)
{
  if (!out)
    return TTB_ERR_INVALID;
  memset(out, 0, sizeof *out);
  if (!http) {
    snprintf(out->message, sizeof out->message, "No HTTP client is available in this build.");
    return TTB_ERR_STATE;
  }
  ttb__url u;
  char err[256];
  if (ttb__url_parse(server_url, &u, err, sizeof err) != TTB_OK) {
    snprintf(out->message, sizeof out->message, "%s", err);
    return TTB_ERR_INVALID;
  }
  if (!license_key || !*license_key) {
    snprintf(out->message, sizeof out->message, "Enter a license key.");
    return TTB_ERR_INVALID;
  }
  ttboost_v1_LoginRequest req = ttboost_v1_LoginRequest_init_zero;
  if (strlen(license_key) >= sizeof req.license_key ||
      (device_id && strlen(device_id) >= sizeof req.device_id)) {
    snprintf(out->message, sizeof out->message, "The license key is too long.");
    return TTB_ERR_INVALID;
  }
  strcpy(req.license_key, license_key);
  if (device_id)
    strcpy(req.device_id, device_id);
  char body[1024];
  size_t blen = 0;
  ttb_json_error je;
  if (!ttb_npb_ttboost_v1_LoginRequest_to_json(&req, body, sizeof body, &blen, &je)) {
    snprintf(out->message, sizeof out->message, "The license key is not valid text (%s).", je.msg);
    return TTB_ERR_INVALID;
  }
  char url[TTB__HOST_SIZE + TTB__PATH_SIZE + 64];
  if (endpoint_url(&u, "/auth/login", url, sizeof url) != TTB_OK) {
    snprintf(out->message, sizeof out->message, "The server URL is too long.");
    return TTB_ERR_INVALID;
  }
  ttb__http_req hr = {
      .method = "POST",
      .url = url,
      .content_type = "application/json",
      .body = (const uint8_t *)body,
      .body_len = blen,
      .timeout_ms = timeout_ms > 0 ? timeout_ms : TTB__LOGIN_TIMEOUT_MS,
      .max_response = 64u << 10,
  };
  ttb__http_resp resp = {0};
  int rc = http(http_user, &hr, &resp, err, sizeof err);
  if (rc != TTB_OK) {
    if (rc == TTB_ERR_NETWORK)
      snprintf(out->message, sizeof out->message, "Cannot reach the server: %s", err);
    else
      snprintf(out->message, sizeof out->message, "Login failed: %s", err);
    return rc;
  }
  rc = ttb__login_interpret(resp.status, (const char *)resp.body, resp.len, out);
  ttb__http_resp_finish(&resp);
  return rc;
}

int ttb__download(ttb__http_fn http, void *http_user, const char *url, size_t max_bytes,
                  int timeout_ms, uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
  if (!out || !out_len || !url)
    return TTB_ERR_INVALID;
  *out = NULL;
  *out_len = 0;
  if (!http) {
    if (err && errlen)
      snprintf(err, errlen, "no HTTP client in this build");
    return TTB_ERR_STATE;
  }
  ttb__url u;
  if (ttb__url_parse(url, &u, err, errlen) != TTB_OK || u.ws)
    return TTB_ERR_INVALID;
  ttb__http_req hr = {
      .method = "GET",
      .url = url,
      .timeout_ms = timeout_ms > 0 ? timeout_ms : TTB__DOWNLOAD_TIMEOUT_MS,
      .max_response = max_bytes ? max_bytes : TTB__DOWNLOAD_MAX,
  };
  ttb__http_resp resp = {0};
  int rc = http(http_user, &hr, &resp, err, errlen);
  if (rc != TTB_OK)
    return rc;
  if (resp.status != 200) {
    if (err && errlen)
      snprintf(err, errlen, "HTTP %d for %.200s", resp.status, url);
    ttb__http_resp_finish(&resp);
    return TTB_ERR_NETWORK;
  }
  *out = resp.body;
  *out_len = resp.len;
  return TTB_OK;
}

/* ------------------------------------------------------------ /me/tiktok */

static void tiktok_text(ttb__tiktok_result *out, const char *server_text, const char *fallback)
{
  const char *t = (server_text && *server_text) ? server_text : fallback;
  snprintf(out->text, sizeof out->text, "%.*s", (int)sizeof out->text - 1, t);
}

int ttb__tiktok_interpret(int status, const char *body, size_t len, ttb__tiktok_result *out)
{
  memset(out, 0, sizeof *out);
  if (!body)
    len = 0;
  if (status == 200) {
    ttboost_v1_TiktokInfo r = ttboost_v1_TiktokInfo_init_zero;
    ttb_json_error je = {0};
    if (!ttb_npb_ttboost_v1_TiktokInfo_from_json(body ? body : "", len, &r, &je)) {
      snprintf(out->text, sizeof out->text,
               "The server's answer about the TikTok account could not be read (%s).", je.msg);
      return TTB_ERR_PROTOCOL;
    }
    snprintf(out->username, sizeof out->username, "%s", r.username);
    snprintf(out->state, sizeof out->state, "%s", r.state);
    snprintf(out->room_id, sizeof out->room_id, "%s", r.room_id);
    snprintf(out->message, sizeof out->message, "%s", r.message);
    return TTB_OK;
  }
  ttboost_v1_ErrorResponse e = ttboost_v1_ErrorResponse_init_zero;
  ttb_json_error je = {0};
  bool parsed = len > 0 && ttb_npb_ttboost_v1_ErrorResponse_from_json(body, len, &e, &je);
  const char *server_text = parsed ? e.message : NULL;
  if (parsed) {
    snprintf(out->error, sizeof out->error, "%s", e.error);
    if (strcmp(e.error, "invalid_username") == 0) {
      tiktok_text(out, server_text,
                  "This is not a valid TikTok @username: 2 to 24 letters, digits, '_' or '.'.");
      return TTB_ERR_INVALID;
    }
    const code_map *m = find_code(e.error);
    if (m && m->err != TTB_ERR_INVALID) {
      tiktok_text(out, server_text, m->text);
      return m->err;
    }
  }
  switch (status) {
  case 400:
    tiktok_text(out, server_text, "The server could not read the request.");
    return TTB_ERR_INVALID;
  case 413:
    tiktok_text(out, server_text, "The TikTok @username is too long.");
    return TTB_ERR_INVALID;
  case 401:
    tiktok_text(out, server_text, "The server did not accept the session. Log in again.");
    return TTB_ERR_AUTH;
  case 403:
    tiktok_text(out, server_text, "This license can no longer be used (revoked).");
    return TTB_ERR_REVOKED;
  case 404:
  case 405:
    snprintf(out->text, sizeof out->text,
             "This server does not know TikTok accounts yet (HTTP %d): it needs an update.",
             status);
    return TTB_ERR_PROTOCOL;
  case 429:
    tiktok_text(out, server_text, "Too many requests. Wait a minute and try again.");
    return TTB_ERR_RATE_LIMITED;
  default:
    break;
  }
  if (status >= 500 && status <= 599) {
    snprintf(out->text, sizeof out->text, "The server has a problem (HTTP %d). Try again later.",
             status);
    return TTB_ERR_NETWORK;
  }
  snprintf(out->text, sizeof out->text, "Unexpected answer from the server (HTTP %d).", status);
  return TTB_ERR_PROTOCOL;
}

static bool is_space(char ch)
{
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

int ttb__tiktok_call(ttb__http_fn http, void *http_user, const char *server_url,
                     const char *ws_token, const char *username, int timeout_ms,
                     ttb__tiktok_result *out)
{
  if (!out)
    return TTB_ERR_INVALID;
  memset(out, 0, sizeof *out);
  if (!http) {
    snprintf(out->text, sizeof out->text, "No HTTP client is available in this build.");
    return TTB_ERR_STATE;
  }
  if (!ws_token || !*ws_token) {
    snprintf(out->text, sizeof out->text, "Not logged in: log in with a license key first.");
    return TTB_ERR_STATE;
  }
  ttb__url u;
  char err[256];
  if (ttb__url_parse(server_url, &u, err, sizeof err) != TTB_OK) {
    snprintf(out->text, sizeof out->text, "%s", err);
    return TTB_ERR_INVALID;
  }
  char url[TTB__HOST_SIZE + TTB__PATH_SIZE + 64];
  if (endpoint_url(&u, "/me/tiktok", url, sizeof url) != TTB_OK) {
    snprintf(out->text, sizeof out->text, "The server URL is too long.");
    return TTB_ERR_INVALID;
  }
  char body[256];
  size_t blen = 0;
  if (username) {
    /* What a person types: " @name " is the handle "name" ("@@name"
         * stays as it is, for the server to refuse). */
    const char *s = username;
    while (is_space(*s))
      s++;
    if (s[0] == '@' && s[1] != '@')
      s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
      n--;
    ttboost_v1_TiktokSettings req = ttboost_v1_TiktokSettings_init_zero;
    if (n >= sizeof req.username) {
      snprintf(out->text, sizeof out->text, "The TikTok @username is too long.");
      return TTB_ERR_INVALID;
    }
    memcpy(req.username, s, n);
    req.username[n] = '\0';
    ttb_json_error je;
    if (!ttb_npb_ttboost_v1_TiktokSettings_to_json(&req, body, sizeof body, &blen, &je)) {
      snprintf(out->text, sizeof out->text, "The TikTok @username is not valid text (%s).", je.msg);
      return TTB_ERR_INVALID;
    }
  }
  ttb__http_req hr = {
      .method = username ? "PUT" : "GET",
      .url = url,
      .content_type = username ? "application/json" : NULL,
      .body = username ? (const uint8_t *)body : NULL,
      .body_len = username ? blen : 0,
      .bearer = ws_token,
      .timeout_ms = timeout_ms > 0 ? timeout_ms : TTB__TIKTOK_TIMEOUT_MS,
      .max_response = 64u << 10,
  };
  ttb__http_resp resp = {0};
  int rc = http(http_user, &hr, &resp, err, sizeof err);
  if (rc != TTB_OK) {
    if (rc == TTB_ERR_NETWORK)
      snprintf(out->text, sizeof out->text, "Cannot reach the server: %s", err);
    else
      snprintf(out->text, sizeof out->text, "The request failed: %s", err);
    return rc;
  }
  rc = ttb__tiktok_interpret(resp.status, (const char *)resp.body, resp.len, out);
  ttb__http_resp_finish(&resp);
  return rc;
}

/* ------------------------------------------------------------ /me/... */

static void me_text(char *text, size_t textlen, const char *server_text, const char *fallback)
{
  const char *t = (server_text && *server_text) ? server_text : fallback;
  snprintf(text, textlen, "%s", t);
}

int ttb__me_interpret(int status, const char *body, size_t len, bool not_found_is_invalid,
                      char *text, size_t textlen)
{
  char dummy[2];
  if (!text || textlen == 0) {
    text = dummy;
    textlen = sizeof dummy;
  }
  text[0] = '\0';
  if (!body)
    len = 0;
  ttboost_v1_ErrorResponse e = ttboost_v1_ErrorResponse_init_zero;
  ttb_json_error je = {0};
  bool parsed = len > 0 && ttb_npb_ttboost_v1_ErrorResponse_from_json(body, len, &e, &je);
  const char *server_text = parsed && e.message[0] ? e.message : NULL;
  if (parsed) {
    const code_map *m = find_code(e.error);
    if (m && m->err != TTB_ERR_INVALID) {
      me_text(text, textlen, server_text, m->text);
      return m->err;
    }
  }
  switch (status) {
  case 400:
    me_text(text, textlen, server_text, "The server refused the request (HTTP 400).");
    return TTB_ERR_INVALID;
  case 413:
    me_text(text, textlen, server_text, "Too large for the server (HTTP 413).");
    return TTB_ERR_INVALID;
  case 415:
    me_text(text, textlen, server_text, "The server does not take this kind of file (HTTP 415).");
    return TTB_ERR_INVALID;
  case 401:
    me_text(text, textlen, server_text, "The server did not accept the session. Log in again.");
    return TTB_ERR_AUTH;
  case 403:
    me_text(text, textlen, server_text, "This license can no longer be used (revoked).");
    return TTB_ERR_REVOKED;
  case 404:
  case 405:
    if (status == 404 && not_found_is_invalid) { /* e.g. no such sound */
      me_text(text, textlen, server_text, "The server does not know it (HTTP 404).");
      return TTB_ERR_INVALID;
    }
    snprintf(text, textlen,
             "This server does not know channel settings yet (HTTP %d): it needs an update.",
             status);
    return TTB_ERR_PROTOCOL;
  case 429:
    me_text(text, textlen, server_text, "Too many requests. Wait a minute and try again.");
    return TTB_ERR_RATE_LIMITED;
  default:
    break;
  }
  if (status >= 500 && status <= 599) {
    snprintf(text, textlen, "The server has a problem (HTTP %d). Try again later.", status);
    return TTB_ERR_NETWORK;
  }
  snprintf(text, textlen, "Unexpected answer from the server (HTTP %d).", status);
  return TTB_ERR_PROTOCOL;
}

int ttb__me_call(ttb__http_fn http, void *http_user, const char *server_url, const char *ws_token,
                 const ttb__me_req *req, ttb__http_resp *resp, char *text, size_t textlen)
{
  char dummy[2];
  if (!text || textlen == 0) {
    text = dummy;
    textlen = sizeof dummy;
  }
  text[0] = '\0';
  if (!req || !resp || !req->method || !req->path || req->path[0] != '/') {
    snprintf(text, textlen, "Bad request (internal).");
    return TTB_ERR_INVALID;
  }
  memset(resp, 0, sizeof *resp);
  if (!http) {
    snprintf(text, textlen, "No HTTP client is available in this build.");
    return TTB_ERR_STATE;
  }
  if (!ws_token || !*ws_token) {
    snprintf(text, textlen, "Not logged in: log in with a license key first.");
    return TTB_ERR_STATE;
  }
  ttb__url u;
  char err[256];
  if (ttb__url_parse(server_url, &u, err, sizeof err) != TTB_OK) {
    snprintf(text, textlen, "%s", err);
    return TTB_ERR_INVALID;
  }
  char url[TTB__HOST_SIZE + TTB__PATH_SIZE + 64];
  if (strlen(req->path) > TTB__PATH_SIZE ||
      endpoint_url(&u, req->path, url, sizeof url) != TTB_OK) {
    snprintf(text, textlen, "The server URL is too long.");
    return TTB_ERR_INVALID;
  }
  ttb__http_req hr = {
      .method = req->method,
      .url = url,
      .content_type = req->body_len ? req->content_type : NULL,
      .body = req->body_len ? req->body : NULL,
      .body_len = req->body_len,
      .bearer = ws_token,
      .timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : TTB__ME_TIMEOUT_MS,
      .max_response = req->max_response ? req->max_response : (256u << 10),
  };
  ttb__http_resp r = {0};
  int rc = http(http_user, &hr, &r, err, sizeof err);
  if (rc != TTB_OK) {
    if (rc == TTB_ERR_NETWORK)
      snprintf(text, textlen, "Cannot reach the server: %s", err);
    else
      snprintf(text, textlen, "The request failed: %s", err);
    return rc;
  }
  if (r.status >= 200 && r.status <= 299) {
    *resp = r;
    return TTB_OK;
  }
  rc = ttb__me_interpret(r.status, (const char *)r.body, r.len, req->not_found_is_invalid, text,
                         textlen);
  ttb__http_resp_finish(&r);
  return rc;
}
