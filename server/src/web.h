/*
 * The browser pages the server serves from its own binary: the web app
 * (/app/: login, home, settings) and the OBS overlay (/overlay/), plain
 * HTML, CSS and JS from web/, and the Inter font. The files are embedded at
 * build time (server/tools/embed_web.py makes web_assets.c), so a fresh
 * install serves them with no files to copy.
 *
 * Every answer has its Content-Type, a strong ETag (If-None-Match gives a
 * 304), Cache-Control (pages and scripts revalidated each time: "no-cache";
 * the font a week), a strict Content-Security-Policy (nothing but this
 * origin: no inline script or style, no other host), nosniff and no
 * referrer.
 */
#ifndef TTB_SERVER_WEB_H
#define TTB_SERVER_WEB_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stddef.h>

typedef struct ttb_web_asset {
  const char *path; /* the URL path: "/app/index.html" */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
  const char *etag; /* with its quotes */
} ttb_web_asset;

/* The embedded files (web_assets.c, generated). */
extern const ttb_web_asset ttb_web_assets[];
extern const size_t ttb_web_nassets;

/* The Content-Security-Policy of every page. */
#define TTB_WEB_CSP                                                                            \
  "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; img-src 'self'; " \
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The embedded file for a URL path ("/app/" is "/app/index.html"); NULL
 * when none. */
const ttb_web_asset *ttb_web_find(const char *path, size_t len);

/* Answers req when its path is a page's (/app, /app/…, /overlay,
 * /overlay/…): the file, a 304, a redirect from /app to /app/, a 404 for a
 * file there is not, a 405 for a method other than GET and HEAD. Returns
 * 0 when it answered, -1 when the path is not the pages' (the caller goes
 * on). */
int ttb_web_serve(h2o_req_t *req);

#endif
