/* See it_util.h. */
#include "it_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"

extern char **environ;

static void msleep(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

bool it_have_server(void)
{
  const char *s = getenv("TTBOOST_SERVER"), *a = getenv("TTBOOST_ADMIN");
  return s && *s && a && *a;
}

void it_srv_start(it_srv *s, const char *const *extra)
{
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/ttb-netit-XXXXXX");
  cr_assert_not_null(mkdtemp(s->dir));
  const char *bin = getenv("TTBOOST_SERVER");
  /* the operator's ingest secret from the environment: never on argv */
  setenv("TTBOOST_INGEST_SECRET", IT_SECRET, 1);
  const char *argv[32] = {bin,    "--listen",       "127.0.0.1:0", "--data-dir",
                          s->dir, "--heartbeat-ms", "1000"};
  int n = 7;
  bool tls = false;
  for (int i = 0; extra && extra[i] && n < 30; i++) {
    if (strcmp(extra[i], "--tls-cert") == 0)
      tls = true;
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  pid_t parent = getpid();
  s->pid = fork();
  cr_assert(s->pid >= 0, "fork: %s", strerror(errno));
  if (s->pid == 0) {
    /* The server dies with the test (a timed-out test is killed before
         * its fini can stop it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    close(pipefd[1]);
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  close(pipefd[1]);
  s->out_fd = pipefd[0];
  char buf[4096];
  size_t len = 0;
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
  snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", tls ? "https" : "http", s->port);
  fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
}

void it_srv_stop(it_srv *s)
{
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    int st;
    for (int i = 0; i < 100; i++) {
      if (waitpid(s->pid, &st, WNOHANG) == s->pid)
        break;
      msleep(50);
      if (i == 99) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
      }
    }
    s->pid = 0;
    close(s->out_fd);
  }
  if (s->dir[0]) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", s->dir);
    s->dir[0] = '\0';
  }
}

static int run_admin(const it_srv *s, const char *const *args, char *out, size_t cap)
{
  const char *bin = getenv("TTBOOST_ADMIN");
  const char *argv[16] = {bin, "--data-dir", s->dir};
  int n = 3;
  for (int i = 0; args[i] && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  cr_assert_eq(rc, 0);
  size_t len = 0;
  ssize_t k;
  while (len + 1 < cap && (k = read(pipefd[0], out + len, cap - 1 - len)) > 0)
    len += (size_t)k;
  out[len] = '\0';
  close(pipefd[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void it_new_key(const it_srv *s, char *key, size_t cap) { it_new_key_with(s, NULL, key, cap); }

void it_new_key_with(const it_srv *s, const char *const *extra, char *key, size_t cap)
{
  const char *args[13] = {"license", "create", "--days", "30"};
  int n = 4;
  for (int i = 0; extra && extra[i] && n < 12; i++)
    args[n++] = extra[i];
  args[n] = NULL;
  char out[512];
  cr_assert_eq(run_admin(s, args, out, sizeof out), 0, "license create: %s", out);
  out[strcspn(out, "\r\n")] = '\0';
  cr_assert(strlen(out) > 8, "no key printed");
  snprintf(key, cap, "%s", out);
}

void it_revoke(const it_srv *s, const char *key)
{
  const char *args[] = {"license", "revoke", key, NULL};
  char out[512];
  cr_assert_eq(run_admin(s, args, out, sizeof out), 0, "license revoke: %s", out);
}

int it_ingest(const it_srv *s, const char *json)
{
  char url[128];
  snprintf(url, sizeof url, "%s/ingest/events", s->url);
  ttb__http_req req = {.method = "POST",
                       .url = url,
                       .content_type = "application/json",
                       .body = (const uint8_t *)json,
                       .body_len = strlen(json),
                       .bearer = IT_SECRET,
                       .timeout_ms = 10000,
                       .max_response = 1 << 16};
  ttb__http_resp resp;
  char err[256];
  int rc = ttb__http_lws(NULL, &req, &resp, err, sizeof err);
  cr_assert_eq(rc, TTB_OK, "ingest: %s", err);
  int st = resp.status;
  if (st != 202)
    fprintf(stderr, "ingest %d: %s\n", st, (const char *)resp.body);
  ttb__http_resp_finish(&resp);
  return st;
}

int it_chat(const it_srv *s, const char *channel, const char *who, const char *msg)
{
  char body[1024];
  snprintf(body, sizeof body,
           "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"%s\",\"message\":\"%s\"}", channel,
           who, msg);
  return it_ingest(s, body);
}

int it_gift(const it_srv *s, const char *channel, const char *name, int count)
{
  char body[512];
  snprintf(
      body, sizeof body,
      "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"giver\",\"gift_name\":\"%s\",\"count\":%d}",
      channel, name, count);
  return it_ingest(s, body);
}

/* ------------------------------------------------------------ proxy */

#define MAXPAIRS 32

typedef struct pair {
  int a, b; /* client side, server side; -1 when unused */
} pair;

static void reset_close(int fd)
{
  struct linger l = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

static int dial(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *proxy_main(void *arg)
{
  it_proxy *p = arg;
  pair pairs[MAXPAIRS];
  for (int i = 0; i < MAXPAIRS; i++)
    pairs[i].a = pairs[i].b = -1;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    bool stop = p->stop, refuse = p->refuse, hole = p->blackhole, cut = p->cut;
    p->cut = false;
    pthread_mutex_unlock(&p->mu);
    if (cut || stop) {
      for (int i = 0; i < MAXPAIRS; i++)
        if (pairs[i].a >= 0) {
          reset_close(pairs[i].a);
          reset_close(pairs[i].b);
          pairs[i].a = pairs[i].b = -1;
        }
    }
    if (stop)
      break;
    struct pollfd fds[1 + 2 * MAXPAIRS];
    int idx[1 + 2 * MAXPAIRS];
    int n = 0;
    fds[n] = (struct pollfd){p->listen_fd, POLLIN, 0};
    idx[n++] = -1;
    if (!hole)
      for (int i = 0; i < MAXPAIRS; i++)
        if (pairs[i].a >= 0) {
          fds[n] = (struct pollfd){pairs[i].a, POLLIN, 0};
          idx[n++] = i * 2;
          fds[n] = (struct pollfd){pairs[i].b, POLLIN, 0};
          idx[n++] = i * 2 + 1;
        }
    if (poll(fds, (nfds_t)n, 20) <= 0)
      continue;
    for (int k = 0; k < n; k++) {
      if (!fds[k].revents)
        continue;
      if (idx[k] < 0) {
        int c = accept(p->listen_fd, NULL, NULL);
        if (c < 0)
          continue;
        pthread_mutex_lock(&p->mu);
        p->accepted++;
        pthread_mutex_unlock(&p->mu);
        int slot = -1;
        for (int i = 0; i < MAXPAIRS; i++)
          if (pairs[i].a < 0) {
            slot = i;
            break;
          }
        int s = (refuse || slot < 0) ? -1 : dial(p->target_port);
        if (s < 0) {
          reset_close(c);
          continue;
        }
        pairs[slot].a = c;
        pairs[slot].b = s;
        continue;
      }
      pair *pr = &pairs[idx[k] / 2];
      if (pr->a < 0)
        continue;
      int from = (idx[k] % 2) ? pr->b : pr->a, to = (idx[k] % 2) ? pr->a : pr->b;
      char buf[16384];
      ssize_t r = recv(from, buf, sizeof buf, 0);
      bool ok = r > 0;
      for (ssize_t off = 0; ok && off < r;) {
        ssize_t w = send(to, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
        if (w <= 0)
          ok = false;
        else
          off += w;
      }
      if (!ok) {
        close(pr->a);
        close(pr->b);
        pr->a = pr->b = -1;
      }
    }
  }
  return NULL;
}

void it_proxy_start(it_proxy *p, int target_port)
{
  memset(p, 0, sizeof *p);
  p->target_port = target_port;
  pthread_mutex_init(&p->mu, NULL);
  p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(p->listen_fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(p->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(p->listen_fd, 16), 0);
  socklen_t al = sizeof a;
  getsockname(p->listen_fd, (struct sockaddr *)&a, &al);
  p->port = ntohs(a.sin_port);
  snprintf(p->url, sizeof p->url, "http://127.0.0.1:%d", p->port);
  cr_assert_eq(pthread_create(&p->th, NULL, proxy_main, p), 0);
}

void it_proxy_stop(it_proxy *p)
{
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->th, NULL);
  close(p->listen_fd);
  pthread_mutex_destroy(&p->mu);
}

void it_proxy_cut(it_proxy *p)
{
  pthread_mutex_lock(&p->mu);
  p->cut = true;
  pthread_mutex_unlock(&p->mu);
  msleep(60);
}

void it_proxy_refuse(it_proxy *p, bool on)
{
  pthread_mutex_lock(&p->mu);
  p->refuse = on;
  pthread_mutex_unlock(&p->mu);
}

void it_proxy_blackhole(it_proxy *p, bool on)
{
  pthread_mutex_lock(&p->mu);
  p->blackhole = on;
  pthread_mutex_unlock(&p->mu);
}

unsigned it_proxy_accepted(it_proxy *p)
{
  pthread_mutex_lock(&p->mu);
  unsigned n = p->accepted;
  pthread_mutex_unlock(&p->mu);
  return n;
}
