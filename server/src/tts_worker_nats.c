/*
 * ttboost-tts-worker's NATS modes (tts_worker.h; docs/scaling.md):
 *
 * --nats URL: each engine (a process: espeak-ng keeps global state) takes
 * one job at a time from the queue group of the jobs' subject: it
 * subscribes with a limit of one message (natsSubscription_AutoUnsubscribe
 * 1, which nats-server honours), so a busy engine has no subscription and
 * is never handed a second job; it makes the job, publishing each
 * TtsOutput to the job's reply subject as it is made, then subscribes
 * again. It also answers SUBJECT.hello (the same queue group) with its
 * hello. --procs N forks N engines and restarts one that dies.
 *
 * --relay-nats URL: the server's remote slot (tts.c spawns it like a local
 * worker): jobs on stdin, each published with a reply inbox; the outputs
 * coming back are written to stdout. "No responders" (every engine busy, or
 * none) is retried; a silent engine fails the job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "nats_subject.h"
#include "tts_worker.h"
#include "ttsp.h"
#include "ttsr.h"

static const char *g_role = "worker";

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "ttboost-tts-worker[%ld] %s: %s\n", (long)getpid(), g_role, line);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(uint32_t ms)
{
  struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* ------------------------------------------------------------ connection */

static void on_disconnected(natsConnection *nc, void *closure)
{
  (void)nc;
  (void)closure;
  logf_("nats: disconnected (reconnecting)");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
  (void)closure;
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  logf_("nats: reconnected to %s", url);
}

static void on_connected(natsConnection *nc, void *closure)
{
  (void)closure;
  char url[256] = "";
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  logf_("nats: connected to %s", url);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
  (void)nc;
  (void)sub;
  (void)closure;
  logf_("nats: %s", natsStatus_GetText(s));
}

/* Backoff between reconnect attempts: 100 ms doubling up to 2 s, jittered. */
static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
  (void)nc;
  (void)closure;
  return ttb_nats_backoff_ms(attempts, (unsigned)rand());
}

/* Connects (or goes on trying in the background: retry on failed connect,
 * reconnect forever). 0, or -1 with a log line (refused options). */
static int connect_nats(const ttb_tw_opts *o, const char *name, natsOptions **opts,
                        natsConnection **nc)
{
  natsStatus s = natsOptions_Create(opts);
  if (s == NATS_OK)
    s = natsOptions_SetURL(*opts, o->url);
  if (s == NATS_OK)
    s = natsOptions_SetName(*opts, name);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(*opts, -1);
  if (s == NATS_OK)
    s = natsOptions_SetCustomReconnectDelay(*opts, reconnect_delay, NULL);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(*opts, 2000);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB(*opts, on_disconnected, NULL);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB(*opts, on_reconnected, NULL);
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler(*opts, on_error, NULL);
  if (s == NATS_OK)
    s = natsOptions_SetRetryOnFailedConnect(*opts, true, on_connected, NULL);
  if (s == NATS_OK && o->creds)
    s = natsOptions_SetUserCredentialsFromFiles(*opts, o->creds, NULL);
  if (s == NATS_OK && o->tls_ca) {
    s = natsOptions_SetSecure(*opts, true);
    if (s == NATS_OK)
      s = natsOptions_LoadCATrustedCertificates(*opts, o->tls_ca);
  }
  if (s != NATS_OK) {
    logf_("nats options refused: %s (%s)", natsStatus_GetText(s), nats_GetLastError(NULL));
    return -1;
  }
  s = natsConnection_Connect(nc, *opts);
  if (s == NATS_OK) {
    char url[256] = "";
    natsConnection_GetConnectedUrl(*nc, url, sizeof url);
    logf_("nats: connected to %s", url);
  } else if (s == NATS_NOT_YET_CONNECTED) {
    logf_("nats: %s not reachable yet (trying on)", o->url);
  } else {
    logf_("nats: cannot connect to %s: %s (%s)", o->url, natsStatus_GetText(s),
          nats_GetLastError(NULL));
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ --nats */

typedef struct hello_bytes {
  uint8_t *b;
  size_t n;
} hello_bytes;

static void on_hello_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  (void)sub;
  hello_bytes *h = closure;
  const char *reply = natsMsg_GetReply(msg);
  if (reply && reply[0])
    natsConnection_Publish(nc, reply, h->b, (int)h->n);
  natsMsg_Destroy(msg);
}

typedef struct reply_to {
  natsConnection *nc;
  const char *subject;
} reply_to;

static int publish_output(void *ctx, const uint8_t *msg, size_t n)
{
  reply_to *r = ctx;
  natsStatus s = natsConnection_Publish(r->nc, r->subject, msg, (int)n);
  return s == NATS_OK ? 0 : -1;
}

/* --child: the server closed our stdin (it stopped or died). */
static void *watch_stdin(void *arg)
{
  (void)arg;
  char b[256];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, b, sizeof b);
    if (n == 0 || (n < 0 && errno != EINTR))
      _exit(0);
  }
  return NULL;
}

/* One job taken from the queue group. */
static void serve_job(const ttb_tw_opts *o, natsConnection *nc, natsMsg *m)
{
  const char *reply = natsMsg_GetReply(m);
  if (reply == NULL || reply[0] == '\0') {
    logf_("a job without a reply subject: dropped");
    return;
  }
  const uint8_t *data = (const uint8_t *)natsMsg_GetData(m);
  int len = natsMsg_GetDataLength(m);
  Ttboost__Worker__TtsJob *j =
      len >= 0 ? ttboost__worker__tts_job__unpack(NULL, (size_t)len, data) : NULL;
  if (j == NULL || j->job_id == 0) {
    logf_("a malformed job: refused");
    size_t n = 0;
    uint8_t *f = ttb_ttsr_failure(j ? j->job_id : 0, "malformed job", false, &n);
    if (f)
      natsConnection_Publish(nc, reply, f, (int)n);
    free(f);
    if (j)
      ttboost__worker__tts_job__free_unpacked(j, NULL);
    return;
  }
  double t0 = now_s();
  if (o->verbose)
    logf_("job %llu: %s, %zu bytes of text", (unsigned long long)j->job_id, j->voice,
          strlen(j->text));
  reply_to r = {nc, reply};
  ttb_tw_run_job(j, publish_output, &r);
  if (o->verbose)
    logf_("job %llu: ended in %.0f ms", (unsigned long long)j->job_id, (now_s() - t0) * 1000);
  ttboost__worker__tts_job__free_unpacked(j, NULL);
}

/* One engine: serves the queue group until killed. */
static int serve_engine(const ttb_tw_opts *o)
{
  g_role = "engine";
  if (o->child) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pthread_t th;
    if (pthread_create(&th, NULL, watch_stdin, NULL) != 0) {
      logf_("cannot start a thread");
      return 1;
    }
    pthread_detach(th);
  } else if (o->procs > 1) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the supervisor is gone: so are we */
  }
  if (ttb_tw_engine_init() <= 0) {
    logf_("espeak-ng initialisation failed (data missing?)");
    return 1;
  }
  hello_bytes h = {0};
  h.b = ttb_tw_hello(&h.n);
  if (h.b == NULL) {
    logf_("out of memory");
    return 1;
  }
  srand((unsigned)getpid() ^ (unsigned)time(NULL));
  natsOptions *opts = NULL;
  natsConnection *nc = NULL;
  if (connect_nats(o, "ttboost-tts-worker", &opts, &nc) != 0) {
    natsOptions_Destroy(opts);
    free(h.b);
    return 1;
  }
  if (o->child && ttb_ttsp_write_msg(STDOUT_FILENO, h.b, h.n) != 0)
    return 1;
  char hello_subject[256];
  snprintf(hello_subject, sizeof hello_subject, "%s" TTB_TTSR_HELLO_SUFFIX, o->subject);
  natsSubscription *hs = NULL;
  natsStatus s =
      natsConnection_QueueSubscribe(&hs, nc, hello_subject, TTB_TTSR_QUEUE, on_hello_request, &h);
  if (s != NATS_OK) {
    logf_("cannot subscribe to %s: %s", hello_subject, natsStatus_GetText(s));
    return 1;
  }
  for (;;) {
    natsSubscription *sub = NULL;
    s = natsConnection_QueueSubscribeSync(&sub, nc, o->subject, TTB_TTSR_QUEUE);
    if (s == NATS_OK)
      s = natsSubscription_AutoUnsubscribe(sub, 1); /* one job, then off the group */
    natsMsg *m = NULL;
    while (s == NATS_OK) {
      s = natsSubscription_NextMsg(&m, sub, 1000);
      if (s == NATS_TIMEOUT)
        s = NATS_OK;
      else
        break;
    }
    natsSubscription_Destroy(sub);
    if (s != NATS_OK) {
      logf_("waiting for a job: %s", natsStatus_GetText(s));
      natsMsg_Destroy(m);
      sleep_ms(200);
      continue;
    }
    serve_job(o, nc, m);
    natsMsg_Destroy(m);
  }
}

static volatile sig_atomic_t g_stop;
static void on_stop_signal(int sig)
{
  (void)sig;
  g_stop = 1;
}

static pid_t start_engine(const ttb_tw_opts *o)
{
  pid_t p = fork();
  if (p == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    _exit(serve_engine(o));
  }
  return p;
}

int ttb_tw_serve(const ttb_tw_opts *o)
{
  if (o->procs <= 1)
    return serve_engine(o);
  g_role = "supervisor";
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal; /* no SA_RESTART: waitpid returns */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  pid_t pids[256] = {0};
  double started[256] = {0};
  unsigned n = o->procs > 256 ? 256 : o->procs;
  for (unsigned i = 0; i < n && !g_stop; i++) {
    pids[i] = start_engine(o);
    started[i] = now_s();
    if (pids[i] < 0) {
      logf_("fork: %s", strerror(errno));
      g_stop = 1;
    }
  }
  if (!g_stop)
    logf_("%u engines serving %s on %s", n, o->subject, o->url);
  int rc = 0;
  while (!g_stop) {
    int st = 0;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (unsigned i = 0; i < n; i++) {
      if (pids[i] != p)
        continue;
      if (WIFSIGNALED(st))
        logf_("engine %ld was killed (signal %d): restarted", (long)p, WTERMSIG(st));
      else
        logf_("engine %ld exited (%d): restarted", (long)p, WEXITSTATUS(st));
      if (WIFEXITED(st) && WEXITSTATUS(st) == 1 && now_s() - started[i] < 2) {
        /* it could not even start (options, espeak-ng): so will the others */
        logf_("an engine cannot start: stopping");
        rc = 1;
        g_stop = 1;
        pids[i] = 0;
        break;
      }
      if (now_s() - started[i] < 1)
        sleep_ms(1000); /* no restart storm */
      pids[i] = g_stop ? 0 : start_engine(o);
      started[i] = now_s();
      if (pids[i] < 0) {
        logf_("fork: %s", strerror(errno));
        pids[i] = 0;
      }
    }
  }
  for (unsigned i = 0; i < n; i++)
    if (pids[i] > 0)
      kill(pids[i], SIGTERM);
  double until = now_s() + 3;
  for (unsigned i = 0; i < n; i++) {
    while (pids[i] > 0) {
      pid_t p = waitpid(pids[i], NULL, WNOHANG);
      if (p == pids[i] || (p < 0 && errno != EINTR)) {
        pids[i] = 0;
      } else if (now_s() > until) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
        pids[i] = 0;
      } else {
        sleep_ms(20);
      }
    }
  }
  return rc;
}

/* ------------------------------------------------------------ --relay-nats */

/* The hello: a worker's, or every voice when none answers in time. */
static int relay_hello(const ttb_tw_opts *o, natsConnection *nc)
{
  char subject[256];
  snprintf(subject, sizeof subject, "%s" TTB_TTSR_HELLO_SUFFIX, o->subject);
  double until = now_s() + o->hello_ms / 1000.0;
  for (;;) {
    double left = until - now_s();
    if (left <= 0)
      break;
    if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
      sleep_ms(50);
      continue;
    }
    natsMsg *r = NULL;
    natsStatus s = natsConnection_Request(&r, nc, subject, NULL, 0, (int64_t)(left * 1000) + 1);
    if (s == NATS_OK) {
      const uint8_t *d = (const uint8_t *)natsMsg_GetData(r);
      int n = natsMsg_GetDataLength(r);
      bool ok = n > 0 && ttb_ttsr_check_hello(d, (size_t)n) == 0;
      int rc = ok ? ttb_ttsp_write_msg(STDOUT_FILENO, d, (size_t)n) : 0;
      natsMsg_Destroy(r);
      if (ok)
        return rc; /* -1: stdout is gone */
      logf_("a malformed hello on %s: ignored", subject);
      sleep_ms(100);
    } else if (s != NATS_TIMEOUT) {
      sleep_ms(100); /* no responders (no worker yet), or disconnected meanwhile */
    }
  }
  logf_("no speech worker answered %s within %u ms: assuming every voice", subject,
        (unsigned)o->hello_ms);
  size_t nv = 0, len = 0;
  const char *const *v = ttb_tw_voices(&nv);
  uint8_t *b = ttb_ttsr_hello(22050, v, nv, &len);
  int rc = b ? ttb_ttsp_write_all(STDOUT_FILENO, b, len) : -1;
  free(b);
  return rc;
}

/* Ends job_id as failed (towards the server). */
static int relay_fail(uint64_t job_id, const char *why)
{
  logf_("job %llu failed: %s", (unsigned long long)job_id, why);
  size_t n = 0;
  uint8_t *b = ttb_ttsr_failure(job_id, why, true, &n);
  int rc = b ? ttb_ttsp_write_all(STDOUT_FILENO, b, n) : -1;
  free(b);
  return rc;
}

/* One job through the queue group: -1 when stdout is gone. */
static int relay_job(const ttb_tw_opts *o, natsConnection *nc, const uint8_t *job, size_t len,
                     uint64_t job_id)
{
  double until = now_s() + o->wait_ms / 1000.0;
  unsigned attempt = 0;
  for (;;) {
    if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
      if (now_s() >= until)
        return relay_fail(job_id, "NATS is unreachable");
      sleep_ms(50);
      continue;
    }
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK)
      s = natsConnection_SubscribeSync(&sub, nc, inbox);
    if (s == NATS_OK)
      s = natsConnection_PublishRequest(nc, o->subject, inbox, job, (int)len);
    bool got = false, retry = false;
    const char *fail = NULL;
    char why[160];
    while (s == NATS_OK) {
      natsMsg *m = NULL;
      s = natsSubscription_NextMsg(&m, sub, o->stall_ms);
      if (s == NATS_NO_RESPONDERS && !got) {
        retry = true;
        s = NATS_OK;
        break;
      }
      if (s == NATS_TIMEOUT) {
        snprintf(why, sizeof why, "%s for %u ms",
                 got ? "the speech worker went silent" : "no speech worker answered",
                 (unsigned)o->stall_ms);
        fail = why;
        s = NATS_OK;
        break;
      }
      if (s != NATS_OK)
        break;
      const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
      int n = natsMsg_GetDataLength(m);
      bool done = false;
      const char *bad = NULL;
      if (n < 0 || ttb_ttsr_check(d, (size_t)n, job_id, &done, &bad) != 0) {
        natsMsg_Destroy(m);
        fail = bad ? bad : "a malformed message from the speech worker";
        break;
      }
      int wrc = ttb_ttsp_write_msg(STDOUT_FILENO, d, (size_t)n);
      natsMsg_Destroy(m);
      if (wrc != 0) {
        natsSubscription_Destroy(sub);
        natsInbox_Destroy(inbox);
        return -1;
      }
      got = true;
      if (done)
        break;
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    if (s != NATS_OK) {
      snprintf(why, sizeof why, "nats: %s", natsStatus_GetText(s));
      fail = why;
    }
    if (fail)
      return relay_fail(job_id, fail);
    if (!retry)
      return 0;
    uint32_t ms = ttb_ttsr_retry_ms(++attempt);
    if (now_s() + ms / 1000.0 >= until)
      return relay_fail(job_id, "no speech worker was free (all busy, or none running)");
    sleep_ms(ms);
  }
}

int ttb_tw_relay(const ttb_tw_opts *o)
{
  g_role = "relay";
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  srand((unsigned)getpid() ^ (unsigned)time(NULL));
  natsOptions *opts = NULL;
  natsConnection *nc = NULL;
  if (connect_nats(o, "ttboost-tts-relay", &opts, &nc) != 0) {
    natsOptions_Destroy(opts);
    return 1;
  }
  if (relay_hello(o, nc) != 0)
    return 1;
  ttb_ttsp_reader rd = TTB_TTSP_READER_INIT(STDIN_FILENO);
  int rc = 0;
  for (;;) {
    Ttboost__Worker__TtsJob *j = NULL;
    const uint8_t *msg;
    size_t mlen;
    const char *why = NULL;
    int r = ttb_ttsp_read_job(&rd, &j, &msg, &mlen, &why);
    if (r == 0)
      break; /* the server went away */
    if (r < 0) {
      logf_("bad input: %s", why);
      rc = 1;
      break;
    }
    uint64_t id = j->job_id;
    ttboost__worker__tts_job__free_unpacked(j, NULL);
    if (relay_job(o, nc, msg, mlen, id) != 0)
      break; /* the server went away */
  }
  ttb_ttsp_reader_free(&rd);
  natsConnection_Destroy(nc);
  natsOptions_Destroy(opts);
  return rc;
}
