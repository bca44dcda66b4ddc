/*
 * The server application: the h2o configuration and handlers (HTTP
 * endpoints, static audio, the WebSocket), wired to the license store, the
 * TTS engine, the gift sounds, the streak rule and the hub. main.c owns the
 * listening socket and the signals; everything else lives here.
 */
#ifndef TTB_SERVER_APP_H
#define TTB_SERVER_APP_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "config.h"

typedef struct ttb_app ttb_app;

/* Opens the data dir (creating it), the store, the TTS engine and sounds,
 * and sets up h2o. ssl may be NULL (plain HTTP); the caller keeps owning it.
 * NULL with a message in err. */
ttb_app *ttb_app_create(const ttb_config *cfg, const char *argv0, SSL_CTX *ssl, char *err,
                        size_t errlen);
void ttb_app_destroy(ttb_app *app);

h2o_evloop_t *ttb_app_loop(ttb_app *app);
h2o_accept_ctx_t *ttb_app_accept_ctx(ttb_app *app);

/* Asks the loop to stop (from the signal handler's pipe). */
void ttb_app_request_stop(ttb_app *app);
bool ttb_app_stopping(const ttb_app *app);

/* Closes every WebSocket with 1001; returns how many are still open. */
size_t ttb_app_shutdown_sockets(ttb_app *app);
size_t ttb_app_open_sockets(const ttb_app *app);

#endif
