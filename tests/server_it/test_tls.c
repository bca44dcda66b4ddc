/*
 * HTTPS and WSS served by the server itself, with a self-signed
 * certificate made for the test by the openssl command.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void make_cert(const char *dir, char *cert, char *key, size_t cap)
{
  snprintf(cert, cap, "%s/cert.pem", dir);
  snprintf(key, cap, "%s/key.pem", dir);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
           "-keyout '%s' -out '%s' >/dev/null 2>&1",
           key, cert);
  cr_assert_eq(system(cmd), 0, "openssl could not make a self-signed certificate");
}

typedef struct tls_conn {
  SSL_CTX *ctx;
  SSL *ssl;
  int fd;
} tls_conn;

static void tls_open(tls_conn *c, int port, const char *cert)
{
  c->ctx = SSL_CTX_new(TLS_client_method());
  cr_assert_not_null(c->ctx);
  cr_assert_eq(SSL_CTX_load_verify_locations(c->ctx, cert, NULL), 1);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
  c->ssl = SSL_new(c->ctx);
  SSL_set_fd(c->ssl, c->fd);
  cr_assert_eq(SSL_connect(c->ssl), 1, "TLS handshake failed (certificate not verified?)");
}

static void tls_close(tls_conn *c)
{
  SSL_shutdown(c->ssl);
  SSL_free(c->ssl);
  close(c->fd);
  SSL_CTX_free(c->ctx);
}

/* Writes req and reads until the peer closes or `until` appears. */
static size_t tls_exchange(tls_conn *c, const char *req, size_t reqlen, char *out, size_t cap,
                           const char *until)
{
  cr_assert_eq(SSL_write(c->ssl, req, (int)reqlen), (int)reqlen);
  size_t len = 0;
  while (len + 1 < cap) {
    int k = SSL_read(c->ssl, out + len, (int)(cap - 1 - len));
    if (k <= 0)
      break;
    len += (size_t)k;
    out[len] = '\0';
    if (until && memmem(out, len, until, strlen(until)))
      break;
  }
  out[len] = '\0';
  return len;
}

Test(tls, https_and_wss_with_a_self_signed_certificate, .timeout = 60)
{
  char tmp[] = "/tmp/ttb-tls-XXXXXX";
  cr_assert_not_null(mkdtemp(tmp));
  char cert[512], key[512];
  make_cert(tmp, cert, key, sizeof cert);
  srv s = {0};
  const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
  srv_start(&s, extra, false);

  char lic[128];
  new_key(&s, lic, sizeof lic, "30", "0");

  /* HTTPS login */
  tls_conn c;
  tls_open(&c, s.port, cert);
  char body[256], req[1024], out[8192];
  int bl = snprintf(body, sizeof body, "{\"license_key\":\"%s\"}", lic);
  int rl =
      snprintf(req, sizeof req,
               "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
               bl, body);
  tls_exchange(&c, req, (size_t)rl, out, sizeof out, NULL);
  tls_close(&c);
  cr_assert(strncmp(out, "HTTP/1.1 200", 12) == 0, "login over HTTPS: %s", out);
  char token[64];
  const char *b = strstr(out, "\r\n\r\n");
  cr_assert_not_null(b);
  cr_assert(json_str(b, "ws_token", token, sizeof token));

  /* WSS: the upgrade, then Hello in a (server-unmasked) text frame */
  tls_open(&c, s.port, cert);
  rl = snprintf(
      req, sizeof req,
      "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      token);
  size_t n = tls_exchange(&c, req, (size_t)rl, out, sizeof out, "\"hello\"");
  cr_assert(strncmp(out, "HTTP/1.1 101", 12) == 0, "WSS upgrade: %s", out);
  cr_assert(strstr(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL, "Sec-WebSocket-Accept");
  cr_assert(memmem(out, n, "\"type\":\"hello\"", 14) != NULL, "no Hello over WSS");
  tls_close(&c);

  /* plain HTTP on the TLS port is not served */
  http_resp r;
  int rc = http(&s, "GET", "/healthz", NULL, NULL, 0, &r);
  cr_assert(rc != 0 || r.status != 200, "plain HTTP answered on the TLS port");
  if (rc == 0)
    http_free(&r);

  cr_assert_eq(srv_stop(&s), 0);
  srv_cleanup(&s);
  unlink(cert);
  unlink(key);
  rmdir(tmp);
}
