/*
 * Listening TCP sockets, for the public port (main.c) and the metrics port
 * (app.c, --metrics-listen).
 */
#ifndef TTB_SERVER_LISTEN_H
#define TTB_SERVER_LISTEN_H

#include <stddef.h>
#include <stdint.h>

/* Binds and listens on the numeric address host (IPv4 or IPv6, no
 * brackets) and decimal port ("0": any free port) with SO_REUSEADDR and
 * close-on-exec. Returns the fd (the caller owns it) and the port it got in
 * *bound; -1 with a message in err that starts with `what` (e.g. "listen")
 * when the address is not numeric or the socket cannot be bound. */
int ttb_listen_tcp(const char *what, const char *host, const char *port, int backlog,
                   uint16_t *bound, char *err, size_t errlen);

#endif
