/*
 * ttboost-tts-worker: one espeak-ng engine (espeak-ng keeps global state, so
 * one per process) speaking jobs read from stdin and writing the speech to
 * stdout as it is made, in the protocol of schema/ttboost/worker/tts_worker.proto
 * (length-delimited TtsJob in, TtsOutput out; ttsp.h). With --nats it serves
 * the same jobs from a NATS queue group instead, and with --relay-nats it
 * passes the server's jobs on to such workers (tts_worker_nats.c).
 *
 * The server spawns several (--tts-workers) over socketpairs; nothing here
 * knows of the server, so a worker can also run behind another transport.
 * Each espeak-ng callback's samples go straight to the Opus encoder; the
 * Ogg pages and packets it has made are written out before espeak-ng goes
 * on, so a listener hears the start of a sentence before its end is made.
 *
 * Test hooks (environment; for the integration tests, harmless unset):
 * TTB_TTS_WORKER_TEST_HANG=S: a job whose text contains S hangs forever
 * (the server's deadline must kill the worker); TTB_TTS_WORKER_TEST_SLOW_MS=N:
 * sleep N ms after each output written (a slow machine: the stream's start
 * comes well before its end).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <espeak-ng/speak_lib.h>
#include "opusogg.h"

#include "ttboost/worker/tts_worker.pb-c.h"
#include "ttsp.h"
#include "ttsr.h"
#include "tts_worker.h"

static const char *const voices[] = {"en", "ru", "kk", "de", "fr", "es",
                                     "it", "pt", "uk", "tr", "pl"};
#define NVOICES (sizeof voices / sizeof voices[0])
#define MAX_PACKETS_OUT 64 /* tts.proto: TtsOutput.packets max_count */

/* The output being gathered for the current job. */
typedef struct out_state {
  uint64_t job_id;
  uint8_t *ogg;
  size_t ogg_len, ogg_cap;
  uint8_t *pk[MAX_PACKETS_OUT];
  size_t pk_len[MAX_PACKETS_OUT];
  size_t npk;
  uint32_t pre_skip;
  uint64_t samples; /* espeak-ng samples so far */
  int rate;
  ttb_opusogg *enc;
  bool failed;
  char error[200];
} out_state;

static out_state g_out;

/* Where the outputs go: stdout (framed) or a NATS reply subject. */
static ttb_tw_emit_fn g_emit;
static void *g_emit_ctx;

static int stdout_emit(void *ctx, const uint8_t *msg, size_t n)
{
  (void)ctx;
  return ttb_ttsp_write_msg(STDOUT_FILENO, msg, n);
}

static int send_msg(const Ttboost__Worker__TtsOutput *m)
{
  size_t n = ttboost__worker__tts_output__get_packed_size(m);
  uint8_t *b = malloc(n ? n : 1);
  if (b == NULL)
    return -1;
  ttboost__worker__tts_output__pack(m, b);
  int rc = g_emit(g_emit_ctx, b, n);
  free(b);
  return rc;
}

/* Writes what was gathered (Ogg bytes, packets) as one TtsOutput. */
static int flush_out(bool done)
{
  out_state *o = &g_out;
  if (!done && o->ogg_len == 0 && o->npk == 0)
    return 0;
  Ttboost__Worker__TtsOutput m = TTBOOST__WORKER__TTS_OUTPUT__INIT;
  ProtobufCBinaryData pk[MAX_PACKETS_OUT];
  for (size_t i = 0; i < o->npk; i++)
    pk[i] = (ProtobufCBinaryData){o->pk_len[i], o->pk[i]};
  m.job_id = o->job_id;
  m.ogg.data = o->ogg;
  m.ogg.len = o->ogg_len;
  m.packets = pk;
  m.n_packets = o->npk;
  m.pre_skip = o->pre_skip;
  m.done = done;
  m.error = done && o->failed ? o->error : "";
  m.duration_ms = o->rate > 0 ? (uint32_t)(o->samples * 1000u / (uint64_t)o->rate) : 0;
  int rc = send_msg(&m);
  static long slow_ms = -1;
  if (slow_ms < 0) {
    const char *e = getenv("TTB_TTS_WORKER_TEST_SLOW_MS");
    slow_ms = e ? atol(e) : 0;
    if (slow_ms < 0 || slow_ms > 10000)
      slow_ms = 0;
  }
  if (slow_ms > 0 && !done)
    usleep((useconds_t)slow_ms * 1000u);
  for (size_t i = 0; i < o->npk; i++)
    free(o->pk[i]);
  o->npk = 0;
  o->ogg_len = 0;
  return rc;
}

/* An Ogg page's bytes (opusogg.h), gathered for the next TtsOutput. */
static int ogg_write(void *user, const uint8_t *ptr, size_t len)
{
  out_state *o = user;
  /* keep each message within TtsOutput.ogg's 131072 bytes (a page is < 65536) */
  if (o->ogg_len > 0 && o->ogg_len + len > 65536 && flush_out(false) != 0)
    return 1;
  size_t need = o->ogg_len + len;
  if (need > o->ogg_cap) {
    size_t nc = o->ogg_cap ? o->ogg_cap : 16384;
    while (nc < need)
      nc *= 2;
    uint8_t *nb = realloc(o->ogg, nc);
    if (nb == NULL)
      return 1;
    o->ogg = nb;
    o->ogg_cap = nc;
  }
  memcpy(o->ogg + o->ogg_len, ptr, len);
  o->ogg_len = need;
  return 0;
}

/* An Opus audio packet (opusogg.h), gathered for the next TtsOutput. */
static int on_packet(void *user, const uint8_t *p, size_t len)
{
  out_state *o = user;
  if (o->npk == MAX_PACKETS_OUT && flush_out(false) != 0)
    return 1;
  uint8_t *c = malloc(len > 0 ? len : 1);
  if (c == NULL)
    return 1;
  memcpy(c, p, len);
  o->pk[o->npk] = c;
  o->pk_len[o->npk] = len;
  o->npk++;
  return 0;
}

/* The Opus encoder's complexity (0-10; libopus' default is 10). The encoder
 * is nearly all of a synthesis' CPU (perf, with libopusenc: libopus 86 %,
 * espeak-ng 6 %, the resampler 3 %; a quarter of libopus' share was its
 * per-frame CPUID, which opusogg.c avoids); 5 costs about 0.57 of 10 for
 * this speech with the waveform within 0.3-0.7 dB SNR of 10's, and 3-4 %
 * fewer bytes at 32 kbit/s (docs/benchmarks.md, "speech-bench"). Below 5
 * quality falls off faster (3: -1 to -2 dB). The bandwidth is capped at
 * super-wideband (12 kHz, opusogg.h): espeak-ng's 22050 Hz output has
 * nothing above 11 kHz. */
#define OPUS_COMPLEXITY 5

/* espeak-ng's samples: straight into the encoder, then out. */
static int synth_cb(short *wav, int numsamples, espeak_EVENT *events)
{
  (void)events;
  out_state *o = &g_out;
  if (o->failed)
    return 1;
  if (!wav || numsamples <= 0)
    return 0;
  if (ttb_opusogg_write(o->enc, wav, (size_t)numsamples, o->error, sizeof o->error) != 0) {
    o->failed = true;
    return 1;
  }
  o->samples += (uint64_t)numsamples;
  if (flush_out(false) != 0) {
    o->failed = true;
    snprintf(o->error, sizeof o->error, "cannot write output");
    return 1;
  }
  return 0;
}

static const char *g_cur_voice; /* the voice espeak-ng has loaded (NULL: unknown) */

void ttb_tw_run_job(const Ttboost__Worker__TtsJob *j, ttb_tw_emit_fn emit, void *ctx)
{
  const char **cur_voice = &g_cur_voice;
  g_emit = emit;
  g_emit_ctx = ctx;
  out_state *o = &g_out;
  o->job_id = j->job_id;
  o->failed = false;
  o->error[0] = '\0';
  o->samples = 0;
  o->pre_skip = 0;
  o->npk = 0;
  o->ogg_len = 0;

  const char *hang = getenv("TTB_TTS_WORKER_TEST_HANG");
  if (hang && hang[0] && strstr(j->text, hang)) {
    for (;;)
      pause();
  }
  if (!*cur_voice || strcmp(*cur_voice, j->voice) != 0) {
    *cur_voice = NULL;
    if (espeak_SetVoiceByName(j->voice) != EE_OK) {
      o->failed = true;
      snprintf(o->error, sizeof o->error, "espeak-ng: cannot load voice %.16s", j->voice);
      flush_out(true);
      return;
    }
    for (size_t i = 0; i < NVOICES; i++)
      if (strcmp(voices[i], j->voice) == 0)
        *cur_voice = voices[i];
  }
  /* every job sets both: a worker keeps espeak-ng's state from job to job */
  int rate = j->rate >= 80 && j->rate <= 450 ? (int)j->rate : espeakRATE_NORMAL;
  int pitch = j->pitch >= 1 && j->pitch <= 99 ? (int)j->pitch : 50;
  if (espeak_SetParameter(espeakRATE, rate, 0) != EE_OK ||
      espeak_SetParameter(espeakPITCH, pitch, 0) != EE_OK) {
    o->failed = true;
    snprintf(o->error, sizeof o->error, "espeak-ng: cannot set rate %d, pitch %d", rate, pitch);
    flush_out(true);
    return;
  }
  int32_t br = (int32_t)(j->bitrate >= 6000 && j->bitrate <= 510000 ? j->bitrate : 32000);
  const ttb_opusogg_opts eo = {.in_rate = o->rate,
                               .bitrate = br,
                               .complexity = OPUS_COMPLEXITY,
                               .encoder = "ttboost espeak-ng",
                               .language = j->voice};
  const ttb_opusogg_cbs cbs = {.page = ogg_write, .packet = on_packet, .arg = o};
  o->enc = ttb_opusogg_create(&eo, &cbs, o->error, sizeof o->error);
  if (!o->enc) {
    o->failed = true;
    flush_out(true);
    return;
  }
  o->pre_skip = ttb_opusogg_pre_skip(o->enc);
  if (!o->failed) {
    espeak_ERROR se = espeak_Synth(j->text, strlen(j->text) + 1, 0, POS_CHARACTER, 0,
                                   espeakCHARS_UTF8, NULL, NULL);
    if (se != EE_OK && !o->failed) {
      o->failed = true;
      snprintf(o->error, sizeof o->error, "espeak-ng synth failed (%d)", (int)se);
    }
  }
  if (!o->failed && o->samples == 0) {
    o->failed = true;
    snprintf(o->error, sizeof o->error, "espeak-ng produced no audio");
  }
  if (!o->failed && ttb_opusogg_finish(o->enc, o->error, sizeof o->error) != 0)
    o->failed = true;
  ttb_opusogg_destroy(o->enc);
  o->enc = NULL;
  if (o->failed) {
    o->ogg_len = 0;
    for (size_t i = 0; i < o->npk; i++)
      free(o->pk[i]);
    o->npk = 0;
  }
  flush_out(true);
}

int ttb_tw_engine_init(void)
{
  int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, NULL, 0);
  if (rate <= 0)
    return -1;
  espeak_SetSynthCallback(synth_cb);
  g_out.rate = rate;
  return rate;
}

uint8_t *ttb_tw_hello(size_t *len)
{
  char *ok[NVOICES];
  size_t nok = 0;
  for (size_t i = 0; i < NVOICES; i++)
    if (espeak_SetVoiceByName(voices[i]) == EE_OK)
      ok[nok++] = (char *)voices[i];
  g_cur_voice = NULL; /* the last one tried is loaded now */
  Ttboost__Worker__TtsWorkerHello hello = TTBOOST__WORKER__TTS_WORKER_HELLO__INIT;
  hello.sample_rate = (uint32_t)g_out.rate;
  hello.voices = ok;
  hello.n_voices = nok;
  Ttboost__Worker__TtsOutput hm = TTBOOST__WORKER__TTS_OUTPUT__INIT;
  hm.hello = &hello;
  hm.error = "";
  size_t n = ttboost__worker__tts_output__get_packed_size(&hm);
  uint8_t *b = malloc(n ? n : 1);
  if (b == NULL)
    return NULL;
  ttboost__worker__tts_output__pack(&hm, b);
  *len = n;
  return b;
}

const char *const *ttb_tw_voices(size_t *n)
{
  *n = NVOICES;
  return voices;
}

/* The worker the server spawns: jobs on stdin, speech on stdout. */
static int serve_stdio(void)
{
  if (ttb_tw_engine_init() <= 0) {
    fprintf(stderr, "ttboost-tts-worker: espeak-ng initialisation failed (data missing?)\n");
    return 1;
  }
  size_t hlen = 0;
  uint8_t *hello = ttb_tw_hello(&hlen);
  if (hello == NULL || stdout_emit(NULL, hello, hlen) != 0) {
    free(hello);
    return 1;
  }
  free(hello);

  ttb_ttsp_reader rd = TTB_TTSP_READER_INIT(STDIN_FILENO);
  int rc = 0;
  for (;;) {
    Ttboost__Worker__TtsJob *j = NULL;
    const char *why = NULL;
    int r = ttb_ttsp_read_job(&rd, &j, NULL, NULL, &why);
    if (r == 0)
      break; /* the server went away */
    if (r < 0) {
      fprintf(stderr, "ttboost-tts-worker: bad input: %s\n", why);
      rc = 1;
      break;
    }
    ttb_tw_run_job(j, stdout_emit, NULL);
    ttboost__worker__tts_job__free_unpacked(j, NULL);
  }
  ttb_ttsp_reader_free(&rd);
  free(g_out.ogg);
  return rc;
}

static const char usage[] =
    "usage: ttboost-tts-worker                 (spawned by ttboost-server)\n"
    "       ttboost-tts-worker --nats URL [--procs N] [NATS OPTIONS] [-v]\n"
    "       ttboost-tts-worker --relay-nats URL [NATS OPTIONS] [--wait-ms N] [--stall-ms N]\n"
    "\n"
    "Without options: reads length-delimited ttboost.worker.TtsJob messages on stdin and\n"
    "writes ttboost.worker.TtsOutput messages on stdout (schema/ttboost/worker/tts_worker.proto).\n"
    "\n"
    "--nats URL: a standalone worker: serves the NATS queue group of SUBJECT (one job at a\n"
    "time per engine), publishing each job's TtsOutput messages to its reply subject, and\n"
    "answers SUBJECT.hello with what it can do (docs/scaling.md). Reconnects forever.\n"
    "  --procs N          N engines (processes, one espeak-ng each; default 1), restarted\n"
    "                     when one dies\n"
    "  -v                 a line on stderr per job\n"
    "  --child            (for ttboost-server --tts-serve) one engine that says hello on\n"
    "                     stdout and exits when stdin closes\n"
    "--relay-nats URL: (for ttboost-server --tts-remote) the stdin/stdout protocol, each job\n"
    "made by a worker of the queue group instead of here.\n"
    "  --wait-ms N        retry a job no worker takes for up to N ms (default 9500)\n"
    "  --stall-ms N       fail a job whose worker is silent for N ms (default 3000)\n"
    "  --hello-ms N       wait up to N ms for a worker's hello at start (default 2000)\n"
    "NATS OPTIONS:\n"
    "  --nats-creds FILE  NATS credentials file (JWT and NKey seed)\n"
    "  --nats-tls-ca FILE TLS to NATS, trusting this CA bundle\n"
    "  --subject S        the jobs' subject (default " TTB_TTSR_SUBJECT ")\n";

static int bad_usage(const char *fmt, const char *arg)
{
  fprintf(stderr, "ttboost-tts-worker: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

static int number_arg(const char *opt, const char *v, unsigned long min, unsigned long max,
                      unsigned long *out)
{
  char *end = NULL;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-' || n < min || n > max) {
    fprintf(stderr, "ttboost-tts-worker: %s: expected a number from %lu to %lu, got '%s'\n", opt,
            min, max, v);
    return -1;
  }
  *out = n;
  return 0;
}

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  if (argc == 1) {
    closefrom(3); /* nothing of the server's (listening sockets, files) stays open here */
    return serve_stdio();
  }
  ttb_tw_opts o = {
      .subject = TTB_TTSR_SUBJECT, .procs = 1, .wait_ms = 9500, .stall_ms = 3000, .hello_ms = 2000};
  const char *relay = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(a, "-v") == 0) {
      o.verbose = true;
      continue;
    }
    if (strcmp(a, "--child") == 0) {
      o.child = true;
      continue;
    }
    static const char *const valued[] = {"--nats",        "--relay-nats", "--nats-creds",
                                         "--nats-tls-ca", "--subject",    "--procs",
                                         "--wait-ms",     "--stall-ms",   "--hello-ms"};
    bool known = false;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
      known = known || strcmp(a, valued[k]) == 0;
    if (!known)
      return bad_usage("unknown option '%s'", a);
    if (i + 1 >= argc)
      return bad_usage("%s: needs a value", a);
    const char *v = argv[++i];
    unsigned long n = 0;
    if (strcmp(a, "--nats") == 0)
      o.url = v;
    else if (strcmp(a, "--relay-nats") == 0)
      relay = v;
    else if (strcmp(a, "--nats-creds") == 0)
      o.creds = v;
    else if (strcmp(a, "--nats-tls-ca") == 0)
      o.tls_ca = v;
    else if (strcmp(a, "--subject") == 0)
      o.subject = v;
    else if (strcmp(a, "--procs") == 0) {
      if (number_arg(a, v, 1, 256, &n) != 0)
        return 2;
      o.procs = (unsigned)n;
    } else if (strcmp(a, "--wait-ms") == 0) {
      if (number_arg(a, v, 0, 600000, &n) != 0)
        return 2;
      o.wait_ms = (uint32_t)n;
    } else if (strcmp(a, "--stall-ms") == 0) {
      if (number_arg(a, v, 50, 600000, &n) != 0)
        return 2;
      o.stall_ms = (uint32_t)n;
    } else if (strcmp(a, "--hello-ms") == 0) {
      if (number_arg(a, v, 0, 60000, &n) != 0)
        return 2;
      o.hello_ms = (uint32_t)n;
    } else
      return bad_usage("unknown option '%s'", a);
  }
  if ((o.url != NULL) == (relay != NULL))
    return bad_usage("%s", "give one of --nats URL and --relay-nats URL");
  if ((o.url ? o.url : relay)[0] == '\0')
    return bad_usage("%s", "the NATS URL is empty");
  if (o.subject[0] == '\0' || strpbrk(o.subject, " \t*>") != NULL)
    return bad_usage("--subject: '%s' is not a subject to publish to", o.subject);
  const char *files[] = {o.creds, o.tls_ca};
  for (size_t k = 0; k < 2; k++)
    if (files[k] && access(files[k], R_OK) != 0) {
      fprintf(stderr, "ttboost-tts-worker: cannot read %s: %s\n", files[k], strerror(errno));
      return 2;
    }
  if (relay) {
    if (o.procs != 1 || o.child)
      return bad_usage("%s", "--procs and --child are for --nats, not --relay-nats");
    o.url = relay;
    closefrom(3);
    return ttb_tw_relay(&o);
  }
  if (o.child && o.procs != 1)
    return bad_usage("%s", "--child runs one engine (no --procs)");
  closefrom(3);
  return ttb_tw_serve(&o);
}
