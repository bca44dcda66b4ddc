/*
 * fanout-bench: the fan-out load generator for ttboost-server.
 *
 * It starts the server itself (127.0.0.1, an ephemeral port, a temporary
 * data directory, a known ingest secret), makes one licence per channel with
 * ttboost-admin, logs each channel in, opens channels x per-channel
 * WebSockets (its own HTTP/1.1 + RFC 6455 client: epoll, non-blocking
 * sockets, masked client frames, pongs for the server's pings), then posts
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

/* First occurrence of needle in [s, s+n). */
static const char *find(const char *s, size_t n, const char *needle)
{
  return memmem(s, n, needle, strlen(needle));
}

/* ---------------------------------------------------------- SHA-1, base64 */

typedef struct sha1 {
  uint32_t h[5];
  uint64_t len;
  uint8_t buf[64];
  size_t n;
} sha1;

static uint32_t rol(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void sha1_block(sha1 *s, const uint8_t *p)
{
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol(b, 30);
    b = a;
    a = t;
  }
  s->h[0] += a;
  s->h[1] += b;
  s->h[2] += c;
  s->h[3] += d;
  s->h[4] += e;
}

static void sha1_init(sha1 *s)
{
  *s = (sha1){{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
}

static void sha1_update(sha1 *s, const void *data, size_t len)
{
  const uint8_t *p = data;
  s->len += len;
  while (len--) {
    s->buf[s->n++] = *p++;
    if (s->n == 64) {
      sha1_block(s, s->buf);
      s->n = 0;
    }
  }
}

static void sha1_final(sha1 *s, uint8_t out[20])
{
  uint64_t bits = s->len * 8;
  uint8_t pad = 0x80;
  sha1_update(s, &pad, 1);
  pad = 0;
  while (s->n != 56)
    sha1_update(s, &pad, 1);
  for (int i = 7; i >= 0; i--) {
    uint8_t b = (uint8_t)(bits >> (8 * i));
    sha1_update(s, &b, 1);
  }
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (uint8_t)(s->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)s->h[i];
  }
}

static void base64(const uint8_t *in, size_t n, char *out)
{
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = '\0';
}

/* Sec-WebSocket-Accept for key (RFC 6455 section 4.2.2). */
static void ws_accept_of(const char *key, char out[32])
{
  sha1 s;
  uint8_t d[20];
  sha1_init(&s);
  sha1_update(&s, key, strlen(key));
  sha1_update(&s, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
  sha1_final(&s, d);
  base64(d, 20, out);
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

typedef struct hconn {
  int fd;
  uint16_t port;
  char *buf;
  size_t len, cap;
} hconn;

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

static void hc_open(hconn *h, uint16_t port)
{
  h->port = port;
  h->fd = tcp_connect(port, false);
  if (h->fd < 0)
    die("connect to 127.0.0.1:%u: %s", port, strerror(errno));
  h->len = 0;
}

static bool hc_fill(hconn *h)
{
  if (h->cap - h->len < 65536) {
    h->cap = h->cap ? h->cap * 2 : 131072;
    h->buf = xrealloc(h->buf, h->cap);
  }
  ssize_t r;
  do
    r = recv(h->fd, h->buf + h->len, h->cap - h->len - 1, 0);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return false;
  h->len += (size_t)r;
  h->buf[h->len] = '\0';
  return true;
}

/* Is p[0..n) one complete JSON object or array? */
static bool json_complete(const char *p, size_t n)
{
  int depth = 0;
  bool str = false, seen = false;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        str = false;
    } else if (c == '"') {
      str = true;
    } else if (c == '{' || c == '[') {
      depth++;
      seen = true;
    } else if (c == '}' || c == ']') {
      if (--depth == 0 && seen)
        return true;
    }
  }
  return false;
}

/* One request on the keep-alive connection; the body of the answer is
 * copied to *body (NUL-terminated, malloc'd). Returns the status. */
static int hc_request(hconn *h, const char *method, const char *path, const char *extra_headers,
                      const char *body, size_t body_len, char **resp)
{
  char head[1024];
  int hn = snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n%s\r\n",
                    method, path, h->port, body_len, extra_headers ? extra_headers : "");
  struct iovec_like {
    const char *p;
    size_t n;
  } parts[2] = {{head, (size_t)hn}, {body, body_len}};
  for (int attempt = 0;; attempt++) {
    if (h->fd < 0)
      hc_open(h, h->port);
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
      const char *p = parts[i].p;
      size_t n = parts[i].n;
      while (n) {
        ssize_t w = send(h->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
          continue;
        if (w <= 0) {
          ok = false;
          break;
        }
        p += w;
        n -= (size_t)w;
      }
    }
    /* read the head */
    char *end = NULL;
    while (ok && (end = h->len ? strstr(h->buf, "\r\n\r\n") : NULL) == NULL)
      ok = hc_fill(h);
    if (!ok) {
      if (attempt == 0 && h->len == 0) { /* the keep-alive connection was closed: once more */
        close(h->fd);
        h->fd = -1;
        continue;
      }
      die("%s %s: the server closed the connection (%s)", method, path, strerror(errno));
    }
    int status = 0;
    if (sscanf(h->buf, "HTTP/1.%*d %d", &status) != 1)
      die("%s %s: not an HTTP answer", method, path);
    size_t hlen = (size_t)(end - h->buf) + 4;
    long clen = -1;
    bool chunked = false, close_after = false;
    for (char *l = strstr(h->buf, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
      if (strncasecmp(l, "content-length:", 15) == 0)
        clen = strtol(l + 15, NULL, 10);
      else if (strncasecmp(l, "transfer-encoding:", 18) == 0 && strstr(l, "chunked") && strstr(l, "chunked") < strstr(l, "\r\n"))
        chunked = true;
      else if (strncasecmp(l, "connection:", 11) == 0 && strncasecmp(l + 11, " close", 6) == 0)
        close_after = true;
    }
    char *out = NULL;
    size_t olen = 0;
    if (chunked) {
      size_t pos = hlen;
      out = xmalloc(1);
      for (;;) {
        char *crlf;
        while ((crlf = strstr(h->buf + pos, "\r\n")) == NULL)
          if (!hc_fill(h))
            die("%s %s: truncated chunked answer", method, path);
        size_t cl = strtoul(h->buf + pos, NULL, 16);
        size_t start = (size_t)(crlf - h->buf) + 2;
        while (h->len < start + cl + 2)
          if (!hc_fill(h))
            die("%s %s: truncated chunked answer", method, path);
        out = xrealloc(out, olen + cl + 1);
        memcpy(out + olen, h->buf + start, cl);
        olen += cl;
        pos = start + cl + 2;
        if (cl == 0)
          break;
      }
      hlen = pos;
    } else if (clen < 0 && close_after) {
      /* the body runs to the end of the connection; a complete JSON value
       * is enough (no need to wait for the server's FIN) */
      while (!json_complete(h->buf + hlen, h->len - hlen) && hc_fill(h))
        ;
      clen = (long)(h->len - hlen);
      out = xmalloc((size_t)clen + 1);
      memcpy(out, h->buf + hlen, (size_t)clen);
      olen = (size_t)clen;
      hlen += (size_t)clen;
    } else {
      if (clen < 0)
        clen = 0;
      while (h->len < hlen + (size_t)clen)
        if (!hc_fill(h))
          die("%s %s: truncated answer", method, path);
      out = xmalloc((size_t)clen + 1);
      memcpy(out, h->buf + hlen, (size_t)clen);
      olen = (size_t)clen;
      hlen += (size_t)clen;
    }
    out[olen] = '\0';
    memmove(h->buf, h->buf + hlen, h->len - hlen);
    h->len -= hlen;
    h->buf[h->len] = '\0';
    if (close_after) {
      close(h->fd);
      h->fd = -1;
      h->len = 0;
    }
    *resp = out;
    return status;
  }
}

/* The string value of "key" in a flat JSON object (no escapes expected). */
static bool json_str(const char *js, const char *key, char *out, size_t cap)
{
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(js, pat);
  if (p == NULL)
    return false;
  p += strlen(pat);
  const char *e = strchr(p, '"');
  if (e == NULL || (size_t)(e - p) >= cap)
    return false;
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
  return true;
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
  const char *licence_cache;
} opt;

static void usage(FILE *f)
{
  fputs("usage: fanout-bench --server PATH --admin PATH [options]\n"
        "\n"
        "Starts ttboost-server on 127.0.0.1 (ephemeral port, temp data dir), opens WebSockets,\n"
        "ingests gift events and measures fan-out. Figures on stdout, progress on stderr.\n"
        "\n"
        "  --mode throughput|latency|idle   (default throughput)\n"
        "  --channels N         channels (licences); default 1000 (idle: 100)\n"
        "  --per-channel K      sockets per channel; default 2 (idle: idle-sockets/channels)\n"
        "  --messages M         gift events to ingest (instead of --seconds)\n"
        "  --seconds S          ingest for S seconds (default 10; idle: hold the sockets S s, default 2)\n"
        "  --rate R             latency mode: target delivered msgs/s (default 100000)\n"
        "  --batch B            events per POST (default throughput 256, latency rate/per-channel/1000)\n"
        "  --group G            events of one channel side by side in a batch, as one streamer's\n"
        "                       connector posts them (default 1: every event another channel)\n"
        "  --idle-sockets N     idle mode: sockets to open (default 10000)\n"
        "  --window W           throughput: events in flight per channel at most (default 256)\n"
        "  --warmup S           latency mode: seconds not counted at the start (default 1)\n"
        "  --connect-parallel N handshakes in flight (default 256)\n"
        "  --ingest-conns N     ingest threads, one HTTP connection each, each with its share\n"
        "                       of the channels and of the rate (default 2; at most 16)\n"
        "  --server-opt K=V     pass --K V to the server (repeatable), e.g. heartbeat-ms=1000\n"
        "  --keep-tmp           keep the temporary data directory\n"
        "  --licence-cache DIR  reuse the licences (database and keys) kept in DIR by an earlier\n"
        "                       run with at least as many channels; made and kept there if not\n"
        "                       (1000 licences take ~15-50 s to make)\n",
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
    else if (strcmp(a, "--licence-cache") == 0)
      opt.licence_cache = v;
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
  if (!opt.server || !opt.admin) {
    usage(stderr);
    exit(2);
  }
  if (opt.ingest_conns < 0)
    opt.ingest_conns = 2;
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

static const char SECRET[] = "fanout-bench-ingest-secret-0123456789";
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
  /* the fan-out is measured, not the sockets-per-licence limit (--server-opt can set it) */
  static char spd[] = "--sockets-per-device", mspl[] = "--max-sockets-per-licence", zero[] = "0";
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

/* ---------------------------------------------------------- the channels */

typedef struct channel {
  char key[160];
  char user_id[64];
  char token[64];
  _Atomic uint64_t ingested; /* events accepted for it (ingest thread) */
} channel;

static channel *chans;

/* ------------------------------------------------------------ WebSockets */

enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };

typedef struct conn {
  int fd;
  uint8_t state;
  bool hello;
  bool want_out;
  uint32_t ch;
  char key_accept[32];
  uint64_t last_seq;
  _Atomic uint64_t got; /* gift events received */
  char *in;             /* a partial frame (or handshake) carried over */
  size_t in_len, in_cap;
  char *frag; /* a fragmented message being assembled */
  size_t frag_len, frag_cap;
  uint8_t frag_op;
  char *out; /* bytes not yet written */
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
  uint64_t delivered;   /* gift events, all sockets */
  uint64_t counted;     /* of those, sent after the warm-up */
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

/* Sends a masked client frame (RFC 6455 5.3). */
static void send_frame(conn *c, uint8_t opcode, const void *payload, size_t len)
{
  uint8_t f[14 + 125];
  size_t h = 0;
  if (len > 125)
    len = 125; /* only control frames go out */
  f[h++] = (uint8_t)(0x80 | opcode);
  f[h++] = (uint8_t)(0x80 | len);
  uint32_t m = (uint32_t)rng();
  uint8_t mask[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
  memcpy(f + h, mask, 4);
  h += 4;
  for (size_t i = 0; i < len; i++)
    f[h + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
  conn_write(c, f, h + len);
}

static uint64_t parse_u64(const char *p, const char *end)
{
  uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9')
    v = v * 10 + (uint64_t)(*p++ - '0');
  return v;
}

static void on_text(conn *c, const char *m, size_t n, uint64_t now)
{
  const char *t = find(m, n, "\"type\":\"");
  if (t == NULL) {
    conn_fail(c, "a message without a type: %.*s", (int)(n > 200 ? 200 : n), m);
    return;
  }
  t += 8;
  size_t left = n - (size_t)(t - m);
  if (left >= 5 && memcmp(t, "gift\"", 5) == 0) {
    if (!c->hello) {
      conn_fail(c, "a gift before hello");
      return;
    }
    const char *s = find(m, n, "\"seq\":");
    uint64_t seq = s ? parse_u64(s + 6, m + n) : 0;
    if (seq != c->last_seq + 1)
      L.seq_gaps++;
    c->last_seq = seq;
    const char *u = find(m, n, "\"user\":\"");
    uint64_t sent = u ? parse_u64(u + 8, m + n) : 0;
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
  if (left >= 6 && memcmp(t, "hello\"", 6) == 0) {
    if (!c->hello) {
      c->hello = true;
      L.hellos++;
    }
    return;
  }
  if (left >= 6 && memcmp(t, "error\"", 6) == 0) {
    conn_fail(c, "the server says: %.*s", (int)(n > 300 ? 300 : n), m);
    return;
  }
  /* chat, pong, ... : not ours, ignored */
}

static void on_frame(conn *c, uint8_t b0, const char *p, size_t n, uint64_t now)
{
  bool fin = b0 & 0x80;
  uint8_t op = b0 & 0x0F;
  switch (op) {
  case 0x9: /* ping: answer with the same payload */
    L.pings++;
    send_frame(c, 0xA, p, n);
    return;
  case 0xA:
    return;
  case 0x8: {
    unsigned code = n >= 2 ? (unsigned)(uint8_t)p[0] << 8 | (uint8_t)p[1] : 1005;
    send_frame(c, 0x8, p, n >= 2 ? 2 : 0);
    conn_fail(c, "closed by the server: %u %.*s", code, (int)(n > 2 ? n - 2 : 0), p + 2);
    return;
  }
  case 0x1:
  case 0x2:
  case 0x0:
    break;
  default:
    conn_fail(c, "unknown opcode %u", op);
    return;
  }
  if (op != 0 && fin && c->frag_len == 0 && c->frag_op == 0) {
    if (op == 0x1)
      on_text(c, p, n, now);
    return;
  }
  /* fragmented */
  if (op != 0) {
    if (c->frag_op) {
      conn_fail(c, "a new message inside a fragmented one");
      return;
    }
    c->frag_op = op;
    c->frag_len = 0;
  } else if (c->frag_op == 0) {
    conn_fail(c, "a continuation frame without a message");
    return;
  }
  if (c->frag_len + n > c->frag_cap) {
    c->frag_cap = (c->frag_len + n) * 2;
    c->frag = xrealloc(c->frag, c->frag_cap);
  }
  memcpy(c->frag + c->frag_len, p, n);
  c->frag_len += n;
  if (fin) {
    if (c->frag_op == 0x1)
      on_text(c, c->frag, c->frag_len, now);
    c->frag_op = 0;
    c->frag_len = 0;
  }
}

/* Parses the frames in p[0..n); returns the bytes consumed. */
static size_t parse_frames(conn *c, const char *p, size_t n, uint64_t now)
{
  size_t off = 0;
  while (c->state == C_OPEN && n - off >= 2) {
    const uint8_t *h = (const uint8_t *)p + off;
    if (h[1] & 0x80) {
      conn_fail(c, "a masked frame from the server");
      return n;
    }
    uint64_t len = h[1] & 0x7F;
    size_t hl = 2;
    if (len == 126) {
      if (n - off < 4)
        break;
      len = (uint64_t)h[2] << 8 | h[3];
      hl = 4;
    } else if (len == 127) {
      if (n - off < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | h[2 + i];
      hl = 10;
    }
    if (len > (64u << 20)) {
      conn_fail(c, "a frame of %" PRIu64 " bytes", len);
      return n;
    }
    if (n - off < hl + len)
      break;
    on_frame(c, h[0], p + off + hl, (size_t)len, now);
    off += hl + (size_t)len;
  }
  return off;
}

static void keep_tail(conn *c, const char *p, size_t n)
{
  if (n > c->in_cap) {
    c->in_cap = n < 4096 ? 4096 : n * 2;
    c->in = xrealloc(c->in, c->in_cap);
  }
  memmove(c->in, p, n);
  c->in_len = n;
}

static void handle_bytes(conn *c, const char *p, size_t n, uint64_t now)
{
  if (c->in_len) { /* join with the carried-over part */
    if (c->in_len + n > c->in_cap) {
      c->in_cap = (c->in_len + n) * 2;
      c->in = xrealloc(c->in, c->in_cap);
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    p = c->in;
    n = c->in_len;
  }
  size_t used = 0;
  if (c->state == C_HANDSHAKE) {
    const char *end = find(p, n, "\r\n\r\n");
    if (end == NULL) {
      if (n > 16384) {
        conn_fail(c, "an oversized handshake answer");
        return;
      }
      keep_tail(c, p, n);
      return;
    }
    size_t hl = (size_t)(end - p) + 4;
    int status = 0;
    if (n < 12 || sscanf(p, "HTTP/1.1 %d", &status) != 1 || status != 101) {
      conn_fail(c, "handshake refused: %.*s", (int)(hl > 300 ? 300 : hl), p);
      return;
    }
    bool ok = false;
    for (const char *l = p; l < end;) {
      const char *nl = find(l, (size_t)(end + 2 - l), "\r\n");
      if (nl == NULL)
        break;
      if ((size_t)(nl - l) > 21 && strncasecmp(l, "sec-websocket-accept:", 21) == 0) {
        const char *v = l + 21;
        while (v < nl && *v == ' ')
          v++;
        size_t al = strlen(c->key_accept);
        ok = (size_t)(nl - v) >= al && memcmp(v, c->key_accept, al) == 0;
      }
      l = nl + 2;
    }
    if (!ok) {
      conn_fail(c, "the handshake's Sec-WebSocket-Accept is missing or wrong");
      return;
    }
    c->state = C_OPEN;
    L.connecting--;
    L.open++;
    used = hl;
  }
  used += parse_frames(c, p + used, n - used, now);
  if (c->state == C_CLOSED)
    return;
  if (used < n)
    keep_tail(c, p + used, n - used);
  else
    c->in_len = 0;
}

static void start_handshake(conn *c)
{
  uint8_t raw[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = rng();
    memcpy(raw + i, &r, 8);
  }
  char key[32];
  base64(raw, 16, key);
  ws_accept_of(key, c->key_accept);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   chans[c->ch].token, L.port, key);
  c->state = C_HANDSHAKE;
  conn_write(c, req, (size_t)n);
}

static void connect_more(void)
{
  while (L.next_connect < L.n && L.connecting < (size_t)opt.connect_parallel) {
    conn *c = &L.c[L.next_connect++];
    c->fd = tcp_connect(L.port, true);
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
    if (evs[i].events & EPOLLOUT)
      flush_out(c);
    if (c->state == C_CLOSED)
      continue;
    if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      ssize_t r = recv(c->fd, L.rbuf, sizeof L.rbuf, 0);
      if (r > 0) {
        L.bytes_in += (uint64_t)r;
        handle_bytes(c, L.rbuf, (size_t)r, now);
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
  hconn h = {.fd = -1, .port = L.port};
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
  const uint64_t limit = opt.messages > 0 ? (uint64_t)opt.messages / nth + (tid < (uint64_t)opt.messages % nth)
                                          : UINT64_MAX;
  const uint64_t t0 = I.t_start;
  const uint64_t deadline = opt.seconds > 0 ? t0 + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
  /* each thread carries rate / nth, its posts offset to spread them */
  const double interval_ns =
      opt.mode == MODE_LATENCY ? (double)B * (double)opt.per_channel * (double)nth / opt.rate * 1e9 : 0;
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
      len += (size_t)snprintf(body + len, cap - len, "%s{\"channel\":\"%s\",\"type\":\"gift\",\"user\":\"",
                              i ? "," : "", chans[ch_of[i]].user_id);
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
    const char *acc = strstr(resp, "\"accepted\":");
    uint64_t accepted = acc ? strtoull(acc + 11, NULL, 10) : 0;
    if (st != 202 || accepted != got) {
      snprintf(I.err, sizeof I.err, "POST /ingest/events: %d, %" PRIu64 " of %zu accepted: %.300s", st,
               accepted, got, resp);
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
  if (h.fd >= 0)
    close(h.fd);
  free(h.buf);
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

/* --licence-cache: copies the cached database into the data dir and reads
 * the keys; false when the cache is missing or has too few keys. */
static bool licences_from_cache(const char *dd)
{
  char path[1024], cmd[4096];
  snprintf(path, sizeof path, "%s/keys", opt.licence_cache);
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
  snprintf(cmd, sizeof cmd, "cp -a '%s'/data/. '%s'/", opt.licence_cache, dd);
  if (!sh(cmd))
    die("--licence-cache: cannot copy %s/data", opt.licence_cache);
  fprintf(stderr, "  licences: %ld from %s\n", n, opt.licence_cache);
  return true;
}

static void licences_to_cache(const char *dd)
{
  char path[1024], cmd[4096];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'/data && mkdir -p '%s'/data && cp -a '%s'/. '%s'/data/",
           opt.licence_cache, opt.licence_cache, dd, opt.licence_cache);
  if (!sh(cmd))
    die("--licence-cache: cannot write %s", opt.licence_cache);
  snprintf(path, sizeof path, "%s/keys", opt.licence_cache);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    die("--licence-cache: %s: %s", path, strerror(errno));
  for (long i = 0; i < opt.channels; i++)
    fprintf(f, "%s\n", chans[i].key);
  if (fclose(f) != 0)
    die("--licence-cache: %s: write failed", path);
}

static void make_licences(void)
{
  char dd[512], out[4096], errp[512];
  snprintf(dd, sizeof dd, "%s/data", g_tmpdir);
  snprintf(errp, sizeof errp, "%s/admin.err", g_tmpdir);
  if (opt.licence_cache && strchr(opt.licence_cache, '\'') == NULL && licences_from_cache(dd))
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
      fprintf(stderr, "  licences: %ld/%ld (%.1f s)\n", i + 1, opt.channels, secs(t - t0));
      last = t;
    }
  }
  if (opt.licence_cache && strchr(opt.licence_cache, '\'') == NULL)
    licences_to_cache(dd);
}

static void login_all(void)
{
  hconn h = {.fd = -1, .port = L.port};
  hc_open(&h, L.port);
  uint64_t t0 = now_ns();
  for (long i = 0; i < opt.channels; i++) {
    char body[512], *resp = NULL, status[32];
    int n = snprintf(body, sizeof body, "{\"license_key\":\"%s\",\"device_id\":\"fanout-bench-%ld\"}",
                     chans[i].key, i);
    int st = hc_request(&h, "POST", "/auth/login", NULL, body, (size_t)n, &resp);
    if (st != 200 || !json_str(resp, "status", status, sizeof status) || strcmp(status, "ok") != 0 ||
        !json_str(resp, "user_id", chans[i].user_id, sizeof chans[i].user_id) ||
        !json_str(resp, "ws_token", chans[i].token, sizeof chans[i].token))
      die("login %ld: HTTP %d: %.300s", i, st, resp);
    free(resp);
  }
  fprintf(stderr, "  logins: %ld in %.2f s\n", opt.channels, secs(now_ns() - t0));
  close(h.fd);
  free(h.buf);
}

/* Prints the server's counters that tell about losses. */
static void server_metrics(void)
{
  hconn h = {.fd = -1, .port = L.port};
  hc_open(&h, L.port);
  char *resp = NULL;
  int st = hc_request(&h, "GET", "/metrics", "Authorization: Bearer " METRICS_TOKEN "\r\n", "", 0, &resp);
  if (st == 200) {
    for (char *l = strtok(resp, "\n"); l; l = strtok(NULL, "\n"))
      if (strncmp(l, "ttboost_queue_drops_total", 25) == 0 || strncmp(l, "ttboost_idle_closes_total", 25) == 0 ||
          strncmp(l, "ttboost_sockets_open", 20) == 0 || strncmp(l, "ttboost_events_out_total", 24) == 0 ||
          strncmp(l, "ttboost_events_rejected_total", 29) == 0 || strncmp(l, "ttboost_ws_writes_total", 23) == 0)
      {
        printf("server_metric %s\n", l);
        /* all writes of the run (hellos and pings too): messages per write */
        if (strncmp(l, "ttboost_ws_writes_total ", 24) == 0 && L.delivered > 0)
          printf("delivered_msgs_per_ws_write %.2f\n", (double)L.delivered / strtod(l + 24, NULL));
      }
  }
  free(resp);
  close(h.fd);
  free(h.buf);
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
  double cpu_srv0 = cpu_seconds(g_server_pid), cpu_me0 = self_cpu_seconds();
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
  double cpu_srv = cpu_seconds(g_server_pid) - cpu_srv0, cpu_me = self_cpu_seconds() - cpu_me0;
  uint64_t accepted = atomic_load(&I.accepted);
  uint64_t expect = accepted * (uint64_t)opt.per_channel;
  uint64_t end = L.last_recv ? L.last_recv : now_ns();
  double wall = secs(end - t0);
  double measured_wall = secs(end - (L.measure_from > t0 ? L.measure_from : t0));
  double ingest_wall = secs(I.t_end - I.t_start);
  printf("sockets %zu\nchannels %ld\nper_channel %ld\nbatch %ld\ngroup %ld\ningest_conns %ld\n", L.n,
         opt.channels, opt.per_channel, opt.batch, opt.group, opt.ingest_conns);
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
    printf("delivered_msgs_per_s_after_warmup %.0f\n", measured_wall > 0 ? (double)L.counted / measured_wall : 0);
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
  printf("client_bytes_in %" PRIu64 "\n", L.bytes_in);
  if (opt.mode == MODE_THROUGHPUT)
    printf("target_delivered_msgs_per_s_ge_400000 %s\n",
           wall > 0 && (double)L.delivered / wall >= 400000 ? "met" : "MISSED");
  else
    printf("target_p99_lt_10ms %s\n", h_pct(&L.lat, 99) < 10000000 ? "met" : "MISSED");
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
  if (access(opt.server, X_OK) != 0)
    die("--server %s: %s", opt.server, strerror(errno));
  if (access(opt.admin, X_OK) != 0)
    die("--admin %s: %s", opt.admin, strerror(errno));

  L.n = opt.mode == MODE_IDLE ? (size_t)opt.idle_sockets : (size_t)(opt.channels * opt.per_channel);
  if (opt.mode == MODE_IDLE && (size_t)(opt.channels * opt.per_channel) < L.n)
    die("--channels x --per-channel is less than --idle-sockets");
  raise_nofile(L.n + 256);

  snprintf(g_tmpdir, sizeof g_tmpdir, "%s/fanout-bench.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
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
  make_licences();
  L.port = start_server();
  fprintf(stderr, "  server pid %d on 127.0.0.1:%u\n", (int)g_server_pid, L.port);
  login_all();
  for (size_t i = 0; i < L.n; i++) {
    L.c[i].fd = -1;
    L.c[i].ch = (uint32_t)(i / (size_t)opt.per_channel);
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
  for (size_t i = 0; i < L.n; i++)
    if (L.c[i].fd >= 0)
      close(L.c[i].fd);
  cleanup();
  fprintf(stderr, "fanout-bench: %s\n", rc ? "FAILED (see above)" : "done");
  return rc;
}
