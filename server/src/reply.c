/* The server's HTTP answers: see reply.h. */
#include "reply.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ttboost/json.h"
#include "ttboost/v1/auth.pbc-json.h"

const char *ttb_reply_reason(int status)
{
  switch (status) {
  case 200:
    return "OK";
  case 202:
    return "Accepted";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 413:
    return "Payload Too Large";
  case 415:
    return "Unsupported Media Type";
  case 429:
    return "Too Many Requests";
  case 503:
    return "Service Unavailable";
  default:
    return "Internal Server Error";
  }
}

void ttb_reply(h2o_req_t *req, int status, const char *type, const char *body, size_t len)
{
  req->res.status = status;
  req->res.reason = ttb_reply_reason(status);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                 H2O_STRLIT("no-store"));
  req->res.content_length = len; /* lets HTTP/1.1 clients keep the connection */
  h2o_send_inline(req, body, len);
}

int ttb_reply_error(h2o_req_t *req, int status, const char *code, const char *message)
{
  Ttboost__V1__ErrorResponse e = TTBOOST__V1__ERROR_RESPONSE__INIT;
  e.status = "error";
  e.error = (char *)code;
  char msg[512];
  snprintf(msg, sizeof msg, "%s", message);
  if (!ttb_utf8_valid(msg, strlen(msg)))
    snprintf(msg, sizeof msg, "%s", "invalid request");
  e.message = msg;
  size_t n = 0;
  char *js = ttb_pbc_ttboost_v1_ErrorResponse_to_json(&e, &n, NULL);
  if (js == NULL) {
    ttb_reply(req, 500, "application/json", "{}", 2);
    return 0;
  }
  ttb_reply(req, status, "application/json", js, n);
  free(js);
  return 0;
}

int ttb_reply_json(h2o_req_t *req, int status, char *js, size_t n, bool secret)
{
  if (js == NULL)
    return ttb_reply_error(req, 500, "internal", "The server could not encode its answer.");
  ttb_reply(req, status, "application/json", js, n);
  if (secret)
    sodium_memzero(js, n);
  free(js);
  return 0;
}

bool ttb_reply_bearer(h2o_req_t *req, char *out, size_t cap)
{
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
  if (i < 0)
    return false;
  h2o_iovec_t v = req->headers.entries[i].value;
  if (v.len <= 7 || strncasecmp(v.base, "Bearer ", 7) != 0 || v.len - 7 >= cap)
    return false;
  memcpy(out, v.base + 7, v.len - 7);
  out[v.len - 7] = '\0';
  return true;
}

int ttb_reply_refused(h2o_req_t *req, bool check_failed)
{
  if (check_failed)
    return ttb_reply_error(req, 503, "busy",
                           "The server could not check the token right now. Try again shortly.");
  return ttb_reply_error(req, 401, "unauthorized", TTB_REPLY_UNAUTHORIZED);
}
