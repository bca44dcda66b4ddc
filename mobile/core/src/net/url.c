/*
 * url.c — parsing the server URL and building the socket's path.
 * Plain string work, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "net.h"

static bool prefix_ci(const char *s, const char *p)
{
  for (; *p; s++, p++) {
    char a = *s, b = *p;
    if (a >= 'A' && a <= 'Z')
      a = (char)(a - 'A' + 'a');
    if (a != b)
      return false;
  }
  return true;
}

static int fail(char *err, size_t errlen, const char *url, const char *why)
{
  if (err && errlen)
    snprintf(err, errlen, "invalid server URL \"%.80s\": %s", url, why);
  return TTB_ERR_INVALID;
}

int ttb__url_parse(const char *url, ttb__url *out, char *err, size_t errlen)
{
  if (!url || !out)
    return fail(err, errlen, "", "missing");
  memset(out, 0, sizeof *out);
  const char *p;
  if (prefix_ci(url, "https://")) {
    out->tls = true;
    p = url + 8;
  } else if (prefix_ci(url, "http://")) {
    p = url + 7;
  } else if (prefix_ci(url, "wss://")) {
    out->tls = out->ws = true;
    p = url + 6;
  } else if (prefix_ci(url, "ws://")) {
    out->ws = true;
    p = url + 5;
  } else {
    return fail(err, errlen, url, "the scheme must be http, https, ws or wss");
  }
  const char *host = p, *host_end;
  if (*p == '[') { /* IPv6 literal */
    host = p + 1;
    host_end = strchr(host, ']');
    if (!host_end)
      return fail(err, errlen, url, "unclosed '['");
    p = host_end + 1;
  } else {
    while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#')
      p++;
    host_end = p;
  }
  size_t hn = (size_t)(host_end - host);
  if (hn == 0)
    return fail(err, errlen, url, "no host");
  if (hn >= sizeof out->host)
    return fail(err, errlen, url, "host too long");
  for (const char *h = host; h < host_end; h++) {
    unsigned char ch = (unsigned char)*h;
    if (ch <= ' ' || ch == '@' || ch >= 0x7f)
      return fail(err, errlen, url, "bad character in host");
  }
  memcpy(out->host, host, hn);
  out->host[hn] = '\0';
  out->port = out->tls ? 443 : 80;
  if (*p == ':') {
    p++;
    long port = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      port = port * 10 + (*p - '0');
      p++;
      if (++digits > 5)
        break;
    }
    if (digits == 0 || port < 1 || port > 65535)
      return fail(err, errlen, url, "bad port");
    out->port = (int)port;
  }
  if (*p == '\0' || *p == '#') {
    strcpy(out->path, "/");
    return TTB_OK;
  }
  if (*p != '/' && *p != '?')
    return fail(err, errlen, url, "junk after the host");
  size_t pn = strcspn(p, "#");
  if (pn + 2 > sizeof out->path)
    return fail(err, errlen, url, "path too long");
  size_t o = 0;
  if (*p == '?')
    out->path[o++] = '/';
  memcpy(out->path + o, p, pn);
  out->path[o + pn] = '\0';
  for (char *c = out->path; *c; c++)
    if ((unsigned char)*c <= ' ' || *c == 0x7f)
      return fail(err, errlen, url, "bad character in path");
  return TTB_OK;
}

static bool token_char(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int ttb__ws_path(const char *base_path, const char *token, bool has_since, uint64_t since,
                 char *out, size_t cap)
{
  if (!token || !*token || !out || cap == 0)
    return TTB_ERR_INVALID;
  for (const char *t = token; *t; t++)
    if (!token_char(*t))
      return TTB_ERR_INVALID;
  /* The base path without its query and trailing slashes ("" for "/"). */
  size_t bn = base_path ? strcspn(base_path, "?") : 0;
  while (bn > 0 && base_path[bn - 1] == '/')
    bn--;
  int n;
  if (has_since)
    n = snprintf(out, cap, "%.*s/ws/%s?since=%llu", (int)bn, bn ? base_path : "", token,
                 (unsigned long long)since);
  else
    n = snprintf(out, cap, "%.*s/ws/%s", (int)bn, bn ? base_path : "", token);
  if (n < 0 || (size_t)n >= cap)
    return TTB_ERR_INVALID;
  return TTB_OK;
}

const char *ttb__net_strerror(int code)
{
  switch (code) {
  case TTB_OK:
    return "ok";
  case TTB_ERR_INVALID:
    return "invalid argument";
  case TTB_ERR_NOMEM:
    return "out of memory";
  case TTB_ERR_IO:
    return "input/output error";
  case TTB_ERR_NETWORK:
    return "network error";
  case TTB_ERR_PROTOCOL:
    return "protocol error";
  case TTB_ERR_AUTH:
    return "not authorised";
  case TTB_ERR_EXPIRED:
    return "license expired";
  case TTB_ERR_REVOKED:
    return "license revoked";
  case TTB_ERR_RATE_LIMITED:
    return "too many attempts";
  case TTB_ERR_DEVICE_LIMIT:
    return "device limit reached";
  case TTB_ERR_STATE:
    return "not valid now";
  case TTB_ERR_CORRUPT:
    return "corrupt file";
  default:
    return "unknown error";
  }
}
