/*
 * mix-bench — the client audio engine's throughput (docs/benchmarks.md,
 * "Client audio engine").
 *
 *   mix-bench [--seconds S] [--rate HZ]
 *
 * Input, made once in memory with libopusenc the way the server makes its
 * files: one TTS utterance (a speech-like voiced signal, mono, 22050 Hz
 * input as espeak-ng gives, 32 kbit/s, VOICE) and four gift sounds (48 kHz
 * mono, 64 kbit/s, like server/tools/make_sounds), all 5 s long.
 *
 * One iteration = what the client does for a chat message arriving during
 * four gifts: decode the TTS file from memory (libopusfile), queue the TTS
 * voice and start the 4 gift voices, and render the 5 s mix at the output
 * rate (default 44100 Hz stereo; resampler + limiter included) in 512-frame
 * pulls like an audio callback. The real-time factor is seconds of mixed
 * output per second of CPU time, repeated for at least S seconds.
 *  - steady state (the headline): gift sounds come from the client's cache
 *    of decoded sounds (client.c keeps the last 16 sound URLs decoded), as
 *    they do once a stream's few gift sounds have played once;
 *  - cold: all 5 files are decoded in every iteration (every gift new).
 * Separate figures: decoding alone (per second of one stream) and mixing
 * alone (the 5 voices already decoded).
 *
 * Memory: the mixer's own buffers, the decoded PCM of the 5 clips, the
 * heap of a whole ttb_client (glibc mallinfo2, when available) and the
 * process's peak RSS.
 *
 * Latency (binary mode, client side): time from the arrival of a chat
 * event and its first AudioFrame to the first audible sample in a render
 * call: reserve + Opus decode + stream write + render, excluding the
 * network and the sink's buffer (add one sink period: 10 ms at 441 frames).
 */
#include <math.h>
#include <opus.h>
#include <opus/opusenc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "audio/decode.h"
#include "audio/mixer.h"
#include "ttboost/client.h"

/* the in-memory libopusenc output (synth_buf, synth_write, synth_close) */
#include "opus_synth.h"

#define CLIP_SECONDS 5.0
#define PULL 512

/* Speech-like (tone_hz 0) or a decaying bell at tone_hz. */
static int make_ogg(int rate, double tone_hz, int bitrate, int signal, synth_buf *out)
{
  const double pi = 3.14159265358979323846;
  size_t n = (size_t)(CLIP_SECONDS * rate);
  int16_t *pcm = malloc(n * sizeof *pcm);
  if (!pcm)
    return -1;
  for (size_t i = 0; i < n; i++) {
    double t = (double)i / rate, v = 0;
    if (tone_hz <= 0) {
      for (int h = 1; h * 120.0 < 4000.0; h++)
        v += sin(2 * pi * 120.0 * h * t) / h;
      v *= 0.35 * (0.55 + 0.45 * sin(2 * pi * 4.0 * t));
    } else {
      double tt = fmod(t, 1.0);
      v = 0.6 * exp(-3.0 * tt) *
          (sin(2 * pi * tone_hz * t) + 0.5 * sin(2 * pi * 2.76 * tone_hz * t));
    }
    pcm[i] = (int16_t)lrint(0.7 * 32767.0 * v);
  }
  memset(out, 0, sizeof *out);
  OpusEncCallbacks cb = {synth_write, synth_close};
  OggOpusComments *cm = ope_comments_create();
  int err = 0;
  OggOpusEnc *enc = cm ? ope_encoder_create_callbacks(&cb, out, cm, rate, 1, 0, &err) : NULL;
  int rc = -1;
  if (enc && ope_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate)) == OPE_OK &&
      ope_encoder_ctl(enc, OPUS_SET_SIGNAL(signal)) == OPE_OK &&
      ope_encoder_write(enc, pcm, (int)n) == OPE_OK && ope_encoder_drain(enc) == OPE_OK)
    rc = 0;
  if (enc)
    ope_encoder_destroy(enc);
  if (cm)
    ope_comments_destroy(cm);
  free(pcm);
  return rc;
}

static double cpu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why)
{
  fprintf(stderr, "mix-bench: %s: %s\n", what, why);
  exit(1);
}

static ttb__mixer *new_mixer(uint32_t rate)
{
  ttb__mixer_config cfg = {.out_rate = rate, .out_channels = 2};
  ttb__mixer *m = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  if (ttb__mixer_create(&cfg, &m, &e) != TTB_OK)
    die("mixer", e.msg);
  return m;
}

/* Renders until the mixer is idle; returns output frames rendered. */
static size_t render_all(ttb__mixer *m, int16_t *pcm, uint32_t rate)
{
  size_t total = 0, limit = (size_t)(rate * (CLIP_SECONDS + 1.0));
  while (ttb__mixer_active(m) > 0 && total < limit) {
    ttb__mixer_render(m, pcm, PULL);
    total += PULL;
  }
  return total;
}

static ttb__clip *decode(const synth_buf *b)
{
  ttb__clip *c = NULL;
  ttb_error e;
  ttb_error_clear(&e);
  if (ttb__clip_decode_ogg(b->data, b->len, &c, &e) != TTB_OK)
    die("decode", e.msg);
  return c;
}

int main(int argc, char **argv)
{
  double min_seconds = 3.0;
  uint32_t rate = 44100;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      min_seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
      rate = (uint32_t)atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: mix-bench [--seconds S] [--rate HZ]\n");
      return 2;
    }
  }
  synth_buf files[5];
  if (make_ogg(22050, 0, 32000, OPUS_SIGNAL_VOICE, &files[0]) != 0)
    die("libopusenc", "cannot make the TTS file");
  const double bells[4] = {523.25, 659.25, 783.99, 1046.5};
  for (int k = 0; k < 4; k++)
    if (make_ogg(48000, bells[k], 64000, OPUS_SIGNAL_MUSIC, &files[1 + k]) != 0)
      die("libopusenc", "cannot make a gift file");
  size_t in_bytes = 0;
  for (int k = 0; k < 5; k++)
    in_bytes += files[k].len;

  int16_t *pcm = malloc(sizeof(int16_t) * PULL * 2);
  if (!pcm)
    die("memory", "out of memory");

  /* ---- decode + mix: steady state (gift sounds cached), the headline ---- */
  ttb__clip *cached[5];
  for (int k = 1; k < 5; k++)
    cached[k] = decode(&files[k]);
  ttb__mixer *m = new_mixer(rate);
  size_t iters = 0, out_frames = 0;
  double c0 = cpu_now(), w0 = wall_now();
  do {
    ttb__clip *tts = decode(&files[0]);
    ttb__mixer_tts_reserve(m, iters + 1);
    ttb__mixer_tts_attach(m, iters + 1, tts);
    ttb__clip_unref(tts);
    for (int k = 1; k < 5; k++)
      ttb__mixer_gift_play(m, cached[k]);
    out_frames += render_all(m, pcm, rate);
    ttb__mixer_collect(m);
    iters++;
  } while (cpu_now() - c0 < min_seconds);
  double cpu = cpu_now() - c0, wall = wall_now() - w0;
  double audio_s = (double)out_frames / rate;
  for (int k = 1; k < 5; k++)
    ttb__clip_unref(cached[k]);
  size_t engine_bytes = ttb__mixer_memory(m, NULL);
  uint64_t played = 0, skipped = 0;
  ttb__mixer_counts(m, &played, &skipped);
  ttb__mixer_destroy(m);

  /* ---- decode + mix: cold (all five decoded every time) ---- */
  m = new_mixer(rate);
  size_t citers = 0, cframes = 0;
  double k0 = cpu_now();
  size_t clip_bytes_peak = 0;
  do {
    ttb__clip *c[5];
    for (int k = 0; k < 5; k++)
      c[k] = decode(&files[k]);
    ttb__mixer_tts_reserve(m, citers + 1);
    ttb__mixer_tts_attach(m, citers + 1, c[0]);
    for (int k = 1; k < 5; k++)
      ttb__mixer_gift_play(m, c[k]);
    size_t cb = 0;
    (void)ttb__mixer_memory(m, &cb);
    if (cb > clip_bytes_peak)
      clip_bytes_peak = cb;
    for (int k = 0; k < 5; k++)
      ttb__clip_unref(c[k]);
    cframes += render_all(m, pcm, rate);
    ttb__mixer_collect(m);
    citers++;
  } while (cpu_now() - k0 < min_seconds / 2);
  double ccpu = cpu_now() - k0;
  ttb__mixer_destroy(m);

  /* ---- decoding alone ---- */
  size_t dn = 0;
  double d0 = cpu_now(), dec_audio = 0;
  do {
    for (int k = 0; k < 5; k++) {
      ttb__clip *c = decode(&files[k]);
      dec_audio += (double)c->frames / TTB__AUDIO_RATE;
      ttb__clip_unref(c);
    }
    dn++;
  } while (cpu_now() - d0 < min_seconds / 3);
  double dec_cpu = cpu_now() - d0;

  /* ---- mixing alone (5 voices decoded once) ---- */
  ttb__clip *pre[5];
  for (int k = 0; k < 5; k++)
    pre[k] = decode(&files[k]);
  m = new_mixer(rate);
  size_t mix_frames = 0;
  double x0 = cpu_now();
  uint64_t id = 1;
  do {
    ttb__mixer_tts_reserve(m, id);
    ttb__mixer_tts_attach(m, id++, pre[0]);
    for (int k = 1; k < 5; k++)
      ttb__mixer_gift_play(m, pre[k]);
    mix_frames += render_all(m, pcm, rate);
    ttb__mixer_collect(m);
  } while (cpu_now() - x0 < min_seconds / 3);
  double mix_cpu = cpu_now() - x0;
  /* Idle: silence. */
  size_t idle_frames = 0;
  double i0 = cpu_now();
  while (idle_frames < (size_t)rate * 600) {
    ttb__mixer_render(m, pcm, PULL);
    idle_frames += PULL;
  }
  double idle_cpu = cpu_now() - i0;
  ttb__mixer_destroy(m);
  for (int k = 0; k < 5; k++)
    ttb__clip_unref(pre[k]);

  /* ---- binary mode: chat + first AudioFrame -> first audible sample ---- */
  int oerr = 0;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &oerr);
  if (!enc)
    die("libopus", opus_strerror(oerr));
  opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
  int16_t frame[960];
  for (int i = 0; i < 960; i++)
    frame[i] = (int16_t)lrint(8000.0 * sin(2 * 3.14159265358979 * 220.0 * i / 48000.0));
  unsigned char pkt[1275];
  opus_int32 plen = 0;
  for (int w = 0; w < 3; w++) /* past the encoder's start-up */
    plen = opus_encode(enc, frame, 960, pkt, sizeof pkt);
  double lat_best = 1e9, lat_sum = 0;
  int lat_n = 200;
  int16_t *dec_pcm = malloc(sizeof(int16_t) * TTB__OPUS_MAX_FRAMES);
  if (!dec_pcm || plen <= 0)
    die("latency", "setup failed");
  for (int r = 0; r < lat_n; r++) {
    m = new_mixer(rate);
    for (int k = 0; k < 10; k++)
      ttb__mixer_render(m, pcm, PULL); /* idle, as in the app */
    double t0 = wall_now();
    ttb__mixer_tts_reserve(m, 1); /* the ChatEvent arrives */
    ttb__opus_stream *s = NULL;
    ttb__clip *c = NULL;
    if (ttb__opus_stream_create(1, 312, &s, NULL) != TTB_OK ||
        ttb__clip_create(1, 48000, &c) != TTB_OK)
      die("latency", "out of memory");
    ttb__mixer_tts_attach(m, 1, c); /* its first AudioFrame */
    int n = ttb__opus_stream_decode(s, pkt, (size_t)plen, dec_pcm, TTB__OPUS_MAX_FRAMES, NULL);
    if (n > 0)
      ttb__mixer_stream_write(m, c, dec_pcm, (size_t)n);
    bool heard = false;
    for (int k = 0; k < 4 && !heard; k++) {
      ttb__mixer_render(m, pcm, PULL);
      for (int i = 0; i < PULL * 2 && !heard; i++)
        heard = abs(pcm[i]) > 30;
    }
    double dt = wall_now() - t0;
    if (!heard)
      die("latency", "no audible sample");
    lat_sum += dt;
    if (dt < lat_best)
      lat_best = dt;
    ttb__clip_unref(c);
    ttb__opus_stream_destroy(s);
    ttb__mixer_destroy(m);
  }
  opus_encoder_destroy(enc);
  free(dec_pcm);

  /* ---- a whole client's heap ---- */
  long client_heap = -1;
#if defined(__GLIBC__) && defined(__GLIBC_MINOR__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  {
    char dir[] = "/tmp/mix_bench_XXXXXX";
    if (mkdtemp(dir)) {
      struct mallinfo2 a = mallinfo2();
      ttb_client_config cfg = {
          .server_url = "http://127.0.0.1:9", .data_dir = dir, .sample_rate = rate, .channels = 2};
      ttb_client *cli = NULL;
      if (ttb_client_create(&cfg, &cli) == TTB_OK) {
        struct mallinfo2 b = mallinfo2();
        client_heap = (long)(b.uordblks - a.uordblks) + (long)(b.hblkhd - a.hblkhd);
        ttb_client_destroy(cli);
      }
      rmdir(dir);
    }
  }
#endif
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);

  printf("mix-bench: 1 TTS voice + 4 gift voices, %.0f s clips, output %u Hz stereo\n",
         CLIP_SECONDS, (unsigned)rate);
  printf("input: 5 Ogg Opus files, %zu bytes (TTS 32 kbit/s from 22050 Hz, gifts 64 kbit/s)\n",
         in_bytes);
  printf("decode+mix (steady state: TTS decoded, gift sounds cached): %zu iterations, "
         "%.1f s of mix in %.3f s CPU (%.3f s wall)\n",
         iters, audio_s, cpu, wall);
  printf("decode+mix real-time factor: %.0fx\n", audio_s / cpu);
  printf("decode+mix cold (all 5 files decoded each time): %.0fx real time\n",
         ((double)cframes / rate) / ccpu);
  printf("decode alone: %.0fx real time per stream (%.1f s of audio in %.3f s)\n",
         dec_audio / dec_cpu, dec_audio, dec_cpu);
  printf("mix alone (5 voices, resample, limit): %.0fx real time\n",
         ((double)mix_frames / rate) / mix_cpu);
  printf("idle (silence): %.0fx real time\n", ((double)idle_frames / rate) / idle_cpu);
  printf("played %llu, skipped %llu\n", (unsigned long long)played, (unsigned long long)skipped);
  printf("memory: mixer engine %zu bytes; decoded PCM of the 5 clips %zu bytes; "
         "whole ttb_client heap %ld bytes; peak RSS %ld KiB\n",
         engine_bytes, clip_bytes_peak, client_heap, ru.ru_maxrss);
  printf("binary mode, chat+first frame -> first audible sample (client side): "
         "best %.3f ms, mean %.3f ms (+ one sink period)\n",
         lat_best * 1e3, lat_sum / lat_n * 1e3);
  for (int k = 0; k < 5; k++)
    free(files[k].data);
  free(pcm);
  return 0;
}
