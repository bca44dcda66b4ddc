/*
 * it_util.h — helpers for the network layer's integration tests: start the
 * real ttboost-server ($TTBOOST_SERVER) and ttboost-admin ($TTBOOST_ADMIN)
 * (after tests/server_it/harness.c), ingest events over ttb__http_lws, and a
 * TCP proxy between the client and the server that the test can cut (both
 * sockets reset), refuse (new connections closed at once) or blackhole
 * (bytes held back: a dead network).
 */
#ifndef TTB_TEST_IT_UTIL_H
#define TTB_TEST_IT_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define IT_SECRET "net-it-ingest-secret"

typedef struct it_srv {
  pid_t pid;
  int port;
  char dir[256];
  char url[64]; /* http:// or https:// (with --tls-cert) */
  int out_fd;
} it_srv;

/* True when TTBOOST_SERVER and TTBOOST_ADMIN are set. */
bool it_have_server(void);
/* Starts the server (heartbeat 1000 ms) with extra flags (NULL-terminated,
 * may be NULL). Fails the test on error. */
void it_srv_start(it_srv *s, const char *const *extra);
void it_srv_stop(it_srv *s);
/* A new license key into key[cap]. */
void it_new_key(const it_srv *s, char *key, size_t cap);
/* The same with more `license create` flags (NULL-terminated, at most 8),
 * e.g. {"--devices", "3", "--tiktok", "name", NULL}. */
void it_new_key_with(const it_srv *s, const char *const *extra, char *key, size_t cap);
/* ttboost-admin license revoke KEY. */
void it_revoke(const it_srv *s, const char *key);
/* POST /ingest/events with the secret; returns the HTTP status. */
int it_ingest(const it_srv *s, const char *json);
int it_chat(const it_srv *s, const char *channel, const char *who, const char *msg);
int it_gift(const it_srv *s, const char *channel, const char *name, int count);

typedef struct it_proxy {
  int listen_fd;
  int port;
  int target_port;
  pthread_t th;
  pthread_mutex_t mu;
  bool stop, refuse, blackhole, cut;
  unsigned accepted;
  char url[64];
} it_proxy;

void it_proxy_start(it_proxy *p, int target_port);
void it_proxy_stop(it_proxy *p);
/* Resets every proxied connection now. */
void it_proxy_cut(it_proxy *p);
void it_proxy_refuse(it_proxy *p, bool on);
void it_proxy_blackhole(it_proxy *p, bool on);
unsigned it_proxy_accepted(it_proxy *p);

#endif
