/*
 * Text to speech: espeak-ng on one worker thread, Ogg Opus via libopusenc,
 * content-addressed cache files with LRU eviction. See tts.h.
 */
#include "tts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <espeak-ng/speak_lib.h>
#include <opus/opusenc.h>
#include <sodium.h>

#include "wake.h"

#define ID_HEX 32     /* BLAKE2b-128 as hex */
#define VOICE_MAX 16  /* longest voice name we keep */
#define TMP_PREFIX ".tts-"
#define TMP_SUFFIX ".tmp"

/* Voices an explicit request may name; at start each is checked with
 * espeak_SetVoiceByName and only those that load are accepted. */
static const char *const voice_whitelist[] = {
    "en", "ru", "kk", "de", "fr", "es", "it", "pt", "uk", "tr", "pl",
};
#define NVOICES (sizeof voice_whitelist / sizeof voice_whitelist[0])

typedef struct req req;
struct req {
  req *next;      /* queue / done list */
  req *followers; /* coalesced requests for the same id (singly linked by next) */
  char *text;     /* cleaned text (NULL for followers) */
  char voice[VOICE_MAX];
  char id[ID_HEX + 1];
  ttb_tts_cb cb;
  void *arg;
  /* Outcome, filled by the worker or by submit for a hit. */
  bool ok;
  bool hit;
  double seconds;
  char error[128];
};

struct ttb_tts {
  char *dir;
  size_t cache_max_bytes;
  size_t queue_max;
  size_t max_text_bytes;
  uint32_t bitrate;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t worker;
  bool worker_started;
  bool stopping;

  /* Start-up handshake: the worker initialises espeak-ng and reports. */
  bool init_done;
  bool init_ok;
  char init_err[160];
  int sample_rate;
  bool voice_ok[NVOICES];

  req *q_head, *q_tail; /* waiting requests */
  size_t q_len;
  req *current;         /* being synthesised (followers may attach) */
  req *done_head, *done_tail;

  int pipe_rd, pipe_wr;
};

/* espeak-ng is process-global: one ttb_tts at a time. */
static pthread_mutex_t g_instance_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_instance_live;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------- UTF-8 */

/* Decodes one code point at s (n bytes left). Returns its length, or 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF, cut). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
  if (n == 0)
    return 0;
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1F;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0F;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return len;
}

static bool is_control(uint32_t cp)
{
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

static bool is_space(uint32_t cp)
{
  return cp == ' ' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
         cp == 0xFEFF;
}

/* Cleans text into a new string: control characters and Unicode spaces
 * become one space per run, leading/trailing space goes, then the result
 * is cut to max_bytes (0 = no cut) at a code point boundary.
 * Returns NULL with a message on invalid UTF-8, empty result or no memory. */
static char *clean_text(const char *text, size_t max_bytes, char *err, size_t errlen)
{
  if (!text) {
    set_err(err, errlen, "no text");
    return NULL;
  }
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);
  char *out = malloc(n + 1);
  if (!out) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  size_t o = 0;
  bool pending_space = false;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = utf8_decode(s + i, n - i, &cp);
    if (l == 0) {
      free(out);
      set_err(err, errlen, "text is not valid UTF-8 (byte %zu)", i);
      return NULL;
    }
    if (is_control(cp) || is_space(cp)) {
      pending_space = o > 0; /* leading space is dropped */
    } else {
      if (pending_space)
        out[o++] = ' ';
      pending_space = false;
      memcpy(out + o, s + i, l);
      o += l;
    }
    i += l;
  }
  /* Cut at a boundary: back off continuation bytes. */
  if (max_bytes && o > max_bytes) {
    size_t cut = max_bytes;
    while (cut > 0 && ((unsigned char)out[cut] & 0xC0) == 0x80)
      cut--;
    o = cut;
    while (o > 0 && out[o - 1] == ' ')
      o--;
  }
  out[o] = '\0';
  if (o == 0) {
    free(out);
    set_err(err, errlen, "text is empty after cleaning");
    return NULL;
  }
  return out;
}

/* --------------------------------------------------------------- voice */

const char *ttb_tts_voice_for(const char *text)
{
  if (!text)
    return "en";
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);
  size_t kaz = 0, cyr = 0, lat = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = utf8_decode(s + i, n - i, &cp);
    if (l == 0) {
      i++;
      continue;
    }
    i += l;
    switch (cp) {
    case 0x04D8: case 0x04D9: /* Ә ә */
    case 0x0492: case 0x0493: /* Ғ ғ */
    case 0x049A: case 0x049B: /* Қ қ */
    case 0x04A2: case 0x04A3: /* Ң ң */
    case 0x04E8: case 0x04E9: /* Ө ө */
    case 0x04B0: case 0x04B1: /* Ұ ұ */
    case 0x04AE: case 0x04AF: /* Ү ү */
    case 0x04BA: case 0x04BB: /* Һ һ */
    case 0x0406: case 0x0456: /* І і */
      kaz++;
      cyr++;
      continue;
    default:
      break;
    }
    if (cp >= 0x0400 && cp <= 0x04FF)
      cyr++;
    else if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
             (cp >= 0x00C0 && cp <= 0x024F && cp != 0xD7 && cp != 0xF7))
      lat++;
  }
  if (cyr > 0 && cyr >= lat)
    return kaz > 0 ? "kk" : "ru";
  return "en";
}

static int voice_index(const char *v)
{
  for (size_t i = 0; i < NVOICES; i++)
    if (strcmp(voice_whitelist[i], v) == 0)
      return (int)i;
  return -1;
}

/* ----------------------------------------------------------------- id */

static int make_id(const char *voice, const char *text, char out[ID_HEX + 1])
{
  unsigned char h[16];
  crypto_generichash_state st;
  if (crypto_generichash_init(&st, NULL, 0, sizeof h) != 0 ||
      crypto_generichash_update(&st, (const unsigned char *)voice, strlen(voice)) != 0 ||
      crypto_generichash_update(&st, (const unsigned char *)"\n", 1) != 0 ||
      crypto_generichash_update(&st, (const unsigned char *)text, strlen(text)) != 0 ||
      crypto_generichash_final(&st, h, sizeof h) != 0)
    return -1;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof h; i++) {
    out[2 * i] = hex[h[i] >> 4];
    out[2 * i + 1] = hex[h[i] & 15];
  }
  out[ID_HEX] = '\0';
  return 0;
}

static char *path_of(const ttb_tts *t, const char *id)
{
  size_t n = strlen(t->dir) + 1 + ID_HEX + sizeof ".ogg";
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s.ogg", t->dir, id);
  return p;
}

/* ---------------------------------------------------------- done list */

static void wake(ttb_tts *t)
{
  unsigned char b = 1;
  ssize_t w;
  do
    w = write(t->pipe_wr, &b, 1);
  while (w < 0 && errno == EINTR);
  /* EAGAIN: the pipe is full, so the loop is already woken. */
}

/* Caller holds t->mu. */
static void push_done_locked(ttb_tts *t, req *r)
{
  r->next = NULL;
  if (t->done_tail)
    t->done_tail->next = r;
  else
    t->done_head = r;
  t->done_tail = r;
}

static void free_req(req *r)
{
  while (r) {
    req *f = r->followers;
    free(r->text);
    free(r);
    r = f;
  }
}

static void run_callbacks(ttb_tts *t, req *r)
{
  char *path = r->ok ? path_of(t, r->id) : NULL;
  ttb_tts_result res = {0};
  if (r->ok && path) {
    res.id = r->id;
    res.path = path;
    res.hit = r->hit;
    res.seconds = r->seconds;
  } else {
    res.error = r->ok ? "out of memory" : (r->error[0] ? r->error : "speech failed");
  }
  for (req *x = r; x; x = x->followers) {
    if (x->cb)
      x->cb(x->arg, &res);
    /* Followers share the first request's outcome; a follower joined
     * after the synthesis was decided, so it is not a fresh synthesis. */
  }
  free(path);
}

void ttb_tts_dispatch(ttb_tts *t)
{
  ttb_wake_drain(t->pipe_rd);
  pthread_mutex_lock(&t->mu);
  req *list = t->done_head;
  t->done_head = t->done_tail = NULL;
  pthread_mutex_unlock(&t->mu);
  while (list) {
    req *next = list->next;
    run_callbacks(t, list);
    free_req(list);
    list = next;
  }
}

int ttb_tts_fd(const ttb_tts *t) { return t->pipe_rd; }

const char *ttb_tts_dir(const ttb_tts *t) { return t->dir; }

/* ------------------------------------------------------------- cache */

typedef struct cache_ent {
  char *name;
  struct timespec mtime;
  off_t size;
} cache_ent;

static int cmp_mtime(const void *a, const void *b)
{
  const cache_ent *x = a, *y = b;
  if (x->mtime.tv_sec != y->mtime.tv_sec)
    return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
  if (x->mtime.tv_nsec != y->mtime.tv_nsec)
    return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
  return strcmp(x->name, y->name);
}

static bool ends_with(const char *s, const char *suf)
{
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* Deletes the least recently used *.ogg files until the total is within
 * the cap; `keep` (a file name) is never deleted. Best effort: problems
 * are logged to stderr, nothing else depends on eviction. */
static void evict(ttb_tts *t, const char *keep)
{
  if (t->cache_max_bytes == 0)
    return;
  DIR *d = opendir(t->dir);
  if (!d) {
    fprintf(stderr, "tts: cache scan %s: %s\n", t->dir, strerror(errno));
    return;
  }
  cache_ent *ents = NULL;
  size_t n = 0, cap = 0;
  unsigned long long total = 0;
  int dfd = dirfd(d);
  struct dirent *e;
  bool oom = false;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !ends_with(e->d_name, ".ogg"))
      continue;
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    total += (unsigned long long)st.st_size;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      cache_ent *ne = realloc(ents, nc * sizeof *ne);
      if (!ne) {
        oom = true;
        break;
      }
      ents = ne;
      cap = nc;
    }
    char *name = strdup(e->d_name);
    if (!name) {
      oom = true;
      break;
    }
    ents[n].name = name;
    ents[n].mtime = st.st_mtim;
    ents[n].size = st.st_size;
    n++;
  }
  if (oom) {
    fprintf(stderr, "tts: cache scan: out of memory\n");
  } else if (total > t->cache_max_bytes) {
    qsort(ents, n, sizeof *ents, cmp_mtime);
    for (size_t i = 0; i < n && total > t->cache_max_bytes; i++) {
      if (keep && strcmp(ents[i].name, keep) == 0)
        continue;
      if (unlinkat(dfd, ents[i].name, 0) == 0 || errno == ENOENT)
        total -= (unsigned long long)ents[i].size;
      else
        fprintf(stderr, "tts: evict %s: %s\n", ents[i].name, strerror(errno));
    }
  }
  for (size_t i = 0; i < n; i++)
    free(ents[i].name);
  free(ents);
  closedir(d);
}

/* Removes temp files left by a crash. */
static void clean_temps(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    return;
  int dfd = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 && ends_with(e->d_name, TMP_SUFFIX))
      if (unlinkat(dfd, e->d_name, 0) != 0 && errno != ENOENT)
        fprintf(stderr, "tts: remove stale %s: %s\n", e->d_name, strerror(errno));
  }
  closedir(d);
}

/* ---------------------------------------------------------- synthesis */

typedef struct pcm_buf {
  short *s;
  size_t n, cap;
  bool oom;
} pcm_buf;

static int synth_cb(short *wav, int numsamples, espeak_EVENT *events)
{
  pcm_buf *b = events ? events[0].user_data : NULL;
  if (!b)
    return 1; /* no buffer: abort */
  if (!wav || numsamples <= 0)
    return 0;
  size_t need = b->n + (size_t)numsamples;
  if (need > b->cap) {
    size_t nc = b->cap ? b->cap : 22050;
    while (nc < need)
      nc *= 2;
    short *ns = realloc(b->s, nc * sizeof *ns);
    if (!ns) {
      b->oom = true;
      return 1;
    }
    b->s = ns;
    b->cap = nc;
  }
  memcpy(b->s + b->n, wav, (size_t)numsamples * sizeof *wav);
  b->n = need;
  return 0;
}

/* The Ogg file libopusenc writes, through our own callbacks: libopusenc's
 * stdio ones close the file in ope_encoder_drain and, after a failed
 * write (a full disk), again in ope_encoder_destroy, a double fclose. Here
 * the file is closed exactly once. */
typedef struct ogg_out {
  FILE *f;
} ogg_out;

static int ogg_write(void *user, const unsigned char *ptr, opus_int32 len)
{
  ogg_out *o = user;
  return o->f == NULL || fwrite(ptr, 1, (size_t)len, o->f) != (size_t)len;
}

static int ogg_close(void *user)
{
  ogg_out *o = user;
  if (o->f == NULL)
    return 0;
  int rc = fclose(o->f);
  o->f = NULL;
  return rc != 0;
}

static int encode_file(ttb_tts *t, const short *pcm, size_t n, const char *tmp, const char *voice,
                       char *err, size_t errlen)
{
  int e = OPE_OK;
  OggOpusComments *c = ope_comments_create();
  if (!c) {
    set_err(err, errlen, "opusenc: out of memory");
    return -1;
  }
  if ((e = ope_comments_add(c, "ENCODER", "ttboost espeak-ng")) != OPE_OK ||
      (e = ope_comments_add(c, "LANGUAGE", voice)) != OPE_OK) {
    set_err(err, errlen, "opusenc comments: %s", ope_strerror(e));
    ope_comments_destroy(c);
    return -1;
  }
  ogg_out out = {fopen(tmp, "wb")};
  if (out.f == NULL) {
    set_err(err, errlen, "opusenc create %s: %s", tmp, strerror(errno));
    ope_comments_destroy(c);
    return -1;
  }
  static const OpusEncCallbacks cbs = {ogg_write, ogg_close};
  OggOpusEnc *enc = ope_encoder_create_callbacks(&cbs, &out, c, t->sample_rate, 1, 0, &e);
  ope_comments_destroy(c);
  if (!enc) {
    set_err(err, errlen, "opusenc create %s: %s", tmp, ope_strerror(e));
    ogg_close(&out);
    return -1;
  }
  if ((e = ope_encoder_ctl(enc, OPUS_SET_BITRATE((opus_int32)t->bitrate))) != OPE_OK) {
    set_err(err, errlen, "opusenc bitrate %u: %s", (unsigned)t->bitrate, ope_strerror(e));
    goto fail;
  }
  if ((e = ope_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPE_OK) {
    set_err(err, errlen, "opusenc signal: %s", ope_strerror(e));
    goto fail;
  }
  /* Write in chunks: ope_encoder_write takes an int count. */
  for (size_t off = 0; off < n;) {
    size_t k = n - off > 65536 ? 65536 : n - off;
    /* libopusenc's int16 API wants opus_int16; short is 16-bit here. */
    if ((e = ope_encoder_write(enc, (const opus_int16 *)pcm + off, (int)k)) != OPE_OK) {
      set_err(err, errlen, "opusenc write: %s", ope_strerror(e));
      goto fail;
    }
    off += k;
  }
  if ((e = ope_encoder_drain(enc)) != OPE_OK) {
    set_err(err, errlen, "opusenc drain: %s", ope_strerror(e));
    goto fail;
  }
  ope_encoder_destroy(enc);
  return ogg_close(&out) == 0 ? 0 : -1; /* closed by the drain already; a no-op then */
fail:
  ope_encoder_destroy(enc);
  ogg_close(&out);
  return -1;
}

/* Synthesises r into <dir>/<id>.ogg. Worker thread only. */
static void synthesize(ttb_tts *t, req *r, const char **cur_voice)
{
  double t0 = now_s();
  char *final = path_of(t, r->id);
  size_t tl = strlen(t->dir) + sizeof "/" TMP_PREFIX + ID_HEX + 32 + sizeof TMP_SUFFIX;
  char *tmp = malloc(tl);
  pcm_buf b = {0};
  if (!final || !tmp) {
    set_err(r->error, sizeof r->error, "out of memory");
    goto out;
  }
  snprintf(tmp, tl, "%s/" TMP_PREFIX "%s-%ld" TMP_SUFFIX, t->dir, r->id, (long)getpid());

  /* A coalesced or repeated request may find the file already made. */
  struct stat st;
  if (stat(final, &st) == 0 && S_ISREG(st.st_mode)) {
    if (utimensat(AT_FDCWD, final, NULL, 0) != 0)
      fprintf(stderr, "tts: touch %s: %s\n", final, strerror(errno));
    r->ok = true;
    r->hit = true;
    goto out;
  }

  if (!*cur_voice || strcmp(*cur_voice, r->voice) != 0) {
    espeak_ERROR ve = espeak_SetVoiceByName(r->voice);
    if (ve != EE_OK) {
      *cur_voice = NULL;
      set_err(r->error, sizeof r->error, "espeak-ng: cannot load voice %s (%d)", r->voice, (int)ve);
      goto out;
    }
    int vi = voice_index(r->voice);
    *cur_voice = vi >= 0 ? voice_whitelist[vi] : NULL;
  }
  espeak_ERROR se = espeak_Synth(r->text, strlen(r->text) + 1, 0, POS_CHARACTER, 0,
                                 espeakCHARS_UTF8, NULL, &b);
  if (se != EE_OK) {
    set_err(r->error, sizeof r->error, "espeak-ng synth failed (%d)", (int)se);
    goto out;
  }
  if (b.oom) {
    set_err(r->error, sizeof r->error, "out of memory collecting speech");
    goto out;
  }
  if (b.n == 0) {
    set_err(r->error, sizeof r->error, "espeak-ng produced no audio");
    goto out;
  }
  if (encode_file(t, b.s, b.n, tmp, r->voice, r->error, sizeof r->error) != 0) {
    if (unlink(tmp) != 0 && errno != ENOENT)
      fprintf(stderr, "tts: remove %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  if (rename(tmp, final) != 0) {
    set_err(r->error, sizeof r->error, "rename %s: %s", final, strerror(errno));
    if (unlink(tmp) != 0 && errno != ENOENT)
      fprintf(stderr, "tts: remove %s: %s\n", tmp, strerror(errno));
    goto out;
  }
  r->ok = true;
  r->hit = false;
  r->seconds = now_s() - t0;
  {
    char keep[ID_HEX + sizeof ".ogg"];
    snprintf(keep, sizeof keep, "%s.ogg", r->id);
    evict(t, keep);
  }
out:
  free(b.s);
  free(tmp);
  free(final);
}

/* espeak-ng 1.51 (Debian 12) hangs in espeak_Terminate after a second
 * espeak_Initialize in the same process, so the engine is initialised once
 * and never terminated; later instances reuse it. Only one instance lives
 * at a time and its worker is joined before the next starts, so espeak-ng
 * is never used by two threads at once. */
static int g_espeak_rate;          /* 0: not initialised */
static bool g_voice_ok[NVOICES];

static void *worker_main(void *arg)
{
  ttb_tts *t = arg;
  pthread_mutex_lock(&t->mu);
  bool ok = true;
  if (g_espeak_rate <= 0) {
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, NULL, 0);
    if (rate <= 0) {
      ok = false;
      set_err(t->init_err, sizeof t->init_err, "espeak-ng initialisation failed (data missing?)");
    } else {
      espeak_SetSynthCallback(synth_cb);
      for (size_t i = 0; i < NVOICES; i++)
        g_voice_ok[i] = espeak_SetVoiceByName(voice_whitelist[i]) == EE_OK;
      g_espeak_rate = rate;
    }
  }
  if (ok) {
    memcpy(t->voice_ok, g_voice_ok, sizeof t->voice_ok);
    t->sample_rate = g_espeak_rate;
    if (!t->voice_ok[0]) {
      ok = false;
      set_err(t->init_err, sizeof t->init_err, "espeak-ng has no 'en' voice");
    }
  }
  t->init_done = true;
  t->init_ok = ok;
  pthread_cond_broadcast(&t->cv);
  if (!ok) {
    pthread_mutex_unlock(&t->mu);
    return NULL;
  }
  const char *cur_voice = NULL; /* after the probe the voice is unknown */
  for (;;) {
    while (!t->stopping && !t->q_head)
      pthread_cond_wait(&t->cv, &t->mu);
    if (t->stopping)
      break;
    req *r = t->q_head;
    t->q_head = r->next;
    if (!t->q_head)
      t->q_tail = NULL;
    t->q_len--;
    r->next = NULL;
    t->current = r;
    pthread_mutex_unlock(&t->mu);

    synthesize(t, r, &cur_voice);

    pthread_mutex_lock(&t->mu);
    t->current = NULL;
    push_done_locked(t, r);
    wake(t);
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

/* -------------------------------------------------------------- start */

static int make_dir(const char *dir, char *err, size_t errlen)
{
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    set_err(err, errlen, "%s is not a directory", dir);
    return -1;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    set_err(err, errlen, "%s is not writable: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

static int set_fd_flags(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
    return -1;
  int fdf = fcntl(fd, F_GETFD);
  if (fdf < 0 || fcntl(fd, F_SETFD, fdf | FD_CLOEXEC) != 0)
    return -1;
  return 0;
}

ttb_tts *ttb_tts_start(const ttb_tts_config *cfg, char *err, size_t errlen)
{
  if (!cfg || !cfg->cache_dir || !cfg->cache_dir[0]) {
    set_err(err, errlen, "no cache directory");
    return NULL;
  }
  if (cfg->queue_max == 0) {
    set_err(err, errlen, "queue_max must be at least 1");
    return NULL;
  }
  if (cfg->bitrate < 6000 || cfg->bitrate > 510000) {
    set_err(err, errlen, "bitrate %u out of range (6000..510000)", (unsigned)cfg->bitrate);
    return NULL;
  }
  if (sodium_init() < 0) {
    set_err(err, errlen, "libsodium initialisation failed");
    return NULL;
  }
  if (make_dir(cfg->cache_dir, err, errlen) != 0)
    return NULL;

  pthread_mutex_lock(&g_instance_mu);
  if (g_instance_live) {
    pthread_mutex_unlock(&g_instance_mu);
    set_err(err, errlen, "text to speech is already running (espeak-ng is process-wide)");
    return NULL;
  }
  g_instance_live = true;
  pthread_mutex_unlock(&g_instance_mu);

  ttb_tts *t = calloc(1, sizeof *t);
  if (!t) {
    set_err(err, errlen, "out of memory");
    goto fail_instance;
  }
  t->pipe_rd = t->pipe_wr = -1;
  t->cache_max_bytes = cfg->cache_max_bytes;
  t->queue_max = cfg->queue_max;
  t->max_text_bytes = cfg->max_text_bytes;
  t->bitrate = cfg->bitrate;
  /* Keep the dir without trailing slashes (but "/" stays). */
  t->dir = strdup(cfg->cache_dir);
  if (!t->dir) {
    set_err(err, errlen, "out of memory");
    goto fail_free;
  }
  for (size_t l = strlen(t->dir); l > 1 && t->dir[l - 1] == '/'; l--)
    t->dir[l - 1] = '\0';

  int fds[2];
  if (pipe(fds) != 0) {
    set_err(err, errlen, "pipe: %s", strerror(errno));
    goto fail_free;
  }
  t->pipe_rd = fds[0];
  t->pipe_wr = fds[1];
  if (set_fd_flags(t->pipe_rd) != 0 || set_fd_flags(t->pipe_wr) != 0) {
    set_err(err, errlen, "fcntl: %s", strerror(errno));
    goto fail_free;
  }
  int pe;
  if ((pe = pthread_mutex_init(&t->mu, NULL)) != 0) {
    set_err(err, errlen, "pthread_mutex_init: %s", strerror(pe));
    goto fail_free;
  }
  if ((pe = pthread_cond_init(&t->cv, NULL)) != 0) {
    set_err(err, errlen, "pthread_cond_init: %s", strerror(pe));
    pthread_mutex_destroy(&t->mu);
    goto fail_free;
  }

  clean_temps(t->dir);

  if ((pe = pthread_create(&t->worker, NULL, worker_main, t)) != 0) {
    set_err(err, errlen, "pthread_create: %s", strerror(pe));
    goto fail_sync;
  }
  pthread_mutex_lock(&t->mu);
  while (!t->init_done)
    pthread_cond_wait(&t->cv, &t->mu);
  bool ok = t->init_ok;
  pthread_mutex_unlock(&t->mu);
  if (!ok) {
    pthread_join(t->worker, NULL);
    set_err(err, errlen, "%s", t->init_err);
    goto fail_sync;
  }
  t->worker_started = true;
  return t;

fail_sync:
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
fail_free:
  if (t->pipe_rd >= 0)
    close(t->pipe_rd);
  if (t->pipe_wr >= 0)
    close(t->pipe_wr);
  free(t->dir);
  free(t);
fail_instance:
  pthread_mutex_lock(&g_instance_mu);
  g_instance_live = false;
  pthread_mutex_unlock(&g_instance_mu);
  return NULL;
}

void ttb_tts_stop(ttb_tts *t)
{
  if (!t)
    return;
  pthread_mutex_lock(&t->mu);
  t->stopping = true;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (t->worker_started) {
    int pe = pthread_join(t->worker, NULL);
    if (pe != 0)
      fprintf(stderr, "tts: pthread_join: %s\n", strerror(pe));
  }
  /* Requests never started fail; they follow the finished ones. */
  pthread_mutex_lock(&t->mu);
  req *q = t->q_head;
  t->q_head = t->q_tail = NULL;
  t->q_len = 0;
  while (q) {
    req *next = q->next;
    q->ok = false;
    set_err(q->error, sizeof q->error, "text to speech stopped");
    push_done_locked(t, q);
    q = next;
  }
  pthread_mutex_unlock(&t->mu);
  ttb_tts_dispatch(t);

  close(t->pipe_rd);
  close(t->pipe_wr);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mu);
  free(t->dir);
  free(t);
  pthread_mutex_lock(&g_instance_mu);
  g_instance_live = false;
  pthread_mutex_unlock(&g_instance_mu);
}

/* ------------------------------------------------------------- submit */

int ttb_tts_submit(ttb_tts *t, const char *text, const char *voice, ttb_tts_cb cb, void *arg,
                   char *err, size_t errlen)
{
  const char *v;
  if (voice && voice[0]) {
    int vi = voice_index(voice);
    if (vi < 0 || !t->voice_ok[vi]) {
      set_err(err, errlen, "unknown voice '%.*s'", 32, voice);
      return -1;
    }
    v = voice_whitelist[vi];
  } else {
    v = ttb_tts_voice_for(text);
    int vi = voice_index(v);
    if (vi < 0 || !t->voice_ok[vi])
      v = strcmp(v, "kk") == 0 && t->voice_ok[voice_index("ru")] ? "ru" : "en";
  }
  char *clean = clean_text(text, t->max_text_bytes, err, errlen);
  if (!clean)
    return -1;
  req *r = calloc(1, sizeof *r);
  if (!r) {
    free(clean);
    set_err(err, errlen, "out of memory");
    return -1;
  }
  r->text = clean;
  snprintf(r->voice, sizeof r->voice, "%s", v);
  r->cb = cb;
  r->arg = arg;
  if (make_id(v, clean, r->id) != 0) {
    free_req(r);
    set_err(err, errlen, "hash failed");
    return -1;
  }

  /* A hit completes through the done list, never from here. */
  char *path = path_of(t, r->id);
  if (!path) {
    free_req(r);
    set_err(err, errlen, "out of memory");
    return -1;
  }
  struct stat st;
  bool hit = stat(path, &st) == 0 && S_ISREG(st.st_mode);
  if (hit && utimensat(AT_FDCWD, path, NULL, 0) != 0)
    hit = false; /* vanished (evicted) meanwhile: make it again */
  free(path);

  pthread_mutex_lock(&t->mu);
  if (t->stopping) {
    pthread_mutex_unlock(&t->mu);
    free_req(r);
    set_err(err, errlen, "text to speech is stopping");
    return -1;
  }
  if (hit) {
    free(r->text);
    r->text = NULL;
    r->ok = true;
    r->hit = true;
    push_done_locked(t, r);
    wake(t);
    pthread_mutex_unlock(&t->mu);
    return 0;
  }
  /* Coalesce with the same id, waiting or in progress. */
  req *same = NULL;
  if (t->current && strcmp(t->current->id, r->id) == 0)
    same = t->current;
  for (req *x = t->q_head; x && !same; x = x->next)
    if (strcmp(x->id, r->id) == 0)
      same = x;
  if (same) {
    free(r->text);
    r->text = NULL;
    /* Append to keep submission order among the followers. */
    req **pp = &same->followers;
    while (*pp)
      pp = &(*pp)->followers;
    *pp = r;
    pthread_mutex_unlock(&t->mu);
    return 0;
  }
  if (t->q_len >= t->queue_max) {
    pthread_mutex_unlock(&t->mu);
    free_req(r);
    set_err(err, errlen, "text to speech is busy");
    return 1;
  }
  if (t->q_tail)
    t->q_tail->next = r;
  else
    t->q_head = r;
  t->q_tail = r;
  t->q_len++;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
  return 0;
}
