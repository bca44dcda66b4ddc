/*
 * Ogg Opus packet reader (libogg). See oggpk.h.
 */
#include "oggpk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ogg/ogg.h>
#include <opus/opus.h>

#define READ_CHUNK 8192
/* Largest packet we accept: 120 ms of 255-channel audio is far below. */
#define MAX_PACKET_BYTES (1u << 20)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

typedef struct collect {
  size_t *lens; /* per packet */
  size_t n, cap;
  uint8_t *bytes; /* all packets, back to back */
  size_t nbytes, bytes_cap;
  uint64_t samples; /* sum of packet durations at 48 kHz */
} collect;

static int add_packet(collect *c, const uint8_t *p, size_t len, size_t max_packets, char *err,
                      size_t errlen)
{
  if (max_packets && c->n >= max_packets) {
    set_err(err, errlen, "more than %zu packets", max_packets);
    return -1;
  }
  if (len == 0 || len > MAX_PACKET_BYTES) {
    set_err(err, errlen, "packet %zu has a bad length (%zu)", c->n, len);
    return -1;
  }
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 256;
    size_t *nl = realloc(c->lens, nc * sizeof *nl);
    if (!nl) {
      set_err(err, errlen, "out of memory");
      return -1;
    }
    c->lens = nl;
    c->cap = nc;
  }
  if (c->nbytes + len > c->bytes_cap) {
    size_t nc = c->bytes_cap ? c->bytes_cap : 16384;
    while (nc < c->nbytes + len)
      nc *= 2;
    uint8_t *nb = realloc(c->bytes, nc);
    if (!nb) {
      set_err(err, errlen, "out of memory");
      return -1;
    }
    c->bytes = nb;
    c->bytes_cap = nc;
  }
  memcpy(c->bytes + c->nbytes, p, len);
  c->nbytes += len;
  c->lens[c->n++] = len;
  return 0;
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

int ttb_oggpk_read(const char *path, size_t max_packets, ttb_audio_info *info, ttb_packet **packets,
                   size_t *n, char *err, size_t errlen)
{
  *packets = NULL;
  *n = 0;
  memset(info, 0, sizeof *info);

  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  ogg_sync_state oy;
  ogg_stream_state os;
  bool have_stream = false, eos = false, any_page = false;
  bool head_seen = false, tags_seen = false;
  ogg_int64_t last_granule = -1;
  uint32_t pre_skip = 0, channels = 0;
  collect c = {0};
  int rc = -1;
  size_t npk = 0; /* packets of our stream so far (head, tags, audio) */

  if (ogg_sync_init(&oy) != 0) {
    set_err(err, errlen, "ogg_sync_init failed");
    fclose(f);
    return -1;
  }

  /* The file must start with a page. */
  unsigned char magic[4];
  size_t got = fread(magic, 1, sizeof magic, f);
  if (got < 4 || memcmp(magic, "OggS", 4) != 0) {
    set_err(err, errlen, ferror(f) ? "read error" : "not an Ogg file");
    goto out;
  }
  {
    char *buf = ogg_sync_buffer(&oy, 4);
    if (!buf || (memcpy(buf, magic, 4), ogg_sync_wrote(&oy, 4) != 0)) {
      set_err(err, errlen, "out of memory");
      goto out;
    }
  }

  bool at_eof = false;
  while (!eos) {
    ogg_page og;
    int pr = ogg_sync_pageout(&oy, &og);
    if (pr < 0) {
      set_err(err, errlen, "corrupt Ogg data (lost sync or bad checksum)");
      goto out;
    }
    if (pr == 0) {
      if (at_eof)
        break;
      char *buf = ogg_sync_buffer(&oy, READ_CHUNK);
      if (!buf) {
        set_err(err, errlen, "out of memory");
        goto out;
      }
      size_t r = fread(buf, 1, READ_CHUNK, f);
      if (r == 0) {
        if (ferror(f)) {
          set_err(err, errlen, "%s: read error", path);
          goto out;
        }
        at_eof = true;
      }
      if (ogg_sync_wrote(&oy, (long)r) != 0) {
        set_err(err, errlen, "ogg_sync_wrote failed");
        goto out;
      }
      continue;
    }
    any_page = true;
    if (!have_stream) {
      if (!ogg_page_bos(&og)) {
        set_err(err, errlen, "Ogg stream does not begin with a BOS page");
        goto out;
      }
      if (ogg_stream_init(&os, ogg_page_serialno(&og)) != 0) {
        set_err(err, errlen, "out of memory");
        goto out;
      }
      have_stream = true;
    }
    if (ogg_page_serialno(&og) != os.serialno)
      continue; /* another multiplexed stream */
    if (ogg_stream_pagein(&os, &og) != 0) {
      set_err(err, errlen, "bad Ogg page");
      goto out;
    }
    if (ogg_page_eos(&og))
      eos = true;
    if (ogg_page_granulepos(&og) >= 0)
      last_granule = ogg_page_granulepos(&og);
    ogg_packet op;
    int po;
    while ((po = ogg_stream_packetout(&os, &op)) != 0) {
      if (po < 0) {
        set_err(err, errlen, "gap in the Ogg stream (a page is missing)");
        goto out;
      }
      const unsigned char *p = op.packet;
      size_t len = (size_t)op.bytes;
      if (npk == 0) {
        if (len < 19 || memcmp(p, "OpusHead", 8) != 0) {
          set_err(err, errlen, "not an Opus stream (no OpusHead)");
          goto out;
        }
        if ((p[8] & 0xF0) != 0) {
          set_err(err, errlen, "unsupported OpusHead version %u", (unsigned)p[8]);
          goto out;
        }
        channels = p[9];
        pre_skip = le16(p + 10);
        unsigned family = p[18];
        if (channels == 0 || (family == 0 && channels > 2)) {
          set_err(err, errlen, "bad OpusHead channel count %u (family %u)", channels, family);
          goto out;
        }
        head_seen = true;
      } else if (npk == 1) {
        if (len < 8 || memcmp(p, "OpusTags", 8) != 0) {
          set_err(err, errlen, "not an Opus stream (no OpusTags)");
          goto out;
        }
        tags_seen = true;
      } else {
        int ns = len ? opus_packet_get_nb_samples(p, (opus_int32)len, 48000) : OPUS_BAD_ARG;
        if (ns <= 0) {
          set_err(err, errlen, "bad Opus packet %zu: %s", c.n, opus_strerror(ns));
          goto out;
        }
        if (c.n == 0)
          info->frame_duration_us = (uint32_t)((uint64_t)ns * 1000000u / 48000u);
        if (add_packet(&c, p, len, max_packets, err, errlen) != 0)
          goto out;
        c.samples += (uint64_t)ns;
      }
      npk++;
    }
  }

  if (!any_page) {
    set_err(err, errlen, "not an Ogg file");
    goto out;
  }
  if (!head_seen || !tags_seen) {
    set_err(err, errlen, "truncated Ogg Opus file (headers incomplete)");
    goto out;
  }
  if (!eos) {
    set_err(err, errlen, "truncated Ogg Opus file (no end of stream)");
    goto out;
  }
  if (c.n == 0) {
    set_err(err, errlen, "Ogg Opus file has no audio");
    goto out;
  }

  /* One allocation: the array, then the bytes. */
  size_t arr = c.n * sizeof(ttb_packet);
  if (c.n > (SIZE_MAX - c.nbytes) / sizeof(ttb_packet)) {
    set_err(err, errlen, "too large");
    goto out;
  }
  ttb_packet *pk = malloc(arr + c.nbytes);
  if (!pk) {
    set_err(err, errlen, "out of memory");
    goto out;
  }
  uint8_t *bytes = (uint8_t *)pk + arr;
  memcpy(bytes, c.bytes, c.nbytes);
  size_t off = 0;
  for (size_t i = 0; i < c.n; i++) {
    pk[i].data = bytes + off;
    pk[i].len = c.lens[i];
    off += c.lens[i];
  }

  /* Length: the last granule position (which trims the encoder's padding at
   * the end) when it is sane, else the sum of packet durations. */
  uint64_t total = c.samples;
  if (last_granule >= 0 && (uint64_t)last_granule <= c.samples)
    total = (uint64_t)last_granule;
  info->sample_rate = 48000; /* Opus always decodes at 48 kHz */
  info->channels = channels;
  info->pre_skip = pre_skip;
  info->duration_ms = total > pre_skip ? (uint32_t)((total - pre_skip) / 48u) : 0;
  *packets = pk;
  *n = c.n;
  rc = 0;

out:
  if (have_stream)
    ogg_stream_clear(&os);
  ogg_sync_clear(&oy);
  free(c.lens);
  free(c.bytes);
  fclose(f);
  return rc;
}
