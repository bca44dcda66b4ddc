/* Uploaded sounds -> mono Ogg Opus with Debian's libraries: see sndconv.h. */
#include "sndconv.h"

#include <math.h>
#include <opus/opusenc.h>
#include <opus/opusfile.h>
#include <sndfile.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_RATE 8000
#define MAX_RATE 192000
#define MAX_CHANNELS 8
#define CHUNK 4096 /* frames read at a time */

static void set_err(char *err, size_t errlen, const char *msg)
{
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", msg);
}

ttb_sndconv_format ttb_sndconv_sniff(const uint8_t *d, size_t len)
{
  if (len >= 4 && memcmp(d, "OggS", 4) == 0)
    return TTB_SNDCONV_OGG;
  if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WAVE", 4) == 0)
    return TTB_SNDCONV_WAV;
  if (len >= 3 && memcmp(d, "ID3", 3) == 0)
    return TTB_SNDCONV_MP3;
  /* an MPEG audio frame: 11 sync bits, a version and a layer that exist */
  if (len >= 4 && d[0] == 0xff && (d[1] & 0xe0) == 0xe0 && ((d[1] >> 3) & 3) != 1 &&
      ((d[1] >> 1) & 3) != 0)
    return TTB_SNDCONV_MP3;
  return TTB_SNDCONV_UNKNOWN;
}

ttb_sndconv_format ttb_sndconv_content_type(const char *type, size_t len)
{
  if (type == NULL)
    return TTB_SNDCONV_UNKNOWN;
  size_t n = 0;
  while (n < len && type[n] != ';' && type[n] != ' ' && type[n] != '\t')
    n++;
  static const struct {
    const char *name;
    ttb_sndconv_format f;
  } types[] = {
      {"audio/ogg", TTB_SNDCONV_OGG},  {"audio/opus", TTB_SNDCONV_OGG},
      {"audio/wav", TTB_SNDCONV_WAV},  {"audio/x-wav", TTB_SNDCONV_WAV},
      {"audio/wave", TTB_SNDCONV_WAV}, {"audio/vnd.wave", TTB_SNDCONV_WAV},
      {"audio/mpeg", TTB_SNDCONV_MP3}, {"audio/mp3", TTB_SNDCONV_MP3},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strlen(types[i].name) == n && strncasecmp(type, types[i].name, n) == 0)
      return types[i].f;
  return TTB_SNDCONV_UNKNOWN;
}

/* ------------------------------------------------------------ mono PCM */

typedef struct pcm {
  float *v;
  size_t n, cap, max; /* max: the most frames kept (the limit and one more) */
  bool over;          /* a frame beyond max came */
} pcm;

static float clean(float x)
{
  if (!isfinite(x))
    return 0.0f;
  return x > 1.0f ? 1.0f : x < -1.0f ? -1.0f : x;
}

/* Appends frames of `ch` interleaved channels, mixed down; -1 on no memory. */
static int pcm_add(pcm *p, const float *in, size_t frames, int ch)
{
  if (p->n + frames > p->max) {
    p->over = true;
    frames = p->max - p->n;
  }
  if (p->n + frames > p->cap) {
    size_t cap = p->cap ? p->cap : 48000;
    while (cap < p->n + frames)
      cap *= 2;
    if (cap > p->max)
      cap = p->max;
    float *v = realloc(p->v, cap * sizeof *v);
    if (v == NULL)
      return -1;
    p->v = v;
    p->cap = cap;
  }
  for (size_t i = 0; i < frames; i++) {
    float s = 0;
    for (int c = 0; c < ch; c++)
      s += clean(in[i * (size_t)ch + (size_t)c]);
    p->v[p->n++] = s / (float)ch;
  }
  return 0;
}

/* frames at rate in ms, rounded up: a sound of a few samples is 1 ms, not 0 */
static uint32_t ms_of(uint64_t frames, uint32_t rate)
{
  uint64_t ms = (frames * 1000u + rate - 1) / rate;
  return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* --------------------------------------------------------- Ogg Opus in */

static ttb_sndconv_status decode_opus(const uint8_t *data, size_t len, uint32_t max_ms, pcm *p,
                                      uint32_t *rate, uint32_t *length_ms, char *err, size_t errlen)
{
  int e = 0;
  OggOpusFile *of = op_open_memory(data, len, &e);
  if (of == NULL) {
    set_err(err, errlen,
            "The Ogg file could not be read as Ogg Opus (Ogg Vorbis and FLAC are not accepted).");
    return TTB_SNDCONV_INVALID;
  }
  *rate = 48000;
  p->max = (size_t)max_ms * 48u + 1;
  ogg_int64_t total = op_pcm_total(of, -1);
  if (total > 0 && (uint64_t)total >= p->max) {
    *length_ms = ms_of((uint64_t)total, 48000);
    op_free(of);
    return TTB_SNDCONV_TOO_LONG;
  }
  float buf[CHUNK * 2];
  for (;;) {
    int r = op_read_float_stereo(of, buf, CHUNK * 2);
    if (r == OP_HOLE)
      continue; /* a gap in the data: what follows still plays */
    if (r < 0) {
      op_free(of);
      set_err(err, errlen, "The Ogg Opus file is damaged: it could not be decoded.");
      return TTB_SNDCONV_INVALID;
    }
    if (r == 0)
      break;
    if (pcm_add(p, buf, (size_t)r, 2) != 0) {
      op_free(of);
      set_err(err, errlen, "The server is out of memory.");
      return TTB_SNDCONV_FAILED;
    }
    if (p->over)
      break;
  }
  op_free(of);
  if (p->over) {
    *length_ms = total > 0 ? ms_of((uint64_t)total, 48000) : 0;
    return TTB_SNDCONV_TOO_LONG;
  }
  return TTB_SNDCONV_OK;
}

/* ---------------------------------------------------- WAV and MP3 in */

typedef struct vio {
  const uint8_t *p;
  sf_count_t len, pos;
} vio;

static sf_count_t v_len(void *u) { return ((vio *)u)->len; }

static sf_count_t v_seek(sf_count_t off, int whence, void *u)
{
  vio *v = u;
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? v->pos : v->len;
  sf_count_t to = base + off;
  if (to < 0 || to > v->len)
    return -1;
  v->pos = to;
  return to;
}

static sf_count_t v_read(void *ptr, sf_count_t n, void *u)
{
  vio *v = u;
  if (n < 0)
    return 0;
  sf_count_t left = v->len - v->pos;
  if (n > left)
    n = left;
  memcpy(ptr, v->p + v->pos, (size_t)n);
  v->pos += n;
  return n;
}

static sf_count_t v_write(const void *ptr, sf_count_t n, void *u)
{
  (void)ptr, (void)n, (void)u;
  return 0;
}

static sf_count_t v_tell(void *u) { return ((vio *)u)->pos; }

static ttb_sndconv_status decode_sndfile(const uint8_t *data, size_t len, ttb_sndconv_format want,
                                         uint32_t max_ms, pcm *p, uint32_t *rate,
                                         uint32_t *length_ms, char *err, size_t errlen)
{
  vio v = {data, (sf_count_t)len, 0};
  SF_VIRTUAL_IO io = {v_len, v_seek, v_read, v_write, v_tell};
  SF_INFO info;
  memset(&info, 0, sizeof info);
  const char *what = want == TTB_SNDCONV_WAV ? "WAV" : "MP3";
  char msg[200];
  SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &v);
  if (sf == NULL) {
    snprintf(msg, sizeof msg,
             "The %s file could not be read: it is damaged or of a kind not "
             "supported.",
             what);
    set_err(err, errlen, msg);
    return TTB_SNDCONV_INVALID;
  }
  int type = info.format & SF_FORMAT_TYPEMASK;
  bool ok = want == TTB_SNDCONV_WAV ? (type == SF_FORMAT_WAV || type == SF_FORMAT_WAVEX)
                                    : type == SF_FORMAT_MPEG;
  if (!ok) {
    sf_close(sf);
    snprintf(msg, sizeof msg, "The file is not a %s file.", what);
    set_err(err, errlen, msg);
    return TTB_SNDCONV_FORMAT;
  }
  if (info.samplerate < MIN_RATE || info.samplerate > MAX_RATE || info.channels < 1 ||
      info.channels > MAX_CHANNELS) {
    sf_close(sf);
    snprintf(msg, sizeof msg,
             "The %s file has %d channels at %d Hz: 1 to %d channels at %d to %d Hz are "
             "accepted.",
             what, info.channels, info.samplerate, MAX_CHANNELS, MIN_RATE, MAX_RATE);
    set_err(err, errlen, msg);
    return TTB_SNDCONV_INVALID;
  }
  *rate = (uint32_t)info.samplerate;
  p->max = (size_t)max_ms * (size_t)info.samplerate / 1000u + 1;
  if (info.frames > 0 && info.frames != SF_COUNT_MAX && (uint64_t)info.frames >= p->max) {
    *length_ms = ms_of((uint64_t)info.frames, *rate);
    sf_close(sf);
    return TTB_SNDCONV_TOO_LONG;
  }
  float *buf = malloc((size_t)CHUNK * (size_t)info.channels * sizeof *buf);
  if (buf == NULL) {
    sf_close(sf);
    set_err(err, errlen, "The server is out of memory.");
    return TTB_SNDCONV_FAILED;
  }
  ttb_sndconv_status st = TTB_SNDCONV_OK;
  for (;;) {
    sf_count_t r = sf_readf_float(sf, buf, CHUNK);
    if (r <= 0)
      break;
    if (pcm_add(p, buf, (size_t)r, info.channels) != 0) {
      set_err(err, errlen, "The server is out of memory.");
      st = TTB_SNDCONV_FAILED;
      break;
    }
    if (p->over)
      break;
  }
  int serr = sf_error(sf);
  free(buf);
  sf_close(sf);
  if (st != TTB_SNDCONV_OK)
    return st;
  if (p->over) {
    *length_ms =
        info.frames > 0 && info.frames != SF_COUNT_MAX ? ms_of((uint64_t)info.frames, *rate) : 0;
    return TTB_SNDCONV_TOO_LONG;
  }
  if (serr != SF_ERR_NO_ERROR && p->n == 0) {
    snprintf(msg, sizeof msg, "The %s file is damaged: it could not be decoded.", what);
    set_err(err, errlen, msg);
    return TTB_SNDCONV_INVALID;
  }
  return TTB_SNDCONV_OK;
}

/* ------------------------------------------------------ Ogg Opus out */

typedef struct obuf {
  uint8_t *v;
  size_t n, cap;
  bool failed;
} obuf;

static int o_write(void *u, const unsigned char *ptr, opus_int32 len)
{
  obuf *b = u;
  if (len < 0 || b->failed)
    return 1;
  if (b->n + (size_t)len > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->n + (size_t)len)
      cap *= 2;
    uint8_t *v = realloc(b->v, cap);
    if (v == NULL) {
      b->failed = true;
      return 1;
    }
    b->v = v;
    b->cap = cap;
  }
  memcpy(b->v + b->n, ptr, (size_t)len);
  b->n += (size_t)len;
  return 0;
}

static int o_close(void *u)
{
  (void)u;
  return 0;
}

static int encode(const pcm *p, uint32_t rate, obuf *b)
{
  OggOpusComments *c = ope_comments_create();
  if (c == NULL)
    return -1;
  ope_comments_add(c, "ENCODER", "ttboost-server");
  OpusEncCallbacks cbs = {o_write, o_close};
  int e = 0;
  OggOpusEnc *enc = ope_encoder_create_callbacks(&cbs, b, c, (opus_int32)rate, 1, 0, &e);
  int rc = -1;
  if (enc != NULL && ope_encoder_ctl(enc, OPUS_SET_BITRATE(64000)) == OPE_OK &&
      ope_encoder_write_float(enc, p->v, (int)p->n) == OPE_OK && ope_encoder_drain(enc) == OPE_OK)
    rc = 0;
  if (enc != NULL)
    ope_encoder_destroy(enc);
  ope_comments_destroy(c);
  return rc == 0 && !b->failed ? 0 : -1;
}

/* ------------------------------------------------------------- public */

ttb_sndconv_status ttb_sndconv(const uint8_t *data, size_t len, uint32_t max_ms, uint8_t **out,
                               size_t *out_len, uint32_t *duration_ms, char *err, size_t errlen)
{
  *out = NULL;
  *out_len = 0;
  *duration_ms = 0;
  if (max_ms == 0 || max_ms > 60000u)
    max_ms = TTB_SNDCONV_MAX_MS;
  ttb_sndconv_format f = ttb_sndconv_sniff(data, len);
  if (f == TTB_SNDCONV_UNKNOWN) {
    set_err(err, errlen, "The file is not Ogg Opus, WAV or MP3.");
    return TTB_SNDCONV_FORMAT;
  }
  pcm p = {0};
  uint32_t rate = 0, length_ms = 0;
  ttb_sndconv_status st =
      f == TTB_SNDCONV_OGG
          ? decode_opus(data, len, max_ms, &p, &rate, &length_ms, err, errlen)
          : decode_sndfile(data, len, f, max_ms, &p, &rate, &length_ms, err, errlen);
  if (st == TTB_SNDCONV_TOO_LONG) {
    char msg[160];
    if (length_ms > 0)
      snprintf(msg, sizeof msg, "The sound is %u.%u s long; at most %u s is accepted.",
               length_ms / 1000u, length_ms % 1000u / 100u, max_ms / 1000u);
    else
      snprintf(msg, sizeof msg, "The sound is longer than %u s; at most %u s is accepted.",
               max_ms / 1000u, max_ms / 1000u);
    set_err(err, errlen, msg);
    *duration_ms = length_ms;
  }
  if (st == TTB_SNDCONV_OK && p.n == 0) {
    set_err(err, errlen, "The file holds no sound.");
    st = TTB_SNDCONV_INVALID;
  }
  if (st != TTB_SNDCONV_OK) {
    free(p.v);
    return st;
  }
  obuf b = {0};
  if (encode(&p, rate, &b) != 0) {
    free(p.v);
    free(b.v);
    set_err(err, errlen, "The server could not encode the sound.");
    return TTB_SNDCONV_FAILED;
  }
  *duration_ms = ms_of(p.n, rate);
  free(p.v);
  *out = b.v;
  *out_len = b.n;
  return TTB_SNDCONV_OK;
}
