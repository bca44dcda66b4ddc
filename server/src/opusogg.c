/* Mono PCM to Ogg Opus (opusogg.h). */
#include "opusogg.h"

#include <limits.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENC_RATE 24000 /* the encoder's input: holds super-wideband (12 kHz) */
#define FRAME 480      /* 20 ms at ENC_RATE */
#define FRAME48 960    /* the same at 48 kHz (granule positions) */
#define MAX_PACKET 1275
#define TAIL_MAX 8192 /* the resampler's flush, at ENC_RATE */

struct ttb_opusogg {
  OpusEncoder *enc;
  SpeexResamplerState *rs; /* NULL when the input is at ENC_RATE */
  ogg_stream_state os;
  bool os_ok;
  ttb_opusogg_cbs cb;
  int in_rate;
  int lookahead;     /* the encoder's, at ENC_RATE */
  uint32_t pre_skip; /* 48 kHz */
  uint64_t in_total; /* input samples */
  uint64_t frames;   /* audio packets made */
  int64_t packetno;
  opus_int16 buf[FRAME];
  size_t fill;
  bool failed;
};

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

/* Writes every page libogg has ready (flush: also a partial one). */
static int pages_out(ttb_opusogg *e, bool flush, char *err, size_t errlen)
{
  ogg_page pg;
  while (flush ? ogg_stream_flush(&e->os, &pg) : ogg_stream_pageout(&e->os, &pg)) {
    if (e->cb.page(e->cb.arg, pg.header, (size_t)pg.header_len) != 0 ||
        e->cb.page(e->cb.arg, pg.body, (size_t)pg.body_len) != 0)
      return fail(err, errlen, "the Ogg output was refused");
  }
  return 0;
}

static int packet_in(ttb_opusogg *e, unsigned char *p, long n, bool bos, bool eos, int64_t gran,
                     char *err, size_t errlen)
{
  ogg_packet op = {.packet = p,
                   .bytes = n,
                   .b_o_s = bos,
                   .e_o_s = eos,
                   .granulepos = gran,
                   .packetno = e->packetno++};
  if (ogg_stream_packetin(&e->os, &op) != 0)
    return fail(err, errlen, "libogg: cannot add a packet");
  return pages_out(e, true, err, errlen); /* one page per packet: no muxing delay */
}

static void put_le16(unsigned char *p, unsigned v)
{
  p[0] = (unsigned char)(v & 0xff);
  p[1] = (unsigned char)(v >> 8 & 0xff);
}

static void put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i) & 0xff);
}

static int headers(ttb_opusogg *e, const ttb_opusogg_opts *o, char *err, size_t errlen)
{
  unsigned char head[19];
  memcpy(head, "OpusHead", 8);
  head[8] = 1; /* version */
  head[9] = 1; /* channels */
  put_le16(head + 10, e->pre_skip);
  put_le32(head + 12, (uint32_t)o->in_rate);
  put_le16(head + 16, 0); /* output gain */
  head[18] = 0;           /* mapping family 0: mono or stereo */
  if (packet_in(e, head, sizeof head, true, false, 0, err, errlen) != 0)
    return -1;

  const char *vendor = opus_get_version_string();
  const char *tags[2] = {o->encoder, o->language};
  const char *keys[2] = {"ENCODER=", "LANGUAGE="};
  size_t len = 8 + 4 + strlen(vendor) + 4;
  for (int i = 0; i < 2; i++)
    if (tags[i])
      len += 4 + strlen(keys[i]) + strlen(tags[i]);
  if (len > 65536)
    return fail(err, errlen, "OpusTags too long");
  unsigned char *t = malloc(len);
  if (t == NULL)
    return fail(err, errlen, "out of memory");
  unsigned char *p = t;
  memcpy(p, "OpusTags", 8);
  p += 8;
  put_le32(p, (uint32_t)strlen(vendor));
  p += 4;
  memcpy(p, vendor, strlen(vendor));
  p += strlen(vendor);
  uint32_t n = 0;
  for (int i = 0; i < 2; i++)
    n += tags[i] != NULL;
  put_le32(p, n);
  p += 4;
  for (int i = 0; i < 2; i++) {
    if (!tags[i])
      continue;
    size_t kl = strlen(keys[i]), vl = strlen(tags[i]);
    put_le32(p, (uint32_t)(kl + vl));
    p += 4;
    memcpy(p, keys[i], kl);
    memcpy(p + kl, tags[i], vl);
    p += kl + vl;
  }
  int rc = packet_in(e, t, (long)len, false, false, 0, err, errlen);
  free(t);
  return rc;
}

ttb_opusogg *ttb_opusogg_create(const ttb_opusogg_opts *o, const ttb_opusogg_cbs *cb, char *err,
                                size_t errlen)
{
  if (!o || !cb || !cb->page) {
    fail(err, errlen, "no options or no page callback");
    return NULL;
  }
  if (o->in_rate < 8000 || o->in_rate > 192000) {
    fail(err, errlen, "sample rate %d out of range (8000..192000)", o->in_rate);
    return NULL;
  }
  if (o->bitrate < 6000 || o->bitrate > 510000) {
    fail(err, errlen, "bitrate %ld out of range (6000..510000)", (long)o->bitrate);
    return NULL;
  }
  if (o->complexity < 0 || o->complexity > 10) {
    fail(err, errlen, "complexity %d out of range (0..10)", o->complexity);
    return NULL;
  }
  ttb_opusogg *e = calloc(1, sizeof *e);
  if (e == NULL) {
    fail(err, errlen, "out of memory");
    return NULL;
  }
  e->cb = *cb;
  e->in_rate = o->in_rate;
  int oe = OPUS_OK;
  e->enc = opus_encoder_create(ENC_RATE, 1, OPUS_APPLICATION_AUDIO, &oe);
  if (e->enc == NULL) {
    fail(err, errlen, "opus: %s", opus_strerror(oe));
    goto bad;
  }
  opus_int32 la = 0;
  if ((oe = opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(o->bitrate))) != OPUS_OK ||
      (oe = opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPUS_OK ||
      (oe = opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(o->complexity))) != OPUS_OK ||
      (oe = opus_encoder_ctl(e->enc, OPUS_SET_MAX_BANDWIDTH(OPUS_BANDWIDTH_SUPERWIDEBAND))) !=
          OPUS_OK ||
      (oe = opus_encoder_ctl(e->enc, OPUS_GET_LOOKAHEAD(&la))) != OPUS_OK) {
    fail(err, errlen, "opus setup: %s", opus_strerror(oe));
    goto bad;
  }
  e->lookahead = la;
  e->pre_skip = (uint32_t)la * (48000 / ENC_RATE);
  if (o->in_rate != ENC_RATE) {
    int re = 0;
    e->rs = speex_resampler_init(1, (spx_uint32_t)o->in_rate, ENC_RATE,
                                 SPEEX_RESAMPLER_QUALITY_DEFAULT, &re);
    if (e->rs == NULL) {
      fail(err, errlen, "resampler: %s", speex_resampler_strerror(re));
      goto bad;
    }
    speex_resampler_skip_zeros(e->rs); /* its delay is not in the output */
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int serial = (int)(((uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16) & 0x7fffffff);
  if (ogg_stream_init(&e->os, serial) != 0) {
    fail(err, errlen, "libogg: cannot start a stream");
    goto bad;
  }
  e->os_ok = true;
  if (headers(e, o, err, errlen) != 0)
    goto bad;
  return e;
bad:
  ttb_opusogg_destroy(e);
  return NULL;
}

/* Encodes e->buf (a whole frame) as the next packet; gran: its page's granule position. */
static int emit(ttb_opusogg *e, bool last, int64_t gran, char *err, size_t errlen)
{
  unsigned char pk[MAX_PACKET];
  opus_int32 n = opus_encode(e->enc, e->buf, FRAME, pk, sizeof pk);
  if (n < 0)
    return fail(err, errlen, "opus: %s", opus_strerror(n));
  e->frames++;
  e->fill = 0;
  if (e->cb.packet && e->cb.packet(e->cb.arg, pk, (size_t)n) != 0)
    return fail(err, errlen, "the packet was refused");
  return packet_in(e, pk, n, false, last, gran, err, errlen);
}

int ttb_opusogg_write(ttb_opusogg *e, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
  if (e->failed)
    return fail(err, errlen, "the encoder failed before");
  e->in_total += n;
  while (n > 0) {
    spx_uint32_t in_len = n > UINT32_MAX ? UINT32_MAX : (spx_uint32_t)n;
    spx_uint32_t out_len = (spx_uint32_t)(FRAME - e->fill);
    if (e->rs) {
      speex_resampler_process_int(e->rs, 0, pcm, &in_len, e->buf + e->fill, &out_len);
    } else {
      if (in_len > out_len)
        in_len = out_len;
      memcpy(e->buf + e->fill, pcm, in_len * sizeof *pcm);
      out_len = in_len;
    }
    if (in_len == 0 && out_len == 0)
      break; /* cannot happen: the resampler always takes or gives */
    pcm += in_len;
    n -= in_len;
    e->fill += out_len;
    if (e->fill == FRAME && emit(e, false, (int64_t)(e->frames + 1) * FRAME48, err, errlen) != 0) {
      e->failed = true;
      return -1;
    }
  }
  return 0;
}

int ttb_opusogg_finish(ttb_opusogg *e, char *err, size_t errlen)
{
  if (e->failed)
    return fail(err, errlen, "the encoder failed before");
  /* what the resampler still holds: push its delay's worth of silence through */
  opus_int16 *tail = NULL;
  size_t ntail = 0, used = 0;
  if (e->rs) {
    spx_uint32_t lat = (spx_uint32_t)speex_resampler_get_input_latency(e->rs);
    opus_int16 *zeros = calloc(lat ? lat : 1, sizeof *zeros);
    tail = malloc(TAIL_MAX * sizeof *tail);
    if (zeros == NULL || tail == NULL) {
      free(zeros);
      free(tail);
      e->failed = true;
      return fail(err, errlen, "out of memory");
    }
    spx_uint32_t in_len = lat, out_len = TAIL_MAX;
    speex_resampler_process_int(e->rs, 0, zeros, &in_len, tail, &out_len);
    ntail = out_len;
    free(zeros);
  }
  /* the real samples, at ENC_RATE and at 48 kHz */
  uint64_t want = (e->in_total * ENC_RATE + (uint64_t)e->in_rate - 1) / (uint64_t)e->in_rate;
  uint64_t total48 = (e->in_total * 48000 + (uint64_t)e->in_rate / 2) / (uint64_t)e->in_rate;
  uint64_t need = want + (uint64_t)e->lookahead; /* the decoder lags by the lookahead */
  int rc = 0;
  /* at least one frame, so that the stream always ends on a page marked last */
  do {
    while (e->fill < FRAME)
      e->buf[e->fill++] = used < ntail ? tail[used++] : 0;
    bool last = (uint64_t)(e->frames + 1) * FRAME >= need;
    int64_t gran = last ? (int64_t)(e->pre_skip + total48) : (int64_t)(e->frames + 1) * FRAME48;
    if (emit(e, last, gran, err, errlen) != 0) {
      e->failed = true;
      rc = -1;
      break;
    }
  } while ((uint64_t)e->frames * FRAME < need);
  free(tail);
  return rc;
}

uint32_t ttb_opusogg_pre_skip(const ttb_opusogg *e) { return e->pre_skip; }

void ttb_opusogg_destroy(ttb_opusogg *e)
{
  if (e == NULL)
    return;
  if (e->enc)
    opus_encoder_destroy(e->enc);
  if (e->rs)
    speex_resampler_destroy(e->rs);
  if (e->os_ok)
    ogg_stream_clear(&e->os);
  free(e);
}
