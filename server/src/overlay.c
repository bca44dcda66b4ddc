/* Overlay tokens and their endpoints: see overlay.h. */
#include "overlay.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "reply.h"
#include "dbq.h"
#include "ttboost/v1/auth.pbc-json.h"
#include "ws.h"

/* ------------------------------------------------------------- replies */

/* ------------------------------------------------------------ requests */

enum { OP_CREATE, OP_LIST, OP_REVOKE };

/* One request waiting for the database thread. The guard lives in the
 * request's pool: a client that goes away first detaches it. */
typedef struct op op;
typedef struct guard {
  op *o;
} guard;

typedef struct item {
  int64_t id, created;
  char hint[12];
  char note[256];
} item;

struct op {
  ttb_svc *svc;
  h2o_req_t *req; /* NULL once the client is gone */
  guard *g;
  int kind;
  char token[128]; /* the bearer, while it is checked */
  char user[TTB_STORE_UUID_MAX];
  char note[TTB_STORE_KEY_MAX + 200];
  int64_t id;
  /* out */
  char made[TTB_STORE_KEY_MAX];
  char hint[12];
  item items[TTB_OVERLAY_MAX_TOKENS];
  size_t nitems;
  bool too_many;
};

static void on_guard_dispose(void *p)
{
  guard *g = p;
  if (g->o)
    g->o->req = NULL;
}

/* Frees o; its request, or NULL when the client went away. */
static h2o_req_t *op_end(op *o)
{
  h2o_req_t *req = o->req;
  if (req)
    o->g->o = NULL;
  sodium_memzero(o, sizeof *o);
  free(o);
  return req;
}

/* On the database thread. */
static int collect(void *arg, const ttb_overlay_token_info *t)
{
  op *o = arg;
  if (t->revoked)
    return 0;
  if (o->nitems == TTB_OVERLAY_MAX_TOKENS) {
    o->too_many = true;
    return 1;
  }
  item *it = &o->items[o->nitems++];
  it->id = t->id;
  it->created = t->created;
  snprintf(it->hint, sizeof it->hint, "%s", t->hint);
  snprintf(it->note, sizeof it->note, "%s", t->note);
  return 0;
}

static ttb_store_status run_op(ttb_store *st, void *arg)
{
  op *o = arg;
  char err[256];
  int64_t now = (int64_t)time(NULL);
  switch (o->kind) {
  case OP_LIST:
    return ttb_store_overlay_token_list(st, o->user, collect, o, err, sizeof err) == 0
               ? TTB_STORE_OK
               : TTB_STORE_ERROR;
  case OP_CREATE:
    if (ttb_store_overlay_token_list(st, o->user, collect, o, err, sizeof err) != 0)
      return TTB_STORE_ERROR;
    if (o->nitems >= TTB_OVERLAY_MAX_TOKENS) {
      o->too_many = true;
      return TTB_STORE_OK;
    }
    return ttb_store_overlay_token_create(st, o->user, o->note, now, o->made, &o->id, o->hint);
  default:
    return ttb_store_overlay_token_revoke(st, o->user, o->id, now);
  }
}

/* The overlay's address for a new token: this request's scheme and host. */
static void overlay_url(h2o_req_t *req, const char *token, char *out, size_t cap)
{
  h2o_iovec_t a = req->authority;
  bool ok = a.len > 0 && a.len < 200;
  for (size_t i = 0; ok && i < a.len; i++) {
    char c = a.base[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == ':' || c == '[' || c == ']';
  }
  const char *scheme = req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http";
  if (ok)
    snprintf(out, cap, "%s://%.*s/overlay/#token=%s", scheme, (int)a.len, a.base, token);
  else
    snprintf(out, cap, "/overlay/#token=%s", token);
}

static void on_done(void *arg, ttb_store_status st)
{
  op *o = arg;
  int kind = o->kind;
  int64_t id = o->id;
  if (kind == OP_REVOKE && st == TTB_STORE_OK) /* its pages stop now, the client there or not */
    ttb_ws_close_login(-id, TTB_WS_UNAUTHORIZED, "revoked", "This overlay token has been revoked.");
  h2o_req_t *req = o->req;
  if (req == NULL) {
    op_end(o);
    return;
  }
  if (st == TTB_STORE_ERROR) {
    op_end(o);
    ttb_reply_error(req, 503, "busy",
                    "The server could not reach its database right now. Try again shortly.");
    return;
  }
  size_t n = 0;
  char *js = NULL;
  if (kind == OP_REVOKE) {
    op_end(o);
    if (st != TTB_STORE_OK) {
      ttb_reply_error(req, 404, "not_found",
                      "This license has no active overlay token with that id.");
      return;
    }
    Ttboost__V1__OverlayTokenRevoked r = TTBOOST__V1__OVERLAY_TOKEN_REVOKED__INIT;
    r.status = "ok";
    js = ttb_pbc_ttboost_v1_OverlayTokenRevoked_to_json(&r, &n, NULL);
    ttb_reply_json(req, 200, js, n, true);
    return;
  }
  if (kind == OP_CREATE) {
    if (o->too_many) {
      op_end(o);
      ttb_reply_error(
          req, 429, "too_many_tokens",
          "This license has as many overlay tokens as it may (32). Revoke one you no longer use.");
      return;
    }
    char url[400];
    overlay_url(req, o->made, url, sizeof url);
    Ttboost__V1__OverlayTokenCreated r = TTBOOST__V1__OVERLAY_TOKEN_CREATED__INIT;
    r.id = o->id;
    r.token = o->made;
    r.hint = o->hint;
    r.url = url;
    js = ttb_pbc_ttboost_v1_OverlayTokenCreated_to_json(&r, &n, NULL);
    sodium_memzero(url, sizeof url);
    op_end(o);
    ttb_reply_json(req, 200, js, n, true);
    return;
  }
  Ttboost__V1__OverlayTokenInfo infos[TTB_OVERLAY_MAX_TOKENS];
  Ttboost__V1__OverlayTokenInfo *ptrs[TTB_OVERLAY_MAX_TOKENS];
  for (size_t i = 0; i < o->nitems; i++) {
    ttboost__v1__overlay_token_info__init(&infos[i]);
    infos[i].id = o->items[i].id;
    infos[i].created = o->items[i].created;
    infos[i].hint = o->items[i].hint;
    infos[i].note = o->items[i].note;
    ptrs[i] = &infos[i];
  }
  Ttboost__V1__OverlayTokenList r = TTBOOST__V1__OVERLAY_TOKEN_LIST__INIT;
  r.n_tokens = o->nitems;
  r.tokens = ptrs;
  js = ttb_pbc_ttboost_v1_OverlayTokenList_to_json(&r, &n, NULL);
  op_end(o);
  ttb_reply_json(req, 200, js, n, true);
}

static void on_session(void *arg, ttb_svc_status st, const char *user, int64_t session_id)
{
  op *o = arg;
  (void)session_id;
  sodium_memzero(o->token, sizeof o->token);
  h2o_req_t *req = o->req;
  if (req == NULL || st != TTB_SVC_OK) {
    op_end(o);
    if (req)
      ttb_reply_refused(req, st == TTB_SVC_FAILED);
    return;
  }
  snprintf(o->user, sizeof o->user, "%s", user);
  ttb_dbq_call(ttb_svc_dbq(o->svc), run_op, on_done, o);
}

int ttb_overlay_tokens(ttb_svc *svc, h2o_req_t *req)
{
  int kind;
  if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
    kind = OP_CREATE;
  else if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
    kind = OP_LIST;
  else if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE")))
    kind = OP_REVOKE;
  else
    return ttb_reply_error(req, 405, "method", "Use GET, POST or DELETE.");
  op *o = calloc(1, sizeof *o);
  if (o == NULL)
    return ttb_reply_error(req, 503, "busy", "The server is out of memory.");
  o->svc = svc;
  o->req = req;
  o->kind = kind;
  if (!ttb_reply_bearer(req, o->token, sizeof o->token)) {
    free(o);
    return ttb_reply_error(req, 401, "unauthorized", TTB_REPLY_UNAUTHORIZED);
  }
  if (kind != OP_LIST) {
    ttb_json_error err = {0};
    const char *body = req->entity.base ? req->entity.base : "";
    size_t len = req->entity.base ? req->entity.len : 0;
    if (kind == OP_CREATE && len == 0) {
      body = "{}";
      len = 2;
    }
    char msg[300];
    if (kind == OP_CREATE) {
      Ttboost__V1__OverlayTokenRequest *r =
          ttb_pbc_ttboost_v1_OverlayTokenRequest_from_json(body, len, NULL, &err);
      if (r == NULL) {
        sodium_memzero(o, sizeof *o);
        free(o);
        snprintf(msg, sizeof msg, "The request is not valid: %s", err.msg);
        return ttb_reply_error(req, err.status == TTB_JSON_LIMIT ? 413 : 400, "malformed", msg);
      }
      snprintf(o->note, sizeof o->note, "%s", r->note);
      ttboost__v1__overlay_token_request__free_unpacked(r, NULL);
    } else {
      Ttboost__V1__OverlayTokenRevoke *r =
          ttb_pbc_ttboost_v1_OverlayTokenRevoke_from_json(body, len, NULL, &err);
      if (r == NULL || r->id <= 0) {
        if (r)
          ttboost__v1__overlay_token_revoke__free_unpacked(r, NULL);
        sodium_memzero(o, sizeof *o);
        free(o);
        snprintf(msg, sizeof msg, "The request is not valid: %s",
                 r ? "id: a positive number is needed" : err.msg);
        return ttb_reply_error(req, 400, "malformed", msg);
      }
      o->id = r->id;
      ttboost__v1__overlay_token_revoke__free_unpacked(r, NULL);
    }
  }
  o->g = h2o_mem_alloc_shared(&req->pool, sizeof *o->g, on_guard_dispose);
  o->g->o = o;
  ttb_svc_session_async(svc, o->token, on_session, o);
  return 0;
}

/* ------------------------------------------------------------- sockets */

typedef struct lookup {
  ttb_svc *svc;
  char token[128];
  char user[TTB_STORE_UUID_MAX];
  int64_t id;
  ttb_svc_session_cb cb;
  void *arg;
} lookup;

static ttb_store_status run_lookup(ttb_store *st, void *arg)
{
  lookup *l = arg;
  ttb_store_status s = ttb_store_overlay_token_channel(st, l->token, l->user, &l->id);
  sodium_memzero(l->token, sizeof l->token);
  return s;
}

static void on_lookup(void *arg, ttb_store_status st, const char *unused)
{
  (void)unused;
  lookup *l = arg;
  ttb_svc_status s;
  switch (st) {
  case TTB_STORE_OK:
    s = ttb_svc_license(l->svc, l->user); /* the license must be valid too */
    break;
  case TTB_STORE_REVOKED: /* 4001, as an unknown token: 4003 speaks of the license */
  case TTB_STORE_UNKNOWN:
    s = TTB_SVC_UNKNOWN;
    break;
  default:
    s = TTB_SVC_FAILED;
  }
  ttb_svc_session_cb cb = l->cb;
  void *cb_arg = l->arg;
  char user[TTB_STORE_UUID_MAX];
  snprintf(user, sizeof user, "%s", s == TTB_SVC_OK ? l->user : "");
  int64_t id = s == TTB_SVC_OK ? -l->id : 0;
  sodium_memzero(l, sizeof *l);
  free(l);
  cb(cb_arg, s, user, id);
}

static void on_lookup_done(void *arg, ttb_store_status st) { on_lookup(arg, st, NULL); }

void ttb_overlay_lookup_async(ttb_svc *svc, const char *token, ttb_svc_session_cb cb, void *arg)
{
  lookup *l = calloc(1, sizeof *l);
  if (l == NULL) {
    cb(arg, TTB_SVC_FAILED, "", 0);
    return;
  }
  if (strlen(token) >= sizeof l->token) {
    free(l);
    cb(arg, TTB_SVC_UNKNOWN, "", 0);
    return;
  }
  l->svc = svc;
  snprintf(l->token, sizeof l->token, "%s", token);
  l->cb = cb;
  l->arg = arg;
  ttb_dbq_call(ttb_svc_dbq(svc), run_lookup, on_lookup_done, l);
}
