/*
 * fanout-bench: the fan-out load generator for ttboost-server.
 *
 * It starts the server itself (127.0.0.1, an ephemeral port, a temporary
 * data directory, a known ingest secret), makes one license per channel with
 * ttboost-admin, logs each channel in, opens channels x per-channel
 * WebSockets (one epoll loop of non-blocking sockets; the handshake built
 * and checked with tools/common's ttb_tc, the framing by a wslay event
 * context per socket: masked client frames, pongs for the server's pings,
 * fragments joined; messages read with the generated codecs' JSON reader;
 * HTTP through ttb_tc's libcurl client), then posts
 * gift events to /ingest/events in batches from a second thread and counts
 * what every socket receives.
 *
 * Each gift carries its send time (CLOCK_MONOTONIC ns, 19 digits) in the
 * `user` field; the receiving socket computes ingest-to-client latency.
 *
 * Modes:
 *   throughput  (default) 1000 channels x 2 sockets, as fast as the server
 *               takes it (bounded in flight per channel so that no socket
 *               reaches the server's max-queued-msgs), delivered msgs/s;
 *   latency     paced at --rate delivered msgs/s (open loop: the embedded
 *               time is the scheduled send time), p50/p99/p999;
 *   idle        --idle-sockets sockets that only answer pings; server VmRSS
 *               before and after, per socket.
 *
 * --cluster DIR: instead of starting a server, runs against the two nodes
 * of a cluster that scripts/cluster.sh brought up (DIR/cluster.env: events
 * between the nodes through NATS JetStream, sessions in PostgreSQL): the
 * licenses are made with its $ADMIN, logins and ingest go to node 1, and
 * each channel's sockets alternate between node 1 and node 2 (with the
 * default 2 per channel: one on each). Server CPU is both nodes' (and
 * nats-server's apart). The nodes need NODE_ARGS="--sockets-per-device 0
 * --max-sockets-per-license 0" (tools/bench/cluster_fanout.sh does it).
 *
 * Figures go to stdout as `name value` lines; progress to stderr. Exit
 * status 0 when everything sent was received and no socket was lost.
 * See docs/benchmarks.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wslay/wslay.h>

#include "ttb_tc.h"
/* jsmn itself (static: this file's hot path inlines it), in the flavour the
 * codecs' runtime uses; ttboost/json.h then finds it already included */
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#include <jsmn.h>

#include "ttboost/json.h"
#include "ttboost/v1/auth.pbc-json.h"

/* ------------------------------------------------------------------ misc */

static pid_t g_server_pid = -1;
static char g_tmpdir[256];
static bool g_keep_tmp;

static void stop_server(void)
{
  if (g_server_pid <= 0)
    return;
  kill(g_server_pid, SIGTERM);
  for (int i = 0; i < 100; i++) { /* 5 s, then the hard way */
    int st;
    if (waitpid(g_server_pid, &st, WNOHANG) == g_server_pid) {
      g_server_pid = -1;
      return;
    }
    usleep(50000);
  }
  kill(g_server_pid, SIGKILL);
  waitpid(g_server_pid, NULL, 0);
  g_server_pid = -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void cleanup(void)
{
  stop_server();
  if (g_tmpdir[0] && !g_keep_tmp)
    nftw(g_tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  g_tmpdir[0] = '\0';
}

static void on_fatal_signal(int sig)
{
  /* the server gets SIGTERM; the temp dir stays (not async-signal-safe) */
  if (g_server_pid > 0)
    kill(g_server_pid, SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("fanout-bench: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  cleanup();
  exit(1);
}

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static void rng_seed(void)
{
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  uint64_t s = 0;
  if (fd >= 0) {
    if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
      s = 0;
    close(fd);
  }
  rng_state ^= s ^ now_ns() ^ (uint64_t)getpid();
  if (rng_state == 0)
    rng_state = 1;
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    die("out of memory (%zu bytes)", n);
  return p;
}

static void *xrealloc(void *p, size_t n)
{
  p = realloc(p, n ? n : 1);
  if (p == NULL)
    die("out of memory (%zu bytes)", n);
  return p;
}

/* ------------------------------------------------------ latency histogram */

/* Log-linear: 64 sub-buckets per power of two (about 1.6 % resolution). */
#define H_SUB 64
#define H_BUCKETS (64 * H_SUB)
typedef struct hist {
  uint64_t b[H_BUCKETS];
  uint64_t n, min, max;
  double sum;
} hist;

static size_t h_index(uint64_t v)
{
  if (v < H_SUB)
    return (size_t)v;
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 6;
  return (size_t)(shift + 1) * H_SUB + (size_t)((v >> shift) & (H_SUB - 1));
}

static uint64_t h_value(size_t i) /* upper bound of bucket i */
{
  if (i < H_SUB)
    return i;
  size_t shift = i / H_SUB - 1;
  uint64_t base = (uint64_t)(H_SUB + i % H_SUB) << shift;
  return base + ((uint64_t)1 << shift) - 1;
}

static void h_add(hist *h, uint64_t v)
{
  h->b[h_index(v)]++;
  if (h->n == 0 || v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
  h->n++;
  h->sum += (double)v;
}

static uint64_t h_pct(const hist *h, double p)
{
  if (h->n == 0)
    return 0;
  uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->n);
  if (want == 0)
    want = 1;
  uint64_t acc = 0;
  for (size_t i = 0; i < H_BUCKETS; i++) {
    acc += h->b[i];
    if (acc >= want)
      return h_value(i) < h->max ? h_value(i) : h->max;
  }
  return h->max;
}

/* ------------------------------------------------- blocking HTTP/1.1 client */

static int tcp_connect(uint16_t port, bool nonblock)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* A keep-alive connection to the server (tools/common's ttb_tc: libcurl). */
typedef struct hconn {
  ttb_tc_http_conn *c;
  uint16_t port;
} hconn;

static void hc_open(hconn *h, uint16_t port)
{
  h->port = port;
  h->c = ttb_tc_http_conn_new();
  if (h->c == NULL)
    die("cannot start an HTTP client (curl)");
}

static void hc_close(hconn *h)
{
  ttb_tc_http_conn_free(h->c);
  h->c = NULL;
}

/* One request on the keep-alive connection; the body of the answer is
 * *resp (NUL-terminated, malloc'd). Returns the status; dies when no answer
 * came. */
static int hc_request(hconn *h, const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t body_len, char **resp)
{
  char url[256], hdr[512], err[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%u%s", h->port, path);
  snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\n%s",
           extra_headers ? extra_headers : "");
  ttb_tc_resp r;
  int st = ttb_tc_http_req(h->c, url, method, hdr, body, body_len, 120000, &r, err, sizeof err);
  if (st < 0)
    die("%s", err);
  *resp = r.body;
  return st;
}

/* --------------------------------------------------------------- options */

typedef enum { MODE_THROUGHPUT, MODE_LATENCY, MODE_IDLE } mode_t_;

static struct {
  const char *server, *admin;
  mode_t_ mode;
  long channels, per_channel;
  long messages;
  double seconds;
  double rate;
  long batch;
  long group; /* events of one channel next to each other in a batch */
  long idle_sockets;
  long window;
  long connect_parallel;
  long ingest_conns;
  double warmup;
  double drain_timeout;
  const char *server_opts[32];
  int n_server_opts;
  const char *license_cache;
  const char *cluster; /* --cluster DIR */
} opt;

/* --cluster: what DIR/cluster.env says. */
static struct {
  uint16_t port1, port2;
  pid_t pid1, pid2, nats_pid;
  char secret[256];
  char admin[1024];
} K;

static void usage(FILE *f)
{
  fputs(
      "usage: fanout-bench --server PATH --admin PATH [options]\n"
      "\n"
      "Starts ttboost-server on 127.0.0.1 (ephemeral port, temp data dir), opens WebSockets,\n"
      "ingests gift events and measures fan-out. Figures on stdout, progress on stderr.\n"
      "\n"
      "  --mode throughput|latency|idle   (default throughput)\n"
      "  --channels N         channels (licenses); default 1000 (idle: 100)\n"
      "  --per-channel K      sockets per channel; default 2 (idle: idle-sockets/channels)\n"
      "  --messages M         gift events to ingest (instead of --seconds)\n"
      "  --seconds S          ingest for S seconds (default 10; idle: hold the sockets S s, "
      "default 2)\n"
      "  --rate R             latency mode: target delivered msgs/s (default 100000)\n"
      "  --batch B            events per POST (default throughput 256, latency "
      "rate/per-channel/1000)\n"
      "  --group G            events of one channel side by side in a batch, as one streamer's\n"
      "                       connector posts them (default 1: every event another channel)\n"
      "  --idle-sockets N     idle mode: sockets to open (default 10000)\n"
      "  --window W           throughput: events in flight per channel at most (default 256)\n"
      "  --warmup S           latency mode: seconds not counted at the start (default 1)\n"
      "  --connect-parallel N handshakes in flight (default 256)\n"
      "  --ingest-conns N     ingest threads, one HTTP connection each, each with its share\n"
      "                       of the channels and of the rate (default 16, so that the journal's\n"
      "                       sync latency does not pace the generator; at most 16)\n"
      "  --server-opt K=V     pass --K V to the server (repeatable), e.g. heartbeat-ms=1000\n"
      "  --keep-tmp           keep the temporary data directory\n"
      "  --cluster DIR        run against the two nodes of `scripts/cluster.sh up DIR` (through\n"
      "                       NATS; --server and --admin are then not needed): sockets on both\n"
      "                       nodes, ingest on node 1\n"
      "  --license-cache DIR  reuse the licenses (database and keys) kept in DIR by an earlier\n"
      "                       run with at least as many channels; made and kept there if not\n"
      "                       (1000 licenses take ~15-50 s to make)\n",
      f);
}

static long num_arg(const char *name, const char *v, long min)
{
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || n < min) {
    fprintf(stderr, "fanout-bench: %s: expected an integer >= %ld, got '%s'\n", name, min, v);
    exit(2);
  }
  return n;
}

static double dbl_arg(const char *name, const char *v)
{
  char *end;
  double d = strtod(v, &end);
  if (*end || !(d > 0)) {
    fprintf(stderr, "fanout-bench: %s: expected a positive number, got '%s'\n", name, v);
    exit(2);
  }
  return d;
}

static void parse_args(int argc, char **argv)
{
  opt.channels = opt.per_channel = opt.messages = opt.batch = opt.idle_sockets = -1;
  opt.group = 1;
  opt.seconds = opt.rate = opt.warmup = -1;
  opt.window = 256;
  opt.connect_parallel = 256;
  opt.ingest_conns = -1;
  opt.drain_timeout = 10;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "--keep-tmp") == 0) {
      g_keep_tmp = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "fanout-bench: %s needs a value (see --help)\n", a);
      exit(2);
    }
    const char *v = argv[++i];
    if (strcmp(a, "--server") == 0)
      opt.server = v;
    else if (strcmp(a, "--admin") == 0)
      opt.admin = v;
    else if (strcmp(a, "--mode") == 0) {
      if (strcmp(v, "throughput") == 0)
        opt.mode = MODE_THROUGHPUT;
      else if (strcmp(v, "latency") == 0)
        opt.mode = MODE_LATENCY;
      else if (strcmp(v, "idle") == 0)
        opt.mode = MODE_IDLE;
      else {
        fprintf(stderr, "fanout-bench: --mode: throughput, latency or idle, not '%s'\n", v);
        exit(2);
      }
    } else if (strcmp(a, "--channels") == 0)
      opt.channels = num_arg(a, v, 1);
    else if (strcmp(a, "--per-channel") == 0)
      opt.per_channel = num_arg(a, v, 1);
    else if (strcmp(a, "--messages") == 0)
      opt.messages = num_arg(a, v, 1);
    else if (strcmp(a, "--seconds") == 0)
      opt.seconds = dbl_arg(a, v);
    else if (strcmp(a, "--rate") == 0)
      opt.rate = dbl_arg(a, v);
    else if (strcmp(a, "--batch") == 0)
      opt.batch = num_arg(a, v, 1);
    else if (strcmp(a, "--group") == 0)
      opt.group = num_arg(a, v, 1);
    else if (strcmp(a, "--idle-sockets") == 0)
      opt.idle_sockets = num_arg(a, v, 1);
    else if (strcmp(a, "--window") == 0)
      opt.window = num_arg(a, v, 1);
    else if (strcmp(a, "--warmup") == 0)
      opt.warmup = strtod(v, NULL);
    else if (strcmp(a, "--ingest-conns") == 0)
      opt.ingest_conns = num_arg(a, v, 1);
    else if (strcmp(a, "--connect-parallel") == 0)
      opt.connect_parallel = num_arg(a, v, 1);
    else if (strcmp(a, "--license-cache") == 0)
      opt.license_cache = v;
    else if (strcmp(a, "--cluster") == 0)
      opt.cluster = v;
    else if (strcmp(a, "--server-opt") == 0) {
      if (strchr(v, '=') == NULL || opt.n_server_opts == 32) {
        fprintf(stderr, "fanout-bench: --server-opt: expected KEY=VALUE\n");
        exit(2);
      }
      opt.server_opts[opt.n_server_opts++] = v;
    } else {
      fprintf(stderr, "fanout-bench: unknown option '%s' (see --help)\n", a);
      exit(2);
    }
  }
  if (!opt.cluster && (!opt.server || !opt.admin)) {
    usage(stderr);
    exit(2);
  }
  if (opt.cluster && opt.mode == MODE_IDLE) {
    fprintf(stderr, "fanout-bench: --cluster runs the throughput and latency modes only\n");
    exit(2);
  }
  if (opt.ingest_conns < 0)
    opt.ingest_conns = 16; /* each POST waits for its sync (docs/benchmarks.md) */
  if (opt.ingest_conns > 16)
    opt.ingest_conns = 16;
  if (opt.messages > 0 && opt.seconds > 0) {
    fprintf(stderr, "fanout-bench: --messages and --seconds exclude each other\n");
    exit(2);
  }
  if (opt.mode == MODE_IDLE) {
    if (opt.idle_sockets < 0)
      opt.idle_sockets = 10000;
    if (opt.channels < 0)
      opt.channels = opt.idle_sockets < 100 ? opt.idle_sockets : 100;
    if (opt.per_channel < 0)
      opt.per_channel = (opt.idle_sockets + opt.channels - 1) / opt.channels;
    if (opt.seconds < 0)
      opt.seconds = 2;
  } else {
    if (opt.channels < 0)
      opt.channels = 1000;
    if (opt.per_channel < 0)
      opt.per_channel = 2;
    if (opt.messages < 0 && opt.seconds < 0)
      opt.seconds = 10;
    if (opt.mode == MODE_LATENCY) {
      if (opt.rate < 0)
        opt.rate = 100000;
      if (opt.batch < 0) {
        double ev_per_ms = opt.rate / (double)opt.per_channel / 1000.0;
        opt.batch = ev_per_ms < 1 ? 1 : (long)ceil(ev_per_ms);
      }
      if (opt.warmup < 0)
        opt.warmup = 1;
    } else {
      if (opt.batch < 0)
        opt.batch = 256;
      if (opt.warmup < 0)
        opt.warmup = 0;
    }
  }
  if (opt.ingest_conns > opt.channels) /* every ingest thread needs a channel of its own */
    opt.ingest_conns = opt.channels;
}

/* ------------------------------------------------------- processes, /proc */

/* Runs argv with stdout into out[cap]; returns the exit status (or -1). */
static int run_capture(char *const argv[], char *out, size_t cap, const char *err_path)
{
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    die("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    dup2(p[1], 1);
    if (err_path) { /* its chatter on stderr, shown only when it fails */
      int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (e >= 0)
        dup2(e, 2);
    }
    execv(argv[0], argv);
    fprintf(stderr, "fanout-bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  size_t n = 0;
  for (;;) {
    ssize_t r = read(p[0], out + n, cap - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
    if (n == cap - 1)
      break;
  }
  out[n] = '\0';
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long vm_rss_kib(pid_t pid)
{
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL)
    return -1;
  unsigned long ut = 0, st = 0;
  /* fields after the name: state(3) ... utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static void raise_nofile(size_t need)
{
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    struct rlimit want = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) /* root may */
      rl = want;
  }
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
  if (rl.rlim_cur < need)
    rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    die("RLIMIT_NOFILE is %llu, %zu needed (raise the hard limit: ulimit -Hn)",
        (unsigned long long)rl.rlim_cur, need);
}

static const char *SECRET = "fanout-bench-ingest-secret-0123456789";
#define METRICS_TOKEN "fanout-bench-metrics-token-0123456789"

static uint16_t start_server(void)
{
  char log[512], dd[512], listen[] = "127.0.0.1:0";
  snprintf(log, sizeof log, "%s/server.log", g_tmpdir);
  snprintf(dd, sizeof dd, "%s/data", g_tmpdir);
  char *argv[16 + 64];
  int a = 0;
  argv[a++] = (char *)opt.server;
  argv[a++] = "--listen";
  argv[a++] = listen;
  argv[a++] = "--data-dir";
  argv[a++] = dd;
  /* the operator's ingest secret from the environment: never on argv */
  if (setenv("TTBOOST_INGEST_SECRET", SECRET, 1) != 0)
    die("setenv: %s", strerror(errno));
  /* /metrics is operator-only: a token file (server_metrics sends it) */
  static char mtok_arg[] = "--metrics-token-file", mtok[512];
  snprintf(mtok, sizeof mtok, "%s/metrics_token", g_tmpdir);
  FILE *mf = fopen(mtok, "w");
  if (mf == NULL || fputs(METRICS_TOKEN "\n", mf) < 0 || fclose(mf) != 0)
    die("%s: %s", mtok, strerror(errno));
  argv[a++] = mtok_arg;
  argv[a++] = mtok;
  /* the fan-out is measured, not the sockets-per-license limit (--server-opt can set it) */
  static char spd[] = "--sockets-per-device", mspl[] = "--max-sockets-per-license", zero[] = "0";
  argv[a++] = spd;
  argv[a++] = zero;
  argv[a++] = mspl;
  argv[a++] = zero;
  static char keys[32][128];
  for (int i = 0; i < opt.n_server_opts; i++) {
    const char *eq = strchr(opt.server_opts[i], '=');
    snprintf(keys[i], sizeof keys[i], "--%.*s", (int)(eq - opt.server_opts[i]), opt.server_opts[i]);
    argv[a++] = keys[i];
    argv[a++] = (char *)eq + 1;
  }
  argv[a] = NULL;
  int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (lfd < 0)
    die("%s: %s", log, strerror(errno));
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(lfd, 1);
    dup2(lfd, 2);
    execv(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(lfd);
  g_server_pid = pid;
  /* wait for "ttboost-server: listening on http://HOST:PORT" */
  uint64_t t0 = now_ns();
  char buf[8192];
  while (now_ns() - t0 < 30000000000ull) {
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
      if (colon == NULL)
        die("cannot parse the port from the server's line: %.*s", 80, p);
      long port = strtol(colon + 1, NULL, 10);
      if (port <= 0 || port > 65535)
        die("bad port in the server's line: %.*s", 80, p);
      return (uint16_t)port;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      g_server_pid = -1;
      die("the server exited before listening (status %d); its output:\n%s",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1, buf);
    }
    usleep(10000);
  }
  die("the server did not print its listening line within 30 s; its output:\n%s", buf);
  return 0;
}

/* --cluster: reads DIR/cluster.env (NAME=value lines; ADMIN's value is quoted). */
static uint16_t url_port(const char *name, const char *url)
{
  const char *p = strrchr(url, ':');
  long port = p ? strtol(p + 1, NULL, 10) : 0;
  if (strncmp(url, "http://127.0.0.1:", 17) != 0 || port <= 0 || port > 65535)
    die("--cluster: %s is '%s', not http://127.0.0.1:PORT", name, url);
  return (uint16_t)port;
}

static void load_cluster(void)
{
  char path[1024], line[2048];
  snprintf(path, sizeof path, "%s/cluster.env", opt.cluster);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    die("--cluster: %s: %s (is the cluster up? scripts/cluster.sh up %s)", path, strerror(errno),
        opt.cluster);
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *eq = strchr(line, '=');
    if (eq == NULL)
      continue;
    *eq = '\0';
    char *v = eq + 1;
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
      v[vl - 1] = '\0';
      v++;
    }
    if (strcmp(line, "NODE1_URL") == 0)
      K.port1 = url_port(line, v);
    else if (strcmp(line, "NODE2_URL") == 0)
      K.port2 = url_port(line, v);
    else if (strcmp(line, "NODE1_PID") == 0)
      K.pid1 = (pid_t)atol(v);
    else if (strcmp(line, "NODE2_PID") == 0)
      K.pid2 = (pid_t)atol(v);
    else if (strcmp(line, "NATS_PID") == 0)
      K.nats_pid = (pid_t)atol(v);
    else if (strcmp(line, "TTBOOST_INGEST_SECRET") == 0)
      snprintf(K.secret, sizeof K.secret, "%s", v);
    else if (strcmp(line, "ADMIN") == 0)
      snprintf(K.admin, sizeof K.admin, "%s", v);
  }
  fclose(f);
  if (!K.port1 || !K.port2 || K.pid1 <= 0 || K.pid2 <= 0 || !K.secret[0] || !K.admin[0])
    die("--cluster: %s lacks NODE1_URL, NODE2_URL, their PIDs, TTBOOST_INGEST_SECRET or ADMIN",
        path);
  if (kill(K.pid1, 0) != 0 || kill(K.pid2, 0) != 0)
    die("--cluster: a node of %s is not running", path);
  SECRET = K.secret;
}

/* ---------------------------------------------------------- the channels */

typedef struct channel {
  char key[160];
  char user_id[64];
  char token[64];
  _Atomic uint64_t ingested; /* events accepted for it (ingest thread) */
} channel;

static channel *chans;

/* --cluster: one license per channel with the cluster's $ADMIN (PostgreSQL). */
static void make_licenses_cluster(void)
{
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s license create --days 30", K.admin);
  uint64_t t0 = now_ns(), last = t0;
  for (long i = 0; i < opt.channels; i++) {
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    if (p == NULL || fgets(out, sizeof out, p) == NULL) {
      if (p)
        pclose(p);
      die("--cluster: '%s' gave no key", cmd);
    }
    int rc = pclose(p);
    out[strcspn(out, "\n")] = '\0';
    if (rc != 0 || out[0] == '\0' || strlen(out) >= sizeof chans[i].key)
      die("--cluster: '%s' failed (status %d, output '%s')", cmd, rc, out);
    snprintf(chans[i].key, sizeof chans[i].key, "%s", out);
    uint64_t t = now_ns();
    if (t - last > 2000000000ull || i + 1 == opt.channels) {
      fprintf(stderr, "  licenses: %ld/%ld (%.1f s)\n", i + 1, opt.channels, secs(t - t0));
      last = t;
    }
  }
}

/* ------------------------------------------------------------ WebSockets */

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };

typedef struct conn {
  int fd;
  uint8_t state;
  bool hello;
  bool want_out;
  uint32_t ch;
  uint16_t port; /* the node it talks to */
  bool in_ws;    /* inside a wslay call: the context is freed after it */
  char key[TTB_TC_WS_KEY_SIZE];
  uint64_t last_seq;
  _Atomic uint64_t got; /* gift events received */
  char *in;             /* the handshake's answer so far */
  size_t in_len, in_cap;
  const char *feed; /* bytes read this turn, handed to wslay by its recv callback */
  size_t feed_len;
  wslay_event_context_ptr ev; /* framing once open */
  char *frag;                 /* a text message split over frames or reads, being joined */
  size_t frag_len, frag_cap;
  uint64_t frame_len; /* the current frame's payload length */
  uint8_t frame_op, msg_op;
  bool frame_fin;
  char *out; /* handshake bytes not yet written */
  size_t out_len, out_cap;
} conn;

static struct {
  int ep;
  uint16_t port;
  conn *c;
  size_t n;
  size_t next_connect;
  size_t connecting;
  size_t open, hellos, closed, errors;
  uint64_t delivered; /* gift events, all sockets */
  uint64_t counted;   /* of those, sent after the warm-up */
  uint64_t seq_gaps;
  uint64_t measure_from; /* ns: latencies of events sent before are not counted */
  uint64_t first_recv, last_recv;
  uint64_t pings, bytes_in;
  hist lat;
  char rbuf[1 << 18];
} L;

static void conn_fail(conn *c, const char *fmt, ...)
{
  if (c->state == C_CLOSED)
    return;
  if (L.errors < 10) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fanout-bench: socket %zu (channel %u): ", (size_t)(c - L.c), c->ch);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
  }
  L.errors++;
  if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
    L.connecting--;
  if (c->state == C_OPEN)
    L.open--;
  c->state = C_CLOSED;
  L.closed++;
  if (c->ev && !c->in_ws) {
    wslay_event_context_free(c->ev);
    c->ev = NULL;
  }
  epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
}

static void set_events(conn *c, bool out)
{
  if (c->want_out == out)
    return;
  c->want_out = out;
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(L.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_write(conn *c, const void *data, size_t len)
{
  const char *p = data;
  if (c->out_len == 0) {
    ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
      conn_fail(c, "write: %s", strerror(errno));
      return;
    }
    if (w > 0) {
      p += w;
      len -= (size_t)w;
    }
    if (len == 0)
      return;
  }
  if (c->out_len + len > c->out_cap) {
    c->out_cap = (c->out_len + len) * 2;
    c->out = xrealloc(c->out, c->out_cap);
  }
  memcpy(c->out + c->out_len, p, len);
  c->out_len += len;
  set_events(c, true);
}

static void flush_out(conn *c)
{
  while (c->out_len) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (w <= 0) {
      conn_fail(c, "write: %s", strerror(errno));
      return;
    }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
  }
  set_events(c, false);
}

static uint64_t parse_u64(const char *p, const char *end)
{
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9')
    v = v * 10 + (uint64_t)(*p++ - '0');
  return v;
}

/* A server message, tokenised by jsmn (the generated codecs' tokeniser,
 * without their full validation: 0.2 us instead of 0.8 us a message here,
 * and this loop reads hundreds of thousands a second): its top-level
 * "type", and for gifts "seq" and "user" (the send time). */
static void on_text(conn *c, const char *m, size_t n, uint64_t now)
{
  jsmntok_t toks[96];
  jsmn_parser jp;
  jsmn_init(&jp);
  int ntok = jsmn_parse(&jp, m, n, toks, 96);
  if (ntok < 1 || toks[0].type != JSMN_OBJECT) {
    conn_fail(c, "not a JSON object (jsmn %d): %.*s", ntok, (int)(n > 200 ? 200 : n), m);
    return;
  }
  const char *type = NULL, *seq = NULL, *user = NULL;
  size_t type_n = 0, user_n = 0;
  int k = 1;
  for (int i = 0; i < toks[0].size && k + 1 < ntok; i++) {
    const jsmntok_t *key = &toks[k], *v = &toks[k + 1];
    size_t kn = (size_t)(key->end - key->start);
    const char *ks = m + key->start;
    if (kn == 4 && memcmp(ks, "type", 4) == 0 && v->type == JSMN_STRING) {
      type = m + v->start;
      type_n = (size_t)(v->end - v->start);
    } else if (kn == 3 && memcmp(ks, "seq", 3) == 0 && v->type == JSMN_PRIMITIVE) {
      seq = m + v->start;
    } else if (kn == 4 && memcmp(ks, "user", 4) == 0 && v->type == JSMN_STRING) {
      user = m + v->start;
      user_n = (size_t)(v->end - v->start);
    }
    /* the next key: after the value and everything inside it */
    int e = v->end, j = k + 2;
    while (j < ntok && toks[j].start < e)
      j++;
    k = j;
  }
  if (type == NULL) {
    conn_fail(c, "a message without a type: %.*s", (int)(n > 200 ? 200 : n), m);
    return;
  }
  if (type_n == 4 && memcmp(type, "gift", 4) == 0) {
    if (!c->hello) {
      conn_fail(c, "a gift before hello");
      return;
    }
    uint64_t sq = seq ? parse_u64(seq, m + n) : 0;
    if (sq != c->last_seq + 1)
      L.seq_gaps++;
    c->last_seq = sq;
    uint64_t sent = user ? parse_u64(user, user + user_n) : 0;
    atomic_store_explicit(&c->got, atomic_load_explicit(&c->got, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    L.delivered++;
    if (L.first_recv == 0)
      L.first_recv = now;
    L.last_recv = now;
    if (sent && sent >= L.measure_from) {
      L.counted++;
      h_add(&L.lat, now > sent ? now - sent : 0);
    }
    return;
  }
  if (type_n == 5 && memcmp(type, "hello", 5) == 0) {
    if (!c->hello) {
      c->hello = true;
      L.hellos++;
    }
    return;
  }
  if (type_n == 5 && memcmp(type, "error", 5) == 0) {
    conn_fail(c, "the server says: %.*s", (int)(n > 300 ? 300 : n), m);
    return;
  }
  /* chat, pong, ... : not ours, ignored */
}

/* ---- wslay callbacks: the framing of an open socket (tools/common's
 * choice: wslay's event API, here on our own epoll loop) ---- */

static uint64_t g_now; /* the time of this loop turn, for on_text */

/* Hands wslay the bytes this turn read (one recv per readiness, as many
 * frames as it holds), then says "would block". */
static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
  (void)flags;
  conn *c = user;
  if (c->feed_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t k = c->feed_len < len ? c->feed_len : len;
  memcpy(buf, c->feed, k);
  c->feed += k;
  c->feed_len -= k;
  return (ssize_t)k;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
  (void)flags;
  conn *c = user;
  ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
  if (w < 0) {
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EINTR ? WSLAY_ERR_WOULDBLOCK
                                                                 : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return w;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
  (void)ctx;
  (void)user;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t r = rng();
    memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
  }
  return 0;
}

/* Data frames come unbuffered (wslay's no-buffering mode: no allocation
 * per message): a text message whose payload arrives in one piece goes to
 * on_text as it lies in the read buffer, others are joined in c->frag. */
static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *a, void *user)
{
  (void)ctx;
  conn *c = user;
  c->frame_op = a->opcode;
  c->frame_fin = a->fin;
  c->frame_len = a->payload_length;
  if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME) {
    c->msg_op = a->opcode;
    c->frag_len = 0;
  }
}

static void ws_frame_chunk_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *a, void *user)
{
  (void)ctx;
  conn *c = user;
  if (c->state != C_OPEN || c->frame_op > WSLAY_BINARY_FRAME || c->msg_op != WSLAY_TEXT_FRAME)
    return;
  if (c->frame_fin && c->frag_len == 0 && a->data_length == c->frame_len) {
    c->msg_op = 0; /* the whole message in one piece */
    on_text(c, (const char *)a->data, a->data_length, g_now);
    return;
  }
  if (c->frag_len + a->data_length > (64u << 20)) {
    conn_fail(c, "a message over 64 MiB");
    return;
  }
  if (c->frag_len + a->data_length > c->frag_cap) {
    c->frag_cap = (c->frag_len + a->data_length) * 2;
    c->frag = xrealloc(c->frag, c->frag_cap);
  }
  memcpy(c->frag + c->frag_len, a->data, a->data_length);
  c->frag_len += a->data_length;
}

static void ws_frame_end_cb(wslay_event_context_ptr ctx, void *user)
{
  (void)ctx;
  conn *c = user;
  if (c->state != C_OPEN || c->frame_op > WSLAY_BINARY_FRAME || !c->frame_fin)
    return;
  if (c->msg_op == WSLAY_TEXT_FRAME)
    on_text(c, c->frag, c->frag_len, g_now);
  c->msg_op = 0;
  c->frag_len = 0;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *user)
{
  (void)ctx;
  conn *c = user;
  if (c->state != C_OPEN)
    return;
  switch (a->opcode) {
  case WSLAY_PING: /* wslay answers it */
    L.pings++;
    return;
  case WSLAY_CONNECTION_CLOSE: {
    size_t n = a->msg_length;
    const char *p = (const char *)a->msg;
    conn_fail(c, "closed by the server: %u %.*s", a->status_code ? a->status_code : 1005u,
              (int)(n > 2 ? n - 2 : 0), n > 2 ? p + 2 : "");
    return;
  }
  default: /* text (read frame by frame above), binary, pong */
    return;
  }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_frame_recv_start_callback = ws_frame_start_cb,
    .on_frame_recv_chunk_callback = ws_frame_chunk_cb,
    .on_frame_recv_end_callback = ws_frame_end_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

/* Runs wslay on what this turn read (p[0..n)), then writes what it queued
 * (pongs, a close). */
static void ws_turn(conn *c, const char *p, size_t n)
{
  c->feed = p;
  c->feed_len = n;
  c->in_ws = true;
  int rc = wslay_event_recv(c->ev);
  if (rc == 0 && c->state == C_OPEN && wslay_event_want_write(c->ev))
    rc = wslay_event_send(c->ev);
  c->in_ws = false;
  c->feed_len = 0;
  if (rc != 0)
    conn_fail(c, "WebSocket protocol error (wslay %d)", rc);
  if (c->state == C_CLOSED) {
    if (c->ev)
      wslay_event_context_free(c->ev);
    c->ev = NULL;
    return;
  }
  set_events(c, wslay_event_want_write(c->ev));
}

static void handle_bytes(conn *c, const char *p, size_t n)
{
  if (c->state == C_OPEN) {
    ws_turn(c, p, n);
    return;
  }
  /* the handshake's answer: gather it, check it with ttb_tc */
  if (c->in_len + n > c->in_cap) {
    c->in_cap = (c->in_len + n) * 2;
    c->in = xrealloc(c->in, c->in_cap);
  }
  memcpy(c->in + c->in_len, p, n);
  c->in_len += n;
  size_t hl = 0;
  int st = ttb_tc_ws_response(c->in, c->in_len, c->key, &hl, NULL, 0);
  if (st == 0)
    return;
  if (st != 101) {
    conn_fail(c,
              st < 0 ? "a bad handshake answer (Sec-WebSocket-Accept?): %.*s"
                     : "handshake refused: %.*s",
              (int)(c->in_len > 300 ? 300 : c->in_len), c->in);
    return;
  }
  if (wslay_event_context_client_init(&c->ev, &ws_callbacks, c) != 0) {
    c->ev = NULL;
    conn_fail(c, "wslay_event_context_client_init failed");
    return;
  }
  wslay_event_config_set_no_buffering(c->ev, 1);
  c->state = C_OPEN;
  L.connecting--;
  L.open++;
  /* frames that came with the answer */
  size_t rest = c->in_len - hl;
  char *tail = c->in;
  c->in = NULL;
  c->in_len = c->in_cap = 0;
  if (rest)
    ws_turn(c, tail + hl, rest);
  free(tail);
}

static void start_handshake(conn *c)
{
  if (!ttb_tc_ws_key(c->key))
    die("no random bytes for a WebSocket key");
  char req[512], path[128], host[32];
  snprintf(path, sizeof path, "/ws/%s", chans[c->ch].token);
  snprintf(host, sizeof host, "127.0.0.1:%u", c->port);
  int n = ttb_tc_ws_request(req, sizeof req, host, path, c->key, NULL, NULL);
  if (n < 0)
    die("the upgrade request does not fit");
  c->state = C_HANDSHAKE;
  conn_write(c, req, (size_t)n);
}

static void connect_more(void)
{
  while (L.next_connect < L.n && L.connecting < (size_t)opt.connect_parallel) {
    conn *c = &L.c[L.next_connect++];
    c->fd = tcp_connect(c->port, true);
    if (c->fd < 0)
      die("connect: %s (socket %zu)", strerror(errno), L.next_connect - 1);
    c->state = C_CONNECTING;
    L.connecting++;
    c->want_out = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(L.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
      die("epoll_ctl: %s", strerror(errno));
  }
}

/* One round of the event loop: up to timeout_ms. */
static void pump(int timeout_ms)
{
  struct epoll_event evs[512];
  int n = epoll_wait(L.ep, evs, 512, timeout_ms);
  if (n < 0 && errno != EINTR)
    die("epoll_wait: %s", strerror(errno));
  uint64_t now = now_ns();
  for (int i = 0; i < n; i++) {
    conn *c = evs[i].data.ptr;
    if (c->state == C_CLOSED)
      continue;
    if (c->state == C_CONNECTING) {
      int err = 0;
      socklen_t el = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
      if (err) {
        conn_fail(c, "connect: %s", strerror(err));
        continue;
      }
      if (!(evs[i].events & (EPOLLOUT | EPOLLIN)))
        continue;
      start_handshake(c);
      if (c->out_len == 0)
        set_events(c, false);
      continue;
    }
    if (evs[i].events & EPOLLOUT) {
      if (c->ev) {
        c->in_ws = true;
        int rc = wslay_event_send(c->ev);
        c->in_ws = false;
        if (rc != 0)
          conn_fail(c, "write failed (wslay %d)", rc);
        else
          set_events(c, wslay_event_want_write(c->ev));
      } else {
        flush_out(c);
      }
    }
    if (c->state == C_CLOSED)
      continue;
    if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      ssize_t r = recv(c->fd, L.rbuf, sizeof L.rbuf, 0);
      if (r > 0) {
        L.bytes_in += (uint64_t)r;
        g_now = now;
        handle_bytes(c, L.rbuf, (size_t)r);
      } else if (r == 0) {
        conn_fail(c, "the server closed the connection");
      } else if (errno != EAGAIN && errno != EINTR) {
        conn_fail(c, "read: %s", strerror(errno));
      }
    }
  }
  connect_more();
}

/* Opens every socket and waits for every hello. */
static void open_sockets(void)
{
  uint64_t t0 = now_ns(), last = t0;
  connect_more();
  while (L.hellos + L.closed < L.n) {
    pump(50);
    uint64_t t = now_ns();
    if (t - last > 1000000000ull) {
      fprintf(stderr, "  sockets: %zu/%zu open (%zu with hello)\n", L.open, L.n, L.hellos);
      last = t;
    }
    if (t - t0 > 300000000000ull)
      die("sockets still not open after 300 s (%zu/%zu)", L.hellos, L.n);
  }
  if (L.closed)
    die("%zu of %zu sockets failed to open", L.closed, L.n);
  fprintf(stderr, "  sockets: %zu open, hello on each, in %.2f s\n", L.open, secs(now_ns() - t0));
}

/* ----------------------------------------------------------------- ingest */

static struct {
  pthread_t th[16];
  _Atomic int finished; /* threads */
  _Atomic bool done;
  _Atomic bool stop;
  _Atomic bool failed;
  _Atomic uint64_t accepted; /* events */
  _Atomic uint64_t posts;
  uint64_t t_start;            /* first POST */
  _Atomic uint64_t t_end;      /* last answer */
  _Atomic uint64_t behind_max; /* latency mode: ns behind the schedule at worst */
  char err[512];
} I;

/* Has channel ch room for one more event in flight (throughput mode)? */
static bool channel_room(uint32_t ch)
{
  uint64_t ing = atomic_load_explicit(&chans[ch].ingested, memory_order_relaxed);
  size_t k = (size_t)opt.per_channel;
  for (size_t s = 0; s < k; s++) {
    uint64_t got = atomic_load_explicit(&L.c[ch * k + s].got, memory_order_relaxed);
    if (ing - got >= (uint64_t)opt.window)
      return false;
  }
  return true;
}

#define TS_DIGITS 19

static void *ingest_main(void *arg)
{
  const uint32_t tid = (uint32_t)(uintptr_t)arg, nth = (uint32_t)opt.ingest_conns;
  hconn h;
  hc_open(&h, L.port);
  size_t B = (size_t)opt.batch;
  size_t cap = 256 + B * 200;
  char *body = xmalloc(cap);
  size_t *ts_at = xmalloc(B * sizeof *ts_at);
  uint32_t *ch_of = xmalloc(B * sizeof *ch_of);
  char headers[256];
  snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", SECRET);
  /* this thread's channels: tid, tid + nth, ... */
  const uint32_t my_chans = (uint32_t)((opt.channels - (long)tid + (long)nth - 1) / (long)nth);
  uint32_t rr = 0;
  uint64_t sent_events = 0;
  const uint64_t limit = opt.messages > 0
                             ? (uint64_t)opt.messages / nth + (tid < (uint64_t)opt.messages % nth)
                             : UINT64_MAX;
  const uint64_t t0 = I.t_start;
  const uint64_t deadline = opt.seconds > 0 ? t0 + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
  /* each thread carries rate / nth, its posts offset to spread them */
  const double interval_ns =
      opt.mode == MODE_LATENCY ? (double)B * (double)opt.per_channel * (double)nth / opt.rate * 1e9
                               : 0;
  uint64_t post_no = 0;
  const uint64_t offset = (uint64_t)(interval_ns * (double)tid / (double)nth);
  while (sent_events < limit && !atomic_load(&I.stop) && !atomic_load(&I.failed)) {
    uint64_t sched = t0 + offset + (uint64_t)(interval_ns * (double)post_no);
    uint64_t now = now_ns();
    if (now >= deadline || (opt.mode == MODE_LATENCY && sched >= deadline))
      break;
    if (opt.mode == MODE_LATENCY) {
      if (sched > now) {
        struct timespec ts = {(time_t)(sched / 1000000000u), (long)(sched % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
          ;
      } else {
        uint64_t b = atomic_load(&I.behind_max);
        while (now - sched > b && !atomic_compare_exchange_weak(&I.behind_max, &b, now - sched))
          ;
      }
    }
    size_t nb = B;
    if (limit - sent_events < nb)
      nb = (size_t)(limit - sent_events);
    /* choose the channels */
    size_t got = 0;
    uint32_t tried = 0;
    while (got < nb) {
      uint32_t ch = tid + rr * nth;
      rr = (rr + 1) % my_chans;
      if (opt.mode == MODE_LATENCY || channel_room(ch)) {
        /* a connector posts its own streamer's events: --group of them together */
        for (long g = 0; g < opt.group && got < nb; g++)
          ch_of[got++] = ch;
        tried = 0;
        continue;
      }
      if (++tried >= my_chans) { /* everything full: let the sockets read */
        if (got)
          break;
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        tried = 0;
        if (now_ns() >= deadline)
          break;
      }
    }
    if (got == 0)
      break;
    size_t len = 0;
    body[len++] = '[';
    for (size_t i = 0; i < got; i++) {
      len += (size_t)snprintf(body + len, cap - len,
                              "%s{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"", i ? "," : "",
                              chans[ch_of[i]].user_id);
      ts_at[i] = len;
      memset(body + len, '0', TS_DIGITS);
      len += TS_DIGITS;
      len += (size_t)snprintf(body + len, cap - len, "\",\"gift_name\":\"Rose\",\"count\":1}");
    }
    body[len++] = ']';
    /* the time: now (throughput), the schedule (latency: open loop) */
    uint64_t ts = opt.mode == MODE_LATENCY ? sched : now_ns();
    char digits[TS_DIGITS + 1];
    snprintf(digits, sizeof digits, "%0*" PRIu64, TS_DIGITS, ts);
    for (size_t i = 0; i < got; i++) {
      memcpy(body + ts_at[i], digits, TS_DIGITS);
      atomic_fetch_add_explicit(&chans[ch_of[i]].ingested, 1, memory_order_relaxed);
    }
    char *resp = NULL;
    int st = hc_request(&h, "POST", "/ingest/events", headers, body, len, &resp);
    int64_t acc = 0;
    uint64_t accepted =
        ttb_tc_json_int(resp, strlen(resp), "accepted", &acc) && acc > 0 ? (uint64_t)acc : 0;
    if (st != 202 || accepted != got) {
      snprintf(I.err, sizeof I.err, "POST /ingest/events: %d, %" PRIu64 " of %zu accepted: %.300s",
               st, accepted, got, resp);
      free(resp);
      atomic_store(&I.failed, true);
      break;
    }
    free(resp);
    sent_events += got;
    atomic_fetch_add(&I.accepted, got);
    atomic_fetch_add(&I.posts, 1);
    post_no++;
  }
  uint64_t e = now_ns(), cur = atomic_load(&I.t_end);
  while (e > cur && !atomic_compare_exchange_weak(&I.t_end, &cur, e))
    ;
  if (atomic_fetch_add(&I.finished, 1) + 1 == (int)nth)
    atomic_store(&I.done, true);
  hc_close(&h);
  free(body);
  free(ts_at);
  free(ch_of);
  return NULL;
}

/* ----------------------------------------------------------------- main */

/* Runs a shell command (paths quoted by the caller); false when it fails. */
static bool sh(const char *cmd)
{
  int rc = system(cmd);
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* --license-cache: copies the cached database into the data dir and reads
 * the keys; false when the cache is missing or has too few keys. */
static bool licenses_from_cache(const char *dd)
{
  char path[1024], cmd[4096];
  snprintf(path, sizeof path, "%s/keys", opt.license_cache);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return false;
  long n = 0;
  char line[256];
  while (n < opt.channels && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0' || strlen(line) >= sizeof chans[n].key)
      break;
    snprintf(chans[n].key, sizeof chans[n].key, "%s", line);
    n++;
  }
  fclose(f);
  if (n < opt.channels)
    return false;
  snprintf(cmd, sizeof cmd, "cp -a '%s'/data/. '%s'/", opt.license_cache, dd);
  if (!sh(cmd))
    die("--license-cache: cannot copy %s/data", opt.license_cache);
  fprintf(stderr, "  licenses: %ld from %s\n", n, opt.license_cache);
  return true;
}

static void licenses_to_cache(const char *dd)
{
  char path[1024], cmd[4096];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'/data && mkdir -p '%s'/data && cp -a '%s'/. '%s'/data/",
           opt.license_cache, opt.license_cache, dd, opt.license_cache);
  if (!sh(cmd))
    die("--license-cache: cannot write %s", opt.license_cache);
  snprintf(path, sizeof path, "%s/keys", opt.license_cache);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    die("--license-cache: %s: %s", path, strerror(errno));
  for (long i = 0; i < opt.channels; i++)
    fprintf(f, "%s\n", chans[i].key);
  if (fclose(f) != 0)
    die("--license-cache: %s: write failed", path);
}

static void make_licenses(void)
{
  char dd[512], out[4096], errp[512];
  snprintf(dd, sizeof dd, "%s/data", g_tmpdir);
  snprintf(errp, sizeof errp, "%s/admin.err", g_tmpdir);
  if (opt.license_cache && strchr(opt.license_cache, '\'') == NULL && licenses_from_cache(dd))
    return;
  char *argv[] = {(char *)opt.admin, "--data-dir", dd, "license", "create", "--days", "30", NULL};
  uint64_t t0 = now_ns(), last = t0;
  for (long i = 0; i < opt.channels; i++) {
    int rc = run_capture(argv, out, sizeof out, errp);
    char *nl = strchr(out, '\n');
    if (nl)
      *nl = '\0';
    if (rc != 0 || out[0] == '\0' || strlen(out) >= sizeof chans[i].key) {
      char e[2048] = "";
      FILE *f = fopen(errp, "r");
      if (f) {
        e[fread(e, 1, sizeof e - 1, f)] = '\0';
        fclose(f);
      }
      die("ttboost-admin license create failed (exit %d, stdout '%s', stderr:\n%s)", rc, out, e);
    }
    snprintf(chans[i].key, sizeof chans[i].key, "%s", out);
    uint64_t t = now_ns();
    if (t - last > 2000000000ull || i + 1 == opt.channels) {
      fprintf(stderr, "  licenses: %ld/%ld (%.1f s)\n", i + 1, opt.channels, secs(t - t0));
      last = t;
    }
  }
  if (opt.license_cache && strchr(opt.license_cache, '\'') == NULL)
    licenses_to_cache(dd);
}

static void login_all(void)
{
  hconn h;
  hc_open(&h, L.port);
  uint64_t t0 = now_ns();
  for (long i = 0; i < opt.channels; i++) {
    char body[512], *resp = NULL;
    int n =
        snprintf(body, sizeof body, "{\"license_key\":\"%s\",\"device_id\":\"fanout-bench-%ld\"}",
                 chans[i].key, i);
    int st = hc_request(&h, "POST", "/auth/login", NULL, body, (size_t)n, &resp);
    /* the answer through the generated codec of LoginResponse */
    ttb_json_error je = {0};
    Ttboost__V1__LoginResponse *lr =
        st == 200 ? ttb_pbc_ttboost_v1_LoginResponse_from_json(resp, strlen(resp), NULL, &je)
                  : NULL;
    if (lr == NULL || strcmp(lr->status, "ok") != 0 || !lr->user_id[0] || !lr->ws_token[0] ||
        strlen(lr->user_id) >= sizeof chans[i].user_id ||
        strlen(lr->ws_token) >= sizeof chans[i].token)
      die("login %ld: HTTP %d (%s): %.300s", i, st, je.msg, resp);
    snprintf(chans[i].user_id, sizeof chans[i].user_id, "%s", lr->user_id);
    snprintf(chans[i].token, sizeof chans[i].token, "%s", lr->ws_token);
    ttboost__v1__login_response__free_unpacked(lr, NULL);
    free(resp);
  }
  fprintf(stderr, "  logins: %ld in %.2f s\n", opt.channels, secs(now_ns() - t0));
  hc_close(&h);
}

/* Prints the server's counters that tell about losses. */
static void server_metrics(void)
{
  hconn h;
  hc_open(&h, L.port);
  char *resp = NULL;
  int st = hc_request(&h, "GET", "/metrics", "Authorization: Bearer " METRICS_TOKEN "\r\n", "", 0,
                      &resp);
  if (st == 200) {
    for (char *l = strtok(resp, "\n"); l; l = strtok(NULL, "\n"))
      if (strncmp(l, "ttboost_queue_drops_total", 25) == 0 ||
          strncmp(l, "ttboost_idle_closes_total", 25) == 0 ||
          strncmp(l, "ttboost_sockets_open", 20) == 0 ||
          strncmp(l, "ttboost_events_out_total", 24) == 0 ||
          strncmp(l, "ttboost_events_rejected_total", 29) == 0 ||
          strncmp(l, "ttboost_ws_writes_total", 23) == 0) {
        printf("server_metric %s\n", l);
        /* all writes of the run (hellos and pings too): messages per write */
        if (strncmp(l, "ttboost_ws_writes_total ", 24) == 0 && L.delivered > 0)
          printf("delivered_msgs_per_ws_write %.2f\n", (double)L.delivered / strtod(l + 24, NULL));
      }
  }
  free(resp);
  hc_close(&h);
}

static void print_machine(void)
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

static const char *mode_name(void)
{
  return opt.mode == MODE_THROUGHPUT ? "throughput" : opt.mode == MODE_LATENCY ? "latency" : "idle";
}

static int run_idle(void)
{
  long before = vm_rss_kib(g_server_pid);
  fprintf(stderr, "  server VmRSS before: %ld KiB\n", before);
  open_sockets();
  /* let allocations settle and a ping or two go by if heartbeat is short */
  uint64_t until = now_ns() + (uint64_t)(opt.seconds * 1e9);
  while (now_ns() < until)
    pump(100);
  long after = vm_rss_kib(g_server_pid);
  if (before < 0 || after < 0)
    die("cannot read /proc/%d/status", (int)g_server_pid);
  double per = (double)(after - before) * 1024.0 / (double)L.n;
  printf("idle_sockets %zu\n", L.n);
  printf("server_vmrss_before_kib %ld\n", before);
  printf("server_vmrss_after_kib %ld\n", after);
  printf("server_bytes_per_idle_socket %.0f\n", per);
  printf("server_kib_per_idle_socket %.2f\n", per / 1024.0);
  printf("pings_answered %" PRIu64 "\n", L.pings);
  printf("sockets_lost %zu\n", L.closed);
  printf("target_kib_per_idle_socket_lt_20 %s\n", per / 1024.0 < 20 ? "met" : "MISSED");
  server_metrics();
  return L.closed ? 1 : 0;
}

static int run_load(void)
{
  L.measure_from = now_ns() + (uint64_t)(opt.warmup * 1e9);
  double cpu_srv0 =
      opt.cluster ? cpu_seconds(K.pid1) + cpu_seconds(K.pid2) : cpu_seconds(g_server_pid);
  double cpu_nats0 = opt.cluster && K.nats_pid > 0 ? cpu_seconds(K.nats_pid) : 0;
  double cpu_me0 = self_cpu_seconds();
  uint64_t t0 = now_ns();
  if (opt.mode == MODE_THROUGHPUT)
    L.measure_from = t0;
  I.t_start = now_ns();
  for (long t = 0; t < opt.ingest_conns; t++)
    if (pthread_create(&I.th[t], NULL, ingest_main, (void *)(uintptr_t)t) != 0)
      die("pthread_create failed");
  uint64_t last_print = t0, last_deliv = 0, last_progress = t0;
  uint64_t done_at = 0;
  for (;;) {
    pump(10);
    uint64_t t = now_ns();
    if (L.delivered != last_deliv) {
      last_progress = t;
    }
    if (t - last_print >= 1000000000ull) {
      fprintf(stderr, "  %5.1f s: delivered %" PRIu64 " (%.0f/s), ingested %" PRIu64 ", open %zu\n",
              secs(t - t0), L.delivered, (double)(L.delivered - last_deliv) / secs(t - last_print),
              (uint64_t)atomic_load(&I.accepted), L.open);
      last_deliv = L.delivered;
      last_print = t;
    }
    if (L.closed)
      break;
    if (atomic_load(&I.done)) {
      if (done_at == 0)
        done_at = t;
      uint64_t expect = atomic_load(&I.accepted) * (uint64_t)opt.per_channel;
      if (L.delivered >= expect)
        break;
      if (t - last_progress > (uint64_t)(opt.drain_timeout * 1e9))
        break;
    }
  }
  atomic_store(&I.stop, true); /* when a socket was lost */
  for (long t = 0; t < opt.ingest_conns; t++)
    pthread_join(I.th[t], NULL);
  double cpu_srv =
      (opt.cluster ? cpu_seconds(K.pid1) + cpu_seconds(K.pid2) : cpu_seconds(g_server_pid)) -
      cpu_srv0;
  double cpu_nats = opt.cluster && K.nats_pid > 0 ? cpu_seconds(K.nats_pid) - cpu_nats0 : 0;
  double cpu_me = self_cpu_seconds() - cpu_me0;
  uint64_t accepted = atomic_load(&I.accepted);
  uint64_t expect = accepted * (uint64_t)opt.per_channel;
  uint64_t end = L.last_recv ? L.last_recv : now_ns();
  double wall = secs(end - t0);
  double measured_wall = secs(end - (L.measure_from > t0 ? L.measure_from : t0));
  double ingest_wall = secs(I.t_end - I.t_start);
  printf("sockets %zu\nchannels %ld\nper_channel %ld\nbatch %ld\ngroup %ld\ningest_conns %ld\n",
         L.n, opt.channels, opt.per_channel, opt.batch, opt.group, opt.ingest_conns);
  if (opt.mode == MODE_LATENCY)
    printf("target_delivered_msgs_per_s %.0f\n", opt.rate);
  printf("events_ingested %" PRIu64 "\n", accepted);
  printf("ingest_posts %" PRIu64 "\n", (uint64_t)atomic_load(&I.posts));
  printf("ingest_events_per_s %.0f\n", ingest_wall > 0 ? (double)accepted / ingest_wall : 0);
  printf("messages_expected %" PRIu64 "\n", expect);
  printf("messages_delivered %" PRIu64 "\n", L.delivered);
  printf("wall_s %.3f\n", wall);
  printf("delivered_msgs_per_s %.0f\n", wall > 0 ? (double)L.delivered / wall : 0);
  if (opt.mode == MODE_LATENCY)
    printf("delivered_msgs_per_s_after_warmup %.0f\n",
           measured_wall > 0 ? (double)L.counted / measured_wall : 0);
  printf("latency_samples %" PRIu64 "\n", L.lat.n);
  printf("latency_p50_us %.1f\n", (double)h_pct(&L.lat, 50) / 1e3);
  printf("latency_p90_us %.1f\n", (double)h_pct(&L.lat, 90) / 1e3);
  printf("latency_p99_us %.1f\n", (double)h_pct(&L.lat, 99) / 1e3);
  printf("latency_p999_us %.1f\n", (double)h_pct(&L.lat, 99.9) / 1e3);
  printf("latency_max_us %.1f\n", (double)L.lat.max / 1e3);
  printf("latency_mean_us %.1f\n", L.lat.n ? L.lat.sum / (double)L.lat.n / 1e3 : 0);
  if (opt.mode == MODE_LATENCY)
    printf("ingest_behind_schedule_max_ms %.2f\n", (double)atomic_load(&I.behind_max) / 1e6);
  printf("seq_gaps %" PRIu64 "\n", L.seq_gaps);
  printf("sockets_lost %zu\n", L.closed);
  printf("server_cpu_s %.2f\nbench_cpu_s %.2f\n", cpu_srv, cpu_me);
  /* server utime+stime (/proc/PID/stat) from the first POST to the end of the run */
  printf("delivered_msgs_per_server_cpu_s %.0f\n", cpu_srv > 0 ? (double)L.delivered / cpu_srv : 0);
  if (opt.cluster) {
    /* server_cpu_s is both nodes'; nats-server's apart, and the cluster's whole */
    printf("nodes 2\nnats_cpu_s %.2f\n", cpu_nats);
    printf("server_cpu_us_per_event %.1f\n", accepted ? cpu_srv * 1e6 / (double)accepted : 0);
    printf("nats_cpu_us_per_event %.1f\n", accepted ? cpu_nats * 1e6 / (double)accepted : 0);
    printf("delivered_msgs_per_cluster_cpu_s %.0f\n",
           cpu_srv + cpu_nats > 0 ? (double)L.delivered / (cpu_srv + cpu_nats) : 0);
  } else {
    printf("server_cpu_us_per_event %.1f\n", accepted ? cpu_srv * 1e6 / (double)accepted : 0);
  }
  printf("client_bytes_in %" PRIu64 "\n", L.bytes_in);
  if (opt.mode == MODE_THROUGHPUT)
    printf("target_delivered_msgs_per_s_ge_400000 %s\n",
           wall > 0 && (double)L.delivered / wall >= 400000 ? "met" : "MISSED");
  else
    printf("target_p99_lt_10ms %s\n", h_pct(&L.lat, 99) < 10000000 ? "met" : "MISSED");
  if (!opt.cluster) /* the cluster's nodes have no metrics token of ours */
    server_metrics();
  int rc = 0;
  if (atomic_load(&I.failed)) {
    fprintf(stderr, "fanout-bench: error: %s\n", I.err);
    rc = 1;
  }
  if (L.closed) {
    fprintf(stderr, "fanout-bench: error: %zu sockets lost during the run\n", L.closed);
    rc = 1;
  }
  if (L.delivered != expect) {
    fprintf(stderr, "fanout-bench: error: %" PRIu64 " messages delivered, %" PRIu64 " expected\n",
            L.delivered, expect);
    rc = 1;
  }
  if (L.seq_gaps) {
    fprintf(stderr, "fanout-bench: error: %" PRIu64 " sequence gaps\n", L.seq_gaps);
    rc = 1;
  }
  return rc;
}

int main(int argc, char **argv)
{
  parse_args(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  rng_seed();
  if (opt.cluster) {
    load_cluster();
  } else {
    if (access(opt.server, X_OK) != 0)
      die("--server %s: %s", opt.server, strerror(errno));
    if (access(opt.admin, X_OK) != 0)
      die("--admin %s: %s", opt.admin, strerror(errno));
  }

  L.n = opt.mode == MODE_IDLE ? (size_t)opt.idle_sockets : (size_t)(opt.channels * opt.per_channel);
  if (opt.mode == MODE_IDLE && (size_t)(opt.channels * opt.per_channel) < L.n)
    die("--channels x --per-channel is less than --idle-sockets");
  raise_nofile(L.n + 256);

  snprintf(g_tmpdir, sizeof g_tmpdir, "%s/fanout-bench.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(g_tmpdir) == NULL) {
    g_tmpdir[0] = '\0';
    die("mkdtemp: %s", strerror(errno));
  }
  char dd[512];
  snprintf(dd, sizeof dd, "%s/data", g_tmpdir);
  if (mkdir(dd, 0700) != 0)
    die("mkdir %s: %s", dd, strerror(errno));

  printf("mode %s\n", mode_name());
  print_machine();
  fprintf(stderr, "fanout-bench: %s, %ld channels x %ld sockets, data in %s\n", mode_name(),
          opt.channels, opt.per_channel, g_tmpdir);

  chans = calloc((size_t)opt.channels, sizeof *chans);
  L.c = calloc(L.n, sizeof *L.c);
  if (chans == NULL || L.c == NULL)
    die("out of memory");
  if (opt.cluster) {
    make_licenses_cluster();
    L.port = K.port1;
    fprintf(stderr, "  cluster: node 1 (pid %d) on 127.0.0.1:%u, node 2 (pid %d) on 127.0.0.1:%u\n",
            (int)K.pid1, K.port1, (int)K.pid2, K.port2);
  } else {
    make_licenses();
    L.port = start_server();
    fprintf(stderr, "  server pid %d on 127.0.0.1:%u\n", (int)g_server_pid, L.port);
  }
  login_all();
  for (size_t i = 0; i < L.n; i++) {
    L.c[i].fd = -1;
    L.c[i].ch = (uint32_t)(i / (size_t)opt.per_channel);
    /* --cluster: a channel's sockets alternate between the nodes */
    L.c[i].port = opt.cluster && (i % (size_t)opt.per_channel) % 2 == 1 ? K.port2 : L.port;
  }
  L.ep = epoll_create1(EPOLL_CLOEXEC);
  if (L.ep < 0)
    die("epoll_create1: %s", strerror(errno));

  int rc;
  if (opt.mode == MODE_IDLE) {
    rc = run_idle();
  } else {
    open_sockets();
    rc = run_load();
  }
  int st = 0;
  if (g_server_pid > 0 && waitpid(g_server_pid, &st, WNOHANG) == g_server_pid) {
    g_server_pid = -1;
    fprintf(stderr, "fanout-bench: error: the server died during the run\n");
    rc = 1;
  }
  if (opt.cluster && (kill(K.pid1, 0) != 0 || kill(K.pid2, 0) != 0)) {
    fprintf(stderr, "fanout-bench: error: a node died during the run\n");
    rc = 1;
  }
  for (size_t i = 0; i < L.n; i++)
    if (L.c[i].fd >= 0)
      close(L.c[i].fd);
  cleanup();
  fprintf(stderr, "fanout-bench: %s\n", rc ? "FAILED (see above)" : "done");
  return rc;
}
