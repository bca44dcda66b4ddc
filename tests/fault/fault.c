/* See fault.h. */
#define _GNU_SOURCE
#include "fault.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool send_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0)
      return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

int raw_http(int port, const char *method, const char *path, const char *headers, const char *body,
             size_t blen, char *out, size_t cap, int timeout_ms)
{
  if (out && cap)
    out[0] = '\0';
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  ttb_tc_resp r;
  int status = ttb_tc_http(url, method, headers, body, blen, timeout_ms, &r, NULL, 0);
  if (status >= 0 && out && cap)
    snprintf(out, cap, "%s", r.body);
  ttb_tc_resp_free(&r);
  return status;
}

int raw_ingest(int port, const char *json, char *out, size_t cap)
{
  return raw_http(port, "POST", "/ingest/events",
                  "Content-Type: application/json\r\nAuthorization: Bearer " TEST_SECRET "\r\n",
                  json, strlen(json), out, cap, 15000);
}

double metric(const srv *s, const char *name)
{
  static char body[1 << 17];
  int st = raw_http(s->port, "GET", "/metrics", METRICS_AUTH, NULL, 0, body, sizeof body, 5000);
  if (st != 200)
    return -1;
  size_t nl = strlen(name);
  for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
    if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
      return strtod(p + nl + 1, NULL);
  }
  return -1;
}

long vmrss_kb(pid_t pid)
{
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

int fd_count(pid_t pid)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

int event_json(char *out, size_t cap, const char *channel, int i, bool chat)
{
  if (chat)
    return snprintf(
        out, cap,
        "{\"channel\":\"%s\",\"type\":\"chat\",\"user\":\"u\",\"message\":\"c%d\",\"id\":\"e%d\"}",
        channel, i, i);
  return snprintf(
      out, cap,
      "{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"u\",\"gift_name\":\"G%d\",\"count\":1,"
      "\"id\":\"e%d\"}",
      channel, i, i);
}

/* ------------------------------------------------------------ the tracker */

static int track_parse(track *t, const char *js);

int track_take(track *t, const char *m, size_t n)
{
  /* the whole message: the JSON reader wants a complete document */
  char *js = strndup(m, n);
  cr_assert_not_null(js);
  int i = track_parse(t, js);
  free(js);
  return i;
}

static int track_parse(track *t, const char *js)
{
  char type[32] = "", v[64] = "";
  json_str(js, "type", type, sizeof type);
  if (strcmp(type, "error") == 0) {
    t->errors++;
    snprintf(t->last_error, sizeof t->last_error, "%.200s", js);
    return 0;
  }
  int i = 0;
  bool chat = strcmp(type, "chat") == 0;
  if (chat && json_str(js, "message", v, sizeof v) && v[0] == 'c')
    i = atoi(v + 1);
  else if (strcmp(type, "gift") == 0 && json_str(js, "gift_name", v, sizeof v) && v[0] == 'G')
    i = atoi(v + 1);
  if (i <= 0 || i >= TRACK_MAX)
    return 0;
  long long seq = json_num(js, "seq");
  if (seq <= t->last_seq)
    t->seq_back++;
  else
    t->last_seq = seq;
  if (i <= t->last_i)
    t->order_back++;
  t->last_i = i;
  if (t->count[i] < 255)
    t->count[i]++;
  t->n++;
  if (chat) {
    t->chats++;
    char url[512] = "";
    if (!json_str(js, "tts_url", url, sizeof url) || url[0] == '\0')
      t->no_url++;
  }
  return i;
}

int track_drain(ws *w, track *t, int timeout_ms)
{
  double end = now_s() + timeout_ms / 1000.0;
  for (;;) {
    int left = (int)((end - now_s()) * 1000);
    const uint8_t *d;
    size_t n;
    /* at least 1 ms: with 0 the harness only parses what it buffered */
    int op = ws_recv(w, &d, &n, left > 1 ? left : 1);
    if (op == 0)
      return 0;
    if (op < 0)
      return -1;
    if (op == 8) {
      t->close_code = n >= 2 ? d[0] << 8 | d[1] : 1005;
      snprintf(t->close_reason, sizeof t->close_reason, "%.*s", n > 2 ? (int)(n - 2) : 0,
               (const char *)d + 2);
      return -1;
    }
    if (op == 1)
      track_take(t, (const char *)d, n);
  }
}

bool track_has_all(const track *t, const bool *want, int from, int to, int *missing)
{
  for (int i = from; i < to; i++)
    if (want[i] && t->count[i] == 0) {
      if (missing)
        *missing = i;
      return false;
    }
  return true;
}

/* -------------------------------------------------------------- the proxy */

struct proxy {
  int lfd, port, up_port, up_rcvbuf;
  int cfd, ufd; /* the client's and the server's side, -1 when none */
  _Atomic int mode;
  _Atomic long cut_after; /* -1: none */
  _Atomic bool cut_rst;
  _Atomic int cuts;
  _Atomic bool stop;
  pthread_t th;
};

static void pair_close(proxy *p, bool rst)
{
  if (rst) {
    struct linger l = {1, 0};
    if (p->cfd >= 0)
      setsockopt(p->cfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    if (p->ufd >= 0)
      setsockopt(p->ufd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  if (p->cfd >= 0)
    close(p->cfd);
  if (p->ufd >= 0)
    close(p->ufd);
  p->cfd = p->ufd = -1;
}

/* Copies what is readable on from to to; false when from ended (or to failed). */
static bool pump(int from, int to, long limit, long *moved)
{
  char buf[16384];
  size_t want = sizeof buf;
  if (limit >= 0 && (size_t)limit < want)
    want = (size_t)limit;
  ssize_t k = recv(from, buf, want, MSG_DONTWAIT);
  if (k == 0)
    return false;
  if (k < 0)
    return errno == EAGAIN || errno == EINTR;
  *moved = k;
  return send_all(to, buf, (size_t)k);
}

static void *proxy_main(void *arg)
{
  proxy *p = arg;
  while (!p->stop) {
    struct pollfd f[3] = {{p->lfd, POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    int mode = p->mode;
    if (p->cfd >= 0 && mode != PX_STALL_ALL)
      f[1].fd = p->cfd;
    if (p->ufd >= 0 && mode == PX_FORWARD)
      f[2].fd = p->ufd;
    long cut = p->cut_after;
    if (p->cfd >= 0 && cut == 0) {
      pair_close(p, p->cut_rst);
      p->cut_after = -1;
      p->cuts++;
      continue;
    }
    if (poll(f, 3, 10) <= 0)
      continue;
    if (f[0].revents & POLLIN) {
      int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        pair_close(p, false);
        int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (u >= 0 && p->up_rcvbuf > 0)
          setsockopt(u, SOL_SOCKET, SO_RCVBUF, &p->up_rcvbuf, sizeof p->up_rcvbuf);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->up_port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
          if (u >= 0)
            close(u);
          close(c);
        } else {
          int one = 1;
          setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          p->cfd = c;
          p->ufd = u;
        }
      }
      continue;
    }
    long moved = 0;
    if (f[1].fd >= 0 && (f[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!pump(p->cfd, p->ufd, -1, &moved)) {
        pair_close(p, false);
        continue;
      }
    }
    if (f[2].fd >= 0 && p->ufd >= 0 && (f[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      moved = 0;
      if (!pump(p->ufd, p->cfd, cut, &moved)) {
        pair_close(p, false);
        continue;
      }
      if (cut > 0) /* counts down to 0: the cut happens at the next turn */
        p->cut_after = cut - moved < 0 ? 0 : cut - moved;
    }
  }
  pair_close(p, false);
  return NULL;
}

proxy *proxy_start(int upstream_port, int upstream_rcvbuf)
{
  proxy *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->up_port = upstream_port;
  p->up_rcvbuf = upstream_rcvbuf;
  p->cfd = p->ufd = -1;
  p->cut_after = -1;
  p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof a;
  if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->lfd, 16) != 0 ||
      getsockname(p->lfd, (struct sockaddr *)&a, &l) != 0) {
    if (p->lfd >= 0)
      close(p->lfd);
    free(p);
    return NULL;
  }
  p->port = ntohs(a.sin_port);
  if (pthread_create(&p->th, NULL, proxy_main, p) != 0) {
    close(p->lfd);
    free(p);
    return NULL;
  }
  return p;
}

int proxy_port(const proxy *p) { return p->port; }
void proxy_mode(proxy *p, px_mode m) { p->mode = (int)m; }
void proxy_cut_after(proxy *p, long bytes, bool rst)
{
  p->cut_rst = rst;
  p->cut_after = bytes;
}
int proxy_cuts(const proxy *p) { return p->cuts; }

void proxy_stop(proxy *p)
{
  if (p == NULL)
    return;
  p->stop = true;
  pthread_join(p->th, NULL);
  close(p->lfd);
  free(p);
}

/* -------------------------------------------------------------- the disk */

int tmpfs_mount(const char *dir, const char *size)
{
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
  return mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) == 0 ? 0 : errno;
}

void tmpfs_umount(const char *dir) { umount2(dir, MNT_DETACH); }

long fill_disk(const char *path, long max)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return 0;
  static char zeros[4096];
  long total = 0;
  while (total < max) {
    ssize_t k = write(fd, zeros, sizeof zeros);
    if (k <= 0)
      break;
    total += k;
  }
  /* the last partial block too */
  while (total < max && write(fd, zeros, 1) == 1)
    total++;
  close(fd);
  return total;
}

/* ------------------------------------------------ helpers that assert */

void fault_post_ok(const srv *s, const char *json)
{
  char out[512];
  int st = raw_ingest(s->port, json, out, sizeof out);
  cr_assert_eq(st, 202, "ingest: %d %s", st, out);
}

void fault_open_ws(const srv *s, ws *w, const char *token)
{
  char path[128];
  snprintf(path, sizeof path, "/ws/%s", token);
  cr_assert_eq(ws_connect(w, s, path, NULL), 0);
  char m[4096];
  cr_assert(ws_text(w, m, sizeof m, 5000) && strstr(m, "\"hello\""), "no hello");
}

void fault_wait_all(const srv *s, ws *w, track *t, const bool *want, int from, int to, double idle)
{
  double last = now_s();
  while (!track_has_all(t, want, from, to, NULL) && now_s() - last < idle) {
    int had = t->n;
    if (track_drain(w, t, 100) < 0) {
      char said[4096] = "";
      usleep(300000);
      ssize_t k = read(s->out_fd, said, sizeof said - 1);
      said[k > 0 ? k : 0] = '\0';
      int st = 0;
      bool died = waitpid(s->pid, &st, WNOHANG) == s->pid;
      cr_assert_fail("the socket closed after %d events (%d %s); the server %s (%s%d); it said: %s",
                     t->n, t->close_code, t->close_reason, died ? "died" : "runs",
                     died && WIFSIGNALED(st) ? "signal " : "",
                     died ? (WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)) : 0, said);
    }
    if (t->n > had)
      last = now_s();
  }
}

void fault_mount_or_skip(const char *dir, const char *size)
{
  if (geteuid() != 0)
    cr_skip_test(
        "needs root to mount a tmpfs (CI runs as root): the full-disk scenario was NOT run");
  int e = tmpfs_mount(dir, size);
  if (e == EPERM)
    cr_skip_test(
        "mount refused (EPERM: no CAP_SYS_ADMIN here): the full-disk scenario was NOT run");
  cr_assert_eq(e, 0, "mount tmpfs on %s: %s", dir, strerror(e));
}
