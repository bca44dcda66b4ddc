/* audio/mixer.c — the audio engine (see mixer.h for the rules it follows). */
#include "audio/mixer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "platform/platform.h"

/* Frames of 48 kHz bus mixed per pull, and output frames per inner block. */
#define BUS_BLOCK 256
#define OUT_BLOCK 512
/* A TTS head without audio for this long is given up (48 kHz frames). */
#define HEAD_WAIT_MAX ((uint32_t)30 * TTB__AUDIO_RATE)
/* A started stream starved this long is ended. */
#define STREAM_STARVE_MAX ((uint32_t)3 * TTB__AUDIO_RATE)
/* Limiter release time constant, seconds. */
#define LIMIT_RELEASE_S 0.08

typedef struct {
  uint64_t id;
  ttb__clip *clip; /* NULL: TTS slot waiting for its audio */
  size_t pos;      /* next frame to play */
  uint32_t stall;  /* frames waited for audio */
  bool claimed;    /* TTS: its audio is being fetched (ttb__mixer_tts_claim) */
  bool sounded;    /* TTS: its first audible sample was mixed (and recorded) */
} voice;

#define STARTS 64

struct ttb__mixer {
  ttb__mutex *lock;
  ttb__mutex *collect_lock;
  uint32_t out_rate, out_ch;
  unsigned qcap, gcap;

  /* TTS FIFO (ring): tts[head] is the utterance playing (or about to). */
  voice tts[1 + TTB__MIXER_TTS_QUEUE_MAX];
  size_t tts_head, tts_len;

  /* Gift voices, oldest first. */
  voice gifts[TTB__MIXER_GIFTS_MAX];
  size_t n_gifts;

  bool on[2];
  float vol[2]; /* target gains */
  float cur[2]; /* gains reached at the end of the last pull */

  /* Clips of finished voices, released off the audio thread. */
  ttb__clip **done, **collecting;
  size_t n_done, done_cap;

  uint64_t played, skipped;

  ttb__resampler rs;
  float *obuf;   /* OUT_BLOCK frames at the output rate: left, then right */
  float lim_red; /* limiter gain reduction: gain = 1 - lim_red */
  float lim_release;
  uint64_t quiet;                  /* consecutive 48 kHz frames with no voice */
  bool mono_bus;                   /* this render: every voice is mono, so left == right */
  uint64_t bus_frames;             /* 48 kHz frames mixed since creation */
  int64_t render_ms;               /* monotonic time of the render call running */
  ttb__voice_start starts[STARTS]; /* ring: first audible samples of TTS voices */
  size_t st_head, st_len;
  uint64_t mono_run; /* consecutive 48 kHz frames mixed without a stereo voice */
};

#define RING (1 + TTB__MIXER_TTS_QUEUE_MAX)

static voice *tts_at(ttb__mixer *m, size_t i) { return &m->tts[(m->tts_head + i) % RING]; }

/* Hands a voice's clip to the done list (never fails: the list has room for
 * every voice that can exist between two collects). */
static void retire(ttb__mixer *m, voice *v)
{
  if (v->clip) {
    if (m->n_done < m->done_cap)
      m->done[m->n_done++] = v->clip;
    v->clip = NULL;
  }
}

/* Removes TTS entry i (0 = head) keeping the order; counts it. */
static void tts_remove(ttb__mixer *m, size_t i, bool played)
{
  voice *v = tts_at(m, i);
  retire(m, v);
  if (played)
    m->played++;
  else
    m->skipped++;
  if (i == 0) {
    m->tts_head = (m->tts_head + 1) % RING;
    m->tts_len--;
    return;
  }
  for (size_t k = i; k + 1 < m->tts_len; k++)
    *tts_at(m, k) = *tts_at(m, k + 1);
  m->tts_len--;
}

static void gift_remove(ttb__mixer *m, size_t i, bool played)
{
  retire(m, &m->gifts[i]);
  if (played)
    m->played++;
  else
    m->skipped++;
  memmove(&m->gifts[i], &m->gifts[i + 1], (m->n_gifts - i - 1) * sizeof(voice));
  m->n_gifts--;
}

static float clamp_vol(float v)
{
  if (!(v >= 0.0f)) /* NaN too */
    return 0.0f;
  return v > 1.0f ? 1.0f : v;
}

int ttb__mixer_create(const ttb__mixer_config *cfg, ttb__mixer **out, ttb_error *err)
{
  if (!out)
    return ttb__fail(err, TTB_ERR_INVALID, "NULL out");
  *out = NULL;
  ttb__mixer_config c = {0};
  if (cfg)
    c = *cfg;
  if (c.out_rate == 0)
    c.out_rate = TTB__AUDIO_RATE;
  if (c.out_channels == 0)
    c.out_channels = 2;
  if (c.tts_queue_cap == 0)
    c.tts_queue_cap = TTB__MIXER_TTS_QUEUE_DEFAULT;
  if (c.gift_voices_cap == 0)
    c.gift_voices_cap = TTB__MIXER_GIFTS_DEFAULT;
  if (c.out_rate < 8000 || c.out_rate > 192000)
    return ttb__fail(err, TTB_ERR_INVALID, "sample rate %u outside 8000..192000",
                     (unsigned)c.out_rate);
  if (c.out_channels > 2)
    return ttb__fail(err, TTB_ERR_INVALID, "channels must be 1 or 2, not %u",
                     (unsigned)c.out_channels);
  if (c.tts_queue_cap > TTB__MIXER_TTS_QUEUE_MAX || c.gift_voices_cap > TTB__MIXER_GIFTS_MAX)
    return ttb__fail(err, TTB_ERR_INVALID, "queue or voice cap too large");

  ttb__mixer *m = calloc(1, sizeof *m);
  if (!m)
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory creating the mixer");
  m->out_rate = c.out_rate;
  m->out_ch = c.out_channels;
  m->qcap = c.tts_queue_cap;
  m->gcap = c.gift_voices_cap;
  m->on[0] = m->on[1] = true;
  m->vol[0] = m->vol[1] = m->cur[0] = m->cur[1] = 1.0f;
  m->lim_release = (float)(1.0 - exp(-1.0 / (LIMIT_RELEASE_S * c.out_rate)));
  m->done_cap = RING + TTB__MIXER_GIFTS_MAX + 32;
  m->done = calloc(m->done_cap, sizeof *m->done);
  m->collecting = calloc(m->done_cap, sizeof *m->collecting);
  m->obuf = calloc((size_t)OUT_BLOCK * 2, sizeof(float));
  if (!m->done || !m->collecting || !m->obuf || ttb__mutex_create(&m->lock) != TTB_OK ||
      ttb__mutex_create(&m->collect_lock) != TTB_OK) {
    ttb__mixer_destroy(m);
    return ttb__fail(err, TTB_ERR_NOMEM, "out of memory creating the mixer");
  }
  int rc = ttb__resampler_init(&m->rs, TTB__AUDIO_RATE, c.out_rate, BUS_BLOCK);
  if (rc != TTB_OK) {
    ttb__mixer_destroy(m);
    return ttb__fail(err, rc, "cannot create the resampler");
  }
  *out = m;
  return TTB_OK;
}

void ttb__mixer_destroy(ttb__mixer *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->tts_len; i++)
    ttb__clip_unref(tts_at(m, i)->clip);
  for (size_t i = 0; i < m->n_gifts; i++)
    ttb__clip_unref(m->gifts[i].clip);
  for (size_t i = 0; i < m->n_done; i++)
    ttb__clip_unref(m->done[i]);
  ttb__resampler_finish(&m->rs);
  free(m->done);
  free(m->collecting);
  free(m->obuf);
  ttb__mutex_destroy(m->lock);
  ttb__mutex_destroy(m->collect_lock);
  free(m);
}

void ttb__mixer_collect(ttb__mixer *m)
{
  if (!m)
    return;
  ttb__mutex_lock(m->collect_lock);
  ttb__mutex_lock(m->lock);
  size_t n = m->n_done;
  memcpy(m->collecting, m->done, n * sizeof *m->done);
  m->n_done = 0;
  ttb__mutex_unlock(m->lock);
  for (size_t i = 0; i < n; i++)
    ttb__clip_unref(m->collecting[i]);
  ttb__mutex_unlock(m->collect_lock);
}

void ttb__mixer_set_kind(ttb__mixer *m, ttb__kind kind, bool enabled, float volume)
{
  if (!m || (kind != TTB__KIND_TTS && kind != TTB__KIND_GIFT))
    return;
  ttb__mutex_lock(m->lock);
  m->on[kind] = enabled;
  m->vol[kind] = clamp_vol(volume);
  if (!enabled) {
    if (kind == TTB__KIND_TTS)
      while (m->tts_len > 0)
        tts_remove(m, 0, false);
    else
      while (m->n_gifts > 0)
        gift_remove(m, 0, false);
  }
  ttb__mutex_unlock(m->lock);
  ttb__mixer_collect(m);
}

int ttb__mixer_tts_reserve(ttb__mixer *m, uint64_t id)
{
  if (!m)
    return TTB_ERR_INVALID;
  ttb__mixer_collect(m);
  ttb__mutex_lock(m->lock);
  if (!m->on[TTB__KIND_TTS]) {
    m->skipped++;
    ttb__mutex_unlock(m->lock);
    return 1;
  }
  /* Drop rule: the oldest waiting utterance (never the head) whose audio
     * is not coming yet (no clip, not claimed by a fetch); when every waiting
     * one has audio coming, the oldest waiting one. */
  while (m->tts_len >= 1 + (size_t)m->qcap) {
    size_t victim = 1;
    for (size_t i = 1; i < m->tts_len; i++) {
      const voice *w = tts_at(m, i);
      if (!w->clip && !w->claimed) {
        victim = i;
        break;
      }
    }
    tts_remove(m, victim, false);
  }
  voice *v = tts_at(m, m->tts_len);
  memset(v, 0, sizeof *v);
  v->id = id;
  m->tts_len++;
  ttb__mutex_unlock(m->lock);
  return TTB_OK;
}

static voice *tts_find(ttb__mixer *m, uint64_t id, size_t *idx)
{
  for (size_t i = 0; i < m->tts_len; i++) {
    voice *v = tts_at(m, i);
    if (v->id == id) {
      if (idx)
        *idx = i;
      return v;
    }
  }
  return NULL;
}

int ttb__mixer_tts_attach(ttb__mixer *m, uint64_t id, ttb__clip *clip)
{
  if (!m || !clip)
    return TTB_ERR_INVALID;
  ttb__mixer_collect(m);
  ttb__mutex_lock(m->lock);
  voice *v = tts_find(m, id, NULL);
  int rc = 1;
  if (v && !v->clip) {
    v->clip = ttb__clip_ref(clip);
    v->pos = 0;
    v->stall = 0;
    rc = TTB_OK;
  }
  ttb__mutex_unlock(m->lock);
  return rc;
}

void ttb__mixer_tts_cancel(ttb__mixer *m, uint64_t id)
{
  if (!m)
    return;
  ttb__mutex_lock(m->lock);
  size_t i;
  voice *v = tts_find(m, id, &i);
  if (v && !v->clip)
    tts_remove(m, i, false);
  ttb__mutex_unlock(m->lock);
  ttb__mixer_collect(m);
}

int ttb__mixer_tts_claim(ttb__mixer *m, uint64_t id)
{
  if (!m)
    return TTB_ERR_INVALID;
  ttb__mutex_lock(m->lock);
  voice *v = tts_find(m, id, NULL);
  int rc = 1;
  if (v && !v->clip) {
    v->claimed = true;
    rc = TTB_OK;
  }
  ttb__mutex_unlock(m->lock);
  return rc;
}

long ttb__mixer_tts_place(ttb__mixer *m, uint64_t id)
{
  if (!m)
    return -1;
  ttb__mutex_lock(m->lock);
  size_t i = 0;
  voice *v = tts_find(m, id, &i);
  long r = (v && !v->clip && !v->claimed) ? (long)i : -1;
  ttb__mutex_unlock(m->lock);
  return r;
}

long ttb__mixer_tts_lead_ms(ttb__mixer *m, uint64_t id)
{
  if (!m)
    return -1;
  ttb__mutex_lock(m->lock);
  size_t i = 0;
  long r = -1;
  if (tts_find(m, id, &i) != NULL) {
    uint64_t frames = 0;
    for (size_t k = 0; k < i; k++) {
      const voice *v = tts_at(m, k);
      if (v->clip && v->clip->frames > v->pos)
        frames += v->clip->frames - v->pos;
    }
    r = (long)(frames * 1000u / TTB__AUDIO_RATE);
  }
  ttb__mutex_unlock(m->lock);
  return r;
}

bool ttb__mixer_tts_pending(ttb__mixer *m, uint64_t id)
{
  if (!m)
    return false;
  ttb__mutex_lock(m->lock);
  bool r = tts_find(m, id, NULL) != NULL;
  ttb__mutex_unlock(m->lock);
  return r;
}

int ttb__mixer_gift_play(ttb__mixer *m, ttb__clip *clip)
{
  if (!m || !clip)
    return TTB_ERR_INVALID;
  ttb__mixer_collect(m);
  ttb__mutex_lock(m->lock);
  if (!m->on[TTB__KIND_GIFT]) {
    m->skipped++;
    ttb__mutex_unlock(m->lock);
    return 1;
  }
  while (m->n_gifts >= m->gcap)
    gift_remove(m, 0, false); /* the oldest gift gives up its voice */
  voice *v = &m->gifts[m->n_gifts++];
  memset(v, 0, sizeof *v);
  v->clip = ttb__clip_ref(clip);
  ttb__mutex_unlock(m->lock);
  return TTB_OK;
}

int ttb__mixer_stream_write(ttb__mixer *m, ttb__clip *clip, const int16_t *pcm, size_t frames)
{
  if (!m || !clip || (!pcm && frames > 0))
    return TTB_ERR_INVALID;
  const size_t max = (size_t)TTB__CLIP_MAX_SECONDS * TTB__AUDIO_RATE;
  const size_t ch = clip->channels;
  ttb__mutex_lock(m->lock);
  size_t have = clip->frames, cap = clip->cap;
  ttb__mutex_unlock(m->lock);
  if (have + frames > max)
    frames = have < max ? max - have : 0;
  if (frames == 0)
    return TTB_OK;
  if (have + frames > cap) {
    /* Grow outside the lock (the single writer is us), swap under it. */
    size_t ncap = cap < TTB__AUDIO_RATE ? TTB__AUDIO_RATE : cap * 2;
    while (ncap < have + frames)
      ncap *= 2;
    if (ncap > max)
      ncap = max;
    int16_t *np = malloc(ncap * ch * sizeof(int16_t));
    if (!np)
      return TTB_ERR_NOMEM;
    ttb__mutex_lock(m->lock);
    int16_t *old = clip->pcm;
    if (clip->frames > 0)
      memcpy(np, old, clip->frames * ch * sizeof(int16_t));
    clip->pcm = np;
    clip->cap = ncap;
    memcpy(clip->pcm + clip->frames * ch, pcm, frames * ch * sizeof(int16_t));
    clip->frames += frames;
    ttb__mutex_unlock(m->lock);
    free(old);
    return TTB_OK;
  }
  ttb__mutex_lock(m->lock);
  memcpy(clip->pcm + clip->frames * ch, pcm, frames * ch * sizeof(int16_t));
  clip->frames += frames;
  ttb__mutex_unlock(m->lock);
  return TTB_OK;
}

void ttb__mixer_stream_end(ttb__mixer *m, ttb__clip *clip)
{
  if (!m || !clip)
    return;
  ttb__mutex_lock(m->lock);
  clip->complete = true;
  ttb__mutex_unlock(m->lock);
}

void ttb__mixer_stop_all(ttb__mixer *m)
{
  if (!m)
    return;
  ttb__mutex_lock(m->lock);
  while (m->tts_len > 0)
    tts_remove(m, 0, false);
  while (m->n_gifts > 0)
    gift_remove(m, 0, false);
  ttb__mutex_unlock(m->lock);
  ttb__mixer_collect(m);
}

void ttb__mixer_counts(ttb__mixer *m, uint64_t *played, uint64_t *skipped)
{
  uint64_t p = 0, s = 0;
  if (m) {
    ttb__mutex_lock(m->lock);
    p = m->played;
    s = m->skipped;
    ttb__mutex_unlock(m->lock);
  }
  if (played)
    *played = p;
  if (skipped)
    *skipped = s;
}

size_t ttb__mixer_active(ttb__mixer *m)
{
  if (!m)
    return 0;
  ttb__mutex_lock(m->lock);
  size_t n = m->tts_len + m->n_gifts;
  ttb__mutex_unlock(m->lock);
  return n;
}

size_t ttb__mixer_memory(ttb__mixer *m, size_t *clip_bytes)
{
  if (!m) {
    if (clip_bytes)
      *clip_bytes = 0;
    return 0;
  }
  size_t own = sizeof *m + 2 * m->done_cap * sizeof *m->done +
               (size_t)OUT_BLOCK * 2 * sizeof(float) + ttb__resampler_memory(&m->rs);
  if (clip_bytes) {
    size_t cb = 0;
    ttb__mutex_lock(m->lock);
    for (size_t i = 0; i < m->tts_len; i++)
      cb += ttb__clip_bytes(tts_at(m, i)->clip);
    for (size_t i = 0; i < m->n_gifts; i++)
      cb += ttb__clip_bytes(m->gifts[i].clip);
    ttb__mutex_unlock(m->lock);
    *clip_bytes = cb;
  }
  return own;
}

/* ------------------------------------------------------------ rendering */

/* Adds n frames of clip from pos into the planar bus l/r, with a gain ramp
 * that starts at g and grows by dg per frame. */
static void add_voice(float *l, float *r, const ttb__clip *c, size_t pos, size_t n, float g,
                      float dg)
{
  const float k = 1.0f / 32768.0f;
  if (!r) { /* mono bus: the left channel only (every voice is mono) */
    const int16_t *s = c->pcm + pos;
    for (size_t i = 0; i < n; i++)
      l[i] += (float)s[i] * k * (g + dg * (float)i);
    return;
  }
  if (c->channels == 1) {
    const int16_t *s = c->pcm + pos;
    for (size_t i = 0; i < n; i++) {
      float x = (float)s[i] * k * (g + dg * (float)i);
      l[i] += x;
      r[i] += x;
    }
  } else {
    const int16_t *s = c->pcm + pos * 2;
    for (size_t i = 0; i < n; i++) {
      float gi = k * (g + dg * (float)i);
      l[i] += (float)s[2 * i] * gi;
      r[i] += (float)s[2 * i + 1] * gi;
    }
  }
}

/* The resampler's source: mixes `frames` frames of the 48 kHz bus. Runs
 * under m->lock (taken by render). */
static void mix_bus(void *user, float *l, float *r, size_t frames)
{
  ttb__mixer *m = user;
  memset(l, 0, frames * sizeof(float));
  if (m->mono_bus)
    r = NULL;
  else
    memset(r, 0, frames * sizeof(float));
  bool any = false;
  float g0[2], dg[2];
  for (int k = 0; k < 2; k++) {
    g0[k] = m->cur[k];
    dg[k] = (m->vol[k] - m->cur[k]) / (float)frames;
    m->cur[k] = m->vol[k];
  }

  /* The TTS voice: utterances one after another. */
  const uint64_t bus_at = m->bus_frames;
  m->bus_frames += frames;
  size_t at = 0;
  while (at < frames && m->tts_len > 0) {
    voice *v = tts_at(m, 0);
    size_t rem = frames - at;
    if (!v->clip) {
      v->stall += (uint32_t)rem;
      if (v->stall > HEAD_WAIT_MAX) {
        tts_remove(m, 0, false);
        continue;
      }
      break;
    }
    size_t avail = v->clip->frames > v->pos ? v->clip->frames - v->pos : 0;
    if (avail == 0) {
      if (v->clip->complete) {
        tts_remove(m, 0, v->pos > 0 || v->clip->frames == 0);
        continue;
      }
      v->stall += (uint32_t)rem;
      if (v->stall > STREAM_STARVE_MAX) {
        tts_remove(m, 0, v->pos > 0);
        continue;
      }
      break;
    }
    v->stall = 0;
    size_t n = avail < rem ? avail : rem;
    if (!v->sounded) { /* the first audible sample of this utterance? */
      const int16_t *p = v->clip->pcm + v->pos * v->clip->channels;
      size_t ns = n * v->clip->channels;
      for (size_t k = 0; k < ns; k++) {
        if (p[k] >= TTB__AUDIBLE || p[k] <= -TTB__AUDIBLE) {
          v->sounded = true;
          ttb__voice_start *st = &m->starts[(m->st_head + m->st_len) % STARTS];
          if (m->st_len == STARTS)
            m->st_head = (m->st_head + 1) % STARTS; /* the oldest is lost */
          else
            m->st_len++;
          uint64_t bus = bus_at + at + k / v->clip->channels;
          st->id = v->id;
          st->out_frame = bus * m->out_rate / TTB__AUDIO_RATE;
          st->render_ms = m->render_ms;
          break;
        }
      }
    }
    add_voice(l + at, r ? r + at : NULL, v->clip, v->pos, n, g0[0] + dg[0] * (float)at, dg[0]);
    v->pos += n;
    at += n;
    any = true;
  }

  /* Gift voices, in parallel. */
  for (size_t i = 0; i < m->n_gifts;) {
    voice *v = &m->gifts[i];
    size_t avail = v->clip->frames > v->pos ? v->clip->frames - v->pos : 0;
    size_t n = avail < frames ? avail : frames;
    if (n > 0) {
      add_voice(l, r, v->clip, v->pos, n, g0[1], dg[1]);
      v->pos += n;
      any = true;
    }
    if (v->pos >= v->clip->frames && v->clip->complete) {
      gift_remove(m, i, true);
      continue;
    }
    i++;
  }
  m->quiet = any ? 0 : m->quiet + frames;
}

/* True when no voice (playing or queued with audio) is stereo. */
static bool all_mono(ttb__mixer *m)
{
  for (size_t i = 0; i < m->tts_len; i++) {
    const ttb__clip *c = tts_at(m, i)->clip;
    if (c && c->channels != 1)
      return false;
  }
  for (size_t i = 0; i < m->n_gifts; i++)
    if (m->gifts[i].clip->channels != 1)
      return false;
  return true;
}

size_t ttb__mixer_render(ttb__mixer *m, int16_t *pcm, size_t frames)
{
  if (!m || !pcm)
    return 0;
  int64_t now_ms = ttb__monotonic_ms();
  ttb__mutex_lock(m->lock);
  m->render_ms = now_ms;
  /* Idle and the filter history is all zeros: plain silence. */
  if (m->tts_len == 0 && m->n_gifts == 0 && m->lim_red == 0.0f &&
      m->quiet > (uint64_t)m->rs.cap + TTB__RS_TAPS + BUS_BLOCK) {
    for (int k = 0; k < 2; k++)
      m->cur[k] = m->vol[k];
    ttb__mutex_unlock(m->lock);
    m->bus_frames += (uint64_t)frames * TTB__AUDIO_RATE / m->out_rate;
    memset(pcm, 0, frames * m->out_ch * sizeof(int16_t));
    return frames;
  }
  /* Voices cannot be added while we hold the lock, so when all are mono
     * now, left == right for this whole call: mix and filter one channel.
     * (After a stereo voice, wait until its tail has left the filter.) */
  if (all_mono(m)) {
    m->mono_bus = m->mono_run > (uint64_t)m->rs.cap + TTB__RS_TAPS;
    m->mono_run += (uint64_t)frames * TTB__AUDIO_RATE / m->out_rate + 1;
  } else {
    m->mono_bus = false;
    m->mono_run = 0;
  }
  ttb__resampler_set_mono(&m->rs, m->mono_bus);
  const float T = TTB__MIXER_LIMIT;
  const float keep = 1.0f - m->lim_release;
  float red = m->lim_red;
  size_t done = 0;
  while (done < frames) {
    size_t n = frames - done < OUT_BLOCK ? frames - done : OUT_BLOCK;
    float *ol = m->obuf, *or_ = m->obuf + OUT_BLOCK;
    ttb__resampler_process(&m->rs, ol, or_, n, mix_bus, m);
    int16_t *o = pcm + done * m->out_ch;
    for (size_t i = 0; i < n; i++) {
      float l = ol[i], r = or_[i];
      if (m->out_ch == 1)
        l = r = 0.5f * (l + r);
      float pk = fabsf(l) > fabsf(r) ? fabsf(l) : fabsf(r);
      /* Instant attack: the reduction is at least what this frame
             * needs; release: it decays exponentially (kept as 1 - gain so
             * float precision does not stall it just below 1). */
      float need = pk > T ? 1.0f - T / pk : 0.0f;
      red *= keep;
      if (red < need)
        red = need;
      if (red < 1e-6f)
        red = 0.0f;
      float g = 1.0f - red;
      l *= g * 32768.0f;
      r *= g * 32768.0f;
      /* |l| <= T * 32768 < 32767 already; the clamp is for NaN-free safety. */
      if (l > 32767.0f)
        l = 32767.0f;
      if (l < -32768.0f)
        l = -32768.0f;
      if (r > 32767.0f)
        r = 32767.0f;
      if (r < -32768.0f)
        r = -32768.0f;
      /* Round half away from zero (no libm call in the audio loop). */
      int16_t il = (int16_t)(l >= 0.0f ? l + 0.5f : l - 0.5f);
      if (m->out_ch == 1) {
        o[i] = il;
      } else {
        o[2 * i] = il;
        o[2 * i + 1] = (int16_t)(r >= 0.0f ? r + 0.5f : r - 0.5f);
      }
    }
    done += n;
  }
  m->lim_red = red;
  ttb__mutex_unlock(m->lock);
  return frames;
}

size_t ttb__mixer_voice_starts(ttb__mixer *m, ttb__voice_start *out, size_t max)
{
  if (!m || !out)
    return 0;
  ttb__mutex_lock(m->lock);
  size_t n = m->st_len < max ? m->st_len : max;
  for (size_t i = 0; i < n; i++)
    out[i] = m->starts[(m->st_head + i) % STARTS];
  m->st_head = (m->st_head + n) % STARTS;
  m->st_len -= n;
  ttb__mutex_unlock(m->lock);
  return n;
}
