/*
 * benchsrv.c — see benchsrv.h.
 */
#define _GNU_SOURCE
#include "benchsrv.h"

#include "ttb_tc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

uint64_t bs_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int benchsrv_init(benchsrv *s, const char *prefix, char *err, size_t errlen)
{
  s->pid = -1;
  s->port = 0;
  snprintf(s->tmpdir, sizeof s->tmpdir, "/tmp/%sXXXXXX", prefix);
  if (mkdtemp(s->tmpdir) == NULL) {
    int e = errno;
    s->tmpdir[0] = '\0';
    return fail(err, errlen, "mkdtemp: %s", strerror(e));
  }
  snprintf(s->datadir, sizeof s->datadir, "%s/data", s->tmpdir);
  return 0;
}

int benchsrv_start(benchsrv *s, char *const extra[], int n_extra, char *err, size_t errlen)
{
  char log[512], mtok[512];
  snprintf(log, sizeof log, "%s/server.log", s->tmpdir);
  snprintf(mtok, sizeof mtok, "%s/metrics_token", s->tmpdir);
  FILE *mf = fopen(mtok, "w");
  if (mf == NULL)
    return fail(err, errlen, "%s: %s", mtok, strerror(errno));
  bool ok = fputs(BENCHSRV_METRICS_TOKEN "\n", mf) >= 0;
  if (fclose(mf) != 0 || !ok)
    return fail(err, errlen, "%s: cannot write", mtok);

  size_t na = 8 + (size_t)(n_extra > 0 ? n_extra : 0);
  char **argv = calloc(na, sizeof *argv);
  size_t nenv = 0;
  while (environ[nenv])
    nenv++;
  char **envp = calloc(nenv + 2, sizeof *envp);
  if (argv == NULL || envp == NULL) {
    free(argv);
    free(envp);
    return fail(err, errlen, "out of memory");
  }
  size_t a = 0;
  argv[a++] = (char *)s->server_path;
  argv[a++] = "--listen";
  argv[a++] = "127.0.0.1:0";
  argv[a++] = "--data-dir";
  argv[a++] = s->datadir;
  argv[a++] = "--metrics-token-file";
  argv[a++] = mtok;
  for (int i = 0; i < n_extra; i++)
    argv[a++] = extra[i];
  argv[a] = NULL;
  /* the ingest secret only in the child's environment, never on argv */
  size_t e = 0;
  for (size_t i = 0; i < nenv; i++)
    if (strncmp(environ[i], "TTBOOST_INGEST_SECRET=", 22) != 0)
      envp[e++] = environ[i];
  envp[e++] = "TTBOOST_INGEST_SECRET=" BENCHSRV_INGEST_SECRET;
  envp[e] = NULL;

  int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (lfd < 0) {
    free(argv);
    free(envp);
    return fail(err, errlen, "%s: %s", log, strerror(errno));
  }
  pid_t pid = fork();
  if (pid < 0) {
    int er = errno;
    close(lfd);
    free(argv);
    free(envp);
    return fail(err, errlen, "fork: %s", strerror(er));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(lfd, 1);
    dup2(lfd, 2);
    execve(argv[0], argv, envp);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(lfd);
  free(argv);
  free(envp);
  s->pid = pid;

  /* wait for "listening on http://HOST:PORT" */
  uint64_t t0 = bs_now_ns();
  char buf[8192];
  while (bs_now_ns() - t0 < 30000000000ull) {
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
      fclose(f);
    buf[n] = '\0';
    const char *p = strstr(buf, "listening on http://");
    if (p) {
      p += strlen("listening on http://");
      const char *colon = NULL;
      for (const char *q = p; *q && *q != ' ' && *q != '\n' && *q != '/'; q++)
        if (*q == ':')
          colon = q;
      long port = colon ? strtol(colon + 1, NULL, 10) : 0;
      if (port <= 0 || port > 65535) {
        benchsrv_stop(s);
        return fail(err, errlen, "cannot parse the port from the server's line: %.80s", p);
      }
      s->port = (uint16_t)port;
      return 0;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = -1;
      return fail(err, errlen, "the server exited before listening (status %d); its output:\n%s",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1, buf);
    }
    usleep(10000);
  }
  benchsrv_stop(s);
  return fail(err, errlen, "the server did not print its listening line within 30 s:\n%s", buf);
}

void benchsrv_stop(benchsrv *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 100; i++) { /* 5 s, then the hard way */
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = -1;
      return;
    }
    usleep(50000);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void benchsrv_cleanup(benchsrv *s)
{
  benchsrv_stop(s);
  if (s->tmpdir[0] && !s->keep_tmp)
    nftw(s->tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  s->tmpdir[0] = '\0';
}

int benchsrv_license(benchsrv *s, char *key, size_t cap, char *err, size_t errlen)
{
  char errp[512];
  snprintf(errp, sizeof errp, "%s/admin.err", s->tmpdir);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return fail(err, errlen, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return fail(err, errlen, "fork: %s", strerror(e));
  }
  if (pid == 0) {
    dup2(p[1], 1);
    int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (e >= 0)
      dup2(e, 2);
    execl(s->admin_path, s->admin_path, "--data-dir", s->datadir, "license", "create", "--days",
          "30", (char *)NULL);
    dprintf(2, "cannot run %s: %s\n", s->admin_path, strerror(errno));
    _exit(127);
  }
  close(p[1]);
  char out[1024];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(p[0], out + n, sizeof out - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
    if (n == sizeof out - 1)
      break;
  }
  out[n] = '\0';
  close(p[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  out[strcspn(out, "\r\n")] = '\0';
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || out[0] == '\0' || strlen(out) >= cap) {
    char e[1024] = "";
    FILE *f = fopen(errp, "r");
    if (f) {
      e[fread(e, 1, sizeof e - 1, f)] = '\0';
      fclose(f);
    }
    return fail(err, errlen, "ttboost-admin license create failed (stdout '%s'): %s", out, e);
  }
  snprintf(key, cap, "%s", out);
  return 0;
}

/* ------------------------------------------------------------- CPU time */

typedef struct {
  pid_t pid, ppid;
  double cpu; /* utime + stime + cutime + cstime */
} proc_cpu;

static bool read_stat(pid_t pid, proc_cpu *out)
{
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL)
    return false;
  int ppid = 0;
  unsigned long ut = 0, st = 0;
  long cut = 0, cst = 0;
  /* after the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) */
  if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ppid, &ut, &st,
             &cut, &cst) != 5)
    return false;
  out->pid = pid;
  out->ppid = ppid;
  out->cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) +
             (double)(cut + cst) / (double)sysconf(_SC_CLK_TCK);
  return true;
}

double bs_tree_cpu_seconds(pid_t root)
{
  proc_cpu me;
  if (root <= 0 || !read_stat(root, &me))
    return -1;
  /* every process, then the ones under root (a few passes: depth is small) */
  size_t n = 0, cap = 256;
  proc_cpu *all = malloc(cap * sizeof *all);
  DIR *d = opendir("/proc");
  if (all == NULL || d == NULL) {
    free(all);
    if (d)
      closedir(d);
    return me.cpu;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(de->d_name, &end, 10);
    if (*end || pid <= 0 || pid == root)
      continue;
    if (n == cap) {
      proc_cpu *g = realloc(all, 2 * cap * sizeof *all);
      if (g == NULL)
        break;
      all = g;
      cap *= 2;
    }
    if (read_stat((pid_t)pid, &all[n]))
      n++;
  }
  closedir(d);
  double total = me.cpu;
  /* mark descendants: a pid is in when its parent is root or in */
  char *in = calloc(n ? n : 1, 1);
  if (in) {
    bool changed = true;
    for (int pass = 0; changed && pass < 8; pass++) {
      changed = false;
      for (size_t i = 0; i < n; i++) {
        if (in[i])
          continue;
        bool under = all[i].ppid == root;
        for (size_t j = 0; j < n && !under; j++)
          under = in[j] && all[j].pid == all[i].ppid;
        if (under) {
          in[i] = 1;
          changed = true;
          total += all[i].cpu;
        }
      }
    }
  }
  free(in);
  free(all);
  return total;
}

double bs_self_cpu_seconds(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void bs_print_machine(void)
{
  char model[256] = "unknown", line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0) {
      char *p = strchr(line, ':');
      if (p) {
        snprintf(model, sizeof model, "%s", p + 2);
        model[strcspn(model, "\n")] = '\0';
      }
      break;
    }
  if (f)
    fclose(f);
  printf("machine_nproc %ld\nmachine_cpu %s\n", sysconf(_SC_NPROCESSORS_ONLN), model);
  char la[128] = "";
  f = fopen("/proc/loadavg", "r");
  if (f && fgets(la, sizeof la, f))
    printf("machine_loadavg_at_start %s", la);
  if (f)
    fclose(f);
}

/* ----------------------------------------------------------------- HTTP */

void bs_http_init(bs_http *h, uint16_t port)
{
  memset(h, 0, sizeof *h);
  h->port = port;
}

void bs_http_close(bs_http *h)
{
  ttb_tc_http_conn_free(h->conn);
  h->conn = NULL;
}

int bs_http_request(bs_http *h, const char *method, const char *path, const char *extra_headers,
                    const char *body, size_t body_len, char **resp, char *err, size_t errlen)
{
  *resp = NULL;
  if (h->conn == NULL && (h->conn = ttb_tc_http_conn_new()) == NULL)
    return fail(err, errlen, "out of memory (curl)");
  char url[1024], hdr[2048];
  int n = snprintf(url, sizeof url, "http://127.0.0.1:%u%s", h->port, path);
  int m = snprintf(hdr, sizeof hdr, "%s%s", body_len ? "Content-Type: application/json\r\n" : "",
                   extra_headers ? extra_headers : "");
  if (n < 0 || (size_t)n >= sizeof url || m < 0 || (size_t)m >= sizeof hdr)
    return fail(err, errlen, "request too long");
  ttb_tc_resp r;
  int st = ttb_tc_http_req(h->conn, url, method, hdr, body, body_len, 60000, &r, err, errlen);
  if (st < 0) {
    ttb_tc_resp_free(&r);
    return -1;
  }
  *resp = r.body;
  return st;
}
