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

#include "ttboost/v1/auth.pbc-json.h"

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
  const char *argv[48] = {bin,    "--listen",       "127.0.0.1:0", "--data-dir",
                          s->dir, "--heartbeat-ms", "1000"};
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

int http(const srv *s, const char *method, const char *path, const char *extra_headers,
         const void *body, size_t body_len, http_resp *r)
{
  char url[1200];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port,
           path); /* s->port: tests point it elsewhere */
  char err[256] = "";
  int st = ttb_tc_http(url, method, extra_headers, body, body_len, 20000, r, err, sizeof err);
  if (st < 0)
    fprintf(stderr, "http: %s\n", err);
  return st;
}

void http_free(http_resp *r) { ttb_tc_resp_free(r); }

int login(const srv *s, const char *key, const char *device, char *user_id, char *token)
{
  char body[512];
  if (device)
    snprintf(body, sizeof body, "{\"license_key\":\"%s\",\"device_id\":\"%s\"}", key, device);
  else
    snprintf(body, sizeof body, "{\"license_key\":\"%s\"}", key);
  http_resp r;
  int st =
      http(s, "POST", "/auth/login", "Content-Type: application/json\r\n", body, strlen(body), &r);
  if (st == 200) {
    /* the answer through the generated codec of LoginResponse */
    ttb_json_error err = {0};
    Ttboost__V1__LoginResponse *m =
        ttb_pbc_ttboost_v1_LoginResponse_from_json(r.body, r.body_len, NULL, &err);
    cr_assert_not_null(m, "login answer: %s: %s", err.msg, r.body);
    cr_assert(strlen(m->user_id) < 64 && strlen(m->ws_token) < 64 && m->ws_token[0], "%s", r.body);
    snprintf(user_id, 64, "%s", m->user_id);
    snprintf(token, 64, "%s", m->ws_token);
    ttboost__v1__login_response__free_unpacked(m, NULL);
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
  w->fd = -1;
  w->c = NULL;
  w->subprotocol[0] = '\0';
  char err[256] = "";
  int st = ttb_tc_ws_connect(&w->c, "127.0.0.1", s->port, false, path, subprotocol, NULL, 10000,
                             err, sizeof err);
  cr_assert(st >= 0, "WebSocket to %s: %s", path, err);
  if (st > 0)
    return st;
  w->fd = ttb_tc_ws_fd(w->c);
  snprintf(w->subprotocol, sizeof w->subprotocol, "%s", ttb_tc_ws_subprotocol(w->c));
  return 0;
}

int ws_send(ws *w, int opcode, const void *data, size_t len)
{
  return w->c ? ttb_tc_ws_send(w->c, opcode, data, len) : -1;
}

int ws_recv(ws *w, const uint8_t **data, size_t *len, int timeout_ms)
{
  return w->c ? ttb_tc_ws_recv(w->c, data, len, timeout_ms) : -1;
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
  ttb_tc_ws_free(w->c);
  w->c = NULL;
  w->fd = -1;
}

bool ws_pending(const ws *w) { return w->c && ttb_tc_ws_pending(w->c); }

long long json_num(const char *js, const char *key)
{
  int64_t v;
  return ttb_tc_json_int(js, strlen(js), key, &v) ? (long long)v : -1;
}

bool json_str(const char *js, const char *key, char *out, size_t cap)
{
  return ttb_tc_json_str(js, strlen(js), key, out, cap);
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
