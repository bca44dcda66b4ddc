/* See harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

extern char **environ;

const char *env_or_fail(const char *name)
{
  const char *v = getenv(name);
  cr_assert(v && *v, "%s is not set (run through meson test)", name);
  return v;
}

void srv_start(srv *s, const char *const *extra, bool keep_dir)
{
  if (!keep_dir) {
    snprintf(s->dir, sizeof s->dir, "/tmp/ttb-it-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
  }
  const char *bin = env_or_fail("TTBOOST_SERVER");
  /* the operator's ingest secret comes from the environment (never argv);
   * a test that set the variable itself ("" = none) keeps its own */
  if (getenv("TTBOOST_INGEST_SECRET") == NULL)
    setenv("TTBOOST_INGEST_SECRET", TEST_SECRET, 1);
  const char *argv[48] = {bin, "--listen", "127.0.0.1:0", "--data-dir", s->dir, "--heartbeat-ms", "1000"};
  int n = 7;
  /* /metrics for the tests: on the main port with a token (METRICS_AUTH) */
  static char mtok[300];
  snprintf(mtok, sizeof mtok, "%s/metrics_token", s->dir);
  FILE *mf = fopen(mtok, "w");
  cr_assert_not_null(mf);
  fputs(TEST_METRICS_TOKEN "\n", mf);
  fclose(mf);
  argv[n++] = "--metrics-token-file";
  argv[n++] = mtok;
  for (int i = 0; extra && extra[i] && n < 46; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  int rc = posix_spawn(&s->pid, bin, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  cr_assert_eq(rc, 0, "cannot start %s: %s", bin, strerror(rc));
  s->out_fd = pipefd[0];
  /* wait for "listening on http://127.0.0.1:PORT" */
  char buf[4096];
  size_t len = 0;
  s->port = 0;
  for (int tries = 0; tries < 300 && s->port == 0; tries++) {
    struct pollfd p = {s->out_fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    ssize_t k = read(s->out_fd, buf + len, sizeof buf - 1 - len);
    cr_assert(k > 0, "the server exited early: %.*s", (int)len, buf);
    len += (size_t)k;
    buf[len] = '\0';
    const char *m = strstr(buf, "listening on http");
    if (m) {
      const char *c = strstr(m, "127.0.0.1:");
      if (c)
        s->port = atoi(c + 10);
    }
  }
  cr_assert(s->port > 0, "the server did not say where it listens: %s", buf);
  snprintf(s->startup, sizeof s->startup, "%s", buf);
  snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
  fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
}

int srv_stop(srv *s)
{
  if (s->pid <= 0)
    return -1;
  kill(s->pid, SIGTERM);
  int st = -1;
  for (int i = 0; i < 100; i++) {
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r == s->pid)
      break;
    usleep(50000);
    if (i == 99) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &st, 0);
      st = -1;
    }
  }
  s->pid = 0;
  close(s->out_fd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void srv_cleanup(srv *s)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", s->dir);
}

int admin(const srv *s, char *out, size_t cap, const char *const *args)
{
  const char *bin = env_or_fail("TTBOOST_ADMIN");
  const char *argv[32] = {bin, "--data-dir", s->dir};
  int n = 3;
  for (int i = 0; args[i] && n < 30; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  cr_assert_eq(rc, 0);
  size_t len = 0;
  ssize_t k;
  while ((k = read(pipefd[0], out + len, cap - 1 - len)) > 0)
    len += (size_t)k;
  out[len] = '\0';
  close(pipefd[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void new_key(const srv *s, char *key, size_t cap, const char *days, const char *devices)
{
  const char *args[10] = {"license", "create"};
  int n = 2;
  if (days) {
    args[n++] = "--days";
    args[n++] = days;
  }
  if (devices) {
    args[n++] = "--devices";
    args[n++] = devices;
  }
  args[n] = NULL;
  char out[512];
  cr_assert_eq(admin(s, out, sizeof out, args), 0, "license create failed: %s", out);
  out[strcspn(out, "\r\n")] = '\0';
  cr_assert(strlen(out) > 10, "no key printed");
  snprintf(key, cap, "%s", out);
}

static int dial(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0)
      return;
    c += k;
    n -= (size_t)k;
  }
}

int http(const srv *s, const char *method, const char *path, const char *extra_headers,
         const void *body, size_t body_len, http_resp *r)
{
  memset(r, 0, sizeof *r);
  int fd = dial(s->port);
  char head[8192];
  int hn = snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                    method, path, extra_headers ? extra_headers : "", body_len);
  send_all(fd, head, (size_t)hn);
  if (body_len)
    send_all(fd, body, body_len);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      buf = realloc(buf, cap);
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 20000) <= 0)
      break;
    ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  close(fd);
  buf[len] = '\0';
  char *end = strstr(buf, "\r\n\r\n");
  if (end == NULL) {
    free(buf);
    return -1;
  }
  sscanf(buf, "HTTP/1.%*d %d", &r->status);
  size_t hl = (size_t)(end - buf);
  snprintf(r->headers, sizeof r->headers, "%.*s", (int)(hl < sizeof r->headers ? hl : sizeof r->headers - 1), buf);
  r->body_len = len - hl - 4;
  r->body = malloc(r->body_len + 1);
  memcpy(r->body, end + 4, r->body_len);
  r->body[r->body_len] = '\0';
  /* chunked bodies: undo the framing (small responses only) */
  if (strcasestr(r->headers, "transfer-encoding: chunked")) {
    char *o = r->body, *p = r->body;
    size_t out = 0;
    for (;;) {
      long n = strtol(p, &p, 16);
      p = strstr(p, "\r\n");
      if (n <= 0 || p == NULL)
        break;
      p += 2;
      memmove(o + out, p, (size_t)n);
      out += (size_t)n;
      p += n + 2;
    }
    r->body_len = out;
    r->body[out] = '\0';
  }
  free(buf);
  return r->status;
}

void http_free(http_resp *r)
{
  free(r->body);
  r->body = NULL;
}

int login(const srv *s, const char *key, const char *device, char *user_id, char *token)
{
  char body[512];
  if (device)
    snprintf(body, sizeof body, "{\"license_key\":\"%s\",\"device_id\":\"%s\"}", key, device);
  else
    snprintf(body, sizeof body, "{\"license_key\":\"%s\"}", key);
  http_resp r;
  int st = http(s, "POST", "/auth/login", "Content-Type: application/json\r\n", body, strlen(body), &r);
  if (st == 200) {
    cr_assert(json_str(r.body, "user_id", user_id, 64), "%s", r.body);
    cr_assert(json_str(r.body, "ws_token", token, 64), "%s", r.body);
  }
  http_free(&r);
  return st;
}

int ingest(const srv *s, const char *json, http_resp *r)
{
  return http(s, "POST", "/ingest/events",
              "Content-Type: application/json\r\nAuthorization: Bearer " TEST_SECRET "\r\n", json,
              strlen(json), r);
}

/* ------------------------------------------------------------- WebSocket */

int ws_connect(ws *w, const srv *s, const char *path, const char *subprotocol)
{
  w->fd = dial(s->port);
  w->len = 0;
  w->subprotocol[0] = '\0';
  uint8_t nonce[16];
  randombytes_buf(nonce, sizeof nonce);
  char key[32];
  sodium_bin2base64(key, sizeof key, nonce, sizeof nonce, sodium_base64_VARIANT_ORIGINAL);
  char req[1024], proto[128] = "";
  if (subprotocol)
    snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s\r\n", subprotocol);
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   path, key, proto);
  send_all(w->fd, req, (size_t)n);
  /* read the response head */
  for (;;) {
    struct pollfd p = {w->fd, POLLIN, 0};
    cr_assert(poll(&p, 1, 10000) > 0, "no handshake answer");
    ssize_t k = recv(w->fd, w->buf + w->len, sizeof w->buf - w->len, 0);
    cr_assert(k > 0, "connection closed during the handshake");
    w->len += (size_t)k;
    uint8_t *end = memmem(w->buf, w->len, "\r\n\r\n", 4);
    if (end == NULL)
      continue;
    int status = 0;
    sscanf((char *)w->buf, "HTTP/1.1 %d", &status);
    size_t hl = (size_t)(end - w->buf) + 4;
    char head[4096];
    snprintf(head, sizeof head, "%.*s", (int)(hl < sizeof head ? hl : sizeof head - 1), w->buf);
    const char *sp = strcasestr(head, "sec-websocket-protocol: ");
    if (sp)
      sscanf(sp + 24, "%63[^\r\n]", w->subprotocol);
    memmove(w->buf, w->buf + hl, w->len - hl);
    w->len -= hl;
    if (status != 101) {
      close(w->fd);
      w->fd = -1;
      return status;
    }
    return 0;
  }
}

int ws_send(ws *w, int opcode, const void *data, size_t len)
{
  uint8_t head[14];
  size_t hn = 0;
  head[hn++] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    head[hn++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    head[hn++] = 0x80 | 126;
    head[hn++] = (uint8_t)(len >> 8);
    head[hn++] = (uint8_t)len;
  } else {
    head[hn++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      head[hn++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  uint8_t mask[4];
  randombytes_buf(mask, 4);
  memcpy(head + hn, mask, 4);
  hn += 4;
  uint8_t *buf = malloc(hn + len + 1);
  memcpy(buf, head, hn);
  for (size_t i = 0; i < len; i++)
    buf[hn + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
  send_all(w->fd, buf, hn + len);
  free(buf);
  return 0;
}

int ws_recv(ws *w, const uint8_t **data, size_t *len, int timeout_ms)
{
  static uint8_t frame[1 << 20];
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    /* a whole frame buffered? */
    if (w->len >= 2) {
      uint8_t op = w->buf[0] & 0x0F;
      uint64_t n = w->buf[1] & 0x7F;
      size_t hn = 2;
      if (n == 126 && w->len >= 4) {
        n = (uint64_t)w->buf[2] << 8 | w->buf[3];
        hn = 4;
      } else if (n == 127 && w->len >= 10) {
        n = 0;
        for (int i = 0; i < 8; i++)
          n = n << 8 | w->buf[2 + i];
        hn = 10;
      } else if (n >= 126) {
        hn = 0; /* need more */
      }
      if (hn && w->len >= hn + n) {
        memcpy(frame, w->buf + hn, (size_t)n);
        memmove(w->buf, w->buf + hn + n, w->len - hn - (size_t)n);
        w->len -= hn + (size_t)n;
        if (op == 9) { /* ping: answer */
          ws_send(w, 10, frame, (size_t)n);
          continue;
        }
        if (op == 10)
          continue;
        *data = frame;
        *len = (size_t)n;
        return op;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0)
      return 0;
    struct pollfd p = {w->fd, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0)
      return 0;
    ssize_t k = recv(w->fd, w->buf + w->len, sizeof w->buf - w->len, 0);
    if (k <= 0)
      return -1;
    w->len += (size_t)k;
  }
}

bool ws_text(ws *w, char *out, size_t cap, int timeout_ms)
{
  const uint8_t *d;
  size_t n;
  int op = ws_recv(w, &d, &n, timeout_ms);
  if (op != 1)
    return false;
  snprintf(out, cap, "%.*s", (int)n, (const char *)d);
  return true;
}

void ws_close(ws *w)
{
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
}

long long json_num(const char *js, const char *key)
{
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(js, pat);
  if (p == NULL)
    return -1;
  return strtoll(p + strlen(pat), NULL, 10);
}

bool json_str(const char *js, const char *key, char *out, size_t cap)
{
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(js, pat);
  if (p == NULL)
    return false;
  p += strlen(pat);
  const char *e = strchr(p, '"');
  if (e == NULL)
    return false;
  snprintf(out, cap, "%.*s", (int)(e - p), p);
  return true;
}

int run_capture(const char *const *argv, char *out, size_t cap)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  cr_assert_eq(rc, 0, "cannot run %s", argv[0]);
  size_t len = 0;
  ssize_t k;
  char sink[4096];
  while ((k = read(p[0], len + 1 < cap ? out + len : sink,
                   len + 1 < cap ? cap - 1 - len : sizeof sink)) > 0)
    if (len + 1 < cap)
      len += (size_t)k;
  out[len] = '\0';
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

double proc_cpu_seconds(pid_t pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  cr_assert_not_null(p);
  unsigned long long ut = 0, st = 0;
  /* after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
  cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st), 2);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
