/*
 * http_lws.c — ttb__http_lws: one blocking HTTP(S) request on
 * libwebsockets, with a private lws_context per call (so calls on different
 * threads share nothing). Used for login and audio downloads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "net.h"

typedef struct hreq {
    const ttb__http_req *req;
    ttb__http_resp *resp;
    size_t cap;       /* resp->body allocated bytes */
    size_t max;
    int rc;           /* TTB_OK or TTB_ERR_* once done */
    bool done, timed_out, ending;
    bool body_sent;
    char why[200];
    lws_sorted_usec_list_t sul;
} hreq;

static void finish(hreq *h, int rc, const char *why) {
    if (h->done) return;
    h->done = true;
    h->rc = rc;
    if (why) snprintf(h->why, sizeof h->why, "%s", why);
}

static int append(hreq *h, const void *data, size_t len) {
    if (len > h->max - h->resp->len) return TTB_ERR_PROTOCOL;
    if (h->resp->len + len + 1 > h->cap) {
        size_t ncap = h->cap ? h->cap : 4096;
        while (ncap < h->resp->len + len + 1) ncap *= 2;
        uint8_t *nb = realloc(h->resp->body, ncap);
        if (!nb) return TTB_ERR_NOMEM;
        h->resp->body = nb;
        h->cap = ncap;
    }
    memcpy(h->resp->body + h->resp->len, data, len);
    h->resp->len += len;
    h->resp->body[h->resp->len] = '\0';
    return TTB_OK;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
    (void)user;
    struct lws_context *ctx = lws_get_context(wsi);
    hreq *h = ctx ? lws_context_user(ctx) : NULL;
    if (!h || h->ending) return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = (*p) + len;
        const ttb__http_req *r = h->req;
        if (r->bearer && *r->bearer) {
            char auth[300];
            int n = snprintf(auth, sizeof auth, "Bearer %s", r->bearer);
            if (n < 0 || (size_t)n >= sizeof auth ||
                lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)auth, n,
                                             p, end))
                return -1;
        }
        if (r->body && r->body_len) {
            char cl[32];
            int n = snprintf(cl, sizeof cl, "%zu", r->body_len);
            const char *ct = r->content_type ? r->content_type : "application/octet-stream";
            if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)ct,
                                             (int)strlen(ct), p, end) ||
                lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (unsigned char *)cl, n, p,
                                             end))
                return -1;
            lws_client_http_body_pending(wsi, 1);
            lws_callback_on_writable(wsi);
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: {
        const ttb__http_req *r = h->req;
        if (h->body_sent || !r->body || !r->body_len) break;
        uint8_t *buf = malloc(LWS_PRE + r->body_len);
        if (!buf) {
            finish(h, TTB_ERR_NOMEM, "out of memory");
            return -1;
        }
        memcpy(buf + LWS_PRE, r->body, r->body_len);
        int n = lws_write(wsi, buf + LWS_PRE, r->body_len, LWS_WRITE_HTTP_FINAL);
        free(buf);
        h->body_sent = true;
        if (n < 0 || (size_t)n < r->body_len) {
            finish(h, TTB_ERR_NETWORK, "sending the request failed");
            return -1;
        }
        lws_client_http_body_pending(wsi, 0);
        break;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        h->resp->status = (int)lws_http_client_http_response(wsi);
        break;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 4096];
        char *px = buf + LWS_PRE;
        int lenx = (int)sizeof buf - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &lenx) < 0) return -1;
        break;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ: {
        int rc = append(h, in, len);
        if (rc != TTB_OK) {
            finish(h, rc,
                   rc == TTB_ERR_NOMEM ? "out of memory" : "the answer is larger than allowed");
            return -1;
        }
        break;
    }
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (!h->resp->status) h->resp->status = (int)lws_http_client_http_response(wsi);
        finish(h, TTB_OK, NULL);
        lws_cancel_service(ctx);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[200];
        snprintf(why, sizeof why, "%.150s", in ? (const char *)in : "cannot connect");
        finish(h, TTB_ERR_NETWORK, why);
        break;
    }
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        /* A body ended by the connection's close (no length) is complete. */
        if (h->resp->status)
            finish(h, TTB_OK, NULL);
        else
            finish(h, TTB_ERR_NETWORK, "the connection closed before an answer");
        break;
    default:
        break;
    }
    return 0;
}

static void on_timeout(lws_sorted_usec_list_t *sul) {
    hreq *h = lws_container_of(sul, hreq, sul);
    h->timed_out = true;
}

static const struct lws_protocols PROTOCOLS[] = {
    {"ttboost-http", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int ttb__http_lws(void *user, const ttb__http_req *req, ttb__http_resp *resp, char *err,
                  size_t errlen) {
    (void)user;
    if (err && errlen) err[0] = '\0';
    if (!req || !resp || !req->url || !req->method) {
        if (err && errlen) snprintf(err, errlen, "bad request");
        return TTB_ERR_INVALID;
    }
    memset(resp, 0, sizeof *resp);
    ttb__url u;
    if (ttb__url_parse(req->url, &u, err, errlen) != TTB_OK || u.ws) {
        if (u.ws && err && errlen) snprintf(err, errlen, "not an http(s) URL");
        return TTB_ERR_INVALID;
    }
    ttb__lws_quiet_logs();
    int timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000;

    hreq h;
    memset(&h, 0, sizeof h);
    h.req = req;
    h.resp = resp;
    h.max = req->max_response ? req->max_response : ((size_t)16 << 20);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    /* lws creates a client vhost only with DO_SSL_GLOBAL_INIT; the client
     * SSL_CTX is ours (see net.h) */
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    struct ssl_ctx_st *tls = ttb__lws_client_tls(req->ca_file);
    if (!tls) {
        if (err && errlen) snprintf(err, errlen, "cannot set up TLS (CA file %s)", req->ca_file ? req->ca_file : "of the system");
        return TTB_ERR_NETWORK;
    }
    info.provided_client_ssl_ctx = tls;
    info.user = &h;
    info.gid = -1;
    info.uid = -1;
    info.fd_limit_per_thread = 4;
    info.timeout_secs = (unsigned)(timeout_ms / 1000 + 1);
    info.connect_timeout_secs = info.timeout_secs;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        ttb__lws_client_tls_free(tls);
        if (err && errlen) snprintf(err, errlen, "cannot start the network library");
        return TTB_ERR_NETWORK;
    }

    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = ctx;
    i.address = u.host;
    i.port = u.port;
    i.ssl_connection = u.tls ? LCCSCF_USE_SSL : 0;
    i.ssl_connection |= LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    i.path = u.path;
    i.host = u.host;
    i.origin = u.host;
    i.method = req->method;
    i.protocol = PROTOCOLS[0].name;
    i.alpn = "http/1.1";
    lws_sul_schedule(ctx, 0, &h.sul, on_timeout, (lws_usec_t)timeout_ms * 1000);
    struct lws *wsi = lws_client_connect_via_info(&i);
    if (!wsi && !h.done) finish(&h, TTB_ERR_NETWORK, "cannot connect");
    while (!h.done && !h.timed_out) lws_service(ctx, 0);
    h.ending = true;
    lws_sul_cancel(&h.sul);
    lws_context_destroy(ctx);
    ttb__lws_client_tls_free(tls);

    int rc = h.done ? h.rc : TTB_ERR_NETWORK;
    if (!h.done) snprintf(h.why, sizeof h.why, "no answer within %d ms", timeout_ms);
    if (rc == TTB_OK && !resp->status) {
        rc = TTB_ERR_NETWORK;
        snprintf(h.why, sizeof h.why, "no HTTP status received");
    }
    if (rc != TTB_OK) {
        ttb__http_resp_finish(resp);
        if (err && errlen) snprintf(err, errlen, "%s", h.why[0] ? h.why : ttb__net_strerror(rc));
        return rc;
    }
    if (!resp->body) {
        resp->body = malloc(1);
        if (!resp->body) {
            if (err && errlen) snprintf(err, errlen, "out of memory");
            return TTB_ERR_NOMEM;
        }
        resp->body[0] = '\0';
    }
    return TTB_OK;
}
