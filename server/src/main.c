/*
 * ttboost-server: the program. Reads the configuration, opens the data
 * directory, listens (HTTP or HTTPS), and runs the libh2o event loop until
 * SIGTERM or SIGINT, then shuts down gracefully: sockets closed with 1001,
 * pending writes flushed (for up to 3 s), the database closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "listen.h"
#include "ws.h"

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
  unsigned char b = (unsigned char)sig;
  ssize_t r = write(signal_pipe[1], &b, 1);
  (void)r;
}

static void on_signal_readable(h2o_socket_t *sock, const char *err)
{
  ttb_app *app = sock->data;
  (void)err;
  h2o_buffer_consume(&sock->input, sock->input->size);
  ttb_app_request_stop(app);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
  ttb_app *app = listener->data;
  if (err != NULL)
    return;
  h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
  if (sock == NULL)
    return;
  h2o_accept(ttb_app_accept_ctx(app), sock);
}

static int listen_on(const char *host, uint16_t port, uint16_t *bound, char *err, size_t errlen)
{
  char ps[8];
  snprintf(ps, sizeof ps, "%u", port);
  return ttb_listen_tcp("listen", host, ps, 4096, bound, err, errlen);
}

static SSL_CTX *tls_context(const char *cert, const char *key, char *err, size_t errlen)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) {
    snprintf(err, errlen, "TLS: cannot create a context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    snprintf(err, errlen, "TLS: cannot load the certificate %.400s", cert);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(err, errlen, "TLS: cannot load the key %.400s (or it does not match the certificate)",
             key);
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

int main(int argc, char **argv)
{
  ttb_config cfg;
  ttb_config_defaults(&cfg);
  char err[512];
  /* --config first, so flags override the file wherever they stand */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(ttb_config_usage(), stdout);
      return 0;
    }
    if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "ttboost-server: --config needs a file\n");
        return 2;
      }
      if (ttb_config_load(&cfg, argv[i + 1], err, sizeof err) != 0) {
        fprintf(stderr, "ttboost-server: %s\n", err);
        return 2;
      }
    }
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0) {
      i++;
      continue;
    }
    if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
      fprintf(stderr, "ttboost-server: unexpected argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
    if (ttb_config_set(&cfg, argv[i] + 2, argv[i + 1], err, sizeof err) != 0) {
      fprintf(stderr, "ttboost-server: %s (see --help)\n", err);
      return 2;
    }
    i++;
  }
  if ((cfg.tls_cert[0] != '\0') != (cfg.tls_key[0] != '\0')) {
    fprintf(stderr, "ttboost-server: --tls-cert and --tls-key go together\n");
    return 2;
  }

  if ((cfg.tts_remote || cfg.tts_serve) && cfg.nats[0] == '\0') {
    fprintf(stderr, "ttboost-server: --tts-remote and --tts-serve need --nats\n");
    return 2;
  }

  signal(SIGPIPE, SIG_IGN);
  SSL_CTX *ssl = NULL;
  if (cfg.tls_cert[0]) {
    ssl = tls_context(cfg.tls_cert, cfg.tls_key, err, sizeof err);
    if (ssl == NULL) {
      fprintf(stderr, "ttboost-server: %s\n", err);
      return 1;
    }
  }
  uint16_t port = cfg.port;
  int fd = listen_on(cfg.listen_host, cfg.port, &port, err, sizeof err);
  if (fd < 0) {
    fprintf(stderr, "ttboost-server: %s\n", err);
    SSL_CTX_free(ssl);
    return 1;
  }
  cfg.port = port;
  if (cfg.public_url[0] == '\0') {
    bool v6 = strchr(cfg.listen_host, ':') != NULL;
    snprintf(cfg.public_url, sizeof cfg.public_url, "%s://%s%s%s:%u", ssl ? "https" : "http",
             v6 ? "[" : "", cfg.listen_host, v6 ? "]" : "", port);
  }

  ttb_app *app = ttb_app_create(&cfg, argv[0], ssl, err, sizeof err);
  if (app == NULL) {
    fprintf(stderr, "ttboost-server: %s\n", err);
    close(fd);
    SSL_CTX_free(ssl);
    return 1;
  }
  h2o_evloop_t *loop = ttb_app_loop(app);
  ttb_ws_set_flush_us(cfg.ws_flush_us);
  h2o_socket_t *listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
  listener->data = app;
  h2o_socket_read_start(listener, on_accept);

  if (pipe(signal_pipe) != 0) {
    fprintf(stderr, "ttboost-server: pipe: %s\n", strerror(errno));
    return 1;
  }
  fcntl(signal_pipe[0], F_SETFD, FD_CLOEXEC);
  fcntl(signal_pipe[1], F_SETFD, FD_CLOEXEC);
  fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK);
  h2o_socket_t *sig = h2o_evloop_socket_create(loop, signal_pipe[0], 0);
  sig->data = app;
  h2o_socket_read_start(sig, on_signal_readable);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  /* the line tests and scripts wait for */
  printf("ttboost-server: listening on %s (data in %s)\n", cfg.public_url, cfg.data_dir);
  fflush(stdout);

  while (!ttb_app_stopping(app) && h2o_evloop_run(loop, INT32_MAX) == 0)
    ;
  /* graceful: stop accepting, close sockets with 1001, flush */
  h2o_socket_read_stop(listener);
  h2o_socket_close(listener);
  size_t open = ttb_app_shutdown_sockets(app);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (open > 0) {
    h2o_evloop_run(loop, 100);
    open = ttb_app_open_sockets(app);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec >= 3)
      break;
  }
  h2o_socket_read_stop(sig);
  h2o_socket_close(sig);
  close(signal_pipe[1]);
  ttb_app_destroy(app);
  SSL_CTX_free(ssl);
  printf("ttboost-server: stopped\n");
  return 0;
}
