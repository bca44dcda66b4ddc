/*
 * ttboost-listen — the desktop listener: logs in with a license key, keeps
 * the socket up and plays the stream's speech and gift sounds through
 * PulseAudio (or writes them to a WAV file), showing the connection state,
 * the toggles and the last 5 events in the terminal.
 *
 *   ttboost-listen --server URL --key KEY [--wav FILE] [--seconds N] [--binary]
 *                  [--data-dir DIR] [--device ID] [--tiktok NAME]
 *
 * --tiktok NAME sets the license's TikTok @username on the server right
 * after login (PUT /me/tiktok); the server then listens to that LIVE. The
 * TikTok state is shown as it changes ("tiktok: live (room 7301…)").
 *
 * Keys (when stdin is a terminal): t TTS on/off, g gifts on/off, + / - TTS
 * volume, ] / [ gift volume, r reconnect now, q quit.
 * When stdout is not a terminal, it prints one line per event instead of
 * redrawing a screen (for logs and tests).
 *
 * It uses only the public API, ttboost/client.h: this is how a streamer on a
 * PC and QA use the core.
 *
 * Exit status: 0 done, 1 runtime failure, 2 bad usage or login refused,
 * 3 no audio output.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if TTB_LISTEN_HAVE_PULSE
#include <pulse/error.h>
#include <pulse/simple.h>
#endif

#include "ttboost/client.h"

#define RATE 48000u
#define CHANNELS 2u
#define CHUNK 480u /* frames per render: 10 ms */

/* ------------------------------------------------------------ options */

typedef struct opts {
  const char *server;
  const char *key;
  const char *wav;
  const char *data_dir;
  const char *device;
  const char *tiktok; /* NULL: leave the server's handle as it is */
  double seconds;     /* 0 = until q / Ctrl-C */
  bool binary;
} opts;

static void usage(FILE *f)
{
  fprintf(
      f,
      "usage: ttboost-listen --server URL --key KEY [--wav FILE] [--seconds N] [--binary]\n"
      "                      [--data-dir DIR] [--device ID] [--tiktok NAME]\n"
      "  --server URL    the ttboost server, e.g. https://ttboost.example or "
      "http://127.0.0.1:8080\n"
      "  --key KEY       your license key\n"
      "  --wav FILE      write the audio to a WAV file (48 kHz stereo) instead of PulseAudio\n"
      "  --seconds N     stop after N seconds (default: run until q or Ctrl-C)\n"
      "  --binary        binary protocol with streamed Opus speech\n"
      "  --data-dir DIR  where settings and the session are kept (default: a temporary directory)\n"
      "  --device ID     device id sent at login (default: listen-<hostname>)\n"
      "  --tiktok NAME   set your TikTok @username on the server (\"\" clears it)\n"
      "keys: t TTS on/off, g gifts on/off, +/- TTS volume, ]/[ gift volume, r reconnect, q quit\n");
}

static int parse_opts(int argc, char **argv, opts *o)
{
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--binary") == 0) {
      o->binary = true;
      continue;
    }
    if (!v) {
      fprintf(stderr, "ttboost-listen: %s needs a value\n", a);
      return -1;
    }
    if (strcmp(a, "--server") == 0)
      o->server = v;
    else if (strcmp(a, "--key") == 0)
      o->key = v;
    else if (strcmp(a, "--wav") == 0)
      o->wav = v;
    else if (strcmp(a, "--data-dir") == 0)
      o->data_dir = v;
    else if (strcmp(a, "--device") == 0)
      o->device = v;
    else if (strcmp(a, "--tiktok") == 0)
      o->tiktok = v;
    else if (strcmp(a, "--seconds") == 0) {
      char *end;
      errno = 0;
      o->seconds = strtod(v, &end);
      if (errno || *end || o->seconds < 0 || o->seconds > 1e7) {
        fprintf(stderr, "ttboost-listen: --seconds wants a number of seconds, not \"%s\"\n", v);
        return -1;
      }
    } else {
      fprintf(stderr, "ttboost-listen: unknown option %s\n", a);
      return -1;
    }
    i++;
  }
  if (!o->server || !o->key) {
    fprintf(stderr, "ttboost-listen: --server and --key are required\n");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ signals, terminal */

static volatile sig_atomic_t g_quit;
static struct termios g_saved_tio;
static bool g_raw;

static void on_signal(int sig)
{
  (void)sig;
  g_quit = 1;
}

static void restore_terminal(void)
{
  if (g_raw) {
    tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tio);
    g_raw = false;
  }
}

static void raw_terminal(void)
{
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &g_saved_tio) != 0)
    return;
  struct termios t = g_saved_tio;
  t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
    g_raw = true;
    atexit(restore_terminal);
  }
}

/* A key pressed, or 0. */
static int read_key(void)
{
  if (!g_raw)
    return 0;
  struct pollfd p = {STDIN_FILENO, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0)
    return 0;
  unsigned char ch;
  return read(STDIN_FILENO, &ch, 1) == 1 ? ch : 0;
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_quit) {}
}

/* ------------------------------------------------------------ audio output */

typedef struct audio {
  ttb_client *client;
  FILE *wav;
  uint64_t wav_frames;
#if TTB_LISTEN_HAVE_PULSE
  pa_simple *pa;
#endif
  pthread_t th;
  bool running;
  volatile int stop; /* read by the audio thread; set once by main */
  pthread_mutex_t mu;
  char error[256];
  uint64_t peak_frames; /* frames with sound, for the summary */
} audio;

static void put_le16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v & 0xff);
  p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)((v >> (8 * i)) & 0xff);
}

static int wav_header(FILE *f, uint64_t frames)
{
  uint8_t h[44];
  uint64_t bytes = frames * CHANNELS * 2u;
  if (bytes > 0xffffffffu - 36u)
    bytes = 0xffffffffu - 36u;
  memcpy(h, "RIFF", 4);
  put_le32(h + 4, (uint32_t)(36u + bytes));
  memcpy(h + 8, "WAVEfmt ", 8);
  put_le32(h + 16, 16);
  put_le16(h + 20, 1); /* PCM */
  put_le16(h + 22, CHANNELS);
  put_le32(h + 24, RATE);
  put_le32(h + 28, RATE * CHANNELS * 2u);
  put_le16(h + 32, CHANNELS * 2u);
  put_le16(h + 34, 16);
  memcpy(h + 36, "data", 4);
  put_le32(h + 40, (uint32_t)bytes);
  if (fseek(f, 0, SEEK_SET) != 0)
    return -1;
  return fwrite(h, 1, sizeof h, f) == sizeof h ? 0 : -1;
}

static int write_le16_samples(FILE *f, const int16_t *pcm, size_t n)
{
  uint8_t buf[CHUNK * CHANNELS * 2];
  for (size_t i = 0; i < n; i++)
    put_le16(buf + 2 * i, (uint16_t)pcm[i]);
  return fwrite(buf, 2, n, f) == n ? 0 : -1;
}

static void audio_fail(audio *a, const char *fmt, ...)
{
  pthread_mutex_lock(&a->mu);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->error, sizeof a->error, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&a->mu);
  g_quit = 1;
}

static void *audio_main(void *arg)
{
  audio *a = arg;
  int16_t pcm[CHUNK * CHANNELS];
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!a->stop) {
    size_t got = ttb_client_render(a->client, pcm, CHUNK);
    if (got != CHUNK)
      memset(pcm + got * CHANNELS, 0, (CHUNK - got) * CHANNELS * sizeof pcm[0]);
    for (size_t i = 0; i < CHUNK * CHANNELS; i++)
      if (pcm[i] > 300 || pcm[i] < -300) {
        a->peak_frames += CHUNK;
        break;
      }
    if (a->wav) {
      if (write_le16_samples(a->wav, pcm, CHUNK * CHANNELS) != 0) {
        audio_fail(a, "cannot write the WAV file: %s", strerror(errno));
        break;
      }
      a->wav_frames += CHUNK;
      /* real time: the events arrive in real time too */
      next.tv_nsec += (long)CHUNK * 1000000000L / RATE;
      while (next.tv_nsec >= 1000000000L) {
        next.tv_nsec -= 1000000000L;
        next.tv_sec++;
      }
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
    }
#if TTB_LISTEN_HAVE_PULSE
    else if (a->pa) {
      int err = 0;
      if (pa_simple_write(a->pa, pcm, sizeof pcm, &err) < 0) { /* blocks: paces us */
        audio_fail(a, "PulseAudio: %s", pa_strerror(err));
        break;
      }
    }
#endif
  }
  return NULL;
}

static int audio_open(audio *a, ttb_client *c, const char *wav_path, char *err, size_t errlen)
{
  memset(a, 0, sizeof *a);
  a->client = c;
  pthread_mutex_init(&a->mu, NULL);
  if (wav_path) {
    a->wav = fopen(wav_path, "wb");
    if (!a->wav || wav_header(a->wav, 0) != 0) {
      snprintf(err, errlen, "cannot write %s: %s", wav_path, strerror(errno));
      if (a->wav)
        fclose(a->wav);
      a->wav = NULL;
      return -1;
    }
  } else {
#if TTB_LISTEN_HAVE_PULSE
    pa_sample_spec ss = {.format = PA_SAMPLE_S16NE, .rate = RATE, .channels = CHANNELS};
    pa_buffer_attr ba;
    memset(&ba, 0xff, sizeof ba);                        /* (uint32_t)-1: server defaults */
    ba.tlength = (uint32_t)(RATE * CHANNELS * 2u / 10u); /* ~100 ms of latency */
    ba.minreq = (uint32_t)(CHUNK * CHANNELS * 2u);
    int e = 0;
    a->pa = pa_simple_new(NULL, "ttboost-listen", PA_STREAM_PLAYBACK, NULL, "TikTok live (TTBoost)",
                          &ss, NULL, &ba, &e);
    if (!a->pa) {
      snprintf(err, errlen, "cannot open PulseAudio: %s (use --wav FILE to write a file instead)",
               pa_strerror(e));
      return -1;
    }
#else
    snprintf(err, errlen, "this build has no PulseAudio output: use --wav FILE");
    return -1;
#endif
  }
  if (pthread_create(&a->th, NULL, audio_main, a) != 0) {
    snprintf(err, errlen, "cannot start the audio thread");
    return -1;
  }
  a->running = true;
  return 0;
}

static void audio_close(audio *a)
{
  if (a->running) {
    a->stop = 1;
    pthread_join(a->th, NULL);
    a->running = false;
  }
  if (a->wav) {
    if (wav_header(a->wav, a->wav_frames) != 0 || fclose(a->wav) != 0)
      fprintf(stderr, "ttboost-listen: the WAV file may be incomplete: %s\n", strerror(errno));
    a->wav = NULL;
  }
#if TTB_LISTEN_HAVE_PULSE
  if (a->pa) {
    int e;
    pa_simple_drain(a->pa, &e);
    pa_simple_free(a->pa);
    a->pa = NULL;
  }
#endif
  pthread_mutex_destroy(&a->mu);
}

/* ------------------------------------------------------------ display */

static const char *state_name(int s)
{
  switch (s) {
  case TTB_STATE_DISCONNECTED:
    return "disconnected";
  case TTB_STATE_CONNECTING:
    return "connecting";
  case TTB_STATE_CONNECTED:
    return "connected";
  case TTB_STATE_RECONNECTING:
    return "reconnecting";
  default:
    return "?";
  }
}

/* "live (room 7301…) @name - message", from a status. */
static void tiktok_line(int32_t state, const char *user, const char *room, const char *msg,
                        char *out, size_t cap)
{
  snprintf(out, cap, "%s%s%s%s%s%s", ttb_tiktok_state_name(state), room[0] ? " (room " : "", room,
           room[0] ? ")" : "", user[0] ? " @" : "", user);
  size_t n = strlen(out);
  if (msg[0] && n < cap)
    snprintf(out + n, cap - n, " - %s", msg);
}

/* One line for an event; the room id of a TikTok event comes from the
 * client's latest status (when it is still that state). */
static void describe(ttb_client *c, const ttb_event *e, char *out, size_t cap)
{
  time_t t = (time_t)(e->time_ms / 1000);
  struct tm tm;
  char hhmmss[16] = "--:--:--";
  if (localtime_r(&t, &tm))
    strftime(hhmmss, sizeof hhmmss, "%H:%M:%S", &tm);
  switch (e->kind) {
  case TTB_EVENT_CHAT:
    snprintf(out, cap, "%s chat #%llu %s: %s%s", hhmmss, (unsigned long long)e->seq, e->user,
             e->text, e->filtered ? "  [filtered, not spoken]" : "");
    break;
  case TTB_EVENT_GIFT:
    snprintf(out, cap, "%s gift #%llu %s sent %u x %s", hhmmss, (unsigned long long)e->seq,
             e->user[0] ? e->user : "someone", e->count, e->text);
    break;
  case TTB_EVENT_STATE:
    snprintf(out, cap, "%s state %s%s%s", hhmmss, state_name((int)e->count), e->text[0] ? ": " : "",
             e->text);
    break;
  case TTB_EVENT_ERROR:
    snprintf(out, cap, "%s error: %s", hhmmss, e->text);
    break;
  case TTB_EVENT_MISSED:
    snprintf(out, cap, "%s missed: %s", hhmmss, e->text);
    break;
  case TTB_EVENT_TIKTOK: {
    ttb_tiktok_status t;
    const char *room = "";
    if (ttb_client_tiktok_status(c, &t) == (ttb_tiktok_state)e->count)
      room = t.room_id;
    char line[1300];
    tiktok_line((int32_t)e->count, e->user, room, e->text, line, sizeof line);
    snprintf(out, cap, "%s tiktok: %s", hhmmss, line);
    break;
  }
  case TTB_EVENT_CHANNEL: {
    char js[400];
    size_t n = 0;
    if (e->count != 0)
      snprintf(out, cap, "%s channel settings not synced: %s", hhmmss, e->text);
    else if (ttb_client_channel_settings_json(c, js, sizeof js, &n, NULL) == TTB_OK)
      snprintf(out, cap, "%s channel settings: %s", hhmmss, js);
    else
      snprintf(out, cap, "%s channel settings: %zu bytes of JSON", hhmmss, n);
    break;
  }
  default:
    snprintf(out, cap, "%s event of kind %d", hhmmss, (int)e->kind);
    break;
  }
}

static void draw_screen(ttb_client *c, const opts *o, uint64_t started_ms)
{
  char err[256];
  ttb_conn_state st = ttb_client_state(c, err, sizeof err);
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  ttb_stats k;
  ttb_client_get_stats(c, &k);
  ttb_event recent[5];
  size_t n = ttb_client_recent_events(c, recent, 5);
  printf("\033[H\033[J");
  printf("ttboost-listen  %s%s  (%llus)\n\n", o->server, s.binary_mode ? "  [binary]" : "",
         (unsigned long long)((mono_ms() - started_ms) / 1000));
  printf("  connection : %s%s%s\n", state_name(st), err[0] ? " - " : "", err);
  ttb_tiktok_status t;
  if (ttb_client_tiktok_status(c, &t) != TTB_TIKTOK_UNKNOWN) {
    char line[400];
    tiktok_line(t.state, t.username, t.room_id, t.message, line, sizeof line);
    printf("  TikTok LIVE: %s\n", line);
  }
  printf("  TTS        : %-3s  volume %3.0f%%   (t, +/-)\n", s.tts_enabled ? "on" : "off",
         (double)s.tts_volume * 100.0);
  printf("  gifts      : %-3s  volume %3.0f%%   (g, ]/[)\n", s.gifts_enabled ? "on" : "off",
         (double)s.gifts_volume * 100.0);
  printf("  stats      : %llu chat, %llu gifts (%llu), %llu played, %llu skipped, %llu filtered, "
         "%llu reconnects, up %llus\n",
         (unsigned long long)k.chat_messages, (unsigned long long)k.gifts,
         (unsigned long long)k.gift_count, (unsigned long long)k.played,
         (unsigned long long)k.skipped, (unsigned long long)k.filtered,
         (unsigned long long)k.reconnects, (unsigned long long)(k.uptime_ms / 1000));
  printf("\n  last events:\n");
  if (n == 0)
    printf("    (none yet)\n");
  for (size_t i = 0; i < n; i++) {
    char line[1400];
    describe(c, &recent[i], line, sizeof line);
    printf("    %s\n", line);
  }
  printf("\n  r reconnect   q quit\n");
  fflush(stdout);
}

static void apply_key(ttb_client *c, int key)
{
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  switch (key) {
  case 't':
    s.tts_enabled = !s.tts_enabled;
    break;
  case 'g':
    s.gifts_enabled = !s.gifts_enabled;
    break;
  case '+':
  case '=':
    s.tts_volume = s.tts_volume + 0.1f > 1.0f ? 1.0f : s.tts_volume + 0.1f;
    break;
  case '-':
  case '_':
    s.tts_volume = s.tts_volume - 0.1f < 0.0f ? 0.0f : s.tts_volume - 0.1f;
    break;
  case ']':
    s.gifts_volume = s.gifts_volume + 0.1f > 1.0f ? 1.0f : s.gifts_volume + 0.1f;
    break;
  case '[':
    s.gifts_volume = s.gifts_volume - 0.1f < 0.0f ? 0.0f : s.gifts_volume - 0.1f;
    break;
  case 'r':
    (void)ttb_client_reconnect_now(c);
    return;
  case 'q':
  case 'Q':
  case 3: /* Ctrl-C in raw mode */
    g_quit = 1;
    return;
  default:
    return;
  }
  if (ttb_client_set_settings(c, &s) != TTB_OK)
    fprintf(stderr, "ttboost-listen: %s\n", ttb_client_last_error(c));
}

/* ------------------------------------------------------------ main */

static char g_tmpdir[64];

static void remove_tmpdir(void)
{
  if (!g_tmpdir[0])
    return;
  DIR *d = opendir(g_tmpdir);
  if (d) {
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      snprintf(p, sizeof p, "%s/%s", g_tmpdir, de->d_name);
      (void)unlink(p);
    }
    closedir(d);
  }
  (void)rmdir(g_tmpdir);
  g_tmpdir[0] = '\0';
}

/* Creates dir and its parents (mode 0700); 0, or -1 with errno. */
static int mkdir_p(const char *dir)
{
  char p[1024];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof p) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] == '/' || p[i] == '\0') {
      char c = p[i];
      p[i] = '\0';
      if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return -1;
      p[i] = c;
    }
  }
  struct stat st;
  if (stat(dir, &st) != 0)
    return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  opts o;
  if (parse_opts(argc, argv, &o) != 0) {
    usage(stderr);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *dir = o.data_dir;
  if (!dir) {
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/ttboost-listen-XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
      fprintf(stderr, "ttboost-listen: cannot make a temporary directory: %s\n", strerror(errno));
      return 1;
    }
    atexit(remove_tmpdir);
    dir = g_tmpdir;
  } else if (mkdir_p(dir) != 0) {
    fprintf(stderr, "ttboost-listen: cannot create the data dir %s: %s\n", dir, strerror(errno));
    return 1;
  }
  char device[128];
  if (o.device) {
    snprintf(device, sizeof device, "%s", o.device);
  } else {
    char host[64] = "pc";
    if (gethostname(host, sizeof host) != 0)
      snprintf(host, sizeof host, "pc");
    host[sizeof host - 1] = '\0';
    snprintf(device, sizeof device, "listen-%s", host);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  ttb_client_config cfg = {.server_url = o.server,
                           .data_dir = dir,
                           .device_id = device,
                           .sample_rate = RATE,
                           .channels = CHANNELS};
  ttb_client *c = NULL;
  int rc = ttb_client_create(&cfg, &c);
  if (rc != TTB_OK) {
    fprintf(stderr, "ttboost-listen: %s (%s)\n", ttb_strerror(rc),
            rc == TTB_ERR_INVALID ? "check --server" : "check --data-dir");
    return 2;
  }
  printf("logging in to %s ...\n", o.server);
  rc = ttb_client_login(c, o.key);
  if (rc != TTB_OK) {
    fprintf(stderr, "ttboost-listen: login failed: %s\n", ttb_client_last_error(c));
    ttb_client_destroy(c);
    return rc == TTB_ERR_NETWORK || rc == TTB_ERR_IO || rc == TTB_ERR_NOMEM ? 1 : 2;
  }
  if (o.tiktok) {
    ttb_tiktok_status t;
    rc = ttb_client_set_tiktok(c, o.tiktok, &t);
    if (rc != TTB_OK) {
      fprintf(stderr, "ttboost-listen: the TikTok account was not set: %s\n",
              ttb_client_last_error(c));
      ttb_client_destroy(c);
      return rc == TTB_ERR_NETWORK || rc == TTB_ERR_NOMEM ? 1 : 2;
    }
    char line[400];
    tiktok_line(t.state, t.username, t.room_id, t.message, line, sizeof line);
    printf("tiktok account set: %s\n", t.username[0] ? t.username : "(none)");
    printf("tiktok: %s\n", line);
    ttb_event e; /* not started yet: the only event is that status, printed above */
    while (ttb_client_poll_event(c, &e) == 1) {}
  }
  ttb_settings s;
  ttb_client_get_settings(c, &s);
  if (s.binary_mode != o.binary) {
    s.binary_mode = o.binary;
    if (ttb_client_set_settings(c, &s) != TTB_OK)
      fprintf(stderr, "ttboost-listen: %s\n", ttb_client_last_error(c));
  }

  audio a;
  char aerr[256];
  if (audio_open(&a, c, o.wav, aerr, sizeof aerr) != 0) {
    fprintf(stderr, "ttboost-listen: %s\n", aerr);
    ttb_client_destroy(c);
    return 3;
  }
  rc = ttb_client_start(c);
  if (rc != TTB_OK) {
    fprintf(stderr, "ttboost-listen: cannot start: %s\n", ttb_client_last_error(c));
    audio_close(&a);
    ttb_client_destroy(c);
    return 1;
  }
  printf("logged in; listening%s%s\n", o.wav ? " into " : "", o.wav ? o.wav : "");

  bool screen = isatty(STDOUT_FILENO) != 0;
  if (screen)
    raw_terminal();
  uint64_t started = mono_ms(), last_draw = 0;
  bool dirty = true;
  int exit_code = 0;
  while (!g_quit) {
    if (o.seconds > 0 && (double)(mono_ms() - started) >= o.seconds * 1000.0)
      break;
    ttb_event e;
    while (ttb_client_poll_event(c, &e) == 1) {
      dirty = true;
      if (!screen) {
        char line[1400];
        describe(c, &e, line, sizeof line);
        printf("%s\n", line);
      }
    }
    int key;
    while ((key = read_key()) != 0) {
      apply_key(c, key);
      dirty = true;
    }
    uint64_t now = mono_ms();
    if (screen && (dirty || now - last_draw >= 1000)) {
      draw_screen(c, &o, started);
      last_draw = now;
      dirty = false;
    }
    sleep_ms(50);
  }
  restore_terminal();
  pthread_mutex_lock(&a.mu);
  if (a.error[0]) {
    fprintf(stderr, "ttboost-listen: %s\n", a.error);
    exit_code = 3;
  }
  pthread_mutex_unlock(&a.mu);

  ttb_client_stop(c);
  audio_close(&a);
  ttb_stats k;
  ttb_client_get_stats(c, &k);
  printf("done: %llu chat, %llu gifts, %llu played, %llu skipped, %llu reconnects, %.1f s with "
         "sound\n",
         (unsigned long long)k.chat_messages, (unsigned long long)k.gifts,
         (unsigned long long)k.played, (unsigned long long)k.skipped,
         (unsigned long long)k.reconnects, (double)a.peak_frames / RATE);
  ttb_client_destroy(c);
  return exit_code;
}
