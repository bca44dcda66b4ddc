/* tests/mobile_net/test_http_session.c — the streamed GET session of
 * mobile/core/src/net (ttb__http_session, libwebsockets) against a small
 * HTTP/1.1 server in this test that counts the TCP connections it accepts:
 * several downloads share one kept-alive connection; a chunked body that
 * trickles in is handed over piece by piece before its end (an Ogg Opus
 * file decoded as it comes); a Content-Length body; a 404; a server that
 * closes the idle connection (the next GET retries on a new one); a server
 * that stops sending (the idle timeout). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"

#if TTB_HAVE_OPUSENC
#include "audio/decode.h"
#include "../mobile/opus_synth.h"
#endif

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ the test server */

typedef struct {
  int lfd, port;
  pthread_t th;
  atomic_int accepts, requests;
  atomic_bool quit;
  const uint8_t *ogg; /* served by /ogg-chunked */
  size_t ogg_len;
  double last_chunk_at; /* now_s() when /ogg-chunked sent its last chunk */
} tsrv;

static int send_all(int fd, const void *p, size_t n)
{
  const char *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_chunk(int fd, const void *p, size_t n)
{
  char h[32];
  int hl = snprintf(h, sizeof h, "%zx\r\n", n);
  if (send_all(fd, h, (size_t)hl) || send_all(fd, p, n) || send_all(fd, "\r\n", 2))
    return -1;
  return 0;
}

/* Serves the requests of one connection until it closes; false: close it. */
static bool serve_one(tsrv *s, int fd, const char *path)
{
  atomic_fetch_add(&s->requests, 1);
  char head[256];
  if (strncmp(path, "/plain/", 7) == 0) {
    const char *body = path + 7;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     strlen(body));
    return send_all(fd, head, (size_t)n) == 0 && send_all(fd, body, strlen(body)) == 0;
  }
  if (strcmp(path, "/chunked") == 0) {
    const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    if (send_all(fd, h, strlen(h)))
      return false;
    for (int i = 0; i < 5; i++) {
      char part[64];
      int n = snprintf(part, sizeof part, "part%d;", i);
      if (send_chunk(fd, part, (size_t)n))
        return false;
      sleep_ms(100);
    }
    return send_all(fd, "0\r\n\r\n", 5) == 0;
  }
  if (strcmp(path, "/ogg-chunked") == 0) {
    const char *h =
        "HTTP/1.1 200 OK\r\nContent-Type: audio/ogg\r\nTransfer-Encoding: chunked\r\n\r\n";
    if (send_all(fd, h, strlen(h)))
      return false;
    for (size_t at = 0; at < s->ogg_len; at += 200) {
      size_t n = s->ogg_len - at < 200 ? s->ogg_len - at : 200;
      if (send_chunk(fd, s->ogg + at, n))
        return false;
      sleep_ms(8);
    }
    s->last_chunk_at = now_s();
    return send_all(fd, "0\r\n\r\n", 5) == 0;
  }
  if (strcmp(path, "/close") == 0) {
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    send_all(fd, r, strlen(r));
    return false;
  }
  if (strcmp(path, "/stall") == 0) {
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
    send_all(fd, h, strlen(h));
    for (int i = 0; i < 40 && !atomic_load(&s->quit); i++)
      sleep_ms(50);
    return false;
  }
  const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
  return send_all(fd, r, strlen(r)) == 0;
}

static void *conn_main(void *arg)
{
  void **a = arg;
  tsrv *s = a[0];
  int fd = (int)(intptr_t)a[1];
  free(a);
  char buf[4096];
  size_t have = 0;
  for (;;) {
    char *end = NULL;
    for (size_t i = 0; i + 4 <= have && !end; i++)
      if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
        end = buf + i;
    if (!end) {
      if (have == sizeof buf)
        break;
      ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
      if (r <= 0)
        break;
      have += (size_t)r;
      continue;
    }
    size_t used = (size_t)(end + 4 - buf);
    char path[512] = "";
    sscanf(buf, "GET %511s", path);
    bool keep = serve_one(s, fd, path);
    memmove(buf, buf + used, have - used);
    have -= used;
    if (!keep)
      break;
  }
  close(fd);
  return NULL;
}

static void *srv_main(void *arg)
{
  tsrv *s = arg;
  while (!atomic_load(&s->quit)) {
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      continue;
    if (atomic_load(&s->quit)) {
      close(fd);
      break;
    }
    atomic_fetch_add(&s->accepts, 1);
    void **a = malloc(2 * sizeof *a);
    a[0] = s;
    a[1] = (void *)(intptr_t)fd;
    pthread_t t;
    if (pthread_create(&t, NULL, conn_main, a) == 0)
      pthread_detach(t);
  }
  return NULL;
}

static void tsrv_start(tsrv *s)
{
  memset(s, 0, sizeof *s);
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(s->lfd >= 0);
  int one = 1;
  setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(s->lfd, 16), 0);
  socklen_t al = sizeof a;
  getsockname(s->lfd, (struct sockaddr *)&a, &al);
  s->port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void tsrv_stop(tsrv *s)
{
  atomic_store(&s->quit, true);
  /* wake accept() */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)s->port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  connect(fd, (struct sockaddr *)&a, sizeof a);
  close(fd);
  pthread_join(s->th, NULL);
  close(s->lfd);
  sleep_ms(50); /* connection threads see their sockets close */
}

/* ------------------------------------------------------------ body sinks */

typedef struct {
  char data[65536];
  size_t len;
  int calls;
  double first_at;
} collect;

static int on_collect(void *user, const uint8_t *d, size_t n)
{
  collect *c = user;
  if (c->calls++ == 0)
    c->first_at = now_s();
  if (n > sizeof c->data - 1 - c->len)
    return TTB_ERR_PROTOCOL;
  memcpy(c->data + c->len, d, n);
  c->len += n;
  c->data[c->len] = '\0';
  return TTB_OK;
}

static int get(ttb__http_session *hs, tsrv *s, const char *path, collect *c, int idle_ms,
               int *status, char *err, size_t errlen)
{
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
  memset(c, 0, sizeof *c);
  return ttb__http_session_get(hs, url, idle_ms, 0, on_collect, c, status, err, errlen);
}

/* ------------------------------------------------------------ tests */

Test(http_session, downloads_share_one_kept_alive_connection, .timeout = 30)
{
  tsrv s;
  tsrv_start(&s);
  ttb__http_session *hs = NULL;
  cr_assert_eq(ttb__http_session_create(NULL, &hs), TTB_OK);
  collect c;
  char err[256];
  int status = 0;
  for (int i = 0; i < 5; i++) {
    char path[64], want[32];
    snprintf(want, sizeof want, "file-%d", i);
    snprintf(path, sizeof path, "/plain/%s", want);
    cr_assert_eq(get(hs, &s, path, &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(c.data, want);
  }
  /* a chunked body and a 404 on the same connection */
  cr_assert_eq(get(hs, &s, "/chunked", &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
  cr_assert_eq(status, 200);
  cr_assert_str_eq(c.data, "part0;part1;part2;part3;part4;");
  cr_assert_eq(get(hs, &s, "/nothing-here", &c, 5000, &status, err, sizeof err), TTB_OK);
  cr_assert_eq(status, 404);
  cr_assert_eq(c.calls, 0, "a 404's body is not handed over");
  cr_assert_eq(get(hs, &s, "/plain/after", &c, 5000, &status, err, sizeof err), TTB_OK);
  cr_assert_str_eq(c.data, "after");
  cr_assert_eq(atomic_load(&s.requests), 8);
  cr_assert_eq(atomic_load(&s.accepts), 1, "8 GETs over %d TCP connections",
               atomic_load(&s.accepts));
  cr_assert_eq(ttb__http_session_connections(hs), 1, "the session counts the same");
  ttb__http_session_destroy(hs);
  tsrv_stop(&s);
}

Test(http_session, a_chunked_body_is_handed_over_as_it_comes, .timeout = 30)
{
  tsrv s;
  tsrv_start(&s);
  ttb__http_session *hs = NULL;
  cr_assert_eq(ttb__http_session_create(NULL, &hs), TTB_OK);
  collect c;
  char err[256];
  int status = 0;
  double t0 = now_s();
  cr_assert_eq(get(hs, &s, "/chunked", &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
  double t1 = now_s();
  cr_assert_str_eq(c.data, "part0;part1;part2;part3;part4;");
  /* 5 chunks 100 ms apart: several pieces, the first long before the end */
  cr_assert(c.calls >= 3, "%d pieces", c.calls);
  cr_assert(c.first_at - t0 < (t1 - t0) / 2, "first piece at %.3f s of %.3f s", c.first_at - t0,
            t1 - t0);
  ttb__http_session_destroy(hs);
  tsrv_stop(&s);
}

Test(http_session, a_closed_idle_connection_is_replaced, .timeout = 30)
{
  tsrv s;
  tsrv_start(&s);
  ttb__http_session *hs = NULL;
  cr_assert_eq(ttb__http_session_create(NULL, &hs), TTB_OK);
  collect c;
  char err[256];
  int status = 0;
  cr_assert_eq(get(hs, &s, "/plain/one", &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
  /* the server answers and closes */
  cr_assert_eq(get(hs, &s, "/close", &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
  cr_assert_str_eq(c.data, "ok");
  sleep_ms(100);
  cr_assert_eq(get(hs, &s, "/plain/two", &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
  cr_assert_str_eq(c.data, "two");
  cr_assert_eq(atomic_load(&s.accepts), 2);
  cr_assert_eq(ttb__http_session_connections(hs), 2);
  ttb__http_session_destroy(hs);
  tsrv_stop(&s);
}

Test(http_session, a_stalled_answer_times_out_and_the_next_works, .timeout = 30)
{
  tsrv s;
  tsrv_start(&s);
  ttb__http_session *hs = NULL;
  cr_assert_eq(ttb__http_session_create(NULL, &hs), TTB_OK);
  collect c;
  char err[256];
  int status = 0;
  double t0 = now_s();
  cr_assert_eq(get(hs, &s, "/stall", &c, 400, &status, err, sizeof err), TTB_ERR_NETWORK);
  double took = now_s() - t0;
  cr_assert(took >= 0.35 && took < 1.5, "gave up after %.2f s", took);
  cr_assert_str_eq(c.data, "abc", "what came was handed over");
  cr_assert_eq(get(hs, &s, "/plain/next", &c, 5000, &status, err, sizeof err), TTB_OK, "%s", err);
  cr_assert_str_eq(c.data, "next");
  /* nobody listens here */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:1/x");
  cr_assert_eq(ttb__http_session_get(hs, url, 2000, 0, on_collect, &c, &status, err, sizeof err),
               TTB_ERR_NETWORK);
  cr_assert(err[0]);
  /* the receiver stops a download: its error comes back */
  cr_assert_eq(get(hs, &s, "/chunked", &c, 5000, &status, err, sizeof err), TTB_OK);
  ttb__http_session_destroy(hs);
  tsrv_stop(&s);
}

#if TTB_HAVE_OPUSENC
typedef struct {
  ttb__ogg_opus *dec;
  size_t frames;
  double first_pcm_at;
} ogg_sink;

static int on_pcm(void *user, uint32_t ch, const int16_t *pcm, size_t frames)
{
  (void)ch;
  (void)pcm;
  ogg_sink *o = user;
  if (o->frames == 0)
    o->first_pcm_at = now_s();
  o->frames += frames;
  return TTB_OK;
}

static int on_ogg(void *user, const uint8_t *d, size_t n)
{
  ogg_sink *o = user;
  return ttb__ogg_opus_feed(o->dec, d, n, on_pcm, o, NULL);
}

Test(http_session, an_ogg_file_streamed_in_chunks_decodes_as_it_comes, .timeout = 60)
{
  tsrv s;
  tsrv_start(&s);
  synth_buf b;
  cr_assert_eq(synth_ogg_opus(3.0, 22050, 1, 0, 24000, &b), 0);
  s.ogg = b.data;
  s.ogg_len = b.len;
  ttb__http_session *hs = NULL;
  cr_assert_eq(ttb__http_session_create(NULL, &hs), TTB_OK);
  ogg_sink o = {0};
  cr_assert_eq(ttb__ogg_opus_create(&o.dec, NULL), TTB_OK);
  char url[128], err[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ogg-chunked", s.port);
  int status = 0;
  cr_assert_eq(ttb__http_session_get(hs, url, 5000, 0, on_ogg, &o, &status, err, sizeof err),
               TTB_OK, "%s", err);
  cr_assert_eq(status, 200);
  cr_assert(ttb__ogg_opus_ended(o.dec));
  cr_assert(o.frames > 3 * 48000 - 500 && o.frames < 3 * 48000 + 500, "%zu frames", o.frames);
  cr_assert(o.first_pcm_at > 0 && o.first_pcm_at < s.last_chunk_at - 0.1,
            "first PCM %.3f s before the last chunk", s.last_chunk_at - o.first_pcm_at);
  ttb__ogg_opus_destroy(o.dec);
  ttb__http_session_destroy(hs);
  tsrv_stop(&s);
  free(b.data);
}
#endif
