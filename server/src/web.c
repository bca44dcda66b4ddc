/* The embedded pages: see web.h. */
#include "web.h"

#include <stdbool.h>
#include <string.h>

static bool under(const char *p, size_t n, const char *dir)
{
  size_t d = strlen(dir); /* "/app" */
  return n >= d && memcmp(p, dir, d) == 0 && (n == d || p[d] == '/');
}

const ttb_web_asset *ttb_web_find(const char *path, size_t len)
{
  char want[160];
  if (len == 0 || len >= sizeof want - 16)
    return NULL;
  memcpy(want, path, len);
  want[len] = '\0';
  if (want[len - 1] == '/')
    memcpy(want + len, "index.html", sizeof "index.html");
  for (size_t i = 0; i < ttb_web_nassets; i++)
    if (strcmp(ttb_web_assets[i].path, want) == 0)
      return &ttb_web_assets[i];
  return NULL;
}

static void header(h2o_req_t *req, const h2o_token_t *t, const char *v)
{
  h2o_add_header(&req->pool, &req->res.headers, t, NULL, v, strlen(v));
}

static void named(h2o_req_t *req, const char *name, const char *v)
{
  h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v, strlen(v));
}

static void common_headers(h2o_req_t *req)
{
  named(req, "content-security-policy", TTB_WEB_CSP);
  named(req, "x-content-type-options", "nosniff");
  named(req, "referrer-policy", "no-referrer");
}

static int plain(h2o_req_t *req, int status, const char *reason, const char *text)
{
  req->res.status = status;
  req->res.reason = reason;
  common_headers(req);
  header(req, H2O_TOKEN_CONTENT_TYPE, "text/plain; charset=utf-8");
  header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
  req->res.content_length = strlen(text);
  h2o_send_inline(req, text, strlen(text));
  return 0;
}

int ttb_web_serve(h2o_req_t *req)
{
  h2o_iovec_t p = req->path_normalized;
  if (!under(p.base, p.len, "/app") && !under(p.base, p.len, "/overlay"))
    return -1;
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
      !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    header(req, H2O_TOKEN_ALLOW, "GET, HEAD");
    return plain(req, 405, "Method Not Allowed", "Use GET.\n");
  }
  if (p.base[p.len - 1] != '/' && memchr(p.base + 1, '/', p.len - 1) == NULL) {
    /* /app -> /app/ (the query, with an overlay's settings, kept) */
    h2o_iovec_t q = req->query_at != SIZE_MAX ? h2o_iovec_init(req->path.base + req->query_at,
                                                               req->path.len - req->query_at)
                                              : h2o_iovec_init("", 0);
    h2o_iovec_t loc = h2o_concat(&req->pool, p, h2o_iovec_init(H2O_STRLIT("/")), q);
    common_headers(req);
    header(req, H2O_TOKEN_CACHE_CONTROL, "no-cache");
    h2o_send_redirect(req, 301, "Moved Permanently", loc.base, loc.len);
    return 0;
  }
  const ttb_web_asset *a = ttb_web_find(p.base, p.len);
  if (a == NULL)
    return plain(req, 404, "Not Found", "No such page.\n");
  bool font = strncmp(a->type, "font/", 5) == 0;
  ssize_t inm = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
  common_headers(req);
  header(req, H2O_TOKEN_ETAG, a->etag);
  header(req, H2O_TOKEN_CACHE_CONTROL, font ? "public, max-age=604800" : "no-cache");
  if (inm >= 0 && h2o_memis(req->headers.entries[inm].value.base,
                            req->headers.entries[inm].value.len, a->etag, strlen(a->etag))) {
    req->res.status = 304;
    req->res.reason = "Not Modified";
    h2o_send_inline(req, "", 0);
    return 0;
  }
  req->res.status = 200;
  req->res.reason = "OK";
  header(req, H2O_TOKEN_CONTENT_TYPE, a->type);
  req->res.content_length = a->len;
  h2o_send_inline(req, (const char *)a->data, a->len);
  return 0;
}
