/*
 * Fault: slowloris, on HTTP and on the WebSocket.
 *
 * Guarantee (docs/operations.md "Faults"): while an attacker holds many
 * connections open - HTTP requests whose headers come a byte at a time,
 * WebSocket upgrades that never finish, WebSockets that never read what
 * the server sends - other clients are served promptly (a login, an
 * ingest, the delivery of that event to a reading socket: each within a
 * bound), the sockets that never read are cut (4008 as slow consumers when
 * they still send, 4009 when silent) instead of holding memory, the
 * server's memory (VmRSS) stays bounded, the slow requests are closed by
 * the server's request timeout (h2o's 10 s), and its file descriptors come
 * back once the attacker leaves.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define N_HTTP 150    /* request headers a byte at a time */
#define N_UPGRADE 50  /* WebSocket upgrades that never finish */
#define N_DEAF 20     /* WebSockets that never read */
#define ATTACK_S 12.0 /* past h2o's 10 s request timeout */

static srv S;
static char key[128], user[64], token[64];

static void setup(void)
{
  /* ASan keeps freed memory in a quarantine (256 MiB by default), which
   * would hide what the server holds: a small one for the server under test */
  if (SANITIZED) {
    char opts[1024];
    const char *o = getenv("ASAN_OPTIONS");
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=8", o ? o : "", o && *o ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
  }
  /* a socket's queue bound of 256 messages or 256 KiB (the history, 256,
   * still fits): the deaf sockets are cut sooner */
  const char *const extra[] = {"--max-queued-msgs", "256", "--max-queued-bytes", "262144", NULL};
  srv_start(&S, extra, false);
  new_key(&S, key, sizeof key, "0", "0"); /* no device limit: the deaf sockets share it */
  cr_assert_eq(login(&S, key, "reader", user, token), 200);
}
static void teardown(void)
{
  cr_expect_eq(srv_stop(&S), 0, "the server did not stop gracefully");
  srv_cleanup(&S);
}

TestSuite(fault_slowloris, .init = setup, .fini = teardown, .timeout = 180);

/* One slow connection: what it sends, a byte at a time, and how far it got. */
typedef struct slow {
  int fd;
  char req[512];
  size_t len, sent, stop_at; /* never sends past stop_at */
} slow;

typedef struct attack {
  slow c[N_HTTP + N_UPGRADE];
  int n;
  _Atomic bool stop;
  _Atomic int reopened; /* connections the server closed, opened again */
  _Atomic int bytes;
} attack;

static int dial_nodelay(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Every 50 ms each connection sends its next byte; one the server closed is
 * opened again (the attacker insists). */
static void *attack_main(void *arg)
{
  attack *a = arg;
  while (!a->stop) {
    for (int i = 0; i < a->n && !a->stop; i++) {
      slow *c = &a->c[i];
      if (c->fd < 0) {
        c->fd = dial_nodelay(S.port);
        c->sent = 0;
        if (c->fd < 0)
          continue;
      }
      /* a connection the server closed reads as EOF, also one that has
       * stopped sending (an upgrade left unfinished) */
      char b;
      ssize_t k = recv(c->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
      if (k != 0 && c->sent >= c->stop_at)
        continue;
      if (k == 0 || send(c->fd, c->req + c->sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
        close(c->fd);
        c->fd = -1;
        a->reopened++;
        continue;
      }
      c->sent++;
      a->bytes++;
    }
    usleep(50000);
  }
  return NULL;
}

/* A WebSocket that completes its upgrade and then never reads a byte (a
 * small receive buffer, so the server's side fills soon). */
static int deaf_socket(void)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char req[512];
  int n = snprintf(
      req, sizeof req,
      "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      token);
  cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
  /* the answer's head only (it comes before any event): then never a byte */
  char head[1024];
  size_t len = 0;
  while (len < sizeof head - 1 && !memmem(head, len, "\r\n\r\n", 4)) {
    struct pollfd p = {fd, POLLIN, 0};
    cr_assert_gt(poll(&p, 1, 5000), 0, "no answer to a deaf socket's upgrade");
    cr_assert_eq(recv(fd, head + len, 1, 0), 1);
    len++;
  }
  head[len] = '\0';
  cr_assert(strncmp(head, "HTTP/1.1 101", 12) == 0, "a deaf socket's upgrade: %s", head);
  return fd;
}

/* The time one login takes, in seconds (fails the test unless 200). */
static double timed_login(void)
{
  char u[64], t[64];
  double t0 = now_s();
  cr_assert_eq(login(&S, key, "reader", u, t), 200);
  return now_s() - t0;
}

Test(fault_slowloris, slow_clients_do_not_hold_up_the_others)
{
  static ws w;
  static track t;
  memset(&t, 0, sizeof t);
  fault_open_ws(&S, &w, token);
  /* warm up, then the baseline */
  static bool want[200000];
  int next = 1;
  static char body[1 << 18];
  for (int r = 0; r < 3; r++) {
    size_t k = (size_t)snprintf(body, sizeof body, "[");
    for (int i = 0; i < 100; i++, next++) {
      k += (size_t)snprintf(body + k, sizeof body - k, "%s", i ? "," : "");
      k += (size_t)event_json(body + k, sizeof body - k, user, next, false);
      want[next] = true;
    }
    snprintf(body + k, sizeof body - k, "]");
    fault_post_ok(&S, body);
  }
  fault_wait_all(&S, &w, &t, want, 1, next, 5.0);
  timed_login();
  long rss0 = vmrss_kb(S.pid);
  int fds0 = fd_count(S.pid);
  double drops0 = metric(&S, "ttboost_queue_drops_total");
  double idle0 = metric(&S, "ttboost_idle_closes_total");
  cr_assert(rss0 > 0 && fds0 > 0 && drops0 >= 0 && idle0 >= 0);

  /* the attack: slow requests and upgrades on a thread, deaf sockets here */
  static attack a;
  memset(&a, 0, sizeof a);
  for (int i = 0; i < N_HTTP + N_UPGRADE; i++) {
    slow *c = &a.c[i];
    c->fd = -1;
    if (i < N_HTTP)
      snprintf(c->req, sizeof c->req,
               "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "X-Padding: %0300d\r\nContent-Length: 20\r\n\r\n{\"license_key\":\"x\"}",
               0);
    else /* never the blank line that ends the request */
      snprintf(
          c->req, sizeof c->req,
          "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
          token);
    c->len = strlen(c->req);
    c->stop_at = i < N_HTTP ? c->len : c->len - 2;
  }
  a.n = N_HTTP + N_UPGRADE;
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, attack_main, &a), 0);
  int deaf[N_DEAF];
  for (int i = 0; i < N_DEAF; i++)
    deaf[i] = deaf_socket();

  /* meanwhile: logins, ingest and delivery stay prompt, and enough events
   * go out that each deaf socket's queue passes its bound */
  double bound = SANITIZED ? 3.0 : 1.0;
  double worst_login = 0, worst_ingest = 0, worst_deliver = 0;
  int rounds = 0;
  double t_start = now_s();
  /* at least ATTACK_S; longer (up to 45 s) until the deaf sockets that
   * pong have passed the kernel's buffers and their queue bound (slower
   * under sanitizers) */
  while (
      now_s() - t_start < ATTACK_S ||
      (now_s() - t_start < 45 && metric(&S, "ttboost_queue_drops_total") - drops0 < N_DEAF / 2)) {
    /* half the deaf sockets are not silent: an unasked pong each round
     * keeps them clear of the idle cut, so only the queue bound can stop
     * them; the other half are cut for silence (3 heartbeats of 1 s) */
    static const uint8_t pong[6] = {0x8A, 0x80, 1, 2, 3, 4};
    for (int i = 0; i < N_DEAF / 2; i++)
      (void)!send(deaf[i], pong, sizeof pong, MSG_NOSIGNAL | MSG_DONTWAIT);
    double l = timed_login();
    if (l > worst_login)
      worst_login = l;
    for (int half = 0; half < 2; half++) { /* 200 at a time: below the queue bound */
      int first = next;
      size_t k = (size_t)snprintf(body, sizeof body, "[");
      for (int i = 0; i < 200; i++, next++) {
        k += (size_t)snprintf(body + k, sizeof body - k, "%s", i ? "," : "");
        k += (size_t)snprintf(
            body + k, sizeof body - k,
            "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"%0120d\",\"gift_name\":"
            "\"G%d %0110d\",\"count\":1}",
            user, 0, next, 0);
        want[next] = true;
      }
      snprintf(body + k, sizeof body - k, "]");
      double t0 = now_s();
      fault_post_ok(&S, body);
      double in = now_s() - t0;
      if (in > worst_ingest)
        worst_ingest = in;
      fault_wait_all(&S, &w, &t, want, first, next, 5.0);
      cr_assert(track_has_all(&t, want, first, next, NULL),
                "round %d: the reader did not get its events", rounds);
      double d = now_s() - t0;
      if (d > worst_deliver)
        worst_deliver = d;
    }
    rounds++;
    usleep(100000);
  }
  long rss1 = vmrss_kb(S.pid);
  int fds1 = fd_count(S.pid);
  double drops = metric(&S, "ttboost_queue_drops_total") - drops0;
  double idles = metric(&S, "ttboost_idle_closes_total") - idle0;
  a.stop = true;
  pthread_join(th, NULL);
  for (int i = 0; i < a.n; i++)
    if (a.c[i].fd >= 0)
      close(a.c[i].fd);
  for (int i = 0; i < N_DEAF; i++)
    close(deaf[i]);

  cr_log_info("slowloris: %d rounds, worst login %.3f s, ingest %.3f s, delivery %.3f s; RSS %ld "
              "-> %ld KiB; "
              "fds %d -> %d; %d slow connections closed by the server; %.0f sockets cut as slow "
              "consumers, %.0f as idle",
              rounds, worst_login, worst_ingest, worst_deliver, rss0, rss1, fds0, fds1,
              (int)a.reopened, drops, idles);
  cr_expect_lt(worst_login, bound, "a login took %.2f s during the attack", worst_login);
  cr_expect_lt(worst_ingest, bound, "an ingest took %.2f s during the attack", worst_ingest);
  cr_expect_lt(worst_deliver, bound * 2, "an event took %.2f s to reach a reader during the attack",
               worst_deliver);
  cr_expect_geq(rounds, 5);
  cr_expect_geq(a.reopened, N_HTTP + N_UPGRADE,
                "the server closed only %d of the %d slow connections", (int)a.reopened,
                N_HTTP + N_UPGRADE);
  cr_expect_geq(drops, N_DEAF / 2, "only %.0f of the %d deaf sockets that pong were cut (4008)",
                drops, N_DEAF / 2);
  cr_expect_geq(idles, N_DEAF / 2, "only %.0f of the %d silent deaf sockets were cut (4009)", idles,
                N_DEAF / 2);
  cr_expect_eq(t.seq_back + t.order_back, 0);
  /* the deaf sockets hold at most their queue bound (256 KiB) each, the
   * slow ones a request buffer each; unbounded queues would hold every
   * event (about 100 MB here). Under ASan (shadow memory, a quarantine of
   * 8 MiB) the bound is looser. */
  long grow = rss1 - rss0, cap = SANITIZED ? 64 * 1024 : 32 * 1024;
  cr_expect_lt(grow, cap, "the server grew by %ld KiB during the attack", grow);

  /* the attacker leaves: its descriptors go */
  int fds2 = fds1;
  for (double e = now_s() + 5; now_s() < e; usleep(100000)) {
    fds2 = fd_count(S.pid);
    if (fds2 <= fds0 + 2)
      break;
  }
  cr_expect_leq(fds2, fds0 + 2, "the server still holds %d descriptors (%d before the attack)",
                fds2, fds0);
  timed_login();
  ws_close(&w);
}
