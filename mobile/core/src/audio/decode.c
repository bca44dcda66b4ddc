/* audio/decode.c — clips, Ogg Opus files and Opus packet streams (see decode.h). */
#include "audio/decode.h"

#include <limits.h>
#include <math.h>
#include <opus.h>
#include <opusfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ttb__clip_create(uint32_t channels, size_t cap, ttb__clip **out)
{
  if (!out)
    return TTB_ERR_INVALID;
  *out = NULL;
  if (channels < 1 || channels > 2 || cap > (size_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE)
    return TTB_ERR_INVALID;
  ttb__clip *c = calloc(1, sizeof *c);
  if (!c)
    return TTB_ERR_NOMEM;
  if (cap > 0) {
    c->pcm = malloc(cap * channels * sizeof(int16_t));
    if (!c->pcm) {
      free(c);
      return TTB_ERR_NOMEM;
    }
  }
  atomic_init(&c->refs, 1);
  c->channels = channels;
  c->cap = cap;
  *out = c;
  return TTB_OK;
}

ttb__clip *ttb__clip_ref(ttb__clip *c)
{
  if (c)
    atomic_fetch_add(&c->refs, 1);
  return c;
}

void ttb__clip_unref(ttb__clip *c)
{
  if (!c)
    return;
  if (atomic_fetch_sub(&c->refs, 1) == 1) {
    free(c->pcm);
    free(c);
  }
}

size_t ttb__clip_bytes(const ttb__clip *c)
{
  return c ? sizeof *c + c->cap * c->channels * sizeof(int16_t) : 0;
}

static const char *op_strerror(int e)
{
  switch (e) {
  case OP_EREAD:
    return "read error";
  case OP_EFAULT:
    return "internal error (or out of memory)";
  case OP_EIMPL:
    return "unsupported feature";
  case OP_EINVAL:
    return "invalid argument";
  case OP_ENOTFORMAT:
    return "not Ogg Opus data";
  case OP_EBADHEADER:
    return "bad Opus header";
  case OP_EVERSION:
    return "unknown Opus header version";
  case OP_EBADLINK:
    return "bad link in the stream";
  case OP_EBADPACKET:
    return "bad packet";
  case OP_EBADTIMESTAMP:
    return "bad timestamp";
  default:
    return "decoding failed";
  }
}

/* Decoding through libopusfile's own multistream decoder costs ~4x more
 * than a plain OpusDecoder here: libopus 1.3's multistream path re-runs CPU
 * detection (CPUID, a VM exit under virtualisation) for every packet. For
 * the ordinary mono/stereo streams (mapping family 0, one stream) packets
 * are decoded with a single-stream decoder of our own instead; anything
 * else falls back to libopusfile's decoder. */
typedef struct {
  OggOpusFile *of;
  OpusDecoder *dec;
  int li;
} fast_decode;

static int fast_decode_cb(void *ctx, OpusMSDecoder *ms, void *pcm, const ogg_packet *op,
                          int nsamples, int nchannels, int format, int li)
{
  fast_decode *fd = ctx;
  (void)ms;
  if (!fd->dec || fd->li != li) {
    const OpusHead *h = op_head(fd->of, li);
    if (!h || h->mapping_family != 0 || h->stream_count != 1 || h->channel_count != nchannels ||
        nchannels > 2)
      return OP_DEC_USE_DEFAULT;
    int oe = 0;
    OpusDecoder *d = opus_decoder_create(TTB__AUDIO_RATE, nchannels, &oe);
    if (!d)
      return OP_DEC_USE_DEFAULT;
    opus_decoder_ctl(d, OPUS_SET_GAIN(h->output_gain));
    opus_decoder_destroy(fd->dec);
    fd->dec = d;
    fd->li = li;
  }
  if (op->bytes > INT32_MAX)
    return OP_EBADPACKET;
  int n;
  if (format == OP_DEC_FORMAT_FLOAT)
    n = opus_decode_float(fd->dec, op->packet, (opus_int32)op->bytes, pcm, nsamples, 0);
  else if (format == OP_DEC_FORMAT_SHORT)
    n = opus_decode(fd->dec, op->packet, (opus_int32)op->bytes, pcm, nsamples, 0);
  else
    return OP_DEC_USE_DEFAULT;
  if (n < 0)
    return OP_EBADPACKET;
  if (n != nsamples)
    return OP_EBADPACKET;
  return 0;
}

int ttb__clip_decode_ogg(const uint8_t *data, size_t len, ttb__clip **out, ttb_error *err)
{
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL out");
  *out = NULL;
  if (!data || len == 0)
    return ttb__fail(err, TTB_ERR_PROTOCOL, "empty audio file");
  int oe = 0;
  OggOpusFile *of = op_open_memory(data, len, &oe);
  if (!of)
    return ttb__fail(err, oe == OP_EFAULT ? TTB_ERR_NOMEM : TTB_ERR_PROTOCOL,
                     "cannot open Ogg Opus audio: %s", op_strerror(oe));
  fast_decode fd = {.of = of, .dec = NULL, .li = -1};
  op_set_decode_callback(of, fast_decode_cb, &fd);
  /* Mono only when every link is mono; anything else is read as stereo. */
  uint32_t ch = 1;
  int links = op_link_count(of);
  for (int i = 0; i < links; i++)
    if (op_channel_count(of, i) != 1)
      ch = 2;
  const size_t max_frames = (size_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE;
  ogg_int64_t total = op_pcm_total(of, -1);
  size_t cap = total > 0 ? (size_t)total : (size_t)TTB__AUDIO_RATE;
  if (cap > max_frames)
    cap = max_frames;
  ttb__clip *c = NULL;
  int rc = ttb__clip_create(ch, cap, &c);
  if (rc != TTB_OK) {
    op_free(of);
    opus_decoder_destroy(fd.dec);
    return ttb__fail(err, rc, "out of memory decoding audio");
  }
  /* op_read_float, converted here: libopusfile's int16 path adds dither
     * and soft clipping that cost more than the decoding itself. */
  float fbuf[TTB__OPUS_MAX_FRAMES * 2];
  int holes = 0;
  for (;;) {
    int n = ch == 1 ? op_read_float(of, fbuf, TTB__OPUS_MAX_FRAMES, NULL)
                    : op_read_float_stereo(of, fbuf, TTB__OPUS_MAX_FRAMES * 2);
    if (n == 0)
      break;
    if (n == OP_HOLE) {
      if (++holes > 100)
        break;
      continue;
    }
    if (n < 0) {
      ttb__clip_unref(c);
      op_free(of);
      opus_decoder_destroy(fd.dec);
      return ttb__fail(err, n == OP_EFAULT ? TTB_ERR_NOMEM : TTB_ERR_PROTOCOL,
                       "damaged Ogg Opus audio: %s", op_strerror(n));
    }
    if (c->frames + (size_t)n > max_frames)
      n = (int)(max_frames - c->frames); /* cut at the maximum */
    if (c->frames + (size_t)n > c->cap) {
      /* Only when the file did not say its length (or lied). */
      size_t ncap = c->cap * 2;
      if (ncap < c->frames + (size_t)n)
        ncap = c->frames + (size_t)n;
      if (ncap > max_frames)
        ncap = max_frames;
      int16_t *np = realloc(c->pcm, ncap * ch * sizeof(int16_t));
      if (!np) {
        ttb__clip_unref(c);
        op_free(of);
        opus_decoder_destroy(fd.dec);
        return ttb__fail(err, TTB_ERR_NOMEM, "out of memory decoding audio");
      }
      c->pcm = np;
      c->cap = ncap;
    }
    int16_t *dst = c->pcm + c->frames * ch;
    size_t ns = (size_t)n * ch;
    for (size_t i = 0; i < ns; i++) {
      float v = fbuf[i] * 32768.0f;
      v = v > 32767.0f ? 32767.0f : (v < -32768.0f ? -32768.0f : v);
      dst[i] = (int16_t)lrintf(v);
    }
    c->frames += (size_t)n;
    if (c->frames >= max_frames)
      break;
  }
  op_free(of);
  opus_decoder_destroy(fd.dec);
  c->complete = true;
  *out = c;
  return TTB_OK;
}

struct ttb__opus_stream {
  OpusDecoder *dec;
  uint32_t channels;
  uint32_t skip;   /* pre-skip frames still to drop */
  int last_frames; /* duration of the last good packet, for concealment */
};

int ttb__opus_stream_create(uint32_t channels, uint32_t pre_skip, ttb__opus_stream **out,
                            ttb_error *err)
{
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL out");
  *out = NULL;
  if (channels < 1 || channels > 2)
    return ttb__fail(err, TTB_ERR_INVALID, "unsupported channel count %u", (unsigned)channels);
  if (pre_skip > TTB__AUDIO_RATE)
    return ttb__fail(err, TTB_ERR_INVALID, "pre-skip too large (%u)", (unsigned)pre_skip);
  ttb__opus_stream *s = calloc(1, sizeof *s);
  if (!s)
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory creating the decoder");
  int oe = 0;
  s->dec = opus_decoder_create(TTB__AUDIO_RATE, (int)channels, &oe);
  if (!s->dec) {
    free(s);
    return ttb__fail(err, oe == OPUS_ALLOC_FAIL ? TTB_ERR_NOMEM : TTB_ERR_INVALID,
                     "cannot create the Opus decoder: %s", opus_strerror(oe));
  }
  s->channels = channels;
  s->skip = pre_skip;
  s->last_frames = 960;
  *out = s;
  return TTB_OK;
}

void ttb__opus_stream_destroy(ttb__opus_stream *s)
{
  if (!s)
    return;
  opus_decoder_destroy(s->dec);
  free(s);
}

uint32_t ttb__opus_stream_channels(const ttb__opus_stream *s) { return s ? s->channels : 0; }

int ttb__opus_stream_decode(ttb__opus_stream *s, const uint8_t *packet, size_t len, int16_t *pcm,
                            size_t cap, ttb_error *err)
{
  if (!s || !pcm || cap < TTB__OPUS_MAX_FRAMES)
    return ttb__fail(err, TTB_ERR_INVALID, "bad decode arguments");
  if (packet && (len == 0 || len > 1275))
    return ttb__fail(err, TTB_ERR_PROTOCOL, "Opus packet of %zu bytes", len);
  int n;
  if (packet)
    n = opus_decode(s->dec, packet, (opus_int32)len, pcm, TTB__OPUS_MAX_FRAMES, 0);
  else
    n = opus_decode(s->dec, NULL, 0, pcm, s->last_frames, 0);
  if (n < 0)
    return ttb__fail(err, TTB_ERR_PROTOCOL, "bad Opus packet: %s", opus_strerror(n));
  if (packet)
    s->last_frames = n;
  size_t got = (size_t)n;
  if (s->skip > 0) {
    size_t drop = s->skip < got ? s->skip : got;
    memmove(pcm, pcm + drop * s->channels, (got - drop) * s->channels * sizeof(int16_t));
    got -= drop;
    s->skip -= (uint32_t)drop;
  }
  return (int)got;
}

/* ------------------------------------------------------------ incremental Ogg Opus */

struct ttb__ogg_opus {
  ogg_sync_state sync;
  ogg_stream_state stream;
  bool stream_ready; /* the first BOS page was seen: stream follows its serial */
  bool ended;        /* EOS page read */
  int rc;            /* a sticky error, TTB_OK while fine */
  char why[160];
  uint32_t packets;   /* of the stream, headers included */
  uint32_t channels;  /* 0 until the OpusHead */
  uint32_t skip;      /* pre-skip frames still to drop */
  uint64_t decoded;   /* frames decoded, pre-skip included */
  uint64_t delivered; /* frames handed out */
  size_t unsynced;    /* bytes fed before the first page of a stream */
  OpusDecoder *dec;
  int16_t pcm[TTB__OPUS_MAX_FRAMES * 2];
};

int ttb__ogg_opus_create(ttb__ogg_opus **out, ttb_error *err)
{
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL out");
  *out = NULL;
  ttb__ogg_opus *d = calloc(1, sizeof *d);
  if (!d)
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory creating the Ogg decoder");
  if (ogg_sync_init(&d->sync) != 0) {
    free(d);
    return ttb__fail(err, TTB_ERR_NOMEM, "cannot set up the Ogg reader");
  }
  *out = d;
  return TTB_OK;
}

void ttb__ogg_opus_destroy(ttb__ogg_opus *d)
{
  if (!d)
    return;
  ogg_sync_clear(&d->sync);
  if (d->stream_ready)
    ogg_stream_clear(&d->stream);
  opus_decoder_destroy(d->dec);
  free(d);
}

uint32_t ttb__ogg_opus_channels(const ttb__ogg_opus *d) { return d ? d->channels : 0; }
uint64_t ttb__ogg_opus_frames(const ttb__ogg_opus *d) { return d ? d->delivered : 0; }
bool ttb__ogg_opus_ended(const ttb__ogg_opus *d) { return d && d->ended; }

/* Records a sticky error; returns it. */
static int oo_fail(ttb__ogg_opus *d, int rc, const char *why)
{
  d->rc = rc;
  snprintf(d->why, sizeof d->why, "%s", why);
  return rc;
}

static int oo_head(ttb__ogg_opus *d, const ogg_packet *op)
{
  const unsigned char *p = op->packet;
  if (op->bytes < 19 || memcmp(p, "OpusHead", 8) != 0)
    return oo_fail(d, TTB_ERR_PROTOCOL, "not Ogg Opus data (no OpusHead)");
  if ((p[8] & 0xF0) != 0)
    return oo_fail(d, TTB_ERR_PROTOCOL, "unknown Opus header version");
  uint32_t ch = p[9];
  uint32_t pre_skip = (uint32_t)p[10] | ((uint32_t)p[11] << 8);
  int16_t gain = (int16_t)((uint16_t)p[16] | ((uint16_t)p[17] << 8));
  if (p[18] != 0)
    return oo_fail(d, TTB_ERR_PROTOCOL, "multichannel Opus mapping not supported when streaming");
  if (ch < 1 || ch > 2)
    return oo_fail(d, TTB_ERR_PROTOCOL, "bad Opus header (channel count)");
  int oe = 0;
  d->dec = opus_decoder_create(TTB__AUDIO_RATE, (int)ch, &oe);
  if (!d->dec)
    return oo_fail(d, oe == OPUS_ALLOC_FAIL ? TTB_ERR_NOMEM : TTB_ERR_PROTOCOL,
                   "cannot create the Opus decoder");
  if (gain != 0 && opus_decoder_ctl(d->dec, OPUS_SET_GAIN(gain)) != OPUS_OK)
    return oo_fail(d, TTB_ERR_PROTOCOL, "bad Opus header (output gain)");
  d->channels = ch;
  d->skip = pre_skip;
  return TTB_OK;
}

static int oo_packet(ttb__ogg_opus *d, const ogg_packet *op, ttb__pcm_fn fn, void *user)
{
  uint32_t idx = d->packets++;
  if (idx == 0)
    return oo_head(d, op);
  if (idx == 1) {
    if (op->bytes < 8 || memcmp(op->packet, "OpusTags", 8) != 0)
      return oo_fail(d, TTB_ERR_PROTOCOL, "bad Opus stream (no OpusTags)");
    return TTB_OK;
  }
  if (op->bytes <= 0)
    return TTB_OK; /* an empty packet: nothing to play */
  if (op->bytes > 1275 * 3 + 7)
    return oo_fail(d, TTB_ERR_PROTOCOL, "bad Opus packet (too large)");
  int n = opus_decode(d->dec, op->packet, (opus_int32)op->bytes, d->pcm, TTB__OPUS_MAX_FRAMES, 0);
  if (n < 0)
    return oo_fail(d, TTB_ERR_PROTOCOL, "bad Opus packet");
  uint64_t before = d->decoded;
  d->decoded += (uint64_t)n;
  size_t got = (size_t)n;
  /* End trimming: the EOS page's granule position is the stream's length
     * (pre-skip included). */
  if (op->e_o_s && op->granulepos >= 0) {
    uint64_t end = (uint64_t)op->granulepos;
    uint64_t keep = end > before ? end - before : 0;
    if (keep < got)
      got = (size_t)keep;
  }
  size_t from = 0;
  if (d->skip > 0) {
    size_t drop = d->skip < got ? d->skip : got;
    d->skip -= (uint32_t)drop;
    from = drop;
  }
  if (got <= from)
    return TTB_OK;
  size_t frames = got - from;
  const uint64_t max = (uint64_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE;
  if (d->delivered + frames > max)
    return oo_fail(d, TTB_ERR_PROTOCOL, "audio longer than allowed");
  d->delivered += frames;
  int rc = fn ? fn(user, d->channels, d->pcm + from * d->channels, frames) : TTB_OK;
  return rc;
}

int ttb__ogg_opus_feed(ttb__ogg_opus *d, const uint8_t *data, size_t len, ttb__pcm_fn fn,
                       void *user, ttb_error *err)
{
  if (!d || (!data && len))
    return ttb__fail(err, TTB_ERR_INVALID, "bad feed arguments");
  if (d->rc != TTB_OK)
    return ttb__fail(err, d->rc, "%s", d->why);
  if (d->ended || len == 0)
    return TTB_OK;
  while (len > 0) {
    /* libogg takes a long; feed at most 64 KiB at a time. */
    size_t n = len < 65536 ? len : 65536;
    char *buf = ogg_sync_buffer(&d->sync, (long)n);
    if (!buf)
      return ttb__fail(err, oo_fail(d, TTB_ERR_NOMEM, "out of memory reading Ogg"), "%s", d->why);
    memcpy(buf, data, n);
    if (ogg_sync_wrote(&d->sync, (long)n) != 0)
      return ttb__fail(err, oo_fail(d, TTB_ERR_PROTOCOL, "Ogg reader failed"), "%s", d->why);
    data += n;
    len -= n;
    ogg_page pg;
    for (;;) {
      int r = ogg_sync_pageout(&d->sync, &pg);
      if (r == 0)
        break;
      if (r < 0)
        continue; /* bytes skipped to find a page */
      if (!d->stream_ready) {
        if (!ogg_page_bos(&pg))
          continue; /* the middle of a stream: wait for a start */
        if (ogg_stream_init(&d->stream, ogg_page_serialno(&pg)) != 0)
          return ttb__fail(err, oo_fail(d, TTB_ERR_NOMEM, "out of memory reading Ogg"), "%s",
                           d->why);
        d->stream_ready = true;
      }
      if (ogg_page_serialno(&pg) != d->stream.serialno)
        continue; /* another logical stream (multiplexed): not ours */
      if (ogg_stream_pagein(&d->stream, &pg) != 0)
        continue;
      ogg_packet op;
      int pr;
      while ((pr = ogg_stream_packetout(&d->stream, &op)) != 0) {
        if (pr < 0)
          continue; /* a gap: the lost packets are not concealed */
        int rc = oo_packet(d, &op, fn, user);
        if (rc != TTB_OK) {
          if (d->rc == TTB_OK)
            oo_fail(d, rc, "stopped by the receiver");
          return ttb__fail(err, rc, "%s", d->why);
        }
      }
      if (ogg_page_eos(&pg)) {
        d->ended = true;
        return TTB_OK;
      }
    }
    if (!d->stream_ready) {
      d->unsynced += n;
      if (d->unsynced > TTB__OGG_SYNC_MAX)
        return ttb__fail(err, oo_fail(d, TTB_ERR_PROTOCOL, "not Ogg data"), "%s", d->why);
    }
  }
  return TTB_OK;
}
