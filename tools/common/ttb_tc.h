/*
 * ttb_tc: the one HTTP and WebSocket client of the tools and tests
 * (tests/server_it harness, tests/fault, tools/replay, tools/bench).
 *
 *   HTTP       libcurl, blocking, one request per call (http:// and https://).
 *   WebSocket  the opening handshake built and checked here (SHA-1 and
 *              base64 through OpenSSL's EVP), the framing through wslay's
 *              event API. A blocking client for tests and tools
 *              (ttb_tc_ws_*), and the handshake pieces alone for a program
 *              that runs its own non-blocking loop (fanout-bench).
 *   JSON       reads through the generated codecs' runtime (ttb_jr, jsmn):
 *              a key's number or string anywhere in a document.
 *
 * Not for production code: the server and the mobile client have their own
 * network layers. Errors are return values; nothing here aborts.
 */
#ifndef TTB_TC_H
#define TTB_TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ HTTP */

/* One HTTP response. headers holds the status line and the header lines as
 * received ("HTTP/1.1 200 OK\r\nName: value\r\n..."), NUL-terminated and cut
 * at 4095 bytes; body is malloc'd, NUL-terminated (body_len excludes the
 * NUL), chunked framing already undone. Release with ttb_tc_resp_free. */
typedef struct ttb_tc_resp {
  int status;
  char headers[4096];
  char *body;
  size_t body_len;
} ttb_tc_resp;

/* Sends one request over HTTP/1.1 (or HTTPS when url says so; certificates
 * are checked against the system store unless the environment has
 * TTB_INSECURE_TLS=1) and waits at most
 * timeout_ms for the whole answer. extra_headers: "Name: value\r\n" lines,
 * or NULL. A body is sent with Content-Length; curl adds no Content-Type or
 * Expect of its own. Returns the HTTP status, or -1 when no answer came (r
 * then holds no body and err, when not NULL, says why). *r is always
 * initialised: call ttb_tc_resp_free either way. */
int ttb_tc_http(const char *url, const char *method, const char *extra_headers, const void *body,
                size_t body_len, long timeout_ms, ttb_tc_resp *r, char *err, size_t err_cap);

/* Frees r's body (r may be zeroed or already freed). */
void ttb_tc_resp_free(ttb_tc_resp *r);

/* A keep-alive HTTP client: requests through one handle reuse its
 * connection (curl reconnects when the server closed it). One thread at a
 * time per handle. NULL when out of memory. */
typedef struct ttb_tc_http_conn ttb_tc_http_conn;
ttb_tc_http_conn *ttb_tc_http_conn_new(void);
/* As ttb_tc_http, on c's connection. */
int ttb_tc_http_req(ttb_tc_http_conn *c, const char *url, const char *method,
                    const char *extra_headers, const void *body, size_t body_len, long timeout_ms,
                    ttb_tc_resp *r, char *err, size_t err_cap);
/* Closes c's connection and frees it (NULL is fine). */
void ttb_tc_http_conn_free(ttb_tc_http_conn *c);

/* ---------------------------------------------- WebSocket handshake pieces */

/* The size of a Sec-WebSocket-Key (24 characters + NUL) and of a
 * Sec-WebSocket-Accept (28 + NUL). */
#define TTB_TC_WS_KEY_SIZE 25
#define TTB_TC_WS_ACCEPT_SIZE 29

/* A fresh random Sec-WebSocket-Key (16 random bytes in base64). False when
 * the random source failed. */
bool ttb_tc_ws_key(char key[TTB_TC_WS_KEY_SIZE]);

/* The Sec-WebSocket-Accept a server must answer to key (RFC 6455 4.2.2:
 * base64(SHA-1(key + GUID))). False when hashing failed. */
bool ttb_tc_ws_accept(const char *key, char accept[TTB_TC_WS_ACCEPT_SIZE]);

/* Writes the upgrade request for path into buf[cap]: Host host, the key,
 * Sec-WebSocket-Protocol when subprotocol is not NULL, extra_headers
 * ("Name: value\r\n" lines) when not NULL. Returns its length, or -1 when it
 * does not fit. */
int ttb_tc_ws_request(char *buf, size_t cap, const char *host, const char *path, const char *key,
                      const char *subprotocol, const char *extra_headers);

/* Reads an upgrade answer from buf[len] (the bytes received so far). Returns
 * 0 while the head is incomplete; -1 when it is malformed, or a 101 whose
 * Sec-WebSocket-Accept does not match key; else the HTTP status (101 =
 * upgraded). *head_len receives the head's length with its blank line (the
 * bytes after it are frames); subprotocol[cap] (may be NULL) the
 * Sec-WebSocket-Protocol the server chose, "" for none. */
int ttb_tc_ws_response(const char *buf, size_t len, const char *key, size_t *head_len,
                       char *subprotocol, size_t cap);

/* -------------------------------------------------- WebSocket client (blocking) */

typedef struct ttb_tc_ws ttb_tc_ws;

/* Connects to host:port (a numeric IPv4 or IPv6 address, or a name), over
 * TLS when tls (OpenSSL; certificates checked as in ttb_tc_http), sends
 * the upgrade for path (subprotocol and extra_headers as in
 * ttb_tc_ws_request) and waits at most timeout_ms for the answer. Returns 0
 * with *out set (release with ttb_tc_ws_free); the HTTP status (> 0) when the
 * server answered but did not upgrade (err then holds the status and the
 * start of the body); -1 on a network or protocol failure
 * (err says which). */
int ttb_tc_ws_connect(ttb_tc_ws **out, const char *host, int port, bool tls, const char *path,
                      const char *subprotocol, const char *extra_headers, int timeout_ms, char *err,
                      size_t err_cap);

/* The socket (for poll, or for tests that write raw bytes to it). */
int ttb_tc_ws_fd(const ttb_tc_ws *w);
/* The subprotocol the server chose ("" for none). */
const char *ttb_tc_ws_subprotocol(const ttb_tc_ws *w);

/* Sends one message (opcode 1 text, 2 binary, 8 close, 9 ping, 10 pong),
 * masked, blocking until written. Returns 0, or -1 when the opcode or size
 * is invalid (control frames carry at most 125 bytes) or the connection
 * failed. */
int ttb_tc_ws_send(ttb_tc_ws *w, int opcode, const void *data, size_t len);

/* The next message: pings are answered and pongs skipped. Returns the
 * opcode (1 text, 2 binary, 8 close: data then starts with the close code,
 * 2 bytes big-endian, when the frame had one); 0 when nothing came within
 * timeout_ms; -1 when the connection is closed or broke (a close frame was
 * returned before, or the server broke the protocol). data stays valid
 * until the next call on w. */
int ttb_tc_ws_recv(ttb_tc_ws *w, const uint8_t **data, size_t *len, int timeout_ms);

/* True when ttb_tc_ws_recv has something to return without reading the
 * socket (then poll on the fd would not wake for it). */
bool ttb_tc_ws_pending(const ttb_tc_ws *w);

/* Closes the socket and frees w (NULL is fine). */
void ttb_tc_ws_free(ttb_tc_ws *w);

/* ------------------------------------------------------------------- JSON */

/* The integer value of the first "key" (in document order, at any depth)
 * of the JSON text js; false when js is not JSON, the key is absent or its
 * value is not an integer. */
bool ttb_tc_json_int(const char *js, size_t len, const char *key, int64_t *out);

/* The string value of the first "key" (document order, any depth),
 * unescaped, NUL-terminated into out[cap] (a longer value is cut at cap - 1
 * bytes); false when js is not JSON, the key is absent or its value is not a
 * string. */
bool ttb_tc_json_str(const char *js, size_t len, const char *key, char *out, size_t cap);

#endif
